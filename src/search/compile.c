/*
 * compile.c - a parsed search_query (search_int.h) to SQL (search.h): the
 * WHERE condition over `resource r` as one IN-subquery per condition on the
 * sp_* index tables, and the ORDER BY. Conditions come sorted by
 * selectivity from parse.c; every value is a bound `?` parameter, never SQL
 * text. The most selective condition drives the query (an IN-subquery on an
 * index); the others are correlated EXISTS checked per candidate row. The
 * SQL is the same for SQLite and PostgreSQL (both have NULLS LAST and LIKE
 * ... ESCAPE) but for SQLite's unary `+`, which keeps its planner off an
 * index where another one drives; text and binds come from the caller's
 * arena.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "search_int.h"

enum { MAX_SQL = 1 << 20 };

typedef struct sql {
	buf text;
	search_bind *binds;
	size_t n, cap;
	arena *a;
	int alias;   /* next alias number */
	int64_t now; /* for date ap */
	int toobig;  /* the text passed MAX_SQL */
	search_dialect dialect;
} sql;

static void put(sql *s, const char *t)
{
	if (buf_puts(&s->text, t))
		s->toobig = 1;
}

static void putf(sql *s, const char *fmt, ...) BASE_PRINTF(2, 3);

static void putf(sql *s, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	put(s, tmp);
}

static void bind(sql *s, search_bind b)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		search_bind *nb = arena_alloc(s->a, cap * sizeof *nb);
		if (s->n)
			memcpy(nb, s->binds, s->n * sizeof *nb);
		s->binds = nb;
		s->cap = cap;
	}
	s->binds[s->n++] = b;
	put(s, "?");
}

/* A text value compared with an index column: cut as index rows are. */
static void text(sql *s, const char *t)
{
	bind(s, (search_bind){.kind = SEARCH_BIND_TEXT, .text = search_cap(s->a, t ? t : "")});
}

static void text_raw(sql *s, const char *t)
{
	bind(s, (search_bind){.kind = SEARCH_BIND_TEXT, .text = t});
}

static void integer(sql *s, int64_t v)
{
	bind(s, (search_bind){.kind = SEARCH_BIND_INT, .i = v});
}

static void real(sql *s, double v)
{
	bind(s, (search_bind){.kind = SEARCH_BIND_REAL, .r = v});
}

static int new_alias(sql *s)
{
	return s->alias++;
}

static const char *table_of(model_sp_type t)
{
	switch (t) {
	case MODEL_SP_NUMBER: return "sp_number";
	case MODEL_SP_DATE: return "sp_date";
	case MODEL_SP_STRING: return "sp_string";
	case MODEL_SP_TOKEN: return "sp_token";
	case MODEL_SP_REFERENCE: return "sp_reference";
	case MODEL_SP_QUANTITY: return "sp_quantity";
	case MODEL_SP_URI: return "sp_uri";
	default: return NULL;
	}
}

/* The smallest string greater than every string starting with p (binary
 * order), for `col >= p AND col < successor(p)` prefix ranges an index can
 * serve. An ASCII last character is incremented; otherwise the largest code
 * point is appended, so the bound stays valid UTF-8 for PostgreSQL. */
static const char *successor(arena *a, const char *p)
{
	size_t n = strlen(p);
	if (n && (unsigned char)p[n - 1] < 0x7f) {
		char *s = arena_strdup(a, p);
		s[n - 1]++;
		return s;
	}
	return arena_printf(a, "%s\xf4\x8f\xbf\xbf", p);
}

static void prefix_match(sql *s, const char *col, const char *p)
{
	if (!*p) {
		putf(s, "%s IS NOT NULL", col);
		return;
	}
	p = search_cap(s->a, p);
	putf(s, "%s >= ", col);
	text_raw(s, p);
	putf(s, " AND %s < ", col);
	text_raw(s, successor(s->a, p));
}

/* col LIKE '%p%' with p's wildcards escaped. */
static void contains_match(sql *s, const char *col, const char *p)
{
	p = search_cap(s->a, p);
	size_t n = strlen(p);
	char *pat = arena_alloc(s->a, 2 * n + 3), *o = pat;
	*o++ = '%';
	for (const char *c = p; *c; c++) {
		if (*c == '%' || *c == '_' || *c == '\\')
			*o++ = '\\';
		*o++ = *c;
	}
	*o++ = '%';
	*o = 0;
	putf(s, "%s LIKE ", col);
	text_raw(s, pat);
	put(s, " ESCAPE '\\'");
}

