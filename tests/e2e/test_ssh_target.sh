#!/usr/bin/env bash
# test_ssh_target: the SSH target on the hosts lab (`lab up --hosts`): key and agent auth;
# unknown and changed host keys refused with the fingerprint, nothing applied; the RSA/SHA-1
# case named; hostile values stay literal; every fault applied and undone; a SIGKILLed run's
# black-hole removed by the dead-man's switch alone, on time; `recover` after SIGKILL.
. "$(dirname "$0")/../lib.sh"
hosts_lab_lock
hosts_lab_up
OBS=$TMP/obs
mkdir -p "$OBS"
# what faults leave on the hosts (tables, switch and burner files, sleepers): must be nothing
residue() {
    for h in 10.213.1.1 10.213.1.2 10.213.2.1 10.213.2.2 10.213.3.1 10.213.3.2; do
        hs $h 'nft list tables | grep zonedef_; pgrep -a -f "sleep [0-9]+; " ; ps -o stat= -C web | grep T'
    done
    ls /tmp | grep -E '^zonedef-zd' || true
}

# scen NAME STEPS-JSON [TARGET-EXTRA-JSON]: a scenario on the hosts lab
scen() {
    cat >"$TMP/$1.json" <<JSON
{
  "name": "$1",
  "target": {
    "kind": "ssh", "url": "http://127.0.0.1:18000/",
    "zones": { "a": ["10.213.1.1", "10.213.1.2"], "b": ["10.213.2.1", "10.213.2.2"],
               "c": ["10.213.3.1", "10.213.3.2"] },
    "user": "root", "known_hosts": "$KH", "service": "web", "connect_timeout": "3s",
    "haproxy_socket": "$L/haproxy.sock" ${3:-, \"key\": \"$KEY\"}
  },
  "load": { "rate": 50, "connections": 8, "timeout": "1s" },
  "steady_state": { "error_rate": 0.5, "window": "1s", "hold": "1s" },
  "warmup": "1s", "settle": "1s",
  "steps": $2,
  "guards": { "max_duration": "1m" }
}
JSON
}

# ---- every fault, applied (observed on the host while it lasts) and undone -------------------
scen faults '[
  { "at": "1s", "fault": "blackhole_zone", "zone": "b", "for": "4s" },
  { "at": "1s", "fault": "stop_instances", "zone": "c", "count": 1, "for": "4s" },
  { "at": "1s", "fault": "kill_process", "zone": "a", "count": 1, "process": "web", "signal": "STOP", "for": "4s" },
  { "at": "1s", "fault": "cpu_stress", "zone": "a", "percent": 50, "cpu": 50, "workers": 2, "for": "4s" },
  { "at": "1s", "fault": "exec", "zone": "c", "count": 1, "command": "echo on > '"$OBS"'/exec", "undo": "echo off > '"$OBS"'/exec", "for": "4s" },
  { "at": "3s", "fault": "exec", "zone": "b", "command": "nft list tables > '"$OBS"'/bh.$(hostname -I | tr -d \" \")" },
  { "at": "3s", "fault": "exec", "zone": "c", "count": 1, "command": "pgrep -x web > '"$OBS"'/stop; cat '"$OBS"'/exec > '"$OBS"'/exec.during" },
  { "at": "3s", "fault": "exec", "zone": "a", "count": 1, "command": "ps -o stat= -C web > '"$OBS"'/stopped; cat /tmp/zonedef-zd*.cpu | wc -l > '"$OBS"'/cpu" },
  { "at": "7s", "fault": "kill_instances", "zone": "a", "count": 1 }
]'
pid_a1=$(hs 10.213.1.1 'pgrep -x web')
run_zd out rc run "$TMP/faults.json" --out "$TMP/r-faults"
check_eq "the run with every fault exits 0" 0 "$rc"
[ "$rc" = 0 ] || printf '%s\n' "$out" | tail -20
check_contains "blackhole: zone b's hosts had our nft table" "$(cat "$OBS"/bh.10.213.2.1 "$OBS"/bh.10.213.2.2 2>&1)" "table inet zonedef_zd"
check_eq "stop_instances: the service was stopped" "" "$(cat "$OBS/stop" 2>&1)"
check_eq "kill_process STOP: the process was frozen" "T" "$(tr -d ' \n' <"$OBS/stopped" 2>&1)"
check_eq "cpu_stress: two burners ran" 2 "$(tr -d ' \n' <"$OBS/cpu" 2>&1)"
check_eq "exec: the command ran" on "$(cat "$OBS/exec.during" 2>&1)"
check_eq "exec: the undo ran" off "$(cat "$OBS/exec" 2>&1)"
check_eq "kill_instances: a1's web server was killed (pid changed)" 1 "$([ "$(hs 10.213.1.1 'pgrep -x web')" != "$pid_a1" ] && echo 1)"
check_eq "after the run nothing is left on any host" "" "$(residue)"
check_eq "every journaled fault was undone" 0 "$(jq -s '[.[] | select(.type=="undone" and .ok==false)] | length' "$TMP/r-faults/journal.jsonl")"
act=$(jq -c 'select(.type=="intent") | .action' "$TMP/r-faults/journal.jsonl" | grep -m1 blackhole_zone)
check_contains "the journal holds structured actions (host, port, tag)" "$act" '"port":22,"zone":"b","tag":"zd'
check_not_contains "  ...and no command text" "$act" "nft"

