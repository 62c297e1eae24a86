/*
 * fuzz_json.c - libFuzzer target for the JSON-to-resource path of a write
 * (src/rest/write.c): json_parse, then for a resource model_validate, the
 * search index rows of the resource and of its contained resources
 * (search_index_base), and the canonical stored bytes (json_canonical, as
 * build_canonical and prebuild_canonical make them), which must parse back
 * to the same value; then the reply writers (json_pretty, json_minify,
 * json_filter_members as _elements uses it). Any crash, sanitizer report,
 * leak or broken invariant (abort) is a bug. Built and run by
 * tests/fuzz/run.sh (`make fuzz`); replayed by tests/suites/fuzz-replay.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "model/model.h"
#include "search/search.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (search_init())
		abort();
	return 0;
}

static void broken(const char *what, const uint8_t *data, size_t size)
{
	fprintf(stderr, "fuzz_json: %s for input of %zu bytes: %.*s\n", what, size,
	        (int)(size > 300 ? 300 : size), (const char *)data);
	abort();
}

/* The canonical bytes must be JSON whose value equals the input's, apart
 * from id and meta.versionId/lastUpdated, which the writer sets. */
static void check_canonical(const json_t *in, const buf *out, const json_meta *m,
                            const uint8_t *data, size_t size)
{
	json_t *back = json_loadb(out->data, out->len, JSON_DECODE_ANY, NULL);
	if (!back)
		broken("canonical form does not parse", data, size);
	json_t *want = json_deep_copy(in);
	json_object_set_new(want, "id", json_string(m->id));
	json_t *meta = json_object_get(want, "meta");
	if (!json_is_object(meta)) {
		meta = json_object();
		json_object_set_new(want, "meta", meta);
	}
	json_object_set_new(meta, "versionId", json_string(m->version_id));
	json_object_set_new(meta, "lastUpdated", json_string(m->last_updated));
	if (!json_equal(want, back))
		broken("canonical form changed the resource", data, size);
	json_decref(want);
	json_decref(back);
}

static int keep_some(void *ctx, const char *key, size_t key_len)
{
	(void)ctx;
	return key_len > 0 && (key[0] == 'i' || key[0] == 'n' || key[0] == 'r');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *src = (const char *)data;
	arena *a = arena_new(0);
	diag_list d;
	diag_init(&d, a);
	json_t *res = NULL;
	if (json_parse(src, size, &res, &d)) {
		arena_free(a);
		return 0;
	}
	buf b;
	buf_init(&b, 0);
	json_minify(src, size, &b);
	buf_free(&b);
	buf_init(&b, 0);
	json_pretty(src, size, &b);
	buf_free(&b);
	const json_t *rt = json_object_get(res, "resourceType");
	if (!json_is_object(res) || !json_is_string(rt) || !model_type_get(json_string_value(rt)) ||
	    !model_type_is_concrete_resource(model_type_get(json_string_value(rt)))) {
		json_decref(res);
		arena_free(a);
		return 0;
	}
	const char *type = json_string_value(rt);
	if (model_validate(res, &d) == 0) {
		/* what write.c's index_rows does */
		search_rows rows;
		memset(&rows, 0, sizeof rows);
		search_index_base(res, type, "f1", "http://localhost:8080/fhir", a, &rows, &d);
		const json_t *contained = json_object_get(res, "contained");
		for (size_t i = 0; i < json_array_size(contained); i++) {
			const json_t *c = json_array_get(contained, i);
			const char *ct = json_string_value(json_object_get(c, "resourceType"));
			const char *cid = json_string_value(json_object_get(c, "id"));
			if (!ct || !cid)
				continue;
			search_rows crows;
			memset(&crows, 0, sizeof crows);
			search_index_base(c, ct, NULL, "http://localhost:8080/fhir", a, &crows, &d);
		}
		/* what build_canonical and prebuild_canonical do */
		json_meta m = {"f1", "1", "2026-01-02T03:04:05.678Z"};
		buf_init(&b, 0);
		if (json_canonical(src, size, &m, &b) == 0)
			check_canonical(res, &b, &m, data, size);
		else
			broken("json_canonical failed on a parsed object", data, size);
		buf_free(&b);
		json_meta pre = {"f1", "", "0000-00-00T00:00:00.000Z"};
		buf_init(&b, 0);
		if (json_canonical(src, size, &pre, &b) == 0) {
			buf f;
			buf_init(&f, 0);
			json_filter_members(b.data, b.len, keep_some, NULL, &f);
			buf_free(&f);
		}
		buf_free(&b);
	}
	json_decref(res);
	arena_free(a);
	return 0;
}
