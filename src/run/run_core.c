/*
 * run_core: what every part of a run calls: events handed to the caller (with the extras of the
 * next event), stopping the run with a status and a reason, tripping a guard, a journal write
 * that failed, and the small conversions the measurements need.
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

void rn_emit(struct runner *r, enum run_event_kind k, uint64_t t, const char *fmt, ...)
{
    if (!r->o->on_event)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *text = xvasprintf(fmt, ap);
    va_end(ap);
    struct run_event ev = r->xev;
    ev.kind = k, ev.t_us = t, ev.text = text, r->xev = (struct run_event){0};
    r->o->on_event(r->o->ctx, &ev);
    free(text);
}

uint64_t rn_now_us(struct runner *r)
{
    return r->load ? load_elapsed_us(r->load) : 0;
}

/* Ends the run early with a status; the first reason wins. */
void rn_stop_run(struct runner *r, enum run_status s, const char *fmt, ...)
{
    if (r->stopping)
        return;
    r->stopping = true;
    r->status = s;
    va_list ap;
    va_start(ap, fmt);
    r->reason = xvasprintf(fmt, ap);
    va_end(ap);
}

void rn_guard_trip(struct runner *r, const char *guard, const char *fmt, ...)
{
    if (r->stopping)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *detail = xvasprintf(fmt, ap);
    va_end(ap);
    uint64_t t = rn_now_us(r);
    if (r->jn)
        jn_rec_guard(r->jn, guard, detail, t, NULL);
    rn_emit(r, RUN_EV_GUARD, t, "abort: %s; undoing every fault", detail);
    rn_stop_run(r, RUN_ABORTED, "aborted: %s", detail);
    free(detail);
}

void rn_journal_failed(struct runner *r, char *err)
{
    rn_emit(r, RUN_EV_ERROR, rn_now_us(r), "journal: %s", err);
    rn_stop_run(r, RUN_ERROR, "cannot write the journal: %s", err);
    free(err);
}

void rn_fmt_ms(char *buf, size_t n, uint64_t us)
{
    if (us < 10000)
        snprintf(buf, n, "%.1fms", (double)us / 1e3);
    else if (us < 1000000)
        snprintf(buf, n, "%.0fms", (double)us / 1e3);
    else
        snprintf(buf, n, "%.2fs", (double)us / 1e6);
}

void rn_to_ms_interval(const struct tl_stats *st, struct ms_interval *x)
{
    memset(x, 0, sizeof(*x));
    x->start_us = st->start_us;
    x->total = st->total;
    x->errors = st->errors;
    x->not_sent = st->counts[TL_NOT_SENT];
    x->p50_us = st->p50_us;
    x->p90_us = st->p90_us;
    x->p99_us = st->p99_us;
    x->max_us = st->max_us;
}

struct ms_steady rn_steady_of(const struct scn_scenario *s)
{
    return (struct ms_steady){s->steady.error_rate, s->steady.p99_us, s->steady.window_us,
                              s->steady.hold_us};
}
