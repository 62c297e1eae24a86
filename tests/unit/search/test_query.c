/*
 * test_query.c - unit tests of search parameter parsing (src/search/parse.c)
 * and SQL compilation (compile.c, schema.c). Parsing is checked through the
 * parsed structures (search_int.h) and diagnostics; compiled SQL is executed
 * against an in-memory SQLite database built with search_schema_sql() and
 * hand-written index rows, asserting the matched rids in order.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "search/search_int.h"

#ifdef TEST_QUERY_STUBS
/* Stand-ins for index.c while it is being written (build by hand with
 * -DTEST_QUERY_STUBS); the real ones are used by `make`. */
uint32_t search_pid(const char *type, const char *code)
{
	const model_search_param *const *sps;
	size_t n = model_search_params_for(type, &sps);
	for (size_t i = 0; i < model_resource_count(); i++)
		if (!strcmp(model_type_name(model_resource_at(i)), type))
			for (size_t k = 0; k < n; k++)
				if (!strcmp(sps[k]->code, code))
					return (uint32_t)(i * 256 + k + 1);
	return 0;
}
uint32_t search_component_pid(uint32_t pid, unsigned k)
{
	return pid + (k + 1) * 65536;
}
int search__ucum_canonical(arena *a, const char *code, double value, double *cvalue,
                           const char **ccode)
{
	if (!strcmp(code, "kg"))
		*cvalue = value * 1000, *ccode = "g";
	else if (!strcmp(code, "g"))
		*cvalue = value, *ccode = "g";
	else if (!strcmp(code, "mm[Hg]"))
		*cvalue = value * 133322.0, *ccode = "g.m-1.s-2";
	else
		return -1;
	return 0;
}
#endif

/* ---- fixture: a database with the index tables and some resources ---- */

static sqlite3 *db;
static arena *A;

static void exec(const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

static void execf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	exec(s);
	sqlite3_free(s);
}

static void res(int rid, const char *type, const char *id, int deleted, int64_t last_updated)
{
	execf("INSERT INTO resource VALUES(%d, %Q, %Q, 1, %d, %lld, %d)", rid, type, id, deleted,
	      (long long)last_updated, rid);
}

static uint32_t pid(const char *type, const char *code)
{
	uint32_t p = search_pid(type, code);
	if (!p)
		fail_msg("no pid for %s.%s", type, code);
	return p;
}

static void str(int rid, const char *type, const char *code, const char *value)
{
	execf("INSERT INTO sp_string VALUES(%u, %d, 0, %Q, %Q)", pid(type, code), rid,
	      search_normalize(A, value), value);
}

static void tok(int rid, const char *type, const char *code, const char *system, const char *c,
                const char *text)
{
	execf("INSERT INTO sp_token VALUES(%u, %d, 0, %Q, %Q, %Q)", pid(type, code), rid, system, c,
	      search_normalize(A, text));
}

static void date(int rid, const char *type, const char *code, const char *lo, const char *hi)
{
	int64_t l1, h1, l2, h2;
	assert_int_equal(search__date_range(lo, &l1, &h1), 0);
	assert_int_equal(search__date_range(hi ? hi : lo, &l2, &h2), 0);
	execf("INSERT INTO sp_date VALUES(%u, %d, 0, %lld, %lld)", pid(type, code), rid,
	      (long long)l1, (long long)h2);
}

static void num(int rid, const char *type, const char *code, double v)
{
	execf("INSERT INTO sp_number VALUES(%u, %d, 0, %.17g, %.17g, %.17g)", pid(type, code), rid,
	      v, v, v);
}

static void qty_row(uint32_t p, int grp, int rid, double v, const char *system, const char *code)
{
	double cv = 0;
	const char *cc = "";
	if (!strcmp(system, SEARCH_UCUM) && search__ucum_canonical(A, code, v, &cv, &cc))
		cv = 0, cc = "";
	execf("INSERT INTO sp_quantity VALUES(%u, %d, %d, %.17g, %.17g, %.17g, %Q, %Q, %.17g, %Q)",
	      p, rid, grp, v, v, v, system, code, cv, cc);
}

static void ref(int rid, const char *type, const char *code, const char *ttype, const char *tid,
                const char *url, const char *isystem, const char *ivalue)
{
	execf("INSERT INTO sp_reference VALUES(%u, %d, 0, %Q, %Q, %Q, %Q, %Q)", pid(type, code),
	      rid, ttype, tid, url, isystem, ivalue);
}

static void uri(int rid, const char *type, const char *code, const char *u)
{
	execf("INSERT INTO sp_uri VALUES(%u, %d, 0, %Q)", pid(type, code), rid, u);
}

/* A composite's component rows of one element (grp). */
static void comp_token(int rid, const char *type, const char *code, unsigned k, int grp,
                       const char *system, const char *c)
{
	execf("INSERT INTO sp_token VALUES(%u, %d, %d, %Q, %Q, '')",
	      search_component_pid(pid(type, code), k), rid, grp, system, c);
}

#define LOINC  "http://loinc.org"
#define GENDER "http://hl7.org/fhir/administrative-gender"
#define V2     "http://terminology.hl7.org/CodeSystem/v2-0203"
#define T0     1600000000000000LL /* a last_updated */

