/*
 * run_int.h: what the runner's files share, and nothing outside src/run/ sees.
 * Private to src/run/.
 *
 * One run is one struct runner, owned by the main loop's thread (runner.c). run_core.c has what
 * every part of the run calls (events, stopping, guards, small formatting); observe.c what the
 * run watches while the faults are on (probes, the load balancer's view, the intervals: journal,
 * live events, the error-rate guard, progress, the steady state). runner.c calls both, observe.c
 * calls run_core.c, so the three call each other in one direction only.
 */
#ifndef ZD_RUN_INT_H
#define ZD_RUN_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"
#include "load/load.h"
#include "run/journal.h"
#include "run/measure.h"
#include "run/results.h"
#include "run/runner.h"
#include "target/target.h"

#define TICK_US           10000ull
#define HEALTH_EVERY_US   500000ull
#define PROGRESS_EVERY_US 5000000ull

enum st_state { ST_PENDING, ST_ACTIVE, ST_DONE };

struct step_rt {
    const struct scn_step *s;
    int idx;
    enum st_state state;
    bool spike;
    char *action, *summary;
    char *note; /* what apply_noted returned, handed to undo_noted */
    uint64_t inject_us;
    uint64_t end_us;  /* when to undo; 0 = at the end of the run (instantaneous) */
    uint64_t undo_us; /* when it was undone */
    bool applied;     /* apply returned success */
    bool announced_detect, announced_recover;
};

struct probe_msg {
    size_t probe;
    bool ok;
    char *detail;
    uint64_t t_us;
};

struct runner {
    const struct run_opts *o;
    const struct scn_scenario *scn;
    const struct tgt_ops *ops;
    void *ts;
    char *key;
    int lock_fd;
    char *state_dir, *run_dir, *jpath;
    struct journal *jn;
    struct load *load;
    struct timeline *tl;
    struct step_rt *steps;
    size_t nsteps;
    struct ms_interval *iv;
    size_t niv, ivcap;
    uint64_t I;
    double base_rate;
    uint64_t run_end_us;

    enum run_status status;
    bool stopping; /* aborted / error / unsteady: leave the loop, undo everything */
    char *reason;
    struct sbuf undo_errors;
    bool undo_failed;

    /* probes */
    pthread_t pthr;
    bool pthr_started;
    pthread_mutex_t mu;
    struct probe_msg *q;
    size_t nq, qcap;
    volatile int pstop;
    int *probe_last; /* -1 unknown, 0 failing, 1 passing */
    uint64_t *probe_next;

    /* load balancer view */
    struct tgt_inventory lb;
    bool lb_known;
    struct res_lb_sample *lbs; /* each change of a zone's view, for result.json */
    size_t nlbs, lbcap;
    uint64_t next_health_us, next_progress_us;
    bool settle_announced;
    struct run_event xev; /* the extras of the next emit (step, zone), cleared by it */
};

/* ---- run_core.c */
void rn_emit(struct runner *r, enum run_event_kind k, uint64_t t, const char *fmt, ...)
    ZD_PRINTF(4, 5);
uint64_t rn_now_us(struct runner *r);
void rn_stop_run(struct runner *r, enum run_status s, const char *fmt, ...) ZD_PRINTF(3, 4);
void rn_guard_trip(struct runner *r, const char *guard, const char *fmt, ...) ZD_PRINTF(3, 4);
void rn_journal_failed(struct runner *r, char *err);
void rn_fmt_ms(char *buf, size_t n, uint64_t us);
void rn_to_ms_interval(const struct tl_stats *st, struct ms_interval *x);
struct ms_steady rn_steady_of(const struct scn_scenario *s);

/* ---- observe.c */
void *rn_probe_thread(void *arg);
void rn_drain_probes(struct runner *r);
void rn_poll_health(struct runner *r, uint64_t t);
void rn_collect(struct runner *r, bool all);
void rn_recheck(struct runner *r);
void rn_progress(struct runner *r, uint64_t t);
bool rn_steady_before(struct runner *r, uint64_t t, char **why, struct ms_range *rg);

#endif
