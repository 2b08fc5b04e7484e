/*
 * steps: the fault steps (the table of which keys each fault takes, host selection, the
 * per-step expectations, ordering and overlap) and the probes.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <signal.h>

#include "scenario/parse.h"
#include "base/util.h"

#include "base/banned.h"

/* The fault names, indexed by enum scn_fault; NULL-terminated for zd_suggest. */
const char *const sp_fault_names[SCN_FAULT__COUNT + 1] = {
    "kill_instances", "stop_instances", "blackhole_zone",
    "traffic_spike",  "latency",        "cpu_stress",
    "kill_process",   "exec",           NULL,
};

const char *scn_fault_name(enum scn_fault f)
{
    return (unsigned)f < SCN_FAULT__COUNT ? sp_fault_names[f] : NULL;
}

bool scn_fault_selects(enum scn_fault f)
{
    switch (f) {
    case SCN_FAULT_KILL_INSTANCES:
    case SCN_FAULT_STOP_INSTANCES:
    case SCN_FAULT_LATENCY:
    case SCN_FAULT_CPU_STRESS:
    case SCN_FAULT_KILL_PROCESS:
    case SCN_FAULT_EXEC: return true;
    default: return false;
    }
}

bool scn_tags_match(const struct scn_kv *have, size_t nhave, const struct scn_select *sel)
{
    for (size_t k = 0; k < sel->ntags; k++) {
        bool found = false;
        for (size_t m = 0; m < nhave && !found; m++)
            found = strcmp(have[m].key, sel->tags[k].key) == 0 &&
                    strcmp(have[m].value, sel->tags[k].value) == 0;
        if (!found)
            return false;
    }
    return true;
}

size_t scn_pick_count(size_t n, const struct scn_select *sel)
{
    size_t k = n;
    if (sel->count)
        k = sel->count;
    else if (sel->percent > 0)
        k = (size_t)ceil((double)n * sel->percent / 100.0);
    if (k < 1 && n)
        k = 1;
    return k > n ? n : k;
}

/* ---- steps ---------------------------------------------------------------------------------- */

#define F(x)  (1u << (x))
#define F_ALL ((1u << SCN_FAULT__COUNT) - 1)
#define F_SELECT                                                                                   \
    (F(SCN_FAULT_KILL_INSTANCES) | F(SCN_FAULT_STOP_INSTANCES) | F(SCN_FAULT_LATENCY) |            \
     F(SCN_FAULT_CPU_STRESS) | F(SCN_FAULT_KILL_PROCESS) | F(SCN_FAULT_EXEC))

static const struct {
    const char *key;
    unsigned faults; /* the faults the key applies to */
} step_keys[] = {
    {"name", F_ALL},
    {"at", F_ALL},
    {"fault", F_ALL},
    {"expect", F_ALL},
    {"for", F_ALL & ~F(SCN_FAULT_KILL_INSTANCES)},
    {"zone", F_SELECT | F(SCN_FAULT_BLACKHOLE_ZONE)},
    {"tags", F_SELECT},
    {"count", F_SELECT},
    {"percent", F_SELECT},
    {"rate", F(SCN_FAULT_TRAFFIC_SPIKE)},
    {"ramp", F(SCN_FAULT_TRAFFIC_SPIKE)},
    {"delay", F(SCN_FAULT_LATENCY)},
    {"jitter", F(SCN_FAULT_LATENCY)},
    {"loss", F(SCN_FAULT_LATENCY)},
    {"interface", F(SCN_FAULT_LATENCY)},
    {"cpu", F(SCN_FAULT_CPU_STRESS)},
    {"workers", F(SCN_FAULT_CPU_STRESS)},
    {"process", F(SCN_FAULT_KILL_PROCESS)},
    {"signal", F(SCN_FAULT_KILL_PROCESS)},
    {"command", F(SCN_FAULT_EXEC)},
    {"undo", F(SCN_FAULT_EXEC)},
};
static const char *const step_key_names[] = {
    "name",    "at",      "fault",  "expect",  "for",    "zone", "tags",      "count",
    "percent", "rate",    "ramp",   "delay",   "jitter", "loss", "interface", "cpu",
    "workers", "process", "signal", "command", "undo",   NULL};