static void load(void)
{
	/* Patients: 1 p1, 2 p2, 3 p3, 4 p4 (deleted), 5 p5 */
	res(1, "Patient", "p1", 0, T0);
	res(2, "Patient", "p2", 0, T0 + 1000000);
	res(3, "Patient", "p3", 0, T0 + 2000000);
	res(4, "Patient", "p4", 1, T0);
	res(5, "Patient", "p5", 0, T0 + 86400000000LL);
	str(1, "Patient", "name", "Renée");
	str(1, "Patient", "name", "Smith");
	str(2, "Patient", "name", "John");
	str(2, "Patient", "name", "Smithson");
	str(3, "Patient", "name", "Jones");
	str(4, "Patient", "name", "Smith");
	str(5, "Patient", "name", "Zed 50% off");
	date(1, "Patient", "birthdate", "1980-05-10", NULL);
	date(2, "Patient", "birthdate", "1980", NULL);
	date(3, "Patient", "birthdate", "1970", NULL);
	tok(1, "Patient", "gender", GENDER, "female", "");
	tok(2, "Patient", "gender", GENDER, "male", "");
	tok(3, "Patient", "gender", "", "female", "");
	tok(4, "Patient", "gender", GENDER, "female", "");
	tok(1, "Patient", "identifier", "urn:mrn", "123", "Medical record number");
	tok(2, "Patient", "identifier", "urn:other", "123", "");
	execf("INSERT INTO sp_token VALUES(%u, 1, 0, '" V2 "', 'MR', '123')",
	      search_component_pid(pid("Patient", "identifier"), SEARCH_OF_TYPE_COMPONENT));
	ref(1, "Patient", "organization", "Organization", "org1", "", "", "");
	execf("INSERT INTO sp_text VALUES(%u, 1, 'renee smith lives in amsterdam')",
	      pid("Patient", "_text"));

	tok(1, "Patient", "_tag", "urn:t", "x", "");
	tok(10, "Observation", "_tag", "urn:t", "x", "");
	tok(11, "Observation", "_tag", "urn:t", "y", "");

	res(20, "Organization", "org1", 0, T0);
	str(20, "Organization", "name", "Acme Health");

	/* Observations 10..15 */
	res(10, "Observation", "o1", 0, T0);
	res(11, "Observation", "o2", 0, T0);
	res(12, "Observation", "o3", 0, T0);
	res(13, "Observation", "o4", 0, T0);
	res(14, "Observation", "o5", 0, T0);
	res(15, "Observation", "o6", 0, T0);
	const char *subj[][2] = {{"o1", "p1"}, {"o2", "p2"}, {"o3", "p1"}, {"o4", "p3"}};
	for (int i = 0; i < 4; i++) {
		ref(10 + i, "Observation", "subject", "Patient", subj[i][1], "",
		    i == 1 ? "urn:mrn" : "", i == 1 ? "555" : "");
		ref(10 + i, "Observation", "patient", "Patient", subj[i][1], "", "", "");
	}
	ref(14, "Observation", "subject", "", "", "http://other/fhir/Patient/p9", "", "");
	tok(10, "Observation", "code", LOINC, "8480-6", "Systolic blood pressure");
	tok(11, "Observation", "code", LOINC, "8480-6", "Systolic blood pressure");
	tok(12, "Observation", "code", LOINC, "29463-7", "Body weight");
	tok(13, "Observation", "code", LOINC, "29463-7", "Body weight");
	tok(14, "Observation", "code", "urn:x", "8480-6", "");
	tok(10, "Observation", "status", "", "final", "");
	tok(11, "Observation", "status", "", "final", "");
	tok(12, "Observation", "status", "", "preliminary", "");
	date(10, "Observation", "date", "2020-01-01T10:00:00Z", "2020-01-01T10:00:00.000000Z");
	date(11, "Observation", "date", "2020-01-02", NULL);
	date(12, "Observation", "date", "2019-12-31", "2020-01-05");
	date(13, "Observation", "date", "2021", NULL);
	uint32_t vq = pid("Observation", "value-quantity");
	qty_row(vq, 0, 10, 120, SEARCH_UCUM, "mm[Hg]");
	qty_row(vq, 0, 11, 140, SEARCH_UCUM, "mm[Hg]");
	qty_row(vq, 0, 12, 70, SEARCH_UCUM, "kg");
	qty_row(vq, 0, 13, 70000, SEARCH_UCUM, "g");
	qty_row(vq, 0, 14, 70, "urn:units", "kg");
	/* code-value-quantity of o1, o2; component-code-value-quantity of o6 */
	uint32_t cvq = pid("Observation", "code-value-quantity");
	comp_token(10, "Observation", "code-value-quantity", 0, 1, LOINC, "8480-6");
	qty_row(search_component_pid(cvq, 1), 1, 10, 120, SEARCH_UCUM, "mm[Hg]");
	comp_token(11, "Observation", "code-value-quantity", 0, 1, LOINC, "8480-6");
	qty_row(search_component_pid(cvq, 1), 1, 11, 140, SEARCH_UCUM, "mm[Hg]");
	uint32_t ccvq = pid("Observation", "component-code-value-quantity");
	comp_token(15, "Observation", "component-code-value-quantity", 0, 1, LOINC, "8480-6");
	qty_row(search_component_pid(ccvq, 1), 1, 15, 150, SEARCH_UCUM, "mm[Hg]");
	comp_token(15, "Observation", "component-code-value-quantity", 0, 2, LOINC, "8462-4");
	qty_row(search_component_pid(ccvq, 1), 2, 15, 90, SEARCH_UCUM, "mm[Hg]");

	/* compartment */
	exec("INSERT INTO sp_compartment VALUES(10, 'p1'), (12, 'p1'), (11, 'p2'), (13, 'p3')");

	/* DiagnosticReport 30 -> o2 */
	res(30, "DiagnosticReport", "d1", 0, T0);
	ref(30, "DiagnosticReport", "result", "Observation", "o2", "", "", "");
	tok(30, "DiagnosticReport", "status", "", "final", "");

	/* RiskAssessment probabilities */
	double probs[] = {0.5, 0.25, 100, 99.6};
	for (int i = 0; i < 4; i++) {
		res(40 + i, "RiskAssessment", arena_printf(A, "ra%d", i), 0, T0);
		num(40 + i, "RiskAssessment", "probability", probs[i]);
	}

	/* ValueSets */
	res(50, "ValueSet", "vs1", 0, T0);
	res(51, "ValueSet", "vs2", 0, T0);
	res(52, "ValueSet", "vs3", 0, T0);
	uri(50, "ValueSet", "url", "http://acme.org/fhir/ValueSet/123");
	uri(51, "ValueSet", "url", "http://acme.org/fhir/ValueSet/124");
	uri(52, "ValueSet", "url", "http://acme.org/other");

	/* a List of p1 and p3 */
	res(60, "List", "list1", 0, T0);
	ref(60, "List", "item", "Patient", "p1", "", "", "");
	ref(60, "List", "item", "Patient", "p3", "", "", "");
}

