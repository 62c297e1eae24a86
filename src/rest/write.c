/*
 * write.c - create, update, delete and patch. A request body is checked
 * (content type, JSON, resourceType, the structure tables) on the pool
 * thread; the store's writer then assigns the version and time, calls back
 * to build the canonical bytes, and commits; the request is suspended in
 * between and finishes in on_written() once the write is durable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "../json/json.h"
#include "../model/model.h"
#include "rest_int.h"

static const char *const write_params[] = {NULL};

static int json_content_type(const char *ct)
{
	if (!ct)
		return 1; /* absent: assume FHIR JSON */
	size_t n = strcspn(ct, "; ");
	return (n == 21 && !strncasecmp(ct, "application/fhir+json", n)) ||
	       (n == 16 && !strncasecmp(ct, "application/json", n)) ||
	       (n == 21 && !strncasecmp(ct, "application/json+fhir", n));
}

/* Parse and check the resource in the body; replies and returns -1 on error. */
static int resource_body_or_reply(rctx *c)
{
	const char *ct = rest_header(c, "Content-Type");
	if (!json_content_type(ct)) {
		rest_reply_error(c, 415, "not-supported",
		                 "Content-Type '%s' is not supported; send application/fhir+json",
		                 ct);
		return -1;
	}
	size_t len;
	const char *body = rest_body(c, &len);
	diag_list d;
	diag_init(&d, c->a);
	if (len == 0) {
		rest_reply_error(c, 400, "required",
		                 "The request has no body; a %s resource is expected", c->type);
		return -1;
	}
	if (c->entry && c->entry->tree) {
		c->json = json_incref(c->entry->tree); /* parsed with its Bundle already */
	} else if (json_parse(body, len, &c->json, &d)) {
		rest_reply_diags(c, 400, &d);
		return -1;
	}
	const json_t *rt = json_object_get(c->json, "resourceType");
	if (!json_is_object(c->json) || !json_is_string(rt)) {
		rest_reply_error(c, 400, "structure",
		                 "The body is not a FHIR resource (no resourceType)");
		goto fail;
	}
	if (strcmp(json_string_value(rt), c->type)) {
		rest_reply_error(c, 400, "invalid",
		                 "resourceType '%s' does not match the URL's type '%s'",
		                 json_string_value(rt), c->type);
		goto fail;
	}
	if (model_validate(c->json, &d)) {
		rest_reply_diags(c, 400, &d);
		goto fail;
	}
	c->src = body;
	c->src_len = len;
	return 0;
fail:
	json_decref(c->json);
	c->json = NULL;
	return -1;
}

/* store_build_fn: the canonical bytes, now that version and time are known. */
#define LU_WIDTH 24 /* "2024-01-02T03:04:05.678Z" */

static void prebuild_canonical(rctx *c);

static int build_canonical(store_op *op, void *ctx)
{
	rctx *c = ctx;
	if (c->body_id && strcmp(c->body_id, op->id)) {
		c->id_mismatch = 1; /* conditional update matched another resource */
		return -1;
	}
	int remapped = c->bundle && rest__bundle_remap(c);
	if (c->op.index && (remapped || strcmp(c->indexed_id, op->id))) {
		diag_list d;
		diag_init(&d, c->a);
		memset(&c->rows, 0, sizeof c->rows);
		search_index_base(c->json, op->type, op->id, c->base, c->a, &c->rows, &d);
	}
	char ver[24], lu[40];
	int vl = snprintf(ver, sizeof ver, "%lld", (long long)op->version);
	base_format_instant(op->last_updated, lu, sizeof lu);
	buf_reset(&c->out);
	if (c->pre.len && !remapped && !strcmp(c->pre_id, op->id) && strlen(lu) == LU_WIDTH) {
		/* the bytes were built on the pool thread: put the version in and
		 * overwrite the lastUpdated placeholder */
		if (buf_append(&c->out, c->pre.data, c->pre_ver) ||
		    buf_append(&c->out, ver, (size_t)vl) ||
		    buf_append(&c->out, c->pre.data + c->pre_ver, c->pre.len - c->pre_ver))
			return -1;
		memcpy(c->out.data + c->pre_lu + (size_t)vl, lu, LU_WIDTH);
	} else {
		json_meta m = {op->id, ver, lu};
		if (json_canonical(c->src, c->src_len, &m, &c->out))
			return -1;
	}
	op->body = c->out.data;
	op->body_len = c->out.len;
	return 0;
}

