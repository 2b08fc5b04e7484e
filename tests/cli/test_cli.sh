#!/usr/bin/env bash
# test_cli: the command table — --version, help, unknown commands and options with a
# did-you-mean and exit 2, --help on the commands of issue 2.
. "$(dirname "$0")/../lib.sh"
cd "$ROOT" || exit 1

run_zd OUT RC --version
check_eq "--version: exit 0" 0 "$RC"
check_match "--version prints the version" "$OUT" '^zonedef [0-9]+\.[0-9]+\.[0-9]+$'

run_zd OUT RC help
check_eq "help: exit 0" 0 "$RC"
check_contains "help lists validate" "$OUT" "validate   check scenario files and report every mistake"
check_contains "help lists plan" "$OUT" "plan       print the timeline a scenario will follow"
check_contains "help lists exit codes" "$OUT" "exit codes: 0 passed"

run_zd OUT RC
check_eq "no command: exit 2" 2 "$RC"

run_zd OUT RC valdate scenarios/game-day.json
check_eq "unknown command: exit 2" 2 "$RC"
check_eq "unknown command: did you mean" "zonedef: 'valdate' is not a command (did you mean 'validate'?)" "$OUT"
run_zd OUT RC frobnicate
check_eq "unknown command, nothing close: exit 2" 2 "$RC"
check_contains "unknown command, nothing close: points at help" "$OUT" "see 'zonedef --help'"

run_zd OUT RC validate --quite scenarios/game-day.json
check_eq "unknown option: exit 2" 2 "$RC"
check_eq "unknown option: did you mean" "zonedef: validate: unknown option '--quite' (did you mean '--quiet'?)" "$OUT"
run_zd OUT RC --verison
check_eq "unknown top-level option: exit 2" 2 "$RC"
check_contains "unknown top-level option: did you mean" "$OUT" "did you mean '--version'?"
run_zd OUT RC validate --var
check_eq "option without its value: exit 2" 2 "$RC"
check_contains "option without its value: says so" "$OUT" "needs a value"

for c in validate plan; do
    run_zd OUT RC "$c" --help
    check_eq "$c --help: exit 0" 0 "$RC"
    check_contains "$c --help: usage" "$OUT" "usage: zonedef $c"
    run_zd OUT2 RC help "$c"
    check_eq "help $c: exit 0" 0 "$RC"
    check_eq "help $c = $c --help" "$OUT" "$OUT2"
done
run_zd OUT RC plan -h
check_eq "plan -h: exit 0" 0 "$RC"
check_contains "plan --help documents --json" "$OUT" "--json"
check_contains "validate --help documents --var" "$(timeout 10 "$ZD" validate --help)" "--var name=value"

finish
