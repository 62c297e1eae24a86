/*
 * test_audit.c - audit records (audit.h): audit_action and audit_outcome,
 * the fields and canonical JSON audit_record makes, the AuditEvent
 * audit_to_fhir makes of a record (parsed with jansson, element by element,
 * and checked with model_validate), store_audit_hash (every field counts),
 * and the chain through a real SQLite store: audit_verify, a checkpoint
 * signed with a fresh key, an external checkpoint.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "audit/audit.h"
#include "auth/auth.h"
#include "model/model.h"

#define T0 1795000000123456LL /* 2026-11-18T11:06:40.123456Z */

/* ---- helpers ---- */

static json_t *parse(const char *text, size_t len)
{
	json_error_t e;
	json_t *j = json_loadb(text, len, 0, &e);
	if (!j)
		fail_msg("not JSON: %s: %.*s", e.text, (int)len, text);
	return j;
}

static const char *str_at(json_t *j, const char *path)
{
	/* a dotted path; numbers index arrays: "agent.0.who.identifier.value" */
	char buf_[256];
	snprintf(buf_, sizeof buf_, "%s", path);
	json_t *cur = j;
	for (char *save = NULL, *p = strtok_r(buf_, ".", &save); p && cur;
	     p = strtok_r(NULL, ".", &save)) {
		if (json_is_array(cur))
			cur = json_array_get(cur, (size_t)atoi(p));
		else
			cur = json_object_get(cur, p);
	}
	return json_string_value(cur);
}

static json_t *at(json_t *j, const char *path)
{
	char buf_[256];
	snprintf(buf_, sizeof buf_, "%s", path);
	json_t *cur = j;
	for (char *save = NULL, *p = strtok_r(buf_, ".", &save); p && cur;
	     p = strtok_r(NULL, ".", &save)) {
		if (json_is_array(cur))
			cur = json_array_get(cur, (size_t)atoi(p));
		else
			cur = json_object_get(cur, p);
	}
	return cur;
}

static void assert_str_at(json_t *j, const char *path, const char *want)
{
	const char *got = str_at(j, path);
	if (!got || strcmp(got, want)) {
		char *dump = json_dumps(j, JSON_COMPACT);
		fail_msg("%s: want \"%s\", got %s%s%s in %s", path, want, got ? "\"" : "",
		         got ? got : "(none)", got ? "\"" : "", dump);
	}
}

/* The AuditEvent of r, parsed; it must validate as R4 without errors. */
static json_t *fhir_of(const store_audit *r)
{
	buf b;
	buf_init(&b, 0);
	assert_int_equal(audit_to_fhir(r, &b), 0);
	json_t *j = parse(b.data, b.len);
	arena *a = arena_new(0);
	diag_list d;
	diag_init(&d, a);
	int n = model_validate(j, &d);
	if (n || d.errors) {
		for (size_t i = 0; i < d.count; i++)
			print_message("  [%s] %s: %s\n", d.items[i].code,
			              d.items[i].expression ? d.items[i].expression : "-",
			              d.items[i].message);
		fail_msg("the AuditEvent does not validate: %s", b.data);
	}
	arena_free(a);
	buf_free(&b);
	return j;
}

/* The record e makes, with seq set as the store would. */
static store_audit record_of(arena *a, const audit_event *e, int64_t seq)
{
	store_audit r;
	audit_record(a, e, &r);
	r.seq = seq;
	return r;
}

/* A full event: every field given. */
static const char *const WHAT[] = {"Observation/o1/_history/2", "Observation/o2/_history/1"};
static audit_event full_event(void)
{
	return (audit_event){.recorded = T0,
	                     .interaction = "search-type",
	                     .status = 200,
	                     .agent = "dr-jansen",
	                     .organization = "http://fhir.nl/fhir/NamingSystem/ura|22222222",
	                     .on_behalf = "nurse-7",
	                     .client = "CN=app.example.org",
	                     .purpose = "TREAT",
	                     .basis = "Consent/c1",
	                     .address = "192.0.2.7",
	                     .request_id = "req-42",
	                     .patient = "p1",
	                     .what = WHAT,
	                     .nwhat = 2,
	                     .query = "code=http://loinc.org|1234-5&_count=10",
	                     .detail = "two found"};
}

/* ---- audit_action, audit_outcome ---- */

