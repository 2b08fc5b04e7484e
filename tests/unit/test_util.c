/* Unit tests for util: durations, numbers, suggestions, the growable buffer, files, the trust
 * checks (trust.c), URL redaction and control-character escaping. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "base/trust.h"
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
    } bad[] = {{"30", "has no unit"},
               {"-1s", "negative"},
               {"3x", "unknown unit 'x'"},
               {"", "empty duration"},
               {"abc", "is not a duration"},
               {"31d", "unknown unit"},
               {"721h", "longer than 30 days"},
               {"0x10s", "is not a decimal number and a unit (no hex, no exponent"},
               {"0x1p4s", "not a decimal number"},
               {"1e1s", "not a decimal number"},
               {"1e-7s", "not a decimal number"},
               {"1.2.3s", "not a decimal number"},
               {"+1s", "is not a duration"},
               {".s", "is not a duration"},
               {"0.0000001s", "'0.0000001s' is shorter than 1us"},
               {"0.1us", "shorter than 1us"}};
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

    /* collected errors: nothing collected is success and leaves *err alone */
    char *err = NULL;
    struct sbuf c = SBUF_INIT;
    CHECK_EQ_INT(zd_err_collected(&err, &c), 0);
    CHECK(err == NULL);
    sbuf_adds(&c, "a1: down\nb2: refused");
    CHECK_EQ_INT(zd_err_collected(&err, &c), -1);
    CHECK_EQ_STR(err, "a1: down\nb2: refused");
    CHECK(c.buf == NULL && c.len == 0);
    free(err);

    /* handing a kept error over: only on failure, replacing what *err held */
    err = xstrdup("old");
    CHECK_EQ_INT(zd_err_hand(&err, xstrdup("first problem"), -1), -1);
    CHECK_EQ_STR(err, "first problem");
    CHECK_EQ_INT(zd_err_hand(&err, xstrdup("not an error"), 0), 0);
    CHECK_EQ_STR(err, "first problem");
    CHECK_EQ_INT(zd_err_hand(NULL, xstrdup("nobody asked"), -1), -1);
    CHECK_EQ_INT(zd_err_hand(&err, NULL, 0), 0);
    free(err);
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

/* The atomic write never opens a planted name: its temporary file is fresh (O_EXCL). */
static void test_atomic_planted(void)
{
    char dir[] = "/tmp/zonedef-util-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *f = xasprintf("%s/result.json", dir);
    char *victim = xasprintf("%s/victim", dir);
    char *err = NULL;
    CHECK_EQ_INT(zd_write_file_atomic(victim, "keep", 4, &err), 0);
    /* the old predictable names, planted as symlinks to the victim */
    char *old = xasprintf("%s.tmp.%ld", f, (long)getpid());
    CHECK_EQ_INT(symlink(victim, old), 0);
    CHECK_EQ_INT(zd_write_file_atomic(f, "new", 3, &err), 0);
    char *data = NULL;
    CHECK_EQ_INT(zd_read_file(victim, 100, &data, NULL, &err), 0);
    CHECK_EQ_STR(data, "keep");
    free(data);
    data = NULL;
    CHECK_EQ_INT(zd_read_file(f, 100, &data, NULL, &err), 0);
    CHECK_EQ_STR(data, "new");
    free(data);
    struct stat st;
    CHECK_EQ_INT(stat(f, &st), 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0644);
    /* zd_create_excl refuses an existing file and a symlink */
    CHECK_EQ_INT(zd_create_excl(victim, O_WRONLY, 0600, &err), -1);
    CHECK_CONTAINS(err, "File exists");
    CHECK_EQ_INT(zd_create_excl(old, O_WRONLY, 0600, &err), -1);
    char *fresh = xasprintf("%s/fresh", dir);
    int fd = zd_create_excl(fresh, O_WRONLY, 0600, &err);
    CHECK(fd >= 0);
    close(fd);
    char *rm = xasprintf("rm -rf '%s'", dir);
    CHECK_EQ_INT(system(rm), 0);
    free(rm);
    free(fresh);
    free(old);
    free(victim);
    free(f);
    free(err);
}

