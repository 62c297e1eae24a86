/*
 * test_patch.c - unit tests of rest__json_patch (src/rest/patch.c, declared in
 * rest_int.h): the six operations of RFC 6902 with the RFC's own appendix A
 * examples, JSON Pointer escapes (RFC 6901), the "-" index, and the statuses
 * the FHIR PATCH interaction answers with: 400 for a malformed patch document,
 * 422 for a patch that cannot apply. Each case parses its documents with
 * jansson, applies the patch and compares the result; all memory is released
 * so ASan's leak check covers the failure paths too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json/json.h"
#include "rest/rest_int.h"

static json_t *parse(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
	if (!j)
		fail_msg("bad test JSON: %s: %s", err.text, text);
	return j;
}

/* Apply `patch` to `doc`; returns the status and, when it is 0, checks the result is `want`. */
static int apply(const char *doc, const char *patch, const char *want, const char **code)
{
	json_t *d = parse(doc);
	json_t *p = parse(patch);
	arena *a = arena_new(0);
	diag_list dl;
	diag_init(&dl, a);
	int st = rest__json_patch(d, p, &dl);
	if (st == 0) {
		assert_int_equal(dl.count, 0);
		json_t *w = parse(want);
		if (!json_equal(d, w)) {
			char *got = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
			print_message("patch %s\non %s\ngave %s\nwanted %s\n", patch, doc, got,
			              want);
			free(got);
			fail();
		}
		json_decref(w);
	} else {
		/* every failure says why, once, as an error */
		assert_int_equal(dl.count, 1);
		assert_int_equal(dl.errors, 1);
		assert_non_null(dl.items[0].message);
		if (code)
			*code = dl.items[0].code; /* static strings: valid after the arena goes */
	}
	arena_free(a);
	json_decref(p);
	json_decref(d);
	return st;
}

static void ok(const char *doc, const char *patch, const char *want)
{
	int st = apply(doc, patch, want, NULL);
	if (st != 0)
		fail_msg("patch %s on %s failed with %d, wanted %s", patch, doc, st, want);
}

static void fails(const char *doc, const char *patch, int status)
{
	const char *code = NULL;
	int st = apply(doc, patch, NULL, &code);
	if (st != status)
		fail_msg("patch %s on %s gave %d, wanted %d", patch, doc, st, status);
	assert_string_equal(code, status == 400 ? "invalid" : "processing");
}

/* ---- RFC 6902 appendix A ---- */

static void test_rfc_appendix_a(void **state)
{
	/* A.1 adding an object member */
	ok("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
	   "{\"baz\":\"qux\",\"foo\":\"bar\"}");
	/* A.2 adding an array element */
	ok("{\"foo\":[\"bar\",\"baz\"]}",
	   "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
	   "{\"foo\":[\"bar\",\"qux\",\"baz\"]}");
	/* A.3 removing an object member */
	ok("{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]",
	   "{\"foo\":\"bar\"}");
	/* A.4 removing an array element */
	ok("{\"foo\":[\"bar\",\"qux\",\"baz\"]}", "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]",
	   "{\"foo\":[\"bar\",\"baz\"]}");
	/* A.5 replacing a value */
	ok("{\"baz\":\"qux\",\"foo\":\"bar\"}",
	   "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
	   "{\"baz\":\"boo\",\"foo\":\"bar\"}");
	/* A.6 moving a value */
	ok("{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\"}}",
	   "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
	   "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":\"fred\"}}");
	/* A.7 moving an array element */
	ok("{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
	   "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]",
	   "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}");
	/* A.8 testing a value: success */
	ok("{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
	   "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},{\"op\":\"test\",\"path\":\"/"
	   "foo/1\",\"value\":2}]",
	   "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}");
	/* A.9 testing a value: error */
	fails("{\"baz\":\"qux\"}", "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]", 422);
	/* A.10 adding a nested member object */
	ok("{\"foo\":\"bar\"}",
	   "[{\"op\":\"add\",\"path\":\"/child\",\"value\":{\"grandchild\":{}}}]",
	   "{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}");
	/* A.11 ignoring unrecognized elements */
	ok("{\"foo\":\"bar\"}",
	   "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"xyz\":123}]",
	   "{\"foo\":\"bar\",\"baz\":\"qux\"}");
	/* A.12 adding to a nonexistent target */
	fails("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]",
	      422);
	/* A.14 ~ escape ordering */
	ok("{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10}]",
	   "{\"/\":9,\"~1\":10}");
	/* A.15 comparing strings and numbers */
	fails("{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":\"10\"}]", 422);
	/* A.16 adding an array value */
	ok("{\"foo\":[\"bar\"]}",
	   "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\",\"def\"]}]",
	   "{\"foo\":[\"bar\",[\"abc\",\"def\"]]}");
}

