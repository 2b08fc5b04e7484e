/*
 * report: `zonedef report RUN_DIR` prints a finished run's scorecard from its result.json
 * (`--json`: the file itself); `--format html,junit,md` renders the reports again from what the
 * run directory holds (src/report/), into the run directory or --out; `--summary FILE` appends
 * the Markdown summary (for $GITHUB_STEP_SUMMARY); `--compare BEFORE AFTER` shows what got
 * better or worse and exits 1 on a regression beyond the thresholds; `--recompute` ignores
 * result.json's numbers, recomputes every measurement and the score from journal.jsonl alone,
 * prints that, and says whether the score equals the one the run published.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "report/report.h"
#include "run/journal.h"
#include "run/measure.h"
#include "run/results.h"

#include "base/banned.h"

static const char usage[] =
    "usage: zonedef report RUN_DIR [--json]\n"
    "       zonedef report RUN_DIR --format html,junit,md,json,text [--out FILE] [--summary FILE]\n"
    "       zonedef report --compare BEFORE_DIR AFTER_DIR [--markdown] [--max-score-drop N]\n"
    "                      [--max-ttr-rise DURATION] [--max-availability-drop PCT]\n"
    "                      [--max-error-rise PCT]\n"
    "       zonedef report --recompute RUN_DIR [--json]\n"
    "\n"
    "Prints the scorecard of a run from RUN_DIR/result.json (--json: the JSON itself).\n"
    "--format renders the reports again from RUN_DIR (result.json and journal.jsonl): html to\n"
    "RUN_DIR/report.html, junit to RUN_DIR/junit.xml, md to RUN_DIR/summary.md, json and text\n"
    "to stdout; --out FILE writes the one format named to FILE instead ('-' = stdout).\n"
    "--summary FILE appends the Markdown summary to FILE (e.g. \"$GITHUB_STEP_SUMMARY\").\n"
    "--compare shows what got better or worse from BEFORE to AFTER; exit 1 when something\n"
    "regressed beyond a threshold (defaults: score -5, TTR +1s, availability -0.5, error rate\n"
    "+5 percentage points; a pass that became a fail always counts).\n"
    "--recompute measures again from RUN_DIR/journal.jsonl alone and compares the score with\n"
    "result.json's: exit 0 when they are equal, 5 when they differ or cannot be compared.\n";

static int load_run(const char *dir, struct rp_run *r)
{
    char *err = NULL;
    bool missing = false;
    if (rp_load(dir, r, &missing, &err) < 0) {
        zd_error("report: %s", err);
        free(err);
        return zd_file_exists(dir) && !missing ? ZD_EXIT_RUNTIME : ZD_EXIT_USAGE;
    }
    return ZD_EXIT_OK;
}

static int append_summary(const struct rp_run *r, const char *path)
{
    struct sbuf sb = SBUF_INIT;
    rp_markdown(r, &sb);
    sbuf_addc(&sb, '\n');
    FILE *f = fopen(path, "a");
    bool ok = f && fwrite(sb.buf, 1, sb.len, f) == sb.len;
    if (f && fclose(f) != 0)
        ok = false;
    sbuf_free(&sb);
    if (!ok) {
        zd_error("report: cannot append the summary to '%s'", path);
        return ZD_EXIT_RUNTIME;
    }
    return ZD_EXIT_OK;
}

enum { F_HTML = 1, F_JUNIT = 2, F_MD = 4, F_JSON = 8, F_TEXT = 16 };

static int parse_formats(const char *s, unsigned *out)
{
    *out = 0;
    char *copy = xstrdup(s), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "html") == 0)
            *out |= F_HTML;
        else if (strcmp(t, "junit") == 0)
            *out |= F_JUNIT;
        else if (strcmp(t, "md") == 0 || strcmp(t, "markdown") == 0)
            *out |= F_MD;
        else if (strcmp(t, "json") == 0)
            *out |= F_JSON;
        else if (strcmp(t, "text") == 0)
            *out |= F_TEXT;
        else {
            zd_error("report: unknown format '%s' (html, junit, md, json or text)", t);
            free(copy);
            return -1;
        }
    }
    free(copy);
    if (!*out) {
        zd_error("report: --format needs at least one of html, junit, md, json, text");
        return -1;
    }
    return 0;
}

static int write_out(const char *path, const struct sbuf *sb)
{
    if (strcmp(path, "-") == 0) {
        fwrite(sb->buf ? sb->buf : "", 1, sb->len, stdout);
        fflush(stdout);
        return ZD_EXIT_OK;
    }
    char *err = NULL;
    if (zd_write_file_atomic(path, sbuf_str(sb), sb->len, &err) < 0) {
        zd_error("report: %s", err);
        free(err);
        return ZD_EXIT_RUNTIME;
    }
    return ZD_EXIT_OK;
}

static int render(const char *dir, unsigned fmts, const char *out, const char *summary)
{
    struct rp_run r;
    int code = load_run(dir, &r);
    if (code != ZD_EXIT_OK)
        return code;
    static const struct {
        unsigned f;
        const char *file;
    } files[] = {{F_HTML, RP_FILE_HTML},
                 {F_JUNIT, RP_FILE_JUNIT},
                 {F_MD, RP_FILE_MD},
                 {F_JSON, NULL},
                 {F_TEXT, NULL}};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]) && code == ZD_EXIT_OK; i++) {
        if (!(fmts & files[i].f))
            continue;
        struct sbuf sb = SBUF_INIT;
        switch (files[i].f) {
        case F_HTML: rp_html(&r, &sb); break;
        case F_JUNIT: rp_junit(&r, &sb); break;
        case F_MD: rp_markdown(&r, &sb); break;
        case F_JSON: {
            char *j = res_to_json(&r.doc);
            sbuf_adds(&sb, j);
            free(j);
            break;
        }
        default: res_scorecard(&r.doc, &sb, !out && zd_color(1)); break;
        }
        char *path = out             ? xstrdup(out)
                     : files[i].file ? xasprintf("%s/%s", dir, files[i].file)
                                     : xstrdup("-");
        code = write_out(path, &sb);
        if (code == ZD_EXIT_OK && strcmp(path, "-") != 0 && !out)
            printf("wrote %s\n", path);
        free(path);
        sbuf_free(&sb);
    }
    if (code == ZD_EXIT_OK && summary)
        code = append_summary(&r, summary);
    rp_free(&r);
    return code;
}

static int compare(const char *a, const char *b, const struct rp_cmp_opts *o)
{
    struct rp_run ra, rb;
    int code = load_run(a, &ra);
    if (code != ZD_EXIT_OK)
        return code;
    if ((code = load_run(b, &rb)) != ZD_EXIT_OK) {
        rp_free(&ra);
        return code;
    }
    struct sbuf sb = SBUF_INIT;
    int n = rp_compare(&ra, &rb, o, &sb);
    fputs(sbuf_str(&sb), stdout);
    sbuf_free(&sb);
    rp_free(&ra);
    rp_free(&rb);
    return n > 0 ? ZD_EXIT_FAILED : ZD_EXIT_OK;
}

static bool pct_arg(const char *name, const char *v, double *out)
{
    char *err = NULL;
    if (zd_parse_double(v, 0, 100, out, &err) < 0) {
        zd_error("report: %s: %s", name, err);
        free(err);
        return false;
    }
    *out /= 100.0;
    return true;
}

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
        {"format", required_argument, NULL, 'f'},
        {"out", required_argument, NULL, 'o'},
        {"summary", required_argument, NULL, 's'},
        {"compare", no_argument, NULL, 'c'},
        {"markdown", no_argument, NULL, 'm'},
        {"max-score-drop", required_argument, NULL, 1},
        {"max-ttr-rise", required_argument, NULL, 2},
        {"max-availability-drop", required_argument, NULL, 3},
        {"max-error-rise", required_argument, NULL, 4},
        {NULL, 0, NULL, 0},
    };
    bool json = false, re = false, cmp = false;
    const char *fmt = NULL, *out = NULL, *summary = NULL;
    struct rp_cmp_opts co = {
        .max_score_drop = 5, .max_ttr_rise_s = 1, .max_avail_drop = 0.005, .max_error_rise = 0.05};
    char *err = NULL;
    uint64_t us;
    int c;
    optind = 0;
    while ((c = zd_getopt(argc, argv, "o:", opts)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'r': re = true; break;
        case 'f': fmt = optarg; break;
        case 'o': out = optarg; break;
        case 's': summary = optarg; break;
        case 'c': cmp = true; break;
        case 'm': co.markdown = true; break;
        case 1:
            if (zd_parse_double(optarg, 0, 100, &co.max_score_drop, &err) < 0) {
                zd_error("report: --max-score-drop: %s", err);
                free(err);
                return ZD_EXIT_USAGE;
            }
            break;
        case 2:
            if (zd_parse_duration(optarg, &us, &err) < 0) {
                zd_error("report: --max-ttr-rise: %s", err);
                free(err);
                return ZD_EXIT_USAGE;
            }
            co.max_ttr_rise_s = (double)us / 1e6;
            break;
        case 3:
            if (!pct_arg("--max-availability-drop", optarg, &co.max_avail_drop))
                return ZD_EXIT_USAGE;
            break;
        case 4:
            if (!pct_arg("--max-error-rise", optarg, &co.max_error_rise))
                return ZD_EXIT_USAGE;
            break;
        default: return ZD_EXIT_USAGE;
        }
    }
    if (cmp) {
        if (optind != argc - 2) {
            zd_error("report: --compare takes two run directories (usage: zonedef report "
                     "--compare BEFORE_DIR AFTER_DIR)");
            return ZD_EXIT_USAGE;
        }
        return compare(argv[optind], argv[optind + 1], &co);
    }
    if (optind != argc - 1) {
        zd_error("report: %s (usage: zonedef report RUN_DIR [--json])",
                 optind >= argc ? "which run directory?" : "one run directory at a time");
        return ZD_EXIT_USAGE;
    }
    const char *dir = argv[optind];
    if (re)
        return recompute(dir, json);
    if (fmt || summary) {
        unsigned fmts = 0;
        if (fmt && parse_formats(fmt, &fmts) < 0)
            return ZD_EXIT_USAGE;
        if (json)
            fmts |= F_JSON;
        if (out && (fmts & (fmts - 1))) {
            zd_error("report: --out takes one format at a time (got '%s')", fmt);
            return ZD_EXIT_USAGE;
        }
        if (out && !fmts) {
            zd_error("report: --out needs --format");
            return ZD_EXIT_USAGE;
        }
        return render(dir, fmts, out, summary);
    }
    if (out) {
        zd_error("report: --out needs --format");
        return ZD_EXIT_USAGE;
    }
    char *rp = xasprintf("%s/result.json", dir);
    char *text = NULL;
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
