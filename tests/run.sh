#!/bin/bash
# Run Bron's tests and print one closing line "N passed, N failed".
#   tests/run.sh            every tier on the release build, then on the
#                           ASan/UBSan build (build/asan)
#   tests/run.sh TIER...    only these tiers (unit, suites, api, soak) on $BUILD
# Tiers: unit   - cmocka binaries build/<b>/tests/unit/<sub>/test_*
#        suites - tests/suites/*.sh, each ending with "N passed, N failed[, N skipped]"
#        api    - node --test tests/api (starts bron serve itself; BRON_BIN)
#        soak   - the short soak: tests/soak/soak.sh for 2 minutes (10 s
#                 intervals) on SQLite; in a full run once, on the release
#                 build, after the other tiers (`make soak` runs the long one)
# Each store engine in $STORES (default "sqlite postgres") gets the whole API
# tier ("api[b]" on SQLite, "api-pg[b]" on PostgreSQL) and the search oracle
# ("search-oracle", "search-oracle-pg"); the unit tier gets BRON_TEST_PG_URL
# (test_store runs its cases on both engines). For PostgreSQL one throwaway cluster
# (tests/pg/cluster.sh, Unix socket only) is started before the tiers and
# stopped at the end; each test server gets a database of its own in it
# (BRON_TEST_STORE=postgres BRON_PG_DIR=..., see tests/api/lib/server.mjs).
# A cluster that cannot start is a failure, not a skip.
# Fails (exit 1) on any failed test or sanitizer report.
set -u
cd "$(dirname "$0")/.."
export BRON_SHARED="${BRON_SHARED:-$(cd .. && pwd)/shared}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
STORES="${STORES:-sqlite postgres}"
passed=0 failed=0 skipped=0
log=$(mktemp -d)
pgdir=""
cleanup() {
	[ -n "$pgdir" ] && tests/pg/cluster.sh destroy "$pgdir" >/dev/null 2>&1
	rm -rf "$log"
}
trap cleanup EXIT

has_store() { [[ " $STORES " == *" $1 "* ]]; }

pg_start() { # one cluster for the whole run; "" when it cannot start (counted as a failure)
	local d
	d=$(mktemp -d /tmp/bron-pg.XXXXXX) || { echo "postgresql: cannot make a cluster directory"; failed=$((failed + 1)); return; }
	pgdir="$d"
	if ! tests/pg/cluster.sh start "$d" >"$log/pg-start" 2>&1; then
		echo "postgresql: the test cluster did not start - every PostgreSQL tier fails:"
		sed 's/^/  /' "$log/pg-start" | tail -20
		failed=$((failed + 1))
		pgdir_ok=0
		return
	fi
	pgdir_ok=1
	pgurl="postgresql:///postgres?host=$d&user=postgres" # for the unit tier (test_store makes its databases there)
}
pgdir_ok=0 pgurl=""

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
	local out="build/$1" t n pgenv=()
	[ -n "$pgurl" ] && pgenv=(BRON_TEST_PG_URL="$pgurl")
	for t in $(find "$out/tests/unit" -type f -name 'test_*' -perm -u+x 2>/dev/null | sort); do
		n="$log/unit.$(basename "$t")"
		env "${pgenv[@]}" "$t" >"$n" 2>&1
		local rc=$?
		local pass fail
		# summed over every group a binary runs (test_store: SQLite, then PostgreSQL)
		pass=$(sed -n 's/^\[  PASSED  \] \([0-9]\+\) test(s)\./\1/p' "$n" | awk '{s += $1} END {print s + 0}')
		fail=$(sed -n 's/^\[  FAILED  \] \([0-9]\+\) test(s).*/\1/p' "$n" | awk '{s += $1} END {print s + 0}')
		if [ "$rc" != 0 ] && [ "$fail" = 0 ]; then fail=1; fi
		echo "unit[$1] $(basename "$t"): $pass passed, $fail failed"
		[ "$fail" != 0 ] && grep -E '\[  (FAILED|ERROR)|error|Error' "$n" | head -20
		passed=$((passed + pass)); failed=$((failed + fail))
		sanitizer_check "$n" "$t"
	done
}

run_suite() { # run_suite BUILD SCRIPT NAME [ENV=VALUE...]
	local b="$1" s="$2" name="$3" n line
	shift 3
	n="$log/suite.$name.$b"
	env "$@" BUILD="$b" BRON_OUT="build/$b" bash "$s" >"$n" 2>&1
	local rc=$?
	line=$(grep -E '^[A-Za-z:]* ?[0-9]+ passed, [0-9]+ failed' "$n" | tail -1)
	echo "suite[$b] $name: ${line:-no result line (exit $rc)}"
	if [ -n "$line" ]; then count "$line"; else failed=$((failed + 1)); tail -20 "$n"; fi
	[ "$rc" != 0 ] && [ -n "$line" ] && grep -q ' 0 failed' <<<"$line" && { failed=$((failed + 1)); tail -20 "$n"; }
	sanitizer_check "$n" "$s"
}

