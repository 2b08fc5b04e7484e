/* test_hist: the histogram against exact percentiles of known samples (uniform, skewed,
 * bimodal), merging, clamping and the edges. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"
#include "load/hist.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t xorshift(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static double unit(void)
{
    return (double)(xorshift() >> 11) / 9007199254740992.0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The exact quantile with the histogram's definition: the smallest sample with at least
 * ceil(q * n) samples at or below it. */
static uint64_t exact(const uint64_t *sorted, size_t n, double q)
{
    size_t rank = (size_t)ceil(q * (double)n);
    if (rank < 1)
        rank = 1;
    return sorted[rank - 1];
}

static void check_against_exact(uint64_t *v, size_t n)
{
    struct hist *h = hist_new();
    for (size_t i = 0; i < n; i++)
        hist_record(h, v[i]);
    qsort(v, n, sizeof(*v), cmp_u64);
    static const double qs[] = {0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999};
    for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
        double want = (double)exact(v, n, qs[k]);
        double got = (double)hist_quantile(h, qs[k]);
        CHECK_NEAR(got, want, want * 0.01);
    }
    CHECK_EQ_INT(hist_count(h), n);
    CHECK_EQ_INT(hist_min(h), v[0]);
    CHECK_EQ_INT(hist_max(h), v[n - 1]);
    CHECK_EQ_INT(hist_quantile(h, 1.0), v[n - 1]);
    hist_free(h);
}

#define N 100000

static void test_uniform(void)
{
    uint64_t *v = malloc(N * sizeof(*v));
    for (size_t i = 0; i < N; i++)
        v[i] = 1 + xorshift() % 2000000;
    check_against_exact(v, N);
    free(v);
}

static void test_skewed_lognormal(void)
{
    /* latency-like: median ~1 ms, a long right tail into seconds */
    uint64_t *v = malloc(N * sizeof(*v));
    for (size_t i = 0; i < N; i++) {
        double z = sqrt(-2 * log(unit() + 1e-300)) * cos(2 * M_PI * unit());
        double x = exp(log(1000.0) + 1.5 * z);
        v[i] = x < 1 ? 1 : x > 6e7 ? 60000000 : (uint64_t)x;
    }
    check_against_exact(v, N);
    free(v);
}

static void test_bimodal(void)
{
    /* 90 % fast (about 200 us), 10 % stuck behind a timeout (about 2 s) */
    uint64_t *v = malloc(N * sizeof(*v));
    for (size_t i = 0; i < N; i++)
        v[i] = i % 10 == 0 ? 1990000 + xorshift() % 20000 : 150 + xorshift() % 100;
    check_against_exact(v, N);
    struct hist *h = hist_new();
    for (size_t i = 0; i < N; i++)
        hist_record(h, v[i]);
    /* p90 sits in the fast mode, p95 in the slow one: no blending between modes */
    CHECK(hist_quantile(h, 0.90) < 260);
    CHECK(hist_quantile(h, 0.95) > 1900000);
    hist_free(h);
    free(v);
}

static void test_small_values_exact(void)
{
    struct hist *h = hist_new();
    for (uint64_t x = 1; x <= 200; x++)
        hist_record(h, x);
    CHECK_EQ_INT(hist_quantile(h, 0.5), 100);
    CHECK_EQ_INT(hist_quantile(h, 0.99), 198);
    CHECK_EQ_INT(hist_min(h), 1);
    CHECK_NEAR(hist_mean(h), 100.5, 1e-9);
    hist_free(h);
}

