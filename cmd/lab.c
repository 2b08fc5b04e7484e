/*
 * lab: `zonedef lab up|status|down|events`, the local three-zone lab behind HAProxy, plus the
 * hidden subcommands the lab runs itself (`lab healer`, `lab instance`). The work is in
 * src/lab*.c; this file parses options, prints and picks exit codes.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "lab/lab.h"

#include "base/banned.h"

static const char usage_lab[] =
    "usage: zonedef lab up [--zones 3] [--per-zone 2] [--heal-delay 3s] [--ssh] [--hosts]\n"
    "                      [--dir DIR]\n"
    "       zonedef lab status [--json] [--dir DIR]\n"
    "       zonedef lab down [--dir DIR]\n"
    "       zonedef lab events [--since EPOCH_US] [--until EPOCH_US] [--interval 100ms]\n"
    "                          [--json] [--dir DIR]\n"
    "\n"
    "The local lab: zones a, b, c on 127.0.1.0/24, 127.0.2.0/24, 127.0.3.0/24, instances on\n"
    "127.0.Z.N:18080, HAProxy on 127.0.0.1:18000, a healer, optionally sshd on 127.0.0.1:2222.\n"
    "DIR defaults to $ZONEDEF_LAB_DIR, else $XDG_STATE_HOME/zonedef/lab, else\n"
    "~/.local/state/zonedef/lab.\n"
    "\n"
    "  up       start the lab and wait until every server is UP (at most 5s); with --hosts\n"
    "           (root) every instance is a host of its own: network namespace zonedef-<id>,\n"
    "           address 10.213.Z.N, its own sshd on port 22 and PID/mount namespace\n"
    "  status   every process, zone and server state; exit 1 when the lab is not up\n"
    "  down     stop everything the lab started, remove its firewall tables; safe to repeat\n"
    "  events   ground truth from HAProxy's and the healer's logs: server DOWN/UP times,\n"
    "           requests per interval by status, healer actions\n"
    "\n"
    "DIR is made 0700; an existing one is used only when it is yours (or root's) and nobody\n"
    "else can write to it. A failed 'lab up' removes a DIR it made.\n"
    "\n"
    "exit: 0 done (up: ready or already up; down: also when nothing ran), 1 status: the lab is\n"
    "not up, 2 invalid usage, 5 runtime error (up: the lab did not start; down: something\n"
    "survived)\n";

static volatile int stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
}

/* --dir or the default; returns an allocated string. */
static char *dir_or_default(const char *d)
{
    if (!d)
        return lab_default_dir();
    /* a relative directory would break the paths HAProxy and the healer use */
    if (d[0] != '/') {
        char *cwd = getcwd(NULL, 0);
        char *r = xasprintf("%s/%s", cwd ? cwd : ".", d);
        free(cwd);
        return r;
    }
    return xstrdup(d);
}

