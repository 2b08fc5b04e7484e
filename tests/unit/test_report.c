/*
 * test_report: the report subsystem on a run directory written here the way the runner writes
 * one (journal records through journal.h, result.json through results.h): loading and time
 * order, redaction, HTML structure, JUnit, Markdown, comparison, the live view's frames and a
 * notifier whose webhook refuses connections.
 */
#include "harness.h"

#include <sys/stat.h>
#include <unistd.h>

#include "report/report.h"
#include "run/journal.h"
#include "run/measure.h"
#include "run/results.h"

static char dir[] = "/tmp/zonedef-test-report.XXXXXX";

static struct jn_step steps[1] = {{.name = (char *)"zone-b",
                                   .fault = (char *)"blackhole_zone",
                                   .at_us = 3000000,
                                   .for_us = 3000000,
                                   .expect_recovery_us = 2000000,
                                   .expect_max_error_rate = -1}};

/* A run: 10 s of 100 ms intervals, zone b dark from 3 s to 6 s with errors 3.0-3.8 s. */
static void write_run(const char *d, double availability_expect, bool fail_more)
{
    char *jp = NULL, *err = NULL;
    if (asprintf(&jp, "%s/journal.jsonl", d) < 0)
        abort();
    unlink(jp);
    struct journal *j = jn_open(jp, false, &err);
    CHECK(j != NULL);
    struct jn_start s = {
        .scenario_path = "x.json",
        .scenario_name = "zone-b-outage",
        .target_kind = "lab",
        .target_key = "http://admin:hunter2@127.0.0.1:18000/",
        .run_dir = d,
        .wall_us = 1700000000000000ull,
        .interval_us = 100000,
        .rate = 200,
        .warmup_us = 3000000,
        .settle_us = 3000000,
        .steady = {.error_rate = 0.01, .p99_us = 500000, .window_us = 1000000, .hold_us = 1000000},
        .expect = {.recovery_us = 0,
                   .availability = availability_expect,
                   .max_error_rate = -1,
                   .min_score = -1},
        .steps = steps,
        .nsteps = 1,
    };
    CHECK_EQ_INT(jn_rec_start(j, &s, NULL), 0);
    CHECK_EQ_INT(jn_rec_phase(j, "warmup", 0, NULL), 0);
    CHECK_EQ_INT(
        jn_append(j, "{\"type\":\"lb\",\"healthy\":2,\"total\":2,\"t_us\":0,\"zone\":\"a\"}", NULL),
        0);
    CHECK_EQ_INT(
        jn_append(j, "{\"type\":\"lb\",\"healthy\":2,\"total\":2,\"t_us\":0,\"zone\":\"b\"}", NULL),
        0);
    for (size_t i = 0; i < 100; i++) {
        if (i == 30) {
            CHECK_EQ_INT(jn_rec_intent(j, 0, "zone-b", "blackhole_zone", 3000000, "{}",
                                       "black-hole zone b", 3000000, s.wall_us + 3000000, NULL),
                         0);
            CHECK_EQ_INT(jn_rec_applied(j, 0, true, NULL, NULL, 3000100, s.wall_us + 3000100, NULL),
                         0);
        }
        if (i == 45)
            CHECK_EQ_INT(jn_append(j,
                                   "{\"type\":\"lb\",\"healthy\":0,\"total\":2,"
                                   "\"t_us\":4500000,\"zone\":\"b\"}",
                                   NULL),
                         0);
        if (i == 60) {
            CHECK_EQ_INT(jn_rec_undo_intent(j, 0, "run", 6000000, s.wall_us + 6000000, NULL), 0);
            CHECK_EQ_INT(jn_rec_undone(j, 0, true, NULL, "run", 6000200, s.wall_us + 6000200, NULL),
                         0);
            CHECK_EQ_INT(jn_rec_probe(j, "home", false, "HTTP 503", 6100000, NULL), 0);
        }
        struct tl_stats st = {0};
        st.start_us = i * 100000;
        st.len_us = 100000;
        st.total = 20;
        bool bad = i >= 30 && i < (fail_more ? 60u : 38u);
        st.counts[TL_OK] = bad ? 8 : 20;
        st.counts[TL_CONNECT_TIMEOUT] = 20 - st.counts[TL_OK];
        st.errors = st.total - st.counts[TL_OK];
        st.p50_us = 1000;
        st.p99_us = bad ? 2000000 : 3000;
        st.max_us = st.p99_us;
        CHECK_EQ_INT(jn_rec_interval(j, i, &st, NULL), 0);
    }
    jn_close(j);
    struct jn_run r;
    CHECK_EQ_INT(jn_read(jp, &r, &err), 0);
    struct ms_input in;
    struct ms_fault_in *fs = NULL;
    struct ms_result m;
    CHECK_EQ_INT(jn_measure_input(&r, &in, &fs, &err), 0);
    CHECK_EQ_INT(ms_compute(&in, &m, &err), 0);
    struct res_doc doc;
    res_build(&r, &m, m.passed ? "passed" : "failed", m.passed ? 0 : 1, NULL, &doc);
    doc.command = strdup("zonedef run x.json --notify http://127.0.0.1:1/…");
    char *txt = res_to_json(&doc);
    char *rp = NULL;
    if (asprintf(&rp, "%s/result.json", d) < 0)
        abort();
    CHECK_EQ_INT(zd_write_file_atomic(rp, txt, strlen(txt), NULL), 0);
    free(rp);
    free(txt);
    res_free(&doc);
    ms_result_free(&m);
    free(fs);
    jn_run_free(&r);
    free(jp);
}

