/*
 * parse.c - the FHIRPath lexer and parser: source text to the syntax tree of
 * fp_int.h, allocated from the fp_expr's arena (precedence climbing over the
 * N1 grammar). Literals are converted to items here so evaluation never
 * parses text; function names are bound to their table entries and arities
 * checked. Errors name the 1-based column and stop the parse.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fp_int.h"

enum { MAX_PARSE_DEPTH = 200 };

typedef enum tok_kind {
	T_EOF,
	T_IDENT, /* plain identifier or keyword */
	T_DELIM, /* `delimited identifier` */
	T_STRING,
	T_INT,
	T_DEC,
	T_DATE,    /* @... date, dateTime or time */
	T_VAR,     /* %name */
	T_SPECIAL, /* $this, $index, $total */
	T_PUNCT
} tok_kind;

typedef struct tok {
	tok_kind kind;
	const char *start; /* source text of the token */
	size_t len;
	char *text; /* decoded value (strings, identifiers, vars) */
	size_t text_len;
	char punct[3];
} tok;

typedef struct parser {
	const char *src;
	const char *p;
	arena *a;
	diag_list *d;
	tok t; /* current token */
	int failed;
	int depth;
} parser;

static int fail(parser *ps, const char *at, const char *fmt, const char *arg)
{
	if (!ps->failed) {
		ps->failed = 1;
		diag_error(ps->d, "invalid", NULL, "FHIRPath syntax error at column %d: %s%s",
		           (int)(at - ps->src) + 1, fmt, arg ? arg : "");
	}
	return -1;
}

/* ---- lexer ---- */

static int skip_space(parser *ps)
{
	const char *p = ps->p;
	for (;;) {
		if (isspace((unsigned char)*p)) {
			p++;
		} else if (p[0] == '/' && p[1] == '/') {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			const char *e = strstr(p + 2, "*/");
			if (!e)
				return fail(ps, p, "unterminated comment", NULL);
			p = e + 2;
		} else {
			break;
		}
	}
	ps->p = p;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	o[0] = (char)(0xE0 | (cp >> 12));
	o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[2] = (char)(0x80 | (cp & 0x3F));
	return 3;
}

/* Read a quoted string or delimited identifier ending in q; decode escapes. */
static int lex_quoted(parser *ps, char q)
{
	const char *s = ps->p + 1, *p = s;
	while (*p && *p != q) {
		if (*p == '\\' && p[1])
			p++;
		p++;
	}
	if (*p != q)
		return fail(ps, ps->p, "unterminated string", NULL);
	char *o = arena_alloc(ps->a, (size_t)(p - s) * 3 + 1);
	size_t n = 0;
	for (const char *r = s; r < p; r++) {
		if (*r != '\\') {
			o[n++] = *r;
			continue;
		}
		r++;
		switch (*r) {
		case 'n': o[n++] = '\n'; break;
		case 'r': o[n++] = '\r'; break;
		case 't': o[n++] = '\t'; break;
		case 'f': o[n++] = '\f'; break;
		case 'u': {
			unsigned cp = 0;
			for (int i = 1; i <= 4; i++) {
				int h = base_hexval((unsigned char)r[i]);
				if (h < 0 || r + i >= p)
					return fail(ps, r, "bad \\u escape", NULL);
				cp = cp * 16 + (unsigned)h;
			}
			r += 4;
			n += put_utf8(o + n, cp);
			break;
		}
		default: o[n++] = *r; break; /* \' \" \` \\ \/ */
		}
	}
	o[n] = 0;
	ps->t.text = o;
	ps->t.text_len = n;
	ps->p = p + 1;
	return 0;
}

static int digits(const char *p, int n)
{
	for (int i = 0; i < n; i++)
		if (!isdigit((unsigned char)p[i]))
			return 0;
	return 1;
}

