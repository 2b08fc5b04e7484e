/*
 * runner: executes a scenario: checks, lock, steady state, load, faults on schedule (journaled
 * write-ahead, always undone), probes, guards, measurement, score, result.json. It never prints:
 * everything a person should see goes through the on_event callback (cmd/run.c prints it).
 *
 * Also here (state.c): the state directory, the registry of runs that may have left faults
 * applied, and the per-target lock — what `zonedef recover` shares with the runner.
 *
 * Files (src/run/): runner.c the scheduler (set-up, the main loop, results), with run_core.c
 * (events, stopping, guards) and observe.c (probes, the load balancer's view, intervals) behind
 * run_int.h (private to the folder); state.c state dir, lock, registry; journal.c the
 * write-ahead journal (journal.h); measure.c TTD, TTR, availability and the score from the
 * journal's intervals (measure.h); results.c result.json (results.h); probe.c http and command
 * probes (probe.h).
 * May use: everything below it: base, scenario, load, target (never lab directly, never report).
 * Used by: cmd/ (run, recover, report). report/ reads results.h and journal.h, never runner.h.
 * Nothing here, nor anything below, prints or exits.
 */
#ifndef ZD_RUNNER_H
#define ZD_RUNNER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "run/results.h"
#include "scenario/scenario.h"

enum run_event_kind {
    RUN_EV_PHASE,    /* warm-up, faults, settle, measuring */
    RUN_EV_INFO,     /* target resolved, steady state holds, plan lines (dry run) */
    RUN_EV_PROGRESS, /* periodic traffic summary */
    RUN_EV_INJECT,
    RUN_EV_UNDO,
    RUN_EV_DETECTED,
    RUN_EV_RECOVERED,
    RUN_EV_LB,    /* the load balancer's view of a zone changed */
    RUN_EV_PROBE, /* a probe changed state (passing <-> failing) */
    RUN_EV_GUARD, /* a guard tripped: the run aborts */
    RUN_EV_WARN,
    RUN_EV_ERROR,    /* an inject or undo failed */
    RUN_EV_INTERVAL, /* an interval completed (iv): for live charts, not a line to print */
};

struct run_event {
    enum run_event_kind kind;
    uint64_t t_us;    /* on the run's clock (the load's); the time the event refers to */
    const char *text; /* one line, no newline */
    /* Structured extras for the live view (NULL / 0 when they do not apply): the step of an
     * INJECT, UNDO, DETECTED or RECOVERED event (with its `for` on INJECT); the zone and its
     * healthy/total capacity on LB (also sent once per zone at the first health poll). */
    const char *step;
    uint64_t for_us;
    const char *zone;
    uint32_t healthy, total;
    const struct ms_interval *iv; /* RUN_EV_INTERVAL */
};

typedef void (*run_event_fn)(void *ctx, const struct run_event *ev);

struct run_opts {
    const struct scn_scenario *scn;
    const char *run_dir;         /* created; must not hold a journal yet */
    const char *state_dir;       /* registry and locks; NULL = run_state_dir() */
    bool dry_run;                /* resolve and describe; touch nothing */
    volatile sig_atomic_t *stop; /* non-zero = abort (the caller's SIGINT/SIGTERM handler) */
    run_event_fn on_event;
    void *ctx;
    const char *command_line; /* for result.json's environment (secrets already redacted) */
};

enum run_status {
    RUN_PASSED,      /* exit 0 */
    RUN_FAILED,      /* expectations not met: exit 1 */
    RUN_UNSTEADY,    /* the steady state did not hold before the first fault: exit 1 */
    RUN_INVALID,     /* the scenario asks what the target cannot do: exit 2 */
    RUN_ABORTED,     /* guard or signal; everything undone: exit 3 */
    RUN_UNDO_FAILED, /* exit 4 */
    RUN_OPEN_FAULTS, /* an earlier crashed run left faults on this target: exit 4 */
    RUN_BUSY,        /* another run holds the target: exit 5 */
    RUN_ERROR,       /* runtime error: exit 5 */
};
const char *run_status_name(enum run_status s); /* "passed", "failed", ... */
int run_status_exit(enum run_status s);

struct run_outcome {
    enum run_status status;
    char *reason;  /* one line for people (NULL when passed) */
    bool have_doc; /* a result was written */
    struct res_doc doc;
    char *result_path; /* result.json (NULL when none) */
};
void run_outcome_free(struct run_outcome *o);

/* Runs (or, with dry_run, describes) a scenario. Returns 0 with *out filled (the status says
 * how it went), or -1 only for misuse. */
int run_scenario(const struct run_opts *o, struct run_outcome *out);

/* ---- state shared with `zonedef recover` ---- */

/* $ZONEDEF_STATE_DIR, else $XDG_STATE_HOME/zonedef, else ~/.local/state/zonedef. Caller frees. */
char *run_state_dir(void);
/* Takes the lock for a target key without waiting: 0 = taken (*fd holds it), 1 = another process
 * holds it, -1 = error. The lock dies with the process. */
int run_lock(const char *state_dir, const char *key, int *fd, char **err);
void run_unlock(int fd);
/* Makes a run directory 0700 (base/trust.h: zd_mkdir_private); an existing one is accepted only
 * when it is ours and nobody else can write it, and not at all with fresh. 0 or -1 with *err. */
int run_dir_make(const char *run_dir, bool fresh, char **err);
/* The registry: run directories that may have left faults applied. */
int run_registry_add(const char *state_dir, const char *run_dir, char **err);
void run_registry_remove(const char *state_dir, const char *run_dir);
/* Every registered run directory; caller frees each and the array. */
int run_registry_list(const char *state_dir, char ***dirs, size_t *n, char **err);

#endif
