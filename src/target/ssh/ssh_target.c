/*
 * ssh_target: hosts over SSH behind the target ops table (target.h).
 *
 * open() connects to every host of the scenario at once (ssh_fleet: one session per host, kept
 * for the run) and starts one shell per host on it (ssh_fleet_shells; `sudo -n /bin/sh` with
 * sudo), so a fault later costs one write per host. A host that cannot be reached, whose key is
 * unknown or changed, that refuses the key, or whose shell does not start (sudo that wants a
 * password: -2, the configuration's fault) fails open() by name: nothing is applied to any host.
 * recover (no state) uses a channel per command, wrapped in `sudo -n sh -c` when asked.
 *
 * An action ("kind":"ssh") is structured data only: the hosts (address, port, zone, and a tag
 * of ours per host), how to reach them (user, key *path*, the passphrase variable's *name*,
 * known_hosts, sudo), and the fault's own values (signal, process, service, workers...). apply
 * and undo rebuild every command from those fields with hostcmd (quoted); the only command text
 * ever taken from an action is the scenario's own exec / undo command. Tags name what a fault
 * leaves on a host: nft table zonedef_<tag>, /tmp/zonedef-<tag>.*.
 *
 * The dead-man's switch: a fault with a duration is applied as `ARM && INJECT` in one command,
 * where ARM schedules the fault's undo on the host itself (hc_deadman_arm) for DEADMAN_SLACK
 * after its planned end; undo runs `UNDO && CANCEL`, so if the undo cannot run the switch still
 * fires. recover (no state) connects to the action's hosts afresh and does the same. apply hands
 * back, as the journal's note, each host's "deadman pid PID START" (deadman_note), and undo
 * cancels from it too (hc_deadman_cancel_pid), so a switch whose file on the host is gone is
 * still cancelled, and a pid reused since is never signalled.
 *
 * Hosts are selected by zone, then tags (the scenario's {"host", "tags"} entries), then count or
 * percent (scn_tags_match, scn_pick_count: the same functions `plan` shows them with).
 */
#include "target/target.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/util.h"
#include "target/hostcmd.h"
#include "target/ssh/ssh_fleet.h"

#include "base/banned.h"

#define DEADMAN_SLACK_S      5 /* the switch fires this long after the planned end (issue: <= 10 s) */
#define PREFLIGHT_TIMEOUT_US 10000000ull

struct host {
    char *zone, *host;
    int port;
    struct scn_kv *tags; /* the scenario's, borrowed copies (freed with the host) */
    size_t ntags;
    size_t fi; /* index in the fleet */
};

struct sshT {
    struct ssh_opts o;
    char *user, *key, *passenv, *known_hosts, *service, *hsock;
    bool sudo;
    uint64_t cmd_timeout_us;
    struct host *h;
    size_t nh;
    char **zones;
    size_t nzones;
    struct ssh_fleet *fleet;
    char runid[16];
    unsigned seq;
    /* when each host of the last apply had its fault (zd_now_us), for the fleet bench */
    uint64_t *last_apply_us;
    size_t nlast;
};

/* "host" or "host:port" or "[v6]:port" into host and port. */
static int split_host(const char *s, int dport, char **host, int *port)
{
    const char *colon = strrchr(s, ':');
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e)
            return -1;
        *host = xstrndup(s + 1, (size_t)(e - s - 1));
        *port = e[1] == ':' ? atoi(e + 2) : dport;
    } else if (colon && strchr(s, ':') == colon) {
        *host = xstrndup(s, (size_t)(colon - s));
        *port = atoi(colon + 1);
    } else {
        *host = xstrdup(s);
        *port = dport;
    }
    return *port >= 1 && *port <= 65535 && **host ? 0 : -1;
}

/* A host name or address as we accept it in an action: no shell or option characters. */
static bool host_ok(const char *h)
{
    if (!h || !*h || *h == '-' || strlen(h) > 253)
        return false;
    for (const char *p = h; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-' || *p == ':' || *p == '_'))
            return false;
    return true;
}

static void random_id(char *buf, size_t n)
{
    unsigned char r[4] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, r, sizeof(r)) != (ssize_t)sizeof(r))
            memset(r, 0, sizeof(r));
        close(fd);
    }
    unsigned long long t = zd_wall_us();
    snprintf(buf, n, "%02x%02x%02x%02x", r[0] ^ (unsigned)(t & 0xff), r[1], r[2], r[3]);
}

static void st_free(struct sshT *t)
{
    if (!t)
        return;
    ssh_fleet_free(t->fleet);
    for (size_t i = 0; i < t->nh; i++) {
        free(t->h[i].zone);
        free(t->h[i].host);
        for (size_t k = 0; k < t->h[i].ntags; k++) {
            free(t->h[i].tags[k].key);
            free(t->h[i].tags[k].value);
        }
        free(t->h[i].tags);
    }
    free(t->h);
    for (size_t i = 0; i < t->nzones; i++)
        free(t->zones[i]);
    free(t->zones);
    free(t->user);
    free(t->key);
    free(t->passenv);
    free(t->known_hosts);
    free(t->service);
    free(t->hsock);
    free(t->last_apply_us);
    free(t);
}

