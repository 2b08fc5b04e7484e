/*
 * Unit tests for the scenario parser, driven by golden files:
 *   tests/data/scenarios/valid/X.json    must parse; X.json.expect lists "key = value" lines that
 *                                        must each appear in dump() of the parsed scenario;
 *   tests/data/scenarios/invalid/X.json  must fail; X.json.err holds the exact error lines.
 * Plus what is better generated than stored: 100000 nested arrays, a 2 MB buffer, --var, the
 * position helpers of jsonpos.
 * Run from the repository root (make test does); the data paths are relative to it.
 */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "scenario/jsonpos.h"
#include "scenario/scenario.h"
#include "base/util.h"

#define DATA "tests/data/scenarios"

static void add(struct sbuf *sb, const char *k, const char *v)
{
    sbuf_addf(sb, "%s = %s\n", k, v ? v : "(null)");
}

static void addu(struct sbuf *sb, const char *k, unsigned long long v)
{
    sbuf_addf(sb, "%s = %llu\n", k, v);
}

static void addd(struct sbuf *sb, const char *k, double v)
{
    sbuf_addf(sb, "%s = %.10g\n", k, v);
}

static void add_kv(struct sbuf *sb, const char *k, const struct scn_kv *kv, size_t n)
{
    sbuf_addf(sb, "%s =%s", k, n ? " " : "");
    for (size_t i = 0; i < n; i++)
        sbuf_addf(sb, "%s=%s;", kv[i].key, kv[i].value);
    sbuf_addc(sb, '\n');
}

