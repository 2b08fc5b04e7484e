/*
 * Unit tests for the SSH target's pure parts: base64 and OpenSSH's SHA256 fingerprint text
 * (checked against ssh-keygen -l on a real key), a host that refuses the connection reported by
 * name within the timeout, and actions that are not ours refused before anything runs.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "harness.h"
#include "base/util.h"
#include "target/ssh/ssh_fleet.h"
#include "target/target.h"

static void test_base64(void)
{
    static const struct {
        const char *in, *out;
    } v[] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < ZD_ARRAY_LEN(v); i++) {
        char *b = ssh_base64((const unsigned char *)v[i].in, strlen(v[i].in));
        CHECK_EQ_STR(b, v[i].out);
        free(b);
    }
}

/* The fingerprint of a real public key, as ssh-keygen -l prints it. */
static void test_fingerprint(void)
{
    char dir[] = "/tmp/zonedef-fp.XXXXXX";
    if (!mkdtemp(dir))
        return;
    char *cmd = xasprintf("ssh-keygen -q -t ed25519 -N '' -f %s/k && ssh-keygen -lf %s/k.pub | "
                          "cut -d' ' -f2 && cut -d' ' -f2 %s/k.pub",
                          dir, dir, dir);
    FILE *p = popen(cmd, "r");
    char want[128] = "", b64[512] = "";
    CHECK(p && fgets(want, sizeof(want), p) && fgets(b64, sizeof(b64), p));
    if (p)
        pclose(p);
    want[strcspn(want, "\n")] = '\0';
    b64[strcspn(b64, "\n")] = '\0';
    /* decode the key blob with openssl's base64, hash it, format it */
    unsigned char blob[512];
    int n = EVP_DecodeBlock(blob, (const unsigned char *)b64, (int)strlen(b64));
    CHECK(n > 0);
    size_t bl = strlen(b64); /* EVP_DecodeBlock counts the padding as zero bytes */
    n -= (bl > 0 && b64[bl - 1] == '=') + (bl > 1 && b64[bl - 2] == '=');
    unsigned char h[32];
    SHA256(blob, (size_t)n, h);
    char fp[80];
    CHECK_EQ_STR(ssh_fingerprint(h, fp, sizeof(fp)), want);
    char *rm = xasprintf("rm -rf %s", dir);
    CHECK_EQ_INT(system(rm), 0);
    free(rm);
    free(cmd);
}

static void test_unreachable_named(void)
{
    struct ssh_opts o = {.user = "root",
                         .known_hosts = "/dev/null",
                         .strict = true,
                         .connect_timeout_us = 2000000,
                         .parallel = 4};
    struct ssh_fleet *f = ssh_fleet_new(&o);
    ssh_fleet_add(f, "127.0.200.1", 19599); /* ours, nothing listens */
    char *err = NULL;
    uint64_t t0 = zd_now_us();
    CHECK_EQ_INT(ssh_fleet_connect(f, &err), -1);
    CHECK(zd_now_us() - t0 < 2500000);
    CHECK_CONTAINS(err, "127.0.200.1:19599: cannot connect: Connection refused");
    CHECK_EQ_INT(ssh_fleet_failed_at(f, 0), 1);
    struct ssh_job j = {.host = 0, .cmd = "true"};
    CHECK_EQ_INT(ssh_fleet_exec(f, &j, 1, 1000000), 1);
    CHECK_CONTAINS(j.error, "not connected");
    ssh_jobs_free(&j, 1);
    free(err);
    ssh_fleet_free(f);
}

/* recover trusts nothing in an action: hosts, tags and the fault must be what zonedef makes. */
static void test_actions_checked(void)
{
    const struct tgt_ops *ops = tgt_ops_named("ssh");
    CHECK(ops != NULL);
    if (!ops)
        return;
    static const char *const bad[] = {
        "not json",
        "{\"kind\":\"ssh\",\"fault\":\"blackhole_zone\",\"user\":\"root\",\"known_hosts\":\"/x\","
        "\"hosts\":[{\"host\":\"h\",\"port\":22,\"tag\":\"x; rm -rf /\"}]}",
        "{\"kind\":\"ssh\",\"fault\":\"blackhole_zone\",\"user\":\"root\",\"known_hosts\":\"/x\","
        "\"hosts\":[{\"host\":\"-oProxyCommand=x\",\"port\":22,\"tag\":\"zd1_1_0\"}]}",
        "{\"kind\":\"ssh\",\"fault\":\"blackhole_zone\",\"user\":\"root\",\"known_hosts\":\"/x\","
        "\"hosts\":[{\"host\":\"h\",\"port\":22,\"tag\":\"other_tag\"}]}",
        "{\"kind\":\"ssh\",\"fault\":\"rm\",\"user\":\"root\",\"known_hosts\":\"/x\","
        "\"hosts\":[{\"host\":\"h\",\"port\":22,\"tag\":\"zd1_1_0\"}]}",
    };
    for (size_t i = 0; i < ZD_ARRAY_LEN(bad); i++) {
        char *err = NULL;
        CHECK_EQ_INT(ops->undo(NULL, bad[i], &err), -1);
        CHECK(err != NULL);
        free(err);
    }
    /* an instantaneous kill has nothing to undo: no connection is made */
    char *err = NULL;
    CHECK_EQ_INT(ops->undo(NULL,
                           "{\"kind\":\"ssh\",\"fault\":\"kill_instances\",\"user\":\"root\","
                           "\"known_hosts\":\"/x\",\"by\":\"name\",\"process\":\"web\","
                           "\"signal\":\"KILL\",\"hosts\":[{\"host\":\"127.0.200.1\",\"port\":"
                           "19599,\"tag\":\"zd1_1_0\"}]}",
                           &err),
                 0);
    free(err);
}

