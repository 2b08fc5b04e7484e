/* test_lab: the lab's pure parts: haproxy.cfg generation, log-line parsing, `show stat`
 * parsing, selection math, instance ids and knobs, and ground truth read from sample logs. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "lab/lab.h"
#include "base/util.h"

static void test_config(void)
{
    struct lab_config c;
    lab_config_default(&c);
    char *cfg = lab_haproxy_config("/tmp/zl", &c);
    CHECK_CONTAINS(cfg, "bind 127.0.0.1:18000");
    CHECK_CONTAINS(cfg, "stats socket /tmp/zl/haproxy.sock mode 600 level admin");
    CHECK_CONTAINS(cfg, "option httpchk GET /health");
    CHECK_CONTAINS(cfg, "inter 500ms fastinter 250ms fall 2 rise 2");
    CHECK_CONTAINS(cfg, "log stdout format iso");
    CHECK_CONTAINS(cfg, "%Ts.%ms %ST");
    /* interleaved, so round robin walks the zones in turn */
    CHECK_CONTAINS(cfg, "server a1 127.0.1.1:18080\n    server b1 127.0.2.1:18080\n"
                        "    server c1 127.0.3.1:18080\n    server a2 127.0.1.2:18080\n");
    CHECK_CONTAINS(cfg, "server c4 127.0.3.4:18080 disabled\n");
    CHECK(strstr(cfg, "server a3 127.0.1.3:18080 disabled\n") != NULL);
    CHECK(strstr(cfg, "server d1") == NULL);
    /* an outage must show as errors: no redispatch to hide it */
    CHECK(strstr(cfg, "\n    option redispatch") == NULL);
    CHECK_CONTAINS(cfg, "retries 1");
    free(cfg);
    c.zones = 5;
    c.per_zone = 1;
    cfg = lab_haproxy_config("/d", &c);
    CHECK_CONTAINS(cfg, "server e1 127.0.5.1:18080\n");
    CHECK_CONTAINS(cfg, "server e2 127.0.5.2:18080 disabled\n");
    CHECK(strstr(cfg, "server a4") == NULL);
    free(cfg);
}

static void test_log_lines(void)
{
    struct lab_log_line l;
    CHECK_EQ_INT(lab_parse_log_line("2026-11-22T02:40:59.876708+00:00 zdreq 1795315259.075 503 "
                                    "web/<NOSRV> 0 SC--",
                                    &l),
                 1);
    CHECK_EQ_INT(l.t_us, 1795315259075000ull);
    CHECK_EQ_INT(l.status, 503);
    CHECK_EQ_INT(lab_parse_log_line("2026-11-22T02:40:59.876708+00:00 zdreq 1795315259.875 -1 "
                                    "web/b1 2001 CD--",
                                    &l),
                 1);
    CHECK_EQ_INT(l.status, -1);
    CHECK_EQ_INT(lab_parse_log_line("2026-11-22T02:40:58.162976+00:00 Server web/b2 is DOWN, "
                                    "reason: Layer4 timeout, check duration: 503ms. 5 active",
                                    &l),
                 2);
    CHECK_EQ_STR(l.server, "b2");
    CHECK_EQ_STR(l.state, "DOWN");
    CHECK_EQ_STR(l.reason, "Layer4 timeout");
    /* the ISO prefix is the time: 02:40:58.162976 UTC on 2026-11-22 */
    CHECK_EQ_INT(l.t_us, 1795315258162976ull);
    CHECK_EQ_INT(lab_parse_log_line("2026-11-22T03:40:58.5+01:00 Server web/a1 is UP, reason: "
                                    "Layer7 check passed, code: 200, check duration: 0ms.",
                                    &l),
                 2);
    CHECK_EQ_STR(l.state, "UP");
    CHECK_EQ_STR(l.reason, "Layer7 check passed, code: 200");
    CHECK_EQ_INT(l.t_us, 1795315258500000ull);
    CHECK_EQ_INT(lab_parse_log_line("2026-11-22T02:54:20.371905+00:00 Server web/a3 is UP/READY "
                                    "(leaving forced maintenance).",
                                    &l),
                 2);
    CHECK_EQ_STR(l.reason, "leaving forced maintenance");
    CHECK_EQ_INT(lab_parse_log_line("2026-11-22T02:54:20.371905+00:00 Server web/a3 is going "
                                    "DOWN for maintenance. 5 active",
                                    &l),
                 2);
    CHECK_EQ_STR(l.state, "DOWN");
    CHECK_EQ_STR(l.reason, "maintenance");
    /* what is not ours or not a state change */
    CHECK_EQ_INT(lab_parse_log_line("2026-11-22T02:40:58.163004+00:00 backend web has no server "
                                    "available!",
                                    &l),
                 0);
    CHECK_EQ_INT(lab_parse_log_line("garbage", &l), 0);
    CHECK_EQ_INT(lab_parse_log_line("", &l), 0);
    CHECK_EQ_INT(lab_parse_log_line("2026-11-22T02:40:58 zdreq x", &l), 0);
    CHECK_EQ_INT(lab_parse_log_line("2026-11-22T02:40:58.1+00:00 zdreq 17.9999 200", &l), 0);
}

