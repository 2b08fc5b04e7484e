/*
 * results: the result document of a run. It is built once from the journal and the
 * measurements, written as result.json, parsed back by `zonedef report`, and rendered as the
 * scorecard both `run` and `report` print, so the two never disagree. Durations are written in
 * microseconds (`*_us`, exact) and seconds (`*_s`, for people and jq); rates as fractions.
 */
#include "run/results.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/banned.h"

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void res_build(const struct jn_run *run, const struct ms_result *m, const char *status,
               int exit_code, const char *reason, struct res_doc *d)
{
    memset(d, 0, sizeof(*d));
    d->scenario = dup_or_null(run->scenario_name);
    d->scenario_path = dup_or_null(run->scenario_path);
    d->target_kind = dup_or_null(run->target_kind);
    d->target_key = dup_or_null(run->target_key);
    d->run_dir = dup_or_null(run->run_dir);
    d->version = xstrdup(ZD_VERSION);
    d->start_wall_us = run->start_wall_us;
    d->duration_us = (uint64_t)run->niv * run->interval_us;
    d->status = xstrdup(status);
    d->exit_code = exit_code;
    d->reason = dup_or_null(reason);
    if ((d->has_load = run->has_load)) {
        d->load = run->load;
        d->load.engine = dup_or_null(run->load.engine);
        d->load.engine_why = dup_or_null(run->load.engine_why);
    }
    d->baseline = m->baseline;
    d->overall = m->overall;
    d->peak_error_rate = m->peak_error_rate;
    d->final_steady_known = m->final_steady_known;
    d->final_steady = m->final_steady;
    d->score = m->score;
    d->passed = m->passed;
    d->nchecks = m->nchecks;
    d->checks = xcalloc(m->nchecks ? m->nchecks : 1, sizeof(*d->checks));
    if (m->nchecks)
        memcpy(d->checks, m->checks, m->nchecks * sizeof(*d->checks));
    /* measured faults are the applied ones, in journal order (see jn_measure_input) */
    d->faults = xcalloc(run->nfaults ? run->nfaults : 1, sizeof(*d->faults));
    size_t k = 0;
    for (size_t i = 0; i < run->nfaults; i++) {
        const struct jn_fault *f = &run->faults[i];
        if (!f->applied_seen || !f->applied_ok)
            continue;
        struct res_fault *o = &d->faults[d->nfaults++];
        o->step = f->step;
        o->name = dup_or_null(f->name);
        o->fault = dup_or_null(f->fault);
        o->summary = dup_or_null(f->summary);
        o->inject_us = f->intent_t_us;
        o->end_us = f->for_us == 0     ? f->intent_t_us
                    : f->run_undo_seen ? f->run_undo_t_us
                                       : f->intent_t_us + f->for_us;
        o->inject_wall_us = f->intent_wall_us;
        o->undone = f->undone;
        o->undo_error = dup_or_null(f->undone ? NULL : f->undo_error);
        if (k < m->nfaults) {
            const struct ms_fault_out *x = &m->faults[k++];
            o->detected = x->detected;
            o->ttd_us = x->ttd_us;
            o->detect_error_rate = x->detect_error_rate;
            o->detect_p99_us = x->detect_p99_us;
            o->recovered = x->recovered;
            o->ttr_us = x->ttr_us;
            o->recovery_budget_s = x->recovery_budget_s;
            o->impact = x->impact;
            o->peak_error_rate = x->peak_error_rate;
            o->latency_from_us = x->latency_from_us;
            o->latency_to_us = x->latency_to_us;
            o->latency_p99_us = x->latency_p99_us;
            o->latency_ratio = x->latency_ratio;
        }
    }
}