static int setup(void **state)
{
	(void)state;
	A = arena_new(0);
#ifndef TEST_QUERY_STUBS
	assert_int_equal(search_init(), 0);
#endif
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	exec("CREATE TABLE resource(rid INTEGER PRIMARY KEY, type TEXT NOT NULL, id TEXT NOT NULL,"
	     " version INTEGER NOT NULL, deleted INTEGER NOT NULL, last_updated INTEGER NOT NULL,"
	     " seq INTEGER NOT NULL, UNIQUE(type, id))");
	exec(search_schema_sql(SEARCH_SQLITE));
	load();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sqlite3_close(db);
	arena_free(A);
	return 0;
}

/* ---- running queries ---- */

/* Split "a=1&b=2" into keys and values (no percent-decoding: tests write
 * values as they arrive decoded). */
static size_t split_query(const char *query, const char **keys, const char **vals, size_t max)
{
	size_t n = 0;
	char *q = arena_strdup(A, query);
	for (char *p = q; p && *p && n < max;) {
		char *amp = strchr(p, '&');
		if (amp)
			*amp = 0;
		char *eq = strchr(p, '=');
		keys[n] = p;
		vals[n] = "";
		if (eq) {
			*eq = 0;
			vals[n] = eq + 1;
		}
		n++;
		p = amp ? amp + 1 : NULL;
	}
	return n;
}

static search_query *parse_ok(const char *type, const char *query)
{
	const char *keys[32], *vals[32];
	size_t n = split_query(query, keys, vals, 32);
	diag_list d;
	diag_init(&d, A);
	search_query *q = NULL;
	int rc = search_parse(A, type, keys, vals, n, 1, &q, &d);
	if (rc || d.errors)
		fail_msg("%s?%s: %s", type ? type : "", query,
		         d.count ? d.items[0].message : "failed");
	return q;
}

/* The rids the query matches, in result order, as "1,2,3". */
static const char *run_q(search_query *q, int64_t after)
{
	diag_list d;
	diag_init(&d, A);
	search_sql s;
	if (search_compile(q, SEARCH_SQLITE, after, A, &s, &d))
		fail_msg("compile: %s", d.count ? d.items[0].message : "?");
	if (getenv("TEST_QUERY_SQL"))
		fprintf(stderr, "%s\n  ORDER BY %s\n", s.where, s.order_by);
	char *sql = arena_printf(A, "SELECT r.rid FROM resource r WHERE %s ORDER BY %s", s.where,
	                         s.order_by);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_bind_parameter_count(st), (int)s.nbinds);
	for (size_t i = 0; i < s.nbinds; i++) {
		const search_bind *b = &s.binds[i];
		int rc = b->kind == SEARCH_BIND_TEXT
		                 ? sqlite3_bind_text(st, (int)i + 1, b->text, -1, SQLITE_STATIC)
		         : b->kind == SEARCH_BIND_INT ? sqlite3_bind_int64(st, (int)i + 1, b->i)
		                                      : sqlite3_bind_double(st, (int)i + 1, b->r);
		assert_int_equal(rc, SQLITE_OK);
	}
	buf out;
	buf_init(&out, 0);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		buf_printf(&out, "%s%lld", out.len ? "," : "",
		           (long long)sqlite3_column_int64(st, 0));
	if (rc != SQLITE_DONE)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	const char *r = arena_strdup(A, out.len ? out.data : "");
	buf_free(&out);
	return r;
}

static const char *run(const char *type, const char *query)
{
	return run_q(parse_ok(type, query), 0);
}

#define MATCH(type, query, expect) assert_string_equal(run(type, query), expect)

/* Parsing fails in strict mode with a diagnostic of `code`; in lenient mode
 * it succeeds with a warning and drops the parameter. */
static void rejected(const char *type, const char *query, const char *code)
{
	const char *keys[32], *vals[32];
	size_t n = split_query(query, keys, vals, 32);
	diag_list d;
	diag_init(&d, A);
	search_query *q;
	if (search_parse(A, type, keys, vals, n, 1, &q, &d) != -1)
		fail_msg("%s?%s was accepted in strict mode", type, query);
	assert_true(d.errors > 0);
	if (strcmp(d.items[0].code, code))
		fail_msg("%s?%s: code %s (%s), expected %s", type, query, d.items[0].code,
		         d.items[0].message, code);
	diag_init(&d, A);
	assert_int_equal(search_parse(A, type, keys, vals, n, 0, &q, &d), 0);
	assert_int_equal(d.errors, 0);
	assert_true(d.count > 0);
	assert_int_equal(d.items[0].severity, DIAG_WARNING);
	assert_non_null(strstr(d.items[0].message, "ignored"));
}

/* ---- parsing ---- */

static void test_date_range(void **state)
{
	(void)state;
	int64_t lo, hi;
	assert_int_equal(search__date_range("2020", &lo, &hi), 0);
	assert_int_equal(lo, 1577836800000000LL);
	assert_int_equal(hi, 1609459200000000LL - 1);
	assert_int_equal(search__date_range("2020-02", &lo, &hi), 0); /* leap year */
	assert_int_equal(hi - lo + 1, 29LL * 86400000000LL);
	assert_int_equal(search__date_range("2021-02", &lo, &hi), 0);
	assert_int_equal(hi - lo + 1, 28LL * 86400000000LL);
	assert_int_equal(search__date_range("2020-01-01T10:00", &lo, &hi), 0);
	assert_int_equal(hi - lo + 1, 60000000LL);
	assert_int_equal(search__date_range("2020-01-01T10:00:00+01:00", &lo, &hi), 0);
	assert_int_equal(lo, 1577836800000000LL + 9 * 3600000000LL);
	assert_int_equal(hi - lo + 1, 1000000);
	assert_int_equal(search__date_range("2020-01-01T10:00:00.5Z", &lo, &hi), 0);
	assert_int_equal(hi - lo + 1, 100000);
	assert_int_equal(search__date_range("2020-01-01T10:00:00.1234567Z", &lo, &hi), 0);
	assert_int_equal(hi - lo + 1, 1);
	assert_int_equal(search__date_range("1969-12-31", &lo, &hi), 0);
	assert_int_equal(lo, -86400000000LL);
	const char *bad[] = {"20",
	                     "2020-13",
	                     "2020-02-30",
	                     "2020-01-01T25:00",
	                     "2020-01-01T10",
	                     "2020-01-01Z",
	                     "2020-01-01T10:00:00.",
	                     "2020/01/01",
	                     "x",
	                     ""};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (search__date_range(bad[i], &lo, &hi) == 0)
			fail_msg("'%s' accepted", bad[i]);
}