static void test_show_stat(void)
{
    const char *csv = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,status,weight\n"
                      "lab,FRONTEND,,,1,2,4096,10,OPEN,\n"
                      "web,a1,0,0,3,5,,10,UP,1\n"
                      "web,b1,2,4,0,5,,10,DOWN,1\n"
                      "web,a3,0,0,0,0,,0,MAINT,1\n"
                      "web,c1,0,0,0,0,,0,UP 1/2,1\n"
                      "web,BACKEND,0,0,3,5,,10,UP,2\n";
    struct lab_srv *s = NULL;
    size_t n = 0;
    char *err = NULL;
    CHECK_EQ_INT(lab_parse_show_stat(csv, &s, &n, &err), 0);
    CHECK_EQ_INT(n, 4);
    if (n == 4) {
        CHECK_EQ_STR(s[0].name, "a1");
        CHECK(s[0].up && !s[0].maint);
        CHECK_EQ_INT(s[0].scur, 3);
        CHECK_EQ_INT(s[1].zone, 1);
        CHECK(!s[1].up);
        CHECK_EQ_INT(s[1].qcur, 2);
        CHECK(s[2].maint && !s[2].up);
        CHECK_EQ_INT(s[2].slot, 2);
        CHECK(s[3].up); /* going down still takes traffic */
    }
    free(s);
    CHECK_EQ_INT(lab_parse_show_stat("Unknown command\n", &s, &n, &err), -1);
    CHECK_CONTAINS(err, "unexpected");
    free(err);
    err = NULL;
    CHECK_EQ_INT(lab_parse_show_stat("# a,b,c\n", &s, &n, &err), -1);
    free(err);
}

static void test_select(void)
{
    static const struct {
        size_t n;
        uint32_t count;
        double percent;
        size_t want;
    } t[] = {
        {6, 0, 0, 6},   {6, 2, 0, 2},     {6, 9, 0, 6},    {2, 0, 50, 1}, {3, 0, 50, 2},
        {4, 0, 50, 2},  {6, 0, 1, 1},     {6, 0, 100, 6},  {6, 0, 34, 3}, {0, 1, 0, 0},
        {10, 0, 10, 1}, {10, 0, 10.5, 2}, {7, 0, 0.01, 1},
    };
    for (size_t i = 0; i < ZD_ARRAY_LEN(t); i++)
        CHECK_EQ_INT(lab_select_count(t[i].n, t[i].count, t[i].percent), t[i].want);
}

static void test_ids(void)
{
    int z = -1, s = -1;
    CHECK_EQ_INT(lab_parse_instance_id("b1", &z, &s), 0);
    CHECK_EQ_INT(z, 1);
    CHECK_EQ_INT(s, 0);
    CHECK_EQ_INT(lab_parse_instance_id("c10", &z, &s), 0);
    CHECK_EQ_INT(s, 9);
    CHECK_EQ_INT(lab_parse_instance_id("c11", &z, &s), -1);
    CHECK_EQ_INT(lab_parse_instance_id("b0", &z, &s), -1);
    CHECK_EQ_INT(lab_parse_instance_id("z1", &z, &s), -1);
    CHECK_EQ_INT(lab_parse_instance_id("BACKEND", &z, &s), -1);
    CHECK_EQ_INT(lab_parse_instance_id("a", &z, &s), -1);
    CHECK_EQ_INT(lab_parse_instance_id("a1x", &z, &s), -1);
    CHECK_EQ_INT(lab_zone_index("c"), 2);
    CHECK_EQ_INT(lab_zone_index("cc"), -1);
    CHECK_EQ_INT(lab_zone_index("z"), -1);
    char ip[16];
    CHECK_EQ_STR(lab_instance_ip(2, 0, ip, sizeof(ip)), "127.0.3.1");
}

