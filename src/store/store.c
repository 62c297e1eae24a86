/*
 * store.c - the part of store.h that is the same on every engine (see
 * store_int.h): the write queue and writer threads with group commit, the
 * rules of a write request, history and search SQL, and the dispatch to the
 * engine that store_options chose.
 */
#include "store_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

char *store__msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = NULL;
	if (vasprintf(&m, fmt, ap) < 0)
		base_oom();
	va_end(ap);
	return m;
}

/* ---- failure reports ---- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	int64_t last;   /* when the last line of the kind was written (s, monotonic; 0: never) */
	long unwritten; /* reports of the kind left out since */
} log_kinds[STORE__LOG_WHERES][STORE_FULL + 1];

static const char *status_meaning(int status)
{
	switch (status) {
	case STORE_FULL: return "no space left";
	case STORE_UNAVAILABLE: return "database unavailable or I/O error";
	default: return "database error";
	}
}

int store__log(int where, int status, const char *fmt, ...)
{
	if (status < 0 || status > STORE_FULL)
		status = STORE_ERROR;
	if (where < 0 || where >= STORE__LOG_WHERES)
		where = STORE__LOG_ENGINE;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t now = (int64_t)ts.tv_sec + 1; /* never 0 */
	pthread_mutex_lock(&log_mu);
	if (log_kinds[where][status].last &&
	    now - log_kinds[where][status].last < STORE__LOG_EVERY_S) {
		log_kinds[where][status].unwritten++;
		pthread_mutex_unlock(&log_mu);
		return 0;
	}
	long unwritten = log_kinds[where][status].unwritten;
	log_kinds[where][status].last = now;
	log_kinds[where][status].unwritten = 0;
	pthread_mutex_unlock(&log_mu);
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	size_t len = strlen(msg);
	while (len && msg[len - 1] == '\n') /* engines' messages end in one */
		msg[--len] = 0;
	for (char *p = msg; *p; p++) /* one line (PostgreSQL's HINT comes on its own) */
		if (*p == '\n')
			*p = ' ';
	char more[80] = "";
	if (unwritten)
		snprintf(more, sizeof more, " (and %ld more like it in the last %d s)", unwritten,
		         STORE__LOG_EVERY_S);
	if (where == STORE__LOG_AGAIN)
		fprintf(stderr, "bron: store: %s (after: %s)%s\n", msg, status_meaning(status),
		        more);
	else
		fprintf(stderr, "bron: store: %s: %s%s\n", status_meaning(status), msg, more);
	return 1;
}

/* ---- read deadlines ---- */

static _Thread_local int64_t tl_deadline_us;

void store_deadline_set(int64_t deadline_us)
{
	tl_deadline_us = deadline_us;
}

int64_t store_deadline(void)
{
	return tl_deadline_us;
}

int64_t store_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

size_t store__params(const char *sql)
{
	size_t n = 0;
	int quoted = 0;
	for (const char *p = sql; *p; p++) {
		if (*p == '\'')
			quoted = !quoted;
		else if (*p == '?' && !quoted)
			n++;
	}
	return n;
}

size_t store__row_binds(const search_row *row, int64_t rid, search_bind out[10])
{
	size_t n = 0;
#define INT(v) out[n++] = (search_bind){.kind = SEARCH_BIND_INT, .i = (v)}
#define REAL(v)                                                                                    \
	out[n++] = (search_bind)                                                                   \
	{                                                                                          \
		.kind = SEARCH_BIND_REAL, .r = (v)                                                 \
	}
#define TEXT(v)                                                                                    \
	out[n++] = (search_bind)                                                                   \
	{                                                                                          \
		.kind = SEARCH_BIND_TEXT, .text = (v) ? (v) : ""                                   \
	}
	INT(row->pid);
	INT(rid);
	if (row->kind != SEARCH_ROW_TEXT)
		INT(row->grp);
	switch (row->kind) {
	case SEARCH_ROW_STRING:
		TEXT(row->s[0]);
		TEXT(row->s[1]);
		break;
	case SEARCH_ROW_TOKEN:
		for (int i = 0; i < 3; i++)
			TEXT(row->s[i]);
		break;
	case SEARCH_ROW_DATE:
		INT(row->lo);
		INT(row->hi);
		break;
	case SEARCH_ROW_NUMBER:
		for (int i = 0; i < 3; i++)
			REAL(row->d[i]);
		break;
	case SEARCH_ROW_QUANTITY:
		for (int i = 0; i < 3; i++)
			REAL(row->d[i]);
		TEXT(row->s[0]);
		TEXT(row->s[1]);
		REAL(row->d[3]);
		TEXT(row->s[2]);
		break;
	case SEARCH_ROW_REFERENCE:
		for (int i = 0; i < 5; i++)
			TEXT(row->s[i]);
		break;
	case SEARCH_ROW_URI:
	case SEARCH_ROW_TEXT: TEXT(row->s[0]); break;
	}
#undef INT
#undef REAL
#undef TEXT
	return n;
}

static int is_pg_url(const char *url)
{
	return url && (!strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11));
}

static int check_url(const store_options *opts, char **err)
{
	if (opts->url && *opts->url && !is_pg_url(opts->url)) {
		*err = store__msg("unknown store '%s' (expected postgresql://...)", opts->url);
		return -1;
	}
	return 0;
}

int store_migrate(const store_options *opts, int *version, char **err)
{
	*err = NULL;
	if (check_url(opts, err))
		return STORE_ERROR;
	return is_pg_url(opts->url) ? store__pg_migrate(opts, version, err)
	                            : store__sqlite_migrate(opts, version, err);
}

