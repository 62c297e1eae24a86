/*
 * test_validate.c - unit tests of model_validate() (src/model/validate.c):
 * every official FHIR R4 example must pass (read from $BRON_SHARED, default
 * ../shared, skipped with a message when absent), and deliberately broken
 * resources must fail with the right diagnostic code at the right location.
 * Each case owns its arena and JSON and drops them before returning.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/model.h"

static void print_diags(const diag_list *d)
{
	for (size_t i = 0; i < d->count; i++)
		print_message("  [%s] %s: %s\n", d->items[i].code,
		              d->items[i].expression ? d->items[i].expression : "-",
		              d->items[i].message);
}

static json_t *parse(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &err);

	if (j == NULL)
		fail_msg("bad test JSON: %s: %s", err.text, text);
	return j;
}

/* text must validate without errors. */
static void ok(const char *text)
{
	json_t *j = parse(text);
	arena *a = arena_new(0);
	diag_list d;
	int n;

	diag_init(&d, a);
	n = model_validate(j, &d);
	if (n != 0 || d.errors != 0) {
		print_diags(&d);
		fail_msg("expected valid: %s", text);
	}
	arena_free(a);
	json_decref(j);
}

/* text must fail with a diagnostic of `code` at `where` (NULL: any place). */
static void bad(const char *text, const char *code, const char *where)
{
	json_t *j = parse(text);
	arena *a = arena_new(0);
	diag_list d;
	int n, found = 0;

	diag_init(&d, a);
	n = model_validate(j, &d);
	for (size_t i = 0; i < d.count; i++) {
		const diag *it = &d.items[i];

		if (it->severity <= DIAG_ERROR && strcmp(it->code, code) == 0 &&
		    (where == NULL ||
		     (it->expression != NULL && strcmp(it->expression, where) == 0)))
			found = 1;
	}
	if (n <= 0 || !found) {
		print_diags(&d);
		fail_msg("expected [%s] at %s for: %s", code, where ? where : "-", text);
	}
	assert_int_equal((size_t)n, d.errors);
	arena_free(a);
	json_decref(j);
}

/* ---- the official examples ---- */