static void test_action(void **state)
{
	(void)state;
	const struct {
		const char *i;
		char want;
	} cases[] = {
	        {"create", 'C'},
	        {"update", 'U'},
	        {"patch", 'U'},
	        {"delete", 'D'},
	        {"read", 'R'},
	        {"vread", 'R'},
	        {"search-type", 'R'},
	        {"search-system", 'R'},
	        {"search-compartment", 'R'},
	        {"history-instance", 'R'},
	        {"history-type", 'R'},
	        {"history-system", 'R'},
	        {"operation", 'E'},
	        {"transaction", 'E'},
	        {"batch", 'E'},
	        {"checkpoint", 'E'},
	        {"capabilities", 'E'},
	        {"", 'E'},
	        {NULL, 'E'},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		if (audit_action(cases[i].i) != cases[i].want)
			fail_msg("audit_action(%s) = %c, want %c", cases[i].i ? cases[i].i : "NULL",
			         audit_action(cases[i].i), cases[i].want);
}

static void test_outcome(void **state)
{
	(void)state;
	const int ok[] = {100, 200, 201, 204, 304, 399};
	const int minor[] = {400, 401, 403, 404, 405, 409, 410, 412, 422, 429, 499};
	const int serious[] = {500, 503, 504, 599};
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
		assert_int_equal(audit_outcome(ok[i]), 0);
	for (size_t i = 0; i < sizeof minor / sizeof *minor; i++)
		assert_int_equal(audit_outcome(minor[i]), 4);
	for (size_t i = 0; i < sizeof serious / sizeof *serious; i++)
		assert_int_equal(audit_outcome(serious[i]), 8);
}

/* ---- audit_record ---- */

static void test_record_fields(void **state)
{
	(void)state;
	arena *a = arena_new(0);
	char patient[] = "p1", agent[] = "dr-jansen";
	audit_event e = full_event();
	e.patient = patient;
	e.agent = agent;
	store_audit r;
	audit_record(a, &e, &r);
	/* the searchable fields, copies owned by the arena */
	assert_true(r.recorded == T0);
	assert_string_equal(r.patient, "p1");
	assert_ptr_not_equal(r.patient, patient);
	assert_string_equal(r.agent, "dr-jansen");
	assert_ptr_not_equal(r.agent, agent);
	assert_int_equal(r.action, 'R');
	assert_int_equal(r.outcome, 0);
	patient[0] = agent[0] = 'X'; /* the caller's strings may go */
	assert_string_equal(r.patient, "p1");
	assert_string_equal(r.agent, "dr-jansen");
	/* the record: canonical JSON with every field */
	assert_true(r.record_len > 0);
	assert_int_equal(strlen(r.record), r.record_len);
	json_t *j = parse(r.record, r.record_len);
	assert_int_equal(json_integer_value(json_object_get(j, "v")), 1);
	assert_str_at(j, "recorded", "2026-11-18T11:06:40.123Z");
	assert_int_equal(json_integer_value(json_object_get(j, "status")), 200);
	assert_str_at(j, "interaction", "search-type");
	assert_str_at(j, "agent", "dr-jansen");
	assert_str_at(j, "organization", "http://fhir.nl/fhir/NamingSystem/ura|22222222");
	assert_str_at(j, "onBehalfOf", "nurse-7");
	assert_str_at(j, "client", "CN=app.example.org");
	assert_str_at(j, "purpose", "TREAT");
	assert_str_at(j, "basis", "Consent/c1");
	assert_str_at(j, "address", "192.0.2.7");
	assert_str_at(j, "requestId", "req-42");
	assert_str_at(j, "patient", "p1");
	assert_str_at(j, "what.0", "Observation/o1/_history/2");
	assert_str_at(j, "what.1", "Observation/o2/_history/1");
	assert_int_equal(json_array_size(json_object_get(j, "what")), 2);
	assert_str_at(j, "query", "code=http://loinc.org|1234-5&_count=10");
	assert_str_at(j, "detail", "two found");
	assert_null(json_object_get(j, "operation"));
	assert_null(json_object_get(j, "breakGlass"));
	assert_null(json_object_get(j, "checkpoint"));
	assert_null(json_object_get(j, "whatMore"));
	json_decref(j);
	/* the same event, the same bytes */
	store_audit r2;
	e = full_event();
	audit_record(a, &e, &r2);
	assert_int_equal(r2.record_len, r.record_len);
	assert_memory_equal(r2.record, r.record, r.record_len);
	arena_free(a);
}

static void test_record_minimal(void **state)
{
	(void)state;
	arena *a = arena_new(0);
	audit_event e = {.recorded = T0, .interaction = "read", .status = 401};
	store_audit r;
	audit_record(a, &e, &r);
	assert_null(r.patient);
	assert_null(r.agent);
	assert_int_equal(r.action, 'R');
	assert_int_equal(r.outcome, 4);
	json_t *j = parse(r.record, r.record_len);
	/* only what was given */
	assert_int_equal(json_object_size(j), 4); /* v, recorded, status, interaction */
	assert_int_equal(json_integer_value(json_object_get(j, "status")), 401);
	json_decref(j);
	arena_free(a);
}

static void test_record_action_and_outcome(void **state)
{
	(void)state;
	arena *a = arena_new(0);
	const struct {
		const char *interaction;
		int status;
		char action;
		int outcome;
	} cases[] = {
	        {"update", 201, 'C', 0}, /* a PUT that created the resource */
	        {"update", 200, 'U', 0},      {"update", 412, 'U', 4}, {"create", 201, 'C', 0},
	        {"create", 422, 'C', 4},      {"patch", 200, 'U', 0},  {"delete", 204, 'D', 0},
	        {"delete", 500, 'D', 8},      {"read", 404, 'R', 4},   {"operation", 200, 'E', 0},
	        {"transaction", 503, 'E', 8},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		audit_event e = {.recorded = T0,
		                 .interaction = cases[i].interaction,
		                 .status = cases[i].status};
		store_audit r;
		audit_record(a, &e, &r);
		if (r.action != cases[i].action || r.outcome != cases[i].outcome)
			fail_msg("%s %d: action %c outcome %d, want %c %d", cases[i].interaction,
			         cases[i].status, r.action, r.outcome, cases[i].action,
			         cases[i].outcome);
	}
	arena_free(a);
}

static void test_record_many_what(void **state)
{
	(void)state;
	arena *a = arena_new(0);
	size_t n = AUDIT_MAX_WHAT + 25;
	const char **what = arena_alloc(a, n * sizeof *what);
	for (size_t i = 0; i < n; i++)
		what[i] = arena_printf(a, "Observation/o%zu", i);
	audit_event e = {.recorded = T0,
	                 .interaction = "search-type",
	                 .status = 200,
	                 .patient = "p1",
	                 .what = what,
	                 .nwhat = n};
	store_audit r;
	audit_record(a, &e, &r);
	json_t *j = parse(r.record, r.record_len);
	assert_int_equal(json_array_size(json_object_get(j, "what")), AUDIT_MAX_WHAT);
	assert_int_equal(json_integer_value(json_object_get(j, "whatMore")), 25);
	assert_str_at(j, "what.0", "Observation/o0");
	json_decref(j);
	/* the AuditEvent: the patient and the first AUDIT_MAX_WHAT */
	r.seq = 9;
	j = fhir_of(&r);
	assert_int_equal(json_array_size(json_object_get(j, "entity")), 1 + AUDIT_MAX_WHAT);
	json_decref(j);
	arena_free(a);
}

static void test_record_escapes(void **state)
{
	(void)state;
	arena *a = arena_new(0);
	audit_event e = {.recorded = T0,
	                 .interaction = "read",
	                 .status = 200,
	                 .agent = "a \"quoted\"\\ agent\n\x01",
	                 .patient = "p-\xc3\xa9"};
	store_audit r;
	audit_record(a, &e, &r);
	json_t *j = parse(r.record, r.record_len);
	assert_str_at(j, "agent", "a \"quoted\"\\ agent\n\x01");
	assert_str_at(j, "patient", "p-\xc3\xa9");
	json_decref(j);
	arena_free(a);
}

/* ---- audit_to_fhir ---- */

static void test_fhir_full(void **state)
{
	(void)state;
	arena *a = arena_new(0);
	audit_event e = full_event();
	store_audit r = record_of(a, &e, 42);
	json_t *j = fhir_of(&r);
	assert_str_at(j, "resourceType", "AuditEvent");
	assert_str_at(j, "id", "42");
	assert_str_at(j, "meta.versionId", "1");
	assert_str_at(j, "meta.lastUpdated", "2026-11-18T11:06:40.123Z");
	assert_str_at(j, "type.system", "http://terminology.hl7.org/CodeSystem/audit-event-type");
	assert_str_at(j, "type.code", "rest");
	assert_str_at(j, "subtype.0.system", "http://hl7.org/fhir/restful-interaction");
	assert_str_at(j, "subtype.0.code", "search-type");
	assert_int_equal(json_array_size(json_object_get(j, "subtype")), 1);
	assert_str_at(j, "action", "R");
	assert_str_at(j, "recorded", "2026-11-18T11:06:40.123Z");
	assert_str_at(j, "outcome", "0");
	assert_str_at(j, "outcomeDesc", "HTTP 200: two found");
	assert_str_at(j, "purposeOfEvent.0.coding.0.code", "TREAT");
	/* the agents: the user, the organisation, on whose behalf, the system */
	json_t *agents = json_object_get(j, "agent");
	assert_int_equal(json_array_size(agents), 4);
	assert_str_at(j, "agent.0.type.coding.0.code", "IRCP");
	assert_str_at(j, "agent.0.who.identifier.value", "dr-jansen");
	assert_null(at(j, "agent.0.who.identifier.system"));
	assert_true(json_is_true(at(j, "agent.0.requestor")));
	assert_str_at(j, "agent.0.policy.0", "Consent/c1");
	assert_str_at(j, "agent.0.network.address", "192.0.2.7");
	assert_str_at(j, "agent.0.network.type", "2");
	assert_str_at(j, "agent.0.purposeOfUse.0.coding.0.system",
	              "http://terminology.hl7.org/CodeSystem/v3-ActReason");
	assert_str_at(j, "agent.0.purposeOfUse.0.coding.0.code", "TREAT");
	assert_str_at(j, "agent.1.type.coding.0.code", "PROV");
	assert_str_at(j, "agent.1.who.identifier.system", "http://fhir.nl/fhir/NamingSystem/ura");
	assert_str_at(j, "agent.1.who.identifier.value", "22222222");
	assert_true(json_is_false(at(j, "agent.1.requestor")));
	assert_str_at(j, "agent.2.type.coding.0.code", "RESP");
	assert_str_at(j, "agent.2.who.identifier.value", "nurse-7");
	assert_true(json_is_false(at(j, "agent.2.requestor")));
	assert_str_at(j, "agent.3.type.coding.0.code", "110150");
	assert_str_at(j, "agent.3.who.display", "CN=app.example.org");
	assert_true(json_is_false(at(j, "agent.3.requestor")));
	assert_str_at(j, "source.observer.display", "Bron FHIR server");
	assert_str_at(j, "source.type.0.code", "4");
	/* the entities: the patient, the resources, the query, the request id */
	json_t *ent = json_object_get(j, "entity");
	assert_int_equal(json_array_size(ent), 5);
	assert_str_at(j, "entity.0.what.reference", "Patient/p1");
	assert_str_at(j, "entity.0.type.code", "1");
	assert_str_at(j, "entity.0.role.code", "1");
	assert_str_at(j, "entity.1.what.reference", "Observation/o1/_history/2");
	assert_str_at(j, "entity.1.type.code", "2");
	assert_str_at(j, "entity.1.role.code", "4");
	assert_str_at(j, "entity.2.what.reference", "Observation/o2/_history/1");
	assert_str_at(j, "entity.3.role.code", "24");
	const char *q = "code=http://loinc.org|1234-5&_count=10";
	unsigned char enc[128];
	EVP_EncodeBlock(enc, (const unsigned char *)q, (int)strlen(q));
	assert_str_at(j, "entity.3.query", (const char *)enc);
	assert_null(at(j, "entity.3.what"));
	assert_str_at(j, "entity.4.what.identifier.value", "req-42");
	assert_str_at(j, "entity.4.type.code", "XrequestId");
	json_decref(j);
	arena_free(a);
}

static void test_fhir_minimal(void **state)
{
	(void)state;
	arena *a = arena_new(0);
	/* a refused request without token: no agent identity, nothing asked for */
	audit_event e = {.recorded = T0, .interaction = "search-system", .status = 401};
	store_audit r = record_of(a, &e, 7);
	json_t *j = fhir_of(&r);
	assert_str_at(j, "outcome", "4");
	assert_str_at(j, "outcomeDesc", "HTTP 401");
	assert_str_at(j, "action", "R");
	assert_int_equal(json_array_size(json_object_get(j, "agent")), 1);
	assert_str_at(j, "agent.0.who.display", "unauthenticated");
	assert_null(at(j, "agent.0.who.identifier"));
	assert_true(json_is_true(at(j, "agent.0.requestor")));
	assert_null(at(j, "agent.0.policy"));
	assert_null(at(j, "agent.0.network"));
	assert_null(json_object_get(j, "purposeOfEvent"));
	assert_null(json_object_get(j, "entity"));
	json_decref(j);
	/* no interaction at all: no subtype */
	audit_event e2 = {.recorded = T0, .status = 500};
	r = record_of(a, &e2, 8);
	j = fhir_of(&r);
	assert_null(json_object_get(j, "subtype"));
	assert_str_at(j, "outcome", "8");
	assert_str_at(j, "action", "E");
	json_decref(j);
	arena_free(a);
}

static void test_fhir_operation(void **state)
{
	(void)state;
	arena *a = arena_new(0);
	audit_event e = {.recorded = T0,
	                 .interaction = "operation",
	                 .operation = "$everything",
	                 .status = 200,
	                 .agent = "x",
	                 .patient = "p9"};
	store_audit r = record_of(a, &e, 3);
	json_t *j = fhir_of(&r);
	assert_str_at(j, "action", "E");
	assert_str_at(j, "subtype.0.code", "operation");
	assert_str_at(j, "subtype.1.system", "urn:ietf:rfc:3986");
	assert_str_at(j, "subtype.1.code", "$everything");
	assert_str_at(j, "entity.0.what.reference", "Patient/p9");
	json_decref(j);
	arena_free(a);
}

static void test_fhir_break_glass(void **state)
{
	(void)state;
	arena *a = arena_new(0);
	audit_event e = {.recorded = T0,
	                 .interaction = "read",
	                 .status = 200,
	                 .agent = "x",
	                 .purpose = "ETREAT",
	                 .basis = "break-the-glass:default:opt-in",
	                 .break_glass = 1};
	store_audit r = record_of(a, &e, 4);
	json_t *j = fhir_of(&r);
	assert_str_at(j, "agent.0.policy.0", "break-the-glass:default:opt-in");
	assert_int_equal(json_array_size(at(j, "agent.0.purposeOfUse.0.coding")), 2);
	assert_str_at(j, "agent.0.purposeOfUse.0.coding.0.code", "ETREAT");
	assert_str_at(j, "agent.0.purposeOfUse.0.coding.1.code", "BTG");
	assert_str_at(j, "purposeOfEvent.0.coding.1.code", "BTG");
	json_decref(j);
	/* the purpose BTG itself: once */
	e.purpose = "BTG";
	r = record_of(a, &e, 5);
	j = fhir_of(&r);
	assert_int_equal(json_array_size(at(j, "agent.0.purposeOfUse.0.coding")), 1);
	assert_str_at(j, "agent.0.purposeOfUse.0.coding.0.code", "BTG");
	json_decref(j);
	arena_free(a);
}

static void test_fhir_checkpoint(void **state)
{
	(void)state;
	arena *a = arena_new(0);
	audit_event e = {.recorded = T0,
	                 .interaction = "checkpoint",
	                 .status = 200,
	                 .agent = "bron",
	                 .basis = "audit-checkpoint",
	                 .checkpoint = "aaa.bbb.ccc",
	                 .detail = "signed checkpoint of the audit chain"};
	store_audit r = record_of(a, &e, 11);
	json_t *j = parse(r.record, r.record_len);
	assert_str_at(j, "checkpoint", "aaa.bbb.ccc");
	json_decref(j);
	j = fhir_of(&r);
	assert_str_at(j, "subtype.0.system", "urn:bron:audit");
	assert_str_at(j, "subtype.0.code", "checkpoint");
	assert_str_at(j, "agent.0.who.identifier.value", "bron");
	assert_str_at(j, "outcomeDesc", "HTTP 200: signed checkpoint of the audit chain");
	json_decref(j);
	arena_free(a);
}

static void test_fhir_empty_query(void **state)
{
	(void)state;
	arena *a = arena_new(0);
	/* a search without parameters: FHIR has no empty strings */
	audit_event e = {.recorded = T0,
	                 .interaction = "search-type",
	                 .status = 200,
	                 .agent = "x",
	                 .query = ""};
	store_audit r = record_of(a, &e, 12);
	json_t *j = fhir_of(&r);
	assert_null(json_object_get(j, "entity"));
	json_decref(j);
	arena_free(a);
}

static void test_fhir_refuses_unknown(void **state)
{
	(void)state;
	const char *bad[] = {"{\"v\":2,\"status\":200}", "{\"status\":200}", "not json", "[1]", ""};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		store_audit r = {
		        .seq = 1, .recorded = T0, .record = bad[i], .record_len = strlen(bad[i])};
		buf b;
		buf_init(&b, 0);
		if (audit_to_fhir(&r, &b) != -1)
			fail_msg("audit_to_fhir accepted %s", bad[i]);
		buf_free(&b);
	}
}