static void test_rfc_a13_duplicate_op(void **state)
{
	/* A.13 invalid JSON Patch document: the duplicate "op" is caught by json_parse */
	const char *patch =
	        "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"op\":\"remove\"}]";
	arena *a = arena_new(0);
	diag_list d;
	diag_init(&d, a);
	json_t *j = NULL;
	assert_int_equal(json_parse(patch, strlen(patch), &j, &d), -1);
	assert_null(j);
	assert_int_equal(d.errors, 1);
	arena_free(a);
}

/* ---- each operation in more detail ---- */

static void test_add(void **state)
{
	/* replaces an existing member */
	ok("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/a\",\"value\":[2]}]", "{\"a\":[2]}");
	/* at the start, in the middle, at the end (by index and by "-") of an array */
	ok("[1,2]", "[{\"op\":\"add\",\"path\":\"/0\",\"value\":0}]", "[0,1,2]");
	ok("[1,2]", "[{\"op\":\"add\",\"path\":\"/2\",\"value\":3}]", "[1,2,3]");
	ok("[1,2]", "[{\"op\":\"add\",\"path\":\"/-\",\"value\":3}]", "[1,2,3]");
	ok("[]", "[{\"op\":\"add\",\"path\":\"/-\",\"value\":{}}]", "[{}]");
	ok("[]", "[{\"op\":\"add\",\"path\":\"/0\",\"value\":null}]", "[null]");
	/* null is a value like any other */
	ok("{}", "[{\"op\":\"add\",\"path\":\"/n\",\"value\":null}]", "{\"n\":null}");
	/* deep paths, the empty key, "-" as an object key */
	ok("{\"a\":{\"b\":[{\"c\":1}]}}", "[{\"op\":\"add\",\"path\":\"/a/b/0/d\",\"value\":2}]",
	   "{\"a\":{\"b\":[{\"c\":1,\"d\":2}]}}");
	ok("{}", "[{\"op\":\"add\",\"path\":\"/\",\"value\":1}]", "{\"\":1}");
	ok("{\"\":{}}", "[{\"op\":\"add\",\"path\":\"//x\",\"value\":1}]", "{\"\":{\"x\":1}}");
	ok("{}", "[{\"op\":\"add\",\"path\":\"/-\",\"value\":1}]", "{\"-\":1}");
	/* ~0 and ~1 in the last token and in the middle */
	ok("{}", "[{\"op\":\"add\",\"path\":\"/a~1b~0c\",\"value\":1}]", "{\"a/b~c\":1}");
	ok("{\"x/y\":{}}", "[{\"op\":\"add\",\"path\":\"/x~1y/~0\",\"value\":1}]",
	   "{\"x/y\":{\"~\":1}}");
	ok("{}", "[{\"op\":\"add\",\"path\":\"/~01\",\"value\":1}]", "{\"~1\":1}");
	/* the value is copied: later ops on it do not change the patch */
	ok("{}",
	   "[{\"op\":\"add\",\"path\":\"/a\",\"value\":{\"x\":1}},{\"op\":\"add\",\"path\":\"/a/"
	   "y\",\"value\":2},"
	   "{\"op\":\"add\",\"path\":\"/b\",\"value\":{\"x\":1}}]",
	   "{\"a\":{\"x\":1,\"y\":2},\"b\":{\"x\":1}}");
	/* the whole document */
	ok("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"\",\"value\":{\"b\":2}}]", "{\"b\":2}");
	/* nowhere to add */
	fails("[1,2]", "[{\"op\":\"add\",\"path\":\"/3\",\"value\":3}]", 422);
	fails("[1,2]", "[{\"op\":\"add\",\"path\":\"/01\",\"value\":3}]", 422);
	fails("[1,2]", "[{\"op\":\"add\",\"path\":\"/-1\",\"value\":3}]", 422);
	fails("[1,2]", "[{\"op\":\"add\",\"path\":\"/x\",\"value\":3}]", 422);
	fails("[1,2]", "[{\"op\":\"add\",\"path\":\"/1e0\",\"value\":3}]", 422);
	fails("[1,2]", "[{\"op\":\"add\",\"path\":\"/99999999999999999999999\",\"value\":3}]", 422);
	fails("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/a/b\",\"value\":3}]", 422);
	fails("{\"a\":\"s\"}", "[{\"op\":\"add\",\"path\":\"/a/0\",\"value\":3}]", 422);
	fails("{\"a\":[1]}", "[{\"op\":\"add\",\"path\":\"/a/-/x\",\"value\":3}]", 422);
	fails("{}", "[{\"op\":\"add\",\"path\":\"/x/y/z\",\"value\":3}]", 422);
}

