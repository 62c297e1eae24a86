/*
 * test_base.c - unit tests of src/base (base.h): the arena (alignment, growth
 * across blocks, big allocations, reset, printf), bounded buffers (growth, the
 * hard maximum, detach, printf), the diagnostics list (limit, error count),
 * base_parse_long and the instant / HTTP-date formatters and parsers. The test
 * includes base.c to look at the arena's block list; nothing else of libbron
 * is linked in. Each case owns what it allocates and frees it before returning.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../../src/base/base.c"

/* ---- arena ---- */

static size_t block_count(const arena *a)
{
	size_t n = 0;
	for (const arena_block *b = a->head; b; b = b->next)
		n++;
	return n;
}

/* Whether [p, p+n) lies inside one block of the arena. */
static int in_arena(const arena *a, const void *p, size_t n)
{
	for (const arena_block *b = a->head; b; b = b->next) {
		const char *lo = (const char *)b->data;
		if ((const char *)p >= lo && (const char *)p + n <= lo + b->size)
			return 1;
	}
	return 0;
}

static void test_arena_alignment(void **state)
{
	arena *a = arena_new(0);
	unsigned char *ptrs[200];
	size_t sizes[200];
	size_t total = 0;
	for (size_t i = 0; i < 200; i++) {
		sizes[i] = i % 37 + (i % 3 == 0 ? 0 : 1); /* includes 0, 1, odd sizes */
		ptrs[i] = arena_alloc(a, sizes[i]);
		assert_non_null(ptrs[i]);
		assert_int_equal((uintptr_t)ptrs[i] % 16, 0);
		assert_true(in_arena(a, ptrs[i], sizes[i]));
		memset(ptrs[i], (int)(i & 0xff), sizes[i]);
		total += (sizes[i] + 15) & ~(size_t)15;
	}
	/* nothing overlapped: every allocation still holds its own pattern */
	for (size_t i = 0; i < 200; i++)
		for (size_t k = 0; k < sizes[i]; k++)
			assert_int_equal(ptrs[i][k], i & 0xff);
	assert_int_equal(arena_used(a), total);
	/* long double / max_align_t-sized data is usable at the returned address */
	long double *ld = arena_alloc(a, 4 * sizeof *ld);
	for (int i = 0; i < 4; i++)
		ld[i] = (long double)i / 3;
	assert_true(ld[3] > 0.99L && ld[3] < 1.01L);
	arena_free(a);
}

static void test_arena_growth(void **state)
{
	arena *a = arena_new(64);
	assert_int_equal(block_count(a), 1);
	char *p[100];
	for (int i = 0; i < 100; i++) {
		p[i] = arena_alloc(a, 40);
		snprintf(p[i], 40, "allocation number %d", i);
	}
	assert_true(block_count(a) > 1);
	assert_int_equal(arena_used(a), 100 * 48);
	for (int i = 0; i < 100; i++) {
		char want[40];
		snprintf(want, sizeof want, "allocation number %d", i);
		assert_string_equal(p[i], want);
		assert_true(in_arena(a, p[i], 40));
	}
	/* blocks grow geometrically, so 100 small allocations need few blocks */
	assert_true(block_count(a) <= 8);
	arena_free(a);
}

static void test_arena_big_allocations(void **state)
{
	arena *a = arena_new(0);
	char *small = arena_strdup(a, "before");
	size_t big = (size_t)5 << 20; /* bigger than any block the arena makes by itself */
	unsigned char *b = arena_alloc(a, big);
	assert_int_equal((uintptr_t)b % 16, 0);
	assert_true(in_arena(a, b, big));
	memset(b, 0xab, big);
	char *after = arena_strdup(a, "after");
	assert_true(in_arena(a, after, 6));
	assert_string_equal(small, "before");
	assert_string_equal(after, "after");
	assert_int_equal(b[0], 0xab);
	assert_int_equal(b[big - 1], 0xab);
	/* a big allocation does not make every later block as big */
	for (int i = 0; i < 1000; i++)
		arena_alloc(a, 1000);
	for (const arena_block *k = a->head; k; k = k->next)
		assert_true(k->size <= ((size_t)1 << 20) || k->size == big);
	assert_true(arena_used(a) >= big + 1000 * 1000);
	/* calloc zeroes even memory that held something before a reset */
	arena_reset(a);
	unsigned char *z = arena_calloc(a, 4096);
	for (size_t i = 0; i < 4096; i++)
		assert_int_equal(z[i], 0);
	arena_free(a);
}

