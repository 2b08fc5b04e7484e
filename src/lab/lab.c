/*
 * lab: bringing the local lab up and down, and what it looks like now.
 *
 * `lab_up` writes the configuration into the lab directory, starts the healer (which starts
 * the instances, so it is their parent and sees them die), then HAProxy in the foreground with
 * its log on stdout redirected to DIR/haproxy.log, then optionally a private sshd; it returns
 * when HAProxy reports every server UP. Every process is recorded in DIR/run/<name>.pid as
 * "pid starttime", and nothing is ever signalled unless its start time still matches, so a pid
 * recycled by the system is never hit. `lab_down` stops them by pid (the healer first, so it
 * does not replace what is being stopped), deletes the nft tables the lab's faults add, and
 * checks that nothing survived. Logs stay in the directory after down: they are the ground
 * truth a run is checked against.
 */
#include "lab/lab.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/trust.h"
#include "base/util.h"

#include "base/banned.h"

#define UP_DEADLINE_US 5000000ull

void lab_config_default(struct lab_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->zones = 3;
    cfg->per_zone = 2;
    cfg->spares = LAB_SPARES;
    cfg->heal_delay_us = 3000000;
}

char *lab_default_dir(void)
{
    const char *d = getenv("ZONEDEF_LAB_DIR");
    if (d && *d)
        return xstrdup(d);
    d = getenv("XDG_STATE_HOME");
    if (d && *d)
        return xasprintf("%s/zonedef/lab", d);
    d = getenv("HOME");
    if (!d || !*d) {
        /* never a shared place like /tmp: the user's own home from the password database */
        struct passwd *pw = getpwuid(geteuid());
        d = pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
    }
    if (!d)
        return xstrdup("/nonexistent/zonedef/lab"); /* no home at all: fails clearly on use */
    return xasprintf("%s/.local/state/zonedef/lab", d);
}

int lab_dir_check(const char *dir, char **err)
{
    int fd = zd_open_trusted(dir, "run", O_RDONLY | O_DIRECTORY, NULL, err);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

int lab_dir_make(const char *dir, bool *created, char **err)
{
    *created = false;
    int e = 0;
    if (zd_mkdir_private(dir, true, &e, NULL) == 0) {
        *created = true;
        return 0;
    }
    if (e != EEXIST)
        return zd_mkdir_private(dir, true, NULL, err);
    return zd_check_trusted_dir(dir, err);
}

/* rm -r of a directory the lab made, without following any symlink inside it. */
static void remove_tree_at(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        unlinkat(dfd, name, 0);
        return;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (de->d_type == DT_DIR)
            remove_tree_at(dirfd(d), de->d_name);
        else
            unlinkat(dirfd(d), de->d_name, 0);
    }
    closedir(d);
    unlinkat(dfd, name, AT_REMOVEDIR);
}

void lab_dir_remove(const char *dir)
{
    remove_tree_at(AT_FDCWD, dir);
}

/* ---- configuration ---- */

int lab_config_save(const char *dir, const struct lab_config *c, char **err)
{
    char *path = xasprintf("%s/lab.conf", dir);
    char *text =
        xasprintf("zones=%d\nper_zone=%d\nspares=%d\nheal_delay_us=%llu\nssh=%d\n"
                  "hosts=%d\nstarted_wall_us=%llu\n",
                  c->zones, c->per_zone, c->spares, (unsigned long long)c->heal_delay_us,
                  c->ssh ? 1 : 0, c->hosts ? 1 : 0, (unsigned long long)c->started_wall_us);
    int rc = zd_write_file_atomic(path, text, strlen(text), err);
    free(path);
    free(text);
    return rc;
}

