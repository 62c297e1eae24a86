/*
 * test_policy.c - SMART scopes (policy.h): v1 and v2 forms, query filters,
 * contexts, what is skipped, and the grants of a permission on a type.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "model/model.h"
#include "policy/policy.h"

static unsigned perms(const char *scope, const char *patient, const char *type)
{
	arena *a = arena_new(0);
	policy_principal p = {.patient = patient};
	policy_parse_scopes(a, scope, &p);
	unsigned out = 0;
	static const unsigned bits[] = {POLICY_CREATE, POLICY_READ, POLICY_UPDATE, POLICY_DELETE,
	                                POLICY_SEARCH};
	for (size_t i = 0; i < 5; i++) {
		policy_grant g[4];
		if (policy_grants(&p, type, bits[i], g, 4))
			out |= bits[i];
	}
	arena_free(a);
	return out;
}

#define RS  (POLICY_READ | POLICY_SEARCH)
#define CUD (POLICY_CREATE | POLICY_UPDATE | POLICY_DELETE)

static void test_v1(void **state)
{
	(void)state;
	assert_int_equal(perms("user/Observation.read", NULL, "Observation"), RS);
	assert_int_equal(perms("user/Observation.read", NULL, "Patient"), 0);
	assert_int_equal(perms("user/*.write", NULL, "Patient"), CUD);
	assert_int_equal(perms("system/*.*", NULL, "Encounter"), POLICY_ALL);
	assert_int_equal(perms("system/*.read user/Patient.write", NULL, "Patient"), POLICY_ALL);
}

static void test_v2(void **state)
{
	(void)state;
	assert_int_equal(perms("user/Observation.rs", NULL, "Observation"), RS);
	assert_int_equal(perms("user/*.cruds", NULL, "Condition"), POLICY_ALL);
	assert_int_equal(perms("system/Patient.c", NULL, "Patient"), POLICY_CREATE);
	assert_int_equal(perms("user/Patient.ud", NULL, "Patient"), POLICY_UPDATE | POLICY_DELETE);
	/* letters out of order, repeated or unknown: not a scope */
	assert_int_equal(perms("user/Patient.sr", NULL, "Patient"), 0);
	assert_int_equal(perms("user/Patient.rr", NULL, "Patient"), 0);
	assert_int_equal(perms("user/Patient.rx", NULL, "Patient"), 0);
	assert_int_equal(perms("user/Patient.", NULL, "Patient"), 0);
}

static void test_skipped(void **state)
{
	(void)state;
	/* not resource scopes, unknown contexts and types: grant nothing */
	assert_int_equal(perms("openid fhirUser launch/patient offline_access", "p1", "Patient"),
	                 0);
	assert_int_equal(perms("admin/*.read", NULL, "Patient"), 0);
	assert_int_equal(perms("user/Nonsense.read", NULL, "Nonsense"), 0);
	assert_int_equal(perms("user/Element.read", NULL, "Element"), 0);
	assert_int_equal(perms("", NULL, "Patient"), 0);
	assert_int_equal(perms("   user/Patient.read    ", NULL, "Patient"), RS);
}

static void test_patient_context(void **state)
{
	(void)state;
	/* a patient scope needs a patient context, and is limited to it */
	assert_int_equal(perms("patient/Observation.rs", NULL, "Observation"), 0);
	assert_int_equal(perms("patient/Observation.rs", "p1", "Observation"), RS);
	arena *a = arena_new(0);
	policy_principal p = {.patient = "p1"};
	policy_parse_scopes(a, "patient/*.read user/Practitioner.read", &p);
	policy_grant g[4];
	assert_int_equal(policy_grants(&p, "Observation", POLICY_READ, g, 4), 1);
	assert_string_equal(g[0].patient, "p1");
	assert_null(g[0].query);
	assert_false(policy_unlimited(g, 1));
	assert_int_equal(policy_grants(&p, "Practitioner", POLICY_READ, g, 4), 2);
	assert_true(policy_unlimited(g, 2));
	/* system level: every scope that grants the permission */
	assert_int_equal(policy_grants(&p, NULL, POLICY_SEARCH, g, 4), 2);
	arena_free(a);
}

static void test_query_filter(void **state)
{
	(void)state;
	arena *a = arena_new(0);
	policy_principal p = {.patient = "p1"};
	policy_parse_scopes(a, "patient/Observation.rs?category=laboratory user/Condition.rs?", &p);
	assert_int_equal(p.nscopes, 2);
	policy_grant g[4];
	assert_int_equal(policy_grants(&p, "Observation", POLICY_SEARCH, g, 4), 1);
	assert_string_equal(g[0].query, "category=laboratory");
	assert_string_equal(g[0].patient, "p1");
	assert_int_equal(policy_grants(&p, "Observation", POLICY_CREATE, g, 4), 0);
	/* an empty query is no filter */
	assert_int_equal(policy_grants(&p, "Condition", POLICY_READ, g, 4), 1);
	assert_null(g[0].query);
	assert_true(policy_unlimited(g, 1));
	arena_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_v1),           cmocka_unit_test(test_v2),
	        cmocka_unit_test(test_skipped),      cmocka_unit_test(test_patient_context),
	        cmocka_unit_test(test_query_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
