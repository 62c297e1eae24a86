#!/bin/bash
# Regression replay of the fuzz targets (tests/fuzz/): every seed
# (tests/fuzz/corpus/<name>/) and every input that once found a bug
# (tests/fuzz/regress/<name>/, one file per finding, named after the bug) is
# run through its target's LLVMFuzzerTestOneInput by
# build/<b>/tests/fuzz/replay_<name> (gcc, no libFuzzer): on the ASan build
# a sanitizer report fails the input. One input is one case; the last line
# is "N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
BUILD="${BUILD:-release}"
OUT="${BRON_OUT:-build/$BUILD}"
passed=0
failed=0
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

for src in tests/fuzz/fuzz_*.c; do
	t=$(basename "$src" .c)
	t=${t#fuzz_}
	bin="$OUT/tests/fuzz/replay_$t"
	mapfile -t files < <(find "tests/fuzz/corpus/$t" "tests/fuzz/regress/$t" -type f 2>/dev/null | sort)
	if [ ! -x "$bin" ]; then
		echo "fuzz-replay $t: $bin not built (make BUILD=$BUILD)"
		failed=$((failed + 1))
		continue
	fi
	tp=0 tf=0
	# one process for all of a target's inputs; after a crash, go on with
	# the inputs after the one that crashed
	while [ "${#files[@]}" -gt 0 ]; do
		"$bin" "${files[@]}" >"$tmp" 2>&1
		rc=$?
		ok=$(grep -c '^ok ' "$tmp")
		tp=$((tp + ok))
		if [ "$rc" = 0 ] && ! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$tmp"; then
			break
		fi
		bad=$(grep '^run ' "$tmp" | tail -1 | cut -c5-)
		if [ "$rc" = 0 ] || [ -z "$bad" ] || grep -q "^ok $bad\$" "$tmp"; then
			# a report that did not stop it (a leak at exit): the target fails
			echo "FAIL $t: report outside an input (exit $rc)"
			sed -n '/ERROR: \|runtime error:/,+12p' "$tmp" | head -30
			tf=$((tf + 1))
			break
		fi
		echo "FAIL $t: $bad (exit $rc)"
		grep -vE '^(run|ok) ' "$tmp" | grep -E -A12 'ERROR|runtime error|fuzz_|abort' | head -30
		tf=$((tf + 1))
		# the inputs after the failed one
		rest=()
		seen=0
		for f in "${files[@]}"; do
			[ "$seen" = 1 ] && rest+=("$f")
			[ "$f" = "$bad" ] && seen=1
		done
		files=("${rest[@]}")
	done
	echo "fuzz-replay $t: $tp passed, $tf failed"
	passed=$((passed + tp))
	failed=$((failed + tf))
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
