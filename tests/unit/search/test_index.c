/*
 * test_index.c - unit tests of the index side of src/search (search.h,
 * search_int.h): parameter ids, string normalisation, date and number
 * precision ranges, UCUM canonical units, and the rows search_index()
 * extracts from Patient, Observation, Condition, Encounter and
 * MedicationRequest resources (strings, tokens with :of-type rows, dates,
 * quantities, references of every form, composites with their groups, full
 * text) and Patient-compartment membership; every official R4 example
 * ($BRON_SHARED/data/fhir-r4/examples, default ../shared; skipped with a
 * message when absent) indexes without warnings; concurrent indexing; and the
 * time per resource, printed.
 */
#include <dirent.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "search/search.h"
#include "search/search_int.h"

/* ---- helpers ---- */

typedef struct indexed {
	json_t *json;
	arena *a;
	diag_list d;
	search_rows rows;
	const char *type;
} indexed;

static void index_json(indexed *x, const char *json)
{
	json_error_t err;

	x->json = json_loads(json, 0, &err);
	if (x->json == NULL)
		fail_msg("bad test JSON: %s", err.text);
	x->a = arena_new(0);
	diag_init(&x->d, x->a);
	x->type = json_string_value(json_object_get(x->json, "resourceType"));
	const char *id = json_string_value(json_object_get(x->json, "id"));
	assert_int_equal(search_index(x->json, x->type, id, x->a, &x->rows, &x->d), 0);
	for (size_t i = 0; i < x->d.count; i++)
		print_message("diag: %s\n", x->d.items[i].message);
	assert_int_equal(x->d.count, 0);
}

static void index_free(indexed *x)
{
	json_decref(x->json);
	arena_free(x->a);
}

static uint32_t pid_of(const indexed *x, const char *code)
{
	uint32_t pid = search_pid(x->type, code);
	if (pid == 0)
		fail_msg("no parameter %s on %s", code, x->type);
	return pid;
}

/* Rows of pid (any grp when grp is -1). */
static size_t count_rows(const indexed *x, uint32_t pid, int grp)
{
	size_t n = 0;
	for (size_t i = 0; i < x->rows.count; i++)
		if (x->rows.items[i].pid == pid &&
		    (grp < 0 || x->rows.items[i].grp == (uint32_t)grp))
			n++;
	return n;
}

/* The row of pid whose strings s[0..n) equal the given ones (NULL: any). */
static const search_row *find_row(const indexed *x, uint32_t pid, int grp, const char *s0,
                                  const char *s1, const char *s2)
{
	const char *want[3] = {s0, s1, s2};
	for (size_t i = 0; i < x->rows.count; i++) {
		const search_row *r = &x->rows.items[i];
		int ok = r->pid == pid && (grp < 0 || r->grp == (uint32_t)grp);
		for (int k = 0; ok && k < 3; k++)
			if (want[k] && strcmp(r->s[k], want[k]) != 0)
				ok = 0;
		if (ok)
			return r;
	}
	return NULL;
}

static const search_row *must_find(const indexed *x, const char *code, const char *s0,
                                   const char *s1, const char *s2)
{
	const search_row *r = find_row(x, pid_of(x, code), -1, s0, s1, s2);
	if (r == NULL)
		fail_msg("%s: no row %s|%s|%s", code, s0 ? s0 : "*", s1 ? s1 : "*", s2 ? s2 : "*");
	return r;
}

static int has_patient(const indexed *x, const char *id)
{
	for (size_t i = 0; i < x->rows.npatients; i++)
		if (strcmp(x->rows.patients[i], id) == 0)
			return 1;
	return 0;
}

static int64_t us(const char *instant)
{
	int64_t v = 0;
	assert_int_equal(base_parse_instant(instant, &v), 0);
	return v;
}

static int setup(void **state)
{
	return search_init();
}

/* ---- parameter ids ---- */

static void test_pid(void **state)
{
	const model_search_param *const *sps;
	size_t n = model_search_params_for("Observation", &sps);
	size_t ti;

	for (ti = 0; ti < model_resource_count(); ti++)
		if (strcmp(model_type_name(model_resource_at(ti)), "Observation") == 0)
			break;
	assert_true(n > 20);
	for (size_t i = 0; i < n; i++) { /* the documented layout, so ids survive restarts */
		uint32_t got = search_pid("Observation", sps[i]->code);
		/* a parameter with the same kind and expression as an earlier one shares its pid */
		assert_true(got == ti * 256 + i + 1 || (got > ti * 256 && got < ti * 256 + i + 1));
	}
	assert_int_equal(search_pid("Observation", "nonesuch"), 0);
	assert_int_equal(search_pid("NoSuchType", "code"), 0);
	assert_int_equal(search_pid("Resource", "_id"), 0);
	assert_int_equal(search_pid(NULL, "code"), 0);
	assert_int_not_equal(search_pid("Patient", "_id"), search_pid("Observation", "_id"));
	uint32_t p = search_pid("Observation", "code-value-quantity");
	assert_int_not_equal(p, 0);
	assert_int_equal(search_component_pid(p, 0), p + 65536);
	assert_int_equal(search_component_pid(p, 1), p + 2 * 65536);
	assert_int_not_equal(search_component_pid(p, SEARCH_OF_TYPE_COMPONENT), 0);
	assert_int_equal(search_component_pid(0, 1), 0);
	/* pids are the type's own, and only parameters with the same kind and
	 * expression share one (Patient's phonetic is name) */
	for (size_t t = 0; t < model_resource_count(); t++) {
		const char *type = model_type_name(model_resource_at(t));
		size_t m = model_search_params_for(type, &sps);
		for (size_t i = 0; i < m; i++) {
			uint32_t got = search_pid(type, sps[i]->code);
			assert_true(got > t * 256 && got <= t * 256 + i + 1);
			if (got != t * 256 + i + 1) {
				const model_search_param *first = sps[got - t * 256 - 1];
				assert_int_equal(first->type, sps[i]->type);
			}
		}
	}
	assert_int_equal(search_pid("Patient", "phonetic"), search_pid("Patient", "name"));
	assert_int_not_equal(search_pid("Patient", "family"), search_pid("Patient", "name"));
	assert_int_equal(search_init(), 0); /* idempotent */
}

