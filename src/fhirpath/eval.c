/*
 * eval.c - the FHIRPath evaluator's core: walks the compiled tree over a
 * jansson resource, navigating FHIR JSON with the generated type model
 * (choice types, "_x" primitive siblings, contained resources), and
 * dispatches operators (ops.c) and functions (fn_*.c). Interface: fp_eval in
 * fhirpath.h. All state lives in an fp_ctx on the caller's stack; every
 * allocation comes from the caller's arena.
 */
#include <ctype.h>
#include <stdarg.h>
#include <string.h>

#include "fp_int.h"

int fp__error(fp_ctx *c, const fp_node *n, const char *fmt, ...)
{
	if (!c->failed) {
		va_list ap;
		va_start(ap, fmt);
		char *msg = arena_vprintf(c->a, fmt, ap);
		va_end(ap);
		diag_error(c->d, "processing", NULL, "FHIRPath evaluation error at column %u: %s",
		           n ? n->pos + 1 : 1, msg);
	}
	c->failed = 1;
	return -1;
}

void fp__push(fp_ctx *c, fp_coll *out, const fp_item *it)
{
	if (out->count == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 4;
		fp_item *items = arena_alloc(c->a, cap * sizeof *items);
		if (out->count)
			memcpy(items, out->items, out->count * sizeof *items);
		out->items = items;
		out->cap = cap;
	}
	out->items[out->count++] = *it;
}

const model_type *fp__model(const char *name)
{
	return model_type_get(name);
}

/* ---- navigation ---- */

static const model_type *resource_type_of(const json_t *j)
{
	const char *rt = json_string_value(json_object_get(j, "resourceType"));
	return rt ? model_type_get(rt) : NULL;
}

static void push_node(fp_ctx *c, fp_coll *out, const model_type *t, const json_t *v,
                      const json_t *elem)
{
	if ((!v || json_is_null(v)) && !json_is_object(elem))
		return;
	if (json_is_null(v))
		v = NULL;
	if (json_is_object(v) && (!t || model_type_kind(t) == MODEL_KIND_RESOURCE)) {
		const model_type *rt = resource_type_of(v);
		if (rt)
			t = rt;
	}
	fp_item it = {
	        .kind = FP_NODE, .type = t, .json = v, .elem = json_is_object(elem) ? elem : NULL};
	fp__push(c, out, &it);
}

/* Push property value v (and its "_x" sibling ev), flattening arrays. */
static void push_prop(fp_ctx *c, fp_coll *out, const model_type *t, const json_t *v,
                      const json_t *ev)
{
	if (json_is_array(v) || json_is_array(ev)) {
		size_t n = json_array_size(v), ne = json_array_size(ev);
		size_t max = n > ne ? n : ne;
		for (size_t i = 0; i < max; i++)
			push_node(c, out, t, json_array_get(v, i), json_array_get(ev, i));
		return;
	}
	push_node(c, out, t, v, ev);
}

/* "value" + "Quantity" -> "valueQuantity"; 0 when it does not fit. */
static int choice_key(char *key, size_t keylen, const char *base, const char *type)
{
	size_t bl = strlen(base), tl = strlen(type);
	if (bl + tl + 2 > keylen)
		return 0;
	memcpy(key, base, bl);
	memcpy(key + bl, type, tl + 1);
	key[bl] = (char)toupper((unsigned char)key[bl]);
	return 1;
}