const char *store_engine_name(const store *s)
{
	return s->e->name;
}

search_dialect store_dialect(const store *s)
{
	return s->e->dialect;
}

int store_health(store *s)
{
	return s->e->health(s) ? STORE_UNAVAILABLE : STORE_OK;
}

/* ---- the writers ---- */

struct store__write_req {
	store_op *ops;
	size_t n;
	store_done_fn done;
	void *ctx;
	store_audit_fn audit; /* the request's audit records, or NULL */
	void *actx;
	store_audit *own; /* store_audit_append: records copied into one block */
	size_t nown;
	struct store__write_req *next;
};

/* ---- the audit chain ---- */

void store_audit_hash(const unsigned char prev[32], const store_audit *r, unsigned char out[32])
{
	unsigned char be[17];
	for (int i = 0; i < 8; i++) {
		be[i] = (unsigned char)((uint64_t)r->seq >> (56 - 8 * i));
		be[8 + i] = (unsigned char)((uint64_t)r->recorded >> (56 - 8 * i));
	}
	be[16] = (unsigned char)r->outcome;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md)
		base_oom();
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, prev, 32);
	EVP_DigestUpdate(md, be, sizeof be);
	EVP_DigestUpdate(md, &r->action, 1);
	/* strings with their terminating NUL, so that fields cannot shift */
	const char *patient = r->patient ? r->patient : "", *agent = r->agent ? r->agent : "";
	EVP_DigestUpdate(md, patient, strlen(patient) + 1);
	EVP_DigestUpdate(md, agent, strlen(agent) + 1);
	EVP_DigestUpdate(md, r->record, r->record_len);
	unsigned int len = 32;
	EVP_DigestFinal_ex(md, out, &len);
	EVP_MD_CTX_free(md);
}

/* The chain as a group extends it: read from the head at the first record. */
typedef struct chain {
	int have;
	int64_t seq;
	unsigned char hash[32];
} chain;

static int chain_append(store *s, store_conn *c, chain *ch, store_audit *recs, size_t n)
{
	int rc;
	if (!n)
		return 0;
	if (!ch->have) {
		if ((rc = s->e->audit_head(c, &ch->seq, ch->hash)))
			return rc;
		ch->have = 1;
	}
	for (size_t i = 0; i < n; i++) {
		recs[i].seq = ch->seq + 1;
		store_audit_hash(ch->hash, &recs[i], recs[i].hash);
		if ((rc = s->e->audit_put(c, &recs[i])))
			return rc;
		ch->seq = recs[i].seq;
		memcpy(ch->hash, recs[i].hash, 32);
	}
	return 0;
}

/* The records of request w after it ran (failed: the status of its first
 * failed op). */
static void audit_records(store__write_req *w, int failed, store_audit **recs, size_t *n)
{
	*recs = w->own;
	*n = w->nown;
	if (!w->audit)
		return;
	int status = STORE_OK;
	for (size_t i = 0; failed && i < w->n && status == STORE_OK; i++)
		if (w->ops[i].status != STORE_OK && w->ops[i].status != STORE_MATCHED)
			status = w->ops[i].status;
	if (failed && status == STORE_OK)
		status = STORE_ERROR;
	*recs = NULL;
	*n = 0;
	w->audit(w->actx, status, recs, n);
}

/* The group's records, appended to the chain at the end of its transaction
 * (taking the chain's head last keeps the time other writers wait for it
 * short, and its lock after every row lock of the group). */
typedef struct group_audit {
	struct {
		store_audit *recs;
		size_t n;
	} * part;
	size_t nparts, cap;
} group_audit;

static void group_audit_add(group_audit *g, store__write_req *w, int failed)
{
	store_audit *recs;
	size_t n;
	audit_records(w, failed, &recs, &n);
	if (!n)
		return;
	if (g->nparts == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 8;
		g->part = base_realloc(g->part, g->cap * sizeof *g->part);
	}
	g->part[g->nparts].recs = recs;
	g->part[g->nparts++].n = n;
}

static int group_audit_commit(store *s, store_conn *c, group_audit *g)
{
	chain ch = {0};
	int rc = 0;
	for (size_t i = 0; i < g->nparts && !rc; i++)
		rc = chain_append(s, c, &ch, g->part[i].recs, g->part[i].n);
	if (!rc && ch.have)
		rc = s->e->audit_set_head(c, ch.seq, ch.hash);
	return rc;
}

/* Replace the index rows of `rid` with those of its new version (none for a
 * deletion). `fresh`: the resource is new, so there is nothing to remove. */
static int reindex(store *s, store_conn *c, int64_t rid, int fresh, const search_rows *rows)
{
	int rc;
	if (!fresh && (rc = s->e->unindex(c, rid)))
		return rc;
	if (!rows)
		return 0;
	for (size_t i = 0; i < rows->count; i++)
		if ((rc = s->e->index_row(c, rid, &rows->items[i])))
			return rc;
	for (size_t i = 0; i < rows->npatients; i++)
		if ((rc = s->e->compartment(c, rid, rows->patients[i])))
			return rc;
	return s->e->flush(c);
}

#define MAX_CONTAINED 256

/* Replace the contained resources of container `rid` (and their index
 * rows) with those of its new version; none for a deletion. */
