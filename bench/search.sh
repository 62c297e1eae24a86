#!/bin/bash
# bench/search.sh - search speed (issue 4): the Synthea sample loaded into
# Bron and into the Medplum peer, a query mix with values drawn from the
# loaded data, p50/p95 latency and req/s per query on both in one run, match
# counts compared, then a Bron-only run on the larger sample and
# `bron reindex` of the whole store. Prints the tables and the issue-4 aims
# and appends a dated section to bench/RESULTS.md. With PostgreSQL installed,
# the Bron-only run is also made on Bron on PostgreSQL (a durable cluster,
# lib/common.sh) with the same data and values, each query on SQLite then on
# PostgreSQL, and a second section gives both and the ratios (issue 6).
#
# Env (defaults in brackets): BENCH_SEARCH_PATIENTS Synthea bundles (one
# patient each, first in name order) loaded into both servers [100];
# BENCH_SEARCH_FULL bundles for the Bron-only run, 0 = none [600];
# BENCH_SEARCH_DURATION seconds per query and server [4]; BENCH_SEARCH_CONNS
# requests in flight [4]; BENCH_SEARCH_SAMPLES values per query whose match
# counts are compared [3]; BENCH_SEARCH_TIMEOUT seconds one request may take
# [20]; BENCH_REINDEX_SECONDS most time given to the reindex [90];
# BENCH_SEARCH_PG 0 = leave PostgreSQL out [1];
# BENCH_RESULTS file to append to [bench/RESULTS.md; "-" = don't record];
# BRON_SHARED [../shared].

source "$(dirname "$0")/lib/common.sh"

N=${BENCH_SEARCH_PATIENTS:-100}
FULL=${BENCH_SEARCH_FULL:-600}
DUR=${BENCH_SEARCH_DURATION:-4}
WARM=2
CONNS=${BENCH_SEARCH_CONNS:-4}
SAMPLES=${BENCH_SEARCH_SAMPLES:-3}
TIMEOUT=${BENCH_SEARCH_TIMEOUT:-20}
REINDEX_MAX=${BENCH_REINDEX_SECONDS:-90}
SLOW_MS=1000          # a query the peer answers slower than this is timed from the check samples only
RESULTS=${BENCH_RESULTS:-$BENCH_DIR/RESULTS.md}
SYN=$SHARED/data/synthea
export BENCH_LIB=$LIB_DIR

