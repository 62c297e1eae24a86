/*
 * fuzz_bundle.c - libFuzzer target for the Bundle processor
 * (src/rest/bundle.c: batch and transaction planning, urn:uuid and
 * conditional reference resolution, the processing order, the response
 * Bundle). The input is the body of a POST to the FHIR base, sent to a real
 * server (server.h: SQLite store in a temporary directory, open access)
 * started once in LLVMFuzzerInitialize, so every entry really runs against
 * the store. Findings: crashes and sanitizer reports, a hang, what
 * fuzz_check_answer finds wrong with the answer (a 500, JSON that does not
 * parse, an error without an OperationOutcome), and a 500 as an entry's
 * response.status. Built and run by
 * tests/fuzz/run.sh; replayed by tests/suites/fuzz-replay.sh.
 */
#include <jansson.h>

#include "server.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_server_start("bundle");
	return 0;
}

static void broken(const char *what, const uint8_t *data, size_t size, const char *ans)
{
	fprintf(stderr, "fuzz_bundle: %s for:\n%.*s\n---\n%s\n", what,
	        (int)(size > 2000 ? 2000 : size), (const char *)data, ans);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char req[70000];
	static char ans[1 << 20];
	if (size > 65536)
		return 0;
	int h = snprintf(req, sizeof req,
	                 "POST /fhir HTTP/1.1\r\nHost: localhost\r\n"
	                 "Content-Type: application/fhir+json\r\nContent-Length: %zu\r\n"
	                 "Connection: close\r\n\r\n",
	                 size);
	memcpy(req + h, data, size);
	size_t n = fuzz_exchange(req, (size_t)h + size, ans, sizeof ans - 1);
	ans[n] = 0;
	if (n == 0)
		broken("no HTTP answer", data, size, ans);
	const char *bad = fuzz_check_answer(ans, n, 0);
	if (bad)
		broken(bad, data, size, ans);
	const char *body = strstr(ans, "\r\n\r\n");
	json_t *b = body ? json_loads(body + 4, 0, NULL) : NULL;
	json_t *entries = json_object_get(b, "entry");
	for (size_t i = 0; i < json_array_size(entries); i++) {
		const char *st = json_string_value(json_object_get(
		        json_object_get(json_array_get(entries, i), "response"), "status"));
		if (st && !strncmp(st, "500", 3))
			broken("an entry's 500", data, size, ans);
	}
	json_decref(b);
	return 0;
}
