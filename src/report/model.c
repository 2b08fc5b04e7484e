/*
 * model: a run directory as the reports see it. result.json gives the numbers the run published
 * (read through results.h, never recomputed here); journal.jsonl gives the intervals the charts
 * draw (through journal.h) and, read line by line here, the records journal.h does not keep:
 * phases, probe results, guard trips and the load balancer's per-zone capacity. Events are put
 * in time order, which the live lines of a run are not (detection is known only after the fact).
 *
 * Also the URL redaction every report and notification uses (no shared helper exists in base/
 * yet; when one does, this one should go).
 */
#include "report/report.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/banned.h"

#define RP_MAX_EVENTS 100000u
#define RP_MAX_CAP    200000u
#define RP_MAX_ZONES  64u

const char *rp_ev_kind_name(enum rp_ev_kind k)
{
    static const char *const names[] = {"phase",       "inject",   "apply_failed", "undo",
                                        "undo_failed", "detected", "recovered",    "probe_fail",
                                        "probe_ok",    "guard",    "lb",           "end"};
    return (size_t)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

const char *rp_fmt_us(uint64_t us, char *buf, size_t n)
{
    if (us == 0)
        snprintf(buf, n, "0 s");
    else if (us < 1000)
        snprintf(buf, n, "%llu µs", (unsigned long long)us);
    else if (us < 10000)
        snprintf(buf, n, "%.1f ms", (double)us / 1e3);
    else if (us < 1000000)
        snprintf(buf, n, "%.0f ms", (double)us / 1e3);
    else
        snprintf(buf, n, "%.2f s", (double)us / 1e6);
    return buf;
}

const char *rp_fmt_pct(double share, char *buf, size_t n)
{
    double p = share * 100.0;
    if (p == 0 || p == 100)
        snprintf(buf, n, "%.0f%%", p);
    else if (p < 0.01)
        snprintf(buf, n, "%.3f%%", p);
    else
        snprintf(buf, n, "%.2f%%", p);
    return buf;
}

/* ---- redaction ---- */

char *rp_url_display(const char *url)
{
    const char *sep = strstr(url, "://");
    if (!sep)
        return xstrdup("(not a URL)");
    const char *auth = sep + 3;
    size_t alen = strcspn(auth, "/?#");
    const char *host = auth;
    for (size_t i = 0; i < alen; i++)
        if (auth[i] == '@')
            host = auth + i + 1;
    size_t hlen = (size_t)(auth + alen - host);
    bool more = auth[alen] != '\0' && strcmp(auth + alen, "/") != 0;
    return xasprintf("%.*s://%.*s/%s", (int)(sep - url), url, (int)hlen, host, more ? "…" : "");
}

/* ---- loading ---- */

static const cJSON *item(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *gstr(const cJSON *o, const char *k)
{
    const cJSON *v = item(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static uint64_t gu64(const cJSON *o, const char *k)
{
    const cJSON *v = item(o, k);
    return cJSON_IsNumber(v) && v->valuedouble > 0 && v->valuedouble < 1.8e19
               ? (uint64_t)v->valuedouble
               : 0;
}

static void add_ev(struct rp_run *r, size_t *cap, enum rp_ev_kind k, uint64_t t, int step,
                   char *text)
{
    if (r->nev >= RP_MAX_EVENTS) {
        free(text);
        return;
    }
    ZD_GROW(r->ev, *cap, r->nev + 1);
    r->ev[r->nev++] = (struct rp_event){k, t, text, step};
}

static const char *step_name(const struct rp_run *r, int step)
{
    if (step >= 0 && (size_t)step < r->jn.nsteps && r->jn.steps[step].name)
        return r->jn.steps[step].name;
    return "?";
}

static void zone_seen(struct rp_run *r, const char *z)
{
    for (size_t i = 0; i < r->nzones; i++)
        if (strcmp(r->zones[i], z) == 0)
            return;
    if (r->nzones >= RP_MAX_ZONES)
        return;
    r->zones = xrealloc(r->zones, (r->nzones + 1) * sizeof(*r->zones));
    r->zones[r->nzones++] = xstrdup(z);
}

/* One journal line: the records journal.h does not keep become events and capacity samples. */
static void journal_line(struct rp_run *r, const cJSON *o, size_t *evcap, size_t *capcap)
{
    const char *type = gstr(o, "type");
    if (!type)
        return;
    uint64_t t = gu64(o, "t_us");
    int step = item(o, "step") ? (int)gu64(o, "step") : -1;
    if (strcmp(type, "phase") == 0 && gstr(o, "phase")) {
        add_ev(r, evcap, RP_EV_PHASE, t, -1, xasprintf("phase: %s", gstr(o, "phase")));
    } else if (strcmp(type, "applied") == 0) {
        bool ok = cJSON_IsTrue(item(o, "ok"));
        if (!ok)
            add_ev(r, evcap, RP_EV_APPLY_FAILED, t, step,
                   xasprintf("cannot inject %s: %s", step_name(r, step),
                             gstr(o, "error") ? gstr(o, "error") : "failed"));
    } else if (strcmp(type, "intent") == 0) {
        add_ev(r, evcap, RP_EV_INJECT, t, step,
               xasprintf("inject %s %s: %s", gstr(o, "fault") ? gstr(o, "fault") : "?",
                         gstr(o, "name") ? gstr(o, "name") : "?",
                         gstr(o, "summary") ? gstr(o, "summary") : ""));
    } else if (strcmp(type, "undone") == 0) {
        bool ok = cJSON_IsTrue(item(o, "ok"));
        const char *by = gstr(o, "by");
        if (ok)
            add_ev(r, evcap, RP_EV_UNDO, t, step,
                   xasprintf("undone %s%s", step_name(r, step),
                             by && strcmp(by, "recover") == 0 ? " (by zonedef recover)" : ""));
        else
            add_ev(r, evcap, RP_EV_UNDO_FAILED, t, step,
                   xasprintf("undo of %s failed: %s", step_name(r, step),
                             gstr(o, "error") ? gstr(o, "error") : "?"));
    } else if (strcmp(type, "probe") == 0 && gstr(o, "name")) {
        bool ok = cJSON_IsTrue(item(o, "ok"));
        const char *name = gstr(o, "name"), *detail = gstr(o, "detail");
        add_ev(r, evcap, ok ? RP_EV_PROBE_OK : RP_EV_PROBE_FAIL, t, -1,
               xasprintf("probe %s %s%s%s", name ? name : "?", ok ? "passes" : "fails",
                         detail ? ": " : "", detail ? detail : ""));
    } else if (strcmp(type, "guard") == 0) {
        add_ev(r, evcap, RP_EV_GUARD, t, -1,
               xasprintf("guard %s: %s", gstr(o, "guard") ? gstr(o, "guard") : "?",
                         gstr(o, "detail") ? gstr(o, "detail") : ""));
    } else if (strcmp(type, "end") == 0) {
        add_ev(r, evcap, RP_EV_END, t, -1,
               xasprintf("run ended: %s", gstr(o, "status") ? gstr(o, "status") : "?"));
    } else if (strcmp(type, "lb") == 0 && gstr(o, "zone") && r->ncap < RP_MAX_CAP) {
        ZD_GROW(r->cap, *capcap, r->ncap + 1);
        r->cap[r->ncap++] = (struct rp_cap){
            t, xstrdup(gstr(o, "zone")), (uint32_t)gu64(o, "healthy"), (uint32_t)gu64(o, "total")};
        zone_seen(r, gstr(o, "zone"));
        const struct rp_cap *c = &r->cap[r->ncap - 1];
        add_ev(r, evcap, RP_EV_LB, t, -1,
               xasprintf("load balancer: zone %s %u/%u healthy%s", c->zone, c->healthy, c->total,
                         c->healthy == 0 ? " (routing around it)" : ""));
    }
}

static void read_journal_lines(struct rp_run *r, const char *text)
{
    size_t evcap = 0, capcap = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > 0) {
            char *line = xstrndup(p, len);
            cJSON *o = cJSON_Parse(line);
            if (o && cJSON_IsObject(o))
                journal_line(r, o, &evcap, &capcap);
            cJSON_Delete(o);
            free(line);
        }
        p += len + (nl ? 1 : 0);
    }
    /* detection and recovery: the published numbers, from result.json */
    for (size_t i = 0; i < r->doc.nfaults; i++) {
        const struct res_fault *f = &r->doc.faults[i];
        char a[32], b[32];
        if (f->detected)
            add_ev(r, &evcap, RP_EV_DETECTED, f->inject_us + f->ttd_us, f->step,
                   xasprintf("detected %s: error rate %.1f%%, p99 %s (TTD %s)", f->name,
                             f->detect_error_rate * 100.0,
                             rp_fmt_us(f->detect_p99_us, a, sizeof(a)),
                             rp_fmt_us(f->ttd_us, b, sizeof(b))));
        if (f->recovered)
            add_ev(r, &evcap, RP_EV_RECOVERED, f->inject_us + f->ttr_us, f->step,
                   f->detected ? xasprintf("recovered from %s (TTR %s)", f->name,
                                           rp_fmt_us(f->ttr_us, a, sizeof(a)))
                               : xasprintf("%s: no impact on users", f->name));
    }
    struct rp_event *tmp = r->nev ? xmalloc(r->nev * sizeof(*tmp)) : NULL;
    size_t *idx = r->nev ? xmalloc(r->nev * sizeof(*idx)) : NULL;
    for (size_t i = 0; i < r->nev; i++)
        idx[i] = i;
    /* insertion sort on an index array: events are almost in order already */
    for (size_t i = 1; i < r->nev; i++) {
        size_t v = idx[i], j = i;
        while (j > 0 && r->ev[idx[j - 1]].t_us > r->ev[v].t_us) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
    for (size_t i = 0; i < r->nev; i++)
        tmp[i] = r->ev[idx[i]];
    if (r->nev)
        memcpy(r->ev, tmp, r->nev * sizeof(*tmp));
    free(tmp);
    free(idx);
}

int rp_load(const char *dir, struct rp_run *out, bool *missing, char **err)
{
    memset(out, 0, sizeof(*out));
    if (missing)
        *missing = false;
    char *rp = xasprintf("%s/result.json", dir);
    char *text = NULL;
    size_t len = 0;
    if (!zd_file_exists(rp)) {
        if (missing)
            *missing = true;
        zd_err(err, "%s: no result.json (not a finished run directory?)", dir);
        free(rp);
        return -1;
    }
    if (zd_read_file(rp, RES_MAX_BYTES, &text, &len, err) < 0) {
        free(rp);
        return -1;
    }
    char *perr = NULL;
    if (res_parse(text, &out->doc, &perr) < 0) {
        zd_err(err, "%s: %s", rp, perr);
        free(perr);
        free(text);
        free(rp);
        return -1;
    }
    free(text);
    free(rp);
    char *jp = xasprintf("%s/journal.jsonl", dir);
    char *jerr = NULL;
    if (zd_file_exists(jp) && jn_read(jp, &out->jn, &jerr) == 0) {
        out->have_journal = true;
        char *jt = NULL;
        size_t jl = 0;
        if (zd_read_file(jp, JN_MAX_BYTES, &jt, &jl, NULL) == 0)
            read_journal_lines(out, jt);
        free(jt);
    }
    free(jerr);
    free(jp);
    return 0;
}

void rp_free(struct rp_run *r)
{
    if (!r)
        return;
    res_free(&r->doc);
    if (r->have_journal)
        jn_run_free(&r->jn);
    for (size_t i = 0; i < r->nev; i++)
        free(r->ev[i].text);
    free(r->ev);
    for (size_t i = 0; i < r->ncap; i++)
        free(r->cap[i].zone);
    free(r->cap);
    for (size_t i = 0; i < r->nzones; i++)
        free(r->zones[i]);
    free(r->zones);
    memset(r, 0, sizeof(*r));
}

/* ---- sparkline (used by the Markdown summary and the comparison) ---- */

void rp_sparkline(const double *y, size_t n, size_t width, struct sbuf *out)
{
    static const char *const bars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
    if (n == 0 || width == 0)
        return;
    if (width > n)
        width = n;
    double max = 0;
    for (size_t i = 0; i < n; i++)
        if (y[i] > max)
            max = y[i];
    for (size_t c = 0; c < width; c++) {
        size_t from = c * n / width, to = (c + 1) * n / width;
        if (to <= from)
            to = from + 1;
        double v = 0;
        for (size_t i = from; i < to && i < n; i++)
            if (y[i] > v)
                v = y[i];
        int level = max > 0 ? (int)(v / max * 7.0 + 0.5) : 0;
        if (v > 0 && level == 0)
            level = 1; /* any error at all shows */
        sbuf_adds(out, bars[level < 0 ? 0 : level > 7 ? 7 : level]);
    }
}
