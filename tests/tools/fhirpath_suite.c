/*
 * fhirpath_suite.c - runs the official FHIRPath test suite for FHIR R4
 * (tests-fhir-r4.xml, read with libxml2) through Bron's engine and prints
 * "N passed, N failed, N skipped". Cases listed in the skip file are not
 * run. Also checks that every R4 search-parameter expression compiles, and
 * with --json dumps the parsed cases for tests/fhirpath/run-fhirpath-js.js so
 * both engines judge the same cases.
 *
 *   fhirpath_suite SUITE.xml INPUT_DIR [--skip FILE] [-v] [--only NAME] [--json]
 */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fhirpath/fhirpath.h"
#include "model/model.h"

typedef struct out_val {
	char *type; /* may be NULL */
	char *text;
} out_val;

typedef struct tcase {
	char *name, *group, *input, *expr, *invalid, *mode, *predicate;
	int unordered;
	out_val outs[64];
	int nouts;
} tcase;

static char *prop(xmlNode *n, const char *name)
{
	xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
	char *s = v ? strdup((const char *)v) : NULL;
	xmlFree(v);
	return s;
}

static char *text(xmlNode *n)
{
	xmlChar *v = xmlNodeGetContent(n);
	char *s = strdup(v ? (const char *)v : "");
	xmlFree(v);
	return s;
}

