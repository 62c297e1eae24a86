/*
 * test_json.c - unit tests of src/json (json.h): json_parse's errors, the
 * byte-level canonical, minify and pretty writers, json_dump and
 * json_put_string. Byte-exact expectations where the contract fixes the bytes,
 * and read-back through jansson everywhere else. The property test runs the
 * canonical writer over every official R4 example in
 * $BRON_SHARED/data/fhir-r4/examples (default ../shared; skipped with a message
 * when absent). Every case frees what it allocates.
 */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json/json.h"

/* ---- helpers ---- */

static json_t *load(const char *text, size_t len)
{
	json_error_t err;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (!j)
		fail_msg("does not parse back (%s at %d:%d): %.*s", err.text, err.line, err.column,
		         (int)len, text);
	return j;
}

/* canonical(src) must be exactly `want`. */
static void canon_is(const char *src, const json_meta *m, const char *want)
{
	buf out;
	buf_init(&out, 0);
	int rc = json_canonical(src, strlen(src), m, &out);
	if (rc != 0)
		fail_msg("json_canonical failed (%d) on %s", rc, src);
	if (strcmp(out.data, want) != 0)
		fail_msg("canonical of\n  %s\nis\n  %s\nwanted\n  %s", src, out.data, want);
	json_decref(load(out.data, out.len)); /* and it is valid JSON without duplicate keys */
	buf_free(&out);
}

static void minify_is(const char *src, const char *want)
{
	buf out;
	buf_init(&out, 0);
	assert_int_equal(json_minify(src, strlen(src), &out), 0);
	assert_string_equal(out.data ? out.data : "", want);
	buf_free(&out);
}

static const json_meta META = {"p1", "3", "2024-01-02T03:04:05.678Z"};

/* ---- json_parse ---- */

static void test_parse_ok(void **state)
{
	arena *a = arena_new(0);
	diag_list d;
	diag_init(&d, a);
	const char *text = "{\"resourceType\":\"Patient\",\"a\":[1,2.5,\"x\",null,true]}";
	json_t *j = NULL;
	assert_int_equal(json_parse(text, strlen(text), &j, &d), 0);
	assert_non_null(j);
	assert_int_equal(d.count, 0);
	assert_string_equal(json_string_value(json_object_get(j, "resourceType")), "Patient");
	assert_int_equal(json_array_size(json_object_get(j, "a")), 5);
	json_decref(j);
	/* only `len` bytes are read: what follows them does not matter */
	const char *more = "[1,2]garbage";
	assert_int_equal(json_parse(more, 5, &j, &d), 0);
	assert_int_equal(json_array_size(j), 2);
	json_decref(j);
	/* the same key in different objects is fine */
	const char *nested = "{\"a\":{\"x\":1},\"b\":{\"x\":2},\"c\":[{\"x\":1},{\"x\":2}]}";
	assert_int_equal(json_parse(nested, strlen(nested), &j, &d), 0);
	json_decref(j);
	assert_int_equal(d.count, 0);
	arena_free(a);
}

static void test_parse_errors(void **state)
{
	static const char *bad[] = {
	        "",
	        "   ",
	        "{",
	        "{\"a\":}",
	        "{\"a\":1,}",
	        "[1,2,]",
	        "{'a':1}",
	        "{\"a\":1} x",
	        "{\"a\":1}{}",
	        "{\"a\":01}",
	        "{\"a\":.5}",
	        "{\"a\":NaN}",
	        "{\"a\":\"unterminated}",
	        "{\"a\":\"bad escape \\q\"}",
	        "{\"a\":\"\\u00\"}",
	        "{\"a\":\"tab\tinside\"}",
	        "{\"a\":\"\\u0000\"}",
	        "{\"a\":\"\xff\xfe\"}", /* not UTF-8 */
	        "{a:1}",
	        "{\"a\":1, \"a\":2}",                           /* duplicate keys */
	        "{\"a\":{\"b\":1,\"c\":2,\"b\":3}}",            /* nested duplicate */
	        "[{\"id\":\"x\"},{\"id\":\"y\",\"id\":\"y\"}]", /* duplicate in an array's object */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		arena *a = arena_new(0);
		diag_list d;
		diag_init(&d, a);
		json_t *j = (json_t *)0x1;
		if (json_parse(bad[i], strlen(bad[i]), &j, &d) != -1)
			fail_msg("accepted invalid JSON: %s", bad[i]);
		assert_ptr_equal(j, (json_t *)0x1); /* *out untouched */
		assert_int_equal(d.count, 1);
		assert_int_equal(d.errors, 1);
		assert_int_equal(d.items[0].severity, DIAG_ERROR);
		assert_string_equal(d.items[0].code, "invalid");
		assert_non_null(strstr(d.items[0].message, "line"));
		assert_non_null(strstr(d.items[0].message, "column"));
		arena_free(a);
	}
	/* a NUL byte inside the given length is not JSON */
	arena *a = arena_new(0);
	diag_list d;
	diag_init(&d, a);
	json_t *j = NULL;
	assert_int_equal(json_parse("{\"a\":\"x\0y\"}", 11, &j, &d), -1);
	/* the message points at the line of the error */
	const char *multi = "{\n  \"a\": 1,\n  \"a\": 2\n}";
	assert_int_equal(json_parse(multi, strlen(multi), &j, &d), -1);
	assert_non_null(strstr(d.items[1].message, "line 3"));
	assert_non_null(strstr(d.items[1].message, "duplicate"));
	arena_free(a);
}

