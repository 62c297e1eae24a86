/*
 * audit.c - `bron audit verify|checkpoint`: check the audit trail's hash
 * chain and checkpoints, naming the first record that was changed, removed,
 * inserted or moved; sign a checkpoint of its head now and print it (to
 * keep outside, e.g. with an external party, for `verify --checkpoint`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../audit/audit.h"
#include "../auth/auth.h"
#include "../store/store.h"
#include "cli.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: bron audit verify [--data DIR | --store URL] [--jwks FILE]\n"
	        "                         [--checkpoint JWS | --checkpoint @FILE]\n"
	        "       bron audit checkpoint [--data DIR | --store URL] --key FILE [--kid KID]\n"
	        "both take the store's key as bron serve does: --key-file FILE (or\n"
	        "BRON_KEY_FILE / BRON_KEY), or --unencrypted\n\n"
	        "verify      walks the whole audit trail: each record's hash must follow from\n"
	        "            its content and the record before it, no record may be missing,\n"
	        "            the end must be the head the store recorded, and each signed\n"
	        "            checkpoint must match (signatures checked with --jwks). With\n"
	        "            --checkpoint, a checkpoint kept elsewhere must match too. Names\n"
	        "            the first record that is wrong; exit 1 then.\n"
	        "checkpoint  signs the head of the trail now with the private key (PEM), appends\n"
	        "            the checkpoint to the trail and prints it (a JWS) on stdout.\n"
	        "            bron serve --audit-key does this every --audit-checkpoint seconds.\n");
}

static char *read_arg(const char *v)
{
	if (v[0] != '@')
		return strdup(v);
	FILE *f = fopen(v + 1, "r");
	if (!f)
		return NULL;
	char text[16384];
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = 0;
	while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
		text[--n] = 0;
	return strdup(text);
}

int cli_audit(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *cmd = argv[1];
	int verify = !strcmp(cmd, "verify"), checkpoint = !strcmp(cmd, "checkpoint");
	if (!verify && !checkpoint) {
		fprintf(stderr, "bron audit: unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}
	store_options so = {.dir = "./data", .sync_full = 1};
	const char *jwks = NULL, *key = NULL, *kid = NULL, *external = NULL, *key_file = NULL;
	int unencrypted = 0;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--data") && v)
			so.dir = argv[++i];
		else if (!strcmp(a, "--store") && v)
			so.url = argv[++i];
		else if (!strcmp(a, "--key-file") && v)
			key_file = argv[++i];
		else if (!strcmp(a, "--unencrypted"))
			unencrypted = 1;
		else if (!strcmp(a, "--jwks") && v && verify)
			jwks = argv[++i];
		else if (!strcmp(a, "--checkpoint") && v && verify)
			external = argv[++i];
		else if (!strcmp(a, "--key") && v && checkpoint)
			key = argv[++i];
		else if (!strcmp(a, "--kid") && v && checkpoint)
			kid = argv[++i];
		else {
			fprintf(stderr, "bron audit %s: unexpected argument '%s'\n", cmd, a);
			usage(stderr);
			return 2;
		}
	}
	if (checkpoint && !key) {
		fprintf(stderr, "bron audit checkpoint: --key FILE is required\n");
		return 2;
	}
	crypt_key owner;
	const crypt_key *skey;
	int krc = cli_store_key("audit", key_file, unencrypted, so.url ? NULL : so.dir, &owner,
	                        &skey);
	if (krc)
		return krc;
	so.key = skey;
	auth_keys *keys = NULL;
	char *err = NULL;
	if (jwks && auth_keys_load(jwks, &keys, &err)) {
		fprintf(stderr, "bron audit: %s\n", err ? err : "cannot load the JWKS");
		free(err);
		return 1;
	}
	char *ext = external ? read_arg(external) : NULL;
	if (external && !ext) {
		fprintf(stderr, "bron audit: cannot read %s\n", external + 1);
		auth_keys_free(keys);
		return 1;
	}
	store *s;
	int orc = store_open(&so, &s, &err);
	crypt_key_wipe(&owner);
	if (orc) {
		fprintf(stderr, "bron audit: %s\n", err ? err : "cannot open the store");
		free(err);
		free(ext);
		auth_keys_free(keys);
		return 1;
	}
	int rc = 0;
	if (checkpoint) {
		char *jws = NULL;
		if (audit_checkpoint(s, key, kid, &jws, &err)) {
			fprintf(stderr, "bron audit checkpoint: %s\n", err ? err : "failed");
			free(err);
			rc = 1;
		} else if (jws) {
			printf("%s\n", jws);
		} else {
			fprintf(stderr, "bron audit checkpoint: the audit trail is empty\n");
		}
		free(jws);
		store_close(s); /* the checkpoint is committed before the store closes */
	} else {
		audit_verify_report rep;
		int v = audit_verify(s, keys, ext, &rep);
		if (v < 0) {
			fprintf(stderr, "bron audit verify: the store cannot be read\n");
			rc = 1;
		} else if (v > 0) {
			printf("FAILED at record %lld: %s\n", (long long)rep.bad_seq, rep.problem);
			printf("(%lld records before it verified)\n", (long long)rep.records);
			rc = 1;
		} else {
			char hx[65];
			for (int i = 0; i < 32; i++)
				sprintf(hx + 2 * i, "%02x", rep.head_hash[i]);
			printf("ok: %lld records, %lld checkpoint%s verified%s; head %lld %s\n",
			       (long long)rep.records, (long long)rep.checkpoints,
			       rep.checkpoints == 1 ? "" : "s",
			       keys ? "" : " (signatures not checked: no --jwks)",
			       (long long)rep.head_seq, hx);
		}
		free(rep.last_checkpoint);
		store_close(s);
	}
	free(ext);
	auth_keys_free(keys);
	return rc;
}
