#!/usr/bin/env bash
# test_notify: the scenario's own "notify" webhooks, next to --notify. Needs no lab: a run whose
# lab is not up ends at once (exit 5) and still posts run_finished, to every webhook the
# scenario and the command line name, with the secret the scenario took from the environment
# never shown. A bad "notify" is a validation error with its JSON path (exit 2).
. "$(dirname "$0")/../lib.sh"
cd "$ROOT" || exit 1
command -v python3 >/dev/null || { skip "python3 is missing (make deps installs it)"; finish; }

export ZONEDEF_LAB_DIR=$TMP/nolab ZONEDEF_STATE_DIR=$TMP/state
PORT=19660
HOOKS=$TMP/hooks.log
: >"$HOOKS"
python3 "$ROOT/tests/helpers/webhook-recv.py" "$PORT" "$HOOKS" 60 &
RECV_PID=$!
on_exit "kill $RECV_PID"
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

cat >"$TMP/n.json" <<'EOF'
{
  "name": "notify-scn",
  "target": { "kind": "lab", "url": "http://127.0.0.1:18000/" },
  "load": { "rate": 10 },
  "warmup": "1s",
  "settle": "1s",
  "notify": ["slack=http://127.0.0.1:${HOOKPORT}/services/T1/B1/${HOOK_SECRET}"]
}
EOF
HOOKPORT=$PORT HOOK_SECRET=SCNSECRET run_zd out rc validate "$TMP/n.json"
check_eq "a scenario with notify validates" 0 "$rc"

HOOKPORT=$PORT HOOK_SECRET=SCNSECRET run_zd out rc run "$TMP/n.json" --ci --out "$TMP/r" \
    --notify "json=http://127.0.0.1:$PORT/cli"
check_eq "the lab is not up: exit 5" 5 "$rc"
check_not_contains "the scenario's webhook secret is not printed" "$out" "SCNSECRET"
for _ in $(seq 50); do
    grep -q '^/cli .*run_finished' "$HOOKS" && grep -q '^/services/T1/B1/' "$HOOKS" && break
    sleep 0.1
done
check_match "the scenario's webhook got run_finished, as Slack" "$(cat "$HOOKS")" \
    '^/services/T1/B1/SCNSECRET \{"text":"zonedef notify-scn: run '
check_match "--notify's webhook got it too, as JSON" "$(cat "$HOOKS")" \
    '^/cli \{"source":"zonedef","event":"run_finished"'
check_eq "one run_finished each" "1 1" \
    "$(grep -c '^/cli .*"event":"run_finished"' "$HOOKS") $(grep -c '^/services/T1/B1/SCNSECRET .*notify-scn: run ' "$HOOKS")"

cat >"$TMP/bad.json" <<'EOF'
{
  "name": "notify-bad",
  "target": { "kind": "lab", "url": "http://127.0.0.1:18000/" },
  "load": { "rate": 10 },
  "notify": ["smtp=http://127.0.0.1/", "ftp://x", 3]
}
EOF
run_zd out rc validate "$TMP/bad.json"
check_eq "a bad notify: exit 2" 2 "$rc"
check_contains "an unknown format, with its path" "$out" \
    "bad.json:5:14: unknown webhook format 'smtp' (json, slack or datadog) (at \$.notify[0])"
check_contains "not an http URL" "$out" \
    "'notify' must start with http:// or https:// (got 'ftp://x') (at \$.notify[1])"
check_contains "not a string" "$out" "'notify' must be a string, not a number (at \$.notify[2])"
printf '{"name":"n","target":{"kind":"lab","url":"http://127.0.0.1:18000/"},"load":{"rate":1},"notify":"http://x/"}' >"$TMP/str.json"
run_zd out rc validate "$TMP/str.json"
check_contains "notify must be an array" "$out" "'notify' must be an array of webhooks"
finish
