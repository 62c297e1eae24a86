/*
 * store_sqlite.c - the embedded engine of store.h on SQLite in WAL mode.
 * One writer thread owns the write connection and commits every queued
 * request of a round in one transaction (group commit), each request inside
 * its own savepoint so one failing request does not undo its neighbours.
 * Readers use one connection per thread (thread-local, registered with the
 * store so store_close can close them); WAL lets them run beside the writer.
 */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define INDEX_KINDS  8 /* search_row_kind values */
#define INDEX_TABLES 9 /* sp_* tables including sp_compartment */

typedef struct write_req {
	store_op *ops;
	size_t n;
	store_done_fn done;
	void *ctx;
	struct write_req *next;
} write_req;

typedef struct reader {
	sqlite3 *db;
	sqlite3_stmt *read_current;
	sqlite3_stmt *read_version;
	struct reader *next;
} reader;

struct store {
	uint64_t serial; /* tells thread-local readers which store they belong to */
	char *path;      /* database file */
	sqlite3 *wdb;    /* writer connection, owned by the writer thread */
	sqlite3_stmt *w_get, *w_insert_version, *w_insert_current, *w_update_current;
	sqlite3_stmt *w_contained_rids, *w_drop_contained, *w_insert_contained;
	sqlite3_stmt *w_index[INDEX_KINDS];    /* inserts per search_row_kind */
	sqlite3_stmt *w_unindex[INDEX_TABLES]; /* deletes of a resource's rows */
	sqlite3_stmt *w_compartment;
	sqlite3_stmt *w_savepoint, *w_release, *w_rollback_to; /* per request of a group */
	pthread_t writer;
	pthread_mutex_t mu; /* guards queue, stopping, readers */
	pthread_cond_t cv;
	write_req *head, *tail;
	int stopping;
	size_t max_group;
	reader *readers; /* every reader connection, closed by store_close */
};

static atomic_uint_fast64_t next_serial = 1;

/* The store's own tables; the search index tables come from search_schema_sql(). */
static const char *schema_sql =
        "CREATE TABLE IF NOT EXISTS resource_version("
        "  seq INTEGER PRIMARY KEY," /* global write order */
        "  type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,"
        "  last_updated INTEGER NOT NULL, deleted INTEGER NOT NULL, body BLOB);"
        "CREATE UNIQUE INDEX IF NOT EXISTS resource_version_key ON resource_version(type, id, "
        "version);"
        "CREATE INDEX IF NOT EXISTS resource_version_type ON resource_version(type, seq);"
        "CREATE TABLE IF NOT EXISTS resource("
        "  rid INTEGER PRIMARY KEY," /* the key of every index row */
        "  type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,"
        "  deleted INTEGER NOT NULL, last_updated INTEGER NOT NULL, seq INTEGER NOT NULL,"
        "  container INTEGER," /* contained resources (deleted = 2): the container's rid */
        "  UNIQUE(type, id));"
        "CREATE INDEX IF NOT EXISTS resource_container ON resource(container) "
        "WHERE container IS NOT NULL;"
        "CREATE INDEX IF NOT EXISTS resource_type_updated ON resource(type, last_updated);"
        "CREATE INDEX IF NOT EXISTS resource_type_live ON resource(type, deleted);"
        "CREATE TABLE IF NOT EXISTS bron_schema(version INTEGER NOT NULL);"
        "INSERT INTO bron_schema SELECT 6 WHERE NOT EXISTS (SELECT 1 FROM bron_schema);";

#define SCHEMA_VERSION 6

/* Index row tables in search_row_kind order, with their insert statements. */
static const char *const index_insert_sql[] = {
        "INSERT OR IGNORE INTO sp_string(pid,rid,grp,norm,exact) VALUES(?1,?2,?3,?4,?5)",
        "INSERT OR IGNORE INTO sp_token(pid,rid,grp,system,code,text) VALUES(?1,?2,?3,?4,?5,?6)",
        "INSERT OR IGNORE INTO sp_date(pid,rid,grp,lo,hi) VALUES(?1,?2,?3,?4,?5)",
        "INSERT OR IGNORE INTO sp_number(pid,rid,grp,value,lo,hi) VALUES(?1,?2,?3,?4,?5,?6)",
        "INSERT OR IGNORE INTO sp_quantity(pid,rid,grp,value,lo,hi,system,code,cvalue,ccode) "
        "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
        "INSERT OR IGNORE INTO sp_reference(pid,rid,grp,ttype,tid,url,isystem,ivalue) "
        "VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
        "INSERT OR IGNORE INTO sp_uri(pid,rid,grp,uri) VALUES(?1,?2,?3,?4)",
        "INSERT OR IGNORE INTO sp_text(pid,rid,norm) VALUES(?1,?2,?4)",
};
_Static_assert(sizeof index_insert_sql / sizeof *index_insert_sql == INDEX_KINDS,
               "one per row kind");

