/*
 * hosts: `lab up --hosts`, every lab instance a host of its own, so SSH faults act on
 * something real.
 *
 * Host N of zone Z (a1, b2, ...) is the network namespace zonedef-<id>, joined to the bridge
 * zonedefbr0 (10.213.0.1/16, root namespace) by the veth pair zdv-<id> / eth0, with the address
 * 10.213.<Z+1>.<N+1>/16 and no default route: nothing in a host reaches further than the lab's
 * subnet, and a root-namespace nft table (inet zonedef_hosts_guard) drops whatever a host opens
 * towards the machine itself (only replies to connections the machine opened get through).
 *
 * In the namespace, `unshare --pid --mount --fork --mount-proc` runs DIR/hosts/<id>/init.sh as
 * pid 1 of a PID namespace of its own, with /proc mounted afresh and an empty /run/systemd (so
 * nothing in a host can ask the machine's systemd for anything): a `kill_process` on one host sees
 * only that host's processes. /tmp stays shared (the lab's directory may live there): what faults
 * leave in /tmp is named per host. init.sh starts the host's sshd on port 22 (host key per host,
 * the lab's client keys authorized) and its HTTP server, the process `web` (a link to the zonedef
 * binary, so `pkill -x web` names it), and restarts the server after the heal delay when it dies,
 * as an auto-scaling group would. `service web stop` and `start` work on every host (an init.d
 * script bind-mounted over /etc/init.d inside it).
 *
 * Every name starts with `zonedef` (namespaces, bridge, guard table) or `zdv-` (veths), so
 * lab_hosts_down finds and removes them by name after a crash too.
 */
#include "lab/lab.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/util.h"

#include "base/banned.h"

#define CMD_TIMEOUT_US   10000000ull
#define HOSTS_READY_US   15000000ull
#define GUARD_TABLE      "zonedef_hosts_guard"
#define VETH_PREFIX      "zdv-"
#define HOSTS_SUBNET_GW  "10.213.0.1/16"
#define HOSTS_MAX_OUTPUT 4096

/* Runs a command given as a NULL-terminated list; -1 with *err naming it on failure. */
static int run(char **err, const char *a0, ...)
{
    char *argv[24];
    va_list ap;
    va_start(ap, a0);
    size_t n = 0;
    argv[n++] = (char *)a0;
    const char *a;
    while (n < ZD_ARRAY_LEN(argv) - 1 && (a = va_arg(ap, const char *)))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    char *out = NULL, *e = NULL;
    int rc = lab_run(argv, CMD_TIMEOUT_US, &out, &e);
    if (rc != 0) {
        struct sbuf sb = SBUF_INIT;
        for (size_t i = 0; i < n; i++)
            sbuf_addf(&sb, "%s%s", i ? " " : "", argv[i]);
        if (rc < 0)
            zd_err(err, "%s: %s", sbuf_str(&sb), e);
        else
            zd_err(err, "%s: %.*s", sbuf_str(&sb), out ? (int)strcspn(out, "\n") : 0,
                   out ? out : "");
        sbuf_free(&sb);
        rc = -1;
    }
    free(out);
    free(e);
    return rc;
}

/* A value inside single quotes in a generated script. */
static void sq(struct sbuf *sb, const char *s)
{
    sbuf_addc(sb, '\'');
    for (; *s; s++)
        if (*s == '\'')
            sbuf_adds(sb, "'\\''");
        else
            sbuf_addc(sb, *s);
    sbuf_addc(sb, '\'');
}

static int keygen(const char *path, const char *type, char **err)
{
    if (zd_file_exists(path))
        return 0;
    const char *bits = strcmp(type, "rsa") == 0 ? "2048" : "256";
    return run(err, "ssh-keygen", "-q", "-t", type, "-b", bits, "-N", "", "-C", "zonedef-lab", "-f",
               path, NULL);
}

static bool accepts(const char *ip, int port, uint64_t timeout_us)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return false;
    bool ok = false;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        ok = true;
    } else if (errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int e = 0;
        socklen_t l = sizeof(e);
        ok = poll(&p, 1, (int)(timeout_us / 1000)) == 1 &&
             getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) == 0 && e == 0;
    }
    close(fd);
    return ok;
}

