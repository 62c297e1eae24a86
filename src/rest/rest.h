/*
 * rest.h - the FHIR RESTful API (hl7.org/fhir/R4/http.html) on top of the
 * HTTP layer and the store: routing, content negotiation, the interactions
 * (read, vread, create, update, patch, delete, history, capabilities) and
 * OperationOutcome replies. One rest object serves every request; it holds
 * only immutable configuration and the CapabilityStatement it built at start.
 */
#ifndef BRON_REST_H
#define BRON_REST_H

#include <stddef.h>

#include "../auth/auth.h"
#include "../http/http.h"
#include "../store/store.h"

typedef struct rest rest;

typedef struct rest_config {
	store *store;          /* borrowed; must outlive the rest object */
	const char *base_path; /* URL path of the FHIR base, e.g. "/fhir" */
	const char *base_url;  /* absolute base for Location and fullUrl; NULL: from Host */
	size_t max_body;       /* for the CapabilityStatement and error text */
	size_t max_entries;    /* most entries in a batch/transaction Bundle (0: 20000) */
	/* access: bearer tokens verified against `keys` (borrowed), or none at
	 * all when `open` (development only; every check passes) */
	const auth_keys *keys;
	auth_check check;
	int open;
	/* consent: the owner's organisation ("system|value"; tokens of any other,
	 * or for a purpose other than treatment, are subject to the patient's
	 * Consent resources), the decision when no consent applies, and the
	 * purpose-of-use codes that break the glass (comma-separated, or NULL) */
	const char *organization;
	int consent_opt_out;
	const char *break_glass;
	int no_audit;      /* no audit records (development with open, and benchmarks) */
	struct bulk *bulk; /* Bulk Data export jobs (borrowed), or NULL: no $export */
	int restore;       /* accept X-Bron-Restore (bron import --history only) */
	/* query cost: a reading request (GET, POST _search) still reading the
	 * store after request_timeout_ms is stopped and answered 503
	 * "too-costly" (0: no limit); at most max_include resources are added to
	 * a page by _include/_revinclude (0: 1000), more are left out with a
	 * warning in the Bundle */
	long request_timeout_ms;
	size_t max_include;
} rest_config;

rest *rest_new(const rest_config *cfg);
void rest_free(rest *r);
/* The http_handler_fn: `ctx` is the rest object. */
void rest_handle(http_req *req, void *ctx);

#endif
