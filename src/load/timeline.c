/*
 * timeline: per-interval outcome counts and latency, written by the load workers and read by the
 * runner, the measurements and the live view while the run goes on.
 *
 * An interval is *open* while requests scheduled in it may still finish: it then holds a full
 * (dense, 20 KiB) histogram so recording stays O(1). When the load engine says nothing more can
 * land in it (tl_mark_complete), the interval is *closed*: the dense histogram goes back to a
 * small pool and the interval keeps only its non-zero buckets (a few hundred bytes) and its
 * percentiles, computed once. So memory is the open window (about timeout / interval dense
 * histograms) plus a little per closed interval, and percentiles over any range stay
 * bucket-exact (within the histogram's 1 %).
 *
 * One mutex guards everything: a record is a few counter increments, far cheaper than the HTTP
 * request it describes.
 */
#include "load/timeline.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#include "base/banned.h"

struct tl_bucket {
    uint16_t idx;
    uint32_t n;
};

struct tl_iv {
    uint64_t counts[TL_OUTCOME__COUNT];
    uint64_t conns, retried;
    uint64_t max_us;
    double rate;
    struct hist *dense;       /* open intervals with latency data */
    struct tl_bucket *sparse; /* closed intervals: non-zero buckets, by index */
    uint32_t nsparse;
    bool closed;
    uint64_t pct[4]; /* closed: p50, p90, p99, p99.9 */
};

struct timeline {
    pthread_mutex_t mu;
    uint64_t interval_us;
    size_t max;
    struct tl_iv *iv;
    size_t len, cap;
    size_t complete;
    double rate; /* the rate new intervals start with */
    struct hist **pool;
    size_t npool, cappool;
};

static const double pct_q[4] = {0.50, 0.90, 0.99, 0.999};

static const char *const outcome_names[TL_OUTCOME__COUNT] = {
    "ok",    "http_4xx",  "http_5xx",      "connect_refused", "connect_timeout", "response_timeout",
    "reset", "tls_error", "body_mismatch", "not_sent",        "other",
};

const char *tl_outcome_name(enum tl_outcome o)
{
    return (unsigned)o < TL_OUTCOME__COUNT ? outcome_names[o] : "unknown";
}

struct timeline *tl_new(uint64_t interval_us, size_t max_intervals)
{
    struct timeline *tl = xcalloc(1, sizeof(*tl));
    pthread_mutex_init(&tl->mu, NULL);
    tl->interval_us = interval_us ? interval_us : 100000;
    tl->max = max_intervals ? max_intervals : 1;
    return tl;
}

void tl_free(struct timeline *tl)
{
    if (!tl)
        return;
    for (size_t i = 0; i < tl->len; i++) {
        hist_free(tl->iv[i].dense);
        free(tl->iv[i].sparse);
    }
    for (size_t i = 0; i < tl->npool; i++)
        hist_free(tl->pool[i]);
    free(tl->pool);
    free(tl->iv);
    pthread_mutex_destroy(&tl->mu);
    free(tl);
}

uint64_t tl_interval_us(const struct timeline *tl)
{
    return tl->interval_us;
}

static void lock(const struct timeline *tl)
{
    pthread_mutex_lock((pthread_mutex_t *)&tl->mu);
}

static void unlock(const struct timeline *tl)
{
    pthread_mutex_unlock((pthread_mutex_t *)&tl->mu);
}

/* The interval for time `at_us`, created (with the intervals before it) if needed. */
static struct tl_iv *iv_at(struct timeline *tl, uint64_t at_us)
{
    uint64_t i = at_us / tl->interval_us;
    if (i >= tl->max)
        i = tl->max - 1;
    if (i >= tl->len) {
        ZD_GROW(tl->iv, tl->cap, (size_t)i + 1);
        for (size_t k = tl->len; k <= i; k++) {
            memset(&tl->iv[k], 0, sizeof(tl->iv[k]));
            tl->iv[k].rate = tl->rate;
        }
        tl->len = (size_t)i + 1;
    }
    return &tl->iv[i];
}

static struct hist *pool_get(struct timeline *tl)
{
    if (tl->npool)
        return tl->pool[--tl->npool];
    return hist_new();
}

static void pool_put(struct timeline *tl, struct hist *h)
{
    /* keep what an open window needs; a burst beyond it goes back to malloc */
    if (tl->npool >= 1024) {
        hist_free(h);
        return;
    }
    hist_reset(h);
    ZD_GROW(tl->pool, tl->cappool, tl->npool + 1);
    tl->pool[tl->npool++] = h;
}

