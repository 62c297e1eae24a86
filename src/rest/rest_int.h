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
#include "../store/store.h"
#include "rest.h"

struct rest {
	rest_config cfg;
	char *capability;      /* CapabilityStatement JSON, built once */
	size_t capability_len;
};

typedef enum prefer_return {
	PREFER_DEFAULT,
	PREFER_MINIMAL,
	PREFER_REPRESENTATION,
	PREFER_OUTCOME
} prefer_return;

/* Everything one request needs, allocated from its arena. */
typedef struct rctx {
	rest *r;
	http_req *req;
	arena *a;
	const char *method;
	const char *type;      /* resource type from the URL, or NULL */
	const char *id;        /* logical id from the URL, or NULL */
	const char *vid;       /* version from the URL, or NULL */
	int pretty;            /* _pretty=true */
	prefer_return prefer;  /* Prefer: return=... */
	int lenient;           /* Prefer: handling=lenient (ignore unknown parameters) */
	const char *base;      /* absolute base URL, no trailing slash */
	/* a pending write */
	store_op op;
	json_t *json;          /* parsed body (decref'ed at the end of the write) */
	const char *src;       /* body bytes the canonical form is built from */
	size_t src_len;
	buf out;               /* canonical bytes of the new version */
	int patch_attempts;
} rctx;

/* ---- replies (reply.c); each sends the response, callers just return ---- */

/* An OperationOutcome with one issue. `code` is a FHIR IssueType. */
void rest_reply_error(rctx *c, int status, const char *code, const char *fmt, ...)
	BASE_PRINTF(4, 5);
/* An OperationOutcome with the collected diagnostics. */
void rest_reply_diags(rctx *c, int status, const diag_list *d);
/* An informational OperationOutcome with the given status. */
void rest_reply_info(rctx *c, int status, const char *fmt, ...) BASE_PRINTF(3, 4);
/* A JSON body (stored bytes or a built Bundle), pretty-printed on request. */
void rest_reply_json(rctx *c, int status, const char *body, size_t len);
/* Add ETag and Last-Modified for a version. */
void rest_set_version_headers(rctx *c, int64_t version, int64_t last_updated);
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

void rest_read(rctx *c);              /* read.c */
void rest_vread(rctx *c);             /* read.c */
void rest_create(rctx *c);            /* write.c */
void rest_update(rctx *c);            /* write.c */
void rest_delete(rctx *c);            /* write.c */
void rest_patch(rctx *c);             /* write.c */
void rest_history(rctx *c);           /* history.c: type/id narrow it */
void rest_capabilities(rctx *c);      /* capability.c */
/* Build the CapabilityStatement once (capability.c). */
void rest__build_capability(rest *r);

/* JSON Patch (RFC 6902) applied in place to `doc` (patch.c). On failure
 * returns the HTTP status to answer (400 malformed patch, 422 cannot apply)
 * and adds a diagnostic. */
int rest__json_patch(json_t *doc, const json_t *patch, diag_list *d);

#endif