void res_free(struct res_doc *d)
{
    if (!d)
        return;
    free(d->scenario);
    free(d->scenario_path);
    free(d->target_kind);
    free(d->target_key);
    free(d->run_dir);
    free(d->status);
    free(d->reason);
    for (size_t i = 0; i < d->nfaults; i++) {
        free(d->faults[i].name);
        free(d->faults[i].fault);
        free(d->faults[i].summary);
        free(d->faults[i].undo_error);
    }
    free(d->faults);
    free(d->checks);
    res_lb_free(d->lb, d->nlb);
    free(d->version);
    free(d->command);
    jn_load_free(&d->load);
    memset(d, 0, sizeof(*d));
}

void res_lb_note(struct res_lb_sample **v, size_t *n, size_t *cap, uint64_t t, const char *zone,
                 uint32_t healthy, uint32_t total, long in_service)
{
    if (*n >= 100000)
        return;
    ZD_GROW(*v, *cap, *n + 1);
    (*v)[(*n)++] = (struct res_lb_sample){
        t,     xstrdup(zone ? zone : ""), healthy,
        total, in_service >= 0,           in_service >= 0 ? (uint32_t)in_service : 0};
}

void res_lb_free(struct res_lb_sample *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].zone);
    free(v);
}

/* The ASG's InService total at time t (every zone's last sample at or before t); -1 unknown. */
static long in_service_at(const struct res_doc *d, uint64_t t, bool inclusive)
{
    long sum = -1;
    for (size_t i = 0; i < d->nlb; i++) {
        const struct res_lb_sample *s = &d->lb[i];
        if (!s->have_in_service || s->t_us > t || (!inclusive && s->t_us == t))
            continue;
        bool later = false; /* a later sample of this zone at or before t replaces this one */
        for (size_t k = i + 1; k < d->nlb && !later; k++)
            later = d->lb[k].have_in_service && strcmp(d->lb[k].zone, s->zone) == 0 &&
                    (d->lb[k].t_us < t || (inclusive && d->lb[k].t_us == t));
        if (!later)
            sum = (sum < 0 ? 0 : sum) + (long)s->in_service;
    }
    return sum;
}

void res_add_lb(struct res_doc *d, const struct res_lb_sample *s, size_t n)
{
    d->lb = xcalloc(n + 1, sizeof(*d->lb));
    d->nlb = n;
    for (size_t i = 0; i < n; i++) {
        d->lb[i] = s[i];
        d->lb[i].zone = xstrdup(s[i].zone ? s[i].zone : "");
    }
    for (size_t f = 0; f < d->nfaults; f++) {
        struct res_fault *x = &d->faults[f];
        long before = in_service_at(d, x->inject_us, false);
        if (before < 0)
            continue;
        x->asg_known = true;
        x->asg_before = (uint32_t)before;
        x->asg_min = (uint32_t)before;
        bool dipped = false;
        for (size_t i = 0; i < n; i++) {
            if (d->lb[i].t_us < x->inject_us || !d->lb[i].have_in_service)
                continue;
            long now = in_service_at(d, d->lb[i].t_us, true);
            if (now < (long)x->asg_min)
                x->asg_min = (uint32_t)now;
            dipped |= now < before;
            if (dipped && now >= before && !x->asg_restored) {
                x->asg_restored = true;
                x->asg_restored_us = d->lb[i].t_us - x->inject_us;
            }
        }
    }
}

/* ---- writing ---- */

static void num(cJSON *o, const char *k, double v)
{
    cJSON_AddNumberToObject(o, k, v);
}

static void str(cJSON *o, const char *k, const char *v)
{
    if (v) {
        char *red = zd_text_redact(v); /* no password of a URL in result.json */
        cJSON_AddStringToObject(o, k, red);
        free(red);
    } else
        cJSON_AddNullToObject(o, k);
}

/* Rounds for readability in *_s fields (exact values are in *_us). */
static double secs(uint64_t us)
{
    return round((double)us / 1e3) / 1e3;
}

static double r6(double x)
{
    return round(x * 1e6) / 1e6;
}

