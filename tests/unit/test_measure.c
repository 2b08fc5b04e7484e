/* test_measure: TTD, TTR, availability, latency and the score on synthetic timelines whose
 * answers are worked out by hand in the comments. */
#include <string.h>

#include "harness.h"
#include "run/measure.h"

#define I_US 100000ull /* 100 ms intervals */
#define MAXN 400

static struct ms_interval iv[MAXN];

/* n intervals of `rate` requests each, no errors, p99 2 ms. */
static void clean(size_t n, uint64_t rate)
{
    memset(iv, 0, sizeof(iv));
    for (size_t i = 0; i < n; i++) {
        iv[i].start_us = i * I_US;
        iv[i].total = rate;
        iv[i].p50_us = 1000;
        iv[i].p90_us = 1500;
        iv[i].p99_us = 2000;
        iv[i].max_us = 3000;
    }
}

static void errors(size_t from, size_t to, uint64_t e, uint64_t p99)
{
    for (size_t i = from; i < to; i++) {
        iv[i].errors = e;
        iv[i].p99_us = p99;
        if (p99 > iv[i].max_us)
            iv[i].max_us = p99;
    }
}

static struct ms_input input(size_t n, const struct ms_fault_in *f, size_t nf)
{
    struct ms_input in = {
        .iv = iv,
        .n = n,
        .interval_us = I_US,
        .steady = {.error_rate = 0.01, .p99_us = 0, .window_us = 1000000, .hold_us = 2000000},
        .faults = f,
        .nfaults = nf,
        .expect = {.availability = -1, .max_error_rate = -1, .min_score = -1},
    };
    return in;
}

static struct ms_fault_in fault(const char *name, uint64_t at, uint64_t dur)
{
    return (struct ms_fault_in){.name = name,
                                .fault = "blackhole_zone",
                                .inject_us = at,
                                .end_us = at + dur,
                                .expect_max_error_rate = -1};
}

/* 10 s at 20 req/interval; fault at 3.0 s for 3 s; intervals 32..44 have 10 errors each (5 %)
 * with p99 20 ms. Window 1 s (10 intervals), hold 2 s (20).
 * TTD: the trailing window ending at interval 32 is the first outside -> 3.2 s - 3.0 s = 0.2 s.
 * TTR: the first k > 32 whose 11 windows [k..k+10) ... [k+10..k+20) are clean is 45 -> 1.5 s.
 * availability 1870/2000 = 0.935; nines 1.187 -> 40 * 0.3957 = 15.8
 * recovery 30 * (1 - 1.5/30) = 28.5
 * latency: recovered (45) before the fault ended (60): scored on [45, 65), p99 2 ms = 1x the
 *          baseline -> 15 (the impact range [30, 60) has p99 20 ms, 10x, but the transient
 *          already costs availability, recovery and error-rate points)
 * error rate: peak window 100/200 = 50 % -> 15 * 0.5 = 7.5
 * total 66.8 */
