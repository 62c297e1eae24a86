/*
 * index.c - search_index() (search.h): the index rows of one resource,
 * extracted on write by evaluating every search parameter that applies to its
 * type (the table pid.c compiles at search_init) and turning each result item
 * into rows by parameter type and FHIR type, as search_int.h describes. The
 * full-text rows (_text, _content) come from index_text.c. Evaluation uses a
 * scratch arena freed before returning; rows and their strings are copied
 * into the caller's arena. Reentrant: no state beyond the immutable table.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "../fhirpath/fhirpath.h"
#include "search_int.h"

/* ---- rows ---- */

search_row *search__row_add(search__index_ctx *c, search_row_kind kind)
{
	search_rows *out = c->out;

	if (out->count == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 64;
		search_row *items = arena_alloc(c->a, cap * sizeof *items);
		if (out->count)
			memcpy(items, out->items, out->count * sizeof *items);
		out->items = items;
		out->cap = cap;
	}
	search_row *r = &out->items[out->count++];
	memset(r, 0, sizeof *r);
	r->kind = kind;
	r->pid = c->pid;
	r->grp = c->grp;
	for (int i = 0; i < 5; i++)
		r->s[i] = "";
	return r;
}

/* A copy of s in the output arena ("" for NULL). */
const char *search__str(search__index_ctx *c, const char *s)
{
	return s && *s ? arena_strdup(c->a, s) : "";
}

