/*
 * report: `zonedef report RUN_DIR` prints a finished run's scorecard from its result.json
 * (`--json`: the file itself); `--recompute` ignores result.json's numbers, recomputes every
 * measurement and the score from journal.jsonl alone, prints that, and says whether the score
 * equals the one the run published.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "run/journal.h"
#include "run/measure.h"
#include "run/results.h"

#include "base/banned.h"

static const char usage[] =
    "usage: zonedef report RUN_DIR [--json]\n"
    "       zonedef report --recompute RUN_DIR [--json]\n"
    "\n"
    "Prints the scorecard of a run from RUN_DIR/result.json (--json: the JSON itself).\n"
    "--recompute measures again from RUN_DIR/journal.jsonl alone and compares the score with\n"
    "result.json's: exit 0 when they are equal, 5 when they differ or cannot be compared.\n";

static int recompute(const char *dir, bool json)
{
    char *jp = xasprintf("%s/journal.jsonl", dir);
    char *rp = xasprintf("%s/result.json", dir);
    char *err = NULL;
    struct jn_run r;
    int code = ZD_EXIT_RUNTIME;
    if (jn_read(jp, &r, &err) < 0) {
        zd_error("report: %s", err);
        free(err);
        free(jp);
        free(rp);
        return zd_file_exists(dir) ? ZD_EXIT_RUNTIME : ZD_EXIT_USAGE;
    }
    struct ms_input in;
    struct ms_fault_in *fs = NULL;
    struct ms_result m;
    if (jn_measure_input(&r, &in, &fs, &err) < 0 || ms_compute(&in, &m, &err) < 0) {
        zd_error("report: %s", err);
        free(err);
        free(fs);
        jn_run_free(&r);
        free(jp);
        free(rp);
        return ZD_EXIT_RUNTIME;
    }
    struct res_doc d;
    res_build(&r, &m, r.end_status ? r.end_status : "unfinished", r.ended ? r.end_exit : -1, NULL,
              &d);
    if (json) {
        char *txt = res_to_json(&d);
        fputs(txt, stdout);
        free(txt);
    } else {
        struct sbuf sb = SBUF_INIT;
        res_scorecard(&d, &sb, zd_color(1));
        fputs(sbuf_str(&sb), stdout);
        sbuf_free(&sb);
    }
    char *text = NULL;
    size_t len = 0;
    struct res_doc orig;
    if (zd_read_file(rp, RES_MAX_BYTES, &text, &len, &err) < 0 ||
        res_parse(text, &orig, &err) < 0) {
        zd_error("report: cannot compare with result.json: %s", err);
        free(err);
    } else {
        char a[32], b[32];
        snprintf(a, sizeof(a), "%.1f", d.score.total);
        snprintf(b, sizeof(b), "%.1f", orig.score.total);
        if (strcmp(a, b) == 0) {
            fprintf(json ? stderr : stdout,
                    "recomputed from the journal: score %s, equal to result.json\n", a);
            code = ZD_EXIT_OK;
        } else {
            zd_error("report: recomputed score %s differs from result.json's %s", a, b);
        }
        res_free(&orig);
    }
    free(text);
    res_free(&d);
    ms_result_free(&m);
    free(fs);
    jn_run_free(&r);
    free(jp);
    free(rp);
    return code;
}

int cmd_report(int argc, char **argv)
{
    if (zd_wants_help(argc, argv, usage))
        return ZD_EXIT_OK;
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"recompute", no_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    bool json = false, re = false;
    int c;
    optind = 0;
    while ((c = zd_getopt(argc, argv, "", opts)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'r': re = true; break;
        default: return ZD_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        zd_error("report: %s (usage: zonedef report RUN_DIR [--json])",
                 optind >= argc ? "which run directory?" : "one run directory at a time");
        return ZD_EXIT_USAGE;
    }
    const char *dir = argv[optind];
    if (re)
        return recompute(dir, json);
    char *rp = xasprintf("%s/result.json", dir);
    char *text = NULL, *err = NULL;
    size_t len = 0;
    if (zd_read_file(rp, RES_MAX_BYTES, &text, &len, &err) < 0) {
        zd_error("report: %s", err);
        free(err);
        free(rp);
        return ZD_EXIT_USAGE;
    }
    struct res_doc d;
    if (res_parse(text, &d, &err) < 0) {
        zd_error("report: %s: %s", rp, err);
        free(err);
        free(text);
        free(rp);
        return ZD_EXIT_USAGE;
    }
    if (json) {
        fputs(text, stdout);
    } else {
        struct sbuf sb = SBUF_INIT;
        res_scorecard(&d, &sb, zd_color(1));
        fputs(sbuf_str(&sb), stdout);
        sbuf_free(&sb);
    }
    res_free(&d);
    free(text);
    free(rp);
    return ZD_EXIT_OK;
}
