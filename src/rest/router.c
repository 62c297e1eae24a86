/*
 * router.c - the entry of the REST layer (rest.h): splits the URL into the
 * FHIR base, type, id and version, negotiates the format (_format, Accept,
 * _pretty, Prefer), and dispatches to the interaction. Anything the route or
 * method does not allow is answered here with an OperationOutcome.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../json/json.h"
#include "../model/model.h"
#include "../search/search.h"
#include "rest_int.h"

/* ---- verified tokens, kept until they expire ----
 * A signature check costs tens of microseconds, more than a whole read; a
 * client sends the same token many times. So each verified token's claims
 * are kept (by hash, compared in full) until its exp; a token that fails is
 * never kept. One mutex: a lookup is a hash, a compare and a few copies. */

#define TOKEN_SLOTS 512

typedef struct token_slot {
	char *token; /* malloc'ed: the token, then the claims' strings */
	auth_claims cl;
} token_slot;

struct token_cache {
	pthread_mutex_t mu;
	token_slot slot[TOKEN_SLOTS];
};

static uint64_t token_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static const char *dup_or_null(arena *a, const char *s)
{
	return s ? arena_strdup(a, s) : NULL;
}

/* The claims of a token verified before and not expired, copied into a. */
static int cached_claims(rest *r, const char *tok, arena *a, auth_claims *out)
{
	token_slot *t = &r->tokens->slot[token_hash(tok) % TOKEN_SLOTS];
	int hit = 0;
	pthread_mutex_lock(&r->tokens->mu);
	if (t->token && !strcmp(t->token, tok) && (int64_t)time(NULL) < t->cl.exp) {
		*out = t->cl;
		out->sub = dup_or_null(a, t->cl.sub);
		out->iss = dup_or_null(a, t->cl.iss);
		out->scope = dup_or_null(a, t->cl.scope);
		out->patient = dup_or_null(a, t->cl.patient);
		out->organization = dup_or_null(a, t->cl.organization);
		out->purpose = dup_or_null(a, t->cl.purpose);
		out->actor = dup_or_null(a, t->cl.actor);
		out->jti = dup_or_null(a, t->cl.jti);
		hit = 1;
	}
	pthread_mutex_unlock(&r->tokens->mu);
	return hit;
}

static void keep_claims(rest *r, const char *tok, const auth_claims *cl)
{
	const char *parts[] = {tok,         cl->sub,     cl->iss,
	                       cl->scope,   cl->patient, cl->organization,
	                       cl->purpose, cl->actor,   cl->jti};
	size_t len = 0;
	for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
		len += parts[i] ? strlen(parts[i]) + 1 : 0;
	char *block = base_malloc(len), *p = block;
	const char *copy[sizeof parts / sizeof *parts];
	for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
		copy[i] = NULL;
		if (parts[i]) {
			size_t n = strlen(parts[i]) + 1;
			memcpy(p, parts[i], n);
			copy[i] = p;
			p += n;
		}
	}
	auth_claims c = *cl;
	c.sub = copy[1], c.iss = copy[2], c.scope = copy[3], c.patient = copy[4];
	c.organization = copy[5], c.purpose = copy[6], c.actor = copy[7], c.jti = copy[8];
	token_slot *t = &r->tokens->slot[token_hash(tok) % TOKEN_SLOTS];
	pthread_mutex_lock(&r->tokens->mu);
	free(t->token);
	t->token = block;
	t->cl = c;
	pthread_mutex_unlock(&r->tokens->mu);
}

rest *rest_new(const rest_config *cfg)
{
	rest *r = base_calloc(1, sizeof *r);
	r->cfg = *cfg;
	if (!r->cfg.base_path)
		r->cfg.base_path = "/fhir";
	r->tokens = base_calloc(1, sizeof *r->tokens);
	pthread_mutex_init(&r->tokens->mu, NULL);
	r->consents = rest__consent_cache_new();
	rest__build_capability(r);
	if (search_init())
		base_oom(); /* compiling the built-in expressions fails only without memory */
	return r;
}

