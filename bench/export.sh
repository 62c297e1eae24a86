#!/bin/bash
# bench/export.sh - export and import throughput (issue 9): a Synthea
# sample loaded into a store, then `bron export` of it (resources/s, MB/s)
# against the limit of this machine in the same run: copying the same
# number of bytes to disk (cat of the exported files into one file, with
# fsync), and `bron import` of the export into a fresh store. Appends a
# dated section to bench/RESULTS.md. Aim: export at >= 50% of the disk
# copy rate.
#
# Env: BENCH_EXPORT_BUNDLES [60], BENCH_EXPORT_ROUNDS [3],
# BENCH_RESULTS [bench/RESULTS.md; "-" = don't record], BRON_SHARED, BRON_BIN.

source "$(dirname "$0")/lib/common.sh"

NB=${BENCH_EXPORT_BUNDLES:-60}
ROUNDS=${BENCH_EXPORT_ROUNDS:-3}
RESULTS=${BENCH_RESULTS:-$BENCH_DIR/RESULTS.md}
SYN=$SHARED/data/synthea
if ! ls "$SYN"/*.json.gz >/dev/null 2>&1; then
    log "export bench: no Synthea bundles in $SYN (set BRON_SHARED); skipped"
    exit 0
fi
mapfile -t FILES < <(ls "$SYN"/*.json.gz | sort | head -n "$NB")
bench_tmpdir WORK export
now_ns() { date +%s%N; }

log "bench: export, $NB Synthea bundles into a store (--unencrypted)"
"$BRON_BIN" import --data "$WORK/a" --unencrypted --sync 0 "${FILES[@]}" >"$WORK/load.log" 2>&1 ||
    { tail -5 "$WORK/load.log" >&2; die "loading the sample failed"; }

declare -A T
for r in $(seq 1 "$ROUNDS"); do
    rm -rf "$WORK/out" "$WORK/copy"
    sync
    t0=$(now_ns)
    "$BRON_BIN" export --data "$WORK/a" --unencrypted --out "$WORK/out" >"$WORK/export.log" 2>&1 ||
        { cat "$WORK/export.log" >&2; die "bron export failed"; }
    sync
    t1=$(now_ns)
    # the limit: the same bytes written to disk in one file, and synced
    mkdir -p "$WORK/copy"
    t2=$(now_ns)
    cat "$WORK"/out/*.ndjson >"$WORK/copy/all.ndjson"
    sync "$WORK/copy/all.ndjson"
    t3=$(now_ns)
    T[export]=$(( ${T[export]:-0} + t1 - t0 ))
    T[copy]=$(( ${T[copy]:-0} + t3 - t2 ))
done
BYTES=$(cat "$WORK"/out/*.ndjson | wc -c)
RES=$(cat "$WORK"/out/*.ndjson | wc -l)
rm -rf "$WORK/b"
t0=$(now_ns)
"$BRON_BIN" import --data "$WORK/b" --unencrypted "$WORK"/out/*.ndjson >"$WORK/import.log" 2>&1 ||
    { tail -5 "$WORK/import.log" >&2; die "bron import of the export failed"; }
t1=$(now_ns)
T[import]=$(( t1 - t0 ))
rate() { awk -v n="$1" -v ns="$2" -v k="$3" 'BEGIN {printf "%.0f", n / (ns / k / 1e9)}'; }
mb() { awk -v b="$1" -v ns="$2" -v k="$3" 'BEGIN {printf "%.1f", b / 1048576 / (ns / k / 1e9)}'; }
EXP_RPS=$(rate "$RES" "${T[export]}" "$ROUNDS")
EXP_MBS=$(mb "$BYTES" "${T[export]}" "$ROUNDS")
COPY_MBS=$(mb "$BYTES" "${T[copy]}" "$ROUNDS")
IMP_RPS=$(rate "$RES" "${T[import]}" 1)
IMP_MBS=$(mb "$BYTES" "${T[import]}" 1)
RATIO=$(awk -v e="$EXP_MBS" -v c="$COPY_MBS" 'BEGIN {printf "%.2f", e / c}')
out=$(cat <<EOT

## export and import throughput, $(date -u '+%Y-%m-%d %H:%M') UTC

- machine: $(machine_info)
- setup: Bron $(bron_rev); $NB Synthea bundles ($RES resources, $(awk -v b="$BYTES" 'BEGIN {printf "%.1f", b / 1048576}') MB of NDJSON) in a SQLite store (--unencrypted); bron export to NDJSON files (synced), $ROUNDS rounds; the limit: the same bytes written to one file and synced, in the same rounds; bron import of the export into a fresh store (--sync 1)

| | resources/s | MB/s |
|---|---:|---:|
| bron export | $EXP_RPS | $EXP_MBS |
| disk copy of the same bytes (the limit) | | $COPY_MBS |
| bron import of the export | $IMP_RPS | $IMP_MBS |

- export / disk copy: ${RATIO}× (aim >= 0.50: $(awk -v r="$RATIO" 'BEGIN {print (r >= 0.5) ? "met" : "NOT met"}'))
EOT
)
printf '%s\n' "$out"
[ "$RESULTS" = - ] || printf '%s\n' "$out" >>"$RESULTS"
