/*
 * audit.c - every interaction leaves audit records (audit.h) in the store's
 * hash-chained trail, and the trail is served as AuditEvent resources.
 *
 * A write's records are committed in the write's own transaction (also when
 * it fails: then they record the attempt); everything else - reads,
 * searches, history, operations, refusals - is recorded when the answer is
 * sent, one record per patient whose data the answer held, appended by the
 * writer with its next group. The trail cannot be written through the API:
 * AuditEvent answers GET only.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../audit/audit.h"
#include "../json/json.h"
#include "rest_int.h"

struct rest_seen {
	const char *type, *id;
	int64_t version, rid;
	const char **patients; /* a version without a row id: its own compartments */
	size_t npatients;
};

/* The patients whose compartments hold a version that has no row id (an
 * older version from history or vread): from its own references. */
static size_t version_patients(rctx *c, const store_version *v, const char ***out)
{
	*out = NULL;
	if (v->rid > 0 || v->deleted || !v->body || !strcmp(v->type, "Patient"))
		return 0;
	json_error_t je;
	json_t *j = json_loadb(v->body, v->body_len, 0, &je);
	if (!j)
		return 0;
	search_rows rows = {0};
	diag_list d;
	diag_init(&d, c->a);
	if (search_index_base(j, v->type, v->id, c->base, c->a, &rows, &d))
		rows.npatients = 0;
	json_decref(j);
	*out = rows.patients;
	return rows.npatients;
}

void rest__audit_saw(rctx *c, const store_version *v)
{
	if (!c->interaction || v->deleted == 2)
		return;
	if (c->nseen == c->capseen) {
		size_t cap = c->capseen ? 2 * c->capseen : 16;
		rest_seen *n = arena_alloc(c->a, cap * sizeof *n);
		if (c->nseen)
			memcpy(n, c->seen, c->nseen * sizeof *n);
		c->seen = n;
		c->capseen = cap;
	}
	rest_seen *s = &c->seen[c->nseen++];
	*s = (rest_seen){v->type, v->id, v->version, v->rid, NULL, 0};
	if (v->compartments && v->rid > 0) {
		/* a read brought its compartments along: no query for them */
		size_t n = *v->compartments ? 1 : 0;
		for (const char *p = v->compartments; *p; p++)
			n += *p == '\x1f';
		s->patients = arena_alloc(c->a, (n + 1) * sizeof *s->patients);
		char *copy = arena_strdup(c->a, v->compartments);
		for (char *p = copy; n && p;) {
			char *sep = strchr(p, '\x1f');
			if (sep)
				*sep = 0;
			s->patients[s->npatients++] = p;
			p = sep ? sep + 1 : NULL;
		}
		s->rid = -1; /* known: not looked up again */
		return;
	}
	s->npatients = version_patients(c, v, &s->patients);
}

/* What every record of the request shares. */
static void base_event(rctx *c, int status, audit_event *e)
{
	const policy_principal *p = c->who;
	*e = (audit_event){.recorded = base_now_us(),
	                   .interaction = c->interaction,
	                   .operation = c->operation,
	                   .status = status,
	                   .agent = p ? p->sub : NULL,
	                   .organization =
	                           p && p->organization ? p->organization : c->r->cfg.organization,
	                   .on_behalf = p ? p->actor : NULL,
	                   .purpose = p && p->purpose ? p->purpose : "TREAT",
	                   .basis = c->basis         ? c->basis
	                            : c->r->cfg.open ? "open"
	                            : p              ? "scope"
	                                             : "no-token",
	                   .detail = c->audit_detail};
	e->break_glass = e->basis && !strncmp(e->basis, "break-the-glass", 15);
	http_req *req = c->req;
	if (req) {
		e->address = http_req_peer(req);
		e->client = http_req_client_cert_subject(req);
		const char *rid = http_req_header(req, "X-Request-Id");
		e->request_id = rid && strlen(rid) <= 200 ? rid : NULL;
	}
}

static const char *ref_of(rctx *c, const char *type, const char *id, int64_t version)
{
	if (!type)
		return NULL;
	if (!id)
		return type;
	return version > 0 ? arena_printf(c->a, "%s/%s/_history/%lld", type, id, (long long)version)
	                   : arena_printf(c->a, "%s/%s", type, id);
}

