/* test_journal: write a journal, read it back, survive a torn last line, find open faults,
 * repair the tail before appending, and rebuild the measurement input from it. */
#include <fcntl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "run/journal.h"
#include "run/results.h"
#include "base/util.h"

static char dir[64];

static char *path_in(const char *name)
{
    char *p = malloc(128);
    snprintf(p, 128, "%s/%s", dir, name);
    return p;
}

static void append_raw(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    if (fd >= 0) {
        ssize_t w = write(fd, text, strlen(text));
        (void)w;
        close(fd);
    }
}

static struct jn_step steps[2] = {
    {.name = (char *)"zone-b",
     .fault = (char *)"blackhole_zone",
     .at_us = 3000000,
     .for_us = 3000000,
     .expect_recovery_us = 10000000,
     .expect_max_error_rate = -1},
    {.name = (char *)"kill-a",
     .fault = (char *)"kill_instances",
     .at_us = 7000000,
     .expect_max_error_rate = 0.5},
};

static void write_start(struct journal *j)
{
    struct jn_start s = {
        .scenario_path = "x.json",
        .scenario_name = "x",
        .target_kind = "lab",
        .target_key = "lab:/tmp/lab \"quoted\"",
        .run_dir = dir,
        .wall_us = 1700000000000000ull,
        .mono_us = 5,
        .interval_us = 100000,
        .rate = 200,
        .warmup_us = 3000000,
        .settle_us = 3000000,
        .steady = {.error_rate = 0.01, .p99_us = 0, .window_us = 1000000, .hold_us = 2000000},
        .expect = {.recovery_us = 0, .availability = 0.9, .max_error_rate = -1, .min_score = -1},
        .steps = steps,
        .nsteps = 2,
    };
    CHECK_EQ_INT(jn_rec_start(j, &s, NULL), 0);
}

static void write_intervals(struct journal *j, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct tl_stats st = {0};
        st.start_us = i * 100000;
        st.len_us = 100000;
        st.total = 20;
        st.counts[TL_OK] = (i >= 32 && i < 45) ? 10 : 20;
        st.counts[TL_CONNECT_TIMEOUT] = 20 - st.counts[TL_OK];
        if (i == 50) {
            st.counts[TL_OK] = 18;
            st.counts[TL_NOT_SENT] = 2;
        }
        st.errors = st.total - st.counts[TL_OK];
        st.p50_us = 1000;
        st.p90_us = 1500;
        st.p99_us = st.errors ? 20000 : 2000;
        st.max_us = st.p99_us;
        CHECK_EQ_INT(jn_rec_interval(j, i, &st, NULL), 0);
    }
}