static char *dupn(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void set_opts(struct sshT *t)
{
    t->o.user = t->user;
    t->o.key = t->key;
    t->o.passphrase_env = t->passenv;
    t->o.known_hosts = t->known_hosts;
}

static int sh_open(const struct scn_target *cfg, void **state, char **err)
{
    struct sshT *t = xcalloc(1, sizeof(*t));
    t->user = dupn(cfg->ssh_user);
    t->key = dupn(cfg->ssh_key);
    t->passenv = dupn(cfg->ssh_passphrase_env);
    t->known_hosts = dupn(cfg->ssh_known_hosts);
    t->service = dupn(cfg->ssh_service);
    t->hsock = dupn(cfg->ssh_haproxy_socket);
    t->sudo = cfg->ssh_sudo;
    t->cmd_timeout_us = cfg->ssh_command_timeout_us ? cfg->ssh_command_timeout_us : 30000000;
    t->o.strict = cfg->ssh_strict_host_key;
    t->o.accept_new = cfg->ssh_accept_new_hostkeys;
    t->o.connect_timeout_us = cfg->ssh_connect_timeout_us;
    t->o.parallel = cfg->ssh_parallel;
    set_opts(t);
    t->fleet = ssh_fleet_new(&t->o);
    random_id(t->runid, sizeof(t->runid));
    size_t cap = 0;
    t->zones = xcalloc(cfg->nzones ? cfg->nzones : 1, sizeof(*t->zones));
    for (size_t z = 0; z < cfg->nzones; z++) {
        t->zones[t->nzones++] = xstrdup(cfg->zones[z].name);
        for (size_t k = 0; k < cfg->zones[z].nhosts; k++) {
            char *host = NULL;
            int port = 0;
            if (split_host(cfg->zones[z].hosts[k], cfg->ssh_port ? cfg->ssh_port : 22, &host,
                           &port) < 0 ||
                !host_ok(host)) {
                zd_err(err, "zone '%s': bad host '%s'", cfg->zones[z].name, cfg->zones[z].hosts[k]);
                free(host);
                st_free(t);
                return -1;
            }
            ZD_GROW(t->h, cap, t->nh + 1);
            struct host *h = &t->h[t->nh++];
            h->zone = xstrdup(cfg->zones[z].name);
            h->host = host;
            h->port = port;
            size_t nt = cfg->zones[z].host_tags ? cfg->zones[z].host_ntags[k] : 0;
            h->tags = nt ? xcalloc(nt, sizeof(*h->tags)) : NULL;
            for (size_t m = 0; m < nt; m++) {
                h->tags[m].key = xstrdup(cfg->zones[z].host_tags[k][m].key);
                h->tags[m].value = xstrdup(cfg->zones[z].host_tags[k][m].value);
            }
            h->ntags = nt;
            h->fi = ssh_fleet_add(t->fleet, host, port);
        }
    }
    char *e = NULL;
    if (ssh_fleet_connect(t->fleet, &e) < 0) {
        zd_err(err, "cannot use every host, nothing was applied:\n%s", e);
        free(e);
        st_free(t);
        return -1;
    }
    /* one shell per host for the run (as root through sudo -n when asked), so that applying a
     * fault later is one write per host */
    if (ssh_fleet_shells(t->fleet, t->sudo ? "exec sudo -n /bin/sh" : "exec /bin/sh",
                         PREFLIGHT_TIMEOUT_US, &e) < 0) {
        bool pw = false;
        struct sbuf sb = SBUF_INIT;
        for (char *save = NULL, *l = strtok_r(e, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            if (t->sudo && hc_sudo_needs_password(l)) {
                pw = true;
                const char *hp = strstr(l, ": "); /* "host:port: ..." */
                sbuf_addf(&sb,
                          "\n%.*s: sudo needs a password (zonedef runs 'sudo -n'; give "
                          "the user a NOPASSWD sudo rule)",
                          (int)(hp ? (size_t)(hp - l) : strlen(l)), l);
            } else {
                sbuf_addf(&sb, "\n%s", l);
            }
        }
        zd_err(err, "cannot use every host, nothing was applied:%s", sbuf_str(&sb));
        sbuf_free(&sb);
        free(e);
        st_free(t);
        return pw ? -2 : -1; /* a sudo rule is the configuration's: invalid input */
    }
    *state = t;
    return 0;
}

static void sh_close(void *state)
{
    st_free(state);
}

static char *sh_key(void *state)
{
    struct sshT *t = state;
    struct sbuf sb = SBUF_INIT;
    sbuf_adds(&sb, "ssh:");
    for (size_t i = 0; i < t->nh; i++)
        sbuf_addf(&sb, "%s%s", i ? "," : "", ssh_fleet_name(t->fleet, t->h[i].fi));
    return sbuf_detach(&sb);
}

static bool sh_supports(enum scn_fault f)
{
    switch (f) {
    case SCN_FAULT_KILL_INSTANCES:
    case SCN_FAULT_STOP_INSTANCES:
    case SCN_FAULT_BLACKHOLE_ZONE:
    case SCN_FAULT_LATENCY: /* checked per host in prepare: netem must be there */
    case SCN_FAULT_CPU_STRESS:
    case SCN_FAULT_KILL_PROCESS:
    case SCN_FAULT_EXEC: return true;
    case SCN_FAULT_TRAFFIC_SPIKE:
    case SCN_FAULT__COUNT: break;
    }
    return false;
}

/* ---- HAProxy's view (lb_health, the capacity guard) ---- */

static int haproxy_stat(const char *path, char **out, char **err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return zd_err(err, "haproxy_socket '%s' is too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return zd_err(err, "socket: %s", strerror(errno));
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return zd_err(err, "cannot reach HAProxy at '%s': %s", path, strerror(e));
    }
    const char *q = "show stat\n";
    struct sbuf sb;
    sbuf_init(&sb, 4u << 20);
    if (write(fd, q, strlen(q)) == (ssize_t)strlen(q)) {
        char buf[8192];
        ssize_t r;
        while ((r = read(fd, buf, sizeof(buf))) > 0)
            sbuf_add(&sb, buf, (size_t)r);
    }
    close(fd);
    *out = sbuf_detach(&sb);
    return 0;
}

static int fill(struct sshT *t, struct tgt_inventory *inv, bool with_inst, char **err)
{
    memset(inv, 0, sizeof(*inv));
    char *csv = NULL;
    if (t->hsock && haproxy_stat(t->hsock, &csv, err) < 0)
        return -1;
    inv->zones = xcalloc(t->nzones ? t->nzones : 1, sizeof(*inv->zones));
    inv->nzones = t->nzones;
    for (size_t z = 0; z < t->nzones; z++)
        inv->zones[z].zone = xstrdup(t->zones[z]);
    if (with_inst) {
        inv->inst = xcalloc(t->nh ? t->nh : 1, sizeof(*inv->inst));
        inv->ninst = t->nh;
    }
    /* columns from the header: status and addr */
    int cstatus = -1, caddr = -1, csv_name = 1;
    char *save = NULL;
    for (char *l = csv ? strtok_r(csv, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
        char *f[128];
        int nf = 0;
        for (char *p = l; nf < 128;) {
            f[nf++] = p;
            char *c = strchr(p, ',');
            if (!c)
                break;
            *c = '\0';
            p = c + 1;
        }
        if (l[0] == '#') {
            for (int i = 0; i < nf; i++) {
                const char *name = i == 0 ? f[0] + 2 : f[i];
                if (strcmp(name, "status") == 0)
                    cstatus = i;
                else if (strcmp(name, "addr") == 0)
                    caddr = i;
            }
            continue;
        }
        if (cstatus < 0 || caddr < 0 || nf <= caddr || nf <= cstatus ||
            strcmp(f[csv_name], "FRONTEND") == 0 || strcmp(f[csv_name], "BACKEND") == 0)
            continue;
        char *colon = strrchr(f[caddr], ':');
        if (colon)
            *colon = '\0';
        for (size_t i = 0; i < t->nh; i++) {
            if (strcmp(t->h[i].host, f[caddr]) != 0)
                continue;
            bool up = zd_str_has_prefix(f[cstatus], "UP");
            for (size_t z = 0; z < t->nzones; z++)
                if (strcmp(t->zones[z], t->h[i].zone) == 0) {
                    inv->zones[z].total++;
                    inv->zones[z].healthy += up;
                }
            if (with_inst)
                inv->inst[i].healthy = up;
        }
    }
    for (size_t i = 0; with_inst && i < t->nh; i++) {
        inv->inst[i].id = xstrdup(ssh_fleet_name(t->fleet, t->h[i].fi));
        inv->inst[i].zone = xstrdup(t->h[i].zone);
        inv->inst[i].addr = xstrdup(t->h[i].host);
        inv->inst[i].running = ssh_fleet_up(t->fleet, t->h[i].fi);
        if (!csv)
            inv->inst[i].healthy = inv->inst[i].running;
    }
    free(csv);
    return 0;
}

static int sh_resolve(void *state, struct tgt_inventory *inv, char **err)
{
    return fill(state, inv, true, err);
}

static int sh_health(void *state, struct tgt_inventory *inv, char **err)
{
    struct sshT *t = state;
    if (!t->hsock)
        return zd_err(err, "the ssh target names no haproxy_socket");
    return fill(state, inv, false, err);
}

/* ---- running commands ---- */

/* Runs cmds[i] on fleet host hosts[i] (root through sudo when asked); -1 with *err naming every
 * host that failed. outs (may be NULL): each command's stdout (caller frees; NULL when it did
 * not run). */
static int run_on_out(struct ssh_fleet *fl, bool sudo, const size_t *hosts, char **cmds, size_t n,
                      uint64_t timeout_us, uint64_t *done_us, char **outs, char **err)
{
    struct ssh_job *jobs = xcalloc(n ? n : 1, sizeof(*jobs));
    char **wrapped = xcalloc(n ? n : 1, sizeof(*wrapped));
    for (size_t i = 0; i < n; i++) {
        /* a host's long-lived shell already runs as root when sudo is asked for */
        wrapped[i] = hc_privileged(cmds[i], sudo && !ssh_fleet_has_shell(fl, hosts[i]));
        jobs[i].host = hosts[i];
        jobs[i].cmd = wrapped[i];
    }
    ssh_fleet_exec(fl, jobs, n, timeout_us);
    struct sbuf sb = SBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        struct ssh_job *j = &jobs[i];
        if (done_us)
            done_us[i] = j->done_us;
        if (outs) {
            outs[i] = j->out;
            j->out = NULL;
        }
        if (!j->error && j->status == 0)
            continue;
        const char *name = ssh_fleet_name(fl, j->host);
        const char *so = outs ? outs[i] : j->out;
        if (so && zd_str_has_prefix(so, "deadman ")) /* the switch's line, not the failure */
            so = strchr(so, '\n') ? strchr(so, '\n') + 1 : "";
        const char *eo = j->errout && *j->errout ? j->errout : so ? so : "";
        if (j->error)
            sbuf_addf(&sb, "%s%s: %s", sb.len ? "; " : "", name, j->error);
        else if (sudo && hc_sudo_needs_password(eo))
            sbuf_addf(&sb,
                      "%s%s: sudo needs a password (zonedef runs 'sudo -n'; give the user a "
                      "NOPASSWD sudo rule)",
                      sb.len ? "; " : "", name);
        else if (j->status == HC_EXIT_MISSING || j->status == HC_EXIT_NOTHING ||
                 j->status == HC_EXIT_REFUSED)
            sbuf_addf(&sb, "%s%s: %.*s", sb.len ? "; " : "", name, (int)strcspn(eo, "\n"), eo);
        else
            sbuf_addf(&sb, "%s%s: exit %d%s%.*s", sb.len ? "; " : "", name, j->status,
                      *eo ? ": " : "", (int)strcspn(eo, "\n"), eo);
    }
    ssh_jobs_free(jobs, n);
    for (size_t i = 0; i < n; i++)
        free(wrapped[i]);
    free(wrapped);
    free(jobs);
    return zd_err_collected(err, &sb);
}

static int run_on(struct ssh_fleet *fl, bool sudo, const size_t *hosts, char **cmds, size_t n,
                  uint64_t timeout_us, uint64_t *done_us, char **err)
{
    return run_on_out(fl, sudo, hosts, cmds, n, timeout_us, done_us, NULL, err);
}

/* ---- prepare ---- */

static void parse_process(const char *p, const char **by, const char **what)
{
    if (zd_str_has_prefix(p, "pidfile:")) {
        *by = "pidfile";
        *what = p + 8;
    } else if (zd_str_has_prefix(p, "unit:")) {
        *by = "unit";
        *what = p + 5;
    } else {
        *by = "name";
        *what = p;
    }
}

/* latency: every selected host must have tc netem and free interfaces (hc_netem_ready, which
 * changes nothing), checked before anything is applied to any host. */
static int latency_ready(struct sshT *t, const struct scn_step *step, const size_t *idx, size_t n,
                         char **err)
{
    size_t *fi = xcalloc(n, sizeof(*fi));
    char **cmds = xcalloc(n, sizeof(*cmds));
    int r = 0;
    for (size_t i = 0; i < n; i++) {
        fi[i] = t->h[idx[i]].fi;
        cmds[i] = hc_netem_ready(step->interface);
        if (!cmds[i])
            r = zd_err(err, "latency: interface '%s' is not a valid name", step->interface);
    }
    char *e = NULL;
    if (r == 0 && run_on(t->fleet, t->sudo, fi, cmds, n, PREFLIGHT_TIMEOUT_US, NULL, &e) < 0) {
        r = zd_err(err, "latency needs tc netem on every host, nothing was applied: %s", e);
        free(e);
    }
    for (size_t i = 0; i < n; i++)
        free(cmds[i]);
    free(cmds);
    free(fi);
    return r;
}

static int sh_prepare(void *state, const struct scn_step *step, char **action_json, char **summary,
                      char **err)
{
    struct sshT *t = state;
    const struct scn_select *sel = &step->sel;
    if (sel->zone) {
        bool known = false;
        for (size_t z = 0; z < t->nzones; z++)
            known = known || strcmp(t->zones[z], sel->zone) == 0;
        if (!known)
            return zd_err(err, "zone '%s' is not in the target's zones", sel->zone);
    }
    size_t *idx = xcalloc(t->nh ? t->nh : 1, sizeof(*idx)), n = 0;
    for (size_t i = 0; i < t->nh; i++)
        if ((!sel->zone || strcmp(t->h[i].zone, sel->zone) == 0) &&
            scn_tags_match(t->h[i].tags, t->h[i].ntags, sel))
            idx[n++] = i;
    if (step->fault != SCN_FAULT_BLACKHOLE_ZONE)
        n = scn_pick_count(n, sel);
    if (n == 0) {
        free(idx);
        return zd_err(err, "no host in the selection");
    }
    enum scn_fault f = step->fault;
    if ((f == SCN_FAULT_KILL_INSTANCES || f == SCN_FAULT_STOP_INSTANCES) && !t->service) {
        free(idx);
        return zd_err(err, "%s over ssh needs target.service (the process an instance is)",
                      scn_fault_name(f));
    }
    if (f == SCN_FAULT_LATENCY && latency_ready(t, step, idx, n, err) < 0) {
        free(idx);
        return -1;
    }
    unsigned seq = ++t->seq;
    uint64_t secs = step->for_us ? (step->for_us + 999999) / 1000000 : 0;
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "kind", "ssh");
    cJSON_AddStringToObject(a, "fault", scn_fault_name(f));
    cJSON_AddStringToObject(a, "user", t->user ? t->user : "root");
    if (t->key)
        cJSON_AddStringToObject(a, "key", t->key);
    if (t->passenv)
        cJSON_AddStringToObject(a, "passphrase_env", t->passenv);
    cJSON_AddStringToObject(a, "known_hosts", t->known_hosts ? t->known_hosts : "");
    cJSON_AddBoolToObject(a, "strict", t->o.strict);
    cJSON_AddBoolToObject(a, "sudo", t->sudo);
    cJSON_AddNumberToObject(a, "for_s", (double)secs);
    cJSON_AddNumberToObject(a, "deadman_s", secs ? (double)(secs + DEADMAN_SLACK_S) : 0);
    cJSON *hs = cJSON_AddArrayToObject(a, "hosts");
    struct sbuf names = SBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        const struct host *h = &t->h[idx[i]];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "host", h->host);
        cJSON_AddNumberToObject(o, "port", h->port);
        cJSON_AddStringToObject(o, "zone", h->zone);
        char tag[HC_TAG_MAX + 1];
        snprintf(tag, sizeof(tag), "zd%s_%u_%zu", t->runid, seq, idx[i]);
        cJSON_AddStringToObject(o, "tag", tag);
        cJSON_AddItemToArray(hs, o);
        if (i < 4)
            sbuf_addf(&names, "%s%s", i ? ", " : "", ssh_fleet_name(t->fleet, h->fi));
        else if (i == 4)
            sbuf_adds(&names, ", ...");
    }
    char *what = NULL;
    switch (f) {
    case SCN_FAULT_KILL_INSTANCES:
        cJSON_AddStringToObject(a, "by", "name");
        cJSON_AddStringToObject(a, "process", t->service);
        cJSON_AddStringToObject(a, "signal", "KILL");
        what = xasprintf("kill '%s'", t->service);
        break;
    case SCN_FAULT_STOP_INSTANCES:
        cJSON_AddStringToObject(a, "service", t->service);
        what = xasprintf("stop service '%s'", t->service);
        break;
    case SCN_FAULT_BLACKHOLE_ZONE:
        what = xasprintf("black-hole zone %s", sel->zone ? sel->zone : "(all)");
        break;
    case SCN_FAULT_LATENCY: {
        char b1[32], b2[32];
        cJSON_AddNumberToObject(a, "delay_us", (double)step->delay_us);
        cJSON_AddNumberToObject(a, "jitter_us", (double)step->jitter_us);
        cJSON_AddNumberToObject(a, "loss", step->loss);
        if (step->interface)
            cJSON_AddStringToObject(a, "interface", step->interface);
        what = xasprintf("netem delay %s (jitter %s, loss %g%%) on %s",
                         zd_fmt_duration(step->delay_us, b1, sizeof(b1)),
                         zd_fmt_duration(step->jitter_us, b2, sizeof(b2)), step->loss,
                         step->interface ? step->interface : "every interface up but lo");
        break;
    }
    case SCN_FAULT_CPU_STRESS:
        cJSON_AddNumberToObject(a, "workers", step->workers ? step->workers : 1);
        cJSON_AddNumberToObject(a, "cpu_percent", step->cpu_percent ? step->cpu_percent : 100);
        what = xasprintf("cpu stress %u%% x %u", step->cpu_percent ? step->cpu_percent : 100,
                         step->workers ? step->workers : 1);
        break;
    case SCN_FAULT_KILL_PROCESS: {
        const char *by, *pw;
        parse_process(step->process ? step->process : "", &by, &pw);
        const char *sn = hc_signal_name(step->signal);
        if (!*pw || !sn) {
            cJSON_Delete(a);
            sbuf_free(&names);
            free(idx);
            return zd_err(err, "kill_process needs a process and a signal hostcmd can name");
        }
        cJSON_AddStringToObject(a, "by", by);
        cJSON_AddStringToObject(a, "process", pw);
        cJSON_AddStringToObject(a, "signal", sn);
        what = xasprintf("SIG%s to %s '%s'", sn, by, pw);
        break;
    }
    case SCN_FAULT_EXEC:
        cJSON_AddStringToObject(a, "command", step->command ? step->command : "");
        if (step->undo_command)
            cJSON_AddStringToObject(a, "undo_command", step->undo_command);
        what = xstrdup("exec");
        break;
    default:
        cJSON_Delete(a);
        sbuf_free(&names);
        free(idx);
        return zd_err(err, "fault %s is not supported over ssh", scn_fault_name(f));
    }
    *summary =
        xasprintf("%s on %zu host%s (%s) over ssh", what, n, n == 1 ? "" : "s", sbuf_str(&names));
    free(what);
    sbuf_free(&names);
    free(idx);
    *action_json = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    return 0;
}

