/*
 * crypt.c - the owner's key, sealed values and the wrapped data key of
 * crypt.h, on OpenSSL's AES-256-GCM. A nonce is 12 random bytes for every
 * value sealed (the DEK of a store seals far fewer than the 2^32 values a
 * random nonce allows; see docs/security.md). No state: every function is
 * thread-safe.
 */
#include "crypt.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NONCE_LEN 12
#define TAG_LEN   16

static char *msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = NULL;
	if (vasprintf(&m, fmt, ap) < 0)
		base_oom();
	va_end(ap);
	return m;
}

void crypt_key_wipe(crypt_key *k)
{
	OPENSSL_cleanse(k, sizeof *k);
}

int crypt_key_random(crypt_key *k)
{
	return RAND_bytes(k->b, sizeof k->b) == 1 ? 0 : -1;
}

/* ---- parsing keys ---- */

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

static int is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int crypt_key_parse(const char *text, size_t len, crypt_key *out)
{
	while (len && is_space((unsigned char)*text))
		text++, len--;
	while (len && is_space((unsigned char)text[len - 1]))
		len--;
	crypt_key k;
	if (len == 2 * CRYPT_KEY_LEN) {
		for (size_t i = 0; i < CRYPT_KEY_LEN; i++) {
			int hi = base_hexval((unsigned char)text[2 * i]);
			int lo = base_hexval((unsigned char)text[2 * i + 1]);
			if (hi < 0 || lo < 0)
				goto fail;
			k.b[i] = (unsigned char)(hi << 4 | lo);
		}
		*out = k;
		crypt_key_wipe(&k);
		return 0;
	}
	/* base64 of 32 bytes: 43 characters, then one '=' of padding */
	if (len == 44 && text[43] == '=')
		len = 43;
	if (len != 43)
		return -1;
	uint32_t acc = 0;
	size_t bits = 0, n = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64val((unsigned char)text[i]);
		if (v < 0)
			goto fail;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			k.b[n++] = (unsigned char)(acc >> bits);
		}
	}
	/* 43 * 6 = 258 bits: 32 bytes and two bits that must be zero */
	if (n != CRYPT_KEY_LEN || (acc & ((1u << bits) - 1)))
		goto fail;
	*out = k;
	crypt_key_wipe(&k);
	return 0;
fail:
	crypt_key_wipe(&k);
	return -1;
}

int crypt_key_load(const char *path, crypt_key *out, char **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*err = msg("cannot read the key file %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	char text[256];
	ssize_t n = fstat(fd, &st) == 0 ? read(fd, text, sizeof text) : -1;
	close(fd);
	int rc = 0;
	if (n < 0) {
		*err = msg("cannot read the key file %s: %s", path, strerror(errno));
		rc = -1;
	} else if ((size_t)n == sizeof text || crypt_key_parse(text, (size_t)n, out)) {
		*err = msg(
		        "the key file %s does not hold a key: expected 32 bytes as 64 hex digits "
		        "or in base64 (bron keygen --data-key FILE makes one)",
		        path);
		rc = -1;
	} else if (st.st_mode & 077) {
		fprintf(stderr,
		        "bron: warning: the key file %s may be read by others than its owner "
		        "(chmod 600 it)\n",
		        path);
	}
	OPENSSL_cleanse(text, sizeof text);
	return rc;
}

int crypt_key_generate(const char *path, int force, char **err)
{
	crypt_key k;
	if (crypt_key_random(&k)) {
		*err = msg("no random numbers for a key");
		return -1;
	}
	char text[2 * CRYPT_KEY_LEN + 2];
	for (size_t i = 0; i < CRYPT_KEY_LEN; i++)
		snprintf(text + 2 * i, 3, "%02x", k.b[i]);
	text[2 * CRYPT_KEY_LEN] = '\n';
	crypt_key_wipe(&k);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), 0600);
	int rc = -1;
	if (fd < 0) {
		*err = errno == EEXIST ? msg("%s exists; --force replaces it", path)
		                       : msg("cannot write %s: %s", path, strerror(errno));
	} else if (fchmod(fd, 0600) || write(fd, text, sizeof text - 1) != sizeof text - 1 ||
	           fsync(fd)) {
		*err = msg("cannot write %s: %s", path, strerror(errno));
	} else {
		rc = 0;
	}
	if (fd >= 0)
		close(fd);
	OPENSSL_cleanse(text, sizeof text);
	return rc;
}

/* ---- AES-256-GCM ---- */

/* One AES-256-GCM operation on a fresh context (the VFS keeps its own). */
static int gcm(int enc, const crypt_key *k, const unsigned char nonce[NONCE_LEN], const void *ad,
               size_t adlen, const unsigned char *in, size_t len, unsigned char *out,
               unsigned char tag[TAG_LEN])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	if (!c)
		base_oom();
	int n, ok = EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, k->b, nonce, enc) == 1 &&
	            (!adlen || EVP_CipherUpdate(c, NULL, &n, ad, (int)adlen) == 1) &&
	            (!len || EVP_CipherUpdate(c, out, &n, in, (int)len) == 1);
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1;
	ok = ok && EVP_CipherFinal_ex(c, out + len, &n) == 1;
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

