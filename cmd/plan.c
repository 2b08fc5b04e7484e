/*
 * plan: the timeline a scenario will follow, read from the file alone (nothing is contacted):
 * a short summary (target, load, steady state, guards, expectations) and a table of events in
 * time order — warm-up, each fault's injection and undo, settle, end — so a person sees at a
 * glance what happens when, where, for how long and what is expected of it. `--json` prints the
 * same as one JSON object for machines (shape in README, "zonedef plan").
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "diag.h"
#include "scenario/scenario.h"
#include "target/target.h"

#include "base/banned.h"

static const char usage[] =
    "usage: zonedef plan [--var name=value]... [--json] [--check [--profile NAME]] FILE\n"
    "\n"
    "Prints the timeline a scenario will follow: warm-up, when each fault is injected and\n"
    "undone, where and for how long, settle and end, with the steady state, guards and\n"
    "expectations. Nothing is contacted: it shows what the file says.\n"
    "\n"
    "options:\n"
    "  --var name=value   set a variable used as ${name} in the file (repeatable)\n"
    "  --json             one JSON object on stdout instead of the table\n"
    "  --check            contact the target, changing nothing. ssh: instead of the timeline,\n"
    "                     connect to every host in parallel and report per host reachable,\n"
    "                     host key, auth, sudo, nft/iptables/tc present, netem usable (known_hosts "
    "is never\n"
    "                     written; exit 1 when a host is not ready). aws: after the timeline,\n"
    "                     resolve what each step would act on and prove the permissions with\n"
    "                     DryRun calls (exit 1 when a permission is missing)\n"
    "  --profile NAME     (aws, with --check) the credentials profile, instead of target.profile\n"
    "  -h, --help         this help\n"
    "\n"
    "exit status: 0 printed, 2 the file is invalid (errors as 'zonedef validate' shows them)\n"
    "or the credentials are refused or belong to another account, 1 (--check) a permission is\n"
    "missing or a host is not ready, 5 (--check) the target could not be reached\n";

/* --check: open the real target and let it say what each step would touch. */
static int check_target(struct scn_scenario *s, const char *profile)
{
    const struct tgt_ops *ops = tgt_ops_for(s->target.kind);
    if (!ops || !ops->check) {
        zd_error("plan --check: the %s target has nothing to check (ssh and aws targets do)",
                 ops ? ops->kind : "unknown");
        return ZD_EXIT_USAGE;
    }
    if (profile) {
        free(s->target.aws_profile);
        s->target.aws_profile = xstrdup(profile);
    }
    void *ts = NULL;
    char *err = NULL;
    int orc = ops->open(&s->target, &ts, &err);
    if (orc < 0) {
        zd_error("plan --check: %s", err);
        free(err);
        return orc == -2 ? ZD_EXIT_USAGE : ZD_EXIT_RUNTIME;
    }
    char *key = ops->key(ts);
    struct tgt_inventory inv = {0};
    int rc = ZD_EXIT_OK;
    if (ops->resolve(ts, &inv, &err) < 0) {
        zd_error("plan --check: %s", err);
        free(err);
        err = NULL;
        rc = ZD_EXIT_RUNTIME;
    } else {
        printf("\ncheck %s: %zu tagged instance%s in %zu zone%s\n", key, inv.ninst,
               inv.ninst == 1 ? "" : "s", inv.nzones, inv.nzones == 1 ? "" : "s");
        for (size_t i = 0; i < inv.nzones; i++)
            printf("  zone %-16s %u/%u healthy in the target group\n", inv.zones[i].zone,
                   inv.zones[i].healthy, inv.zones[i].total);
    }
    tgt_inventory_free(&inv);
    for (size_t i = 0; rc != ZD_EXIT_RUNTIME && i < s->nsteps; i++) {
        const struct scn_step *st = &s->steps[i];
        if (st->fault == SCN_FAULT_TRAFFIC_SPIKE)
            continue;
        char *report = NULL;
        int c = ops->check(ts, st, &report, &err);
        if (report)
            fputs(report, stdout);
        if (c < 0 && !report)
            printf("  %s: cannot resolve: %s\n", st->name, err);
        else if (c < 0)
            zd_error("plan --check: %s", err);
        if (c < 0)
            rc = ZD_EXIT_FAILED;
        free(report);
        free(err);
        err = NULL;
    }
    if (rc == ZD_EXIT_OK)
        printf("check: every step resolves and is permitted; nothing was changed\n");
    else if (rc == ZD_EXIT_FAILED)
        printf("check: not every step would work (above); nothing was changed\n");
    free(key);
    ops->close(ts);
    return rc;
}

enum ev_kind { EV_START, EV_INJECT, EV_UNDO, EV_SETTLE, EV_END };
static const char *const ev_names[] = {"warm-up", "inject", "undo", "settle", "end"};

struct event {
    uint64_t at_us;
    enum ev_kind kind;
    const struct scn_step *step; /* inject / undo */
    size_t order;                /* tie-break: file order */
};

