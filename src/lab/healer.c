/*
 * lab_healer: the lab's auto-scaling group.
 *
 * The healer starts the instances itself, so it is their parent and learns of a death from
 * waitpid() at once. Its loop (every 100 ms):
 *   - replace: an instance that died is started again after the heal delay (a frozen one is
 *     alive and is left alone, as an ASG would leave a hung VM that still passes its checks);
 *   - zone outage: when every wanted server of a zone has been DOWN in HAProxy for the heal
 *     delay, it starts one spare instance in each surviving zone and enables its slot through
 *     HAProxy's runtime API (`set server web/a3 state ready`); once the zone is back UP for a
 *     second, those spares go away again (`state maint`, then the process is stopped);
 *   - overload: when instances keep queueing or rejecting for the heal delay, it adds one spare
 *     (up to every spare slot) and removes those again after 10 s without queueing.
 * It also restarts HAProxy a second after it died (kill_process haproxy: a load balancer
 * failure the lab recovers from). Every action is one line in DIR/healer.log: iso time, wall us,
 * action, zone, instance, detail.
 */
#include "lab/lab.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/util.h"

#include "base/banned.h"

#define TICK_US  100000ull
#define CHECK_US 300000ull
#define CALM_US  10000000ull

enum why { W_NONE, W_BASE, W_OUTAGE, W_OVERLOAD };

struct slot {
    pid_t pid;
    enum why why;                /* why it should run (W_NONE: it should not) */
    int outage_zone;             /* W_OUTAGE: the zone it stands in for */
    uint64_t died_us;            /* when it was seen dead (0 = alive or never started) */
    unsigned long long rejected; /* last counter read from its stats file */
};

struct healer {
    const char *dir;
    const char *exe;
    struct lab_config cfg;
    struct slot s[LAB_MAX_ZONES][LAB_MAX_SLOTS];
    uint64_t down_since[LAB_MAX_ZONES]; /* 0 = not down */
    uint64_t up_since[LAB_MAX_ZONES];
    bool compensated[LAB_MAX_ZONES];
    uint64_t overload_since, calm_since, last_scale_us;
    bool lb_seen; /* lab_up started HAProxy: from then on the healer keeps it running */
    uint64_t lb_dead_us;
};

void lab_healer_log(const char *dir, const char *action, const char *zone, const char *inst,
                    const char *fmt, ...)
{
    char iso[40], detail[512];
    uint64_t t = zd_wall_us();
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    for (char *p = detail; *p; p++)
        if (*p == '\t' || *p == '\n')
            *p = ' ';
    char *line =
        xasprintf("%s\t%llu\t%s\t%s\t%s\t%s\n", zd_iso8601(t, iso, sizeof(iso)),
                  (unsigned long long)t, action, zone ? zone : "-", inst ? inst : "-", detail);
    char *path = xasprintf("%s/healer.log", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        /* one write with O_APPEND: a line is never torn */
        ssize_t w = write(fd, line, strlen(line));
        (void)w;
        close(fd);
    }
    free(path);
    free(line);
}

static pid_t start_instance(struct healer *h, int z, int s, char **err)
{
    char id[16], ip[16], port[8];
    snprintf(id, sizeof(id), "%c%d", lab_zone_name(z), s + 1);
    lab_instance_ip(z, s, ip, sizeof(ip));
    snprintf(port, sizeof(port), "%d", LAB_INSTANCE_PORT);
    char *out = xasprintf("%s/instance-%s.log", h->dir, id);
    pid_t pid = fork();
    if (pid < 0) {
        free(out);
        zd_err(err, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int o = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (in >= 0)
            dup2(in, 0);
        if (o >= 0) {
            dup2(o, 1);
            dup2(o, 2);
        }
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        signal(SIGTERM, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        char *argv[] = {(char *)"zonedef",
                        (char *)"lab",
                        (char *)"instance",
                        (char *)"--dir",
                        (char *)h->dir,
                        (char *)"--id",
                        id,
                        (char *)"--ip",
                        ip,
                        (char *)"--port",
                        port,
                        NULL};
        execv(h->exe, argv);
        _exit(127);
    }
    free(out);
    char name[32];
    snprintf(name, sizeof(name), "inst-%s", id);
    /* the start time in /proc is fixed at fork, so the pid file is right even before exec */
    if (lab_pid_put(h->dir, name, pid, err) < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    h->s[z][s].pid = pid;
    h->s[z][s].died_us = 0;
    h->s[z][s].rejected = 0;
    return pid;
}

static void stop_instance(struct healer *h, int z, int s)
{
    struct slot *sl = &h->s[z][s];
    if (sl->pid > 0) {
        kill(sl->pid, SIGKILL);
        kill(sl->pid, SIGCONT);
        waitpid(sl->pid, NULL, 0);
    }
    char name[32];
    snprintf(name, sizeof(name), "inst-%c%d", lab_zone_name(z), s + 1);
    lab_pid_remove(h->dir, name);
    sl->pid = 0;
    sl->died_us = 0;
}

static void reap(struct healer *h, uint64_t now)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int z = 0; z < h->cfg.zones; z++) {
            for (int s = 0; s < h->cfg.per_zone + h->cfg.spares; s++) {
                if (h->s[z][s].pid != pid)
                    continue;
                h->s[z][s].pid = 0;
                h->s[z][s].died_us = now;
            }
        }
    }
}

