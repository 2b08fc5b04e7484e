#!/usr/bin/env bash
# test_ssh_netem: the latency fault over SSH on the hosts lab (`lab up --hosts`).
#
# (a) This machine's kernel has no sch_netem (and no module to load), so on the real hosts the
#     run must refuse before anything is applied, naming the host, with exit 5 (a runtime error:
#     the scenario is valid, the hosts cannot do it).
# (b) Because netem can never really apply here, host a1 gets a STAND-IN tc: the script
#     tests/data/netem/standin-tc.sh, bind-mounted over /usr/sbin/tc inside a1's mount
#     namespace ONLY (nsenter -t <a1's sshd> -m), which records every argv and keeps the qdiscs
#     in a file the way the kernel would. It proves which commands zonedef sends when: the probe
#     (in a private network namespace), apply, the dead-man's switch after SIGKILL, undo, recover
#     after SIGKILL, and that an admin's qdisc is refused and left alone. It does not prove that
#     packets are delayed: that needs a kernel with sch_netem.
. "$(dirname "$0")/../lib.sh"
hosts_lab_lock
hosts_lab_up

# scen NAME STEPS-JSON: a scenario on the hosts lab
scen() {
    cat >"$TMP/$1.json" <<JSON
{
  "name": "$1",
  "target": {
    "kind": "ssh", "url": "http://127.0.0.1:18000/",
    "zones": { "a": ["10.213.1.1", "10.213.1.2"], "b": ["10.213.2.1", "10.213.2.2"],
               "c": ["10.213.3.1", "10.213.3.2"] },
    "user": "root", "known_hosts": "$KH", "key": "$KEY", "service": "web", "connect_timeout": "3s"
  },
  "load": { "rate": 20, "connections": 4, "timeout": "1s" },
  "steady_state": { "error_rate": 0.5, "window": "1s", "hold": "1s" },
  "warmup": "1s", "settle": "1s",
  "steps": $2,
  "guards": { "max_duration": "1m" }
}
JSON
}
intents() { grep -c '"intent"' "$1/journal.jsonl" 2>/dev/null || true; }

# ---- (a) the real kernel: refused before anything is applied, naming the host ----------------
scen real '[{ "at": "1s", "fault": "latency", "zone": "b", "delay": "200ms", "loss": 1, "for": "3s" }]'
run_zd out rc run "$TMP/real.json" --out "$TMP/r-real"
check_eq "no sch_netem here: the run stops with exit 5" 5 "$rc"
check_contains "  ...saying nothing was applied, naming the host and why" "$out" "latency needs tc netem on every host, nothing was applied: 10.213.2.1"
check_contains "  ...the reason" "$out" "tc netem is not available (no sch_netem in this kernel)"
check_eq "  ...no journal intent" 0 "$(intents "$TMP/r-real")"
check_eq "  ...b1's eth0 keeps its default qdisc" "qdisc noqueue 0: root refcnt 2 " "$(hs 10.213.2.1 'tc qdisc show dev eth0 root')"
check_eq "  ...and no netem or switch file on any host" "" "$(ls /tmp | grep -E '^zonedef-zd.*\.(netem|dm)$')"

# ---- (b) a stand-in tc on host a1 only -------------------------------------------------------
sed -e "s#^log=.*#log=$TMP/tc.log#" -e "s#^state=.*#state=$TMP/tc.state#" \
    "$ROOT/tests/data/netem/standin-tc.sh" >"$TMP/standin-tc"
chmod 755 "$TMP/standin-tc"
a1=""
for p in $(ip netns pids zonedef-a1); do [ "$(cat /proc/"$p"/comm 2>/dev/null)" = sshd ] && { a1=$p; break; }; done
check "a1's sshd found" [ -n "$a1" ]
nsenter -t "$a1" -m mount --bind "$TMP/standin-tc" /usr/sbin/tc
on_exit "nsenter -t $a1 -m umount /usr/sbin/tc 2>/dev/null"
check_contains "a1 runs the stand-in tc" "$(hs 10.213.1.1 'tc qdisc show dev eth0 root; cat '"$TMP"'/tc.log')" "qdisc show dev eth0 root"
check_contains "  ...a2 the real one" "$(hs 10.213.1.2 'tc -V')" "iproute2"
check_contains "  ...and so does the machine" "$(tc -V)" "iproute2"
: >"$TMP/tc.log"
a1ns=$(hs 10.213.1.1 'readlink /proc/self/ns/net' | tr -cd 0-9)
log() { cat "$TMP/tc.log"; }
state_eth0() { awk -v n="$a1ns" '$1 == n && $2 == "eth0"' "$TMP/tc.state"; }
residue() { ls /tmp | grep -E '^zonedef-zd.*\.(netem|dm)$'; hs 10.213.1.1 'pgrep -a -f "sleep [0-9]+; "'; state_eth0; }