static const char *const index_delete_sql[] = {
        "DELETE FROM sp_string WHERE rid=?1",      "DELETE FROM sp_token WHERE rid=?1",
        "DELETE FROM sp_date WHERE rid=?1",        "DELETE FROM sp_number WHERE rid=?1",
        "DELETE FROM sp_quantity WHERE rid=?1",    "DELETE FROM sp_reference WHERE rid=?1",
        "DELETE FROM sp_uri WHERE rid=?1",         "DELETE FROM sp_text WHERE rid=?1",
        "DELETE FROM sp_compartment WHERE rid=?1",
};
_Static_assert(sizeof index_delete_sql / sizeof *index_delete_sql == INDEX_TABLES, "one per table");

static char *errdup(sqlite3 *db, const char *what)
{
	size_t n = strlen(what) + 256;
	char *m = base_malloc(n);
	snprintf(m, n, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
	return m;
}

static int open_conn(const char *path, int readonly, sqlite3 **out)
{
	int flags =
	        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (readonly ? 0 : SQLITE_OPEN_CREATE);
	int rc = sqlite3_open_v2(path, out, flags, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_busy_timeout(*out, 10000);
	return SQLITE_OK;
}

static void *writer_main(void *arg);

/* The store's schema version: 0 for a new database (no bron_schema yet). */
static int schema_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT version FROM bron_schema", -1, &st, NULL) != SQLITE_OK)
		return 0;
	int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	return version;
}

/* Refuse a store written by another schema version, before touching it. */
static int check_schema_version(sqlite3 *db, char **err)
{
	int version = schema_version(db);
	if (version == SCHEMA_VERSION || version == 0)
		return 0;
	*err = base_malloc(200);
	snprintf(*err, 200,
	         "the store has schema version %d; this bron knows version %d only (export it with "
	         "the bron that wrote it, or start from a new data directory)",
	         version, SCHEMA_VERSION);
	return -1;
}

static int prepare_writer(store *s)
{
	sqlite3 *db = s->wdb;
	if (sqlite3_prepare_v2(db,
	                       "SELECT version, deleted, last_updated, rid FROM resource "
	                       "WHERE type=?1 AND id=?2",
	                       -1, &s->w_get, NULL) ||
	    sqlite3_prepare_v2(
	            db,
	            "INSERT INTO resource_version(type,id,version,last_updated,deleted,body) "
	            "VALUES(?1,?2,?3,?4,?5,?6)",
	            -1, &s->w_insert_version, NULL) ||
	    sqlite3_prepare_v2(db,
	                       "INSERT INTO resource(type,id,version,deleted,last_updated,seq) "
	                       "VALUES(?1,?2,?3,?4,?5,?6)",
	                       -1, &s->w_insert_current, NULL) ||
	    sqlite3_prepare_v2(
	            db,
	            "UPDATE resource SET version=?2, deleted=?3, last_updated=?4, seq=?5 "
	            "WHERE rid=?1",
	            -1, &s->w_update_current, NULL) ||
	    sqlite3_prepare_v2(db,
	                       "INSERT OR IGNORE INTO sp_compartment(rid,patient) VALUES(?1,?2)",
	                       -1, &s->w_compartment, NULL) ||
	    sqlite3_prepare_v2(db, "SELECT rid FROM resource WHERE container=?1", -1,
	                       &s->w_contained_rids, NULL) ||
	    sqlite3_prepare_v2(db, "DELETE FROM resource WHERE container=?1", -1,
	                       &s->w_drop_contained, NULL) ||
	    sqlite3_prepare_v2(
	            db,
	            "INSERT INTO resource(type,id,version,deleted,last_updated,seq,container) "
	            "VALUES(?1,?2,?3,2,?4,?5,?6)",
	            -1, &s->w_insert_contained, NULL) ||
	    sqlite3_prepare_v2(db, "SAVEPOINT req", -1, &s->w_savepoint, NULL) ||
	    sqlite3_prepare_v2(db, "RELEASE req", -1, &s->w_release, NULL) ||
	    sqlite3_prepare_v2(db, "ROLLBACK TO req", -1, &s->w_rollback_to, NULL))
		return -1;
	for (size_t i = 0; i < INDEX_KINDS; i++)
		if (sqlite3_prepare_v2(db, index_insert_sql[i], -1, &s->w_index[i], NULL))
			return -1;
	for (size_t i = 0; i < INDEX_TABLES; i++)
		if (sqlite3_prepare_v2(db, index_delete_sql[i], -1, &s->w_unindex[i], NULL))
			return -1;
	return 0;
}

static void finalize_writer(store *s)
{
	sqlite3_finalize(s->w_get);
	sqlite3_finalize(s->w_insert_version);
	sqlite3_finalize(s->w_insert_current);
	sqlite3_finalize(s->w_update_current);
	sqlite3_finalize(s->w_compartment);
	sqlite3_finalize(s->w_contained_rids);
	sqlite3_finalize(s->w_drop_contained);
	sqlite3_finalize(s->w_insert_contained);
	sqlite3_finalize(s->w_savepoint);
	sqlite3_finalize(s->w_release);
	sqlite3_finalize(s->w_rollback_to);
	for (size_t i = 0; i < INDEX_KINDS; i++)
		sqlite3_finalize(s->w_index[i]);
	for (size_t i = 0; i < INDEX_TABLES; i++)
		sqlite3_finalize(s->w_unindex[i]);
}

static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

/* Process-wide SQLite settings, before its first use: no memory statistics
 * (they take a global mutex on every allocation, and Bron does not read them). */
static void sqlite_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int store_open(const store_options *opts, store **out, char **err)
{
	pthread_once(&sqlite_once, sqlite_setup);
	*err = NULL;
	if (mkdir(opts->dir, 0700) != 0 && errno != EEXIST) {
		size_t n = strlen(opts->dir) + 128;
		*err = base_malloc(n);
		snprintf(*err, n, "cannot create data directory %s: %s", opts->dir,
		         strerror(errno));
		return STORE_ERROR;
	}
	store *s = base_calloc(1, sizeof *s);
	s->serial = atomic_fetch_add(&next_serial, 1);
	size_t n = strlen(opts->dir) + 16;
	s->path = base_malloc(n);
	snprintf(s->path, n, "%s/bron.db", opts->dir);
	s->max_group = opts->max_group ? opts->max_group : 256;
	if (open_conn(s->path, 0, &s->wdb) != SQLITE_OK) {
		*err = errdup(s->wdb, "cannot open database");
		goto fail;
	}
	char *msg = NULL;
	/* the writer checkpoints (SQLite's auto-checkpoint at commit): a checkpoint
	 * on another thread never catches up with a busy writer, and the WAL
	 * only restarts after a complete one */
	char pragmas[256];
	snprintf(pragmas, sizeof pragmas,
	         "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA cache_size=-%zu; "
	         "PRAGMA temp_store=MEMORY;",
	         opts->sync_full == 0 ? "NORMAL" : "FULL", opts->cache_kb ? opts->cache_kb : 4096);
	if (check_schema_version(s->wdb, err))
		goto fail;
	if (sqlite3_exec(s->wdb, pragmas, NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(s->wdb, schema_sql, NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(s->wdb, search_schema_sql(SEARCH_SQLITE), NULL, NULL, &msg) != SQLITE_OK) {
		size_t m = 256 + (msg ? strlen(msg) : 0);
		*err = base_malloc(m);
		snprintf(*err, m, "cannot set up database %s: %s", s->path, msg ? msg : "?");
		sqlite3_free(msg);
		goto fail;
	}
	if (schema_version(s->wdb) != SCHEMA_VERSION || prepare_writer(s)) {
		if (!*err)
			*err = errdup(s->wdb, "cannot prepare statements");
		goto fail;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
		*err = base_strdup("cannot start the writer thread");
		pthread_mutex_destroy(&s->mu);
		pthread_cond_destroy(&s->cv);
		goto fail;
	}
	*out = s;
	return STORE_OK;
fail:
	finalize_writer(s);
	sqlite3_close(s->wdb);
	free(s->path);
	free(s);
	return STORE_ERROR;
}

void store_close(store *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->writer, NULL);
	for (reader *r = s->readers, *next; r; r = next) {
		next = r->next;
		sqlite3_finalize(r->read_current);
		sqlite3_finalize(r->read_version);
		sqlite3_close(r->db);
		free(r);
	}
	finalize_writer(s);
	/* a clean close checkpoints the WAL into the main file */
	sqlite3_close(s->wdb);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->path);
	free(s);
}

/* ---- readers ---- */

static _Thread_local struct {
	uint64_t serial;
	reader *r;
} tl_reader;

static reader *get_reader(store *s)
{
	if (tl_reader.serial == s->serial && tl_reader.r)
		return tl_reader.r;
	reader *r = base_calloc(1, sizeof *r);
	if (open_conn(s->path, 1, &r->db) != SQLITE_OK ||
	    sqlite3_prepare_v2(
	            r->db,
	            "SELECT r.version, r.deleted, r.last_updated, v.body, r.seq, r.rid FROM "
	            "resource r "
	            "JOIN resource_version v ON v.seq = r.seq WHERE r.type=?1 AND r.id=?2",
	            -1, &r->read_current, NULL) ||
	    sqlite3_prepare_v2(
	            r->db,
	            "SELECT version, deleted, last_updated, body, seq FROM resource_version "
	            "WHERE type=?1 AND id=?2 AND version=?3",
	            -1, &r->read_version, NULL)) {
		fprintf(stderr, "bron: cannot open a reader on %s: %s\n", s->path,
		        r->db ? sqlite3_errmsg(r->db) : "out of memory");
		sqlite3_finalize(r->read_current);
		sqlite3_close(r->db);
		free(r);
		return NULL;
	}
	pthread_mutex_lock(&s->mu);
	r->next = s->readers;
	s->readers = r;
	pthread_mutex_unlock(&s->mu);
	tl_reader.serial = s->serial;
	tl_reader.r = r;
	return r;
}

static void fill_version(arena *a, sqlite3_stmt *st, int col0, store_version *out)
{
	out->version = sqlite3_column_int64(st, col0);
	out->deleted = sqlite3_column_int(st, col0 + 1);
	out->last_updated = sqlite3_column_int64(st, col0 + 2);
	const void *b = sqlite3_column_blob(st, col0 + 3);
	size_t len = (size_t)sqlite3_column_bytes(st, col0 + 3);
	out->body = b ? arena_memdup(a, b, len) : NULL;
	out->body_len = b ? len : 0;
	out->seq = sqlite3_column_int64(st, col0 + 4);
	out->rid = sqlite3_column_count(st) > col0 + 5 ? sqlite3_column_int64(st, col0 + 5) : 0;
}

int store_read(store *s, arena *a, const char *type, const char *id, int64_t version,
               store_version *out)
{
	reader *r = get_reader(s);
	if (!r)
		return STORE_ERROR;
	sqlite3_stmt *st = version ? r->read_version : r->read_current;
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	if (version)
		sqlite3_bind_int64(st, 3, version);
	int rc = sqlite3_step(st);
	int status;
	if (rc == SQLITE_ROW) {
		out->type = type;
		out->id = id;
		fill_version(a, st, 0, out);
		status = (!version && out->deleted) ? STORE_GONE : STORE_OK;
	} else if (rc == SQLITE_DONE) {
		status = STORE_NOT_FOUND;
	} else {
		fprintf(stderr, "bron: read failed: %s\n", sqlite3_errmsg(r->db));
		status = STORE_ERROR;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return status;
}

int store_history(store *s, arena *a, const store_history_query *q, store_version **items,
                  size_t *n, int *more)
{
	reader *r = get_reader(s);
	if (!r)
		return STORE_ERROR;
	char sql[768];
	int len = snprintf(sql, sizeof sql,
	                   "SELECT type, id, version, deleted, last_updated, body, seq FROM "
	                   "resource_version v "
	                   "WHERE 1");
	if (q->type)
		len += snprintf(sql + len, sizeof sql - len, " AND type=?1");
	if (q->id)
		len += snprintf(sql + len, sizeof sql - len, " AND id=?2");
	if (q->since)
		len += snprintf(sql + len, sizeof sql - len, " AND last_updated>=?3");
	if (q->before_seq)
		len += snprintf(sql + len, sizeof sql - len, " AND seq<?4");
	if (q->at_end)
		len += snprintf(
		        sql + len, sizeof sql - len,
		        " AND last_updated<=?6 AND NOT EXISTS (SELECT 1 FROM resource_version w "
		        "WHERE w.type=v.type AND w.id=v.id AND w.version>v.version AND "
		        "w.last_updated<=?5)");
	snprintf(sql + len, sizeof sql - len, " ORDER BY seq DESC LIMIT ?7");
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "bron: history query failed: %s\n", sqlite3_errmsg(r->db));
		return STORE_ERROR;
	}
	if (q->type)
		sqlite3_bind_text(st, 1, q->type, -1, SQLITE_STATIC);
	if (q->id)
		sqlite3_bind_text(st, 2, q->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, q->since);
	sqlite3_bind_int64(st, 4, q->before_seq);
	sqlite3_bind_int64(st, 5, q->at_start);
	sqlite3_bind_int64(st, 6, q->at_end);
	sqlite3_bind_int64(st, 7, (int64_t)q->count + 1);
	store_version *v = arena_alloc(a, (q->count + 1) * sizeof *v);
	size_t k = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (k == q->count) {
			*more = 1;
			break;
		}
		v[k].type = arena_strdup(a, (const char *)sqlite3_column_text(st, 0));
		v[k].id = arena_strdup(a, (const char *)sqlite3_column_text(st, 1));
		v[k].version = sqlite3_column_int64(st, 2);
		v[k].deleted = sqlite3_column_int(st, 3);
		v[k].last_updated = sqlite3_column_int64(st, 4);
		const void *b = sqlite3_column_blob(st, 5);
		v[k].body_len = b ? (size_t)sqlite3_column_bytes(st, 5) : 0;
		v[k].body = b ? arena_memdup(a, b, v[k].body_len) : NULL;
		v[k].seq = sqlite3_column_int64(st, 6);
		k++;
	}
	if (rc != SQLITE_ROW)
		*more = 0;
	int status = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? STORE_OK : STORE_ERROR;
	if (status)
		fprintf(stderr, "bron: history query failed: %s\n", sqlite3_errmsg(r->db));
	sqlite3_finalize(st);
	*items = v;
	*n = k;
	return status;
}

