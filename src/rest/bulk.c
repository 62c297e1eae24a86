/*
 * bulk.c - FHIR Bulk Data Access (v2) export over HTTP: kick-off at
 * [base]/$export, [base]/Patient/$export and [base]/Group/[id]/$export,
 * status at [base]/$export-poll-status?_jobId=, the files at
 * [base]/$export-file/[job]/[name]. Jobs run in bulk/ (bulk.h); only the
 * principal that kicked a job off may poll it, cancel it and download its
 * files.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../bulk/bulk.h"
#include "../json/json.h"
#include "../model/model.h"
#include "rest_int.h"

static const char *owner_of(rctx *c)
{
	return c->who && c->who->sub ? c->who->sub : "";
}

static int no_bulk_or_reply(rctx *c)
{
	if (c->r->cfg.bulk && !c->entry)
		return 0;
	rest_reply_error(c, c->entry ? 400 : 404, "not-supported",
	                 c->entry ? "$export cannot run inside a Bundle"
	                          : "Bulk export is not enabled on this server");
	return -1;
}

/* The values of a comma-separated parameter (all occurrences). */
static size_t split_commas(rctx *c, const char *v, const char ***out, size_t n, size_t *cap)
{
	char *copy = arena_strdup(c->a, v);
	for (char *save = NULL, *p = strtok_r(copy, ",", &save); p;
	     p = strtok_r(NULL, ",", &save)) {
		if (n == *cap) {
			size_t nc = *cap ? 2 * *cap : 8;
			const char **nv = arena_alloc(c->a, nc * sizeof *nv);
			if (n)
				memcpy(nv, *out, n * sizeof *nv);
			*out = nv;
			*cap = nc;
		}
		(*out)[n++] = p;
	}
	return n;
}

/* The Patients of Group/id (its members that are Patients); -1 after a reply. */
static int group_patients(rctx *c, const char *id, const char ***out, size_t *n)
{
	store_version v;
	int rc = store_read(c->r->cfg.store, c->a, "Group", id, 0, &v);
	if (rc != STORE_OK) {
		rest_reply_error(c, 404, "not-found", "Group/%s is not known", id);
		return -1;
	}
	json_error_t e;
	json_t *g = json_loadb(v.body, v.body_len, 0, &e);
	json_t *members = json_object_get(g, "member");
	size_t cap = json_array_size(members) + 1, k = 0;
	*out = arena_alloc(c->a, cap * sizeof **out);
	size_t i;
	json_t *m;
	json_array_foreach(members, i, m)
	{
		const char *ref = json_string_value(
		        json_object_get(json_object_get(m, "entity"), "reference"));
		if (json_is_true(json_object_get(m, "inactive")) || !ref)
			continue;
		const char *at = strstr(ref, "Patient/");
		if (at && (at == ref || at[-1] == '/'))
			(*out)[k++] = arena_strdup(c->a, at + 8);
	}
	json_decref(g);
	*n = k;
	return 0;
}

/* The kick-off's parameters: the query's, then for a POST those of a
 * Parameters resource in the body (Bulk Data v2 kick-off by POST); -1 after
 * a reply. */
