/*
 * import.c - `bron import [--url BASE | --data DIR] FILE...`: loads Bundles
 * and NDJSON into Bron. Jobs (import_source.c) are POSTed to the FHIR base
 * with libcurl's multi interface, up to --concurrency at once over
 * keep-alive connections, from this one thread; 503/429 answers and refused
 * connections are retried with backoff. With --data the store is opened
 * here and served by Bron's own HTTP server on 127.0.0.1 (a free port) for
 * the duration, so both paths run the same code as `bron serve`. Private
 * interface in import_int.h; the command's entry point is in cli.h.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../http/http.h"
#include "../rest/rest.h"
#include "../store/store.h"
#include "cli.h"
#include "import_int.h"

#define DEFAULT_RETRIES  9      /* resends of one job before it is given up */
#define BACKOFF_FIRST_US 100000 /* first retry delay, doubled each time */
#define BACKOFF_MAX_US   5000000

typedef struct importer {
	import_report *rep;
	CURLM *multi;
	struct curl_slist *headers;
	char url[1100]; /* the FHIR base POSTed to */
	long concurrency;
	long retries; /* resends after 503, 429 or a refused connection */
	int strict;
	size_t batch;
	char **files;
	int nfiles, next_file;
	import_source *src;  /* the file being read */
	import_job *ready;   /* to send before reading more (batch retries) */
	import_job *waiting; /* to resend after their not_before */
	int inflight;
	int inputs_done; /* every file read, or stopped */
	int stop;        /* send nothing new: --strict rejection, signal, no server */
} importer;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void import_usage(FILE *f)
{
	fprintf(f,
	        "usage: bron import [--url BASE | --data DIR | --store URL] [options] FILE...\n\n"
	        "Loads FHIR data: Bundles (batch and transaction as they are; collection and\n"
	        "searchset as a transaction of PUT [type]/[id]), single resources and NDJSON\n"
	        "(.ndjson, one resource per line, in transactions of --batch resources); any\n"
	        "of them may be gzip-compressed (.gz).\n\n"
	        "  --url BASE         send to a running server, e.g. http://localhost:8080/fhir\n"
	        "  --data DIR         load straight into the store in DIR (default ./data);\n"
	        "                     no server may be running on it\n"
	        "  --store URL        load straight into a PostgreSQL database "
	        "(postgresql://...);\n"
	        "                     servers may be running on it\n"
	        "  --key-file FILE    with --data/--store: the store's owner key (encryption at\n"
	        "                     rest; or BRON_KEY_FILE / BRON_KEY in the environment)\n"
	        "  --unencrypted      with --data/--store: the store is not encrypted (one of\n"
	        "                     the two is required)\n"
	        "  --sync 0|1         with --data/--store: fsync every commit (default 1); 0 is "
	        "faster\n"
	        "                     and the store is still flushed when the import ends, but\n"
	        "                     a power loss during it may lose the last transactions\n"
	        "  --history          keep each version's number and time (the files of\n"
	        "                     bron export --history: every version, and the deletions);\n"
	        "                     with --data or --store only; one request at a time\n"
	        "  --strict           stop at the first rejected resource or Bundle\n"
	        "  --batch N          NDJSON resources per transaction (default 500)\n"
	        "  --concurrency N    requests in flight (default 4)\n"
	        "  --retries N        resend a Bundle refused with 503/429 or a refused "
	        "connection\n"
	        "                     up to N times, waiting 0.1 s, 0.2 s, ... up to 5 s (default "
	        "9)\n"
	        "  --help             this text\n\n"
	        "Exit status: 0 when everything loaded, 1 when something was rejected or\n"
	        "failed, 2 for a usage error.\n");
}

/* ---- queues ---- */

static void push_front(importer *im, import_job *j)
{
	j->next = im->ready;
	im->ready = j;
}

static import_job *pop_ready(importer *im)
{
	import_job *j = im->ready;
	if (j) {
		im->ready = j->next;
		j->next = NULL;
	}
	return j;
}

/* A waiting job whose time has come, or NULL. */
static import_job *pop_due(importer *im, int64_t now)
{
	for (import_job **p = &im->waiting; *p; p = &(*p)->next) {
		if ((*p)->not_before <= now) {
			import_job *j = *p;
			*p = j->next;
			j->next = NULL;
			return j;
		}
	}
	return NULL;
}

