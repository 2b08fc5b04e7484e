#!/usr/bin/env bash
# test_strict: the strictness holes of issue 11, each with its exact error line: decimal-only
# durations, \u0000, names at every length, the help command, 'zonedef: COMMAND: ' on every error
# line, 'validate -', run's short options, lab's exit codes, recover on a damaged journal, and
# passwords in URLs never printed by validate, plan or load's errors.
. "$(dirname "$0")/../lib.sh"
cd "$ROOT" || exit 1
export ZONEDEF_STATE_DIR=$TMP/state ZONEDEF_LAB_DIR=$TMP/lab

scn() { # scn FILE EXTRA: a minimal lab scenario with EXTRA top-level keys
    printf '{"name": "x", "target": {"kind": "lab", "url": "http://127.0.0.1:18000/"}, "load": {"rate": 1}%s}\n' "$2" >"$1"
}

# ---- durations are decimal, and never silently 0 ----------------------------------------------
for d in 0x10s 0x1p4s 1e1s 1e-7s; do
    scn "$TMP/d.json" ", \"warmup\": \"$d\""
    run_zd out rc validate "$TMP/d.json"
    check_eq "duration $d: exit 2" 2 "$rc"
    check_eq "duration $d: the exact line" \
        "zonedef: validate: $TMP/d.json:1:107: 'warmup': duration '$d' is not a decimal number and a unit (no hex, no exponent: write it like \"500ms\", \"1.5s\" or \"2m\") (at \$.warmup)" "$out"
done
for d in 1e-7s 0.0000001s; do
    run_zd out rc load http://127.0.0.1:19450/ --duration "$d"
    check_eq "load --duration $d: exit 2" 2 "$rc"
done
scn "$TMP/d.json" ', "warmup": "0.0000001s"'
run_zd out rc validate "$TMP/d.json"
check_eq "a duration below 1us: the exact line" \
    "zonedef: validate: $TMP/d.json:1:107: 'warmup': duration '0.0000001s' is shorter than 1us, the finest zonedef keeps (at \$.warmup)" "$out"

# ---- \u0000 ------------------------------------------------------------------------------------
scn "$TMP/n.json" ', "warmup": "warmup\u0000zzz"'
run_zd out rc validate "$TMP/n.json"
check_eq "\\u0000: exit 2" 2 "$rc"
check_eq "\\u0000: the exact line" \
    "zonedef: validate: $TMP/n.json:1:114: syntax error: \\u0000 (a NUL character) is not allowed in a string" "$out"

# ---- names: one message at every length ------------------------------------------------------
for n in 129 193 300 5000; do
    name=$(head -c "$n" /dev/zero | tr '\0' a)
    printf '{"name": "%s", "target": {"kind": "lab", "url": "http://127.0.0.1:18000/"}, "load": {"rate": 1}, "steps": [{"at": "15s", "name": "%s", "fault": "kill_instances"}]}\n' "$name" "$name" >"$TMP/l.json"
    run_zd out rc validate "$TMP/l.json"
    check_eq "a $n-character name: the 128-character lines" \
        "zonedef: validate: $TMP/l.json:1:10: name is longer than 128 characters (at \$.name)
zonedef: validate: $TMP/l.json:1:$((n + 128)): name is longer than 128 characters (at \$.steps[0].name)" "$out"
done

# ---- help ----------------------------------------------------------------------------------------
for h in "help" "help help" "help --help" "--help"; do
    # shellcheck disable=SC2086
    run_zd out rc $h
    check_eq "zonedef $h: exit 0" 0 "$rc"
    check_contains "zonedef $h: the overview" "$out" "usage: zonedef <command> [options]"
done
run_zd out rc help nope
check_eq "help of an unknown command" "zonedef: help: 'nope' is not a command (see 'zonedef --help')" "$out"
run_zd out rc run --help
check_contains "run --help lists -o" "$out" "-o, --out DIR"
check_contains "run --help lists -q" "$out" "-q, --quiet"
run_zd out rc run -q -o "$TMP/x" /nonexistent.json
check_eq "run takes -q and -o (then the missing file is the error)" \
    "zonedef: run: cannot open '/nonexistent.json': No such file or directory" "$out"