/* Length of a date/time literal body after '@' (0 if malformed). */
static size_t date_len(const char *s)
{
	const char *p = s;
	int time_only = 0;
	if (*p == 'T') {
		time_only = 1;
	} else {
		if (!digits(p, 4))
			return 0;
		p += 4;
		if (p[0] == '-' && digits(p + 1, 2)) {
			p += 3;
			if (p[0] == '-' && digits(p + 1, 2))
				p += 3;
		}
		if (*p != 'T')
			return (size_t)(p - s);
	}
	p++; /* T */
	if (digits(p, 2)) {
		p += 2;
		if (p[0] == ':' && digits(p + 1, 2)) {
			p += 3;
			if (p[0] == ':' && digits(p + 1, 2)) {
				p += 3;
				if (p[0] == '.' && isdigit((unsigned char)p[1])) {
					p++;
					while (isdigit((unsigned char)*p))
						p++;
				}
			}
		}
	} else if (time_only) {
		return 0;
	}
	if (*p == 'Z')
		p++;
	else if ((*p == '+' || *p == '-') && digits(p + 1, 2) && p[3] == ':' && digits(p + 4, 2))
		p += 6;
	return (size_t)(p - s);
}

static int lex(parser *ps)
{
	if (skip_space(ps))
		return -1;
	tok *t = &ps->t;
	memset(t, 0, sizeof *t);
	const char *p = ps->p;
	t->start = p;
	if (!*p) {
		t->kind = T_EOF;
		return 0;
	}
	if (isalpha((unsigned char)*p) || *p == '_') {
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		t->kind = T_IDENT;
		t->text = arena_strndup(ps->a, ps->p, (size_t)(p - ps->p));
		t->text_len = (size_t)(p - ps->p);
		ps->p = p;
	} else if (*p == '`') {
		t->kind = T_DELIM;
		if (lex_quoted(ps, '`'))
			return -1;
	} else if (*p == '\'') {
		t->kind = T_STRING;
		if (lex_quoted(ps, '\''))
			return -1;
	} else if (isdigit((unsigned char)*p)) {
		while (isdigit((unsigned char)*p))
			p++;
		t->kind = T_INT;
		if (*p == '.' && isdigit((unsigned char)p[1])) {
			p++;
			while (isdigit((unsigned char)*p))
				p++;
			t->kind = T_DEC;
		}
		ps->p = p;
	} else if (*p == '@') {
		size_t n = date_len(p + 1);
		if (!n)
			return fail(ps, p, "malformed date/time literal", NULL);
		t->kind = T_DATE;
		t->text = arena_strndup(ps->a, p + 1, n);
		t->text_len = n;
		ps->p = p + 1 + n;
	} else if (*p == '%') {
		t->kind = T_VAR;
		ps->p = p + 1;
		if (p[1] == '`' || p[1] == '\'') {
			if (lex_quoted(ps, p[1]))
				return -1;
		} else if (isalpha((unsigned char)p[1]) || p[1] == '_') {
			const char *e = p + 1;
			while (isalnum((unsigned char)*e) || *e == '_' || *e == '-')
				e++;
			t->text = arena_strndup(ps->a, p + 1, (size_t)(e - p - 1));
			t->text_len = (size_t)(e - p - 1);
			ps->p = e;
		} else {
			return fail(ps, p, "expected a name after %", NULL);
		}
	} else if (*p == '$') {
		const char *e = p + 1;
		while (isalnum((unsigned char)*e))
			e++;
		t->kind = T_SPECIAL;
		t->text = arena_strndup(ps->a, p + 1, (size_t)(e - p - 1));
		if (strcmp(t->text, "this") && strcmp(t->text, "index") && strcmp(t->text, "total"))
			return fail(ps, p, "unknown special variable $", t->text);
		ps->p = e;
	} else {
		static const char *two[] = {"<=", ">=", "!=", "!~"};
		t->kind = T_PUNCT;
		for (size_t i = 0; i < sizeof two / sizeof two[0]; i++) {
			if (p[0] == two[i][0] && p[1] == two[i][1]) {
				memcpy(t->punct, p, 2);
				ps->p = p + 2;
				goto done;
			}
		}
		if (!strchr(".[](),+-*/&|<>=~{}", *p))
			return fail(ps, p, "unexpected character ", arena_strndup(ps->a, p, 1));
		t->punct[0] = *p;
		ps->p = p + 1;
	}
done:
	t->len = (size_t)(ps->p - t->start);
	return 0;
}

static int is_punct(const parser *ps, const char *s)
{
	return ps->t.kind == T_PUNCT && strcmp(ps->t.punct, s) == 0;
}

static int is_word(const parser *ps, const char *w)
{
	return ps->t.kind == T_IDENT && strcmp(ps->t.text, w) == 0;
}