static void test_parse_values(void **state)
{
	(void)state;
	search_query *q = parse_ok("Observation", "code=http://loinc.org|8480-6,|x,sys|,\\,a\\|b");
	assert_int_equal(q->nconds, 1);
	search__cond *c = &q->conds[0];
	assert_int_equal(c->kind, SEARCH__COND_PARAM);
	assert_int_equal(c->type, MODEL_SP_TOKEN);
	assert_int_equal(c->nvalues, 4);
	assert_string_equal(c->values[0].s[0], LOINC);
	assert_string_equal(c->values[0].s[1], "8480-6");
	assert_true(c->values[1].has_system);
	assert_string_equal(c->values[1].s[0], "");
	assert_string_equal(c->values[1].s[1], "x");
	assert_string_equal(c->values[2].s[0], "sys");
	assert_string_equal(c->values[2].s[1], "");
	assert_false(c->values[3].has_system);
	assert_string_equal(c->values[3].s[1], ",a|b");

	q = parse_ok("Observation", "value-quantity=ap5.40|" SEARCH_UCUM "|mg");
	c = &q->conds[0];
	assert_int_equal(c->values[0].prefix, SEARCH__AP);
	assert_true(c->values[0].num == 5.4);
	assert_true(fabs(c->values[0].num_lo - 5.395) < 1e-12);
	assert_true(fabs(c->values[0].num_hi - 5.405) < 1e-12);
	assert_string_equal(c->values[0].s[0], SEARCH_UCUM);
	assert_string_equal(c->values[0].s[1], "mg");

	q = parse_ok("RiskAssessment", "probability=1e2");
	assert_true(q->conds[0].values[0].num_lo == 50 && q->conds[0].values[0].num_hi == 150);

	q = parse_ok("Observation", "subject=Patient/1/_history/2&performer:Practitioner=7");
	assert_string_equal(q->conds[0].values[0].s[0], "Patient");
	assert_string_equal(q->conds[0].values[0].s[1], "1");
	assert_string_equal(q->conds[1].values[0].s[0], "Practitioner");
	assert_string_equal(q->conds[1].values[0].s[1], "7");

	q = parse_ok("Observation", "date=sa2020-01&date=eb2021");
	assert_int_equal(q->conds[0].values[0].prefix, SEARCH__SA);
	assert_int_equal(q->conds[1].values[0].prefix, SEARCH__EB);

	/* empty values are ignored, empty alternatives dropped */
	q = parse_ok("Patient", "name=&gender=male,,female");
	assert_int_equal(q->nconds, 1);
	assert_int_equal(q->conds[0].nvalues, 2);
}

static void test_parse_order(void **state)
{
	(void)state;
	/* most selective first, whatever the URL order */
	search_query *q =
	        parse_ok("Observation", "status:not=final&date=ge2020&code=8480-6&"
	                                "subject=Patient/1&_id=o1&value-string:contains=x");
	assert_int_equal(q->nconds, 6);
	assert_int_equal(q->conds[0].kind, SEARCH__COND_ID);
	assert_string_equal(q->conds[1].code, "subject");
	assert_string_equal(q->conds[2].code, "code");
	assert_string_equal(q->conds[3].code, "date");
	assert_string_equal(q->conds[4].code, "value-string");
	assert_string_equal(q->conds[5].code, "status");
}

static void test_parse_result_params(void **state)
{
	(void)state;
	search_query *q = parse_ok("Observation",
	                           "_count=5&_sort=-date,status&_total=estimate&_summary=count&"
	                           "_elements=id,code&_include=Observation:subject:Patient&"
	                           "_revinclude:iterate=Provenance:target&_include=*&_format=json&"
	                           "_contained=false&_containedType=container");
	assert_int_equal(search_query_count(q), 5);
	assert_int_equal(search_query_total(q), SEARCH_TOTAL_ESTIMATE);
	assert_int_equal(search_query_summary(q), SEARCH_SUMMARY_COUNT);
	const char *const *el = search_query_elements(q);
	assert_string_equal(el[0], "id");
	assert_string_equal(el[1], "code");
	assert_null(el[2]);
	assert_int_equal(q->nsorts, 2);
	assert_true(q->sorts[0].desc);
	assert_string_equal(q->sorts[0].code, "date");
	assert_false(q->sorts[1].desc);
	const search_include *inc;
	assert_int_equal(search_query_includes(q, &inc), 3);
	assert_string_equal(inc[0].source_type, "Observation");
	assert_string_equal(inc[0].param, "subject");
	assert_string_equal(inc[0].target_type, "Patient");
	assert_false(inc[0].reverse);
	assert_true(inc[1].reverse);
	assert_true(inc[1].iterate);
	assert_string_equal(inc[2].param, "*");
	assert_null(search_query_types(q));
	/* _format is for the REST layer and not part of the canonical query */
	assert_null(strstr(search_query_canonical(q), "_format"));
	assert_non_null(strstr(search_query_canonical(q), "_count=5"));

	q = parse_ok("Observation", "");
	assert_int_equal(search_query_count(q), 20);
	assert_int_equal(search_query_total(q), SEARCH_TOTAL_NONE);
	assert_int_equal(search_query_summary(q), SEARCH_SUMMARY_FALSE);
	assert_null(search_query_elements(q));
	assert_string_equal(search_query_canonical(q), "");

	/* over the maximum: lowered with a warning, not an error */
	q = parse_ok("Observation", "_count=5000");
	assert_int_equal(search_query_count(q), 1000);

	q = parse_ok(NULL, "_type=Patient,Observation&_id=1");
	const char *const *types = search_query_types(q);
	assert_string_equal(types[0], "Patient");
	assert_string_equal(types[1], "Observation");
	assert_null(types[2]);
}

