/*
 * history.c - history at instance, type and system level
 * (GET [type]/[id]/_history, [type]/_history, _history): a Bundle of type
 * "history", newest first, paged by an opaque cursor (_page, the write
 * sequence of the last entry shown) with self and next links; _count,
 * _since and _at narrow it. Entries embed the stored bytes as they are.
 */
#include <stdio.h>
#include <string.h>

#include "../json/json.h"
#include "rest_int.h"

static const char *const history_params[] = {"_count", "_since", "_at", "_page", NULL};

static int days_in_month(int y, int m)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[m - 1];
}

/* A FHIR date or dateTime of any precision as the range of instants it covers. */
static int parse_date_range(const char *s, int64_t *lo, int64_t *hi)
{
	char tmp[40];
	size_t n = strlen(s);
	int y, m;
	if (n == 4 && sscanf(s, "%4d", &y) == 1) {
		snprintf(tmp, sizeof tmp, "%04d-01-01", y);
		if (base_parse_instant(tmp, lo))
			return -1;
		snprintf(tmp, sizeof tmp, "%04d-01-01", y + 1);
	} else if (n == 7 && sscanf(s, "%4d-%2d", &y, &m) == 2 && s[4] == '-' && m >= 1 &&
	           m <= 12) {
		snprintf(tmp, sizeof tmp, "%04d-%02d-01", y, m);
		if (base_parse_instant(tmp, lo))
			return -1;
		snprintf(tmp, sizeof tmp, "%04d-%02d-%02d", y, m, days_in_month(y, m));
		if (base_parse_instant(tmp, hi))
			return -1;
		*hi += 86400LL * 1000000 - 1;
		return 0;
	} else if (n == 10) {
		if (base_parse_instant(s, lo))
			return -1;
		*hi = *lo + 86400LL * 1000000 - 1;
		return 0;
	} else {
		if (base_parse_instant(s, lo))
			return -1;
		/* seconds precision covers the whole second */
		*hi = strchr(s, '.') ? *lo : *lo + 999999;
		return 0;
	}
	if (base_parse_instant(tmp, hi))
		return -1;
	*hi -= 1;
	return 0;
}

static void put_url_encoded(buf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~:|,", *p))
			buf_putc(b, (char)*p);
		else
			buf_printf(b, "%%%02X", *p);
	}
}

/* The request's URL with _page replaced by `page` (0: dropped). */
static void put_link(rctx *c, buf *b, const char *relation, int64_t page)
{
	buf url;
	buf_init(&url, 0);
	buf_puts(&url, c->base);
	if (c->type)
		buf_printf(&url, "/%s", c->type);
	if (c->id)
		buf_printf(&url, "/%s", c->id);
	buf_puts(&url, "/_history");
	const char *const *keys, *const *vals;
	size_t n = rest_queries(c, &keys, &vals);
	char sep = '?';
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(keys[i], "_page"))
			continue;
		buf_putc(&url, sep);
		sep = '&';
		put_url_encoded(&url, keys[i]);
		buf_putc(&url, '=');
		put_url_encoded(&url, vals[i]);
	}
	if (page)
		buf_printf(&url, "%c_page=%lld", sep, (long long)page);
	buf_puts(b, "{\"relation\":");
	json_put_string(b, relation);
	buf_puts(b, ",\"url\":");
	json_put_string(b, url.data);
	buf_putc(b, '}');
	buf_free(&url);
}

