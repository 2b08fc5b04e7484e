/*
 * measure: turns the per-interval numbers of a run into the measurements and the score that
 * zonedef publishes. Everything here is a pure function of its input (no clock, no I/O, no
 * global state), so the runner's live numbers, result.json and `report --recompute` from the
 * journal agree to the last digit. The definitions are in measure.h and the README.
 *
 * The score (0-100, rounded to 0.1) is four parts:
 *   availability 40 * min(1, nines / 3), nines = -log10(1 - availability): full at 99.9 %;
 *   recovery     30 * mean over faults of max(0, 1 - TTR / budget), 0 when not recovered
 *                (budget: the step's expect.recovery_time, else the scenario's, else 30 s);
 *   latency      15 * mean over faults of f(p99 once the fault is absorbed / baseline p99),
 *                f(r) = 1 for r <= 2, 0 for r >= 20, 1 - log10(r / 2) between;
 *   error rate   15 * (1 - the highest window error rate of the run).
 * A run without faults gets the full recovery and latency parts.
 */
#include "run/measure.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#include "base/banned.h"

static size_t ceil_div(uint64_t a, uint64_t b)
{
    return (size_t)((a + b - 1) / b);
}

static size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

static size_t max_sz(size_t a, size_t b)
{
    return a > b ? a : b;
}

static double round1(double x)
{
    return round(x * 10.0) / 10.0;
}

struct wv {
    uint64_t v, w;
};

static int wv_cmp(const void *a, const void *b)
{
    const struct wv *x = a, *y = b;
    return x->v < y->v ? -1 : x->v > y->v;
}

/* The request-weighted quantile (per mille) of per-interval values. Sorts a. */
static uint64_t wquant(struct wv *a, size_t m, unsigned permille)
{
    if (m == 0)
        return 0;
    qsort(a, m, sizeof(*a), wv_cmp);
    uint64_t total = 0;
    for (size_t i = 0; i < m; i++)
        total += a[i].w;
    uint64_t acc = 0;
    for (size_t i = 0; i < m; i++) {
        acc += a[i].w;
        if (acc * 1000u >= (uint64_t)permille * total)
            return a[i].v;
    }
    return a[m - 1].v;
}

void ms_range_of(const struct ms_interval *iv, size_t n, uint64_t interval_us, size_t from,
                 size_t to, struct ms_range *out)
{
    memset(out, 0, sizeof(*out));
    to = min_sz(to, n);
    from = min_sz(from, to);
    out->from_us = (uint64_t)from * interval_us;
    out->to_us = (uint64_t)to * interval_us;
    out->availability = 1.0;
    if (from == to)
        return;
    struct wv *v50 = xcalloc(to - from, sizeof(*v50));
    struct wv *v90 = xcalloc(to - from, sizeof(*v90));
    struct wv *v99 = xcalloc(to - from, sizeof(*v99));
    size_t m = 0;
    uint64_t errors = 0;
    for (size_t i = from; i < to; i++) {
        const struct ms_interval *x = &iv[i];
        out->requests += x->total;
        errors += x->errors;
        out->not_sent += x->not_sent;
        uint64_t done = x->total - x->not_sent;
        if (done > 0) {
            v50[m] = (struct wv){x->p50_us, done};
            v90[m] = (struct wv){x->p90_us, done};
            v99[m] = (struct wv){x->p99_us, done};
            m++;
            if (x->max_us > out->max_us)
                out->max_us = x->max_us;
        }
    }
    out->ok = out->requests - errors;
    out->failed = errors - out->not_sent;
    if (out->requests) {
        out->error_rate = (double)errors / (double)out->requests;
        out->availability = (double)out->ok / (double)out->requests;
    }
    out->p50_us = wquant(v50, m, 500);
    out->p90_us = wquant(v90, m, 900);
    out->p99_us = wquant(v99, m, 990);
    free(v50);
    free(v90);
    free(v99);
}

/* Error rate and p99 (highest interval p99) of intervals [from, to). */
static void window_of(const struct ms_interval *iv, size_t from, size_t to, double *er,
                      uint64_t *p99)
{
    uint64_t total = 0, errors = 0, p = 0;
    for (size_t i = from; i < to; i++) {
        total += iv[i].total;
        errors += iv[i].errors;
        if (iv[i].total > iv[i].not_sent && iv[i].p99_us > p)
            p = iv[i].p99_us;
    }
    *er = total ? (double)errors / (double)total : 0.0;
    *p99 = p;
}

static bool inside(double er, uint64_t p99, const struct ms_steady *st)
{
    return er <= st->error_rate && (st->p99_us == 0 || p99 <= st->p99_us);
}