/* ---- per-type matches on one index row (alias x<n>) ---- */

static void string_match(sql *s, const char *x, search__modifier mod, const search__value *v)
{
	char col[32];
	if (mod == SEARCH__MOD_EXACT) {
		putf(s, "%s.exact = ", x);
		text(s, v->s[1]);
	} else if (mod == SEARCH__MOD_CONTAINS) {
		snprintf(col, sizeof col, "%s.norm", x);
		contains_match(s, col, v->s[0]);
	} else if (mod == SEARCH__MOD_TEXT) { /* _text/_content: every word */
		snprintf(col, sizeof col, "%s.norm", x);
		const char *p = v->s[0];
		int words = 0;
		while (*p) {
			size_t len = strcspn(p, " ");
			if (len) {
				if (words++)
					put(s, " AND ");
				contains_match(s, col, arena_strndup(s->a, p, len));
			}
			p += len;
			p += strspn(p, " ");
		}
		if (!words)
			put(s, "1 = 1");
	} else {
		snprintf(col, sizeof col, "%s.norm", x);
		prefix_match(s, col, v->s[0]);
	}
}

static void token_match(sql *s, const char *x, search__modifier mod, const search__value *v)
{
	char col[32];
	if (mod == SEARCH__MOD_TEXT) {
		snprintf(col, sizeof col, "%s.text", x);
		prefix_match(s, col, v->s[0]);
		return;
	}
	if (mod == SEARCH__MOD_OF_TYPE) {
		putf(s, "%s.system = ", x);
		text(s, v->s[0]);
		putf(s, " AND %s.code = ", x);
		text(s, v->s[1]);
		putf(s, " AND %s.text = ", x);
		text(s, v->s[2]);
		return;
	}
	if (!v->has_system || *v->s[1]) {
		putf(s, "%s.code = ", x);
		text(s, v->s[1]);
	}
	if (v->has_system) {
		if (*v->s[1])
			put(s, " AND ");
		putf(s, "%s.system = ", x);
		text(s, v->s[0]);
	}
}

/* The spec's prefixes for a target range [lo, hi] against a search range
 * [slo, shi] (dates: inclusive bounds). */
static void range_match(sql *s, const char *lo, const char *hi, search__prefix p, int64_t slo,
                        int64_t shi, int64_t now)
{
	switch (p) {
	case SEARCH__EQ: /* the search range contains the target */
		putf(s, "%s >= ", lo), integer(s, slo), putf(s, " AND %s <= ", hi), integer(s, shi);
		break;
	case SEARCH__NE:
		putf(s, "(%s < ", lo), integer(s, slo), putf(s, " OR %s > ", hi), integer(s, shi);
		put(s, ")");
		break;
	case SEARCH__GT: /* the range above the search value overlaps the target */
		putf(s, "%s > ", hi), integer(s, shi);
		break;
	case SEARCH__LT: putf(s, "%s < ", lo), integer(s, slo); break;
	case SEARCH__GE: /* gt, or eq */
		putf(s, "(%s > ", hi), integer(s, shi);
		putf(s, " OR (%s >= ", lo), integer(s, slo), putf(s, " AND %s <= ", hi),
		        integer(s, shi);
		put(s, "))");
		break;
	case SEARCH__LE:
		putf(s, "(%s < ", lo), integer(s, slo);
		putf(s, " OR (%s >= ", lo), integer(s, slo), putf(s, " AND %s <= ", hi),
		        integer(s, shi);
		put(s, "))");
		break;
	case SEARCH__SA: /* starts after the search range ends */
		putf(s, "%s > ", lo), integer(s, shi);
		break;
	case SEARCH__EB: putf(s, "%s < ", hi), integer(s, slo); break;
	case SEARCH__AP: { /* overlaps the search range widened by 10% of its distance from now */
		double mid = (double)slo / 2 + (double)shi / 2;
		int64_t gap = (int64_t)(fabs((double)now - mid) / 10);
		int64_t alo = slo > INT64_MIN + gap ? slo - gap : INT64_MIN;
		int64_t ahi = shi < INT64_MAX - gap ? shi + gap : INT64_MAX;
		putf(s, "%s <= ", lo), integer(s, ahi), putf(s, " AND %s >= ", hi), integer(s, alo);
		break;
	}
	}
}

