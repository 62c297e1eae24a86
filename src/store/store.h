/*
 * store.h - the storage interface. Two engines sit behind it: the embedded
 * one on SQLite (store_sqlite.c, a data directory) and one on a PostgreSQL
 * server (store_pg.c, a libpq URL), chosen by store_options; the rules of
 * writes, history and search are shared (store.c), so the REST layer does
 * not know which one runs. A store keeps every version of every resource as
 * the canonical bytes the REST layer produced, plus the current-version
 * pointer. Reads may run on any thread at once; writes are queued to the
 * writer threads, which commit concurrent requests together (group commit),
 * so a write is durable when its completion callback runs with STORE_OK.
 */
#ifndef BRON_STORE_H
#define BRON_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"
#include "../crypt/crypt.h"
#include "../search/search.h"

typedef struct store store;

/* Status codes of store calls. */
enum {
	STORE_OK = 0,
	STORE_NOT_FOUND,   /* no such resource or version */
	STORE_GONE,        /* the current version is a deletion */
	STORE_CONFLICT,    /* If-Match precondition failed */
	STORE_EXISTS,      /* create of an id that exists */
	STORE_INVALID,     /* the op's build callback refused (its diag says why) */
	STORE_MATCHED,     /* conditional create: one resource matched, nothing written */
	STORE_MULTIPLE,    /* a condition matched more than one resource */
	STORE_DUPLICATE,   /* one request touched the same resource twice */
	STORE_ERROR,       /* a database failure that retrying will not cure */
	STORE_UNAVAILABLE, /* the database cannot be reached, or its files could not be
	                    * read or written now (an I/O error): try again later */
	STORE_TIMEOUT,     /* a read ran past this thread's deadline (store_deadline_set) */
	STORE_FULL         /* no space left for the write (SQLite: SQLITE_FULL, ENOSPC,
	                    * EDQUOT, EFBIG; PostgreSQL: SQLSTATE class 53 disk_full):
	                    * nothing of the request was stored; try again when space
	                    * returns (the store needs no restart) */
};

/* Bound the reads this thread makes from now on (the request it serves):
 * a statement still running at `deadline_us` (CLOCK_MONOTONIC, in
 * microseconds; 0: no deadline) is stopped and its call returns
 * STORE_TIMEOUT. The embedded (SQLite) engine checks it every few thousand
 * virtual-machine steps; PostgreSQL's wait for the answer ends there and
 * the statement is cancelled. Writes are never cut short. */
void store_deadline_set(int64_t deadline_us);
/* The current thread's deadline (0: none). */
int64_t store_deadline(void);
/* Now, on the clock deadlines use (CLOCK_MONOTONIC microseconds). */
int64_t store_now_us(void);

typedef struct store_options {
	const char *url;   /* postgresql://... or postgres://...: the PostgreSQL engine */
	const char *dir;   /* else: data directory of the SQLite engine (created if missing) */
	size_t writers;    /* writer threads (PostgreSQL; 0: 4); SQLite has one */
	size_t pool;       /* most reader connections (PostgreSQL; 0: 32) */
	size_t timeout_ms; /* PostgreSQL: longest wait for one statement (0: 10000) */
	int sync_full;     /* 1: fsync every group commit (default); 0: leave to the OS */
	size_t max_group;  /* most write requests per group commit (0: 256) */
	size_t cache_kb;   /* the writer's page cache (0: 4096 KiB) */
	/* The owner's key (borrowed, read during store_open only). SQLite: the
	 * whole database is encrypted (crypt.h's VFS, the data key wrapped in
	 * DIR/bron.db-key); PostgreSQL: resource bodies are sealed before they
	 * reach the database (the data key wrapped in table bron_key). NULL:
	 * unencrypted. A store made with a key refuses to open without it (and
	 * with another), an unencrypted one refuses a key (bron rekey encrypts
	 * a SQLite store). */
	const crypt_key *key;
} store_options;

/* Open (creating if needed) the store in opts->dir. On failure returns
 * STORE_ERROR and sets *err to a malloc'ed message. */
int store_open(const store_options *opts, store **out, char **err);
/* Finish queued writes, stop the writer, close every connection. */
void store_close(store *s);