static void test_knobs(void)
{
    struct lab_knobs k = {.delay_ms = 0, .concurrency = 64};
    char *err = NULL;
    CHECK_EQ_INT(lab_knobs_parse("delay_ms=200&cpu=80", &k, &err), 0);
    CHECK_EQ_INT(k.delay_ms, 200);
    CHECK_EQ_INT(k.cpu, 80);
    CHECK_EQ_INT(k.concurrency, 64);
    /* what an instance reports: its knobs and read-only counters, space-separated */
    CHECK_EQ_INT(lab_knobs_parse("delay_ms=1 jitter_ms=2 service_ms=3 concurrency=4 cpu=5 "
                                 "inflight=0 queued=0 served=9 rejected=0\n",
                                 &k, &err),
                 0);
    CHECK_EQ_INT(k.service_ms, 3);
    CHECK_EQ_INT(k.concurrency, 4);
    CHECK_EQ_INT(lab_knobs_parse("cpu=96", &k, &err), -1);
    CHECK_CONTAINS(err, "cpu");
    CHECK_EQ_INT(k.cpu, 5); /* unchanged on error */
    CHECK_EQ_INT(lab_knobs_parse("concurrency=0", &k, &err), -1);
    CHECK_EQ_INT(lab_knobs_parse("dleay_ms=3", &k, &err), -1);
    CHECK_CONTAINS(err, "did you mean 'delay_ms'");
    CHECK_EQ_INT(lab_knobs_parse("delay_ms", &k, &err), -1);
    CHECK_EQ_INT(lab_knobs_parse("delay_ms=-1", &k, &err), -1);
    free(err);
}

static void test_events(void)
{
    char dir[] = "/tmp/zonedef-test-lab.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    /* accept times out of file order, as HAProxy writes them when requests end */
    const char *hlog =
        "2026-11-22T02:40:50.000000+00:00 zdreq 1795315250.050 200 web/a1 1 ----\n"
        "2026-11-22T02:40:50.300000+00:00 zdreq 1795315250.250 503 web/b1 1001 SC--\n"
        "2026-11-22T02:40:50.310000+00:00 zdreq 1795315250.120 200 web/c1 1 ----\n"
        "2026-11-22T02:40:50.400000+00:00 Server web/b1 is DOWN, reason: Layer4 timeout, check "
        "duration: 500ms. 5 active\n"
        "garbage line\n"
        "2026-11-22T02:40:51.000000+00:00 zdreq 1795315250.990 -1 web/b2 2000 CD--\n"
        "2026-11-22T02:40:59.000000+00:00 zdreq 1795315259.000 200 web/a1 1 ----\n";
    const char *llog = "2026-11-22T02:40:50.500Z\t1795315250500000\treplace\ta\ta1\tdied\n"
                       "2026-11-22T02:40:59.500Z\t1795315259500000\tscale_in\ta\ta3\tback\n";
    char *p1 = xasprintf("%s/haproxy.log", dir), *p2 = xasprintf("%s/healer.log", dir);
    CHECK_EQ_INT(zd_write_file_atomic(p1, hlog, strlen(hlog), NULL), 0);
    CHECK_EQ_INT(zd_write_file_atomic(p2, llog, strlen(llog), NULL), 0);
    struct lab_events ev;
    char *err = NULL;
    uint64_t since = 1795315250000000ull, until = 1795315251000000ull;
    CHECK_EQ_INT(lab_events_read(dir, since, until, 100000, &ev, &err), 0);
    CHECK_EQ_INT(ev.nservers, 1);
    CHECK_EQ_INT(ev.nbuckets, 10);
    CHECK_EQ_INT(ev.first_error_us, 1795315250250000ull);
    CHECK_EQ_INT(ev.last_error_us, 1795315250990000ull);
    CHECK_EQ_INT(ev.nhealer, 1);
    char *j = lab_events_json(&ev);
    CHECK_CONTAINS(j, "{\"servers\":[{\"t_us\":1795315250400000,\"server\":\"b1\",\"zone\":\"b\","
                      "\"state\":\"DOWN\",\"reason\":\"Layer4 timeout\"}]");
    CHECK_CONTAINS(j, "\"requests\":{\"interval_us\":100000,\"buckets\":[{\"t_us\":"
                      "1795315250000000,\"total\":1,\"errors\":0,\"by_status\":{\"200\":1}},"
                      "{\"t_us\":1795315250100000,\"total\":1,\"errors\":0,\"by_status\":"
                      "{\"200\":1}},{\"t_us\":1795315250200000,\"total\":1,\"errors\":1,"
                      "\"by_status\":{\"503\":1}},");
    CHECK_CONTAINS(j, "{\"t_us\":1795315250900000,\"total\":1,\"errors\":1,\"by_status\":"
                      "{\"-1\":1}}]}");
    CHECK_CONTAINS(j, "\"first_error_us\":1795315250250000,\"last_error_us\":1795315250990000");
    CHECK_CONTAINS(j, "\"healer\":[{\"t_us\":1795315250500000,\"action\":\"replace\",\"zone\":"
                      "\"a\",\"instance\":\"a1\",\"detail\":\"died\"}]}");
    free(j);
    lab_events_free(&ev);
    /* open range: buckets from the first request (aligned) to the last */
    CHECK_EQ_INT(lab_events_read(dir, 0, 0, 1000000, &ev, &err), 0);
    CHECK_EQ_INT(ev.nbuckets, 10);
    CHECK_EQ_INT(ev.buckets[0].t_us, 1795315250000000ull);
    CHECK_EQ_INT(ev.buckets[0].total, 4);
    CHECK_EQ_INT(ev.buckets[9].total, 1);
    CHECK_EQ_INT(ev.nhealer, 2);
    lab_events_free(&ev);
    /* nothing in range: no errors */
    CHECK_EQ_INT(lab_events_read(dir, 1, 2, 0, &ev, &err), 0);
    j = lab_events_json(&ev);
    CHECK_CONTAINS(j, "\"first_error_us\":null,\"last_error_us\":null");
    free(j);
    lab_events_free(&ev);
    CHECK_EQ_INT(lab_events_read(dir, 1, 0, 1000, &ev, &err), -1); /* too many buckets */
    CHECK_CONTAINS(err, "--interval");
    unlink(p1);
    unlink(p2);
    CHECK_EQ_INT(lab_events_read(dir, 0, 0, 0, &ev, &err), -1);
    CHECK_CONTAINS(err, "no lab log");
    free(err);
    rmdir(dir);
    free(p1);
    free(p2);
}

