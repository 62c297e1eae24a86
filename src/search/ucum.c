/*
 * ucum.c - search__ucum_canonical() (search_int.h): a value in a UCUM unit
 * expressed in canonical units, so that quantity search can compare 5.4 mg
 * with 0.0054 g. A small UCUM reader: products ('.'), quotients ('/'),
 * parentheses, integer exponents, metric prefixes, annotations ({beats}),
 * integer factors and 10*n / 10^n, over a hand-written table of the atoms
 * clinical data uses (SI and derived units, time, volume, pressure, the
 * customary length and mass units, percent, international units). Units it
 * does not know are not canonicalised. Stateless; the tables are constant.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "search_int.h"

/* Base dimensions, in the order the canonical code lists them. */
enum { D_M, D_S, D_G, D_RAD, D_K, D_C, D_CD, D_MOL, D_IU, ND };
static const char *const dim_sym[ND] = {"m", "s", "g", "rad", "K", "C", "cd", "mol", "[IU]"};

typedef struct unit {
	double factor;     /* in canonical units */
	signed char e[ND]; /* exponents of the base dimensions */
} unit;

typedef struct atom {
	const char *sym;
	int metric; /* may take a prefix */
	double factor;
	signed char e[ND]; /* m s g rad K C cd mol IU */
} atom;

/* Factors are exact UCUM definitions (mol and IU kept as base units). */
static const atom atoms[] = {
        /* base and dimensionless */
        {"m", 1, 1, {1}},
        {"s", 1, 1, {0, 1}},
        {"g", 1, 1, {0, 0, 1}},
        {"rad", 1, 1, {0, 0, 0, 1}},
        {"K", 1, 1, {0, 0, 0, 0, 1}},
        {"C", 1, 1, {0, 0, 0, 0, 0, 1}},
        {"cd", 1, 1, {0, 0, 0, 0, 0, 0, 1}},
        {"mol", 1, 1, {0, 0, 0, 0, 0, 0, 0, 1}},
        {"eq", 1, 1, {0, 0, 0, 0, 0, 0, 0, 1}},
        {"[IU]", 1, 1, {0, 0, 0, 0, 0, 0, 0, 0, 1}},
        {"[iU]", 1, 1, {0, 0, 0, 0, 0, 0, 0, 0, 1}},
        {"1", 0, 1, {0}},
        {"%", 0, 1e-2, {0}},
        {"[ppth]", 0, 1e-3, {0}},
        {"[ppm]", 0, 1e-6, {0}},
        {"[ppb]", 0, 1e-9, {0}},
        {"deg", 0, 3.14159265358979323846 / 180, {0, 0, 0, 1}},
        /* time */
        {"min", 0, 60, {0, 1}},
        {"h", 0, 3600, {0, 1}},
        {"d", 0, 86400, {0, 1}},
        {"wk", 0, 604800, {0, 1}},
        {"mo", 0, 2629800, {0, 1}}, /* mean Julian month, 30.4375 d */
        {"mo_j", 0, 2629800, {0, 1}},
        {"a", 0, 31557600, {0, 1}}, /* Julian year, 365.25 d */
        {"a_j", 0, 31557600, {0, 1}},
        {"Hz", 1, 1, {0, -1}},
        /* volume */
        {"L", 1, 1e-3, {3}},
        {"l", 1, 1e-3, {3}},
        /* mass and length, customary */
        {"t", 1, 1e6, {0, 0, 1}},
        {"u", 1, 1.6605402e-24, {0, 0, 1}},
        {"[lb_av]", 0, 453.59237, {0, 0, 1}},
        {"[oz_av]", 0, 28.349523125, {0, 0, 1}},
        {"[in_i]", 0, 0.0254, {1}},
        {"[ft_i]", 0, 0.3048, {1}},
        {"[yd_i]", 0, 0.9144, {1}},
        {"[mi_i]", 0, 1609.344, {1}},
        {"[ly]", 1, 9460730472580800, {1}},
        /* mechanics, energy, pressure (kg = 1000 g) */
        {"N", 1, 1e3, {1, -2, 1}},
        {"Pa", 1, 1e3, {-1, -2, 1}},
        {"bar", 1, 1e8, {-1, -2, 1}},
        {"atm", 0, 101325e3, {-1, -2, 1}},
        {"m[Hg]", 1, 133322e3, {-1, -2, 1}},
        {"m[H2O]", 1, 9806.65e3, {-1, -2, 1}},
        {"[psi]", 0, 6894.757293168e3, {-1, -2, 1}},
        {"J", 1, 1e3, {2, -2, 1}},
        {"W", 1, 1e3, {2, -3, 1}},
        {"cal", 1, 4.184e3, {2, -2, 1}},
        {"[Cal]", 0, 4.184e6, {2, -2, 1}},
        {"eV", 1, 1.60217733e-16, {2, -2, 1}},
        /* electromagnetism */
        {"A", 1, 1, {0, -1, 0, 0, 0, 1}},
        {"V", 1, 1e3, {2, -2, 1, 0, 0, -1}},
        {"Ohm", 1, 1e3, {2, -1, 1, 0, 0, -2}},
        {"S", 1, 1e-3, {-2, 1, -1, 0, 0, 2}},
        {"F", 1, 1e-3, {-2, 2, -1, 0, 0, 2}},
        {"T", 1, 1e3, {0, -1, 1, 0, 0, -1}},
        {"Wb", 1, 1e3, {2, -1, 1, 0, 0, -1}},
        {"H", 1, 1e3, {2, 0, 1, 0, 0, -2}},
        /* amount-based */
        {"kat", 1, 1, {0, -1, 0, 0, 0, 0, 0, 1}},
        {"U", 1, 1e-6 / 60, {0, -1, 0, 0, 0, 0, 0, 1}}, /* umol/min */
        {"osm", 1, 1, {0, 0, 0, 0, 0, 0, 0, 1}},
        /* radiation */
        {"Bq", 1, 1, {0, -1}},
        {"Gy", 1, 1, {2, -2}},
        {"Sv", 1, 1, {2, -2}},
        /* other */
        {"sr", 1, 1, {0, 0, 0, 2}},
        {"lm", 1, 1, {0, 0, 0, 2, 0, 0, 1}},
        {"lx", 1, 1, {-2, 0, 0, 2, 0, 0, 1}},
        {"[drp]", 0, 5e-8, {3}}, /* 1/20 mL */
};

