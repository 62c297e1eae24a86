/*
 * bundle.c - batch and transaction (POST [base] with a Bundle; R4 http.html
 * "Batch/Transaction"). Each entry becomes a sub-request that runs through
 * the same router and interactions as an HTTP request (rctx.entry captures
 * its inputs and its answer). Writes hand their prepared store_op to the
 * Bundle (rest__bundle_collect) instead of committing: a transaction commits
 * all of them in one store request (all or nothing), a batch queues each on
 * its own so they share group commits but fail alone. GET entries run after
 * the writes. ids of created resources are chosen up front so fullUrl and
 * urn:uuid references can be rewritten in the entries' bytes before they
 * are parsed, validated and indexed.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../json/json.h"
#include "../model/model.h"
#include "rest_int.h"

struct bundle_run {
	rctx *outer;
	int transaction;
	size_t n;            /* entries */
	rctx **sub;          /* per entry: its sub-request, NULL if it never got one */
	rest_entry *io;      /* per entry: inputs and captured response */
	const char **method; /* per entry: request.method */
	int *processed;      /* per entry: dispatched already */
	char **assigned;     /* per entry: "Type/id" chosen up front for a create, or NULL */
	/* fullUrl (and resolved conditional reference) -> "Type/id", for
	 * rewriting references: open addressing, grows at half full */
	const char **map_key, **map_val;
	size_t nmap, map_cap;
	const char *ref_error; /* a conditional reference that did not resolve */
	int ref_status;
	/* collected writes */
	store_op *ops;
	rctx **owner;
	size_t nops;
	atomic_int pending; /* batch: writes not yet done, +1 while submitting */
};

/* ---- small helpers ---- */

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static uint64_t str_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static const char *map_get(bundle_run *run, const char *s, size_t len)
{
	if (!run->map_cap)
		return NULL;
	for (size_t i = str_hash(s, len) & (run->map_cap - 1); run->map_key[i];
	     i = (i + 1) & (run->map_cap - 1))
		if (!strncmp(run->map_key[i], s, len) && !run->map_key[i][len])
			return run->map_val[i];
	return NULL;
}

/* Add key -> val; returns -1 if key is there already (a duplicate fullUrl). */
static int map_add(bundle_run *run, const char *key, const char *val)
{
	arena *a = run->outer->a;
	if (2 * (run->nmap + 1) > run->map_cap) {
		size_t cap = run->map_cap ? run->map_cap * 2 : 64;
		const char **k = arena_calloc(a, cap * sizeof *k),
		           **v = arena_calloc(a, cap * sizeof *v);
		for (size_t i = 0; i < run->map_cap; i++) {
			if (!run->map_key[i])
				continue;
			size_t j = str_hash(run->map_key[i], strlen(run->map_key[i])) & (cap - 1);
			while (k[j])
				j = (j + 1) & (cap - 1);
			k[j] = run->map_key[i];
			v[j] = run->map_val[i];
		}
		run->map_key = k;
		run->map_val = v;
		run->map_cap = cap;
	}
	size_t i = str_hash(key, strlen(key)) & (run->map_cap - 1);
	for (; run->map_key[i]; i = (i + 1) & (run->map_cap - 1))
		if (!strcmp(run->map_key[i], key))
			return -1;
	run->map_key[i] = key;
	run->map_val[i] = val;
	run->nmap++;
	return 0;
}

/* A conditional reference "Type?query": the one resource it matches, as
 * "Type/id" (http.html#trules). NULL, with run->ref_error set, otherwise. */