int lab_config_load(const char *dir, struct lab_config *c, char **err)
{
    char *path = xasprintf("%s/lab.conf", dir), *text = NULL;
    lab_config_default(c);
    if (zd_read_file(path, 4096, &text, NULL, err) < 0) {
        free(path);
        return -1;
    }
    char *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char k[32];
        unsigned long long v;
        if (sscanf(l, "%31[^=]=%llu", k, &v) != 2)
            continue;
        if (strcmp(k, "zones") == 0 && v >= 1 && v <= LAB_MAX_ZONES)
            c->zones = (int)v;
        else if (strcmp(k, "per_zone") == 0 && v >= 1 && v <= LAB_MAX_PER_ZONE)
            c->per_zone = (int)v;
        else if (strcmp(k, "spares") == 0 && v <= LAB_SPARES)
            c->spares = (int)v;
        else if (strcmp(k, "heal_delay_us") == 0 && v <= LAB_MAX_HEAL_DELAY_US)
            c->heal_delay_us = v;
        else if (strcmp(k, "ssh") == 0)
            c->ssh = v != 0;
        else if (strcmp(k, "hosts") == 0)
            c->hosts = v != 0;
        else if (strcmp(k, "started_wall_us") == 0)
            c->started_wall_us = v;
    }
    free(text);
    free(path);
    return 0;
}

/* ---- processes ---- */

static int proc_stat(pid_t pid, char *state, unsigned long long *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* the command name may hold spaces and parentheses: fields start after the last ')' */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    char st;
    unsigned long long v = 0;
    if (sscanf(p + 1,
               " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
               "%*d %llu",
               &st, &v) != 2)
        return -1;
    if (state)
        *state = st;
    if (start)
        *start = v;
    return 0;
}

unsigned long long lab_proc_starttime(pid_t pid)
{
    unsigned long long s = 0;
    return proc_stat(pid, NULL, &s) == 0 ? s : 0;
}

char lab_proc_state(pid_t pid)
{
    char c = 0;
    return proc_stat(pid, &c, NULL) == 0 ? c : 0;
}

int lab_pid_record(const char *dir, const char *name, pid_t *pid, unsigned long long *start,
                   char **err)
{
    *pid = 0;
    *start = 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            return zd_err(err, "'%s' is not a name the lab records", name);
    char *rel = xasprintf("run/%s.pid", name);
    int fd = zd_open_trusted(dir, rel, O_RDONLY, NULL, err);
    free(rel);
    if (fd < 0)
        return -1;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    int ip = 0;
    if (n <= 0 || (buf[n] = '\0', sscanf(buf, "%d %llu", &ip, start) != 2) || ip <= 1)
        return zd_err(err, "the lab's record of '%s' is damaged", name);
    *pid = ip;
    return 0;
}

int lab_pid_put(const char *dir, const char *name, pid_t pid, char **err)
{
    char *path = xasprintf("%s/run/%s.pid", dir, name);
    char *text = xasprintf("%d %llu\n", (int)pid, lab_proc_starttime(pid));
    int rc = zd_write_file_atomic(path, text, strlen(text), err);
    free(path);
    free(text);
    return rc;
}

pid_t lab_pid_get(const char *dir, const char *name)
{
    pid_t pid = 0;
    unsigned long long start = 0;
    /* only a record nobody else could have written (trust.h) names a process to signal */
    if (lab_pid_record(dir, name, &pid, &start, NULL) < 0)
        return 0;
    char st = 0;
    unsigned long long now = 0;
    if (proc_stat(pid, &st, &now) < 0 || st == 'Z' || st == 'X' || now != start)
        return 0;
    return pid;
}

void lab_pid_remove(const char *dir, const char *name)
{
    char *path = xasprintf("%s/run/%s.pid", dir, name);
    unlink(path);
    free(path);
}

/* fork + exec with stdin from /dev/null and stdout/stderr to files (or /dev/null), in a new
 * session so a terminal's ^C does not reach the lab, and in / like any daemon: the caller's
 * directory may be one the lab's user cannot enter (HAProxy then refuses to start: "Impossible
 * to get back to initial directory"), and a daemon should not keep it busy. Every path the lab
 * hands its processes is absolute. Returns the pid or -1. */
static pid_t spawn(const char *path, char *const argv[], const char *out, const char *errp,
                   char **err)
{
    pid_t pid = fork();
    if (pid < 0)
        return zd_err(err, "fork: %s", strerror(errno));
    if (pid == 0) {
        setsid();
        if (chdir("/") < 0)
            _exit(127);
        int in = open("/dev/null", O_RDONLY);
        int o = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0644);
        int e = open(errp ? errp : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0644);
        if (in < 0 || o < 0 || e < 0)
            _exit(127);
        dup2(in, 0);
        dup2(o, 1);
        dup2(e, 2);
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        signal(SIGPIPE, SIG_DFL);
        execv(path, argv);
        _exit(127);
    }
    return pid;
}

