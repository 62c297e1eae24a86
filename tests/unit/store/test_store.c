/*
 * test_store.c - unit tests of the SQLite engine of store.h (store_sqlite.c):
 * create/read/update/delete/vread and their statuses, If-Match, multi-op
 * requests that must apply all or nothing, group commit of neighbouring
 * requests, history at every level with paging, _since and _at, lastUpdated
 * order, 8 concurrent writers, reopening, counts. Each case opens a store in
 * its own temporary directory and removes it afterwards.
 */
#include <dirent.h>
#include <pthread.h>
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
#include <sqlite3.h>

#include "store/store.h"

/* ---- fixture: a store in a fresh temporary directory ---- */

typedef struct fixture {
	char dir[64];
	const crypt_key *key; /* the owner's key: the cases again on encrypted stores */
	char url[512];        /* the PostgreSQL engine: a new database per case */
	store *s;
	arena *a;
} fixture;

/* The cases run on SQLite, then - when BRON_TEST_PG_URL names a database of
 * a cluster where new databases may be made (tests/run.sh sets it) - again
 * on PostgreSQL, each case in a database of its own; and each engine once
 * more with an owner's key (encryption at rest: tests/unit/crypt/ looks at
 * the bytes, these at the behaviour). */
static const char *pg_url;

static void open_store(fixture *f)
{
	store_options o = {
	        .url = f->url[0] ? f->url : NULL, .dir = f->dir, .sync_full = 0, .key = f->key};
	char *err = NULL;
	int rc = store_open(&o, &f->s, &err);
	if (rc != STORE_OK)
		fail_msg("store_open(%s): %s", f->url[0] ? f->url : f->dir, err ? err : "?");
	assert_null(err);
}

/* CREATE DATABASE name in pg_url's cluster; its URL into f->url. */
static int make_database(fixture *f)
{
	static int serial;
	char name[64];
	snprintf(name, sizeof name, "bron_unit_%d_%d", (int)getpid(), ++serial);
	PGconn *pc = PQconnectdb(pg_url);
	char sql[128];
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
	PGresult *res = PQexec(pc, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "test_store: %s: %s", sql, PQerrorMessage(pc));
	PQclear(res);
	PQfinish(pc);
	/* the same URL with the new database: postgresql:///NAME?params */
	const char *q = strchr(pg_url, '?');
	snprintf(f->url, sizeof f->url, "postgresql:///%s%s", name, q ? q : "");
	return ok ? 0 : -1;
}

static crypt_key test_key = {{1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                              17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}};

static int setup_on(void **state, int pg, int encrypted)
{
	fixture *f = calloc(1, sizeof *f);
	f->key = encrypted ? &test_key : NULL;
	snprintf(f->dir, sizeof f->dir, "/tmp/bron-store-test-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	if (pg && make_database(f))
		return -1;
	open_store(f);
	f->a = arena_new(0);
	*state = f;
	return 0;
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

static int setup(void **state)
{
	return setup_on(state, 0, 0);
}

static int setup_pg(void **state)
{
	return setup_on(state, 1, 0);
}

static int setup_key(void **state)
{
	return setup_on(state, 0, 1);
}

static int setup_pg_key(void **state)
{
	return setup_on(state, 1, 1);
}

static int teardown(void **state)
{
	fixture *f = *state;
	store_close(f->s);
	arena_free(f->a);
	remove_dir(f->dir);
	free(f);
	return 0;
}

/* ---- writing helpers ---- */

/* Build context: the body names the version and time the store handed out,
 * so tests can see build ran after they were set. */
typedef struct body_ctx {
	const char *tag; /* free text put in the body */
	int refuse;      /* 1: build fails */
	int calls;       /* how often build ran */
	char body[256];
} body_ctx;

static int build_body(store_op *op, void *ctx)
{
	body_ctx *b = ctx;
	b->calls++;
	if (b->refuse)
		return 1;
	int n = snprintf(
	        b->body, sizeof b->body,
	        "{\"resourceType\":\"%s\",\"id\":\"%s\",\"v\":%lld,\"lu\":%lld,\"tag\":\"%s\"}",
	        op->type, op->id, (long long)op->version, (long long)op->last_updated,
	        b->tag ? b->tag : "");
	op->body = b->body;
	op->body_len = (size_t)n;
	return 0;
}

static const char BYTES[] = "{\"a\":\"x\0y\"}\0\xff";

static int build_bytes(store_op *op, void *ctx)
{
	op->body = BYTES;
	op->body_len = sizeof BYTES - 1;
	return 0;
}

static store_op make_op(store_op_kind kind, const char *type, const char *id, body_ctx *b)
{
	store_op op;
	memset(&op, 0, sizeof op);
	op.kind = kind;
	op.type = type;
	op.id = id;
	if (b) {
		op.build = build_body;
		op.build_ctx = b;
	}
	op.status = -1;
	return op;
}

/* One op on its own; returns its status and fills *out with the op. */
static int write1(store *s, store_op_kind kind, const char *type, const char *id, int64_t if_match,
                  const char *tag, store_op *out)
{
	body_ctx b = {.tag = tag};
	store_op op = make_op(kind, type, id, kind == STORE_OP_DELETE ? NULL : &b);
	op.if_match = if_match;
	int rc = store_write(s, &op, 1);
	assert_int_equal(rc, op.status);
	if (out) {
		*out = op;
		out->body = NULL; /* b is gone */
	}
	return rc;
}

static void expect_body(const store_version *v, const char *type, const char *id, int64_t version,
                        const char *tag)
{
	char want[256];
	snprintf(want, sizeof want,
	         "{\"resourceType\":\"%s\",\"id\":\"%s\",\"v\":%lld,\"lu\":%lld,\"tag\":\"%s\"}",
	         type, id, (long long)version, (long long)v->last_updated, tag);
	assert_non_null(v->body);
	assert_int_equal(v->body_len, strlen(want));
	assert_string_equal(v->body, want);
	assert_int_equal(v->body[v->body_len], 0);
}

static size_t history_all(store *s, arena *a, const char *type, const char *id,
                          store_version **items)
{
	store_history_query q = {.type = type, .id = id, .count = 100000};
	size_t n = 0;
	int more = -1;
	assert_int_equal(store_history(s, a, &q, items, &n, &more), STORE_OK);
	assert_int_equal(more, 0);
	return n;
}

/* ---- tests ---- */

static void test_open_errors(void **state)
{
	store_options o = {.dir = "/nonexistent-bron-dir/sub/dir"};
	store *s = (store *)0x1;
	char *err = NULL;
	assert_int_equal(store_open(&o, &s, &err), STORE_ERROR);
	assert_non_null(err);
	assert_non_null(strstr(err, "/nonexistent-bron-dir/sub/dir"));
	free(err);
	/* a file where the directory should be */
	char path[] = "/tmp/bron-store-file-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	o.dir = path;
	err = NULL;
	assert_int_equal(store_open(&o, &s, &err), STORE_ERROR);
	assert_non_null(err);
	free(err);
	unlink(path);
	store_close(NULL);
	/* a store of another schema version is refused, untouched, with a clear message */
	char dir[] = "/tmp/bron-store-old-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char db[128];
	snprintf(db, sizeof db, "%s/bron.db", dir);
	sqlite3 *h;
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h,
	                              "CREATE TABLE bron_schema(version INTEGER NOT NULL);"
	                              "INSERT INTO bron_schema VALUES(999);",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(h);
	o.dir = dir;
	err = NULL;
	assert_int_equal(store_open(&o, &s, &err), STORE_ERROR);
	assert_non_null(err);
	assert_non_null(strstr(err, "schema version 999"));
	free(err);
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK); /* nothing was added to it */
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*) FROM sqlite_master", -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	sqlite3_finalize(st);
	sqlite3_close(h);
	unlink(db);
	rmdir(dir);
}

