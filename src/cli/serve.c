/*
 * serve.c - `bron serve`: reads the configuration (file, then flags), opens
 * the store, starts the HTTP server with the REST handler, and on SIGTERM or
 * SIGINT stops accepting, lets requests in flight finish and closes the store.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../audit/audit.h"
#include "../bulk/bulk.h"
#include "../http/http.h"
#include "../rest/rest.h"
#include "../store/store.h"
#include "cli.h"

typedef struct serve_config {
	char bind[128];
	long port;
	char data[1024];
	char store[1024];
	long db_timeout;
	long threads;
	long max_body;
	long max_entries;
	char base_url[512];
	long sync;
	char tls_cert[1024]; /* PEM files for HTTPS; empty: plain HTTP */
	char tls_key[1024];
	char tls_client_ca[1024]; /* CAs of mutual TLS; empty: no client certificate */
	char jwks[1024];          /* public keys of the bearer tokens */
	char issuer[512];
	char audience[512];
	long open;                /* no access checks (development, loopback only) */
	char organization[512];   /* the owner's organisation, system|value */
	char consent_default[16]; /* opt-in or opt-out */
	char break_glass[256];    /* purpose codes that break the glass */
	char audit_key[1024];     /* PEM private key signing the audit checkpoints */
	char audit_kid[128];
	long audit_checkpoint; /* seconds between checkpoints */
	long no_audit;         /* with --open only: no audit trail */
	char key_file[1024];   /* the owner's key of encryption at rest */
	long unencrypted;      /* explicitly no encryption at rest */
	char export_dir[1024]; /* Bulk Data export jobs and files */
	/* limits (docs/robustness.md) */
	long max_header;         /* a connection's buffer for the request head (431 beyond) */
	long max_conns;          /* open connections at once */
	long max_conns_ip;       /* open connections per client address (0: no limit) */
	long rate_limit;         /* requests per second per client address (0: none) */
	long rate_burst;         /* the token bucket's size (0: rate_limit) */
	long request_timeout_ms; /* how long a reading request may read the store (0: no limit) */
	long idle_timeout;       /* seconds a connection may stay silent */
	long max_include;        /* resources _include/_revinclude add to a page */
} serve_config;

/* Signs a checkpoint of the audit trail's head every `every` seconds, and
 * once more at the end. */
typedef struct checkpointer {
	store *st;
	const char *key, *kid;
	long every;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	pthread_t th;
} checkpointer;

static void sign_checkpoint(checkpointer *cp)
{
	char *err = NULL;
	if (audit_checkpoint(cp->st, cp->key, cp->kid[0] ? cp->kid : NULL, NULL, &err)) {
		fprintf(stderr, "bron: audit checkpoint: %s\n", err ? err : "failed");
		free(err);
	}
}

static void *checkpointer_main(void *arg)
{
	checkpointer *cp = arg;
	pthread_mutex_lock(&cp->mu);
	while (!cp->stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += cp->every;
		while (!cp->stop && pthread_cond_timedwait(&cp->cv, &cp->mu, &until) == 0)
			;
		if (cp->stop)
			break;
		pthread_mutex_unlock(&cp->mu);
		sign_checkpoint(cp);
		pthread_mutex_lock(&cp->mu);
	}
	pthread_mutex_unlock(&cp->mu);
	return NULL;
}

/* A loopback address: 127.0.0.0/8, ::1 or localhost. */
static int loopback(const char *bind)
{
	return !strncmp(bind, "127.", 4) || !strcmp(bind, "::1") || !strcmp(bind, "localhost") ||
	       !strcmp(bind, "[::1]");
}

