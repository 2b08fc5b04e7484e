#!/usr/bin/env bash
# run.sh: runs test programs and scripts, each bounded in time, and sums their closing
# "N passed, N failed[, N skipped]" lines into one such line for the whole run.
#
#   tests/run.sh LABEL PROG...
#
# A program that exits non-zero without its closing line, or that times out, counts as one
# failure. Output of each program is shown as it runs. Exit status: 1 if anything failed.
set -u
label=$1; shift
passed=0; failed=0; skipped=0
limit=${ZD_TEST_TIMEOUT:-300}
for prog in "$@"; do
    echo "== $label: $prog"
    log=$(mktemp "${TMPDIR:-/tmp}/zonedef-run.XXXXXX")
    case "$prog" in
        *.sh) timeout -k 10 "$limit" bash "$prog" 2>&1 | tee "$log" ;;
        *) timeout -k 10 "$limit" "$prog" 2>&1 | tee "$log" ;;
    esac
    rc=${PIPESTATUS[0]}
    last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    rm -f "$log"
    if [ -z "$last" ]; then
        echo "FAIL $prog: exited $rc without a result line"
        failed=$((failed + 1))
        continue
    fi
    p=$(echo "$last" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(echo "$last" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
    s=$(echo "$last" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p')
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + ${s:-0}))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $prog: exited $rc"
        failed=$((failed + 1))
    fi
done
echo "== $label total"
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
