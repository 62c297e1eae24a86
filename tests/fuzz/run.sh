#!/bin/bash
# Build and run Bron's libFuzzer targets for a bounded time (`make fuzz`).
#   FUZZ_SECONDS   time per target (default 60)
#   FUZZ_TARGETS   which targets (default: every tests/fuzz/fuzz_*.c)
# Each target links the sources of its subsystem plus base/ and model/
# (FUZZ_SRC_<name> below), with clang's -fsanitize=fuzzer,address,undefined.
# Seeds: tests/fuzz/corpus/<name>/ (committed); the growing corpus and crash
# artifacts go to build/fuzz/. Exit 1 when a target finds a crash.
set -eu
cd "$(dirname "$0")/../.."
SECONDS_PER=${FUZZ_SECONDS:-60}
CC=${FUZZ_CC:-$(command -v clang-14 || command -v clang)}
OUT=build/fuzz
mkdir -p "$OUT"
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc"
LIBS="$(pkg-config --libs jansson) -lm"
FUZZ_SRC_fhirpath="src/fhirpath/*.c src/base/base.c src/model/*.c"

status=0
for t in ${FUZZ_TARGETS:-$(ls tests/fuzz/fuzz_*.c | sed 's|.*/fuzz_||; s|\.c$||')}; do
	var="FUZZ_SRC_$t"
	bin="$OUT/fuzz_$t"
	echo "fuzz: building $t"
	# shellcheck disable=SC2086
	$CC $CFLAGS -o "$bin" "tests/fuzz/fuzz_$t.c" ${!var} $LIBS
	mkdir -p "$OUT/corpus/$t" "$OUT/crashes/$t"
	dict=""
	[ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
	echo "fuzz: running $t for ${SECONDS_PER}s"
	if ! "$bin" "$OUT/corpus/$t" "tests/fuzz/corpus/$t" $dict -max_total_time="$SECONDS_PER" \
		-max_len=4096 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$OUT/crashes/$t/" \
		-print_final_stats=1 >"$OUT/$t.log" 2>&1; then
		echo "fuzz: $t FAILED; see $OUT/$t.log and $OUT/crashes/$t/"
		grep -E 'ERROR|SUMMARY|runtime error' "$OUT/$t.log" | head -10
		status=1
	else
		grep -E '^stat::number_of_executed_units|^stat::peak_rss' "$OUT/$t.log" | tr '\n' ' '
		echo
		echo "fuzz: $t clean"
	fi
done
exit $status