/* Build the canonical bytes on the pool thread, with an empty versionId and
 * a placeholder lastUpdated, so the writer only splices those in. */
static void prebuild_canonical(rctx *c)
{
	static const char ver_key[] = "\"meta\":{\"versionId\":\"";
	static const char placeholder[] = "0000-00-00T00:00:00.000Z";
	json_meta m = {c->op.id, "", placeholder};
	buf_init(&c->pre, 0);
	if (json_canonical(c->src, c->src_len, &m, &c->pre))
		goto none;
	/* meta is the third member of the canonical form: its first occurrence */
	const char *v = strstr(c->pre.data, ver_key);
	const char *l = v ? strstr(v, placeholder) : NULL;
	if (!v || !l)
		goto none;
	c->pre_ver = (size_t)(v - c->pre.data) + sizeof ver_key - 1;
	c->pre_lu = (size_t)(l - c->pre.data);
	c->pre_id = c->op.id;
	return;
none:
	buf_free(&c->pre);
}

/* A new logical id: a UUID in the version 7 layout (48-bit millisecond time,
 * then random bits), so ids created together sort together and the store's
 * indexes grow at their right edge instead of at random pages. */
void rest__new_id(arena *a, char **out)
{
	unsigned char r[16];
	if (getrandom(r + 6, sizeof r - 6, 0) != sizeof r - 6)
		base_oom(); /* the kernel's generator never fails for 10 bytes */
	uint64_t ms = (uint64_t)(base_now_us() / 1000);
	for (int i = 0; i < 6; i++)
		r[i] = (unsigned char)(ms >> (40 - 8 * i));
	r[6] = (r[6] & 0x0f) | 0x70;
	r[8] = (r[8] & 0x3f) | 0x80;
	*out = arena_printf(a,
	                    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	                    r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
	                    r[11], r[12], r[13], r[14], r[15]);
}

static void written(void *ctx)
{
	rctx *c = ctx;
	http_req_resume(c->req);
}

static void reply_written(rctx *c, int status)
{
	store_op *op = &c->op;
	char *loc = arena_printf(c->a, "%s/%s/%s/_history/%lld", c->base, op->type, op->id,
	                         (long long)op->version);
	if (status == 201)
		rest_set_header(c, "Location", loc);
	else
		rest_set_header(c, "Content-Location", loc);
	rest_set_version_headers(c, op->version, op->last_updated);
	switch (c->prefer) {
	case PREFER_MINIMAL: rest_send(c, status, NULL, 0); break;
	case PREFER_OUTCOME:
		rest_reply_info(c, status, "%s/%s version %lld %s", op->type, op->id,
		                (long long)op->version, status == 201 ? "created" : "updated");
		break;
	default:
		rest_reply_json(c, status, arena_memdup(c->a, op->body, op->body_len),
		                op->body_len);
	}
}

static void reply_store_error(rctx *c)
{
	store_op *op = &c->op;
	switch (op->status) {
	case STORE_CONFLICT:
		if (op->prev_version)
			rest_reply_error(
			        c, 412, "conflict",
			        "Version conflict: If-Match asked for version %lld but %s/%s is at "
			        "version %lld",
			        (long long)op->if_match, op->type, op->id,
			        (long long)op->prev_version);
		else
			rest_reply_error(c, 412, "conflict",
			                 "If-Match given but %s/%s does not exist", op->type,
			                 op->id);
		break;
	case STORE_EXISTS:
		rest_reply_error(c, 409, "duplicate", "%s/%s already exists", op->type, op->id);
		break;
	case STORE_INVALID:
		if (c->id_mismatch)
			rest_reply_error(
			        c, 400, "invalid",
			        "The resource id '%s' differs from the id of the resource the "
			        "condition matched (%s)",
			        c->body_id, op->id);
		else
			rest_reply_error(c, 413, "too-long", "The resource is too large to store");
		break;
	case STORE_DUPLICATE:
		rest_reply_error(c, 400, "duplicate",
		                 "%s/%s is touched by more than one entry of the transaction",
		                 op->type, op->id);
		break;
	case STORE_MULTIPLE:
		rest_reply_error(c, 412, "multiple-matches",
		                 "The condition matched more than one %s; be more selective",
		                 op->type);
		break;
	default: rest_reply_store_failure(c, op->status, "The write could not be committed");
	}
}

