/*
 * fn_string.c - FHIRPath conversion (toX/convertsToX), string and math
 * functions. Strings are UTF-8; positions and lengths count code points.
 * Regular expressions use POSIX extended syntax after translating the
 * common Perl escapes (\d \w \s); each call compiles and frees its regex.
 */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "fp_int.h"

#define FN(name)                                                                                   \
	static int fn_##name(fp_ctx *c, const fp_node *call, const fp_coll *in,                    \
	                     const fp_frame *fr, fp_coll *out)

/* The input as one System value: 0 and *v, 1 when empty, -1 error. */
static int input_value(fp_ctx *c, const fp_node *call, const fp_coll *in, fp_item *v)
{
	if (in->count == 0)
		return 1;
	if (in->count > 1)
		return fp__error(c, call, "%s() needs a single item, got %zu", call->name,
		                 in->count);
	if (fp__value(&in->items[0], v))
		return fp__error(c, call, "%s() on a complex value", call->name);
	return 0;
}

/* Input as a String (for the string functions): 0, 1 empty, -1 error. */
static int input_string(fp_ctx *c, const fp_node *call, const fp_coll *in, fp_item *v)
{
	int rc = input_value(c, call, in, v);
	if (rc)
		return rc;
	if (v->kind != FP_STRING)
		return fp__error(c, call, "%s() needs a String", call->name);
	return 0;
}

/* ---- conversion ---- */

static int str_ieq(const fp_item *v, const char *w)
{
	return v->u.str.len == strlen(w) && !strncasecmp(v->u.str.s, w, v->u.str.len);
}

static int conv_bool(const fp_item *v, fp_item *r)
{
	r->kind = FP_BOOLEAN;
	switch (v->kind) {
	case FP_BOOLEAN: r->u.b = v->u.b; return 0;
	case FP_INTEGER:
		if (v->u.i != 0 && v->u.i != 1)
			return -1;
		r->u.b = (int)v->u.i;
		return 0;
	case FP_DECIMAL:
		if (v->u.d != 0 && v->u.d != 1)
			return -1;
		r->u.b = v->u.d == 1;
		return 0;
	case FP_STRING:
		if (str_ieq(v, "true") || str_ieq(v, "t") || str_ieq(v, "yes") || str_ieq(v, "y") ||
		    str_ieq(v, "1") || str_ieq(v, "1.0"))
			r->u.b = 1;
		else if (str_ieq(v, "false") || str_ieq(v, "f") || str_ieq(v, "no") ||
		         str_ieq(v, "n") || str_ieq(v, "0") || str_ieq(v, "0.0"))
			r->u.b = 0;
		else
			return -1;
		return 0;
	default: return -1;
	}
}

/* [+-]?digits(.digits)? ; sets *dec when there is a fraction. */
static int number_syntax(const char *s, size_t len, int *dec, int *scale)
{
	size_t i = 0, d = 0;
	*dec = 0;
	*scale = 0;
	if (i < len && (s[i] == '+' || s[i] == '-'))
		i++;
	while (i < len && isdigit((unsigned char)s[i]))
		i++, d++;
	if (!d)
		return -1;
	if (i < len && s[i] == '.') {
		size_t f = 0;
		i++;
		while (i < len && isdigit((unsigned char)s[i]))
			i++, f++;
		if (!f)
			return -1;
		*dec = 1;
		*scale = (int)f;
	}
	return i == len ? 0 : -1;
}

static int conv_int(const fp_item *v, fp_item *r)
{
	r->kind = FP_INTEGER;
	switch (v->kind) {
	case FP_INTEGER: r->u.i = v->u.i; return 0;
	case FP_BOOLEAN: r->u.i = v->u.b; return 0;
	case FP_STRING: {
		int dec, scale;
		if (number_syntax(v->u.str.s, v->u.str.len, &dec, &scale) || dec ||
		    v->u.str.len > 12)
			return -1;
		char tmp[16];
		memcpy(tmp, v->u.str.s, v->u.str.len);
		tmp[v->u.str.len] = 0;
		long long x = strtoll(tmp, NULL, 10);
		if (x > INT32_MAX || x < INT32_MIN)
			return -1;
		r->u.i = x;
		return 0;
	}
	default: return -1;
	}
}

