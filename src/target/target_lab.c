/*
 * target_lab: the lab behind the target ops table (target.h).
 *
 * Every action is a self-contained JSON object ("kind":"lab") holding what undo needs, so
 * `zonedef recover` can undo it with no lab state: pids *with their start times* (a recycled
 * pid is never signalled), nft table names, instance addresses and the knob values to restore.
 *
 *   kill_instances   SIGKILL the selected instances; undo does nothing (the healer replaces them)
 *   stop_instances   SIGSTOP; undo SIGCONT
 *   blackhole_zone   an nft table of its own (inet zonedef_bh_<zone>_<id>) dropping every packet
 *                    to and from the zone's /24 at prerouting, so clients time out rather than
 *                    being refused; undo deletes that one table. Without root: SIGSTOP the
 *                    zone's instances instead (the summary says so); undo SIGCONT
 *   latency          the instances' delay_ms/jitter_ms knobs; undo restores the previous values
 *   cpu_stress       the cpu (burn) and service_ms knobs; undo restores the previous values
 *   kill_process     the step's signal to the lab's own processes of that name (haproxy,
 *                    sshd, zonedef); undo does nothing, or SIGCONT after SIGSTOP
 *   exec             /bin/sh -c COMMAND; undo runs the undo command (a failure is an undo error)
 * Selections pick instances by zone, then the first `count` (or `percent`, rounded up, at least
 * one) in id order, so a scenario picks the same instances every time.
 */
#include "target/target.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lab/lab.h"
#include "base/util.h"

#include "base/banned.h"

#define CONTROL_TIMEOUT_US 1000000ull
#define EXEC_TIMEOUT_US    (60ull * 1000000ull)

struct labt {
    char *dir;
    struct lab_config cfg;
};