static int expect(parser *ps, const char *punct)
{
	if (!is_punct(ps, punct))
		return fail(ps, ps->t.start, "expected ", punct);
	return lex(ps);
}

/* ---- tree ---- */

static fp_node *node(parser *ps, fp_node_kind k, const char *at)
{
	fp_node *n = arena_calloc(ps->a, sizeof *n);
	n->kind = (uint8_t)k;
	n->pos = (uint32_t)(at - ps->src);
	return n;
}

static fp_node *parse_expr(parser *ps, int min_prec);

/* ident ('.' ident)? where the first part is a namespace. */
static int parse_typespec(parser *ps, fp_typespec *t)
{
	if (ps->t.kind != T_IDENT && ps->t.kind != T_DELIM)
		return fail(ps, ps->t.start, "expected a type name", NULL);
	const char *first = ps->t.text;
	if (lex(ps))
		return -1;
	if ((!strcmp(first, "System") || !strcmp(first, "FHIR")) && is_punct(ps, ".")) {
		if (lex(ps))
			return -1;
		if (ps->t.kind != T_IDENT && ps->t.kind != T_DELIM)
			return fail(ps, ps->t.start, "expected a type name", NULL);
		t->ns = first;
		t->name = ps->t.text;
		if (lex(ps))
			return -1;
	} else {
		t->name = first;
	}
	fp__resolve_typespec(t);
	if (!t->model && !t->sys && (!t->ns || strcmp(t->ns, "System")))
		return fail(ps, ps->t.start, "unknown type ", t->name);
	return 0;
}

static fp_node *parse_call(parser *ps, const char *name, const char *at)
{
	fp_node *n = node(ps, N_FUNC, at);
	n->name = name;
	n->fn = fp__func_find(name);
	if (!n->fn) {
		fail(ps, at, "unknown function ", name);
		return NULL;
	}
	if (lex(ps)) /* ( */
		return NULL;
	int typed = !strcmp(name, "is") || !strcmp(name, "as") || !strcmp(name, "ofType");
	fp_node *args[16];
	int nargs = 0;
	if (!is_punct(ps, ")")) {
		for (;;) {
			if (nargs == 16) {
				fail(ps, ps->t.start, "too many arguments", NULL);
				return NULL;
			}
			if (typed && nargs == 0) {
				if (parse_typespec(ps, &n->type))
					return NULL;
				args[nargs++] = NULL;
			} else {
				fp_node *arg = parse_expr(ps, 0);
				if (!arg)
					return NULL;
				args[nargs++] = arg;
			}
			if (!is_punct(ps, ","))
				break;
			if (lex(ps))
				return NULL;
		}
	}
	if (expect(ps, ")"))
		return NULL;
	if (nargs < n->fn->min_args || nargs > n->fn->max_args) {
		fail(ps, at, "wrong number of arguments to ", name);
		return NULL;
	}
	n->nargs = (uint16_t)nargs;
	n->args = arena_alloc(ps->a, sizeof(fp_node *) * (size_t)(nargs ? nargs : 1));
	memcpy(n->args, args, sizeof(fp_node *) * (size_t)nargs);
	return n;
}

/* Identifier or function call, at term position or after '.'. */
static fp_node *parse_invocation(parser *ps)
{
	const char *at = ps->t.start;
	if (ps->t.kind == T_SPECIAL) {
		fp_node *n = node(ps,
		                  !strcmp(ps->t.text, "this")    ? N_THIS
		                  : !strcmp(ps->t.text, "index") ? N_INDEX
		                                                 : N_TOTAL,
		                  at);
		return lex(ps) ? NULL : n;
	}
	if (ps->t.kind != T_IDENT && ps->t.kind != T_DELIM) {
		fail(ps, at, "expected an identifier", NULL);
		return NULL;
	}
	const char *name = ps->t.text;
	int delim = ps->t.kind == T_DELIM;
	if (lex(ps))
		return NULL;
	if (!delim && is_punct(ps, "("))
		return parse_call(ps, name, at);
	fp_node *n = node(ps, N_MEMBER, at);
	n->name = name;
	if (isupper((unsigned char)name[0])) {
		const model_type *t = fp__model(name);
		if (t && (model_type_kind(t) == MODEL_KIND_RESOURCE))
			n->rtype = t;
	}
	return n;
}