static int conv_dec(const fp_item *v, fp_item *r)
{
	r->kind = FP_DECIMAL;
	r->scale = 0;
	switch (v->kind) {
	case FP_DECIMAL: *r = *v; return 0;
	case FP_INTEGER: r->u.d = (double)v->u.i; return 0;
	case FP_BOOLEAN:
		r->u.d = v->u.b;
		r->scale = 1;
		return 0;
	case FP_STRING: {
		int dec, scale;
		if (v->u.str.len > 60 || number_syntax(v->u.str.s, v->u.str.len, &dec, &scale))
			return -1;
		char tmp[64];
		memcpy(tmp, v->u.str.s, v->u.str.len);
		tmp[v->u.str.len] = 0;
		r->u.d = strtod(tmp, NULL);
		r->scale = (uint8_t)scale;
		return 0;
	}
	default: return -1;
	}
}

static int conv_string(arena *a, const fp_item *v, fp_item *r)
{
	size_t len;
	const char *s = fp__to_string(a, v, &len);
	if (!s)
		return -1;
	r->kind = FP_STRING;
	r->u.str.s = s;
	r->u.str.len = len;
	return 0;
}

static int conv_datetime(const fp_item *v, fp_item *r, int want)
{
	*r = *v;
	if (v->kind == FP_STRING) {
		int kind;
		if (v->u.str.len > 40 || fp__parse_date(v->u.str.s, v->u.str.len, &r->u.dt, &kind))
			return -1;
		if (want == FP_DATE && r->u.dt.prec > DT_DAY)
			return -1;
	} else if (v->kind != FP_DATE && v->kind != FP_DATETIME) {
		return -1;
	}
	if (want == FP_DATE && r->u.dt.prec > DT_DAY) {
		r->u.dt.prec = DT_DAY;
		r->u.dt.has_tz = 0;
	}
	r->kind = (uint8_t)want;
	return 0;
}

static int conv_time(const fp_item *v, fp_item *r)
{
	*r = *v;
	if (v->kind == FP_TIME)
		return 0;
	if (v->kind != FP_STRING)
		return -1;
	const char *s = v->u.str.s;
	size_t len = v->u.str.len;
	if (len && s[0] == 'T')
		s++, len--;
	if (fp__parse_time(s, len, &r->u.dt))
		return -1;
	r->kind = FP_TIME;
	return 0;
}

static int conv_quantity(arena *a, const fp_item *v, fp_item *r)
{
	memset(r, 0, sizeof *r);
	r->kind = FP_QUANTITY;
	r->u.q.unit = "1";
	switch (v->kind) {
	case FP_QUANTITY: *r = *v; return 0;
	case FP_INTEGER: r->u.q.value = (double)v->u.i; return 0;
	case FP_DECIMAL: r->u.q.value = v->u.d; return 0;
	case FP_BOOLEAN: r->u.q.value = v->u.b; return 0;
	case FP_STRING: {
		char *s = arena_strndup(a, v->u.str.s, v->u.str.len);
		return fp__quantity_parse(a, s, r);
	}
	default: return -1;
	}
}

enum { TO_BOOL, TO_INT, TO_DEC, TO_STR, TO_DATE, TO_DATETIME, TO_TIME, TO_QTY };