static int bind_search(sqlite3_stmt *st, const search_sql *q)
{
	for (size_t i = 0; i < q->nbinds; i++) {
		const search_bind *b = &q->binds[i];
		int k = (int)i + 1, rc;
		if (b->kind == SEARCH_BIND_TEXT)
			rc = sqlite3_bind_text(st, k, b->text ? b->text : "", -1, SQLITE_STATIC);
		else if (b->kind == SEARCH_BIND_INT)
			rc = sqlite3_bind_int64(st, k, b->i);
		else
			rc = sqlite3_bind_double(st, k, b->r);
		if (rc != SQLITE_OK)
			return -1;
	}
	return 0;
}

/* Read the bodies of a sorted page, by the version rows' keys. */
static int body_of(reader *r, arena *a, store_version *v, size_t n)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(r->db, "SELECT body FROM resource_version WHERE seq = ?1", -1, &st,
	                       NULL) != SQLITE_OK)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		sqlite3_bind_int64(st, 1, v[i].seq);
		if (sqlite3_step(st) == SQLITE_ROW) {
			v[i].body_len = (size_t)sqlite3_column_bytes(st, 0);
			v[i].body = arena_memdup(a, sqlite3_column_blob(st, 0), v[i].body_len);
		} else {
			rc = -1;
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

int store_search(store *s, arena *a, const search_sql *q, size_t limit, size_t offset,
                 store_version **items, size_t *n, int *more)
{
	reader *r = get_reader(s);
	if (!r)
		return STORE_ERROR;
	const char *order = q->order_by && *q->order_by ? q->order_by : "r.rid";
	/* in row-id order the page is cut as it is read; sorted on other keys,
	 * every match is sorted first, so bodies are read afterwards, for the
	 * page only (body_of below) */
	int sorted = strcmp(order, "r.rid") && strcmp(order, "r.rid DESC");
	char *sql = arena_printf(
	        a,
	        "SELECT r.rid, r.type, r.id, r.version, r.last_updated, %s, r.seq, "
	        "r.deleted FROM resource r%s WHERE %s ORDER BY %s LIMIT ? OFFSET ?",
	        sorted ? "NULL" : "v.body",
	        sorted ? "" : " JOIN resource_version v ON v.seq = r.seq", q->where, order);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "bron: search query failed to compile: %s\n",
		        sqlite3_errmsg(r->db));
		return STORE_ERROR;
	}
	int status = STORE_OK;
	if (bind_search(st, q) ||
	    sqlite3_bind_int64(st, (int)q->nbinds + 1, (int64_t)limit + 1) != SQLITE_OK ||
	    sqlite3_bind_int64(st, (int)q->nbinds + 2, (int64_t)offset) != SQLITE_OK) {
		sqlite3_finalize(st);
		return STORE_ERROR;
	}
	store_version *v = arena_alloc(a, (limit + 1) * sizeof *v);
	size_t k = 0;
	int rc;
	*more = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (k == limit) {
			*more = 1;
			break;
		}
		v[k].rid = sqlite3_column_int64(st, 0);
		v[k].type = arena_strdup(a, (const char *)sqlite3_column_text(st, 1));
		v[k].id = arena_strdup(a, (const char *)sqlite3_column_text(st, 2));
		v[k].version = sqlite3_column_int64(st, 3);
		v[k].last_updated = sqlite3_column_int64(st, 4);
		v[k].deleted = sqlite3_column_int(st, 7); /* 0, or 2 for a contained resource */
		v[k].body_len = (size_t)sqlite3_column_bytes(st, 5);
		v[k].body = arena_memdup(a, sqlite3_column_blob(st, 5), v[k].body_len);
		v[k].seq = sqlite3_column_int64(st, 6);
		k++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		fprintf(stderr, "bron: search query failed: %s\n", sqlite3_errmsg(r->db));
		status = STORE_ERROR;
	}
	sqlite3_finalize(st);
	if (sorted && status == STORE_OK && k && body_of(r, a, v, k))
		status = STORE_ERROR;
	*items = v;
	*n = k;
	return status;
}

