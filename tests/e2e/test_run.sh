#!/usr/bin/env bash
# test_run: `zonedef run`, `recover` and `report` against the real lab (HAProxy, instances,
# healer, nft) on loopback. Measured TTD/TTR are checked against the lab's ground truth (the
# HAProxy log through `zonedef lab events --json`) to 250 ms; crash, Ctrl-C, kill-switch, failed
# undo and every exit code are exercised for real. About a minute.
. "$(dirname "$0")/../lib.sh"

if ! need_root; then
    skip "needs root" "nft black-holes and the lab's firewall tables"
    finish
fi
exec 9>/tmp/zonedef-e2e.lock
flock 9

export ZONEDEF_LAB_DIR=$TMP/lab ZONEDEF_STATE_DIR=$TMP/state
BG=()
on_exit 'for p in "${BG[@]}"; do kill -9 "$p"; done'
on_exit '"$ZD" lab down --dir "$ZONEDEF_LAB_DIR"'

# write_scn NAME STEPS [EXTRA-TOP-LEVEL-FIELDS]
write_scn() {
    cat >"$TMP/$1.json" <<EOF
{
  "name": "$1",
  "target": { "kind": "lab", "url": "http://127.0.0.1:18000/" },
  "load": { "rate": 200, "connections": 256, "timeout": "2s" },
  "steady_state": { "error_rate": 0.01, "p99": "500ms", "window": "1s", "hold": "2s" },
  "warmup": "3s",
  "settle": "3s",
  "steps": $2${3:+,
  $3}
}
EOF
}
# wait_for FILE PATTERN SECONDS
wait_for() {
    local i=0 n=$(($3 * 20))
    while [ $i -lt $n ]; do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}
bh_tables() { nft list tables 2>/dev/null | grep -c 'zonedef_bh_'; }
# abs_le NAME A B LIMIT: |A - B| <= LIMIT
abs_le() {
    case "$2:$3" in *null* | :* | *:) th_bad "$1" "no value: measured '$2', truth '$3'"; return ;; esac
    local d=$(($2 - $3))
    [ $d -lt 0 ] && d=$((-d))
    if [ "$d" -le "$4" ]; then th_ok "$1 (off by $((d / 1000)) ms)"; else th_bad "$1" "measured $2, truth $3, off by $d us"; fi
}

out=$("$ZD" lab up 2>&1)
check "lab up" [ $? -eq 0 ]

# ---- (a) zone black-hole: TTD and TTR against HAProxy's log; (g) report --recompute ----------
write_scn bh '[ { "name": "zone-b", "at": "3s", "fault": "blackhole_zone", "zone": "b", "for": "5s" } ]' \
    '"expect": { "recovery_time": "10s", "availability": 0.5 },
  "probes": [ { "name": "home", "kind": "http", "url": "http://127.0.0.1:18000/", "interval": "500ms", "timeout": "1s" },
              { "name": "false", "kind": "command", "command": "exit 1" },
              { "name": "b-alive", "kind": "lb_health", "zone": "b", "interval": "500ms" } ]'
run_zd out rc run "$TMP/bh.json" --out "$TMP/bh" --ci
check_eq "black-hole run passes (exit 0)" 0 "$rc"
check_contains "the black-hole is announced" "$out" "inject blackhole_zone zone-b: black-hole zone b"
check_contains "the load balancer routes around zone b" "$out" "zone b 0/2 healthy (routing around it)"
check_contains "recovery is reported as it happens" "$out" "recovered from zone-b"
check_match "compact CI line" "$out" '^zonedef: bh passed exit=0 score=[0-9.]+ '
R=$TMP/bh/result.json
check_contains "run says which engine the load runs on, and why" "$out" \
    "load: native engine (auto: native for http://), 200 req/s over 256 connections on"
check_eq "result.json: the engine" "native auto: native for http://" "$(jq -r '.load.engine + " " + .load.engine_why' "$R")"
if jq -e '.load.connect.count > 0 and .load.connect.count == .load.connections_opened and .load.connect.p99_us > 0 and .load.connect.p99_us >= .load.connect.p50_us' "$R" >/dev/null; then
    th_ok "result.json: every connection opened (on demand) has its connect time"
