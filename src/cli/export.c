/*
 * export.c - `bron export`: write a store's resources as NDJSON files (one
 * or more per type, as $export does) into a directory, with a manifest, a
 * progress line and a summary. With --history every version and every
 * deletion goes out, so that `bron import --history` rebuilds the full
 * record elsewhere. Reads a consistent snapshot while servers keep writing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../bulk/bulk.h"
#include "../json/json.h"
#include "../search/search.h"
#include "../store/store.h"
#include "cli.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bron export [--data DIR | --store URL] --out DIR [--history]\n"
	           "                   [--type T,...] [--since INSTANT]\n"
	           "                   [--key-file FILE | --unencrypted]\n\n"
	           "Writes every resource of the store (a consistent snapshot, while servers\n"
	           "keep running) as NDJSON into DIR: <Type>-<n>.ndjson, and manifest.json\n"
	           "listing them. --history: every version and deletion (a deletion is a\n"
	           "transaction Bundle of one DELETE, in its type's file in write order), for\n"
	           "bron import --history. --type: only\n"
	           "these types; --since: only what changed after INSTANT. The store's key as\n"
	           "for bron serve (--key-file, BRON_KEY_FILE, BRON_KEY). The files are not\n"
	           "encrypted: they are for the recipient.\n");
}

typedef struct progress {
	int tty;
	int64_t start, last;
} progress;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_progress(void *ctx, const char *type, int64_t n)
{
	progress *p = ctx;
	int64_t now = mono_ms();
	if (now - p->last < 200)
		return;
	p->last = now;
	double s = (double)(now - p->start) / 1000.0;
	fprintf(stderr, "%sbron export: %lld resources, %.0f/s, now %-28s%s", p->tty ? "\r" : "",
	        (long long)n, s > 0 ? (double)n / s : 0.0, type, p->tty ? "" : "\n");
}

int cli_export(int argc, char **argv)
{
	store_options so = {.dir = "./data", .sync_full = 1};
	const char *out = NULL, *types = NULL, *since = NULL, *key_file = NULL;
	int history = 0, unencrypted = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--history")) {
			history = 1;
		} else if (!strcmp(a, "--unencrypted")) {
			unencrypted = 1;
		} else if (!strcmp(a, "--key-file") && v) {
			key_file = argv[++i];
		} else if (!strcmp(a, "--data") && v) {
			so.dir = argv[++i];
		} else if (!strcmp(a, "--store") && v) {
			so.url = argv[++i];
		} else if (!strcmp(a, "--out") && v) {
			out = argv[++i];
		} else if (!strcmp(a, "--type") && v) {
			types = argv[++i];
		} else if (!strcmp(a, "--since") && v) {
			since = argv[++i];
		} else {
			fprintf(stderr, "bron export: unexpected argument '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (!out) {
		fprintf(stderr, "bron export: --out DIR is required\n");
		return 2;
	}
	arena *a = arena_new(0);
	bulk_request rq = {.owner = "", .level = "system", .history = history};
	if (types) {
		const char **t = arena_alloc(a, (strlen(types) + 1) * sizeof *t);
		char *copy = arena_strdup(a, types);
		for (char *save = NULL, *p = strtok_r(copy, ",", &save); p;
		     p = strtok_r(NULL, ",", &save))
			t[rq.ntypes++] = p;
		rq.types = t;
	}
	if (since) {
		int64_t lo, hi;
		if (search_date_range(since, &lo, &hi)) {
			fprintf(stderr, "bron export: --since '%s' is not a date or instant\n",
			        since);
			arena_free(a);
			return 2;
		}
		rq.since = lo;
	}
	crypt_key owner;
	const crypt_key *key;
	int krc = cli_store_key("export", key_file, unencrypted, so.url ? NULL : so.dir, &owner,
	                        &key);
	if (krc) {
		arena_free(a);
		return krc;
	}
	so.key = key;
	char *err = NULL;
	store *st;
	int orc = store_open(&so, &st, &err);
	crypt_key_wipe(&owner);
	if (orc) {
		fprintf(stderr, "bron export: %s\n", err ? err : "cannot open the store");
		free(err);
		arena_free(a);
		return 1;
	}
	progress p = {.tty = isatty(2), .start = mono_ms()};
	bulk_status bs;
	int rc = bulk_export_dir(st, &rq, out, on_progress, &p, &bs, a, &err);
	store_close(st);
	if (p.tty)
		fprintf(stderr, "\r%-80s\r", "");
	if (rc) {
		fprintf(stderr, "bron export: %s\n", err ? err : "failed");
		free(err);
		arena_free(a);
		return 1;
	}
	/* the manifest, as $export's, with file names relative to DIR */
	buf m;
	buf_init(&m, 0);
	char tt[40];
	base_format_instant(bs.transaction_time, tt, sizeof tt);
	buf_printf(&m,
	           "{\"transactionTime\":\"%s\",\"request\":\"bron export%s\",\"history\":%s,"
	           "\"output\":[",
	           tt, history ? " --history" : "", history ? "true" : "false");
	int64_t total = 0;
	for (size_t i = 0; i < bs.nfiles; i++) {
		buf_printf(&m, "%s{\"type\":", i ? "," : "");
		json_put_string(&m, bs.files[i].type);
		buf_puts(&m, ",\"url\":");
		json_put_string(&m, bs.files[i].name);
		buf_printf(&m, ",\"count\":%lld}", (long long)bs.files[i].count);
		total += bs.files[i].count;
	}
	buf_puts(&m, "]}\n");
	char path[4096];
	snprintf(path, sizeof path, "%s/manifest.json", out);
	FILE *f = fopen(path, "w");
	int ok = f && fwrite(m.data, 1, m.len, f) == m.len;
	if (f)
		ok = !fclose(f) && ok;
	buf_free(&m);
	double secs = (double)(mono_ms() - p.start) / 1000.0;
	if (!ok) {
		fprintf(stderr, "bron export: cannot write %s\n", path);
		arena_free(a);
		return 1;
	}
	fprintf(stderr,
	        "bron export: %lld %s in %zu files in %.1f s (%.0f/s) into %s; snapshot as of %s\n",
	        (long long)total, history ? "versions and deletions" : "resources", bs.nfiles, secs,
	        secs > 0 ? (double)total / secs : 0.0, out, tt);
	arena_free(a);
	return 0;
}
