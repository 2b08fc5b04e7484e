/*
 * lab_events: the lab's ground truth, read back from the logs it keeps.
 *
 * HAProxy writes every request (with the wall-clock time it *accepted* it, in ms) and every
 * server state change to DIR/haproxy.log; the healer writes its actions to DIR/healer.log.
 * lab_events_read() turns a time range of those into server DOWN/UP times, requests per interval
 * by status, the first and last failed request, and the healer's actions; lab_events_json()
 * prints them in the shape the end-to-end tests rely on (README "lab events"). A request counts
 * as an error when HAProxy answered 5xx or nothing at all (status -1).
 *
 * The request log is written when a request ends, so accept times are not in file order: the
 * file is read twice, once for the range of times and the statuses seen, once to count.
 */
#include "lab/lab.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"

#include "base/banned.h"

#define MAX_LINE     8192
#define MAX_STATUSES 64

/* "2026-11-22T02:40:58.162976+00:00" -> wall us; 0 when it is not such a time. */
static uint64_t parse_iso(const char *s, const char **end)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6 ||
        n != 19)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const char *p = s + n;
    uint64_t frac = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (digits < 6) {
                frac = frac * 10 + (uint64_t)(*p - '0');
                digits++;
            }
            p++;
        }
        while (digits++ < 6)
            frac *= 10;
    }
    long off = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh = 0, mm = 0;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
            return 0;
        off = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
        p += 6;
    }
    time_t t = timegm(&tm);
    if (t < 0)
        return 0;
    if (end)
        *end = p;
    return (uint64_t)(t - off) * 1000000ull + frac;
}

int lab_parse_log_line(const char *line, struct lab_log_line *o)
{
    memset(o, 0, sizeof(*o));
    const char *msg = NULL;
    uint64_t ts = parse_iso(line, &msg);
    if (!ts)
        return 0;
    while (*msg == ' ')
        msg++;
    if (zd_str_has_prefix(msg, "zdreq ")) {
        /* "<epoch s>.<3 digit ms> <status> ..." exactly */
        const char *p = msg + 6;
        char *e;
        unsigned long long sec = strtoull(p, &e, 10);
        if (e == p || e[0] != '.' || !isdigit((unsigned char)e[1]) ||
            !isdigit((unsigned char)e[2]) || !isdigit((unsigned char)e[3]) || e[4] != ' ')
            return 0;
        unsigned ms = (unsigned)((e[1] - '0') * 100 + (e[2] - '0') * 10 + (e[3] - '0'));
        p = e + 5;
        long status = strtol(p, &e, 10);
        if (e == p || (*e != ' ' && *e != '\n' && *e != '\0'))
            return 0;
        o->kind = 1;
        o->t_us = sec * 1000000ull + ms * 1000ull;
        o->status = status < 100 || status > 999 ? -1 : (int)status;
        return 1;
    }
    static const char pfx[] = "Server " LAB_BACKEND "/";
    if (!zd_str_has_prefix(msg, pfx))
        return 0;
    const char *name = msg + strlen(pfx);
    size_t nl = strcspn(name, " ");
    if (nl == 0 || nl >= sizeof(o->server))
        return 0;
    memcpy(o->server, name, nl);
    o->server[nl] = '\0';
    const char *rest = name + nl;
    const char *state;
    if (zd_str_has_prefix(rest, " is going DOWN for maintenance")) {
        state = "DOWN";
        snprintf(o->reason, sizeof(o->reason), "maintenance");
    } else if (zd_str_has_prefix(rest, " is DOWN") || zd_str_has_prefix(rest, " is going DOWN")) {
        state = "DOWN";
    } else if (zd_str_has_prefix(rest, " is UP")) {
        state = "UP";
    } else {
        return 0; /* "was DOWN and now enters maintenance": no change for traffic */
    }
    snprintf(o->state, sizeof(o->state), "%s", state);
    if (!o->reason[0]) {
        const char *r = strstr(rest, "reason: ");
        if (r) {
            r += 8;
            const char *e = strstr(r, ", check duration");
            size_t len = e ? (size_t)(e - r) : strcspn(r, ".");
            snprintf(o->reason, sizeof(o->reason), "%.*s", (int)len, r);
        } else if ((r = strchr(rest, '('))) {
            snprintf(o->reason, sizeof(o->reason), "%.*s", (int)strcspn(r + 1, ")"), r + 1);
        }
    }
    o->kind = 2;
    o->t_us = ts;
    return 2;
}

static bool in_range(uint64_t t, uint64_t since, uint64_t until)
{
    return t >= since && (!until || t < until);
}

