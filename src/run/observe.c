/*
 * observe: what the run watches while the faults are on. The probe thread (http and command
 * probes may block for their timeout, so they run beside the main loop and hand results back
 * through a small queue), the load balancer's view (per-zone health, the capacity guard,
 * lb_health probes), and the intervals as they close: journaled, turned into live events,
 * checked against the error-rate guard and the steady state, summed up in progress lines.
 */
#include "run/run_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include <curl/curl.h>

#include "run/journal.h"
#include "load/load.h"
#include "run/measure.h"
#include "run/probe.h"
#include "target/target.h"
#include "base/util.h"

#include "base/banned.h"

/* ---- probes ---- */

void *rn_probe_thread(void *arg)
{
    struct runner *r = arg;
    const struct scn_scenario *s = r->scn;
    while (!r->pstop) {
        uint64_t t = rn_now_us(r);
        for (size_t i = 0; i < s->nprobes && !r->pstop; i++) {
            const struct scn_probe *p = &s->probes[i];
            if (p->kind == SCN_PROBE_LB_HEALTH || t < r->probe_next[i])
                continue;
            r->probe_next[i] = t + (p->interval_us ? p->interval_us : 1000000);
            char *detail = NULL;
            bool ok = probe_run(p, &detail);
            pthread_mutex_lock(&r->mu);
            ZD_GROW(r->q, r->qcap, r->nq + 1);
            r->q[r->nq++] = (struct probe_msg){i, ok, detail, t};
            pthread_mutex_unlock(&r->mu);
        }
        zd_sleep_us(20000);
    }
    return NULL;
}

static void probe_result(struct runner *r, size_t i, bool ok, const char *detail, uint64_t t)
{
    const struct scn_probe *p = &r->scn->probes[i];
    char *err = NULL;
    if (jn_rec_probe(r->jn, p->name, ok, detail, t, &err) < 0) {
        rn_journal_failed(r, err);
        return;
    }
    int now = ok ? 1 : 0;
    if (r->probe_last[i] != now && (r->probe_last[i] != -1 || !ok))
        rn_emit(r, RUN_EV_PROBE, t, "probe %s %s: %s", p->name, ok ? "passes again" : "fails",
                detail ? detail : "");
    r->probe_last[i] = now;
}

void rn_drain_probes(struct runner *r)
{
    pthread_mutex_lock(&r->mu);
    struct probe_msg *q = r->q;
    size_t n = r->nq;
    r->q = NULL;
    r->nq = r->qcap = 0;
    pthread_mutex_unlock(&r->mu);
    for (size_t i = 0; i < n; i++) {
        if (!r->stopping)
            probe_result(r, q[i].probe, q[i].ok, q[i].detail, q[i].t_us);
        free(q[i].detail);
    }
    free(q);
}

/* ---- the load balancer's view: events, capacity guard, lb_health probes ---- */

static const struct tgt_zone_health *zone_in(const struct tgt_inventory *inv, const char *z)
{
    for (size_t i = 0; i < inv->nzones; i++)
        if (inv->zones[i].zone && strcmp(inv->zones[i].zone, z) == 0)
            return &inv->zones[i];
    return NULL;
}