static void test_arena_reset(void **state)
{
	arena *a = arena_new(128);
	void *first = arena_alloc(a, 16);
	for (int i = 0; i < 50; i++)
		arena_alloc(a, 100);
	assert_true(block_count(a) > 1);
	assert_true(arena_used(a) > 0);
	arena_reset(a);
	assert_int_equal(block_count(a), 1);
	assert_int_equal(arena_used(a), 0);
	/* the first block is kept and handed out again from its start */
	assert_ptr_equal(arena_alloc(a, 16), first);
	assert_int_equal(arena_used(a), 16);
	/* and the arena grows again after a reset */
	for (int i = 0; i < 50; i++)
		arena_alloc(a, 100);
	assert_true(block_count(a) > 1);
	arena_reset(a);
	arena_reset(a); /* twice in a row is fine */
	assert_int_equal(block_count(a), 1);
	arena_free(a);
	arena_free(NULL);
}

static void test_arena_strings(void **state)
{
	arena *a = arena_new(32);
	assert_string_equal(arena_strdup(a, ""), "");
	assert_string_equal(arena_strdup(a, "hello"), "hello");
	assert_string_equal(arena_strndup(a, "hello", 3), "hel");
	assert_string_equal(arena_strndup(a, "hi", 10), "hi");
	assert_string_equal(arena_strndup(a, "hi", 0), "");
	char *m = arena_memdup(a, "a\0b", 3);
	assert_memory_equal(m, "a\0b", 3);
	assert_int_equal(m[3], 0);
	char *e = arena_memdup(a, NULL, 0);
	assert_string_equal(e, "");
	assert_string_equal(arena_printf(a, "%d-%s-%.2f", 42, "x", 1.5), "42-x-1.50");
	assert_string_equal(arena_printf(a, "%s", ""), "");
	/* longer than the first block */
	char *longer = arena_printf(a, "%0500d|%s", 7, "end");
	assert_int_equal(strlen(longer), 504);
	assert_int_equal(longer[0], '0');
	assert_int_equal(longer[499], '7');
	assert_string_equal(longer + 500, "|end");
	arena_free(a);
}

/* ---- buf ---- */

static void test_buf_growth(void **state)
{
	buf b;
	buf_init(&b, 0);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.max, (size_t)1 << 30);
	assert_int_equal(buf_append(&b, "", 0), BUF_OK);
	assert_non_null(b.data); /* NUL-terminated after any append */
	assert_string_equal(b.data, "");
	for (int i = 0; i < 10000; i++)
		assert_int_equal(buf_printf(&b, "%d,", i % 10), BUF_OK);
	assert_int_equal(b.len, 20000);
	assert_true(b.cap > b.len);
	assert_int_equal(b.data[b.len], 0);
	for (int i = 0; i < 10000; i++) {
		assert_int_equal(b.data[2 * i], '0' + i % 10);
		assert_int_equal(b.data[2 * i + 1], ',');
	}
	assert_int_equal(buf_putc(&b, 'x'), BUF_OK);
	assert_int_equal(buf_puts(&b, "yz"), BUF_OK);
	assert_string_equal(b.data + 20000, "xyz");
	/* embedded NUL bytes count */
	assert_int_equal(buf_append(&b, "a\0b", 3), BUF_OK);
	assert_int_equal(b.len, 20006);
	assert_memory_equal(b.data + 20003, "a\0b", 4);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(buf_puts(&b, "again"), BUF_OK);
	assert_string_equal(b.data, "again");
	buf_free(&b);
	assert_null(b.data);
	buf_reset(&b); /* on a freed buffer */
	assert_int_equal(buf_puts(&b, "reused"), BUF_OK);
	assert_string_equal(b.data, "reused");
	buf_free(&b);
	buf_free(&b); /* twice is fine */
}

