/*
 * parse.c - search URL parameters to a search_query (search.h): every R4
 * parameter type with its modifiers and prefixes, chains, _has, composites,
 * the common and result parameters, OR by comma and AND by repetition.
 * Parameter definitions come from the generated model (model.h) and pids
 * from search_pid() (index.c). The query and its strings live in the
 * caller's arena; problems go to the diag_list as errors (strict) or
 * warnings (lenient). The structures are in search_int.h; compile.c turns
 * them into SQL.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search_int.h"

enum {
	MAX_VALUES = 100, /* OR alternatives of one parameter */
	MAX_DEPTH = 4,    /* chain / _has nesting */
	MAX_SORTS = 8,
	MAX_COUNT = 1000,
	DEFAULT_COUNT = 20
};

typedef struct pctx {
	arena *a;
	diag_list *d;
	int strict;
	int failed; /* an error was recorded (strict mode) */
	int quiet;  /* >0: parsing a further chain alternative, report nothing */
	search_query *q;
} pctx;

/* An unknown, malformed or unsupported parameter: an error when strict,
 * otherwise a warning saying it was ignored. */
static void problem(pctx *c, const char *code, const char *key, const char *fmt, ...)
        BASE_PRINTF(4, 5);

static void problem(pctx *c, const char *code, const char *key, const char *fmt, ...)
{
	if (c->quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *msg = arena_vprintf(c->a, fmt, ap);
	va_end(ap);
	if (c->strict) {
		diag_add(c->d, DIAG_ERROR, code, key, "%s", msg);
		c->failed = 1;
	} else {
		diag_add(c->d, DIAG_WARNING, code, key, "%s; the parameter was ignored", msg);
	}
}

/* ---- small string helpers ---- */

/* Split s at every separator not escaped by a backslash; the parts keep
 * their escapes. Returns the number of parts (at most max), -1 if more. */
static int split_escaped(arena *a, const char *s, char sep, char **parts, int max)
{
	int n = 0;
	const char *start = s;
	for (const char *p = s;; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			continue;
		}
		if (*p == sep || *p == 0) {
			if (n == max)
				return -1;
			parts[n++] = arena_strndup(a, start, (size_t)(p - start));
			if (*p == 0)
				break;
			start = p + 1;
		}
	}
	return n;
}

/* Remove the escapes \, \$ \| \\ (any backslash-escaped character). */
static char *unescape(arena *a, const char *s)
{
	size_t n = strlen(s);
	char *out = arena_alloc(a, n + 1), *o = out;
	for (const char *p = s; *p; p++) {
		if (*p == '\\' && p[1])
			p++;
		*o++ = *p;
	}
	*o = 0;
	return out;
}

static int is_resource_type(const char *t)
{
	const model_type *mt = model_type_get(t);
	return mt && model_type_is_concrete_resource(mt);
}

static int in_list(const char *const *list, const char *s)
{
	for (; list && *list; list++)
		if (!strcmp(*list, s))
			return 1;
	return 0;
}

static const char *type_name(model_sp_type t)
{
	static const char *const names[] = {"number",   "date",      "string",
	                                    "token",    "reference", "composite",
	                                    "quantity", "uri",       "special"};
	return (unsigned)t < sizeof names / sizeof *names ? names[t] : "?";
}

/* ---- dates ---- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char ch = (*p)[i];
		if (ch < '0' || ch > '9')
			return -1;
		v = v * 10 + (ch - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int month_days(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 ? 28 + leap : days[m - 1];
}

int search_date_range(const char *s, int64_t *lo, int64_t *hi)
{
	return search__date_range(s, lo, hi);
}

int search__date_range(const char *s, int64_t *lo, int64_t *hi)
{
	const int64_t sec = 1000000, day = 86400 * sec;
	const char *p = s;
	int y, mo = 1, d = 1, h = 0, mi = 0, se = 0;
	int64_t frac = 0, span;

	if (digits(&p, 4, &y))
		return -1;
	if (*p == 0) {
		span = (days_from_civil(y + 1, 1, 1) - days_from_civil(y, 1, 1)) * day;
		goto done;
	}
	if (*p++ != '-' || digits(&p, 2, &mo) || mo < 1 || mo > 12)
		return -1;
	if (*p == 0) {
		span = month_days(y, mo) * day;
		goto done;
	}
	if (*p++ != '-' || digits(&p, 2, &d) || d < 1 || d > month_days(y, mo))
		return -1;
	if (*p == 0) {
		span = day;
		goto done;
	}
	if (*p++ != 'T' || digits(&p, 2, &h) || h > 23 || *p++ != ':' || digits(&p, 2, &mi) ||
	    mi > 59)
		return -1;
	span = 60 * sec;
	if (*p == ':') {
		p++;
		if (digits(&p, 2, &se) || se > 59)
			return -1;
		span = sec;
		if (*p == '.') {
			p++;
			int nd = 0;
			int64_t unit = sec;
			while (*p >= '0' && *p <= '9') {
				if (nd < 6) {
					unit /= 10;
					frac += (*p - '0') * unit;
				}
				nd++;
				p++;
			}
			if (nd == 0)
				return -1;
			span = unit;
		}
	}
	int64_t offset = 0;
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (digits(&p, 2, &oh) || oh > 14 || *p++ != ':' || digits(&p, 2, &om) || om > 59)
			return -1;
		offset = sign * ((int64_t)oh * 3600 + om * 60) * sec;
	}
	if (*p != 0)
		return -1;
	/* a time without zone is taken as UTC (the server's zone) */
	*lo = days_from_civil(y, (unsigned)mo, (unsigned)d) * day +
	      ((int64_t)h * 3600 + mi * 60 + se) * sec + frac - offset;
	*hi = *lo + span - 1;
	return 0;
done:
	*lo = days_from_civil(y, (unsigned)mo, (unsigned)d) * day;
	*hi = *lo + span - 1;
	return 0;
}

/* ---- values ---- */

static int parse_prefix(const char **s, search__prefix *out)
{
	static const char *const names[] = {"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"};
	*out = SEARCH__EQ;
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (!strncmp(*s, names[i], 2)) {
			*out = (search__prefix)i;
			*s += 2;
			return 1;
		}
	return 0;
}