void rn_poll_health(struct runner *r, uint64_t t)
{
    if (!r->ops->health || t < r->next_health_us)
        return;
    r->next_health_us = t + HEALTH_EVERY_US;
    struct tgt_inventory inv = {0};
    char *err = NULL;
    if (r->ops->health(r->ts, &inv, &err) < 0) {
        free(err);
        return;
    }
    uint32_t healthy = 0, total = 0;
    for (size_t i = 0; i < inv.nzones; i++) {
        const struct tgt_zone_health *z = &inv.zones[i];
        healthy += z->healthy;
        total += z->total;
        const struct tgt_zone_health *old = r->lb_known ? zone_in(&r->lb, z->zone) : NULL;
        bool changed = !old || old->healthy != z->healthy || old->total != z->total;
        if (changed) {
            struct sbuf sb = SBUF_INIT; /* journaled for the reports' capacity chart */
            sbuf_addf(&sb, "{\"type\":\"lb\",\"healthy\":%u,\"total\":%u,\"t_us\":%llu,\"zone\":",
                      z->healthy, z->total, (unsigned long long)t);
            sbuf_add_json_str(&sb, z->zone), sbuf_addc(&sb, '}');
            r->jn ? jn_append(r->jn, sbuf_str(&sb), NULL) : 0, sbuf_free(&sb);
            r->xev = (struct run_event){.zone = z->zone, .healthy = z->healthy, .total = z->total};
            rn_emit(r, RUN_EV_LB, t, "load balancer: zone %s %u/%u healthy%s", z->zone, z->healthy,
                    z->total, z->healthy == 0 ? " (routing around it)" : "");
        } else if (old->have_in_service == z->have_in_service && old->in_service == z->in_service) {
            continue;
        }
        res_lb_note(&r->lbs, &r->nlbs, &r->lbcap, t, z->zone, z->healthy, z->total,
                    z->have_in_service ? (long)z->in_service : -1);
    }
    tgt_inventory_free(&r->lb);
    r->lb = inv;
    r->lb_known = true;
    const struct scn_guards *g = &r->scn->guards;
    if (g->min_healthy_fraction >= 0 && total > 0 &&
        (double)healthy / (double)total < g->min_healthy_fraction)
        rn_guard_trip(r, "min_healthy", "healthy capacity %u/%u is below %.0f%%", healthy, total,
                      g->min_healthy_fraction * 100.0);
    /* lb_health probes */
    for (size_t i = 0; i < r->scn->nprobes && !r->stopping; i++) {
        const struct scn_probe *p = &r->scn->probes[i];
        if (p->kind != SCN_PROBE_LB_HEALTH || t < r->probe_next[i])
            continue;
        r->probe_next[i] = t + (p->interval_us ? p->interval_us : 1000000);
        uint32_t h = 0;
        for (size_t k = 0; k < r->lb.nzones; k++)
            if (!p->zone || strcmp(p->zone, r->lb.zones[k].zone) == 0)
                h += r->lb.zones[k].healthy;
        char *d = xasprintf("%u healthy%s%s (want >= %u)", h, p->zone ? " in zone " : "",
                            p->zone ? p->zone : "", p->min_healthy);
        probe_result(r, i, h >= p->min_healthy, d, t);
        free(d);
    }
}

/* ---- intervals: journal, live events, error-rate guard ---- */

static void live_events(struct runner *r)
{
    struct ms_fault_in *f = xcalloc(r->nsteps ? r->nsteps : 1, sizeof(*f));
    struct step_rt **map = xcalloc(r->nsteps ? r->nsteps : 1, sizeof(*map));
    size_t n = 0;
    for (size_t i = 0; i < r->nsteps; i++) {
        struct step_rt *st = &r->steps[i];
        if (!st->applied)
            continue;
        f[n] = (struct ms_fault_in){.name = st->s->name,
                                    .fault = scn_fault_name(st->s->fault),
                                    .inject_us = st->inject_us,
                                    .end_us = st->s->for_us ? st->inject_us + st->s->for_us
                                                            : st->inject_us,
                                    .expect_recovery_us = st->s->expect_recovery_us,
                                    .expect_max_error_rate = -1};
        map[n++] = st;
    }
    if (n == 0) {
        free(f);
        free(map);
        return;
    }
    struct ms_input in = {.iv = r->iv,
                          .n = r->niv,
                          .interval_us = r->I,
                          .steady = rn_steady_of(r->scn),
                          .faults = f,
                          .nfaults = n,
                          .expect = {.availability = -1, .max_error_rate = -1, .min_score = -1}};
    struct ms_result m;
    if (ms_compute(&in, &m, NULL) == 0) {
        for (size_t i = 0; i < n; i++) {
            struct step_rt *st = map[i];
            const struct ms_fault_out *o = &m.faults[i];
            if (o->detected && !st->announced_detect) {
                st->announced_detect = true;
                char p[32];
                rn_fmt_ms(p, sizeof(p), o->detect_p99_us);
                r->xev.step = st->s->name;
                rn_emit(r, RUN_EV_DETECTED, st->inject_us + o->ttd_us,
                        "detected %s: error rate %.1f%%, p99 %s (TTD %.1fs)", st->s->name,
                        o->detect_error_rate * 100.0, p, (double)o->ttd_us / 1e6);
            }
            if (o->recovered && !st->announced_recover &&
                (o->detected || st->state == ST_DONE || st->s->for_us == 0)) {
                st->announced_recover = true;
                r->xev.step = st->s->name;
                if (o->detected)
                    rn_emit(r, RUN_EV_RECOVERED, st->inject_us + o->ttr_us,
                            "recovered from %s: users see the steady state again (TTR %.1fs)",
                            st->s->name, (double)o->ttr_us / 1e6);
                else
                    rn_emit(r, RUN_EV_RECOVERED, st->inject_us,
                            "%s: no impact on users (steady state held)", st->s->name);
            }
        }
        ms_result_free(&m);
    }
    free(f);
    free(map);
}

/* Journals every newly complete interval (all of them when `all`); runs the error-rate guard
 * and the live detection/recovery events on them. */