static void test_ttd_ttr_score(void)
{
    clean(100, 20);
    errors(32, 45, 10, 20000);
    struct ms_fault_in f = fault("zone-b", 3000000, 3000000);
    struct ms_input in = input(100, &f, 1);
    struct ms_result r;
    CHECK_EQ_INT(ms_compute(&in, &r, NULL), 0);
    CHECK(r.faults[0].detected);
    CHECK_EQ_INT(r.faults[0].ttd_us, 200000);
    CHECK_NEAR(r.faults[0].detect_error_rate, 10.0 / 200.0, 1e-9);
    CHECK(r.faults[0].recovered);
    CHECK_EQ_INT(r.faults[0].ttr_us, 1500000);
    CHECK_EQ_INT(r.baseline.requests, 600);
    CHECK_EQ_INT(r.baseline.p99_us, 2000);
    CHECK_EQ_INT(r.baseline.from_us, 0);
    CHECK_EQ_INT(r.baseline.to_us, 3000000);
    CHECK_EQ_INT(r.overall.requests, 2000);
    CHECK_EQ_INT(r.overall.failed, 130);
    CHECK_NEAR(r.overall.availability, 0.935, 1e-12);
    CHECK_EQ_INT(r.faults[0].impact.from_us, 3000000);
    CHECK_EQ_INT(r.faults[0].impact.to_us, 6000000);
    CHECK_EQ_INT(r.faults[0].impact.failed, 130);
    CHECK_EQ_INT(r.faults[0].impact.p99_us, 20000);
    CHECK_EQ_INT(r.faults[0].latency_from_us, 4500000);
    CHECK_EQ_INT(r.faults[0].latency_to_us, 6500000);
    CHECK_EQ_INT(r.faults[0].latency_p99_us, 2000);
    CHECK_NEAR(r.faults[0].latency_ratio, 1.0, 1e-9);
    CHECK_NEAR(r.faults[0].peak_error_rate, 0.5, 1e-12);
    CHECK_NEAR(r.peak_error_rate, 0.5, 1e-12);
    CHECK_NEAR(r.score.availability, 15.8, 1e-9);
    CHECK_NEAR(r.score.recovery, 28.5, 1e-9);
    CHECK_NEAR(r.score.latency, 15.0, 1e-9);
    CHECK_NEAR(r.score.error_rate, 7.5, 1e-9);
    CHECK_NEAR(r.score.total, 66.8, 1e-9);
    ms_result_free(&r);
    /* the same errors but a fault of 1 s: recovery (4.5 s) comes after it ended (4.0 s), so the
     * fault was never absorbed and latency is scored on the impact range [30, 45): 13 of 15
     * intervals at 20 ms -> 10x -> 15 * (1 - log10(5)) = 4.5 */
    f.end_us = 4000000;
    CHECK_EQ_INT(ms_compute(&in, &r, NULL), 0);
    CHECK_EQ_INT(r.faults[0].latency_from_us, 3000000);
    CHECK_EQ_INT(r.faults[0].latency_to_us, 4500000);
    CHECK_NEAR(r.faults[0].latency_ratio, 10.0, 1e-9);
    CHECK_NEAR(r.score.latency, 4.5, 1e-9);
    CHECK(r.final_steady_known);
    CHECK(r.final_steady);
    CHECK_EQ_INT(r.nchecks, 1); /* only the final steady state: no expectations set */
    CHECK(r.passed);
    ms_result_free(&r);
}

/* Errors never stop: not recovered (never a number), recovery part 0, the check says so. */
static void test_not_recovered(void)
{
    clean(100, 20);
    errors(32, 100, 10, 2000);
    struct ms_fault_in f = fault("zone-b", 3000000, 3000000);
    struct ms_input in = input(100, &f, 1);
    in.expect.recovery_us = 30000000;
    struct ms_result r;
    CHECK_EQ_INT(ms_compute(&in, &r, NULL), 0);
    CHECK(r.faults[0].detected);
    CHECK(!r.faults[0].recovered);
    CHECK_EQ_INT(r.faults[0].ttr_us, 0);
    CHECK_NEAR(r.score.recovery, 0.0, 1e-9);
    CHECK(!r.final_steady);
    CHECK(!r.passed);
    CHECK_EQ_INT(r.nchecks, 2);
    CHECK_EQ_STR(r.checks[0].name, "recovery of zone-b");
    CHECK_EQ_STR(r.checks[0].got, "not recovered");
    CHECK_EQ_STR(r.checks[0].want, "<= 30.0s");
    CHECK(!r.checks[0].passed);
    /* errors stop at 86 but 86 + 20 > 100: the hold cannot complete before the end */
    clean(100, 20);
    errors(32, 86, 10, 2000);
    ms_result_free(&r);
    CHECK_EQ_INT(ms_compute(&in, &r, NULL), 0);
    CHECK(!r.faults[0].recovered);
    ms_result_free(&r);
    /* ...but with errors ending at 80, k = 80 and 80 + 20 = 100 fits exactly */
    clean(100, 20);
    errors(32, 80, 10, 2000);
    CHECK_EQ_INT(ms_compute(&in, &r, NULL), 0);
    CHECK(r.faults[0].recovered);
    CHECK_EQ_INT(r.faults[0].ttr_us, 5000000);
    ms_result_free(&r);
}