static void sparse_pcts(struct tl_iv *v)
{
    uint64_t n = 0;
    for (uint32_t k = 0; k < v->nsparse; k++)
        n += v->sparse[k].n;
    for (int p = 0; p < 4; p++) {
        v->pct[p] = 0;
        if (n == 0)
            continue;
        double r = pct_q[p] * (double)n;
        uint64_t rank = (uint64_t)r;
        if ((double)rank < r)
            rank++;
        if (rank < 1)
            rank = 1;
        uint64_t seen = 0;
        for (uint32_t k = 0; k < v->nsparse; k++) {
            seen += v->sparse[k].n;
            if (seen >= rank) {
                uint64_t x = hist_bucket_value(v->sparse[k].idx);
                v->pct[p] = x > v->max_us ? v->max_us : x;
                break;
            }
        }
    }
}

static void close_iv(struct timeline *tl, struct tl_iv *v)
{
    if (v->closed)
        return;
    v->closed = true;
    if (!v->dense)
        return;
    size_t nb = hist_nbuckets(), n = 0;
    for (size_t i = 0; i < nb; i++)
        n += hist_bucket_count(v->dense, i) != 0;
    v->sparse = n ? xreallocarray(NULL, n, sizeof(*v->sparse)) : NULL;
    v->nsparse = 0;
    for (size_t i = 0; i < nb; i++) {
        uint64_t c = hist_bucket_count(v->dense, i);
        if (c) {
            v->sparse[v->nsparse].idx = (uint16_t)i;
            v->sparse[v->nsparse].n = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
            v->nsparse++;
        }
    }
    pool_put(tl, v->dense);
    v->dense = NULL;
    sparse_pcts(v);
}

/* A request that finished in an interval already closed (should not happen when the engine
 * marks completion correctly, but nothing is ever dropped). */
static void sparse_add(struct tl_iv *v, uint64_t latency_us)
{
    size_t idx = hist_bucket_of(latency_us < HIST_MIN_US   ? HIST_MIN_US
                                : latency_us > HIST_MAX_US ? HIST_MAX_US
                                                           : latency_us);
    uint32_t lo = 0, hi = v->nsparse;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (v->sparse[mid].idx < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < v->nsparse && v->sparse[lo].idx == idx) {
        if (v->sparse[lo].n < UINT32_MAX)
            v->sparse[lo].n++;
    } else {
        v->sparse = xreallocarray(v->sparse, (size_t)v->nsparse + 1, sizeof(*v->sparse));
        memmove(&v->sparse[lo + 1], &v->sparse[lo], (v->nsparse - lo) * sizeof(*v->sparse));
        v->sparse[lo].idx = (uint16_t)idx;
        v->sparse[lo].n = 1;
        v->nsparse++;
    }
    sparse_pcts(v);
}

void tl_record(struct timeline *tl, uint64_t sched_us, enum tl_outcome o, uint64_t latency_us)
{
    if ((unsigned)o >= TL_OUTCOME__COUNT)
        o = TL_OTHER;
    lock(tl);
    struct tl_iv *v = iv_at(tl, sched_us);
    v->counts[o]++;
    if (o != TL_NOT_SENT) {
        uint64_t l = latency_us > HIST_MAX_US ? HIST_MAX_US : latency_us;
        if (l > v->max_us)
            v->max_us = l;
        if (v->closed) {
            sparse_add(v, latency_us);
        } else {
            if (!v->dense)
                v->dense = pool_get(tl);
            hist_record(v->dense, latency_us);
        }
    }
    unlock(tl);
}

void tl_record_conn(struct timeline *tl, uint64_t at_us, uint64_t opened, uint64_t retried)
{
    lock(tl);
    struct tl_iv *v = iv_at(tl, at_us);
    v->conns += opened;
    v->retried += retried;
    unlock(tl);
}

void tl_set_rate(struct timeline *tl, uint64_t at_us, double rate)
{
    lock(tl);
    struct tl_iv *v = iv_at(tl, at_us);
    v->rate = rate;
    /* intervals created after this one start with the new rate */
    for (struct tl_iv *w = v + 1; w < tl->iv + tl->len; w++)
        w->rate = rate;
    tl->rate = rate;
    unlock(tl);
}

size_t tl_complete(const struct timeline *tl)
{
    lock(tl);
    size_t n = tl->complete;
    unlock(tl);
    return n;
}