/* ---- normalisation ---- */

static void check_norm(const char *in, const char *want)
{
	arena *a = arena_new(0);
	const char *got = search_normalize(a, in);
	if (strcmp(got, want) != 0)
		fail_msg("normalize(\"%s\") = \"%s\", want \"%s\"", in, got, want);
	arena_free(a);
}

static void test_normalize(void **state)
{
	check_norm("Renée", "renee");
	check_norm("  Ærøskøbing   Straße ", "aeroskobing strasse");
	check_norm("O'Brien-Smith", "obriensmith");
	check_norm("MÜLLER, Jürgen", "muller jurgen");
	check_norm("Łódź Dvořák Šťastný", "lodz dvorak stastny");
	check_norm("Nguyễn Thị Ánh", "nguyen thi anh");
	check_norm("Rene\xcc\x81", "rene"); /* NFD: e + combining acute */
	check_norm("ΑΘΗΝΑ Москва", "αθηνα москва");
	check_norm("a\tb\nc", "a b c");
	check_norm("", "");
	check_norm(NULL, "");
	check_norm("\xff\xfe bad", "bad"); /* invalid UTF-8 dropped */
	check_norm("trunc\xc3", "trunc");  /* cut sequence */
	check_norm("日本語", "日本語");    /* kept */
	check_norm("van\xc2\xa0"
	           "der Berg",
	           "van der berg"); /* no-break space */
}

/* ---- precision ranges ---- */

static void check_date(const char *s, const char *lo, const char *hi_exclusive)
{
	int64_t l, h;
	if (search__index_date(s, &l, &h) != 0)
		fail_msg("date %s did not parse", s);
	assert_int_equal(l, us(lo));
	assert_int_equal(h, us(hi_exclusive) - 1);
}

static void test_date_ranges(void **state)
{
	int64_t l, h;

	check_date("2020", "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z");
	check_date("2020-02", "2020-02-01T00:00:00Z", "2020-03-01T00:00:00Z");
	check_date("2019-02", "2019-02-01T00:00:00Z", "2019-03-01T00:00:00Z");
	check_date("2020-12-31", "2020-12-31T00:00:00Z", "2021-01-01T00:00:00Z");
	check_date("2020-03-01T10:00:00+01:00", "2020-03-01T09:00:00Z", "2020-03-01T09:00:01Z");
	check_date("2020-03-01T10:00:00Z", "2020-03-01T10:00:00Z", "2020-03-01T10:00:01Z");
	check_date("2020-03-01T10:00:00", "2020-03-01T10:00:00Z", "2020-03-01T10:00:01Z");
	check_date("2020-03-01T10:00Z", "2020-03-01T10:00:00Z", "2020-03-01T10:01:00Z");
	check_date("2020-03-01T10:00:00.5-05:30", "2020-03-01T15:30:00.5Z",
	           "2020-03-01T15:30:00.6Z");
	check_date("2020-03-01T10:00:00.123456789Z", "2020-03-01T10:00:00.123456Z",
	           "2020-03-01T10:00:00.123457Z");
	check_date("1969-07-20", "1969-07-20T00:00:00Z", "1969-07-21T00:00:00Z");
	check_date("0001", "0001-01-01T00:00:00Z", "0002-01-01T00:00:00Z");
	assert_int_equal(search__index_date("2020-13", &l, &h), -1);
	assert_int_equal(search__index_date("2019-02-29", &l, &h), -1);
	assert_int_equal(search__index_date("20", &l, &h), -1);
	assert_int_equal(search__index_date("2020-01-01T25:00:00Z", &l, &h), -1);
	assert_int_equal(search__index_date("2020-01-01x", &l, &h), -1);
	assert_int_equal(search__index_date("2020-01-01T10:00:00+1", &l, &h), -1);
	assert_int_equal(search__index_date("", &l, &h), -1);
	assert_int_equal(search__index_date(NULL, &l, &h), -1);
}

static void check_number(const char *s, double v, double lo, double hi)
{
	double a, b, c;
	if (search__index_number(s, &a, &b, &c) != 0)
		fail_msg("number %s did not parse", s);
	assert_float_equal(a, v, 1e-12);
	assert_float_equal(b, lo, 1e-12);
	assert_float_equal(c, hi, 1e-12);
}

static void test_number_ranges(void **state)
{
	double a, b, c;
	char num[64];

	check_number("1.5", 1.5, 1.45, 1.55);
	check_number("100", 100, 99.5, 100.5);
	check_number("-3", -3, -3.5, -2.5);
	check_number("0.001", 0.001, 0.0005, 0.0015);
	check_number("1e2", 100, 50, 150);
	check_number("1.5e1", 15, 14.5, 15.5);
	assert_int_equal(search__index_number("abc", &a, &b, &c), -1);
	assert_int_equal(search__index_number("", &a, &b, &c), -1);
	assert_int_equal(search__index_number("1.2.3", &a, &b, &c), -1);

	/* the text of JSON numbers: integers as written, reals at their shortest */
	json_t *v = json_loads("[100, 1.5, 1.50, 100.0, 0.1, 1e-7, 123456.789]", 0, NULL);
	const char *want[] = {"100", "1.5", "1.5", "100", "0.1", "1e-07", "123456.789"};
	for (size_t i = 0; i < json_array_size(v); i++)
		assert_string_equal(
		        search__index_number_text(json_array_get(v, i), num, sizeof num), want[i]);
	assert_null(search__index_number_text(json_true(), num, sizeof num));
	json_decref(v);
}

/* ---- UCUM ---- */

static void check_ucum(const char *code, double v, double want, const char *ccode)
{
	arena *a = arena_new(0);
	double cv;
	const char *cc;

	if (search__ucum_canonical(a, code, v, &cv, &cc) != 0)
		fail_msg("UCUM %s not understood", code);
	if (fabs(cv - want) > 1e-9 * fabs(want) + 1e-12 || strcmp(cc, ccode) != 0)
		fail_msg("%g %s -> %.12g %s, want %.12g %s", v, code, cv, cc, want, ccode);
	arena_free(a);
}

