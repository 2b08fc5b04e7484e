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
    char *version; /* the zonedef that wrote it (read back; written as ZD_VERSION) */
    char *command; /* the command line, secrets redacted (NULL when not recorded) */
};

/* Builds the document from a journal and its measurements (copies what it needs). */
void res_build(const struct jn_run *run, const struct ms_result *m, const char *status,
               int exit_code, const char *reason, struct res_doc *out);
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
