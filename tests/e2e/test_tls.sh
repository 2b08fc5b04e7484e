#!/usr/bin/env bash
# test_tls: `zonedef load` over HTTPS against real HAProxy terminating TLS, with a test CA and
# certificates made here by openssl (in $TMP, never installed anywhere). Both engines (the native
# one, the default for https://, and libcurl) must agree: a verified connection, a wrong name and
# an unknown CA refused (counted as tls_error, said in one line), --insecure accepted, a reset
# mid-handshake counted; the native engine resumes TLS sessions (HAProxy's log says which
# connections were resumed), and a backend outage gives the same exact counts over TLS as over
# plain HTTP. Ports 127.0.0.1:19700-19799.
. "$(dirname "$0")/../lib.sh"
exec 9>/tmp/zonedef-e2e.lock
flock 9

SRV=$ROOT/build/helpers/zd-testsrv
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
if [ ! -x "$SRV" ] || [ ! -x "$ZD" ]; then
    th_bad "binaries built" "run 'make zonedef helpers' first ($SRV, $ZD)"
    finish
fi
for t in openssl jq "$HAPROXY"; do
    command -v "$t" >/dev/null || { th_bad "'$t' installed"; finish; }
done

# ---- a test CA, a server certificate from it, one with the wrong name, an unknown CA ---------
P=$TMP/pki
mkdir -p "$P"
mkcert() { # NAME SAN: a key and a certificate signed by the test CA
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$P/$1.key" \
        -out "$P/$1.csr" -subj "/CN=$1" 2>/dev/null &&
        printf 'subjectAltName=%s\n' "$2" >"$P/$1.ext" &&
        openssl x509 -req -in "$P/$1.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" -CAcreateserial \
            -out "$P/$1.pem" -days 1 -extfile "$P/$1.ext" 2>/dev/null &&
        cat "$P/$1.pem" "$P/$1.key" >"$P/$1.bundle"
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$P/ca.key" \
    -out "$P/ca.pem" -days 1 -subj "/CN=zonedef test CA" 2>/dev/null &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$P/other.key" -out "$P/other.pem" -days 1 -subj "/CN=another CA" 2>/dev/null &&
    mkcert good "DNS:localhost,IP:127.0.0.1" && mkcert wrong "DNS:wrong.test"
check_eq "test CA and certificates made" 0 $?

# ---- servers: a backend, and HAProxy terminating TLS in front of it ---------------------------
"$SRV" --listen 127.0.0.1:19710 --max-seconds 120 >/dev/null &
BACK=$!
on_exit "kill -CONT $BACK; kill $BACK"
cat >"$TMP/haproxy.cfg" <<EOF
global
    nbthread 1
    log stdout format raw local0
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    option http-keep-alive
frontend good
    bind 127.0.0.1:19701 ssl crt $P/good.bundle alpn http/1.1
    log-format "good resumed=%[ssl_fc_is_resumed]"
    http-request return status 200 content-type text/plain string "ok"
frontend closing
    bind 127.0.0.1:19702 ssl crt $P/good.bundle alpn http/1.1
    option httpclose
    log-format "closing resumed=%[ssl_fc_is_resumed]"
    http-request return status 200 content-type text/plain string "ok"
frontend wrongname
    bind 127.0.0.1:19703 ssl crt $P/wrong.bundle
    http-request return status 200 content-type text/plain string "ok"
frontend resetting
    bind 127.0.0.1:19704 ssl crt $P/good.bundle
    http-request return status 200 content-type text/plain string "ok"
frontend tls_backend
    bind 127.0.0.1:19705 ssl crt $P/good.bundle alpn http/1.1
    log-format "outage resumed=%[ssl_fc_is_resumed]"
    default_backend back
frontend plain_backend
    bind 127.0.0.1:19706
    log-format "plain"
    default_backend back
backend back
    server b1 127.0.0.1:19710
EOF
"$HAPROXY" -f "$TMP/haproxy.cfg" -db >"$TMP/haproxy.log" 2>&1 &
HAP=$!
on_exit "kill $HAP"
up=0
for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/19706) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/19710) 2>/dev/null &&
        { up=1; break; }
    sleep 0.1
done
check_eq "HAProxy with TLS frontends and the backend listen" 1 "$up"

# load NAME ARGS...: zonedef load with --json into $TMP/NAME.json; stdout+stderr in NAME.out
load() {
    local name=$1; shift
    timeout -k 5 60 "$ZD" load --json "$TMP/$name.json" "$@" >"$TMP/$name.out" 2>&1
    LOAD_RC=$?
}
j() { jq -r "$2" "$TMP/$1.json" 2>/dev/null; }
log_count() { grep -c "^$1" "$TMP/haproxy.log"; }

# ---- the engine auto picks for https:// is the native one, and it says so -------------------
load auto https://localhost:19701/ --rate 50 --duration 1s --cacert "$P/ca.pem"
check_eq "auto: native for https://" native "$(j auto .engine)"
check_contains "auto: the choice is printed" "$(cat "$TMP/auto.out")" \
    "(native engine, auto: native for https:// over HTTP/1.1)"
