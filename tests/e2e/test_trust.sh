#!/usr/bin/env bash
# test_trust: hostile run directories. `zonedef recover` runs as root and does what a journal
# says, so each attack an unprivileged user on the same machine could try is set up for real and
# must be refused with a clear message, exit 2 (an untrusted or damaged journal) or 4 (an undo
# that zonedef's own rules refused), with nothing executed, signalled, contacted, written or
# truncated - the victims are checked, not the messages alone. A control case for each shows the
# same journal acted on once it is trustworthy, so the checks can fail. Then, with the lab up:
# a failed `lab up --dir` leaves no directory behind, and a run against a URL with a password
# leaves the password in no output, journal, result or report.
. "$(dirname "$0")/../lib.sh"

if ! need_root; then
    skip "needs root" "files of another user, nft tables, the lab"
    finish
fi
export ZONEDEF_STATE_DIR=$TMP/state ZONEDEF_LAB_DIR=$TMP/lab
SRV=$ROOT/build/helpers/zd-testsrv
BG=()
on_exit 'for p in "${BG[@]}"; do kill -9 "$p"; done'

sha() { sha256sum "$1" | cut -d' ' -f1; }
starttime() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $20}'; }
pstate() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $1}'; }
# journal DIR ACTION [SUMMARY] [FAULT]: a run directory (0700) whose journal intends ACTION
journal() {
    mkdir -p "$1"
    chmod 700 "$1"
    printf '{"type":"start","v":1,"scenario":"hostile","target_kind":"lab","target_key":"lab:%s","interval_us":100000}\n' "$1" >"$1/journal.jsonl"
    printf '{"type":"intent","step":0,"name":"s","fault":"%s","summary":"%s","for_us":0,"t_us":0,"wall_us":0,"action":%s}\n' \
        "${4:-exec}" "${3:-harmless}" "$2" >>"$1/journal.jsonl"
    chmod 600 "$1/journal.jsonl"
}
EXEC='{"kind":"lab","fault":"exec","command":"true","undo_command":"id > '"$TMP"'/PWNED"}'

# ---- a world-writable run directory -------------------------------------------------------------
journal "$TMP/ww" "$EXEC"
chmod 777 "$TMP/ww"
before=$(sha "$TMP/ww/journal.jsonl")
run_zd out rc recover "$TMP/ww"
check_eq "world-writable run directory: exit 2" 2 "$rc"
check_contains "...the reason, naming the directory" "$out" \
    "zonedef: recover: '$TMP/ww' is writable by others (mode 0777): not trusted; nothing was done"
check "...the undo command did not run" [ ! -e "$TMP/PWNED" ]
check_eq "...the journal is untouched" "$before" "$(sha "$TMP/ww/journal.jsonl")"

# ---- a journal owned by another user ------------------------------------------------------------
journal "$TMP/other" "$EXEC"
chown 65534:65534 "$TMP/other/journal.jsonl"
run_zd out rc recover "$TMP/other"
check_eq "journal of another user: exit 2" 2 "$rc"
check_contains "...the reason" "$out" "'$TMP/other/journal.jsonl' is owned by uid 65534, not by you or root: not trusted"
check "...the undo command did not run" [ ! -e "$TMP/PWNED" ]
journal "$TMP/gw" "$EXEC"
chmod 660 "$TMP/gw/journal.jsonl"
run_zd out rc recover "$TMP/gw"
check_eq "group-writable journal: exit 2" 2 "$rc"
check_contains "...the reason" "$out" "journal.jsonl' is writable by its group (mode 0660): not trusted"

# ---- a symlinked journal: never followed, the target never truncated or appended to ------------
mkdir -m 700 "$TMP/victim-dir"
journal "$TMP/victim-dir" "$EXEC"
printf '{"type":"undo' >>"$TMP/victim-dir/journal.jsonl" # a torn tail recover would cut off
victim=$TMP/victim-dir/journal.jsonl
before=$(sha "$victim")
mkdir -m 700 "$TMP/sym"
ln -s "$victim" "$TMP/sym/journal.jsonl"
run_zd out rc recover "$TMP/sym"
check_eq "symlinked journal: exit 2" 2 "$rc"
check_contains "...the reason" "$out" "'$TMP/sym/journal.jsonl' is a symbolic link: not trusted"
check_eq "...its target is not truncated or appended to" "$before" "$(sha "$victim")"
check "...the undo command did not run" [ ! -e "$TMP/PWNED" ]