int fp__children(fp_ctx *c, const fp_item *it, const char *name, fp_coll *out, const fp_node *n)
{
	if (it->kind == FP_TYPEINFO) {
		if (!strcmp(name, "name"))
			fp__str(c, out, it->u.str.s, it->u.str.len);
		else if (!strcmp(name, "namespace"))
			fp__str(c, out, it->scale ? "FHIR" : "System", it->scale ? 4 : 6);
		return 0;
	}
	if (it->kind != FP_NODE)
		return 0;
	const json_t *obj = it->json;
	const model_type *t = it->type;
	if (!json_is_object(obj)) {
		/* a primitive: only id and extension, from its "_x" sibling */
		obj = it->elem;
		if (!obj)
			return 0;
	}
	char key[256];
	size_t nl = strlen(name);
	model_prop p;
	const model_prop *pp = NULL;
	if (t && n && n->kind == N_MEMBER && n->owner == t)
		pp = &n->prop; /* resolved when the expression was compiled */
	else if (t && model_prop_find(t, name, &p) == 0)
		pp = &p;
	/* "valueQuantity" is JSON, not FHIRPath: the path is "value" */
	if (pp && pp->is_choice && strncmp(pp->element, name, nl) != 0)
		return 1;
	const json_t *v = json_object_get(obj, name);
	const json_t *ev = NULL;
	key[0] = '_';
	/* only primitives have "_x" siblings */
	if (nl + 2 <= sizeof key && (!pp || model_type_kind(pp->type) == MODEL_KIND_PRIMITIVE)) {
		memcpy(key + 1, name, nl + 1);
		ev = json_object_get(obj, key);
	}
	if (v || ev) {
		push_prop(c, out, pp ? pp->type : NULL, v, ev);
		return 0;
	}
	/* an element of the type that is absent here: the common case */
	if (!t || pp)
		return 0;
	/* a choice element: find "<name><Type>" among the object's few keys
	 * rather than trying every allowed type */
	const char *k;
	json_t *kv;
	json_object_foreach((json_t *)obj, k, kv)
	{
		const char *plain = k[0] == '_' ? k + 1 : k;
		if (strncmp(plain, name, nl) || !isupper((unsigned char)plain[nl]))
			continue;
		if (plain != k && json_object_get(obj, plain))
			continue; /* the value key handles its "_" sibling */
		if (model_prop_find(t, plain, &p) || !p.is_choice || strncmp(p.element, name, nl) ||
		    strcmp(p.element + nl, "[x]"))
			continue;
		if (!choice_key(key + 1, sizeof key - 1, name, plain + nl))
			continue;
		key[nl + 1] = plain[nl]; /* keep the type's own capitalisation */
		push_prop(c, out, p.type, json_object_get(obj, key + 1), json_object_get(obj, key));
		return 0;
	}
	const model_type *const *types = NULL;
	if (model_choice_types(t, name, &types))
		return 0;
	/* An element the type does not have: the caller decides whether that
	 * is a mistake in the expression. */
	return model_type_kind(t) == MODEL_KIND_COMPLEX ||
	       model_type_kind(t) == MODEL_KIND_BACKBONE ||
	       (model_type_kind(t) == MODEL_KIND_RESOURCE && !isupper((unsigned char)name[0]));
}

void fp__all_children(fp_ctx *c, const fp_item *it, fp_coll *out)
{
	if (it->kind != FP_NODE)
		return;
	const json_t *obj = json_is_object(it->json) ? it->json : it->elem;
	if (!obj)
		return;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)obj, k, v)
	{
		if (k[0] == '_' || !strcmp(k, "resourceType"))
			continue;
		const model_type *ct = NULL;
		model_prop p;
		if (it->type && model_prop_find(it->type, k, &p) == 0)
			ct = p.type;
		char key[256];
		const json_t *ev = NULL;
		if (strlen(k) + 2 <= sizeof key) {
			key[0] = '_';
			memcpy(key + 1, k, strlen(k) + 1);
			ev = json_object_get(obj, key);
		}
		push_prop(c, out, ct, v, ev);
	}
	/* primitives that only have an "_x" sibling */
	json_object_foreach((json_t *)obj, k, v)
	{
		if (k[0] != '_' || json_object_get(obj, k + 1))
			continue;
		const model_type *ct = NULL;
		model_prop p;
		if (it->type && model_prop_find(it->type, k + 1, &p) == 0)
			ct = p.type;
		push_prop(c, out, ct, NULL, v);
	}
}

/* ---- types ---- */

static const char *const SYS_NAMES[] = {"Boolean", "String",   "Integer", "Decimal",
                                        "Date",    "DateTime", "Time",    "Quantity"};

void fp__resolve_typespec(fp_typespec *t)
{
	int fhir = !t->ns || !strcmp(t->ns, "FHIR");
	int sys = !t->ns || !strcmp(t->ns, "System");
	if (fhir)
		t->model = model_type_get(t->name);
	if (sys) {
		for (int k = 0; k < 8; k++)
			if (!strcmp(t->name, SYS_NAMES[k]))
				t->sys = k + FP_BOOLEAN + 1;
	}
}

bool fp__type_matches(const fp_item *it, const fp_typespec *t)
{
	if (it->kind == FP_NODE) {
		const model_type *nt = it->type;
		if (!nt && json_is_object(it->json))
			nt = resource_type_of(it->json);
		if (nt && t->model && model_type_derives(nt, t->model))
			return true;
		if (!nt && t->model && json_is_object(it->json)) {
			const char *rt =
			        json_string_value(json_object_get(it->json, "resourceType"));
			return rt && !strcmp(rt, t->name);
		}
		return false; /* FHIR primitives are not System types: active.is(Boolean) is false
		               */
	}
	if (t->sys)
		return it->kind + 1 == t->sys;
	return false;
}

