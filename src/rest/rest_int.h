/*
 * rest_int.h - shared by the files of src/rest: the per-request context and
 * the reply helpers every interaction uses. Private to the subsystem.
 */
#ifndef BRON_REST_INT_H
#define BRON_REST_INT_H

#include <jansson.h>
#include <stdint.h>

#include "../base/base.h"
#include "../http/http.h"
#include "../policy/policy.h"
#include "../search/search.h"
#include "../store/store.h"
#include "rest.h"

typedef struct token_cache token_cache;     /* router.c */
typedef struct consent_cache consent_cache; /* access.c */

struct rest {
	rest_config cfg;
	token_cache *tokens;     /* tokens verified lately (verification costs ~50 us) */
	consent_cache *consents; /* patients' consents parsed lately */
	char *capability;        /* CapabilityStatement JSON, built once */
	size_t capability_len;
};

typedef enum prefer_return {
	PREFER_DEFAULT,
	PREFER_MINIMAL,
	PREFER_REPRESENTATION,
	PREFER_OUTCOME
} prefer_return;

/* A request that comes from a Bundle entry instead of HTTP: its inputs, and
 * the response the interaction gave, captured for the response Bundle. */
typedef struct rest_entry {
	/* in */
	const char *if_match, *if_none_match, *if_none_exist, *if_modified_since;
	const char *restore;       /* restore mode: "<version> <instant>" from entry.response */
	const char **keys, **vals; /* query parameters of entry.request.url */
	size_t nparams;
	const char *body; /* the entry's resource bytes (POST/PUT/PATCH) */
	json_t *tree;     /* the same, parsed (borrowed from the Bundle's tree), or NULL */
	size_t body_len;
	/* out */
	int status;
	const char *res_body; /* arena-owned, NULL when none */
	size_t res_len;
	const char *etag, *location;
	int64_t last_modified; /* microseconds, 0 when none */
} rest_entry;

typedef struct rctx rctx;
typedef struct bundle_run bundle_run;     /* bundle.c */
typedef struct rest_consent rest_consent; /* access.c */
typedef struct rest_seen rest_seen;       /* audit.c */
/* Finishes an interaction once its write is done (on a pool thread). */
typedef void (*rest_cont_fn)(rctx *c);

/* Everything one request needs, allocated from its arena. */
struct rctx {
	rest *r;
	const policy_principal *who; /* the token's principal; NULL in open mode */
	rest_consent *consent;       /* the patient's consents, decisions so far */
	http_req *req;               /* the HTTP request (also for Bundle entries: the outer one) */
	rest_entry *entry;           /* non-NULL: this is a Bundle entry, see rest_entry */
	arena *a;
	const char *method;
	const char *path;     /* the URL path (for messages) */
	const char *type;     /* resource type from the URL, or NULL */
	const char *id;       /* logical id from the URL, or NULL */
	const char *vid;      /* version from the URL, or NULL */
	int pretty;           /* _pretty=true */
	int plain_json;       /* answer application/json rather than application/fhir+json */
	prefer_return prefer; /* Prefer: return=... */
	int lenient;          /* Prefer: handling=lenient (ignore unknown parameters) */
	int strict;           /* Prefer: handling=strict (unknown search parameters are errors) */
	const char *compartment_id; /* Patient/[id]/[type] search: the patient's id */
	int contained_mode;         /* _contained: 0 false, 1 true, 2 both */
	int contained_itself;       /* _containedType=contained */
	int everything;             /* Patient/[id]/$everything: _since and _type, paged */
	const char *base;           /* absolute base URL, no trailing slash */
	/* a pending write */
	store_op op;
	json_t *json;    /* parsed body (decref'ed at the end of the write) */
	const char *src; /* body bytes the canonical form is built from */
	size_t src_len;
	buf out;                /* canonical bytes of the new version */
	buf pre;                /* the same, built before the version was known (see write.c) */
	size_t pre_ver, pre_lu; /* where the versionId goes, where the lastUpdated placeholder is */
	const char *pre_id;     /* the id pre was built with */
	search_rows rows;       /* index rows of the new version */
	const char *indexed_id; /* the id the rows were computed for */
	search_sql cond;        /* conditional create/update/delete */
	const char *body_id;    /* conditional update: the id in the body, or NULL */
	int id_mismatch;        /* conditional update matched a resource of another id */
	store_op *many;         /* conditional delete of several resources */
	size_t nmany;
	int patch_attempts;
	rest_cont_fn cont;  /* what finishes the interaction after the write */
	bundle_run *bundle; /* set for the entries of a batch/transaction */
	char *assigned_id;  /* create inside a Bundle: the id chosen up front */
	/* the audit record (audit.c) */
	const char *interaction;   /* restful-interaction code; NULL: not audited */
	const char *operation;     /* "$everything", ... */
	const char *basis;         /* what decided: a Consent, a default, ... (NULL: scopes) */
	const char *audit_detail;  /* why it was refused, ... */
	const char *query_text;    /* a search's query, as the record keeps it */
	int audited;               /* recorded already (with its write) */
	const char *body_override; /* $import: the batch Bundle its NDJSON became */
	size_t body_override_len;
	rest_seen *seen; /* the resources the answer holds */
	size_t nseen, capseen;
	const char **audit_patients; /* patients known before the answer (deletes, ...) */
	size_t naudit_patients;
	const char ***many_patients; /* a conditional delete of several: each one's */
	size_t *nmany_patients;
};

