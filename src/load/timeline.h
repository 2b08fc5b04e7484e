/*
 * timeline: fixed intervals (default 100 ms) of request outcomes and latency, filled by the load
 * engine while it runs and read by the runner, the measurements and the live view at the same
 * time (thread-safe). Memory is bounded: each closed interval keeps its counts and a compact
 * latency summary, not a full histogram.
 *
 * A request belongs to the interval of its *intended* send time (open-loop schedule), so an
 * outage shows up in the intervals it happened in, not when the timeouts fire.
 */
#ifndef ZD_TIMELINE_H
#define ZD_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "load/hist.h"

enum tl_outcome {
    TL_OK,
    TL_HTTP_4XX,
    TL_HTTP_5XX,
    TL_CONNECT_REFUSED,
    TL_CONNECT_TIMEOUT,
    TL_RESPONSE_TIMEOUT,
    TL_RESET,
    TL_TLS_ERROR, /* the TLS handshake failed: certificate refused, reset or closed mid-way */
    TL_BODY_MISMATCH,
    TL_NOT_SENT, /* the schedule wanted it but it could not be sent (in-flight cap, no connection)
                  */
    TL_OTHER,
    TL_OUTCOME__COUNT
};
/* "ok", "http_4xx", "http_5xx", "connect_refused", "connect_timeout", "response_timeout",
 * "reset", "tls_error", "body_mismatch", "not_sent", "other" */
const char *tl_outcome_name(enum tl_outcome o);

/* What one interval holds, as read back (a copy). */
struct tl_stats {
    uint64_t start_us; /* from the start of the load (0 = first interval) */
    uint64_t len_us;   /* the interval's length */
    uint64_t counts[TL_OUTCOME__COUNT];
    uint64_t total;        /* sum of counts (including not_sent) */
    uint64_t errors;       /* total - counts[TL_OK] */
    uint64_t conns_opened; /* connections opened in this interval */
    uint64_t retried;      /* requests libcurl re-sent on a fresh connection */
    double target_rate;    /* the schedule's rate at the interval's start */
    /* latency of completed requests (every outcome but not_sent), from the intended send time */
    uint64_t p50_us, p90_us, p99_us, p999_us, max_us;
};

struct timeline;

/* interval_us > 0; max_intervals bounds memory (the run's max_duration / interval). Requests
 * scheduled past the last interval are counted in the last one (never dropped). */
struct timeline *tl_new(uint64_t interval_us, size_t max_intervals);
void tl_free(struct timeline *tl);
uint64_t tl_interval_us(const struct timeline *tl);

/* Records one request whose intended send time was `sched_us` after the start of the load.
 * `latency_us` is ignored for TL_NOT_SENT. Thread-safe. */
void tl_record(struct timeline *tl, uint64_t sched_us, enum tl_outcome o, uint64_t latency_us);
void tl_record_conn(struct timeline *tl, uint64_t at_us, uint64_t opened, uint64_t retried);
void tl_set_rate(struct timeline *tl, uint64_t at_us, double rate);

/* The number of intervals that are complete: nothing more will be recorded in them (every
 * request scheduled in them has finished or timed out). */
size_t tl_complete(const struct timeline *tl);
/* Number of intervals with any data (complete or not). */
size_t tl_len(const struct timeline *tl);
/* Copies interval i (0 <= i < tl_len) into *out. Returns 0, or -1 when i is out of range. */
int tl_get(const struct timeline *tl, size_t i, struct tl_stats *out);
/* Marks intervals before `upto_us` complete (the load engine calls it as timeouts pass). */
void tl_mark_complete(struct timeline *tl, uint64_t upto_us);

/* Totals over intervals [from, to): counts summed, latency percentiles over the merged
 * latency of those intervals. Returns 0, or -1 when the range is empty or out of bounds. */
int tl_sum(const struct timeline *tl, size_t from, size_t to, struct tl_stats *out);
/* Adds the latency of intervals [from, to) to `out` (to is clamped to tl_len). Returns 0, or -1
 * when the range is empty or out of bounds. Bucket-exact: percentiles keep the 1 % contract. */
int tl_latency(const struct timeline *tl, size_t from, size_t to, struct hist *out);

#endif