bool fp__type_matches_exact(const fp_item *it, const fp_typespec *t)
{
	if (it->kind == FP_NODE && it->type && t->model &&
	    model_type_kind(it->type) == MODEL_KIND_PRIMITIVE)
		return it->type == t->model;
	return fp__type_matches(it, t);
}

/* ---- evaluation ---- */

int fp__single(fp_ctx *c, const fp_node *n, const fp_coll *in, const fp_item **out)
{
	*out = NULL;
	if (in->count > 1)
		return fp__error(c, n, "expected a single item, got %zu", in->count);
	if (in->count == 1)
		*out = &in->items[0];
	return 0;
}

static void var_value(fp_ctx *c, const json_t *v, fp_coll *out)
{
	if (json_is_string(v)) {
		fp__str(c, out, json_string_value(v), json_string_length(v));
	} else if (json_is_integer(v)) {
		fp__int(c, out, json_integer_value(v));
	} else if (json_is_real(v)) {
		fp__dec(c, out, json_real_value(v));
	} else if (json_is_boolean(v)) {
		fp__bool(c, out, json_is_true(v));
	} else if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++)
			var_value(c, json_array_get(v, i), out);
	} else if (json_is_object(v)) {
		push_node(c, out, resource_type_of(v), v, NULL);
	}
}

static int eval_var(fp_ctx *c, const fp_node *n, fp_coll *out)
{
	const char *name = n->name;
	const fp_env *env = c->env;
	for (size_t i = 0; env && i < env->nvars; i++) {
		if (!strcmp(env->vars[i].name, name)) {
			var_value(c, env->vars[i].value, out);
			return 0;
		}
	}
	if (!strcmp(name, "resource")) {
		if (c->resource.json)
			fp__push(c, out, &c->resource);
	} else if (!strcmp(name, "rootResource")) {
		if (c->root_resource.json)
			fp__push(c, out, &c->root_resource);
	} else if (!strcmp(name, "context")) {
		if (c->context.json)
			fp__push(c, out, &c->context);
	} else if (!strcmp(name, "ucum")) {
		fp__str(c, out, "http://unitsofmeasure.org", 25);
	} else if (!strcmp(name, "sct")) {
		fp__str(c, out, "http://snomed.info/sct", 22);
	} else if (!strcmp(name, "loinc")) {
		fp__str(c, out, "http://loinc.org", 16);
	} else if (!strncmp(name, "vs-", 3)) {
		const char *s = arena_printf(c->a, "http://hl7.org/fhir/ValueSet/%s", name + 3);
		fp__str(c, out, s, strlen(s));
	} else if (!strncmp(name, "ext-", 4)) {
		const char *s =
		        arena_printf(c->a, "http://hl7.org/fhir/StructureDefinition/%s", name + 4);
		fp__str(c, out, s, strlen(s));
	} else {
		return fp__error(c, n, "unknown variable %%%s", name);
	}
	return 0;
}

/* Member access on every item of in; at term position a resource type name
 * selects the context itself when it is of that type. */
static int eval_member(fp_ctx *c, const fp_node *n, const fp_coll *in, int term, fp_coll *out)
{
	size_t unknown = 0;
	for (size_t i = 0; i < in->count; i++) {
		const fp_item *it = &in->items[i];
		if (term && n->rtype) {
			if (it->kind == FP_NODE) {
				fp_typespec ts = {.name = n->name, .model = n->rtype};
				if (fp__type_matches(it, &ts))
					fp__push(c, out, it);
			}
			continue;
		}
		int rc = fp__children(c, it, n->name, out, n);
		if (rc < 0)
			return -1;
		unknown += (size_t)rc;
	}
	/* no item of the input has such an element: a mistake in the expression */
	if (unknown && unknown == in->count) {
		const char *tn = fp__type_name(&in->items[0]);
		return fp__error(c, n, "%s has no element '%s'", tn ? tn : "the input", n->name);
	}
	if (out->count > c->max_items)
		return fp__error(c, n, "collection larger than %zu items", c->max_items);
	return 0;
}