int store_search_count(store *s, const search_sql *q, int64_t *count)
{
	reader *r = get_reader(s);
	if (!r)
		return STORE_ERROR;
	size_t len = strlen(q->where) + 64;
	char *sql = base_malloc(len);
	snprintf(sql, len, "SELECT count(*) FROM resource r WHERE %s", q->where);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
	free(sql);
	if (rc != SQLITE_OK)
		return STORE_ERROR;
	/* the ORDER BY binds come after the WHERE ones; bind only those the WHERE uses */
	int nparams = sqlite3_bind_parameter_count(st);
	search_sql where_only = *q;
	if ((size_t)nparams < where_only.nbinds)
		where_only.nbinds = (size_t)nparams;
	if (bind_search(st, &where_only)) {
		sqlite3_finalize(st);
		return STORE_ERROR;
	}
	rc = sqlite3_step(st);
	*count = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? STORE_OK : STORE_ERROR;
}

int store_scan(store *s, arena *a, int64_t after_rid, size_t limit, store_version **items,
               size_t *n)
{
	search_sql q = {.where = "r.deleted = 0 AND r.rid > ?", .order_by = "r.rid"};
	search_bind b = {.kind = SEARCH_BIND_INT, .i = after_rid};
	q.binds = &b;
	q.nbinds = 1;
	int more;
	return store_search(s, a, &q, limit, 0, items, n, &more);
}

