/*
 * vfs.c - crypt_vfs of crypt.h: an SQLite VFS over the default (unix) one
 * that keeps every page of a store encrypted on disk. Each page image is
 * AES-256-GCM under the store's data key: its first 4064 bytes are the
 * ciphertext, and the page's 32 reserved bytes (which SQLite leaves alone
 * when told to reserve them) hold the 12-byte nonce, fresh for every write,
 * and the 16-byte tag; the associated data is the store id and the page
 * number, so a page altered, moved to another place or copied from another
 * store fails its tag and reads as SQLITE_IOERR_DATA, never as plaintext.
 *
 * Where the page images are, by file:
 *   database  page N at (N - 1) * 4096;
 *   WAL       after the 32-byte header, frames of a 24-byte header (the
 *             page number first) and the page image; the headers stay as
 *             SQLite wrote them (salts, checksums of the plaintext);
 *   journal   a rollback journal (SQLite uses one only to switch a new
 *             database to WAL, or when WAL is off): records of a 4-byte page
 *             number, the page image and a checksum, after sector-sized
 *             headers; a 4096-byte read or write at an offset that is not a
 *             multiple of 4096 is a page image there.
 * Everything else in those files passes through. SQLite reads partial pages
 * (the 100-byte header of page 1, 16 bytes at offset 24): the whole page is
 * read, verified and the slice copied. Temporary files (sorters, temp
 * tables, statement journals) are refused: the connections use
 * PRAGMA temp_store=MEMORY. The -shm file (the WAL index: page numbers,
 * frame counts, checksums; no page content) is the unix VFS's own.
 *
 * Space: the unix VFS answers SQLITE_FULL only for ENOSPC; a quota (EDQUOT)
 * or a file-size limit (EFBIG: RLIMIT_FSIZE, with SIGXFSZ ignored) comes
 * back as SQLITE_IOERR_WRITE. Every write, sync, truncate and -shm growth
 * through this VFS (database pages, WAL frames and their checkpoint into
 * the database, journal records) turns those into SQLITE_FULL, so a full
 * disk reads the same however it is full; other errors pass unchanged.
 *
 * State: a crypt_vfs is immutable once registered. Each open file has its
 * own cipher contexts and scratch page, and SQLite never uses one file
 * handle on two threads at once.
 */
#include "crypt.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE      CRYPT_PAGE_SIZE
#define DATA      (PAGE - CRYPT_RESERVE) /* the encrypted part of a page */
#define NONCE     12
#define TAG       16
#define WAL_HDR   32
#define FRAME_HDR 24
#define FRAME     (FRAME_HDR + PAGE)

enum { KIND_PLAIN, KIND_DB, KIND_WAL, KIND_JOURNAL };

struct crypt_vfs {
	sqlite3_vfs base; /* what SQLite sees; pAppData points back here */
	sqlite3_vfs *under;
	crypt_store_key sk;
	char name[32];
};

typedef struct cfile {
	sqlite3_file base;
	crypt_vfs *v;
	int kind;
	const char *path; /* for messages (SQLite keeps the name alive while open) */
	EVP_CIPHER_CTX *enc, *dec;
	sqlite3_int64 last_off; /* the last frame header (WAL) or page number (journal) */
	uint32_t last_pgno;     /* written, and the page number in it */
	int recovering;         /* a WAL frame read whole (recovery): see c_read */
	unsigned char *scratch; /* one page */
	sqlite3_file *real;     /* the unix VFS's file, right after this struct */
} cfile;

#define REAL_OFFSET ((sizeof(cfile) + 15) & ~(size_t)15)

static atomic_uint next_vfs = 1;

/* ---- one page ---- */

static void page_ad(const cfile *f, uint32_t pgno, unsigned char ad[CRYPT_ID_LEN + 4])
{
	memcpy(ad, f->v->sk.id, CRYPT_ID_LEN);
	ad[CRYPT_ID_LEN] = (unsigned char)(pgno >> 24);
	ad[CRYPT_ID_LEN + 1] = (unsigned char)(pgno >> 16);
	ad[CRYPT_ID_LEN + 2] = (unsigned char)(pgno >> 8);
	ad[CRYPT_ID_LEN + 3] = (unsigned char)pgno;
}

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* Encrypt page `pgno` from plain to out. SQLite must have left the reserved
 * bytes zero (they are not stored: a read gives zeros back, so the WAL
 * checksums of the plaintext still match at recovery), and page 1 must
 * declare the page size and reserve this VFS needs. */
