/*
 * cli.h - the `bron` command's subcommands. main.c dispatches argv[1] to one
 * of these; each returns the process exit status (0 ok, 1 failure, 2 usage).
 */
#ifndef BRON_CLI_H
#define BRON_CLI_H

int cli_serve(int argc, char **argv);
/* bron fhirpath 'EXPR' file.json - print the result collection as JSON. */
int cli_fhirpath(int argc, char **argv);
/* bron import [--url BASE | --data DIR] FILE... - load Bundles and NDJSON. */
int cli_import(int argc, char **argv);
/* bron reindex [--data DIR] - rebuild every search index row from the stored bodies. */
int cli_reindex(int argc, char **argv);
/* bron migrate [--data DIR | --store URL] - create or upgrade the store's schema. */
int cli_migrate(int argc, char **argv);

/* bron keygen [--dir DIR] [--alg ES256|RS256] [--kid KID] [--force] - a token signing key pair. */
int cli_keygen(int argc, char **argv);
/* bron token --key FILE --sub SUB --scope SCOPES [...] - print a signed JWT (development). */
int cli_token(int argc, char **argv);

/* bron audit verify|checkpoint - check the audit trail's chain; sign its head. */
int cli_audit(int argc, char **argv);

/* bron export [--data DIR | --store URL] --out DIR [--history] - NDJSON of a store. */
int cli_export(int argc, char **argv);

/* bron compare STORE_A STORE_B - the report of a migration: counts, differences. */
int cli_compare(int argc, char **argv);

#endif