void rest_free(rest *r)
{
	if (!r)
		return;
	free(r->capability);
	for (size_t i = 0; i < TOKEN_SLOTS; i++)
		free(r->tokens->slot[i].token);
	pthread_mutex_destroy(&r->tokens->mu);
	free(r->tokens);
	rest__consent_cache_free(r->consents);
	free(r);
}

static int is_json_media(const char *m, size_t n)
{
	static const char *const ok[] = {"application/fhir+json",
	                                 "application/json",
	                                 "application/json+fhir",
	                                 "application/*",
	                                 "*/*",
	                                 "json",
	                                 "text/json",
	                                 NULL};
	for (const char *const *p = ok; *p; p++)
		if (strlen(*p) == n && !strncasecmp(m, *p, n))
			return 1;
	return 0;
}

static int is_ndjson_media(const char *m, size_t n)
{
	static const char *const ok[] = {"application/fhir+ndjson", "application/ndjson", "ndjson",
	                                 NULL};
	for (const char *const *p = ok; *p; p++)
		if (strlen(*p) == n && !strncasecmp(m, *p, n))
			return 1;
	return 0;
}

/* Does a media-type list (Accept) or a single _format value allow JSON (or,
 * with ndjson, NDJSON: the files of an export)? */
static int accepts_media(const char *list, int ndjson)
{
	const char *p = list;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *start = p;
		while (*p && *p != ',' && *p != ';' && *p != ' ')
			p++;
		if (p > start && (is_json_media(start, (size_t)(p - start)) ||
		                  (ndjson && is_ndjson_media(start, (size_t)(p - start)))))
			return 1;
		while (*p && *p != ',')
			p++;
	}
	return 0;
}

static void parse_prefer(rctx *c, const char *h)
{
	if (!h)
		return;
	if (strstr(h, "return=minimal"))
		c->prefer = PREFER_MINIMAL;
	else if (strstr(h, "return=representation"))
		c->prefer = PREFER_REPRESENTATION;
	else if (strstr(h, "return=OperationOutcome"))
		c->prefer = PREFER_OUTCOME;
	if (strstr(h, "handling=lenient"))
		c->lenient = 1;
	if (strstr(h, "handling=strict"))
		c->strict = 1;
}

/* A Host header Bron can put into the URLs it writes: a name or address
 * with an optional port (letters, digits, "-._~", ":" and the brackets of
 * an IPv6 literal), at most 261 bytes. Anything else (quotes, control
 * characters, spaces, "/@?#") would break or forge the fullUrl and link
 * URLs of the answer, so such a request is a 400 (RFC 9112 section 3.2). */
static int host_ok(const char *h)
{
	size_t n =
	        strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:[]");
	return h[n] == 0 && n <= 261;
}

static const char *base_url(rctx *c)
{
	if (c->r->cfg.base_url)
		return c->r->cfg.base_url;
	const char *host = rest_header(c, "Host");
	const char *proto = rest_header(c, "X-Forwarded-Proto");
	int https = http_req_tls(c->req) || (proto && !strcmp(proto, "https"));
	return arena_printf(c->a, "%s://%s%s", https ? "https" : "http",
	                    host && *host ? host : "localhost", c->r->cfg.base_path);
}

/* Does the first acceptable media type of a list name generic JSON? Then
 * the answer says application/json too (http.html#mime-type). */
static int prefers_plain_json(const char *list)
{
	const char *p = list;
	while (*p == ' ')
		p++;
	size_t n = strcspn(p, ",; ");
	return n == 16 && !strncasecmp(p, "application/json", n);
}

