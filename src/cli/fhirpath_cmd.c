/*
 * fhirpath_cmd.c - `bron fhirpath 'EXPR' [file.json|-]`: compile EXPR,
 * evaluate it against the resource in the file (stdin for "-", no context
 * when omitted) and print the result collection as a JSON array. Errors go to
 * stderr with exit 1; usage errors exit 2. Interface: cli.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fhirpath/fhirpath.h"
#include "cli.h"

static void usage(void)
{
	fprintf(stderr, "usage: bron fhirpath [--var name=value]... 'EXPRESSION' [file.json|-]\n"
	                "Evaluates a FHIRPath expression on a FHIR JSON resource and prints\n"
	                "the result collection as JSON.\n");
}

static void print_diags(const diag_list *d)
{
	for (size_t i = 0; i < d->count; i++)
		fprintf(stderr, "bron fhirpath: %s\n", d->items[i].message);
}

int cli_fhirpath(int argc, char **argv)
{
	const char *expr = NULL, *file = NULL;
	fp_var vars[32];
	size_t nvars = 0;
	json_t *var_values[32];
	int rc = 1;
	/* argv[0] is "fhirpath" when called from main's dispatch */
	int i = (argc > 0 && !strcmp(argv[0], "fhirpath")) ? 1 : 0;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage();
			return 0;
		}
		if (!strcmp(argv[i], "--var") && i + 1 < argc && nvars < 32) {
			char *eq = strchr(argv[++i], '=');
			if (!eq) {
				usage();
				return 2;
			}
			*eq = 0;
			vars[nvars].name = argv[i];
			var_values[nvars] = json_string(eq + 1);
			vars[nvars].value = var_values[nvars];
			nvars++;
		} else if (!expr) {
			expr = argv[i];
		} else if (!file) {
			file = argv[i];
		} else {
			usage();
			return 2;
		}
	}
	if (!expr) {
		usage();
		return 2;
	}
	arena *a = arena_new(0);
	diag_list d;
	diag_init(&d, a);
	fp_expr *e = NULL;
	json_t *res = NULL;
	if (fp_compile(expr, &e, &d)) {
		print_diags(&d);
		goto out;
	}
	if (file) {
		json_error_t err;
		res = !strcmp(file, "-") ? json_loadf(stdin, 0, &err)
		                         : json_load_file(file, 0, &err);
		if (!res) {
			fprintf(stderr, "bron fhirpath: %s:%d: %s\n", file, err.line, err.text);
			goto out;
		}
	}
	fp_env env = {.vars = vars, .nvars = nvars};
	fp_collection result;
	if (fp_eval(e, res, &env, a, &result, &d)) {
		print_diags(&d);
		goto out;
	}
	json_t *j = fp_collection_to_json(&result);
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	printf("%s\n", s ? s : "[]");
	free(s);
	json_decref(j);
	rc = 0;
out:
	for (size_t k = 0; k < nvars; k++)
		json_decref(var_values[k]);
	json_decref(res);
	fp_free(e);
	arena_free(a);
	return rc;
}