static void test_crud(void **state)
{
	fixture *f = *state;
	store_version v;
	store_op op;

	assert_int_equal(store_read(f->s, f->a, "Patient", "p1", 0, &v), STORE_NOT_FOUND);
	int64_t before = base_now_us();
	assert_int_equal(write1(f->s, STORE_OP_CREATE, "Patient", "p1", 0, "one", &op), STORE_OK);
	assert_int_equal(op.version, 1);
	assert_int_equal(op.prev_version, 0);
	assert_int_equal(op.prev_deleted, 0);
	assert_true(op.last_updated >= before && op.last_updated <= base_now_us());
	int64_t lu1 = op.last_updated;

	memset(&v, 0, sizeof v);
	assert_int_equal(store_read(f->s, f->a, "Patient", "p1", 0, &v), STORE_OK);
	assert_string_equal(v.type, "Patient");
	assert_string_equal(v.id, "p1");
	assert_int_equal(v.version, 1);
	assert_int_equal(v.deleted, 0);
	assert_int_equal(v.last_updated, lu1);
	assert_true(v.seq > 0);
	expect_body(&v, "Patient", "p1", 1, "one");

	/* the same id under another type, and another id, are different resources */
	assert_int_equal(store_read(f->s, f->a, "Observation", "p1", 0, &v), STORE_NOT_FOUND);
	assert_int_equal(store_read(f->s, f->a, "Patient", "p2", 0, &v), STORE_NOT_FOUND);
	assert_int_equal(store_read(f->s, f->a, "Patient", "p", 0, &v), STORE_NOT_FOUND);

	assert_int_equal(write1(f->s, STORE_OP_UPDATE, "Patient", "p1", 0, "two", &op), STORE_OK);
	assert_int_equal(op.version, 2);
	assert_int_equal(op.prev_version, 1);
	assert_true(op.last_updated > lu1);
	assert_int_equal(store_read(f->s, f->a, "Patient", "p1", 0, &v), STORE_OK);
	assert_int_equal(v.version, 2);
	expect_body(&v, "Patient", "p1", 2, "two");
	int64_t seq2 = v.seq;

	/* vread */
	assert_int_equal(store_read(f->s, f->a, "Patient", "p1", 1, &v), STORE_OK);
	assert_int_equal(v.version, 1);
	assert_int_equal(v.last_updated, lu1);
	expect_body(&v, "Patient", "p1", 1, "one");
	assert_true(v.seq < seq2);
	assert_int_equal(store_read(f->s, f->a, "Patient", "p1", 3, &v), STORE_NOT_FOUND);
	assert_int_equal(store_read(f->s, f->a, "Patient", "p2", 1, &v), STORE_NOT_FOUND);

	/* delete: a marker version, the current read is GONE */
	assert_int_equal(write1(f->s, STORE_OP_DELETE, "Patient", "p1", 0, NULL, &op), STORE_OK);
	assert_int_equal(op.version, 3);
	assert_int_equal(op.prev_version, 2);
	int64_t lu3 = op.last_updated;
	memset(&v, 0, sizeof v);
	assert_int_equal(store_read(f->s, f->a, "Patient", "p1", 0, &v), STORE_GONE);
	assert_int_equal(v.version, 3);
	assert_int_equal(v.last_updated, lu3);
	assert_int_equal(v.deleted, 1);
	assert_int_equal(store_read(f->s, f->a, "Patient", "p1", 3, &v), STORE_OK);
	assert_int_equal(v.deleted, 1);
	assert_null(v.body);
	assert_int_equal(v.body_len, 0);
	assert_int_equal(store_read(f->s, f->a, "Patient", "p1", 2, &v), STORE_OK);
	expect_body(&v, "Patient", "p1", 2, "two");

	/* deleting again, or something absent, makes no version */
	assert_int_equal(write1(f->s, STORE_OP_DELETE, "Patient", "p1", 0, NULL, &op), STORE_OK);
	assert_int_equal(op.version, 0);
	assert_int_equal(op.prev_version, 3);
	assert_int_equal(op.prev_deleted, 1);
	assert_int_equal(op.last_updated, lu3);
	assert_int_equal(write1(f->s, STORE_OP_DELETE, "Patient", "nobody", 0, NULL, &op),
	                 STORE_OK);
	assert_int_equal(op.version, 0);
	assert_int_equal(op.prev_version, 0);
	assert_int_equal(store_read(f->s, f->a, "Patient", "nobody", 0, &v), STORE_NOT_FOUND);
	store_version *items;
	assert_int_equal(history_all(f->s, f->a, "Patient", "p1", &items), 3);
	assert_int_equal(history_all(f->s, f->a, NULL, NULL, &items), 3);

	/* update after delete brings it back */
	assert_int_equal(write1(f->s, STORE_OP_UPDATE, "Patient", "p1", 0, "back", &op), STORE_OK);
	assert_int_equal(op.version, 4);
	assert_int_equal(op.prev_version, 3);
	assert_int_equal(op.prev_deleted, 1);
	assert_int_equal(store_read(f->s, f->a, "Patient", "p1", 0, &v), STORE_OK);
	assert_int_equal(v.version, 4);
	expect_body(&v, "Patient", "p1", 4, "back");

	/* update of an absent resource creates it at version 1 */
	assert_int_equal(write1(f->s, STORE_OP_UPDATE, "Observation", "o1", 0, "uac", &op),
	                 STORE_OK);
	assert_int_equal(op.version, 1);
	assert_int_equal(op.prev_version, 0);
	assert_int_equal(store_read(f->s, f->a, "Observation", "o1", 0, &v), STORE_OK);
	expect_body(&v, "Observation", "o1", 1, "uac");
}