/* Every field as "key = value" lines; .expect files list the lines that must be there. */
static char *dump(const struct scn_scenario *s)
{
    static const char *const kinds[] = {"lab", "ssh", "aws"};
    struct sbuf sb = SBUF_INIT;
    char k[128];
    add(&sb, "name", s->name);
    add(&sb, "description", s->description);
    const struct scn_target *t = &s->target;
    add(&sb, "target.kind", kinds[t->kind]);
    add(&sb, "target.url", t->url);
    sbuf_adds(&sb, "target.zones =");
    for (size_t i = 0; i < t->nzones; i++)
        sbuf_addf(&sb, "%s%s", i ? "," : " ", t->zones[i].name);
    sbuf_addc(&sb, '\n');
    for (size_t i = 0; i < t->nzones; i++) {
        sbuf_addf(&sb, "target.zone.%s.hosts =", t->zones[i].name);
        for (size_t j = 0; j < t->zones[i].nhosts; j++)
            sbuf_addf(&sb, "%s%s", j ? "," : " ", t->zones[i].hosts[j]);
        sbuf_addc(&sb, '\n');
    }
    add(&sb, "target.lab_dir", t->lab_dir);
    add(&sb, "target.ssh_user", t->ssh_user);
    addu(&sb, "target.ssh_port", (unsigned)t->ssh_port);
    add(&sb, "target.ssh_key", t->ssh_key);
    add(&sb, "target.ssh_known_hosts", t->ssh_known_hosts);
    addu(&sb, "target.ssh_strict_host_key", t->ssh_strict_host_key);
    addu(&sb, "target.ssh_connect_timeout_us", t->ssh_connect_timeout_us);
    addu(&sb, "target.ssh_parallel", (unsigned)t->ssh_parallel);
    add(&sb, "target.ssh_service", t->ssh_service);
    addu(&sb, "target.ssh_sudo", t->ssh_sudo);
    add(&sb, "target.aws_region", t->aws_region);
    add(&sb, "target.aws_endpoint", t->aws_endpoint);
    add(&sb, "target.aws_profile", t->aws_profile);
    add_kv(&sb, "target.aws_tags", t->aws_tags, t->naws_tags);
    add(&sb, "target.aws_load_balancer", t->aws_load_balancer);
    add(&sb, "target.aws_target_group", t->aws_target_group);
    add(&sb, "target.aws_asg", t->aws_asg);
    const struct scn_load *l = &s->load;
    addd(&sb, "load.rate", l->rate);
    addu(&sb, "load.ramp_us", l->ramp_us);
    addu(&sb, "load.connections", l->connections);
    addu(&sb, "load.threads", l->threads);
    addu(&sb, "load.max_in_flight", l->max_in_flight);
    addu(&sb, "load.timeout_us", l->timeout_us);
    addu(&sb, "load.connect_timeout_us", l->connect_timeout_us);
    add(&sb, "load.method", l->method);
    add_kv(&sb, "load.headers", l->headers, l->nheaders);
    add(&sb, "load.body", l->body);
    sbuf_adds(&sb, "load.expect_status =");
    for (size_t i = 0; i < l->nexpect_status; i++)
        sbuf_addf(&sb, "%s%d-%d", i ? "," : " ", l->expect_status[i].lo, l->expect_status[i].hi);
    sbuf_addc(&sb, '\n');
    add(&sb, "load.expect_body", l->expect_body);
    addu(&sb, "load.http2", l->http2);
    addu(&sb, "load.insecure", l->insecure);
    add(&sb, "load.ca_file", l->ca_file);
    addu(&sb, "load.engine", l->engine);
    addu(&sb, "load.interval_us", l->interval_us);
    addd(&sb, "steady.error_rate", s->steady.error_rate);
    addu(&sb, "steady.p99_us", s->steady.p99_us);
    addu(&sb, "steady.window_us", s->steady.window_us);
    addu(&sb, "steady.hold_us", s->steady.hold_us);
    addu(&sb, "warmup_us", s->warmup_us);
    addu(&sb, "settle_us", s->settle_us);
    addu(&sb, "duration_us", s->duration_us);
    addd(&sb, "guards.abort_error_rate", s->guards.abort_error_rate);
    addu(&sb, "guards.abort_for_us", s->guards.abort_for_us);
    addd(&sb, "guards.min_healthy_fraction", s->guards.min_healthy_fraction);
    addu(&sb, "guards.max_duration_us", s->guards.max_duration_us);
    add(&sb, "guards.kill_switch", s->guards.kill_switch);
    addu(&sb, "expect.recovery_us", s->expect.recovery_us);
    addu(&sb, "expect.detect_us", s->expect.detect_us);
    addd(&sb, "expect.availability", s->expect.availability);
    addd(&sb, "expect.max_error_rate", s->expect.max_error_rate);
    addu(&sb, "expect.p99_us", s->expect.p99_us);
    addd(&sb, "expect.min_score", s->expect.min_score);
    addu(&sb, "nsteps", s->nsteps);
    for (size_t i = 0; i < s->nsteps; i++) {
        const struct scn_step *st = &s->steps[i];
#define K(f) (snprintf(k, sizeof(k), "steps[%zu].%s", i, f), k)
        add(&sb, K("name"), st->name);
        add(&sb, K("fault"), scn_fault_name(st->fault));
        addu(&sb, K("at_us"), st->at_us);
        addu(&sb, K("for_us"), st->for_us);
        add(&sb, K("zone"), st->sel.zone);
        add_kv(&sb, K("tags"), st->sel.tags, st->sel.ntags);
        addu(&sb, K("count"), st->sel.count);
        addd(&sb, K("percent"), st->sel.percent);
        addd(&sb, K("rate"), st->rate);
        addu(&sb, K("ramp_us"), st->ramp_us);
        addu(&sb, K("delay_us"), st->delay_us);
        addu(&sb, K("jitter_us"), st->jitter_us);
        addu(&sb, K("cpu_percent"), st->cpu_percent);
        addu(&sb, K("workers"), st->workers);
        add(&sb, K("process"), st->process);
        addu(&sb, K("signal"), (unsigned)st->signal);
        add(&sb, K("command"), st->command);
        add(&sb, K("undo"), st->undo_command);
        addu(&sb, K("expect_recovery_us"), st->expect_recovery_us);
        addu(&sb, K("expect_detect_us"), st->expect_detect_us);
        addd(&sb, K("expect_max_error_rate"), st->expect_max_error_rate);
        sbuf_addf(&sb, "%s = %d:%d\n", K("loc"), st->loc.line, st->loc.col);
#undef K
    }
    addu(&sb, "nprobes", s->nprobes);
    for (size_t i = 0; i < s->nprobes; i++) {
        const struct scn_probe *p = &s->probes[i];
#define K(f) (snprintf(k, sizeof(k), "probes[%zu].%s", i, f), k)
        add(&sb, K("name"), p->name);
        addu(&sb, K("kind"), p->kind);
        addu(&sb, K("interval_us"), p->interval_us);
        addu(&sb, K("timeout_us"), p->timeout_us);
        add(&sb, K("url"), p->url);
        sbuf_addf(&sb, "%s = %d-%d\n", K("status"), p->status.lo, p->status.hi);
        add(&sb, K("body"), p->body);
        add(&sb, K("command"), p->command);
        add(&sb, K("zone"), p->zone);
        addu(&sb, K("min_healthy"), p->min_healthy);
#undef K
    }
    addu(&sb, "nvars", s->nvars);
    for (size_t i = 0; i < s->nvars; i++) {
        snprintf(k, sizeof(k), "vars.%s", s->vars[i].key);
        add(&sb, k, s->vars[i].value);
    }
    return sbuf_detach(&sb);
}

