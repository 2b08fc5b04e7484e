#!/usr/bin/env bash
# test_load: `zonedef load` against real servers on loopback, one per outcome class, each count
# asserted; a 2 s outage at a fixed rate shows up as about rate x 2 s failed requests, in the
# timeline intervals of the outage. Ports 127.0.0.1:19000-19099 and 127.0.9.0/24 (nft, root).
. "$(dirname "$0")/../lib.sh"
exec 9>/tmp/zonedef-e2e.lock
flock 9

SRV=$ROOT/build/helpers/zd-testsrv
if [ ! -x "$SRV" ] || [ ! -x "$ZD" ]; then
    th_bad "binaries built" "run 'make zonedef helpers' first ($SRV, $ZD)"
    finish
fi

# start_srv PORT [FLAGS...]: starts the test server, waits until it accepts, sets SRV_PID.
start_srv() {
    local port=$1; shift
    "$SRV" --listen "127.0.0.1:$port" --max-seconds 60 "$@" >/dev/null &
    SRV_PID=$!
    on_exit "kill -CONT $SRV_PID; kill $SRV_PID"
    local i
    for i in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    th_bad "server on port $port started"
    return 1
}

# load NAME ARGS...: runs zonedef load with --json into $TMP/NAME.json, rc into LOAD_RC.
load() {
    local name=$1; shift
    timeout -k 5 60 "$ZD" load --quiet --json "$TMP/$name.json" "$@" >"$TMP/$name.out" 2>&1
    LOAD_RC=$?
}
# j NAME FILTER: a value from a result file.
j() { jq -r "$2" "$TMP/$1.json" 2>/dev/null; }

# ---- every outcome class, produced for real, by both engines ----------------------------------
# The native HTTP/1.1 engine (the default for http://) and libcurl (--engine curl) must classify
# alike: the same servers, the same counts.
start_srv 19001
start_srv 19003 --status 500
start_srv 19009 --status 404
start_srv 19004 --reset
start_srv 19006
STOPPED=$SRV_PID
start_srv 19008 --drop-second
start_srv 19012 --chunked
start_srv 19013 --close
start_srv 19014 --garbage
if need_root && command -v nft >/dev/null; then
    on_exit "nft delete table inet zonedef_test_load"
    nft delete table inet zonedef_test_load 2>/dev/null
    nft add table inet zonedef_test_load &&
        nft add chain inet zonedef_test_load in '{ type filter hook input priority -10; policy accept; }' &&
        nft add rule inet zonedef_test_load in ip daddr 127.0.9.0/24 tcp dport 19000-19499 drop
    check_eq "nft drop rule installed" 0 $?
fi

for E in native curl; do
load ok http://127.0.0.1:19001/ --engine $E --rate 50 --duration 1s --expect-body '^ok$'
check_eq "$E: ok: exit 0" 0 "$LOAD_RC"
check_eq "$E: the engine is named" "$E" "$(j ok .engine)"
check_eq "$E: ok: 50 requests at 50/s for 1s" 50 "$(j ok .requests)"
check_eq "$E: ok: all 50 ok" 50 "$(j ok .outcomes.ok)"
check_eq "$E: ok: no errors" 0 "$(j ok .errors)"
check_eq "$E: ok: 50 2xx statuses" 50 "$(j ok '.status["2xx"]')"
check_eq "$E: ok: 150 body bytes (ok\\n x 50)" 150 "$(j ok .bytes_received)"
check_eq "$E: ok: timeline sums to the total" 50 "$(j ok '[.timeline[].total] | add')"
check_eq "$E: ok: 5 requests in the 4th interval (100ms at 50/s)" 5 "$(j ok '.timeline[3].total')"
check "$E: ok: keep-alive: at most 2 connections per thread opened" \
    [ "$(j ok .connections_opened)" -ge 1 -a "$(j ok .connections_opened)" -le 8 ]
check "$E: ok: latency p99 measured (>0, <100ms)" \
    [ "$(j ok .latency_us.p99)" -gt 0 -a "$(j ok .latency_us.p99)" -lt 100000 ]

load mismatch http://127.0.0.1:19001/ --engine $E --rate 50 --duration 1s --expect-body '^nope'
check_eq "$E: body_mismatch: 50 of 50" 50 "$(j mismatch .outcomes.body_mismatch)"

