/* test_load: the open-loop schedule through the public API. A closed port refuses every
 * connection in microseconds, so each interval's count is exactly what the schedule asked for:
 * constant rate, linear ramp, a rate change while running (through both engines). Plus option
 * validation, and the native engine's request bytes against libcurl's for the same options. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "load/load.h"
#include "base/util.h"

#define CLOSED_URL "http://127.0.0.1:19030/" /* nothing listens here (the test's port range) */

static struct load *run_until_done(struct load_opts *o)
{
    char *err = NULL;
    struct load *l = load_start(o, &err);
    CHECK(l != NULL);
    if (!l) {
        fprintf(stderr, "    load_start: %s\n", err);
        free(err);
        return NULL;
    }
    uint64_t limit = zd_now_us() + o->duration_us + 5000000;
    while (!load_done(l) && zd_now_us() < limit)
        zd_sleep_us(10000);
    CHECK(load_done(l));
    load_stop(l);
    load_stop(l); /* twice is fine */
    return l;
}

static void constant_rate(enum load_engine_kind engine)
{
    struct load_opts o = {.url = CLOSED_URL,
                          .rate = 1000,
                          .duration_us = 1000000,
                          .threads = 2,
                          .connections = 64,
                          .engine = engine};
    struct load *l = run_until_done(&o);
    if (!l)
        return;
    struct load_totals t;
    load_totals(l, &t);
    CHECK_EQ_INT(t.total, 1000);
    CHECK_EQ_INT(t.counts[TL_CONNECT_REFUSED] + t.counts[TL_NOT_SENT], 1000);
    /* a slow start (sanitizers, a busy machine) may leave a few unsent, never lost */
    CHECK(t.counts[TL_CONNECT_REFUSED] >= 950);
    CHECK_EQ_INT(t.elapsed_us, 1000000);
    CHECK_NEAR(t.achieved_rate, 1000, 50);
    struct timeline *tl = load_timeline(l);
    CHECK_EQ_INT(tl_complete(tl), tl_len(tl));
    for (size_t i = 0; i < 10; i++) {
        struct tl_stats s;
        CHECK_EQ_INT(tl_get(tl, i, &s), 0);
        CHECK_EQ_INT(s.total, 100);
        CHECK_NEAR(s.target_rate, 1000, 0);
    }
    struct hist *h = load_latency(l);
    CHECK_EQ_INT(hist_count(h), t.counts[TL_CONNECT_REFUSED]);
    hist_free(h);
    CHECK_EQ_STR(load_engine_name(l), engine == LOAD_ENGINE_CURL ? "curl" : "native");
    load_free(l);
}

static void test_constant_rate(void)
{
    constant_rate(LOAD_ENGINE_AUTO);
    constant_rate(LOAD_ENGINE_CURL);
}

static void test_ramp(void)
{
    /* 0 -> 2000/s over 1 s: C(t) = 1000 t^2, 1000 requests; interval i holds 20 i + 10 */
    struct load_opts o = {.url = CLOSED_URL,
                          .rate = 2000,
                          .ramp_us = 1000000,
                          .duration_us = 1000000,
                          .threads = 1,
                          .connections = 8};
    struct load *l = run_until_done(&o);
    if (!l)
        return;
    struct load_totals t;
    load_totals(l, &t);
    CHECK_NEAR(t.total, 1000, 1);
    struct timeline *tl = load_timeline(l);
    for (size_t i = 0; i < 10; i++) {
        struct tl_stats s;
        tl_get(tl, i, &s);
        CHECK_NEAR(s.total, 20.0 * (double)i + 10, 1);
        CHECK_NEAR(s.target_rate, 200.0 * (double)i, 1);
    }
    load_free(l);
}

static void test_set_rate_while_running(void)
{
    struct load_opts o = {
        .url = CLOSED_URL, .rate = 200, .duration_us = 2000000, .threads = 2, .connections = 8};
    char *err = NULL;
    struct load *l = load_start(&o, &err);
    CHECK(l != NULL);
    if (!l)
        return;
    CHECK_NEAR(load_rate(l), 200, 0.001);
    while (load_elapsed_us(l) < 1000000)
        zd_sleep_us(2000);
    load_set_rate(l, 1000, 0);
    uint64_t at = load_elapsed_us(l);
    CHECK_NEAR(load_rate(l), 1000, 0.001);
    while (!load_done(l))
        zd_sleep_us(10000);
    load_stop(l);
    struct timeline *tl = load_timeline(l);
    struct tl_stats s;
    /* before the change: 20 per 100 ms; from the next whole interval on: 100 */
    CHECK_EQ_INT(tl_sum(tl, 0, 9, &s), 0);
    CHECK_EQ_INT(s.total, 180);
    size_t first = (size_t)(at / 100000) + 1;
    for (size_t i = first; i < 20; i++) {
        tl_get(tl, i, &s);
        CHECK_EQ_INT(s.total, 100);
        CHECK_NEAR(s.target_rate, 1000, 0);
    }
    struct load_totals t;
    load_totals(l, &t);
    double want = 200.0 * (double)at / 1e6 + 1000.0 * (2.0 - (double)at / 1e6);
    CHECK_NEAR(t.total, want, 3);
    load_free(l);
}

