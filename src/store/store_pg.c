/*
 * store_pg.c - the PostgreSQL engine of store.h (libpq): the primitives of
 * store_int.h on a database that several Bron processes may share.
 *
 * Connections: each writer thread (store.c; 4 by default) keeps one; readers
 * take one from a pool per process (at most opts->pool, made on demand, kept
 * open). Every connection prepares the fixed statements once; search SQL,
 * compiled by search/ for both engines, is sent with typed parameters. All
 * results come in binary format, so bodies (bytea) arrive as they were sent.
 *
 * Concurrency between processes, at READ COMMITTED: the writer reads the
 * current row of a resource FOR UPDATE, so racing writes of one resource
 * queue behind each other and each sees the version the other committed (no
 * lost update under If-Match, versions +1 per resource in every process).
 * Conditional writes first take a transaction-level advisory lock, so their
 * searches see each other's commits (one resource from racing conditional
 * creates). A deadlock, a serialization failure or a row another transaction
 * inserted first (23505) makes the group run again (STORE__RETRY).
 *
 * Failures: a lost connection is reopened (once per statement, so a
 * restarted database is picked up without restarting Bron); when the
 * database cannot be reached the call answers STORE_UNAVAILABLE, which the
 * REST layer turns into 503. connect_timeout and statement_timeout keep any
 * request from waiting forever.
 */
#include "store_int.h"

#include <errno.h>
#include <libpq-fe.h>
#include <math.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PG_SCHEMA_VERSION 2
#define LOCK_MIGRATE      0x42726f6e01LL /* advisory lock keys ("Bron" 1, 2) */
#define LOCK_CONDITIONS   0x42726f6e02LL

#define OID_BYTEA  17
#define OID_INT8   20
#define OID_TEXT   25
#define OID_FLOAT8 701

#define INDEX_KINDS 8

typedef struct pgdb {
	char *url;
	int sync_full;
	int timeout_ms;           /* longest wait for one statement */
	atomic_llong written;     /* versions this process wrote */
	atomic_llong analyzed_at; /* `written` when statistics were last gathered */
	atomic_int analyzing;     /* a writer is running ANALYZE */
	atomic_llong down_until;  /* mono_ms() until which the database counts as down */
	pthread_mutex_t mu;       /* guards the pool */
	pthread_cond_t cv;
	store_conn **free; /* idle reader connections */
	size_t nfree, open, max;
	store_conn *pinned; /* store_pin: every read runs here (single-threaded tools) */
	int sealed;         /* bodies are sealed with sk (the store has a key) */
	crypt_store_key sk; /* the data key, from table bron_key */
} pgdb;

/* An index row held back until flush (its strings are the requester's,
 * alive until the op completes). */
typedef struct pending_row {
	int table; /* index_ncols */
	int64_t rid;
	const search_row *row; /* NULL for sp_compartment */
	const char *patient;
} pending_row;

struct store_conn {
	pgdb *db;
	PGconn *pc;           /* NULL or broken: reopened by ensure() */
	int prepared;         /* the fixed statements exist on pc */
	pending_row *pending; /* a writer's index rows not yet sent */
	size_t npending, cap;
};

#define PG(s) ((pgdb *)(s)->impl)

/* ---- schema ---- */

static const char schema_sql[] =
        "CREATE TABLE resource_version("
        "  seq BIGSERIAL PRIMARY KEY,"
        "  type TEXT COLLATE \"C\" NOT NULL, id TEXT COLLATE \"C\" NOT NULL,"
        "  version BIGINT NOT NULL, last_updated BIGINT NOT NULL, deleted BIGINT NOT NULL,"
        "  body BYTEA);"
        "CREATE UNIQUE INDEX resource_version_key ON resource_version(type, id, version);"
        "CREATE INDEX resource_version_type ON resource_version(type, seq);"
        "CREATE TABLE resource("
        "  rid BIGSERIAL PRIMARY KEY,"
        "  type TEXT COLLATE \"C\" NOT NULL, id TEXT COLLATE \"C\" NOT NULL,"
        "  version BIGINT NOT NULL, deleted BIGINT NOT NULL, last_updated BIGINT NOT NULL,"
        "  seq BIGINT NOT NULL, container BIGINT, UNIQUE(type, id));"
        "CREATE INDEX resource_container ON resource(container) WHERE container IS NOT NULL;"
        "CREATE INDEX resource_type_updated ON resource(type, last_updated);"
        "CREATE INDEX resource_type_live ON resource(type, deleted);";

/* version 2: the audit trail, append-only (store.h): UPDATE, DELETE and
 * TRUNCATE are refused by triggers; audit_head serialises the chain */
static const char audit_sql[] =
        "CREATE TABLE audit("
        "  seq BIGINT PRIMARY KEY, recorded BIGINT NOT NULL, patient TEXT COLLATE \"C\","
        "  agent TEXT COLLATE \"C\", action TEXT NOT NULL, outcome BIGINT NOT NULL,"
        "  record BYTEA NOT NULL, hash BYTEA NOT NULL);"
        "CREATE INDEX audit_patient ON audit(patient, seq) WHERE patient IS NOT NULL;"
        "CREATE INDEX audit_agent ON audit(agent, seq);"
        "CREATE INDEX audit_recorded ON audit(recorded);"
        "CREATE TABLE audit_head(id BIGINT PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL,"
        "  hash BYTEA NOT NULL);"
        "INSERT INTO audit_head VALUES (1, 0, decode(repeat('00', 32), 'hex'));"
        "CREATE FUNCTION bron_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END $$;"
        "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit "
        "FOR EACH ROW EXECUTE FUNCTION bron_audit_append_only();"
        "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit "
        "FOR EACH STATEMENT EXECUTE FUNCTION bron_audit_append_only();";

/* :contains and _text/_content match LIKE '%x%' on normalised text: trigram
 * indexes serve those patterns (pg_trgm ships with PostgreSQL) */
static const char trigram_sql[] =
        "CREATE EXTENSION IF NOT EXISTS pg_trgm;"
        "CREATE INDEX sp_string_trgm ON sp_string USING gin (norm gin_trgm_ops);"
        "CREATE INDEX sp_text_trgm ON sp_text USING gin (norm gin_trgm_ops);";

/* ---- statements every connection prepares ---- */

/* Every held index row in one statement: one array per column. */
#define FLUSH_COLS 49
#define UNNEST(t, cols, arrays)                                                                    \
	"x" #t " AS (INSERT INTO " cols " SELECT * FROM unnest(" arrays ")), "
#define FLUSH_SQL                                                                                  \
	"WITH " UNNEST(0, "sp_string(pid, rid, grp, norm, exact)",                                 \
	               "$1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[]")         \
	        UNNEST(1, "sp_token(pid, rid, grp, system, code, text)",                           \
	               "$6::bigint[], $7::bigint[], $8::bigint[], $9::text[], $10::text[], "       \
	               "$11::text[]") UNNEST(2, "sp_date(pid, rid, grp, lo, hi)",                  \
	                                     "$12::bigint[], $13::bigint[], $14::bigint[], "       \
	                                     "$15::bigint[], $16::bigint[]")                       \
	                UNNEST(3, "sp_number(pid, rid, grp, value, lo, hi)",                       \
	                       "$17::bigint[], $18::bigint[], $19::bigint[], $20::float8[], "      \
	                       "$21::float8[], "                                                   \
	                       "$22::float8[]") UNNEST(4,                                          \
	                                               "sp_quantity(pid, rid, grp, value, lo, "    \
	                                               "hi, system, code, cvalue, ccode)",         \
	                                               "$23::bigint[], $24::bigint[], "            \
	                                               "$25::bigint[], $26::float8[], "            \
	                                               "$27::float8[], "                           \
	                                               "$28::float8[], $29::text[], $30::text[], " \
	                                               "$31::float8[], $32::text[]")               \
	                        UNNEST(5,                                                          \
	                               "sp_reference(pid, rid, grp, ttype, tid, url, isystem, "    \
	                               "ivalue)",                                                  \
	                               "$33::bigint[], $34::bigint[], $35::bigint[], "             \
	                               "$36::text[], $37::text[], "                                \
	                               "$38::text[], $39::text[], $40::text[]")                    \
	                                UNNEST(6, "sp_uri(pid, rid, grp, uri)",                    \
	                                       "$41::bigint[], $42::bigint[], $43::bigint[], "     \
	                                       "$44::text[]")                                      \
	                                        UNNEST(7, "sp_text(pid, rid, norm)",               \
	                                               "$45::bigint[], $46::bigint[], "            \
	                                               "$47::text[]") "x8 AS (INSERT INTO "        \
	                                                              "sp_compartment(rid, "       \
	                                                              "patient) SELECT * FROM "    \
	                                                              "unnest($48::bigint[], "     \
	                                                              "$49::text[])) SELECT 1"