load other http://127.0.0.1:19001/ --engine $E --rate 20 --duration 1s --expect-status 201-204
check_eq "$E: unexpected 200 with --expect-status 201-204 is other" 20 "$(j other .outcomes.other)"

load refused http://127.0.0.1:19002/ --engine $E --rate 50 --duration 1s
check_eq "$E: connect_refused: closed port, 50 of 50" 50 "$(j refused .outcomes.connect_refused)"

load s500 http://127.0.0.1:19003/ --engine $E --rate 50 --duration 1s
check_eq "$E: http_5xx: 50 of 50" 50 "$(j s500 .outcomes.http_5xx)"
check_eq "$E: http_5xx: counted as 5xx status" 50 "$(j s500 '.status["5xx"]')"

load s404 http://127.0.0.1:19009/ --engine $E --rate 20 --duration 1s
check_eq "$E: http_4xx: 20 of 20" 20 "$(j s404 .outcomes.http_4xx)"
load s404ok http://127.0.0.1:19009/ --engine $E --rate 20 --duration 1s --expect-status 404,2xx
check_eq "$E: --expect-status 404,2xx makes a 404 ok" 20 "$(j s404ok .outcomes.ok)"

load reset http://127.0.0.1:19004/ --engine $E --rate 50 --duration 1s
check_eq "$E: reset mid-response: 50 of 50" 50 "$(j reset .outcomes.reset)"

kill -STOP "$STOPPED"
load stopped http://127.0.0.1:19006/ --engine $E --rate 20 --duration 1s --timeout 300ms
kill -CONT "$STOPPED"
check_eq "$E: response_timeout: SIGSTOPped server, 20 of 20" 20 "$(j stopped .outcomes.response_timeout)"
check "$E: response_timeout: latency is the timeout (>=300ms)" [ "$(j stopped .latency_us.p50)" -ge 290000 ]

load retry http://127.0.0.1:19008/ --engine $E --rate 20 --duration 1s --connections 1 --threads 1
check_eq "$E: dead keep-alive connections: every request answered or reset" 20 \
    "$(j retry '.outcomes.ok + .outcomes.reset')"
check "$E: dead keep-alive connections: the silent re-sends counted (>=10)" \
    [ "$(j retry .retried)" -ge 10 ]
check "$E: dead keep-alive connections: a connection opened per re-send" \
    [ "$(j retry .connections_opened)" -gt "$(j retry .retried)" ]

load chunked http://127.0.0.1:19012/ --engine $E --rate 50 --duration 1s --expect-body '^ok$'
check_eq "$E: chunked bodies: 50 of 50 ok" 50 "$(j chunked .outcomes.ok)"
check "$E: chunked bodies: kept alive (<= 8 connections)" [ "$(j chunked .connections_opened)" -le 8 ]
load close http://127.0.0.1:19013/ --engine $E --rate 50 --duration 1s --expect-body '^ok$'
check_eq "$E: 'Connection: close' answers: 50 of 50 ok" 50 "$(j close .outcomes.ok)"
check_eq "$E: 'Connection: close' answers: a connection each" 50 "$(j close .connections_opened)"
check_eq "$E: 'Connection: close' answers: nothing re-sent" 0 "$(j close .retried)"
load junk http://127.0.0.1:19014/ --engine $E --rate 20 --duration 1s
check_eq "$E: an answer that is not HTTP: 20 of 20 other" 20 "$(j junk .outcomes.other)"
load post http://127.0.0.1:19001/ --engine $E --rate 20 --duration 1s --threads 1 --body 'a=1' -H 'X-Game: day'
check_eq "$E: POST with a body and a header: 20 of 20 ok" 20 "$(j post .outcomes.ok)"
check_eq "$E: POST: kept alive (the server read exactly the body)" 1 "$(j post .connections_opened)"
load head http://127.0.0.1:19001/ --engine $E --rate 20 --duration 1s --method HEAD
check_eq "$E: HEAD: 20 of 20 ok, no body read" "20 0" "$(j head '"\(.outcomes.ok) \(.bytes_received)"')"
# closed loop: 4 connections, each always carrying one request, so by Little's law the mean
# latency times the rate is 4. A request stamped before the wait that preceded its send (as
# the engine once did) counted the wait as latency: 4.6 to 7.0; stamped late, under 4.
load closed http://127.0.0.1:19001/ --engine $E --duration 1s --threads 1 --connections 4
check "$E: closed loop: mean latency x rate is the 4 connections (Little's law), got $(j closed '.latency_us.mean * .outcomes.ok / .elapsed_us')" \
    [ "$(j closed '.latency_us.mean * .outcomes.ok / .elapsed_us | (. >= 3.8 and . <= 4.2)')" = true ]
