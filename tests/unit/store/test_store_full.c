/*
 * test_store_full.c - unit tests of the store when its space runs out
 * (issue 10): the status mapping of both engines (PostgreSQL SQLSTATEs in
 * store__pg_status; SQLite through a real store), and on SQLite, with a
 * file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored as bron serve does) as the
 * failing space: a write that does not fit is STORE_FULL through the
 * encrypting VFS and through the unix VFS alike, nothing of it is stored,
 * reads go on, a group with a write that does not fit still stores the ones
 * that do, and once the limit is lifted writes succeed on the same store;
 * after a reopen every acknowledged write is there. Also the rate limit of
 * the store's failure log.
 */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store_int.h"

static crypt_key test_key = {{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6,
                              7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2}};

/* ---- the status mapping ---- */

static void test_pg_status(void **state)
{
	/* no space: 53100 disk_full, also when the connection is up */
	assert_int_equal(store__pg_status(1, "53100"), STORE_FULL);
	/* the rest of class 53 (out of memory, too many connections) and I/O
	 * errors of the server (58030) pass: 503 */
	assert_int_equal(store__pg_status(1, "53200"), STORE_UNAVAILABLE);
	assert_int_equal(store__pg_status(1, "53300"), STORE_UNAVAILABLE);
	assert_int_equal(store__pg_status(1, "58030"), STORE_UNAVAILABLE);
	/* a lost connection, a server shutting down, a timeout */
	assert_int_equal(store__pg_status(0, NULL), STORE_UNAVAILABLE);
	assert_int_equal(store__pg_status(0, "XX000"), STORE_UNAVAILABLE);
	assert_int_equal(store__pg_status(1, "08006"), STORE_UNAVAILABLE);
	assert_int_equal(store__pg_status(1, "57P01"), STORE_UNAVAILABLE);
	assert_int_equal(store__pg_status(1, "57014"), STORE_UNAVAILABLE);
	assert_int_equal(store__pg_status(1, "55P03"), STORE_UNAVAILABLE);
	/* lost races run again */
	assert_int_equal(store__pg_status(1, "40001"), STORE__RETRY);
	assert_int_equal(store__pg_status(1, "40P01"), STORE__RETRY);
	assert_int_equal(store__pg_status(1, "23505"), STORE__RETRY);
	/* corruption, a bug: not cured by trying again (500) */
	assert_int_equal(store__pg_status(1, "XX001"), STORE_ERROR);
	assert_int_equal(store__pg_status(1, "XX000"), STORE_ERROR);
	assert_int_equal(store__pg_status(1, "42601"), STORE_ERROR);
	assert_int_equal(store__pg_status(1, NULL), STORE_ERROR);
}

static void test_log_rate_limit(void **state)
{
	/* the first of a kind is written, the next ones within the interval
	 * are counted only; another kind has its own limit */
	assert_int_equal(store__log(STORE__LOG_AUDIT, STORE_FULL, "unit test line %d", 1), 1);
	assert_int_equal(store__log(STORE__LOG_AUDIT, STORE_FULL, "unit test line %d", 2), 0);
	assert_int_equal(store__log(STORE__LOG_AUDIT, STORE_FULL, "unit test line %d", 3), 0);
	assert_int_equal(store__log(STORE__LOG_AUDIT, STORE_UNAVAILABLE, "unit test line %d", 4),
	                 1);
	assert_int_equal(store__log(STORE__LOG_WRITES, STORE_FULL, "unit test line %d", 5), 1);
	/* out-of-range kinds are folded, not out of bounds */
	store__log(99, 99, "unit test line %d", 6);
}

/* ---- SQLite with a file-size limit ---- */

#define BODY_MAX (1 << 20)

typedef struct body_ctx {
	size_t size; /* bytes of filler in the body */
	char *body;
} body_ctx;

static int build_big(store_op *op, void *ctx)
{
	body_ctx *b = ctx;
	free(b->body);
	b->body = malloc(b->size + 128);
	int n = snprintf(b->body, 128, "{\"resourceType\":\"%s\",\"id\":\"%s\",\"x\":\"", op->type,
	                 op->id);
	for (size_t i = 0; i < b->size; i++)
		b->body[n + i] = (char)('a' + (i * 7 + strlen(op->id)) % 26);
	memcpy(b->body + n + b->size, "\"}", 3);
	op->body = b->body;
	op->body_len = (size_t)n + b->size + 2;
	return 0;
}

typedef struct fixture {
	char dir[64];
	const crypt_key *key;
	store *s;
} fixture;

static void open_store(fixture *f)
{
	store_options o = {.dir = f->dir, .sync_full = 1, .key = f->key};
	char *err = NULL;
	if (store_open(&o, &f->s, &err) != STORE_OK)
		fail_msg("store_open(%s): %s", f->dir, err ? err : "?");
}

static int setup_on(void **state, const crypt_key *key)
{
	fixture *f = calloc(1, sizeof *f);
	f->key = key;
	snprintf(f->dir, sizeof f->dir, "/tmp/bron-store-full-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	open_store(f);
	*state = f;
	return 0;
}

static int setup_plain(void **state)
{
	return setup_on(state, NULL);
}

static int setup_key(void **state)
{
	return setup_on(state, &test_key);
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char p[512];
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static struct rlimit saved_limit;

static void lift_limit(void)
{
	setrlimit(RLIMIT_FSIZE, &saved_limit);
}

static int teardown(void **state)
{
	fixture *f = *state;
	lift_limit();
	store_close(f->s);
	remove_dir(f->dir);
	free(f);
	return 0;
}

/* The largest file of the store's directory. */
static off_t largest(const char *dir)
{
	off_t max = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		char p[512];
		struct stat st;
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		if (!stat(p, &st) && S_ISREG(st.st_mode) && st.st_size > max)
			max = st.st_size;
	}
	if (d)
		closedir(d);
	return max;
}

/* Files may grow to `room` bytes beyond the largest now. */
static void limit_files(const char *dir, off_t room)
{
	struct rlimit l = saved_limit;
	l.rlim_cur = (rlim_t)(largest(dir) + room);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &l), 0);
}