static int convert(fp_ctx *c, const fp_node *call, const fp_coll *in, const fp_frame *fr,
                   fp_coll *out, int to, int test)
{
	fp_item v, r;
	int rc = input_value(c, call, in, &v);
	if (rc)
		return rc < 0 ? -1 : 0;
	memset(&r, 0, sizeof r);
	switch (to) {
	case TO_BOOL: rc = conv_bool(&v, &r); break;
	case TO_INT: rc = conv_int(&v, &r); break;
	case TO_DEC: rc = conv_dec(&v, &r); break;
	case TO_STR: rc = conv_string(c->a, &v, &r); break;
	case TO_DATE: rc = conv_datetime(&v, &r, FP_DATE); break;
	case TO_DATETIME: rc = conv_datetime(&v, &r, FP_DATETIME); break;
	case TO_TIME: rc = conv_time(&v, &r); break;
	default: rc = conv_quantity(c->a, &v, &r); break;
	}
	if (rc == 0 && to == TO_QTY && call->nargs == 1) {
		fp_item unit;
		if (fp__string_arg(c, call, 0, fr, &unit))
			return -1;
		if (unit.kind == FP_STRING) {
			fp_item target = {.kind = FP_QUANTITY};
			target.u.q.value = 1;
			target.u.q.unit = arena_strndup(c->a, unit.u.str.s, unit.u.str.len);
			fp_item conv;
			if (strcmp(target.u.q.unit, r.u.q.unit)) {
				if (fp__quantity_mul(c->a, &r, &target, 1, &conv) ||
				    strcmp(conv.u.q.unit, "1"))
					rc = -1;
				else
					r.u.q.value = conv.u.q.value, r.u.q.unit = target.u.q.unit;
			}
		}
	}
	if (test)
		fp__bool(c, out, rc == 0);
	else if (rc == 0)
		fp__push(c, out, &r);
	return 0;
}

#define CONV(name, to, test)                                                                       \
	FN(name)                                                                                   \
	{                                                                                          \
		return convert(c, call, in, fr, out, to, test);                                    \
	}
CONV(toBoolean, TO_BOOL, 0)
CONV(convertsToBoolean, TO_BOOL, 1)
CONV(toInteger, TO_INT, 0)
CONV(convertsToInteger, TO_INT, 1)
CONV(toDecimal, TO_DEC, 0)
CONV(convertsToDecimal, TO_DEC, 1)
CONV(toString, TO_STR, 0)
CONV(convertsToString, TO_STR, 1)
CONV(toDate, TO_DATE, 0)
CONV(convertsToDate, TO_DATE, 1)
CONV(toDateTime, TO_DATETIME, 0)
CONV(convertsToDateTime, TO_DATETIME, 1)
CONV(toTime, TO_TIME, 0)
CONV(convertsToTime, TO_TIME, 1)
CONV(toQuantity, TO_QTY, 0)
CONV(convertsToQuantity, TO_QTY, 1)

/* ---- strings ---- */

/* Byte offset of code point i in s (len bytes), or len when past the end. */
static size_t cp_offset(const char *s, size_t len, int64_t i)
{
	size_t b = 0;
	while (i > 0 && b < len) {
		b++;
		while (b < len && ((unsigned char)s[b] & 0xC0) == 0x80)
			b++;
		i--;
	}
	return b;
}

static int64_t cp_count(const char *s, size_t len)
{
	int64_t n = 0;
	for (size_t b = 0; b < len; b++)
		if (((unsigned char)s[b] & 0xC0) != 0x80)
			n++;
	return n;
}

static const char *find(const char *h, size_t hl, const char *n, size_t nl)
{
	if (nl == 0)
		return h;
	for (size_t i = 0; i + nl <= hl; i++)
		if (!memcmp(h + i, n, nl))
			return h + i;
	return NULL;
}

FN(indexOf)
{
	fp_item s, sub;
	int rc = input_string(c, call, in, &s);
	if (rc)
		return rc < 0 ? -1 : 0;
	if (fp__string_arg(c, call, 0, fr, &sub))
		return -1;
	if (sub.kind != FP_STRING)
		return 0;
	const char *p = find(s.u.str.s, s.u.str.len, sub.u.str.s, sub.u.str.len);
	fp__int(c, out, p ? cp_count(s.u.str.s, (size_t)(p - s.u.str.s)) : -1);
	return 0;
}