static void test_canonical(void **state)
{
	(void)state;
	search_query *q;
	const char *keys[] = {"name", "unknown", "address", "_count"};
	const char *vals[] = {"a b&c", "x", "Amsterdam+1", "10"};
	diag_list d;
	diag_init(&d, A);
	assert_int_equal(search_parse(A, "Patient", keys, vals, 4, 0, &q, &d), 0);
	assert_string_equal(search_query_canonical(q),
	                    "name=a%20b%26c&address=Amsterdam%2B1&_count=10");
	assert_int_equal(d.count, 1);
}

static void test_parse_errors(void **state)
{
	(void)state;
	rejected("Patient", "unknown-param=1", "not-supported");
	rejected("Patient", "birthdate=2020-13-01", "invalid");
	rejected("Patient", "birthdate=xx2020", "invalid");
	rejected("RiskAssessment", "probability=abc", "invalid");
	rejected("Observation", "value-quantity=5|http://unitsofmeasure.org", "invalid");
	rejected("Patient", "name:foo=x", "invalid");
	rejected("Patient", "name:not=x", "invalid");     /* :not is for tokens */
	rejected("Patient", "gender:exact=x", "invalid"); /* :exact is for strings */
	rejected("Patient", "name:missing=maybe", "invalid");
	rejected("Observation", "code:in=http://x/vs", "not-supported");
	rejected("Observation", "code:not-in=http://x/vs", "not-supported");
	rejected("Observation", "code:below=http://loinc.org|x", "not-supported");
	rejected("Observation", "subject:Medication=1", "invalid");
	rejected("Observation", "subject=NotAType/1", "invalid");
	rejected("Observation", "subject:Patient=Group/1", "invalid");
	rejected("Observation", "status.name=x", "invalid"); /* not a reference */
	rejected("Observation", "subject.nonexistent=x", "invalid");
	rejected("Observation", "code-value-quantity=8480-6", "invalid");
	rejected("Patient", "identifier:of-type=a|b", "invalid");
	rejected("Patient", "_has:Observation:code:status=final", "invalid");
	rejected("Patient", "_has:Observation=x", "invalid");
	rejected("Patient", "_has:Nope:patient:status=final", "invalid");
	rejected("Patient", "_count=-1", "invalid");
	rejected("Patient", "_sort=nonexistent", "invalid");
	rejected("Patient", "_total=some", "invalid");
	rejected("Patient", "_summary=maybe", "invalid");
	rejected("Patient", "_include=Patient:name", "invalid");
	rejected("Patient", "_include=Patient", "invalid");
	rejected("Patient", "_include:foo=Patient:organization", "invalid");
	rejected("Patient", "_contained=true", "not-supported");
	rejected("Patient", "_contained=maybe", "invalid");
	rejected("Patient", "_containedType=x", "invalid");
	rejected("Patient", "_list=$current-allergies", "not-supported");
	rejected("Patient", "_filter=name eq x", "not-supported");
	rejected("Patient", "_query=x", "not-supported");
	rejected("Location", "near=1|2|3|km", "not-supported");
	rejected("Observation", "_id:exact=1", "invalid");
	rejected(NULL, "name=x", "not-supported"); /* all types: needs _type */
	rejected(NULL, "_tag.x=1", "not-supported");
	rejected(NULL, "_type=Patient,Nope", "invalid");
	rejected(NULL, "_type=Patient,Observation&name=x", "invalid"); /* not on Observation */
	rejected("Patient", "name.x=1", "invalid");
	rejected("Observation", "subject:Patient.organization.partof.partof.partof.partof.name=x",
	         "too-costly");

	/* the type itself */
	diag_list d;
	diag_init(&d, A);
	search_query *q;
	assert_int_equal(search_parse(A, "Nope", NULL, NULL, 0, 0, &q, &d), -1);
	assert_int_equal(d.errors, 1);
}

/* ---- execution ---- */

static void test_string(void **state)
{
	(void)state;
	MATCH("Patient", "name=smith", "1,2");
	MATCH("Patient", "name=SMITH", "1,2");
	MATCH("Patient", "name=Renee", "1");
	MATCH("Patient", "name=RENÉE", "1");
	MATCH("Patient", "name=smithso", "2");
	MATCH("Patient", "name=x", "");
	MATCH("Patient", "name:exact=Smith", "1");
	MATCH("Patient", "name:exact=smith", "");
	MATCH("Patient", "name:contains=mit", "1,2");
	/* punctuation is folded away: nothing left to match but the presence of a value */
	MATCH("Patient", "name:contains=%", "1,2,3,5");
	MATCH("Patient", "name=smith,jones", "1,2,3");
	MATCH("Patient", "name=smith&name=renee", "1");
	MATCH("Patient", "name=smith&name=jones", "");
	MATCH("Patient", "name:missing=false", "1,2,3,5");
	MATCH("Patient", "birthdate:missing=true", "5");
	MATCH("Patient", "birthdate:missing=true,false", "1,2,3,5");
}

static void test_token(void **state)
{
	(void)state;
	MATCH("Patient", "gender=female", "1,3");
	MATCH("Patient", "gender=" GENDER "|female", "1");
	MATCH("Patient", "gender=|female", "3");
	MATCH("Patient", "gender=" GENDER "|", "1,2");
	MATCH("Patient", "gender=female,male", "1,2,3");
	MATCH("Patient", "gender:not=female", "2,5");
	MATCH("Patient", "gender:not=" GENDER "|female", "2,3,5");
	MATCH("Patient", "gender:missing=true", "5");
	MATCH("Patient", "gender:missing=false", "1,2,3");
	MATCH("Patient", "identifier=123", "1,2");
	MATCH("Patient", "identifier=urn:mrn|123", "1");
	MATCH("Patient", "identifier:text=medical rec", "1");
	MATCH("Patient", "identifier:of-type=" V2 "|MR|123", "1");
	MATCH("Patient", "identifier:of-type=" V2 "|MR|124", "");
	MATCH("Observation", "code=8480-6", "10,11,14");
	MATCH("Observation", "code=" LOINC "|8480-6", "10,11");
	MATCH("Observation", "code=" LOINC "|8480-6," LOINC "|29463-7", "10,11,12,13");
	MATCH("Observation", "code:text=systolic", "10,11");
	MATCH("Observation", "code:text=blood pre", ""); /* prefix of the whole text */
	MATCH("Observation", "code:text=SYSTOLIC BLOOD", "10,11");
	MATCH("Observation", "code=" LOINC "|8480-6&subject=Patient/p1", "10");
	MATCH("Observation", "status=final&code=29463-7", "");
	MATCH("Patient", "_id=p1,p2,p4", "1,2");
	MATCH("Patient", "_id:not=p1", "2,3,5");
	MATCH("Patient", "_id:missing=false", "1,2,3,5");
}

