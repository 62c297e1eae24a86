#!/bin/bash
# bench/crud.sh - create/read throughput, latency and memory: Bron against the
# Medplum peer (../shared/peers/medplum), both measured in this run with wrk on
# loopback. Prints a side-by-side table with Bron/peer ratios and the issue-2
# aims, and appends a dated section to bench/RESULTS.md.
#
# Env (defaults in brackets): BENCH_DURATION seconds per measurement [10],
# BENCH_WARMUP seconds of warm-up per server [3], BENCH_CREATES creates Bron
# must reach before its memory is read [100000], BENCH_FILL_SECONDS most time
# spent reaching them after the measurements [150], BENCH_RESULTS file to
# append to [bench/RESULTS.md; "-" = don't record], BRON_SHARED [../shared].

source "$(dirname "$0")/lib/common.sh"

DUR=${BENCH_DURATION:-10}
WARM=${BENCH_WARMUP:-3}
TARGET=${BENCH_CREATES:-100000}
FILL=${BENCH_FILL_SECONDS:-150}
THREADS=2
CONNS=16
RESULTS=${BENCH_RESULTS:-$BENCH_DIR/RESULTS.md}
export BENCH_LIB=$LIB_DIR

command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v curl >/dev/null || die "curl is not installed"
bench_tmpdir WORK crud

declare -A R                         # R[tag.key] = figure

tcp_stat() {  # "ActiveOpens RetransSegs" from /proc/net/snmp (whole machine)
    awk '$1 == "Tcp:" { if (!h) { for (i = 2; i <= NF; i++) f[$i] = i; h = 1 } else print $f["ActiveOpens"], $f["RetransSegs"] }' /proc/net/snmp
}

