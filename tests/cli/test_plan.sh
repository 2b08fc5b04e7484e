#!/usr/bin/env bash
# test_plan: `zonedef plan` on the real binary — the table a person reads, --json for machines
# (checked with jq), colour only on a terminal, errors like validate's.
. "$(dirname "$0")/../lib.sh"
cd "$ROOT" || exit 1

OUT=$(timeout 60 "$ZD" plan scenarios/game-day.json 2>"$TMP/err"); RC=$?
check_eq "plan game-day: exit 0" 0 "$RC"
check_eq "plan game-day: nothing on stderr" "" "$(cat "$TMP/err")"
check_match "table header" "$OUT" '^ +TIME +EVENT +STEP +FAULT +WHERE +DETAIL +FOR +UNTIL +EXPECT$'
check_match "warm-up row" "$OUT" '^ +0s +warm-up +15s +15s +baseline at 200 req/s$'
check_match "zone b black-holed at 15s for 30s until 45s" "$OUT" \
    '^ +15s +inject +zone-b-dark +blackhole_zone +zone b +30s +45s +recover <= 5s, detect <= 2s$'
check_match "zone b undone at 45s" "$OUT" '^ +45s +undo +zone-b-dark +blackhole_zone +zone b +undone$'
check_match "kill in zone a is instantaneous" "$OUT" \
    '^ +30s +inject +kill-in-a-during-b +kill_instances +zone a, 1 instance +- +- +errors <= 30%$'
check_match "spike shows the rates" "$OUT" '1m35s +inject +triple-traffic +traffic_spike +the load +200 -> 600 req/s \(ramp 3s\) +20s +1m55s'
check_match "settle then end" "$OUT" '^ +1m55s +settle +15s +2m10s'
check_match "end row" "$OUT" '^ +2m10s +end +score and exit code$'
check_contains "guards summarised" "$OUT" "guards   abort if errors > 50% for 10s; abort if healthy capacity < 30%; stop after 5m; kill switch /tmp/zonedef-stop"
check_contains "expectations summarised" "$OUT" "expect   recover <= 10s, detect <= 3s, availability >= 93%, errors <= 60%, p99 <= 1s, score >= 55"
check_contains "steady state summarised" "$OUT" "steady   errors <= 1%, p99 <= 400ms per 1s window, held 5s to count as recovered"
check_contains "probes listed" "$OUT" "front-door: GET http://127.0.0.1:18000/ every 2s"
check_not_contains "no colour when stdout is not a terminal" "$OUT" $'\033['
# events in time order
times=$(printf '%s\n' "$OUT" | grep -E '^ +[0-9].* (warm-up|inject|undo|settle|end) ' | awk '{print $1}' | tr '\n' ' ')
check_eq "events in time order" "0s 15s 30s 45s 1m 1m20s 1m35s 1m55s 1m55s 2m10s " "$times"

# colour on a terminal (script gives the command a pty)
if command -v script >/dev/null 2>&1; then
    COL=$(TERM=xterm timeout 30 script -qec "$ZD plan scenarios/lab-zone-outage.json" /dev/null 2>/dev/null)
    check_contains "colour on a terminal" "$COL" $'\033[31m'
    COL=$(NO_COLOR=1 TERM=xterm timeout 30 script -qec "$ZD plan scenarios/lab-zone-outage.json" /dev/null 2>/dev/null)
    check_not_contains "NO_COLOR turns it off" "$COL" $'\033[31m'
else
    skip "colour on a terminal" "script(1) is missing"
fi

# --json
J=$(timeout 60 "$ZD" plan --json scenarios/game-day.json); RC=$?
check_eq "plan --json: exit 0" 0 "$RC"
check_eq "--json is valid JSON with the name" "game-day" "$(printf '%s' "$J" | jq -r .name)"
check_eq "--json duration_us" 130000000 "$(printf '%s' "$J" | jq .duration_us)"
check_eq "--json steps in time order" "15000000 30000000 60000000 95000000" \
    "$(printf '%s' "$J" | jq -r '[.steps[].at_us] | map(tostring) | join(" ")')"
