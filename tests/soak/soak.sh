#!/bin/bash
# tests/soak/soak.sh - sustained load (issue 10): a real `bron serve` on
# loopback (bearer tokens checked, audit trail with signed checkpoints,
# encrypted store), loaded with Synthea patients, then SOAK_MINUTES of mixed
# read/search/write load at SOAK_CONNECTIONS keep-alive connections driven by
# wrk (tests/soak/mix.lua), in consecutive wrk runs of SOAK_INTERVAL seconds.
# After each run it prints one line - minute, requests/s, p50, p99, errors,
# the server's RSS (VmRSS) and open file descriptors, its CPU and wrk's, the
# load average and the machine's CPU and I/O pressure stall (% of the time
# some task waited) - and appends it to a CSV. At the end it judges (docs/robustness.md says why these bounds):
#   errors   no answer with an unexpected status or body, no socket error
#   rss      RSS growth from the end of the warm-up to the end under
#            SOAK_RSS_PCT % of the warm-up RSS + SOAK_RSS_MB MB
#   fds      open fds grew by at most SOAK_FDS
#   latency  the lowest p99 of the last 3 intervals at most SOAK_P99_FACTOR
#            x the median p99 of the first 3 after the warm-up, +
#            SOAK_P99_SLACK_MS ms (drift raises every interval; a busy
#            machine raises some)
#   audit    `bron audit verify` passes on the trail the run wrote
#   stop     the server stops on SIGTERM with exit status 0
# The warm-up is the first 20% of the intervals (at least 1). Prints the
# verdict and "N passed, N failed"; exit 1 on any failure.
#
# Env (defaults in brackets): SOAK_MINUTES [30], SOAK_CONNECTIONS [16],
# SOAK_INTERVAL seconds per line [60], SOAK_STORE sqlite|postgres [sqlite;
# postgres: a throwaway cluster from tests/pg/cluster.sh], SOAK_PATIENTS
# Synthea patients loaded [20; generated ones when $BRON_SHARED/data/synthea
# is absent], SOAK_CSV [build/soak/soak-<store>-<time>.csv], BRON_BIN
# [./bron], BRON_SHARED [../shared], SOAK_KEEP=1 keeps the run directory,
# and the thresholds above: SOAK_RSS_PCT [10], SOAK_RSS_MB [16], SOAK_FDS
# [4], SOAK_P99_FACTOR [3], SOAK_P99_SLACK_MS [25].
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$(pwd)

MINUTES=${SOAK_MINUTES:-30}
CONNS=${SOAK_CONNECTIONS:-16}
INTERVAL=${SOAK_INTERVAL:-60}
STORE=${SOAK_STORE:-sqlite}
PATIENTS=${SOAK_PATIENTS:-20}
BIN=${BRON_BIN:-./bron}
SHARED=${BRON_SHARED:-$ROOT/../shared}
RSS_PCT=${SOAK_RSS_PCT:-10}
RSS_MB=${SOAK_RSS_MB:-16}
FDS=${SOAK_FDS:-4}
P99_FACTOR=${SOAK_P99_FACTOR:-3}
P99_SLACK=${SOAK_P99_SLACK_MS:-25}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
CSV=${SOAK_CSV:-build/soak/soak-$STORE-$STAMP.csv}

log() { printf '%s\n' "$*"; }
die() { log "soak: $*"; log "0 passed, 1 failed"; exit 1; }

for n in MINUTES CONNS INTERVAL PATIENTS RSS_PCT RSS_MB FDS P99_SLACK; do
	[[ ${!n} =~ ^[0-9]+$ ]] && [ "${!n}" -gt 0 ] || [ "$n" = FDS ] || die "SOAK_$n must be a positive whole number (got '${!n}')"
done
case $STORE in sqlite | postgres) ;; *) die "SOAK_STORE must be sqlite or postgres (got '$STORE')" ;; esac
for t in wrk curl node; do command -v $t >/dev/null || die "$t is not installed (tools/deps-apt.txt)"; done
[ -x "$BIN" ] || die "$BIN is not built (run make)"
INTERVALS=$((MINUTES * 60 / INTERVAL))
[ "$INTERVALS" -ge 2 ] || die "SOAK_MINUTES x 60 / SOAK_INTERVAL must give at least 2 intervals"
WARM=$(((INTERVALS + 4) / 5)) # 20%, rounded up, at least 1
K=3                           # intervals compared for latency drift
[ $((INTERVALS - WARM)) -ge $((2 * K)) ] || K=$(((INTERVALS - WARM + 1) / 2))
[ "$K" -ge 1 ] || K=1

