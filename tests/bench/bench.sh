#!/usr/bin/env bash
# bench.sh: zonedef's load engine next to wrk (`make bench`; not part of `make test`).
#
#  1. max throughput, closed loop, direct to nginx (1 worker, 3-byte body) and through HAProxy in
#     front of two such nginx: `zonedef load` (its default native HTTP/1.1 engine, and
#     `--engine curl`) and `wrk` interleaved with equal threads and connections, BENCH_ROUNDS
#     rounds each; prints the median req/s of each and the ratios to wrk;
#  2. the same over HTTPS: nginx with a certificate the bench makes (a throwaway CA and server
#     certificate from openssl, in the bench's temp directory), direct, and HAProxy terminating
#     TLS in front of the two plain nginx; zonedef's native engine (verifying against the
#     throwaway CA), `--engine curl` and wrk (which speaks TLS through OpenSSL too);
#  3. `zonedef load` open loop at a fixed BENCH_RATE req/s for BENCH_FIXED_SECONDS: achieved
#     rate, p99 send lateness, and peak RSS (VmHWM) at 10 s and at the end, read from /proc.
#
# Everything on loopback, ports 127.0.0.1:19800-19899, a private temp directory for configs,
# pids and logs; every server it starts is stopped on exit (trap). The machine should be
# otherwise idle: on a 2-core VM the numbers move a lot, only interleaved medians mean anything.
#
#   BENCH_ROUNDS=3 BENCH_SECONDS=5 BENCH_THREADS=$(nproc) BENCH_CONNECTIONS=64
#   BENCH_RATE=20000 BENCH_FIXED_SECONDS=30 BENCH_FIXED_CONNECTIONS=128 tests/bench/bench.sh
#   BENCH_ONLY="direct tls-dir" runs only those parts (direct haproxy tls-dir tls-hap fixed fleet)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ZD=${ZD:-$ROOT/zonedef}
ROUNDS=${BENCH_ROUNDS:-3}
SECS=${BENCH_SECONDS:-5}
THREADS=${BENCH_THREADS:-$(nproc)}
CONNS=${BENCH_CONNECTIONS:-64}
RATE=${BENCH_RATE:-20000}
FIXED_SECS=${BENCH_FIXED_SECONDS:-30}
FIXED_CONNS=${BENCH_FIXED_CONNECTIONS:-128}
ONLY=${BENCH_ONLY:-direct haproxy tls-dir tls-hap fixed fleet}
wanted() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

die() { echo "bench: $*" >&2; exit 1; }
for t in nginx haproxy wrk jq openssl; do
    command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || die "'$t' is not installed (make deps WITH_BENCH=1)"
done
[ -x "$ZD" ] || die "no $ZD (run make first)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

exec 9>/tmp/zonedef-e2e.lock
flock 9

DIR=$(mktemp -d /tmp/zonedef-bench.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null
    done
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() {
    local i
    for i in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    die "nothing listens on 127.0.0.1:$1"
}

# start_nginx NAME PORT [ssl]: one worker, no logs, a 3-byte body, keep-alive without a request
# limit; with ssl, TLS with the bench's certificate.
start_nginx() {
    local d=$DIR/$1 ssl="" cert=""
    mkdir -p "$d"
    if [ "${3:-}" = ssl ]; then
        ssl=" ssl"
        cert="ssl_certificate $DIR/pki/srv.pem; ssl_certificate_key $DIR/pki/srv.key;"
    fi
    cat >"$d/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $d; proxy_temp_path $d; fastcgi_temp_path $d;
    uwsgi_temp_path $d; scgi_temp_path $d;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
    server {
        listen 127.0.0.1:$2$ssl reuseport backlog=4096;
        $cert
        location / { return 200 "ok\n"; }
    }
}
EOF
    "$NGINX" -c "$d/nginx.conf" -p "$d" -e "$d/error.log" >/dev/null 2>&1 &
    PIDS+=($!)
    wait_port "$2"
}