static char *outside_why(double er, uint64_t p99, const struct ms_steady *st)
{
    char a[32], b[32];
    if (er > st->error_rate)
        return xasprintf("error rate %.1f%% > %g%%", er * 100.0, st->error_rate * 100.0);
    return xasprintf("p99 %s > %s", zd_fmt_duration(p99, a, sizeof(a)),
                     zd_fmt_duration(st->p99_us, b, sizeof(b)));
}

bool ms_window_inside(const struct ms_interval *iv, size_t n, size_t from, size_t to,
                      const struct ms_steady *st, char **why)
{
    to = min_sz(to, n);
    from = min_sz(from, to);
    double er;
    uint64_t p99;
    window_of(iv, from, to, &er, &p99);
    if (inside(er, p99, st))
        return true;
    if (why) {
        free(*why);
        *why = outside_why(er, p99, st);
    }
    return false;
}

static size_t win_len(uint64_t window_us, uint64_t interval_us)
{
    return max_sz(1, ceil_div(window_us, interval_us));
}

bool ms_hold_inside(const struct ms_interval *iv, size_t n, size_t from, size_t to,
                    uint64_t interval_us, const struct ms_steady *st, char **why)
{
    to = min_sz(to, n);
    from = min_sz(from, to);
    size_t w = win_len(st->window_us, interval_us);
    if (to - from <= w)
        return ms_window_inside(iv, n, from, to, st, why);
    for (size_t j = from; j + w <= to; j++)
        if (!ms_window_inside(iv, n, j, j + w, st, why))
            return false;
    return true;
}

double ms_score_availability(double a)
{
    if (a >= 1.0)
        return 1.0;
    if (a <= 0.0)
        return 0.0;
    double nines = -log10(1.0 - a);
    return nines >= 3.0 ? 1.0 : nines / 3.0;
}

double ms_score_latency_ratio(double r)
{
    if (r <= 2.0)
        return 1.0;
    if (r >= 20.0)
        return 0.0;
    return 1.0 - log10(r / 2.0);
}

static void fmt_s(char *buf, size_t n, uint64_t us)
{
    snprintf(buf, n, "%.1fs", (double)us / 1e6);
}

static void fmt_pct(char *buf, size_t n, double x)
{
    snprintf(buf, n, "%.2f%%", x * 100.0);
}

static struct ms_check *add_check(struct ms_result *r, size_t *cap, bool passed, const char *name)
{
    ZD_GROW(r->checks, *cap, r->nchecks + 1);
    struct ms_check *c = &r->checks[r->nchecks++];
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->passed = passed;
    return c;
}

static uint64_t budget_of(const struct ms_input *in, const struct ms_fault_in *f)
{
    if (f->expect_recovery_us)
        return f->expect_recovery_us;
    if (in->expect.recovery_us)
        return in->expect.recovery_us;
    return MS_DEFAULT_BUDGET_US;
}

static void measure_fault(const struct ms_input *in, const bool *bad_trail, const size_t *good_run,
                          size_t w, size_t h, const struct ms_range *baseline,
                          const struct ms_fault_in *f, struct ms_fault_out *o)
{
    const struct ms_interval *iv = in->iv;
    size_t n = in->n;
    uint64_t I = in->interval_us;
    memset(o, 0, sizeof(*o));
    uint64_t budget = budget_of(in, f);
    o->recovery_budget_s = (double)budget / 1e6;
    size_t i0 = (size_t)(f->inject_us / I);
    if (i0 >= n) {
        o->latency_ratio = 1.0;
        ms_range_of(iv, n, I, n, n, &o->impact);
        return;
    }
    uint64_t dur = f->end_us > f->inject_us ? f->end_us - f->inject_us : 0;
    uint64_t horizon = f->inject_us + (dur > budget ? dur : budget);
    size_t ih = min_sz(n, (size_t)(horizon / I) + 1);
    size_t d = 0;
    for (size_t i = i0; i < ih; i++) {
        if (bad_trail[i]) {
            d = i;
            o->detected = true;
            uint64_t t = iv[i].start_us > f->inject_us ? iv[i].start_us : f->inject_us;
            o->ttd_us = t - f->inject_us;
            window_of(iv, i + 1 >= w ? i + 1 - w : 0, i + 1, &o->detect_error_rate,
                      &o->detect_p99_us);
            break;
        }
    }
    size_t need = h - w + 1; /* windows in a run of h intervals */
    size_t k0 = o->detected ? d + 1 : i0;
    size_t k = 0;
    for (size_t j = k0; j + h <= n; j++) {
        if (good_run[j] >= need) {
            k = j;
            o->recovered = true;
            break;
        }
    }
    if (o->recovered) {
        uint64_t t = (uint64_t)k * I;
        o->ttr_us = t > f->inject_us ? t - f->inject_us : 0;
    }
    size_t hi = max_sz(ceil_div(f->end_us, I), o->recovered ? k : n);
    hi = min_sz(n, max_sz(hi, i0 + w));
    ms_range_of(iv, n, I, i0, hi, &o->impact);
    double peak = 0;
    if (hi - i0 <= w) {
        uint64_t p;
        window_of(iv, i0, hi, &peak, &p);
    } else {
        for (size_t j = i0; j + w <= hi; j++) {
            double er;
            uint64_t p;
            window_of(iv, j, j + w, &er, &p);
            if (er > peak)
                peak = er;
        }
    }
    o->peak_error_rate = peak;

    size_t lf = i0, lt = hi;
    bool instant = f->end_us <= f->inject_us;
    size_t end_i = ceil_div(f->end_us, I);
    if (o->recovered && (instant || k < end_i)) {
        lf = k;
        lt = min_sz(n, max_sz(end_i, k + h));
    }
    struct ms_range lr;
    ms_range_of(iv, n, I, lf, lt, &lr);
    o->latency_from_us = lr.from_us;
    o->latency_to_us = lr.to_us;
    o->latency_p99_us = lr.p99_us;
    uint64_t base = baseline->p99_us > 1000 ? baseline->p99_us : 1000;
    o->latency_ratio = (double)lr.p99_us / (double)base;
}