/* ---- actions back to commands ---- */

struct act {
    cJSON *j;
    const char *fault, *user, *key, *passenv, *known_hosts, *by, *process, *signal, *service;
    const char *command, *undo_command, *interface;
    bool strict, sudo;
    unsigned for_s, deadman_s, workers, cpu_percent;
    unsigned delay_us, jitter_us; /* latency */
    double loss;
    size_t n;
    const char **host, **tag;
    int *port;
};

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static unsigned jnum(const cJSON *o, const char *k, unsigned max)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > max)
        return 0;
    return (unsigned)v->valuedouble;
}

static void act_free(struct act *a)
{
    cJSON_Delete(a->j);
    free(a->host);
    free(a->tag);
    free(a->port);
}

/* Parses and checks an action: every field that reaches a command is checked or quoted later. */
static int act_parse(const char *json, struct act *a, char **err)
{
    memset(a, 0, sizeof(*a));
    a->j = cJSON_Parse(json);
    if (!a->j)
        return zd_err(err, "the ssh action is not JSON");
    const char *kind = jstr(a->j, "kind");
    a->fault = jstr(a->j, "fault");
    a->user = jstr(a->j, "user");
    a->key = jstr(a->j, "key");
    a->passenv = jstr(a->j, "passphrase_env");
    a->known_hosts = jstr(a->j, "known_hosts");
    a->by = jstr(a->j, "by");
    a->process = jstr(a->j, "process");
    a->signal = jstr(a->j, "signal");
    a->service = jstr(a->j, "service");
    a->command = jstr(a->j, "command");
    a->undo_command = jstr(a->j, "undo_command");
    a->interface = jstr(a->j, "interface");
    a->strict = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(a->j, "strict"));
    a->sudo = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a->j, "sudo"));
    a->for_s = jnum(a->j, "for_s", 86400);
    a->deadman_s = jnum(a->j, "deadman_s", 86400);
    a->workers = jnum(a->j, "workers", 256);
    a->cpu_percent = jnum(a->j, "cpu_percent", 100);
    a->delay_us = jnum(a->j, "delay_us", 60000000);
    a->jitter_us = jnum(a->j, "jitter_us", 60000000);
    const cJSON *loss = cJSON_GetObjectItemCaseSensitive(a->j, "loss");
    a->loss = cJSON_IsNumber(loss) ? loss->valuedouble : 0; /* hc_netem checks the range */
    if (!kind || strcmp(kind, "ssh") != 0 || !a->fault || !a->user || !a->known_hosts)
        return zd_err(err, "the ssh action lacks kind, fault, user or known_hosts");
    const cJSON *hs = cJSON_GetObjectItemCaseSensitive(a->j, "hosts");
    int nh = cJSON_GetArraySize(hs);
    if (!cJSON_IsArray(hs) || nh < 1 || nh > 100000)
        return zd_err(err, "the ssh action names no hosts");
    a->n = (size_t)nh;
    a->host = xcalloc(a->n, sizeof(*a->host));
    a->tag = xcalloc(a->n, sizeof(*a->tag));
    a->port = xcalloc(a->n, sizeof(*a->port));
    for (size_t i = 0; i < a->n; i++) {
        const cJSON *o = cJSON_GetArrayItem(hs, (int)i);
        a->host[i] = jstr(o, "host");
        a->tag[i] = jstr(o, "tag");
        a->port[i] = (int)jnum(o, "port", 65535);
        if (!host_ok(a->host[i]) || !hc_tag_valid(a->tag[i]) ||
            !zd_str_has_prefix(a->tag[i], "zd") || a->port[i] < 1)
            return zd_err(err, "the ssh action's host %zu is not one zonedef makes", i);
    }
    return 0;
}

