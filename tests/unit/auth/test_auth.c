/*
 * test_auth.c - unit tests of src/auth (auth.h): key pairs for both algs,
 * signing and verifying with every claim, and every way a token must be
 * refused (tampering, alg none, HS256 key confusion, alg/key mismatch,
 * unknown kid, time, iss/aud, missing or mistyped claims, malformed and huge
 * tokens, DER ECDSA signatures), JWKS files Bron must refuse or partly skip,
 * tokens made outside Bron (OpenSSL's EVP API and the openssl command), and
 * many threads verifying with one key set. Keys live in a temporary
 * directory made by the group setup and removed by its teardown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <pthread.h>

#include "auth/auth.h"
#include "auth/auth_int.h"

static char dir[64];
static char ec_key[128], ec_jwks[128], rsa_key[128], rsa_jwks[128], both_jwks[128];
static arena *A;
static int64_t NOW;

/* ---- helpers ---- */

static void path_in(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *p = malloc(1 << 20);
	size_t n = fread(p, 1, (1 << 20) - 1, f);
	fclose(f);
	p[n] = '\0';
	if (len)
		*len = n;
	return p;
}

static void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static auth_keys *load(const char *path)
{
	auth_keys *k = NULL;
	char *err = NULL;
	int rc = auth_keys_load(path, &k, &err);
	if (rc)
		fail_msg("auth_keys_load(%s): %s", path, err);
	return k;
}

/* The error auth_keys_load gives for a JWKS text; malloc'ed. */
static char *load_error(const char *jwks_text)
{
	char p[128];
	path_in(p, sizeof p, "bad.json");
	spit(p, jwks_text);
	auth_keys *k = NULL;
	char *err = NULL;
	assert_int_equal(auth_keys_load(p, &k, &err), -1);
	assert_null(k);
	assert_non_null(err);
	return err;
}

static char *b64(const void *p, size_t n)
{
	return auth__b64url_encode(p, n);
}

static char *b64s(const char *s)
{
	return b64(s, strlen(s));
}

static EVP_PKEY *read_key(const char *path)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	return k;
}

/* DER ECDSA to JWS r||s, written here independently of src/auth. */
static void der_to_raw(const unsigned char *der, size_t n, unsigned char raw[64])
{
	const unsigned char *p = der;
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)n);
	assert_non_null(s);
	const BIGNUM *r, *ss;
	ECDSA_SIG_get0(s, &r, &ss);
	assert_int_equal(BN_bn2binpad(r, raw, 32), 32);
	assert_int_equal(BN_bn2binpad(ss, raw + 32, 32), 32);
	ECDSA_SIG_free(s);
}

enum { SIG_JWS, SIG_DER };

/* A token over any header and payload text, signed with OpenSSL's EVP API
 * (not through auth_sign); EC signatures as JWS r||s or left in DER. */
static char *make_token(const char *key_path, const char *header, const char *payload, int form)
{
	EVP_PKEY *pkey = read_key(key_path);
	char *h = b64s(header), *p = b64s(payload);
	size_t in_len = strlen(h) + 1 + strlen(p);
	char *input = malloc(in_len + 1);
	snprintf(input, in_len + 1, "%s.%s", h, p);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t n = 0;
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey), 1);
	assert_int_equal(EVP_DigestSign(ctx, NULL, &n, (unsigned char *)input, in_len), 1);
	unsigned char *sig = malloc(n);
	assert_int_equal(EVP_DigestSign(ctx, sig, &n, (unsigned char *)input, in_len), 1);
	char *s;
	if (EVP_PKEY_is_a(pkey, "EC") && form == SIG_JWS) {
		unsigned char raw[64];
		der_to_raw(sig, n, raw);
		s = b64(raw, 64);
	} else {
		s = b64(sig, n);
	}
	size_t total = in_len + 1 + strlen(s);
	char *tok = malloc(total + 1);
	snprintf(tok, total + 1, "%s.%s", input, s);
	free(s);
	free(sig);
	EVP_MD_CTX_free(ctx);
	free(input);
	free(h);
	free(p);
	EVP_PKEY_free(pkey);
	return tok;
}

/* A token through auth_sign. */
static char *sign(const char *key_path, const char *kid, const char *claims)
{
	char *err = NULL;
	char *tok = auth_sign(key_path, kid, claims, &err);
	if (!tok)
		fail_msg("auth_sign: %s", err);
	return tok;
}

/* Claims valid now, with extra members appended (a JSON fragment or ""). */
static char *claims_with(const char *extra)
{
	static char text[2048];
	snprintf(text, sizeof text,
	         "{\"sub\":\"s\",\"iss\":\"bron\",\"aud\":\"bron\",\"exp\":%lld%s%s}",
	         (long long)NOW + 600, *extra ? "," : "", extra);
	return text;
}

static const auth_check CHECK = {.issuer = "bron", .audience = "bron"};

static auth_check check_now(void)
{
	auth_check c = CHECK;
	c.now_s = NOW;
	return c;
}

/* Verify and return the reason (NULL when accepted). */
static const char *why_of(const auth_keys *k, const char *tok, const auth_check *chk)
{
	auth_claims c;
	const char *why = NULL;
	int rc = auth_verify(k, chk, tok, A, &c, &why);
	if (rc == 0)
		return NULL;
	assert_int_equal(rc, -1);
	assert_non_null(why);
	assert_null(strchr(why, '"'));
	assert_null(strchr(why, '\\'));
	return why;
}

static void accepted(const auth_keys *k, const char *tok)
{
	auth_check chk = check_now();
	const char *why = why_of(k, tok, &chk);
	if (why)
		fail_msg("refused (%s): %s", why, tok);
}

static void refused(const auth_keys *k, const char *tok, const char *want)
{
	auth_check chk = check_now();
	const char *why = why_of(k, tok, &chk);
	if (!why)
		fail_msg("accepted, want '%s': %s", want, tok);
	if (want && strcmp(why, want))
		fail_msg("refused with '%s', want '%s'", why, want);
}