static void test_official_examples(void **state)
{
	const char *shared = getenv("BRON_SHARED");
	char dir[4096];
	DIR *dp;
	struct dirent *e;
	int files = 0, failed = 0;
	arena *a = arena_new(0);

	snprintf(dir, sizeof dir, "%s/data/fhir-r4/examples",
	         shared && *shared ? shared : "../shared");
	dp = opendir(dir);
	if (dp == NULL) {
		arena_free(a);
		print_message("SKIP test_official_examples: %s not found (set BRON_SHARED to the "
		              "shared folder holding data/fhir-r4/examples)\n",
		              dir);
		skip();
	}
	while ((e = readdir(dp)) != NULL) {
		char path[8192];
		size_t len = strlen(e->d_name);
		json_error_t err;
		json_t *j;
		diag_list d;

		if (len < 5 || strcmp(e->d_name + len - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		j = json_load_file(path, 0, &err);
		if (j == NULL) {
			print_message("%s: cannot parse: %s\n", e->d_name, err.text);
			failed++;
			continue;
		}
		files++;
		diag_init(&d, a);
		if (model_validate(j, &d) != 0) {
			print_message("%s:\n", e->d_name);
			print_diags(&d);
			failed++;
		}
		json_decref(j);
		arena_reset(a);
	}
	closedir(dp);
	arena_free(a);
	print_message("validated %d official examples, %d failed\n", files, failed);
	assert_int_equal(files, 709);
	assert_int_equal(failed, 0);
}

/* ---- valid hand-written resources ---- */

static void test_valid_resources(void **state)
{
	ok("{\"resourceType\":\"Patient\"}");
	ok("{\"resourceType\":\"Patient\",\"id\":\"p-1.x\",\"active\":true,"
	   "\"name\":[{\"family\":\"Jansen\",\"given\":[\"Piet\",\"Jan\"]}],"
	   "\"gender\":\"male\",\"birthDate\":\"1970-02-28\",\"multipleBirthInteger\":2}");
	/* extensions on primitives, alone and aligned with a value array */
	ok("{\"resourceType\":\"Patient\",\"_birthDate\":{\"extension\":[{\"url\":\"http://x\","
	   "\"valueDateTime\":\"1970-01-01T10:00:00+01:00\"}]}}");
	ok("{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"A\",null],"
	   "\"_given\":[null,{\"extension\":[{\"url\":\"http://"
	   "x\",\"valueCode\":\"masked\"}]}]}]}");
	ok("{\"resourceType\":\"Patient\",\"name\":[{\"_given\":[{\"id\":\"g1\"}]}]}");
	ok("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},"
	   "\"valueQuantity\":{\"value\":1.5,\"unit\":\"kg\"},\"effectiveDateTime\":\"2024\"}");
	/* a required element given only by its extension */
	ok("{\"resourceType\":\"Observation\",\"_status\":{\"extension\":[{\"url\":\"http://x\","
	   "\"valueString\":\"?\"}]},\"code\":{\"text\":\"x\"}}");
	/* nested resources by their own type */
	ok("{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"resource\":"
	   "{\"resourceType\":\"Patient\",\"id\":\"a\"}},{\"resource\":{\"resourceType\":"
	   "\"Bundle\",\"type\":\"batch\"}}]}");
	ok("{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"p\",\"resource\":"
	   "{\"resourceType\":\"Patient\"}},{\"name\":\"q\",\"part\":[{\"name\":\"r\","
	   "\"valueInteger\":-3}]}]}");
	ok("{\"resourceType\":\"Questionnaire\",\"status\":\"draft\",\"item\":[{\"linkId\":\"1\","
	   "\"type\":\"group\",\"item\":[{\"linkId\":\"1.1\",\"type\":\"string\"}]}]}");
	ok("{\"resourceType\":\"Patient\",\"text\":{\"status\":\"generated\",\"div\":"
	   "\"<div xmlns=\\\"http://www.w3.org/1999/xhtml\\\">x</div>\"}}");
}

/* ---- deliberate errors ---- */

static void test_not_a_resource(void **state)
{
	bad("[]", "structure", NULL);
	bad("\"Patient\"", "structure", NULL);
	bad("{}", "structure", NULL);
	bad("{\"id\":\"x\"}", "structure", NULL);
	bad("{\"resourceType\":7}", "structure", NULL);
	bad("{\"resourceType\":\"Foo\"}", "structure", NULL);
	bad("{\"resourceType\":\"patient\"}", "structure", NULL);
	/* abstract types, backbone and data types are not resources */
	bad("{\"resourceType\":\"DomainResource\"}", "structure", NULL);
	bad("{\"resourceType\":\"Resource\"}", "structure", NULL);
	bad("{\"resourceType\":\"Patient.contact\"}", "structure", NULL);
	bad("{\"resourceType\":\"HumanName\"}", "structure", NULL);
}

static void test_unknown_element(void **state)
{
	bad("{\"resourceType\":\"Patient\",\"foo\":1}", "structure", "Patient.foo");
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"famly\":\"x\"}]}", "structure",
	    "Patient.name[0].famly");
	/* choice elements only under their typed names */
	bad("{\"resourceType\":\"Patient\",\"deceased\":true}", "structure", "Patient.deceased");
	bad("{\"resourceType\":\"Patient\",\"deceasedString\":\"x\"}", "structure",
	    "Patient.deceasedString");
	/* resourceType belongs to resources only */
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"resourceType\":\"HumanName\"}]}",
	    "structure", "Patient.name[0].resourceType");
	/* Bundle is no DomainResource: no text */
	bad("{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"text\":{\"status\":\"empty\","
	    "\"div\":\"<div>x</div>\"}}",
	    "structure", "Bundle.text");
}

static void test_wrong_json_type(void **state)
{
	bad("{\"resourceType\":\"Patient\",\"active\":\"true\"}", "structure", "Patient.active");
	bad("{\"resourceType\":\"Patient\",\"gender\":1}", "structure", "Patient.gender");
	bad("{\"resourceType\":\"Patient\",\"name\":[\"Piet\"]}", "structure", "Patient.name[0]");
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"A\",7]}]}", "structure",
	    "Patient.name[0].given[1]");
	bad("{\"resourceType\":\"Patient\",\"multipleBirthInteger\":1.5}", "structure",
	    "Patient.multipleBirthInteger");
	bad("{\"resourceType\":\"Patient\",\"multipleBirthInteger\":\"2\"}", "structure",
	    "Patient.multipleBirthInteger");
	bad("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},"
	    "\"valueQuantity\":{\"value\":\"1.5\"}}",
	    "structure", "Observation.valueQuantity.value");
	bad("{\"resourceType\":\"Patient\",\"maritalStatus\":\"M\"}", "structure",
	    "Patient.maritalStatus");
}

