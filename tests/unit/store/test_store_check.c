/*
 * test_store_check.c - unit tests of store_check (store.h, store_check.c):
 * a store written through the store's own write path is consistent; then
 * each kind of damage is made on purpose with SQL beside the store (an
 * index row deleted, one added, one changed, rows left on a deleted
 * resource, a version removed from the middle, the current row pointing
 * at an old version, an orphan index row) and store_check must name it.
 * On SQLite, on an encrypted SQLite store (integrity_check through the VFS,
 * the consistent case), and - with BRON_TEST_PG_URL - on PostgreSQL.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "store/store.h"

typedef struct fixture {
	char dir[64];
	char url[512];
	const crypt_key *key;
	store *s;
	char problems[64][512];
	size_t nproblems;
} fixture;

static const char *pg_url;
static crypt_key test_key = {{9,  8,  7,  6,  5,  4,  3,  2,  1,  10, 11, 12, 13, 14, 15, 16,
                              17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}};

static int make_database(fixture *f)
{
	static int serial;
	char name[64];
	snprintf(name, sizeof name, "bron_check_%d_%d", (int)getpid(), ++serial);
	PGconn *pc = PQconnectdb(pg_url);
	char sql[128];
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
	PGresult *res = PQexec(pc, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	PQfinish(pc);
	const char *q = strchr(pg_url, '?');
	snprintf(f->url, sizeof f->url, "postgresql:///%s%s", name, q ? q : "");
	return ok ? 0 : -1;
}

static int setup_on(void **state, int pg, int encrypted)
{
	fixture *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/bron-check-test-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->key = encrypted ? &test_key : NULL;
	if (pg && make_database(f))
		return -1;
	store_options o = {
	        .url = f->url[0] ? f->url : NULL, .dir = f->dir, .sync_full = 0, .key = f->key};
	char *err = NULL;
	if (store_open(&o, &f->s, &err)) {
		fprintf(stderr, "store_open: %s\n", err ? err : "?");
		return -1;
	}
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_on(state, 0, 0);
}
static int setup_key(void **state)
{
	return setup_on(state, 0, 1);
}
static int setup_pg(void **state)
{
	return setup_on(state, 1, 0);
}
static int setup_pg_key(void **state)
{
	return setup_on(state, 1, 1);
}

static int teardown(void **state)
{
	fixture *f = *state;
	store_close(f->s);
	DIR *d = opendir(f->dir);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		char p[512];
		snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- the resources: body {"resourceType":T,"id":I,"v":N,"tag":X}; rows: a
 * token (pid 7: urn:t|X), a string (pid 8: x) and the compartment of
 * Patient "p-X" ---- */

static int build(store_op *op, void *ctx)
{
	const char *tag = ctx;
	char *b = malloc(256);
	int n = snprintf(b, 256,
	                 "{\"resourceType\":\"%s\",\"id\":\"%s\",\"v\":\"%lld\",\"tag\":\"%s\"}",
	                 op->type, op->id, (long long)op->version, tag);
	op->body = b; /* leaked per write: a test */
	op->body_len = (size_t)n;
	return 0;
}

static void rows_of(arena *a, const char *tag, search_rows *r)
{
	memset(r, 0, sizeof *r);
	r->items = arena_calloc(a, 2 * sizeof *r->items);
	r->count = 2;
	r->items[0].kind = SEARCH_ROW_TOKEN;
	r->items[0].pid = 7;
	r->items[0].s[0] = "urn:t";
	r->items[0].s[1] = arena_strdup(a, tag);
	r->items[0].s[2] = "";
	r->items[1].kind = SEARCH_ROW_STRING;
	r->items[1].pid = 8;
	r->items[1].s[0] = arena_printf(a, "n-%s", tag);
	r->items[1].s[1] = arena_strdup(a, tag);
	r->patients = arena_calloc(a, sizeof *r->patients);
	r->patients[0] = arena_printf(a, "p-%s", tag);
	r->npatients = 1;
}

/* store_check_fn: the tag out of the body, the rows of rows_of. */
static int derive(void *ctx, arena *a, const store_version *v, search_rows *rows,
                  store_contained **contained, size_t *ncontained, const char **problem)
{
	*contained = NULL;
	*ncontained = 0;
	const char *t = v->body ? strstr(v->body, "\"tag\":\"") : NULL;
	char want[64];
	snprintf(want, sizeof want, "\"v\":\"%lld\"", (long long)v->version);
	if (!t || !strstr(v->body, want)) {
		*problem = "not the version it claims";
		return -1;
	}
	t += 7;
	const char *e = strchr(t, '"');
	rows_of(a, arena_strndup(a, t, (size_t)(e - t)), rows);
	return 0;
}