static const char *resolve_conditional(bundle_run *run, const char *s, size_t len)
{
	rctx *c = run->outer;
	const char *q = memchr(s, '?', len);
	char type[72];
	if (!q || memchr(s, ' ', len))
		return NULL;
	size_t tl = (size_t)(q - s);
	if (tl == 0 || tl >= sizeof type)
		return NULL;
	memcpy(type, s, tl);
	type[tl] = 0;
	const model_type *t = model_type_get(type);
	if (!t || !model_type_is_concrete_resource(t))
		return NULL;
	char *text = arena_strndup(c->a, s, len);
	size_t qlen = len - tl - 1, cap = 1;
	for (size_t i = 0; i < qlen; i++)
		cap += q[1 + i] == '&';
	const char **keys = arena_alloc(c->a, cap * sizeof *keys);
	const char **vals = arena_alloc(c->a, cap * sizeof *vals);
	size_t np = rest__form_split(c->a, q + 1, qlen, keys, vals, cap);
	diag_list d;
	diag_init(&d, c->a);
	search_query *sq;
	search_sql sql;
	store_version *hits;
	size_t n = 0;
	int more;
	char *tname = arena_strdup(c->a, type);
	if (search_parse(c->a, tname, keys, vals, np, 1, &sq, &d) ||
	    search_compile(sq, store_dialect(c->r->cfg.store), 0, c->a, &sql, &d) ||
	    store_search(c->r->cfg.store, c->a, &sql, 2, 0, &hits, &n, &more)) {
		run->ref_error = arena_printf(
		        c->a, "the conditional reference '%s' is not a valid search", text);
		run->ref_status = 400;
		return NULL;
	}
	if (n != 1) {
		run->ref_error = arena_printf(c->a, "the conditional reference '%s' matches %s",
		                              text, n ? "more than one resource" : "no resource");
		run->ref_status = 412;
		return NULL;
	}
	const char *val = arena_printf(c->a, "%s/%s", type, hits[0].id);
	map_add(run, text, val);
	return val;
}

/* A fullUrl anywhere; a conditional reference in Reference.reference only
 * (never in other strings, such as Subscription.criteria), and not when
 * versions are restored as they were stored (bron import --history) */
static const char *map_lookup(void *ctx, const char *key, size_t klen, const char *s, size_t len)
{
	bundle_run *run = ctx;
	const char *v = map_get(run, s, len);
	if (!v && key && klen == 9 && !memcmp(key, "reference", 9) && !run->outer->r->cfg.restore &&
	    len > 2 && s[0] >= 'A' && s[0] <= 'Z' && memchr(s, '?', len))
		v = resolve_conditional(run, s, len);
	/* a placeholder (urn:uuid:, urn:oid:) that names no entry of the Bundle
	 * would be stored as a reference to nothing (http.html#trules) */
	if (!v && key && klen == 9 && !memcmp(key, "reference", 9) && !run->outer->r->cfg.restore &&
	    ((len >= 9 && !memcmp(s, "urn:uuid:", 9)) || (len >= 8 && !memcmp(s, "urn:oid:", 8))) &&
	    !run->ref_error) {
		run->ref_error =
		        arena_printf(run->outer->a,
		                     "the reference '%.*s' names no entry's fullUrl in the "
		                     "Bundle",
		                     (int)(len > 200 ? 200 : len), s);
		run->ref_status = 400;
	}
	return v;
}

/* Split "Type/id?query" into the path below the base and the parameters;
 * an absolute URL on this server's base is made relative. */
static const char *entry_path(rctx *c, const char *url, rest_entry *io)
{
	size_t bl = strlen(c->base);
	if (!strncmp(url, c->base, bl) && url[bl] == '/')
		url += bl + 1;
	const char *q = strchr(url, '?');
	char *path = arena_printf(c->a, "/%.*s", (int)(q ? (size_t)(q - url) : strlen(url)), url);
	if (q) {
		/* count, then split the query like a form body */
		size_t cap = 1;
		for (const char *p = q + 1; *p; p++)
			cap += *p == '&';
		io->keys = arena_alloc(c->a, cap * sizeof *io->keys);
		io->vals = arena_alloc(c->a, cap * sizeof *io->vals);
		io->nparams = rest__form_split(c->a, q + 1, strlen(q + 1), io->keys, io->vals, cap);
	}
	return path;
}

static int method_rank(const char *m)
{
	if (!strcmp(m, "DELETE"))
		return 0;
	if (!strcmp(m, "POST"))
		return 1;
	if (!strcmp(m, "PUT") || !strcmp(m, "PATCH"))
		return 2;
	return 3; /* GET, HEAD */
}

/* ---- the sub-requests ---- */