static char *read_text(const char *path)
{
    char *text = NULL, *err = NULL;
    if (zd_read_file(path, 1 << 20, &text, NULL, &err) < 0) {
        fprintf(stderr, "    cannot read %s: %s\n", path, err);
        free(err);
        return NULL;
    }
    return text;
}

static char *join_diags(const struct scn_diags *d)
{
    struct sbuf sb = SBUF_INIT;
    for (size_t i = 0; i < d->n; i++)
        sbuf_addf(&sb, "%s\n", d->v[i].msg);
    return sbuf_detach(&sb);
}

/* The sorted *.json names in dir. */
static size_t list_json(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    char **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!zd_str_has_suffix(e->d_name, ".json"))
            continue;
        ZD_GROW(v, cap, n + 1);
        v[n++] = xasprintf("%s/%s", dir, e->d_name);
    }
    if (d)
        closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
            char *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *out = v;
    return n;
}

static void test_valid_files(void)
{
    setenv("zonedef_test_timeout", "3s", 1);
    char **files = NULL;
    size_t n = list_json(DATA "/valid", &files);
    CHECK(n >= 5);
    for (size_t i = 0; i < n; i++) {
        struct scn_scenario *s = NULL;
        struct scn_diags d = {NULL, 0, 0};
        int rc = scn_load_file(files[i], NULL, 0, &s, &d);
        if (rc != 0) {
            char *all = join_diags(&d);
            fprintf(stderr, "    %s should be valid:\n%s", files[i], all);
            free(all);
        }
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(d.n, 0);
        char *exp_path = xasprintf("%s.expect", files[i]);
        char *exp = read_text(exp_path);
        CHECK(exp != NULL);
        if (s && exp) {
            CHECK_EQ_STR(s->path, files[i]);
            char *got = dump(s);
            char *save = NULL;
            for (char *line = strtok_r(exp, "\n", &save); line;
                 line = strtok_r(NULL, "\n", &save)) {
                if (line[0] == '#')
                    continue;
                char *want = xasprintf("\n%s\n", line);
                char *hay = xasprintf("\n%s", got);
                if (!strstr(hay, want))
                    fprintf(stderr, "    %s: missing \"%s\"\n", files[i], line);
                CHECK(strstr(hay, want) != NULL);
                free(want);
                free(hay);
            }
            free(got);
        }
        free(exp);
        free(exp_path);
        scn_diags_free(&d);
        scn_free(s);
        free(files[i]);
    }
    free(files);
    unsetenv("zonedef_test_timeout");
}

static void test_invalid_files(void)
{
    char **files = NULL;
    size_t n = list_json(DATA "/invalid", &files);
    CHECK(n >= 20);
    for (size_t i = 0; i < n; i++) {
        struct scn_scenario *s = (struct scn_scenario *)1;
        struct scn_diags d = {NULL, 0, 0};
        CHECK_EQ_INT(scn_load_file(files[i], NULL, 0, &s, &d), -1);
        CHECK(s == NULL);
        CHECK(d.n >= 1);
        char *got = join_diags(&d);
        char *err_path = xasprintf("%s.err", files[i]);
        char *want = read_text(err_path);
        CHECK(want != NULL);
        if (want && strcmp(got, want) != 0)
            fprintf(stderr, "    %s: errors differ\n--- want\n%s--- got\n%s", files[i], want, got);
        CHECK(want && strcmp(got, want) == 0);
        /* every line carries file:line:col or at least the file */
        for (size_t j = 0; j < d.n; j++)
            CHECK(zd_str_has_prefix(d.v[j].msg, files[i]));
        free(want);
        free(err_path);
        free(got);
        scn_diags_free(&d);
        free(files[i]);
    }
    free(files);
}

static int load_str(const char *text, const char *const *vars, size_t nvars,
                    struct scn_scenario **s, struct scn_diags *d)
{
    return scn_load_buffer("t.json", text, strlen(text), vars, nvars, s, d);
}