# ---- host tags: a step's tags pick only the hosts that carry them ------------------------------
scen tagged '[{ "at": "1s", "fault": "exec", "tags": { "role": "db" }, "command": "hostname -I | tr -d \" \\n\" > '"$OBS"'/tag.$(hostname -I | tr -d \" \")" }]'
sed -i 's/"10.213.1.1"/{ "host": "10.213.1.1", "tags": { "role": "db" } }/; s/"10.213.3.2"/{ "host": "10.213.3.2", "tags": { "role": "db", "disk": "ssd" } }/; s/"10.213.2.1"/{ "host": "10.213.2.1", "tags": { "role": "web" } }/' "$TMP/tagged.json"
run_zd out rc run "$TMP/tagged.json" --out "$TMP/r-tagged"
check_eq "a step selecting by tags runs (exit 0)" 0 "$rc"
check_eq "  ...on exactly the two hosts tagged role=db" "tag.10.213.1.1 tag.10.213.3.2" "$(cd "$OBS" && ls tag.* | sort | paste -sd' ')"
check_contains "  ...and the journal's action names those two hosts" "$(jq -c 'select(.type=="intent") | [.action.hosts[].host]' "$TMP/r-tagged/journal.jsonl")" '["10.213.1.1","10.213.3.2"]'

# ---- hostile values stay literal -------------------------------------------------------------
k=0
for v in "'; touch $OBS/pwned; '" '$(touch '"$OBS"'/pwned)' '`touch '"$OBS"'/pwned`' "\"; touch $OBS/pwned; \"" "x' \"\$(touch $OBS/pwned)\" '"; do
    k=$((k + 1))
    scen hostile "$(jq -n --arg p "$v" '[{ "at": "1s", "fault": "kill_process", "zone": "a", "count": 1, "process": $p, "signal": "TERM" }]')"
    run_zd out rc run "$TMP/hostile.json" --out "$TMP/r-hostile$k"
    check_eq "hostile process name $k: the run fails to inject" 5 "$rc"
    check_contains "  ...and the host saw it as one literal name" "$out" "no process named $v"
done
scen hostile "$(jq -n --arg p "a
touch $OBS/pwned" '[{ "at": "1s", "fault": "kill_process", "zone": "a", "count": 1, "process": $p, "signal": "TERM" }]')"
run_zd out rc run "$TMP/hostile.json" --out "$TMP/r-hostile-nl"
check_eq "a newline in a process name is refused up front (exit 2)" 2 "$rc"
check_contains "  ...with the JSON path" "$out" "control characters (at \$.steps[0].process)"
scen hostile2 "$(jq -n --arg p "x'\$(touch $OBS/pwned)'" '[{ "at": "1s", "fault": "kill_process", "zone": "a", "count": 1, "process": ("pidfile:" + $p), "signal": "TERM" }]')"
run_zd out rc run "$TMP/hostile2.json" --out "$TMP/r-pidfile"
check_contains "hostile pidfile path stays literal" "$out" "no live pid in"
check "no hostile value created anything" [ ! -e "$OBS/pwned" ]