/* ---- json_canonical ---- */

static void test_canonical_order(void **state)
{
	/* resourceType first, then id and meta from the server, then the rest in order */
	canon_is(
	        "{\"active\":true,\"id\":\"old\",\"resourceType\":\"Patient\",\"gender\":\"male\"}",
	        &META,
	        "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"meta\":{\"versionId\":\"3\","
	        "\"lastUpdated\":\"2024-01-02T03:04:05.678Z\"},\"active\":true,\"gender\":"
	        "\"male\"}");
	/* whitespace everywhere */
	canon_is(
	        " \n\t{ \"resourceType\" : \"Patient\" ,\r\n \"name\" : [ { \"family\" : \"Doe\" , "
	        "\"given\" : [ \"J\" , \"K\" ] } ] , \"active\" : false } \n",
	        &META,
	        "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"meta\":{\"versionId\":\"3\","
	        "\"lastUpdated\":\"2024-01-02T03:04:05.678Z\"},\"name\":[{\"family\":\"Doe\","
	        "\"given\":"
	        "[\"J\",\"K\"]}],\"active\":false}");
	/* only an id */
	json_meta m = {"x", NULL, NULL};
	canon_is("{\"resourceType\":\"Basic\"}", &m,
	         "{\"resourceType\":\"Basic\",\"id\":\"x\",\"meta\":{}}");
	/* no id: the client's id is dropped too */
	json_meta none = {NULL, "1", NULL};
	canon_is("{\"id\":\"client\",\"resourceType\":\"Basic\"}", &none,
	         "{\"resourceType\":\"Basic\",\"meta\":{\"versionId\":\"1\"}}");
	json_meta lu = {"a", NULL, "2024-01-01T00:00:00.000Z"};
	canon_is("{\"resourceType\":\"Basic\"}", &lu,
	         "{\"resourceType\":\"Basic\",\"id\":\"a\",\"meta\":{\"lastUpdated\":\"2024-01-"
	         "01T00:00:00.000Z\"}}");
	/* the empty object */
	canon_is("{}", &META,
	         "{\"id\":\"p1\",\"meta\":{\"versionId\":\"3\",\"lastUpdated\":\"2024-01-02T03:04:"
	         "05.678Z\"}}");
	canon_is("{ \n }", &m, "{\"id\":\"x\",\"meta\":{}}");
	/* an id that needs escaping is escaped */
	json_meta q = {"a\"b", "1", NULL};
	canon_is("{\"resourceType\":\"Basic\"}", &q,
	         "{\"resourceType\":\"Basic\",\"id\":\"a\\\"b\",\"meta\":{\"versionId\":\"1\"}}");
}

