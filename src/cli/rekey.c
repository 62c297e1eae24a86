/*
 * rekey.c - `bron rekey [--data DIR | --store URL] [--key-file OLD |
 * --unencrypted] --new-key-file NEW [--full]`: changes the owner's key of a
 * store (the data key is rewrapped: instant, safe while servers run), or
 * with --full also re-encrypts every page of the embedded store under a
 * fresh data key (after a leak; offline), or encrypts an unencrypted
 * embedded store (offline). The work is store_rekey (store.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../store/store.h"
#include "cli.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bron rekey [--data DIR | --store URL] [--key-file OLD | --unencrypted]\n"
	           "                  --new-key-file NEW [--full]\n\n"
	           "Changes the owner's key of an encrypted store from OLD to NEW (files of 32\n"
	           "bytes as 64 hex digits; bron keygen --data-key FILE makes one). The store's\n"
	           "data key is rewrapped, so this is instant and safe while bron serve runs on\n"
	           "the store (it keeps serving; restart it with NEW). OLD may also come from\n"
	           "BRON_KEY_FILE or BRON_KEY in the environment.\n\n"
	           "  --data DIR         the embedded store (default ./data)\n"
	           "  --store URL        a PostgreSQL database (postgresql://...)\n"
	           "  --full             embedded store: also a fresh data key, every page\n"
	           "                     re-encrypted (when a key may have leaked); offline only:\n"
	           "                     refused while any bron has the store open\n"
	           "  --unencrypted      the embedded store is not encrypted yet: encrypt it with\n"
	           "                     NEW (offline only)\n");
}

int cli_rekey(int argc, char **argv)
{
	store_rekey_options o = {.dir = "./data"};
	const char *key_file = NULL, *new_file = NULL;
	int unencrypted = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has = i + 1 < argc;
		if (!strcmp(a, "--data") && has) {
			o.dir = argv[++i];
		} else if (!strcmp(a, "--store") && has) {
			o.url = argv[++i];
		} else if (!strcmp(a, "--key-file") && has) {
			key_file = argv[++i];
		} else if (!strcmp(a, "--new-key-file") && has) {
			new_file = argv[++i];
		} else if (!strcmp(a, "--unencrypted")) {
			unencrypted = 1;
		} else if (!strcmp(a, "--full")) {
			o.full = 1;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "bron rekey: unexpected argument '%s'%s\n", a,
			        !strncmp(a, "--", 2) ? " (or it lacks its value)" : "");
			usage(stderr);
			return 2;
		}
	}
	if (!new_file) {
		fprintf(stderr, "bron rekey: give --new-key-file NEW\n");
		return 2;
	}
	crypt_key owner, fresh;
	const crypt_key *key;
	const char *dir = o.url ? NULL : o.dir;
	int rc = cli_store_key("rekey", key_file, unencrypted, dir, &owner, &key);
	if (rc)
		return rc;
	const crypt_key *newkey;
	rc = cli_store_key("rekey", new_file, 0, dir, &fresh, &newkey);
	if (rc) {
		crypt_key_wipe(&owner);
		return rc;
	}
	o.key = key;
	o.newkey = newkey;
	char *err = NULL;
	rc = store_rekey(&o, &err);
	crypt_key_wipe(&owner);
	crypt_key_wipe(&fresh);
	if (rc) {
		fprintf(stderr, "bron rekey: %s\n", err ? err : "failed");
		free(err);
		return 1;
	}
	printf("%s %s: %s\n", o.url ? "postgresql store" : "store in", o.url ? "" : o.dir,
	       !key     ? "encrypted with the new key"
	       : o.full ? "re-encrypted under a fresh data key, wrapped by the new key"
	                : "the data key is wrapped by the new key now");
	return 0;
}