/* A decimal with its implicit precision: 100 is [99.5, 100.5), 1e2 is [50, 150). */
static int parse_number(const char *s, double *v, double *lo, double *hi)
{
	const char *p = s;
	int decimals = 0, exp = 0, nd = 0;
	if (*p == '-' || *p == '+')
		p++;
	while (*p >= '0' && *p <= '9')
		p++, nd++;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++, nd++, decimals++;
	}
	if (nd == 0)
		return -1;
	if (*p == 'e' || *p == 'E') {
		p++;
		long e;
		if (base_parse_long(p, -300, 300, &e))
			return -1;
		exp = (int)e;
	} else if (*p) {
		return -1;
	}
	char *end;
	*v = strtod(s, &end);
	if (!isfinite(*v))
		return -1;
	double half = 0.5 * pow(10.0, exp - decimals);
	*lo = *v - half;
	*hi = *v + half;
	/* at the limit of a double the range may round to the value itself: keep
	 * [lo, hi) non-empty so the value matches itself */
	if (*hi <= *v)
		*hi = nextafter(*v, INFINITY);
	if (*lo > *v)
		*lo = *v;
	return 0;
}

static int parse_bool(const char *s, int *out)
{
	if (!strcmp(s, "true"))
		*out = 1;
	else if (!strcmp(s, "false"))
		*out = 0;
	else
		return -1;
	return 0;
}

/* All parents of a URI for :above: itself and every prefix ending before a '/'. */
static const char *const *uri_parents(arena *a, const char *uri)
{
	size_t n = strlen(uri), count = 1;
	for (size_t i = 0; i < n; i++)
		count += uri[i] == '/';
	const char **out = arena_alloc(a, (count + 1) * sizeof *out);
	size_t k = 0;
	out[k++] = uri;
	const char *start = strstr(uri, "://");
	size_t min = start ? (size_t)(start - uri) + 3 : 0;
	for (size_t i = n; i-- > min;)
		if (uri[i] == '/' && i > min && i + 1 < n)
			out[k++] = arena_strndup(a, uri, i);
	out[k] = NULL;
	return out;
}

/* Parse one value (one alternative) of parameter type t with modifier mod. */
static int parse_value(pctx *c, const char *key, model_sp_type t, search__modifier mod,
                       const char *mod_type, const char *raw, search__value *v)
{
	memset(v, 0, sizeof *v);
	if (mod == SEARCH__MOD_MISSING) {
		if (parse_bool(raw, &v->missing)) {
			problem(c, "invalid", key, "%s must be true or false, not '%s'", key, raw);
			return -1;
		}
		return 0;
	}
	switch (t) {
	case MODEL_SP_STRING: {
		const char *s = unescape(c->a, raw);
		v->s[0] = search_normalize(c->a, s);
		v->s[1] = s;
		return 0;
	}
	case MODEL_SP_TOKEN: {
		if (mod == SEARCH__MOD_TEXT) {
			v->s[0] = search_normalize(c->a, unescape(c->a, raw));
			return 0;
		}
		char *parts[3];
		int n = split_escaped(c->a, raw, '|', parts, mod == SEARCH__MOD_OF_TYPE ? 3 : 2);
		if (mod == SEARCH__MOD_OF_TYPE) {
			if (n != 3 || !*parts[0] || !*parts[1] || !*parts[2]) {
				problem(c, "invalid", key,
				        "%s:of-type needs system|code|value, not '%s'", key, raw);
				return -1;
			}
			for (int i = 0; i < 3; i++)
				v->s[i] = unescape(c->a, parts[i]);
			v->has_system = 1;
			return 0;
		}
		if (n < 0) {
			problem(c, "invalid", key, "malformed token '%s' (system|code)", raw);
			return -1;
		}
		if (n == 1) {
			v->s[0] = "";
			v->s[1] = unescape(c->a, parts[0]);
		} else {
			v->has_system = 1;
			v->s[0] = unescape(c->a, parts[0]);
			v->s[1] = unescape(c->a, parts[1]);
			if (!*v->s[0] && !*v->s[1]) {
				problem(c, "invalid", key,
				        "token '|' names neither a system nor a code");
				return -1;
			}
		}
		return 0;
	}
	case MODEL_SP_DATE: {
		const char *s = raw;
		parse_prefix(&s, &v->prefix);
		if (search__date_range(s, &v->lo, &v->hi)) {
			problem(c, "invalid", key, "'%s' is not a valid date for %s", raw, key);
			return -1;
		}
		return 0;
	}
	case MODEL_SP_NUMBER: {
		const char *s = raw;
		parse_prefix(&s, &v->prefix);
		if (parse_number(s, &v->num, &v->num_lo, &v->num_hi)) {
			problem(c, "invalid", key, "'%s' is not a valid number for %s", raw, key);
			return -1;
		}
		return 0;
	}
	case MODEL_SP_QUANTITY: {
		char *parts[3];
		int n = split_escaped(c->a, raw, '|', parts, 3);
		const char *s = n > 0 ? parts[0] : "";
		parse_prefix(&s, &v->prefix);
		if ((n != 1 && n != 3) || parse_number(s, &v->num, &v->num_lo, &v->num_hi)) {
			problem(c, "invalid", key,
			        "'%s' is not a valid quantity (number|system|code) for %s", raw,
			        key);
			return -1;
		}
		v->s[0] = v->s[1] = "";
		if (n == 3) {
			v->s[0] = unescape(c->a, parts[1]);
			v->s[1] = unescape(c->a, parts[2]);
			v->has_system = *v->s[0] != 0;
		}
		return 0;
	}
	case MODEL_SP_REFERENCE: {
		const char *s = unescape(c->a, raw);
		if (mod == SEARCH__MOD_IDENTIFIER) {
			char *parts[2];
			int n = split_escaped(c->a, raw, '|', parts, 2);
			if (n < 1) {
				problem(c, "invalid", key,
				        "malformed identifier '%s' (system|value)", raw);
				return -1;
			}
			v->s[0] = n == 2 ? unescape(c->a, parts[0]) : "";
			v->s[1] = unescape(c->a, parts[n - 1]);
			v->has_system = n == 2;
			return 0;
		}
		if (!*s) {
			problem(c, "invalid", key, "empty reference for %s", key);
			return -1;
		}
		if (strstr(s, "://") || !strncmp(s, "urn:", 4)) {
			v->s[2] = s;
			return 0;
		}
		/* Type/id, or Type/id/_history/n (the version is not part of the match) */
		const char *slash = strchr(s, '/');
		if (slash) {
			const char *id = slash + 1, *end = strchr(id, '/');
			char *type = arena_strndup(c->a, s, (size_t)(slash - s));
			if (end && strncmp(end, "/_history/", 10)) {
				problem(c, "invalid", key, "'%s' is not a reference (Type/id)", s);
				return -1;
			}
			if (!is_resource_type(type)) {
				problem(c, "invalid", key, "'%s' in '%s' is not a resource type",
				        type, s);
				return -1;
			}
			if (mod_type && strcmp(mod_type, type)) {
				problem(c, "invalid", key, "reference '%s' is not of type %s", s,
				        mod_type);
				return -1;
			}
			v->s[0] = type;
			v->s[1] = end ? arena_strndup(c->a, id, (size_t)(end - id)) : id;
		} else {
			v->s[0] = mod_type; /* NULL: any type */
			v->s[1] = s;
		}
		return 0;
	}
	case MODEL_SP_URI: {
		v->s[0] = unescape(c->a, raw);
		if (mod == SEARCH__MOD_ABOVE)
			v->uris = uri_parents(c->a, v->s[0]);
		return 0;
	}
	default:
		problem(c, "not-supported", key, "parameters of type %s are not supported",
		        type_name(t));
		return -1;
	}
}

