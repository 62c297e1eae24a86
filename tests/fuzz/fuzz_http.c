/*
 * fuzz_http.c - libFuzzer target for the HTTP request path: the input is the
 * raw bytes a client sends on one connection (one or more requests, or
 * garbage), through libmicrohttpd's parsing, Bron's HTTP layer, the router
 * and every handler, on a real server (server.h: SQLite store in a temporary
 * directory, open access) started once in LLVMFuzzerInitialize. Findings:
 * crashes and sanitizer reports anywhere in the server, a hang (no answer in
 * FUZZ_ANSWER_MS), and a 500 as the answer to the first request, since no
 * client input may cause a server error. Built and run by tests/fuzz/run.sh;
 * replayed by tests/suites/fuzz-replay.sh.
 */
#include "server.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_server_start("http");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char ans[1 << 16];
	if (size > 65536)
		return 0;
	size_t n = fuzz_exchange(data, size, ans, sizeof ans - 1);
	ans[n] = 0;
	if (n >= 13 && !memcmp(ans, "HTTP/1.", 7) && !memcmp(ans + 8, " 500 ", 5)) {
		fprintf(stderr, "fuzz_http: a 500 for client input:\n%.*s\n---\n%s\n",
		        (int)(size > 2000 ? 2000 : size), (const char *)data, ans);
		abort();
	}
	return 0;
}
