/*
 * sign.c - the issuing side, for `bron keygen`, `bron token` and the tests:
 * new key pairs written as a PEM private key and a JWKS, compact JWS
 * signing with a PEM private key, and random token ids. Interface: auth.h.
 * Bron verifies tokens in production; it only mints them for development.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "auth_int.h"

/* Write a private key as PKCS#8 PEM, readable by its owner only (also when
 * the file existed with a wider mode). */
static int write_private_key(EVP_PKEY *pkey, const char *path, char **err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fchmod(fd, 0600)) {
		*err = auth__errf("cannot write %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		*err = auth__errf("cannot write %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	int ok = PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) == 1;
	if (fclose(f) || !ok) {
		*err = auth__errf("cannot write %s", path);
		return -1;
	}
	return 0;
}

static int write_jwks(json_t *jwk, const char *path, char **err)
{
	json_t *jwks = json_pack("{s:[O]}", "keys", jwk);
	char *text = jwks ? json_dumps(jwks, JSON_INDENT(2)) : NULL;
	json_decref(jwks);
	FILE *f = text ? fopen(path, "w") : NULL;
	int rc = -1;
	if (f) {
		int wrote = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
		if (!fclose(f) && wrote)
			rc = 0;
	}
	if (rc)
		*err = auth__errf("cannot write %s: %s", path, strerror(errno));
	free(text);
	return rc;
}

int auth_keygen(const char *alg, const char *key_path, const char *jwks_path, const char *kid,
                char **err)
{
	*err = NULL;
	EVP_PKEY *pkey = NULL;
	if (!alg || !strcmp(alg, "ES256"))
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else if (!strcmp(alg, "RS256"))
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else {
		*err = auth__errf("unsupported alg '%s' (ES256 or RS256)", alg);
		return -1;
	}
	if (!pkey) {
		*err = auth__errf("key generation failed");
		return -1;
	}
	int rc = -1;
	char *thumb = NULL;
	auth__kty kty;
	json_t *jwk = auth__jwk_export(pkey, &kty);
	if (!jwk || (!kid && !(thumb = auth__jwk_thumbprint(jwk, kty)))) {
		*err = auth__errf("cannot export the public key");
		goto out;
	}
	json_object_set_new(jwk, "kid", json_string(kid ? kid : thumb));
	json_object_set_new(jwk, "use", json_string("sig"));
	json_object_set_new(jwk, "alg", json_string(auth__kty_alg(kty)));
	if (!json_is_string(json_object_get(jwk, "kid"))) {
		*err = auth__errf("the kid is not valid UTF-8");
		goto out;
	}
	if (write_private_key(pkey, key_path, err) || write_jwks(jwk, jwks_path, err))
		goto out;
	rc = 0;
out:
	free(thumb);
	json_decref(jwk);
	EVP_PKEY_free(pkey);
	return rc;
}

/* The JWS alg a private key signs with, or NULL when Bron does not use it. */
static const char *key_alg(EVP_PKEY *pkey, auth__kty *kty)
{
	char group[64];
	if (EVP_PKEY_is_a(pkey, "RSA") && EVP_PKEY_get_bits(pkey) >= 2048) {
		*kty = AUTH_KTY_RSA;
		return "RS256";
	}
	if (EVP_PKEY_is_a(pkey, "EC") &&
	    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
	                                   NULL) &&
	    !strcmp(group, "prime256v1")) {
		*kty = AUTH_KTY_EC;
		return "ES256";
	}
	return NULL;
}

static EVP_PKEY *read_private_key(const char *path, char **err)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		*err = auth__errf("cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	ERR_clear_error();
	if (!pkey)
		*err = auth__errf("%s: not a PEM private key (or an encrypted one)", path);
	return pkey;
}

/* The JWS signature of input: RSA PKCS#1 v1.5, or ECDSA as raw r||s. */
static unsigned char *sign_input(EVP_PKEY *pkey, auth__kty kty, const char *input, size_t *len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t n = 0;
	if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, &n, (const unsigned char *)input, strlen(input)) != 1)
		goto fail;
	sig = base_malloc(n);
	if (EVP_DigestSign(ctx, sig, &n, (const unsigned char *)input, strlen(input)) != 1)
		goto fail;
	if (kty == AUTH_KTY_EC) {
		unsigned char *raw = base_malloc(64);
		if (auth__ecdsa_der_to_raw(sig, n, raw)) {
			free(raw);
			goto fail;
		}
		free(sig);
		sig = raw;
		n = 64;
	}
	EVP_MD_CTX_free(ctx);
	*len = n;
	return sig;
fail:
	free(sig);
	EVP_MD_CTX_free(ctx);
	return NULL;
}

char *auth_sign(const char *key_path, const char *kid, const char *claims_json, char **err)
{
	*err = NULL;
	EVP_PKEY *pkey = read_private_key(key_path, err);
	if (!pkey)
		return NULL;
	char *token = NULL, *header_text = NULL, *claims_text = NULL, *h64 = NULL, *p64 = NULL;
	char *s64 = NULL, *input = NULL;
	unsigned char *sig = NULL;
	json_t *header = NULL, *claims = NULL;
	auth__kty kty;
	const char *alg = key_alg(pkey, &kty);
	if (!alg) {
		*err = auth__errf("%s: neither an EC P-256 nor an RSA (2048+ bits) key", key_path);
		goto out;
	}
	json_error_t je;
	claims = json_loads(claims_json ? claims_json : "", JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(claims)) {
		*err = auth__errf("the claims are not a JSON object");
		goto out;
	}
	header = json_pack("{s:s, s:s}", "alg", alg, "typ", "JWT");
	if (kid)
		json_object_set_new(header, "kid", json_string(kid));
	header_text = json_dumps(header, JSON_COMPACT);
	claims_text = json_dumps(claims, JSON_COMPACT);
	if (!header_text || !claims_text || (kid && !json_object_get(header, "kid"))) {
		*err = auth__errf("cannot encode the header or claims");
		goto out;
	}
	h64 = auth__b64url_encode((const unsigned char *)header_text, strlen(header_text));
	p64 = auth__b64url_encode((const unsigned char *)claims_text, strlen(claims_text));
	size_t input_len = strlen(h64) + 1 + strlen(p64);
	input = base_malloc(input_len + 1);
	snprintf(input, input_len + 1, "%s.%s", h64, p64);
	size_t sig_len = 0;
	sig = sign_input(pkey, kty, input, &sig_len);
	if (!sig) {
		*err = auth__errf("signing failed");
		goto out;
	}
	s64 = auth__b64url_encode(sig, sig_len);
	size_t total = input_len + 1 + strlen(s64);
	token = base_malloc(total + 1);
	snprintf(token, total + 1, "%s.%s", input, s64);
out:
	free(sig);
	free(s64);
	free(input);
	free(h64);
	free(p64);
	free(header_text);
	free(claims_text);
	json_decref(header);
	json_decref(claims);
	EVP_PKEY_free(pkey);
	return token;
}

char *auth_random_id(void)
{
	unsigned char b[16];
	if (RAND_bytes(b, sizeof b) != 1)
		return NULL;
	return auth__b64url_encode(b, sizeof b);
}