static int seal_page(cfile *f, uint32_t pgno, const unsigned char *plain, unsigned char *out)
{
	if (!all_zero(plain + DATA, CRYPT_RESERVE) ||
	    (pgno == 1 && (plain[16] != PAGE >> 8 || plain[17] != (PAGE & 0xff) ||
	                   plain[20] != CRYPT_RESERVE))) {
		fprintf(stderr,
		        "bron: crypt: SQLite wrote page %u of %s without %d reserved bytes "
		        "(page size %d); not written\n",
		        pgno, f->path, CRYPT_RESERVE, PAGE);
		return SQLITE_IOERR_WRITE;
	}
	unsigned char ad[CRYPT_ID_LEN + 4];
	page_ad(f, pgno, ad);
	unsigned char *nonce = out + DATA, *tag = out + DATA + NONCE;
	int n;
	if (RAND_bytes(nonce, NONCE) != 1 ||
	    EVP_EncryptInit_ex(f->enc, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_EncryptUpdate(f->enc, NULL, &n, ad, sizeof ad) != 1 ||
	    EVP_EncryptUpdate(f->enc, out, &n, plain, DATA) != 1 ||
	    EVP_EncryptFinal_ex(f->enc, out + DATA, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(f->enc, EVP_CTRL_GCM_GET_TAG, TAG, tag) != 1)
		return SQLITE_IOERR_WRITE;
	memset(out + DATA + NONCE + TAG, 0, CRYPT_RESERVE - NONCE - TAG);
	return SQLITE_OK;
}

/* Decrypt page `pgno` in place. A page that does not verify - altered
 * anywhere, moved, of another store or key, or all zeros (never written
 * through this VFS) - is SQLITE_IOERR_DATA, and p is zeroed. */
static int open_page(cfile *f, uint32_t pgno, unsigned char *p)
{
	unsigned char ad[CRYPT_ID_LEN + 4], tag[TAG];
	page_ad(f, pgno, ad);
	memcpy(tag, p + DATA + NONCE, TAG);
	/* the 4 bytes after the tag are written as zeros and must stay so: no
	 * byte of a page can change unnoticed */
	int n, ok = !all_zero(p + DATA, NONCE + TAG) &&
	            all_zero(p + DATA + NONCE + TAG, CRYPT_RESERVE - NONCE - TAG) &&
	            EVP_DecryptInit_ex(f->dec, NULL, NULL, NULL, p + DATA) == 1 &&
	            EVP_DecryptUpdate(f->dec, NULL, &n, ad, sizeof ad) == 1 &&
	            EVP_DecryptUpdate(f->dec, p, &n, p, DATA) == 1 &&
	            EVP_CIPHER_CTX_ctrl(f->dec, EVP_CTRL_GCM_SET_TAG, TAG, tag) == 1 &&
	            EVP_DecryptFinal_ex(f->dec, p + DATA, &n) == 1;
	if (!ok) {
		OPENSSL_cleanse(p, PAGE);
		if (f->recovering)
			return SQLITE_IOERR_DATA;
		fprintf(stderr,
		        "bron: crypt: page %u of %s does not verify (altered, moved, or written "
		        "with another key); not served\n",
		        pgno, f->path);
		return SQLITE_IOERR_DATA;
	}
	memset(p + DATA, 0, CRYPT_RESERVE);
	return SQLITE_OK;
}

/* ---- where the page images are ---- */

/* The start of the first page image of `f` that ends after byte `off`
 * (the one holding it, or the next one after a WAL header). Database and
 * WAL only: journals are told by is_journal_page. */
static sqlite3_int64 next_image(const cfile *f, sqlite3_int64 off)
{
	if (f->kind == KIND_DB)
		return off - off % PAGE;
	if (off < WAL_HDR)
		return WAL_HDR + FRAME_HDR;
	sqlite3_int64 in = (off - WAL_HDR) % FRAME;
	return off - in + FRAME_HDR;
}

static int is_journal_page(const cfile *f, int amt, sqlite3_int64 off)
{
	return amt == PAGE && off % PAGE != 0 && off >= 4;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The page number of the image at `start`: from its position (database), or
 * the 4 bytes SQLite wrote before it (the WAL frame header, the journal
 * record): from `near` (the caller's bytes from offset near_off, NULL for
 * none), remembered from that write, or read back. 0 if unknown. */
static uint32_t image_pgno(cfile *f, sqlite3_int64 start, const unsigned char *near,
                           sqlite3_int64 near_off)
{
	if (f->kind == KIND_DB)
		return (uint32_t)(start / PAGE + 1);
	sqlite3_int64 at = start - (f->kind == KIND_WAL ? FRAME_HDR : 4);
	if (near && at >= near_off)
		return be32(near + (at - near_off));
	if (at == f->last_off)
		return f->last_pgno;
	unsigned char b[4];
	if (f->real->pMethods->xRead(f->real, b, 4, at) != SQLITE_OK)
		return 0;
	return be32(b);
}

/* ---- I/O methods ---- */

/* rc of a call into the unix VFS, whose errno (read right after it) was
 * err: no space of any kind is SQLITE_FULL (see the file's comment). */
static int space_rc(int rc, int err)
{
	if ((rc & 0xff) == SQLITE_IOERR && (err == ENOSPC || err == EDQUOT || err == EFBIG))
		return SQLITE_FULL;
	return rc;
}

/* A write through the unix VFS (its errno is read right after it). */
static int write_under(sqlite3_file *r, const void *p, int amt, sqlite3_int64 off)
{
	errno = 0;
	int rc = r->pMethods->xWrite(r, p, amt, off);
	return space_rc(rc, errno);
}

static int c_close(sqlite3_file *file)
{
	cfile *f = (cfile *)file;
	int rc = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
	EVP_CIPHER_CTX_free(f->enc);
	EVP_CIPHER_CTX_free(f->dec);
	if (f->scratch)
		OPENSSL_cleanse(f->scratch, PAGE);
	sqlite3_free(f->scratch);
	return rc;
}

/* Decrypt the page image at `start`, whose raw bytes are at p. `size` is
 * the file's size when the read came short (-1: it did not): an image wholly
 * beyond the end stays zeros (SQLITE_IOERR_SHORT_READ, as SQLite expects),
 * one cut by the end is SQLITE_IOERR_DATA. */
static int decrypt_image(cfile *f, sqlite3_int64 start, unsigned char *p, sqlite3_int64 size,
                         const unsigned char *near, sqlite3_int64 near_off)
{
	if (size >= 0 && start >= size)
		return SQLITE_IOERR_SHORT_READ;
	uint32_t pgno = image_pgno(f, start, near, near_off);
	if ((size >= 0 && start + PAGE > size) || !pgno) {
		if (!f->recovering)
			fprintf(stderr, "bron: crypt: a torn page image at offset %lld of %s\n",
			        (long long)start, f->path);
		OPENSSL_cleanse(p, PAGE);
		return SQLITE_IOERR_DATA;
	}
	return open_page(f, pgno, p);
}

static int c_read(sqlite3_file *file, void *out, int amt, sqlite3_int64 off)
{
	cfile *f = (cfile *)file;
	sqlite3_file *r = f->real;
	unsigned char *o = out;
	if (f->kind == KIND_PLAIN || (f->kind == KIND_JOURNAL && !is_journal_page(f, amt, off)))
		return r->pMethods->xRead(r, out, amt, off);
	/* the raw bytes first (headers are served as they are), then each page
	 * image the range touches, decrypted */
	int rc = r->pMethods->xRead(r, out, amt, off);
	if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
		return rc;
	sqlite3_int64 size = -1;
	if (rc == SQLITE_IOERR_SHORT_READ && r->pMethods->xFileSize(r, &size) != SQLITE_OK)
		return SQLITE_IOERR_READ;
	/* SQLite's WAL recovery reads each frame whole, header and image, and
	 * stops at the first whose checksums (over the plaintext) fail. A killed
	 * writer can leave a frame whose header is new and whose image is not
	 * (the header and the image are two writes; the image may be an older
	 * frame's, of another page, or cut): such an image does not verify here.
	 * It reads as zeros then, so its checksum fails and recovery ends at it,
	 * as it does for any torn frame on a plain database; everywhere else an
	 * image that does not verify is an error. */
	f->recovering = f->kind == KIND_WAL && amt == FRAME && off >= WAL_HDR &&
	                (off - WAL_HDR) % FRAME == 0;
	sqlite3_int64 end = off + amt;
	sqlite3_int64 start = f->kind == KIND_JOURNAL ? off : next_image(f, off);
	for (; start < end; start += f->kind == KIND_DB ? PAGE : FRAME) {
		int prc;
		if (start >= off && start + PAGE <= end) {
			/* the whole image is in the caller's buffer */
			prc = decrypt_image(f, start, o + (start - off), size, o, off);
		} else {
			/* a slice of it: the whole image into scratch, then the slice */
			prc = r->pMethods->xRead(r, f->scratch, PAGE, start);
			sqlite3_int64 ssize = -1;
			if (prc == SQLITE_IOERR_SHORT_READ)
				prc = r->pMethods->xFileSize(r, &ssize) == SQLITE_OK
				              ? SQLITE_OK
				              : SQLITE_IOERR_READ;
			if (prc == SQLITE_OK)
				prc = decrypt_image(f, start, f->scratch, ssize, o, off);
			if (prc == SQLITE_OK || prc == SQLITE_IOERR_SHORT_READ) {
				sqlite3_int64 from = off > start ? off : start;
				sqlite3_int64 to = end < start + PAGE ? end : start + PAGE;
				memcpy(o + (from - off), f->scratch + (from - start),
				       (size_t)(to - from));
			}
		}
		if (prc == SQLITE_IOERR_DATA && f->recovering) {
			memset(o + (start - off), 0, PAGE); /* the frame's checksum fails */
			prc = SQLITE_OK;
		}
		if (prc != SQLITE_OK && prc != SQLITE_IOERR_SHORT_READ) {
			f->recovering = 0;
			OPENSSL_cleanse(out, (size_t)amt);
			return prc;
		}
	}
	f->recovering = 0;
	return rc;
}

/* 1 if [off, off + amt) of a WAL touches no page image (the WAL header, a
 * frame header). */
static int wal_header_only(sqlite3_int64 off, int amt)
{
	sqlite3_int64 image = next_image(&(cfile){.kind = KIND_WAL}, off);
	return off + amt <= image && (off >= WAL_HDR || off + amt <= WAL_HDR);
}

static int c_write(sqlite3_file *file, const void *in, int amt, sqlite3_int64 off)
{
	cfile *f = (cfile *)file;
	sqlite3_file *r = f->real;
	const unsigned char *p = in;
	if (f->kind == KIND_PLAIN)
		return write_under(r, in, amt, off);
	if ((f->kind == KIND_JOURNAL && !is_journal_page(f, amt, off)) ||
	    (f->kind == KIND_WAL && wal_header_only(off, amt))) {
		/* a header: plain; a page number (a frame header, the first field
		 * of a journal record) is remembered for the image after it */
		if (amt == (f->kind == KIND_WAL ? FRAME_HDR : 4)) {
			f->last_off = off;
			f->last_pgno = be32(p);
		}
		return write_under(r, in, amt, off);
	}
	/* whole page images only: SQLite writes nothing else there */
	int whole = f->kind == KIND_DB
	                    ? off % PAGE == 0 && amt % PAGE == 0
	                    : amt == PAGE && (f->kind == KIND_JOURNAL || next_image(f, off) == off);
	if (!whole) {
		fprintf(stderr,
		        "bron: crypt: a write of %d bytes at offset %lld of %s is not whole pages; "
		        "refused\n",
		        amt, (long long)off, f->path);
		return SQLITE_IOERR_WRITE;
	}
	for (int i = 0; i < amt; i += PAGE) {
		uint32_t pgno = image_pgno(f, off + i, NULL, 0);
		int rc = pgno ? seal_page(f, pgno, p + i, f->scratch) : SQLITE_IOERR_WRITE;
		if (rc == SQLITE_OK)
			rc = write_under(r, f->scratch, PAGE, off + i);
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static int c_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	sqlite3_file *r = ((cfile *)f)->real;
	errno = 0;
	int rc = r->pMethods->xTruncate(r, size);
	return space_rc(rc, errno);
}

static int c_sync(sqlite3_file *f, int flags)
{
	sqlite3_file *r = ((cfile *)f)->real;
	errno = 0; /* a delayed allocation can fail at fsync (ENOSPC) */
	int rc = r->pMethods->xSync(r, flags);
	return space_rc(rc, errno);
}

static int c_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	sqlite3_file *r = ((cfile *)f)->real;
	return r->pMethods->xFileSize(r, size);
}

static int c_lock(sqlite3_file *f, int level)
{
	sqlite3_file *r = ((cfile *)f)->real;
	return r->pMethods->xLock(r, level);
}

static int c_unlock(sqlite3_file *f, int level)
{
	sqlite3_file *r = ((cfile *)f)->real;
	return r->pMethods->xUnlock(r, level);
}

static int c_check_reserved(sqlite3_file *f, int *out)
{
	sqlite3_file *r = ((cfile *)f)->real;
	return r->pMethods->xCheckReservedLock(r, out);
}

static int c_file_control(sqlite3_file *f, int op, void *arg)
{
	cfile *c = (cfile *)f;
	if (op == SQLITE_FCNTL_VFSNAME) {
		*(char **)arg = sqlite3_mprintf("%s", c->v->name);
		return SQLITE_OK;
	}
	return c->real->pMethods->xFileControl(c->real, op, arg);
}

static int c_sector_size(sqlite3_file *f)
{
	sqlite3_file *r = ((cfile *)f)->real;
	return r->pMethods->xSectorSize(r);
}

static int c_device_characteristics(sqlite3_file *f)
{
	sqlite3_file *r = ((cfile *)f)->real;
	return r->pMethods->xDeviceCharacteristics(r);
}

static int c_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
	sqlite3_file *r = ((cfile *)f)->real;
	errno = 0; /* growing the -shm file writes a byte into each new page */
	int rc = r->pMethods->xShmMap(r, pg, pgsz, extend, pp);
	return space_rc(rc, errno);
}

static int c_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	sqlite3_file *r = ((cfile *)f)->real;
	return r->pMethods->xShmLock(r, offset, n, flags);
}

static void c_shm_barrier(sqlite3_file *f)
{
	sqlite3_file *r = ((cfile *)f)->real;
	r->pMethods->xShmBarrier(r);
}

static int c_shm_unmap(sqlite3_file *f, int delete_flag)
{
	sqlite3_file *r = ((cfile *)f)->real;
	return r->pMethods->xShmUnmap(r, delete_flag);
}

/* Version 2: shared memory for WAL, but no xFetch, so SQLite never maps
 * the file and reads every page through c_read. */
static const sqlite3_io_methods io_methods = {
        .iVersion = 2,
        .xClose = c_close,
        .xRead = c_read,
        .xWrite = c_write,
        .xTruncate = c_truncate,
        .xSync = c_sync,
        .xFileSize = c_file_size,
        .xLock = c_lock,
        .xUnlock = c_unlock,
        .xCheckReservedLock = c_check_reserved,
        .xFileControl = c_file_control,
        .xSectorSize = c_sector_size,
        .xDeviceCharacteristics = c_device_characteristics,
        .xShmMap = c_shm_map,
        .xShmLock = c_shm_lock,
        .xShmBarrier = c_shm_barrier,
        .xShmUnmap = c_shm_unmap,
};

/* ---- the VFS ---- */

static int c_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags,
                  int *out_flags)
{
	crypt_vfs *v = vfs->pAppData;
	cfile *f = (cfile *)file;
	memset(f, 0, sizeof *f);
	f->v = v;
	f->real = (sqlite3_file *)((char *)file + REAL_OFFSET);
	f->path = name ? name : "(temporary file)";
	f->last_off = -1;
	if (flags & SQLITE_OPEN_MAIN_DB) {
		f->kind = KIND_DB;
	} else if (flags & SQLITE_OPEN_WAL) {
		f->kind = KIND_WAL;
	} else if (flags & SQLITE_OPEN_MAIN_JOURNAL) {
		f->kind = KIND_JOURNAL;
	} else if (flags & SQLITE_OPEN_SUPER_JOURNAL) {
		f->kind = KIND_PLAIN; /* the names of the databases of a transaction */
	} else {
		fprintf(stderr,
		        "bron: crypt: SQLite asked for a temporary file (flags 0x%x); refused, it "
		        "would hold plaintext (PRAGMA temp_store=MEMORY)\n",
		        flags);
		return SQLITE_CANTOPEN;
	}
	int rc = v->under->xOpen(v->under, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK)
		return rc;
	f->enc = EVP_CIPHER_CTX_new();
	f->dec = EVP_CIPHER_CTX_new();
	f->scratch = sqlite3_malloc(PAGE);
	if (!f->enc || !f->dec || !f->scratch ||
	    EVP_EncryptInit_ex(f->enc, EVP_aes_256_gcm(), NULL, v->sk.dek.b, NULL) != 1 ||
	    EVP_DecryptInit_ex(f->dec, EVP_aes_256_gcm(), NULL, v->sk.dek.b, NULL) != 1) {
		c_close(file);
		return SQLITE_NOMEM;
	}
	f->base.pMethods = &io_methods;
	return SQLITE_OK;
}

