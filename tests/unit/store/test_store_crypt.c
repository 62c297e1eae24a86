/*
 * test_store_crypt.c - unit tests of encryption at rest in the store
 * (store_crypt.c, the key parts of store_sqlite.c and store_pg.c): a store
 * made with a key is encrypted on disk and opens with that key only; an
 * unencrypted one refuses a key; bron rekey rewraps while the store is
 * open, re-encrypts (--full) and encrypts only when nobody has it open, and
 * keeps every resource; an interrupted full rekey is finished or undone by
 * the next opener. On PostgreSQL (BRON_TEST_PG_URL, as test_store.c): the
 * bodies the database holds are sealed, an altered or moved body is an
 * error and never served, the key is checked at open and rewrapped.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "store/store.h"

static crypt_key key1 = {{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                          1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}};
static crypt_key key2 = {{2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
                          2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2}};

#define N 40 /* resources per store */

typedef struct fixture {
	char dir[64];
	char url[512]; /* PostgreSQL cases: a new database */
} fixture;

static const char *pg_url;

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

static int pg_exec(const char *url, const char *sql)
{
	PGconn *pc = PQconnectdb(url);
	PGresult *res = PQexec(pc, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
	if (!ok)
		fprintf(stderr, "test_store_crypt: %s: %s", sql, PQerrorMessage(pc));
	PQclear(res);
	PQfinish(pc);
	return ok ? 0 : -1;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/bron-store-crypt-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	*state = f;
	return 0;
}

static int setup_pg(void **state)
{
	if (setup(state))
		return -1;
	fixture *f = *state;
	static int serial;
	char name[64], sql[128];
	snprintf(name, sizeof name, "bron_unit_crypt_%d_%d", (int)getpid(), ++serial);
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
	if (pg_exec(pg_url, sql))
		return -1;
	const char *q = strchr(pg_url, '?');
	snprintf(f->url, sizeof f->url, "postgresql:///%s%s", name, q ? q : "");
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	remove_dir(f->dir);
	free(f);
	return 0;
}

/* ---- helpers ---- */

static int try_open(fixture *f, const crypt_key *key, store **s, char **err)
{
	store_options o = {.url = f->url[0] ? f->url : NULL, .dir = f->dir, .key = key};
	*err = NULL;
	return store_open(&o, s, err);
}

static store *open_ok(fixture *f, const crypt_key *key)
{
	store *s;
	char *err;
	if (try_open(f, key, &s, &err))
		fail_msg("store_open: %s", err ? err : "?");
	return s;
}

/* store_open fails with a message that contains `want`. */
static void open_fails(fixture *f, const crypt_key *key, const char *want)
{
	store *s = NULL;
	char *err;
	assert_int_not_equal(try_open(f, key, &s, &err), STORE_OK);
	assert_non_null(err);
	if (!strstr(err, want))
		fail_msg("expected '%s' in: %s", want, err);
	free(err);
}

typedef struct body {
	char text[256];
} body;

static int build(store_op *op, void *ctx)
{
	body *b = ctx;
	int n = snprintf(b->text, sizeof b->text,
	                 "{\"resourceType\":\"Patient\",\"id\":\"%s\",\"name\":[{\"family\":"
	                 "\"Jansen-Vermeulen-%s\"}],\"identifier\":[{\"system\":\"http://fhir.nl/"
	                 "fhir/NamingSystem/bsn\",\"value\":\"99991%s\"}],\"v\":%lld}",
	                 op->id, op->id, op->id, (long long)op->version);
	op->body = b->text;
	op->body_len = (size_t)n;
	return 0;
}

static void write_patients(store *s, int from, int to)
{
	for (int i = from; i < to; i++) {
		char id[16];
		snprintf(id, sizeof id, "%04d", i);
		body b;
		store_op op = {.kind = STORE_OP_UPDATE,
		               .type = "Patient",
		               .id = id,
		               .build = build,
		               .build_ctx = &b};
		assert_int_equal(store_write(s, &op, 1), STORE_OK);
	}
}

/* Every patient reads back as written, by read and by search. */
static void expect_patients(store *s, int n)
{
	arena *a = arena_new(0);
	for (int i = 0; i < n; i++) {
		char id[16], want[64];
		snprintf(id, sizeof id, "%04d", i);
		store_version v;
		assert_int_equal(store_read(s, a, "Patient", id, 0, &v), STORE_OK);
		snprintf(want, sizeof want, "\"Jansen-Vermeulen-%s\"", id);
		assert_non_null(strstr(v.body, want));
		assert_int_equal(v.body[v.body_len], 0);
	}
	store_version *items;
	size_t got;
	assert_int_equal(store_scan(s, a, 0, 1000, &items, &got), STORE_OK);
	assert_int_equal(got, n);
	for (size_t i = 0; i < got; i++)
		assert_non_null(strstr(items[i].body, "Jansen-Vermeulen-"));
	arena_free(a);
}

static int file_has(const char *path, const char *needle)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return 0;
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	size_t got = fread(b, 1, (size_t)n, fp);
	fclose(fp);
	int has = memmem(b, got, needle, strlen(needle)) != NULL;
	free(b);
	return has;
}