# start_haproxy PORT BACKEND1 BACKEND2 [ssl]: with ssl, HAProxy terminates TLS on PORT.
start_haproxy() {
    local d=$DIR/haproxy$1 bind=""
    [ "${4:-}" = ssl ] && bind=" ssl crt $DIR/pki/srv.bundle alpn http/1.1"
    mkdir -p "$d"
    cat >"$d/haproxy.cfg" <<EOF
global
    maxconn 4096
    nbthread 1
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
frontend fe
    bind 127.0.0.1:$1$bind
    default_backend be
backend be
    balance roundrobin
    http-reuse always
    server n1 127.0.0.1:$2
    server n2 127.0.0.1:$3
EOF
    "$HAPROXY" -f "$d/haproxy.cfg" -db >"$d/haproxy.log" 2>&1 &
    PIDS+=($!)
    wait_port "$1"
}

# make_pki: a throwaway CA and a server certificate for 127.0.0.1 from it, in $DIR/pki.
make_pki() {
    local p=$DIR/pki
    mkdir -p "$p"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$p/ca.key" \
        -out "$p/ca.pem" -days 1 -subj "/CN=zonedef bench CA" 2>/dev/null &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$p/srv.key" \
            -out "$p/srv.csr" -subj "/CN=127.0.0.1" 2>/dev/null &&
        printf 'subjectAltName=IP:127.0.0.1\n' >"$p/ext" &&
        openssl x509 -req -in "$p/srv.csr" -CA "$p/ca.pem" -CAkey "$p/ca.key" -CAcreateserial \
            -out "$p/srv.pem" -days 1 -extfile "$p/ext" 2>/dev/null &&
        cat "$p/srv.pem" "$p/srv.key" >"$p/srv.bundle" || die "openssl could not make the certificates"
}