/* The string member `key` of object o, or NULL. */
static const char *member(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void add_string(search__index_ctx *c, const char *s)
{
	if (s == NULL || *s == '\0')
		return;
	search_row *r = search__row_add(c, SEARCH_ROW_STRING);
	r->s[0] = search_normalize(c->a, s);
	r->s[1] = search__str(c, s);
}

/* Each string member of `keys`, and each string of an array member. */
static void add_string_parts(search__index_ctx *c, const json_t *o, const char *const *keys)
{
	for (; *keys; keys++) {
		const json_t *v = json_object_get(o, *keys);
		if (json_is_array(v)) {
			size_t i;
			const json_t *e;
			json_array_foreach(v, i, e)
			{
				add_string(c, json_string_value(e));
			}
		} else {
			add_string(c, json_string_value(v));
		}
	}
}

static const char *const name_parts[] = {"family", "given", "prefix", "suffix", "text", NULL};
static const char *const address_parts[] = {"line",       "city",    "district", "state",
                                            "postalCode", "country", "text",     NULL};

static void index_string(search__index_ctx *c, const fp_item *it)
{
	const json_t *j = fp_item_json(it);
	const char *t = fp_item_type(it);

	if (fp_item_kind(it) == FP_STRING) {
		add_string(c, fp_item_string(it, c->scratch));
	} else if (json_is_string(j)) {
		add_string(c, json_string_value(j));
	} else if (t && strcmp(t, "HumanName") == 0) {
		add_string_parts(c, j, name_parts);
	} else if (t && strcmp(t, "Address") == 0) {
		add_string_parts(c, j, address_parts);
	}
}

/* ---- token ---- */

static void add_token(search__index_ctx *c, const char *system, const char *code, const char *text)
{
	search_row *r = search__row_add(c, SEARCH_ROW_TOKEN);
	r->s[0] = search__str(c, system);
	r->s[1] = search__str(c, code);
	r->s[2] = text && *text ? search_normalize(c->a, text) : "";
}

static void add_coding(search__index_ctx *c, const json_t *coding)
{
	const char *system = member(coding, "system"), *code = member(coding, "code");
	const char *display = member(coding, "display");

	if (system || code || display)
		add_token(c, system, code, display);
}

static void add_codeable(search__index_ctx *c, const json_t *cc)
{
	size_t i;
	const json_t *coding;

	json_array_foreach(json_object_get(cc, "coding"), i, coding)
	{
		add_coding(c, coding);
	}
	const char *text = member(cc, "text");
	if (text && *text)
		add_token(c, NULL, NULL, text);
}

static void add_identifier(search__index_ctx *c, const json_t *id)
{
	const json_t *type = json_object_get(id, "type");
	const char *value = member(id, "value"), *system = member(id, "system");
	size_t i;
	const json_t *coding;

	if (value == NULL && system == NULL)
		return;
	add_token(c, system, value, member(type, "text"));
	if (value == NULL)
		return;
	/* :of-type rows (search_int.h, SEARCH_OF_TYPE_COMPONENT) */
	uint32_t pid = c->pid;
	c->pid = search_component_pid(pid, SEARCH_OF_TYPE_COMPONENT);
	json_array_foreach(json_object_get(type, "coding"), i, coding)
	{
		const char *tcode = member(coding, "code");
		if (tcode == NULL)
			continue;
		search_row *r = search__row_add(c, SEARCH_ROW_TOKEN);
		r->s[0] = search__str(c, member(coding, "system"));
		r->s[1] = search__str(c, tcode);
		r->s[2] = search__str(c, value);
	}
	c->pid = pid;
}

static void index_token(search__index_ctx *c, const fp_item *it)
{
	const json_t *j = fp_item_json(it);
	const char *t = fp_item_type(it);

	switch (fp_item_kind(it)) {
	case FP_BOOLEAN: add_token(c, NULL, fp_item_boolean(it) ? "true" : "false", NULL); return;
	case FP_NODE: break;
	default: {
		const char *v = fp_item_string(it, c->scratch);
		if (v && *v)
			add_token(c, NULL, v, NULL);
		return;
	}
	}
	if (json_is_string(j))
		add_token(c, NULL, json_string_value(j), NULL);
	else if (json_is_boolean(j))
		add_token(c, NULL, json_is_true(j) ? "true" : "false", NULL);
	else if (json_is_integer(j) || json_is_real(j)) {
		char num[64];
		add_token(c, NULL, search__index_number_text(j, num, sizeof num), NULL);
	} else if (t == NULL || !json_is_object(j))
		return;
	else if (strcmp(t, "CodeableConcept") == 0)
		add_codeable(c, j);
	else if (strcmp(t, "Coding") == 0)
		add_coding(c, j);
	else if (strcmp(t, "Identifier") == 0)
		add_identifier(c, j);
	else if (strcmp(t, "ContactPoint") == 0) {
		const char *v = member(j, "value");
		if (v)
			add_token(c, NULL, v, NULL);
	}
}

/* ---- date ---- */

static void add_date(search__index_ctx *c, int64_t lo, int64_t hi)
{
	search_row *r = search__row_add(c, SEARCH_ROW_DATE);
	r->lo = lo;
	r->hi = hi;
}

/* Range of a Period; 0 when it has a start or an end that parse. */
static int period_range(const json_t *p, int64_t *lo, int64_t *hi)
{
	int64_t l, h;
	int any = 0;

	*lo = INT64_MIN;
	*hi = INT64_MAX;
	if (search__index_date(member(p, "start"), &l, &h) == 0) {
		*lo = l;
		any = 1;
	}
	if (search__index_date(member(p, "end"), &l, &h) == 0) {
		*hi = h;
		any = 1;
	}
	return any ? 0 : -1;
}

/* A Timing's outer limits: its events and repeat.boundsPeriod. */
static void add_timing(search__index_ctx *c, const json_t *timing)
{
	int64_t lo = INT64_MAX, hi = INT64_MIN, l, h;
	size_t i;
	const json_t *ev;
	int any = 0;

	json_array_foreach(json_object_get(timing, "event"), i, ev)
	{
		if (search__index_date(json_string_value(ev), &l, &h) == 0) {
			lo = l < lo ? l : lo;
			hi = h > hi ? h : hi;
			any = 1;
		}
	}
	const json_t *bounds = json_object_get(json_object_get(timing, "repeat"), "boundsPeriod");
	if (bounds && period_range(bounds, &l, &h) == 0) {
		lo = l < lo ? l : lo;
		hi = h > hi ? h : hi;
		any = 1;
	}
	if (any)
		add_date(c, lo, hi);
}

static void index_date(search__index_ctx *c, const fp_item *it)
{
	const json_t *j = fp_item_json(it);
	const char *t = fp_item_type(it);
	int64_t lo, hi;

	if (fp_item_kind(it) != FP_NODE) {
		const char *s = fp_item_string(it, c->scratch);
		if (s && search__index_date(s, &lo, &hi) == 0)
			add_date(c, lo, hi);
		return;
	}
	if (json_is_string(j)) {
		if (search__index_date(json_string_value(j), &lo, &hi) == 0)
			add_date(c, lo, hi);
	} else if (t && strcmp(t, "Period") == 0) {
		if (period_range(j, &lo, &hi) == 0)
			add_date(c, lo, hi);
	} else if (t && strcmp(t, "Timing") == 0) {
		add_timing(c, j);
	}
}

/* ---- number and quantity ---- */

/* Value and range of a JSON number; 0 on success. */
static int json_number(const json_t *v, double *value, double *lo, double *hi)
{
	char num[64];
	const char *s = search__index_number_text(v, num, sizeof num);

	return s ? search__index_number(s, value, lo, hi) : -1;
}

static int item_number(search__index_ctx *c, const fp_item *it, double *value, double *lo,
                       double *hi)
{
	if (fp_item_kind(it) == FP_NODE)
		return json_number(fp_item_json(it), value, lo, hi);
	if (fp_item_kind(it) == FP_INTEGER || fp_item_kind(it) == FP_DECIMAL)
		return search__index_number(fp_item_string(it, c->scratch), value, lo, hi);
	return -1;
}

static void index_number(search__index_ctx *c, const fp_item *it)
{
	double v, lo, hi;
	const json_t *j = fp_item_json(it);
	const char *t = fp_item_type(it);

	if (item_number(c, it, &v, &lo, &hi) == 0) {
		search_row *r = search__row_add(c, SEARCH_ROW_NUMBER);
		r->d[0] = v;
		r->d[1] = lo;
		r->d[2] = hi;
	} else if (t && strcmp(t, "Range") == 0) {
		double lv, ll, lh, hv, hl, hh;
		int has_low = json_number(json_object_get(json_object_get(j, "low"), "value"), &lv,
		                          &ll, &lh) == 0;
		int has_high = json_number(json_object_get(json_object_get(j, "high"), "value"),
		                           &hv, &hl, &hh) == 0;
		if (!has_low && !has_high)
			return;
		search_row *r = search__row_add(c, SEARCH_ROW_NUMBER);
		r->d[0] = has_low ? lv : hv;
		r->d[1] = has_low ? ll : -DBL_MAX;
		r->d[2] = has_high ? hh : DBL_MAX;
	}
}

static int is_quantity_type(const char *t)
{
	static const char *const names[] = {"Quantity",      "Age",   "Duration",
	                                    "Distance",      "Count", "SimpleQuantity",
	                                    "MoneyQuantity", NULL};
	for (const char *const *n = names; t && *n; n++)
		if (strcmp(t, *n) == 0)
			return 1;
	return 0;
}

/* A quantity row from value/system/code; a comparator widens the range. */
static void add_quantity(search__index_ctx *c, double v, double lo, double hi, const char *cmp,
                         const char *system, const char *code)
{
	search_row *r = search__row_add(c, SEARCH_ROW_QUANTITY);
	double cv;
	const char *cc;

	if (cmp && cmp[0] == '<')
		lo = -DBL_MAX, hi = v;
	else if (cmp && cmp[0] == '>')
		lo = v, hi = DBL_MAX;
	r->d[0] = v;
	r->d[1] = lo;
	r->d[2] = hi;
	r->s[0] = search__str(c, system);
	r->s[1] = search__str(c, code);
	if (system && strcmp(system, SEARCH_UCUM) == 0 &&
	    search__ucum_canonical(c->a, code, v, &cv, &cc) == 0) {
		r->d[3] = cv;
		r->s[2] = cc;
	}
}

static void add_quantity_json(search__index_ctx *c, const json_t *q)
{
	double v, lo, hi;
	const char *code = member(q, "code");

	if (json_number(json_object_get(q, "value"), &v, &lo, &hi))
		return;
	add_quantity(c, v, lo, hi, member(q, "comparator"), member(q, "system"),
	             code ? code : member(q, "unit"));
}

static void index_quantity(search__index_ctx *c, const fp_item *it)
{
	const json_t *j = fp_item_json(it);
	const char *t = fp_item_type(it);
	double v, lo, hi;

	if (fp_item_kind(it) == FP_QUANTITY) {
		const char *unit = fp_item_quantity_unit(it);
		const char *s = fp_item_string(it, c->scratch), *sp = s ? strchr(s, ' ') : NULL;
		char num[64];
		size_t n = sp ? (size_t)(sp - s) : 0;
		if (n == 0 || n >= sizeof num)
			return;
		memcpy(num, s, n);
		num[n] = '\0';
		if (search__index_number(num, &v, &lo, &hi) == 0)
			add_quantity(c, v, lo, hi, NULL, SEARCH_UCUM, unit);
		return;
	}
	if (fp_item_kind(it) != FP_NODE || !json_is_object(j) || t == NULL)
		return;
	if (is_quantity_type(t)) {
		add_quantity_json(c, j);
	} else if (strcmp(t, "Money") == 0) {
		if (json_number(json_object_get(j, "value"), &v, &lo, &hi) == 0)
			add_quantity(c, v, lo, hi, NULL, SEARCH_ISO4217, member(j, "currency"));
	} else if (strcmp(t, "Range") == 0) {
		const json_t *low = json_object_get(j, "low"), *high = json_object_get(j, "high");
		double l2, h2, v2;
		int has_low = json_number(json_object_get(low, "value"), &v, &lo, &h2) == 0;
		int has_high = json_number(json_object_get(high, "value"), &v2, &l2, &hi) == 0;
		const json_t *u = has_low ? low : high;
		const char *code = member(u, "code");
		if (!has_low && !has_high)
			return;
		add_quantity(c, has_low ? v : v2, has_low ? lo : -DBL_MAX, has_high ? hi : DBL_MAX,
		             NULL, member(u, "system"), code ? code : member(u, "unit"));
	}
}

/* ---- uri ---- */

static void index_uri(search__index_ctx *c, const fp_item *it)
{
	const char *s = fp_item_kind(it) == FP_NODE     ? json_string_value(fp_item_json(it))
	                : fp_item_kind(it) == FP_STRING ? fp_item_string(it, c->scratch)
	                                                : NULL;
	if (s && *s) {
		search_row *r = search__row_add(c, SEARCH_ROW_URI);
		r->s[0] = search__str(c, s);
	}
}

/* ---- dispatch ---- */

void search__index_item(search__index_ctx *c, model_sp_type type, const fp_item *it)
{
	switch (type) {
	case MODEL_SP_STRING: index_string(c, it); break;
	case MODEL_SP_TOKEN: index_token(c, it); break;
	case MODEL_SP_DATE: index_date(c, it); break;
	case MODEL_SP_NUMBER: index_number(c, it); break;
	case MODEL_SP_QUANTITY: index_quantity(c, it); break;
	case MODEL_SP_REFERENCE: search__index_reference(c, it); break;
	case MODEL_SP_URI: index_uri(c, it); break;
	case MODEL_SP_COMPOSITE:
	case MODEL_SP_SPECIAL: break;
	}
}

/* Evaluate e on the resource; 0 and *out on success, else a warning. */
static int eval(search__index_ctx *c, const search__param *p, const fp_expr *e, fp_collection *out)
{
	diag_list ld;
	fp_env env = {0};

	diag_init(&ld, c->scratch);
	env.resource = c->resource;
	env.max_bytes = 64u << 20;
	if (fp_eval(e, c->resource, &env, c->scratch, out, &ld) == 0)
		return 0;
	if (c->d)
		diag_add(c->d, DIAG_WARNING, "processing", p->sp->code,
		         "search parameter %s of %s not indexed: %s", p->sp->code, c->type,
		         ld.count ? ld.items[0].message : "evaluation failed");
	return -1;
}

static void index_composite(search__index_ctx *c, const search__param *p)
{
	for (size_t k = 0; k < p->sp->component_count; k++) {
		fp_collection col;
		if (p->comp_sp[k] == NULL || p->comp_expr[k] == NULL ||
		    eval(c, p, p->comp_expr[k], &col))
			continue;
		c->pid = search_component_pid(p->pid, (unsigned)k);
		c->grp = 1;
		for (size_t i = 0; i < fp_collection_count(&col); i++) {
			const fp_item *it = fp_collection_at(&col, i);
			if (fp_item_kind(it) == FP_STRING) {
				const char *s = fp_item_string(it, c->scratch);
				if (s && strcmp(s, SEARCH__GROUP_MARK) == 0) {
					c->grp++;
					continue;
				}
			}
			search__index_item(c, p->comp_sp[k]->type, it);
		}
	}
	c->grp = 0;
	c->pid = p->pid;
}

/* Location.near (special): a Location.position as number rows latitude
 * (component 0) and longitude (component 1) sharing grp, for the query side
 * to compute distances; other special parameters have no rows. */
static void index_position(search__index_ctx *c, const search__param *p, const fp_item *it,
                           uint32_t grp)
{
	static const char *const axes[] = {"latitude", "longitude"};
	const json_t *pos = fp_item_json(it);
	double v[2], lo, hi;

	if (strcmp(p->sp->code, "near") != 0 || !json_is_object(pos))
		return;
	for (int k = 0; k < 2; k++)
		if (json_number(json_object_get(pos, axes[k]), &v[k], &lo, &hi))
			return;
	c->grp = grp;
	for (unsigned k = 0; k < 2; k++) {
		c->pid = search_component_pid(p->pid, k);
		search_row *r = search__row_add(c, SEARCH_ROW_NUMBER);
		r->d[0] = r->d[1] = r->d[2] = v[k];
	}
	c->pid = p->pid;
	c->grp = 0;
}

static void add_patient(search__index_ctx *c, const char *id)
{
	search_rows *out = c->out;

	if (id == NULL || *id == '\0' || *id == '#')
		return;
	for (size_t i = 0; i < out->npatients; i++)
		if (strcmp(out->patients[i], id) == 0)
			return;
	if (out->npatients == out->patients_cap) {
		size_t cap = out->patients_cap ? out->patients_cap * 2 : 4;
		const char **p = arena_alloc(c->a, cap * sizeof *p);
		if (out->npatients)
			memcpy(p, out->patients, out->npatients * sizeof *p);
		out->patients = p;
		out->patients_cap = cap;
	}
	out->patients[out->npatients++] = id;
}

static int rows_equal(const search_row *x, const search_row *y)
{
	if (x->kind != y->kind || x->pid != y->pid || x->grp != y->grp || x->lo != y->lo ||
	    x->hi != y->hi || memcmp(x->d, y->d, sizeof x->d) != 0)
		return 0;
	for (int i = 0; i < 5; i++)
		if (strcmp(x->s[i], y->s[i]) != 0)
			return 0;
	return 1;
}

/* Drop repeated rows among those from `first` (a name given twice, a code in
 * two codings); quadratic, so only for the usual handful of rows. */
static void dedupe(search__index_ctx *c, size_t first)
{
	search_rows *out = c->out;
	size_t n = first;

	if (out->count - first > 64)
		return;
	for (size_t i = first; i < out->count; i++) {
		size_t j;
		for (j = first; j < n; j++)
			if (rows_equal(&out->items[j], &out->items[i]))
				break;
		if (j == n)
			out->items[n++] = out->items[i];
	}
	out->count = n;
}

static void index_param(search__index_ctx *c, const search__param *p)
{
	fp_collection col;
	size_t first = c->out->count;

	c->pid = p->pid;
	c->grp = 0;
	if (p->sp->type == MODEL_SP_COMPOSITE) {
		if (p->comp_expr)
			index_composite(c, p);
		dedupe(c, first);
		return;
	}
	if (eval(c, p, p->expr, &col))
		return;
	for (size_t i = 0; i < fp_collection_count(&col); i++) {
		if (p->sp->type == MODEL_SP_SPECIAL)
			index_position(c, p, fp_collection_at(&col, i), (uint32_t)i + 1);
		else
			search__index_item(c, p->sp->type, fp_collection_at(&col, i));
	}
	dedupe(c, first);
	if (!p->in_compartment)
		return;
	for (size_t i = first; i < c->out->count; i++) {
		const search_row *r = &c->out->items[i];
		if (r->kind == SEARCH_ROW_REFERENCE && strcmp(r->s[0], "Patient") == 0 && !*r->s[2])
			add_patient(c, r->s[1]);
	}
}

int search_index(const json_t *resource, const char *type, const char *id, arena *a,
                 search_rows *out, diag_list *d)
{
	return search_index_base(resource, type, id, NULL, a, out, d);
}

int search_index_base(const json_t *resource, const char *type, const char *id, const char *base,
                      arena *a, search_rows *out, diag_list *d)
{
	const search__type *t;
	search__index_ctx c = {0};

	memset(out, 0, sizeof *out);
	if (search_init() || !json_is_object(resource) || (t = search__type_get(type)) == NULL) {
		if (d)
			diag_error(d, "not-supported", NULL,
			           "resources of type %s cannot be indexed",
			           type ? type : "(none)");
		return -1;
	}
	c.a = a;
	c.base = base;
	c.base_len = base ? strlen(base) : 0;
	c.scratch = arena_new(64 * 1024);
	c.resource = resource;
	c.type = t->name;
	c.id = id;
	c.out = out;
	c.d = d;
	for (size_t i = 0; i < t->count; i++) {
		const search__param *p = &t->params[i];
		if (p->expr)
			index_param(&c, p);
		else if (p->sp->expression == NULL || *p->sp->expression == '\0')
			search__index_text(&c, p); /* _text, _content */
		arena_reset(c.scratch);
	}
	if (strcmp(t->name, "Patient") == 0 && id)
		add_patient(&c, search__str(&c, id));
	arena_free(c.scratch);
	for (size_t i = 0; i < out->count; i++) {
		search_row *r = &out->items[i];
		if (r->kind == SEARCH_ROW_TEXT)
			continue;
		for (int k = 0; k < 5; k++)
			if (r->s[k])
				r->s[k] = search_cap(a, r->s[k]);
	}
	return 0;
}

const char *search_cap(arena *a, const char *s)
{
	size_t n = strlen(s);
	if (n <= SEARCH_MAX_VALUE)
		return s;
	n = SEARCH_MAX_VALUE;
	while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--; /* s[n] continues a character: cut before that character */
	return arena_strndup(a, s, n);
}