/* Conditional create found its resource: 200 with that resource, nothing written. */
static void reply_matched(rctx *c)
{
	store_version v;
	/* the store gave the match's id, version and time; the body only if wanted */
	if (c->prefer == PREFER_REPRESENTATION || c->prefer == PREFER_DEFAULT) {
		if (store_read(c->r->cfg.store, c->a, c->op.type, c->op.id, 0, &v) == STORE_OK) {
			c->op.version = v.version;
			c->op.last_updated = v.last_updated;
			c->op.body = v.body;
			c->op.body_len = v.body_len;
		} else {
			c->prefer = PREFER_MINIMAL; /* deleted since: answer without a body */
		}
	}
	reply_written(c, 200);
}

/* Continuation of create/update once the writer is done. */
static void on_written(rctx *c)
{
	json_decref(c->json);
	c->json = NULL;
	if (c->op.status == STORE_OK) {
		int created = c->op.prev_version == 0 || c->op.prev_deleted;
		reply_written(c, created ? 201 : 200);
	} else if (c->op.status == STORE_MATCHED) {
		reply_matched(c);
	} else {
		reply_store_error(c);
	}
	buf_free(&c->out);
	buf_free(&c->pre);
}

static int if_match_or_reply(rctx *c, int64_t *version)
{
	const char *h = rest_header(c, "If-Match");
	*version = 0;
	if (h && rest_parse_etag(h, version)) {
		rest_reply_error(c, 400, "invalid",
		                 "If-Match '%s' is not a version ETag like W/\"3\"", h);
		return -1;
	}
	return 0;
}

/* Index rows of the new version, computed here on the pool thread so the
 * writer only inserts them. */
static void index_rows(rctx *c)
{
	diag_list d;
	diag_init(&d, c->a);
	memset(&c->rows, 0, sizeof c->rows);
	search_index_base(c->json, c->op.type, c->op.id, c->base, c->a, &c->rows, &d);
	c->op.index = &c->rows;
	c->indexed_id = c->op.id;
	/* contained resources get index rows of their own, for _contained */
	const json_t *contained = json_object_get(c->json, "contained");
	size_t n = json_array_size(contained), k = 0;
	if (!n)
		return;
	store_contained *sc = arena_calloc(c->a, n * sizeof *sc);
	for (size_t i = 0; i < n; i++) {
		const json_t *res = json_array_get(contained, i);
		const char *type = json_string_value(json_object_get(res, "resourceType"));
		const char *cid = json_string_value(json_object_get(res, "id"));
		if (!type || !cid)
			continue;
		search_rows *rows = arena_calloc(c->a, sizeof *rows);
		if (search_index_base(res, type, NULL, c->base, c->a, rows, &d))
			continue;
		rows->npatients = 0; /* a contained resource is no compartment member of its own */
		sc[k++] = (store_contained){.type = type, .cid = cid, .index = rows};
	}
	c->op.contained = sc;
	c->op.ncontained = k;
}

/* The HTTP request was resumed: finish the interaction on this pool thread. */
static void resumed(http_req *req)
{
	rctx *c = http_req_data(req);
	c->cont(c);
}

/* Queue the prepared op and park the request until it is durable. A Bundle
 * entry hands its op to the Bundle instead, which commits all of them. */
/* Within a limited grant, the resource written must stay inside it: an
 * existing one must be visible (else it does not exist: 404), the new
 * version must be in the grant's patient compartment (else 403). */