/* The client keys (ed25519 for use, rsa to show the SHA-1 refusal) and authorized_keys. */
static int client_keys(const char *dir, char **err)
{
    char *sdir = xasprintf("%s/ssh", dir);
    char *ed = xasprintf("%s/id_ed25519", sdir), *rsa = xasprintf("%s/id_rsa", sdir);
    char *ak = xasprintf("%s/authorized_keys", sdir);
    int rc = -1;
    if (zd_mkdir_p(sdir, 0700, err) < 0 || keygen(ed, "ed25519", err) < 0 ||
        keygen(rsa, "rsa", err) < 0)
        goto done;
    struct sbuf sb = SBUF_INIT;
    const char *keys[] = {ed, rsa};
    for (size_t i = 0; i < 2; i++) {
        char *p = xasprintf("%s.pub", keys[i]), *t = NULL;
        int r = zd_read_file(p, 8192, &t, NULL, err);
        free(p);
        if (r < 0) {
            sbuf_free(&sb);
            goto done;
        }
        sbuf_adds(&sb, t);
        free(t);
    }
    rc = zd_write_file_atomic(ak, sbuf_str(&sb), sb.len, err);
    sbuf_free(&sb);
done:
    free(sdir);
    free(ed);
    free(rsa);
    free(ak);
    return rc;
}

/* Writes the host's files: host key, sshd_config, init.sh, init.d/web. Appends its
 * known_hosts line to kh. */
static int host_files(const char *dir, const struct lab_config *cfg, int z, int s, const char *ip,
                      const char *web, struct sbuf *kh, char **err)
{
    char id[16];
    snprintf(id, sizeof(id), "%c%d", lab_zone_name(z), s + 1);
    char *h = xasprintf("%s/hosts/%s", dir, id);
    char *initd = xasprintf("%s/init.d", h);
    char *hk = xasprintf("%s/ssh_host_ed25519_key", h);
    int rc = -1;
    char *pub = NULL;
    if (zd_mkdir_p(initd, 0755, err) < 0 || keygen(hk, "ed25519", err) < 0)
        goto done;
    char *pubp = xasprintf("%s.pub", hk);
    int r = zd_read_file(pubp, 4096, &pub, NULL, err);
    free(pubp);
    if (r < 0)
        goto done;
    char kt[32], kb[512];
    if (sscanf(pub, "%31s %511s", kt, kb) != 2) {
        zd_err(err, "bad host key in %s.pub", hk);
        goto done;
    }
    sbuf_addf(kh, "%s %s %s\n", ip, kt, kb);

    char *conf = xasprintf("# generated by 'zonedef lab up --hosts': host %s\n"
                           "Port 22\nListenAddress %s\n"
                           "HostKey %s\nHostKeyAlgorithms ssh-ed25519\n"
                           "AuthorizedKeysFile %s/ssh/authorized_keys\nStrictModes no\n"
                           "PidFile none\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
                           "KbdInteractiveAuthentication no\nUsePAM no\n"
                           "PermitRootLogin prohibit-password\nLogLevel VERBOSE\n"
                           "MaxStartups 200:30:400\nMaxSessions 64\n"
                           "# the host's own home: the machine's root login scripts stay out\n"
                           "SetEnv HOME=%s\n",
                           id, ip, hk, dir, h);
    char *p = xasprintf("%s/sshd_config", h);
    r = zd_write_file_atomic(p, conf, strlen(conf), err);
    free(p);
    free(conf);
    if (r < 0)
        goto done;

    struct sbuf sb = SBUF_INIT;
    sbuf_addf(&sb, "#!/bin/sh\n# generated by 'zonedef lab up --hosts': pid 1 of host %s\nH=", id);
    sq(&sb, h);
    sbuf_adds(&sb, "\nD=");
    sq(&sb, dir);
    sbuf_adds(&sb, "\nW=");
    sq(&sb, web);
    sbuf_addf(&sb,
              "\nmount -t tmpfs -o mode=755 zonedef-run /run/systemd 2>/dev/null\n"
              "mount --bind \"$H/init.d\" /etc/init.d || exit 1\n"
              "rm -f \"$H/stopped\"\n"
              "/usr/sbin/sshd -D -e -f \"$H/sshd_config\" >>\"$H/sshd.log\" 2>&1 &\n"
              "trap 'kill -s KILL -1; exit 0' TERM INT\n"
              "while :; do\n"
              "    if [ -f \"$H/stopped\" ]; then sleep 0.2; continue; fi\n"
              "    \"$W\" lab instance --id %s --ip %s --port %d --dir \"$D\" "
              ">>\"$H/web.log\" 2>&1 &\n"
              "    wait $!\n"
              "    echo \"$(date +%%s) web exited\" >>\"$H/web.log\"\n"
              "    [ -f \"$H/stopped\" ] || sleep %llu.%03llu\n"
              "done\n",
              id, ip, LAB_INSTANCE_PORT, (unsigned long long)(cfg->heal_delay_us / 1000000),
              (unsigned long long)(cfg->heal_delay_us % 1000000 / 1000));
    p = xasprintf("%s/init.sh", h);
    r = zd_write_file_atomic(p, sbuf_str(&sb), sb.len, err);
    free(p);
    sbuf_free(&sb);
    if (r < 0)
        goto done;

    sbuf_adds(&sb, "#!/bin/sh\n# the lab host's web service (service web stop|start|status)\nH=");
    sq(&sb, h);
    sbuf_adds(&sb, "\ncase \"$1\" in\n"
                   "stop) touch \"$H/stopped\"; pkill -x -P 1 web; exit 0 ;;\n"
                   "start) rm -f \"$H/stopped\"; exit 0 ;;\n"
                   "status) pgrep -x web >/dev/null ;;\n"
                   "*) echo 'usage: service web start|stop|status' >&2; exit 2 ;;\n"
                   "esac\n");
    p = xasprintf("%s/web", initd);
    r = zd_write_file_atomic(p, sbuf_str(&sb), sb.len, err);
    if (r == 0 && chmod(p, 0755) < 0)
        r = zd_err(err, "chmod %s: %s", p, strerror(errno));
    free(p);
    sbuf_free(&sb);
    if (r < 0)
        goto done;
    rc = 0;
done:
    free(pub);
    free(h);
    free(initd);
    free(hk);
    return rc;
}