/* Numbers compare the stored value itself against the search value, whose
 * implicit precision [num_lo, num_hi) applies to eq, ne and ap only. */
static void number_match(sql *s, const char *col, const search__value *v)
{
	switch (v->prefix) {
	case SEARCH__EQ:
		putf(s, "%s >= ", col), real(s, v->num_lo), putf(s, " AND %s < ", col),
		        real(s, v->num_hi);
		break;
	case SEARCH__NE:
		putf(s, "(%s < ", col), real(s, v->num_lo), putf(s, " OR %s >= ", col),
		        real(s, v->num_hi);
		put(s, ")");
		break;
	case SEARCH__GT:
	case SEARCH__SA: putf(s, "%s > ", col), real(s, v->num); break;
	case SEARCH__LT:
	case SEARCH__EB: putf(s, "%s < ", col), real(s, v->num); break;
	case SEARCH__GE: putf(s, "%s >= ", col), real(s, v->num); break;
	case SEARCH__LE: putf(s, "%s <= ", col), real(s, v->num); break;
	case SEARCH__AP: {
		double d = fabs(v->num) / 10;
		double half = (v->num_hi - v->num_lo) / 2;
		if (d < half)
			d = half;
		putf(s, "%s >= ", col), real(s, v->num - d), putf(s, " AND %s <= ", col);
		real(s, v->num + d);
		break;
	}
	}
}

static void quantity_match(sql *s, const char *x, const search__value *v)
{
	char col[32];
	const char *sys = v->s[0], *code = v->s[1];
	int ucum = *code && (!*sys || !strcmp(sys, SEARCH_UCUM));
	double cvalue;
	const char *ccode;
	search__value cv;

	if (ucum && !search__ucum_canonical(s->a, code, v->num, &cvalue, &ccode)) {
		/* compare in canonical units: 1 kg matches 1000 g */
		double factor = v->num != 0 ? cvalue / v->num : 1;
		cv = *v;
		cv.num = cvalue;
		if (v->num != 0) {
			cv.num_lo = v->num_lo * factor;
			cv.num_hi = v->num_hi * factor;
			if (cv.num_lo > cv.num_hi) {
				double t = cv.num_lo;
				cv.num_lo = cv.num_hi;
				cv.num_hi = t;
			}
		} else {
			double c1;
			const char *cc;
			/* the width of the precision range, converted */
			if (!search__ucum_canonical(s->a, code, v->num_hi, &c1, &cc)) {
				cv.num_hi = c1;
				cv.num_lo = 2 * cvalue - c1;
			}
		}
		putf(s, "((%s.ccode = ", x);
		text(s, ccode);
		put(s, " AND ");
		snprintf(col, sizeof col, "%s.cvalue", x);
		number_match(s, col, &cv);
		putf(s, ") OR (%s.ccode = '' AND %s.code = ", x, x);
		text(s, code);
		if (*sys) {
			putf(s, " AND %s.system = ", x);
			text(s, sys);
		}
		put(s, " AND ");
		snprintf(col, sizeof col, "%s.value", x);
		number_match(s, col, v);
		put(s, "))");
		return;
	}
	if (*sys) {
		putf(s, "%s.system = ", x);
		text(s, sys);
		put(s, " AND ");
	}
	if (*code) {
		putf(s, "%s.code = ", x);
		text(s, code);
		put(s, " AND ");
	}
	snprintf(col, sizeof col, "%s.value", x);
	number_match(s, col, v);
}

static void reference_match(sql *s, const char *x, search__modifier mod, const search__value *v)
{
	if (mod == SEARCH__MOD_IDENTIFIER) {
		putf(s, "%s.ivalue = ", x);
		text(s, v->s[1]);
		if (v->has_system) {
			putf(s, " AND %s.isystem = ", x);
			text(s, v->s[0]);
		}
		return;
	}
	if (v->s[2]) {
		putf(s, "%s.url = ", x);
		text(s, v->s[2]);
		return;
	}
	putf(s, "%s.tid = ", x);
	text(s, v->s[1]);
	if (v->s[0]) {
		putf(s, " AND %s.ttype = ", x);
		text(s, v->s[0]);
	}
}

