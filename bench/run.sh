#!/bin/bash
# bench/run.sh - `make bench`: run every bench/*.sh (except this one) in name
# order, each self-contained; exit non-zero if any of them fails.
set -u
cd "$(dirname "$0")"
export LC_ALL=C
failed=()
n=0
for s in ./*.sh; do
    name=${s#./}
    [ "$name" = run.sh ] && continue
    n=$(( n + 1 ))
    echo "=== bench/$name"
    if bash "$s"; then
        echo "=== bench/$name: done"
    else
        rc=$?
        echo "=== bench/$name: FAILED (exit $rc)"
        failed+=("$name")
    fi
    echo
done
[ $n -gt 0 ] || { echo "bench: no bench/*.sh to run"; exit 1; }
if [ ${#failed[@]} -gt 0 ]; then
    echo "bench: ${#failed[@]} of $n failed: ${failed[*]}"
    exit 1
fi
echo "bench: all $n ran"