static void expect_clean_files(fixture *f)
{
	const char *names[] = {"bron.db", "bron.db-wal", "bron.db-shm", "bron.db-key"};
	const char *needles[] = {"Jansen", "Vermeulen", "99991", "fhir.nl", "resourceType"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		for (size_t j = 0; j < sizeof needles / sizeof *needles; j++) {
			char p[128];
			snprintf(p, sizeof p, "%s/%s", f->dir, names[i]);
			if (file_has(p, needles[j]))
				fail_msg("'%s' in %s", needles[j], p);
		}
}

static char *path_in(fixture *f, const char *name)
{
	static char p[4][128];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/%s", f->dir, name);
	return p[k];
}

/* ---- SQLite ---- */

static void test_sqlite_keys(void **state)
{
	fixture *f = *state;
	store *s = open_ok(f, &key1);
	assert_true(store_encrypted(s));
	assert_null(store_value_key(s)); /* every page is encrypted already */
	write_patients(s, 0, N);
	expect_patients(s, N);
	expect_clean_files(f); /* the WAL holds them now */
	store_close(s);
	expect_clean_files(f);
	struct stat st;
	assert_int_equal(stat(path_in(f, "bron.db-key"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* without a key, with another, with the right one */
	open_fails(f, NULL, "is encrypted: give its key");
	open_fails(f, &key2, "the key does not open this store");
	s = open_ok(f, &key1);
	expect_patients(s, N);
	store_close(s);
	/* the key file of another store does not fit these pages */
	fixture g = {0};
	snprintf(g.dir, sizeof g.dir, "/tmp/bron-store-crypt-XXXXXX");
	assert_non_null(mkdtemp(g.dir));
	store_close(open_ok(&g, &key1));
	char *mine = path_in(f, "bron.db-key"), *saved = path_in(f, "saved-key");
	assert_int_equal(rename(mine, saved), 0);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "cp %s/bron.db-key %s", g.dir, mine);
	assert_int_equal(system(cmd), 0);
	open_fails(f, &key1, "do not open with the data key");
	assert_int_equal(rename(saved, mine), 0);
	remove_dir(g.dir);
	/* the key file lost: refused, with and without a key */
	assert_int_equal(rename(mine, saved), 0);
	open_fails(f, &key1, "is missing");
	open_fails(f, NULL, "not a SQLite database");
	assert_int_equal(rename(saved, mine), 0);
	s = open_ok(f, &key1);
	store_close(s);
}

static void test_sqlite_unencrypted(void **state)
{
	fixture *f = *state;
	store *s = open_ok(f, NULL);
	assert_false(store_encrypted(s));
	assert_null(store_value_key(s));
	write_patients(s, 0, N);
	store_close(s);
	assert_true(file_has(path_in(f, "bron.db"), "Jansen-Vermeulen-0001")); /* the grep works */
	open_fails(f, &key1, "bron rekey");
	/* encrypted (offline), then it needs the key */
	store_rekey_options o = {.dir = f->dir, .newkey = &key1};
	char *err = NULL;
	if (store_rekey(&o, &err))
		fail_msg("store_rekey: %s", err);
	expect_clean_files(f);
	open_fails(f, NULL, "is encrypted");
	s = open_ok(f, &key1);
	expect_patients(s, N);
	write_patients(s, N, N + 5);
	store_close(s);
	s = open_ok(f, &key1);
	expect_patients(s, N + 5);
	store_close(s);
	expect_clean_files(f);
	/* encrypting it again: it is encrypted already */
	assert_int_not_equal(store_rekey(&o, &err), STORE_OK);
	assert_non_null(strstr(err, "encrypted already"));
	free(err);
}

static void test_sqlite_rekey(void **state)
{
	fixture *f = *state;
	store *s = open_ok(f, &key1);
	write_patients(s, 0, N);
	/* online: rewrapped while the store is open; it keeps working */
	store_rekey_options o = {.dir = f->dir, .key = &key1, .newkey = &key2};
	char *err = NULL;
	if (store_rekey(&o, &err))
		fail_msg("store_rekey: %s", err);
	write_patients(s, N, N + 5);
	expect_patients(s, N + 5);
	/* a full rekey or a wrong key is refused meanwhile */
	o = (store_rekey_options){.dir = f->dir, .key = &key2, .newkey = &key1, .full = 1};
	assert_int_not_equal(store_rekey(&o, &err), STORE_OK);
	assert_non_null(strstr(err, "in use"));
	free(err);
	err = NULL;
	o = (store_rekey_options){.dir = f->dir, .key = &key1, .newkey = &key2};
	assert_int_not_equal(store_rekey(&o, &err), STORE_OK);
	assert_non_null(strstr(err, "the key does not open this store"));
	free(err);
	err = NULL;
	store_close(s);
	open_fails(f, &key1, "the key does not open this store");
	s = open_ok(f, &key2);
	expect_patients(s, N + 5);
	store_close(s);
	/* offline: a fresh data key, every page re-encrypted */
	char before[CRYPT_WRAPPED_LEN], after[CRYPT_WRAPPED_LEN];
	FILE *fp = fopen(path_in(f, "bron.db-key"), "rb");
	assert_int_equal(fread(before, 1, sizeof before, fp), sizeof before);
	fclose(fp);
	o = (store_rekey_options){.dir = f->dir, .key = &key2, .newkey = &key1, .full = 1};
	if (store_rekey(&o, &err))
		fail_msg("store_rekey --full: %s", err);
	fp = fopen(path_in(f, "bron.db-key"), "rb");
	assert_int_equal(fread(after, 1, sizeof after, fp), sizeof after);
	fclose(fp);
	assert_memory_not_equal(before + 16, after + 16, 16); /* another store id and key */
	assert_int_not_equal(access(path_in(f, "bron.db.rekey"), F_OK), 0);
	assert_int_not_equal(access(path_in(f, "bron.db-key.rekey"), F_OK), 0);
	expect_clean_files(f);
	open_fails(f, &key2, "the key does not open this store");
	s = open_ok(f, &key1);
	expect_patients(s, N + 5);
	store_close(s);
	/* rewrapping an unencrypted store: nothing to rewrap */
	fixture g = {0};
	snprintf(g.dir, sizeof g.dir, "/tmp/bron-store-crypt-XXXXXX");
	assert_non_null(mkdtemp(g.dir));
	store_close(open_ok(&g, NULL));
	o = (store_rekey_options){.dir = g.dir, .key = &key1, .newkey = &key2};
	assert_int_not_equal(store_rekey(&o, &err), STORE_OK);
	assert_non_null(strstr(err, "not encrypted"));
	free(err);
	remove_dir(g.dir);
}

static void copy_file(const char *from, const char *to)
{
	char cmd[400];
	snprintf(cmd, sizeof cmd, "cp %s %s", from, to);
	assert_int_equal(system(cmd), 0);
}

/* A full rekey killed at each step: the next opener finishes or undoes it. */
static void test_sqlite_interrupted_rekey(void **state)
{
	fixture *f = *state;
	store *s = open_ok(f, &key1);
	write_patients(s, 0, N);
	store_close(s);
	char old_db[128], old_key[128], new_db[128], new_key[128];
	snprintf(old_db, sizeof old_db, "%s/keep-old.db", f->dir);
	snprintf(old_key, sizeof old_key, "%s/keep-old.key", f->dir);
	snprintf(new_db, sizeof new_db, "%s/keep-new.db", f->dir);
	snprintf(new_key, sizeof new_key, "%s/keep-new.key", f->dir);
	copy_file(path_in(f, "bron.db"), old_db);
	copy_file(path_in(f, "bron.db-key"), old_key);
	store_rekey_options o = {.dir = f->dir, .key = &key1, .newkey = &key2, .full = 1};
	char *err = NULL;
	if (store_rekey(&o, &err))
		fail_msg("store_rekey: %s", err);
	copy_file(path_in(f, "bron.db"), new_db);
	copy_file(path_in(f, "bron.db-key"), new_key);

	/* killed before the swap: both copies there, the old store in place */
	copy_file(old_db, path_in(f, "bron.db"));
	copy_file(old_key, path_in(f, "bron.db-key"));
	copy_file(new_db, path_in(f, "bron.db.rekey"));
	copy_file(new_key, path_in(f, "bron.db-key.rekey"));
	s = open_ok(f, &key1); /* undone */
	expect_patients(s, N);
	store_close(s);
	assert_int_not_equal(access(path_in(f, "bron.db.rekey"), F_OK), 0);
	assert_int_not_equal(access(path_in(f, "bron.db-key.rekey"), F_OK), 0);

	/* killed while copying: only the database copy */
	copy_file(new_db, path_in(f, "bron.db.rekey"));
	s = open_ok(f, &key1);
	store_close(s);
	assert_int_not_equal(access(path_in(f, "bron.db.rekey"), F_OK), 0);

	/* killed between the renames: the new database in place, its key beside */
	copy_file(new_db, path_in(f, "bron.db"));
	copy_file(new_key, path_in(f, "bron.db-key.rekey"));
	s = open_ok(f, &key2); /* finished */
	expect_patients(s, N);
	store_close(s);
	assert_int_not_equal(access(path_in(f, "bron.db-key.rekey"), F_OK), 0);
	open_fails(f, &key1, "the key does not open this store");
	/* the same, found by bron rekey itself */
	copy_file(old_db, path_in(f, "bron.db"));
	copy_file(old_key, path_in(f, "bron.db-key"));
	copy_file(new_db, path_in(f, "bron.db"));
	copy_file(new_key, path_in(f, "bron.db-key.rekey"));
	o = (store_rekey_options){.dir = f->dir, .key = &key2, .newkey = &key1};
	if (store_rekey(&o, &err))
		fail_msg("store_rekey: %s", err);
	s = open_ok(f, &key1);
	expect_patients(s, N);
	store_close(s);
}

/* ---- PostgreSQL ---- */

static PGresult *pg_query(fixture *f, const char *sql)
{
	PGconn *pc = PQconnectdb(f->url);
	PGresult *res = PQexec(pc, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(pc));
	PQfinish(pc);
	return res;
}

static void test_pg_bodies(void **state)
{
	fixture *f = *state;
	store *s = open_ok(f, &key1);
	assert_true(store_encrypted(s));
	assert_non_null(store_value_key(s));
	write_patients(s, 0, N);
	expect_patients(s, N);
	/* what the database holds: sealed bodies, index values as they are */
	PGresult *res = pg_query(f, "SELECT count(*) FROM resource_version WHERE "
	                            "position(convert_to('Jansen', 'UTF8') in body) > 0 OR "
	                            "position(convert_to('99991', 'UTF8') in body) > 0 OR "
	                            "get_byte(body, 0) <> 1");
	assert_string_equal(PQgetvalue(res, 0, 0), "0");
	PQclear(res);
	/* a value sealed with store_value_key opens with it */
	buf b, o;
	buf_init(&b, 0);
	buf_init(&o, 0);
	assert_int_equal(crypt_seal(store_value_key(s), "audit", 5, "detail", 6, &b), 0);
	assert_int_equal(crypt_open(store_value_key(s), "audit", 5, b.data, b.len, &o), 0);
	assert_memory_equal(o.data, "detail", 6);
	buf_free(&b);
	buf_free(&o);
	store_close(s);
	/* one body altered, one moved onto another resource: errors, never served */
	PQclear(pg_query(f, "UPDATE resource_version SET body = overlay(body placing '\\x00' "
	                    "from 40 for 1) WHERE id = '0003'"));
	PQclear(pg_query(f, "UPDATE resource_version SET body = (SELECT body FROM resource_version "
	                    "WHERE id = '0005') WHERE id = '0006'"));
	s = open_ok(f, &key1);
	arena *a = arena_new(0);
	store_version v;
	assert_int_equal(store_read(s, a, "Patient", "0003", 0, &v), STORE_ERROR);
	assert_int_equal(store_read(s, a, "Patient", "0006", 0, &v), STORE_ERROR);
	assert_int_equal(store_read(s, a, "Patient", "0006", 1, &v), STORE_ERROR);
	assert_int_equal(store_read(s, a, "Patient", "0005", 0, &v), STORE_OK);
	store_version *items;
	size_t n;
	assert_int_equal(store_scan(s, a, 0, 1000, &items, &n), STORE_ERROR);
	arena_free(a);
	store_close(s);
	/* the key is checked at open */
	open_fails(f, NULL, "is encrypted: give its key");
	open_fails(f, &key2, "the key does not open this store");
	/* rewrapped (online), then only the new key opens it */
	s = open_ok(f, &key1);
	store_rekey_options ro = {.url = f->url, .key = &key1, .newkey = &key2};
	char *err = NULL;
	if (store_rekey(&ro, &err))
		fail_msg("store_rekey: %s", err);
	a = arena_new(0);
	assert_int_equal(store_read(s, a, "Patient", "0001", 0, &v), STORE_OK);
	arena_free(a);
	store_close(s);
	open_fails(f, &key1, "the key does not open this store");
	s = open_ok(f, &key2);
	store_close(s);
	ro.full = 1;
	assert_int_not_equal(store_rekey(&ro, &err), STORE_OK);
	free(err);
}

static void test_pg_unencrypted(void **state)
{
	fixture *f = *state;
	store *s = open_ok(f, NULL);
	assert_false(store_encrypted(s));
	assert_null(store_value_key(s));
	write_patients(s, 0, 3);
	store_close(s);
	PGresult *res = pg_query(f, "SELECT count(*) FROM resource_version WHERE "
	                            "position(convert_to('Jansen', 'UTF8') in body) > 0");
	assert_string_equal(PQgetvalue(res, 0, 0), "3"); /* the query can find them */
	PQclear(res);
	open_fails(f, &key1, "not encrypted");
	s = open_ok(f, NULL);
	expect_patients(s, 3);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_sqlite_keys, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_sqlite_unencrypted, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_sqlite_rekey, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_sqlite_interrupted_rekey, setup, teardown),
	};
	const struct CMUnitTest pg_tests[] = {
	        cmocka_unit_test_setup_teardown(test_pg_bodies, setup_pg, teardown),
	        cmocka_unit_test_setup_teardown(test_pg_unencrypted, setup_pg, teardown),
	};
	int failed = cmocka_run_group_tests_name("store encryption (sqlite)", tests, NULL, NULL);
	pg_url = getenv("BRON_TEST_PG_URL");
	if (pg_url && *pg_url)
		failed += cmocka_run_group_tests_name("store encryption (postgresql)", pg_tests,
		                                      NULL, NULL);
	else
		printf("store encryption (postgresql): BRON_TEST_PG_URL not set; not run\n");
	return failed;
}
