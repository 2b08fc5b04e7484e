/*
 * journal: the run's write-ahead record, one JSON object per line in <run dir>/journal.jsonl.
 *
 * Every record is written and fsync'd before the action it guards: the `intent` of a fault (with
 * the target's action JSON, everything undo needs) before apply, `applied` after; `undo_intent`
 * before undo, `undone` after. Per-interval metrics, probe results, guard trips, phases and the
 * final result go in too, so the journal alone is enough to undo what a crashed run left behind
 * (`zonedef recover`) and to recompute every measurement and the score (`report --recompute`).
 *
 * The reader tolerates a torn last line (a crash in the middle of a write); a damaged line
 * anywhere else is an error.
 */
#ifndef ZD_JOURNAL_H
#define ZD_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "run/measure.h"
#include "load/timeline.h"

#define JN_VERSION       1
#define JN_MAX_BYTES     (256u << 20) /* a journal larger than this is refused by the reader */
#define JN_MAX_INTERVALS 4000000u     /* ~4.6 days at 100 ms */
#define JN_MAX_FAULTS    4096u

struct journal;

/* Creates a new journal (O_EXCL | O_NOFOLLOW, mode 0600) or, with append = true, opens an
 * existing one for appending after the trust check of base/trust.h (its directory as the root)
 * and drops a torn last line. Returns NULL with *err on failure. */
struct journal *jn_open(const char *path, bool append, char **err);
/* Closes (fsync'd already); NULL is a no-op. */
void jn_close(struct journal *j);
/* Appends one record: `json` must be one JSON object on one line (no newline). write + fsync.
 * Returns 0 or -1 with *err. */
int jn_append(struct journal *j, const char *json, char **err);

/* What the start record holds about a step (so measurements need nothing but the journal). */
struct jn_step {
    char *name;
    char *fault;
    uint64_t at_us, for_us;
    uint64_t expect_recovery_us, expect_detect_us;
    double expect_max_error_rate; /* < 0 = not set */
};

struct jn_start {
    const char *scenario_path, *scenario_name;
    const char *target_kind, *target_key;
    const char *run_dir;
    uint64_t wall_us, mono_us; /* both clocks at the start of the load (t = 0) */
    uint64_t interval_us;
    double rate;
    uint64_t warmup_us, settle_us;
    struct ms_steady steady;
    struct ms_expect expect;
    const struct jn_step *steps;
    size_t nsteps;
};

/* Record writers; each returns like jn_append. t_us is the load clock, wall_us the wall clock. */
int jn_rec_start(struct journal *j, const struct jn_start *s, char **err);
int jn_rec_phase(struct journal *j, const char *phase, uint64_t t_us, char **err);
/* action_json is the target's action (embedded as a JSON value, compacted to one line). */
int jn_rec_intent(struct journal *j, int step, const char *name, const char *fault, uint64_t for_us,
                  const char *action_json, const char *summary, uint64_t t_us, uint64_t wall_us,
                  char **err);
/* note (may be NULL): what the target learned by applying (tgt_ops.apply_noted), kept as "note" */
int jn_rec_applied(struct journal *j, int step, bool ok, const char *error, const char *note,
                   uint64_t t_us, uint64_t wall_us, char **err);
/* by: "run" or "recover" */
int jn_rec_undo_intent(struct journal *j, int step, const char *by, uint64_t t_us, uint64_t wall_us,
                       char **err);
int jn_rec_undone(struct journal *j, int step, bool ok, const char *error, const char *by,
                  uint64_t t_us, uint64_t wall_us, char **err);
int jn_rec_interval(struct journal *j, size_t index, const struct tl_stats *st, char **err);
int jn_rec_probe(struct journal *j, const char *name, bool ok, const char *detail, uint64_t t_us,
                 char **err);
int jn_rec_guard(struct journal *j, const char *guard, const char *detail, uint64_t t_us,
                 char **err);
int jn_rec_end(struct journal *j, const char *status, int exit_code, double score, bool passed,
               uint64_t t_us, uint64_t wall_us, char **err);

/* What the load engine did over the whole run (the `load` record, written once the load has
 * stopped; result.json's "load"): which engine and why, and what connecting cost. Times are
 * microseconds; the connect and handshake figures are the native engine's (0 on libcurl). */