static void test_write_read(void)
{
    char *p = path_in("a.jsonl");
    char *err = NULL;
    struct journal *j = jn_open(p, false, &err);
    CHECK(j != NULL);
    /* O_EXCL: a second create fails */
    CHECK(jn_open(p, false, &err) == NULL);
    CHECK_CONTAINS(err, "cannot open journal");
    write_start(j);
    CHECK_EQ_INT(jn_rec_phase(j, "warmup", 0, NULL), 0);
    CHECK_EQ_INT(jn_rec_intent(j, 0, "zone-b", "blackhole_zone", 3000000,
                               "{\n \"kind\": \"lab\", \"zone\": \"b\"\n}", "black-hole b", 3000000,
                               1700000003000000ull, NULL),
                 0);
    CHECK_EQ_INT(jn_rec_applied(j, 0, true, NULL, NULL, 3010000, 1700000003010000ull, NULL), 0);
    CHECK_EQ_INT(jn_rec_intent(j, 1, "kill-a", "kill_instances", 0,
                               "{\"kind\":\"lab\",\"pids\":[1,2]}", "kill a1", 7000000, 0, NULL),
                 0);
    CHECK_EQ_INT(jn_rec_applied(j, 1, true, NULL, "ssm command 7b1e-42 on i-1", 7000000, 0, NULL),
                 0);
    CHECK_EQ_INT(jn_rec_undo_intent(j, 0, "run", 6000000, 0, NULL), 0);
    CHECK_EQ_INT(jn_rec_undone(j, 0, true, NULL, "run", 6005000, 0, NULL), 0);
    CHECK_EQ_INT(jn_rec_probe(j, "home", true, "200", 4000000, NULL), 0);
    CHECK_EQ_INT(jn_rec_guard(j, "kill_switch", "file /tmp/x", 4000000, NULL), 0);
    /* an action that is not JSON is refused before anything is written */
    CHECK_EQ_INT(jn_rec_intent(j, 2, "x", "exec", 0, "not json", "", 0, 0, &err), -1);
    CHECK_CONTAINS(err, "not a JSON object");
    write_intervals(j, 100);
    /* an interval journaled again (late results) replaces the first record */
    struct tl_stats again = {.start_us = 5000000, .len_us = 100000, .total = 20, .errors = 1};
    again.counts[TL_OK] = 19;
    again.counts[TL_NOT_SENT] = 1;
    CHECK_EQ_INT(jn_rec_interval(j, 50, &again, NULL), 0);
    /* the load's totals: the engine, connect and TLS handshake times */
    struct jn_load ld = {.engine = "native",
                         .engine_why = "auto: native for https:// over HTTP/1.1",
                         .connections = 64,
                         .threads = 2,
                         .conns_opened = 80,
                         .achieved_rate = 199.96,
                         .lateness_p99_us = 850,
                         .connects = 80,
                         .connect_p50_us = 120,
                         .connect_p99_us = 900,
                         .tls_handshakes = 78,
                         .tls_resumed = 14,
                         .tls_failed = 2,
                         .handshake_p50_us = 1500,
                         .handshake_p99_us = 4200};
    CHECK_EQ_INT(jn_rec_load(j, &ld, 9900000, NULL), 0);
    jn_close(j);

    /* a target's note rides with its "applied" record, and only there */
    char *text = NULL;
    size_t tlen = 0;
    CHECK_EQ_INT(zd_read_file(p, 1 << 20, &text, &tlen, NULL), 0);
    CHECK_CONTAINS(text, "\"type\":\"applied\",\"step\":1,\"ok\":true,\"error\":null,"
                         "\"note\":\"ssm command 7b1e-42 on i-1\"");
    CHECK(strstr(text, "\"step\":0,\"ok\":true,\"error\":null,\"t_us\"") != NULL);
    free(text);

    struct jn_run r;
    CHECK_EQ_INT(jn_read(p, &r, &err), 0);
    CHECK(r.has_start);
    CHECK(!r.torn);
    CHECK_EQ_STR(r.target_key, "lab:/tmp/lab \"quoted\"");
    CHECK_EQ_STR(r.scenario_name, "x");
    CHECK_EQ_INT(r.interval_us, 100000);
    CHECK_EQ_INT(r.start_wall_us, 1700000000000000ull);
    CHECK_NEAR(r.steady.error_rate, 0.01, 1e-15);
    CHECK_EQ_INT(r.steady.hold_us, 2000000);
    CHECK_NEAR(r.expect.availability, 0.9, 1e-15);
    CHECK_NEAR(r.expect.max_error_rate, -1, 1e-15);
    CHECK_EQ_INT(r.nsteps, 2);
    CHECK_EQ_STR(r.steps[1].name, "kill-a");
    CHECK_NEAR(r.steps[1].expect_max_error_rate, 0.5, 1e-15);
    CHECK_EQ_INT(r.nfaults, 2);
    CHECK_EQ_STR(r.faults[0].action, "{\"kind\":\"lab\",\"zone\":\"b\"}");
    CHECK_EQ_INT(r.faults[0].intent_wall_us, 1700000003000000ull);
    CHECK(r.faults[0].applied_ok);
    CHECK(r.faults[0].undone);
    CHECK(r.faults[0].run_undo_seen);
    CHECK_EQ_INT(r.faults[0].run_undo_t_us, 6000000);
    CHECK(!r.faults[1].undone);
    CHECK_EQ_INT(jn_open_faults(&r), 1);
    CHECK_EQ_INT(r.niv, 100);
    CHECK_EQ_INT(r.iv[40].errors, 10);
    CHECK_EQ_INT(r.iv[50].not_sent, 1);
    CHECK_EQ_INT(r.iv[50].errors, 1);
    CHECK_EQ_INT(r.nprobes, 1);
    CHECK_EQ_INT(r.nguards, 1);
    CHECK(!r.ended);
    CHECK(r.has_load);
    CHECK_EQ_STR(r.load.engine, "native");
    CHECK_EQ_STR(r.load.engine_why, "auto: native for https:// over HTTP/1.1");
    CHECK_EQ_INT(r.load.threads, 2);
    CHECK_EQ_INT(r.load.connect_p99_us, 900);
    CHECK_EQ_INT(r.load.tls_resumed, 14);
    CHECK_EQ_INT(r.load.handshake_p99_us, 4200);
    CHECK_NEAR(r.load.achieved_rate, 200.0, 1e-9); /* rounded to 0.1 req/s */

    /* the measurement input comes from the journal alone */
    struct ms_input in;
    struct ms_fault_in *fs;
    CHECK_EQ_INT(jn_measure_input(&r, &in, &fs, NULL), 0);
    CHECK_EQ_INT(in.nfaults, 2);
    CHECK_EQ_INT(fs[0].inject_us, 3000000);
    CHECK_EQ_INT(fs[0].end_us, 6000000);
    CHECK_EQ_INT(fs[0].expect_recovery_us, 10000000);
    CHECK_EQ_INT(fs[1].end_us, 7000000); /* instantaneous */
    struct ms_result m;
    CHECK_EQ_INT(ms_compute(&in, &m, NULL), 0);
    CHECK_EQ_INT(m.faults[0].ttd_us, 200000);
    CHECK_EQ_INT(m.faults[0].ttr_us, 1500000);
    CHECK_EQ_INT(m.overall.not_sent, 1);

    /* result.json round trip keeps what the scorecard shows */
    struct res_doc d, back;
    res_build(&r, &m, "passed", 0, NULL, &d);
    char *json = res_to_json(&d);
    CHECK_EQ_INT(res_parse(json, &back, &err), 0);
    CHECK_NEAR(back.score.total, d.score.total, 1e-9);
    CHECK_EQ_INT(back.nfaults, 2);
    CHECK_EQ_INT(back.faults[0].ttr_us, 1500000);
    CHECK_EQ_INT(back.faults[0].inject_wall_us, 1700000003000000ull);
    CHECK(!back.faults[1].undone);
    CHECK_EQ_INT(back.nchecks, d.nchecks);
    CHECK_CONTAINS(json, "\"engine\":\t\"native\"");
    CHECK_CONTAINS(json, "\"tls_handshake\":\t{");
    CHECK(back.has_load);
    CHECK_EQ_STR(back.load.engine_why, "auto: native for https:// over HTTP/1.1");
    CHECK_EQ_INT(back.load.connect_p50_us, 120);
    CHECK_EQ_INT(back.load.connects, 80);
    CHECK_EQ_INT(back.load.tls_handshakes, 78);
    CHECK_EQ_INT(back.load.tls_failed, 2);
    CHECK_EQ_INT(back.load.handshake_p50_us, 1500);
    CHECK_NEAR(back.load.achieved_rate, 200.0, 1e-9); /* rounded to 0.1 req/s */
    struct sbuf a = SBUF_INIT, b = SBUF_INIT;
    res_scorecard(&d, &a, false);
    res_scorecard(&back, &b, false);
    CHECK_EQ_STR(sbuf_str(&a), sbuf_str(&b));
    CHECK_CONTAINS(sbuf_str(&a), "recovered after 1.5s");
    CHECK_CONTAINS(sbuf_str(&a), "NOT UNDONE");
    CHECK_CONTAINS(sbuf_str(&a),
                   "load        native engine, 80 connections opened, connect p50 0.12ms "
                   "p99 0.90ms; TLS handshakes 78 (14 resumed, 2 failed) p50 1.50ms "
                   "p99 4.20ms\n");
    res_free(&back);
    CHECK_EQ_INT(res_parse("{\"schema\":99}", &back, &err), -1);
    CHECK_CONTAINS(err, "schema 1");
    sbuf_free(&a);
    sbuf_free(&b);
    free(json);
    res_free(&d);
    res_free(&back);
    ms_result_free(&m);
    free(fs);
    jn_run_free(&r);
    free(err);
    free(p);
}