static void replace_dead(struct healer *h, uint64_t now)
{
    char zone[2] = {0}, id[16], d1[32];
    for (int z = 0; z < h->cfg.zones; z++) {
        for (int s = 0; s < h->cfg.per_zone + h->cfg.spares; s++) {
            struct slot *sl = &h->s[z][s];
            if (sl->why == W_NONE || sl->pid > 0 || !sl->died_us)
                continue;
            if (now - sl->died_us < h->cfg.heal_delay_us)
                continue;
            zone[0] = lab_zone_name(z);
            snprintf(id, sizeof(id), "%c%d", zone[0], s + 1);
            char *e = NULL;
            uint64_t dead_for = now - sl->died_us;
            pid_t pid = start_instance(h, z, s, &e);
            if (pid > 0)
                lab_healer_log(h->dir, "replace", zone, id, "instance died %s ago; new pid %d",
                               zd_fmt_duration(dead_for, d1, sizeof(d1)), (int)pid);
            else {
                lab_healer_log(h->dir, "replace_failed", zone, id, "%s", e ? e : "?");
                sl->died_us = now; /* try again after another delay */
            }
            free(e);
        }
    }
}

/* A free spare slot in zone z, or -1. */
static int free_spare(struct healer *h, int z)
{
    for (int s = h->cfg.per_zone; s < h->cfg.per_zone + h->cfg.spares; s++)
        if (h->s[z][s].why == W_NONE && h->s[z][s].pid == 0)
            return s;
    return -1;
}

static int scale_out(struct healer *h, int z, int s, enum why why, int outage_zone,
                     const char *detail)
{
    char zone[2] = {lab_zone_name(z), 0}, id[16], cmd[64];
    snprintf(id, sizeof(id), "%c%d", zone[0], s + 1);
    char *e = NULL;
    if (start_instance(h, z, s, &e) < 0) {
        lab_healer_log(h->dir, "scale_out_failed", zone, id, "%s", e ? e : "?");
        free(e);
        return -1;
    }
    h->s[z][s].why = why;
    h->s[z][s].outage_zone = outage_zone;
    /* give it a moment to listen, so its first check passes */
    zd_sleep_us(30000);
    snprintf(cmd, sizeof(cmd), "set server " LAB_BACKEND "/%s state ready", id);
    char *out = NULL;
    if (lab_haproxy_cmd(h->dir, cmd, &out, &e) < 0) {
        lab_healer_log(h->dir, "scale_out_failed", zone, id, "%s", e ? e : "?");
        free(e);
    } else {
        lab_healer_log(h->dir, "scale_out", zone, id, "%s", detail);
    }
    free(out);
    return 0;
}

static void scale_in(struct healer *h, int z, int s, const char *detail)
{
    char zone[2] = {lab_zone_name(z), 0}, id[16], cmd[64];
    snprintf(id, sizeof(id), "%c%d", zone[0], s + 1);
    snprintf(cmd, sizeof(cmd), "set server " LAB_BACKEND "/%s state maint", id);
    char *out = NULL, *e = NULL;
    if (lab_haproxy_cmd(h->dir, cmd, &out, &e) < 0)
        free(e);
    free(out);
    h->s[z][s].why = W_NONE;
    stop_instance(h, z, s);
    lab_healer_log(h->dir, "scale_in", zone, id, "%s", detail);
}