int lab_nft_tables(char ***names, size_t *n, char **err)
{
    *names = NULL;
    *n = 0;
    char *out = NULL;
    char *argv[] = {(char *)"nft", (char *)"list", (char *)"tables", NULL};
    int rc = lab_run(argv, 5000000, &out, err);
    if (rc < 0)
        return -1;
    if (rc != 0) {
        zd_err(err, "nft list tables: %.*s", (int)strcspn(out, "\n"), out);
        free(out);
        return -1;
    }
    size_t cap = 0;
    char *save = NULL;
    for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char fam[16], name[64];
        if (sscanf(l, "table %15s %63s", fam, name) != 2 || strcmp(fam, "inet") != 0 ||
            !zd_str_has_prefix(name, LAB_NFT_PREFIX))
            continue;
        ZD_GROW(*names, cap, *n + 1);
        (*names)[(*n)++] = xstrdup(name);
    }
    free(out);
    return 0;
}

/* ---- up ---- */

static bool port_in_use(const char *ip, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    bool used = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == EADDRINUSE;
    close(fd);
    return used;
}

static bool accepts(const char *ip, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* The last non-empty line of a file, for error messages. */
static char *last_line(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    if (zd_read_file(path, 1u << 20, &text, &len, NULL) < 0)
        return xstrdup("");
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    char *nl = strrchr(text, '\n');
    char *r = xstrdup(nl ? nl + 1 : text);
    free(text);
    return r;
}

static int start_sshd(const char *dir, char **err)
{
    char *sdir = xasprintf("%s/ssh", dir);
    char *hk = xasprintf("%s/ssh_host_ed25519_key", sdir);
    char *uk = xasprintf("%s/id_ed25519", sdir);
    char *cfgp = xasprintf("%s/sshd_config", sdir);
    char *kh = xasprintf("%s/known_hosts", sdir);
    char *ak = xasprintf("%s/authorized_keys", sdir);
    char *log = xasprintf("%s/sshd.log", dir);
    int rc = -1;
    char *out = NULL;
    if (zd_mkdir_p(sdir, 0700, err) < 0)
        goto done;
    /* keys survive a down/up cycle, so a known_hosts entry copied elsewhere stays valid */
    const char *keys[] = {hk, uk};
    for (size_t i = 0; i < 2; i++) {
        if (zd_file_exists(keys[i]))
            continue;
        char *argv[] = {(char *)"ssh-keygen", (char *)"-q",    (char *)"-t", (char *)"ed25519",
                        (char *)"-N",         (char *)"",      (char *)"-C", (char *)"zonedef-lab",
                        (char *)"-f",         (char *)keys[i], NULL};
        free(out);
        out = NULL;
        int r = lab_run(argv, 10000000, &out, err);
        if (r != 0) {
            if (r > 0)
                zd_err(err, "ssh-keygen: %.*s", (int)strcspn(out, "\n"), out);
            goto done;
        }
    }
    char *hpub = NULL, *upub = NULL;
    char *hpubp = xasprintf("%s.pub", hk), *upubp = xasprintf("%s.pub", uk);
    int r1 = zd_read_file(hpubp, 4096, &hpub, NULL, err);
    int r2 = r1 == 0 ? zd_read_file(upubp, 4096, &upub, NULL, err) : -1;
    free(hpubp);
    free(upubp);
    if (r1 < 0 || r2 < 0) {
        free(hpub);
        free(upub);
        goto done;
    }
    char kt[32], kb[512];
    char *khl = NULL;
    if (sscanf(hpub, "%31s %511s", kt, kb) == 2)
        khl = xasprintf("[127.0.0.1]:%d %s %s\n", LAB_SSH_PORT, kt, kb);
    free(hpub);
    int w = khl ? zd_write_file_atomic(kh, khl, strlen(khl), err) : zd_err(err, "bad host key");
    free(khl);
    if (w == 0)
        w = zd_write_file_atomic(ak, upub, strlen(upub), err);
    free(upub);
    if (w < 0)
        goto done;
    char *conf = xasprintf("# generated by 'zonedef lab up --ssh'\n"
                           "Port %d\nListenAddress 127.0.0.1\n"
                           "HostKey %s\nHostKeyAlgorithms ssh-ed25519\n"
                           "AuthorizedKeysFile %s\nStrictModes no\nPidFile none\n"
                           "PubkeyAuthentication yes\nPasswordAuthentication no\n"
                           "KbdInteractiveAuthentication no\nUsePAM no\n"
                           "PermitRootLogin prohibit-password\nLogLevel VERBOSE\n"
                           "MaxStartups 200:30:400\nMaxSessions 64\n",
                           LAB_SSH_PORT, hk, ak);
    w = zd_write_file_atomic(cfgp, conf, strlen(conf), err);
    free(conf);
    if (w < 0)
        goto done;
    /* sshd refuses to start without its privilege separation directory */
    if (geteuid() == 0 && !zd_file_exists("/run/sshd"))
        mkdir("/run/sshd", 0755);
    char *argv[] = {(char *)"/usr/sbin/sshd", (char *)"-D", (char *)"-e", (char *)"-f", cfgp, NULL};
    pid_t pid = spawn(argv[0], argv, log, log, err);
    if (pid < 0)
        goto done;
    rc = lab_pid_put(dir, "sshd", pid, err);
done:
    free(out);
    free(sdir);
    free(hk);
    free(uk);
    free(cfgp);
    free(kh);
    free(ak);
    free(log);
    return rc;
}

/* Removes leftovers of an earlier lab in dir/run (pid files of dead processes, stats). */
static void clean_run_dir(const char *dir)
{
    char *run = xasprintf("%s/run", dir);
    DIR *d = opendir(run);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char *p = xasprintf("%s/%s", run, e->d_name);
            unlink(p);
            free(p);
        }
        closedir(d);
    }
    free(run);
}