check_eq "auto: 50 of 50 ok over TLS" 50 "$(j auto .outcomes.ok)"
check "auto: handshake time measured (>0)" [ "$(j auto .tls.handshake_us.p50)" -gt 0 ]
check "auto: connect time measured (>0)" [ "$(j auto .connect_us.p50)" -gt 0 ]
load h2 https://localhost:19701/ --rate 10 --duration 1s --cacert "$P/ca.pem" --http2 --quiet
check_eq "auto: libcurl for HTTP/2" "curl auto: libcurl for HTTP/2" "$(j h2 '"\(.engine) \(.engine_why)"')"

for E in native curl; do
    load ok https://localhost:19701/ --engine $E --rate 50 --duration 1s --cacert "$P/ca.pem" \
        --expect-body '^ok$' --quiet
    check_eq "$E: verified against --cacert: 50 of 50 ok" 50 "$(j ok .outcomes.ok)"
    check "$E: keep-alive over TLS: at most 8 connections" [ "$(j ok .connections_opened)" -le 8 ]
    load ip https://127.0.0.1:19701/ --engine $E --rate 20 --duration 1s --cacert "$P/ca.pem" --quiet
    check_eq "$E: an IP address checked against the certificate's IP SAN: 20 ok" 20 "$(j ip .outcomes.ok)"

    # libcurl reads the whole system CA bundle for every connection: slow, hence the timeouts
    load unknown https://localhost:19701/ --engine $E --rate 20 --duration 1s --connect-timeout 10s \
        --timeout 20s
    check_eq "$E: unknown CA (not in the system store): 20 of 20 tls_error" 20 \
        "$(j unknown .outcomes.tls_error)"
    check_eq "$E: unknown CA: exactly one line says so" 1 "$(grep -c 'TLS handshake' "$TMP/unknown.out")"
    check_contains "$E: unknown CA: the reason" "$(cat "$TMP/unknown.out")" \
        "certificate refused: unable to get local issuer certificate (20 requests counted as tls_error)"
    load other https://localhost:19701/ --engine $E --rate 20 --duration 1s --cacert "$P/other.pem" --quiet
    check_eq "$E: a CA file that did not sign it: 20 of 20 tls_error" 20 "$(j other .outcomes.tls_error)"

    load wrong https://localhost:19703/ --engine $E --rate 50 --duration 1s --cacert "$P/ca.pem"
    check_eq "$E: wrong name: 50 of 50 tls_error" 50 "$(j wrong .outcomes.tls_error)"
    check_eq "$E: wrong name: nothing else" 0 "$(j wrong '.errors - .outcomes.tls_error')"
    why="certificate refused: hostname mismatch"
    [ $E = curl ] && why="certificate refused: SSL: no alternative certificate subject name matches target host name 'localhost'"
    check_contains "$E: wrong name: one clear line" "$(grep 'TLS handshake' "$TMP/wrong.out")" "$why"
    check_contains "$E: wrong name: the reason in the JSON" "$(j wrong .tls.error)" "$why"
    load insecure https://localhost:19703/ --engine $E --rate 50 --duration 1s --insecure --quiet
    check_eq "$E: --insecure accepts the wrong name: 50 of 50 ok" 50 "$(j insecure .outcomes.ok)"
    check_eq "$E: --insecure: no error kept" null "$(j insecure .tls.error)"

    load plain http://127.0.0.1:19701/ --engine $E --rate 20 --duration 1s --quiet
    check_eq "$E: plain HTTP to a TLS port is a reset, not a TLS error" 20 "$(j plain .outcomes.reset)"
done

# ---- a reset in the middle of the handshake: an RST for the ClientHello ------------------------
if need_root && command -v nft >/dev/null; then
    on_exit "nft delete table inet zonedef_test_tls"
    nft delete table inet zonedef_test_tls 2>/dev/null
    nft add table inet zonedef_test_tls &&
        nft add chain inet zonedef_test_tls in '{ type filter hook input priority -10; policy accept; }' &&
        nft add rule inet zonedef_test_tls in ip daddr 127.0.0.1 tcp dport 19704 ip length '>' 200 \
            reject with tcp reset
    check_eq "nft: TCP up, then an RST for the first TLS record" 0 $?
    for E in native curl; do
        load rst https://localhost:19704/ --engine $E --rate 50 --duration 1s --cacert "$P/ca.pem"
        check_eq "$E: reset mid-handshake: 50 of 50 tls_error" 50 "$(j rst .outcomes.tls_error)"
        check_eq "$E: reset mid-handshake: one line" 1 "$(grep -c 'TLS handshake' "$TMP/rst.out")"
    done
    check_contains "native: reset mid-handshake: says reset" "$(cat "$TMP/rst.out")" "TLS handshake"
    load rstn https://localhost:19704/ --rate 20 --duration 1s --cacert "$P/ca.pem"
    check_contains "native: the reason is the reset" "$(cat "$TMP/rstn.out")" \
        "failed: connection reset by the server"
    nft delete table inet zonedef_test_tls
    check "nft table removed" bash -c '! nft list table inet zonedef_test_tls >/dev/null 2>&1'
