/*
 * audit.c - audit records and their AuditEvent form (audit.h).
 */
#include "audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "../json/json.h"

char audit_action(const char *i)
{
	if (!i)
		return 'E';
	if (!strcmp(i, "create"))
		return 'C';
	if (!strcmp(i, "update") || !strcmp(i, "patch"))
		return 'U';
	if (!strcmp(i, "delete"))
		return 'D';
	if (!strcmp(i, "read") || !strcmp(i, "vread") || !strncmp(i, "search", 6) ||
	    !strncmp(i, "history", 7))
		return 'R';
	return 'E';
}

int audit_outcome(int status)
{
	return status >= 500 ? 8 : status >= 400 ? 4 : 0;
}

static void put_field(buf *b, const char *key, const char *v)
{
	if (!v)
		return;
	buf_printf(b, ",\"%s\":", key);
	json_put_string(b, v);
}

void audit_record(arena *a, const audit_event *e, store_audit *out)
{
	buf b;
	buf_init(&b, 0);
	char when[40];
	base_format_instant(e->recorded, when, sizeof when);
	buf_printf(&b, "{\"v\":1,\"recorded\":\"%s\",\"status\":%d", when, e->status);
	put_field(&b, "interaction", e->interaction);
	put_field(&b, "operation", e->operation);
	put_field(&b, "agent", e->agent);
	put_field(&b, "organization", e->organization);
	put_field(&b, "onBehalfOf", e->on_behalf);
	put_field(&b, "client", e->client);
	put_field(&b, "purpose", e->purpose);
	put_field(&b, "basis", e->basis);
	if (e->break_glass)
		buf_puts(&b, ",\"breakGlass\":true");
	put_field(&b, "address", e->address);
	put_field(&b, "requestId", e->request_id);
	put_field(&b, "patient", e->patient);
	if (e->nwhat) {
		buf_puts(&b, ",\"what\":[");
		size_t n = e->nwhat < AUDIT_MAX_WHAT ? e->nwhat : AUDIT_MAX_WHAT;
		for (size_t i = 0; i < n; i++) {
			if (i)
				buf_putc(&b, ',');
			json_put_string(&b, e->what[i]);
		}
		buf_putc(&b, ']');
		if (e->nwhat > n)
			buf_printf(&b, ",\"whatMore\":%zu", e->nwhat - n);
	}
	put_field(&b, "query", e->query);
	put_field(&b, "detail", e->detail);
	put_field(&b, "checkpoint", e->checkpoint);
	buf_putc(&b, '}');
	*out = (store_audit){.recorded = e->recorded,
	                     .patient = e->patient ? arena_strdup(a, e->patient) : NULL,
	                     .agent = e->agent ? arena_strdup(a, e->agent) : NULL,
	                     /* an update that created the resource is a create */
	                     .action = e->status == 201 ? 'C' : audit_action(e->interaction),
	                     .outcome = audit_outcome(e->status),
	                     .record = arena_memdup(a, b.data, b.len),
	                     .record_len = b.len};
	buf_free(&b);
}

/* ---- the AuditEvent ---- */

static const char *str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void coding(buf *b, const char *system, const char *code, const char *display)
{
	buf_puts(b, "{\"system\":");
	json_put_string(b, system);
	buf_puts(b, ",\"code\":");
	json_put_string(b, code);
	if (display) {
		buf_puts(b, ",\"display\":");
		json_put_string(b, display);
	}
	buf_putc(b, '}');
}

static void agent_type(buf *b, const char *system, const char *code, const char *display)
{
	buf_puts(b, "\"type\":{\"coding\":[");
	coding(b, system, code, display);
	buf_puts(b, "]}");
}

/* An identifier "system|value" or "value" as Identifier JSON. */
static void identifier(buf *b, const char *v)
{
	const char *bar = strchr(v, '|');
	buf_puts(b, "{\"identifier\":{");
	if (bar) {
		buf_puts(b, "\"system\":");
		char *sys = strndup(v, (size_t)(bar - v));
		if (!sys)
			base_oom();
		json_put_string(b, sys);
		free(sys);
		buf_putc(b, ',');
		v = bar + 1;
	}
	buf_puts(b, "\"value\":");
	json_put_string(b, v);
	buf_puts(b, "}}");
}