static void test_create_exists(void **state)
{
	fixture *f = *state;
	store_op op;
	store_version v;
	assert_int_equal(write1(f->s, STORE_OP_CREATE, "Patient", "dup", 0, "first", &op),
	                 STORE_OK);
	assert_int_equal(write1(f->s, STORE_OP_CREATE, "Patient", "dup", 0, "second", &op),
	                 STORE_EXISTS);
	assert_int_equal(op.prev_version, 1);
	assert_int_equal(store_read(f->s, f->a, "Patient", "dup", 0, &v), STORE_OK);
	assert_int_equal(v.version, 1);
	expect_body(&v, "Patient", "dup", 1, "first");
	/* a deleted id is still taken */
	assert_int_equal(write1(f->s, STORE_OP_DELETE, "Patient", "dup", 0, NULL, &op), STORE_OK);
	assert_int_equal(write1(f->s, STORE_OP_CREATE, "Patient", "dup", 0, "third", &op),
	                 STORE_EXISTS);
	store_version *items;
	assert_int_equal(history_all(f->s, f->a, "Patient", "dup", &items), 2);
	/* the same id under another type is free */
	assert_int_equal(write1(f->s, STORE_OP_CREATE, "Group", "dup", 0, "g", &op), STORE_OK);
	assert_int_equal(op.version, 1);
}

static void test_if_match(void **state)
{
	fixture *f = *state;
	store_op op;
	store_version v;
	assert_int_equal(write1(f->s, STORE_OP_CREATE, "Patient", "m", 0, "v1", &op), STORE_OK);
	assert_int_equal(write1(f->s, STORE_OP_UPDATE, "Patient", "m", 1, "v2", &op), STORE_OK);
	assert_int_equal(op.version, 2);
	/* stale and future versions conflict and change nothing */
	assert_int_equal(write1(f->s, STORE_OP_UPDATE, "Patient", "m", 1, "stale", &op),
	                 STORE_CONFLICT);
	assert_int_equal(op.prev_version, 2);
	assert_int_equal(write1(f->s, STORE_OP_UPDATE, "Patient", "m", 3, "future", &op),
	                 STORE_CONFLICT);
	assert_int_equal(write1(f->s, STORE_OP_DELETE, "Patient", "m", 1, NULL, &op),
	                 STORE_CONFLICT);
	assert_int_equal(store_read(f->s, f->a, "Patient", "m", 0, &v), STORE_OK);
	assert_int_equal(v.version, 2);
	expect_body(&v, "Patient", "m", 2, "v2");
	/* If-Match on something absent conflicts rather than creating it */
	assert_int_equal(write1(f->s, STORE_OP_UPDATE, "Patient", "absent", 1, "x", &op),
	                 STORE_CONFLICT);
	assert_int_equal(store_read(f->s, f->a, "Patient", "absent", 0, &v), STORE_NOT_FOUND);
	/* the right version deletes */
	assert_int_equal(write1(f->s, STORE_OP_DELETE, "Patient", "m", 2, NULL, &op), STORE_OK);
	assert_int_equal(op.version, 3);
	store_version *items;
	assert_int_equal(history_all(f->s, f->a, "Patient", "m", &items), 3);
}

static void test_build(void **state)
{
	fixture *f = *state;
	store_version v;
	/* build sees the new version and time, and runs once */
	body_ctx b = {.tag = "built"};
	store_op op = make_op(STORE_OP_CREATE, "Patient", "b", &b);
	assert_int_equal(store_write(f->s, &op, 1), STORE_OK);
	assert_int_equal(b.calls, 1);
	assert_int_equal(store_read(f->s, f->a, "Patient", "b", 0, &v), STORE_OK);
	assert_int_equal(v.last_updated, op.last_updated);
	expect_body(&v, "Patient", "b", 1, "built");
	/* build refusing fails the op with STORE_INVALID and writes nothing */
	body_ctx no = {.refuse = 1};
	op = make_op(STORE_OP_UPDATE, "Patient", "b", &no);
	assert_int_equal(store_write(f->s, &op, 1), STORE_INVALID);
	assert_int_equal(op.status, STORE_INVALID);
	assert_int_equal(no.calls, 1);
	assert_int_equal(store_read(f->s, f->a, "Patient", "b", 0, &v), STORE_OK);
	assert_int_equal(v.version, 1);
	/* a failed precondition never calls build */
	body_ctx c = {.tag = "x"};
	op = make_op(STORE_OP_UPDATE, "Patient", "b", &c);
	op.if_match = 7;
	assert_int_equal(store_write(f->s, &op, 1), STORE_CONFLICT);
	assert_int_equal(c.calls, 0);
	op = make_op(STORE_OP_CREATE, "Patient", "b", &c);
	assert_int_equal(store_write(f->s, &op, 1), STORE_EXISTS);
	assert_int_equal(c.calls, 0);
	/* the body is stored as bytes, NUL bytes included */
	store_op raw = make_op(STORE_OP_UPDATE, "Binary", "bin", NULL);
	raw.build = build_bytes;
	assert_int_equal(store_write(f->s, &raw, 1), STORE_OK);
	assert_int_equal(store_read(f->s, f->a, "Binary", "bin", 0, &v), STORE_OK);
	assert_int_equal(v.body_len, sizeof BYTES - 1);
	assert_memory_equal(v.body, BYTES, sizeof BYTES);
	/* an update without a build callback stores a version without a body */
	store_op nobody = make_op(STORE_OP_UPDATE, "Binary", "bin", NULL);
	assert_int_equal(store_write(f->s, &nobody, 1), STORE_OK);
	assert_int_equal(store_read(f->s, f->a, "Binary", "bin", 0, &v), STORE_OK);
	assert_int_equal(v.version, 2);
	assert_int_equal(v.body_len, 0);
}