size_t tl_len(const struct timeline *tl)
{
    lock(tl);
    size_t n = tl->len;
    unlock(tl);
    return n;
}

void tl_mark_complete(struct timeline *tl, uint64_t upto_us)
{
    lock(tl);
    size_t upto;
    if (upto_us == UINT64_MAX) {
        upto = tl->len;
    } else {
        uint64_t n = upto_us / tl->interval_us;
        /* the last interval also holds what was scheduled past the end: it closes only with
         * UINT64_MAX (the engine's final call) */
        if (n > tl->max - 1)
            n = tl->max - 1;
        upto = (size_t)n;
        if (upto > 0)
            iv_at(tl, (uint64_t)(upto - 1) * tl->interval_us); /* empty intervals exist too */
    }
    for (size_t i = tl->complete; i < upto; i++)
        close_iv(tl, &tl->iv[i]);
    if (upto > tl->complete)
        tl->complete = upto;
    unlock(tl);
}

static void fill_counts(const struct tl_iv *v, struct tl_stats *out)
{
    for (int k = 0; k < TL_OUTCOME__COUNT; k++) {
        out->counts[k] += v->counts[k];
        out->total += v->counts[k];
    }
    out->conns_opened += v->conns;
    out->retried += v->retried;
    if (v->max_us > out->max_us)
        out->max_us = v->max_us;
}

/* Adds interval v's latency to h (caller holds the lock). */
static void add_latency(const struct tl_iv *v, struct hist *h)
{
    if (v->dense) {
        hist_merge(h, v->dense);
        return;
    }
    for (uint32_t k = 0; k < v->nsparse; k++)
        hist_record_n(h, hist_bucket_value(v->sparse[k].idx), v->sparse[k].n);
}

int tl_get(const struct timeline *tl, size_t i, struct tl_stats *out)
{
    memset(out, 0, sizeof(*out));
    lock(tl);
    if (i >= tl->len) {
        unlock(tl);
        return -1;
    }
    const struct tl_iv *v = &tl->iv[i];
    out->start_us = (uint64_t)i * tl->interval_us;
    out->len_us = tl->interval_us;
    out->target_rate = v->rate;
    fill_counts(v, out);
    out->errors = out->total - out->counts[TL_OK];
    if (v->closed) {
        out->p50_us = v->pct[0];
        out->p90_us = v->pct[1];
        out->p99_us = v->pct[2];
        out->p999_us = v->pct[3];
    } else if (v->dense) {
        out->p50_us = hist_quantile(v->dense, pct_q[0]);
        out->p90_us = hist_quantile(v->dense, pct_q[1]);
        out->p99_us = hist_quantile(v->dense, pct_q[2]);
        out->p999_us = hist_quantile(v->dense, pct_q[3]);
    }
    unlock(tl);
    return 0;
}

int tl_sum(const struct timeline *tl, size_t from, size_t to, struct tl_stats *out)
{
    memset(out, 0, sizeof(*out));
    struct hist *h = hist_new();
    lock(tl);
    if (to > tl->len)
        to = tl->len;
    if (from >= to) {
        unlock(tl);
        hist_free(h);
        return -1;
    }
    out->start_us = (uint64_t)from * tl->interval_us;
    out->len_us = (uint64_t)(to - from) * tl->interval_us;
    out->target_rate = tl->iv[from].rate;
    for (size_t i = from; i < to; i++) {
        fill_counts(&tl->iv[i], out);
        add_latency(&tl->iv[i], h);
    }
    unlock(tl);
    out->errors = out->total - out->counts[TL_OK];
    out->p50_us = hist_quantile(h, pct_q[0]);
    out->p90_us = hist_quantile(h, pct_q[1]);
    out->p99_us = hist_quantile(h, pct_q[2]);
    out->p999_us = hist_quantile(h, pct_q[3]);
    uint64_t *pp[4] = {&out->p50_us, &out->p90_us, &out->p99_us, &out->p999_us};
    for (int k = 0; k < 4; k++)
        if (*pp[k] > out->max_us)
            *pp[k] = out->max_us;
    hist_free(h);
    return 0;
}

int tl_latency(const struct timeline *tl, size_t from, size_t to, struct hist *out)
{
    lock(tl);
    if (to > tl->len)
        to = tl->len;
    if (from >= to) {
        unlock(tl);
        return -1;
    }
    for (size_t i = from; i < to; i++)
        add_latency(&tl->iv[i], out);
    unlock(tl);
    return 0;
}
