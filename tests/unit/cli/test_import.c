/*
 * test_import.c - unit tests of the parts of `bron import` that need no
 * server (src/cli/import_int.h): the byte-span JSON scanner on good,
 * escaped, nested and truncated text (every prefix of a Bundle, copied to
 * its own allocation so ASan sees any read past the end), and the NDJSON
 * source: batching, line numbers, rejected lines and the transaction's
 * batch twin.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/import_int.h"

static const char BUNDLE[] =
        "{ \"resourceType\" : \"Bundle\",\n \"id\":\"a\\\"b\", \"type\":\"collection\",\n"
        "  \"x\": [1, {\"entry\": 2}, \"]}\"], \"n\": -1.5e3, \"t\": true,\n"
        "  \"entry\": [ {\"fullUrl\":\"urn:uuid:1\",\"resource\":{\"resourceType\":\"Patient\","
        "\"id\":\"p1\"}},\n {\"resource\":{\"resourceType\":\"Observation\"}} ,{} ] }";

static void member_is(const char *s, const char *key, const char *want)
{
	size_t vf, vt;
	assert_int_equal(import_scan_member(s, 0, strlen(s), key, &vf, &vt), 0);
	assert_int_equal(vt - vf, strlen(want));
	assert_memory_equal(s + vf, want, vt - vf);
}

static void test_scan_members(void **state)
{
	(void)state;
	member_is(BUNDLE, "resourceType", "\"Bundle\"");
	member_is(BUNDLE, "id", "\"a\\\"b\"");
	member_is(BUNDLE, "type", "\"collection\"");
	member_is(BUNDLE, "x", "[1, {\"entry\": 2}, \"]}\"]");
	member_is(BUNDLE, "n", "-1.5e3");
	member_is(BUNDLE, "t", "true");
	size_t vf, vt;
	assert_int_equal(import_scan_member(BUNDLE, 0, strlen(BUNDLE), "missing", &vf, &vt), -1);
	assert_int_equal(import_scan_member("[1]", 0, 3, "a", &vf, &vt), -1);
	assert_int_equal(import_scan_member("", 0, 0, "a", &vf, &vt), -1);
	assert_int_equal(import_scan_member("{}", 0, 2, "a", &vf, &vt), -1);
}

static void test_scan_elements(void **state)
{
	(void)state;
	size_t ef, et, vf, vt, len = strlen(BUNDLE);
	assert_int_equal(import_scan_member(BUNDLE, 0, len, "entry", &ef, &et), 0);
	size_t it = ef, a, b, n = 0;
	char type[32];
	while (import_scan_element(BUNDLE, et, &it, &a, &b) == 1) {
		n++;
		if (n == 2) {
			assert_int_equal(import_scan_member(BUNDLE, a, b, "resource", &vf, &vt), 0);
			assert_int_equal(
			        import_scan_member(BUNDLE, vf, vt, "resourceType", &vf, &vt), 0);
			assert_int_equal(import_scan_string(BUNDLE, vf, vt, type, sizeof type), 0);
			assert_string_equal(type, "Observation");
		}
	}
	assert_int_equal(n, 3);
	it = 0;
	assert_int_equal(import_scan_element("[]", 2, &it, &a, &b), 0);
	it = 0;
	assert_int_equal(import_scan_element("{}", 2, &it, &a, &b), -1);
}

static void test_scan_string(void **state)
{
	(void)state;
	char out[8];
	const char *s = "\"abc\" \"a\\nb\" \"toolongvalue\" 12";
	assert_int_equal(import_scan_string(s, 0, 5, out, sizeof out), 0);
	assert_string_equal(out, "abc");
	assert_int_equal(import_scan_string(s, 6, 12, out, sizeof out), -1);  /* escape */
	assert_int_equal(import_scan_string(s, 13, 27, out, sizeof out), -1); /* too long */
	assert_int_equal(import_scan_string(s, 28, 30, out, sizeof out), -1); /* a number */
}

/* Every prefix: no crash, no read past the end, and nothing found that the
 * prefix does not contain whole. */
static void test_scan_truncated(void **state)
{
	(void)state;
	size_t len = strlen(BUNDLE);
	for (size_t n = 0; n < len; n++) {
		char *p = malloc(n ? n : 1);
		memcpy(p, BUNDLE, n);
		size_t vf = 0, vt = 0, it = 0, a, b;
		if (!import_scan_member(p, 0, n, "entry", &vf, &vt)) {
			assert_true(vt <= n);
			it = vf;
			while (import_scan_element(p, vt, &it, &a, &b) == 1)
				assert_true(b <= vt);
		}
		assert_true(import_scan_value(p, n, 0) == (size_t)-1 || n == len);
		free(p);
	}
}