static int sig_num(const char *name)
{
    static const int sigs[] = {SIGKILL, SIGTERM, SIGSTOP, SIGCONT, SIGINT,
                               SIGHUP,  SIGQUIT, SIGUSR1, SIGUSR2, SIGABRT};
    for (size_t i = 0; name && i < ZD_ARRAY_LEN(sigs); i++)
        if (strcmp(hc_signal_name(sigs[i]), name) == 0)
            return sigs[i];
    return 0;
}

static enum hc_by by_of(const char *by)
{
    if (by && strcmp(by, "pidfile") == 0)
        return HC_BY_PIDFILE;
    if (by && strcmp(by, "unit") == 0)
        return HC_BY_UNIT;
    return HC_BY_NAME;
}

/* The inject and undo commands of host i (either may be NULL: nothing to do). */
static int commands(const struct act *a, size_t i, uint16_t ssh_port, char **inject, char **undo,
                    char **err)
{
    *inject = *undo = NULL;
    const char *f = a->fault, *tag = a->tag[i];
    if (strcmp(f, "kill_instances") == 0 || strcmp(f, "kill_process") == 0) {
        int sig = sig_num(a->signal);
        if (!sig || !a->process || !*a->process)
            return zd_err(err, "the ssh action's signal or process is missing");
        *inject = hc_signal(by_of(a->by), a->process, sig);
        if (sig == SIGSTOP)
            *undo = hc_signal(by_of(a->by), a->process, SIGCONT);
    } else if (strcmp(f, "stop_instances") == 0) {
        if (!a->service || !*a->service)
            return zd_err(err, "the ssh action's service is missing");
        *inject = hc_service(a->service, false);
        *undo = hc_service(a->service, true);
    } else if (strcmp(f, "blackhole_zone") == 0) {
        *inject = hc_blackhole(tag, ssh_port);
        *undo = hc_blackhole_undo(tag);
    } else if (strcmp(f, "latency") == 0) {
        /* hc_netem checks the interface name and the numbers (NULL when out of range) */
        *inject = hc_netem(tag, a->interface, a->delay_us, a->jitter_us, a->loss);
        *undo = hc_netem_undo(tag);
    } else if (strcmp(f, "cpu_stress") == 0) {
        unsigned secs = a->deadman_s ? a->deadman_s : a->for_s + DEADMAN_SLACK_S;
        *inject = hc_cpu_stress(tag, a->workers ? a->workers : 1,
                                a->cpu_percent ? a->cpu_percent : 100, secs ? secs : 60);
        *undo = hc_cpu_stress_undo(tag);
    } else if (strcmp(f, "exec") == 0) {
        /* the scenario's own commands: the one place a journaled command text is run */
        if (!a->command || !*a->command)
            return zd_err(err, "the ssh action's command is missing");
        *inject = hc_exec(a->command);
        if (a->undo_command && *a->undo_command)
            *undo = hc_exec(a->undo_command);
    } else {
        return zd_err(err, "unknown ssh fault '%s' in the action", f);
    }
    if (!*inject) {
        free(*undo);
        *undo = NULL;
        return zd_err(err, "the ssh action's values are out of range");
    }
    return 0;
}