else
    th_bad "result.json: every connection opened (on demand) has its connect time" "load: $(jq -c .load "$R")"
fi
check_eq "result.json: no TLS handshakes over http://" null "$(jq '.load.tls_handshake' "$R")"
inj=$(jq '.faults[0].injected_wall_us' "$R")
# the truth about the fault starts at the injection (a stray error in the warm-up is not it)
"$ZD" lab events --json --since "$inj" >"$TMP/bh-ev.json"
first=$(jq '.first_error_us' "$TMP/bh-ev.json")
down=$(jq '[.servers[] | select(.zone == "b" and .state == "DOWN") | .t_us] | max' "$TMP/bh-ev.json")
check "HAProxy logged errors and zone b DOWN" [ "$first" != null -a "$down" != null ]
check_eq "both of zone b's servers went DOWN" 2 "$(jq '[.servers[] | select(.zone == "b" and .state == "DOWN")] | length' "$TMP/bh-ev.json")"
abs_le "black-hole TTD = HAProxy's first error" "$(jq '.faults[0].ttd_us' "$R")" $((first - inj)) 250000
abs_le "black-hole TTR = zone b out of rotation" "$(jq '.faults[0].ttr_us' "$R")" $((down - inj)) 250000
J=$TMP/bh/journal.jsonl
check_eq "journal: intent is written before applied" "intent applied undo_intent undone" \
    "$(jq -r 'select(.step == 0) | .type' "$J" | tr '\n' ' ' | sed 's/ $//')"
check_eq "journal: the action is the lab's, verbatim JSON" lab "$(jq -r 'select(.type == "intent") | .action.kind' "$J")"
check_eq "journal: last record is the result" end "$(tail -n 1 "$J" | jq -r .type)"
check_eq "the black-hole is gone after the run" 0 "$(bh_tables)"
check_contains "a failing command probe is reported" "$out" "probe false fails: exit 1"
check_contains "the lb_health probe sees zone b leave" "$out" "probe b-alive fails: 0 healthy in zone b"
check_contains "...and come back" "$out" "probe b-alive passes again: 2 healthy in zone b"
check "the http probe passed and was journaled" [ "$(jq -s '[.[] | select(.type == "probe" and .name == "home" and .ok)] | length' "$J")" -ge 5 ]
printed=$(printf '%s\n' "$out" | sed -nE 's/^scorecard bh: passed, score ([0-9.]+)\/100$/\1/p')
run_zd out rc report --recompute "$TMP/bh"
check_eq "report --recompute exits 0" 0 "$rc"
check_contains "recomputed score equals the printed one" "$out" "score $printed, equal to result.json"
check_eq "result.json has the printed score" "$printed" "$(jq -r '.score.total * 10 | round / 10 | tostring | if test("[.]") then . else . + ".0" end' "$R")"
run_zd out rc report "$TMP/bh"
check_contains "report prints the scorecard" "$out" "scorecard bh: passed, score $printed/100"
jq '.score.total = 1.5' "$R" >"$TMP/r.json" && cp "$TMP/r.json" "$R"
run_zd out rc report --recompute "$TMP/bh"
check_eq "a result.json that disagrees with the journal: exit 5" 5 "$rc"

# ---- (b) instance kill: TTD/TTR against HAProxy's log, the healer's replacement ------------
write_scn kill '[ { "name": "kill-a", "at": "3s", "fault": "kill_instances", "zone": "a", "count": 1 } ]' \
    '"expect": { "recovery_time": "10s" }'