static void test_ucum(void **state)
{
	arena *a = arena_new(0);
	double cv;
	const char *cc;

	check_ucum("g", 5, 5, "g");
	check_ucum("kg", 70, 70000, "g");
	check_ucum("mg", 5.4, 0.0054, "g");
	check_ucum("ug", 1, 1e-6, "g");
	check_ucum("[lb_av]", 185, 185 * 453.59237, "g");
	check_ucum("cm", 180, 1.8, "m");
	check_ucum("[in_i]", 10, 0.254, "m");
	check_ucum("mm", 1, 0.001, "m");
	check_ucum("L", 1, 1e-3, "m3");
	check_ucum("mL", 1, 1e-6, "m3");
	check_ucum("dL", 1, 1e-4, "m3");
	check_ucum("mg/dL", 100, 1000, "m-3.g");
	check_ucum("g/L", 1, 1000, "m-3.g");
	check_ucum("mmol/L", 5, 5, "m-3.mol");
	check_ucum("min", 2, 120, "s");
	check_ucum("h", 1, 3600, "s");
	check_ucum("d", 1, 86400, "s");
	check_ucum("wk", 1, 604800, "s");
	check_ucum("mo", 1, 2629800, "s");
	check_ucum("a", 1, 31557600, "s");
	check_ucum("/min", 60, 1, "s-1");
	check_ucum("{beats}/min", 60, 1, "s-1");
	check_ucum("kg/m2", 25, 25000, "m-2.g");
	check_ucum("%", 50, 0.5, "1");
	check_ucum("{score}", 3, 3, "1");
	check_ucum("10*3/uL", 4, 4e12, "m-3");
	check_ucum("10^9/L", 1, 1e12, "m-3");
	check_ucum("kPa", 1, 1e6, "m-1.s-2.g");
	check_ucum("mm[Hg]", 120, 120 * 133322, "m-1.s-2.g");
	check_ucum("Cel", 37, 310.15, "K");
	check_ucum("[degF]", 98.6, 310.15, "K");
	check_ucum("K", 300, 300, "K");
	check_ucum("mL/min/{1.73_m2}", 60, 1e-6, "m3.s-1");
	check_ucum("m2", 2, 2, "m2");
	check_ucum("(kg.m)/s2", 1, 1000, "m.s-2.g");
	check_ucum("[iU]/L", 1, 1000, "m-3.[IU]");
	check_ucum("cd", 1, 1, "cd");
	assert_int_equal(search__ucum_canonical(a, "furlongs", 1, &cv, &cc), -1);
	assert_int_equal(search__ucum_canonical(a, "", 1, &cv, &cc), -1);
	assert_int_equal(search__ucum_canonical(a, "mg/", 1, &cv, &cc), -1);
	assert_int_equal(search__ucum_canonical(a, "(mg", 1, &cv, &cc), -1);
	assert_int_equal(search__ucum_canonical(a, "Cel/h", 1, &cv, &cc), -1);
	assert_int_equal(search__ucum_canonical(a, "[in_i", 1, &cv, &cc), -1);
	assert_int_equal(search__ucum_canonical(a, "m99999", 1, &cv, &cc), -1);
	assert_int_equal(search__ucum_canonical(a, "(((((((((((m)))))))))))", 1, &cv, &cc), -1);
	arena_free(a);
}

/* ---- Patient ---- */

static const char PATIENT[] =
        "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"active\":true,"
        "\"identifier\":[{\"use\":\"official\",\"type\":{\"coding\":[{\"system\":"
        "\"http://terminology.hl7.org/CodeSystem/v2-0203\",\"code\":\"MR\"}],\"text\":\"Medical "
        "Record\"},\"system\":\"urn:oid:1.2.36.146.595.217.0.1\",\"value\":\"12345\"},"
        "{\"system\":\"http://fhir.nl/fhir/NamingSystem/bsn\",\"value\":\"999911120\"}],"
        "\"name\":[{\"use\":\"official\",\"family\":\"Müller\",\"given\":[\"Renée\",\"Anne\"],"
        "\"prefix\":[\"Dr.\"],\"suffix\":[\"PhD\"]},{\"text\":\"Renée "
        "Müller\",\"given\":[\"Renée\"]}],"
        "\"telecom\":[{\"system\":\"phone\",\"value\":\"+31 20 555 1234\",\"use\":\"home\"},"
        "{\"system\":\"email\",\"value\":\"renee@example.org\"}],"
        "\"gender\":\"female\",\"birthDate\":\"1974-12\","
        "\"deceasedBoolean\":false,"
        "\"address\":[{\"line\":[\"Keizersgracht 1\",\"2e etage\"],\"city\":\"Den Haag\","
        "\"postalCode\":\"2511 AB\",\"country\":\"NL\"}],"
        "\"generalPractitioner\":[{\"reference\":\"Practitioner/gp1\"}],"
        "\"link\":[{\"other\":{\"reference\":\"Patient/p0\"},\"type\":\"replaces\"}],"
        "\"text\":{\"status\":\"generated\",\"div\":\"<div xmlns=\\\"http://www.w3.org/1999/"
        "xhtml\\\"><p>Ren\u00e9e <b>M&#252;ller</b> &amp; co&#x2019;s</p></div>\"}}";