static void serve_usage(FILE *f)
{
	fprintf(f,
	        "usage: bron serve [options]\n\n"
	        "  --bind ADDR        address to listen on (default 127.0.0.1)\n"
	        "  --port N           TCP port (default 8080; 0 picks a free port)\n"
	        "  --data DIR         data directory of the embedded store (default ./data)\n"
	        "  --store URL        a PostgreSQL database instead (postgresql://...); see\n"
	        "                     docs/scaling.md\n"
	        "  --db-timeout S     PostgreSQL: longest wait for one statement before the\n"
	        "                     request answers 503 (default 10)\n"
	        "  --config FILE      read options from FILE (lines 'key = value', keys as these\n"
	        "                     flags without dashes); flags given after override it\n"
	        "  --threads N        HTTP polling threads (default: number of CPUs; with\n"
	        "                     --store 4 per CPU, at least 8: they wait on the database)\n"
	        "  --max-body BYTES   largest request body accepted (default 16777216)\n"
	        "  --max-entries N    most entries in a batch or transaction Bundle (default "
	        "20000)\n"
	        "  --max-header BYTES a connection's buffer for the request head, request line\n"
	        "                     and headers (default 49152, at least 16384); a head that\n"
	        "                     does not fit gets 431\n"
	        "  --max-connections N  open connections at once (default 1000); more wait in\n"
	        "                     the listen backlog (512) until one closes\n"
	        "  --max-connections-per-ip N  open connections from one client address\n"
	        "                     (default 0: no limit, as behind a proxy all share one)\n"
	        "  --rate-limit N     requests per second from one client address, a token\n"
	        "                     bucket (default 0: none); more get 429 with Retry-After\n"
	        "  --rate-burst N     requests one address may make at once (default: the\n"
	        "                     --rate-limit)\n"
	        "  --request-timeout S  a search, read or history still reading the store\n"
	        "                     after S seconds (fractions allowed) is stopped: 503\n"
	        "                     too-costly (default 30; 0: no limit)\n"
	        "  --idle-timeout S   a connection silent for S seconds is closed, also in the\n"
	        "                     middle of a request (default 60)\n"
	        "  --max-include N    resources _include/_revinclude add to one page (default\n"
	        "                     1000); more are left out with a warning in the Bundle\n"
	        "  --base-url URL     absolute base URL used in Location and links\n"
	        "                     (default: http://<Host header>/fhir)\n"
	        "  --sync 0|1         fsync every commit (default 1; 0 risks the last\n"
	        "                     acknowledged writes on power loss)\n"
	        "  --jwks FILE        accept bearer tokens (JWT, RS256/ES256) signed by these\n"
	        "                     keys (a JWKS file; bron keygen makes one)\n"
	        "  --issuer ISS       the tokens' required \"iss\" (default bron)\n"
	        "  --audience AUD     the tokens' required \"aud\" (default bron)\n"
	        "  --open             no access checks at all: development only, on a\n"
	        "                     loopback address; without --jwks or --open serve refuses\n"
	        "                     to start\n"
	        "  --organization ORG the owner's organisation, as system|value (e.g.\n"
	        "                     http://fhir.nl/fhir/NamingSystem/ura|12345678); tokens of\n"
	        "                     any other organisation, or for a purpose other than\n"
	        "                     treatment, need a patient context and the patient's consent\n"
	        "  --consent-default opt-in|opt-out  the decision where no Consent applies\n"
	        "                     (default opt-in: no consent, no exchange)\n"
	        "  --break-glass CODES  purpose-of-use codes (comma-separated, e.g. BTG) that\n"
	        "                     override a consent's deny, marked in the log; default none\n"
	        "  --audit-key FILE   sign a checkpoint of the audit trail's head with this PEM\n"
	        "                     private key (bron keygen makes one) every\n"
	        "                     --audit-checkpoint seconds (default 60) and at stop\n"
	        "  --export-dir DIR   where $export jobs write their files (default DATA/exports,\n"
	        "                     with --store ./exports)\n"
	        "  --no-audit         keep no audit trail: only with --open (development,\n"
	        "                     benchmarks)\n"
	        "  --audit-kid KID    the kid to put in the checkpoints' JWS header\n"
	        "  --tls-cert FILE    serve HTTPS (TLS 1.2 and 1.3) with this PEM certificate\n"
	        "                     (then its chain); needs --tls-key\n"
	        "  --tls-key FILE     the certificate's PEM private key (unencrypted)\n"
	        "  --tls-client-ca FILE  mutual TLS: every client must present a certificate\n"
	        "                     issued by one of the CAs in this PEM file\n"
	        "  --key-file FILE    encryption at rest with the owner's key in FILE (32 bytes,\n"
	        "                     64 hex digits; bron keygen --data-key FILE makes one; not\n"
	        "                     in the data directory): the embedded store is encrypted\n"
	        "                     whole, on PostgreSQL the resource bodies; the environment\n"
	        "                     may give BRON_KEY_FILE or the key itself as BRON_KEY\n"
	        "  --unencrypted      no encryption at rest; without a key or this flag serve\n"
	        "                     refuses to start\n"
	        "  --help             this text\n");
}