/* An agent besides the requestor (none when who is NULL): an identifier
 * ("system|value") or, for a system, a display name. */
static void other_agent(buf *b, const char *system, const char *code, const char *display,
                        const char *who, int is_identifier)
{
	if (!who)
		return;
	buf_puts(b, ",{");
	agent_type(b, system, code, display);
	buf_puts(b, ",\"who\":");
	if (is_identifier) {
		identifier(b, who);
	} else {
		buf_puts(b, "{\"display\":");
		json_put_string(b, who);
		buf_putc(b, '}');
	}
	buf_puts(b, ",\"requestor\":false}");
}

static void purpose_of_use(buf *b, const char *purpose, int btg)
{
	buf_puts(b, "[{\"coding\":[");
	coding(b, "http://terminology.hl7.org/CodeSystem/v3-ActReason", purpose, NULL);
	if (btg && strcmp(purpose, "BTG")) {
		buf_putc(b, ',');
		coding(b, "http://terminology.hl7.org/CodeSystem/v3-ActReason", "BTG",
		       "break the glass");
	}
	buf_puts(b, "]}]");
}

static void entity_ref(buf *b, const char *ref, int patient)
{
	buf_puts(b, "{\"what\":{\"reference\":");
	json_put_string(b, ref);
	buf_puts(b, "},\"type\":");
	coding(b, "http://terminology.hl7.org/CodeSystem/audit-entity-type", patient ? "1" : "2",
	       patient ? "Person" : "System Object");
	buf_puts(b, ",\"role\":");
	coding(b, "http://terminology.hl7.org/CodeSystem/object-role", patient ? "1" : "4",
	       patient ? "Patient" : "Domain Resource");
	buf_putc(b, '}');
}

static int to_fhir(const store_audit *r, int hide_query, buf *b);

int audit_to_fhir(const store_audit *r, buf *b)
{
	return to_fhir(r, 0, b);
}

int audit_to_fhir_for_patient(const store_audit *r, buf *b)
{
	return to_fhir(r, 1, b);
}

