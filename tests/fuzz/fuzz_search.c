/*
 * fuzz_search.c - libFuzzer target for the search-parameter parser and
 * compiler (src/search/parse.c, compile.c). Input: the first line is the
 * resource type searched (empty: a system-level search; a trailing '!' asks
 * for Prefer: handling=strict); the rest is a query string
 * ("name=pet&_include=Patient:organization&_sort=-birthdate"), split at '&'
 * and '=' and percent-decoded as the HTTP layer does. A query that parses is
 * compiled for both SQL dialects (plus keyset paging, the patient
 * compartment and every _include/_revinclude); the SQLite SQL is run on a
 * real (empty) store opened once in LLVMFuzzerInitialize, where a store
 * error would be a 500, so it counts as a finding; for the PostgreSQL SQL
 * the number of '?' placeholders must equal the binds. Built and run by
 * tests/fuzz/run.sh; replayed by tests/suites/fuzz-replay.sh.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/search.h"
#include "store/store.h"
#include "tmpdir.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static store *st;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (search_init())
		abort();
	const char *dir = fuzz_tmpdir("search");
	store_options so = {.dir = dir, .sync_full = 0};
	char *err = NULL;
	if (store_open(&so, &st, &err)) {
		fprintf(stderr, "fuzz_search: store_open: %s\n", err ? err : "?");
		abort();
	}
	return 0;
}

static void broken(const char *what, const char *detail, const uint8_t *data, size_t size)
{
	fprintf(stderr, "fuzz_search: %s (%s) for input: %.*s\n", what, detail ? detail : "",
	        (int)(size > 300 ? 300 : size), (const char *)data);
	abort();
}

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10);
}

/* Percent-decode (and '+' to space) s[0..n) into an arena string. */
static char *decode(arena *a, const char *s, size_t n)
{
	char *o = arena_alloc(a, n + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n + 0 && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			o[k++] = (char)(hexval((unsigned char)s[i + 1]) * 16 +
			                hexval((unsigned char)s[i + 2]));
			i += 2;
		} else {
			o[k++] = s[i] == '+' ? ' ' : s[i];
		}
	}
	o[k] = 0;
	return o;
}

static size_t placeholders(const char *s)
{
	size_t n = 0;
	for (; s && *s; s++)
		n += *s == '?';
	return n;
}

static void run_sql(const search_sql *sql, search_dialect dialect, arena *a, const uint8_t *data,
                    size_t size)
{
	if (dialect == SEARCH_POSTGRES) {
		if (placeholders(sql->where) + placeholders(sql->order_by) != sql->nbinds)
			broken("placeholders and binds differ", sql->where, data, size);
		return;
	}
	store_version *items;
	size_t n;
	int more;
	int rc = store_search(st, a, sql, 10, 0, &items, &n, &more);
	if (rc == STORE_ERROR)
		broken("store_search failed", sql->where, data, size);
	int64_t count;
	if (store_search_count(st, sql, &count) == STORE_ERROR)
		broken("store_search_count failed", sql->where, data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	const char *s = (const char *)data;
	const char *nl = memchr(s, '\n', size);
	size_t tlen = nl ? (size_t)(nl - s) : size;
	arena *a = arena_new(0);
	int strict = tlen > 0 && s[tlen - 1] == '!';
	char *type = tlen - (size_t)strict ? arena_strndup(a, s, tlen - (size_t)strict) : NULL;
	if (type && memchr(type, 0, tlen - (size_t)strict)) {
		arena_free(a);
		return 0; /* a URL path segment has no NUL */
	}
	const char *q = nl ? nl + 1 : s + size;
	size_t qlen = (size_t)(s + size - q);
	size_t cap = 1;
	for (size_t i = 0; i < qlen; i++)
		cap += q[i] == '&';
	const char **keys = arena_alloc(a, cap * sizeof *keys);
	const char **vals = arena_alloc(a, cap * sizeof *vals);
	size_t n = 0;
	for (size_t i = 0; i < qlen;) {
		const char *amp = memchr(q + i, '&', qlen - i);
		size_t end = amp ? (size_t)(amp - q) : qlen;
		const char *eq = memchr(q + i, '=', end - i);
		size_t kend = eq ? (size_t)(eq - q) : end;
		if (kend > i) {
			keys[n] = decode(a, q + i, kend - i);
			vals[n] = eq ? decode(a, eq + 1, end - kend - 1) : "";
			n++;
		}
		i = end + 1;
	}
	diag_list d;
	diag_init(&d, a);
	search_query *sq;
	if (search_parse(a, type, keys, vals, n, strict, &sq, &d) == 0) {
		(void)search_query_count(sq);
		(void)search_query_total(sq);
		(void)search_query_summary(sq);
		(void)search_query_elements(sq);
		(void)search_query_types(sq);
		(void)search_query_canonical(sq);
		const char *joined[32];
		(void)search_query_joined_types(sq, joined, 32);
		for (int dialect = SEARCH_SQLITE; dialect <= SEARCH_POSTGRES; dialect++) {
			search_sql sql;
			if (search_compile(sq, (search_dialect)dialect, 0, a, &sql, &d) == 0)
				run_sql(&sql, (search_dialect)dialect, a, data, size);
			if (search_compile(sq, (search_dialect)dialect, 42, a, &sql, &d) == 0)
				run_sql(&sql, (search_dialect)dialect, a, data, size);
			const search_include *incs;
			size_t ninc = search_query_includes(sq, &incs);
			static const int64_t rids[] = {1, 2, 3};
			for (size_t i = 0; i < ninc; i++)
				if (search_compile_include(&incs[i], rids, 3,
				                           (search_dialect)dialect, a, &sql,
				                           &d) == 0)
					run_sql(&sql, (search_dialect)dialect, a, data, size);
		}
		if (type && !strcmp(type, "Observation")) {
			search_query_in_patient_compartment(sq, "p1");
			search_sql sql;
			if (search_compile(sq, SEARCH_SQLITE, 0, a, &sql, &d) == 0)
				run_sql(&sql, SEARCH_SQLITE, a, data, size);
		}
	}
	arena_free(a);
	return 0;
}
