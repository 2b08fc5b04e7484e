/* test_timeline: interval assignment by intended send time, completion and compaction, sums and
 * percentiles over ranges, rates, connections, and recording from several threads while another
 * reads. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"
#include "load/timeline.h"

#define IV 100000ull /* 100 ms */

static void test_names(void)
{
    CHECK_EQ_STR(tl_outcome_name(TL_OK), "ok");
    CHECK_EQ_STR(tl_outcome_name(TL_CONNECT_REFUSED), "connect_refused");
    CHECK_EQ_STR(tl_outcome_name(TL_RESPONSE_TIMEOUT), "response_timeout");
    CHECK_EQ_STR(tl_outcome_name(TL_NOT_SENT), "not_sent");
    CHECK_EQ_STR(tl_outcome_name(TL_OTHER), "other");
    CHECK_EQ_STR(tl_outcome_name(TL_OUTCOME__COUNT), "unknown");
}

static void test_assignment_by_intended_time(void)
{
    struct timeline *tl = tl_new(IV, 100);
    CHECK_EQ_INT(tl_interval_us(tl), IV);
    CHECK_EQ_INT(tl_len(tl), 0);
    tl_record(tl, 0, TL_OK, 500);
    tl_record(tl, IV - 1, TL_OK, 700);
    /* intended at 150 ms, finished 2 s later as a timeout: still interval 1 */
    tl_record(tl, 150000, TL_RESPONSE_TIMEOUT, 2000000);
    tl_record(tl, 250000, TL_NOT_SENT, 999999);
    CHECK_EQ_INT(tl_len(tl), 3);
    struct tl_stats s;
    CHECK_EQ_INT(tl_get(tl, 0, &s), 0);
    CHECK_EQ_INT(s.start_us, 0);
    CHECK_EQ_INT(s.len_us, IV);
    CHECK_EQ_INT(s.counts[TL_OK], 2);
    CHECK_EQ_INT(s.total, 2);
    CHECK_EQ_INT(s.errors, 0);
    CHECK_EQ_INT(s.max_us, 700);
    CHECK_EQ_INT(tl_get(tl, 1, &s), 0);
    CHECK_EQ_INT(s.start_us, IV);
    CHECK_EQ_INT(s.counts[TL_RESPONSE_TIMEOUT], 1);
    CHECK_EQ_INT(s.errors, 1);
    CHECK_NEAR(s.p99_us, 2000000, 20000);
    CHECK_EQ_INT(tl_get(tl, 2, &s), 0);
    CHECK_EQ_INT(s.counts[TL_NOT_SENT], 1);
    CHECK_EQ_INT(s.errors, 1);
    CHECK_EQ_INT(s.max_us, 0); /* not_sent has no latency */
    CHECK_EQ_INT(s.p50_us, 0);
    CHECK_EQ_INT(tl_get(tl, 3, &s), -1);
    tl_free(tl);
}