static bool all_servers_up(const char *dir, const struct lab_config *cfg)
{
    struct lab_srv *srv = NULL;
    size_t n = 0;
    if (lab_haproxy_servers(dir, &srv, &n, NULL) < 0)
        return false;
    int up = 0;
    for (size_t i = 0; i < n; i++)
        if (srv[i].slot < cfg->per_zone && srv[i].up && strcmp(srv[i].status, "UP") == 0)
            up++;
    free(srv);
    return up == cfg->zones * cfg->per_zone;
}

int lab_up(const char *dir, const struct lab_config *cfg, const char *exe, uint64_t *ready_us,
           char **err)
{
    uint64_t t0 = zd_now_us();
    if (strlen(dir) > LAB_MAX_DIR)
        return zd_err(err,
                      "lab directory '%s' is longer than %d characters (HAProxy's socket "
                      "lives there and unix socket paths are short)",
                      dir, LAB_MAX_DIR);
    if (lab_pid_get(dir, "haproxy") || lab_pid_get(dir, "healer"))
        return 1;
    if (port_in_use("127.0.0.1", LAB_LB_PORT))
        return zd_err(err,
                      "127.0.0.1:%d is already in use (another lab up in another directory? "
                      "see 'ss -ltnp')",
                      LAB_LB_PORT);
    char ip[16];
    for (int z = 0; z < cfg->zones && !cfg->hosts; z++)
        for (int s = 0; s < cfg->per_zone + cfg->spares; s++)
            if (port_in_use(lab_instance_ip(z, s, ip, sizeof(ip)), LAB_INSTANCE_PORT))
                return zd_err(err, "%s:%d is already in use (see 'ss -ltnp')", ip,
                              LAB_INSTANCE_PORT);
    if (cfg->ssh && port_in_use("127.0.0.1", LAB_SSH_PORT))
        return zd_err(err, "127.0.0.1:%d is already in use (see 'ss -ltnp')", LAB_SSH_PORT);
    /* the lab's records decide what its faults signal: its directories are private (0700) and
     * an existing one is used only when it is ours and nobody else can write it */
    char *run = xasprintf("%s/run", dir);
    int rc = zd_check_trusted_dir(dir, err) < 0 ? -1 : zd_mkdir_private(run, false, NULL, err);
    free(run);
    if (rc < 0)
        return -1;
    clean_run_dir(dir);

    struct lab_config c = *cfg;
    c.started_wall_us = zd_wall_us();
    if (c.hosts)
        c.spares = 0; /* a host's own supervisor restarts its server; no healer, no spares */
    if (lab_config_save(dir, &c, err) < 0)
        return -1;
    char *hcfg = lab_haproxy_config(dir, &c);
    char *hcfgp = xasprintf("%s/haproxy.cfg", dir);
    char *hlog = xasprintf("%s/haproxy.log", dir), *herr = xasprintf("%s/haproxy.err", dir);
    char *llog = xasprintf("%s/healer.log", dir), *lout = xasprintf("%s/healer.out", dir);
    rc = zd_write_file_atomic(hcfgp, hcfg, strlen(hcfg), err);
    free(hcfg);
    if (rc < 0)
        goto done;
    /* a new lab, a new ground truth */
    const char *fresh[] = {hlog, herr, llog, lout};
    for (size_t i = 0; i < ZD_ARRAY_LEN(fresh); i++) {
        int fd = open(fresh[i], O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0)
            close(fd);
    }

    if (c.hosts) {
        pid_t hpids[LAB_MAX_ZONES * LAB_MAX_PER_ZONE];
        for (size_t i = 0; i < ZD_ARRAY_LEN(hpids); i++)
            hpids[i] = -1;
        int hr = lab_hosts_up(dir, &c, exe, hpids, err);
        for (int z = 0; z < c.zones; z++)
            for (int s = 0; s < c.per_zone; s++) {
                char name[32];
                snprintf(name, sizeof(name), "host-%c%d", lab_zone_name(z), s + 1);
                if (hpids[z * c.per_zone + s] > 0)
                    lab_pid_put(dir, name, hpids[z * c.per_zone + s], NULL);
            }
        if (hr < 0)
            goto fail;
        goto instances_ready;
    }
    char *hargv[] = {(char *)exe,     (char *)"lab", (char *)"healer",
                     (char *)"--dir", (char *)dir,   NULL};
    pid_t hp = spawn(exe, hargv, lout, lout, err);
    if (hp < 0 || (rc = lab_pid_put(dir, "healer", hp, err)) < 0) {
        rc = -1;
        goto done;
    }
    /* the instances must listen before HAProxy's first check, or it starts with them DOWN */
    for (;;) {
        int ready = 0;
        for (int z = 0; z < c.zones; z++) {
            for (int s = 0; s < c.per_zone; s++) {
                char name[32];
                snprintf(name, sizeof(name), "inst-%c%d", lab_zone_name(z), s + 1);
                if (lab_pid_get(dir, name) &&
                    accepts(lab_instance_ip(z, s, ip, sizeof(ip)), LAB_INSTANCE_PORT))
                    ready++;
            }
        }
        if (ready == c.zones * c.per_zone)
            break;
        if (!lab_pid_get(dir, "healer") || zd_now_us() - t0 > UP_DEADLINE_US) {
            char *l = last_line(lout);
            rc = zd_err(err, "the instances did not start (%d of %d listening)%s%s", ready,
                        c.zones * c.per_zone, *l ? ": " : "", l);
            free(l);
            goto fail;
        }
        zd_sleep_us(20000);
    }
instances_ready:;
    char *xargv[] = {(char *)"/usr/sbin/haproxy", (char *)"-db", (char *)"-f", hcfgp, NULL};
    if (!zd_file_exists(xargv[0]))
        xargv[0] = (char *)"/usr/bin/haproxy";
    if (!zd_file_exists(xargv[0])) {
        zd_err(err, "HAProxy is not installed (/usr/sbin/haproxy; 'make deps' installs it)");
        goto fail;
    }
    pid_t xp = spawn(xargv[0], xargv, hlog, herr, err);
    if (xp < 0 || lab_pid_put(dir, "haproxy", xp, err) < 0)
        goto fail;
    if (c.ssh && !zd_file_exists("/usr/sbin/sshd")) {
        zd_err(err, "sshd is not installed (/usr/sbin/sshd; 'make deps' installs it)");
        goto fail;
    }
    if (c.ssh && start_sshd(dir, err) < 0)
        goto fail;
    for (;;) {
        if (all_servers_up(dir, &c) && (!c.ssh || accepts("127.0.0.1", LAB_SSH_PORT)))
            break;
        if (!lab_pid_get(dir, "haproxy")) {
            char *l = last_line(herr);
            zd_err(err, "HAProxy exited: %s", *l ? l : "(no message; see haproxy.err)");
            free(l);
            goto fail;
        }
        if (c.ssh && !lab_pid_get(dir, "sshd")) {
            char *sl = xasprintf("%s/sshd.log", dir);
            char *l = last_line(sl);
            free(sl);
            zd_err(err, "sshd exited: %s", *l ? l : "(no message)");
            free(l);
            goto fail;
        }
        if (zd_now_us() - t0 > UP_DEADLINE_US) {
            zd_err(err,
                   "the lab was not ready within 5s (HAProxy does not report every server "
                   "UP; see %s)",
                   hlog);
            goto fail;
        }
        zd_sleep_us(20000);
    }
    if (ready_us)
        *ready_us = zd_now_us() - t0;
    rc = 0;
    goto done;
fail:
    rc = -1;
    lab_down(dir, NULL, NULL);
done:
    free(hcfgp);
    free(hlog);
    free(herr);
    free(llog);
    free(lout);
    return rc;
}