static void closed_loop(enum load_engine_kind engine)
{
    struct load_opts o = {
        .url = CLOSED_URL, .duration_us = 300000, .threads = 1, .connections = 2, .engine = engine};
    struct load *l = run_until_done(&o);
    if (!l)
        return;
    CHECK_NEAR(load_rate(l), 0, 0);
    load_set_rate(l, 500, 0); /* ignored in closed loop */
    struct load_totals t;
    load_totals(l, &t);
    CHECK(t.total > 100); /* refused connections come back fast */
    CHECK_EQ_INT(t.counts[TL_CONNECT_REFUSED], t.total);
    CHECK_EQ_INT(t.counts[TL_NOT_SENT], 0);
    load_free(l);
}

static void test_closed_loop(void)
{
    closed_loop(LOAD_ENGINE_NATIVE);
    closed_loop(LOAD_ENGINE_CURL);
}

static void test_stop_early(void)
{
    struct load_opts o = {.url = CLOSED_URL, .rate = 100, .duration_us = 0, .threads = 1};
    char *err = NULL;
    struct load *l = load_start(&o, &err);
    CHECK(l != NULL);
    if (!l)
        return;
    zd_sleep_us(505000);
    CHECK(!load_done(l)); /* no duration: runs until stopped */
    /* on a busy machine the sleep may last longer: the counts follow the time that passed */
    uint64_t before = load_elapsed_us(l);
    load_stop(l);
    struct load_totals t;
    load_totals(l, &t);
    CHECK(before >= 505000);
    CHECK(t.elapsed_us >= before && t.elapsed_us < before + 20000);
    /* 100/s from 0: every request due before the stop, one per 10 ms */
    CHECK_NEAR(t.total, (t.elapsed_us + 9999) / 10000, 1);
    load_free(l);
}

static void check_rejected(struct load_opts *o, const char *want)
{
    char *err = NULL;
    struct load *l = load_start(o, &err);
    CHECK(l == NULL);
    CHECK_CONTAINS(err, want);
    load_free(l);
    free(err);
}

static void test_bad_options(void)
{
    struct load_opts o = {.url = "ftp://127.0.0.1/"};
    check_rejected(&o, "only http:// and https://");
    o.url = "http://[::1";
    check_rejected(&o, "invalid URL");
    o.url = NULL;
    check_rejected(&o, "no URL");
    o.url = CLOSED_URL;
    o.expect_body = "(unclosed";
    check_rejected(&o, "at offset");
    o.expect_body = NULL;
    o.rate = 2e6;
    check_rejected(&o, "rate");
    o.rate = 10;
    o.method = "GE T";
    check_rejected(&o, "invalid method");
    o.method = NULL;
    struct load_header h = {"X-Bad", "a\r\nInjected: yes"};
    o.headers = &h;
    o.nheaders = 1;
    check_rejected(&o, "one line");
    o.nheaders = 0;
    int lo = 600, hi = 700;
    o.expect_lo = &lo;
    o.expect_hi = &hi;
    o.nexpect = 1;
    check_rejected(&o, "status range");
    o.nexpect = 0;
    o.timeout_us = 120000000;
    check_rejected(&o, "at most 60s");
    o.timeout_us = 0;
    o.engine = LOAD_ENGINE_NATIVE;
    o.url = "http://user:pw@127.0.0.1:19030/";
    check_rejected(&o, "without credentials");
    o.url = CLOSED_URL;
    o.http2 = true;
    check_rejected(&o, "for HTTP/2");
    o.http2 = false;
    /* the CA file is checked before anything starts, and never swapped for libcurl's */
    o.url = "https://127.0.0.1:19030/";
    o.ca_file = "/nonexistent/ca.pem";
    check_rejected(&o, "cannot read the CA file '/nonexistent/ca.pem'");
    o.engine = LOAD_ENGINE_AUTO;
    o.ca_file = "/dev/null";
    check_rejected(&o, "cannot use '/dev/null' as CA file");
    o.ca_file = NULL;
    o.engine = LOAD_ENGINE_NATIVE;
    o.http2 = false;
    o.url = "http://no-such-host.invalid/";
    check_rejected(&o, "cannot resolve 'no-such-host.invalid'");
    load_free(NULL);
}

/* What auto picks, and says why: native for http:// and https:// (HTTP/1.1), libcurl for HTTP/2
 * and credentials. Nothing listens on the port, so every request is connect_refused either way. */
static void auto_pick(const char *url, bool http2, const char *engine, const char *why)
{
    struct load_opts o = {.url = url,
                          .rate = 50,
                          .duration_us = 200000,
                          .threads = 1,
                          .connections = 2,
                          .http2 = http2};
    struct load *l = run_until_done(&o);
    if (!l)
        return;
    CHECK_EQ_STR(load_engine_name(l), engine);
    CHECK_EQ_STR(load_engine_why(l), why);
    struct load_totals t;
    load_totals(l, &t);
    CHECK_EQ_INT(t.total, 10);
    CHECK_EQ_INT(t.counts[TL_CONNECT_REFUSED], 10);
    CHECK_EQ_INT(t.tls_handshakes + t.tls_failed, 0);
    CHECK(load_tls_error(l) == NULL);
    load_free(l);
}

