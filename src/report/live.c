/*
 * live: the terminal dashboard `zonedef run` draws while a run goes (what a demo screencast
 * shows). It is fed what the runner announces through its public events (cmd/run.c hands them
 * over) and renders whole frames into a buffer: cursor home, every line overwritten and cleared
 * to its end, the rest of the screen cleared, so the caller writes one buffer per frame and
 * nothing flickers. It never touches the terminal itself.
 *
 * A frame, top to bottom: the scenario, the phase, elapsed/planned time and a plan strip with
 * the fault windows; rolling charts of requests/s and error rate (one column per half second,
 * fault windows tinted); p50/p99 against the steady state; each zone with its healthy capacity;
 * the active faults with countdowns; the latest events in time order (a detection announced after
 * a later event is put where it happened).
 */
#include "report/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"

#define MAX_COLS   16384u    /* ring of intervals the charts draw from (27 min at 100 ms) */
#define NOW_US     500000ull /* the "now" numbers: the last half second of complete intervals */
#define MAX_EVENTS 256u
#define MAX_ZONES  16u

struct lcol {
    uint64_t total, errors, p99_us, p50_us;
    bool set;
};

struct lev {
    enum rp_ev_kind kind;
    uint64_t t_us;
    char *text;
};

struct lfault {
    char *step;
    uint64_t at_us, for_us;
    bool active, detected, recovered;
};

struct lzone {
    char *name;
    uint32_t healthy, total;
};

struct rp_live {
    struct rp_live_plan plan;
    bool utf8, color;
    char *phase;
    struct lcol cols[MAX_COLS]; /* one per interval, by interval index modulo the ring */
    uint64_t last_col;          /* highest interval index fed + 1 */
    uint64_t unit_us;           /* the interval length */
    struct lev ev[MAX_EVENTS];
    size_t nev;
    struct lfault *faults;
    size_t nfaults;
    struct lzone zones[MAX_ZONES];
    size_t nzones;
};

struct rp_live *rp_live_new(const struct rp_live_plan *plan, bool utf8, bool color)
{
    struct rp_live *lv = xcalloc(1, sizeof(*lv));
    lv->plan = *plan;
    struct rp_live_step *st = xcalloc(plan->nsteps + 1, sizeof(*st));
    if (plan->nsteps)
        memcpy(st, plan->steps, plan->nsteps * sizeof(*st));
    lv->plan.steps = st;
    lv->utf8 = utf8;
    lv->color = color;
    lv->phase = xstrdup("starting");
    lv->unit_us = plan->interval_us ? plan->interval_us : 100000;
    return lv;
}

void rp_live_free(struct rp_live *lv)
{
    if (!lv)
        return;
    free(lv->phase);
    free((void *)lv->plan.steps);
    for (size_t i = 0; i < lv->nev; i++)
        free(lv->ev[i].text);
    for (size_t i = 0; i < lv->nfaults; i++)
        free(lv->faults[i].step);
    free(lv->faults);
    for (size_t i = 0; i < lv->nzones; i++)
        free(lv->zones[i].name);
    free(lv);
}

void rp_live_phase(struct rp_live *lv, const char *phase, uint64_t t_us)
{
    (void)t_us;
    free(lv->phase);
    lv->phase = xstrdup(phase);
}

static struct lfault *fault_of(struct rp_live *lv, const char *step)
{
    for (size_t i = lv->nfaults; i-- > 0;)
        if (step && strcmp(lv->faults[i].step, step) == 0)
            return &lv->faults[i];
    return NULL;
}

void rp_live_event(struct rp_live *lv, enum rp_ev_kind kind, uint64_t t_us, const char *text,
                   const char *step, uint64_t for_us)
{
    if (kind == RP_EV_INJECT && step) {
        lv->faults = xrealloc(lv->faults, (lv->nfaults + 1) * sizeof(*lv->faults));
        lv->faults[lv->nfaults++] =
            (struct lfault){xstrdup(step), t_us, for_us, true, false, false};
    } else if (step) {
        struct lfault *f = fault_of(lv, step);
        if (f && (kind == RP_EV_UNDO || kind == RP_EV_UNDO_FAILED))
            f->active = false;
        if (f && kind == RP_EV_DETECTED)
            f->detected = true;
        if (f && kind == RP_EV_RECOVERED)
            f->recovered = true;
    }
    if (kind == RP_EV_INJECT && for_us == 0 && step) /* instantaneous: nothing to count down */
        lv->faults[lv->nfaults - 1].active = false;
    if (lv->nev == MAX_EVENTS) {
        free(lv->ev[0].text);
        memmove(lv->ev, lv->ev + 1, (MAX_EVENTS - 1) * sizeof(lv->ev[0]));
        lv->nev--;
    }
    /* insert in time order: a detection is announced after later events happened */
    size_t at = lv->nev;
    while (at > 0 && lv->ev[at - 1].t_us > t_us)
        at--;
    memmove(lv->ev + at + 1, lv->ev + at, (lv->nev - at) * sizeof(lv->ev[0]));
    lv->ev[at] = (struct lev){kind, t_us, zd_text_redact(text ? text : "")};
    lv->nev++;
}