static void check_zones(struct healer *h, uint64_t now)
{
    struct lab_srv *srv = NULL;
    size_t n = 0;
    char *e = NULL;
    if (lab_haproxy_servers(h->dir, &srv, &n, &e) < 0) {
        free(e);
        return; /* HAProxy not there (yet, or any more): nothing to decide on */
    }
    int up[LAB_MAX_ZONES] = {0}, base[LAB_MAX_ZONES] = {0};
    for (size_t i = 0; i < n; i++) {
        if (srv[i].zone >= h->cfg.zones)
            continue;
        if (h->s[srv[i].zone][srv[i].slot].why == W_BASE) {
            base[srv[i].zone]++;
            if (srv[i].up && strcmp(srv[i].status, "UP") == 0)
                up[srv[i].zone]++;
        }
    }
    free(srv);
    char d1[32];
    for (int z = 0; z < h->cfg.zones; z++) {
        char zone[2] = {lab_zone_name(z), 0};
        if (base[z] > 0 && up[z] == 0) {
            h->up_since[z] = 0;
            if (!h->down_since[z])
                h->down_since[z] = now;
            if (!h->compensated[z] && now - h->down_since[z] >= h->cfg.heal_delay_us) {
                h->compensated[z] = true;
                lab_healer_log(h->dir, "zone_down", zone, "-",
                               "every server of zone %s DOWN for %s", zone,
                               zd_fmt_duration(now - h->down_since[z], d1, sizeof(d1)));
                for (int o = 0; o < h->cfg.zones; o++) {
                    if (o == z || h->down_since[o])
                        continue;
                    int s = free_spare(h, o);
                    if (s < 0)
                        continue;
                    char *detail = xasprintf("zone %s unreachable: capacity added in zone %c", zone,
                                             lab_zone_name(o));
                    scale_out(h, o, s, W_OUTAGE, z, detail);
                    free(detail);
                }
            }
        } else {
            h->down_since[z] = 0;
            if (!h->up_since[z])
                h->up_since[z] = now;
            if (h->compensated[z] && up[z] == base[z] && now - h->up_since[z] >= 1000000) {
                h->compensated[z] = false;
                lab_healer_log(h->dir, "zone_up", zone, "-", "zone %s back UP", zone);
                for (int o = 0; o < h->cfg.zones; o++)
                    for (int s = h->cfg.per_zone; s < h->cfg.per_zone + h->cfg.spares; s++)
                        if (h->s[o][s].why == W_OUTAGE && h->s[o][s].outage_zone == z) {
                            char *detail = xasprintf("zone %s back: capacity removed", zone);
                            scale_in(h, o, s, detail);
                            free(detail);
                        }
            }
        }
    }
}

/* Overload: instances queueing or rejecting, read from their stats files. */
/* HAProxy is supervised too: a kill_process on it is a load balancer failure the lab recovers
 * from, like a managed LB would. The restarted HAProxy starts from haproxy.cfg, so the spare
 * slots in use are enabled again. */