typedef struct prepared {
	const char *name, *sql;
	int nparams;
	Oid types[10];
} prepared;

#define T OID_TEXT
#define I OID_INT8
#define F OID_FLOAT8
static const prepared statements[] = {
        {"read_current",
         "SELECT r.version, r.deleted, r.last_updated, v.body, r.seq, r.rid, "
         "(SELECT string_agg(c.patient, chr(31)) FROM sp_compartment c WHERE c.rid = r.rid) "
         "FROM resource r "
         "JOIN resource_version v ON v.seq = r.seq WHERE r.type = $1 AND r.id = $2",
         2,
         {T, T}},
        {"read_version",
         "SELECT version, deleted, last_updated, body, seq, 0::bigint FROM resource_version "
         "WHERE type = $1 AND id = $2 AND version = $3",
         3,
         {T, T, I}},
        {"get",
         "SELECT version, deleted, last_updated, rid FROM resource WHERE type = $1 AND id = $2 "
         "FOR UPDATE",
         2,
         {T, T}},
        /* the version row and the current row in one round trip */
        {"put_new",
         "WITH v AS (INSERT INTO resource_version(type, id, version, last_updated, deleted, "
         "body) VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq) "
         "INSERT INTO resource(type, id, version, deleted, last_updated, seq) "
         "SELECT $1, $2, $3, $5, $4, seq FROM v RETURNING rid, seq",
         6,
         {T, T, I, I, I, OID_BYTEA}},
        {"put_next",
         "WITH v AS (INSERT INTO resource_version(type, id, version, last_updated, deleted, "
         "body) VALUES ($2, $3, $4, $5, $6, $7) RETURNING seq) "
         "UPDATE resource SET version = $4, deleted = $6, last_updated = $5, seq = v.seq "
         "FROM v WHERE rid = $1 RETURNING rid, v.seq",
         7,
         {I, T, T, I, I, I, OID_BYTEA}},
        {"unindex",
         "WITH a AS (DELETE FROM sp_string WHERE rid = $1), b AS (DELETE FROM sp_token WHERE "
         "rid = $1), c AS (DELETE FROM sp_date WHERE rid = $1), d AS (DELETE FROM sp_number "
         "WHERE rid = $1), e AS (DELETE FROM sp_quantity WHERE rid = $1), f AS (DELETE FROM "
         "sp_reference WHERE rid = $1), g AS (DELETE FROM sp_uri WHERE rid = $1), h AS "
         "(DELETE FROM sp_text WHERE rid = $1) DELETE FROM sp_compartment WHERE rid = $1",
         1,
         {I}},
        {"flush", FLUSH_SQL, FLUSH_COLS, {0}},
        {"contained_rids", "SELECT rid FROM resource WHERE container = $1", 1, {I}},
        {"drop_contained", "DELETE FROM resource WHERE container = $1", 1, {I}},
        {"put_contained",
         "INSERT INTO resource(type, id, version, deleted, last_updated, seq, container) "
         "VALUES ($1, $2, $3, 2, $4, $5, $6) RETURNING rid",
         6,
         {T, T, I, I, I, I}},
};
#undef T
#undef I
#undef F
/* The columns of each index table in FLUSH_SQL's order (search_row_kind
 * order, then sp_compartment): one array parameter each, 49 in all. */
#define INDEX_TABLES 9
static const int index_ncols[INDEX_TABLES] = {5, 6, 5, 6, 10, 8, 4, 3, 2};

/* ---- parameters ---- */

typedef struct params {
	int n;
	const char **vals;
	int *lens, *fmts;
	Oid *types;
	char (*num)[40];
} params;

static void params_init(params *p, arena *a, size_t cap)
{
	p->n = 0;
	p->vals = arena_calloc(a, (cap + 1) * sizeof *p->vals);
	p->lens = arena_calloc(a, (cap + 1) * sizeof *p->lens);
	p->fmts = arena_calloc(a, (cap + 1) * sizeof *p->fmts);
	p->types = arena_calloc(a, (cap + 1) * sizeof *p->types);
	p->num = arena_calloc(a, (cap + 1) * sizeof *p->num);
}

static void p_text(params *p, const char *v)
{
	p->types[p->n] = OID_TEXT;
	p->vals[p->n++] = v ? v : "";
}

static void p_int(params *p, int64_t v)
{
	snprintf(p->num[p->n], sizeof p->num[0], "%lld", (long long)v);
	p->types[p->n] = OID_INT8;
	p->vals[p->n] = p->num[p->n];
	p->n++;
}

static void p_real(params *p, double v)
{
	if (isnan(v))
		snprintf(p->num[p->n], sizeof p->num[0], "NaN");
	else if (isinf(v))
		snprintf(p->num[p->n], sizeof p->num[0], v > 0 ? "Infinity" : "-Infinity");
	else
		snprintf(p->num[p->n], sizeof p->num[0], "%.17g", v);
	p->types[p->n] = OID_FLOAT8;
	p->vals[p->n] = p->num[p->n];
	p->n++;
}

static void p_blob(params *p, const void *v, size_t len)
{
	p->types[p->n] = OID_BYTEA;
	p->vals[p->n] = v ? v : "";
	p->lens[p->n] = v ? (int)len : 0;
	p->fmts[p->n++] = 1;
}

static void p_null(params *p, Oid type)
{
	p->types[p->n] = type;
	p->vals[p->n++] = NULL;
}

/* ---- results ---- */

static int64_t col_int(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return 0;
	const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, col);
	int len = PQgetlength(r, row, col);
	uint64_t v = 0;
	for (int i = 0; i < len && i < 8; i++)
		v = v << 8 | p[i];
	if (len > 0 && len < 8 && (p[0] & 0x80))
		v |= ~0ULL << (len * 8); /* sign-extend int2/int4 */
	return (int64_t)v;
}

static char *col_str(arena *a, const PGresult *r, int row, int col)
{
	return arena_memdup(a, PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

/* ---- errors ---- */

/* A connection exception (08) or the server shutting down (57P). */
static int state_lost(const char *state)
{
	return state && (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3));
}

static int conn_lost(const PGconn *pc, const char *state)
{
	return !pc || PQstatus(pc) != CONNECTION_OK || state_lost(state);
}

/* The STORE_* code of SQLSTATE `state` (NULL: none) on a connection up or
 * lost:
 * STORE__RETRY for a lost race; STORE_FULL for no space (53100 disk_full);
 * STORE_UNAVAILABLE for a lost connection (08, 57P), a statement or lock
 * wait that timed out (57014, 55P03), other insufficient resources (53:
 * out of memory, too many connections) and I/O errors of the server (58);
 * else STORE_ERROR. */
int store__pg_status(int connected, const char *state)
{
	if (state &&
	    (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "23505")))
		return STORE__RETRY;
	if (state && !strcmp(state, "53100"))
		return STORE_FULL;
	if (!connected || state_lost(state))
		return STORE_UNAVAILABLE;
	if (state && (!strcmp(state, "57014") || !strcmp(state, "55P03") ||
	              !strncmp(state, "53", 2) || !strncmp(state, "58", 2)))
		return STORE_UNAVAILABLE;
	return STORE_ERROR;
}

/* The STORE_* code of a failed result (NULL result: out of memory or no
 * connection), reported on stderr (once per kind: store__log) unless it
 * is a lost race. */
static int classify(store_conn *c, PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	int status = store__pg_status(c->pc && PQstatus(c->pc) == CONNECTION_OK, state);
	if (status == STORE__RETRY)
		return status;
	store__log(STORE__LOG_ENGINE, status, "postgresql: %s: %s%s%s", what, state ? state : "",
	           state ? " " : "",
	           res ? PQresultErrorMessage(res)
	               : (c->pc ? PQerrorMessage(c->pc) : "no connection"));
	return status;
}

/* ---- connections ---- */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* After a statement or connection attempt timed out, the database counts
 * as down for a second: calls answer STORE_UNAVAILABLE at once instead of
 * each waiting out its own timeout. */
#define DOWN_MS 1000

static void mark_down(pgdb *db)
{
	atomic_store(&db->down_until, mono_ms() + DOWN_MS);
}

static int is_down(pgdb *db)
{
	return mono_ms() < atomic_load(&db->down_until);
}

