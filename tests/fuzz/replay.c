/*
 * replay.c - runs a fuzz target's LLVMFuzzerTestOneInput on given files
 * without libFuzzer, for the regression replay in `make check`
 * (tests/suites/fuzz-replay.sh): linked with one tests/fuzz/fuzz_<name>.c
 * and the normal (gcc, release or ASan/UBSan) libbron. Calls
 * LLVMFuzzerInitialize first when the target has one. Prints "run FILE"
 * before and "ok FILE" after each input, so a crash names its input; exit
 * status 0 when every input ran, 1 for a file it cannot read.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

int main(int argc, char **argv)
{
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	int status = 0;
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (!f) {
			perror(argv[i]);
			status = 1;
			continue;
		}
		size_t cap = 1 << 16, len = 0;
		uint8_t *data = malloc(cap);
		size_t n;
		while (data && (n = fread(data + len, 1, cap - len, f)) > 0) {
			len += n;
			if (len == cap) {
				uint8_t *more = realloc(data, cap * 2);
				if (!more) {
					free(data);
					data = NULL;
					break;
				}
				data = more;
				cap *= 2;
			}
		}
		fclose(f);
		if (!data) {
			fprintf(stderr, "%s: out of memory\n", argv[i]);
			return 1;
		}
		printf("run %s\n", argv[i]);
		fflush(stdout);
		/* libFuzzer hands the target a buffer of exactly the input's size */
		uint8_t *exact = malloc(len ? len : 1);
		for (size_t k = 0; k < len; k++)
			exact[k] = data[k];
		free(data);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
		printf("ok %s\n", argv[i]);
		fflush(stdout);
	}
	return status;
}
