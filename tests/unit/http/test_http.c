/*
 * test_http.c - the HTTP layer (src/http/http.h) over real loopback sockets:
 * request accessors, responses and headers, bounded bodies (413), URI limits
 * (414), Host required on HTTP/1.1, suspend/resume from another thread, and
 * a graceful stop with a parked request.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "http/http.h"

static void resume_later_cont(http_req *req)
{
	http_res_send(req, 202, "parked", 6, "text/plain");
}

static void *resume_later(void *arg)
{
	struct timespec ts = {0, 20 * 1000 * 1000};
	nanosleep(&ts, NULL);
	http_req_resume(arg);
	return NULL;
}

static void handler(http_req *req, void *ctx)
{
	(void)ctx;
	arena *a = http_req_arena(req);
	const char *path = http_req_path(req);
	if (http_req_body_too_big(req)) {
		http_res_send(req, 413, NULL, 0, NULL);
		return;
	}
	if (!strcmp(path, "/park")) {
		http_req_suspend(req, resume_later_cont);
		pthread_t t;
		pthread_create(&t, NULL, resume_later, req);
		pthread_detach(t);
		return;
	}
	size_t len;
	const char *body = http_req_body(req, &len);
	const char *const *keys, *const *vals;
	size_t n = http_req_queries(req, &keys, &vals);
	const char *q = http_req_query(req, "q");
	const char *h = http_req_header(req, "x-test");
	char *out = arena_printf(a, "%s %s q=%s n=%zu h=%s body=%.*s", http_req_method(req), path,
	                         q ? q : "-", n, h ? h : "-", (int)len, body);
	http_res_header(req, "X-Echo", "1");
	http_res_send(req, 200, out, strlen(out), "text/plain");
}

/* Send raw bytes, return what came back (malloc'ed) until the peer closes or
 * a full response with Content-Length arrived. */
static char *exchange(int port, const char *raw, size_t rawlen)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	size_t off = 0;
	while (off < rawlen) {
		ssize_t w = send(fd, raw + off, rawlen - off, MSG_NOSIGNAL);
		if (w <= 0)
			break; /* the server may answer and close before reading it all */
		off += (size_t)w;
	}
	size_t cap = 1 << 16, got = 0;
	char *out = calloc(1, cap + 1);
	for (;;) {
		ssize_t r = recv(fd, out + got, cap - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
		out[got] = 0;
		const char *end = strstr(out, "\r\n\r\n");
		const char *cl = strcasestr(out, "Content-Length:");
		if (end && cl && cl < end && got >= (size_t)(end + 4 - out) + (size_t)atol(cl + 15))
			break;
	}
	close(fd);
	return out;
}

static int status_of(const char *resp)
{
	return strncmp(resp, "HTTP/1.", 7) ? -1 : atoi(resp + 9);
}

typedef struct fixture {
	http_server *srv;
	int port;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	http_config cfg = {
	        .bind = "127.0.0.1", .port = 0, .threads = 2, .max_body = 1024, .timeout_s = 5};
	char *err = NULL;
	assert_int_equal(http_start(&cfg, handler, NULL, &f->srv, &err), 0);
	f->port = http_port(f->srv);
	assert_true(f->port > 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	http_stop(f->srv, 5);
	free(f);
	return 0;
}

static void test_echo(void **state)
{
	fixture *f = *state;
	const char req[] = "POST /echo/x?q=a%20b&r=2 HTTP/1.1\r\nHost: t\r\nX-Test: yes\r\n"
	                   "Content-Length: 5\r\n\r\nhello";
	char *resp = exchange(f->port, req, sizeof req - 1);
	assert_int_equal(status_of(resp), 200);
	assert_non_null(strstr(resp, "X-Echo: 1"));
	assert_non_null(strstr(resp, "POST /echo/x q=a b n=2 h=yes body=hello"));
	free(resp);
}

static void test_body_too_big(void **state)
{
	fixture *f = *state;
	/* announced: refused before the body is read */
	const char req[] = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n";
	char *resp = exchange(f->port, req, sizeof req - 1);
	assert_int_equal(status_of(resp), 413);
	assert_non_null(strstr(resp, "OperationOutcome"));
	free(resp);
	/* chunked: found while reading */
	char big[4096];
	int n = snprintf(big, sizeof big,
	                 "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 3; i++)
		n += snprintf(big + n, sizeof big - (size_t)n, "400\r\n%0*d\r\n", 1024, 0);
	n += snprintf(big + n, sizeof big - (size_t)n, "0\r\n\r\n");
	resp = exchange(f->port, big, (size_t)n);
	assert_int_equal(status_of(resp), 413);
	free(resp);
}

static void test_limits(void **state)
{
	fixture *f = *state;
	char *resp = exchange(f->port, "GET /echo HTTP/1.1\r\n\r\n", 22);
	assert_int_equal(status_of(resp), 400); /* no Host on HTTP/1.1 */
	free(resp);
	resp = exchange(f->port, "GET /echo HTTP/1.0\r\n\r\n", 22);
	assert_int_equal(status_of(resp), 200); /* HTTP/1.0 needs none */
	free(resp);
	size_t len = 9000;
	char *req = malloc(len + 64);
	int n = snprintf(req, len + 64, "GET /echo?");
	for (size_t i = 0; i < len; i++)
		req[n++] = 'a';
	n += snprintf(req + n, 40, " HTTP/1.1\r\nHost: t\r\n\r\n");
	resp = exchange(f->port, req, (size_t)n);
	assert_int_equal(status_of(resp), 414);
	free(resp);
	/* too many parameters, short URI */
	n = snprintf(req, len + 64, "GET /echo?");
	for (int i = 0; i < 300; i++)
		n += snprintf(req + n, 8, "a=b&");
	n += snprintf(req + n, 40, " HTTP/1.1\r\nHost: t\r\n\r\n");
	resp = exchange(f->port, req, (size_t)n);
	assert_int_equal(status_of(resp), 414);
	free(resp);
	free(req);
}

static void test_suspend_resume(void **state)
{
	fixture *f = *state;
	for (int i = 0; i < 20; i++) {
		const char req[] = "GET /park HTTP/1.1\r\nHost: t\r\n\r\n";
		char *resp = exchange(f->port, req, sizeof req - 1);
		assert_int_equal(status_of(resp), 202);
		assert_non_null(strstr(resp, "parked"));
		free(resp);
	}
}

static void *park_one(void *arg)
{
	fixture *f = arg;
	const char req[] = "GET /park HTTP/1.1\r\nHost: t\r\n\r\n";
	return exchange(f->port, req, sizeof req - 1);
}

static void test_stop_waits_for_parked(void **state)
{
	fixture *f = NULL;
	setup((void **)&f);
	pthread_t t;
	pthread_create(&t, NULL, park_one, f);
	struct timespec ts = {0, 5 * 1000 * 1000};
	nanosleep(&ts, NULL);
	http_stop(f->srv, 5); /* must not abort with the request parked */
	char *resp;
	pthread_join(t, (void **)&resp);
	assert_true(status_of(resp) == 202 || status_of(resp) == -1);
	free(resp);
	free(f);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_echo, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_body_too_big, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_suspend_resume, setup, teardown),
	        cmocka_unit_test(test_stop_waits_for_parked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