sed -i 's/"settle": "3s"/"settle": "5s"/' "$TMP/kill.json"
run_zd out rc run "$TMP/kill.json" --out "$TMP/kill" --ci
check_eq "instance kill run passes" 0 "$rc"
R=$TMP/kill/result.json
inj=$(jq '.faults[0].injected_wall_us' "$R")
victim=$(jq -r 'select(.type == "intent") | .summary' "$TMP/kill/journal.jsonl" | sed -nE 's/.*\(([a-z][0-9]+)\).*/\1/p')
"$ZD" lab events --json --since "$inj" >"$TMP/kill-ev.json"
first=$(jq '.first_error_us' "$TMP/kill-ev.json")
down=$(jq --arg v "$victim" '[.servers[] | select(.server == $v and .state == "DOWN") | .t_us] | min' "$TMP/kill-ev.json")
healed=$(jq --arg v "$victim" '[.healer[] | select(.action == "replace" and .instance == $v) | .t_us] | min' "$TMP/kill-ev.json")
check "HAProxy saw the kill ($victim)" [ -n "$victim" -a "$first" != null -a "$down" != null ]
abs_le "kill TTD = HAProxy's first error" "$(jq '.faults[0].ttd_us' "$R")" $((first - inj)) 250000
abs_le "kill TTR = the victim out of rotation" "$(jq '.faults[0].ttr_us' "$R")" $((down - inj)) 250000
check "the healer replaced $victim after the kill" [ "$healed" != null ] && check "...after the kill" [ "$healed" -gt "$inj" ]

# ---- (e) exit codes 1, 2, 5 and --dry-run ---------------------------------------------------
write_scn strict '[ { "name": "spike", "at": "1s", "fault": "traffic_spike", "rate": 400, "for": "1s" } ]' \
    '"expect": { "p99": "1us" }'
sed -i 's/"warmup": "3s"/"warmup": "1s"/; s/"settle": "3s"/"settle": "1s"/' "$TMP/strict.json"
run_zd out rc run "$TMP/strict.json" --out "$TMP/strict"
check_eq "an impossible expectation: exit 1" 1 "$rc"
check_match "the failed check is shown" "$out" 'FAIL +p99 latency +want <= 1us'
check_eq "a traffic spike doubles the rate while it lasts" "200 400 200" \
    "$(jq -r 'select(.type == "interval" and (.i == 5 or .i == 15 or .i == 25)) | .rate' "$TMP/strict/journal.jsonl" | tr '\n' ' ' | sed 's/ $//')"
check_eq "...and the requests follow" 40 "$(jq 'select(.type == "interval" and .i == 15) | .total' "$TMP/strict/journal.jsonl")"
printf '{\n  "name": "bad",\n  "zone_id": 1\n}\n' >"$TMP/bad.json"
run_zd out rc run "$TMP/bad.json"
check_eq "an invalid file: exit 2" 2 "$rc"
check_contains "the error has file:line:col" "$out" "zonedef: run: $TMP/bad.json:3:3: unknown key 'zone_id'"
run_zd out rc run "$TMP/bh.json" --bogus
check_eq "an unknown option: exit 2" 2 "$rc"
ZONEDEF_LAB_DIR=$TMP/nolab run_zd out rc run "$TMP/bh.json" --out "$TMP/nolab-run"
check_eq "the lab is not up: exit 5" 5 "$rc"
check_contains "it says so" "$out" "the lab is not up"
run_zd out rc run "$TMP/bh.json" --dry-run --out "$TMP/dry"
check_eq "--dry-run exits 0" 0 "$rc"
check_contains "--dry-run says what it would do" "$out" "would inject blackhole_zone zone-b: black-hole zone b"
check "--dry-run touches nothing" [ ! -e "$TMP/dry" -a "$(bh_tables)" -eq 0 ]

# ---- (d) Ctrl-C during a fault: undone within 2 s, exit 3; (f) a second run is refused -------
write_scn long '[ { "name": "zone-b", "at": "2s", "fault": "blackhole_zone", "zone": "b", "for": "30s" } ]'
sed -i 's/"warmup": "3s"/"warmup": "2s"/' "$TMP/long.json"
"$ZD" run "$TMP/long.json" --out "$TMP/int" >"$TMP/int.log" 2>&1 &
pid=$!
BG+=("$pid")
wait_for "$TMP/int.log" "inject blackhole_zone" 10
check_eq "the black-hole is in place" 1 "$(bh_tables)"
run_zd out rc run "$TMP/bh.json" --out "$TMP/second"
check_eq "a second run on the same target: exit 5" 5 "$rc"
check_contains "it is refused" "$out" "another zonedef run is using lab:"
check "the refused run touched nothing" [ ! -e "$TMP/second" ]
t0=$(date +%s%N)
kill -INT "$pid"
gone=""
for _ in $(seq 60); do
    [ "$(bh_tables)" -eq 0 ] && { gone=$(date +%s%N); break; }
    sleep 0.05