static void uri_match(sql *s, const char *x, search__modifier mod, const search__value *v)
{
	char col[32];
	snprintf(col, sizeof col, "%s.uri", x);
	if (mod == SEARCH__MOD_BELOW) {
		prefix_match(s, col, v->s[0]);
	} else if (mod == SEARCH__MOD_ABOVE) {
		putf(s, "%s IN (", col);
		for (size_t i = 0; v->uris[i]; i++) {
			if (i)
				put(s, ", ");
			text(s, v->uris[i]);
		}
		put(s, ")");
	} else {
		putf(s, "%s = ", col);
		text(s, v->s[0]);
	}
}

static void value_match(sql *s, const char *x, model_sp_type t, search__modifier mod,
                        const search__value *v)
{
	char col[32];
	switch (t) {
	case MODEL_SP_STRING: string_match(s, x, mod, v); break;
	case MODEL_SP_TOKEN: token_match(s, x, mod, v); break;
	case MODEL_SP_DATE: {
		char lo[32], hi[32];
		snprintf(lo, sizeof lo, "%s.lo", x);
		snprintf(hi, sizeof hi, "%s.hi", x);
		range_match(s, lo, hi, v->prefix, v->lo, v->hi, s->now);
		break;
	}
	case MODEL_SP_NUMBER:
		snprintf(col, sizeof col, "%s.value", x);
		number_match(s, col, v);
		break;
	case MODEL_SP_QUANTITY: quantity_match(s, x, v); break;
	case MODEL_SP_REFERENCE: reference_match(s, x, mod, v); break;
	case MODEL_SP_URI: uri_match(s, x, mod, v); break;
	default: put(s, "1 = 0"); break;
	}
}

/* ---- conditions ---- */

static int cond_sql(sql *s, const search__cond *c, const char *r, const char *type, int drive,
                    diag_list *d);

/* Can c drive the query: a subquery listing matching rids, read through an
 * index, from which the resource rows are fetched by rid? */
static int drivable(const search__cond *c)
{
	switch (c->kind) {
	case SEARCH__COND_PARAM:
		return c->mod != SEARCH__MOD_NOT && !(c->mod == SEARCH__MOD_MISSING);
	case SEARCH__COND_CHAIN:
	case SEARCH__COND_LIST: return 1;
	default: return 0;
	}
}

/* `<r>.type = ?`; with SQLite written `+<r>.type` when another condition
 * drives the query, so that the planner fetches rows by rid from that
 * condition's index instead of scanning every resource of the type. */
static void type_eq(sql *s, const char *r, const char *type, int other_drives)
{
	putf(s, "%s%s.type = ", other_drives && s->dialect == SEARCH_SQLITE ? "+" : "", r);
	text(s, type);
}

static void or_values(sql *s, const search__cond *c, const char *x)
{
	put(s, "(");
	for (size_t i = 0; i < c->nvalues; i++) {
		if (i)
			put(s, " OR ");
		put(s, "(");
		value_match(s, x, c->type, c->mod, &c->values[i]);
		put(s, ")");
	}
	put(s, ")");
}

static void composite_sql(sql *s, const search__cond *c, const char *r)
{
	int base = s->alias;
	s->alias += (int)c->ncomps;
	putf(s, "%s.rid IN (SELECT x%d.rid FROM %s x%d", r, base, table_of(c->comp_type[0]), base);
	for (size_t i = 1; i < c->ncomps; i++)
		putf(s, " JOIN %s x%d ON x%d.rid = x%d.rid AND x%d.grp = x%d.grp",
		     table_of(c->comp_type[i]), base + (int)i, base + (int)i, base, base + (int)i,
		     base);
	put(s, " WHERE ");
	for (size_t i = 0; i < c->ncomps; i++) {
		putf(s, "x%d.pid = ", base + (int)i);
		integer(s, c->comp_pid[i]);
		put(s, " AND ");
	}
	put(s, "(");
	for (size_t k = 0; k < c->nvalues; k++) {
		if (k)
			put(s, " OR ");
		put(s, "(");
		for (size_t i = 0; i < c->ncomps; i++) {
			char x[16];
			snprintf(x, sizeof x, "x%d", base + (int)i);
			if (i)
				put(s, " AND ");
			put(s, "(");
			value_match(s, x, c->comp_type[i], SEARCH__MOD_NONE,
			            &c->values[k].comps[i]);
			put(s, ")");
		}
		put(s, ")");
	}
	put(s, "))");
}