static int is(xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

static size_t load_cases(xmlNode *root, tcase **out)
{
	size_t n = 0, cap = 1024;
	tcase *cases = base_calloc(cap, sizeof *cases);
	for (xmlNode *g = root->children; g; g = g->next) {
		if (!is(g, "group"))
			continue;
		char *group = prop(g, "name");
		for (xmlNode *t = g->children; t; t = t->next) {
			if (!is(t, "test"))
				continue;
			if (n == cap) {
				cap *= 2;
				cases = base_realloc(cases, cap * sizeof *cases);
				memset(cases + n, 0, (cap - n) * sizeof *cases);
			}
			tcase *tc = &cases[n++];
			tc->group = group;
			tc->name = prop(t, "name");
			tc->input = prop(t, "inputfile");
			tc->mode = prop(t, "mode");
			tc->predicate = prop(t, "predicate");
			char *ord = prop(t, "ordered");
			tc->unordered = ord && !strcmp(ord, "false");
			free(ord);
			for (xmlNode *x = t->children; x; x = x->next) {
				if (is(x, "expression")) {
					tc->expr = text(x);
					tc->invalid = prop(x, "invalid");
					if (!tc->mode)
						tc->mode = prop(x, "mode");
				} else if (is(x, "output") && tc->nouts < 64) {
					tc->outs[tc->nouts].type = prop(x, "type");
					tc->outs[tc->nouts].text = text(x);
					tc->nouts++;
				}
			}
		}
	}
	*out = cases;
	return n;
}

/* ---- inputs ---- */

typedef struct input {
	char name[128];
	json_t *json;
} input;

static input inputs[64];
static int ninputs;

static json_t *load_input(const char *dir, const char *xmlname)
{
	if (!xmlname)
		return NULL;
	for (int i = 0; i < ninputs; i++)
		if (!strcmp(inputs[i].name, xmlname))
			return inputs[i].json;
	char path[1024], base[256];
	snprintf(base, sizeof base, "%s", xmlname);
	char *dot = strrchr(base, '.');
	if (dot)
		*dot = 0;
	snprintf(path, sizeof path, "%s/%s.json", dir, base);
	json_error_t err;
	json_t *j = json_load_file(path, 0, &err);
	if (!j)
		fprintf(stderr, "cannot load %s: %s\n", path, err.text);
	if (ninputs < 64) {
		snprintf(inputs[ninputs].name, sizeof inputs[0].name, "%s", xmlname);
		inputs[ninputs++].json = j;
	}
	return j;
}

/* ---- comparing results ---- */

/* How an item reads in the suite's notation: "@2014-01", "1.50000 'cm'". */
static const char *render(const fp_item *it, arena *a, const char **type)
{
	*type = fp_item_type(it);
	const fp_item *v = fp_item_value(it, a);
	if (!v)
		return NULL;
	const char *s = fp_item_string(v, a);
	switch (fp_item_kind(v)) {
	case FP_DATE:
	case FP_DATETIME: return arena_printf(a, "@%s", s);
	case FP_TIME: return arena_printf(a, "@T%s", s);
	default: return s;
	}
}

static int same_type(const char *expected, const fp_item *it, arena *a)
{
	if (!expected)
		return 1;
	const char *t = fp_item_type(it);
	if (t && fp_item_kind(it) == FP_NODE && !strcmp(t, expected))
		return 1;
	const fp_item *v = fp_item_value(it, a);
	if (!v)
		return 0;
	switch (fp_item_kind(v)) {
	case FP_BOOLEAN: return !strcmp(expected, "boolean");
	case FP_INTEGER: return !strcmp(expected, "integer");
	case FP_DECIMAL: return !strcmp(expected, "decimal");
	case FP_DATE: return !strcmp(expected, "date");
	case FP_DATETIME: return !strcmp(expected, "dateTime") || !strcmp(expected, "instant");
	case FP_TIME: return !strcmp(expected, "time");
	case FP_QUANTITY: return !strcmp(expected, "Quantity");
	case FP_STRING:
		return !strcmp(expected, "string") || !strcmp(expected, "code") ||
		       !strcmp(expected, "id") || !strcmp(expected, "uri");
	default: return 0;
	}
}

static int matches(const out_val *o, const fp_item *it, arena *a)
{
	const char *type;
	const char *got = render(it, a, &type);
	if (!got)
		return 0;
	if (!same_type(o->type, it, a))
		return 0;
	if (!strcmp(got, o->text))
		return 1;
	const fp_item *v = fp_item_value(it, a);
	fp_kind k = fp_item_kind(v);
	if (k == FP_DECIMAL || k == FP_INTEGER) {
		char *end;
		double e = strtod(o->text, &end);
		return *end == 0 && fabs(e - fp_item_decimal(v)) < 1e-9;
	}
	if (k == FP_DATE || k == FP_DATETIME || k == FP_TIME) /* typed outputs may omit '@' */
		return !strcmp(got + (got[1] == 'T' && k == FP_TIME ? 2 : 1),
		               o->text + (o->text[0] == '@') + (k == FP_TIME && o->text[1] == 'T'));
	return 0;
}

static void describe(const fp_collection *r, arena *a, FILE *f)
{
	fputc('[', f);
	for (size_t i = 0; i < r->count; i++) {
		const char *type;
		const char *s = render(fp_collection_at(r, i), a, &type);
		fprintf(f, "%s%s:%s", i ? ", " : "", type ? type : "?", s ? s : "{...}");
	}
	fputc(']', f);
}

static int run_case(const tcase *tc, const char *dir, int verbose)
{
	arena *a = arena_new(0);
	diag_list d;
	diag_init(&d, a);
	fp_expr *e = NULL;
	int ok = 0;
	fp_collection r = {0};
	json_t *res = load_input(dir, tc->input);
	int crc = fp_compile(tc->expr, &e, &d);
	int erc = crc ? -1 : fp_eval(e, res, NULL, a, &r, &d);
	if (tc->invalid) {
		ok = crc || erc;
		goto done;
	}
	if (crc || erc)
		goto done;
	if (tc->predicate && !strcmp(tc->predicate, "true")) {
		/* the result as a boolean: does it exist */
		ok = tc->nouts == 1 && !strcmp(tc->outs[0].text, r.count ? "true" : "false");
		goto done;
	}
	if ((int)r.count != tc->nouts)
		goto done;
	ok = 1;
	for (int i = 0; i < tc->nouts && ok; i++) {
		if (!tc->unordered) {
			ok = matches(&tc->outs[i], fp_collection_at(&r, (size_t)i), a);
			continue;
		}
		int found = 0;
		for (size_t k = 0; k < r.count && !found; k++)
			found = matches(&tc->outs[i], fp_collection_at(&r, k), a);
		ok = found;
	}
done:
	if (!ok && verbose) {
		fprintf(stderr, "FAIL %s [%s]: %s\n", tc->name, tc->group, tc->expr);
		if (d.count)
			fprintf(stderr, "  error: %s\n", d.items[0].message);
		else {
			fprintf(stderr, "  got ");
			describe(&r, a, stderr);
			fprintf(stderr, "\n  expected%s [", tc->invalid ? " an error" : "");
			for (int i = 0; i < tc->nouts; i++)
				fprintf(stderr, "%s%s:%s", i ? ", " : "",
				        tc->outs[i].type ? tc->outs[i].type : "?",
				        tc->outs[i].text);
			fprintf(stderr, "]\n");
		}
	}
	fp_free(e);
	arena_free(a);
	return ok;
}

/* ---- skip list: "name  reason" per line, '#' comments ---- */

static char **skips;
static size_t nskips;

static void load_skips(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	char line[1024];
	while (fgets(line, sizeof line, f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		line[strcspn(line, " \t\n")] = 0;
		skips = base_realloc(skips, (nskips + 1) * sizeof *skips);
		skips[nskips++] = strdup(line);
	}
	fclose(f);
}

static int skipped(const char *name)
{
	for (size_t i = 0; i < nskips; i++)
		if (!strcmp(skips[i], name))
			return 1;
	return 0;
}

static json_t *opt_str(const char *s)
{
	return s ? json_string(s) : json_null();
}

static void dump_json(const tcase *cases, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		const tcase *tc = &cases[i];
		json_t *outs = json_array();
		for (int k = 0; k < tc->nouts; k++)
			json_array_append_new(outs, json_pack("{s:o,s:s}", "type",
			                                      opt_str(tc->outs[k].type), "value",
			                                      tc->outs[k].text));
		json_array_append_new(
		        arr, json_pack("{s:s,s:o,s:o,s:s,s:o,s:o,s:o,s:b,s:b,s:o}", "name",
		                       tc->name, "group", opt_str(tc->group), "input",
		                       opt_str(tc->input), "expression", tc->expr ? tc->expr : "",
		                       "invalid", opt_str(tc->invalid), "mode", opt_str(tc->mode),
		                       "predicate", opt_str(tc->predicate), "unordered",
		                       tc->unordered, "skip", skipped(tc->name), "outputs", outs));
	}
	json_dumpf(arr, stdout, JSON_INDENT(1));
	json_decref(arr);
}

/* Every R4 search-parameter expression (and composite component) compiles. */
static int check_search_params(int verbose)
{
	size_t total = 0, bad = 0;
	for (size_t i = 0; i < model_search_param_count(); i++) {
		const model_search_param *sp = model_search_param_at(i);
		const char *exprs[17] = {sp->expression};
		size_t n = 1;
		for (size_t k = 0; k < sp->component_count && n < 17; k++)
			exprs[n++] = sp->components[k].expression;
		for (size_t k = 0; k < n; k++) {
			if (!exprs[k] || !exprs[k][0])
				continue;
			arena *a = arena_new(0);
			diag_list d;
			diag_init(&d, a);
			fp_expr *e;
			total++;
			if (fp_compile(exprs[k], &e, &d)) {
				bad++;
				if (verbose)
					fprintf(stderr, "search parameter %s: %s\n", sp->id,
					        d.items[0].message);
			}
			fp_free(e);
			arena_free(a);
		}
	}
	printf("search parameters: %zu of %zu expressions compile\n", total - bad, total);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *suite = NULL, *dir = NULL, *skip = NULL, *only = NULL;
	int verbose = 0, json = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v"))
			verbose = 1;
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--skip") && i + 1 < argc)
			skip = argv[++i];
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else if (!suite)
			suite = argv[i];
		else
			dir = argv[i];
	}
	if (!suite || !dir) {
		fprintf(stderr, "usage: fhirpath_suite SUITE.xml INPUT_DIR [--skip FILE] [-v] "
		                "[--only NAME] [--json]\n");
		return 2;
	}
	xmlDoc *doc = xmlReadFile(suite, NULL, XML_PARSE_NONET);
	if (!doc) {
		fprintf(stderr, "cannot parse %s\n", suite);
		return 2;
	}
	if (skip)
		load_skips(skip);
	tcase *cases;
	size_t n = load_cases(xmlDocGetRootElement(doc), &cases);
	int sp_bad = 0;
	if (json) {
		dump_json(cases, n);
		goto out;
	}
	sp_bad = only ? 0 : check_search_params(verbose);
	size_t pass = 0, fail = 0, skip_n = 0;
	for (size_t i = 0; i < n; i++) {
		if (only && strcmp(cases[i].name, only))
			continue;
		if (skipped(cases[i].name)) {
			skip_n++;
			continue;
		}
		if (run_case(&cases[i], dir, verbose || only))
			pass++;
		else
			fail++;
	}
	printf("%zu passed, %zu failed, %zu skipped\n", pass, fail, skip_n);
out:
	xmlFreeDoc(doc);
	xmlCleanupParser();
	for (int i = 0; i < ninputs; i++)
		json_decref(inputs[i].json);
	for (size_t i = 0; i < n; i++) {
		tcase *tc = &cases[i];
		free(tc->name), free(tc->input), free(tc->expr), free(tc->invalid), free(tc->mode);
		free(tc->predicate);
		for (int k = 0; k < tc->nouts; k++)
			free(tc->outs[k].type), free(tc->outs[k].text);
		if (i == 0 || cases[i - 1].group != tc->group)
			free(tc->group);
	}
	free(cases);
	for (size_t i = 0; i < nskips; i++)
		free(skips[i]);
	free(skips);
	return sp_bad ? 3 : 0;
}
