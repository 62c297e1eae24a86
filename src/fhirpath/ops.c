/*
 * ops.c - FHIRPath's binary operators: arithmetic on numbers, strings,
 * quantities and dates, comparison, (in)equality and equivalence over
 * collections, membership, union and three-valued boolean logic. Called by
 * eval.c with both operands already evaluated (short-circuiting happens
 * there). Results are pushed into the caller's collection.
 */
#include <math.h>
#include <string.h>

#include "fp_int.h"

/* Singleton evaluation to a boolean: -1 empty, 0/1, -2 error. */
static int to_bool(fp_ctx *c, const fp_node *n, const fp_coll *in)
{
	if (in->count == 0)
		return -1;
	if (in->count > 1) {
		fp__error(c, n, "a boolean operator needs a single item, got %zu", in->count);
		return -2;
	}
	fp_item v;
	if (fp__value(&in->items[0], &v) == 0 && v.kind == FP_BOOLEAN)
		return v.u.b;
	return 1; /* a single non-boolean item counts as true */
}

static int logic(fp_ctx *c, const fp_node *n, const fp_coll *l, const fp_coll *r, fp_coll *out)
{
	int a = to_bool(c, n, l), b = to_bool(c, n, r);
	if (a == -2 || b == -2)
		return -1;
	int res = -1;
	switch ((fp_op)n->op) {
	case OP_AND:
		if (a == 0 || b == 0)
			res = 0;
		else if (a == 1 && b == 1)
			res = 1;
		break;
	case OP_OR:
		if (a == 1 || b == 1)
			res = 1;
		else if (a == 0 && b == 0)
			res = 0;
		break;
	case OP_XOR:
		if (a >= 0 && b >= 0)
			res = a != b;
		break;
	case OP_IMPLIES:
		if (a == 0 || b == 1)
			res = 1;
		else if (a == 1)
			res = b;
		break;
	default: break;
	}
	if (res >= 0)
		fp__bool(c, out, res);
	return 0;
}

static int arith_num(fp_ctx *c, const fp_node *n, const fp_item *x, const fp_item *y, fp_coll *out)
{
	fp_op op = (fp_op)n->op;
	if (x->kind == FP_INTEGER && y->kind == FP_INTEGER && op != OP_DIV) {
		int64_t a = x->u.i, b = y->u.i, r = 0;
		switch (op) {
		case OP_ADD: r = a + b; break;
		case OP_SUB: r = a - b; break;
		case OP_MUL:
			if (__builtin_mul_overflow(a, b, &r))
				return 0;
			break;
		case OP_IDIV:
			if (b == 0 || (a == INT64_MIN && b == -1))
				return 0;
			r = a / b;
			break;
		case OP_MOD:
			if (b == 0 || (a == INT64_MIN && b == -1))
				return 0;
			r = a % b;
			break;
		default: break;
		}
		if (r > INT32_MAX || r < INT32_MIN)
			return 0; /* outside Integer: empty */
		fp__int(c, out, r);
		return 0;
	}
	double a = x->kind == FP_INTEGER ? (double)x->u.i : x->u.d;
	double b = y->kind == FP_INTEGER ? (double)y->u.i : y->u.d;
	double r = 0;
	switch (op) {
	case OP_ADD: r = a + b; break;
	case OP_SUB: r = a - b; break;
	case OP_MUL: r = a * b; break;
	case OP_DIV:
		if (b == 0)
			return 0;
		r = a / b;
		break;
	case OP_IDIV:
		if (b == 0)
			return 0;
		int64_t q;
		if (fp__dbl_int(trunc(a / b), &q) == 0)
			fp__int(c, out, q);
		return 0;
	case OP_MOD:
		if (b == 0)
			return 0;
		r = fmod(a, b);
		break;
	default: break;
	}
	fp_item it = {.kind = FP_DECIMAL, .u.d = r};
	if (op == OP_ADD || op == OP_SUB) {
		int sx = x->kind == FP_DECIMAL ? x->scale : 0,
		    sy = y->kind == FP_DECIMAL ? y->scale : 0;
		it.scale = (uint8_t)(sx > sy ? sx : sy);
	}
	fp__push(c, out, &it);
	return 0;
}

