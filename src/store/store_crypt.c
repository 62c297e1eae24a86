/*
 * store_crypt.c - encryption at rest around the engines (store.h): for the
 * SQLite store its key file DIR/bron.db-key (the data key, wrapped by the
 * owner's key; crypt.h), the VFS that encrypts every page with it, the
 * directory lock that keeps bron rekey --full away from a store in use, and
 * bron rekey itself; PostgreSQL's part is in store_pg.c (store__pg_rekey).
 *
 * A full rekey (or encrypting an unencrypted store) copies the database
 * with VACUUM INTO through a VFS with the new data key into bron.db.rekey,
 * writes the new key file as bron.db-key.rekey, then renames the database,
 * then the key file. Whoever opens the store next finishes or undoes an
 * interrupted one (finish_rekey): both .rekey files present - the swap had
 * not begun, both are removed; only the key file - the database was
 * swapped, the key file follows.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int store_encrypted(const store *s)
{
	return s->encrypted;
}

const crypt_key *store_value_key(const store *s)
{
	return s->value_key;
}

/* The files of a SQLite store, malloc'ed. */
typedef struct lite_paths {
	char *db, *key, *db_copy, *key_copy;
} lite_paths;

static void paths_init(lite_paths *p, const char *dir)
{
	p->db = store__msg("%s/bron.db", dir);
	p->key = store__msg("%s/bron.db-key", dir);
	p->db_copy = store__msg("%s/bron.db.rekey", dir);
	p->key_copy = store__msg("%s/bron.db-key.rekey", dir);
}

static void paths_free(lite_paths *p)
{
	free(p->db);
	free(p->key);
	free(p->db_copy);
	free(p->key_copy);
}

static int exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* Remove a database file and what SQLite keeps beside it. */
static void remove_db(const char *path)
{
	static const char *const suffix[] = {"", "-journal", "-wal", "-shm"};
	for (size_t i = 0; i < sizeof suffix / sizeof *suffix; i++) {
		char *p = store__msg("%s%s", path, suffix[i]);
		unlink(p);
		free(p);
	}
}

/* What the database file is: 0 missing or empty (a new store), 1 a plain
 * SQLite database, 2 something else (encrypted pages), -1 unreadable. */
static int db_kind(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	char head[16];
	ssize_t n = read(fd, head, sizeof head);
	close(fd);
	if (n < 0)
		return -1;
	if (n == 0)
		return 0;
	return n == sizeof head && !memcmp(head, "SQLite format 3", 16) ? 1 : 2;
}

/* Finish or undo a full rekey that was interrupted (see the top). */
static int finish_rekey(const char *dir, const lite_paths *p, char **err)
{
	char *tmp = store__msg("%s.tmp", p->key_copy);
	unlink(tmp);
	free(tmp);
	if (exists(p->key_copy) && !exists(p->db_copy)) {
		if (rename(p->key_copy, p->key) || sync_dir(dir)) {
			*err = store__msg("cannot finish an interrupted bron rekey (%s to %s): %s",
			                  p->key_copy, p->key, strerror(errno));
			return STORE_ERROR;
		}
		fprintf(stderr, "bron: finished an interrupted bron rekey of %s\n", dir);
	} else if (exists(p->db_copy)) {
		remove_db(p->db_copy);
		unlink(p->key_copy);
		fprintf(stderr, "bron: removed what an interrupted bron rekey of %s left\n", dir);
	}
	return STORE_OK;
}

/* flock() the data directory: shared while a store is open, exclusive for a
 * full rekey. -1 with errno EWOULDBLOCK when the other kind is held. */
static int lock_dir(const char *dir, int how)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (flock(fd, how | LOCK_NB)) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static char *lock_msg(const char *dir, int exclusive)
{
	if (errno != EWOULDBLOCK)
		return store__msg("cannot lock the data directory %s: %s", dir, strerror(errno));
	if (exclusive)
		return store__msg(
		        "the store in %s is in use (a bron serve, import or reindex has it "
		        "open); a full rekey and encrypting a store work offline only: stop "
		        "them first",
		        dir);
	return store__msg("the store in %s is being rekeyed (bron rekey --full); try again when "
	                  "that is done",
	                  dir);
}

static char *hint_encrypt(const char *dir)
{
	return store__msg("the store in %s is not encrypted: `bron rekey --data %s --unencrypted "
	                  "--new-key-file FILE` encrypts it (with the server stopped), or open it "
	                  "with --unencrypted",
	                  dir, dir);
}