FN(substring)
{
	fp_item s;
	int rc = input_string(c, call, in, &s);
	if (rc)
		return rc < 0 ? -1 : 0;
	fp_coll r;
	if (fp__arg(c, call, 0, fr, &r))
		return -1;
	fp_item start;
	if (r.count == 0)
		return 0;
	if (r.count > 1 || fp__value(&r.items[0], &start) || start.kind != FP_INTEGER)
		return fp__error(c, call, "substring() start must be an Integer");
	int64_t n = cp_count(s.u.str.s, s.u.str.len);
	if (start.u.i < 0 || start.u.i >= n)
		return 0;
	int64_t len = n - start.u.i;
	if (call->nargs > 1) {
		fp_coll lr;
		if (fp__arg(c, call, 1, fr, &lr))
			return -1;
		fp_item l;
		if (lr.count == 1 && fp__value(&lr.items[0], &l) == 0 && l.kind == FP_INTEGER)
			len = l.u.i < len ? l.u.i : len;
		else if (lr.count)
			return fp__error(c, call, "substring() length must be an Integer");
	}
	if (len <= 0) {
		fp__str(c, out, "", 0);
		return 0;
	}
	size_t b0 = cp_offset(s.u.str.s, s.u.str.len, start.u.i);
	size_t b1 = b0 + cp_offset(s.u.str.s + b0, s.u.str.len - b0, len);
	fp__str(c, out, s.u.str.s + b0, b1 - b0);
	return 0;
}

static int affix(fp_ctx *c, const fp_node *call, const fp_coll *in, const fp_frame *fr,
                 fp_coll *out, int where)
{
	fp_item s, sub;
	int rc = input_string(c, call, in, &s);
	if (rc)
		return rc < 0 ? -1 : 0;
	if (fp__string_arg(c, call, 0, fr, &sub))
		return -1;
	if (sub.kind != FP_STRING)
		return 0;
	size_t sl = s.u.str.len, nl = sub.u.str.len;
	int r = 0;
	if (where == 0)
		r = nl <= sl && !memcmp(s.u.str.s, sub.u.str.s, nl);
	else if (where == 1)
		r = nl <= sl && !memcmp(s.u.str.s + sl - nl, sub.u.str.s, nl);
	else
		r = find(s.u.str.s, sl, sub.u.str.s, nl) != NULL;
	fp__bool(c, out, r);
	return 0;
}

FN(startsWith)
{
	return affix(c, call, in, fr, out, 0);
}
FN(endsWith)
{
	return affix(c, call, in, fr, out, 1);
}
FN(contains)
{
	return affix(c, call, in, fr, out, 2);
}

static int change_case(fp_ctx *c, const fp_node *call, const fp_coll *in, fp_coll *out, int up)
{
	fp_item s;
	int rc = input_string(c, call, in, &s);
	if (rc)
		return rc < 0 ? -1 : 0;
	char *o = arena_strndup(c->a, s.u.str.s, s.u.str.len);
	for (size_t i = 0; i < s.u.str.len; i++)
		o[i] = (char)(up ? toupper((unsigned char)o[i]) : tolower((unsigned char)o[i]));
	fp__str(c, out, o, s.u.str.len);
	return 0;
}

FN(upper)
{
	return change_case(c, call, in, out, 1);
}
FN(lower)
{
	return change_case(c, call, in, out, 0);
}

FN(replace)
{
	fp_item s, pat, rep;
	int rc = input_string(c, call, in, &s);
	if (rc)
		return rc < 0 ? -1 : 0;
	if (fp__string_arg(c, call, 0, fr, &pat) || fp__string_arg(c, call, 1, fr, &rep))
		return -1;
	if (pat.kind != FP_STRING || rep.kind != FP_STRING)
		return 0;
	buf b;
	buf_init(&b, 0);
	const char *p = s.u.str.s, *end = p + s.u.str.len;
	if (pat.u.str.len == 0) {
		/* '' matches between every character */
		buf_append(&b, rep.u.str.s, rep.u.str.len);
		for (; p < end; p++) {
			buf_append(&b, p, 1);
			buf_append(&b, rep.u.str.s, rep.u.str.len);
		}
	} else {
		for (;;) {
			const char *m = find(p, (size_t)(end - p), pat.u.str.s, pat.u.str.len);
			if (!m)
				break;
			buf_append(&b, p, (size_t)(m - p));
			buf_append(&b, rep.u.str.s, rep.u.str.len);
			p = m + pat.u.str.len;
		}
		buf_append(&b, p, (size_t)(end - p));
	}
	char *r = arena_memdup(c->a, b.data ? b.data : "", b.len + 1);
	fp__str(c, out, r, b.len);
	buf_free(&b);
	return 0;
}