static void test_buf_max(void **state)
{
	buf b;
	buf_init(&b, 10);
	assert_int_equal(buf_puts(&b, "0123456789"), BUF_OK);
	assert_int_equal(b.len, 10);
	/* one byte over the maximum fails and leaves the contents alone */
	assert_int_equal(buf_putc(&b, 'x'), BUF_TOOBIG);
	assert_int_equal(buf_puts(&b, "x"), BUF_TOOBIG);
	assert_int_equal(buf_append(&b, "xy", 2), BUF_TOOBIG);
	assert_int_equal(buf_printf(&b, "%d", 1), BUF_TOOBIG);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "0123456789");
	/* appending nothing at the limit is fine */
	assert_int_equal(buf_append(&b, "", 0), BUF_OK);
	assert_int_equal(buf_printf(&b, "%s", ""), BUF_OK);
	buf_reset(&b);
	/* printf up to the limit exactly, then past it */
	assert_int_equal(buf_printf(&b, "%05d", 42), BUF_OK);
	assert_int_equal(buf_printf(&b, "%5s", "ab"), BUF_OK);
	assert_string_equal(b.data, "00042   ab");
	buf_reset(&b);
	assert_int_equal(buf_printf(&b, "%s", "0123456789A"), BUF_TOOBIG);
	assert_int_equal(b.len, 0);
	/* a huge append does not overflow the size arithmetic */
	assert_int_equal(buf_append(&b, "x", SIZE_MAX), BUF_TOOBIG);
	assert_int_equal(buf_append(&b, "x", SIZE_MAX - 5), BUF_TOOBIG);
	assert_int_equal(b.len, 0);
	buf_free(&b);

	buf_init(&b, 1);
	assert_int_equal(buf_putc(&b, 'a'), BUF_OK);
	assert_int_equal(buf_putc(&b, 'b'), BUF_TOOBIG);
	assert_string_equal(b.data, "a");
	buf_free(&b);
}

static void test_buf_detach(void **state)
{
	buf b;
	buf_init(&b, 100);
	assert_int_equal(buf_puts(&b, "hello, world"), BUF_OK);
	size_t len = 0;
	char *p = buf_detach(&b, &len);
	assert_int_equal(len, 12);
	assert_string_equal(p, "hello, world");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.max, 100); /* the limit stays */
	free(p);
	/* an empty buffer detaches as an empty string the caller frees */
	p = buf_detach(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 0);
	assert_string_equal(p, "");
	free(p);
	/* len may be NULL, and the buffer is usable afterwards */
	assert_int_equal(buf_puts(&b, "next"), BUF_OK);
	p = buf_detach(&b, NULL);
	assert_string_equal(p, "next");
	free(p);
	assert_int_equal(buf_puts(&b, "third"), BUF_OK);
	assert_string_equal(b.data, "third");
	buf_free(&b);
}

/* ---- diagnostics ---- */

static void test_diag_basic(void **state)
{
	arena *a = arena_new(0);
	diag_list d;
	diag_init(&d, a);
	assert_int_equal(d.count, 0);
	assert_int_equal(d.errors, 0);
	char expr[32] = "Patient.name[0]";
	diag_error(&d, "invalid", expr, "bad %s at %d", "thing", 7);
	snprintf(expr, sizeof expr, "XXXXXXXX"); /* the expression was copied */
	diag_add(&d, DIAG_WARNING, "value", NULL, "just a warning");
	diag_add(&d, DIAG_FATAL, "structure", "Patient", "fatal");
	diag_add(&d, DIAG_INFORMATION, "informational", NULL, "note %s", "x");
	assert_int_equal(d.count, 4);
	assert_int_equal(d.errors, 2); /* ERROR + FATAL */
	assert_int_equal(d.items[0].severity, DIAG_ERROR);
	assert_string_equal(d.items[0].code, "invalid");
	assert_string_equal(d.items[0].message, "bad thing at 7");
	assert_string_equal(d.items[0].expression, "Patient.name[0]");
	assert_int_equal(d.items[1].severity, DIAG_WARNING);
	assert_null(d.items[1].expression);
	assert_string_equal(d.items[2].code, "structure");
	assert_int_equal(d.items[2].severity, DIAG_FATAL);
	assert_string_equal(d.items[3].message, "note x");
	assert_ptr_equal(d.a, a);
	arena_free(a);
}

