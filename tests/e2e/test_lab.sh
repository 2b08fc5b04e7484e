#!/usr/bin/env bash
# test_lab: the lab for real: HAProxy, our instances, the healer, a private sshd, nftables
# black-holing through the lab's target ops (tests/helpers/lab-fault), and the ground-truth
# events. Bounded (~30 s), with its own lab directory, and `lab down` on exit whatever happens.
. "$(dirname "$0")/../lib.sh"

# Other e2e tests bring labs up on the same addresses.
exec 9>/tmp/zonedef-e2e.lock
flock 9

if ! need_root; then
    skip "needs root" "nft rules, sshd as root"
    finish
fi
H=$ROOT/build/helpers/lab-fault
[ -x "$H" ] || { th_bad "helper $H is built (make helpers)"; finish; }
D=$TMP/lab
on_exit "timeout 20 $ZD lab down --dir $D"
now_us() { date +%s%6N; }
ms_since() { echo $(( ($(now_us) - $1) / 1000 )); }
json() { timeout 10 "$ZD" lab status --json --dir "$D" 2>/dev/null; }
# wait_for SECONDS CMD...: polls CMD every 100 ms
wait_for() {
    local end=$(( $(now_us) + $1 * 1000000 )); shift
    while [ "$(now_us)" -lt "$end" ]; do "$@" && return 0; sleep 0.1; done
    return 1
}
zone_healthy() { [ "$(json | jq -r ".zones[] | select(.zone==\"$1\") | .healthy")" = "$2" ]; }

# --- up ----------------------------------------------------------------------------------
t=$(now_us)
run_zd out rc lab up --dir "$D" --ssh --heal-delay 2s
up_ms=$(ms_since "$t")
check_eq "lab up exits 0" 0 "$rc"
check_contains "lab up says when it is ready" "$out" "lab ready in"
check "lab up is ready in under 5 s (took ${up_ms} ms)" [ "$up_ms" -lt 5000 ]
run_zd out rc lab up --dir "$D"
check_eq "lab up again exits 0" 0 "$rc"
check_contains "lab up again says it is already up" "$out" "already up"
run_zd out rc lab up --dir "$D" --zones 12
check_eq "--zones 12 is a usage error" 2 "$rc"
long=$TMP/$(printf 'd%.0s' $(seq 90))
run_zd out rc lab up --dir "$long"
check_eq "a lab dir too long for HAProxy's socket path is a usage error" 2 "$rc"
check_contains "...that says why" "$out" "longer than 80 characters"
check "...and creates nothing" [ ! -e "$long" ]

zones=$(for i in 1 2 3 4 5 6; do curl -s -m 2 127.0.0.1:18000/; done | sed -n 's/^ok zone=\(.\) .*/\1/p' | sort -u | tr -d '\n')
check_eq "the LB answers from all three zones in turn" "abc" "$zones"
st=$(json)
check_eq "status: three zones, two healthy each" "2 2 2" "$(echo "$st" | jq -r '[.zones[].healthy] | map(tostring) | join(" ")')"
check_eq "status: haproxy, healer, sshd and six instances running" "9" "$(echo "$st" | jq '[.processes[] | select(.running)] | length')"
pids=$(echo "$st" | jq -r '.processes[] | select(.running) | .pid')
code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' 127.0.0.1:18000/_zonedef/control)
check_eq "the control endpoint is not reachable through the LB" "403" "$code"

out=$(timeout 10 ssh -i "$D/ssh/id_ed25519" -p 2222 -o UserKnownHostsFile="$D/ssh/known_hosts" \
      -o StrictHostKeyChecking=yes -o BatchMode=yes root@127.0.0.1 'echo ssh-works' 2>&1)
check_eq "ssh logs in to the lab's sshd with its key and known_hosts" "ssh-works" "$out"

# --- black-hole zone b ----------------------------------------------------------------------
since=$(now_us)
act=$("$H" "$D" inject blackhole_zone --zone b 2>"$TMP/sum")
check_eq "blackhole_zone applies" 0 "$?"
table=$(echo "$act" | jq -r .table)
check_contains "the nft table is there" "$(nft list tables)" "inet $table"
curl -s --connect-timeout 1 -o /dev/null 127.0.2.1:18080/; rc=$?
check_eq "curl to a black-holed instance times out (28), not refused" 28 "$rc"
for i in $(seq 1 8); do curl -s -m 3 -o /dev/null 127.0.0.1:18000/ & done; wait
check "HAProxy marks b's servers DOWN within ~2 s" wait_for 3 zone_healthy b 0
zones=$(for i in 1 2 3 4 5 6 7 8; do curl -s -m 2 127.0.0.1:18000/; done | sed -n 's/^ok zone=\(.\) .*/\1/p' | sort -u | tr -d '\n')
check_eq "traffic through the LB continues from a and c" "ac" "$zones"
outage_out() { [ "$(grep -c $'\tscale_out\t.*zone b unreachable' "$D/healer.log")" -eq 2 ]; }
check "the healer adds capacity in a and c while b stays down" wait_for 4 outage_out
check_eq "…and HAProxy takes it: a and c have 3 healthy each" "3 3" \
    "$(json | jq -r '[.zones[] | select(.zone!="b") | .healthy] | map(tostring) | join(" ")')"
"$H" "$D" undo "$act"
check_eq "undo exits 0" 0 "$?"
check_not_contains "undo removed the nft table" "$(nft list tables)" "$table"
check "undo brings b back UP" wait_for 4 zone_healthy b 2
outage_in() { [ "$(grep -c $'\tscale_in\t.*zone b back' "$D/healer.log")" -eq 2 ]; }
check "the healer removes the added capacity once b is back" wait_for 4 outage_in
"$H" "$D" undo "$act"
check_eq "undo twice is fine" 0 "$?"
until_us=$(now_us)
ev=$(timeout 10 "$ZD" lab events --json --dir "$D" --since "$since" --until "$until_us")
check_eq "events: b1 and b2 went DOWN in the window" "b1 b2" \
    "$(echo "$ev" | jq -r "[.servers[] | select(.zone==\"b\" and .state==\"DOWN\" and .t_us>=$since and .t_us<$until_us) | .server] | unique | join(\" \")")"
check_eq "events: b1 and b2 came back UP in the window" "b1 b2" \
    "$(echo "$ev" | jq -r '[.servers[] | select(.zone=="b" and .state=="UP") | .server] | unique | join(" ")')"
last_down=$(echo "$ev" | jq '[.servers[] | select(.zone=="b" and .state=="DOWN") | .t_us] | max')
down_ms=$(( (last_down - since) / 1000 ))
check "events: b's last server DOWN ${down_ms} ms after the fault (< 2500)" [ "$down_ms" -lt 2500 ]
check "events: requests counted in 100 ms buckets" [ "$(echo "$ev" | jq '[.requests.buckets[].total] | add')" -ge 16 ]
check_eq "events: bucket interval" "100000" "$(echo "$ev" | jq .requests.interval_us)"
first=$(echo "$ev" | jq '.first_error_us // 0')
check "events: first error (if any) inside the window" [ "$first" -eq 0 -o "$first" -ge "$since" ]

# --- kill, and the healer's replacement -----------------------------------------------------
old=$(json | jq -r '.processes[] | select(.name=="a1") | .pid')
t=$(now_us)
"$H" "$D" inject kill_instances --zone a --count 1 >/dev/null 2>&1
gone() { [ ! -d "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
check "kill_instances kills a1" wait_for 1 gone "$old"
a1_back() { p=$(json | jq -r '.processes[] | select(.name=="a1") | .pid'); [ "$p" != 0 ] && [ "$p" != "$old" ]; }
check "the healer replaces a1 by itself" wait_for 5 a1_back
heal_ms=$(ms_since "$t")
check "…after the 2 s heal delay (${heal_ms} ms)" [ "$heal_ms" -ge 1900 ]
check_match "the healer log says so" "$(cat "$D/healer.log")" $'replace\ta\ta1'

# --- stop / cont --------------------------------------------------------------------------
act=$("$H" "$D" inject stop_instances --zone c --count 1 2>/dev/null)
c1=$(echo "$act" | jq -r '.instances[0].pid')
check_eq "stop_instances freezes c1" "T" "$(ps -o stat= -p "$c1" | cut -c1)"
"$H" "$D" undo "$act"
check_eq "undo thaws c1" "S" "$(ps -o stat= -p "$c1" | cut -c1)"

# --- latency via the control endpoint -----------------------------------------------------
act=$("$H" "$D" inject latency --zone c --delay 300 2>/dev/null)
tt=$(curl -s -m 3 -o /dev/null -w '%{time_total}' 127.0.3.1:18080/)
check "latency slows c1 to >= 300 ms (${tt}s)" awk -v t="$tt" 'BEGIN { exit !(t >= 0.3) }'
"$H" "$D" undo "$act"
tt=$(curl -s -m 3 -o /dev/null -w '%{time_total}' 127.0.3.1:18080/)
check "undo restores the old delay (${tt}s)" awk -v t="$tt" 'BEGIN { exit !(t < 0.1) }'

# --- cpu_stress burns a share of a core, undo restores the knobs ---------------------------
act=$("$H" "$D" inject cpu_stress --zone b --count 1 --cpu 60 2>/dev/null)
b1=$(echo "$act" | jq -r '.instances[0].pid')
t1=$(awk '{print $14 + $15}' "/proc/$b1/stat"); sleep 0.5; t2=$(awk '{print $14 + $15}' "/proc/$b1/stat")
check "cpu_stress 60% burns CPU on b1 ($((t2 - t1)) ticks in 0.5 s)" [ $((t2 - t1)) -ge 10 ]
"$H" "$D" undo "$act"
check_contains "undo puts cpu and service time back" "$(curl -s 127.0.2.1:18080/_zonedef/control)" "service_ms=0 concurrency=64 cpu=0"

# --- sustained overload: the healer scales out ------------------------------------------
curl -s -X POST '127.0.1.2:18080/_zonedef/control?concurrency=1&service_ms=1000' >/dev/null
end=$(( $(now_us) + 3500000 ))
while [ "$(now_us)" -lt "$end" ] && ! grep -q $'\tscale_out\t.*overload' "$D/healer.log"; do
    for i in 1 2 3; do curl -s -m 1 -o /dev/null 127.0.1.2:18080/ & done
    sleep 0.2
done
wait
check_match "sustained queueing makes the healer scale out" "$(cat "$D/healer.log")" $'scale_out\t.\t.[34]\toverload'

# --- the load balancer dies: the healer restarts it ----------------------------------------
hp=$(json | jq -r '.processes[] | select(.name=="haproxy") | .pid')
"$H" "$D" inject kill_process --process sshd-typo >/dev/null 2>"$TMP/err"
check_contains "kill_process names only the lab's processes" "$(cat "$TMP/err")" "no process of the lab is named 'sshd-typo'"
act=$("$H" "$D" inject kill_process --process haproxy 2>/dev/null)
check_eq "kill_process haproxy picks the lab's HAProxy only" "$hp" "$(echo "$act" | jq -r '[.instances[].pid] | join(" ")')"
lb_back() { [ "$(curl -s -m 1 -o /dev/null -w '%{http_code}' 127.0.0.1:18000/)" = 200 ]; }
check "a killed HAProxy is restarted and serves again" wait_for 4 lb_back
check_match "the healer log says so" "$(cat "$D/healer.log")" $'restart_lb\t-\thaproxy'

# --- garbage does not kill an instance ----------------------------------------------------
b1=$(json | jq -r '.processes[] | select(.name=="b1") | .pid')
{ printf 'GARBAGE \x00\x01\r\n\r\n'; head -c 40000 /dev/urandom; } >/dev/tcp/127.0.2.1/18080 2>/dev/null
{ printf 'GET / HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n'; } >/dev/tcp/127.0.2.1/18080 2>/dev/null
out=$(curl -s -m 2 127.0.2.1:18080/)
check_eq "b1 still answers after garbage" "ok zone=b instance=b1" "$out"
check_eq "…and is the same process" "$b1" "$(json | jq -r '.processes[] | select(.name=="b1") | .pid')"

# --- down leaves nothing behind -----------------------------------------------------------
pids="$pids $(json | jq -r '.processes[] | select(.running) | .pid')"
run_zd out rc lab down --dir "$D"
check_eq "lab down exits 0" 0 "$rc"
alive=""
for p in $pids; do [ -d "/proc/$p" ] && [ "$(awk '{print $3}' "/proc/$p/stat")" != Z ] && alive="$alive $p"; done
check_eq "no lab process survives down" "" "$alive"
check_not_contains "no nft table of ours after down" "$(nft list tables)" "zonedef_bh_"
check_eq "nothing listens on 18000/18080/2222" "" "$(ss -ltnH | awk '{print $4}' | grep -E ':(18000|18080|2222)$')"
run_zd out rc lab down --dir "$D"
check_eq "lab down twice exits 0" 0 "$rc"
check_contains "…and says there was nothing to stop" "$out" "not up"
run_zd out rc lab status --dir "$D"
check_eq "status of a lab that is down exits 1" 1 "$rc"

# --- without root, blackhole_zone freezes the zone instead ---------------------------------
if command -v setpriv >/dev/null 2>&1; then
    NR=$(mktemp -d /tmp/zonedef-nonroot.XXXXXX)
    chmod 755 "$NR"
    cp "$ZD" "$H" "$NR/"
    # the lab directory is the user's own (a world-writable one is refused: its records would
    # say what the lab's faults signal)
    mkdir -m 700 "$NR/lab"
    chown 65534:65534 "$NR/lab"
    nobody() { timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
    on_exit "rm -rf $NR"
    on_exit "timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups $NR/zonedef lab down --dir $NR/lab"
    # from a directory that user cannot enter (TMP is 0700, root's): the daemons must not need it
    (cd "$TMP" && nobody "$NR/zonedef" lab up --dir "$NR/lab" --heal-delay 10s >/dev/null 2>&1)
    check_eq "a non-root user brings the lab up, from a directory it cannot enter" 0 "$?"
    act=$(nobody "$NR/lab-fault" "$NR/lab" inject blackhole_zone --zone b 2>"$TMP/sum")
    check_eq "non-root blackhole_zone freezes the zone's instances" "freeze" "$(echo "$act" | jq -r .method)"
    check_contains "…and says so" "$(cat "$TMP/sum")" "not root"
    b1=$(echo "$act" | jq -r '.instances[0].pid')
    check_eq "b1 is frozen" "T" "$(ps -o stat= -p "$b1" | cut -c1)"
    nobody "$NR/lab-fault" "$NR/lab" undo "$act"
    check_eq "undo thaws b1" "S" "$(ps -o stat= -p "$b1" | cut -c1)"
    nobody "$NR/zonedef" lab down --dir "$NR/lab" >/dev/null 2>&1
    check_eq "the non-root lab goes down" 0 "$?"
else
    skip "setpriv is missing" "non-root fallback"
fi
finish
