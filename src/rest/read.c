/*
 * read.c - read and vread (GET [type]/[id], GET [type]/[id]/_history/[vid]).
 * The stored canonical bytes are sent as they are; conditional reads
 * (If-None-Match, If-Modified-Since) answer 304 without a body.
 */
#include <string.h>

#include "rest_int.h"

static const char *const read_params[] = {NULL};

/* Does an If-None-Match value ("*", or a comma-separated list of weak or
 * strong ETags) name this version? Weak comparison, as HTTP asks for GET. */
static int etag_list_matches(const char *list, int64_t version)
{
	char tmp[64];
	const char *p = list;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t n = strcspn(p, ",");
		if (n == 1 && *p == '*')
			return 1;
		int64_t ver;
		if (n && n < sizeof tmp) {
			memcpy(tmp, p, n);
			tmp[n] = 0;
			if (rest_parse_etag(tmp, &ver) == 0 && ver == version)
				return 1;
		}
		p += n;
	}
	return 0;
}

/* 304 if the client's copy is current; returns 1 when it replied. */
static int not_modified(rctx *c, const store_version *v)
{
	const char *inm = rest_header(c, "If-None-Match");
	if (inm) {
		if (etag_list_matches(inm, v->version)) {
			rest_set_version_headers(c, v->version, v->last_updated);
			rest_send(c, 304, NULL, 0);
			return 1;
		}
		return 0; /* If-None-Match given: If-Modified-Since is ignored (RFC 7232) */
	}
	const char *ims = rest_header(c, "If-Modified-Since");
	int64_t since;
	if (ims && base_parse_http_date(ims, &since) == 0 &&
	    v->last_updated / 1000000 <= since / 1000000) {
		rest_set_version_headers(c, v->version, v->last_updated);
		rest_send(c, 304, NULL, 0);
		return 1;
	}
	return 0;
}

static void send_version(rctx *c, int status, const store_version *v)
{
	rest__audit_saw(c, v);
	rest_set_version_headers(c, v->version, v->last_updated);
	rest_reply_json(c, status, v->body, v->body_len);
}

/* Within a limited grant, a resource outside it does not exist. */
static int hidden(rctx *c, int rc, const store_version *v)
{
	if ((rc != STORE_OK && rc != STORE_GONE) || !rest__limited(c, c->type, POLICY_READ))
		return 0;
	int64_t rid = v->rid;
	store_version cur;
	if (!rid && store_read(c->r->cfg.store, c->a, c->type, c->id, 0, &cur) == STORE_OK)
		rid = cur.rid; /* vread: the resource's current row */
	if (rid && rest__visible(c, c->type, POLICY_READ, rid))
		return 0;
	rest_reply_error(c, 404, "not-found", "%s/%s is not known", c->type, c->id);
	return 1;
}

void rest_read(rctx *c)
{
	if (rest_check_params_or_reply(c, read_params) ||
	    rest__allowed_or_reply(c, c->type, POLICY_READ))
		return;
	store_version v;
	int rc = store_read(c->r->cfg.store, c->a, c->type, c->id, 0, &v);
	if (hidden(c, rc, &v))
		return;
	switch (rc) {
	case STORE_OK:
		if (!not_modified(c, &v))
			send_version(c, 200, &v);
		return;
	case STORE_GONE:
		rest_set_version_headers(c, v.version, v.last_updated);
		rest_reply_error(c, 410, "deleted", "%s/%s was deleted", c->type, c->id);
		return;
	case STORE_NOT_FOUND:
		rest_reply_error(c, 404, "not-found", "%s/%s is not known", c->type, c->id);
		return;
	default: rest_reply_read_failure(c, rc, "The store could not be read");
	}
}

void rest_vread(rctx *c)
{
	if (rest_check_params_or_reply(c, read_params) ||
	    rest__allowed_or_reply(c, c->type, POLICY_READ))
		return;
	long ver;
	if (base_parse_long(c->vid, 1, 0x7fffffffffffffffL, &ver)) {
		rest_reply_error(c, 404, "not-found", "%s/%s has no version '%s'", c->type, c->id,
		                 c->vid);
		return;
	}
	store_version v;
	int rc = store_read(c->r->cfg.store, c->a, c->type, c->id, ver, &v);
	if (hidden(c, rc, &v))
		return;
	if (rc == STORE_OK && v.deleted) {
		rest_set_version_headers(c, v.version, v.last_updated);
		rest_reply_error(c, 410, "deleted", "Version %ld of %s/%s is a deletion", ver,
		                 c->type, c->id);
	} else if (rc == STORE_OK) {
		if (!not_modified(c, &v))
			send_version(c, 200, &v);
	} else if (rc == STORE_NOT_FOUND) {
		rest_reply_error(c, 404, "not-found", "%s/%s has no version %ld", c->type, c->id,
		                 ver);
	} else {
		rest_reply_read_failure(c, rc, "The store could not be read");
	}
}