static int parse_number(parser *ps, fp_item *it)
{
	char tmp[64];
	if (ps->t.len >= sizeof tmp)
		return fail(ps, ps->t.start, "number too long", NULL);
	memcpy(tmp, ps->t.start, ps->t.len);
	tmp[ps->t.len] = 0;
	if (ps->t.kind == T_INT) {
		errno = 0;
		long long v = strtoll(tmp, NULL, 10);
		if (errno || v > INT32_MAX) {
			/* too big for Integer: keep as Decimal */
			it->kind = FP_DECIMAL;
			it->u.d = strtod(tmp, NULL);
			return 0;
		}
		it->kind = FP_INTEGER;
		it->u.i = v;
	} else {
		it->kind = FP_DECIMAL;
		it->u.d = strtod(tmp, NULL);
		const char *dot = strchr(tmp, '.');
		it->scale = (uint8_t)(dot ? strlen(dot + 1) : 0);
	}
	return 0;
}

static fp_node *parse_literal_date(parser *ps, const char *at)
{
	fp_node *n = node(ps, N_LITERAL, at);
	const char *s = ps->t.text;
	size_t len = ps->t.text_len;
	if (s[0] == 'T') {
		if (s[len - 1] == 'Z' || memchr(s, '+', len) || memchr(s, '-', len)) {
			fail(ps, at, "a time literal has no time zone", NULL);
			return NULL;
		}
		n->lit.kind = FP_TIME;
		if (fp__parse_time(s + 1, len - 1, &n->lit.u.dt)) {
			fail(ps, at, "invalid time literal", NULL);
			return NULL;
		}
	} else {
		int kind;
		size_t l = len;
		if (s[l - 1] == 'T') /* @2015T: a dateTime with year precision */
			l--;
		if (fp__parse_date(s, l, &n->lit.u.dt, &kind)) {
			fail(ps, at, "invalid date/time literal", NULL);
			return NULL;
		}
		n->lit.kind = (uint8_t)((l != len) ? FP_DATETIME : kind);
	}
	return lex(ps) ? NULL : n;
}

static fp_node *parse_term(parser *ps)
{
	const char *at = ps->t.start;
	fp_node *n;
	switch (ps->t.kind) {
	case T_INT:
	case T_DEC:
		n = node(ps, N_LITERAL, at);
		if (parse_number(ps, &n->lit) || lex(ps))
			return NULL;
		/* a unit after a number makes a Quantity */
		if (ps->t.kind == T_STRING ||
		    (ps->t.kind == T_IDENT && fp__calendar_unit(ps->t.text, ps->t.text_len))) {
			double v = n->lit.kind == FP_INTEGER ? (double)n->lit.u.i : n->lit.u.d;
			n->lit.kind = FP_QUANTITY;
			n->lit.u.q.value = v;
			n->lit.u.q.unit = ps->t.kind == T_STRING
			                          ? ps->t.text
			                          : fp__calendar_unit(ps->t.text, ps->t.text_len);
			if (lex(ps))
				return NULL;
		}
		return n;
	case T_STRING:
		n = node(ps, N_LITERAL, at);
		n->lit.kind = FP_STRING;
		n->lit.u.str.s = ps->t.text;
		n->lit.u.str.len = ps->t.text_len;
		return lex(ps) ? NULL : n;
	case T_DATE: return parse_literal_date(ps, at);
	case T_VAR:
		n = node(ps, N_VAR, at);
		n->name = ps->t.text;
		return lex(ps) ? NULL : n;
	case T_PUNCT:
		if (is_punct(ps, "(")) {
			if (lex(ps))
				return NULL;
			n = parse_expr(ps, 0);
			if (!n || expect(ps, ")"))
				return NULL;
			return n;
		}
		if (is_punct(ps, "{")) {
			if (lex(ps) || expect(ps, "}"))
				return NULL;
			return node(ps, N_EMPTY, at);
		}
		fail(ps, at, "unexpected ", ps->t.punct);
		return NULL;
	case T_IDENT:
		if (is_word(ps, "true") || is_word(ps, "false")) {
			n = node(ps, N_LITERAL, at);
			n->lit.kind = FP_BOOLEAN;
			n->lit.u.b = is_word(ps, "true");
			return lex(ps) ? NULL : n;
		}
		return parse_invocation(ps);
	case T_DELIM:
	case T_SPECIAL: return parse_invocation(ps);
	case T_EOF: fail(ps, at, "unexpected end of expression", NULL); return NULL;
	}
	return NULL;
}

