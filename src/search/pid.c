/*
 * pid.c - the search-parameter table (search_int.h) and parameter ids
 * (search.h: search_init, search_pid, search_component_pid). search_init()
 * builds, once per process under pthread_once, one entry per resource type
 * holding each applicable parameter's FHIRPath expression compiled after
 * cutting it to the `|` branches that can apply to that type (so that
 * "AllergyIntolerance.code | Condition.code | ..." costs one branch on a
 * Condition), plus the compiled component expressions of composites. The
 * table is never written afterwards and lives until the process exits.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../fhirpath/fhirpath.h"
#include "search_int.h"

static search__type *types;
static size_t ntypes;
static int init_rc;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* Is `name` (n bytes) a concrete resource type other than `type`? */
static int other_resource_type(const char *name, size_t n, const char *type)
{
	char tname[64];

	if (n == 0 || n >= sizeof tname)
		return 0;
	memcpy(tname, name, n);
	tname[n] = '\0';
	if (strcmp(tname, type) == 0)
		return 0;
	const model_type *t = model_type_get(tname);
	return t && model_type_is_concrete_resource(t);
}

/* Append to out the top-level `|` branches of expr that may apply to type:
 * those not starting with another concrete resource type's name. Returns
 * the number of branches kept; out is NUL-terminated. */
static size_t cut_branches(const char *expr, const char *type, buf *out)
{
	size_t kept = 0;
	const char *start = expr, *p = expr;
	int depth = 0;

	for (;; p++) {
		char c = *p;
		if (c == '\'' || c == '`') { /* skip a quoted string or identifier */
			for (p++; *p && *p != c; p++)
				if (*p == '\\' && p[1])
					p++;
			if (*p == '\0')
				break;
			continue;
		}
		if (c == '(' || c == '[' || c == '{')
			depth++;
		else if (c == ')' || c == ']' || c == '}')
			depth--;
		if (c != '\0' && (c != '|' || depth != 0))
			continue;
		/* a branch is [start, p) */
		const char *b = start, *e = p;
		while (b < e && (*b == ' ' || *b == '(' || *b == '\t' || *b == '\n'))
			b++;
		const char *id = b;
		while (b < e && ((*b >= 'A' && *b <= 'Z') || (*b >= 'a' && *b <= 'z') ||
		                 (*b >= '0' && *b <= '9') || *b == '_'))
			b++;
		if (!other_resource_type(id, (size_t)(b - id), type)) {
			const char *s = start, *t = p;
			while (s < t && (*s == ' ' || *s == '\t' || *s == '\n'))
				s++;
			while (t > s && (t[-1] == ' ' || t[-1] == '\t' || t[-1] == '\n'))
				t--;
			if (kept++)
				buf_puts(out, " | ");
			buf_append(out, s, (size_t)(t - s));
		}
		if (c == '\0')
			break;
		start = p + 1;
	}
	buf_putc(out, '\0');
	return kept;
}

static const model_search_param *param_by_url(const char *url)
{
	size_t n = model_search_param_count();

	for (size_t i = 0; url && i < n; i++) {
		const model_search_param *sp = model_search_param_at(i);
		if (sp->url && strcmp(sp->url, url) == 0)
			return sp;
	}
	return NULL;
}