static void check_strict(importer *im)
{
	if (im->strict && import_report_rejections(im->rep))
		im->stop = 1;
}

/* The next job to send: a due retry, a queued batch, or one read from the
 * files; NULL when none is available now. */
static import_job *next_job(importer *im)
{
	import_job *j = pop_due(im, now_us());
	if (j)
		return j;
	if (im->waiting) /* the server is busy or away: resend before sending more */
		return NULL;
	if ((j = pop_ready(im)))
		return j;
	while (!im->stop && !im->inputs_done) {
		if (!im->src) {
			if (im->next_file >= im->nfiles) {
				im->inputs_done = 1;
				break;
			}
			const char *path = im->files[im->next_file++];
			char err[256];
			import_report_file(im->rep);
			if (import_source_open(path, im->batch, &im->src, err, sizeof err)) {
				import_report_reject(im->rep, 0, "%s: %s", path, err);
				check_strict(im);
				continue;
			}
		}
		int rc = import_source_next(im->src, im->rep, &j);
		check_strict(im);
		if (rc == 1 && !im->stop)
			return j;
		import_job_free(j);
		if (rc != 1) {
			import_source_close(im->src);
			im->src = NULL;
		}
	}
	if (im->stop)
		im->inputs_done = 1;
	return NULL;
}

/* ---- sending ---- */

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
	import_job *j = ctx;
	return buf_append(&j->response, p, size * n) ? 0 : size * n;
}

static void start(importer *im, import_job *j)
{
	CURL *e = curl_easy_init();
	if (!e)
		base_oom();
	buf_reset(&j->response);
	j->errbuf[0] = 0;
	curl_easy_setopt(e, CURLOPT_URL, im->url);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body.data);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->body.len);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, im->headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(e, CURLOPT_PRIVATE, j);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 900L);
	j->easy = e;
	curl_multi_add_handle(im->multi, e);
	im->inflight++;
}

/* The diagnostics of an OperationOutcome, joined, into out. */
static void outcome_text(const json_t *oo, char *out, size_t cap)
{
	size_t used = 0, i;
	json_t *issue;
	out[0] = 0;
	json_array_foreach(json_object_get(oo, "issue"), i, issue)
	{
		const char *t = json_string_value(json_object_get(issue, "diagnostics"));
		if (!t)
			t = json_string_value(
			        json_object_get(json_object_get(issue, "details"), "text"));
		if (!t)
			t = json_string_value(json_object_get(issue, "code"));
		if (!t || used + 3 >= cap)
			continue;
		snprintf(out + used, cap - used, "%s%s", used ? "; " : "", t);
		used += strlen(out + used);
	}
}

/* "file" or "file:LINE" / "file: entry N" for entry i of j (i < 0: the whole job). */
static void where_text(const import_job *j, long i, char *out, size_t cap)
{
	if (i < 0 && j->entries == 1)
		i = 0;
	if (i < 0 && j->where_kind == IMPORT_WHERE_LINE && j->where)
		snprintf(out, cap, "%s:%ld-%ld", j->file, j->where[0], j->where[j->entries - 1]);
	else if (i < 0)
		snprintf(out, cap, "%s", j->file);
	else if (j->where_kind == IMPORT_WHERE_LINE && j->where)
		snprintf(out, cap, "%s:%ld", j->file, j->where[i]);
	else
		snprintf(out, cap, "%s: entry %ld", j->file, j->where ? j->where[i] : i);
}

/* The answer of a batch: count each entry. */
static void count_batch(importer *im, import_job *j, const json_t *res)
{
	json_t *entries = json_object_get(res, "entry");
	size_t n = json_array_size(entries);
	char where[300], why[300];
	for (size_t i = 0; i < j->entries; i++) {
		json_t *r = json_object_get(json_array_get(entries, i), "response");
		const char *status = json_string_value(json_object_get(r, "status"));
		if (status && status[0] == '2') {
			import_report_loaded(im->rep, 1);
			continue;
		}
		where_text(j, (long)i, where, sizeof where);
		outcome_text(json_object_get(r, "outcome"), why, sizeof why);
		if (i >= n)
			import_report_reject(im->rep, 1, "%s: no answer in the batch-response",
			                     where);
		else
			import_report_reject(im->rep, 1, "%s: %s%s%s", where,
			                     status ? status : "no status", why[0] ? ": " : "",
			                     why);
	}
}