static int outside_or_reply(rctx *c, unsigned perm)
{
	if (!rest__limited(c, c->op.type, perm))
		return 0;
	/* (a condition only matches what the sender may see; but when it matches
	 * nothing, the id given in the body must not name a resource outside) */
	store_version v;
	int rc = store_read(c->r->cfg.store, c->a, c->op.type, c->op.id, 0, &v);
	if (rc == STORE_OK && !rest__visible(c, c->op.type, perm, v.rid)) {
		rest_reply_error(c, 404, "not-found", "%s/%s is not known", c->op.type, c->op.id);
		return -1;
	}
	if (perm != POLICY_DELETE &&
	    !rest__in_compartment(c, c->op.type, c->op.id, &c->rows, perm)) {
		rest_reply_error(c, 403, "forbidden",
		                 "The token's scopes allow writing %s only within the patient "
		                 "compartment of its patient context; this one is outside it",
		                 c->op.type);
		return -1;
	}
	return 0;
}

/* Restore mode (a server made for bron import --history): a version keeps
 * its number and time - an update those of its meta, a deletion those of
 * its Bundle entry's response (etag, lastModified) or of the header
 * X-Bron-Restore: "<version> <instant>". Elsewhere the header is refused.
 * 0, or -1 after a reply. */
static int restore_or_reply(rctx *c)
{
	const char *h = c->entry ? c->entry->restore : rest_header(c, "X-Bron-Restore");
	if (!c->r->cfg.restore) {
		if (!h)
			return 0;
		rest_reply_error(c, 400, "not-supported",
		                 "X-Bron-Restore is accepted only by bron import --history");
		return -1;
	}
	long long v = 0;
	int64_t t = 0;
	if (c->op.kind != STORE_OP_DELETE && c->json) {
		json_t *meta = json_object_get(c->json, "meta");
		const char *vid = json_string_value(json_object_get(meta, "versionId"));
		const char *lu = json_string_value(json_object_get(meta, "lastUpdated"));
		char *end;
		if (!vid || !lu)
			return 0;
		v = strtoll(vid, &end, 10);
		if (*end || v <= 0 || base_parse_instant(lu, &t))
			return 0; /* not a version of ours: an ordinary write */
	} else if (h) {
		char *end;
		v = strtoll(h, &end, 10);
		while (*end == ' ')
			end++;
		if (v <= 0 || base_parse_instant(end, &t)) {
			rest_reply_error(c, 400, "invalid",
			                 "A restored deletion needs '<version> <instant>'");
			return -1;
		}
	} else {
		return 0;
	}
	c->op.keep_version = v;
	c->op.keep_time = t;
	return 0;
}

static void submit(rctx *c, rest_cont_fn cont)
{
	if (restore_or_reply(c)) {
		json_decref(c->json);
		c->json = NULL;
		return;
	}
	unsigned perm = c->op.kind == STORE_OP_CREATE   ? POLICY_CREATE
	                : c->op.kind == STORE_OP_DELETE ? POLICY_DELETE
	                                                : POLICY_UPDATE;
	if (c->op.kind != STORE_OP_DELETE && c->json) {
		index_rows(c);
		if (c->src)
			prebuild_canonical(c);
	}
	if (c->who && outside_or_reply(c, perm)) {
		json_decref(c->json);
		c->json = NULL;
		buf_free(&c->pre); /* the canonical bytes built ahead */
		return;
	}
	buf_init(&c->out, 0);
	c->cont = cont;
	if (c->bundle) {
		rest__bundle_collect(c);
		return;
	}
	http_req_suspend(c->req, resumed);
	if (rest__write_audited(c, NULL, &c->op, 1, written, c) != STORE_OK) {
		c->op.status = STORE_ERROR;
		http_req_resume(c->req);
	}
}

void rest_create(rctx *c)
{
	if (rest_check_params_or_reply(c, write_params) ||
	    rest__allowed_or_reply(c, c->type, POLICY_CREATE))
		return;
	const char *cond = rest_header(c, "If-None-Exist");
	if (cond && rest__condition_or_reply(c, cond, &c->cond))
		return;
	if (resource_body_or_reply(c))
		return;
	char *id = c->assigned_id;
	if (!id)
		rest__new_id(c->a, &id);
	c->op = (store_op){.kind = STORE_OP_CREATE,
	                   .type = c->type,
	                   .id = id,
	                   .build = build_canonical,
	                   .build_ctx = c,
	                   .arena = c->a,
	                   .condition = cond ? &c->cond : NULL};
	submit(c, on_written);
}