/* ---- access (access.c): what the principal may see and do ---- */

consent_cache *rest__consent_cache_new(void);
void rest__consent_cache_free(consent_cache *cc);
/* 1 if the principal is subject to the patient's consent: another
 * organisation, or a purpose other than treatment. */
int rest__consent_applies(rctx *c);
/* 403 unless some scope grants `perm` (a POLICY_* bit) on `type`. */
int rest__allowed_or_reply(rctx *c, const char *type, unsigned perm);
/* 1 if perm on type (NULL: system level) is granted only within limits
 * (a patient compartment, a scope query). */
int rest__limited(rctx *c, const char *type, unsigned perm);
/* AND the limits of perm on type into a compiled search; 403 if no grant. */
int rest__restrict_or_reply(rctx *c, const char *type, unsigned perm, search_sql *sql);
/* 1 if the current resource with row id `rid` is within the limits. */
int rest__visible(rctx *c, const char *type, unsigned perm, int64_t rid);
/* Keep the items the principal may see with perm; returns how many. */
size_t rest__keep_visible(rctx *c, unsigned perm, store_version *v, size_t n);
/* 1 if a new version of type/id with index rows `rows` stays within the
 * limits of perm (its patient compartment). */
int rest__in_compartment(rctx *c, const char *type, const char *id, const search_rows *rows,
                         unsigned perm);

/* ---- the audit trail (audit.c) ---- */

/* The answer holds v (for the records of the reply). */
void rest__audit_saw(rctx *c, const store_version *v);
/* Record the request as answered with `status` (once; not when its write
 * recorded it). Called by rest_send. */
void rest__audit_reply(rctx *c, int status);
/* store_write_async whose records are committed with the write: one per op
 * (owners[i] the request that owns op i; NULL: c) and patient. */
int rest__write_audited(rctx *c, rctx **owners, store_op *ops, size_t n, store_done_fn done,
                        void *ctx);
/* The patients of the current type/id, for the record of its deletion. */
void rest__audit_note_patients(rctx *c, const char *type, const char *id);
/* Bulk Data export (bulk.c): kick-off (level "system", "patient", "group"
 * with the Group's id), status and cancel, the files. */
void rest_export(rctx *c, const char *level, const char *group);
void rest_export_status(rctx *c);
void rest_export_file(rctx *c, const char *job, const char *name);
/* POST [base]/$import with an NDJSON body: each resource PUT with its id (bulk.c). */
void rest_import(rctx *c);
/* [base]/AuditEvent...: read and search the trail; anything else 405. */
void rest_audit_events(rctx *c, const char **seg, int n);

/* ---- the request as interactions see it (reply.c): HTTP or a Bundle entry ---- */

const char *rest_header(rctx *c, const char *name);
const char *rest_query(rctx *c, const char *name);
size_t rest_queries(rctx *c, const char *const **keys, const char *const **vals);
const char *rest_body(rctx *c, size_t *len);
void rest_set_header(rctx *c, const char *name, const char *value);
/* Send (or, for an entry, capture) the response; body may be NULL. */
void rest_send(rctx *c, int status, const char *body, size_t len);

/* ---- replies (reply.c); each sends the response, callers just return ---- */

/* An OperationOutcome with one issue. `code` is a FHIR IssueType. */
void rest_reply_error(rctx *c, int status, const char *code, const char *fmt, ...)
        BASE_PRINTF(4, 5);