static void test_date(void **state)
{
	(void)state;
	/* p1 1980-05-10, p2 1980 (a year), p3 1970, p5 none */
	MATCH("Patient", "birthdate=1980", "1,2");
	MATCH("Patient", "birthdate=eq1980", "1,2");
	MATCH("Patient", "birthdate=1980-05", "1");
	MATCH("Patient", "birthdate=1980-05-10", "1");
	MATCH("Patient", "birthdate=1980-05-10T00:00", ""); /* the day is not within the minute */
	MATCH("Patient", "birthdate=ne1980-05-10", "2,3");
	MATCH("Patient", "birthdate=gt1980-05-10", "2");
	MATCH("Patient", "birthdate=ge1980-05-10", "1,2");
	MATCH("Patient", "birthdate=lt1980-05-10", "2,3");
	MATCH("Patient", "birthdate=le1980-05-09", "2,3");
	MATCH("Patient", "birthdate=le1980-05-10", "1,2,3");
	MATCH("Patient", "birthdate=sa1979-12-31", "1,2");
	MATCH("Patient", "birthdate=sa1980-01-01", "1");
	MATCH("Patient", "birthdate=eb1980-05-11", "1,3");
	MATCH("Patient", "birthdate=eb1981", "1,2,3");
	MATCH("Patient", "birthdate=eb1970-12-31", "");
	MATCH("Patient", "birthdate=ge1980&birthdate=le1980", "1,2");
	MATCH("Patient", "birthdate=1970,1980-05", "1,3");
	/* ap: 10% of the distance to now (decades) */
	MATCH("Patient", "birthdate=ap1980-06-01", "1,2");
	MATCH("Patient", "birthdate=ap2020-06-01", "");
	/* precision boundaries: o1 at 2020-01-01T10:00:00Z, o2 2020-01-02, o3 the period
	 * 2019-12-31..2020-01-05, o4 2021 */
	MATCH("Observation", "date=2020-01-01", "10");
	MATCH("Observation", "date=2020-01", "10,11");
	MATCH("Observation", "date=2020-01-01T10:00", "10");
	MATCH("Observation", "date=2020-01-01T10:00:00Z", "10");
	MATCH("Observation", "date=2020-01-01T10:00:00.000Z", "10");
	MATCH("Observation", "date=2020-01-01T10:00:01Z", "");
	MATCH("Observation", "date=2020-01-01T10:00:00+01:00", "");
	MATCH("Observation", "date=2020-01-01T11:00:00+01:00", "10");
	MATCH("Observation", "date=2020-01-01T05:00:00-05:00", "10");
	MATCH("Observation", "date=gt2020-01-01T09:59:59Z", "10,11,12,13");
	MATCH("Observation", "date=gt2020-01-01T10:00:00Z", "11,12,13");
	MATCH("Observation", "date=lt2020-01-01T10:00:00Z", "12");
	MATCH("Observation", "date=le2020-01-01T10:00:00Z", "10,12");
	MATCH("Observation", "date=sa2020-01-01", "11,13");
	MATCH("Observation", "date=eb2020-01-02", "10");
	MATCH("Observation", "date=ne2020-01-02", "10,12,13");
	MATCH("Observation", "date=2019-12-31,2020", "10,11");
	/* _lastUpdated is r.last_updated: p1 at T0, p2 T0+1s, p3 T0+2s, p5 a day later */
	MATCH("Patient", "_lastUpdated=2020-09-13T12:26:40Z", "1");
	MATCH("Patient", "_lastUpdated=gt2020-09-13T12:26:40Z", "2,3,5");
	MATCH("Patient", "_lastUpdated=ge2020-09-13T12:26:41Z&_lastUpdated=lt2020-09-14", "2,3");
	MATCH("Patient", "_lastUpdated=2020-09-14", "5");
}

static void test_number_quantity(void **state)
{
	(void)state;
	/* 40: 0.5, 41: 0.25, 42: 100, 43: 99.6 */
	MATCH("RiskAssessment", "probability=100", "42,43");
	MATCH("RiskAssessment", "probability=100.0", "42");
	MATCH("RiskAssessment", "probability=1e2", "42,43");
	MATCH("RiskAssessment", "probability=0.5", "40");
	MATCH("RiskAssessment", "probability=gt0.25", "40,42,43");
	MATCH("RiskAssessment", "probability=ge0.25", "40,41,42,43");
	MATCH("RiskAssessment", "probability=lt0.5", "41");
	MATCH("RiskAssessment", "probability=le0.5", "40,41");
	MATCH("RiskAssessment", "probability=sa99.6", "42");
	MATCH("RiskAssessment", "probability=eb0.5", "41");
	MATCH("RiskAssessment", "probability=ne100", "40,41");
	MATCH("RiskAssessment", "probability=ap100", "42,43");
	MATCH("RiskAssessment", "probability=ap0.3", "41");
	MATCH("RiskAssessment", "probability=-1,0.25", "41");
	/* 10: 120 mm[Hg], 11: 140 mm[Hg], 12: 70 kg, 13: 70000 g, 14: 70 kg in another system */
	MATCH("Observation", "value-quantity=120", "10");
	MATCH("Observation", "value-quantity=70", "12,14");
	MATCH("Observation", "value-quantity=120||mm[Hg]", "10");
	MATCH("Observation", "value-quantity=120|" SEARCH_UCUM "|mm[Hg]", "10");
	MATCH("Observation", "value-quantity=gt100|" SEARCH_UCUM "|mm[Hg]", "10,11");
	MATCH("Observation", "value-quantity=gt100", "10,11,13");
	MATCH("Observation", "value-quantity=70|" SEARCH_UCUM "|kg", "12,13");
	MATCH("Observation", "value-quantity=70000|" SEARCH_UCUM "|g", "12,13");
	MATCH("Observation", "value-quantity=70||kg", "12,13,14");
	MATCH("Observation", "value-quantity=70|urn:units|kg", "14");
	MATCH("Observation", "value-quantity=lt1|" SEARCH_UCUM "|kg", "");
	MATCH("Observation", "value-quantity=ap75|" SEARCH_UCUM "|kg", "12,13");
	MATCH("Observation", "value-quantity=ne70|" SEARCH_UCUM "|kg", "");
}