static void put(fixture *f, store_op_kind kind, const char *id, const char *tag)
{
	arena *a = arena_new(0);
	search_rows r;
	rows_of(a, tag ? tag : "", &r);
	store_op op = {.kind = kind,
	               .type = "Basic",
	               .id = id,
	               .build = build,
	               .build_ctx = (void *)tag,
	               .index = kind == STORE_OP_DELETE ? NULL : &r};
	if (kind == STORE_OP_DELETE)
		op.build = NULL;
	assert_int_equal(store_write(f->s, &op, 1), STORE_OK);
	free((void *)op.body);
	arena_free(a);
}

static void on_problem(void *ctx, const char *line)
{
	fixture *f = ctx;
	if (f->nproblems < 64)
		snprintf(f->problems[f->nproblems++], sizeof f->problems[0], "%s", line);
}

static store_check_report check(fixture *f)
{
	store_check_report rep;
	f->nproblems = 0;
	assert_int_equal(store_pin(f->s, 1), STORE_OK);
	assert_int_equal(store_check(f->s, derive, NULL, on_problem, f, &rep), STORE_OK);
	assert_int_equal(store_pin(f->s, 0), STORE_OK);
	assert_int_equal(rep.problems, (int64_t)f->nproblems);
	return rep;
}

/* A problem naming all of `parts` was reported. */
static void expect_problem(fixture *f, const char *a, const char *b)
{
	for (size_t i = 0; i < f->nproblems; i++)
		if (strstr(f->problems[i], a) && (!b || strstr(f->problems[i], b)))
			return;
	for (size_t i = 0; i < f->nproblems; i++)
		fprintf(stderr, "  reported: %s\n", f->problems[i]);
	fail_msg("no problem names '%s' and '%s'", a, b ? b : "");
}

