/*
 * jose.c - the JOSE encodings the rest of src/auth/ builds on: base64url
 * (strict, one encoding per byte string), ECDSA signatures in the JWS raw
 * r||s form, and public JWKs (RFC 7517/7518) to and from OpenSSL keys, with
 * RFC 7638 thumbprints. Interface: auth_int.h. Stateless; every function
 * may run on any thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>

#include "auth_int.h"

/* RSA moduli Bron accepts: 2048 bits (RFC 7518 3.3) up to 16384, which bounds
 * the cost of one verification. */
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384

char *auth__errf(const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	return base_strdup(tmp);
}

const char *auth__kty_alg(auth__kty kty)
{
	return kty == AUTH_KTY_RSA ? "RS256" : "ES256";
}

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *auth__b64url_encode(const unsigned char *p, size_t n)
{
	char *out = base_malloc(n / 3 * 4 + 5);
	size_t o = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		unsigned long v =
		        (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 | p[i + 2];
		out[o++] = B64URL[v >> 18 & 63];
		out[o++] = B64URL[v >> 12 & 63];
		out[o++] = B64URL[v >> 6 & 63];
		out[o++] = B64URL[v & 63];
	}
	if (n - i == 1) {
		unsigned long v = (unsigned long)p[i] << 16;
		out[o++] = B64URL[v >> 18 & 63];
		out[o++] = B64URL[v >> 12 & 63];
	} else if (n - i == 2) {
		unsigned long v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8;
		out[o++] = B64URL[v >> 18 & 63];
		out[o++] = B64URL[v >> 12 & 63];
		out[o++] = B64URL[v >> 6 & 63];
	}
	out[o] = '\0';
	return out;
}

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

long auth__b64url_decode(const char *s, size_t n, unsigned char *out)
{
	if (n % 4 == 1)
		return -1;
	unsigned long acc = 0;
	int bits = 0;
	long o = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64url_value((unsigned char)s[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6 | (unsigned long)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits & 0xff);
		}
	}
	/* the bits left over must be zero, or two strings would decode alike */
	if (bits && (acc & ((1ul << bits) - 1)))
		return -1;
	return o;
}

int auth__ecdsa_der_to_raw(const unsigned char *der, size_t n, unsigned char raw[64])
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)n);
	int rc = -1;
	if (!sig)
		return -1;
	const BIGNUM *r, *s;
	ECDSA_SIG_get0(sig, &r, &s);
	if (p == der + n && BN_num_bytes(r) <= 32 && BN_num_bytes(s) <= 32 &&
	    BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32)
		rc = 0;
	ECDSA_SIG_free(sig);
	return rc;
}

int auth__ecdsa_raw_to_der(const unsigned char raw[64], unsigned char **der, size_t *n)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
	int rc = -1;
	if (!sig || !r || !s)
		goto out;
	if (!ECDSA_SIG_set0(sig, r, s))
		goto out;
	r = s = NULL; /* owned by sig now */
	*der = NULL;
	int len = i2d_ECDSA_SIG(sig, der);
	if (len > 0) {
		*n = (size_t)len;
		rc = 0;
	}
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	return rc;
}

/* A base64url member of a JWK, decoded (malloc'ed) into *p; -1 if absent or bad. */
static int jwk_bytes(json_t *jwk, const char *name, unsigned char **p, size_t *n)
{
	json_t *v = json_object_get(jwk, name);
	if (!json_is_string(v))
		return -1;
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	if (len == 0 || len > 8192)
		return -1;
	*p = base_malloc(len * 3 / 4 + 1);
	long got = auth__b64url_decode(s, len, *p);
	if (got <= 0) {
		free(*p);
		*p = NULL;
		return -1;
	}
	*n = (size_t)got;
	return 0;
}

static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	if (pkey) {
		/* on the curve, not the point at infinity; a sane RSA modulus */
		EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
		if (!check || EVP_PKEY_public_check(check) != 1) {
			EVP_PKEY_free(pkey);
			pkey = NULL;
		}
		EVP_PKEY_CTX_free(check);
	}
	return pkey;
}

static EVP_PKEY *rsa_import(json_t *jwk, const char **why)
{
	unsigned char *nb = NULL, *eb = NULL;
	size_t nn = 0, en = 0;
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;
	*why = "RSA key without valid n and e";
	if (jwk_bytes(jwk, "n", &nb, &nn) || jwk_bytes(jwk, "e", &eb, &en) || en > 8)
		goto out;
	n = BN_bin2bn(nb, (int)nn, NULL);
	e = BN_bin2bn(eb, (int)en, NULL);
	if (!n || !e)
		goto out;
	if (BN_num_bits(n) < RSA_MIN_BITS || BN_num_bits(n) > RSA_MAX_BITS) {
		*why = "RSA key not between 2048 and 16384 bits";
		goto out;
	}
	bld = OSSL_PARAM_BLD_new();
	if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		goto out;
	pkey = pkey_from_params("RSA", bld);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	free(nb);
	free(eb);
	return pkey;
}

