#!/bin/bash
# bench/ingest.sh - ingest throughput (issue 5): the Synthea transaction
# Bundles of $BRON_SHARED/data/synthea POSTed with 4 clients in flight to a
# fresh `bron serve` (default --sync 1, every search index on), then to the
# Medplum peer (in memory), then the raw SQLite limit: the same resource
# bodies and index rows, read back from Bron's store, inserted straight into
# a fresh database with the same schema, one transaction per Bundle
# (bench/lib/ingest_limit.c). Prints resources/s of all three, Bron/peer,
# Bron/limit and the issue-5 aims, and appends a dated section to
# bench/RESULTS.md. With PostgreSQL installed, right after Bron on SQLite the
# same Bundles go to Bron on PostgreSQL (a durable cluster, lib/common.sh):
# one process, then two processes on one database; a second section gives
# PostgreSQL/SQLite and two processes/one (issue 6).
#
# Env (defaults in brackets): BENCH_INGEST_BUNDLES Bundles measured, one
# patient each [120], BENCH_INGEST_WARM further Bundles posted one by one
# before the clock starts, not counted [4], BENCH_INGEST_CONC requests in
# flight [4], BENCH_INGEST_PG 0 = leave PostgreSQL out [1], BENCH_RESULTS file
# to append to [bench/RESULTS.md; "-" = don't record], BRON_SHARED
# [../shared], BRON_BIN [./bron].

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

io_wbytes() { awk '/^write_bytes:/ {print $2}' "/proc/$1/io" 2>/dev/null || echo 0; }

# The limit program, built now so that a compile error fails early.
cc -O2 -Wall -o "$WORK/ingest_limit" "$LIB_DIR/ingest_limit.c" -lsqlite3 || die "cannot build bench/lib/ingest_limit.c (libsqlite3-dev?)"

