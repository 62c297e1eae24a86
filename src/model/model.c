/*
 * model.c - lookups over the generated FHIR R4 tables (model_tables_*.c):
 * types, their JSON properties, choice types, search parameters and the
 * Patient compartment. The interface is model.h; the table layout is
 * model_int.h. Everything is read-only static data, so every function is
 * thread-safe, allocates nothing and returns pointers into the tables.
 */
#include <string.h>

#include "model_int.h"

static const model_type *type_at(int idx)
{
	return idx < 0 ? NULL : &model__types[idx];
}

const model_type *model_type_get(const char *name)
{
	size_t lo = 0, hi = MODEL__TYPE_COUNT;

	if (name == NULL)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, model__str(model__types[mid].name));

		if (c == 0)
			return &model__types[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const char *model_type_name(const model_type *t)
{
	return model__str(t->name);
}

model_kind model_type_kind(const model_type *t)
{
	return (model_kind)t->kind;
}

int model_type_is_concrete_resource(const model_type *t)
{
	return t != NULL && t->kind == MODEL_KIND_RESOURCE && !t->abstract;
}

int model_type_is_backbone(const model_type *t)
{
	return t != NULL && t->kind == MODEL_KIND_BACKBONE;
}

model_json model_type_json(const model_type *t)
{
	return (model_json)t->json;
}

const model_type *model_type_base(const model_type *t)
{
	return type_at(t->base);
}

int model_type_derives(const model_type *t, const model_type *ancestor)
{
	for (; t != NULL; t = type_at(t->base))
		if (t == ancestor)
			return 1;
	return 0;
}

const model__prop *model__prop_lookup(const model_type *t, const char *name)
{
	const model__prop *props = &model__props[t->prop_first];
	const uint16_t *order = &model__prop_order[t->prop_first];
	size_t lo = 0, hi = t->prop_count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const model__prop *p = &props[order[mid]];
		int c = strcmp(name, model__str(p->name));

		if (c == 0)
			return p;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static void fill_prop(const model__prop *p, model_prop *out)
{
	out->element = model__str(p->element);
	out->type = &model__types[p->type];
	out->is_array = (p->flags & MODEL__ARRAY) != 0;
	out->is_choice = (p->flags & MODEL__CHOICE) != 0;
	out->min = (p->flags & MODEL__MIN1) ? 1 : 0;
	out->is_summary = (p->flags & MODEL__SUMMARY) ? 1 : 0;
}

int model_prop_find(const model_type *t, const char *name, model_prop *out)
{
	const model__prop *p;

	if (t == NULL || name == NULL)
		return -1;
	p = model__prop_lookup(t, name);
	if (p == NULL)
		return -1;
	fill_prop(p, out);
	return 0;
}

size_t model_choice_types(const model_type *t, const char *element_base,
                          const model_type *const **types)
{
	size_t len = strlen(element_base);

	for (size_t i = 0; i < t->prop_count; i++) {
		const model__prop *p = &model__props[t->prop_first + i];
		const char *el = model__str(p->element);

		if ((p->flags & MODEL__CHOICE) && strncmp(el, element_base, len) == 0 &&
		    strcmp(el + len, "[x]") == 0) {
			const model__choice_list *cl = &model__choice_lists[p->choice];

			*types = &model__choice_types[cl->first];
			return cl->count;
		}
	}
	return 0;
}

size_t model_type_element_count(const model_type *t)
{
	return t->prop_count;
}

int model_type_element_at(const model_type *t, size_t i, model_prop *out)
{
	if (i >= t->prop_count)
		return -1;
	fill_prop(&model__props[t->prop_first + i], out);
	return 0;
}

const char *model_type_element_json_name(const model_type *t, size_t i)
{
	if (i >= t->prop_count)
		return NULL;
	return model__str(model__props[t->prop_first + i].name);
}

size_t model_resource_count(void)
{
	return MODEL__RESOURCE_COUNT;
}

const model_type *model_resource_at(size_t i)
{
	return i < MODEL__RESOURCE_COUNT ? &model__types[model__resources[i]] : NULL;
}

int model__binding_allows(unsigned binding, const char *code)
{
	const model__binding *b = &model__bindings[binding - 1];
	size_t lo = 0, hi = b->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(code, model__str(model__binding_codes[b->first + mid]));

		if (c == 0)
			return 1;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

const char *model_prop_binding(const model_type *t, const char *name)
{
	const model__prop *p = t ? model__prop_lookup(t, name) : NULL;

	if (p == NULL || p->binding == 0)
		return NULL;
	return model__str(model__bindings[p->binding - 1].url);
}

int model_code_allowed(const model_type *t, const char *name, const char *code)
{
	const model__prop *p = t ? model__prop_lookup(t, name) : NULL;

	if (p == NULL || p->binding == 0)
		return 1;
	return model__binding_allows(p->binding, code);
}

/* ---- search parameters ---- */

size_t model_search_param_count(void)
{
	return MODEL__SP_COUNT;
}

const model_search_param *model_search_param_at(size_t i)
{
	return i < MODEL__SP_COUNT ? &model__search_params[i] : NULL;
}

size_t model_search_params_for(const char *resource_type, const model_search_param *const **out)
{
	const model_type *t = model_type_get(resource_type);

	if (t == NULL || t->kind != MODEL_KIND_RESOURCE) {
		*out = NULL;
		return 0;
	}
	*out = &model__sp_by_type[t->sp_first];
	return t->sp_count;
}

const model_search_param *model_search_param_find(const char *resource_type, const char *code)
{
	const model_search_param *const *sps;
	size_t lo = 0, hi = model_search_params_for(resource_type, &sps);

	if (code == NULL)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(code, sps[mid]->code);

		if (c == 0)
			return sps[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const char *const *model_patient_compartment(const char *resource_type)
{
	const model_type *t = model_type_get(resource_type);

	if (t == NULL || t->kind != MODEL_KIND_RESOURCE || t->compartment < 0)
		return NULL;
	return &model__strlists[t->compartment];
}
