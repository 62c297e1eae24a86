/*
 * value.c - FHIRPath values: making System values, converting FHIR nodes to
 * them (implicit conversion of primitives and Quantity), equality (=),
 * equivalence (~), ordering, string forms, and the public fp_item_* and
 * fp_collection_* readers of fhirpath.h. Pure functions over items; strings
 * they make come from the arena passed in.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fp_int.h"

void fp__bool(fp_ctx *c, fp_coll *out, int b)
{
	fp_item it = {.kind = FP_BOOLEAN, .u.b = b ? 1 : 0};
	fp__push(c, out, &it);
}

void fp__str(fp_ctx *c, fp_coll *out, const char *s, size_t len)
{
	fp_item it = {.kind = FP_STRING, .u.str = {s, len}};
	fp__push(c, out, &it);
}

void fp__int(fp_ctx *c, fp_coll *out, int64_t i)
{
	fp_item it = {.kind = FP_INTEGER, .u.i = i};
	fp__push(c, out, &it);
}

void fp__dec(fp_ctx *c, fp_coll *out, double d)
{
	fp_item it = {.kind = FP_DECIMAL, .u.d = d};
	fp__push(c, out, &it);
}

static int is_quantity_type(const model_type *t)
{
	for (; t; t = model_type_base(t))
		if (!strcmp(model_type_name(t), "Quantity"))
			return 1;
	return 0;
}

static int node_quantity(const fp_item *it, fp_item *out)
{
	const json_t *v = json_object_get(it->json, "value");
	if (!json_is_number(v))
		return -1;
	const char *code = json_string_value(json_object_get(it->json, "code"));
	const char *unit = json_string_value(json_object_get(it->json, "unit"));
	const char *system = json_string_value(json_object_get(it->json, "system"));
	memset(out, 0, sizeof *out);
	out->kind = FP_QUANTITY;
	out->u.q.value = json_number_value(v);
	if (code && (!system || !strcmp(system, "http://unitsofmeasure.org")))
		out->u.q.unit = code;
	else
		out->u.q.unit = unit ? unit : code ? code : "1";
	/* UCUM time codes written as calendar words in FHIR data */
	const char *cal = fp__calendar_unit(out->u.q.unit, strlen(out->u.q.unit));
	if (cal && !code)
		out->u.q.unit = cal;
	return 0;
}

int fp__value(const fp_item *it, fp_item *out)
{
	if (it->kind == FP_TYPEINFO)
		return -1;
	if (it->kind != FP_NODE) {
		if (out != it)
			*out = *it;
		return 0;
	}
	const json_t *j = it->json;
	if (!j)
		return -1;
	const model_type *t = it->type;
	if (json_is_object(j))
		return (t && is_quantity_type(t)) ? node_quantity(it, out) : -1;
	memset(out, 0, sizeof *out);
	if (json_is_boolean(j)) {
		out->kind = FP_BOOLEAN;
		out->u.b = json_is_true(j);
		return 0;
	}
	if (json_is_integer(j)) {
		if (t && model_type_json(t) == MODEL_JSON_NUMBER) {
			out->kind = FP_DECIMAL;
			out->u.d = (double)json_integer_value(j);
			return 0;
		}
		out->kind = FP_INTEGER;
		out->u.i = json_integer_value(j);
		return 0;
	}
	if (json_is_real(j)) {
		out->kind = FP_DECIMAL;
		out->u.d = json_real_value(j);
		return 0;
	}
	if (!json_is_string(j))
		return -1;
	const char *s = json_string_value(j);
	size_t len = json_string_length(j);
	if (t && model_type_kind(t) == MODEL_KIND_PRIMITIVE) {
		const char *tn = model_type_name(t);
		int kind;
		if (!strcmp(tn, "date") || !strcmp(tn, "dateTime") || !strcmp(tn, "instant")) {
			if (fp__parse_date(s, len, &out->u.dt, &kind) == 0) {
				out->kind = (uint8_t)(strcmp(tn, "date") ? FP_DATETIME : kind);
				return 0;
			}
		} else if (!strcmp(tn, "time")) {
			if (fp__parse_time(s, len, &out->u.dt) == 0) {
				out->kind = FP_TIME;
				return 0;
			}
		}
	}
	out->kind = FP_STRING;
	out->u.str.s = s;
	out->u.str.len = len;
	return 0;
}