/* ---- down ---- */

static bool wait_gone(pid_t pid, unsigned long long start, uint64_t timeout_us)
{
    uint64_t t0 = zd_now_us();
    for (;;) {
        char st = 0;
        unsigned long long s = 0;
        if (proc_stat(pid, &st, &s) < 0 || s != start || st == 'Z' || st == 'X')
            return true;
        if (zd_now_us() - t0 >= timeout_us)
            return false;
        waitpid(pid, NULL, WNOHANG); /* ours when lab_up failed half-way */
        zd_sleep_us(10000);
    }
}

/* Stops one recorded process: TERM (CONT first, in case a fault froze it), then KILL. */
static int stop_one(const char *dir, const char *name, int sig, char **err)
{
    pid_t pid = lab_pid_get(dir, name);
    if (!pid) {
        lab_pid_remove(dir, name);
        return 0;
    }
    unsigned long long start = lab_proc_starttime(pid);
    kill(pid, sig);
    kill(pid, SIGCONT);
    if (!wait_gone(pid, start, 2000000)) {
        kill(pid, SIGKILL);
        if (!wait_gone(pid, start, 2000000))
            return zd_err(err, "%s (pid %d) did not stop", name, (int)pid);
    }
    lab_pid_remove(dir, name);
    return 1;
}