static void test_torn(void)
{
    char *p = path_in("b.jsonl");
    struct journal *j = jn_open(p, false, NULL);
    write_start(j);
    CHECK_EQ_INT(jn_rec_intent(j, 0, "zone-b", "blackhole_zone", 3000000,
                               "{\"kind\":\"lab\",\"zone\":\"b\"}", "b", 1, 2, NULL),
                 0);
    jn_close(j);
    /* a crash in the middle of the next write */
    append_raw(p, "{\"type\":\"applied\",\"step\":0,\"o");
    struct jn_run r;
    char *err = NULL;
    CHECK_EQ_INT(jn_read(p, &r, &err), 0);
    CHECK(r.torn);
    CHECK_EQ_INT(r.nfaults, 1);
    CHECK(!r.faults[0].applied_seen);
    /* intended but maybe applied: open */
    CHECK_EQ_INT(jn_open_faults(&r), 1);
    jn_run_free(&r);

    /* appending (as recover does) first cuts the torn tail, so the file stays readable */
    j = jn_open(p, true, &err);
    CHECK(j != NULL);
    CHECK_EQ_INT(jn_rec_undo_intent(j, 0, "recover", 0, 3, NULL), 0);
    CHECK_EQ_INT(jn_rec_undone(j, 0, true, NULL, "recover", 0, 4, NULL), 0);
    jn_close(j);
    CHECK_EQ_INT(jn_read(p, &r, &err), 0);
    CHECK(!r.torn);
    CHECK_EQ_INT(r.lines, 4);
    CHECK_EQ_INT(jn_open_faults(&r), 0);
    CHECK(!r.faults[0].run_undo_seen);
    jn_run_free(&r);

    /* a damaged line in the middle is an error that names the line */
    append_raw(p, "garbage\n{\"type\":\"phase\",\"phase\":\"x\"}\n");
    CHECK_EQ_INT(jn_read(p, &r, &err), -1);
    CHECK_CONTAINS(err, "damaged journal: ");
    CHECK_CONTAINS(err, "b.jsonl:5: not a JSON object");
    free(err);
    free(p);
}

