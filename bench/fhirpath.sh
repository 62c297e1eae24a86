#!/bin/bash
# FHIRPath benchmark (issue 3): every R4 search-parameter expression that
# applies to each resource of a Synthea sample, evaluated by Bron's engine
# (tests/tools/fhirpath_bench.c) and by fhirpath.js 5.2.0 in one run, one
# core each; prints resources/s for both and the ratio, and appends the
# figures to bench/RESULTS.md.
#   BENCH_BUNDLES  Synthea bundles to use (default 20)
#   BENCH_ROUNDS   passes over the sample per engine (default 2)
set -eu
cd "$(dirname "$0")/.."
SHARED="${BRON_SHARED:-$(cd .. && pwd)/shared}"
SYN="$SHARED/data/synthea"
SP="$SHARED/data/fhir-r4/search-parameters.json"
BIN="${BRON_OUT:-build/release}/tests/tools/fhirpath_bench"
N=${BENCH_BUNDLES:-20}
ROUNDS=${BENCH_ROUNDS:-2}
if [ ! -d "$SYN" ] || [ ! -f "$SP" ]; then
	echo "fhirpath bench: $SYN not found (set BRON_SHARED); skipped"
	exit 0
fi
[ -x "$BIN" ] || { echo "fhirpath bench: $BIN not built (make)"; exit 1; }
tmp=bench/.tmp/fhirpath
mkdir -p "$tmp"
rm -f "$tmp"/*.json
for f in $(ls "$SYN"/*.json.gz | sort | head -n "$N"); do
	zcat "$f" >"$tmp/$(basename "$f" .gz)"
done

bron=$("$BIN" --rounds "$ROUNDS" "$tmp"/*.json)
echo "$bron"
if command -v node >/dev/null && [ -d tests/fhirpath/node_modules/fhirpath ]; then
	js=$(node bench/fhirpath-bench.js --rounds "$ROUNDS" "$SP" "$tmp"/*.json)
	echo "$js"
else
	js="fhirpath.js: not installed (make deps), 0 resources/s"
	echo "$js"
fi
rate() { sed -n 's/.* \([0-9]\+\) resources\/s.*/\1/p' <<<"$1"; }
rb=$(rate "$bron")
rj=$(rate "$js")
ratio=$(awk -v a="$rb" -v b="${rj:-0}" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a" }')
echo "fhirpath: bron ${rb} resources/s, fhirpath.js ${rj:-n/a} resources/s, ratio ${ratio}x"
rm -f "$tmp"/*.json

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
res=$(sed -n 's/^bron: \([0-9]\+\) resources.*/\1/p' <<<"$bron")
evals=$(sed -n 's/.*rounds, \([0-9]\+\) evaluations.*/\1/p' <<<"$bron")
node_v=$(node --version 2>/dev/null || echo none)
{
	[ -s bench/RESULTS.md ] || printf '# Benchmark results\n'
	printf '\n## fhirpath, %s UTC\n\n' "$(date -u '+%Y-%m-%d %H:%M')"
	printf -- '- machine: %s, %s, %s cores\n' "$(uname -m)" "$cpu" "$(nproc)"
	printf -- '- setup: %s Synthea bundles, %s resources, every R4 search-parameter expression that applies to each (%s evaluations), %s rounds per engine, one core each, evaluation only (JSON parsing excluded); fhirpath.js 5.2.0 on node %s\n\n' \
		"$N" "$res" "$evals" "$ROUNDS" "$node_v"
	printf '| engine | resources/s |\n|---|---|\n| Bron | %s |\n| fhirpath.js | %s |\n| Bron/fhirpath.js | %sx |\n' \
		"$rb" "${rj:-n/a}" "$ratio"
} >>bench/RESULTS.md