/* Run SQL beside the store (the tests' tampering). */
static void tamper(fixture *f, const char *sql)
{
	if (f->url[0]) {
		PGconn *pc = PQconnectdb(f->url);
		PGresult *res = PQexec(pc, sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		    PQresultStatus(res) != PGRES_TUPLES_OK)
			fail_msg("%s: %s", sql, PQerrorMessage(pc));
		PQclear(res);
		PQfinish(pc);
		return;
	}
	char path[128];
	snprintf(path, sizeof path, "%s/bron.db", f->dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
	sqlite3_close(db);
}

/* The rid of Basic/id. */
static char *rid_of(fixture *f, const char *id, char *out, size_t cap)
{
	arena *a = arena_new(0);
	store_version v;
	assert_int_equal(store_read(f->s, a, "Basic", id, 0, &v) == STORE_NOT_FOUND, 0);
	snprintf(out, cap, "%lld", (long long)v.rid);
	arena_free(a);
	return out;
}

static void fill(fixture *f)
{
	put(f, STORE_OP_UPDATE, "a", "alpha");
	put(f, STORE_OP_UPDATE, "a", "alpha2");
	put(f, STORE_OP_UPDATE, "a", "alpha3");
	put(f, STORE_OP_UPDATE, "b", "beta");
	put(f, STORE_OP_UPDATE, "c", "gamma");
	put(f, STORE_OP_DELETE, "c", NULL);
}

static void test_consistent(void **state)
{
	fixture *f = *state;
	fill(f);
	store_check_report rep = check(f);
	assert_int_equal(rep.problems, 0);
	assert_int_equal(rep.resources, 3);
	assert_int_equal(rep.versions, 6);
	assert_int_equal(rep.index_rows, 6); /* a and b: 2 rows and a compartment each */
}

static void test_index_row_missing(void **state)
{
	fixture *f = *state;
	fill(f);
	char rid[32], sql[256];
	snprintf(sql, sizeof sql, "DELETE FROM sp_token WHERE rid = %s", rid_of(f, "a", rid, 32));
	tamper(f, sql);
	check(f);
	assert_int_equal(f->nproblems, 1);
	expect_problem(f, "Basic/a version 3: index row missing", "sp_token|7|");
	expect_problem(f, "urn:t|alpha3", NULL);
}

static void test_index_row_extra(void **state)
{
	fixture *f = *state;
	fill(f);
	char rid[32], sql[256];
	snprintf(sql, sizeof sql,
	         "INSERT INTO sp_token(pid, rid, grp, system, code, text) VALUES (9, %s, 0, 's', "
	         "'c', '')",
	         rid_of(f, "b", rid, 32));
	tamper(f, sql);
	check(f);
	assert_int_equal(f->nproblems, 1);
	expect_problem(f, "Basic/b version 1: extra index row", "sp_token|9|");
}

static void test_index_row_differs(void **state)
{
	fixture *f = *state;
	fill(f);
	char rid[32], sql[256];
	snprintf(sql, sizeof sql, "UPDATE sp_string SET norm = 'n-other' WHERE rid = %s",
	         rid_of(f, "b", rid, 32));
	tamper(f, sql);
	snprintf(sql, sizeof sql, "UPDATE sp_compartment SET patient = 'p-x' WHERE rid = %s", rid);
	tamper(f, sql);
	check(f);
	assert_int_equal(f->nproblems, 2);
	expect_problem(f, "Basic/b version 1: index row differs", "n-other");
	expect_problem(f, "Basic/b version 1: index row differs", "p-beta");
}

static void test_rows_of_deleted(void **state)
{
	fixture *f = *state;
	fill(f);
	/* Basic/c is deleted: a row left behind */
	tamper(f, "INSERT INTO sp_uri(pid, rid, grp, uri) SELECT 3, rid, 0, 'u' FROM resource "
	          "WHERE id = 'c'");
	check(f);
	assert_int_equal(f->nproblems, 1);
	expect_problem(f, "Basic/c version 2: extra index row", "sp_uri|3|");
}

static void test_orphan_rows(void **state)
{
	fixture *f = *state;
	fill(f);
	tamper(f, "INSERT INTO sp_date(pid, rid, grp, lo, hi) VALUES (4, 999999, 0, 1, 2)");
	check(f);
	assert_int_equal(f->nproblems, 1);
	expect_problem(f, "sp_date: index rows of row 999999", NULL);
}

static void test_version_gap(void **state)
{
	fixture *f = *state;
	fill(f);
	tamper(f, "DELETE FROM resource_version WHERE id = 'a' AND version = 2");
	check(f);
	assert_int_equal(f->nproblems, 1);
	expect_problem(f, "Basic/a: version 3 follows version 1", "2..2 missing");
}

static void test_current_not_newest(void **state)
{
	fixture *f = *state;
	fill(f);
	/* the current row points at version 2 (and its seq): its rows are 3's */
	tamper(f, "UPDATE resource SET version = 2, seq = (SELECT seq FROM resource_version WHERE "
	          "id = 'a' AND version = 2), last_updated = (SELECT last_updated FROM "
	          "resource_version WHERE id = 'a' AND version = 2) WHERE id = 'a'");
	check(f);
	expect_problem(f, "Basic/a: the current row names version 2, but the newest stored is 3",
	               NULL);
	expect_problem(f, "Basic/a version 2: index row differs", "alpha3");
}

static void test_body_not_the_version(void **state)
{
	fixture *f = *state;
	fill(f);
	/* the current row names version 2 but both its number and seq agree: the
	 * body says version 3 (a body moved between versions) */
	tamper(f, "UPDATE resource_version SET version = 9 WHERE id = 'b'");
	check(f);
	expect_problem(f, "Basic/b: the first stored version is 9, not 1", NULL);
	expect_problem(f, "Basic/b version 1: the current row's seq", "version 9");
}

#define CASES(s)                                                                                   \
	cmocka_unit_test_setup_teardown(test_consistent, s, teardown),                             \
	        cmocka_unit_test_setup_teardown(test_index_row_missing, s, teardown),              \
	        cmocka_unit_test_setup_teardown(test_index_row_extra, s, teardown),                \
	        cmocka_unit_test_setup_teardown(test_index_row_differs, s, teardown),              \
	        cmocka_unit_test_setup_teardown(test_rows_of_deleted, s, teardown),                \
	        cmocka_unit_test_setup_teardown(test_orphan_rows, s, teardown),                    \
	        cmocka_unit_test_setup_teardown(test_version_gap, s, teardown),                    \
	        cmocka_unit_test_setup_teardown(test_current_not_newest, s, teardown),             \
	        cmocka_unit_test_setup_teardown(test_body_not_the_version, s, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {CASES(setup)};
	const struct CMUnitTest key_tests[] = {
	        cmocka_unit_test_setup_teardown(test_consistent, setup_key, teardown)};
	const struct CMUnitTest pg_tests[] = {CASES(setup_pg)};
	const struct CMUnitTest pg_key_tests[] = {CASES(setup_pg_key)};
	int failed = cmocka_run_group_tests_name("store_check (sqlite)", tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("store_check (sqlite, encrypted)", key_tests, NULL,
	                                      NULL);
	pg_url = getenv("BRON_TEST_PG_URL");
	if (pg_url && *pg_url) {
		failed += cmocka_run_group_tests_name("store_check (postgresql)", pg_tests, NULL,
		                                      NULL);
		failed += cmocka_run_group_tests_name("store_check (postgresql, encrypted)",
		                                      pg_key_tests, NULL, NULL);
	} else {
		printf("store_check (postgresql): BRON_TEST_PG_URL not set; the PostgreSQL cases "
		       "did "
		       "not run\n");
	}
	return failed;
}