static void check_lb(struct healer *h, uint64_t now)
{
    if (lab_pid_get(h->dir, "haproxy")) {
        h->lb_seen = true;
        h->lb_dead_us = 0;
        return;
    }
    if (!h->lb_seen)
        return; /* lab_up has not started it yet */
    if (!h->lb_dead_us)
        h->lb_dead_us = now;
    if (now - h->lb_dead_us < 1000000)
        return;
    char *cfg = xasprintf("%s/haproxy.cfg", h->dir), *log = xasprintf("%s/haproxy.log", h->dir),
         *errp = xasprintf("%s/haproxy.err", h->dir);
    const char *bin =
        zd_file_exists("/usr/sbin/haproxy") ? "/usr/sbin/haproxy" : "/usr/bin/haproxy";
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        int in = open("/dev/null", O_RDONLY);
        int o = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int e = open(errp, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (in < 0 || o < 0 || e < 0)
            _exit(127);
        dup2(in, 0);
        dup2(o, 1);
        dup2(e, 2);
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        signal(SIGTERM, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        char *argv[] = {(char *)bin, (char *)"-db", (char *)"-f", cfg, NULL};
        execv(bin, argv);
        _exit(127);
    }
    char *e = NULL;
    if (pid < 0 || lab_pid_put(h->dir, "haproxy", pid, &e) < 0) {
        lab_healer_log(h->dir, "restart_lb_failed", "-", "haproxy", "%s",
                       pid < 0 ? strerror(errno) : e);
        h->lb_dead_us = now; /* try again in a second */
    } else {
        lab_healer_log(h->dir, "restart_lb", "-", "haproxy",
                       "HAProxy was gone for %llums; restarted, new pid %d",
                       (unsigned long long)((now - h->lb_dead_us) / 1000), (int)pid);
        h->lb_dead_us = 0;
        /* its runtime state is gone with it: enable the spares in use once it listens */
        for (int i = 0; i < 50; i++) {
            char *out = NULL;
            if (lab_haproxy_cmd(h->dir, "show info", &out, NULL) == 0) {
                free(out);
                break;
            }
            zd_sleep_us(20000);
        }
        for (int z = 0; z < h->cfg.zones; z++)
            for (int s = h->cfg.per_zone; s < h->cfg.per_zone + h->cfg.spares; s++)
                if (h->s[z][s].why != W_NONE) {
                    char cmd[64], *out = NULL;
                    snprintf(cmd, sizeof(cmd), "set server " LAB_BACKEND "/%c%d state ready",
                             lab_zone_name(z), s + 1);
                    if (lab_haproxy_cmd(h->dir, cmd, &out, NULL) == 0)
                        free(out);
                }
    }
    free(e);
    free(cfg);
    free(log);
    free(errp);
}

static void check_load(struct healer *h, uint64_t now)
{
    unsigned queued = 0, running = 0;
    unsigned long long rejected_new = 0;
    for (int z = 0; z < h->cfg.zones; z++) {
        for (int s = 0; s < h->cfg.per_zone + h->cfg.spares; s++) {
            struct slot *sl = &h->s[z][s];
            if (sl->pid <= 0)
                continue;
            char *path = xasprintf("%s/run/%c%d.stats", h->dir, lab_zone_name(z), s + 1);
            char *text = NULL;
            if (zd_read_file(path, 256, &text, NULL, NULL) == 0) {
                unsigned inflight, q;
                unsigned long long served, rej;
                if (sscanf(text, "%u %u %llu %llu", &inflight, &q, &served, &rej) == 4) {
                    queued += q;
                    if (rej > sl->rejected)
                        rejected_new += rej - sl->rejected;
                    sl->rejected = rej;
                    running++;
                }
            }
            free(text);
            free(path);
        }
    }
    if (!running)
        return;
    char d1[32];
    if (queued > 0 || rejected_new > 0) {
        h->calm_since = 0;
        if (!h->overload_since)
            h->overload_since = now;
        if (now - h->overload_since >= h->cfg.heal_delay_us &&
            now - h->last_scale_us >= h->cfg.heal_delay_us) {
            /* the zone with the fewest running instances that is not down */
            int best = -1, bestn = 1 << 30;
            for (int z = 0; z < h->cfg.zones; z++) {
                if (h->down_since[z] || free_spare(h, z) < 0)
                    continue;
                int cnt = 0;
                for (int s = 0; s < h->cfg.per_zone + h->cfg.spares; s++)
                    cnt += h->s[z][s].pid > 0;
                if (cnt < bestn) {
                    bestn = cnt;
                    best = z;
                }
            }
            if (best >= 0) {
                char *detail = xasprintf("overload for %s: %u queued, %llu rejected",
                                         zd_fmt_duration(now - h->overload_since, d1, sizeof(d1)),
                                         queued, rejected_new);
                scale_out(h, best, free_spare(h, best), W_OVERLOAD, -1, detail);
                free(detail);
                h->last_scale_us = now;
            }
        }
    } else {
        h->overload_since = 0;
        if (!h->calm_since)
            h->calm_since = now;
        if (now - h->calm_since >= CALM_US) {
            for (int z = 0; z < h->cfg.zones; z++)
                for (int s = h->cfg.per_zone; s < h->cfg.per_zone + h->cfg.spares; s++)
                    if (h->s[z][s].why == W_OVERLOAD) {
                        scale_in(h, z, s, "no queueing for 10s: capacity removed");
                        h->calm_since = now; /* one at a time */
                        return;
                    }
        }
    }
}

int lab_healer_run(const char *dir, const char *exe, volatile int *stop, char **err)
{
    struct healer *h = xcalloc(1, sizeof(*h));
    h->dir = dir;
    h->exe = exe;
    if (lab_config_load(dir, &h->cfg, err) < 0) {
        free(h);
        return -1;
    }
    int rc = 0;
    for (int z = 0; z < h->cfg.zones && rc == 0; z++) {
        for (int s = 0; s < h->cfg.per_zone; s++) {
            h->s[z][s].why = W_BASE;
            if (start_instance(h, z, s, err) < 0) {
                rc = -1;
                break;
            }
        }
    }
    char d1[32];
    if (rc == 0)
        lab_healer_log(dir, "start", "-", "-", "%d zones x %d instances, heal delay %s",
                       h->cfg.zones, h->cfg.per_zone,
                       zd_fmt_duration(h->cfg.heal_delay_us, d1, sizeof(d1)));
    uint64_t next_check = 0;
    while (rc == 0 && !*stop) {
        uint64_t now = zd_now_us();
        reap(h, now);
        replace_dead(h, now);
        if (now >= next_check) {
            check_lb(h, now);
            check_zones(h, now);
            check_load(h, zd_now_us());
            next_check = now + CHECK_US;
        }
        zd_sleep_us(TICK_US);
    }
    for (int z = 0; z < h->cfg.zones; z++)
        for (int s = 0; s < h->cfg.per_zone + h->cfg.spares; s++)
            if (h->s[z][s].pid > 0)
                stop_instance(h, z, s);
    if (rc == 0)
        lab_healer_log(dir, "stop", "-", "-", "stopped every instance");
    free(h);
    return rc;
}