static void test_patient(void **state)
{
	indexed x;
	const search_row *r;

	index_json(&x, PATIENT);
	/* name parts, each a row, normalised and exact */
	r = must_find(&x, "family", "muller", "Müller", NULL);
	assert_int_equal(r->kind, SEARCH_ROW_STRING);
	must_find(&x, "given", "renee", "Renée", NULL);
	must_find(&x, "given", "anne", "Anne", NULL);
	must_find(&x, "name", "dr", "Dr.", NULL);
	must_find(&x, "name", "phd", "PhD", NULL);
	must_find(&x, "name", "renee muller", "Renée Müller", NULL);
	assert_int_equal(count_rows(&x, pid_of(&x, "given"), -1), 2); /* Renée once */
	must_find(&x, "address", "keizersgracht 1", NULL, NULL);
	must_find(&x, "address", "2e etage", NULL, NULL);
	must_find(&x, "address-city", "den haag", "Den Haag", NULL);
	must_find(&x, "address-postalcode", "2511 ab", "2511 AB", NULL);
	must_find(&x, "address-country", "nl", NULL, NULL);
	/* birthdate at month precision */
	r = &x.rows.items[0];
	for (size_t i = 0; i < x.rows.count; i++)
		if (x.rows.items[i].pid == pid_of(&x, "birthdate"))
			r = &x.rows.items[i];
	assert_int_equal(r->kind, SEARCH_ROW_DATE);
	assert_int_equal(r->lo, us("1974-12-01T00:00:00Z"));
	assert_int_equal(r->hi, us("1975-01-01T00:00:00Z") - 1);
	/* tokens */
	r = must_find(&x, "gender", "", "female", "");
	assert_int_equal(r->kind, SEARCH_ROW_TOKEN);
	must_find(&x, "active", "", "true", "");
	must_find(&x, "deceased", "", "false", "");
	must_find(&x, "identifier", "urn:oid:1.2.36.146.595.217.0.1", "12345", "medical record");
	must_find(&x, "identifier", "http://fhir.nl/fhir/NamingSystem/bsn", "999911120", "");
	/* :of-type row: type system, type code, value */
	uint32_t oftype = search_component_pid(pid_of(&x, "identifier"), SEARCH_OF_TYPE_COMPONENT);
	assert_non_null(find_row(&x, oftype, 0, "http://terminology.hl7.org/CodeSystem/v2-0203",
	                         "MR", "12345"));
	assert_int_equal(count_rows(&x, oftype, -1), 1);
	/* ContactPoint: the value, no system */
	must_find(&x, "telecom", "", "+31 20 555 1234", "");
	must_find(&x, "email", "", "renee@example.org", "");
	must_find(&x, "phone", "", "+31 20 555 1234", "");
	assert_null(find_row(&x, pid_of(&x, "phone"), -1, NULL, "renee@example.org", NULL));
	/* references */
	r = must_find(&x, "general-practitioner", "Practitioner", "gp1", "");
	assert_int_equal(r->kind, SEARCH_ROW_REFERENCE);
	must_find(&x, "link", "Patient", "p0", "");
	/* full text */
	must_find(&x, "_text", "renee muller cos", "", NULL);
	r = must_find(&x, "_content", NULL, "", NULL);
	assert_non_null(strstr(r->s[0], "keizersgracht"));
	/* no rows for _id / _lastUpdated (the resource table answers those) */
	assert_int_equal(count_rows(&x, pid_of(&x, "_id"), -1), 0);
	/* its own compartment, and the linked patient's */
	assert_true(has_patient(&x, "p1"));
	assert_true(has_patient(&x, "p0"));
	assert_int_equal(x.rows.npatients, 2);
	index_free(&x);
}

/* ---- Observation ---- */

static const char OBSERVATION[] =
        "{\"resourceType\":\"Observation\",\"id\":\"o1\",\"status\":\"final\","
        "\"meta\":{\"lastUpdated\":\"2024-01-02T03:04:05Z\",\"profile\":[\"http://hl7.org/fhir/"
        "StructureDefinition/vitalsigns\"],\"tag\":[{\"system\":\"http://x.org/tags\",\"code\":"
        "\"t1\"}]},"
        "\"category\":[{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/"
        "observation-category\",\"code\":\"vital-signs\"}]}],"
        "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"29463-7\",\"display\":"
        "\"Body Weight\"},{\"system\":\"http://snomed.info/sct\",\"code\":\"27113001\"}],\"text\":"
        "\"Gewicht\"},"
        "\"subject\":{\"reference\":\"Patient/123\"},"
        "\"encounter\":{\"reference\":\"Encounter/e1\"},"
        "\"performer\":[{\"reference\":\"Practitioner/dr\"},{\"reference\":\"Patient/123\"}],"
        "\"effectiveDateTime\":\"2020-03-01T10:00:00+01:00\","
        "\"valueQuantity\":{\"value\":185.5,\"unit\":\"lbs\",\"system\":\"http://"
        "unitsofmeasure.org\","
        "\"code\":\"[lb_av]\"}}";

static void test_observation(void **state)
{
	indexed x;
	const search_row *r;

	index_json(&x, OBSERVATION);
	must_find(&x, "code", "http://loinc.org", "29463-7", "body weight");
	must_find(&x, "code", "http://snomed.info/sct", "27113001", "");
	must_find(&x, "code", "", "", "gewicht"); /* CodeableConcept.text, for :text */
	must_find(&x, "category", "http://terminology.hl7.org/CodeSystem/observation-category",
	          "vital-signs", "");
	must_find(&x, "status", "", "final", "");
	must_find(&x, "_tag", "http://x.org/tags", "t1", "");
	r = must_find(&x, "_profile", "http://hl7.org/fhir/StructureDefinition/vitalsigns", NULL,
	              NULL);
	assert_int_equal(r->kind, SEARCH_ROW_URI);
	must_find(&x, "subject", "Patient", "123", "");
	must_find(&x, "patient", "Patient", "123", ""); /* subject.where(resolve() is Patient) */
	must_find(&x, "encounter", "Encounter", "e1", "");
	must_find(&x, "performer", "Practitioner", "dr", "");
	/* date with zone: the second it names, in UTC */
	r = must_find(&x, "date", NULL, NULL, NULL);
	assert_int_equal(r->lo, us("2020-03-01T09:00:00Z"));
	assert_int_equal(r->hi, us("2020-03-01T09:00:01Z") - 1);
	/* quantity with its precision and UCUM canonical form */
	r = must_find(&x, "value-quantity", SEARCH_UCUM, "[lb_av]", "g");
	assert_int_equal(r->kind, SEARCH_ROW_QUANTITY);
	assert_float_equal(r->d[0], 185.5, 1e-9);
	assert_float_equal(r->d[1], 185.45, 1e-9);
	assert_float_equal(r->d[2], 185.55, 1e-9);
	assert_float_equal(r->d[3], 185.5 * 453.59237, 1e-6);
	/* composite code-value-quantity: components in group 1 */
	uint32_t cvq = pid_of(&x, "code-value-quantity");
	uint32_t c0 = search_component_pid(cvq, 0), c1 = search_component_pid(cvq, 1);
	assert_non_null(find_row(&x, c0, 1, "http://loinc.org", "29463-7", NULL));
	r = find_row(&x, c1, 1, SEARCH_UCUM, "[lb_av]", NULL);
	assert_non_null(r);
	assert_int_equal(r->kind, SEARCH_ROW_QUANTITY);
	assert_int_equal(count_rows(&x, cvq, -1), 0); /* the composite itself has no rows */
	/* compartment: subject and performer name the same patient once */
	assert_int_equal(x.rows.npatients, 1);
	assert_string_equal(x.rows.patients[0], "123");
	index_free(&x);
}