static rctx *new_sub(bundle_run *run, size_t i)
{
	rctx *c = run->outer;
	rctx *e = arena_calloc(c->a, sizeof *e);
	e->r = c->r;
	e->who = c->who; /* every entry is checked as its Bundle's sender */
	e->req = c->req;
	e->a = c->a;
	e->entry = &run->io[i];
	e->method = run->method[i];
	e->prefer = c->prefer == PREFER_DEFAULT ? PREFER_MINIMAL : c->prefer;
	e->lenient = c->lenient;
	e->strict = c->strict;
	e->base = c->base;
	e->bundle = run;
	return e;
}

/* Dispatch entry i (its write, if any, is collected, not committed). */
static void run_entry(bundle_run *run, size_t i, const json_t *entry)
{
	rctx *e = new_sub(run, i);
	run->sub[i] = e;
	run->processed[i] = 1;
	const json_t *req = json_object_get(entry, "request");
	const char *url = jstr(req, "url");
	rest_entry *io = &run->io[i];
	io->if_match = jstr(req, "ifMatch");
	io->if_none_match = jstr(req, "ifNoneMatch");
	io->if_none_exist = jstr(req, "ifNoneExist");
	io->if_modified_since = jstr(req, "ifModifiedSince");
	if (run->outer->r->cfg.restore) { /* a deletion restored: its version and time */
		const json_t *res = json_object_get(entry, "response");
		int64_t v;
		const char *etag = jstr(res, "etag"), *lm = jstr(res, "lastModified");
		if (etag && lm && !rest_parse_etag(etag, &v))
			io->restore = arena_printf(run->outer->a, "%lld %s", (long long)v, lm);
	}
	e->path = url;
	const char *path = entry_path(e, url, io);
	if (run->assigned[i])
		e->assigned_id = strchr(run->assigned[i], '/') + 1;
	rest__dispatch(e, path);
}

/* Remap references to creates whose condition matched an existing resource:
 * "Type/<assigned>" becomes "Type/<matched>". Runs on the writer thread
 * from the build callback, after the store evaluated every condition. */
static const char *remap_lookup(void *ctx, const char *key, size_t klen, const char *s, size_t len)
{
	bundle_run *run = ctx;
	for (size_t k = 0; k < run->nops; k++) {
		store_op *op = &run->ops[k];
		rctx *o = run->owner[k];
		if (op->kind != STORE_OP_CREATE || !op->condition || op->matches != 1 ||
		    !o->assigned_id)
			continue;
		size_t tl = strlen(op->type), il = strlen(o->assigned_id);
		if (len == tl + 1 + il && !memcmp(s, op->type, tl) && s[tl] == '/' &&
		    !memcmp(s + tl + 1, o->assigned_id, il))
			return arena_printf(run->outer->a, "%s/%s", op->type, op->id);
	}
	return NULL;
}

int rest__bundle_remap(rctx *c)
{
	bundle_run *run = c->bundle;
	int any = 0;
	for (size_t k = 0; k < run->nops && !any; k++)
		any = run->ops[k].kind == STORE_OP_CREATE && run->ops[k].condition &&
		      run->ops[k].matches == 1;
	if (!any)
		return 0;
	buf b;
	buf_init(&b, 0);
	json_rewrite_strings(c->src, c->src_len, remap_lookup, run, &b);
	int changed = b.len != c->src_len || memcmp(b.data, c->src, b.len);
	if (changed) {
		json_t *tree;
		diag_list d;
		diag_init(&d, c->a);
		if (json_parse(b.data, b.len, &tree, &d) == 0) {
			c->src = arena_memdup(c->a, b.data, b.len);
			c->src_len = b.len;
			json_decref(c->json);
			c->json = tree;
		} else {
			changed = 0;
		}
	}
	buf_free(&b);
	return changed;
}

/* The collected writes will not run: drop what each one holds. */
static void release_collected(bundle_run *run)
{
	for (size_t k = 0; k < run->nops; k++) {
		rctx *o = run->owner[k];
		json_decref(o->json);
		o->json = NULL;
		buf_free(&o->out);
		buf_free(&o->pre);
	}
}

void rest__bundle_collect(rctx *c)
{
	bundle_run *run = c->bundle;
	run->ops[run->nops] = c->op;
	run->ops[run->nops].unique = run->transaction;
	run->owner[run->nops] = c;
	run->nops++;
}

