#!/usr/bin/env bash
# bench.sh: zonedef's load engine next to wrk (`make bench`; not part of `make test`).
#
#  1. max throughput, closed loop, direct to nginx (1 worker, 3-byte body) and through HAProxy in
#     front of two such nginx: `zonedef load` (its default native HTTP/1.1 engine, and
#     `--engine curl`) and `wrk` interleaved with equal threads and connections, BENCH_ROUNDS
#     rounds each; prints each round's req/s and client CPU per request, then the median req/s
#     of each, the median and range of the rounds' ratios to wrk, and the median client CPU per
#     request, alone and per microsecond of CPU the servers spent in the same run;
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
declare -A SRV # label -> the pids whose CPU an answer costs (nginx's worker, HAProxy)
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
    local i # the worker (forked once the master listens): what the answers cost the server
    for i in $(seq 50); do
        SRV[$1]=$(pgrep -P "$!" | tr '\n' ' ')
        [ -n "${SRV[$1]}" ] && break
        sleep 0.1
    done
    [ -n "${SRV[$1]}" ] || die "nginx on port $2 started no worker"
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
    SRV[haproxy$1]=$!
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

# Each run prints "REQS_PER_S CLIENT_US SERVER_US": its req/s, and the CPU time (user + system)
# per request of the client (the children's CPU time of the subshell it runs in, from its
# /proc/PID/stat: read with builtins, a $(...) would be another process) and
# of the servers behind the URL (/proc/PID/stat of each, so whatever else runs on the machine
# is not counted). The machine's speed moves from one round to the next, the servers' CPU per
# request with it; client over server CPU in the same run is what stays put.
TICK=$(getconf CLK_TCK)
srv_ticks() { # PIDS: the user + system ticks of each, comma-separated
    local p t=() f
    for p in $1; do
        f=$(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null) || f="0 0"
        t+=($((${f% *} + ${f#* })))
    done
    local IFS=,
    echo "${t[*]}"
}
# CT: this (sub)shell's waited-for children's user + system ticks (fields 16 and 17)
child_ticks() {
    local st
    read -r st <"/proc/$BASHPID/stat"
    st=${st##*) }
    set -- $st
    CT=$((${14} + ${15}))
}
# per_req REQS SECONDS CLIENT_TICKS0 CLIENT_TICKS1 SRV_TICKS0 SRV_TICKS1: "REQS_PER_S CLIENT_US
# SERVER_US BUSIEST": the last, the share of a core the busiest server process used (a
# one-thread HAProxy or nginx worker near 1.0 is what bounds every client's req/s)
per_req() {
    awk -v n="$1" -v secs="$2" -v c0="$3" -v c1="$4" -v s0="$5" -v s1="$6" -v hz="$TICK" \
        'BEGIN { if (n <= 0 || secs <= 0) { print "0 0 0 0"; exit }
                 k = split(s0, a, ","); split(s1, b, ","); t = 0; busy = 0
                 for (i = 1; i <= k; i++) { d = b[i] - a[i]; t += d; if (d > busy) busy = d }
                 printf "%d %.2f %.2f %.2f\n", n / secs, (c1 - c0) * 1e6 / hz / n, t * 1e6 / hz / n,
                     busy / hz / secs }'
}
# zd_run URL ENGINE SERVER_PIDS: zonedef (ok answers only); ZARGS: more options (--cacert)
ZARGS=()
zd_run() {
    local f=$DIR/zd.json c0 c1 s0 s1
    s0=$(srv_ticks "$3"); child_ticks; c0=$CT
    "$ZD" load "$1" --engine "$2" --duration "${SECS}s" --threads "$THREADS" \
        --connections "$CONNS" "${ZARGS[@]}" --quiet --json "$f" >/dev/null 2>&1 || { echo "0 0 0 0"; return; }
    child_ticks; c1=$CT; s1=$(srv_ticks "$3")
    per_req "$(jq -r '.outcomes.ok' "$f")" "$(jq -r '.elapsed_us / 1e6' "$f")" "$c0" "$c1" "$s0" "$s1"
}
wrk_run() {
    local c0 c1 s0 s1 n
    s0=$(srv_ticks "$2"); child_ticks; c0=$CT
    wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" "$1" >"$DIR/wrk.out" 2>/dev/null
    child_ticks; c1=$CT; s1=$(srv_ticks "$2")
    n=$(awk '/ requests in / { print $1 }' "$DIR/wrk.out")
    per_req "${n:-0}" "$SECS" "$c0" "$c1" "$s0" "$s1"
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
med() { printf '%s\n' "$@" | median; }
# range: "LOW-HIGH" of the numbers on stdin
range() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f-%.2f", lo, hi }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }

# compare LABEL URL SERVER_PIDS: interleaved rounds; who goes first alternates. Prints each
# round; keeps for the results: median req/s, the median and the range of the rounds' own
# ratios to wrk (both ran within seconds of each other), and the median CPU per request of
# each client with its ratio to the servers' in the same run.
compare() {
    local label=$1 url=$2 srv=$3 r z c w zr=() cr=() wr=() rz=() rc=() kz=() kc=() kw=() uz=() uw=()
    local bz=() bw=()
    wanted "$label" || return 0
    # warm up both paths (connections, caches) before measuring
    "$ZD" load "$url" --duration 1s --threads "$THREADS" --connections "$CONNS" "${ZARGS[@]}" \
        --quiet >/dev/null 2>&1
    for r in $(seq "$ROUNDS"); do
        if [ $((r % 2)) -eq 1 ]; then
            z=$(zd_run "$url" native "$srv"); c=$(zd_run "$url" curl "$srv"); w=$(wrk_run "$url" "$srv")
        else
            w=$(wrk_run "$url" "$srv"); c=$(zd_run "$url" curl "$srv"); z=$(zd_run "$url" native "$srv")
        fi
        set -- $z $c $w # rps, client us, server us, busiest: zonedef, curl, wrk
        zr+=("$1"); cr+=("$5"); wr+=("$9"); uz+=("$2"); uw+=("${10}"); bz+=("$4"); bw+=("${12}")
        rz+=("$(ratio "$1" "$9")"); rc+=("$(ratio "$5" "$9")")
        kz+=("$(ratio "$2" "$3")"); kc+=("$(ratio "$6" "$7")"); kw+=("$(ratio "${10}" "${11}")")
        printf '  %-8s round %d: zonedef %7d req/s %5.2f us   --engine curl %7d req/s %5.2f us   wrk %7d req/s %5.2f us   (client CPU per request)\n' \
            "$label" "$r" "$1" "$2" "$5" "$6" "$9" "${10}"
    done
    local -A M
    M[zr]=$(med "${zr[@]}"); M[cr]=$(med "${cr[@]}"); M[wr]=$(med "${wr[@]}")
    M[rz]=$(med "${rz[@]}"); M[rc]=$(med "${rc[@]}")
    M[kz]=$(med "${kz[@]}"); M[kc]=$(med "${kc[@]}"); M[kw]=$(med "${kw[@]}")
    M[uz]=$(med "${uz[@]}"); M[uw]=$(med "${uw[@]}"); M[bz]=$(med "${bz[@]}"); M[bw]=$(med "${bw[@]}")
    RESULTS+=("$(printf '%-8s zonedef %7.0f req/s   wrk %7.0f req/s   ratio %.2f (rounds %s, of the medians %s)   --engine curl %7.0f req/s, ratio %.2f' \
        "$label" "${M[zr]}" "${M[wr]}" "${M[rz]}" "$(printf '%s\n' "${rz[@]}" | range)" \
        "$(ratio "${M[zr]}" "${M[wr]}")" "${M[cr]}" "${M[rc]}")")
    RESULTS+=("$(printf '%-8s   client CPU per request: zonedef %.2f us, wrk %.2f us; per us of the server'"'"'s: zonedef %.2f, wrk %.2f (%.2fx less), curl %.2f' \
        "" "${M[uz]}" "${M[uw]}" "${M[kz]}" "${M[kw]}" "$(ratio "${M[kw]}" "${M[kz]}")" "${M[kc]}")")
    RESULTS+=("$(printf '%-8s   the busiest server process used %.2f of a core with zonedef, %.2f with wrk' \
        "" "${M[bz]}" "${M[bw]}")")
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
compare "direct" "http://127.0.0.1:19801/" "${SRV[direct]}"
compare "haproxy" "http://127.0.0.1:19810/" "${SRV[haproxy19810]} ${SRV[lb1]} ${SRV[lb2]}"
echo "bench: HTTPS, zonedef verifying against the bench's CA, wrk not verifying"
ZARGS=(--cacert "$DIR/pki/ca.pem")
compare "tls-dir" "https://127.0.0.1:19821/" "${SRV[tls]}"
compare "tls-hap" "https://127.0.0.1:19830/" "${SRV[haproxy19830]} ${SRV[lb1]} ${SRV[lb2]}"
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
echo "== results (medians of $ROUNDS interleaved rounds; ratio: the median of the rounds' own ratios)"
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