static int arith_quantity(fp_ctx *c, const fp_node *n, const fp_item *x, const fp_item *y,
                          fp_coll *out)
{
	fp_op op = (fp_op)n->op;
	fp_item qx = *x, qy = *y, r;
	/* a number with a quantity is a quantity of unit '1' */
	if (qx.kind != FP_QUANTITY) {
		qx.kind = FP_QUANTITY;
		qx.u.q.value = x->kind == FP_INTEGER ? (double)x->u.i : x->u.d;
		qx.u.q.unit = "1";
	}
	if (qy.kind != FP_QUANTITY) {
		qy.kind = FP_QUANTITY;
		qy.u.q.value = y->kind == FP_INTEGER ? (double)y->u.i : y->u.d;
		qy.u.q.unit = "1";
	}
	if (op == OP_MUL || op == OP_DIV) {
		if (fp__quantity_mul(c->a, &qx, &qy, op == OP_DIV, &r))
			return 0;
		fp__push(c, out, &r);
		return 0;
	}
	if (op != OP_ADD && op != OP_SUB)
		return fp__error(c, n, "operator not defined on quantities");
	if (x->kind != FP_QUANTITY || y->kind != FP_QUANTITY)
		return fp__error(c, n, "cannot add a number to a quantity");
	int cmp;
	if (fp__quantity_compare(&qx, &qy, &cmp)) /* incommensurable */
		return 0;
	/* express y in x's unit */
	fp_item ratio;
	fp_item one = qy;
	one.u.q.value = 1;
	fp_item onex = qx;
	onex.u.q.value = 1;
	if (fp__quantity_mul(c->a, &one, &onex, 1, &ratio))
		return 0;
	double yv = qy.u.q.value;
	if (strcmp(qx.u.q.unit, qy.u.q.unit))
		yv = qy.u.q.value * ratio.u.q.value;
	r = qx;
	r.u.q.value = op == OP_ADD ? qx.u.q.value + yv : qx.u.q.value - yv;
	fp__push(c, out, &r);
	return 0;
}

static int arith(fp_ctx *c, const fp_node *n, const fp_coll *l, const fp_coll *r, fp_coll *out)
{
	const fp_item *a, *b;
	if (fp__single(c, n, l, &a) || fp__single(c, n, r, &b))
		return -1;
	if (!a || !b)
		return 0;
	fp_item x, y;
	if (fp__value(a, &x) || fp__value(b, &y))
		return fp__error(c, n, "arithmetic on a complex value");
	fp_op op = (fp_op)n->op;
	int xn = x.kind == FP_INTEGER || x.kind == FP_DECIMAL;
	int yn = y.kind == FP_INTEGER || y.kind == FP_DECIMAL;
	if (xn && yn)
		return arith_num(c, n, &x, &y, out);
	if (op == OP_ADD && x.kind == FP_STRING && y.kind == FP_STRING) {
		char *s = arena_alloc(c->a, x.u.str.len + y.u.str.len + 1);
		memcpy(s, x.u.str.s, x.u.str.len);
		memcpy(s + x.u.str.len, y.u.str.s, y.u.str.len);
		s[x.u.str.len + y.u.str.len] = 0;
		fp__str(c, out, s, x.u.str.len + y.u.str.len);
		return 0;
	}
	if ((x.kind == FP_DATE || x.kind == FP_DATETIME || x.kind == FP_TIME) &&
	    (op == OP_ADD || op == OP_SUB)) {
		if (y.kind != FP_QUANTITY)
			return fp__error(c, n, "only a quantity can be added to a date or time");
		fp_item res = x;
		if (fp__dt_add(&x.u.dt, x.kind, y.u.q.value, y.u.q.unit, op == OP_ADD ? 1 : -1,
		               &res.u.dt))
			return fp__error(c, n, "cannot add '%s' to a date or time", y.u.q.unit);
		fp__push(c, out, &res);
		return 0;
	}
	if ((x.kind == FP_QUANTITY || xn) && (y.kind == FP_QUANTITY || yn))
		return arith_quantity(c, n, &x, &y, out);
	return fp__error(c, n, "operator not defined on %s and %s", fp__type_name(&x),
	                 fp__type_name(&y));
}