static int put(store *s, const char *id, size_t size)
{
	body_ctx b = {size, NULL};
	store_op op = {.kind = STORE_OP_UPDATE, .type = "Patient", .id = id};
	op.build = build_big;
	op.build_ctx = &b;
	int rc = store_write(s, &op, 1);
	free(b.body);
	return rc;
}

/* The current version of Patient/id has the body build_big makes for size
 * bytes (1), or the resource does not exist (0). */
static int has(store *s, const char *id, size_t size)
{
	arena *a = arena_new(0);
	store_version v;
	int rc = store_read(s, a, "Patient", id, 0, &v);
	int found = rc == STORE_OK;
	if (found) {
		body_ctx b = {size, NULL};
		store_op op = {.type = "Patient", .id = id};
		build_big(&op, &b);
		assert_int_equal(v.body_len, op.body_len);
		assert_memory_equal(v.body, op.body, op.body_len);
		free(b.body);
	} else {
		assert_int_equal(rc, STORE_NOT_FOUND);
	}
	arena_free(a);
	return found;
}

typedef struct async_op {
	store_op op;
	body_ctx b;
	int done;
	pthread_mutex_t mu;
	pthread_cond_t cv;
} async_op;

static void async_done(void *ctx)
{
	async_op *w = ctx;
	pthread_mutex_lock(&w->mu);
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void test_sqlite_full(void **state)
{
	fixture *f = *state;
	char id[32];
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof id, "pre%d", i);
		assert_int_equal(put(f->s, id, 4000), STORE_OK);
	}
	/* the limit: a write past it gets EFBIG (not the signal) */
	signal(SIGXFSZ, SIG_IGN);
	limit_files(f->dir, 256 * 1024);
	int stored = 0, rc = STORE_OK;
	for (int i = 0; i < 2000 && rc == STORE_OK; i++) {
		snprintf(id, sizeof id, "fill%d", i);
		rc = put(f->s, id, 4000);
		if (rc == STORE_OK)
			stored++;
	}
	assert_int_equal(rc, STORE_FULL);
	assert_true(stored > 0);
	/* the refused one is not there, every acknowledged one is; reads work */
	assert_false(has(f->s, id, 4000));
	for (int i = 0; i < stored; i++) {
		snprintf(id, sizeof id, "fill%d", i);
		assert_true(has(f->s, id, 4000));
	}
	assert_true(has(f->s, "pre0", 4000));
	/* again: still refused, the store not stuck in a failed transaction */
	assert_int_equal(put(f->s, "refused-again", 4000), STORE_FULL);

	/* a little room: the small writes fit, the huge one does not; queued
	 * together (one group or several), the small ones are stored */
	limit_files(f->dir, 192 * 1024);
	async_op w[4];
	const char *ids[4] = {"huge", "small1", "small2", "small3"};
	for (int i = 0; i < 4; i++) {
		memset(&w[i], 0, sizeof w[i]);
		pthread_mutex_init(&w[i].mu, NULL);
		pthread_cond_init(&w[i].cv, NULL);
		w[i].b.size = i == 0 ? BODY_MAX : 1000;
		w[i].op = (store_op){.kind = STORE_OP_UPDATE, .type = "Patient", .id = ids[i]};
		w[i].op.build = build_big;
		w[i].op.build_ctx = &w[i].b;
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(store_write_async(f->s, &w[i].op, 1, async_done, &w[i]), STORE_OK);
	for (int i = 0; i < 4; i++) {
		pthread_mutex_lock(&w[i].mu);
		while (!w[i].done)
			pthread_cond_wait(&w[i].cv, &w[i].mu);
		pthread_mutex_unlock(&w[i].mu);
		assert_int_equal(w[i].op.status, i == 0 ? STORE_FULL : STORE_OK);
		free(w[i].b.body);
		pthread_mutex_destroy(&w[i].mu);
		pthread_cond_destroy(&w[i].cv);
	}
	assert_false(has(f->s, "huge", BODY_MAX));
	assert_true(has(f->s, "small2", 1000));

	/* space returns: the same store writes again, the huge one too */
	lift_limit();
	assert_int_equal(put(f->s, "after", 4000), STORE_OK);
	assert_int_equal(put(f->s, "huge", BODY_MAX), STORE_OK);

	/* reopened, everything acknowledged is there, nothing refused */
	store_close(f->s);
	open_store(f);
	for (int i = 0; i < stored; i++) {
		snprintf(id, sizeof id, "fill%d", i);
		assert_true(has(f->s, id, 4000));
	}
	assert_true(has(f->s, "after", 4000));
	assert_true(has(f->s, "huge", BODY_MAX));
	assert_true(has(f->s, "small3", 1000));
	assert_false(has(f->s, "refused-again", 4000));
	snprintf(id, sizeof id, "fill%d", stored);
	assert_false(has(f->s, id, 4000));
}

int main(void)
{
	getrlimit(RLIMIT_FSIZE, &saved_limit);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_pg_status),
	        cmocka_unit_test(test_log_rate_limit),
	        cmocka_unit_test_setup_teardown(test_sqlite_full, setup_plain, teardown),
	        cmocka_unit_test_setup_teardown(test_sqlite_full, setup_key, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