/* One record per patient: items[i] belongs to patient pat[i] (NULL: none). */
static void append_by_patient(rctx *c, const audit_event *base, const char **pat, const char **what,
                              size_t n, store_audit **out, size_t *nout)
{
	const char **done = arena_alloc(c->a, (n + 1) * sizeof *done);
	const char **mine = arena_alloc(c->a, (n + 1) * sizeof *mine);
	store_audit *recs = arena_alloc(c->a, (n + 1) * sizeof *recs);
	size_t ndone = 0, k = 0;
	for (size_t i = 0; i < n; i++) {
		int seen = 0;
		for (size_t j = 0; j < ndone && !seen; j++)
			seen = (!pat[i] && !done[j]) ||
			       (pat[i] && done[j] && !strcmp(pat[i], done[j]));
		if (seen)
			continue;
		done[ndone++] = pat[i];
		size_t m = 0;
		for (size_t j = i; j < n; j++)
			if ((!pat[i] && !pat[j]) || (pat[i] && pat[j] && !strcmp(pat[i], pat[j])))
				if (what[j] && (!m || strcmp(mine[m - 1], what[j])))
					mine[m++] = what[j];
		audit_event e = *base;
		e.patient = pat[i];
		e.what = mine;
		e.nwhat = m;
		audit_record(c->a, &e, &recs[k++]);
	}
	*out = recs;
	*nout = k;
}

/* The patients whose compartments hold the seen resources: (patient, ref)
 * pairs, a resource once per patient it belongs to. */
static size_t seen_pairs(rctx *c, const char ***pat, const char ***what)
{
	size_t n = c->nseen;
	int64_t *rids = arena_alloc(c->a, (n + 1) * sizeof *rids);
	size_t nr = 0;
	for (size_t i = 0; i < n; i++)
		if (c->seen[i].rid > 0 && strcmp(c->seen[i].type, "Patient"))
			rids[nr++] = c->seen[i].rid;
	int64_t *crid = NULL;
	const char **cpat = NULL;
	size_t nc = 0;
	if (nr && store_compartments(c->r->cfg.store, c->a, rids, nr, &crid, &cpat, &nc))
		nc = 0;
	size_t cap = n + nc + 1, k = 0;
	for (size_t i = 0; i < n; i++)
		cap += c->seen[i].npatients;
	*pat = arena_alloc(c->a, cap * sizeof **pat);
	*what = arena_alloc(c->a, cap * sizeof **what);
	for (size_t i = 0; i < n; i++) {
		rest_seen *s = &c->seen[i];
		const char *ref = ref_of(c, s->type, s->id, s->version);
		size_t before = k;
		if (!strcmp(s->type, "Patient")) {
			(*pat)[k] = s->id;
			(*what)[k++] = ref;
		}
		for (size_t j = 0; j < nc; j++)
			if (crid[j] == s->rid && k < cap) {
				(*pat)[k] = cpat[j];
				(*what)[k++] = ref;
			}
		for (size_t j = 0; j < s->npatients && k < cap; j++) {
			(*pat)[k] = s->patients[j];
			(*what)[k++] = ref;
		}
		if (k == before && k < cap) {
			/* no patient known (a deletion marker, a resource outside every
			 * compartment): the patient context or the compartment asked
			 * for, if any */
			(*pat)[k] = c->compartment_id           ? c->compartment_id
			            : c->who && c->who->patient ? c->who->patient
			                                        : NULL;
			(*what)[k++] = ref;
		}
	}
	return k;
}

void rest__audit_reply(rctx *c, int status)
{
	if (!c->interaction || c->audited || !c->r->cfg.store || c->r->cfg.no_audit)
		return;
	c->audited = 1;
	audit_event base;
	base_event(c, status, &base);
	if (c->query_text && *c->query_text)
		base.query = c->query_text;
	const char **pat, **what;
	size_t n = seen_pairs(c, &pat, &what);
	if (!n) {
		/* nothing returned: what was asked for */
		pat = arena_alloc(c->a, sizeof *pat);
		what = arena_alloc(c->a, sizeof *what);
		pat[0] = c->compartment_id                                 ? c->compartment_id
		         : c->type && c->id && !strcmp(c->type, "Patient") ? c->id
		         : c->who && c->who->patient                       ? c->who->patient
		                                                           : NULL;
		what[0] = ref_of(c, c->type, c->id, 0);
		n = 1;
	}
	store_audit *recs;
	size_t nrecs;
	append_by_patient(c, &base, pat, what, n, &recs, &nrecs);
	store_audit_append(c->r->cfg.store, recs, nrecs);
}