mkdir -p build/soak "$(dirname "$CSV")" || die "cannot make build/soak"
WORK=$(mktemp -d "$ROOT/build/soak/run.XXXXXX") || die "cannot make a run directory"
PID="" PGDIR=""
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID" 2>/dev/null; fi
	[ -n "$PGDIR" ] && tests/pg/cluster.sh destroy "$PGDIR" >/dev/null 2>&1
	[ "${SOAK_KEEP:-0}" = 1 ] && log "soak: run directory kept: $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- keys, token, store ------------------------------------------------------
"$BIN" keygen --dir "$WORK/keys" >/dev/null || die "bron keygen failed"
"$BIN" keygen --dir "$WORK/audit-keys" --kid soak-audit >/dev/null || die "bron keygen (audit key) failed"
"$BIN" keygen --data-key "$WORK/data.key" >/dev/null || die "bron keygen --data-key failed"
TOKEN=$("$BIN" token --key "$WORK/keys/signing-key.pem" --sub soak-clinician --scope 'user/*.cruds' --ttl 172800) ||
	die "bron token failed"
if [ "$STORE" = postgres ]; then
	PGDIR=$(mktemp -d /tmp/bron-pg.XXXXXX) || die "cannot make a cluster directory"
	tests/pg/cluster.sh start "$PGDIR" >"$WORK/pg.log" 2>&1 || { tail -5 "$WORK/pg.log"; die "the PostgreSQL cluster did not start"; }
	tests/pg/cluster.sh createdb "$PGDIR" soak >>"$WORK/pg.log" 2>&1 || die "createdb failed"
	WHERE=(--store "$(tests/pg/cluster.sh url "$PGDIR" soak)")
else
	WHERE=(--data "$WORK/data")
fi
KEY=(--key-file "$WORK/data.key")

# ---- base data ------------------------------------------------------------------
if [ -d "$SHARED/data/synthea" ] && ls "$SHARED/data/synthea"/patient-*.json.gz >/dev/null 2>&1; then
	mapfile -t FILES < <(ls "$SHARED/data/synthea"/patient-*.json.gz | sort | head -n "$PATIENTS")
	SOURCE="${#FILES[@]} Synthea patients from $SHARED/data/synthea"
else
	node tests/soak/prepare.mjs generate "$WORK/gen" "$PATIENTS" || die "generating patients failed"
	mapfile -t FILES < <(ls "$WORK/gen"/patient-*.json)
	SOURCE="${#FILES[@]} generated patients (no Synthea data in $SHARED/data/synthea)"
fi
t0=$SECONDS
"$BIN" import "${WHERE[@]}" "${KEY[@]}" "${FILES[@]}" >"$WORK/import.log" 2>&1 || { tail -5 "$WORK/import.log"; die "bron import failed"; }
log "soak: loaded $SOURCE: $(sed -n 's/^loaded: *//p' "$WORK/import.log") in $((SECONDS - t0)) s"

# ---- the server ------------------------------------------------------------------
"$BIN" serve --bind 127.0.0.1 --port 0 "${WHERE[@]}" "${KEY[@]}" --jwks "$WORK/keys/jwks.json" \
	--audit-key "$WORK/audit-keys/signing-key.pem" --audit-kid soak-audit >"$WORK/serve.log" 2>&1 &
PID=$!
BASE=""
for _ in $(seq 1 200); do
	BASE=$(sed -n 's|^bron: serving \(http://[^ ]*\).*|\1|p' "$WORK/serve.log" | head -1)
	[ -n "$BASE" ] && curl -sf -o /dev/null "$BASE/metadata" && break
	kill -0 "$PID" 2>/dev/null || { cat "$WORK/serve.log"; die "bron serve did not start"; }
	BASE=""
	sleep 0.1