static int lt_open(const struct scn_target *cfg, void **state, char **err)
{
    struct labt *t = xcalloc(1, sizeof(*t));
    t->dir = cfg && cfg->lab_dir ? xstrdup(cfg->lab_dir) : lab_default_dir();
    char *e = NULL;
    if (zd_file_exists(t->dir) && lab_dir_check(t->dir, &e) < 0 && strstr(e, "not trusted")) {
        zd_err(err, "the lab directory cannot be used: %s", e);
        free(e);
        free(t->dir);
        free(t);
        return -1;
    }
    free(e);
    e = NULL;
    if (lab_config_load(t->dir, &t->cfg, &e) < 0 || !lab_pid_get(t->dir, "haproxy")) {
        zd_err(err, "the lab is not up in '%s' (start it with 'zonedef lab up%s%s')", t->dir,
               cfg && cfg->lab_dir ? " --dir " : "", cfg && cfg->lab_dir ? cfg->lab_dir : "");
        free(e);
        free(t->dir);
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static void lt_close(void *state)
{
    struct labt *t = state;
    if (!t)
        return;
    free(t->dir);
    free(t);
}

static char *lt_key(void *state)
{
    struct labt *t = state;
    return xasprintf("lab:%s", t->dir);
}

static bool lt_supports(enum scn_fault f)
{
    switch (f) {
    case SCN_FAULT_KILL_INSTANCES:
    case SCN_FAULT_STOP_INSTANCES:
    case SCN_FAULT_BLACKHOLE_ZONE:
    case SCN_FAULT_LATENCY:
    case SCN_FAULT_CPU_STRESS:
    case SCN_FAULT_KILL_PROCESS:
    case SCN_FAULT_EXEC: return true;
    case SCN_FAULT_TRAFFIC_SPIKE: /* the runner's own; never reaches a target */
    case SCN_FAULT__COUNT: break;
    }
    return false;
}

/* ---- inventory ---- */

static int fill_inventory(struct labt *t, struct tgt_inventory *inv, bool with_inst, char **err)
{
    memset(inv, 0, sizeof(*inv));
    struct lab_srv *srv = NULL;
    size_t n = 0;
    if (lab_haproxy_servers(t->dir, &srv, &n, err) < 0)
        return -1;
    inv->zones = xcalloc((size_t)t->cfg.zones, sizeof(*inv->zones));
    inv->nzones = (size_t)t->cfg.zones;
    for (int z = 0; z < t->cfg.zones; z++)
        inv->zones[z].zone = xasprintf("%c", lab_zone_name(z));
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        if (srv[i].zone >= t->cfg.zones)
            continue;
        char name[32];
        snprintf(name, sizeof(name), "inst-%s", srv[i].name);
        pid_t pid = lab_pid_get(t->dir, name);
        if (srv[i].maint && !pid)
            continue; /* an unused spare slot */
        inv->zones[srv[i].zone].total++;
        inv->zones[srv[i].zone].healthy += srv[i].up;
        if (!with_inst)
            continue;
        ZD_GROW(inv->inst, cap, inv->ninst + 1);
        struct tgt_instance *in = &inv->inst[inv->ninst++];
        char ip[16];
        in->id = xstrdup(srv[i].name);
        in->zone = xasprintf("%c", lab_zone_name(srv[i].zone));
        in->addr = xasprintf("%s:%d", lab_instance_ip(srv[i].zone, srv[i].slot, ip, sizeof(ip)),
                             LAB_INSTANCE_PORT);
        in->healthy = srv[i].up;
        in->running = pid && lab_proc_state(pid) != 'T';
    }
    free(srv);
    return 0;
}

static int lt_resolve(void *state, struct tgt_inventory *inv, char **err)
{
    return fill_inventory(state, inv, true, err);
}

static int lt_health(void *state, struct tgt_inventory *inv, char **err)
{
    return fill_inventory(state, inv, false, err);
}

/* ---- selection ---- */

struct picked {
    char id[16];
    int zone, slot;
    pid_t pid;
    unsigned long long start;
};

/* The running instances the selection names, in id order (zone, then slot). */
static int select_instances(struct labt *t, const struct scn_select *sel, struct picked **out,
                            size_t *nout, char **err)
{
    *out = NULL;
    *nout = 0;
    if (sel->ntags)
        return zd_err(err, "the lab does not tag instances: select them by zone, count or "
                           "percent");
    int zone = -1;
    if (sel->zone) {
        zone = lab_zone_index(sel->zone);
        if (zone < 0 || zone >= t->cfg.zones) {
            struct sbuf sb = SBUF_INIT;
            for (int z = 0; z < t->cfg.zones; z++)
                sbuf_addf(&sb, "%s%c", z ? ", " : "", lab_zone_name(z));
            zd_err(err, "zone '%s' is not in the lab (zones: %s)", sel->zone, sbuf_str(&sb));
            sbuf_free(&sb);
            return -1;
        }
    }
    size_t cap = 0, n = 0;
    struct picked *v = NULL;
    for (int z = 0; z < t->cfg.zones; z++) {
        if (zone >= 0 && z != zone)
            continue;
        for (int s = 0; s < t->cfg.per_zone + t->cfg.spares; s++) {
            char name[32];
            snprintf(name, sizeof(name), "inst-%c%d", lab_zone_name(z), s + 1);
            pid_t pid = lab_pid_get(t->dir, name);
            if (!pid)
                continue;
            ZD_GROW(v, cap, n + 1);
            snprintf(v[n].id, sizeof(v[n].id), "%c%d", lab_zone_name(z), s + 1);
            v[n].zone = z;
            v[n].slot = s;
            v[n].pid = pid;
            v[n].start = lab_proc_starttime(pid);
            n++;
        }
    }
    if (n == 0) {
        free(v);
        if (zone >= 0)
            return zd_err(err, "no running instance in zone '%s'", sel->zone);
        return zd_err(err, "no running instance in the lab");
    }
    *nout = lab_select_count(n, sel->count, sel->percent);
    *out = v;
    return 0;
}

/* Our own names table: the action format must not change if the scenario module renames. */
static const char *fault_name(enum scn_fault f)
{
    static const char *const names[] = {
        [SCN_FAULT_KILL_INSTANCES] = "kill_instances",
        [SCN_FAULT_STOP_INSTANCES] = "stop_instances",
        [SCN_FAULT_BLACKHOLE_ZONE] = "blackhole_zone",
        [SCN_FAULT_TRAFFIC_SPIKE] = "traffic_spike",
        [SCN_FAULT_LATENCY] = "latency",
        [SCN_FAULT_CPU_STRESS] = "cpu_stress",
        [SCN_FAULT_KILL_PROCESS] = "kill_process",
        [SCN_FAULT_EXEC] = "exec",
    };
    return (unsigned)f < ZD_ARRAY_LEN(names) ? names[f] : "?";
}

static cJSON *new_action(struct labt *t, const struct scn_step *step)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "kind", "lab");
    cJSON_AddStringToObject(a, "fault", fault_name(step->fault));
    cJSON_AddStringToObject(a, "dir", t->dir);
    return a;
}