static void test_auto_engine(void)
{
    auto_pick("http://127.0.0.1:19030/", false, "native", "auto: native for http://");
    auto_pick("https://127.0.0.1:19030/", false, "native",
              "auto: native for https:// over HTTP/1.1");
    auto_pick("HTTPS://127.0.0.1:19030/", false, "native",
              "auto: native for https:// over HTTP/1.1");
    auto_pick("https://127.0.0.1:19030/", true, "curl", "auto: libcurl for HTTP/2");
    auto_pick("https://u:secret@127.0.0.1:19030/", false, "curl",
              "auto: libcurl for a URL with credentials");
}

/* ---- the native engine sends what libcurl sends ------------------------------------------- */

struct capture {
    int lfd;
    char req[4096];
    size_t len;
};

/* Accepts one connection, reads one request (headers and Content-Length body), answers 200. */
static void *capture_main(void *arg)
{
    struct capture *c = arg;
    int fd = accept(c->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    for (;;) {
        ssize_t n = recv(fd, c->req + c->len, sizeof(c->req) - 1 - c->len, 0);
        if (n <= 0)
            break;
        c->len += (size_t)n;
        c->req[c->len] = '\0';
        char *end = strstr(c->req, "\r\n\r\n");
        if (!end)
            continue;
        const char *cl = strcasestr(c->req, "\r\ncontent-length:");
        size_t want =
            (size_t)(end + 4 - c->req) + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
        if (c->len >= want)
            break;
    }
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    ssize_t w = send(fd, resp, sizeof(resp) - 1, MSG_NOSIGNAL);
    (void)w;
    close(fd);
    return NULL;
}

/* The bytes of the one request a load with these options sends through `engine`. */
static char *captured_request(struct load_opts o, enum load_engine_kind engine)
{
    struct capture c = {0};
    c.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (c.lfd < 0 || bind(c.lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(c.lfd, 4) < 0 ||
        getsockname(c.lfd, (struct sockaddr *)&a, &al) < 0) {
        CHECK(!"a listening socket on loopback");
        if (c.lfd >= 0)
            close(c.lfd);
        return xstrdup("");
    }
    pthread_t th;
    pthread_create(&th, NULL, capture_main, &c);
    char *url = xasprintf("http://127.0.0.1:%d/p/a%%20th?q=1&r=2#frag", ntohs(a.sin_port));
    o.url = url;
    o.rate = 10; /* one request: due at 0, the next at 100 ms, after the end */
    o.duration_us = 50000;
    o.threads = 1;
    o.connections = 1;
    o.engine = engine;
    struct load *l = run_until_done(&o);
    if (l) {
        struct load_totals t;
        load_totals(l, &t);
        CHECK_EQ_INT(t.total, 1);
        CHECK_EQ_INT(t.counts[TL_OK], 1);
        load_free(l);
    }
    pthread_join(th, NULL);
    close(c.lfd);
    free(url);
    /* the port differs between the two runs: blank it out */
    char *p = strstr(c.req, "Host: 127.0.0.1:");
    for (p = p ? p + 16 : NULL; p && *p >= '0' && *p <= '9'; p++)
        *p = 'P';
    return xstrndup(c.req, c.len);
}

static void same_request(struct load_opts o, const char *want_line)
{
    char *native = captured_request(o, LOAD_ENGINE_NATIVE);
    char *curl = captured_request(o, LOAD_ENGINE_CURL);
    CHECK_EQ_STR(native, curl);
    CHECK_CONTAINS(native, want_line);
    free(native);
    free(curl);
}

static void test_native_request_bytes(void)
{
    struct load_opts o = {0};
    same_request(o, "GET /p/a%20th?q=1&r=2 HTTP/1.1\r\nHost: 127.0.0.1:");
    o.method = "HEAD";
    same_request(o, "HEAD /p/a%20th?q=1&r=2 HTTP/1.1\r\n");
    struct load_header h[] = {{"X-Zonedef", "game day"},
                              {"Accept", "text/plain"},
                              {"User-Agent", ""},
                              {"Host", "shop.example"}};
    o.method = "POST";
    o.headers = h;
    o.nheaders = 4;
    o.body = "a=1&b=2";
    o.body_len = 7;
    same_request(o, "Host: shop.example\r\n");
    o.method = "PUT";
    o.body = "{}";
    o.body_len = 2;
    struct load_header ct = {"Content-Type", "application/json"};
    o.headers = &ct;
    o.nheaders = 1;
    same_request(o, "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
}

int main(void)
{
    TH_RUN(test_constant_rate, test_ramp, test_set_rate_while_running, test_closed_loop,
           test_stop_early, test_bad_options, test_auto_engine, test_native_request_bytes);
}
