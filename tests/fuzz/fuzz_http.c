/*
 * fuzz_http.c - libFuzzer target for the HTTP request path: the input is the
 * raw bytes a client sends on one connection (one or more requests, or
 * garbage), through libmicrohttpd's parsing, Bron's HTTP layer, the router
 * and every handler, on a real server (server.h: SQLite store in a temporary
 * directory, open access) started once in LLVMFuzzerInitialize. Findings:
 * crashes and sanitizer reports anywhere in the server, a hang (no answer in
 * FUZZ_ANSWER_MS), and what fuzz_check_answer finds wrong with the answer to
 * the first request (a 500, JSON that does not parse, an error without an
 * OperationOutcome). Built and run by tests/fuzz/run.sh;
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
	const char *bad = fuzz_check_answer(ans, n, size >= 5 && !memcmp(data, "HEAD ", 5));
	if (bad) {
		fprintf(stderr, "fuzz_http: %s for client input:\n%.*s\n---\n%.4000s\n", bad,
		        (int)(size > 2000 ? 2000 : size), (const char *)data, ans);
		abort();
	}
	return 0;
}
