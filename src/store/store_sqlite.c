/*
 * store_sqlite.c - the embedded engine of store.h on SQLite in WAL mode: the
 * primitives of store_int.h. One writer thread (store.c) owns the write
 * connection, so writes are serialised in the process and nothing needs a
 * lock. Readers use one connection per thread (thread-local, registered
 * with the store so it can close them); WAL lets them run beside the writer.
 */
#include "store_int.h"

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

/* Statements of search SQL kept prepared, by their text: the same query
 * shapes come back on every request (compiling one costs more than running
 * it). Used by one thread at a time, with its connection. */
#define STMT_CACHE 48

typedef struct stmt_cache {
	sqlite3_stmt *st[STMT_CACHE];
	uint64_t hash[STMT_CACHE];
	uint64_t used[STMT_CACHE]; /* the tick of the last use; 0: empty */
	uint64_t tick;
} stmt_cache;

typedef struct reader {
	sqlite3 *db;
	stmt_cache cache;
	sqlite3_stmt *read_current;
	sqlite3_stmt *read_version;
	struct reader *next;
} reader;

/* The writer connection and its statements (one writer thread). */
struct store_conn {
	sqlite3 *db;
	sqlite3_stmt *get, *insert_version, *insert_current, *update_current, *insert_old_version;
	sqlite3_stmt *contained_rids, *drop_contained, *insert_contained;
	sqlite3_stmt *index[INDEX_KINDS];    /* inserts per search_row_kind */
	sqlite3_stmt *unindex[INDEX_TABLES]; /* deletes of a resource's rows */
	sqlite3_stmt *compartment;
	sqlite3_stmt *savepoint, *release, *rollback_to; /* per request of a group */
	sqlite3_stmt *audit_head, *audit_put, *audit_set_head;
	stmt_cache cache; /* search SQL run by the writer */
};

typedef struct lite {
	uint64_t serial;         /* tells thread-local readers which store they belong to */
	char *path;              /* database file */
	store__lite_crypt crypt; /* the encrypting VFS (NULL: none), the directory lock */
	store_conn w;            /* the writer's, opened by store_open */
	pthread_mutex_t mu;      /* guards readers */
	reader *readers;         /* every reader connection, closed at close */
} lite;

#define LITE(s) ((lite *)(s)->impl)

static atomic_uint_fast64_t next_serial = 1;

/* ---- prepared search statements ---- */

