#!/usr/bin/env bash
# test_report: the reports of one real lab run (zone b black-holed for 5 s), run in tmux at
# 100x30 so the live view is drawn for real: the screen mid-run and after exit, the HTML in
# headless Chromium (DOM and screenshot), the JUnit file against the Ant schema, the Markdown
# table and --summary, re-rendering the run directory, --compare, and the webhooks (generic,
# Slack and Datadog bodies) on a receiver on loopback. A second, short run is interrupted with
# Ctrl-C and a third with SIGTERM: the terminal is restored and a stalled webhook does not hold
# the run; a --ci run checks the plain lines' time order. About a minute.
. "$(dirname "$0")/../lib.sh"

if ! need_root; then
    skip "needs root" "nft black-holes and headless Chromium as root"
    finish
fi
for t in tmux chromium xmllint python3; do
    if ! command -v $t >/dev/null 2>&1; then
        skip "$t is not installed (make deps installs it)"
        finish
    fi
done
exec 9>/tmp/zonedef-e2e.lock
flock 9

export ZONEDEF_LAB_DIR=$TMP/lab ZONEDEF_STATE_DIR=$TMP/state
PORT=19650
SESS=zdreport
SOCK=$TMP/tmux.sock
tm() { tmux -S "$SOCK" "$@"; } # a tmux server of our own, its socket in TMP
RECV=$ROOT/tests/helpers/webhook-recv.py
python3 "$RECV" $PORT "$TMP/hooks.txt" 240 &
RPID=$!
on_exit "kill $RPID"
on_exit 'tm kill-server'
on_exit '"$ZD" lab down --dir "$ZONEDEF_LAB_DIR"'