static void test_default_dir(void)
{
    setenv("ZONEDEF_LAB_DIR", "/x/lab", 1);
    char *d = lab_default_dir();
    CHECK_EQ_STR(d, "/x/lab");
    free(d);
    unsetenv("ZONEDEF_LAB_DIR");
    setenv("XDG_STATE_HOME", "/st", 1);
    d = lab_default_dir();
    CHECK_EQ_STR(d, "/st/zonedef/lab");
    free(d);
    unsetenv("XDG_STATE_HOME");
    setenv("HOME", "/home/u", 1);
    d = lab_default_dir();
    CHECK_EQ_STR(d, "/home/u/.local/state/zonedef/lab");
    free(d);
}

/* ---- the instance server, in a thread on an ephemeral loopback port ---- */

static volatile int inst_stop, inst_port;
static int inst_rc = -1;

static void *inst_thread(void *arg)
{
    (void)arg;
    struct lab_instance_opts o = {
        .id = "a1", .ip = "127.0.0.1", .port = 0, .stop = &inst_stop, .bound_port = &inst_port};
    char *err = NULL;
    inst_rc = lab_instance_run(&o, &err);
    free(err);
    return NULL;
}

static int conn_to(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)inst_port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads what comes within timeout_ms (until EOF). */
static char *read_all(int fd, int timeout_ms)
{
    struct sbuf sb = SBUF_INIT;
    uint64_t end = zd_now_us() + (uint64_t)timeout_ms * 1000;
    for (;;) {
        uint64_t now = zd_now_us();
        if (now >= end)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)((end - now) / 1000) + 1) <= 0)
            continue;
        char buf[4096];
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r <= 0)
            break;
        sbuf_add(&sb, buf, (size_t)r);
    }
    return sbuf_detach(&sb);
}