static int copy_str(char *dst, size_t n, const char *v)
{
	size_t len = strlen(v);
	if (len >= n)
		return -1;
	memcpy(dst, v, len + 1);
	return 0;
}

/* Seconds, fractions allowed ("30", "0.25"), at most a day, as milliseconds. */
static int parse_seconds_ms(const char *val, long *ms)
{
	char *end;
	errno = 0;
	double s = strtod(val, &end);
	if (end == val || *end || errno || !(s >= 0 && s <= 86400))
		return -1;
	*ms = (long)(s * 1000 + 0.5);
	return 0;
}

/* Apply one option; returns 0, or -1 for a bad value, -2 for an unknown key. */
static int set_option(serve_config *c, const char *key, const char *val)
{
	if (!strcmp(key, "bind"))
		return copy_str(c->bind, sizeof c->bind, val);
	if (!strcmp(key, "port"))
		return base_parse_long(val, 0, 65535, &c->port);
	if (!strcmp(key, "data"))
		return copy_str(c->data, sizeof c->data, val);
	if (!strcmp(key, "store"))
		return copy_str(c->store, sizeof c->store, val);
	if (!strcmp(key, "db-timeout"))
		return base_parse_long(val, 2, 3600, &c->db_timeout);
	if (!strcmp(key, "threads"))
		return base_parse_long(val, 1, 256, &c->threads);
	if (!strcmp(key, "max-body"))
		return base_parse_long(val, 1, 1L << 31, &c->max_body);
	if (!strcmp(key, "max-entries"))
		return base_parse_long(val, 1, 1000000, &c->max_entries);
	if (!strcmp(key, "max-header"))
		return base_parse_long(val, 16384, 1L << 20, &c->max_header);
	if (!strcmp(key, "max-connections"))
		return base_parse_long(val, 1, 100000, &c->max_conns);
	if (!strcmp(key, "max-connections-per-ip"))
		return base_parse_long(val, 0, 100000, &c->max_conns_ip);
	if (!strcmp(key, "rate-limit"))
		return base_parse_long(val, 0, 1000000, &c->rate_limit);
	if (!strcmp(key, "rate-burst"))
		return base_parse_long(val, 0, 1000000, &c->rate_burst);
	if (!strcmp(key, "request-timeout"))
		return parse_seconds_ms(val, &c->request_timeout_ms);
	if (!strcmp(key, "idle-timeout"))
		return base_parse_long(val, 1, 86400, &c->idle_timeout);
	if (!strcmp(key, "max-include"))
		return base_parse_long(val, 1, 100000, &c->max_include);
	if (!strcmp(key, "base-url"))
		return copy_str(c->base_url, sizeof c->base_url, val);
	if (!strcmp(key, "sync"))
		return base_parse_long(val, 0, 1, &c->sync);
	if (!strcmp(key, "jwks"))
		return copy_str(c->jwks, sizeof c->jwks, val);
	if (!strcmp(key, "issuer"))
		return copy_str(c->issuer, sizeof c->issuer, val);
	if (!strcmp(key, "audience"))
		return copy_str(c->audience, sizeof c->audience, val);
	if (!strcmp(key, "open"))
		return base_parse_long(val, 0, 1, &c->open);
	if (!strcmp(key, "organization"))
		return strchr(val, '|') && val[strlen(val) - 1] == '|'
		               ? -1
		               : copy_str(c->organization, sizeof c->organization, val);
	if (!strcmp(key, "consent-default"))
		return strcmp(val, "opt-in") && strcmp(val, "opt-out")
		               ? -1
		               : copy_str(c->consent_default, sizeof c->consent_default, val);
	if (!strcmp(key, "break-glass"))
		return copy_str(c->break_glass, sizeof c->break_glass, val);
	if (!strcmp(key, "export-dir"))
		return copy_str(c->export_dir, sizeof c->export_dir, val);
	if (!strcmp(key, "no-audit"))
		return base_parse_long(val, 0, 1, &c->no_audit);
	if (!strcmp(key, "audit-key"))
		return copy_str(c->audit_key, sizeof c->audit_key, val);
	if (!strcmp(key, "audit-kid"))
		return copy_str(c->audit_kid, sizeof c->audit_kid, val);
	if (!strcmp(key, "audit-checkpoint"))
		return base_parse_long(val, 1, 86400, &c->audit_checkpoint);
	if (!strcmp(key, "tls-cert"))
		return copy_str(c->tls_cert, sizeof c->tls_cert, val);
	if (!strcmp(key, "tls-key"))
		return copy_str(c->tls_key, sizeof c->tls_key, val);
	if (!strcmp(key, "tls-client-ca"))
		return copy_str(c->tls_client_ca, sizeof c->tls_client_ca, val);
	if (!strcmp(key, "key-file"))
		return copy_str(c->key_file, sizeof c->key_file, val);
	if (!strcmp(key, "unencrypted"))
		return base_parse_long(val, 0, 1, &c->unencrypted);
	return -2;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = 0;
	return s;
}

