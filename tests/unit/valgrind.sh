#!/usr/bin/env bash
# valgrind.sh: the unit tests that are cheap under valgrind (no threads, no sockets, no long
# loops) run once more under memcheck; any error or definite leak fails. ASan+UBSan covers the
# rest in `make test`. Skipped visibly when valgrind is missing.
set -u
cd "$(dirname "$0")/../.."
cheap="test_util test_scenario test_hist test_measure test_journal"
passed=0; failed=0; skipped=0
if ! command -v valgrind >/dev/null 2>&1; then
    echo "skipped: valgrind is not installed (make deps installs it)"
    echo "0 passed, 0 failed, 1 skipped"; exit 0
fi
for t in $cheap; do
    bin=build/rel/tests/$t
    [ -x "$bin" ] || continue
    log=$(mktemp "${TMPDIR:-/tmp}/zonedef-vg.XXXXXX")
    if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        "$bin" >"$log" 2>&1; then
        echo "ok   valgrind: $t"; passed=$((passed + 1))
    else
        echo "FAIL valgrind: $t"; tail -n 30 "$log" | sed 's/^/    /'; failed=$((failed + 1))
    fi
    rm -f "$log"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