/* ---- writes: records in the write's transaction ---- */

static int http_status_of(int store_status, store_op_kind kind, int created)
{
	switch (store_status) {
	case STORE_OK:
		return kind == STORE_OP_CREATE || (kind == STORE_OP_UPDATE && created) ? 201 : 200;
	case STORE_MATCHED: return 200;
	case STORE_NOT_FOUND: return 404;
	case STORE_GONE: return 410;
	case STORE_CONFLICT:
	case STORE_MULTIPLE: return 412;
	case STORE_EXISTS: return 409;
	case STORE_INVALID: return 422;
	case STORE_DUPLICATE: return 400;
	case STORE_UNAVAILABLE: return 503;
	case STORE_FULL: return 507;
	default: return 500;
	}
}

/* What the writer needs to make the records of a write: prepared on the
 * requester's thread; the writer allocates only from `a` (a batch's writes
 * may run on several writer threads at once). */
typedef struct write_audit {
	arena *a;
	store_op *ops;
	size_t n;
	audit_event *base; /* per op: the record without status and version */
	const char ***patients;
	size_t *npatients;
} write_audit;

/* The patients of op (owned by c): the new version's compartments, or for
 * a delete those looked up before it. */
static size_t op_patients(rctx *c, const store_op *op, const char ***out)
{
	if (c->many_patients && op >= c->many && op < c->many + c->nmany) {
		/* one of several deleted by one condition: its own patients */
		size_t i = (size_t)(op - c->many);
		*out = c->many_patients[i];
		return c->nmany_patients[i];
	}
	if (op->kind != STORE_OP_DELETE && op->index && op->index->npatients) {
		*out = op->index->patients;
		return op->index->npatients;
	}
	if (op->type && !strcmp(op->type, "Patient") && op->id) {
		*out = (const char **)&op->id;
		return 1;
	}
	*out = c->audit_patients;
	return c->naudit_patients;
}

static const char *op_ref(arena *a, const store_op *op, int with_version)
{
	if (!op->type)
		return NULL;
	if (!op->id)
		return op->type;
	return with_version && op->version > 0 ? arena_printf(a, "%s/%s/_history/%lld", op->type,
	                                                      op->id, (long long)op->version)
	                                       : arena_printf(a, "%s/%s", op->type, op->id);
}

static void write_records(void *ctx, int status, store_audit **recs, size_t *n)
{
	write_audit *wa = ctx;
	size_t cap = 0;
	for (size_t i = 0; i < wa->n; i++)
		cap += wa->npatients[i] ? wa->npatients[i] : 1;
	store_audit *out = arena_alloc(wa->a, (cap + 1) * sizeof *out);
	size_t k = 0;
	for (size_t i = 0; i < wa->n; i++) {
		store_op *op = &wa->ops[i];
		int st = status == STORE_OK ? op->status : status;
		audit_event e = wa->base[i];
		e.status = http_status_of(st, op->kind, op->prev_version == 0);
		e.recorded = base_now_us();
		const char *ref = op_ref(wa->a, op, st == STORE_OK);
		e.what = &ref;
		e.nwhat = ref ? 1 : 0;
		size_t np = wa->npatients[i];
		/* a create's id is final only now (conditional creates) */
		const char **p = wa->patients[i];
		const char *self = op->type && !strcmp(op->type, "Patient") ? op->id : NULL;
		for (size_t j = 0; j < (np ? np : 1); j++) {
			e.patient = self ? self : np ? p[j] : NULL;
			audit_record(wa->a, &e, &out[k++]);
			if (self)
				break;
		}
	}
	*recs = out;
	*n = k;
}

static void free_arena(void *a)
{
	arena_free(a);
}

