#!/bin/bash
# bench/ingest.sh - ingest throughput (issue 5): the Synthea transaction
# Bundles of $BRON_SHARED/data/synthea POSTed with 4 clients in flight to a
# fresh `bron serve` (default --sync 1, every search index on), then to the
# Medplum peer (in memory), then the raw SQLite limit: the same resource
# bodies and index rows, read back from Bron's store, inserted straight into
# a fresh database with the same schema, one transaction per Bundle
# (bench/lib/ingest_limit.c). Prints resources/s of all three, Bron/peer,
# Bron/limit and the issue-5 aims, and appends a dated section to
# bench/RESULTS.md.
#
# Env (defaults in brackets): BENCH_INGEST_BUNDLES Bundles measured, one
# patient each [120], BENCH_INGEST_WARM further Bundles posted one by one
# before the clock starts, not counted [4], BENCH_INGEST_CONC requests in
# flight [4], BENCH_RESULTS file to append to [bench/RESULTS.md; "-" = don't
# record], BRON_SHARED [../shared], BRON_BIN [./bron].

source "$(dirname "$0")/lib/common.sh"

NB=${BENCH_INGEST_BUNDLES:-120}
NW=${BENCH_INGEST_WARM:-4}
CONC=${BENCH_INGEST_CONC:-4}
RESULTS=${BENCH_RESULTS:-$BENCH_DIR/RESULTS.md}
SYN=$SHARED/data/synthea

