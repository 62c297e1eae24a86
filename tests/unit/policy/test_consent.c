/*
 * test_consent.c - consent_decide (consent.h): actor, purpose, class,
 * action, period, security labels, nesting (deepest wins, deny wins a tie),
 * several consents, what is ignored, the careful reading of conditions it
 * cannot check, and the default.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "policy/consent.h"

#define ORG_A "http://fhir.nl/fhir/NamingSystem/ura|222"
#define ORG_B "http://fhir.nl/fhir/NamingSystem/ura|333"
#define NOW   1795000000000000LL /* 2026-11-18 */

/* A consent: `provision` is the JSON of its root provision. */
static json_t *consent(const char *id, const char *status, const char *provision)
{
	char text[4096];
	snprintf(text, sizeof text,
	         "{\"resourceType\":\"Consent\",\"id\":\"%s\",\"status\":\"%s\","
	         "\"scope\":{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/"
	         "consentscope\",\"code\":\"patient-privacy\"}]},"
	         "\"patient\":{\"reference\":\"Patient/p1\"},\"provision\":%s}",
	         id, status, provision);
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);
	if (!j)
		fail_msg("bad test JSON: %s in %s", e.text, text);
	return j;
}

#define ACTOR_A                                                                                    \
	"\"actor\":[{\"reference\":{\"identifier\":{\"system\":\"http://fhir.nl/fhir/"             \
	"NamingSystem/"                                                                            \
	"ura\",\"value\":\"222\"}}}]"
#define LABEL_R                                                                                    \
	"\"securityLabel\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/"                  \
	"v3-Confidentiality\",\"code\":\"R\"}]"

typedef struct result {
	consent_decision d;
	arena *a;
} result;

static int names_org_x(void *ctx, const char *reference, const char *organization)
{
	(void)ctx;
	return !strcmp(reference, "Organization/x") && consent_same_org(organization, NULL, "222");
}

/* Decide for org/purpose/type/action over the consents (freed after). */
static consent_decision decide(json_t **cs, size_t n, const char *org, const char *purpose,
                               const char *type, const char *action, int dflt, arena *a)
{
	consent_ask ask = {.organization = org,
	                   .purpose = purpose,
	                   .type = type,
	                   .action = action ? action : "access",
	                   .now = NOW,
	                   .names_org = names_org_x};
	consent_decision d;
	consent_decide(a, cs, n, &ask, dflt, &d);
	return d;
}

static void free_all(json_t **cs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(cs[i]);
}

static void test_default(void **state)
{
	(void)state;
	arena *a = arena_new(0);
	consent_decision d = decide(NULL, 0, ORG_A, NULL, "Observation", NULL, 0, a);
	assert_int_equal(d.nlabels, 0);
	assert_int_equal(d.permit[0], 0);
	assert_null(d.by[0]);
	d = decide(NULL, 0, ORG_A, NULL, "Observation", NULL, 1, a);
	assert_int_equal(d.permit[0], 1);
	arena_free(a);
}

static void test_actor_purpose_class(void **state)
{
	(void)state;
	arena *a = arena_new(0);
	json_t *cs[] = {
	        consent("c1", "active",
	                "{\"type\":\"deny\",\"provision\":[{\"type\":\"permit\"," ACTOR_A
	                ",\"purpose\":[{\"code\":\"TREAT\"}],\"class\":[{\"system\":"
	                "\"http://hl7.org/fhir/resource-types\",\"code\":\"Observation\"}]}]}")};
	consent_decision d = decide(cs, 1, ORG_A, "TREAT", "Observation", NULL, 0, a);
	assert_int_equal(d.permit[0], 1);
	assert_string_equal(d.by[0], "Consent/c1");
	/* no purpose counts as TREAT */
	assert_int_equal(decide(cs, 1, ORG_A, NULL, "Observation", NULL, 0, a).permit[0], 1);
	/* a bare value matches on the value */
	assert_int_equal(decide(cs, 1, "222", NULL, "Observation", NULL, 0, a).permit[0], 1);
	/* another organisation, purpose or class: the root deny decides */
	d = decide(cs, 1, ORG_B, NULL, "Observation", NULL, 1, a);
	assert_int_equal(d.permit[0], 0);
	assert_string_equal(d.by[0], "Consent/c1");
	assert_int_equal(decide(cs, 1, ORG_A, "HRESCH", "Observation", NULL, 1, a).permit[0], 0);
	assert_int_equal(decide(cs, 1, ORG_A, NULL, "Condition", NULL, 1, a).permit[0], 0);
	assert_int_equal(decide(cs, 1, NULL, NULL, "Observation", NULL, 1, a).permit[0], 0);
	/* across types the class cannot be checked: the permit does not count */
	assert_int_equal(decide(cs, 1, ORG_A, NULL, NULL, NULL, 1, a).permit[0], 0);
	free_all(cs, 1);
	arena_free(a);
}

static void test_literal_reference(void **state)
{
	(void)state;
	arena *a = arena_new(0);
	json_t *cs[] = {consent("c2", "active",
	                        "{\"type\":\"permit\",\"actor\":[{\"reference\":{\"reference\":"
	                        "\"Organization/x\"}}]}")};
	assert_int_equal(decide(cs, 1, ORG_A, NULL, "Observation", NULL, 0, a).permit[0], 1);
	assert_int_equal(decide(cs, 1, ORG_B, NULL, "Observation", NULL, 0, a).permit[0], 0);
	free_all(cs, 1);
	arena_free(a);
}