static void test_remove(void **state)
{
	ok("{\"a\":1,\"b\":2}", "[{\"op\":\"remove\",\"path\":\"/a\"}]", "{\"b\":2}");
	ok("[1,2,3]", "[{\"op\":\"remove\",\"path\":\"/0\"}]", "[2,3]");
	ok("[1,2,3]", "[{\"op\":\"remove\",\"path\":\"/2\"}]", "[1,2]");
	ok("{\"a\":{\"b\":{\"c\":[1,{\"d\":1,\"e\":2}]}}}",
	   "[{\"op\":\"remove\",\"path\":\"/a/b/c/1/d\"}]",
	   "{\"a\":{\"b\":{\"c\":[1,{\"e\":2}]}}}");
	ok("{\"a/b\":1,\"m~n\":2}",
	   "[{\"op\":\"remove\",\"path\":\"/a~1b\"},{\"op\":\"remove\",\"path\":\"/m~0n\"}]", "{}");
	ok("{\"a\":null}", "[{\"op\":\"remove\",\"path\":\"/a\"}]", "{}");
	/* missing paths */
	fails("{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"/b\"}]", 422);
	fails("{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"/a/b\"}]", 422);
	fails("[1,2,3]", "[{\"op\":\"remove\",\"path\":\"/3\"}]", 422);
	fails("[1,2,3]", "[{\"op\":\"remove\",\"path\":\"/-\"}]", 422);
	fails("[]", "[{\"op\":\"remove\",\"path\":\"/0\"}]", 422);
	/* the same member twice: the second finds nothing */
	fails("{\"a\":1}",
	      "[{\"op\":\"remove\",\"path\":\"/a\"},{\"op\":\"remove\",\"path\":\"/a\"}]", 422);
}

static void test_replace(void **state)
{
	ok("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":{\"b\":[1]}}]",
	   "{\"a\":{\"b\":[1]}}");
	ok("[1,2,3]", "[{\"op\":\"replace\",\"path\":\"/1\",\"value\":9}]", "[1,9,3]");
	ok("[1,2,3]", "[{\"op\":\"replace\",\"path\":\"/2\",\"value\":9}]", "[1,2,9]");
	ok("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":null}]", "{\"a\":null}");
	/* member order is kept when a member is replaced */
	json_t *d = parse("{\"x\":1,\"a\":2,\"z\":3}");
	json_t *p = parse("[{\"op\":\"replace\",\"path\":\"/a\",\"value\":5}]");
	arena *ar = arena_new(0);
	diag_list dl;
	diag_init(&dl, ar);
	assert_int_equal(rest__json_patch(d, p, &dl), 0);
	char *s = json_dumps(d, JSON_COMPACT);
	assert_string_equal(s, "{\"x\":1,\"a\":5,\"z\":3}");
	free(s);
	json_decref(d);
	json_decref(p);
	arena_free(ar);
	/* the whole document */
	ok("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":{\"b\":2}}]", "{\"b\":2}");
	ok("[1]", "[{\"op\":\"replace\",\"path\":\"\",\"value\":[2,3]}]", "[2,3]");
	/* the caller holds the document, so the root cannot change between object and array */
	fails("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":[1]}]", 422);
	fails("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"\",\"value\":\"s\"}]", 422);
	/* replace needs something to replace */
	fails("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"/b\",\"value\":1}]", 422);
	fails("[1]", "[{\"op\":\"replace\",\"path\":\"/1\",\"value\":1}]", 422);
	fails("[1]", "[{\"op\":\"replace\",\"path\":\"/-\",\"value\":1}]", 422);
	fails("{\"a\":{}}", "[{\"op\":\"replace\",\"path\":\"/a/b/c\",\"value\":1}]", 422);
}