/* The name a process goes by: its comm, or the base name of its argv[0] (the lab's own
 * processes are exec'd through /proc/self/exe, so their comm is "exe"). */
static bool process_is(pid_t pid, const char *name)
{
    char path[64], buf[256];
    const char *files[] = {"comm", "cmdline"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, files[i]);
        FILE *f = fopen(path, "re");
        if (!f)
            return false;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        const char *base = strrchr(buf, '/');
        if (strcmp(base ? base + 1 : buf, name) == 0)
            return true;
    }
    return false;
}

/* kill_process is lab-local: it picks among the processes the lab started (its pid files),
 * never another process of the machine that happens to share the name (the system's sshd). */
static int lab_processes_named(struct labt *t, const char *name, struct picked **out, size_t *nout,
                               char **err)
{
    *out = NULL;
    *nout = 0;
    char *run = xasprintf("%s/run", t->dir);
    DIR *d = opendir(run);
    free(run);
    size_t cap = 0;
    struct sbuf names = SBUF_INIT;
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t l = strlen(de->d_name);
            char pname[256];
            if (l < 5 || l > 200 || strcmp(de->d_name + l - 4, ".pid") != 0)
                continue;
            snprintf(pname, sizeof(pname), "%.*s", (int)(l - 4), de->d_name);
            pid_t pid = lab_pid_get(t->dir, pname);
            if (!pid)
                continue;
            if (!process_is(pid, name)) {
                char comm[64] = "";
                snprintf(comm, sizeof(comm), "%.60s",
                         zd_str_has_prefix(pname, "inst-") ? "zonedef" : pname);
                if (!strstr(sbuf_str(&names), comm))
                    sbuf_addf(&names, "%s%s", names.len ? ", " : "", comm);
                continue;
            }
            ZD_GROW(*out, cap, *nout + 1);
            struct picked *p = &(*out)[(*nout)++];
            memset(p, 0, sizeof(*p));
            snprintf(p->id, sizeof(p->id), "%.15s",
                     zd_str_has_prefix(pname, "inst-") ? pname + 5 : pname);
            p->pid = pid;
            p->start = lab_proc_starttime(pid);
            int z, s;
            if (lab_parse_instance_id(p->id, &z, &s) == 0) {
                p->zone = z;
                p->slot = s;
            }
        }
        closedir(d);
    }
    int rc = 0;
    if (*nout == 0)
        rc = zd_err(err, "no process of the lab is named '%s' (the lab runs: %s)", name,
                    names.len ? sbuf_str(&names) : "nothing");
    sbuf_free(&names);
    return rc;
}

