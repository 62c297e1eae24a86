/*
 * fn_core.c - FHIRPath functions on collections: existence, filtering and
 * projection, subsetting, combining, aggregate, tree navigation, utility
 * (trace, now, today) and the type functions; plus the lookup that binds a
 * function name to its implementation across fn_*.c at compile time. Each
 * function reads its input collection and pushes results into `out`.
 */
#include <string.h>

#include "fp_int.h"

extern const fp_func fp__fn_string[];
extern const fp_func fp__fn_fhir[];

#define FN(name)                                                                                   \
	static int fn_##name(fp_ctx *c, const fp_node *call, const fp_coll *in,                    \
	                     const fp_frame *fr, fp_coll *out)

/* Singleton boolean of a criteria result: 1 true, 0 false/empty, -1 error. */
static int crit_true(fp_ctx *c, const fp_node *n, const fp_coll *r)
{
	if (r->count == 0)
		return 0;
	if (r->count > 1)
		return fp__error(c, n, "criteria must give a single boolean, got %zu items",
		                 r->count);
	fp_item v;
	if (fp__value(&r->items[0], &v) || v.kind != FP_BOOLEAN)
		return fp__error(c, n, "criteria must give a boolean");
	return v.u.b;
}

FN(empty)
{
	fp__bool(c, out, in->count == 0);
	return 0;
}

FN(exists)
{
	if (call->nargs == 0) {
		fp__bool(c, out, in->count > 0);
		return 0;
	}
	for (size_t i = 0; i < in->count; i++) {
		fp_coll r;
		if (fp__arg_item(c, call, 0, in, i, fr, &r))
			return -1;
		int t = crit_true(c, call, &r);
		if (t < 0)
			return -1;
		if (t) {
			fp__bool(c, out, 1);
			return 0;
		}
	}
	fp__bool(c, out, 0);
	return 0;
}

FN(all)
{
	for (size_t i = 0; i < in->count; i++) {
		fp_coll r;
		if (fp__arg_item(c, call, 0, in, i, fr, &r))
			return -1;
		int t = crit_true(c, call, &r);
		if (t < 0)
			return -1;
		if (!t) {
			fp__bool(c, out, 0);
			return 0;
		}
	}
	fp__bool(c, out, 1);
	return 0;
}

/* allTrue, anyTrue, allFalse, anyFalse */
static int bool_agg(fp_ctx *c, const fp_node *call, const fp_coll *in, fp_coll *out, int want,
                    int any)
{
	for (size_t i = 0; i < in->count; i++) {
		fp_item v;
		if (fp__value(&in->items[i], &v) || v.kind != FP_BOOLEAN)
			return fp__error(c, call, "%s needs booleans", call->name);
		if (any && v.u.b == want) {
			fp__bool(c, out, 1);
			return 0;
		}
		if (!any && v.u.b != want) {
			fp__bool(c, out, 0);
			return 0;
		}
	}
	fp__bool(c, out, !any);
	return 0;
}

FN(allTrue)
{
	return bool_agg(c, call, in, out, 1, 0);
}
FN(anyTrue)
{
	return bool_agg(c, call, in, out, 1, 1);
}
FN(allFalse)
{
	return bool_agg(c, call, in, out, 0, 0);
}
FN(anyFalse)
{
	return bool_agg(c, call, in, out, 0, 1);
}

static int subset(fp_ctx *c, const fp_node *call, const fp_coll *in, const fp_frame *fr,
                  fp_coll *out, int super)
{
	fp_coll other;
	if (fp__arg(c, call, 0, fr, &other))
		return -1;
	const fp_coll *a = super ? &other : in, *b = super ? in : &other;
	for (size_t i = 0; i < a->count; i++) {
		if (!fp__coll_has(b, &a->items[i], 0)) {
			fp__bool(c, out, 0);
			return 0;
		}
	}
	fp__bool(c, out, 1);
	return 0;
}

FN(subsetOf)
{
	return subset(c, call, in, fr, out, 0);
}
FN(supersetOf)
{
	return subset(c, call, in, fr, out, 1);
}

FN(count)
{
	fp__int(c, out, (int64_t)in->count);
	return 0;
}

