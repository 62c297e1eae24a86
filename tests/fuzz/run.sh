#!/bin/bash
# Build and run Bron's libFuzzer targets for a bounded time (`make fuzz`).
#   FUZZ_SECONDS   time per target (default 60)
#   FUZZ_TARGETS   which targets (default: every tests/fuzz/fuzz_*.c)
#   FUZZ_JOBS      targets run at the same time (default 1)
#   FUZZ_BUILD_ONLY=1  build the targets, run nothing
# Every target links a libbron built by clang with libFuzzer's coverage
# instrumentation and ASan/UBSan (`make BUILD=fuzz CC=clang-14`, in
# build/fuzz/), the target then with -fsanitize=fuzzer,address,undefined.
# Seeds: tests/fuzz/corpus/<name>/ (committed) and tests/fuzz/regress/<name>/
# (one input per finding, fixed); the growing corpus, the logs and crash
# artifacts go to build/fuzz/run/. Exit 1 when a target finds anything.
set -eu
cd "$(dirname "$0")/../.."
SECONDS_PER=${FUZZ_SECONDS:-60}
CC=${FUZZ_CC:-$(command -v clang-14 || command -v clang)}
OUT=build/fuzz/run
mkdir -p "$OUT"
make --no-print-directory -j2 BUILD=fuzz CC="$CC" build/fuzz/libbron.a >"$OUT/build.log" 2>&1 || {
	tail -20 "$OUT/build.log"
	exit 1
}
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc -Itests/fuzz"
# shellcheck disable=SC2046
LIBS="$(pkg-config --cflags --libs libmicrohttpd jansson sqlite3 libpq libcurl zlib libcrypto gnutls) -lpthread -lm"
targets=${FUZZ_TARGETS:-$(ls tests/fuzz/fuzz_*.c | sed 's|.*/fuzz_||; s|\.c$||')}

for t in $targets; do
	echo "fuzz: building $t"
	# shellcheck disable=SC2086
	$CC $CFLAGS -o "$OUT/fuzz_$t" "tests/fuzz/fuzz_$t.c" build/fuzz/libbron.a $LIBS
done
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

run_one() {
	local t=$1
	mkdir -p "$OUT/corpus/$t" "$OUT/crashes/$t"
	local dict="" regress=""
	[ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
	[ -d "tests/fuzz/regress/$t" ] && regress="tests/fuzz/regress/$t"
	echo "fuzz: running $t for ${SECONDS_PER}s"
	# shellcheck disable=SC2086
	if ! "$OUT/fuzz_$t" "$OUT/corpus/$t" "tests/fuzz/corpus/$t" $regress $dict \
		-max_total_time="$SECONDS_PER" -max_len=4096 -timeout=20 -rss_limit_mb=2048 \
		-artifact_prefix="$OUT/crashes/$t/" -print_final_stats=1 >"$OUT/$t.log" 2>&1; then
		echo "fuzz: $t FAILED; see $OUT/$t.log and $OUT/crashes/$t/"
		grep -E 'ERROR|SUMMARY|runtime error|fuzz_' "$OUT/$t.log" | head -10
		return 1
	fi
	echo "fuzz: $t clean: $(grep -E '^stat::number_of_executed_units|^stat::peak_rss' "$OUT/$t.log" | tr '\n' ' ')"
	echo "fuzz: $t $(grep -E '^#[0-9]+.*(DONE|pulse)' "$OUT/$t.log" | tail -1)"
}

status=0
jobs=${FUZZ_JOBS:-1}
pids=()
for t in $targets; do
	run_one "$t" &
	pids+=($!)
	if [ "${#pids[@]}" -ge "$jobs" ]; then
		wait "${pids[0]}" || status=1
		pids=("${pids[@]:1}")
	fi
done
for p in "${pids[@]}"; do
	wait "$p" || status=1
done
exit $status