static void test_three_mistakes(void)
{
    struct scn_scenario *s = NULL;
    struct scn_diags d = {NULL, 0, 0};
    CHECK_EQ_INT(scn_load_file(DATA "/invalid/three-mistakes.json", NULL, 0, &s, &d), -1);
    CHECK_EQ_INT(d.n, 3);
    if (d.n == 3) {
        CHECK_EQ_INT(d.v[0].loc.line, 4);
        CHECK_EQ_INT(d.v[0].loc.col, 26);
        CHECK_EQ_STR(d.v[0].path, "$.load.timout");
        CHECK_CONTAINS(d.v[0].msg, "did you mean 'timeout'?");
        CHECK_EQ_INT(d.v[1].loc.line, 7);
        CHECK_EQ_STR(d.v[1].path, "$.steps[0].zone");
        CHECK_EQ_INT(d.v[2].loc.line, 8);
        CHECK_EQ_STR(d.v[2].path, "$.steps[1].count");
    }
    scn_diags_free(&d);
}

static const char *const base =
    "{\"name\": \"v\", \"target\": {\"kind\": \"lab\", \"url\": \"http://127.0.0.1:18000/\"},"
    " \"vars\": {\"rate\": \"100\", \"zone\": \"a\"},"
    " \"load\": {\"rate\": \"${rate}\"},"
    " \"steps\": [{\"at\": \"10s\", \"fault\": \"blackhole_zone\", \"zone\": \"${zone}\","
    " \"for\": \"${len}\"}]}";

static void test_vars(void)
{
    struct scn_scenario *s = NULL;
    struct scn_diags d = {NULL, 0, 0};
    /* len is undefined */
    unsetenv("len");
    CHECK_EQ_INT(load_str(base, NULL, 0, &s, &d), -1);
    CHECK_EQ_INT(d.n, 1);
    CHECK_CONTAINS(d.n ? d.v[0].msg : "", "undefined variable 'len'");
    CHECK_EQ_INT(d.n ? d.v[0].loc.col : 0, 221);
    scn_diags_free(&d);
    /* --var defines it, overrides the file's rate; later --var wins */
    const char *vars[] = {"len=5s", "rate=300", "rate=400"};
    CHECK_EQ_INT(load_str(base, vars, 3, &s, &d), 0);
    if (s) {
        CHECK_NEAR(s->load.rate, 400, 1e-9);
        CHECK_EQ_INT(s->steps[0].for_us, 5000000);
        CHECK_EQ_STR(s->steps[0].sel.zone, "a");
    }
    scn_free(s);
    scn_diags_free(&d);
    /* the environment sits between the file and --var */
    setenv("zone", "c", 1);
    setenv("len", "7s", 1);
    const char *v2[] = {"rate=250"};
    CHECK_EQ_INT(load_str(base, v2, 1, &s, &d), 0);
    if (s) {
        CHECK_EQ_STR(s->steps[0].sel.zone, "c");
        CHECK_EQ_INT(s->steps[0].for_us, 7000000);
        CHECK_NEAR(s->load.rate, 250, 1e-9);
    }
    scn_free(s);
    scn_diags_free(&d);
    unsetenv("zone");
    unsetenv("len");
    /* a malformed --var is an error of its own, without a position */
    const char *v3[] = {"len=1s", "no_equals"};
    CHECK_EQ_INT(load_str(base, v3, 2, &s, &d), -1);
    CHECK_EQ_INT(d.n, 1);
    CHECK_EQ_STR(
        d.n ? d.v[0].msg : "",
        "t.json: --var 'no_equals' must look like name=value (name: letters, digits, '_')");
    scn_diags_free(&d);
}

static void test_deep_nesting(void)
{
    /* 100000 '[' must not reach cJSON's recursive parser */
    size_t n = 100000;
    char *t = xmalloc(2 * n + 1);
    memset(t, '[', n);
    memset(t + n, ']', n);
    t[2 * n] = '\0';
    struct scn_scenario *s = NULL;
    struct scn_diags d = {NULL, 0, 0};
    CHECK_EQ_INT(scn_load_buffer("deep.json", t, 2 * n, NULL, 0, &s, &d), -1);
    CHECK_EQ_INT(d.n, 1);
    CHECK_EQ_STR(d.n ? d.v[0].msg : "",
                 "deep.json:1:33: nesting too deep: more than 32 levels of arrays and objects");
    scn_diags_free(&d);
    /* unclosed, too */
    CHECK_EQ_INT(scn_load_buffer("deep.json", t, n, NULL, 0, &s, &d), -1);
    CHECK_EQ_INT(d.n, 1);
    scn_diags_free(&d);
    free(t);
}