static int in_list(const char *const *list, const char *s)
{
	for (; list && *list; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

/* The cheap part, for every type at start: pid, compartment, cut text. */
static void init_param(search__type *t, size_t j, const model_search_param *sp)
{
	search__param *p = &t->params[j];
	p->sp = sp;
	p->pid = t->index * 256 + (uint32_t)j + 1;
	p->in_compartment = in_list(model_patient_compartment(t->name), sp->code);
	if (sp->expression == NULL || *sp->expression == '\0')
		return;
	/* _id and _lastUpdated are compiled against the resource table (r.id, r.last_updated) */
	if (strcmp(sp->code, "_id") == 0 || strcmp(sp->code, "_lastUpdated") == 0)
		return;
	buf b;
	buf_init(&b, 64 * 1024);
	if (cut_branches(sp->expression, t->name, &b))
		p->cut = base_strdup(b.data);
	buf_free(&b);
}

/* Compile one parameter's expressions (on the type's first use). */
static int compile_param(search__param *p, diag_list *d)
{
	const model_search_param *sp = p->sp;
	int rc = 0;
	if (!p->cut || p->shared)
		return 0;
	if (fp_compile(p->cut, &p->expr, d))
		rc = -1;
	if (sp->type == MODEL_SP_COMPOSITE && sp->component_count > 0) {
		/* Component k of every item in one evaluation, each item's results
		 * followed by the group mark: "(expr).select((comp).combine('mark'))".
		 * (Evaluating comp on an item's bare JSON would lose its FHIR type.) */
		p->comp_sp = base_calloc(sp->component_count, sizeof *p->comp_sp);
		p->comp_expr = base_calloc(sp->component_count, sizeof *p->comp_expr);
		for (size_t k = 0; k < sp->component_count; k++) {
			buf e;
			buf_init(&e, 64 * 1024);
			buf_printf(&e, "(%s).select((%s).combine('%s'))", p->cut,
			           sp->components[k].expression, SEARCH__GROUP_MARK);
			p->comp_sp[k] = param_by_url(sp->components[k].definition);
			if (fp_compile(e.data, &p->comp_expr[k], d))
				rc = -1;
			buf_free(&e);
		}
	}
	return rc;
}

/* Parameters of one type with the same kind and the same expression (such
 * as Patient's name and phonetic, both "Patient.name") have the same rows:
 * the later one takes the first one's pid and is not indexed again, which
 * saves a row per value on every write. */
static void share_identical(search__type *t)
{
	for (size_t j = 0; j < t->count && j < 255; j++) {
		search__param *p = &t->params[j];
		if (!p->cut || p->sp->type == MODEL_SP_COMPOSITE || p->sp->type == MODEL_SP_SPECIAL)
			continue;
		for (size_t k = 0; k < j; k++) {
			search__param *q = &t->params[k];
			if (!q->cut || q->shared || q->sp->type != p->sp->type ||
			    strcmp(q->cut, p->cut))
				continue;
			p->pid = q->pid;
			q->in_compartment |= p->in_compartment;
			p->shared = 1;
			break;
		}
	}
}

static void init_table(void)
{
	ntypes = model_resource_count();
	types = base_calloc(ntypes, sizeof *types);
	for (size_t i = 0; i < ntypes; i++) {
		search__type *t = &types[i];
		const model_search_param *const *sps;

		t->name = model_type_name(model_resource_at(i));
		t->index = (uint32_t)i;
		t->count = model_search_params_for(t->name, &sps);
		t->params = base_calloc(t->count ? t->count : 1, sizeof *t->params);
		for (size_t j = 0; j < t->count && j < 255; j++)
			init_param(t, j, sps[j]);
		share_identical(t);
	}
}

static pthread_mutex_t compile_mu = PTHREAD_MUTEX_INITIALIZER;

/* Compile a type's expressions once; later calls see `compiled` set. */
static void ensure_compiled(search__type *t)
{
	if (__atomic_load_n(&t->compiled, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&compile_mu);
	if (!t->compiled) {
		arena *a = arena_new(0);
		diag_list d;
		diag_init(&d, a);
		for (size_t j = 0; j < t->count && j < 255; j++)
			if (compile_param(&t->params[j], &d))
				init_rc = -1; /* a generated expression that does not compile: a bug
				               */
		arena_free(a);
		__atomic_store_n(&t->compiled, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&compile_mu);
}

int search_init(void)
{
	pthread_once(&init_once, init_table);
	return init_rc;
}

const search__type *search__type_get(const char *resource_type)
{
	size_t lo = 0, hi = ntypes;

	if (resource_type == NULL)
		return NULL;
	while (lo < hi) { /* model_resource_at is sorted by name */
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(resource_type, types[mid].name);
		if (c == 0) {
			ensure_compiled(&types[mid]);
			return &types[mid];
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

uint32_t search_pid(const char *resource_type, const char *code)
{
	const model_search_param *const *sps;
	const model_type *t = resource_type ? model_type_get(resource_type) : NULL;
	size_t lo = 0, hi;

	if (t == NULL || code == NULL || !model_type_is_concrete_resource(t))
		return 0;
	hi = model_search_params_for(resource_type, &sps);
	while (lo < hi) { /* the parameters of a type are sorted by code */
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(code, sps[mid]->code);
		if (c == 0) {
			const search__type *st;
			if (mid >= 255)
				return 0;
			search_init();
			st = search__type_get(resource_type);
			return st && mid < st->count ? st->params[mid].pid : 0;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

uint32_t search_component_pid(uint32_t composite_pid, unsigned component)
{
	if (composite_pid == 0 || composite_pid >= 65536 || component > 255)
		return 0;
	return composite_pid + (component + 1) * 65536u;
}
