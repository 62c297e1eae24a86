/*
 * index_reference.c - reference index rows (search_int.h): a Reference's
 * target as type and id (relative, absolute, contained), its url when it is
 * not local, its identifier; canonical and uri values; resources that an
 * expression yields directly (Bundle.entry[0].resource). Part of
 * search_index(); rows go to the caller's arena.
 */
#include <string.h>

#include "../fhirpath/fhirpath.h"
#include "search_int.h"

static int is_resource_type(const char *s, size_t n)
{
	char name[64];

	if (n == 0 || n >= sizeof name)
		return 0;
	memcpy(name, s, n);
	name[n] = '\0';
	const model_type *t = model_type_get(name);
	return t && model_type_is_concrete_resource(t);
}

/* An id: 1-64 of [A-Za-z0-9-.]. */
static int is_id(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
			return 0;
	}
	return 1;
}

/* Find "Type/id" at the end of the path [s, e) (after dropping /_history/v):
 * sets ttype/tid in r when found. */
static void type_and_id(search__index_ctx *c, search_row *r, const char *s, const char *e)
{
	const char *h = NULL;

	for (const char *p = s; p + 10 <= e; p++)
		if (memcmp(p, "/_history/", 10) == 0)
			h = p;
	if (h)
		e = h;
	const char *slash = e;
	while (slash > s && slash[-1] != '/')
		slash--;
	if (slash == s) /* no '/' */
		return;
	const char *id = slash, *tend = slash - 1, *tstart = tend;
	while (tstart > s && tstart[-1] != '/')
		tstart--;
	if (!is_id(id, (size_t)(e - id)) || !is_resource_type(tstart, (size_t)(tend - tstart)))
		return;
	r->s[0] = arena_strndup(c->a, tstart, (size_t)(tend - tstart));
	r->s[1] = arena_strndup(c->a, id, (size_t)(e - id));
}

/* The resourceType of the contained resource with id `id`, or NULL. */
static const char *contained_type(search__index_ctx *c, const char *id)
{
	size_t i;
	const json_t *res;

	json_array_foreach(json_object_get(c->resource, "contained"), i, res)
	{
		const char *rid = json_string_value(json_object_get(res, "id"));
		if (rid && strcmp(rid, id) == 0)
			return json_string_value(json_object_get(res, "resourceType"));
	}
	return NULL;
}

static int is_absolute(const char *ref)
{
	return strstr(ref, "://") != NULL || strncmp(ref, "urn:", 4) == 0;
}

/* Fill ttype/tid/url of r from a reference string. */
static void parse_reference(search__index_ctx *c, search_row *r, const char *ref)
{
	size_t n = strlen(ref);

	if (c->base_len && !strncmp(ref, c->base, c->base_len) && ref[c->base_len] == '/') {
		ref += c->base_len + 1; /* on this server: a local reference */
		n -= c->base_len + 1;
	}
	if (ref[0] == '#') {
		r->s[0] = search__str(c, contained_type(c, ref + 1));
		r->s[1] = search__str(c, ref);
		return;
	}
	if (is_absolute(ref)) {
		/* on another server (or a urn): a different resource than any local
		 * Type/id, so it matches by its URL only (search.html#reference) */
		r->s[2] = search__str(c, ref);
		return;
	}
	type_and_id(c, r, ref, ref + n);
	if (!*r->s[1]) {
		if (strchr(ref, '/') == NULL && is_id(ref, n))
			r->s[1] = search__str(c, ref); /* a bare id */
		else
			r->s[2] = search__str(c, ref); /* something else: kept as written */
	}
}

static void add_reference(search__index_ctx *c, const json_t *ref)
{
	const char *s = json_string_value(json_object_get(ref, "reference"));
	const char *type = json_string_value(json_object_get(ref, "type"));
	const json_t *ident = json_object_get(ref, "identifier");
	const char *isys = json_string_value(json_object_get(ident, "system"));
	const char *ival = json_string_value(json_object_get(ident, "value"));

	if ((s == NULL || *s == '\0') && ival == NULL)
		return; /* display only: nothing to search on */
	search_row *r = search__row_add(c, SEARCH_ROW_REFERENCE);
	if (s && *s)
		parse_reference(c, r, s);
	if (!*r->s[0] && type && *type)
		r->s[0] = search__str(c, type);
	r->s[3] = search__str(c, isys);
	r->s[4] = search__str(c, ival);
}

/* canonical/uri/url: url without |version (plus a row with it), Type/id when it has one. */
static void add_canonical(search__index_ctx *c, const char *s)
{
	const char *bar = strchr(s, '|');
	size_t n = bar ? (size_t)(bar - s) : strlen(s);

	if (n == 0)
		return;
	search_row *r = search__row_add(c, SEARCH_ROW_REFERENCE);
	r->s[2] = arena_strndup(c->a, s, n);
	if (s[0] == '#') {
		r->s[2] = "";
		parse_reference(c, r, s);
		return;
	}
	if (is_absolute(s)) {
		const char *q = strpbrk(r->s[2], "?#");
		type_and_id(c, r, r->s[2], q ? q : r->s[2] + n);
	} else {
		r->s[2] = "";
		parse_reference(c, r, arena_strndup(c->a, s, n));
	}
	if (bar && bar[1]) {
		search_row copy = *r; /* r moves when the array grows */
		search_row *v = search__row_add(c, SEARCH_ROW_REFERENCE);
		*v = copy;
		v->s[2] = search__str(c, s);
	}
}

void search__index_reference(search__index_ctx *c, const fp_item *it)
{
	const json_t *j = fp_item_json(it);
	const char *t = fp_item_type(it);

	if (fp_item_kind(it) == FP_STRING) {
		const char *s = fp_item_string(it, c->scratch);
		if (s && *s)
			add_canonical(c, s);
		return;
	}
	if (fp_item_kind(it) != FP_NODE || j == NULL)
		return;
	if (json_is_string(j)) {
		add_canonical(c, json_string_value(j));
	} else if (!json_is_object(j)) {
		return;
	} else if (t && strcmp(t, "Reference") == 0) {
		add_reference(c, j);
	} else if (json_object_get(j, "resourceType")) {
		const char *rt = json_string_value(json_object_get(j, "resourceType"));
		const char *id = json_string_value(json_object_get(j, "id"));
		if (rt && id) {
			search_row *r = search__row_add(c, SEARCH_ROW_REFERENCE);
			r->s[0] = search__str(c, rt);
			r->s[1] = search__str(c, id);
		}
	}
}