static int status_index(const struct lab_events *ev, int status)
{
    for (size_t i = 0; i < ev->nstatus; i++)
        if (ev->status_codes[i] == status)
            return (int)i;
    return -1;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int read_healer(const char *dir, uint64_t since, uint64_t until, struct lab_events *ev,
                       char **err)
{
    char *path = xasprintf("%s/healer.log", dir);
    FILE *f = fopen(path, "re");
    free(path);
    if (!f)
        return 0; /* no healer log: no actions */
    char *line = NULL;
    size_t cap = 0, hcap = 0;
    ssize_t n;
    int rc = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (n > MAX_LINE)
            continue;
        if (line[n - 1] == '\n')
            line[n - 1] = '\0';
        char *f6[6];
        size_t k = 0;
        char *save = NULL;
        for (char *t = strtok_r(line, "\t", &save); t && k < 6; t = strtok_r(NULL, "\t", &save))
            f6[k++] = t;
        if (k < 5)
            continue;
        uint64_t t = strtoull(f6[1], NULL, 10);
        if (!t || !in_range(t, since, until))
            continue;
        if (ev->nhealer >= LAB_MAX_EVENTS) {
            rc = zd_err(err, "more than %d healer actions in the range", LAB_MAX_EVENTS);
            break;
        }
        ZD_GROW(ev->healer, hcap, ev->nhealer + 1);
        struct lab_healer_event *h = &ev->healer[ev->nhealer++];
        h->t_us = t;
        h->action = xstrdup(f6[2]);
        h->zone = xstrdup(f6[3]);
        h->instance = xstrdup(f6[4]);
        h->detail = xstrdup(k > 5 ? f6[5] : "");
    }
    free(line);
    fclose(f);
    return rc;
}

int lab_events_read(const char *dir, uint64_t since, uint64_t until, uint64_t interval_us,
                    struct lab_events *ev, char **err)
{
    memset(ev, 0, sizeof(*ev));
    ev->interval_us = interval_us ? interval_us : 100000;
    char *path = xasprintf("%s/haproxy.log", dir);
    FILE *f = fopen(path, "re");
    if (!f) {
        zd_err(err, "no lab log at '%s' (was the lab ever up in this directory?)", path);
        free(path);
        return -1;
    }
    free(path);
    char *line = NULL;
    size_t cap = 0, scap = 0;
    ssize_t n;
    int rc = 0;
    uint64_t tmin = UINT64_MAX, tmax = 0;
    int statuses[MAX_STATUSES];
    size_t nst = 0;
    struct lab_log_line l;
    /* pass 1: server events, the span of request times, the statuses seen */
    while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
        if (n > MAX_LINE || !lab_parse_log_line(line, &l) || !in_range(l.t_us, since, until))
            continue;
        if (l.kind == 1) {
            tmin = l.t_us < tmin ? l.t_us : tmin;
            tmax = l.t_us > tmax ? l.t_us : tmax;
            bool seen = false;
            for (size_t i = 0; i < nst && !seen; i++)
                seen = statuses[i] == l.status;
            if (!seen && nst < MAX_STATUSES)
                statuses[nst++] = l.status;
            bool bad = l.status < 100 || l.status >= 500;
            if (bad && (!ev->first_error_us || l.t_us < ev->first_error_us))
                ev->first_error_us = l.t_us;
            if (bad && l.t_us > ev->last_error_us)
                ev->last_error_us = l.t_us;
        } else {
            int z, s;
            if (lab_parse_instance_id(l.server, &z, &s) < 0)
                continue;
            if (ev->nservers >= LAB_MAX_EVENTS) {
                rc = zd_err(err, "more than %d server events in the range", LAB_MAX_EVENTS);
                break;
            }
            ZD_GROW(ev->servers, scap, ev->nservers + 1);
            struct lab_server_event *e = &ev->servers[ev->nservers++];
            memset(e, 0, sizeof(*e));
            e->t_us = l.t_us;
            snprintf(e->server, sizeof(e->server), "%s", l.server);
            snprintf(e->zone, sizeof(e->zone), "%c", lab_zone_name(z));
            snprintf(e->state, sizeof(e->state), "%s", l.state);
            e->reason = xstrdup(l.reason);
        }
    }
    qsort(statuses, nst, sizeof(int), cmp_int);
    ev->status_codes = xreallocarray(NULL, nst ? nst : 1, sizeof(int));
    memcpy(ev->status_codes, statuses, nst * sizeof(int));
    ev->nstatus = nst;
    /* buckets: from --since (or the first request, aligned) to --until (or the last one) */
    uint64_t base = since;
    if (!base && tmax)
        base = tmin - tmin % ev->interval_us;
    uint64_t end = until ? until : (tmax ? tmax + 1 : base);
    if (rc == 0 && end > base) {
        uint64_t nb = (end - base + ev->interval_us - 1) / ev->interval_us;
        if (nb > LAB_MAX_BUCKETS) {
            rc = zd_err(err,
                        "%llu intervals in the range, more than %d: use a longer --interval "
                        "or a shorter range",
                        (unsigned long long)nb, LAB_MAX_BUCKETS);
        } else {
            ev->nbuckets = (size_t)nb;
            ev->buckets = xcalloc(ev->nbuckets, sizeof(*ev->buckets));
            uint32_t *counts = xcalloc(ev->nbuckets * (nst ? nst : 1), sizeof(uint32_t));
            for (size_t b = 0; b < ev->nbuckets; b++) {
                ev->buckets[b].t_us = base + b * ev->interval_us;
                ev->buckets[b].status = counts + b * (nst ? nst : 1);
            }
        }
    }
    /* pass 2: count */
    if (rc == 0 && ev->nbuckets) {
        rewind(f);
        while ((n = getline(&line, &cap, f)) > 0) {
            if (n > MAX_LINE || lab_parse_log_line(line, &l) != 1 ||
                !in_range(l.t_us, since, until) || l.t_us < base)
                continue;
            size_t b = (size_t)((l.t_us - base) / ev->interval_us);
            if (b >= ev->nbuckets)
                continue;
            ev->buckets[b].total++;
            if (l.status < 100 || l.status >= 500)
                ev->buckets[b].errors++;
            int si = status_index(ev, l.status);
            if (si >= 0)
                ev->buckets[b].status[si]++;
        }
    }
    free(line);
    fclose(f);
    if (rc == 0)
        rc = read_healer(dir, since, until, ev, err);
    if (rc < 0)
        lab_events_free(ev);
    return rc;
}