static int replace_contained(store *s, store_conn *c, int64_t rid, const store_op *op, int fresh,
                             int deleted, int64_t seq)
{
	int rc;
	if (!fresh) {
		int64_t crids[MAX_CONTAINED];
		size_t n = 0;
		if ((rc = s->e->contained_rids(c, rid, crids, MAX_CONTAINED, &n)))
			return rc;
		for (size_t i = 0; i < n; i++)
			if ((rc = reindex(s, c, crids[i], 0, NULL)))
				return rc;
		if ((rc = s->e->drop_contained(c, rid)))
			return rc;
	}
	if (deleted)
		return 0;
	for (size_t i = 0; i < op->ncontained && i < MAX_CONTAINED; i++) {
		const store_contained *k = &op->contained[i];
		char *id = store__msg("%s/%s#%s", op->type, op->id, k->cid);
		int64_t crid = 0;
		rc = s->e->put_contained(c, k->type, id, op, seq, rid, &crid);
		free(id);
		if (rc || (rc = reindex(s, c, crid, 1, k->index)))
			return rc;
	}
	return 0;
}

/* Evaluate a conditional op's search inside the transaction: sets
 * op->matches and, for one match, op->id, version and time. */
static int run_condition(store *s, store_conn *c, store_op *op)
{
	int rc = s->e->lock_conditions(c);
	if (rc)
		return rc;
	arena *a = arena_new(4096);
	const search_sql *q = op->condition;
	char *sql = arena_printf(a,
	                         "SELECT " STORE__VERSION_COLS ", NULL, r.seq, r.deleted "
	                         "FROM resource r WHERE %s LIMIT ?",
	                         q->where);
	store_version *v;
	size_t n, nb = store__params(q->where);
	int more;
	rc = s->e->select(s, c, a, sql, q->binds, nb < q->nbinds ? nb : q->nbinds, 1, &v, &n,
	                  &more);
	if (!rc) {
		op->matches = (int)n + more;
		if (n >= 1) {
			op->id = arena_strdup(op->arena, v[0].id);
			op->version = v[0].version;
			op->last_updated = v[0].last_updated;
		}
	}
	arena_free(a);
	return rc;
}

/* Apply one op inside the open transaction. Returns a STORE_* status or
 * STORE__RETRY. */
static int apply_op(store *s, store_conn *c, store_op *op)
{
	int rc;
	if (op->condition) {
		const char *given = op->id;
		if (!op->condition_done && (rc = run_condition(s, c, op)))
			return rc;
		if (op->matches > 1)
			return STORE_MULTIPLE;
		if (op->matches == 0) {
			op->id = given;
			if (op->kind == STORE_OP_DELETE)
				return STORE_OK; /* nothing matched: nothing to delete */
		}
	}
	store_prev prev;
	if ((rc = s->e->get(c, op->type, op->id, &prev)))
		return rc;
	op->prev_version = prev.exists ? prev.version : 0;
	op->prev_deleted = prev.exists ? prev.deleted : 0;
	if (op->if_match > 0 && (!prev.exists || op->prev_version != op->if_match))
		return STORE_CONFLICT;
	if (op->kind == STORE_OP_REINDEX) {
		if (!prev.exists || prev.deleted)
			return STORE_CONFLICT;
		op->version = prev.version;
		return reindex(s, c, prev.rid, 0, op->index);
	}
	if (op->kind == STORE_OP_CREATE && op->condition && op->matches == 1) {
		op->version = prev.version;
		op->last_updated = prev.last_updated;
		return STORE_MATCHED;
	}
	if (op->kind == STORE_OP_CREATE && prev.exists)
		return STORE_EXISTS;
	if (op->keep_version > 0 && prev.exists && op->keep_version <= prev.version) {
		/* an older version restored after a newer one: into the history only */
		op->version = op->keep_version;
		op->last_updated = op->keep_time ? op->keep_time : prev.last_updated;
		op->body = NULL;
		op->body_len = 0;
		int del = op->kind == STORE_OP_DELETE;
		if (!del && op->build && op->build(op, op->build_ctx) != 0)
			return STORE_INVALID;
		return s->e->put_version(c, op, del);
	}
	if (op->kind == STORE_OP_DELETE && !op->keep_version && (!prev.exists || prev.deleted)) {
		op->version = 0; /* nothing to delete: no new version */
		op->last_updated = prev.last_updated;
		return STORE_OK;
	}
	op->version = op->prev_version + 1;
	int64_t now = base_now_us();
	/* keep lastUpdated increasing per resource even if the clock steps back */
	op->last_updated = now > prev.last_updated ? now : prev.last_updated + 1;
	if (op->keep_version > 0) {
		op->version = op->keep_version;
		op->last_updated = op->keep_time ? op->keep_time : op->last_updated;
	}
	int deleted = op->kind == STORE_OP_DELETE;
	op->body = NULL;
	op->body_len = 0;
	if (!deleted && op->build && op->build(op, op->build_ctx) != 0)
		return STORE_INVALID;
	int64_t seq, rid;
	if ((rc = s->e->put(c, op, deleted, &prev, &seq, &rid)) ||
	    (rc = reindex(s, c, rid, !prev.exists, deleted ? NULL : op->index)))
		return rc;
	if (prev.exists || op->ncontained)
		return replace_contained(s, c, rid, op, !prev.exists, deleted, seq);
	return STORE_OK;
}

/* Evaluate the conditions of the conditional creates among ops. */
static int resolve_creates(store *s, store_conn *c, store_op *ops, size_t n)
{
	for (size_t j = 0; j < n; j++) {
		store_op *op = &ops[j];
		if (!op->condition || op->kind != STORE_OP_CREATE)
			continue;
		const char *given = op->id;
		int rc = run_condition(s, c, op);
		if (rc)
			return rc;
		if (op->matches == 0)
			op->id = given;
		op->condition_done = 1;
	}
	return 0;
}

/* The resources one request wrote, to refuse touching one twice (open
 * addressing over op pointers, sized for the request). */
