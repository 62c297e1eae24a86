/*
 * json.c - parsing with jansson, and the byte-level canonical, minify and
 * pretty writers (json.h). The byte writers assume their input is valid JSON
 * (it has passed json_parse) and never read past `len`.
 */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int json_parse(const char *data, size_t len, json_t **out, diag_list *d)
{
	json_error_t err;
	json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);
	if (!v) {
		diag_error(d, "invalid", NULL, "Invalid JSON at line %d, column %d: %s", err.line,
		           err.column, err.text);
		return -1;
	}
	*out = v;
	return 0;
}

static size_t skip_ws(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* Index just past the string starting at s[i] == '"'. */
static size_t skip_string(const char *s, size_t len, size_t i)
{
	i++;
	while (i < len && s[i] != '"') {
		if (s[i] == '\\')
			i++;
		i++;
	}
	return i < len ? i + 1 : len;
}

/* Index just past the value starting at s[i] (after whitespace). */
static size_t skip_value(const char *s, size_t len, size_t i)
{
	i = skip_ws(s, len, i);
	if (i >= len)
		return len;
	if (s[i] == '"')
		return skip_string(s, len, i);
	if (s[i] == '{' || s[i] == '[') {
		int depth = 0;
		while (i < len) {
			char c = s[i];
			if (c == '"') {
				i = skip_string(s, len, i);
				continue;
			}
			if (c == '{' || c == '[')
				depth++;
			else if (c == '}' || c == ']') {
				if (--depth == 0)
					return i + 1;
			}
			i++;
		}
		return len;
	}
	while (i < len && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' &&
	       s[i] != '\n' && s[i] != '\r' && s[i] != '\t')
		i++;
	return i;
}

static int copy_minified(buf *out, const char *s, size_t from, size_t to)
{
	size_t run = from;
	size_t i = from;
	while (i < to) {
		char c = s[i];
		if (c == '"') {
			i = skip_string(s, to, i);
			continue;
		}
		if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
			if (i > run && buf_append(out, s + run, i - run))
				return BUF_TOOBIG;
			i++;
			run = i;
			continue;
		}
		i++;
	}
	if (to > run && buf_append(out, s + run, to - run))
		return BUF_TOOBIG;
	return 0;
}

int json_minify(const char *src, size_t len, buf *out)
{
	return copy_minified(out, src, 0, len);
}

/* One member of an object: key (without quotes) and the value's span. */
typedef struct member {
	const char *key;
	size_t key_len;
	size_t val_from, val_to;
} member;

/* Iterate members of the object starting at s[*i] == '{' (or after a comma).
 * Returns 1 with *m filled, 0 at the end of the object. */
static int next_member(const char *s, size_t len, size_t *i, member *m)
{
	size_t p = skip_ws(s, len, *i);
	if (p < len && (s[p] == '{' || s[p] == ','))
		p = skip_ws(s, len, p + 1);
	if (p >= len || s[p] != '"')
		return 0;
	size_t kend = skip_string(s, len, p);
	m->key = s + p + 1;
	m->key_len = kend - p - 2;
	p = skip_ws(s, len, kend);
	if (p >= len || s[p] != ':')
		return 0;
	m->val_from = skip_ws(s, len, p + 1);
	m->val_to = skip_value(s, len, m->val_from);
	*i = m->val_to;
	return 1;
}

/* Whether the member's key is `k` (plain ASCII). The raw key is decoded
 * first: "\u0069d" is the key "id" to every JSON reader, and copying it as an
 * ordinary member would store two "id" members. */
static int key_is(const member *m, const char *k)
{
	size_t n = strlen(k);
	if (!memchr(m->key, '\\', m->key_len))
		return m->key_len == n && memcmp(m->key, k, n) == 0;
	size_t j = 0;
	for (size_t i = 0; i < m->key_len; i++, j++) {
		unsigned c = (unsigned char)m->key[i];
		if (c == '\\' && i + 1 < m->key_len) {
			c = (unsigned char)m->key[++i];
			if (c == 'u') {
				if (m->key_len - i < 5)
					return 0;
				char hex[5] = {m->key[i + 1], m->key[i + 2], m->key[i + 3],
				               m->key[i + 4], 0};
				char *end;
				c = (unsigned)strtoul(hex, &end, 16);
				if (*end)
					return 0;
				i += 4;
			} else if (c != '"' && c != '\\' && c != '/') {
				return 0; /* \b \f \n \r \t: control characters, never in k */
			}
		}
		if (j >= n || c != (unsigned char)k[j])
			return 0;
	}
	return j == n;
}