static void test_canonical_meta(void **state)
{
	/* the client's meta members are kept in order, minus versionId and lastUpdated */
	canon_is("{\"resourceType\":\"Patient\",\"meta\":{\"profile\":[\"http://x/"
	         "p\"],\"versionId\":\"99\","
	         "\"source\":\"#a\",\"lastUpdated\":\"1999-01-01T00:00:00Z\",\"tag\":[{\"code\":"
	         "\"t\"}]},"
	         "\"active\":true}",
	         &META,
	         "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"meta\":{\"versionId\":\"3\","
	         "\"lastUpdated\":\"2024-01-02T03:04:05.678Z\",\"profile\":[\"http://x/"
	         "p\"],\"source\":\"#a\","
	         "\"tag\":[{\"code\":\"t\"}]},\"active\":true}");
	/* meta before resourceType, with whitespace */
	canon_is("{ \"meta\" : { \"security\" : [ ] } , \"resourceType\" : \"Basic\" }", &META,
	         "{\"resourceType\":\"Basic\",\"id\":\"p1\",\"meta\":{\"versionId\":\"3\","
	         "\"lastUpdated\":\"2024-01-02T03:04:05.678Z\",\"security\":[]}}");
	/* client meta members without server ones */
	json_meta m = {"x", NULL, NULL};
	canon_is("{\"resourceType\":\"Basic\",\"meta\":{\"versionId\":\"7\",\"source\":\"s\"}}", &m,
	         "{\"resourceType\":\"Basic\",\"id\":\"x\",\"meta\":{\"source\":\"s\"}}");
	/* nested "meta" and "id" members (in contained resources) are not touched */
	canon_is("{\"resourceType\":\"Patient\",\"contained\":[{\"resourceType\":\"Basic\",\"id\":"
	         "\"c1\","
	         "\"meta\":{\"versionId\":\"5\"}}],\"id\":\"zzz\"}",
	         &m,
	         "{\"resourceType\":\"Patient\",\"id\":\"x\",\"meta\":{},\"contained\":[{"
	         "\"resourceType\":"
	         "\"Basic\",\"id\":\"c1\",\"meta\":{\"versionId\":\"5\"}}]}");
	/* members whose names merely start with or contain the special ones */
	canon_is("{\"resourceType\":\"Basic\",\"idx\":1,\"metadata\":2,\"resourceTypes\":3,\"_id\":"
	         "{}}",
	         &m,
	         "{\"resourceType\":\"Basic\",\"id\":\"x\",\"meta\":{},\"idx\":1,\"metadata\":2,"
	         "\"resourceTypes\":3,\"_id\":{}}");
}

static void test_canonical_bytes(void **state)
{
	json_meta m = {"x", "1", NULL};
	const char *head =
	        "{\"resourceType\":\"Observation\",\"id\":\"x\",\"meta\":{\"versionId\":\"1\"}";
	char want[1024];
	/* decimals exactly as sent */
	snprintf(want, sizeof want,
	         "%s,\"valueQuantity\":{\"value\":1.50,\"unit\":\"mg\"},\"a\":1e3,\"b\":-0.0,"
	         "\"c\":1E+2,\"d\":12345678901234567890.123456789}",
	         head);
	canon_is("{\"resourceType\":\"Observation\",\"valueQuantity\":{ \"value\": 1.50, \"unit\": "
	         "\"mg\" },"
	         " \"a\": 1e3, \"b\": -0.0, \"c\": 1E+2, \"d\": 12345678901234567890.123456789 }",
	         &m, want);
	/* escapes and tricky strings exactly as sent, whitespace inside strings kept */
	snprintf(want, sizeof want,
	         "%s,\"s\":\"a } { ] [ , : \\\" \\\\ \\/ \\u00e9 \\n  "
	         "x\",\"t\":\"\\\\\",\"u\":\"\\\"\","
	         "\"v\":[\"}\",\"{\",\"\\\\\\\"\"],\"w\":\"caf\xc3\xa9 \\ud83d\\ude00\"}",
	         head);
	canon_is("{\"resourceType\":\"Observation\", \"s\" : \"a } { ] [ , : \\\" \\\\ \\/ \\u00e9 "
	         "\\n  x\" ,"
	         " \"t\" : \"\\\\\" , \"u\":\"\\\"\" , \"v\" : [ \"}\" , \"{\" , \"\\\\\\\"\" ] ,"
	         "\"w\":\"caf\xc3\xa9 \\ud83d\\ude00\"}",
	         &m, want);
	/* keys with special characters */
	snprintf(want, sizeof want, "%s,\"a b\":1,\"c\\\"d\":{\"}\":[]},\"e,f\":null}", head);
	canon_is("{\"resourceType\":\"Observation\",\"a b\" : 1, \"c\\\"d\" : { \"}\" : [ ] }, "
	         "\"e,f\" : null }",
	         &m, want);
	/* deeply nested objects and arrays, with literals next to closing brackets */
	snprintf(want, sizeof want,
	         "%s,\"n\":[[[{\"a\":[true,false,null,{\"b\":[{}]}]}]]],\"z\":0}", head);
	canon_is("{\"resourceType\":\"Observation\",\"n\":[ [ [ {\"a\" : [ true , false , null , { "
	         "\"b\" : "
	         "[ { } ] } ] } ] ] ] , \"z\" : 0 }",
	         &m, want);
	/* resourceType missing: everything else still in order */
	canon_is("{\"b\":1,\"meta\":{\"tag\":[]},\"a\":[2]}", &m,
	         "{\"id\":\"x\",\"meta\":{\"versionId\":\"1\",\"tag\":[]},\"b\":1,\"a\":[2]}");
	/* resourceType that is not a string is copied as it is */
	canon_is(
	        "{\"x\":1,\"resourceType\":{\"a\":1}}", &m,
	        "{\"resourceType\":{\"a\":1},\"id\":\"x\",\"meta\":{\"versionId\":\"1\"},\"x\":1}");
}