/* x.pid = ?, or x.pid IN (...) for a parameter searched across all types. */
static void pid_match(sql *s, const char *x, const search__cond *c, uint32_t pid, int correlated)
{
	const char *plus = correlated && s->dialect == SEARCH_SQLITE ? "+" : "";
	if (!c->npids) {
		putf(s, "%s%s.pid = ", plus, x);
		integer(s, pid);
		return;
	}
	putf(s, "%s%s.pid IN (", plus, x);
	for (size_t i = 0; i < c->npids; i++) {
		if (i)
			put(s, ", ");
		integer(s, c->pids[i]);
	}
	put(s, ")");
}

/* An indexed parameter. Driving: `r.rid IN (SELECT rid ... WHERE pid = ?
 * AND match)`, read through the (pid, ...) indexes. Otherwise a correlated
 * [NOT] EXISTS on the (rid, pid) index, checked per candidate row; the pid
 * is written `+x.pid` there so that SQLite does not pick a (pid, ...) index
 * and scan every row of the parameter. */
static void param_sql(sql *s, const search__cond *c, const char *r, int drive)
{
	model_sp_type t = c->type;
	uint32_t pid = c->pid;
	int negate = c->mod == SEARCH__MOD_NOT, only_pid = 0;
	if (c->mod == SEARCH__MOD_MISSING) {
		/* :missing=true and :missing=false together match everything */
		int any_true = 0, any_false = 0;
		for (size_t i = 0; i < c->nvalues; i++)
			*(c->values[i].missing ? &any_true : &any_false) = 1;
		if (any_true && any_false) {
			put(s, "1 = 1");
			return;
		}
		negate = any_true;
		only_pid = 1;
	}
	if (t == MODEL_SP_COMPOSITE) {
		if (!only_pid) {
			composite_sql(s, c, r);
			return;
		}
		t = c->comp_type[0];
		pid = c->comp_pid[0];
	}
	int a = new_alias(s);
	char x[16];
	snprintf(x, sizeof x, "x%d", a);
	/* full text (_text/_content) has its own table, without a value index */
	const char *tbl =
	        t == MODEL_SP_STRING && c->mod == SEARCH__MOD_TEXT ? "sp_text" : table_of(t);
	if (drive && !negate) {
		putf(s, "%s.rid IN (SELECT %s.rid FROM %s %s WHERE ", r, x, tbl, x);
		pid_match(s, x, c, pid, 0);
	} else {
		putf(s, "%sEXISTS (SELECT 1 FROM %s %s WHERE %s.rid = %s.rid AND ",
		     negate ? "NOT " : "", tbl, x, x, r);
		pid_match(s, x, c, pid, 1);
	}
	if (!only_pid) {
		put(s, " AND ");
		or_values(s, c, x);
	}
	put(s, ")");
}

static void id_sql(sql *s, const search__cond *c, const char *r)
{
	if (c->mod == SEARCH__MOD_MISSING) { /* every resource has an id */
		put(s, c->values[0].missing ? "1 = 0" : "1 = 1");
		return;
	}
	putf(s, "%s.id %sIN (", r, c->mod == SEARCH__MOD_NOT ? "NOT " : "");
	for (size_t i = 0; i < c->nvalues; i++) {
		if (i)
			put(s, ", ");
		text(s, c->values[i].s[0]);
	}
	put(s, ")");
}

static void last_updated_sql(sql *s, const search__cond *c, const char *r)
{
	if (c->mod == SEARCH__MOD_MISSING) {
		put(s, c->values[0].missing ? "1 = 0" : "1 = 1");
		return;
	}
	char col[32];
	snprintf(col, sizeof col, "%s.last_updated", r);
	put(s, "(");
	for (size_t i = 0; i < c->nvalues; i++) {
		if (i)
			put(s, " OR ");
		put(s, "(");
		range_match(s, col, col, c->values[i].prefix, c->values[i].lo, c->values[i].hi,
		            s->now);
		put(s, ")");
	}
	put(s, ")");
}

