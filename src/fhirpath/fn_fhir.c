/*
 * fn_fhir.c - the FHIR additions to FHIRPath (extension, hasValue, getValue,
 * resolve, memberOf, htmlChecks, conformsTo) and the FHIRPath 2.x utility
 * functions the R4 test suite uses (type, sort, precision, lowBoundary,
 * highBoundary, comparable, encode/decode, escape/unescape). resolve() looks
 * in contained resources, the Bundle being evaluated and the caller's
 * resolver, and otherwise returns a typed stand-in (see docs/fhirpath.md).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fp_int.h"

#define FN(name)                                                                                   \
	static int fn_##name(fp_ctx *c, const fp_node *call, const fp_coll *in,                    \
	                     const fp_frame *fr, fp_coll *out)

FN(extension)
{
	fp_item url;
	if (fp__string_arg(c, call, 0, fr, &url))
		return -1;
	if (url.kind != FP_STRING)
		return 0;
	for (size_t i = 0; i < in->count; i++) {
		fp_coll ext = {0};
		if (fp__children(c, &in->items[i], "extension", &ext, call) < 0)
			return -1;
		for (size_t k = 0; k < ext.count; k++) {
			const json_t *u = json_object_get(ext.items[k].json, "url");
			if (json_is_string(u) && json_string_length(u) == url.u.str.len &&
			    !memcmp(json_string_value(u), url.u.str.s, url.u.str.len))
				fp__push(c, out, &ext.items[k]);
		}
	}
	return 0;
}

static int is_primitive_value(const fp_item *it)
{
	return it->kind == FP_NODE && it->json && !json_is_object(it->json) &&
	       !json_is_array(it->json);
}

FN(hasValue)
{
	fp__bool(c, out, in->count == 1 && is_primitive_value(&in->items[0]));
	return 0;
}

FN(getValue)
{
	if (in->count == 1 && is_primitive_value(&in->items[0])) {
		fp_item v;
		if (fp__value(&in->items[0], &v) == 0)
			fp__push(c, out, &v);
	}
	return 0;
}

/* ---- resolve() ---- */

static const json_t *find_contained(const json_t *res, const char *id)
{
	const json_t *contained = json_object_get(res, "contained");
	for (size_t i = 0; i < json_array_size(contained); i++) {
		const json_t *r = json_array_get(contained, i);
		const char *rid = json_string_value(json_object_get(r, "id"));
		if (rid && !strcmp(rid, id))
			return r;
	}
	return NULL;
}

/* "Type/id" at the end of s (after an optional base URL and before an
 * optional "/_history/v"): the resource type, or NULL. */
static const model_type *reference_type(const char *ref, const char **id_out)
{
	char tmp[512];
	size_t len = strlen(ref);
	if (len >= sizeof tmp)
		return NULL;
	memcpy(tmp, ref, len + 1);
	char *hist = strstr(tmp, "/_history/");
	if (hist)
		*hist = 0;
	char *slash = strrchr(tmp, '/');
	if (!slash || slash == tmp)
		return NULL;
	*slash = 0;
	char *type = strrchr(tmp, '/');
	type = type ? type + 1 : tmp;
	const model_type *t = model_type_get(type);
	if (!t || !model_type_is_concrete_resource(t))
		return NULL;
	if (id_out)
		*id_out = ref + (slash + 1 - tmp);
	return t;
}

static const json_t *find_in_bundle(const json_t *bundle, const char *ref)
{
	const json_t *entries = json_object_get(bundle, "entry");
	const char *id = NULL;
	const model_type *t = reference_type(ref, &id);
	size_t rl = strlen(ref);
	for (size_t i = 0; i < json_array_size(entries); i++) {
		const json_t *e = json_array_get(entries, i);
		const json_t *r = json_object_get(e, "resource");
		const char *full = json_string_value(json_object_get(e, "fullUrl"));
		if (full && !strcmp(full, ref))
			return r;
		if (t && id) {
			const char *rt = json_string_value(json_object_get(r, "resourceType"));
			const char *rid = json_string_value(json_object_get(r, "id"));
			if (rt && rid && !strcmp(rt, model_type_name(t)) && !strncmp(rid, id, rl) &&
			    (id[strlen(rid)] == 0 || id[strlen(rid)] == '/'))
				return r;
		}
	}
	return NULL;
}