/* Two overlapping faults: B (at 4.0 s) starts while A's errors (32..44) still show. B's trailing
 * window is already outside at its own interval 40: TTD 0; recovery at 45: TTR 0.5 s. */
static void test_overlapping(void)
{
    clean(120, 20);
    errors(32, 45, 10, 2000);
    struct ms_fault_in f[2] = {fault("a", 3000000, 3000000), fault("b", 4000000, 1000000)};
    struct ms_input in = input(120, f, 2);
    struct ms_result r;
    CHECK_EQ_INT(ms_compute(&in, &r, NULL), 0);
    CHECK_EQ_INT(r.nfaults, 2);
    CHECK_EQ_INT(r.faults[0].ttd_us, 200000);
    CHECK_EQ_INT(r.faults[0].ttr_us, 1500000);
    CHECK(r.faults[1].detected);
    CHECK_EQ_INT(r.faults[1].ttd_us, 0);
    CHECK_EQ_INT(r.faults[1].ttr_us, 500000);
    /* baseline ends at the first fault */
    CHECK_EQ_INT(r.baseline.to_us, 3000000);
    ms_result_free(&r);
}

/* A fault that changes nothing: not detected, recovered at once (TTR 0), full marks. */
static void test_no_impact(void)
{
    clean(100, 20);
    struct ms_fault_in f = fault("noop", 2050000, 0);
    struct ms_input in = input(100, &f, 1);
    in.expect.detect_us = 1000000;
    struct ms_result r;
    CHECK_EQ_INT(ms_compute(&in, &r, NULL), 0);
    CHECK(!r.faults[0].detected);
    CHECK(r.faults[0].recovered);
    CHECK_EQ_INT(r.faults[0].ttr_us, 0);
    CHECK_NEAR(r.score.total, 100.0, 1e-9);
    CHECK_EQ_STR(r.checks[0].got, "no impact seen");
    CHECK(r.checks[0].passed);
    /* the impact range is at least one window */
    CHECK_EQ_INT(r.faults[0].impact.from_us, 2000000);
    CHECK_EQ_INT(r.faults[0].impact.to_us, 3000000);
    ms_result_free(&r);
}

/* Empty intervals (no traffic) are inside the steady state and do not change availability;
 * not_sent counts as unavailable but not as failed. */
static void test_empty_and_not_sent(void)
{
    clean(60, 20);
    for (size_t i = 10; i < 20; i++)
        iv[i].total = 0;
    iv[30].errors = 5;
    iv[30].not_sent = 5;
    struct ms_input in = input(60, NULL, 0);
    struct ms_result r;
    CHECK_EQ_INT(ms_compute(&in, &r, NULL), 0);
    CHECK_EQ_INT(r.overall.requests, 1000);
    CHECK_EQ_INT(r.overall.not_sent, 5);
    CHECK_EQ_INT(r.overall.failed, 0);
    CHECK_EQ_INT(r.overall.ok, 995);
    CHECK_NEAR(r.overall.availability, 0.995, 1e-12);
    CHECK_NEAR(r.overall.error_rate, 0.005, 1e-12);
    CHECK_NEAR(r.peak_error_rate, 5.0 / 200.0, 1e-12);
    /* no faults: full recovery and latency parts */
    CHECK_NEAR(r.score.recovery, 30.0, 1e-9);
    CHECK_NEAR(r.score.latency, 15.0, 1e-9);
    /* 0.995: nines 2.301 -> 40 * 0.767 = 30.7; 15 * (1 - 0.025) = 14.6 (14.625 rounds up) */
    CHECK_NEAR(r.score.availability, 30.7, 1e-9);
    CHECK_NEAR(r.score.error_rate, 14.6, 0.11);
    CHECK_NEAR(r.score.total, r.score.availability + 30 + 15 + r.score.error_rate, 1e-9);
    ms_result_free(&r);
    /* an empty timeline measures nothing and scores 0 for availability */
    in = input(0, NULL, 0);
    CHECK_EQ_INT(ms_compute(&in, &r, NULL), 0);
    CHECK_EQ_INT(r.overall.requests, 0);
    CHECK_NEAR(r.score.availability, 0.0, 1e-9);
    CHECK(!r.final_steady_known);
    ms_result_free(&r);
    /* interval 0 is refused */
    in.interval_us = 0;
    char *err = NULL;
    CHECK_EQ_INT(ms_compute(&in, &r, &err), -1);
    CHECK_CONTAINS(err, "interval");
    free(err);
}