/* reference parameter whose target resource matches: for each target type,
 * the rows pointing at ids of that type that match the inner condition. */
static int chain_sql(sql *s, const search__cond *c, const char *r, diag_list *d)
{
	int a = new_alias(s);
	putf(s, "%s.rid IN (SELECT x%d.rid FROM sp_reference x%d WHERE x%d.pid = ", r, a, a, a);
	integer(s, c->pid);
	put(s, " AND (");
	for (size_t i = 0; i < c->nalts; i++) {
		int t = new_alias(s);
		char tr[16];
		snprintf(tr, sizeof tr, "t%d", t);
		if (i)
			put(s, " OR ");
		putf(s, "(x%d.ttype = ", a);
		text(s, c->alts[i].type);
		putf(s, " AND x%d.tid IN (SELECT %s.id FROM resource %s WHERE ", a, tr, tr);
		type_eq(s, tr, c->alts[i].type, drivable(c->alts[i].cond));
		putf(s, " AND %s.deleted = 0 AND ", tr);
		if (cond_sql(s, c->alts[i].cond, tr, c->alts[i].type, 1, d))
			return -1;
		put(s, "))");
	}
	put(s, "))");
	return 0;
}

/* _has: the ids that resources of has_type, matching the inner condition,
 * refer to through the parameter. */
static int has_sql(sql *s, const search__cond *c, const char *r, const char *type, diag_list *d)
{
	int a = new_alias(s), h = new_alias(s);
	char hr[16];
	snprintf(hr, sizeof hr, "h%d", h);
	/* the inner condition drives: the referring rows are found by (rid, pid) */
	const char *plus = drivable(c->inner) && s->dialect == SEARCH_SQLITE ? "+" : "";
	putf(s, "%s.id IN (SELECT x%d.tid FROM sp_reference x%d WHERE %sx%d.pid = ", r, a, a, plus,
	     a);
	integer(s, c->pid);
	putf(s, " AND %sx%d.ttype = ", plus, a);
	if (type)
		text(s, type);
	else
		putf(s, "%s.type", r);
	if (c->inner->kind == SEARCH__COND_PARAM && drivable(c->inner) && c->inner->npids == 0) {
		/* a plain parameter of has_type: its rows exist only for live
		 * resources of that type, so they name the referring rids without
		 * a look at the resource table */
		char xr[16];
		snprintf(xr, sizeof xr, "x%d", a);
		put(s, " AND ");
		param_sql(s, c->inner, xr, 1);
		put(s, ")");
		return 0;
	}
	putf(s, " AND x%d.rid IN (SELECT %s.rid FROM resource %s WHERE ", a, hr, hr);
	type_eq(s, hr, c->has_type, drivable(c->inner));
	putf(s, " AND %s.deleted = 0 AND ", hr);
	if (cond_sql(s, c->inner, hr, c->has_type, 1, d))
		return -1;
	put(s, "))");
	return 0;
}

static void compartment_sql(sql *s, const search__cond *c, const char *r, const char *type)
{
	const char *id = c->values[0].s[0];
	int a = new_alias(s);
	if (type && strcmp(type, "Patient")) {
		putf(s, "%s.rid IN (SELECT x%d.rid FROM sp_compartment x%d WHERE x%d.patient = ", r,
		     a, a, a);
		text(s, id);
		put(s, ")");
		return;
	}
	/* a Patient is in its own compartment */
	put(s, "(");
	if (!type)
		putf(s, "%s.type = 'Patient' AND ", r);
	putf(s, "%s.id = ", r);
	text(s, id);
	putf(s, " OR %s.rid IN (SELECT x%d.rid FROM sp_compartment x%d WHERE x%d.patient = ", r, a,
	     a, a);
	text(s, id);
	put(s, "))");
}