static void test_size_limits(void)
{
    size_t n = 2u << 20;
    char *t = xmalloc(n + 1);
    memset(t, ' ', n);
    t[0] = '{';
    t[n - 1] = '}';
    t[n] = '\0';
    struct scn_scenario *s = NULL;
    struct scn_diags d = {NULL, 0, 0};
    CHECK_EQ_INT(scn_load_buffer("big.json", t, n, NULL, 0, &s, &d), -1);
    CHECK_EQ_INT(d.n, 1);
    CHECK_CONTAINS(d.n ? d.v[0].msg : "", "larger than the limit of 1048576 bytes");
    scn_diags_free(&d);
    free(t);

    /* too many steps */
    struct sbuf sb = SBUF_INIT;
    sbuf_adds(&sb, "{\"name\": \"many\", \"target\": {\"kind\": \"lab\", \"url\": \"http://x/\"},"
                   " \"load\": {\"rate\": 1}, \"steps\": [");
    for (int i = 0; i <= SCN_MAX_STEPS; i++)
        sbuf_addf(&sb, "%s{\"at\": \"10s\", \"fault\": \"kill_instances\"}", i ? "," : "");
    sbuf_adds(&sb, "]}");
    CHECK_EQ_INT(load_str(sbuf_str(&sb), NULL, 0, &s, &d), -1);
    CHECK_CONTAINS(d.n ? d.v[0].msg : "", "257 steps, more than the limit of 256");
    scn_diags_free(&d);
    sbuf_free(&sb);

    /* a string over SCN_MAX_STRING */
    sbuf_adds(&sb, "{\"name\": \"long\", \"description\": \"");
    for (int i = 0; i < SCN_MAX_STRING + 1; i++)
        sbuf_addc(&sb, 'x');
    sbuf_adds(
        &sb,
        "\", \"target\": {\"kind\": \"lab\", \"url\": \"http://x/\"}, \"load\": {\"rate\": 1}}");
    CHECK_EQ_INT(load_str(sbuf_str(&sb), NULL, 0, &s, &d), -1);
    CHECK_CONTAINS(d.n ? d.v[0].msg : "", "string is longer than 4096 bytes");
    CHECK_CONTAINS(d.n ? d.v[0].msg : "", "t.json:1:33:");
    scn_diags_free(&d);
    sbuf_free(&sb);

    /* 90000 distinct unknown keys (just under 1 MiB): linear, not quadratic (was 35 s) */
    sbuf_adds(&sb, "{\"name\": \"keys\"");
    for (int i = 0; i < 90000; i++)
        sbuf_addf(&sb, ",\"k%d\":1", i);
    sbuf_adds(&sb, "}");
    CHECK(sb.len < SCN_MAX_FILE_BYTES);
    uint64_t t0 = zd_now_us();
    CHECK_EQ_INT(load_str(sbuf_str(&sb), NULL, 0, &s, &d), -1);
    uint64_t took = zd_now_us() - t0;
    CHECK(took < 3000000);
    CHECK_EQ_INT(d.n, 101);
    scn_diags_free(&d);
    sbuf_free(&sb);

    /* 120000 undefined "${nope}" in one string: linear too (mapping each to its column was
     * quadratic: 65 s) */
    sbuf_adds(&sb, "{\"name\": \"subst\", \"description\": \"");
    for (int i = 0; i < 120000; i++)
        sbuf_adds(&sb, "${nope}");
    sbuf_adds(&sb, "\", \"target\": {\"kind\": \"lab\", \"url\": \"http://x/\"},"
                   " \"load\": {\"rate\": 1}}");
    t0 = zd_now_us();
    CHECK_EQ_INT(load_str(sbuf_str(&sb), NULL, 0, &s, &d), -1);
    took = zd_now_us() - t0;
    CHECK(took < 3000000);
    CHECK_EQ_INT(d.n, 101);
    CHECK_EQ_STR(d.n ? d.v[1].msg : "",
                 "t.json:1:42: undefined variable 'nope' (define it in \"vars\", the environment "
                 "or with --var nope=...) (at $.description)");
    scn_diags_free(&d);
    sbuf_free(&sb);

    /* a flood of mistakes stops at 100 lines plus one that says so */
    sbuf_adds(&sb, "{\"name\": \"flood\", \"target\": {\"kind\": \"lab\", \"url\": \"http://x/\"},"
                   " \"load\": {\"rate\": 1}, \"steps\": [");
    for (int i = 0; i < 200; i++)
        sbuf_addf(&sb, "%s{\"at\": \"10s\", \"fault\": \"nope\"}", i ? "," : "");
    sbuf_adds(&sb, "]}");
    CHECK_EQ_INT(load_str(sbuf_str(&sb), NULL, 0, &s, &d), -1);
    CHECK_EQ_INT(d.n, 101);
    CHECK_CONTAINS(d.n ? d.v[d.n - 1].msg : "", "too many errors, stopping after 100");
    scn_diags_free(&d);
    sbuf_free(&sb);
}

