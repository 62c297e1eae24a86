/*
 * http.c - libmicrohttpd glue for http.h. Each connection's request gets an
 * http_req with its own arena, created on the first callback and freed in
 * the completion callback after the response went out. Bodies accumulate in
 * a bounded buf. Suspended requests are resumed with MHD_resume_connection.
 * HTTPS is MHD's GnuTLS mode; under mutual TLS every connection gets a
 * tls_peer (its socket context) holding the verified client identity, and a
 * request from a connection without one is refused before the handler runs.
 * The per-client rate limit is a table of token buckets keyed by address
 * (rate_table, one mutex): a fixed number of slots, the stalest one reused.
 */
#include "http.h"

#include <errno.h>
#include <stdarg.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <malloc.h>
#include <math.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT_T;
#else
typedef enum MHD_Result MHD_RESULT_T;
#endif

/* A client address's token bucket (the per-client rate limit). */
typedef struct rate_slot {
	unsigned char addr[16]; /* IPv4 mapped into IPv6 form */
	int used;
	double tokens;   /* requests it may make now */
	int64_t last_us; /* when tokens was last brought up to date */
} rate_slot;

#define RATE_SLOTS 4096 /* client addresses tracked at once */
#define RATE_PROBE 8    /* slots looked at for one address */

typedef struct rate_table {
	pthread_mutex_t mu;
	double rate, burst; /* tokens per second, bucket size */
	rate_slot slots[RATE_SLOTS];
} rate_table;

struct http_server {
	struct MHD_Daemon *d;
	rate_table *rates; /* NULL: no rate limit */
	http_handler_fn handler;
	void *ctx;
	size_t max_body;
	int port;
	atomic_int in_flight; /* requests between first callback and completion */
	atomic_int stopping;  /* set by http_stop: new requests get 503, never suspend */
	atomic_int suspended; /* requests parked right now */
	int tls;              /* serving HTTPS */
	int mtls;             /* client certificates required (tls_client_ca given) */
	/* the PEM files, read by http_start, wiped and freed by http_stop */
	char *tls_cert, *tls_key, *tls_ca;
	size_t tls_key_len;
};

/* Per connection under mutual TLS (its MHD socket context): the client
 * certificate is verified once, on the connection's first request. */
typedef struct tls_peer {
	int checked;   /* verification ran */
	int verified;  /* the peer's chain verified against the client CAs */
	char *subject; /* malloc'ed subject DN when verified */
} tls_peer;

typedef struct res_header {
	const char *name, *value;
	struct res_header *next;
} res_header;

enum req_state { REQ_READING, REQ_HANDLED, REQ_SUSPENDED, REQ_RESUMED, REQ_SENT };

struct http_req {
	http_server *srv;
	struct MHD_Connection *conn;
	arena *a;
	const char *method;
	const char *path;
	buf body;
	int too_big;
	int started;          /* the access handler has seen this request */
	int uri_too_long;     /* the request line exceeded HTTP_MAX_URI */
	int url_invalid;      /* a bad percent escape, %00, or not UTF-8 */
	enum req_state state; /* written by the pool thread, and by http_req_resume */
	int parked;           /* suspended by the handler now running (pool thread only) */
	http_resume_fn cont;
	res_header *headers;
	/* the response, queued when the handler returns */
	int status;
	const char *res_body;
	size_t res_len;
	const char *content_type;
	int res_fd; /* >0: the body is this open file (res_len bytes), closed after */
	int has_response;
	const char *client_subject;  /* verified client certificate's DN (arena), or NULL */
	const char **qkeys, **qvals; /* lazily collected query parameters */
	size_t qn, qcap;
	void *data; /* the handler's own pointer */
};

void http_req_set_data(http_req *req, void *data)
{
	req->data = data;
}
void *http_req_data(const http_req *req)
{
	return req->data;
}