int store_count(store *s, const char *type, int64_t *out)
{
	reader *r = get_reader(s);
	if (!r)
		return STORE_ERROR;
	sqlite3_stmt *st;
	const char *sql = type ? "SELECT count(*) FROM resource WHERE type=?1 AND deleted=0"
	                       : "SELECT count(*) FROM resource WHERE deleted=0";
	if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
		return STORE_ERROR;
	if (type)
		sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? STORE_OK : STORE_ERROR;
}

/* ---- the writer ---- */

static int exec(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		fprintf(stderr, "bron: %s failed: %s\n", sql, sqlite3_errmsg(db));
	return rc;
}

static int bind_search(sqlite3_stmt *st, const search_sql *q);

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		fprintf(stderr, "bron: store: %s: %s\n", sqlite3_sql(st),
		        sqlite3_errmsg(sqlite3_db_handle(st)));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_STATIC);
}

/* Insert one index row of resource `rid`. */
static int insert_row(store *s, int64_t rid, const search_row *row)
{
	if ((size_t)row->kind >= INDEX_KINDS)
		return -1;
	sqlite3_stmt *st = s->w_index[row->kind];
	sqlite3_bind_int64(st, 1, row->pid);
	sqlite3_bind_int64(st, 2, rid);
	sqlite3_bind_int64(st, 3, row->grp);
	switch (row->kind) {
	case SEARCH_ROW_STRING:
		bind_text(st, 4, row->s[0]);
		bind_text(st, 5, row->s[1]);
		break;
	case SEARCH_ROW_TOKEN:
		for (int i = 0; i < 3; i++)
			bind_text(st, 4 + i, row->s[i]);
		break;
	case SEARCH_ROW_DATE:
		sqlite3_bind_int64(st, 4, row->lo);
		sqlite3_bind_int64(st, 5, row->hi);
		break;
	case SEARCH_ROW_NUMBER:
		for (int i = 0; i < 3; i++)
			sqlite3_bind_double(st, 4 + i, row->d[i]);
		break;
	case SEARCH_ROW_QUANTITY:
		for (int i = 0; i < 3; i++)
			sqlite3_bind_double(st, 4 + i, row->d[i]);
		bind_text(st, 7, row->s[0]);
		bind_text(st, 8, row->s[1]);
		sqlite3_bind_double(st, 9, row->d[3]);
		bind_text(st, 10, row->s[2]);
		break;
	case SEARCH_ROW_REFERENCE:
		for (int i = 0; i < 5; i++)
			bind_text(st, 4 + i, row->s[i]);
		break;
	case SEARCH_ROW_URI:
	case SEARCH_ROW_TEXT: bind_text(st, 4, row->s[0]); break;
	}
	return step_done(st);
}