int store__lite_crypt_open(const char *dir, const crypt_key *key, store__lite_crypt *out,
                           char **err)
{
	out->vfs = NULL;
	out->lockfd = lock_dir(dir, LOCK_SH);
	if (out->lockfd < 0) {
		*err = lock_msg(dir, 0);
		return STORE_ERROR;
	}
	lite_paths p;
	paths_init(&p, dir);
	int rc = finish_rekey(dir, &p, err);
	int kind = rc ? 0 : db_kind(p.db);
	int has_key_file = exists(p.key);
	crypt_store_key sk;
	if (rc) {
		;
	} else if (kind < 0) {
		*err = store__msg("cannot read %s: %s", p.db, strerror(errno));
		rc = STORE_ERROR;
	} else if (!key) {
		if (has_key_file || kind == 2) {
			*err = store__msg(
			        has_key_file ? "the store in %s is encrypted: give its key "
			                       "(--key-file FILE, or BRON_KEY_FILE or BRON_KEY in "
			                       "the environment)"
			                     : "%s/bron.db is not a SQLite database (an encrypted "
			                       "store whose key file bron.db-key is missing?)",
			        dir);
			rc = STORE_ERROR;
		}
	} else if (kind == 1) {
		*err = hint_encrypt(dir);
		rc = STORE_ERROR;
	} else if (has_key_file) {
		if (crypt_keyfile_read(p.key, key, &sk, err))
			rc = STORE_ERROR;
	} else if (kind == 2) {
		*err = store__msg("the key file of the encrypted store in %s (%s) is missing", dir,
		                  p.key);
		rc = STORE_ERROR;
	} else {
		/* a new store: its data key first, so no page is ever written
		 * without its key file in place */
		if (crypt_store_key_new(&sk)) {
			*err = store__msg("no random numbers for a data key");
			rc = STORE_ERROR;
		} else if (crypt_keyfile_write(p.key, key, &sk, err)) {
			rc = STORE_ERROR;
		}
	}
	if (!rc && key && crypt_vfs_new(&sk, &out->vfs)) {
		*err = store__msg("cannot register the encrypting SQLite VFS");
		rc = STORE_ERROR;
	}
	crypt_key_wipe(&sk.dek);
	paths_free(&p);
	if (rc) {
		close(out->lockfd);
		out->lockfd = -1;
	}
	return rc;
}

void store__lite_crypt_close(store__lite_crypt *c)
{
	crypt_vfs_free(c->vfs);
	c->vfs = NULL;
	if (c->lockfd >= 0)
		close(c->lockfd);
	c->lockfd = -1;
}

/* ---- bron rekey on SQLite ---- */

/* "file:PATH?vfs=NAME" with PATH absolute and percent-encoded. */
static char *file_uri(const char *path, const char *vfs)
{
	buf b;
	buf_init(&b, 0);
	buf_puts(&b, "file:");
	for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || strchr("/-._~", *c))
			buf_putc(&b, (char)*c);
		else
			buf_printf(&b, "%%%02X", *c);
	}
	buf_printf(&b, "?vfs=%s", vfs);
	return buf_detach(&b, NULL);
}

static int exec_or_msg(sqlite3 *db, const char *sql, const char *what, char **err)
{
	char *m = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &m) == SQLITE_OK)
		return 0;
	*err = store__msg("%s: %s", what, m ? m : sqlite3_errmsg(db));
	sqlite3_free(m);
	return -1;
}

/* PRAGMA quick_check answers "ok": every page decrypts and the b-trees hold. */
static int quick_check(sqlite3 *db, const char *what, char **err)
{
	sqlite3_stmt *st = NULL;
	int ok = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL) == SQLITE_OK &&
	         sqlite3_step(st) == SQLITE_ROW &&
	         !strcmp((const char *)sqlite3_column_text(st, 0), "ok");
	if (!ok)
		*err = store__msg("%s does not check: %s", what,
		                  st && sqlite3_column_text(st, 0)
		                          ? (const char *)sqlite3_column_text(st, 0)
		                          : sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return ok ? 0 : -1;
}

static int fsync_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* Copy the store under a fresh data key into bron.db.rekey and check the
 * copy. src_vfs: the present one (NULL: the store is not encrypted). */