void rp_live_zone(struct rp_live *lv, const char *zone, uint32_t healthy, uint32_t total)
{
    if (!zone)
        return;
    for (size_t i = 0; i < lv->nzones; i++)
        if (strcmp(lv->zones[i].name, zone) == 0) {
            lv->zones[i].healthy = healthy;
            lv->zones[i].total = total;
            return;
        }
    if (lv->nzones < MAX_ZONES)
        lv->zones[lv->nzones++] = (struct lzone){xstrdup(zone), healthy, total};
}

void rp_live_interval(struct rp_live *lv, const struct ms_interval *iv)
{
    uint64_t c = iv->start_us / lv->unit_us;
    if (c + MAX_COLS < lv->last_col)
        return; /* older than the ring */
    for (uint64_t k = lv->last_col; k <= c; k++)
        memset(&lv->cols[k % MAX_COLS], 0, sizeof(struct lcol)); /* columns skipped: reset */
    struct lcol *x = &lv->cols[c % MAX_COLS];
    x->total += iv->total;
    x->errors += iv->errors;
    if (iv->p99_us > x->p99_us)
        x->p99_us = iv->p99_us;
    x->p50_us = iv->p50_us > x->p50_us ? iv->p50_us : x->p50_us;
    x->set = true;
    if (c + 1 > lv->last_col)
        lv->last_col = c + 1;
}

bool rp_live_fits(int cols, int rows)
{
    return cols >= 80 && rows >= 24;
}

/* ---- drawing ---- */

/* One screen line: text with escapes, the visible width counted, cut at the limit. */
struct ln {
    struct sbuf *o;
    int w, max;
    bool color;
};

