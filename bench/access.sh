#!/bin/bash
# bench/access.sh - what access checks cost (issue 7): reads and a search on
# Bron in open mode (--open) and, in the same run, on Bron checking bearer
# tokens (--jwks), with a system token (system/*.rs: no limits) and with a
# patient-context token (patient/*.rs: every read also tests the resource
# against the patient's compartment), and with another organisation's token
# in patient p1's context, which p1's Consent permits (consent is on: the
# server has --organization; every such request reads p1's consents and
# decides). Same data, same wrk settings,
# interleaved rounds; prints req/s and the cost against open mode, and
# appends a dated section to bench/RESULTS.md.
#
# Env: BENCH_ACCESS_SECONDS per run [4], BENCH_ACCESS_ROUNDS [2],
# BENCH_RESULTS [bench/RESULTS.md; "-" = don't record], BRON_BIN [./bron].

source "$(dirname "$0")/lib/common.sh"

SECS=${BENCH_ACCESS_SECONDS:-4}
ROUNDS=${BENCH_ACCESS_ROUNDS:-2}
RESULTS=${BENCH_RESULTS:-$BENCH_DIR/RESULTS.md}
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
bench_tmpdir WORK access

"$BRON_BIN" keygen --dir "$WORK/keys" >/dev/null || die "bron keygen failed"
SYS=$("$BRON_BIN" token --key "$WORK/keys/signing-key.pem" --sub bench --scope 'system/*.rs') || die "bron token failed"
PAT=$("$BRON_BIN" token --key "$WORK/keys/signing-key.pem" --sub bench --scope 'patient/*.rs' --patient p1) || die "bron token failed"
OWN_ORG='http://fhir.nl/fhir/NamingSystem/ura|11111111'
FOREIGN=$("$BRON_BIN" token --key "$WORK/keys/signing-key.pem" --sub bench --scope 'system/*.rs' --patient p1 --org 'http://fhir.nl/fhir/NamingSystem/ura|22222222' --purpose TREAT) || die "bron token failed"
ADMIN=$("$BRON_BIN" token --key "$WORK/keys/signing-key.pem" --sub bench --scope 'system/*.cruds') || die "bron token failed"

# one store, served twice: open, and with tokens and consent
AUTH_ARGS="--jwks $WORK/keys/jwks.json --organization $OWN_ORG"
BRON_ACCESS="$AUTH_ARGS" start_bron "$WORK/data" "$WORK/auth.log"
AUTH_BASE=$BRON_BASE AUTH_PID=$BRON_PID
for i in $(seq 1 200); do
    curl -sf -o /dev/null -X PUT "$AUTH_BASE/Patient/p$i" -H 'Content-Type: application/fhir+json' \
        -H "Authorization: Bearer $ADMIN" \
        -d "{\"resourceType\":\"Patient\",\"id\":\"p$i\",\"identifier\":[{\"system\":\"urn:bench\",\"value\":\"$i\"}],\"name\":[{\"family\":\"F$i\"}]}" \
        || die "loading Patient/p$i failed"
done
curl -sf -o /dev/null -X PUT "$AUTH_BASE/Consent/c1" -H 'Content-Type: application/fhir+json' \
    -H "Authorization: Bearer $ADMIN" \
    -d '{"resourceType":"Consent","id":"c1","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/p1"},"provision":{"type":"deny","provision":[{"type":"permit","actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"identifier":{"system":"http://fhir.nl/fhir/NamingSystem/ura","value":"22222222"}}}]}]}}' \
    || die "loading Consent/c1 failed"
stop_pid "$AUTH_PID"
start_bron "$WORK/data" "$WORK/open.log"
OPEN_BASE=$BRON_BASE
BRON_ACCESS="$AUTH_ARGS" start_bron "$WORK/data" "$WORK/auth.log"
AUTH_BASE=$BRON_BASE
seq 1 200 | sed 's/^/p/' >"$WORK/all.ids"
echo p1 >"$WORK/own.ids"