static void test_trust(void)
{
    char dir[] = "/tmp/zonedef-trust-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *err = NULL;
    char *run = xasprintf("%s/run", dir);
    CHECK_EQ_INT(zd_mkdir_private(run, false, NULL, &err), 0);
    struct stat st;
    CHECK_EQ_INT(stat(run, &st), 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0700);
    /* an existing private directory is accepted, unless it must be new */
    CHECK_EQ_INT(zd_mkdir_private(run, false, NULL, &err), 0);
    int e = 0;
    CHECK_EQ_INT(zd_mkdir_private(run, true, &e, &err), -1);
    CHECK_EQ_INT(e, EEXIST);
    char *j = xasprintf("%s/journal.jsonl", run);
    CHECK_EQ_INT(zd_write_file_atomic(j, "{}\n", 3, &err), 0);
    int fd = zd_open_trusted(run, "journal.jsonl", O_RDWR | O_APPEND, &e, &err);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    /* a missing file: ENOENT */
    CHECK_EQ_INT(zd_open_trusted(run, "nope", O_RDONLY, &e, &err), -1);
    CHECK_EQ_INT(e, ENOENT);
    CHECK_CONTAINS(err, "cannot open '");
    /* a world-writable directory */
    chmod(run, 0777);
    CHECK_EQ_INT(zd_open_trusted(run, "journal.jsonl", O_RDONLY, &e, &err), -1);
    CHECK_EQ_INT(e, 0);
    CHECK_CONTAINS(err, "is writable by others (mode 0777): not trusted");
    CHECK_EQ_INT(zd_mkdir_private(run, false, NULL, &err), -1);
    CHECK_CONTAINS(err, "not trusted");
    chmod(run, 0700);
    /* a group-writable file */
    chmod(j, 0664);
    CHECK_EQ_INT(zd_open_trusted(run, "journal.jsonl", O_RDONLY, NULL, &err), -1);
    CHECK_CONTAINS(err, "journal.jsonl' is writable by its group (mode 0664)");
    chmod(j, 0600);
    /* a file of another user (needs root to give it away) */
    struct passwd *nobody = getpwnam("nobody");
    if (geteuid() == 0 && nobody) {
        CHECK_EQ_INT(chown(j, nobody->pw_uid, nobody->pw_gid), 0);
        CHECK_EQ_INT(zd_open_trusted(run, "journal.jsonl", O_RDONLY, NULL, &err), -1);
        CHECK_CONTAINS(err, "is owned by uid");
        CHECK_CONTAINS(err, "not by you or root: not trusted");
        CHECK_EQ_INT(chown(j, 0, 0), 0);
    }
    /* a symlink, as the file and as a directory on the way */
    char *victim = xasprintf("%s/victim", dir);
    CHECK_EQ_INT(zd_write_file_atomic(victim, "keep", 4, &err), 0);
    char *link = xasprintf("%s/link.jsonl", run);
    CHECK_EQ_INT(symlink(victim, link), 0);
    CHECK_EQ_INT(zd_open_trusted(run, "link.jsonl", O_RDWR | O_TRUNC, &e, &err), -1);
    CHECK_CONTAINS(err, "link.jsonl' is a symbolic link: not trusted");
    char *ldir = xasprintf("%s/linkdir", dir);
    CHECK_EQ_INT(symlink(run, ldir), 0);
    CHECK_EQ_INT(zd_open_trusted(ldir, "journal.jsonl", O_RDONLY, &e, &err), -1);
    CHECK_CONTAINS(err, "linkdir' is a symbolic link: not trusted");
    char *ldir_slash = xasprintf("%s/", ldir); /* a trailing slash must not follow it either */
    CHECK_EQ_INT(zd_open_trusted(ldir_slash, "journal.jsonl", O_RDONLY, &e, &err), -1);
    CHECK_CONTAINS(err, "linkdir' is a symbolic link: not trusted");
    free(ldir_slash);
    CHECK_EQ_INT(zd_open_trusted(dir, "linkdir/journal.jsonl", O_RDONLY, &e, &err), -1);
    CHECK_CONTAINS(err, "linkdir' is a symbolic link: not trusted");
    CHECK_EQ_INT(zd_open_trusted(dir, "run/../victim", O_RDONLY, &e, &err), -1);
    CHECK_CONTAINS(err, "'..' are not allowed");
    /* nested: every directory on the way is checked */
    fd = zd_open_trusted(dir, "run/journal.jsonl", O_RDONLY, &e, &err);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    chmod(run, 0722);
    CHECK_EQ_INT(zd_open_trusted(dir, "run/journal.jsonl", O_RDONLY, &e, &err), -1);
    CHECK_CONTAINS(err, "/run' is writable by others");
    chmod(run, 0700);
    /* O_CREAT through the walk makes a 0600 file */
    fd = zd_open_trusted(dir, "run/new.lock", O_RDWR | O_CREAT, &e, &err);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    char *nl = xasprintf("%s/new.lock", run);
    CHECK_EQ_INT(stat(nl, &st), 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0600);
    char *data = NULL;
    CHECK_EQ_INT(zd_read_file(victim, 100, &data, NULL, &err), 0);
    CHECK_EQ_STR(data, "keep");
    free(data);
    CHECK_EQ_INT(zd_check_trusted_dir(run, &err), 0);
    CHECK_EQ_INT(zd_check_trusted_dir(j, &err), -1);
    char *rm = xasprintf("rm -rf '%s'", dir);
    CHECK_EQ_INT(system(rm), 0);
    free(rm);
    free(nl);
    free(ldir);
    free(link);
    free(victim);
    free(j);
    free(run);
    free(err);
}

static void test_redact(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"http://user:PASSW0RD@127.0.0.1:8080/x", "http://user:***@127.0.0.1:8080/x"},
        {"https://TOKEN@example.com/", "https://***@example.com/"},
        {"http://127.0.0.1:18000/", "http://127.0.0.1:18000/"},
        {"http://127.0.0.1/a@b", "http://127.0.0.1/a@b"},
        {"http://u:p@ss@host/?q=a@b", "http://u:***@host/?q=a@b"},
        {"http://u:p@host", "http://u:***@host"},
        {"not a url", "not a url"},
    };
    for (size_t i = 0; i < ZD_ARRAY_LEN(cases); i++) {
        char *r = zd_url_redact(cases[i].in);
        CHECK_EQ_STR(r, cases[i].out);
        free(r);
    }
    char *t = zd_text_redact("GET 'http://a:SECRET@h/' failed, see https://x:Y@z/p and ftp://q");
    CHECK_EQ_STR(t, "GET 'http://a:***@h/' failed, see https://x:***@z/p and ftp://q");
    free(t);
    char *e = zd_escape_ctl("ok\033[2J\nbell\a\x7f.");
    CHECK_EQ_STR(e, "ok\\x1b[2J\\x0abell\\x07\\x7f.");
    free(e);
    CHECK(zd_random_u64() != zd_random_u64());
}

int main(void)
{
    TH_RUN(test_durations, test_numbers, test_suggest, test_sbuf, test_files, test_atomic_planted,
           test_trust, test_redact);
}