/* Latency alone leaves the steady state when steady.p99 is set. */
static void test_latency_detection(void)
{
    clean(100, 20);
    errors(25, 40, 0, 500000); /* p99 500 ms, no errors */
    struct ms_fault_in f = fault("slow", 2500000, 1500000);
    struct ms_input in = input(100, &f, 1);
    in.steady.p99_us = 300000;
    in.expect.p99_us = 100000;
    struct ms_result r;
    CHECK_EQ_INT(ms_compute(&in, &r, NULL), 0);
    CHECK(r.faults[0].detected);
    CHECK_EQ_INT(r.faults[0].ttd_us, 0);
    CHECK_EQ_INT(r.faults[0].detect_p99_us, 500000);
    CHECK_EQ_INT(r.faults[0].ttr_us, 1500000);
    /* 15 of 100 intervals slow -> overall weighted p99 is 500 ms, over the 100 ms expectation */
    CHECK_EQ_INT(r.overall.p99_us, 500000);
    CHECK_EQ_INT(r.overall.p50_us, 1000);
    CHECK_EQ_INT(r.overall.max_us, 500000);
    CHECK(!r.passed);
    CHECK_EQ_STR(r.checks[0].name, "p99 latency");
    CHECK_EQ_STR(r.checks[0].got, "500ms");
    /* recovered at 4.0 s, exactly when the fault ended: not absorbed while it lasted, so the
     * slow intervals count: 500 ms / 2 ms = 250x -> 0 latency points */
    CHECK_NEAR(r.faults[0].latency_ratio, 250.0, 1e-9);
    CHECK_NEAR(r.score.latency, 0.0, 1e-9);
    ms_result_free(&r);
    char *why = NULL;
    CHECK(!ms_hold_inside(iv, 100, 20, 50, I_US, &in.steady, &why));
    CHECK_CONTAINS(why, "p99 500ms > 300ms");
    CHECK(ms_hold_inside(iv, 100, 50, 100, I_US, &in.steady, &why));
    free(why);
}