static void test_canonical_escaped_keys(void **state)
{
	/* A key may be spelled with escapes; "\u0069d" is the key "id" to every JSON
	 * reader, so it must be replaced like "id", not kept as a second "id". */
	json_meta m = {"p1", "2", NULL};
	canon_is("{\"resourceType\":\"Patient\",\"\\u0069d\":\"client\",\"active\":true}", &m,
	         "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"meta\":{\"versionId\":\"2\"},"
	         "\"active\":true}");
	canon_is("{\"resource\\u0054ype\":\"Patient\",\"active\":true}", &m,
	         "{\"resource\\u0054ype\":\"Patient\",\"id\":\"p1\",\"meta\":{\"versionId\":\"2\"},"
	         "\"active\":true}");
	canon_is("{\"resourceType\":\"Patient\",\"m\\u0065ta\":{\"v\\u0065rsionId\":\"9\","
	         "\"source\":\"s\"}}",
	         &m,
	         "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"meta\":{\"versionId\":\"2\","
	         "\"source\":\"s\"}}");
	canon_is("{\"resourceType\":\"Patient\",\"meta\":{\"lastUpdat\\u0065d\":\"x\"}}", &m,
	         "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"meta\":{\"versionId\":\"2\"}}");
	/* an escaped key that decodes to something else is just another member */
	canon_is("{\"resourceType\":\"Patient\",\"\\u0069dx\":1,\"i\\\"d\":2}", &m,
	         "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"meta\":{\"versionId\":\"2\"},"
	         "\"\\u0069dx\":1,"
	         "\"i\\\"d\":2}");
}

static void test_canonical_not_object(void **state)
{
	static const char *bad[] = {"", "   ", "[1,2]", "\"str\"", "12", "null"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		buf out;
		buf_init(&out, 0);
		assert_int_equal(json_canonical(bad[i], strlen(bad[i]), &META, &out), -1);
		buf_free(&out);
	}
}

static void test_canonical_toobig(void **state)
{
	const char *src = "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"A very long "
	                  "family name\"}]}";
	buf full;
	buf_init(&full, 0);
	assert_int_equal(json_canonical(src, strlen(src), &META, &full), 0);
	/* every limit below the full size fails; the exact size succeeds */
	for (size_t max = 1; max < full.len; max += 7) {
		buf out;
		buf_init(&out, max);
		assert_int_equal(json_canonical(src, strlen(src), &META, &out), BUF_TOOBIG);
		assert_true(out.len <= max);
		buf_free(&out);
	}
	buf out;
	buf_init(&out, full.len);
	assert_int_equal(json_canonical(src, strlen(src), &META, &out), 0);
	assert_string_equal(out.data, full.data);
	buf_free(&out);
	buf_free(&full);
}

static void test_canonical_len_bound(void **state)
{
	/* only `len` bytes are read; a copy without a terminating NUL would show overreads under
	 * ASan */
	const char *src = "{\"resourceType\":\"Basic\",\"s\":\"a\\\\\",\"n\":[1,2]}";
	size_t len = strlen(src);
	char *copy = malloc(len);
	memcpy(copy, src, len);
	buf out;
	buf_init(&out, 0);
	json_meta m = {"x", NULL, NULL};
	assert_int_equal(json_canonical(copy, len, &m, &out), 0);
	assert_string_equal(out.data, "{\"resourceType\":\"Basic\",\"id\":\"x\",\"meta\":{},\"s\":"
	                              "\"a\\\\\",\"n\":[1,2]}");
	buf_reset(&out);
	assert_int_equal(json_minify(copy, len, &out), 0);
	assert_int_equal(out.len, len);
	buf_reset(&out);
	assert_int_equal(json_pretty(copy, len, &out), 0);
	json_decref(load(out.data, out.len));
	free(copy);
	buf_free(&out);
}