static cJSON *range_json(const struct ms_range *r)
{
    cJSON *o = cJSON_CreateObject();
    num(o, "from_us", (double)r->from_us);
    num(o, "to_us", (double)r->to_us);
    num(o, "requests", (double)r->requests);
    num(o, "ok", (double)r->ok);
    num(o, "failed", (double)r->failed);
    num(o, "not_sent", (double)r->not_sent);
    num(o, "error_rate", r6(r->error_rate));
    num(o, "availability", r6(r->availability));
    num(o, "p50_us", (double)r->p50_us);
    num(o, "p90_us", (double)r->p90_us);
    num(o, "p99_us", (double)r->p99_us);
    num(o, "max_us", (double)r->max_us);
    return o;
}

char *res_to_json(const struct res_doc *d)
{
    cJSON *o = cJSON_CreateObject();
    num(o, "schema", RES_SCHEMA);
    str(o, "zonedef", ZD_VERSION);
    cJSON *s = cJSON_AddObjectToObject(o, "scenario");
    str(s, "name", d->scenario);
    str(s, "path", d->scenario_path);
    cJSON *t = cJSON_AddObjectToObject(o, "target");
    str(t, "kind", d->target_kind);
    str(t, "key", d->target_key);
    str(o, "run_dir", d->run_dir);
    if (d->command)
        str(o, "command", d->command);
    char iso[40];
    str(o, "started_at", zd_iso8601(d->start_wall_us, iso, sizeof(iso)));
    num(o, "started_wall_us", (double)d->start_wall_us);
    num(o, "duration_us", (double)d->duration_us);
    num(o, "duration_s", secs(d->duration_us));
    str(o, "status", d->status);
    num(o, "exit_code", d->exit_code);
    str(o, "reason", d->reason);
    cJSON_AddBoolToObject(o, "passed", d->passed);
    cJSON_AddItemToObject(o, "baseline", range_json(&d->baseline));
    cJSON_AddItemToObject(o, "overall", range_json(&d->overall));
    str(o, "not_sent_why", d->overall.not_sent ? RES_NOT_SENT_WHY : NULL);
    num(o, "peak_error_rate", r6(d->peak_error_rate));
    if (d->final_steady_known)
        cJSON_AddBoolToObject(o, "final_steady_state", d->final_steady);
    else
        cJSON_AddNullToObject(o, "final_steady_state");
    if (d->has_load)
        jn_load_fill(cJSON_AddObjectToObject(o, "load"), &d->load);
    else
        cJSON_AddNullToObject(o, "load");
    cJSON *fa = cJSON_AddArrayToObject(o, "faults");
    for (size_t i = 0; i < d->nfaults; i++) {
        const struct res_fault *f = &d->faults[i];
        cJSON *x = cJSON_CreateObject();
        num(x, "step", f->step);
        str(x, "name", f->name);
        str(x, "fault", f->fault);
        str(x, "summary", f->summary);
        num(x, "injected_us", (double)f->inject_us);
        num(x, "injected_s", secs(f->inject_us));
        num(x, "injected_wall_us", (double)f->inject_wall_us);
        num(x, "ended_us", (double)f->end_us);
        cJSON_AddBoolToObject(x, "detected", f->detected);
        if (f->detected) {
            num(x, "ttd_us", (double)f->ttd_us);
            num(x, "ttd_s", secs(f->ttd_us));
            num(x, "detect_error_rate", r6(f->detect_error_rate));
            num(x, "detect_p99_us", (double)f->detect_p99_us);
        } else {
            cJSON_AddNullToObject(x, "ttd_us");
            cJSON_AddNullToObject(x, "ttd_s");
        }
        cJSON_AddBoolToObject(x, "recovered", f->recovered);
        if (f->recovered) {
            num(x, "ttr_us", (double)f->ttr_us);
            num(x, "ttr_s", secs(f->ttr_us));
        } else {
            cJSON_AddNullToObject(x, "ttr_us");
            cJSON_AddNullToObject(x, "ttr_s");
        }
        num(x, "recovery_budget_s", f->recovery_budget_s);
        cJSON_AddItemToObject(x, "impact", range_json(&f->impact));
        num(x, "peak_error_rate", r6(f->peak_error_rate));
        cJSON *lat = cJSON_AddObjectToObject(x, "latency");
        num(lat, "from_us", (double)f->latency_from_us);
        num(lat, "to_us", (double)f->latency_to_us);
        num(lat, "p99_us", (double)f->latency_p99_us);
        num(lat, "ratio", round(f->latency_ratio * 100.0) / 100.0);
        cJSON_AddBoolToObject(x, "undone", f->undone);
        str(x, "undo_error", f->undo_error);
        if (f->asg_known) {
            cJSON *g = cJSON_AddObjectToObject(x, "asg");
            num(g, "in_service_before", f->asg_before);
            num(g, "in_service_min", f->asg_min);
            cJSON_AddBoolToObject(g, "dipped", f->asg_min < f->asg_before);
            if (f->asg_restored) {
                num(g, "restored_us", (double)f->asg_restored_us);
                num(g, "restored_s", secs(f->asg_restored_us));
            } else {
                cJSON_AddNullToObject(g, "restored_us");
                cJSON_AddNullToObject(g, "restored_s");
            }
        }
        cJSON_AddItemToArray(fa, x);
    }
    cJSON *sc = cJSON_AddObjectToObject(o, "score");
    num(sc, "total", d->score.total);
    num(sc, "availability", d->score.availability);
    num(sc, "recovery", d->score.recovery);
    num(sc, "latency", d->score.latency);
    num(sc, "error_rate", d->score.error_rate);
    cJSON *ch = cJSON_AddArrayToObject(o, "checks");
    for (size_t i = 0; i < d->nchecks; i++) {
        cJSON *x = cJSON_CreateObject();
        str(x, "name", d->checks[i].name);
        str(x, "want", d->checks[i].want);
        str(x, "got", d->checks[i].got);
        cJSON_AddBoolToObject(x, "passed", d->checks[i].passed);
        cJSON_AddItemToArray(ch, x);
    }
    if (d->nlb) {
        cJSON *lb = cJSON_AddArrayToObject(o, "lb_health");
        for (size_t i = 0; i < d->nlb; i++) {
            cJSON *x = cJSON_CreateObject();
            num(x, "t_us", (double)d->lb[i].t_us);
            str(x, "zone", d->lb[i].zone);
            num(x, "healthy", d->lb[i].healthy);
            num(x, "total", d->lb[i].total);
            if (d->lb[i].have_in_service)
                num(x, "in_service", d->lb[i].in_service);
            cJSON_AddItemToArray(lb, x);
        }
    }
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    char *out = xasprintf("%s\n", txt);
    cJSON_free(txt);
    return out;
}

