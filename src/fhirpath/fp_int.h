/*
 * fp_int.h - private to src/fhirpath/: the syntax tree, the item layout, the
 * evaluation context and the helpers the engine's files share. The public
 * interface is fhirpath.h. A compiled tree lives in the arena owned by its
 * fp_expr and is never written after fp_compile returns; everything created
 * while evaluating comes from the caller's arena.
 */
#ifndef BRON_FP_INT_H
#define BRON_FP_INT_H

#include <stdbool.h>

#include "../model/model.h"
#include "fhirpath.h"

/* ---- values ---- */

/* Date/time with precision. prec counts the parts given: 1 year, 2 month,
 * 3 day, 4 hour, 5 minute, 6 second, 7 millisecond; a Time has prec 4..7. */
typedef struct fp_dt {
	int32_t year;
	uint8_t month, day, hour, minute, second;
	uint8_t prec;
	uint8_t has_tz; /* a zone was given */
	uint16_t ms;
	int16_t tz; /* zone offset in minutes */
} fp_dt;

/* Internal item kind beyond fp_kind: the result of type(), a ClassInfo with
 * children "name" (u.str) and "namespace" (scale: 0 System, 1 FHIR). */
enum { FP_TYPEINFO = FP_QUANTITY + 1 };

enum { DT_YEAR = 1, DT_MONTH, DT_DAY, DT_HOUR, DT_MINUTE, DT_SECOND, DT_MS };

struct fp_item {
	uint8_t kind;           /* fp_kind */
	uint8_t scale;          /* FP_DECIMAL: digits after the point, as written */
	const model_type *type; /* FP_NODE: FHIR type (NULL: unknown) */
	const json_t *json;     /* FP_NODE: the value; NULL: only "_x" / stand-in */
	const json_t *elem;     /* FP_NODE primitive: "_x" sibling or NULL */
	union {
		int b;
		int64_t i;
		double d;
		struct {
			const char *s;
			size_t len;
		} str;
		fp_dt dt;
		struct {
			double value;
			const char *unit; /* UCUM code or calendar word ("year", "month", ...) */
		} q;
	} u;
};

typedef fp_collection fp_coll;

/* ---- syntax tree ---- */

typedef enum fp_node_kind {
	N_EMPTY,   /* {} */
	N_LITERAL, /* lit */
	N_MEMBER,  /* identifier at term position or after '.' */
	N_FUNC,    /* function call: fn, args */
	N_THIS,
	N_INDEX,
	N_TOTAL,
	N_VAR,     /* %name */
	N_PATH,    /* left . right (right is N_MEMBER or N_FUNC) */
	N_INDEXER, /* left [ right ] */
	N_NEG,     /* unary minus on left */
	N_BINOP,   /* left op right */
	N_IS,      /* left is type */
	N_AS       /* left as type */
} fp_node_kind;

typedef enum fp_op {
	OP_MUL,
	OP_DIV,
	OP_IDIV,
	OP_MOD,
	OP_ADD,
	OP_SUB,
	OP_CONCAT,
	OP_UNION,
	OP_LT,
	OP_GT,
	OP_LE,
	OP_GE,
	OP_EQ,
	OP_EQUIV,
	OP_NE,
	OP_NEQUIV,
	OP_IN,
	OP_CONTAINS,
	OP_AND,
	OP_OR,
	OP_XOR,
	OP_IMPLIES
} fp_op;

/* A type specifier: System.X or FHIR.X (or unqualified). */
typedef struct fp_typespec {
	const char *ns; /* "System", "FHIR" or NULL */
	const char *name;
	const model_type *model; /* FHIR type when known */
	int sys;                 /* fp_kind + 1 for a System type, 0 otherwise */
} fp_typespec;

typedef struct fp_node fp_node;
typedef struct fp_func fp_func;

struct fp_node {
	uint8_t kind; /* fp_node_kind */
	uint8_t op;   /* fp_op for N_BINOP */
	uint16_t nargs;
	uint32_t pos;     /* 0-based offset in the source */
	const char *name; /* N_MEMBER, N_FUNC, N_VAR */
	fp_node *left, *right;
	fp_node **args;
	const fp_func *fn;       /* N_FUNC */
	fp_typespec type;        /* N_IS, N_AS, and type arguments of is()/as()/ofType() */
	fp_item lit;             /* N_LITERAL */
	const model_type *rtype; /* N_MEMBER: resource type when name is one */
	/* N_MEMBER after '.': when the type of the items it applies to is known
	 * at compile time (owner), the element found there, so evaluation skips
	 * the lookup for items of that type */
	const model_type *owner;
	model_prop prop;
};

struct fp_expr {
	arena *a;
	fp_node *root;
	const char *src;
};

/* ---- evaluation ---- */

typedef struct fp_frame {
	const fp_coll *this_; /* $this (the focus of terms) */
	int64_t index;        /* $index, -1 outside iteration */
	const fp_coll *total; /* $total in aggregate(), or NULL */
} fp_frame;