static sqlite3_vfs *under(sqlite3_vfs *vfs)
{
	return ((crypt_vfs *)vfs->pAppData)->under;
}

static int c_delete(sqlite3_vfs *vfs, const char *name, int sync)
{
	return under(vfs)->xDelete(under(vfs), name, sync);
}

static int c_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	return under(vfs)->xAccess(under(vfs), name, flags, out);
}

static int c_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	return under(vfs)->xFullPathname(under(vfs), name, n, out);
}

static void *c_dlopen(sqlite3_vfs *vfs, const char *name)
{
	return NULL; /* no extensions through this VFS */
}

static void c_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
	snprintf(msg, (size_t)n, "no extensions");
}

static void (*c_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	return NULL;
}

static void c_dlclose(sqlite3_vfs *vfs, void *h) {}

static int c_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	return under(vfs)->xRandomness(under(vfs), n, out);
}

static int c_sleep(sqlite3_vfs *vfs, int us)
{
	return under(vfs)->xSleep(under(vfs), us);
}

static int c_current_time(sqlite3_vfs *vfs, double *out)
{
	return under(vfs)->xCurrentTime(under(vfs), out);
}

static int c_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	return under(vfs)->xGetLastError(under(vfs), n, out);
}

static int c_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	return under(vfs)->xCurrentTimeInt64(under(vfs), out);
}