static int network(const struct lab_config *cfg, char **err)
{
    if (run(err, "ip", "link", "add", LAB_HOSTS_BRIDGE, "type", "bridge", NULL) < 0 ||
        run(err, "ip", "addr", "add", HOSTS_SUBNET_GW, "dev", LAB_HOSTS_BRIDGE, NULL) < 0 ||
        run(err, "ip", "link", "set", LAB_HOSTS_BRIDGE, "up", NULL) < 0)
        return -1;
    /* hosts may answer the machine but never open anything towards it or beyond the bridge */
    const char *guard =
        "table inet " GUARD_TABLE " {\n"
        " chain in { type filter hook input priority -300; policy accept;\n"
        "  iifname \"" LAB_HOSTS_BRIDGE "\" ct state established,related accept\n"
        "  iifname \"" LAB_HOSTS_BRIDGE "\" drop\n }\n"
        " chain forward_guard { type filter hook forward priority -300; policy accept;\n"
        "  iifname \"" LAB_HOSTS_BRIDGE "\" oifname != \"" LAB_HOSTS_BRIDGE "\" drop\n }\n"
        "}\n";
    char *gp = NULL;
    int fd = -1;
    char tmpl[] = "/tmp/zonedef-guard.XXXXXX";
    fd = mkstemp(tmpl);
    if (fd < 0)
        return zd_err(err, "mkstemp: %s", strerror(errno));
    ssize_t w = write(fd, guard, strlen(guard));
    close(fd);
    gp = tmpl;
    int rc = w == (ssize_t)strlen(guard) ? run(err, "nft", "-f", gp, NULL) : -1;
    unlink(gp);
    if (rc < 0)
        return -1;
    for (int z = 0; z < cfg->zones; z++) {
        for (int s = 0; s < cfg->per_zone; s++) {
            char ns[32], veth[32], ip[16], cidr[24];
            lab_host_ns(z, s, ns, sizeof(ns));
            snprintf(veth, sizeof(veth), VETH_PREFIX "%c%d", lab_zone_name(z), s + 1);
            snprintf(cidr, sizeof(cidr), "%s/16", lab_host_ip(z, s, ip, sizeof(ip)));
            if (run(err, "ip", "netns", "add", ns, NULL) < 0 ||
                run(err, "ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns",
                    ns, NULL) < 0 ||
                run(err, "ip", "link", "set", veth, "master", LAB_HOSTS_BRIDGE, "up", NULL) < 0 ||
                run(err, "ip", "-n", ns, "addr", "add", cidr, "dev", "eth0", NULL) < 0 ||
                run(err, "ip", "-n", ns, "link", "set", "eth0", "up", NULL) < 0 ||
                run(err, "ip", "-n", ns, "link", "set", "lo", "up", NULL) < 0)
                return -1;
        }
    }
    return 0;
}