/* ---- the response ---- */

static void reply_response_bundle(bundle_run *run)
{
	rctx *c = run->outer;
	buf b;
	buf_init(&b, 0);
	rest__bundle_open(c, &b, run->transaction ? "transaction-response" : "batch-response");
	for (size_t i = 0; i < run->n; i++) {
		rest_entry *io = &run->io[i];
		buf_puts(&b, i ? "," : ",\"entry\":[");
		buf_putc(&b, '{');
		int ok = io->status < 300;
		if (io->res_body && ok) {
			buf_puts(&b, "\"resource\":");
			buf_append(&b, io->res_body, io->res_len);
			buf_putc(&b, ',');
		}
		buf_printf(&b, "\"response\":{\"status\":\"%s\"", rest_status_text(io->status));
		if (io->location) {
			buf_puts(&b, ",\"location\":");
			json_put_string(&b, io->location);
		}
		if (io->etag) {
			buf_puts(&b, ",\"etag\":");
			json_put_string(&b, io->etag);
		}
		if (io->last_modified) {
			char lm[40];
			base_format_instant(io->last_modified, lm, sizeof lm);
			buf_printf(&b, ",\"lastModified\":\"%s\"", lm);
		}
		if (io->res_body && !ok) {
			buf_puts(&b, ",\"outcome\":");
			buf_append(&b, io->res_body, io->res_len);
		}
		buf_puts(&b, "}}");
	}
	buf_puts(&b, run->n ? "]}" : "}");
	const char *body = arena_memdup(c->a, b.data, b.len);
	size_t len = b.len;
	buf_free(&b);
	c->prefer = PREFER_DEFAULT;
	rest_reply_json(c, 200, body, len);
}

/* A transaction failed at entry i: answer with that entry's status and
 * outcome, naming the entry. */
static void reply_failed(bundle_run *run, size_t i)
{
	rest_entry *io = &run->io[i];
	const char *why = "", *code = "processing";
	json_t *oo = NULL;
	if (io->res_body) {
		json_error_t err;
		oo = json_loadb(io->res_body, io->res_len, 0, &err);
		json_t *issue = json_array_get(json_object_get(oo, "issue"), 0);
		why = jstr(issue, "diagnostics") ? jstr(issue, "diagnostics") : "";
		code = jstr(issue, "code") ? jstr(issue, "code") : code;
	}
	int status = io->status >= 400 ? io->status : 400;
	if (status == 503 || status == 507)
		rest_set_header(run->outer, "Retry-After", status == 503 ? "2" : "30");
	rest_reply_error(run->outer, status, code,
	                 "Transaction failed at entry %zu (%s %s): %s; nothing was stored", i,
	                 run->method[i], run->sub[i] && run->sub[i]->path ? run->sub[i]->path : "",
	                 why);
	json_decref(oo);
}

/* ---- after the writes ---- */

static void finish(bundle_run *run, const json_t *entries)
{
	/* the writes' own continuations fill each entry's response */
	for (size_t k = 0; k < run->nops; k++) {
		rctx *e = run->owner[k];
		store_op *op = &run->ops[k];
		e->op.status = op->status;
		e->op.version = op->version;
		e->op.last_updated = op->last_updated;
		e->op.prev_version = op->prev_version;
		e->op.prev_deleted = op->prev_deleted;
		e->op.id = op->id;
		e->op.body = op->body;
		e->op.body_len = op->body_len;
		e->op.matches = op->matches;
		e->cont(e);
	}
	if (run->transaction) {
		for (size_t k = 0; k < run->nops; k++) {
			if (run->ops[k].status != STORE_OK && run->ops[k].status != STORE_MATCHED) {
				for (size_t i = 0; i < run->n; i++)
					if (run->sub[i] == run->owner[k])
						return reply_failed(run, i);
			}
		}
	}
	/* GET entries see the state after the writes */
	for (size_t i = 0; i < run->n; i++)
		if (!run->processed[i])
			run_entry(run, i, json_array_get(entries, i));
	reply_response_bundle(run);
}