/* Create or upgrade the schema of the store opts names (bron migrate) and
 * set *version to its schema version. store_open creates the schema of an
 * empty store itself and refuses one of a version it does not know. */
int store_migrate(const store_options *opts, int *version, char **err);

/* ---- encryption at rest ---- */

/* 1 if the store's data is encrypted at rest (opened with a key). */
int store_encrypted(const store *s);
/* The key to seal values with (crypt_seal) before they go into the store's
 * tables, as the store seals resource bodies: the data key on PostgreSQL
 * with a key; NULL on SQLite (every page is encrypted already) and on
 * unencrypted stores. Valid until store_close. */
const crypt_key *store_value_key(const store *s);

typedef struct store_rekey_options {
	const char *url;         /* a PostgreSQL store, or */
	const char *dir;         /* the data directory of a SQLite store */
	const crypt_key *key;    /* the owner's present key; NULL: the store is not encrypted */
	const crypt_key *newkey; /* the owner's new key */
	int full;                /* SQLite: also a fresh data key, every page re-encrypted */
} store_rekey_options;

/* Change the owner's key of a store. With o->key and without o->full the
 * data key is rewrapped (SQLite: DIR/bron.db-key replaced atomically;
 * PostgreSQL: the bron_key row), which is safe while servers run on the
 * store: they keep the data key. With o->full, or without o->key (encrypt
 * an unencrypted store), the SQLite store is copied page by page under a
 * fresh data key and swapped in; that is offline only, and refused while
 * any process has the store open. STORE_OK, or a STORE_* code with *err
 * malloc'ed. */
int store_rekey(const store_rekey_options *o, char **err);

/* ---- backup (SQLite) ---- */

/* Copy the SQLite store of o->dir into the directory `to` (made if missing,
 * holding no backup yet) while servers may keep writing: a consistent
 * snapshot (VACUUM INTO through the store's own VFS, so an encrypted store's
 * copy is encrypted with the same data key; its key file is copied beside
 * it). progress (may be NULL) sees the bytes copied so far. A PostgreSQL
 * store is refused (pg_dump). STORE_OK, or STORE_ERROR with *err malloc'ed. */
int store_backup(const store_options *o, const char *to,
                 void (*progress)(void *ctx, int64_t done, int64_t total), void *ctx, char **err);
/* Open the backup in `dir` read-only (with the owner's key, NULL for an
 * unencrypted one) and check every page and b-tree (PRAGMA quick_check);
 * nothing is written. STORE_OK, or STORE_ERROR with *err malloc'ed. */
int store_backup_check(const char *dir, const crypt_key *key, char **err);

/* "sqlite" or "postgresql". */
const char *store_engine_name(const store *s);
/* The SQL dialect to compile searches for (search_compile). */
search_dialect store_dialect(const store *s);
/* STORE_OK if the database answers now, else STORE_UNAVAILABLE. */
int store_health(store *s);

/* One stored version. Strings and body are allocated from the arena passed
 * to the call that returned it. */
typedef struct store_version {
	const char *type;
	const char *id;
	int64_t version;
	int64_t last_updated; /* microseconds since the epoch */
	int deleted;          /* a deletion marker: no body; 2 in search results: a contained
	                       * resource (type/id its own, body the container's) */
	const char *body; /* canonical JSON, NOT NUL-terminated is not assumed: body[len] == 0 */
	size_t body_len;
	int64_t seq; /* global write order, for history paging */
	int64_t rid; /* the resource's row id (search results and includes) */
	/* store_read of the current version: the ids of the patients whose
	 * compartments hold it, separated by \x1f ("" none); NULL: not read */
	const char *compartments;
} store_version;

/* Read the current version (version == 0) or a given version of type/id.
 * STORE_OK with *out filled (out->deleted set for a deletion marker, which is
 * only returned for an explicit version), STORE_GONE when the current version
 * is deleted (out filled with its version and time), STORE_NOT_FOUND. */
int store_read(store *s, arena *a, const char *type, const char *id, int64_t version,
               store_version *out);