typedef struct touched_set {
	const store_op **slots;
	size_t cap;
} touched_set;

static uint64_t key_hash(const char *type, const char *id)
{
	uint64_t h = 1469598103934665603ULL;
	for (const char *p = type; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = (h ^ '/') * 1099511628211ULL;
	for (const char *p = id; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h;
}

/* Add op's resource; 1 if an earlier op of the request wrote it already. */
static int touched_add(touched_set *t, size_t n, const store_op *op)
{
	if (!t->slots) {
		t->cap = 16;
		while (t->cap < 2 * n)
			t->cap *= 2;
		t->slots = base_calloc(t->cap, sizeof *t->slots);
	}
	size_t i = key_hash(op->type, op->id) & (t->cap - 1);
	for (; t->slots[i]; i = (i + 1) & (t->cap - 1))
		if (!strcmp(t->slots[i]->type, op->type) && !strcmp(t->slots[i]->id, op->id))
			return 1;
	t->slots[i] = op;
	return 0;
}

/* More than audit records: ops, or a write's own records. */
static int is_write(const store__write_req *w)
{
	return w->n || w->audit;
}

/* A status that ends the whole group: a lost race (run again), a database
 * that cannot be reached or read or written, no space left. After one of
 * these an engine's transaction may be gone already (SQLite rolls back on
 * SQLITE_FULL and SQLITE_IOERR), so no savepoint of it is used again. */
static int group_fatal(int rc)
{
	return rc == STORE__RETRY || rc == STORE_UNAVAILABLE || rc == STORE_FULL;
}

static void fail_all(store__write_req *w, int status)
{
	for (size_t i = 0; i < w->n; i++)
		w->ops[i].status = status;
}

/* Apply all ops of one request inside a savepoint (`alone`: the request is
 * the group's only one, and the transaction is its savepoint). 0 if all
 * succeeded, -1 if the request failed (and was rolled back to its
 * savepoint, unless alone), or the status that ends the whole group
 * (group_fatal). */
static int apply_request(store *s, store_conn *c, store__write_req *w, const char **given,
                         int alone)
{
	int rc = alone ? 0 : s->e->savepoint(c);
	if (rc)
		return group_fatal(rc) ? rc : (fail_all(w, rc), -1);
	int failed = 0, resolved = w->n < 2, fatal = 0;
	touched_set seen = {0};
	for (size_t i = 0; i < w->n; i++) {
		w->ops[i].condition_done = 0;
		w->ops[i].id = given[i];
	}
	for (size_t i = 0; i < w->n; i++) {
		store_op *op = &w->ops[i];
		if (!failed && !resolved && op->kind != STORE_OP_DELETE) {
			/* the DELETEs (first in a Bundle's order) are applied; resolve the
			 * conditional creates now, so every build callback that follows
			 * knows the final id of each of them */
			resolved = 1;
			if ((rc = resolve_creates(s, c, w->ops + i, w->n - i))) {
				failed = 1;
				if (group_fatal(rc))
					fatal = rc;
			}
		}
		op->status = failed ? STORE_ERROR : apply_op(s, c, op);
		if (group_fatal(op->status))
			fatal = op->status;
		if (op->status == STORE_OK && op->version > 0 && op->unique && w->n > 1 &&
		    touched_add(&seen, w->n, op))
			op->status = STORE_DUPLICATE; /* touched twice in one request */
		/* a conditional create that matched wrote nothing and is no failure */
		if (op->status != STORE_OK && op->status != STORE_MATCHED)
			failed = 1;
		if (fatal)
			break;
	}
	free(seen.slots);
	if (fatal)
		return fatal;
	if (alone)
		return failed ? -1 : 0;
	if (failed && (rc = s->e->rollback_to(c)))
		return group_fatal(rc) ? rc : STORE_UNAVAILABLE;
	if ((rc = s->e->release(c)))
		return group_fatal(rc) ? rc : STORE_UNAVAILABLE;
	return failed ? -1 : 0;
}

/* Run a group of requests in one transaction. Returns 0, or STORE__RETRY /
 * STORE_UNAVAILABLE / STORE_FULL / STORE_ERROR for the whole group (rolled
 * back). A request's audit records are committed with it: when they cannot
 * be (no space), the request fails whole. */
static int try_group(store *s, store_conn *c, store__write_req *group, const char ***given)
{
	int rc = s->e->begin(c);
	if (rc)
		return rc;
	size_t k = 0;
	int alone = !group->next;
	group_audit ga = {0};
	for (store__write_req *w = group; w; w = w->next, k++) {
		rc = apply_request(s, c, w, given[k], alone);
		if (rc > 0) {
			s->e->rollback(c);
			free(ga.part);
			return rc;
		}
		if (rc < 0 && alone) {
			s->e->rollback(c); /* the request failed: nothing of it stays */
			group_audit_add(&ga, w, 1);
			if (!ga.nparts)
				return 0;
			/* but the attempt is recorded */
			if (!(rc = s->e->begin(c)) && !(rc = group_audit_commit(s, c, &ga)))
				rc = s->e->commit(c);
			if (rc)
				s->e->rollback(c);
			free(ga.part);
			return rc;
		}
		group_audit_add(&ga, w, rc < 0);
	}
	rc = group_audit_commit(s, c, &ga);
	free(ga.part);
	if (rc || (rc = s->e->commit(c))) {
		s->e->rollback(c);
		return group_fatal(rc) ? rc : STORE_ERROR;
	}
	return 0;
}

/* try_group until it does not lose a race (at most 20 times). */
static int run_attempts(store *s, store_conn *c, store__write_req *group, const char ***given)
{
	int rc = s->e->writer_ready(s, c);
	for (int attempt = 0; !rc; attempt++) {
		rc = try_group(s, c, group, given);
		if (rc != STORE__RETRY || attempt >= 20)
			break;
		/* lost a race with another writer: back off a little, run again */
		struct timespec ts = {0, (long)(1 + rand() % (1 << (attempt < 6 ? attempt : 6))) *
		                                 1000000L};
		nanosleep(&ts, NULL);
		rc = s->e->writer_ready(s, c);
	}
	return rc == STORE_UNAVAILABLE || rc == STORE_FULL || !rc ? rc : STORE_ERROR;
}

/* Report a request that failed for the store's sake, once per kind of
 * failure (store__log): refused writes, and lost audit records of reads. */
static void report_failed(store__write_req *w, int status)
{
	if (is_write(w))
		store__log(STORE__LOG_WRITES, status,
		           status == STORE_FULL
		                   ? "a write was refused (507); nothing of it was "
		                     "stored; writes succeed again once there is space"
		                   : "a write was refused (%d); nothing of it was stored",
		           status == STORE_UNAVAILABLE ? 503 : 500);
	else
		store__log(STORE__LOG_AUDIT, status,
		           "%zu audit record(s) of reads could not be stored and are lost",
		           w->nown);
}

static void run_group(store *s, store_conn *c, store__write_req *group)
{
	/* the ids as the requester gave them: a retry starts from them again */
	size_t nreq = 0;
	for (store__write_req *w = group; w; w = w->next)
		nreq++;
	const char ***given = base_calloc(nreq, sizeof *given);
	size_t k = 0;
	for (store__write_req *w = group; w; w = w->next, k++) {
		given[k] = base_malloc((w->n ? w->n : 1) * sizeof **given);
		for (size_t i = 0; i < w->n; i++)
			given[k][i] = w->ops[i].id;
	}
	int rc = run_attempts(s, c, group, given);
	if (rc == STORE_FULL && group->next) {
		/* the group did not fit: each request on its own, so that those
		 * that fit in the space left are stored */
		k = 0;
		for (store__write_req *w = group, *next; w; w = next, k++) {
			next = w->next;
			w->next = NULL;
			int one = run_attempts(s, c, w, &given[k]);
			w->next = next;
			if (one) {
				fail_all(w, one);
				report_failed(w, one);
			} else {
				rc = 0; /* one was stored: writes work */
			}
		}
	} else if (rc) {
		for (store__write_req *w = group; w; w = w->next) {
			fail_all(w, rc);
			report_failed(w, rc);
		}
	}
	int was = atomic_load(&s->failing);
	if (rc && rc != was)
		atomic_store(&s->failing, rc);
	else if (!rc && was && atomic_compare_exchange_strong(&s->failing, &was, 0))
		store__log(STORE__LOG_AGAIN, was, "writes succeed again");
	k = 0;
	for (store__write_req *w = group, *next; w; w = next, k++) {
		next = w->next;
		free(given[k]);
		if (w->done)
			w->done(w->ctx);
		free(w->own);
		free(w);
	}
	free(given);
	if (!rc && s->e->after_group)
		s->e->after_group(c);
}

#define AUDIT_LINGER_MS 20 /* longest wait of read audit records for company */

static void *writer_main(void *arg)
{
	store *s = arg;
	store_conn *c = NULL;
	if (s->e->writer_open(s, &c))
		c = NULL; /* writer_ready reports the database unavailable */
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->head && !s->stopping)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->head && s->stopping)
			break;
		/* only audit records of reads wait: let more of them gather, so that
		 * they share a commit, until a write comes or the linger ends */
		if (!s->queued_writes && !s->stopping) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += AUDIT_LINGER_MS * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			while (!s->queued_writes && !s->stopping &&
			       pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0)
				;
			if (!s->head)
				continue; /* another writer took them */
		}
		/* take up to max_group requests as one group (a request of audit
		 * records only counts 1/64) */
		store__write_req *group = s->head, *last = s->head;
		size_t weight = is_write(group) ? 64 : 1;
		while (last->next && weight < 64 * s->max_group) {
			last = last->next;
			weight += is_write(last) ? 64 : 1;
		}
		for (store__write_req *w = group;; w = w->next) {
			if (is_write(w))
				s->queued_writes--;
			if (w == last)
				break;
		}
		s->head = last->next;
		if (!s->head)
			s->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&s->mu);
		if (c)
			run_group(s, c, group);
		else
			for (store__write_req *w = group, *next; w; w = next) {
				next = w->next;
				fail_all(w, STORE_UNAVAILABLE);
				report_failed(w, STORE_UNAVAILABLE);
				if (w->done)
					w->done(w->ctx);
				free(w->own);
				free(w);
			}
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	if (c)
		s->e->writer_close(s, c);
	return NULL;
}

