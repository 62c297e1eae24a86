#!/bin/bash
# bench/protect.sh - what the audit trail and encryption at rest cost (issue
# 8): Synthea transaction Bundles ingested, then Patient and Observation
# reads, on Bron with both off (--open --no-audit --unencrypted) and, in the
# same run, on Bron with both on (--open with an owner key: every access
# audited, the SQLite store encrypted page by page). Two fresh stores, the
# same Bundles, ingest in alternating order, interleaved read rounds; prints
# resources/s and req/s and the cost, and appends a dated section to
# bench/RESULTS.md. Aims: together under 15% on ingest, under 10% on reads.
#
# Env: BENCH_PROTECT_BUNDLES per store [40], BENCH_PROTECT_CONC in flight [4],
# BENCH_PROTECT_SECONDS per read run [4], BENCH_PROTECT_ROUNDS [3],
# BENCH_RESULTS [bench/RESULTS.md; "-" = don't record], BRON_SHARED, BRON_BIN.

source "$(dirname "$0")/lib/common.sh"

NB=${BENCH_PROTECT_BUNDLES:-40}
CONC=${BENCH_PROTECT_CONC:-4}
SECS=${BENCH_PROTECT_SECONDS:-4}
ROUNDS=${BENCH_PROTECT_ROUNDS:-3}
RESULTS=${BENCH_RESULTS:-$BENCH_DIR/RESULTS.md}
SYN=$SHARED/data/synthea
if ! ls "$SYN"/*.json.gz >/dev/null 2>&1; then
    log "protect bench: no Synthea bundles in $SYN (set BRON_SHARED); skipped"
    exit 0
fi
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v node >/dev/null || die "node is not installed"
mapfile -t ALL < <(ls "$SYN"/*.json.gz | sort | head -n "$NB")

bench_tmpdir WORK protect
"$BRON_BIN" keygen --data-key "$WORK/owner.key" >/dev/null 2>&1 ||
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/owner.key"
PLAIN_ARGS="--open --no-audit --unencrypted"
PROT_ARGS="--open --key-file $WORK/owner.key"

declare -A R
# ingest TAG ARGS: a fresh store, the bundles, R[TAG.rps]
ingest() {
    local tag=$1 out=$WORK/$1.out line kv
    BRON_ACCESS="$2" start_bron "$WORK/$tag" "$WORK/$tag.log"
    timeout 900 node "$LIB_DIR/ingest_post.mjs" --base "$BRON_BASE" --conc "$CONC" --warm 0 \
        "${ALL[@]}" >"$out" 2>&1 || { cat "$out" >&2; die "ingest failed ($tag)"; }
    line=$(grep '^BENCH ' "$out") || die "the ingest client printed no figures ($tag)"
    for kv in ${line#BENCH }; do R[$tag.${kv%%=*}]=${kv#*=}; done
    log "  $tag: ${R[$tag.resources]} resources in ${R[$tag.secs]} s: ${R[$tag.rps]} resources/s"
    stop_pid "$BRON_PID"
}

wait_quiet 30
log "bench: protect, $NB Synthea bundles per store, $CONC in flight"
# alternate the order so that neither always goes first (disk cache, CPU boost)
ingest plain "$PLAIN_ARGS"
ingest prot "$PROT_ARGS"
ingest plain2 "$PLAIN_ARGS"
ingest prot2 "$PROT_ARGS"
for t in plain prot; do
    R[$t.rps_avg]=$(awk -v a="${R[$t.rps]}" -v b="${R[${t}2.rps]}" 'BEGIN {printf "%.0f", (a + b) / 2}')
done

# reads: both stores served at once, interleaved rounds
BRON_ACCESS="$PLAIN_ARGS" start_bron "$WORK/plain" "$WORK/plain.read.log"
PLAIN_BASE=$BRON_BASE
BRON_ACCESS="$PROT_ARGS" start_bron "$WORK/prot" "$WORK/prot.read.log"
PROT_BASE=$BRON_BASE
ids() { # ids BASE TYPE FILE: the ids of up to 500 resources of TYPE
    curl -sf "$1/$2?_count=500&_elements=id" -H 'Accept: application/fhir+json' |
        node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for(const e of JSON.parse(s).entry||[])console.log(e.resource.id)})' >"$3"
    [ -s "$3" ] || die "no $2 ids from $1"
}
ids "$PLAIN_BASE" Patient "$WORK/patients.ids"
ids "$PLAIN_BASE" Observation "$WORK/obs.ids"
# the same ids exist in both stores (the same Bundles, ids kept by the server? check one)
first=$(head -1 "$WORK/obs.ids")
if [ "$(curl -s -o /dev/null -w '%{http_code}' "$PROT_BASE/Observation/$first")" != 200 ]; then
    ids "$PROT_BASE" Observation "$WORK/obs.prot.ids"
    ids "$PROT_BASE" Patient "$WORK/patients.prot.ids"
else
    cp "$WORK/obs.ids" "$WORK/obs.prot.ids"
    cp "$WORK/patients.ids" "$WORK/patients.prot.ids"
fi
run_read() { # run_read TAG IDS URL
    local r
    r=$(BENCH_LIB="$LIB_DIR" BENCH_IDS="$2" wrk -t1 -c4 -d"${SECS}s" -s "$LIB_DIR/get_patient.lua" "$3" 2>&1 |
        awk '/^Requests\/sec/ {print $2}')
    [ -n "$r" ] || die "wrk failed ($1)"
    R[$1]=$(awk -v a="${R[$1]:-0}" -v b="$r" -v n="$ROUNDS" 'BEGIN {print a + b / n}')
}
log "bench: reads, $ROUNDS interleaved rounds of ${SECS}s per case (wrk -t1 -c4)"
for _ in $(seq 1 "$ROUNDS"); do
    run_read r_plain_pat "$WORK/patients.ids" "$PLAIN_BASE/Patient/"
    run_read r_prot_pat "$WORK/patients.prot.ids" "$PROT_BASE/Patient/"
    run_read r_prot_obs "$WORK/obs.prot.ids" "$PROT_BASE/Observation/"
    run_read r_plain_obs "$WORK/obs.ids" "$PLAIN_BASE/Observation/"
done
sleep 1 # the last reads' records reach the trail
AUDITED=$(curl -sf "$PROT_BASE/AuditEvent?_count=1" -H 'Accept: application/fhir+json' |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const b=JSON.parse(s);console.log((b.entry||[])[0]?.resource?.id||0)})')
cost() { awk -v o="$1" -v t="$2" 'BEGIN {printf "%.1f%%", (o - t) / o * 100}'; }
aim() { awk -v o="$1" -v t="$2" -v a="$3" 'BEGIN {print ((o - t) / o < a) ? "met" : "NOT met"}'; }
out=$(cat <<EOT

## audit trail and encryption at rest, $(date -u '+%Y-%m-%d %H:%M') UTC

- machine: $(machine_info)
- setup: Bron $(bron_rev) on SQLite, --open; off: --no-audit --unencrypted; on: every access audited (hash-chained, a write's records in its transaction) and the store encrypted (AES-256-GCM per page, WAL included). $NB Synthea transaction Bundles per store, $CONC in flight, two stores each, in alternating order; reads with wrk -t1 -c4, $ROUNDS interleaved rounds of ${SECS}s, both servers up. The audit trail held $AUDITED records at the end.

| case | off | on | cost |
|---|---:|---:|---:|
| ingest, resources/s (mean of two stores) | ${R[plain.rps_avg]} | ${R[prot.rps_avg]} | $(cost "${R[plain.rps_avg]}" "${R[prot.rps_avg]}") |
| read Patient/[id], req/s | $(printf '%.0f' "${R[r_plain_pat]}") | $(printf '%.0f' "${R[r_prot_pat]}") | $(cost "${R[r_plain_pat]}" "${R[r_prot_pat]}") |
| read Observation/[id], req/s | $(printf '%.0f' "${R[r_plain_obs]}") | $(printf '%.0f' "${R[r_prot_obs]}") | $(cost "${R[r_plain_obs]}" "${R[r_prot_obs]}") |

- aims: ingest under 15%: $(aim "${R[plain.rps_avg]}" "${R[prot.rps_avg]}" 0.15); reads under 10%: $(aim "${R[r_plain_pat]}" "${R[r_prot_pat]}" 0.10) (Patient), $(aim "${R[r_plain_obs]}" "${R[r_prot_obs]}" 0.10) (Observation)
EOT
)
printf '%s\n' "$out"
[ "$RESULTS" = - ] || printf '%s\n' "$out" >>"$RESULTS"