static int put_member(buf *out, const char *s, const member *m, int *first)
{
	int rc = 0;
	if (!*first)
		rc |= buf_putc(out, ',');
	*first = 0;
	rc |= buf_putc(out, '"');
	rc |= buf_append(out, m->key, m->key_len);
	rc |= buf_append(out, "\":", 2);
	rc |= copy_minified(out, s, m->val_from, m->val_to);
	return rc ? BUF_TOOBIG : 0;
}

int json_canonical(const char *src, size_t len, const json_meta *meta, buf *out)
{
	size_t start = skip_ws(src, len, 0);
	if (start >= len || src[start] != '{')
		return -1;
	member m;
	size_t i = start;
	int rc = 0;
	rc |= buf_putc(out, '{');
	int first = 1;
	while (next_member(src, len, &i, &m)) {
		if (key_is(&m, "resourceType")) {
			rc |= put_member(out, src, &m, &first);
			break;
		}
	}
	if (meta->id) {
		rc |= buf_puts(out, first ? "\"id\":" : ",\"id\":");
		rc |= json_put_string(out, meta->id);
		first = 0;
	}
	rc |= buf_puts(out, first ? "\"meta\":{" : ",\"meta\":{");
	first = 0;
	int mfirst = 1;
	if (meta->version_id) {
		rc |= buf_puts(out, "\"versionId\":");
		rc |= json_put_string(out, meta->version_id);
		mfirst = 0;
	}
	if (meta->last_updated) {
		rc |= buf_puts(out, mfirst ? "\"lastUpdated\":" : ",\"lastUpdated\":");
		rc |= json_put_string(out, meta->last_updated);
		mfirst = 0;
	}
	/* the client's own meta members, minus the server-set ones */
	i = start;
	while (next_member(src, len, &i, &m)) {
		if (!key_is(&m, "meta") || src[m.val_from] != '{')
			continue;
		size_t j = m.val_from;
		member mm;
		while (next_member(src, m.val_to, &j, &mm)) {
			if (key_is(&mm, "versionId") || key_is(&mm, "lastUpdated"))
				continue;
			rc |= put_member(out, src, &mm, &mfirst);
		}
	}
	rc |= buf_putc(out, '}');
	i = start;
	while (next_member(src, len, &i, &m)) {
		if (key_is(&m, "resourceType") || key_is(&m, "id") || key_is(&m, "meta"))
			continue;
		rc |= put_member(out, src, &m, &first);
	}
	rc |= buf_putc(out, '}');
	return rc ? BUF_TOOBIG : 0;
}

static int indent(buf *out, int depth)
{
	int rc = buf_putc(out, '\n');
	for (int k = 0; k < depth; k++)
		rc |= buf_append(out, "  ", 2);
	return rc;
}

int json_pretty(const char *s, size_t len, buf *out)
{
	int depth = 0, rc = 0;
	size_t i = 0;
	while (i < len) {
		char c = s[i];
		if (c == '"') {
			size_t e = skip_string(s, len, i);
			rc |= buf_append(out, s + i, e - i);
			i = e;
			continue;
		}
		if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
			i++;
			continue;
		}
		if (c == '{' || c == '[') {
			size_t n = skip_ws(s, len, i + 1);
			if (n < len && (s[n] == '}' || s[n] == ']')) { /* empty container */
				rc |= buf_putc(out, c);
				rc |= buf_putc(out, s[n]);
				i = n + 1;
				continue;
			}
			rc |= buf_putc(out, c);
			rc |= indent(out, ++depth);
		} else if (c == '}' || c == ']') {
			rc |= indent(out, --depth);
			rc |= buf_putc(out, c);
		} else if (c == ',') {
			rc |= buf_putc(out, ',');
			rc |= indent(out, depth);
		} else if (c == ':') {
			rc |= buf_append(out, ": ", 2);
		} else {
			rc |= buf_putc(out, c);
		}
		i++;
	}
	return rc ? BUF_TOOBIG : 0;
}