static void reject_job(importer *im, import_job *j, const char *fmt, const char *detail)
{
	char where[300];
	where_text(j, -1, where, sizeof where);
	import_report_reject(im->rep, j->entries, fmt, where, detail);
}

/* Count an HTTP answer. Returns a job to send next (a batch retry) or NULL. */
static import_job *answered(importer *im, import_job *j, long status)
{
	json_t *res =
	        json_loadb(j->response.data ? j->response.data : "", j->response.len, 0, NULL);
	if (status / 100 == 2 && !j->batch) {
		import_report_loaded(im->rep, j->entries);
	} else if (status / 100 == 2 && json_is_object(res)) {
		count_batch(im, j, res);
	} else if (j->synthetic && !j->batch && j->entries > 1 && !im->strict) {
		json_decref(res);
		return import_job_as_batch(j); /* so each bad resource is rejected alone */
	} else {
		char why[400], text[300];
		outcome_text(res, text, sizeof text);
		snprintf(why, sizeof why, "HTTP %ld%s%s", status, text[0] ? ": " : "", text);
		reject_job(im, j, "%s: %s", why);
	}
	json_decref(res);
	return NULL;
}

static void finish(importer *im, CURL *e, CURLcode res)
{
	import_job *j = NULL;
	long status = 0;
	curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&j);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(im->multi, e);
	curl_easy_cleanup(e);
	j->easy = NULL;
	im->inflight--;
	j->attempts++;
	int retry = res == CURLE_COULDNT_CONNECT ||
	            (res == CURLE_OK && (status == 503 || status == 429));
	if (retry && j->attempts <= im->retries && !interrupted) {
		int shift = j->attempts - 1 < 8 ? j->attempts - 1 : 8; /* 2^8 x 0.1 s > the cap */
		int64_t delay = (int64_t)BACKOFF_FIRST_US << shift;
		j->not_before = now_us() + (delay > BACKOFF_MAX_US ? BACKOFF_MAX_US : delay);
		j->next = im->waiting;
		im->waiting = j;
		return;
	}
	import_job *again = NULL;
	if (res != CURLE_OK) {
		reject_job(im, j, "%s: not sent: %s",
		           j->errbuf[0] ? j->errbuf : curl_easy_strerror(res));
		if (res == CURLE_COULDNT_CONNECT)
			im->stop = 1; /* the server is gone: nothing else will load */
	} else {
		again = answered(im, j, status);
	}
	if (again)
		push_front(im, again);
	else
		import_report_bytes(im->rep, j->bytes);
	import_job_free(j);
	check_strict(im);
}

/* Milliseconds to wait for network events before the next due retry. */
static int poll_timeout(importer *im)
{
	int64_t now = now_us(), ms = 200;
	for (import_job *j = im->waiting; j; j = j->next) {
		int64_t left = (j->not_before - now) / 1000;
		if (left < ms)
			ms = left < 1 ? 1 : left;
	}
	return (int)ms;
}

static void run(importer *im)
{
	for (;;) {
		if (interrupted)
			im->stop = 1;
		import_job *j;
		while (im->inflight < im->concurrency && (j = next_job(im)))
			start(im, j);
		if (!im->inflight && !im->waiting && !im->ready && im->inputs_done)
			break;
		int running = 0;
		curl_multi_perform(im->multi, &running);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(im->multi, &left)))
			if (m->msg == CURLMSG_DONE)
				finish(im, m->easy_handle, m->data.result);
		if (im->inflight)
			curl_multi_poll(im->multi, NULL, 0, poll_timeout(im), NULL);
		else if (im->waiting)
			usleep((useconds_t)poll_timeout(im) * 1000);
		import_report_tick(im->rep, 0);
	}
	/* a stop leaves retries and queued batches unsent: count them */
	import_job *j;
	while ((j = pop_ready(im)) || (j = im->waiting)) {
		if (j == im->waiting)
			im->waiting = j->next;
		reject_job(im, j, "%s: %s", "not sent (stopped)");
		import_job_free(j);
	}
}

/* ---- the command ---- */