/* Holes a fuzzer and a newcomer found (issue 11): names at every length, \u0000, durations. */
static void test_strict_holes(void)
{
    static const size_t lens[] = {129, 130, 192, 193, 600, 4096, 4097, 70000};
    for (size_t i = 0; i < ZD_ARRAY_LEN(lens); i++) {
        struct sbuf n = SBUF_INIT, sb = SBUF_INIT;
        for (size_t k = 0; k < lens[i]; k++)
            sbuf_addc(&n, 'a');
        sbuf_addf(&sb,
                  "{\"name\": \"%s\", \"target\": {\"kind\": \"lab\", \"url\": \"http://x/\", "
                  "\"zones\": [\"%s\"]}, \"load\": {\"rate\": 1}, \"steps\": [{\"at\": \"10s\", "
                  "\"name\": \"%s\", \"fault\": \"kill_instances\", \"zone\": \"%s\"}], "
                  "\"probes\": [{\"kind\": \"http\", \"url\": \"http://x/\", \"name\": \"%s\"}], "
                  "\"vars\": {\"%s\": \"1\"}}",
                  sbuf_str(&n), sbuf_str(&n), sbuf_str(&n), sbuf_str(&n), sbuf_str(&n),
                  sbuf_str(&n));
        struct scn_scenario *s = NULL;
        struct scn_diags d = {NULL, 0, 0};
        CHECK_EQ_INT(load_str(sbuf_str(&sb), NULL, 0, &s, &d), -1);
        CHECK_EQ_INT(d.n, 6);
        static const char *const paths[] = {"$.name",           "$.target.zones[0]",
                                            "$.steps[0].name",  "$.steps[0].zone",
                                            "$.probes[0].name", "$.vars."};
        for (size_t k = 0; k < d.n && k < 6; k++) {
            CHECK_CONTAINS(d.v[k].msg, "name is longer than 128 characters");
            CHECK(d.v[k].path && strncmp(d.v[k].path, paths[k], strlen(paths[k])) == 0);
        }
        scn_diags_free(&d);
        sbuf_free(&sb);
        sbuf_free(&n);
    }
    /* 128 characters of UTF-8 (256 bytes) are a valid step name */
    struct sbuf sb = SBUF_INIT;
    sbuf_adds(&sb, "{\"name\": \"u\", \"target\": {\"kind\": \"lab\", \"url\": \"http://x/\"}, "
                   "\"load\": {\"rate\": 1}, \"steps\": [{\"at\": \"10s\", \"name\": \"");
    for (int k = 0; k < 128; k++)
        sbuf_adds(&sb, "\xc3\xa9");
    sbuf_adds(&sb, "\", \"fault\": \"kill_instances\"}]}");
    struct scn_scenario *s = NULL;
    struct scn_diags d = {NULL, 0, 0};
    CHECK_EQ_INT(load_str(sbuf_str(&sb), NULL, 0, &s, &d), 0);
    scn_free(s);
    s = NULL;
    scn_diags_free(&d);
    sbuf_free(&sb);

    static const struct {
        const char *json, *msg;
    } bad[] = {
        {"\"warmup\": \"warmup\\u0000zzz\"",
         "t.json:1:100: syntax error: \\u0000 (a NUL character) is not allowed in a string"},
        {"\"description\": \"a\\u0000\"",
         "syntax error: \\u0000 (a NUL character) is not allowed in a string"},
        {"\"warmup\": \"0x10s\"", "'warmup': duration '0x10s' is not a decimal number"},
        {"\"warmup\": \"0x1p4s\"", "'warmup': duration '0x1p4s' is not a decimal number"},
        {"\"warmup\": \"1e1s\"", "'warmup': duration '1e1s' is not a decimal number"},
        {"\"warmup\": \"1e-7s\"", "'warmup': duration '1e-7s' is not a decimal number"},
        {"\"warmup\": \"0.0000001s\"",
         "'warmup': duration '0.0000001s' is shorter than 1us, the finest zonedef keeps"},
    };
    for (size_t i = 0; i < ZD_ARRAY_LEN(bad); i++) {
        sbuf_addf(&sb,
                  "{\"name\": \"x\", \"target\": {\"kind\": \"lab\", \"url\": \"http://x/\"}, "
                  "\"load\": {\"rate\": 1}, %s}",
                  bad[i].json);
        CHECK_EQ_INT(load_str(sbuf_str(&sb), NULL, 0, &s, &d), -1);
        CHECK_CONTAINS(d.n ? d.v[0].msg : "", bad[i].msg);
        scn_diags_free(&d);
        sbuf_free(&sb);
    }
}