if ! ls "$SYN"/*.json.gz >/dev/null 2>&1; then
    echo "search bench: no Synthea sample at $SYN (set BRON_SHARED); skipped"
    exit 0
fi
command -v node >/dev/null || { echo "search bench: node is not installed (make deps); skipped"; exit 0; }
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v curl >/dev/null || die "curl is not installed"
[ -x "$BRON_BIN" ] || die "$BRON_BIN is not built (run make)"
bench_tmpdir WORK search
VALUES="node $LIB_DIR/search-values.mjs"

mapfile -t ALL < <(ls "$SYN"/*.json.gz | sort)
[ "$N" -le ${#ALL[@]} ] || N=${#ALL[@]}
[ "$FULL" -le ${#ALL[@]} ] || FULL=${#ALL[@]}
[ "$FULL" -gt "$N" ] || FULL=0
printf '%s\n' "${ALL[@]:0:$N}" >"$WORK/files.small"
[ "$FULL" = 0 ] || printf '%s\n' "${ALL[@]:0:$FULL}" >"$WORK/files.full"

declare -A R
KEYS=(identifier name_birthdate obs_patient_code_date condition_code encounter_revinclude obs_code_value has chain sort_patient sort_all)
declare -A LABEL=(
    [identifier]='Patient?identifier='
    [name_birthdate]='Patient?name=&birthdate='
    [obs_patient_code_date]='Observation?patient=&code=&date=ge'
    [condition_code]='Condition?code='
    [encounter_revinclude]='Encounter?patient=&_revinclude=Observation:encounter'
    [obs_code_value]='Observation?code=&value-quantity=gt'
    [has]='Patient?_has:Observation:patient:code='
    [chain]='Observation?subject:Patient.name='
    [sort_patient]='Observation?patient=&_sort=-date&_count=50'
    [sort_all]='Observation?_sort=-date&_count=50 (no filter)'
)
SELECTIVE=(identifier name_birthdate obs_patient_code_date condition_code encounter_revinclude obs_code_value has chain sort_patient)

ms() { awk -v us="$1" 'BEGIN {printf (us < 10000 ? "%.2f" : "%.1f"), us / 1000}'; }

# wrk_run TAG PATHS URL PID SECONDS [pg]: wrk -t1 -cCONNS over the request paths in
# the file PATHS; R[TAG.p50_us|p95_us|okrps|ok|bad|requests|cpu_other|...];
# with "pg" the server runs on the PostgreSQL cluster: R[TAG.cpu_db] is its
# CPU (not in cpu_other).
wrk_run() {
    local tag=$1 paths=$2 url=$3 pid=$4 secs=$5 db=${6:-} out=$WORK/$1.wrk line kv code n ok=0
    local a0 p0 t0 a1 p1 t1 d0=0 d1=0 wt rc=0 TIMEFORMAT='%U %S'
    if [ -n "$db" ]; then d0=$(pg_ticks); fi
    a0=$(cpu_all); p0=$(cpu_pid "$pid"); t0=$(date +%s%N)
    { time BENCH_PATHS=$paths timeout $(( secs + TIMEOUT + 30 )) wrk -t1 -c"$CONNS" -d"${secs}s" --timeout "${TIMEOUT}s" \
        --latency -s "$LIB_DIR/search.lua" "$url" >"$out" 2>&1 || rc=$?; } 2>"$out.time"
    a1=$(cpu_all); p1=$(cpu_pid "$pid"); t1=$(date +%s%N)
    if [ -n "$db" ]; then d1=$(pg_ticks); fi
    [ $rc = 0 ] || { cat "$out" >&2; die "wrk failed ($tag, exit $rc)"; }
    wt=$(awk '{print $1 + $2}' "$out.time")
    read -r R[$tag.cpu_srv] R[$tag.cpu_other] R[$tag.cpu_db] < <(awk -v a="$((a1 - a0))" -v p="$((p1 - p0))" \
        -v d="$((d1 - d0))" -v w="$wt" -v hz="$CLK_TCK" -v ns="$((t1 - t0))" 'BEGIN {
            s = ns / 1e9; o = (a - p - d) / hz - w; if (o < 0) o = 0
            printf "%.0f %.0f %.0f\n", 100 * p / hz / s, 100 * o / s, 100 * d / hz / s }')
    line=$(grep '^BENCH ' "$out") || { cat "$out" >&2; die "wrk printed no figures ($tag)"; }
    for kv in ${line#BENCH }; do R[$tag.${kv%%=*}]=${kv#*=}; done
    line=$(grep '^BENCH_PCT ' "$out") || die "wrk printed no percentiles ($tag)"
    for kv in ${line#BENCH_PCT }; do R[$tag.${kv%%=*}]=${kv#*=}; done
    for kv in ${R[$tag.status]//,/ }; do
        code=${kv%%:*}; n=${kv#*:}
        if [ "$code" -ge 200 ] && [ "$code" -lt 300 ]; then ok=$(( ok + n )); fi
    done
    R[$tag.ok]=$ok
    R[$tag.okrps]=$(awk -v n="$ok" -v us="${R[$tag.duration_us]}" 'BEGIN {printf "%.0f", n / (us / 1e6)}')
    R[$tag.bad]=$(( R[$tag.requests] - ok + R[$tag.err_connect] + R[$tag.err_read] + R[$tag.err_write] + R[$tag.err_timeout] ))
    R[$tag.sample]=$(grep '^BENCH_BAD ' "$out" | head -1 | cut -c11-250 || true)
    R[$tag.src]=wrk
    log "  $tag: ${R[$tag.requests]} responses in ${secs}s, ${R[$tag.okrps]} 2xx/s, p50 $(ms "${R[$tag.p50_us]}") ms," \
        "p95 $(ms "${R[$tag.p95_us]}") ms, max $(ms "${R[$tag.max_us]}") ms${R[$tag.status]:+, statuses ${R[$tag.status]}};" \
        "CPU server ${R[$tag.cpu_srv]}%, ${db:+PostgreSQL ${R[$tag.cpu_db]}%, }other processes ${R[$tag.cpu_other]}%"
    if [ -n "${R[$tag.sample]}" ]; then log "    first non-2xx: ${R[$tag.sample]}"; fi
}

# from_samples TAG KEY CHECKFILE COLUMN: figures from the check samples (one
# request at a time) for a query the peer is too slow to load with wrk.
from_samples() {
    local tag=$1 key=$2 file=$3 col=$4 v
    v=$(awk -v k="$key" -v c="$col" '$1 == "CHECK" && $2 == k { split(substr($4, 4), m, ","); print m[c] }' "$file" | sort -n)
    [ -n "$v" ] || return 1
    R[$tag.n]=$(wc -l <<<"$v")
    R[$tag.p50_us]=$(awk '{a[NR] = $1} END {print int(1000 * a[int((NR + 1) / 2)])}' <<<"$v")
    R[$tag.p95_us]=$(awk '{a[NR] = $1} END {i = int(0.95 * NR + 0.999); if (i < 1) i = 1; print int(1000 * a[i])}' <<<"$v")
    R[$tag.okrps]=$(awk '{s += $1} END {r = (s > 0 ? 1000 * NR / s : 0); printf (r < 10 ? "%.2f" : "%.0f"), r}' <<<"$v")
    R[$tag.src]=samples
    log "  $tag: ${R[$tag.n]} request(s) one at a time (from the check): p50 $(ms "${R[$tag.p50_us]}") ms, max $(ms "${R[$tag.p95_us]}") ms"
}

# checks FILE PREFIX [ARRAY]: mismatches, timeouts and Bron's (the first
# server's) median match count per query (R[PREFIX.KEY.matches]), noted in
# ARRAY (default notes).
notes=()
pgnotes=()
checks() {
    local file=$1 pre=$2 key
    local -n _notes=${3:-notes}
    for key in "${KEYS[@]}"; do
        R[$pre.$key.matches]=$(awk -v k="$key" '$1 == "CHECK" && $2 == k { split(substr($5, 8), t, ","); print t[1] }' "$file" |
            sort -n | awk '{a[NR] = $1} END {print (NR ? a[int((NR + 1) / 2)] : "-")}')
    done
    for key in "${KEYS[@]}"; do
        if grep -q "^CHECK $key MISMATCH" "$file"; then R[$pre.$key.mismatch]=1; fi
    done
    while read -r line; do
        _notes+=("$pre: $line")
    done < <(awk '$1 == "CHECK" && $3 != "ok" { $1 = ""; $4 = ""; print substr($0, 2) }' "$file" | cut -c1-600)
}

# ---- Load the sample --------------------------------------------------------
R[idle_busy]=$(wait_quiet 30)
log "bench: other processes use ${R[idle_busy]}% of a core before the start"
REV=$(bron_rev)
DATA=$WORK/data

# import_data TAG FILELIST [STORE [JOBS]]: bron import --sync 0 into STORE
# (default $DATA; a postgresql:// URL takes JOBS imports in parallel, each a
# share of the files); R[TAG.loaded|secs|rate]
import_data() {
    local tag=$1 list=$2 store=${3:-$DATA} jobs=${4:-1} out=$WORK/$1.import rc=0 i t0 pids=() where share par=
    mapfile -t files <"$list"
    mapfile -t where < <(bron_store "$store"; bron_crypt)
    t0=$(date +%s%N)
    for (( i = 0; i < jobs; i++ )); do
        mapfile -t share < <(awk -v j="$jobs" -v i="$i" 'NR % j == i' "$list")
        "$BRON_BIN" import "${where[@]}" --sync 0 "${share[@]}" >"$out.$i" 2>&1 &
        pids+=($!); _BENCH_PIDS+=($!)
    done
    for (( i = 0; i < jobs; i++ )); do
        wait "${pids[$i]}" || { rc=$?; tail -20 "$out.$i" >&2; die "bron import failed ($tag, exit $rc)"; }
    done
    R[$tag.loaded]=$(cat "$out".* | awk '/^loaded:/ {n += $2} END {print n}')
    if [ "$jobs" = 1 ]; then
        R[$tag.secs]=$(awk '/^time:/ {print $2}' "$out.0")
        R[$tag.rate]=$(awk '/^rate:/ {print $2}' "$out.0")
    else
        R[$tag.secs]=$(awk -v ns="$(( $(date +%s%N) - t0 ))" 'BEGIN {printf "%.2f", ns / 1e9}')
        R[$tag.rate]=$(awk -v n="${R[$tag.loaded]}" -v s="${R[$tag.secs]}" 'BEGIN {printf "%.0f", n / s}')
        par=", $jobs imports in parallel"
    fi
    log "  $tag: ${R[$tag.loaded]} resources from ${#files[@]} bundles in ${R[$tag.secs]} s (${R[$tag.rate]}/s$par)"
}

log "bench: loading $N Synthea patients into Bron (bron import --data, --sync 0)"
import_data bron.import "$WORK/files.small"
start_bron "$DATA" "$WORK/bron.log"
log "bench: Bron $REV at $BRON_BASE, pid $BRON_PID"

PEER=0
if [ ! -d "$SHARED/peers/medplum" ]; then
    log "bench: no Medplum peer at $SHARED/peers/medplum; benchmarking Bron alone"
elif ! command -v npm >/dev/null; then
    log "bench: npm not installed; benchmarking Bron alone"
else
    start_medplum || die "the Medplum peer did not start"
    log "bench: Medplum peer at $MEDPLUM_BASE, pid $MEDPLUM_PID; loading the same $N patients (each bundle POSTed as a transaction, 2 at a time)"
    mapfile -t files <"$WORK/files.small"
    t0=$(date +%s%N); rc=0
    "$BRON_BIN" import --url "$MEDPLUM_BASE" --concurrency 2 "${files[@]}" >"$WORK/peer.import" 2>&1 || rc=$?
    [ $rc = 0 ] || { tail -20 "$WORK/peer.import" >&2; die "loading the peer failed (exit $rc)"; }
    R[peer.import.loaded]=$(awk '/^loaded:/ {print $2}' "$WORK/peer.import")
    R[peer.import.secs]=$(awk -v ns="$(( $(date +%s%N) - t0 ))" 'BEGIN {printf "%.1f", ns / 1e9}')
    log "  peer.import: ${R[peer.import.loaded]} resources in ${R[peer.import.secs]} s"
    PEER=1
fi

# ---- Side by side on the small sample ---------------------------------------
$VALUES plan "$WORK/files.small" "$WORK/plan.small.json" 200 >&2
$VALUES paths "$WORK/plan.small.json" "$BRON_BASE" "$WORK/paths.bron" >&2
if [ $PEER = 1 ]; then
    $VALUES paths "$WORK/plan.small.json" "$MEDPLUM_BASE" "$WORK/paths.peer" >&2
    # every query but the unfiltered sort (the peer may take minutes): match counts compared
    log "bench: comparing match counts (up to $SAMPLES values per query; the peer's slow queries once)"
    $VALUES check "$WORK/plan.small.json" "$SAMPLES" "$TIMEOUT" "$SLOW_MS" \
        "$(IFS=,; echo "${KEYS[*]:0:9}")" "$BRON_BASE" "$MEDPLUM_BASE" >"$WORK/check.small" || die "the check failed"
else
    $VALUES check "$WORK/plan.small.json" "$SAMPLES" "$TIMEOUT" "$SLOW_MS" all "$BRON_BASE" >"$WORK/check.small" || die "the check failed"
fi
cut -c1-400 "$WORK/check.small" | sed 's/^/  /' >&2

# the peer's fast queries (every check sample under SLOW_MS) run under wrk
declare -A PEER_WRK
if [ $PEER = 1 ]; then
    : >"$WORK/paths.peer/warm.paths"
    for key in "${KEYS[@]:0:9}"; do
        if awk -v k="$key" -v s="$SLOW_MS" '$1 == "CHECK" && $2 == k { split(substr($4, 4), m, ","); if (m[2] > s) slow = 1; n++ }
                END { exit (n > 0 && !slow) ? 0 : 1 }' "$WORK/check.small"; then
            PEER_WRK[$key]=1
            head -20 "$WORK/paths.peer/$key.paths" >>"$WORK/paths.peer/warm.paths"
        fi
    done
fi

log "bench: warm-up ${WARM}s per server, then ${DUR}s per query and server (wrk -t1 -c$CONNS, values varied)"
wrk_run bron.warm "$WORK/paths.bron/all.paths" "$BRON_BASE" "$BRON_PID" "$WARM" >/dev/null
if [ $PEER = 1 ] && [ -s "$WORK/paths.peer/warm.paths" ]; then
    wrk_run peer.warm "$WORK/paths.peer/warm.paths" "$MEDPLUM_BASE" "$MEDPLUM_PID" "$WARM" >/dev/null
fi
for key in "${KEYS[@]}"; do
    wait_quiet 1 >/dev/null
    wrk_run "bron.$key" "$WORK/paths.bron/$key.paths" "$BRON_BASE" "$BRON_PID" "$DUR"
    [ $PEER = 1 ] || continue
    if [ -n "${PEER_WRK[$key]:-}" ]; then
        wrk_run "peer.$key" "$WORK/paths.peer/$key.paths" "$MEDPLUM_BASE" "$MEDPLUM_PID" "$DUR"
    elif [ "$key" != sort_all ]; then
        from_samples "peer.$key" "$key" "$WORK/check.small" 2 || true
    fi
done
if [ $PEER = 1 ]; then
    # last on the peer, as it may not answer in time (it goes on computing, so it is stopped next)
    log "bench: the unfiltered _sort on the peer, once (at most ${TIMEOUT}s)"
    $VALUES check "$WORK/plan.small.json" 1 "$TIMEOUT" "$SLOW_MS" sort_all "$BRON_BASE" "$MEDPLUM_BASE" >>"$WORK/check.small" || die "the check failed"
    tail -1 "$WORK/check.small" | cut -c1-400 | sed 's/^/  /' >&2
    from_samples peer.sort_all sort_all "$WORK/check.small" 2 || true
    for key in "${KEYS[@]}"; do
        if grep -q "^CHECK $key TIMEOUT" "$WORK/check.small"; then R[peer.$key.timeout]=1; fi
    done
    R[peer.rss]=$(rss_kb "$MEDPLUM_PID")
    stop_pid "$MEDPLUM_PID"
fi
checks "$WORK/check.small" small
R[small.resources]=${R[bron.import.loaded]}
R[bron.rss.small]=$(rss_kb "$BRON_PID")

# ---- Bron alone on the full sample, on SQLite and on PostgreSQL ------------------
# The same bundles also go into a fresh database of a durable PostgreSQL
# cluster (lib/common.sh), served by a second Bron; each query runs on SQLite,
# then right after on PostgreSQL (both servers up; the idle one costs no CPU),
# with the same values.
PGRUN=0
if [ "$FULL" -gt 0 ]; then
    stop_pid "$BRON_PID"
    log "bench: loading $(( FULL - N )) more patients into Bron ($FULL in all)"
    tail -n +$(( N + 1 )) "$WORK/files.full" >"$WORK/files.rest"
    import_data bron.import2 "$WORK/files.rest"
    R[full.resources]=$(( R[bron.import.loaded] + R[bron.import2.loaded] ))
    if [ "${BENCH_SEARCH_PG:-1}" = 0 ]; then
        log "bench: BENCH_SEARCH_PG=0: Bron on PostgreSQL not measured"
    elif pg_start; then
        PGRUN=1
        PG_URL=$(pg_newdb search)
        R[pg.log0]=$(pg_log_lines)
        log "bench: loading the same $FULL patients into Bron on PostgreSQL $PG_VERSION (bron import --store, --sync 0, 2 at once)"
        import_data pg.import "$WORK/files.full" "$PG_URL" 2
        t0=$(date +%s%N)
        pg_sql search "VACUUM ANALYZE" || die "VACUUM ANALYZE failed"
        R[pg.analyze_secs]=$(awk -v ns="$(( $(date +%s%N) - t0 ))" 'BEGIN {printf "%.1f", ns / 1e9}')
        R[pg.dbsize]=$(pg_sql search "SELECT pg_database_size('search')")
        log "  VACUUM ANALYZE: ${R[pg.analyze_secs]} s; database $(( R[pg.dbsize] / 1000000 )) MB"
        start_bron "$PG_URL" "$WORK/pg.log"
        PGB_PID=$BRON_PID; PGB_BASE=$BRON_BASE
    fi
    start_bron "$DATA" "$WORK/bron2.log"
    $VALUES plan "$WORK/files.full" "$WORK/plan.full.json" 200 >&2
    $VALUES paths "$WORK/plan.full.json" "$BRON_BASE" "$WORK/paths.full" >&2
    $VALUES check "$WORK/plan.full.json" "$SAMPLES" "$TIMEOUT" "$SLOW_MS" all "$BRON_BASE" >"$WORK/check.full" || die "the check failed"
    checks "$WORK/check.full" full
    if [ $PGRUN = 1 ]; then
        $VALUES paths "$WORK/plan.full.json" "$PGB_BASE" "$WORK/paths.pg" >&2
        log "bench: comparing match counts on SQLite and PostgreSQL (up to $SAMPLES values per query)"
        BENCH_CHECK_LABELS=sqlite,postgresql $VALUES check "$WORK/plan.full.json" "$SAMPLES" "$TIMEOUT" "$SLOW_MS" all \
            "$BRON_BASE" "$PGB_BASE" >"$WORK/check.pg" || die "the check failed"
        cut -c1-400 "$WORK/check.pg" | sed 's/^/  /' >&2
        checks "$WORK/check.pg" pg pgnotes
    fi
    log "bench: Bron alone, $FULL patients: warm-up ${WARM}s, then ${DUR}s per query$([ $PGRUN = 0 ] || echo ", on SQLite then on PostgreSQL")"
    wrk_run full.warm "$WORK/paths.full/all.paths" "$BRON_BASE" "$BRON_PID" "$WARM" >/dev/null
    if [ $PGRUN = 1 ]; then wrk_run pg.warm "$WORK/paths.pg/all.paths" "$PGB_BASE" "$PGB_PID" "$WARM" pg >/dev/null; fi
    for key in "${KEYS[@]}"; do
        wait_quiet 1 >/dev/null
        wrk_run "full.$key" "$WORK/paths.full/$key.paths" "$BRON_BASE" "$BRON_PID" "$DUR"
        if [ $PGRUN = 1 ]; then wrk_run "pg.$key" "$WORK/paths.pg/$key.paths" "$PGB_BASE" "$PGB_PID" "$DUR" pg; fi
    done
    R[bron.rss.full]=$(rss_kb "$BRON_PID")
    if [ $PGRUN = 1 ]; then
        R[pg.rss]=$(rss_kb "$PGB_PID")
        R[pg.stop_rc]=0
        kill -TERM "$PGB_PID"; wait "$PGB_PID" || R[pg.stop_rc]=$?
        R[pg.loglines]=$(grep -cvE '^bron: (serving|SIGTERM received|stopped)' "$WORK/pg.log" || true)
        R[pg.pgerrors]=$(pg_log_errors "${R[pg.log0]}")
        pg_stop; PG_PM=
    fi
    AIMPRE=full; AIMSIZE="$FULL patients, ${R[full.resources]} resources"
else
    AIMPRE=bron; AIMSIZE="$N patients, ${R[small.resources]} resources"
fi
stop_pid "$BRON_PID"
R[dbsize]=$(du -sk "$DATA" | cut -f1)

# ---- Reindex of the whole store ----------------------------------------------
wait_quiet 5 >/dev/null
log "bench: bron reindex --data of the whole store (at most ${REINDEX_MAX}s)"
a0=$(cpu_all); rc=0
mapfile -t crypt < <(bron_crypt)
timeout -s INT "$REINDEX_MAX" "$BRON_BIN" reindex --data "$DATA" "${crypt[@]}" >"$WORK/reindex.log" 2>&1 || rc=$?
a1=$(cpu_all)
line=$(grep '^reindexed ' "$WORK/reindex.log" | tail -1 || true)
[ -n "$line" ] || { cat "$WORK/reindex.log" >&2; die "bron reindex printed nothing (exit $rc)"; }
read -r R[reindex.done] R[reindex.total] R[reindex.secs] < <(sed -E 's/^reindexed ([0-9]+) of ([0-9]+) resources in ([0-9.]+)s.*/\1 \2 \3/' <<<"$line")
R[reindex.rate]=$(awk -v n="${R[reindex.done]}" -v s="${R[reindex.secs]}" 'BEGIN {printf "%.0f", (s > 0 ? n / s : 0)}')
R[reindex.cpu_all]=$(awk -v d="$((a1 - a0))" -v hz="$CLK_TCK" -v s="${R[reindex.secs]}" 'BEGIN {printf "%.0f", (s > 0 ? 100 * d / hz / s : 0)}')
log "  reindex: $line (exit $rc; the whole machine busy ${R[reindex.cpu_all]}% of a core meanwhile)"
if [ "${R[reindex.done]}" != "${R[reindex.total]}" ]; then
    notes+=("reindex stopped after ${REINDEX_MAX}s at ${R[reindex.done]} of ${R[reindex.total]} resources; the rate is over that part")
