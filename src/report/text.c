/*
 * text: the two reports CI shows. JUnit XML for the test tab (the Ant schema in
 * tests/data/junit/JUnit.xsd: one <testsuite> per run, i.e. per scenario; one <testcase> per
 * expectation, per steady-state check and per fault's undo; a failure says measured vs expected),
 * and a Markdown summary for a pull-request comment or $GITHUB_STEP_SUMMARY (the checks as a
 * table, the score and its parts, a text sparkline of the error rate).
 */
#include "report/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"

static void xml_esc(struct sbuf *o, const char *s)
{
    char *r = zd_text_redact(s ? s : "");
    for (const unsigned char *p = (const unsigned char *)r; *p; p++) {
        switch (*p) {
        case '&': sbuf_adds(o, "&amp;"); break;
        case '<': sbuf_adds(o, "&lt;"); break;
        case '>': sbuf_adds(o, "&gt;"); break;
        case '"': sbuf_adds(o, "&quot;"); break;
        case '\'': sbuf_adds(o, "&apos;"); break;
        case '\n': sbuf_adds(o, "&#10;"); break;
        case '\t': sbuf_addc(o, ' '); break;
        default:
            if (*p >= 0x20 || *p == '\r')
                sbuf_addc(o, (char)*p); /* other control characters are not XML 1.0 */
        }
    }
    free(r);
}

struct tcase {
    const char *classname;
    char name[160];
    double time_s;
    bool failed, error;
    char message[512];
};

static void tc_out(struct sbuf *o, const char *suite, const struct tcase *t)
{
    sbuf_adds(o, "  <testcase classname=\"zonedef.");
    xml_esc(o, suite);
    sbuf_addf(o, ".%s\" name=\"", t->classname);
    xml_esc(o, t->name);
    sbuf_addf(o, "\" time=\"%.3f\"", t->time_s);
    if (!t->failed && !t->error) {
        sbuf_adds(o, "/>\n");
        return;
    }
    sbuf_addf(o, ">\n    <%s type=\"%s\" message=\"", t->error ? "error" : "failure",
              t->error ? "run" : "expectation");
    xml_esc(o, t->message);
    sbuf_adds(o, "\">");
    xml_esc(o, t->message);
    sbuf_addf(o, "</%s>\n  </testcase>\n", t->error ? "error" : "failure");
}

void rp_junit(const struct rp_run *r, struct sbuf *o)
{
    const struct res_doc *d = &r->doc;
    struct tcase *tc = xcalloc(d->nchecks + d->nfaults + 4, sizeof(*tc));
    size_t n = 0;
    for (size_t i = 0; i < d->nchecks; i++) {
        const struct ms_check *k = &d->checks[i];
        struct tcase *t = &tc[n++];
        t->classname = "expect";
        snprintf(t->name, sizeof(t->name), "%s", k->name);
        t->failed = !k->passed;
        snprintf(t->message, sizeof(t->message), "measured %s, expected %s", k->got, k->want);
        for (size_t f = 0; f < d->nfaults; f++) /* a fault's check takes its TTR as time */
            if (d->faults[f].recovered && d->faults[f].name && strstr(k->name, d->faults[f].name))
                t->time_s = (double)d->faults[f].ttr_us / 1e6;
    }
    bool unsteady = d->status && strcmp(d->status, "unsteady") == 0;
    struct tcase *t = &tc[n++];
    t->classname = "steady_state";
    snprintf(t->name, sizeof(t->name), "steady state holds before the first fault");
    t->failed = unsteady;
    snprintf(t->message, sizeof(t->message), "measured: did not hold%s%s, expected: held",
             d->reason ? ": " : "", d->reason ? d->reason : "");
    for (size_t f = 0; f < d->nfaults; f++) {
        t = &tc[n++];
        t->classname = "undo";
        snprintf(t->name, sizeof(t->name), "%s is undone", d->faults[f].name);
        t->error = !d->faults[f].undone;
        snprintf(t->message, sizeof(t->message), "measured: not undone (%s), expected: undone",
                 d->faults[f].undo_error ? d->faults[f].undo_error : "no undo record");
    }
    bool run_error =
        d->status && (strcmp(d->status, "aborted") == 0 || strcmp(d->status, "error") == 0 ||
                      strcmp(d->status, "undo_failed") == 0);
    if (run_error) {
        t = &tc[n++];
        t->classname = "run";
        snprintf(t->name, sizeof(t->name), "the run completes");
        t->error = true;
        snprintf(t->message, sizeof(t->message), "%s: %s", d->status,
                 d->reason ? d->reason : "no reason recorded");
    }
    size_t failures = 0, errors = 0;
    for (size_t i = 0; i < n; i++) {
        failures += tc[i].failed && !tc[i].error;
        errors += tc[i].error;
    }
    char iso[40];
    zd_iso8601(d->start_wall_us, iso, sizeof(iso));
    iso[19] = '\0'; /* the schema's pattern: no fraction, no zone (UTC by convention) */
    const char *suite = d->scenario && *d->scenario ? d->scenario : "scenario";
    sbuf_adds(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"");
    xml_esc(o, suite);
    sbuf_addf(o, "\" timestamp=\"%s\" hostname=\"", iso);
    xml_esc(o, d->target_key && *d->target_key ? d->target_key : "zonedef");
    sbuf_addf(o, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" time=\"%.3f\">\n", n, failures,
              errors, (double)d->duration_us / 1e6);
    sbuf_adds(o, "  <properties>\n");
    struct {
        const char *k;
        double v;
    } props[] = {{"score", d->score.total},
                 {"score.availability", d->score.availability},
                 {"score.recovery", d->score.recovery},
                 {"score.latency", d->score.latency},
                 {"score.error_rate", d->score.error_rate},
                 {"availability", d->overall.availability},
                 {"requests", (double)d->overall.requests},
                 {"failed", (double)d->overall.failed},
                 {"not_sent", (double)d->overall.not_sent}};
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
        sbuf_addf(o, "    <property name=\"%s\" value=\"%g\"/>\n", props[i].k, props[i].v);
    sbuf_adds(o, "    <property name=\"status\" value=\"");
    xml_esc(o, d->status);
    sbuf_adds(o, "\"/>\n    <property name=\"target\" value=\"");
    xml_esc(o, d->target_kind);
    sbuf_adds(o, "\"/>\n  </properties>\n");
    for (size_t i = 0; i < n; i++)
        tc_out(o, suite, &tc[i]);
    sbuf_adds(o, "  <system-out>");
    for (size_t i = 0; i < r->nev; i++) {
        char line[64];
        snprintf(line, sizeof(line), "[%7.1fs] ", (double)r->ev[i].t_us / 1e6);
        sbuf_adds(o, line);
        xml_esc(o, r->ev[i].text);
        sbuf_adds(o, "&#10;");
    }
    sbuf_adds(o, "</system-out>\n  <system-err></system-err>\n</testsuite>\n");
    free(tc);
}