# load TAG CONC BASES PIDS [MAPFILE]: post the bundles with CONC in flight to
# BASES (comma-separated: servers on one database share the client's
# workers), served by the processes PIDS (space-separated); R[TAG.*] from the
# BENCH line, R[TAG.cpu_srv|cpu_cli|cpu_other] % of one core used by the
# server(s), the client, everything else, R[TAG.cpu_each] by each server
# ("a + b"), R[TAG.cpu_db] by PostgreSQL while a cluster runs (PG_PM set; not
# in cpu_other); R[TAG.wbytes] bytes the server(s) wrote.
load() {
    local tag=$1 conc=$2 base=$3 map=${5:-} out=$WORK/$1.out line kv pid pids
    read -ra pids <<<"$4"
    local a0 t0 a1 t1 d0=0 d1=0 w0=0 w1=0 p0=() p1=() ct rc=0 TIMEFORMAT='%U %S'
    for pid in "${pids[@]}"; do w0=$(( w0 + $(io_wbytes "$pid") )); p0+=("$(cpu_pid "$pid")"); done
    if [ -n "${PG_PM:-}" ]; then d0=$(pg_ticks); fi
    a0=$(cpu_all); t0=$(date +%s%N)
    { time timeout 600 node "$LIB_DIR/ingest_post.mjs" --base "$base" --conc "$conc" --warm "$NW" \
        ${map:+--map "$map"} "${FILES[@]}" >"$out" 2>&1 || rc=$?; } 2>"$out.time"
    a1=$(cpu_all); t1=$(date +%s%N)
    if [ -n "${PG_PM:-}" ]; then d1=$(pg_ticks); fi
    for pid in "${pids[@]}"; do w1=$(( w1 + $(io_wbytes "$pid") )); p1+=("$(cpu_pid "$pid")"); done
    [ $rc = 0 ] || { cat "$out" >&2; die "the ingest client failed ($tag, exit $rc)"; }
    line=$(grep '^BENCH ' "$out") || { cat "$out" >&2; die "the ingest client printed no figures ($tag)"; }
    for kv in ${line#BENCH }; do R[$tag.${kv%%=*}]=${kv#*=}; done
    R[$tag.wbytes]=$(( w1 - w0 ))
    ct=$(awk '{print $1 + $2}' "$out.time")
    # the client's CPU includes reading and gunzipping every file before the clock
    read -r R[$tag.cpu_s] R[$tag.cpu_db_s] R[$tag.cpu_srv] R[$tag.cpu_db] R[$tag.cpu_cli] R[$tag.cpu_other] R[$tag.cpu_each] < <(
        awk -v a="$((a1 - a0))" -v p0="${p0[*]}" -v p1="${p1[*]}" -v d="$((d1 - d0))" \
        -v c="$ct" -v hz="$CLK_TCK" -v ns="$((t1 - t0))" 'BEGIN {
            s = ns / 1e9; n = split(p0, b); split(p1, e); p = 0; each = ""
            for (i = 1; i <= n; i++) { p += e[i] - b[i]; each = each (i > 1 ? "+" : "") sprintf("%.0f", 100 * (e[i] - b[i]) / hz / s) }
            o = (a - p - d) / hz - c; if (o < 0) o = 0
            printf "%.2f %.2f %.0f %.0f %.0f %.0f %s\n", p / hz, d / hz, 100 * p / hz / s, 100 * d / hz / s, 100 * c / s, 100 * o / s, each }')
    R[$tag.samples]=$(grep '^BENCH_BAD ' "$out" | head -1 | cut -c11-310 || true)
    log "  $tag: ${R[$tag.ok]} of ${R[$tag.bundles]} bundles, ${R[$tag.resources]} resources in ${R[$tag.secs]} s:" \
        "${R[$tag.rps]} resources/s (bundle p50 ${R[$tag.p50_ms]} ms, max ${R[$tag.max_ms]} ms);" \
        "CPU server ${R[$tag.cpu_srv]}%${R[$tag.resources_by_base]:+ (${R[$tag.cpu_each]//+/% + }%)}," \
        "${PG_PM:+PostgreSQL ${R[$tag.cpu_db]}%, }client ${R[$tag.cpu_cli]}%, other processes ${R[$tag.cpu_other]}%"
    if [ -n "${R[$tag.samples]}" ]; then grep '^BENCH_BAD ' "$out" | sed 's/^BENCH_BAD /    failed: /' >&2; fi
}

R[idle_busy]=$(wait_quiet 30)
log "bench: other processes use ${R[idle_busy]}% of a core before the start"
log "bench: $NB Synthea bundles measured (+$NW warm-up), $CONC in flight, each POSTed to the base as a transaction"

# ---- Bron ---------------------------------------------------------------------
bench_tmpdir BRON_DATA bron-ingest
start_bron "$BRON_DATA/data" "$WORK/bron.log"
REV=$(bron_rev)
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
load bron "$CONC" "$BRON_BASE" "$BRON_PID" "$WORK/bron.map"
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

# ---- Bron on PostgreSQL: one process, then two on one database ------------------
# Each run on a fresh database of one durable cluster (lib/common.sh: fsync and
# synchronous_commit on, as Bron's SQLite store fsyncs every commit), dropped
# after it. Two processes: two `bron serve` on one database, the client's
# workers alternating between them, first with CONC in flight in all (as the
# one process had), then CONC per process.

# pg_counters DB: "WAL bytes so far, commits in DB, WAL syncs"
pg_counters() {
    pg_sql postgres "SELECT pg_current_wal_lsn() - '0/0', (SELECT xact_commit FROM pg_stat_database WHERE datname = '$1'),
        (SELECT wal_sync FROM pg_stat_wal)" | tr '|' ' '
}

# pg_ingest TAG PROCESSES CONC: R[TAG.*] as load gives, and R[TAG.walbytes|
# commits|walsyncs|rss|stop_rc|loglines]
pg_ingest() {
    local tag=$1 n=$2 conc=$3 url i bases=() pids=() rss=() rc c0 c1 l0
    url=$(pg_newdb "$tag")
    l0=$(pg_log_lines)
    for i in $(seq 1 "$n"); do
        start_bron "$url" "$WORK/$tag.$i.log"
        bases+=("$BRON_BASE"); pids+=("$BRON_PID")
    done
    log "bench: $n Bron process(es) on one PostgreSQL database (pid ${pids[*]}), $conc in flight in all"
    wait_quiet 10 >/dev/null
    c0=$(pg_counters "$tag")
    load "$tag" "$conc" "$(IFS=,; echo "${bases[*]}")" "${pids[*]}"
    R[$tag.stop_rc]=0; R[$tag.loglines]=0
    for i in "${!pids[@]}"; do
        rss+=("$(awk -v k="$(rss_kb "${pids[$i]}")" 'BEGIN {printf "%.1f", k * 1024 / 1e6}')")
        rc=0; kill -TERM "${pids[$i]}"; wait "${pids[$i]}" || rc=$?
        [ $rc = 0 ] || R[$tag.stop_rc]=$rc
        R[$tag.loglines]=$(( R[$tag.loglines] + $(grep -cvE '^bron: (serving|SIGTERM received|stopped)' "$WORK/$tag.$(( i + 1 )).log" || true) ))
    done
    R[$tag.rss]=$(IFS=+; echo "${rss[*]}")
    c1=$(pg_counters "$tag")   # after the servers stopped: their backends' statistics are flushed
    read -r R[$tag.walbytes] R[$tag.commits] R[$tag.walsyncs] < <(awk -v a="$c0" -v b="$c1" 'BEGIN {
        split(a, x, " "); split(b, y, " "); printf "%.0f %d %d\n", y[1] - x[1], y[2] - x[2], y[3] - x[3] }')
    R[$tag.pgerrors]=$(pg_log_errors "$l0")
    log "  $tag: ${R[$tag.commits]} commits, ${R[$tag.walsyncs]} WAL syncs, $(( R[$tag.walbytes] / 1048576 )) MiB of WAL;" \
        "errors in PostgreSQL's log: ${R[$tag.pgerrors]}"
    pg_sql postgres "DROP DATABASE $tag" || die "cannot drop database $tag"
    [ "${R[$tag.ok]}" -gt 0 ] || die "bron on PostgreSQL: no bundle loaded ($tag)"
}

PGRUN=0
if [ "${BENCH_INGEST_PG:-1}" = 0 ]; then
    log "bench: BENCH_INGEST_PG=0: Bron on PostgreSQL not measured"
elif pg_start; then
    log "bench: PostgreSQL $PG_VERSION in $PG_DIR (fsync, synchronous_commit, full_page_writes on; ${PG_BENCH_CONF//$'\n'/, })"
    pg_ingest pg1 1 "$CONC"
    pg_ingest pg2 2 "$CONC"
    pg_ingest pg2x 2 $(( 2 * CONC ))
    pg_stop; PG_PM=
    PGRUN=1
fi

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
    load medplum "$CONC" "$MEDPLUM_BASE" "$MEDPLUM_PID"
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
    table "$1" "figure|Bron|Medplum|limit" "figure|Bron|Medplum|limit" '%-44s %14s %14s %10s' "${rows[@]}"
    echo
    if [ "$1" = md ]; then echo "Bron/peer: $r_peer; Bron/limit: $r_lim"; else echo "Bron/peer: $r_peer   Bron/limit: $r_lim"; fi
}