/* Translate Perl-style escapes into POSIX ERE; anchor when full. */
static int compile_regex(fp_ctx *c, const fp_node *call, const fp_item *pat, int full, regex_t *re)
{
	/* glibc's regcomp copies the tree for each counted repetition and for
	 * stacked quantifiers: bound the pattern so that compiling it cannot
	 * exhaust memory (found by fuzzing) */
	if (pat->u.str.len > 1000)
		return fp__error(c, call, "regular expression longer than 1000 bytes");
	int quantifiers = 0;
	for (size_t i = 0; i < pat->u.str.len; i++) {
		char ch = pat->u.str.s[i];
		if (ch == '{' && i + 1 < pat->u.str.len && pat->u.str.s[i + 1] >= '0' &&
		    pat->u.str.s[i + 1] <= '9') {
			long rep = strtol(pat->u.str.s + i + 1, NULL, 10);
			if (rep > 100)
				return fp__error(c, call,
				                 "regular expression repetition above 100");
			quantifiers += (int)rep + 1;
		} else if (ch == '*' || ch == '+' || ch == '?') {
			quantifiers++;
			/* stacked quantifiers ("z+++") multiply the copies regcomp makes */
			if (i >= 2 && strchr("*+?}", pat->u.str.s[i - 1]) &&
			    strchr("*+?}", pat->u.str.s[i - 2]))
				return fp__error(c, call,
				                 "regular expression with stacked quantifiers");
		}
	}
	if (quantifiers > 200)
		return fp__error(c, call, "regular expression with too many quantifiers");
	buf b;
	buf_init(&b, 0);
	if (full)
		buf_puts(&b, "^(");
	for (size_t i = 0; i < pat->u.str.len; i++) {
		char ch = pat->u.str.s[i];
		if (ch == '\\' && i + 1 < pat->u.str.len) {
			char e = pat->u.str.s[++i];
			switch (e) {
			case 'd': buf_puts(&b, "[0-9]"); break;
			case 'D': buf_puts(&b, "[^0-9]"); break;
			case 'w': buf_puts(&b, "[A-Za-z0-9_]"); break;
			case 'W': buf_puts(&b, "[^A-Za-z0-9_]"); break;
			case 's': buf_puts(&b, "[[:space:]]"); break;
			case 'S': buf_puts(&b, "[^[:space:]]"); break;
			default: buf_putc(&b, '\\'); buf_putc(&b, e);
			}
		} else {
			buf_putc(&b, ch);
		}
	}
	if (full)
		buf_puts(&b, ")$");
	int rc = regcomp(re, b.data ? b.data : "", REG_EXTENDED);
	buf_free(&b);
	if (rc)
		return fp__error(c, call, "invalid regular expression");
	return 0;
}

static int matches(fp_ctx *c, const fp_node *call, const fp_coll *in, const fp_frame *fr,
                   fp_coll *out, int full)
{
	fp_item s, pat;
	int rc = input_string(c, call, in, &s);
	if (rc)
		return rc < 0 ? -1 : 0;
	if (fp__string_arg(c, call, 0, fr, &pat))
		return -1;
	if (pat.kind != FP_STRING)
		return 0;
	regex_t re;
	if (compile_regex(c, call, &pat, full, &re))
		return -1;
	char *str = arena_strndup(c->a, s.u.str.s, s.u.str.len);
	fp__bool(c, out, regexec(&re, str, 0, NULL, 0) == 0);
	regfree(&re);
	return 0;
}