static const char BLOOD_PRESSURE[] =
        "{\"resourceType\":\"Observation\",\"id\":\"bp\",\"status\":\"final\","
        "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"85354-9\"}]},"
        "\"subject\":{\"reference\":\"http://other.example/fhir/Patient/77/_history/2\"},"
        "\"effectivePeriod\":{\"start\":\"2021-05-06\"},"
        "\"component\":["
        "{\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"8480-6\"}]},"
        "\"valueQuantity\":{\"value\":120,\"system\":\"http://unitsofmeasure.org\",\"code\":"
        "\"mm[Hg]\"}},"
        "{\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"8462-4\"}]},"
        "\"valueQuantity\":{\"value\":80,\"system\":\"http://unitsofmeasure.org\",\"code\":"
        "\"mm[Hg]\"}},"
        "{\"code\":{\"text\":\"posture\"},\"valueCodeableConcept\":{\"coding\":[{\"code\":"
        "\"sitting\"}]}}]}";

static void test_observation_components(void **state)
{
	indexed x;
	const search_row *r;

	index_json(&x, BLOOD_PRESSURE);
	/* component-code-value-quantity: one group per component, in order */
	uint32_t p = pid_of(&x, "component-code-value-quantity");
	uint32_t c0 = search_component_pid(p, 0), c1 = search_component_pid(p, 1);
	assert_non_null(find_row(&x, c0, 1, "http://loinc.org", "8480-6", NULL));
	assert_non_null(find_row(&x, c0, 2, "http://loinc.org", "8462-4", NULL));
	assert_non_null(find_row(&x, c0, 3, "", "", "posture"));
	r = find_row(&x, c1, 1, SEARCH_UCUM, "mm[Hg]", NULL);
	assert_non_null(r);
	assert_float_equal(r->d[0], 120, 0);
	r = find_row(&x, c1, 2, SEARCH_UCUM, "mm[Hg]", NULL);
	assert_non_null(r);
	assert_float_equal(r->d[0], 80, 0);
	assert_int_equal(count_rows(&x, c1, 3), 0); /* the posture has no quantity */
	assert_int_equal(count_rows(&x, c1, -1), 2);
	/* component-code-value-concept pairs sitting with group 3 only */
	uint32_t q = pid_of(&x, "component-code-value-concept");
	assert_non_null(find_row(&x, search_component_pid(q, 1), 3, "", "sitting", NULL));
	assert_int_equal(count_rows(&x, search_component_pid(q, 1), -1), 1);
	/* combo-code covers the Observation's code and its components' */
	must_find(&x, "combo-code", "http://loinc.org", "85354-9", NULL);
	must_find(&x, "combo-code", "http://loinc.org", "8462-4", NULL);
	must_find(&x, "component-value-quantity", SEARCH_UCUM, "mm[Hg]", NULL);
	/* an open Period runs to the end of time */
	r = must_find(&x, "date", NULL, NULL, NULL);
	assert_int_equal(r->lo, us("2021-05-06T00:00:00Z"));
	assert_true(r->hi == INT64_MAX);
	/* a reference to another server: its url as written, never a local Type/id,
	 * not in a local compartment */
	r = must_find(&x, "subject", "", "", "http://other.example/fhir/Patient/77/_history/2");
	assert_int_equal(x.rows.npatients, 0);
	index_free(&x);
}

/* ---- Condition, Encounter, MedicationRequest ---- */

static const char CONDITION[] =
        "{\"resourceType\":\"Condition\",\"id\":\"c1\","
        "\"clinicalStatus\":{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/"
        "condition-clinical\",\"code\":\"active\"}]},"
        "\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"44054006\","
        "\"display\":\"Diabetes mellitus type 2\"}]},"
        "\"subject\":{\"reference\":\"Patient/p9\",\"display\":\"someone\"},"
        "\"asserter\":{\"identifier\":{\"system\":\"http://fhir.nl/fhir/NamingSystem/uzi-nr-pers\","
        "\"value\":\"123\"}},"
        "\"onsetAge\":{\"value\":52,\"unit\":\"a\",\"system\":\"http://"
        "unitsofmeasure.org\",\"code\":"
        "\"a\"},"
        "\"abatementPeriod\":{\"end\":\"2022\"},"
        "\"recordedDate\":\"2019-06-15\"}";

static void test_condition(void **state)
{
	indexed x;
	const search_row *r;

	index_json(&x, CONDITION);
	must_find(&x, "code", "http://snomed.info/sct", "44054006", "diabetes mellitus type 2");
	must_find(&x, "clinical-status", NULL, "active", NULL);
	must_find(&x, "patient", "Patient", "p9", "");
	/* a reference by identifier only */
	r = find_row(&x, pid_of(&x, "asserter"), 0, "", "", "");
	assert_non_null(r);
	assert_string_equal(r->s[3], "http://fhir.nl/fhir/NamingSystem/uzi-nr-pers");
	assert_string_equal(r->s[4], "123");
	/* onset-age: a quantity in years, canonical seconds */
	r = must_find(&x, "onset-age", SEARCH_UCUM, "a", "s");
	assert_float_equal(r->d[0], 52, 0);
	assert_float_equal(r->d[3], 52 * 31557600.0, 1e-3);
	/* abatement Period without start */
	r = must_find(&x, "abatement-date", NULL, NULL, NULL);
	assert_true(r->lo == INT64_MIN);
	assert_int_equal(r->hi, us("2023-01-01T00:00:00Z") - 1);
	r = must_find(&x, "recorded-date", NULL, NULL, NULL);
	assert_int_equal(r->lo, us("2019-06-15T00:00:00Z"));
	assert_true(has_patient(&x, "p9"));
	index_free(&x);
}