static void test_completion_keeps_percentiles(void)
{
    struct timeline *tl = tl_new(IV, 100);
    for (uint64_t i = 0; i < 1000; i++)
        tl_record(tl, (i % 5) * IV + i, TL_OK, 100 + i * 37);
    struct tl_stats before[5], after[5];
    for (size_t i = 0; i < 5; i++)
        tl_get(tl, i, &before[i]);
    CHECK_EQ_INT(tl_complete(tl), 0);
    tl_mark_complete(tl, 3 * IV + 5); /* intervals 0, 1, 2 are over */
    CHECK_EQ_INT(tl_complete(tl), 3);
    tl_mark_complete(tl, IV); /* going back does nothing */
    CHECK_EQ_INT(tl_complete(tl), 3);
    for (size_t i = 0; i < 5; i++) {
        tl_get(tl, i, &after[i]);
        CHECK_EQ_INT(after[i].total, before[i].total);
        CHECK_EQ_INT(after[i].p50_us, before[i].p50_us);
        CHECK_EQ_INT(after[i].p90_us, before[i].p90_us);
        CHECK_EQ_INT(after[i].p99_us, before[i].p99_us);
        CHECK_EQ_INT(after[i].p999_us, before[i].p999_us);
        CHECK_EQ_INT(after[i].max_us, before[i].max_us);
    }
    /* a request finishing in a closed interval is still counted */
    tl_record(tl, 10, TL_RESET, 5000000);
    struct tl_stats s;
    tl_get(tl, 0, &s);
    CHECK_EQ_INT(s.total, before[0].total + 1);
    CHECK_EQ_INT(s.counts[TL_RESET], 1);
    CHECK_EQ_INT(s.max_us, 5000000);
    /* marking complete past the data creates the empty intervals in between */
    tl_mark_complete(tl, 8 * IV);
    CHECK_EQ_INT(tl_complete(tl), 8);
    CHECK_EQ_INT(tl_len(tl), 8);
    tl_get(tl, 7, &s);
    CHECK_EQ_INT(s.total, 0);
    tl_mark_complete(tl, UINT64_MAX);
    CHECK_EQ_INT(tl_complete(tl), tl_len(tl));
    tl_free(tl);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_sum_matches_exact(void)
{
    struct timeline *tl = tl_new(IV, 100);
    enum { N = 20000 };
    static uint64_t lat[N];
    size_t n = 0;
    uint64_t seed = 12345;
    uint64_t ok = 0, bad = 0, notsent = 0;
    for (uint64_t i = 0; i < 30000; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t at = (seed >> 20) % (10 * IV);
        uint64_t l = 50 + (seed >> 33) % 300000;
        enum tl_outcome o = i % 10 == 0 ? TL_HTTP_5XX : i % 7 == 0 ? TL_NOT_SENT : TL_OK;
        tl_record(tl, at, o, l);
        if (at >= 2 * IV && at < 6 * IV) {
            if (o == TL_OK)
                ok++;
            else if (o == TL_NOT_SENT)
                notsent++;
            else
                bad++;
            if (o != TL_NOT_SENT && n < N)
                lat[n++] = l;
        }
    }
    tl_mark_complete(tl, 4 * IV); /* a range half closed, half open */
    struct tl_stats s;
    CHECK_EQ_INT(tl_sum(tl, 2, 6, &s), 0);
    CHECK_EQ_INT(s.start_us, 2 * IV);
    CHECK_EQ_INT(s.len_us, 4 * IV);
    CHECK_EQ_INT(s.counts[TL_OK], ok);
    CHECK_EQ_INT(s.counts[TL_HTTP_5XX], bad);
    CHECK_EQ_INT(s.counts[TL_NOT_SENT], notsent);
    CHECK_EQ_INT(s.total, ok + bad + notsent);
    CHECK_EQ_INT(s.errors, bad + notsent);
    CHECK(n < N);
    qsort(lat, n, sizeof(lat[0]), cmp_u64);
    CHECK_EQ_INT(s.max_us, lat[n - 1]);
    CHECK_NEAR(s.p50_us, lat[(size_t)ceil(0.5 * n) - 1], lat[(size_t)ceil(0.5 * n) - 1] * 0.01);
    CHECK_NEAR(s.p99_us, lat[(size_t)ceil(0.99 * n) - 1], lat[(size_t)ceil(0.99 * n) - 1] * 0.01);
    CHECK_NEAR(s.p999_us, lat[(size_t)ceil(0.999 * n) - 1],
               lat[(size_t)ceil(0.999 * n) - 1] * 0.01);
    /* the same through tl_latency */
    struct hist *h = hist_new();
    CHECK_EQ_INT(tl_latency(tl, 2, 6, h), 0);
    CHECK_EQ_INT(hist_count(h), n);
    CHECK_EQ_INT(hist_quantile(h, 0.99), s.p99_us);
    hist_free(h);
    /* the whole run */
    CHECK_EQ_INT(tl_sum(tl, 0, tl_len(tl), &s), 0);
    CHECK_EQ_INT(s.total, 30000);
    /* empty and out-of-range ranges */
    CHECK_EQ_INT(tl_sum(tl, 5, 5, &s), -1);
    CHECK_EQ_INT(tl_sum(tl, 50, 60, &s), -1);
    CHECK_EQ_INT(tl_sum(tl, 8, 60, &s), 0); /* `to` is clamped */
    tl_free(tl);
}

static void test_rates_and_connections(void)
{
    struct timeline *tl = tl_new(IV, 100);
    tl_set_rate(tl, 0, 100);
    tl_set_rate(tl, 3 * IV, 500);
    tl_record(tl, 5 * IV, TL_OK, 10);
    tl_record_conn(tl, 50000, 3, 1);
    tl_record_conn(tl, 60000, 2, 0);
    tl_record_conn(tl, 4 * IV, 1, 2);
    struct tl_stats s;
    tl_get(tl, 0, &s);
    CHECK_NEAR(s.target_rate, 100, 0);
    CHECK_EQ_INT(s.conns_opened, 5);
    CHECK_EQ_INT(s.retried, 1);
    tl_get(tl, 2, &s);
    CHECK_NEAR(s.target_rate, 100, 0);
    tl_get(tl, 3, &s);
    CHECK_NEAR(s.target_rate, 500, 0);
    tl_get(tl, 5, &s);
    CHECK_NEAR(s.target_rate, 500, 0); /* created later, starts with the last rate */
    CHECK_EQ_INT(tl_sum(tl, 0, tl_len(tl), &s), 0);
    CHECK_EQ_INT(s.conns_opened, 6);
    CHECK_EQ_INT(s.retried, 3);
    tl_free(tl);
}

static void test_bounded_intervals(void)
{
    struct timeline *tl = tl_new(IV, 10);
    tl_record(tl, 100 * IV, TL_OK, 10); /* far past the end: lands in the last interval */
    tl_record(tl, 9 * IV, TL_OK, 10);
    CHECK_EQ_INT(tl_len(tl), 10);
    struct tl_stats s;
    tl_get(tl, 9, &s);
    CHECK_EQ_INT(s.total, 2);
    tl_mark_complete(tl, 1000 * IV); /* the last one stays open until the final call */
    CHECK_EQ_INT(tl_complete(tl), 9);
    tl_mark_complete(tl, UINT64_MAX);
    CHECK_EQ_INT(tl_complete(tl), 10);
    tl_free(tl);
    tl_free(NULL);
}

#define THREADS    4
#define PER_THREAD 50000

struct rec_arg {
    struct timeline *tl;
    unsigned id;
};

static void *recorder(void *p)
{
    struct rec_arg *a = p;
    for (unsigned i = 0; i < PER_THREAD; i++) {
        uint64_t at = (uint64_t)i * 40; /* 2 s of schedule */
        tl_record(a->tl, at, (enum tl_outcome)((i + a->id) % TL_OUTCOME__COUNT), 100 + i % 1000);
        if (i % 1000 == 0)
            tl_record_conn(a->tl, at, 1, i % 2000 == 0);
    }
    return NULL;
}

static _Atomic int readers_stop;

static void *reader(void *p)
{
    struct timeline *tl = p;
    uint64_t last = 0;
    int monotonic = 1;
    while (!readers_stop) {
        struct tl_stats s;
        size_t n = tl_len(tl);
        if (n && tl_sum(tl, 0, n, &s) == 0) {
            if (s.total < last)
                monotonic = 0;
            last = s.total;
        }
        if (n > 2)
            tl_mark_complete(tl, (n - 2) * IV / 4);
    }
    return (void *)(intptr_t)monotonic;
}

static void test_concurrent(void)
{
    struct timeline *tl = tl_new(IV, 1000);
    pthread_t th[THREADS], rd;
    struct rec_arg args[THREADS];
    readers_stop = 0;
    pthread_create(&rd, NULL, reader, tl);
    for (unsigned i = 0; i < THREADS; i++) {
        args[i].tl = tl;
        args[i].id = i;
        pthread_create(&th[i], NULL, recorder, &args[i]);
    }
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    readers_stop = 1;
    void *mono;
    pthread_join(rd, &mono);
    CHECK(mono != NULL); /* totals never went backwards while being read */
    tl_mark_complete(tl, UINT64_MAX);
    struct tl_stats s;
    CHECK_EQ_INT(tl_sum(tl, 0, tl_len(tl), &s), 0);
    CHECK_EQ_INT(s.total, THREADS * PER_THREAD);
    CHECK_EQ_INT(s.counts[TL_OK], THREADS * PER_THREAD / TL_OUTCOME__COUNT);
    CHECK_EQ_INT(s.conns_opened, THREADS * PER_THREAD / 1000);
    CHECK_EQ_INT(s.retried, THREADS * PER_THREAD / 2000);
    CHECK_EQ_INT(tl_len(tl), 20);
    uint64_t sum = 0;
    for (size_t i = 0; i < tl_len(tl); i++) {
        tl_get(tl, i, &s);
        CHECK_EQ_INT(s.total, THREADS * 2500);
        sum += s.total;
    }
    CHECK_EQ_INT(sum, THREADS * PER_THREAD);
    tl_free(tl);
}

int main(void)
{
    TH_RUN(test_names, test_assignment_by_intended_time, test_completion_keeps_percentiles,
           test_sum_matches_exact, test_rates_and_connections, test_bounded_intervals,
           test_concurrent);
}