/* ---- minify and pretty ---- */

static void test_minify(void **state)
{
	minify_is("", "");
	minify_is("  {  }  ", "{}");
	minify_is("{ \"a\" : [ 1 , 2 ] ,\n\t\"b\" : { } }\r\n", "{\"a\":[1,2],\"b\":{}}");
	minify_is("[ \"a b\" , \" \\\" \" , \"\\\\\" , \"x\\\\\\\" y\" ]",
	          "[\"a b\",\" \\\" \",\"\\\\\",\"x\\\\\\\" y\"]");
	minify_is("{\"k e y\" : \"v\\n a l\"}", "{\"k e y\":\"v\\n a l\"}");
	minify_is("[1.50, 1e3 ,-0.0, 2E-7]", "[1.50,1e3,-0.0,2E-7]");
	minify_is("[true , false , null]", "[true,false,null]");
	minify_is("\"only a string with  spaces\"", "\"only a string with  spaces\"");
	/* already minified input comes back byte-identical */
	const char *m = "{\"a\":[{\"b\":\"c d\"},1.0,\"\\u00e9\"]}";
	minify_is(m, m);
}

static void test_pretty_format(void **state)
{
	const char *src = "{\"a\":[1,{\"b\":\"x y: {z}, [w]\"}],\"c\":{},\"d\":[ ],\"e\":true}";
	const char *want = "{\n"
	                   "  \"a\": [\n"
	                   "    1,\n"
	                   "    {\n"
	                   "      \"b\": \"x y: {z}, [w]\"\n"
	                   "    }\n"
	                   "  ],\n"
	                   "  \"c\": {},\n"
	                   "  \"d\": [],\n"
	                   "  \"e\": true\n"
	                   "}";
	buf out;
	buf_init(&out, 0);
	assert_int_equal(json_pretty(src, strlen(src), &out), 0);
	assert_string_equal(out.data, want);
	/* pretty of pretty is the same, and minify undoes it */
	buf again;
	buf_init(&again, 0);
	assert_int_equal(json_pretty(out.data, out.len, &again), 0);
	assert_string_equal(again.data, want);
	buf_reset(&again);
	assert_int_equal(json_minify(out.data, out.len, &again), 0);
	assert_string_equal(again.data,
	                    "{\"a\":[1,{\"b\":\"x y: {z}, [w]\"}],\"c\":{},\"d\":[],\"e\":true}");
	buf_free(&again);
	buf_free(&out);

	buf_init(&out, 10);
	assert_int_equal(json_pretty(src, strlen(src), &out), BUF_TOOBIG);
	buf_free(&out);
}

static void pretty_round_trip(const char *src)
{
	buf out;
	buf_init(&out, 0);
	assert_int_equal(json_pretty(src, strlen(src), &out), 0);
	json_t *x = load(src, strlen(src));
	json_t *y = load(out.data, out.len);
	if (!json_equal(x, y))
		fail_msg("pretty changed the value:\n%s\n%s", src, out.data);
	/* the decimals' bytes survive too */
	buf min;
	buf_init(&min, 0);
	buf min2;
	buf_init(&min2, 0);
	assert_int_equal(json_minify(src, strlen(src), &min), 0);
	assert_int_equal(json_minify(out.data, out.len, &min2), 0);
	/* minify(pretty(x)) == minify(x) apart from the ": " the pretty writer adds inside no
	 * string */
	assert_string_equal(min.data ? min.data : "", min2.data ? min2.data : "");
	buf_free(&min);
	buf_free(&min2);
	json_decref(x);
	json_decref(y);
	buf_free(&out);
}

static void test_pretty_round_trip(void **state)
{
	pretty_round_trip("{}");
	pretty_round_trip("[]");
	pretty_round_trip("[[],{},[[]],{\"a\":{}}]");
	pretty_round_trip(
	        "{\"a\":1.50,\"b\":[1e3,-2.5E-3],\"c\":\"\\\"quoted\\\" \\\\ , : { } [ ]\"}");
	pretty_round_trip("  { \"deep\" : [ [ [ [ { \"x\" : [ null ] } ] ] ] ] }  ");
	pretty_round_trip("[1]");
	pretty_round_trip("{\"s\":\"line1\\nline2\\ttab\",\"t\":\"\\\\\"}");
}

