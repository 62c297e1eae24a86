/*
 * test_http_limits.c - the transport-level limits of src/http/http.c, on
 * its static functions (the .c is included): which request targets are
 * well-formed (url_ok: percent escapes, %00, control characters, UTF-8) and
 * the per-client token buckets of --rate-limit (rate_take).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "http/http.c"

static void test_url_ok(void **state)
{
	(void)state;
	const char *good[] = {"/fhir/Patient/1",
	                      "/fhir/Patient?name=J%C3%B6rg&given=a+b",
	                      "/fhir/Patient?name=%E2%82%AC%F0%9F%98%80",
	                      "/fhir/Patient/%2e%2e",
	                      "/fhir/Patient?name=caf\xc3\xa9",
	                      "/",
	                      ""};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		assert_true(url_ok(good[i]));
	const char *bad[] = {"/fhir/Patient/%",
	                     "/fhir/Patient/%4",
	                     "/fhir/Patient/%zz",
	                     "/fhir/Patient/%G0",
	                     "/fhir/Patient?name=%",
	                     "/fhir/Patient?n=a%00b",
	                     "/fhir/Patient?n=%C0%AF",
	                     "/fhir/Patient?n=%ED%A0%80",
	                     "/fhir/P\x01",
	                     "/fhir/Patient?n=%FF",
	                     "/fhir/Patient?n=%E2%82",
	                     "/fhir/Patient?n=\xff",
	                     "/fhir/Patient?n=%F4%90%80%80",
	                     "/fhir/\x7f"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_false(url_ok(bad[i]));
}

static void test_rate_take(void **state)
{
	(void)state;
	rate_table *t = calloc(1, sizeof *t);
	pthread_mutex_init(&t->mu, NULL);
	t->rate = 2;  /* tokens per second */
	t->burst = 3; /* bucket */
	unsigned char a[16] = {0}, b[16] = {0};
	a[15] = 1;
	b[15] = 2;
	int64_t now = 1000000000;
	long wait = 0;
	for (int i = 0; i < 3; i++)
		assert_int_equal(rate_take(t, a, now, &wait), 0);
	assert_int_equal(rate_take(t, a, now, &wait), -1);
	assert_int_equal(wait, 1); /* half a second to the next token, rounded up */
	/* another address has its own bucket */
	assert_int_equal(rate_take(t, b, now, &wait), 0);
	/* refilled at 2 per second: one token after 0.5 s, no more than the burst later */
	assert_int_equal(rate_take(t, a, now + 500000, &wait), 0);
	assert_int_equal(rate_take(t, a, now + 500000, &wait), -1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(rate_take(t, a, now + 60000000, &wait), 0);
	assert_int_equal(rate_take(t, a, now + 60000000, &wait), -1);
	/* more addresses than slots: each still gets an answer, and a stale slot is reused */
	unsigned char k[16] = {0};
	for (int i = 0; i < 3 * RATE_SLOTS; i++) {
		k[12] = (unsigned char)(i >> 16);
		k[13] = (unsigned char)(i >> 8);
		k[14] = (unsigned char)i;
		assert_int_equal(rate_take(t, k, now + 70000000 + i, &wait), 0);
	}
	pthread_mutex_destroy(&t->mu);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_url_ok),
	        cmocka_unit_test(test_rate_take),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