static void score_and_checks(const struct ms_input *in, struct ms_result *r)
{
    double rec = 0, lat = 0;
    for (size_t i = 0; i < r->nfaults; i++) {
        const struct ms_fault_out *o = &r->faults[i];
        if (o->recovered) {
            double frac = 1.0 - ((double)o->ttr_us / 1e6) / o->recovery_budget_s;
            rec += frac > 0 ? frac : 0;
        }
        lat += ms_score_latency_ratio(o->latency_ratio);
    }
    struct ms_score *s = &r->score;
    s->availability =
        round1(r->overall.requests ? 40.0 * ms_score_availability(r->overall.availability) : 0);
    s->recovery = round1(r->nfaults ? 30.0 * rec / (double)r->nfaults : 30.0);
    s->latency = round1(r->nfaults ? 15.0 * lat / (double)r->nfaults : 15.0);
    double pe = r->peak_error_rate > 1.0 ? 1.0 : r->peak_error_rate;
    s->error_rate = round1(15.0 * (1.0 - pe));
    s->total = round1(s->availability + s->recovery + s->latency + s->error_rate);

    size_t cap = 0;
    char a[48], b[48], name[MS_CHECK_TEXT];
    const struct ms_expect *e = &in->expect;
    for (size_t i = 0; i < r->nfaults; i++) {
        const struct ms_fault_in *f = &in->faults[i];
        const struct ms_fault_out *o = &r->faults[i];
        uint64_t want = f->expect_recovery_us ? f->expect_recovery_us : e->recovery_us;
        if (want) {
            bool ok = o->recovered && o->ttr_us <= want;
            snprintf(name, sizeof(name), "recovery of %s", f->name);
            struct ms_check *c = add_check(r, &cap, ok, name);
            fmt_s(a, sizeof(a), want);
            snprintf(c->want, sizeof(c->want), "<= %s", a);
            if (o->recovered)
                fmt_s(c->got, sizeof(c->got), o->ttr_us);
            else
                snprintf(c->got, sizeof(c->got), "not recovered");
        }
        want = f->expect_detect_us ? f->expect_detect_us : e->detect_us;
        if (want) {
            bool ok = !o->detected || o->ttd_us <= want;
            snprintf(name, sizeof(name), "detection of %s", f->name);
            struct ms_check *c = add_check(r, &cap, ok, name);
            fmt_s(a, sizeof(a), want);
            snprintf(c->want, sizeof(c->want), "<= %s", a);
            if (o->detected)
                fmt_s(c->got, sizeof(c->got), o->ttd_us);
            else
                snprintf(c->got, sizeof(c->got), "no impact seen");
        }
        if (f->expect_max_error_rate >= 0) {
            snprintf(name, sizeof(name), "peak error rate during %s", f->name);
            struct ms_check *c =
                add_check(r, &cap, o->peak_error_rate <= f->expect_max_error_rate, name);
            fmt_pct(a, sizeof(a), f->expect_max_error_rate);
            snprintf(c->want, sizeof(c->want), "<= %s", a);
            fmt_pct(c->got, sizeof(c->got), o->peak_error_rate);
        }
    }
    if (e->availability >= 0) {
        struct ms_check *c =
            add_check(r, &cap, r->overall.availability >= e->availability, "availability");
        fmt_pct(a, sizeof(a), e->availability);
        snprintf(c->want, sizeof(c->want), ">= %s", a);
        fmt_pct(c->got, sizeof(c->got), r->overall.availability);
    }
    if (e->max_error_rate >= 0) {
        struct ms_check *c =
            add_check(r, &cap, r->peak_error_rate <= e->max_error_rate, "peak error rate");
        fmt_pct(a, sizeof(a), e->max_error_rate);
        snprintf(c->want, sizeof(c->want), "<= %s", a);
        fmt_pct(c->got, sizeof(c->got), r->peak_error_rate);
    }
    if (e->p99_us) {
        struct ms_check *c = add_check(r, &cap, r->overall.p99_us <= e->p99_us, "p99 latency");
        snprintf(c->want, sizeof(c->want), "<= %s", zd_fmt_duration(e->p99_us, a, sizeof(a)));
        snprintf(c->got, sizeof(c->got), "%s", zd_fmt_duration(r->overall.p99_us, b, sizeof(b)));
    }
    if (e->min_score >= 0) {
        struct ms_check *c = add_check(r, &cap, s->total >= e->min_score, "score");
        snprintf(c->want, sizeof(c->want), ">= %g", e->min_score);
        snprintf(c->got, sizeof(c->got), "%.1f", s->total);
    }
    if (r->final_steady_known) {
        struct ms_check *c = add_check(r, &cap, r->final_steady, "steady state at the end");
        snprintf(c->want, sizeof(c->want), "inside");
        snprintf(c->got, sizeof(c->got), "%s", r->final_steady ? "inside" : "outside");
    }
    r->passed = true;
    for (size_t i = 0; i < r->nchecks; i++)
        if (!r->checks[i].passed)
            r->passed = false;
}