static void test_move(void **state)
{
	ok("{\"a\":1}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/b\"}]", "{\"b\":1}");
	/* onto an existing member: replaces it */
	ok("{\"a\":1,\"b\":2}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/b\"}]", "{\"b\":1}");
	/* to itself: nothing changes */
	ok("{\"a\":1}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a\"}]", "{\"a\":1}");
	ok("[1,2,3]", "[{\"op\":\"move\",\"from\":\"/1\",\"path\":\"/1\"}]", "[1,2,3]");
	/* within and between arrays, to "-" */
	ok("[1,2,3]", "[{\"op\":\"move\",\"from\":\"/0\",\"path\":\"/-\"}]", "[2,3,1]");
	ok("[1,2,3]", "[{\"op\":\"move\",\"from\":\"/2\",\"path\":\"/0\"}]", "[3,1,2]");
	ok("{\"a\":[1,2],\"b\":[]}", "[{\"op\":\"move\",\"from\":\"/a/0\",\"path\":\"/b/0\"}]",
	   "{\"a\":[2],\"b\":[1]}");
	/* a parent onto its own child's place is fine; a child up over its parent too */
	ok("{\"a\":{\"b\":{\"c\":1}}}", "[{\"op\":\"move\",\"from\":\"/a/b\",\"path\":\"/a\"}]",
	   "{\"a\":{\"c\":1}}");
	/* a member up to the root */
	ok("{\"a\":{\"b\":1},\"c\":2}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"\"}]",
	   "{\"b\":1}");
	/* the root into its own child */
	fails("{\"a\":1}", "[{\"op\":\"move\",\"from\":\"\",\"path\":\"/b\"}]", 400);
	/* "/a" into "/ab" is not into its own child */
	ok("{\"a\":1}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/ab\"}]", "{\"ab\":1}");
	/* failures */
	fails("{\"a\":{\"b\":1}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/c\"}]", 400);
	fails("{\"a\":1}", "[{\"op\":\"move\",\"from\":\"/x\",\"path\":\"/b\"}]", 422);
	fails("{\"a\":1}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/x/y\"}]", 422);
	fails("[1]", "[{\"op\":\"move\",\"from\":\"/-\",\"path\":\"/0\"}]", 422);
	fails("[1]", "[{\"op\":\"move\",\"from\":\"/0\",\"path\":\"/2\"}]", 422);
}

static void test_copy(void **state)
{
	ok("{\"a\":{\"x\":[1]}}", "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/b\"}]",
	   "{\"a\":{\"x\":[1]},\"b\":{\"x\":[1]}}");
	/* the copy is deep: changing it leaves the original */
	ok("{\"a\":{\"x\":[1]}}",
	   "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/b\"},{\"op\":\"add\",\"path\":\"/b/x/"
	   "-\",\"value\":2}]",
	   "{\"a\":{\"x\":[1]},\"b\":{\"x\":[1,2]}}");
	ok("[1,2]", "[{\"op\":\"copy\",\"from\":\"/0\",\"path\":\"/-\"}]", "[1,2,1]");
	ok("[1,2]", "[{\"op\":\"copy\",\"from\":\"/1\",\"path\":\"/0\"}]", "[2,1,2]");
	/* into its own child is allowed for copy */
	ok("{\"a\":{\"b\":1}}", "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/a/c\"}]",
	   "{\"a\":{\"b\":1,\"c\":{\"b\":1}}}");
	/* the whole document as the source */
	ok("{\"a\":1}", "[{\"op\":\"copy\",\"from\":\"\",\"path\":\"/b\"}]",
	   "{\"a\":1,\"b\":{\"a\":1}}");
	fails("{\"a\":1}", "[{\"op\":\"copy\",\"from\":\"/x\",\"path\":\"/b\"}]", 422);
	fails("{\"a\":1}", "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/x/b\"}]", 422);
}

