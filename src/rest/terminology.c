/*
 * terminology.c - the token modifiers that need terminology (search.html
 * #token): :in and :not-in expand a ValueSet stored in Bron (its expansion,
 * or its compose.include: listed concepts, whole stored CodeSystems, nested
 * value sets), :below and :above walk a stored CodeSystem's concept tree.
 * The result is an ordinary token parameter the search parser understands.
 */
#include <string.h>

#include "../json/json.h"
#include "../model/model.h"
#include "rest_int.h"

/* The current resource of `type` whose `url` is `url` (version suffix
 * dropped), parsed; NULL when none is stored. */
static json_t *find_canonical(rctx *c, const char *type, const char *url)
{
	const char *bar = strchr(url, '|');
	const char *u = bar ? arena_strndup(c->a, url, (size_t)(bar - url)) : url;
	const char *keys[] = {"url"}, *vals[] = {u};
	diag_list d;
	diag_init(&d, c->a);
	search_query *q;
	search_sql sql;
	store_version *hits;
	size_t n;
	int more;
	json_t *out = NULL;
	if (search_parse(c->a, type, keys, vals, 1, 1, &q, &d) ||
	    search_compile(q, store_dialect(c->r->cfg.store), 0, c->a, &sql, &d) ||
	    store_search(c->r->cfg.store, c->a, &sql, 1, 0, &hits, &n, &more) || !n)
		return NULL;
	json_parse(hits[0].body, hits[0].body_len, &out, &d);
	return out;
}

static void add_code(buf *b, const char *system, const char *code)
{
	if (!code)
		return;
	if (b->len)
		buf_putc(b, ',');
	for (const char *p = system ? system : ""; *p; p++) { /* escape per search.html#escaping */
		if (*p == ',' || *p == '|' || *p == '$' || *p == '\\')
			buf_putc(b, '\\');
		buf_putc(b, *p);
	}
	buf_putc(b, '|');
	for (const char *p = code; *p; p++) {
		if (*p == ',' || *p == '|' || *p == '$' || *p == '\\')
			buf_putc(b, '\\');
		buf_putc(b, *p);
	}
}

/* Every code of a CodeSystem's concept tree (or the subtree below `from`,
 * or the chain above it), depth-bounded. Returns 1 when `from` was found. */
static int walk_concepts(const json_t *concepts, const char *system, const char *from, int above,
                         int inside, buf *b, int depth)
{
	size_t i;
	json_t *con;
	int found = 0;
	if (depth > 64)
		return 0;
	json_array_foreach(concepts, i, con)
	{
		const char *code = json_string_value(json_object_get(con, "code"));
		int here = from && code && !strcmp(code, from);
		if (above) {
			if (here || walk_concepts(json_object_get(con, "concept"), system, from, 1,
			                          0, b, depth + 1)) {
				add_code(b, system, code);
				return 1;
			}
			continue;
		}
		if (inside || here || !from)
			add_code(b, system, code);
		found |= here;
		found |= walk_concepts(json_object_get(con, "concept"), system, from, 0,
		                       inside || here || !from, b, depth + 1);
	}
	return found;
}

/* The codes of a stored ValueSet: its expansion, else its compose.include
 * (listed concepts, or every concept of a stored CodeSystem). */
static void valueset_codes(rctx *c, const json_t *vs, buf *b, int depth)
{
	size_t i, k;
	json_t *x, *y;
	const json_t *contains = json_object_get(json_object_get(vs, "expansion"), "contains");
	json_array_foreach(contains, i, x)
	{
		add_code(b, json_string_value(json_object_get(x, "system")),
		         json_string_value(json_object_get(x, "code")));
		json_array_foreach(json_object_get(x, "contains"), k, y)
		        add_code(b, json_string_value(json_object_get(y, "system")),
		                 json_string_value(json_object_get(y, "code")));
	}
	if (json_array_size(contains))
		return;
	json_array_foreach(json_object_get(json_object_get(vs, "compose"), "include"), i, x)
	{
		const char *system = json_string_value(json_object_get(x, "system"));
		const json_t *concepts = json_object_get(x, "concept");
		if (json_array_size(concepts)) {
			json_array_foreach(concepts, k, y)
			        add_code(b, system, json_string_value(json_object_get(y, "code")));
		} else if (system) {
			json_t *cs = find_canonical(c, "CodeSystem", system);
			if (cs)
				walk_concepts(json_object_get(cs, "concept"), system, NULL, 0, 1, b,
				              0);
			json_decref(cs);
		}
		json_array_foreach(json_object_get(x, "valueSet"), k, y)
		{
			json_t *inner =
			        depth < 8 ? find_canonical(c, "ValueSet", json_string_value(y))
			                  : NULL;
			if (inner)
				valueset_codes(c, inner, b, depth + 1);
			json_decref(inner);
		}
	}
}

/* Rewrite a token parameter with a terminology modifier into plain token
 * values (p->keys/vals get the rewritten pair). 0, or -1 after replying. */
int rest__expand_terminology_or_reply(rctx *c, const char **key, const char **val)
{
	const char *colon = strrchr(*key, ':');
	if (!colon || !c->type)
		return 0;
	const char *mod = colon + 1;
	int in = !strcmp(mod, "in"), not_in = !strcmp(mod, "not-in");
	int below = !strcmp(mod, "below"), above = !strcmp(mod, "above");
	if (!in && !not_in && !below && !above)
		return 0;
	char *code = arena_strndup(c->a, *key, (size_t)(colon - *key));
	const model_search_param *sp = model_search_param_find(c->type, code);
	if (!sp || sp->type != MODEL_SP_TOKEN)
		return 0; /* uri :below/:above and unknown ones: the parser's business */
	buf b;
	buf_init(&b, 0);
	if (in || not_in) {
		json_t *vs = find_canonical(c, "ValueSet", *val);
		if (!vs) {
			buf_free(&b);
			rest_reply_error(c, 400, "not-found",
			                 "No ValueSet with url '%s' is stored here", *val);
			return -1;
		}
		valueset_codes(c, vs, &b, 0);
		json_decref(vs);
	} else {
		const char *bar = strchr(*val, '|');
		if (!bar) {
			buf_free(&b);
			rest_reply_error(c, 400, "invalid", "%s:%s needs system|code", code, mod);
			return -1;
		}
		char *system = arena_strndup(c->a, *val, (size_t)(bar - *val));
		json_t *cs = find_canonical(c, "CodeSystem", system);
		if (!cs || !walk_concepts(json_object_get(cs, "concept"), system, bar + 1, above, 0,
		                          &b, 0)) {
			json_decref(cs);
			buf_free(&b);
			rest_reply_error(c, 400, "not-found",
			                 "No stored CodeSystem '%s' holds code '%s'", system,
			                 bar + 1);
			return -1;
		}
		json_decref(cs);
	}
	/* an empty value set matches nothing (:in) or everything (:not-in) */
	*key = not_in ? arena_printf(c->a, "%s:not", code) : code;
	*val = b.len ? arena_memdup(c->a, b.data, b.len) : "urn:bron:empty|-";
	buf_free(&b);
	return 0;
}