struct jn_load {
    char *engine;     /* "native" or "curl" */
    char *engine_why; /* "auto: native for http://", "asked for", ... */
    uint32_t connections, threads;
    uint64_t conns_opened, retried, bytes_received;
    double achieved_rate;
    uint64_t lateness_p99_us, lateness_max_us;
    uint64_t connects, connect_p50_us, connect_p99_us;
    uint64_t tls_handshakes, tls_resumed, tls_failed, handshake_p50_us, handshake_p99_us;
};
int jn_rec_load(struct journal *j, const struct jn_load *l, uint64_t t_us, char **err);
/* The load's fields as result.json has them (the record uses the same shape): added to the
 * object o; and read back from such an object (missing fields are 0 / NULL). */
struct cJSON;
void jn_load_fill(struct cJSON *o, const struct jn_load *l);
void jn_load_read(const struct cJSON *o, struct jn_load *l);
/* Frees the strings of l and zeroes it. */
void jn_load_free(struct jn_load *l);

/* ---- reading ---- */

struct jn_fault {
    int step;
    char *name, *fault, *summary;
    char *action; /* the action JSON (compact), as journaled */
    uint64_t for_us;
    uint64_t intent_t_us, intent_wall_us;
    bool applied_seen, applied_ok;
    char *apply_error;
    char *note; /* the "applied" record's note (tgt_ops.apply_noted); NULL when none */
    uint64_t applied_t_us, applied_wall_us;
    bool run_undo_seen;     /* the run itself wrote undo_intent */
    uint64_t run_undo_t_us; /* ...at this load-clock time */
    uint64_t undo_wall_us;  /* wall time of the last undo_intent */
    bool undone;            /* an `undone` record with ok = true exists */
    bool undo_failed;       /* the last `undone` record says it failed */
    char *undo_error;
};

struct jn_run {
    bool has_start;
    char *scenario_path, *scenario_name, *target_kind, *target_key, *run_dir;
    uint64_t start_wall_us, start_mono_us, interval_us, warmup_us, settle_us;
    double rate;
    struct ms_steady steady;
    struct ms_expect expect;
    struct jn_step *steps;
    size_t nsteps;
    struct jn_fault *faults; /* in intent order */
    size_t nfaults;
    struct ms_interval *iv; /* index = interval number; gaps are empty intervals */
    size_t niv;
    size_t nprobes, nguards;
    bool has_load; /* a `load` record was read (runs before it have none) */
    struct jn_load load;
    bool ended;
    char *end_status;
    int end_exit;
    double end_score;
    bool end_passed;
    bool torn; /* the last line was incomplete and was ignored */
    size_t lines;
};

/* Reads a journal (opened O_NOFOLLOW). Returns 0, or -1 with *err ("cannot open ...", or
 * "damaged journal: PATH:LINE: what" for a journal that is not one). Free with jn_run_free. */
int jn_read(const char *path, struct jn_run *out, char **err);
/* The same on an open descriptor (read from offset 0); path is for messages. */
int jn_read_fd(int fd, const char *path, struct jn_run *out, char **err);

/* Why jn_open_trusted failed. */
enum { JN_MISSING = 1, JN_UNTRUSTED, JN_DAMAGED, JN_IO };
/*
 * What `recover` (and anything else that acts on a journal it did not write just now) uses:
 * opens RUN_DIR/journal.jsonl O_NOFOLLOW after the trust check (base/trust.h, the run directory
 * as the root: both owned by the invoking user or root, not writable by group or others), reads
 * it through that descriptor into *out, drops a torn last line through it, and returns the
 * journal for appending on the same descriptor - nothing is looked up by name twice. NULL with
 * *why (JN_MISSING, JN_UNTRUSTED, JN_DAMAGED, JN_IO) and *err otherwise; *out is then empty.
 */
struct journal *jn_open_trusted(const char *run_dir, struct jn_run *out, int *why, char **err);
void jn_run_free(struct jn_run *r);
/* Faults intended (so maybe applied) and never undone successfully: what `recover` must undo. */
bool jn_fault_open(const struct jn_fault *f);
size_t jn_open_faults(const struct jn_run *r);

/* Builds the measurement input from a journal (faults that were applied, in order). The input
 * borrows from r; *faults is allocated (free it). Returns 0, or -1 with *err. */
int jn_measure_input(const struct jn_run *r, struct ms_input *in, struct ms_fault_in **faults,
                     char **err);

#endif