static double num(const fp_item *v)
{
	return v->kind == FP_INTEGER ? (double)v->u.i : v->u.d;
}

static int is_num(const fp_item *v)
{
	return v->kind == FP_INTEGER || v->kind == FP_DECIMAL;
}

static int is_dt(const fp_item *v)
{
	return v->kind == FP_DATE || v->kind == FP_DATETIME;
}

static int dec_equal(double a, double b)
{
	double m = fmax(1.0, fmax(fabs(a), fabs(b)));
	return fabs(a - b) <= 1e-10 * m;
}

/* Equality of two complex nodes: same JSON, ignoring nothing. */
static int node_equal(const fp_item *a, const fp_item *b)
{
	if (a->json == b->json && a->elem == b->elem)
		return 1;
	return a->json && b->json && json_equal((json_t *)a->json, (json_t *)b->json);
}

int fp__equal(const fp_item *a, const fp_item *b)
{
	fp_item x, y;
	int ax = fp__value(a, &x), by = fp__value(b, &y);
	if (ax || by) {
		if (ax && by)
			return node_equal(a, b);
		return 0;
	}
	if (is_num(&x) && is_num(&y)) {
		if (x.kind == FP_INTEGER && y.kind == FP_INTEGER)
			return x.u.i == y.u.i;
		return dec_equal(num(&x), num(&y));
	}
	if (x.kind == FP_QUANTITY || y.kind == FP_QUANTITY) {
		if (x.kind != y.kind)
			return 0;
		return fp__quantity_equal(&x, &y, 0);
	}
	if (is_dt(&x) && is_dt(&y)) {
		int cmp;
		if (fp__dt_compare(&x.u.dt, &y.u.dt, FP_DATETIME, &cmp))
			return -1;
		return cmp == 0;
	}
	if (x.kind != y.kind)
		return 0;
	switch (x.kind) {
	case FP_BOOLEAN: return x.u.b == y.u.b;
	case FP_STRING:
		return x.u.str.len == y.u.str.len && !memcmp(x.u.str.s, y.u.str.s, x.u.str.len);
	case FP_TIME: {
		int cmp;
		if (fp__dt_compare(&x.u.dt, &y.u.dt, FP_TIME, &cmp))
			return -1;
		return cmp == 0;
	}
	default: return 0;
	}
}

/* Case-insensitive comparison with whitespace runs counting as one space. */
static int str_equiv(const char *a, size_t al, const char *b, size_t bl)
{
	size_t i = 0, j = 0;
	while (i < al && isspace((unsigned char)a[i]))
		i++;
	while (j < bl && isspace((unsigned char)b[j]))
		j++;
	while (i < al && j < bl) {
		if (isspace((unsigned char)a[i]) && isspace((unsigned char)b[j])) {
			while (i < al && isspace((unsigned char)a[i]))
				i++;
			while (j < bl && isspace((unsigned char)b[j]))
				j++;
			if ((i == al) != (j == bl))
				return 0;
			continue;
		}
		if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[j]))
			return 0;
		i++;
		j++;
	}
	while (i < al && isspace((unsigned char)a[i]))
		i++;
	while (j < bl && isspace((unsigned char)b[j]))
		j++;
	return i == al && j == bl;
}

static int scale_of(double d)
{
	char tmp[64];
	snprintf(tmp, sizeof tmp, "%.15g", d);
	const char *dot = strchr(tmp, '.');
	return dot ? (int)strlen(dot + 1) : 0;
}