/* The fleet indexes of the action's hosts in the open target, or a new fleet (recover). */
static struct ssh_fleet *fleet_for(struct sshT *t, const struct act *a, size_t *fi, char **err)
{
    if (t) {
        for (size_t i = 0; i < a->n; i++) {
            fi[i] = (size_t)-1;
            for (size_t k = 0; k < t->nh; k++)
                if (strcmp(t->h[k].host, a->host[i]) == 0 && t->h[k].port == a->port[i])
                    fi[i] = t->h[k].fi;
            if (fi[i] == (size_t)-1)
                return zd_err(err, "host %s:%d of the action is not in the target", a->host[i],
                              a->port[i]),
                       NULL;
        }
        return t->fleet;
    }
    struct ssh_opts o = {.user = a->user,
                         .key = a->key,
                         .passphrase_env = a->passenv,
                         .known_hosts = a->known_hosts,
                         .strict = a->strict,
                         .accept_new = false,
                         .connect_timeout_us = 10000000,
                         .parallel = 64};
    struct ssh_fleet *fl = ssh_fleet_new(&o);
    for (size_t i = 0; i < a->n; i++)
        fi[i] = ssh_fleet_add(fl, a->host[i], a->port[i]);
    char *e = NULL;
    if (ssh_fleet_connect(fl, &e) < 0) {
        zd_err(err, "%s", e);
        free(e);
        ssh_fleet_free(fl);
        return NULL;
    }
    return fl;
}