run_zd out rc lab --help
check_contains "lab --help gives its exit codes" "$out" "exit: 0 done (up: ready or already up"
check_contains "...5 runtime error" "$out" "5 runtime error (up: the lab did not start"

# ---- every error line starts 'zonedef: COMMAND: ' ------------------------------------------------
for c in validate plan run load recover report; do
    run_zd out rc "$c" --nope
    check_eq "$c: unknown option line" "zonedef: $c: unknown option '--nope' (see 'zonedef $c --help')" "$out"
done
run_zd out rc lab up --nope
check_eq "lab up: unknown option line" "zonedef: lab up: unknown option '--nope' (see 'zonedef lab up --help')" "$out"
run_zd out rc report
check_eq "report without a directory" "zonedef: report: which run directory? (usage: zonedef report RUN_DIR [--json])" "$out"
run_zd out rc plan "$TMP/n.json"
check_eq "plan's scenario errors name plan" \
    "zonedef: plan: $TMP/n.json:1:114: syntax error: \\u0000 (a NUL character) is not allowed in a string" "$out"

# ---- validate - ----------------------------------------------------------------------------------
out=$("$ZD" validate - <scenarios/game-day.json 2>&1)
check_eq "validate - reads stdin" "ok <stdin> (game-day: 4 steps, duration 2m10s)" "$out"
out=$(printf '{"name": 1}' | "$ZD" validate - 2>&1)
rc=$?
check_eq "validate - with a bad scenario: exit 2" 2 "$rc"
check_contains "...errors name <stdin>" "$out" "zonedef: validate: <stdin>:1:10: 'name' must be a string, not a number (at \$.name)"

# ---- recover: damaged and start-less journals are exit 2, nothing attempted ----------------------
mkdir -m 700 "$TMP/run1" "$TMP/run2" "$TMP/run3"
printf '{"type":"start","v":1}\ngarbage\n{"type":"phase"}\n' >"$TMP/run1/journal.jsonl"
run_zd out rc recover "$TMP/run1"
check_eq "recover, damaged journal: exit 2" 2 "$rc"
check_eq "recover, damaged journal: the line" \
    "zonedef: recover: damaged journal: $TMP/run1/journal.jsonl:2: not a JSON object; nothing was done" "$out"
printf '{"type":"intent","step":0,"action":{"kind":"lab","fault":"exec","undo_command":"touch %s/ran"}}\n{"type":"phase"}\n' "$TMP" >"$TMP/run2/journal.jsonl"
run_zd out rc recover "$TMP/run2"
check_eq "recover, start-less journal: exit 2" 2 "$rc"
check_eq "recover, start-less journal: the line" \
    "zonedef: recover: damaged journal: $TMP/run2/journal.jsonl:1: the journal does not begin with a start record; nothing was done" "$out"
check "...and nothing was run" [ ! -e "$TMP/ran" ]
: >"$TMP/run3/journal.jsonl"
run_zd out rc recover "$TMP/run3"
check_eq "recover, empty journal: exit 2" 2 "$rc"
check_contains "...damaged journal: FILE:1" "$out" "damaged journal: $TMP/run3/journal.jsonl:1: no start record"

# ---- without HOME, the lab directory is the user's home from the password database, never /tmp --
home=$(getent passwd "$(id -u)" | cut -d: -f6)
out=$(env -u HOME -u XDG_STATE_HOME -u ZONEDEF_LAB_DIR "$ZD" lab status --json 2>/dev/null | jq -r .dir)
check_eq "no HOME: the lab directory comes from getpwuid" "$home/.local/state/zonedef/lab" "$out"