static void test_nested_and_ties(void **state)
{
	(void)state;
	arena *a = arena_new(0);
	/* permit A, but not Conditions (deeper deny); equal depth: deny wins */
	json_t *cs[] = {consent("c3", "active",
	                        "{\"type\":\"permit\"," ACTOR_A
	                        ",\"provision\":[{\"type\":\"deny\",\"class\":[{\"code\":"
	                        "\"Condition\"}]},{\"type\":\"permit\",\"class\":[{\"code\":"
	                        "\"Procedure\"}]},{\"type\":\"deny\",\"class\":[{\"code\":"
	                        "\"Procedure\"}]}]}")};
	assert_int_equal(decide(cs, 1, ORG_A, NULL, "Observation", NULL, 0, a).permit[0], 1);
	assert_int_equal(decide(cs, 1, ORG_A, NULL, "Condition", NULL, 0, a).permit[0], 0);
	assert_int_equal(decide(cs, 1, ORG_A, NULL, "Procedure", NULL, 0, a).permit[0], 0);
	/* across consents: c3's root permit and c4's root deny tie at depth 0,
	 * and the deny wins */
	json_t *more[] = {cs[0], consent("c4", "active", "{\"type\":\"deny\"}")};
	consent_decision d = decide(more, 2, ORG_A, NULL, "Observation", NULL, 1, a);
	assert_int_equal(d.permit[0], 0);
	assert_string_equal(d.by[0], "Consent/c4");
	free_all(cs, 1);
	json_decref(more[1]);
	arena_free(a);
}

static void test_labels(void **state)
{
	(void)state;
	arena *a = arena_new(0);
	json_t *cs[] = {consent("c5", "active",
	                        "{\"type\":\"permit\"," ACTOR_A
	                        ",\"provision\":[{\"type\":\"deny\"," LABEL_R "}]}")};
	consent_decision d = decide(cs, 1, ORG_A, NULL, "Observation", NULL, 0, a);
	assert_int_equal(d.nlabels, 1);
	assert_string_equal(d.labels[0].code, "R");
	assert_int_equal(d.permit[0], 1); /* unlabelled: the permit */
	assert_int_equal(d.permit[1], 0); /* labelled R: the deeper deny */
	free_all(cs, 1);
	arena_free(a);
}

static void test_period_action_ignored(void **state)
{
	(void)state;
	arena *a = arena_new(0);
	json_t *cs[] = {
	        consent("old", "active",
	                "{\"type\":\"permit\",\"period\":{\"end\":\"2026-11-17\"}," ACTOR_A "}"),
	        consent("future", "active",
	                "{\"type\":\"permit\",\"period\":{\"start\":\"2026-11-19T00:00:00Z\"}"
	                "," ACTOR_A "}"),
	        consent("inactive", "inactive", "{\"type\":\"permit\"}"),
	};
	assert_int_equal(decide(cs, 3, ORG_A, NULL, "Observation", NULL, 0, a).permit[0], 0);
	/* the day it ends still counts */
	json_t *today[] = {consent("today", "active",
	                           "{\"type\":\"permit\",\"period\":{\"start\":\"2026-01-01\","
	                           "\"end\":\"2026-11-18\"}}")};
	assert_int_equal(decide(today, 1, ORG_A, NULL, "Observation", NULL, 0, a).permit[0], 1);
	/* action: access for reading, correct for writing */
	json_t *act[] = {consent("act", "active",
	                         "{\"type\":\"permit\",\"action\":[{\"coding\":[{\"code\":"
	                         "\"access\"}]}]}")};
	assert_int_equal(decide(act, 1, ORG_A, NULL, "Observation", "access", 0, a).permit[0], 1);
	assert_int_equal(decide(act, 1, ORG_A, NULL, "Observation", "correct", 0, a).permit[0], 0);
	free_all(cs, 3);
	free_all(today, 1);
	free_all(act, 1);
	arena_free(a);
}

static void test_unsure_conditions(void **state)
{
	(void)state;
	arena *a = arena_new(0);
	/* a permit limited by data it cannot check does not count; a deny does */
	json_t *p[] = {consent("p", "active",
	                       "{\"type\":\"permit\",\"dataPeriod\":{\"start\":\"2020\"}}")};
	assert_int_equal(decide(p, 1, ORG_A, NULL, "Observation", NULL, 0, a).permit[0], 0);
	json_t *dn[] = {consent("d", "active",
	                        "{\"type\":\"permit\",\"provision\":[{\"type\":\"deny\",\"code\":"
	                        "[{\"coding\":[{\"code\":\"x\"}]}]}]}")};
	assert_int_equal(decide(dn, 1, ORG_A, NULL, "Observation", NULL, 1, a).permit[0], 0);
	/* under a parent that could not be checked, a permit does not count */
	json_t *under[] = {consent("u", "active",
	                           "{\"code\":[{\"coding\":[{\"code\":\"x\"}]}],\"provision\":[{"
	                           "\"type\":\"permit\"}]}")};
	assert_int_equal(decide(under, 1, ORG_A, NULL, "Observation", NULL, 0, a).permit[0], 0);
	free_all(p, 1);
	free_all(dn, 1);
	free_all(under, 1);
	arena_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_default),
	        cmocka_unit_test(test_actor_purpose_class),
	        cmocka_unit_test(test_literal_reference),
	        cmocka_unit_test(test_nested_and_ties),
	        cmocka_unit_test(test_labels),
	        cmocka_unit_test(test_period_action_ignored),
	        cmocka_unit_test(test_unsure_conditions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
