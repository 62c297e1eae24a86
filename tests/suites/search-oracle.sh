#!/bin/bash
# Search oracle (issue 4): a Synthea sample loaded into `bron serve`, a
# generated set of searches over every parameter type, modifier and prefix,
# and Bron's result ids compared with a brute-force evaluation of the same
# searches by tests/oracle (fhirpath.js 5.2.0 and the R4 matching rules).
# One test per query; the last line is "N passed, N failed". Exit 0 only when
# every difference is explained in tests/oracle/NOTES.md.
# Env: BUILD (release|asan), BRON_OUT (build/<build>), BRON_SHARED, PATIENTS;
# BRON_TEST_STORE=postgres with BRON_PG_DIR (a tests/pg/cluster.sh cluster):
# the server runs on a new PostgreSQL database there instead of SQLite.
set -u
cd "$(dirname "$0")/../.."
BUILD="${BUILD:-release}"
SHARED="${BRON_SHARED:-$(cd .. && pwd)/shared}"
BIN=./bron
[ "$BUILD" = release ] || BIN="${BRON_OUT:-build/$BUILD}/bron"

if [ ! -d "$SHARED/data/synthea" ] || [ ! -f "$SHARED/data/fhir-r4/search-parameters.json" ]; then
	echo "search oracle: $SHARED/data (synthea, fhir-r4) not found (set BRON_SHARED); skipping"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi
if ! command -v node >/dev/null || [ ! -d tests/oracle/node_modules/fhirpath ]; then
	echo "search oracle: fhirpath.js not installed (run npm ci in tests/oracle, or make deps)"
	echo "0 passed, 1 failed"
	exit 1
fi
if [ ! -x "$BIN" ]; then
	echo "search oracle: $BIN not built (make BUILD=$BUILD)"
	echo "0 passed, 1 failed"
	exit 1
fi
if [ "${BRON_TEST_STORE:-}" = postgres ] && [ ! -f "${BRON_PG_DIR:-/nonexistent}/bindir" ]; then
	echo "search oracle: BRON_TEST_STORE=postgres needs BRON_PG_DIR, a running tests/pg/cluster.sh cluster"
	echo "0 passed, 1 failed"
	exit 1
fi
# the sanitizer build is several times slower: a smaller sample, same generator
if [ -z "${PATIENTS:-}" ]; then
	if [ "$BUILD" = release ]; then PATIENTS=12; else PATIENTS=5; fi
fi
BRON_BIN="$BIN" BRON_SHARED="$SHARED" PATIENTS="$PATIENTS" node tests/oracle/run.mjs