void lab_events_free(struct lab_events *ev)
{
    if (!ev)
        return;
    for (size_t i = 0; i < ev->nservers; i++)
        free(ev->servers[i].reason);
    free(ev->servers);
    if (ev->nbuckets)
        free(ev->buckets[0].status);
    free(ev->buckets);
    free(ev->status_codes);
    for (size_t i = 0; i < ev->nhealer; i++) {
        free(ev->healer[i].action);
        free(ev->healer[i].zone);
        free(ev->healer[i].instance);
        free(ev->healer[i].detail);
    }
    free(ev->healer);
    memset(ev, 0, sizeof(*ev));
}

char *lab_events_json(const struct lab_events *ev)
{
    struct sbuf sb = SBUF_INIT;
    sbuf_adds(&sb, "{\"servers\":[");
    for (size_t i = 0; i < ev->nservers; i++) {
        const struct lab_server_event *s = &ev->servers[i];
        sbuf_addf(&sb, "%s{\"t_us\":%llu,\"server\":", i ? "," : "", (unsigned long long)s->t_us);
        sbuf_add_json_str(&sb, s->server);
        sbuf_adds(&sb, ",\"zone\":");
        sbuf_add_json_str(&sb, s->zone);
        sbuf_adds(&sb, ",\"state\":");
        sbuf_add_json_str(&sb, s->state);
        sbuf_adds(&sb, ",\"reason\":");
        sbuf_add_json_str(&sb, s->reason ? s->reason : "");
        sbuf_adds(&sb, "}");
    }
    sbuf_addf(&sb, "],\"requests\":{\"interval_us\":%llu,\"buckets\":[",
              (unsigned long long)ev->interval_us);
    for (size_t b = 0; b < ev->nbuckets; b++) {
        const struct lab_bucket *k = &ev->buckets[b];
        sbuf_addf(&sb, "%s{\"t_us\":%llu,\"total\":%llu,\"errors\":%llu,\"by_status\":{",
                  b ? "," : "", (unsigned long long)k->t_us, (unsigned long long)k->total,
                  (unsigned long long)k->errors);
        int m = 0;
        for (size_t s = 0; s < ev->nstatus; s++)
            if (k->status[s])
                sbuf_addf(&sb, "%s\"%d\":%u", m++ ? "," : "", ev->status_codes[s], k->status[s]);
        sbuf_adds(&sb, "}}");
    }
    sbuf_adds(&sb, "]},\"first_error_us\":");
    if (ev->first_error_us)
        sbuf_addf(&sb, "%llu", (unsigned long long)ev->first_error_us);
    else
        sbuf_adds(&sb, "null");
    sbuf_adds(&sb, ",\"last_error_us\":");
    if (ev->last_error_us)
        sbuf_addf(&sb, "%llu", (unsigned long long)ev->last_error_us);
    else
        sbuf_adds(&sb, "null");
    sbuf_adds(&sb, ",\"healer\":[");
    for (size_t i = 0; i < ev->nhealer; i++) {
        const struct lab_healer_event *h = &ev->healer[i];
        sbuf_addf(&sb, "%s{\"t_us\":%llu,\"action\":", i ? "," : "", (unsigned long long)h->t_us);
        sbuf_add_json_str(&sb, h->action);
        sbuf_adds(&sb, ",\"zone\":");
        sbuf_add_json_str(&sb, h->zone);
        sbuf_adds(&sb, ",\"instance\":");
        sbuf_add_json_str(&sb, h->instance);
        sbuf_adds(&sb, ",\"detail\":");
        sbuf_add_json_str(&sb, h->detail);
        sbuf_adds(&sb, "}");
    }
    sbuf_adds(&sb, "]}");
    return sbuf_detach(&sb);
}