void rest_update(rctx *c)
{
	if (rest__allowed_or_reply(c, c->type, POLICY_UPDATE))
		return;
	if (!c->id) { /* PUT [type]?search: conditional update */
		if (rest__condition_or_reply(c, NULL, &c->cond))
			return;
	} else if (rest_check_params_or_reply(c, write_params)) {
		return;
	}
	int64_t if_match;
	if (if_match_or_reply(c, &if_match) || resource_body_or_reply(c))
		return;
	const json_t *id = json_object_get(c->json, "id");
	if (!c->id) {
		if (id && (!json_is_string(id) || !rest_valid_id(json_string_value(id)))) {
			json_decref(c->json);
			c->json = NULL;
			return rest_reply_error(c, 400, "invalid",
			                        "The resource id is not a valid id");
		}
		char *fresh = c->assigned_id;
		if (!fresh)
			rest__new_id(c->a, &fresh);
		c->body_id = id ? arena_strdup(c->a, json_string_value(id)) : NULL;
		c->op = (store_op){.kind = STORE_OP_UPDATE,
		                   .type = c->type,
		                   .id = c->body_id ? c->body_id : fresh,
		                   .if_match = if_match,
		                   .build = build_canonical,
		                   .build_ctx = c,
		                   .arena = c->a,
		                   .condition = &c->cond};
		return submit(c, on_written);
	}
	if (!json_is_string(id) || strcmp(json_string_value(id), c->id)) {
		rest_reply_error(c, 400, "invalid",
		                 id ? "The resource id '%s' does not match the id in the URL '%s'"
		                    : "%sThe resource has no id; it must be '%s' as in the URL",
		                 json_is_string(id) ? json_string_value(id) : "", c->id);
		json_decref(c->json);
		c->json = NULL;
		return;
	}
	c->op = (store_op){.kind = STORE_OP_UPDATE,
	                   .type = c->type,
	                   .id = c->id,
	                   .if_match = if_match,
	                   .build = build_canonical,
	                   .build_ctx = c,
	                   .arena = c->a};
	submit(c, on_written);
}

static void on_deleted(rctx *c)
{
	buf_free(&c->out);
	buf_free(&c->pre);
	if (c->op.status != STORE_OK) {
		reply_store_error(c);
		return;
	}
	if (c->op.version) {
		char tmp[32];
		snprintf(tmp, sizeof tmp, "W/\"%lld\"", (long long)c->op.version);
		rest_set_header(c, "ETag", tmp);
		rest_reply_info(c, 200, "Deleted %s/%s (version %lld)", c->type, c->op.id,
		                (long long)c->op.version);
	} else if (!c->op.id) {
		rest_reply_info(c, 200, "No %s matched the condition; nothing to delete", c->type);
	} else {
		rest_reply_info(c, 200, "%s/%s %s; nothing to delete", c->type, c->op.id,
		                c->op.prev_version ? "was already deleted" : "does not exist");
	}
}

#define MAX_CONDITIONAL_DELETE 1000 /* resources one conditional delete may remove */

static void on_deleted_many(rctx *c)
{
	size_t deleted = 0;
	for (size_t i = 0; i < c->nmany; i++) {
		if (c->many[i].status == STORE_CONFLICT)
			return rest_reply_error(
			        c, 412, "conflict",
			        "%s/%s changed while the conditional delete ran; nothing "
			        "was deleted, try again",
			        c->many[i].type, c->many[i].id);
		if (c->many[i].status != STORE_OK)
			return rest_reply_store_failure(c, c->many[i].status,
			                                "The delete could not be committed");
		deleted += c->many[i].version > 0;
	}
	rest_reply_info(c, 200, "Deleted %zu %s resources that matched the condition", deleted,
	                c->type);
}

/* A conditional delete that matched several resources (capability
 * conditionalDelete "multiple"): each is deleted at the version the search
 * saw, all in one transaction, so a resource changed meanwhile fails it. */