static EVP_PKEY *ec_import(json_t *jwk, const char **why)
{
	unsigned char *x = NULL, *y = NULL, pub[65];
	size_t xn = 0, yn = 0;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;
	*why = "EC key without a valid P-256 point x, y";
	if (jwk_bytes(jwk, "x", &x, &xn) || jwk_bytes(jwk, "y", &y, &yn) || xn != 32 || yn != 32)
		goto out;
	pub[0] = 0x04; /* uncompressed point */
	memcpy(pub + 1, x, 32);
	memcpy(pub + 33, y, 32);
	bld = OSSL_PARAM_BLD_new();
	if (!bld ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub))
		goto out;
	pkey = pkey_from_params("EC", bld);
out:
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	return pkey;
}

int auth__jwk_import(json_t *jwk, auth__key *out, const char **why)
{
	memset(out, 0, sizeof *out);
	if (!json_is_object(jwk)) {
		*why = "a key is not a JSON object";
		return -1;
	}
	json_t *kty = json_object_get(jwk, "kty"), *kid = json_object_get(jwk, "kid");
	json_t *alg = json_object_get(jwk, "alg"), *use = json_object_get(jwk, "use");
	if (!json_is_string(kty) || (kid && !json_is_string(kid)) ||
	    (alg && !json_is_string(alg)) || (use && !json_is_string(use))) {
		*why = "a key's kty, kid, alg or use is not a string";
		return -1;
	}
	if (use && strcmp(json_string_value(use), "sig")) {
		*why = "use is not \"sig\"";
		return 1;
	}
	const char *t = json_string_value(kty);
	if (!strcmp(t, "RSA"))
		out->kty = AUTH_KTY_RSA;
	else if (!strcmp(t, "EC"))
		out->kty = AUTH_KTY_EC;
	else {
		*why = "kty is neither RSA nor EC";
		return 1;
	}
	if (alg && strcmp(json_string_value(alg), auth__kty_alg(out->kty))) {
		*why = "alg is neither RS256 (RSA) nor ES256 (EC)";
		return 1;
	}
	if (out->kty == AUTH_KTY_EC) {
		json_t *crv = json_object_get(jwk, "crv");
		if (!json_is_string(crv) || strcmp(json_string_value(crv), "P-256")) {
			*why = "EC key not on curve P-256";
			return 1;
		}
	}
	out->pkey = out->kty == AUTH_KTY_RSA ? rsa_import(jwk, why) : ec_import(jwk, why);
	if (!out->pkey)
		return -1;
	if (kid)
		out->kid = base_strdup(json_string_value(kid));
	return 0;
}

static json_t *b64url_member(const unsigned char *p, size_t n)
{
	char *s = auth__b64url_encode(p, n);
	json_t *v = json_string(s);
	free(s);
	return v;
}

static json_t *bn_member(EVP_PKEY *pkey, const char *name, int pad)
{
	BIGNUM *bn = NULL;
	json_t *v = NULL;
	if (!EVP_PKEY_get_bn_param(pkey, name, &bn))
		return NULL;
	int len = pad ? pad : BN_num_bytes(bn);
	if (len > 0 && len <= RSA_MAX_BITS / 8) {
		unsigned char *p = base_malloc((size_t)len);
		if (BN_bn2binpad(bn, p, len) == len)
			v = b64url_member(p, (size_t)len);
		free(p);
	}
	BN_free(bn);
	return v;
}

json_t *auth__jwk_export(EVP_PKEY *pkey, auth__kty *kty)
{
	json_t *jwk = json_object();
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		*kty = AUTH_KTY_RSA;
		json_object_set_new(jwk, "kty", json_string("RSA"));
		json_object_set_new(jwk, "n", bn_member(pkey, OSSL_PKEY_PARAM_RSA_N, 0));
		json_object_set_new(jwk, "e", bn_member(pkey, OSSL_PKEY_PARAM_RSA_E, 0));
		if (!json_object_get(jwk, "n") || !json_object_get(jwk, "e"))
			goto fail;
		return jwk;
	}
	char group[64];
	if (EVP_PKEY_is_a(pkey, "EC") &&
	    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
	                                   NULL) &&
	    !strcmp(group, "prime256v1")) {
		*kty = AUTH_KTY_EC;
		json_object_set_new(jwk, "kty", json_string("EC"));
		json_object_set_new(jwk, "crv", json_string("P-256"));
		json_object_set_new(jwk, "x", bn_member(pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32));
		json_object_set_new(jwk, "y", bn_member(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32));
		if (!json_object_get(jwk, "x") || !json_object_get(jwk, "y"))
			goto fail;
		return jwk;
	}
fail:
	json_decref(jwk);
	return NULL;
}

char *auth__jwk_thumbprint(json_t *jwk, auth__kty kty)
{
	/* RFC 7638 3.2: the required members only, sorted, no whitespace */
	char canon[4096];
	int len;
	if (kty == AUTH_KTY_RSA)
		len = snprintf(canon, sizeof canon, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
		               json_string_value(json_object_get(jwk, "e")),
		               json_string_value(json_object_get(jwk, "n")));
	else
		len = snprintf(canon, sizeof canon,
		               "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
		               json_string_value(json_object_get(jwk, "x")),
		               json_string_value(json_object_get(jwk, "y")));
	if (len < 0 || (size_t)len >= sizeof canon)
		return NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!EVP_Digest(canon, (size_t)len, md, &mdlen, EVP_sha256(), NULL))
		return NULL;
	return auth__b64url_encode(md, mdlen);
}