done
check "Ctrl-C: the black-hole is gone" [ -n "$gone" ]
[ -n "$gone" ] && check "Ctrl-C: undone within 2 s ($(((gone - t0) / 1000000)) ms)" [ $((gone - t0)) -lt 2000000000 ]
wait "$pid"
check_eq "Ctrl-C: exit 3" 3 "$?"
check_contains "Ctrl-C: the abort is explained" "$(cat "$TMP/int.log")" "interrupted by a signal"
check_eq "Ctrl-C: result.json says aborted" aborted "$(jq -r .status "$TMP/int/result.json")"

# ---- (e) exit 3 from the kill-switch guard ----------------------------------------------------
write_scn ks '[ { "name": "zone-b", "at": "2s", "fault": "blackhole_zone", "zone": "b", "for": "30s" } ]' \
    "\"guards\": { \"kill_switch\": \"$TMP/STOP\" }"
sed -i 's/"warmup": "3s"/"warmup": "2s"/' "$TMP/ks.json"
"$ZD" run "$TMP/ks.json" --out "$TMP/ks" >"$TMP/ks.log" 2>&1 &
pid=$!
BG+=("$pid")
wait_for "$TMP/ks.log" "inject blackhole_zone" 10
touch "$TMP/STOP"
wait "$pid"
check_eq "kill-switch file: exit 3" 3 "$?"
check_contains "the guard is named" "$(cat "$TMP/ks.log")" "kill-switch file '$TMP/STOP' exists"
check_eq "kill-switch: the black-hole is undone" 0 "$(bh_tables)"
check_eq "kill-switch: journaled as a guard" kill_switch "$(jq -r 'select(.type == "guard") | .guard' "$TMP/ks/journal.jsonl")"

# ---- (e) exit 3 from SIGTERM, as from Ctrl-C ---------------------------------------------------
"$ZD" run "$TMP/long.json" --out "$TMP/term" >"$TMP/term.log" 2>&1 &
pid=$!
BG+=("$pid")
wait_for "$TMP/term.log" "inject blackhole_zone" 10
kill -TERM "$pid"
wait "$pid"
check_eq "SIGTERM: exit 3" 3 "$?"
check_eq "SIGTERM: the black-hole is undone" 0 "$(bh_tables)"
check_eq "SIGTERM: journaled as the signal guard" signal \
    "$(jq -r 'select(.type == "guard") | .guard' "$TMP/term/journal.jsonl")"

# ---- (e) exit 3 from the error-rate guard: every zone dark ----------------------------------
write_scn err '[ { "name": "dark-a", "at": "2s", "fault": "blackhole_zone", "zone": "a", "for": "30s" },
    { "name": "dark-b", "at": "2s", "fault": "blackhole_zone", "zone": "b", "for": "30s" },
    { "name": "dark-c", "at": "2s", "fault": "blackhole_zone", "zone": "c", "for": "30s" } ]' \
    '"guards": { "abort_if_error_rate": 0.5, "for": "1s" }'
sed -i 's/"warmup": "3s"/"warmup": "2s"/' "$TMP/err.json"
t0=$(date +%s)
run_zd out rc run "$TMP/err.json" --out "$TMP/err"
check_eq "error rate above the guard: exit 3" 3 "$rc"
check_match "the error-rate guard is named" "$out" "error rate [0-9.]+% above 50% for 1s"
check "...long before the faults would end ($(($(date +%s) - t0)) s)" [ $(($(date +%s) - t0)) -lt 20 ]
check_eq "error-rate guard: every black-hole is undone" 0 "$(bh_tables)"

