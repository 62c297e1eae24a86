/*
 * quantity.c - FHIRPath Quantity values: calendar duration words, a small
 * table of UCUM units (mass, length, volume, time, common clinical units) to
 * compare and add quantities in different but commensurable units, parsing
 * "5 'mg'" / "1 day" strings, multiplication and division. Units outside the
 * table compare only with the very same unit. Used by value.c and ops.c.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp_int.h"

/* Calendar words, singular and plural, to their canonical singular. */
const char *fp__calendar_unit(const char *w, size_t len)
{
	static const char *const words[] = {"year",   "month",  "week",   "day",
	                                    "hour",   "minute", "second", "millisecond"};
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		size_t n = strlen(words[i]);
		if ((len == n || (len == n + 1 && w[n] == 's')) && !strncmp(w, words[i], n))
			return words[i];
	}
	return NULL;
}

typedef struct ucum_unit {
	const char *code;
	const char *dim; /* dimension key */
	double factor;   /* to the dimension's base */
} ucum_unit;

static const ucum_unit UNITS[] = {
	{"g", "g", 1},         {"mg", "g", 1e-3},        {"ug", "g", 1e-6},
	{"kg", "g", 1e3},      {"ng", "g", 1e-9},        {"[lb_av]", "g", 453.59237},
	{"[oz_av]", "g", 28.349523125},
	{"m", "m", 1},         {"cm", "m", 1e-2},        {"mm", "m", 1e-3},
	{"km", "m", 1e3},      {"um", "m", 1e-6},        {"[in_i]", "m", 0.0254},
	{"[ft_i]", "m", 0.3048},
	{"L", "L", 1},         {"l", "L", 1},            {"mL", "L", 1e-3},
	{"dL", "L", 1e-1},     {"uL", "L", 1e-6},
	{"s", "s", 1},         {"ms", "s", 1e-3},        {"min", "s", 60},
	{"h", "s", 3600},      {"d", "s", 86400},        {"wk", "s", 604800},
	{"mo", "s", 2629800},  {"a", "s", 31557600},
	{"mg/dL", "g/L", 1e-2}, {"g/dL", "g/L", 10},     {"g/L", "g/L", 1},
	{"mg/L", "g/L", 1e-3},
	{"mm[Hg]", "mm[Hg]", 1},
	{"Cel", "Cel", 1},
	{"%", "%", 1},
	{"1", "1", 1},
};

/* Calendar words equal to UCUM only from week down (year/month are not). */
static const char *calendar_to_ucum(const char *u, int equiv)
{
	static const char *const map[][2] = {{"week", "wk"},   {"day", "d"},  {"hour", "h"},
	                                     {"minute", "min"}, {"second", "s"},
	                                     {"millisecond", "ms"}, {"year", "a"}, {"month", "mo"}};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(map[i][0], u))
			return (i < 6 || equiv) ? map[i][1] : u;
	return u;
}

static const ucum_unit *find_unit(const char *code)
{
	for (size_t i = 0; i < sizeof UNITS / sizeof UNITS[0]; i++)
		if (!strcmp(UNITS[i].code, code))
			return &UNITS[i];
	return NULL;
}

/* Both quantities in one unit: 0 and the two values, or -1 if incommensurable. */
static int common(const fp_item *a, const fp_item *b, int equiv, double *x, double *y)
{
	const char *ua = calendar_to_ucum(a->u.q.unit, equiv);
	const char *ub = calendar_to_ucum(b->u.q.unit, equiv);
	if (!strcmp(ua, ub)) {
		*x = a->u.q.value;
		*y = b->u.q.value;
		return 0;
	}
	const ucum_unit *pa = find_unit(ua), *pb = find_unit(ub);
	if (!pa || !pb || strcmp(pa->dim, pb->dim))
		return -1;
	/* calendar year/month against UCUM are not comparable for '=' */
	if (!equiv && (!strcmp(ua, "year") || !strcmp(ua, "month") || !strcmp(ub, "year") ||
	               !strcmp(ub, "month")))
		return -1;
	*x = a->u.q.value * pa->factor;
	*y = b->u.q.value * pb->factor;
	return 0;
}

static int digits_after_point(double v)
{
	char t[64];
	snprintf(t, sizeof t, "%.12g", v);
	const char *d = strchr(t, '.');
	return d ? (int)strlen(d + 1) : 0;
}