/* Negotiate the response format; replies and returns -1 if impossible. */
static int negotiate_or_reply(rctx *c)
{
	/* an export file is NDJSON: Bulk Data clients ask for application/fhir+ndjson */
	const char *path = http_req_path(c->req), *bp = c->r->cfg.base_path;
	int file =
	        !strncmp(path, bp, strlen(bp)) && !strncmp(path + strlen(bp), "/$export-file/", 14);
	const char *fmt = rest_query(c, "_format");
	if (fmt && !accepts_media(fmt, file)) {
		rest_reply_error(c, 406, "not-supported",
		                 "Format '%s' is not supported; this server speaks FHIR JSON", fmt);
		return -1;
	}
	const char *accept = rest_header(c, "Accept");
	if (!fmt && accept && *accept && !accepts_media(accept, file)) {
		rest_reply_error(c, 406, "not-supported",
		                 "None of the accepted media types (%s) is supported; use "
		                 "application/fhir+json",
		                 accept);
		return -1;
	}
	c->plain_json = prefers_plain_json(fmt ? fmt : accept ? accept : "");
	const char *pretty = rest_query(c, "_pretty");
	if (pretty) {
		if (!strcmp(pretty, "true"))
			c->pretty = 1;
		else if (strcmp(pretty, "false")) {
			rest_reply_error(c, 400, "invalid",
			                 "_pretty must be true or false, not '%s'", pretty);
			return -1;
		}
	}
	return 0;
}

static void method_not_allowed(rctx *c, const char *allow)
{
	rest_set_header(c, "Allow", allow);
	rest_reply_error(c, 405, "not-supported", "Method %s is not allowed here; allowed: %s",
	                 c->method, allow);
}

/* Split the path below the base into at most 5 segments; -1 if deeper. */
static int split(arena *a, const char *p, const char **seg)
{
	int n = 0;
	while (*p == '/')
		p++;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (n == 5)
			return -1;
		seg[n++] = arena_strndup(a, p, len);
		p += len;
		while (*p == '/')
			p++;
	}
	return n;
}

/* The restful-interaction code a request path and method ask for, for its
 * audit record (NULL: not audited: the CapabilityStatement). */
static const char *interaction_of(rctx *c, const char **seg, int n)
{
	const char *m = c->method;
	int get = !strcmp(m, "GET"), post = !strcmp(m, "POST");
	if (n == 1 && !strcmp(seg[0], "metadata"))
		return NULL;
	if (n == 0)
		return post ? "batch" : "search-system";
	if (n == 1 && !strcmp(seg[0], "_search"))
		return "search-system";
	if (n == 1 && !strcmp(seg[0], "_history"))
		return "history-system";
	if (n >= 1 && seg[0][0] == '$') { /* [base]/$export, $export-poll-status, $export-file */
		c->operation = seg[0];
		return "operation";
	}
	if (n >= 2 && (seg[n - 1][0] == '$')) {
		c->operation = seg[n - 1];
		return "operation";
	}
	if (n == 1 || (n == 2 && !strcmp(seg[1], "_search")))
		return post && n == 1      ? "create"
		       : get || post       ? "search-type"
		       : !strcmp(m, "PUT") ? "update"
		                           : "delete";
	if (n == 2 && !strcmp(seg[1], "_history"))
		return "history-type";
	if (n == 2)
		return get                   ? "read"
		       : !strcmp(m, "PUT")   ? "update"
		       : !strcmp(m, "PATCH") ? "patch"
		                             : "delete";
	if (n == 3 && !strcmp(seg[2], "_history"))
		return "history-instance";
	if (n == 4 && !strcmp(seg[2], "_history"))
		return "vread";
	return "search-type"; /* a compartment search */
}

static int known_type_or_reply(rctx *c, const char *type)
{
	const model_type *t = model_type_get(type);
	if (!t || !model_type_is_concrete_resource(t)) {
		rest_reply_error(c, 404, "not-found", "Unknown resource type '%s'", type);
		return -1;
	}
	return 0;
}

static int valid_id_or_reply(rctx *c, const char *id)
{
	if (!rest_valid_id(id)) {
		rest_reply_error(
		        c, 400, "invalid",
		        "Invalid id '%s': ids are 1-64 characters of A-Z, a-z, 0-9, '-' and '.'",
		        id);
		return -1;
	}
	return 0;
}