static void test_test(void **state)
{
	const char *doc = "{\"s\":\"x\",\"n\":1,\"r\":1.5,\"z\":1.0,\"b\":true,\"nul\":null,"
	                  "\"arr\":[1,{\"k\":[]}],"
	                  "\"obj\":{\"p\":1,\"q\":[2]}}";
	ok(doc, "[{\"op\":\"test\",\"path\":\"/s\",\"value\":\"x\"}]", doc);
	ok(doc, "[{\"op\":\"test\",\"path\":\"/r\",\"value\":1.5}]", doc);
	ok(doc, "[{\"op\":\"test\",\"path\":\"/b\",\"value\":true}]", doc);
	ok(doc, "[{\"op\":\"test\",\"path\":\"/nul\",\"value\":null}]", doc);
	ok(doc, "[{\"op\":\"test\",\"path\":\"/arr\",\"value\":[1,{\"k\":[]}]}]", doc);
	ok(doc, "[{\"op\":\"test\",\"path\":\"/arr/1/k\",\"value\":[]}]", doc);
	/* objects are equal regardless of member order */
	ok(doc, "[{\"op\":\"test\",\"path\":\"/obj\",\"value\":{\"q\":[2],\"p\":1}}]", doc);
	/* numbers are equal when their values are, integer or not (RFC 6902 4.6) */
	ok(doc, "[{\"op\":\"test\",\"path\":\"/n\",\"value\":1.0}]", doc);
	ok(doc, "[{\"op\":\"test\",\"path\":\"/z\",\"value\":1}]", doc);
	ok(doc, "[{\"op\":\"test\",\"path\":\"/n\",\"value\":1e0}]", doc);
	ok(doc, "[{\"op\":\"test\",\"path\":\"/obj\",\"value\":{\"p\":1.0,\"q\":[2.0]}}]", doc);
	/* the whole document */
	ok("{\"a\":1}", "[{\"op\":\"test\",\"path\":\"\",\"value\":{\"a\":1}}]", "{\"a\":1}");
	/* failures: different value, type, length, or no such path */
	fails(doc, "[{\"op\":\"test\",\"path\":\"/n\",\"value\":2}]", 422);
	fails(doc, "[{\"op\":\"test\",\"path\":\"/n\",\"value\":\"1\"}]", 422);
	fails(doc, "[{\"op\":\"test\",\"path\":\"/r\",\"value\":1}]", 422);
	fails(doc, "[{\"op\":\"test\",\"path\":\"/b\",\"value\":1}]", 422);
	fails(doc, "[{\"op\":\"test\",\"path\":\"/nul\",\"value\":false}]", 422);
	fails(doc, "[{\"op\":\"test\",\"path\":\"/arr\",\"value\":[1]}]", 422);
	fails(doc, "[{\"op\":\"test\",\"path\":\"/arr\",\"value\":[{\"k\":[]},1]}]", 422);
	fails(doc, "[{\"op\":\"test\",\"path\":\"/obj\",\"value\":{\"p\":1}}]", 422);
	fails(doc, "[{\"op\":\"test\",\"path\":\"/obj\",\"value\":{\"p\":1,\"q\":[2],\"r\":0}}]",
	      422);
	fails(doc, "[{\"op\":\"test\",\"path\":\"/missing\",\"value\":null}]", 422);
	fails(doc, "[{\"op\":\"test\",\"path\":\"/arr/5\",\"value\":1}]", 422);
	fails("{\"big\":9007199254740993}",
	      "[{\"op\":\"test\",\"path\":\"/big\",\"value\":9007199254740992}]", 422);
	/* a failed test stops the patch: later ops do not run */
	fails("{\"a\":1}",
	      "[{\"op\":\"test\",\"path\":\"/a\",\"value\":2},{\"op\":\"remove\",\"path\":\"/a\"}]",
	      422);
}