static void bundle_resumed(http_req *req)
{
	rctx *c = http_req_data(req);
	bundle_run *run = c->bundle;
	finish(run, json_object_get(c->json, "entry"));
	json_decref(c->json);
	c->json = NULL;
}

static void transaction_done(void *ctx)
{
	bundle_run *run = ctx;
	http_req_resume(run->outer->req);
}

static void batch_done(void *ctx)
{
	bundle_run *run = ctx;
	if (atomic_fetch_sub(&run->pending, 1) == 1)
		http_req_resume(run->outer->req);
}

/* ---- checks before anything runs ---- */

static int cmp_op(const void *x, const void *y)
{
	const store_op *a = *(store_op *const *)x, *b = *(store_op *const *)y;
	int r = strcmp(a->type, b->type);
	return r ? r : strcmp(a->id, b->id);
}

/* A transaction may touch each resource once. */
static int duplicate_or_reply(bundle_run *run)
{
	store_op **ptr = arena_alloc(run->outer->a, (run->nops + 1) * sizeof *ptr);
	size_t k = 0;
	for (size_t i = 0; i < run->nops; i++)
		if (run->ops[i].id && !run->ops[i].condition)
			ptr[k++] = &run->ops[i];
	qsort(ptr, k, sizeof *ptr, cmp_op);
	for (size_t i = 1; i < k; i++) {
		if (!cmp_op(&ptr[i - 1], &ptr[i])) {
			rest_reply_error(run->outer, 400, "duplicate",
			                 "The transaction touches %s/%s more than once",
			                 ptr[i]->type, ptr[i]->id);
			return -1;
		}
	}
	return 0;
}

/* Check entry i's request; for a transaction an error fails everything. */
static int entry_request_ok(bundle_run *run, size_t i, const json_t *entry, const char **why)
{
	const json_t *req = json_object_get(entry, "request");
	const char *m = jstr(req, "method");
	const char *url = jstr(req, "url");
	if (!json_is_object(entry) || !json_is_object(req) || !m || !url || !*url) {
		*why = "needs request.method and request.url";
		return 0;
	}
	if (strcmp(m, "GET") && strcmp(m, "HEAD") && strcmp(m, "POST") && strcmp(m, "PUT") &&
	    strcmp(m, "DELETE") && strcmp(m, "PATCH")) {
		*why = "has an unknown request.method";
		return 0;
	}
	int needs_body = !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH");
	if (needs_body && !json_is_object(json_object_get(entry, "resource"))) {
		*why = "needs a resource";
		return 0;
	}
	run->method[i] = !strcmp(m, "HEAD") ? "GET" : m;
	return 1;
}

/* Choose ids for creates and map fullUrls, so references can be rewritten.
 * Returns the index of an entry whose fullUrl repeats an earlier one, or -1. */
static long assign_ids(bundle_run *run, const json_t *entries)
{
	rctx *c = run->outer;
	for (size_t i = 0; i < run->n; i++) {
		const json_t *entry = json_array_get(entries, i);
		const json_t *req = json_object_get(entry, "request");
		const char *url = jstr(req, "url");
		const char *full = jstr(entry, "fullUrl");
		if (!run->method[i] || !url)
			continue;
		const char *rtype = jstr(json_object_get(entry, "resource"), "resourceType");
		if (!strcmp(run->method[i], "POST") && rtype) {
			char *id;
			rest__new_id(c->a, &id);
			run->assigned[i] = arena_printf(c->a, "%s/%s", rtype, id);
			if (full && map_add(run, full, run->assigned[i]))
				return (long)i;
		} else if (!strcmp(run->method[i], "PUT") && full && rtype && !strchr(url, '?')) {
			const char *slash = strchr(url, '/');
			if (slash && !strncmp(url, rtype, (size_t)(slash - url)) &&
			    map_add(run, full, url))
				return (long)i;
		}
	}
	return -1;
}

/* The entry's resource bytes with references rewritten. */
/* The same rewriting on the entry's parsed resource, so that it need not be
 * parsed again: every string value the byte rewriter would change. */
