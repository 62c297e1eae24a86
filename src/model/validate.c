/*
 * validate.c - model_validate() (model.h): checks a parsed JSON resource
 * against the generated FHIR R4 structure tables - known elements, JSON
 * shapes and cardinality, "_x" primitive siblings, nested resources,
 * primitive formats (primitive.c) and required bindings on codes. Each
 * problem becomes one diagnostic with a FHIRPath-like location. The walk
 * keeps its state on the stack and allocates only the diagnostics' messages.
 */
#include <string.h>

#include "model_int.h"

#define PATH_MAX_LEN 1024
#define MAX_DEPTH    128 /* nesting of objects; jansson allows deeper */
#define MAX_CHOICES  32  /* distinct choice elements tracked per object */

typedef struct vctx {
	diag_list *d;
	size_t start_errors; /* d->errors when validation began */
	size_t max_errors;   /* stop walking after this many new errors */
	int depth;
	size_t len;              /* of path */
	char path[PATH_MAX_LEN]; /* "Patient.name[0].given[1]" */
} vctx;

static void validate_resource(vctx *v, const json_t *res);
static void validate_object(vctx *v, const model_type *t, const json_t *obj);

static int stopped(const vctx *v)
{
	return v->d->errors - v->start_errors >= v->max_errors;
}

/* Append to the path (truncating if full); returns the length to pop back to. */
static size_t path_push(vctx *v, const char *s, size_t n)
{
	size_t old = v->len;

	if (v->len + n < PATH_MAX_LEN) {
		memcpy(v->path + v->len, s, n);
		v->len += n;
	}
	v->path[v->len] = '\0';
	return old;
}

static size_t path_push_name(vctx *v, const char *name)
{
	size_t old = path_push(v, ".", 1);

	path_push(v, name, strlen(name));
	return old;
}

static size_t path_push_index(vctx *v, size_t i)
{
	char tmp[24];
	size_t n = sizeof tmp;

	tmp[--n] = ']';
	do {
		tmp[--n] = (char)('0' + i % 10);
		i /= 10;
	} while (i > 0);
	tmp[--n] = '[';
	return path_push(v, tmp + n, sizeof tmp - n);
}

static void path_pop(vctx *v, size_t old)
{
	v->len = old;
	v->path[old] = '\0';
}