/* The length of the well-formed UTF-8 sequence at p (lead byte >= 0x80,
 * `left` bytes from p to the end), or 0 when it is not one. */
static size_t utf8_seq_len(const unsigned char *p, size_t left)
{
	size_t len = (*p & 0xe0) == 0xc0   ? 2
	             : (*p & 0xf0) == 0xe0 ? 3
	             : (*p & 0xf8) == 0xf0 ? 4
	                                   : 0;
	return len && len <= left && base_utf8_valid((const char *)p, len) ? len : 0;
}

int json_put_string(buf *out, const char *s)
{
	int rc = buf_putc(out, '"');
	const char *run = s;
	const unsigned char *end = (const unsigned char *)s + strlen(s);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		const char *esc = NULL;
		char tmp[8];
		if (*p >= 0x80) {
			/* client bytes echoed in a message may be no UTF-8: a byte
			 * that starts no well-formed sequence becomes U+FFFD */
			size_t len = utf8_seq_len(p, (size_t)(end - p));
			if (len) {
				p += len - 1;
				continue;
			}
			esc = "\\ufffd";
		} else {
			switch (*p) {
			case '"': esc = "\\\""; break;
			case '\\': esc = "\\\\"; break;
			case '\n': esc = "\\n"; break;
			case '\r': esc = "\\r"; break;
			case '\t': esc = "\\t"; break;
			case '\b': esc = "\\b"; break;
			case '\f': esc = "\\f"; break;
			default:
				if (*p < 0x20) {
					snprintf(tmp, sizeof tmp, "\\u%04x", *p);
					esc = tmp;
				}
			}
		}
		if (esc) {
			rc |= buf_append(out, run, (const char *)p - run);
			rc |= buf_puts(out, esc);
			run = (const char *)p + 1;
		}
	}
	rc |= buf_puts(out, run);
	rc |= buf_putc(out, '"');
	return rc ? BUF_TOOBIG : 0;
}

static int put_real(buf *out, double d)
{
	char tmp[40];
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	/* keep it a JSON number that reads back as a real */
	if (!strpbrk(tmp, ".eEn"))
		return buf_printf(out, "%s.0", tmp);
	return buf_puts(out, tmp);
}

int json_dump(const json_t *v, buf *out)
{
	int rc = 0;
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *k;
		json_t *x;
		int first = 1;
		rc |= buf_putc(out, '{');
		json_object_foreach((json_t *)v, k, x)
		{
			if (!first)
				rc |= buf_putc(out, ',');
			first = 0;
			rc |= json_put_string(out, k);
			rc |= buf_putc(out, ':');
			rc |= json_dump(x, out);
		}
		rc |= buf_putc(out, '}');
		break;
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *x;
		rc |= buf_putc(out, '[');
		json_array_foreach(v, i, x)
		{
			if (i)
				rc |= buf_putc(out, ',');
			rc |= json_dump(x, out);
		}
		rc |= buf_putc(out, ']');
		break;
	}
	case JSON_STRING: rc |= json_put_string(out, json_string_value(v)); break;
	case JSON_INTEGER:
		rc |= buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL: rc |= put_real(out, json_real_value(v)); break;
	case JSON_TRUE: rc |= buf_puts(out, "true"); break;
	case JSON_FALSE: rc |= buf_puts(out, "false"); break;
	case JSON_NULL: rc |= buf_puts(out, "null"); break;
	}
	return rc ? BUF_TOOBIG : 0;
}