static const char ENCOUNTER[] =
        "{\"resourceType\":\"Encounter\",\"id\":\"e1\",\"status\":\"finished\","
        "\"class\":{\"system\":\"http://terminology.hl7.org/CodeSystem/"
        "v3-ActCode\",\"code\":\"AMB\","
        "\"display\":\"ambulatory\"},"
        "\"type\":[{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"185349003\"}]}],"
        "\"subject\":{\"reference\":\"Patient/p2\"},"
        "\"participant\":[{\"individual\":{\"reference\":\"Practitioner/pr1\"}}],"
        "\"period\":{\"start\":\"2020-01-01T08:00:00Z\",\"end\":\"2020-01-01T08:30:00Z\"},"
        "\"length\":{\"value\":30,\"unit\":\"min\",\"system\":\"http://unitsofmeasure.org\","
        "\"code\":\"min\"},"
        "\"serviceProvider\":{\"reference\":\"Organization/org1\"}}";

static void test_encounter(void **state)
{
	indexed x;
	const search_row *r;

	index_json(&x, ENCOUNTER);
	must_find(&x, "class", "http://terminology.hl7.org/CodeSystem/v3-ActCode", "AMB",
	          "ambulatory");
	must_find(&x, "type", "http://snomed.info/sct", "185349003", "");
	must_find(&x, "status", "", "finished", "");
	must_find(&x, "practitioner", "Practitioner", "pr1", "");
	must_find(&x, "participant", "Practitioner", "pr1", "");
	must_find(&x, "service-provider", "Organization", "org1", "");
	r = must_find(&x, "date", NULL, NULL, NULL);
	assert_int_equal(r->lo, us("2020-01-01T08:00:00Z"));
	assert_int_equal(r->hi, us("2020-01-01T08:30:01Z") - 1);
	r = must_find(&x, "length", SEARCH_UCUM, "min", "s");
	assert_int_equal(r->kind, SEARCH_ROW_QUANTITY);
	assert_float_equal(r->d[3], 1800, 1e-9);
	assert_true(has_patient(&x, "p2"));
	assert_int_equal(x.rows.npatients, 1);
	index_free(&x);
}

static const char MEDICATION_REQUEST[] =
        "{\"resourceType\":\"MedicationRequest\",\"id\":\"m1\",\"status\":\"active\","
        "\"intent\":\"order\","
        "\"contained\":[{\"resourceType\":\"Medication\",\"id\":\"med1\",\"code\":{\"text\":\"x\"}}"
        "],"
        "\"medicationReference\":{\"reference\":\"#med1\"},"
        "\"subject\":{\"reference\":\"Patient/p3\"},"
        "\"requester\":{\"reference\":\"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a\"},"
        "\"authoredOn\":\"2021-02-03T04:05:06.789Z\","
        "\"dosageInstruction\":[{\"timing\":{\"event\":[\"2021-02-04\",\"2021-02-10\"],"
        "\"repeat\":{\"boundsPeriod\":{\"start\":\"2021-02-01\",\"end\":\"2021-02-08\"}}}}],"
        "\"instantiatesCanonical\":[\"http://example.org/fhir/PlanDefinition/pd1|2.0\"],"
        "\"performer\":{\"type\":\"Organization\",\"identifier\":{\"system\":\"http://fhir.nl/"
        "fhir/NamingSystem/agb-z\",\"value\":\"0123\"}}}";

static void test_medication_request(void **state)
{
	indexed x;
	const search_row *r;

	index_json(&x, MEDICATION_REQUEST);
	must_find(&x, "intent", "", "order", "");
	must_find(&x, "status", "", "active", "");
	/* a contained reference keeps its '#', typed from the contained resource */
	r = must_find(&x, "medication", "Medication", "#med1", "");
	assert_int_equal(r->kind, SEARCH_ROW_REFERENCE);
	/* urn:uuid: url only */
	must_find(&x, "requester", "", "", "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a");
	/* Reference.type and identifier fill the row when there is no reference */
	r = must_find(&x, "intended-performer", "Organization", "", "");
	assert_string_equal(r->s[3], "http://fhir.nl/fhir/NamingSystem/agb-z");
	assert_string_equal(r->s[4], "0123");
	r = must_find(&x, "authoredon", NULL, NULL, NULL);
	assert_int_equal(r->lo, us("2021-02-03T04:05:06.789Z"));
	assert_int_equal(r->hi, us("2021-02-03T04:05:06.790Z") - 1);
	/* date is dosageInstruction.timing.event: a row per event */
	uint32_t date = pid_of(&x, "date");
	assert_int_equal(count_rows(&x, date, -1), 2);
	r = find_row(&x, date, 0, NULL, NULL, NULL);
	assert_int_equal(r->lo, us("2021-02-04T00:00:00Z"));
	assert_int_equal(r->hi, us("2021-02-05T00:00:00Z") - 1);
	assert_true(has_patient(&x, "p3"));
	index_free(&x);
}

/* ---- references and other value forms ---- */