int store_open(const store_options *opts, store **out, char **err)
{
	*err = NULL;
	if (check_url(opts, err))
		return STORE_ERROR;
	store *s = base_calloc(1, sizeof *s);
	s->max_group = opts->max_group ? opts->max_group : 256;
	int rc = is_pg_url(opts->url) ? store__pg_open(s, opts, err)
	                              : store__sqlite_open(s, opts, err);
	if (rc) {
		free(s);
		return rc;
	}
	if (!s->nwriters)
		s->nwriters = 1;
	if (s->nwriters > STORE__MAX_WRITERS)
		s->nwriters = STORE__MAX_WRITERS;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	for (size_t i = 0; i < s->nwriters; i++) {
		if (pthread_create(&s->writers[i], NULL, writer_main, s) != 0) {
			*err = base_strdup("cannot start the writer threads");
			s->nwriters = i;
			store_close(s);
			return STORE_ERROR;
		}
	}
	*out = s;
	return STORE_OK;
}

void store_close(store *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < s->nwriters; i++)
		pthread_join(s->writers[i], NULL);
	s->e->close(s);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

static int enqueue(store *s, store__write_req *w)
{
	pthread_mutex_lock(&s->mu);
	if (s->stopping) {
		pthread_mutex_unlock(&s->mu);
		free(w->own);
		free(w);
		return STORE_ERROR;
	}
	int was_empty = !s->head;
	if (s->tail)
		s->tail->next = w;
	else
		s->head = w;
	s->tail = w;
	/* a write wakes a writer at once; audit records only an idle one
	 * (which then lingers for more) */
	if (is_write(w)) {
		s->queued_writes++;
		pthread_cond_signal(&s->cv);
	} else if (was_empty) {
		pthread_cond_signal(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return STORE_OK;
}

int store_write_audited(store *s, store_op *ops, size_t n, store_audit_fn audit, void *actx,
                        store_done_fn done, void *ctx)
{
	store__write_req *w = base_calloc(1, sizeof *w);
	w->ops = ops;
	w->n = n;
	w->done = done;
	w->ctx = ctx;
	w->audit = audit;
	w->actx = actx;
	return enqueue(s, w);
}

int store_write_async(store *s, store_op *ops, size_t n, store_done_fn done, void *ctx)
{
	return store_write_audited(s, ops, n, NULL, NULL, done, ctx);
}

static size_t opt_len(const char *p)
{
	return p ? strlen(p) + 1 : 0;
}

int store_audit_append(store *s, const store_audit *recs, size_t n)
{
	if (!n)
		return STORE_OK;
	/* one block: the records, then their strings */
	size_t bytes = n * sizeof *recs;
	for (size_t i = 0; i < n; i++)
		bytes += opt_len(recs[i].patient) + opt_len(recs[i].agent) + recs[i].record_len + 1;
	store_audit *own = base_malloc(bytes);
	char *p = (char *)(own + n);
	for (size_t i = 0; i < n; i++) {
		own[i] = recs[i];
		const char **dst[] = {&own[i].patient, &own[i].agent};
		const char *src[] = {recs[i].patient, recs[i].agent};
		for (int j = 0; j < 2; j++) {
			if (!src[j])
				continue;
			size_t l = strlen(src[j]) + 1;
			memcpy(p, src[j], l);
			*dst[j] = p;
			p += l;
		}
		memcpy(p, recs[i].record, recs[i].record_len);
		p[recs[i].record_len] = 0;
		own[i].record = p;
		p += recs[i].record_len + 1;
	}
	store__write_req *w = base_calloc(1, sizeof *w);
	w->own = own;
	w->nown = n;
	return enqueue(s, w);
}

int store_audit_search(store *s, arena *a, const store_audit_query *q, store_audit **out, size_t *n,
                       int *more)
{
	search_bind b[8];
	size_t nb = 0;
	buf sql;
	buf_init(&sql, 0);
	buf_puts(&sql, "SELECT seq, recorded, patient, agent, action, outcome, record, hash FROM "
	               "audit WHERE 1=1");
#define BIND_INT(v)                                                                                \
	b[nb++] = (search_bind)                                                                    \
	{                                                                                          \
		.kind = SEARCH_BIND_INT, .i = (v)                                                  \
	}
#define BIND_TEXT(v)                                                                               \
	b[nb++] = (search_bind)                                                                    \
	{                                                                                          \
		.kind = SEARCH_BIND_TEXT, .text = (v)                                              \
	}
	if (q->seq) {
		buf_puts(&sql, " AND seq = ?");
		BIND_INT(q->seq);
	}
	if (q->patient) {
		buf_puts(&sql, " AND patient = ?");
		BIND_TEXT(q->patient);
	}
	if (q->agent) {
		buf_puts(&sql, " AND agent = ?");
		BIND_TEXT(q->agent);
	}
	char action[2] = {q->action, 0};
	if (q->action) {
		buf_puts(&sql, " AND action = ?");
		BIND_TEXT(action);
	}
	if (q->outcome >= 0) {
		buf_puts(&sql, " AND outcome = ?");
		BIND_INT(q->outcome);
	}
	if (q->from) {
		buf_puts(&sql, " AND recorded >= ?");
		BIND_INT(q->from);
	}
	if (q->to) {
		buf_puts(&sql, " AND recorded <= ?");
		BIND_INT(q->to);
	}
	if (q->after) {
		buf_puts(&sql, q->ascending ? " AND seq > ?" : " AND seq < ?");
		BIND_INT(q->after);
	}
#undef BIND_INT
#undef BIND_TEXT
	buf_puts(&sql, q->ascending ? " ORDER BY seq LIMIT ?" : " ORDER BY seq DESC LIMIT ?");
	char *text = arena_strdup(a, sql.data);
	buf_free(&sql);
	return s->e->audit_select(s, a, text, b, nb, q->count ? q->count : 20, out, n, more);
}

int store_last_seq(store *s, int64_t *seq)
{
	int64_t n = 0;
	int rc = s->e->count(s, "SELECT coalesce(max(seq), 0) FROM resource_version", NULL, 0, &n);
	*seq = n;
	return rc;
}

int store_snapshot(store *s, arena *a, const store_snapshot_query *q, size_t limit,
                   store_version **items, size_t *n, int *more)
{
	size_t nb = 0;
	search_bind *b = arena_alloc(a, (q->nbinds + 8) * sizeof *b);
	buf sql;
	buf_init(&sql, 0);
	buf_puts(&sql, "SELECT r.rid, v.type, v.id, v.version, v.last_updated, v.body, v.seq, "
	               "v.deleted FROM resource_version v JOIN resource r ON r.type = v.type AND "
	               "r.id = v.id WHERE v.type = ? AND v.seq > ? AND v.seq <= ?");
	b[nb++] = (search_bind){.kind = SEARCH_BIND_TEXT, .text = q->type};
	b[nb++] = (search_bind){.kind = SEARCH_BIND_INT, .i = q->after};
	b[nb++] = (search_bind){.kind = SEARCH_BIND_INT, .i = q->upto};
	if (q->since) {
		buf_puts(&sql, " AND v.last_updated > ?");
		b[nb++] = (search_bind){.kind = SEARCH_BIND_INT, .i = q->since};
	}
	if (!q->history) {
		/* the newest version as of upto, and not a deletion */
		buf_puts(&sql,
		         " AND v.deleted = 0 AND NOT EXISTS (SELECT 1 FROM resource_version w "
		         "WHERE w.type = v.type AND w.id = v.id AND w.version > v.version AND "
		         "w.seq <= ?)");
		b[nb++] = (search_bind){.kind = SEARCH_BIND_INT, .i = q->upto};
	}
	if (q->where) {
		buf_printf(&sql, " AND (%s)", q->where);
		for (size_t i = 0; i < q->nbinds; i++)
			b[nb++] = q->binds[i];
	}
	buf_puts(&sql, " ORDER BY v.seq LIMIT ?");
	char *text = arena_strdup(a, sql.data);
	buf_free(&sql);
	return s->e->select(s, NULL, a, text, b, nb, limit, items, n, more);
}

int store_audit_kept_head(store *s, int64_t *seq, unsigned char hash[32])
{
	arena *a = arena_new(0);
	const char *sql = s->e->dialect == SEARCH_POSTGRES
	                          ? "SELECT seq, 0, NULL, NULL, 'E', 0, ''::bytea, hash FROM "
	                            "audit_head WHERE id = 1 LIMIT ?"
	                          : "SELECT seq, 0, NULL, NULL, 'E', 0, x'', hash FROM audit_head "
	                            "WHERE id = 1 LIMIT ?";
	store_audit *r;
	size_t n;
	int more;
	int rc = s->e->audit_select(s, a, sql, NULL, 0, 1, &r, &n, &more);
	*seq = 0;
	memset(hash, 0, 32);
	if (!rc && n) {
		*seq = r[0].seq;
		memcpy(hash, r[0].hash, 32);
	}
	arena_free(a);
	return rc;
}

int store_compartments(store *s, arena *a, const int64_t *rids, size_t n, int64_t **out_rids,
                       const char ***out_patients, size_t *count)
{
	*count = 0;
	*out_rids = NULL;
	*out_patients = NULL;
	if (!n)
		return STORE_OK;
	/* shaped as a versions query: rid, the patient as "type", the rest empty */
	buf sql;
	buf_init(&sql, 0);
	buf_puts(&sql, "SELECT rid, patient, '', 0, 0, NULL, 0, 0 FROM sp_compartment WHERE rid "
	               "IN (");
	search_bind *b = arena_alloc(a, n * sizeof *b);
	for (size_t i = 0; i < n; i++) {
		buf_puts(&sql, i ? ", ?" : "?");
		b[i] = (search_bind){.kind = SEARCH_BIND_INT, .i = rids[i]};
	}
	buf_puts(&sql, ") LIMIT ?");
	char *text = arena_strdup(a, sql.data);
	buf_free(&sql);
	store_version *v;
	size_t k;
	int more;
	/* a resource is in few compartments; the engine allocates room for limit rows */
	int rc = s->e->select(s, NULL, a, text, b, n, 8 * n + 8, &v, &k, &more);
	if (rc)
		return rc;
	*out_rids = arena_alloc(a, (k + 1) * sizeof **out_rids);
	*out_patients = arena_alloc(a, (k + 1) * sizeof **out_patients);
	for (size_t i = 0; i < k; i++) {
		(*out_rids)[i] = v[i].rid;
		(*out_patients)[i] = v[i].type;
	}
	*count = k;
	return STORE_OK;
}

int store_audit_head(store *s, int64_t *seq, unsigned char hash[32])
{
	arena *a = arena_new(0);
	store_audit_query q = {.outcome = -1, .count = 1};
	store_audit *r;
	size_t n;
	int more;
	int rc = store_audit_search(s, a, &q, &r, &n, &more);
	*seq = 0;
	memset(hash, 0, 32);
	if (!rc && n) {
		*seq = r[0].seq;
		memcpy(hash, r[0].hash, 32);
	}
	arena_free(a);
	return rc;
}

typedef struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
} waiter;

static void wake(void *ctx)
{
	waiter *w = ctx;
	pthread_mutex_lock(&w->mu);
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int store_write(store *s, store_op *ops, size_t n)
{
	waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	int rc = store_write_async(s, ops, n, wake, &w);
	if (rc)
		return rc;
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv);
	for (size_t i = 0; i < n; i++)
		if (ops[i].status != STORE_OK)
			return ops[i].status;
	return STORE_OK;
}

/* ---- reads ---- */

int store_read(store *s, arena *a, const char *type, const char *id, int64_t version,
               store_version *out)
{
	return s->e->read(s, a, type, id, version, out);
}

int store_history(store *s, arena *a, const store_history_query *q, store_version **items,
                  size_t *n, int *more)
{
	search_bind b[6];
	size_t nb = 0;
	/* the version rows, shaped as the columns every versions query has */
	buf sql;
	buf_init(&sql, 0);
	buf_puts(&sql, "SELECT 0, v.type, v.id, v.version, v.last_updated, v.body, v.seq, "
	               "v.deleted FROM resource_version v WHERE 1=1");
	if (q->type) {
		buf_puts(&sql, " AND v.type = ?");
		b[nb++] = (search_bind){.kind = SEARCH_BIND_TEXT, .text = q->type};
	}
	if (q->id) {
		buf_puts(&sql, " AND v.id = ?");
		b[nb++] = (search_bind){.kind = SEARCH_BIND_TEXT, .text = q->id};
	}
	if (q->since) {
		buf_puts(&sql, " AND v.last_updated >= ?");
		b[nb++] = (search_bind){.kind = SEARCH_BIND_INT, .i = q->since};
	}
	if (q->before_seq) {
		buf_puts(&sql, " AND v.seq < ?");
		b[nb++] = (search_bind){.kind = SEARCH_BIND_INT, .i = q->before_seq};
	}
	if (q->at_end) {
		buf_puts(&sql, " AND v.last_updated <= ? AND NOT EXISTS (SELECT 1 FROM "
		               "resource_version w WHERE w.type = v.type AND w.id = v.id AND "
		               "w.version > v.version AND w.last_updated <= ?)");
		b[nb++] = (search_bind){.kind = SEARCH_BIND_INT, .i = q->at_end};
		b[nb++] = (search_bind){.kind = SEARCH_BIND_INT, .i = q->at_start};
	}
	buf_puts(&sql, " ORDER BY v.seq DESC LIMIT ?");
	char *text = arena_strdup(a, sql.data);
	buf_free(&sql);
	/* the engine's select adds the LIMIT bind itself (limit + 1 rows) */
	int rc = s->e->select(s, NULL, a, text, b, nb, q->count, items, n, more);
	for (size_t i = 0; i < *n; i++)
		(*items)[i].rid = 0;
	return rc;
}

/* Read the bodies of a sorted page, by the version rows' keys. */
static int bodies_of(store *s, arena *a, store_version *v, size_t n)
{
	buf sql;
	buf_init(&sql, 0);
	buf_puts(&sql, "SELECT 0, type, id, version, last_updated, body, seq, deleted "
	               "FROM resource_version WHERE seq IN (");
	search_bind *b = arena_alloc(a, n * sizeof *b);
	for (size_t i = 0; i < n; i++) {
		buf_puts(&sql, i ? ", ?" : "?");
		b[i] = (search_bind){.kind = SEARCH_BIND_INT, .i = v[i].seq};
	}
	buf_puts(&sql, ") LIMIT ?");
	char *text = arena_strdup(a, sql.data);
	buf_free(&sql);
	store_version *got;
	size_t k;
	int more;
	int rc = s->e->select(s, NULL, a, text, b, n, n, &got, &k, &more);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		size_t j = 0;
		while (j < k && got[j].seq != v[i].seq)
			j++;
		if (j == k)
			return STORE_ERROR;
		v[i].body = got[j].body;
		v[i].body_len = got[j].body_len;
	}
	return 0;
}