static void test_multi_op_atomic(void **state)
{
	fixture *f = *state;
	store_version v;
	store_op op1;
	assert_int_equal(write1(f->s, STORE_OP_CREATE, "Patient", "taken", 0, "t", &op1), STORE_OK);
	assert_int_equal(write1(f->s, STORE_OP_CREATE, "Patient", "upd", 0, "u1", &op1), STORE_OK);

	/* the last op fails: nothing of the request is applied */
	body_ctx b[4] = {{.tag = "a"}, {.tag = "b"}, {.tag = "c"}, {.tag = "d"}};
	store_op ops[4] = {
	        make_op(STORE_OP_CREATE, "Patient", "new1", &b[0]),
	        make_op(STORE_OP_UPDATE, "Patient", "upd", &b[1]),
	        make_op(STORE_OP_DELETE, "Patient", "taken", NULL),
	        make_op(STORE_OP_CREATE, "Patient", "taken", &b[3]),
	};
	assert_int_equal(store_write(f->s, ops, 4), STORE_EXISTS);
	assert_int_equal(ops[3].status, STORE_EXISTS);
	assert_int_equal(ops[0].status, STORE_OK);
	assert_int_equal(store_read(f->s, f->a, "Patient", "new1", 0, &v), STORE_NOT_FOUND);
	assert_int_equal(store_read(f->s, f->a, "Patient", "upd", 0, &v), STORE_OK);
	assert_int_equal(v.version, 1);
	expect_body(&v, "Patient", "upd", 1, "u1");
	assert_int_equal(store_read(f->s, f->a, "Patient", "upd", 2, &v), STORE_NOT_FOUND);
	assert_int_equal(store_read(f->s, f->a, "Patient", "taken", 0, &v), STORE_OK);
	store_version *items;
	assert_int_equal(history_all(f->s, f->a, NULL, NULL, &items), 2);

	/* a failure in the middle: the ops after it are not applied either */
	body_ctx refuse = {.refuse = 1};
	store_op mid[3] = {
	        make_op(STORE_OP_UPDATE, "Patient", "m1", &b[0]),
	        make_op(STORE_OP_UPDATE, "Patient", "m2", &refuse),
	        make_op(STORE_OP_UPDATE, "Patient", "m3", &b[2]),
	};
	b[2].calls = 0;
	assert_int_equal(store_write(f->s, mid, 3), STORE_INVALID);
	assert_int_equal(mid[1].status, STORE_INVALID);
	assert_int_not_equal(mid[2].status, STORE_OK);
	assert_int_equal(b[2].calls, 0);
	assert_int_equal(store_read(f->s, f->a, "Patient", "m1", 0, &v), STORE_NOT_FOUND);
	assert_int_equal(store_read(f->s, f->a, "Patient", "m3", 0, &v), STORE_NOT_FOUND);

	/* several ops on one resource in one request see each other */
	body_ctx s[3] = {{.tag = "s1"}, {.tag = "s2"}, {.tag = "s3"}};
	store_op same[4] = {
	        make_op(STORE_OP_CREATE, "Patient", "same", &s[0]),
	        make_op(STORE_OP_UPDATE, "Patient", "same", &s[1]),
	        make_op(STORE_OP_DELETE, "Patient", "same", NULL),
	        make_op(STORE_OP_UPDATE, "Patient", "same", &s[2]),
	};
	same[1].if_match = 1;
	assert_int_equal(store_write(f->s, same, 4), STORE_OK);
	assert_int_equal(same[0].version, 1);
	assert_int_equal(same[1].version, 2);
	assert_int_equal(same[2].version, 3);
	assert_int_equal(same[3].version, 4);
	assert_int_equal(same[3].prev_deleted, 1);
	assert_true(same[1].last_updated > same[0].last_updated);
	assert_true(same[3].last_updated > same[2].last_updated);
	assert_int_equal(store_read(f->s, f->a, "Patient", "same", 0, &v), STORE_OK);
	expect_body(&v, "Patient", "same", 4, "s3");
	assert_int_equal(store_read(f->s, f->a, "Patient", "same", 2, &v), STORE_OK);
	expect_body(&v, "Patient", "same", 2, "s2");

	/* an empty request succeeds and changes nothing */
	assert_int_equal(store_write(f->s, NULL, 0), STORE_OK);
}

/* ---- group commit: neighbours of a failing request are unaffected ---- */

typedef struct counter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
} counter;

static void count_done(void *ctx)
{
	counter *c = ctx;
	pthread_mutex_lock(&c->mu);
	c->done++;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void wait_for(counter *c, int n)
{
	pthread_mutex_lock(&c->mu);
	while (c->done < n)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
}

#define NREQ 64

/* A build that holds the writer until the test opens the gate, so that every
 * request queued meanwhile lands in the next group commit together. */
typedef struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int entered, open;
} gate;

static int build_gated(store_op *op, void *ctx)
{
	gate *g = ctx;
	pthread_mutex_lock(&g->mu);
	g->entered = 1;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	op->body = "{}";
	op->body_len = 2;
	return 0;
}

static void test_group_commit_isolation(void **state)
{
	fixture *f = *state;
	static body_ctx b[NREQ];
	static store_op ops[NREQ][2];
	static char ids[NREQ][16];
	counter c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
	store_op first = make_op(STORE_OP_CREATE, "Basic", "gate", NULL);
	first.build = build_gated;
	first.build_ctx = &g;
	assert_int_equal(store_write_async(f->s, &first, 1, count_done, &c), STORE_OK);
	pthread_mutex_lock(&g.mu);
	while (!g.entered)
		pthread_cond_wait(&g.cv, &g.mu);
	pthread_mutex_unlock(&g.mu);
	for (int i = 0; i < NREQ; i++) {
		memset(&b[i], 0, sizeof b[i]);
		b[i].tag = "g";
		snprintf(ids[i], sizeof ids[i], "g%d", i);
		ops[i][0] = make_op(STORE_OP_CREATE, "Patient", ids[i], &b[i]);
		/* every third request fails in its second op */
		ops[i][1] = make_op(STORE_OP_UPDATE, "Patient", "shared-missing", NULL);
		ops[i][1].if_match = i % 3 == 0 ? 1000 : 0; /* a version it never reaches */
		assert_int_equal(store_write_async(f->s, ops[i], 2, count_done, &c), STORE_OK);
	}
	pthread_mutex_lock(&g.mu);
	g.open = 1;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	wait_for(&c, NREQ + 1);
	assert_int_equal(first.status, STORE_OK);
	int64_t shared_versions = 0;
	/* one writer (SQLite) applies them in queue order; several writers
	 * (PostgreSQL) in any order, each version once */
	int ordered = !f->url[0];
	char seen[NREQ + 1] = {0};
	for (int i = 0; i < NREQ; i++) {
		store_version v;
		int rc = store_read(f->s, f->a, "Patient", ids[i], 0, &v);
		if (i % 3 == 0) {
			assert_int_equal(ops[i][1].status, STORE_CONFLICT);
			assert_int_equal(rc, STORE_NOT_FOUND);
		} else {
			assert_int_equal(ops[i][0].status, STORE_OK);
			assert_int_equal(ops[i][1].status, STORE_OK);
			assert_int_equal(rc, STORE_OK);
			expect_body(&v, "Patient", ids[i], 1, "g");
			shared_versions++;
			if (ordered)
				assert_int_equal(ops[i][1].version, shared_versions);
			assert_in_range(ops[i][1].version, 1, NREQ);
			assert_int_equal(seen[ops[i][1].version], 0);
			seen[ops[i][1].version] = 1;
		}
	}
	store_version *items;
	assert_int_equal(history_all(f->s, f->a, "Patient", "shared-missing", &items),
	                 shared_versions);
	/* every successful request's versions are there, and nothing of a failed one */
	size_t n = history_all(f->s, f->a, NULL, NULL, &items);
	assert_int_equal(n, 1 + 2 * (size_t)shared_versions);
	pthread_mutex_destroy(&g.mu);
	pthread_cond_destroy(&g.cv);
	pthread_mutex_destroy(&c.mu);
	pthread_cond_destroy(&c.cv);
}

