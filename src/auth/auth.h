/*
 * auth.h - Bron's token machinery: verifying JWT bearer tokens (compact JWS,
 * RS256 and ES256 only) against the public keys of a local JWKS file, and,
 * for `bron keygen`, `bron token` and the tests, making key pairs and signing
 * tokens. No key is ever fetched from the network and no header member
 * (jku, x5u, jwk) is trusted. OpenSSL stays behind this header.
 * An auth_keys is read-only after auth_keys_load, so auth_verify may run on
 * any number of threads at once with one auth_keys.
 */
#ifndef BRON_AUTH_H
#define BRON_AUTH_H

#include <stdint.h>

#include "../base/base.h"

/* Largest token auth_verify looks at; longer ones are refused unread. */
#define AUTH_TOKEN_MAX 16384

typedef struct auth_keys auth_keys; /* the public keys of a JWKS file */

/* Load a JWKS file (RFC 7517: {"keys": [...]}, keys with kty RSA (n, e; at
 * least 2048 bits) or EC P-256 (crv, x, y), kid, optional alg/use). Keys of
 * another kty, curve or alg, or with a use other than "sig", are skipped; a
 * file with no usable key, a malformed usable key (e.g. a point not on the
 * curve) or two keys with one kid is an error. 0 with *out (free with
 * auth_keys_free), or -1 with *err malloc'ed. */
int auth_keys_load(const char *path, auth_keys **out, char **err);
/* The number of usable keys loaded. */
int auth_keys_count(const auth_keys *k);
void auth_keys_free(auth_keys *k); /* NULL is allowed */

typedef struct auth_claims {
	const char *sub, *iss;    /* "sub", "iss", or NULL when absent */
	const char *scope;        /* the space-separated scope string ("" if none) */
	const char *patient;      /* patient context (SMART "patient" claim) or NULL */
	const char *organization; /* the requesting organisation, e.g.
	                             "http://fhir.nl/fhir/NamingSystem/ura|12345678", or NULL */
	const char *purpose;      /* purpose of use code, e.g. "TREAT", "ETREAT" (break the glass),
	                             or NULL (claim "purpose_of_use") */
	const char *actor;        /* on whose behalf a system acts: the "act" claim's "sub"
	                             (RFC 8693), or NULL */
	const char *jti;          /* "jti" or NULL */
	int64_t exp, nbf, iat;    /* seconds; 0 when absent (exp is required) */
} auth_claims;

typedef struct auth_check {
	const char *issuer;   /* required "iss" (NULL: not checked) */
	const char *audience; /* must be "aud" or one of the "aud" array (NULL: not checked) */
	int skew_s;           /* clock skew allowed on exp/nbf (0: 60; negative: none) */
	int64_t now_s;        /* 0: time(NULL) */
} auth_check;

/* Verify a compact JWS: header alg RS256 or ES256 only (reject "none", HS*,
 * anything else, and an alg that does not match the key's kty/alg), kid (when
 * the JWKS has several keys the header must name one that exists; with
 * exactly one key a missing kid is accepted), signature (ES256: the JWS raw
 * r||s form, 64 bytes), exp required and not past (with skew), nbf not future,
 * iss/aud as configured. A header with "crit" is refused. Claims are parsed
 * into *out with strings from arena a. Returns 0, or -1 with *why a short
 * English reason (static or arena string, never containing '"' or '\')
 * suitable for a WWW-Authenticate error_description (e.g. "token expired",
 * "bad signature", "unknown key", "wrong audience"). Never crashes on any
 * input; tokens over AUTH_TOKEN_MAX bytes are refused. Thread-safe. */
int auth_verify(const auth_keys *k, const auth_check *chk, const char *token, arena *a,
                auth_claims *out, const char **why);

/* ---- for bron keygen / bron token and the tests ---- */

/* A new key pair: the private key as PEM (PKCS#8) at key_path (mode 0600,
 * replaced if it exists), the public key as a JWKS (one key, with kid, alg
 * and use "sig") at jwks_path. alg "ES256" or "RS256" (2048-bit). kid NULL:
 * the key's RFC 7638 thumbprint. 0 or -1 with *err malloc'ed. */
int auth_keygen(const char *alg, const char *key_path, const char *jwks_path, const char *kid,
                char **err);
/* Sign claims_json (a JSON object) with the PEM private key at key_path: a
 * compact JWS with header {alg, typ:"JWT", kid} (kid NULL: no kid). alg from
 * the key type (EC P-256 -> ES256, RSA -> RS256). Returns the malloc'ed
 * token, or NULL with *err malloc'ed. */
char *auth_sign(const char *key_path, const char *kid, const char *claims_json, char **err);
/* The kid of the key in the JWKS at jwks_path whose public key is the one of
 * the PEM private key at key_path. 0 with *kid malloc'ed (NULL when that key
 * has no kid), 1 when no key of the JWKS matches, -1 with *err malloc'ed when
 * a file cannot be read. */
int auth_jwks_kid_for(const char *jwks_path, const char *key_path, char **kid, char **err);
/* A random identifier (16 bytes from the system CSPRNG, base64url, 22
 * characters), malloc'ed; NULL when no randomness is available. */
char *auth_random_id(void);

#endif