# ---- control: the same journal, trusted, is acted on; its summary is printed escaped -----------
journal "$TMP/ours" "$EXEC" 'harmless\u001b[2J\u0007'
run_zd out rc recover "$TMP/ours"
check_eq "control: our own journal is recovered, exit 0" 0 "$rc"
check "control: ...and its undo command ran" [ -e "$TMP/PWNED" ]
check_contains "control: the summary's control characters are escaped" "$out" 'undone s: harmless\x1b[2J\x07'
check_not_contains "control: ...no raw escape reaches the terminal" "$out" $'\033'
rm -f "$TMP/PWNED"

# ---- a registry in a state directory others can write is not used -------------------------------
mkdir -p "$TMP/badstate/runs"
chmod 777 "$TMP/badstate/runs"
printf '%s\n' "$TMP/other" >"$TMP/badstate/runs/0000000000000000.run"
out=$(ZONEDEF_STATE_DIR=$TMP/badstate timeout 60 "$ZD" recover 2>&1)
rc=$?
check_eq "world-writable registry: exit 5" 5 "$rc"
check_contains "...the reason" "$out" "cannot use the registry of runs: '$TMP/badstate/runs' is writable by others"

# ---- a journal naming a process outside the lab ------------------------------------------------
sleep 60 &
vpid=$!
BG+=("$vpid")
sleep 60 &
other=$!
BG+=("$other")
disown "$vpid" "$other" # no "Killed" lines when the cleanup kills them
kill -STOP "$vpid"
vstart=$(starttime "$vpid")
mkdir -p "$TMP/fakelab/run"
chmod 700 "$TMP/fakelab" "$TMP/fakelab/run"
# the lab's own record says a1 is another process
printf '%s %s\n' "$other" "$(starttime "$other")" >"$TMP/fakelab/run/inst-a1.pid"
STOP='{"kind":"lab","fault":"stop_instances","dir":"'"$TMP"'/fakelab","instances":[{"id":"a1","ip":"127.0.1.1","port":18080,"pid":'"$vpid"',"start":"'"$vstart"'"}]}'
journal "$TMP/proc" "$STOP" "freeze 1 instance (a1)" stop_instances
run_zd out rc recover "$TMP/proc"
check_eq "a process the lab's record does not name: exit 4 (undo refused)" 4 "$rc"
check_contains "...the reason" "$out" "pid $vpid ('a1') is not the lab's inst-a1 (the lab's record says pid $other): not signalled"
check_eq "...the process was not signalled (still stopped)" T "$(pstate "$vpid")"
# a record planted in a lab directory others can write does not count either
printf '%s %s\n' "$vpid" "$vstart" >"$TMP/fakelab/run/inst-a1.pid"
chmod 777 "$TMP/fakelab/run"
run_zd out rc recover "$TMP/proc"
check_eq "a record in a world-writable lab directory: exit 4" 4 "$rc"
check_contains "...the reason" "$out" "the action's lab directory cannot be trusted ('$TMP/fakelab/run' is writable by others (mode 0777): not trusted): nothing signalled"
check_eq "...still not signalled" T "$(pstate "$vpid")"
# control: once the lab's own, trusted record names it, it is thawed
chmod 700 "$TMP/fakelab/run"
run_zd out rc recover "$TMP/proc"
check_eq "control: the lab's own process is thawed, exit 0" 0 "$rc"
check_match "control: ...SIGCONT reached it" "$(pstate "$vpid")" '^[SR]$'

