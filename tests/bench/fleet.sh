#!/usr/bin/env bash
# fleet.sh: zonedef's SSH fleet next to pssh, clush and ansible (part of `make bench`).
#
# 100 SSH "hosts": the loopback addresses 127.0.200.1-100, port 19500, served by 7 sshd (OpenSSH
# listens on at most 16 addresses each) with MaxStartups/MaxSessions raised, one host key, one
# client key. Interleaved FLEET_ROUNDS rounds of one `true` on all 100 hosts:
#   zonedef plan --check (connect all in parallel + one read-only command each), parallel-ssh
#   -p 100, clush -f 100, ansible -f 100 -m raw;
# medians and each peer's time over zonedef's. Then a run whose exec fault at 2 s lands on all
# 100 hosts over sessions opened before the run: how long after the journaled inject time the
# first, median, p99 and last host ran it (each writes its own time, keyed by the address it
# was reached on). Loopback only; everything it starts is stopped on exit; root.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ZD=${ZD:-$ROOT/zonedef}
ROUNDS=${FLEET_ROUNDS:-3}       # rounds of the peer comparison (FLEET_PEERS=0 skips it)
FAULT_ROUNDS=${FLEET_FAULT_ROUNDS:-3} # runs of the fault on all hosts (medians over them)
PEERS=${FLEET_PEERS:-1}
# the fault's command writes the host's clock to a file named after the address it was reached
# on: "light" finds the address with shell builtins (one fork + exec: date), "cut" with
# $(echo | cut) as the first version of this bench did (three forks, two execs per host)
PROBE=${FLEET_PROBE:-light}
N=100
die() { echo "fleet: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "fleet: skipped: needs root"; exit 0; }
tools="jq"; [ "$PEERS" = 0 ] || tools="parallel-ssh clush ansible jq"
for t in $tools; do command -v $t >/dev/null || die "'$t' is not installed (make deps WITH_BENCH=1)"; done
T=$(mktemp -d /tmp/zonedef-fleet.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT INT TERM
ssh-keygen -q -t ed25519 -N '' -f "$T/hostkey"
ssh-keygen -q -t ed25519 -N '' -f "$T/id"
cp "$T/id.pub" "$T/authorized_keys"
: >"$T/known_hosts"
for i in $(seq 1 $N); do echo "[127.0.200.$i]:19500 $(cut -d' ' -f1,2 "$T/hostkey.pub")" >>"$T/known_hosts"; done
mkdir -p /run/sshd "$T/home"  # an empty home: no login scripts (a pyenv rehash in root's .bashrc serialised every session)
for s in $(seq 0 6); do
    {
        echo "Port 19500"
        for i in $(seq $((s * 15 + 1)) $((s * 15 + 15))); do [ $i -le $N ] && echo "ListenAddress 127.0.200.$i"; done
        echo "HostKey $T/hostkey"
        echo "AuthorizedKeysFile $T/authorized_keys"
        printf '%s\n' "StrictModes no" "PidFile none" "UsePAM no" "PasswordAuthentication no" \
            "KbdInteractiveAuthentication no" "PermitRootLogin prohibit-password" \
            "MaxStartups 400:30:800" "MaxSessions 200" "LogLevel ERROR" "SetEnv HOME=$T/home"
    } >"$T/sshd$s.conf"
    /usr/sbin/sshd -D -e -f "$T/sshd$s.conf" 2>>"$T/sshd.log" &
    PIDS+=($!)
done
# a load target for the run: an instance server of the lab on our own address
"$ZD" lab instance --id f1 --ip 127.0.200.200 --port 19598 >/dev/null 2>&1 &
PIDS+=($!)
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.200.100/19500) 2>/dev/null && (exec 3<>/dev/tcp/127.0.200.200/19598) 2>/dev/null && break; sleep 0.05; done

if [ "$PROBE" = cut ]; then
    probe_cmd="date +%s%N > $T/obs/\$(echo \$SSH_CONNECTION | cut -d' ' -f3)"
else
    probe_cmd="c=\$\${SSH_CONNECTION#* * }; date +%s%N > $T/obs/\$\${c%% *}"
fi
hosts_json=$(for i in $(seq 1 $N); do echo "\"127.0.200.$i:19500\""; done | paste -sd,)
mkdir -p "$T/obs"
cat >"$T/fleet.json" <<JSON
{ "name": "fleet", "target": { "kind": "ssh", "url": "http://127.0.200.200:19598/",
  "zones": { "a": [$hosts_json] }, "user": "root", "key": "$T/id",
  "known_hosts": "$T/known_hosts", "parallel": $N, "connect_timeout": "30s" },
  "load": { "rate": 20, "connections": 4 }, "warmup": "2s", "settle": "1s",
  "steady_state": { "error_rate": 0.5, "window": "1s", "hold": "1s" },
  "steps": [ { "at": "2s", "fault": "exec", "zone": "a",
    "command": "$probe_cmd" } ],
  "guards": { "max_duration": "2m" } }
JSON
seq 1 $N | sed 's/^/127.0.200./; s/$/:19500/' >"$T/pssh_hosts"
{ echo "[all]"; for i in $(seq 1 $N); do echo "127.0.200.$i ansible_port=19500"; done; } >"$T/inventory"
SSHO="-i $T/id -o UserKnownHostsFile=$T/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes"
export ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_SSH_ARGS="-o UserKnownHostsFile=$T/known_hosts -o ControlMaster=no" \
    ANSIBLE_LOCAL_TEMP=$T/ansible ANSIBLE_HOME=$T/ansible

now() { date +%s.%N; }
timed() { local t0 t1; t0=$(now); "$@" >"$T/out" 2>&1; local rc=$?; t1=$(now); echo "$(echo "$t1 - $t0" | bc) $rc"; }
run_zonedef() { "$ZD" plan --check "$T/fleet.json"; }
run_pssh() { parallel-ssh -p $N -t 60 -h "$T/pssh_hosts" -l root -x "$SSHO" true; }
run_clush() { clush -f $N -l root -o "-p 19500 $SSHO" -w "127.0.200.[1-$N]" true; }
run_ansible() { ansible all -i "$T/inventory" -f $N -u root --private-key "$T/id" -m raw -a true; }
declare -A times
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
[ "$PEERS" = 0 ] && ROUNDS=0
for r in $(seq 1 "$ROUNDS"); do
    for tool in zonedef pssh clush ansible; do
        read -r secs rc < <(timed run_$tool)
        ok=$([ "$rc" = 0 ] && echo ok || echo "FAILED rc=$rc")
        [ "$rc" = 0 ] || tail -3 "$T/out" >&2
        echo "round $r  $tool  ${secs}s  $ok"
        times[$tool]+="$secs "
    done
done
if [ "$PEERS" != 0 ]; then
zm=$(echo "${times[zonedef]}" | median)
echo "one 'true' on $N hosts, median of $ROUNDS interleaved rounds (machine shared: noisy):"
printf '  %-8s %8.2fs\n' zonedef "$zm"
for tool in pssh clush ansible; do
    m=$(echo "${times[$tool]}" | median)
    printf '  %-8s %8.2fs  %5.1fx zonedef\n' "$tool" "$m" "$(echo "$m / $zm" | bc -l)"
done
fi

# a fault on all 100 hosts over sessions opened before the run, FAULT_ROUNDS runs. Two views:
# when each host's shell ran the command (its own clock: zonedef's dispatch plus the host's
# work, all 100 hosts' on this machine's cores), and, with tcpdump, when zonedef's packet with
# the command left for each host (the kernel's capture time of the first packet towards that
# host's sshd after the inject: zonedef's part alone, what separate hosts would add only a
# network hop to)
declare -A lat sent
cap=0; command -v tcpdump >/dev/null && cap=1
[ $cap = 1 ] || echo "  (tcpdump not installed: the dispatch view is skipped; make deps WITH_BENCH=1)"
for r in $(seq 1 "$FAULT_ROUNDS"); do
    rm -rf "$T/obs" "$T/run" "$T/cap.pcap"; mkdir -p "$T/obs"
    if [ $cap = 1 ]; then
        tcpdump -i lo -n -U -s 128 -w "$T/cap.pcap" 'tcp dst port 19500 and (tcp[tcpflags] & tcp-push != 0)' 2>"$T/tcpdump.log" &
        tpid=$!
        for i in $(seq 100); do grep -q 'listening on' "$T/tcpdump.log" && break; sleep 0.05; done
    fi
    "$ZD" run "$T/fleet.json" --out "$T/run" >"$T/run.log" 2>&1 || { tail -5 "$T/run.log"; die "the fleet run failed"; }
    inject=$(jq -r 'select(.type=="intent") | .wall_us' "$T/run/journal.jsonl" | head -1)
    if [ $cap = 1 ]; then
        kill -INT $tpid; wait $tpid 2>/dev/null
        # first packet after the inject towards each of the 100 addresses, in ms after it
        read -r sfirst smed sp99 slast sn < <(tcpdump -r "$T/cap.pcap" -n -tt 2>/dev/null |
            awk -v t="$inject" '{ ts = $1 * 1e6; split($5, a, "."); h = a[1] "." a[2] "." a[3] "." a[4]
                                  if (ts >= t && !(h in f)) f[h] = (ts - t) / 1000 }
                                END { for (h in f) print f[h] }' | sort -g |
            awk '{v[NR]=$1} END {printf "%.1f %.1f %.1f %.1f %d\n", v[1], v[int((NR+1)/2)], v[int(NR*0.99+0.999)], v[NR], NR}')
        echo "  fault run $r: zonedef sent it to $sn of $N hosts after the journaled inject: first $sfirst ms, median $smed ms, p99 $sp99 ms, last $slast ms"
        sent[first]+="$sfirst "; sent[med]+="$smed "; sent[p99]+="$sp99 "; sent[last]+="$slast "
    fi
    got=$(ls "$T/obs" | wc -l)
    read -r first med p99 last < <(cat "$T"/obs/* | awk -v t="$inject" '{print ($1 / 1000 - t) / 1000}' | sort -g |
        awk '{v[NR]=$1} END {printf "%.1f %.1f %.1f %.1f\n", v[1], v[int((NR+1)/2)], v[int(NR*0.99+0.999)], v[NR]}')
    echo "  fault run $r: $got of $N hosts ran it; after the journaled inject: first $first ms, median $med ms, p99 $p99 ms, last $last ms"
    lat[first]+="$first "; lat[med]+="$med "; lat[p99]+="$p99 "; lat[last]+="$last "
done
printf '  fault applied after the journaled inject, medians of %s runs: first %s ms, median %s ms, p99 %s ms, last %s ms\n' \
    "$FAULT_ROUNDS" "$(echo "${lat[first]}" | median)" "$(echo "${lat[med]}" | median)" "$(echo "${lat[p99]}" | median)" "$(echo "${lat[last]}" | median)"
[ $cap = 1 ] && printf '  fault sent by zonedef after the journaled inject, medians of %s runs: first %s ms, median %s ms, p99 %s ms, last %s ms\n' \
    "$FAULT_ROUNDS" "$(echo "${sent[first]}" | median)" "$(echo "${sent[med]}" | median)" "$(echo "${sent[p99]}" | median)" "$(echo "${sent[last]}" | median)"