static int to_fhir(const store_audit *r, int hide_query, buf *b)
{
	json_error_t err;
	json_t *j = json_loadb(r->record, r->record_len, 0, &err);
	if (!j || json_integer_value(json_object_get(j, "v")) != 1) {
		json_decref(j);
		return -1;
	}
	const char *interaction = str(j, "interaction"), *op = str(j, "operation");
	const char *purpose = str(j, "purpose");
	int btg = json_is_true(json_object_get(j, "breakGlass"));
	int status = (int)json_integer_value(json_object_get(j, "status"));
	char when[40];
	base_format_instant(r->recorded, when, sizeof when);
	buf_printf(b,
	           "{\"resourceType\":\"AuditEvent\",\"id\":\"%lld\",\"meta\":{\"versionId\":"
	           "\"1\",\"lastUpdated\":\"%s\"},\"type\":",
	           (long long)r->seq, when);
	coding(b, "http://terminology.hl7.org/CodeSystem/audit-event-type", "rest",
	       "Restful Operation");
	if (interaction || op) {
		buf_puts(b, ",\"subtype\":[");
		if (interaction)
			coding(b,
			       strcmp(interaction, "checkpoint")
			               ? "http://hl7.org/fhir/restful-interaction"
			               : "urn:bron:audit",
			       interaction, NULL);
		if (op) {
			if (interaction)
				buf_putc(b, ',');
			coding(b, "urn:ietf:rfc:3986", op, NULL);
		}
		buf_putc(b, ']');
	}
	buf_printf(b, ",\"action\":\"%c\",\"recorded\":\"%s\",\"outcome\":\"%d\"",
	           r->action ? r->action : 'E', when, r->outcome);
	const char *detail = str(j, "detail");
	char desc[600];
	snprintf(desc, sizeof desc, "HTTP %d%s%s", status, detail ? ": " : "",
	         detail ? detail : "");
	buf_puts(b, ",\"outcomeDesc\":");
	json_put_string(b, desc);
	if (purpose) {
		buf_puts(b, ",\"purposeOfEvent\":");
		purpose_of_use(b, purpose, btg);
	}
	/* agents: the user (requestor), the organisation, on whose behalf, the system */
	buf_puts(b, ",\"agent\":[{");
	agent_type(b, "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP",
	           "information recipient");
	const char *agent = str(j, "agent");
	if (agent) {
		buf_puts(b, ",\"who\":");
		identifier(b, agent);
	} else {
		buf_puts(b, ",\"who\":{\"display\":\"unauthenticated\"}");
	}
	buf_puts(b, ",\"requestor\":true");
	const char *basis = str(j, "basis");
	if (basis) {
		buf_puts(b, ",\"policy\":[");
		json_put_string(b, basis);
		buf_putc(b, ']');
	}
	const char *addr = str(j, "address");
	if (addr) {
		buf_puts(b, ",\"network\":{\"address\":");
		json_put_string(b, addr);
		buf_puts(b, ",\"type\":\"2\"}"); /* an IP address */
	}
	if (purpose) {
		buf_puts(b, ",\"purposeOfUse\":");
		purpose_of_use(b, purpose, btg);
	}
	buf_putc(b, '}');
	other_agent(b, "http://terminology.hl7.org/CodeSystem/v3-RoleClass", "PROV",
	            "healthcare provider", str(j, "organization"), 1);
	other_agent(b, "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "RESP",
	            "responsible party", str(j, "onBehalfOf"), 1);
	other_agent(b, "http://dicom.nema.org/resources/ontology/DCM", "110150", "Application",
	            str(j, "client"), 0);
	buf_puts(b, "],\"source\":{\"site\":\"Bron\",\"observer\":{\"display\":\"Bron FHIR "
	            "server\"},\"type\":[");
	coding(b, "http://terminology.hl7.org/CodeSystem/security-source-type", "4",
	       "Application Server");
	buf_puts(b, "]}");
	/* entities: the patient, the resources, the query, the request id */
	size_t ne = 0;
	const char *patient = str(j, "patient"), *query = str(j, "query"),
	           *rid = str(j, "requestId");
	if ((query && !*query) || hide_query)
		query = NULL; /* FHIR has no empty strings; a patient's view shows no staff query */
	if (!patient && !json_array_size(json_object_get(j, "what")) && !query && !rid) {
		buf_putc(b, '}');
		json_decref(j);
		return 0;
	}
	buf_puts(b, ",\"entity\":[");
	if (patient) {
		char ref[300];
		snprintf(ref, sizeof ref, "Patient/%s", patient);
		entity_ref(b, ref, 1);
		ne++;
	}
	size_t i;
	json_t *w;
	json_array_foreach(json_object_get(j, "what"), i, w)
	{
		if (ne++)
			buf_putc(b, ',');
		entity_ref(b, json_string_value(w), 0);
	}
	if (query) {
		if (ne++)
			buf_putc(b, ',');
		size_t ql = strlen(query);
		char *enc = malloc(4 * ((ql + 2) / 3) + 1);
		if (!enc)
			base_oom();
		EVP_EncodeBlock((unsigned char *)enc, (const unsigned char *)query, (int)ql);
		buf_puts(b, "{\"type\":");
		coding(b, "http://terminology.hl7.org/CodeSystem/audit-entity-type", "2",
		       "System Object");
		buf_puts(b, ",\"role\":");
		coding(b, "http://terminology.hl7.org/CodeSystem/object-role", "24", "Query");
		buf_printf(b, ",\"query\":\"%s\"}", enc);
		free(enc);
	}
	if (rid) {
		if (ne++)
			buf_putc(b, ',');
		buf_puts(b, "{\"what\":{\"identifier\":{\"value\":");
		json_put_string(b, rid);
		buf_puts(b, "}},\"type\":");
		coding(b, "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType",
		       "XrequestId", "X-Request-Id");
		buf_putc(b, '}');
	}
	buf_puts(b, "]}");
	json_decref(j);
	return 0;
}