static int eval_call(fp_ctx *c, const fp_node *n, const fp_coll *in, const fp_frame *fr,
                     fp_coll *out)
{
	int rc = n->fn->impl(c, n, in, fr, out);
	if (!rc && out->count > c->max_items)
		return fp__error(c, n, "collection larger than %zu items", c->max_items);
	return rc;
}

int fp__arg(fp_ctx *c, const fp_node *call, int i, const fp_frame *fr, fp_coll *out)
{
	memset(out, 0, sizeof *out);
	return fp__eval(c, call->args[i], fr, out);
}

int fp__arg_item(fp_ctx *c, const fp_node *call, int i, const fp_coll *in, size_t idx,
                 const fp_frame *fr, fp_coll *out)
{
	fp_coll one = {.items = &in->items[idx], .count = 1, .cap = 1};
	fp_frame f = {.this_ = &one, .index = (int64_t)idx, .total = fr->total};
	memset(out, 0, sizeof *out);
	return fp__eval(c, call->args[i], &f, out);
}

static int eval_path(fp_ctx *c, const fp_node *n, const fp_frame *fr, fp_coll *out)
{
	fp_coll left = {0};
	if (fp__eval(c, n->left, fr, &left))
		return -1;
	const fp_node *r = n->right;
	switch (r->kind) {
	case N_MEMBER: return eval_member(c, r, &left, 0, out);
	case N_FUNC: return eval_call(c, r, &left, fr, out);
	default:
		/* $this after a dot: the left side per item */
		*out = left;
		return 0;
	}
}

static int eval_indexer(fp_ctx *c, const fp_node *n, const fp_frame *fr, fp_coll *out)
{
	fp_coll left = {0}, idx = {0};
	if (fp__eval(c, n->left, fr, &left) || fp__eval(c, n->right, fr, &idx))
		return -1;
	const fp_item *i;
	if (fp__single(c, n, &idx, &i))
		return -1;
	if (!i)
		return 0;
	fp_item v;
	if (fp__value(i, &v) || v.kind != FP_INTEGER)
		return fp__error(c, n, "an index must be an Integer");
	if (v.u.i >= 0 && (size_t)v.u.i < left.count)
		fp__push(c, out, &left.items[v.u.i]);
	return 0;
}

static int eval_neg(fp_ctx *c, const fp_node *n, const fp_frame *fr, fp_coll *out)
{
	fp_coll in = {0};
	if (fp__eval(c, n->left, fr, &in))
		return -1;
	const fp_item *it;
	if (fp__single(c, n, &in, &it))
		return -1;
	if (!it)
		return 0;
	fp_item v;
	if (fp__value(it, &v))
		return fp__error(c, n, "unary minus needs a number or a quantity");
	switch (v.kind) {
	case FP_INTEGER: v.u.i = -v.u.i; break;
	case FP_DECIMAL: v.u.d = -v.u.d; break;
	case FP_QUANTITY: v.u.q.value = -v.u.q.value; break;
	default: return fp__error(c, n, "unary minus needs a number or a quantity");
	}
	fp__push(c, out, &v);
	return 0;
}

static int eval_type_op(fp_ctx *c, const fp_node *n, const fp_frame *fr, fp_coll *out)
{
	fp_coll in = {0};
	if (fp__eval(c, n->left, fr, &in))
		return -1;
	if (in.count == 0)
		return 0;
	if (in.count > 1) {
		if (n->kind == N_IS)
			return fp__error(c, n, "'is' needs a single item, got %zu", in.count);
		/* 'as' over many items filters, as fhirpath.js and the R4 search
		 * parameters (e.g. "value as Quantity" on repeats) expect */
	}
	if (n->kind == N_IS) {
		fp__bool(c, out, fp__type_matches(&in.items[0], &n->type));
		return 0;
	}
	for (size_t i = 0; i < in.count; i++)
		if (fp__type_matches_exact(&in.items[i], &n->type))
			fp__push(c, out, &in.items[i]);
	return 0;
}

static int eval_binop(fp_ctx *c, const fp_node *n, const fp_frame *fr, fp_coll *out)
{
	fp_coll l = {0}, r = {0};
	fp_op op = (fp_op)n->op;
	if (fp__eval(c, n->left, fr, &l))
		return -1;
	/* short-circuit the boolean operators where the left side decides */
	if (op == OP_AND || op == OP_OR || op == OP_IMPLIES) {
		if (l.count == 1) {
			fp_item v;
			if (fp__value(&l.items[0], &v) == 0 && v.kind == FP_BOOLEAN) {
				if ((op == OP_AND && !v.u.b) || (op == OP_OR && v.u.b)) {
					fp__bool(c, out, v.u.b);
					return 0;
				}
				if (op == OP_IMPLIES && !v.u.b) {
					fp__bool(c, out, 1);
					return 0;
				}
			}
		}
	}
	if (fp__eval(c, n->right, fr, &r))
		return -1;
	return fp__binop(c, n, &l, &r, out);
}