# ---- a password in a URL is never printed -------------------------------------------------------
printf '{"name": "x", "target": {"kind": "lab", "url": "http://user:PASSW0RD@127.0.0.1:18000/"}, "load": {"rate": 1}, "probes": [{"kind": "http", "url": "http://probe:S3CRET@127.0.0.1:19451/"}], "warmup": "0x1s"}\n' >"$TMP/p.json"
run_zd out rc validate "$TMP/p.json"
check_not_contains "validate's errors show no password" "$out" "PASSW0RD"
sed -i 's/"warmup": "0x1s"/"warmup": "2s"/' "$TMP/p.json"
run_zd out rc plan "$TMP/p.json"
check_eq "plan with credentials: exit 0" 0 "$rc"
check_contains "plan shows user:***@" "$out" "lab http://user:***@127.0.0.1:18000/"
check_contains "plan shows the probe's user:***@" "$out" "GET http://probe:***@127.0.0.1:19451/"
check_not_contains "plan shows no password" "$out$("$ZD" plan --json "$TMP/p.json")" "PASSW0RD"
check_not_contains "plan --json shows no probe password" "$("$ZD" plan --json "$TMP/p.json")" "S3CRET"
check_contains "plan --json has the redacted URL" "$("$ZD" plan --json "$TMP/p.json")" '"url":"http://user:***@127.0.0.1:18000/"'
run_zd out rc load 'http://user:PASSW0RD@127.0.0.1:19450/' --engine native
check_not_contains "load's error line shows no password" "$out" "PASSW0RD"
check_contains "...but the URL, redacted" "$out" "http://user:***@127.0.0.1:19450/"

# ---- latency: loss and interface (ssh/aws hosts), each error with its JSON path --------------
lat() { # lat FILE KIND EXTRA: one latency step on a 1-host ssh (or lab) target with EXTRA keys
    if [ "$2" = ssh ]; then t='{"kind": "ssh", "url": "http://127.0.0.1:18000/", "zones": {"a": ["10.213.1.1"]}, "user": "root", "known_hosts": "/dev/null"}'
    else t='{"kind": "lab", "url": "http://127.0.0.1:18000/"}'; fi
    printf '{"name": "x", "target": %s, "load": {"rate": 1}, "steps": [{"at": "15s", "fault": "latency", "delay": "100ms", "for": "5s"%s}]}\n' "$t" "$3" >"$1"
}
lat "$TMP/lat.json" ssh ', "jitter": "10ms", "loss": 0.5, "interface": "eth0.100"'
run_zd out rc validate "$TMP/lat.json"
check_eq "latency with loss 0.5 and interface eth0.100: valid" 0 "$rc"
lat "$TMP/lat.json" ssh ', "loss": 100, "interface": "bond0:1"'
run_zd out rc validate "$TMP/lat.json"
check_eq "loss 100 and an alias interface: valid" 0 "$rc"
for v in '101:must be between 0 and 100 (got 101)' '-1:must be between 0 and 100 (got -1)' '"5%":must be a number, not a string'; do
    lat "$TMP/lat.json" ssh ", \"loss\": ${v%%:*}"
    run_zd out rc validate "$TMP/lat.json"
    check_eq "loss ${v%%:*}: exit 2" 2 "$rc"
    check_contains "loss ${v%%:*}: the message with the JSON path" "$out" "'loss' ${v#*:} (at \$.steps[0].loss)"
done
for v in 'eth0;touch /tmp/x' 'sixteen-chars-xx' 'a b' 'eth0$(id)'; do
    lat "$TMP/lat.json" ssh ", \"interface\": \"$v\""
    run_zd out rc validate "$TMP/lat.json"
    check_eq "interface '$v': exit 2" 2 "$rc"
    check_contains "interface '$v': the message with the JSON path" "$out" "'$v' is not an interface name (1 to 15 characters of A-Z a-z 0-9 _ . : -) (at \$.steps[0].interface)"
done
lat "$TMP/lat.json" lab ', "loss": 1'
run_zd out rc validate "$TMP/lat.json"
check_eq "loss on the lab target: exit 2" 2 "$rc"
check_contains "  ...saying where it applies" "$out" "'loss' applies to ssh and aws hosts (tc netem); the lab's instances have delay and jitter only (at \$.steps[0].loss)"
printf '{"name": "x", "target": {"kind": "lab", "url": "http://127.0.0.1:18000/"}, "load": {"rate": 1}, "steps": [{"at": "15s", "fault": "cpu_stress", "for": "5s", "interface": "eth0"}]}\n' >"$TMP/lat.json"
run_zd out rc validate "$TMP/lat.json"
check_contains "interface on another fault" "$out" "'interface' does not apply to fault 'cpu_stress' (at \$.steps[0].interface)"

finish
