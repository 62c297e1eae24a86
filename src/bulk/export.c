/*
 * export.c - Bulk Data export jobs (bulk.h).
 */
#include "bulk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../model/model.h"
#include "../search/search.h"

#define PAGE 1000

/* ---- the files ---- */

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Replace path with the bytes, durably: temp file, fsync, rename, fsync dir. */
static int replace_file(const char *dir, const char *name, const char *data, size_t len)
{
	char tmp[4096], path[4096];
	snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	int rc = write_all(fd, data, len) || fsync(fd);
	close(fd);
	if (rc || rename(tmp, path)) {
		unlink(tmp);
		return -1;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			char p[4096];
			snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

/* ---- a job ---- */

typedef struct job {
	char *id, *dir;
	json_t *j; /* job.json: request, state, files, next type */
	struct job *next;
} job;

struct bulk {
	store *st;
	char *dir;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	job *queue;    /* accepted, not yet run (in order) */
	char *running; /* the id of the job the worker runs, or NULL */
	int cancel_running;
	int stop;
	pthread_t th;
};

static int save(const job *jb)
{
	char *text = json_dumps(jb->j, JSON_COMPACT);
	if (!text)
		return -1;
	int rc = replace_file(jb->dir, "job.json", text, strlen(text));
	free(text);
	return rc;
}

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* The request of a job, from its job.json (strings borrowed from j). */
static void request_of(const json_t *j, arena *a, bulk_request *rq)
{
	memset(rq, 0, sizeof *rq);
	rq->owner = jstr(j, "owner");
	rq->request = jstr(j, "request");
	rq->level = jstr(j, "level");
	rq->since = json_integer_value(json_object_get(j, "since"));
	rq->elements = jstr(j, "elements");
	rq->history = json_is_true(json_object_get(j, "history"));
	const char *keys[] = {"types", "typeFilters", "patients"};
	const char *const **dst[] = {&rq->types, &rq->type_filters, &rq->patients};
	size_t *cnt[] = {&rq->ntypes, &rq->nfilters, &rq->npatients};
	for (int k = 0; k < 3; k++) {
		json_t *arr = json_object_get(j, keys[k]);
		if (!json_is_array(arr))
			continue;
		size_t n = json_array_size(arr);
		const char **v = arena_alloc(a, (n + 1) * sizeof *v);
		for (size_t i = 0; i < n; i++)
			v[i] = json_string_value(json_array_get(arr, i));
		*dst[k] = v;
		*cnt[k] = n;
	}
}

static json_t *strings(const char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* ---- what one type exports ---- */

/* The extra condition of a type: the patients (their compartments, and the
 * Patients themselves) and the _typeFilters of the type (any of them). */
static int type_where(arena *a, store *st, const bulk_request *rq, const char *type,
                      const char **where, search_bind **binds, size_t *nbinds, char **err)
{
	buf w;
	buf_init(&w, 0);
	size_t cap = 16 + 2 * rq->npatients, nb = 0;
	search_bind *b = arena_alloc(a, cap * sizeof *b);
	int patient_level = rq->level && strcmp(rq->level, "system");
	if (patient_level) {
		if (!rq->patients) {
			buf_puts(&w, "(r.rid IN (SELECT c.rid FROM sp_compartment c) OR r.type = "
			             "'Patient')");
		} else if (!rq->npatients) {
			/* a Group without members: nothing (PostgreSQL has no empty IN ()) */
			buf_puts(&w, "(1 = 0)");
		} else {
			buf_puts(&w, "(r.rid IN (SELECT c.rid FROM sp_compartment c WHERE "
			             "c.patient IN (");
			for (size_t i = 0; i < rq->npatients; i++) {
				buf_puts(&w, i ? ", ?" : "?");
				b[nb++] = (search_bind){.kind = SEARCH_BIND_TEXT,
				                        .text = rq->patients[i]};
			}
			buf_puts(&w, ")) OR (r.type = 'Patient' AND r.id IN (");
			for (size_t i = 0; i < rq->npatients; i++) {
				buf_puts(&w, i ? ", ?" : "?");
				b[nb++] = (search_bind){.kind = SEARCH_BIND_TEXT,
				                        .text = rq->patients[i]};
			}
			buf_puts(&w, ")))");
		}
	}
	int any = 0;
	for (size_t i = 0; i < rq->nfilters; i++) {
		const char *f = rq->type_filters[i], *q = strchr(f, '?');
		size_t tl = q ? (size_t)(q - f) : strlen(f);
		if (strlen(type) != tl || strncmp(f, type, tl))
			continue;
		/* the query's parameters */
		const char *keys[64], *vals[64];
		size_t n = 0;
		char *copy = arena_strdup(a, q ? q + 1 : "");
		for (char *save = NULL, *p = strtok_r(copy, "&", &save); p && n < 64;
		     p = strtok_r(NULL, "&", &save)) {
			char *eq = strchr(p, '=');
			if (!eq)
				continue;
			*eq = 0;
			keys[n] = p;
			vals[n++] = eq + 1;
		}
		diag_list d;
		diag_init(&d, a);
		search_query *sq;
		search_sql sql;
		if (search_parse(a, type, keys, vals, n, 1, &sq, &d) ||
		    search_compile(sq, store_dialect(st), 0, a, &sql, &d)) {
			buf_free(&w);
			*err = base_strdup("a _typeFilter is not a valid search");
			for (size_t k = 0; k < d.count; k++)
				if (d.items[k].severity <= DIAG_ERROR) {
					free(*err);
					if (asprintf(err, "_typeFilter '%s': %s", f,
					             d.items[k].message) < 0)
						base_oom();
					break;
				}
			return -1;
		}
		/* only the WHERE's binds (the rest belong to ORDER BY) */
		size_t np = 0;
		for (const char *p = sql.where; *p; p++)
			np += *p == '?';
		if (nb + np >= cap) {
			search_bind *nbp = arena_alloc(a, (cap + np + 16) * sizeof *nbp);
			memcpy(nbp, b, nb * sizeof *b);
			b = nbp;
			cap += np + 16;
		}
		buf_printf(&w, "%s%s(%s)",
		           any             ? " OR "
		           : patient_level ? " AND (("
		                           : "((",
		           "", sql.where);
		for (size_t k = 0; k < np && k < sql.nbinds; k++)
			b[nb++] = sql.binds[k];
		any = 1;
	}
	if (any)
		buf_puts(&w, "))");
	*where = w.len ? arena_strdup(a, w.data) : NULL;
	*binds = b;
	*nbinds = nb;
	buf_free(&w);
	return 0;
}

/* The resource with only the _elements asked for (and the mandatory ones),
 * marked SUBSETTED; the body as it is when that fails. */
static void put_elements(buf *out, const store_version *v, const char *elements)
{
	json_error_t e;
	json_t *r = json_loadb(v->body, v->body_len, 0, &e);
	if (!r) {
		buf_append(out, v->body, v->body_len);
		return;
	}
	json_t *o = json_object();
	const char *keep[] = {"resourceType", "id", "meta"};
	for (int i = 0; i < 3; i++)
		if (json_object_get(r, keep[i]))
			json_object_set(o, keep[i], json_object_get(r, keep[i]));
	char *list = strdup(elements);
	if (!list)
		base_oom();
	for (char *save = NULL, *p = strtok_r(list, ",", &save); p;
	     p = strtok_r(NULL, ",", &save)) {
		const char *dot = strchr(p, '.');
		const char *name = dot ? dot + 1 : p; /* "Patient.name" or "name" */
		if (dot && (strlen(v->type) != (size_t)(dot - p) ||
		            strncmp(p, v->type, (size_t)(dot - p))))
			continue;
		json_t *val = json_object_get(r, name);
		if (val)
			json_object_set(o, name, val);
	}
	free(list);
	json_t *meta = json_object_get(o, "meta");
	meta = meta ? json_deep_copy(meta) : json_object();
	json_t *tags = json_object_get(meta, "tag");
	if (!json_is_array(tags)) {
		tags = json_array();
		json_object_set_new(meta, "tag", tags);
	}
	json_array_append_new(tags,
	                      json_pack("{s:s,s:s}", "system",
	                                "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
	                                "code", "SUBSETTED"));
	json_object_set_new(o, "meta", meta);
	char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text)
		buf_puts(out, text);
	else
		buf_append(out, v->body, v->body_len);
	free(text);
	json_decref(o);
	json_decref(r);
}

/* A deletion (history exports): a transaction Bundle with the DELETE, its
 * version and time, as the Bulk Data "deleted" output has them; it goes
 * into the type's file between the versions, in write order. */
static void put_deletion(buf *out, const store_version *v)
{
	char lu[40];
	base_format_instant(v->last_updated, lu, sizeof lu);
	buf_printf(out,
	           "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{\"request\":"
	           "{\"method\":\"DELETE\",\"url\":\"%s/%s\"},\"response\":{\"status\":\"204\","
	           "\"etag\":\"W/\\\"%lld\\\"\",\"lastModified\":\"%s\"}}]}",
	           v->type, v->id, (long long)v->version, lu);
}

typedef struct out_file {
	int fd;
	char *name;
	int64_t count;
	buf pending; /* lines not yet written: they go out in large writes */
} out_file;

#define FLUSH_AT (1u << 20)

static int flush_file(out_file *f)
{
	int rc = f->pending.len ? write_all(f->fd, f->pending.data, f->pending.len) : 0;
	buf_reset(&f->pending);
	return rc;
}

typedef struct export_run {
	store *st;
	const bulk_request *rq;
	const char *dir;
	int64_t upto;
	volatile int *stop; /* set: stop between pages */
	pthread_mutex_t *mu;
	json_t *files; /* [{type, name, count}] */
	int64_t done;  /* resources written */
	void (*progress)(void *ctx, const char *type, int64_t n);
	void *ctx;
	int fsync_each; /* fsync every file as it is closed (else one syncfs at the end) */
} export_run;

static int close_file(export_run *x, out_file *f, const char *type)
{
	if (f->fd < 0)
		return 0;
	int rc = flush_file(f);
	if (x->fsync_each) /* a job's files are durable before its state says so */
		rc |= fsync(f->fd);
	close(f->fd);
	f->fd = -1;
	json_array_append_new(x->files, json_pack("{s:s,s:s,s:I}", "type", type, "name", f->name,
	                                          "count", (json_int_t)f->count));
	free(f->name);
	f->name = NULL;
	return rc;
}

static int open_file(export_run *x, out_file *f, const char *type, int nth)
{
	char name[256], path[4096];
	snprintf(name, sizeof name, "%s-%d.ndjson", type, nth);
	snprintf(path, sizeof path, "%s/%s", x->dir, name);
	f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (f->fd < 0)
		return -1;
	f->name = strdup(name);
	f->count = 0;
	return f->name ? 0 : -1;
}

/* Export one type: 0, 1 when stopped, -1 with *err on failure. */
static int export_type(export_run *x, const char *type, char **err)
{
	arena *a = arena_new(0);
	store_snapshot_query q = {
	        .type = type, .upto = x->upto, .since = x->rq->since, .history = x->rq->history};
	search_bind *binds;
	if (type_where(a, x->st, x->rq, type, &q.where, &binds, &q.nbinds, err)) {
		arena_free(a);
		return -1;
	}
	q.binds = binds;
	out_file f = {.fd = -1};
	buf_init(&f.pending, 0);
	int nth = 1, rc = 0;
	buf line;
	buf_init(&line, 0);
	for (;;) {
		if (x->stop && *x->stop) {
			rc = 1;
			break;
		}
		arena *pa = arena_new(0);
		store_version *v;
		size_t n;
		int more;
		int src = store_snapshot(x->st, pa, &q, PAGE, &v, &n, &more);
		if (src) {
			arena_free(pa);
			*err = base_strdup("the store could not be read");
			rc = -1;
			break;
		}
		for (size_t i = 0; i < n && !rc; i++) {
			buf_reset(&line);
			out_file *to = &f;
			if (v[i].deleted) {
				/* in the type's own file, in write order, so that an import
				 * replays the versions and deletions as they happened */
				put_deletion(&line, &v[i]);
				if (f.fd < 0 && open_file(x, &f, type, nth))
					rc = -1;
			} else {
				if (x->rq->elements)
					put_elements(&line, &v[i], x->rq->elements);
				else
					buf_append(&line, v[i].body, v[i].body_len);
				if (f.count >= BULK_RESOURCES_PER_FILE) {
					if (close_file(x, &f, type))
						rc = -1;
					nth++;
				}
				if (!rc && f.fd < 0 && open_file(x, &f, type, nth))
					rc = -1;
			}
			buf_putc(&line, '\n');
			if (!rc && (buf_append(&to->pending, line.data, line.len) ||
			            (to->pending.len >= FLUSH_AT && flush_file(to))))
				rc = -1;
			to->count++;
			x->done++;
		}
		if (n)
			q.after = v[n - 1].seq;
		arena_free(pa);
		if (rc) {
			if (!*err)
				*err = base_strdup(
				        "an export file could not be written (is the disk full?)");
			break;
		}
		if (x->progress)
			x->progress(x->ctx, type, x->done);
		if (!more)
			break;
	}
	buf_free(&line);
	if (rc == 0) {
		if (close_file(x, &f, type)) {
			*err = base_strdup(
			        "an export file could not be written (is the disk full?)");
			rc = -1;
		}
	} else {
		if (f.fd >= 0)
			close(f.fd);
		free(f.name);
	}
	buf_free(&f.pending);
	arena_free(a);
	return rc;
}

/* The types a job exports: those asked for, or every resource type. */
static size_t job_types(const bulk_request *rq, arena *a, const char ***out)
{
	if (rq->ntypes) {
		*out = (const char **)rq->types;
		return rq->ntypes;
	}
	size_t n = model_resource_count();
	const char **t = arena_alloc(a, (n + 1) * sizeof *t);
	for (size_t i = 0; i < n; i++)
		t[i] = model_type_name(model_resource_at(i));
	*out = t;
	return n;
}

/* Run the job from type index `from`: 0 done, 1 stopped, -1 failed. */
static int run_export(export_run *x, size_t from, char **err,
                      int (*after_type)(void *ctx, size_t next), void *actx)
{
	arena *a = arena_new(0);
	const char **types;
	size_t n = job_types(x->rq, a, &types);
	int rc = 0;
	for (size_t i = from; i < n && !rc; i++) {
		rc = export_type(x, types[i], err);
		if (!rc && after_type && after_type(actx, i + 1)) {
			*err = base_strdup(
			        "the job's state could not be saved (is the disk full?)");
			rc = -1;
		}
	}
	arena_free(a);
	return rc;
}

/* ---- the worker ---- */

typedef struct saver {
	job *jb;
	export_run *x;
	bulk *b;
	size_t saved_files;
} saver;

static int save_progress(void *ctx, size_t next)
{
	saver *s = ctx;
	/* a type without data changes nothing worth a durable write: resuming
	 * after it costs one empty query */
	if (json_array_size(s->x->files) == s->saved_files && next % 16)
		return 0;
	s->saved_files = json_array_size(s->x->files);
	json_object_set_new(s->jb->j, "nextType", json_integer((json_int_t)next));
	json_object_set(s->jb->j, "files", s->x->files);
	json_object_set_new(s->jb->j, "exported", json_integer(s->x->done));
	return save(s->jb);
}

static void run_job(bulk *b, job *jb)
{
	arena *a = arena_new(0);
	bulk_request rq;
	request_of(jb->j, a, &rq);
	size_t from = (size_t)json_integer_value(json_object_get(jb->j, "nextType"));
	/* the files of types finished before a restart stay; a half-written
	 * type is written again (open_file truncates) */
	json_t *files = json_object_get(jb->j, "files");
	files = json_is_array(files) ? json_deep_copy(files) : json_array();
	export_run x = {.st = b->st,
	                .rq = &rq,
	                .dir = jb->dir,
	                .upto = json_integer_value(json_object_get(jb->j, "upto")),
	                .stop = &b->cancel_running,
	                .files = files,
	                .fsync_each = 1,
	                .done = json_integer_value(json_object_get(jb->j, "exported"))};
	json_object_set_new(jb->j, "state", json_string("running"));
	save(jb);
	char *err = NULL;
	saver sv = {jb, &x, b, json_array_size(files)};
	int rc = run_export(&x, from, &err, save_progress, &sv);
	pthread_mutex_lock(&b->mu);
	int stopping = b->stop, cancelled = b->cancel_running && !b->stop;
	pthread_mutex_unlock(&b->mu);
	if (cancelled) {
		remove_dir(jb->dir);
	} else if (rc == 0) {
		json_object_set_new(jb->j, "state", json_string("done"));
		json_object_set(jb->j, "files", files);
		save(jb);
	} else if (rc < 0) {
		json_object_set_new(jb->j, "state", json_string("failed"));
		json_object_set_new(jb->j, "error", json_string(err ? err : "failed"));
		save(jb);
	} else if (!stopping) {
		remove_dir(jb->dir);
	}
	free(err);
	json_decref(files);
	arena_free(a);
}

static void job_free(job *jb)
{
	if (!jb)
		return;
	free(jb->id);
	free(jb->dir);
	json_decref(jb->j);
	free(jb);
}

static void *worker(void *arg)
{
	bulk *b = arg;
	pthread_mutex_lock(&b->mu);
	for (;;) {
		while (!b->queue && !b->stop)
			pthread_cond_wait(&b->cv, &b->mu);
		if (b->stop)
			break;
		job *jb = b->queue;
		b->queue = jb->next;
		b->running = jb->id;
		b->cancel_running = 0;
		pthread_mutex_unlock(&b->mu);
		run_job(b, jb);
		pthread_mutex_lock(&b->mu);
		b->running = NULL;
		pthread_cond_broadcast(&b->cv); /* a bulk_cancel may wait for it */
		job_free(jb);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

static job *load_job(bulk *b, const char *id)
{
	char dir[4096], path[4200];
	snprintf(dir, sizeof dir, "%s/%s", b->dir, id);
	snprintf(path, sizeof path, "%s/job.json", dir);
	json_error_t e;
	json_t *j = json_load_file(path, 0, &e);
	if (!j)
		return NULL;
	job *jb = base_calloc(1, sizeof *jb);
	jb->id = base_strdup(id);
	jb->dir = base_strdup(dir);
	jb->j = j;
	return jb;
}

static int valid_job_id(const char *id)
{
	size_t n = strlen(id);
	if (n < 8 || n > 64)
		return 0;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			return 0;
	return 1;
}

bulk *bulk_open(store *st, const char *dir, char **err)
{
	/* the directory is made with the first job (bulk_kickoff) */
	bulk *b = base_calloc(1, sizeof *b);
	b->st = st;
	b->dir = base_strdup(dir);
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	/* jobs left unfinished, oldest first */
	DIR *d = opendir(dir);
	job **tail = &b->queue;
	if (d) {
		struct dirent *e;
		job *found = NULL;
		while ((e = readdir(d))) {
			if (!valid_job_id(e->d_name))
				continue;
			job *jb = load_job(b, e->d_name);
			if (!jb)
				continue;
			const char *state = jstr(jb->j, "state");
			if (state && (!strcmp(state, "accepted") || !strcmp(state, "running"))) {
				jb->next = found;
				found = jb;
			} else {
				job_free(jb);
			}
		}
		closedir(d);
		/* in order of acceptance */
		while (found) {
			job *best = found, **bp = &found;
			for (job **p = &found; *p; p = &(*p)->next)
				if (json_integer_value(json_object_get((*p)->j, "created")) <
				    json_integer_value(json_object_get(best->j, "created"))) {
					best = *p;
					bp = p;
				}
			*bp = best->next;
			best->next = NULL;
			*tail = best;
			tail = &best->next;
		}
	}
	if (pthread_create(&b->th, NULL, worker, b)) {
		*err = base_strdup("cannot start the export worker");
		bulk_close(b);
		return NULL;
	}
	return b;
}

void bulk_close(bulk *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->mu);
	b->stop = 1;
	b->cancel_running = 1;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
	if (b->th)
		pthread_join(b->th, NULL);
	while (b->queue) {
		job *n = b->queue->next;
		job_free(b->queue);
		b->queue = n;
	}
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	free(b->dir);
	free(b);
}

static char *new_id(void)
{
	unsigned char r[16];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, r, sizeof r) != (ssize_t)sizeof r) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	close(fd);
	char *id = base_malloc(33);
	for (int i = 0; i < 16; i++)
		sprintf(id + 2 * i, "%02x", r[i]);
	return id;
}

int bulk_kickoff(bulk *b, const bulk_request *rq, char **id, char **err)
{
	*id = NULL;
	/* the filters must compile before a job is accepted */
	arena *a = arena_new(0);
	for (size_t i = 0; i < rq->nfilters; i++) {
		const char *f = rq->type_filters[i], *q = strchr(f, '?');
		char *type = arena_strndup(a, f, q ? (size_t)(q - f) : strlen(f));
		const char *w;
		search_bind *bb;
		size_t nb;
		if (!model_type_get(type)) {
			if (asprintf(err, "_typeFilter '%s': unknown resource type", f) < 0)
				base_oom();
			arena_free(a);
			return -1;
		}
		if (type_where(a, b->st, rq, type, &w, &bb, &nb, err)) {
			arena_free(a);
			return -1;
		}
	}
	arena_free(a);
	int64_t upto;
	if (store_last_seq(b->st, &upto)) {
		*err = base_strdup("the store cannot be read now");
		return -2;
	}
	char *jid = new_id();
	if (!jid) {
		*err = base_strdup("no randomness for a job id");
		return -2;
	}
	if (mkdir(b->dir, 0700) && errno != EEXIST) {
		if (asprintf(err, "cannot create the export directory %s: %s", b->dir,
		             strerror(errno)) < 0)
			base_oom();
		free(jid);
		return -2;
	}
	job *jb = base_calloc(1, sizeof *jb);
	jb->id = jid;
	if (asprintf(&jb->dir, "%s/%s", b->dir, jid) < 0)
		base_oom();
	if (mkdir(jb->dir, 0700)) {
		if (asprintf(err, "cannot create %s: %s", jb->dir, strerror(errno)) < 0)
			base_oom();
		job_free(jb);
		return -2;
	}
	json_t *j = json_object();
	json_object_set_new(j, "id", json_string(jid));
	json_object_set_new(j, "state", json_string("accepted"));
	json_object_set_new(j, "owner", json_string(rq->owner ? rq->owner : ""));
	json_object_set_new(j, "request", json_string(rq->request ? rq->request : ""));
	json_object_set_new(j, "level", json_string(rq->level ? rq->level : "system"));
	json_object_set_new(j, "created", json_integer(base_now_us()));
	json_object_set_new(j, "transactionTime", json_integer(base_now_us()));
	json_object_set_new(j, "upto", json_integer(upto));
	if (rq->since)
		json_object_set_new(j, "since", json_integer(rq->since));
	if (rq->elements)
		json_object_set_new(j, "elements", json_string(rq->elements));
	if (rq->history)
		json_object_set_new(j, "history", json_true());
	if (rq->ntypes)
		json_object_set_new(j, "types", strings(rq->types, rq->ntypes));
	if (rq->nfilters)
		json_object_set_new(j, "typeFilters", strings(rq->type_filters, rq->nfilters));
	if (rq->patients)
		json_object_set_new(j, "patients", strings(rq->patients, rq->npatients));
	json_object_set_new(j, "files", json_array());
	jb->j = j;
	if (save(jb)) {
		*err = base_strdup("cannot write the job (is the disk full?)");
		remove_dir(jb->dir);
		job_free(jb);
		return -2;
	}
	*id = base_strdup(jid);
	pthread_mutex_lock(&b->mu);
	job **p = &b->queue;
	while (*p)
		p = &(*p)->next;
	*p = jb;
	pthread_cond_broadcast(&b->cv); /* the worker, not a bulk_cancel waiting */
	pthread_mutex_unlock(&b->mu);
	return 0;
}

void bulk_status_of(bulk *b, arena *a, const char *id, const char *owner, bulk_status *out)
{
	memset(out, 0, sizeof *out);
	out->state = BULK_NONE;
	if (!valid_job_id(id))
		return;
	job *jb = load_job(b, id);
	if (!jb)
		return;
	const char *o = jstr(jb->j, "owner");
	if (!o || strcmp(o, owner ? owner : "")) {
		job_free(jb);
		return;
	}
	const char *state = jstr(jb->j, "state");
	out->state = !state                     ? BULK_FAILED
	             : !strcmp(state, "done")   ? BULK_DONE
	             : !strcmp(state, "failed") ? BULK_FAILED
	                                        : BULK_RUNNING;
	out->request = arena_strdup(a, jstr(jb->j, "request") ? jstr(jb->j, "request") : "");
	out->transaction_time = json_integer_value(json_object_get(jb->j, "transactionTime"));
	out->history = json_is_true(json_object_get(jb->j, "history"));
	const char *e = jstr(jb->j, "error");
	out->error = e ? arena_strdup(a, e) : NULL;
	json_t *files = json_object_get(jb->j, "files");
	out->nfiles = json_array_size(files);
	out->files = arena_alloc(a, (out->nfiles + 1) * sizeof *out->files);
	for (size_t i = 0; i < out->nfiles; i++) {
		json_t *f = json_array_get(files, i);
		out->files[i].type = arena_strdup(a, jstr(f, "type") ? jstr(f, "type") : "");
		out->files[i].name = arena_strdup(a, jstr(f, "name") ? jstr(f, "name") : "");
		out->files[i].count = json_integer_value(json_object_get(f, "count"));
	}
	arena *ta = arena_new(0);
	bulk_request rq;
	request_of(jb->j, ta, &rq);
	const char **types;
	size_t nt = job_types(&rq, ta, &types);
	size_t next = (size_t)json_integer_value(json_object_get(jb->j, "nextType"));
	out->progress = arena_printf(
	        a, "%lld resources exported, %zu of %zu types done",
	        (long long)json_integer_value(json_object_get(jb->j, "exported")), next, nt);
	arena_free(ta);
	job_free(jb);
}

int bulk_cancel(bulk *b, const char *id, const char *owner)
{
	arena *a = arena_new(0);
	bulk_status st;
	bulk_status_of(b, a, id, owner, &st);
	arena_free(a);
	if (st.state == BULK_NONE)
		return -1;
	pthread_mutex_lock(&b->mu);
	int removed = 0;
	for (job **p = &b->queue; *p; p = &(*p)->next)
		if (!strcmp((*p)->id, id)) {
			job *jb = *p;
			*p = jb->next;
			remove_dir(jb->dir);
			job_free(jb);
			removed = 1;
			break;
		}
	if (!removed && b->running && !strcmp(b->running, id)) {
		/* the worker stops between pages; wait for it, so that the job is
		 * gone when the DELETE is answered (a status poll right after it is
		 * 404), and remove what it may have finished meanwhile */
		b->cancel_running = 1;
		while (b->running && !strcmp(b->running, id))
			pthread_cond_wait(&b->cv, &b->mu);
	}
	if (!removed) {
		char dir[4096];
		snprintf(dir, sizeof dir, "%s/%s", b->dir, id);
		remove_dir(dir);
	}
	pthread_mutex_unlock(&b->mu);
	return 0;
}

const char *bulk_file_path(bulk *b, arena *a, const char *id, const char *owner, const char *name)
{
	bulk_status st;
	bulk_status_of(b, a, id, owner, &st);
	if (st.state != BULK_DONE)
		return NULL;
	for (size_t i = 0; i < st.nfiles; i++)
		if (!strcmp(st.files[i].name, name))
			return arena_printf(a, "%s/%s/%s", b->dir, id, name);
	return NULL;
}

int bulk_export_dir(store *st, const bulk_request *rq, const char *dir,
                    void (*progress)(void *ctx, const char *type, int64_t n), void *ctx,
                    bulk_status *out, arena *a, char **err)
{
	memset(out, 0, sizeof *out);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		if (asprintf(err, "cannot create %s: %s", dir, strerror(errno)) < 0)
			base_oom();
		return -1;
	}
	int64_t upto;
	if (store_last_seq(st, &upto)) {
		*err = base_strdup("the store cannot be read");
		return -1;
	}
	export_run x = {.st = st,
	                .rq = rq,
	                .dir = dir,
	                .upto = upto,
	                .files = json_array(),
	                .progress = progress,
	                .ctx = ctx};
	out->transaction_time = base_now_us();
	int rc = run_export(&x, 0, err, NULL, NULL);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!rc && (dfd < 0 || syncfs(dfd))) { /* every file durable, in one go */
		*err = base_strdup("the export files could not be synced to disk");
		rc = -1;
	}
	if (dfd >= 0)
		close(dfd);
	out->state = rc ? BULK_FAILED : BULK_DONE;
	out->nfiles = json_array_size(x.files);
	out->files = arena_alloc(a, (out->nfiles + 1) * sizeof *out->files);
	for (size_t i = 0; i < out->nfiles; i++) {
		json_t *f = json_array_get(x.files, i);
		out->files[i].type = arena_strdup(a, jstr(f, "type"));
		out->files[i].name = arena_strdup(a, jstr(f, "name"));
		out->files[i].count = json_integer_value(json_object_get(f, "count"));
	}
	json_decref(x.files);
	return rc ? -1 : 0;
}