fi

# ---- Report -----------------------------------------------------------------
fig() { [ -n "${R[$1.p50_us]:-}" ] && echo "$(ms "${R[$1.p50_us]}")|$(ms "${R[$1.p95_us]}")|${R[$1.okrps]}${R[$1.n]:+ *}" || echo "-|-|-"; }
rows_small=()
for key in "${KEYS[@]}"; do
    IFS='|' read -r b50 b95 brps <<<"$(fig "bron.$key")"
    if [ $PEER = 1 ]; then
        if [ -n "${R[peer.$key.timeout]:-}" ]; then
            p50="> ${TIMEOUT}000"; p95="> ${TIMEOUT}000"; prps="< $(awk -v t="$TIMEOUT" 'BEGIN {printf "%.2f", 1 / t}')"
            x95="> $(awk -v a="${TIMEOUT}000" -v b="$b95" 'BEGIN {if (b > 0) printf "%.0fx", a / b; else printf "-"}')"; xrps="-"
        else
            IFS='|' read -r p50 p95 prps <<<"$(fig "peer.$key")"
            x95=$(awk -v a="${R[peer.$key.p95_us]:-0}" -v b="${R[bron.$key.p95_us]:-0}" 'BEGIN {if (a > 0 && b > 0) printf "%.1fx", a / b; else printf "-"}')
            xrps=$(awk -v a="${R[bron.$key.okrps]:-0}" -v b="${R[peer.$key.okrps]:-0}" 'BEGIN {if (a > 0 && b > 0) printf "%.1fx", a / b; else printf "-"}')
        fi
    else
        p50=-; p95=-; prps=-; x95=-; xrps=-
    fi
    if [ -n "${R[small.$key.mismatch]:-}" ]; then x95+=" †"; xrps+=" †"; fi
    rows_small+=("${LABEL[$key]}|${R[small.$key.matches]}|$b50|$b95|$brps|$p50|$p95|$prps|$x95|$xrps")