static void list_sql(sql *s, const search__cond *c, const char *r)
{
	int a = new_alias(s);
	putf(s,
	     "%s.rid IN (SELECT t%d.rid FROM sp_reference x%d JOIN resource l%d ON l%d.rid = "
	     "x%d.rid"
	     " JOIN resource t%d ON t%d.type = x%d.ttype AND t%d.id = x%d.tid"
	     " WHERE x%d.pid = ",
	     r, a, a, a, a, a, a, a, a, a, a, a);
	integer(s, c->pid);
	putf(s, " AND l%d.type = 'List' AND l%d.deleted = 0 AND l%d.id IN (", a, a, a);
	for (size_t i = 0; i < c->nvalues; i++) {
		if (i)
			put(s, ", ");
		text(s, c->values[i].s[0]);
	}
	put(s, "))");
}

/* The SQL of condition c over the resource row alias r of type `type`
 * (NULL: any). */
static int cond_sql(sql *s, const search__cond *c, const char *r, const char *type, int drive,
                    diag_list *d)
{
	switch (c->kind) {
	case SEARCH__COND_PARAM: param_sql(s, c, r, drive); return 0;
	case SEARCH__COND_ID: id_sql(s, c, r); return 0;
	case SEARCH__COND_LAST_UPDATED: last_updated_sql(s, c, r); return 0;
	case SEARCH__COND_CHAIN: return chain_sql(s, c, r, d);
	case SEARCH__COND_HAS: return has_sql(s, c, r, type, d);
	case SEARCH__COND_COMPARTMENT: compartment_sql(s, c, r, type); return 0;
	case SEARCH__COND_LIST: list_sql(s, c, r); return 0;
	case SEARCH__COND_TYPES:
		put(s, "(");
		for (size_t i = 0; i < c->nalts; i++) {
			if (i)
				put(s, " OR ");
			putf(s, "(%s.type = ", r);
			text(s, c->alts[i].type);
			if (c->alts[i].cond) {
				put(s, " AND ");
				if (cond_sql(s, c->alts[i].cond, r, c->alts[i].type, 0, d))
					return -1;
			}
			put(s, ")");
		}
		put(s, ")");
		return 0;
	}
	diag_error(d, "exception", NULL, "unknown search condition");
	return -1;
}

/* ---- ORDER BY ---- */

static void sort_sql(sql *s, const search__sort *k)
{
	const char *dir = k->desc ? "DESC" : "ASC";
	if (k->kind == 1) {
		putf(s, "r.id %s, ", dir);
		return;
	}
	if (k->kind == 2) {
		putf(s, "r.last_updated %s, ", dir);
		return;
	}
	const char *agg = k->desc ? "max" : "min", *col;
	switch (k->type) {
	case MODEL_SP_DATE: col = k->desc ? "hi" : "lo"; break;
	case MODEL_SP_STRING: col = "norm"; break;
	case MODEL_SP_TOKEN: col = "code"; break;
	case MODEL_SP_NUMBER: col = "value"; break;
	case MODEL_SP_QUANTITY: col = "value"; break;
	case MODEL_SP_REFERENCE: col = "tid"; break;
	case MODEL_SP_URI: col = "uri"; break;
	default: return;
	}
	int a = new_alias(s);
	/* `+pid`: SQLite must find the rows by (rid, pid), not scan a (pid, ...) index */
	putf(s, "(SELECT %s(x%d.%s) FROM %s x%d WHERE x%d.rid = r.rid AND %sx%d.pid ", agg, a, col,
	     table_of(k->type), a, a, s->dialect == SEARCH_SQLITE ? "+" : "", a);
	if (k->npids == 1) {
		put(s, "= ");
		integer(s, k->pids[0]);
	} else {
		put(s, "IN (");
		for (size_t i = 0; i < k->npids; i++) {
			if (i)
				put(s, ", ");
			integer(s, k->pids[i]);
		}
		put(s, ")");
	}
	putf(s, ") %s NULLS LAST, ", dir);
}