run_suites() {
	local s
	for s in tests/suites/*.sh; do
		[ -e "$s" ] || continue
		if [ "$(basename "$s")" = search-oracle.sh ]; then # the suite that serves: once per engine
			if has_store sqlite; then run_suite "$1" "$s" search-oracle; fi
			if has_store postgres; then
				if [ "$pgdir_ok" = 1 ]; then
					run_suite "$1" "$s" search-oracle-pg BRON_TEST_STORE=postgres BRON_PG_DIR="$pgdir"
				else
					echo "suite[$1] search-oracle-pg: 0 passed, 1 failed (no PostgreSQL cluster)"; failed=$((failed + 1))
				fi
			fi
		else
			run_suite "$1" "$s" "$(basename "$s" .sh)"
		fi
	done
}

run_api() {
	[ -d tests/api ] && ls tests/api/*.test.mjs >/dev/null 2>&1 || return 0
	if has_store sqlite; then
		# tests that need PostgreSQL beside SQLite (roundtrip) run in the
		# PostgreSQL pass only, when there is one
		local pgpass=()
		if has_store postgres && [ "$pgdir_ok" = 1 ]; then pgpass=(BRON_API_PG_PASS=1); fi
		api_pass "$1" api "${pgpass[@]}"
	fi
	if has_store postgres; then
		if [ "$pgdir_ok" = 1 ]; then
			api_pass "$1" api-pg BRON_TEST_STORE=postgres BRON_PG_DIR="$pgdir"
		else
			echo "api-pg[$1]: 0 passed, 1 failed (no PostgreSQL cluster)"; failed=$((failed + 1))
		fi
	fi
}

api_pass() { # api_pass BUILD LABEL [ENV=VALUE...]
	local b="$1" label="$2" bin="./bron" n="$log/$2.$1"
	shift 2
	[ "$b" = release ] || bin="build/$b/bron"
	local t0=$SECONDS
	env "$@" BRON_BIN="$bin" node --test --test-concurrency=1 tests/api/ >"$n" 2>&1
	local rc=$?
	local p f s
	p=$(sed -n 's/^# pass \([0-9]\+\)/\1/p' "$n" | tail -1)
	f=$(sed -n 's/^# fail \([0-9]\+\)/\1/p' "$n" | tail -1)
	s=$(sed -n 's/^# skipped \([0-9]\+\)/\1/p' "$n" | tail -1)
	echo "$label[$b]: ${p:-0} passed, ${f:-0} failed, ${s:-0} skipped ($((SECONDS - t0)) s)"
	if [ "${f:-0}" != 0 ] || [ "$rc" != 0 ]; then
		# each failing test (also nested ones) with its error message
		grep -E -A16 '^ *not ok' "$n" | grep -vE '^ *(duration_ms|location|failureType|type|code|name|operator|---|\.\.\.)(:|$)' |
			awk '/^ *stack: /{skip=1; next} /^ *(not )?ok |^--$/{skip=0} !skip' | head -100
		[ "${f:-0}" = 0 ] && f=1
	fi
	passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
	sanitizer_check "$n" "api tests"
}

run_soak() { # the short soak, on SQLite; its checks count as tests
	local b="$1" n="$log/soak.$1" bin="./bron" line
	[ "$b" = release ] || bin="build/$b/bron"
	local t0=$SECONDS
	env SOAK_MINUTES=2 SOAK_INTERVAL=10 SOAK_STORE=sqlite SOAK_CSV="build/soak/check-$b.csv" BRON_BIN="$bin" \
		tests/soak/soak.sh >"$n" 2>&1
	local rc=$?
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$n" | tail -1)
	echo "soak[$b]: ${line:-no result line (exit $rc)} ($((SECONDS - t0)) s)"
	if [ -n "$line" ]; then count "$line"; else failed=$((failed + 1)); fi
	if [ "$rc" != 0 ]; then
		[ -n "$line" ] && grep -q ' 0 failed' <<<"$line" && failed=$((failed + 1))
		grep -vE '^soak: (loaded|[0-9]+ patients)' "$n" | tail -30 | sed 's/^/  /'
	fi
	sanitizer_check "$n" "the soak"
}

tiers=("$@")
soak_once=0
if [ ${#tiers[@]} = 0 ]; then
	builds=(release asan); tiers=(unit suites api); soak_once=1
else
	builds=("${BUILD:-release}")
fi
if has_store postgres; then pg_start; fi
for b in "${builds[@]}"; do
	for t in "${tiers[@]}"; do "run_$t" "$b"; done
done
if [ "$soak_once" = 1 ]; then run_soak release; fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