/* ---- reading ---- */

static const cJSON *item(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static double gd(const cJSON *o, const char *k)
{
    const cJSON *v = item(o, k);
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? v->valuedouble : 0.0;
}

static uint64_t gu(const cJSON *o, const char *k)
{
    double v = gd(o, k);
    return v > 0 && v < 1.8e19 ? (uint64_t)llround(v) : 0;
}

static char *gs(const cJSON *o, const char *k)
{
    const cJSON *v = item(o, k);
    return cJSON_IsString(v) ? xstrdup(v->valuestring) : NULL;
}

static void range_read(const cJSON *o, struct ms_range *r)
{
    r->from_us = gu(o, "from_us");
    r->to_us = gu(o, "to_us");
    r->requests = gu(o, "requests");
    r->ok = gu(o, "ok");
    r->failed = gu(o, "failed");
    r->not_sent = gu(o, "not_sent");
    r->error_rate = gd(o, "error_rate");
    r->availability = gd(o, "availability");
    r->p50_us = gu(o, "p50_us");
    r->p90_us = gu(o, "p90_us");
    r->p99_us = gu(o, "p99_us");
    r->max_us = gu(o, "max_us");
}

int res_parse(const char *text, struct res_doc *d, char **err)
{
    memset(d, 0, sizeof(*d));
    cJSON *o = cJSON_Parse(text);
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return zd_err(err, "not a result.json (not a JSON object)");
    }
    if (gd(o, "schema") != RES_SCHEMA || !cJSON_IsObject(item(o, "score"))) {
        cJSON_Delete(o);
        return zd_err(err, "not a result.json of schema %d", RES_SCHEMA);
    }
    d->version = gs(o, "zonedef");
    d->command = gs(o, "command");
    d->scenario = gs(item(o, "scenario"), "name");
    d->scenario_path = gs(item(o, "scenario"), "path");
    d->target_kind = gs(item(o, "target"), "kind");
    d->target_key = gs(item(o, "target"), "key");
    d->run_dir = gs(o, "run_dir");
    d->start_wall_us = gu(o, "started_wall_us");
    d->duration_us = gu(o, "duration_us");
    d->status = gs(o, "status");
    if (!d->status)
        d->status = xstrdup("unknown");
    d->exit_code = (int)gd(o, "exit_code");
    d->reason = gs(o, "reason");
    d->passed = cJSON_IsTrue(item(o, "passed"));
    if ((d->has_load = cJSON_IsObject(item(o, "load"))))
        jn_load_read(item(o, "load"), &d->load);
    range_read(item(o, "baseline"), &d->baseline);
    range_read(item(o, "overall"), &d->overall);
    d->peak_error_rate = gd(o, "peak_error_rate");
    const cJSON *fs = item(o, "final_steady_state");
    d->final_steady_known = cJSON_IsBool(fs);
    d->final_steady = cJSON_IsTrue(fs);
    const cJSON *fa = item(o, "faults");
    int nf = cJSON_IsArray(fa) ? cJSON_GetArraySize(fa) : 0;
    if (nf > (int)JN_MAX_FAULTS)
        nf = (int)JN_MAX_FAULTS;
    d->faults = xcalloc(nf > 0 ? (size_t)nf : 1, sizeof(*d->faults));
    for (int i = 0; i < nf; i++) {
        const cJSON *x = cJSON_GetArrayItem(fa, i);
        struct res_fault *f = &d->faults[d->nfaults++];
        f->step = (int)gd(x, "step");
        f->name = gs(x, "name");
        f->fault = gs(x, "fault");
        f->summary = gs(x, "summary");
        f->inject_us = gu(x, "injected_us");
        f->inject_wall_us = gu(x, "injected_wall_us");
        f->end_us = gu(x, "ended_us");
        f->detected = cJSON_IsTrue(item(x, "detected"));
        f->ttd_us = gu(x, "ttd_us");
        f->detect_error_rate = gd(x, "detect_error_rate");
        f->detect_p99_us = gu(x, "detect_p99_us");
        f->recovered = cJSON_IsTrue(item(x, "recovered"));
        f->ttr_us = gu(x, "ttr_us");
        f->recovery_budget_s = gd(x, "recovery_budget_s");
        range_read(item(x, "impact"), &f->impact);
        f->peak_error_rate = gd(x, "peak_error_rate");
        const cJSON *lat = item(x, "latency");
        f->latency_from_us = gu(lat, "from_us");
        f->latency_to_us = gu(lat, "to_us");
        f->latency_p99_us = gu(lat, "p99_us");
        f->latency_ratio = gd(lat, "ratio");
        f->undone = cJSON_IsTrue(item(x, "undone"));
        f->undo_error = gs(x, "undo_error");
    }
    const cJSON *sc = item(o, "score");
    d->score.total = gd(sc, "total");
    d->score.availability = gd(sc, "availability");
    d->score.recovery = gd(sc, "recovery");
    d->score.latency = gd(sc, "latency");
    d->score.error_rate = gd(sc, "error_rate");
    const cJSON *ch = item(o, "checks");
    int nc = cJSON_IsArray(ch) ? cJSON_GetArraySize(ch) : 0;
    if (nc > 10000)
        nc = 10000;
    d->checks = xcalloc(nc > 0 ? (size_t)nc : 1, sizeof(*d->checks));
    for (int i = 0; i < nc; i++) {
        const cJSON *x = cJSON_GetArrayItem(ch, i);
        struct ms_check *c = &d->checks[d->nchecks++];
        const cJSON *v;
        if (cJSON_IsString(v = item(x, "name")))
            snprintf(c->name, sizeof(c->name), "%s", v->valuestring);
        if (cJSON_IsString(v = item(x, "want")))
            snprintf(c->want, sizeof(c->want), "%s", v->valuestring);
        if (cJSON_IsString(v = item(x, "got")))
            snprintf(c->got, sizeof(c->got), "%s", v->valuestring);
        c->passed = cJSON_IsTrue(item(x, "passed"));
    }
    cJSON_Delete(o);
    return 0;
}