static void dispatch(rctx *c, const char **seg, int n)
{
	const char *m = c->method;
	int get = !strcmp(m, "GET");
	if (n == 0) {
		if (get)
			return rest_search(c);
		if (!strcmp(m, "POST") && !c->entry)
			return rest_bundle(c);
		return method_not_allowed(c, "GET, POST");
	}
	if (n == 1 && !strcmp(seg[0], "metadata")) {
		if (!get)
			return method_not_allowed(c, "GET");
		return rest_capabilities(c);
	}
	if (n == 1 && !strcmp(seg[0], "_search")) { /* POST [base]/_search */
		if (!get && strcmp(m, "POST"))
			return method_not_allowed(c, "GET, POST");
		return rest_search(c);
	}
	if (n == 1 && !strcmp(seg[0], "_history")) {
		if (!get)
			return method_not_allowed(c, "GET");
		return rest_history(c);
	}
	if (n == 1 && !strcmp(seg[0], "$export"))
		return rest_export(c, "system", NULL);
	if (n == 1 && !strcmp(seg[0], "$import"))
		return rest_import(c);
	if (n == 1 && !strcmp(seg[0], "$export-poll-status"))
		return rest_export_status(c);
	if (n == 3 && !strcmp(seg[0], "$export-file"))
		return rest_export_file(c, seg[1], seg[2]);
	if (n == 2 && !strcmp(seg[0], "Patient") && !strcmp(seg[1], "$export"))
		return rest_export(c, "patient", NULL);
	if (n == 3 && !strcmp(seg[0], "Group") && !strcmp(seg[2], "$export")) {
		if (valid_id_or_reply(c, seg[1]))
			return;
		return rest_export(c, "group", seg[1]);
	}
	if (known_type_or_reply(c, seg[0]))
		return;
	c->type = seg[0];
	if (!strcmp(c->type, "AuditEvent"))
		return rest_audit_events(c, seg, n);
	if (n == 1) {
		if (!strcmp(m, "POST"))
			return rest_create(c);
		if (get)
			return rest_search(c);
		if (!strcmp(m, "PUT"))
			return rest_update(c); /* conditional update */
		if (!strcmp(m, "DELETE"))
			return rest_delete(c); /* conditional delete */
		return method_not_allowed(c, "GET, POST, PUT, DELETE");
	}
	if (n == 2 && !strcmp(seg[1], "_search")) {
		if (!get && strcmp(m, "POST"))
			return method_not_allowed(c, "GET, POST");
		return rest_search(c);
	}
	if (n == 2 && !strcmp(seg[1], "_history")) {
		if (!get)
			return method_not_allowed(c, "GET");
		return rest_history(c);
	}
	if (n == 3 && !strcmp(seg[0], "Patient") && !strcmp(seg[2], "$everything")) {
		if (!get && strcmp(m, "POST"))
			return method_not_allowed(c, "GET, POST");
		if (valid_id_or_reply(c, seg[1]))
			return;
		c->id = seg[1];
		return rest_everything(c);
	}
	if (seg[1][0] == '$' || (n > 2 && seg[2][0] == '$'))
		return rest_reply_error(c, 404, "not-supported", "Unknown operation in '%s'",
		                        c->path);
	if (valid_id_or_reply(c, seg[1]))
		return;
	c->id = seg[1];
	if (n == 2) {
		if (get)
			return rest_read(c);
		if (!strcmp(m, "PUT"))
			return rest_update(c);
		if (!strcmp(m, "DELETE"))
			return rest_delete(c);
		if (!strcmp(m, "PATCH"))
			return rest_patch(c);
		return method_not_allowed(c, "GET, PUT, PATCH, DELETE");
	}
	if ((n == 3 || (n == 4 && !strcmp(seg[3], "_search"))) && strcmp(seg[2], "_history")) {
		/* compartment search: Patient/[id]/[type] (or every type), and its _search */
		if (strcmp(c->type, "Patient"))
			return rest_reply_error(c, 404, "not-supported",
			                        "Compartment search is supported for Patient only");
		if (strcmp(seg[2], "*") && known_type_or_reply(c, seg[2]))
			return;
		if (!get && (n == 3 || strcmp(m, "POST")))
			return method_not_allowed(c, n == 3 ? "GET" : "GET, POST");
		c->compartment_id = c->id;
		c->type = strcmp(seg[2], "*") ? seg[2] : NULL;
		c->id = NULL;
		return rest_search(c);
	}
	if (strcmp(seg[2], "_history"))
		return rest_reply_error(c, 404, "not-found", "No such path '%s'", c->path);
	if (!get)
		return method_not_allowed(c, "GET");
	if (n == 3)
		return rest_history(c);
	if (n == 4) {
		c->vid = seg[3];
		return rest_vread(c);
	}
	rest_reply_error(c, 404, "not-found", "No such path '%s'", c->path);
}