FN(distinct)
{
	for (size_t i = 0; i < in->count; i++)
		if (!fp__coll_has(out, &in->items[i], 0))
			fp__push(c, out, &in->items[i]);
	return 0;
}

FN(isDistinct)
{
	fp_coll d = {0};
	if (fn_distinct(c, call, in, fr, &d))
		return -1;
	fp__bool(c, out, d.count == in->count);
	return 0;
}

FN(where)
{
	for (size_t i = 0; i < in->count; i++) {
		fp_coll r;
		if (fp__arg_item(c, call, 0, in, i, fr, &r))
			return -1;
		int t = crit_true(c, call, &r);
		if (t < 0)
			return -1;
		if (t)
			fp__push(c, out, &in->items[i]);
	}
	return 0;
}

FN(select)
{
	for (size_t i = 0; i < in->count; i++) {
		fp_coll r;
		if (fp__arg_item(c, call, 0, in, i, fr, &r))
			return -1;
		for (size_t k = 0; k < r.count; k++)
			fp__push(c, out, &r.items[k]);
		if (out->count > c->max_items)
			return fp__error(c, call, "collection larger than %zu items", c->max_items);
	}
	return 0;
}

/* Same node or equal value, for repeat()'s "not already seen". */
static bool seen(const fp_coll *c, const fp_item *it)
{
	for (size_t i = 0; i < c->count; i++) {
		const fp_item *o = &c->items[i];
		if (it->kind == FP_NODE && o->kind == FP_NODE) {
			if (o->json == it->json && o->elem == it->elem)
				return true;
		} else if (fp__equal(o, it) == 1) {
			return true;
		}
	}
	return false;
}

FN(repeat)
{
	fp_coll work = *in;
	while (work.count) {
		fp_coll next = {0};
		for (size_t i = 0; i < work.count; i++) {
			fp_coll r;
			if (fp__arg_item(c, call, 0, &work, i, fr, &r))
				return -1;
			for (size_t k = 0; k < r.count; k++) {
				if (!seen(out, &r.items[k])) {
					fp__push(c, out, &r.items[k]);
					fp__push(c, &next, &r.items[k]);
				}
			}
			if (out->count > c->max_items)
				return fp__error(c, call, "collection larger than %zu items",
				                 c->max_items);
		}
		work = next;
	}
	return 0;
}

FN(ofType)
{
	for (size_t i = 0; i < in->count; i++)
		if (fp__type_matches_exact(&in->items[i], &call->type))
			fp__push(c, out, &in->items[i]);
	return 0;
}

FN(is)
{
	if (in->count == 0)
		return 0;
	if (in->count > 1)
		return fp__error(c, call, "is() needs a single item, got %zu", in->count);
	fp__bool(c, out, fp__type_matches(&in->items[0], &call->type));
	return 0;
}

FN(single)
{
	if (in->count > 1)
		return fp__error(c, call, "single() on %zu items", in->count);
	if (in->count)
		fp__push(c, out, &in->items[0]);
	return 0;
}

FN(first)
{
	if (in->count)
		fp__push(c, out, &in->items[0]);
	return 0;
}

FN(last)
{
	if (in->count)
		fp__push(c, out, &in->items[in->count - 1]);
	return 0;
}

FN(tail)
{
	for (size_t i = 1; i < in->count; i++)
		fp__push(c, out, &in->items[i]);
	return 0;
}

FN(skip)
{
	int64_t n;
	if (fp__int_arg(c, call, 0, fr, &n))
		return -1;
	for (size_t i = n < 0 ? 0 : (size_t)n; i < in->count; i++)
		fp__push(c, out, &in->items[i]);
	return 0;
}

FN(take)
{
	int64_t n;
	if (fp__int_arg(c, call, 0, fr, &n))
		return -1;
	for (size_t i = 0; n > 0 && i < in->count && i < (size_t)n; i++)
		fp__push(c, out, &in->items[i]);
	return 0;
}

FN(intersect)
{
	fp_coll other;
	if (fp__arg(c, call, 0, fr, &other))
		return -1;
	for (size_t i = 0; i < in->count; i++)
		if (fp__coll_has(&other, &in->items[i], 0) && !fp__coll_has(out, &in->items[i], 0))
			fp__push(c, out, &in->items[i]);
	return 0;
}