int rest__write_audited(rctx *c, rctx **owners, store_op *ops, size_t n, store_done_fn done,
                        void *ctx)
{
	if (c->r->cfg.no_audit)
		return store_write_async(c->r->cfg.store, ops, n, done, ctx);
	write_audit *wa = arena_alloc(c->a, sizeof *wa);
	wa->a = arena_new(0);
	arena_defer(c->a, free_arena, wa->a);
	wa->ops = ops;
	wa->n = n;
	wa->base = arena_alloc(c->a, (n + 1) * sizeof *wa->base);
	wa->patients = arena_alloc(c->a, (n + 1) * sizeof *wa->patients);
	wa->npatients = arena_alloc(c->a, (n + 1) * sizeof *wa->npatients);
	for (size_t i = 0; i < n; i++) {
		rctx *o = owners && owners[i] ? owners[i] : c;
		base_event(o, 0, &wa->base[i]);
		wa->npatients[i] = op_patients(o, &ops[i], &wa->patients[i]);
	}
	int rc = store_write_audited(c->r->cfg.store, ops, n, write_records, wa, done, ctx);
	if (rc == STORE_OK)
		for (size_t i = 0; i < n; i++) {
			rctx *o = owners && owners[i] ? owners[i] : c;
			if (o->interaction)
				o->audited = 1;
		}
	return rc;
}

void rest__audit_note_patients(rctx *c, const char *type, const char *id)
{
	if (!type || !id)
		return;
	if (!strcmp(type, "Patient")) {
		c->audit_patients = arena_alloc(c->a, sizeof *c->audit_patients);
		c->audit_patients[0] = id;
		c->naudit_patients = 1;
		return;
	}
	store_version v;
	if (store_read(c->r->cfg.store, c->a, type, id, 0, &v) != STORE_OK || v.rid <= 0)
		return;
	int64_t *rids;
	const char **pats;
	size_t n;
	if (store_compartments(c->r->cfg.store, c->a, &v.rid, 1, &rids, &pats, &n))
		return;
	c->audit_patients = pats;
	c->naudit_patients = n;
}

/* ---- the trail as AuditEvent resources ---- */

/* May the principal read the trail, and whose records: 0 and *patient
 * (NULL: everyone's) or -1 after a reply. */
static int trail_access_or_reply(rctx *c, unsigned perm, const char **patient)
{
	*patient = NULL;
	if (!c->who)
		return 0;
	if (rest__consent_applies(c)) {
		rest_reply_error(c, 403, "forbidden",
		                 "The audit trail is not open to another organisation");
		return -1;
	}
	policy_grant g[8];
	size_t n = policy_grants(c->who, "AuditEvent", perm, g, 8);
	if (n > 8)
		n = 8;
	int any = 0;
	for (size_t i = 0; i < n; i++) {
		if (g[i].query)
			continue; /* query filters are not supported on the trail */
		if (!g[i].patient) {
			/* everyone's records: only for a scope that names AuditEvent
			 * (an auditor's), not for a wildcard such as user/<any>.rs */
			if (strcmp(g[i].type, "AuditEvent"))
				continue;
			*patient = NULL;
			return 0;
		}
		*patient = g[i].patient; /* a patient's own records (a patient/ wildcard will do) */
		any = 1;
	}
	if (!any) {
		rest_reply_error(
		        c, 403, "forbidden",
		        "The token's scopes do not allow reading the audit trail: it "
		        "takes a scope on AuditEvent itself (e.g. system/AuditEvent.rs), or "
		        "a patient context for the patient's own records");
		return -1;
	}
	return 0;
}