int store_search(store *s, arena *a, const search_sql *q, size_t limit, size_t offset,
                 store_version **items, size_t *n, int *more)
{
	const char *order = q->order_by && *q->order_by ? q->order_by : "r.rid";
	/* in row-id order the page is cut as it is read; sorted on other keys,
	 * every match is sorted first, so bodies are read afterwards, for the
	 * page only (bodies_of) */
	int sorted = strcmp(order, "r.rid") && strcmp(order, "r.rid DESC");
	char *sql = arena_printf(a,
	                         "SELECT " STORE__VERSION_COLS ", %s, r.seq, r.deleted FROM "
	                         "resource r%s WHERE %s ORDER BY %s LIMIT ? OFFSET %zu",
	                         sorted ? "NULL" : "v.body",
	                         sorted ? "" : " JOIN resource_version v ON v.seq = r.seq",
	                         q->where, order, offset);
	int rc = s->e->select(s, NULL, a, sql, q->binds, q->nbinds, limit, items, n, more);
	if (!rc && sorted && *n)
		rc = bodies_of(s, a, *items, *n);
	return rc;
}

int store_search_count(store *s, const search_sql *q, int64_t *count)
{
	arena *a = arena_new(1024);
	char *sql = arena_printf(a, "SELECT count(*) FROM resource r WHERE %s", q->where);
	/* the ORDER BY binds come after the WHERE ones; the engine binds only
	 * as many as the SQL has */
	size_t nb = store__params(q->where);
	int rc = s->e->count(s, sql, q->binds, nb < q->nbinds ? nb : q->nbinds, count);
	arena_free(a);
	return rc;
}

int store_scan(store *s, arena *a, int64_t after_rid, size_t limit, store_version **items,
               size_t *n)
{
	search_sql q = {.where = "r.deleted = 0 AND r.rid > ?", .order_by = "r.rid"};
	search_bind b = {.kind = SEARCH_BIND_INT, .i = after_rid};
	q.binds = &b;
	q.nbinds = 1;
	int more;
	return store_search(s, a, &q, limit, 0, items, n, &more);
}

int store_count(store *s, const char *type, int64_t *out)
{
	search_bind b = {.kind = SEARCH_BIND_TEXT, .text = type};
	return s->e->count(s,
	                   type ? "SELECT count(*) FROM resource WHERE type = ? AND deleted = 0"
	                        : "SELECT count(*) FROM resource WHERE deleted = 0",
	                   &b, type ? 1 : 0, out);
}