static int export_params(rctx *c, const char *const **keys, const char *const **vals, size_t *n)
{
	const char *const *qk, *const *qv;
	size_t nq = rest_queries(c, &qk, &qv), len = 0;
	const char *body = strcmp(c->method, "POST") ? NULL : rest_body(c, &len);
	*keys = qk;
	*vals = qv;
	*n = nq;
	if (!body || !len)
		return 0;
	json_error_t e;
	json_t *p = json_loadb(body, len, 0, &e);
	json_t *params = json_object_get(p, "parameter");
	const char *rt = json_string_value(json_object_get(p, "resourceType"));
	if (!rt || strcmp(rt, "Parameters") || (params && !json_is_array(params))) {
		json_decref(p);
		rest_reply_error(c, 400, "invalid",
		                 "The body of a POST $export must be a Parameters resource");
		return -1;
	}
	size_t np = json_array_size(params);
	const char **k = arena_alloc(c->a, (nq + np + 1) * sizeof *k);
	const char **v = arena_alloc(c->a, (nq + np + 1) * sizeof *v);
	memcpy(k, qk, nq * sizeof *k);
	memcpy(v, qv, nq * sizeof *v);
	static const char *const value_keys[] = {"valueString",    "valueCode", "valueInstant",
	                                         "valueDateTime",  "valueUri",  "valueUrl",
	                                         "valueCanonical", "valueId",   NULL};
	size_t i;
	json_t *pm;
	json_array_foreach(params, i, pm)
	{
		const char *name = json_string_value(json_object_get(pm, "name"));
		const char *val = NULL;
		for (const char *const *vk = value_keys; *vk && !val; vk++)
			val = json_string_value(json_object_get(pm, *vk));
		if (!val)
			val = json_string_value(json_object_get(
			        json_object_get(pm, "valueReference"), "reference"));
		if (!name || !val) {
			json_decref(p);
			rest_reply_error(c, 400, "invalid",
			                 "Parameter %zu of the body needs a name and a value", i);
			return -1;
		}
		k[nq + i] = arena_strdup(c->a, name);
		v[nq + i] = arena_strdup(c->a, val);
	}
	json_decref(p);
	*keys = k;
	*vals = v;
	*n = nq + np;
	return 0;
}