/* ---- modifiers ---- */

static int parse_modifier(pctx *c, const char *key, model_sp_type t, const char *name,
                          const model_search_param *sp, search__modifier *mod,
                          const char **mod_type)
{
	static const struct {
		const char *name;
		search__modifier mod;
		unsigned types; /* bit per model_sp_type */
	} mods[] = {
	        {"missing", SEARCH__MOD_MISSING, 0x1ff},
	        {"exact", SEARCH__MOD_EXACT, 1u << MODEL_SP_STRING},
	        {"contains", SEARCH__MOD_CONTAINS, 1u << MODEL_SP_STRING},
	        {"text", SEARCH__MOD_TEXT, 1u << MODEL_SP_TOKEN},
	        {"not", SEARCH__MOD_NOT, 1u << MODEL_SP_TOKEN},
	        {"of-type", SEARCH__MOD_OF_TYPE, 1u << MODEL_SP_TOKEN},
	        {"in", SEARCH__MOD_IN, 1u << MODEL_SP_TOKEN},
	        {"not-in", SEARCH__MOD_NOT_IN, 1u << MODEL_SP_TOKEN},
	        {"below", SEARCH__MOD_BELOW, 1u << MODEL_SP_TOKEN | 1u << MODEL_SP_URI},
	        {"above", SEARCH__MOD_ABOVE, 1u << MODEL_SP_TOKEN | 1u << MODEL_SP_URI},
	        {"identifier", SEARCH__MOD_IDENTIFIER, 1u << MODEL_SP_REFERENCE},
	};
	*mod = SEARCH__MOD_NONE;
	*mod_type = NULL;
	if (!name)
		return 0;
	for (size_t i = 0; i < sizeof mods / sizeof *mods; i++) {
		if (strcmp(name, mods[i].name))
			continue;
		if (!(mods[i].types & (1u << t))) {
			problem(c, "invalid", key, "modifier :%s does not apply to %s parameters",
			        name, type_name(t));
			return -1;
		}
		*mod = mods[i].mod;
		if (*mod == SEARCH__MOD_IN || *mod == SEARCH__MOD_NOT_IN ||
		    (t == MODEL_SP_TOKEN &&
		     (*mod == SEARCH__MOD_BELOW || *mod == SEARCH__MOD_ABOVE))) {
			problem(c, "not-supported", key,
			        "modifier :%s needs terminology services (value set expansion, "
			        "subsumption), which are not supported yet",
			        name);
			return -1;
		}
		return 0;
	}
	if (t == MODEL_SP_REFERENCE && is_resource_type(name)) {
		if (sp && sp->targets && !in_list(sp->targets, name)) {
			problem(c, "invalid", key, "%s cannot refer to a %s", sp->code, name);
			return -1;
		}
		*mod = SEARCH__MOD_TYPE;
		*mod_type = name;
		return 0;
	}
	problem(c, "invalid", key, "unknown modifier :%s for a %s parameter", name, type_name(t));
	return -1;
}

/* ---- conditions ---- */

static search__cond *new_cond(pctx *c, search__cond_kind kind, const char *code)
{
	search__cond *cond = arena_calloc(c->a, sizeof *cond);
	cond->kind = kind;
	cond->code = code;
	return cond;
}

/* Parse the comma-separated alternatives of one parameter. */
static int parse_values(pctx *c, const char *key, search__cond *cond, const char *val,
                        model_sp_type t)
{
	char *parts[MAX_VALUES];
	int n = split_escaped(c->a, val, ',', parts, MAX_VALUES);
	if (n < 0) {
		problem(c, "too-costly", key, "more than %d values for %s", MAX_VALUES, key);
		return -1;
	}
	cond->values = arena_calloc(c->a, (size_t)n * sizeof *cond->values);
	for (int i = 0; i < n; i++) {
		if (!*parts[i])
			continue; /* "a,,b": an empty alternative adds nothing */
		search__value *v = &cond->values[cond->nvalues];
		if (parse_value(c, key, t, cond->mod, cond->mod_type, parts[i], v))
			return -1;
		cond->nvalues++;
	}
	return cond->nvalues ? 0 : 1;
}

static const model_search_param *find_component_param(const char *type,
                                                      const model_sp_component *comp)
{
	const model_search_param *sp = model_search_param_find(type, comp->code);
	if (sp && (!comp->definition || !sp->url || !strcmp(sp->url, comp->definition)))
		return sp;
	for (size_t i = 0, n = model_search_param_count(); i < n && comp->definition; i++) {
		const model_search_param *p = model_search_param_at(i);
		if (p->url && !strcmp(p->url, comp->definition))
			return p;
	}
	return sp;
}