FN(matches)
{
	return matches(c, call, in, fr, out, 0);
}
FN(matchesFull)
{
	return matches(c, call, in, fr, out, 1);
}

FN(replaceMatches)
{
	fp_item s, pat, rep;
	int rc = input_string(c, call, in, &s);
	if (rc)
		return rc < 0 ? -1 : 0;
	if (fp__string_arg(c, call, 0, fr, &pat) || fp__string_arg(c, call, 1, fr, &rep))
		return -1;
	if (pat.kind != FP_STRING || rep.kind != FP_STRING)
		return 0;
	if (pat.u.str.len == 0) { /* an empty pattern changes nothing */
		fp__push(c, out, &s);
		return 0;
	}
	regex_t re;
	if (compile_regex(c, call, &pat, 0, &re))
		return -1;
	char *str = arena_strndup(c->a, s.u.str.s, s.u.str.len);
	buf b;
	buf_init(&b, 0);
	const char *p = str;
	regmatch_t m[10];
	while (*p && regexec(&re, p, 10, m, p == str ? 0 : REG_NOTBOL) == 0) {
		buf_append(&b, p, (size_t)m[0].rm_so);
		for (size_t i = 0; i < rep.u.str.len; i++) {
			char ch = rep.u.str.s[i];
			if (ch == '$' && i + 1 < rep.u.str.len &&
			    isdigit((unsigned char)rep.u.str.s[i + 1])) {
				int g = rep.u.str.s[++i] - '0';
				if (m[g].rm_so >= 0)
					buf_append(&b, p + m[g].rm_so,
					           (size_t)(m[g].rm_eo - m[g].rm_so));
			} else {
				buf_putc(&b, ch);
			}
		}
		if (m[0].rm_eo == m[0].rm_so) {
			if (!p[m[0].rm_eo])
				break;
			buf_append(&b, p + m[0].rm_eo, 1);
			p += m[0].rm_eo + 1;
		} else {
			p += m[0].rm_eo;
		}
	}
	buf_puts(&b, p);
	regfree(&re);
	fp__str(c, out, arena_memdup(c->a, b.data ? b.data : "", b.len + 1), b.len);
	buf_free(&b);
	return 0;
}

FN(length)
{
	fp_item s;
	int rc = input_string(c, call, in, &s);
	if (rc)
		return rc < 0 ? -1 : 0;
	fp__int(c, out, cp_count(s.u.str.s, s.u.str.len));
	return 0;
}

FN(toChars)
{
	fp_item s;
	int rc = input_string(c, call, in, &s);
	if (rc)
		return rc < 0 ? -1 : 0;
	for (size_t b = 0; b < s.u.str.len;) {
		size_t e = b + 1;
		while (e < s.u.str.len && ((unsigned char)s.u.str.s[e] & 0xC0) == 0x80)
			e++;
		fp__str(c, out, s.u.str.s + b, e - b);
		b = e;
	}
	return 0;
}

FN(trim)
{
	fp_item s;
	int rc = input_string(c, call, in, &s);
	if (rc)
		return rc < 0 ? -1 : 0;
	const char *p = s.u.str.s;
	size_t len = s.u.str.len;
	while (len && isspace((unsigned char)*p))
		p++, len--;
	while (len && isspace((unsigned char)p[len - 1]))
		len--;
	fp__str(c, out, p, len);
	return 0;
}

FN(split)
{
	fp_item s, sep;
	int rc = input_string(c, call, in, &s);
	if (rc)
		return rc < 0 ? -1 : 0;
	if (fp__string_arg(c, call, 0, fr, &sep))
		return -1;
	if (sep.kind != FP_STRING || sep.u.str.len == 0) {
		fp__str(c, out, s.u.str.s, s.u.str.len);
		return 0;
	}
	const char *p = s.u.str.s, *end = p + s.u.str.len;
	for (;;) {
		const char *m = find(p, (size_t)(end - p), sep.u.str.s, sep.u.str.len);
		if (!m) {
			fp__str(c, out, p, (size_t)(end - p));
			break;
		}
		fp__str(c, out, p, (size_t)(m - p));
		p = m + sep.u.str.len;
	}
	return 0;
}