static cJSON *picked_json(const struct picked *p, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        char ip[16];
        int z, s;
        cJSON_AddStringToObject(o, "id", p[i].id);
        if (lab_parse_instance_id(p[i].id, &z, &s) == 0) {
            cJSON_AddStringToObject(o, "ip", lab_instance_ip(z, s, ip, sizeof(ip)));
            cJSON_AddNumberToObject(o, "port", LAB_INSTANCE_PORT);
        }
        cJSON_AddNumberToObject(o, "pid", p[i].pid);
        /* a string: start times do not fit a double exactly on long-running machines */
        char st[32];
        snprintf(st, sizeof(st), "%llu", p[i].start);
        cJSON_AddStringToObject(o, "start", st);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static char *ids_text(const struct picked *p, size_t n)
{
    struct sbuf sb = SBUF_INIT;
    for (size_t i = 0; i < n; i++)
        sbuf_addf(&sb, "%s%s", i ? ", " : "", p[i].id);
    return sbuf_detach(&sb);
}

static char *new_table_name(const char *zone)
{
    static unsigned counter;
    /* unique per fault, so overlapping faults on one zone each undo only their own table */
    return xasprintf(LAB_NFT_PREFIX "%s_%x%x", zone, (unsigned)getpid() & 0xffff,
                     (unsigned)(zd_wall_us() / 1000 & 0xffffff) + counter++);
}

static int lt_prepare(void *state, const struct scn_step *step, char **action_json, char **summary,
                      char **err)
{
    struct labt *t = state;
    *action_json = NULL;
    *summary = NULL;
    cJSON *a = new_action(t, step);
    struct picked *p = NULL;
    size_t n = 0;
    char *ids = NULL;
    int rc = 0;
    switch (step->fault) {
    case SCN_FAULT_KILL_INSTANCES:
    case SCN_FAULT_STOP_INSTANCES: {
        if (select_instances(t, &step->sel, &p, &n, err) < 0) {
            rc = -1;
            break;
        }
        cJSON_AddItemToObject(a, "instances", picked_json(p, n));
        ids = ids_text(p, n);
        *summary = xasprintf("%s %zu instance%s (%s)",
                             step->fault == SCN_FAULT_KILL_INSTANCES ? "kill" : "freeze", n,
                             n == 1 ? "" : "s", ids);
        break;
    }
    case SCN_FAULT_BLACKHOLE_ZONE: {
        if (!step->sel.zone) {
            rc = zd_err(err, "blackhole_zone needs a zone");
            break;
        }
        if (select_instances(t, &(struct scn_select){.zone = step->sel.zone}, &p, &n, err) < 0) {
            /* a zone whose instances are all dead can still be cut off */
            free(*err);
            *err = NULL;
            if (lab_zone_index(step->sel.zone) < 0 ||
                lab_zone_index(step->sel.zone) >= t->cfg.zones) {
                rc = zd_err(err, "zone '%s' is not in the lab", step->sel.zone);
                break;
            }
        }
        int z = lab_zone_index(step->sel.zone);
        char cidr[32];
        snprintf(cidr, sizeof(cidr), "127.0.%d.0/24", z + 1);
        cJSON_AddStringToObject(a, "zone", step->sel.zone);
        cJSON_AddStringToObject(a, "cidr", cidr);
        if (geteuid() == 0) {
            char *tab = new_table_name(step->sel.zone);
            cJSON_AddStringToObject(a, "method", "nft");
            cJSON_AddStringToObject(a, "table", tab);
            *summary =
                xasprintf("black-hole zone %s (%s, nft table inet %s)", step->sel.zone, cidr, tab);
            free(tab);
        } else {
            if (!n) {
                rc = zd_err(err,
                            "cannot black-hole zone '%s' without root: no instance to "
                            "freeze",
                            step->sel.zone);
                break;
            }
            cJSON_AddStringToObject(a, "method", "freeze");
            cJSON_AddItemToObject(a, "instances", picked_json(p, n));
            *summary = xasprintf("black-hole zone %s (%s) by freezing its %zu instances: not "
                                 "root, so no firewall rule (clients see hangs, not timeouts "
                                 "on connect)",
                                 step->sel.zone, cidr, n);
        }
        break;
    }
    case SCN_FAULT_LATENCY:
    case SCN_FAULT_CPU_STRESS: {
        if (select_instances(t, &step->sel, &p, &n, err) < 0) {
            rc = -1;
            break;
        }
        bool lat = step->fault == SCN_FAULT_LATENCY;
        int v1, v2;
        if (lat) {
            uint64_t d = step->delay_us / 1000, j = step->jitter_us / 1000;
            if (d > 60000 || j > 60000) {
                rc = zd_err(err, "latency: the lab adds at most 60s of delay and jitter");
                break;
            }
            v1 = (int)d;
            v2 = (int)j;
        } else {
            int pct = step->cpu_percent ? (int)step->cpu_percent : 100;
            v1 = pct > 95 ? 95 : pct; /* leave the instance a sliver to answer at all */
            v2 = pct / 4;             /* and make each request busier: 100% -> 25 ms */
        }
        const char *k1 = lat ? "delay_ms" : "cpu", *k2 = lat ? "jitter_ms" : "service_ms";
        cJSON_AddNumberToObject(a, k1, v1);
        cJSON_AddNumberToObject(a, k2, v2);
        cJSON *arr = picked_json(p, n);
        for (size_t i = 0; i < n && rc == 0; i++) {
            char ip[16];
            struct lab_knobs k = {0};
            if (lab_control(lab_instance_ip(p[i].zone, p[i].slot, ip, sizeof(ip)),
                            LAB_INSTANCE_PORT, NULL, CONTROL_TIMEOUT_US, &k, err) != 0) {
                rc = -1;
                break;
            }
            cJSON *prev = cJSON_CreateObject();
            cJSON_AddNumberToObject(prev, k1, lat ? k.delay_ms : k.cpu);
            cJSON_AddNumberToObject(prev, k2, lat ? k.jitter_ms : k.service_ms);
            cJSON_AddItemToObject(cJSON_GetArrayItem(arr, (int)i), "prev", prev);
        }
        cJSON_AddItemToObject(a, "instances", arr);
        ids = ids_text(p, n);
        if (lat)
            *summary = xasprintf("add %d ms latency (jitter %d ms) to %zu instance%s (%s)", v1, v2,
                                 n, n == 1 ? "" : "s", ids);
        else
            *summary = xasprintf("burn %d%% cpu, +%d ms service time on %zu instance%s (%s)", v1,
                                 v2, n, n == 1 ? "" : "s", ids);
        break;
    }
    case SCN_FAULT_KILL_PROCESS: {
        if (!step->process || !*step->process) {
            rc = zd_err(err, "kill_process needs a process name");
            break;
        }
        int sig = step->signal ? step->signal : SIGKILL;
        if (lab_processes_named(t, step->process, &p, &n, err) < 0) {
            rc = -1;
            break;
        }
        cJSON_AddStringToObject(a, "process", step->process);
        cJSON_AddNumberToObject(a, "signal", sig);
        cJSON_AddItemToObject(a, "instances", picked_json(p, n));
        ids = ids_text(p, n);
        *summary = xasprintf("signal %d to the lab's %zu '%s' process%s (%s)%s", sig, n,
                             step->process, n == 1 ? "" : "es", ids,
                             sig == SIGSTOP || sig == SIGTSTP ? ", SIGCONT on undo" : "");
        break;
    }
    case SCN_FAULT_EXEC:
        if (!step->command || !*step->command) {
            rc = zd_err(err, "exec needs a command");
            break;
        }
        cJSON_AddStringToObject(a, "command", step->command);
        if (step->undo_command)
            cJSON_AddStringToObject(a, "undo_command", step->undo_command);
        *summary = xasprintf("run '%s' locally%s", step->command,
                             step->undo_command ? " (with an undo command)" : "");
        break;
    case SCN_FAULT_TRAFFIC_SPIKE:
    case SCN_FAULT__COUNT:
        rc = zd_err(err, "the lab does not inject '%s' (traffic spikes are the runner's)",
                    fault_name(step->fault));
        break;
    }
    if (rc == 0) {
        *action_json = cJSON_PrintUnformatted(a);
    } else {
        free(*summary);
        *summary = NULL;
    }
    cJSON_Delete(a);
    free(p);
    free(ids);
    return rc;
}

/* ---- apply / undo ---- */

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jint(const cJSON *o, const char *k, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valueint : dflt;
}

/*
 * Whatever the journal says, a signal goes only to a process that is the lab's: the action's pid
 * and start time must be what the lab's own record (DIR/run/<name>.pid, read through the trust
 * check of lab_dir_check) says of that instance or daemon. A recorded process that is gone, or a
 * pid reused since, is nothing to do; a live process the lab's record does not name is refused.
 * Every entry is checked before the first signal, so a refused action changes nothing.
 */
static bool still_runs(pid_t pid, unsigned long long start)
{
    return lab_proc_starttime(pid) == start && lab_proc_state(pid) != 'Z';
}

static int check_lab_process(const char *dir, const cJSON *o, bool *skip, char **err)
{
    *skip = false;
    int pid = jint(o, "pid", 0);
    const char *st = jstr(o, "start"), *id = jstr(o, "id");
    if (pid <= 1 || !st || !id || strlen(id) > 15)
        return zd_err(err, "the action has a bad instance entry");
    unsigned long long start = strtoull(st, NULL, 10);
    if (!still_runs(pid, start)) {
        *skip = true; /* gone (or a different process now): nothing to do */
        return 0;
    }
    int z, sl;
    char name[32];
    snprintf(name, sizeof(name), "%s%s", lab_parse_instance_id(id, &z, &sl) == 0 ? "inst-" : "",
             id);
    pid_t rp = 0;
    unsigned long long rs = 0;
    char *e = NULL;
    if (lab_pid_record(dir, name, &rp, &rs, &e) < 0) {
        zd_err(err, "pid %d ('%s') is not a process of the lab in '%s' (%s): not signalled", pid,
               id, dir, e);
        free(e);
        return -1;
    }
    if (rp != pid || rs != start)
        return zd_err(err,
                      "pid %d ('%s') is not the lab's %s (the lab's record says pid %d): not "
                      "signalled",
                      pid, id, name, (int)rp);
    return 0;
}

/* Sends sig to every listed instance that is still the process the lab recorded. */
static int signal_instances(const cJSON *a, int sig, char **err)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(a, "instances");
    if (!cJSON_IsArray(arr))
        return zd_err(err, "the action lists no instances");
    const char *dir = jstr(a, "dir");
    char *e = NULL;
    if (!dir || lab_dir_check(dir, &e) < 0) {
        zd_err(err, "the action's lab directory cannot be trusted (%s): nothing signalled",
               e ? e : "none named");
        free(e);
        return -1;
    }
    const cJSON *o;
    cJSON_ArrayForEach(o, arr)
    {
        bool skip;
        if (check_lab_process(dir, o, &skip, err) < 0)
            return -1;
    }
    cJSON_ArrayForEach(o, arr)
    {
        bool skip;
        if (check_lab_process(dir, o, &skip, err) < 0)
            return -1;
        if (skip)
            continue;
        int pid = jint(o, "pid", 0);
        if (kill(pid, sig) < 0 && errno != ESRCH)
            return zd_err(err, "kill -%d %d (%s): %s", sig, pid, jstr(o, "id"), strerror(errno));
    }
    return 0;
}