int ms_compute(const struct ms_input *in, struct ms_result *r, char **err)
{
    memset(r, 0, sizeof(*r));
    if (in->interval_us == 0)
        return zd_err(err, "measure: the interval is 0");
    const struct ms_interval *iv = in->iv;
    size_t n = in->n;
    uint64_t I = in->interval_us;
    size_t w = win_len(in->steady.window_us, I);
    size_t h = max_sz(w, ceil_div(in->steady.hold_us, I));

    /* bad_trail[i]: the window of w intervals ending with i is outside the steady state.
     * good_run[j]: how many consecutive windows starting at j, j+1, ... are inside. */
    bool *bad_trail = xcalloc(n ? n : 1, sizeof(*bad_trail));
    size_t *good_run = xcalloc(n + 1, sizeof(*good_run));
    for (size_t i = 0; i < n; i++) {
        double er;
        uint64_t p;
        window_of(iv, i + 1 >= w ? i + 1 - w : 0, i + 1, &er, &p);
        bad_trail[i] = !inside(er, p, &in->steady);
    }
    double peak = 0;
    for (size_t j = n; j-- > 0;) {
        if (j + w > n)
            continue;
        double er;
        uint64_t p;
        window_of(iv, j, j + w, &er, &p);
        good_run[j] = inside(er, p, &in->steady) ? good_run[j + 1] + 1 : 0;
        if (er > peak)
            peak = er;
    }
    if (n > 0 && n < w) {
        uint64_t p;
        window_of(iv, 0, n, &peak, &p);
    }
    r->peak_error_rate = peak;

    size_t base_end = n;
    if (in->nfaults)
        base_end = min_sz(n, (size_t)(in->faults[0].inject_us / I));
    ms_range_of(iv, n, I, 0, base_end, &r->baseline);
    ms_range_of(iv, n, I, 0, n, &r->overall);

    r->nfaults = in->nfaults;
    r->faults = xcalloc(in->nfaults ? in->nfaults : 1, sizeof(*r->faults));
    for (size_t i = 0; i < in->nfaults; i++)
        measure_fault(in, bad_trail, good_run, w, h, &r->baseline, &in->faults[i], &r->faults[i]);

    if (n >= h) {
        r->final_steady_known = true;
        r->final_steady = ms_hold_inside(iv, n, n - h, n, I, &in->steady, NULL);
    }
    free(bad_trail);
    free(good_run);
    score_and_checks(in, r);
    return 0;
}

void ms_result_free(struct ms_result *r)
{
    if (!r)
        return;
    free(r->faults);
    free(r->checks);
    memset(r, 0, sizeof(*r));
}