/* A real sshd on a loopback port of ours (root only): the long-lived shell per host keeps, per
 * command, stdout, stderr and the exit status apart; a value reaches it as one literal word; a
 * line that looks like an end marker with another nonce does not end a command; output past
 * the maximum is cut but the command still ends; a command that outlives its timeout fails the
 * host by name; a shell that dies fails its host by name, never hanging. */
static void test_shells(void)
{
    if (geteuid() != 0 || access("/usr/sbin/sshd", X_OK) != 0) {
        fprintf(stderr, "skipped: needs root and /usr/sbin/sshd (a real sshd)\n");
        return;
    }
    char dir[] = "/tmp/zonedef-shells.XXXXXX";
    if (!mkdtemp(dir))
        return;
    char *setup = xasprintf(
        "cd %s && ssh-keygen -q -t ed25519 -N '' -f hk && ssh-keygen -q -t ed25519 -N '' -f id && "
        "cp id.pub ak && mkdir -p home /run/sshd && echo \"[127.0.0.1]:19591 $(cut -d' ' -f1,2 "
        "hk.pub)\" >kh && printf '%%s\\n' 'Port 19591' 'ListenAddress 127.0.0.1' 'HostKey %s/hk' "
        "'AuthorizedKeysFile %s/ak' 'StrictModes no' 'PidFile none' 'UsePAM no' "
        "'PasswordAuthentication no' 'PermitRootLogin prohibit-password' 'LogLevel ERROR' "
        "'SetEnv HOME=%s/home' >conf",
        dir, dir, dir, dir);
    CHECK_EQ_INT(system(setup), 0);
    free(setup);
    char *conf = xasprintf("%s/conf", dir);
    pid_t sshd = fork();
    if (sshd == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* gone with the test, even if it crashes */
        execl("/usr/sbin/sshd", "/usr/sbin/sshd", "-D", "-f", conf, (char *)NULL);
        _exit(127);
    }
    free(conf);
    char *key = xasprintf("%s/id", dir), *kh = xasprintf("%s/kh", dir);
    struct ssh_opts o = {.user = "root",
                         .key = key,
                         .known_hosts = kh,
                         .strict = true,
                         .connect_timeout_us = 5000000,
                         .parallel = 4};
    struct ssh_fleet *f = ssh_fleet_new(&o);
    ssh_fleet_add(f, "127.0.0.1", 19591);
    char *err = NULL;
    int up = -1;
    for (int i = 0; i < 50 && up != 0; i++) { /* sshd takes a moment to listen */
        free(err);
        err = NULL;
        up = ssh_fleet_connect(f, &err);
        if (up != 0)
            usleep(100000);
    }
    CHECK_EQ_INT(up, 0);
    if (up != 0) {
        fprintf(stderr, "    connect: %s\n", err ? err : "?");
        goto out;
    }
    CHECK_EQ_INT(ssh_fleet_shells(f, "exec /bin/sh", 5000000, &err), 0);
    CHECK(ssh_fleet_has_shell(f, 0));
    char *fake = xasprintf("printf '\\nzd_end_0000000000000000_1 0\\n'; echo after");
    char *hostile = xasprintf("printf '%%s' %s", "\"'; touch /tmp/zonedef-shells-pwned; '\"");
    struct ssh_job j[] = {
        {.host = 0, .cmd = "echo out; echo err >&2; exit 7"},
        {.host = 0, .cmd = "cd /; x=1; echo $x"},
        {.host = 0,
         .cmd = "pwd; echo \"${x:-unset}\""}, /* the previous one's cd and x did not stay */
        {.host = 0, .cmd = "if then"},        /* a syntax error: the shell lives on */
        {.host = 0, .cmd = fake},
        {.host = 0, .cmd = "printf abc"}, /* no newline at the end */
        {.host = 0, .cmd = "head -c 200000 /dev/zero | tr '\\0' x; echo; echo tail >&2"},
        {.host = 0, .cmd = hostile},
        {.host = 0, .cmd = "cat; echo read-nothing"}, /* stdin is /dev/null, not the shell's */
    };
    size_t nj = ZD_ARRAY_LEN(j);
    CHECK_EQ_INT(ssh_fleet_exec(f, j, nj, 10000000), 0);
    CHECK_EQ_INT(j[0].status, 7);
    CHECK_EQ_STR(j[0].out, "out\n");
    CHECK_EQ_STR(j[0].errout, "err\n");
    CHECK_EQ_STR(j[1].out, "1\n");
    CHECK_EQ_STR(j[2].out, "/root\nunset\n"); /* HOME is ours, but the cwd is root's home */
    CHECK_EQ_INT(j[3].status, 2);
    CHECK_CONTAINS(j[3].errout, "Syntax error");
    CHECK_EQ_INT(j[4].status, 0);
    CHECK_EQ_STR(j[4].out, "\nzd_end_0000000000000000_1 0\nafter\n");
    CHECK_EQ_STR(j[5].out, "abc");
    CHECK_EQ_INT((int)strlen(j[6].out), (int)SSH_MAX_OUTPUT);
    CHECK_EQ_STR(j[6].errout, "tail\n");
    CHECK_EQ_STR(j[7].out, "'; touch /tmp/zonedef-shells-pwned; '");
    CHECK(access("/tmp/zonedef-shells-pwned", F_OK) != 0);
    CHECK_EQ_STR(j[8].out, "read-nothing\n");
    ssh_jobs_free(j, nj);
    free(fake);
    free(hostile);
    /* a command past its timeout: the host fails, by name, and later commands say so */
    struct ssh_job t[] = {{.host = 0, .cmd = "sleep 2.0191"}, {.host = 0, .cmd = "true"}};
    uint64_t t0 = zd_now_us();
    CHECK_EQ_INT(ssh_fleet_exec(f, t, 2, 500000), 2);
    CHECK(zd_now_us() - t0 < 2000000);
    CHECK_CONTAINS(t[0].error, "command timeout");
    CHECK_CONTAINS(t[1].error, "not connected");
    CHECK(!ssh_fleet_up(f, 0));
    ssh_jobs_free(t, 2);
    /* reconnected: a shell that dies mid-command fails the host by name, at once */
    CHECK_EQ_INT(ssh_fleet_connect(f, &err), 0);
    CHECK_EQ_INT(ssh_fleet_shells(f, "exec /bin/sh", 5000000, &err), 0);
    struct ssh_job d = {.host = 0, .cmd = "kill -9 $$; sleep 2.0191"};
    t0 = zd_now_us();
    CHECK_EQ_INT(ssh_fleet_exec(f, &d, 1, 10000000), 1);
    CHECK(zd_now_us() - t0 < 1500000);
    CHECK_CONTAINS(d.error, "the shell on the host ended");
    CHECK_CONTAINS(ssh_fleet_error(f, 0), "the shell on the host ended");
    ssh_jobs_free(&d, 1);
    /* a shell that cannot start says why */
    CHECK_EQ_INT(ssh_fleet_connect(f, &err), 0);
    CHECK_EQ_INT(
        ssh_fleet_shells(f, "echo first >&2; echo 'no shell for you' >&2; exit 1", 5000000, &err),
        -1);
    CHECK_CONTAINS(err, "127.0.0.1:19591: the shell on the host ended");
    CHECK_CONTAINS(err, ": no shell for you"); /* the last line of its stderr */
out:
    free(err);
    ssh_fleet_free(f);
    /* the two sleeps the host was left with end by themselves: wait for them (bounded) */
    for (int i = 0; i < 40 && system("pgrep -fx 'sleep 2.0191' >/dev/null") == 0; i++)
        usleep(100000);
    CHECK(system("pgrep -fx 'sleep 2.0191' >/dev/null") != 0);
    kill(sshd, SIGTERM);
    waitpid(sshd, NULL, 0);
    char *rm = xasprintf("rm -rf %s", dir);
    CHECK_EQ_INT(system(rm), 0);
    free(rm);
    free(key);
    free(kh);
}

int main(void)
{
    TH_RUN(test_base64, test_fingerprint, test_unreachable_named, test_actions_checked,
           test_shells);
}
