/*
 * store_int.h - what the engines of store.h share. store.c holds everything
 * that is the same on every engine: the write queue, the writer threads with
 * group commit, the rules of a write request (conditions, the order of a
 * Bundle's ops, touch-once, If-Match, version and time of a new version,
 * index and contained rows, all-or-nothing with savepoints, retry after a
 * lost race), history and search SQL and the paging of results. An engine
 * (store_sqlite.c, store_pg.c) supplies the primitives below: statements on
 * its own connections. SQL passed to an engine uses `?` placeholders; the
 * PostgreSQL engine renumbers them.
 */
#ifndef BRON_STORE_INT_H
#define BRON_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "store.h"

/* A primitive's result besides the STORE_* codes: the request lost a race
 * with another writer (a deadlock, a serialization failure, a row another
 * transaction inserted first); the group is rolled back and run again. */
#define STORE__RETRY 100

#define STORE__MAX_WRITERS 16

typedef struct store_conn store_conn; /* an engine's writer connection */

/* The current row of a resource, as the writer sees (and locks) it. */
typedef struct store_prev {
	int exists;
	int64_t version;
	int deleted;
	int64_t last_updated;
	int64_t rid;
} store_prev;

/* Columns of every versions query, in this order:
 * rid, type, id, version, last_updated, body, seq, deleted. */
#define STORE__VERSION_COLS "r.rid, r.type, r.id, r.version, r.last_updated"

typedef struct store_engine {
	const char *name; /* "sqlite", "postgresql" */
	search_dialect dialect;
	void (*close)(store *s); /* after the writers stopped: close connections, free impl */
	/* writer connections: one per writer thread */
	int (*writer_open)(store *s, store_conn **out);
	void (*writer_close)(store *s, store_conn *c);
	/* 0, or STORE_UNAVAILABLE when the database cannot be reached now */
	int (*writer_ready)(store *s, store_conn *c);
	/* after a group's requests were answered: the engine's upkeep (NULL: none) */
	void (*after_group)(store_conn *c);
	/* transaction control: 0 or a STORE_* / STORE__RETRY code */
	int (*begin)(store_conn *c);
	int (*commit)(store_conn *c);
	void (*rollback)(store_conn *c);
	int (*savepoint)(store_conn *c);
	int (*release)(store_conn *c);
	int (*rollback_to)(store_conn *c);
	/* serialise conditional writes with other writers (other processes) until commit */
	int (*lock_conditions)(store_conn *c);
	/* the current row of type/id, locked against other writers until commit */
	int (*get)(store_conn *c, const char *type, const char *id, store_prev *out);
	/* the new version's row in resource_version (*seq: its global write
	 * order) and the current row: inserted (prev->exists == 0) or updated;
	 * *rid the current row's id */
	int (*put)(store_conn *c, const store_op *op, int deleted, const store_prev *prev,
	           int64_t *seq, int64_t *rid);
	/* an older version restored into the history only (the current row and
	 * index stay); nothing when that version exists already */
	int (*put_version)(store_conn *c, const store_op *op, int deleted);
	int (*unindex)(store_conn *c, int64_t rid);
	int (*index_row)(store_conn *c, int64_t rid, const search_row *row);
	int (*compartment)(store_conn *c, int64_t rid, const char *patient);
	/* index_row and compartment may hold rows back to send them together:
	 * flush writes what they hold (called after each resource's rows) */
	int (*flush)(store_conn *c);
	/* the contained-resource rows of container `rid` */
	int (*contained_rids)(store_conn *c, int64_t rid, int64_t *rids, size_t max, size_t *n);
	int (*drop_contained)(store_conn *c, int64_t rid);
	int (*put_contained)(store_conn *c, const char *type, const char *id, const store_op *op,
	                     int64_t seq, int64_t container, int64_t *rid);
	/* Run a query whose columns are those of STORE__VERSION_COLS plus body,
	 * seq, deleted, on the writer connection `c` (NULL: a reader). Up to
	 * `limit` rows into *items (arena-allocated); *more if another row
	 * followed. `binds` fill the `?` in order; the SQL ends with "LIMIT ?",
	 * which the engine binds to limit + 1 itself. */
	int (*select)(store *s, store_conn *c, arena *a, const char *sql, const search_bind *binds,
	              size_t nbinds, size_t limit, store_version **items, size_t *n, int *more);
	/* SELECT count(*) ...: *out */
	int (*count)(store *s, const char *sql, const search_bind *binds, size_t nbinds,
	             int64_t *out);
	/* store_read (a prepared fast path on each engine) */
	int (*read)(store *s, arena *a, const char *type, const char *id, int64_t version,
	            store_version *out);
	/* 0 if the database answers now */
	int (*health)(store *s);
	/* the audit chain's head (locked against other writers until commit),
	 * a record (seq and hash set), the new head */
	int (*audit_head)(store_conn *c, int64_t *seq, unsigned char hash[32]);
	int (*audit_put)(store_conn *c, const store_audit *r);
	int (*audit_set_head)(store_conn *c, int64_t seq, const unsigned char hash[32]);
	/* a query of audit rows: seq, recorded, patient, agent, action, outcome,
	 * record, hash (a reader; "LIMIT ?" bound to limit + 1 as select does) */
	int (*audit_select)(store *s, arena *a, const char *sql, const search_bind *binds,
	                    size_t nbinds, size_t limit, store_audit **out, size_t *n, int *more);
	/* store_pin: pin reads to one read transaction (on) or end it */
	int (*pin)(store *s, int on);
	/* a query of any columns on a reader (the pinned one when pinned):
	 * every row's `ncols` cells as text (integers "%lld", reals "%.17g",
	 * text and blobs as their bytes, NULL as NULL) into *cells, row-major
	 * (arena-allocated) */
	int (*rows)(store *s, arena *a, const char *sql, const search_bind *binds, size_t nbinds,
	            size_t ncols, const char ***cells, size_t *n);
	/* the engine's own integrity check on the pinned reader: each problem to fn */
	int (*integrity)(store *s, void (*fn)(void *ctx, const char *line), void *ctx);
} store_engine;