/* The FHIR data type an expression is known to have without running it:
 * the target of 'as', as() and ofType(). NULL when unknown. */
static const model_type *static_type(const fp_node *n)
{
	if (n->kind == N_AS)
		return n->type.model;
	if (n->kind == N_PATH && n->right->kind == N_FUNC &&
	    (!strcmp(n->right->name, "as") || !strcmp(n->right->name, "ofType")))
		return n->right->type.model;
	return NULL;
}

/* The type the items of n will most likely have, for resolving elements at
 * compile time: a resource type step, an element of a known type, and
 * functions that keep their input's type. Only a hint: evaluation checks it. */
static const model_type *likely_type(const fp_node *n)
{
	static const char *const keep[] = {"where",   "first",     "last", "single",
	                                   "tail",    "skip",      "take", "distinct",
	                                   "exclude", "intersect", "trace"};
	const model_type *t = static_type(n);
	if (t)
		return t;
	switch (n->kind) {
	case N_MEMBER:
		if (n->rtype)
			return n->rtype;
		return n->owner ? n->prop.type : NULL;
	case N_INDEXER: return likely_type(n->left);
	case N_PATH:
		if (n->right->kind == N_MEMBER)
			return n->right->owner ? n->right->prop.type : NULL;
		if (n->right->kind == N_FUNC)
			for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
				if (!strcmp(n->right->name, keep[i]))
					return likely_type(n->left);
		return NULL;
	default: return NULL;
	}
}

static void bind_member(const fp_node *left, fp_node *member)
{
	if (member->kind != N_MEMBER)
		return;
	const model_type *t = likely_type(left);
	model_prop p;
	if (t && model_prop_find(t, member->name, &p) == 0 && !p.is_choice) {
		member->owner = t;
		member->prop = p;
	}
}

/* A member of a data type known statically must exist in it:
 * "(Observation.value as Period).unit" is an error before evaluation. */
static int check_member(parser *ps, const fp_node *left, const fp_node *member)
{
	const model_type *t = static_type(left);
	if (!t || member->kind != N_MEMBER)
		return 0;
	model_kind k = model_type_kind(t);
	if (k != MODEL_KIND_COMPLEX && k != MODEL_KIND_BACKBONE)
		return 0;
	model_prop p;
	const model_type *const *types;
	if (model_prop_find(t, member->name, &p) == 0 ||
	    model_choice_types(t, member->name, &types))
		return 0;
	return fail(ps, ps->src + member->pos, "no such element in this type: ", member->name);
}

static fp_node *parse_postfix(parser *ps, fp_node *left)
{
	if (!left)
		return NULL;
	for (;;) {
		const char *at = ps->t.start;
		if (is_punct(ps, ".")) {
			if (lex(ps))
				return NULL;
			fp_node *right = parse_invocation(ps);
			if (!right || check_member(ps, left, right))
				return NULL;
			bind_member(left, right);
			fp_node *n = node(ps, N_PATH, at);
			n->left = left;
			n->right = right;
			left = n;
		} else if (is_punct(ps, "[")) {
			if (lex(ps))
				return NULL;
			fp_node *idx = parse_expr(ps, 0);
			if (!idx || expect(ps, "]"))
				return NULL;
			fp_node *n = node(ps, N_INDEXER, at);
			n->left = left;
			n->right = idx;
			left = n;
		} else {
			break;
		}
	}
	return left;
}

static fp_node *parse_unary(parser *ps)
{
	const char *at = ps->t.start;
	if (is_punct(ps, "-") || is_punct(ps, "+")) {
		int neg = is_punct(ps, "-");
		if (lex(ps))
			return NULL;
		fp_node *operand = parse_unary(ps);
		if (!operand || !neg)
			return operand;
		if (operand->kind == N_LITERAL && operand->lit.kind == FP_INTEGER) {
			operand->lit.u.i = -operand->lit.u.i;
			return operand;
		}
		if (operand->kind == N_LITERAL && operand->lit.kind == FP_DECIMAL) {
			operand->lit.u.d = -operand->lit.u.d;
			return operand;
		}
		if (operand->kind == N_LITERAL && operand->lit.kind == FP_QUANTITY) {
			operand->lit.u.q.value = -operand->lit.u.q.value;
			return operand;
		}
		fp_node *n = node(ps, N_NEG, at);
		n->left = operand;
		return n;
	}
	return parse_postfix(ps, parse_term(ps));
}