/* Sends `req` (len bytes) on a fresh connection and returns what came back. */
static char *exchange(const char *req, size_t len, int timeout_ms)
{
    int fd = conn_to();
    if (fd < 0)
        return xstrdup("(connect failed)");
    ssize_t w = send(fd, req, len, MSG_NOSIGNAL);
    (void)w;
    char *r = read_all(fd, timeout_ms);
    close(fd);
    return r;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void test_instance(void)
{
    pthread_t th;
    inst_stop = 0;
    inst_port = 0;
    CHECK_EQ_INT(pthread_create(&th, NULL, inst_thread, NULL), 0);
    for (int i = 0; i < 200 && !inst_port; i++)
        zd_sleep_us(5000);
    CHECK(inst_port > 0);
    char ip[] = "127.0.0.1";
    static const char get[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char *r = exchange(get, strlen(get), 2000);
    CHECK_CONTAINS(r, "HTTP/1.1 200 OK\r\n");
    CHECK_CONTAINS(r, "\r\n\r\nok zone=a instance=a1\n");
    free(r);
    /* keep-alive and pipelining: three answers on one connection, the last one closes */
    static const char pipe3[] = "GET / HTTP/1.1\r\n\r\nHEAD /health HTTP/1.1\r\n\r\n"
                                "GET /health HTTP/1.1\r\nConnection: close\r\n\r\n";
    r = exchange(pipe3, strlen(pipe3), 2000);
    CHECK_EQ_INT(count(r, "HTTP/1.1 200 OK"), 3);
    CHECK_EQ_INT(count(r, "ok zone=a"), 1);
    CHECK_EQ_INT(count(r, "\r\n\r\nok\n"), 1); /* HEAD has no body */
    free(r);
    /* garbage: clear errors, and the server lives on */
    static const char junk[] = "\x01\x02GARBAGE\r\n\r\n";
    r = exchange(junk, sizeof(junk) - 1, 2000);
    CHECK_CONTAINS(r, "HTTP/1.1 400 ");
    free(r);
    char *big = xmalloc(20000);
    memset(big, 'A', 20000);
    r = exchange(big, 20000, 2000);
    CHECK_CONTAINS(r, "HTTP/1.1 431 ");
    free(r);
    free(big);
    static const char huge[] = "POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n";
    r = exchange(huge, strlen(huge), 2000);
    CHECK_CONTAINS(r, "HTTP/1.1 413 ");
    free(r);
    static const char chunked[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    r = exchange(chunked, strlen(chunked), 2000);
    CHECK_CONTAINS(r, "HTTP/1.1 501 ");
    free(r);
    static const char del[] = "DELETE / HTTP/1.1\r\nConnection: close\r\n\r\n";
    r = exchange(del, strlen(del), 2000);
    CHECK_CONTAINS(r, "HTTP/1.1 405 ");
    free(r);
    /* the control endpoint: knobs and a measurable delay */
    struct lab_knobs k = {0};
    char *err = NULL;
    CHECK_EQ_INT(lab_control(ip, inst_port, NULL, 1000000, &k, &err), 0);
    CHECK_EQ_INT(k.concurrency, 64);
    CHECK_EQ_INT(k.delay_ms, 0);
    CHECK_EQ_INT(lab_control(ip, inst_port, "delay_ms=150", 1000000, &k, &err), 0);
    CHECK_EQ_INT(k.delay_ms, 150);
    uint64_t t0 = zd_now_us();
    r = exchange(get, strlen(get), 2000);
    uint64_t took = zd_now_us() - t0;
    CHECK_CONTAINS(r, "200 OK");
    CHECK(took >= 150000 && took < 1000000);
    free(r);
    CHECK_EQ_INT(lab_control(ip, inst_port, "delay_ms=0&bogus=1", 1000000, &k, &err), -1);
    CHECK_CONTAINS(err, "unknown knob 'bogus'");
    /* concurrency 1, 300 ms each: one served, one queued (served next), one refused */
    CHECK_EQ_INT(
        lab_control(ip, inst_port, "delay_ms=0&concurrency=1&service_ms=300", 1000000, &k, &err),
        0);
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = conn_to();
        ssize_t w = send(fds[i], get, strlen(get), MSG_NOSIGNAL);
        (void)w;
        zd_sleep_us(20000);
    }
    char *rs[3];
    for (int i = 0; i < 3; i++) {
        rs[i] = read_all(fds[i], 2000);
        close(fds[i]);
    }
    CHECK_CONTAINS(rs[0], "200 OK");
    CHECK_CONTAINS(rs[1], "200 OK");
    CHECK_CONTAINS(rs[2], "503 Service Unavailable");
    for (int i = 0; i < 3; i++)
        free(rs[i]);
    CHECK_EQ_INT(lab_control(ip, inst_port, NULL, 1000000, &k, &err), 0);
    CHECK_EQ_INT(k.concurrency, 1);
    free(err);
    err = NULL;
    inst_stop = 1;
    pthread_join(th, NULL);
    CHECK_EQ_INT(inst_rc, 0);
    /* nothing listens any more: refused is told apart (-2) */
    CHECK_EQ_INT(lab_control(ip, inst_port, NULL, 1000000, &k, &err), -2);
    free(err);
}

int main(void)
{
    TH_RUN(test_config, test_log_lines, test_show_stat, test_select, test_ids, test_knobs,
           test_events, test_default_dir, test_instance);
}