/* An OperationOutcome with the collected diagnostics. */
void rest_reply_diags(rctx *c, int status, const diag_list *d);
/* A store call failed with STORE_* code rc: 507 with Retry-After when
 * there is no space left (STORE_FULL), 503 with Retry-After when the
 * database cannot be reached or read or written now, else 500; `what`
 * says what failed. */
void rest_reply_store_failure(rctx *c, int rc, const char *what);
/* rest_reply_store_failure for reads: a read stopped by the request's time
 * limit (STORE_TIMEOUT) is 503 "too-costly", naming the limit. */
void rest_reply_read_failure(rctx *c, int rc, const char *what);
/* An informational OperationOutcome with the given status. */
void rest_reply_info(rctx *c, int status, const char *fmt, ...) BASE_PRINTF(3, 4);
/* A JSON body (stored bytes or a built Bundle), pretty-printed on request. */
void rest_reply_json(rctx *c, int status, const char *body, size_t len);
/* Add ETag and Last-Modified for a version. */
void rest_set_version_headers(rctx *c, int64_t version, int64_t last_updated);
/* Open a Bundle of `type` in b: resourceType, a new id, meta.lastUpdated
 * and type, without a closing brace (reply.c). */
void rest__bundle_open(rctx *c, buf *b, const char *type);
/* Status reason phrase for Bundle entries ("201 Created"). */
const char *rest_status_text(int status);
/* Parse an ETag (W/"3" or "3") into a version; 0 on success. */
int rest_parse_etag(const char *s, int64_t *version);
/* Reject query parameters other than `allowed` (NULL-terminated) and the
 * general ones (_format, _pretty); replies 400 and returns -1. */
int rest_check_params_or_reply(rctx *c, const char *const *allowed);
/* True if id follows the FHIR id rules: [A-Za-z0-9-.]{1,64}. */
int rest_valid_id(const char *id);

/* ---- the interactions ---- */

void rest_read(rctx *c);         /* read.c */
void rest_vread(rctx *c);        /* read.c */
void rest_create(rctx *c);       /* write.c */
void rest_update(rctx *c);       /* write.c */
void rest_delete(rctx *c);       /* write.c */
void rest_patch(rctx *c);        /* write.c */
void rest_history(rctx *c);      /* history.c: type/id narrow it */
void rest_capabilities(rctx *c); /* capability.c */
void rest_search(rctx *c);       /* search.c: type (c->type) or system level */
void rest_everything(rctx *c);   /* search.c: Patient/[id]/$everything */
/* Build the CapabilityStatement once (capability.c). */
void rest__build_capability(rest *r);

/* Compile a conditional operation's search (search.c): `query` is the
 * If-None-Exist value ("identifier=x|1", optionally after "[type]?"), or
 * NULL for the request's own query parameters. Replies 400 and returns -1
 * when the condition is empty or invalid. */
int rest__condition_or_reply(rctx *c, const char *query, search_sql *out);

/* A new server-assigned logical id (write.c). */
void rest__new_id(arena *a, char **out);

/* Route an entry's or a request's path below the base (router.c). */
void rest__dispatch(rctx *c, const char *path_below_base);

/* Batch and transaction (bundle.c): POST [base] with a Bundle. */
void rest_bundle(rctx *c);
/* A write of a Bundle entry hands its prepared op to the Bundle (bundle.c). */
void rest__bundle_collect(rctx *c);
/* Writer thread, from the build callback of a Bundle entry: rewrite
 * references to conditional creates that matched; 1 if c->src/c->json changed. */
int rest__bundle_remap(rctx *c);
/* Split an application/x-www-form-urlencoded string into at most `cap`
 * decoded pairs (search.c); returns the count. */
size_t rest__form_split(arena *a, const char *s, size_t len, const char **keys, const char **vals,
                        size_t cap);

/* Rewrite a token parameter with :in/:not-in/:below/:above into plain
 * token values from stored ValueSets/CodeSystems (terminology.c); *key and
 * *val are replaced. 0, or -1 after replying 400. */
int rest__expand_terminology_or_reply(rctx *c, const char **key, const char **val);

/* JSON Patch (RFC 6902) applied in place to `doc` (patch.c). On failure
 * returns the HTTP status to answer (400 malformed patch, 422 cannot apply)
 * and adds a diagnostic. */
int rest__json_patch(json_t *doc, const json_t *patch, diag_list *d);

#endif