/* Replace the index rows of `rid` with those of its new version (none for a
 * deletion). `fresh`: the resource is new, so there is nothing to remove. */
static int reindex(store *s, int64_t rid, int fresh, const search_rows *rows)
{
	if (!fresh) {
		for (size_t i = 0; i < INDEX_TABLES; i++) {
			sqlite3_bind_int64(s->w_unindex[i], 1, rid);
			if (step_done(s->w_unindex[i]))
				return -1;
		}
	}
	if (!rows)
		return 0;
	for (size_t i = 0; i < rows->count; i++)
		if (insert_row(s, rid, &rows->items[i]))
			return -1;
	for (size_t i = 0; i < rows->npatients; i++) {
		sqlite3_bind_int64(s->w_compartment, 1, rid);
		bind_text(s->w_compartment, 2, rows->patients[i]);
		if (step_done(s->w_compartment))
			return -1;
	}
	return 0;
}

/* Evaluate a conditional op's search inside the transaction: sets
 * op->matches and, for one match, op->id. */
static int run_condition(store *s, store_op *op)
{
	static const char head[] = "SELECT r.id, r.version, r.last_updated FROM resource r WHERE ";
	size_t len = sizeof head + strlen(op->condition->where) + sizeof " LIMIT 2";
	char *sql = base_malloc(len);
	snprintf(sql, len, "%s%s LIMIT 2", head, op->condition->where);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->wdb, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		fprintf(stderr, "bron: store: %s: %s\n", sql, sqlite3_errmsg(s->wdb));
	free(sql);
	if (rc != SQLITE_OK)
		return STORE_ERROR;
	search_sql where_only = *op->condition;
	int nparams = sqlite3_bind_parameter_count(st);
	if ((size_t)nparams < where_only.nbinds)
		where_only.nbinds = (size_t)nparams;
	if (bind_search(st, &where_only)) {
		sqlite3_finalize(st);
		return STORE_ERROR;
	}
	op->matches = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (++op->matches == 1) {
			op->id = arena_strdup(op->arena, (const char *)sqlite3_column_text(st, 0));
			op->version = sqlite3_column_int64(st, 1);
			op->last_updated = sqlite3_column_int64(st, 2);
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
}

/* Replace the contained resources of container `rid` (and their index
 * rows) with those of its new version; none for a deletion. */
static int replace_contained(store *s, int64_t rid, const store_op *op, int fresh, int deleted,
                             int64_t seq)
{
	if (!fresh) {
		sqlite3_stmt *st = s->w_contained_rids;
		int64_t crids[256];
		size_t n = 0;
		int rc;
		sqlite3_bind_int64(st, 1, rid);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < 256)
			crids[n++] = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE && rc != SQLITE_ROW)
			return -1;
		for (size_t i = 0; i < n; i++)
			if (reindex(s, crids[i], 0, NULL))
				return -1;
		sqlite3_bind_int64(s->w_drop_contained, 1, rid);
		if (step_done(s->w_drop_contained))
			return -1;
	}
	if (deleted)
		return 0;
	for (size_t i = 0; i < op->ncontained && i < 256; i++) {
		const store_contained *c = &op->contained[i];
		char *id = sqlite3_mprintf("%s/%s#%s", op->type, op->id, c->cid);
		if (!id)
			base_oom();
		sqlite3_stmt *st = s->w_insert_contained;
		sqlite3_bind_text(st, 1, c->type, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, op->version);
		sqlite3_bind_int64(st, 4, op->last_updated);
		sqlite3_bind_int64(st, 5, seq);
		sqlite3_bind_int64(st, 6, rid);
		int rc = step_done(st);
		sqlite3_free(id);
		if (rc)
			return -1;
		if (reindex(s, sqlite3_last_insert_rowid(s->wdb), 1, c->index))
			return -1;
	}
	return 0;
}

