/*
 * patch.c - JSON Patch (RFC 6902) with JSON Pointers (RFC 6901), applied in
 * place to a jansson tree for the PATCH interaction. A malformed patch
 * document answers 400; an operation that cannot apply (missing path, failed
 * test) answers 422, as the FHIR spec asks for patches that cannot apply.
 */
#include <string.h>

#include "rest_int.h"

/* Decode one pointer token (~1 -> /, ~0 -> ~) into the arena. */
static char *token(arena *a, const char *p, size_t n)
{
	char *t = arena_alloc(a, n + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '~' && i + 1 < n && (p[i + 1] == '0' || p[i + 1] == '1')) {
			t[k++] = p[i + 1] == '0' ? '~' : '/';
			i++;
		} else {
			t[k++] = p[i];
		}
	}
	t[k] = 0;
	return t;
}

/* Array index token: digits only, or "-" (one past the end) when allowed. */
static int array_index(const char *t, size_t size, int allow_end, size_t *out)
{
	if (allow_end && !strcmp(t, "-")) {
		*out = size;
		return 0;
	}
	if (!*t || (t[0] == '0' && t[1]))
		return -1;
	size_t v = 0;
	for (const char *p = t; *p; p++) {
		if (*p < '0' || *p > '9' || v > 100000000)
			return -1;
		v = v * 10 + (size_t)(*p - '0');
	}
	if (v > size || (!allow_end && v == size))
		return -1;
	*out = v;
	return 0;
}

/* Resolve all but the last token: *parent and *last (decoded). */
static int resolve_parent(arena *a, json_t *doc, const char *path, json_t **parent, char **last)
{
	if (path[0] != '/')
		return -1;
	json_t *cur = doc;
	const char *p = path + 1;
	for (;;) {
		const char *e = strchr(p, '/');
		char *t = token(a, p, e ? (size_t)(e - p) : strlen(p));
		if (!e) {
			*parent = cur;
			*last = t;
			return 0;
		}
		if (json_is_object(cur)) {
			cur = json_object_get(cur, t);
		} else if (json_is_array(cur)) {
			size_t i;
			if (array_index(t, json_array_size(cur), 0, &i))
				return -1;
			cur = json_array_get(cur, i);
		} else {
			return -1;
		}
		if (!cur)
			return -1;
		p = e + 1;
	}
}

static json_t *get_path(arena *a, json_t *doc, const char *path)
{
	if (!*path)
		return doc;
	json_t *parent;
	char *last;
	if (resolve_parent(a, doc, path, &parent, &last))
		return NULL;
	if (json_is_object(parent))
		return json_object_get(parent, last);
	size_t i;
	if (json_is_array(parent) && !array_index(last, json_array_size(parent), 0, &i))
		return json_array_get(parent, i);
	return NULL;
}

/* The whole document ("" path) becomes `value` (stolen). The caller holds
 * `doc`, so its contents are swapped in place; it stays an object or array. */
static int replace_root(json_t *doc, json_t *value)
{
	int rc = -1;
	if (json_is_object(doc) && json_is_object(value))
		rc = json_object_clear(doc) || json_object_update(doc, value) ? -1 : 0;
	else if (json_is_array(doc) && json_is_array(value))
		rc = json_array_clear(doc) || json_array_extend(doc, value) ? -1 : 0;
	json_decref(value);
	return rc;
}

/* add: takes (steals) the reference to value, also on failure. */
static int do_add(arena *a, json_t *doc, const char *path, json_t *value)
{
	json_t *parent;
	char *last;
	size_t i;
	if (!value)
		return -1;
	if (!*path)
		return replace_root(doc, value);
	if (resolve_parent(a, doc, path, &parent, &last))
		goto fail;
	if (json_is_object(parent))
		return json_object_set_new(parent, last, value);
	if (json_is_array(parent) && !array_index(last, json_array_size(parent), 1, &i))
		return json_array_insert_new(parent, i, value);
fail:
	json_decref(value);
	return -1;
}

/* replace: like remove then add, but the target keeps its place, so an
 * object member is not moved to the end. Takes value, also on failure. */
static int do_replace(arena *a, json_t *doc, const char *path, json_t *value)
{
	json_t *parent;
	char *last;
	size_t i;
	if (!value)
		return -1;
	if (!*path)
		return replace_root(doc, value);
	if (resolve_parent(a, doc, path, &parent, &last))
		goto fail;
	if (json_is_object(parent) && json_object_get(parent, last))
		return json_object_set_new(parent, last, value);
	if (json_is_array(parent) && !array_index(last, json_array_size(parent), 0, &i))
		return json_array_set_new(parent, i, value);
fail:
	json_decref(value);
	return -1;
}

/* RFC 6902 4.6 equality: numbers are equal when their values are, so 1 and
 * 1.0 are (jansson's json_equal tells integers from reals); the rest as usual. */