static void test_malformed(void **state)
{
	const char *doc = "{\"a\":1,\"arr\":[1]}";
	/* not an array of operations */
	fails(doc, "{\"op\":\"remove\",\"path\":\"/a\"}", 400);
	fails(doc, "\"remove\"", 400);
	fails(doc, "[1]", 400);
	fails(doc, "[[]]", 400);
	fails(doc, "[null]", 400);
	/* op and path must be strings */
	fails(doc, "[{\"path\":\"/a\"}]", 400);
	fails(doc, "[{\"op\":\"remove\"}]", 400);
	fails(doc, "[{\"op\":1,\"path\":\"/a\"}]", 400);
	fails(doc, "[{\"op\":\"remove\",\"path\":1}]", 400);
	fails(doc, "[{\"op\":\"remove\",\"path\":null}]", 400);
	/* unknown operations, case matters */
	fails(doc, "[{\"op\":\"delete\",\"path\":\"/a\"}]", 400);
	fails(doc, "[{\"op\":\"Add\",\"path\":\"/b\",\"value\":1}]", 400);
	fails(doc, "[{\"op\":\"\",\"path\":\"/a\"}]", 400);
	/* missing value / from */
	fails(doc, "[{\"op\":\"add\",\"path\":\"/b\"}]", 400);
	fails(doc, "[{\"op\":\"replace\",\"path\":\"/a\"}]", 400);
	fails(doc, "[{\"op\":\"test\",\"path\":\"/a\"}]", 400);
	fails(doc, "[{\"op\":\"move\",\"path\":\"/b\"}]", 400);
	fails(doc, "[{\"op\":\"copy\",\"path\":\"/b\"}]", 400);
	fails(doc, "[{\"op\":\"move\",\"path\":\"/b\",\"from\":5}]", 400);
	/* paths that are not JSON Pointers */
	fails(doc, "[{\"op\":\"remove\",\"path\":\"a\"}]", 400);
	fails(doc, "[{\"op\":\"add\",\"path\":\"arr/0\",\"value\":1}]", 400);
	fails(doc, "[{\"op\":\"copy\",\"from\":\"a\",\"path\":\"/b\"}]", 400);
	fails(doc, "[{\"op\":\"move\",\"from\":\"a\",\"path\":\"/b\"}]", 400);
	/* a bad op after good ones still fails the whole patch */
	fails(doc, "[{\"op\":\"remove\",\"path\":\"/a\"},{\"op\":\"bogus\",\"path\":\"/a\"}]", 400);
	/* and the diagnostic names the op's index */
	json_t *d = parse(doc);
	json_t *p = parse("[{\"op\":\"test\",\"path\":\"/"
	                  "a\",\"value\":1},{\"op\":\"bogus\",\"path\":\"/a\"}]");
	arena *a = arena_new(0);
	diag_list dl;
	diag_init(&dl, a);
	assert_int_equal(rest__json_patch(d, p, &dl), 400);
	assert_string_equal(dl.items[0].expression, "patch[1]");
	assert_non_null(strstr(dl.items[0].message, "bogus"));
	json_decref(d);
	json_decref(p);
	arena_free(a);
}

static void test_empty_patch(void **state)
{
	ok("{\"a\":1}", "[]", "{\"a\":1}");
}

static void test_sequence(void **state)
{
	/* a FHIR-like patch: ops see the effect of the ones before them */
	ok("{\"resourceType\":\"Patient\",\"id\":\"p\",\"name\":[{\"family\":\"Doe\"}],\"active\":"
	   "false}",
	   "[{\"op\":\"test\",\"path\":\"/active\",\"value\":false},"
	   "{\"op\":\"replace\",\"path\":\"/active\",\"value\":true},"
	   "{\"op\":\"add\",\"path\":\"/name/0/given\",\"value\":[\"Jan\"]},"
	   "{\"op\":\"add\",\"path\":\"/name/0/given/-\",\"value\":\"Piet\"},"
	   "{\"op\":\"copy\",\"from\":\"/name/0\",\"path\":\"/name/-\"},"
	   "{\"op\":\"replace\",\"path\":\"/name/1/family\",\"value\":\"Smit\"},"
	   "{\"op\":\"move\",\"from\":\"/name/1\",\"path\":\"/name/0\"},"
	   "{\"op\":\"remove\",\"path\":\"/name/1/given/0\"},"
	   "{\"op\":\"test\",\"path\":\"/name/1/given\",\"value\":[\"Piet\"]}]",
	   "{\"resourceType\":\"Patient\",\"id\":\"p\",\"name\":[{\"family\":\"Smit\",\"given\":["
	   "\"Jan\",\"Piet\"]},"
	   "{\"family\":\"Doe\",\"given\":[\"Piet\"]}],\"active\":true}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_rfc_appendix_a),
	        cmocka_unit_test(test_rfc_a13_duplicate_op),
	        cmocka_unit_test(test_add),
	        cmocka_unit_test(test_remove),
	        cmocka_unit_test(test_replace),
	        cmocka_unit_test(test_move),
	        cmocka_unit_test(test_copy),
	        cmocka_unit_test(test_test),
	        cmocka_unit_test(test_malformed),
	        cmocka_unit_test(test_empty_patch),
	        cmocka_unit_test(test_sequence),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
