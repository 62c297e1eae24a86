/*
 * import_source.c - turns one input file of `bron import` into jobs, each a
 * Bundle to POST to the server's base. A batch or transaction Bundle is sent
 * as it is; a collection or searchset Bundle, a lone resource, and every
 * --batch lines of NDJSON become a transaction of PUT [type]/[id] entries
 * (POST [type] for resources without an id), built from the resources'
 * own bytes. Files may be gzip-compressed (zlib reads plain files too).
 * Interface in import_int.h; a source is used by one thread and owns its
 * buffers, a job it returns belongs to the caller.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "import_int.h"

#define CHUNK (256 * 1024)

struct import_source {
	const char *path;
	gzFile gz;
	uint64_t size;    /* bytes on disk */
	uint64_t counted; /* of them, handed to jobs or the report already */
	int ndjson;
	size_t batch; /* NDJSON resources per transaction */
	int finished; /* nothing more to read */
	/* NDJSON line reader */
	char *chunk;
	size_t have, pos;
	int eof;
	buf line;
	int line_too_long;
	long lineno;
	import_job *pending; /* a batch or transaction Bundle line, sent on its own next */
	/* the Type/id of the job being built: a resource that comes again (the
	 * versions of bron export --history, or an NDJSON with repeats) starts
	 * the next job, so that the versions are written in their order (a
	 * transaction touches a resource once; its batch retry has no order) */
	char **seen;
	size_t seen_cap, seen_n;
	buf carry; /* that line, the first of the next job */
	long carry_lineno;
	int carried;
};

static uint64_t key_hash(const char *k)
{
	uint64_t h = 14695981039346656037ull;
	for (; *k; k++)
		h = (h ^ (unsigned char)*k) * 1099511628211ull;
	return h;
}

static void seen_reset(import_source *s)
{
	for (size_t i = 0; i < s->seen_cap; i++) {
		free(s->seen[i]);
		s->seen[i] = NULL;
	}
	s->seen_n = 0;
}

/* Add "type/id" to the job's set: 0, or 1 when it is in it already. */
static int seen_add(import_source *s, const char *type, const char *id)
{
	char key[160];
	snprintf(key, sizeof key, "%s/%s", type, id);
	if (2 * (s->seen_n + 1) > s->seen_cap) {
		size_t old = s->seen_cap, cap = old ? 2 * old : 1024;
		char **prev = s->seen;
		s->seen = base_calloc(cap, sizeof *s->seen);
		s->seen_cap = cap;
		for (size_t i = 0; i < old; i++) {
			if (!prev[i])
				continue;
			size_t at = key_hash(prev[i]) & (cap - 1);
			while (s->seen[at])
				at = (at + 1) & (cap - 1);
			s->seen[at] = prev[i];
		}
		free(prev);
	}
	size_t at = key_hash(key) & (s->seen_cap - 1);
	for (; s->seen[at]; at = (at + 1) & (s->seen_cap - 1))
		if (!strcmp(s->seen[at], key))
			return 1;
	s->seen[at] = base_strdup(key);
	s->seen_n++;
	return 0;
}

/* ---- jobs ---- */

import_job *import_job_new(const char *file)
{
	import_job *j = base_calloc(1, sizeof *j);
	j->file = file;
	buf_init(&j->body, 0);
	buf_init(&j->response, (size_t)256 << 20);
	return j;
}

void import_job_free(import_job *j)
{
	if (!j)
		return;
	buf_free(&j->body);
	buf_free(&j->response);
	free(j->where);
	free(j);
}

static const char TX_HEAD[] = "{\"resourceType\":\"Bundle\",\"type\":\"transaction\"";
static const char BATCH_HEAD[] = "{\"resourceType\":\"Bundle\",\"type\":\"batch\"";

import_job *import_job_as_batch(const import_job *j)
{
	import_job *b = import_job_new(j->file);
	int rc = buf_puts(&b->body, BATCH_HEAD);
	b->head_len = b->body.len;
	rc |= buf_append(&b->body, j->body.data + j->head_len, j->body.len - j->head_len);
	if (rc) { /* cannot happen: the transaction fitted and the head is shorter */
		import_job_free(b);
		return NULL;
	}
	b->entries = j->entries;
	b->batch = 1;
	b->synthetic = 1;
	b->where_kind = j->where_kind;
	b->where = base_malloc((j->entries ? j->entries : 1) * sizeof *b->where);
	memcpy(b->where, j->where, j->entries * sizeof *b->where);
	b->bytes = j->bytes;
	return b;
}