# wrk_run TAG SECONDS SCRIPT URL PID: one bounded wrk run against the server
# PID; its BENCH line lands in R[TAG.*]; R[TAG.ok] = 2xx responses,
# R[TAG.okrps] = 2xx per second, R[TAG.bad] = non-2xx responses + socket
# errors; R[TAG.cpu_srv|cpu_wrk|cpu_other] = % of one core used by the server,
# by wrk and by everything else on the machine during the run; R[TAG.opens],
# R[TAG.retrans] = TCP connections opened and segments retransmitted on the
# machine during the run (wrk itself opens CONNS; more means reconnects).
wrk_run() {
    local tag=$1 secs=$2 script=$3 url=$4 pid=$5 out=$WORK/$1.wrk line kv code n ok=0
    local a0 p0 t0 a1 p1 t1 wt o0 r0 o1 r1 rc=0 TIMEFORMAT='%U %S'
    read -r o0 r0 < <(tcp_stat)
    a0=$(cpu_all); p0=$(cpu_pid "$pid"); t0=$(date +%s%N)
    { time timeout $(( secs + 60 )) wrk -t$THREADS -c$CONNS -d"${secs}s" --timeout 5s --latency \
        -s "$LIB_DIR/$script" "$url" >"$out" 2>&1 || rc=$?; } 2>"$out.time"
    a1=$(cpu_all); p1=$(cpu_pid "$pid"); t1=$(date +%s%N)
    read -r o1 r1 < <(tcp_stat)
    R[$tag.opens]=$(( o1 - o0 )); R[$tag.retrans]=$(( r1 - r0 ))
    [ $rc = 0 ] || { cat "$out" >&2; die "wrk failed ($tag, exit $rc)"; }
    wt=$(awk '{print $1 + $2}' "$out.time")
    read -r R[$tag.cpu_srv] R[$tag.cpu_wrk] R[$tag.cpu_other] < <(awk -v a="$((a1 - a0))" -v p="$((p1 - p0))" \
        -v w="$wt" -v hz="$CLK_TCK" -v ns="$((t1 - t0))" 'BEGIN {
            s = ns / 1e9; o = (a - p) / hz - w; if (o < 0) o = 0
            printf "%.0f %.0f %.0f\n", 100 * p / hz / s, 100 * w / s, 100 * o / s }')
    line=$(grep '^BENCH ' "$out") || { cat "$out" >&2; die "wrk printed no figures ($tag)"; }
    for kv in ${line#BENCH }; do R[$tag.${kv%%=*}]=${kv#*=}; done
    if [ -n "${R[$tag.status]}" ]; then
        for kv in ${R[$tag.status]//,/ }; do
            code=${kv%%:*}; n=${kv#*:}
            if [ "$code" -ge 200 ] && [ "$code" -lt 300 ]; then ok=$(( ok + n )); fi
        done
    else
        ok=$(( R[$tag.requests] - R[$tag.non2xx] ))
    fi
    R[$tag.ok]=$ok
    R[$tag.okrps]=$(awk -v n="$ok" -v us="${R[$tag.duration_us]}" 'BEGIN {printf "%.0f", n / (us / 1e6)}')
    R[$tag.sockerr]=$(( R[$tag.err_connect] + R[$tag.err_read] + R[$tag.err_write] + R[$tag.err_timeout] ))
    R[$tag.bad]=$(( R[$tag.requests] - ok + R[$tag.sockerr] ))
    R[$tag.samples]=$(grep '^BENCH_BAD ' "$out" | cut -c11- | head -3 | cut -c1-300 | paste -sd '~' || true)
    log "  $tag: $(( R[$tag.requests] )) responses in ${secs}s, ${R[$tag.okrps]} 2xx/s," \
        "p50 $(ms "${R[$tag.p50_us]}") ms, p99 $(ms "${R[$tag.p99_us]}") ms, max $(ms "${R[$tag.max_us]}") ms," \
        "non-2xx ${R[$tag.non2xx]}${R[$tag.status]:+ (statuses ${R[$tag.status]})}, socket errors c/r/w/t" \
        "${R[$tag.err_connect]}/${R[$tag.err_read]}/${R[$tag.err_write]}/${R[$tag.err_timeout]};" \
        "CPU server ${R[$tag.cpu_srv]}%, wrk ${R[$tag.cpu_wrk]}%, other processes ${R[$tag.cpu_other]}%;" \
        "TCP opens ${R[$tag.opens]}, retransmits ${R[$tag.retrans]}"
    if [ -n "${R[$tag.samples]}" ]; then grep '^BENCH_BAD ' "$out" | head -3 | sed 's/^BENCH_BAD /    non-2xx: /' >&2; fi
}

ms() { awk -v us="$1" 'BEGIN {printf (us < 10000 ? "%.2f" : "%.1f"), us / 1000}'; }
mb() { awk -v kb="$1" 'BEGIN {printf "%.1f", kb * 1024 / 1e6}'; }   # kB -> MB (10^6 bytes)

# ---- Start both servers -----------------------------------------------------
R[idle_busy]=$(wait_quiet 30)
log "bench: other processes use ${R[idle_busy]}% of a core before the start"
bench_tmpdir BRON_DATA bron-data
start_bron "$BRON_DATA/data" "$WORK/bron.log"
REV=$(bron_rev)
log "bench: Bron $REV at $BRON_BASE, pid $BRON_PID (default --sync 1: every create durable)"
NAMES=(bron)
declare -A PID=([bron]=$BRON_PID) URL=([bron]=$BRON_BASE/Patient)

PEER=0
if [ ! -d "$SHARED/peers/medplum" ]; then
    log "bench: no Medplum peer at $SHARED/peers/medplum (set BRON_SHARED); benchmarking Bron alone"
elif ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    log "bench: node/npm not installed; benchmarking Bron alone"
else
    start_medplum || die "the Medplum peer did not start"
    log "bench: Medplum peer at $MEDPLUM_BASE, pid $MEDPLUM_PID (in memory, node $(node --version))"
    NAMES+=(medplum); PID[medplum]=$MEDPLUM_PID; URL[medplum]=$MEDPLUM_BASE/Patient
    PEER=1
fi

# ---- Warm-up, creates, reads: each phase on Bron, then right after on the
# peer, so both see the same background load on this shared machine. -------
log "bench: warm-up ${WARM}s, then ${DUR}s creates, ${DUR}s reads per server (wrk -t$THREADS -c$CONNS)"
for name in "${NAMES[@]}"; do
    BENCH_IDS_OUT=$WORK/$name.warm.ids wrk_run "$name.warm_post" "$WARM" post_patient.lua "${URL[$name]}" "${PID[$name]}"
    BENCH_STATUS=1 BENCH_IDS=$WORK/$name.warm.ids wrk_run "$name.warm_get" "$WARM" get_patient.lua "${URL[$name]}/" "${PID[$name]}"
done
wait_quiet 10 >/dev/null
for name in "${NAMES[@]}"; do
    BENCH_IDS_OUT=$WORK/$name.ids wrk_run "$name.post" "$DUR" post_patient.lua "${URL[$name]}" "${PID[$name]}"
    [ -s "$WORK/$name.ids" ] || die "$name: no Patient created in the measured run"
done
wait_quiet 10 >/dev/null
for name in "${NAMES[@]}"; do
    BENCH_IDS=$WORK/$name.ids wrk_run "$name.get" "$DUR" get_patient.lua "${URL[$name]}/" "${PID[$name]}"
    R[$name.rss]=$(rss_kb "${PID[$name]}")
    R[$name.hwm]=$(awk '/^VmHWM:/ {print $2}' "/proc/${PID[$name]}/status")
    R[$name.creates]=$(( R[$name.warm_post.ok] + R[$name.post.ok] ))
    R[$name.load_creates]=${R[$name.creates]}
    log "  $name: RSS after load $(mb "${R[$name.rss]}") MB (peak $(mb "${R[$name.hwm]}") MB), ${R[$name.creates]} Patients created"
done
if [ $PEER = 1 ]; then stop_pid "$MEDPLUM_PID"; fi

# ---- Bron: creates until >= TARGET Patients (within FILL s), then its RSS ----
rate=${R[bron.post.okrps]}
fill_t0=$(date +%s)
round=0
while [ "${R[bron.creates]}" -lt "$TARGET" ]; do
    spent=$(( $(date +%s) - fill_t0 ))
    left=$(( TARGET - R[bron.creates] ))
    secs=$(( left * 11 / 10 / (rate > 50 ? rate : 50) + 1 ))
    [ $secs -gt 60 ] && secs=60
    [ $secs -gt $(( FILL - spent )) ] && secs=$(( FILL - spent ))
    [ $secs -ge 2 ] || break
    round=$(( round + 1 ))
    log "bench: bron: $left more creates to reach $TARGET (~${secs}s at ${rate}/s)"
    wrk_run "bron.fill$round" "$secs" post_patient.lua "$BRON_BASE/Patient" "$BRON_PID"
    R[bron.creates]=$(( R[bron.creates] + R[bron.fill$round.ok] ))
    rate=${R[bron.fill$round.okrps]}
done
R[bron.fill_s]=$(( $(date +%s) - fill_t0 ))
if [ "${R[bron.creates]}" -lt "$TARGET" ]; then
    log "bench: bron: only ${R[bron.creates]} of $TARGET creates within the ${FILL}s budget"
fi
R[bron.rss100k]=$(rss_kb "$BRON_PID")
R[bron.hwm100k]=$(awk '/^VmHWM:/ {print $2}' "/proc/$BRON_PID/status")
R[bron.threads]=$(awk '/^Threads:/ {print $2}' "/proc/$BRON_PID/status")
R[bron.dbsize]=$(du -sk "$BRON_DATA/data" | cut -f1)
log "  bron: RSS after ${R[bron.creates]} creates $(mb "${R[bron.rss100k]}") MB (peak $(mb "${R[bron.hwm100k]}") MB, ${R[bron.threads]} threads, data dir $(mb "${R[bron.dbsize]}") MB)"

# A read after all that load still answers, then a graceful stop.
R[bron.lastread]=$(curl -s -o /dev/null -w '%{http_code}' "$BRON_BASE/Patient/$(head -1 "$WORK/bron.ids")" || true)
t0=$(date +%s%N)
kill -TERM "$BRON_PID"
stop_rc=0; wait "$BRON_PID" || stop_rc=$?
R[bron.stop_ms]=$(( ($(date +%s%N) - t0) / 1000000 ))
R[bron.stop_rc]=$stop_rc
R[bron.loglines]=$(grep -cvE '^bron: (serving|SIGTERM received|stopped)' "$WORK/bron.log" || true)
log "  bron: read after load ${R[bron.lastread]}; stopped in ${R[bron.stop_ms]} ms, exit status $stop_rc, ${R[bron.loglines]} unexpected log lines"
if [ "${R[bron.loglines]}" -gt 0 ]; then grep -vE '^bron: (serving|SIGTERM received|stopped)' "$WORK/bron.log" | head -20 >&2; fi

# ---- Report -----------------------------------------------------------------
ratio() { [ $PEER = 1 ] && awk -v a="$1" -v b="$2" 'BEGIN {printf (b > 0 ? "%.2fx" : "-"), a / b}' || echo "-"; }
peer() { [ $PEER = 1 ] && echo "$1" || echo "-"; }
aim() {  # aim 1|0|-|short TEXT
    if [ "$1" = "-" ]; then echo "$2: not measured (no peer)"
    elif [ "$1" = short ]; then echo "$2: not measured (only ${R[bron.creates]} creates within ${FILL}s)"
    elif [ "$1" = 1 ]; then echo "$2: met"; else echo "$2: NOT met"; fi
}

rows=()
row() { rows+=("$1|$2|$3|$4"); }
row "POST Patient creates/s (c16)" "${R[bron.post.okrps]}" "$(peer "${R[medplum.post.okrps]:-}")" "$(ratio "${R[bron.post.okrps]}" "${R[medplum.post.okrps]:-0}")"
row "POST p50 latency ms" "$(ms "${R[bron.post.p50_us]}")" "$(peer "$(ms "${R[medplum.post.p50_us]:-0}")")" "$(ratio "${R[bron.post.p50_us]}" "${R[medplum.post.p50_us]:-0}")"
row "POST p99 latency ms" "$(ms "${R[bron.post.p99_us]}")" "$(peer "$(ms "${R[medplum.post.p99_us]:-0}")")" "$(ratio "${R[bron.post.p99_us]}" "${R[medplum.post.p99_us]:-0}")"
row "GET Patient/{id} req/s (c16)" "${R[bron.get.okrps]}" "$(peer "${R[medplum.get.okrps]:-}")" "$(ratio "${R[bron.get.okrps]}" "${R[medplum.get.okrps]:-0}")"
row "GET p50 latency ms" "$(ms "${R[bron.get.p50_us]}")" "$(peer "$(ms "${R[medplum.get.p50_us]:-0}")")" "$(ratio "${R[bron.get.p50_us]}" "${R[medplum.get.p50_us]:-0}")"
row "GET p99 latency ms" "$(ms "${R[bron.get.p99_us]}")" "$(peer "$(ms "${R[medplum.get.p99_us]:-0}")")" "$(ratio "${R[bron.get.p99_us]}" "${R[medplum.get.p99_us]:-0}")"
row "RSS after load MB" "$(mb "${R[bron.rss]}")" "$(peer "$(mb "${R[medplum.rss]:-0}")")" "$(ratio "${R[bron.rss]}" "${R[medplum.rss]:-0}")"
row "  (Patients created by then)" "${R[bron.load_creates]}" "$(peer "${R[medplum.load_creates]:-}")" ""
row "Bron RSS after ${R[bron.creates]} creates MB" "$(mb "${R[bron.rss100k]}")" "" ""

if [ $PEER = 1 ]; then
    a_read=$(awk -v a="${R[bron.get.okrps]}" -v b="${R[medplum.get.okrps]}" 'BEGIN {print (a >= 4 * b) ? 1 : 0}')
    a_create=$(awk -v a="${R[bron.post.okrps]}" -v b="${R[medplum.post.okrps]}" 'BEGIN {print (a >= 1.5 * b) ? 1 : 0}')
else
    a_read=-; a_create=-
fi
if [ "${R[bron.creates]}" -ge "$TARGET" ]; then
    a_rss=$(awk -v kb="${R[bron.rss100k]}" 'BEGIN {print (kb * 1024 < 30e6) ? 1 : 0}')
else
    a_rss=short
fi
aims=("$(aim "$a_read" "reads >= 4x peer")"
      "$(aim "$a_create" "durable creates >= 1.5x peer")"
      "$(aim "$a_rss" "Bron RSS < 30 MB after $TARGET creates")")

# Anything other than 2xx or a socket error during the runs.
notes=()
busy=()
for tag in $(printf '%s\n' "${!R[@]}" | sed -n 's/\.requests$//p' | sort -V); do
    if [ "${R[$tag.bad]}" -gt 0 ]; then
        n="$tag: ${R[$tag.bad]} of ${R[$tag.requests]} failed (non-2xx ${R[$tag.non2xx]}${R[$tag.status]:+, statuses ${R[$tag.status]}}; socket errors c/r/w/t ${R[$tag.err_connect]}/${R[$tag.err_read]}/${R[$tag.err_write]}/${R[$tag.err_timeout]})"
        if [ -n "${R[$tag.samples]}" ]; then n+="; first body: ${R[$tag.samples]%%~*}"; fi
        notes+=("$n")
    fi
done
if [ "${R[bron.lastread]}" != 200 ]; then notes+=("bron: a read after the load got ${R[bron.lastread]}"); fi
for tag in $(printf '%s\n' "${!R[@]}" | sed -n 's/\.cpu_other$//p' | sort -V); do
    if [ "${R[$tag.cpu_other]}" -ge 20 ]; then busy+=("$tag ${R[$tag.cpu_other]}%"); fi
done
if [ ${#busy[@]} -gt 0 ]; then notes+=("other processes used CPU (% of one core) before the start: ${R[idle_busy]}%, during: ${busy[*]}; the figures are noisier"); fi
if [ "${R[bron.stop_rc]}" != 0 ]; then notes+=("bron: exit status ${R[bron.stop_rc]} after SIGTERM"); fi
if [ "${R[bron.loglines]}" -gt 0 ]; then notes+=("bron: ${R[bron.loglines]} unexpected lines in its log"); fi
if [ $PEER = 0 ]; then notes+=("Medplum peer not run; Bron alone"); fi

print_table() {  # print_table md|text
    table "$1" "figure|Bron|Medplum|Bron/peer" "figure|Bron|Medplum|Bron/peer" '%-36s %12s %12s %10s' "${rows[@]}"
}

MACHINE=$(machine_info)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
SETUP="wrk -t$THREADS -c$CONNS, ${DUR}s per measurement after ${WARM}s warm-up, loopback; Bron $REV (SQLite store on $(fs_of "$BRON_DATA"), default --sync 1: a create is durable when acknowledged); Medplum peer in memory"

report crud print_table