# ---- host keys -------------------------------------------------------------------------------
cp "$KH" "$TMP/kh.good"
: >"$TMP/kh.empty"
sed "s#\"known_hosts\": \"$KH\"#\"known_hosts\": \"$TMP/kh.empty\"#" "$TMP/faults.json" >"$TMP/unknown.json"
run_zd out rc run "$TMP/unknown.json" --out "$TMP/r-unknown"
fp=$(ssh-keygen -lf "$L/hosts/b1/ssh_host_ed25519_key.pub" | awk '{print $2}')
check_eq "an unknown host key stops the run (exit 5)" 5 "$rc"
check_contains "  ...naming the host, key type and OpenSSH's SHA256 fingerprint" "$out" "10.213.2.1:22: unknown host key: the ED25519 key fingerprint is $fp"
check_eq "  ...and nothing was applied (no journal intent)" 0 "$(cat "$TMP/r-unknown/journal.jsonl" 2>/dev/null | grep -c '"intent"')"
scen accept '[{ "at": "1s", "fault": "exec", "zone": "a", "count": 1, "command": "true" }]'
sed -i "s#\"known_hosts\": \"$KH\"#\"known_hosts\": \"$TMP/kh.new\"#" "$TMP/accept.json"
run_zd out rc run "$TMP/accept.json" --out "$TMP/r-accept" --accept-new-hostkeys
check_eq "--accept-new-hostkeys: the run passes" 0 "$rc"
check_eq "  ...and known_hosts got the six keys" 6 "$(wc -l <"$TMP/kh.new")"
run_zd out rc run "$TMP/accept.json" --out "$TMP/r-accept2"
check_eq "  ...which the next run accepts strictly" 0 "$rc"
# b1's line with another host's key: a changed key
other=$(awk '$1=="10.213.1.1" {print $2, $3}' "$KH")
awk -v o="$other" '$1=="10.213.2.1" {print $1, o; next} {print}' "$KH" >"$TMP/kh.changed"
sed "s#\"known_hosts\": \"$KH\"#\"known_hosts\": \"$TMP/kh.changed\"#" "$TMP/faults.json" >"$TMP/changed.json"
run_zd out rc run "$TMP/changed.json" --out "$TMP/r-changed" --accept-new-hostkeys
check_eq "a changed host key stops the run, even with --accept-new-hostkeys" 5 "$rc"
check_contains "  ...naming the host and the fingerprint" "$out" "10.213.2.1:22: HOST KEY CHANGED: the ED25519 key fingerprint is $fp"
check_eq "  ...and nothing was applied" "" "$(residue)"
# hashed entries ([host]:port and plain) work too
cp "$KH" "$TMP/kh.hashed"
ssh-keygen -H -f "$TMP/kh.hashed" >/dev/null 2>&1
sed -i "s#\"known_hosts\": \"$KH\"#\"known_hosts\": \"$TMP/kh.hashed\"#" "$TMP/accept.json"
run_zd out rc run "$TMP/accept.json" --out "$TMP/r-hashed"
check_eq "hashed known_hosts entries are accepted" 0 "$rc"
check_contains "  ...(the file is hashed)" "$(head -1 "$TMP/kh.hashed")" "|1|"

# ---- auth: agent, RSA --------------------------------------------------------------------------
scen agent '[{ "at": "1s", "fault": "exec", "zone": "a", "count": 1, "command": "true" }]' " "
eval "$(ssh-agent -a "$TMP/agent.sock" -s)" >/dev/null
on_exit "kill $SSH_AGENT_PID"
ssh-add -q "$KEY" 2>/dev/null
run_zd out rc run "$TMP/agent.json" --out "$TMP/r-agent"
check_eq "ssh-agent auth (no key in the scenario): the run passes" 0 "$rc"
kill "$SSH_AGENT_PID"; unset SSH_AUTH_SOCK SSH_AGENT_PID
scen rsa '[{ "at": "1s", "fault": "exec", "zone": "a", "count": 1, "command": "true" }]' ", \"key\": \"$L/ssh/id_rsa\""
run_zd out rc run "$TMP/rsa.json" --out "$TMP/r-rsa"
check_eq "an RSA key refused by OpenSSH: exit 5" 5 "$rc"
check_contains "  ...with the reason and the fix" "$out" "use an ed25519 key"

