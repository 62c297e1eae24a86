/*
 * main.c - the `bron` command: dispatches the first argument to a
 * subcommand (cli.h). Each subcommand parses its own flags.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bron COMMAND [ARGS]\n\n"
	           "commands:\n"
	           "  serve       serve the FHIR API (bron serve --help)\n"
	           "  import      load Bundles and NDJSON files (bron import --help)\n"
	           "  reindex     rebuild the search indexes from the stored resources\n"
	           "  migrate     create or upgrade the schema of a store\n"
	           "  check       verify a store's consistency: versions, indexes, audit chain\n"
	           "              (bron check --help)\n"
	           "  backup      copy the embedded store online; --verify a copy (bron backup "
	           "--help)\n"
	           "  restore     put a backup back (bron restore --help)\n"
	           "  compare     compare two stores after a migration (bron compare --help)\n"
	           "  export      write a store as NDJSON files (bron export --help)\n"
	           "  audit       verify the audit trail, sign a checkpoint (bron audit --help)\n"
	           "  rekey       change the key of an encrypted store (bron rekey --help)\n"
	           "  keygen      make a token signing key pair and JWKS, or with --data-key\n"
	           "              FILE an owner's key for encryption at rest\n"
	           "  token       print a signed JWT for development (bron token --help)\n"
	           "  fhirpath    evaluate a FHIRPath expression: bron fhirpath 'EXPR' file.json\n"
	           "  version     print the version\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "serve"))
		return cli_serve(argc - 1, argv + 1);
	if (!strcmp(cmd, "import"))
		return cli_import(argc - 1, argv + 1);
	if (!strcmp(cmd, "reindex"))
		return cli_reindex(argc - 1, argv + 1);
	if (!strcmp(cmd, "check"))
		return cli_check(argc - 1, argv + 1);
	if (!strcmp(cmd, "migrate"))
		return cli_migrate(argc - 1, argv + 1);
	if (!strcmp(cmd, "backup"))
		return cli_backup(argc - 1, argv + 1);
	if (!strcmp(cmd, "restore"))
		return cli_restore(argc - 1, argv + 1);
	if (!strcmp(cmd, "compare"))
		return cli_compare(argc - 1, argv + 1);
	if (!strcmp(cmd, "export"))
		return cli_export(argc - 1, argv + 1);
	if (!strcmp(cmd, "audit"))
		return cli_audit(argc - 1, argv + 1);
	if (!strcmp(cmd, "rekey"))
		return cli_rekey(argc - 1, argv + 1);
	if (!strcmp(cmd, "keygen"))
		return cli_keygen(argc - 1, argv + 1);
	if (!strcmp(cmd, "token"))
		return cli_token(argc - 1, argv + 1);
	if (!strcmp(cmd, "fhirpath"))
		return cli_fhirpath(argc - 1, argv + 1);
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("bron 0.1.0 (FHIR R4 4.0.1)\n");
		return 0;
	}
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "bron: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