typedef struct import_args {
	const char *url;
	const char *data;
	const char *store;    /* --store URL: a PostgreSQL database */
	const char *token;    /* --token: a bearer token for --url */
	const char *key_file; /* --key-file: the owner's key of --data/--store */
	int unencrypted;      /* --unencrypted: explicitly none */
	int strict;
	int history; /* keep every version's number and time (bron export --history) */
	long batch, concurrency, retries;
	long sync; /* -1: not given */
	int first_file;
} import_args;

/* Returns 0, 1 for --help, -1 for a usage error (reported). */
static int parse_args(int argc, char **argv, import_args *a)
{
	int i;
	for (i = 1; i < argc && !strncmp(argv[i], "--", 2); i++) {
		const char *o = argv[i];
		if (!strcmp(o, "--")) {
			i++;
			break;
		}
		if (!strcmp(o, "--help") || !strcmp(o, "-h"))
			return 1;
		if (!strcmp(o, "--strict")) {
			a->strict = 1;
			continue;
		}
		if (!strcmp(o, "--unencrypted")) {
			a->unencrypted = 1;
			continue;
		}
		if (!strcmp(o, "--history")) {
			a->history = 1;
			continue;
		}
		const char *eq = strchr(o, '=');
		size_t kl = eq ? (size_t)(eq - o) : strlen(o);
		const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
		int bad = !v;
		if (bad)
			;
		else if (kl == 5 && !strncmp(o, "--url", kl))
			a->url = v;
		else if (kl == 6 && !strncmp(o, "--data", kl))
			a->data = v;
		else if (kl == 7 && !strncmp(o, "--store", kl))
			a->store = v;
		else if (kl == 7 && !strncmp(o, "--token", kl))
			a->token = v;
		else if (kl == 10 && !strncmp(o, "--key-file", kl))
			a->key_file = v;
		else if (kl == 7 && !strncmp(o, "--batch", kl))
			bad = base_parse_long(v, 1, 20000, &a->batch);
		else if (kl == 13 && !strncmp(o, "--concurrency", kl))
			bad = base_parse_long(v, 1, 64, &a->concurrency);
		else if (kl == 6 && !strncmp(o, "--sync", kl))
			bad = base_parse_long(v, 0, 1, &a->sync);
		else if (kl == 9 && !strncmp(o, "--retries", kl))
			bad = base_parse_long(v, 0, 100, &a->retries);
		else {
			fprintf(stderr, "bron import: unknown option '%s'\n", o);
			return -1;
		}
		if (bad) {
			fprintf(stderr, "bron import: bad or missing value for '%.*s'\n", (int)kl,
			        o);
			return -1;
		}
	}
	a->first_file = i;
	if (!!a->url + !!a->data + !!a->store > 1) {
		fprintf(stderr, "bron import: give one of --url, --data and --store\n");
		return -1;
	}
	if (a->url && a->history) {
		fprintf(stderr, "bron import: --history loads into a store (--data or --store), "
		                "not into a running server\n");
		return -1;
	}
	if (a->url && a->sync >= 0) {
		fprintf(stderr, "bron import: --sync applies to --data and --store only\n");
		return -1;
	}
	if (a->url && (a->key_file || a->unencrypted)) {
		fprintf(stderr, "bron import: --key-file and --unencrypted apply to --data and "
		                "--store only\n");
		return -1;
	}
	if (i >= argc) {
		fprintf(stderr, "bron import: no input files\n");
		return -1;
	}
	return 0;
}

static uint64_t total_size(char **files, int n)
{
	uint64_t t = 0;
	for (int i = 0; i < n; i++) {
		FILE *f = fopen(files[i], "rb");
		if (f && !fseek(f, 0, SEEK_END)) {
			long s = ftell(f);
			t += s > 0 ? (uint64_t)s : 0;
		}
		if (f)
			fclose(f);
	}
	return t;
}

/* The in-process server of --data. */
typedef struct local_server {
	store *st;
	rest *r;
	http_server *srv;
} local_server;