static void delete_many(rctx *c, const store_version *hits, size_t n)
{
	c->many = arena_calloc(c->a, n * sizeof *c->many);
	c->nmany = n;
	for (size_t i = 0; i < n; i++)
		c->many[i] = (store_op){.kind = STORE_OP_DELETE,
		                        .type = hits[i].type,
		                        .id = hits[i].id,
		                        .if_match = hits[i].version,
		                        .arena = c->a,
		                        .unique = 1};
	int64_t *rids = arena_alloc(c->a, n * sizeof *rids), *crid;
	for (size_t i = 0; i < n; i++)
		rids[i] = hits[i].rid;
	size_t np;
	const char **cpat;
	if (store_compartments(c->r->cfg.store, c->a, rids, n, &crid, &cpat, &np) == STORE_OK) {
		/* the audit records: each deleted resource's own patients */
		c->many_patients = arena_calloc(c->a, n * sizeof *c->many_patients);
		c->nmany_patients = arena_calloc(c->a, n * sizeof *c->nmany_patients);
		for (size_t i = 0; i < n; i++) {
			c->many_patients[i] =
			        arena_alloc(c->a, (np + 1) * sizeof **c->many_patients);
			for (size_t j = 0; j < np; j++)
				if (crid[j] == hits[i].rid)
					c->many_patients[i][c->nmany_patients[i]++] = cpat[j];
		}
	}
	c->cont = on_deleted_many;
	http_req_suspend(c->req, resumed);
	if (rest__write_audited(c, NULL, c->many, n, written, c) != STORE_OK) {
		c->many[0].status = STORE_ERROR;
		http_req_resume(c->req);
	}
}

void rest_delete(rctx *c)
{
	if (rest__allowed_or_reply(c, c->type, POLICY_DELETE))
		return;
	int conditional = !c->id;
	if (conditional) { /* DELETE [type]?search */
		if (rest__condition_or_reply(c, NULL, &c->cond))
			return;
	} else if (rest_check_params_or_reply(c, write_params)) {
		return;
	}
	int64_t if_match;
	if (if_match_or_reply(c, &if_match))
		return;
	if (conditional && !c->bundle && !if_match) {
		store_version *hits;
		size_t n;
		int more;
		int rc = store_search(c->r->cfg.store, c->a, &c->cond, MAX_CONDITIONAL_DELETE, 0,
		                      &hits, &n, &more);
		if (rc)
			return rest_reply_store_failure(c, rc,
			                                "The condition could not be searched");
		if (more)
			return rest_reply_error(
			        c, 412, "too-costly",
			        "The condition matches more than %d resources; narrow it",
			        MAX_CONDITIONAL_DELETE);
		if (n > 1)
			return delete_many(c, hits, n);
	}
	if (c->id)
		rest__audit_note_patients(c, c->type, c->id);
	c->op = (store_op){.kind = STORE_OP_DELETE,
	                   .type = c->type,
	                   .id = c->id,
	                   .if_match = if_match,
	                   .arena = c->a,
	                   .condition = conditional ? &c->cond : NULL};
	submit(c, on_deleted);
}

/* ---- patch ---- */

static void patch_attempt(rctx *c);

static void on_patched(rctx *c)
{
	/* someone else wrote between our read and write: patch the new version */
	if (c->op.status == STORE_CONFLICT && c->patch_attempts < 8 && !c->bundle &&
	    !rest_header(c, "If-Match")) {
		buf_free(&c->out);
		buf_free(&c->pre);
		json_decref(c->json);
		c->json = NULL;
		patch_attempt(c);
		return;
	}
	on_written(c);
}

static int b64val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+' || ch == '-')
		return 62;
	if (ch == '/' || ch == '_')
		return 63;
	return -1;
}

/* A Bundle entry carries its JSON Patch as a Binary (http.html#patch): take
 * the patch document out of Binary.data. Replaces *patch; replies on error. */
static int binary_patch_or_reply(rctx *c, json_t **patch)
{
	const char *rt = json_string_value(json_object_get(*patch, "resourceType"));
	const char *ct = json_string_value(json_object_get(*patch, "contentType"));
	const char *data = json_string_value(json_object_get(*patch, "data"));
	if (!rt || strcmp(rt, "Binary") || !ct || strncmp(ct, "application/json-patch+json", 27) ||
	    !data) {
		json_decref(*patch);
		rest_reply_error(c, 415, "not-supported",
		                 "A PATCH entry needs a Binary with contentType "
		                 "application/json-patch+json");
		return -1;
	}
	size_t n = strlen(data);
	char *out = arena_alloc(c->a, n * 3 / 4 + 4);
	size_t k = 0;
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n && data[i] != '='; i++) {
		int v = b64val((unsigned char)data[i]);
		if (v < 0)
			continue; /* whitespace */
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[k++] = (char)((acc >> bits) & 0xff);
		}
	}
	json_decref(*patch);
	*patch = NULL;
	diag_list d;
	diag_init(&d, c->a);
	if (json_parse(out, k, patch, &d)) {
		rest_reply_diags(c, 400, &d);
		return -1;
	}
	return 0;
}