/* History query: type and id narrow it (NULL for all). */
typedef struct store_history_query {
	const char *type;   /* NULL: system level */
	const char *id;     /* NULL: type or system level */
	int64_t since;      /* only versions with last_updated >= since (0: no bound) */
	int64_t at_start;   /* _at: versions current at some time in [at_start, at_end] */
	int64_t at_end;     /* 0: no _at */
	int64_t before_seq; /* paging cursor: only seq < before_seq (0: from the newest) */
	size_t count;       /* page size */
} store_history_query;

/* Newest first. *items is arena-allocated; *more is 1 if another page exists. */
int store_history(store *s, arena *a, const store_history_query *q, store_version **items,
                  size_t *n, int *more);

/* ---- writes ---- */

typedef enum store_op_kind {
	STORE_OP_CREATE, /* new resource with the given id; STORE_EXISTS if taken */
	STORE_OP_UPDATE, /* new version; creates the resource if absent (update-as-create) */
	STORE_OP_DELETE, /* deletion marker; no-op if absent or already deleted */
	STORE_OP_REINDEX /* replace the index rows of the current version `if_match`
	                  * (STORE_CONFLICT if the resource moved on meanwhile) */
} store_op_kind;

typedef struct store_op store_op;

/* A contained resource of a version, indexed on its own so that searches
 * with _contained find it (search.html#contained). The store keeps a row for
 * it in `resource` with deleted = 2, type = its type, id =
 * "<ContainerType>/<containerId>#<cid>", the container's version and seq. */
typedef struct store_contained {
	const char *type;         /* the contained resource's type */
	const char *cid;          /* its local id (without '#') */
	const search_rows *index; /* its index rows */
} store_contained;

/* Builds the canonical body of a new version once its version and time are
 * known. Runs on the writer thread while the requester waits, so it may use
 * the requester's arena. Returns 0, or non-zero to fail the op (STORE_INVALID). */
typedef int (*store_build_fn)(store_op *op, void *ctx);

struct store_op {
	/* in */
	store_op_kind kind;
	const char *type;
	const char *id;
	int64_t if_match;     /* >0: the current version must be this one (STORE_CONFLICT) */
	store_build_fn build; /* create/update: fill body/body_len */
	void *build_ctx;
	const search_rows *index; /* create/update: the new version's index rows (may be NULL) */
	const store_contained *contained; /* create/update: its contained resources */
	size_t ncontained;
	/* Conditional create/update/delete: a search on `type`, evaluated inside
	 * the write transaction so racing requests see each other. create: one
	 * match -> STORE_MATCHED with id/version of the match; update/delete: one
	 * match -> the op applies to it (id is replaced); more -> STORE_MULTIPLE;
	 * none -> create: write; update: create with the given id; delete: no-op. */
	const search_sql *condition;
	arena *arena;       /* where the store allocates strings it returns (a matched id) */
	int matches;        /* out: 0, 1, or 2 for "more than one" */
	int condition_done; /* the store evaluated the condition already (internal) */
	int unique;         /* STORE_DUPLICATE if an earlier op of the request wrote the same
	                     * resource (a transaction touches each resource once) */
	/* restore (a migration with history): the version gets this number and
	 * time instead of the next ones. Newer than the current version: it
	 * becomes the current one; older: it goes into the history only (and
	 * is skipped when there already). 0: the next version, now. */
	int64_t keep_version;
	int64_t keep_time;
	/* out (set by the store before build is called, then by build) */
	int64_t version; /* the new version (for delete: the marker's version, 0 if none) */
	int64_t last_updated;
	int64_t prev_version; /* version before this op (0: none) */
	int prev_deleted;     /* the previous version was a deletion */
	const char *body;     /* build sets these: canonical bytes, owned by the requester */
	size_t body_len;
	int status; /* STORE_* of this op */
};

/* Called on the writer thread when the request's ops are durable (or failed). */
typedef void (*store_done_fn)(void *ctx);

/* Apply `n` ops in one database transaction, all or nothing: if any op fails,
 * none is applied and each op's status says which. The conditions of all
 * ops are evaluated first, against the state before the request, so every
 * op's id is known before the first build callback runs. Queued to the writer; the
 * call returns at once and `done(ctx)` runs after commit or failure. The ops
 * array must stay valid until then. Returns STORE_OK if queued. */