typedef struct opdef {
	const char *text;
	int word; /* a keyword rather than punctuation */
	int prec;
	fp_op op;
} opdef;

static const opdef OPS[] = {
        {"implies", 1, 1, OP_IMPLIES},
        {"or", 1, 2, OP_OR},
        {"xor", 1, 2, OP_XOR},
        {"and", 1, 3, OP_AND},
        {"in", 1, 4, OP_IN},
        {"contains", 1, 4, OP_CONTAINS},
        {"=", 0, 5, OP_EQ},
        {"~", 0, 5, OP_EQUIV},
        {"!=", 0, 5, OP_NE},
        {"!~", 0, 5, OP_NEQUIV},
        {"<", 0, 6, OP_LT},
        {">", 0, 6, OP_GT},
        {"<=", 0, 6, OP_LE},
        {">=", 0, 6, OP_GE},
        {"|", 0, 7, OP_UNION},
        {"+", 0, 9, OP_ADD},
        {"-", 0, 9, OP_SUB},
        {"&", 0, 9, OP_CONCAT},
        {"*", 0, 10, OP_MUL},
        {"/", 0, 10, OP_DIV},
        {"div", 1, 10, OP_IDIV},
        {"mod", 1, 10, OP_MOD},
};

enum { PREC_TYPE = 8 };

static const opdef *current_op(const parser *ps)
{
	for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++) {
		if (OPS[i].word ? is_word(ps, OPS[i].text) : is_punct(ps, OPS[i].text))
			return &OPS[i];
	}
	return NULL;
}

static fp_node *parse_expr(parser *ps, int min_prec)
{
	if (++ps->depth > MAX_PARSE_DEPTH) {
		fail(ps, ps->t.start, "expression nested too deeply", NULL);
		return NULL;
	}
	fp_node *left = parse_unary(ps);
	if (!left)
		return NULL;
	for (;;) {
		const char *at = ps->t.start;
		if ((is_word(ps, "is") || is_word(ps, "as")) && PREC_TYPE >= min_prec) {
			fp_node *n = node(ps, is_word(ps, "is") ? N_IS : N_AS, at);
			if (lex(ps) || parse_typespec(ps, &n->type))
				return NULL;
			n->left = left;
			left = n;
			continue;
		}
		const opdef *op = current_op(ps);
		if (!op || op->prec < min_prec)
			break;
		if (lex(ps))
			return NULL;
		fp_node *right = parse_expr(ps, op->prec + 1);
		if (!right)
			return NULL;
		fp_node *n = node(ps, N_BINOP, at);
		n->op = (uint8_t)op->op;
		n->left = left;
		n->right = right;
		left = n;
	}
	ps->depth--;
	return left;
}

int fp__parse(const char *src, arena *a, fp_node **root, diag_list *d)
{
	parser ps = {.src = src, .p = src, .a = a, .d = d};
	*root = NULL;
	if (lex(&ps))
		return -1;
	fp_node *n = parse_expr(&ps, 0);
	if (!n)
		return -1;
	if (ps.t.kind != T_EOF)
		return fail(&ps, ps.t.start, "unexpected text after the expression", NULL);
	*root = n;
	return 0;
}

int fp_compile(const char *src, fp_expr **out, diag_list *d)
{
	*out = NULL;
	arena *a = arena_new(0);
	fp_expr *e = arena_calloc(a, sizeof *e);
	e->a = a;
	e->src = arena_strdup(a, src);
	if (fp__parse(e->src, a, &e->root, d)) {
		arena_free(a);
		return -1;
	}
	*out = e;
	return 0;
}

void fp_free(fp_expr *e)
{
	if (e)
		arena_free(e->a);
}

const char *fp_expr_source(const fp_expr *e)
{
	return e->src;
}