arena *http_req_arena(http_req *req)
{
	return req->a;
}
const char *http_req_method(const http_req *req)
{
	return req->method;
}
const char *http_req_path(const http_req *req)
{
	return req->path;
}
int http_req_body_too_big(const http_req *req)
{
	return req->too_big;
}
int http_req_tls(const http_req *req)
{
	return req->srv->tls;
}
const char *http_req_client_cert_subject(const http_req *req)
{
	return req->client_subject;
}

const char *http_req_peer(http_req *req)
{
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr)
		return NULL;
	char host[INET6_ADDRSTRLEN + 1];
	const struct sockaddr *sa = ci->client_addr;
	const void *addr = sa->sa_family == AF_INET6
	                           ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
	                           : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
	if (!inet_ntop(sa->sa_family, addr, host, sizeof host))
		return NULL;
	return arena_strdup(req->a, host);
}

const char *http_req_body(const http_req *req, size_t *len)
{
	*len = req->body.len;
	return req->body.data ? req->body.data : "";
}

const char *http_req_header(http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_req_query(http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

static MHD_RESULT_T collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
	http_req *req = cls;
	if (req->qn == req->qcap) {
		size_t cap = req->qcap ? req->qcap * 2 : 8;
		const char **k = arena_alloc(req->a, cap * sizeof *k);
		const char **v = arena_alloc(req->a, cap * sizeof *v);
		if (req->qn) {
			memcpy(k, req->qkeys, req->qn * sizeof *k);
			memcpy(v, req->qvals, req->qn * sizeof *v);
		}
		req->qkeys = k;
		req->qvals = v;
		req->qcap = cap;
	}
	req->qkeys[req->qn] = key;
	req->qvals[req->qn] = value ? value : "";
	req->qn++;
	return MHD_YES;
}

size_t http_req_queries(http_req *req, const char *const **keys, const char *const **values)
{
	if (!req->qkeys) {
		req->qn = 0;
		MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect_query, req);
		if (!req->qkeys) {
			req->qkeys = arena_alloc(req->a, sizeof *req->qkeys);
			req->qvals = arena_alloc(req->a, sizeof *req->qvals);
		}
	}
	*keys = req->qkeys;
	*values = req->qvals;
	return req->qn;
}

void http_res_header(http_req *req, const char *name, const char *value)
{
	res_header *h = arena_alloc(req->a, sizeof *h);
	h->name = arena_strdup(req->a, name);
	h->value = arena_strdup(req->a, value);
	h->next = req->headers;
	req->headers = h;
}

void http_res_send(http_req *req, int status, const char *body, size_t len,
                   const char *content_type)
{
	req->status = status;
	req->res_body = body;
	req->res_len = len;
	req->content_type = content_type;
	req->has_response = 1;
}

void http_res_send_fd(http_req *req, int status, int fd, size_t len, const char *content_type)
{
	req->status = status;
	req->res_body = NULL;
	req->res_len = len;
	req->res_fd = fd;
	req->content_type = content_type;
	req->has_response = 1;
}

void http_req_suspend(http_req *req, http_resume_fn cont)
{
	req->cont = cont;
	req->state = REQ_SUSPENDED;
	req->parked = 1;
	atomic_fetch_add(&req->srv->suspended, 1);
	MHD_suspend_connection(req->conn);
}

void http_req_resume(http_req *req)
{
	req->state = REQ_RESUMED;
	MHD_resume_connection(req->conn);
}

static MHD_RESULT_T queue(http_req *req)
{
	struct MHD_Response *r =
	        req->res_fd > 0
	                ? MHD_create_response_from_fd64(req->res_len, req->res_fd)
	                : MHD_create_response_from_buffer(
	                          req->res_len, (void *)(req->res_body ? req->res_body : ""),
	                          MHD_RESPMEM_PERSISTENT);
	if (!r) {
		if (req->res_fd > 0)
			close(req->res_fd);
		return MHD_NO;
	}
	req->res_fd = 0; /* the response closes it */
	/* headers were pushed in reverse; add them in the order they were set */
	res_header *rev = NULL;
	for (res_header *h = req->headers, *next; h; h = next) {
		next = h->next;
		h->next = rev;
		rev = h;
	}
	req->headers = rev;
	for (res_header *h = req->headers; h; h = h->next)
		MHD_add_response_header(r, h->name, h->value);
	if (req->content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, req->content_type);
	MHD_RESULT_T ret = MHD_queue_response(req->conn, (unsigned)req->status, r);
	MHD_destroy_response(r);
	req->state = REQ_SENT;
	return ret;
}

