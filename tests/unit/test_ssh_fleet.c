/*
 * Unit tests for the SSH target's pure parts: base64 and OpenSSH's SHA256 fingerprint text
 * (checked against ssh-keygen -l on a real key), a host that refuses the connection reported by
 * name within the timeout, and actions that are not ours refused before anything runs.
 */
#include <stdio.h>
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

int main(void)
{
    TH_RUN(test_base64, test_fingerprint, test_unreachable_named, test_actions_checked);
}
