#!/bin/bash
# Run Bron's tests and print one closing line "N passed, N failed".
#   tests/run.sh            every tier on the release build, then on the
#                           ASan/UBSan build (build/asan)
#   tests/run.sh TIER...    only these tiers (unit, suites, api) on $BUILD
# Tiers: unit   - cmocka binaries build/<b>/tests/unit/<sub>/test_*
#        suites - tests/suites/*.sh, each ending with "N passed, N failed[, N skipped]"
#        api    - node --test tests/api (starts bron serve itself; BRON_BIN)
# Fails (exit 1) on any failed test or sanitizer report.
set -u
cd "$(dirname "$0")/.."
export BRON_SHARED="${BRON_SHARED:-$(cd .. && pwd)/shared}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
passed=0 failed=0 skipped=0
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

count() { # add the counts of a "N passed, N failed, N skipped" line
	local line="$1"
	local p f s
	p=$(sed -n 's/.*\b\([0-9]\+\) passed.*/\1/p' <<<"$line")
	f=$(sed -n 's/.*\b\([0-9]\+\) failed.*/\1/p' <<<"$line")
	s=$(sed -n 's/.*\b\([0-9]\+\) skipped.*/\1/p' <<<"$line")
	passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
}

sanitizer_check() { # a sanitizer report anywhere in a log is a failure
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$1"; then
		echo "  sanitizer report in $2:"; grep -E -A5 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$1" | head -40
		failed=$((failed + 1))
	fi
}

run_unit() {
	local out="build/$1" t n
	for t in $(find "$out/tests/unit" -type f -name 'test_*' -perm -u+x 2>/dev/null | sort); do
		n="$log/unit.$(basename "$t")"
		"$t" >"$n" 2>&1
		local rc=$?
		local run pass fail
		run=$(sed -n 's/^\[==========\] \([0-9]\+\) test(s) run\./\1/p' "$n" | tail -1)
		pass=$(sed -n 's/^\[  PASSED  \] \([0-9]\+\) test(s)\./\1/p' "$n" | tail -1)
		fail=$(sed -n 's/^\[  FAILED  \] \([0-9]\+\) test(s).*/\1/p' "$n" | tail -1)
		pass=${pass:-0}; fail=${fail:-0}
		if [ "$rc" != 0 ] && [ "$fail" = 0 ]; then fail=1; fi
		echo "unit[$1] $(basename "$t"): $pass passed, $fail failed"
		[ "$fail" != 0 ] && grep -E '\[  (FAILED|ERROR)|error|Error' "$n" | head -20
		passed=$((passed + pass)); failed=$((failed + fail))
		sanitizer_check "$n" "$t"
	done
}

run_suites() {
	local s n line
	for s in tests/suites/*.sh; do
		[ -e "$s" ] || continue
		n="$log/suite.$(basename "$s").$1"
		BUILD="$1" BRON_OUT="build/$1" bash "$s" >"$n" 2>&1
		local rc=$?
		line=$(grep -E '^[A-Za-z:]* ?[0-9]+ passed, [0-9]+ failed' "$n" | tail -1)
		echo "suite[$1] $(basename "$s" .sh): ${line:-no result line (exit $rc)}"
		if [ -n "$line" ]; then count "$line"; else failed=$((failed + 1)); tail -20 "$n"; fi
		[ "$rc" != 0 ] && [ -n "$line" ] && grep -q ' 0 failed' <<<"$line" && { failed=$((failed + 1)); tail -20 "$n"; }
		sanitizer_check "$n" "$s"
	done
}

run_api() {
	local bin="./bron" n="$log/api.$1"
	[ "$1" = release ] || bin="build/$1/bron"
	[ -d tests/api ] && ls tests/api/*.test.mjs >/dev/null 2>&1 || return 0
	BRON_BIN="$bin" node --test --test-concurrency=1 tests/api/ >"$n" 2>&1
	local rc=$?
	local p f s
	p=$(sed -n 's/^# pass \([0-9]\+\)/\1/p' "$n" | tail -1)
	f=$(sed -n 's/^# fail \([0-9]\+\)/\1/p' "$n" | tail -1)
	s=$(sed -n 's/^# skipped \([0-9]\+\)/\1/p' "$n" | tail -1)
	echo "api[$1]: ${p:-0} passed, ${f:-0} failed, ${s:-0} skipped"
	if [ "${f:-0}" != 0 ] || [ "$rc" != 0 ]; then
		grep -E '^not ok|^# Subtest|error:|Error|expected|actual' "$n" | grep -B1 -A6 'not ok' | head -80
		[ "${f:-0}" = 0 ] && f=1
	fi
	passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
	sanitizer_check "$n" "api tests"
}

tiers=("$@")
if [ ${#tiers[@]} = 0 ]; then
	builds=(release asan); tiers=(unit suites api)
else
	builds=("${BUILD:-release}")
fi
for b in "${builds[@]}"; do
	for t in "${tiers[@]}"; do "run_$t" "$b"; done
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
