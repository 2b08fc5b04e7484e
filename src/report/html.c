/*
 * html: the report people look at together after a game day: one self-contained file (inline CSS
 * and SVG, no script, no font or image from the network) that reads on a laptop, on a projector
 * (large type, strong contrast, charts that scale with the page) and on paper.
 *
 * Top to bottom: the scorecard (pass/fail, the score exactly as result.json states it and its
 * four parts, TTD/TTR per fault against the expectation, availability, requests failed and not
 * sent), the timeline (request rate, error rate, p50/p99 latency over time with each fault's
 * window shaded and labelled, detection and recovery drawn, guard trips and the steady-state
 * checks marked), healthy capacity per zone when the journal has it, the plan as run, every event
 * in time order and the environment.
 *
 * Element ids and classes (timeline, capacity, fault-window, series-*) are part of the contract:
 * tests/e2e/test_report.sh reads them back from Chromium's DOM.
 */
#include "report/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"

#define MAX_POINTS 1200 /* a longer run is drawn in buckets of several intervals */

static void esc(struct sbuf *o, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': sbuf_adds(o, "&amp;"); break;
        case '<': sbuf_adds(o, "&lt;"); break;
        case '>': sbuf_adds(o, "&gt;"); break;
        case '"': sbuf_adds(o, "&quot;"); break;
        default: sbuf_addc(o, *s); break;
        }
    }
}

/* Escaped and redacted (URL userinfo). */
static void escr(struct sbuf *o, const char *s)
{
    if (!s)
        return;
    char *r = zd_text_redact(s);
    esc(o, r);
    free(r);
}

static const char *css =
    ":root{--ink:#111827;--muted:#4b5563;--line:#d1d5db;--bg:#f3f4f6;--card:#fff;"
    "--ok:#15803d;--bad:#b91c1c;--warn:#b45309;--rate:#1d4ed8;--err:#dc2626;--p50:#0f766e;"
    "--p99:#7c3aed;--fault:#f59e0b}"
    "*{box-sizing:border-box}"
    "body{margin:0;background:var(--bg);color:var(--ink);font:17px/1.45 system-ui,-apple-system,"
    "'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}"
    "main{max-width:1240px;margin:0 auto;padding:28px 28px 48px}"
    "h1{font-size:34px;margin:0 0 4px;letter-spacing:-.01em}"
    "h2{font-size:23px;margin:0 0 14px}"
    ".sub{color:var(--muted);margin:0 0 22px}"
    ".card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:22px "
    "24px;"
    "margin:0 0 22px;break-inside:avoid}"
    ".score{display:grid;grid-template-columns:minmax(260px,330px) 1fr;gap:28px;align-items:center}"
    ".verdict{border-radius:12px;padding:18px 22px;color:#fff;text-align:center}"
    ".verdict.pass{background:var(--ok)}.verdict.fail{background:var(--bad)}"
    ".verdict.abort{background:var(--warn)}"
    ".verdict .word{font-size:30px;font-weight:800;letter-spacing:.08em}"
    ".verdict .num{font-size:64px;font-weight:800;line-height:1.05}"
    ".verdict .of{font-size:20px;opacity:.9}"
    ".parts{display:grid;gap:10px}"
    ".part{display:grid;grid-template-columns:150px 1fr 92px;gap:12px;align-items:center}"
    ".bar{height:16px;background:#e5e7eb;border-radius:8px;overflow:hidden}"
    ".bar i{display:block;height:100%;background:var(--rate);border-radius:8px}"
    ".part b{text-align:right;font-variant-numeric:tabular-nums}"
    ".kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:14px;"
    "margin-top:20px}"
    ".kpi{border:1px solid var(--line);border-radius:10px;padding:10px 14px}"
    ".kpi .k{color:var(--muted);font-size:14px;text-transform:uppercase;letter-spacing:.05em}"
    ".kpi .v{font-size:27px;font-weight:700;font-variant-numeric:tabular-nums}"
    ".kpi .d{color:var(--muted);font-size:14px}"
    "table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}"
    "th,td{text-align:left;padding:8px 10px;border-bottom:1px solid var(--line);vertical-align:top}"
    "th{font-size:14px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}"
    ".ok{color:var(--ok);font-weight:700}.bad{color:var(--bad);font-weight:700}"
    ".muted{color:var(--muted)}"
    ".reason{margin:14px 0 0;padding:10px 14px;border-left:4px solid var(--bad);background:#fef2f2}"
    "svg{width:100%;height:auto;display:block}"
    "svg text{font-family:inherit;fill:var(--ink)}"
    ".legend{display:flex;flex-wrap:wrap;gap:18px;margin:6px 0 0;color:var(--muted);font-size:15px}"
    ".legend span:before{content:'';display:inline-block;width:22px;height:4px;margin-right:7px;"
    "vertical-align:middle;background:var(--c)}"
    ".ev td:first-child{white-space:nowrap;color:var(--muted)}"
    ".tag{display:inline-block;min-width:84px;padding:1px 8px;border-radius:6px;font-size:13px;"
    "font-weight:700;text-transform:uppercase;letter-spacing:.04em;background:#e5e7eb}"
    ".tag.inject{background:#fde68a}.tag.detected,.tag.guard,.tag.undo_failed,"
    ".tag.apply_failed,.tag.probe_fail{background:#fecaca}"
    ".tag.recovered,.tag.undo,.tag.probe_ok{background:#bbf7d0}.tag.lb{background:#dbeafe}"
    ".nw{white-space:nowrap}"
    "code{font:15px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}"
    "@media (max-width:800px){.score{grid-template-columns:1fr}}"
    "@media print{body{background:#fff;font-size:12pt}main{max-width:none;padding:0}"
    ".card{border-color:#999}}";

