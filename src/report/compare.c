/*
 * compare: what got better or worse between two runs of a scenario (`zonedef report --compare
 * BEFORE AFTER`), the check a nightly job needs: score, availability, overall and peak error
 * rate, and per fault (matched by step name) TTD and TTR. A change beyond its threshold, a fault
 * that recovered before and does not now, or a pass that became a fail counts as a regression.
 */
#include "report/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"

struct row {
    char name[96];
    char a[48], b[48], delta[48];
    int verdict; /* -1 worse, 0 same, 1 better */
    bool regression;
};

struct rows {
    struct row *v;
    size_t n, cap;
};

static struct row *add(struct rows *rs, const char *name)
{
    ZD_GROW(rs->v, rs->cap, rs->n + 1);
    struct row *r = &rs->v[rs->n++];
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", name);
    return r;
}

/* higher_better: the direction of "better"; limit: a worsening beyond it is a regression. */
static void num_row(struct rows *rs, const char *name, double a, double b, bool higher_better,
                    double limit, double eps, int decimals, double scale, const char *unit)
{
    struct row *r = add(rs, name);
    const char *pct = scale == 100 ? "%" : "";
    snprintf(r->a, sizeof(r->a), "%.*f%s", decimals, a * scale, pct);
    snprintf(r->b, sizeof(r->b), "%.*f%s", decimals, b * scale, pct);
    double d = b - a;
    snprintf(r->delta, sizeof(r->delta), "%+.2f%s", d * scale, unit);
    double worse = higher_better ? -d : d;
    r->verdict = fabs(d) <= eps ? 0 : worse > 0 ? -1 : 1;
    r->regression = worse > limit + 1e-9;
}

static const struct res_fault *fault_named(const struct res_doc *d, const char *name)
{
    for (size_t i = 0; i < d->nfaults; i++)
        if (d->faults[i].name && name && strcmp(d->faults[i].name, name) == 0)
            return &d->faults[i];
    return NULL;
}

static void time_row(struct rows *rs, const char *name, bool ha, uint64_t a, bool hb, uint64_t b,
                     double limit_s)
{
    struct row *r = add(rs, name);
    char x[32];
    snprintf(r->a, sizeof(r->a), "%s", ha ? rp_fmt_us(a, x, sizeof(x)) : "none");
    snprintf(r->b, sizeof(r->b), "%s", hb ? rp_fmt_us(b, x, sizeof(x)) : "none");
    if (ha && hb) {
        double d = ((double)b - (double)a) / 1e6;
        snprintf(r->delta, sizeof(r->delta), "%+.2f s", d);
        r->verdict = fabs(d) < 0.05 ? 0 : d > 0 ? -1 : 1;
        r->regression = d > limit_s + 1e-9;
    } else if (ha != hb) {
        snprintf(r->delta, sizeof(r->delta), "%s", hb ? "now happens" : "no longer");
        r->verdict = 0;
    } else {
        snprintf(r->delta, sizeof(r->delta), "—");
    }
}