void rn_collect(struct runner *r, bool all)
{
    size_t upto = all ? tl_len(r->tl) : tl_complete(r->tl);
    bool added = false;
    while (r->niv < upto) {
        struct tl_stats st;
        if (tl_get(r->tl, r->niv, &st) < 0)
            break;
        char *err = NULL;
        if (jn_rec_interval(r->jn, r->niv, &st, &err) < 0) {
            rn_journal_failed(r, err);
            return;
        }
        ZD_GROW(r->iv, r->ivcap, r->niv + 1);
        rn_to_ms_interval(&st, &r->iv[r->niv]);
        r->niv++;
        r->xev = (struct run_event){.iv = &r->iv[r->niv - 1]};
        rn_emit(r, RUN_EV_INTERVAL, st.start_us, "interval %zu complete", r->niv - 1);
        added = true;
    }
    if (!added)
        return;
    const struct scn_guards *g = &r->scn->guards;
    if (g->abort_error_rate >= 0 && !r->stopping && !all) {
        size_t span = (size_t)((g->abort_for_us + r->I - 1) / r->I);
        if (span == 0)
            span = 1;
        if (r->niv >= span) {
            struct ms_range rg;
            ms_range_of(r->iv, r->niv, r->I, r->niv - span, r->niv, &rg);
            if (rg.requests > 0 && rg.error_rate > g->abort_error_rate) {
                char d[32];
                rn_guard_trip(r, "error_rate", "error rate %.1f%% above %g%% for %s",
                              rg.error_rate * 100.0, g->abort_error_rate * 100.0,
                              zd_fmt_duration(g->abort_for_us, d, sizeof(d)));
            }
        }
    }
    if (!r->stopping)
        live_events(r);
}

/* After the load stopped: an interval journaled as complete that gained results afterwards (a
 * request recorded later than the engine promised) is journaled again; the reader keeps the last
 * record of an interval, so the measurements see every request. */
void rn_recheck(struct runner *r)
{
    size_t fixed = 0;
    for (size_t i = 0; i < r->niv; i++) {
        struct tl_stats st;
        struct ms_interval x;
        if (tl_get(r->tl, i, &st) < 0)
            continue;
        rn_to_ms_interval(&st, &x);
        if (memcmp(&x, &r->iv[i], sizeof(x)) == 0)
            continue;
        char *err = NULL;
        if (jn_rec_interval(r->jn, i, &st, &err) < 0) {
            rn_journal_failed(r, err);
            return;
        }
        r->iv[i] = x;
        fixed++;
    }
    if (fixed)
        rn_emit(r, RUN_EV_WARN, rn_now_us(r),
                "%zu interval%s gained results after they were reported complete; journaled again",
                fixed, fixed == 1 ? "" : "s");
}

void rn_progress(struct runner *r, uint64_t t)
{
    if (t < r->next_progress_us)
        return;
    r->next_progress_us = t + PROGRESS_EVERY_US;
    size_t span = (size_t)(PROGRESS_EVERY_US / r->I);
    if (r->niv == 0)
        return;
    size_t from = r->niv > span ? r->niv - span : 0;
    struct ms_range rg;
    ms_range_of(r->iv, r->niv, r->I, from, r->niv, &rg);
    double secs = (double)(rg.to_us - rg.from_us) / 1e6;
    char p50[32], p99[32];
    rn_fmt_ms(p50, sizeof(p50), rg.p50_us);
    rn_fmt_ms(p99, sizeof(p99), rg.p99_us);
    rn_emit(r, RUN_EV_PROGRESS, rg.to_us,
            "traffic: %.0f req/s, errors %.1f%%, p50 %s, p99 %s (%.1fs-%.1fs)",
            secs > 0 ? (double)rg.requests / secs : 0.0, rg.error_rate * 100.0, p50, p99,
            (double)rg.from_us / 1e6, (double)rg.to_us / 1e6);
}

/* The steady state over the last `hold` before now, read from the live timeline (intervals
 * still completing included: what has finished counts). */
bool rn_steady_before(struct runner *r, uint64_t t, char **why, struct ms_range *rg)
{
    size_t to = (size_t)(t / r->I);
    size_t len = tl_len(r->tl);
    if (to > len)
        to = len;
    size_t h = (size_t)((r->scn->steady.hold_us + r->I - 1) / r->I);
    size_t from = to > h ? to - h : 0;
    struct ms_interval *x = xcalloc(to ? to : 1, sizeof(*x));
    for (size_t i = from; i < to; i++) {
        struct tl_stats st;
        if (tl_get(r->tl, i, &st) == 0)
            rn_to_ms_interval(&st, &x[i]);
    }
    struct ms_steady sd = rn_steady_of(r->scn);
    ms_range_of(x, to, r->I, from, to, rg);
    bool ok = ms_hold_inside(x, to, from, to, r->I, &sd, why);
    if (ok && rg->requests == 0) {
        free(*why);
        *why = xstrdup("no request completed before the first fault");
        ok = false;
    }
    free(x);
    return ok;
}