static void test_array_vs_single(void **state)
{
	bad("{\"resourceType\":\"Patient\",\"gender\":[\"male\"]}", "structure", "Patient.gender");
	bad("{\"resourceType\":\"Patient\",\"name\":{\"family\":\"x\"}}", "structure",
	    "Patient.name");
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"given\":\"Piet\"}]}", "structure",
	    "Patient.name[0].given");
	bad("{\"resourceType\":\"Patient\",\"name\":[]}", "structure", "Patient.name");
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"family\":[\"a\"]}]}", "structure",
	    "Patient.name[0].family");
}

static void test_nulls_and_empties(void **state)
{
	bad("{\"resourceType\":\"Patient\",\"gender\":null}", "structure", "Patient.gender");
	bad("{\"resourceType\":\"Patient\",\"name\":[null]}", "structure", "Patient.name[0]");
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"A\",null]}]}", "structure",
	    "Patient.name[0].given[1]");
	bad("{\"resourceType\":\"Patient\",\"meta\":{}}", "structure", "Patient.meta");
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\"}]}", "value",
	    "Patient.name[0].family");
}

static void test_bad_dates(void **state)
{
	bad("{\"resourceType\":\"Patient\",\"birthDate\":\"1990-13-01\"}", "value",
	    "Patient.birthDate");
	bad("{\"resourceType\":\"Patient\",\"birthDate\":\"2023-02-29\"}", "value",
	    "Patient.birthDate");
	bad("{\"resourceType\":\"Patient\",\"birthDate\":\"1990-1-1\"}", "value",
	    "Patient.birthDate");
	bad("{\"resourceType\":\"Patient\",\"birthDate\":\"1990-01-01T00:00:00Z\"}", "value",
	    "Patient.birthDate");
	bad("{\"resourceType\":\"Patient\",\"deceasedDateTime\":\"2020-01-01T10:00:00\"}", "value",
	    "Patient.deceasedDateTime");
	bad("{\"resourceType\":\"Patient\",\"meta\":{\"lastUpdated\":\"2020-01-01\"}}", "value",
	    "Patient.meta.lastUpdated");
	bad("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},"
	    "\"valueTime\":\"25:00:00\"}",
	    "value", "Observation.valueTime");
}

static void test_bad_ids(void **state)
{
	bad("{\"resourceType\":\"Patient\",\"id\":\"a_b\"}", "value", "Patient.id");
	bad("{\"resourceType\":\"Patient\",\"id\":\"a b\"}", "value", "Patient.id");
	bad("{\"resourceType\":\"Patient\",\"id\":"
	    "\"0123456789012345678901234567890123456789012345678901234567890123456789\"}",
	    "value", "Patient.id");
	bad("{\"resourceType\":\"Patient\",\"id\":\"\"}", "value", "Patient.id");
	bad("{\"resourceType\":\"Patient\",\"id\":5}", "structure", "Patient.id");
}

static void test_bad_numbers(void **state)
{
	bad("{\"resourceType\":\"Patient\",\"multipleBirthInteger\":3000000000}", "value",
	    "Patient.multipleBirthInteger");
	bad("{\"resourceType\":\"Patient\",\"telecom\":[{\"value\":\"1\",\"rank\":0}]}", "value",
	    "Patient.telecom[0].rank");
	bad("{\"resourceType\":\"Patient\",\"photo\":[{\"size\":-1}]}", "value",
	    "Patient.photo[0].size");
	bad("{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"total\":true}", "structure",
	    "Bundle.total");
}