/* GET /health (outside the FHIR base): 200 when the store's database
 * answers, 503 OperationOutcome when it does not - for load balancers and
 * monitoring. */
static void reply_health(rctx *c)
{
	if (strcmp(c->method, "GET")) {
		rest_set_header(c, "Allow", "GET, HEAD");
		return rest_reply_error(c, 405, "not-supported", "/health answers GET only");
	}
	int rc = store_health(c->r->cfg.store);
	if (rc)
		return rest_reply_store_failure(c, rc, "The health check failed");
	c->plain_json = 1;
	char *body = arena_printf(c->a, "{\"status\":\"pass\",\"store\":\"%s\"}",
	                          store_engine_name(c->r->cfg.store));
	rest_send(c, 200, body, strlen(body));
}

/* GET [base]/.well-known/smart-configuration: what Bron accepts (SMART App
 * Launch 2.0 discovery). Bron verifies tokens; it does not issue them. */
static void reply_smart_configuration(rctx *c)
{
	const auth_check *chk = &c->r->cfg.check;
	buf b;
	buf_init(&b, 0);
	buf_puts(&b, "{\"issuer\":");
	json_put_string(&b, chk->issuer ? chk->issuer : ""); /* the operator's text */
	buf_puts(&b,
	         ",\"token_endpoint_auth_signing_alg_values_supported\":"
	         "[\"RS256\",\"ES256\"],\"grant_types_supported\":[\"client_credentials\","
	         "\"authorization_code\"],\"capabilities\":[\"permission-v1\",\"permission-v2\","
	         "\"permission-patient\",\"permission-user\",\"context-ehr-patient\","
	         "\"context-standalone-patient\"],\"scopes_supported\":[\"patient/*.rs\","
	         "\"patient/*.cruds\",\"user/*.rs\",\"user/*.cruds\",\"system/*.rs\","
	         "\"system/*.cruds\",\"patient/*.read\",\"user/*.read\",\"user/*.write\","
	         "\"system/*.read\",\"system/*.write\"],\"response_types_supported\":[\"code\"]}");
	char *body = arena_memdup(c->a, b.data, b.len + 1);
	buf_free(&b);
	c->plain_json = 1;
	rest_send(c, 200, body, strlen(body));
}

/* The request's principal from its bearer token; 401 (with
 * WWW-Authenticate) when there is none or it does not verify. */
static int authenticate_or_reply(rctx *c)
{
	const char *h = http_req_header(c->req, "Authorization");
	const char *why = NULL;
	auth_claims cl;
	if (!h || strncasecmp(h, "Bearer ", 7)) {
		rest_set_header(c, "WWW-Authenticate", "Bearer realm=\"bron\"");
		rest_reply_error(c, 401, "login",
		                 "A bearer token is required (Authorization: Bearer ...)");
		return -1;
	}
	const char *tok = h + 7;
	while (*tok == ' ')
		tok++;
	int cached = cached_claims(c->r, tok, c->a, &cl);
	if (!cached && auth_verify(c->r->cfg.keys, &c->r->cfg.check, tok, c->a, &cl, &why)) {
		rest_set_header(c, "WWW-Authenticate",
		                arena_printf(c->a,
		                             "Bearer realm=\"bron\", error=\"invalid_token\", "
		                             "error_description=\"%s\"",
		                             why ? why : "invalid token"));
		rest_reply_error(c, 401, "login", "The bearer token was refused: %s",
		                 why ? why : "invalid token");
		return -1;
	}
	if (!cached && cl.exp)
		keep_claims(c->r, tok, &cl);
	policy_principal *p = arena_calloc(c->a, sizeof *p);
	p->sub = cl.sub;
	p->patient = cl.patient;
	p->organization = cl.organization;
	p->purpose = cl.purpose;
	p->actor = cl.actor;
	policy_parse_scopes(c->a, cl.scope, p);
	c->who = p;
	if (!p->patient && rest__consent_applies(c)) {
		rest_reply_error(c, 403, "forbidden",
		                 "A token of another organisation, or for a purpose other than "
		                 "treatment, must name the patient (claim \"patient\"): the "
		                 "patient's consent decides what it may see");
		return -1;
	}
	return 0;
}