int fp__equiv(const fp_item *a, const fp_item *b)
{
	fp_item x, y;
	int ax = fp__value(a, &x), by = fp__value(b, &y);
	if (ax || by) {
		if (ax && by)
			return node_equal(a, b);
		return 0;
	}
	if (is_num(&x) && is_num(&y)) {
		/* compare at the precision of the less precise operand */
		int sx = x.kind == FP_DECIMAL ? (x.scale ? x.scale : scale_of(x.u.d)) : 0;
		int sy = y.kind == FP_DECIMAL ? (y.scale ? y.scale : scale_of(y.u.d)) : 0;
		int s = sx < sy ? sx : sy;
		double f = pow(10, s);
		return dec_equal(round(num(&x) * f), round(num(&y) * f));
	}
	if (x.kind == FP_QUANTITY && y.kind == FP_QUANTITY)
		return fp__quantity_equal(&x, &y, 1);
	if (is_dt(&x) && is_dt(&y)) {
		int cmp;
		if (fp__dt_compare(&x.u.dt, &y.u.dt, FP_DATETIME, &cmp))
			return 0;
		return cmp == 0;
	}
	if (x.kind != y.kind)
		return 0;
	switch (x.kind) {
	case FP_BOOLEAN: return x.u.b == y.u.b;
	case FP_STRING: return str_equiv(x.u.str.s, x.u.str.len, y.u.str.s, y.u.str.len);
	case FP_TIME: {
		int cmp;
		if (fp__dt_compare(&x.u.dt, &y.u.dt, FP_TIME, &cmp))
			return 0;
		return cmp == 0;
	}
	default: return 0;
	}
}

int fp__compare(const fp_item *a, const fp_item *b, int *cmp)
{
	fp_item x, y;
	if (fp__value(a, &x) || fp__value(b, &y))
		return -1;
	if (is_num(&x) && is_num(&y)) {
		double p = num(&x), q = num(&y);
		*cmp = p < q ? -1 : p > q ? 1 : 0;
		return 0;
	}
	if (is_dt(&x) && is_dt(&y))
		return fp__dt_compare(&x.u.dt, &y.u.dt, FP_DATETIME, cmp);
	if (x.kind != y.kind)
		return -1;
	switch (x.kind) {
	case FP_STRING: {
		size_t n = x.u.str.len < y.u.str.len ? x.u.str.len : y.u.str.len;
		int r = memcmp(x.u.str.s, y.u.str.s, n);
		*cmp = r ? r : (x.u.str.len < y.u.str.len ? -1 : x.u.str.len > y.u.str.len);
		return 0;
	}
	case FP_TIME: return fp__dt_compare(&x.u.dt, &y.u.dt, FP_TIME, cmp);
	case FP_QUANTITY: return fp__quantity_compare(&x, &y, cmp);
	default: return -1;
	}
}

static const char *fmt_decimal(arena *a, double d, int scale)
{
	char tmp[64];
	if (scale > 0 && scale < 20)
		snprintf(tmp, sizeof tmp, "%.*f", scale, d);
	else
		snprintf(tmp, sizeof tmp, "%.15g", d);
	if (!strchr(tmp, '.') && !strchr(tmp, 'e') && scale > 0)
		return arena_printf(a, "%s.0", tmp);
	return arena_strdup(a, tmp);
}

const char *fp__to_string(arena *a, const fp_item *it, size_t *len)
{
	fp_item v;
	const char *s;
	char tmp[64];
	if (fp__value(it, &v))
		return NULL;
	switch ((fp_kind)v.kind) {
	case FP_STRING: *len = v.u.str.len; return v.u.str.s;
	case FP_BOOLEAN: s = v.u.b ? "true" : "false"; break;
	case FP_INTEGER: s = arena_printf(a, "%lld", (long long)v.u.i); break;
	case FP_DECIMAL: s = fmt_decimal(a, v.u.d, v.scale); break;
	case FP_DATE:
	case FP_DATETIME:
	case FP_TIME:
		fp__format_dt(&v.u.dt, v.kind, tmp, sizeof tmp);
		s = arena_strdup(a, tmp);
		break;
	case FP_QUANTITY: {
		const char *u = v.u.q.unit;
		int cal = fp__calendar_unit(u, strlen(u)) == u;
		s = arena_printf(a, cal ? "%s %s" : "%s '%s'", fmt_decimal(a, v.u.q.value, v.scale),
		                 u);
		break;
	}
	default: return NULL;
	}
	*len = strlen(s);
	return s;
}