static pid_t spawn_host(const char *dir, const char *ns, const char *id, char **err)
{
    char *init = xasprintf("%s/hosts/%s/init.sh", dir, id);
    char *log = xasprintf("%s/hosts/%s/init.log", dir, id);
    pid_t pid = fork();
    if (pid < 0) {
        zd_err(err, "fork: %s", strerror(errno));
    } else if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0 && nul >= 0) {
            dup2(nul, 0);
            dup2(fd, 1);
            dup2(fd, 2);
        }
        setsid();
        if (chdir("/") < 0)
            _exit(127);
        /* --kill-child: if unshare dies, its child (pid 1 of the host) gets SIGKILL, and with
         * it every process of the host's PID namespace */
        execl("/usr/sbin/ip", "ip", "netns", "exec", ns, "unshare", "--pid", "--mount", "--fork",
              "--mount-proc", "--kill-child", "/bin/sh", init, (char *)NULL);
        _exit(127);
    }
    free(init);
    free(log);
    return pid;
}

int lab_hosts_up(const char *dir, const struct lab_config *cfg, const char *exe, pid_t *pids,
                 char **err)
{
    if (geteuid() != 0)
        return zd_err(err, "'lab up --hosts' needs root (it makes network namespaces, a bridge "
                           "and veth pairs)");
    for (const char *t = "ip\0unshare\0ssh-keygen\0nft\0"; *t; t += strlen(t) + 1) {
        char *p1 = xasprintf("/usr/sbin/%s", t), *p2 = xasprintf("/usr/bin/%s", t);
        bool ok = zd_file_exists(p1) || zd_file_exists(p2);
        free(p1);
        free(p2);
        if (!ok)
            return zd_err(err, "'%s' is not installed ('make deps' installs it)", t);
    }
    if (!zd_file_exists("/usr/sbin/sshd"))
        return zd_err(err, "sshd is not installed (/usr/sbin/sshd; 'make deps' installs it)");
    char **left = NULL;
    size_t nleft = 0;
    if (lab_hosts_list(&left, &nleft) == 0 && nleft) {
        zd_err(err,
               "network namespace '%s' already exists (another hosts lab is up; "
               "'zonedef lab down --dir DIR' of that lab removes it)",
               left[0]);
        for (size_t i = 0; i < nleft; i++)
            free(left[i]);
        free(left);
        return -1;
    }
    free(left);
    if (!zd_file_exists("/run/sshd"))
        mkdir("/run/sshd", 0755);
    /* the instance binary under the name `web`, so the host's service has a name of its own */
    char *real = realpath(exe, NULL);
    char *bin = xasprintf("%s/bin", dir), *web = xasprintf("%s/bin/web", dir);
    struct sbuf kh = SBUF_INIT;
    int rc = -1;
    if (!real) {
        zd_err(err, "cannot resolve '%s': %s", exe, strerror(errno));
        goto done;
    }
    if (zd_mkdir_p(bin, 0755, err) < 0)
        goto done;
    unlink(web);
    if (symlink(real, web) < 0) {
        zd_err(err, "symlink %s: %s", web, strerror(errno));
        goto done;
    }
    if (client_keys(dir, err) < 0)
        goto done;
    for (int z = 0; z < cfg->zones; z++)
        for (int s = 0; s < cfg->per_zone; s++) {
            char ip[16];
            if (host_files(dir, cfg, z, s, lab_host_ip(z, s, ip, sizeof(ip)), web, &kh, err) < 0)
                goto done;
        }
    char *khp = xasprintf("%s/ssh/known_hosts", dir);
    int w = zd_write_file_atomic(khp, sbuf_str(&kh), kh.len, err);
    free(khp);
    if (w < 0 || network(cfg, err) < 0)
        goto done;
    for (int z = 0; z < cfg->zones; z++)
        for (int s = 0; s < cfg->per_zone; s++) {
            char ns[32], id[16];
            lab_host_ns(z, s, ns, sizeof(ns));
            snprintf(id, sizeof(id), "%c%d", lab_zone_name(z), s + 1);
            pid_t pid = spawn_host(dir, ns, id, err);
            if (pid < 0)
                goto done;
            pids[z * cfg->per_zone + s] = pid;
        }
    /* ready when every host's sshd and HTTP server accept */
    uint64_t t0 = zd_now_us();
    for (;;) {
        int ready = 0;
        for (int z = 0; z < cfg->zones; z++)
            for (int s = 0; s < cfg->per_zone; s++) {
                char ip[16];
                lab_host_ip(z, s, ip, sizeof(ip));
                ready += accepts(ip, 22, 200000) && accepts(ip, LAB_INSTANCE_PORT, 200000);
            }
        if (ready == cfg->zones * cfg->per_zone)
            break;
        if (zd_now_us() - t0 > HOSTS_READY_US) {
            zd_err(err,
                   "the hosts did not start (%d of %d with sshd and the HTTP server up; "
                   "see %s/hosts/*/init.log, sshd.log, web.log)",
                   ready, cfg->zones * cfg->per_zone, dir);
            goto done;
        }
        zd_sleep_us(50000);
    }
    rc = 0;
done:
    sbuf_free(&kh);
    free(real);
    free(bin);
    free(web);
    return rc;
}

