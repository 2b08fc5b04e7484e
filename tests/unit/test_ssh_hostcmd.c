/*
 * Unit tests for hostcmd: the host command lines run under a real /bin/sh here, and the tests
 * check what they did (a hostile value stays one literal word and creates nothing; burners and
 * dead-man's switches start, are found again by their tag and go away).
 */
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "target/hostcmd.h"

/* Runs cmd with /bin/sh -c; stdout (at most 4 KiB) into out. Returns the exit status. */
static int sh(const char *cmd, char *out, size_t n)
{
    char *full = xasprintf("{ %s\n} 2>&1", cmd);
    FILE *p = popen(full, "r");
    free(full);
    if (!p)
        return -1;
    size_t got = fread(out, 1, n - 1, p);
    out[got] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Alive and not a zombie (an orphan's zombie waits for whoever reaps here). */
static bool alive(int pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static void test_quote(void)
{
    static const char *const hostile[] = {
        "'; touch /tmp/zonedef-hc-pwned; '",
        "$(touch /tmp/zonedef-hc-pwned)",
        "`touch /tmp/zonedef-hc-pwned`",
        "a\nb\ntouch /tmp/zonedef-hc-pwned",
        "\"quoted\" and 'single'",
        "",
        "back\\slash $HOME *",
    };
    unlink("/tmp/zonedef-hc-pwned");
    for (size_t i = 0; i < ZD_ARRAY_LEN(hostile); i++) {
        char *q = hc_quoted(hostile[i]);
        /* printf %s of the one word, then a marker: the value comes back byte for byte */
        char *cmd = xasprintf("printf '%%s|' %s", q);
        char out[4096];
        CHECK_EQ_INT(sh(cmd, out, sizeof(out)), 0);
        char *want = xasprintf("%s|", hostile[i]);
        CHECK_EQ_STR(out, want);
        free(want);
        free(cmd);
        free(q);
    }
    CHECK(access("/tmp/zonedef-hc-pwned", F_OK) != 0);
    char *q = hc_quoted("it's");
    CHECK_EQ_STR(q, "'it'\\''s'");
    free(q);
}

static void test_tags_and_bad_args(void)
{
    CHECK(hc_tag_valid("bh_1a2b_3"));
    CHECK(!hc_tag_valid(""));
    CHECK(!hc_tag_valid("Bad"));
    CHECK(!hc_tag_valid("a;b"));
    CHECK(!hc_tag_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 41 */
    CHECK(hc_blackhole("x;rm", 22) == NULL);
    CHECK(hc_blackhole("ok", 0) == NULL);
    CHECK(hc_cpu_stress("ok", 0, 50, 10) == NULL);
    CHECK(hc_cpu_stress("ok", 1, 101, 10) == NULL);
    CHECK(hc_deadman_arm("ok", "", 10) == NULL);
    CHECK(hc_signal(HC_BY_NAME, "x", 12345) == NULL);
    CHECK(hc_exec("") == NULL);
    CHECK_EQ_STR(hc_signal_name(SIGSTOP), "STOP");
}

static void test_privileged_and_exec(void)
{
    char *p = hc_privileged("echo 'a b'", true);
    CHECK_EQ_STR(p, "sudo -n sh -c 'echo '\\''a b'\\'''");
    free(p);
    p = hc_privileged("true", false);
    CHECK_EQ_STR(p, "true");
    free(p);
    CHECK(hc_sudo_needs_password("sudo: a password is required"));
    CHECK(!hc_sudo_needs_password("permission denied"));
    char *e = hc_exec("echo \"$((1+2))\"; exit 7");
    char out[256];
    CHECK_EQ_INT(sh(e, out, sizeof(out)), 7);
    CHECK_EQ_STR(out, "3\n");
    free(e);
}

static void test_signal_by_name(void)
{
    /* a process of a name nobody else uses: a copy of sleep */
    char out[4096];
    CHECK_EQ_INT(sh("cp /bin/sleep /tmp/zdhcsleep && (/tmp/zdhcsleep 30 </dev/null >/dev/null 2>&1 "
                    "&) ; sleep 0.2",
                    out, sizeof(out)),
                 0);
    char *c = hc_signal(HC_BY_NAME, "zdhcsleep", SIGSTOP);
    CHECK_EQ_INT(sh(c, out, sizeof(out)), 0);
    CHECK_CONTAINS(out, "pids ");
    free(c);
    CHECK_EQ_INT(sh("ps -o stat= -C zdhcsleep", out, sizeof(out)), 0);
    CHECK(out[0] == 'T');
    c = hc_signal(HC_BY_NAME, "zdhcsleep", SIGKILL);
    CHECK_EQ_INT(sh(c, out, sizeof(out)), 0);
    free(c);
    c = hc_signal(HC_BY_NAME, "zdhcsleep", SIGCONT);
    sh("sleep 0.2", out, sizeof(out));
    CHECK_EQ_INT(sh(c, out, sizeof(out)), HC_EXIT_NOTHING);
    CHECK_CONTAINS(out, "no process named zdhcsleep");
    free(c);
    c = hc_signal(HC_BY_PIDFILE, "/nonexistent/x.pid", SIGTERM);
    CHECK_EQ_INT(sh(c, out, sizeof(out)), HC_EXIT_NOTHING);
    free(c);
    unlink("/tmp/zdhcsleep");
}

/* By name, the command never signals the processes it runs in: here a copy of sh named
 * zdhcsh runs it inside a subshell, the way the SSH target's long-lived shell does
 * ("( eval CMD )"), and another zdhcsh waits. TERM goes to the waiting one only; were the
 * runner's subshell on the list it would die of it (143) before saying what it signalled. */
static void test_signal_spares_itself(void)
{
    char out[4096];
    CHECK_EQ_INT(sh("cp /bin/sh /tmp/zdhcsh && (/tmp/zdhcsh -c 'sleep 30; :' </dev/null "
                    ">/dev/null 2>&1 &) ; sleep 0.2; pgrep -x zdhcsh",
                    out, sizeof(out)),
                 0);
    int victim = atoi(out);
    CHECK(victim > 1);
    /* zdhcsh -c "( eval 'zdhcsh -c CMD' )": the framing subshell and a shell of its own (as
     * under sudo), all three named zdhcsh */
    char *c = hc_signal(HC_BY_NAME, "zdhcsh", SIGTERM);
    char *q = hc_quoted(c);
    char *inner = xasprintf("/tmp/zdhcsh -c %s", q);
    free(q);
    q = hc_quoted(inner);
    char *framed = xasprintf("( eval %s )", q);
    free(q);
    q = hc_quoted(framed);
    char *cmd = xasprintf("/tmp/zdhcsh -c %s", q);
    CHECK_EQ_INT(sh(cmd, out, sizeof(out)), 0);
    char want[64];
    snprintf(want, sizeof(want), "pids %d\n", victim);
    CHECK_EQ_STR(out, want);
    for (int i = 0; i < 50 && alive(victim); i++)
        usleep(20000);
    CHECK(!alive(victim));
    free(cmd);
    free(q);
    free(framed);
    free(inner);
    free(c);
    sh("pkill -x zdhcsh; rm -f /tmp/zdhcsh", out, sizeof(out));
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = 0, ch;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

static void test_cpu_stress(void)
{
    char out[4096];
    char *c = hc_cpu_stress("hctest_cpu", 2, 50, 20);
    CHECK_EQ_INT(sh(c, out, sizeof(out)), 0);
    free(c);
    CHECK_CONTAINS(out, "pids ");
    CHECK_EQ_INT(count_lines("/tmp/zonedef-hctest_cpu.cpu"), 2);
    int p1 = 0, p2 = 0;
    CHECK_EQ_INT(sscanf(out, "pids %d %d", &p1, &p2), 2);
    CHECK(p1 > 0 && alive(p1));
    c = hc_cpu_stress_undo("hctest_cpu");
    CHECK_EQ_INT(sh(c, out, sizeof(out)), 0);
    CHECK_EQ_INT(sh(c, out, sizeof(out)), 0); /* idempotent */
    free(c);
    for (int i = 0; i < 100 && (alive(p1) || alive(p2)); i++)
        usleep(20000);
    CHECK(!alive(p1));
    CHECK(!alive(p2));
    CHECK(access("/tmp/zonedef-hctest_cpu.cpu", F_OK) != 0);
}

static void test_deadman(void)
{
    char out[4096];
    unlink("/tmp/zonedef-hctest-fired");
    /* armed, it fires by itself */
    char *c = hc_deadman_arm("hctest_dm1", "touch /tmp/zonedef-hctest-fired", 1);
    CHECK_EQ_INT(sh(c, out, sizeof(out)), 0);
    CHECK_CONTAINS(out, "deadman ");
    free(c);
    int i;
    for (i = 0; i < 150 && access("/tmp/zonedef-hctest-fired", F_OK) != 0; i++)
        usleep(20000);
    CHECK(access("/tmp/zonedef-hctest-fired", F_OK) == 0);
    for (i = 0; i < 50 && access("/tmp/zonedef-hctest_dm1.dm", F_OK) == 0; i++)
        usleep(20000);
    CHECK(access("/tmp/zonedef-hctest_dm1.dm", F_OK) != 0); /* the switch cleans up after itself */
    unlink("/tmp/zonedef-hctest-fired");
    /* an undo that ends with exit (the blackhole undo does) still lets the switch clean up */
    c = hc_deadman_arm("hctest_dm3", "touch /tmp/zonedef-hctest-fired3; exit 1", 1);
    CHECK_EQ_INT(sh(c, out, sizeof(out)), 0);
    free(c);
    for (i = 0; i < 150 && access("/tmp/zonedef-hctest_dm3.dm", F_OK) == 0; i++)
        usleep(20000);
    CHECK(access("/tmp/zonedef-hctest-fired3", F_OK) == 0);
    CHECK(access("/tmp/zonedef-hctest_dm3.dm", F_OK) != 0);
    unlink("/tmp/zonedef-hctest-fired3");
    /* armed then cancelled, it never fires */
    c = hc_deadman_arm("hctest_dm2", "touch /tmp/zonedef-hctest-fired", 1);
    CHECK_EQ_INT(sh(c, out, sizeof(out)), 0);
    free(c);
    int pid = 0;
    CHECK_EQ_INT(sscanf(out, "deadman pid %d", &pid), 1);
    c = hc_deadman_cancel("hctest_dm2");
    CHECK_EQ_INT(sh(c, out, sizeof(out)), 0);
    CHECK_CONTAINS(out, "cancelled");
    CHECK_EQ_INT(sh(c, out, sizeof(out)), 0); /* idempotent */
    CHECK_EQ_STR(out, "");
    free(c);
    usleep(1500000);
    CHECK(access("/tmp/zonedef-hctest-fired", F_OK) != 0);
    CHECK(pid > 0 && !alive(pid));
}

/* The switch cancelled from the pid and start time its arm printed (what the journal keeps),
 * with its file gone: a wrong start time (a reused pid) is never signalled, the right one is. */
static void test_deadman_cancel_pid(void)
{
    char out[4096];
    unlink("/tmp/zonedef-hctest-fired4");
    char *c = hc_deadman_arm("hctest_dm4", "touch /tmp/zonedef-hctest-fired4", 2);
    CHECK_EQ_INT(sh(c, out, sizeof(out)), 0);
    free(c);
    long pid = 0;
    char start[32] = "";
    CHECK_EQ_INT(sscanf(out, "deadman pid %ld %31s", &pid, start), 2);
    CHECK(unlink("/tmp/zonedef-hctest_dm4.dm") == 0);
    char wrong[40];
    snprintf(wrong, sizeof(wrong), "%s1", start);
    c = hc_deadman_cancel_pid("hctest_dm4", pid, wrong);
    CHECK_EQ_INT(sh(c, out, sizeof(out)), 0);
    CHECK_EQ_STR(out, ""); /* not ours by its start time: left alone */
    free(c);
    CHECK(alive((int)pid));
    /* the pid of another process with its right start time: not a switch, left alone */
    c = xasprintf("sed 's/.*) //' /proc/%d/stat | cut -d' ' -f20", getpid());
    CHECK_EQ_INT(sh(c, out, sizeof(out)), 0);
    free(c);
    out[strcspn(out, "\n")] = '\0';
    c = hc_deadman_cancel_pid("hctest_dm4", getpid(), out);
    CHECK_EQ_INT(sh(c, out, sizeof(out)), 0);
    CHECK_EQ_STR(out, "");
    free(c);
    c = hc_deadman_cancel_pid("hctest_dm4", pid, start);
    CHECK_EQ_INT(sh(c, out, sizeof(out)), 0);
    CHECK_EQ_STR(out, "cancelled\n");
    CHECK_EQ_INT(sh(c, out, sizeof(out)), 0); /* idempotent */
    CHECK_EQ_STR(out, "");
    free(c);
    int i;
    for (i = 0; i < 50 && alive((int)pid); i++)
        usleep(20000);
    CHECK(!alive((int)pid));
    usleep(2300000);
    CHECK(access("/tmp/zonedef-hctest-fired4", F_OK) != 0); /* it never fired */
    CHECK(hc_deadman_cancel_pid("hctest_dm4", 1, start) == NULL);
    CHECK(hc_deadman_cancel_pid("hctest_dm4", pid, "12; touch /x") == NULL);
    CHECK(hc_deadman_cancel_pid("bad tag", pid, start) == NULL);
}

/* In a network namespace of its own (root only): the table goes in, applying twice is a no-op,
 * undo takes it out, undo twice succeeds. */
static void test_blackhole(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "skipped: needs root (blackhole in a network namespace)\n");
        return;
    }
    char *bh = hc_blackhole("hctest_bh", 22), *un = hc_blackhole_undo("hctest_bh");
    char *qb = hc_quoted(bh), *qu = hc_quoted(un);
    char *cmd = xasprintf("unshare -n sh -c \"sh -c %s && sh -c %s && nft list table inet "
                          "zonedef_hctest_bh | grep -c 'tcp dport 22 accept' && sh -c %s && sh -c "
                          "%s && nft list tables | grep -c zonedef_; true\"",
                          qb, qb, qu, qu);
    char out[4096];
    CHECK_EQ_INT(sh(cmd, out, sizeof(out)), 0);
    CHECK_EQ_STR(out, "via nft\nvia nft\n2\n0\n"); /* in and out */
    free(cmd);
    free(qb);
    free(qu);
    free(bh);
    free(un);
}

static void test_netem_text(void)
{
    char *c = hc_netem("hct", NULL, 200000, 10000, 1.5);
    CHECK(c != NULL);
    CHECK_CONTAINS(c, "tc qdisc add dev \"$i\" root handle 7a0d: netem delay 200000us 10000us "
                      "loss 1.5% ||");
    CHECK_CONTAINS(c, "f=/tmp/zonedef-hct.netem;");
    CHECK(strstr(c, "qdisc replace") == NULL); /* never: an admin's qdisc is refused instead */
    CHECK(strstr(c, "qdisc change") == NULL);
    free(c);
    c = hc_netem("hct", "eth0.100", 0, 0, 0.001);
    CHECK_CONTAINS(c, "l='eth0.100';");
    CHECK_CONTAINS(c, " netem loss 0.001% ||");
    CHECK(strstr(c, "delay") == NULL);
    free(c);
    c = hc_netem("hct", "bond0:1", 5000, 0, 0);
    CHECK_CONTAINS(c, "l='bond0:1';");
    CHECK_CONTAINS(c, " netem delay 5000us ||");
    free(c);
    /* names a scenario may not give, and values out of range: NULL */
    static const char *const bad_if[] = {"eth0;touch /tmp/x", "a'b",    "$(id)", "a b", "",
                                         "sixteen-chars-xx",  "eth0\n", "-"};
    for (size_t i = 0; i < ZD_ARRAY_LEN(bad_if); i++) {
        if (strcmp(bad_if[i], "-") == 0)
            continue; /* "-" is a valid (if odd) name: quoted, it is one word */
        CHECK(!hc_iface_valid(bad_if[i]));
        CHECK(hc_netem("hct", bad_if[i], 1000, 0, 0) == NULL);
        CHECK(hc_netem_ready(bad_if[i]) == NULL);
    }
    CHECK(hc_iface_valid("fifteen-chars-x"));
    CHECK(hc_netem("hct", NULL, 0, 0, 0) == NULL);        /* nothing to do */
    CHECK(hc_netem("hct", NULL, 0, 1000, 0) == NULL);     /* jitter without a delay */
    CHECK(hc_netem("hct", NULL, 1000, 0, 100.5) == NULL); /* loss over 100% */
    CHECK(hc_netem("hct", NULL, 1000, 0, -1) == NULL);
    CHECK(hc_netem("hct", NULL, 1000, 0, NAN) == NULL);
    CHECK(hc_netem("hct", NULL, 60000001, 0, 0) == NULL); /* over 60 s */
    CHECK(hc_netem("Bad;tag", NULL, 1000, 0, 0) == NULL);
    CHECK(hc_netem_undo("x y") == NULL);
    c = hc_netem_undo("hct");
    CHECK_CONTAINS(c, "f=/tmp/zonedef-hct.netem; [ -f \"$f\" ] || exit 0;");
    CHECK_CONTAINS(c, "tc qdisc del dev \"$i\" root handle 7a0d:");
    CHECK(strstr(c, "qdisc replace") == NULL);
    free(c);
    c = hc_netem_check();
    CHECK_CONTAINS(c, "unshare -n");
    free(c);
}

/* Commands in the network namespace zdhc-netem (`ip netns exec` mounts its own /sys, so
 * /sys/class/net lists the namespace's interfaces), with the stand-in tc first on PATH when
 * standin is set. */
#define NETNS "zdhc-netem"
#define SBIN  "/tmp/zdhc-netem-bin"
#define TCLOG "/tmp/zdhc-netem-tc.log"
#define TCST  "/tmp/zdhc-netem-tc.state"
static int nsh(bool standin, const char *cmd, char *out, size_t n)
{
    char *q = hc_quoted(cmd);
    char *full = xasprintf("ip netns exec " NETNS " env %s sh -c %s",
                           standin ? "PATH=" SBIN ":/usr/sbin:/usr/bin:/sbin:/bin ZD_TC_LOG=" TCLOG
                                     " ZD_TC_STATE=" TCST
                                   : "ZD_NOTHING=1",
                           q);
    int rc = sh(full, out, n);
    free(full);
    free(q);
    return rc;
}

static int lines_with(const char *path, const char *what)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[1024];
    int k = 0;
    while (fgets(line, sizeof(line), f))
        k += strstr(line, what) != NULL;
    fclose(f);
    return k;
}

/* With the real tc on this machine's kernel (no sch_netem): the check says so, changes
 * nothing, is not fooled by a qdisc on lo; an apply fails and leaves nothing; an admin's root
 * qdisc is refused by name before anything is added. Then the same builders against the
 * stand-in tc (tests/data/netem/standin-tc.sh, a kernel that has netem): what is added where,
 * idempotence, undo by our handle only. */
static void test_netem_ns(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "skipped: needs root (netem in a network namespace)\n");
        return;
    }
    char out[4096];
    char standin[PATH_MAX];
    if (!realpath("tests/data/netem/standin-tc.sh", standin)) {
        CHECK(!"tests/data/netem/standin-tc.sh is missing (run from the repository)");
        return;
    }
    sh("ip netns del " NETNS " 2>/dev/null; rm -rf " SBIN " " TCLOG " " TCST
       " /tmp/zonedef-hct_*.netem",
       out, sizeof(out));
    char *setup =
        xasprintf("ip netns add " NETNS " && mkdir -p " SBIN " && ln -s %s " SBIN "/tc", standin);
    CHECK_EQ_INT(sh(setup, out, sizeof(out)), 0);
    free(setup);
    CHECK_EQ_INT(nsh(false,
                     "ip link set lo up && for d in zd0 zd1 zd2; do ip link add $d type veth peer "
                     "name ${d}p || exit 1; done && ip link set zd0 up && ip link set zd1 up",
                     out, sizeof(out)),
                 0);
    char *chk = hc_netem_check(), *rdy = hc_netem_ready(NULL);
    char *ap = hc_netem("hct_a", NULL, 200000, 10000, 1.5), *un = hc_netem_undo("hct_a");
    char *ap2 = hc_netem("hct_b", NULL, 1000, 0, 0), *un3 = hc_netem_undo("hct_c");

    /* ---- the real tc, this kernel ---- */
    CHECK_EQ_INT(nsh(false, chk, out, sizeof(out)), HC_EXIT_MISSING);
    CHECK_CONTAINS(out, "tc netem is not available (no sch_netem in this kernel)");
    CHECK_EQ_INT(nsh(false, "tc qdisc add dev lo root tbf rate 1mbit burst 10k latency 10ms", out,
                     sizeof(out)),
                 0);
    CHECK_EQ_INT(nsh(false, chk, out, sizeof(out)), HC_EXIT_MISSING); /* not fooled by lo's */
    CHECK_EQ_INT(nsh(false, "tc qdisc show dev lo root", out, sizeof(out)), 0);
    CHECK_CONTAINS(out, "qdisc tbf ");                    /* and lo is as it was */
    CHECK_EQ_INT(nsh(false, ap, out, sizeof(out)), 2);    /* tc's status: unknown kind */
    CHECK(access("/tmp/zonedef-hct_a.netem", F_OK) != 0); /* taken back */
    CHECK_EQ_INT(nsh(false, "tc qdisc show dev zd0 root", out, sizeof(out)), 0);
    CHECK_CONTAINS(out, " 0: root");
    CHECK_EQ_INT(nsh(false, "tc qdisc add dev zd1 root tbf rate 1mbit burst 10k latency 10ms", out,
                     sizeof(out)),
                 0);
    CHECK_EQ_INT(nsh(false, ap, out, sizeof(out)), HC_EXIT_REFUSED);
    CHECK_CONTAINS(out, "interface zd1 already has a root qdisc of its own (tbf ");
    CHECK_CONTAINS(out, "zonedef never replaces one, nothing was changed");
    CHECK(access("/tmp/zonedef-hct_a.netem", F_OK) != 0);
    CHECK_EQ_INT(nsh(false, rdy, out, sizeof(out)), HC_EXIT_MISSING);
    CHECK_EQ_INT(
        nsh(false, "tc qdisc del dev zd1 root; tc qdisc del dev lo root", out, sizeof(out)), 0);

    /* ---- the stand-in tc: a kernel with netem ---- */
    CHECK_EQ_INT(nsh(true, chk, out, sizeof(out)), 0);
    CHECK_EQ_INT(lines_with(TCLOG, "qdisc add dev lo root handle 7a0d: netem delay 0ms"), 1);
    CHECK_EQ_INT(lines_with(TCST, " lo "), 1); /* the probe's, in a namespace gone with it... */
    CHECK_EQ_INT(nsh(true, "tc qdisc show dev lo root", out, sizeof(out)), 0);
    CHECK_CONTAINS(out, "noqueue 0:");         /* ...not on this lo */
    CHECK_EQ_INT(lines_with(TCST, " lo "), 0); /* (and gone with its namespace) */
    CHECK_EQ_INT(nsh(true, rdy, out, sizeof(out)), 0);
    CHECK_EQ_STR(out, "ready zd0 zd1\n"); /* up, lo left out; zd2 and the zd?p are down */
    CHECK_EQ_INT(nsh(true, ap, out, sizeof(out)), 0);
    CHECK_EQ_STR(out, "netem zd0 zd1\n");
    CHECK_EQ_INT(count_lines("/tmp/zonedef-hct_a.netem"), 2);
    CHECK_EQ_INT(lines_with(TCLOG, "qdisc add dev zd0 root handle 7a0d: netem delay 200000us "
                                   "10000us loss 1.5%"),
                 1);
    CHECK_EQ_INT(lines_with(TCLOG, "qdisc add dev zd1 root handle 7a0d: netem"), 1);
    CHECK_EQ_INT(lines_with(TCLOG, "dev zd2"), 0);
    CHECK_EQ_INT(nsh(true, ap, out, sizeof(out)), 0); /* twice: a no-op */
    CHECK_EQ_INT(lines_with(TCLOG, "qdisc add dev zd0"), 1);
    CHECK_EQ_INT(nsh(true, ap2, out, sizeof(out)), HC_EXIT_REFUSED); /* one netem per interface */
    CHECK_CONTAINS(out, "interface zd0 already has a root qdisc of its own (netem 7a0d:)");
    CHECK_EQ_INT(nsh(true, un, out, sizeof(out)), 0);
    CHECK_EQ_INT(lines_with(TCLOG, "qdisc del dev zd0 root handle 7a0d:"), 1);
    CHECK_EQ_INT(lines_with(TCLOG, "qdisc del dev zd1 root handle 7a0d:"), 1);
    CHECK(access("/tmp/zonedef-hct_a.netem", F_OK) != 0);
    CHECK_EQ_INT(nsh(true, un, out, sizeof(out)), 0); /* idempotent */
    CHECK_EQ_INT(lines_with(TCLOG, "qdisc del "), 2);
    /* an admin's qdisc on an interface of our list (a stale file) is never deleted */
    CHECK_EQ_INT(nsh(true,
                     "tc qdisc add dev zd1 root handle 8001: tbf rate 1mbit && "
                     "echo zd1 >/tmp/zonedef-hct_c.netem",
                     out, sizeof(out)),
                 0);
    CHECK_EQ_INT(nsh(true, un3, out, sizeof(out)), 0);
    CHECK_EQ_INT(lines_with(TCLOG, "qdisc del "), 2);
    CHECK_EQ_INT(nsh(true, "tc qdisc show dev zd1 root", out, sizeof(out)), 0);
    CHECK_CONTAINS(out, "qdisc tbf 8001:");
    int adds = lines_with(TCLOG, "qdisc add dev zd");
    CHECK_EQ_INT(nsh(true, ap, out, sizeof(out)), HC_EXIT_REFUSED); /* refused before any add */
    CHECK_EQ_INT(lines_with(TCLOG, "qdisc add dev zd"), adds);
    char *one = hc_netem("hct_d", "zd9", 1000, 0, 0);
    CHECK_EQ_INT(nsh(true, one, out, sizeof(out)), HC_EXIT_NOTHING);
    CHECK_CONTAINS(out, "no interface named zd9");
    free(one);

    sh("ip netns del " NETNS "; rm -rf " SBIN " " TCLOG " " TCST " /tmp/zonedef-hct_*.netem", out,
       sizeof(out));
    free(chk);
    free(rdy);
    free(ap);
    free(un);
    free(ap2);
    free(un3);
}

static void test_preflight(void)
{
    char *c = hc_preflight();
    char out[4096];
    CHECK_EQ_INT(sh(c, out, sizeof(out)), 0);
    CHECK_CONTAINS(out, "nft ");
    CHECK_CONTAINS(out, "iptables ");
    CHECK_CONTAINS(out, "uid ");
    /* this machine's kernel has no sch_netem: the probe says so, and leaves lo as it was */
    CHECK_CONTAINS(out, "\nnetem no\n");
    free(c);
}

int main(void)
{
    TH_RUN(test_quote, test_tags_and_bad_args, test_privileged_and_exec, test_signal_by_name,
           test_signal_spares_itself, test_cpu_stress, test_deadman, test_deadman_cancel_pid,
           test_blackhole, test_netem_text, test_netem_ns, test_preflight);
}