FN(resolve)
{
	for (size_t i = 0; i < in->count; i++) {
		const fp_item *it = &in->items[i];
		const char *ref = NULL;
		if (it->kind == FP_NODE && json_is_object(it->json))
			ref = json_string_value(json_object_get(it->json, "reference"));
		else if (it->kind == FP_NODE && json_is_string(it->json))
			ref = json_string_value(it->json);
		else if (it->kind == FP_STRING)
			ref = arena_strndup(c->a, it->u.str.s, it->u.str.len);
		if (!ref)
			continue;
		const json_t *r = NULL;
		if (ref[0] == '#')
			r = find_contained(c->resource.json, ref + 1);
		if (!r && c->bundle)
			r = find_in_bundle(c->bundle, ref);
		if (!r && c->env->resolve && c->env->resolve(c->env->resolve_ctx, ref, &r))
			r = NULL;
		fp_item res = {.kind = FP_NODE};
		if (r) {
			const char *rt = json_string_value(json_object_get(r, "resourceType"));
			res.json = r;
			res.type = rt ? model_type_get(rt) : NULL;
		} else {
			/* a typed stand-in so that "resolve() is Patient" works */
			res.type = reference_type(ref, NULL);
			if (!res.type)
				continue;
		}
		fp__push(c, out, &res);
	}
	return 0;
}

/* Ask env->member_of about one (system, code): 1/0, or -1 unknown. */
static int ask_member(fp_ctx *c, const char *vs, const json_t *system, const char *code)
{
	int member = 0;
	if (!code ||
	    c->env->member_of(c->env->member_of_ctx, vs, json_string_value(system), code, &member))
		return -1;
	return member ? 1 : 0;
}

FN(memberOf)
{
	/* Without a terminology answer (env->member_of) membership is unknown,
	 * so the result is empty (see docs/fhirpath.md). The argument is still
	 * evaluated so its errors surface. */
	fp_item vs;
	if (fp__string_arg(c, call, 0, fr, &vs))
		return -1;
	if (vs.kind != FP_STRING || !c->env->member_of || in->count != 1)
		return 0;
	const fp_item *it = &in->items[0];
	const char *url = arena_strndup(c->a, vs.u.str.s, vs.u.str.len);
	int res = -1;
	if (it->kind == FP_STRING) {
		res = ask_member(c, url, NULL, arena_strndup(c->a, it->u.str.s, it->u.str.len));
	} else if (it->kind == FP_NODE && json_is_string(it->json)) {
		res = ask_member(c, url, NULL, json_string_value(it->json));
	} else if (it->kind == FP_NODE && json_is_object(it->json)) {
		/* a Coding, or a CodeableConcept: any of its codings */
		const json_t *codings = json_object_get(it->json, "coding");
		if (!codings)
			res = ask_member(c, url, json_object_get(it->json, "system"),
			                 json_string_value(json_object_get(it->json, "code")));
		for (size_t i = 0; i < json_array_size(codings) && res != 1; i++) {
			const json_t *cd = json_array_get(codings, i);
			int r = ask_member(c, url, json_object_get(cd, "system"),
			                   json_string_value(json_object_get(cd, "code")));
			if (r >= 0)
				res = r;
		}
	}
	if (res >= 0)
		fp__bool(c, out, res);
	return 0;
}

static int html_ok(const char *s, size_t len)
{
	static const char *const banned[] = {"<script", "<object", "<applet",    "<embed", "<form",
	                                     "<iframe", "<frame",  "<link",      "<meta",  "<base",
	                                     "<input",  "<style",  "javascript:"};
	while (len && isspace((unsigned char)*s))
		s++, len--;
	if (len < 5 || strncmp(s, "<div", 4))
		return 0;
	for (size_t i = 0; i < len; i++) {
		for (size_t k = 0; k < sizeof banned / sizeof banned[0]; k++) {
			size_t bl = strlen(banned[k]);
			if (i + bl <= len && !strncasecmp(s + i, banned[k], bl))
				return 0;
		}
		/* event handler attributes: whitespace "on" letters "=" inside a tag */
		if (isspace((unsigned char)s[i]) && i + 3 < len &&
		    tolower((unsigned char)s[i + 1]) == 'o' &&
		    tolower((unsigned char)s[i + 2]) == 'n') {
			size_t j = i + 3;
			while (j < len && isalpha((unsigned char)s[j]))
				j++;
			if (j > i + 3 && j < len && s[j] == '=')
				return 0;
		}
	}
	return 1;
}

