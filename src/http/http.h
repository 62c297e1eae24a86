/*
 * http.h - Bron's HTTP layer over libmicrohttpd: a pool of polling threads,
 * one arena per request (freed when the response is done), bounded request
 * bodies, and suspend/resume so a handler can wait for the store's writer
 * without holding a pool thread. Optionally HTTPS (TLS 1.2 and 1.3 only) and
 * mutual TLS: with client CAs configured, a request whose connection did not
 * present a certificate they verify is refused before any handler runs.
 * Transport-level limits are answered here, before any handler runs: a URI
 * too long (414), a URL not well-formed (400), a client over its request
 * rate (429), a body announced too big (413); MHD itself closes connections
 * over the connection limits and answers 431 to a request head too big.
 * The handler sees only this interface.
 */
#ifndef BRON_HTTP_H
#define BRON_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"

typedef struct http_server http_server;
typedef struct http_req http_req;

typedef struct http_config {
	const char *bind; /* address to listen on, e.g. "127.0.0.1" or "::" */
	int port;         /* TCP port; 0 picks a free one (see http_port) */
	int threads;      /* polling threads */
	size_t max_body;  /* largest request body accepted (413 beyond) */
	int timeout_s;    /* idle connection timeout in seconds (0: 60) */
	/* limits (0: the default named in brackets) */
	size_t max_header;     /* largest request head, line and headers [32768]; MHD
	                        * answers 431 beyond */
	unsigned max_conns;    /* open connections at once [1000]; more are closed */
	unsigned max_conns_ip; /* open connections per client address [none] */
	double rate;           /* requests per second per client address, a token
	                        * bucket of `rate_burst` [none: no rate limit] */
	double rate_burst;     /* the bucket's size [rate, at least 1] */
	/* HTTPS: PEM files read once by http_start; NULL (both) serves plain HTTP */
	const char *tls_cert;      /* the server certificate (then its chain) */
	const char *tls_key;       /* its private key (unencrypted) */
	const char *tls_client_ca; /* CAs (one or more): mutual TLS, every client must
	                            * present a certificate they verify; NULL: none asked */
} http_config;

/* Called once per request when its body is complete (or too big). The
 * handler must either send a response (http_res_send) or suspend. */
typedef void (*http_handler_fn)(http_req *req, void *ctx);

/* Start serving. Returns 0, or -1 with *err (malloc'ed): also for a TLS file
 * that is missing, unreadable, not PEM, or a key that does not match. */
int http_start(const http_config *cfg, http_handler_fn handler, void *ctx, http_server **out,
               char **err);
/* The port actually bound. */
int http_port(const http_server *srv);
/* Stop accepting, let requests in flight finish (up to `grace_s` seconds), stop. */
void http_stop(http_server *srv, int grace_s);

/* ---- the request ---- */

arena *http_req_arena(http_req *req);
const char *http_req_method(const http_req *req);
const char *http_req_path(const http_req *req); /* decoded path, no query */
/* First value of a header (case-insensitive name), or NULL. */
const char *http_req_header(http_req *req, const char *name);
/* First value of a query parameter, or NULL. */
const char *http_req_query(http_req *req, const char *name);
/* All query parameters in order (arena-owned arrays). */
size_t http_req_queries(http_req *req, const char *const **keys, const char *const **values);
const char *http_req_body(const http_req *req, size_t *len);
/* 1 if the body was larger than max_body (the handler should answer 413). */
int http_req_body_too_big(const http_req *req);
/* 1 if the request came over TLS (HTTPS), else 0. */
int http_req_tls(const http_req *req);
/* Under mutual TLS, the subject DN (RFC 4514, e.g. "CN=app,O=Org,C=NL") of
 * the client certificate that was verified against the client CAs; NULL
 * without mutual TLS. Arena-owned, valid until the request ends. */
const char *http_req_client_cert_subject(const http_req *req);
/* The client's IP address (arena-owned), or NULL. */
const char *http_req_peer(http_req *req);

/* A pointer the handler keeps with the request (e.g. its own context). */
void http_req_set_data(http_req *req, void *data);
void *http_req_data(const http_req *req);

/* ---- the response ---- */

/* Add a response header (name and value copied). */
void http_res_header(http_req *req, const char *name, const char *value);
/* Send the response. `body` must stay valid until the request ends: pass
 * arena memory or static data. `content_type` may be NULL. */
/* Send the `len` bytes of the open file fd (which the server closes). */
void http_res_send_fd(http_req *req, int status, int fd, size_t len, const char *content_type);
void http_res_send(http_req *req, int status, const char *body, size_t len,
                   const char *content_type);

/* ---- waiting without a thread ---- */

typedef void (*http_resume_fn)(http_req *req);
/* Park the request; its pool thread goes on serving others. Call before
 * handing the request to another thread. */
void http_req_suspend(http_req *req, http_resume_fn cont);
/* From any thread: wake the request; `cont` then runs on a pool thread and
 * must send the response. */
void http_req_resume(http_req *req);

#endif