static uint64_t sql_hash(const char *s)
{
	uint64_t h = 1469598103934665603u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

/* The statement of `sql`, prepared once per connection; give it back with
 * stmt_done. NULL when it does not compile. */
static sqlite3_stmt *stmt_get(sqlite3 *db, stmt_cache *c, const char *sql)
{
	uint64_t h = sql_hash(sql);
	size_t victim = 0;
	for (size_t i = 0; i < STMT_CACHE; i++) {
		if (c->used[i] && c->hash[i] == h && !strcmp(sqlite3_sql(c->st[i]), sql)) {
			c->used[i] = ++c->tick;
			return c->st[i];
		}
		if (c->used[i] < c->used[victim])
			victim = i;
	}
	sqlite3_stmt *st;
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_finalize(c->st[victim]);
	c->st[victim] = st;
	c->hash[victim] = h;
	c->used[victim] = ++c->tick;
	return st;
}

static void stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static void stmt_cache_free(stmt_cache *c)
{
	for (size_t i = 0; i < STMT_CACHE; i++)
		sqlite3_finalize(c->st[i]);
	memset(c, 0, sizeof *c);
}

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
        /* the audit trail (version 7): append-only, hash-chained (store.h) */
        "CREATE TABLE IF NOT EXISTS audit("
        "  seq INTEGER PRIMARY KEY, recorded INTEGER NOT NULL, patient TEXT, agent TEXT,"
        "  action TEXT NOT NULL, outcome INTEGER NOT NULL, record BLOB NOT NULL,"
        "  hash BLOB NOT NULL);"
        "CREATE INDEX IF NOT EXISTS audit_patient ON audit(patient, seq) WHERE patient IS NOT "
        "NULL;"
        "CREATE INDEX IF NOT EXISTS audit_agent ON audit(agent, seq);"
        "CREATE INDEX IF NOT EXISTS audit_recorded ON audit(recorded);"
        "CREATE TABLE IF NOT EXISTS audit_head(id INTEGER PRIMARY KEY CHECK (id = 1),"
        "  seq INTEGER NOT NULL, hash BLOB NOT NULL);"
        "INSERT OR IGNORE INTO audit_head VALUES (1, 0, zeroblob(32));"
        "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;"
        "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;"
        "CREATE TABLE IF NOT EXISTS bron_schema(version INTEGER NOT NULL);"
        "INSERT INTO bron_schema SELECT 7 WHERE NOT EXISTS (SELECT 1 FROM bron_schema);"
        "UPDATE bron_schema SET version = 7 WHERE version = 6;";

#define SCHEMA_VERSION 7

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
        "INSERT OR IGNORE INTO sp_text(pid,rid,norm) VALUES(?1,?2,?3)",
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

/* The STORE_* status of the failure SQLite just reported on db. No space
 * is STORE_FULL: SQLITE_FULL (ENOSPC; a quota or a file-size limit too, as
 * space_write makes them), or an I/O error whose errno says so. Other I/O errors, a locked or busy
 * database and running out of memory are STORE_UNAVAILABLE (they may pass); a page that does not
 * verify (SQLITE_IOERR_DATA), corruption and everything else are STORE_ERROR. */
static int lite_status(sqlite3 *db)
{
	int x = sqlite3_extended_errcode(db), e = sqlite3_system_errno(db);
	switch (x & 0xff) {
	case SQLITE_FULL: return STORE_FULL;
	case SQLITE_IOERR:
		if (x == SQLITE_IOERR_DATA)
			return STORE_ERROR;
		if (e == ENOSPC || e == EDQUOT || e == EFBIG)
			return STORE_FULL;
		return STORE_UNAVAILABLE;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_NOMEM:
	case SQLITE_CANTOPEN:
	case SQLITE_PROTOCOL: return STORE_UNAVAILABLE;
	default: return STORE_ERROR;
	}
}

/* lite_status of a failed call, reported (store__log: once per kind). */
static int lite_failed(sqlite3 *db, const char *what)
{
	int status = lite_status(db);
	store__log(STORE__LOG_ENGINE, status, "sqlite: %s: %s", what, sqlite3_errmsg(db));
	return status;
}

static char *errdup(sqlite3 *db, const char *what)
{
	return store__msg("%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

/* A connection, through the encrypting VFS when the store has one: then
 * never a temporary file (the VFS refuses them, they would be plaintext). */
static int open_conn(const char *path, int readonly, const crypt_vfs *vfs, sqlite3 **out)
{
	int flags =
	        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (readonly ? 0 : SQLITE_OPEN_CREATE);
	int rc = sqlite3_open_v2(path, out, flags, vfs ? crypt_vfs_name(vfs) : NULL);
	if (rc == SQLITE_OK && vfs)
		rc = sqlite3_exec(*out, "PRAGMA temp_store=MEMORY", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_busy_timeout(*out, 10000);
	return SQLITE_OK;
}

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
	if (version == SCHEMA_VERSION || version == 0 ||
	    version == 6) /* 6: gains the audit trail */
		return 0;
	*err = store__msg("the store has schema version %d; this bron knows version %d only "
	                  "(export it with the bron that wrote it, or start from a new data "
	                  "directory)",
	                  version, SCHEMA_VERSION);
	return -1;
}

/* The message of a failed open or first read: pages that do not open
 * with the data key of the key file beside them are named as such. */
static char *open_msg(sqlite3 *db, const char *dir, const char *what)
{
	if (db && sqlite3_extended_errcode(db) == SQLITE_IOERR_DATA)
		return store__msg("the pages of %s/bron.db do not open with the data key of "
		                  "%s/bron.db-key (not the key file of this store, or the "
		                  "database was altered)",
		                  dir, dir);
	return errdup(db, what);
}

/* An encrypted store: the first page opens with the data key of its key
 * file, and a new database reserves the bytes the VFS keeps each page's
 * nonce and tag in. */
static int check_pages(sqlite3 *db, const char *dir, char **err)
{
	int reserve = CRYPT_RESERVE;
	sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
	if (sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	*err = open_msg(db, dir, "cannot read the database");
	return -1;
}

static int prepare_writer(store_conn *w)
{
	sqlite3 *db = w->db;
	if (sqlite3_prepare_v2(db,
	                       "SELECT version, deleted, last_updated, rid FROM resource "
	                       "WHERE type=?1 AND id=?2",
	                       -1, &w->get, NULL) ||
	    sqlite3_prepare_v2(
	            db,
	            "INSERT INTO resource_version(type,id,version,last_updated,deleted,body) "
	            "VALUES(?1,?2,?3,?4,?5,?6)",
	            -1, &w->insert_version, NULL) ||
	    sqlite3_prepare_v2(
	            db,
	            "INSERT OR IGNORE INTO resource_version(type,id,version,last_updated,"
	            "deleted,body) VALUES(?1,?2,?3,?4,?5,?6)",
	            -1, &w->insert_old_version, NULL) ||
	    sqlite3_prepare_v2(db,
	                       "INSERT INTO resource(type,id,version,deleted,last_updated,seq) "
	                       "VALUES(?1,?2,?3,?4,?5,?6)",
	                       -1, &w->insert_current, NULL) ||
	    sqlite3_prepare_v2(
	            db,
	            "UPDATE resource SET version=?2, deleted=?3, last_updated=?4, seq=?5 "
	            "WHERE rid=?1",
	            -1, &w->update_current, NULL) ||
	    sqlite3_prepare_v2(db,
	                       "INSERT OR IGNORE INTO sp_compartment(rid,patient) VALUES(?1,?2)",
	                       -1, &w->compartment, NULL) ||
	    sqlite3_prepare_v2(db, "SELECT rid FROM resource WHERE container=?1", -1,
	                       &w->contained_rids, NULL) ||
	    sqlite3_prepare_v2(db, "DELETE FROM resource WHERE container=?1", -1,
	                       &w->drop_contained, NULL) ||
	    sqlite3_prepare_v2(
	            db,
	            "INSERT INTO resource(type,id,version,deleted,last_updated,seq,container) "
	            "VALUES(?1,?2,?3,2,?4,?5,?6)",
	            -1, &w->insert_contained, NULL) ||
	    sqlite3_prepare_v2(db, "SELECT seq, hash FROM audit_head WHERE id = 1", -1,
	                       &w->audit_head, NULL) ||
	    sqlite3_prepare_v2(db,
	                       "INSERT INTO audit(seq, recorded, patient, agent, action, outcome, "
	                       "record, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	                       -1, &w->audit_put, NULL) ||
	    sqlite3_prepare_v2(db, "UPDATE audit_head SET seq = ?1, hash = ?2 WHERE id = 1", -1,
	                       &w->audit_set_head, NULL) ||
	    sqlite3_prepare_v2(db, "SAVEPOINT req", -1, &w->savepoint, NULL) ||
	    sqlite3_prepare_v2(db, "RELEASE req", -1, &w->release, NULL) ||
	    sqlite3_prepare_v2(db, "ROLLBACK TO req", -1, &w->rollback_to, NULL))
		return -1;
	for (size_t i = 0; i < INDEX_KINDS; i++)
		if (sqlite3_prepare_v2(db, index_insert_sql[i], -1, &w->index[i], NULL))
			return -1;
	for (size_t i = 0; i < INDEX_TABLES; i++)
		if (sqlite3_prepare_v2(db, index_delete_sql[i], -1, &w->unindex[i], NULL))
			return -1;
	return 0;
}

static void finalize_writer(store_conn *w)
{
	stmt_cache_free(&w->cache);
	sqlite3_finalize(w->get);
	sqlite3_finalize(w->insert_version);
	sqlite3_finalize(w->insert_old_version);
	sqlite3_finalize(w->insert_current);
	sqlite3_finalize(w->update_current);
	sqlite3_finalize(w->compartment);
	sqlite3_finalize(w->contained_rids);
	sqlite3_finalize(w->drop_contained);
	sqlite3_finalize(w->insert_contained);
	sqlite3_finalize(w->savepoint);
	sqlite3_finalize(w->release);
	sqlite3_finalize(w->rollback_to);
	sqlite3_finalize(w->audit_head);
	sqlite3_finalize(w->audit_put);
	sqlite3_finalize(w->audit_set_head);
	for (size_t i = 0; i < INDEX_KINDS; i++)
		sqlite3_finalize(w->index[i]);
	for (size_t i = 0; i < INDEX_TABLES; i++)
		sqlite3_finalize(w->unindex[i]);
}

static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

/* The unix VFS (under the encrypting one too) answers SQLITE_FULL only
 * when a write fails with ENOSPC; a quota (EDQUOT) or a file-size limit
 * (EFBIG: RLIMIT_FSIZE, SIGXFSZ ignored) is SQLITE_IOERR_WRITE, and its
 * errno is gone by the time the store could ask (sqlite3_system_errno). So
 * the unix VFS writes through these (its system-call table), which report
 * them as ENOSPC: every kind of "no space" is SQLITE_FULL, STORE_FULL. */
static sqlite3_syscall_ptr real_pwrite, real_pwrite64, real_write;

static void space_errno(ssize_t r)
{
	if (r < 0 && (errno == EDQUOT || errno == EFBIG))
		errno = ENOSPC;
}

static ssize_t space_pwrite(int fd, const void *p, size_t n, off_t off)
{
	ssize_t r = ((ssize_t(*)(int, const void *, size_t, off_t))real_pwrite)(fd, p, n, off);
	space_errno(r);
	return r;
}

static ssize_t space_pwrite64(int fd, const void *p, size_t n, off_t off)
{
	ssize_t r = ((ssize_t(*)(int, const void *, size_t, off_t))real_pwrite64)(fd, p, n, off);
	space_errno(r);
	return r;
}

static ssize_t space_write(int fd, const void *p, size_t n)
{
	ssize_t r = ((ssize_t(*)(int, const void *, size_t))real_write)(fd, p, n);
	space_errno(r);
	return r;
}

/* Wrap the unix VFS's system call `name` (if it has one) with `wrapper`. */
static void wrap_syscall(sqlite3_vfs *u, const char *name, sqlite3_syscall_ptr *real,
                         sqlite3_syscall_ptr wrapper)
{
	*real = u->xGetSystemCall(u, name);
	if (*real && u->xSetSystemCall(u, name, wrapper) != SQLITE_OK)
		*real = NULL;
}

/* Process-wide SQLite settings, before its first use: no memory statistics
 * (they take a global mutex on every allocation, and Bron does not read
 * them); the unix VFS's writes report every "no space" as ENOSPC. */
static void sqlite_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	sqlite3_vfs *u = sqlite3_vfs_find("unix");
	if (!u || u->iVersion < 3 || !u->xGetSystemCall || !u->xSetSystemCall)
		return;
	wrap_syscall(u, "pwrite", &real_pwrite, (sqlite3_syscall_ptr)space_pwrite);
	wrap_syscall(u, "pwrite64", &real_pwrite64, (sqlite3_syscall_ptr)space_pwrite64);
	wrap_syscall(u, "write", &real_write, (sqlite3_syscall_ptr)space_write);
}

/* Open the database file of opts->dir with the schema in place: the
 * writer's connection (encrypted with opts->key: store_crypt.c). */
static int open_db(const store_options *opts, char **path, store__lite_crypt *crypt, sqlite3 **db,
                   char **err)
{
	pthread_once(&sqlite_once, sqlite_setup);
	const char *dir = opts->dir ? opts->dir : "data";
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		*err = store__msg("cannot create data directory %s: %s", dir, strerror(errno));
		return STORE_ERROR;
	}
	if (store__lite_crypt_open(dir, opts->key, crypt, err))
		return STORE_ERROR;
	*path = store__msg("%s/bron.db", dir);
	if (open_conn(*path, 0, crypt->vfs, db) != SQLITE_OK) {
		*err = open_msg(*db, dir, "cannot open database");
		return STORE_ERROR;
	}
	if (crypt->vfs && check_pages(*db, dir, err))
		return STORE_ERROR;
	char *msg = NULL;
	/* the writer checkpoints (SQLite's auto-checkpoint at commit): a checkpoint
	 * on another thread never catches up with a busy writer, and the WAL
	 * only restarts after a complete one */
	char pragmas[256];
	snprintf(pragmas, sizeof pragmas,
	         "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA cache_size=-%zu; "
	         "PRAGMA temp_store=MEMORY;",
	         opts->sync_full == 0 ? "NORMAL" : "FULL", opts->cache_kb ? opts->cache_kb : 4096);
	if (check_schema_version(*db, err))
		return STORE_ERROR;
	if (sqlite3_exec(*db, pragmas, NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(*db, schema_sql, NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(*db, search_schema_sql(SEARCH_SQLITE), NULL, NULL, &msg) != SQLITE_OK) {
		*err = store__msg("cannot set up database %s: %s", *path, msg ? msg : "?");
		sqlite3_free(msg);
		return STORE_ERROR;
	}
	if (schema_version(*db) != SCHEMA_VERSION) {
		*err = errdup(*db, "cannot read the schema version");
		return STORE_ERROR;
	}
	return STORE_OK;
}

int store__sqlite_migrate(const store_options *opts, int *version, char **err)
{
	char *path = NULL;
	sqlite3 *db = NULL;
	store__lite_crypt crypt = {NULL, -1};
	int rc = open_db(opts, &path, &crypt, &db, err);
	if (!rc)
		*version = SCHEMA_VERSION;
	sqlite3_close(db);
	store__lite_crypt_close(&crypt);
	free(path);
	return rc;
}

static const store_engine sqlite_engine;

int store__sqlite_open(store *s, const store_options *opts, char **err)
{
	lite *l = base_calloc(1, sizeof *l);
	l->serial = atomic_fetch_add(&next_serial, 1);
	l->crypt.lockfd = -1;
	if (open_db(opts, &l->path, &l->crypt, &l->w.db, err))
		goto fail;
	if (prepare_writer(&l->w)) {
		*err = errdup(l->w.db, "cannot prepare statements");
		goto fail;
	}
	pthread_mutex_init(&l->mu, NULL);
	s->e = &sqlite_engine;
	s->impl = l;
	s->nwriters = 1;
	s->encrypted = l->crypt.vfs != NULL;
	return STORE_OK;
fail:
	finalize_writer(&l->w);
	sqlite3_close(l->w.db);
	store__lite_crypt_close(&l->crypt);
	free(l->path);
	free(l);
	return STORE_ERROR;
}

static void lite_close(store *s)
{
	lite *l = LITE(s);
	for (reader *r = l->readers, *next; r; r = next) {
		next = r->next;
		sqlite3_finalize(r->read_current);
		sqlite3_finalize(r->read_version);
		stmt_cache_free(&r->cache);
		sqlite3_close(r->db);
		free(r);
	}
	finalize_writer(&l->w);
	/* a clean close checkpoints the WAL into the main file */
	sqlite3_close(l->w.db);
	store__lite_crypt_close(&l->crypt);
	pthread_mutex_destroy(&l->mu);
	free(l->path);
	free(l);
}

/* ---- readers ---- */

static _Thread_local struct {
	uint64_t serial;
	reader *r;
} tl_reader;

/* SQLite's progress handler on reader connections: non-zero stops the
 * statement (SQLITE_INTERRUPT) once the thread's deadline has passed. */
static int past_deadline(void *unused)
{
	(void)unused;
	int64_t d = store_deadline();
	return d && store_now_us() > d;
}

/* A failed step's status: STORE_TIMEOUT if the deadline stopped it. */
static int step_failure(sqlite3 *db, int rc, const char *what)
{
	if (rc == SQLITE_INTERRUPT)
		return STORE_TIMEOUT;
	return lite_failed(db, what);
}

static reader *get_reader(store *s)
{
	lite *l = LITE(s);
	if (tl_reader.serial == l->serial && tl_reader.r)
		return tl_reader.r;
	reader *r = base_calloc(1, sizeof *r);
	if (open_conn(l->path, 1, l->crypt.vfs, &r->db) != SQLITE_OK ||
	    sqlite3_prepare_v2(
	            r->db,
	            "SELECT r.version, r.deleted, r.last_updated, v.body, r.seq, r.rid, "
	            "(SELECT group_concat(c.patient, char(31)) FROM sp_compartment c WHERE "
	            "c.rid = r.rid) FROM resource r "
	            "JOIN resource_version v ON v.seq = r.seq WHERE r.type=?1 AND r.id=?2",
	            -1, &r->read_current, NULL) ||
	    sqlite3_prepare_v2(
	            r->db,
	            "SELECT version, deleted, last_updated, body, seq FROM resource_version "
	            "WHERE type=?1 AND id=?2 AND version=?3",
	            -1, &r->read_version, NULL)) {
		store__log(STORE__LOG_ENGINE, STORE_UNAVAILABLE,
		           "sqlite: cannot open a reader on %s: %s", l->path,
		           r->db ? sqlite3_errmsg(r->db) : "out of memory");
		sqlite3_finalize(r->read_current);
		sqlite3_close(r->db);
		free(r);
		return NULL;
	}
	sqlite3_progress_handler(r->db, 2000, past_deadline, NULL);
	pthread_mutex_lock(&l->mu);
	r->next = l->readers;
	l->readers = r;
	pthread_mutex_unlock(&l->mu);
	tl_reader.serial = l->serial;
	tl_reader.r = r;
	return r;
}

static int lite_read(store *s, arena *a, const char *type, const char *id, int64_t version,
                     store_version *out)
{
	reader *r = get_reader(s);
	if (!r)
		return STORE_UNAVAILABLE; /* no reader connection now */
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
		out->version = sqlite3_column_int64(st, 0);
		out->deleted = sqlite3_column_int(st, 1);
		out->last_updated = sqlite3_column_int64(st, 2);
		const void *b = sqlite3_column_blob(st, 3);
		size_t len = (size_t)sqlite3_column_bytes(st, 3);
		out->body = b ? arena_memdup(a, b, len) : NULL;
		out->body_len = b ? len : 0;
		out->seq = sqlite3_column_int64(st, 4);
		out->rid = version ? 0 : sqlite3_column_int64(st, 5);
		const unsigned char *cp = version ? NULL : sqlite3_column_text(st, 6);
		out->compartments = version ? NULL : cp ? arena_strdup(a, (const char *)cp) : "";
		status = (!version && out->deleted) ? STORE_GONE : STORE_OK;
	} else if (rc == SQLITE_DONE) {
		status = STORE_NOT_FOUND;
	} else {
		status = step_failure(r->db, rc, "read");
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return status;
}

static int bind_all(sqlite3_stmt *st, const search_bind *binds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const search_bind *b = &binds[i];
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

static int lite_select(store *s, store_conn *c, arena *a, const char *sql, const search_bind *binds,
                       size_t nbinds, size_t limit, store_version **items, size_t *n, int *more)
{
	sqlite3 *db;
	stmt_cache *cache;
	if (c) {
		db = c->db;
		cache = &c->cache;
	} else {
		reader *r = get_reader(s);
		if (!r)
			return STORE_UNAVAILABLE;
		db = r->db;
		cache = &r->cache;
	}
	*n = 0;
	*more = 0;
	*items = NULL;
	sqlite3_stmt *st = stmt_get(db, cache, sql);
	if (!st)
		return lite_failed(db, "query failed to compile");
	if (bind_all(st, binds, nbinds) ||
	    sqlite3_bind_int64(st, (int)nbinds + 1, (int64_t)limit + 1) != SQLITE_OK) {
		stmt_done(st);
		return STORE_ERROR;
	}
	store_version *v = arena_alloc(a, (limit + 1) * sizeof *v);
	size_t k = 0;
	int rc;
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
		const void *b = sqlite3_column_blob(st, 5);
		v[k].body_len = b ? (size_t)sqlite3_column_bytes(st, 5) : 0;
		v[k].body = b ? arena_memdup(a, b, v[k].body_len) : NULL;
		v[k].seq = sqlite3_column_int64(st, 6);
		v[k].deleted = sqlite3_column_int(st, 7);
		v[k].compartments = NULL;
		k++;
	}
	int status = STORE_OK;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		status = step_failure(db, rc, "query");
	stmt_done(st);
	*items = v;
	*n = k;
	return status;
}

static int lite_count(store *s, const char *sql, const search_bind *binds, size_t nbinds,
                      int64_t *out)
{
	reader *r = get_reader(s);
	if (!r)
		return STORE_UNAVAILABLE; /* no reader connection now */
	sqlite3_stmt *st = stmt_get(r->db, &r->cache, sql);
	if (!st)
		return lite_failed(r->db, "count failed to compile");
	if (bind_all(st, binds, nbinds)) {
		stmt_done(st);
		return STORE_ERROR;
	}
	int rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	int status = rc == SQLITE_ROW ? STORE_OK : step_failure(r->db, rc, "count");
	stmt_done(st);
	return status;
}

static int lite_health(store *s)
{
	int64_t n;
	return lite_count(s, "SELECT count(*) FROM bron_schema", NULL, 0, &n);
}

/* ---- the writer ---- */

/* Run a statement that returns no rows: 0 or its STORE_* status. */
static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	int status = rc == SQLITE_DONE ? 0 : lite_failed(sqlite3_db_handle(st), sqlite3_sql(st));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return status;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_STATIC);
}

static int exec(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : lite_failed(db, sql);
}

static int lite_writer_open(store *s, store_conn **out)
{
	*out = &LITE(s)->w;
	return 0;
}

static void lite_writer_close(store *s, store_conn *c) {}

static int lite_writer_ready(store *s, store_conn *c)
{
	return 0;
}

static int lite_begin(store_conn *c)
{
	return exec(c->db, "BEGIN IMMEDIATE");
}

static int lite_commit(store_conn *c)
{
	return exec(c->db, "COMMIT");
}

static void lite_rollback(store_conn *c)
{
	if (!sqlite3_get_autocommit(c->db))
		exec(c->db, "ROLLBACK");
}

static int lite_savepoint(store_conn *c)
{
	return step_done(c->savepoint);
}

static int lite_release(store_conn *c)
{
	return step_done(c->release);
}

static int lite_rollback_to(store_conn *c)
{
	return step_done(c->rollback_to);
}

static int lite_lock_conditions(store_conn *c)
{
	return 0; /* one writer: every write is serialised already */
}

static int lite_get(store_conn *c, const char *type, const char *id, store_prev *out)
{
	sqlite3_stmt *st = c->get;
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	out->exists = rc == SQLITE_ROW;
	out->version = out->exists ? sqlite3_column_int64(st, 0) : 0;
	out->deleted = out->exists ? sqlite3_column_int(st, 1) : 0;
	out->last_updated = out->exists ? sqlite3_column_int64(st, 2) : 0;
	out->rid = out->exists ? sqlite3_column_int64(st, 3) : 0;
	int status = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : lite_failed(c->db, "get");
	sqlite3_reset(st);
	return status;
}

/* The values of a resource_version row (type, id, version, time, deleted, body). */
static void bind_version(sqlite3_stmt *st, const store_op *op, int deleted)
{
	sqlite3_bind_text(st, 1, op->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, op->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, op->version);
	sqlite3_bind_int64(st, 4, op->last_updated);
	sqlite3_bind_int(st, 5, deleted);
	if (deleted)
		sqlite3_bind_null(st, 6);
	else
		sqlite3_bind_blob(st, 6, op->body, (int)op->body_len, SQLITE_STATIC);
}

static int lite_put(store_conn *c, const store_op *op, int deleted, const store_prev *prev,
                    int64_t *seq, int64_t *rid)
{
	sqlite3_stmt *st = c->insert_version;
	bind_version(st, op, deleted);
	int rc = step_done(st);
	if (rc)
		return rc;
	*seq = sqlite3_last_insert_rowid(c->db);
	if (prev->exists) {
		st = c->update_current;
		sqlite3_bind_int64(st, 1, prev->rid);
		sqlite3_bind_int64(st, 2, op->version);
		sqlite3_bind_int(st, 3, deleted);
		sqlite3_bind_int64(st, 4, op->last_updated);
		sqlite3_bind_int64(st, 5, *seq);
	} else {
		st = c->insert_current;
		sqlite3_bind_text(st, 1, op->type, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, op->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, op->version);
		sqlite3_bind_int(st, 4, deleted);
		sqlite3_bind_int64(st, 5, op->last_updated);
		sqlite3_bind_int64(st, 6, *seq);
	}
	if ((rc = step_done(st)))
		return rc;
	*rid = prev->exists ? prev->rid : sqlite3_last_insert_rowid(c->db);
	return 0;
}

static int lite_put_version(store_conn *c, const store_op *op, int deleted)
{
	sqlite3_stmt *st = c->insert_old_version;
	bind_version(st, op, deleted);
	return step_done(st);
}

static int lite_flush(store_conn *c)
{
	return 0; /* every row was inserted as it came */
}

static int lite_unindex(store_conn *c, int64_t rid)
{
	for (size_t i = 0; i < INDEX_TABLES; i++) {
		sqlite3_bind_int64(c->unindex[i], 1, rid);
		int rc = step_done(c->unindex[i]);
		if (rc)
			return rc;
	}
	return 0;
}

/* Insert one index row of resource `rid`. */
static int lite_index_row(store_conn *c, int64_t rid, const search_row *row)
{
	if ((size_t)row->kind >= INDEX_KINDS)
		return STORE_ERROR;
	search_bind b[10];
	sqlite3_stmt *st = c->index[row->kind];
	if (bind_all(st, b, store__row_binds(row, rid, b)))
		return STORE_ERROR;
	return step_done(st);
}

static int lite_compartment(store_conn *c, int64_t rid, const char *patient)
{
	sqlite3_bind_int64(c->compartment, 1, rid);
	bind_text(c->compartment, 2, patient);
	return step_done(c->compartment);
}

static int lite_contained_rids(store_conn *c, int64_t rid, int64_t *rids, size_t max, size_t *n)
{
	sqlite3_stmt *st = c->contained_rids;
	int rc;
	*n = 0;
	sqlite3_bind_int64(st, 1, rid);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max)
		rids[(*n)++] = sqlite3_column_int64(st, 0);
	int status = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : lite_failed(c->db, "contained");
	sqlite3_reset(st);
	return status;
}

static int lite_drop_contained(store_conn *c, int64_t rid)
{
	sqlite3_bind_int64(c->drop_contained, 1, rid);
	return step_done(c->drop_contained);
}

static int lite_put_contained(store_conn *c, const char *type, const char *id, const store_op *op,
                              int64_t seq, int64_t container, int64_t *rid)
{
	sqlite3_stmt *st = c->insert_contained;
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, op->version);
	sqlite3_bind_int64(st, 4, op->last_updated);
	sqlite3_bind_int64(st, 5, seq);
	sqlite3_bind_int64(st, 6, container);
	int rc = step_done(st);
	if (rc)
		return rc;
	*rid = sqlite3_last_insert_rowid(c->db);
	return 0;
}

/* ---- the audit trail ---- */

static int lite_audit_head(store_conn *c, int64_t *seq, unsigned char hash[32])
{
	sqlite3_stmt *st = c->audit_head;
	int rc = sqlite3_step(st);
	int ok = rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == 32;
	if (ok) {
		*seq = sqlite3_column_int64(st, 0);
		memcpy(hash, sqlite3_column_blob(st, 1), 32);
	}
	int status = ok                                      ? 0
	             : rc != SQLITE_ROW && rc != SQLITE_DONE ? lite_failed(c->db, "audit head")
	                                                     : STORE_ERROR;
	sqlite3_reset(st);
	return status;
}

static int lite_audit_put(store_conn *c, const store_audit *r)
{
	sqlite3_stmt *st = c->audit_put;
	char action[2] = {r->action, 0};
	sqlite3_bind_int64(st, 1, r->seq);
	sqlite3_bind_int64(st, 2, r->recorded);
	if (r->patient)
		sqlite3_bind_text(st, 3, r->patient, -1, SQLITE_STATIC);
	if (r->agent)
		sqlite3_bind_text(st, 4, r->agent, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, action, 1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 6, r->outcome);
	sqlite3_bind_blob(st, 7, r->record, (int)r->record_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 8, r->hash, 32, SQLITE_STATIC);
	return step_done(st);
}

static int lite_audit_set_head(store_conn *c, int64_t seq, const unsigned char hash[32])
{
	sqlite3_stmt *st = c->audit_set_head;
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_blob(st, 2, hash, 32, SQLITE_STATIC);
	return step_done(st);
}

static const char *col_text(arena *a, sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? arena_strdup(a, (const char *)t) : NULL;
}

static int lite_audit_select(store *s, arena *a, const char *sql, const search_bind *binds,
                             size_t nbinds, size_t limit, store_audit **out, size_t *n, int *more)
{
	reader *r = get_reader(s);
	if (!r)
		return STORE_UNAVAILABLE; /* no reader connection now */
	*n = 0;
	*more = 0;
	sqlite3_stmt *st = stmt_get(r->db, &r->cache, sql);
	if (!st)
		return lite_failed(r->db, "audit query failed to compile");
	if (bind_all(st, binds, nbinds) ||
	    sqlite3_bind_int64(st, (int)nbinds + 1, (int64_t)limit + 1) != SQLITE_OK) {
		stmt_done(st);
		return STORE_ERROR;
	}
	store_audit *v = arena_calloc(a, (limit + 1) * sizeof *v);
	int rc;
	size_t k = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (k == limit) {
			*more = 1;
			break;
		}
		/* the types first (reading a column as text converts it) */
		int odd = sqlite3_column_type(st, 0) != SQLITE_INTEGER ||
		          sqlite3_column_type(st, 1) != SQLITE_INTEGER ||
		          sqlite3_column_type(st, 4) != SQLITE_TEXT ||
		          sqlite3_column_bytes(st, 4) != 1 ||
		          sqlite3_column_type(st, 5) != SQLITE_INTEGER;
		for (int c = 2; c <= 3; c++)
			if (sqlite3_column_type(st, c) != SQLITE_NULL &&
			    (sqlite3_column_type(st, c) != SQLITE_TEXT ||
			     (size_t)sqlite3_column_bytes(st, c) !=
			             strlen((const char *)sqlite3_column_text(st, c))))
				odd = 1;
		v[k].odd = odd;
		v[k].seq = sqlite3_column_int64(st, 0);
		v[k].recorded = sqlite3_column_int64(st, 1);
		v[k].patient = col_text(a, st, 2);
		v[k].agent = col_text(a, st, 3);
		const char *act = (const char *)sqlite3_column_text(st, 4);
		v[k].action = act ? act[0] : 0;
		v[k].outcome = sqlite3_column_int(st, 5);
		const void *rec = sqlite3_column_blob(st, 6);
		v[k].record_len = rec ? (size_t)sqlite3_column_bytes(st, 6) : 0;
		char *copy = arena_alloc(a, v[k].record_len + 1);
		if (rec)
			memcpy(copy, rec, v[k].record_len);
		copy[v[k].record_len] = 0;
		v[k].record = copy;
		if (sqlite3_column_bytes(st, 7) == 32)
			memcpy(v[k].hash, sqlite3_column_blob(st, 7), 32);
		k++;
	}
	int status = rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK
	                                                   : lite_failed(r->db, "audit query");
	stmt_done(st);
	*out = v;
	*n = k;
	return status;
}