static const char too_big_body[] =
        "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\",\"code\":\"too-"
        "long\","
        "\"diagnostics\":\"Request body exceeds the configured maximum size\"}]}";

static const char uri_too_long_body[] =
        "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\",\"code\":\"too-"
        "long\","
        "\"diagnostics\":\"The request URI exceeds 8192 bytes or 256 parameters\"}]}";

static const char no_host_body[] = "{\"resourceType\":\"OperationOutcome\",\"issue\":[{"
                                   "\"severity\":\"error\",\"code\":\"invalid\","
                                   "\"diagnostics\":\"An HTTP/1.1 request needs a Host header\"}]}";

static const char no_client_cert_body[] =
        "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\","
        "\"code\":\"security\",\"diagnostics\":\"A client certificate issued by a trusted "
        "CA is required (mutual TLS)\"}]}";

static const char url_invalid_body[] =
        "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\",\"code\":"
        "\"invalid\",\"diagnostics\":\"The request URL is not well-formed: a '%' that is not "
        "followed by two hex digits, an encoded NUL (%00), a control character, or bytes that "
        "are not UTF-8\"}]}";

static const char stopping_body[] = "{\"resourceType\":\"OperationOutcome\",\"issue\":[{"
                                    "\"severity\":\"error\",\"code\":\"transient\","
                                    "\"diagnostics\":\"The server is shutting down\"}]}";

/* ---- the per-client rate limit ---- */

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The client's address in 16 bytes (IPv4 as ::ffff:a.b.c.d); -1 if unknown. */
static int peer_key(struct MHD_Connection *conn, unsigned char key[16])
{
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr)
		return -1;
	const struct sockaddr *sa = ci->client_addr;
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return 0;
	}
	if (sa->sa_family != AF_INET)
		return -1;
	key[10] = key[11] = 0xff;
	memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	return 0;
}

/* Take one token from the client's bucket. 0 if it had one; otherwise -1
 * and *wait_s the whole seconds until it has one again. A bucket untouched
 * for burst/rate seconds is full, so the stalest slot is reused without
 * harm unless more than RATE_SLOTS clients are active at once (then one of
 * them starts over with a full bucket). */
static int rate_take(rate_table *t, const unsigned char key[16], int64_t now, long *wait_s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	pthread_mutex_lock(&t->mu);
	rate_slot *slot = NULL, *stalest = NULL;
	for (int i = 0; i < RATE_PROBE && !slot; i++) {
		rate_slot *s = &t->slots[(h + (uint32_t)i) % RATE_SLOTS];
		if (s->used && !memcmp(s->addr, key, 16))
			slot = s;
		else if (!stalest || !s->used || (stalest->used && s->last_us < stalest->last_us))
			stalest = stalest && !stalest->used ? stalest : s;
	}
	if (!slot) {
		slot = stalest;
		memcpy(slot->addr, key, 16);
		slot->used = 1;
		slot->tokens = t->burst;
		slot->last_us = now;
	}
	slot->tokens += (double)(now - slot->last_us) * t->rate / 1e6;
	if (slot->tokens > t->burst)
		slot->tokens = t->burst;
	slot->last_us = now;
	int rc = 0;
	if (slot->tokens >= 1.0) {
		slot->tokens -= 1.0;
	} else {
		*wait_s = (long)ceil((1.0 - slot->tokens) / t->rate);
		if (*wait_s < 1)
			*wait_s = 1;
		rc = -1;
	}
	pthread_mutex_unlock(&t->mu);
	return rc;
}

/* ---- well-formed URLs ---- */

