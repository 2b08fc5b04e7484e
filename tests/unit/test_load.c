/* test_load: the open-loop schedule through the public API. A closed port refuses every
 * connection in microseconds, so each interval's count is exactly what the schedule asked for:
 * constant rate, linear ramp, a rate change while running. Plus option validation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "load.h"
#include "util.h"

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

static void test_constant_rate(void)
{
    struct load_opts o = {
        .url = CLOSED_URL, .rate = 1000, .duration_us = 1000000, .threads = 2, .connections = 64};
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
    load_free(l);
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

static void test_closed_loop(void)
{
    struct load_opts o = {.url = CLOSED_URL, .duration_us = 300000, .threads = 1, .connections = 2};
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
    load_stop(l);
    struct load_totals t;
    load_totals(l, &t);
    CHECK_NEAR(t.total, 51, 1);
    CHECK_NEAR(t.elapsed_us, 505000, 20000);
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
    load_free(NULL);
}

int main(void)
{
    TH_RUN(test_constant_rate, test_ramp, test_set_rate_while_running, test_closed_loop,
           test_stop_early, test_bad_options);
}