/* Apply one op inside the open transaction. Returns a STORE_* status. */
static int apply_op(store *s, store_op *op)
{
	if (op->condition) {
		const char *given = op->id;
		if (!op->condition_done) {
			int rc = run_condition(s, op);
			if (rc)
				return rc;
		}
		if (op->matches > 1)
			return STORE_MULTIPLE;
		if (op->matches == 0) {
			op->id = given;
			if (op->kind == STORE_OP_DELETE)
				return STORE_OK; /* nothing matched: nothing to delete */
		}
	}
	sqlite3_stmt *st = s->w_get;
	sqlite3_bind_text(st, 1, op->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, op->id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	int exists = rc == SQLITE_ROW;
	op->prev_version = exists ? sqlite3_column_int64(st, 0) : 0;
	op->prev_deleted = exists ? sqlite3_column_int(st, 1) : 0;
	int64_t prev_time = exists ? sqlite3_column_int64(st, 2) : 0;
	int64_t rid = exists ? sqlite3_column_int64(st, 3) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return STORE_ERROR;
	if (op->if_match > 0 && (!exists || op->prev_version != op->if_match))
		return STORE_CONFLICT;
	if (op->kind == STORE_OP_REINDEX) {
		if (!exists || op->prev_deleted)
			return STORE_CONFLICT;
		op->version = op->prev_version;
		return reindex(s, rid, 0, op->index) ? STORE_ERROR : STORE_OK;
	}
	if (op->kind == STORE_OP_CREATE && op->condition && op->matches == 1) {
		op->version = op->prev_version;
		op->last_updated = prev_time;
		return STORE_MATCHED;
	}
	if (op->kind == STORE_OP_CREATE && exists)
		return STORE_EXISTS;
	if (op->kind == STORE_OP_DELETE && (!exists || op->prev_deleted)) {
		op->version = 0; /* nothing to delete: no new version */
		op->last_updated = prev_time;
		return STORE_OK;
	}
	op->version = op->prev_version + 1;
	int64_t now = base_now_us();
	/* keep lastUpdated increasing per resource even if the clock steps back */
	op->last_updated = now > prev_time ? now : prev_time + 1;
	int deleted = op->kind == STORE_OP_DELETE;
	op->body = NULL;
	op->body_len = 0;
	if (!deleted && op->build && op->build(op, op->build_ctx) != 0)
		return STORE_INVALID;
	st = s->w_insert_version;
	sqlite3_bind_text(st, 1, op->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, op->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, op->version);
	sqlite3_bind_int64(st, 4, op->last_updated);
	sqlite3_bind_int(st, 5, deleted);
	if (deleted)
		sqlite3_bind_null(st, 6);
	else
		sqlite3_bind_blob(st, 6, op->body, (int)op->body_len, SQLITE_STATIC);
	if (step_done(st))
		return STORE_ERROR;
	int64_t seq = sqlite3_last_insert_rowid(s->wdb);
	if (exists) {
		st = s->w_update_current;
		sqlite3_bind_int64(st, 1, rid);
		sqlite3_bind_int64(st, 2, op->version);
		sqlite3_bind_int(st, 3, deleted);
		sqlite3_bind_int64(st, 4, op->last_updated);
		sqlite3_bind_int64(st, 5, seq);
	} else {
		st = s->w_insert_current;
		sqlite3_bind_text(st, 1, op->type, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, op->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, op->version);
		sqlite3_bind_int(st, 4, deleted);
		sqlite3_bind_int64(st, 5, op->last_updated);
		sqlite3_bind_int64(st, 6, seq);
	}
	if (step_done(st))
		return STORE_ERROR;
	if (!exists)
		rid = sqlite3_last_insert_rowid(s->wdb);
	if (reindex(s, rid, !exists, deleted ? NULL : op->index))
		return STORE_ERROR;
	if ((exists || op->ncontained) && replace_contained(s, rid, op, !exists, deleted, seq))
		return STORE_ERROR;
	return STORE_OK;
}

/* Evaluate the conditions of the conditional creates among ops. */
static int resolve_creates(store *s, store_op *ops, size_t n)
{
	for (size_t j = 0; j < n; j++) {
		store_op *op = &ops[j];
		if (!op->condition || op->kind != STORE_OP_CREATE)
			continue;
		const char *given = op->id;
		if (run_condition(s, op)) {
			op->status = STORE_ERROR;
			return -1;
		}
		if (op->matches == 0)
			op->id = given;
		op->condition_done = 1;
	}
	return 0;
}

/* The resources one request wrote, to refuse touching one twice (open
 * addressing over op pointers, sized for the request). */
typedef struct touched_set {
	const store_op **slots;
	size_t cap;
} touched_set;

static uint64_t key_hash(const char *type, const char *id)
{
	uint64_t h = 1469598103934665603ULL;
	for (const char *p = type; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = (h ^ '/') * 1099511628211ULL;
	for (const char *p = id; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h;
}

/* Add op's resource; 1 if an earlier op of the request wrote it already. */
static int touched_add(touched_set *t, size_t n, const store_op *op)
{
	if (!t->slots) {
		t->cap = 16;
		while (t->cap < 2 * n)
			t->cap *= 2;
		t->slots = base_calloc(t->cap, sizeof *t->slots);
	}
	size_t i = key_hash(op->type, op->id) & (t->cap - 1);
	for (; t->slots[i]; i = (i + 1) & (t->cap - 1))
		if (!strcmp(t->slots[i]->type, op->type) && !strcmp(t->slots[i]->id, op->id))
			return 1;
	t->slots[i] = op;
	return 0;
}

/* Apply all ops of one request inside a savepoint; 0 if all succeeded. */
static int apply_request(store *s, write_req *w)
{
	if (step_done(s->w_savepoint)) {
		for (size_t i = 0; i < w->n; i++)
			w->ops[i].status = STORE_ERROR;
		return -1;
	}
	int failed = 0, resolved = w->n < 2;
	touched_set seen = {0};
	for (size_t i = 0; i < w->n; i++)
		w->ops[i].condition_done = 0;
	for (size_t i = 0; i < w->n; i++) {
		store_op *op = &w->ops[i];
		if (!failed && !resolved && op->kind != STORE_OP_DELETE) {
			/* the DELETEs (first in a Bundle's order) are applied; resolve the
			 * conditional creates now, so every build callback that follows
			 * knows the final id of each of them */
			resolved = 1;
			if (resolve_creates(s, w->ops + i, w->n - i))
				failed = 1;
		}
		op->status = failed ? STORE_ERROR : apply_op(s, op);
		if (op->status == STORE_OK && op->version > 0 && op->unique && w->n > 1 &&
		    touched_add(&seen, w->n, op))
			op->status = STORE_DUPLICATE; /* touched twice in one request */
		/* a conditional create that matched wrote nothing and is no failure */
		if (op->status != STORE_OK && op->status != STORE_MATCHED && !failed)
			failed = 1;
	}
	free(seen.slots);
	if (failed)
		step_done(s->w_rollback_to);
	step_done(s->w_release);
	return failed ? -1 : 0;
}

static void run_group(store *s, write_req *group)
{
	int began = exec(s->wdb, "BEGIN IMMEDIATE") == SQLITE_OK;
	for (write_req *w = group; w; w = w->next) {
		if (!began) {
			for (size_t i = 0; i < w->n; i++)
				w->ops[i].status = STORE_ERROR;
			continue;
		}
		apply_request(s, w);
	}
	if (began && exec(s->wdb, "COMMIT") != SQLITE_OK) {
		exec(s->wdb, "ROLLBACK");
		for (write_req *w = group; w; w = w->next)
			for (size_t i = 0; i < w->n; i++)
				w->ops[i].status = STORE_ERROR;
	}
	for (write_req *w = group, *next; w; w = next) {
		next = w->next;
		w->done(w->ctx);
		free(w);
	}
}

static void *writer_main(void *arg)
{
	store *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->head && !s->stopping)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->head && s->stopping)
			break;
		/* take up to max_group requests as one group */
		write_req *group = s->head, *last = s->head;
		size_t k = 1;
		while (last->next && k < s->max_group) {
			last = last->next;
			k++;
		}
		s->head = last->next;
		if (!s->head)
			s->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&s->mu);
		run_group(s, group);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int store_write_async(store *s, store_op *ops, size_t n, store_done_fn done, void *ctx)
{
	write_req *w = base_calloc(1, sizeof *w);
	w->ops = ops;
	w->n = n;
	w->done = done;
	w->ctx = ctx;
	pthread_mutex_lock(&s->mu);
	if (s->stopping) {
		pthread_mutex_unlock(&s->mu);
		free(w);
		return STORE_ERROR;
	}
	if (s->tail)
		s->tail->next = w;
	else
		s->head = w;
	s->tail = w;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return STORE_OK;
}

typedef struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
} waiter;

static void wake(void *ctx)
{
	waiter *w = ctx;
	pthread_mutex_lock(&w->mu);
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int store_write(store *s, store_op *ops, size_t n)
{
	waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	int rc = store_write_async(s, ops, n, wake, &w);
	if (rc)
		return rc;
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv);
	for (size_t i = 0; i < n; i++)
		if (ops[i].status != STORE_OK)
			return ops[i].status;
	return STORE_OK;
}