/* ---- bron check ---- */

static int lite_pin(store *s, int on)
{
	reader *r = get_reader(s);
	if (!r)
		return STORE_ERROR;
	/* a deferred transaction takes its snapshot at the first read */
	const char *sql = on ? "BEGIN; SELECT count(*) FROM bron_schema;" : "COMMIT";
	return exec(r->db, sql);
}

/* The text of cell i of the row at st: integers and reals in one form on
 * both engines. */
static const char *cell_text(arena *a, sqlite3_stmt *st, int i)
{
	char num[40];
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL: return NULL;
	case SQLITE_INTEGER:
		snprintf(num, sizeof num, "%lld", (long long)sqlite3_column_int64(st, i));
		return arena_strdup(a, num);
	case SQLITE_FLOAT: {
		double d = sqlite3_column_double(st, i);
		snprintf(num, sizeof num, "%.17g", d == 0 ? 0.0 : d);
		return arena_strdup(a, num);
	}
	default: {
		const void *b = sqlite3_column_blob(st, i);
		size_t len = (size_t)sqlite3_column_bytes(st, i);
		char *t = arena_alloc(a, len + 1);
		if (len)
			memcpy(t, b, len);
		t[len] = 0;
		return t;
	}
	}
}

static int lite_rows(store *s, arena *a, const char *sql, const search_bind *binds, size_t nbinds,
                     size_t ncols, const char ***cells, size_t *n)
{
	reader *r = get_reader(s);
	*n = 0;
	*cells = NULL;
	if (!r)
		return STORE_ERROR;
	sqlite3_stmt *st = stmt_get(r->db, &r->cache, sql);
	if (!st) {
		fprintf(stderr, "bron: query failed to compile: %s\n", sqlite3_errmsg(r->db));
		return STORE_ERROR;
	}
	if (bind_all(st, binds, nbinds)) {
		stmt_done(st);
		return STORE_ERROR;
	}
	size_t cap = 64, k = 0;
	const char **v = arena_alloc(a, cap * ncols * sizeof *v);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (k == cap) {
			const char **w = arena_alloc(a, 2 * cap * ncols * sizeof *w);
			memcpy(w, v, cap * ncols * sizeof *v);
			v = w;
			cap *= 2;
		}
		for (size_t i = 0; i < ncols; i++)
			v[k * ncols + i] = cell_text(a, st, (int)i);
		k++;
	}
	int status = rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
	if (status)
		fprintf(stderr, "bron: query failed: %s\n", sqlite3_errmsg(r->db));
	stmt_done(st);
	*cells = v;
	*n = k;
	return status;
}