static const struct {
	const char *sym;
	double factor;
} prefixes[] = {
        {"da", 1e1},  {"Y", 1e24},  {"Z", 1e21},  {"E", 1e18},  {"P", 1e15},
        {"T", 1e12},  {"G", 1e9},   {"M", 1e6},   {"k", 1e3},   {"h", 1e2},
        {"d", 1e-1},  {"c", 1e-2},  {"m", 1e-3},  {"u", 1e-6},  {"n", 1e-9},
        {"p", 1e-12}, {"f", 1e-15}, {"a", 1e-18}, {"z", 1e-21}, {"y", 1e-24},
};

static const atom *atom_find(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof atoms / sizeof atoms[0]; i++)
		if (strlen(atoms[i].sym) == n && memcmp(atoms[i].sym, s, n) == 0)
			return &atoms[i];
	return NULL;
}

/* A symbol, whole or as prefix + metric atom. */
static int symbol_unit(const char *s, size_t n, unit *u)
{
	const atom *at = atom_find(s, n);
	double f = 1;

	if (at == NULL) {
		for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0] && at == NULL; i++) {
			size_t pl = strlen(prefixes[i].sym);
			if (pl < n && memcmp(prefixes[i].sym, s, pl) == 0) {
				at = atom_find(s + pl, n - pl);
				if (at && !at->metric)
					at = NULL;
				f = prefixes[i].factor;
			}
		}
	}
	if (at == NULL)
		return -1;
	u->factor = f * at->factor;
	memcpy(u->e, at->e, sizeof u->e);
	return 0;
}

typedef struct reader {
	const char *p;
	int depth;
} reader;

static int read_term(reader *r, unit *u);

static void unit_mul(unit *u, const unit *v, int sign)
{
	u->factor = sign > 0 ? u->factor * v->factor : u->factor / v->factor;
	for (int i = 0; i < ND; i++)
		u->e[i] = (signed char)(u->e[i] + sign * v->e[i]);
}

static int read_exponent(reader *r, int *ex)
{
	const char *p = r->p;
	int sign = 1, v = 0, nd = 0;

	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	while (*p >= '0' && *p <= '9' && nd < 3) {
		v = v * 10 + (*p++ - '0');
		nd++;
	}
	if (nd == 0)
		return 0; /* no exponent */
	if (*p >= '0' && *p <= '9')
		return -1;
	*ex = sign * v;
	r->p = p;
	return 1;
}

