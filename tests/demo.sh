#!/usr/bin/env bash
# demo.sh: what `make demo` runs (after make has installed what is missing and built ./zonedef):
# brings up the local lab, runs the zone-outage scenario through it while zone b goes dark,
# prints the scorecard, and takes the lab down again on every way out (success, failure,
# Ctrl-C: zonedef undoes its faults first, then this script stops the lab).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ZD=$ROOT/zonedef
SCENARIO=${DEMO_SCENARIO:-$ROOT/scenarios/lab-zone-outage.json}
cd "$ROOT" || exit 5

bold=""
off=""
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
    bold=$(printf '\033[1m')
    off=$(printf '\033[0m')
fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$off"; }

if [ ! -x "$ZD" ]; then
    echo "demo: ./zonedef is not built (run 'make demo', which builds it first)" >&2
    exit 5
fi
# The end-to-end tests bring up labs on the same loopback addresses: take turns.
exec 9>/tmp/zonedef-e2e.lock
if ! flock -n 9; then
    echo "demo: waiting for the end-to-end tests to release the lab addresses..."
    flock 9
fi

started=""
teardown() {
    if [ -n "$started" ]; then
        say "tearing the lab down"
        "$ZD" lab down
        started=""
    fi
}
trap teardown EXIT
trap 'exit 130' INT TERM

say "1/3 bringing up the lab: zones a, b, c (two instances each) behind HAProxy on 127.0.0.1:18000"
if "$ZD" lab status >/dev/null 2>&1; then
    echo "a lab is already up: using it, and leaving it up afterwards"
elif "$ZD" lab up; then
    started=1
else
    echo "demo: the lab did not come up" >&2
    exit 5
fi

say "2/3 $(basename "$SCENARIO"): traffic through HAProxy, then zone b goes dark"
echo "watch for: the baseline, the black-hole of zone b, the burst of errors, HAProxy taking"
echo "zone b out of rotation (users recover), zone b coming back, and the score."
echo
"$ZD" run "$SCENARIO"
rc=$?

say "3/3 done: zonedef run exited $rc"
case $rc in
    0) echo "passed: every expectation of the scenario was met" ;;
    1) echo "expectations not met: see the failed checks above" ;;
    3) echo "aborted: every fault was undone" ;;
    4) echo "an undo failed: run './zonedef recover'" ;;
    *) echo "see the message above" ;;
esac
echo "results: the newest directory in reports/ (./zonedef report reports/<run>)"
exit $rc