static const char *const step_expect_keys[] = {"recovery_time", "detect_time", "max_error_rate",
                                               NULL};

static const struct {
    const char *name;
    int sig;
} signals[] = {{"KILL", SIGKILL}, {"TERM", SIGTERM}, {"STOP", SIGSTOP},
               {"INT", SIGINT},   {"HUP", SIGHUP},   {"QUIT", SIGQUIT},
               {"ABRT", SIGABRT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}};

/* A network interface name as a scenario may give it (IFNAMSIZ - 1 characters at most; the
 * characters the host commands accept, see target/hostcmd.h). */
static bool iface_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 15)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == ':' || *p == '-'))
            return false;
    return true;
}

static bool zone_exists(const struct scn_target *t, const char *z)
{
    for (size_t i = 0; i < t->nzones; i++)
        if (strcmp(t->zones[i].name, z) == 0)
            return true;
    return false;
}

static void check_zone(struct ctx *c, const cJSON *n, const char *path, const char *zone)
{
    const struct scn_target *t = &c->s->target;
    if (!c->zones_known || zone_exists(t, zone))
        return;
    struct sbuf sb = SBUF_INIT;
    for (size_t i = 0; i < t->nzones; i++)
        sbuf_addf(&sb, "%s%s", i ? ", " : "", t->zones[i].name);
    sp_diag(c, sp_off_of(c, n), path, "zone '%s' is not one of the target's zones (%s)", zone,
            sbuf_str(&sb));
    sbuf_free(&sb);
}

/* An ssh step's tags must pick at least one host of the target (of its zone, when it names
 * one): a selection that can never match anything is a mistake in the file. */
static void check_ssh_tags(struct ctx *c, const cJSON *tn, const char *P,
                           const struct scn_select *sel)
{
    const struct scn_target *t = &c->s->target;
    size_t match = 0;
    for (size_t z = 0; z < t->nzones; z++) {
        const struct scn_zone *zn = &t->zones[z];
        if (sel->zone && strcmp(sel->zone, zn->name) != 0)
            continue;
        for (size_t h = 0; h < zn->nhosts; h++)
            match += zn->host_tags ? scn_tags_match(zn->host_tags[h], zn->host_ntags[h], sel)
                                   : scn_tags_match(NULL, 0, sel);
    }
    if (match || !t->nzones)
        return;
    struct sbuf sb = SBUF_INIT;
    for (size_t k = 0; k < sel->ntags; k++)
        sbuf_addf(&sb, "%s%s=%s", k ? ", " : "", sel->tags[k].key, sel->tags[k].value);
    char *tp = sp_path_key(P, "tags");
    sp_diag(c, sp_off_of(c, tn), tp,
            "no host of the target%s%s carries the tags %s (a host's tags: {\"host\": \"web1\", "
            "\"tags\": {...}} in target.zones)",
            sel->zone ? " in zone " : "", sel->zone ? sel->zone : "", sbuf_str(&sb));
    free(tp);
    sbuf_free(&sb);
}

static void parse_selection(struct ctx *c, const cJSON *n, const char *P, struct scn_step *st)
{
    struct scn_select *sel = &st->sel;
    if (sp_get_text(c, n, "zone", P, SCN_MAX_NAME, &sel->zone) > 0) {
        char *zp = sp_path_key(P, "zone");
        check_zone(c, sp_get(n, "zone"), zp, sel->zone);
        free(zp);
    }
    if (sp_get(n, "tags") && c->s->target.kind == SCN_TARGET_LAB) {
        char *tp = sp_path_key(P, "tags");
        sp_diag(c, sp_key_off_of(c, sp_get(n, "tags")), tp,
                "selecting by 'tags' needs an aws or ssh target (lab instances have no tags)");
        free(tp);
    } else if (sp_get_kv(c, n, "tags", P, 50, false, &sel->tags, &sel->ntags) > 0 &&
               c->s->target.kind == SCN_TARGET_SSH) {
        check_ssh_tags(c, sp_get(n, "tags"), P, sel);
    }
    int hc = sp_get_u32(c, n, "count", P, 1, 100000, &sel->count);
    int hp = sp_get_num(c, n, "percent", P, 0, true, 100, false, &sel->percent);
    if (hc && hp) {
        char *pp = sp_path_key(P, "percent");
        sp_diag(c, sp_key_off_of(c, sp_get(n, "percent")), pp,
                "'count' and 'percent' cannot both be given: pick one");
        free(pp);
    }
}

