/*
 * quantity.c - FHIRPath Quantity values: calendar duration words, a small
 * UCUM parser (prefixes, products, quotients, exponents, annotations over a
 * table of common atoms: mass, length, volume, time, amount, pressure, units)
 * that reduces a unit to a factor and base dimensions so quantities in
 * commensurable units compare, add and multiply; parsing of "5 'mg'" and
 * "1 day". Other units compare only with the very same unit. No state.
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
	static const char *const words[] = {"year", "month",  "week",   "day",
	                                    "hour", "minute", "second", "millisecond"};
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		size_t n = strlen(words[i]);
		if ((len == n || (len == n + 1 && w[n] == 's')) && !strncmp(w, words[i], n))
			return words[i];
	}
	return NULL;
}

/* A UCUM unit reduced to a factor times powers of base dimensions. */
enum { DIM_G, DIM_M, DIM_S, DIM_MOL, DIM_K, DIM_U, DIM_IU, DIM_EQ, NDIM };

typedef struct ucum_val {
	double factor;
	int8_t dim[NDIM];
} ucum_val;

typedef struct ucum_atom {
	const char *code;
	int prefixable;
	double factor;
	int8_t dim[NDIM];
} ucum_atom;

static const ucum_atom ATOMS[] = {
        {"g", 1, 1, {[DIM_G] = 1}},
        {"m", 1, 1, {[DIM_M] = 1}},
        {"s", 1, 1, {[DIM_S] = 1}},
        {"L", 1, 1e-3, {[DIM_M] = 3}},
        {"l", 1, 1e-3, {[DIM_M] = 3}},
        {"mol", 1, 1, {[DIM_MOL] = 1}},
        {"K", 1, 1, {[DIM_K] = 1}},
        {"Pa", 1, 1000, {[DIM_G] = 1, [DIM_M] = -1, [DIM_S] = -2}},
        {"U", 1, 1, {[DIM_U] = 1}},
        {"[iU]", 1, 1, {[DIM_IU] = 1}},
        {"[IU]", 1, 1, {[DIM_IU] = 1}},
        {"eq", 1, 1, {[DIM_EQ] = 1}},
        {"min", 0, 60, {[DIM_S] = 1}},
        {"h", 0, 3600, {[DIM_S] = 1}},
        {"d", 0, 86400, {[DIM_S] = 1}},
        {"wk", 0, 604800, {[DIM_S] = 1}},
        {"mo", 0, 2629800, {[DIM_S] = 1}},
        {"a", 0, 31557600, {[DIM_S] = 1}},
        {"[lb_av]", 0, 453.59237, {[DIM_G] = 1}},
        {"[oz_av]", 0, 28.349523125, {[DIM_G] = 1}},
        {"[in_i]", 0, 0.0254, {[DIM_M] = 1}},
        {"[ft_i]", 0, 0.3048, {[DIM_M] = 1}},
        {"mm[Hg]", 0, 133322.387415, {[DIM_G] = 1, [DIM_M] = -1, [DIM_S] = -2}},
        {"%", 0, 0.01, {0}},
        {"1", 0, 1, {0}},
};

static const struct {
	char p;
	double f;
} PREFIXES[] = {{'k', 1e3},  {'h', 1e2},   {'d', 1e-1},  {'c', 1e-2}, {'m', 1e-3}, {'u', 1e-6},
                {'n', 1e-9}, {'p', 1e-12}, {'f', 1e-15}, {'M', 1e6},  {'G', 1e9}};

static const ucum_atom *atom_exact(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof ATOMS / sizeof ATOMS[0]; i++)
		if (strlen(ATOMS[i].code) == n && !strncmp(ATOMS[i].code, s, n))
			return &ATOMS[i];
	return NULL;
}

/* One symbol such as "mg", "[lb_av]", "10*3" into *v. */
static int ucum_symbol(const char *s, size_t n, ucum_val *v)
{
	memset(v, 0, sizeof *v);
	v->factor = 1;
	if (n > 3 && !strncmp(s, "10*", 3)) {
		v->factor = pow(10, strtol(s + 3, NULL, 10));
		return 0;
	}
	const ucum_atom *a = atom_exact(s, n);
	double f = 1;
	if (!a && n > 1) {
		for (size_t i = 0; i < sizeof PREFIXES / sizeof PREFIXES[0]; i++) {
			if (s[0] == PREFIXES[i].p && (a = atom_exact(s + 1, n - 1)) &&
			    a->prefixable) {
				f = PREFIXES[i].f;
				break;
			}
			a = NULL;
		}
	}
	if (!a)
		return -1;
	v->factor = a->factor * f;
	memcpy(v->dim, a->dim, sizeof v->dim);
	return 0;
}

/* Multiply *acc by v to the power exp. */
static void ucum_mul(ucum_val *acc, const ucum_val *v, int exp)
{
	acc->factor *= pow(v->factor, exp);
	for (int i = 0; i < NDIM; i++)
		acc->dim[i] = (int8_t)(acc->dim[i] + v->dim[i] * exp);
}

static int ucum_term(const char **p, ucum_val *out, int depth);