else
    skip "needs root" "reset mid-handshake via an nft reject rule"
fi

# ---- session resumption: every answer closes the connection, so every request reconnects ---------
before=$(log_count "closing resumed=1")
load resume https://localhost:19702/ --rate 100 --duration 1s --threads 1 --connections 4 \
    --cacert "$P/ca.pem" --quiet
check_eq "resumption: 100 of 100 ok" 100 "$(j resume .outcomes.ok)"
check_eq "resumption: a connection per request" 100 "$(j resume .connections_opened)"
check_eq "resumption: 100 handshakes" 100 "$(j resume .tls.handshakes)"
check "resumption: at most 2 full handshakes ($(j resume '.tls.handshakes - .tls.resumed'))" \
    [ "$(j resume '.tls.handshakes - .tls.resumed')" -le 2 ]
server_resumed=$(($(log_count "closing resumed=1") - before))
check_eq "resumption: HAProxy saw as many resumed sessions as zonedef counted" \
    "$(j resume .tls.resumed)" "$server_resumed"

# ---- a 2 s backend outage at 200 req/s, over TLS and over plain HTTP at the same time -----------
"$ZD" load https://localhost:19705/ --cacert "$P/ca.pem" --rate 200 --duration 5s --timeout 100ms \
    --quiet --json "$TMP/out_tls.json" >/dev/null 2>&1 &
LT=$!
on_exit "kill $LT"
"$ZD" load http://127.0.0.1:19706/ --rate 200 --duration 5s --timeout 100ms \
    --quiet --json "$TMP/out_plain.json" >/dev/null 2>&1 &
LP=$!
on_exit "kill $LP"
sleep 1.5
t_stop=$(date +%s%6N)
kill -STOP "$BACK"
sleep 2
t_cont=$(date +%s%6N)
kill -CONT "$BACK"
wait "$LT"
check_eq "outage: TLS load exits 0" 0 $?
wait "$LP"
check_eq "outage: plain load exits 0" 0 $?
for K in tls plain; do
    f=out_$K
    check_eq "outage $K: exactly 1000 requests scheduled" 1000 "$(j $f .requests)"
    check_eq "$K: outcomes (not_sent included) add up to the requests" 1000 \
        "$(j $f '[.outcomes[]] | add')"
    check_eq "$K: the timeline adds up to the requests" 1000 "$(j $f '[.timeline[].total] | add')"
    check_eq "$K: no handshake failed" 0 "$(j $f .outcomes.tls_error)"
    failed=$(j $f .errors)
    check "$K: about 200/s x 2s failed ($failed, want 320..460)" [ "$failed" -ge 320 -a "$failed" -le 460 ]
    start=$(j $f .started_at_us)
    stop_rel=$((t_stop - start)); cont_rel=$((t_cont - start))
    read -r n_in err_in tot_in <<<"$(jq -r --argjson a "$((stop_rel + 50000))" \
        --argjson b "$((cont_rel - 150000))" '[.timeline[] | select(.start_us >= $a and .start_us +
        .len_us <= $b)] | [length, (map(.errors) | add), (map(.total) | add)] | @tsv' "$TMP/$f.json")"
    check "$K: >=15 intervals inside the outage" [ "${n_in:-0}" -ge 15 ]
    check_eq "$K: every request scheduled inside it failed" "$tot_in" "$err_in"
    check_eq "$K: no failures before it" 0 "$(jq --argjson a "$((stop_rel - 100000))" \
        '[.timeline[] | select(.start_us + .len_us <= $a) | .errors] | add' "$TMP/$f.json")"
    # HAProxy first drains what queued for the stopped backend: 500 ms, not 300 as direct
    check_eq "$K: no failures once it is over (500 ms on)" 0 "$(jq --argjson b "$((cont_rel + 500000))" \
        '[.timeline[] | select(.start_us >= $b) | .errors] | add' "$TMP/$f.json")"
done
ft=$(j out_tls .errors); fp=$(j out_plain .errors)
check "outage: TLS and plain failed alike ($ft vs $fp, within 20)" \
    [ $((ft > fp ? ft - fp : fp - ft)) -le 20 ]
# only the first connections of each worker, opened before a session ticket came back, are full
check "outage: the reconnect storm resumed TLS sessions ($(j out_tls .tls.resumed) of $(j out_tls .tls.handshakes))" \
    [ "$(j out_tls .tls.handshakes)" -ge 100 -a "$(j out_tls '.tls.handshakes - .tls.resumed')" -le 10 ]

# ---- bad input ------------------------------------------------------------------------------------
run_zd out rc load https://localhost:19701/ --cacert "$TMP/none.pem" --duration 1s
check_eq "missing --cacert file: exit 2" 2 "$rc"
check_contains "missing --cacert file: says so" "$out" "cannot read the CA file"
run_zd out rc load https://localhost:19701/ --cacert "$P/good.ext" --duration 1s
check_eq "a --cacert file with no certificate: exit 2" 2 "$rc"

finish