typedef struct fp_ctx {
	arena *a;
	diag_list *d;
	const fp_env *env;
	const fp_expr *expr;
	fp_item resource;      /* %resource */
	fp_item root_resource; /* %rootResource */
	fp_item context;       /* %context */
	const json_t *bundle;  /* the outermost Bundle, for resolve() */
	unsigned depth, max_depth;
	size_t max_items;
	size_t start_bytes, max_bytes; /* arena use when the evaluation began, and its bound */
	int failed;
} fp_ctx;

typedef int (*fp_fn_impl)(fp_ctx *c, const fp_node *call, const fp_coll *in, const fp_frame *fr,
                          fp_coll *out);

struct fp_func {
	const char *name;
	uint8_t min_args, max_args;
	fp_fn_impl impl;
};

/* A double as an Integer (32-bit range, finite): 0, or -1 when it is not one. */
static inline int fp__dbl_int(double d, int64_t *out)
{
	if (!(d >= -2147483648.0 && d <= 2147483647.0))
		return -1;
	*out = (int64_t)d;
	return 0;
}

/* Function table lookup (fn_*.c register through fp__func_find). */
const fp_func *fp__func_find(const char *name);

/* Core (eval.c). */
int fp__eval(fp_ctx *c, const fp_node *n, const fp_frame *fr, fp_coll *out);
/* Evaluate argument i of call with the frame's $this. */
int fp__arg(fp_ctx *c, const fp_node *call, int i, const fp_frame *fr, fp_coll *out);
/* Evaluate argument i once per item of in, with $this = item, $index = i. */
int fp__arg_item(fp_ctx *c, const fp_node *call, int i, const fp_coll *in, size_t idx,
                 const fp_frame *fr, fp_coll *out);
int fp__error(fp_ctx *c, const fp_node *n, const char *fmt, ...) BASE_PRINTF(3, 4);
void fp__push(fp_ctx *c, fp_coll *out, const fp_item *it);
int fp__children(fp_ctx *c, const fp_item *it, const char *name, fp_coll *out, const fp_node *n);
void fp__all_children(fp_ctx *c, const fp_item *it, fp_coll *out);
int fp__single(fp_ctx *c, const fp_node *n, const fp_coll *in, const fp_item **out);
int fp__string_arg(fp_ctx *c, const fp_node *call, int i, const fp_frame *fr, fp_item *out);
int fp__int_arg(fp_ctx *c, const fp_node *call, int i, const fp_frame *fr, int64_t *out);
bool fp__type_matches(const fp_item *it, const fp_typespec *t);
/* As fp__type_matches, but a FHIR primitive must be of exactly that type
 * (as() and ofType(): code is a string for is(), not for as()). */
bool fp__type_matches_exact(const fp_item *it, const fp_typespec *t);
void fp__resolve_typespec(fp_typespec *t);
const model_type *fp__model(const char *name);
int fp__binop(fp_ctx *c, const fp_node *n, const fp_coll *l, const fp_coll *r, fp_coll *out);

/* Values (value.c). */
void fp__bool(fp_ctx *c, fp_coll *out, int b);
void fp__str(fp_ctx *c, fp_coll *out, const char *s, size_t len);
void fp__int(fp_ctx *c, fp_coll *out, int64_t i);
void fp__dec(fp_ctx *c, fp_coll *out, double d);
/* The item as a System value; -1 when it is a complex node. */
int fp__value(const fp_item *it, fp_item *out);
/* Equality per '=': 1 equal, 0 not, -1 empty (incomparable precision). */
int fp__equal(const fp_item *a, const fp_item *b);
int fp__equiv(const fp_item *a, const fp_item *b);
/* Ordering: sets *cmp (<0, 0, >0); 0 ok, 1 incomparable (empty result),
 * -1 type error. */
int fp__compare(const fp_item *a, const fp_item *b, int *cmp);
const char *fp__to_string(arena *a, const fp_item *v, size_t *len);
const char *fp__type_name(const fp_item *it);
bool fp__coll_has(const fp_coll *c, const fp_item *it, int equiv);

/* Dates (datetime.c). */
int fp__parse_date(const char *s, size_t len, fp_dt *dt, int *kind);
int fp__parse_time(const char *s, size_t len, fp_dt *dt);
int fp__format_dt(const fp_dt *dt, int kind, char *out, size_t outlen);
int fp__dt_compare(const fp_dt *a, const fp_dt *b, int kind, int *cmp);
int fp__dt_add(const fp_dt *in, int kind, double amount, const char *unit, int sign, fp_dt *out);
void fp__now(fp_dt *dt, int kind);

/* Quantities (quantity.c). */
const char *fp__calendar_unit(const char *word, size_t len);
int fp__quantity_compare(const fp_item *a, const fp_item *b, int *cmp);
int fp__quantity_equal(const fp_item *a, const fp_item *b, int equiv);
int fp__quantity_parse(arena *a, const char *s, fp_item *out);
int fp__quantity_mul(arena *a, const fp_item *x, const fp_item *y, int divide, fp_item *out);

/* Parser helpers (parse.c). */
int fp__parse(const char *src, arena *a, fp_node **root, diag_list *d);

#endif