static void handle(http_req *req, rest *r);

/* 1 for a request that only reads: GET (and HEAD), POST [...]/_search. */
static int reading(http_req *req)
{
	const char *m = http_req_method(req), *path = http_req_path(req);
	size_t n = strlen(path);
	return !strcmp(m, "GET") || !strcmp(m, "HEAD") ||
	       (!strcmp(m, "POST") && n >= 8 && !strcmp(path + n - 8, "/_search"));
}

void rest_handle(http_req *req, void *ctx)
{
	rest *r = ctx;
	/* a reading request's store reads stop at its deadline (--request-timeout);
	 * the thread's deadline is gone before it serves anything else */
	if (r->cfg.request_timeout_ms > 0 && reading(req))
		store_deadline_set(store_now_us() + r->cfg.request_timeout_ms * 1000);
	handle(req, r);
	store_deadline_set(0);
}

static void handle(http_req *req, rest *r)
{
	arena *a = http_req_arena(req);
	rctx *c = arena_calloc(a, sizeof *c);
	c->r = r;
	c->req = req;
	c->a = a;
	c->method = http_req_method(req);
	if (!strcmp(c->method, "HEAD"))
		c->method = "GET";
	http_req_set_data(req, c);
	parse_prefer(c, http_req_header(req, "Prefer"));
	const char *rid = http_req_header(req, "X-Request-Id");
	if (rid && strlen(rid) <= 200)
		http_res_header(req, "X-Request-Id", rid);
	if (negotiate_or_reply(c))
		return;
	const char *host = http_req_header(req, "Host");
	if (!r->cfg.base_url && host && !host_ok(host)) {
		c->base = "";
		rest_reply_error(c, 400, "invalid",
		                 "The Host header is not a host name or address with an optional "
		                 "port");
		return;
	}
	c->base = base_url(c);
	const char *path = http_req_path(req);
	c->path = path;
	if (!strcmp(path, "/health"))
		return reply_health(c);
	size_t bl = strlen(r->cfg.base_path);
	if (strncmp(path, r->cfg.base_path, bl) || (path[bl] && path[bl] != '/')) {
		rest_reply_error(c, 404, "not-found", "No FHIR endpoint at '%s'; the base is %s",
		                 path, r->cfg.base_path);
		return;
	}
	if (http_req_body_too_big(req)) {
		rest_reply_error(c, 413, "too-long",
		                 "The request body exceeds the maximum of %zu bytes",
		                 r->cfg.max_body);
		return;
	}
	const char *below = path + bl;
	if (!strcmp(below, "/.well-known/smart-configuration") && !strcmp(c->method, "GET"))
		return reply_smart_configuration(c);
	/* the CapabilityStatement is public (clients read it before they log in);
	 * everything else needs a token unless the server runs open */
	if (!r->cfg.open && strcmp(below, "/metadata")) {
		/* a refused token is an attempt the trail records */
		const char *seg[5];
		int n = split(c->a, below, seg);
		c->interaction = n < 0 ? "read" : interaction_of(c, seg, n);
		if (authenticate_or_reply(c))
			return;
	}
	rest__dispatch(c, below);
}

void rest__dispatch(rctx *c, const char *below)
{
	const char *seg[5];
	int n = split(c->a, below, seg);
	if (n < 0) {
		rest_reply_error(c, 404, "not-found", "No such path '%s'", c->path);
		return;
	}
	c->operation = NULL;
	c->interaction = interaction_of(c, seg, n);
	dispatch(c, seg, n);
}