# wait_screen SESSION PATTERN SECONDS: polls the pane until it shows PATTERN
wait_screen() {
    local i=0 n=$(($3 * 10))
    while [ $i -lt $n ]; do
        tm capture-pane -p -t "$1" 2>/dev/null | grep -q -- "$2" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

cat >"$TMP/rep.json" <<'EOF'
{
  "name": "report-zone-b",
  "description": "zone b dark for 5 s",
  "target": { "kind": "lab", "url": "http://127.0.0.1:18000/" },
  "load": { "rate": 200, "connections": 128, "timeout": "2s" },
  "steady_state": { "error_rate": 0.01, "p99": "500ms", "window": "1s", "hold": "2s" },
  "warmup": "3s",
  "settle": "3s",
  "steps": [ { "name": "zone-b-dark", "at": "3s", "fault": "blackhole_zone", "zone": "b", "for": "5s",
               "expect": { "recovery_time": "10s" } } ],
  "expect": { "availability": 0.5, "min_score": 10 }
}
EOF

# ---- when the live view is used (no lab needed: the run stops at 'the lab is not up') -------
# live_try TERM COLS: the screen after a run that cannot start: "ran NAME" when the live view drew,
# "running NAME" for plain lines; then whether the main screen and the cursor are back
live_try() {
    cat >"$TMP/try.sh" <<EOF
ZONEDEF_LAB_DIR='$TMP/nolab' LANG=C.UTF-8 TERM=$1 '$ZD' run '$TMP/rep.json' --out '$TMP/try-$1-$2'
echo ZD-EXIT=\$?
sleep 60
EOF
    tm new-session -d -s try -x "$2" -y 30 "bash '$TMP/try.sh'"
    wait_screen try "ZD-EXIT=" 20
    tm capture-pane -p -t try -S -100 | tr '\n' ' ' | sed 's/  */ /g'
    echo " alt=$(tm display -p -t try '#{alternate_on}') cursor=$(tm display -p -t try '#{cursor_flag}')"
    tm kill-session -t try
}
o=$(live_try xterm-256color 100)
check_contains "live: used on a 100x30 terminal" "$o" "ran report-zone-b: zone b dark"
check_contains "live: the error after it, terminal restored" "$o" "the lab is not up"
check_contains "live: main screen and cursor back" "$o" "alt=0 cursor=1"
o=$(live_try dumb 100)
check_contains "live: not with TERM=dumb (plain lines)" "$o" "running report-zone-b: zone b dark"
o=$(live_try xterm-256color 70)
check_contains "live: not on a terminal narrower than 80 (plain lines)" "$o" "running report-zone-b:"

out=$("$ZD" lab up 2>&1)
check "lab up" [ $? -eq 0 ]
R=$TMP/run
# the command runs under bash: it goes on after zonedef handled Ctrl-C, so the exit code shows
cat >"$TMP/run1.sh" <<EOF
cd '$TMP' && LANG=C.UTF-8 TERM=xterm-256color '$ZD' run '$TMP/rep.json' --out '$R' \\
    --summary '$TMP/step-summary.md' \\
    --notify 'json=http://hookuser:hooksecret@127.0.0.1:$PORT/generic' \\
    --notify 'slack=http://127.0.0.1:$PORT/services/T0/B0/SLACKSECRET' \\
    --notify 'datadog=http://127.0.0.1:$PORT/dd'
echo ZD-EXIT=\$?
sleep 120
EOF
tm new-session -d -s $SESS -x 100 -y 30 "bash '$TMP/run1.sh'"

# ---- the live view mid-run ----------------------------------------------------------------
check "live view: the fault is shown active" wait_screen $SESS "FAULT ACTIVE" 20
check "live view: zone b goes DOWN on screen" wait_screen $SESS "b .* 0/2 DOWN" 8
mid=$(tm capture-pane -p -t $SESS)
check_contains "live view: title" "$mid" "zonedef  report-zone-b"
check_contains "live view: the fault counts down" "$mid" "s left"
check_contains "live view: the chart's axis label" "$mid" "requests/s"
check_contains "live view: events as they happen" "$mid" "inject blackhole_zone zone-b-dark"
check_match "live view: the clock against the plan" "$mid" '0:0[0-9] / 0:11'
check_eq "live view: 30 lines" 30 "$(printf '%s\n' "$mid" | wc -l)"
check_eq "live view: no line wider than the terminal" 0 "$(printf '%s\n' "$mid" | LC_ALL=C.UTF-8 \
    python3 -c 'import sys; print(sum(len(l.rstrip("\n")) > 100 for l in sys.stdin))')"
check_eq "live view: drawn on the alternate screen" 1 "$(tm display -p -t $SESS '#{alternate_on}')"
# events in time order on screen
stamps=$(printf '%s\n' "$mid" | sed -n 's/^ *\([0-9]*\.[0-9]\)s [^ ]* .*/\1/p')
check "live view: event times never go back" [ "$(printf '%s\n' "$stamps" | sort -n)" = "$stamps" ]

# ---- after exit ---------------------------------------------------------------------------
check "run ends" wait_screen $SESS "ZD-EXIT=" 60
end=$(tm capture-pane -p -t $SESS -S -400)
check_contains "run passes (exit 0)" "$end" "ZD-EXIT=0"
check_eq "terminal: back on the main screen" 0 "$(tm display -p -t $SESS '#{alternate_on}')"
check_eq "terminal: cursor visible again" 1 "$(tm display -p -t $SESS '#{cursor_flag}')"
check_not_contains "terminal: no dashboard left on screen" "$(tm capture-pane -p -t $SESS)" "FAULT ACTIVE"
check_contains "after exit: the scorecard" "$end" "scorecard report-zone-b: passed"
check_contains "after exit: where the reports are" "$end" "reports     $R/report.html, junit.xml, summary.md"
stamps=$(printf '%s\n' "$end" | sed -n 's/^\[ *\([0-9.]*\)s\] .*/\1/p')
check "after exit: the event lines are in time order" [ -n "$stamps" -a "$(printf '%s\n' "$stamps" | sort -n)" = "$stamps" ]
check_contains "after exit: the detection line is there" "$end" "] detected zone-b-dark"
for f in report.html junit.xml summary.md result.json journal.jsonl; do
    check "run wrote $f" [ -s "$R/$f" ]
done
score=$(jq -r '.score.total' "$R/result.json")
score1=$(printf '%.1f' "$score")

# ---- HTML in headless Chromium ----------------------------------------------------------------
chrome() {
    local prof
    prof=$(mktemp -d "$TMP/chrome.XXXXXX")
    timeout -k 5 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$prof" --hide-scrollbars "$@" 2>/dev/null
}
dom=$(chrome --dump-dom "file://$R/report.html")
check_contains "html: title with the score" "$dom" "<title>zonedef: report-zone-b passed, score $score1</title>"
check_match "html: the scorecard's score is result.json's" "$dom" "id=\"score\">$score1<"
check_contains "html: verdict" "$dom" 'id="verdict">PASSED<'
check_contains "html: the timeline chart" "$dom" '<svg id="timeline"'
for s in rate errors p50 p99; do
    check_match "html: series $s drawn" "$dom" "class=\"series series-$s\"><(polygon|polyline) points=\"[0-9]"
done
check_eq "html: one shaded fault window per chart" 2 "$(printf '%s' "$dom" | grep -o 'class="fault-window" data-step="0"' | wc -l)"
check_contains "html: the window is labelled" "$dom" '<text class="fault-label"'
check_contains "html: detection drawn" "$dom" 'class="detect-line"'
check_contains "html: recovery drawn" "$dom" 'class="recover-line"'
check_contains "html: steady-state check marked" "$dom" 'data-check="baseline"'
check_eq "html: capacity of the three zones" 3 "$(printf '%s' "$dom" | grep -o 'series-zone" data-zone="[abc]"' | wc -l)"
check_contains "html: the events table" "$dom" "load balancer: zone b 0/2 healthy"
check_match "html: which load engine, and its connect times" "$dom" \
    '<th>load engine</th><td>native \(auto: native for http://\), [0-9]+ connections on [0-9]+ threads</td></tr><tr><th>TCP connect</th><td>[0-9]+ opened, p50 [0-9.]+ ?[mµu]?s, p99'
check_not_contains "html: nothing from the network" "$dom" "src=\"http"
check_not_contains "html: no webhook secret" "$(cat "$R/report.html")" "hooksecret"
chrome --window-size=1366,1500 --screenshot="$TMP/shot.png" "file://$R/report.html" >/dev/null
check "html: Chromium renders a screenshot" [ "$(stat -c %s "$TMP/shot.png" 2>/dev/null || echo 0)" -gt 50000 ]

# ---- JUnit, Markdown, --summary ----------------------------------------------------------
xl=$(xmllint --noout --schema "$ROOT/tests/data/junit/JUnit.xsd" "$R/junit.xml" 2>&1)
check_contains "junit: validates against the Ant schema" "$xl" "junit.xml validates"
check_match "junit: one suite, every check a testcase, none failed" "$(cat "$R/junit.xml")" \
    '<testsuite name="report-zone-b" [^>]*tests="[5-9]" failures="0" errors="0"'
check_contains "junit: the recovery expectation" "$(cat "$R/junit.xml")" 'name="recovery of zone-b-dark"'
md=$(cat "$R/summary.md")
check_contains "md: the checks table" "$md" "| check | expected | measured | result |
|---|---|---|---|"
rows=$(printf '%s\n' "$md" | awk '/^\| check \|/ { t = 1; next } t && /^\|/ { n++ } t && !/^\|/ { exit } END { print n + 0 }')
check "md: a row per check (and the separator)" [ "$rows" -ge 4 ]
check_contains "md: the score" "$md" "score $score1/100"
check_match "md: a sparkline of the error rate" "$md" 'Error rate over .*: `[▁▂▃▄▅▆▇█]+`'
check_eq "--summary appended the same Markdown" "$md" "$(cat "$TMP/step-summary.md")"

# ---- an old run directory renders the same ---------------------------------------------------
cp -r "$R" "$TMP/old"
rm "$TMP/old/report.html" "$TMP/old/junit.xml" "$TMP/old/summary.md"
run_zd out rc report "$TMP/old" --format html,junit,md
check_eq "report --format: exit 0" 0 "$rc"
for f in report.html junit.xml summary.md; do
    check "re-rendered $f is identical" cmp -s "$R/$f" "$TMP/old/$f"
done
run_zd out rc report "$TMP/old" --format junit --out -
check_contains "report --out -: JUnit on stdout" "$out" '<testsuite name="report-zone-b"'
run_zd out rc report "$TMP/old" --format html,md --out "$TMP/x"
check_eq "report: --out with two formats is a usage error" 2 "$rc"
run_zd out rc report "$TMP/old" --format pdf
check_contains "report: unknown format named" "$out" "unknown format 'pdf'"

# ---- --compare ------------------------------------------------------------------------------
run_zd out rc report --compare "$R" "$TMP/old"
check_eq "compare: a run with itself: exit 0" 0 "$rc"
check_contains "compare: no regression" "$out" "0 regressions beyond the thresholds"
cp -r "$R" "$TMP/worse"
jq '.score.total -= 20 | .faults[0].ttr_us += 4000000 | .passed = false | .status = "failed"' \
    "$R/result.json" >"$TMP/worse/result.json"
run_zd out rc report --compare "$R" "$TMP/worse"
check_eq "compare: a regression exits 1" 1 "$rc"
check_match "compare: the score regressed" "$out" 'score +[0-9.]+ +[0-9.]+ +-20.00 +REGRESSION'
check_match "compare: the TTR regressed" "$out" 'zone-b-dark TTR .*\+4.00 s +REGRESSION'
run_zd out rc report --compare "$TMP/worse" "$R" --markdown
check_eq "compare: better is exit 0" 0 "$rc"
check_contains "compare --markdown: a table" "$out" "| | before | after | change | |"

# ---- notifications ---------------------------------------------------------------------------
H=$(cat "$TMP/hooks.txt")
for ev in run_started fault_applied fault_undone run_finished; do
    check_contains "webhook: $ev posted" "$H" "/generic {\"source\":\"zonedef\",\"event\":\"$ev\""
done
check_match "webhook: run_finished carries the score" "$H" "\"event\":\"run_finished\".*\"score\":$score1"
check_match "webhook: Slack body" "$H" '^/services/T0/B0/SLACKSECRET \{"text":"zonedef report-zone-b: inject blackhole_zone'
check_match "webhook: Datadog event" "$H" '^/dd \{"title":"zonedef report-zone-b: fault_applied","text":.*"alert_type":"warning"'
check_contains "result.json: the command line, webhook secrets hidden" "$(jq -r .command "$R/result.json")" \
    "--notify json=http://127.0.0.1:$PORT/…"
for f in result.json journal.jsonl report.html junit.xml summary.md; do
    check_eq "no webhook secret in $f" 0 "$(grep -c -e hooksecret -e SLACKSECRET "$R/$f")"
done
check_not_contains "no webhook secret on the screen" "$end" "SLACKSECRET"

# ---- plain lines (--ci): in time order, a late detection put where it happened --------------
sed -e 's/"for": "5s"/"for": "3s"/' -e 's/"settle": "3s"/"settle": "2s"/' -e 's/report-zone-b/report-ci/' \
    "$TMP/rep.json" >"$TMP/ci.json"
run_zd out rc run "$TMP/ci.json" --out "$TMP/ci" --ci --no-reports
check_eq "ci run passes" 0 "$rc"
stamps=$(printf '%s\n' "$out" | sed -n 's/^\[ *\([0-9.]*\)s\] .*/\1/p')
check "ci: every event line is in time order" [ -n "$stamps" -a "$(printf '%s\n' "$stamps" | sort -n)" = "$stamps" ]
check_match "ci: detection before the load balancer's reaction" "$(printf '%s' "$out" | tr '\n' ' ')" \
    '\] detected zone-b-dark.*\] load balancer: zone b 0/2 healthy'
check_not_contains "ci: no escape sequences" "$out" $'\033['
check "ci: --no-reports wrote none" [ ! -e "$TMP/ci/report.html" ]

# ---- Ctrl-C with a stalled webhook: the terminal comes back, the run is not held -------------
sed -e 's/"for": "5s"/"for": "30s"/' -e 's/report-zone-b/report-int/' "$TMP/rep.json" >"$TMP/int.json"
cat >"$TMP/run2.sh" <<EOF
LANG=C.UTF-8 TERM=xterm-256color '$ZD' run '$TMP/int.json' --out '$TMP/int' \\
    --notify 'http://127.0.0.1:$PORT/hang' --no-reports
echo ZD-EXIT=\$?
sleep 120
EOF
tm new-session -d -s $SESS-int -x 100 -y 30 "bash '$TMP/run2.sh'"
check "interrupt: live view up with the fault active" wait_screen $SESS-int "FAULT ACTIVE" 20
t0=$(date +%s%N)
tm send-keys -t $SESS-int C-c
check "interrupt: the run ends" wait_screen $SESS-int "ZD-EXIT=" 30
t1=$(date +%s%N)
ie=$(tm capture-pane -p -t $SESS-int -S -400)
check_contains "interrupt: exit 3" "$ie" "ZD-EXIT=3"
check_contains "interrupt: every fault undone" "$ie" "every fault was undone"
check_eq "interrupt: back on the main screen" 0 "$(tm display -p -t $SESS-int '#{alternate_on}')"
check_eq "interrupt: cursor visible" 1 "$(tm display -p -t $SESS-int '#{cursor_flag}')"
check_contains "interrupt: the stalled webhook is reported, not waited for" "$ie" "notify: "
check "interrupt: done within 12 s of Ctrl-C despite a webhook that never answers" \
    [ $(((t1 - t0) / 1000000)) -lt 12000 ]
check_eq "interrupt: no black-hole left" 0 "$(nft list tables 2>/dev/null | grep -c zonedef_bh_)"
check "interrupt: --no-reports wrote none" [ ! -e "$TMP/int/report.html" ]

# ---- SIGTERM: the same ----------------------------------------------------------------------
cat >"$TMP/run3.sh" <<EOF
LANG=C.UTF-8 TERM=xterm-256color '$ZD' run '$TMP/int.json' --out '$TMP/term' --no-reports &
echo \$! >'$TMP/term.pid'
wait \$!
echo ZD-EXIT=\$?
sleep 120
EOF
tm new-session -d -s $SESS-term -x 100 -y 30 "bash '$TMP/run3.sh'"
check "sigterm: live view up with the fault active" wait_screen $SESS-term "FAULT ACTIVE" 20
kill -TERM "$(cat "$TMP/term.pid")"
check "sigterm: the run ends" wait_screen $SESS-term "ZD-EXIT=" 30
te=$(tm capture-pane -p -t $SESS-term -S -400)
check_contains "sigterm: exit 3, every fault undone" "$te" "every fault was undone"
check_contains "sigterm: exit code 3" "$te" "ZD-EXIT=3"
check_eq "sigterm: back on the main screen" 0 "$(tm display -p -t $SESS-term '#{alternate_on}')"
check_eq "sigterm: cursor visible" 1 "$(tm display -p -t $SESS-term '#{cursor_flag}')"
check_eq "sigterm: no black-hole left" 0 "$(nft list tables 2>/dev/null | grep -c zonedef_bh_)"

finish