check_eq "--json first step" "blackhole_zone b 30000000 45000000" \
    "$(printf '%s' "$J" | jq -r '.steps[0] | "\(.fault) \(.zone) \(.for_us) \(.until_us)"')"
check_eq "--json events" "warmup inject inject undo inject undo inject undo settle end" \
    "$(printf '%s' "$J" | jq -r '[.events[].event] | join(" ")')"
check_eq "--json unset expectations are null" "null" \
    "$(printf '%s' "$J" | jq '.steps[2].expect.recovery_us')"
check_eq "--json target zones" "a,b,c" "$(printf '%s' "$J" | jq -r '[.target.zones[].name] | join(",")')"
J=$(timeout 60 "$ZD" plan --json scenarios/ssh-zone-blackhole.json)
check_eq "--json ssh hosts" "web-b2.staging.example.com:2222" \
    "$(printf '%s' "$J" | jq -r '.target.zones[1].hosts[1]')"

# every example plans
bad=0
for f in scenarios/*.json; do
    timeout 60 "$ZD" plan "$f" >/dev/null 2>&1 || bad=$((bad + 1))
    timeout 60 "$ZD" plan --json "$f" | jq -e .events >/dev/null 2>&1 || bad=$((bad + 1))
done
check_eq "every example plans, as a table and as JSON" 0 "$bad"

# undo rows say what undoing means
OUT=$(timeout 60 "$ZD" plan tests/data/scenarios/valid/full-lab.json 2>&1)
check_match "exec undo shows its command" "$OUT" '^ +1m10s +undo +late-exec +exec +zone a, all instances +\$ rm -f /tmp/x$'
check_match "a STOP is undone with CONT" "$OUT" '^ +25s +undo +kill_process@20s +kill_process +zone a, 1 instance +zd-instance SIGCONT$'
check_match "cpu stress detail" "$OUT" 'cpu_stress +zone b, 50% +cpu 80% x2 +10s +30s +recover <= 3s, detect <= 1s, errors <= 10%$'

# --var reaches the plan
OUT=$(timeout 60 "$ZD" plan --var spike_rate=900 scenarios/lab-traffic-spike.json 2>&1)
check_contains "--var changes the plan" "$OUT" "100 -> 900 req/s"

# the README's samples are what the binary prints today
readme_block() { awk -v cmd="\$ $1" 'f && /^```/ {exit} f {print} $0 == cmd {f=1}' README.md; }
check_eq "README plan sample is current" "$(readme_block './zonedef plan scenarios/lab-zone-outage.json')" \
    "$(timeout 60 "$ZD" plan scenarios/lab-zone-outage.json)"
check_eq "README validate sample is current" "$(readme_block './zonedef validate scenarios/*.json')" \
    "$(timeout 60 "$ZD" validate scenarios/*.json)"
check_eq "README error sample is current" \
    "$(readme_block './zonedef validate tests/data/scenarios/invalid/three-mistakes.json')" \
    "$(timeout 60 "$ZD" validate tests/data/scenarios/invalid/three-mistakes.json 2>&1)"

# errors
run_zd OUT RC plan tests/data/scenarios/invalid/three-mistakes.json
check_eq "invalid file: exit 2" 2 "$RC"
check_eq "invalid file: validate's lines" "$(sed 's/^/zonedef: plan: /' tests/data/scenarios/invalid/three-mistakes.json.err)" "$OUT"
run_zd OUT RC plan scenarios/game-day.json scenarios/lab-zone-outage.json
check_eq "two files: exit 2" 2 "$RC"
check_contains "two files: says so" "$OUT" "give exactly one file"
run_zd OUT RC plan --jsn scenarios/game-day.json
check_eq "--jsn: exit 2" 2 "$RC"
check_eq "--jsn: did you mean" "zonedef: plan: unknown option '--jsn' (did you mean '--json'?)" "$OUT"

finish
