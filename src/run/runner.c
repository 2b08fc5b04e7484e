/*
 * runner: the scheduler that turns a scenario into a run.
 *
 *   checks     every step's fault is one the target can do; the target opens and resolves;
 *   lock       one run per target (state.c: flock on a file in the state dir; dies with the
 *              process);
 *   registry   a crashed run's directory stays registered (state.c), so the next run on the same
 *              target refuses to start until `zonedef recover` has undone what it left;
 *   load       starts with the run (t = 0 is the load's clock; step times count from it);
 *   steady     at the first fault's time, the last `hold` of traffic must be inside the steady
 *              state, or nothing is broken and the run ends with exit 1;
 *   faults     prepare -> journal intent (fsync) -> apply -> journal applied; undone when their
 *              `for` ends (undo_intent -> undo -> undone); instantaneous ones at the end;
 *   guards     error rate, healthy capacity, max_duration, kill-switch file, SIGINT/SIGTERM:
 *              everything applied is undone (signals blocked meanwhile) and the run exits 3;
 *   measure    after the settle time the load stops, the last intervals are journaled, and the
 *              result is computed *from the journal* (the same code as report --recompute).
 *
 * The main loop ticks every 10 ms on one thread, which is the only one that talks to the
 * target. HTTP and command probes run on a thread of their own because they may block for their
 * timeout; they hand results back through a small queue.
 */
#include "run/runner.h"
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

/* ---- status ---- */

const char *run_status_name(enum run_status s)
{
    switch (s) {
    case RUN_PASSED: return "passed";
    case RUN_FAILED: return "failed";
    case RUN_UNSTEADY: return "unsteady";
    case RUN_INVALID: return "invalid";
    case RUN_ABORTED: return "aborted";
    case RUN_UNDO_FAILED: return "undo_failed";
    case RUN_OPEN_FAULTS: return "open_faults";
    case RUN_BUSY: return "busy";
    case RUN_ERROR: return "error";
    }
    return "error";
}

int run_status_exit(enum run_status s)
{
    switch (s) {
    case RUN_PASSED: return 0;
    case RUN_FAILED:
    case RUN_UNSTEADY: return 1;
    case RUN_INVALID: return 2;
    case RUN_ABORTED: return 3;
    case RUN_UNDO_FAILED:
    case RUN_OPEN_FAULTS: return 4;
    case RUN_BUSY:
    case RUN_ERROR: return 5;
    }
    return 5;
}

void run_outcome_free(struct run_outcome *o)
{
    if (!o)
        return;
    free(o->reason);
    free(o->result_path);
    if (o->have_doc)
        res_free(&o->doc);
    memset(o, 0, sizeof(*o));
}

/* ---- the run ---- */

/* ---- faults ---- */