static int copy_store(const lite_paths *p, const char *abs_copy, const char *src_vfs,
                      const char *dst_vfs, char **err)
{
	sqlite3 *src = NULL, *dst = NULL;
	int rc = -1;
	char *uri = file_uri(abs_copy, dst_vfs);
	char *vacuum = sqlite3_mprintf("VACUUM INTO %Q", uri);
	int reserve = CRYPT_RESERVE;
	if (sqlite3_open_v2(p->db, &src, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI, src_vfs) !=
	    SQLITE_OK) {
		*err = store__msg("cannot open %s: %s", p->db, src ? sqlite3_errmsg(src) : "?");
		goto out;
	}
	sqlite3_busy_timeout(src, 10000);
	/* the copy: the page size and reserved bytes of crypt.h's VFS (in this
	 * order: PRAGMA page_size resets the reserve VACUUM is asked for) */
	if (exec_or_msg(src, "PRAGMA temp_store=MEMORY; PRAGMA page_size=4096", "rekey", err))
		goto out;
	sqlite3_file_control(src, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
	if (exec_or_msg(src, vacuum, "cannot copy the store", err))
		goto out;
	if (sqlite3_open_v2(p->db_copy, &dst, SQLITE_OPEN_READWRITE, dst_vfs) != SQLITE_OK) {
		*err = store__msg("cannot open %s: %s", p->db_copy,
		                  dst ? sqlite3_errmsg(dst) : "?");
		goto out;
	}
	if (exec_or_msg(dst, "PRAGMA temp_store=MEMORY; PRAGMA journal_mode=WAL", "rekey", err) ||
	    quick_check(dst, "the re-encrypted copy", err))
		goto out;
	rc = 0;
out:
	/* closing checkpoints each WAL into its database and removes it */
	sqlite3_close(dst);
	sqlite3_close(src);
	sqlite3_free(vacuum);
	free(uri);
	return rc;
}

static int lite_rekey_full(const char *dir, const lite_paths *p, const store_rekey_options *o,
                           char **err)
{
	crypt_store_key old = {0}, fresh;
	crypt_vfs *src = NULL, *dst = NULL;
	char *abs_dir = realpath(dir, NULL), *abs_copy = NULL, *wal = NULL;
	int kind = db_kind(p->db), rc = STORE_ERROR;
	if (!abs_dir || kind < 0) {
		*err = store__msg("cannot read %s: %s", p->db, strerror(errno));
		goto out;
	}
	if (kind == 0) {
		*err = store__msg("there is no store in %s", dir);
		goto out;
	}
	if (o->key) {
		if (crypt_keyfile_read(p->key, o->key, &old, err))
			goto out;
		if (crypt_vfs_new(&old, &src))
			goto no_vfs;
	} else if (exists(p->key) || kind != 1) {
		*err = store__msg("the store in %s is encrypted already: give its key (--key-file "
		                  "FILE, or BRON_KEY_FILE or BRON_KEY in the environment)",
		                  dir);
		goto out;
	}
	if (crypt_store_key_new(&fresh)) {
		*err = store__msg("no random numbers for a data key");
		goto out;
	}
	if (crypt_vfs_new(&fresh, &dst))
		goto no_vfs;
	abs_copy = store__msg("%s/bron.db.rekey", abs_dir);
	wal = store__msg("%s-wal", p->db);
	remove_db(p->db_copy);
	unlink(p->key_copy);
	if (copy_store(p, abs_copy, src ? crypt_vfs_name(src) : NULL, crypt_vfs_name(dst), err))
		goto undo;
	struct stat st;
	if (!lstat(wal, &st) && st.st_size > 0) {
		*err = store__msg("%s was not checkpointed; the store is unchanged", wal);
		goto undo;
	}
	if (fsync_file(p->db_copy) || crypt_keyfile_write(p->key_copy, o->newkey, &fresh, err) ||
	    sync_dir(dir)) {
		if (!*err)
			*err = store__msg("cannot write %s: %s", p->db_copy, strerror(errno));
		goto undo;
	}
	/* the swap: from here on finish_rekey completes what a crash interrupts */
	remove_db(p->db); /* its -wal and -shm: none may outlive it */
	if (rename(p->db_copy, p->db) || sync_dir(dir) || rename(p->key_copy, p->key) ||
	    sync_dir(dir)) {
		*err = store__msg(
		        "renaming the re-encrypted store into place failed (%s); the next "
		        "bron that opens %s completes it",
		        strerror(errno), dir);
		goto out;
	}
	rc = STORE_OK;
	goto out;
no_vfs:
	*err = store__msg("cannot register the encrypting SQLite VFS");
	goto out;
undo:
	remove_db(p->db_copy);
	unlink(p->key_copy);
out:
	crypt_vfs_free(src);
	crypt_vfs_free(dst);
	crypt_key_wipe(&old.dek);
	crypt_key_wipe(&fresh.dek);
	free(abs_dir);
	free(abs_copy);
	free(wal);
	return rc;
}

static int lite_rekey(const store_rekey_options *o, char **err)
{
	const char *dir = o->dir ? o->dir : "data";
	int full = o->full || !o->key;
	int lockfd = lock_dir(dir, full ? LOCK_EX : LOCK_SH);
	if (lockfd < 0) {
		*err = lock_msg(dir, full);
		return STORE_ERROR;
	}
	lite_paths p;
	paths_init(&p, dir);
	int rc = finish_rekey(dir, &p, err);
	crypt_store_key sk;
	if (rc) {
		;
	} else if (full) {
		rc = lite_rekey_full(dir, &p, o, err);
	} else if (!exists(p.key)) {
		*err = db_kind(p.db) == 1 ? hint_encrypt(dir)
		                          : store__msg("there is no encrypted store in %s", dir);
		rc = STORE_ERROR;
	} else if (crypt_keyfile_read(p.key, o->key, &sk, err) ||
	           crypt_keyfile_write(p.key, o->newkey, &sk, err)) {
		rc = STORE_ERROR;
	}
	crypt_key_wipe(&sk.dek);
	paths_free(&p);
	close(lockfd);
	return rc;
}

int store_rekey(const store_rekey_options *o, char **err)
{
	*err = NULL;
	if (!o->newkey) {
		*err = store__msg("no new key");
		return STORE_ERROR;
	}
	if (o->url && *o->url)
		return store__pg_rekey(o, err);
	return lite_rekey(o, err);
}

/* ---- bron backup on SQLite ---- */

typedef struct backup_watch {
	const char *target;
	int64_t total;
	void (*progress)(void *ctx, int64_t done, int64_t total);
	void *ctx;
} backup_watch;

/* SQLite's progress handler during VACUUM INTO: how far the copy is */
static int backup_tick(void *arg)
{
	backup_watch *w = arg;
	struct stat st;
	if (w->progress && !stat(w->target, &st))
		w->progress(w->ctx, st.st_size, w->total);
	return 0;
}

int store_backup(const store_options *o, const char *to,
                 void (*progress)(void *ctx, int64_t done, int64_t total), void *ctx, char **err)
{
	*err = NULL;
	if (o->url) {
		*err = store__msg("bron backup copies the embedded store; back up PostgreSQL with "
		                  "pg_dump (docs/operations.md), or take a portable copy with bron "
		                  "export --history");
		return STORE_ERROR;
	}
	const char *dir = o->dir ? o->dir : "./data";
	lite_paths p;
	paths_init(&p, dir);
	char *target = store__msg("%s/bron.db", to), *abs_to = NULL, *uri = NULL, *vacuum = NULL;
	char *key_copy = store__msg("%s/bron.db-key", to);
	crypt_store_key sk = {0};
	crypt_vfs *vfs = NULL;
	sqlite3 *src = NULL;
	int rc = STORE_ERROR, lockfd = -1, made = 0; /* made: the files at `to` are ours */
	int kind = db_kind(p.db);
	struct stat st;
	if (kind <= 0) {
		*err = store__msg("there is no store in %s", dir);
		goto out;
	}
	/* a full rekey must not swap the files under the copy */
	if ((lockfd = lock_dir(dir, LOCK_SH)) < 0) {
		*err = lock_msg(dir, 0);
		goto out;
	}
	if (mkdir(to, 0700) && errno != EEXIST) {
		*err = store__msg("cannot create %s: %s", to, strerror(errno));
		goto out;
	}
	if (exists(target) || exists(key_copy)) {
		*err = store__msg("%s holds a backup already; give an empty directory", to);
		goto out;
	}
	made = 1;
	if (o->key && kind == 1 && !exists(p.key)) {
		*err = store__msg("the store in %s is not encrypted: back it up with --unencrypted",
		                  dir);
		goto out;
	} else if (o->key) {
		if (crypt_keyfile_read(p.key, o->key, &sk, err))
			goto out;
		if (crypt_vfs_new(&sk, &vfs)) {
			*err = store__msg("cannot register the encrypting SQLite VFS");
			goto out;
		}
	} else if (exists(p.key) || kind != 1) {
		*err = store__msg("the store in %s is encrypted: give its key (--key-file FILE, or "
		                  "BRON_KEY_FILE or BRON_KEY in the environment)",
		                  dir);
		goto out;
	}
	abs_to = realpath(to, NULL);
	if (!abs_to) {
		*err = store__msg("cannot resolve %s: %s", to, strerror(errno));
		goto out;
	}
	char *abs_target = store__msg("%s/bron.db", abs_to);
	if (vfs) {
		uri = file_uri(abs_target, crypt_vfs_name(vfs));
	} else {
		uri = file_uri(abs_target, "unix");
	}
	free(abs_target);
	vacuum = sqlite3_mprintf("VACUUM INTO %Q", uri);
	if (sqlite3_open_v2(p.db, &src, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI,
	                    vfs ? crypt_vfs_name(vfs) : NULL) != SQLITE_OK) {
		*err = store__msg("cannot open %s: %s", p.db, src ? sqlite3_errmsg(src) : "?");
		goto out;
	}
	sqlite3_busy_timeout(src, 10000);
	if (exec_or_msg(src, "PRAGMA temp_store=MEMORY; PRAGMA page_size=4096", "backup", err))
		goto out;
	if (vfs) {
		int reserve = CRYPT_RESERVE;
		sqlite3_file_control(src, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
	}
	backup_watch w = {.target = target,
	                  .total = !stat(p.db, &st) ? st.st_size : 0,
	                  .progress = progress,
	                  .ctx = ctx};
	sqlite3_progress_handler(src, 20000, backup_tick, &w);
	/* a consistent snapshot (one read transaction), while servers write */
	if (exec_or_msg(src, vacuum, "cannot copy the store", err))
		goto out;
	sqlite3_progress_handler(src, 0, NULL, NULL);
	if (fsync_file(target)) {
		*err = store__msg("cannot write %s: %s", target, strerror(errno));
		goto out;
	}
	if (vfs && crypt_keyfile_write(key_copy, o->key, &sk, err))
		goto out;
	if (sync_dir(to)) {
		*err = store__msg("cannot sync %s: %s", to, strerror(errno));
		goto out;
	}
	if (progress && !stat(target, &st))
		progress(ctx, st.st_size, st.st_size);
	rc = STORE_OK;
out:
	if (rc && !*err)
		*err = store__msg("the backup failed");
	if (rc && made) {
		unlink(target);
		unlink(key_copy);
	}
	sqlite3_close(src);
	crypt_vfs_free(vfs);
	crypt_key_wipe(&sk.dek);
	if (lockfd >= 0)
		close(lockfd);
	sqlite3_free(vacuum);
	free(uri);
	free(abs_to);
	free(target);
	free(key_copy);
	paths_free(&p);
	return rc;
}

int store_backup_check(const char *dir, const crypt_key *key, char **err)
{
	*err = NULL;
	lite_paths p;
	paths_init(&p, dir);
	crypt_store_key sk = {0};
	crypt_vfs *vfs = NULL;
	sqlite3 *db = NULL;
	char *abs = realpath(p.db, NULL), *uri = NULL;
	int rc = STORE_ERROR;
	if (!abs) {
		*err = store__msg("%s: %s", p.db, strerror(errno));
		goto out;
	}
	if (key) {
		if (crypt_keyfile_read(p.key, key, &sk, err))
			goto out;
		if (crypt_vfs_new(&sk, &vfs)) {
			*err = store__msg("cannot register the encrypting SQLite VFS");
			goto out;
		}
	}
	/* immutable: the check writes nothing beside the backup (no -wal, -shm) */
	char *base = file_uri(abs, vfs ? crypt_vfs_name(vfs) : "unix");
	uri = store__msg("%s&mode=ro&immutable=1", base);
	free(base);
	if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
		*err = store__msg("cannot open %s: %s", p.db, db ? sqlite3_errmsg(db) : "?");
		goto out;
	}
	if (!quick_check(db, "the backup", err))
		rc = STORE_OK;
out:
	sqlite3_close(db);
	crypt_vfs_free(vfs);
	crypt_key_wipe(&sk.dek);
	free(abs);
	free(uri);
	paths_free(&p);
	return rc;
}
