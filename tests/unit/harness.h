/*
 * harness: zonedef's in-tree unit test helper (in the spirit of redis' testhelp.h).
 *
 * A test is a function; CHECK* macros record failures without stopping the test, so one run shows
 * every broken value. A test passes when none of its checks failed. TH_RUN lists the tests and
 * prints, as its last line, "N passed, N failed" (the line `make test` sums up), exiting 1 on any
 * failure.
 *
 *   static void test_parse(void) { CHECK_EQ_INT(parse("2"), 2); }
 *   int main(void) { TH_RUN(test_parse, test_other); }
 */
#ifndef ZD_HARNESS_H
#define ZD_HARNESS_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int th_cur_failed;

static inline void th_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "    %s:%d: check failed: %s\n", file, line, what);
    th_cur_failed++;
}

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            th_fail(__FILE__, __LINE__, #c);                                                       \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long th_a = (long long)(a), th_b = (long long)(b);                                    \
        if (th_a != th_b) {                                                                        \
            fprintf(stderr, "    %s:%d: %s == %s: got %lld, want %lld\n", __FILE__, __LINE__, #a,  \
                    #b, th_a, th_b);                                                               \
            th_cur_failed++;                                                                       \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *th_a = (a), *th_b = (b);                                                       \
        if (!th_a || !th_b || strcmp(th_a, th_b) != 0) {                                           \
            fprintf(stderr, "    %s:%d: %s == %s: got \"%s\", want \"%s\"\n", __FILE__, __LINE__,  \
                    #a, #b, th_a ? th_a : "(null)", th_b ? th_b : "(null)");                       \
            th_cur_failed++;                                                                       \
        }                                                                                          \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *th_h = (hay), *th_n = (needle);                                                \
        if (!th_h || !strstr(th_h, th_n)) {                                                        \
            fprintf(stderr, "    %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,     \
                    th_h ? th_h : "(null)", th_n);                                                 \
            th_cur_failed++;                                                                       \
        }                                                                                          \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double th_a = (double)(a), th_b = (double)(b), th_t = (double)(tol);                       \
        if (!(fabs(th_a - th_b) <= th_t)) {                                                        \
            fprintf(stderr, "    %s:%d: %s ~= %s: got %g, want %g (+-%g)\n", __FILE__, __LINE__,   \
                    #a, #b, th_a, th_b, th_t);                                                     \
            th_cur_failed++;                                                                       \
        }                                                                                          \
    } while (0)

struct th_test {
    const char *name;
    void (*fn)(void);
};

static inline int th_run(const char *suite, const struct th_test *tests, size_t n)
{
    const char *only = getenv("TH_ONLY");
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (only && !strstr(tests[i].name, only))
            continue;
        th_cur_failed = 0;
        tests[i].fn();
        if (th_cur_failed) {
            printf("FAIL %s: %s\n", suite, tests[i].name);
            failed++;
        } else {
            printf("ok   %s: %s\n", suite, tests[i].name);
            passed++;
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#define TH_RUN(...)                                                                                \
    do {                                                                                           \
        void (*th_fns[])(void) = {__VA_ARGS__};                                                    \
        static const char th_names[] = #__VA_ARGS__;                                               \
        struct th_test th_tests[sizeof(th_fns) / sizeof(th_fns[0])];                               \
        char *th_copy = strdup(th_names), *th_save = NULL;                                         \
        size_t th_i = 0;                                                                           \
        for (char *th_tok = strtok_r(th_copy, ", \n\t", &th_save);                                 \
             th_tok && th_i < sizeof(th_fns) / sizeof(th_fns[0]);                                  \
             th_tok = strtok_r(NULL, ", \n\t", &th_save)) {                                        \
            th_tests[th_i].name = th_tok;                                                          \
            th_tests[th_i].fn = th_fns[th_i];                                                      \
            th_i++;                                                                                \
        }                                                                                          \
        int th_rc = th_run(__FILE__, th_tests, th_i);                                              \
        free(th_copy);                                                                             \
        return th_rc;                                                                              \
    } while (0)

#endif