static int ev_cmp(const void *a, const void *b)
{
    const struct event *x = a, *y = b;
    if (x->at_us != y->at_us)
        return x->at_us < y->at_us ? -1 : 1;
    /* at the same moment: undo before inject (the old fault is gone before a new one starts),
     * phases in their natural order */
    static const int rank[] = {
        [EV_START] = 0, [EV_UNDO] = 1, [EV_INJECT] = 2, [EV_SETTLE] = 3, [EV_END] = 4};
    if (rank[x->kind] != rank[y->kind])
        return rank[x->kind] < rank[y->kind] ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static size_t build_events(const struct scn_scenario *s, struct event **out)
{
    struct event *ev = xcalloc(2 * s->nsteps + 3, sizeof(*ev));
    size_t n = 0;
    ev[n++] = (struct event){0, EV_START, NULL, 0};
    for (size_t i = 0; i < s->nsteps; i++) {
        const struct scn_step *st = &s->steps[i];
        ev[n++] = (struct event){st->at_us, EV_INJECT, st, i};
        if (st->for_us)
            ev[n++] = (struct event){st->at_us + st->for_us, EV_UNDO, st, i};
    }
    ev[n++] = (struct event){s->duration_us - s->settle_us, EV_SETTLE, NULL, 0};
    ev[n++] = (struct event){s->duration_us, EV_END, NULL, 0};
    qsort(ev, n, sizeof(*ev), ev_cmp);
    *out = ev;
    return n;
}

static const char *sig_name(int sig)
{
    switch (sig) {
    case SIGKILL: return "KILL";
    case SIGTERM: return "TERM";
    case SIGSTOP: return "STOP";
    case SIGINT: return "INT";
    case SIGHUP: return "HUP";
    case SIGQUIT: return "QUIT";
    case SIGABRT: return "ABRT";
    case SIGUSR1: return "USR1";
    case SIGUSR2: return "USR2";
    default: return "?";
    }
}

static void fmt_pct(struct sbuf *sb, double f)
{
    sbuf_addf(sb, "%.10g%%", f * 100.0);
}

/* The hosts of an ssh target a step acts on, chosen from the file the way the target chooses
 * them (zone, then tags, then count or percent, in the file's order; blackhole_zone takes the
 * whole zone). *n of them; the strings are the scenario's. */
static const char **ssh_hosts(const struct scn_scenario *s, const struct scn_step *st, size_t *n)
{
    const struct scn_target *t = &s->target;
    size_t total = 0;
    for (size_t z = 0; z < t->nzones; z++)
        total += t->zones[z].nhosts;
    const char **v = xcalloc(total ? total : 1, sizeof(*v));
    *n = 0;
    for (size_t z = 0; z < t->nzones; z++) {
        const struct scn_zone *zn = &t->zones[z];
        if (st->sel.zone && strcmp(st->sel.zone, zn->name) != 0)
            continue;
        for (size_t h = 0; h < zn->nhosts; h++)
            if (st->fault == SCN_FAULT_BLACKHOLE_ZONE ||
                (zn->host_tags ? scn_tags_match(zn->host_tags[h], zn->host_ntags[h], &st->sel)
                               : scn_tags_match(NULL, 0, &st->sel)))
                v[(*n)++] = zn->hosts[h];
    }
    if (st->fault != SCN_FAULT_BLACKHOLE_ZONE)
        *n = scn_pick_count(*n, &st->sel);
    return v;
}

/* ": hosts web1, web2" for an ssh target's step (nothing for other targets). */
static void where_hosts(struct sbuf *sb, const struct scn_scenario *s, const struct scn_step *st)
{
    if (s->target.kind != SCN_TARGET_SSH || st->fault == SCN_FAULT_TRAFFIC_SPIKE)
        return;
    size_t n = 0;
    const char **v = ssh_hosts(s, st, &n);
    sbuf_addf(sb, ": host%s ", n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++)
        sbuf_addf(sb, "%s%s", i ? ", " : "", v[i]);
    free(v);
}

/* "zone b, 1 instance", "every zone, 50%", ...; for ssh targets the hosts too */
static void where(struct sbuf *sb, const struct scn_scenario *s, const struct scn_step *st)
{
    if (st->fault == SCN_FAULT_TRAFFIC_SPIKE) {
        sbuf_adds(sb, "the load");
        return;
    }
    sbuf_addf(sb, "%s%s", st->sel.zone ? "zone " : "every zone", st->sel.zone ? st->sel.zone : "");
    if (!scn_fault_selects(st->fault)) {
        where_hosts(sb, s, st);
        return;
    }
    for (size_t i = 0; i < st->sel.ntags; i++)
        sbuf_addf(sb, ", %s=%s", st->sel.tags[i].key, st->sel.tags[i].value);
    if (st->sel.count)
        sbuf_addf(sb, ", %u instance%s", st->sel.count, st->sel.count == 1 ? "" : "s");
    else if (st->sel.percent > 0)
        sbuf_addf(sb, ", %.10g%%", st->sel.percent);
    else
        sbuf_adds(sb, ", all instances");
    where_hosts(sb, s, st);
}

/* What the fault does, beyond its name. */
static void detail(struct sbuf *sb, const struct scn_scenario *s, const struct scn_step *st)
{
    char a[32], b[32];
    switch (st->fault) {
    case SCN_FAULT_TRAFFIC_SPIKE:
        sbuf_addf(sb, "%.10g -> %.10g req/s", s->load.rate, st->rate);
        if (st->ramp_us)
            sbuf_addf(sb, " (ramp %s)", zd_fmt_duration(st->ramp_us, a, sizeof(a)));
        break;
    case SCN_FAULT_LATENCY:
        sbuf_addf(sb, "+%s", zd_fmt_duration(st->delay_us, a, sizeof(a)));
        if (st->jitter_us)
            sbuf_addf(sb, " +/-%s", zd_fmt_duration(st->jitter_us, b, sizeof(b)));
        break;
    case SCN_FAULT_CPU_STRESS: sbuf_addf(sb, "cpu %u%% x%u", st->cpu_percent, st->workers); break;
    case SCN_FAULT_KILL_PROCESS:
        sbuf_addf(sb, "%s SIG%s", st->process ? st->process : "?", sig_name(st->signal));
        break;
    case SCN_FAULT_EXEC: {
        size_t n = strlen(st->command ? st->command : "");
        sbuf_addf(sb, "$ %.*s%s", n > 28 ? 25 : (int)n, st->command ? st->command : "",
                  n > 28 ? "..." : "");
        break;
    }
    default: break;
    }
}

static void step_expect(struct sbuf *sb, const struct scn_step *st)
{
    char a[32];
    const char *sep = "";
    if (st->expect_recovery_us) {
        sbuf_addf(sb, "recover <= %s", zd_fmt_duration(st->expect_recovery_us, a, sizeof(a)));
        sep = ", ";
    }
    if (st->expect_detect_us) {
        sbuf_addf(sb, "%sdetect <= %s", sep, zd_fmt_duration(st->expect_detect_us, a, sizeof(a)));
        sep = ", ";
    }
    if (st->expect_max_error_rate >= 0) {
        sbuf_addf(sb, "%serrors <= ", sep);
        fmt_pct(sb, st->expect_max_error_rate);
    }
}

struct style {
    const char *bold, *dim, *red, *green, *cyan, *off;
};

static void print_summary(const struct scn_scenario *s, const struct style *c)
{
    char a[32], b[32];
    struct sbuf sb = SBUF_INIT;
    printf("%s%s%s", c->bold, s->name, c->off);
    printf("  (%s, %s in all)\n", s->path, zd_fmt_duration(s->duration_us, a, sizeof(a)));
    if (s->description) {
        /* wrapped at 96 columns on word boundaries */
        const char *p = s->description;
        while (*p) {
            size_t n = strlen(p), cut = n;
            if (n > 96) {
                cut = 96;
                while (cut > 40 && p[cut] != ' ')
                    cut--;
            }
            printf("%s%.*s%s\n", c->dim, (int)cut, p, c->off);
            p += cut;
            while (*p == ' ')
                p++;
        }
    }
    printf("\n");

    const struct scn_target *t = &s->target;
    static const char *const kinds[] = {"lab", "ssh", "aws"};
    char *url = zd_url_redact(t->url);
    sbuf_addf(&sb, "%s %s", kinds[t->kind], url);
    free(url);
    if (t->kind == SCN_TARGET_AWS && t->aws_region)
        sbuf_addf(&sb, ", region %s", t->aws_region);
    for (size_t i = 0; i < t->naws_tags; i++)
        sbuf_addf(&sb, "%s%s=%s", i ? " " : ", tags ", t->aws_tags[i].key, t->aws_tags[i].value);
    if (t->kind == SCN_TARGET_SSH)
        sbuf_addf(&sb, ", as %s%s", t->ssh_user, t->ssh_sudo ? " (sudo)" : "");
    if (t->nzones) {
        sbuf_adds(&sb, ", zones ");
        for (size_t i = 0; i < t->nzones; i++) {
            sbuf_addf(&sb, "%s%s", i ? ", " : "", t->zones[i].name);
            if (t->zones[i].nhosts)
                sbuf_addf(&sb, " (%zu host%s)", t->zones[i].nhosts,
                          t->zones[i].nhosts == 1 ? "" : "s");
        }
    }
    printf("  %-8s %s\n", "target", sbuf_str(&sb));
    sbuf_reset(&sb);

    const struct scn_load *l = &s->load;
    sbuf_addf(&sb, "%s %.10g req/s", l->method, l->rate);
    if (l->ramp_us)
        sbuf_addf(&sb, " (ramp %s)", zd_fmt_duration(l->ramp_us, a, sizeof(a)));
    sbuf_addf(&sb, ", %u connections, timeout %s, expect ", l->connections,
              zd_fmt_duration(l->timeout_us, a, sizeof(a)));
    for (size_t i = 0; i < l->nexpect_status; i++) {
        const struct scn_status *st = &l->expect_status[i];
        sbuf_adds(&sb, i ? "|" : "");
        if (st->lo == st->hi)
            sbuf_addf(&sb, "%d", st->lo);
        else if (st->lo % 100 == 0 && st->hi == st->lo + 99)
            sbuf_addf(&sb, "%dxx", st->lo / 100);
        else
            sbuf_addf(&sb, "%d-%d", st->lo, st->hi);
    }
    if (l->expect_body)
        sbuf_addf(&sb, ", body /%s/", l->expect_body);
    printf("  %-8s %s\n", "load", sbuf_str(&sb));
    sbuf_reset(&sb);

    sbuf_adds(&sb, "errors <= ");
    fmt_pct(&sb, s->steady.error_rate);
    if (s->steady.p99_us)
        sbuf_addf(&sb, ", p99 <= %s", zd_fmt_duration(s->steady.p99_us, a, sizeof(a)));
    sbuf_addf(&sb, " per %s window, held %s to count as recovered",
              zd_fmt_duration(s->steady.window_us, a, sizeof(a)),
              zd_fmt_duration(s->steady.hold_us, b, sizeof(b)));
    printf("  %-8s %s\n", "steady", sbuf_str(&sb));
    sbuf_reset(&sb);

    const struct scn_guards *g = &s->guards;
    if (g->abort_error_rate >= 0) {
        sbuf_adds(&sb, "abort if errors > ");
        fmt_pct(&sb, g->abort_error_rate);
        sbuf_addf(&sb, " for %s; ", zd_fmt_duration(g->abort_for_us, a, sizeof(a)));
    }
    if (g->min_healthy_fraction >= 0) {
        sbuf_adds(&sb, "abort if healthy capacity < ");
        fmt_pct(&sb, g->min_healthy_fraction);
        sbuf_adds(&sb, "; ");
    }
    sbuf_addf(&sb, "stop after %s", zd_fmt_duration(g->max_duration_us, a, sizeof(a)));
    if (g->kill_switch)
        sbuf_addf(&sb, "; kill switch %s", g->kill_switch);
    printf("  %-8s %s\n", "guards", sbuf_str(&sb));
    sbuf_reset(&sb);

    const struct scn_expect *e = &s->expect;
    const char *sep = "";
    if (e->recovery_us) {
        sbuf_addf(&sb, "recover <= %s", zd_fmt_duration(e->recovery_us, a, sizeof(a)));
        sep = ", ";
    }
    if (e->detect_us) {
        sbuf_addf(&sb, "%sdetect <= %s", sep, zd_fmt_duration(e->detect_us, a, sizeof(a)));
        sep = ", ";
    }
    if (e->availability >= 0) {
        sbuf_addf(&sb, "%savailability >= ", sep);
        fmt_pct(&sb, e->availability);
        sep = ", ";
    }
    if (e->max_error_rate >= 0) {
        sbuf_addf(&sb, "%serrors <= ", sep);
        fmt_pct(&sb, e->max_error_rate);
        sep = ", ";
    }
    if (e->p99_us) {
        sbuf_addf(&sb, "%sp99 <= %s", sep, zd_fmt_duration(e->p99_us, a, sizeof(a)));
        sep = ", ";
    }
    if (e->min_score >= 0)
        sbuf_addf(&sb, "%sscore >= %.10g", sep, e->min_score);
    printf("  %-8s %s\n", "expect", sb.len ? sbuf_str(&sb) : "(nothing checked)");
    sbuf_reset(&sb);

    if (s->nprobes) {
        for (size_t i = 0; i < s->nprobes; i++) {
            const struct scn_probe *p = &s->probes[i];
            sbuf_addf(&sb, "%s: ", p->name);
            if (p->kind == SCN_PROBE_HTTP) {
                char *pu = zd_url_redact(p->url);
                sbuf_addf(&sb, "GET %s", pu);
                free(pu);
            } else if (p->kind == SCN_PROBE_COMMAND)
                sbuf_addf(&sb, "$ %s", p->command);
            else
                sbuf_addf(&sb, ">= %u healthy in %s%s", p->min_healthy,
                          p->zone ? "zone " : "every zone", p->zone ? p->zone : "");
            sbuf_addf(&sb, " every %s", zd_fmt_duration(p->interval_us, a, sizeof(a)));
            printf("  %-8s %s\n", i ? "" : "probes", sbuf_str(&sb));
            sbuf_reset(&sb);
        }
    }
    sbuf_free(&sb);
    printf("\n");
}

static int print_table(const struct scn_scenario *s, bool color)
{
    struct style c = {"", "", "", "", "", ""};
    if (color)
        c = (struct style){"\033[1m", "\033[2m", "\033[31m", "\033[32m", "\033[36m", "\033[0m"};
    print_summary(s, &c);

    struct event *ev = NULL;
    size_t n = build_events(s, &ev);
    /* column widths from the content, so the table stays narrow for short names */
    size_t wstep = 4, wwhere = 5, wdetail = 6;
    for (size_t i = 0; i < s->nsteps; i++) {
        struct sbuf sb = SBUF_INIT;
        size_t l = strlen(s->steps[i].name);
        wstep = l > wstep ? l : wstep;
        where(&sb, s, &s->steps[i]);
        wwhere = sb.len > wwhere ? sb.len : wwhere;
        sbuf_reset(&sb);
        detail(&sb, s, &s->steps[i]);
        wdetail = sb.len > wdetail ? sb.len : wdetail;
        sbuf_free(&sb);
    }
    if (wstep > 32)
        wstep = 32;
    printf("%s%7s  %-7s  %-*s  %-14s  %-*s  %-*s  %6s  %6s  %s%s\n", c.bold, "TIME", "EVENT",
           (int)wstep, "STEP", "FAULT", (int)wwhere, "WHERE", (int)wdetail, "DETAIL", "FOR",
           "UNTIL", "EXPECT", c.off);
    for (size_t i = 0; i < n; i++) {
        const struct event *e = &ev[i];
        char at[32], f[32], u[32];
        if (e->at_us)
            zd_fmt_duration(e->at_us, at, sizeof(at));
        else
            snprintf(at, sizeof(at), "0s");
        struct sbuf w = SBUF_INIT, d = SBUF_INIT, x = SBUF_INIT;
        const char *col = c.dim, *step = "", *fault = "";
        f[0] = u[0] = '\0';
        switch (e->kind) {
        case EV_START:
            zd_fmt_duration(s->warmup_us, f, sizeof(f));
            zd_fmt_duration(s->warmup_us, u, sizeof(u));
            sbuf_addf(&x, "baseline at %.10g req/s", s->load.rate);
            break;
        case EV_INJECT:
            col = c.red;
            step = e->step->name;
            fault = scn_fault_name(e->step->fault);
            where(&w, s, e->step);
            detail(&d, s, e->step);
            if (e->step->for_us) {
                zd_fmt_duration(e->step->for_us, f, sizeof(f));
                zd_fmt_duration(e->step->at_us + e->step->for_us, u, sizeof(u));
            } else {
                snprintf(f, sizeof(f), "-");
                snprintf(u, sizeof(u), "-");
            }
            step_expect(&x, e->step);
            break;
        case EV_UNDO:
            col = c.green;
            step = e->step->name;
            fault = scn_fault_name(e->step->fault);
            where(&w, s, e->step);
            if (e->step->fault == SCN_FAULT_TRAFFIC_SPIKE) {
                sbuf_adds(&d, "back to base rate");
            } else if (e->step->fault == SCN_FAULT_KILL_PROCESS) {
                sbuf_addf(&d, "%s SIGCONT", e->step->process ? e->step->process : "?");
            } else if (e->step->fault == SCN_FAULT_EXEC && e->step->undo_command) {
                size_t ul = strlen(e->step->undo_command);
                sbuf_addf(&d, "$ %.*s%s", ul > 28 ? 25 : (int)ul, e->step->undo_command,
                          ul > 28 ? "..." : "");
            } else {
                sbuf_adds(&d, "undone");
            }
            break;
        case EV_SETTLE:
            zd_fmt_duration(s->settle_us, f, sizeof(f));
            zd_fmt_duration(s->duration_us, u, sizeof(u));
            sbuf_adds(&x, "final check of the steady state");
            break;
        case EV_END:
            col = c.cyan;
            sbuf_adds(&x, "score and exit code");
            break;
        }
        struct sbuf line = SBUF_INIT;
        sbuf_addf(&line, "%s%7s  %-7s%s  %-*.*s  %-14s  %-*s  %-*s  %6s  %6s  %s", col, at,
                  ev_names[e->kind], c.off, (int)wstep, (int)wstep, step, fault, (int)wwhere,
                  sbuf_str(&w), (int)wdetail, sbuf_str(&d), f, u, sbuf_str(&x));
        while (line.len && line.buf[line.len - 1] == ' ')
            line.buf[--line.len] = '\0';
        puts(sbuf_str(&line));
        sbuf_free(&line);
        sbuf_free(&w);
        sbuf_free(&d);
        sbuf_free(&x);
    }
    free(ev);
    return 0;
}

/* ---- --json ---- */

static void jkey(struct sbuf *sb, bool *first, const char *k)
{
    sbuf_adds(sb, *first ? "" : ",");
    *first = false;
    sbuf_add_json_str(sb, k);
    sbuf_addc(sb, ':');
}

static void jstr(struct sbuf *sb, bool *first, const char *k, const char *v)
{
    jkey(sb, first, k);
    if (v) {
        char *red = zd_text_redact(v); /* URLs in the plan show no password */
        sbuf_add_json_str(sb, red);
        free(red);
    } else
        sbuf_adds(sb, "null");
}

static void jnum(struct sbuf *sb, bool *first, const char *k, double v, bool set)
{
    jkey(sb, first, k);
    if (set)
        sbuf_addf(sb, "%.10g", v);
    else
        sbuf_adds(sb, "null");
}

static void jus(struct sbuf *sb, bool *first, const char *k, uint64_t v)
{
    jkey(sb, first, k);
    sbuf_addf(sb, "%llu", (unsigned long long)v);
}

static void json_step(struct sbuf *sb, const struct scn_scenario *s, const struct scn_step *st)
{
    bool f = true;
    sbuf_addc(sb, '{');
    jstr(sb, &f, "name", st->name);
    jstr(sb, &f, "fault", scn_fault_name(st->fault));
    jus(sb, &f, "at_us", st->at_us);
    jus(sb, &f, "for_us", st->for_us);
    jus(sb, &f, "until_us", st->at_us + st->for_us);
    jstr(sb, &f, "zone", st->sel.zone);
    jnum(sb, &f, "count", st->sel.count, st->sel.count > 0);
    jnum(sb, &f, "percent", st->sel.percent, st->sel.percent > 0);
    if (s->target.kind == SCN_TARGET_SSH && st->fault != SCN_FAULT_TRAFFIC_SPIKE) {
        size_t n = 0;
        const char **v = ssh_hosts(s, st, &n);
        jkey(sb, &f, "hosts");
        sbuf_addc(sb, '[');
        for (size_t i = 0; i < n; i++) {
            if (i)
                sbuf_addc(sb, ',');
            sbuf_add_json_str(sb, v[i]);
        }
        sbuf_addc(sb, ']');
        free(v);
    }
    struct sbuf w = SBUF_INIT;
    where(&w, s, st);
    jstr(sb, &f, "where", sbuf_str(&w));
    sbuf_reset(&w);
    detail(&w, s, st);
    jstr(sb, &f, "detail", sbuf_str(&w));
    sbuf_free(&w);
    jkey(sb, &f, "expect");
    bool g = true;
    sbuf_addc(sb, '{');
    jnum(sb, &g, "recovery_us", (double)st->expect_recovery_us, st->expect_recovery_us > 0);
    jnum(sb, &g, "detect_us", (double)st->expect_detect_us, st->expect_detect_us > 0);
    jnum(sb, &g, "max_error_rate", st->expect_max_error_rate, st->expect_max_error_rate >= 0);
    sbuf_adds(sb, "}}");
}

static int print_json(const struct scn_scenario *s)
{
    struct sbuf sb = SBUF_INIT;
    bool f = true;
    static const char *const kinds[] = {"lab", "ssh", "aws"};
    sbuf_addc(&sb, '{');
    jstr(&sb, &f, "name", s->name);
    jstr(&sb, &f, "path", s->path);
    jstr(&sb, &f, "description", s->description);
    jus(&sb, &f, "duration_us", s->duration_us);
    jus(&sb, &f, "warmup_us", s->warmup_us);
    jus(&sb, &f, "settle_us", s->settle_us);

    jkey(&sb, &f, "target");
    bool g = true;
    sbuf_addc(&sb, '{');
    jstr(&sb, &g, "kind", kinds[s->target.kind]);
    jstr(&sb, &g, "url", s->target.url);
    jkey(&sb, &g, "zones");
    sbuf_addc(&sb, '[');
    for (size_t i = 0; i < s->target.nzones; i++) {
        bool h = true;
        sbuf_adds(&sb, i ? ",{" : "{");
        jstr(&sb, &h, "name", s->target.zones[i].name);
        jkey(&sb, &h, "hosts");
        sbuf_addc(&sb, '[');
        for (size_t j = 0; j < s->target.zones[i].nhosts; j++) {
            sbuf_adds(&sb, j ? "," : "");
            sbuf_add_json_str(&sb, s->target.zones[i].hosts[j]);
        }
        sbuf_adds(&sb, "]}");
    }
    sbuf_adds(&sb, "]}");

    jkey(&sb, &f, "load");
    g = true;
    sbuf_addc(&sb, '{');
    jnum(&sb, &g, "rate", s->load.rate, true);
    jus(&sb, &g, "ramp_us", s->load.ramp_us);
    jnum(&sb, &g, "connections", s->load.connections, true);
    jus(&sb, &g, "timeout_us", s->load.timeout_us);
    jstr(&sb, &g, "method", s->load.method);
    jkey(&sb, &g, "expect_status");
    sbuf_addc(&sb, '[');
    for (size_t i = 0; i < s->load.nexpect_status; i++)
        sbuf_addf(&sb, "%s[%d,%d]", i ? "," : "", s->load.expect_status[i].lo,
                  s->load.expect_status[i].hi);
    sbuf_addc(&sb, ']');
    jstr(&sb, &g, "expect_body", s->load.expect_body);
    sbuf_addc(&sb, '}');

    jkey(&sb, &f, "steady_state");
    g = true;
    sbuf_addc(&sb, '{');
    jnum(&sb, &g, "error_rate", s->steady.error_rate, true);
    jnum(&sb, &g, "p99_us", (double)s->steady.p99_us, s->steady.p99_us > 0);
    jus(&sb, &g, "window_us", s->steady.window_us);
    jus(&sb, &g, "hold_us", s->steady.hold_us);
    sbuf_addc(&sb, '}');

    jkey(&sb, &f, "guards");
    g = true;
    sbuf_addc(&sb, '{');
    jnum(&sb, &g, "abort_if_error_rate", s->guards.abort_error_rate,
         s->guards.abort_error_rate >= 0);
    jus(&sb, &g, "for_us", s->guards.abort_for_us);
    jnum(&sb, &g, "min_healthy", s->guards.min_healthy_fraction,
         s->guards.min_healthy_fraction >= 0);
    jus(&sb, &g, "max_duration_us", s->guards.max_duration_us);
    jstr(&sb, &g, "kill_switch", s->guards.kill_switch);
    sbuf_addc(&sb, '}');

    jkey(&sb, &f, "expect");
    g = true;
    sbuf_addc(&sb, '{');
    jnum(&sb, &g, "recovery_us", (double)s->expect.recovery_us, s->expect.recovery_us > 0);
    jnum(&sb, &g, "detect_us", (double)s->expect.detect_us, s->expect.detect_us > 0);
    jnum(&sb, &g, "availability", s->expect.availability, s->expect.availability >= 0);
    jnum(&sb, &g, "max_error_rate", s->expect.max_error_rate, s->expect.max_error_rate >= 0);
    jnum(&sb, &g, "p99_us", (double)s->expect.p99_us, s->expect.p99_us > 0);
    jnum(&sb, &g, "min_score", s->expect.min_score, s->expect.min_score >= 0);
    sbuf_addc(&sb, '}');

    jkey(&sb, &f, "steps");
    sbuf_addc(&sb, '[');
    for (size_t i = 0; i < s->nsteps; i++) {
        sbuf_adds(&sb, i ? "," : "");
        json_step(&sb, s, &s->steps[i]);
    }
    sbuf_addc(&sb, ']');

    jkey(&sb, &f, "probes");
    sbuf_addc(&sb, '[');
    static const char *const pk[] = {"http", "command", "lb_health"};
    for (size_t i = 0; i < s->nprobes; i++) {
        const struct scn_probe *p = &s->probes[i];
        bool h = true;
        sbuf_adds(&sb, i ? ",{" : "{");
        jstr(&sb, &h, "name", p->name);
        jstr(&sb, &h, "kind", pk[p->kind]);
        jus(&sb, &h, "interval_us", p->interval_us);
        jstr(&sb, &h, "url", p->url);
        jstr(&sb, &h, "command", p->command);
        jstr(&sb, &h, "zone", p->zone);
        sbuf_addc(&sb, '}');
    }
    sbuf_addc(&sb, ']');

    jkey(&sb, &f, "events");
    sbuf_addc(&sb, '[');
    struct event *ev = NULL;
    size_t n = build_events(s, &ev);
    for (size_t i = 0; i < n; i++) {
        bool h = true;
        sbuf_adds(&sb, i ? ",{" : "{");
        jus(&sb, &h, "at_us", ev[i].at_us);
        jstr(&sb, &h, "event", ev[i].kind == EV_START ? "warmup" : ev_names[ev[i].kind]);
        jstr(&sb, &h, "step", ev[i].step ? ev[i].step->name : NULL);
        sbuf_addc(&sb, '}');
    }
    free(ev);
    sbuf_adds(&sb, "]}\n");
    fputs(sbuf_str(&sb), stdout);
    sbuf_free(&sb);
    return 0;
}

static const char *yn(bool b)
{
    return b ? "yes" : "no";
}

/* plan --check: the per-host pre-flight of an ssh target. */
static int print_check(const struct scn_scenario *s, bool json)
{
    struct tgt_host_check *v = NULL;
    size_t n = 0;
    uint64_t took = 0;
    char *err = NULL;
    int r = tgt_ssh_check(&s->target, &v, &n, &took, &err);
    if (r < 0) {
        fprintf(stderr, "zonedef: plan --check: %s\n", err);
        free(err);
        return ZD_EXIT_USAGE;
    }
    /* a latency step needs netem on the hosts of its zone (tags are not narrowed here: a host
     * of that zone without netem is flagged) */
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < s->nsteps && !v[i].error && v[i].uid >= 0 && !v[i].netem; k++) {
            const struct scn_step *st = &s->steps[k];
            if (st->fault == SCN_FAULT_LATENCY &&
                (!st->sel.zone || strcmp(st->sel.zone, v[i].zone) == 0))
                v[i].error =
                    xasprintf("no tc netem here: step '%s' (latency) cannot run", st->name);
        }
    }
    size_t ready = 0;
    for (size_t i = 0; i < n; i++)
        ready += v[i].error == NULL;
    char d[32];
    if (json) {
        struct sbuf sb = SBUF_INIT;
        sbuf_addf(&sb, "{\"scenario\":");
        sbuf_add_json_str(&sb, s->name);
        sbuf_addf(&sb, ",\"ready\":%zu,\"hosts_total\":%zu,\"elapsed_us\":%llu,\"hosts\":[", ready,
                  n, (unsigned long long)took);
        for (size_t i = 0; i < n; i++) {
            sbuf_adds(&sb, i ? ",{\"host\":" : "{\"host\":");
            sbuf_add_json_str(&sb, v[i].host);
            sbuf_adds(&sb, ",\"zone\":");
            sbuf_add_json_str(&sb, v[i].zone);
            sbuf_addf(&sb,
                      ",\"reachable\":%s,\"hostkey_ok\":%s,\"auth_ok\":%s,\"sudo_ok\":%s,"
                      "\"nft\":%s,\"iptables\":%s,\"tc\":%s,\"netem\":%s,\"systemd\":%s,\"uid\":%d,"
                      "\"hostkey\":",
                      v[i].reachable ? "true" : "false", v[i].hostkey_ok ? "true" : "false",
                      v[i].auth_ok ? "true" : "false", v[i].sudo_ok ? "true" : "false",
                      v[i].nft ? "true" : "false", v[i].iptables ? "true" : "false",
                      v[i].tc ? "true" : "false", v[i].netem ? "true" : "false",
                      v[i].systemd ? "true" : "false", v[i].uid);
            if (v[i].hostkey)
                sbuf_add_json_str(&sb, v[i].hostkey);
            else
                sbuf_adds(&sb, "null");
            sbuf_adds(&sb, ",\"error\":");
            if (v[i].error)
                sbuf_add_json_str(&sb, v[i].error);
            else
                sbuf_adds(&sb, "null");
            sbuf_adds(&sb, "}");
        }
        sbuf_adds(&sb, "]}\n");
        fputs(sbuf_str(&sb), stdout);
        sbuf_free(&sb);
    } else {
        printf("%-22s %-6s %-5s %-8s %-5s %-5s %-4s %-8s %-3s %-5s %-3s %s\n", "HOST", "ZONE",
               "REACH", "HOSTKEY", "AUTH", "SUDO", "NFT", "IPTABLES", "TC", "NETEM", "UID",
               "KEY / PROBLEM");
        for (size_t i = 0; i < n; i++) {
            const struct tgt_host_check *c = &v[i];
            char uid[16] = "-";
            if (c->uid >= 0)
                snprintf(uid, sizeof(uid), "%d", c->uid);
            printf("%-22s %-6s %-5s %-8s %-5s %-5s %-4s %-8s %-3s %-5s %-3s %s\n", c->host, c->zone,
                   yn(c->reachable), c->reachable ? yn(c->hostkey_ok) : "-",
                   c->hostkey_ok ? yn(c->auth_ok) : "-",
                   !c->auth_ok          ? "-"
                   : s->target.ssh_sudo ? yn(c->sudo_ok)
                                        : "n/a",
                   c->uid >= 0 ? yn(c->nft) : "-", c->uid >= 0 ? yn(c->iptables) : "-",
                   c->uid >= 0 ? yn(c->tc) : "-", c->uid >= 0 ? yn(c->netem) : "-", uid,
                   c->error     ? c->error
                   : c->hostkey ? c->hostkey
                                : "");
        }
        printf("check: %zu of %zu hosts ready in %s; nothing was changed\n", ready, n,
               zd_fmt_duration(took, d, sizeof(d)));
    }
    tgt_host_checks_free(v, n);
    return ready == n ? ZD_EXIT_OK : 1;
}