FN(exclude)
{
	fp_coll other;
	if (fp__arg(c, call, 0, fr, &other))
		return -1;
	for (size_t i = 0; i < in->count; i++)
		if (!fp__coll_has(&other, &in->items[i], 0))
			fp__push(c, out, &in->items[i]);
	return 0;
}

FN(union)
{
	fp_coll other;
	if (fp__arg(c, call, 0, fr, &other))
		return -1;
	fp_node op = *call;
	op.op = OP_UNION;
	return fp__binop(c, &op, in, &other, out);
}

FN(combine)
{
	fp_coll other;
	if (fp__arg(c, call, 0, fr, &other))
		return -1;
	for (size_t i = 0; i < in->count; i++)
		fp__push(c, out, &in->items[i]);
	for (size_t i = 0; i < other.count; i++)
		fp__push(c, out, &other.items[i]);
	return 0;
}

FN(iif)
{
	if (in->count > 1)
		return fp__error(c, call, "iif() on %zu items", in->count);
	fp_frame f = *fr;
	if (call->fn && in != fr->this_)
		f.this_ = in;
	fp_coll r;
	if (fp__arg(c, call, 0, &f, &r))
		return -1;
	int t = crit_true(c, call, &r);
	if (t < 0)
		return -1;
	if (!t && call->nargs < 3)
		return 0;
	fp_coll res;
	if (fp__arg(c, call, t ? 1 : 2, &f, &res))
		return -1;
	for (size_t i = 0; i < res.count; i++)
		fp__push(c, out, &res.items[i]);
	return 0;
}

FN(not )
{
	if (in->count == 0)
		return 0;
	if (in->count > 1)
		return fp__error(c, call, "not() on %zu items", in->count);
	fp_item v;
	if (fp__value(&in->items[0], &v) == 0 && v.kind == FP_BOOLEAN)
		fp__bool(c, out, !v.u.b);
	else
		fp__bool(c, out, 0); /* a single non-boolean item is true */
	return 0;
}

FN(aggregate)
{
	fp_coll total = {0};
	if (call->nargs > 1 && fp__arg(c, call, 1, fr, &total))
		return -1;
	for (size_t i = 0; i < in->count; i++) {
		fp_coll one = {.items = &in->items[i], .count = 1, .cap = 1};
		fp_frame f = {.this_ = &one, .index = (int64_t)i, .total = &total};
		fp_coll r = {0};
		if (fp__eval(c, call->args[0], &f, &r))
			return -1;
		total = r;
	}
	*out = total;
	return 0;
}

FN(children)
{
	for (size_t i = 0; i < in->count; i++)
		fp__all_children(c, &in->items[i], out);
	return 0;
}

FN(descendants)
{
	fp_coll work = *in;
	while (work.count) {
		fp_coll next = {0};
		for (size_t i = 0; i < work.count; i++)
			fp__all_children(c, &work.items[i], &next);
		for (size_t i = 0; i < next.count; i++)
			fp__push(c, out, &next.items[i]);
		if (out->count > c->max_items)
			return fp__error(c, call, "collection larger than %zu items", c->max_items);
		work = next;
	}
	return 0;
}

FN(trace)
{
	fp_item name;
	if (fp__string_arg(c, call, 0, fr, &name))
		return -1;
	if (c->env->trace) {
		fp_coll shown = *in;
		if (call->nargs > 1) {
			memset(&shown, 0, sizeof shown);
			for (size_t i = 0; i < in->count; i++) {
				fp_coll r;
				if (fp__arg_item(c, call, 1, in, i, fr, &r))
					return -1;
				for (size_t k = 0; k < r.count; k++)
					fp__push(c, &shown, &r.items[k]);
			}
		}
		c->env->trace(c->env->trace_ctx, name.kind == FP_STRING ? name.u.str.s : "",
		              &shown);
	}
	*out = *in;
	return 0;
}

static void push_now(fp_ctx *c, fp_coll *out, int kind)
{
	fp_item it = {.kind = (uint8_t)kind};
	fp__now(&it.u.dt, kind == FP_TIME ? FP_DATETIME : kind);
	if (kind == FP_TIME) {
		it.u.dt.year = 0;
		it.u.dt.has_tz = 0;
	}
	fp__push(c, out, &it);
}

