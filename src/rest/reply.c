/*
 * reply.c - every response of the REST layer leaves through here: the
 * OperationOutcome builder (rest_reply_error is the one exit for errors),
 * JSON bodies with _pretty, version headers, ETag parsing and the checks on
 * query parameters and ids that every interaction shares.
 */
#include <stdio.h>
#include <string.h>

#include "../json/json.h"
#include "rest_int.h"

#define FHIR_JSON  "application/fhir+json; charset=utf-8"
#define PLAIN_JSON "application/json; charset=utf-8"

const char *rest_header(rctx *c, const char *name)
{
	if (!c->entry)
		return http_req_header(c->req, name);
	rest_entry *e = c->entry;
	if (!strcasecmp(name, "If-Match"))
		return e->if_match;
	if (!strcasecmp(name, "If-None-Match"))
		return e->if_none_match;
	if (!strcasecmp(name, "If-None-Exist"))
		return e->if_none_exist;
	if (!strcasecmp(name, "If-Modified-Since"))
		return e->if_modified_since;
	if (!strcasecmp(name, "Content-Type"))
		return NULL; /* entries are FHIR JSON, or a JSON Patch for PATCH (checked by
		                bundle.c) */
	/* everything else (Prefer, Host, Accept) is the Bundle's own request's */
	return http_req_header(c->req, name);
}

size_t rest_queries(rctx *c, const char *const **keys, const char *const **vals)
{
	if (!c->entry)
		return http_req_queries(c->req, keys, vals);
	*keys = c->entry->keys;
	*vals = c->entry->vals;
	return c->entry->nparams;
}

const char *rest_query(rctx *c, const char *name)
{
	const char *const *keys, *const *vals;
	size_t n = rest_queries(c, &keys, &vals);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(keys[i], name))
			return vals[i];
	return NULL;
}

const char *rest_body(rctx *c, size_t *len)
{
	if (c->body_override) {
		*len = c->body_override_len;
		return c->body_override;
	}
	if (!c->entry)
		return http_req_body(c->req, len);
	*len = c->entry->body_len;
	return c->entry->body ? c->entry->body : "";
}

void rest_set_header(rctx *c, const char *name, const char *value)
{
	if (!c->entry) {
		http_res_header(c->req, name, value);
		return;
	}
	if (!strcasecmp(name, "ETag"))
		c->entry->etag = arena_strdup(c->a, value);
	else if (!strcasecmp(name, "Location") || !strcasecmp(name, "Content-Location"))
		c->entry->location = arena_strdup(c->a, value);
}

void rest_send(rctx *c, int status, const char *body, size_t len)
{
	rest__audit_reply(c, status);
	if (!c->entry) {
		http_res_send(c->req, status, body, len,
		              !(body && len)  ? NULL
		              : c->plain_json ? PLAIN_JSON
		                              : FHIR_JSON);
		return;
	}
	c->entry->status = status;
	c->entry->res_body = body && len ? body : NULL;
	c->entry->res_len = body ? len : 0;
}

void rest_reply_json(rctx *c, int status, const char *body, size_t len)
{
	if (c->pretty && len) {
		buf b;
		buf_init(&b, 0);
		json_pretty(body, len, &b);
		const char *p = arena_memdup(c->a, b.data, b.len);
		len = b.len;
		buf_free(&b);
		body = p;
	}
	rest_send(c, status, body, len);
}

static const char *severity_name(diag_severity s)
{
	switch (s) {
	case DIAG_FATAL: return "fatal";
	case DIAG_ERROR: return "error";
	case DIAG_WARNING: return "warning";
	default: return "information";
	}
}

static void put_issue(buf *b, const char *severity, const char *code, const char *msg,
                      const char *expression)
{
	buf_puts(b, "{\"severity\":");
	json_put_string(b, severity);
	buf_puts(b, ",\"code\":");
	json_put_string(b, code);
	buf_puts(b, ",\"diagnostics\":");
	json_put_string(b, msg);
	if (expression) {
		buf_puts(b, ",\"expression\":[");
		json_put_string(b, expression);
		buf_putc(b, ']');
	}
	buf_putc(b, '}');
}

static void send_outcome(rctx *c, int status, buf *b)
{
	const char *body = arena_memdup(c->a, b->data, b->len);
	size_t len = b->len;
	buf_free(b);
	rest_reply_json(c, status, body, len);
}

static void reply_one(rctx *c, int status, const char *severity, const char *code, const char *fmt,
                      va_list ap)
{
	char *msg = arena_vprintf(c->a, fmt, ap);
	buf b;
	buf_init(&b, 0);
	buf_puts(&b, "{\"resourceType\":\"OperationOutcome\",\"issue\":[");
	put_issue(&b, severity, code, msg, NULL);
	buf_puts(&b, "]}");
	send_outcome(c, status, &b);
}

void rest_reply_error(rctx *c, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	reply_one(c, status, "error", code, fmt, ap);
	va_end(ap);
}

void rest_reply_info(rctx *c, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	reply_one(c, status, "information", "informational", fmt, ap);
	va_end(ap);
}

