/*
 * reindex.c - `bron reindex`: rebuilds every search index row from the stored
 * bodies (after the search-parameter definitions changed, or to repair). It
 * runs online: the rows of each resource are replaced through the store's
 * writer as STORE_OP_REINDEX ops that check the version they were computed
 * from, so a resource written meanwhile keeps the rows of its new version.
 * Extraction of the next batch overlaps the writer's commit of the last.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../json/json.h"
#include "../search/search.h"
#include "../store/store.h"
#include "cli.h"

#define BATCH 512

typedef struct batch {
	arena *a;
	store_op *ops;
	search_rows *rows;
	size_t n;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t pending;
	size_t conflicts, failed;
} batch;

static void op_done(void *ctx)
{
	batch *b = ctx;
	pthread_mutex_lock(&b->mu);
	b->pending--;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

/* Wait until every op of b is committed; count what did not apply. */
static void wait_batch(batch *b, int64_t *done, int64_t *skipped, int64_t *failed)
{
	pthread_mutex_lock(&b->mu);
	while (b->pending)
		pthread_cond_wait(&b->cv, &b->mu);
	pthread_mutex_unlock(&b->mu);
	for (size_t i = 0; i < b->n; i++) {
		if (b->ops[i].status == STORE_OK)
			(*done)++;
		else if (b->ops[i].status == STORE_CONFLICT)
			(*skipped)++; /* written meanwhile: its new version has fresh rows */
		else
			(*failed)++;
	}
	b->n = 0;
	arena_reset(b->a);
}

static void progress(int tty, int64_t done, int64_t total, int64_t t0, int final)
{
	double secs = (double)(base_now_us() - t0) / 1e6;
	double rate = secs > 0 ? (double)done / secs : 0;
	double eta = rate > 0 && total > done ? (double)(total - done) / rate : 0;
	if (tty && !final) {
		int width = 30, fill = total ? (int)(width * (double)done / (double)total) : width;
		if (fill > width)
			fill = width;
		fprintf(stderr, "\r[%.*s%*s] %lld/%lld resources, %.0f/s, ETA %.0fs ", fill,
		        "##############################", width - fill, "", (long long)done,
		        (long long)total, rate, eta);
	} else {
		fprintf(stderr, "%sreindexed %lld of %lld resources in %.1fs (%.0f/s)\n",
		        tty ? "\r" : "", (long long)done, (long long)total, secs, rate);
	}
	fflush(stderr);
}

int cli_reindex(int argc, char **argv)
{
	const char *dir = "./data", *base = NULL, *url = NULL, *key_file = NULL;
	int unencrypted = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--data") && i + 1 < argc) {
			dir = argv[++i];
		} else if (!strcmp(argv[i], "--key-file") && i + 1 < argc) {
			key_file = argv[++i];
		} else if (!strcmp(argv[i], "--unencrypted")) {
			unencrypted = 1;
		} else if (!strcmp(argv[i], "--store") && i + 1 < argc) {
			url = argv[++i];
		} else if (!strcmp(argv[i], "--base-url") && i + 1 < argc) {
			base = argv[++i];
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: bron reindex [--data DIR | --store URL] [--base-url URL]\n"
			       "                    [--key-file FILE | --unencrypted]\n\n"
			       "Rebuilds the search index rows of every stored resource; safe "
			       "while\n"
			       "bron serve runs on the same store. --store: a PostgreSQL database\n"
			       "(postgresql://...). --base-url: the "
			       "server's\n"
			       "base (as for bron serve), so absolute references to it count as "
			       "local.\n"
			       "--key-file: the store's owner key (or BRON_KEY_FILE / BRON_KEY in "
			       "the\n"
			       "environment); --unencrypted: the store is not encrypted.\n");
			return 0;
		} else {
			fprintf(stderr, "bron reindex: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (search_init()) {
		fprintf(stderr, "bron reindex: cannot compile the search parameters\n");
		return 1;
	}
	crypt_key owner;
	const crypt_key *key;
	int krc = cli_store_key("reindex", key_file, unencrypted, url ? NULL : dir, &owner, &key);
	if (krc)
		return krc;
	/* a large page cache: a reindex touches every index b-tree at random */
	store_options so = {.url = url,
	                    .dir = dir,
	                    .sync_full = 1,
	                    .max_group = 1024,
	                    .cache_kb = 64 * 1024,
	                    .key = key};
	store *st;
	char *err;
	int orc = store_open(&so, &st, &err);
	crypt_key_wipe(&owner);
	if (orc) {
		fprintf(stderr, "bron reindex: %s\n", err);
		free(err);
		return 1;
	}
	int64_t total = 0, done = 0, skipped = 0, failed = 0, t0 = base_now_us(), last = t0;
	store_count(st, NULL, &total);
	int tty = isatty(2);
	batch b[2];
	for (int k = 0; k < 2; k++) {
		memset(&b[k], 0, sizeof b[k]);
		b[k].a = arena_new(1 << 20);
		pthread_mutex_init(&b[k].mu, NULL);
		pthread_cond_init(&b[k].cv, NULL);
	}
	int64_t after = 0;
	for (int cur = 0;; cur ^= 1) {
		batch *bt = &b[cur];
		wait_batch(bt, &done, &skipped, &failed); /* the batch before last */
		store_version *items;
		size_t n;
		if (store_scan(st, bt->a, after, BATCH, &items, &n)) {
			fprintf(stderr, "bron reindex: reading the store failed\n");
			failed++;
			break;
		}
		if (!n)
			break;
		after = items[n - 1].rid;
		bt->ops = arena_calloc(bt->a, n * sizeof *bt->ops);
		bt->rows = arena_calloc(bt->a, n * sizeof *bt->rows);
		diag_list d;
		diag_init(&d, bt->a);
		for (size_t i = 0; i < n; i++) {
			json_t *res;
			if (json_parse(items[i].body, items[i].body_len, &res, &d)) {
				failed++;
				continue;
			}
			search_index_base(res, items[i].type, items[i].id, base, bt->a,
			                  &bt->rows[bt->n], &d);
			json_decref(res);
			bt->ops[bt->n] = (store_op){.kind = STORE_OP_REINDEX,
			                            .type = items[i].type,
			                            .id = items[i].id,
			                            .if_match = items[i].version,
			                            .index = &bt->rows[bt->n]};
			bt->n++;
		}
		bt->pending = bt->n;
		for (size_t i = 0; i < bt->n; i++)
			if (store_write_async(st, &bt->ops[i], 1, op_done, bt)) {
				bt->ops[i].status = STORE_ERROR;
				op_done(bt);
			}
		int64_t now = base_now_us();
		if (now - last > (tty ? 200000 : 5000000)) {
			progress(tty, done, total, t0, 0);
			last = now;
		}
	}
	for (int k = 0; k < 2; k++) {
		wait_batch(&b[k], &done, &skipped, &failed);
		arena_free(b[k].a);
		pthread_mutex_destroy(&b[k].mu);
		pthread_cond_destroy(&b[k].cv);
	}
	progress(tty, done, total, t0, 1);
	if (skipped)
		fprintf(stderr, "%lld resources changed during the run and kept their new rows\n",
		        (long long)skipped);
	if (failed)
		fprintf(stderr, "%lld resources could not be reindexed\n", (long long)failed);
	store_close(st);
	return failed ? 1 : 0;
}