int cmd_plan(int argc, char **argv)
{
    if (zd_wants_help(argc, argv, usage))
        return ZD_EXIT_OK;
    static const struct option longopts[] = {
        {"var", required_argument, NULL, 'v'}, {"json", no_argument, NULL, 'j'},
        {"check", no_argument, NULL, 'k'},     {"profile", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
    };
    const char **vars = xcalloc((size_t)argc, sizeof(*vars));
    size_t nvars = 0;
    bool json = false, check = false;
    const char *profile = NULL;
    int c;
    optind = 0;
    while ((c = zd_getopt(argc, argv, "h", longopts)) != -1) {
        switch (c) {
        case 'v':
            if (!diag_var_ok(argv[0], optarg)) {
                free(vars);
                return ZD_EXIT_USAGE;
            }
            vars[nvars++] = optarg;
            break;
        case 'j': json = true; break;
        case 'k': check = true; break;
        case 'p': profile = optarg; break;
        default: free(vars); return ZD_EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "zonedef: plan: %s (see 'zonedef plan --help')\n",
                optind >= argc ? "no file given" : "give exactly one file");
        free(vars);
        return ZD_EXIT_USAGE;
    }
    struct scn_scenario *s = NULL;
    struct scn_diags d = {NULL, 0, 0};
    int rc = ZD_EXIT_OK;
    if (scn_load_file(argv[optind], vars, nvars, &s, &d) < 0) {
        diag_print(&d, stderr);
        rc = ZD_EXIT_USAGE;
    } else if (check && s->target.kind == SCN_TARGET_SSH) {
        rc = print_check(s, json);
    } else if (json) {
        print_json(s);
    } else {
        print_table(s, zd_color(1));
    }
    fflush(stdout);
    if (rc == ZD_EXIT_OK && check && s->target.kind != SCN_TARGET_SSH)
        rc = check_target(s, profile);
    fflush(stdout);
    scn_diags_free(&d);
    scn_free(s);
    free(vars);
    return rc;
}