/* ---- history ---- */

static void test_history_levels_and_paging(void **state)
{
	fixture *f = *state;
	store_op op;
	/* 3 Patients x 3 versions, 2 Observations x 2 versions, one delete */
	const char *pats[] = {"pa", "pb", "pc"};
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 3; i++)
			assert_int_equal(
			        write1(f->s, STORE_OP_UPDATE, "Patient", pats[i], 0, "h", &op),
			        STORE_OK);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(write1(f->s, STORE_OP_UPDATE, "Observation", "oa", 0, "h", &op),
		                 STORE_OK);
		assert_int_equal(write1(f->s, STORE_OP_UPDATE, "Observation", "ob", 0, "h", &op),
		                 STORE_OK);
	}
	assert_int_equal(write1(f->s, STORE_OP_DELETE, "Observation", "oa", 0, NULL, &op),
	                 STORE_OK);

	store_version *all;
	size_t n = history_all(f->s, f->a, NULL, NULL, &all);
	assert_int_equal(n, 14);
	/* newest first, seq strictly decreasing, the newest is the delete */
	assert_string_equal(all[0].type, "Observation");
	assert_string_equal(all[0].id, "oa");
	assert_int_equal(all[0].deleted, 1);
	assert_null(all[0].body);
	assert_int_equal(all[0].version, 3);
	for (size_t i = 1; i < n; i++) {
		assert_true(all[i].seq < all[i - 1].seq);
		assert_true(all[i].last_updated <= all[i - 1].last_updated);
		if (!all[i].deleted)
			expect_body(&all[i], all[i].type, all[i].id, all[i].version, "h");
	}
	store_version *items;
	assert_int_equal(history_all(f->s, f->a, "Patient", NULL, &items), 9);
	for (size_t i = 0; i < 9; i++)
		assert_string_equal(items[i].type, "Patient");
	assert_int_equal(history_all(f->s, f->a, "Observation", NULL, &items), 5);
	assert_int_equal(history_all(f->s, f->a, "Patient", "pb", &items), 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(items[i].id, "pb");
		assert_int_equal(items[i].version, 3 - (int64_t)i);
	}
	assert_int_equal(history_all(f->s, f->a, "Observation", "oa", &items), 3);
	assert_int_equal(history_all(f->s, f->a, "Patient", "none", &items), 0);
	assert_int_equal(history_all(f->s, f->a, "Encounter", NULL, &items), 0);
	/* an id without a type matches that id under any type */
	assert_int_equal(write1(f->s, STORE_OP_UPDATE, "Group", "pb", 0, "h", &op), STORE_OK);
	assert_int_equal(history_all(f->s, f->a, NULL, "pb", &items), 4);
	n = history_all(f->s, f->a, NULL, NULL, &all);
	assert_int_equal(n, 15);

	/* paging with before_seq: every page size walks the same list */
	for (size_t count = 1; count <= 16; count++) {
		int64_t before = 0;
		size_t got = 0, pages = 0;
		for (;;) {
			store_history_query q = {.count = count, .before_seq = before};
			store_version *page;
			size_t k = 99;
			int more = -1;
			assert_int_equal(store_history(f->s, f->a, &q, &page, &k, &more), STORE_OK);
			pages++;
			assert_true(k <= count);
			for (size_t i = 0; i < k; i++) {
				assert_true(got + i < n);
				assert_int_equal(page[i].seq, all[got + i].seq);
				assert_string_equal(page[i].id, all[got + i].id);
			}
			got += k;
			if (!more) {
				assert_true(k <= count);
				break;
			}
			assert_int_equal(k, count); /* only full pages have a next one */
			before = page[k - 1].seq;
		}
		assert_int_equal(got, n);
		assert_int_equal(pages, (n + count - 1) / count);
	}
	/* a page of 0: nothing, but there is more */
	store_history_query zero = {.count = 0};
	store_version *none;
	size_t k0 = 99;
	int more0 = 0;
	assert_int_equal(store_history(f->s, f->a, &zero, &none, &k0, &more0), STORE_OK);
	assert_int_equal(k0, 0);
	assert_int_equal(more0, 1);
	zero.type = "Encounter";
	assert_int_equal(store_history(f->s, f->a, &zero, &none, &k0, &more0), STORE_OK);
	assert_int_equal(more0, 0);
	/* a cursor below every seq gives an empty last page */
	zero = (store_history_query){.count = 10, .before_seq = all[n - 1].seq};
	assert_int_equal(store_history(f->s, f->a, &zero, &none, &k0, &more0), STORE_OK);
	assert_int_equal(k0, 0);
	assert_int_equal(more0, 0);
	/* paging at the type level and instance level */
	int64_t before = 0;
	size_t got = 0;
	int more = 1;
	while (more) {
		store_history_query q = {.type = "Patient", .count = 2, .before_seq = before};
		store_version *page;
		size_t k;
		assert_int_equal(store_history(f->s, f->a, &q, &page, &k, &more), STORE_OK);
		for (size_t i = 0; i < k; i++)
			assert_string_equal(page[i].type, "Patient");
		got += k;
		if (k)
			before = page[k - 1].seq;
	}
	assert_int_equal(got, 9);
	store_history_query q = {.type = "Patient", .id = "pa", .count = 2};
	store_version *page;
	size_t k;
	assert_int_equal(store_history(f->s, f->a, &q, &page, &k, &more), STORE_OK);
	assert_int_equal(k, 2);
	assert_int_equal(more, 1);
	assert_int_equal(page[0].version, 3);
	assert_int_equal(page[1].version, 2);
	q.before_seq = page[1].seq;
	assert_int_equal(store_history(f->s, f->a, &q, &page, &k, &more), STORE_OK);
	assert_int_equal(k, 1);
	assert_int_equal(more, 0);
	assert_int_equal(page[0].version, 1);
}