/* Expectations: per step and per scenario, each a check with want/got. */
static void test_checks(void)
{
    clean(100, 20);
    errors(32, 45, 10, 2000);
    struct ms_fault_in f = fault("zone-b", 3000000, 3000000);
    f.expect_recovery_us = 1000000; /* TTR is 1.5 s: fails */
    f.expect_max_error_rate = 0.6;  /* peak 50 %: passes */
    struct ms_input in = input(100, &f, 1);
    in.expect.availability = 0.9;   /* 93.5 %: passes */
    in.expect.max_error_rate = 0.2; /* fails */
    in.expect.min_score = 38.3;     /* 15.8 + 0 + 15 + 7.5 = 38.3: passes (>=) */
    struct ms_result r;
    CHECK_EQ_INT(ms_compute(&in, &r, NULL), 0);
    CHECK_EQ_INT(r.nchecks, 6);
    CHECK_EQ_STR(r.checks[0].name, "recovery of zone-b");
    CHECK_EQ_STR(r.checks[0].want, "<= 1.0s");
    CHECK_EQ_STR(r.checks[0].got, "1.5s");
    CHECK(!r.checks[0].passed);
    CHECK_EQ_STR(r.checks[1].name, "peak error rate during zone-b");
    CHECK(r.checks[1].passed);
    CHECK_EQ_STR(r.checks[2].name, "availability");
    CHECK_EQ_STR(r.checks[2].got, "93.50%");
    CHECK(r.checks[2].passed);
    CHECK_EQ_STR(r.checks[3].name, "peak error rate");
    CHECK(!r.checks[3].passed);
    CHECK_EQ_STR(r.checks[4].name, "score");
    CHECK_EQ_STR(r.checks[4].got, "38.3");
    CHECK(r.checks[4].passed);
    CHECK(!r.passed);
    /* recovery budget comes from the step: 30 * (1 - 1.5/1) < 0 -> 0 */
    CHECK_NEAR(r.score.recovery, 0.0, 1e-9);
    ms_result_free(&r);
}

static void test_score_parts(void)
{
    CHECK_NEAR(ms_score_availability(1.0), 1.0, 1e-12);
    CHECK_NEAR(ms_score_availability(0.999), 1.0, 1e-9);
    CHECK_NEAR(ms_score_availability(0.99), 2.0 / 3.0, 1e-9);
    CHECK_NEAR(ms_score_availability(0.9), 1.0 / 3.0, 1e-9);
    CHECK_NEAR(ms_score_availability(0.0), 0.0, 1e-12);
    CHECK_NEAR(ms_score_latency_ratio(1.5), 1.0, 1e-12);
    CHECK_NEAR(ms_score_latency_ratio(2.0), 1.0, 1e-12);
    CHECK_NEAR(ms_score_latency_ratio(20.0), 0.0, 1e-12);
    CHECK_NEAR(ms_score_latency_ratio(1000.0), 0.0, 1e-12);
    CHECK_NEAR(ms_score_latency_ratio(6.324555), 0.5, 1e-6);
}

/* The same input gives bit-identical results (what report --recompute relies on). */
static void test_deterministic(void)
{
    clean(200, 17);
    errors(50, 77, 3, 31000);
    errors(120, 124, 17, 1900000);
    struct ms_fault_in f[2] = {fault("x", 4990000, 2000000), fault("y", 11950000, 0)};
    struct ms_input in = input(200, f, 2);
    struct ms_result a, b;
    CHECK_EQ_INT(ms_compute(&in, &a, NULL), 0);
    CHECK_EQ_INT(ms_compute(&in, &b, NULL), 0);
    CHECK(memcmp(&a.score, &b.score, sizeof(a.score)) == 0);
    CHECK(memcmp(a.faults, b.faults, 2 * sizeof(*a.faults)) == 0);
    /* instantaneous fault y: detected at 12.0 s (interval 120), TTD 50 ms */
    CHECK_EQ_INT(a.faults[1].ttd_us, 50000);
    CHECK_EQ_INT(a.faults[1].ttr_us, 12400000 - 11950000);
    /* instantaneous: latency scored on the hold that proved recovery, [124, 144) */
    CHECK_EQ_INT(a.faults[1].latency_from_us, 12400000);
    CHECK_EQ_INT(a.faults[1].latency_to_us, 14400000);
    CHECK_EQ_INT(a.faults[1].latency_p99_us, 2000);
    ms_result_free(&a);
    ms_result_free(&b);
}

int main(void)
{
    TH_RUN(test_ttd_ttr_score, test_not_recovered, test_overlapping, test_no_impact,
           test_empty_and_not_sent, test_latency_detection, test_checks, test_score_parts,
           test_deterministic);
}
