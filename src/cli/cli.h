/*
 * cli.h - the `bron` command's subcommands. main.c dispatches argv[1] to one
 * of these; each returns the process exit status (0 ok, 1 failure, 2 usage).
 */
#ifndef BRON_CLI_H
#define BRON_CLI_H

#include "../crypt/crypt.h"

int cli_serve(int argc, char **argv);
/* bron fhirpath 'EXPR' file.json - print the result collection as JSON. */
int cli_fhirpath(int argc, char **argv);
/* bron import [--url BASE | --data DIR] FILE... - load Bundles and NDJSON. */
int cli_import(int argc, char **argv);
/* bron reindex [--data DIR] - rebuild every search index row from the stored bodies. */
int cli_reindex(int argc, char **argv);
/* bron check [--data DIR | --store URL] - verify a store's consistency (versions, index
 * rows against the bodies, the audit chain); exit 1 listing every problem. */
int cli_check(int argc, char **argv);
/* bron migrate [--data DIR | --store URL] - create or upgrade the store's schema. */
int cli_migrate(int argc, char **argv);

/* bron rekey [--data DIR | --store URL] [--key-file OLD | --unencrypted] --new-key-file NEW
 * [--full] - change the owner's key of a store, or encrypt an unencrypted one. */
int cli_rekey(int argc, char **argv);

/* The owner's key of a command that opens a store: `key_file` (its
 * --key-file; NULL or "" for none), else $BRON_KEY_FILE, else $BRON_KEY (the
 * key itself); none when `unencrypted` (its --unencrypted, which the
 * environment does not override). A key file in `data_dir` (the SQLite
 * store's directory; NULL for PostgreSQL) is refused. Returns 0 with *key
 * = out, or NULL for an unencrypted store; else prints why on stderr
 * ("bron CMD: ...") and returns the exit status (2: usage, 1: a bad key). */
int cli_store_key(const char *cmd, const char *key_file, int unencrypted, const char *data_dir,
                  crypt_key *out, const crypt_key **key);

/* bron keygen [--dir DIR] [--alg ES256|RS256] [--kid KID] [--force] - a token signing key
 * pair; bron keygen --data-key FILE [--force] - an owner's key for encryption at rest. */
int cli_keygen(int argc, char **argv);
/* bron token --key FILE --sub SUB --scope SCOPES [...] - print a signed JWT (development). */
int cli_token(int argc, char **argv);

/* bron audit verify|checkpoint - check the audit trail's chain; sign its head. */
int cli_audit(int argc, char **argv);

/* bron export [--data DIR | --store URL] --out DIR [--history] - NDJSON of a store. */
int cli_export(int argc, char **argv);

/* bron compare STORE_A STORE_B - the report of a migration: counts, differences. */
int cli_compare(int argc, char **argv);

/* bron backup [--verify] DIR, bron restore DIR - the embedded store's copies. */
int cli_backup(int argc, char **argv);
int cli_restore(int argc, char **argv);

#endif
