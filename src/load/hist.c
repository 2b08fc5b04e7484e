/*
 * hist: the latency histogram every measurement in zonedef goes through.
 *
 * Log-linear buckets (the HdrHistogram idea, in 60 lines): values below 256 us get a bucket each;
 * above, every power of two is cut into 128 equal buckets, so a bucket is never wider than 1/128
 * of its lower bound. Reporting the middle of a bucket is therefore within 0.4 % of any value in
 * it, well inside the 1 % the measurements promise. 1 us .. 60 s needs 2560 buckets (20 KiB),
 * whatever the number of samples; merging two histograms is adding their buckets.
 */
#include "load/hist.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#include "base/banned.h"

#define LINEAR   256u /* values below this have their own bucket */
#define SUB_BITS 7u   /* 128 buckets per power of two above LINEAR */
#define SUB      (1u << SUB_BITS)
#define NBUCKETS 2560u /* LINEAR + 18 powers of two (2^8 .. 2^25 covers 60e6) * SUB */

struct hist {
    uint64_t count;
    uint64_t min, max;
    uint64_t sum;
    uint64_t clamped;
    uint64_t b[NBUCKETS];
};

_Static_assert(HIST_MAX_US < (1ull << 26), "the bucket table covers values below 2^26");

size_t hist_nbuckets(void)
{
    return NBUCKETS;
}

size_t hist_bucket_of(uint64_t us)
{
    if (us < LINEAR)
        return (size_t)us;
    unsigned msb = 63u - (unsigned)__builtin_clzll(us);
    unsigned shift = msb - SUB_BITS;
    uint64_t sub = us >> shift; /* in [SUB, 2*SUB) */
    size_t i = LINEAR + (size_t)(shift - 1) * SUB + (size_t)(sub - SUB);
    return i < NBUCKETS ? i : NBUCKETS - 1;
}

uint64_t hist_bucket_value(size_t i)
{
    if (i < LINEAR)
        return i;
    if (i >= NBUCKETS)
        i = NBUCKETS - 1;
    unsigned shift = (unsigned)((i - LINEAR) / SUB) + 1;
    uint64_t lo = ((uint64_t)((i - LINEAR) % SUB) + SUB) << shift;
    return lo + ((1ull << shift) - 1) / 2;
}

struct hist *hist_new(void)
{
    return xcalloc(1, sizeof(struct hist));
}

void hist_free(struct hist *h)
{
    free(h);
}

void hist_reset(struct hist *h)
{
    memset(h, 0, sizeof(*h));
}

void hist_record_n(struct hist *h, uint64_t us, uint64_t n)
{
    if (n == 0)
        return;
    if (us < HIST_MIN_US || us > HIST_MAX_US) {
        us = us < HIST_MIN_US ? HIST_MIN_US : HIST_MAX_US;
        h->clamped += n;
    }
    h->b[hist_bucket_of(us)] += n;
    if (h->count == 0 || us < h->min)
        h->min = us;
    if (us > h->max)
        h->max = us;
    h->count += n;
    h->sum += us * n;
}

void hist_record(struct hist *h, uint64_t us)
{
    hist_record_n(h, us, 1);
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    if (src->count == 0)
        return;
    for (size_t i = 0; i < NBUCKETS; i++)
        dst->b[i] += src->b[i];
    if (dst->count == 0 || src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    dst->count += src->count;
    dst->sum += src->sum;
    dst->clamped += src->clamped;
}

uint64_t hist_count(const struct hist *h)
{
    return h->count;
}

uint64_t hist_min(const struct hist *h)
{
    return h->min;
}

uint64_t hist_max(const struct hist *h)
{
    return h->max;
}

double hist_mean(const struct hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}

uint64_t hist_clamped(const struct hist *h)
{
    return h->clamped;
}

uint64_t hist_bucket_count(const struct hist *h, size_t i)
{
    return i < NBUCKETS ? h->b[i] : 0;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (!(q > 0.0))
        return h->min;
    if (q >= 1.0)
        return h->max;
    /* the smallest value v with at least ceil(q * count) samples <= v */
    double r = q * (double)h->count;
    uint64_t rank = (uint64_t)r;
    if ((double)rank < r)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < NBUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t v = hist_bucket_value(i);
            if (v < h->min)
                v = h->min;
            if (v > h->max)
                v = h->max;
            return v;
        }
    }
    return h->max;
}