static int read_config(serve_config *c, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "bron: cannot read config %s: %s\n", path, strerror(errno));
		return -1;
	}
	char line[2048];
	int lineno = 0, rc = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			fprintf(stderr, "bron: %s:%d: expected 'key = value'\n", path, lineno);
			rc = -1;
			break;
		}
		*eq = 0;
		char *key = trim(s), *val = trim(eq + 1);
		int r = set_option(c, key, val);
		if (r) {
			fprintf(stderr, "bron: %s:%d: %s '%s'\n", path, lineno,
			        r == -2 ? "unknown option" : "bad value for", key);
			rc = -1;
			break;
		}
	}
	fclose(f);
	return rc;
}

static int parse_args(serve_config *c, int argc, char **argv)
{
	/* the config file first, so flags override it wherever they stand */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config")) {
			if (i + 1 >= argc || read_config(c, argv[i + 1]))
				return -1;
		} else if (!strncmp(argv[i], "--config=", 9) && read_config(c, argv[i] + 9)) {
			return -1;
		}
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			serve_usage(stdout);
			exit(0);
		}
		if (strncmp(a, "--", 2)) {
			fprintf(stderr, "bron serve: unexpected argument '%s'\n", a);
			return -1;
		}
		char key[64];
		const char *val;
		const char *eq = strchr(a, '=');
		size_t kl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		if (kl >= sizeof key) {
			fprintf(stderr, "bron serve: unknown option '%s'\n", a);
			return -1;
		}
		memcpy(key, a + 2, kl);
		key[kl] = 0;
		if (eq) {
			val = eq + 1;
		} else if (!strcmp(key, "open") || !strcmp(key, "no-audit") ||
		           !strcmp(key, "unencrypted")) {
			val = "1"; /* a switch */
		} else {
			if (i + 1 >= argc) {
				fprintf(stderr, "bron serve: option '%s' needs a value\n", a);
				return -1;
			}
			val = argv[++i];
		}
		if (!strcmp(key, "config"))
			continue;
		int r = set_option(c, key, val);
		if (r) {
			fprintf(stderr, "bron serve: %s '%s'\n",
			        r == -2 ? "unknown option" : "bad value for", a);
			return -1;
		}
	}
	return 0;
}