static void rewrite_tree(bundle_run *run, json_t *v, const char *key, int depth)
{
	const char *k;
	json_t *x;
	size_t i;
	if (depth > 128)
		return;
	if (json_is_object(v)) {
		json_object_foreach(v, k, x) rewrite_tree(run, x, k, depth + 1);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x) rewrite_tree(run, x, NULL, depth + 1);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);
		const char *rep = map_lookup(run, key, key ? strlen(key) : 0, s, n);
		if (rep) {
			json_string_set(v, rep);
		} else if (memmem(s, n, "urn:", 4)) {
			/* narrative links: rewrite the string as a JSON literal */
			buf in, out;
			buf_init(&in, 0);
			buf_init(&out, 0);
			json_put_string(&in, s);
			json_rewrite_strings(in.data, in.len, map_lookup, run, &out);
			json_t *t = json_loadb(out.data, out.len, JSON_DECODE_ANY, NULL);
			if (json_is_string(t))
				json_string_set(v, json_string_value(t));
			json_decref(t);
			buf_free(&in);
			buf_free(&out);
		}
	}
}

static void entry_body(bundle_run *run, const char *src, size_t from, size_t to, rest_entry *io,
                       json_t *resource)
{
	rctx *c = run->outer;
	size_t rf, rt;
	if (json_member_span(src, from, to, "resource", &rf, &rt))
		return;
	io->tree = json_is_object(resource) ? resource : NULL;
	if (!run->nmap && !memmem(src + rf, rt - rf, "?", 1) &&
	    !memmem(src + rf, rt - rf, "urn:", 4)) {
		io->body = src + rf; /* nothing to rewrite */
		io->body_len = rt - rf;
		return;
	}
	buf b;
	buf_init(&b, 0);
	json_rewrite_strings(src + rf, rt - rf, map_lookup, run, &b);
	io->body = arena_memdup(c->a, b.data, b.len);
	io->body_len = b.len;
	buf_free(&b);
	if (io->tree)
		rewrite_tree(run, io->tree, NULL, 0);
}