void rest_export(rctx *c, const char *level, const char *group)
{
	if (no_bulk_or_reply(c))
		return;
	if (strcmp(c->method, "GET") && strcmp(c->method, "POST"))
		return rest_reply_error(c, 405, "not-supported", "$export takes GET or POST");
	const char *prefer = rest_header(c, "Prefer");
	if (!prefer || !strstr(prefer, "respond-async"))
		return rest_reply_error(
		        c, 400, "invalid",
		        "$export runs asynchronously: send 'Prefer: respond-async'");
	bulk_request rq = {.owner = owner_of(c), .level = level};
	const char **types = NULL, **filters = NULL, **patients = NULL;
	size_t ntypes = 0, tcap = 0, nfilters = 0, fcap = 0, npatients = 0;
	const char *const *keys, *const *vals;
	size_t n;
	if (export_params(c, &keys, &vals, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		const char *k = keys[i], *v = vals[i];
		if (!strcmp(k, "_outputFormat")) {
			if (strcmp(v, "application/fhir+ndjson") &&
			    strcmp(v, "application/ndjson") && strcmp(v, "ndjson"))
				return rest_reply_error(
				        c, 400, "not-supported",
				        "_outputFormat '%s': only application/fhir+ndjson", v);
		} else if (!strcmp(k, "_type")) {
			ntypes = split_commas(c, v, &types, ntypes, &tcap);
		} else if (!strcmp(k, "_since")) {
			int64_t lo, hi;
			if (search_date_range(v, &lo, &hi))
				return rest_reply_error(c, 400, "invalid",
				                        "_since '%s' is not an instant", v);
			rq.since = lo;
		} else if (!strcmp(k, "_typeFilter")) {
			nfilters = split_commas(c, v, &filters, nfilters, &fcap);
		} else if (!strcmp(k, "_elements")) {
			rq.elements = v;
		} else if (!strcmp(k, "_format") || !strcmp(k, "_pretty")) {
			continue;
		} else if (!strcmp(k, "includeAssociatedData") || !strcmp(k, "patient")) {
			if (!c->lenient)
				return rest_reply_error(
				        c, 400, "not-supported",
				        "$export parameter '%s' is not supported (send "
				        "'Prefer: handling=lenient' to ignore it)",
				        k);
		} else if (!c->lenient) {
			return rest_reply_error(c, 400, "not-supported",
			                        "Unknown $export parameter '%s'", k);
		}
	}
	for (size_t i = 0; i < ntypes; i++) {
		const model_type *t = model_type_get(types[i]);
		if (!t || !model_type_is_concrete_resource(t))
			return rest_reply_error(c, 400, "not-supported",
			                        "_type '%s' is not a resource type", types[i]);
	}
	for (size_t i = 0; i < nfilters; i++) {
		const char *q = strchr(filters[i], '?');
		int listed = !ntypes;
		for (size_t j = 0; j < ntypes && !listed; j++)
			listed = q && strlen(types[j]) == (size_t)(q - filters[i]) &&
			         !strncmp(types[j], filters[i], (size_t)(q - filters[i]));
		if (!q || !listed)
			return rest_reply_error(
			        c, 400, "invalid",
			        "_typeFilter '%s' must be Type?query of a type exported",
			        filters[i]);
	}
	/* an export reads everything of each type: it needs unlimited read */
	if (c->who) {
		if (!ntypes && rest__limited(c, NULL, POLICY_READ))
			return rest_reply_error(
			        c, 403, "forbidden",
			        "$export of every type needs unlimited read of every "
			        "type (e.g. system/*.read)");
		for (size_t i = 0; i < ntypes; i++)
			if (rest__allowed_or_reply(c, types[i], POLICY_READ))
				return;
			else if (rest__limited(c, types[i], POLICY_READ))
				return rest_reply_error(c, 403, "forbidden",
				                        "$export of %s needs unlimited read of it",
				                        types[i]);
	}
	if (group && group_patients(c, group, &patients, &npatients))
		return;
	rq.types = types;
	rq.ntypes = ntypes;
	rq.type_filters = filters;
	rq.nfilters = nfilters;
	rq.patients = patients;
	rq.npatients = npatients;
	if (group && !npatients)
		rq.patients = arena_alloc(c->a, sizeof *rq.patients); /* no members: nothing */
	buf url;
	buf_init(&url, 0);
	buf_printf(&url, "%s%s", c->base, c->path + strlen(c->r->cfg.base_path));
	for (size_t i = 0; i < n; i++)
		buf_printf(&url, "%c%s=%s", i ? '&' : '?', keys[i], vals[i]);
	rq.request = arena_strdup(c->a, url.data);
	buf_free(&url);
	char *id = NULL, *err = NULL;
	int krc = bulk_kickoff(c->r->cfg.bulk, &rq, &id, &err);
	if (krc) {
		/* a bad filter is the client's; a store or disk that fails, the server's */
		rest_reply_error(c, krc == -1 ? 400 : 503, krc == -1 ? "invalid" : "transient",
		                 "%s", err ? err : "the export was not accepted");
		free(err);
		return;
	}
	rest_set_header(c, "Content-Location",
	                arena_printf(c->a, "%s/$export-poll-status?_jobId=%s", c->base, id));
	free(id);
	rest_reply_info(c, 202, "The export was accepted; poll Content-Location for its status");
}

void rest_export_status(rctx *c)
{
	if (no_bulk_or_reply(c))
		return;
	const char *id = rest_query(c, "_jobId");
	if (!id)
		return rest_reply_error(c, 400, "required", "_jobId is required");
	if (!strcmp(c->method, "DELETE")) {
		if (bulk_cancel(c->r->cfg.bulk, id, owner_of(c)))
			return rest_reply_error(c, 404, "not-found", "No export job '%s'", id);
		return rest_reply_info(c, 202,
		                       "The export job was cancelled and its files removed");
	}
	if (strcmp(c->method, "GET"))
		return rest_reply_error(c, 405, "not-supported",
		                        "Poll with GET, cancel with DELETE");
	bulk_status st;
	bulk_status_of(c->r->cfg.bulk, c->a, id, owner_of(c), &st);
	if (st.state == BULK_NONE)
		return rest_reply_error(c, 404, "not-found", "No export job '%s'", id);
	if (st.state == BULK_RUNNING) {
		rest_set_header(c, "X-Progress", st.progress);
		rest_set_header(c, "Retry-After", "2");
		return rest_send(c, 202, NULL, 0);
	}
	if (st.state == BULK_FAILED)
		return rest_reply_error(c, 500, "exception", "The export failed: %s",
		                        st.error ? st.error : "unknown");
	char tt[40];
	base_format_instant(st.transaction_time, tt, sizeof tt);
	buf b;
	buf_init(&b, 0);
	buf_printf(&b, "{\"transactionTime\":\"%s\",\"request\":", tt);
	json_put_string(&b, st.request);
	buf_printf(&b, ",\"requiresAccessToken\":%s,\"output\":[",
	           c->r->cfg.open ? "false" : "true");
	for (size_t i = 0; i < st.nfiles; i++) {
		buf_puts(&b, i ? ",{\"type\":" : "{\"type\":");
		json_put_string(&b, st.files[i].type);
		buf_puts(&b, ",\"url\":");
		json_put_string(&b, arena_printf(c->a, "%s/$export-file/%s/%s", c->base, id,
		                                 st.files[i].name));
		buf_printf(&b, ",\"count\":%lld}", (long long)st.files[i].count);
	}
	/* deletions: only history exports have them, in the types' own files */
	buf_puts(&b, "],\"deleted\":[");
	buf_puts(&b, "],\"error\":[]}");
	const char *body = arena_memdup(c->a, b.data, b.len);
	size_t len = b.len;
	buf_free(&b);
	c->plain_json = 1; /* the manifest is application/json */
	rest_reply_json(c, 200, body, len);
}

void rest_export_file(rctx *c, const char *job, const char *name)
{
	if (no_bulk_or_reply(c))
		return;
	if (strcmp(c->method, "GET"))
		return rest_reply_error(c, 405, "not-supported", "Export files are read with GET");
	const char *path = bulk_file_path(c->r->cfg.bulk, c->a, job, owner_of(c), name);
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb)) {
		if (fd >= 0)
			close(fd);
		return rest_reply_error(c, 404, "not-found", "No export file '%s' in job '%s'",
		                        name, job);
	}
	rest__audit_reply(c, 200);
	http_res_send_fd(c->req, 200, fd, (size_t)sb.st_size, "application/fhir+ndjson");
}