static int lite_integrity(store *s, void (*fn)(void *ctx, const char *line), void *ctx)
{
	reader *r = get_reader(s);
	if (!r)
		return STORE_ERROR;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(r->db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "bron: integrity_check: %s\n", sqlite3_errmsg(r->db));
		return STORE_ERROR;
	}
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		if (t && strcmp(t, "ok")) {
			char line[1024];
			snprintf(line, sizeof line, "sqlite integrity_check: %s", t);
			fn(ctx, line);
		}
	}
	int status = rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
	if (status) {
		char line[512];
		snprintf(line, sizeof line, "sqlite integrity_check failed: %s",
		         sqlite3_errmsg(r->db));
		fn(ctx, line);
	}
	sqlite3_finalize(st);
	return STORE_OK;
}

static const store_engine sqlite_engine = {
        .name = "sqlite",
        .dialect = SEARCH_SQLITE,
        .close = lite_close,
        .writer_open = lite_writer_open,
        .writer_close = lite_writer_close,
        .writer_ready = lite_writer_ready,
        .begin = lite_begin,
        .commit = lite_commit,
        .rollback = lite_rollback,
        .savepoint = lite_savepoint,
        .release = lite_release,
        .rollback_to = lite_rollback_to,
        .lock_conditions = lite_lock_conditions,
        .get = lite_get,
        .put = lite_put,
        .put_version = lite_put_version,
        .unindex = lite_unindex,
        .index_row = lite_index_row,
        .compartment = lite_compartment,
        .flush = lite_flush,
        .contained_rids = lite_contained_rids,
        .drop_contained = lite_drop_contained,
        .put_contained = lite_put_contained,
        .select = lite_select,
        .count = lite_count,
        .read = lite_read,
        .health = lite_health,
        .audit_head = lite_audit_head,
        .audit_put = lite_audit_put,
        .audit_set_head = lite_audit_set_head,
        .audit_select = lite_audit_select,
        .pin = lite_pin,
        .rows = lite_rows,
        .integrity = lite_integrity,
};
