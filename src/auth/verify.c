/*
 * verify.c - auth_verify: checks a compact JWS bearer token against the
 * loaded keys and turns its claims into an auth_claims. Interface: auth.h.
 * The order is fixed: size and shape, header (alg, crit, kid), key, the
 * signature over the bytes as sent, and only then the claims, so nothing in
 * an unsigned payload is looked at. Scratch memory is malloc'ed and freed
 * here; only the claims' strings go to the caller's arena. No state: any
 * number of threads may verify with one auth_keys.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth_int.h"

typedef struct segment {
	const char *p; /* base64url text inside the token */
	size_t n;
} segment;

/* Split "h.p.s" into its three non-empty segments; -1 for any other shape. */
static int split(const char *token, size_t len, segment seg[3])
{
	size_t start = 0;
	int i = 0;
	for (size_t j = 0; j <= len; j++) {
		if (j < len && token[j] != '.')
			continue;
		if (i == 3 || j == start)
			return -1;
		seg[i].p = token + start;
		seg[i].n = j - start;
		i++;
		start = j + 1;
	}
	return i == 3 ? 0 : -1;
}

/* Decode a segment into scratch and parse it as a JSON object. */
static json_t *segment_json(const segment *s, unsigned char *scratch)
{
	long n = auth__b64url_decode(s->p, s->n, scratch);
	if (n <= 0)
		return NULL;
	json_t *v = json_loadb((const char *)scratch, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	if (v && !json_is_object(v)) {
		json_decref(v);
		return NULL;
	}
	return v;
}

/* The key the header names (or the only one); the alg must be the key's. */
static const auth__key *pick_key(const auth_keys *k, json_t *header, const char **why)
{
	json_t *alg = json_object_get(header, "alg"), *kid = json_object_get(header, "kid");
	if (!json_is_string(alg)) {
		*why = "malformed token header";
		return NULL;
	}
	const char *name = json_string_value(alg);
	if (strcmp(name, "RS256") && strcmp(name, "ES256")) {
		*why = "unsupported alg";
		return NULL;
	}
	if (json_object_get(header, "crit")) {
		*why = "unsupported critical header";
		return NULL;
	}
	const auth__key *key = NULL;
	if (kid) {
		if (!json_is_string(kid)) {
			*why = "malformed token header";
			return NULL;
		}
		for (int i = 0; i < k->count && !key; i++)
			if (k->keys[i].kid && !strcmp(k->keys[i].kid, json_string_value(kid)))
				key = &k->keys[i];
	} else if (k->count == 1) {
		key = &k->keys[0];
	}
	if (!key) {
		*why = "unknown key";
		return NULL;
	}
	if (strcmp(name, auth__kty_alg(key->kty))) {
		*why = "alg does not match the key";
		return NULL;
	}
	return key;
}

static int signature_ok(const auth__key *key, const segment seg[3], const unsigned char *sig,
                        size_t sig_len)
{
	unsigned char *der = NULL;
	size_t der_len = 0;
	int ok = 0;
	if (key->kty == AUTH_KTY_EC) {
		/* JWS (RFC 7518 3.4): exactly r||s; a DER signature is not one */
		if (sig_len != 64 || auth__ecdsa_raw_to_der(sig, &der, &der_len))
			return 0;
		sig = der;
		sig_len = der_len;
	} else if (sig_len != (size_t)EVP_PKEY_get_size(key->pkey)) {
		return 0;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	/* the signing input is the header and payload exactly as sent */
	size_t input_len = (size_t)(seg[1].p + seg[1].n - seg[0].p);
	if (ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key->pkey) == 1 &&
	    EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)seg[0].p, input_len) == 1)
		ok = 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return ok;
}

static const char *wrong_type(arena *a, const char *name, const char *want)
{
	return arena_printf(a, "claim %s is not %s", name, want);
}

/* A string claim: NULL when absent; any other JSON type (null too) is an error. */
static int claim_string(json_t *claims, const char *name, arena *a, const char **out,
                        const char **why)
{
	json_t *v = json_object_get(claims, name);
	if (!v)
		return 0;
	if (!json_is_string(v)) {
		*why = wrong_type(a, name, "a string");
		return -1;
	}
	*out = arena_strndup(a, json_string_value(v), json_string_length(v));
	return 0;
}

/* A NumericDate (RFC 7519 2): seconds, fractions dropped; 0 when absent. */
static int claim_time(json_t *claims, const char *name, arena *a, int64_t *out, int *present,
                      const char **why)
{
	json_t *v = json_object_get(claims, name);
	*present = v != NULL;
	*out = 0;
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d > -1e15 && d < 1e15) { /* also false for NaN */
			*out = (int64_t)floor(d);
			return 0;
		}
	}
	*why = wrong_type(a, name, "a number of seconds");
	return -1;
}

