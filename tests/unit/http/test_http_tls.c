/*
 * test_http_tls.c - HTTPS in the HTTP layer (src/http/http.h): under mutual
 * TLS the handler sees http_req_tls() == 1 and the verified client
 * certificate's subject DN from http_req_client_cert_subject(); without
 * client CAs the subject is NULL; a client without a certificate never
 * reaches the handler. Certificates are made with openssl (Debian) in a
 * temporary directory; libcurl is the client.
 */
#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "http/http.h"

static char dir[] = "/tmp/bron-test-tls-XXXXXX";
static int handled; /* requests that reached the handler */

static void handler(http_req *req, void *ctx)
{
	(void)ctx;
	handled++;
	const char *subject = http_req_client_cert_subject(req);
	char *out = arena_printf(http_req_arena(req), "tls=%d subject=%s", http_req_tls(req),
	                         subject ? subject : "-");
	http_res_send(req, 200, out, strlen(out), "text/plain");
}

static char *path_of(const char *name)
{
	static char p[8][256];
	static int i;
	char *s = p[i++ % 8];
	snprintf(s, sizeof p[0], "%s/%s", dir, name);
	return s;
}

static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int make_certs(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
	return sh("cd %s && openssl req -x509 %s -keyout ca.key -out ca.crt -days 2 "
	          "-subj '/CN=Unit CA' -addext basicConstraints=critical,CA:TRUE 2>/dev/null && "
	          "printf 'subjectAltName=IP:127.0.0.1\\n' > srv.ext && "
	          "openssl req %s -keyout srv.key -out srv.csr -subj /CN=localhost 2>/dev/null && "
	          "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
	          "-out srv.crt -days 2 -extfile srv.ext 2>/dev/null && "
	          "openssl req %s -keyout cli.key -out cli.csr "
	          "-subj '/C=NL/O=Zorg Unit/CN=unit client' 2>/dev/null && "
	          "openssl x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
	          "-out cli.crt -days 2 2>/dev/null",
	          dir, ec, ec, ec)
	               ? -1
	               : 0;
}

static int remove_certs(void **state)
{
	(void)state;
	return sh("rm -rf %s", dir) ? -1 : 0;
}

/* Append to a 512-byte body, cut when full. */
static size_t collect(char *p, size_t size, size_t n, void *userdata)
{
	char *body = userdata;
	size_t have = strlen(body), len = size * n;
	if (len > 511 - have)
		len = 511 - have;
	memcpy(body + have, p, len);
	body[have + len] = 0;
	return size * n;
}

/* GET / over HTTPS; returns the HTTP status, or -1 when no answer came. */
static long get(int port, int with_cert, char *body)
{
	char url[64];
	snprintf(url, sizeof url, "https://127.0.0.1:%d/", port);
	CURL *c = curl_easy_init();
	body[0] = 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, path_of("ca.crt"));
	if (with_cert) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, path_of("cli.crt"));
		curl_easy_setopt(c, CURLOPT_SSLKEY, path_of("cli.key"));
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	long status = -1;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return status;
}

static http_server *start(int mtls)
{
	http_config cfg = {.bind = "127.0.0.1",
	                   .port = 0,
	                   .threads = 2,
	                   .max_body = 1024,
	                   .timeout_s = 5,
	                   .tls_cert = path_of("srv.crt"),
	                   .tls_key = path_of("srv.key"),
	                   .tls_client_ca = mtls ? path_of("ca.crt") : NULL};
	http_server *srv = NULL;
	char *err = NULL;
	if (http_start(&cfg, handler, NULL, &srv, &err)) {
		fprintf(stderr, "http_start: %s\n", err);
		free(err);
	}
	assert_non_null(srv);
	return srv;
}

static void test_mtls_subject(void **state)
{
	(void)state;
	http_server *srv = start(1);
	char body[512];
	handled = 0;
	assert_int_equal(get(http_port(srv), 1, body), 200);
	assert_string_equal(body, "tls=1 subject=CN=unit client,O=Zorg Unit,C=NL");
	assert_int_equal(get(http_port(srv), 0, body), -1);
	assert_int_equal(handled, 1);
	http_stop(srv, 1);
}

static void test_tls_without_client_ca(void **state)
{
	(void)state;
	http_server *srv = start(0);
	char body[512];
	assert_int_equal(get(http_port(srv), 0, body), 200);
	assert_string_equal(body, "tls=1 subject=-");
	http_stop(srv, 1);
}

static void test_bad_files(void **state)
{
	(void)state;
	http_config cfg = {.bind = "127.0.0.1",
	                   .port = 0,
	                   .threads = 1,
	                   .max_body = 1024,
	                   .tls_cert = path_of("srv.crt"),
	                   .tls_key = path_of("cli.key")};
	http_server *srv = NULL;
	char *err = NULL;
	assert_int_equal(http_start(&cfg, handler, NULL, &srv, &err), -1);
	assert_non_null(strstr(err, "do not match"));
	free(err);
	cfg.tls_key = path_of("srv.key");
	cfg.tls_client_ca = path_of("no-such.crt");
	err = NULL;
	assert_int_equal(http_start(&cfg, handler, NULL, &srv, &err), -1);
	assert_non_null(strstr(err, "no-such.crt"));
	free(err);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_mtls_subject),
	        cmocka_unit_test(test_tls_without_client_ca),
	        cmocka_unit_test(test_bad_files),
	};
	int rc = cmocka_run_group_tests(tests, make_certs, remove_certs);
	curl_global_cleanup();
	return rc;
}