if ! ls "$SYN"/*.json.gz >/dev/null 2>&1; then
    log "ingest bench: no Synthea bundles in $SYN (set BRON_SHARED); skipped"
    exit 0
fi
command -v node >/dev/null || die "node is not installed (the ingest client runs on node)"
command -v cc >/dev/null || die "cc is not installed"
mapfile -t ALL < <(ls "$SYN"/*.json.gz | sort)
[ "${#ALL[@]}" -ge $(( NB + NW )) ] || { NB=$(( ${#ALL[@]} - NW )); log "bench: only ${#ALL[@]} bundles; measuring $NB"; }
[ "$NB" -ge 1 ] || die "no Synthea bundles to measure"
# warm-up bundles first (the client posts the first NW one by one), then the measured ones
FILES=("${ALL[@]:NB:NW}" "${ALL[@]:0:NB}")

bench_tmpdir WORK ingest
declare -A R

CLK_TCK=$(getconf CLK_TCK)
cpu_all() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
cpu_pid() { awk '{print $14 + $15}' "/proc/$1/stat"; }
io_wbytes() { awk '/^write_bytes:/ {print $2}' "/proc/$1/io" 2>/dev/null || echo 0; }

# The limit program, built now so that a compile error fails early.
cc -O2 -Wall -o "$WORK/ingest_limit" "$LIB_DIR/ingest_limit.c" -lsqlite3 || die "cannot build bench/lib/ingest_limit.c (libsqlite3-dev?)"

# load TAG BASE PID [MAPFILE]: post the bundles; R[TAG.*] from the BENCH line,
# R[TAG.cpu_srv|cpu_cli|cpu_other] % of one core used by the server, the
# client, everything else; R[TAG.wbytes] bytes the server wrote.
load() {
    local tag=$1 base=$2 pid=$3 map=${4:-} out=$WORK/$1.out line kv
    local a0 p0 t0 a1 p1 t1 w0 w1 ct rc=0 TIMEFORMAT='%U %S'
    w0=$(io_wbytes "$pid"); a0=$(cpu_all); p0=$(cpu_pid "$pid"); t0=$(date +%s%N)
    { time timeout 600 node "$LIB_DIR/ingest_post.mjs" --base "$base" --conc "$CONC" --warm "$NW" \
        ${map:+--map "$map"} "${FILES[@]}" >"$out" 2>&1 || rc=$?; } 2>"$out.time"
    a1=$(cpu_all); p1=$(cpu_pid "$pid"); t1=$(date +%s%N); w1=$(io_wbytes "$pid")
    [ $rc = 0 ] || { cat "$out" >&2; die "the ingest client failed ($tag, exit $rc)"; }
    line=$(grep '^BENCH ' "$out") || { cat "$out" >&2; die "the ingest client printed no figures ($tag)"; }
    for kv in ${line#BENCH }; do R[$tag.${kv%%=*}]=${kv#*=}; done
    R[$tag.wbytes]=$(( w1 - w0 ))
    R[$tag.cpu_s]=$(awk -v p="$((p1 - p0))" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", p / hz}')
    ct=$(awk '{print $1 + $2}' "$out.time")
    # the client's CPU includes reading and gunzipping every file before the clock
    read -r R[$tag.cpu_srv] R[$tag.cpu_cli] R[$tag.cpu_other] < <(awk -v a="$((a1 - a0))" -v p="$((p1 - p0))" \
        -v c="$ct" -v hz="$CLK_TCK" -v ns="$((t1 - t0))" 'BEGIN {
            s = ns / 1e9; o = (a - p) / hz - c; if (o < 0) o = 0
            printf "%.0f %.0f %.0f\n", 100 * p / hz / s, 100 * c / s, 100 * o / s }')
    R[$tag.samples]=$(grep '^BENCH_BAD ' "$out" | head -1 | cut -c11-310 || true)
    log "  $tag: ${R[$tag.ok]} of ${R[$tag.bundles]} bundles, ${R[$tag.resources]} resources in ${R[$tag.secs]} s:" \
        "${R[$tag.rps]} resources/s (bundle p50 ${R[$tag.p50_ms]} ms, max ${R[$tag.max_ms]} ms);" \
        "CPU server ${R[$tag.cpu_srv]}%, client ${R[$tag.cpu_cli]}%, other processes ${R[$tag.cpu_other]}%"
    if [ -n "${R[$tag.samples]}" ]; then grep '^BENCH_BAD ' "$out" | sed 's/^BENCH_BAD /    failed: /' >&2; fi
}

R[idle_busy]=$(wait_quiet 30)
log "bench: other processes use ${R[idle_busy]}% of a core before the start"
log "bench: $NB Synthea bundles measured (+$NW warm-up), $CONC in flight, each POSTed to the base as a transaction"

# ---- Bron ---------------------------------------------------------------------
bench_tmpdir BRON_DATA bron-ingest
start_bron "$BRON_DATA/data" "$WORK/bron.log"
REV=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)
log "bench: Bron $REV at $BRON_BASE, pid $BRON_PID (default --sync 1, every search index)"
# Syscall counts of the server during the load, when perf can count them
# (tracepoints: cheap): fdatasync = commits + 2 per complete checkpoint,
# ftruncate of bron.db = complete checkpoints.
PERF_PID=
if command -v perf >/dev/null && perf stat -e syscalls:sys_enter_fdatasync -o /dev/null true 2>/dev/null; then
    perf stat -x, -e syscalls:sys_enter_fdatasync,syscalls:sys_enter_ftruncate,syscalls:sys_enter_pwrite64,syscalls:sys_enter_pread64 \
        -p "$BRON_PID" -o "$WORK/bron.perfstat" 2>/dev/null &
    PERF_PID=$!
    _BENCH_PIDS+=("$PERF_PID")
    sleep 0.3
fi
thread_ticks() {  # thread_ticks PID: "tid ticks" per thread
    local t; for t in /proc/$1/task/*; do echo "${t##*/} $(awk '{print $14 + $15}' "$t/stat")"; done
}
thread_ticks "$BRON_PID" >"$WORK/bron.threads0"
load bron "$BRON_BASE" "$BRON_PID" "$WORK/bron.map"
thread_ticks "$BRON_PID" >"$WORK/bron.threads1"
# the writer: the thread (not the main one, not an MHD-worker) that used the most CPU
R[bron.writer_s]=$(join "$WORK/bron.threads0" "$WORK/bron.threads1" 2>/dev/null | while read -r tid a b; do
        [ "$tid" = "$BRON_PID" ] && continue
        [ "$(cat "/proc/$BRON_PID/task/$tid/comm" 2>/dev/null)" = MHD-worker ] && continue
        echo $(( b - a ))
    done | sort -n | tail -1 | awk -v hz="$CLK_TCK" '{printf "%.2f", $1 / hz}')