static void put_entry(rctx *c, buf *b, const store_version *v)
{
	rest__audit_saw(c, v);
	char lu[40];
	base_format_instant(v->last_updated, lu, sizeof lu);
	buf_printf(b, "{\"fullUrl\":\"%s/%s/%s\"", c->base, v->type, v->id);
	if (!v->deleted) {
		buf_puts(b, ",\"resource\":");
		buf_append(b, v->body, v->body_len);
	}
	const char *method = v->deleted ? "DELETE" : v->version == 1 ? "POST" : "PUT";
	if (v->version == 1 && !v->deleted)
		buf_printf(b, ",\"request\":{\"method\":\"POST\",\"url\":\"%s\"}", v->type);
	else
		buf_printf(b, ",\"request\":{\"method\":\"%s\",\"url\":\"%s/%s\"}", method, v->type,
		           v->id);
	buf_printf(b,
	           ",\"response\":{\"status\":\"%s\",\"etag\":\"W/"
	           "\\\"%lld\\\"\",\"lastModified\":\"%s\"}}",
	           v->deleted        ? "204 No Content"
	           : v->version == 1 ? "201 Created"
	                             : "200 OK",
	           (long long)v->version, lu);
}

void rest_history(rctx *c)
{
	if (rest_check_params_or_reply(c, history_params))
		return;
	store_history_query q = {.type = c->type, .id = c->id, .count = 50};
	const char *s;
	long n;
	if ((s = rest_query(c, "_count"))) {
		if (base_parse_long(s, 0, 1000, &n))
			return rest_reply_error(c, 400, "invalid",
			                        "_count must be a number from 0 to 1000, not '%s'",
			                        s);
		q.count = (size_t)n;
	}
	int64_t lo, hi;
	if ((s = rest_query(c, "_since"))) {
		if (parse_date_range(s, &lo, &hi))
			return rest_reply_error(c, 400, "invalid",
			                        "_since must be an instant, not '%s'", s);
		q.since = lo;
	}
	if ((s = rest_query(c, "_at"))) {
		if (parse_date_range(s, &lo, &hi))
			return rest_reply_error(c, 400, "invalid",
			                        "_at must be a date or dateTime, not '%s'", s);
		q.at_start = lo;
		q.at_end = hi;
	}
	if ((s = rest_query(c, "_page"))) {
		if (base_parse_long(s, 1, 0x7fffffffffffffffL, &n))
			return rest_reply_error(c, 400, "invalid",
			                        "_page '%s' is not a valid page cursor", s);
		q.before_seq = n;
	}
	if (rest__allowed_or_reply(c, c->type, POLICY_READ))
		return;
	if (!c->id && rest__limited(c, c->type, POLICY_READ))
		return rest_reply_error(c, 403, "forbidden",
		                        "The token's scopes allow reading %s within limits (a "
		                        "patient compartment or a query); the history of more "
		                        "than one resource is not available within them",
		                        c->type ? c->type : "resources");
	if (c->id) {
		/* the history of an unknown resource is an error, not an empty Bundle */
		store_version v;
		int rc = store_read(c->r->cfg.store, c->a, c->type, c->id, 0, &v);
		if ((rc == STORE_OK || rc == STORE_GONE) &&
		    !rest__visible(c, c->type, POLICY_READ, v.rid))
			rc = STORE_NOT_FOUND;
		if (rc == STORE_NOT_FOUND)
			return rest_reply_error(c, 404, "not-found", "%s/%s is not known", c->type,
			                        c->id);
	}
	store_version *items;
	size_t count;
	int more = 0;
	int rc = store_history(c->r->cfg.store, c->a, &q, &items, &count, &more);
	if (rc)
		return rest_reply_read_failure(c, rc, "The history could not be read");
	buf b;
	buf_init(&b, 0);
	rest__bundle_open(c, &b, "history");
	buf_puts(&b, ",\"link\":[");
	put_link(c, &b, "self", q.before_seq);
	if (more && count) {
		buf_putc(&b, ',');
		put_link(c, &b, "next", items[count - 1].seq);
	}
	buf_putc(&b, ']');
	for (size_t i = 0; i < count; i++) {
		buf_puts(&b, i ? "," : ",\"entry\":[");
		put_entry(c, &b, &items[i]);
	}
	buf_puts(&b, count ? "]}" : "}");
	const char *body = arena_memdup(c->a, b.data, b.len);
	size_t len = b.len;
	buf_free(&b);
	rest_reply_json(c, 200, body, len);
}