int json_filter_members(const char *src, size_t len, json_keep_fn keep, void *ctx, buf *out)
{
	size_t start = skip_ws(src, len, 0);
	if (start >= len || src[start] != '{')
		return -1;
	member m;
	size_t i = start;
	int first = 1, rc = buf_putc(out, '{');
	while (next_member(src, len, &i, &m))
		if (keep(ctx, m.key, m.key_len))
			rc |= put_member(out, src, &m, &first);
	rc |= buf_putc(out, '}');
	return rc ? BUF_TOOBIG : 0;
}

int json_member_span(const char *src, size_t from, size_t to, const char *key, size_t *vfrom,
                     size_t *vto)
{
	size_t i = skip_ws(src, to, from);
	if (i >= to || src[i] != '{')
		return -1;
	member m;
	while (next_member(src, to, &i, &m)) {
		if (key_is(&m, key)) {
			*vfrom = m.val_from;
			*vto = m.val_to;
			return 0;
		}
	}
	return -1;
}

size_t json_element_spans(const char *src, size_t from, size_t to, size_t *starts, size_t *ends,
                          size_t max)
{
	size_t i = skip_ws(src, to, from);
	if (i >= to || src[i] != '[')
		return 0;
	i = skip_ws(src, to, i + 1);
	size_t n = 0;
	while (i < to && src[i] != ']') {
		size_t e = skip_value(src, to, i);
		if (n < max) {
			starts[n] = i;
			ends[n] = e;
		}
		n++;
		i = skip_ws(src, to, e);
		if (i < to && src[i] == ',')
			i = skip_ws(src, to, i + 1);
		else
			break;
	}
	return n;
}

/* Look for urn:uuid:/urn:oid: runs inside a string's content and replace them. */
static int rewrite_inside(buf *out, const char *s, size_t len, json_lookup_fn lookup, void *ctx)
{
	size_t run = 0, i = 0;
	int rc = 0;
	while (i + 8 < len) {
		if (s[i] == 'u' &&
		    (!strncmp(s + i, "urn:uuid:", 9) || !strncmp(s + i, "urn:oid:", 8))) {
			size_t e = i + 8;
			while (e < len &&
			       (s[e] == '-' || s[e] == '.' || s[e] == ':' ||
			        (s[e] >= '0' && s[e] <= '9') || (s[e] >= 'a' && s[e] <= 'z') ||
			        (s[e] >= 'A' && s[e] <= 'Z')))
				e++;
			const char *rep = lookup(ctx, NULL, 0, s + i, e - i);
			if (rep) {
				rc |= buf_append(out, s + run, i - run);
				rc |= buf_puts(out, rep);
				run = i = e;
				continue;
			}
			i = e;
			continue;
		}
		i++;
	}
	rc |= buf_append(out, s + run, len - run);
	return rc;
}

int json_rewrite_strings(const char *src, size_t len, json_lookup_fn lookup, void *ctx, buf *out)
{
	size_t run = 0, i = 0, kfrom = 0, klen = 0;
	int rc = 0, have_key = 0;
	while (i < len) {
		if (src[i] != '"') {
			i++;
			continue;
		}
		size_t e = skip_string(src, len, i); /* just past the closing quote */
		const char *content = src + i + 1;
		size_t clen = e - i - 2;
		size_t after = skip_ws(src, len, e), before = i;
		if (after < len && src[after] == ':') { /* a member name */
			kfrom = i + 1;
			klen = clen;
			have_key = 1;
			i = e;
			continue;
		}
		while (before > 0 && (src[before - 1] == ' ' || src[before - 1] == '\t' ||
		                      src[before - 1] == '\n' || src[before - 1] == '\r'))
			before--;
		int direct = have_key && before > 0 && src[before - 1] == ':';
		const char *rep =
		        lookup(ctx, direct ? src + kfrom : NULL, direct ? klen : 0, content, clen);
		if (rep || memmem(content, clen, "urn:", 4)) {
			rc |= buf_append(out, src + run, i + 1 - run);
			if (rep)
				rc |= buf_puts(out, rep);
			else
				rc |= rewrite_inside(out, content, clen, lookup, ctx);
			rc |= buf_putc(out, '"');
			run = e;
		}
		i = e;
	}
	rc |= buf_append(out, src + run, len - run);
	return rc ? BUF_TOOBIG : 0;
}