if [ -n "$PERF_PID" ]; then
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
    for ev in fdatasync ftruncate pwrite64 pread64; do
        R[bron.n_$ev]=$(awk -F, -v e="syscalls:sys_enter_$ev" '$3 == e {print $1}' "$WORK/bron.perfstat" 2>/dev/null)
    done
    R[bron.commits]=$(( ${R[bron.n_fdatasync]:-0} - 2 * ${R[bron.n_ftruncate]:-0} ))
    log "  bron: ${R[bron.n_fdatasync]} fdatasync, ${R[bron.n_ftruncate]} complete checkpoints, so ~${R[bron.commits]} commits" \
        "for ${R[bron.bundles]} + $NW bundles; ${R[bron.n_pwrite64]} pwrite, ${R[bron.n_pread64]} pread"
fi
log "  bron: writer thread ${R[bron.writer_s]} s of CPU during the load"
R[bron.rss]=$(rss_kb "$BRON_PID")
stop_rc=0
kill -TERM "$BRON_PID"; wait "$BRON_PID" || stop_rc=$?
R[bron.stop_rc]=$stop_rc
R[bron.loglines]=$(grep -cvE '^bron: (serving|SIGTERM received|stopped)' "$WORK/bron.log" || true)
R[bron.dbsize]=$(du -sk "$BRON_DATA/data" | cut -f1)
[ "${R[bron.ok]}" -gt 0 ] || die "bron: no bundle loaded"

# ---- Medplum peer -------------------------------------------------------------
PEER=0
if [ ! -d "$SHARED/peers/medplum" ]; then
    log "bench: no Medplum peer at $SHARED/peers/medplum; Bron and the limit only"
elif ! command -v npm >/dev/null; then
    log "bench: npm not installed; Bron and the limit only"
else
    start_medplum || die "the Medplum peer did not start"
    log "bench: Medplum peer at $MEDPLUM_BASE, pid $MEDPLUM_PID (in memory, node $(node --version))"
    wait_quiet 10 >/dev/null
    load medplum "$MEDPLUM_BASE" "$MEDPLUM_PID"
    R[medplum.rss]=$(rss_kb "$MEDPLUM_PID")
    stop_pid "$MEDPLUM_PID"
    PEER=1
fi

# ---- The limit: Bron's rows replayed straight into SQLite ------------------------
wait_quiet 10 >/dev/null
mkdir -p "$WORK/limit"
a0=$(cpu_all); t0=$(date +%s%N)
TIMEFORMAT='%U %S'
{ time "$WORK/ingest_limit" "$BRON_DATA/data/bron.db" "$WORK/bron.map" "$WORK/limit/bron.db" >"$WORK/limit.out" 2>&1 \
    || { cat "$WORK/limit.out" >&2; die "the limit replay failed"; }; } 2>"$WORK/limit.time"