static void test_diag_limit(void **state)
{
	arena *a = arena_new(64);
	diag_list d;
	diag_init(&d, a);
	d.limit = 3;
	for (int i = 0; i < 5; i++)
		diag_error(&d, "invalid", NULL, "error %d", i);
	diag_add(&d, DIAG_WARNING, "value", NULL, "w1");
	diag_add(&d, DIAG_WARNING, "value", NULL, "w2");
	assert_int_equal(d.count, 3);
	assert_int_equal(d.errors, 5); /* errors past the limit still count */
	assert_string_equal(d.items[2].message, "error 2");

	/* the default limit is 100, and the items survive the array's growth */
	diag_init(&d, a);
	for (int i = 0; i < 150; i++)
		diag_add(&d, i % 2 ? DIAG_ERROR : DIAG_INFORMATION, "invalid", "X", "item %d", i);
	assert_int_equal(d.count, 100);
	assert_int_equal(d.errors, 75);
	for (int i = 0; i < 100; i++) {
		char want[32];
		snprintf(want, sizeof want, "item %d", i);
		assert_string_equal(d.items[i].message, want);
		assert_int_equal(d.items[i].severity, i % 2 ? DIAG_ERROR : DIAG_INFORMATION);
	}
	arena_free(a);
}

/* ---- base_parse_long ---- */