static int values_equal(const json_t *x, const json_t *y)
{
	if (json_is_integer(x) && json_is_integer(y))
		return json_integer_value(x) == json_integer_value(y);
	if (json_is_number(x) && json_is_number(y))
		return json_number_value(x) == json_number_value(y);
	if (json_is_object(x) && json_is_object(y)) {
		const char *k;
		json_t *v;
		if (json_object_size(x) != json_object_size(y))
			return 0;
		json_object_foreach((json_t *)x, k, v)
		{
			const json_t *w = json_object_get(y, k);
			if (!w || !values_equal(v, w))
				return 0;
		}
		return 1;
	}
	if (json_is_array(x) && json_is_array(y)) {
		if (json_array_size(x) != json_array_size(y))
			return 0;
		for (size_t i = 0; i < json_array_size(x); i++)
			if (!values_equal(json_array_get(x, i), json_array_get(y, i)))
				return 0;
		return 1;
	}
	return json_equal(x, y);
}

/* remove: optionally hands back the removed value (a new reference). */
static int do_remove(arena *a, json_t *doc, const char *path, json_t **removed)
{
	json_t *parent;
	char *last;
	if (!*path || resolve_parent(a, doc, path, &parent, &last))
		return -1;
	if (json_is_object(parent)) {
		json_t *v = json_object_get(parent, last);
		if (!v)
			return -1;
		if (removed)
			*removed = json_incref(v);
		return json_object_del(parent, last);
	}
	size_t i;
	if (json_is_array(parent) && !array_index(last, json_array_size(parent), 0, &i)) {
		if (removed)
			*removed = json_incref(json_array_get(parent, i));
		return json_array_remove(parent, i);
	}
	return -1;
}

static int apply_one(arena *a, json_t *doc, const json_t *op, size_t idx, diag_list *d)
{
	const char *name = json_string_value(json_object_get(op, "op"));
	const char *path = json_string_value(json_object_get(op, "path"));
	json_t *value = json_object_get(op, "value");
	const char *from = json_string_value(json_object_get(op, "from"));
	char *where = arena_printf(a, "patch[%zu]", idx);
	if (!json_is_object(op) || !name || !path) {
		diag_error(d, "invalid", where,
		           "Each patch operation needs \"op\" and \"path\" strings");
		return 400;
	}
	int needs_value = !strcmp(name, "add") || !strcmp(name, "replace") || !strcmp(name, "test");
	int needs_from = !strcmp(name, "move") || !strcmp(name, "copy");
	if (!needs_value && !needs_from && strcmp(name, "remove")) {
		diag_error(d, "invalid", where, "Unknown patch operation '%s'", name);
		return 400;
	}
	if ((needs_value && !value) || (needs_from && !from)) {
		diag_error(d, "invalid", where, "Patch operation '%s' needs \"%s\"", name,
		           needs_value ? "value" : "from");
		return 400;
	}
	if (path[0] && path[0] != '/') {
		diag_error(d, "invalid", where, "Path '%s' is not a JSON Pointer", path);
		return 400;
	}
	if (from && from[0] && from[0] != '/') {
		diag_error(d, "invalid", where, "From '%s' is not a JSON Pointer", from);
		return 400;
	}
	int rc = 0;
	if (!strcmp(name, "add")) {
		rc = do_add(a, doc, path, json_deep_copy(value));
	} else if (!strcmp(name, "remove")) {
		rc = do_remove(a, doc, path, NULL);
	} else if (!strcmp(name, "replace")) {
		rc = do_replace(a, doc, path, json_deep_copy(value));
	} else if (!strcmp(name, "test")) {
		json_t *cur = get_path(a, doc, path);
		if (!cur || !values_equal(cur, value)) {
			diag_error(d, "processing", where, "Patch test failed at '%s'", path);
			return 422;
		}
	} else if (!strcmp(name, "copy")) {
		json_t *src = get_path(a, doc, from);
		rc = src ? do_add(a, doc, path, json_deep_copy(src)) : -1;
	} else { /* move */
		size_t fl = strlen(from);
		if (!strncmp(path, from, fl) && path[fl] == '/') {
			diag_error(d, "invalid", where, "Cannot move '%s' into its own child",
			           from);
			return 400;
		}
		json_t *v = NULL;
		rc = do_remove(a, doc, from, &v);
		if (!rc) {
			rc = do_add(a, doc, path, json_incref(v));
			json_decref(v);
		}
	}
	if (rc) {
		diag_error(d, "processing", where, "Cannot %s at '%s': no such location", name,
		           path);
		return 422;
	}
	return 0;
}

int rest__json_patch(json_t *doc, const json_t *patch, diag_list *d)
{
	if (!json_is_array(patch)) {
		diag_error(d, "invalid", NULL, "A JSON Patch document is an array of operations");
		return 400;
	}
	size_t i;
	json_t *op;
	json_array_foreach(patch, i, op)
	{
		int st = apply_one(d->a, doc, op, i, d);
		if (st)
			return st;
	}
	return 0;
}
