# lib.sh: the shell side of zonedef's test harness, sourced by tests/cli/*.sh and tests/e2e/*.sh.
#
#   . "$(dirname "$0")/../lib.sh"
#   check "validate accepts the examples" [ "$rc" -eq 0 ]
#   check_eq "exit code" 2 "$rc"
#   check_contains "error names the key" "$out" "unknown key 'zone_id'"
#   skip "needs root"          # prints a visible 'skipped: needs root' line and counts a skip
#   finish                      # prints "N passed, N failed[, N skipped]" and exits 1 on failure
#
# ZD is the binary under test (the repo's ./zonedef unless set). TMP is a per-test temporary
# directory removed on exit; register cleanups with `on_exit 'command'` (run in reverse order,
# also when the test fails or is interrupted).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ZD=${ZD:-$ROOT/zonedef}
# No test may reach the real AWS instance metadata address (169.254.169.254): the AWS
# credential chain asks it last unless this is set; the tests that test IMDS serve it on
# loopback and say so.
export AWS_EC2_METADATA_DISABLED=${AWS_EC2_METADATA_DISABLED:-true}
TH_NAME=$(basename "$0" .sh)
TH_PASSED=0
TH_FAILED=0
TH_SKIPPED=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/zonedef-test.XXXXXX")
TH_CLEANUPS=()

on_exit() { TH_CLEANUPS=("$1" "${TH_CLEANUPS[@]}"); }
th_cleanup() {
    local c
    for c in "${TH_CLEANUPS[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
    TH_CLEANUPS=()
    rm -rf "$TMP"
}
trap th_cleanup EXIT
trap 'th_cleanup; exit 130' INT TERM

th_ok() { TH_PASSED=$((TH_PASSED + 1)); echo "ok   $TH_NAME: $1"; }
th_bad() { TH_FAILED=$((TH_FAILED + 1)); echo "FAIL $TH_NAME: $1"; shift; [ $# -gt 0 ] && printf '    %s\n' "$@"; return 0; }

# check NAME CMD...: passes when CMD succeeds.
check() { local name=$1; shift; if "$@"; then th_ok "$name"; else th_bad "$name" "command failed: $*"; fi; }
# check_eq NAME WANT GOT
check_eq() { if [ "$2" = "$3" ]; then th_ok "$1"; else th_bad "$1" "want: $2" "got:  $3"; fi; }
# check_contains NAME HAYSTACK NEEDLE
check_contains() {
    case "$2" in *"$3"*) th_ok "$1" ;; *) th_bad "$1" "missing: $3" "in: $(printf '%s' "$2" | head -c 2000)" ;; esac
}
check_not_contains() {
    case "$2" in *"$3"*) th_bad "$1" "unexpected: $3" "in: $(printf '%s' "$2" | head -c 2000)" ;; *) th_ok "$1" ;; esac
}
# check_match NAME HAYSTACK EXTENDED-REGEX
check_match() { if printf '%s' "$2" | grep -Eq -- "$3"; then th_ok "$1"; else th_bad "$1" "no match for /$3/" "in: $(printf '%s' "$2" | head -c 2000)"; fi; }
skip() { TH_SKIPPED=$((TH_SKIPPED + 1)); echo "skipped: $1 ($TH_NAME${2:+: $2})"; }
need_root() { [ "$(id -u)" -eq 0 ]; }

finish() {
    if [ "$TH_SKIPPED" -gt 0 ]; then
        echo "$TH_PASSED passed, $TH_FAILED failed, $TH_SKIPPED skipped"
    else
        echo "$TH_PASSED passed, $TH_FAILED failed"
    fi
    [ "$TH_FAILED" -eq 0 ]
    exit $?
}

# hosts_lab_lock: for the tests of the hosts lab (root only: skipped otherwise): takes the lab
# lock (one lab per machine) and gives the test a lab and state directory of its own.
hosts_lab_lock() {
    if ! need_root; then skip "needs root"; finish; fi
    exec 9>/tmp/zonedef-e2e.lock
    flock 9
    export ZONEDEF_LAB_DIR=$TMP/lab ZONEDEF_STATE_DIR=$TMP/state
}
# hosts_lab_up: `lab up --hosts` (taken down on exit), checked; sets L (the lab's directory),
# KEY and KH (its client key and known_hosts); hs HOST CMD runs CMD on a lab host over ssh.
hosts_lab_up() {
    on_exit '"$ZD" lab down'
    run_zd out rc lab up --hosts --heal-delay 1s
    check_eq "lab up --hosts" 0 "$rc"
    L=$TMP/lab KEY=$TMP/lab/ssh/id_ed25519 KH=$TMP/lab/ssh/known_hosts
}
hs() { timeout 10 ssh -i "$KEY" -o UserKnownHostsFile="$KH" -o BatchMode=yes root@"$1" "$2" 2>&1; }

# run_bg SCENARIO OUT: `zonedef run SCENARIO --out OUT` in the background (output in OUT.log),
# its pid in ZPID; wait_applied OUT N: until OUT's journal has N "applied" records (at most
# 10 s); kill_bg: SIGKILL it and reap it (the crash that `recover` and dead-man's switches are for)
run_bg() { "$ZD" run "$1" --out "$2" >"$2.log" 2>&1 & ZPID=$!; }
wait_applied() {
    for _ in $(seq 100); do
        [ "$(grep -c '"applied"' "$1/journal.jsonl" 2>/dev/null)" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
kill_bg() { kill -9 "$ZPID"; wait "$ZPID" 2>/dev/null; }

# run_zd OUTVAR RCVAR ARGS...: runs the binary, stdout+stderr into OUTVAR, exit code into RCVAR,
# killed after 120 s so a hang is a failure, not a stuck CI job.
run_zd() {
    local __o=$1 __r=$2; shift 2
    local __out __rc
    __out=$(timeout -k 5 120 "$ZD" "$@" 2>&1); __rc=$?
    printf -v "$__o" '%s' "$__out"
    printf -v "$__r" '%s' "$__rc"
}