/* ---- json_dump ---- */

static void dump_is(json_t *v, const char *want)
{
	buf out;
	buf_init(&out, 0);
	assert_int_equal(json_dump(v, &out), 0);
	if (strcmp(out.data, want) != 0)
		fail_msg("json_dump gave %s, wanted %s", out.data, want);
	json_t *back = load(out.data, out.len);
	if (!json_equal(back, v))
		fail_msg("json_dump output %s does not read back equal", out.data);
	json_decref(back);
	buf_free(&out);
	json_decref(v);
}

static void test_dump_scalars(void **state)
{
	dump_is(json_real(0.1), "0.1");
	dump_is(json_real(1.5), "1.5");
	dump_is(json_real(1.0), "1.0");
	dump_is(json_real(-2.0), "-2.0");
	dump_is(json_real(0.0), "0.0");
	dump_is(json_real(-0.0), "-0.0");
	dump_is(json_real(100.0), "100.0");
	dump_is(json_real(1e300), "1e+300");
	dump_is(json_real(1e-300), "1e-300");
	dump_is(json_real(1e21), "1e+21");
	dump_is(json_real(123456.789), "123456.789");
	dump_is(json_real(0.30000000000000004), "0.30000000000000004");
	dump_is(json_real(2.5e-7), "2.5e-07");
	dump_is(json_real(1.7976931348623157e308), "1.7976931348623157e+308");
	dump_is(json_integer(0), "0");
	dump_is(json_integer(-42), "-42");
	dump_is(json_integer(9223372036854775807LL), "9223372036854775807");
	dump_is(json_integer(-9223372036854775807LL - 1), "-9223372036854775808");
	dump_is(json_true(), "true");
	dump_is(json_false(), "false");
	dump_is(json_null(), "null");
	dump_is(json_string(""), "\"\"");
	dump_is(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
}

static void test_dump_reals_round_trip(void **state)
{
	/* any finite double comes back as the same double, and as a real */
	uint64_t x = 0x9E3779B97F4A7C15ULL;
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		double d;
		memcpy(&d, &x, sizeof d);
		if (!isfinite(d))
			continue;
		json_t *v = json_real(d);
		buf out;
		buf_init(&out, 0);
		assert_int_equal(json_dump(v, &out), 0);
		json_t *back = load(out.data, out.len);
		if (!json_is_real(back) || json_real_value(back) != d)
			fail_msg("%.17g dumped as %s", d, out.data);
		/* at most 17 significant digits; 15 when 15 are enough */
		char tmp[40];
		snprintf(tmp, sizeof tmp, "%.15g", d);
		if (strtod(tmp, NULL) == d && !strstr(out.data, tmp))
			fail_msg("%.17g dumped as %s, not the shorter %s", d, out.data, tmp);
		json_decref(back);
		json_decref(v);
		buf_free(&out);
	}
}

static void test_dump_containers(void **state)
{
	json_t *o = json_object();
	json_object_set_new(o, "z", json_integer(1));
	json_object_set_new(o, "a", json_real(0.5));
	json_object_set_new(o, "m", json_pack("[s,{s:[]},{}]", "x", "k"));
	json_object_set_new(o, "q\"k", json_null());
	dump_is(o, "{\"z\":1,\"a\":0.5,\"m\":[\"x\",{\"k\":[]},{}],\"q\\\"k\":null}");
	dump_is(json_array(), "[]");
	dump_is(json_object(), "{}");

	json_t *big = json_array();
	for (int i = 0; i < 1000; i++)
		json_array_append_new(big, json_integer(i));
	buf out;
	buf_init(&out, 100);
	assert_int_equal(json_dump(big, &out), BUF_TOOBIG);
	assert_true(out.len <= 100);
	buf_free(&out);
	json_decref(big);
}

/* ---- json_put_string ---- */

static void put_string_is(const char *s, const char *want)
{
	buf out;
	buf_init(&out, 0);
	assert_int_equal(json_put_string(&out, s), 0);
	if (strcmp(out.data, want) != 0)
		fail_msg("json_put_string gave %s, wanted %s", out.data, want);
	json_t *back = load(out.data, out.len);
	assert_string_equal(json_string_value(back), s);
	json_decref(back);
	buf_free(&out);
}