static void test_history_since_and_at(void **state)
{
	fixture *f = *state;
	store_op op;
	int64_t t[4];
	/* x: v1 at t[0], v2 at t[1], v3 (deleted) at t[2]; y: v1 at t[3] */
	assert_int_equal(write1(f->s, STORE_OP_CREATE, "Patient", "x", 0, "1", &op), STORE_OK);
	t[0] = op.last_updated;
	usleep(2000);
	assert_int_equal(write1(f->s, STORE_OP_UPDATE, "Patient", "x", 0, "2", &op), STORE_OK);
	t[1] = op.last_updated;
	usleep(2000);
	assert_int_equal(write1(f->s, STORE_OP_DELETE, "Patient", "x", 0, NULL, &op), STORE_OK);
	t[2] = op.last_updated;
	usleep(2000);
	assert_int_equal(write1(f->s, STORE_OP_CREATE, "Patient", "y", 0, "1", &op), STORE_OK);
	t[3] = op.last_updated;
	assert_true(t[0] < t[1] && t[1] < t[2] && t[2] < t[3]);

	store_version *items;
	size_t n;
	int more;
	/* _since is inclusive */
	store_history_query q = {.count = 100, .since = t[1]};
	assert_int_equal(store_history(f->s, f->a, &q, &items, &n, &more), STORE_OK);
	assert_int_equal(n, 3);
	assert_string_equal(items[0].id, "y");
	assert_int_equal(items[1].version, 3);
	assert_int_equal(items[2].version, 2);
	q.since = t[1] + 1;
	assert_int_equal(store_history(f->s, f->a, &q, &items, &n, &more), STORE_OK);
	assert_int_equal(n, 2);
	q.since = t[3] + 1;
	assert_int_equal(store_history(f->s, f->a, &q, &items, &n, &more), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(more, 0);
	q = (store_history_query){
	        .type = "Patient", .id = "x", .count = 100, .since = t[0] - 1000000};
	assert_int_equal(store_history(f->s, f->a, &q, &items, &n, &more), STORE_OK);
	assert_int_equal(n, 3);

	/* _at: the versions current at some moment of [at_start, at_end] */
	struct {
		int64_t lo, hi;
		const char *want; /* "id:version" of the result, newest first */
	} at[] = {
	        {t[0] - 10, t[0] - 1, ""},
	        {t[0], t[0], "x:1"},
	        {t[0] + 1, t[1] - 1, "x:1"},
	        {t[1], t[1], "x:2"},
	        {t[1] - 1, t[1], "x:2 x:1"},
	        {t[0], t[2] - 1, "x:2 x:1"},
	        {t[2], t[2], "x:3"},
	        {t[2] + 1, t[3] - 1, "x:3"},
	        {t[3], t[3], "y:1 x:3"},
	        {t[0], t[3], "y:1 x:3 x:2 x:1"},
	        {t[3] + 1000000, t[3] + 2000000, "y:1 x:3"},
	};
	for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
		q = (store_history_query){.count = 100, .at_start = at[i].lo, .at_end = at[i].hi};
		assert_int_equal(store_history(f->s, f->a, &q, &items, &n, &more), STORE_OK);
		char got[128] = "";
		size_t len = 0;
		for (size_t k = 0; k < n; k++)
			len += (size_t)snprintf(got + len, sizeof got - len, "%s%s:%lld",
			                        k ? " " : "", items[k].id,
			                        (long long)items[k].version);
		if (strcmp(got, at[i].want))
			fail_msg("_at [%lld,%lld] (case %zu) gave '%s', wanted '%s'",
			         (long long)at[i].lo, (long long)at[i].hi, i, got, at[i].want);
	}
	/* _at narrowed to an instance */
	q = (store_history_query){
	        .type = "Patient", .id = "y", .count = 100, .at_start = t[1], .at_end = t[1]};
	assert_int_equal(store_history(f->s, f->a, &q, &items, &n, &more), STORE_OK);
	assert_int_equal(n, 0);
}

static void test_last_updated_monotonic(void **state)
{
	fixture *f = *state;
	store_op op;
	int64_t prev = 0;
	for (int i = 0; i < 200; i++) {
		assert_int_equal(write1(f->s, STORE_OP_UPDATE, "Patient", "mono", 0, "m", &op),
		                 STORE_OK);
		assert_int_equal(op.version, i + 1);
		assert_true(op.last_updated > prev);
		prev = op.last_updated;
	}
	/* many versions in one request still get increasing times */
	body_ctx b[50];
	store_op ops[50];
	for (int i = 0; i < 50; i++) {
		memset(&b[i], 0, sizeof b[i]);
		b[i].tag = "batch";
		ops[i] = make_op(STORE_OP_UPDATE, "Patient", "mono", &b[i]);
	}
	assert_int_equal(store_write(f->s, ops, 50), STORE_OK);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(ops[i].version, 201 + i);
		assert_true(ops[i].last_updated > prev);
		prev = ops[i].last_updated;
	}
	store_version *items;
	size_t n = history_all(f->s, f->a, "Patient", "mono", &items);
	assert_int_equal(n, 250);
	for (size_t i = 1; i < n; i++)
		assert_true(items[i].last_updated < items[i - 1].last_updated);
}

/* ---- concurrency ---- */

#define NTHREADS 8
#define NWRITES  40

typedef struct worker {
	store *s;
	int index;
	int64_t versions[NWRITES]; /* versions this thread got on the shared resource */
	int failures;
} worker;