static PGconn *connect_db(pgdb *db, char **err)
{
	/* every session: statements end on the server before the client gives
	 * up on them (wait_result); sync 0 trades the last commits for speed;
	 * no JIT (compiling costs more than Bron's short queries take) */
	char options[200], timeout[16];
	snprintf(options, sizeof options,
	         "-c statement_timeout=%d -c lock_timeout=%d -c synchronous_commit=%s -c jit=off",
	         db->timeout_ms - 500, db->timeout_ms - 1000, db->sync_full ? "on" : "off");
	snprintf(timeout, sizeof timeout, "%d", (db->timeout_ms + 1999) / 2000);
	const char *keys[] = {"connect_timeout", "application_name", "options", "dbname", NULL};
	const char *vals[] = {timeout, "bron", options, db->url, NULL};
	PGconn *pc = PQconnectdbParams(keys, vals, 1);
	if (!pc || PQstatus(pc) != CONNECTION_OK) {
		if (err)
			*err = store__msg("cannot connect to PostgreSQL: %s",
			                  pc ? PQerrorMessage(pc) : "out of memory");
		PQfinish(pc);
		mark_down(db);
		return NULL;
	}
	PQsetnonblocking(pc, 1);
	return pc;
}

/* Wait for the result of the query just sent, until the deadline. NULL
 * with *timed_out set when it passed (the connection is then useless),
 * NULL without when the connection broke. */
static PGresult *wait_result(PGconn *pc, int64_t deadline, int *timed_out)
{
	*timed_out = 0;
	int flushing = 1;
	for (;;) {
		if (flushing) {
			int f = PQflush(pc);
			if (f < 0)
				return NULL;
			flushing = f == 1;
		}
		if (!PQconsumeInput(pc))
			return NULL;
		if (!flushing && !PQisBusy(pc))
			break;
		int64_t left = deadline - mono_ms();
		if (left <= 0) {
			*timed_out = 1;
			return NULL;
		}
		struct pollfd pfd = {PQsocket(pc), POLLIN | (flushing ? POLLOUT : 0), 0};
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			return NULL;
	}
	PGresult *res = PQgetResult(pc), *more;
	while ((more = PQgetResult(pc)))
		PQclear(more); /* one statement, one result; drain the end marker */
	return res;
}

static int prepare_all(store_conn *c)
{
	int64_t deadline = mono_ms() + c->db->timeout_ms;
	for (size_t i = 0; i < sizeof statements / sizeof *statements; i++) {
		const prepared *p = &statements[i];
		/* types given for up to 10 parameters; longer ones cast in their SQL */
		int timed_out = 0;
		PGresult *res = PQsendPrepare(c->pc, p->name, p->sql, p->nparams,
		                              p->nparams <= 10 ? p->types : NULL)
		                        ? wait_result(c->pc, deadline, &timed_out)
		                        : NULL;
		int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		if (!ok && !timed_out)
			classify(c, res, p->name);
		if (timed_out)
			mark_down(c->db);
		PQclear(res);
		if (!ok)
			return -1;
	}
	c->prepared = 1;
	return 0;
}

/* The statement running on c passed its request's deadline: cancel it and
 * wait (up to --db-timeout) for the connection to be free again.
 * STORE_TIMEOUT, or STORE_UNAVAILABLE when the database does not answer. */
static int cancel_statement(store_conn *c)
{
	char err[256];
	PGcancel *cn = PQgetCancel(c->pc);
	int sent = cn && PQcancel(cn, err, sizeof err);
	PQfreeCancel(cn);
	int timed_out = 0;
	PGresult *res = sent ? wait_result(c->pc, mono_ms() + c->db->timeout_ms, &timed_out) : NULL;
	PQclear(res);
	if (!sent || timed_out || PQstatus(c->pc) != CONNECTION_OK) {
		PQfinish(c->pc); /* ensure() opens a new one */
		c->pc = NULL;
		c->prepared = 0;
		return timed_out ? STORE_UNAVAILABLE : STORE_TIMEOUT;
	}
	return STORE_TIMEOUT;
}

/* A working connection on c: reopened if it was lost. 0 or STORE_UNAVAILABLE. */
static int ensure(store_conn *c)
{
	if (is_down(c->db))
		return STORE_UNAVAILABLE;
	if (c->pc && PQstatus(c->pc) == CONNECTION_OK && c->prepared)
		return 0;
	PQfinish(c->pc);
	c->prepared = 0;
	c->pc = connect_db(c->db, NULL);
	if (!c->pc || prepare_all(c)) {
		PQfinish(c->pc);
		c->pc = NULL;
		return STORE_UNAVAILABLE;
	}
	return 0;
}

static store_conn *conn_new(pgdb *db)
{
	store_conn *c = base_calloc(1, sizeof *c);
	c->db = db;
	return c;
}

static void conn_free(store_conn *c)
{
	if (!c)
		return;
	PQfinish(c->pc);
	free(c->pending);
	free(c);
}

/* A reader connection from the pool, waiting up to 10 s for a free one. */
static store_conn *acquire(store *s)
{
	pgdb *db = PG(s);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	store_conn *c = NULL;
	if (db->pinned)
		return db->pinned;
	pthread_mutex_lock(&db->mu);
	while (!db->nfree && db->open >= db->max)
		if (pthread_cond_timedwait(&db->cv, &db->mu, &until)) {
			pthread_mutex_unlock(&db->mu);
			return NULL;
		}
	if (db->nfree)
		c = db->free[--db->nfree];
	else
		db->open++;
	pthread_mutex_unlock(&db->mu);
	return c ? c : conn_new(db);
}

static void release_conn(store *s, store_conn *c)
{
	pgdb *db = PG(s);
	if (c == db->pinned)
		return;
	pthread_mutex_lock(&db->mu);
	db->free[db->nfree++] = c;
	pthread_cond_signal(&db->cv);
	pthread_mutex_unlock(&db->mu);
}

/* Run a statement (prepared `name`, or `sql`) with params on c, reopening a
 * lost connection and trying once more when `retry_lost` (a statement
 * outside a transaction). Returns the result (PQclear it) with *rc 0, or
 * NULL with *rc a STORE_* code. */
static PGresult *run(store_conn *c, const char *name, const char *sql, const params *p,
                     int retry_lost, int *rc)
{
	for (int attempt = 0;; attempt++) {
		if ((*rc = ensure(c)))
			return NULL;
		int sent = name ? PQsendQueryPrepared(c->pc, name, p ? p->n : 0, p ? p->vals : NULL,
		                                      p ? p->lens : NULL, p ? p->fmts : NULL, 1)
		                : PQsendQueryParams(c->pc, sql, p ? p->n : 0, p ? p->types : NULL,
		                                    p ? p->vals : NULL, p ? p->lens : NULL,
		                                    p ? p->fmts : NULL, 1);
		int timed_out = 0;
		/* the request's own deadline (--request-timeout), when it comes first */
		int64_t deadline = mono_ms() + c->db->timeout_ms, request = store_deadline() / 1000;
		int by_request = request && request < deadline;
		PGresult *res =
		        sent ? wait_result(c->pc, by_request ? request : deadline, &timed_out)
		             : NULL;
		if (timed_out && by_request) {
			*rc = cancel_statement(c);
			return NULL;
		}
		if (timed_out) {
			/* a database that does not answer: give this connection up */
			fprintf(stderr, "bron: postgresql: no answer within %d ms; giving up\n",
			        c->db->timeout_ms);
			mark_down(c->db);
			PQfinish(c->pc);
			c->pc = NULL;
			c->prepared = 0;
			*rc = STORE_UNAVAILABLE;
			return NULL;
		}
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
			return res;
		const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		if (retry_lost && attempt == 0 && conn_lost(c->pc, state)) {
			PQclear(res);
			c->prepared = 0; /* ensure() reopens the connection */
			PQfinish(c->pc);
			c->pc = NULL;
			continue;
		}
		*rc = classify(c, res, name ? name : "query");
		PQclear(res);
		return NULL;
	}
}

/* A statement without parameters or rows (transaction control). */
static int command(store_conn *c, const char *sql)
{
	int rc;
	PGresult *res = run(c, NULL, sql, NULL, 0, &rc);
	PQclear(res);
	return rc;
}

/* Rewrite `?` placeholders (outside '...' literals) as $1, $2, ... */
static char *renumber(arena *a, const char *sql)
{
	size_t n = store__params(sql), len = strlen(sql);
	char *out = arena_alloc(a, len + n * 6 + 1), *o = out;
	int quoted = 0, k = 0;
	for (const char *p = sql; *p; p++) {
		if (*p == '\'')
			quoted = !quoted;
		if (*p == '?' && !quoted)
			o += sprintf(o, "$%d", ++k);
		else
			*o++ = *p;
	}
	*o = 0;
	return out;
}