# apply and undo, observed on a1 while it lasts
scen lat '[
  { "at": "1s", "fault": "latency", "zone": "a", "count": 1, "delay": "200ms", "jitter": "10ms", "loss": 1.5, "for": "3s" },
  { "at": "2s", "fault": "exec", "zone": "a", "count": 1, "command": "tc qdisc show dev eth0 root > '"$TMP"'/during; ls /tmp | grep -c \"^zonedef-zd.*\\.dm$\" > '"$TMP"'/dm" }
]'
run_zd out rc run "$TMP/lat.json" --out "$TMP/r-lat"
check_eq "latency on a1 with the stand-in: the run exits 0" 0 "$rc"
[ "$rc" = 0 ] || printf '%s\n' "$out" | tail -20
probe=$(log | grep -m1 'qdisc add dev lo root handle 7a0d: netem delay 0ms')
check "the pre-flight probed netem on lo" [ -n "$probe" ]
check "  ...in a network namespace of its own (not a1's)" [ -n "$probe" ] && [ "${probe%% *}" != "$a1ns" ]
check_eq "apply: one netem on eth0, with our handle, delay, jitter and loss" 1 "$(log | grep -c "^$a1ns qdisc add dev eth0 root handle 7a0d: netem delay 200000us 10000us loss 1.5%$")"
check_eq "  ...and on no other interface (lo left alone)" 0 "$(log | grep "^$a1ns qdisc add" | grep -vc 'dev eth0')"
check_eq "  ...never 'replace'" 0 "$(log | grep -c replace)"
check_contains "during the fault a1's eth0 had it" "$(cat "$TMP/during" 2>&1)" "qdisc netem 7a0d: root"
check_eq "  ...with a dead-man's switch armed" 1 "$(tr -d ' \n' <"$TMP/dm" 2>&1)"
check_eq "undo: our qdisc deleted by its handle" 1 "$(log | grep -c "^$a1ns qdisc del dev eth0 root handle 7a0d:$")"
check_eq "  ...nothing left (qdisc, list file, switch)" "" "$(residue)"
act=$(jq -c 'select(.type=="intent") | .action' "$TMP/r-lat/journal.jsonl" | grep -m1 latency)
check_contains "the journal holds the structured action" "$act" '"delay_us":200000,"jitter_us":10000,"loss":1.5'
check_not_contains "  ...and no command text" "$act" "tc qdisc"
check_contains "the summary says what was applied" "$out" "netem delay 200ms (jitter 10ms, loss 1.5%) on every interface up but lo on 1 host"

# SIGKILL: the dead-man's switch alone removes it
scen dm '[{ "at": "1s", "fault": "latency", "zone": "a", "count": 1, "delay": "50ms", "interface": "eth0", "for": "3s" }]'
: >"$TMP/tc.log"
run_bg "$TMP/dm.json" "$TMP/r-dm"
wait_applied "$TMP/r-dm" 1
t0=$(date +%s.%N)
kill_bg
check_contains "after SIGKILL the netem qdisc is still on a1's eth0" "$(state_eth0)" "netem 7a0d:"
gone=""
for i in $(seq 200); do [ -z "$(state_eth0)" ] && { gone=$(date +%s.%N); break; }; sleep 0.1; done
check "the dead-man's switch removed it by itself" [ -n "$gone" ]
late=$(echo "${gone:-0} - $t0" | bc)
check "  ...within 'for' (3s) + 10s (took ${late}s)" [ "$(echo "$late <= 13" | bc)" = 1 ]
check "  ...not before the planned end" [ "$(echo "$late >= 2.9" | bc)" = 1 ]
check_eq "  ...by our handle" 1 "$(log | grep -c "^$a1ns qdisc del dev eth0 root handle 7a0d:$")"
check_eq "  ...leaving nothing" "" "$(residue)"
run_zd out rc recover "$TMP/r-dm"
check_eq "recover after the switch fired: exit 0" 0 "$rc"

# SIGKILL, then recover: undone and the switch cancelled
scen rec '[{ "at": "1s", "fault": "latency", "zone": "a", "count": 1, "delay": "50ms", "for": "40s" }]'
run_bg "$TMP/rec.json" "$TMP/r-rec"
wait_applied "$TMP/r-rec" 1
kill_bg
check_contains "after SIGKILL: netem on a1" "$(state_eth0)" "netem 7a0d:"
check_eq "  ...and a switch armed" 1 "$(ls /tmp | grep -cE '^zonedef-zd.*\.dm$')"
run_zd out rc recover "$TMP/r-rec"
check_eq "recover exits 0" 0 "$rc"
check_eq "recover removed the qdisc and cancelled the switch" "" "$(residue)"
run_zd out rc recover "$TMP/r-rec"
check_eq "recover twice: nothing to do" 0 "$rc"

# an admin's root qdisc: refused by name before anything is applied, and left alone
hs 10.213.1.1 'tc qdisc add dev eth0 root handle 8001: tbf rate 1mbit' >/dev/null
: >"$TMP/tc.log"
run_zd out rc run "$TMP/lat.json" --out "$TMP/r-admin"
check_eq "an admin's qdisc on eth0: exit 5" 5 "$rc"
check_contains "  ...naming the host and the interface" "$out" "10.213.1.1"
check_contains "  ...and the qdisc" "$out" "interface eth0 already has a root qdisc of its own (tbf 8001:)"
check_eq "  ...no journal intent" 0 "$(intents "$TMP/r-admin")"
check_eq "  ...no qdisc added or deleted" 0 "$(log | grep -Ec 'qdisc (add dev eth0|del)')"
check_contains "  ...the admin's is still there" "$(state_eth0)" "tbf 8001:"
hs 10.213.1.1 'tc qdisc del dev eth0 root' >/dev/null
scen nope '[{ "at": "1s", "fault": "latency", "zone": "a", "count": 1, "delay": "50ms", "interface": "nope0", "for": "3s" }]'
run_zd out rc run "$TMP/nope.json" --out "$TMP/r-nope"
check_eq "an interface the host does not have: exit 5" 5 "$rc"
check_contains "  ...named" "$out" "no interface named nope0"
check_eq "nothing left on a1" "" "$(residue)"
finish