/* The note of an apply (journaled with its "applied" record): what each host's dead-man's switch
 * said when armed, "deadman TAG=PID:START TAG=systemd ...", from the first line of each host's
 * output ("deadman pid PID START" / "deadman systemd UNIT"). NULL when no switch was armed. */
static char *deadman_note(const struct act *a, char **outs)
{
    struct sbuf sb = SBUF_INIT;
    for (size_t i = 0; i < a->n; i++) {
        long pid = 0;
        char start[24], unit[64];
        if (!outs[i])
            continue;
        if (sscanf(outs[i], "deadman pid %ld %20[0-9]", &pid, start) == 2 && pid > 1)
            sbuf_addf(&sb, "%s%s=%ld:%s", sb.len ? " " : "deadman ", a->tag[i], pid, start);
        else if (sscanf(outs[i], "deadman systemd %63[a-z0-9_-]", unit) == 1)
            sbuf_addf(&sb, "%s%s=systemd", sb.len ? " " : "deadman ", a->tag[i]);
    }
    if (!sb.len) {
        sbuf_free(&sb);
        return NULL;
    }
    return sbuf_detach(&sb);
}

/* The pid and start time deadman_note recorded for tag, from a journaled note; false when it has
 * none (no note, a systemd timer, a crash before the "applied" record). Only digits are taken. */