# zd_rps URL ENGINE: zonedef's req/s (ok answers only); ZARGS: more options (--cacert)
ZARGS=()
zd_rps() {
    local f=$DIR/zd.json
    "$ZD" load "$1" --engine "$2" --duration "${SECS}s" --threads "$THREADS" \
        --connections "$CONNS" "${ZARGS[@]}" --quiet --json "$f" >/dev/null 2>&1 || { echo 0; return; }
    jq -r '.outcomes.ok / (.elapsed_us / 1e6) | floor' "$f"
}
wrk_rps() {
    wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" "$1" 2>/dev/null |
        awk '/^Requests\/sec:/ { printf "%d\n", $2 }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }

# compare LABEL URL: interleaved rounds; who goes first alternates.
compare() {
    local label=$1 url=$2 r z c w zs=() cs=() ws=()
    wanted "$label" || return 0
    # warm up both paths (connections, caches) before measuring
    "$ZD" load "$url" --duration 1s --threads "$THREADS" --connections "$CONNS" "${ZARGS[@]}" \
        --quiet >/dev/null 2>&1
    for r in $(seq "$ROUNDS"); do
        if [ $((r % 2)) -eq 1 ]; then
            z=$(zd_rps "$url" native); c=$(zd_rps "$url" curl); w=$(wrk_rps "$url")
        else
            w=$(wrk_rps "$url"); c=$(zd_rps "$url" curl); z=$(zd_rps "$url" native)
        fi
        zs+=("$z"); cs+=("$c"); ws+=("$w")
        printf '  %-8s round %d: zonedef %7d req/s   zonedef --engine curl %7d req/s   wrk %7d req/s\n' \
            "$label" "$r" "$z" "$c" "$w"
    done
    local zm cm wm
    zm=$(printf '%s\n' "${zs[@]}" | median)
    cm=$(printf '%s\n' "${cs[@]}" | median)
    wm=$(printf '%s\n' "${ws[@]}" | median)
    RESULTS+=("$(printf '%-8s zonedef %7d req/s   wrk %7d req/s   ratio %s   (--engine curl %7d req/s, ratio %s)' \
        "$label" "$zm" "$wm" "$(ratio "$zm" "$wm")" "$cm" "$(ratio "$cm" "$wm")")")
}

echo "bench: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r), $("$ZD" --version)"
echo "bench: closed loop, $THREADS threads, $CONNS connections, ${SECS}s x $ROUNDS rounds each"
start_nginx direct 19801
start_nginx lb1 19802
start_nginx lb2 19803
start_haproxy 19810 19802 19803

make_pki
start_nginx tls 19821 ssl
start_haproxy 19830 19802 19803 ssl

RESULTS=()
compare "direct" "http://127.0.0.1:19801/"
compare "haproxy" "http://127.0.0.1:19810/"
echo "bench: HTTPS, zonedef verifying against the bench's CA, wrk not verifying"
ZARGS=(--cacert "$DIR/pki/ca.pem")
compare "tls-dir" "https://127.0.0.1:19821/"
compare "tls-hap" "https://127.0.0.1:19830/"
ZARGS=()

if wanted fixed; then
    echo "bench: open loop at $RATE req/s for ${FIXED_SECS}s, $FIXED_CONNS connections (direct)"
    "$ZD" load http://127.0.0.1:19801/ --rate "$RATE" --duration "${FIXED_SECS}s" \
        --connections "$FIXED_CONNS" --quiet --json "$DIR/fixed.json" >/dev/null 2>&1 &
    LP=$!
    PIDS+=("$LP")
    start=$(date +%s%N)
    hwm10="" rss10="" hwm_end="" rss_end=""
    while kill -0 "$LP" 2>/dev/null; do
        st=$(cat "/proc/$LP/status" 2>/dev/null) || break
        hwm=$(awk '/^VmHWM:/ { print $2 }' <<<"$st")
        rss=$(awk '/^VmRSS:/ { print $2 }' <<<"$st")
        el=$(( ($(date +%s%N) - start) / 1000000 ))
        if [ "$el" -le 10000 ]; then hwm10=$hwm; rss10=$rss; fi
        if [ "$el" -le $((FIXED_SECS * 1000)) ]; then hwm_end=$hwm; rss_end=$rss; fi
        sleep 0.25
    done
    wait "$LP"
    f=$DIR/fixed.json
    [ -s "$f" ] || die "the fixed-rate run wrote no result"
    achieved=$(jq -r '.achieved_rate' "$f")
    late99=$(jq -r '.lateness_us.p99' "$f")
    notsent=$(jq -r '.outcomes.not_sent' "$f")
    p99=$(jq -r '.latency_us.p99' "$f")
fi

echo
echo "== results (medians of $ROUNDS interleaved rounds)"
printf '%s\n' "${RESULTS[@]}"
if wanted fixed; then
    printf 'fixed %d req/s: achieved %.1f req/s (%.2f %% of target), not sent %d, latency p99 %d us,\n' \
        "$RATE" "$achieved" "$(awk -v a="$achieved" -v r="$RATE" 'BEGIN { print 100 * a / r }')" \
        "$notsent" "$p99"
    printf '  send lateness p99 %d us; peak RSS (VmHWM) %s KiB at 10 s, %s KiB at %d s (%+.1f %%); VmRSS %s / %s KiB\n' \
        "$late99" "${hwm10:-?}" "${hwm_end:-?}" "$FIXED_SECS" \
        "$(awk -v a="${hwm10:-0}" -v b="${hwm_end:-0}" 'BEGIN { print a ? 100 * (b - a) / a : 0 }')" \
        "${rss10:-?}" "${rss_end:-?}"
fi

# the SSH fleet: zonedef next to pssh, clush and ansible on 100 loopback sshd addresses
if wanted fleet; then
    echo
    echo "== fleet: one command on 100 SSH hosts"
    "$ROOT/tests/bench/fleet.sh"
fi