static int nft(const char *script, bool absent_ok, char **err)
{
    char *argv[] = {(char *)"nft", (char *)script, NULL};
    char *out = NULL;
    int rc = lab_run(argv, 5000000, &out, err);
    if (rc > 0) {
        if (absent_ok && out && strstr(out, "No such file"))
            rc = 0;
        else
            rc = zd_err(err, "nft: %.*s", (int)strcspn(out ? out : "", "\n"), out ? out : "");
    }
    free(out);
    return rc < 0 ? -1 : 0;
}

static bool valid_table(const char *tab)
{
    if (!tab || !zd_str_has_prefix(tab, LAB_NFT_PREFIX) || strlen(tab) > 60)
        return false;
    for (const char *p = tab; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

/* Only a lab zone's /24 (127.0.Z.0/24) is black-holed, whatever the action says. */
static bool valid_cidr(const char *c)
{
    for (int z = 0; c && z < LAB_MAX_ZONES; z++) {
        char want[32];
        snprintf(want, sizeof(want), "127.0.%d.0/24", z + 1);
        if (strcmp(c, want) == 0)
            return true;
    }
    return false;
}

/* A knob call goes only to a lab instance's own address: the one its id says, port 18080. */
static int check_lab_address(const cJSON *o, char **err)
{
    const char *id = jstr(o, "id"), *ip = jstr(o, "ip");
    int port = jint(o, "port", LAB_INSTANCE_PORT), z, sl;
    char want[16];
    if (!id || !ip || lab_parse_instance_id(id, &z, &sl) < 0)
        return zd_err(err, "the action has a bad instance entry");
    lab_instance_ip(z, sl, want, sizeof(want));
    if (strcmp(ip, want) != 0 || port != LAB_INSTANCE_PORT)
        return zd_err(err, "%.64s:%d is not a lab address (the lab's %s is %s:%d): not contacted",
                      ip, port, id, want, LAB_INSTANCE_PORT);
    return 0;
}

static int knobs_apply(const cJSON *a, bool undo, char **err)
{
    bool lat = strcmp(jstr(a, "fault"), "latency") == 0; /* act() checked "fault" */
    const char *k1 = lat ? "delay_ms" : "cpu", *k2 = lat ? "jitter_ms" : "service_ms";
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(a, "instances"), *o;
    if (!cJSON_IsArray(arr))
        return zd_err(err, "the action lists no instances");
    cJSON_ArrayForEach(o, arr)
    {
        if (check_lab_address(o, err) < 0)
            return -1;
    }
    int rc = 0;
    cJSON_ArrayForEach(o, arr)
    {
        const cJSON *src = undo ? cJSON_GetObjectItemCaseSensitive(o, "prev") : a;
        const char *ip = jstr(o, "ip");
        if (!src || !ip)
            return zd_err(err, "the action has a bad instance entry");
        char q[96];
        snprintf(q, sizeof(q), "%s=%d&%s=%d", k1, jint(src, k1, 0), k2, jint(src, k2, 0));
        char *e = NULL;
        int r =
            lab_control(ip, jint(o, "port", LAB_INSTANCE_PORT), q, CONTROL_TIMEOUT_US, NULL, &e);
        if (r == -2 && undo) {
            free(e); /* nothing listens: the instance died, its setting with it */
            continue;
        }
        if (r != 0) {
            zd_err(err, "%s %s: %s", undo ? "restoring" : "setting",
                   jstr(o, "id") ? jstr(o, "id") : ip, e ? e : "?");
            free(e);
            rc = -1; /* go on: restore what can be restored */
            if (!undo)
                break;
        }
    }
    return rc;
}

static int run_shell(const char *cmd, const char *what, char **err)
{
    char *argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)cmd, NULL};
    char *out = NULL;
    int rc = lab_run(argv, EXEC_TIMEOUT_US, &out, err);
    if (rc > 0) {
        size_t len = out ? strlen(out) : 0;
        while (len && out[len - 1] == '\n')
            out[--len] = '\0';
        const char *last = out ? strrchr(out, '\n') : NULL;
        zd_err(err, "%s '%s' exited with %d%s%s", what, cmd, rc, out && *out ? ": " : "",
               out ? (last ? last + 1 : out) : "");
    }
    free(out);
    return rc == 0 ? 0 : -1;
}