static void test_bad_strings(void **state)
{
	bad("{\"resourceType\":\"Patient\",\"maritalStatus\":{\"coding\":[{\"code\":\"a  b\"}]}}",
	    "value", "Patient.maritalStatus.coding[0].code");
	bad("{\"resourceType\":\"Patient\",\"maritalStatus\":{\"coding\":[{\"code\":\" M\"}]}}",
	    "value", "Patient.maritalStatus.coding[0].code");
	bad("{\"resourceType\":\"Patient\",\"maritalStatus\":{\"coding\":[{\"system\":"
	    "\"http://x y\"}]}}",
	    "value", "Patient.maritalStatus.coding[0].system");
	bad("{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:oid:1.2\","
	    "\"value\":\"x\"}],\"photo\":[{\"data\":\"abc\"}]}",
	    "value", "Patient.photo[0].data");
	bad("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\","
	    "\"valueOid\":\"1.2.3\"}]}",
	    "value", "Patient.extension[0].valueOid");
	bad("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\","
	    "\"valueUuid\":\"urn:uuid:1234\"}]}",
	    "value", "Patient.extension[0].valueUuid");
	bad("{\"resourceType\":\"Patient\",\"text\":{\"status\":\"generated\",\"div\":\"hello\"}}",
	    "value", "Patient.text.div");
}

static void test_long_string(void **state)
{
	size_t n = 1024 * 1024 + 1;
	char *s = malloc(n + 1);
	json_t *j = parse("{\"resourceType\":\"Patient\",\"name\":[{}]}");
	arena *a = arena_new(0);
	diag_list d;

	memset(s, 'x', n);
	s[n] = '\0';
	json_object_set_new(json_array_get(json_object_get(j, "name"), 0), "family",
	                    json_string(s));
	diag_init(&d, a);
	assert_int_equal(model_validate(j, &d), 1);
	assert_string_equal(d.items[0].code, "value");
	assert_string_equal(d.items[0].expression, "Patient.name[0].family");
	free(s);
	arena_free(a);
	json_decref(j);
}

static void test_bad_required_code(void **state)
{
	bad("{\"resourceType\":\"Patient\",\"gender\":\"mal\"}", "code-invalid", "Patient.gender");
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"use\":\"formal\"}]}", "code-invalid",
	    "Patient.name[0].use");
	bad("{\"resourceType\":\"Observation\",\"status\":\"done\",\"code\":{\"text\":\"x\"}}",
	    "code-invalid", "Observation.status");
	bad("{\"resourceType\":\"Bundle\",\"type\":\"pile\"}", "code-invalid", "Bundle.type");
	bad("{\"resourceType\":\"Patient\",\"telecom\":[{\"system\":\"pigeon\"}]}", "code-invalid",
	    "Patient.telecom[0].system");
}

static void test_contained(void **state)
{
	bad("{\"resourceType\":\"Patient\",\"contained\":[{\"resourceType\":\"Foo\"}]}",
	    "structure", "Patient.contained[0]");
	bad("{\"resourceType\":\"Patient\",\"contained\":[{\"id\":\"x\"}]}", "structure",
	    "Patient.contained[0]");
	bad("{\"resourceType\":\"Patient\",\"contained\":[\"Organization\"]}", "structure",
	    "Patient.contained[0]");
	bad("{\"resourceType\":\"Patient\",\"contained\":{\"resourceType\":\"Organization\"}}",
	    "structure", "Patient.contained");
	bad("{\"resourceType\":\"Patient\",\"contained\":[{\"resourceType\":\"Organization\","
	    "\"nam\":\"x\"}]}",
	    "structure", "Patient.contained[0].nam");
	bad("{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":[{\"resource\":"
	    "{\"resourceType\":\"Patient\",\"birthDate\":\"x\"}}]}",
	    "value", "Bundle.entry[0].resource.birthDate");
	bad("{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"p\",\"resource\":"
	    "{\"resourceType\":\"Nope\"}}]}",
	    "structure", "Parameters.parameter[0].resource");
}

static void test_bad_sibling(void **state)
{
	/* _given must be an array like given */
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"A\"],\"_given\":{\"id\":\"1\"}}]"
	    "}",
	    "structure", "Patient.name[0]._given");
	/* and aligned with it */
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"A\",\"B\"],"
	    "\"_given\":[{\"id\":\"1\"}]}]}",
	    "structure", "Patient.name[0]._given");
	/* only id and extension inside */
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"A\"],"
	    "\"_given\":[{\"value\":\"A\"}]}]}",
	    "structure", "Patient.name[0]._given[0].value");
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"A\"],\"_given\":[\"x\"]}]}",
	    "structure", "Patient.name[0]._given[0]");
	/* both null at one position */
	bad("{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"A\",null],"
	    "\"_given\":[{\"id\":\"1\"},null]}]}",
	    "structure", NULL);
	/* _x of a non-primitive, or of nothing */
	bad("{\"resourceType\":\"Patient\",\"_name\":[{\"id\":\"1\"}]}", "structure",
	    "Patient._name");
	bad("{\"resourceType\":\"Patient\",\"_foo\":{\"id\":\"1\"}}", "structure", "Patient._foo");
	/* single primitive: object, not array */
	bad("{\"resourceType\":\"Patient\",\"_gender\":[{\"id\":\"1\"}]}", "structure",
	    "Patient._gender");
	bad("{\"resourceType\":\"Patient\",\"_gender\":{\"extension\":[{\"valueString\":\"x\"}]}}",
	    "required", "Patient._gender.extension[0].url");
}