FN(htmlChecks)
{
	if (in->count == 0)
		return 0;
	for (size_t i = 0; i < in->count; i++) {
		fp_item v;
		if (fp__value(&in->items[i], &v) || v.kind != FP_STRING ||
		    !html_ok(v.u.str.s, v.u.str.len)) {
			fp__bool(c, out, 0);
			return 0;
		}
	}
	fp__bool(c, out, 1);
	return 0;
}

FN(conformsTo)
{
	fp_item url;
	if (fp__string_arg(c, call, 0, fr, &url))
		return -1;
	if (url.kind != FP_STRING || in->count == 0)
		return 0;
	static const char prefix[] = "http://hl7.org/fhir/StructureDefinition/";
	size_t pl = sizeof prefix - 1;
	if (url.u.str.len <= pl || strncmp(url.u.str.s, prefix, pl))
		return fp__error(c, call, "conformsTo(): unknown profile");
	char *name = arena_strndup(c->a, url.u.str.s + pl, url.u.str.len - pl);
	fp_typespec ts = {.name = name};
	fp__resolve_typespec(&ts);
	if (!ts.model)
		return fp__error(c, call, "conformsTo(): unknown profile %s", name);
	for (size_t i = 0; i < in->count; i++) {
		if (!fp__type_matches(&in->items[i], &ts)) {
			fp__bool(c, out, 0);
			return 0;
		}
	}
	fp__bool(c, out, 1);
	return 0;
}

/* ---- type() ---- */

FN(type)
{
	for (size_t i = 0; i < in->count; i++) {
		const fp_item *it = &in->items[i];
		const char *name = fp__type_name(it);
		if (!name)
			continue;
		fp_item ti = {.kind = FP_TYPEINFO, .scale = it->kind == FP_NODE};
		ti.u.str.s = name;
		ti.u.str.len = strlen(name);
		fp__push(c, out, &ti);
	}
	return 0;
}

/* ---- sort() ---- */

typedef struct sort_key {
	fp_item v[4];
	uint8_t has[4];
} sort_key;

typedef struct sort_ent {
	const fp_item *it;
	sort_key *k;
} sort_ent;

static int cmp_ent(const sort_ent *a, const sort_ent *b, int nkeys, const int *desc)
{
	for (int i = 0; i < nkeys; i++) {
		if (a->k->has[i] != b->k->has[i])
			return a->k->has[i] ? (desc[i] ? 1 : -1) : (desc[i] ? -1 : 1);
		if (!a->k->has[i])
			continue;
		int cmp;
		if (fp__compare(&a->k->v[i], &b->k->v[i], &cmp) == 0 && cmp)
			return desc[i] ? -cmp : cmp;
	}
	return 0;
}

static void merge_sort(sort_ent *e, sort_ent *tmp, size_t n, int nkeys, const int *desc)
{
	if (n < 2)
		return;
	size_t h = n / 2;
	merge_sort(e, tmp, h, nkeys, desc);
	merge_sort(e + h, tmp, n - h, nkeys, desc);
	size_t i = 0, j = h, k = 0;
	while (i < h && j < n)
		tmp[k++] = cmp_ent(&e[j], &e[i], nkeys, desc) < 0 ? e[j++] : e[i++];
	while (i < h)
		tmp[k++] = e[i++];
	while (j < n)
		tmp[k++] = e[j++];
	memcpy(e, tmp, n * sizeof *e);
}