MACHINE=$(machine_info)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
SETUP="$NB Synthea transaction Bundles (one patient each, ${R[bron.resources]} entries, ${R[bron.mbytes]} MB of JSON) after $NW warm-up Bundles, POSTed to the base by node fetch with $CONC in flight, loopback; Bron $REV, fresh store on $(fs_of "$BRON_DATA"), default --sync 1, every search index; Medplum peer in memory; limit: the same bodies and ${R[limit.rows]} index rows read back from Bron's store, replayed by bench/lib/ingest_limit.c into a fresh database with Bron's schema, one transaction per Bundle, WAL, synchronous=FULL, cache_size as Bron's (8 MiB)"

report ingest print_table

# ---- Report: Bron on SQLite and on PostgreSQL ------------------------------------
[ $PGRUN = 1 ] || exit 0
H=$(( CONC / 2 > 0 ? CONC / 2 : 1 ))
TAGS=(pg1 pg2 pg2x)
erows=()
erow() { erows+=("$1|$2|$3|$4|$5"); }
pgrow() {  # pgrow LABEL SQLITE FUNC: one row, FUNC TAG giving each PostgreSQL figure
    local label=$1 sq=$2 f=$3 t v=()
    for t in "${TAGS[@]}"; do v+=("$("$f" "$t")"); done
    erow "$label" "$sq" "${v[@]}"
}
f_rps() { echo "${R[$1.rps]}"; }
f_secs() { echo "${R[$1.secs]}"; }
f_lat() { echo "${R[$1.p50_ms]} / ${R[$1.max_ms]}"; }
f_split() { echo "${R[$1.resources_by_base]:+${R[$1.resources_by_base]//,/ + }}"; }
f_bron() { echo "${R[$1.cpu_each]//+/ + }"; }
f_db() { echo "${R[$1.cpu_db]}"; }
f_cli() { echo "${R[$1.cpu_cli]}"; }
f_other() { echo "${R[$1.cpu_other]}"; }
f_us() { us_per "$(awk -v a="${R[$1.cpu_s]}" -v b="${R[$1.cpu_db_s]}" 'BEGIN {print a + b}')" "${R[$1.resources]}"; }
f_commits() { echo "${R[$1.commits]}"; }
f_syncs() { echo "${R[$1.walsyncs]}"; }
f_wal() { perres "${R[$1.walbytes]}" "${R[$1.resources]}"; }
f_rss() { echo "${R[$1.rss]//+/ + }"; }
pgrow "resources/s" "${R[bron.rps]}" f_rps
pgrow "seconds" "${R[bron.secs]}" f_secs
pgrow "bundle latency p50 / max ms" "${R[bron.p50_ms]} / ${R[bron.max_ms]}" f_lat
pgrow "resources loaded through each process" "" f_split
pgrow "CPU, % of one core: Bron (each process)" "${R[bron.cpu_srv]}" f_bron
pgrow "  PostgreSQL (backends, WAL writer, autovacuum...)" "" f_db
pgrow "  the client (node)" "${R[bron.cpu_cli]}" f_cli
pgrow "  other processes" "${R[bron.cpu_other]}" f_other
pgrow "CPU µs per resource, Bron + PostgreSQL (incl. warm-up)" "$(us_per "${R[bron.cpu_s]}" "${R[bron.resources]}")" f_us
pgrow "commits (incl. warm-up; PostgreSQL: every transaction, reads too)" "${R[bron.commits]:+~${R[bron.commits]}}" f_commits
pgrow "WAL syncs" "" f_syncs
pgrow "KiB written per resource (SQLite: the store; PostgreSQL: WAL)" "$(perres "${R[bron.wbytes]}" "${R[bron.resources]}")" f_wal
pgrow "Bron RSS after the load MB" "$(awk -v k="${R[bron.rss]}" 'BEGIN {printf "%.1f", k * 1024 / 1e6}')" f_rss