int fp__eval(fp_ctx *c, const fp_node *n, const fp_frame *fr, fp_coll *out)
{
	int rc = 0;
	if (c->failed)
		return -1;
	if (++c->depth > c->max_depth) {
		c->depth--;
		return fp__error(c, n, "evaluation nested deeper than %u", c->max_depth);
	}
	if (arena_used(c->a) - c->start_bytes > c->max_bytes) {
		c->depth--;
		return fp__error(c, n, "evaluation used more than %zu bytes", c->max_bytes);
	}
	switch ((fp_node_kind)n->kind) {
	case N_EMPTY: break;
	case N_LITERAL: fp__push(c, out, &n->lit); break;
	case N_MEMBER: rc = eval_member(c, n, fr->this_, 1, out); break;
	case N_FUNC: rc = eval_call(c, n, fr->this_, fr, out); break;
	case N_THIS:
		for (size_t i = 0; i < fr->this_->count; i++)
			fp__push(c, out, &fr->this_->items[i]);
		break;
	case N_INDEX:
		if (fr->index >= 0)
			fp__int(c, out, fr->index);
		break;
	case N_TOTAL:
		if (fr->total)
			for (size_t i = 0; i < fr->total->count; i++)
				fp__push(c, out, &fr->total->items[i]);
		break;
	case N_VAR: rc = eval_var(c, n, out); break;
	case N_PATH: rc = eval_path(c, n, fr, out); break;
	case N_INDEXER: rc = eval_indexer(c, n, fr, out); break;
	case N_NEG: rc = eval_neg(c, n, fr, out); break;
	case N_BINOP: rc = eval_binop(c, n, fr, out); break;
	case N_IS:
	case N_AS: rc = eval_type_op(c, n, fr, out); break;
	}
	c->depth--;
	if (c->failed)
		rc = -1;
	return rc;
}

static void root_item(fp_item *it, const json_t *j)
{
	memset(it, 0, sizeof *it);
	it->kind = FP_NODE;
	it->json = j;
	it->type = json_is_object(j) ? resource_type_of(j) : NULL;
}

int fp_eval(const fp_expr *e, const json_t *resource, const fp_env *env, arena *a,
            fp_collection *out, diag_list *d)
{
	static const fp_env no_env;
	if (!env)
		env = &no_env;
	fp_ctx c = {.a = a, .d = d, .env = env, .expr = e};
	c.max_depth = env->max_depth ? env->max_depth : 200;
	c.max_items = env->max_items ? env->max_items : 1000000;
	c.max_bytes = env->max_bytes ? env->max_bytes : (size_t)256 << 20;
	c.start_bytes = arena_used(a);
	root_item(&c.context, resource);
	c.resource = c.context;
	if (env->resource && env->resource != resource)
		root_item(&c.resource, env->resource);
	c.root_resource = c.resource;
	if (env->root_resource && env->root_resource != c.resource.json)
		root_item(&c.root_resource, env->root_resource);
	const char *rt = c.root_resource.type ? model_type_name(c.root_resource.type) : "";
	if (rt[0] == 'B' && !strcmp(rt, "Bundle"))
		c.bundle = c.root_resource.json;
	fp_coll ctx = {0};
	if (resource && !json_is_null(resource))
		fp__push(&c, &ctx, &c.context);
	fp_frame fr = {.this_ = &ctx, .index = -1};
	memset(out, 0, sizeof *out);
	if (fp__eval(&c, e->root, &fr, out)) {
		memset(out, 0, sizeof *out);
		return -1;
	}
	return 0;
}

int fp_eval_boolean(const fp_expr *e, const json_t *resource, const fp_env *env, arena *a,
                    diag_list *d)
{
	fp_collection r;
	if (fp_eval(e, resource, env, a, &r, d))
		return -1;
	if (r.count == 0)
		return 0;
	fp_item v;
	if (r.count != 1 || fp__value(&r.items[0], &v) || v.kind != FP_BOOLEAN)
		return -1;
	return v.u.b ? 1 : 0;
}