static int concat(fp_ctx *c, const fp_node *n, const fp_coll *l, const fp_coll *r, fp_coll *out)
{
	const fp_item *a, *b;
	if (fp__single(c, n, l, &a) || fp__single(c, n, r, &b))
		return -1;
	size_t al = 0, bl = 0;
	const char *as = a ? fp__to_string(c->a, a, &al) : "";
	const char *bs = b ? fp__to_string(c->a, b, &bl) : "";
	if (!as || !bs)
		return fp__error(c, n, "& needs strings");
	char *s = arena_alloc(c->a, al + bl + 1);
	memcpy(s, as, al);
	memcpy(s + al, bs, bl);
	s[al + bl] = 0;
	fp__str(c, out, s, al + bl);
	return 0;
}

static int compare(fp_ctx *c, const fp_node *n, const fp_coll *l, const fp_coll *r, fp_coll *out)
{
	const fp_item *a, *b;
	if (fp__single(c, n, l, &a) || fp__single(c, n, r, &b))
		return -1;
	if (!a || !b)
		return 0;
	int cmp, rc = fp__compare(a, b, &cmp);
	if (rc < 0) {
		fp_item x, y;
		const char *tx = fp__value(a, &x) ? "complex" : fp__type_name(&x);
		const char *ty = fp__value(b, &y) ? "complex" : fp__type_name(&y);
		return fp__error(c, n, "cannot compare %s with %s", tx, ty);
	}
	if (rc > 0)
		return 0;
	int res = 0;
	switch ((fp_op)n->op) {
	case OP_LT: res = cmp < 0; break;
	case OP_GT: res = cmp > 0; break;
	case OP_LE: res = cmp <= 0; break;
	case OP_GE: res = cmp >= 0; break;
	default: break;
	}
	fp__bool(c, out, res);
	return 0;
}

/* '=' over collections: 1, 0, or -1 for empty. */
static int coll_equal(const fp_coll *l, const fp_coll *r)
{
	if (l->count == 0 || r->count == 0)
		return -1;
	if (l->count != r->count)
		return 0;
	int res = 1;
	for (size_t i = 0; i < l->count; i++) {
		int e = fp__equal(&l->items[i], &r->items[i]);
		if (e == 0)
			return 0;
		if (e < 0)
			res = -1;
	}
	return res;
}

static int coll_equiv(const fp_coll *l, const fp_coll *r)
{
	if (l->count != r->count)
		return 0;
	for (size_t i = 0; i < l->count; i++)
		if (!fp__coll_has(r, &l->items[i], 1))
			return 0;
	return 1;
}

static void do_union(fp_ctx *c, const fp_coll *l, const fp_coll *r, fp_coll *out)
{
	for (int side = 0; side < 2; side++) {
		const fp_coll *s = side ? r : l;
		for (size_t i = 0; i < s->count; i++)
			if (!fp__coll_has(out, &s->items[i], 0))
				fp__push(c, out, &s->items[i]);
	}
}

static int membership(fp_ctx *c, const fp_node *n, const fp_coll *item, const fp_coll *coll,
                      fp_coll *out)
{
	if (item->count == 0)
		return 0;
	if (item->count > 1)
		return fp__error(c, n, "membership needs a single item, got %zu", item->count);
	fp__bool(c, out, fp__coll_has(coll, &item->items[0], 0));
	return 0;
}

int fp__binop(fp_ctx *c, const fp_node *n, const fp_coll *l, const fp_coll *r, fp_coll *out)
{
	int e;
	switch ((fp_op)n->op) {
	case OP_AND:
	case OP_OR:
	case OP_XOR:
	case OP_IMPLIES: return logic(c, n, l, r, out);
	case OP_UNION: do_union(c, l, r, out); return 0;
	case OP_CONCAT: return concat(c, n, l, r, out);
	case OP_LT:
	case OP_GT:
	case OP_LE:
	case OP_GE: return compare(c, n, l, r, out);
	case OP_EQ:
	case OP_NE:
		e = coll_equal(l, r);
		if (e >= 0)
			fp__bool(c, out, n->op == OP_EQ ? e : !e);
		return 0;
	case OP_EQUIV:
	case OP_NEQUIV:
		e = coll_equiv(l, r);
		fp__bool(c, out, n->op == OP_EQUIV ? e : !e);
		return 0;
	case OP_IN: return membership(c, n, l, r, out);
	case OP_CONTAINS: return membership(c, n, r, l, out);
	default: return arith(c, n, l, r, out);
	}
}