/* Returns whether 'at' was given and read (cross-step checks on it make sense then). */
static bool parse_step(struct ctx *c, const cJSON *n, const char *P, struct scn_step *st)
{
    bool at_ok = false;
    st->loc = sp_loc_of(c, n);
    st->signal = SIGKILL;
    st->cpu_percent = 100;
    st->workers = 1;
    st->expect_max_error_rate = -1;
    st->fault = SCN_FAULT__COUNT;
    if (!sp_check_object(c, n, P, "a step", step_key_names))
        return false;
    const cJSON *fn = sp_get(n, "fault");
    char *fs = NULL;
    if (!fn) {
        sp_missing(c, n, P, "fault",
                   "(kill_instances, stop_instances, blackhole_zone, "
                   "traffic_spike, latency, cpu_stress, kill_process or exec)");
    } else {
        char *fp = sp_path_key(P, "fault");
        if (sp_str_node(c, fn, fp, "fault", 64, &fs) > 0) {
            for (int i = 0; i < SCN_FAULT__COUNT; i++)
                if (strcmp(fs, sp_fault_names[i]) == 0)
                    st->fault = (enum scn_fault)i;
            if (st->fault == SCN_FAULT__COUNT) {
                const char *s = zd_suggest(fs, sp_fault_names);
                if (s)
                    sp_diag(c, sp_off_of(c, fn), fp, "unknown fault '%s' (did you mean '%s'?)", fs,
                            s);
                else
                    sp_diag(c, sp_off_of(c, fn), fp,
                            "unknown fault '%s' (kill_instances, stop_instances, blackhole_zone, "
                            "traffic_spike, latency, cpu_stress, kill_process or exec)",
                            fs);
            }
        }
        free(fp);
    }
    free(fs);
    enum scn_fault f = st->fault;
    bool known = f != SCN_FAULT__COUNT;
    /* keys that exist but do not belong to this fault */
    if (known) {
        for (const cJSON *m = n->child; m; m = m->next) {
            for (size_t i = 0; i < ZD_ARRAY_LEN(step_keys); i++) {
                if (strcmp(step_keys[i].key, m->string) == 0 && !(step_keys[i].faults & F(f))) {
                    char *kp = sp_path_key(P, m->string);
                    if (strcmp(m->string, "for") == 0)
                        sp_diag(c, sp_key_off_of(c, m), kp,
                                "'for' does not apply to %s (it is instantaneous)",
                                sp_fault_names[f]);
                    else
                        sp_diag(c, sp_key_off_of(c, m), kp, "'%s' does not apply to fault '%s'",
                                m->string, sp_fault_names[f]);
                    free(kp);
                }
            }
        }
    }
    if (!sp_get(n, "at"))
        sp_missing(c, n, P, "at", "(when the fault starts, like \"15s\")");
    else
        at_ok = sp_get_dur(c, n, "at", P, &st->at_us) > 0;
    int has_for = 0;
    if (!known || f != SCN_FAULT_KILL_INSTANCES)
        has_for = sp_get_dur_range(c, n, "for", P, 0, true, 24 * 60 * 60 * SEC, &st->for_us);
    sp_get_text(c, n, "name", P, SCN_MAX_NAME, &st->name);

    const cJSON *en = sp_get(n, "expect");
    if (en) {
        char *ep = sp_path_key(P, "expect");
        if (sp_check_object(c, en, ep, "a step's expect", step_expect_keys)) {
            sp_get_dur_range(c, en, "recovery_time", ep, 0, true, 24 * 60 * 60 * SEC,
                             &st->expect_recovery_us);
            sp_get_dur_range(c, en, "detect_time", ep, 0, true, 24 * 60 * 60 * SEC,
                             &st->expect_detect_us);
            sp_get_num(c, en, "max_error_rate", ep, 0, false, 1, false, &st->expect_max_error_rate);
        }
        free(ep);
    }
    if (!known)
        return at_ok;
    if (scn_fault_selects(f)) {
        parse_selection(c, n, P, st);
    } else if (f == SCN_FAULT_BLACKHOLE_ZONE &&
               sp_get_text(c, n, "zone", P, SCN_MAX_NAME, &st->sel.zone) > 0) {
        char *zp = sp_path_key(P, "zone");
        check_zone(c, sp_get(n, "zone"), zp, st->sel.zone);
        free(zp);
    }
    bool need_for = false;
    const char *why = NULL;
    switch (f) {
    case SCN_FAULT_BLACKHOLE_ZONE:
        if (!sp_get(n, "zone"))
            sp_missing(c, n, P, "zone", "(the zone to black-hole)");
        need_for = true;
        why = "(how long the zone stays dark)";
        break;
    case SCN_FAULT_STOP_INSTANCES:
        need_for = true;
        why = "(how long the instances stay stopped)";
        break;
    case SCN_FAULT_TRAFFIC_SPIKE:
        if (!sp_get(n, "rate"))
            sp_missing(c, n, P, "rate", "(requests per second during the spike)");
        else
            sp_get_num(c, n, "rate", P, 0, true, 1e6, false, &st->rate);
        if (sp_get_dur_range(c, n, "ramp", P, 0, false, 60 * 60 * SEC, &st->ramp_us) > 0 &&
            has_for > 0 && st->ramp_us * 2 > st->for_us) {
            char *rp = sp_path_key(P, "ramp");
            sp_diag(c, sp_off_of(c, sp_get(n, "ramp")), rp,
                    "'ramp' up and down (2 x ramp) must fit in 'for'");
            free(rp);
        }
        need_for = true;
        why = "(how long the spike lasts)";
        break;
    case SCN_FAULT_LATENCY:
        if (!sp_get(n, "delay"))
            sp_missing(c, n, P, "delay", "(the latency to add, like \"200ms\")");
        else
            sp_get_dur_range(c, n, "delay", P, 0, true, 60 * SEC, &st->delay_us);
        sp_get_dur_range(c, n, "jitter", P, 0, false, 60 * SEC, &st->jitter_us);
        if (c->s->target.kind == SCN_TARGET_LAB) {
            for (const char *k = "loss\0interface\0"; *k; k += strlen(k) + 1) {
                if (!sp_get(n, k))
                    continue;
                char *kp = sp_path_key(P, k);
                sp_diag(c, sp_key_off_of(c, sp_get(n, k)), kp,
                        "'%s' applies to ssh and aws hosts (tc netem); the lab's instances have "
                        "delay and jitter only",
                        k);
                free(kp);
            }
        }
        sp_get_num(c, n, "loss", P, 0, false, 100, false, &st->loss);
        if (sp_get_text(c, n, "interface", P, 64, &st->interface) > 0 && !iface_ok(st->interface)) {
            char *ip = sp_path_key(P, "interface");
            sp_diag(c, sp_off_of(c, sp_get(n, "interface")), ip,
                    "'%s' is not an interface name (1 to 15 characters of A-Z a-z 0-9 _ . : -)",
                    st->interface);
            free(ip);
        }
        need_for = true;
        why = "(how long the latency lasts)";
        break;
    case SCN_FAULT_CPU_STRESS:
        sp_get_u32(c, n, "cpu", P, 1, 100, &st->cpu_percent);
        sp_get_u32(c, n, "workers", P, 1, 1024, &st->workers);
        need_for = true;
        why = "(how long the stress lasts)";
        break;
    case SCN_FAULT_KILL_PROCESS: {
        if (sp_get_text(c, n, "process", P, SCN_MAX_NAME, &st->process) == 0) {
            if (c->s->target.ssh_service)
                st->process = xstrdup(c->s->target.ssh_service);
            else
                sp_missing(c, n, P, "process", "(the process name to signal)");
        }
        char *sig = NULL;
        const cJSON *sn = sp_get(n, "signal");
        if (sp_get_text(c, n, "signal", P, 16, &sig) > 0) {
            const char *nm = zd_str_has_prefix(sig, "SIG") ? sig + 3 : sig;
            bool found = false;
            for (size_t i = 0; i < ZD_ARRAY_LEN(signals); i++) {
                if (strcmp(nm, signals[i].name) == 0) {
                    st->signal = signals[i].sig;
                    found = true;
                }
            }
            if (!found) {
                char *sp = sp_path_key(P, "signal");
                sp_diag(c, sp_off_of(c, sn), sp,
                        "unknown signal '%s' (KILL, TERM, STOP, INT, HUP, QUIT, ABRT, USR1, USR2)",
                        sig);
                free(sp);
            }
        }
        free(sig);
        if (st->signal == SIGSTOP) {
            need_for = true;
            why = "(a STOP signal is undone with CONT after 'for')";
        } else if (has_for > 0) {
            char *fp = sp_path_key(P, "for");
            sp_diag(c, sp_key_off_of(c, sp_get(n, "for")), fp,
                    "'for' applies to kill_process only with signal STOP (other signals are "
                    "instantaneous)");
            free(fp);
        }
        break;
    }
    case SCN_FAULT_EXEC:
        if (sp_get_text(c, n, "command", P, SCN_MAX_STRING, &st->command) == 0)
            sp_missing(c, n, P, "command", "(the shell command to run)");
        if (sp_get_text(c, n, "undo", P, SCN_MAX_STRING, &st->undo_command) > 0) {
            need_for = true;
            why = "(the undo command runs when 'for' ends)";
        }
        break;
    default: break;
    }
    if (need_for && !sp_get(n, "for"))
        sp_missing(c, n, P, "for", why);
    if (!st->name) {
        char b[32];
        st->name = xasprintf("%s@%s", sp_fault_names[f], zd_fmt_duration(st->at_us, b, sizeof(b)));
    }
    return at_ok;
}