/* ---- store_audit_hash ---- */

static void hash_of(const unsigned char prev[32], const store_audit *r, unsigned char out[32])
{
	store_audit_hash(prev, r, out);
}

static void test_hash_every_field(void **state)
{
	(void)state;
	unsigned char prev[32] = {0}, base[32], h[32];
	const char rec[] = "{\"v\":1,\"status\":200}";
	store_audit r = {.seq = 5,
	                 .recorded = T0,
	                 .patient = "p1",
	                 .agent = "dr",
	                 .action = 'R',
	                 .outcome = 0,
	                 .record = rec,
	                 .record_len = sizeof rec - 1};
	hash_of(prev, &r, base);
	/* deterministic */
	hash_of(prev, &r, h);
	assert_memory_equal(h, base, 32);
	/* the hash field itself is not hashed */
	store_audit t = r;
	memset(t.hash, 0xab, 32);
	hash_of(prev, &t, h);
	assert_memory_equal(h, base, 32);
	/* every field and the previous hash change it */
	unsigned char prev2[32] = {0};
	prev2[31] = 1;
	hash_of(prev2, &r, h);
	assert_memory_not_equal(h, base, 32);
#define CHANGED(field, value)                                                                      \
	do {                                                                                       \
		store_audit c_ = r;                                                                \
		c_.field = value;                                                                  \
		hash_of(prev, &c_, h);                                                             \
		if (!memcmp(h, base, 32))                                                          \
			fail_msg("changing " #field " to " #value " leaves the hash");             \
	} while (0)
	CHANGED(seq, 6);
	CHANGED(seq, 5 + (1LL << 40));
	CHANGED(recorded, T0 + 1);
	CHANGED(recorded, T0 + (1LL << 50));
	CHANGED(patient, "p2");
	CHANGED(patient, NULL);
	CHANGED(patient, "p1 ");
	CHANGED(agent, "dr2");
	CHANGED(agent, NULL);
	CHANGED(action, 'C');
	CHANGED(outcome, 4);
	CHANGED(outcome, 8);
	CHANGED(record, "{\"v\":1,\"status\":201}");
	CHANGED(record_len, sizeof rec - 2);
#undef CHANGED
	/* fields cannot shift into one another */
	store_audit s1 = r, s2 = r;
	s1.patient = "ab";
	s1.agent = "c";
	s2.patient = "a";
	s2.agent = "bc";
	unsigned char h1[32], h2[32];
	hash_of(prev, &s1, h1);
	hash_of(prev, &s2, h2);
	assert_memory_not_equal(h1, h2, 32);
	s1 = r;
	s2 = r;
	s1.agent = "x";
	s1.record = "{}";
	s1.record_len = 2;
	s2.agent = "x{";
	s2.record = "}";
	s2.record_len = 1;
	hash_of(prev, &s1, h1);
	hash_of(prev, &s2, h2);
	assert_memory_not_equal(h1, h2, 32);
	/* seq and recorded are not interchangeable */
	s1 = r;
	s2 = r;
	s1.seq = 1;
	s1.recorded = 2;
	s2.seq = 2;
	s2.recorded = 1;
	hash_of(prev, &s1, h1);
	hash_of(prev, &s2, h2);
	assert_memory_not_equal(h1, h2, 32);
}

/* ---- the chain in a store ---- */

static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char p[512];
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		if (unlink(p))
			remove_tree(p);
	}
	closedir(d);
	rmdir(dir);
}