int store_write_async(store *s, store_op *ops, size_t n, store_done_fn done, void *ctx);

/* Blocking form of store_write_async (for tools and tests). Returns the
 * status of the first failed op, or STORE_OK. */
int store_write(store *s, store_op *ops, size_t n);

/* ---- search ---- */

/* Run a compiled search: current, non-deleted resources matching q->where
 * in q->order_by order, `limit` of them after skipping `offset`. *more is 1
 * if at least one more row matches. Items are arena-allocated. */
int store_search(store *s, arena *a, const search_sql *q, size_t limit, size_t offset,
                 store_version **items, size_t *n, int *more);
/* The number of resources matching q->where. */
int store_search_count(store *s, const search_sql *q, int64_t *count);

/* Current, non-deleted resources in row-id order: up to `limit` with
 * rid > after_rid (reindex, export). Items are arena-allocated. */
int store_scan(store *s, arena *a, int64_t after_rid, size_t limit, store_version **items,
               size_t *n);

/* ---- the audit trail ----
 *
 * Append-only and hash-chained: record n carries H(hash of record n-1, the
 * record's seq and fields); the store keeps the head (seq, hash). Records of
 * a write are inserted in the write's transaction; a write that fails still
 * leaves its records (the attempt). Nothing updates or deletes them. */

typedef struct store_audit {
	int64_t seq;         /* its place in the chain (set by the store) */
	int64_t recorded;    /* microseconds since the epoch */
	const char *patient; /* the patient whose data it concerns, or NULL */
	const char *agent;   /* who acted (a token's subject), or NULL */
	char action;         /* C, R, U, D or E (execute) */
	int outcome;         /* 0 success, 4 minor failure, 8 serious, 12 major */
	const char *record;  /* the whole record, canonical JSON */
	size_t record_len;
	unsigned char hash[32]; /* set by the store */
	int odd;                /* read back: a column holds a value of another type or form
	                         * than the store writes (a text as a blob, a NUL inside, a
	                         * longer action), which would hash the same as what it stands
	                         * for but not be found by it: tampered */
} store_audit;

/* The records of a write request, asked on the writer thread inside the
 * transaction once the request's ops ran: status is STORE_OK, or the status
 * of the op that failed (then the request's changes are gone, but these
 * records stay: the attempt). Set *recs (e.g. in the requester's arena,
 * valid until done runs) and *n. May be asked again if the group is retried. */
typedef void (*store_audit_fn)(void *ctx, int status, store_audit **recs, size_t *n);

/* store_write_async whose records `audit` gives are committed with it. */
int store_write_audited(store *s, store_op *ops, size_t n, store_audit_fn audit, void *actx,
                        store_done_fn done, void *ctx);

/* Append records without a write (reads, searches, refusals): copied and
 * committed with the writer's next group; returns at once. */
int store_audit_append(store *s, const store_audit *recs, size_t n);

/* The chain's hash of record r after the record whose hash is prev. */
void store_audit_hash(const unsigned char prev[32], const store_audit *r, unsigned char out[32]);

typedef struct store_audit_query {
	int64_t seq;         /* >0: only this record */
	const char *patient; /* NULL: any */
	const char *agent;   /* NULL: any */
	char action;         /* 0: any */
	int outcome;         /* -1: any */
	int64_t from, to;    /* recorded within [from, to] (0: open) */
	int64_t after;       /* paging: seq > after (ascending) or < (descending; 0: none) */
	int ascending;       /* oldest first (default newest first) */
	size_t count;
} store_audit_query;

/* Records matching q; *out arena-allocated, *more if another page exists. */
int store_audit_search(store *s, arena *a, const store_audit_query *q, store_audit **out, size_t *n,
                       int *more);
/* The head of the chain: the last record's seq (0: none) and hash. */
int store_audit_head(store *s, int64_t *seq, unsigned char hash[32]);
/* The head as the store recorded it with the last commit (audit_head): a
 * record cut off the end, or added after it, shows as a difference. */