static int u8len(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void put(struct ln *l, const char *sgr, const char *s)
{
    if (l->color && sgr)
        sbuf_addf(l->o, "\033[%sm", sgr);
    for (const char *p = s; *p;) {
        size_t n = 1;
        while ((p[n] & 0xC0) == 0x80)
            n++;
        if (l->w >= l->max)
            break;
        sbuf_add(l->o, p, n);
        l->w++;
        p += n;
    }
    if (l->color && sgr)
        sbuf_adds(l->o, "\033[0m");
}

static void putf(struct ln *l, const char *sgr, const char *fmt, ...) ZD_PRINTF(3, 4);
static void putf(struct ln *l, const char *sgr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    put(l, sgr, s);
    free(s);
}

static void pad_to(struct ln *l, int col)
{
    while (l->w < col && l->w < l->max) {
        sbuf_addc(l->o, ' ');
        l->w++;
    }
}

static void end_line(struct ln *l, bool last)
{
    sbuf_adds(l->o, last ? "\033[K" : "\033[K\n");
    l->w = 0;
}

static void fmt_clock(uint64_t us, char *b, size_t n)
{
    unsigned s = (unsigned)(us / 1000000);
    snprintf(b, n, "%u:%02u", s / 60, s % 60);
}

/* Whether [t, t + len) overlaps a fault that was injected (the charts tint those columns). */
static bool in_fault(const struct rp_live *lv, uint64_t t, uint64_t len)
{
    for (size_t i = 0; i < lv->nfaults; i++) {
        const struct lfault *f = &lv->faults[i];
        uint64_t end = f->for_us ? f->at_us + f->for_us : f->at_us + 1;
        if (t + len > f->at_us && t < end)
            return true;
    }
    return false;
}

/* The chart columns: `span` intervals each, the plan's length across the width (the run so far
 * from the left, like the plan strip above); a run longer than planned scrolls. */
struct cols {
    int width;
    uint64_t span, first; /* intervals per column; the interval index of column 0 */
};

static struct cols columns(const struct rp_live *lv, int width)
{
    struct cols c = {width, 1, 0};
    uint64_t planned = lv->plan.planned_us / lv->unit_us + 1;
    c.span = (planned + (uint64_t)width - 1) / (uint64_t)width;
    if (c.span == 0)
        c.span = 1;
    if ((uint64_t)width * c.span > MAX_COLS) /* the ring holds no more */
        c.span = MAX_COLS / (uint64_t)width;
    uint64_t used = (lv->last_col + c.span - 1) / c.span;
    if (used > (uint64_t)width)
        c.first = (used - (uint64_t)width) * c.span;
    return c;
}

struct agg {
    uint64_t total, errors, p50_us, p99_us;
    size_t n; /* intervals with data */
};

/* Sums intervals [from, to) that the ring still holds. */
static struct agg sum(const struct rp_live *lv, uint64_t from, uint64_t to)
{
    struct agg g = {0};
    if (to > lv->last_col)
        to = lv->last_col;
    if (lv->last_col > MAX_COLS && from < lv->last_col - MAX_COLS)
        from = lv->last_col - MAX_COLS;
    for (uint64_t i = from; i < to; i++) {
        const struct lcol *x = &lv->cols[i % MAX_COLS];
        if (!x->set)
            continue;
        g.total += x->total;
        g.errors += x->errors;
        g.p50_us = x->p50_us > g.p50_us ? x->p50_us : g.p50_us;
        g.p99_us = x->p99_us > g.p99_us ? x->p99_us : g.p99_us;
        g.n++;
    }
    return g;
}

static double rate_of(const struct rp_live *lv, const struct agg *g)
{
    return g->n ? (double)g->total / ((double)g->n * (double)lv->unit_us / 1e6) : 0;
}

static double err_of(const struct agg *g)
{
    return g->total ? (double)g->errors / (double)g->total : 0;
}

static const char *const blocks8[] = {" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
static const char *const ascii8[] = {" ", ".", ".", "-", "-", "=", "=", "#", "#"};

/* A chart of `rows` rows: row r (0 = top) of each column's value scaled to max. */
static void chart_row(struct ln *l, const struct rp_live *lv, const struct cols *cs, int row,
                      int rows, bool errors, double max, double threshold)
{
    for (int c = 0; c < cs->width; c++) {
        uint64_t from = cs->first + (uint64_t)c * cs->span;
        struct agg g = sum(lv, from, from + cs->span);
        bool fault = g.n && in_fault(lv, from * lv->unit_us, cs->span * lv->unit_us);
        double v = g.n ? (errors ? err_of(&g) : rate_of(lv, &g)) : -1;
        double levels = v < 0 ? 0 : max > 0 ? v / max * rows * 8 : 0;
        if (v > 0 && levels < 1)
            levels = 1;
        int from_bottom = rows - 1 - row;
        double cell = levels - from_bottom * 8;
        int k = cell >= 8 ? 8 : cell <= 0 ? 0 : (int)(cell + 0.5);
        if (k == 0 && cell > 0)
            k = 1;
        const char *sgr = errors ? (v > threshold ? "31" : "33") : "36";
        char style[32];
        snprintf(style, sizeof(style), "%s%s", sgr, fault ? ";48;5;237" : "");
        put(l, style, lv->utf8 ? blocks8[k] : ascii8[k]);
    }
}

static const char *kind_glyph(enum rp_ev_kind k, bool utf8, const char **sgr)
{
    switch (k) {
    case RP_EV_INJECT: *sgr = "1;33"; return utf8 ? "▲" : "+";
    case RP_EV_UNDO: *sgr = "32"; return utf8 ? "▼" : "-";
    case RP_EV_DETECTED: *sgr = "1;31"; return utf8 ? "●" : "!";
    case RP_EV_RECOVERED: *sgr = "1;32"; return utf8 ? "✔" : "v";
    case RP_EV_LB: *sgr = "36"; return utf8 ? "◆" : "*";
    case RP_EV_GUARD:
    case RP_EV_UNDO_FAILED:
    case RP_EV_APPLY_FAILED: *sgr = "1;41;97"; return "!";
    case RP_EV_PROBE_FAIL: *sgr = "31"; return utf8 ? "○" : "o";
    case RP_EV_PROBE_OK: *sgr = "32"; return utf8 ? "○" : "o";
    default: *sgr = "2"; return utf8 ? "·" : ".";
    }
}

void rp_live_frame(struct rp_live *lv, uint64_t now_us, int cols, int rows, struct sbuf *o)
{
    struct ln l = {o, 0, cols - 1, lv->color};
    const struct rp_live_plan *p = &lv->plan;
    int used = 0;
    char a[32], b[32];
    sbuf_adds(o, "\033[H");
    /* 1: title, phase, clock */
    put(&l, "1;97;44", " zonedef ");
    put(&l, NULL, " ");
    put(&l, "1", p->scenario ? p->scenario : "");
    fmt_clock(now_us, a, sizeof(a));
    fmt_clock(p->planned_us, b, sizeof(b));
    char right[96];
    bool active = false;
    for (size_t i = 0; i < lv->nfaults; i++)
        active |= lv->faults[i].active;
    const char *ph = active ? "FAULT ACTIVE" : lv->phase;
    snprintf(right, sizeof(right), " %s  %s / %s ", ph, a, b);
    pad_to(&l, l.max - u8len(right));
    put(&l, active ? "1;97;41" : "1;30;47", right);
    end_line(&l, false);
    used++;
    /* 2: the plan strip over the charts' columns: fault windows, elapsed */
    struct cols cs = columns(lv, l.max - 16);
    put(&l, "2", "  plan");
    pad_to(&l, 16);
    for (int c = 0; c < cs.width; c++) {
        uint64_t t = (cs.first + (uint64_t)c * cs.span) * lv->unit_us, len = cs.span * lv->unit_us;
        bool f = false;
        for (size_t i = 0; i < p->nsteps; i++) {
            uint64_t end = p->steps[i].at_us + (p->steps[i].for_us ? p->steps[i].for_us : 1);
            f |= t + len > p->steps[i].at_us && t < end;
        }
        bool past = t <= now_us;
        const char *ch = lv->utf8 ? (f ? "▆" : "━") : (f ? "#" : "=");
        put(&l, past ? (f ? "1;33" : "34") : (f ? "2;33" : "2"), ch);
    }
    end_line(&l, false);
    end_line(&l, false);
    used += 2;
    /* 4-10: charts */
    double rmax = 0, emax = p->steady_error_rate * 2;
    for (int c = 0; c < cs.width; c++) {
        uint64_t from = cs.first + (uint64_t)c * cs.span;
        struct agg g = sum(lv, from, from + cs.span);
        if (!g.n)
            continue;
        rmax = rate_of(lv, &g) > rmax ? rate_of(lv, &g) : rmax;
        emax = err_of(&g) > emax ? err_of(&g) : emax;
    }
    uint64_t nowspan = NOW_US / lv->unit_us ? NOW_US / lv->unit_us : 1;
    struct agg cur = sum(lv, lv->last_col > nowspan ? lv->last_col - nowspan : 0, lv->last_col);
    double now_rate = rate_of(lv, &cur);
    double now_err = err_of(&cur);
    for (int r = 0; r < 3; r++) {
        if (r == 0)
            putf(&l, "1", "  %-10s", "requests/s");
        else if (r == 1)
            putf(&l, "1;36", "  %10.0f", now_rate);
        else
            putf(&l, "2", "  max %6.0f", rmax);
        pad_to(&l, 16);
        chart_row(&l, lv, &cs, r, 3, false, rmax * 1.05, 0);
        end_line(&l, false);
        used++;
    }
    end_line(&l, false);
    used++;
    for (int r = 0; r < 3; r++) {
        if (r == 0)
            putf(&l, "1", "  %-10s", "errors");
        else if (r == 1)
            putf(&l, now_err > p->steady_error_rate ? "1;31" : "1;32", "  %9.1f%%",
                 now_err * 100.0);
        else
            putf(&l, "2", "  max %5.1f%%", emax * 100.0);
        pad_to(&l, 16);
        chart_row(&l, lv, &cs, r, 3, true, emax, p->steady_error_rate);
        end_line(&l, false);
        used++;
    }
    /* latency against the steady state */
    put(&l, "1", "  latency     ");
    if (cur.n) {
        putf(&l, NULL, "p50 %s   ", rp_fmt_us(cur.p50_us, a, sizeof(a)));
        bool bad = p->steady_p99_us && cur.p99_us > p->steady_p99_us;
        putf(&l, bad ? "1;31" : "1;32", "p99 %s", rp_fmt_us(cur.p99_us, a, sizeof(a)));
    } else {
        put(&l, "2", "waiting for the first complete interval");
    }
    putf(&l, "2", "     steady state: errors %s %g%%",
         lv->utf8 ? "≤" : "<=", p->steady_error_rate * 100.0);
    if (p->steady_p99_us)
        putf(&l, "2", ", p99 %s %s",
             lv->utf8 ? "≤" : "<=", rp_fmt_us(p->steady_p99_us, a, sizeof(a)));
    end_line(&l, false);
    end_line(&l, false);
    used += 2;
    /* zones | active faults, side by side */
    put(&l, "1", "  ZONES");
    pad_to(&l, 34);
    put(&l, "1", "FAULTS");
    end_line(&l, false);
    used++;
    size_t nf_shown = 0, fault_rows = lv->nfaults;
    size_t zrows = lv->nzones > fault_rows ? lv->nzones : fault_rows;
    if (zrows == 0)
        zrows = 1;
    if (zrows > 6)
        zrows = 6;
    for (size_t i = 0; i < zrows; i++) {
        put(&l, NULL, "  ");
        if (i < lv->nzones) {
            const struct lzone *z = &lv->zones[i];
            putf(&l, "1", "%-3s", z->name);
            for (uint32_t k = 0; k < z->total && k < 8; k++)
                put(&l, k < z->healthy ? "32" : "31",
                    lv->utf8 ? (k < z->healthy ? "█" : "░") : (k < z->healthy ? "#" : "."));
            putf(&l, NULL, " %u/%u ", z->healthy, z->total);
            put(&l,
                z->healthy == 0         ? "1;31"
                : z->healthy < z->total ? "33"
                                        : "32",
                z->healthy == 0         ? "DOWN"
                : z->healthy < z->total ? "degraded"
                                        : "healthy");
        } else if (i == 0) {
            put(&l, "2", "(the target reports no zones)");
        }
        pad_to(&l, 34);
        /* the newest faults first: active ones matter */
        if (nf_shown < lv->nfaults) {
            const struct lfault *f = &lv->faults[lv->nfaults - 1 - nf_shown++];
            putf(&l, f->active ? "1;33" : "2", "%-18.18s ", f->step);
            if (f->active && f->for_us) {
                uint64_t el = now_us > f->at_us ? now_us - f->at_us : 0;
                if (el > f->for_us)
                    el = f->for_us;
                int bw = 16, full = (int)((double)el / (double)f->for_us * bw);
                for (int k = 0; k < bw; k++)
                    put(&l, k < full ? "33" : "2",
                        lv->utf8 ? (k < full ? "█" : "░") : (k < full ? "#" : "."));
                putf(&l, "1", " %4.1fs left", (double)(f->for_us - el) / 1e6);
            } else {
                put(&l, f->active ? "33" : "2", f->active ? "active" : "undone");
            }
            if (f->recovered)
                put(&l, "32", lv->utf8 ? "  ✔ recovered" : "  recovered");
            else if (f->detected)
                put(&l, "31", lv->utf8 ? "  ● detected" : "  detected");
        } else if (i == 0) {
            put(&l, "2", "none yet");
        }
        end_line(&l, false);
        used++;
    }
    end_line(&l, false);
    put(&l, "1", "  EVENTS");
    end_line(&l, false);
    used += 2;
    /* events fill the rest but the last line */
    int room = rows - used - 1;
    if (room < 1)
        room = 1;
    size_t first = lv->nev > (size_t)room ? lv->nev - (size_t)room : 0;
    int shown = 0;
    for (size_t i = first; i < lv->nev; i++, shown++) {
        const char *sgr;
        const char *g = kind_glyph(lv->ev[i].kind, lv->utf8, &sgr);
        putf(&l, "2", "  %6.1fs ", (double)lv->ev[i].t_us / 1e6);
        put(&l, sgr, g);
        put(&l, NULL, " ");
        put(&l, lv->ev[i].kind == RP_EV_PHASE ? "2" : NULL, lv->ev[i].text);
        end_line(&l, false);
    }
    for (; shown < room; shown++)
        end_line(&l, false);
    put(&l, "2", "  Ctrl-C aborts the run and undoes every fault");
    end_line(&l, true);
    sbuf_adds(o, "\033[J");
}
