#!/bin/bash
# The official FHIRPath test suite for FHIR R4 through Bron's engine, and the
# same cases through fhirpath.js (npm fhirpath 5.2.0) for comparison.
# The last line is Bron's "N passed, N failed, N skipped" (the tier's count).
# Exit status: non-zero only when a case crashes, a search-parameter expression
# no longer compiles, or Bron's pass rate drops below the floor reached.
set -u
cd "$(dirname "$0")/../.."
BUILD="${BUILD:-release}"
OUT="${BRON_OUT:-build/$BUILD}"
SHARED="${BRON_SHARED:-$(cd .. && pwd)/shared}"
SUITE="$SHARED/data/fhirpath/tests-fhir-r4.xml"
INPUT="$SHARED/data/fhirpath/input"
RUNNER="$OUT/tests/tools/fhirpath_suite"
FLOOR=931 # passing cases reached (933 of 935 run); lower means a regression

if [ ! -f "$SUITE" ]; then
	echo "fhirpath suite: $SUITE not found (set BRON_SHARED); skipping"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi
if [ ! -x "$RUNNER" ]; then
	echo "fhirpath suite: $RUNNER not built (make BUILD=$BUILD)"
	exit 1
fi

# fhirpath.js first, so Bron's line is the last one
if command -v node >/dev/null && [ -d tests/fhirpath/node_modules/fhirpath ]; then
	tmp=$(mktemp)
	"$RUNNER" "$SUITE" "$INPUT" --skip tests/fhirpath/skip.txt --json >"$tmp" &&
		node tests/fhirpath/run-fhirpath-js.js "$tmp" "$INPUT" | sed 's/^/fhirpath.js /' | sed 's/ passed, \([0-9]*\) failed/ passing, \1 failing/'
	rm -f "$tmp"
else
	echo "fhirpath.js: not installed (make deps installs it into tests/fhirpath/node_modules)"
fi

"$RUNNER" "$SUITE" "$INPUT" --skip tests/fhirpath/skip.txt ${VERBOSE:+-v} >"${TMPDIR:-/tmp}/fp-suite.$$" 2>&1
rc=$?
cat "${TMPDIR:-/tmp}/fp-suite.$$"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "${TMPDIR:-/tmp}/fp-suite.$$" | tail -1)
rm -f "${TMPDIR:-/tmp}/fp-suite.$$"
passed=$(sed -n 's/^\([0-9]*\) passed.*/\1/p' <<<"$line")
echo "bron: ${line:-no result}"
echo "$line"
if [ "$rc" -ge 128 ] || [ -z "$line" ]; then
	echo "fhirpath suite crashed (exit $rc)"
	exit 1
fi
[ "$rc" = 3 ] && { echo "some search-parameter expressions do not compile"; exit 1; }
[ "${passed:-0}" -lt "$FLOOR" ] && { echo "pass count $passed below the floor $FLOOR"; exit 1; }
exit 0