static void test_reference(void **state)
{
	(void)state;
	MATCH("Observation", "subject=Patient/p1", "10,12");
	MATCH("Observation", "subject=p1", "10,12");
	MATCH("Observation", "subject:Patient=p1", "10,12");
	MATCH("Observation", "subject:Device=p1", "");
	MATCH("Observation", "subject=Patient/p1/_history/3", "10,12");
	MATCH("Observation", "subject=Patient/p1,Patient/p3", "10,12,13");
	MATCH("Observation", "subject=http://other/fhir/Patient/p9", "14");
	MATCH("Observation", "subject:identifier=urn:mrn|555", "11");
	MATCH("Observation", "subject:identifier=555", "11");
	MATCH("Observation", "subject:identifier=urn:other|555", "");
	MATCH("Observation", "subject:missing=true", "15");
}

static void test_uri_composite(void **state)
{
	(void)state;
	MATCH("ValueSet", "url=http://acme.org/fhir/ValueSet/123", "50");
	MATCH("ValueSet", "url=http://acme.org/fhir/ValueSet", "");
	MATCH("ValueSet", "url:below=http://acme.org/fhir/", "50,51");
	MATCH("ValueSet", "url:below=http://acme.org/", "50,51,52");
	MATCH("ValueSet", "url:above=http://acme.org/fhir/ValueSet/123/_history/5", "50");
	MATCH("ValueSet", "url:above=http://acme.org/other/x", "52");
	MATCH("ValueSet", "url:missing=false", "50,51,52");

	MATCH("Observation", "code-value-quantity=" LOINC "|8480-6$lt130", "10");
	MATCH("Observation", "code-value-quantity=" LOINC "|8480-6$gt100", "10,11");
	MATCH("Observation", "code-value-quantity=8480-6$140|" SEARCH_UCUM "|mm[Hg]", "11");
	MATCH("Observation", "code-value-quantity=8480-6$lt130,8480-6$gt130", "10,11");
	MATCH("Observation", "code-value-quantity=" LOINC "|29463-7$gt0", "");
	/* components of one element only: o6 has 8480-6 150 and 8462-4 90 */
	MATCH("Observation", "component-code-value-quantity=8462-4$gt100", "");
	MATCH("Observation", "component-code-value-quantity=8462-4$lt100", "15");
	MATCH("Observation", "component-code-value-quantity=8480-6$gt100", "15");
	MATCH("Observation", "code-value-quantity:missing=true", "12,13,14,15");
}

static void test_chain_has(void **state)
{
	(void)state;
	MATCH("Observation", "subject:Patient.name=smith", "10,11,12");
	MATCH("Observation", "subject.name=renee", "10,12");
	MATCH("Observation", "patient.birthdate=1980", "10,11,12");
	MATCH("Observation", "subject:Patient.gender=" GENDER "|female", "10,12");
	MATCH("Observation", "subject:Patient.organization.name=acme", "10,12");
	MATCH("Observation", "subject:Patient.organization:Organization.name=other", "");
	MATCH("Observation", "subject:Patient._id=p2", "11");
	MATCH("Observation", "subject.name=smith&subject.name=renee", "10,12");
	MATCH("Patient", "_has:Observation:patient:code=" LOINC "|8480-6", "1,2");
	MATCH("Patient", "_has:Observation:patient:code=" LOINC "|29463-7", "1,3");
	MATCH("Patient", "_has:Observation:subject:status=preliminary", "1");
	MATCH("Patient", "_has:Observation:patient:_has:DiagnosticReport:result:status=final", "2");
	MATCH("Patient", "_has:Observation:patient:subject.name=john", "2");
	MATCH("Patient", "_list=list1", "1,3");
	MATCH("Patient", "_list=List/list1&gender=female", "1,3");
	MATCH("Patient", "_text=amsterdam smith", "1");
	MATCH("Patient", "_text=amsterdam jones", "");
}

static void test_compartment_paging(void **state)
{
	(void)state;
	search_query *q = parse_ok("Observation", "code=" LOINC "|29463-7");
	search_query_in_patient_compartment(q, "p1");
	assert_int_equal(q->conds[0].kind, SEARCH__COND_COMPARTMENT);
	assert_string_equal(run_q(q, 0), "12");
	q = parse_ok("Observation", "");
	search_query_in_patient_compartment(q, "p1");
	assert_string_equal(run_q(q, 0), "10,12");
	q = parse_ok("Patient", "");
	search_query_in_patient_compartment(q, "p1");
	assert_string_equal(run_q(q, 0), "1");
	q = parse_ok(NULL, "");
	search_query_in_patient_compartment(q, "p1");
	assert_string_equal(run_q(q, 0), "1,10,12");

	q = parse_ok("Patient", "");
	assert_string_equal(run_q(q, 0), "1,2,3,5");
	assert_string_equal(run_q(q, 1), "2,3,5");
	assert_string_equal(run_q(q, 5), "");

	/* keyset paging is only for the r.rid order */
	q = parse_ok("Patient", "_sort=name");
	diag_list d;
	diag_init(&d, A);
	search_sql s;
	assert_int_equal(search_compile(q, SEARCH_SQLITE, 3, A, &s, &d), -1);
	assert_int_equal(d.errors, 1);
}