static int inject(struct runner *r, struct step_rt *st)
{
    const struct scn_step *s = st->s;
    const char *fname = scn_fault_name(s->fault);
    char *err = NULL;
    if (st->spike) {
        st->action = xasprintf("{\"kind\":\"runner\",\"fault\":\"traffic_spike\",\"rate\":%.17g,"
                               "\"base_rate\":%.17g,\"ramp_us\":%llu}",
                               s->rate, r->base_rate, (unsigned long long)s->ramp_us);
        st->summary = xasprintf("traffic spike from %g to %g req/s", r->base_rate, s->rate);
    } else if (r->ops->prepare(r->ts, s, &st->action, &st->summary, &err) < 0) {
        rn_emit(r, RUN_EV_ERROR, rn_now_us(r), "cannot prepare %s: %s", s->name, err);
        rn_stop_run(r, RUN_ERROR, "%s:%d:%d: cannot prepare step '%s': %s", r->scn->path,
                    s->loc.line, s->loc.col, s->name, err);
        free(err);
        return -1;
    }
    uint64_t t = rn_now_us(r);
    uint64_t wall = zd_wall_us();
    if (jn_rec_intent(r->jn, st->idx, s->name, fname, s->for_us, st->action, st->summary, t, wall,
                      &err) < 0) {
        rn_journal_failed(r, err);
        return -1;
    }
    st->state = ST_ACTIVE; /* from here on it may be applied: always undone */
    st->inject_us = t;
    r->xev = (struct run_event){.step = s->name, .for_us = s->for_us};
    rn_emit(r, RUN_EV_INJECT, t, "inject %s %s: %s", fname, s->name, st->summary);
    int rc = 0;
    char *note = NULL;
    if (st->spike)
        load_set_rate(r->load, s->rate, s->ramp_us);
    else if (r->ops->apply_noted)
        rc = r->ops->apply_noted(r->ts, st->action, &note, &err);
    else
        rc = r->ops->apply(r->ts, st->action, &err);
    uint64_t t2 = rn_now_us(r);
    char *jerr = NULL;
    int jrc = jn_rec_applied(r->jn, st->idx, rc == 0, rc == 0 ? NULL : err, note, t2, zd_wall_us(),
                             &jerr);
    free(st->note);
    st->note = note;
    if (jrc < 0) {
        free(err);
        rn_journal_failed(r, jerr);
        return -1;
    }
    if (rc < 0) {
        rn_emit(r, RUN_EV_ERROR, t2, "cannot inject %s: %s", s->name, err);
        rn_stop_run(r, RUN_ERROR, "cannot inject step '%s' (%s): %s", s->name, fname, err);
        free(err);
        return -1;
    }
    st->applied = true;
    st->end_us = s->for_us ? t + s->for_us : 0;
    return 0;
}

static int undo(struct runner *r, struct step_rt *st)
{
    const struct scn_step *s = st->s;
    uint64_t t = rn_now_us(r);
    char *err = NULL;
    /* the undo goes ahead even if the journal cannot take the record: undoing matters more */
    if (jn_rec_undo_intent(r->jn, st->idx, "run", t, zd_wall_us(), &err) < 0) {
        rn_emit(r, RUN_EV_WARN, t, "journal: %s", err);
        free(err);
        err = NULL;
    }
    int rc = 0;
    if (st->spike)
        load_set_rate(r->load, r->base_rate, s->ramp_us);
    else if (r->ops->undo_noted)
        rc = r->ops->undo_noted(r->ts, st->action, st->note, &err);
    else
        rc = r->ops->undo(r->ts, st->action, &err);
    uint64_t t2 = rn_now_us(r);
    char *jerr = NULL;
    if (jn_rec_undone(r->jn, st->idx, rc == 0, rc == 0 ? NULL : err, "run", t2, zd_wall_us(),
                      &jerr) < 0) {
        rn_emit(r, RUN_EV_WARN, t2, "journal: %s", jerr);
        free(jerr);
    }
    st->state = ST_DONE;
    st->undo_us = t;
    if (rc < 0) {
        rn_emit(r, RUN_EV_ERROR, t2, "undo of %s failed: %s", s->name, err);
        if (r->undo_errors.len)
            sbuf_adds(&r->undo_errors, "; ");
        sbuf_addf(&r->undo_errors, "%s (%s): %s", s->name, st->summary, err);
        r->undo_failed = true;
        free(err);
        return -1;
    }
    r->xev.step = s->name;
    rn_emit(r, RUN_EV_UNDO, t, "undone %s %s: %s", scn_fault_name(s->fault), s->name, st->summary);
    return 0;
}

/* Undoes everything that may be applied, newest first, with SIGINT/SIGTERM blocked so a second
 * Ctrl-C cannot interrupt an undo half-way (the handler only sets a flag anyway). */