static void test_parse_long(void **state)
{
	long v = -99;
	assert_int_equal(base_parse_long("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(base_parse_long("123", 0, 1000, &v), 0);
	assert_int_equal(v, 123);
	assert_int_equal(base_parse_long("-5", -10, 10, &v), 0);
	assert_int_equal(v, -5);
	/* bounds are inclusive */
	assert_int_equal(base_parse_long("10", 1, 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(base_parse_long("1", 1, 10, &v), 0);
	assert_int_equal(base_parse_long("9223372036854775807", 1, 0x7fffffffffffffffL, &v), 0);
	assert_int_equal(v, 0x7fffffffffffffffL);
	v = 77;
	assert_int_not_equal(base_parse_long("11", 1, 10, &v), 0);
	assert_int_not_equal(base_parse_long("0", 1, 10, &v), 0);
	assert_int_not_equal(base_parse_long("-1", 0, 10, &v), 0);
	assert_int_not_equal(base_parse_long("", 0, 10, &v), 0);
	assert_int_not_equal(base_parse_long(NULL, 0, 10, &v), 0);
	assert_int_not_equal(base_parse_long("12a", 0, 1000, &v), 0);
	assert_int_not_equal(base_parse_long("a12", 0, 1000, &v), 0);
	assert_int_not_equal(base_parse_long("1.5", 0, 1000, &v), 0);
	assert_int_not_equal(base_parse_long("-", -10, 10, &v), 0);
	assert_int_not_equal(base_parse_long("0x10", 0, 1000, &v), 0);
	assert_int_not_equal(base_parse_long("9223372036854775808", 0, 0x7fffffffffffffffL, &v), 0);
	assert_int_not_equal(base_parse_long("99999999999999999999999", 0, 0x7fffffffffffffffL, &v),
	                     0);
	/* the whole string: no surrounding whitespace */
	assert_int_not_equal(base_parse_long("5 ", 0, 10, &v), 0);
	assert_int_not_equal(base_parse_long(" 5", 0, 10, &v), 0);
	assert_int_not_equal(base_parse_long("\t5", 0, 10, &v), 0);
	assert_int_not_equal(base_parse_long("\n5", 0, 10, &v), 0);
	assert_int_equal(v, 77); /* untouched on failure */
}

/* ---- instants ---- */

static int64_t instant(const char *s)
{
	int64_t us = 0;
	if (base_parse_instant(s, &us) != 0)
		fail_msg("could not parse instant '%s'", s);
	return us;
}

static void test_format_instant(void **state)
{
	char out[32];
	base_format_instant(0, out, sizeof out);
	assert_string_equal(out, "1970-01-01T00:00:00.000Z");
	base_format_instant(1700000000123456LL, out, sizeof out);
	assert_string_equal(out, "2023-11-14T22:13:20.123Z"); /* microseconds truncated */
	base_format_instant(951782400000000LL, out, sizeof out);
	assert_string_equal(out, "2000-02-29T00:00:00.000Z");
	base_format_instant(253402300799999000LL, out, sizeof out);
	assert_string_equal(out, "9999-12-31T23:59:59.999Z");
	/* before the epoch */
	base_format_instant(-1000, out, sizeof out);
	assert_string_equal(out, "1969-12-31T23:59:59.999Z");
	base_format_instant(-1, out, sizeof out);
	assert_string_equal(out, "1969-12-31T23:59:59.999Z");
	base_format_instant(-1000000, out, sizeof out);
	assert_string_equal(out, "1969-12-31T23:59:59.000Z");
	base_format_instant(-86400LL * 1000000 * 365 + 500000, out, sizeof out);
	assert_string_equal(out, "1969-01-01T00:00:00.500Z");
	/* a small output buffer is cut, not overrun */
	char small[11];
	memset(small, 'x', sizeof small);
	base_format_instant(0, small, sizeof small);
	assert_string_equal(small, "1970-01-01");
}

static void test_parse_instant(void **state)
{
	assert_int_equal(instant("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(instant("1970-01-01T00:00:00.000Z"), 0);
	assert_int_equal(instant("2023-11-14T22:13:20.123Z"), 1700000000123000LL);
	assert_int_equal(instant("2023-11-14T22:13:20.123456Z"), 1700000000123456LL);
	/* fractions: any number of digits, beyond microseconds truncated */
	assert_int_equal(instant("1970-01-01T00:00:00.5Z"), 500000);
	assert_int_equal(instant("1970-01-01T00:00:00.05Z"), 50000);
	assert_int_equal(instant("1970-01-01T00:00:00.000001Z"), 1);
	assert_int_equal(instant("1970-01-01T00:00:00.1234567899Z"), 123456);
	/* zones */
	assert_int_equal(instant("2024-01-02T03:04:05+01:00"), instant("2024-01-02T02:04:05Z"));
	assert_int_equal(instant("2024-01-02T03:04:05-05:30"), instant("2024-01-02T08:34:05Z"));
	assert_int_equal(instant("2024-01-02T03:04:05+00:00"), instant("2024-01-02T03:04:05Z"));
	assert_int_equal(instant("2024-01-02T03:04:05-00:00"), instant("2024-01-02T03:04:05Z"));
	assert_int_equal(instant("2024-01-01T00:30:00+14:00"), instant("2023-12-31T10:30:00Z"));
	assert_int_equal(instant("2024-01-02T03:04:05.250+02:00"),
	                 instant("2024-01-02T01:04:05.25Z"));
	/* dates across the calendar */
	assert_int_equal(instant("2000-02-29T00:00:00Z"), 951782400000000LL);
	assert_int_equal(instant("2000-03-01T00:00:00Z") - instant("2000-02-28T00:00:00Z"),
	                 2 * 86400LL * 1000000);
	assert_int_equal(instant("1900-03-01T00:00:00Z") - instant("1900-02-28T00:00:00Z"),
	                 86400LL * 1000000);
	assert_int_equal(instant("1969-12-31T23:59:59Z"), -1000000);
	assert_int_equal(instant("1969-12-31T23:59:59.999Z"), -1000);
	assert_int_equal(instant("1600-01-01T00:00:00Z"), -11676096000LL * 1000000);
	/* a date alone is its midnight UTC (history.c's date ranges rely on it) */
	assert_int_equal(instant("2024-01-02"), instant("2024-01-02T00:00:00Z"));
	/* seconds and zone may be left out (base.h) */
	assert_int_equal(instant("2024-01-02T03:04Z"), instant("2024-01-02T03:04:00Z"));
	assert_int_equal(instant("2024-01-02T03:04+01:00"), instant("2024-01-02T02:04:00Z"));
	assert_int_equal(instant("2024-01-02T03:04:05"), instant("2024-01-02T03:04:05Z"));
	/* a leap second is accepted and lands on the next second */
	assert_int_equal(instant("2016-12-31T23:59:60Z"), instant("2017-01-01T00:00:00Z"));
}

static void test_parse_instant_invalid(void **state)
{
	static const char *bad[] = {
	        "",
	        "2024",
	        "2024-01",
	        "2024-1-02T00:00:00Z",
	        "24-01-02T00:00:00Z",
	        "2024/01/02T00:00:00Z",
	        "2024-13-01T00:00:00Z",
	        "2024-00-10T00:00:00Z",
	        "2024-01-00T00:00:00Z",
	        "2024-01-32T00:00:00Z",
	        "2023-02-29T00:00:00Z", /* not a leap year */
	        "1900-02-29T00:00:00Z", /* nor is 1900 */
	        "2024-02-30T00:00:00Z",
	        "2024-04-31T00:00:00Z",
	        "2024-06-31T00:00:00Z",
	        "2024-09-31T00:00:00Z",
	        "2024-11-31T00:00:00Z",
	        "2024-01-02T24:00:00Z",
	        "2024-01-02T23:60:00Z",
	        "2024-01-02T23:59:61Z",
	        "2024-01-02T3:04:05Z",
	        "2024-01-02T03:4:05Z",
	        "2024-01-02T03:04:5Z",
	        "2024-01-02T03:04:05.Z",
	        "2024-01-02T03:04:05.12a",
	        "2024-01-02T03:04:05ZZ",
	        "2024-01-02T03:04:05Z ",
	        " 2024-01-02T03:04:05Z",
	        "2024-01-02T03:04:05X",
	        "2024-01-02T03:04:05+1:00",
	        "2024-01-02T03:04:05+01",
	        "2024-01-02T03:04:05+0100",
	        "2024-01-02T03:04:05+01:00:00",
	        "2024-01-02T03:04:05+99:00",
	        "2024-01-02T03:04:05+15:00",
	        "2024-01-02T03:04:05+01:60",
	        "2024-01-02T",
	        "2024-01-02T03",
	        "2024-01-02T03:",
	        "2024-01-02X",
	        "2024-01-02 03:04:05Z",
	        "abcd-ef-ghT00:00:00Z",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int64_t us = 12345;
		if (base_parse_instant(bad[i], &us) == 0)
			fail_msg("accepted invalid instant '%s' as %lld", bad[i], (long long)us);
		assert_int_equal(us, 12345);
	}
}

static void test_instant_round_trip(void **state)
{
	/* every millisecond-precision instant survives format -> parse */
	int64_t samples[] = {0,
	                     1000,
	                     -1000,
	                     999000,
	                     1700000000123000LL,
	                     951782400000000LL,
	                     951868799999000LL,
	                     -62135596800000000LL /* 0001-01-01 */,
	                     253402300799999000LL,
	                     -86400000000LL,
	                     -1234567890123000LL,
	                     4102444800000000LL /* 2100-01-01 */};
	char out[32];
	for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
		base_format_instant(samples[i], out, sizeof out);
		assert_int_equal(strlen(out), 24);
		int64_t back = 0;
		if (base_parse_instant(out, &back) != 0)
			fail_msg("cannot parse our own instant '%s'", out);
		if (back != samples[i])
			fail_msg("%lld -> %s -> %lld", (long long)samples[i], out, (long long)back);
	}
	/* a pseudo-random walk over 1900..2100 */
	uint64_t x = 88172645463325252ULL;
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int64_t ms = (int64_t)(x % 6311433600000ULL) - 2208988800000LL;
		int64_t us = ms * 1000, back = 0;
		base_format_instant(us, out, sizeof out);
		assert_int_equal(base_parse_instant(out, &back), 0);
		if (back != us)
			fail_msg("%lld -> %s -> %lld", (long long)us, out, (long long)back);
	}
	/* and formatting cuts sub-millisecond digits rather than rounding them */
	base_format_instant(1999, out, sizeof out);
	assert_string_equal(out, "1970-01-01T00:00:00.001Z");
}

static void test_http_date(void **state)
{
	char out[32];
	/* RFC 7231 section 7.1.1.1 example */
	base_format_http_date(784111777000000LL, out, sizeof out);
	assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
	base_format_http_date(0, out, sizeof out);
	assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
	base_format_http_date(951782400999999LL, out, sizeof out);
	assert_string_equal(out, "Tue, 29 Feb 2000 00:00:00 GMT");
	base_format_http_date(-1, out, sizeof out);
	assert_string_equal(out, "Wed, 31 Dec 1969 23:59:59 GMT");

	int64_t us = 0;
	assert_int_equal(base_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", &us), 0);
	assert_int_equal(us, 784111777000000LL);
	assert_int_equal(base_parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT", &us), 0);
	assert_int_equal(us, 0);
	assert_int_equal(base_parse_http_date("Tue, 29 Feb 2000 23:59:59 GMT", &us), 0);
	assert_int_equal(us, instant("2000-02-29T23:59:59Z"));

	/* round trip at second precision */
	for (int64_t s = -3000000000LL; s < 4000000000LL; s += 123456789) {
		int64_t back = 0;
		base_format_http_date(s * 1000000, out, sizeof out);
		assert_int_equal(base_parse_http_date(out, &back), 0);
		if (back != s * 1000000)
			fail_msg("%lld -> %s -> %lld", (long long)s, out, (long long)back);
	}

	static const char *bad[] = {
	        "",
	        "garbage",
	        "Sun, 06 Nov 1994 08:49:37", /* no zone */
	        "Sun, 06 Nov 1994 08:49:37 GMT x",
	        "Sun, 06 Nov 1994 08:49:37 UTC",
	        "Sun, 06 Foo 1994 08:49:37 GMT",
	        "Sun, 32 Nov 1994 08:49:37 GMT",
	        "Sun, 06 Nov 1994 25:49:37 GMT",
	        "1994-11-06T08:49:37Z",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		us = 12345;
		if (base_parse_http_date(bad[i], &us) == 0)
			fail_msg("accepted invalid HTTP-date '%s'", bad[i]);
		assert_int_equal(us, 12345);
	}
}

static void test_now(void **state)
{
	int64_t a = base_now_us();
	int64_t b = base_now_us();
	assert_true(a > 1600000000LL * 1000000); /* after 2020 */
	assert_true(b >= a);
}

static void test_alloc_wrappers(void **state)
{
	char *s = base_strdup("copy me");
	assert_string_equal(s, "copy me");
	s = base_realloc(s, 100);
	assert_string_equal(s, "copy me");
	free(s);
	unsigned char *z = base_calloc(10, 10);
	for (int i = 0; i < 100; i++)
		assert_int_equal(z[i], 0);
	free(z);
	void *p = base_malloc(0); /* never NULL, even for 0 bytes */
	assert_non_null(p);
	free(p);
	p = base_calloc(0, 0);
	assert_non_null(p);
	free(p);
}

static void test_utf8_valid(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int ok;
	} cases[] = {
	        {"", 1},
	        {"plain ascii", 1},
	        {"Ren\xc3\xa9"
	         "e",
	         1},
	        {"\xe2\x82\xac", 1},
	        {"\xf0\x9f\x98\x80", 1},
	        {"\xff", 0},
	        {"\xc3", 0},
	        {"\xc0\xaf", 0},
	        {"\xe0\x80\xaf", 0},
	        {"\xed\xa0\x80", 0},
	        {"\xf4\x90\x80\x80", 0},
	        {"\xe2\x82", 0},
	        {"a\x80"
	         "b",
	         0},
	        {"\xf8\x88\x80\x80\x80", 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		if (base_utf8_valid(cases[i].s, strlen(cases[i].s)) != cases[i].ok)
			fail_msg("case %zu: expected %d", i, cases[i].ok);
	assert_true(base_utf8_valid("a\0b", 3)); /* NUL is a character */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_arena_alignment),
	        cmocka_unit_test(test_arena_growth),
	        cmocka_unit_test(test_arena_big_allocations),
	        cmocka_unit_test(test_arena_reset),
	        cmocka_unit_test(test_arena_strings),
	        cmocka_unit_test(test_buf_growth),
	        cmocka_unit_test(test_buf_max),
	        cmocka_unit_test(test_buf_detach),
	        cmocka_unit_test(test_diag_basic),
	        cmocka_unit_test(test_diag_limit),
	        cmocka_unit_test(test_parse_long),
	        cmocka_unit_test(test_format_instant),
	        cmocka_unit_test(test_parse_instant),
	        cmocka_unit_test(test_parse_instant_invalid),
	        cmocka_unit_test(test_instant_round_trip),
	        cmocka_unit_test(test_http_date),
	        cmocka_unit_test(test_now),
	        cmocka_unit_test(test_alloc_wrappers),
	        cmocka_unit_test(test_utf8_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
