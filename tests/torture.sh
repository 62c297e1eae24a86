#!/bin/bash
# make torture: the crash harness (tests/api/crash.test.mjs) with many more
# SIGKILLs than make check gives it, on each engine in $STORES (default
# "sqlite postgres"): CRASH_KILLS (default 500) kills per engine, on $BRON_BIN
# (default ./bron; build/asan/bron for the sanitizers). PostgreSQL runs in a
# throwaway cluster (tests/pg/cluster.sh), removed at the end. Prints each
# engine's summary line and a closing "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
export CRASH_KILLS="${CRASH_KILLS:-500}"
export BRON_BIN="${BRON_BIN:-./bron}"
STORES="${STORES:-sqlite postgres}"
passed=0 failed=0
log=$(mktemp -d)
pgdir=""
cleanup() {
	[ -n "$pgdir" ] && tests/pg/cluster.sh destroy "$pgdir" >/dev/null 2>&1
	rm -rf "$log"
}
trap cleanup EXIT

run() { # run LABEL [ENV=VALUE...]
	local label="$1" n="$log/$1" t0=$SECONDS
	shift
	env "$@" node --test --test-concurrency=1 tests/api/crash.test.mjs >"$n" 2>&1
	local rc=$?
	grep -E '^# crash' "$n" | sed 's/^# /  /'
	if [ "$rc" = 0 ] && grep -q '^# pass 1' "$n"; then
		echo "torture $label: passed ($((SECONDS - t0)) s)"
		passed=$((passed + 1))
	else
		echo "torture $label: FAILED ($((SECONDS - t0)) s)"
		grep -E -A30 '^ *not ok' "$n" | head -60
		failed=$((failed + 1))
	fi
}

for s in $STORES; do
	case "$s" in
	sqlite) run sqlite ;;
	postgres)
		pgdir=$(mktemp -d /tmp/bron-pg.XXXXXX)
		if tests/pg/cluster.sh start "$pgdir" >"$log/pg-start" 2>&1; then
			run postgres BRON_TEST_STORE=postgres BRON_PG_DIR="$pgdir"
		else
			echo "torture postgres: the PostgreSQL cluster did not start"
			tail -20 "$log/pg-start"
			failed=$((failed + 1))
		fi
		;;
	*) echo "torture: unknown store '$s'"; failed=$((failed + 1)) ;;
	esac
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