static store *open_at(const char *dir)
{
	store_options o = {.dir = dir, .sync_full = 0};
	store *s = NULL;
	char *err = NULL;
	if (store_open(&o, &s, &err))
		fail_msg("store_open(%s): %s", dir, err ? err : "?");
	return s;
}

static void test_chain_in_store(void **state)
{
	(void)state;
	char dir[] = "/tmp/bron-audit-test-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char data[600], key[700], jwks[700];
	snprintf(data, sizeof data, "%s/data", dir);
	snprintf(key, sizeof key, "%s/key.pem", dir);
	snprintf(jwks, sizeof jwks, "%s/jwks.json", dir);
	char *err = NULL;
	if (auth_keygen("ES256", key, jwks, NULL, &err))
		fail_msg("auth_keygen: %s", err);
	auth_keys *k = NULL;
	if (auth_keys_load(jwks, &k, &err))
		fail_msg("auth_keys_load: %s", err);

	/* an empty trail verifies; a checkpoint of it is nothing */
	store *s = open_at(data);
	audit_verify_report rep;
	assert_int_equal(audit_verify(s, k, NULL, &rep), 0);
	assert_int_equal(rep.records, 0);
	free(rep.last_checkpoint);
	char *jws = (char *)1;
	assert_int_equal(audit_checkpoint(s, key, NULL, &jws, &err), 0);
	assert_null(jws);

	/* five records, appended as reads are */
	arena *a = arena_new(0);
	for (int i = 0; i < 5; i++) {
		audit_event e = {.recorded = T0 + i,
		                 .interaction = "read",
		                 .status = i == 3 ? 404 : 200,
		                 .agent = "dr",
		                 .patient = i % 2 ? "p1" : "p2"};
		store_audit r;
		audit_record(a, &e, &r);
		assert_int_equal(store_audit_append(s, &r, 1), STORE_OK);
	}
	store_close(s); /* flushes the queued appends */
	s = open_at(data);
	int64_t seq;
	unsigned char head[32];
	assert_int_equal(store_audit_head(s, &seq, head), STORE_OK);
	assert_int_equal(seq, 5);
	int64_t kseq;
	unsigned char kept[32];
	assert_int_equal(store_audit_kept_head(s, &kseq, kept), STORE_OK);
	assert_int_equal(kseq, 5);
	assert_memory_equal(kept, head, 32);

	/* the records as stored: seq 1..5, each hash from the one before */
	store_audit_query q = {.outcome = -1, .ascending = 1, .count = 10};
	store_audit *rs;
	size_t n;
	int more;
	assert_int_equal(store_audit_search(s, a, &q, &rs, &n, &more), STORE_OK);
	assert_int_equal(n, 5);
	assert_false(more);
	unsigned char prev[32] = {0};
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(rs[i].seq, (int64_t)i + 1);
		assert_false(rs[i].odd);
		unsigned char h[32];
		store_audit_hash(prev, &rs[i], h);
		assert_memory_equal(h, rs[i].hash, 32);
		memcpy(prev, h, 32);
	}
	assert_memory_equal(prev, head, 32);
	/* the searchable fields */
	store_audit_query qp = {.patient = "p1", .outcome = -1, .count = 10};
	assert_int_equal(store_audit_search(s, a, &qp, &rs, &n, &more), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(rs[0].seq, 4); /* newest first */
	assert_int_equal(rs[0].outcome, 4);
	store_audit_query qo = {.outcome = 4, .count = 10};
	assert_int_equal(store_audit_search(s, a, &qo, &rs, &n, &more), STORE_OK);
	assert_int_equal(n, 1);
	store_audit_query pg = {.outcome = -1, .count = 2, .after = 5};
	assert_int_equal(store_audit_search(s, a, &pg, &rs, &n, &more), STORE_OK);
	assert_int_equal(n, 2);
	assert_true(more);
	assert_int_equal(rs[0].seq, 4);
	assert_int_equal(rs[1].seq, 3);

	assert_int_equal(audit_verify(s, k, NULL, &rep), 0);
	assert_int_equal(rep.records, 5);
	assert_int_equal(rep.checkpoints, 0);
	assert_int_equal(rep.head_seq, 5);
	assert_int_equal(rep.bad_seq, 0);
	assert_memory_equal(rep.head_hash, head, 32);
	free(rep.last_checkpoint);

	/* a checkpoint (with the key's kid): signs seq 5, is appended as record 6 */
	char *kid = NULL;
	assert_int_equal(auth_jwks_kid_for(jwks, key, &kid, &err), 0);
	assert_non_null(kid);
	jws = NULL;
	assert_int_equal(audit_checkpoint(s, key, kid, &jws, &err), 0);
	free(kid);
	assert_non_null(jws);
	char *first = strdup(jws);
	free(jws);
	store_close(s);
	s = open_at(data);
	/* the head is a checkpoint: the same one again, nothing appended */
	jws = NULL;
	assert_int_equal(audit_checkpoint(s, key, NULL, &jws, &err), 0);
	assert_string_equal(jws, first);
	free(jws);
	store_close(s);
	s = open_at(data);
	if (audit_verify(s, k, NULL, &rep))
		fail_msg("verify after a checkpoint: record %lld: %s", (long long)rep.bad_seq,
		         rep.problem);
	assert_int_equal(rep.records, 6);
	assert_int_equal(rep.checkpoints, 1);
	assert_non_null(rep.last_checkpoint);
	assert_string_equal(rep.last_checkpoint, first);
	free(rep.last_checkpoint);
	/* the checkpoint kept elsewhere holds too */
	assert_int_equal(audit_verify(s, k, first, &rep), 0);
	assert_int_equal(rep.checkpoints, 2);
	free(rep.last_checkpoint);
	/* without keys: the hashes still checked, not the signatures */
	assert_int_equal(audit_verify(s, NULL, first, &rep), 0);
	free(rep.last_checkpoint);
	/* an external checkpoint of a record the chain does not have */
	char claims[300];
	snprintf(claims, sizeof claims,
	         "{\"iss\":\"bron\",\"sub\":\"audit-checkpoint\",\"seq\":99,\"hash\":\"%s\","
	         "\"iat\":1795000000,\"exp\":4950000000}",
	         "00000000000000000000000000000000000000000000000000000000000000aa");
	char *future = auth_sign(key, NULL, claims, &err);
	assert_non_null(future);
	assert_int_equal(audit_verify(s, k, future, &rep), 1);
	assert_int_equal(rep.bad_seq, 99);
	assert_non_null(strstr(rep.problem, "missing"));
	free(rep.last_checkpoint);
	free(future);
	/* one of a record it has, but another hash: rewritten */
	snprintf(claims, sizeof claims,
	         "{\"iss\":\"bron\",\"sub\":\"audit-checkpoint\",\"seq\":3,\"hash\":\"%s\",\"iat\":"
	         "1795000000,\"exp\":4950000000}",
	         "00000000000000000000000000000000000000000000000000000000000000aa");
	char *other = auth_sign(key, NULL, claims, &err);
	assert_int_equal(audit_verify(s, k, other, &rep), 1);
	assert_int_equal(rep.bad_seq, 3);
	assert_non_null(strstr(rep.problem, "differs"));
	free(rep.last_checkpoint);
	free(other);
	/* not a JWS at all */
	assert_int_equal(audit_verify(s, NULL, "no.jws", &rep), 1);
	assert_non_null(strstr(rep.problem, "not one Bron signed"));
	free(rep.last_checkpoint);
	free(first);
	store_close(s);
	arena_free(a);
	auth_keys_free(k);
	remove_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_action),
	        cmocka_unit_test(test_outcome),
	        cmocka_unit_test(test_record_fields),
	        cmocka_unit_test(test_record_minimal),
	        cmocka_unit_test(test_record_action_and_outcome),
	        cmocka_unit_test(test_record_many_what),
	        cmocka_unit_test(test_record_escapes),
	        cmocka_unit_test(test_fhir_full),
	        cmocka_unit_test(test_fhir_minimal),
	        cmocka_unit_test(test_fhir_operation),
	        cmocka_unit_test(test_fhir_break_glass),
	        cmocka_unit_test(test_fhir_checkpoint),
	        cmocka_unit_test(test_fhir_empty_query),
	        cmocka_unit_test(test_fhir_refuses_unknown),
	        cmocka_unit_test(test_hash_every_field),
	        cmocka_unit_test(test_chain_in_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