static void undo_all(struct runner *r, bool only_instant)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    for (size_t i = r->nsteps; i-- > 0;) {
        struct step_rt *st = &r->steps[i];
        if (st->state != ST_ACTIVE)
            continue;
        if (only_instant && st->end_us != 0)
            continue;
        undo(r, st);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---- set-up ---- */

static bool prepare_target(struct runner *r)
{
    const struct scn_scenario *s = r->scn;
    static const char *const kinds[] = {"lab", "ssh", "aws"};
    r->ops = tgt_ops_for(s->target.kind);
    if (!r->ops) {
        rn_stop_run(r, RUN_INVALID, "%s:%d:%d: target kind '%s' is not available in this build",
                    s->path, s->target.loc.line, s->target.loc.col, kinds[s->target.kind]);
        return false;
    }
    for (size_t i = 0; i < s->nsteps; i++) {
        const struct scn_step *st = &s->steps[i];
        if (st->fault == SCN_FAULT_TRAFFIC_SPIKE || r->ops->supports(st->fault))
            continue;
        rn_stop_run(r, RUN_INVALID, "%s:%d:%d: the %s target cannot do '%s' (step '%s')", s->path,
                    st->loc.line, st->loc.col, r->ops->kind, scn_fault_name(st->fault), st->name);
        return false;
    }
    char *err = NULL;
    int orc = r->ops->open(&s->target, &r->ts, &err);
    if (orc < 0) {
        rn_stop_run(r, orc == -2 ? RUN_INVALID : RUN_ERROR, "cannot open the %s target: %s",
                    r->ops->kind, err);
        free(err);
        return false;
    }
    r->key = r->ops->key(r->ts);
    struct tgt_inventory inv = {0};
    if (r->ops->resolve(r->ts, &inv, &err) < 0) {
        rn_stop_run(r, RUN_ERROR, "cannot resolve the %s target: %s", r->ops->kind, err);
        free(err);
        return false;
    }
    size_t healthy = 0;
    for (size_t i = 0; i < inv.ninst; i++)
        healthy += inv.inst[i].healthy;
    rn_emit(r, RUN_EV_INFO, 0, "target %s (%s): %zu instances in %zu zones, %zu healthy",
            r->ops->kind, r->key, inv.ninst, inv.nzones, healthy);
    tgt_inventory_free(&inv);
    return true;
}

/* Refuses when a crashed run left faults on this target (called with the lock held, so every
 * registered run on this key is dead). Registered runs with nothing open are forgotten. */
static bool check_open_faults(struct runner *r)
{
    char **dirs = NULL;
    size_t n = 0;
    char *err = NULL;
    if (run_registry_list(r->state_dir, &dirs, &n, &err) < 0) {
        rn_stop_run(r, RUN_ERROR, "%s", err);
        free(err);
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        char *jp = xasprintf("%s/journal.jsonl", dirs[i]);
        struct jn_run jr;
        if (jn_read(jp, &jr, NULL) == 0) {
            if (jr.target_key && strcmp(jr.target_key, r->key) == 0) {
                size_t open = jn_open_faults(&jr);
                if (open > 0 && ok) {
                    rn_stop_run(r, RUN_OPEN_FAULTS,
                                "an earlier run left %zu fault%s applied on %s (%s): run "
                                "'zonedef recover' first",
                                open, open == 1 ? "" : "s", r->key, dirs[i]);
                    ok = false;
                } else if (open == 0) {
                    run_registry_remove(r->state_dir, dirs[i]);
                }
            }
            jn_run_free(&jr);
        } else if (!zd_file_exists(jp)) {
            run_registry_remove(r->state_dir, dirs[i]); /* its directory is gone */
        }
        free(jp);
        free(dirs[i]);
    }
    free(dirs);
    return ok;
}

static struct load *start_load(struct runner *r, char **err)
{
    const struct scn_load *L = &r->scn->load;
    struct load_header *h = xcalloc(L->nheaders ? L->nheaders : 1, sizeof(*h));
    for (size_t i = 0; i < L->nheaders; i++)
        h[i] = (struct load_header){L->headers[i].key, L->headers[i].value};
    int *lo = xcalloc(L->nexpect_status ? L->nexpect_status : 1, sizeof(int));
    int *hi = xcalloc(L->nexpect_status ? L->nexpect_status : 1, sizeof(int));
    for (size_t i = 0; i < L->nexpect_status; i++) {
        lo[i] = L->expect_status[i].lo;
        hi[i] = L->expect_status[i].hi;
    }
    uint64_t maxd = r->scn->guards.max_duration_us ? r->scn->guards.max_duration_us : 600000000;
    struct load_opts o = {
        .url = r->scn->target.url,
        .method = L->method,
        .headers = h,
        .nheaders = L->nheaders,
        .body = L->body,
        .body_len = L->body ? strlen(L->body) : 0,
        .rate = L->rate,
        .ramp_us = L->ramp_us,
        .duration_us = 0,
        .connections = L->connections,
        .threads = L->threads,
        .max_in_flight = L->max_in_flight,
        .timeout_us = L->timeout_us,
        .connect_timeout_us = L->connect_timeout_us,
        .expect_lo = lo,
        .expect_hi = hi,
        .nexpect = L->nexpect_status,
        .expect_body = L->expect_body,
        .http2 = L->http2,
        .insecure = L->insecure,
        .ca_file = L->ca_file,
        .engine = L->engine == SCN_ENGINE_NATIVE ? LOAD_ENGINE_NATIVE
                  : L->engine == SCN_ENGINE_CURL ? LOAD_ENGINE_CURL
                                                 : LOAD_ENGINE_AUTO,
        .interval_us = r->I,
        .max_intervals = (size_t)((maxd + 60000000) / r->I) + 16,
    };
    struct load *l = load_start(&o, err);
    free(h);
    free(lo);
    free(hi);
    return l;
}

static int write_start(struct runner *r, uint64_t wall0, uint64_t mono0, char **err)
{
    const struct scn_scenario *s = r->scn;
    struct jn_step *js = xcalloc(s->nsteps ? s->nsteps : 1, sizeof(*js));
    for (size_t i = 0; i < s->nsteps; i++) {
        const struct scn_step *st = &s->steps[i];
        js[i] = (struct jn_step){st->name,
                                 (char *)scn_fault_name(st->fault),
                                 st->at_us,
                                 st->for_us,
                                 st->expect_recovery_us,
                                 st->expect_detect_us,
                                 st->expect_max_error_rate};
    }
    struct jn_start js0 = {
        .scenario_path = s->path,
        .scenario_name = s->name,
        .target_kind = r->ops->kind,
        .target_key = r->key,
        .run_dir = r->run_dir,
        .wall_us = wall0,
        .mono_us = mono0,
        .interval_us = r->I,
        .rate = s->load.rate,
        .warmup_us = s->warmup_us,
        .settle_us = s->settle_us,
        .steady = rn_steady_of(s),
        .expect = {s->expect.recovery_us, s->expect.detect_us, s->expect.availability,
                   s->expect.max_error_rate, s->expect.p99_us, s->expect.min_score},
        .steps = js,
        .nsteps = s->nsteps,
    };
    int rc = jn_rec_start(r->jn, &js0, err);
    free(js);
    return rc;
}

/* ---- dry run ---- */

static void dry_run(struct runner *r)
{
    const struct scn_scenario *s = r->scn;
    char a[32], b[32], c[32];
    rn_emit(r, RUN_EV_INFO, 0, "load: %g req/s to %s, %u connections, timeout %s", s->load.rate,
            s->target.url, s->load.connections, zd_fmt_duration(s->load.timeout_us, a, sizeof(a)));
    rn_emit(r, RUN_EV_INFO, 0,
            "steady state: error rate <= %g%%%s%s, window %s, hold %s; warm-up %s",
            s->steady.error_rate * 100.0, s->steady.p99_us ? ", p99 <= " : "",
            s->steady.p99_us ? zd_fmt_duration(s->steady.p99_us, a, sizeof(a)) : "",
            zd_fmt_duration(s->steady.window_us, b, sizeof(b)),
            zd_fmt_duration(s->steady.hold_us, c, sizeof(c)),
            zd_fmt_duration(s->warmup_us, a, sizeof(a)));
    for (size_t i = 0; i < s->nsteps; i++) {
        const struct scn_step *st = &s->steps[i];
        char *action = NULL, *summary = NULL, *err = NULL;
        if (st->fault == SCN_FAULT_TRAFFIC_SPIKE) {
            summary = xasprintf("traffic spike from %g to %g req/s", s->load.rate, st->rate);
        } else if (r->ops->prepare(r->ts, st, &action, &summary, &err) < 0) {
            rn_stop_run(r, RUN_ERROR, "%s:%d:%d: cannot prepare step '%s': %s", s->path,
                        st->loc.line, st->loc.col, st->name, err);
            free(err);
            return;
        }
        if (st->for_us)
            rn_emit(r, RUN_EV_INJECT, st->at_us, "would inject %s %s: %s, and undo it at %.1fs",
                    scn_fault_name(st->fault), st->name, summary,
                    (double)(st->at_us + st->for_us) / 1e6);
        else
            rn_emit(r, RUN_EV_INJECT, st->at_us, "would inject %s %s: %s",
                    scn_fault_name(st->fault), st->name, summary);
        free(action);
        free(summary);
    }
    rn_emit(r, RUN_EV_INFO, r->run_end_us, "would settle %s and stop at %.1fs",
            zd_fmt_duration(s->settle_us, a, sizeof(a)), (double)r->run_end_us / 1e6);
    r->status = RUN_PASSED;
}

/* ---- the main loop ---- */

static bool all_timed_done(const struct runner *r)
{
    for (size_t i = 0; i < r->nsteps; i++) {
        const struct step_rt *st = &r->steps[i];
        if (st->state == ST_PENDING || (st->state == ST_ACTIVE && st->end_us != 0))
            return false;
    }
    return true;
}

/* The guards that need no measurement: a signal, the kill-switch file, max_duration. Checked
 * at every tick and again after injects and undos, which may take a while (an exec command runs
 * up to 60 s): a run that overran max_duration while one ran is aborted, not finished. */
static bool guard_stop(struct runner *r, uint64_t t)
{
    const struct scn_guards *g = &r->scn->guards;
    char a[32];
    if (r->o->stop && *r->o->stop) {
        rn_guard_trip(r, "signal", "interrupted by a signal (SIGINT/SIGTERM)");
        return true;
    }
    if (g->kill_switch && zd_file_exists(g->kill_switch)) {
        rn_guard_trip(r, "kill_switch", "kill-switch file '%s' exists", g->kill_switch);
        return true;
    }
    if (g->max_duration_us && t >= g->max_duration_us) {
        rn_guard_trip(r, "max_duration", "the run reached max_duration %s",
                      zd_fmt_duration(g->max_duration_us, a, sizeof(a)));
        return true;
    }
    return false;
}

static void main_loop(struct runner *r)
{
    const struct scn_scenario *s = r->scn;
    uint64_t first_at = r->nsteps ? r->steps[0].s->at_us : UINT64_MAX;
    bool checked = r->nsteps == 0;
    char a[32];
    rn_emit(r, RUN_EV_PHASE, 0, "warm-up: %g req/s through %s for %s (baseline)", s->load.rate,
            s->target.url, zd_fmt_duration(r->nsteps ? first_at : s->warmup_us, a, sizeof(a)));
    while (!r->stopping) {
        uint64_t t = rn_now_us(r);
        if (guard_stop(r, t))
            break;
        rn_collect(r, false);
        rn_poll_health(r, t);
        rn_drain_probes(r);
        if (r->stopping)
            break;
        if (!r->o->stop || !*r->o->stop)
            rn_progress(r, t);
        if (!checked && t >= first_at) {
            char *why = NULL;
            struct ms_range rg;
            if (!rn_steady_before(r, t, &why, &rg)) {
                rn_emit(r, RUN_EV_ERROR, t, "steady state does not hold before the first fault: %s",
                        why);
                rn_stop_run(r, RUN_UNSTEADY,
                            "the steady state did not hold before the first fault (%s): nothing "
                            "was broken",
                            why);
                free(why);
                break;
            }
            free(why);
            char p[32];
            rn_fmt_ms(p, sizeof(p), rg.p99_us);
            rn_emit(r, RUN_EV_INFO, t,
                    "steady state holds: error rate %.2f%%, p99 %s over the "
                    "last %.1fs; breaking things now",
                    rg.error_rate * 100.0, p, (double)(rg.to_us - rg.from_us) / 1e6);
            checked = true;
        }
        for (size_t i = 0; i < r->nsteps && checked && !r->stopping; i++) {
            struct step_rt *st = &r->steps[i];
            if (st->state == ST_PENDING && t >= st->s->at_us)
                inject(r, st);
        }
        for (size_t i = 0; i < r->nsteps && !r->stopping; i++) {
            struct step_rt *st = &r->steps[i];
            if (st->state == ST_ACTIVE && st->end_us && rn_now_us(r) >= st->end_us)
                undo(r, st);
        }
        if (r->stopping || guard_stop(r, rn_now_us(r)))
            break;
        if (all_timed_done(r) && r->nsteps && !r->settle_announced) {
            r->settle_announced = true;
            rn_emit(r, RUN_EV_PHASE, rn_now_us(r),
                    "settle: no fault left to undo on schedule; %s to go",
                    zd_fmt_duration(r->run_end_us > rn_now_us(r) ? r->run_end_us - rn_now_us(r) : 0,
                                    a, sizeof(a)));
        }
        if (all_timed_done(r) && rn_now_us(r) >= r->run_end_us)
            break;
        zd_sleep_us(TICK_US);
    }
}

/* ---- results ---- */

/* The `load` record: the engine and what connecting cost, for result.json. */
static void write_load(struct runner *r)
{
    struct load_totals t;
    load_totals(r->load, &t);
    struct jn_load l = {
        .engine = (char *)load_engine_name(r->load),
        .engine_why = (char *)load_engine_why(r->load),
        .connections = r->scn->load.connections,
        .threads = load_threads(r->load),
        .conns_opened = t.conns_opened,
        .retried = t.retried,
        .bytes_received = t.bytes_received,
        .achieved_rate = t.achieved_rate,
        .lateness_p99_us = t.lateness_p99_us,
        .lateness_max_us = t.lateness_max_us,
        .connects = t.connects,
        .connect_p50_us = t.connect_p50_us,
        .connect_p99_us = t.connect_p99_us,
        .tls_handshakes = t.tls_handshakes,
        .tls_resumed = t.tls_resumed,
        .tls_failed = t.tls_failed,
        .handshake_p50_us = t.handshake_p50_us,
        .handshake_p99_us = t.handshake_p99_us,
    };
    char *err = NULL;
    if (jn_rec_load(r->jn, &l, rn_now_us(r), &err) < 0) {
        rn_emit(r, RUN_EV_WARN, rn_now_us(r), "journal: %s", err);
        free(err);
    }
}

static void finish(struct runner *r, struct run_outcome *out)
{
    char *err = NULL;
    struct jn_run jr;
    if (jn_read(r->jpath, &jr, &err) < 0) {
        if (!r->reason)
            r->reason = xasprintf("cannot read back the journal: %s", err);
        if (r->status == RUN_PASSED)
            r->status = RUN_ERROR;
        free(err);
        return;
    }
    struct ms_input in;
    struct ms_fault_in *fs = NULL;
    struct ms_result m;
    if (jn_measure_input(&jr, &in, &fs, &err) < 0 || ms_compute(&in, &m, &err) < 0) {
        r->status = RUN_ERROR;
        if (!r->reason)
            r->reason = xasprintf("cannot measure: %s", err);
        free(err);
        free(fs);
        jn_run_free(&jr);
        return;
    }
    if (r->undo_failed) {
        r->status = RUN_UNDO_FAILED;
        free(r->reason);
        r->reason = xasprintf("undo failed: %s; 'zonedef recover %s' retries",
                              sbuf_str(&r->undo_errors), r->run_dir);
    } else if (!r->stopping) {
        r->status = m.passed ? RUN_PASSED : RUN_FAILED;
        if (!m.passed) {
            struct sbuf sb = SBUF_INIT;
            for (size_t i = 0; i < m.nchecks; i++)
                if (!m.checks[i].passed)
                    sbuf_addf(&sb, "%s%s: want %s, got %s", sb.len ? "; " : "", m.checks[i].name,
                              m.checks[i].want, m.checks[i].got);
            r->reason = xasprintf("expectations not met: %s", sbuf_str(&sb));
            sbuf_free(&sb);
        }
    }
    res_build(&jr, &m, run_status_name(r->status), run_status_exit(r->status), r->reason,
              &out->doc);
    res_add_lb(&out->doc, r->lbs, r->nlbs);
    out->doc.command = r->o->command_line ? xstrdup(r->o->command_line) : NULL;
    out->have_doc = true;
    char *json = res_to_json(&out->doc);
    out->result_path = xasprintf("%s/result.json", r->run_dir);
    if (zd_write_file_atomic(out->result_path, json, strlen(json), &err) < 0) {
        rn_emit(r, RUN_EV_ERROR, rn_now_us(r), "%s", err);
        free(err);
        err = NULL;
    }
    free(json);
    if (jn_rec_end(r->jn, run_status_name(r->status), run_status_exit(r->status), m.score.total,
                   m.passed, rn_now_us(r), zd_wall_us(), &err) < 0) {
        rn_emit(r, RUN_EV_WARN, rn_now_us(r), "journal: %s", err);
        free(err);
    }
    ms_result_free(&m);
    free(fs);
    jn_run_free(&jr);
}

static void cleanup(struct runner *r)
{
    if (r->pthr_started) {
        r->pstop = 1;
        pthread_join(r->pthr, NULL);
        r->pthr_started = false;
        rn_drain_probes(r);
    }
    if (r->load) {
        load_stop(r->load);
        load_free(r->load);
        r->load = NULL;
    }
    jn_close(r->jn);
    r->jn = NULL;
    if (r->ts && r->ops)
        r->ops->close(r->ts);
    r->ts = NULL;
    run_unlock(r->lock_fd);
    r->lock_fd = -1;
    tgt_inventory_free(&r->lb);
    res_lb_free(r->lbs, r->nlbs);
    for (size_t i = 0; i < r->nsteps; i++) {
        free(r->steps[i].action);
        free(r->steps[i].note);
        free(r->steps[i].summary);
    }
    free(r->steps);
    free(r->iv);
    free(r->key);
    free(r->state_dir);
    free(r->run_dir);
    free(r->jpath);
    free(r->probe_last);
    free(r->probe_next);
    sbuf_free(&r->undo_errors);
    pthread_mutex_destroy(&r->mu);
}

int run_scenario(const struct run_opts *o, struct run_outcome *out)
{
    memset(out, 0, sizeof(*out));
    if (!o || !o->scn || (!o->run_dir && !o->dry_run))
        return -1;
    const struct scn_scenario *s = o->scn;
    struct runner R = {0}, *r = &R;
    r->o = o;
    r->scn = s;
    r->lock_fd = -1;
    r->status = RUN_PASSED;
    pthread_mutex_init(&r->mu, NULL);
    sbuf_init(&r->undo_errors, 0);
    r->I = s->load.interval_us ? s->load.interval_us : 100000;
    r->base_rate = s->load.rate;
    r->state_dir = o->state_dir ? xstrdup(o->state_dir) : run_state_dir();
    r->nsteps = s->nsteps;
    r->steps = xcalloc(s->nsteps ? s->nsteps : 1, sizeof(*r->steps));
    for (size_t i = 0; i < s->nsteps; i++) {
        r->steps[i].s = &s->steps[i];
        r->steps[i].idx = (int)i;
        r->steps[i].spike = s->steps[i].fault == SCN_FAULT_TRAFFIC_SPIKE;
    }
    r->probe_last = xcalloc(s->nprobes ? s->nprobes : 1, sizeof(int));
    r->probe_next = xcalloc(s->nprobes ? s->nprobes : 1, sizeof(uint64_t));
    for (size_t i = 0; i < s->nprobes; i++)
        r->probe_last[i] = -1;
    uint64_t end = s->duration_us;
    for (size_t i = 0; i < s->nsteps; i++) {
        uint64_t e = s->steps[i].at_us + s->steps[i].for_us + s->settle_us;
        if (e > end)
            end = e;
    }
    if (end < s->warmup_us + s->settle_us && s->nsteps == 0)
        end = s->warmup_us + s->settle_us;
    r->run_end_us = end;

    char *err = NULL;
    if (!prepare_target(r))
        goto done;
    if (o->dry_run) {
        dry_run(r);
        goto done;
    }
    int lk = run_lock(r->state_dir, r->key, &r->lock_fd, &err);
    if (lk != 0) {
        if (lk == 1)
            rn_stop_run(r, RUN_BUSY, "another zonedef run is using %s; wait for it to finish",
                        r->key);
        else
            rn_stop_run(r, RUN_ERROR, "%s", err);
        free(err);
        goto done;
    }
    if (!check_open_faults(r))
        goto done;
    if (run_dir_make(o->run_dir, false, &err) < 0) {
        rn_stop_run(r, RUN_ERROR, "%s", err);
        free(err);
        goto done;
    }
    char *abs = realpath(o->run_dir, NULL);
    r->run_dir = xstrdup(abs ? abs : o->run_dir);
    free(abs);
    r->jpath = xasprintf("%s/journal.jsonl", r->run_dir);
    if (!(r->jn = jn_open(r->jpath, false, &err))) {
        rn_stop_run(r, RUN_ERROR, "%s", err);
        free(err);
        goto done;
    }
    if (run_registry_add(r->state_dir, r->run_dir, &err) < 0) {
        rn_stop_run(r, RUN_ERROR, "%s", err);
        free(err);
        goto done;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!(r->load = start_load(r, &err))) {
        rn_stop_run(r, RUN_ERROR, "cannot start the load: %s", err);
        free(err);
        run_registry_remove(r->state_dir, r->run_dir);
        goto done;
    }
    r->tl = load_timeline(r->load);
    rn_emit(r, RUN_EV_INFO, 0, "load: %s engine (%s), %g req/s over %u connections on %u threads",
            load_engine_name(r->load), load_engine_why(r->load), s->load.rate, s->load.connections,
            load_threads(r->load));
    uint64_t el = load_elapsed_us(r->load);
    uint64_t wall0 = zd_wall_us() - el, mono0 = zd_now_us() - el;
    if (write_start(r, wall0, mono0, &err) < 0) {
        rn_stop_run(r, RUN_ERROR, "cannot write the journal: %s", err);
        free(err);
        run_registry_remove(r->state_dir, r->run_dir);
        goto done;
    }
    jn_rec_phase(r->jn, "warmup", 0, NULL);
    if (s->nprobes && pthread_create(&r->pthr, NULL, rn_probe_thread, r) == 0)
        r->pthr_started = true;

    main_loop(r);

    if (r->stopping)
        rn_emit(r, RUN_EV_PHASE, rn_now_us(r), "undoing every fault");
    undo_all(r, false);
    jn_rec_phase(r->jn, "measure", rn_now_us(r), NULL);
    rn_emit(r, RUN_EV_PHASE, rn_now_us(r), "stopping the load and measuring");
    if (r->pthr_started) {
        r->pstop = 1;
        pthread_join(r->pthr, NULL);
        r->pthr_started = false;
        rn_drain_probes(r);
    }
    load_stop(r->load);
    write_load(r);
    rn_recheck(r);
    rn_collect(r, true);
    finish(r, out);
    if (!r->undo_failed)
        run_registry_remove(r->state_dir, r->run_dir);
done:
    out->status = r->status;
    if (r->reason)
        out->reason = xstrdup(r->reason);
    free(r->reason);
    cleanup(r);
    return 0;
}