FN(join)
{
	fp_item sep = {0};
	if (call->nargs && fp__string_arg(c, call, 0, fr, &sep))
		return -1;
	buf b;
	buf_init(&b, 0);
	for (size_t i = 0; i < in->count; i++) {
		size_t len;
		const char *s = fp__to_string(c->a, &in->items[i], &len);
		if (!s)
			continue;
		if (i && sep.kind == FP_STRING)
			buf_append(&b, sep.u.str.s, sep.u.str.len);
		buf_append(&b, s, len);
	}
	fp__str(c, out, arena_memdup(c->a, b.data ? b.data : "", b.len + 1), b.len);
	buf_free(&b);
	return 0;
}

/* ---- math ---- */

static int math1(fp_ctx *c, const fp_node *call, const fp_coll *in, fp_coll *out, int which)
{
	fp_item v;
	int rc = input_value(c, call, in, &v);
	if (rc)
		return rc < 0 ? -1 : 0;
	if (v.kind == FP_QUANTITY && which == 0) {
		v.u.q.value = fabs(v.u.q.value);
		fp__push(c, out, &v);
		return 0;
	}
	if (v.kind != FP_INTEGER && v.kind != FP_DECIMAL)
		return fp__error(c, call, "%s() needs a number", call->name);
	double d = v.kind == FP_INTEGER ? (double)v.u.i : v.u.d;
	switch (which) {
	case 0:
		if (v.kind == FP_INTEGER)
			fp__int(c, out, v.u.i < 0 ? -v.u.i : v.u.i);
		else
			fp__dec(c, out, fabs(d));
		return 0;
	case 1:
	case 2:
	case 3: {
		int64_t i;
		if (fp__dbl_int(which == 1 ? ceil(d) : which == 2 ? floor(d) : trunc(d), &i) == 0)
			fp__int(c, out, i);
		return 0;
	}
	case 4: fp__dec(c, out, exp(d)); return 0;
	case 5:
		if (d > 0)
			fp__dec(c, out, log(d));
		return 0;
	case 6:
		if (d >= 0)
			fp__dec(c, out, sqrt(d));
		return 0;
	}
	return 0;
}

FN(abs)
{
	return math1(c, call, in, out, 0);
}
FN(ceiling)
{
	return math1(c, call, in, out, 1);
}
FN(floor)
{
	return math1(c, call, in, out, 2);
}
FN(truncate)
{
	return math1(c, call, in, out, 3);
}
FN(exp)
{
	return math1(c, call, in, out, 4);
}
FN(ln)
{
	return math1(c, call, in, out, 5);
}
FN(sqrt)
{
	return math1(c, call, in, out, 6);
}

static int num_arg(fp_ctx *c, const fp_node *call, int i, const fp_frame *fr, fp_item *v)
{
	fp_coll r;
	if (fp__arg(c, call, i, fr, &r))
		return -1;
	if (r.count == 0)
		return 1;
	if (r.count > 1 || fp__value(&r.items[0], v) ||
	    (v->kind != FP_INTEGER && v->kind != FP_DECIMAL))
		return fp__error(c, call, "argument of %s() must be a number", call->name);
	return 0;
}

FN(log)
{
	fp_item v, b;
	int rc = input_value(c, call, in, &v);
	if (rc)
		return rc < 0 ? -1 : 0;
	if ((rc = num_arg(c, call, 0, fr, &b)))
		return rc < 0 ? -1 : 0;
	double x = v.kind == FP_INTEGER ? (double)v.u.i : v.u.d;
	double base = b.kind == FP_INTEGER ? (double)b.u.i : b.u.d;
	if (x <= 0 || base <= 0 || base == 1)
		return 0;
	fp__dec(c, out, log(x) / log(base));
	return 0;
}