static void bind_search(params *p, const search_bind *binds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const search_bind *b = &binds[i];
		if (b->kind == SEARCH_BIND_TEXT)
			p_text(p, b->text);
		else if (b->kind == SEARCH_BIND_INT)
			p_int(p, b->i);
		else
			p_real(p, b->r);
	}
}

/* ---- schema version and migration ---- */

/* 0: no schema yet; -1 on error. */
static int schema_version(PGconn *pc)
{
	PGresult *res = PQexec(pc, "SELECT to_regclass('bron_schema') IS NOT NULL");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		return -1;
	}
	int exists = !strcmp(PQgetvalue(res, 0, 0), "t");
	PQclear(res);
	if (!exists)
		return 0;
	res = PQexec(pc, "SELECT max(version) FROM bron_schema");
	int v = PQresultStatus(res) == PGRES_TUPLES_OK && !PQgetisnull(res, 0, 0)
	                ? atoi(PQgetvalue(res, 0, 0))
	                : -1;
	PQclear(res);
	return v;
}

static int exec_ok(PGconn *pc, const char *sql, char **err)
{
	PGresult *res = PQexec(pc, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
	if (!ok && err && !*err)
		*err = store__msg("cannot set up the PostgreSQL schema: %s", PQerrorMessage(pc));
	PQclear(res);
	return ok ? 0 : -1;
}

static char *unknown_version(int v)
{
	return store__msg("the database has schema version %d; this bron knows schema version %d "
	                  "only (use the bron that wrote it, or a new database)",
	                  v, PG_SCHEMA_VERSION);
}

/* Create or upgrade the schema, one process at a time: a session-level
 * advisory lock is taken before the transaction begins, so the transaction
 * sees what a process that held the lock before committed. */
static int migrate(PGconn *pc, int *version, char **err)
{
	char lock[80];
	snprintf(lock, sizeof lock, "SELECT pg_advisory_lock(%lld)", LOCK_MIGRATE);
	if (exec_ok(pc, lock, err))
		return STORE_ERROR;
	int v = exec_ok(pc, "BEGIN", err) ? -1 : schema_version(pc);
	if (v < 0 && !*err)
		*err = store__msg("cannot read the schema version: %s", PQerrorMessage(pc));
	else if (v > PG_SCHEMA_VERSION)
		*err = unknown_version(v);
	else if (v == 0) {
		/* the whole schema. Later versions add steps below, each taking
		 * the database from version N to N + 1. */
		char ins[160];
		snprintf(ins, sizeof ins,
		         "CREATE TABLE bron_schema(version INTEGER NOT NULL);"
		         "INSERT INTO bron_schema VALUES (%d)",
		         PG_SCHEMA_VERSION);
		if (!exec_ok(pc, schema_sql, err) &&
		    !exec_ok(pc, search_schema_sql(SEARCH_POSTGRES), err) &&
		    !exec_ok(pc, trigram_sql, err) && !exec_ok(pc, audit_sql, err) &&
		    !exec_ok(pc, ins, err))
			v = PG_SCHEMA_VERSION;
	} else if (v == 1) {
		/* 1 -> 2: the audit trail */
		if (!exec_ok(pc, audit_sql, err) &&
		    !exec_ok(pc, "UPDATE bron_schema SET version = 2", err))
			v = 2;
	}
	if (*err)
		exec_ok(pc, "ROLLBACK", NULL);
	else
		exec_ok(pc, "COMMIT", err);
	snprintf(lock, sizeof lock, "SELECT pg_advisory_unlock(%lld)", LOCK_MIGRATE);
	exec_ok(pc, lock, NULL);
	if (*err)
		return STORE_ERROR;
	*version = v;
	return STORE_OK;
}

static int key_open(PGconn *pc, const crypt_key *key, pgdb *db, char **err);

int store__pg_migrate(const store_options *opts, int *version, char **err)
{
	pgdb db = {.url = (char *)opts->url, .sync_full = 1, .timeout_ms = 600000};
	PGconn *pc = connect_db(&db, err);
	if (!pc)
		return STORE_UNAVAILABLE;
	int rc = migrate(pc, version, err);
	if (!rc)
		rc = key_open(pc, opts->key, &db, err); /* the key fits, or a new store gets one */
	crypt_key_wipe(&db.sk.dek);
	PQfinish(pc);
	return rc;
}

/* ---- encryption of bodies ---- */

/* The data key of an encrypted database lives in table bron_key (one row,
 * wrapped by the owner's key: crypt.h), made beside the numbered schema
 * when a store is first opened with a key. Bodies are sealed with it
 * before they are sent and opened after they are read, with the version
 * they belong to as associated data; index values are stored as they are
 * (docs/security.md). */
static const char key_table_sql[] =
        "CREATE TABLE IF NOT EXISTS bron_key(id INTEGER PRIMARY KEY CHECK (id = 1), "
        "wrapped BYTEA NOT NULL)";

/* One statement on pc, binary results; NULL (and *err) unless it succeeded. */
static PGresult *key_exec(PGconn *pc, const char *sql, int nparams, const char *const *vals,
                          const int *lens, const int *fmts, char **err)
{
	PGresult *res = PQexecParams(pc, sql, nparams, NULL, vals, lens, fmts, 1);
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return res;
	if (!*err)
		*err = store__msg("postgresql: %s", PQerrorMessage(pc));
	PQclear(res);
	return NULL;
}

/* The wrapped key of the database (*res holds it; *len 0: none). */
static int key_row(PGconn *pc, int for_update, PGresult **res, const unsigned char **w, size_t *len,
                   char **err)
{
	*len = 0;
	*res = key_exec(pc, "SELECT to_regclass('bron_key') IS NOT NULL", 0, NULL, NULL, NULL, err);
	if (!*res)
		return -1;
	int exists = *PQgetvalue(*res, 0, 0) == 1;
	PQclear(*res);
	*res = NULL;
	if (!exists)
		return 0;
	*res = key_exec(pc,
	                for_update ? "SELECT wrapped FROM bron_key WHERE id = 1 FOR UPDATE"
	                           : "SELECT wrapped FROM bron_key WHERE id = 1",
	                0, NULL, NULL, NULL, err);
	if (!*res)
		return -1;
	if (PQntuples(*res)) {
		*w = (const unsigned char *)PQgetvalue(*res, 0, 0);
		*len = (size_t)PQgetlength(*res, 0, 0);
	}
	return 0;
}

/* At open: check that the database is encrypted exactly when a key is
 * given, and load (or, for a database without bodies, make) its data key.
 * Under the migration lock, so racing processes make one key. */
static int key_open(PGconn *pc, const crypt_key *key, pgdb *db, char **err)
{
	char lock[80];
	snprintf(lock, sizeof lock, "SELECT pg_advisory_lock(%lld)", LOCK_MIGRATE);
	PGresult *res = key_exec(pc, lock, 0, NULL, NULL, NULL, err);
	if (!res)
		return STORE_UNAVAILABLE;
	PQclear(res);
	res = NULL;
	const unsigned char *w = NULL;
	size_t len = 0;
	int rc = key_row(pc, 0, &res, &w, &len, err) ? STORE_UNAVAILABLE : 0;
	if (rc) {
		;
	} else if (!key) {
		if (len) {
			*err = store__msg(
			        "the database is encrypted: give its key (--key-file FILE, "
			        "or BRON_KEY_FILE or BRON_KEY in the environment)");
			rc = STORE_ERROR;
		}
	} else if (len) {
		int u = crypt_unwrap(key, w, len, &db->sk);
		if (u)
			*err = store__msg(
			        u == -1 ? "the key does not open this store (table bron_key)"
			                : "table bron_key does not hold a Bron key of a "
			                  "version this bron knows");
		rc = u ? STORE_ERROR : 0;
	} else {
		PQclear(res);
		res = key_exec(pc,
		               "SELECT EXISTS (SELECT 1 FROM resource_version WHERE body IS NOT "
		               "NULL)",
		               0, NULL, NULL, NULL, err);
		unsigned char wrapped[CRYPT_WRAPPED_LEN];
		if (!res) {
			rc = STORE_UNAVAILABLE;
		} else if (*PQgetvalue(res, 0, 0) == 1) {
			*err = store__msg(
			        "the database holds resources that are not encrypted; Bron "
			        "encrypts the bodies of a new PostgreSQL store only (serve it "
			        "with --unencrypted, or export and import into a new one)");
			rc = STORE_ERROR;
		} else if (crypt_store_key_new(&db->sk) || crypt_wrap(key, &db->sk, wrapped)) {
			*err = store__msg("no random numbers for a data key");
			rc = STORE_ERROR;
		} else {
			const char *vals[] = {(const char *)wrapped};
			int lens[] = {CRYPT_WRAPPED_LEN}, fmts[] = {1};
			PGresult *made = key_exec(pc, key_table_sql, 0, NULL, NULL, NULL, err);
			PQclear(made);
			made = made ? key_exec(pc, "INSERT INTO bron_key VALUES (1, $1)", 1, vals,
			                       lens, fmts, err)
			            : NULL;
			rc = made ? 0 : STORE_ERROR;
			PQclear(made);
		}
	}
	PQclear(res);
	db->sealed = key && !rc;
	snprintf(lock, sizeof lock, "SELECT pg_advisory_unlock(%lld)", LOCK_MIGRATE);
	PQclear(PQexec(pc, lock));
	return rc;
}

int store__pg_rekey(const store_rekey_options *o, char **err)
{
	if (o->full || !o->key) {
		*err = store__msg(
		        o->full ? "--full works on the embedded store only; on PostgreSQL "
		                  "the owner's key is changed by rewrapping the data key"
		                : "give the database's present key (--key-file); Bron does "
		                  "not encrypt an existing PostgreSQL store");
		return STORE_ERROR;
	}
	pgdb db = {.url = (char *)o->url, .sync_full = 1, .timeout_ms = 60000};
	PGconn *pc = connect_db(&db, err);
	if (!pc)
		return STORE_UNAVAILABLE;
	PGresult *res = key_exec(pc, "BEGIN", 0, NULL, NULL, NULL, err), *row = NULL;
	PQclear(res);
	const unsigned char *w = NULL;
	size_t len = 0;
	crypt_store_key sk;
	unsigned char wrapped[CRYPT_WRAPPED_LEN];
	int rc = STORE_ERROR;
	if (!res || key_row(pc, 1, &row, &w, &len, err))
		rc = STORE_UNAVAILABLE;
	else if (!len)
		*err = store__msg("the database is not encrypted (no table bron_key)");
	else if (crypt_unwrap(o->key, w, len, &sk))
		*err = store__msg("the key does not open this store (table bron_key)");
	else if (crypt_wrap(o->newkey, &sk, wrapped))
		*err = store__msg("no random numbers");
	else {
		const char *vals[] = {(const char *)wrapped};
		int lens[] = {CRYPT_WRAPPED_LEN}, fmts[] = {1};
		res = key_exec(pc, "UPDATE bron_key SET wrapped = $1 WHERE id = 1", 1, vals, lens,
		               fmts, err);
		PQclear(res);
		if (res) {
			res = key_exec(pc, "COMMIT", 0, NULL, NULL, NULL, err);
			PQclear(res);
		}
		rc = res ? STORE_OK : STORE_ERROR;
	}
	PQclear(row);
	crypt_key_wipe(&sk.dek);
	PQfinish(pc);
	return rc;
}

/* The associated data of a body: the version it belongs to. A contained
 * resource's row (deleted 2, id "Type/id#cid") carries its container's body. */
static int body_ad(char *ad, size_t cap, const char *type, const char *id, int64_t version,
                   int deleted)
{
	int tl = (int)strlen(type), il = (int)strlen(id);
	const char *slash = deleted == 2 ? strchr(id, '/') : NULL;
	const char *hash = deleted == 2 ? strrchr(id, '#') : NULL;
	if (slash && hash > slash) {
		type = id;
		tl = (int)(slash - id);
		il = (int)(hash - slash - 1);
		id = slash + 1;
	}
	int n = snprintf(ad, cap, "%.*s\n%.*s\n%lld", tl, type, il, id, (long long)version);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* A body of row `row`, column `col` of res into the arena: opened when the
 * store seals them. STORE_ERROR, logged with the resource, when it does not
 * open (altered, moved to another row, or not sealed with this key). */
static int get_body(pgdb *db, arena *a, const PGresult *res, int row, int col, const char *type,
                    const char *id, int64_t version, int deleted, const char **body, size_t *len)
{
	*body = NULL;
	*len = 0;
	if (PQgetisnull(res, row, col))
		return STORE_OK;
	size_t n = (size_t)PQgetlength(res, row, col);
	const char *raw = PQgetvalue(res, row, col);
	if (!db->sealed) {
		*body = arena_memdup(a, raw, n);
		*len = n;
		return STORE_OK;
	}
	char ad[512];
	int adlen = body_ad(ad, sizeof ad, type, id, version, deleted);
	char *out = n >= CRYPT_SEAL_OVERHEAD ? arena_alloc(a, n - CRYPT_SEAL_OVERHEAD + 1) : NULL;
	if (adlen < 0 || !out ||
	    crypt_open_raw(&db->sk.dek, ad, (size_t)adlen, raw, n, (unsigned char *)out)) {
		fprintf(stderr,
		        "bron: postgresql: the body of %s/%s version %lld does not open with the "
		        "store's key (altered or moved); not served\n",
		        type, id, (long long)version);
		return STORE_ERROR;
	}
	out[n - CRYPT_SEAL_OVERHEAD] = 0;
	*body = out;
	*len = n - CRYPT_SEAL_OVERHEAD;
	return STORE_OK;
}

/* ---- open and close ---- */

static const store_engine pg_engine;

int store__pg_open(store *s, const store_options *opts, char **err)
{
	pgdb *db = base_calloc(1, sizeof *db);
	db->url = base_strdup(opts->url);
	db->sync_full = opts->sync_full != 0;
	db->timeout_ms = opts->timeout_ms ? (int)opts->timeout_ms : 10000;
	db->max = opts->pool ? opts->pool : 32;
	db->free = base_calloc(db->max, sizeof *db->free);
	store_conn *c = conn_new(db);
	c->pc = connect_db(db, err);
	int v = c->pc ? schema_version(c->pc) : -1;
	if (c->pc && v >= 0 && v < PG_SCHEMA_VERSION && migrate(c->pc, &v, err))
		v = -1;
	if (c->pc && v != PG_SCHEMA_VERSION && !*err)
		*err = v < 0 ? store__msg("cannot read the schema version: %s",
		                          PQerrorMessage(c->pc))
		             : unknown_version(v);
	int keyrc = c->pc && !*err ? key_open(c->pc, opts->key, db, err) : 0;
	if (*err || prepare_all(c)) {
		if (!*err)
			*err = store__msg("cannot prepare statements: %s", PQerrorMessage(c->pc));
		conn_free(c);
		crypt_key_wipe(&db->sk.dek);
		free(db->free);
		free(db->url);
		free(db);
		return keyrc ? keyrc : STORE_UNAVAILABLE;
	}
	/* a database that was filled without statistics (a restore, a load by
	 * another tool): gather them before serving (see pg_after_group) */
	PGresult *res = PQexec(c->pc, "SELECT reltuples < 0 AND EXISTS (SELECT 1 FROM resource) "
	                              "FROM pg_class WHERE oid = 'resource'::regclass");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	    !strcmp(PQgetvalue(res, 0, 0), "t"))
		PQclear(PQexec(c->pc, "ANALYZE"));
	PQclear(res);
	pthread_mutex_init(&db->mu, NULL);
	pthread_cond_init(&db->cv, NULL);
	db->free[db->nfree++] = c;
	db->open = 1;
	s->e = &pg_engine;
	s->impl = db;
	s->nwriters = opts->writers ? opts->writers : 4;
	s->encrypted = db->sealed;
	s->value_key = db->sealed ? &db->sk.dek : NULL;
	return STORE_OK;
}

static void pg_close(store *s)
{
	pgdb *db = PG(s);
	for (size_t i = 0; i < db->nfree; i++)
		conn_free(db->free[i]);
	pthread_mutex_destroy(&db->mu);
	pthread_cond_destroy(&db->cv);
	crypt_key_wipe(&db->sk.dek);
	free(db->free);
	free(db->url);
	free(db);
}

/* ---- reads ---- */

static int pg_read(store *s, arena *a, const char *type, const char *id, int64_t version,
                   store_version *out)
{
	store_conn *c = acquire(s);
	if (!c)
		return STORE_UNAVAILABLE;
	arena *tmp = arena_new(1024);
	params p;
	params_init(&p, tmp, 3);
	p_text(&p, type);
	p_text(&p, id);
	if (version)
		p_int(&p, version);
	int rc;
	PGresult *res = run(c, version ? "read_version" : "read_current", NULL, &p, 1, &rc);
	if (res && PQntuples(res) == 0) {
		rc = STORE_NOT_FOUND;
	} else if (res) {
		out->type = type;
		out->id = id;
		out->version = col_int(res, 0, 0);
		out->deleted = (int)col_int(res, 0, 1);
		out->last_updated = col_int(res, 0, 2);
		out->seq = col_int(res, 0, 4);
		out->rid = col_int(res, 0, 5);
		out->compartments = version                  ? NULL
		                    : PQgetisnull(res, 0, 6) ? ""
		                                             : col_str(a, res, 0, 6);
		rc = get_body(PG(s), a, res, 0, 3, type, id, out->version, out->deleted, &out->body,
		              &out->body_len);
		if (!rc)
			rc = (!version && out->deleted) ? STORE_GONE : STORE_OK;
	}
	PQclear(res);
	arena_free(tmp);
	release_conn(s, c);
	return rc;
}

static int pg_select(store *s, store_conn *wc, arena *a, const char *sql, const search_bind *binds,
                     size_t nbinds, size_t limit, store_version **items, size_t *n, int *more)
{
	*n = 0;
	*more = 0;
	*items = NULL;
	store_conn *c = wc ? wc : acquire(s);
	if (!c)
		return STORE_UNAVAILABLE;
	params p;
	params_init(&p, a, nbinds + 1);
	bind_search(&p, binds, nbinds);
	p_int(&p, (int64_t)limit + 1);
	int rc;
	PGresult *res = run(c, NULL, renumber(a, sql), &p, wc == NULL, &rc);
	if (res) {
		size_t rows = (size_t)PQntuples(res);
		*more = rows > limit;
		if (rows > limit)
			rows = limit;
		store_version *v = arena_alloc(a, (rows + 1) * sizeof *v);
		for (size_t i = 0; i < rows; i++) {
			int r = (int)i;
			v[i].rid = col_int(res, r, 0);
			v[i].type = col_str(a, res, r, 1);
			v[i].id = col_str(a, res, r, 2);
			v[i].version = col_int(res, r, 3);
			v[i].last_updated = col_int(res, r, 4);
			v[i].seq = col_int(res, r, 6);
			v[i].deleted = (int)col_int(res, r, 7);
			v[i].compartments = NULL;
			if (get_body(PG(s), a, res, r, 5, v[i].type, v[i].id, v[i].version,
			             v[i].deleted, &v[i].body, &v[i].body_len))
				rc = STORE_ERROR;
		}
		*items = v;
		*n = rows;
	}
	PQclear(res);
	if (!wc)
		release_conn(s, c);
	return rc;
}

static int pg_count(store *s, const char *sql, const search_bind *binds, size_t nbinds,
                    int64_t *out)
{
	store_conn *c = acquire(s);
	if (!c)
		return STORE_UNAVAILABLE;
	arena *a = arena_new(1024);
	params p;
	params_init(&p, a, nbinds);
	bind_search(&p, binds, nbinds);
	int rc;
	PGresult *res = run(c, NULL, renumber(a, sql), &p, 1, &rc);
	*out = res && PQntuples(res) ? col_int(res, 0, 0) : 0;
	PQclear(res);
	arena_free(a);
	release_conn(s, c);
	return rc;
}

static int pg_health(store *s)
{
	store_conn *c = acquire(s);
	if (!c)
		return STORE_UNAVAILABLE;
	int rc;
	PGresult *res = run(c, NULL, "SELECT 1", NULL, 1, &rc);
	PQclear(res);
	release_conn(s, c);
	return rc;
}

/* ---- the writer ---- */

static int pg_writer_open(store *s, store_conn **out)
{
	*out = conn_new(PG(s)); /* connects on first use (ensure) */
	return 0;
}

static void pg_writer_close(store *s, store_conn *c)
{
	conn_free(c);
}

static int pg_writer_ready(store *s, store_conn *c)
{
	return ensure(c);
}

static int pg_begin(store_conn *c)
{
	/* a connection lost while idle is reopened and BEGIN sent again */
	int rc;
	PGresult *res = run(c, NULL, "BEGIN", NULL, 1, &rc);
	PQclear(res);
	return rc;
}

static int pg_commit(store_conn *c)
{
	int rc;
	PGresult *res = run(c, NULL, "COMMIT", NULL, 0, &rc);
	/* COMMIT of a failed transaction answers ROLLBACK */
	if (res && strcmp(PQcmdStatus(res), "COMMIT"))
		rc = STORE_ERROR;
	PQclear(res);
	return rc;
}

static void pg_rollback(store_conn *c)
{
	c->npending = 0;
	if (c->pc && PQtransactionStatus(c->pc) != PQTRANS_IDLE)
		command(c, "ROLLBACK");
}

/* Keep the planner's statistics up with a growing store. Without them
 * PostgreSQL takes a freshly loaded table for a few rows and plans chained
 * searches as nested loops that run for seconds; autovacuum catches up only
 * after a minute. So after every 500 versions this process wrote, and 10%
 * more than at the last time, one writer runs ANALYZE - after its group was
 * answered, so no request waits for it. */
static void pg_after_group(store_conn *c)
{
	pgdb *db = c->db;
	long long w = atomic_load(&db->written), at = atomic_load(&db->analyzed_at);
	if (w - at < 500 || w - at < at / 10)
		return;
	int idle = 0;
	if (!atomic_compare_exchange_strong(&db->analyzing, &idle, 1))
		return; /* another writer is at it */
	atomic_store(&db->analyzed_at, w);
	command(c, "ANALYZE");
	atomic_store(&db->analyzing, 0);
}

static int pg_savepoint(store_conn *c)
{
	return command(c, "SAVEPOINT req");
}

static int pg_release(store_conn *c)
{
	return command(c, "RELEASE SAVEPOINT req");
}

static int pg_rollback_to(store_conn *c)
{
	c->npending = 0;
	return command(c, "ROLLBACK TO SAVEPOINT req");
}

static int pg_lock_conditions(store_conn *c)
{
	char sql[64];
	snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%lld)", LOCK_CONDITIONS);
	return command(c, sql);
}

