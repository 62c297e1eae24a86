/*
 * fhirpath_bench.c - the FHIRPath half of bench/fhirpath.sh: loads FHIR
 * Bundles (JSON files), compiles every R4 search-parameter expression once,
 * then evaluates each expression that applies to each entry's resource type
 * on that resource, the way the search indexer will on every write. Prints
 * resources, evaluations, result items, errors and resources per second of
 * evaluation time (JSON parsing excluded), on one thread.
 *
 *   fhirpath_bench [--rounds N] bundle.json...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fhirpath/fhirpath.h"
#include "model/model.h"

typedef struct sp_entry {
	const model_search_param *sp;
	fp_expr *e;
} sp_entry;

static sp_entry *table;
static size_t table_size;

static size_t slot(const void *p)
{
	uintptr_t h = (uintptr_t)p;
	h ^= h >> 17;
	h *= 0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 20) & (table_size - 1);
}

static fp_expr *lookup(const model_search_param *sp)
{
	for (size_t i = slot(sp);; i = (i + 1) & (table_size - 1)) {
		if (table[i].sp == sp)
			return table[i].e;
		if (!table[i].sp)
			return NULL;
	}
}

static void compile_all(void)
{
	size_t n = model_search_param_count();
	table_size = 1;
	while (table_size < n * 2)
		table_size <<= 1;
	table = calloc(table_size, sizeof *table);
	arena *a = arena_new(0);
	diag_list d;
	diag_init(&d, a);
	for (size_t k = 0; k < n; k++) {
		const model_search_param *sp = model_search_param_at(k);
		fp_expr *e = NULL;
		if (!sp->expression || !sp->expression[0] || fp_compile(sp->expression, &e, &d))
			continue;
		size_t i = slot(sp);
		while (table[i].sp)
			i = (i + 1) & (table_size - 1);
		table[i].sp = sp;
		table[i].e = e;
	}
	arena_free(a);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int rounds = 1, first = 1;
	if (argc > 2 && !strcmp(argv[1], "--rounds")) {
		rounds = atoi(argv[2]);
		first = 3;
	}
	if (first >= argc) {
		fprintf(stderr, "usage: fhirpath_bench [--rounds N] bundle.json...\n");
		return 2;
	}
	compile_all();
	size_t nres = 0;
	json_t **res = NULL;
	json_t **bundles = calloc((size_t)argc, sizeof *bundles);
	for (int i = first; i < argc; i++) {
		json_error_t err;
		bundles[i] = json_load_file(argv[i], 0, &err);
		if (!bundles[i]) {
			fprintf(stderr, "%s: %s\n", argv[i], err.text);
			return 1;
		}
		json_t *entries = json_object_get(bundles[i], "entry");
		res = base_realloc(res, (nres + json_array_size(entries)) * sizeof *res);
		for (size_t k = 0; k < json_array_size(entries); k++) {
			json_t *r = json_object_get(json_array_get(entries, k), "resource");
			if (json_is_object(r))
				res[nres++] = r;
		}
	}
	/* one arena reused for every resource, as the indexer will keep one per thread */
	arena *a = arena_new(1 << 20);
	size_t evals = 0, items = 0, errors = 0;
	double t0 = now_s();
	for (int round = 0; round < rounds; round++) {
		for (size_t i = 0; i < nres; i++) {
			const char *type =
			        json_string_value(json_object_get(res[i], "resourceType"));
			const model_search_param *const *sps;
			size_t n = type ? model_search_params_for(type, &sps) : 0;
			for (size_t k = 0; k < n; k++) {
				fp_expr *e = lookup(sps[k]);
				if (!e)
					continue;
				diag_list d;
				diag_init(&d, a);
				fp_collection out;
				if (fp_eval(e, res[i], NULL, a, &out, &d)) {
					errors++;
					if (getenv("BENCH_VERBOSE") && d.count)
						fprintf(stderr, "%s %s: %s\n", type, sps[k]->id,
						        d.items[0].message);
				}
				items += out.count;
				evals++;
			}
			arena_reset(a);
		}
	}
	double secs = now_s() - t0;
	printf("bron: %zu resources x %d rounds, %zu evaluations, %zu items, %zu errors, %.3f s, "
	       "%.0f resources/s\n",
	       nres, rounds, evals, items, errors, secs, (double)nres * rounds / secs);
	arena_free(a);
	for (size_t i = 0; i < table_size; i++)
		fp_free(table[i].e);
	free(table);
	for (int i = first; i < argc; i++)
		json_decref(bundles[i]);
	free(bundles);
	free(res);
	return 0;
}