void rest_bundle(rctx *c)
{
	size_t len;
	const char *src = rest_body(c, &len);
	diag_list d;
	diag_init(&d, c->a);
	const char *ct = rest_header(c, "Content-Type");
	if (ct && !c->body_override && strncasecmp(ct, "application/fhir+json", 21) &&
	    strncasecmp(ct, "application/json", 16))
		return rest_reply_error(c, 415, "not-supported",
		                        "Send the Bundle as application/fhir+json");
	if (!len)
		return rest_reply_error(c, 400, "required",
		                        "POST to the base needs a batch or transaction Bundle");
	if (json_parse(src, len, &c->json, &d))
		return rest_reply_diags(c, 400, &d);
	const char *rt = jstr(c->json, "resourceType"), *type = jstr(c->json, "type");
	const json_t *entries = json_object_get(c->json, "entry");
	const char *problem = NULL;
	if (!rt || strcmp(rt, "Bundle"))
		problem = "The body must be a Bundle";
	else if (!type || (strcmp(type, "batch") && strcmp(type, "transaction")))
		problem = "Bundle.type must be batch or transaction";
	else if (entries && !json_is_array(entries))
		problem = "Bundle.entry must be an array";
	if (problem) {
		json_decref(c->json);
		c->json = NULL;
		return rest_reply_error(c, 400, "invalid", "%s", problem);
	}
	size_t n = json_array_size(entries);
	size_t max_entries = c->r->cfg.max_entries ? c->r->cfg.max_entries : 20000;
	if (n > max_entries) {
		json_decref(c->json);
		c->json = NULL;
		return rest_reply_error(
		        c, 413, "too-long",
		        "The Bundle has %zu entries; at most %zu are accepted (--max-entries)", n,
		        max_entries);
	}
	bundle_run *run = arena_calloc(c->a, sizeof *run);
	run->outer = c;
	c->bundle = run;
	run->transaction = !strcmp(type, "transaction");
	c->interaction = run->transaction ? "transaction" : "batch";
	run->n = n;
	run->sub = arena_calloc(c->a, (n + 1) * sizeof *run->sub);
	run->io = arena_calloc(c->a, (n + 1) * sizeof *run->io);
	run->method = arena_calloc(c->a, (n + 1) * sizeof *run->method);
	run->processed = arena_calloc(c->a, (n + 1) * sizeof *run->processed);
	run->assigned = arena_calloc(c->a, (n + 1) * sizeof *run->assigned);
	run->ops = arena_calloc(c->a, (n + 1) * sizeof *run->ops);
	run->owner = arena_calloc(c->a, (n + 1) * sizeof *run->owner);
	/* the entries' byte spans in the client's bytes */
	size_t ef, et;
	size_t *starts = arena_alloc(c->a, (n + 1) * sizeof *starts);
	size_t *ends = arena_alloc(c->a, (n + 1) * sizeof *ends);
	size_t bf = 0;
	while (bf < len && src[bf] != '{')
		bf++;
	if (n && (json_member_span(src, bf, len, "entry", &ef, &et) ||
	          json_element_spans(src, ef, et, starts, ends, n) != n)) {
		json_decref(c->json);
		c->json = NULL;
		return rest_reply_error(c, 400, "structure", "Bundle.entry could not be read");
	}
	for (size_t i = 0; i < n; i++) {
		const char *why;
		if (!entry_request_ok(run, i, json_array_get(entries, i), &why)) {
			if (run->transaction) {
				json_decref(c->json);
				c->json = NULL;
				return rest_reply_error(c, 400, "invalid",
				                        "Transaction entry %zu %s", i, why);
			}
			run->io[i].status = 400;
			run->processed[i] = 1;
			rctx *e = new_sub(run, i);
			run->sub[i] = e;
			rest_reply_error(e, 400, "invalid", "Entry %zu %s", i, why);
		}
	}
	long dup = assign_ids(run, entries);
	if (dup >= 0) {
		json_decref(c->json);
		c->json = NULL;
		return rest_reply_error(
		        c, 400, "duplicate",
		        "Entry %ld repeats the fullUrl of an earlier entry; fullUrls must be "
		        "unique within a Bundle",
		        dup);
	}
	/* writes in processing order: DELETE, POST, PUT/PATCH; GETs after commit */
	for (int rank = 0; rank < 3; rank++) {
		for (size_t i = 0; i < n; i++) {
			if (run->processed[i] || !run->method[i] ||
			    method_rank(run->method[i]) != rank)
				continue;
			entry_body(run, src, starts[i], ends[i], &run->io[i],
			           json_object_get(json_array_get(entries, i), "resource"));
			if (run->ref_error) {
				rctx *e = new_sub(run, i);
				run->sub[i] = e;
				run->processed[i] = 1;
				e->path = json_string_value(json_object_get(
				        json_object_get(json_array_get(entries, i), "request"),
				        "url"));
				rest_reply_error(e, run->ref_status, "processing", "%s",
				                 run->ref_error);
				run->ref_error = NULL;
				if (!run->transaction)
					continue;
				release_collected(run);
				reply_failed(run, i);
				json_decref(c->json);
				c->json = NULL;
				return;
			}
			size_t before = run->nops;
			run_entry(run, i, json_array_get(entries, i));
			if (run->transaction && run->nops == before && run->io[i].status >= 400) {
				/* refused before any write: nothing has been stored */
				release_collected(run);
				reply_failed(run, i);
				json_decref(c->json);
				c->json = NULL;
				return;
			}
		}
	}
	if (run->transaction && duplicate_or_reply(run)) {
		release_collected(run);
		json_decref(c->json);
		c->json = NULL;
		return;
	}
	if (!run->nops) {
		finish(run, entries);
		json_decref(c->json);
		c->json = NULL;
		return;
	}
	http_req_suspend(c->req, bundle_resumed);
	if (run->transaction) {
		if (rest__write_audited(c, run->owner, run->ops, run->nops, transaction_done,
		                        run)) {
			for (size_t k = 0; k < run->nops; k++)
				run->ops[k].status = STORE_ERROR;
			http_req_resume(c->req);
		}
		return;
	}
	atomic_store(&run->pending, (int)run->nops + 1);
	for (size_t k = 0; k < run->nops; k++) {
		if (rest__write_audited(c, &run->owner[k], &run->ops[k], 1, batch_done, run)) {
			run->ops[k].status = STORE_ERROR;
			batch_done(run);
		}
	}
	batch_done(run);
}