int cli_serve(int argc, char **argv)
{
	/* a file-size limit (RLIMIT_FSIZE) reached by a write must fail that
	 * write (EFBIG, which the store answers as no space: 507), not kill
	 * the server with SIGXFSZ's default action; set before the store is
	 * opened, in the main thread, so every thread inherits it */
	signal(SIGXFSZ, SIG_IGN);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	serve_config c = {.bind = "127.0.0.1",
	                  .issuer = "bron",
	                  .audience = "bron",
	                  .port = 8080,
	                  .data = "./data",
	                  .threads = 0, /* chosen below unless given */
	                  .max_body = 16L << 20,
	                  .sync = 1,
	                  .audit_checkpoint = 60,
	                  .max_entries = 20000,
	                  .max_header = 49152,
	                  .max_conns = 1000,
	                  .request_timeout_ms = 30000,
	                  .idle_timeout = 60,
	                  .max_include = 1000};
	if (parse_args(&c, argc, argv)) {
		serve_usage(stderr);
		return 2;
	}
	if (!c.threads) {
		/* a request thread blocks while PostgreSQL answers: more of them
		 * keep the database busy; SQLite answers in-process */
		c.threads = cpus > 0 ? cpus : 2;
		if (c.store[0] && c.threads * 4 > 8)
			c.threads *= 4;
		else if (c.store[0])
			c.threads = 8;
	}
	/* a server's memory should come back after a burst of large Bundles:
	 * big blocks from mmap (returned when freed), few malloc arenas */
	mallopt(M_ARENA_MAX, 2);
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
	auth_keys *keys = NULL;
	if (c.open && c.jwks[0]) {
		fprintf(stderr, "bron serve: --open and --jwks exclude each other\n");
		return 2;
	}
	if (c.no_audit && !c.open) {
		fprintf(stderr, "bron serve: --no-audit is for development with --open only; a "
		                "server with access control always keeps its audit trail\n");
		return 2;
	}
	if (c.open && !loopback(c.bind)) {
		fprintf(stderr,
		        "bron serve: --open serves without any access check and is only "
		        "allowed on a loopback address (--bind 127.0.0.1 or ::1), not %s\n",
		        c.bind);
		return 2;
	}
	if (!c.open && !c.jwks[0]) {
		fprintf(stderr,
		        "bron serve: give --jwks FILE (the public keys of the bearer tokens "
		        "to accept; `bron keygen` makes a pair) or, for development on this "
		        "machine only, --open\n");
		return 2;
	}
	/* encryption at rest: the owner's key, or explicitly none */
	crypt_key owner;
	const crypt_key *key = NULL;
	int krc = cli_store_key("serve", c.key_file, (int)c.unencrypted, c.store[0] ? NULL : c.data,
	                        &owner, &key);
	if (krc)
		return krc;
	if (c.jwks[0]) {
		char *kerr = NULL;
		if (auth_keys_load(c.jwks, &keys, &kerr)) {
			fprintf(stderr, "bron: %s\n", kerr ? kerr : "cannot load the JWKS");
			free(kerr);
			crypt_key_wipe(&owner);
			return 1;
		}
	}
	if (c.audit_key[0]) { /* a key that cannot sign stops the start, not the first checkpoint */
		char *kerr = NULL;
		char *probe = auth_sign(c.audit_key, NULL, "{\"probe\":true}", &kerr);
		if (!probe) {
			fprintf(stderr, "bron: --audit-key %s: %s\n", c.audit_key,
			        kerr ? kerr : "?");
			free(kerr);
			auth_keys_free(keys);
			return 1;
		}
		free(probe);
	}
	store_options so = {.url = c.store[0] ? c.store : NULL,
	                    .dir = c.data,
	                    .sync_full = (int)c.sync,
	                    .pool = (size_t)c.threads + 4,
	                    .timeout_ms = (size_t)c.db_timeout * 1000,
	                    .key = key};
	store *st;
	char *err;
	int orc = store_open(&so, &st, &err);
	crypt_key_wipe(&owner); /* the store keeps its data key only */
	if (orc) {
		fprintf(stderr, "bron: %s\n", err);
		free(err);
		auth_keys_free(keys);
		return 1;
	}
	rest_config rc = {.store = st,
	                  .base_path = "/fhir",
	                  .base_url = c.base_url[0] ? c.base_url : NULL,
	                  .max_body = (size_t)c.max_body,
	                  .max_entries = (size_t)c.max_entries,
	                  .keys = keys,
	                  .check = {.issuer = c.issuer, .audience = c.audience, .skew_s = 60},
	                  .open = (int)c.open,
	                  .organization = c.organization[0] ? c.organization : NULL,
	                  .consent_opt_out = !strcmp(c.consent_default, "opt-out"),
	                  .break_glass = c.break_glass[0] ? c.break_glass : NULL,
	                  .no_audit = (int)c.no_audit,
	                  .request_timeout_ms = c.request_timeout_ms,
	                  .max_include = (size_t)c.max_include};
	char export_dir[1100];
	snprintf(export_dir, sizeof export_dir, "%s",
	         c.export_dir[0] ? c.export_dir
	         : c.store[0]    ? "./exports"
	                         : "");
	if (!export_dir[0])
		snprintf(export_dir, sizeof export_dir, "%s/exports", c.data);
	bulk *bk = bulk_open(st, export_dir, &err);
	if (!bk) {
		fprintf(stderr, "bron: %s\n", err);
		free(err);
		store_close(st);
		auth_keys_free(keys);
		return 1;
	}
	rc.bulk = bk;
	rest *r = rest_new(&rc);
	/* block the signals in every thread but this one, which waits for them */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	http_config hc = {.bind = c.bind,
	                  .port = (int)c.port,
	                  .threads = (int)c.threads,
	                  .max_body = (size_t)c.max_body,
	                  .timeout_s = (int)c.idle_timeout,
	                  .max_header = (size_t)c.max_header,
	                  .max_conns = (unsigned)c.max_conns,
	                  .max_conns_ip = (unsigned)c.max_conns_ip,
	                  .rate = (double)c.rate_limit,
	                  .rate_burst = (double)c.rate_burst,
	                  .tls_cert = c.tls_cert[0] ? c.tls_cert : NULL,
	                  .tls_key = c.tls_key[0] ? c.tls_key : NULL,
	                  .tls_client_ca = c.tls_client_ca[0] ? c.tls_client_ca : NULL};
	http_server *srv;
	if (http_start(&hc, rest_handle, r, &srv, &err)) {
		fprintf(stderr, "bron: %s\n", err);
		free(err);
		bulk_close(bk);
		rest_free(r);
		store_close(st);
		auth_keys_free(keys);
		return 1;
	}
	fprintf(stderr, "bron: serving %s://%s:%d/fhir%s (%s %s)\n",
	        c.tls_cert[0] ? "https" : "http", c.bind, http_port(srv),
	        c.tls_client_ca[0] ? ", client certificates required" : "",
	        c.store[0] ? "store on PostgreSQL," : "data in",
	        c.store[0] ? "see /health" : c.data);
	if (store_encrypted(st))
		fprintf(stderr, "bron: encrypted at rest (%s)\n",
		        c.store[0] ? "resource bodies; index values are not" : "the whole store");
	else
		fprintf(stderr,
		        "bron: WARNING: --unencrypted: the store is NOT encrypted at rest\n");
	if (c.open)
		fprintf(stderr,
		        "bron: WARNING: --open: NO ACCESS CHECKS. Anyone who can reach %s:%d reads "
		        "and writes every record. For development on this machine only.\n",
		        c.bind, http_port(srv));
	else
		fprintf(stderr,
		        "bron: bearer tokens required (keys from %s, iss \"%s\", aud \"%s\"); mint "
		        "one for development with: bron token --key <signing-key.pem> --sub me "
		        "--scope 'user/*.cruds'\n",
		        c.jwks, c.issuer, c.audience);
	checkpointer cp = {.st = st,
	                   .key = c.audit_key,
	                   .kid = c.audit_kid,
	                   .every = c.audit_checkpoint,
	                   .mu = PTHREAD_MUTEX_INITIALIZER,
	                   .cv = PTHREAD_COND_INITIALIZER};
	int checkpoints =
	        c.audit_key[0] && pthread_create(&cp.th, NULL, checkpointer_main, &cp) == 0;
	if (!c.audit_key[0])
		fprintf(stderr, "bron: the audit trail is hash-chained; give --audit-key to sign "
		                "checkpoints of it as well\n");
	int sig = 0;
	sigwait(&set, &sig);
	fprintf(stderr, "bron: %s received, finishing requests in flight\n",
	        sig == SIGTERM ? "SIGTERM" : "SIGINT");
	http_stop(srv, 10);
	if (checkpoints) {
		pthread_mutex_lock(&cp.mu);
		cp.stop = 1;
		pthread_cond_signal(&cp.cv);
		pthread_mutex_unlock(&cp.mu);
		pthread_join(cp.th, NULL);
		sign_checkpoint(&cp); /* the last head, as the server leaves it */
	}
	bulk_close(bk); /* a job running resumes at the next start */
	rest_free(r);
	store_close(st);
	auth_keys_free(keys);
	fprintf(stderr, "bron: stopped\n");
	return 0;
}