static void test_failed_undo_and_bad_files(void)
{
    char *p = path_in("c.jsonl");
    struct journal *j = jn_open(p, false, NULL);
    write_start(j);
    CHECK_EQ_INT(
        jn_rec_intent(j, 0, "e", "exec", 1000000, "{\"kind\":\"lab\"}", "exec", 1, 2, NULL), 0);
    CHECK_EQ_INT(jn_rec_applied(j, 0, true, NULL, NULL, 1, 2, NULL), 0);
    CHECK_EQ_INT(jn_rec_undo_intent(j, 0, "run", 2, 3, NULL), 0);
    CHECK_EQ_INT(jn_rec_undone(j, 0, false, "exit status 3", "run", 2, 3, NULL), 0);
    CHECK_EQ_INT(jn_rec_end(j, "undo_failed", 4, 12.3, false, 5, 6, NULL), 0);
    jn_close(j);
    struct jn_run r;
    char *err = NULL;
    CHECK_EQ_INT(jn_read(p, &r, &err), 0);
    CHECK(r.faults[0].undo_failed);
    CHECK_EQ_STR(r.faults[0].undo_error, "exit status 3");
    CHECK_EQ_INT(jn_open_faults(&r), 1);
    CHECK(r.ended);
    CHECK_EQ_STR(r.end_status, "undo_failed");
    CHECK_EQ_INT(r.end_exit, 4);
    CHECK_NEAR(r.end_score, 12.3, 1e-9);
    jn_run_free(&r);

    /* no start record / missing file / applied without intent */
    char *q = path_in("d.jsonl");
    append_raw(q, "");
    int fd = open(q, O_WRONLY | O_CREAT, 0644);
    close(fd);
    CHECK_EQ_INT(jn_read(q, &r, &err), -1);
    CHECK_CONTAINS(err, "no start record");
    append_raw(q, "{\"type\":\"phase\"}\n");
    CHECK_EQ_INT(jn_read(q, &r, &err), -1);
    CHECK_CONTAINS(err, "does not begin with a start record");
    char *m = path_in("missing.jsonl");
    CHECK_EQ_INT(jn_read(m, &r, &err), -1);
    CHECK_CONTAINS(err, "missing.jsonl");
    free(err);
    free(m);
    free(q);
    free(p);
}