static bool note_pid(const char *note, const char *tag, long *pid, char *start, size_t n)
{
    if (!note || !zd_str_has_prefix(note, "deadman "))
        return false;
    size_t tl = strlen(tag);
    for (const char *p = note + 8; *p;) {
        const char *e = p + strcspn(p, " ");
        if ((size_t)(e - p) > tl && strncmp(p, tag, tl) == 0 && p[tl] == '=') {
            char *end = NULL;
            long v = strtol(p + tl + 1, &end, 10);
            if (end && *end == ':' && v > 1) {
                size_t sl = strspn(end + 1, "0123456789");
                if (sl >= 1 && sl < n) {
                    memcpy(start, end + 1, sl);
                    start[sl] = '\0';
                    *pid = v;
                    return true;
                }
            }
            return false;
        }
        p = *e ? e + 1 : e;
    }
    return false;
}

static int sh_apply_noted(void *state, const char *action_json, char **note, char **err)
{
    struct sshT *t = state;
    struct act a;
    if (act_parse(action_json, &a, err) < 0) {
        act_free(&a);
        return -1;
    }
    size_t *fi = xcalloc(a.n, sizeof(*fi));
    char **cmds = xcalloc(a.n, sizeof(*cmds));
    char **outs = xcalloc(a.n, sizeof(*outs));
    struct ssh_fleet *fl = fleet_for(t, &a, fi, err);
    int rc = fl ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < a.n; i++) {
        char *inj = NULL, *undo = NULL;
        if (commands(&a, i, (uint16_t)a.port[i], &inj, &undo, err) < 0) {
            rc = -1;
            break;
        }
        if (undo && a.deadman_s) {
            /* the switch's one line ("deadman pid PID START") comes first in the output */
            char *arm = hc_deadman_arm(a.tag[i], undo, a.deadman_s);
            cmds[i] = xasprintf("(%s\n) && (%s\n)", arm, inj);
            free(arm);
            free(inj);
        } else {
            cmds[i] = inj;
        }
        free(undo);
    }
    if (rc == 0) {
        uint64_t timeout = t ? t->cmd_timeout_us : 30000000;
        if (t) {
            free(t->last_apply_us);
            t->last_apply_us = xcalloc(a.n, sizeof(*t->last_apply_us));
            t->nlast = a.n;
        }
        rc = run_on_out(fl, a.sudo, fi, cmds, a.n, timeout, t ? t->last_apply_us : NULL, outs, err);
        /* also when some host failed: the switches that were armed are in the journal */
        if (note && a.deadman_s)
            *note = deadman_note(&a, outs);
    }
    for (size_t i = 0; i < a.n; i++) {
        free(cmds[i]);
        free(outs[i]);
    }
    free(cmds);
    free(outs);
    free(fi);
    if (fl && (!t || fl != t->fleet))
        ssh_fleet_free(fl);
    act_free(&a);
    return rc;
}