# ---- SIGKILL: the dead-man's switch alone removes the black-hole, on time ----------------------
scen dm '[{ "at": "1s", "fault": "blackhole_zone", "zone": "b", "for": "3s" }]'
run_bg "$TMP/dm.json" "$TMP/r-dm"
wait_applied "$TMP/r-dm" 1
t_inject=$(date +%s.%N)
kill_bg
check_contains "after SIGKILL the black-hole is still there" "$(hs 10.213.2.1 'nft list tables')" "zonedef_zd"
gone=""
for i in $(seq 200); do
    if ! hs 10.213.2.1 'nft list tables; nft -v >/dev/null' | grep -q zonedef_ && ! hs 10.213.2.2 'nft list tables' | grep -q zonedef_; then gone=$(date +%s.%N); break; fi
    sleep 0.1
done
check "the dead-man's switch removed it by itself" [ -n "$gone" ]
late=$(echo "$gone - $t_inject" | bc)
check "  ...within 'for' (3s) + 10s of the inject (took ${late}s)" [ "$(echo "$late <= 13" | bc)" = 1 ]
check "  ...and not before the planned end (3s)" [ "$(echo "$late >= 3" | bc)" = 1 ]
check_eq "  ...leaving nothing behind" "" "$(residue)"
run_zd out rc recover "$TMP/r-dm"
check_eq "recover after the switch fired: nothing left to fail" 0 "$rc"

# ---- SIGKILL, then recover: undoes and cancels the switches ----------------------------------
scen rec '[{ "at": "1s", "fault": "blackhole_zone", "zone": "b", "for": "40s" }, { "at": "1s", "fault": "stop_instances", "zone": "c", "count": 1, "for": "40s" }]'
run_bg "$TMP/rec.json" "$TMP/r-rec"
wait_applied "$TMP/r-rec" 2
kill_bg
check_contains "after SIGKILL: switches armed on the hosts" "$(ls /tmp)" "zonedef-zd"
run_zd out rc recover "$TMP/r-rec"
check_eq "recover exits 0" 0 "$rc"
check_eq "recover removed the tables, started the service, cancelled the switches" "" "$(residue)"
for i in $(seq 50); do [ -n "$(hs 10.213.3.1 'pgrep -x web')" ] && break; sleep 0.1; done
check "  ...and c1's web server runs again" [ -n "$(hs 10.213.3.1 'pgrep -x web')" ]
run_zd out rc recover "$TMP/r-rec"
check_eq "recover twice: nothing to do" 0 "$rc"
# ---- SIGKILL, a switch's file gone, recover: the switch cancelled from the journal ----------
scen dmj '[{ "at": "1s", "fault": "blackhole_zone", "zone": "b", "for": "40s" }]'
run_bg "$TMP/dmj.json" "$TMP/r-dmj"
wait_applied "$TMP/r-dmj" 1
kill_bg
J=$TMP/r-dmj/journal.jsonl
tb1=$(jq -r 'select(.type=="intent") | .action.hosts[] | select(.host=="10.213.2.1") | .tag' "$J")
tb2=$(jq -r 'select(.type=="intent") | .action.hosts[] | select(.host=="10.213.2.2") | .tag' "$J")
note=$(jq -r 'select(.type=="applied") | .note' "$J")
check_contains "the applied record journals b1's switch (tag=pid:start)" "$note" "$tb1="
check_eq "  ...and both hosts' (pid and start time each)" 2 "$(printf '%s\n' "$note" | grep -oE '(^| )zd[a-z0-9_]+=[0-9]+:[0-9]+' | wc -l)"
# the sleepers, seen from the machine (the hosts' PID namespaces are inside its own)
sleepers() { pgrep -f "zonedef-($tb1|$tb2)\.dm" || true; }
check_eq "  ...two sleepers armed" 2 "$(sleepers | wc -l)"
rm -f "/tmp/zonedef-$tb1.dm"
check "  ...b1's switch file removed (only the journal knows its pid now)" [ ! -e "/tmp/zonedef-$tb1.dm" ]
run_zd out rc recover "$TMP/r-dmj"
check_eq "recover exits 0" 0 "$rc"
check_eq "  ...the black-hole is gone from both hosts" "" "$(hs 10.213.2.1 'nft list tables | grep zonedef_'; hs 10.213.2.2 'nft list tables | grep zonedef_')"
check_eq "  ...and both sleepers are gone, b1's cancelled from the journaled pid alone" "" "$(sleepers)"
check_eq "  ...leaving nothing behind" "" "$(residue)"
finish