/* ---- Markdown ---- */

static void md_cell(struct sbuf *o, const char *s)
{
    char *r = zd_text_redact(s ? s : "");
    for (const char *p = r; *p; p++) {
        if (*p == '|')
            sbuf_adds(o, "\\|");
        else if (*p == '\n')
            sbuf_addc(o, ' ');
        else
            sbuf_addc(o, *p);
    }
    free(r);
}

void rp_markdown(const struct rp_run *r, struct sbuf *o)
{
    const struct res_doc *d = &r->doc;
    char a[40], b[40], c[40];
    bool pass = d->passed && d->status && strcmp(d->status, "passed") == 0;
    sbuf_addf(o, "### %s zonedef: ", pass ? "✅" : "❌");
    md_cell(o, d->scenario);
    sbuf_addf(o, " %s, score %.1f/100\n\n", d->status ? d->status : "?", d->score.total);
    if (d->reason) {
        sbuf_adds(o, "> ");
        md_cell(o, d->reason);
        sbuf_adds(o, "\n\n");
    }
    sbuf_adds(o, "| check | expected | measured | result |\n|---|---|---|---|\n");
    for (size_t i = 0; i < d->nchecks; i++) {
        const struct ms_check *k = &d->checks[i];
        sbuf_adds(o, "| ");
        md_cell(o, k->name);
        sbuf_adds(o, " | ");
        md_cell(o, k->want);
        sbuf_adds(o, " | ");
        md_cell(o, k->got);
        sbuf_addf(o, " | %s |\n", k->passed ? "✅ pass" : "❌ fail");
    }
    if (d->nfaults) {
        sbuf_adds(o, "\n| fault | what | TTD | TTR | peak errors | availability |\n"
                     "|---|---|---|---|---|---|\n");
        for (size_t i = 0; i < d->nfaults; i++) {
            const struct res_fault *f = &d->faults[i];
            sbuf_adds(o, "| ");
            md_cell(o, f->name);
            sbuf_adds(o, " | ");
            md_cell(o, f->summary);
            sbuf_addf(o, " | %s", f->detected ? rp_fmt_us(f->ttd_us, a, sizeof(a)) : "—");
            sbuf_addf(o, " | %s",
                      f->recovered ? rp_fmt_us(f->ttr_us, a, sizeof(a)) : "not recovered");
            sbuf_addf(o, " | %s | %s |\n", rp_fmt_pct(f->peak_error_rate, a, sizeof(a)),
                      rp_fmt_pct(f->impact.availability, b, sizeof(b)));
        }
    }
    sbuf_addf(o,
              "\n**Score %.1f** = availability %.1f/40 + recovery %.1f/30 + latency %.1f/15 + "
              "error rate %.1f/15\n\n",
              d->score.total, d->score.availability, d->score.recovery, d->score.latency,
              d->score.error_rate);
    if (r->have_journal && r->jn.niv) {
        double *y = xcalloc(r->jn.niv, sizeof(double));
        for (size_t i = 0; i < r->jn.niv; i++)
            y[i] = r->jn.iv[i].total ? (double)r->jn.iv[i].errors / (double)r->jn.iv[i].total : 0;
        sbuf_addf(o, "Error rate over %.0f s (peak %s): `", (double)d->duration_us / 1e6,
                  rp_fmt_pct(d->peak_error_rate, a, sizeof(a)));
        rp_sparkline(y, r->jn.niv, 60, o);
        sbuf_adds(o, "`\n\n");
        free(y);
    }
    sbuf_addf(o,
              "Availability %s · %llu requests · %llu failed · %llu not sent · p99 %s "
              "(baseline %s)\n",
              rp_fmt_pct(d->overall.availability, a, sizeof(a)),
              (unsigned long long)d->overall.requests, (unsigned long long)d->overall.failed,
              (unsigned long long)d->overall.not_sent, rp_fmt_us(d->overall.p99_us, b, 40),
              rp_fmt_us(d->baseline.p99_us, c, sizeof(c)));
}