static int act(const char *action_json, bool undo, char **err)
{
    cJSON *a = cJSON_Parse(action_json);
    if (!a)
        return zd_err(err, "the action is not JSON");
    const char *kind = jstr(a, "kind"), *fault = jstr(a, "fault");
    int rc = 0;
    if (!kind || strcmp(kind, "lab") != 0 || !fault) {
        rc = zd_err(err, "not a lab action (kind '%s')", kind ? kind : "?");
    } else if (strcmp(fault, "kill_instances") == 0) {
        rc = undo ? 0 : signal_instances(a, SIGKILL, err);
    } else if (strcmp(fault, "stop_instances") == 0) {
        rc = signal_instances(a, undo ? SIGCONT : SIGSTOP, err);
    } else if (strcmp(fault, "blackhole_zone") == 0) {
        const char *method = jstr(a, "method");
        const char *tab = jstr(a, "table"), *cidr = jstr(a, "cidr");
        if (method && strcmp(method, "freeze") == 0) {
            rc = signal_instances(a, undo ? SIGCONT : SIGSTOP, err);
        } else if (!method || strcmp(method, "nft") != 0) {
            rc = zd_err(err, "bad blackhole_zone action (method '%s')", method ? method : "?");
        } else if (!valid_table(tab)) {
            rc = zd_err(err,
                        "nft table '%.64s' is not one of zonedef's (inet " LAB_NFT_PREFIX
                        "*): not touched",
                        tab ? tab : "?");
        } else if (!valid_cidr(cidr)) {
            rc = zd_err(err, "'%.64s' is not a lab zone's /24: not touched", cidr ? cidr : "?");
        } else if (undo) {
            char *s = xasprintf("delete table inet %s", tab);
            rc = nft(s, true, err);
            free(s);
        } else {
            /* prerouting, before conntrack: the packets of both directions vanish on lo, so a
             * connect() to the zone times out instead of being refused or getting EPERM */
            char *s = xasprintf("add table inet %s; "
                                "add chain inet %s drop_zone { type filter hook prerouting "
                                "priority -300; policy accept; }; "
                                "add rule inet %s drop_zone ip daddr %s drop; "
                                "add rule inet %s drop_zone ip saddr %s drop",
                                tab, tab, tab, cidr, tab, cidr);
            rc = nft(s, false, err);
            free(s);
        }
    } else if (strcmp(fault, "latency") == 0 || strcmp(fault, "cpu_stress") == 0) {
        rc = knobs_apply(a, undo, err);
    } else if (strcmp(fault, "kill_process") == 0) {
        int sig = jint(a, "signal", SIGKILL);
        if (sig <= 0 || sig >= 65)
            rc = zd_err(err, "kill_process action with a bad signal %d", sig);
        else if (!undo)
            rc = signal_instances(a, sig, err);
        else if (sig == SIGSTOP || sig == SIGTSTP)
            rc = signal_instances(a, SIGCONT, err); /* a frozen process is thawed */
    } else if (strcmp(fault, "exec") == 0) {
        const char *cmd = jstr(a, undo ? "undo_command" : "command");
        if (cmd)
            rc = run_shell(cmd, undo ? "undo command" : "command", err);
        else if (!undo)
            rc = zd_err(err, "exec action without a command");
    } else {
        rc = zd_err(err, "unknown lab fault '%s'", fault);
    }
    cJSON_Delete(a);
    return rc;
}

static int lt_apply(void *state, const char *action_json, char **err)
{
    (void)state;
    return act(action_json, false, err);
}

static int lt_undo(void *state, const char *action_json, char **err)
{
    (void)state;
    return act(action_json, true, err);
}

const struct tgt_ops tgt_lab_ops = {
    .kind = "lab",
    .open = lt_open,
    .close = lt_close,
    .key = lt_key,
    .supports = lt_supports,
    .resolve = lt_resolve,
    .prepare = lt_prepare,
    .apply = lt_apply,
    .undo = lt_undo,
    .health = lt_health,
};