int rp_compare(const struct rp_run *ra, const struct rp_run *rb, const struct rp_cmp_opts *o,
               struct sbuf *out)
{
    const struct res_doc *a = &ra->doc, *b = &rb->doc;
    struct rows rs = {0};
    struct row *st = add(&rs, "status");
    snprintf(st->a, sizeof(st->a), "%s", a->status ? a->status : "?");
    snprintf(st->b, sizeof(st->b), "%s", b->status ? b->status : "?");
    snprintf(st->delta, sizeof(st->delta), "%s",
             a->passed == b->passed ? "same"
             : b->passed            ? "now passes"
                                    : "now fails");
    st->verdict = a->passed == b->passed ? 0 : b->passed ? 1 : -1;
    st->regression = a->passed && !b->passed;
    num_row(&rs, "score", a->score.total, b->score.total, true, o->max_score_drop, 0.05, 1, 1, "");
    num_row(&rs, "availability", a->overall.availability, b->overall.availability, true,
            o->max_avail_drop, 5e-5, 2, 100, " pp");
    num_row(&rs, "error rate", a->overall.error_rate, b->overall.error_rate, false,
            o->max_error_rise, 5e-5, 2, 100, " pp");
    num_row(&rs, "peak error rate", a->peak_error_rate, b->peak_error_rate, false,
            o->max_error_rise, 5e-5, 2, 100, " pp");
    struct row *fr = add(&rs, "requests failed");
    snprintf(fr->a, sizeof(fr->a), "%llu",
             (unsigned long long)(a->overall.failed + a->overall.not_sent));
    snprintf(fr->b, sizeof(fr->b), "%llu",
             (unsigned long long)(b->overall.failed + b->overall.not_sent));
    long long df = (long long)(b->overall.failed + b->overall.not_sent) -
                   (long long)(a->overall.failed + a->overall.not_sent);
    snprintf(fr->delta, sizeof(fr->delta), "%+lld", df);
    fr->verdict = df == 0 ? 0 : df > 0 ? -1 : 1;
    for (size_t i = 0; i < b->nfaults; i++) {
        const struct res_fault *fb = &b->faults[i], *fa = fault_named(a, fb->name);
        char n[96];
        if (!fa) {
            struct row *r = add(&rs, "");
            snprintf(r->name, sizeof(r->name), "%.80s", fb->name ? fb->name : "?");
            snprintf(r->a, sizeof(r->a), "(not in before)");
            continue;
        }
        snprintf(n, sizeof(n), "%.80s TTD", fb->name);
        time_row(&rs, n, fa->detected, fa->ttd_us, fb->detected, fb->ttd_us, o->max_ttr_rise_s);
        rs.v[rs.n - 1].regression = false; /* earlier detection is not a goal in itself */
        snprintf(n, sizeof(n), "%.80s TTR", fb->name);
        time_row(&rs, n, fa->recovered, fa->ttr_us, fb->recovered, fb->ttr_us, o->max_ttr_rise_s);
        struct row *r = &rs.v[rs.n - 1];
        if (fa->recovered && !fb->recovered) {
            r->verdict = -1;
            r->regression = true;
            snprintf(r->delta, sizeof(r->delta), "no longer recovers");
        }
    }
    int regressions = 0;
    for (size_t i = 0; i < rs.n; i++)
        regressions += rs.v[i].regression;
    if (o->markdown) {
        sbuf_addf(out,
                  "### zonedef: %s vs %s — %d regression%s\n\n| | before | after | change "
                  "| |\n|---|---|---|---|---|\n",
                  a->scenario ? a->scenario : "?", b->scenario ? b->scenario : "?", regressions,
                  regressions == 1 ? "" : "s");
        for (size_t i = 0; i < rs.n; i++) {
            const struct row *r = &rs.v[i];
            sbuf_addf(out, "| %s | %s | %s | %s | %s |\n", r->name, r->a, r->b, r->delta,
                      r->regression    ? "❌ regression"
                      : r->verdict < 0 ? "worse"
                      : r->verdict > 0 ? "better"
                                       : "");
        }
    } else {
        sbuf_addf(out, "%-28s %-16s %-16s %-18s\n", "", "before", "after", "change");
        for (size_t i = 0; i < rs.n; i++) {
            const struct row *r = &rs.v[i];
            sbuf_addf(out, "%-28s %-16s %-16s %-18s %s\n", r->name, r->a, r->b, r->delta,
                      r->regression    ? "REGRESSION"
                      : r->verdict < 0 ? "worse"
                      : r->verdict > 0 ? "better"
                                       : "");
        }
        sbuf_addf(out,
                  "%d regression%s beyond the thresholds (score -%g, TTR +%gs, availability "
                  "-%g pp, error rate +%g pp)\n",
                  regressions, regressions == 1 ? "" : "s", o->max_score_drop, o->max_ttr_rise_s,
                  o->max_avail_drop * 100, o->max_error_rise * 100);
    }
    free(rs.v);
    return regressions;
}