int store_audit_kept_head(store *s, int64_t *seq, unsigned char hash[32]);

/* The patients whose compartments hold the resources with row ids rids[]:
 * pairs (*out_rids)[k], (*out_patients)[k], k < *n (arena-allocated). */
int store_compartments(store *s, arena *a, const int64_t *rids, size_t n, int64_t **out_rids,
                       const char ***out_patients, size_t *count);

/* ---- export: a consistent snapshot by write order ----
 * Every version has a seq (global write order); the state of the store as
 * of seq `upto` is, per resource, its newest version with seq <= upto. An
 * export reads that state in pages, however long it takes and across
 * restarts, while writes go on. */

/* The seq of the newest write (0: an empty store). */
int store_last_seq(store *s, int64_t *seq);

typedef struct store_snapshot_query {
	const char *type; /* one resource type */
	int64_t upto;     /* the snapshot: writes with seq <= upto */
	int64_t since;    /* only versions written after (microseconds; 0: all) */
	int history;      /* every version (deletion markers too), not just the current ones */
	int64_t after;    /* paging: seq > after */
	/* an extra condition on the current row `r` (resource r; e.g. a
	 * compiled search's where, or a compartment), with its binds; NULL: none */
	const char *where;
	const search_bind *binds;
	size_t nbinds;
} store_snapshot_query;

/* A page of the snapshot, in seq order: items carry rid (the resource's
 * row), type, id, version, last_updated, body, seq, deleted. */
int store_snapshot(store *s, arena *a, const store_snapshot_query *q, size_t limit,
                   store_version **items, size_t *n, int *more);

/* ---- consistency check (bron check) ---- */

/* Pin every read of this store handle (store_read, searches, history, the
 * audit trail, store_check) to one read transaction: a consistent snapshot
 * while servers keep writing (SQLite: the calling thread's reader in one
 * read transaction; PostgreSQL: one connection in a REPEATABLE READ READ
 * ONLY transaction). For single-threaded tools: while pinned, every thread
 * reading through this handle shares the one connection. on = 0 ends it.
 * STORE_OK, or a STORE_* code. */
int store_pin(store *s, int on);

/* What a stored current version should have derived from its body, as the
 * write path derives it: its index rows (rows->patients: its compartments)
 * and its contained resources. Computed by the caller (bron check parses
 * the body and indexes it as bron reindex does), so the store stays free of
 * JSON. Returns 0 with *rows and *contained (ncontained of them) filled
 * (arena-allocated), or non-zero with *problem set to why the body is not
 * the resource it claims to be (arena or static string). */
typedef int (*store_check_fn)(void *ctx, arena *a, const store_version *v, search_rows *rows,
                              store_contained **contained, size_t *ncontained,
                              const char **problem);

typedef struct store_check_report {
	int64_t resources;  /* resource rows (not contained), deleted ones too */
	int64_t versions;   /* stored versions */
	int64_t index_rows; /* index and compartment rows checked */
	int64_t problems;   /* problems found (each was passed to `problem`) */
} store_check_report;

/* Check a store's consistency: the engine's own integrity (SQLite's PRAGMA
 * integrity_check through the store's VFS; PostgreSQL: the serial sequences
 * are ahead of every row they numbered); per resource the
 * versions 1..n without gaps, the current row naming the newest version
 * (same seq, time, deletion), bodies on live versions only, each current
 * body the resource it claims (`derive`), its index and compartment rows
 * exactly those derived from it (nothing missing, extra or different), no
 * rows for deleted resources, contained resources' rows matching the
 * container's body; and no index row of a resource that does not exist.
 * Each problem goes to `problem` as one line naming type/id/version and
 * what differs. Runs in one snapshot (store_pin) when the caller pinned
 * one. Returns STORE_OK when it could read everything (rep->problems says
 * whether the store is consistent), else a STORE_* code. */
int store_check(store *s, store_check_fn derive, void *dctx,
                void (*problem)(void *ctx, const char *line), void *pctx, store_check_report *rep);

/* Counts of resources (current, not deleted) by type, for tests and metrics. */
int store_count(store *s, const char *type, int64_t *out);

#endif