int crypt_vfs_new(const crypt_store_key *sk, crypt_vfs **out)
{
	if (sqlite3_initialize() != SQLITE_OK)
		return -1;
	sqlite3_vfs *u = sqlite3_vfs_find(NULL);
	if (!u || u->iVersion < 2)
		return -1;
	crypt_vfs *v = base_calloc(1, sizeof *v);
	v->under = u;
	v->sk = *sk;
	snprintf(v->name, sizeof v->name, "bron-crypt-%u", atomic_fetch_add(&next_vfs, 1));
	v->base = (sqlite3_vfs){
	        .iVersion = 2,
	        .szOsFile = (int)(REAL_OFFSET + (size_t)u->szOsFile),
	        .mxPathname = u->mxPathname,
	        .zName = v->name,
	        .pAppData = v,
	        .xOpen = c_open,
	        .xDelete = c_delete,
	        .xAccess = c_access,
	        .xFullPathname = c_full_pathname,
	        .xDlOpen = c_dlopen,
	        .xDlError = c_dlerror,
	        .xDlSym = c_dlsym,
	        .xDlClose = c_dlclose,
	        .xRandomness = c_randomness,
	        .xSleep = c_sleep,
	        .xCurrentTime = c_current_time,
	        .xGetLastError = c_last_error,
	        .xCurrentTimeInt64 = c_current_time64,
	};
	if (sqlite3_vfs_register(&v->base, 0) != SQLITE_OK) {
		crypt_vfs_free(v);
		return -1;
	}
	*out = v;
	return 0;
}

const char *crypt_vfs_name(const crypt_vfs *v)
{
	return v->name;
}

void crypt_vfs_free(crypt_vfs *v)
{
	if (!v)
		return;
	sqlite3_vfs_unregister(&v->base);
	crypt_key_wipe(&v->sk.dek);
	free(v);
}
