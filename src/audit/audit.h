/*
 * audit.h - the NEN 7513 access log: what one interaction did, as a record
 * of the store's hash-chained audit trail (store.h), and that record as a
 * FHIR AuditEvent shaped after IHE Basic Audit Log Patterns (BALP).
 *
 * A record holds what NEN 7513 asks: when, who (the user), on whose behalf
 * and for which organisation, which system, which patient, which resources,
 * what action, the outcome, the purpose of use and the rule or consent that
 * decided.
 */
#ifndef BRON_AUDIT_H
#define BRON_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"
#include "../store/store.h"

#define AUDIT_MAX_WHAT 200 /* resources named in one record (more are counted) */

typedef struct audit_event {
	int64_t recorded;
	const char *interaction;  /* restful-interaction code: read, vread, search-type,
	                           * create, update, patch, delete, history-instance,
	                           * transaction, operation, ... */
	const char *operation;    /* for operations: "$everything", ... (or NULL) */
	int status;               /* the HTTP status answered */
	const char *agent;        /* the token's subject (NULL: none, e.g. no token) */
	const char *organization; /* the requesting organisation (system|value) */
	const char *on_behalf;    /* act.sub: on whose behalf a system acts */
	const char *client;       /* the system that asked: the TLS client certificate's subject */
	const char *purpose;      /* purpose of use code */
	const char *basis;        /* the rule or consent that decided: "Consent/c1",
	                           * "default:opt-in", "scope", "break-the-glass:...",
	                           * "open" */
	int break_glass;
	const char *address;     /* the client's network address */
	const char *request_id;  /* X-Request-Id */
	const char *patient;     /* the patient whose data it concerns (NULL: none) */
	const char *const *what; /* references, e.g. "Observation/o1/_history/2" */
	size_t nwhat;
	const char *query;      /* for searches: the query string */
	const char *detail;     /* a short text, e.g. why it was refused */
	const char *checkpoint; /* a checkpoint record: the signed JWS of the chain's head */
} audit_event;

/* The action code of an interaction: C, R, U, D or E. */
char audit_action(const char *interaction);
/* The outcome code of an HTTP status: 0 (2xx, 3xx), 4 (4xx), 8 (5xx). */
int audit_outcome(int status);

/* The record of e (canonical JSON and the searchable fields, arena-owned). */
void audit_record(arena *a, const audit_event *e, store_audit *out);

/* The FHIR AuditEvent of a stored record into b. -1 if the record is not
 * one this build wrote. */
int audit_to_fhir(const store_audit *r, buf *b);
/* The same for a patient reading their own records: without the search
 * query, which may name other patients (a staff search for several). */
int audit_to_fhir_for_patient(const store_audit *r, buf *b);

/* ---- the chain: checkpoints and verification (chain.c) ---- */

/* Sign the chain's head (its seq and hash, a JWS made with the PEM private
 * key at key_path) and append that as a checkpoint record. Nothing is
 * appended when the head is a checkpoint already. *jws (may be NULL): the
 * checkpoint, malloc'ed (NULL for an empty trail). 0, or -1 with *err
 * malloc'ed. */
int audit_checkpoint(store *s, const char *key_path, const char *kid, char **jws, char **err);

typedef struct audit_verify_report {
	int64_t records;     /* records checked */
	int64_t checkpoints; /* checkpoint signatures checked */
	int64_t head_seq;    /* the last record */
	unsigned char head_hash[32];
	int64_t bad_seq;       /* the first record found wrong (0: none) */
	char problem[512];     /* what is wrong with it */
	char *last_checkpoint; /* the newest checkpoint JWS (malloc'ed) or NULL */
} audit_verify_report;

/* Walk the whole chain: every record's hash, the seq numbers without gaps,
 * the head the store keeps, and each checkpoint's signature (with `keys`;
 * NULL: signatures are not checked) against the chain. `external`: a
 * checkpoint JWS kept elsewhere, which the chain must still match. 0 when
 * the chain holds, 1 when it does not (rep says where), -1 on a store error. */
int audit_verify(store *s, const void *keys, const char *external, audit_verify_report *rep);

#endif