/* Run prepared statement `name` on the writer's connection (inside the
 * transaction: a lost connection is not retried). */
static PGresult *wrun(store_conn *c, const char *name, const params *p, int *rc)
{
	return run(c, name, NULL, p, 0, rc);
}

#define WPARAMS(p, k)                                                                              \
	const char *p##_vals[k] = {0};                                                             \
	int p##_lens[k] = {0}, p##_fmts[k] = {0};                                                  \
	Oid p##_types[k] = {0};                                                                    \
	char p##_num[k][40];                                                                       \
	params p = {0, p##_vals, p##_lens, p##_fmts, p##_types, p##_num}

static int pg_get(store_conn *c, const char *type, const char *id, store_prev *out)
{
	WPARAMS(p, 2);
	p_text(&p, type);
	p_text(&p, id);
	int rc;
	PGresult *res = wrun(c, "get", &p, &rc);
	memset(out, 0, sizeof *out);
	if (res && PQntuples(res)) {
		out->exists = 1;
		out->version = col_int(res, 0, 0);
		out->deleted = (int)col_int(res, 0, 1);
		out->last_updated = col_int(res, 0, 2);
		out->rid = col_int(res, 0, 3);
	}
	PQclear(res);
	return rc;
}

/* A statement returning one bigint (seq, rid) into *out. */
static int returning(store_conn *c, const char *name, const params *p, int64_t *out)
{
	int rc;
	PGresult *res = wrun(c, name, p, &rc);
	if (res && PQntuples(res) == 1)
		*out = col_int(res, 0, 0);
	else if (res)
		rc = STORE_ERROR;
	PQclear(res);
	return rc;
}

static int no_rows(store_conn *c, const char *name, const params *p)
{
	int rc;
	PQclear(wrun(c, name, p, &rc));
	return rc;
}

/* The body parameter of a new version: none for a deletion, sealed when
 * the store has a key (*sealed: the bytes to free after the statement). */
static int bind_body(store_conn *c, params *p, const store_op *op, int deleted,
                     unsigned char **sealed)
{
	*sealed = NULL;
	if (deleted) {
		p_null(p, OID_BYTEA);
		return 0;
	}
	if (!c->db->sealed) {
		p_blob(p, op->body, op->body_len);
		return 0;
	}
	char ad[512];
	int adlen = body_ad(ad, sizeof ad, op->type, op->id, op->version, 0);
	*sealed = base_malloc(op->body_len + CRYPT_SEAL_OVERHEAD);
	if (adlen < 0 ||
	    crypt_seal_raw(&c->db->sk.dek, ad, (size_t)adlen, op->body, op->body_len, *sealed)) {
		free(*sealed);
		*sealed = NULL;
		return -1;
	}
	p_blob(p, *sealed, op->body_len + CRYPT_SEAL_OVERHEAD);
	return 0;
}

static int pg_put(store_conn *c, const store_op *op, int deleted, const store_prev *prev,
                  int64_t *seq, int64_t *rid)
{
	atomic_fetch_add(&c->db->written, 1);
	WPARAMS(p, 7);
	if (prev->exists)
		p_int(&p, prev->rid);
	p_text(&p, op->type);
	p_text(&p, op->id);
	p_int(&p, op->version);
	p_int(&p, op->last_updated);
	p_int(&p, deleted);
	unsigned char *sealed = NULL;
	if (bind_body(c, &p, op, deleted, &sealed))
		return STORE_ERROR;
	int rc;
	PGresult *res = wrun(c, prev->exists ? "put_next" : "put_new", &p, &rc);
	free(sealed);
	if (res && PQntuples(res) == 1) {
		*rid = col_int(res, 0, 0);
		*seq = col_int(res, 0, 1);
	} else if (res) {
		rc = STORE_ERROR;
	}
	PQclear(res);
	return rc;
}

static int pg_put_version(store_conn *c, const store_op *op, int deleted)
{
	WPARAMS(p, 6);
	p_text(&p, op->type);
	p_text(&p, op->id);
	p_int(&p, op->version);
	p_int(&p, op->last_updated);
	p_int(&p, deleted);
	unsigned char *sealed = NULL;
	if (bind_body(c, &p, op, deleted, &sealed))
		return STORE_ERROR;
	int rc;
	PGresult *res =
	        run(c, NULL,
	            "INSERT INTO resource_version(type, id, version, last_updated, deleted, "
	            "body) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
	            &p, 0, &rc);
	PQclear(res);
	free(sealed);
	return rc;
}

static int pg_unindex(store_conn *c, int64_t rid)
{
	WPARAMS(p, 1);
	p_int(&p, rid);
	return no_rows(c, "unindex", &p);
}

static void hold(store_conn *c, int table, int64_t rid, const search_row *row, const char *patient)
{
	if (c->npending == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->pending = base_realloc(c->pending, c->cap * sizeof *c->pending);
	}
	c->pending[c->npending++] = (pending_row){table, rid, row, patient};
}

static int pg_index_row(store_conn *c, int64_t rid, const search_row *row)
{
	if ((size_t)row->kind >= INDEX_KINDS)
		return STORE_ERROR;
	hold(c, (int)row->kind, rid, row, NULL);
	return 0;
}

static int pg_compartment(store_conn *c, int64_t rid, const char *patient)
{
	hold(c, INDEX_TABLES - 1, rid, NULL, patient);
	return 0;
}

/* The parameters of one held row, in its table's column order. */
static void row_params(params *p, const pending_row *h)
{
	if (!h->row) {
		p_int(p, h->rid);
		p_text(p, h->patient);
		return;
	}
	search_bind b[10];
	bind_search(p, b, store__row_binds(h->row, h->rid, b));
}

/* Append one value to an array literal: numbers as they are, text quoted. */
static void array_put(buf *b, const char *v, Oid type)
{
	buf_putc(b, b->len ? ',' : '{');
	if (type != OID_TEXT) {
		buf_puts(b, v);
		return;
	}
	buf_putc(b, '"');
	for (const char *q = v; *q; q++) {
		if (*q == '"' || *q == '\\')
			buf_putc(b, '\\');
		buf_putc(b, *q);
	}
	buf_putc(b, '"');
}

/* Send every held row in one round trip: the prepared "flush" statement
 * takes one array per column of every index table (unnest inserts them). */
static int pg_flush(store_conn *c)
{
	if (!c->npending)
		return 0;
	buf cols[FLUSH_COLS];
	int first[INDEX_TABLES + 1];
	first[0] = 0;
	for (int t = 0; t < INDEX_TABLES; t++)
		first[t + 1] = first[t] + index_ncols[t];
	for (int k = 0; k < FLUSH_COLS; k++)
		buf_init(&cols[k], 0);
	const char *rowv[10] = {0};
	int rowl[10] = {0}, rowf[10] = {0};
	Oid rowt[10] = {0};
	char rown[10][40] = {{0}};
	for (size_t i = 0; i < c->npending; i++) {
		const pending_row *h = &c->pending[i];
		params one = {0, rowv, rowl, rowf, rowt, rown};
		row_params(&one, h);
		for (int k = 0; k < one.n; k++)
			array_put(&cols[first[h->table] + k], one.vals[k], one.types[k]);
	}
	const char *vals[FLUSH_COLS];
	for (int k = 0; k < FLUSH_COLS; k++) {
		if (!cols[k].len)
			buf_putc(&cols[k], '{');
		buf_putc(&cols[k], '}');
		vals[k] = cols[k].data;
	}
	params p = {FLUSH_COLS, vals, NULL, NULL, NULL, NULL};
	int rc;
	PGresult *res = run(c, "flush", NULL, &p, 0, &rc);
	PQclear(res);
	for (int k = 0; k < FLUSH_COLS; k++)
		buf_free(&cols[k]);
	c->npending = 0;
	return rc;
}

static int pg_contained_rids(store_conn *c, int64_t rid, int64_t *rids, size_t max, size_t *n)
{
	WPARAMS(p, 1);
	p_int(&p, rid);
	int rc;
	PGresult *res = wrun(c, "contained_rids", &p, &rc);
	*n = 0;
	for (int i = 0; res && i < PQntuples(res) && *n < max; i++)
		rids[(*n)++] = col_int(res, i, 0);
	PQclear(res);
	return rc;
}

static int pg_drop_contained(store_conn *c, int64_t rid)
{
	WPARAMS(p, 1);
	p_int(&p, rid);
	return no_rows(c, "drop_contained", &p);
}

static int pg_put_contained(store_conn *c, const char *type, const char *id, const store_op *op,
                            int64_t seq, int64_t container, int64_t *rid)
{
	WPARAMS(p, 6);
	p_text(&p, type);
	p_text(&p, id);
	p_int(&p, op->version);
	p_int(&p, op->last_updated);
	p_int(&p, seq);
	p_int(&p, container);
	return returning(c, "put_contained", &p, rid);
}

/* ---- the audit trail ---- */

static int pg_audit_head(store_conn *c, int64_t *seq, unsigned char hash[32])
{
	int rc;
	PGresult *res = run(c, NULL, "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
	                    NULL, 0, &rc);
	if (!rc && (!res || PQntuples(res) != 1 || PQgetlength(res, 0, 1) != 32))
		rc = STORE_ERROR;
	if (!rc) {
		*seq = col_int(res, 0, 0);
		memcpy(hash, PQgetvalue(res, 0, 1), 32);
	}
	PQclear(res);
	return rc;
}

static int pg_audit_put(store_conn *c, const store_audit *r)
{
	arena *a = arena_new(1024);
	params p;
	params_init(&p, a, 8);
	char action[2] = {r->action, 0};
	p_int(&p, r->seq);
	p_int(&p, r->recorded);
	if (r->patient)
		p_text(&p, r->patient);
	else
		p_null(&p, OID_TEXT);
	if (r->agent)
		p_text(&p, r->agent);
	else
		p_null(&p, OID_TEXT);
	p_text(&p, action);
	p_int(&p, r->outcome);
	/* with a key the record is sealed as the bodies are (the searchable
	 * columns stay in the clear: see docs/security.md) */
	unsigned char *sealed = NULL;
	if (c->db->sealed) {
		char ad[64];
		int adlen = snprintf(ad, sizeof ad, "audit:%lld", (long long)r->seq);
		sealed = base_malloc(r->record_len + CRYPT_SEAL_OVERHEAD);
		if (crypt_seal_raw(&c->db->sk.dek, ad, (size_t)adlen, r->record, r->record_len,
		                   sealed)) {
			free(sealed);
			arena_free(a);
			return STORE_ERROR;
		}
		p_blob(&p, sealed, r->record_len + CRYPT_SEAL_OVERHEAD);
	} else {
		p_blob(&p, r->record, r->record_len);
	}
	p_blob(&p, r->hash, 32);
	int rc;
	PGresult *res = run(c, NULL,
	                    "INSERT INTO audit(seq, recorded, patient, agent, action, outcome, "
	                    "record, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
	                    &p, 0, &rc);
	PQclear(res);
	free(sealed);
	arena_free(a);
	return rc;
}

static int pg_audit_set_head(store_conn *c, int64_t seq, const unsigned char hash[32])
{
	arena *a = arena_new(256);
	params p;
	params_init(&p, a, 2);
	p_int(&p, seq);
	p_blob(&p, hash, 32);
	int rc;
	PGresult *res =
	        run(c, NULL, "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", &p, 0, &rc);
	PQclear(res);
	arena_free(a);
	return rc;
}

static int pg_audit_select(store *s, arena *a, const char *sql, const search_bind *binds,
                           size_t nbinds, size_t limit, store_audit **out, size_t *n, int *more)
{
	*n = 0;
	*more = 0;
	*out = NULL;
	store_conn *c = acquire(s);
	if (!c)
		return STORE_UNAVAILABLE;
	params p;
	params_init(&p, a, nbinds + 1);
	bind_search(&p, binds, nbinds);
	p_int(&p, (int64_t)limit + 1);
	int rc;
	PGresult *res = run(c, NULL, renumber(a, sql), &p, 1, &rc);
	if (res) {
		size_t rows = (size_t)PQntuples(res);
		*more = rows > limit;
		if (rows > limit)
			rows = limit;
		store_audit *v = arena_calloc(a, (rows + 1) * sizeof *v);
		for (size_t i = 0; i < rows; i++) {
			int r = (int)i;
			v[i].seq = col_int(res, r, 0);
			v[i].recorded = col_int(res, r, 1);
			v[i].patient = PQgetisnull(res, r, 2) ? NULL : col_str(a, res, r, 2);
			v[i].agent = PQgetisnull(res, r, 3) ? NULL : col_str(a, res, r, 3);
			v[i].action = PQgetlength(res, r, 4) ? PQgetvalue(res, r, 4)[0] : 0;
			v[i].odd = PQgetlength(res, r, 4) != 1;
			v[i].outcome = (int)col_int(res, r, 5);
			v[i].record = col_str(a, res, r, 6);
			v[i].record_len = (size_t)PQgetlength(res, r, 6);
			if (PG(s)->sealed && v[i].record_len) {
				/* a record that does not open is shown as altered: the
				 * chain's check names it */
				char ad[64];
				int adlen =
				        snprintf(ad, sizeof ad, "audit:%lld", (long long)v[i].seq);
				size_t sl = v[i].record_len;
				char *plain = sl >= CRYPT_SEAL_OVERHEAD
				                      ? arena_alloc(a, sl - CRYPT_SEAL_OVERHEAD + 1)
				                      : NULL;
				if (plain && !crypt_open_raw(&PG(s)->sk.dek, ad, (size_t)adlen,
				                             PQgetvalue(res, r, 6), sl,
				                             (unsigned char *)plain)) {
					plain[sl - CRYPT_SEAL_OVERHEAD] = 0;
					v[i].record = plain;
					v[i].record_len = sl - CRYPT_SEAL_OVERHEAD;
				} else {
					fprintf(stderr,
					        "bron: postgresql: audit record %lld does not open "
					        "with the "
					        "store's key (altered or moved)\n",
					        (long long)v[i].seq);
					v[i].record = "{}";
					v[i].record_len = 2;
				}
			}
			if (PQgetlength(res, r, 7) == 32)
				memcpy(v[i].hash, PQgetvalue(res, r, 7), 32);
		}
		*out = v;
		*n = rows;
	}
	PQclear(res);
	release_conn(s, c);
	return rc;
}

/* ---- bron check ---- */

static int pg_pin(store *s, int on)
{
	pgdb *db = PG(s);
	if (on) {
		if (db->pinned)
			return STORE_OK;
		store_conn *c = acquire(s);
		if (!c)
			return STORE_UNAVAILABLE;
		/* the snapshot is taken at the first statement after BEGIN */
		int rc = command(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
		if (!rc)
			rc = command(c, "SELECT 1 FROM bron_schema");
		if (rc) {
			release_conn(s, c);
			return rc;
		}
		db->pinned = c;
		return STORE_OK;
	}
	store_conn *c = db->pinned;
	if (!c)
		return STORE_OK;
	db->pinned = NULL;
	int rc = command(c, "COMMIT");
	release_conn(s, c);
	return rc;
}

/* Cell (row, col) of a binary result as text: integers "%lld", reals
 * "%.17g" (as the SQLite engine gives them), everything else its bytes. */
static const char *pg_cell(arena *a, const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	char num[40];
	Oid t = PQftype(res, col);
	if (t == OID_INT8 || t == 23 || t == 21) {
		snprintf(num, sizeof num, "%lld", (long long)col_int(res, row, col));
		return arena_strdup(a, num);
	}
	if (t == OID_FLOAT8 && PQgetlength(res, row, col) == 8) {
		const unsigned char *p = (const unsigned char *)PQgetvalue(res, row, col);
		uint64_t u = 0;
		for (int i = 0; i < 8; i++)
			u = u << 8 | p[i];
		double d;
		memcpy(&d, &u, sizeof d);
		snprintf(num, sizeof num, "%.17g", d == 0 ? 0.0 : d);
		return arena_strdup(a, num);
	}
	return col_str(a, res, row, col);
}

static int pg_rows(store *s, arena *a, const char *sql, const search_bind *binds, size_t nbinds,
                   size_t ncols, const char ***cells, size_t *n)
{
	*n = 0;
	*cells = NULL;
	store_conn *c = acquire(s);
	if (!c)
		return STORE_UNAVAILABLE;
	params p;
	params_init(&p, a, nbinds);
	bind_search(&p, binds, nbinds);
	int rc;
	PGresult *res = run(c, NULL, renumber(a, sql), &p, 0, &rc);
	if (res) {
		size_t rows = (size_t)PQntuples(res);
		const char **v = arena_alloc(a, (rows * ncols + 1) * sizeof *v);
		for (size_t i = 0; i < rows; i++)
			for (size_t k = 0; k < ncols; k++)
				v[i * ncols + k] = (int)k < PQnfields(res)
				                           ? pg_cell(a, res, (int)i, (int)k)
				                           : NULL;
		*cells = v;
		*n = rows;
	}
	PQclear(res);
	release_conn(s, c);
	return rc;
}

/* PostgreSQL checks its own pages; what can go wrong between Bron's tables
 * is a serial sequence behind the rows it numbered (the next insert would
 * collide). */
static int pg_integrity(store *s, void (*fn)(void *ctx, const char *line), void *ctx)
{
	static const char *const seqs[][3] = {
	        {"resource_version", "seq", "resource_version_seq_seq"},
	        {"resource", "rid", "resource_rid_seq"},
	};
	arena *a = arena_new(1024);
	int rc = STORE_OK;
	for (size_t i = 0; i < sizeof seqs / sizeof *seqs && !rc; i++) {
		char *sql = arena_printf(a,
		                         "SELECT (SELECT coalesce(max(%s), 0) FROM %s), "
		                         "(SELECT coalesce(last_value, 0) FROM pg_sequences WHERE "
		                         "schemaname = current_schema() AND sequencename = '%s')",
		                         seqs[i][1], seqs[i][0], seqs[i][2]);
		const char **v;
		size_t n;
		rc = pg_rows(s, a, sql, NULL, 0, 2, &v, &n);
		if (!rc && n == 1 && v[0] && v[1] &&
		    strtoll(v[1], NULL, 10) < strtoll(v[0], NULL, 10)) {
			char line[256];
			snprintf(line, sizeof line,
			         "postgresql: sequence %s is at %s, behind the largest %s.%s %s",
			         seqs[i][2], v[1], seqs[i][0], seqs[i][1], v[0]);
			fn(ctx, line);
		}
	}
	arena_free(a);
	return rc;
}

static const store_engine pg_engine = {
        .name = "postgresql",
        .dialect = SEARCH_POSTGRES,
        .close = pg_close,
        .writer_open = pg_writer_open,
        .writer_close = pg_writer_close,
        .writer_ready = pg_writer_ready,
        .after_group = pg_after_group,
        .begin = pg_begin,
        .commit = pg_commit,
        .rollback = pg_rollback,
        .savepoint = pg_savepoint,
        .release = pg_release,
        .rollback_to = pg_rollback_to,
        .lock_conditions = pg_lock_conditions,
        .get = pg_get,
        .put = pg_put,
        .put_version = pg_put_version,
        .unindex = pg_unindex,
        .index_row = pg_index_row,
        .compartment = pg_compartment,
        .flush = pg_flush,
        .contained_rids = pg_contained_rids,
        .drop_contained = pg_drop_contained,
        .put_contained = pg_put_contained,
        .select = pg_select,
        .count = pg_count,
        .read = pg_read,
        .health = pg_health,
        .audit_head = pg_audit_head,
        .audit_put = pg_audit_put,
        .audit_set_head = pg_audit_set_head,
        .audit_select = pg_audit_select,
        .pin = pg_pin,
        .rows = pg_rows,
        .integrity = pg_integrity,
};