FN(now)
{
	push_now(c, out, FP_DATETIME);
	return 0;
}

FN(today)
{
	push_now(c, out, FP_DATE);
	return 0;
}

FN(timeOfDay)
{
	push_now(c, out, FP_TIME);
	return 0;
}

FN(as)
{
	if (in->count > 1)
		return fp__error(c, call, "as() needs a single item, got %zu", in->count);
	return fn_ofType(c, call, in, fr, out);
}

static const fp_func CORE[] = {
        {"empty", 0, 0, fn_empty},
        {"exists", 0, 1, fn_exists},
        {"all", 1, 1, fn_all},
        {"allTrue", 0, 0, fn_allTrue},
        {"anyTrue", 0, 0, fn_anyTrue},
        {"allFalse", 0, 0, fn_allFalse},
        {"anyFalse", 0, 0, fn_anyFalse},
        {"subsetOf", 1, 1, fn_subsetOf},
        {"supersetOf", 1, 1, fn_supersetOf},
        {"count", 0, 0, fn_count},
        {"distinct", 0, 0, fn_distinct},
        {"isDistinct", 0, 0, fn_isDistinct},
        {"where", 1, 1, fn_where},
        {"select", 1, 1, fn_select},
        {"repeat", 1, 1, fn_repeat},
        {"ofType", 1, 1, fn_ofType},
        {"is", 1, 1, fn_is},
        {"as", 1, 1, fn_as},
        {"single", 0, 0, fn_single},
        {"first", 0, 0, fn_first},
        {"last", 0, 0, fn_last},
        {"tail", 0, 0, fn_tail},
        {"skip", 1, 1, fn_skip},
        {"take", 1, 1, fn_take},
        {"intersect", 1, 1, fn_intersect},
        {"exclude", 1, 1, fn_exclude},
        {"union", 1, 1, fn_union},
        {"combine", 1, 1, fn_combine},
        {"iif", 2, 3, fn_iif},
        {"not", 0, 0, fn_not},
        {"aggregate", 1, 2, fn_aggregate},
        {"children", 0, 0, fn_children},
        {"descendants", 0, 0, fn_descendants},
        {"trace", 1, 2, fn_trace},
        {"now", 0, 0, fn_now},
        {"today", 0, 0, fn_today},
        {"timeOfDay", 0, 0, fn_timeOfDay},
        {NULL, 0, 0, NULL},
};

const fp_func *fp__func_find(const char *name)
{
	const fp_func *tables[] = {CORE, fp__fn_string, fp__fn_fhir};
	for (size_t t = 0; t < 3; t++)
		for (const fp_func *f = tables[t]; f->name; f++)
			if (!strcmp(f->name, name))
				return f;
	return NULL;
}

/* ---- argument helpers shared by the fn_*.c files ---- */

/* out->kind is FP_STRING, or FP_NODE (0) when the argument was empty. */
int fp__string_arg(fp_ctx *c, const fp_node *call, int i, const fp_frame *fr, fp_item *out)
{
	fp_coll r;
	memset(out, 0, sizeof *out);
	if (fp__arg(c, call, i, fr, &r))
		return -1;
	const fp_item *it;
	if (fp__single(c, call, &r, &it))
		return -1;
	if (!it)
		return 0;
	if (fp__value(it, out) || out->kind != FP_STRING)
		return fp__error(c, call, "argument %d of %s() must be a String", i + 1,
		                 call->name);
	return 0;
}

int fp__int_arg(fp_ctx *c, const fp_node *call, int i, const fp_frame *fr, int64_t *out)
{
	fp_coll r;
	if (fp__arg(c, call, i, fr, &r))
		return -1;
	const fp_item *it;
	if (fp__single(c, call, &r, &it))
		return -1;
	fp_item v;
	if (!it || fp__value(it, &v) || v.kind != FP_INTEGER)
		return fp__error(c, call, "argument %d of %s() must be an Integer", i + 1,
		                 call->name);
	*out = v.u.i;
	return 0;
}