# ---- a knob call to an address that is not the lab's --------------------------------------------
"$SRV" --listen 127.0.0.1:19450 --max-seconds 60 >/dev/null 2>&1 &
spid=$!
BG+=("$spid")
disown "$spid"
for _ in $(seq 100); do ss -ltnH 'sport = :19450' | grep -q . && break; sleep 0.05; done
kill -STOP "$spid" # connections now wait in its backlog, where ss counts them
queued() { ss -ltnH 'sport = :19450' | awk '{print $2}'; }
KNOB='{"kind":"lab","fault":"latency","dir":"'"$TMP"'/fakelab","delay_ms":100,"jitter_ms":0,"instances":[{"id":"a1","ip":"127.0.0.1","port":19450,"pid":2,"start":"1","prev":{"delay_ms":0,"jitter_ms":0}}]}'
journal "$TMP/knob" "$KNOB" "add 100 ms latency" latency
run_zd out rc recover "$TMP/knob"
check_eq "a foreign address: exit 4 (undo refused)" 4 "$rc"
check_contains "...the reason" "$out" "127.0.0.1:19450 is not a lab address (the lab's a1 is 127.0.1.1:18080): not contacted"
check_eq "...nothing connected to it" 0 "$(queued)"
curl -s -m 0.5 http://127.0.0.1:19450/ >/dev/null 2>&1
check_eq "control: a connection would have shown" 1 "$(queued)"
kill -9 "$spid"

# ---- load reports the time it measured, not the planned --duration (found on the lab) -----------
"$SRV" --listen 127.0.0.1:19452 --max-seconds 30 >/dev/null 2>&1 &
BG+=("$!")
disown "$!"
for _ in $(seq 100); do ss -ltnH 'sport = :19452' | grep -q . && break; sleep 0.05; done
run_zd out rc load http://127.0.0.1:19452/ --rate 2 --duration 2s --json "$TMP/l2.json"
check_match "load --rate 2 --duration 2s: 'in 1.5s', the time it took" "$out" 'requests +4 scheduled, 4 sent, 0 not sent, in 1\.[5-9][0-9]s'
check "...and measured_us says the same" [ "$(jq .measured_us "$TMP/l2.json")" -lt 1900000 ]

# ---- a firewall table that is not ours ----------------------------------------------------------
nft add table inet zdvictim_i11
on_exit 'nft delete table inet zdvictim_i11'
BH='{"kind":"lab","fault":"blackhole_zone","dir":"'"$TMP"'/fakelab","zone":"b","cidr":"127.0.2.0/24","method":"nft","table":"zdvictim_i11"}'
journal "$TMP/fw" "$BH" "black-hole zone b" blackhole_zone
run_zd out rc recover "$TMP/fw"
check_eq "a foreign nft table: exit 4 (undo refused)" 4 "$rc"
check_contains "...the reason" "$out" "nft table 'zdvictim_i11' is not one of zonedef's (inet zonedef_bh_*): not touched"
check_contains "...the table is still there" "$(nft list tables)" "table inet zdvictim_i11"
BH2='{"kind":"lab","fault":"blackhole_zone","dir":"'"$TMP"'/fakelab","zone":"b","cidr":"10.0.0.0/8","method":"nft","table":"zonedef_bh_b_1"}'
journal "$TMP/fw2" "$BH2" "black-hole zone b" blackhole_zone
run_zd out rc recover "$TMP/fw2"
check_eq "a black-hole of a range that is no lab zone: exit 4" 4 "$rc"
check_contains "...the reason" "$out" "'10.0.0.0/8' is not a lab zone's /24: not touched"

# ---- a kill cannot be undone, and recover says so ----------------------------------------------
KILL='{"kind":"lab","fault":"kill_instances","dir":"'"$TMP"'/fakelab","instances":[{"id":"a1","ip":"127.0.1.1","port":18080,"pid":2,"start":"1"}]}'
journal "$TMP/kill" "$KILL" "kill 1 instance (a1)" kill_instances
run_zd out rc recover "$TMP/kill"
check_eq "a kill in the journal: exit 0" 0 "$rc"
check_contains "...nothing to undo, said so" "$out" "nothing to undo for s: kill 1 instance (a1) (a kill cannot be undone"
check_contains "...not counted as undone" "$out" "recovered: 0 faults undone, 1 with nothing to undo"