FN(sort)
{
	int nkeys = call->nargs ? call->nargs : 1;
	if (nkeys > 4)
		return fp__error(c, call, "sort() takes at most 4 keys");
	int desc[4] = {0};
	sort_ent *e = arena_alloc(c->a, (in->count + 1) * sizeof *e);
	sort_ent *tmp = arena_alloc(c->a, (in->count + 1) * sizeof *tmp);
	for (size_t i = 0; i < in->count; i++) {
		e[i].it = &in->items[i];
		e[i].k = arena_calloc(c->a, sizeof(sort_key));
		for (int k = 0; k < nkeys; k++) {
			fp_coll r = {0};
			if (call->nargs == 0) {
				fp__push(c, &r, &in->items[i]);
			} else {
				const fp_node *arg = call->args[k];
				desc[k] = arg->kind == N_NEG;
				fp_coll one = {.items = &in->items[i], .count = 1, .cap = 1};
				fp_frame f = {
				        .this_ = &one, .index = (int64_t)i, .total = fr->total};
				if (fp__eval(c, desc[k] ? arg->left : arg, &f, &r))
					return -1;
			}
			if (r.count && fp__value(&r.items[0], &e[i].k->v[k]) == 0)
				e[i].k->has[k] = 1;
		}
	}
	merge_sort(e, tmp, in->count, nkeys, desc);
	for (size_t i = 0; i < in->count; i++)
		fp__push(c, out, e[i].it);
	return 0;
}

/* ---- precision and boundaries ---- */

static const int DT_DIGITS[] = {0, 4, 6, 8, 10, 12, 14, 17};
static const int TIME_DIGITS[] = {0, 0, 0, 0, 2, 4, 6, 9};

FN(precision)
{
	if (in->count != 1)
		return 0;
	fp_item v;
	if (fp__value(&in->items[0], &v))
		return 0;
	switch (v.kind) {
	case FP_DECIMAL: fp__int(c, out, v.scale); break;
	case FP_INTEGER: fp__int(c, out, 0); break;
	case FP_DATE:
	case FP_DATETIME: fp__int(c, out, DT_DIGITS[v.u.dt.prec]); break;
	case FP_TIME: fp__int(c, out, TIME_DIGITS[v.u.dt.prec]); break;
	default: break;
	}
	return 0;
}

static int dec_boundary(fp_item *v, int64_t prec, int high)
{
	int scale = v->kind == FP_INTEGER ? 0 : v->scale;
	double d = v->kind == FP_INTEGER ? (double)v->u.i : v->u.d;
	if (prec < 0 || prec > 28)
		return -1;
	double half = 0.5 * pow(10, -scale);
	double b = high ? d + half : d - half;
	double f = pow(10, (double)prec);
	double scaled = b * f;
	/* guard against binary noise before rounding toward the boundary */
	double r = high ? ceil(scaled - 1e-9) : floor(scaled + 1e-9);
	if (fabs(d) < pow(10, -prec))
		r = 0;
	v->kind = FP_DECIMAL;
	v->u.d = r / f;
	v->scale = (uint8_t)prec;
	return 0;
}

static int dt_boundary(fp_item *v, int64_t prec, int high)
{
	fp_dt *dt = &v->u.dt;
	const int *digits = v->kind == FP_TIME ? TIME_DIGITS : DT_DIGITS;
	int target = -1;
	for (int p = v->kind == FP_TIME ? DT_HOUR : DT_YEAR; p <= DT_MS; p++)
		if (digits[p] == prec)
			target = p;
	if (target < 0)
		return -1;
	if (v->kind == FP_DATE && target > DT_DAY)
		return -1;
	if (dt->prec == DT_HOUR && target > DT_HOUR)
		dt->prec = DT_MINUTE; /* "T08" is read as 08:00 */
	if (dt->prec < DT_MONTH)
		dt->month = high ? 12 : 1;
	if (dt->prec < DT_DAY) {
		static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
		int y = dt->year, m = dt->month;
		int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
		dt->day = (uint8_t)(high ? dim[m - 1] + (m == 2 && leap) : 1);
	}
	if (dt->prec < DT_HOUR)
		dt->hour = high ? 23 : 0;
	if (dt->prec < DT_MINUTE)
		dt->minute = high ? 59 : 0;
	if (dt->prec < DT_SECOND)
		dt->second = high ? 59 : 0;
	if (dt->prec < DT_MS)
		dt->ms = high ? 999 : 0;
	if (v->kind == FP_DATETIME && target >= DT_HOUR && !dt->has_tz) {
		dt->has_tz = 1;
		dt->tz = (int16_t)(high ? -12 * 60 : 14 * 60);
	}
	dt->prec = (uint8_t)target;
	if (target < DT_HOUR)
		dt->has_tz = 0;
	return 0;
}