const char *fp__type_name(const fp_item *it)
{
	static const char *const names[] = {NULL,   "Boolean",  "String", "Integer", "Decimal",
	                                    "Date", "DateTime", "Time",   "Quantity"};
	if (it->kind == FP_NODE)
		return it->type ? model_type_name(it->type) : NULL;
	return it->kind < FP_TYPEINFO ? names[it->kind] : "ClassInfo";
}

bool fp__coll_has(const fp_coll *c, const fp_item *it, int equiv)
{
	for (size_t i = 0; i < c->count; i++) {
		int r = equiv ? fp__equiv(&c->items[i], it) : fp__equal(&c->items[i], it);
		if (r == 1)
			return true;
	}
	return false;
}

/* ---- public readers ---- */

size_t fp_collection_count(const fp_collection *c)
{
	return c->count;
}

const fp_item *fp_collection_at(const fp_collection *c, size_t i)
{
	return i < c->count ? &c->items[i] : NULL;
}

fp_kind fp_item_kind(const fp_item *it)
{
	return (fp_kind)it->kind;
}

const json_t *fp_item_json(const fp_item *it)
{
	return it->kind == FP_NODE ? it->json : NULL;
}

const json_t *fp_item_element(const fp_item *it)
{
	return it->kind == FP_NODE ? it->elem : NULL;
}

const char *fp_item_type(const fp_item *it)
{
	return fp__type_name(it);
}

const fp_item *fp_item_value(const fp_item *it, arena *a)
{
	if (it->kind != FP_NODE)
		return it->kind == FP_TYPEINFO ? NULL : it;
	fp_item v;
	if (fp__value(it, &v))
		return NULL;
	fp_item *r = arena_alloc(a, sizeof *r);
	*r = v;
	return r;
}

int fp_item_boolean(const fp_item *it)
{
	return it->kind == FP_BOOLEAN ? it->u.b : 0;
}

int64_t fp_item_integer(const fp_item *it)
{
	int64_t i = 0;
	if (it->kind == FP_INTEGER)
		return it->u.i;
	if (it->kind == FP_DECIMAL)
		(void)fp__dbl_int(it->u.d, &i);
	return i;
}

double fp_item_decimal(const fp_item *it)
{
	switch (it->kind) {
	case FP_INTEGER: return (double)it->u.i;
	case FP_DECIMAL: return it->u.d;
	case FP_QUANTITY: return it->u.q.value;
	default: return 0;
	}
}

const char *fp_item_string(const fp_item *it, arena *a)
{
	size_t len;
	const char *s = fp__to_string(a, it, &len);
	if (s && (it->kind == FP_STRING || it->kind == FP_NODE))
		return arena_strndup(a, s, len);
	return s;
}

const char *fp_item_quantity_unit(const fp_item *it)
{
	return it->kind == FP_QUANTITY ? it->u.q.unit : NULL;
}

json_t *fp_collection_to_json(const fp_collection *c)
{
	json_t *arr = json_array();
	arena *a = arena_new(0);
	for (size_t i = 0; i < c->count; i++) {
		const fp_item *it = &c->items[i];
		json_t *v = NULL;
		size_t len;
		switch ((int)it->kind) {
		case FP_NODE:
			v = it->json   ? json_deep_copy(it->json)
			    : it->elem ? json_deep_copy(it->elem)
			               : json_object();
			break;
		case FP_BOOLEAN: v = json_boolean(it->u.b); break;
		case FP_INTEGER: v = json_integer(it->u.i); break;
		case FP_DECIMAL: v = json_real(it->u.d); break;
		case FP_QUANTITY:
			v = json_pack("{s:f,s:s}", "value", it->u.q.value, "unit", it->u.q.unit);
			break;
		case FP_TYPEINFO:
			v = json_pack("{s:s%,s:s}", "name", it->u.str.s, it->u.str.len, "namespace",
			              it->scale ? "FHIR" : "System");
			break;
		default: {
			const char *s = fp__to_string(a, it, &len);
			v = json_stringn(s ? s : "", s ? len : 0);
			break;
		}
		}
		json_array_append_new(arr, v ? v : json_null());
	}
	arena_free(a);
	return arr;
}
