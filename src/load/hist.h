/*
 * hist: a log-linear latency histogram, 1 us to 60 s with at most 1 % relative error, mergeable,
 * constant memory (no per-sample storage). Values outside the range are clamped and counted.
 */
#ifndef ZD_HIST_H
#define ZD_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_MIN_US 1ull
#define HIST_MAX_US 60000000ull

struct hist; /* opaque; fixed size */

struct hist *hist_new(void);    /* zeroed; never NULL */
void hist_free(struct hist *h); /* NULL is a no-op */
void hist_reset(struct hist *h);
void hist_record(struct hist *h, uint64_t us);
void hist_record_n(struct hist *h, uint64_t us, uint64_t n);
void hist_merge(struct hist *dst, const struct hist *src);
uint64_t hist_count(const struct hist *h);
uint64_t hist_min(const struct hist *h); /* 0 when empty */
uint64_t hist_max(const struct hist *h); /* exact max recorded (clamped to range) */
double hist_mean(const struct hist *h);
/* The value at quantile q in [0, 1] (0.99 = p99), within 1 %; 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);
/* How many recorded values were outside [HIST_MIN_US, HIST_MAX_US] (and clamped into it). */
uint64_t hist_clamped(const struct hist *h);

/* Bucket access, for compact copies (the timeline keeps closed intervals as their non-zero
 * buckets). Bucket i covers a range of values; hist_bucket_value(i) is a value inside it that
 * hist_record maps back to bucket i. */
size_t hist_nbuckets(void);
size_t hist_bucket_of(uint64_t us);
uint64_t hist_bucket_value(size_t i);
uint64_t hist_bucket_count(const struct hist *h, size_t i);

#endif
