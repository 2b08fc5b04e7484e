/*
 * report: what a run leaves for people to look at, rendered from what the run directory holds
 * (result.json and journal.jsonl), so an old run renders the same as a new one.
 *
 * Files (src/report/): model.c loads a run directory into struct rp_run (result.json through
 * results.h, the journal through journal.h, plus the journal's phase, probe, guard and
 * load-balancer records for the events table and the capacity chart) and holds the URL
 * redaction; html.c the self-contained HTML page with inline SVG charts; text.c JUnit XML and
 * the Markdown summary; compare.c two runs side by side; live.c the live terminal view (it
 * renders frames into a buffer, cmd/run.c writes them); notify.c webhook notifications
 * (generic JSON, Slack, Datadog events) posted from a thread of their own; write.c the files a
 * run leaves.
 * May use: base, and from run/ only results.h and journal.h (with measure.h and load's
 * timeline.h and hist.h, the types those two are made of).
 * Used by: cmd/ (report, and run for the live view and the files it writes). Never the runner's
 * internals: whatever the live view shows during a run reaches it through the runner's public
 * events, handed over by cmd/run.c.
 * Nothing here prints or exits.
 */
#ifndef ZD_REPORT_H
#define ZD_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"
#include "run/journal.h"
#include "run/results.h"

/* ---- a run as the reports see it (model.c) ---- */

enum rp_ev_kind {
    RP_EV_PHASE,
    RP_EV_INJECT,
    RP_EV_APPLY_FAILED,
    RP_EV_UNDO,
    RP_EV_UNDO_FAILED,
    RP_EV_DETECTED,
    RP_EV_RECOVERED,
    RP_EV_PROBE_FAIL,
    RP_EV_PROBE_OK,
    RP_EV_GUARD,
    RP_EV_LB,
    RP_EV_END,
};
const char *rp_ev_kind_name(enum rp_ev_kind k); /* "phase", "inject", ... */

struct rp_event {
    enum rp_ev_kind kind;
    uint64_t t_us; /* load clock */
    char *text;    /* one line */
    int step;      /* the fault's step index, -1 when none */
};

struct rp_cap {
    uint64_t t_us;
    char *zone;
    uint32_t healthy, total;
};

struct rp_run {
    struct res_doc doc;
    bool have_journal;
    struct jn_run jn;
    struct rp_event *ev; /* in time order (stable) */
    size_t nev;
    struct rp_cap *cap; /* load-balancer capacity changes per zone, in time order */
    size_t ncap;
    char **zones; /* the zones seen in cap, in first-seen order */
    size_t nzones;
};

/* Loads RUN_DIR/result.json (required) and RUN_DIR/journal.jsonl (optional: without it there is
 * no chart). Returns 0, or -1 with *err (*missing set when result.json does not exist). Free with
 * rp_free. */
int rp_load(const char *dir, struct rp_run *out, bool *missing, char **err);
void rp_free(struct rp_run *r);

/* (URL userinfo in free text is redacted with base's zd_text_redact.) */
/* How a webhook URL is shown: scheme://host[:port]/… (userinfo dropped, path and query hidden:
 * Slack's secret is its path). Caller frees. */
char *rp_url_display(const char *url);

/* Durations and shares for people: "2.71 s", "340 ms", "99.52%". */
const char *rp_fmt_us(uint64_t us, char *buf, size_t n);
const char *rp_fmt_pct(double share, char *buf, size_t n);

/* ---- renderers: each appends a complete document to out ---- */
void rp_html(const struct rp_run *r, struct sbuf *out);     /* html.c */
void rp_junit(const struct rp_run *r, struct sbuf *out);    /* text.c */
void rp_markdown(const struct rp_run *r, struct sbuf *out); /* text.c */
/* A text sparkline of a series (width characters of ▁▂▃▄▅▆▇█, max scaled to █); empty when
 * n == 0. */
void rp_sparkline(const double *y, size_t n, size_t width, struct sbuf *out);