# ---- with the lab: a failed lab up cleans up; no password in any output -------------------------
exec 9>/tmp/zonedef-e2e.lock
flock 9
on_exit '"$ZD" lab down --dir "$ZONEDEF_LAB_DIR"'
run_zd out rc lab up --heal-delay 10s
check_eq "lab up: exit 0" 0 "$rc"
check_eq "the lab directory is 0700" 700 "$(stat -c %a "$ZONEDEF_LAB_DIR")"
run_zd out rc lab up --dir "$TMP/second-lab"
check_eq "a second lab on the same ports: exit 5" 5 "$rc"
check "...leaves no directory it made" [ ! -e "$TMP/second-lab" ]
mkdir -m 700 "$TMP/kept-lab"
run_zd out rc lab up --dir "$TMP/kept-lab"
check "...and keeps one it did not make" [ -d "$TMP/kept-lab" ]
mkdir -m 777 "$TMP/open-lab"
run_zd out rc lab up --dir "$TMP/open-lab"
check_eq "a world-writable lab directory: refused" 5 "$rc"
check_contains "...with the reason" "$out" "'$TMP/open-lab' is writable by others (mode 0777): not trusted"
run_zd out rc lab status --dir "$TMP/open-lab"
check_eq "lab status of a world-writable directory: exit 2" 2 "$rc"
check_contains "...with the reason" "$out" "zonedef: lab status: '$TMP/open-lab' is writable by others"
printf '{"name": "open", "target": {"kind": "lab", "url": "http://127.0.0.1:18000/", "lab_dir": "%s"}, "load": {"rate": 1}}\n' "$TMP/open-lab" >"$TMP/open.json"
run_zd out rc run "$TMP/open.json" --out "$TMP/open-run"
check_eq "a run on a world-writable lab directory: exit 5" 5 "$rc"
check_contains "...with the reason" "$out" "the lab directory cannot be used: '$TMP/open-lab' is writable by others"

cat >"$TMP/pw.json" <<EOF
{
  "name": "secret-url",
  "target": { "kind": "lab", "url": "http://user:PASSW0RD@127.0.0.1:18000/" },
  "load": { "rate": 50, "connections": 16, "timeout": "2s" },
  "steady_state": { "window": "1s", "hold": "1s" },
  "warmup": "1s",
  "settle": "1s",
  "probes": [ { "kind": "http", "url": "http://probe:PASSW0RD@127.0.0.1:19451/", "interval": "500ms" } ]
}
EOF
cd "$TMP" || exit 1
run_zd runout rc run "$TMP/pw.json"
cd "$ROOT" || exit 1
check_eq "a run against a URL with a password: exit 0" 0 "$rc"
rdir=$(find "$TMP/reports" -mindepth 1 -maxdepth 1 -type d | head -n 1)
check_match "the run directory is reports/<name>-<time>-<random>" "$rdir" '/reports/secret-url-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$'
check_eq "...made 0700" 700 "$(stat -c %a "$rdir")"
check_eq "...its journal 0600" 600 "$(stat -c %a "$rdir/journal.jsonl")"
check_contains "the run's lines show user:***@" "$runout" "http://user:***@127.0.0.1:18000/"
run_zd repout rc report "$rdir"
run_zd jsonout rc report --json "$rdir"
run_zd planout rc plan --json "$TMP/pw.json"
run_zd dryout rc run --dry-run "$TMP/pw.json"
run_zd loadout rc load 'http://user:PASSW0RD@127.0.0.1:18000/' --rate 20 --duration 1s --json "$TMP/load.json"
check_contains "load's first line shows user:***@" "$loadout" "zonedef load GET http://user:***@127.0.0.1:18000/ (curl engine, auto: libcurl for a URL with credentials)"
leaks=$(printf '%s\n' "$runout" "$repout" "$jsonout" "$planout" "$dryout" "$loadout" | grep -c PASSW0RD)
check_eq "no password in run, report, plan, dry-run or load output" 0 "$leaks"
check_eq "...nor in any file the run or load wrote" "" "$(grep -rl PASSW0RD "$rdir" "$TMP/load.json" "$ZONEDEF_STATE_DIR")"
check_contains "load --json has the redacted URL" "$(cat "$TMP/load.json")" '"url": "http://user:***@127.0.0.1:18000/"'

finish