static void audit_read(rctx *c)
{
	const char *only;
	if (trail_access_or_reply(c, POLICY_READ, &only))
		return;
	char *end;
	long long seq = strtoll(c->id, &end, 10);
	store_audit *r;
	size_t n = 0;
	int more;
	store_audit_query q = {.seq = seq, .outcome = -1, .count = 1};
	if (*end || seq <= 0 ||
	    store_audit_search(c->r->cfg.store, c->a, &q, &r, &n, &more) != STORE_OK || !n ||
	    (only && (!r[0].patient || strcmp(r[0].patient, only)))) {
		rest_reply_error(c, 404, "not-found", "AuditEvent/%s is not known", c->id);
		return;
	}
	c->audit_patients = &r[0].patient;
	buf b;
	buf_init(&b, 0);
	if ((only ? audit_to_fhir_for_patient : audit_to_fhir)(&r[0], &b)) {
		buf_free(&b);
		rest_reply_error(c, 500, "exception", "AuditEvent/%s cannot be shown", c->id);
		return;
	}
	const char *body = arena_memdup(c->a, b.data, b.len);
	size_t len = b.len;
	buf_free(&b);
	rest_set_header(c, "ETag", "W/\"1\"");
	rest_reply_json(c, 200, body, len);
}

/* A date search value with its prefix into q->from / q->to; -1 if bad. */
static int date_param(const char *v, store_audit_query *q)
{
	char pre[3] = "eq";
	if (strlen(v) > 2 && v[0] >= 'a' && v[0] <= 'z') {
		memcpy(pre, v, 2);
		v += 2;
	}
	int64_t lo, hi;
	if (search_date_range(v, &lo, &hi))
		return -1;
	if (!strcmp(pre, "eq")) {
		q->from = lo > q->from ? lo : q->from;
		q->to = !q->to || hi < q->to ? hi : q->to;
	} else if (!strcmp(pre, "ge") || !strcmp(pre, "gt") || !strcmp(pre, "sa")) {
		int64_t f = !strcmp(pre, "ge") ? lo : hi + 1;
		q->from = f > q->from ? f : q->from;
	} else if (!strcmp(pre, "le") || !strcmp(pre, "lt") || !strcmp(pre, "eb")) {
		int64_t t = !strcmp(pre, "le") ? hi : lo - 1;
		q->to = !q->to || t < q->to ? t : q->to;
	} else {
		return -1;
	}
	return 0;
}