static int parse_composite(pctx *c, const char *key, const char *type, const model_search_param *sp,
                           search__cond *cond, const char *val)
{
	if (sp->component_count < 2 || sp->component_count > 4) {
		problem(c, "not-supported", key, "composite %s has %zu components", sp->code,
		        sp->component_count);
		return -1;
	}
	cond->ncomps = sp->component_count;
	for (size_t i = 0; i < cond->ncomps; i++) {
		const model_search_param *cp = find_component_param(type, &sp->components[i]);
		if (!cp || cp->type == MODEL_SP_COMPOSITE || cp->type == MODEL_SP_SPECIAL) {
			problem(c, "not-supported", key, "component %s of %s is not supported",
			        sp->components[i].code, sp->code);
			return -1;
		}
		cond->comp_type[i] = cp->type;
		cond->comp_pid[i] = search_component_pid(cond->pid, (unsigned)i);
	}
	if (cond->mod == SEARCH__MOD_MISSING)
		return parse_values(c, key, cond, val, MODEL_SP_TOKEN);
	if (cond->mod != SEARCH__MOD_NONE) {
		problem(c, "invalid", key, "composite parameters take no modifier but :missing");
		return -1;
	}
	char *alts[MAX_VALUES];
	int n = split_escaped(c->a, val, ',', alts, MAX_VALUES);
	if (n < 0) {
		problem(c, "too-costly", key, "more than %d values for %s", MAX_VALUES, key);
		return -1;
	}
	cond->values = arena_calloc(c->a, (size_t)n * sizeof *cond->values);
	for (int i = 0; i < n; i++) {
		char *parts[4];
		int k = split_escaped(c->a, alts[i], '$', parts, 4);
		if (k != (int)cond->ncomps) {
			problem(c, "invalid", key, "%s needs %zu values joined by '$', not '%s'",
			        sp->code, cond->ncomps, alts[i]);
			return -1;
		}
		search__value *v = &cond->values[cond->nvalues++];
		v->ncomps = cond->ncomps;
		v->comps = arena_calloc(c->a, cond->ncomps * sizeof *v->comps);
		for (size_t j = 0; j < cond->ncomps; j++)
			if (parse_value(c, key, cond->comp_type[j], SEARCH__MOD_NONE, NULL,
			                parts[j], &v->comps[j]))
				return -1;
	}
	return 0;
}

static int value_rank(const search__cond *cond, const search__value *v)
{
	if (cond->mod == SEARCH__MOD_MISSING || cond->mod == SEARCH__MOD_NOT ||
	    v->prefix == SEARCH__NE)
		return 6;
	switch (cond->type) {
	case MODEL_SP_TOKEN:
		if (cond->mod == SEARCH__MOD_TEXT)
			return 5;
		return v->has_system && *v->s[0] && *v->s[1] ? 1 : 2;
	case MODEL_SP_REFERENCE: return 1;
	case MODEL_SP_URI: return cond->mod == SEARCH__MOD_NONE ? 1 : 3;
	case MODEL_SP_STRING:
		if (cond->mod == SEARCH__MOD_EXACT)
			return 1;
		return cond->mod == SEARCH__MOD_NONE ? 3 : 5;
	case MODEL_SP_COMPOSITE:
	case MODEL_SP_QUANTITY: return 2;
	case MODEL_SP_DATE:
	case MODEL_SP_NUMBER: return v->prefix == SEARCH__EQ ? 3 : 4;
	default: return 5;
	}
}

static void rank_cond(search__cond *cond)
{
	switch (cond->kind) {
	case SEARCH__COND_ID:
	case SEARCH__COND_COMPARTMENT: cond->rank = cond->mod == SEARCH__MOD_NONE ? 0 : 6; return;
	case SEARCH__COND_LIST: cond->rank = 1; return;
	case SEARCH__COND_LAST_UPDATED: cond->rank = 4; return;
	case SEARCH__COND_CHAIN:
	case SEARCH__COND_HAS: cond->rank = 3; return;
	case SEARCH__COND_TYPES:
		cond->rank = 0;
		for (size_t i = 0; i < cond->nalts; i++)
			if (cond->alts[i].cond && cond->alts[i].cond->rank > cond->rank)
				cond->rank = cond->alts[i].cond->rank;
		return;
	case SEARCH__COND_PARAM:
		cond->rank = 0;
		for (size_t i = 0; i < cond->nvalues; i++) {
			int r = value_rank(cond, &cond->values[i]);
			if (r > cond->rank)
				cond->rank = r;
		}
		return;
	}
}

static search__cond *parse_param(pctx *c, const char *type, const char *key, const char *val,
                                 int depth);

/* _has:Type:reference:param=value (param may itself be _has:...). */
static search__cond *parse_has(pctx *c, const char *type, const char *key, const char *val,
                               int depth)
{
	const char *p = key + 5, *colon = strchr(p, ':');
	const char *colon2 = colon ? strchr(colon + 1, ':') : NULL;
	if (!colon || !colon2 || !colon2[1]) {
		problem(c, "invalid", key, "_has needs the form _has:Type:reference:parameter");
		return NULL;
	}
	char *src = arena_strndup(c->a, p, (size_t)(colon - p));
	char *ref = arena_strndup(c->a, colon + 1, (size_t)(colon2 - colon - 1));
	if (!type) {
		problem(c, "not-supported", key, "_has needs a resource type to search");
		return NULL;
	}
	if (!is_resource_type(src)) {
		problem(c, "invalid", key, "'%s' in %s is not a resource type", src, key);
		return NULL;
	}
	const model_search_param *sp = model_search_param_find(src, ref);
	if (!sp || sp->type != MODEL_SP_REFERENCE) {
		problem(c, "invalid", key, "%s has no reference parameter '%s'", src, ref);
		return NULL;
	}
	if (sp->targets && !in_list(sp->targets, type)) {
		problem(c, "invalid", key, "%s.%s cannot refer to a %s", src, ref, type);
		return NULL;
	}
	uint32_t pid = search_pid(src, ref);
	if (!pid) {
		problem(c, "not-supported", key, "%s:%s is not indexed", src, ref);
		return NULL;
	}
	search__cond *inner = parse_param(c, src, colon2 + 1, val, depth + 1);
	if (!inner)
		return NULL;
	search__cond *cond = new_cond(c, SEARCH__COND_HAS, "_has");
	cond->pid = pid;
	cond->has_type = src;
	cond->mod_type = type;
	cond->inner = inner;
	rank_cond(cond);
	return cond;
}

/* The first code of a (possibly chained) key: "name" of "name:exact.x". */
static char *key_code(arena *a, const char *key)
{
	if (!strncmp(key, "_has:", 5))
		return arena_strdup(a, "_has");
	return arena_strndup(a, key, strcspn(key, ":."));
}

