/*
 * server.h - the real Bron server for the fuzz targets that go through HTTP
 * (fuzz_http.c, fuzz_bundle.c): http_start with rest_handle on a SQLite
 * store in a temporary directory (unencrypted, open access, no audit trail),
 * started once on a free loopback port, and an exchange that sends one
 * input's bytes on a new TCP connection, half-closes it and reads the
 * server's answer until it closes the connection. An answer that does not
 * come within FUZZ_ANSWER_MS is a hang and aborts (a finding).
 */
#ifndef BRON_FUZZ_SERVER_H
#define BRON_FUZZ_SERVER_H

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/http.h"
#include "rest/rest.h"
#include "search/search.h"
#include "store/store.h"
#include "tmpdir.h"

#define FUZZ_ANSWER_MS 8000

static int fuzz_port;

/* Start the server (once). */
static void fuzz_server_start(const char *name)
{
	signal(SIGPIPE, SIG_IGN);
	if (search_init())
		abort();
	store_options so = {.dir = fuzz_tmpdir(name), .sync_full = 0};
	store *st;
	char *err = NULL;
	if (store_open(&so, &st, &err)) {
		fprintf(stderr, "fuzz: store_open: %s\n", err ? err : "?");
		abort();
	}
	static rest_config rc;
	rc = (rest_config){.store = st,
	                   .base_path = "/fhir",
	                   .base_url = NULL,
	                   .max_body = 1 << 20,
	                   .max_entries = 0,
	                   .open = 1,
	                   .no_audit = 1};
	rest *r = rest_new(&rc);
	http_config hc = {
	        .bind = "127.0.0.1", .port = 0, .threads = 2, .max_body = 1 << 20, .timeout_s = 1};
	http_server *srv;
	if (http_start(&hc, rest_handle, r, &srv, &err)) {
		fprintf(stderr, "fuzz: http_start: %s\n", err ? err : "?");
		abort();
	}
	fuzz_port = http_port(srv);
	/* the server runs until the process exits */
}

static int64_t fuzz_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until the server has read the bytes sent before the half-close:
 * libmicrohttpd (epoll mode) that reads a request and the FIN in one go
 * does not notice the FIN and keeps the connection until its idle timeout
 * (1 s here); a FIN that comes on its own it sees. The send queue must be
 * empty, then the answer starting (the request was read) or 20 ms passing
 * (an incomplete request) says it is time. */
static void fuzz_drain(int fd)
{
	for (int i = 0; i < 1000; i++) {
		int q = 0;
		if (ioctl(fd, SIOCOUTQ, &q) || q == 0)
			break;
		usleep(100);
	}
	struct pollfd p = {.fd = fd, .events = POLLIN};
	poll(&p, 1, 20);
}

/* Send `len` bytes on a new connection, half-close, read the answer into
 * `ans` (up to `cap` bytes kept; the rest is read and dropped) until the
 * server closes. Returns the bytes kept. */
static size_t fuzz_exchange(const void *data, size_t len, char *ans, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		perror("fuzz: socket");
		abort();
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fuzz_port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
		perror("fuzz: connect");
		abort();
	}
	int64_t deadline = fuzz_ms() + FUZZ_ANSWER_MS;
	size_t off = 0, kept = 0;
	int wr_open = 1;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN | (wr_open ? POLLOUT : 0)};
		int64_t left = deadline - fuzz_ms();
		if (left <= 0) {
			fprintf(stderr, "fuzz: the server did not answer within %d ms\n",
			        FUZZ_ANSWER_MS);
			abort();
		}
		if (poll(&p, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (wr_open && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = off < len ? send(fd, (const char *)data + off, len - off,
			                             MSG_NOSIGNAL)
			                      : 0;
			if (w > 0)
				off += (size_t)w;
			if (off >= len || w < 0) {
				fuzz_drain(fd);
				shutdown(fd, SHUT_WR);
				wr_open = 0;
			}
		}
		if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
			char tmp[4096];
			ssize_t r = recv(fd, tmp, sizeof tmp, 0);
			if (r <= 0)
				break;
			size_t take = kept + (size_t)r <= cap ? (size_t)r : cap - kept;
			memcpy(ans + kept, tmp, take);
			kept += take;
		}
	}
	close(fd);
	if (getenv("FUZZ_DEBUG") && fuzz_ms() - (deadline - FUZZ_ANSWER_MS) > 200)
		fprintf(stderr, "fuzz: slow exchange (%lld ms, %zu bytes in, %zu out): %.60s\n",
		        (long long)(fuzz_ms() - (deadline - FUZZ_ANSWER_MS)), len, kept,
		        (const char *)data);
	return kept;
}

/* What is wrong with one HTTP answer at ans[0..n) (NUL-terminated), or NULL:
 * a 500 (no client input may cause a server error); a JSON body
 * (Content-Type ...json) that does not parse; an error (4xx) with a JSON
 * body that is no OperationOutcome. Answers libmicrohttpd makes itself
 * (malformed requests: an HTML page without Content-Type) are not Bron's.
 * A HEAD answer (head_request) has no body to check. *next is set to where
 * the next answer on the connection starts, or NULL when unknown. */
static const char *fuzz_check_one(const char *ans, size_t n, int head_request, const char **next)
{
	*next = NULL;
	if (n < 13 || memcmp(ans, "HTTP/1.", 7))
		return "no HTTP status line";
	int status = (int)strtol(ans + 9, NULL, 10);
	if (status == 500)
		return "a 500";
	const char *end = strstr(ans, "\r\n\r\n");
	if (!end)
		return NULL;
	const char *body = end + 4;
	size_t have = n - (size_t)(body - ans);
	const char *ct = NULL, *cl = NULL;
	for (const char *h = strstr(ans, "\r\n"); h && h < end; h = strstr(h + 2, "\r\n")) {
		if (!strncasecmp(h + 2, "Content-Type:", 13))
			ct = h + 15;
		else if (!strncasecmp(h + 2, "Content-Length:", 15))
			cl = h + 17;
	}
	if (head_request || status == 204 || status == 304 || !cl || !strncmp(body, "HTTP/1.", 7))
		return NULL; /* no body, or none told apart (an answer to HEAD in a pipeline) */
	size_t len = strtoul(cl, NULL, 10);
	if (have < len)
		return NULL; /* cut short (only the first bytes are kept) */
	*next = body + len;
	if (!ct || !memmem(ct, strcspn(ct, "\r"), "json", 4))
		return NULL;
	json_error_t e;
	json_t *j = json_loadb(body, len, 0, &e);
	if (!j)
		return "a JSON answer that does not parse";
	const char *rt = json_string_value(json_object_get(j, "resourceType"));
	int oo = rt && !strcmp(rt, "OperationOutcome");
	json_decref(j);
	if (status >= 400 && !oo)
		return "an error answer without an OperationOutcome";
	return NULL;
}

/* fuzz_check_one on every answer of a connection, as far as they can be
 * told apart (a HEAD answer ends the walk: its length is no body's). */
static const char *fuzz_check_answer(const char *ans, size_t n, int head_request)
{
	if (n == 0)
		return NULL; /* the connection was closed without an answer */
	const char *p = ans;
	while (p && (size_t)(p - ans) < n) {
		const char *next;
		size_t left = n - (size_t)(p - ans);
		if (p > ans && (left < 7 || memcmp(p, "HTTP/1.", 7)))
			break; /* lost track of the answers (a body of another length) */
		const char *bad = fuzz_check_one(p, left, head_request, &next);
		if (bad)
			return bad;
		if (head_request)
			break;
		p = next;
	}
	return NULL;
}

#endif