int lab_down(const char *dir, int *stopped, char **err)
{
    int n = 0, rc = 0;
    char *e = NULL;
    /* count what runs now: the healer stops its own instances before we get to them */
    char *rdir = xasprintf("%s/run", dir);
    DIR *dd = opendir(rdir);
    int live = 0;
    if (dd) {
        struct dirent *de;
        while ((de = readdir(dd))) {
            size_t l = strlen(de->d_name);
            char name[256];
            if (l < 5 || l > 200 || strcmp(de->d_name + l - 4, ".pid") != 0)
                continue;
            snprintf(name, sizeof(name), "%.*s", (int)(l - 4), de->d_name);
            live += lab_pid_get(dir, name) != 0;
        }
        closedir(dd);
    }
    free(rdir);
    /* the healer first: it stops its instances and must not replace what goes away */
    const char *first[] = {"healer", "haproxy", "sshd"};
    for (size_t i = 0; i < ZD_ARRAY_LEN(first); i++) {
        int r = stop_one(dir, first[i], SIGTERM, &e);
        if (r < 0)
            rc = -1;
        else
            n += r;
    }
    char *run = xasprintf("%s/run", dir);
    DIR *d = opendir(run);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t l = strlen(de->d_name);
            if (l < 5 || strcmp(de->d_name + l - 4, ".pid") != 0)
                continue;
            char name[256];
            snprintf(name, sizeof(name), "%.*s", (int)(l - 4), de->d_name);
            int r = stop_one(dir, name, SIGKILL, &e);
            if (r < 0)
                rc = -1;
            else
                n += r;
        }
        closedir(d);
    }
    free(run);
    struct lab_config hc;
    char *he = NULL;
    if (lab_config_load(dir, &hc, &he) == 0 && hc.hosts) {
        int hn = 0;
        if (lab_hosts_down(dir, &hn, &he) < 0) {
            rc = -1;
            free(e);
            e = he;
            he = NULL;
        }
        n += hn;
    }
    free(he);
    clean_run_dir(dir);
    char *sock = xasprintf("%s/haproxy.sock", dir);
    unlink(sock);
    free(sock);
    /* every table a lab fault added (named with our prefix: the lab's addresses are fixed, so
     * one lab at a time owns them) */
    char **tabs = NULL;
    size_t nt = 0;
    if (lab_nft_tables(&tabs, &nt, NULL) == 0) {
        for (size_t i = 0; i < nt; i++) {
            char *argv[] = {(char *)"nft",  (char *)"delete", (char *)"table",
                            (char *)"inet", tabs[i],          NULL};
            char *out = NULL;
            if (lab_run(argv, 5000000, &out, NULL) != 0) {
                rc = -1;
                zd_err(&e, "cannot delete nft table inet %s: %.*s", tabs[i],
                       out ? (int)strcspn(out, "\n") : 0, out ? out : "");
            } else {
                n++;
            }
            free(out);
            free(tabs[i]);
        }
        free(tabs);
    }
    if (stopped)
        *stopped = n > live ? n : live;
    return zd_err_hand(err, e, rc);
}