static void test_reference_forms(void **state)
{
	indexed x;
	const search_row *r;

	/* a versioned canonical: one row without the version, one with it */
	index_json(&x,
	           "{\"resourceType\":\"CarePlan\",\"id\":\"cp\",\"status\":\"active\","
	           "\"intent\":\"plan\",\"subject\":{\"reference\":\"Group/g1\"},"
	           "\"instantiatesCanonical\":[\"http://example.org/fhir/PlanDefinition/pd1|2.0\"],"
	           "\"basedOn\":[{\"reference\":\"CarePlan/cp0/_history/3\"}],"
	           "\"replaces\":[{\"reference\":\"12\"}],"
	           "\"partOf\":[{\"reference\":\"https://x.org/no/type/here\"}],"
	           "\"activity\":[{\"detail\":{\"status\":\"scheduled\",\"scheduledTiming\":{"
	           "\"event\":[\"2021-02-04\",\"2021-02-10\"],\"repeat\":{\"boundsPeriod\":{"
	           "\"start\":\"2021-02-01\",\"end\":\"2021-02-08\"}}}}}]}");
	/* Timing: one row over the events and the bounds */
	assert_int_equal(count_rows(&x, pid_of(&x, "activity-date"), -1), 1);
	r = must_find(&x, "activity-date", NULL, NULL, NULL);
	assert_int_equal(r->lo, us("2021-02-01T00:00:00Z"));
	assert_int_equal(r->hi, us("2021-02-11T00:00:00Z") - 1);
	r = must_find(&x, "instantiates-canonical", "PlanDefinition", "pd1",
	              "http://example.org/fhir/PlanDefinition/pd1");
	must_find(&x, "instantiates-canonical", "PlanDefinition", "pd1",
	          "http://example.org/fhir/PlanDefinition/pd1|2.0");
	assert_int_equal(count_rows(&x, pid_of(&x, "instantiates-canonical"), -1), 2);
	must_find(&x, "based-on", "CarePlan", "cp0", "");
	must_find(&x, "replaces", "", "12", ""); /* a bare id */
	must_find(&x, "part-of", "", "", "https://x.org/no/type/here");
	must_find(&x, "subject", "Group", "g1", "");
	assert_int_equal(x.rows.npatients, 0); /* the subject is a Group */
	index_free(&x);

	/* Bundle.composition: the first entry's resource itself */
	index_json(&x,
	           "{\"resourceType\":\"Bundle\",\"id\":\"b\",\"type\":\"document\","
	           "\"identifier\":{\"system\":\"urn:ietf:rfc:3986\",\"value\":\"urn:uuid:1\"},"
	           "\"timestamp\":\"2020-01-01T00:00:00Z\",\"entry\":[{\"fullUrl\":\"urn:uuid:2\","
	           "\"resource\":{\"resourceType\":\"Composition\",\"id\":\"comp1\","
	           "\"status\":\"final\",\"type\":{\"text\":\"t\"},\"date\":\"2020\","
	           "\"author\":[{\"display\":\"a\"}],\"title\":\"T\"}}]}");
	must_find(&x, "composition", "Composition", "comp1", "");
	must_find(&x, "identifier", "urn:ietf:rfc:3986", "urn:uuid:1", "");
	must_find(&x, "type", "", "document", "");
	index_free(&x);

	/* a quantity with a comparator, and one without a code */
	index_json(&x,
	           "{\"resourceType\":\"Observation\",\"id\":\"q\",\"status\":\"final\","
	           "\"code\":{\"text\":\"c\"},\"valueQuantity\":{\"value\":5,\"comparator\":\"<\","
	           "\"system\":\"http://unitsofmeasure.org\",\"code\":\"mg\"}}");
	r = must_find(&x, "value-quantity", SEARCH_UCUM, "mg", "g");
	assert_true(r->d[1] == -DBL_MAX);
	assert_float_equal(r->d[2], 5, 0);
	index_free(&x);
	index_json(
	        &x,
	        "{\"resourceType\":\"Observation\",\"id\":\"q\",\"status\":\"final\","
	        "\"code\":{\"text\":\"c\"},\"valueQuantity\":{\"value\":1.50,\"unit\":\"pills\"}}");
	r = must_find(&x, "value-quantity", "", "pills", "");
	assert_float_equal(r->d[1], 1.45, 1e-12); /* "1.50" reads back as 1.5 */
	assert_float_equal(r->d[3], 0, 0);
	index_free(&x);

	/* number parameters, and a Range */
	index_json(&x,
	           "{\"resourceType\":\"RiskAssessment\",\"id\":\"r\",\"status\":\"final\","
	           "\"subject\":{\"reference\":\"Patient/p\"},\"prediction\":["
	           "{\"probabilityDecimal\":0.25},{\"probabilityRange\":{\"low\":{\"value\":0.1},"
	           "\"high\":{\"value\":0.3}}}]}");
	r = must_find(&x, "probability", NULL, NULL, NULL);
	assert_int_equal(r->kind, SEARCH_ROW_NUMBER);
	assert_int_equal(count_rows(&x, pid_of(&x, "probability"), -1), 2);
	for (size_t i = 0; i < x.rows.count; i++) {
		const search_row *n = &x.rows.items[i];
		if (n->pid != pid_of(&x, "probability"))
			continue;
		if (n->d[0] == 0.25) {
			assert_float_equal(n->d[1], 0.245, 1e-12);
			assert_float_equal(n->d[2], 0.255, 1e-12);
		} else {
			assert_float_equal(n->d[0], 0.1, 1e-12);
			assert_float_equal(n->d[1], 0.05, 1e-12);
			assert_float_equal(n->d[2], 0.35, 1e-12);
		}
	}
	assert_true(has_patient(&x, "p"));
	index_free(&x);
}

static void test_location_near(void **state)
{
	indexed x;

	index_json(&x, "{\"resourceType\":\"Location\",\"id\":\"l\",\"name\":\"Zorg\","
	               "\"position\":{\"longitude\":4.9041,\"latitude\":52.3676}}");
	uint32_t near = pid_of(&x, "near");
	const search_row *lat = find_row(&x, search_component_pid(near, 0), 1, NULL, NULL, NULL);
	const search_row *lon = find_row(&x, search_component_pid(near, 1), 1, NULL, NULL, NULL);
	assert_non_null(lat);
	assert_non_null(lon);
	assert_float_equal(lat->d[0], 52.3676, 1e-12);
	assert_float_equal(lon->d[0], 4.9041, 1e-12);
	must_find(&x, "name", "zorg", "Zorg", NULL);
	index_free(&x);
}

static void test_errors(void **state)
{
	arena *a = arena_new(0);
	diag_list d;
	search_rows rows;
	json_t *j = json_loads("{\"resourceType\":\"Nope\"}", 0, NULL);

	diag_init(&d, a);
	assert_int_equal(search_index(j, "Nope", "1", a, &rows, &d), -1);
	assert_int_equal(d.errors, 1);
	assert_int_equal(search_index(json_true(), "Patient", "1", a, &rows, &d), -1);
	assert_int_equal(search_index(j, NULL, "1", a, &rows, NULL), -1);
	json_decref(j);
	/* a minimal resource: no rows apart from compartment/full text, no warnings */
	j = json_loads("{\"resourceType\":\"Patient\"}", 0, NULL);
	diag_init(&d, a);
	assert_int_equal(search_index(j, "Patient", "new", a, &rows, &d), 0);
	assert_int_equal(d.count, 0);
	assert_int_equal(rows.npatients, 1);
	assert_string_equal(rows.patients[0], "new");
	json_decref(j);
	arena_free(a);
}