FN(power)
{
	fp_item v, e;
	int rc = input_value(c, call, in, &v);
	if (rc)
		return rc < 0 ? -1 : 0;
	if ((rc = num_arg(c, call, 0, fr, &e)))
		return rc < 0 ? -1 : 0;
	double x = v.kind == FP_INTEGER ? (double)v.u.i : v.u.d;
	double y = e.kind == FP_INTEGER ? (double)e.u.i : e.u.d;
	double r = pow(x, y);
	if (isnan(r) || isinf(r))
		return 0;
	if (v.kind == FP_INTEGER && e.kind == FP_INTEGER && y >= 0 && fabs(r) <= INT32_MAX)
		fp__int(c, out, (int64_t)r);
	else
		fp__dec(c, out, r);
	return 0;
}

FN(round)
{
	fp_item v;
	int rc = input_value(c, call, in, &v);
	if (rc)
		return rc < 0 ? -1 : 0;
	if (v.kind != FP_INTEGER && v.kind != FP_DECIMAL)
		return fp__error(c, call, "round() needs a number");
	int64_t prec = 0;
	if (call->nargs && fp__int_arg(c, call, 0, fr, &prec))
		return -1;
	if (prec < 0 || prec > 15)
		return fp__error(c, call, "round() precision out of range");
	double d = v.kind == FP_INTEGER ? (double)v.u.i : v.u.d;
	double f = pow(10, (double)prec);
	fp_item r = {.kind = FP_DECIMAL, .scale = (uint8_t)prec};
	r.u.d = round(d * f) / f;
	fp__push(c, out, &r);
	return 0;
}

const fp_func fp__fn_string[] = {
        {"toBoolean", 0, 0, fn_toBoolean},
        {"convertsToBoolean", 0, 0, fn_convertsToBoolean},
        {"toInteger", 0, 0, fn_toInteger},
        {"convertsToInteger", 0, 0, fn_convertsToInteger},
        {"toDecimal", 0, 0, fn_toDecimal},
        {"convertsToDecimal", 0, 0, fn_convertsToDecimal},
        {"toString", 0, 0, fn_toString},
        {"convertsToString", 0, 0, fn_convertsToString},
        {"toDate", 0, 0, fn_toDate},
        {"convertsToDate", 0, 0, fn_convertsToDate},
        {"toDateTime", 0, 0, fn_toDateTime},
        {"convertsToDateTime", 0, 0, fn_convertsToDateTime},
        {"toTime", 0, 0, fn_toTime},
        {"convertsToTime", 0, 0, fn_convertsToTime},
        {"toQuantity", 0, 1, fn_toQuantity},
        {"convertsToQuantity", 0, 1, fn_convertsToQuantity},
        {"indexOf", 1, 1, fn_indexOf},
        {"substring", 1, 2, fn_substring},
        {"startsWith", 1, 1, fn_startsWith},
        {"endsWith", 1, 1, fn_endsWith},
        {"contains", 1, 1, fn_contains},
        {"upper", 0, 0, fn_upper},
        {"lower", 0, 0, fn_lower},
        {"replace", 2, 2, fn_replace},
        {"matches", 1, 1, fn_matches},
        {"matchesFull", 1, 1, fn_matchesFull},
        {"replaceMatches", 2, 2, fn_replaceMatches},
        {"length", 0, 0, fn_length},
        {"toChars", 0, 0, fn_toChars},
        {"trim", 0, 0, fn_trim},
        {"split", 1, 1, fn_split},
        {"join", 0, 1, fn_join},
        {"abs", 0, 0, fn_abs},
        {"ceiling", 0, 0, fn_ceiling},
        {"floor", 0, 0, fn_floor},
        {"truncate", 0, 0, fn_truncate},
        {"exp", 0, 0, fn_exp},
        {"ln", 0, 0, fn_ln},
        {"sqrt", 0, 0, fn_sqrt},
        {"log", 1, 1, fn_log},
        {"power", 1, 1, fn_power},
        {"round", 0, 1, fn_round},
        {NULL, 0, 0, NULL},
};