static void test_buckets(void)
{
    size_t nb = hist_nbuckets();
    CHECK(nb <= 4096); /* fixed and small */
    CHECK(hist_bucket_of(HIST_MAX_US) < nb);
    CHECK_EQ_INT(hist_bucket_of(HIST_MAX_US * 4), nb - 1); /* beyond the table: the last */
    for (size_t i = 1; i < nb; i++) {
        uint64_t v = hist_bucket_value(i);
        CHECK_EQ_INT(hist_bucket_of(v), i);
        /* every value of the bucket is within 0.5 % of its representative */
        if (i + 1 < nb) {
            uint64_t lo = v, hi = v;
            while (lo > 1 && hist_bucket_of(lo - 1) == i)
                lo--;
            while (hist_bucket_of(hi + 1) == i)
                hi++;
            CHECK((double)(v - lo) <= 0.005 * (double)lo + 1e-9);
            CHECK((double)(hi - v) <= 0.005 * (double)v + 1e-9);
        }
        if (th_cur_failed)
            break;
    }
}

static void test_merge(void)
{
    struct hist *a = hist_new(), *b = hist_new(), *all = hist_new();
    for (int i = 0; i < 10000; i++) {
        uint64_t x = 1 + xorshift() % 500000;
        hist_record(i % 3 ? a : b, x);
        hist_record(all, x);
    }
    hist_merge(a, b);
    CHECK_EQ_INT(hist_count(a), 10000);
    CHECK_EQ_INT(hist_min(a), hist_min(all));
    CHECK_EQ_INT(hist_max(a), hist_max(all));
    CHECK_NEAR(hist_mean(a), hist_mean(all), 1e-6);
    for (double q = 0.05; q < 1.0; q += 0.05)
        CHECK_EQ_INT(hist_quantile(a, q), hist_quantile(all, q));
    for (size_t i = 0; i < hist_nbuckets(); i++)
        if (hist_bucket_count(a, i) != hist_bucket_count(all, i)) {
            CHECK(!"bucket counts differ after merge");
            break;
        }
    /* merging an empty histogram changes nothing, into an empty one copies */
    struct hist *e = hist_new();
    hist_merge(a, e);
    CHECK_EQ_INT(hist_count(a), 10000);
    hist_merge(e, b);
    CHECK_EQ_INT(hist_count(e), hist_count(b));
    CHECK_EQ_INT(hist_min(e), hist_min(b));
    hist_free(a);
    hist_free(b);
    hist_free(all);
    hist_free(e);
}

static void test_clamping(void)
{
    struct hist *h = hist_new();
    hist_record(h, 0);
    hist_record(h, 5);
    hist_record(h, 100000000); /* 100 s */
    hist_record_n(h, 70000000, 2);
    CHECK_EQ_INT(hist_count(h), 5);
    CHECK_EQ_INT(hist_clamped(h), 4);
    CHECK_EQ_INT(hist_min(h), HIST_MIN_US);
    CHECK_EQ_INT(hist_max(h), HIST_MAX_US);
    CHECK_NEAR(hist_quantile(h, 0.99), HIST_MAX_US, HIST_MAX_US * 0.01);
    CHECK_EQ_INT(hist_quantile(h, 0.2), 1);
    hist_record_n(h, 10, 0); /* n = 0 records nothing */
    CHECK_EQ_INT(hist_count(h), 5);
    hist_reset(h);
    CHECK_EQ_INT(hist_count(h), 0);
    CHECK_EQ_INT(hist_clamped(h), 0);
    hist_free(h);
}

static void test_empty_and_bounds(void)
{
    struct hist *h = hist_new();
    CHECK_EQ_INT(hist_quantile(h, 0.5), 0);
    CHECK_EQ_INT(hist_min(h), 0);
    CHECK_EQ_INT(hist_max(h), 0);
    CHECK_NEAR(hist_mean(h), 0, 0);
    hist_record(h, 1234);
    CHECK_EQ_INT(hist_quantile(h, 0.0), 1234);
    CHECK_EQ_INT(hist_quantile(h, -1.0), 1234);
    CHECK_EQ_INT(hist_quantile(h, 0.5), 1234); /* clamped to [min, max]: exact */
    CHECK_EQ_INT(hist_quantile(h, 2.0), 1234);
    hist_free(h);
    hist_free(NULL);
}

int main(void)
{
    TH_RUN(test_uniform, test_skewed_lognormal, test_bimodal, test_small_values_exact, test_buckets,
           test_merge, test_clamping, test_empty_and_bounds);
}