a1=$(cpu_all); t1=$(date +%s%N)
line=$(grep '^BENCH ' "$WORK/limit.out") || { cat "$WORK/limit.out" >&2; die "the limit replay printed no figures"; }
for kv in ${line#BENCH }; do R[limit.${kv%%=*}]=${kv#*=}; done
R[limit.cpu_other]=$(awk -v a="$((a1 - a0))" -v c="$(awk '{print $1 + $2}' "$WORK/limit.time")" -v hz="$CLK_TCK" \
    -v ns="$((t1 - t0))" 'BEGIN { o = 100 * (a / hz - c) / (ns / 1e9); printf "%.0f\n", o < 0 ? 0 : o }')
log "  limit: ${R[limit.resources]} resources, ${R[limit.rows]} index rows in ${R[limit.bundles]} transactions," \
    "${R[limit.secs]} s: ${R[limit.rps]} resources/s; other processes ${R[limit.cpu_other]}% (whole replay program)"
# The same replay with $CONC Bundles per transaction: what a group commit of
# the Bundles in flight would give (informative; the aim is against the above).
mkdir -p "$WORK/limitg"
"$WORK/ingest_limit" "$BRON_DATA/data/bron.db" "$WORK/bron.map" "$WORK/limitg/bron.db" 8192 "$CONC" >"$WORK/limitg.out" 2>&1 \
    || { cat "$WORK/limitg.out" >&2; die "the grouped limit replay failed"; }
line=$(grep '^BENCH ' "$WORK/limitg.out") || die "the grouped limit replay printed no figures"
for kv in ${line#BENCH }; do R[limitg.${kv%%=*}]=${kv#*=}; done
rm -rf "$WORK/limit" "$WORK/limitg"
log "  limit, $CONC Bundles per transaction: ${R[limitg.commits]} transactions, ${R[limitg.secs]} s: ${R[limitg.rps]} resources/s"

# ---- Report -------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf (b > 0 ? "%.2fx" : "-"), a / b}'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf (b > 0 ? "%.0f%%" : "-"), 100 * a / b}'; }
perres() { awk -v a="$1" -v n="$2" 'BEGIN {printf (n > 0 ? "%.1f" : "-"), a / n / 1024}'; }
peer() { [ $PEER = 1 ] && echo "$1" || echo "-"; }
us_per() { awk -v s="$1" -v n="$2" 'BEGIN {printf (n > 0 && s != "" ? "%.0f" : "-"), s * 1e6 / n}'; }

rows=()
row() { rows+=("$1|$2|$3|$4|$5"); }
row "resources/s" "${R[bron.rps]}" "$(peer "${R[medplum.rps]:-}")" "${R[limit.rps]}" ""
row "resources loaded" "${R[bron.resources]}" "$(peer "${R[medplum.resources]:-}")" "${R[limit.resources]}" ""
row "seconds" "${R[bron.secs]}" "$(peer "${R[medplum.secs]:-}")" "${R[limit.secs]}" ""
row "bundle latency p50 / max ms" "${R[bron.p50_ms]} / ${R[bron.max_ms]}" "$(peer "${R[medplum.p50_ms]:-} / ${R[medplum.max_ms]:-}")" "" ""
row "limit, $CONC Bundles per transaction: resources/s" "" "" "${R[limitg.rps]}" ""
row "KiB written per resource" "$(perres "${R[bron.wbytes]}" "${R[bron.resources]}")" "" "$(perres "${R[limit.wbytes]}" "${R[limit.resources]}")" ""
row "  (limit, $CONC Bundles per transaction)" "" "" "$(perres "${R[limitg.wbytes]}" "${R[limitg.resources]}")" ""
row "index rows per resource" "" "" "$(awk -v a="${R[limit.rows]}" -v n="${R[limit.resources]}" 'BEGIN {printf "%.1f", a / n}')" ""
row "server CPU µs per resource (incl. warm-up)" "$(us_per "${R[bron.cpu_s]}" "${R[bron.resources]}")" \
    "$(peer "$(us_per "${R[medplum.cpu_s]:-}" "${R[medplum.resources]:-0}")")" \
    "$(us_per "${R[limit.cpu_s]}" "${R[limit.resources]}")" ""
row "  writer thread CPU µs per resource (incl. warm-up)" "$(us_per "${R[bron.writer_s]}" "${R[bron.resources]}")" "" "" ""
if [ -n "${R[bron.commits]:-}" ]; then
    row "commits (Bron's: fdatasync - 2 x checkpoints, with the $NW warm-up)" "~${R[bron.commits]}" "" "${R[limit.commits]}" ""
fi
row "server CPU, % of one core" "${R[bron.cpu_srv]}" "$(peer "${R[medplum.cpu_srv]:-}")" "" ""
row "RSS after the load MB" "$(awk -v k="${R[bron.rss]}" 'BEGIN {printf "%.1f", k * 1024 / 1e6}')" \
    "$(peer "$(awk -v k="${R[medplum.rss]:-0}" 'BEGIN {printf "%.1f", k * 1024 / 1e6}')")" "" ""

r_peer=$( [ $PEER = 1 ] && ratio "${R[bron.rps]}" "${R[medplum.rps]}" || echo "-")
r_lim=$(pct "${R[bron.rps]}" "${R[limit.rps]}")
aim() { if [ "$1" = "-" ]; then echo "$2: not measured (no peer)"; elif [ "$1" = 1 ]; then echo "$2: met"; else echo "$2: NOT met"; fi; }
a_abs=$(awk -v a="${R[bron.rps]}" 'BEGIN {print (a >= 10000) ? 1 : 0}')
a_peer=$( [ $PEER = 1 ] && awk -v a="${R[bron.rps]}" -v b="${R[medplum.rps]}" 'BEGIN {print (a >= 5 * b) ? 1 : 0}' || echo "-")
a_lim=$(awk -v a="${R[bron.rps]}" -v b="${R[limit.rps]}" 'BEGIN {print (2 * a >= b) ? 1 : 0}')
aims=("$(aim "$a_abs" "Bron >= 10,000 resources/s (${R[bron.rps]})")"
      "$(aim "$a_peer" "Bron >= 5x peer ($r_peer)")"
      "$(aim "$a_lim" "Bron >= 50% of the limit ($r_lim)")")

notes=()
for t in bron medplum; do
    [ -n "${R[$t.failed]:-}" ] || continue
    if [ "${R[$t.failed]}" -gt 0 ]; then notes+=("$t: ${R[$t.failed]} of ${R[$t.bundles]} bundles failed; first: ${R[$t.samples]}"); fi
done
busy=()
for t in bron medplum limit; do
    if [ -n "${R[$t.cpu_other]:-}" ] && [ "${R[$t.cpu_other]}" -ge 20 ]; then busy+=("$t ${R[$t.cpu_other]}%"); fi
done
if [ ${#busy[@]} -gt 0 ]; then notes+=("other processes used CPU (% of one core) before the start: ${R[idle_busy]}%, during: ${busy[*]}; the figures are noisier"); fi
if [ "${R[bron.stop_rc]}" != 0 ]; then notes+=("bron: exit status ${R[bron.stop_rc]} after SIGTERM"); fi
if [ "${R[bron.loglines]}" -gt 0 ]; then notes+=("bron: ${R[bron.loglines]} unexpected lines in its log"); fi
if [ $PEER = 0 ]; then notes+=("Medplum peer not run"); fi

print_table() {  # print_table md|text
    local r f b p l x
    if [ "$1" = md ]; then
        echo "| figure | Bron | Medplum | limit |"
        echo "|---|---:|---:|---:|"
        for r in "${rows[@]}"; do IFS='|' read -r f b p l x <<<"$r"; echo "| $f | $b | $p | $l |"; done
        echo
        echo "Bron/peer: $r_peer; Bron/limit: $r_lim"
    else
        printf '%-44s %14s %14s %10s\n' "figure" "Bron" "Medplum" "limit"
        for r in "${rows[@]}"; do IFS='|' read -r f b p l x <<<"$r"; printf '%-44s %14s %14s %10s\n' "$f" "$b" "$p" "$l"; done
        echo
        echo "Bron/peer: $r_peer   Bron/limit: $r_lim"
    fi
}

MACHINE=$(machine_info)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
SETUP="$NB Synthea transaction Bundles (one patient each, ${R[bron.resources]} entries, ${R[bron.mbytes]} MB of JSON) after $NW warm-up Bundles, POSTed to the base by node fetch with $CONC in flight, loopback; Bron $REV, fresh store on $(fs_of "$BRON_DATA"), default --sync 1, every search index; Medplum peer in memory; limit: the same bodies and ${R[limit.rows]} index rows read back from Bron's store, replayed by bench/lib/ingest_limit.c into a fresh database with Bron's schema, one transaction per Bundle, WAL, synchronous=FULL, cache_size as Bron's (8 MiB)"

echo
echo "ingest benchmark, $DATE"
echo "machine: $MACHINE"
echo "setup:   $SETUP"
echo
print_table text
echo
for a in "${aims[@]}"; do echo "aim: $a"; done
for n in "${notes[@]}"; do echo "note: $n"; done

if [ "$RESULTS" != "-" ]; then
    {
        [ -s "$RESULTS" ] || printf '# Benchmark results\n\nAppended by `make bench` (bench/run.sh); newest last. Figures drift between machines and runs; compare ratios measured in the same run.\n'
        echo
        echo "## ingest, $DATE"
        echo
        echo "- machine: $MACHINE"
        echo "- setup: $SETUP"
        echo
        print_table md
        echo
        for a in "${aims[@]}"; do echo "- aim: $a"; done
        for n in "${notes[@]}"; do echo "- note: $n"; done
    } >>"$RESULTS"
    echo
    echo "appended to ${RESULTS#$ROOT/}"
fi
