/*
 * results: a run's result as one document: built from the journal and the measurements, written
 * as result.json, read back from it (`zonedef report`), and turned into the text scorecard.
 * The schema is documented in the README ("result.json"). cJSON stays inside results.c.
 */
#ifndef ZD_RESULTS_H
#define ZD_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "run/journal.h"
#include "run/measure.h"
#include "base/util.h"

#define RES_SCHEMA    1
#define RES_MAX_BYTES (16u << 20)

struct res_fault {
    int step;
    char *name, *fault, *summary;
    uint64_t inject_us, end_us; /* load clock */
    uint64_t inject_wall_us;
    bool detected;
    uint64_t ttd_us;
    double detect_error_rate;
    uint64_t detect_p99_us;
    bool recovered;
    uint64_t ttr_us;
    double recovery_budget_s;
    struct ms_range impact;
    double peak_error_rate;
    uint64_t latency_from_us, latency_to_us, latency_p99_us;
    double latency_ratio;
    bool undone;      /* undone successfully (by the run or by recover) */
    char *undo_error; /* the last undo failure, if it was not undone */
    /* the auto scaling group (aws, from the samples below): InService instances just before
     * the fault, the lowest count after it, and when it was back (restored_known) */
    bool asg_known, asg_restored;
    uint32_t asg_before, asg_min;
    uint64_t asg_restored_us; /* from injection */
};

/* What the load balancer (and the auto scaling group) saw per zone, one sample per change. */
struct res_lb_sample {
    uint64_t t_us; /* run clock */
    char *zone;
    uint32_t healthy, total;
    bool have_in_service;
    uint32_t in_service;
};

struct res_doc {
    char *scenario, *scenario_path, *target_kind, *target_key, *run_dir;
    uint64_t start_wall_us;
    uint64_t duration_us;
    char *status; /* "passed", "failed", "aborted", "undo_failed", "error" */
    int exit_code;
    char *reason; /* why it aborted / failed to run; NULL when passed or failed normally */
    struct ms_range baseline, overall;
    double peak_error_rate;
    bool final_steady_known, final_steady;
    struct res_fault *faults;
    size_t nfaults;
    struct ms_score score;
    struct ms_check *checks;
    size_t nchecks;
    bool passed;
    struct res_lb_sample *lb; /* in time order; see res_add_lb */
    size_t nlb;
    char *version; /* the zonedef that wrote it (read back; written as ZD_VERSION) */
    char *command; /* the command line, secrets redacted (NULL when not recorded) */
    bool has_load; /* the journal had a `load` record (runs before it have none) */
    struct jn_load load;
};

/* Why requests were `not_sent` (result.json "not_sent_why", the scorecard): a limit of the
 * client, not of the target. */
#define RES_NOT_SENT_WHY                                                                           \
    "zonedef's own in-flight cap (load.max_in_flight, default load.connections) was full - "       \
    "requests hanging in the outage held every connection - so these were never sent; they "       \
    "count against availability. A limit of the load generator, not of the target: raise "         \
    "load.connections"

/* Builds the document from a journal and its measurements (copies what it needs). */
void res_build(const struct jn_run *run, const struct ms_result *m, const char *status,
               int exit_code, const char *reason, struct res_doc *out);
/* Appends one sample (in_service < 0: unknown) to a growing array (at most 100000); and frees
 * such an array. */
void res_lb_note(struct res_lb_sample **v, size_t *n, size_t *cap, uint64_t t, const char *zone,
                 uint32_t healthy, uint32_t total, long in_service);
void res_lb_free(struct res_lb_sample *v, size_t n);
/* Adds the run's load-balancer samples (copied) and derives each fault's auto scaling
 * figures from them. */
void res_add_lb(struct res_doc *d, const struct res_lb_sample *s, size_t n);
/* result.json text (pretty, ends with a newline); caller frees. */
char *res_to_json(const struct res_doc *d);
/* Parses result.json text. Returns 0, or -1 with *err. Free with res_free. */
int res_parse(const char *text, struct res_doc *out, char **err);
void res_free(struct res_doc *d);
/* The human scorecard (several lines, each ending in '\n'). color: ANSI colours for a TTY. */
void res_scorecard(const struct res_doc *d, struct sbuf *out, bool color);
/* The one-line CI summary: "zonedef: lab-zone-outage passed score=87.3 ttr_max=2.7s ...". */
void res_ci_line(const struct res_doc *d, struct sbuf *out);

#endif