static const char *json_kind(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

static const model_type *prop_type(const model__prop *p)
{
	return &model__types[p->type];
}

/* One primitive value: JSON shape, format, required binding. */
static void validate_primitive(vctx *v, const model__prop *p, const json_t *j)
{
	const model_type *t = prop_type(p);
	int idx = (int)(t - model__types);
	const char *problem;

	switch (t->json) {
	case MODEL_JSON_BOOLEAN:
		if (!json_is_boolean(j))
			goto shape;
		return;
	case MODEL_JSON_INTEGER:
		if (!json_is_integer(j))
			goto shape;
		problem = model__check_integer(idx, json_integer_value(j));
		if (problem)
			diag_error(v->d, "value", v->path, "Invalid %s %lld: %s",
			           model__str(t->name), (long long)json_integer_value(j), problem);
		return;
	case MODEL_JSON_NUMBER:
		if (!json_is_number(j))
			goto shape;
		return;
	default:
		if (!json_is_string(j))
			goto shape;
		problem = model__check_string(idx, json_string_value(j), json_string_length(j));
		if (problem) {
			diag_error(v->d, "value", v->path, "Invalid %s '%.80s': %s",
			           model__str(t->name), json_string_value(j), problem);
			return;
		}
		if (p->binding && !model__binding_allows(p->binding, json_string_value(j)))
			diag_error(v->d, "code-invalid", v->path,
			           "The code '%.80s' is not in the required value set %s",
			           json_string_value(j),
			           model__str(model__bindings[p->binding - 1].url));
		return;
	}
shape:
	diag_error(v->d, "structure", v->path, "Expected a JSON %s for %s, found %s",
	           t->json == MODEL_JSON_BOOLEAN   ? "boolean"
	           : t->json == MODEL_JSON_INTEGER ? "integer"
	           : t->json == MODEL_JSON_NUMBER  ? "number"
	                                           : "string",
	           model__str(t->name), json_kind(j));
}

/* One non-null item of element p (a primitive value, object or resource). */
static void validate_item(vctx *v, const model__prop *p, const json_t *j)
{
	const model_type *t = prop_type(p);

	switch (t->kind) {
	case MODEL_KIND_PRIMITIVE: validate_primitive(v, p, j); return;
	case MODEL_KIND_RESOURCE: validate_resource(v, j); return;
	default:
		if (!json_is_object(j)) {
			diag_error(v->d, "structure", v->path,
			           "Expected an object for %s, found %s", model__str(t->name),
			           json_kind(j));
			return;
		}
		validate_object(v, t, j);
	}
}

/* The value of property `key` (element p); `ext` is its "_key" sibling or NULL. */
static void validate_value(vctx *v, const model__prop *p, const char *key, const json_t *j,
                           const json_t *ext)
{
	size_t mark = path_push_name(v, key);

	if (!(p->flags & MODEL__ARRAY)) {
		if (json_is_array(j))
			diag_error(v->d, "structure", v->path,
			           "Element %s has at most one value; an array is not allowed",
			           key);
		else if (json_is_null(j))
			diag_error(v->d, "structure", v->path, "null is not allowed for %s", key);
		else
			validate_item(v, p, j);
		path_pop(v, mark);
		return;
	}
	if (!json_is_array(j)) {
		diag_error(v->d, "structure", v->path,
		           "Element %s repeats; its value must be an array", key);
	} else if (json_array_size(j) == 0) {
		diag_error(v->d, "structure", v->path, "Arrays may not be empty");
	} else {
		size_t n = json_array_size(j);
		int ext_aligned = json_is_array(ext) && json_array_size(ext) == n;

		for (size_t i = 0; i < n && !stopped(v); i++) {
			const json_t *item = json_array_get(j, i);
			size_t m = path_push_index(v, i);

			if (!json_is_null(item))
				validate_item(v, p, item);
			else if (prop_type(p)->kind != MODEL_KIND_PRIMITIVE || !ext_aligned ||
			         !json_is_object(json_array_get(ext, i)))
				diag_error(
				        v->d, "structure", v->path,
				        "null is only allowed in a primitive array whose _%s entry "
				        "at the same position has an extension",
				        key);
			path_pop(v, m);
		}
	}
	path_pop(v, mark);
}

/* "_key": the id/extensions of primitive element `key`. */
static void validate_sibling(vctx *v, const model_type *t, const json_t *obj, const char *key,
                             const json_t *ext)
{
	const char *base = key + 1;
	const model__prop *p = model__prop_lookup(t, base);
	size_t mark = path_push_name(v, key);

	if (p == NULL) {
		diag_error(v->d, "structure", v->path, "Unknown element '%s' in %s", key,
		           model__str(t->name));
	} else if (prop_type(p)->kind != MODEL_KIND_PRIMITIVE) {
		diag_error(v->d, "structure", v->path,
		           "'%s' is only allowed for primitive elements; %s is a %s", key, base,
		           model__str(prop_type(p)->name));
	} else if (!(p->flags & MODEL__ARRAY)) {
		if (!json_is_object(ext))
			diag_error(v->d, "structure", v->path, "%s must be an object, found %s",
			           key, json_kind(ext));
		else
			validate_object(v, prop_type(p), ext);
	} else if (!json_is_array(ext)) {
		diag_error(v->d, "structure", v->path, "%s must be an array, found %s", key,
		           json_kind(ext));
	} else {
		const json_t *values = json_object_get(obj, base);
		size_t n = json_array_size(ext);

		if (n == 0)
			diag_error(v->d, "structure", v->path, "Arrays may not be empty");
		if (json_is_array(values) && json_array_size(values) != n)
			diag_error(v->d, "structure", v->path,
			           "%s has %zu entries but %s has %zu; they must align", key, n,
			           base, json_array_size(values));
		for (size_t i = 0; i < n && !stopped(v); i++) {
			const json_t *item = json_array_get(ext, i);
			size_t m = path_push_index(v, i);

			if (json_is_object(item))
				validate_object(v, prop_type(p), item);
			else if (!json_is_null(item))
				diag_error(v->d, "structure", v->path,
				           "Expected an object or null, found %s", json_kind(item));
			else if (!json_is_array(values) || json_is_null(json_array_get(values, i)))
				diag_error(v->d, "structure", v->path,
				           "Entry has neither a value nor an extension");
			path_pop(v, m);
		}
	}
	path_pop(v, mark);
}

/* Is the element of props[i] given in obj (as value or as "_" sibling)? */
static int element_present(const json_t *obj, const char *name)
{
	char sibling[128];
	size_t n = strlen(name);

	if (json_object_get(obj, name) != NULL)
		return 1;
	if (n + 2 > sizeof sibling)
		return 0;
	sibling[0] = '_';
	memcpy(sibling + 1, name, n + 1);
	return json_object_get(obj, sibling) != NULL;
}

/*
 * Required elements that an official R4 example omits, reported as warnings
 * instead of errors so that every published example stays acceptable:
 * Questionnaire-qs1 (the Questionnaire describing Questionnaire) has nested
 * display items without linkId although Questionnaire.item.linkId is 1..1.
 */
static const struct {
	const char *type;
	const char *element;
} relaxed_required[] = {
        {"Questionnaire.item", "linkId"},
};

static int required_is_relaxed(const model_type *t, const model__prop *p)
{
	for (size_t i = 0; i < sizeof relaxed_required / sizeof relaxed_required[0]; i++)
		if (strcmp(model__str(t->name), relaxed_required[i].type) == 0 &&
		    strcmp(model__str(p->element), relaxed_required[i].element) == 0)
			return 1;
	return 0;
}

/* Report elements with min cardinality 1 that obj lacks. */
static void check_required(vctx *v, const model_type *t, const json_t *obj)
{
	const model__prop *props = &model__props[t->prop_first];

	for (size_t i = 0; i < t->prop_count; i++) {
		const model__prop *p = &props[i];
		int found;
		size_t j;

		if (!(p->flags & MODEL__MIN1))
			continue;
		/* a choice element's expansions are adjacent: any one satisfies it */
		found = 0;
		for (j = i; j < t->prop_count && props[j].element == p->element; j++)
			if (!found && element_present(obj, model__str(props[j].name)))
				found = 1;
		if (!found) {
			size_t mark = path_push_name(v, model__str(p->element));

			diag_add(v->d, required_is_relaxed(t, p) ? DIAG_WARNING : DIAG_ERROR,
			         "required", v->path, "Missing required element %s of %s",
			         model__str(p->element), model__str(t->name));
			path_pop(v, mark);
		}
		i = j - 1;
	}
}

static void validate_object(vctx *v, const model_type *t, const json_t *obj)
{
	uint32_t choices[MAX_CHOICES];
	size_t nchoices = 0;
	const char *key;
	json_t *val;

	if (v->depth >= MAX_DEPTH) {
		diag_error(v->d, "structure", v->path, "Nested more than %d levels deep",
		           MAX_DEPTH);
		return;
	}
	if (json_object_size(obj) == 0) {
		diag_error(v->d, "structure", v->path, "Empty objects are not allowed");
		return;
	}
	v->depth++;
	json_object_foreach((json_t *)obj, key, val)
	{
		const model__prop *p;

		if (stopped(v))
			break;
		if (key[0] == '_') {
			validate_sibling(v, t, obj, key, val);
			continue;
		}
		if (t->kind == MODEL_KIND_RESOURCE && strcmp(key, "resourceType") == 0)
			continue;
		p = model__prop_lookup(t, key);
		if (p == NULL) {
			size_t mark = path_push_name(v, key);

			diag_error(v->d, "structure", v->path, "Unknown element '%s' in %s", key,
			           model__str(t->name));
			path_pop(v, mark);
			continue;
		}
		if (p->flags & MODEL__CHOICE) {
			size_t i;

			for (i = 0; i < nchoices && choices[i] != p->element; i++)
				;
			if (i < nchoices) {
				size_t mark = path_push_name(v, key);

				diag_error(v->d, "structure", v->path,
				           "Choice element %s may have only one value",
				           model__str(p->element));
				path_pop(v, mark);
			} else if (nchoices < MAX_CHOICES) {
				choices[nchoices++] = p->element;
			}
		}
		if (prop_type(p)->kind == MODEL_KIND_PRIMITIVE) {
			char sibling[128];
			size_t n = strlen(key);
			const json_t *ext = NULL;

			if (n + 2 <= sizeof sibling) {
				sibling[0] = '_';
				memcpy(sibling + 1, key, n + 1);
				ext = json_object_get(obj, sibling);
			}
			validate_value(v, p, key, val, ext);
		} else {
			validate_value(v, p, key, val, NULL);
		}
	}
	if (!stopped(v))
		check_required(v, t, obj);
	v->depth--;
}

static void validate_resource(vctx *v, const json_t *res)
{
	const json_t *rt;
	const model_type *t;

	if (!json_is_object(res)) {
		diag_error(v->d, "structure", v->len ? v->path : NULL,
		           "A resource must be a JSON object, found %s", json_kind(res));
		return;
	}
	rt = json_object_get(res, "resourceType");
	if (!json_is_string(rt)) {
		diag_error(v->d, "structure", v->len ? v->path : NULL,
		           "A resource needs a string resourceType");
		return;
	}
	t = model_type_get(json_string_value(rt));
	if (!model_type_is_concrete_resource(t)) {
		diag_error(v->d, "structure", v->len ? v->path : NULL,
		           "Unknown resource type '%.80s'", json_string_value(rt));
		return;
	}
	if (v->len == 0) {
		const char *name = model__str(t->name);

		path_push(v, name, strlen(name));
	}
	validate_object(v, t, res);
}

int model_validate(const json_t *resource, diag_list *d)
{
	vctx v;

	v.d = d;
	v.start_errors = d->errors;
	v.max_errors = d->limit ? d->limit : 100;
	v.depth = 0;
	v.len = 0;
	v.path[0] = '\0';
	validate_resource(&v, resource);
	return (int)(d->errors - v.start_errors);
}