static int boundary(fp_ctx *c, const fp_node *call, const fp_coll *in, const fp_frame *fr,
                    fp_coll *out, int high)
{
	if (in->count != 1)
		return 0;
	fp_item v;
	if (fp__value(&in->items[0], &v))
		return 0;
	int64_t prec = -1;
	if (call->nargs && fp__int_arg(c, call, 0, fr, &prec))
		return -1;
	int rc = -1;
	switch (v.kind) {
	case FP_INTEGER:
	case FP_DECIMAL: rc = dec_boundary(&v, call->nargs ? prec : 8, high); break;
	case FP_QUANTITY: {
		fp_item d = {.kind = FP_DECIMAL, .scale = v.scale};
		d.u.d = v.u.q.value;
		const char *dot;
		char tmp[64];
		snprintf(tmp, sizeof tmp, "%.15g", v.u.q.value);
		dot = strchr(tmp, '.');
		d.scale = (uint8_t)(v.scale ? v.scale : dot ? strlen(dot + 1) : 0);
		rc = dec_boundary(&d, call->nargs ? prec : 8, high);
		v.u.q.value = d.u.d;
		v.scale = d.scale;
		break;
	}
	case FP_DATE: rc = dt_boundary(&v, call->nargs ? prec : 8, high); break;
	case FP_DATETIME: rc = dt_boundary(&v, call->nargs ? prec : 17, high); break;
	case FP_TIME: rc = dt_boundary(&v, call->nargs ? prec : 9, high); break;
	default: break;
	}
	if (rc == 0)
		fp__push(c, out, &v);
	return 0;
}

FN(lowBoundary)
{
	return boundary(c, call, in, fr, out, 0);
}
FN(highBoundary)
{
	return boundary(c, call, in, fr, out, 1);
}

FN(comparable)
{
	fp_coll r;
	if (in->count != 1 || fp__arg(c, call, 0, fr, &r) || r.count != 1)
		return c->failed ? -1 : 0;
	fp_item a, b;
	if (fp__value(&in->items[0], &a) || fp__value(&r.items[0], &b) || a.kind != FP_QUANTITY ||
	    b.kind != FP_QUANTITY)
		return fp__error(c, call, "comparable() needs quantities");
	int cmp;
	fp__bool(c, out, fp__quantity_compare(&a, &b, &cmp) == 0);
	return 0;
}