check "$E: closed loop: every request ok" [ "$(j closed '.outcomes.ok == .requests and .requests > 100')" = true ]
# the same with a thread per core, where the worker naps on its own timer before it looks
# (not spinning): an answer read after a nap is still stamped when it is read
load closednap http://127.0.0.1:19001/ --engine $E --duration 1s --threads "$(nproc)" --connections 4
check "$E: closed loop, a thread per core: Little's law, got $(j closednap '.latency_us.mean * .outcomes.ok / .elapsed_us')" \
    [ "$(j closednap '.latency_us.mean * .outcomes.ok / .elapsed_us | (. >= 3.8 and . <= 4.2)')" = true ]

if need_root && command -v nft >/dev/null; then
    load ctimeout http://127.0.9.1:19010/ --engine $E --rate 20 --duration 1s --connect-timeout 200ms
    check_eq "$E: connect_timeout: dropped SYNs, 20 of 20" 20 "$(j ctimeout .outcomes.connect_timeout)"
else
    skip "needs root" "$E: connect_timeout via an nft drop rule"
fi
done
if need_root && command -v nft >/dev/null; then
    nft delete table inet zonedef_test_load
    check "nft table removed" bash -c '! nft list table inet zonedef_test_load >/dev/null 2>&1'
fi

# ---- closed loop against a slow server: polling backs off ---------------------------------------
# Spinning (fewer threads than cores) and napping (a thread per core) look at epoll without
# blocking only while that keeps finding answers. Answers 50 ms apart must put the worker to
# sleep: CPU time in milliseconds (the shell's children, from `times`), against 2-4 s of wall
# time a polling loop that never gave up would burn.
start_srv 19015 --delay 50
cpu_ms() { awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%d\n", ((u[1] + s[1]) * 60 + u[2] + s[2]) * 1000 }' "$1"; }
for T in 1 "$(nproc)"; do
    times >"$TMP/t0"
    load slow$T http://127.0.0.1:19015/ --duration 2s --threads "$T" --connections 4
    times >"$TMP/t1"
    ms=$(($(cpu_ms "$TMP/t1") - $(cpu_ms "$TMP/t0")))
    check "slow server, $T thread(s): answers ok ($(j slow$T .outcomes.ok), want >= 100)" \
        [ "$(j slow$T .outcomes.ok)" -ge 100 ]
    check "slow server, $T thread(s): the client slept (${ms} ms of CPU in 2 s, want < 300)" \
        [ "$ms" -lt 300 ]
done

# ---- not_sent: the in-flight cap is full -----------------------------------------------------
start_srv 19011 --delay 300
load notsent http://127.0.0.1:19011/ --rate 100 --duration 1s --connections 4 --threads 1
check_eq "not_sent: 100 scheduled" 100 "$(j notsent .requests)"
check "not_sent: 4 slots of 300ms at 100/s leave most unsent (>70)" \
    [ "$(j notsent .outcomes.not_sent)" -gt 70 ]
check_eq "not_sent: the sent ones are ok" "$(j notsent '.requests - .outcomes.not_sent')" \
    "$(j notsent .outcomes.ok)"

# ---- a 2 s outage at 200 req/s ----------------------------------------------------------------
start_srv 19007
OUT=$SRV_PID
"$ZD" load http://127.0.0.1:19007/ --rate 200 --duration 5s --timeout 100ms --quiet \
    --json "$TMP/outage.json" >/dev/null 2>&1 &
LPID=$!
on_exit "kill $LPID"
sleep 1.5
t_stop=$(date +%s%6N)
kill -STOP "$OUT"
sleep 2
t_cont=$(date +%s%6N)
kill -CONT "$OUT"
wait "$LPID"
check_eq "outage: load exits 0" 0 $?
start=$(j outage .started_at_us)
stop_rel=$((t_stop - start)); cont_rel=$((t_cont - start))
failed=$(j outage .errors)
check_eq "outage: 1000 requests scheduled" 1000 "$(j outage .requests)"
check "outage: about 200/s x 2s failed or not sent ($failed, want 320..460)" \
    [ "$failed" -ge 320 -a "$failed" -le 460 ]
# intervals well inside the outage: everything failed; well outside: nothing did
inside=$(jq --argjson a "$((stop_rel + 50000))" --argjson b "$((cont_rel - 150000))" \
    '[.timeline[] | select(.start_us >= $a and .start_us + .len_us <= $b)] |
     [length, (map(.errors) | add), (map(.total) | add)] | @tsv' -r "$TMP/outage.json")
read -r n_in err_in tot_in <<<"$inside"
check "outage: >=15 intervals inside the outage" [ "${n_in:-0}" -ge 15 ]
check_eq "outage: every request scheduled inside it failed" "$tot_in" "$err_in"
before=$(jq --argjson a "$((stop_rel - 100000))" \
    '[.timeline[] | select(.start_us + .len_us <= $a) | .errors] | add' "$TMP/outage.json")
after=$(jq --argjson b "$((cont_rel + 300000))" \
    '[.timeline[] | select(.start_us >= $b) | .errors] | add' "$TMP/outage.json")
check_eq "outage: no failures before it" 0 "$before"
check_eq "outage: no failures once it is over" 0 "$after"

# ---- Ctrl-C: stops early, still reports, exit 3 -----------------------------------------------
"$ZD" load http://127.0.0.1:19001/ --rate 100 --duration 30s --json "$TMP/int.json" \
    >"$TMP/int.out" 2>&1 &
IPID=$!
on_exit "kill $IPID"
sleep 1.2
kill -INT "$IPID"
wait "$IPID"
check_eq "SIGINT: exit 3" 3 $?
check_contains "SIGINT: summary printed" "$(cat "$TMP/int.out")" "(interrupted)"
check_eq "SIGINT: result says interrupted" true "$(j int .interrupted)"
check "SIGINT: about 1.2s of requests (100..140)" \
    [ "$(j int .requests)" -ge 100 -a "$(j int .requests)" -le 140 ]

# ---- bad input: one line, exit 2 ----------------------------------------------------------------
run_zd out rc load http://127.0.0.1:19001/ --rte 10
check_eq "unknown option: exit 2" 2 "$rc"
check_contains "unknown option suggests --rate" "$out" "did you mean '--rate'?"
run_zd out rc load http://127.0.0.1:19001/ --rate -5
check_eq "negative rate: exit 2" 2 "$rc"
check_eq "negative rate: one line" 1 "$(printf '%s\n' "$out" | wc -l)"
run_zd out rc load ftp://127.0.0.1:19001/ --duration 1s
check_eq "ftp URL: exit 2" 2 "$rc"
check_contains "ftp URL: says why" "$out" "only http:// and https://"
run_zd out rc load http://127.0.0.1:19001/ --expect-body '([a-' --duration 1s
check_eq "bad regex: exit 2" 2 "$rc"
check_contains "bad regex: names the offset" "$out" "at offset"
run_zd out rc load http://127.0.0.1:19001/ --expect-status 2xx,99
check_eq "bad status list: exit 2" 2 "$rc"
run_zd out rc load http://127.0.0.1:19001/ --duration 25h
check_eq "duration over 24h: exit 2" 2 "$rc"
run_zd out rc load
check_eq "no URL: exit 2" 2 "$rc"
run_zd out rc load http://127.0.0.1:19001/ --engine curll --duration 1s
check_eq "unknown engine: exit 2" 2 "$rc"
check_contains "unknown engine: suggests curl" "$out" "did you mean 'curl'?"
out=$( (ulimit -n 256; "$ZD" load http://127.0.0.1:19002/ --connections 1000 --duration 100ms) 2>&1)
check_eq "1000 connections with a hard limit of 256 descriptors: exit 2" 2 $?
check_contains "...saying what it needs" "$out" "1000 connections need 1068 file descriptors"
(ulimit -Sn 256; "$ZD" load http://127.0.0.1:19002/ --connections 1000 --rate 5000 --duration 200ms \
    --quiet --json "$TMP/fds.json")
check_eq "a soft limit of 256: raised, every request reaches the server" 1000 \
    "$(j fds .outcomes.connect_refused)"
run_zd out rc load --help
check_eq "--help: exit 0" 0 "$rc"
check_contains "--help lists --max-in-flight" "$out" "--max-in-flight"

finish