int fp__quantity_compare(const fp_item *a, const fp_item *b, int *cmp)
{
	double x, y;
	if (common(a, b, 0, &x, &y))
		return 1;
	double m = fmax(1.0, fmax(fabs(x), fabs(y)));
	*cmp = fabs(x - y) <= 1e-10 * m ? 0 : x < y ? -1 : 1;
	return 0;
}

int fp__quantity_equal(const fp_item *a, const fp_item *b, int equiv)
{
	double x, y;
	if (common(a, b, equiv, &x, &y))
		return equiv ? 0 : -1;
	double m = fmax(1.0, fmax(fabs(x), fabs(y)));
	if (equiv) {
		/* compare at the precision of the less precise operand: each
		 * operand's last written digit, expressed in the common unit */
		double fa = a->u.q.value != 0 ? x / a->u.q.value : 1;
		double fb = b->u.q.value != 0 ? y / b->u.q.value : 1;
		double step_a = pow(10, -digits_after_point(a->u.q.value)) * fabs(fa);
		double step_b = pow(10, -digits_after_point(b->u.q.value)) * fabs(fb);
		double step = step_a > step_b ? step_a : step_b;
		return round(x / step) == round(y / step);
	}
	return fabs(x - y) <= 1e-10 * m;
}

int fp__quantity_parse(arena *a, const char *s, fp_item *out)
{
	const char *p = s;
	while (isspace((unsigned char)*p))
		p++;
	char *end;
	if (!(*p == '-' || *p == '+' || isdigit((unsigned char)*p)))
		return -1;
	const char *digit = p + (*p == '-' || *p == '+');
	if (!isdigit((unsigned char)*digit))
		return -1;
	double v = strtod(p, &end);
	if (end == p || end[-1] == '.' || (*end && strchr("eE", *end)) || (*end && !isspace((unsigned char)*end)))
		return -1;
	for (const char *q = p; q < end; q++)
		if (*q == 'e' || *q == 'E')
			return -1;
	memset(out, 0, sizeof *out);
	out->kind = FP_QUANTITY;
	out->u.q.value = v;
	out->u.q.unit = "1";
	p = end;
	while (isspace((unsigned char)*p))
		p++;
	if (!*p)
		return 0;
	if (*p == '\'') {
		const char *e = strchr(p + 1, '\'');
		if (!e || e[1])
			return -1;
		out->u.q.unit = arena_strndup(a, p + 1, (size_t)(e - p - 1));
		return 0;
	}
	const char *cal = fp__calendar_unit(p, strlen(p));
	if (!cal)
		return -1;
	out->u.q.unit = cal;
	return 0;
}

int fp__quantity_mul(arena *a, const fp_item *x, const fp_item *y, int divide, fp_item *out)
{
	const char *ux = calendar_to_ucum(x->u.q.unit, 1), *uy = calendar_to_ucum(y->u.q.unit, 1);
	double vx = x->u.q.value, vy = y->u.q.value;
	memset(out, 0, sizeof *out);
	out->kind = FP_QUANTITY;
	if (strcmp(ux, uy)) {
		const ucum_unit *px = find_unit(ux), *py = find_unit(uy);
		if (px && py && !strcmp(px->dim, py->dim) && strcmp(px->dim, "1")) {
			/* same dimension: convert y to x's unit */
			vy = vy * py->factor / px->factor;
			uy = ux;
		}
	}
	if (divide) {
		if (vy == 0)
			return 1;
		out->u.q.value = vx / vy;
		if (!strcmp(ux, uy))
			out->u.q.unit = "1";
		else if (!strcmp(uy, "1"))
			out->u.q.unit = ux;
		else
			out->u.q.unit = arena_printf(a, "%s/%s", ux, uy);
	} else {
		out->u.q.value = vx * vy;
		if (!strcmp(ux, "1"))
			out->u.q.unit = uy;
		else if (!strcmp(uy, "1"))
			out->u.q.unit = ux;
		else if (!strcmp(ux, uy))
			out->u.q.unit = arena_printf(a, "%s2", ux);
		else
			out->u.q.unit = arena_printf(a, "%s.%s", ux, uy);
	}
	return 0;
}