r_eng=$(ratio "${R[pg1.rps]}" "${R[bron.rps]}")
r_two=$(ratio "${R[pg2.rps]}" "${R[pg1.rps]}")
r_twox=$(ratio "${R[pg2x.rps]}" "${R[pg1.rps]}")
RATIOS="PostgreSQL/SQLite, one process: $r_eng; two processes/one: $r_twox with $CONC in flight per process ($(( 2 * CONC )) in all), $r_two with $CONC in all ($H per process)"
print_engines() {  # print_engines md|text
    local head="figure|SQLite|PostgreSQL|PG, 2 processes x $H|PG, 2 processes x $CONC"
    echo "In flight: $CONC for one process; two processes: $H each ($CONC in all, as one process) or $CONC each ($(( 2 * CONC )) in all). CPU in % of one core; the machine has $(nproc) cores, $(( 100 * $(nproc) ))% in all."
    echo
    table "$1" "$head" "$head" '%-62s %9s %11s %21s %21s' "${erows[@]}"
    echo
    echo "$RATIOS"
}

met() { awk -v a="$1" -v b="$2" 'BEGIN {print (a >= b) ? "met" : "NOT met"}'; }
aims=("PostgreSQL >= 50% of SQLite, one process ($r_eng): $(met "$(awk -v a="${R[pg1.rps]}" -v b="${R[bron.rps]}" 'BEGIN {print a / b}')" 0.5)"
      "two Bron processes on one PostgreSQL >= 1.5x one, $CONC in flight per process ($r_twox): $(met "$(awk -v a="${R[pg2x.rps]}" -v b="${R[pg1.rps]}" 'BEGIN {print a / b}')" 1.5) (with $CONC in flight in all: $r_two)")
notes=()
for t in "${TAGS[@]}"; do
    if [ "${R[$t.failed]}" -gt 0 ]; then notes+=("$t: ${R[$t.failed]} of ${R[$t.bundles]} bundles failed; first: ${R[$t.samples]}"); fi
    if [ "${R[$t.stop_rc]}" != 0 ]; then notes+=("$t: a Bron process exited with status ${R[$t.stop_rc]} after SIGTERM"); fi
    if [ "${R[$t.loglines]}" -gt 0 ]; then notes+=("$t: ${R[$t.loglines]} unexpected lines in the Bron logs"); fi
    if [ "${R[$t.pgerrors]%%:*}" != 0 ]; then notes+=("$t: errors in PostgreSQL's log ${R[$t.pgerrors]}"); fi
done
for t in pg2 pg2x; do
    notes+=("CPU shared ($t, % of one core, $(( 100 * $(nproc) )) in all): Bron ${R[$t.cpu_each]//+/% + }%, PostgreSQL ${R[$t.cpu_db]}%, client ${R[$t.cpu_cli]}%, other processes ${R[$t.cpu_other]}%")
done
busy=()
for t in bron "${TAGS[@]}"; do
    if [ "${R[$t.cpu_other]}" -ge 20 ]; then busy+=("$t ${R[$t.cpu_other]}%"); fi
done
if [ ${#busy[@]} -gt 0 ]; then notes+=("other processes used CPU (% of one core) during: ${busy[*]}; the figures are noisier"); fi
SETUP="the same $NB Synthea transaction Bundles after $NW warm-up Bundles and the same client as above, loopback; SQLite: the Bron column above (same run); PostgreSQL $PG_VERSION: a throwaway cluster on $(fs_of "$PG_DIR"), Unix socket, fsync, synchronous_commit and full_page_writes on (durable commits, as Bron's --sync 1), ${PG_BENCH_CONF//$'\n'/, }; a fresh database per run (schema by bron migrate), dropped after it; Bron $REV with its defaults (--sync 1, 4 writer connections and threads + 4 reader connections per process); two processes: two bron serve on one database, the client's workers alternating between them, each Bundle posted by whichever worker takes it next"
report "ingest on both engines" print_engines
