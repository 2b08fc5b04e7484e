/*
 * measure: what a run's traffic says about resilience, as pure functions over the per-interval
 * numbers the journal keeps (so `zonedef report --recompute` gets the same answers on any
 * machine): baseline, time to detect and time to recover per fault, requests lost, peak error
 * rate, latency impact, availability, the 0-100 score and the pass/fail checks.
 *
 * Definitions (the README "run" section writes them out for users):
 *   - intervals are contiguous from t=0 (interval i covers [i*I, (i+1)*I)); w = ceil(window/I)
 *     and h = max(w, ceil(hold/I)) intervals;
 *   - a window's error rate is errors/total over its intervals; its p99 is the highest p99 of its
 *     intervals; a window is *inside the steady state* when error rate <= steady.error_rate and
 *     (p99 check on) p99 <= steady.p99;
 *   - detection: the first interval i at or after the injection's interval whose trailing window
 *     (the w intervals ending with i) is outside; detected at max(injection, start of i), and only
 *     within the fault's horizon (injection + max(for, recovery budget));
 *   - recovery: the first interval k after the detection (or from the injection's interval when
 *     nothing was detected) that starts a run of h intervals, all present, in which every window
 *     of w intervals is inside; recovered at max(injection, start of k);
 *   - latency is scored on the regime users live in once the system has absorbed the fault: from
 *     recovery until the fault ends, at least h intervals (for an instantaneous fault: the h
 *     intervals that proved recovery); a fault not absorbed while it lasted (not recovered, or
 *     only after it ended) is scored on its whole impact range. Timeouts during the transient
 *     already cost availability, recovery and error-rate points; they are not counted twice;
 *   - percentiles over a range of intervals: the request-weighted quantile of the intervals' own
 *     percentiles (the journal keeps per-interval percentiles, not histograms).
 */
#ifndef ZD_MEASURE_H
#define ZD_MEASURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One interval as the journal stores it. */
struct ms_interval {
    uint64_t start_us; /* from the start of the load; interval i starts at i * interval_us */
    uint64_t total;    /* requests scheduled in it, not_sent included */
    uint64_t errors;   /* total - ok (not_sent included) */
    uint64_t not_sent;
    uint64_t p50_us, p90_us, p99_us, max_us; /* of completed requests (total - not_sent) */
};

struct ms_steady {
    double error_rate;
    uint64_t p99_us; /* 0 = not checked */
    uint64_t window_us;
    uint64_t hold_us;
};

struct ms_expect {
    uint64_t recovery_us;  /* 0 = not checked */
    uint64_t detect_us;    /* 0 = not checked */
    double availability;   /* < 0 = not checked */
    double max_error_rate; /* < 0 = not checked */
    uint64_t p99_us;       /* 0 = not checked */
    double min_score;      /* < 0 = not checked */
};

struct ms_fault_in {
    const char *name;   /* the step's name (borrowed) */
    const char *fault;  /* "blackhole_zone" ... (borrowed) */
    uint64_t inject_us; /* when apply was called (load clock) */
    uint64_t end_us;    /* when its `for` ended and it was undone; == inject_us if instantaneous */
    uint64_t expect_recovery_us;  /* 0 = not set */
    uint64_t expect_detect_us;    /* 0 = not set */
    double expect_max_error_rate; /* < 0 = not set */
};

struct ms_input {
    const struct ms_interval *iv;
    size_t n;
    uint64_t interval_us;
    struct ms_steady steady;
    const struct ms_fault_in *faults; /* in injection order */
    size_t nfaults;
    struct ms_expect expect;
};

/* Totals over a range of intervals. */
struct ms_range {
    uint64_t from_us, to_us;
    uint64_t requests, ok, failed, not_sent; /* failed excludes not_sent */
    double error_rate;                       /* (failed + not_sent) / requests; 0 when empty */
    double availability;                     /* ok / requests; 1 when empty */
    uint64_t p50_us, p90_us, p99_us, max_us;
};

struct ms_fault_out {
    bool detected;
    uint64_t ttd_us;
    bool recovered;
    uint64_t ttr_us;
    double detect_error_rate;                /* the detecting window's error rate */
    uint64_t detect_p99_us;                  /* ...and p99 */
    struct ms_range impact;                  /* [injection, max(end, recovery, one window)) */
    double peak_error_rate;                  /* highest window error rate inside the impact range */
    uint64_t latency_from_us, latency_to_us; /* the range latency is scored on (see below) */
    uint64_t latency_p99_us;                 /* p99 over that range */
    double latency_ratio;     /* latency_p99 / baseline p99 (baseline floored at 1 ms) */
    double recovery_budget_s; /* what TTR was scored against */
};

struct ms_score {
    double total;        /* 0..100, rounded to 0.1 */
    double availability; /* of 40 */
    double recovery;     /* of 30 */
    double latency;      /* of 15 */
    double error_rate;   /* of 15 */
};

#define MS_CHECK_TEXT 96
struct ms_check {
    char name[MS_CHECK_TEXT];
    char want[MS_CHECK_TEXT];
    char got[MS_CHECK_TEXT];
    bool passed;
};

struct ms_result {
    struct ms_range baseline; /* before the first fault (whole run without faults) */
    struct ms_range overall;
    double peak_error_rate;      /* highest window error rate of the whole run */
    bool final_steady;           /* the last `hold` of the run is inside the steady state */
    bool final_steady_known;     /* false when the run is shorter than `hold` */
    struct ms_fault_out *faults; /* nfaults, in input order */
    size_t nfaults;
    struct ms_score score;
    struct ms_check *checks;
    size_t nchecks;
    bool passed; /* every check passed */
};

/* Default recovery budget when no expectation sets one. */
#define MS_DEFAULT_BUDGET_US 30000000ull

/* Computes everything. Returns 0, or -1 with *err when the input is unusable (interval 0).
 * The caller frees *out with ms_result_free. */
int ms_compute(const struct ms_input *in, struct ms_result *out, char **err);
void ms_result_free(struct ms_result *r);

/* Totals over intervals [from, to) (clamped to n). */
void ms_range_of(const struct ms_interval *iv, size_t n, uint64_t interval_us, size_t from,
                 size_t to, struct ms_range *out);
/* Whether intervals [from, to) are inside the steady state as one window. On false, *why (if not
 * NULL) gets a one-line reason ("error rate 31.2% > 1%"); the caller frees it. */
bool ms_window_inside(const struct ms_interval *iv, size_t n, size_t from, size_t to,
                      const struct ms_steady *st, char **why);
/* Whether every window of w intervals inside [from, to) is inside the steady state (the hold
 * rule, used before the first fault and at the end). Same *why contract. */
bool ms_hold_inside(const struct ms_interval *iv, size_t n, size_t from, size_t to,
                    uint64_t interval_us, const struct ms_steady *st, char **why);

/* The score components from the measured numbers (exposed for the README's worked example and
 * the tests): availability in [0,1], per-fault TTR fractions, latency ratios, peak error rate. */
double ms_score_availability(double availability);
double ms_score_latency_ratio(double ratio);

#endif