/* ---- encode/decode, escape/unescape ---- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_encode(buf *b, const unsigned char *s, size_t n, int url)
{
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) |
		             (i + 2 < n ? s[i + 2] : 0);
		char q[4];
		for (int k = 0; k < 4; k++) {
			char ch = B64[(v >> (18 - 6 * k)) & 63];
			if (url && ch == '+')
				ch = '-';
			if (url && ch == '/')
				ch = '_';
			q[k] = ch;
		}
		if (i + 1 >= n)
			q[2] = '=';
		if (i + 2 >= n)
			q[3] = '=';
		buf_append(b, q, 4);
	}
}

static int b64_value(char ch)
{
	if (ch == '-')
		ch = '+';
	if (ch == '_')
		ch = '/';
	const char *p = strchr(B64, ch);
	return (ch && p) ? (int)(p - B64) : -1;
}

static int b64_decode(buf *b, const char *s, size_t n)
{
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=')
			break;
		int v = b64_value(s[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_putc(b, (char)((acc >> bits) & 0xFF));
		}
	}
	return 0;
}

static int codec(fp_ctx *c, const fp_node *call, const fp_coll *in, const fp_frame *fr,
                 fp_coll *out, int decode)
{
	fp_item s, how;
	if (in->count == 0)
		return 0;
	if (in->count > 1 || fp__value(&in->items[0], &s) || s.kind != FP_STRING)
		return fp__error(c, call, "%s() needs a single String", call->name);
	if (fp__string_arg(c, call, 0, fr, &how))
		return -1;
	if (how.kind != FP_STRING)
		return 0;
	buf b;
	buf_init(&b, 0);
	int rc = 0;
	const char *h = arena_strndup(c->a, how.u.str.s, how.u.str.len);
	if (!strcmp(h, "base64") || !strcmp(h, "urlbase64")) {
		if (decode)
			rc = b64_decode(&b, s.u.str.s, s.u.str.len);
		else
			b64_encode(&b, (const unsigned char *)s.u.str.s, s.u.str.len, h[0] == 'u');
	} else if (!strcmp(h, "hex")) {
		for (size_t i = 0; i < s.u.str.len && !rc; i += decode ? 2 : 1) {
			if (decode) {
				unsigned v;
				char pair[3] = {s.u.str.s[i],
				                i + 1 < s.u.str.len ? s.u.str.s[i + 1] : 0, 0};
				if (!isxdigit((unsigned char)pair[0]) ||
				    !isxdigit((unsigned char)pair[1]) ||
				    sscanf(pair, "%2x", &v) != 1)
					rc = -1;
				else
					buf_putc(&b, (char)v);
			} else {
				buf_printf(&b, "%02x", (unsigned char)s.u.str.s[i]);
			}
		}
	} else {
		rc = -1;
	}
	if (rc == 0)
		fp__str(c, out, arena_memdup(c->a, b.data ? b.data : "", b.len + 1), b.len);
	buf_free(&b);
	return 0;
}

FN(encode)
{
	return codec(c, call, in, fr, out, 0);
}
FN(decode)
{
	return codec(c, call, in, fr, out, 1);
}

static int escaping(fp_ctx *c, const fp_node *call, const fp_coll *in, const fp_frame *fr,
                    fp_coll *out, int unescape)
{
	static const char *const html[][2] = {
	        {"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}, {"'", "&#39;"}};
	static const char *const json[][2] = {
	        {"\"", "\\\""}, {"\\", "\\\\"}, {"\n", "\\n"}, {"\r", "\\r"}, {"\t", "\\t"}};
	fp_item s, how;
	if (in->count == 0)
		return 0;
	if (in->count > 1 || fp__value(&in->items[0], &s) || s.kind != FP_STRING)
		return fp__error(c, call, "%s() needs a single String", call->name);
	if (fp__string_arg(c, call, 0, fr, &how))
		return -1;
	if (how.kind != FP_STRING)
		return 0;
	const char *const(*table)[2];
	size_t n;
	if (how.u.str.len == 4 && !memcmp(how.u.str.s, "html", 4)) {
		table = html;
		n = sizeof html / sizeof html[0];
	} else if (how.u.str.len == 4 && !memcmp(how.u.str.s, "json", 4)) {
		table = json;
		n = sizeof json / sizeof json[0];
	} else {
		return 0;
	}
	buf b;
	buf_init(&b, 0);
	for (size_t i = 0; i < s.u.str.len;) {
		size_t k;
		for (k = 0; k < n; k++) {
			const char *from = table[k][unescape], *to = table[k][!unescape];
			size_t fl = strlen(from);
			if (i + fl <= s.u.str.len && !memcmp(s.u.str.s + i, from, fl)) {
				buf_puts(&b, to);
				i += fl;
				break;
			}
		}
		if (k == n)
			buf_putc(&b, s.u.str.s[i++]);
	}
	fp__str(c, out, arena_memdup(c->a, b.data ? b.data : "", b.len + 1), b.len);
	buf_free(&b);
	return 0;
}

FN(escape)
{
	return escaping(c, call, in, fr, out, 0);
}
FN(unescape)
{
	return escaping(c, call, in, fr, out, 1);
}

const fp_func fp__fn_fhir[] = {
        {"extension", 1, 1, fn_extension},
        {"hasValue", 0, 0, fn_hasValue},
        {"getValue", 0, 0, fn_getValue},
        {"resolve", 0, 0, fn_resolve},
        {"memberOf", 1, 1, fn_memberOf},
        {"htmlChecks", 0, 0, fn_htmlChecks},
        {"htmlchecks", 0, 0, fn_htmlChecks},
        {"conformsTo", 1, 1, fn_conformsTo},
        {"type", 0, 0, fn_type},
        {"sort", 0, 4, fn_sort},
        {"precision", 0, 0, fn_precision},
        {"lowBoundary", 0, 1, fn_lowBoundary},
        {"highBoundary", 0, 1, fn_highBoundary},
        {"comparable", 1, 1, fn_comparable},
        {"encode", 1, 1, fn_encode},
        {"decode", 1, 1, fn_decode},
        {"escape", 1, 1, fn_escape},
        {"unescape", 1, 1, fn_unescape},
        {NULL, 0, 0, NULL},
};