/* Read the current version, apply the patch, queue the new version. */
static void patch_attempt(rctx *c)
{
	c->patch_attempts++;
	int64_t if_match;
	if (if_match_or_reply(c, &if_match))
		return;
	store_version cur;
	int rc = store_read(c->r->cfg.store, c->a, c->type, c->id, 0, &cur);
	if ((rc == STORE_OK || rc == STORE_GONE) &&
	    !rest__visible(c, c->type, POLICY_UPDATE, cur.rid))
		rc = STORE_NOT_FOUND; /* outside the sender's limits: it does not exist */
	if (rc == STORE_GONE)
		return rest_reply_error(c, 410, "deleted", "%s/%s was deleted", c->type, c->id);
	if (rc == STORE_NOT_FOUND)
		return rest_reply_error(c, 404, "not-found", "%s/%s is not known", c->type, c->id);
	if (rc)
		return rest_reply_store_failure(c, rc, "The store could not be read");
	if (if_match && if_match != cur.version)
		return rest_reply_error(
		        c, 412, "conflict",
		        "Version conflict: If-Match asked for version %lld but %s/%s is at "
		        "version %lld",
		        (long long)if_match, c->type, c->id, (long long)cur.version);
	size_t len;
	const char *body = rest_body(c, &len);
	diag_list d;
	diag_init(&d, c->a);
	json_t *patch = NULL, *doc = NULL;
	if (json_parse(body, len, &patch, &d))
		return rest_reply_diags(c, 400, &d);
	if (c->entry && binary_patch_or_reply(c, &patch))
		return;
	if (json_parse(cur.body, cur.body_len, &doc, &d)) {
		json_decref(patch);
		return rest_reply_error(c, 500, "exception",
		                        "The stored resource could not be parsed");
	}
	int status = rest__json_patch(doc, patch, &d);
	json_decref(patch);
	if (!status) {
		const json_t *rt = json_object_get(doc, "resourceType");
		const json_t *id = json_object_get(doc, "id");
		if (!json_is_string(rt) || strcmp(json_string_value(rt), c->type) ||
		    !json_is_string(id) || strcmp(json_string_value(id), c->id)) {
			diag_error(&d, "invalid", NULL,
			           "A patch may not change resourceType or id");
			status = 422;
		} else if (model_validate(doc, &d)) {
			status = 422;
		}
	}
	if (status) {
		json_decref(doc);
		return rest_reply_diags(c, status, &d);
	}
	buf src;
	buf_init(&src, 0);
	json_dump(doc, &src);
	c->src = arena_memdup(c->a, src.data, src.len);
	c->src_len = src.len;
	buf_free(&src);
	c->json = doc;
	c->op = (store_op){.kind = STORE_OP_UPDATE,
	                   .type = c->type,
	                   .id = c->id,
	                   .if_match = cur.version,
	                   .build = build_canonical,
	                   .build_ctx = c};
	submit(c, on_patched);
}

void rest_patch(rctx *c)
{
	if (rest_check_params_or_reply(c, write_params) ||
	    rest__allowed_or_reply(c, c->type, POLICY_UPDATE))
		return;
	if (c->entry) /* a Bundle entry: the patch is a Binary, checked in patch_attempt */
		return patch_attempt(c);
	const char *ct = rest_header(c, "Content-Type");
	size_t n = ct ? strcspn(ct, "; ") : 0;
	if (!ct || n != 27 || strncasecmp(ct, "application/json-patch+json", n)) {
		rest_reply_error(c, 415, "not-supported",
		                 "PATCH needs Content-Type application/json-patch+json (JSON "
		                 "Patch); got '%s'",
		                 ct ? ct : "none");
		return;
	}
	patch_attempt(c);
}