typedef struct store__write_req store__write_req;

struct store {
	const store_engine *e;
	void *impl;
	size_t max_group;
	size_t nwriters;
	pthread_t writers[STORE__MAX_WRITERS];
	pthread_mutex_t mu; /* guards the queue and stopping */
	pthread_cond_t cv;
	store__write_req *head, *tail;
	size_t queued_writes; /* queued requests that are more than audit records */
	int stopping;
	atomic_int failing;         /* the status the last failed group of writes had, until
	                             * one succeeds again (0: writes succeed) */
	int encrypted;              /* set by the engine: data encrypted at rest */
	const crypt_key *value_key; /* set by the engine: store_value_key() */
};

/* Engine entry points: set s->e and s->impl, create or check the schema. */
int store__sqlite_open(store *s, const store_options *opts, char **err);
int store__pg_open(store *s, const store_options *opts, char **err);
/* Create or upgrade the schema (bron migrate); *version the version after. */
int store__sqlite_migrate(const store_options *opts, int *version, char **err);
int store__pg_migrate(const store_options *opts, int *version, char **err);

/* Encryption at rest of the SQLite engine (store_crypt.c). */
typedef struct store__lite_crypt {
	crypt_vfs *vfs; /* NULL: unencrypted */
	int lockfd;     /* the data directory, flock()ed shared while the store is open */
} store__lite_crypt;

/* Before the database in `dir` is opened: take the directory's shared lock,
 * finish or undo an interrupted bron rekey, check that the store is
 * encrypted exactly when `key` is given (a new store: make its data key and
 * key file), and register the VFS of its data key. STORE_OK, or STORE_ERROR
 * with *err malloc'ed. */
int store__lite_crypt_open(const char *dir, const crypt_key *key, store__lite_crypt *out,
                           char **err);
/* After the database was closed. */
void store__lite_crypt_close(store__lite_crypt *c);
int store__pg_rekey(const store_rekey_options *o, char **err);

/* The column values of index row `row` of resource `rid`, in the column
 * order of its table (search.h): pid, rid, grp (not for sp_text), then the
 * kind's own columns. Returns how many (at most 10). */
size_t store__row_binds(const search_row *row, int64_t rid, search_bind out[10]);

/* the number of `?` placeholders in sql (outside '...' literals) */
size_t store__params(const char *sql);
/* a malloc'ed "what: detail" message */
char *store__msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Where a failure is reported from (store__log): each (where, status)
 * pair is its own kind of failure. */
enum {
	STORE__LOG_ENGINE, /* a statement of an engine failed */
	STORE__LOG_WRITES, /* write requests were refused */
	STORE__LOG_AUDIT,  /* audit records of reads could not be stored */
	STORE__LOG_AGAIN,  /* writes succeed again after failing with `status` */
	STORE__LOG_WHERES
};
#define STORE__LOG_EVERY_S 10 /* one line per kind of failure in this many seconds */

/* The STORE_* status (or STORE__RETRY) of a failed PostgreSQL statement
 * with SQLSTATE `state` (NULL: none) on a connection that is still up
 * (`connected`) or was lost (store_pg.c). */
int store__pg_status(int connected, const char *state);

/* Report a failure of kind (where, status) on stderr as one line
 * "bron: store: <what the status means>: <message>" (STORE__LOG_AGAIN:
 * "bron: store: <message> (after: <what the status means>)"): the first of its kind
 * at once, then at most one per STORE__LOG_EVERY_S seconds, which says how
 * many were left unreported since (a full disk fails every request; the log
 * must not fill with them). Thread-safe. Returns 1 if the line was written. */
int store__log(int where, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