static void test_defaults_and_derived(void)
{
    struct scn_scenario *s = NULL;
    struct scn_diags d = {NULL, 0, 0};
    const char *t =
        "{\"name\": \"d\", \"target\": {\"kind\": \"lab\", \"url\": \"http://x/\"},"
        " \"load\": {\"rate\": 10}, \"warmup\": \"5s\", \"settle\": \"3s\","
        " \"steps\": [{\"at\": \"20s\", \"fault\": \"kill_instances\"},"
        " {\"at\": \"6s\", \"fault\": \"latency\", \"delay\": \"1ms\", \"for\": \"30s\"}]}";
    CHECK_EQ_INT(load_str(t, NULL, 0, &s, &d), 0);
    if (s) {
        CHECK_EQ_INT(s->duration_us, 39000000); /* 6s + 30s + settle 3s */
        CHECK_EQ_INT(s->steps[0].fault, SCN_FAULT_LATENCY);
        CHECK_EQ_INT(s->steps[1].signal, SIGKILL);
        CHECK_EQ_STR(s->steps[1].name, "kill_instances@20s");
        CHECK(scn_status_expected(&s->load, 200));
        CHECK(scn_status_expected(&s->load, 399));
        CHECK(!scn_status_expected(&s->load, 404));
    }
    scn_free(s);
    scn_diags_free(&d);
    /* "~/" in path options means $HOME; the ssh defaults come from the environment */
    const char *home = getenv("HOME");
    char *saved = home ? xstrdup(home) : NULL;
    setenv("HOME", "/home/zd", 1);
    setenv("USER", "zd-user", 1);
    t = "{\"name\": \"p\", \"target\": {\"kind\": \"ssh\", \"url\": \"http://x/\","
        " \"zones\": {\"a\": [\"h1\"]}, \"key\": \"~/.ssh/k\"}, \"load\": {\"rate\": 1},"
        " \"guards\": {\"kill_switch\": \"~/STOP\"}}";
    CHECK_EQ_INT(load_str(t, NULL, 0, &s, &d), 0);
    if (s) {
        CHECK_EQ_STR(s->target.ssh_key, "/home/zd/.ssh/k");
        CHECK_EQ_STR(s->target.ssh_known_hosts, "/home/zd/.ssh/known_hosts");
        CHECK_EQ_STR(s->target.ssh_user, "zd-user");
        CHECK_EQ_STR(s->guards.kill_switch, "/home/zd/STOP");
        CHECK_EQ_INT(s->target.ssh_port, 22);
        CHECK_EQ_INT(s->target.ssh_parallel, 32);
        CHECK(s->target.ssh_strict_host_key);
        CHECK_EQ_INT(s->target.ssh_connect_timeout_us, 10000000);
    }
    scn_free(s);
    scn_diags_free(&d);
    if (saved)
        setenv("HOME", saved, 1);
    free(saved);

    CHECK_EQ_STR(scn_fault_name(SCN_FAULT_EXEC), "exec");
    CHECK(scn_fault_name(SCN_FAULT__COUNT) == NULL);
    CHECK(scn_fault_selects(SCN_FAULT_KILL_INSTANCES));
    CHECK(!scn_fault_selects(SCN_FAULT_TRAFFIC_SPIKE));
    CHECK(!scn_fault_selects(SCN_FAULT_BLACKHOLE_ZONE));
    scn_free(NULL);
    scn_diags_free(NULL);
}