/* "aud": a string or an array of strings; 1 if it names want. */
static int audience_matches(json_t *aud, const char *want, arena *a, const char **why)
{
	if (!aud)
		return 0;
	if (json_is_string(aud))
		return want && !strcmp(json_string_value(aud), want);
	if (!json_is_array(aud)) {
		*why = wrong_type(a, "aud", "a string or an array of strings");
		return -1;
	}
	int found = 0;
	size_t i;
	json_t *v;
	json_array_foreach(aud, i, v)
	{
		if (!json_is_string(v)) {
			*why = wrong_type(a, "aud", "a string or an array of strings");
			return -1;
		}
		if (want && !strcmp(json_string_value(v), want))
			found = 1;
	}
	return found;
}

static int parse_claims(json_t *claims, arena *a, auth_claims *out, const char **why)
{
	if (claim_string(claims, "sub", a, &out->sub, why) ||
	    claim_string(claims, "iss", a, &out->iss, why) ||
	    claim_string(claims, "scope", a, &out->scope, why) ||
	    claim_string(claims, "patient", a, &out->patient, why) ||
	    claim_string(claims, "organization", a, &out->organization, why) ||
	    claim_string(claims, "purpose_of_use", a, &out->purpose, why) ||
	    claim_string(claims, "jti", a, &out->jti, why))
		return -1;
	if (!out->scope)
		out->scope = "";
	json_t *act = json_object_get(claims, "act");
	if (act) {
		json_t *sub = json_object_get(act, "sub");
		if (!json_is_object(act) || !json_is_string(sub)) {
			*why = wrong_type(a, "act", "an object with a string sub");
			return -1;
		}
		out->actor = arena_strndup(a, json_string_value(sub), json_string_length(sub));
	}
	int has_exp, has_nbf, has_iat;
	if (claim_time(claims, "exp", a, &out->exp, &has_exp, why) ||
	    claim_time(claims, "nbf", a, &out->nbf, &has_nbf, why) ||
	    claim_time(claims, "iat", a, &out->iat, &has_iat, why))
		return -1;
	if (!has_exp) {
		*why = "missing exp";
		return -1;
	}
	return 0;
}

static int check_claims(json_t *claims, const auth_check *chk, arena *a, const auth_claims *c,
                        const char **why)
{
	int64_t now = chk && chk->now_s ? chk->now_s : (int64_t)time(NULL);
	int64_t skew = !chk || chk->skew_s == 0 ? 60 : chk->skew_s < 0 ? 0 : chk->skew_s;
	/* written so that no sum can overflow whatever the token says */
	if (now - skew >= c->exp) {
		*why = "token expired";
		return -1;
	}
	if (c->nbf && now + skew < c->nbf) {
		*why = "token not yet valid";
		return -1;
	}
	const char *want_aud = chk ? chk->audience : NULL;
	int aud = audience_matches(json_object_get(claims, "aud"), want_aud, a, why);
	if (aud < 0)
		return -1;
	if (chk && chk->issuer && (!c->iss || strcmp(c->iss, chk->issuer))) {
		*why = "wrong issuer";
		return -1;
	}
	if (want_aud && !aud) {
		*why = "wrong audience";
		return -1;
	}
	return 0;
}

int auth_verify(const auth_keys *k, const auth_check *chk, const char *token, arena *a,
                auth_claims *out, const char **why)
{
	memset(out, 0, sizeof *out);
	*why = "malformed token";
	if (!k) {
		*why = "no keys configured";
		return -1;
	}
	if (!token || !*token) {
		*why = "no token";
		return -1;
	}
	size_t len = strnlen(token, AUTH_TOKEN_MAX + 1);
	if (len > AUTH_TOKEN_MAX) {
		*why = "token too large";
		return -1;
	}
	segment seg[3];
	if (split(token, len, seg))
		return -1;
	unsigned char *scratch = base_malloc(len);
	json_t *header = NULL, *claims = NULL;
	int rc = -1;
	header = segment_json(&seg[0], scratch);
	if (!header)
		goto out;
	const auth__key *key = pick_key(k, header, why);
	if (!key)
		goto out;
	long sig_len = auth__b64url_decode(seg[2].p, seg[2].n, scratch);
	if (sig_len <= 0)
		goto out;
	if (!signature_ok(key, seg, scratch, (size_t)sig_len)) {
		*why = "bad signature";
		goto out;
	}
	claims = segment_json(&seg[1], scratch);
	if (!claims) {
		*why = "malformed token claims";
		goto out;
	}
	if (parse_claims(claims, a, out, why) || check_claims(claims, chk, a, out, why))
		goto out;
	rc = 0;
out:
	if (rc)
		memset(out, 0, sizeof *out);
	json_decref(header);
	json_decref(claims);
	free(scratch);
	return rc;
}
