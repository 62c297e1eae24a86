/*
 * keygen.c - `bron keygen [--dir DIR] [--alg ES256|RS256] [--kid KID]
 * [--force]`: makes a signing key pair for development and small setups,
 * DIR/signing-key.pem (private, 0600) and DIR/jwks.json (the public key that
 * `bron serve --jwks` trusts), through auth_keygen (src/auth/auth.h).
 * `bron keygen --data-key FILE [--force]` makes an owner's key for
 * encryption at rest instead (crypt_key_generate, src/crypt/crypt.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../auth/auth.h"
#include "../crypt/crypt.h"
#include "cli.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bron keygen [--dir DIR] [--alg ES256|RS256] [--kid KID] [--force]\n"
	           "       bron keygen --data-key FILE [--force]\n\n"
	           "Makes a token signing key pair: DIR/signing-key.pem (the private key, mode\n"
	           "0600; keep it secret) and DIR/jwks.json (the public key as a JWKS, for\n"
	           "bron serve --jwks). DIR defaults to ./keys and is made with mode 0700.\n"
	           "  --alg ES256|RS256  ECDSA P-256 (default) or RSA 2048\n"
	           "  --kid KID          the key id (default: the key's RFC 7638 thumbprint)\n"
	           "  --force            replace an existing key\n\n"
	           "With --data-key: a random owner's key for encryption at rest (bron serve\n"
	           "--key-file FILE), written as 64 hex digits to FILE with mode 0600. Keep it\n"
	           "apart from the data directory and from its backups; without it the store\n"
	           "cannot be read.\n");
}

static int data_key(const char *path, int force)
{
	char *err = NULL;
	if (crypt_key_generate(path, force, &err)) {
		fprintf(stderr, "bron keygen: %s\n", err);
		free(err);
		return 1;
	}
	printf("wrote %s (an owner's key for encryption at rest, mode 0600: keep it secret,\n"
	       "and apart from the data and its backups)\n\n"
	       "serve with it:  bron serve --key-file %s\n",
	       path, path);
	return 0;
}

int cli_keygen(int argc, char **argv)
{
	const char *dir = "./keys", *alg = "ES256", *kid = NULL, *data_key_path = NULL;
	int force = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has_value = i + 1 < argc;
		if (!strcmp(a, "--dir") && has_value) {
			dir = argv[++i];
		} else if (!strcmp(a, "--alg") && has_value) {
			alg = argv[++i];
		} else if (!strcmp(a, "--kid") && has_value) {
			kid = argv[++i];
		} else if (!strcmp(a, "--data-key") && has_value) {
			data_key_path = argv[++i];
		} else if (!strcmp(a, "--force")) {
			force = 1;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "bron keygen: unexpected argument '%s'%s\n", a,
			        !strncmp(a, "--", 2) ? " (or it lacks its value)" : "");
			usage(stderr);
			return 2;
		}
	}
	if (data_key_path)
		return *data_key_path ? data_key(data_key_path, force) : 2;
	if (strcmp(alg, "ES256") && strcmp(alg, "RS256")) {
		fprintf(stderr, "bron keygen: --alg must be ES256 or RS256, not '%s'\n", alg);
		return 2;
	}
	if (!*dir || (kid && !*kid)) {
		fprintf(stderr, "bron keygen: --dir and --kid must not be empty\n");
		return 2;
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		fprintf(stderr, "bron keygen: cannot make %s: %s\n", dir, strerror(errno));
		return 1;
	}
	size_t n = strlen(dir) + sizeof "/signing-key.pem";
	char *key_path = malloc(n), *jwks_path = malloc(n);
	if (!key_path || !jwks_path) {
		fprintf(stderr, "bron keygen: out of memory\n");
		return 1;
	}
	snprintf(key_path, n, "%s/signing-key.pem", dir);
	snprintf(jwks_path, n, "%s/jwks.json", dir);
	struct stat st;
	int rc = 1;
	char *err = NULL, *got_kid = NULL;
	if (!force && lstat(key_path, &st) == 0) {
		fprintf(stderr, "bron keygen: %s exists; --force replaces it\n", key_path);
		goto out;
	}
	if (auth_keygen(alg, key_path, jwks_path, kid, &err) ||
	    auth_jwks_kid_for(jwks_path, key_path, &got_kid, &err)) {
		fprintf(stderr, "bron keygen: %s\n", err ? err : "failed");
		goto out;
	}
	printf("wrote %s (%s private key, mode 0600: keep it secret)\n"
	       "wrote %s (the public key, kid \"%s\")\n\n"
	       "serve with it:  bron serve --jwks %s\n"
	       "mint a token:   bron token --key %s --sub dev --scope \"user/*.cruds\"\n",
	       key_path, alg, jwks_path, got_kid ? got_kid : "", jwks_path, key_path);
	rc = 0;
out:
	free(err);
	free(got_kid);
	free(key_path);
	free(jwks_path);
	return rc;
}