void rest_reply_diags(rctx *c, int status, const diag_list *d)
{
	buf b;
	buf_init(&b, 0);
	buf_puts(&b, "{\"resourceType\":\"OperationOutcome\",\"issue\":[");
	for (size_t i = 0; i < d->count; i++) {
		if (i)
			buf_putc(&b, ',');
		put_issue(&b, severity_name(d->items[i].severity), d->items[i].code,
		          d->items[i].message, d->items[i].expression);
	}
	if (!d->count)
		put_issue(&b, "error", "processing", "The request could not be processed", NULL);
	buf_puts(&b, "]}");
	send_outcome(c, status, &b);
}

void rest_reply_store_failure(rctx *c, int rc, const char *what)
{
	if (rc == STORE_FULL) {
		/* 507 Insufficient Storage (RFC 4918 11.5): the server cannot store
		 * what the request needs. The issue type is "no-store" of FHIR R4's
		 * IssueType (a kind of "transient": "the persistent store is
		 * unavailable"): the request was fine and may succeed as it is
		 * later, once space returns; "exception" would say the server
		 * failed unexpectedly, "too-long" that the client sent too much. */
		rest_set_header(c, "Retry-After", "30");
		rest_reply_error(c, 507, "no-store",
		                 "%s: the server has no space left to store it; nothing of the "
		                 "request was stored; try again later",
		                 what);
	} else if (rc == STORE_UNAVAILABLE) {
		rest_set_header(c, "Retry-After", "2");
		rest_reply_error(c, 503, "transient",
		                 "%s: the database cannot be reached, did not answer in time, or "
		                 "could not read or write its files; try again shortly",
		                 what);
	} else {
		rest_reply_error(c, 500, "exception", "%s", what);
	}
}

void rest_reply_read_failure(rctx *c, int rc, const char *what)
{
	if (rc != STORE_TIMEOUT)
		return rest_reply_store_failure(c, rc, what);
	rest_reply_error(c, 503, "too-costly",
	                 "%s: it ran past the time limit of a request (%ld ms, --request-timeout); "
	                 "narrow the search (fewer matches, no :contains/:text, fewer includes)",
	                 what, c->r->cfg.request_timeout_ms);
}

void rest_set_version_headers(rctx *c, int64_t version, int64_t last_updated)
{
	if (c->entry)
		c->entry->last_modified = last_updated;
	char tmp[48];
	snprintf(tmp, sizeof tmp, "W/\"%lld\"", (long long)version);
	rest_set_header(c, "ETag", tmp);
	base_format_http_date(last_updated, tmp, sizeof tmp);
	rest_set_header(c, "Last-Modified", tmp);
}

const char *rest_status_text(int status)
{
	switch (status) {
	case 200: return "200 OK";
	case 201: return "201 Created";
	case 204: return "204 No Content";
	case 304: return "304 Not Modified";
	case 400: return "400 Bad Request";
	case 401: return "401 Unauthorized";
	case 403: return "403 Forbidden";
	case 404: return "404 Not Found";
	case 405: return "405 Method Not Allowed";
	case 406: return "406 Not Acceptable";
	case 409: return "409 Conflict";
	case 410: return "410 Gone";
	case 412: return "412 Precondition Failed";
	case 413: return "413 Payload Too Large";
	case 415: return "415 Unsupported Media Type";
	case 422: return "422 Unprocessable Entity";
	case 503: return "503 Service Unavailable";
	case 507: return "507 Insufficient Storage";
	default: return "500 Internal Server Error";
	}
}

void rest__bundle_open(rctx *c, buf *b, const char *type)
{
	char *id, now[40];
	rest__new_id(c->a, &id);
	base_format_instant(base_now_us(), now, sizeof now);
	buf_printf(b,
	           "{\"resourceType\":\"Bundle\",\"id\":\"%s\",\"meta\":{\"lastUpdated\":\"%s\"},"
	           "\"type\":\"%s\"",
	           id, now, type);
}

int rest_parse_etag(const char *s, int64_t *version)
{
	while (*s == ' ')
		s++;
	if (s[0] == 'W' && s[1] == '/')
		s += 2;
	size_t n = strlen(s);
	while (n && s[n - 1] == ' ')
		n--;
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		s++;
		n -= 2;
	}
	if (n == 0 || n > 18)
		return -1;
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v <= 0)
		return -1;
	*version = v;
	return 0;
}

int rest_check_params_or_reply(rctx *c, const char *const *allowed)
{
	const char *const *keys, *const *vals;
	size_t n = rest_queries(c, &keys, &vals);
	for (size_t i = 0; i < n; i++) {
		const char *k = keys[i];
		if (!strcmp(k, "_format") || !strcmp(k, "_pretty"))
			continue;
		int ok = 0;
		for (const char *const *a = allowed; a && *a; a++)
			if (!strcmp(k, *a))
				ok = 1;
		if (!ok && !c->lenient) {
			rest_reply_error(
			        c, 400, "not-supported",
			        "Unknown or unsupported parameter '%s' for this interaction", k);
			return -1;
		}
	}
	return 0;
}

int rest_valid_id(const char *id)
{
	size_t n = 0;
	for (const char *p = id; *p; p++, n++) {
		char ch = *p;
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
			return 0;
	}
	return n >= 1 && n <= 64;
}