/* ---- status ---- */

int lab_status_get(const char *dir, struct lab_status *st, char **err)
{
    memset(st, 0, sizeof(*st));
    char *e = NULL;
    if (lab_config_load(dir, &st->cfg, &e) < 0) {
        free(e);
        lab_config_default(&st->cfg);
    }
    size_t cap = 0;
    const char *fixed[] = {"haproxy", "healer", "sshd"};
    for (size_t i = 0; i < ZD_ARRAY_LEN(fixed); i++) {
        if (i == 2 && !st->cfg.ssh)
            continue;
        ZD_GROW(st->procs, cap, st->nprocs + 1);
        struct lab_proc *p = &st->procs[st->nprocs++];
        snprintf(p->name, sizeof(p->name), "%s", fixed[i]);
        p->pid = lab_pid_get(dir, fixed[i]);
        p->state = p->pid ? lab_proc_state(p->pid) : 0;
    }
    st->up = st->procs[0].pid != 0;
    for (int z = 0; z < st->cfg.zones; z++) {
        for (int s = 0; s < st->cfg.per_zone + st->cfg.spares; s++) {
            char name[32];
            snprintf(name, sizeof(name), "%s-%c%d", st->cfg.hosts ? "host" : "inst",
                     lab_zone_name(z), s + 1);
            pid_t pid = lab_pid_get(dir, name);
            if (!pid && s >= st->cfg.per_zone)
                continue; /* an unused spare slot */
            ZD_GROW(st->procs, cap, st->nprocs + 1);
            struct lab_proc *p = &st->procs[st->nprocs++];
            snprintf(p->name, sizeof(p->name), "%c%d", lab_zone_name(z), s + 1);
            p->pid = pid;
            p->state = pid ? lab_proc_state(pid) : 0;
        }
    }
    if (st->up && lab_haproxy_servers(dir, &st->srv, &st->nsrv, &e) < 0) {
        free(e);
        e = NULL;
    }
    if (lab_nft_tables(&st->nft_tables, &st->nnft, &e) < 0)
        free(e);
    (void)err;
    return 0;
}

void lab_status_free(struct lab_status *st)
{
    free(st->procs);
    free(st->srv);
    for (size_t i = 0; i < st->nnft; i++)
        free(st->nft_tables[i]);
    free(st->nft_tables);
    memset(st, 0, sizeof(*st));
}