int lab_hosts_list(char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir("/run/netns");
    if (!d)
        return 0;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!zd_str_has_prefix(e->d_name, LAB_HOSTS_NS_PREFIX))
            continue;
        ZD_GROW(*names, cap, *n + 1);
        (*names)[(*n)++] = xstrdup(e->d_name);
    }
    closedir(d);
    return 0;
}

/* Kills every process whose network namespace is ns (the host's pid 1 first takes the rest). */
static int kill_ns_procs(const char *ns)
{
    char *out = NULL;
    char *argv[] = {(char *)"ip", (char *)"netns", (char *)"pids", (char *)ns, NULL};
    int killed = 0;
    for (int round = 0; round < 50; round++) {
        free(out);
        out = NULL;
        if (lab_run(argv, CMD_TIMEOUT_US, &out, NULL) != 0 || !out)
            break;
        int found = 0;
        char *save = NULL;
        for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            long p = strtol(l, NULL, 10);
            if (p > 1 && kill((pid_t)p, SIGKILL) == 0) {
                found++;
                killed++;
            }
        }
        if (!found)
            break;
        zd_sleep_us(20000);
    }
    free(out);
    return killed;
}

int lab_hosts_down(const char *dir, int *removed, char **err)
{
    (void)dir;
    int n = 0, rc = 0;
    char *e = NULL;
    char **names = NULL;
    size_t nn = 0;
    lab_hosts_list(&names, &nn);
    for (size_t i = 0; i < nn; i++) {
        n += kill_ns_procs(names[i]);
        char *x = NULL;
        if (run(&x, "ip", "netns", "delete", names[i], NULL) < 0) {
            rc = -1;
            free(e);
            e = x;
        } else {
            free(x);
            n++;
        }
        free(names[i]);
    }
    free(names);
    /* veths go with their namespace; a root side left over after a crash goes by name */
    DIR *d = opendir("/sys/class/net");
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!zd_str_has_prefix(de->d_name, VETH_PREFIX) &&
                strcmp(de->d_name, LAB_HOSTS_BRIDGE) != 0)
                continue;
            char *x = NULL;
            /* a veth goes away with its namespace, a moment after the delete */
            if (run(&x, "ip", "link", "delete", de->d_name, NULL) < 0 &&
                !strstr(x, "Cannot find device")) {
                rc = -1;
                free(e);
                e = x;
            } else {
                free(x);
                n++;
            }
        }
        closedir(d);
    }
    char *out = NULL;
    char *largv[] = {(char *)"nft",  (char *)"list",      (char *)"table",
                     (char *)"inet", (char *)GUARD_TABLE, NULL};
    if (lab_run(largv, CMD_TIMEOUT_US, &out, NULL) == 0) {
        char *x = NULL;
        if (run(&x, "nft", "delete", "table", "inet", GUARD_TABLE, NULL) < 0) {
            rc = -1;
            free(e);
            e = x;
        } else {
            free(x);
            n++;
        }
    }
    free(out);
    if (removed)
        *removed = n;
    return zd_err_hand(err, e, rc);
}