int search_compile(const search_query *q, search_dialect dialect, int64_t after_rid, arena *a,
                   search_sql *out, diag_list *d)
{
	sql s = {.a = a, .now = base_now_us(), .dialect = dialect};
	int rc = -1;
	int drive = q->nconds && drivable(&q->conds[0]);

	memset(out, 0, sizeof *out);
	buf_init(&s.text, MAX_SQL);
	if (q->type) {
		type_eq(&s, "r", q->type, drive);
		put(&s, " AND ");
	} else if (q->types) {
		put(&s, "r.type IN (");
		for (size_t i = 0; q->types[i]; i++) {
			if (i)
				put(&s, ", ");
			text(&s, q->types[i]);
		}
		put(&s, ") AND ");
	}
	put(&s, "r.deleted = 0");
	for (size_t i = 0; i < q->nconds; i++) {
		put(&s, " AND ");
		if (cond_sql(&s, &q->conds[i], "r", q->type, drive && i == 0, d))
			goto out;
	}
	if (after_rid > 0) {
		if (q->nsorts) {
			diag_error(d, "exception", NULL,
			           "keyset paging (after_rid) needs the r.rid order");
			goto out;
		}
		put(&s, " AND r.rid > ");
		integer(&s, after_rid);
	}
	size_t where_len = s.text.len;
	for (size_t i = 0; i < q->nsorts; i++)
		sort_sql(&s, &q->sorts[i]);
	put(&s, "r.rid");
	if (s.toobig) {
		diag_error(d, "too-costly", NULL, "the search is too large to run");
		goto out;
	}
	out->where = arena_strndup(a, s.text.data, where_len);
	out->order_by = arena_strdup(a, s.text.data + where_len);
	out->binds = s.binds;
	out->nbinds = s.n;
	rc = 0;
out:
	buf_free(&s.text);
	return rc;
}

/* ---- _include and _revinclude ---- */

static void rid_list(sql *s, const int64_t *rids, size_t n)
{
	put(s, "(");
	for (size_t i = 0; i < n; i++) {
		if (i)
			put(s, ",");
		integer(s, rids[i]);
	}
	put(s, ")");
}

/* The resources the page's resources point at (_include), or that point at
 * them (_revinclude), through sp_reference rows; every value bound. */
int search_compile_include(const search_include *inc, const int64_t *rids, size_t n,
                           search_dialect dialect, arena *a, search_sql *out, diag_list *d)
{
	if (!n)
		return -1;
	int any_param = !strcmp(inc->param, "*");
	uint32_t pid = 0;
	if (!any_param) {
		if (!strcmp(inc->source_type, "*")) {
			diag_error(d, "not-supported", NULL,
			           "A named parameter needs a source type");
			return -1;
		}
		pid = search_pid(inc->source_type, inc->param);
		if (!pid) {
			diag_error(d, "not-found", NULL, "%s has no search parameter '%s'",
			           inc->source_type, inc->param);
			return -1;
		}
	}
	sql s = {.a = a, .dialect = dialect};
	buf_init(&s.text, 0);
	put(&s, "r.deleted = 0 AND ");
	if (!inc->reverse) {
		/* the resources the page's resources point at */
		buf_puts(&s.text,
		         "(r.type, r.id) IN (SELECT ttype, tid FROM sp_reference WHERE rid IN ");
		rid_list(&s, rids, n);
		if (!any_param) {
			put(&s, " AND pid = ");
			integer(&s, pid);
		}
		put(&s, ")");
		if (inc->target_type) {
			put(&s, " AND r.type = ");
			text(&s, inc->target_type);
		}
	} else {
		/* the resources pointing at the page's resources */
		if (strcmp(inc->source_type, "*")) {
			put(&s, "r.type = ");
			text(&s, inc->source_type);
			put(&s, " AND ");
		}
		put(&s, "r.rid IN (SELECT x.rid FROM sp_reference x WHERE ");
		if (!any_param) {
			put(&s, "x.pid = ");
			integer(&s, pid);
			put(&s, " AND ");
		}
		buf_puts(&s.text,
		         "(x.ttype, x.tid) IN (SELECT type, id FROM resource WHERE rid IN ");
		rid_list(&s, rids, n);
		if (inc->target_type) {
			put(&s, " AND type = ");
			text(&s, inc->target_type);
		}
		put(&s, "))");
	}
	if (s.toobig) {
		buf_free(&s.text);
		diag_error(d, "too-costly", NULL, "The include query is too large");
		return -1;
	}
	out->where = arena_memdup(a, s.text.data, s.text.len);
	out->order_by = "r.rid";
	out->binds = s.binds;
	out->nbinds = s.n;
	buf_free(&s.text);
	return 0;
}