static int unit_pow(unit *u, int ex)
{
	if (ex < -6 || ex > 6)
		return -1;
	u->factor = pow(u->factor, ex);
	for (int i = 0; i < ND; i++) {
		int e = u->e[i] * ex;
		if (e < -60 || e > 60)
			return -1;
		u->e[i] = (signed char)e;
	}
	return 0;
}

/* One component: (term), annotation, number, 10*n, or symbol[exponent]. */
static int read_component(reader *r, unit *u)
{
	const char *p = r->p;
	int ex;

	memset(u, 0, sizeof *u);
	u->factor = 1;
	if (*p == '(') {
		if (++r->depth > 8)
			return -1;
		r->p = p + 1;
		if (read_term(r, u) || *r->p != ')')
			return -1;
		r->p++;
		r->depth--;
		int k = read_exponent(r, &ex);
		return k < 0 ? -1 : k ? unit_pow(u, ex) : 0;
	}
	if (*p == '{') { /* an annotation alone means 1 */
		const char *q = strchr(p, '}');
		if (q == NULL)
			return -1;
		r->p = q + 1;
		return 0;
	}
	if (*p >= '0' && *p <= '9') {
		double v = 0;
		while (*p >= '0' && *p <= '9')
			v = v * 10 + (*p++ - '0');
		if ((*p == '*' || *p == '^') && v == 10) { /* 10*3, 10^-2 */
			r->p = p + 1;
			if (read_exponent(r, &ex) != 1 || ex < -30 || ex > 30)
				return -1;
			u->factor = pow(10, ex);
		} else {
			r->p = p;
			u->factor = v;
		}
		return 0;
	}
	/* symbol: up to an operator, a paren, an annotation or an exponent; brackets verbatim */
	const char *start = p;
	while (*p && *p != '.' && *p != '/' && *p != '(' && *p != ')' && *p != '{') {
		if (*p == '[') {
			const char *q = strchr(p, ']');
			if (q == NULL)
				return -1;
			p = q + 1;
			continue;
		}
		if ((*p >= '0' && *p <= '9') || *p == '+' || *p == '-')
			break;
		p++;
	}
	if (p == start || symbol_unit(start, (size_t)(p - start), u))
		return -1;
	r->p = p;
	int k = read_exponent(r, &ex);
	if (k < 0 || (k && unit_pow(u, ex)))
		return -1;
	if (*r->p == '{') { /* annotation attached to a unit: ignored */
		const char *q = strchr(r->p, '}');
		if (q == NULL)
			return -1;
		r->p = q + 1;
	}
	return 0;
}

static int read_term(reader *r, unit *u)
{
	unit v;
	int sign = 1;

	memset(u, 0, sizeof *u);
	u->factor = 1;
	if (*r->p == '/') { /* leading division: "/min" */
		r->p++;
		sign = -1;
	}
	for (;;) {
		if (read_component(r, &v))
			return -1;
		unit_mul(u, &v, sign);
		if (*r->p == '.')
			sign = 1;
		else if (*r->p == '/')
			sign = -1;
		else
			return 0;
		r->p++;
	}
}

int search__ucum_canonical(arena *a, const char *code, double value, double *cvalue,
                           const char **ccode)
{
	reader r = {code, 0};
	unit u;
	char out[128];
	size_t n = 0;

	if (code == NULL || *code == '\0' || strlen(code) > 64)
		return -1;
	if (strcmp(code, "Cel") == 0) {
		*cvalue = value + 273.15;
		*ccode = "K";
		return 0;
	}
	if (strcmp(code, "[degF]") == 0) {
		*cvalue = (value - 32) * 5 / 9 + 273.15;
		*ccode = "K";
		return 0;
	}
	if (read_term(&r, &u) || *r.p != '\0' || !isfinite(u.factor) || u.factor == 0)
		return -1;
	for (int i = 0; i < ND; i++) {
		if (u.e[i] == 0)
			continue;
		int w = u.e[i] == 1 ? snprintf(out + n, sizeof out - n, "%s%s", n ? "." : "",
		                               dim_sym[i])
		                    : snprintf(out + n, sizeof out - n, "%s%s%d", n ? "." : "",
		                               dim_sym[i], u.e[i]);
		if (w < 0 || (size_t)w >= sizeof out - n)
			return -1;
		n += (size_t)w;
	}
	*cvalue = value * u.factor;
	*ccode = n ? arena_strdup(a, out) : "1";
	return 0;
}
