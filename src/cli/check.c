/*
 * check.c - `bron check`: verify that a store is consistent, on a stopped
 * store or beside a running server (one read snapshot, store_pin). The
 * store checks itself (store_check: the engine's integrity, versions and
 * current rows, index and compartment rows against the bodies, contained
 * resources); this file gives it the rows each body should have, derived
 * as the write path and `bron reindex` derive them (search_index_base, and
 * the contained resources as rest/write.c indexes them), and then walks the
 * audit chain as `bron audit verify` does (audit_verify). Every problem is
 * printed on a line of its own; exit 0 when there are none, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../audit/audit.h"
#include "../json/json.h"
#include "../model/model.h"
#include "../search/search.h"
#include "../store/store.h"
#include "cli.h"

typedef struct derive_ctx {
	const char *base; /* --base-url, as for bron serve and bron reindex */
} derive_ctx;

/* store_check_fn: parse v's body, check that it is the resource and version
 * it is stored as, and index it. */
static int derive(void *ctx, arena *a, const store_version *v, search_rows *rows,
                  store_contained **contained, size_t *ncontained, const char **problem)
{
	derive_ctx *dc = ctx;
	diag_list d;
	diag_init(&d, a);
	json_t *res = NULL;
	*contained = NULL;
	*ncontained = 0;
	memset(rows, 0, sizeof *rows);
	if (!v->body || json_parse(v->body, v->body_len, &res, &d)) {
		*problem = v->body ? "the body is not JSON" : "no body";
		return -1;
	}
	const char *rt = json_string_value(json_object_get(res, "resourceType"));
	const char *id = json_string_value(json_object_get(res, "id"));
	const char *vid =
	        json_string_value(json_object_get(json_object_get(res, "meta"), "versionId"));
	char want[24];
	snprintf(want, sizeof want, "%lld", (long long)v->version);
	int rc = -1;
	if (!rt || strcmp(rt, v->type))
		*problem = arena_printf(a, "its resourceType is '%s'", rt ? rt : "");
	else if (!id || strcmp(id, v->id))
		*problem = arena_printf(a, "its id is '%s'", id ? id : "");
	else if (!vid || strcmp(vid, want))
		*problem = arena_printf(a, "its meta.versionId is '%s'", vid ? vid : "");
	else if (model_validate(res, &d))
		*problem = "it does not validate as its resource type";
	else
		rc = 0;
	if (rc) {
		json_decref(res);
		return rc;
	}
	search_index_base(res, v->type, v->id, dc->base, a, rows, &d);
	/* contained resources get index rows of their own (rest/write.c) */
	const json_t *cont = json_object_get(res, "contained");
	size_t n = json_array_size(cont), k = 0;
	store_contained *sc = n ? arena_calloc(a, n * sizeof *sc) : NULL;
	for (size_t i = 0; i < n; i++) {
		const json_t *c = json_array_get(cont, i);
		const char *type = json_string_value(json_object_get(c, "resourceType"));
		const char *cid = json_string_value(json_object_get(c, "id"));
		if (!type || !cid)
			continue;
		search_rows *cr = arena_calloc(a, sizeof *cr);
		if (search_index_base(c, type, NULL, dc->base, a, cr, &d))
			continue;
		cr->npatients = 0; /* a contained resource is no compartment member of its own */
		sc[k++] = (store_contained){
		        .type = arena_strdup(a, type), .cid = arena_strdup(a, cid), .index = cr};
	}
	*contained = sc;
	*ncontained = k;
	json_decref(res);
	return 0;
}

static void print_problem(void *ctx, const char *line)
{
	int64_t *n = ctx;
	(*n)++;
	printf("problem: %s\n", line);
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: bron check [--data DIR | --store URL] [--key-file FILE | --unencrypted]\n"
	        "                  [--base-url URL]\n\n"
	        "Verifies that a store is consistent, stopped or while bron serve runs on it\n"
	        "(one read snapshot): the engine's own integrity (SQLite: integrity_check);\n"
	        "every resource's versions numbered 1..n, the current one the newest; every\n"
	        "current body the resource it is stored as; its search index rows exactly\n"
	        "those bron reindex would compute from it (none missing, extra or different,\n"
	        "none for deleted resources); its contained resources; and the audit trail's\n"
	        "hash chain (as bron audit verify). Prints each problem on a line of its own\n"
	        "and exits 1, or prints one summary line and exits 0.\n"
	        "--store: a PostgreSQL database (postgresql://...). --key-file: the store's\n"
	        "owner key (or BRON_KEY_FILE / BRON_KEY); --unencrypted: the store is not\n"
	        "encrypted. --base-url: the server's base, as given to bron serve.\n");
}

int cli_check(int argc, char **argv)
{
	const char *dir = "./data", *url = NULL, *key_file = NULL;
	derive_ctx dc = {NULL};
	int unencrypted = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--data") && i + 1 < argc) {
			dir = argv[++i];
		} else if (!strcmp(argv[i], "--store") && i + 1 < argc) {
			url = argv[++i];
		} else if (!strcmp(argv[i], "--key-file") && i + 1 < argc) {
			key_file = argv[++i];
		} else if (!strcmp(argv[i], "--unencrypted")) {
			unencrypted = 1;
		} else if (!strcmp(argv[i], "--base-url") && i + 1 < argc) {
			dc.base = argv[++i];
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "bron check: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (search_init()) {
		fprintf(stderr, "bron check: cannot compile the search parameters\n");
		return 1;
	}
	crypt_key owner;
	const crypt_key *key;
	int krc = cli_store_key("check", key_file, unencrypted, url ? NULL : dir, &owner, &key);
	if (krc)
		return krc;
	store_options so = {.url = url, .dir = dir, .sync_full = 1, .pool = 2, .key = key};
	store *st;
	char *err = NULL;
	int orc = store_open(&so, &st, &err);
	crypt_key_wipe(&owner);
	if (orc) {
		fprintf(stderr, "bron check: %s\n", err ? err : "cannot open the store");
		free(err);
		return 1;
	}
	int64_t problems = 0;
	store_check_report rep;
	audit_verify_report arep;
	memset(&arep, 0, sizeof arep);
	int rc = store_pin(st, 1);
	if (!rc)
		rc = store_check(st, derive, &dc, print_problem, &problems, &rep);
	int av = rc ? -1 : audit_verify(st, NULL, NULL, &arep);
	if (av > 0) {
		printf("problem: audit trail: record %lld: %s\n", (long long)arep.bad_seq,
		       arep.problem);
		problems++;
	}
	store_pin(st, 0);
	free(arep.last_checkpoint);
	store_close(st);
	if (rc || av < 0) {
		fprintf(stderr, "bron check: the store could not be read to the end\n");
		return 1;
	}
	if (problems) {
		printf("inconsistent: %lld problem%s (%lld resources, %lld versions, %lld index "
		       "rows, audit chain of %lld records)\n",
		       (long long)problems, problems == 1 ? "" : "s", (long long)rep.resources,
		       (long long)rep.versions, (long long)rep.index_rows, (long long)arep.records);
		return 1;
	}
	printf("consistent: %lld resources, %lld versions, %lld index rows, audit chain of %lld "
	       "records\n",
	       (long long)rep.resources, (long long)rep.versions, (long long)rep.index_rows,
	       (long long)arep.records);
	return 0;
}