declare -A RPS
# run TAG IDS TOKEN BASE: reads of Patient/<id> for the ids in IDS
run_read() {
    local tag=$1 ids=$2 tok=$3 base=$4 r
    r=$(BENCH_LIB="$LIB_DIR" BENCH_IDS="$ids" BENCH_AUTH="$tok" wrk -t1 -c4 -d"${SECS}s" \
        -s "$LIB_DIR/get_patient.lua" "$base/Patient/" 2>&1 | awk '/^Requests\/sec/ {print $2}')
    [ -n "$r" ] || die "wrk failed ($tag)"
    RPS[$tag]=$(awk -v a="${RPS[$tag]:-0}" -v b="$r" 'BEGIN {print a + b}')
}
run_search() {
    local tag=$1 tok=$2 base=$3 r hdr=()
    [ -n "$tok" ] && hdr=(-H "Authorization: Bearer $tok")
    r=$(wrk -t1 -c4 -d"${SECS}s" "${hdr[@]}" -H 'Accept: application/fhir+json' \
        "$base/Patient?identifier=urn:bench%7C1" 2>&1 | awk '/^Requests\/sec/ {print $2}')
    [ -n "$r" ] || die "wrk failed ($tag)"
    RPS[$tag]=$(awk -v a="${RPS[$tag]:-0}" -v b="$r" 'BEGIN {print a + b}')
}
# the answers are what they should be before anything is measured
[ "$(curl -s -o /dev/null -w '%{http_code}' "$AUTH_BASE/Patient/p2" -H "Authorization: Bearer $PAT")" = 404 ] || die "the patient token reads another patient"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$AUTH_BASE/Patient/p1" -H "Authorization: Bearer $PAT")" = 200 ] || die "the patient token cannot read its patient"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$AUTH_BASE/Patient/p1" -H "Authorization: Bearer $FOREIGN")" = 200 ] || die "the consent does not let the other organisation read p1"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$AUTH_BASE/Patient/p2" -H "Authorization: Bearer $FOREIGN")" = 404 ] || die "the other organisation reads p2"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$AUTH_BASE/Patient/p1")" = 401 ] || die "no token is not refused"

wait_quiet 30
log "bench: access, ${ROUNDS} rounds of ${SECS}s per case (wrk -t1 -c4)"
for _ in $(seq 1 "$ROUNDS"); do
    run_read open "$WORK/all.ids" "" "$OPEN_BASE"
    run_read system "$WORK/all.ids" "$SYS" "$AUTH_BASE"
    run_read patient "$WORK/own.ids" "$PAT" "$AUTH_BASE"
    run_read open_own "$WORK/own.ids" "" "$OPEN_BASE"
    run_read foreign "$WORK/own.ids" "$FOREIGN" "$AUTH_BASE"
    run_search s_open "" "$OPEN_BASE"
    run_search s_system "$SYS" "$AUTH_BASE"
    run_search s_patient "$PAT" "$AUTH_BASE"
    run_search s_foreign "$FOREIGN" "$AUTH_BASE"
done
avg() { awk -v a="${RPS[$1]}" -v n="$ROUNDS" 'BEGIN {printf "%.0f", a / n}'; }
cost() { awk -v o="${RPS[$1]}" -v t="${RPS[$2]}" 'BEGIN {printf "%.1f%%", (o - t) / o * 100}'; }
out=$(cat <<EOT

## access checks, $(date -u '+%Y-%m-%d %H:%M') UTC

- machine: $(machine_info)
- setup: 200 Patients and a Consent of p1 permitting organisation ura|22222222; Bron $(bron_rev) on one SQLite store, served with --open and with --jwks and --organization (consent on; ES256 tokens, verified once and kept until they expire); wrk -t1 -c4, ${ROUNDS} interleaved rounds of ${SECS}s per case, loopback

| case | open req/s | with token req/s | cost |
|---|---:|---:|---:|
| read Patient/[id], system/*.rs token | $(avg open) | $(avg system) | $(cost open system) |
| read Patient/p1, patient/*.rs token (patient p1; the compartment is tested on every read) | $(avg open_own) | $(avg patient) | $(cost open_own patient) |
| read Patient/p1, another organisation's system/*.rs token in p1's context (p1's consent read and decided on every request) | $(avg open_own) | $(avg foreign) | $(cost open_own foreign) |
| search Patient?identifier=, system/*.rs token | $(avg s_open) | $(avg s_system) | $(cost s_open s_system) |
| search Patient?identifier=, patient/*.rs token (limited to the compartment) | $(avg s_open) | $(avg s_patient) | $(cost s_open s_patient) |
| search Patient?identifier=, another organisation under p1's consent | $(avg s_open) | $(avg s_foreign) | $(cost s_open s_foreign) |

- aim: under 10% on reads with token checking and consent on (system token, own organisation): $(awk -v o="${RPS[open]}" -v t="${RPS[system]}" 'BEGIN {print ((o - t) / o < 0.10) ? "met" : "NOT met"}')
- a request of another organisation also reads the patient's consents and writes one decision line to the log; parsed consents are shared between requests until they change
EOT
)
printf '%s\n' "$out"
[ "$RESULTS" = - ] || printf '%s\n' "$out" >>"$RESULTS"