static search__cond *parse_chain(pctx *c, const char *type, const char *key,
                                 const model_search_param *sp, const char *mod_type,
                                 const char *rest, const char *val, int depth)
{
	uint32_t pid = search_pid(type, sp->code);
	if (!pid) {
		problem(c, "not-supported", key, "%s is not indexed", sp->code);
		return NULL;
	}
	const char *const *targets = sp->targets;
	const char *one[2] = {mod_type, NULL};
	if (mod_type)
		targets = one;
	char *next = key_code(c->a, rest);
	size_t n = 0;
	for (const char *const *t = targets; t && *t; t++)
		n++;
	search__cond *cond = new_cond(c, SEARCH__COND_CHAIN, sp->code);
	cond->pid = pid;
	cond->mod_type = mod_type;
	cond->alts = arena_calloc(c->a, (n ? n : 1) * sizeof *cond->alts);
	int quiet = 0;
	for (const char *const *t = targets; t && *t; t++) {
		if (strcmp(next, "_has") && !model_search_param_find(*t, next))
			continue;
		c->quiet += quiet;
		search__cond *inner = parse_param(c, *t, rest, val, depth + 1);
		c->quiet -= quiet;
		if (!inner && quiet) /* a problem only this target has: report it */
			inner = parse_param(c, *t, rest, val, depth + 1);
		if (!inner)
			return NULL;
		quiet = 1; /* the same value errors would repeat for every target type */
		cond->alts[cond->nalts++] = (search__alt){.type = *t, .cond = inner};
	}
	if (!cond->nalts) {
		problem(c, "invalid", key, "no target type of %s has a parameter '%s'", sp->code,
		        next);
		return NULL;
	}
	rank_cond(cond);
	return cond;
}

/* _text / _content: every word of a value must occur in the full text. */
static search__cond *parse_fulltext(pctx *c, const char *type, const char *key, const char *code,
                                    const char *modname, const char *val)
{
	if (modname) {
		problem(c, "invalid", key, "%s takes no modifier", code);
		return NULL;
	}
	uint32_t pid = search_pid(type, code);
	if (!pid) {
		problem(c, "not-supported", key, "%s is not indexed for %s", code, type);
		return NULL;
	}
	search__cond *cond = new_cond(c, SEARCH__COND_PARAM, code);
	cond->type = MODEL_SP_STRING;
	cond->mod = SEARCH__MOD_TEXT;
	cond->pid = pid;
	if (parse_values(c, key, cond, val, MODEL_SP_STRING))
		return NULL;
	cond->rank = 5;
	return cond;
}

/* Parameters that do not depend on the index: _id, _lastUpdated, _list. */
static search__cond *parse_builtin(pctx *c, const char *key, const char *code, const char *modname,
                                   const char *val, int *handled)
{
	*handled = !strcmp(code, "_id") || !strcmp(code, "_lastUpdated") || !strcmp(code, "_list");
	if (!*handled)
		return NULL;
	search__modifier mod = SEARCH__MOD_NONE;
	if (modname && !strcmp(modname, "missing"))
		mod = SEARCH__MOD_MISSING;
	else if (modname && !strcmp(modname, "not") && !strcmp(code, "_id"))
		mod = SEARCH__MOD_NOT;
	else if (modname) {
		problem(c, "invalid", key, "modifier :%s does not apply to %s", modname, code);
		return NULL;
	}
	search__cond *cond;
	if (!strcmp(code, "_id")) {
		cond = new_cond(c, SEARCH__COND_ID, code);
		cond->mod = mod;
		if (parse_values(c, key, cond, val, MODEL_SP_URI))
			return NULL;
	} else if (!strcmp(code, "_lastUpdated")) {
		cond = new_cond(c, SEARCH__COND_LAST_UPDATED, code);
		cond->mod = mod;
		if (parse_values(c, key, cond, val, MODEL_SP_DATE))
			return NULL;
	} else if (!strcmp(code, "_list")) {
		if (mod != SEARCH__MOD_NONE) {
			problem(c, "invalid", key, "_list takes no modifier");
			return NULL;
		}
		if (val[0] == '$') {
			problem(c, "not-supported", key,
			        "functional lists such as '%s' are not supported", val);
			return NULL;
		}
		cond = new_cond(c, SEARCH__COND_LIST, code);
		cond->pid = search_pid("List", "item");
		if (!cond->pid) {
			problem(c, "not-supported", key, "List.item is not indexed");
			return NULL;
		}
		if (parse_values(c, key, cond, val, MODEL_SP_URI))
			return NULL;
		for (size_t i = 0; i < cond->nvalues; i++)
			if (!strncmp(cond->values[i].s[0], "List/", 5))
				cond->values[i].s[0] += 5;
	} else {
		*handled = 0;
		return NULL;
	}
	rank_cond(cond);
	return cond;
}

/* A parameter every resource has (_tag, _profile, _security, _source,
 * _text, _content) searched across all types: one condition over the pids
 * of every type. */
static search__cond *parse_all_types(pctx *c, const char *key, const char *code,
                                     const char *modname, const char *rest, const char *val)
{
	const model_search_param *sp = model_search_param_find("Resource", code);
	if (!sp)
		sp = model_search_param_find("DomainResource", code);
	if (!sp || rest || sp->type == MODEL_SP_SPECIAL || sp->type == MODEL_SP_COMPOSITE) {
		problem(c, "not-supported", key,
		        "searching all types supports only the parameters every resource has; "
		        "name the types with _type to use %s",
		        key);
		return NULL;
	}
	int fulltext = !strcmp(code, "_text") || !strcmp(code, "_content");
	size_t n = model_resource_count(), k = 0;
	uint32_t *pids = arena_alloc(c->a, n * sizeof *pids);
	for (size_t i = 0; i < n; i++) {
		uint32_t p = search_pid(model_type_name(model_resource_at(i)), code);
		if (p)
			pids[k++] = p;
	}
	if (!k) {
		problem(c, "not-supported", key, "%s is not indexed", code);
		return NULL;
	}
	search__cond *cond = new_cond(c, SEARCH__COND_PARAM, sp->code);
	cond->type = fulltext ? MODEL_SP_STRING : sp->type;
	cond->pid = pids[0];
	cond->pids = pids;
	cond->npids = k;
	if (fulltext) {
		if (modname) {
			problem(c, "invalid", key, "%s takes no modifier", code);
			return NULL;
		}
		cond->mod = SEARCH__MOD_TEXT;
	} else if (parse_modifier(c, key, sp->type, modname, sp, &cond->mod, &cond->mod_type)) {
		return NULL;
	}
	if (cond->mod == SEARCH__MOD_OF_TYPE) {
		problem(c, "not-supported", key, ":of-type needs a resource type");
		return NULL;
	}
	if (parse_values(c, key, cond, val, cond->type))
		return NULL;
	rank_cond(cond);
	if (fulltext)
		cond->rank = 5;
	return cond;
}

