/*
 * test_crypt.c - unit tests of crypt.c: owner keys (hex, base64, white
 * space, everything else refused; key files, their mode and errors; fresh
 * keys), sealed values (round trips of every size, each byte of a sealed
 * value flipped, a wrong key, a wrong associated data, truncation, fresh
 * nonces, buf limits), the wrapped data key (round trip, wrong owner key,
 * a foreign file) and atomic key-file writes.
 */
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

#include "crypt/crypt.h"

static const char hex_key[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static void expect_counting_key(const crypt_key *k)
{
	for (int i = 0; i < CRYPT_KEY_LEN; i++)
		assert_int_equal(k->b[i], i);
}

static void test_key_parse(void **state)
{
	crypt_key k;
	assert_int_equal(crypt_key_parse(hex_key, strlen(hex_key), &k), 0);
	expect_counting_key(&k);
	/* upper case, and the white space of a file around it */
	char text[100];
	snprintf(text, sizeof text, "  %s\r\n",
	         "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
	assert_int_equal(crypt_key_parse(text, strlen(text), &k), 0);
	expect_counting_key(&k);
	/* base64 of the same bytes, with and without padding, and url-safe */
	const char *b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
	assert_int_equal(crypt_key_parse(b64, strlen(b64), &k), 0);
	expect_counting_key(&k);
	assert_int_equal(crypt_key_parse(b64, 43, &k), 0);
	expect_counting_key(&k);
	const char *bad[] = {
	        "",
	        "00",
	        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e",     /* 31 bytes */
	        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00", /* 33 */
	        "g00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",   /* not hex */
	        "0001020304050607 8090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",   /* a gap */
	        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh*=",                       /* not b64 */
	        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=", /* bits beyond 32 bytes */
	        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8==",
	        "a secret passphrase that is not a key at all!",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (!crypt_key_parse(bad[i], strlen(bad[i]), &k))
			fail_msg("accepted '%s'", bad[i]);
}

static void test_key_files(void **state)
{
	char dir[] = "/tmp/bron-crypt-keys-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128], other[128];
	snprintf(path, sizeof path, "%s/data.key", dir);
	snprintf(other, sizeof other, "%s/other.key", dir);
	char *err = NULL;
	assert_int_equal(crypt_key_generate(path, 0, &err), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 65); /* 64 hex digits and a newline */
	crypt_key a, b, c;
	assert_int_equal(crypt_key_load(path, &a, &err), 0);
	/* not replaced without force */
	assert_int_equal(crypt_key_generate(path, 0, &err), -1);
	assert_non_null(strstr(err, "exists"));
	free(err);
	err = NULL;
	assert_int_equal(crypt_key_load(path, &b, &err), 0);
	assert_memory_equal(a.b, b.b, sizeof a.b);
	assert_int_equal(crypt_key_generate(path, 1, &err), 0);
	assert_int_equal(crypt_key_load(path, &b, &err), 0);
	assert_memory_not_equal(a.b, b.b, sizeof a.b); /* a fresh key each time */
	assert_int_equal(crypt_key_generate(other, 0, &err), 0);
	assert_int_equal(crypt_key_load(other, &c, &err), 0);
	assert_memory_not_equal(b.b, c.b, sizeof b.b);
	/* a missing file, one that holds no key, a directory */
	unlink(other);
	assert_int_equal(crypt_key_load(other, &c, &err), -1);
	assert_non_null(strstr(err, other));
	free(err);
	err = NULL;
	FILE *f = fopen(other, "w");
	fputs("password123\n", f);
	fclose(f);
	assert_int_equal(crypt_key_load(other, &c, &err), -1);
	assert_non_null(strstr(err, "does not hold a key"));
	free(err);
	err = NULL;
	assert_int_equal(crypt_key_load(dir, &c, &err), -1);
	free(err);
	err = NULL;
	/* a readable-by-all key file still loads (with a warning) */
	f = fopen(other, "w");
	fputs(hex_key, f);
	fclose(f);
	chmod(other, 0644);
	assert_int_equal(crypt_key_load(other, &c, &err), 0);
	expect_counting_key(&c);
	unlink(other);
	unlink(path);
	rmdir(dir);
}

static void test_seal_round_trip(void **state)
{
	crypt_key k;
	assert_int_equal(crypt_key_random(&k), 0);
	static unsigned char msg[70000], sealed[70000 + CRYPT_SEAL_OVERHEAD], out[70000];
	for (size_t i = 0; i < sizeof msg; i++)
		msg[i] = (unsigned char)(i * 7 + 3);
	const size_t sizes[] = {0, 1, 15, 16, 17, 4064, 4096, 65536, 70000};
	for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
		size_t n = sizes[s];
		assert_int_equal(crypt_seal_raw(&k, "Patient\np1\n1", 12, msg, n, sealed), 0);
		assert_int_equal(sealed[0], CRYPT_SEAL_VERSION);
		if (n >= 16)
			assert_memory_not_equal(sealed + 13, msg, 16); /* not the plaintext */
		assert_int_equal(crypt_open_raw(&k, "Patient\np1\n1", 12, sealed,
		                                n + CRYPT_SEAL_OVERHEAD, out),
		                 0);
		if (n)
			assert_memory_equal(out, msg, n);
	}
	/* no associated data */
	assert_int_equal(crypt_seal_raw(&k, NULL, 0, "abc", 3, sealed), 0);
	assert_int_equal(crypt_open_raw(&k, NULL, 0, sealed, 3 + CRYPT_SEAL_OVERHEAD, out), 0);
	assert_memory_equal(out, "abc", 3);
}

static void test_seal_tamper(void **state)
{
	crypt_key k, other;
	assert_int_equal(crypt_key_random(&k), 0);
	assert_int_equal(crypt_key_random(&other), 0);
	const char *msg = "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Jansen\"}]}";
	size_t n = strlen(msg), len = n + CRYPT_SEAL_OVERHEAD;
	unsigned char sealed[256], copy[256], out[256];
	assert_int_equal(crypt_seal_raw(&k, "ad", 2, msg, n, sealed), 0);
	/* every bit of every byte: refused, and no plaintext comes out */
	for (size_t i = 0; i < len; i++)
		for (int bit = 0; bit < 8; bit++) {
			memcpy(copy, sealed, len);
			copy[i] ^= (unsigned char)(1 << bit);
			memset(out, 0x55, sizeof out);
			if (!crypt_open_raw(&k, "ad", 2, copy, len, out))
				fail_msg("byte %zu bit %d flipped and still opened", i, bit);
			for (size_t j = 0; j < n; j++)
				if (out[j])
					fail_msg("byte %zu flipped: output byte %zu not zeroed", i,
					         j);
		}
	/* another key, other associated data, none */
	assert_int_equal(crypt_open_raw(&other, "ad", 2, sealed, len, out), -1);
	assert_int_equal(crypt_open_raw(&k, "aD", 2, sealed, len, out), -1);
	assert_int_equal(crypt_open_raw(&k, NULL, 0, sealed, len, out), -1);
	/* cut short, too short to be one, extended */
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(crypt_open_raw(&k, "ad", 2, sealed, cut, out), -1);
	memcpy(copy, sealed, len);
	copy[len] = 0;
	assert_int_equal(crypt_open_raw(&k, "ad", 2, copy, len + 1, out), -1);
	/* a fresh nonce each time: the same message seals differently */
	unsigned char again[256];
	assert_int_equal(crypt_seal_raw(&k, "ad", 2, msg, n, again), 0);
	assert_memory_not_equal(sealed + 1, again + 1, 12);
	assert_memory_not_equal(sealed + 13, again + 13, n);
}

static void test_seal_buf(void **state)
{
	crypt_key k;
	assert_int_equal(crypt_key_random(&k), 0);
	buf sealed, opened;
	buf_init(&sealed, 0);
	buf_init(&opened, 0);
	buf_puts(&sealed, "prefix:"); /* crypt_seal appends */
	assert_int_equal(crypt_seal(&k, "x", 1, "hello", 5, &sealed), 0);
	assert_int_equal(sealed.len, 7 + 5 + CRYPT_SEAL_OVERHEAD);
	assert_int_equal(crypt_open(&k, "x", 1, sealed.data + 7, sealed.len - 7, &opened), 0);
	assert_int_equal(opened.len, 5);
	assert_memory_equal(opened.data, "hello", 5);
	assert_int_equal(crypt_open(&k, "y", 1, sealed.data + 7, sealed.len - 7, &opened), -1);
	assert_int_equal(opened.len, 5); /* nothing appended */
	assert_int_equal(crypt_open(&k, "x", 1, "short", 5, &opened), -1);
	buf_free(&sealed);
	buf_free(&opened);
	/* a buffer whose maximum does not allow the sealed value */
	buf small;
	buf_init(&small, 20);
	assert_int_equal(crypt_seal(&k, NULL, 0, "hello", 5, &small), BUF_TOOBIG);
	buf_free(&small);
}

static void test_wrap(void **state)
{
	crypt_key owner, other;
	crypt_store_key sk, got;
	assert_int_equal(crypt_key_random(&owner), 0);
	assert_int_equal(crypt_key_random(&other), 0);
	assert_int_equal(crypt_store_key_new(&sk), 0);
	unsigned char w[CRYPT_WRAPPED_LEN];
	assert_int_equal(crypt_wrap(&owner, &sk, w), 0);
	assert_memory_equal(w, "bron-dek", 8);
	assert_int_equal(crypt_unwrap(&owner, w, sizeof w, &got), 0);
	assert_memory_equal(got.dek.b, sk.dek.b, CRYPT_KEY_LEN);
	assert_memory_equal(got.id, sk.id, CRYPT_ID_LEN);
	/* the data key is not in the clear */
	assert_null(memmem(w, sizeof w, sk.dek.b, 8));
	assert_int_equal(crypt_unwrap(&other, w, sizeof w, &got), -1);
	/* the header (and so the store id) is authenticated too */
	for (size_t i = 0; i < sizeof w; i++) {
		unsigned char copy[CRYPT_WRAPPED_LEN];
		memcpy(copy, w, sizeof w);
		copy[i] ^= 0x80;
		if (!crypt_unwrap(&owner, copy, sizeof copy, &got))
			fail_msg("byte %zu of the wrapped key altered and still unwrapped", i);
	}
	assert_int_equal(crypt_unwrap(&owner, w, sizeof w - 1, &got), -2);
	assert_int_equal(crypt_unwrap(&owner, (const unsigned char *)"SQLite format 3", 16, &got),
	                 -2);
}

static void test_keyfile(void **state)
{
	char dir[] = "/tmp/bron-crypt-keyfile-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof path, "%s/bron.db-key", dir);
	crypt_key owner, fresh;
	crypt_store_key sk, got;
	assert_int_equal(crypt_key_random(&owner), 0);
	assert_int_equal(crypt_key_random(&fresh), 0);
	assert_int_equal(crypt_store_key_new(&sk), 0);
	char *err = NULL;
	assert_int_equal(crypt_keyfile_write(path, &owner, &sk, &err), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, CRYPT_WRAPPED_LEN);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(crypt_keyfile_read(path, &owner, &got, &err), 0);
	assert_memory_equal(got.dek.b, sk.dek.b, CRYPT_KEY_LEN);
	/* rewrapped: the new key opens it, the old one no longer */
	assert_int_equal(crypt_keyfile_write(path, &fresh, &sk, &err), 0);
	assert_int_equal(crypt_keyfile_read(path, &fresh, &got, &err), 0);
	assert_memory_equal(got.dek.b, sk.dek.b, CRYPT_KEY_LEN);
	assert_memory_equal(got.id, sk.id, CRYPT_ID_LEN);
	assert_int_equal(crypt_keyfile_read(path, &owner, &got, &err), -1);
	assert_string_equal(err, strstr(err, "the key does not open this store"));
	free(err);
	err = NULL;
	/* no temporary file is left behind */
	char tmp[160];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	assert_int_not_equal(access(tmp, F_OK), 0);
	/* a file that is not a key file */
	FILE *f = fopen(path, "w");
	fputs("SQLite format 3", f);
	fclose(f);
	assert_int_equal(crypt_keyfile_read(path, &fresh, &got, &err), -1);
	assert_non_null(strstr(err, "not a Bron key file"));
	free(err);
	err = NULL;
	unlink(path);
	assert_int_equal(crypt_keyfile_read(path, &fresh, &got, &err), -1);
	free(err);
	err = NULL;
	/* a directory that cannot be written */
	char bad[160];
	snprintf(bad, sizeof bad, "%s/missing/bron.db-key", dir);
	assert_int_equal(crypt_keyfile_write(bad, &owner, &sk, &err), -1);
	assert_non_null(err);
	free(err);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_key_parse),       cmocka_unit_test(test_key_files),
	        cmocka_unit_test(test_seal_round_trip), cmocka_unit_test(test_seal_tamper),
	        cmocka_unit_test(test_seal_buf),        cmocka_unit_test(test_wrap),
	        cmocka_unit_test(test_keyfile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