/* The files `run` leaves and `report --format` writes by default, by format name. */
#define RP_FILE_HTML  "report.html"
#define RP_FILE_JUNIT "junit.xml"
#define RP_FILE_MD    "summary.md"
/* Renders html, junit and md into dir (atomically each). Returns 0, or -1 with *err. */
int rp_write_files(const struct rp_run *r, const char *dir, char **err);

/* ---- comparison (compare.c) ---- */

struct rp_cmp_opts {
    double max_score_drop; /* points; a larger drop is a regression */
    double max_ttr_rise_s; /* seconds per fault (and for the worst) */
    double max_avail_drop; /* share, e.g. 0.005 = half a percentage point */
    double max_error_rise; /* share of the peak error rate */
    bool markdown;         /* a Markdown table instead of text */
};
/* Appends the comparison of run a (before) with run b (after); returns the number of regressions
 * beyond the thresholds (a pass that became a fail is always one). */
int rp_compare(const struct rp_run *a, const struct rp_run *b, const struct rp_cmp_opts *o,
               struct sbuf *out);

/* ---- the live terminal view (live.c) ---- */

struct rp_live_step {
    const char *name, *fault, *summary; /* borrowed */
    uint64_t at_us, for_us;
};
struct rp_live_plan {
    const char *scenario;     /* borrowed */
    uint64_t planned_us;      /* warm-up + steps + settle: the expected run length */
    uint64_t interval_us;     /* of the intervals fed */
    double steady_error_rate; /* thresholds drawn on the charts */
    uint64_t steady_p99_us;   /* 0 = none */
    const struct rp_live_step *steps;
    size_t nsteps;
};
struct rp_live;
/* The view copies the plan's step array (the strings stay borrowed) and what it is fed; it is
 * not thread-safe (cmd/run.c holds a lock). */
struct rp_live *rp_live_new(const struct rp_live_plan *plan, bool utf8, bool color);
void rp_live_free(struct rp_live *lv);
/* Feeding it: the run's phase, events (kept in time order), zone capacity, intervals. */
void rp_live_phase(struct rp_live *lv, const char *phase, uint64_t t_us);
void rp_live_event(struct rp_live *lv, enum rp_ev_kind kind, uint64_t t_us, const char *text,
                   const char *step, uint64_t for_us);
void rp_live_zone(struct rp_live *lv, const char *zone, uint32_t healthy, uint32_t total);
void rp_live_interval(struct rp_live *lv, const struct ms_interval *iv);
/* Renders one frame of cols x rows at load time now_us into out: cursor home, every line
 * overwritten and cleared to its end, nothing below (no flicker: one write). cols >= 80, rows >=
 * 24 (rp_live_fits). */
void rp_live_frame(struct rp_live *lv, uint64_t now_us, int cols, int rows, struct sbuf *out);
bool rp_live_fits(int cols, int rows);

/* ---- notifications (notify.c) ---- */

enum rp_notify_fmt { RP_NOTIFY_JSON, RP_NOTIFY_SLACK, RP_NOTIFY_DATADOG };
struct rp_notifier;
/* specs: "URL", "slack=URL", "datadog=URL" or "json=URL". Returns NULL with *err on a bad spec.
 * Starts a thread that posts queued events; nothing it does blocks or fails the run. */
struct rp_notifier *rp_notify_new(const char *const *specs, size_t n, const char *scenario,
                                  const char *run_dir, char **err);
/* Queues one event ("run_started", "fault_applied", "fault_undone", "guard_fired",
 * "run_finished"); never blocks (a full queue drops the event and counts it). score < 0 = none. */
void rp_notify(struct rp_notifier *nf, const char *event, const char *text, const char *step,
               uint64_t t_us, const char *status, double score);
/* Waits up to wait_us for the queue to drain, stops the thread and frees. *summary (may be
 * NULL) gets one line about failures ("notify: 1 of 6 posts failed: http://h/…: timeout"), or
 * NULL when every post succeeded; caller frees. */
void rp_notify_close(struct rp_notifier *nf, uint64_t wait_us, char **summary);

#endif