int sp_step_cmp(const void *a, const void *b)
{
    const struct scn_step *x = a, *y = b;
    if (x->at_us != y->at_us)
        return x->at_us < y->at_us ? -1 : 1;
    /* stable: steps keep file order, recorded in loc */
    if (x->loc.line != y->loc.line)
        return x->loc.line < y->loc.line ? -1 : 1;
    return x->loc.col < y->loc.col ? -1 : x->loc.col > y->loc.col;
}

void sp_parse_steps(struct ctx *c, const cJSON *n)
{
    struct scn_scenario *s = c->s;
    if (!n)
        return;
    if (!cJSON_IsArray(n)) {
        sp_diag(c, sp_off_of(c, n), "$.steps", "'steps' must be a list of steps, not %s",
                sp_type_name(n));
        return;
    }
    size_t cnt = (size_t)cJSON_GetArraySize(n);
    if (cnt > SCN_MAX_STEPS) {
        sp_diag(c, sp_off_of(c, n), "$.steps", "%zu steps, more than the limit of %d", cnt,
                SCN_MAX_STEPS);
        return;
    }
    s->steps = xcalloc(cnt ? cnt : 1, sizeof(*s->steps));
    const cJSON **nodes = xcalloc(cnt ? cnt : 1, sizeof(*nodes));
    bool *at_ok = xcalloc(cnt ? cnt : 1, sizeof(*at_ok));
    size_t i = 0;
    for (const cJSON *e = n->child; e; e = e->next, i++) {
        char *P = sp_path_idx("$.steps", i);
        at_ok[i] = parse_step(c, e, P, &s->steps[i]);
        nodes[i] = e;
        free(P);
    }
    s->nsteps = cnt;
    /* checks across steps, in file order */
    for (i = 0; i < cnt; i++) {
        struct scn_step *st = &s->steps[i];
        if (st->fault == SCN_FAULT__COUNT)
            continue;
        char *P = sp_path_idx("$.steps", i);
        char a[32], b[32], d[32];
        const cJSON *atn = sp_get(nodes[i], "at");
        if (at_ok[i] && st->at_us < s->warmup_us) {
            char *ap = sp_path_key(P, "at");
            sp_diag(c, sp_off_of(c, atn), ap,
                    "step starts at %s, inside the warm-up (%s): faults start after the baseline "
                    "is measured",
                    zd_fmt_duration(st->at_us, a, sizeof(a)),
                    zd_fmt_duration(s->warmup_us, b, sizeof(b)));
            free(ap);
        }
        if (at_ok[i] && st->at_us + st->for_us > s->guards.max_duration_us) {
            const cJSON *fn = sp_get(nodes[i], "for") ? sp_get(nodes[i], "for") : atn;
            char *fp = sp_path_key(P, sp_get(nodes[i], "for") ? "for" : "at");
            sp_diag(c, sp_off_of(c, fn), fp, "step ends at %s, after guards.max_duration (%s)",
                    zd_fmt_duration(st->at_us + st->for_us, a, sizeof(a)),
                    zd_fmt_duration(s->guards.max_duration_us, d, sizeof(d)));
            free(fp);
        }
        for (size_t j = 0; j < i; j++) {
            struct scn_step *o = &s->steps[j];
            if (o->fault == SCN_FAULT__COUNT || !o->name || !st->name)
                continue; /* not read far enough to compare */
            if (sp_get(nodes[i], "name") && strcmp(o->name, st->name) == 0) {
                char *np = sp_path_key(P, "name");
                sp_diag(c, sp_off_of(c, sp_get(nodes[i], "name")), np,
                        "step name '%s' is already used by $.steps[%zu]", st->name, j);
                free(np);
            }
            /* the same fault twice on the same place at the same time: the first undo would
             * cancel the second while it is still meant to hold */
            bool same_place = (!o->sel.zone && !st->sel.zone) ||
                              (o->sel.zone && st->sel.zone && !strcmp(o->sel.zone, st->sel.zone));
            bool lasting = o->for_us && st->for_us;
            bool overlap = st->at_us < o->at_us + o->for_us && o->at_us < st->at_us + st->for_us;
            if (o->fault == st->fault && same_place && lasting && overlap &&
                (st->fault == SCN_FAULT_BLACKHOLE_ZONE || st->fault == SCN_FAULT_TRAFFIC_SPIKE ||
                 st->fault == SCN_FAULT_LATENCY)) {
                sp_diag(c, sp_off_of(c, nodes[i]), P,
                        "%s overlaps $.steps[%zu] ('%s') on the same %s: one would undo the other",
                        sp_fault_names[st->fault], j, o->name,
                        st->fault == SCN_FAULT_TRAFFIC_SPIKE ? "load" : "zone");
            }
        }
        free(P);
    }
    free(nodes);
    free(at_ok);
}