/* ---- numbers ---- */

static double nice_ceil(double v)
{
    if (!(v > 0))
        return 1;
    double e = pow(10, floor(log10(v)));
    double m = v / e;
    double n = m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10;
    return n * e;
}

/* A tick step for an axis of about four ticks: finer steps so a flat line is not at half height. */
static double tick_step(double v)
{
    if (!(v > 0))
        return 1;
    double e = pow(10, floor(log10(v)));
    double m = v / e;
    static const double steps[] = {1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (m <= steps[i] + 1e-9)
            return steps[i] * e;
    return 10 * e;
}

struct pts {
    size_t n;
    double *t_s;                    /* bucket start, seconds */
    double *rate, *err, *p50, *p99; /* req/s, share, ms */
    double bucket_s;
};

static void pts_build(const struct rp_run *r, struct pts *p)
{
    memset(p, 0, sizeof(*p));
    const struct jn_run *j = &r->jn;
    if (!r->have_journal || j->niv == 0 || j->interval_us == 0)
        return;
    size_t niv = j->niv;
    /* the last interval is cut short when the load stops: drawn, it looks like an outage */
    if (niv > 2 && j->iv[niv - 1].total * 2 < j->iv[niv - 2].total)
        niv--;
    size_t per = (niv + MAX_POINTS - 1) / MAX_POINTS;
    size_t n = (niv + per - 1) / per;
    p->n = n;
    p->bucket_s = (double)(per * j->interval_us) / 1e6;
    p->t_s = xcalloc(n, sizeof(double));
    p->rate = xcalloc(n, sizeof(double));
    p->err = xcalloc(n, sizeof(double));
    p->p50 = xcalloc(n, sizeof(double));
    p->p99 = xcalloc(n, sizeof(double));
    for (size_t b = 0; b < n; b++) {
        uint64_t tot = 0, errs = 0, done = 0;
        double p50w = 0, p99 = 0;
        size_t from = b * per, to = from + per < niv ? from + per : niv;
        for (size_t i = from; i < to; i++) {
            const struct ms_interval *x = &j->iv[i];
            tot += x->total;
            errs += x->errors;
            uint64_t c = x->total - (x->not_sent < x->total ? x->not_sent : x->total);
            done += c;
            p50w += (double)x->p50_us * (double)c;
            if ((double)x->p99_us > p99)
                p99 = (double)x->p99_us;
        }
        p->t_s[b] = (double)(from * j->interval_us) / 1e6;
        p->rate[b] = (double)tot / ((double)(to - from) * (double)j->interval_us / 1e6);
        p->err[b] = tot ? (double)errs / (double)tot : 0;
        p->p50[b] = done ? p50w / (double)done / 1e3 : NAN;
        p->p99[b] = done ? p99 / 1e3 : NAN;
    }
}

static void pts_free(struct pts *p)
{
    free(p->t_s);
    free(p->rate);
    free(p->err);
    free(p->p50);
    free(p->p99);
}

/* ---- the chart geometry ---- */

#define W  1100.0
#define ML 78.0
#define MR 26.0
#define PW (W - ML - MR)

struct geo {
    double t_max_s; /* x axis: 0 .. t_max_s */
};

static double xs(const struct geo *g, double t_s)
{
    double x = ML + t_s / g->t_max_s * PW;
    return x < ML ? ML : x > ML + PW ? ML + PW : x;
}

static void x_axis(struct sbuf *o, const struct geo *g, double y)
{
    double step = nice_ceil(g->t_max_s / 10.0);
    sbuf_addf(o, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#6b7280'/>", ML, y, ML + PW,
              y);
    for (double t = 0; t <= g->t_max_s + 1e-9; t += step)
        sbuf_addf(o,
                  "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#6b7280'/>"
                  "<text x='%.1f' y='%.1f' font-size='14' text-anchor='middle'>%gs</text>",
                  xs(g, t), y, xs(g, t), y + 5, xs(g, t), y + 21, t);
}

/* The faults' windows (shaded) and detection/recovery lines over [y0, y1]; labels when label. */
static void fault_marks(struct sbuf *o, const struct rp_run *r, const struct geo *g, double y0,
                        double y1, bool label)
{
    const struct res_doc *d = &r->doc;
    for (size_t i = 0; i < d->nfaults; i++) {
        const struct res_fault *f = &d->faults[i];
        double a = xs(g, (double)f->inject_us / 1e6);
        double b = xs(g, (double)(f->end_us > f->inject_us ? f->end_us : f->inject_us) / 1e6);
        if (b - a < 3)
            b = a + 3;
        sbuf_addf(o,
                  "<rect class='fault-window' data-step='%d' x='%.1f' y='%.1f' width='%.1f' "
                  "height='%.1f' fill='#f59e0b' fill-opacity='0.17' stroke='#d97706' "
                  "stroke-opacity='0.6' stroke-dasharray='4 3'>",
                  f->step, a, y0, b - a, y1 - y0);
        sbuf_adds(o, "<title>");
        esc(o, f->name);
        sbuf_adds(o, " — ");
        esc(o, f->summary);
        sbuf_adds(o, "</title></rect>");
        if (label) {
            sbuf_addf(o,
                      "<text class='fault-label' x='%.1f' y='%.1f' font-size='15' "
                      "font-weight='700'>",
                      a + 6, y0 + 18);
            esc(o, f->name);
            sbuf_addf(o, "</text><text x='%.1f' y='%.1f' font-size='13' fill='#92400e'>", a + 6,
                      y0 + 35);
            esc(o, f->fault);
            sbuf_adds(o, " · ");
            esc(o, f->summary);
            sbuf_adds(o, "</text>");
        }
        if (f->detected) {
            double x = xs(g, (double)(f->inject_us + f->ttd_us) / 1e6);
            sbuf_addf(o,
                      "<line class='detect-line' x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' "
                      "stroke='#dc2626' stroke-width='2' stroke-dasharray='6 4'/>",
                      x, y0 + (label ? 42 : 0), x, y1);
            if (label)
                sbuf_addf(o,
                          "<text x='%.1f' y='%.1f' font-size='13' fill='#b91c1c' "
                          "text-anchor='end'>detected +%.1fs</text>",
                          x - 4, y0 + 56, (double)f->ttd_us / 1e6);
        }
        if (f->recovered && f->detected) {
            double x = xs(g, (double)(f->inject_us + f->ttr_us) / 1e6);
            sbuf_addf(o,
                      "<line class='recover-line' x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' "
                      "stroke='#15803d' stroke-width='2.5'/>",
                      x, y0 + (label ? 42 : 0), x, y1);
            if (label)
                sbuf_addf(o,
                          "<text x='%.1f' y='%.1f' font-size='13' fill='#15803d'>recovered "
                          "+%.1fs</text>",
                          x + 4, y0 + 56, (double)f->ttr_us / 1e6);
        }
    }
    for (size_t i = 0; i < r->nev; i++) {
        if (r->ev[i].kind != RP_EV_GUARD)
            continue;
        double x = xs(g, (double)r->ev[i].t_us / 1e6);
        sbuf_addf(o,
                  "<g class='guard-mark'><line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' "
                  "stroke='#b91c1c' stroke-width='3'/>",
                  x, y0, x, y1);
        if (label) {
            sbuf_addf(o,
                      "<text x='%.1f' y='%.1f' font-size='13' fill='#b91c1c' font-weight='700'"
                      " text-anchor='end'>guard: ",
                      x - 4, y0 + 72);
            esc(o, r->ev[i].text);
            sbuf_adds(o, "</text>");
        }
        sbuf_adds(o, "</g>");
    }
}

/* A polyline of y values scaled by fy; NaN breaks the line. */
static void series(struct sbuf *o, const char *cls, const char *color, double width,
                   const char *dash, const struct geo *g, const struct pts *p, const double *y,
                   double (*fy)(double v, const void *ctx), const void *ctx, bool area,
                   double base_y)
{
    sbuf_addf(o, "<g class='series series-%s'>", cls);
    size_t i = 0;
    while (i < p->n) {
        while (i < p->n && isnan(y[i]))
            i++;
        if (i >= p->n)
            break;
        size_t start = i;
        struct sbuf pts = SBUF_INIT;
        while (i < p->n && !isnan(y[i])) {
            double x0 = xs(g, p->t_s[i]), x1 = xs(g, p->t_s[i] + p->bucket_s);
            double v = fy(y[i], ctx);
            sbuf_addf(&pts, "%.1f,%.1f %.1f,%.1f ", x0, v, x1, v);
            i++;
        }
        if (area)
            sbuf_addf(o, "<polygon points='%.1f,%.1f %s%.1f,%.1f' fill='%s' fill-opacity='0.16'/>",
                      xs(g, p->t_s[start]), base_y, sbuf_str(&pts),
                      xs(g, p->t_s[i - 1] + p->bucket_s), base_y, color);
        sbuf_addf(o,
                  "<polyline points='%s' fill='none' stroke='%s' stroke-width='%.1f' "
                  "stroke-linejoin='round'%s%s%s/>",
                  sbuf_str(&pts), color, width, dash ? " stroke-dasharray='" : "", dash ? dash : "",
                  dash ? "'" : "");
        sbuf_free(&pts);
    }
    sbuf_adds(o, "</g>");
}

struct lin {
    double y0, h, max;
};
static double f_lin(double v, const void *ctx)
{
    const struct lin *l = ctx;
    double f = v / l->max;
    return l->y0 + l->h - (f > 1 ? 1 : f < 0 ? 0 : f) * l->h;
}
struct logs {
    double y0, h, lo, hi; /* ms */
};
static double f_log(double v, const void *ctx)
{
    const struct logs *l = ctx;
    if (v < l->lo)
        v = l->lo;
    double f = (log10(v) - log10(l->lo)) / (log10(l->hi) - log10(l->lo));
    return l->y0 + l->h - (f > 1 ? 1 : f) * l->h;
}

static void panel_frame(struct sbuf *o, double y0, double h, const char *title)
{
    sbuf_addf(o,
              "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' stroke='#d1d5db'/>"
              "<text x='%.1f' y='%.1f' font-size='16' font-weight='700'>%s</text>",
              ML, y0, PW, h, ML, y0 - 9, title);
}

static void hgrid(struct sbuf *o, double y, const char *label, bool strong)
{
    sbuf_addf(o,
              "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='%s'%s/>"
              "<text x='%.1f' y='%.1f' font-size='13' text-anchor='end' fill='#4b5563'>%s</text>",
              ML, y, ML + PW, y, strong ? "#9ca3af" : "#e5e7eb", strong ? "" : "", ML - 8, y + 4,
              label);
}

static void threshold(struct sbuf *o, double y, const char *label)
{
    sbuf_addf(o,
              "<g class='steady-threshold'><line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' "
              "stroke='#111827' stroke-width='1.5' stroke-dasharray='2 4'/>"
              "<text x='%.1f' y='%.1f' font-size='13' text-anchor='end' fill='#111827'>%s</text>"
              "</g>",
              ML, y, ML + PW, y, ML + PW - 6, y - 5, label);
}

/* The steady-state checks along the time axis: the warm-up (baseline) and the final hold. */
static void steady_marks(struct sbuf *o, const struct rp_run *r, const struct geo *g, double y)
{
    const struct res_doc *d = &r->doc;
    uint64_t first = d->nfaults ? d->faults[0].inject_us : d->duration_us;
    bool unsteady = d->status && strcmp(d->status, "unsteady") == 0;
    sbuf_addf(o,
              "<g class='steady-check' data-check='baseline'><rect x='%.1f' y='%.1f' "
              "width='%.1f' height='8' rx='4' fill='%s'/><text x='%.1f' y='%.1f' font-size='13'>"
              "%s warm-up: steady state %s</text></g>",
              xs(g, 0), y, xs(g, (double)first / 1e6) - xs(g, 0), unsteady ? "#dc2626" : "#16a34a",
              xs(g, 0), y + 24, unsteady ? "✗" : "✓", unsteady ? "did not hold" : "held");
    if (d->final_steady_known && r->jn.steady.hold_us && d->duration_us > r->jn.steady.hold_us) {
        double b = (double)r->jn.niv * (double)r->jn.interval_us / 1e6;
        double a = b - (double)r->jn.steady.hold_us / 1e6;
        sbuf_addf(o,
                  "<g class='steady-check' data-check='final'><rect x='%.1f' y='%.1f' "
                  "width='%.1f' height='8' rx='4' fill='%s'/><text x='%.1f' y='%.1f' "
                  "font-size='13' text-anchor='end'>%s final hold: steady state %s</text></g>",
                  xs(g, a), y, xs(g, b) - xs(g, a), d->final_steady ? "#16a34a" : "#dc2626",
                  xs(g, b), y + 24, d->final_steady ? "✓" : "✗",
                  d->final_steady ? "held" : "did not hold");
    }
}

static void timeline_svg(struct sbuf *o, const struct rp_run *r, const struct pts *p,
                         const struct geo *g)
{
    const double top = 112, ph = 150, gap = 44;
    const double y_rate = top, y_err = y_rate + ph + gap, y_lat = y_err + ph + gap;
    const double bottom = y_lat + ph;
    double H = bottom + 74;
    sbuf_addf(o,
              "<svg id='timeline' viewBox='0 0 %.0f %.0f' role='img' "
              "aria-label='request rate, error rate and latency over time, faults shaded'>",
              W, H);
    fault_marks(o, r, g, 8, bottom, true);
    /* request rate */
    double rmax = 0;
    for (size_t i = 0; i < p->n; i++)
        rmax = p->rate[i] > rmax ? p->rate[i] : rmax;
    rmax = tick_step(rmax * 1.1 / 4) * 4;
    struct lin lr = {y_rate, ph, rmax};
    panel_frame(o, y_rate, ph, "Requests per second");
    for (int k = 0; k <= 4; k++) {
        char l[32];
        snprintf(l, sizeof(l), "%g", rmax * k / 4);
        hgrid(o, f_lin(rmax * k / 4, &lr), l, k == 0);
    }
    series(o, "rate", "#1d4ed8", 2.2, NULL, g, p, p->rate, f_lin, &lr, true, y_rate + ph);
    /* error rate */
    double emax = r->jn.steady.error_rate * 2;
    for (size_t i = 0; i < p->n; i++)
        emax = p->err[i] > emax ? p->err[i] : emax;
    emax = nice_ceil(emax * 100.0 * 1.05) / 100.0;
    if (emax > 1)
        emax = 1;
    struct lin le = {y_err, ph, emax};
    panel_frame(o, y_err, ph, "Error rate (failed + not sent)");
    for (int k = 0; k <= 4; k++) {
        char l[32];
        snprintf(l, sizeof(l), "%g%%", emax * 100.0 * k / 4);
        hgrid(o, f_lin(emax * k / 4, &le), l, k == 0);
    }
    series(o, "errors", "#dc2626", 2.2, NULL, g, p, p->err, f_lin, &le, true, y_err + ph);
    if (r->jn.steady.error_rate > 0) {
        char l[64];
        snprintf(l, sizeof(l), "steady state ≤ %g%%", r->jn.steady.error_rate * 100.0);
        threshold(o, f_lin(r->jn.steady.error_rate, &le), l);
    }
    /* latency (log scale: p50 of a few ms and timeouts of seconds on one chart) */
    double lmax = 1;
    for (size_t i = 0; i < p->n; i++)
        if (!isnan(p->p99[i]) && p->p99[i] > lmax)
            lmax = p->p99[i];
    double hi = pow(10, ceil(log10(lmax * 1.05)));
    struct logs ll = {y_lat, ph, 0.1, hi < 10 ? 10 : hi};
    panel_frame(o, y_lat, ph, "Latency p50 / p99 (log scale)");
    for (double v = ll.lo; v <= ll.hi * 1.001; v *= 10) {
        char l[32];
        if (v < 1000)
            snprintf(l, sizeof(l), "%g ms", v);
        else
            snprintf(l, sizeof(l), "%g s", v / 1000);
        hgrid(o, f_log(v, &ll), l, v == ll.lo);
    }
    series(o, "p50", "#0f766e", 2.0, NULL, g, p, p->p50, f_log, &ll, false, 0);
    series(o, "p99", "#7c3aed", 2.2, NULL, g, p, p->p99, f_log, &ll, false, 0);
    if (r->jn.steady.p99_us) {
        char l[64], a[32];
        snprintf(l, sizeof(l), "steady state p99 ≤ %s", rp_fmt_us(r->jn.steady.p99_us, a, 32));
        threshold(o, f_log((double)r->jn.steady.p99_us / 1e3, &ll), l);
    }
    x_axis(o, g, bottom);
    steady_marks(o, r, g, bottom + 34);
    sbuf_adds(o, "</svg>");
    sbuf_adds(o, "<div class='legend'><span style='--c:#1d4ed8'>requests/s</span>"
                 "<span style='--c:#dc2626'>error rate</span><span style='--c:#0f766e'>p50</span>"
                 "<span style='--c:#7c3aed'>p99</span><span style='--c:#f59e0b'>fault window</span>"
                 "<span style='--c:repeating-linear-gradient(90deg,#dc2626 0 6px,transparent 6px "
                 "10px)'>detected</span><span style='--c:#15803d'>recovered</span>"
                 "<span style='--c:repeating-linear-gradient(90deg,#111 0 2px,transparent 2px "
                 "6px)'>steady-state threshold</span></div>");
}

static const char *zone_color(size_t i)
{
    static const char *const c[] = {"#1d4ed8", "#dc2626", "#0f766e", "#7c3aed",
                                    "#ea580c", "#0891b2", "#4d7c0f", "#be185d"};
    return c[i % 8];
}

static void capacity_svg(struct sbuf *o, const struct rp_run *r, const struct geo *g)
{
    const double y0 = 20, ph = 160;
    uint32_t ymax = 1;
    for (size_t i = 0; i < r->ncap; i++)
        ymax = r->cap[i].total > ymax ? r->cap[i].total : ymax;
    for (size_t i = 0; i < r->ncap; i++)
        ymax = r->cap[i].healthy > ymax ? r->cap[i].healthy : ymax;
    double H = y0 + ph + 40;
    sbuf_addf(o,
              "<svg id='capacity' viewBox='0 0 %.0f %.0f' role='img' "
              "aria-label='healthy instances per zone over time'>",
              W, H);
    fault_marks(o, r, g, y0, y0 + ph, false);
    sbuf_addf(o,
              "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' "
              "stroke='#d1d5db'/>",
              ML, y0, PW, ph);
    for (uint32_t k = 0; k <= ymax; k++) {
        char l[16];
        snprintf(l, sizeof(l), "%u", k);
        hgrid(o, y0 + ph - (double)k / ymax * ph, l, k == 0);
    }
    double tend = g->t_max_s;
    for (size_t z = 0; z < r->nzones; z++) {
        struct sbuf pts = SBUF_INIT;
        double lastx = -1, lasty = 0;
        /* offset the zones a little so equal counts do not hide each other */
        double off = ((double)z - (double)(r->nzones - 1) / 2.0) * 3.0;
        for (size_t i = 0; i < r->ncap; i++) {
            if (strcmp(r->cap[i].zone, r->zones[z]) != 0)
                continue;
            double x = xs(g, (double)r->cap[i].t_us / 1e6);
            double y = y0 + ph - (double)r->cap[i].healthy / ymax * ph + off;
            if (lastx >= 0)
                sbuf_addf(&pts, "%.1f,%.1f ", x, lasty);
            sbuf_addf(&pts, "%.1f,%.1f ", x, y);
            lastx = x, lasty = y;
        }
        if (lastx >= 0)
            sbuf_addf(&pts, "%.1f,%.1f", xs(g, tend), lasty);
        sbuf_adds(o, "<g class='series series-zone' data-zone='");
        esc(o, r->zones[z]);
        sbuf_addf(o, "'><polyline points='%s' fill='none' stroke='%s' stroke-width='3'/>",
                  sbuf_str(&pts), zone_color(z));
        sbuf_adds(o, "</g>");
        sbuf_free(&pts);
    }
    x_axis(o, g, y0 + ph);
    sbuf_adds(o, "</svg><div class='legend'>");
    for (size_t z = 0; z < r->nzones; z++) {
        sbuf_addf(o, "<span style='--c:%s'>zone ", zone_color(z));
        esc(o, r->zones[z]);
        sbuf_adds(o, "</span>");
    }
    sbuf_adds(o, "<span style='--c:#f59e0b'>fault window</span></div>");
}

/* ---- the page ---- */

static const char *verdict_class(const struct res_doc *d)
{
    if (d->passed && d->status && strcmp(d->status, "passed") == 0)
        return "pass";
    if (d->status && (strcmp(d->status, "failed") == 0 || strcmp(d->status, "unsteady") == 0))
        return "fail";
    return d->passed ? "pass" : d->status && strcmp(d->status, "aborted") == 0 ? "abort" : "fail";
}

static void part(struct sbuf *o, const char *name, double got, double of)
{
    double f = of > 0 ? got / of : 0;
    sbuf_addf(o,
              "<div class='part'><span>%s</span><div class='bar'><i style='width:%.1f%%'></i>"
              "</div><b>%.1f / %g</b></div>",
              name,
              (f < 0   ? 0
               : f > 1 ? 1
                       : f) *
                  100.0,
              got, of);
}

static void kpi(struct sbuf *o, const char *k, const char *v, const char *d)
{
    sbuf_addf(o, "<div class='kpi'><div class='k'>%s</div><div class='v'>%s</div>", k, v);
    if (d)
        sbuf_addf(o, "<div class='d'>%s</div>", d);
    sbuf_adds(o, "</div>");
}

static void scorecard(struct sbuf *o, const struct rp_run *r)
{
    const struct res_doc *d = &r->doc;
    const char *vc = verdict_class(d);
    sbuf_adds(o, "<section class='card' id='scorecard'><h2>Scorecard</h2><div class='score'>");
    sbuf_addf(o, "<div class='verdict %s'><div class='word' id='verdict'>%s</div>", vc,
              strcmp(vc, "pass") == 0    ? "PASSED"
              : strcmp(vc, "abort") == 0 ? "ABORTED"
                                         : "FAILED");
    sbuf_addf(o,
              "<div class='num' id='score'>%.1f</div><div class='of'>score out of 100</div>"
              "</div>",
              d->score.total);
    sbuf_adds(o, "<div class='parts'>");
    part(o, "Availability", d->score.availability, 40);
    part(o, "Recovery", d->score.recovery, 30);
    part(o, "Latency", d->score.latency, 15);
    part(o, "Error rate", d->score.error_rate, 15);
    sbuf_adds(o, "</div></div>");
    if (d->reason) {
        sbuf_adds(o, "<p class='reason'>");
        escr(o, d->reason);
        sbuf_adds(o, "</p>");
    }
    char a[64], b[64], c[96];
    sbuf_adds(o, "<div class='kpis'>");
    rp_fmt_pct(d->overall.availability, a, sizeof(a));
    snprintf(c, sizeof(c), "good responses / requests");
    kpi(o, "Availability", a, c);
    snprintf(a, sizeof(a), "%llu", (unsigned long long)d->overall.requests);
    snprintf(c, sizeof(c), "%llu ok", (unsigned long long)d->overall.ok);
    kpi(o, "Requests", a, c);
    snprintf(a, sizeof(a), "%llu", (unsigned long long)d->overall.failed);
    kpi(o, "Failed", a, "errors and timeouts");
    snprintf(a, sizeof(a), "%llu", (unsigned long long)d->overall.not_sent);
    kpi(o, "Not sent", a, "the schedule could not send them");
    rp_fmt_pct(d->peak_error_rate, a, sizeof(a));
    kpi(o, "Peak error rate", a, "worst steady-state window");
    rp_fmt_us(d->overall.p99_us, a, sizeof(a));
    snprintf(c, sizeof(c), "baseline %s", rp_fmt_us(d->baseline.p99_us, b, sizeof(b)));
    kpi(o, "p99 latency", a, c);
    sbuf_adds(o, "</div>");
    /* faults: TTD / TTR against the expectation */
    if (d->nfaults) {
        sbuf_adds(o, "<h2 style='margin-top:24px'>Faults</h2><table id='faults'><tr><th>step</th>"
                     "<th>fault</th><th>injected</th><th>time to detect</th>"
                     "<th>time to recover</th><th>peak errors</th><th>availability</th>"
                     "<th>undone</th></tr>");
        for (size_t i = 0; i < d->nfaults; i++) {
            const struct res_fault *f = &d->faults[i];
            const struct jn_step *st =
                r->have_journal && f->step >= 0 && (size_t)f->step < r->jn.nsteps
                    ? &r->jn.steps[f->step]
                    : NULL;
            sbuf_adds(o, "<tr><td><b>");
            esc(o, f->name);
            sbuf_adds(o, "</b></td><td>");
            esc(o, f->fault);
            sbuf_adds(o, "<br><span class='muted'>");
            escr(o, f->summary);
            sbuf_addf(o, "</span></td><td class='nw'>%.1f s</td><td class='nw'>",
                      (double)f->inject_us / 1e6);
            if (f->detected) {
                sbuf_adds(o, rp_fmt_us(f->ttd_us, a, sizeof(a)));
                if (st && st->expect_detect_us) {
                    bool ok = f->ttd_us <= st->expect_detect_us;
                    sbuf_addf(o, " <span class='%s'>%s %s</span>", ok ? "ok" : "bad",
                              ok ? "≤" : ">", rp_fmt_us(st->expect_detect_us, b, sizeof(b)));
                }
            } else {
                sbuf_adds(o, "<span class='muted'>not detected</span>");
            }
            sbuf_adds(o, "</td><td class='nw'>");
            bool ttr_ok = f->recovered && (double)f->ttr_us / 1e6 <= f->recovery_budget_s;
            if (f->recovered)
                sbuf_addf(o, "%s <span class='%s'>%s %g s</span>",
                          rp_fmt_us(f->ttr_us, a, sizeof(a)), ttr_ok ? "ok" : "bad",
                          ttr_ok ? "≤" : ">", f->recovery_budget_s);
            else
                sbuf_addf(o,
                          "<span class='bad'>not recovered</span> <span class='muted'>"
                          "(budget %g s)</span>",
                          f->recovery_budget_s);
            sbuf_addf(o, "</td><td>%s</td><td>%s</td><td class='%s'>%s</td></tr>",
                      rp_fmt_pct(f->peak_error_rate, a, sizeof(a)),
                      rp_fmt_pct(f->impact.availability, b, sizeof(b)), f->undone ? "ok" : "bad",
                      f->undone ? "yes" : "NO");
        }
        sbuf_adds(o, "</table>");
    }
    sbuf_adds(o, "<h2 style='margin-top:24px'>Checks</h2><table id='checks'><tr><th>check</th>"
                 "<th>expected</th><th>measured</th><th></th></tr>");
    for (size_t i = 0; i < d->nchecks; i++) {
        const struct ms_check *k = &d->checks[i];
        sbuf_adds(o, "<tr><td>");
        esc(o, k->name);
        sbuf_adds(o, "</td><td>");
        esc(o, k->want);
        sbuf_adds(o, "</td><td>");
        esc(o, k->got);
        sbuf_addf(o, "</td><td class='%s'>%s</td></tr>", k->passed ? "ok" : "bad",
                  k->passed ? "✓ pass" : "✗ fail");
    }
    sbuf_adds(o, "</table></section>");
}

static void plan_table(struct sbuf *o, const struct rp_run *r)
{
    const struct jn_run *j = &r->jn;
    char a[32], b[32];
    sbuf_adds(o, "<section class='card' id='plan'><h2>The plan as run</h2>");
    sbuf_addf(o,
              "<p class='muted'>%g req/s; warm-up %s, settle %s; steady state: error rate ≤ "
              "%g%%",
              j->rate, rp_fmt_us(j->warmup_us, a, sizeof(a)), rp_fmt_us(j->settle_us, b, 32),
              j->steady.error_rate * 100.0);
    if (j->steady.p99_us)
        sbuf_addf(o, ", p99 ≤ %s", rp_fmt_us(j->steady.p99_us, a, sizeof(a)));
    sbuf_addf(o, ", window %s, hold %s.</p>", rp_fmt_us(j->steady.window_us, a, sizeof(a)),
              rp_fmt_us(j->steady.hold_us, b, sizeof(b)));
    sbuf_adds(o, "<table><tr><th>#</th><th>step</th><th>fault</th><th>at</th><th>for</th>"
                 "<th>expects</th><th>what it did</th></tr>");
    for (size_t i = 0; i < j->nsteps; i++) {
        const struct jn_step *s = &j->steps[i];
        sbuf_addf(o, "<tr><td>%zu</td><td><b>", i + 1);
        esc(o, s->name);
        sbuf_adds(o, "</b></td><td>");
        esc(o, s->fault);
        sbuf_addf(o, "</td><td class='nw'>%.1f s</td><td class='nw'>%s</td><td>",
                  (double)s->at_us / 1e6,
                  s->for_us ? rp_fmt_us(s->for_us, a, sizeof(a)) : "instant");
        if (s->expect_recovery_us)
            sbuf_addf(o, "recovery ≤ %s ", rp_fmt_us(s->expect_recovery_us, a, sizeof(a)));
        if (s->expect_detect_us)
            sbuf_addf(o, "detect ≤ %s ", rp_fmt_us(s->expect_detect_us, a, sizeof(a)));
        if (s->expect_max_error_rate >= 0)
            sbuf_addf(o, "errors ≤ %g%%", s->expect_max_error_rate * 100.0);
        sbuf_adds(o, "</td><td>");
        const char *did = "<span class='muted'>not run</span>";
        for (size_t k = 0; k < j->nfaults; k++)
            if (j->faults[k].step == (int)i) {
                did = NULL;
                escr(o, j->faults[k].summary);
                if (j->faults[k].apply_error) {
                    sbuf_adds(o, " <span class='bad'>failed: ");
                    escr(o, j->faults[k].apply_error);
                    sbuf_adds(o, "</span>");
                }
            }
        if (did)
            sbuf_adds(o, did);
        sbuf_adds(o, "</td></tr>");
    }
    sbuf_adds(o, "</table></section>");
}

static void events_table(struct sbuf *o, const struct rp_run *r)
{
    sbuf_adds(o, "<section class='card' id='events'><h2>Events</h2><table class='ev'>"
                 "<tr><th>time</th><th>kind</th><th>what happened</th></tr>");
    for (size_t i = 0; i < r->nev; i++) {
        const struct rp_event *e = &r->ev[i];
        const char *k = rp_ev_kind_name(e->kind);
        sbuf_addf(o, "<tr><td>%.1f s</td><td><span class='tag %s'>%s</span></td><td>",
                  (double)e->t_us / 1e6, k, k);
        escr(o, e->text);
        sbuf_adds(o, "</td></tr>");
    }
    if (r->nev == 0)
        sbuf_adds(o, "<tr><td colspan='3' class='muted'>no journal: no events</td></tr>");
    sbuf_adds(o, "</table></section>");
}

static void env_row(struct sbuf *o, const char *k, const char *v, bool code)
{
    sbuf_addf(o, "<tr><th>%s</th><td>%s", k, code ? "<code>" : "");
    escr(o, v ? v : "—");
    sbuf_addf(o, "%s</td></tr>", code ? "</code>" : "");
}

static void environment(struct sbuf *o, const struct rp_run *r)
{
    const struct res_doc *d = &r->doc;
    char t[48], a[32], iso[40];
    sbuf_adds(o, "<section class='card' id='environment'><h2>Environment</h2><table>");
    snprintf(t, sizeof(t), "%s", d->target_kind ? d->target_kind : "?");
    env_row(o, "target", t, false);
    env_row(o, "target key", d->target_key, true);
    env_row(o, "scenario file", d->scenario_path, true);
    env_row(o, "run directory", d->run_dir, true);
    env_row(o, "started", zd_iso8601(d->start_wall_us, iso, sizeof(iso)), false);
    env_row(o, "duration", rp_fmt_us(d->duration_us, a, sizeof(a)), false);
    if (r->have_journal) {
        env_row(o, "interval", rp_fmt_us(r->jn.interval_us, a, sizeof(a)), false);
        snprintf(t, sizeof(t), "%zu lines%s", r->jn.lines, r->jn.torn ? " (torn last line)" : "");
        env_row(o, "journal", t, false);
    }
    if (d->has_load) {
        const struct jn_load *l = &d->load;
        char e[160], b[32];
        snprintf(e, sizeof(e), "%s (%s), %u connections on %u threads", l->engine ? l->engine : "?",
                 l->engine_why ? l->engine_why : "?", l->connections, l->threads);
        env_row(o, "load engine", e, false);
        if (l->connects) {
            snprintf(e, sizeof(e), "%llu opened, p50 %s, p99 %s", (unsigned long long)l->connects,
                     rp_fmt_us(l->connect_p50_us, a, sizeof(a)),
                     rp_fmt_us(l->connect_p99_us, b, sizeof(b)));
            env_row(o, "TCP connect", e, false);
        }
        if (l->tls_handshakes || l->tls_failed) {
            snprintf(e, sizeof(e), "%llu (%llu resumed, %llu failed), p50 %s, p99 %s",
                     (unsigned long long)l->tls_handshakes, (unsigned long long)l->tls_resumed,
                     (unsigned long long)l->tls_failed,
                     rp_fmt_us(l->handshake_p50_us, a, sizeof(a)),
                     rp_fmt_us(l->handshake_p99_us, b, sizeof(b)));
            env_row(o, "TLS handshakes", e, false);
        }
    }
    env_row(o, "zonedef", d->version, false);
    env_row(o, "command line", d->command, true);
    sbuf_adds(o, "</table></section>");
}

void rp_html(const struct rp_run *r, struct sbuf *o)
{
    const struct res_doc *d = &r->doc;
    char iso[40];
    sbuf_adds(o, "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
                 "<meta name='viewport' content='width=device-width,initial-scale=1'>"
                 "<meta name='generator' content='zonedef'><title>zonedef: ");
    esc(o, d->scenario);
    sbuf_addf(o, " %s, score %.1f</title><style>%s</style></head><body><main>",
              d->status ? d->status : "?", d->score.total, css);
    sbuf_adds(o, "<h1>");
    esc(o, d->scenario);
    sbuf_adds(o, "</h1><p class='sub'>");
    esc(o, d->target_kind);
    sbuf_adds(o, " target <code>");
    escr(o, d->target_key);
    sbuf_addf(o, "</code> · started %s · %.1f s</p>", zd_iso8601(d->start_wall_us, iso, 40),
              (double)d->duration_us / 1e6);
    scorecard(o, r);
    struct pts p;
    pts_build(r, &p);
    struct geo g = {.t_max_s = 1};
    if (p.n)
        g.t_max_s = p.t_s[p.n - 1] + p.bucket_s;
    sbuf_adds(o, "<section class='card' id='timeline-card'><h2>Timeline</h2>");
    if (p.n)
        timeline_svg(o, r, &p, &g);
    else
        sbuf_adds(o, "<p class='muted'>The run directory holds no journal: nothing to draw.</p>");
    sbuf_adds(o, "</section>");
    sbuf_adds(o, "<section class='card' id='capacity-card'><h2>Healthy capacity per zone</h2>");
    if (p.n && r->ncap)
        capacity_svg(o, r, &g);
    else
        sbuf_adds(o, "<p class='muted'>The target reported no per-zone capacity for this run."
                     "</p>");
    sbuf_adds(o, "</section>");
    pts_free(&p);
    if (r->have_journal)
        plan_table(o, r);
    events_table(o, r);
    environment(o, r);
    sbuf_adds(o, "</main></body></html>\n");
}