static void test_put_string(void **state)
{
	put_string_is("", "\"\"");
	put_string_is("plain", "\"plain\"");
	put_string_is("\"", "\"\\\"\"");
	put_string_is("\\", "\"\\\\\"");
	put_string_is("a/b", "\"a/b\""); /* slash needs no escape */
	put_string_is("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
	put_string_is("\x01\x1f x \x7f", "\"\\u0001\\u001f x \x7f\"");
	put_string_is("caf\xc3\xa9 \xf0\x9f\x98\x80",
	              "\"caf\xc3\xa9 \xf0\x9f\x98\x80\""); /* UTF-8 as is */
	put_string_is("end\\", "\"end\\\\\"");
	put_string_is("\"start", "\"\\\"start\"");
	/* bytes that are no well-formed UTF-8 (client text echoed in a
	 * message) become U+FFFD, so the literal is valid JSON (found by the
	 * http fuzz target: an invalid id in the URL made an unparsable
	 * OperationOutcome) */
	static const struct {
		const char *in, *want;
	} bad[] = {
	        {"Patient/\x93"
	         "1",
	         "\"Patient/\\ufffd1\""},                      /* a lone continuation byte */
	        {"a\xc3", "\"a\\ufffd\""},                     /* a sequence cut short */
	        {"\xc0\xaf", "\"\\ufffd\\ufffd\""},            /* overlong "/" */
	        {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""}, /* a surrogate */
	        {"\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""}, /* above U+10FFFF */
	        {"\xff\xc3\xa9\"", "\"\\ufffd\xc3\xa9\\\"\""}, /* good UTF-8 after a bad byte */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		buf b;
		buf_init(&b, 0);
		assert_int_equal(json_put_string(&b, bad[i].in), 0);
		if (strcmp(b.data, bad[i].want) != 0)
			fail_msg("json_put_string gave %s, wanted %s", b.data, bad[i].want);
		json_decref(load(b.data, b.len));
		buf_free(&b);
	}
	/* every control character round-trips */
	char all[32];
	for (int i = 1; i < 32; i++)
		all[i - 1] = (char)i;
	all[31] = 0;
	buf out;
	buf_init(&out, 0);
	assert_int_equal(json_put_string(&out, all), 0);
	json_t *back = load(out.data, out.len);
	assert_string_equal(json_string_value(back), all);
	json_decref(back);
	buf_free(&out);
	/* appends to what is there, and respects the maximum */
	buf_init(&out, 8);
	assert_int_equal(buf_puts(&out, "x:"), 0);
	assert_int_equal(json_put_string(&out, "ab"), 0);
	assert_string_equal(out.data, "x:\"ab\"");
	assert_int_equal(json_put_string(&out, "ab"), BUF_TOOBIG);
	buf_free(&out);
}

/* ---- property test over the official examples ---- */

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	buf b;
	buf_init(&b, 0);
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		buf_append(&b, tmp, n);
	fclose(f);
	return buf_detach(&b, len);
}

/* The numbers of a JSON text, in order, as their bytes, separated by spaces. */
static void number_tokens(const char *s, size_t len, buf *out)
{
	size_t i = 0;
	while (i < len) {
		if (s[i] == '"') {
			for (i++; i < len && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
			i++;
			continue;
		}
		if (s[i] == '-' || (s[i] >= '0' && s[i] <= '9')) {
			size_t from = i;
			while (i < len && strchr("+-.eE0123456789", s[i]))
				i++;
			buf_append(out, s + from, i - from);
			buf_putc(out, ' ');
			continue;
		}
		i++;
	}
}

/* What canonical(example) must read back as: id replaced, meta rebuilt. */
static json_t *expected(const json_t *orig, const json_meta *m)
{
	json_t *want = json_object();
	json_object_set(want, "resourceType", json_object_get(orig, "resourceType"));
	json_object_set_new(want, "id", json_string(m->id));
	json_t *meta = json_object();
	json_object_set_new(meta, "versionId", json_string(m->version_id));
	json_object_set_new(meta, "lastUpdated", json_string(m->last_updated));
	json_t *om = json_object_get(orig, "meta");
	const char *k;
	json_t *v;
	json_object_foreach(om, k, v) if (strcmp(k, "versionId") && strcmp(k, "lastUpdated"))
	        json_object_set(meta, k, v);
	json_object_set_new(want, "meta", meta);
	json_object_foreach((json_t *)orig, k, v) if (strcmp(k, "resourceType") &&
	                                              strcmp(k, "id") && strcmp(k, "meta"))
	        json_object_set(want, k, v);
	return want;
}

/* Keys of an object in iteration (insertion) order, for comparing orders. */
static void key_order(const json_t *o, buf *out)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)o, k, v)
	{
		buf_puts(out, k);
		buf_putc(out, '\n');
	}
}

