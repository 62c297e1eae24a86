/*
 * migrate.c - `bron migrate [--data DIR | --store URL]`: creates the schema of
 * a new store or upgrades an older one to the version this bron knows, and
 * prints the version. bron serve creates the schema of an empty store
 * itself; a store of a version it does not know it refuses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../store/store.h"
#include "cli.h"

int cli_migrate(int argc, char **argv)
{
	store_options so = {.dir = "./data", .sync_full = 1};
	const char *key_file = NULL;
	int unencrypted = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--data") && i + 1 < argc) {
			so.dir = argv[++i];
		} else if (!strcmp(argv[i], "--key-file") && i + 1 < argc) {
			key_file = argv[++i];
		} else if (!strcmp(argv[i], "--unencrypted")) {
			unencrypted = 1;
		} else if (!strcmp(argv[i], "--store") && i + 1 < argc) {
			so.url = argv[++i];
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: bron migrate [--data DIR | --store URL] [--key-file FILE | "
			       "--unencrypted]\n\n"
			       "Creates the schema of a new store, or upgrades the schema of an "
			       "older one,\n"
			       "and prints its version. --data: the embedded store's directory "
			       "(default\n"
			       "./data); --store: a PostgreSQL database (postgresql://...).\n"
			       "--key-file: the store's owner key (or BRON_KEY_FILE / BRON_KEY in "
			       "the\n"
			       "environment); --unencrypted: the store is not encrypted.\n");
			return 0;
		} else {
			fprintf(stderr, "bron migrate: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	crypt_key owner;
	int krc = cli_store_key("migrate", key_file, unencrypted, so.url ? NULL : so.dir, &owner,
	                        &so.key);
	if (krc)
		return krc;
	int version = 0;
	char *err = NULL;
	int rc = store_migrate(&so, &version, &err);
	crypt_key_wipe(&owner);
	if (rc) {
		fprintf(stderr, "bron migrate: %s\n", err ? err : "failed");
		free(err);
		return 1;
	}
	printf("%s store at schema version %d\n", so.url ? "postgresql" : "sqlite", version);
	return 0;
}