/* ---- the NDJSON source ---- */

static char *write_temp(const char *text, char *path, size_t cap)
{
	snprintf(path, cap, "/tmp/bron-test-import-XXXXXX.ndjson");
	int fd = mkstemps(path, 7);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_ndjson_batches(void **state)
{
	(void)state;
	char path[64];
	write_temp("{\"resourceType\":\"Patient\",\"id\":\"a\"}\n"
	           "\n"
	           "{\"resourceType\":\"Patient\",\"id\":\"b\"\r\n"
	           "{\"resourceType\":\"Patient\",\"id\":\"bad id\"}\n"
	           "{\"resourceType\":\"Observation\",\"status\":\"final\"}\n"
	           "{\"resourceType\":\"Patient\",\"id\":\"c\"}",
	           path, sizeof path);
	import_report *rep = import_report_new(0, 1, 0);
	import_source *src;
	char err[64];
	assert_int_equal(import_source_open(path, 2, &src, err, sizeof err), 0);
	import_job *j;
	assert_int_equal(import_source_next(src, rep, &j), 1);
	assert_int_equal(j->entries, 2);
	assert_int_equal(j->where[0], 1);
	assert_int_equal(j->where[1], 5);
	assert_non_null(strstr(j->body.data, "\"type\":\"transaction\""));
	assert_non_null(strstr(j->body.data, "{\"method\":\"PUT\",\"url\":\"Patient/a\"}"));
	assert_non_null(strstr(j->body.data, "{\"method\":\"POST\",\"url\":\"Observation\"}"));
	assert_int_equal(import_report_rejections(rep), 2); /* lines 3 and 4 */
	import_job *b = import_job_as_batch(j);
	assert_int_equal(b->batch, 1);
	assert_int_equal(b->where[1], 5);
	assert_non_null(strstr(b->body.data, "\"type\":\"batch\""));
	assert_string_equal(b->body.data + b->head_len, j->body.data + j->head_len);
	import_job_free(b);
	import_job_free(j);
	assert_int_equal(import_source_next(src, rep, &j), 1);
	assert_int_equal(j->entries, 1);
	assert_int_equal(j->where[0], 6);
	import_job_free(j);
	assert_int_equal(import_source_next(src, rep, &j), 0);
	import_source_close(src);
	import_report_free(rep);
	unlink(path);
}

/* A resource that comes again (bron export --history: its versions) starts
 * the next transaction, so that the versions are written in their order. */
static void test_ndjson_repeats_split(void **state)
{
	(void)state;
	char path[64];
	write_temp("{\"resourceType\":\"Patient\",\"id\":\"a\",\"meta\":{\"versionId\":\"1\"}}\n"
	           "{\"resourceType\":\"Patient\",\"id\":\"b\"}\n"
	           "{\"resourceType\":\"Observation\",\"id\":\"a\"}\n"
	           "{\"resourceType\":\"Patient\",\"id\":\"a\",\"meta\":{\"versionId\":\"2\"}}\n"
	           "{\"resourceType\":\"Patient\",\"id\":\"a\",\"meta\":{\"versionId\":\"3\"}}\n"
	           "{\"resourceType\":\"Patient\",\"id\":\"c\"}\n",
	           path, sizeof path);
	import_report *rep = import_report_new(0, 1, 0);
	import_source *src;
	char err[64];
	assert_int_equal(import_source_open(path, 500, &src, err, sizeof err), 0);
	import_job *j;
	const long want[][3] = {{1, 2, 3}, {4, 0, 0}, {5, 6, 0}};
	const size_t entries[] = {3, 1, 2};
	for (int k = 0; k < 3; k++) {
		assert_int_equal(import_source_next(src, rep, &j), 1);
		assert_int_equal(j->entries, entries[k]);
		for (size_t e = 0; e < entries[k]; e++)
			assert_int_equal(j->where[e], want[k][e]);
		char v[32];
		snprintf(v, sizeof v, "\"versionId\":\"%d\"", k + 1);
		assert_non_null(strstr(j->body.data, v)); /* Patient/a's k+1-th version */
		import_job_free(j);
	}
	assert_int_equal(import_source_next(src, rep, &j), 0);
	assert_int_equal(import_report_rejections(rep), 0);
	import_source_close(src);
	import_report_free(rep);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_scan_members),   cmocka_unit_test(test_scan_elements),
	        cmocka_unit_test(test_scan_string),    cmocka_unit_test(test_scan_truncated),
	        cmocka_unit_test(test_ndjson_batches), cmocka_unit_test(test_ndjson_repeats_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