/* ---- setup ---- */

static int group_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/bron-auth-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	path_in(ec_key, sizeof ec_key, "ec.pem");
	path_in(ec_jwks, sizeof ec_jwks, "ec.json");
	path_in(rsa_key, sizeof rsa_key, "rsa.pem");
	path_in(rsa_jwks, sizeof rsa_jwks, "rsa.json");
	path_in(both_jwks, sizeof both_jwks, "both.json");
	char *err = NULL;
	if (auth_keygen("ES256", ec_key, ec_jwks, "ec1", &err) ||
	    auth_keygen("RS256", rsa_key, rsa_jwks, "rsa1", &err)) {
		fprintf(stderr, "keygen: %s\n", err);
		free(err);
		return -1;
	}
	/* one JWKS with both keys */
	json_t *e = json_load_file(ec_jwks, 0, NULL), *r = json_load_file(rsa_jwks, 0, NULL);
	json_array_extend(json_object_get(e, "keys"), json_object_get(r, "keys"));
	json_dump_file(e, both_jwks, 0);
	json_decref(e);
	json_decref(r);
	A = arena_new(0);
	NOW = (int64_t)time(NULL);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	arena_free(A);
	return system(cmd);
}

/* ---- keys ---- */

static void test_keygen(void **state)
{
	(void)state;
	struct stat st;
	assert_int_equal(stat(ec_key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(rsa_key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	const char *files[] = {ec_jwks, rsa_jwks};
	const char *algs[] = {"ES256", "RS256"}, *ktys[] = {"EC", "RSA"}, *kids[] = {"ec1", "rsa1"};
	for (int i = 0; i < 2; i++) {
		json_t *j = json_load_file(files[i], 0, NULL);
		assert_non_null(j);
		assert_int_equal(json_array_size(json_object_get(j, "keys")), 1);
		json_t *k = json_array_get(json_object_get(j, "keys"), 0);
		assert_string_equal(json_string_value(json_object_get(k, "kty")), ktys[i]);
		assert_string_equal(json_string_value(json_object_get(k, "alg")), algs[i]);
		assert_string_equal(json_string_value(json_object_get(k, "use")), "sig");
		assert_string_equal(json_string_value(json_object_get(k, "kid")), kids[i]);
		assert_null(json_object_get(k, "d")); /* nothing private in the JWKS */
		json_decref(j);
		auth_keys *keys = load(files[i]);
		assert_int_equal(auth_keys_count(keys), 1);
		auth_keys_free(keys);
	}
	auth_keys *both = load(both_jwks);
	assert_int_equal(auth_keys_count(both), 2);
	auth_keys_free(both);

	/* the private key's kid is found in its JWKS, and not in the other's */
	char *kid = NULL, *err = NULL;
	assert_int_equal(auth_jwks_kid_for(both_jwks, rsa_key, &kid, &err), 0);
	assert_string_equal(kid, "rsa1");
	free(kid);
	assert_int_equal(auth_jwks_kid_for(rsa_jwks, ec_key, &kid, &err), 1);
	assert_null(kid);

	/* without a kid: the RFC 7638 thumbprint (SHA-256, 43 base64url chars) */
	char k2[128], j2[128];
	path_in(k2, sizeof k2, "t.pem");
	path_in(j2, sizeof j2, "t.json");
	assert_int_equal(auth_keygen("ES256", k2, j2, NULL, &err), 0);
	assert_int_equal(auth_jwks_kid_for(j2, k2, &kid, &err), 0);
	assert_int_equal(strlen(kid), 43);
	free(kid);
	/* a new key over an existing one, still 0600 */
	chmod(k2, 0644);
	assert_int_equal(auth_keygen("RS256", k2, j2, "x", &err), 0);
	assert_int_equal(stat(k2, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	assert_int_equal(auth_keygen("HS256", k2, j2, NULL, &err), -1);
	assert_non_null(err);
	free(err);
	err = NULL;
	assert_int_equal(auth_keygen("ES256", "/nonexistent/dir/k.pem", j2, NULL, &err), -1);
	assert_non_null(err);
	free(err);
}

/* RFC 7638 3.1's example: the thumbprint of its RSA key. */
static void test_thumbprint_rfc7638(void **state)
{
	(void)state;
	const char *jwk_text =
	        "{\"kty\":\"RSA\",\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\",\"n\":"
	        "\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
	        "L6"
	        "tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_"
	        "RN5w6Cf0h4QyQ5v-"
	        "65YGjQR0_"
	        "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNL"
	        "yrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-"
	        "kEgU8awapJ"
	        "zKnqDKgw\"}";
	json_t *jwk = json_loads(jwk_text, 0, NULL);
	auth__key key;
	const char *why = NULL;
	assert_int_equal(auth__jwk_import(jwk, &key, &why), 0);
	auth__kty kty;
	json_t *exported = auth__jwk_export(key.pkey, &kty);
	char *t = auth__jwk_thumbprint(exported, kty);
	assert_string_equal(t, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	free(t);
	json_decref(exported);
	json_decref(jwk);
	free(key.kid);
	EVP_PKEY_free(key.pkey);
}

static void test_jwks_refused(void **state)
{
	(void)state;
	auth_keys *k = NULL;
	char *err = NULL;
	assert_int_equal(auth_keys_load("/nonexistent.json", &k, &err), -1);
	free(err);
	free(load_error(""));
	free(load_error("not json"));
	free(load_error("[]"));
	free(load_error("{\"keys\":{}}"));
	free(load_error("{\"keys\":[]}"));
	/* nothing usable: a symmetric key, an encryption key, another curve, another alg */
	err = load_error("{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}");
	assert_non_null(strstr(err, "no RS256"));
	free(err);

	json_t *ec = json_load_file(ec_jwks, 0, NULL);
	json_t *key = json_array_get(json_object_get(ec, "keys"), 0);
	json_t *copy = json_deep_copy(key);
	json_object_set_new(copy, "use", json_string("enc"));
	json_t *other = json_pack("{s:[O,o]}", "keys", copy, json_pack("{s:s}", "kty", "oct"));
	char *text = json_dumps(other, 0);
	free(load_error(text));
	free(text);
	json_decref(other);
	json_decref(copy);

	/* two keys with one kid */
	json_t *dup = json_pack("{s:[O,O]}", "keys", key, key);
	text = json_dumps(dup, 0);
	err = load_error(text);
	assert_non_null(strstr(err, "two keys"));
	free(err);
	free(text);
	json_decref(dup);

	/* a point that is not on the curve */
	unsigned char ones[32];
	memset(ones, 1, sizeof ones);
	char *y = b64(ones, 32);
	copy = json_deep_copy(key);
	json_object_set_new(copy, "y", json_string(y));
	json_t *bad = json_pack("{s:[o]}", "keys", copy);
	text = json_dumps(bad, 0);
	free(load_error(text));
	free(text);
	json_decref(bad);
	free(y);
	/* x of the wrong length, x not base64url, kid not a string */
	const char *mutations[][2] = {{"x", "AAAA"}, {"x", "a+b/"}, {"y", ""}};
	for (size_t i = 0; i < sizeof mutations / sizeof mutations[0]; i++) {
		copy = json_deep_copy(key);
		json_object_set_new(copy, mutations[i][0], json_string(mutations[i][1]));
		bad = json_pack("{s:[o]}", "keys", copy);
		text = json_dumps(bad, 0);
		free(load_error(text));
		free(text);
		json_decref(bad);
	}
	copy = json_deep_copy(key);
	json_object_set_new(copy, "kid", json_integer(7));
	bad = json_pack("{s:[o]}", "keys", copy);
	text = json_dumps(bad, 0);
	free(load_error(text));
	free(text);
	json_decref(bad);

	/* an RSA key of 1024 bits */
	EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	auth__kty kty;
	json_t *jwk = auth__jwk_export(small, &kty);
	bad = json_pack("{s:[o]}", "keys", jwk);
	text = json_dumps(bad, 0);
	err = load_error(text);
	assert_non_null(strstr(err, "2048"));
	free(err);
	free(text);
	json_decref(bad);
	EVP_PKEY_free(small);

	/* usable keys load; others beside them are skipped */
	json_t *mixed = json_pack("{s:[{s:s,s:s},O,{s:s,s:s}]}", "keys", "kty", "oct", "k", "AAAA",
	                          key, "kty", "OKP", "crv", "Ed25519");
	char p[128];
	path_in(p, sizeof p, "mixed.json");
	json_dump_file(mixed, p, 0);
	json_decref(mixed);
	auth_keys *m = load(p);
	assert_int_equal(auth_keys_count(m), 1);
	auth_keys_free(m);
	json_decref(ec);
}

/* ---- signing and verifying ---- */

static void check_all_claims(const char *key_path, const char *kid, const char *jwks)
{
	char claims[1024];
	snprintf(claims, sizeof claims,
	         "{\"sub\":\"practitioner-7\",\"iss\":\"bron\",\"aud\":[\"other\",\"bron\"],"
	         "\"scope\":\"patient/Observation.rs user/*.cruds\",\"patient\":\"p-123\","
	         "\"organization\":\"http://fhir.nl/fhir/NamingSystem/ura|12345678\","
	         "\"purpose_of_use\":\"ETREAT\",\"act\":{\"sub\":\"dr-who\"},\"jti\":\"j-1\","
	         "\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld,\"extra\":[1,{\"x\":null}]}",
	         (long long)NOW - 5, (long long)NOW - 5, (long long)NOW + 600);
	char *tok = sign(key_path, kid, claims);
	auth_keys *k = load(jwks);
	auth_claims c;
	const char *why = NULL;
	auth_check chk = check_now();
	assert_int_equal(auth_verify(k, &chk, tok, A, &c, &why), 0);
	assert_string_equal(c.sub, "practitioner-7");
	assert_string_equal(c.iss, "bron");
	assert_string_equal(c.scope, "patient/Observation.rs user/*.cruds");
	assert_string_equal(c.patient, "p-123");
	assert_string_equal(c.organization, "http://fhir.nl/fhir/NamingSystem/ura|12345678");
	assert_string_equal(c.purpose, "ETREAT");
	assert_string_equal(c.actor, "dr-who");
	assert_string_equal(c.jti, "j-1");
	assert_int_equal(c.iat, NOW - 5);
	assert_int_equal(c.nbf, NOW - 5);
	assert_int_equal(c.exp, NOW + 600);
	/* the claims live in the arena, not in the token */
	assert_true(c.sub < tok || c.sub > tok + strlen(tok));
	/* the default clock works too */
	assert_int_equal(auth_verify(k, &CHECK, tok, A, &c, &why), 0);
	/* no checks at all */
	assert_int_equal(auth_verify(k, NULL, tok, A, &c, &why), 0);
	auth_keys_free(k);
	free(tok);
}

static void test_roundtrip(void **state)
{
	(void)state;
	check_all_claims(ec_key, "ec1", ec_jwks);
	check_all_claims(rsa_key, "rsa1", rsa_jwks);
	check_all_claims(ec_key, "ec1", both_jwks);
	check_all_claims(rsa_key, "rsa1", both_jwks);
	/* one key in the JWKS: no kid needed */
	check_all_claims(ec_key, NULL, ec_jwks);
	check_all_claims(rsa_key, NULL, rsa_jwks);

	/* the minimum: exp only; absent claims are NULL, scope "" */
	auth_keys *k = load(ec_jwks);
	char claims[128];
	snprintf(claims, sizeof claims, "{\"exp\":%lld.75}", (long long)NOW + 10);
	char *tok = sign(ec_key, "ec1", claims);
	auth_claims c;
	const char *why;
	auth_check none = {.now_s = NOW};
	assert_int_equal(auth_verify(k, &none, tok, A, &c, &why), 0);
	assert_null(c.sub);
	assert_null(c.iss);
	assert_string_equal(c.scope, "");
	assert_null(c.patient);
	assert_null(c.organization);
	assert_null(c.purpose);
	assert_null(c.actor);
	assert_null(c.jti);
	assert_int_equal(c.exp, NOW + 10);
	assert_int_equal(c.nbf, 0);
	assert_int_equal(c.iat, 0);
	free(tok);

	/* the header is {alg, typ, kid} */
	tok = sign(ec_key, "ec1", claims);
	char *dot = strchr(tok, '.');
	unsigned char h[256];
	long n = auth__b64url_decode(tok, (size_t)(dot - tok), h);
	assert_true(n > 0);
	assert_memory_equal(h, "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"ec1\"}", (size_t)n);
	free(tok);
	auth_keys_free(k);

	/* auth_sign refuses what is not a JSON object */
	char *err = NULL;
	assert_null(auth_sign(ec_key, NULL, "[1]", &err));
	free(err);
	assert_null(auth_sign(ec_key, NULL, "{", &err));
	free(err);
	assert_null(auth_sign(ec_jwks, NULL, "{}", &err));
	free(err);
}

static void test_tampered(void **state)
{
	(void)state;
	auth_keys *k = load(both_jwks);
	const char *keys[] = {ec_key, rsa_key}, *kids[] = {"ec1", "rsa1"};
	for (int i = 0; i < 2; i++) {
		char *tok = sign(keys[i], kids[i], claims_with("\"scope\":\"user/Patient.r\""));
		accepted(k, tok);
		/* another payload under the same signature */
		char *p = b64s(claims_with("\"scope\":\"user/*.cruds\""));
		char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
		size_t n = (size_t)(d1 - tok) + 1 + strlen(p) + strlen(d2) + 1;
		char *forged = malloc(n);
		snprintf(forged, n, "%.*s.%s%s", (int)(d1 - tok), tok, p, d2);
		refused(k, forged, "bad signature");
		free(forged);
		free(p);
		/* one character of the payload changed */
		char *t2 = strdup(tok);
		t2[(d1 - tok) + 5] ^= 1;
		refused(k, t2, NULL);
		/* one character of the signature changed (not the last: stray bits) */
		strcpy(t2, tok);
		char *s = t2 + (d2 - tok) + 10;
		*s = *s == 'A' ? 'B' : 'A';
		refused(k, t2, "bad signature");
		/* the signature cut short or extended */
		strcpy(t2, tok);
		t2[strlen(t2) - 4] = '\0';
		refused(k, t2, NULL); /* bad signature, or stray bits in its last character */
		free(t2);
		size_t len = strlen(tok);
		t2 = malloc(len + 5);
		snprintf(t2, len + 5, "%sAAAA", tok);
		refused(k, t2, "bad signature");
		free(t2);
		/* the header changed (kid spelled another way is another signing input) */
		free(tok);
	}
	auth_keys_free(k);
}

static void test_alg_none_and_hmac(void **state)
{
	(void)state;
	auth_keys *k = load(ec_jwks);
	char *h = b64s("{\"alg\":\"none\",\"typ\":\"JWT\"}");
	char *p = b64s(claims_with(""));
	char tok[2048];
	snprintf(tok, sizeof tok, "%s.%s.", h, p);
	refused(k, tok, "malformed token"); /* no signature at all */
	snprintf(tok, sizeof tok, "%s.%sAA", h, p);
	refused(k, tok, NULL);
	snprintf(tok, sizeof tok, "%s.%s.AAAA", h, p);
	refused(k, tok, "unsupported alg");
	free(h);
	const char *others[] = {"{\"alg\":\"None\"}",  "{\"alg\":\"RS384\"}",
	                        "{\"alg\":\"PS256\"}", "{\"alg\":\"ES256K\"}",
	                        "{\"alg\":\"EdDSA\"}", "{\"alg\":\"es256\"}",
	                        "{\"alg\":\"\"}"};
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
		h = b64s(others[i]);
		snprintf(tok, sizeof tok, "%s.%s.AAAA", h, p);
		refused(k, tok, "unsupported alg");
		free(h);
	}

	/* key confusion: HS256 with the public key (the JWKS text, the PEM) as HMAC secret */
	EVP_PKEY *pk = read_key(ec_key);
	BIO *mem = BIO_new(BIO_s_mem());
	PEM_write_bio_PUBKEY(mem, pk);
	char *pem;
	long pem_len = BIO_get_mem_data(mem, &pem);
	size_t jwks_len;
	char *jwks = slurp(ec_jwks, &jwks_len);
	const char *hdrs[] = {"{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"ec1\"}",
	                      "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"};
	for (int secret = 0; secret < 2; secret++) {
		for (int i = 0; i < 2; i++) {
			h = b64s(hdrs[i]);
			char input[1024];
			snprintf(input, sizeof input, "%s.%s", h, p);
			unsigned char mac[32];
			unsigned int mac_len = 0;
			HMAC(EVP_sha256(), secret ? pem : jwks,
			     secret ? (int)pem_len : (int)jwks_len, (unsigned char *)input,
			     strlen(input), mac, &mac_len);
			char *s = b64(mac, mac_len);
			snprintf(tok, sizeof tok, "%s.%s", input, s);
			refused(k, tok, "unsupported alg");
			free(s);
			free(h);
		}
	}
	free(jwks);
	BIO_free(mem);
	EVP_PKEY_free(pk);
	free(p);
	auth_keys_free(k);
}

/* A JWKS whose key named kid is the public key of the other type. */
static void test_alg_key_mismatch(void **state)
{
	(void)state;
	auth_keys *k = load(both_jwks);
	/* an RSA signature naming the EC key, and an EC one naming the RSA key */
	char *tok = sign(rsa_key, "ec1", claims_with(""));
	refused(k, tok, "alg does not match the key");
	free(tok);
	tok = sign(ec_key, "rsa1", claims_with(""));
	refused(k, tok, "alg does not match the key");
	free(tok);
	auth_keys_free(k);
	/* and with one key (no kid needed): the other alg is refused */
	k = load(ec_jwks);
	tok = sign(rsa_key, NULL, claims_with(""));
	refused(k, tok, "alg does not match the key");
	free(tok);
	auth_keys_free(k);
	k = load(rsa_jwks);
	tok = sign(ec_key, NULL, claims_with(""));
	refused(k, tok, "alg does not match the key");
	free(tok);
	/* the header says ES256 but the key named is RSA, signature by RSA */
	tok = make_token(rsa_key, "{\"alg\":\"ES256\",\"kid\":\"rsa1\"}", claims_with(""), SIG_JWS);
	refused(k, tok, "alg does not match the key");
	free(tok);
	auth_keys_free(k);
}

static void test_kid(void **state)
{
	(void)state;
	auth_keys *both = load(both_jwks), *one = load(ec_jwks);
	char *tok = sign(ec_key, "nope", claims_with(""));
	refused(both, tok, "unknown key");
	refused(one, tok, "unknown key");
	free(tok);
	/* no kid with several keys */
	tok = sign(ec_key, NULL, claims_with(""));
	refused(both, tok, "unknown key");
	accepted(one, tok);
	free(tok);
	/* a kid that is not a string */
	tok = make_token(ec_key, "{\"alg\":\"ES256\",\"kid\":1}", claims_with(""), SIG_JWS);
	refused(one, tok, "malformed token header");
	free(tok);
	/* a header Bron cannot honour */
	tok = make_token(ec_key, "{\"alg\":\"ES256\",\"kid\":\"ec1\",\"crit\":[\"exp\"],\"exp\":1}",
	                 claims_with(""), SIG_JWS);
	refused(one, tok, "unsupported critical header");
	free(tok);
	/* an embedded jwk or jku is never used: the token signed by a key not in the JWKS */
	char k2[128], j2[128], *err = NULL;
	path_in(k2, sizeof k2, "stranger.pem");
	path_in(j2, sizeof j2, "stranger.json");
	assert_int_equal(auth_keygen("ES256", k2, j2, "ec1", &err), 0);
	char *jwks = slurp(j2, NULL);
	json_t *stranger = json_loads(jwks, 0, NULL);
	json_t *hdr = json_pack("{s:s,s:s,s:O,s:s}", "alg", "ES256", "kid", "ec1", "jwk",
	                        json_array_get(json_object_get(stranger, "keys"), 0), "jku",
	                        "file:///dev/null");
	char *htext = json_dumps(hdr, JSON_COMPACT);
	tok = make_token(k2, htext, claims_with(""), SIG_JWS);
	refused(one, tok, "bad signature");
	free(tok);
	free(htext);
	json_decref(hdr);
	json_decref(stranger);
	free(jwks);
	auth_keys_free(both);
	auth_keys_free(one);
}

static void test_times(void **state)
{
	(void)state;
	auth_keys *k = load(ec_jwks);
	char claims[256];
	auth_check chk = check_now();
	struct {
		long long exp, nbf;
		int skew;
		const char *want; /* NULL: accepted */
	} cases[] = {
	        {NOW - 120, 0, 0, "token expired"},
	        {NOW - 30, 0, 0, NULL},
	        {NOW - 60, 0, 0, "token expired"},
	        {NOW - 59, 0, 0, NULL},
	        {NOW, 0, -1, "token expired"},
	        {NOW + 1, 0, -1, NULL},
	        {NOW - 30, 0, 10, "token expired"},
	        {NOW - 30, 0, 100, NULL},
	        {NOW + 600, NOW + 120, 0, "token not yet valid"},
	        {NOW + 600, NOW + 30, 0, NULL},
	        {NOW + 600, NOW + 1, -1, "token not yet valid"},
	        {NOW + 600, NOW, -1, NULL},
	        {0, 0, 0, "token expired"},
	        {-5, 0, 0, "token expired"},
	        {9223372036854775807LL, 0, 0, NULL},
	        {NOW + 600, 9223372036854775807LL, 0, "token not yet valid"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(claims, sizeof claims,
		         "{\"iss\":\"bron\",\"aud\":\"bron\",\"exp\":%lld,\"nbf\":%lld}",
		         cases[i].exp, cases[i].nbf);
		char *tok = sign(ec_key, "ec1", claims);
		chk.skew_s = cases[i].skew;
		const char *why = why_of(k, tok, &chk);
		if (!cases[i].want != !why || (why && strcmp(why, cases[i].want)))
			fail_msg("case %zu: got '%s', want '%s'", i, why ? why : "accepted",
			         cases[i].want ? cases[i].want : "accepted");
		free(tok);
	}
	/* exp missing */
	char *tok = sign(ec_key, "ec1", "{\"iss\":\"bron\",\"aud\":\"bron\",\"sub\":\"x\"}");
	refused(k, tok, "missing exp");
	free(tok);
	auth_keys_free(k);
}

static void test_iss_aud(void **state)
{
	(void)state;
	auth_keys *k = load(rsa_jwks);
	char claims[256];
	struct {
		const char *iss_aud; /* JSON members */
		const char *want;
	} cases[] = {
	        {"\"iss\":\"bron\",\"aud\":\"bron\"", NULL},
	        {"\"iss\":\"evil\",\"aud\":\"bron\"", "wrong issuer"},
	        {"\"iss\":\"Bron\",\"aud\":\"bron\"", "wrong issuer"},
	        {"\"aud\":\"bron\"", "wrong issuer"},
	        {"\"iss\":\"bron\",\"aud\":\"other\"", "wrong audience"},
	        {"\"iss\":\"bron\",\"aud\":\"bronx\"", "wrong audience"},
	        {"\"iss\":\"bron\"", "wrong audience"},
	        {"\"iss\":\"bron\",\"aud\":[]", "wrong audience"},
	        {"\"iss\":\"bron\",\"aud\":[\"a\",\"b\"]", "wrong audience"},
	        {"\"iss\":\"bron\",\"aud\":[\"a\",\"bron\"]", NULL},
	        {"\"iss\":\"bron\",\"aud\":[\"bron\"]", NULL},
	        {"\"iss\":\"bron\",\"aud\":[\"bron\",1]",
	         "claim aud is not a string or an array of strings"},
	        {"\"iss\":\"bron\",\"aud\":5", "claim aud is not a string or an array of strings"},
	        {"\"iss\":7,\"aud\":\"bron\"", "claim iss is not a string"},
	};
	auth_check chk = check_now();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(claims, sizeof claims, "{%s,\"exp\":%lld}", cases[i].iss_aud,
		         (long long)NOW + 60);
		char *tok = sign(rsa_key, "rsa1", claims);
		const char *why = why_of(k, tok, &chk);
		if (!cases[i].want != !why || (why && strcmp(why, cases[i].want)))
			fail_msg("case %zu: got '%s', want '%s'", i, why ? why : "accepted",
			         cases[i].want ? cases[i].want : "accepted");
		free(tok);
	}
	/* unchecked: any iss and aud pass */
	auth_check loose = {.now_s = NOW};
	snprintf(claims, sizeof claims, "{\"iss\":\"x\",\"aud\":[\"y\"],\"exp\":%lld}",
	         (long long)NOW + 60);
	char *tok = sign(rsa_key, "rsa1", claims);
	assert_null(why_of(k, tok, &loose));
	free(tok);
	auth_keys_free(k);
}

static void test_claim_types(void **state)
{
	(void)state;
	auth_keys *k = load(ec_jwks);
	const char *cases[][2] = {
	        {"\"scope\":5", "claim scope is not a string"},
	        {"\"scope\":[\"user/*.r\"]", "claim scope is not a string"},
	        {"\"patient\":null", "claim patient is not a string"},
	        {"\"patient\":42", "claim patient is not a string"},
	        {"\"organization\":true", "claim organization is not a string"},
	        {"\"purpose_of_use\":[\"TREAT\"]", "claim purpose_of_use is not a string"},
	        {"\"jti\":1", "claim jti is not a string"},
	        {"\"act\":\"bob\"", "claim act is not an object with a string sub"},
	        {"\"act\":{}", "claim act is not an object with a string sub"},
	        {"\"act\":{\"sub\":1}", "claim act is not an object with a string sub"},
	        {"\"nbf\":\"0\"", "claim nbf is not a number of seconds"},
	        {"\"iat\":true", "claim iat is not a number of seconds"},
	        {"\"iat\":1e300", "claim iat is not a number of seconds"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *tok = sign(ec_key, "ec1", claims_with(cases[i][0]));
		refused(k, tok, cases[i][1]);
		free(tok);
	}
	/* sub an object */
	char *tok = sign(ec_key, "ec1", "{\"sub\":{},\"exp\":99999999999}");
	refused(k, tok, "claim sub is not a string");
	free(tok);
	/* exp a string */
	tok = sign(ec_key, "ec1", "{\"iss\":\"bron\",\"aud\":\"bron\",\"exp\":\"99999999999\"}");
	refused(k, tok, "claim exp is not a number of seconds");
	free(tok);
	/* duplicate members: another parser might take the other one */
	char dup[256];
	snprintf(dup, sizeof dup,
	         "{\"iss\":\"bron\",\"aud\":\"bron\",\"exp\":%lld,\"sub\":\"a\",\"sub\":\"b\"}",
	         (long long)NOW + 60);
	tok = make_token(ec_key, "{\"alg\":\"ES256\"}", dup, SIG_JWS);
	refused(k, tok, "malformed token claims");
	free(tok);
	tok = make_token(ec_key, "{\"alg\":\"ES256\",\"alg\":\"none\"}", claims_with(""), SIG_JWS);
	refused(k, tok, "malformed token");
	free(tok);
	/* claims that are not an object, or not JSON, under a good signature */
	const char *payloads[] = {"[1]", "\"s\"", "{", "", "{\"exp\":1} x", "null"};
	for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
		tok = make_token(ec_key, "{\"alg\":\"ES256\"}", payloads[i], SIG_JWS);
		refused(k, tok, NULL);
		free(tok);
	}
	/* a NUL inside a string claim */
	char nul[256];
	snprintf(nul, sizeof nul,
	         "{\"iss\":\"bron\",\"aud\":\"bron\",\"exp\":%lld,\"sub\":\"a\\u0000b\"}",
	         (long long)NOW + 60);
	tok = make_token(ec_key, "{\"alg\":\"ES256\"}", nul, SIG_JWS);
	refused(k, tok, "malformed token claims");
	free(tok);
	auth_keys_free(k);
}

static void test_malformed(void **state)
{
	(void)state;
	auth_keys *k = load(ec_jwks);
	char *good = sign(ec_key, "ec1", claims_with(""));
	accepted(k, good);
	char *d1 = strchr(good, '.'), *d2 = strchr(d1 + 1, '.');
	int hl = (int)(d1 - good), pl = (int)(d2 - d1 - 1);
	const char *sig = d2 + 1;
	char t[4096];
	const char *simple[] = {"",    ".",       "..",          "...",
	                        "a",   "a.b",     "a.b.c.d",     "e30.e30.e30",
	                        "e30", "e30.e30", "!!!.???.***", "Bearer x.y.z"};
	for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
		refused(k, simple[i], NULL);
	refused(k, NULL, "no token");
	refused(k, "", "no token");
	assert_int_equal(
	        auth_verify(NULL, NULL, "a.b.c", A, &(auth_claims){0}, &(const char *){NULL}), -1);
	/* two parts, four parts, empty parts */
	snprintf(t, sizeof t, "%.*s.%.*s", hl, good, pl, d1 + 1);
	refused(k, t, "malformed token");
	snprintf(t, sizeof t, "%s.%s", good, sig);
	refused(k, t, "malformed token");
	snprintf(t, sizeof t, ".%.*s.%s", pl, d1 + 1, sig);
	refused(k, t, "malformed token");
	snprintf(t, sizeof t, "%.*s..%s", hl, good, sig);
	refused(k, t, "malformed token");
	snprintf(t, sizeof t, "%s.", good);
	refused(k, t, "malformed token");
	/* standard base64 characters, padding, whitespace */
	const char *bad_chars[] = {"+", "/", "=", " ", "\n", "%", "\xc3\xa9"};
	for (size_t i = 0; i < sizeof bad_chars / sizeof bad_chars[0]; i++) {
		snprintf(t, sizeof t, "%.*s%s.%.*s.%s", hl, good, bad_chars[i], pl, d1 + 1, sig);
		refused(k, t, NULL);
		snprintf(t, sizeof t, "%.*s.%.*s%s.%s", hl, good, pl, d1 + 1, bad_chars[i], sig);
		refused(k, t, NULL);
		snprintf(t, sizeof t, "%.*s.%.*s.%s%s", hl, good, pl, d1 + 1, sig, bad_chars[i]);
		refused(k, t, NULL);
	}
	/* a header that is not JSON, or not an object */
	const char *headers[] = {"{",           "[\"ES256\"]",       "ES256",
	                         "{\"alg\":1}", "{\"kid\":\"ec1\"}", "null"};
	for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
		char *h = b64s(headers[i]);
		snprintf(t, sizeof t, "%s.%.*s.%s", h, pl, d1 + 1, sig);
		refused(k, t, NULL);
		free(h);
	}
	free(good);

	/* huge: 20 KiB refused unread; 16 KiB exactly is looked at (and malformed) */
	size_t big = 20 * 1024;
	char *huge = malloc(big + 1);
	memset(huge, 'A', big);
	huge[big] = '\0';
	huge[100] = '.';
	huge[200] = '.';
	refused(k, huge, "token too large");
	huge[AUTH_TOKEN_MAX] = '\0';
	auth_claims c;
	const char *why = NULL;
	assert_int_equal(auth_verify(k, NULL, huge, A, &c, &why), -1);
	assert_string_not_equal(why, "token too large");
	/* a valid token padded past the limit with a huge claim */
	char *claims = malloc(big + 256);
	memset(huge, 'x', big - 200);
	huge[big - 200] = '\0';
	snprintf(claims, big + 256, "{\"exp\":%lld,\"pad\":\"%s\"}", (long long)NOW + 60, huge);
	char *tok = sign(ec_key, "ec1", claims);
	assert_true(strlen(tok) > AUTH_TOKEN_MAX);
	refused(k, tok, "token too large");
	free(tok);
	free(claims);
	free(huge);
	auth_keys_free(k);
}

/* Every prefix and every one-character change of a valid token is refused,
 * each in an allocation of its own size so ASan sees any overread. */
static void test_mutations(void **state)
{
	(void)state;
	auth_keys *k = load(both_jwks);
	const char *keys[] = {ec_key, rsa_key}, *kids[] = {"ec1", "rsa1"};
	for (int i = 0; i < 2; i++) {
		char *tok = sign(keys[i], kids[i], claims_with("\"scope\":\"a\""));
		size_t len = strlen(tok);
		for (size_t n = 0; n < len; n++) {
			char *p = malloc(n + 1);
			memcpy(p, tok, n);
			p[n] = '\0';
			refused(k, p, NULL);
			free(p);
		}
		static const char repl[] = {'A', 'B', 'z', '.', '-', '_', '0', '=', '\x80'};
		char *p = malloc(len + 1);
		for (size_t j = 0; j < len; j++) {
			for (size_t r = 0; r < sizeof repl; r++) {
				if (tok[j] == repl[r])
					continue;
				memcpy(p, tok, len + 1);
				p[j] = repl[r];
				refused(k, p, NULL);
			}
		}
		free(p);
		free(tok);
	}
	auth_keys_free(k);
}

/* ---- signatures made outside Bron ---- */

static void test_evp_interop(void **state)
{
	(void)state;
	auth_keys *k = load(both_jwks);
	const char *hdr_ec = "{\"typ\":\"at+jwt\",\"kid\":\"ec1\",\"alg\":\"ES256\"}";
	const char *hdr_rsa = "{\"kid\":\"rsa1\",\"alg\":\"RS256\"}";
	/* formatted with spaces, another member order: the bytes as sent are signed */
	const char *payload = "{ \"exp\" : 99999999999 , \"iss\":\"bron\", \"aud\":\"bron\",\n"
	                      "  \"sub\":\"ext\", \"scope\":\"system/*.read\" }";
	for (int round = 0; round < 20; round++) { /* r or s with leading zeros now and then */
		char *tok = make_token(ec_key, hdr_ec, payload, SIG_JWS);
		accepted(k, tok);
		free(tok);
		tok = make_token(ec_key, hdr_ec, payload, SIG_DER);
		refused(k, tok, "bad signature");
		free(tok);
	}
	char *tok = make_token(rsa_key, hdr_rsa, payload, SIG_JWS);
	auth_claims c;
	const char *why;
	assert_int_equal(auth_verify(k, &CHECK, tok, A, &c, &why), 0);
	assert_string_equal(c.sub, "ext");
	assert_string_equal(c.scope, "system/*.read");
	free(tok);
	auth_keys_free(k);
}

/* Run a shell command; 0 when it succeeded. */
static int sh(const char *fmt, ...) BASE_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void test_openssl_cli(void **state)
{
	(void)state;
	if (sh("openssl version >/dev/null 2>&1")) {
		skip();
		return;
	}
	auth_keys *k = load(both_jwks);
	char in[128], out[128];
	path_in(in, sizeof in, "input");
	path_in(out, sizeof out, "sig");
	const char *keys[] = {ec_key, rsa_key}, *hdrs[] = {"{\"alg\":\"ES256\",\"kid\":\"ec1\"}",
	                                                   "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}"};
	for (int i = 0; i < 2; i++) {
		char *h = b64s(hdrs[i]), *p = b64s(claims_with("\"jti\":\"cli\""));
		char input[2048];
		snprintf(input, sizeof input, "%s.%s", h, p);
		spit(in, input);
		assert_int_equal(
		        sh("openssl dgst -sha256 -sign '%s' -out '%s' '%s'", keys[i], out, in), 0);
		size_t n;
		char *sig = slurp(out, &n);
		char tok[4096];
		if (i == 0) {
			/* ES256: the CLI writes DER; as it is the token is refused, as r||s it
			 * verifies */
			char *s = b64(sig, n);
			snprintf(tok, sizeof tok, "%s.%s", input, s);
			refused(k, tok, "bad signature");
			free(s);
			unsigned char raw[64];
			der_to_raw((unsigned char *)sig, n, raw);
			s = b64(raw, 64);
			snprintf(tok, sizeof tok, "%s.%s", input, s);
			free(s);
		} else {
			char *s = b64(sig, n);
			snprintf(tok, sizeof tok, "%s.%s", input, s);
			free(s);
		}
		accepted(k, tok);
		/* and the other way: openssl verifies what auth_sign made */
		char *mine = sign(keys[i], NULL, claims_with(""));
		char *last = strrchr(mine, '.');
		*last = '\0';
		spit(in, mine);
		unsigned char raw[1024];
		long sl = auth__b64url_decode(last + 1, strlen(last + 1), raw);
		assert_true(sl > 0);
		FILE *f = fopen(out, "wb");
		if (i == 0) {
			unsigned char *der = NULL;
			size_t dl = 0;
			assert_int_equal(auth__ecdsa_raw_to_der(raw, &der, &dl), 0);
			fwrite(der, 1, dl, f);
			OPENSSL_free(der);
		} else {
			fwrite(raw, 1, (size_t)sl, f);
		}
		fclose(f);
		char pub[128];
		path_in(pub, sizeof pub, "pub.pem");
		assert_int_equal(
		        sh("openssl pkey -in '%s' -pubout -out '%s' 2>/dev/null", keys[i], pub), 0);
		assert_int_equal(
		        sh("openssl dgst -sha256 -verify '%s' -signature '%s' '%s' >/dev/null", pub,
		           out, in),
		        0);
		free(mine);
		free(sig);
		free(h);
		free(p);
	}
	auth_keys_free(k);
}

/* ---- encodings ---- */

static void test_b64url(void **state)
{
	(void)state;
	unsigned char out[16];
	const char *vectors[][2] = {
	        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
	        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
	for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		char *e = b64s(vectors[i][0]);
		assert_string_equal(e, vectors[i][1]);
		free(e);
		long n = auth__b64url_decode(vectors[i][1], strlen(vectors[i][1]), out);
		assert_int_equal(n, strlen(vectors[i][0]));
		assert_memory_equal(out, vectors[i][0], (size_t)n);
	}
	unsigned char ff[] = {0xfb, 0xff, 0xbf};
	char *e = b64(ff, 3);
	assert_string_equal(e, "-_-_");
	free(e);
	assert_int_equal(auth__b64url_decode("Zg==", 4, out), -1);
	assert_int_equal(auth__b64url_decode("Z", 1, out), -1);
	assert_int_equal(auth__b64url_decode("Zh", 2, out), -1);  /* stray bits */
	assert_int_equal(auth__b64url_decode("Zm9", 3, out), -1); /* stray bits */
	assert_int_equal(auth__b64url_decode("Zm8", 3, out), 2);
	assert_int_equal(auth__b64url_decode("Zm9=", 4, out), -1);
	assert_int_equal(auth__b64url_decode("+/", 2, out), -1);
	unsigned char bad_der[] = {0x30, 0x03, 0x02, 0x01, 0x01};
	unsigned char raw[64];
	assert_int_equal(auth__ecdsa_der_to_raw(bad_der, sizeof bad_der, raw), -1);
	char *r = auth_random_id(), *r2 = auth_random_id();
	assert_int_equal(strlen(r), 22);
	assert_string_not_equal(r, r2);
	free(r);
	free(r2);
}

/* ---- threads ---- */

typedef struct thread_arg {
	const auth_keys *k;
	const char *tok[2];
	int failures;
} thread_arg;

static void *verify_many(void *p)
{
	thread_arg *t = p;
	arena *a = arena_new(0);
	auth_check chk = {.issuer = "bron", .audience = "bron", .now_s = NOW};
	for (int i = 0; i < 200; i++) {
		auth_claims c;
		const char *why;
		if (auth_verify(t->k, &chk, t->tok[i & 1], a, &c, &why) || strcmp(c.sub, "s"))
			t->failures++;
		if (!auth_verify(t->k, &chk, "e30.e30.e30", a, &c, &why))
			t->failures++;
		arena_reset(a);
	}
	arena_free(a);
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	auth_keys *k = load(both_jwks);
	char *ec = sign(ec_key, "ec1", claims_with("")),
	     *rsa = sign(rsa_key, "rsa1", claims_with(""));
	enum { N = 8 };
	pthread_t th[N];
	thread_arg args[N];
	for (int i = 0; i < N; i++) {
		args[i] = (thread_arg){.k = k, .tok = {ec, rsa}};
		assert_int_equal(pthread_create(&th[i], NULL, verify_many, &args[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	free(ec);
	free(rsa);
	auth_keys_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_keygen),
	        cmocka_unit_test(test_thumbprint_rfc7638),
	        cmocka_unit_test(test_jwks_refused),
	        cmocka_unit_test(test_roundtrip),
	        cmocka_unit_test(test_tampered),
	        cmocka_unit_test(test_alg_none_and_hmac),
	        cmocka_unit_test(test_alg_key_mismatch),
	        cmocka_unit_test(test_kid),
	        cmocka_unit_test(test_times),
	        cmocka_unit_test(test_iss_aud),
	        cmocka_unit_test(test_claim_types),
	        cmocka_unit_test(test_malformed),
	        cmocka_unit_test(test_mutations),
	        cmocka_unit_test(test_evp_interop),
	        cmocka_unit_test(test_openssl_cli),
	        cmocka_unit_test(test_b64url),
	        cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
