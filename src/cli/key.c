/*
 * key.c - the owner's key for the commands that open a store (serve,
 * import, reindex, migrate, rekey): --key-file FILE, else $BRON_KEY_FILE,
 * else $BRON_KEY (the key itself); or, explicitly, --unencrypted. The key
 * file must not lie in the data directory it encrypts. See cli.h.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../crypt/crypt.h"
#include "cli.h"

/* 1 if the file at `path` lies in directory `dir` or below it. */
static int inside(const char *path, const char *dir)
{
	char *copy = strdup(path);
	char *pdir = copy ? realpath(dirname(copy), NULL) : NULL;
	char *ddir = realpath(dir, NULL);
	size_t n = ddir ? strlen(ddir) : 0;
	int in = pdir && ddir && !strncmp(pdir, ddir, n) && (pdir[n] == '/' || pdir[n] == 0);
	free(copy);
	free(pdir);
	free(ddir);
	return in;
}

int cli_store_key(const char *cmd, const char *key_file, int unencrypted, const char *data_dir,
                  crypt_key *out, const crypt_key **key)
{
	*key = NULL;
	const char *env_file = getenv("BRON_KEY_FILE"), *env_key = getenv("BRON_KEY");
	if (key_file && !*key_file)
		key_file = NULL;
	if (unencrypted) {
		if (key_file) {
			fprintf(stderr,
			        "bron %s: --key-file and --unencrypted exclude each other\n", cmd);
			return 2;
		}
		return 0; /* the flag is explicit: it wins over the environment */
	}
	const char *file = key_file ? key_file : env_file && *env_file ? env_file : NULL;
	char *err = NULL;
	if (file) {
		if (data_dir && inside(file, data_dir)) {
			fprintf(stderr,
			        "bron %s: the key file %s lies in the data directory %s: keep the "
			        "key "
			        "apart from the data it encrypts (a stolen disk or backup would "
			        "hold "
			        "both)\n",
			        cmd, file, data_dir);
			return 2;
		}
		if (crypt_key_load(file, out, &err)) {
			fprintf(stderr, "bron %s: %s\n", cmd, err);
			free(err);
			return 1;
		}
	} else if (env_key && *env_key) {
		if (crypt_key_parse(env_key, strlen(env_key), out)) {
			fprintf(stderr,
			        "bron %s: BRON_KEY does not hold a key: expected 32 bytes as 64 "
			        "hex "
			        "digits or in base64\n",
			        cmd);
			return 1;
		}
	} else {
		fprintf(stderr,
		        "bron %s: give --key-file FILE (bron keygen --data-key FILE makes one; or "
		        "BRON_KEY_FILE or BRON_KEY in the environment) or, explicitly, "
		        "--unencrypted\n",
		        cmd);
		return 2;
	}
	*key = out;
	return 0;
}
