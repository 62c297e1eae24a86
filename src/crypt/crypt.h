/*
 * crypt.h - encryption at rest (OpenSSL libcrypto stays behind this header).
 * Three things: the owner's key (32 bytes from a key file or the
 * environment, never stored beside the data); values sealed with
 * AES-256-GCM (PostgreSQL bodies, audit details); and the envelope of a
 * store: a random data key (DEK) that does the work, kept wrapped by the
 * owner's key in a small key file, so changing the owner's key rewraps 93
 * bytes instead of re-encrypting the data. The SQLite VFS that encrypts every
 * page with the DEK is crypt_vfs (vfs.c). docs/security.md tells what is
 * protected and what is not.
 * Keys are plain structs owned by their caller; crypt_key_wipe clears one.
 * Every function here is thread-safe.
 */
#ifndef BRON_CRYPT_H
#define BRON_CRYPT_H

#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"

#define CRYPT_KEY_LEN 32 /* AES-256 */
#define CRYPT_ID_LEN  16 /* a store's random id (associated data of its pages) */

/* A 256-bit key: the owner's key or a data key. */
typedef struct crypt_key {
	unsigned char b[CRYPT_KEY_LEN];
} crypt_key;

/* Overwrite a key (also one on the stack) before its memory is reused. */
void crypt_key_wipe(crypt_key *k);
/* A fresh random key (the CSPRNG of OpenSSL). 0, or -1 if it has no entropy. */
int crypt_key_random(crypt_key *k);

/* Parse a key given as text: 64 hex digits, or 32 bytes in base64 (with or
 * without '=' padding); surrounding white space is ignored. 0 or -1. */
int crypt_key_parse(const char *text, size_t len, crypt_key *out);
/* Read a key file (the text crypt_key_parse takes). 0, or -1 with *err
 * malloc'ed naming the file and the problem. A file that others than its
 * owner may read is accepted with a warning on stderr. */
int crypt_key_load(const char *path, crypt_key *out, char **err);
/* Write a fresh random key to `path` as 64 hex digits and a newline, mode
 * 0600; refuses to replace an existing file unless `force`. 0 or -1 with
 * *err malloc'ed. */
int crypt_key_generate(const char *path, int force, char **err);

/* ---- sealed values: version byte, 12-byte nonce, ciphertext, 16-byte tag ---- */

#define CRYPT_SEAL_OVERHEAD 29 /* 1 + 12 + 16 */
#define CRYPT_SEAL_VERSION  1  /* the first byte of every sealed value */

/* Seal msg[0..len) with AES-256-GCM under k, a random nonce, and `ad`
 * (associated data: authenticated, not stored; the same ad must be given to
 * open it, e.g. what the value belongs to). Writes len + CRYPT_SEAL_OVERHEAD
 * bytes to out (which must not overlap msg). 0, or -1 (no entropy). */
int crypt_seal_raw(const crypt_key *k, const void *ad, size_t adlen, const void *msg, size_t len,
                   unsigned char *out);
/* Open what crypt_seal_raw made: the plaintext (len - CRYPT_SEAL_OVERHEAD
 * bytes) to out. 0, or -1 when it is too short, of another version, altered,
 * sealed with another key or another ad; out is then zeroed. */
int crypt_open_raw(const crypt_key *k, const void *ad, size_t adlen, const void *sealed, size_t len,
                   unsigned char *out);
/* The same, appending to a buf: 0, -1 as above, or BUF_TOOBIG (1) when
 * out->max does not allow it. */
int crypt_seal(const crypt_key *k, const void *ad, size_t adlen, const void *msg, size_t len,
               buf *out);
int crypt_open(const crypt_key *k, const void *ad, size_t adlen, const void *sealed, size_t len,
               buf *out);

/* ---- the wrapped data key of a store ---- */

/* What the key file (SQLite: DIR/bron.db-key) or key row (PostgreSQL)
 * holds: "bron-dek", version 1, 7 zero bytes, the store's id, then the data
 * key sealed by the owner's key with those 32 bytes as associated data. */
#define CRYPT_WRAPPED_LEN (32 + CRYPT_KEY_LEN + CRYPT_SEAL_OVERHEAD) /* 93 */

typedef struct crypt_store_key {
	crypt_key dek;                  /* the data key */
	unsigned char id[CRYPT_ID_LEN]; /* the store's id */
} crypt_store_key;

/* A new data key and store id. 0 or -1. */
int crypt_store_key_new(crypt_store_key *out);
/* Wrap sk with the owner's key: CRYPT_WRAPPED_LEN bytes to out. 0 or -1. */
int crypt_wrap(const crypt_key *owner, const crypt_store_key *sk,
               unsigned char out[CRYPT_WRAPPED_LEN]);
/* Unwrap: 0, -1 when the owner's key does not open it (or it was altered),
 * -2 when it is not a wrapped key of a version this bron knows. */
int crypt_unwrap(const crypt_key *owner, const unsigned char *wrapped, size_t len,
                 crypt_store_key *out);

/* The key file at `path`: read and unwrap (0; -1 with *err "the key does not
 * open this store (PATH)" or why the file is unusable), or wrap and write it
 * atomically: a temporary file beside it, fsync, rename over `path`, fsync
 * of the directory (0 or -1 with *err). Both messages are malloc'ed. */
int crypt_keyfile_read(const char *path, const crypt_key *owner, crypt_store_key *out, char **err);
int crypt_keyfile_write(const char *path, const crypt_key *owner, const crypt_store_key *sk,
                        char **err);

/* ---- the page-encrypting SQLite VFS (vfs.c) ---- */

/* A VFS over SQLite's default one that encrypts the main database, its WAL
 * and its rollback journal page by page with sk (AES-256-GCM; nonce and tag
 * in each page's 32 reserved bytes; the page number and the store id as
 * associated data). It only serves databases of page size CRYPT_PAGE_SIZE
 * with CRYPT_RESERVE reserved bytes (set them before the first write:
 * sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &n)), and
 * refuses to open temporary files (use PRAGMA temp_store=MEMORY). A page
 * whose tag does not verify reads as SQLITE_IOERR_DATA. */
#define CRYPT_PAGE_SIZE 4096
#define CRYPT_RESERVE   32

typedef struct crypt_vfs crypt_vfs;

/* Register a new VFS for sk under a name of its own ("bron-crypt-N"): give
 * crypt_vfs_name() to sqlite3_open_v2 or as ?vfs= in a URI. It copies sk.
 * 0 or -1. */
int crypt_vfs_new(const crypt_store_key *sk, crypt_vfs **out);
const char *crypt_vfs_name(const crypt_vfs *v);
/* Unregister and free; every connection through it must be closed. NULL ok. */
void crypt_vfs_free(crypt_vfs *v);

#endif