static char *sub(const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        abort();
    mkdir(p, 0700);
    return p;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void test_redact(void)
{
    struct {
        const char *in, *want;
    } cases[] = {
        {"http://u:pw@h:1/x", "http://u:***@h:1/x"},
        {"see https://tok@h/x and http://a:b@c/", "see https://***@h/x and http://a:***@c/"},
        {"no url here", "no url here"},
        {"http://h/path@x", "http://h/path@x"}, /* '@' in the path is not userinfo */
        {"ssh://root@10.0.0.1", "ssh://***@10.0.0.1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = zd_text_redact(cases[i].in);
        CHECK_EQ_STR(got, cases[i].want);
        free(got);
    }
    char *d = rp_url_display("https://x:y@hooks.slack.com/services/T/B/SECRET?k=v");
    CHECK_EQ_STR(d, "https://hooks.slack.com/…");
    free(d);
    d = rp_url_display("http://127.0.0.1:19650/");
    CHECK_EQ_STR(d, "http://127.0.0.1:19650/");
    free(d);
}

static void test_load_and_order(void)
{
    char *d = sub("a");
    write_run(d, 0.9, false);
    struct rp_run r;
    char *err = NULL;
    bool missing = true;
    CHECK_EQ_INT(rp_load(d, &r, &missing, &err), 0);
    CHECK(!missing);
    CHECK(r.have_journal);
    CHECK_EQ_INT(r.ncap, 3);
    CHECK_EQ_INT(r.nzones, 2);
    CHECK_EQ_STR(r.zones[1], "b");
    /* time order, whatever the order of the records */
    for (size_t i = 1; i < r.nev; i++)
        CHECK(r.ev[i - 1].t_us <= r.ev[i].t_us);
    size_t det = r.nev, undo = r.nev, inj = r.nev;
    for (size_t i = 0; i < r.nev; i++) {
        if (r.ev[i].kind == RP_EV_DETECTED)
            det = i;
        if (r.ev[i].kind == RP_EV_UNDO)
            undo = i;
        if (r.ev[i].kind == RP_EV_INJECT)
            inj = i;
    }
    CHECK(inj < det && det < undo && undo < r.nev);
    CHECK_CONTAINS(r.doc.command, "--notify");
    rp_free(&r);
    char *none = sub("empty");
    CHECK_EQ_INT(rp_load(none, &r, &missing, &err), -1);
    CHECK(missing);
    CHECK_CONTAINS(err, "no result.json");
    free(err);
    free(none);
    free(d);
}

static void test_html(void)
{
    char *d = sub("a");
    struct rp_run r;
    CHECK_EQ_INT(rp_load(d, &r, NULL, NULL), 0);
    struct sbuf sb = SBUF_INIT;
    rp_html(&r, &sb);
    const char *h = sbuf_str(&sb);
    CHECK_CONTAINS(h, "<title>zonedef: zone-b-outage passed, score ");
    CHECK_CONTAINS(h, "<svg id='timeline'");
    CHECK_CONTAINS(h, "<svg id='capacity'");
    CHECK_EQ_INT(count(h, "class='fault-window'"), 2); /* timeline and capacity */
    CHECK_CONTAINS(h, "series-rate");
    CHECK_CONTAINS(h, "series-errors");
    CHECK_CONTAINS(h, "series-p50");
    CHECK_CONTAINS(h, "series-p99");
    CHECK_EQ_INT(count(h, "series-zone"), 2);
    CHECK_CONTAINS(h, "class='detect-line'");
    CHECK_CONTAINS(h, "class='recover-line'");
    CHECK_CONTAINS(h, "data-check='baseline'");
    CHECK_CONTAINS(h, "probe home fails: HTTP 503");
    /* self-contained and no secret */
    CHECK(strstr(h, "hunter2") == NULL);
    CHECK_CONTAINS(h, "admin:***@127.0.0.1");
    CHECK(strstr(h, "<script") == NULL);
    CHECK(strstr(h, "src=") == NULL);
    CHECK(strstr(h, "@import") == NULL);
    CHECK(strstr(h, "url(") == NULL);
    sbuf_free(&sb);
    rp_free(&r);
    free(d);
}

static void test_junit_md(void)
{
    char *d = sub("strict");
    write_run(d, 0.999, false); /* availability 0.999 is not met */
    struct rp_run r;
    CHECK_EQ_INT(rp_load(d, &r, NULL, NULL), 0);
    struct sbuf sb = SBUF_INIT;
    rp_junit(&r, &sb);
    const char *x = sbuf_str(&sb);
    CHECK_CONTAINS(x, "<testsuite name=\"zone-b-outage\" timestamp=\"2023-11-14T22:13:20\"");
    CHECK_CONTAINS(x, "failures=\"1\" errors=\"0\"");
    CHECK_CONTAINS(
        x, "<failure type=\"expectation\" message=\"measured 95.20%, expected &gt;= 99.90%");
    CHECK_CONTAINS(x, "expected &gt;= 99.90%");
    CHECK_CONTAINS(x, "name=\"steady state holds before the first fault\"");
    CHECK_CONTAINS(x, "name=\"zone-b is undone\"");
    CHECK(strstr(x, "hunter2") == NULL);
    sbuf_reset(&sb);
    rp_markdown(&r, &sb);
    const char *m = sbuf_str(&sb);
    CHECK_CONTAINS(m, "### ❌ zonedef: zone-b-outage failed, score ");
    CHECK_CONTAINS(m, "| check | expected | measured | result |\n|---|---|---|---|\n");
    CHECK_CONTAINS(m, "| availability | >= 99.90% | 95.20% | ❌ fail |");
    CHECK_CONTAINS(m, "❌ fail");
    CHECK_CONTAINS(m, "Error rate over 10 s (peak ");
    CHECK_CONTAINS(m, "█");
    sbuf_free(&sb);
    rp_free(&r);
    free(d);
}

static void test_compare(void)
{
    char *a = sub("a"), *b = sub("worse");
    write_run(b, 0.9, true); /* errors for 3 s instead of 0.8 s: slower recovery, fewer points */
    struct rp_run ra, rb;
    CHECK_EQ_INT(rp_load(a, &ra, NULL, NULL), 0);
    CHECK_EQ_INT(rp_load(b, &rb, NULL, NULL), 0);
    struct rp_cmp_opts o = {
        .max_score_drop = 5, .max_ttr_rise_s = 1, .max_avail_drop = 0.005, .max_error_rise = 0.05};
    struct sbuf sb = SBUF_INIT;
    CHECK_EQ_INT(rp_compare(&ra, &ra, &o, &sb), 0);
    sbuf_reset(&sb);
    int n = rp_compare(&ra, &rb, &o, &sb);
    CHECK(n >= 2);
    CHECK_CONTAINS(sbuf_str(&sb), "REGRESSION");
    CHECK_CONTAINS(sbuf_str(&sb), "zone-b TTR");
    sbuf_reset(&sb);
    CHECK_EQ_INT(rp_compare(&rb, &ra, &o, &sb), 0); /* the other way round it got better */
    CHECK_CONTAINS(sbuf_str(&sb), "better");
    sbuf_free(&sb);
    rp_free(&ra);
    rp_free(&rb);
    free(a);
    free(b);
}

/* Visible width of one frame line (escapes skipped, UTF-8 counted once). */
static int vis_width(const char *s, size_t n)
{
    int w = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\033') {
            while (i < n &&
                   !((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || s[i] == 'm'))
                i++;
            continue;
        }
        w += ((unsigned char)s[i] & 0xC0) != 0x80;
    }
    return w;
}

static void test_live(void)
{
    struct rp_live_step st[1] = {{"zone-b", "blackhole_zone", NULL, 3000000, 3000000}};
    struct rp_live_plan plan = {.scenario = "zone-b-outage",
                                .planned_us = 10000000,
                                .interval_us = 100000,
                                .steady_error_rate = 0.01,
                                .steady_p99_us = 500000,
                                .steps = st,
                                .nsteps = 1};
    struct rp_live *lv = rp_live_new(&plan, true, true);
    rp_live_phase(lv, "warm-up", 0);
    rp_live_event(lv, RP_EV_PHASE, 0, "warm-up: 200 req/s through http://u:pw@127.0.0.1:1/", NULL,
                  0);
    rp_live_zone(lv, "a", 2, 2);
    rp_live_zone(lv, "b", 2, 2);
    for (size_t i = 0; i < 40; i++) {
        struct ms_interval iv = {.start_us = i * 100000,
                                 .total = 20,
                                 .errors = i >= 30 ? 12 : 0,
                                 .p50_us = 1000,
                                 .p99_us = i >= 30 ? 2000000 : 3000};
        rp_live_interval(lv, &iv);
    }
    rp_live_event(lv, RP_EV_INJECT, 3000000, "inject blackhole_zone zone-b", "zone-b", 3000000);
    rp_live_zone(lv, "b", 0, 2);
    rp_live_event(lv, RP_EV_LB, 3900000, "load balancer: zone b 0/2 healthy", NULL, 0);
    rp_live_event(lv, RP_EV_DETECTED, 3100000, "detected zone-b", "zone-b", 0); /* late */
    struct sbuf sb = SBUF_INIT;
    rp_live_frame(lv, 4000000, 100, 30, &sb);
    const char *f = sbuf_str(&sb);
    CHECK(strncmp(f, "\033[H", 3) == 0);
    CHECK(zd_str_has_suffix(f, "\033[J"));
    CHECK_EQ_INT(count(f, "\n"), 29); /* 30 lines, the last without a newline: no scrolling */
    for (const char *p = f; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        CHECK(vis_width(p, n) <= 99);
        p += n + (nl ? 1 : 0);
    }
    CHECK_CONTAINS(f, "zone-b-outage");
    CHECK_CONTAINS(f, "http://u:***@127.0.0.1:1/");
    CHECK(strstr(f, "pw@") == NULL);
    CHECK_CONTAINS(f, "FAULT ACTIVE");
    CHECK_CONTAINS(f, "2.0s left");
    CHECK_CONTAINS(f, "DOWN");
    CHECK_CONTAINS(f, "detected");
    const char *d = strstr(f, "detected zone-b"), *l = strstr(f, "load balancer: zone b");
    CHECK(d && l && d < l); /* the late detection is shown where it happened */
    rp_live_event(lv, RP_EV_UNDO, 6000000, "undone zone-b", "zone-b", 0);
    sbuf_reset(&sb);
    rp_live_frame(lv, 6500000, 80, 24, &sb);
    CHECK_EQ_INT(count(sbuf_str(&sb), "\n"), 23);
    CHECK(strstr(sbuf_str(&sb), "FAULT ACTIVE") == NULL);
    CHECK(rp_live_fits(100, 30));
    CHECK(!rp_live_fits(79, 30));
    CHECK(!rp_live_fits(100, 20));
    sbuf_free(&sb);
    rp_live_free(lv);
}

static void test_notify_refused(void)
{
    char *err = NULL;
    const char *bad[] = {"ftp://x/"};
    CHECK(rp_notify_new(bad, 1, "s", NULL, &err) == NULL);
    CHECK_CONTAINS(err, "--notify 'ftp://x/'");
    free(err);
    err = NULL;
    /* nothing listens on port 19652 (this test's own port): a refused post is counted, the
     * secret in the URL never shows */
    const char *specs[] = {"slack=http://user:s3cret@127.0.0.1:19652/services/T/B/KEY"};
    struct rp_notifier *nf = rp_notify_new(specs, 1, "s", "/tmp/x", &err);
    CHECK(nf != NULL);
    uint64_t t0 = zd_now_us();
    rp_notify(nf, "run_started", "started", NULL, 0, NULL, -1);
    rp_notify(nf, "run_finished", "done", NULL, 1, "passed", 90);
    char *sum = NULL;
    rp_notify_close(nf, 3000000, &sum);
    CHECK(zd_now_us() - t0 < 4000000);
    CHECK(sum != NULL);
    CHECK_CONTAINS(sum, "notify: 2 of 2 posts failed");
    CHECK_CONTAINS(sum, "http://127.0.0.1:19652/…");
    CHECK(sum && strstr(sum, "s3cret") == NULL && strstr(sum, "KEY") == NULL);
    free(sum);
}

static void test_sparkline(void)
{
    double y[] = {0, 0, 0.5, 1, 0.25, 0};
    struct sbuf sb = SBUF_INIT;
    rp_sparkline(y, 6, 6, &sb);
    CHECK_EQ_STR(sbuf_str(&sb), "▁▁▅█▃▁");
    sbuf_free(&sb);
}

static void cleanup(void)
{
    char *cmd = NULL;
    if (asprintf(&cmd, "rm -rf '%s'", dir) >= 0 && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(cmd);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    atexit(cleanup);
    TH_RUN(test_redact, test_load_and_order, test_html, test_junit_md, test_compare, test_live,
           test_notify_refused, test_sparkline);
}