/* recover's way in: trusted, read and appended through one descriptor */
static void test_open_trusted(void)
{
    char *rd = path_in("run");
    CHECK_EQ_INT(mkdir(rd, 0700), 0);
    char *p = xasprintf("%s/journal.jsonl", rd);
    struct journal *j = jn_open(p, false, NULL);
    CHECK(j != NULL);
    write_start(j);
    CHECK_EQ_INT(jn_rec_intent(j, 0, "e", "exec", 0, "{\"kind\":\"lab\"}", "x", 1, 2, NULL), 0);
    jn_close(j);
    struct stat st;
    CHECK_EQ_INT(stat(p, &st), 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0600);
    /* a second create of the same journal is refused (O_EXCL) */
    CHECK(jn_open(p, false, NULL) == NULL);
    append_raw(p, "{\"type\":\"und");
    struct jn_run r;
    int why = -1;
    char *err = NULL;
    j = jn_open_trusted(rd, &r, &why, &err);
    CHECK(j != NULL);
    CHECK_EQ_INT(why, 0);
    CHECK(r.torn);
    CHECK_EQ_INT(jn_open_faults(&r), 1);
    CHECK_EQ_INT(jn_rec_undone(j, 0, true, NULL, "recover", 0, 4, NULL), 0);
    jn_close(j);
    jn_run_free(&r);
    CHECK_EQ_INT(jn_read(p, &r, &err), 0);
    CHECK(!r.torn);
    CHECK_EQ_INT(jn_open_faults(&r), 0);
    jn_run_free(&r);
    /* refusals: a world-writable run directory, a symlinked journal, a missing or damaged one */
    chmod(rd, 0777);
    CHECK(jn_open_trusted(rd, &r, &why, &err) == NULL);
    CHECK_EQ_INT(why, JN_UNTRUSTED);
    CHECK_CONTAINS(err, "is writable by others (mode 0777): not trusted");
    chmod(rd, 0700);
    char *victim = path_in("victim");
    append_raw(victim, "");
    int fd = open(victim, O_WRONLY | O_CREAT, 0600);
    CHECK_EQ_INT(write(fd, "precious\n", 9), 9);
    close(fd);
    CHECK_EQ_INT(rename(p, victim), 0);
    CHECK_EQ_INT(symlink(victim, p), 0);
    CHECK(jn_open_trusted(rd, &r, &why, &err) == NULL);
    CHECK_EQ_INT(why, JN_UNTRUSTED);
    CHECK_CONTAINS(err, "journal.jsonl' is a symbolic link: not trusted");
    CHECK(jn_open(p, true, &err) == NULL);
    CHECK_CONTAINS(err, "is a symbolic link");
    CHECK_EQ_INT(stat(victim, &st), 0);
    CHECK(st.st_size > 9); /* untouched: not truncated, nothing appended */
    unlink(p);
    CHECK(jn_open_trusted(rd, &r, &why, &err) == NULL);
    CHECK_EQ_INT(why, JN_MISSING);
    fd = open(p, O_WRONLY | O_CREAT, 0600);
    CHECK_EQ_INT(write(fd, "{\"type\":\"phase\"}\n", 17), 17);
    close(fd);
    CHECK(jn_open_trusted(rd, &r, &why, &err) == NULL);
    CHECK_EQ_INT(why, JN_DAMAGED);
    CHECK_CONTAINS(err, "damaged journal: ");
    CHECK_CONTAINS(err, "journal.jsonl:1: the journal does not begin with a start record");
    free(err);
    free(victim);
    free(p);
    free(rd);
}

static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/zonedef-tj.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    atexit(cleanup);
    TH_RUN(test_write_read, test_torn, test_failed_undo_and_bad_files, test_open_trusted);
}