done
rows_full=()
aims=()
declare -A isSel
for key in "${SELECTIVE[@]}"; do isSel[$key]=1; done
missed=()
for key in "${KEYS[@]}"; do
    if [ "$FULL" -gt 0 ]; then
        IFS='|' read -r b50 b95 brps <<<"$(fig "full.$key")"
        rows_full+=("${LABEL[$key]}|${R[full.$key.matches]}|$b50|$b95|$brps|${isSel[$key]:+$(awk -v u="${R[full.$key.p95_us]}" 'BEGIN {print (u < 10000) ? "met" : "NOT met"}')}")
    fi
    if [ -n "${isSel[$key]:-}" ] && [ "${R[$AIMPRE.$key.p95_us]}" -ge 10000 ]; then missed+=("${LABEL[$key]} ($(ms "${R[$AIMPRE.$key.p95_us]}") ms)"); fi
done
if [ ${#missed[@]} = 0 ]; then
    aims+=("Bron p95 < 10 ms for every selective query ($AIMSIZE): met")
else
    aims+=("Bron p95 < 10 ms for every selective query ($AIMSIZE): NOT met by ${missed[*]}")
fi
aims+=("reindex >= 20,000 resources/s: $(awk -v r="${R[reindex.rate]}" 'BEGIN {print (r >= 20000) ? "met" : "NOT met"}') (${R[reindex.rate]}/s)")

# run_notes REGEX ARRAY: failed requests and a busy machine during the runs
# whose tag matches REGEX, noted in ARRAY
run_notes() {
    local tag busy=()
    local -n _notes=$2
    for tag in $(printf '%s\n' "${!R[@]}" | sed -n 's/\.requests$//p' | grep -E "$1" | sort -V); do
        if [ "${R[$tag.bad]:-0}" -gt 0 ]; then
            _notes+=("$tag: ${R[$tag.bad]} of ${R[$tag.requests]} requests failed (statuses ${R[$tag.status]:-none}; socket errors c/r/w/t ${R[$tag.err_connect]}/${R[$tag.err_read]}/${R[$tag.err_write]}/${R[$tag.err_timeout]})${R[$tag.sample]:+; first: ${R[$tag.sample]}}")
        fi
    done
    for tag in $(printf '%s\n' "${!R[@]}" | sed -n 's/\.cpu_other$//p' | grep -E "$1" | sort -V); do
        if [ "${R[$tag.cpu_other]}" -ge 20 ]; then busy+=("$tag ${R[$tag.cpu_other]}%"); fi
    done
    if [ ${#busy[@]} -gt 0 ]; then _notes+=("other processes used CPU (% of one core) before the start: ${R[idle_busy]}%, during: ${busy[*]}; the figures are noisier"); fi
}
run_notes '^(bron|peer|full)\.' notes
if [ "${R[reindex.cpu_all]}" -ge 120 ]; then notes+=("during the reindex the machine was busy ${R[reindex.cpu_all]}% of a core in all (the reindex included)"); fi
if [ $PEER = 0 ]; then notes+=("Medplum peer not run; Bron alone"); fi

MACHINE=$(machine_info)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
SETUP="first $N of the ${#ALL[@]} Synthea bundles (${R[small.resources]} resources) loaded into Bron (bron import --data, ${R[bron.import.secs]} s) and into the Medplum peer (each bundle POSTed as a transaction${R[peer.import.secs]:+, ${R[peer.import.secs]} s}); wrk -t1 -c$CONNS, ${DUR}s per query and server after ${WARM}s warm-up, 200 values per query drawn from the loaded data, loopback; Bron $REV (SQLite store on $(fs_of "$WORK")); Medplum peer in memory, no indexes"
[ "$FULL" = 0 ] || SETUP+="; then Bron alone with the first $FULL bundles (${R[full.resources]} resources, data dir $(awk -v k="${R[dbsize]}" 'BEGIN {printf "%.0f", k * 1024 / 1e6}') MB)"

small_table() {  # small_table md|text
    TABLE_CODE=1 table "$1" "query|matches|Bron p50|Bron p95|Bron req/s|peer p50|peer p95|peer req/s|p95 peer/Bron|req/s Bron/peer" \
        "query|matches|B p50|B p95|B r/s|peer p50|peer p95|peer r/s|p95 x|r/s x" '%-54s %7s %8s %8s %7s %9s %9s %8s %8s %8s' "${rows_small[@]}"
}
full_table() {  # full_table md|text ROW...
    local f=$1; shift
    TABLE_CODE=1 TABLE_RULE='|---|---:|---:|---:|---:|---|' table "$f" "query|matches|p50 ms|p95 ms|req/s|p95 < 10 ms" \
        "query|matches|p50|p95|r/s|p95<10ms" '%-54s %7s %8s %8s %7s %s' "$@"
}
print_tables() {  # print_tables md|text
    if [ "$1" = md ]; then
        echo "Side by side, $N patients (${R[small.resources]} resources); latencies in ms; matches = Bron's median over the compared values:"
        echo
        small_table md
        echo
        echo "† the two servers' answers differed for this query (see the notes), so the ratio compares different work."
        echo
        echo "\\* the peer answered the first value of this query in over ${SLOW_MS} ms, so it was not loaded with wrk: its figures come from the compared values, one request at a time (req/s = 1 / mean latency)."
        if [ "$FULL" -gt 0 ]; then
            echo
            echo "Bron alone, $FULL patients (${R[full.resources]} resources):"
            echo
            full_table md "${rows_full[@]/%|/|(not selective)}"
        fi
        echo
        echo "Reindex (\`bron reindex --data\`, server stopped): ${R[reindex.done]} of ${R[reindex.total]} resources in ${R[reindex.secs]} s = ${R[reindex.rate]} resources/s."
    else
        printf 'side by side, %s patients (%s resources); ms; matches = Bron median\n' "$N" "${R[small.resources]}"
        small_table text
        echo "(* peer figures from the check samples, one request at a time; † the servers' answers differed, see the notes)"
        if [ "$FULL" -gt 0 ]; then
            echo
            printf 'Bron alone, %s patients (%s resources)\n' "$FULL" "${R[full.resources]}"
            full_table text "${rows_full[@]/%|/|-}"
        fi
        echo
        echo "reindex: ${R[reindex.done]} of ${R[reindex.total]} resources in ${R[reindex.secs]} s = ${R[reindex.rate]}/s"
    fi
}

report search print_tables

# ---- Report: Bron on SQLite and on PostgreSQL ------------------------------------
[ $PGRUN = 1 ] || exit 0
xratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a > 0 && b > 0) printf "%.2fx", a / b; else printf "-"}'; }
rows_pg=()
missed=()
for key in "${KEYS[@]}"; do
    IFS='|' read -r s50 s95 srps <<<"$(fig "full.$key")"
    IFS='|' read -r g50 g95 grps <<<"$(fig "pg.$key")"
    x95=$(xratio "${R[pg.$key.p95_us]:-0}" "${R[full.$key.p95_us]:-0}")
    xrps=$(xratio "${R[pg.$key.okrps]:-0}" "${R[full.$key.okrps]:-0}")
    if [ -n "${R[pg.$key.mismatch]:-}" ]; then x95+=" †"; xrps+=" †"; fi
    rows_pg+=("${LABEL[$key]}|${R[pg.$key.matches]}|$s50|$s95|$srps|$g50|$g95|$grps|$x95|$xrps")
    if [ -n "${isSel[$key]:-}" ] && [ "${R[pg.$key.p95_us]}" -ge 10000 ]; then missed+=("${LABEL[$key]} ($(ms "${R[pg.$key.p95_us]}") ms)"); fi
done
print_engines() {  # print_engines md|text
    if [ "$1" = md ]; then
        echo "$FULL patients (${R[full.resources]} resources) on each engine; latencies in ms; matches = SQLite's median over the compared values; the SQLite figures are those of the Bron-alone table of the search section of this run:"
        echo
    else
        printf '%s patients (%s resources) on each engine; ms; matches = SQLite median\n' "$FULL" "${R[full.resources]}"
    fi
    TABLE_CODE=1 table "$1" "query|matches|SQLite p50|SQLite p95|SQLite req/s|PostgreSQL p50|PostgreSQL p95|PostgreSQL req/s|p95 PostgreSQL/SQLite|req/s PostgreSQL/SQLite" \
        "query|matches|SQ p50|SQ p95|SQ r/s|PG p50|PG p95|PG r/s|p95 x|r/s x" '%-54s %7s %8s %8s %7s %8s %8s %7s %8s %8s' "${rows_pg[@]}"
    if [ "$1" = md ]; then
        echo
        echo "† the two engines' answers differed for this query (see the notes)."
    else
        echo "(x = PostgreSQL/SQLite; † the engines' answers differed, see the notes)"
    fi
}
if [ ${#missed[@]} = 0 ]; then
    aims=("(issue 4's aim, on PostgreSQL) p95 < 10 ms for every selective query ($AIMSIZE): met")
else
    aims=("(issue 4's aim, on PostgreSQL) p95 < 10 ms for every selective query ($AIMSIZE): NOT met by ${missed[*]}")
fi
notes=("${pgnotes[@]}")
if [ ${#notes[@]} = 0 ]; then notes+=("SQLite and PostgreSQL gave the same answers for every compared value ($(grep -c '^CHECK ' "$WORK/check.pg") values)"); fi
run_notes '^pg\.' notes
if [ "${R[pg.stop_rc]}" != 0 ]; then notes+=("bron on PostgreSQL: exit status ${R[pg.stop_rc]} after SIGTERM"); fi
if [ "${R[pg.loglines]}" -gt 0 ]; then notes+=("bron on PostgreSQL: ${R[pg.loglines]} unexpected lines in its log"); fi
if [ "${R[pg.pgerrors]%%:*}" != 0 ]; then notes+=("errors in PostgreSQL's log ${R[pg.pgerrors]}"); fi
SETUP="the first $FULL of the ${#ALL[@]} Synthea bundles (${R[full.resources]} resources) in Bron on SQLite (as above: bron import --data --sync 0, data dir $(awk -v k="${R[dbsize]}" 'BEGIN {printf "%.0f", k * 1024 / 1e6}') MB) and on PostgreSQL $PG_VERSION (a fresh database of a throwaway cluster on $(fs_of "$PG_DIR"), Unix socket, fsync, synchronous_commit and full_page_writes on, ${PG_BENCH_CONF//$'\n'/, }; 2 bron import --store --sync 0 at once, ${R[pg.import.secs]} s = ${R[pg.import.rate]} resources/s, then VACUUM ANALYZE, ${R[pg.analyze_secs]} s; database $(( R[pg.dbsize] / 1000000 )) MB); the same 200 values per query on both (each engine's own Patient ids), wrk -t1 -c$CONNS, ${DUR}s per query and engine after ${WARM}s warm-up, each query on SQLite then right after on PostgreSQL, both servers up, loopback; Bron $REV"
report "search on both engines" print_engines