static void audit_search(rctx *c)
{
	const char *only;
	if (trail_access_or_reply(c, POLICY_SEARCH, &only))
		return;
	const char *const *keys, *const *vals;
	size_t n = rest_queries(c, &keys, &vals);
	if (!strcmp(c->method, "POST")) { /* POST _search: the form body's parameters too */
		size_t len;
		const char *body = rest_body(c, &len);
		const char *ct = rest_header(c, "Content-Type");
		if (len && (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33))) {
			rest_reply_error(c, 415, "not-supported",
			                 "POST _search takes application/x-www-form-urlencoded "
			                 "parameters");
			return;
		}
		size_t cap = n + len / 2 + 2;
		const char **k2 = arena_alloc(c->a, cap * sizeof *k2);
		const char **v2 = arena_alloc(c->a, cap * sizeof *v2);
		for (size_t i = 0; i < n; i++) {
			k2[i] = keys[i];
			v2[i] = vals[i];
		}
		n += rest__form_split(c->a, body, len, k2 + n, v2 + n, cap - n);
		keys = k2;
		vals = v2;
	}
	store_audit_query q = {.outcome = -1, .count = 20};
	int none = 0;
	buf self;
	buf_init(&self, 0);
	for (size_t i = 0; i < n; i++) {
		const char *k = keys[i], *v = vals[i];
		int bad = 0;
		if (!strcmp(k, "patient")) {
			const char *id = !strncmp(v, "Patient/", 8) ? v + 8 : v;
			if (q.patient && strcmp(q.patient, id))
				none = 1;
			q.patient = id;
		} else if (!strcmp(k, "agent") || !strcmp(k, "agent:identifier")) {
			const char *bar = strchr(v, '|');
			q.agent = bar ? bar + 1 : v;
		} else if (!strcmp(k, "date")) {
			bad = date_param(v, &q);
		} else if (!strcmp(k, "action")) {
			bad = strlen(v) != 1 || !strchr("CRUDE", v[0]);
			q.action = v[0];
		} else if (!strcmp(k, "outcome")) {
			bad = strcmp(v, "0") && strcmp(v, "4") && strcmp(v, "8") && strcmp(v, "12");
			q.outcome = atoi(v);
		} else if (!strcmp(k, "_count")) {
			long cnt;
			bad = base_parse_long(v, 1, 1000, &cnt) != 0;
			q.count = (size_t)cnt;
		} else if (!strcmp(k, "_sort")) {
			bad = strcmp(v, "date") && strcmp(v, "-date");
			q.ascending = !strcmp(v, "date");
		} else if (!strcmp(k, "_cursor")) {
			long long a;
			char *end;
			a = strtoll(v, &end, 10);
			bad = *end || a <= 0;
			q.after = a;
			if (!bad)
				continue; /* not part of the self link's query */
		} else if (!strcmp(k, "_format") || !strcmp(k, "_pretty")) {
			continue;
		} else {
			buf_free(&self);
			rest_reply_error(
			        c, 400, "not-supported",
			        "Unknown search parameter '%s' for AuditEvent (patient, agent, "
			        "date, action, outcome, _count, _sort)",
			        k);
			return;
		}
		if (bad) {
			buf_free(&self);
			rest_reply_error(c, 400, "invalid",
			                 "Bad value '%s' for AuditEvent search '%s'", v, k);
			return;
		}
		buf_printf(&self, "%s%s=%s", self.len ? "&" : "", k, v);
	}
	if (only) {
		if (q.patient && strcmp(q.patient, only))
			none = 1;
		q.patient = only;
	}
	c->query_text = arena_strdup(c->a, self.data ? self.data : "");
	if (q.patient) {
		c->audit_patients = arena_alloc(c->a, sizeof *c->audit_patients);
		c->audit_patients[0] = q.patient;
		c->naudit_patients = 1;
		c->compartment_id = q.patient;
	}
	store_audit *r = NULL;
	size_t nr = 0;
	int more = 0;
	int src = none ? STORE_OK : store_audit_search(c->r->cfg.store, c->a, &q, &r, &nr, &more);
	if (src != STORE_OK) {
		buf_free(&self);
		rest_reply_store_failure(c, src, "The audit trail could not be searched");
		return;
	}
	buf b;
	buf_init(&b, 0);
	buf_puts(&b, "{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"link\":[{\"relation\":"
	             "\"self\",\"url\":");
	const char *selfurl = arena_printf(c->a, "%s/AuditEvent%s%s", c->base, self.len ? "?" : "",
	                                   self.data ? self.data : "");
	json_put_string(&b, selfurl);
	buf_putc(&b, '}');
	if (more && nr) {
		buf_puts(&b, ",{\"relation\":\"next\",\"url\":");
		json_put_string(&b, arena_printf(c->a, "%s%s_cursor=%lld", selfurl,
		                                 self.len ? "&" : "?", (long long)r[nr - 1].seq));
		buf_putc(&b, '}');
	}
	buf_puts(&b, "],\"entry\":[");
	size_t shown = 0;
	for (size_t i = 0; i < nr; i++) {
		size_t at = b.len;
		buf_printf(&b,
		           "%s{\"fullUrl\":\"%s/AuditEvent/%lld\",\"resource\":", shown ? "," : "",
		           c->base, (long long)r[i].seq);
		if ((only ? audit_to_fhir_for_patient : audit_to_fhir)(&r[i], &b)) {
			b.len = at;
			continue;
		}
		buf_puts(&b, ",\"search\":{\"mode\":\"match\"}}");
		shown++;
	}
	buf_puts(&b, "]}");
	buf_free(&self);
	const char *body = arena_memdup(c->a, b.data, b.len);
	size_t len = b.len;
	buf_free(&b);
	rest_reply_json(c, 200, body, len);
}

void rest_audit_events(rctx *c, const char **seg, int n)
{
	const char *m = c->method;
	int get = !strcmp(m, "GET");
	if (n == 1 && get)
		return audit_search(c);
	if (n == 2 && !strcmp(seg[1], "_search") && (get || !strcmp(m, "POST")))
		return audit_search(c);
	if (n == 2 && get && seg[1][0] != '_' && seg[1][0] != '$') {
		c->id = seg[1];
		c->interaction = "read";
		return audit_read(c);
	}
	rest_set_header(c, "Allow", "GET");
	rest_reply_error(c, 405, "not-supported",
	                 "The audit trail is append-only: AuditEvent can be read and searched, "
	                 "never created, changed or deleted through the API");
}