/* One filter parameter on `type` (NULL: system level). key may be chained
 * (a.b.c), reverse-chained (_has:...) and carry a modifier. NULL when it
 * cannot be used (reported) or has no value. */
static search__cond *parse_param(pctx *c, const char *type, const char *key, const char *val,
                                 int depth)
{
	if (depth > MAX_DEPTH) {
		problem(c, "too-costly", key, "chains and _has nest at most %d deep", MAX_DEPTH);
		return NULL;
	}
	if (!strncmp(key, "_has:", 5))
		return parse_has(c, type, key, val, depth);

	const char *dot = strchr(key, '.');
	char *head = dot ? arena_strndup(c->a, key, (size_t)(dot - key)) : arena_strdup(c->a, key);
	const char *rest = dot ? dot + 1 : NULL;
	char *colon = strchr(head, ':');
	const char *modname = NULL;
	if (colon) {
		*colon = 0;
		modname = colon + 1;
	}
	const char *code = head;

	if (!rest) {
		int handled;
		search__cond *cond = parse_builtin(c, key, code, modname, val, &handled);
		if (handled)
			return cond;
	}

	if (!type) {
		const char *const *types = c->q->types;
		if (!types)
			return parse_all_types(c, key, code, modname, rest, val);
		size_t n = 0;
		while (types[n])
			n++;
		search__cond *cond = new_cond(c, SEARCH__COND_TYPES, code);
		cond->alts = arena_calloc(c->a, n * sizeof *cond->alts);
		for (size_t i = 0; i < n; i++) {
			if (!model_search_param_find(types[i], code)) {
				problem(c, "invalid", key, "%s has no search parameter '%s'",
				        types[i], code);
				return NULL;
			}
			c->quiet += i > 0;
			search__cond *inner = parse_param(c, types[i], key, val, depth);
			c->quiet -= i > 0;
			if (!inner && i > 0)
				inner = parse_param(c, types[i], key, val, depth);
			if (!inner)
				return NULL;
			cond->alts[cond->nalts++] = (search__alt){.type = types[i], .cond = inner};
		}
		rank_cond(cond);
		return cond;
	}

	if (!strcmp(code, "_text") || !strcmp(code, "_content")) {
		if (rest) {
			problem(c, "invalid", key, "%s cannot be chained", code);
			return NULL;
		}
		return parse_fulltext(c, type, key, code, modname, val);
	}
	const model_search_param *sp = model_search_param_find(type, code);
	if (!sp) {
		problem(c, "not-supported", key, "%s has no search parameter '%s'", type, code);
		return NULL;
	}
	if (sp->type == MODEL_SP_SPECIAL) {
		problem(c, "not-supported", key, "the special parameter %s is not supported", code);
		return NULL;
	}
	search__modifier mod;
	const char *mod_type;
	if (parse_modifier(c, key, sp->type, modname, sp, &mod, &mod_type))
		return NULL;
	if (rest) {
		if (sp->type != MODEL_SP_REFERENCE ||
		    (mod != SEARCH__MOD_NONE && mod != SEARCH__MOD_TYPE)) {
			problem(c, "invalid", key,
			        "only reference parameters can be chained, not %s", head);
			return NULL;
		}
		return parse_chain(c, type, key, sp, mod_type, rest, val, depth);
	}
	uint32_t pid = search_pid(type, code);
	if (!pid) {
		problem(c, "not-supported", key, "%s of %s is not indexed", code, type);
		return NULL;
	}
	search__cond *cond = new_cond(c, SEARCH__COND_PARAM, sp->code);
	cond->type = sp->type;
	cond->pid = pid;
	cond->mod = mod;
	cond->mod_type = mod_type;
	if (sp->type == MODEL_SP_COMPOSITE) {
		if (parse_composite(c, key, type, sp, cond, val))
			return NULL;
	} else if (mod == SEARCH__MOD_OF_TYPE) {
		cond->pid = search_component_pid(pid, SEARCH_OF_TYPE_COMPONENT);
		if (parse_values(c, key, cond, val, sp->type))
			return NULL;
	} else if (parse_values(c, key, cond, val, sp->type)) {
		return NULL;
	}
	rank_cond(cond);
	return cond;
}

/* ---- result parameters ---- */

static void add_cond(search_query *q, search__cond *cond)
{
	if (q->nconds == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 8;
		search__cond *n = arena_alloc(q->a, cap * sizeof *n);
		if (q->nconds)
			memcpy(n, q->conds, q->nconds * sizeof *n);
		q->conds = n;
		q->cap = cap;
	}
	q->conds[q->nconds++] = *cond;
}

static const char **split_list(arena *a, const char *val, size_t *count)
{
	size_t n = 1;
	for (const char *p = val; *p; p++)
		n += *p == ',';
	const char **out = arena_calloc(a, (n + 1) * sizeof *out);
	size_t k = 0;
	const char *start = val;
	for (const char *p = val;; p++)
		if (*p == ',' || *p == 0) {
			if (p > start)
				out[k++] = arena_strndup(a, start, (size_t)(p - start));
			if (!*p)
				break;
			start = p + 1;
		}
	out[k] = NULL;
	if (count)
		*count = k;
	return out;
}

static int sort_key(pctx *c, const char *key, const char *code, search__sort *s)
{
	search_query *q = c->q;
	const char *one[2] = {q->type, NULL};
	const char *const *types = q->type ? one : q->types;
	size_t nt = 0;

	s->code = code;
	if (!strcmp(code, "_id")) {
		s->kind = 1;
		return 0;
	}
	if (!strcmp(code, "_lastUpdated")) {
		s->kind = 2;
		return 0;
	}
	while (types && types[nt])
		nt++;
	if (!nt) {
		problem(c, "not-supported", key, "sorting all types by %s needs _type", code);
		return -1;
	}
	s->pids = arena_calloc(c->a, nt * sizeof *s->pids);
	for (size_t t = 0; t < nt; t++) {
		const model_search_param *sp = model_search_param_find(types[t], code);
		if (!sp) {
			problem(c, "invalid", key, "%s has no search parameter '%s' to sort by",
			        types[t], code);
			return -1;
		}
		if (sp->type == MODEL_SP_COMPOSITE || sp->type == MODEL_SP_SPECIAL) {
			problem(c, "not-supported", key, "cannot sort by the %s parameter %s",
			        type_name(sp->type), code);
			return -1;
		}
		if (t && sp->type != s->type) {
			problem(c, "invalid", key, "%s has different types across _type", code);
			return -1;
		}
		s->type = sp->type;
		s->pids[t] = search_pid(types[t], code);
		if (!s->pids[t]) {
			problem(c, "not-supported", key, "%s of %s is not indexed", code, types[t]);
			return -1;
		}
	}
	s->npids = nt;
	return 0;
}