static int valid_type(const char *t)
{
	if (!(*t >= 'A' && *t <= 'Z'))
		return 0;
	for (; *t; t++)
		if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z')))
			return 0;
	return 1;
}

/* FHIR id: [A-Za-z0-9\-\.]{1,64} */
static int valid_id(const char *id)
{
	size_t n = strlen(id);
	if (n < 1 || n > 64)
		return 0;
	for (; *id; id++)
		if (!((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z') ||
		      (*id >= '0' && *id <= '9') || *id == '-' || *id == '.'))
			return 0;
	return 1;
}

static import_job *synth_begin(const char *file, import_where kind)
{
	import_job *j = import_job_new(file);
	j->synthetic = 1;
	j->where_kind = kind;
	buf_puts(&j->body, TX_HEAD);
	j->head_len = j->body.len;
	buf_puts(&j->body, ",\"entry\":[");
	return j;
}

/* Append an entry for the resource res[0..len) (its type and id already
 * checked; id may be NULL), with the fullUrl literal fu[0..fulen) if any. */
static int synth_add(import_job *j, const char *res, size_t len, const char *fu, size_t fulen,
                     const char *type, const char *id, long where)
{
	buf *b = &j->body;
	int rc = buf_puts(b, j->entries ? ",{" : "{");
	if (fu) {
		rc |= buf_puts(b, "\"fullUrl\":");
		rc |= buf_append(b, fu, fulen);
		rc |= buf_putc(b, ',');
	}
	rc |= buf_puts(b, "\"resource\":");
	rc |= buf_append(b, res, len);
	if (id)
		rc |= buf_printf(b, ",\"request\":{\"method\":\"PUT\",\"url\":\"%s/%s\"}}", type,
		                 id);
	else
		rc |= buf_printf(b, ",\"request\":{\"method\":\"POST\",\"url\":\"%s\"}}", type);
	if (rc)
		return -1;
	if ((j->entries & (j->entries - 1)) == 0) /* grow at powers of two */
		j->where = base_realloc(j->where,
		                        (j->entries ? 2 * j->entries : 1) * sizeof *j->where);
	j->where[j->entries++] = where;
	return 0;
}

static int synth_end(import_job *j)
{
	return buf_puts(&j->body, "]}");
}

/* ---- opening and reading ---- */

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

int import_source_open(const char *path, size_t batch, import_source **out, char *err,
                       size_t errlen)
{
	struct stat st;
	if (stat(path, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a readable file");
		return -1;
	}
	gzFile gz = gzopen(path, "rb");
	if (!gz) {
		snprintf(err, errlen, "cannot open");
		return -1;
	}
	gzbuffer(gz, CHUNK);
	import_source *s = base_calloc(1, sizeof *s);
	s->path = path;
	s->gz = gz;
	s->size = (uint64_t)st.st_size;
	s->ndjson = ends_with(path, ".ndjson") || ends_with(path, ".ndjson.gz");
	s->batch = batch ? batch : 500;
	buf_init(&s->line, IMPORT_MAX_LINE);
	buf_init(&s->carry, IMPORT_MAX_LINE);
	*out = s;
	return 0;
}

void import_source_close(import_source *s)
{
	if (!s)
		return;
	gzclose(s->gz);
	free(s->chunk);
	buf_free(&s->line);
	import_job_free(s->pending);
	seen_reset(s);
	free(s->seen);
	buf_free(&s->carry);
	free(s);
}

/* Input bytes read since the last call (the rest of the file at its end). */
static uint64_t take_bytes(import_source *s)
{
	uint64_t at = s->size;
	if (!s->finished) {
		z_off_t off = gzoffset(s->gz);
		if (off >= 0 && (uint64_t)off < s->size)
			at = (uint64_t)off;
	}
	uint64_t n = at > s->counted ? at - s->counted : 0;
	s->counted += n;
	return n;
}

static const char *gz_message(import_source *s)
{
	int code;
	const char *m = gzerror(s->gz, &code);
	return m && *m ? m : "read error";
}

/* The whole (decompressed) file into b. 0, or -1 reported. */
static int read_all(import_source *s, import_report *rep, buf *b)
{
	char *chunk = base_malloc(CHUNK);
	int rc = 0;
	for (;;) {
		int n = gzread(s->gz, chunk, CHUNK);
		if (n < 0) {
			import_report_reject(rep, 0, "%s: %s", s->path, gz_message(s));
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		if (buf_append(b, chunk, (size_t)n)) {
			import_report_reject(rep, 0, "%s: larger than %zu MiB", s->path,
			                     IMPORT_MAX_FILE >> 20);
			rc = -1;
			break;
		}
	}
	free(chunk);
	return rc;
}

/* The resource res[0..len): its type and id (id[0] == 0: none). 0, or -1
 * with the problem in why. */
static int resource_names(const char *res, size_t len, char *type, size_t tcap, char *id,
                          size_t icap, const char **why)
{
	size_t vf, vt;
	if (import_scan_member(res, 0, len, "resourceType", &vf, &vt) ||
	    import_scan_string(res, vf, vt, type, tcap) || !valid_type(type)) {
		*why = "no valid resourceType";
		return -1;
	}
	id[0] = 0;
	if (!import_scan_member(res, 0, len, "id", &vf, &vt) &&
	    (import_scan_string(res, vf, vt, id, icap) || !valid_id(id))) {
		*why = "its id is not a valid FHIR id";
		return -1;
	}
	return 0;
}

/* search.mode "outcome" entries of a searchset carry no data to load. */
static int is_outcome_entry(const char *d, size_t ef, size_t et)
{
	size_t sf, st, mf, mt;
	char mode[16];
	return !import_scan_member(d, ef, et, "search", &sf, &st) &&
	       !import_scan_member(d, sf, st, "mode", &mf, &mt) &&
	       !import_scan_string(d, mf, mt, mode, sizeof mode) && !strcmp(mode, "outcome");
}

/* A collection or searchset (or a lone resource when entries_from is
 * (size_t)-1) as a transaction. */
static import_job *convert(import_source *s, import_report *rep, const char *d, size_t len,
                           size_t entries_from, size_t entries_to)
{
	import_job *j = synth_begin(s->path, IMPORT_WHERE_ENTRY);
	char type[64], id[80];
	const char *why;
	if (entries_from == (size_t)-1) {
		if (resource_names(d, len, type, sizeof type, id, sizeof id, &why))
			import_report_reject(rep, 1, "%s: %s", s->path, why);
		else if (synth_add(j, d, len, NULL, 0, type, id[0] ? id : NULL, 0))
			import_report_reject(rep, 1, "%s: too large", s->path);
		return j;
	}
	size_t it = entries_from, ef, et;
	for (long i = 0; import_scan_element(d, entries_to, &it, &ef, &et) == 1; i++) {
		size_t rf, rt, ff = 0, ft = 0;
		if (is_outcome_entry(d, ef, et))
			continue;
		if (import_scan_member(d, ef, et, "resource", &rf, &rt)) {
			import_report_reject(rep, 1, "%s: entry %ld: no resource", s->path, i);
			continue;
		}
		int has_fu = !import_scan_member(d, ef, et, "fullUrl", &ff, &ft) && d[ff] == '"';
		if (resource_names(d + rf, rt - rf, type, sizeof type, id, sizeof id, &why)) {
			import_report_reject(rep, 1, "%s: entry %ld: %s", s->path, i, why);
			continue;
		}
		if (synth_add(j, d + rf, rt - rf, has_fu ? d + ff : NULL, ft - ff, type,
		              id[0] ? id : NULL, i)) {
			import_report_reject(rep, 1, "%s: entry %ld: the Bundle is too large",
			                     s->path, i);
			break;
		}
	}
	return j;
}

/* A JSON file: one job, or none (reported) when it cannot be sent. */
static int next_bundle(import_source *s, import_report *rep, import_job **out)
{
	buf data;
	buf_init(&data, IMPORT_MAX_FILE);
	int rc = read_all(s, rep, &data);
	s->finished = 1;
	import_job *j = NULL;
	const char *d = data.data ? data.data : "";
	size_t len = data.len, vf, vt, ef = 0, et = 0;
	char rtype[64], btype[32];
	if (rc) {
		/* reported */
	} else if (import_scan_member(d, 0, len, "resourceType", &vf, &vt) ||
	           import_scan_string(d, vf, vt, rtype, sizeof rtype)) {
		import_report_reject(rep, 0, "%s: not a FHIR resource in JSON (no resourceType)",
		                     s->path);
	} else if (strcmp(rtype, "Bundle")) {
		j = convert(s, rep, d, len, (size_t)-1, 0);
	} else if (import_scan_member(d, 0, len, "type", &vf, &vt) ||
	           import_scan_string(d, vf, vt, btype, sizeof btype)) {
		import_report_reject(rep, 0, "%s: the Bundle has no type", s->path);
	} else {
		int has_entries = !import_scan_member(d, 0, len, "entry", &ef, &et);
		if (!strcmp(btype, "transaction") || !strcmp(btype, "batch")) {
			j = import_job_new(s->path);
			j->batch = !strcmp(btype, "batch");
			size_t it = ef, a, b;
			while (has_entries && import_scan_element(d, et, &it, &a, &b) == 1)
				j->entries++;
			buf_free(&j->body);
			j->body = data; /* the file's bytes as they are */
			buf_init(&data, 0);
		} else if (!strcmp(btype, "collection") || !strcmp(btype, "searchset")) {
			j = has_entries ? convert(s, rep, d, len, ef, et) : NULL;
		} else {
			import_report_reject(
			        rep, 0,
			        "%s: a Bundle of type '%s' cannot be imported (transaction, "
			        "batch, collection or searchset)",
			        s->path, btype);
		}
	}
	buf_free(&data);
	uint64_t bytes = take_bytes(s);
	if (j && j->synthetic && synth_end(j))
		import_report_reject(rep, j->entries, "%s: too large", s->path);
	if (j && j->entries && j->body.len) {
		j->bytes = bytes;
		*out = j;
		return 1;
	}
	import_job_free(j);
	import_report_bytes(rep, bytes);
	return rc ? -1 : 0;
}

/* The next line into s->line, without its end. 1, 0 at the end, -1 on a
 * read error. A line over IMPORT_MAX_LINE sets s->line_too_long. */
static int read_line(import_source *s)
{
	buf_reset(&s->line);
	s->line_too_long = 0;
	if (!s->chunk)
		s->chunk = base_malloc(CHUNK);
	for (;;) {
		if (s->pos == s->have) {
			if (s->eof) {
				if (!s->line.len && !s->line_too_long)
					return 0;
				s->lineno++;
				return 1;
			}
			int n = gzread(s->gz, s->chunk, CHUNK);
			if (n < 0)
				return -1;
			s->eof = n == 0;
			s->have = (size_t)n;
			s->pos = 0;
			continue;
		}
		const char *at = s->chunk + s->pos;
		const char *nl = memchr(at, '\n', s->have - s->pos);
		size_t take = nl ? (size_t)(nl - at) : s->have - s->pos;
		if (!s->line_too_long && buf_append(&s->line, at, take))
			s->line_too_long = 1;
		s->pos += take;
		if (nl) {
			s->pos++;
			s->lineno++;
			return 1;
		}
	}
}

/* Add the current line to *j (made on the first good line), or report it. */
static void ndjson_line(import_source *s, import_report *rep, import_job **j)
{
	const char *l = s->line.data ? s->line.data : "";
	size_t len = s->line.len;
	while (len && (l[len - 1] == '\r' || l[len - 1] == ' ' || l[len - 1] == '\t'))
		len--;
	while (len && (*l == ' ' || *l == '\t')) {
		l++;
		len--;
	}
	if (s->line_too_long) {
		import_report_reject(rep, 1, "%s:%ld: line longer than %zu MiB", s->path, s->lineno,
		                     IMPORT_MAX_LINE >> 20);
		return;
	}
	if (!len)
		return;
	json_error_t e;
	json_t *v = json_loadb(l, len, JSON_DECODE_INT_AS_REAL, &e);
	if (!v) {
		import_report_reject(rep, 1, "%s:%ld: invalid JSON at column %d: %s", s->path,
		                     s->lineno, e.column, e.text);
		return;
	}
	/* a batch or transaction Bundle without an id (the "deleted" output of a
	 * Bulk Data export, a deletion of bron export --history) is sent as it
	 * is, on its own; one with an id is a stored Bundle resource, kept as
	 * any other resource (executing it would write what it holds) */
	const char *rt = json_string_value(json_object_get(v, "resourceType"));
	const char *bt = json_string_value(json_object_get(v, "type"));
	if (rt && !strcmp(rt, "Bundle") && bt && !json_object_get(v, "id") &&
	    (!strcmp(bt, "transaction") || !strcmp(bt, "batch"))) {
		json_decref(v);
		import_job *b = import_job_new(s->path);
		b->where_kind = IMPORT_WHERE_LINE;
		b->entries = 1;
		b->where = base_malloc(sizeof *b->where);
		b->where[0] = s->lineno;
		if (buf_append(&b->body, l, len)) {
			import_report_reject(rep, 1, "%s:%ld: too large", s->path, s->lineno);
			import_job_free(b);
			return;
		}
		s->pending = b;
		return;
	}
	char type[64], id[80];
	const char *why = NULL;
	if (!json_is_object(v))
		why = "not a JSON object";
	else
		resource_names(l, len, type, sizeof type, id, sizeof id, &why);
	json_decref(v);
	if (why) {
		import_report_reject(rep, 1, "%s:%ld: %s", s->path, s->lineno, why);
		return;
	}
	if (!*j) {
		*j = synth_begin(s->path, IMPORT_WHERE_LINE);
		seen_reset(s);
	}
	if (id[0] && seen_add(s, type, id)) { /* again: the first of the next job */
		buf_reset(&s->carry);
		if (buf_append(&s->carry, l, len)) {
			import_report_reject(rep, 1, "%s:%ld: too large", s->path, s->lineno);
			return;
		}
		s->carry_lineno = s->lineno;
		s->carried = 1;
		return;
	}
	if (synth_add(*j, l, len, NULL, 0, type, id[0] ? id : NULL, s->lineno))
		import_report_reject(rep, 1, "%s:%ld: too large", s->path, s->lineno);
}

/* Up to --batch NDJSON lines as one transaction. */
static int next_ndjson(import_source *s, import_report *rep, import_job **out)
{
	import_job *j = NULL;
	int rc = 0;
	if (s->pending) { /* a Bundle line read last time */
		*out = s->pending;
		s->pending = NULL;
		return 1;
	}
	if (s->carried) { /* a line held back from the last job */
		long at = s->lineno;
		buf_reset(&s->line);
		buf_append(&s->line, s->carry.data, s->carry.len);
		s->lineno = s->carry_lineno;
		s->line_too_long = 0;
		s->carried = 0;
		ndjson_line(s, rep, &j);
		s->lineno = at;
	}
	while (!s->pending && !s->carried &&
	       (!j || (j->entries < s->batch && j->body.len < IMPORT_MAX_JOB_BYTES))) {
		rc = read_line(s);
		if (rc < 0)
			import_report_reject(rep, 0, "%s: after line %ld: %s", s->path, s->lineno,
			                     gz_message(s));
		if (rc <= 0) {
			s->finished = 1;
			break;
		}
		ndjson_line(s, rep, &j);
	}
	uint64_t bytes = take_bytes(s);
	if (!j && s->pending) {
		*out = s->pending;
		s->pending = NULL;
		(*out)->bytes = bytes;
		return 1;
	}
	if (!j) {
		import_report_bytes(rep, bytes);
		return rc;
	}
	if (synth_end(j)) {
		import_report_reject(rep, j->entries, "%s: too large", s->path);
		import_job_free(j);
		return -1;
	}
	j->bytes = bytes;
	*out = j;
	return 1;
}

int import_source_next(import_source *s, import_report *rep, import_job **out)
{
	*out = NULL;
	if (s->pending) {
		*out = s->pending;
		s->pending = NULL;
		return 1;
	}
	if (s->finished)
		return 0;
	return s->ndjson ? next_ndjson(s, rep, out) : next_bundle(s, rep, out);
}