static int local_start(local_server *ls, const char *dir, const char *store_url, int sync,
                       const crypt_key *key, int history, char *url, size_t cap)
{
	store_options so = {.url = store_url, .dir = dir, .sync_full = sync, .key = key};
	char *err = NULL;
	if (store_open(&so, &ls->st, &err)) {
		fprintf(stderr, "bron import: %s\n", err ? err : "cannot open the store");
		free(err);
		return -1;
	}
	/* the import's own server, on a loopback port, for the import only */
	rest_config rc = {.store = ls->st,
	                  .base_path = "/fhir",
	                  .max_body = IMPORT_MAX_FILE,
	                  .open = 1,
	                  .restore = history};
	ls->r = rest_new(&rc);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	http_config hc = {.bind = "127.0.0.1",
	                  .port = 0,
	                  .threads = cpus > 0 ? (int)cpus : 2,
	                  .max_body = IMPORT_MAX_FILE + ((size_t)16 << 20),
	                  .timeout_s = 900};
	if (http_start(&hc, rest_handle, ls->r, &ls->srv, &err)) {
		fprintf(stderr, "bron import: %s\n", err ? err : "cannot start the server");
		free(err);
		rest_free(ls->r);
		store_close(ls->st);
		return -1;
	}
	snprintf(url, cap, "http://127.0.0.1:%d/fhir", http_port(ls->srv));
	return 0;
}

static void local_stop(local_server *ls)
{
	http_stop(ls->srv, 30);
	rest_free(ls->r);
	store_close(ls->st);
}

static void set_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int cli_import(int argc, char **argv)
{
	import_args a = {.batch = 500, .concurrency = 4, .retries = DEFAULT_RETRIES, .sync = -1};
	int rc = parse_args(argc, argv, &a);
	if (!rc && a.history)
		a.concurrency = 1; /* the versions of a resource arrive in their order */
	if (rc) {
		import_usage(rc > 0 ? stdout : stderr);
		return rc > 0 ? 0 : 2;
	}
	importer im = {.concurrency = a.concurrency,
	               .retries = a.retries,
	               .strict = a.strict,
	               .batch = (size_t)a.batch,
	               .files = argv + a.first_file,
	               .nfiles = argc - a.first_file};
	local_server ls = {0};
	if (a.url) {
		size_t n = strlen(a.url);
		while (n && a.url[n - 1] == '/')
			n--;
		if (n >= sizeof im.url || strncmp(a.url, "http", 4)) {
			fprintf(stderr, "bron import: bad --url '%s'\n", a.url);
			return 2;
		}
		memcpy(im.url, a.url, n);
		im.url[n] = 0;
	}
	set_signals();
	if (!a.url) {
		const char *dir = a.data ? a.data : "./data";
		crypt_key owner;
		const crypt_key *key;
		rc = cli_store_key("import", a.key_file, a.unencrypted, a.store ? NULL : dir,
		                   &owner, &key);
		if (rc)
			return rc;
		rc = local_start(&ls, dir, a.store, a.sync != 0, key, a.history, im.url,
		                 sizeof im.url);
		crypt_key_wipe(&owner);
		if (rc)
			return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	im.multi = curl_multi_init();
	curl_multi_setopt(im.multi, CURLMOPT_MAX_HOST_CONNECTIONS, a.concurrency);
	curl_multi_setopt(im.multi, CURLMOPT_MAXCONNECTS, a.concurrency);
	const char *hdrs[] = {"Content-Type: application/fhir+json",
	                      "Accept: application/fhir+json", "Prefer: return=minimal", "Expect:"};
	for (size_t i = 0; i < sizeof hdrs / sizeof *hdrs; i++)
		im.headers = curl_slist_append(im.headers, hdrs[i]);
	const char *token = a.token ? a.token : getenv("BRON_TOKEN");
	if (a.url && token && *token) {
		char *h = NULL;
		if (asprintf(&h, "Authorization: Bearer %s", token) < 0)
			base_oom();
		im.headers = curl_slist_append(im.headers, h);
		free(h);
	}
	im.rep = import_report_new(total_size(im.files, im.nfiles), (size_t)im.nfiles,
	                           isatty(STDERR_FILENO));

	run(&im);

	import_report_tick(im.rep, 1);
	import_report_summary(im.rep);
	int failed = import_report_rejections(im.rep) > 0 || interrupted;
	import_source_close(im.src);
	import_report_free(im.rep);
	curl_slist_free_all(im.headers);
	curl_multi_cleanup(im.multi);
	curl_global_cleanup();
	if (!a.url)
		local_stop(&ls);
	if (interrupted)
		fprintf(stderr, "bron import: interrupted\n");
	return failed ? 1 : 0;
}