static void test_choice_twice(void **state)
{
	bad("{\"resourceType\":\"Patient\",\"deceasedBoolean\":true,"
	    "\"deceasedDateTime\":\"2020\"}",
	    "structure", NULL);
}

static void test_missing_required(void **state)
{
	bad("{\"resourceType\":\"Observation\",\"code\":{\"text\":\"x\"}}", "required",
	    "Observation.status");
	bad("{\"resourceType\":\"Bundle\"}", "required", "Bundle.type");
	bad("{\"resourceType\":\"Patient\",\"extension\":[{\"valueString\":\"x\"}]}", "required",
	    "Patient.extension[0].url");
	/* a required choice */
	bad("{\"resourceType\":\"Questionnaire\",\"status\":\"draft\",\"item\":[{\"linkId\":\"1\","
	    "\"type\":\"string\",\"enableWhen\":[{\"question\":\"q\",\"operator\":\"=\"}]}]}",
	    "required", "Questionnaire.item[0].enableWhen[0].answer[x]");
}

static void test_deep_nesting(void **state)
{
	/* Questionnaire.item nests without end; the validator does not */
	size_t depth = 200, cap = depth * 64 + 128, len = 0;
	char *s = malloc(cap);

	len += (size_t)snprintf(s + len, cap - len,
	                        "{\"resourceType\":\"Questionnaire\","
	                        "\"status\":\"draft\"");
	for (size_t i = 0; i < depth; i++)
		len += (size_t)snprintf(s + len, cap - len,
		                        ",\"item\":[{\"linkId\":\"x\",\"type\":\"group\"");
	for (size_t i = 0; i < depth; i++)
		len += (size_t)snprintf(s + len, cap - len, "}]");
	snprintf(s + len, cap - len, "}");
	bad(s, "structure", NULL);
	free(s);
}

static void test_error_limit(void **state)
{
	/* many errors: all counted, the walk stops at the list's limit */
	json_t *j = parse("{\"resourceType\":\"Patient\"}");
	json_t *names = json_array();
	arena *a = arena_new(0);
	diag_list d;
	int n;

	for (int i = 0; i < 500; i++)
		json_array_append_new(names, json_integer(i));
	json_object_set_new(j, "name", names);
	diag_init(&d, a);
	d.limit = 10;
	n = model_validate(j, &d);
	assert_int_equal(n, 10);
	assert_int_equal(d.count, 10);
	arena_free(a);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_official_examples), cmocka_unit_test(test_valid_resources),
	        cmocka_unit_test(test_not_a_resource),    cmocka_unit_test(test_unknown_element),
	        cmocka_unit_test(test_wrong_json_type),   cmocka_unit_test(test_array_vs_single),
	        cmocka_unit_test(test_nulls_and_empties), cmocka_unit_test(test_bad_dates),
	        cmocka_unit_test(test_bad_ids),           cmocka_unit_test(test_bad_numbers),
	        cmocka_unit_test(test_bad_strings),       cmocka_unit_test(test_long_string),
	        cmocka_unit_test(test_bad_required_code), cmocka_unit_test(test_contained),
	        cmocka_unit_test(test_bad_sibling),       cmocka_unit_test(test_choice_twice),
	        cmocka_unit_test(test_missing_required),  cmocka_unit_test(test_deep_nesting),
	        cmocka_unit_test(test_error_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