/* 1 if the request target is well-formed: every '%' starts an escape of two
 * hex digits that is not %00, no control characters, and the bytes it
 * stands for (escapes decoded) are UTF-8. MHD would otherwise pass a bad
 * escape through as text and cut a value at an encoded NUL. */
static int url_ok(const char *uri)
{
	size_t n = strlen(uri), k = 0;
	char *dec = base_malloc(n + 1);
	int ok = 1;
	for (size_t i = 0; i < n && ok; i++) {
		unsigned char c = (unsigned char)uri[i];
		if (c == '%') {
			int hi = base_hexval((unsigned char)uri[i + 1]);
			int lo = hi < 0 ? -1 : base_hexval((unsigned char)uri[i + 2]);
			ok = hi >= 0 && lo >= 0 && (hi | lo);
			if (ok)
				dec[k++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			ok = c >= 0x20 && c != 0x7f;
			dec[k++] = (char)c;
		}
	}
	ok = ok && base_utf8_valid(dec, k);
	free(dec);
	return ok;
}

/* Largest request URI; the connection's memory pool must hold it parsed. */
#define HTTP_MAX_URI    8192
#define HTTP_MAX_PARAMS 256
#define HTTP_TRIM_AFTER (1024 * 1024) /* request bytes after which memory is trimmed */
/* The connection's memory pool (--max-header) holds the request head as
 * read and MHD's parsed copy of its lines, later the response headers. MHD
 * zeroes it between requests, so it is not made larger than asked; the
 * default is sized for HTTP_MAX_URI with HTTP_MAX_PARAMS parsed parameters
 * and ordinary headers, the minimum still holds that URI. */
#define HTTP_MAX_HEADER (48 * 1024)
#define HTTP_MIN_HEADER (16 * 1024)

/* Verify the connection's client certificate against the client CAs (the
 * credentials' trust list); on success *subject is the malloc'ed DN. */
static int peer_verify(struct MHD_Connection *conn, char **subject)
{
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	gnutls_session_t s = ci ? (gnutls_session_t)ci->tls_session : NULL;
	unsigned status = 0, n = 0;
	if (!s || gnutls_certificate_type_get(s) != GNUTLS_CRT_X509 ||
	    gnutls_certificate_verify_peers2(s, &status) < 0 || status)
		return 0;
	const gnutls_datum_t *chain = gnutls_certificate_get_peers(s, &n);
	if (!chain || !n)
		return 0;
	gnutls_x509_crt_t crt;
	gnutls_datum_t dn = {NULL, 0};
	int ok = 0;
	if (gnutls_x509_crt_init(&crt) < 0)
		return 0;
	if (gnutls_x509_crt_import(crt, &chain[0], GNUTLS_X509_FMT_DER) >= 0 &&
	    gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0) {
		*subject = base_malloc(dn.size + 1);
		memcpy(*subject, dn.data, dn.size);
		(*subject)[dn.size] = 0;
		ok = 1;
	}
	gnutls_free(dn.data);
	gnutls_x509_crt_deinit(crt);
	return ok;
}

/* Mutual TLS: 0 when the connection presented a verified client
 * certificate (its subject then set on req), -1 when it must be refused. */
static int peer_check(http_req *req)
{
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	tls_peer *p = ci ? ci->socket_context : NULL;
	if (!p)
		return -1;
	if (!p->checked) {
		p->checked = 1;
		p->verified = peer_verify(req->conn, &p->subject);
	}
	if (!p->verified)
		return -1;
	req->client_subject = arena_strdup(req->a, p->subject);
	return 0;
}

/* MHD's error log, on stderr as MHD would write it, except that its line
 * for any failed TLS handshake ("received handshake message out of context")
 * says what that means here. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	http_server *srv = cls;
	if (strstr(fmt, "handshake message out of context")) {
		fprintf(stderr,
		        "bron: a TLS handshake failed (not TLS, a version before 1.2%s, or the "
		        "client gave up)\n",
		        srv->mtls ? ", no client certificate the CAs verify" : "");
		return;
	}
	vfprintf(stderr, fmt, ap);
}

/* Connection start and end. Under mutual TLS the handshake itself demands a
 * client certificate that verifies (the session is set up before its first
 * byte is read), so an unverified client never gets as far as a request;
 * peer_check stays as the guard in front of the handler. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
	http_server *srv = cls;
	if (!srv->mtls)
		return;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_context = base_calloc(1, sizeof(tls_peer));
		const union MHD_ConnectionInfo *ci =
		        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
		if (ci && ci->tls_session) {
			gnutls_session_t s = ci->tls_session;
			gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
			gnutls_session_set_verify_cert(s, NULL, 0);
		}
		return;
	}
	tls_peer *p = *socket_context;
	if (p) {
		free(p->subject);
		free(p);
	}
	*socket_context = NULL;
}

/* MHD's URI log callback runs first for every request: the http_req is
 * created here, so the URI length is known before MHD parses arguments. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	http_server *srv = cls;
	http_req *req = base_calloc(1, sizeof *req);
	req->srv = srv;
	req->conn = conn;
	req->a = arena_new(16384);
	size_t params = 0;
	for (const char *p = strchr(uri, '?'); p && *p; p++)
		params += *p == '&' || *p == ';';
	req->uri_too_long = strlen(uri) > HTTP_MAX_URI || params >= HTTP_MAX_PARAMS;
	req->url_invalid = !req->uri_too_long && !url_ok(uri);
	if (req->uri_too_long || req->url_invalid) {
		/* MHD parses the query string into its per-connection pool right
		 * after this callback; too many parameters exhaust the pool and the
		 * connection then never answers. The URI lives in MHD's (writable)
		 * read buffer: cut the query so nothing is parsed, and answer 414.
		 * A query that is not well-formed is cut as well (400). */
		char *q = strchr(uri, '?');
		if (q)
			q[1] = 0;
	}
	buf_init(&req->body, srv->max_body);
	atomic_fetch_add(&srv->in_flight, 1);
	return req;
}