/* component: '(' term ')' | symbol exponent? ; annotations {..} are ignored */
static int ucum_component(const char **p, ucum_val *out, int depth)
{
	const char *s = *p;
	if (*s == '(') {
		s++;
		if (ucum_term(&s, out, depth + 1) || *s != ')')
			return -1;
		s++;
	} else if (*s == '{') {
		memset(out, 0, sizeof *out);
		out->factor = 1;
	} else {
		const char *e = s;
		int bracket = 0;
		while (*e && (bracket ||
		              (*e != '.' && *e != '/' && *e != '(' && *e != ')' && *e != '{'))) {
			if (*e == '[')
				bracket = 1;
			else if (*e == ']')
				bracket = 0;
			e++;
		}
		/* trailing exponent digits, unless the whole symbol is digits ("10*3" handled) */
		const char *x = e;
		while (x > s && (isdigit((unsigned char)x[-1]) || x[-1] == '-' || x[-1] == '+'))
			x--;
		if (x == s || !strncmp(s, "10*", 3))
			x = e;
		if (ucum_symbol(s, (size_t)(x - s), out))
			return -1;
		if (x < e) {
			int exp = (int)strtol(x, NULL, 10);
			if (exp < -9 || exp > 9)
				return -1;
			ucum_val base = *out;
			memset(out, 0, sizeof *out);
			out->factor = 1;
			ucum_mul(out, &base, exp);
		}
		s = e;
	}
	if (*s == '{') {
		const char *e = strchr(s, '}');
		if (!e)
			return -1;
		s = e + 1;
	}
	*p = s;
	return 0;
}

static int ucum_term(const char **p, ucum_val *out, int depth)
{
	if (depth > 8)
		return -1;
	memset(out, 0, sizeof *out);
	out->factor = 1;
	int sign = 1;
	if (**p == '/') {
		sign = -1;
		(*p)++;
	}
	for (;;) {
		ucum_val c;
		if (ucum_component(p, &c, depth))
			return -1;
		ucum_mul(out, &c, sign);
		if (**p == '.')
			sign = 1;
		else if (**p == '/')
			sign = -1;
		else
			return 0;
		(*p)++;
	}
}

static int ucum_parse(const char *unit, ucum_val *out)
{
	const char *p = unit;
	if (!*p || ucum_term(&p, out, 0) || *p)
		return -1;
	return 0;
}

/* Calendar words equal to UCUM only from week down (year/month are not). */
static const char *calendar_to_ucum(const char *u, int equiv)
{
	static const char *const map[][2] = {
	        {"week", "wk"},  {"day", "d"},          {"hour", "h"}, {"minute", "min"},
	        {"second", "s"}, {"millisecond", "ms"}, {"year", "a"}, {"month", "mo"}};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(map[i][0], u))
			return (i < 6 || equiv) ? map[i][1] : u;
	return u;
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
	/* calendar year/month words are no UCUM units: they match only themselves */
	ucum_val pa, pb;
	if (ucum_parse(ua, &pa) || ucum_parse(ub, &pb) || memcmp(pa.dim, pb.dim, sizeof pa.dim))
		return -1;
	*x = a->u.q.value * pa.factor;
	*y = b->u.q.value * pb.factor;
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
	if (end == p || end[-1] == '.' || (*end && strchr("eE", *end)) ||
	    (*end && !isspace((unsigned char)*end)))
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
	ucum_val px, py;
	static const int8_t none[NDIM];
	if (strcmp(ux, uy) && ucum_parse(ux, &px) == 0 && ucum_parse(uy, &py) == 0 &&
	    !memcmp(px.dim, py.dim, sizeof px.dim) && memcmp(px.dim, none, sizeof none)) {
		/* same dimension: convert y to x's unit */
		vy = vy * py.factor / px.factor;
		uy = ux;
	}
	/* a unit made of several symbols goes in parentheses when combined */
	if (strlen(ux) + strlen(uy) > 200)
		return 1; /* a unit this complex is no measurement: empty */
	const char *wx = strpbrk(ux, "./") ? arena_printf(a, "(%s)", ux) : ux;
	const char *wy = strpbrk(uy, "./") ? arena_printf(a, "(%s)", uy) : uy;
	int simple =
	        strspn(ux, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ[]_") == strlen(ux);
	if (divide) {
		if (vy == 0)
			return 1;
		out->u.q.value = vx / vy;
		if (!strcmp(ux, uy))
			out->u.q.unit = "1";
		else if (!strcmp(uy, "1"))
			out->u.q.unit = ux;
		else
			out->u.q.unit = arena_printf(a, "%s/%s", !strcmp(ux, "1") ? "" : wx, wy);
	} else {
		out->u.q.value = vx * vy;
		if (!strcmp(ux, "1"))
			out->u.q.unit = uy;
		else if (!strcmp(uy, "1"))
			out->u.q.unit = ux;
		else if (!strcmp(ux, uy) && simple)
			out->u.q.unit = arena_printf(a, "%s2", ux);
		else
			out->u.q.unit = arena_printf(a, "%s.%s", wx, wy);
	}
	return 0;
}