static int sh_undo_noted(void *state, const char *action_json, const char *note, char **err)
{
    struct sshT *t = state;
    struct act a;
    if (act_parse(action_json, &a, err) < 0) {
        act_free(&a);
        return -1;
    }
    size_t *fi = xcalloc(a.n, sizeof(*fi));
    char **cmds = xcalloc(a.n, sizeof(*cmds));
    size_t nc = 0;
    size_t *cfi = xcalloc(a.n, sizeof(*cfi));
    int rc = 0;
    /* what to run, before connecting: an instantaneous kill has nothing to undo */
    for (size_t i = 0; i < a.n; i++) {
        char *inj = NULL, *undo = NULL;
        if (commands(&a, i, (uint16_t)a.port[i], &inj, &undo, err) < 0) {
            rc = -1;
            break;
        }
        free(inj);
        if (!undo)
            continue;
        /* the switch is cancelled from its file on the host and from the journaled pid and
         * start time (the file may be gone); each only kills what still matches */
        char *cancel = a.deadman_s ? hc_deadman_cancel(a.tag[i]) : NULL;
        long pid = 0;
        char start[24];
        if (cancel && note_pid(note, a.tag[i], &pid, start, sizeof(start))) {
            char *byp = hc_deadman_cancel_pid(a.tag[i], pid, start);
            if (byp) {
                char *both = xasprintf("(%s\n) && (%s\n)", cancel, byp);
                free(cancel);
                free(byp);
                cancel = both;
            }
        }
        cmds[nc] = cancel ? xasprintf("(%s\n) && (%s\n) >/dev/null", undo, cancel) : xstrdup(undo);
        cfi[nc++] = i;
        free(cancel);
        free(undo);
    }
    struct ssh_fleet *fl = NULL;
    if (rc == 0 && nc) {
        fl = fleet_for(t, &a, fi, err);
        if (!fl)
            rc = -1;
    }
    if (rc == 0 && nc) {
        for (size_t k = 0; k < nc; k++)
            cfi[k] = fi[cfi[k]];
        rc = run_on(fl, a.sudo, cfi, cmds, nc, t ? t->cmd_timeout_us : 30000000, NULL, err);
    }
    for (size_t i = 0; i < nc; i++)
        free(cmds[i]);
    free(cmds);
    free(cfi);
    free(fi);
    if (fl && (!t || fl != t->fleet))
        ssh_fleet_free(fl);
    act_free(&a);
    return rc;
}

static int sh_undo(void *state, const char *action_json, char **err)
{
    return sh_undo_noted(state, action_json, NULL, err);
}

const struct tgt_ops tgt_ssh_ops = {
    .kind = "ssh",
    .open = sh_open,
    .close = sh_close,
    .key = sh_key,
    .supports = sh_supports,
    .resolve = sh_resolve,
    .prepare = sh_prepare,
    .apply_noted = sh_apply_noted, /* instead of apply: the switches' pids go to the journal */
    .undo = sh_undo,
    .undo_noted = sh_undo_noted,
    .health = sh_health,
};