# ---- (e) exit 3 from max_duration: an exec fault that outlasts it ---------------------------
# (every zone was dark: wait until HAProxy has all six servers back)
for _ in $(seq 100); do
    [ "$("$ZD" lab status --json | jq '[.zones[].healthy] | add')" = 6 ] && break
    sleep 0.1
done
check_eq "every server is back in rotation" 6 "$("$ZD" lab status --json | jq '[.zones[].healthy] | add')"
write_scn md '[ { "name": "slow", "at": "1s", "fault": "exec", "command": "sleep 4", "undo": "true", "for": "1s" } ]' \
    '"guards": { "max_duration": "4s" }'
sed -i 's/"warmup": "3s"/"warmup": "1s"/; s/"settle": "3s"/"settle": "1s"/' "$TMP/md.json"
run_zd out rc run "$TMP/md.json" --out "$TMP/md"
check_eq "a run past max_duration: exit 3" 3 "$rc"
check_contains "the max_duration guard is named" "$out" "the run reached max_duration 4s"
check_eq "max_duration: the exec fault was undone" undone \
    "$(jq -r 'select(.type == "undone") | .type' "$TMP/md/journal.jsonl" | head -n 1)"

# ---- (e) exit 3 from the capacity guard ------------------------------------------------------
write_scn cap '[ { "name": "zone-b", "at": "2s", "fault": "blackhole_zone", "zone": "b", "for": "30s" } ]' \
    '"guards": { "min_healthy": 0.9 }'
sed -i 's/"warmup": "3s"/"warmup": "2s"/' "$TMP/cap.json"
run_zd out rc run "$TMP/cap.json" --out "$TMP/cap"
check_eq "healthy capacity below the floor: exit 3" 3 "$rc"
check_match "the capacity guard is named" "$out" "healthy capacity [45]/6 is below 90%"
check_eq "capacity guard: the black-hole is undone" 0 "$(bh_tables)"

# ---- (e) exit 4: an undo that fails; recover retries it --------------------------------------
write_scn undo '[ { "name": "flaky", "at": "1s", "fault": "exec", "command": "true", "undo": "test -e '"$TMP"'/undo-ok", "for": "1s" } ]'
sed -i 's/"warmup": "3s"/"warmup": "1s"/; s/"settle": "3s"/"settle": "1s"/' "$TMP/undo.json"
run_zd out rc run "$TMP/undo.json" --out "$TMP/undo"
check_eq "a failed undo: exit 4" 4 "$rc"
check_contains "the message says what and how to retry" "$out" "undo failed: flaky"
check_contains "...and names recover" "$out" "'zonedef recover $TMP/undo' retries"
run_zd out rc run "$TMP/bh.json" --out "$TMP/refused"
check_eq "a run on a target with open faults: exit 4" 4 "$rc"
check_contains "it points at recover" "$out" "run 'zonedef recover' first"
touch "$TMP/undo-ok"
run_zd out rc recover "$TMP/undo"
check_eq "recover after fixing the cause: exit 0" 0 "$rc"
check_contains "recover says what it undid" "$out" "undone flaky"

# ---- (c) SIGKILL the runner mid black-hole; recover from the journal -------------------------
"$ZD" run "$TMP/long.json" --out "$TMP/crash" >"$TMP/crash.log" 2>&1 &
pid=$!
BG+=("$pid")
wait_for "$TMP/crash.log" "inject blackhole_zone" 10
kill -9 "$pid"
wait "$pid" 2>/dev/null
check_eq "after SIGKILL the black-hole is still there" 1 "$(bh_tables)"
run_zd out rc recover
check_eq "recover: exit 0" 0 "$rc"
check_contains "recover undid the black-hole" "$out" "undone zone-b: black-hole zone b"
check_eq "recover: the nft table is gone" 0 "$(bh_tables)"
check_eq "recover journaled its undo" recover "$(jq -r 'select(.type == "undone") | .by' "$TMP/crash/journal.jsonl")"
run_zd out rc recover
check_eq "a second recover: exit 0" 0 "$rc"
check_contains "a second recover is a no-op" "$out" "nothing to recover"

finish