/* ---- probes --------------------------------------------------------------------------------- */

static const char *const probe_keys[] = {"name", "kind",        "interval", "timeout",
                                         "url",  "status",      "body",     "command",
                                         "zone", "min_healthy", NULL};
static const char *const probe_kinds[] = {"http", "command", "lb_health", NULL};

void sp_parse_probes(struct ctx *c, const cJSON *n)
{
    struct scn_scenario *s = c->s;
    if (!n)
        return;
    if (!cJSON_IsArray(n)) {
        sp_diag(c, sp_off_of(c, n), "$.probes", "'probes' must be a list, not %s", sp_type_name(n));
        return;
    }
    size_t cnt = (size_t)cJSON_GetArraySize(n);
    if (cnt > SCN_MAX_PROBES) {
        sp_diag(c, sp_off_of(c, n), "$.probes", "%zu probes, more than the limit of %d", cnt,
                SCN_MAX_PROBES);
        return;
    }
    s->probes = xcalloc(cnt ? cnt : 1, sizeof(*s->probes));
    s->nprobes = cnt;
    size_t i = 0;
    for (const cJSON *e = n->child; e; e = e->next, i++) {
        struct scn_probe *p = &s->probes[i];
        char *P = sp_path_idx("$.probes", i);
        p->loc = sp_loc_of(c, e);
        p->interval_us = SEC;
        p->timeout_us = 2 * SEC;
        p->status.lo = 200;
        p->status.hi = 399;
        p->min_healthy = 1;
        int kind = -1;
        if (sp_check_object(c, e, P, "a probe", probe_keys)) {
            char *ks = NULL;
            const cJSON *kn = sp_get(e, "kind");
            if (!kn) {
                sp_missing(c, e, P, "kind", "(http, command or lb_health)");
            } else if (sp_get_text(c, e, "kind", P, 32, &ks) > 0) {
                for (int k = 0; probe_kinds[k]; k++)
                    if (strcmp(ks, probe_kinds[k]) == 0)
                        kind = k;
                if (kind < 0) {
                    char *kp = sp_path_key(P, "kind");
                    const char *sg = zd_suggest(ks, probe_kinds);
                    sp_diag(c, sp_off_of(c, kn), kp, "unknown probe kind '%s'%s%s%s", ks,
                            sg ? " (did you mean '" : "", sg ? sg : "",
                            sg ? "'?)" : " (http, command or lb_health)");
                    free(kp);
                }
            }
            free(ks);
            p->kind = kind < 0 ? SCN_PROBE_HTTP : (enum scn_probe_kind)kind;
            sp_get_text(c, e, "name", P, SCN_MAX_NAME, &p->name);
            sp_get_dur_range(c, e, "interval", P, 10000, false, 60 * 60 * SEC, &p->interval_us);
            sp_get_dur_range(c, e, "timeout", P, 0, true, 5 * 60 * SEC, &p->timeout_us);
            /* keys of other kinds */
            static const struct {
                const char *key;
                int kind;
            } own[] = {{"url", SCN_PROBE_HTTP},       {"status", SCN_PROBE_HTTP},
                       {"body", SCN_PROBE_HTTP},      {"command", SCN_PROBE_COMMAND},
                       {"zone", SCN_PROBE_LB_HEALTH}, {"min_healthy", SCN_PROBE_LB_HEALTH}};
            if (kind >= 0) {
                for (size_t k = 0; k < ZD_ARRAY_LEN(own); k++) {
                    const cJSON *m = sp_get(e, own[k].key);
                    if (m && own[k].kind != kind) {
                        char *kp = sp_path_key(P, own[k].key);
                        sp_diag(c, sp_key_off_of(c, m), kp, "'%s' does not apply to %s %s probe",
                                own[k].key, kind == SCN_PROBE_HTTP ? "an" : "a", probe_kinds[kind]);
                        free(kp);
                    }
                }
            }
            if (kind == SCN_PROBE_HTTP) {
                const cJSON *un = sp_get(e, "url");
                if (!un) {
                    sp_missing(c, e, P, "url", "(what the http probe fetches)");
                } else if (sp_get_text(c, e, "url", P, SCN_MAX_STRING, &p->url) > 0) {
                    char *up = sp_path_key(P, "url");
                    if (!sp_check_url(c, un, up, "url", p->url)) {
                        free(p->url);
                        p->url = NULL;
                    }
                    free(up);
                }
                const cJSON *sn = sp_get(e, "status");
                if (sn) {
                    char *sp = sp_path_key(P, "status");
                    sp_status_node(c, sn, sp, &p->status);
                    free(sp);
                }
                sp_get_regex(c, e, "body", P, &p->body);
            } else if (kind == SCN_PROBE_COMMAND) {
                if (sp_get_text(c, e, "command", P, SCN_MAX_STRING, &p->command) == 0)
                    sp_missing(c, e, P, "command", "(a shell command; the probe passes on exit 0)");
            } else if (kind == SCN_PROBE_LB_HEALTH) {
                if (sp_get_text(c, e, "zone", P, SCN_MAX_NAME, &p->zone) > 0) {
                    char *zp = sp_path_key(P, "zone");
                    check_zone(c, sp_get(e, "zone"), zp, p->zone);
                    free(zp);
                }
                sp_get_u32(c, e, "min_healthy", P, 0, 100000, &p->min_healthy);
            }
            if (p->name) {
                for (size_t j = 0; j < i; j++) {
                    if (s->probes[j].name && strcmp(s->probes[j].name, p->name) == 0) {
                        char *np = sp_path_key(P, "name");
                        sp_diag(c, sp_off_of(c, sp_get(e, "name")), np,
                                "probe name '%s' is already used by $.probes[%zu]", p->name, j);
                        free(np);
                        break;
                    }
                }
            }
        }
        if (!p->name)
            p->name = xasprintf("%s-%zu", kind >= 0 ? probe_kinds[kind] : "probe", i + 1);
        free(P);
    }
}