/* 429 with Retry-After and an OperationOutcome "throttled". */
static MHD_RESULT_T reply_throttled(http_req *req, long wait_s)
{
	char after[24];
	snprintf(after, sizeof after, "%ld", wait_s);
	http_res_header(req, "Retry-After", after);
	char *body = arena_printf(
	        req->a,
	        "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\","
	        "\"code\":\"throttled\",\"diagnostics\":\"Too many requests from this address: "
	        "at most %g per second (bursts of %g); try again in %ld s\"}]}",
	        req->srv->rates->rate, req->srv->rates->burst, wait_s);
	http_res_send(req, 429, body, strlen(body), "application/fhir+json; charset=utf-8");
	return queue(req);
}

static MHD_RESULT_T on_request(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
	http_server *srv = cls;
	http_req *req = *con_cls;
	if (!req->started) {
		req->started = 1;
		req->method = arena_strdup(req->a, method);
		req->path = arena_strdup(req->a, url);
		if (srv->mtls && peer_check(req)) {
			http_res_header(req, "Connection", "close");
			http_res_send(req, 403, no_client_cert_body, sizeof no_client_cert_body - 1,
			              "application/fhir+json; charset=utf-8");
			return queue(req);
		}
		if (atomic_load(&srv->stopping)) {
			http_res_header(req, "Connection", "close");
			http_res_header(req, "Retry-After", "1");
			http_res_send(req, 503, stopping_body, sizeof stopping_body - 1,
			              "application/fhir+json; charset=utf-8");
			return queue(req);
		}
		if (!strcmp(version, MHD_HTTP_VERSION_1_1) &&
		    !MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST)) {
			http_res_header(req, "Connection", "close");
			http_res_send(req, 400, no_host_body, sizeof no_host_body - 1,
			              "application/fhir+json; charset=utf-8");
			return queue(req);
		}
		if (srv->rates) {
			unsigned char key[16];
			long wait_s = 1;
			if (!peer_key(conn, key) && rate_take(srv->rates, key, mono_us(), &wait_s))
				return reply_throttled(req, wait_s);
		}
		if (req->uri_too_long) {
			http_res_send(req, 414, uri_too_long_body, sizeof uri_too_long_body - 1,
			              "application/fhir+json; charset=utf-8");
			return queue(req);
		}
		if (req->url_invalid) {
			http_res_send(req, 400, url_invalid_body, sizeof url_invalid_body - 1,
			              "application/fhir+json; charset=utf-8");
			return queue(req);
		}
		/* refuse an announced oversize body before reading it */
		const char *cl =
		        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
		if (cl) {
			char *end;
			unsigned long long n = strtoull(cl, &end, 10);
			if (*end == 0 && n > srv->max_body) {
				req->too_big = 1;
				http_res_send(req, 413, too_big_body, sizeof too_big_body - 1,
				              "application/fhir+json; charset=utf-8");
				return queue(req);
			}
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (!req->too_big && buf_append(&req->body, upload_data, *upload_data_size))
			req->too_big = 1;
		*upload_data_size = 0;
		return MHD_YES;
	}
	req->parked = 0;
	switch (req->state) {
	case REQ_READING:
		req->state = REQ_HANDLED;
		srv->handler(req, srv->ctx);
		break;
	case REQ_RESUMED:
		atomic_fetch_sub(&srv->suspended, 1);
		req->state = REQ_HANDLED;
		req->cont(req);
		break;
	case REQ_SUSPENDED: /* spurious call while parked */ return MHD_YES;
	default: break;
	}
	/* parked: another thread may already have resumed it, so state is not
	 * ours to read; the next call after the resume runs the continuation */
	if (req->parked)
		return MHD_YES;
	if (!req->has_response)
		http_res_send(req, 500, NULL, 0, NULL);
	if (req->state == REQ_SENT)
		return MHD_YES;
	return queue(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	http_server *srv = cls;
	http_req *req = *con_cls;
	if (!req)
		return;
	/* after a large request (a Bundle of megabytes) give the freed memory
	 * back: glibc keeps it in the thread's arena otherwise */
	int large = req->body.cap >= HTTP_TRIM_AFTER || arena_used(req->a) >= HTTP_TRIM_AFTER;
	buf_free(&req->body);
	if (req->res_fd > 0)
		close(req->res_fd); /* a file answer that was never queued */
	arena_free(req->a);
	free(req);
	if (large)
		malloc_trim(0);
	*con_cls = NULL;
	atomic_fetch_sub(&srv->in_flight, 1);
}

/* TLS 1.2 and 1.3 only: older versions fail the handshake */
#define HTTP_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define HTTP_TLS_MAX_PEM    (1024 * 1024) /* largest certificate, key or CA file */

static int start_error(char **err, const char *fmt, ...) BASE_PRINTF(2, 3);
static int start_error(char **err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	*err = base_malloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(*err, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return -1;
}

/* 1 if the text holds PEM blocks and each one's base64 decodes. GnuTLS 3.7
 * leaks a certificate object when it parses a block whose base64 is broken,
 * so such a file is refused here before GnuTLS parses it. */
static int pem_blocks_ok(const char *pem, size_t len)
{
	const char *p = pem, *end = pem + len;
	int blocks = 0;
	while ((p = memmem(p, (size_t)(end - p), "-----BEGIN ", 11))) {
		const char *e = memmem(p, (size_t)(end - p), "-----END ", 9);
		if (!e)
			return 0;
		const char *eol = memchr(e, '\n', (size_t)(end - e));
		const char *stop = eol ? eol : end;
		gnutls_datum_t in = {(unsigned char *)p, (unsigned)(stop - p)}, out = {NULL, 0};
		int r = gnutls_pem_base64_decode2(NULL, &in, &out);
		gnutls_free(out.data);
		if (r < 0)
			return 0;
		blocks++;
		p = stop;
	}
	return blocks > 0;
}

/* Read a whole PEM file (NUL-terminated, as MHD wants it) into *out. */
static int read_pem(const char *path, const char *what, char **out, size_t *len, char **err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return start_error(err, "cannot read %s %s: %s", what, path, strerror(errno));
	buf b;
	buf_init(&b, HTTP_TLS_MAX_PEM);
	char chunk[4096];
	size_t n;
	int rc = 0;
	while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
		rc = buf_append(&b, chunk, n);
	if (!rc && ferror(f))
		rc = start_error(err, "cannot read %s %s: %s", what, path, strerror(errno));
	else if (rc)
		rc = start_error(err, "%s %s is larger than %d bytes", what, path,
		                 HTTP_TLS_MAX_PEM);
	else if (b.len == 0 || memchr(b.data, 0, b.len) || !pem_blocks_ok(b.data, b.len))
		rc = start_error(err, "%s %s is not a PEM file (or its base64 is broken)", what,
		                 path);
	fclose(f);
	if (rc) {
		if (b.data)
			explicit_bzero(b.data, b.cap);
		buf_free(&b);
		return -1;
	}
	*out = b.data; /* buf keeps it NUL-terminated */
	*len = b.len;
	return 0;
}

static void rates_free(http_server *srv)
{
	if (srv->rates) {
		pthread_mutex_destroy(&srv->rates->mu);
		free(srv->rates);
		srv->rates = NULL;
	}
}

static void tls_free(http_server *srv)
{
	if (srv->tls_key)
		explicit_bzero(srv->tls_key, srv->tls_key_len);
	free(srv->tls_cert);
	free(srv->tls_key);
	free(srv->tls_ca);
}

/* Read the TLS files and check them with GnuTLS before MHD sees them, so a
 * bad file is a clear message: not PEM, a key that does not match the
 * certificate, a CA file without a certificate. */
static int tls_load(http_server *srv, const http_config *cfg, char **err)
{
	if (!cfg->tls_cert || !cfg->tls_key)
		return start_error(err, "TLS needs both a certificate (--tls-cert) and a key "
		                        "(--tls-key)");
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return start_error(err, "this libmicrohttpd was built without TLS support");
	size_t cert_len, ca_len = 0;
	if (read_pem(cfg->tls_cert, "TLS certificate", &srv->tls_cert, &cert_len, err) ||
	    read_pem(cfg->tls_key, "TLS key", &srv->tls_key, &srv->tls_key_len, err) ||
	    (cfg->tls_client_ca &&
	     read_pem(cfg->tls_client_ca, "TLS client CA file", &srv->tls_ca, &ca_len, err)))
		return -1;
	gnutls_certificate_credentials_t cred;
	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return start_error(err, "cannot set up TLS credentials");
	gnutls_datum_t cert = {(unsigned char *)srv->tls_cert, (unsigned)cert_len};
	gnutls_datum_t key = {(unsigned char *)srv->tls_key, (unsigned)srv->tls_key_len};
	int rc = 0;
	int r = gnutls_certificate_set_x509_key_mem2(cred, &cert, &key, GNUTLS_X509_FMT_PEM, NULL,
	                                             0);
	if (r < 0)
		rc = start_error(err, "TLS certificate %s with key %s: %s", cfg->tls_cert,
		                 cfg->tls_key, gnutls_strerror(r));
	if (!rc && srv->tls_ca) {
		gnutls_datum_t ca = {(unsigned char *)srv->tls_ca, (unsigned)ca_len};
		r = gnutls_certificate_set_x509_trust_mem(cred, &ca, GNUTLS_X509_FMT_PEM);
		if (r <= 0)
			rc = start_error(err, "TLS client CA file %s: %s", cfg->tls_client_ca,
			                 r < 0 ? gnutls_strerror(r) : "no certificate in it");
	}
	gnutls_certificate_free_credentials(cred);
	srv->tls = !rc;
	srv->mtls = !rc && srv->tls_ca;
	return rc;
}

int http_start(const http_config *cfg, http_handler_fn handler, void *ctx, http_server **out,
               char **err)
{
	http_server *srv = base_calloc(1, sizeof *srv);
	srv->handler = handler;
	srv->ctx = ctx;
	srv->max_body = cfg->max_body;
	if (cfg->rate > 0) {
		srv->rates = base_calloc(1, sizeof *srv->rates);
		pthread_mutex_init(&srv->rates->mu, NULL);
		srv->rates->rate = cfg->rate;
		srv->rates->burst = cfg->rate_burst >= 1 ? cfg->rate_burst
		                    : cfg->rate >= 1     ? cfg->rate
		                                         : 1;
	}
	size_t max_header = cfg->max_header ? cfg->max_header : HTTP_MAX_HEADER;
	if (max_header < HTTP_MIN_HEADER)
		max_header = HTTP_MIN_HEADER; /* room for the longest URI */
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	                 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	const char *bind = cfg->bind ? cfg->bind : "127.0.0.1";
	if (inet_pton(AF_INET, bind, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)cfg->port);
	} else if (inet_pton(AF_INET6, bind, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)cfg->port);
		flags |= MHD_USE_IPv6;
	} else {
		size_t n = strlen(bind) + 64;
		*err = base_malloc(n);
		snprintf(*err, n, "cannot parse bind address '%s'", bind);
		rates_free(srv);
		free(srv);
		return -1;
	}
	/* the TLS options, or none (the list starts with its end) */
	struct MHD_OptionItem tls_opts[6] = {{MHD_OPTION_END, 0, NULL}};
	if (cfg->tls_cert || cfg->tls_key || cfg->tls_client_ca) {
		if (tls_load(srv, cfg, err)) {
			tls_free(srv);
			rates_free(srv);
			free(srv);
			return -1;
		}
		flags |= MHD_USE_TLS;
		struct MHD_OptionItem o[] = {
		        {MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert},
		        {MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key},
		        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)HTTP_TLS_PRIORITIES},
		        {srv->tls_ca ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, srv->tls_ca},
		        {MHD_OPTION_END, 0, NULL}};
		memcpy(tls_opts, o, sizeof o);
	}
	srv->d = MHD_start_daemon(
	        flags, (uint16_t)cfg->port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER,
	        on_mhd_log, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(cfg->threads > 0 ? cfg->threads : 2),
	        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_CONNECTION_TIMEOUT,
	        (unsigned)(cfg->timeout_s > 0 ? cfg->timeout_s : 60), MHD_OPTION_CONNECTION_LIMIT,
	        cfg->max_conns ? cfg->max_conns : 1000u, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	        cfg->max_conns_ip, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
	        MHD_OPTION_CONNECTION_MEMORY_LIMIT, max_header, MHD_OPTION_LISTEN_BACKLOG_SIZE,
	        (unsigned)512, MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_ARRAY,
	        tls_opts, MHD_OPTION_END);
	if (!srv->d) {
		size_t n = strlen(bind) + 96;
		*err = base_malloc(n);
		snprintf(*err, n, "cannot listen on %s port %d (in use or not allowed)", bind,
		         cfg->port);
		tls_free(srv);
		rates_free(srv);
		free(srv);
		return -1;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : cfg->port;
	*out = srv;
	return 0;
}

int http_port(const http_server *srv)
{
	return srv->port;
}

void http_stop(http_server *srv, int grace_s)
{
	if (!srv)
		return;
	MHD_socket s = MHD_quiesce_daemon(srv->d);
	/* from now on requests on open keep-alive connections get 503 and are
	 * never suspended; wait for those in flight (suspended ones included:
	 * MHD aborts if it is stopped with a suspended connection) */
	atomic_store(&srv->stopping, 1);
	for (int i = 0; atomic_load(&srv->in_flight) > 0; i++) {
		/* past the grace period only parked requests are waited for: their
		 * writes are committing; a slow upload is cut off */
		if (i >= grace_s * 100 && atomic_load(&srv->suspended) == 0)
			break;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(srv->d);
	if (s != MHD_INVALID_SOCKET)
		close(s);
	tls_free(srv);
	rates_free(srv);
	free(srv);
}