static void *worker_main(void *arg)
{
	worker *w = arg;
	arena *a = arena_new(0);
	char tag[32], own[32];
	snprintf(own, sizeof own, "own-%d", w->index);
	for (int i = 0; i < NWRITES; i++) {
		snprintf(tag, sizeof tag, "t%d-%d", w->index, i);
		body_ctx b[2] = {{.tag = tag}, {.tag = tag}};
		store_op ops[2] = {make_op(STORE_OP_UPDATE, "Patient", "shared", &b[0]),
		                   make_op(STORE_OP_UPDATE, "Observation", own, &b[1])};
		if (store_write(w->s, ops, 2) != STORE_OK) {
			w->failures++;
			continue;
		}
		w->versions[i] = ops[0].version;
		if (ops[1].version != i + 1)
			w->failures++;
		/* read back on this thread while the others keep writing */
		store_version v;
		if (store_read(w->s, a, "Observation", own, 0, &v) != STORE_OK ||
		    v.version != i + 1 || !strstr(v.body, tag))
			w->failures++;
		if (store_read(w->s, a, "Patient", "shared", ops[0].version, &v) != STORE_OK ||
		    !strstr(v.body, tag))
			w->failures++;
		arena_reset(a);
	}
	arena_free(a);
	return NULL;
}

static void test_concurrent_writers(void **state)
{
	fixture *f = *state;
	pthread_t th[NTHREADS];
	worker w[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].s = f->s;
		w[i].index = i;
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	/* every write got its own version, and together they are 1..N */
	int seen[NTHREADS * NWRITES + 1] = {0};
	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(w[i].failures, 0);
		for (int k = 0; k < NWRITES; k++) {
			int64_t v = w[i].versions[k];
			assert_true(v >= 1 && v <= NTHREADS * NWRITES);
			assert_int_equal(seen[v], 0);
			seen[v] = 1;
			/* one thread's writes are in its own order */
			if (k)
				assert_true(v > w[i].versions[k - 1]);
		}
	}
	store_version v;
	assert_int_equal(store_read(f->s, f->a, "Patient", "shared", 0, &v), STORE_OK);
	assert_int_equal(v.version, NTHREADS * NWRITES);
	store_version *items;
	size_t n = history_all(f->s, f->a, "Patient", "shared", &items);
	assert_int_equal(n, NTHREADS * NWRITES);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(items[i].version, (int64_t)(n - i));
		/* the body is the one its writer built for that version */
		const char *tag = strstr(items[i].body, "\"tag\":\"t");
		assert_non_null(tag);
		char want[32];
		snprintf(want, sizeof want, "%.*s", (int)strcspn(tag + 7, "\""), tag + 7);
		int wi = -1, k = -1;
		assert_int_equal(sscanf(want, "t%d-%d", &wi, &k), 2);
		assert_true(wi >= 0 && wi < NTHREADS && k >= 0 && k < NWRITES);
		assert_int_equal(w[wi].versions[k], items[i].version);
		expect_body(&items[i], "Patient", "shared", items[i].version, want);
	}
	int64_t count = 0;
	assert_int_equal(store_count(f->s, "Observation", &count), STORE_OK);
	assert_int_equal(count, NTHREADS);
	assert_int_equal(history_all(f->s, f->a, NULL, NULL, &items), 2 * NTHREADS * NWRITES);
}

/* ---- durability across close and open ---- */

static void test_reopen(void **state)
{
	fixture *f = *state;
	store_op op;
	assert_int_equal(write1(f->s, STORE_OP_CREATE, "Patient", "keep", 0, "k1", &op), STORE_OK);
	assert_int_equal(write1(f->s, STORE_OP_UPDATE, "Patient", "keep", 0, "k2", &op), STORE_OK);
	int64_t lu2 = op.last_updated;
	assert_int_equal(write1(f->s, STORE_OP_CREATE, "Patient", "gone", 0, "g", &op), STORE_OK);
	assert_int_equal(write1(f->s, STORE_OP_DELETE, "Patient", "gone", 0, NULL, &op), STORE_OK);
	/* writes still queued at close are finished first */
	static body_ctx b[20];
	static store_op ops[20];
	static char ids[20][16];
	counter c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	for (int i = 0; i < 20; i++) {
		memset(&b[i], 0, sizeof b[i]);
		b[i].tag = "q";
		snprintf(ids[i], sizeof ids[i], "q%d", i);
		ops[i] = make_op(STORE_OP_CREATE, "Observation", ids[i], &b[i]);
		assert_int_equal(store_write_async(f->s, &ops[i], 1, count_done, &c), STORE_OK);
	}
	store_close(f->s);
	assert_int_equal(c.done, 20);
	for (int i = 0; i < 20; i++)
		assert_int_equal(ops[i].status, STORE_OK);

	open_store(f);
	store_version v;
	assert_int_equal(store_read(f->s, f->a, "Patient", "keep", 0, &v), STORE_OK);
	assert_int_equal(v.version, 2);
	assert_int_equal(v.last_updated, lu2);
	expect_body(&v, "Patient", "keep", 2, "k2");
	assert_int_equal(store_read(f->s, f->a, "Patient", "keep", 1, &v), STORE_OK);
	expect_body(&v, "Patient", "keep", 1, "k1");
	assert_int_equal(store_read(f->s, f->a, "Patient", "gone", 0, &v), STORE_GONE);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(store_read(f->s, f->a, "Observation", ids[i], 0, &v), STORE_OK);
		expect_body(&v, "Observation", ids[i], 1, "q");
	}
	store_version *items;
	size_t n = history_all(f->s, f->a, NULL, NULL, &items);
	assert_int_equal(n, 24);
	/* and writing continues where it left off */
	assert_int_equal(write1(f->s, STORE_OP_UPDATE, "Patient", "keep", 0, "k3", &op), STORE_OK);
	assert_int_equal(op.version, 3);
	assert_true(op.last_updated > lu2);
	assert_int_equal(write1(f->s, STORE_OP_CREATE, "Patient", "keep", 0, "k", &op),
	                 STORE_EXISTS);
	int64_t seq_before = items[0].seq;
	assert_int_equal(store_read(f->s, f->a, "Patient", "keep", 0, &v), STORE_OK);
	assert_true(v.seq > seq_before);
	pthread_mutex_destroy(&c.mu);
	pthread_cond_destroy(&c.cv);

	/* closing and opening again, twice in a row */
	store_close(f->s);
	open_store(f);
	assert_int_equal(store_read(f->s, f->a, "Patient", "keep", 0, &v), STORE_OK);
	assert_int_equal(v.version, 3);
}