void rest_import(rctx *c)
{
	if (c->entry)
		return rest_reply_error(c, 400, "not-supported",
		                        "$import cannot run inside a Bundle");
	if (strcmp(c->method, "POST"))
		return rest_reply_error(c, 405, "not-supported", "$import takes POST");
	const char *ct = rest_header(c, "Content-Type");
	if (!ct || (strncasecmp(ct, "application/fhir+ndjson", 23) &&
	            strncasecmp(ct, "application/ndjson", 18)))
		return rest_reply_error(
		        c, 415, "not-supported",
		        "$import takes the resources as application/fhir+ndjson, one "
		        "per line");
	size_t len;
	const char *src = rest_body(c, &len);
	/* the lines become one batch of PUT [type]/[id] (POST [type] without an
	 * id), run as a batch Bundle: every check, index and audit record as
	 * for any write; the answer names each line's outcome */
	buf b;
	buf_init(&b, 0);
	buf_puts(&b, "{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":[");
	size_t n = 0;
	long lineno = 0;
	for (size_t at = 0; at < len;) {
		const char *nl = memchr(src + at, '\n', len - at);
		size_t end = nl ? (size_t)(nl - src) : len;
		lineno++;
		size_t from = at;
		at = end + 1;
		while (from < end && (src[from] == ' ' || src[from] == '\t' || src[from] == '\r'))
			from++;
		size_t to = end;
		while (to > from &&
		       (src[to - 1] == ' ' || src[to - 1] == '\t' || src[to - 1] == '\r'))
			to--;
		if (from == to)
			continue;
		json_error_t e;
		json_t *r = json_loadb(src + from, to - from, 0, &e);
		const char *type = json_string_value(json_object_get(r, "resourceType"));
		const char *id = json_string_value(json_object_get(r, "id"));
		if (!r || !type) {
			json_decref(r);
			buf_free(&b);
			return rest_reply_error(c, 400, "invalid",
			                        "$import line %ld is not a FHIR resource (%s)",
			                        lineno, r ? "no resourceType" : e.text);
		}
		buf_puts(&b, n++ ? ",{\"resource\":" : "{\"resource\":");
		buf_append(&b, src + from, to - from);
		if (id && rest_valid_id(id))
			buf_printf(&b, ",\"request\":{\"method\":\"PUT\",\"url\":\"%s/%s\"}}", type,
			           id);
		else
			buf_printf(&b, ",\"request\":{\"method\":\"POST\",\"url\":\"%s\"}}", type);
		json_decref(r);
	}
	buf_puts(&b, "]}");
	if (!n) {
		buf_free(&b);
		return rest_reply_error(c, 400, "required", "$import received no resources");
	}
	c->body_override = arena_memdup(c->a, b.data, b.len);
	c->body_override_len = b.len;
	buf_free(&b);
	rest_bundle(c);
}