int crypt_seal_raw(const crypt_key *k, const void *ad, size_t adlen, const void *msg_, size_t len,
                   unsigned char *out)
{
	if (len > INT32_MAX - CRYPT_SEAL_OVERHEAD)
		return -1;
	out[0] = CRYPT_SEAL_VERSION;
	if (RAND_bytes(out + 1, NONCE_LEN) != 1)
		return -1;
	return gcm(1, k, out + 1, ad, adlen, msg_, len, out + 1 + NONCE_LEN,
	           out + 1 + NONCE_LEN + len);
}

int crypt_open_raw(const crypt_key *k, const void *ad, size_t adlen, const void *sealed_,
                   size_t len, unsigned char *out)
{
	const unsigned char *sealed = sealed_;
	if (len < CRYPT_SEAL_OVERHEAD || len > INT32_MAX)
		return -1;
	size_t n = len - CRYPT_SEAL_OVERHEAD;
	unsigned char tag[TAG_LEN];
	memcpy(tag, sealed + 1 + NONCE_LEN + n, TAG_LEN);
	if (sealed[0] != CRYPT_SEAL_VERSION ||
	    gcm(0, k, sealed + 1, ad, adlen, sealed + 1 + NONCE_LEN, n, out, tag)) {
		OPENSSL_cleanse(out, n);
		return -1;
	}
	return 0;
}

int crypt_seal(const crypt_key *k, const void *ad, size_t adlen, const void *m, size_t len,
               buf *out)
{
	if (len > out->max)
		return BUF_TOOBIG;
	unsigned char *tmp = base_malloc(len + CRYPT_SEAL_OVERHEAD);
	int rc = crypt_seal_raw(k, ad, adlen, m, len, tmp);
	if (!rc)
		rc = buf_append(out, tmp, len + CRYPT_SEAL_OVERHEAD);
	free(tmp);
	return rc;
}

int crypt_open(const crypt_key *k, const void *ad, size_t adlen, const void *sealed, size_t len,
               buf *out)
{
	if (len < CRYPT_SEAL_OVERHEAD)
		return -1;
	size_t n = len - CRYPT_SEAL_OVERHEAD;
	unsigned char *tmp = base_malloc(n + 1);
	int rc = crypt_open_raw(k, ad, adlen, sealed, len, tmp);
	if (!rc)
		rc = buf_append(out, tmp, n);
	OPENSSL_cleanse(tmp, n);
	free(tmp);
	return rc;
}

/* ---- the wrapped data key ---- */

static const char wrap_magic[8] = {'b', 'r', 'o', 'n', '-', 'd', 'e', 'k'};
#define WRAP_VERSION 1
#define WRAP_HEADER  32 /* magic, version, 7 zero bytes, store id */

int crypt_store_key_new(crypt_store_key *out)
{
	return crypt_key_random(&out->dek) || RAND_bytes(out->id, sizeof out->id) != 1 ? -1 : 0;
}

int crypt_wrap(const crypt_key *owner, const crypt_store_key *sk,
               unsigned char out[CRYPT_WRAPPED_LEN])
{
	memset(out, 0, WRAP_HEADER);
	memcpy(out, wrap_magic, sizeof wrap_magic);
	out[8] = WRAP_VERSION;
	memcpy(out + 16, sk->id, CRYPT_ID_LEN);
	return crypt_seal_raw(owner, out, WRAP_HEADER, sk->dek.b, CRYPT_KEY_LEN, out + WRAP_HEADER);
}

int crypt_unwrap(const crypt_key *owner, const unsigned char *w, size_t len, crypt_store_key *out)
{
	static const unsigned char zero[7];
	if (len != CRYPT_WRAPPED_LEN || memcmp(w, wrap_magic, sizeof wrap_magic) ||
	    w[8] != WRAP_VERSION || memcmp(w + 9, zero, sizeof zero))
		return -2;
	if (crypt_open_raw(owner, w, WRAP_HEADER, w + WRAP_HEADER, len - WRAP_HEADER, out->dek.b))
		return -1;
	memcpy(out->id, w + 16, CRYPT_ID_LEN);
	return 0;
}

int crypt_keyfile_read(const char *path, const crypt_key *owner, crypt_store_key *out, char **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*err = msg("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	unsigned char w[CRYPT_WRAPPED_LEN + 1];
	ssize_t n = read(fd, w, sizeof w);
	close(fd);
	int rc = n < 0 ? -3 : crypt_unwrap(owner, w, (size_t)n, out);
	if (rc == -1)
		*err = msg("the key does not open this store (%s)", path);
	else if (rc == -2)
		*err = msg(
		        "%s is not a Bron key file (or one of a version this bron does not know)",
		        path);
	else if (rc)
		*err = msg("cannot read %s: %s", path, strerror(errno));
	return rc ? -1 : 0;
}

/* fsync the directory that holds `path`, so a rename in it is durable. */
static int sync_dir(const char *path)
{
	char *copy = base_strdup(path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

int crypt_keyfile_write(const char *path, const crypt_key *owner, const crypt_store_key *sk,
                        char **err)
{
	unsigned char w[CRYPT_WRAPPED_LEN];
	if (crypt_wrap(owner, sk, w)) {
		*err = msg("cannot wrap the data key (no random numbers)");
		return -1;
	}
	char *tmp = msg("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc = -1;
	if (fd < 0 || write(fd, w, sizeof w) != (ssize_t)sizeof w || fsync(fd)) {
		*err = msg("cannot write %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
	} else if (close(fd) || rename(tmp, path) || sync_dir(path)) {
		*err = msg("cannot replace %s: %s", path, strerror(errno));
	} else {
		rc = 0;
	}
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}