static int parse_sort(pctx *c, const char *key, const char *val)
{
	search_query *q = c->q;
	size_t n;
	const char **keys = split_list(c->a, val, &n);
	if (q->nsorts + n > MAX_SORTS) {
		problem(c, "too-costly", key, "at most %d sort keys", MAX_SORTS);
		return -1;
	}
	search__sort *sorts = arena_calloc(c->a, (q->nsorts + n) * sizeof *sorts);
	if (q->nsorts)
		memcpy(sorts, q->sorts, q->nsorts * sizeof *sorts);
	size_t k = q->nsorts;
	for (size_t i = 0; i < n; i++) {
		const char *code = keys[i];
		int desc = *code == '-';
		if (sort_key(c, key, code + desc, &sorts[k]))
			return -1;
		sorts[k++].desc = desc;
	}
	q->sorts = sorts;
	q->nsorts = k;
	return 0;
}

static int parse_include(pctx *c, const char *key, const char *val, int reverse, int iterate)
{
	search_query *q = c->q;
	search_include inc = {.iterate = iterate, .reverse = reverse};
	if (!strcmp(val, "*")) {
		inc.source_type = "*";
		inc.param = "*";
	} else {
		char *parts[3];
		int n = split_escaped(c->a, val, ':', parts, 3);
		if (n < 2) {
			problem(c, "invalid", key, "%s needs Type:parameter[:target], not '%s'",
			        key, val);
			return -1;
		}
		inc.source_type = parts[0];
		inc.param = parts[1];
		inc.target_type = n == 3 ? parts[2] : NULL;
		if (strcmp(inc.source_type, "*") && !is_resource_type(inc.source_type)) {
			problem(c, "invalid", key, "'%s' is not a resource type", inc.source_type);
			return -1;
		}
		if (inc.target_type && !is_resource_type(inc.target_type)) {
			problem(c, "invalid", key, "'%s' is not a resource type", inc.target_type);
			return -1;
		}
		if (strcmp(inc.param, "*") && strcmp(inc.source_type, "*")) {
			const model_search_param *sp =
			        model_search_param_find(inc.source_type, inc.param);
			if (!sp || sp->type != MODEL_SP_REFERENCE) {
				problem(c, "invalid", key, "%s has no reference parameter '%s'",
				        inc.source_type, inc.param);
				return -1;
			}
			if (inc.target_type && sp->targets &&
			    !in_list(sp->targets, inc.target_type)) {
				problem(c, "invalid", key, "%s:%s cannot refer to a %s",
				        inc.source_type, inc.param, inc.target_type);
				return -1;
			}
		}
	}
	search_include *list = arena_alloc(c->a, (q->nincludes + 1) * sizeof *list);
	if (q->nincludes)
		memcpy(list, q->includes, q->nincludes * sizeof *list);
	list[q->nincludes++] = inc;
	q->includes = list;
	return 0;
}

/* Result and control parameters. 1: not one of them; 0: handled; -1: bad. */
static int parse_result_param(pctx *c, const char *key, const char *val)
{
	search_query *q = c->q;
	if (!strcmp(key, "_count")) {
		long n;
		if (base_parse_long(val, 0, 1000000000L, &n)) {
			problem(c, "invalid", key,
			        "_count must be a non-negative integer, not '%s'", val);
			return -1;
		}
		if (n > MAX_COUNT) {
			diag_add(c->d, DIAG_WARNING, "too-costly", key, "_count %ld lowered to %d",
			         n, MAX_COUNT);
			n = MAX_COUNT;
		}
		q->count = (size_t)n;
		return 0;
	}
	if (!strcmp(key, "_sort"))
		return parse_sort(c, key, val);
	if (!strcmp(key, "_total")) {
		static const char *const v[] = {"none", "estimate", "accurate"};
		for (int i = 0; i < 3; i++)
			if (!strcmp(val, v[i])) {
				q->total = (search_total)i;
				return 0;
			}
		problem(c, "invalid", key, "_total must be none, estimate or accurate, not '%s'",
		        val);
		return -1;
	}
	if (!strcmp(key, "_summary")) {
		static const char *const v[] = {"false", "true", "text", "data", "count"};
		for (int i = 0; i < 5; i++)
			if (!strcmp(val, v[i])) {
				q->summary = (search_summary)i;
				return 0;
			}
		problem(c, "invalid", key,
		        "_summary must be true, text, data, count or false, not '%s'", val);
		return -1;
	}
	if (!strcmp(key, "_elements")) {
		q->elements = split_list(c->a, val, NULL);
		return 0;
	}
	int reverse = !strncmp(key, "_revinclude", 11);
	if (reverse || !strncmp(key, "_include", 8)) {
		const char *mod = key + (reverse ? 11 : 8);
		int iterate = !strcmp(mod, ":iterate") || !strcmp(mod, ":recurse");
		if (*mod && !iterate) {
			problem(c, "invalid", key, "unknown modifier on %s", key);
			return -1;
		}
		return parse_include(c, key, val, reverse, iterate);
	}
	if (!strcmp(key, "_type"))
		return 0; /* read before the other parameters */
	if (!strcmp(key, "_contained")) {
		if (!strcmp(val, "false"))
			return 0;
		if (!strcmp(val, "true") || !strcmp(val, "both")) {
			problem(c, "not-supported", key,
			        "searching contained resources (_contained=%s) is not supported",
			        val);
			return -1;
		}
		problem(c, "invalid", key, "_contained must be true, false or both, not '%s'", val);
		return -1;
	}
	if (!strcmp(key, "_containedType")) {
		if (!strcmp(val, "container") || !strcmp(val, "contained"))
			return 0; /* only matters with _contained, which is always false */
		problem(c, "invalid", key,
		        "_containedType must be container or contained, not '%s'", val);
		return -1;
	}
	if (!strcmp(key, "_query") || !strcmp(key, "_filter")) {
		problem(c, "not-supported", key, "%s is not supported", key);
		return -1;
	}
	return 1;
}