static void test_system_level(void **state)
{
	(void)state;
	MATCH(NULL, "_id=p1,o1", "1,10");
	MATCH(NULL, "_type=Patient,Observation&_id=p1,o1,org1", "1,10");
	MATCH(NULL, "_type=Patient,Organization&name=acme,smith", "1,2,20");
	MATCH(NULL, "_type=Observation,DiagnosticReport&status=final", "10,11,30");
	MATCH(NULL, "_type=Observation,DiagnosticReport&status=final&_sort=-_id", "11,10,30");
	MATCH(NULL, "_lastUpdated=gt2020-09-13T12:26:41Z", "3,5");
	/* parameters every resource has work without _type */
	MATCH(NULL, "_tag=urn:t|x", "1,10");
	MATCH(NULL, "_tag=urn:t|", "1,10,11");
	MATCH(NULL, "_tag=urn:t|y&_id=o1,o2", "11");
	MATCH(NULL, "_tag:missing=false", "1,10,11");
	MATCH(NULL, "_text=amsterdam", "1");
	MATCH(NULL, "_type=Patient,Observation&_tag=x", "1,10");
}

static void test_sort(void **state)
{
	(void)state;
	MATCH("Patient", "_sort=birthdate", "3,2,1,5");
	MATCH("Patient", "_sort=-birthdate", "2,1,3,5");
	MATCH("Patient", "_sort=gender", "1,3,2,5");
	MATCH("Patient", "_sort=gender,-birthdate", "1,3,2,5");
	MATCH("Patient", "_sort=-gender,birthdate", "2,3,1,5");
	MATCH("Patient", "_sort=-gender&_sort=birthdate", "2,3,1,5");
	MATCH("Patient", "_sort=name", "2,3,1,5"); /* john < jones < renee < zed */
	MATCH("Patient", "_sort=-_lastUpdated", "5,3,2,1");
	MATCH("Patient", "_sort=_id&gender=female", "1,3");
	MATCH("RiskAssessment", "_sort=-probability", "42,43,40,41");
	MATCH("Observation", "_sort=value-quantity&code=" LOINC "|8480-6", "10,11");
	MATCH("Observation", "_sort=subject&_id=o1,o2,o4,o6", "10,11,13,15");
	MATCH("ValueSet", "_sort=-url", "52,51,50");
}

static void test_sql_shape(void **state)
{
	(void)state;
	/* values are bound, never in the SQL text */
	search_query *q =
	        parse_ok("Patient", "name=o'brien;drop&identifier=x|y'z&birthdate=ge2020");
	diag_list d;
	diag_init(&d, A);
	search_sql s;
	assert_int_equal(search_compile(q, SEARCH_POSTGRES, 0, A, &s, &d), 0);
	assert_null(strstr(s.where, "brien"));
	assert_null(strstr(s.where, "y'z"));
	assert_non_null(strstr(s.where, "r.type = ? AND r.deleted = 0"));
	assert_string_equal(s.order_by, "r.rid");
	assert_string_equal(s.binds[0].text, "Patient");
	/* the schema of both dialects */
	assert_non_null(strstr(search_schema_sql(SEARCH_SQLITE), "sp_reference_target"));
	assert_non_null(strstr(search_schema_sql(SEARCH_SQLITE), "WITHOUT ROWID"));
	assert_null(strstr(search_schema_sql(SEARCH_POSTGRES), "WITHOUT ROWID"));
	assert_non_null(strstr(search_schema_sql(SEARCH_POSTGRES), "DOUBLE PRECISION"));
	assert_non_null(strstr(search_schema_sql(SEARCH_POSTGRES), "COLLATE \"C\""));
}

/* The plan SQLite picks: selective conditions drive through their index and
 * the resource rows are fetched by rid, never scanned. */
static const char *plan(const char *type, const char *query)
{
	diag_list d;
	diag_init(&d, A);
	search_sql s;
	assert_int_equal(search_compile(parse_ok(type, query), SEARCH_SQLITE, 0, A, &s, &d), 0);
	char *sql = arena_printf(
	        A, "EXPLAIN QUERY PLAN SELECT r.rid FROM resource r WHERE %s ORDER BY %s", s.where,
	        s.order_by);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	buf out;
	buf_init(&out, 0);
	while (sqlite3_step(st) == SQLITE_ROW)
		buf_printf(&out, "%s\n", (const char *)sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
	const char *r = arena_strdup(A, out.data ? out.data : "");
	buf_free(&out);
	return r;
}

static void test_plan(void **state)
{
	(void)state;
	const char *queries[][2] = {
	        {"Observation", "patient=Patient/p1&code=" LOINC "|8480-6&date=ge2020"},
	        {"Observation", "date=ge2020&code=8480-6&_sort=-date"},
	        {"Observation", "subject:Patient.name=smith&status:not=final"},
	        {"Patient", "_has:Observation:patient:code=8480-6"},
	        {"Patient", "name=smith&birthdate=1980"},
	};
	for (size_t i = 0; i < sizeof queries / sizeof *queries; i++) {
		const char *p = plan(queries[i][0], queries[i][1]);
		if (strstr(p, "SCAN") || !strstr(p, "PRIMARY KEY"))
			fail_msg("%s?%s:\n%s", queries[i][0], queries[i][1], p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_date_range),   cmocka_unit_test(test_parse_values),
	        cmocka_unit_test(test_parse_order),  cmocka_unit_test(test_parse_result_params),
	        cmocka_unit_test(test_canonical),    cmocka_unit_test(test_parse_errors),
	        cmocka_unit_test(test_string),       cmocka_unit_test(test_token),
	        cmocka_unit_test(test_date),         cmocka_unit_test(test_number_quantity),
	        cmocka_unit_test(test_reference),    cmocka_unit_test(test_uri_composite),
	        cmocka_unit_test(test_chain_has),    cmocka_unit_test(test_compartment_paging),
	        cmocka_unit_test(test_system_level), cmocka_unit_test(test_sort),
	        cmocka_unit_test(test_sql_shape),    cmocka_unit_test(test_plan),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
