/*
 * keys.c - loading the public keys of a JWKS file (auth_keys_load) and
 * finding the kid of a private key in one (auth_jwks_kid_for). Interface:
 * auth.h. An auth_keys is built once at start and only read afterwards, so
 * the HTTP threads share it without locks; its owner frees it after they stop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "auth_int.h"

/* A JWKS is small; refuse anything that is not plausibly one. */
#define JWKS_MAX_BYTES (1024 * 1024)
#define JWKS_MAX_KEYS  256

static json_t *load_json(const char *path, char **err)
{
	json_error_t je;
	FILE *f = fopen(path, "rb");
	if (!f) {
		*err = auth__errf("cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	buf b;
	buf_init(&b, JWKS_MAX_BYTES);
	char chunk[8192];
	size_t n;
	int toobig = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (buf_append(&b, chunk, n)) {
			toobig = 1;
			break;
		}
	int rerr = ferror(f);
	fclose(f);
	json_t *root = NULL;
	if (toobig)
		*err = auth__errf("%s: larger than 1 MiB, not a JWKS", path);
	else if (rerr)
		*err = auth__errf("cannot read %s", path);
	else if (!(root = json_loadb(b.data ? b.data : "", b.len, JSON_REJECT_DUPLICATES, &je))) {
		*err = auth__errf("%s: not JSON (line %d: %s)", path, je.line, je.text);
	}
	buf_free(&b);
	return root;
}

void auth_keys_free(auth_keys *k)
{
	if (!k)
		return;
	for (int i = 0; i < k->count; i++) {
		free(k->keys[i].kid);
		EVP_PKEY_free(k->keys[i].pkey);
	}
	free(k->keys);
	free(k);
}

int auth_keys_count(const auth_keys *k)
{
	return k ? k->count : 0;
}

int auth_keys_load(const char *path, auth_keys **out, char **err)
{
	*out = NULL;
	*err = NULL;
	json_t *root = load_json(path, err);
	if (!root)
		return -1;
	auth_keys *k = base_calloc(1, sizeof *k);
	json_t *keys = json_object_get(root, "keys");
	if (!json_is_array(keys)) {
		*err = auth__errf("%s: not a JWKS (no \"keys\" array)", path);
		goto fail;
	}
	size_t n = json_array_size(keys);
	if (n > JWKS_MAX_KEYS) {
		*err = auth__errf("%s: more than %d keys", path, JWKS_MAX_KEYS);
		goto fail;
	}
	k->keys = base_calloc(n ? n : 1, sizeof *k->keys);
	for (size_t i = 0; i < n; i++) {
		const char *why = NULL;
		auth__key key;
		int rc = auth__jwk_import(json_array_get(keys, i), &key, &why);
		if (rc == 1)
			continue; /* not ours to use (RFC 7517 5: ignore what is not understood) */
		if (rc) {
			*err = auth__errf("%s: key %zu: %s", path, i, why);
			goto fail;
		}
		for (int j = 0; key.kid && j < k->count; j++) {
			if (k->keys[j].kid && !strcmp(k->keys[j].kid, key.kid)) {
				*err = auth__errf("%s: two keys with kid \"%s\"", path, key.kid);
				free(key.kid);
				EVP_PKEY_free(key.pkey);
				goto fail;
			}
		}
		k->keys[k->count++] = key;
	}
	if (k->count == 0) {
		*err = auth__errf("%s: no RS256 (RSA) or ES256 (EC P-256) signing key", path);
		goto fail;
	}
	json_decref(root);
	*out = k;
	return 0;
fail:
	json_decref(root);
	auth_keys_free(k);
	return -1;
}

int auth_jwks_kid_for(const char *jwks_path, const char *key_path, char **kid, char **err)
{
	*kid = NULL;
	*err = NULL;
	FILE *f = fopen(key_path, "rb");
	if (!f) {
		*err = auth__errf("cannot open %s: %s", key_path, strerror(errno));
		return -1;
	}
	EVP_PKEY *priv = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!priv) {
		*err = auth__errf("%s: not a PEM private key", key_path);
		return -1;
	}
	auth_keys *keys = NULL;
	int rc = -1;
	if (auth_keys_load(jwks_path, &keys, err))
		goto out;
	rc = 1;
	for (int i = 0; i < keys->count; i++) {
		if (EVP_PKEY_eq(keys->keys[i].pkey, priv) == 1) {
			*kid = keys->keys[i].kid ? base_strdup(keys->keys[i].kid) : NULL;
			rc = 0;
			break;
		}
	}
out:
	auth_keys_free(keys);
	EVP_PKEY_free(priv);
	return rc;
}