static void test_jsonpos(void)
{
    const char *t = "{\n\t\"k\": \"h\\u00e9llo\\n(x\",\n  \"\xc3\xa9\": [1, {\"a\": true}]\n}";
    size_t len = strlen(t);
    struct jp_value *v = NULL;
    size_t n = jp_scan(t, len, &v);
    CHECK_EQ_INT(n, 6); /* {}, "k" value, é array, 1, {}, true */
    if (n == 6) {
        CHECK_EQ_INT(v[0].off, 0);
        CHECK(v[0].key_off == JP_NO_KEY);
        CHECK_EQ_INT(v[1].key_off, 3);
        CHECK_EQ_INT(v[1].off, 8);
        CHECK(v[3].key_off == JP_NO_KEY);
        CHECK_EQ_INT(t[v[5].off], 't');
    }
    free(v);
    int line = 0, col = 0;
    jp_linecol(t, len, 8, NULL, &line, &col);
    CHECK_EQ_INT(line, 2);
    CHECK_EQ_INT(col, 7);
    /* the array after a two-byte key: columns count characters */
    size_t arr = (size_t)(strchr(t, '[') - t);
    struct jp_cursor cur = {0, 1, 0};
    jp_linecol(t, len, arr, &cur, &line, &col);
    CHECK_EQ_INT(line, 3);
    CHECK_EQ_INT(col, 8);
    /* decoded byte 6 of "h\u00e9llo\n(x" is the '\n' escape: é decodes to 2 bytes */
    CHECK_EQ_INT(jp_string_byte_off(t, len, 8, 0), 9);
    CHECK_EQ_INT(jp_string_byte_off(t, len, 8, 1), 10);
    CHECK_EQ_INT(jp_string_byte_off(t, len, 8, 3), 16);
    CHECK_EQ_INT(jp_string_byte_off(t, len, 8, 6), 19);
    CHECK_EQ_INT(jp_string_byte_off(t, len, 8, 7), 21);
    size_t bad = 0;
    const char *what = NULL;
    CHECK_EQ_INT(jp_precheck(t, len, 32, &bad, &what), 0);
    CHECK_EQ_INT(jp_precheck(t, len, 2, &bad, &what), -1);
    CHECK_EQ_INT(bad, arr + 4);
    CHECK_EQ_INT(jp_precheck("\"\xed\xa0\x80\"", 5, 32, &bad, &what), -1); /* a surrogate */
    CHECK_EQ_INT(bad, 1);
    CHECK_EQ_INT(jp_precheck("\"\xc0\xaf\"", 4, 32, &bad, &what), -1); /* overlong */
    CHECK_EQ_INT(jp_syntax(t, len, &bad, &what), 0);
    CHECK_EQ_INT(jp_syntax("{\"a\": 1 \"b\": 2}", 15, &bad, &what), -1);
    CHECK_EQ_INT(bad, 8);
    CHECK_CONTAINS(what, "missing comma");
    CHECK_EQ_INT(jp_syntax("[1, 2,]", 7, &bad, &what), -1);
    CHECK_EQ_INT(bad, 5);
    CHECK_EQ_INT(jp_syntax("[1e5, -0.5, 0]", 14, &bad, &what), 0);
    CHECK_EQ_INT(jp_syntax("[+1]", 4, &bad, &what), -1);
    CHECK_EQ_INT(jp_syntax("[.5]", 4, &bad, &what), -1);
    CHECK_EQ_INT(jp_syntax("[1.]", 4, &bad, &what), -1);
    CHECK_EQ_INT(jp_syntax("\"a\tb\"", 5, &bad, &what), -1);
    CHECK_EQ_INT(bad, 2);
    CHECK_EQ_INT(jp_syntax("{}", 2, &bad, &what), 0);
    /* what cJSON would refuse must be refused here first, with a position */
    CHECK_EQ_INT(jp_syntax("[\"\\ud83d\\ude00\"]", 16, &bad, &what), 0);
    CHECK_EQ_INT(jp_syntax("[\"\\ud83d\"]", 10, &bad, &what), -1);
    CHECK_EQ_INT(bad, 2);
    CHECK_CONTAINS(what, "high surrogate");
    CHECK_EQ_INT(jp_syntax("[\"\\ude00\"]", 10, &bad, &what), -1);
    CHECK_CONTAINS(what, "low surrogate");
    char num[80];
    memset(num, '1', sizeof(num));
    num[0] = '[';
    num[sizeof(num) - 1] = ']';
    CHECK_EQ_INT(jp_syntax(num, sizeof(num), &bad, &what), -1);
    CHECK_CONTAINS(what, "number too long");
    CHECK_EQ_INT(jp_syntax(num + 16, sizeof(num) - 16, &bad, &what), -1); /* no '[' */
    num[16] = '[';
    CHECK_EQ_INT(jp_syntax(num + 16, sizeof(num) - 16, &bad, &what), 0); /* 62 digits */
    CHECK_EQ_INT(jp_syntax("{} {}", 5, &bad, &what), -1);
    CHECK_EQ_INT(jp_syntax("{\"a\":", 5, &bad, &what), -1);
    CHECK_EQ_INT(bad, 5);
    CHECK_CONTAINS(what, "end of file");
}

int main(void)
{
    if (access(DATA, F_OK) != 0) {
        fprintf(stderr, "test_scenario: run from the repository root (%s not found)\n", DATA);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    TH_RUN(test_valid_files, test_invalid_files, test_three_mistakes, test_vars, test_deep_nesting,
           test_strict_holes, test_size_limits, test_defaults_and_derived, test_jsonpos);
}