/* Parameters the REST layer handles (format, paging): neither parsed nor in
 * the canonical query. */
static int is_control_param(const char *key)
{
	static const char *const names[] = {"_format",     "_pretty",   "_offset",
	                                    "_page_after", "_after",    "_cursor",
	                                    "_page",       "_getpages", NULL};
	return in_list(names, key);
}

static void canonical_add(buf *b, const char *key, const char *val)
{
	static const char hex[] = "0123456789ABCDEF";
	if (b->len)
		buf_putc(b, '&');
	for (int part = 0; part < 2; part++) {
		const char *s = part ? val : key;
		if (part)
			buf_putc(b, '=');
		for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
			if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || strchr("-._~:/|,$*@!'()", *p)) {
				buf_putc(b, (char)*p);
			} else {
				buf_putc(b, '%');
				buf_putc(b, hex[*p >> 4]);
				buf_putc(b, hex[*p & 15]);
			}
		}
	}
}

static int parse_types(pctx *c, const char *const *keys, const char *const *vals, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(keys[i], "_type"))
			continue;
		if (c->q->type) {
			if (strcmp(vals[i], c->q->type))
				problem(c, "invalid", "_type",
				        "_type applies to searches across all types");
			continue;
		}
		size_t count;
		const char **types = split_list(c->a, vals[i], &count);
		for (size_t t = 0; t < count; t++)
			if (!is_resource_type(types[t])) {
				problem(c, "invalid", "_type", "'%s' is not a resource type",
				        types[t]);
				return -1;
			}
		if (count)
			c->q->types = types;
	}
	return 0;
}

int search_parse(arena *a, const char *type, const char *const *keys, const char *const *vals,
                 size_t n, int strict, search_query **out, diag_list *d)
{
	search_query *q = arena_calloc(a, sizeof *q);
	pctx c = {.a = a, .d = d, .strict = strict, .q = q};
	buf canon;

	q->a = a;
	q->type = type;
	q->count = DEFAULT_COUNT;
	/* no _total: none, so a search is not counted twice; the REST layer
	 * still gives the total when every match fits on the first page */
	q->total = SEARCH_TOTAL_NONE;
	q->summary = SEARCH_SUMMARY_FALSE;
	*out = q;
	if (type && !is_resource_type(type)) {
		diag_error(d, "not-supported", NULL, "'%s' is not a resource type", type);
		return -1;
	}
	/* a value that is not text is a malformed request, whatever the mode */
	for (size_t i = 0; i < n; i++) {
		const char *v = vals[i] ? vals[i] : "";
		if (!base_utf8_valid(keys[i], strlen(keys[i])) || !base_utf8_valid(v, strlen(v))) {
			diag_error(d, "invalid", NULL,
			           "The search parameter '%s' is not valid UTF-8",
			           base_utf8_valid(keys[i], strlen(keys[i])) ? keys[i] : "?");
			return -1;
		}
	}
	buf_init(&canon, 64 * 1024);
	parse_types(&c, keys, vals, n);
	for (size_t i = 0; i < n; i++) {
		const char *key = keys[i], *val = vals[i] ? vals[i] : "";
		if (!*key || is_control_param(key))
			continue;
		int rc = parse_result_param(&c, key, val);
		if (rc == 0)
			canonical_add(&canon, key, val);
		if (rc <= 0)
			continue;
		if (!*val)
			continue; /* the spec: parameters with empty values are ignored */
		search__cond *cond = parse_param(&c, type, key, val, 0);
		if (cond) {
			add_cond(q, cond);
			canonical_add(&canon, key, val);
		}
	}
	/* most selective first: a stable insertion sort on the rank */
	for (size_t i = 1; i < q->nconds; i++) {
		search__cond tmp = q->conds[i];
		size_t j = i;
		while (j > 0 && q->conds[j - 1].rank > tmp.rank) {
			q->conds[j] = q->conds[j - 1];
			j--;
		}
		q->conds[j] = tmp;
	}
	q->canonical = canon.len ? arena_memdup(a, canon.data, canon.len + 1) : "";
	buf_free(&canon);
	return c.failed ? -1 : 0;
}

void search_query_in_patient_compartment(search_query *q, const char *patient_id)
{
	search__cond cond = {.kind = SEARCH__COND_COMPARTMENT, .code = "patient", .rank = 0};
	cond.values = arena_calloc(q->a, sizeof *cond.values);
	cond.values[0].s[0] = arena_strdup(q->a, patient_id);
	cond.nvalues = 1;
	add_cond(q, &cond);
	/* compartment membership is the most selective condition there is */
	for (size_t j = q->nconds - 1; j > 0; j--) {
		search__cond tmp = q->conds[j];
		q->conds[j] = q->conds[j - 1];
		q->conds[j - 1] = tmp;
	}
}

/* ---- accessors ---- */

size_t search_query_count(const search_query *q)
{
	return q->count;
}

search_total search_query_total(const search_query *q)
{
	return q->total;
}

search_summary search_query_summary(const search_query *q)
{
	return q->summary;
}

const char *const *search_query_elements(const search_query *q)
{
	return (const char *const *)q->elements;
}

size_t search_query_includes(const search_query *q, const search_include **out)
{
	*out = q->includes;
	return q->nincludes;
}

const char *const *search_query_types(const search_query *q)
{
	return (const char *const *)q->types;
}

const char *search_query_canonical(const search_query *q)
{
	return q->canonical;
}

static void joined_types(const search__cond *c, const char **out, size_t max, size_t *n)
{
	if (!c)
		return;
	if (c->kind == SEARCH__COND_CHAIN)
		for (size_t i = 0; i < c->nalts; i++) {
			if (*n < max)
				out[*n] = c->alts[i].type;
			(*n)++;
			joined_types(c->alts[i].cond, out, max, n);
		}
	if (c->kind == SEARCH__COND_HAS) {
		if (*n < max)
			out[*n] = c->has_type;
		(*n)++;
		joined_types(c->inner, out, max, n);
	}
	if (c->kind == SEARCH__COND_TYPES)
		for (size_t i = 0; i < c->nalts; i++)
			joined_types(c->alts[i].cond, out, max, n);
}

size_t search_query_joined_types(const search_query *q, const char **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < q->nconds; i++)
		joined_types(&q->conds[i], out, max, &n);
	return n;
}
