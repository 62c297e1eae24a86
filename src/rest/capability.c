/*
 * capability.c - the CapabilityStatement served at GET [base]/metadata,
 * built once at start from the generated model (every concrete R4 resource
 * type) and from what this build really implements; nothing is claimed that
 * the router does not dispatch.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../json/json.h"
#include "../model/model.h"
#include "rest_int.h"

#ifndef BRON_VERSION
#define BRON_VERSION "0.1.0"
#endif

static const char *const type_interactions[] = {
        "read",         "vread",       "update", "patch", "delete", "create", "history-instance",
        "history-type", "search-type", NULL};

static const char *const sp_type_names[] = {"number",   "date",      "string",
                                            "token",    "reference", "composite",
                                            "quantity", "uri",       "special"};

/* The search parameters of one type, as CapabilityStatement.rest.resource.searchParam. */
static void put_search_params(buf *b, const char *type)
{
	const model_search_param *const *sp;
	size_t n = model_search_params_for(type, &sp);
	buf_puts(b, ",\"searchParam\":[");
	for (size_t i = 0; i < n; i++) {
		buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
		json_put_string(b, sp[i]->code);
		if (sp[i]->url) {
			buf_puts(b, ",\"definition\":");
			json_put_string(b, sp[i]->url);
		}
		buf_printf(b, ",\"type\":\"%s\"}", sp_type_names[sp[i]->type]);
	}
	buf_putc(b, ']');
}

void rest__build_capability(rest *r)
{
	buf b;
	buf_init(&b, 0);
	char now[40];
	base_format_instant(base_now_us(), now, sizeof now);
	buf_printf(
	        &b,
	        "{\"resourceType\":\"CapabilityStatement\",\"status\":\"active\",\"date\":\"%s\","
	        "\"publisher\":\"Bron\",\"kind\":\"instance\","
	        "\"software\":{\"name\":\"Bron\",\"version\":\"%s\"},"
	        "\"implementation\":{\"description\":\"Bron FHIR R4 server\"},"
	        "\"fhirVersion\":\"4.0.1\",\"format\":[\"json\"],"
	        "\"patchFormat\":[\"application/json-patch+json\"],"
	        "\"rest\":[{\"mode\":\"server\",",
	        now, BRON_VERSION);
	if (r->cfg.open)
		buf_puts(&b, "\"security\":{\"description\":\"Open mode: no access checks "
		             "(development only, loopback)\"},");
	else {
		buf_puts(&b, "\"security\":{\"cors\":false,\"service\":[{\"coding\":[{\"system\":"
		             "\"http://terminology.hl7.org/CodeSystem/restful-security-service\","
		             "\"code\":\"SMART-on-FHIR\"}],\"text\":\"Bearer tokens\"}],"
		             "\"description\":");
		char *d = NULL;
		if (asprintf(&d,
		             "Every request but metadata needs a bearer token: a JWT signed with "
		             "RS256 or ES256 by a key of the server's JWKS, iss '%s', aud '%s'. "
		             "SMART scopes v1 and v2 (with query filters) decide what it may do; a "
		             "patient claim limits it to that patient's compartment. A token of "
		             "another organisation than %s, or for a purpose other than treatment, "
		             "needs a patient claim and sees what the patient's Consent resources "
		             "(scope patient-privacy) permit; with no consent: %s.%s See "
		             ".well-known/smart-configuration.",
		             r->cfg.check.issuer ? r->cfg.check.issuer : "",
		             r->cfg.check.audience ? r->cfg.check.audience : "",
		             r->cfg.organization ? r->cfg.organization : "(none configured)",
		             r->cfg.consent_opt_out ? "opt-out (permitted)" : "opt-in (denied)",
		             r->cfg.break_glass ? " Break-the-glass purposes override a deny."
		                                : "") < 0)
			base_oom();
		json_put_string(&b, d); /* the issuer and audience are the operator's text */
		free(d);
		buf_puts(&b, "},");
	}
	buf_puts(&b, "\"resource\":[");
	size_t n = model_resource_count();
	for (size_t i = 0; i < n; i++) {
		const char *name = model_type_name(model_resource_at(i));
		if (i)
			buf_putc(&b, ',');
		buf_puts(&b, "{\"type\":");
		json_put_string(&b, name);
		buf_puts(&b, ",\"interaction\":[");
		for (const char *const *it = type_interactions; *it; it++)
			buf_printf(&b, "%s{\"code\":\"%s\"}", it == type_interactions ? "" : ",",
			           *it);
		buf_puts(&b, "],\"versioning\":\"versioned-update\",\"readHistory\":true,"
		             "\"updateCreate\":true,\"conditionalCreate\":true,"
		             "\"conditionalRead\":\"full-support\",\"conditionalUpdate\":true,"
		             "\"conditionalDelete\":\"multiple\"");
		put_search_params(&b, name);
		buf_putc(&b, '}');
	}
	buf_puts(&b, "],\"interaction\":[{\"code\":\"transaction\"},{\"code\":\"batch\"},"
	             "{\"code\":\"search-system\"},{\"code\":\"history-system\"}]}]}");
	r->capability = buf_detach(&b, &r->capability_len);
}

void rest_capabilities(rctx *c)
{
	static const char *const params[] = {"mode", NULL};
	if (rest_check_params_or_reply(c, params))
		return;
	rest_reply_json(c, 200, c->r->capability, c->r->capability_len);
}