static void check_example(const char *path, const char *name, size_t *checked)
{
	size_t len;
	char *src = read_file(path, &len);
	if (!src)
		fail_msg("cannot read %s", path);
	arena *a = arena_new(0);
	diag_list d;
	diag_init(&d, a);
	json_t *orig = NULL;
	if (json_parse(src, len, &orig, &d) != 0)
		fail_msg("%s: %s", name, d.items[0].message);
	json_meta m = {"canon-id", "42", "2024-05-06T07:08:09.123Z"};
	buf out;
	buf_init(&out, 0);
	assert_int_equal(json_canonical(src, len, &m, &out), 0);
	json_t *got = load(out.data, out.len);
	json_t *want = expected(orig, &m);
	if (!json_equal(got, want))
		fail_msg("%s: canonical form does not read back as the example", name);
	/* member order: resourceType, id, meta, then the example's own order */
	buf ko1, ko2;
	buf_init(&ko1, 0);
	buf_init(&ko2, 0);
	key_order(got, &ko1);
	key_order(want, &ko2);
	assert_string_equal(ko1.data, ko2.data);
	/* numbers byte for byte: meta holds none, so the sequences match */
	buf n1, n2;
	buf_init(&n1, 0);
	buf_init(&n2, 0);
	number_tokens(src, len, &n1);
	number_tokens(out.data, out.len, &n2);
	assert_string_equal(n1.data ? n1.data : "", n2.data ? n2.data : "");
	/* canonical is idempotent */
	buf again;
	buf_init(&again, 0);
	assert_int_equal(json_canonical(out.data, out.len, &m, &again), 0);
	assert_string_equal(again.data, out.data);
	/* and pretty-printing it reads back equal too */
	buf_reset(&again);
	assert_int_equal(json_pretty(out.data, out.len, &again), 0);
	json_t *pretty = load(again.data, again.len);
	assert_true(json_equal(pretty, got));
	json_decref(pretty);
	buf_free(&again);
	buf_free(&n1);
	buf_free(&n2);
	buf_free(&ko1);
	buf_free(&ko2);
	json_decref(want);
	json_decref(got);
	json_decref(orig);
	buf_free(&out);
	arena_free(a);
	free(src);
	(*checked)++;
}

static void test_official_examples(void **state)
{
	const char *shared = getenv("BRON_SHARED");
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/data/fhir-r4/examples",
	         shared && *shared ? shared : "../shared");
	DIR *dh = opendir(dir);
	if (!dh) {
		print_message("SKIP test_official_examples: %s not found (set BRON_SHARED to the "
		              "shared folder)\n",
		              dir);
		return;
	}
	size_t checked = 0;
	struct dirent *e;
	while ((e = readdir(dh)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n < 6 || strcmp(e->d_name + n - 5, ".json"))
			continue;
		char path[8192];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		check_example(path, e->d_name, &checked);
	}
	closedir(dh);
	print_message("checked %zu examples\n", checked);
	assert_true(checked > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_ok),
	        cmocka_unit_test(test_parse_errors),
	        cmocka_unit_test(test_canonical_order),
	        cmocka_unit_test(test_canonical_meta),
	        cmocka_unit_test(test_canonical_bytes),
	        cmocka_unit_test(test_canonical_escaped_keys),
	        cmocka_unit_test(test_canonical_not_object),
	        cmocka_unit_test(test_canonical_toobig),
	        cmocka_unit_test(test_canonical_len_bound),
	        cmocka_unit_test(test_minify),
	        cmocka_unit_test(test_pretty_format),
	        cmocka_unit_test(test_pretty_round_trip),
	        cmocka_unit_test(test_dump_scalars),
	        cmocka_unit_test(test_dump_reals_round_trip),
	        cmocka_unit_test(test_dump_containers),
	        cmocka_unit_test(test_put_string),
	        cmocka_unit_test(test_official_examples),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