static int parse_int_opt(const char *opt, const char *v, long long lo, long long hi, int *out)
{
    long long x;
    char *e = NULL;
    if (zd_parse_int(v, lo, hi, &x, &e) < 0) {
        zd_error("lab up: %s: %s", opt, e);
        free(e);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static int lab_up_cmd(int argc, char **argv)
{
    static const struct option opts[] = {
        {"zones", required_argument, NULL, 'z'},
        {"per-zone", required_argument, NULL, 'p'},
        {"dir", required_argument, NULL, 'd'},
        {"ssh", no_argument, NULL, 's'},
        {"heal-delay", required_argument, NULL, 'H'},
        {"hosts", no_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    struct lab_config cfg;
    lab_config_default(&cfg);
    const char *d = NULL;
    int c;
    optind = 0;
    while ((c = zd_getopt(argc, argv, "", opts)) != -1) {
        char *e = NULL;
        switch (c) {
        case 'z':
            if (parse_int_opt("--zones", optarg, 1, LAB_MAX_ZONES, &cfg.zones) < 0)
                return ZD_EXIT_USAGE;
            break;
        case 'p':
            if (parse_int_opt("--per-zone", optarg, 1, LAB_MAX_PER_ZONE, &cfg.per_zone) < 0)
                return ZD_EXIT_USAGE;
            break;
        case 'd': d = optarg; break;
        case 's': cfg.ssh = true; break;
        case 'o': cfg.hosts = true; break;
        case 'H':
            if (zd_parse_duration(optarg, &cfg.heal_delay_us, &e) < 0 ||
                cfg.heal_delay_us > LAB_MAX_HEAL_DELAY_US) {
                zd_error("lab up: --heal-delay: %s", e ? e : "at most 10m");
                free(e);
                return ZD_EXIT_USAGE;
            }
            break;
        default: return ZD_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        zd_error("lab up: unexpected argument '%s'", argv[optind]);
        return ZD_EXIT_USAGE;
    }
    char *dir = dir_or_default(d);
    char *err = NULL;
    if (strlen(dir) > LAB_MAX_DIR) {
        zd_error("lab up: lab directory '%s' is longer than %d characters (HAProxy's socket "
                 "lives there and unix socket paths are short)",
                 dir, LAB_MAX_DIR);
        free(dir);
        return ZD_EXIT_USAGE;
    }
    bool created = false;
    if (lab_dir_make(dir, &created, &err) < 0) {
        zd_error("lab up: %s", err);
        free(err);
        free(dir);
        return ZD_EXIT_RUNTIME;
    }
    uint64_t ready = 0;
    int rc = lab_up(dir, &cfg, "/proc/self/exe", &ready, &err);
    if (rc < 0 && created)
        lab_dir_remove(dir); /* a failed `lab up` leaves no directory it made behind */
    if (rc == 1) {
        printf("lab already up in %s (see 'zonedef lab status', 'zonedef lab down')\n", dir);
        free(dir);
        return ZD_EXIT_OK;
    }
    if (rc < 0) {
        zd_error("lab up: %s", err);
        free(err);
        free(dir);
        return ZD_EXIT_RUNTIME;
    }
    char d1[32], d2[32];
    printf("lab ready in %s: %d zones x %d instances behind http://127.0.0.1:%d/ "
           "(heal delay %s)%s\n  dir %s\n",
           zd_fmt_duration(ready, d1, sizeof(d1)), cfg.zones, cfg.per_zone, LAB_LB_PORT,
           zd_fmt_duration(cfg.heal_delay_us, d2, sizeof(d2)),
           cfg.ssh ? ", sshd on 127.0.0.1:2222" : "", dir);
    if (cfg.ssh)
        printf("  ssh -i %s/ssh/id_ed25519 -p %d -o UserKnownHostsFile=%s/ssh/known_hosts "
               "root@127.0.0.1\n",
               dir, LAB_SSH_PORT, dir);
    if (cfg.hosts)
        printf("  hosts 10.213.Z.N (zone a = 1), e.g. ssh -i %s/ssh/id_ed25519 "
               "-o UserKnownHostsFile=%s/ssh/known_hosts root@10.213.1.1\n",
               dir, dir);
    free(dir);
    return ZD_EXIT_OK;
}

static int dir_only(int argc, char **argv, const char *what, char **dir, bool *json)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    const char *d = NULL;
    int c;
    optind = 0;
    while ((c = zd_getopt(argc, argv, "", opts)) != -1) {
        if (c == 'd')
            d = optarg;
        else if (c == 'j' && json)
            *json = true;
        else {
            if (c == 'j')
                zd_error("lab %s: unknown option '--json'", what);
            return -1;
        }
    }
    if (optind < argc) {
        zd_error("lab %s: unexpected argument '%s'", what, argv[optind]);
        return -1;
    }
    *dir = dir_or_default(d);
    /* a directory others can write holds records nobody may act on: say so, do not guess */
    char *e = NULL;
    if (zd_file_exists(*dir) && lab_dir_check(*dir, &e) < 0 && strstr(e, "not trusted")) {
        zd_error("lab %s: %s", what, e);
        free(e);
        free(*dir);
        *dir = NULL;
        return -1;
    }
    free(e);
    return 0;
}

static const char *proc_word(const struct lab_proc *p)
{
    if (!p->pid)
        return "not running";
    return p->state == 'T' || p->state == 't' ? "stopped (frozen)" : "running";
}

static int lab_status_cmd(int argc, char **argv)
{
    char *dir = NULL, *err = NULL;
    bool json = false;
    if (dir_only(argc, argv, "status", &dir, &json) < 0)
        return ZD_EXIT_USAGE;
    struct lab_status st;
    lab_status_get(dir, &st, &err);
    free(err);
    if (json) {
        struct sbuf sb = SBUF_INIT;
        sbuf_adds(&sb, "{\"dir\":");
        sbuf_add_json_str(&sb, dir);
        sbuf_addf(&sb, ",\"up\":%s,\"lb\":\"127.0.0.1:%d\",\"heal_delay_us\":%llu,\"hosts\":[",
                  st.up ? "true" : "false", LAB_LB_PORT, (unsigned long long)st.cfg.heal_delay_us);
        for (int z = 0; st.cfg.hosts && z < st.cfg.zones; z++)
            for (int s = 0; s < st.cfg.per_zone; s++) {
                char ip[16], ns[32];
                lab_host_ns(z, s, ns, sizeof(ns));
                sbuf_addf(&sb,
                          "%s{\"zone\":\"%c\",\"name\":\"%c%d\",\"addr\":\"%s\",\"ssh_port\":%d,"
                          "\"netns\":\"%s\",\"known_hosts\":",
                          z || s ? "," : "", lab_zone_name(z), lab_zone_name(z), s + 1,
                          lab_host_ip(z, s, ip, sizeof(ip)), LAB_HOSTS_SSH_PORT, ns);
                char *kh = xasprintf("%s/ssh/known_hosts", dir);
                char *key = xasprintf("%s/ssh/id_ed25519", dir);
                sbuf_add_json_str(&sb, kh);
                sbuf_adds(&sb, ",\"key\":");
                sbuf_add_json_str(&sb, key);
                sbuf_adds(&sb, ",\"service\":\"" LAB_HOSTS_SERVICE "\"}");
                free(kh);
                free(key);
            }
        sbuf_adds(&sb, "],\"processes\":[");
        for (size_t i = 0; i < st.nprocs; i++)
            sbuf_addf(&sb, "%s{\"name\":\"%s\",\"pid\":%d,\"running\":%s,\"stopped\":%s}",
                      i ? "," : "", st.procs[i].name, (int)st.procs[i].pid,
                      st.procs[i].pid ? "true" : "false",
                      st.procs[i].state == 'T' ? "true" : "false");
        sbuf_adds(&sb, "],\"zones\":[");
        for (int z = 0; z < st.cfg.zones; z++) {
            unsigned healthy = 0, total = 0;
            for (size_t i = 0; i < st.nsrv; i++)
                if (st.srv[i].zone == z && !st.srv[i].maint) {
                    total++;
                    healthy += st.srv[i].up;
                }
            sbuf_addf(&sb,
                      "%s{\"zone\":\"%c\",\"cidr\":\"127.0.%d.0/24\",\"healthy\":%u,"
                      "\"total\":%u,\"servers\":[",
                      z ? "," : "", lab_zone_name(z), z + 1, healthy, total);
            int k = 0;
            for (size_t i = 0; i < st.nsrv; i++) {
                if (st.srv[i].zone != z)
                    continue;
                pid_t pid = 0;
                for (size_t j = 0; j < st.nprocs; j++)
                    if (strcmp(st.procs[j].name, st.srv[i].name) == 0)
                        pid = st.procs[j].pid;
                char ip[16];
                sbuf_addf(&sb, "%s{\"id\":\"%s\",\"addr\":\"%s:%d\",\"pid\":%d,\"state\":",
                          k++ ? "," : "", st.srv[i].name,
                          st.cfg.hosts
                              ? lab_host_ip(st.srv[i].zone, st.srv[i].slot, ip, sizeof(ip))
                              : lab_instance_ip(st.srv[i].zone, st.srv[i].slot, ip, sizeof(ip)),
                          LAB_INSTANCE_PORT, (int)pid);
                sbuf_add_json_str(&sb, st.srv[i].status);
                sbuf_addf(&sb, ",\"up\":%s}", st.srv[i].up ? "true" : "false");
            }
            sbuf_adds(&sb, "]}");
        }
        sbuf_adds(&sb, "],\"nft_tables\":[");
        for (size_t i = 0; i < st.nnft; i++) {
            sbuf_adds(&sb, i ? "," : "");
            sbuf_add_json_str(&sb, st.nft_tables[i]);
        }
        sbuf_adds(&sb, "]}\n");
        fputs(sbuf_str(&sb), stdout);
        sbuf_free(&sb);
    } else if (!st.up) {
        printf("lab is not up in %s\n", dir);
        for (size_t i = 0; i < st.nprocs; i++)
            if (st.procs[i].pid)
                printf("  leftover: %-8s pid %d (run 'zonedef lab down')\n", st.procs[i].name,
                       (int)st.procs[i].pid);
    } else {
        char iso[40];
        printf("lab up in %s since %s, http://127.0.0.1:%d/\n", dir,
               zd_iso8601(st.cfg.started_wall_us, iso, sizeof(iso)), LAB_LB_PORT);
        for (size_t i = 0; i < st.nprocs && i < 3; i++) {
            if (!strchr("0123456789", st.procs[i].name[1]))
                printf("  %-8s pid %-7d %s\n", st.procs[i].name, (int)st.procs[i].pid,
                       proc_word(&st.procs[i]));
        }
        for (int z = 0; z < st.cfg.zones; z++) {
            unsigned healthy = 0, total = 0;
            for (size_t i = 0; i < st.nsrv; i++)
                if (st.srv[i].zone == z && !st.srv[i].maint) {
                    total++;
                    healthy += st.srv[i].up;
                }
            printf("zone %c  127.0.%d.0/24  %u/%u healthy\n", lab_zone_name(z), z + 1, healthy,
                   total);
            for (size_t i = 0; i < st.nsrv; i++) {
                if (st.srv[i].zone != z)
                    continue;
                const struct lab_proc *p = NULL;
                for (size_t j = 0; j < st.nprocs; j++)
                    if (strcmp(st.procs[j].name, st.srv[i].name) == 0)
                        p = &st.procs[j];
                char ip[16];
                char pidw[24] = "";
                if (p && p->pid)
                    snprintf(pidw, sizeof(pidw), "  pid %d", (int)p->pid);
                printf("  %-4s %s:%d  %-10s %s%s\n", st.srv[i].name,
                       st.cfg.hosts
                           ? lab_host_ip(st.srv[i].zone, st.srv[i].slot, ip, sizeof(ip))
                           : lab_instance_ip(st.srv[i].zone, st.srv[i].slot, ip, sizeof(ip)),
                       LAB_INSTANCE_PORT, st.srv[i].status, p ? proc_word(p) : "spare slot", pidw);
            }
        }
        for (size_t i = 0; i < st.nnft; i++)
            printf("nft table inet %s (a black-holed zone)\n", st.nft_tables[i]);
    }
    int rc = st.up ? ZD_EXIT_OK : ZD_EXIT_FAILED;
    lab_status_free(&st);
    free(dir);
    return rc;
}

static int lab_down_cmd(int argc, char **argv)
{
    char *dir = NULL, *err = NULL;
    if (dir_only(argc, argv, "down", &dir, NULL) < 0)
        return ZD_EXIT_USAGE;
    int n = 0;
    if (lab_down(dir, &n, &err) < 0) {
        zd_error("lab down: %s", err);
        free(err);
        free(dir);
        return ZD_EXIT_RUNTIME;
    }
    if (n)
        printf("lab down in %s (%d processes and tables removed)\n", dir, n);
    else
        printf("lab was not up in %s (nothing to stop)\n", dir);
    free(dir);
    return ZD_EXIT_OK;
}

static int parse_u64(const char *opt, const char *v, uint64_t *out)
{
    long long x;
    char *e = NULL;
    if (zd_parse_int(v, 0, (long long)1 << 62, &x, &e) < 0) {
        zd_error("lab events: %s: %s", opt, e);
        free(e);
        return -1;
    }
    *out = (uint64_t)x;
    return 0;
}

static int lab_events_cmd(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},      {"json", no_argument, NULL, 'j'},
        {"since", required_argument, NULL, 's'},    {"until", required_argument, NULL, 'u'},
        {"interval", required_argument, NULL, 'i'}, {NULL, 0, NULL, 0},
    };
    const char *d = NULL;
    bool json = false;
    uint64_t since = 0, until = 0, interval = 100000;
    int c;
    optind = 0;
    while ((c = zd_getopt(argc, argv, "", opts)) != -1) {
        char *e = NULL;
        switch (c) {
        case 'd': d = optarg; break;
        case 'j': json = true; break;
        case 's':
            if (parse_u64("--since", optarg, &since) < 0)
                return ZD_EXIT_USAGE;
            break;
        case 'u':
            if (parse_u64("--until", optarg, &until) < 0)
                return ZD_EXIT_USAGE;
            break;
        case 'i':
            if (zd_parse_duration(optarg, &interval, &e) < 0 || interval < 1000) {
                zd_error("lab events: --interval: %s", e ? e : "at least 1ms");
                free(e);
                return ZD_EXIT_USAGE;
            }
            break;
        default: return ZD_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        zd_error("lab events: unexpected argument '%s'", argv[optind]);
        return ZD_EXIT_USAGE;
    }
    if (until && since >= until) {
        zd_error("lab events: --since must be before --until");
        return ZD_EXIT_USAGE;
    }
    char *dir = dir_or_default(d), *err = NULL;
    struct lab_events ev;
    if (lab_events_read(dir, since, until, interval, &ev, &err) < 0) {
        zd_error("lab events: %s", err);
        free(err);
        free(dir);
        return ZD_EXIT_RUNTIME;
    }
    if (json) {
        char *j = lab_events_json(&ev);
        fputs(j, stdout);
        fputc('\n', stdout);
        free(j);
    } else {
        /* servers and healer actions merged by time, then the requests in one line */
        size_t i = 0, k = 0;
        char iso[40];
        while (i < ev.nservers || k < ev.nhealer) {
            if (k >= ev.nhealer || (i < ev.nservers && ev.servers[i].t_us <= ev.healer[k].t_us)) {
                const struct lab_server_event *s = &ev.servers[i++];
                printf("%s  server %-4s %-4s %s\n", zd_iso8601(s->t_us, iso, sizeof(iso)),
                       s->server, s->state, s->reason ? s->reason : "");
            } else {
                const struct lab_healer_event *h = &ev.healer[k++];
                printf("%s  healer %-10s %s %s: %s\n", zd_iso8601(h->t_us, iso, sizeof(iso)),
                       h->action, h->zone, h->instance, h->detail);
            }
        }
        uint64_t total = 0, errors = 0;
        for (size_t b = 0; b < ev.nbuckets; b++) {
            total += ev.buckets[b].total;
            errors += ev.buckets[b].errors;
        }
        printf("requests: %llu, errors: %llu", (unsigned long long)total,
               (unsigned long long)errors);
        if (ev.first_error_us) {
            char iso2[40];
            printf(" (first %s, last %s)", zd_iso8601(ev.first_error_us, iso, sizeof(iso)),
                   zd_iso8601(ev.last_error_us, iso2, sizeof(iso2)));
        }
        printf("\n");
        for (size_t s = 0; s < ev.nstatus; s++) {
            uint64_t n = 0;
            for (size_t b = 0; b < ev.nbuckets; b++)
                n += ev.buckets[b].status[s];
            printf("  status %d: %llu\n", ev.status_codes[s], (unsigned long long)n);
        }
    }
    lab_events_free(&ev);
    free(dir);
    return ZD_EXIT_OK;
}

/* Hidden: the healer the lab starts (`lab healer --dir DIR`). */
static int lab_healer_cmd(int argc, char **argv)
{
    char *dir = NULL, *err = NULL;
    if (dir_only(argc, argv, "healer", &dir, NULL) < 0)
        return ZD_EXIT_USAGE;
    install_stop_handlers();
    int rc = lab_healer_run(dir, "/proc/self/exe", &stop_flag, &err);
    if (rc < 0) {
        zd_error("lab healer: %s", err);
        free(err);
    }
    free(dir);
    return rc < 0 ? ZD_EXIT_RUNTIME : ZD_EXIT_OK;
}

/* Hidden: one instance (`lab instance --id b1 --ip 127.0.2.1 [--port 18080] [--dir DIR]`). */
static int lab_instance_cmd(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"id", required_argument, NULL, 'i'},
        {"ip", required_argument, NULL, 'a'},
        {"port", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    struct lab_instance_opts o = {.port = LAB_INSTANCE_PORT, .stop = &stop_flag};
    int c;
    optind = 0;
    while ((c = zd_getopt(argc, argv, "", opts)) != -1) {
        switch (c) {
        case 'd': o.dir = optarg; break;
        case 'i': o.id = optarg; break;
        case 'a': o.ip = optarg; break;
        case 'p':
            if (parse_int_opt("--port", optarg, 1, 65535, &o.port) < 0)
                return ZD_EXIT_USAGE;
            break;
        default: return ZD_EXIT_USAGE;
        }
    }
    if (!o.id || !o.ip) {
        zd_error("lab instance: --id and --ip are required");
        return ZD_EXIT_USAGE;
    }
    install_stop_handlers();
    char *err = NULL;
    if (lab_instance_run(&o, &err) < 0) {
        zd_error("lab instance %s: %s", o.id, err);
        free(err);
        return ZD_EXIT_RUNTIME;
    }
    return ZD_EXIT_OK;
}

int cmd_lab(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } subs[] = {
        {"up", lab_up_cmd},         {"status", lab_status_cmd}, {"down", lab_down_cmd},
        {"events", lab_events_cmd}, {"healer", lab_healer_cmd}, {"instance", lab_instance_cmd},
    };
    if (argc < 2) {
        fputs(usage_lab, stderr);
        return ZD_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_lab, stdout);
        return ZD_EXIT_OK;
    }
    for (size_t i = 0; i < ZD_ARRAY_LEN(subs); i++) {
        if (strcmp(subs[i].name, argv[1]) == 0) {
            if (zd_wants_help(argc - 1, argv + 1, usage_lab))
                return ZD_EXIT_OK;
            /* so option errors read "zonedef lab up: ..." */
            char *name = xasprintf("lab %s", subs[i].name);
            argv[1] = name;
            int rc = subs[i].fn(argc - 1, argv + 1);
            free(name);
            return rc;
        }
    }
    const char *cands[] = {"up", "status", "down", "events", NULL};
    const char *s = zd_suggest(argv[1], cands);
    if (s)
        zd_error("lab: '%s' is not a lab command (did you mean '%s'?)", argv[1], s);
    else
        zd_error("lab: '%s' is not a lab command (up, status, down, events)", argv[1]);
    return ZD_EXIT_USAGE;
}