static void test_count(void **state)
{
	fixture *f = *state;
	store_op op;
	int64_t n = -1;
	assert_int_equal(store_count(f->s, NULL, &n), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(store_count(f->s, "Patient", &n), STORE_OK);
	assert_int_equal(n, 0);
	for (int i = 0; i < 5; i++) {
		char id[16];
		snprintf(id, sizeof id, "c%d", i);
		assert_int_equal(write1(f->s, STORE_OP_CREATE, "Patient", id, 0, "c", &op),
		                 STORE_OK);
		assert_int_equal(write1(f->s, STORE_OP_UPDATE, "Patient", id, 0, "c", &op),
		                 STORE_OK);
	}
	assert_int_equal(write1(f->s, STORE_OP_CREATE, "Observation", "c0", 0, "c", &op), STORE_OK);
	assert_int_equal(write1(f->s, STORE_OP_DELETE, "Patient", "c1", 0, NULL, &op), STORE_OK);
	assert_int_equal(write1(f->s, STORE_OP_DELETE, "Patient", "c2", 0, NULL, &op), STORE_OK);
	assert_int_equal(write1(f->s, STORE_OP_UPDATE, "Patient", "c2", 0, "back", &op), STORE_OK);
	assert_int_equal(store_count(f->s, "Patient", &n), STORE_OK);
	assert_int_equal(n, 4); /* versions do not count, deleted ones do not count */
	assert_int_equal(store_count(f->s, "Observation", &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_count(f->s, "Encounter", &n), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(store_count(f->s, NULL, &n), STORE_OK);
	assert_int_equal(n, 5);
}

/* A read past the thread's deadline (--request-timeout) stops with
 * STORE_TIMEOUT; without one, or before it, the same read runs. */
static void test_deadline(void **state)
{
	fixture *f = *state;
	store_op op;
	for (int i = 0; i < 50; i++) {
		char id[16];
		snprintf(id, sizeof id, "d%d", i);
		assert_int_equal(write1(f->s, STORE_OP_CREATE, "Patient", id, 0, "d", &op),
		                 STORE_OK);
	}
	/* 50^3 rows to look at: far more than the steps between two checks */
	search_sql q = {.where = "r.deleted = 0 AND r.rid IN (SELECT a.rid FROM resource a, "
	                         "resource b, resource c WHERE a.rid + b.rid + c.rid > 0)",
	                .order_by = "r.rid"};
	arena *a = arena_new(4096);
	store_version *items;
	size_t n;
	int more;
	int64_t count;
	store_deadline_set(store_now_us() - 1);
	assert_int_equal(store_search(f->s, a, &q, 10, 0, &items, &n, &more), STORE_TIMEOUT);
	assert_int_equal(store_search_count(f->s, &q, &count), STORE_TIMEOUT);
	store_deadline_set(store_now_us() + 60 * 1000000LL);
	assert_int_equal(store_search(f->s, a, &q, 10, 0, &items, &n, &more), STORE_OK);
	assert_int_equal(n, 10);
	store_deadline_set(0);
	assert_int_equal(store_search_count(f->s, &q, &count), STORE_OK);
	assert_int_equal(count, 50);
	assert_int_equal(store_deadline(), 0);
	arena_free(a);
}

static void test_odd_ids(void **state)
{
	fixture *f = *state;
	store_op op;
	store_version v;
	/* ids and types are data, never SQL */
	const char *ids[] = {"a'b", "x\"; DROP TABLE resource; --", "%", "_", "A-1.b", "a"};
	for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
		assert_int_equal(write1(f->s, STORE_OP_CREATE, "Patient", ids[i], 0, "odd", &op),
		                 STORE_OK);
	for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
		assert_int_equal(store_read(f->s, f->a, "Patient", ids[i], 0, &v), STORE_OK);
		assert_string_equal(v.id, ids[i]);
	}
	/* ids are case sensitive, and LIKE wildcards match nothing else */
	assert_int_equal(store_read(f->s, f->a, "Patient", "A", 0, &v), STORE_NOT_FOUND);
	store_version *items;
	assert_int_equal(history_all(f->s, f->a, "Patient", "%", &items), 1);
	assert_int_equal(history_all(f->s, f->a, "patient", NULL, &items), 0);
	int64_t n;
	assert_int_equal(store_count(f->s, "Patient", &n), STORE_OK);
	assert_int_equal(n, 6);
}

#define CASES(setup_fn)                                                                            \
	cmocka_unit_test_setup_teardown(test_crud, setup_fn, teardown),                            \
	        cmocka_unit_test_setup_teardown(test_create_exists, setup_fn, teardown),           \
	        cmocka_unit_test_setup_teardown(test_if_match, setup_fn, teardown),                \
	        cmocka_unit_test_setup_teardown(test_build, setup_fn, teardown),                   \
	        cmocka_unit_test_setup_teardown(test_multi_op_atomic, setup_fn, teardown),         \
	        cmocka_unit_test_setup_teardown(test_group_commit_isolation, setup_fn, teardown),  \
	        cmocka_unit_test_setup_teardown(test_history_levels_and_paging, setup_fn,          \
	                                        teardown),                                         \
	        cmocka_unit_test_setup_teardown(test_history_since_and_at, setup_fn, teardown),    \
	        cmocka_unit_test_setup_teardown(test_last_updated_monotonic, setup_fn, teardown),  \
	        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup_fn, teardown),      \
	        cmocka_unit_test_setup_teardown(test_reopen, setup_fn, teardown),                  \
	        cmocka_unit_test_setup_teardown(test_count, setup_fn, teardown),                   \
	        cmocka_unit_test_setup_teardown(test_deadline, setup_fn, teardown),                \
	        cmocka_unit_test_setup_teardown(test_odd_ids, setup_fn, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_open_errors),
	        CASES(setup),
	};
	const struct CMUnitTest pg_tests[] = {CASES(setup_pg)};
	const struct CMUnitTest key_tests[] = {CASES(setup_key)};
	const struct CMUnitTest pg_key_tests[] = {CASES(setup_pg_key)};
	int failed = cmocka_run_group_tests_name("store (sqlite)", tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("store (sqlite, encrypted)", key_tests, NULL, NULL);
	pg_url = getenv("BRON_TEST_PG_URL");
	if (pg_url && *pg_url) {
		failed += cmocka_run_group_tests_name("store (postgresql)", pg_tests, NULL, NULL);
		failed += cmocka_run_group_tests_name("store (postgresql, encrypted)", pg_key_tests,
		                                      NULL, NULL);
	} else
		printf("store (postgresql): BRON_TEST_PG_URL not set; the PostgreSQL cases did not "
		       "run\n");
	return failed;
}
