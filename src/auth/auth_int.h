/*
 * auth_int.h - private to src/auth/: the loaded key, base64url, the JWS
 * form of ECDSA signatures and the conversion between JWKs (jansson) and
 * OpenSSL keys. auth.h is the subsystem's interface.
 */
#ifndef BRON_AUTH_INT_H
#define BRON_AUTH_INT_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "auth.h"

typedef enum auth__kty { AUTH_KTY_RSA, AUTH_KTY_EC } auth__kty;

typedef struct auth__key {
	char *kid;      /* malloc'ed, or NULL when the JWK has none */
	auth__kty kty;  /* RSA -> RS256, EC (P-256) -> ES256 */
	EVP_PKEY *pkey; /* public key, owned; only read after load */
} auth__key;

struct auth_keys {
	auth__key *keys; /* owned array */
	int count;
};

/* A malloc'ed message for an *err out-parameter (at most 1 KiB). */
char *auth__errf(const char *fmt, ...) BASE_PRINTF(1, 2);

/* The JWS alg that goes with a key type: "RS256" or "ES256". */
const char *auth__kty_alg(auth__kty kty);

/* base64url without padding. The encoder returns a malloc'ed NUL-terminated
 * string. The decoder is strict: only the URL-safe alphabet, no padding, no
 * length of 4k+1 and no stray bits in the last character (one encoding per
 * byte string); it writes at most (n * 3) / 4 bytes to out and returns the
 * count, or -1. */
char *auth__b64url_encode(const unsigned char *p, size_t n);
long auth__b64url_decode(const char *s, size_t n, unsigned char *out);

/* ECDSA P-256 signatures: DER (OpenSSL) to the JWS raw r||s form (64 bytes)
 * and back. 0 or -1. *der is malloc'ed (OPENSSL_free). */
int auth__ecdsa_der_to_raw(const unsigned char *der, size_t n, unsigned char raw[64]);
int auth__ecdsa_raw_to_der(const unsigned char raw[64], unsigned char **der, size_t *n);

/* A public JWK (a JSON object) to a key: 0; 1 when the key is not one Bron
 * uses (another kty, curve or alg, or use other than "sig"; *why says which);
 * -1 when it is malformed (*why says how). *why is static. */
int auth__jwk_import(json_t *jwk, auth__key *out, const char **why);
/* The public JWK of a key (RSA or EC P-256) without kid/alg/use: a new
 * jansson object, or NULL. *kty set. */
json_t *auth__jwk_export(EVP_PKEY *pkey, auth__kty *kty);
/* The RFC 7638 thumbprint (SHA-256, base64url) of a public JWK from
 * auth__jwk_export; malloc'ed, or NULL. */
char *auth__jwk_thumbprint(json_t *jwk, auth__kty kty);

#endif