done
[ -n "$BASE" ] || { cat "$WORK/serve.log"; die "bron serve did not answer within 20 s"; }
PREFIX=/${BASE#http://*/}
node tests/soak/prepare.mjs lists "$BASE" "$TOKEN" "$WORK" || die "listing the loaded data failed"

# ---- load, one wrk run per interval ------------------------------------------------
CLK=$(getconf CLK_TCK)
TIMEFORMAT='%U %S' # wrk's own CPU seconds (user, system)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# stall() RESOURCE: the machine's "some" pressure stall total (us) of cpu or
# io (/proc/pressure, 0 without PSI): how much other work held tasks back
stall() { awk '/^some/ {sub("total=", "", $5); print $5}' "/proc/pressure/$1" 2>/dev/null || echo 0; }
COLS="interval,minute,requests,rps,p50_ms,p99_ms,max_ms,errors,sockerr,rss_kb,fds,srv_cpu_pct,wrk_cpu_pct,load1,cpu_stall_pct,io_stall_pct,reads,searches,pages,creates,updates,deletes,transactions"
echo "$COLS" >"$CSV"
log "soak: $MINUTES min at $CONNS connections ($INTERVALS intervals of ${INTERVAL}s, warm-up $WARM), store $STORE, $BASE, pid $PID"
log "soak: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); CSV $CSV"
printf '%-7s %8s %9s %9s %7s %9s %5s %6s %6s %6s %9s\n' minute "req/s" "p50 ms" "p99 ms" errors "RSS MB" fds "srv%" "wrk%" load "stall c/i"
for i in $(seq 1 "$INTERVALS"); do
	c0=$(ticks "$PID") n0=$(date +%s%N) sc0=$(stall cpu) si0=$(stall io)
	{ time SOAK_DIR=$WORK SOAK_TOKEN=$TOKEN SOAK_PREFIX=$PREFIX timeout $((INTERVAL + 60)) \
		wrk -t"$CONNS" -c"$CONNS" -d"${INTERVAL}s" --timeout 10s -s tests/soak/mix.lua "$BASE" >"$WORK/wrk.$i" 2>&1; } \
		2>"$WORK/time.$i"
	rc=$?
	n1=$(date +%s%N)
	kill -0 "$PID" 2>/dev/null || { tail -20 "$WORK/serve.log"; die "the server died during interval $i"; }
	c1=$(ticks "$PID") sc1=$(stall cpu) si1=$(stall io)
	sleep 0.5 # the server closes wrk's connections
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID/status")
	fds=$(ls "/proc/$PID/fd" | wc -l)
	line=$(grep '^SOAK ' "$WORK/wrk.$i")
	if [ $rc != 0 ] || [ -z "$line" ]; then
		tail -5 "$WORK/wrk.$i"
		line="SOAK requests=0 duration_us=1 p50_us=0 p99_us=0 max_us=0 errors=1 sockerr=0"
	fi
	unset V
	declare -A V
	for kv in ${line#SOAK }; do V[${kv%%=*}]=${kv#*=}; done
	cpu=$(awk -v t="$((c1 - c0))" -v hz="$CLK" -v ns="$((n1 - n0))" 'BEGIN {printf "%.0f", 100 * t / hz / (ns / 1e9)}')
	psi=$(awk -v c="$((sc1 - sc0))" -v i="$((si1 - si0))" -v ns="$((n1 - n0))" 'BEGIN {
		printf "%.0f,%.0f", 100 * c / (ns / 1e3), 100 * i / (ns / 1e3) }')
	wcpu=$(awk -v ns="$((n1 - n0))" '{printf "%.0f", 100 * ($1 + $2) / (ns / 1e9)}' "$WORK/time.$i")
	row=$(awk -v i="$i" -v iv="$INTERVAL" -v r="${V[requests]}" -v us="${V[duration_us]}" -v p50="${V[p50_us]}" \
		-v p99="${V[p99_us]}" -v mx="${V[max_us]}" 'BEGIN {
			printf "%d,%.2f,%d,%.0f,%.2f,%.2f,%.1f", i, i * iv / 60, r, r / (us / 1e6), p50 / 1000, p99 / 1000, mx / 1000 }')
	row+=",${V[errors]},${V[sockerr]},$rss,$fds,$cpu,${wcpu:-0},$(cut -d' ' -f1 /proc/loadavg),$psi"
	for k in reads searches pages creates updates deletes transactions; do row+=",${V[$k]:-0}"; done
	echo "$row" >>"$CSV"
	awk -F, -v w="$([ "$i" -le "$WARM" ] && echo " warm-up")" '{
		printf "%-7s %8s %9s %9s %7d %9.1f %5d %6s %6s %6s %9s%s\n", $2, $4, $5, $6, $8 + $9, $10 / 1024, $11, $12, $13, $14, $15 "/" $16, w }' <<<"$row"
	grep '^SOAK_BAD ' "$WORK/wrk.$i" | head -3 | sed 's/^SOAK_BAD /  error: /'
done

# ---- stop, audit trail --------------------------------------------------------------
kill -TERM "$PID"
wait "$PID"
stop_rc=$?
PID=""
t0=$SECONDS
"$BIN" audit verify "${WHERE[@]}" "${KEY[@]}" --jwks "$WORK/audit-keys/jwks.json" >"$WORK/audit.log" 2>&1
audit_rc=$?
audit_s=$((SECONDS - t0))
odd=$(grep -cvE '^bron: (serving|encrypted at rest|bearer tokens required|audit checkpoints|SIGTERM received|stopped)' "$WORK/serve.log")

# ---- verdict ---------------------------------------------------------------------------
passed=0 failed=0
check() { # check OK TEXT
	if [ "$1" = 1 ]; then
		passed=$((passed + 1)); log "PASS $2"
	else
		failed=$((failed + 1)); log "FAIL $2"
	fi
}
verdict=$(awk -F, -v W="$WARM" -v K="$K" -v pct="$RSS_PCT" -v mb="$RSS_MB" -v fdmax="$FDS" \
	-v fac="$P99_FACTOR" -v slack="$P99_SLACK" '
	function med3(a, n,   t, i, j, x) { # median of a[1..n]
		for (i = 1; i <= n; i++) t[i] = a[i]
		for (i = 2; i <= n; i++) { x = t[i]; for (j = i - 1; j >= 1 && t[j] > x; j--) t[j + 1] = t[j]; t[j + 1] = x }
		return n % 2 ? t[(n + 1) / 2] : (t[n / 2] + t[n / 2 + 1]) / 2
	}
	NR == 1 { next }
	{ n++; p99[n] = $6; rss[n] = $10; fd[n] = $11; err += $8 + $9; req[n] = $3; tot += $3 }
	END {
		post = 0; for (i = W + 1; i <= n; i++) post += req[i]
		g = rss[n] - rss[W]; allow = rss[W] * pct / 100 + mb * 1024
		leak = post / 1024 # kB that 1 KB per request would add after the warm-up
		pb = -1
		for (i = 1; i <= K; i++) { a[i] = p99[W + i]; if (pb < 0 || p99[n - K + i] < pb) pb = p99[n - K + i] }
		pa = med3(a, K); lim = pa * fac + slack
		printf "errors %d %d\n", (err == 0), err
		printf "rss %d %.1f %.1f %.1f %.1f %d %.0f\n", (g <= allow), rss[W] / 1024, rss[n] / 1024, g / 1024, allow / 1024, post, leak
		printf "fds %d %d %d %d\n", (fd[n] - fd[W] <= fdmax), fd[W], fd[n], fd[n] - fd[W]
		printf "p99 %d %.2f %.2f %.2f\n", (pb <= lim), pa, pb, lim
		printf "total %d\n", tot
	}' "$CSV")
read -r _ ok err < <(grep '^errors ' <<<"$verdict")
check "$ok" "errors: $err answers with an unexpected status or body, or socket errors, in $(sed -n 's/^total //p' <<<"$verdict") requests"
read -r _ ok r0 r1 g allow post leak < <(grep '^rss ' <<<"$verdict")
check "$ok" "rss flat: ${r0} MB after the warm-up, ${r1} MB at the end: +${g} MB (bound ${allow} MB = ${RSS_PCT}% + ${RSS_MB} MB; a leak of 1 KB per request would have added ${leak} MB over the $post requests after the warm-up)"
read -r _ ok f0 f1 fg < <(grep '^fds ' <<<"$verdict")
check "$ok" "fds flat: $f0 after the warm-up, $f1 at the end (+$fg, bound +$FDS)"
read -r _ ok pa pb lim < <(grep '^p99 ' <<<"$verdict")
check "$ok" "latency: median p99 ${pa} ms in the $K intervals after the warm-up, lowest p99 of the last $K ${pb} ms (bound ${lim} ms = ${P99_FACTOR}x + ${P99_SLACK} ms)"
check "$([ $audit_rc = 0 ] && echo 1 || echo 0)" "audit trail: $(tail -1 "$WORK/audit.log") ($audit_s s)"
check "$([ $stop_rc = 0 ] && echo 1 || echo 0)" "stop: exit status $stop_rc after SIGTERM; $odd unexpected server log lines"
if [ "$odd" -gt 0 ]; then
	grep -vE '^bron: (serving|encrypted at rest|bearer tokens required|audit checkpoints|SIGTERM received|stopped)' "$WORK/serve.log" | head -10 | sed 's/^/  log: /'
fi
log "soak: CSV in $CSV"
log "$passed passed, $failed failed"
[ "$failed" = 0 ]