/* ---- the scorecard ---- */

static const char *ms(uint64_t us, char *buf, size_t n)
{
    if (us < 10000)
        snprintf(buf, n, "%.2fms", (double)us / 1e3);
    else if (us < 1000000)
        snprintf(buf, n, "%.0fms", (double)us / 1e3);
    else
        snprintf(buf, n, "%.2fs", (double)us / 1e6);
    return buf;
}

void res_scorecard(const struct res_doc *d, struct sbuf *sb, bool color)
{
    const char *bold = color ? "\033[1m" : "", *off = color ? "\033[0m" : "";
    const char *green = color ? "\033[32m" : "", *red = color ? "\033[31m" : "";
    char a[32], b[32], c[32];
    bool good = strcmp(d->status, "passed") == 0;
    sbuf_addf(sb, "%sscorecard%s %s: %s%s%s, score %s%.1f%s/100\n", bold, off,
              d->scenario ? d->scenario : "?", good ? green : red, d->status, off, bold,
              d->score.total, off);
    if (d->reason)
        sbuf_addf(sb, "  reason      %s\n", d->reason);
    sbuf_addf(sb, "  baseline    %llu requests, error rate %.2f%%, p50 %s, p99 %s\n",
              (unsigned long long)d->baseline.requests, d->baseline.error_rate * 100.0,
              ms(d->baseline.p50_us, a, sizeof(a)), ms(d->baseline.p99_us, b, sizeof(b)));
    for (size_t i = 0; i < d->nfaults; i++) {
        const struct res_fault *f = &d->faults[i];
        sbuf_addf(sb, "  fault       %s at %.1fs: %s\n", f->name ? f->name : "?",
                  (double)f->inject_us / 1e6, f->summary ? f->summary : "");
        if (f->detected)
            sbuf_addf(sb, "              detected after %.1fs (window error rate %.1f%%, p99 %s)\n",
                      (double)f->ttd_us / 1e6, f->detect_error_rate * 100.0,
                      ms(f->detect_p99_us, a, sizeof(a)));
        else
            sbuf_addf(sb, "              no impact detected\n");
        if (f->recovered)
            sbuf_addf(sb, "              recovered after %.1fs (budget %.0fs)\n",
                      (double)f->ttr_us / 1e6, f->recovery_budget_s);
        else
            sbuf_addf(sb, "              %snot recovered%s before the run ended\n", red, off);
        sbuf_addf(sb,
                  "              %llu failed, %llu not sent of %llu; peak error rate %.1f%%; "
                  "p99 %s\n",
                  (unsigned long long)f->impact.failed, (unsigned long long)f->impact.not_sent,
                  (unsigned long long)f->impact.requests, f->peak_error_rate * 100.0,
                  ms(f->impact.p99_us, b, sizeof(b)));
        sbuf_addf(sb, "              latency once absorbed (%.1fs-%.1fs): p99 %s, %.1fx baseline\n",
                  (double)f->latency_from_us / 1e6, (double)f->latency_to_us / 1e6,
                  ms(f->latency_p99_us, c, sizeof(c)), f->latency_ratio);
        if (!f->undone)
            sbuf_addf(sb, "              %sNOT UNDONE%s%s%s\n", red, off, f->undo_error ? ": " : "",
                      f->undo_error ? f->undo_error : "");
    }
    sbuf_addf(sb,
              "  overall     %llu requests, %llu failed, %llu not sent; availability %.3f%%; "
              "peak error rate %.1f%%; p99 %s, max %s\n",
              (unsigned long long)d->overall.requests, (unsigned long long)d->overall.failed,
              (unsigned long long)d->overall.not_sent, d->overall.availability * 100.0,
              d->peak_error_rate * 100.0, ms(d->overall.p99_us, a, sizeof(a)),
              ms(d->overall.max_us, c, sizeof(c)));
    if (d->overall.not_sent)
        sbuf_addf(sb, "              %llu not sent: %s\n", (unsigned long long)d->overall.not_sent,
                  RES_NOT_SENT_WHY);
    if (d->has_load) {
        const struct jn_load *l = &d->load;
        sbuf_addf(sb, "  load        %s engine, %llu connections opened",
                  l->engine ? l->engine : "?", (unsigned long long)l->conns_opened);
        if (l->connects)
            sbuf_addf(sb, ", connect p50 %s p99 %s", ms(l->connect_p50_us, a, sizeof(a)),
                      ms(l->connect_p99_us, b, sizeof(b)));
        if (l->tls_handshakes || l->tls_failed)
            sbuf_addf(sb, "; TLS handshakes %llu (%llu resumed, %llu failed) p50 %s p99 %s",
                      (unsigned long long)l->tls_handshakes, (unsigned long long)l->tls_resumed,
                      (unsigned long long)l->tls_failed, ms(l->handshake_p50_us, a, sizeof(a)),
                      ms(l->handshake_p99_us, c, sizeof(c)));
        sbuf_addc(sb, '\n');
    }
    sbuf_addf(sb,
              "  score       %.1f = availability %.1f/40 + recovery %.1f/30 + latency %.1f/15 + "
              "error rate %.1f/15\n",
              d->score.total, d->score.availability, d->score.recovery, d->score.latency,
              d->score.error_rate);
    if (d->nchecks)
        sbuf_addf(sb, "  checks\n");
    for (size_t i = 0; i < d->nchecks; i++) {
        const struct ms_check *k = &d->checks[i];
        sbuf_addf(sb, "    %s%-4s%s %-40s want %-10s got %s\n", k->passed ? green : red,
                  k->passed ? "ok" : "FAIL", off, k->name, k->want, k->got);
    }
    sbuf_addf(sb, "  result      %s%s%s (exit %d)\n", good ? green : red, d->status, off,
              d->exit_code);
}

void res_ci_line(const struct res_doc *d, struct sbuf *sb)
{
    uint64_t ttr = 0, ttd = 0;
    bool unrecovered = false;
    for (size_t i = 0; i < d->nfaults; i++) {
        if (!d->faults[i].recovered)
            unrecovered = true;
        else if (d->faults[i].ttr_us > ttr)
            ttr = d->faults[i].ttr_us;
        if (d->faults[i].detected && d->faults[i].ttd_us > ttd)
            ttd = d->faults[i].ttd_us;
    }
    size_t failed = 0;
    for (size_t i = 0; i < d->nchecks; i++)
        failed += !d->checks[i].passed;
    sbuf_addf(sb, "zonedef: %s %s exit=%d score=%.1f availability=%.4f ttd_max=%.1fs ",
              d->scenario ? d->scenario : "?", d->status, d->exit_code, d->score.total,
              d->overall.availability, (double)ttd / 1e6);
    if (unrecovered)
        sbuf_addf(sb, "ttr_max=not_recovered");
    else
        sbuf_addf(sb, "ttr_max=%.1fs", (double)ttr / 1e6);
    sbuf_addf(sb, " checks_failed=%zu/%zu\n", failed, d->nchecks);
}