/* ---- every official example ---- */

static void test_official_examples(void **state)
{
	const char *shared = getenv("BRON_SHARED");
	char dir[4096];
	DIR *dp;
	struct dirent *e;
	int files = 0, failed = 0;
	size_t rows = 0;
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
		diag_list d;
		search_rows out;

		if (len < 5 || strcmp(e->d_name + len - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		json_t *j = json_load_file(path, 0, &err);
		if (j == NULL) {
			print_message("%s: cannot parse: %s\n", e->d_name, err.text);
			failed++;
			continue;
		}
		files++;
		diag_init(&d, a);
		const char *type = json_string_value(json_object_get(j, "resourceType"));
		const char *id = json_string_value(json_object_get(j, "id"));
		int rc = search_index(j, type, id ? id : "x", a, &out, &d);
		if (rc != 0 || d.count != 0 || out.count == 0) {
			print_message("%s: rc %d, %zu rows, %s\n", e->d_name, rc, out.count,
			              d.count ? d.items[0].message : "");
			failed++;
		}
		for (size_t i = 0; i < out.count; i++) { /* well-formed rows */
			const search_row *r = &out.items[i];
			for (int k = 0; k < 5; k++)
				assert_non_null(r->s[k]);
			if (r->kind == SEARCH_ROW_DATE)
				assert_true(r->lo <= r->hi);
			if (r->kind == SEARCH_ROW_NUMBER || r->kind == SEARCH_ROW_QUANTITY)
				assert_true(r->d[1] <= r->d[0] && r->d[0] <= r->d[2]);
			assert_int_not_equal(r->pid, 0);
		}
		rows += out.count;
		json_decref(j);
		arena_reset(a);
	}
	closedir(dp);
	arena_free(a);
	print_message("indexed %d official examples (%zu rows), %d failed\n", files, rows, failed);
	assert_int_equal(files, 709);
	assert_int_equal(failed, 0);
}

/* ---- threads ---- */

static void *index_thread(void *arg)
{
	const char *json = arg;
	json_t *j = json_loads(json, 0, NULL);
	arena *a = arena_new(0);
	size_t first = 0;
	int bad = 0;

	for (int i = 0; i < 200; i++) {
		diag_list d;
		search_rows out;
		diag_init(&d, a);
		if (search_index(j, "Observation", "o1", a, &out, &d) || d.count)
			bad = 1;
		if (i == 0)
			first = out.count;
		else if (out.count != first)
			bad = 1;
		arena_reset(a);
	}
	arena_free(a);
	json_decref(j);
	return bad ? (void *)1 : NULL;
}

static void test_threads(void **state)
{
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, index_thread,
		                                (void *)(i % 2 ? OBSERVATION : BLOOD_PRESSURE)),
		                 0);
	for (int i = 0; i < 4; i++) {
		void *rc;
		pthread_join(t[i], &rc);
		assert_null(rc);
	}
}

/* ---- speed (printed; the bound only catches gross regressions) ---- */

static void test_speed(void **state)
{
	json_t *j = json_loads(OBSERVATION, 0, NULL);
	arena *a = arena_new(0);
	struct timespec t0, t1;
	int n = 2000;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		search_rows out;
		search_index(j, "Observation", "o1", a, &out, NULL);
		arena_reset(a);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double per =
	        ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) /
	        n;
	print_message("search_index: %.1f us per Observation\n", per);
	assert_true(per < 5000); /* ~40 us in a release build; generous for ASan */
	arena_free(a);
	json_decref(j);
}

/* _content leaves out what the server sets (the id, meta.versionId and
 * meta.lastUpdated) and takes meta first: the write path indexes the body as
 * the client sent it (meta anywhere), bron reindex and bron check the stored
 * one carrying the server's id and meta first, and both must give the same
 * row (bron check found them apart). The rest of meta (tags, source) stays. */
static void test_content_without_server_meta(void **state)
{
	(void)state;
	indexed sent, stored;
	index_json(&sent, "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Brink\"}],"
	                  "\"meta\":{\"source\":\"urn:src\"}}");
	index_json(&stored, "{\"resourceType\":\"Patient\",\"id\":\"p77\",\"meta\":{"
	                    "\"versionId\":\"3\",\"lastUpdated\":\"2026-11-23T08:51:44.168Z\","
	                    "\"source\":\"urn:src\"},\"name\":[{\"family\":\"Brink\"}]}");
	const search_row *a = must_find(&sent, "_content", NULL, "", NULL);
	const search_row *b = must_find(&stored, "_content", NULL, "", NULL);
	assert_string_equal(a->s[0], b->s[0]);
	assert_non_null(strstr(b->s[0], "brink"));
	assert_non_null(strstr(b->s[0], "urnsrc"));
	assert_null(strstr(b->s[0], "p77"));
	assert_null(strstr(b->s[0], "2026"));
	index_free(&sent);
	index_free(&stored);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_pid),
	        cmocka_unit_test(test_normalize),
	        cmocka_unit_test(test_date_ranges),
	        cmocka_unit_test(test_number_ranges),
	        cmocka_unit_test(test_ucum),
	        cmocka_unit_test(test_patient),
	        cmocka_unit_test(test_observation),
	        cmocka_unit_test(test_observation_components),
	        cmocka_unit_test(test_condition),
	        cmocka_unit_test(test_encounter),
	        cmocka_unit_test(test_medication_request),
	        cmocka_unit_test(test_reference_forms),
	        cmocka_unit_test(test_content_without_server_meta),
	        cmocka_unit_test(test_location_near),
	        cmocka_unit_test(test_errors),
	        cmocka_unit_test(test_official_examples),
	        cmocka_unit_test(test_threads),
	        cmocka_unit_test(test_speed),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
