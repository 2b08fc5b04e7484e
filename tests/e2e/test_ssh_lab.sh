#!/usr/bin/env bash
# test_ssh_lab: `lab up --hosts` makes real hosts (network, PID and mount namespaces, an sshd
# each) behind HAProxy; `lab down` removes every namespace, veth, bridge, table and process,
# also after the lab was SIGKILLed.
. "$(dirname "$0")/../lib.sh"
hosts_lab_lock
on_exit '"$ZD" lab down'
leftovers() {
    { ip netns list | grep -c '^zonedef-'; ip -o link show | grep -cE 'zdv-|zonedefbr0'
      nft list tables | grep -c zonedef_hosts_guard; } | paste -sd' '
}
check_eq "no hosts lab leftovers before the test" "0 0 0" "$(leftovers)"

run_zd out rc lab up --hosts
check_eq "lab up --hosts exits 0" 0 "$rc"
run_zd js rc lab status --json
check_eq "status --json lists 6 hosts" 6 "$(printf '%s' "$js" | jq '.hosts | length')"
check_eq "host b1's address" "10.213.2.1" "$(printf '%s' "$js" | jq -r '.hosts[] | select(.name=="b1") | .addr')"
check_eq "status --json dir" "$TMP/lab" "$(printf '%s' "$js" | jq -r .dir)"
check_eq "every server UP through HAProxy" 6 "$(printf '%s' "$js" | jq '[.zones[].servers[] | select(.up)] | length')"
KH=$TMP/lab/ssh/known_hosts KEY=$TMP/lab/ssh/id_ed25519
s() { timeout 10 ssh -i "$KEY" -o UserKnownHostsFile="$KH" -o StrictHostKeyChecking=yes \
        -o BatchMode=yes -o ConnectTimeout=5 root@"$1" "$2" 2>&1; }
out=$(s 10.213.2.1 'ps -e -o comm= | sort | paste -sd" "')
check_eq "a host sees only its own processes (strict host key, key auth)" "bash ps sh sort sshd web" "$(echo $out | tr ' ' '\n' | sort -u | grep -v paste | paste -sd' ')"
check_eq "a host has no default route" "" "$(s 10.213.1.1 'ip route show default')"
out=$(s 10.213.1.1 'curl -s -m 1 -o /dev/null -w %{http_code} http://10.213.0.1:18000/; echo " rc=$?"')
check_contains "a host cannot open a connection to the machine" "$out" "rc=28"
pid1=$(s 10.213.3.1 'pgrep -x web')
s 10.213.3.1 'pkill -x web' >/dev/null
for i in $(seq 100); do p=$(s 10.213.3.1 'pgrep -x web'); [ -n "$p" ] && [ "$p" != "$pid1" ] && break; sleep 0.1; done
check "a killed web server is restarted on its host" [ -n "$p" ] && [ "$p" != "$pid1" ]
s 10.213.1.2 'service web stop' >/dev/null
check_eq "service web stop stops it" "" "$(s 10.213.1.2 'pgrep -x web')"
s 10.213.1.2 'service web start' >/dev/null
for i in $(seq 50); do p=$(s 10.213.1.2 'pgrep -x web'); [ -n "$p" ] && break; sleep 0.1; done
check "service web start starts it again" [ -n "$p" ]

# plan --check: every host reported, nothing changed; a host cut off is named
cat >"$TMP/check.json" <<JSON
{ "name": "check", "target": { "kind": "ssh", "url": "http://127.0.0.1:18000/",
  "zones": { "a": ["10.213.1.1", "10.213.1.2"], "b": ["10.213.2.1", "10.213.2.2"] },
  "user": "root", "key": "$KEY", "known_hosts": "$KH", "connect_timeout": "2s" },
  "load": { "rate": 10 }, "steps": [] }
JSON
run_zd out rc plan --check "$TMP/check.json"
check_eq "plan --check: every host ready, exit 0" 0 "$rc"
check_contains "  ...with the summary" "$out" "check: 4 of 4 hosts ready"
fp=$(ssh-keygen -lf "$TMP/lab/hosts/a2/ssh_host_ed25519_key.pub" | awk '{print $2}')
row=$(printf '%s\n' "$out" | grep '^10.213.1.2:22 ')
check_match "  ...each host with its tools (no netem in this kernel)" "$row" "^10.213.1.2:22 +a +yes +yes +yes +n/a +yes +yes +yes +no +0 +ED25519 SHA256:"
check_contains "  ...and its key's fingerprint as ssh-keygen prints it" "$row" "ED25519 $fp"
# a latency step needs netem on the hosts of its zone: zone a's are not ready, zone b's are
jq '.steps = [{"name": "slow-a", "at": "15s", "fault": "latency", "zone": "a", "delay": "100ms", "for": "2s"}]' \
    "$TMP/check.json" >"$TMP/check-lat.json"
run_zd js rc plan --check --json "$TMP/check-lat.json"
check_eq "plan --check with a latency step: exit 1 (no netem here)" 1 "$rc"
check_eq "  ...zone a's hosts named, with the step" "no tc netem here: step 'slow-a' (latency) cannot run|no tc netem here: step 'slow-a' (latency) cannot run" \
    "$(printf '%s' "$js" | jq -r '[.hosts[] | select(.zone == "a") | .error] | join("|")')"
check_eq "  ...zone b's still ready, netem false everywhere" "2 0" \
    "$(printf '%s' "$js" | jq -r '"\([.hosts[] | select(.error == null)] | length) \([.hosts[] | select(.netem)] | length)"')"
ip link set zdv-b2 down
run_zd js rc plan --check --json "$TMP/check.json"
ip link set zdv-b2 up
check_eq "plan --check: a host cut off makes exit 1" 1 "$rc"
check_eq "  ...and is named, unreachable" "false" "$(printf '%s' "$js" | jq -r '.hosts[] | select(.host=="10.213.2.2:22") | .reachable')"
check_eq "  ...the others still ready" 3 "$(printf '%s' "$js" | jq '[.hosts[] | select(.error == null)] | length')"

run_zd out rc lab down
check_eq "lab down exits 0" 0 "$rc"
check_eq "lab down leaves no namespace, veth, bridge or table" "0 0 0" "$(leftovers)"
check_eq "no process of the lab left" "" "$(pgrep -f "$TMP/lab" || true)"

# a crash: every process of the lab SIGKILLed, then lab down finds the rest by name
run_zd out rc lab up --hosts
check_eq "lab up --hosts again" 0 "$rc"
for f in "$TMP"/lab/run/*.pid; do kill -9 "$(cut -d' ' -f1 "$f")" 2>/dev/null; done
run_zd out rc lab down
check_eq "lab down after a crash exits 0" 0 "$rc"
check_eq "lab down after a crash leaves nothing" "0 0 0" "$(leftovers)"
check_eq "no process of the crashed lab left" "" "$(pgrep -f "$TMP/lab" || true)"
finish
