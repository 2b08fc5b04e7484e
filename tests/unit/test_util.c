/* Unit tests for util: durations, numbers, suggestions, the growable buffer, files. */
#include <unistd.h>

#include "harness.h"
#include "base/util.h"

static void test_durations(void)
{
    static const struct {
        const char *in;
        uint64_t us;
    } ok[] = {{"500ms", 500000}, {"30s", 30000000},     {"2m", 120000000}, {"1.5s", 1500000},
              {"250us", 250},    {"1h", 3600000000ull}, {"0s", 0},         {".5s", 500000}};
    for (size_t i = 0; i < ZD_ARRAY_LEN(ok); i++) {
        uint64_t us = 1;
        char *err = NULL;
        CHECK_EQ_INT(zd_parse_duration(ok[i].in, &us, &err), 0);
        CHECK_EQ_INT(us, ok[i].us);
        free(err);
    }
    static const struct {
        const char *in, *msg;
    } bad[] = {{"30", "has no unit"},          {"-1s", "negative"},
               {"3x", "unknown unit 'x'"},     {"", "empty duration"},
               {"abc", "is not a duration"},   {"31d", "unknown unit"},
               {"721h", "longer than 30 days"}};
    for (size_t i = 0; i < ZD_ARRAY_LEN(bad); i++) {
        uint64_t us = 0;
        char *err = NULL;
        CHECK_EQ_INT(zd_parse_duration(bad[i].in, &us, &err), -1);
        CHECK_CONTAINS(err, bad[i].msg);
        free(err);
    }
    char buf[32];
    CHECK_EQ_STR(zd_fmt_duration(250000, buf, sizeof(buf)), "250ms");
    CHECK_EQ_STR(zd_fmt_duration(1500000, buf, sizeof(buf)), "1.5s");
    CHECK_EQ_STR(zd_fmt_duration(120000000, buf, sizeof(buf)), "2m");
    CHECK_EQ_STR(zd_fmt_duration(90000000, buf, sizeof(buf)), "1m30s");
    CHECK_EQ_STR(zd_fmt_duration(12, buf, sizeof(buf)), "12us");
}

static void test_numbers(void)
{
    long long v = 0;
    double d = 0;
    char *err = NULL;
    CHECK_EQ_INT(zd_parse_int("42", 0, 100, &v, &err), 0);
    CHECK_EQ_INT(v, 42);
    CHECK_EQ_INT(zd_parse_int("101", 0, 100, &v, &err), -1);
    CHECK_CONTAINS(err, "out of range");
    CHECK_EQ_INT(zd_parse_int("4x", 0, 100, &v, &err), -1);
    CHECK_CONTAINS(err, "not a whole number");
    CHECK_EQ_INT(zd_parse_double("0.25", 0, 1, &d, &err), 0);
    CHECK_NEAR(d, 0.25, 1e-12);
    CHECK_EQ_INT(zd_parse_double("nan", 0, 1, &d, &err), -1);
    free(err);
}

static void test_suggest(void)
{
    const char *keys[] = {"zone", "count", "percent", "fault", "for", "at", NULL};
    CHECK_EQ_STR(zd_suggest("zone_id", keys), "zone");
    CHECK_EQ_STR(zd_suggest("cuont", keys), "count");
    CHECK_EQ_STR(zd_suggest("precent", keys), "percent");
    CHECK(zd_suggest("completely_different", keys) == NULL);
}

static void test_sbuf(void)
{
    struct sbuf sb;
    sbuf_init(&sb, 10);
    CHECK_EQ_INT(sbuf_adds(&sb, "hello"), 0);
    CHECK_EQ_INT(sbuf_addf(&sb, "%d", 1234), 0);
    CHECK_EQ_STR(sbuf_str(&sb), "hello1234");
    CHECK_EQ_INT(sbuf_adds(&sb, "xx"), -1);
    CHECK(sb.overflow);
    CHECK_EQ_STR(sbuf_str(&sb), "hello1234");
    sbuf_reset(&sb);
    sb.max = 0;
    CHECK_EQ_INT(sbuf_add_json_str(&sb, "a\"b\\c\n\x01"), 0);
    CHECK_EQ_STR(sbuf_str(&sb), "\"a\\\"b\\\\c\\n\\u0001\"");
    char *s = sbuf_detach(&sb);
    CHECK_EQ_INT(sb.len, 0);
    free(s);
    sbuf_free(&sb);
}

static void test_files(void)
{
    char dir[] = "/tmp/zonedef-util-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *sub = xasprintf("%s/a/b/c", dir);
    char *err = NULL;
    CHECK_EQ_INT(zd_mkdir_p(sub, 0755, &err), 0);
    char *f = xasprintf("%s/file", sub);
    CHECK_EQ_INT(zd_write_file_atomic(f, "abcdef", 6, &err), 0);
    char *data = NULL;
    size_t len = 0;
    CHECK_EQ_INT(zd_read_file(f, 100, &data, &len, &err), 0);
    CHECK_EQ_INT(len, 6);
    CHECK_EQ_STR(data, "abcdef");
    free(data);
    data = NULL;
    CHECK_EQ_INT(zd_read_file(f, 3, &data, &len, &err), -1);
    CHECK_CONTAINS(err, "larger than the limit");
    CHECK_EQ_INT(zd_read_file("/nonexistent/zz", 3, &data, &len, &err), -1);
    CHECK_CONTAINS(err, "cannot open '/nonexistent/zz'");
    unlink(f);
    char *rm = xasprintf("rm -rf '%s'", dir);
    CHECK_EQ_INT(system(rm), 0);
    free(rm);
    free(f);
    free(sub);
    free(err);
}

int main(void)
{
    TH_RUN(test_durations, test_numbers, test_suggest, test_sbuf, test_files);
}
