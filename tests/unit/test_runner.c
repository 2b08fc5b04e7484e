/* test_runner: the parts of the runner that need no target: state directory resolution, the
 * registry of runs with possibly open faults, the per-target lock, exit code mapping. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "run/probe.h"
#include "run/runner.h"
#include "base/util.h"

static char dir[64];

static void test_state_dir(void)
{
    setenv("ZONEDEF_STATE_DIR", "/x/state", 1);
    char *s = run_state_dir();
    CHECK_EQ_STR(s, "/x/state");
    free(s);
    unsetenv("ZONEDEF_STATE_DIR");
    setenv("XDG_STATE_HOME", "/x/xdg", 1);
    s = run_state_dir();
    CHECK_EQ_STR(s, "/x/xdg/zonedef");
    free(s);
    unsetenv("XDG_STATE_HOME");
    setenv("HOME", "/x/home", 1);
    s = run_state_dir();
    CHECK_EQ_STR(s, "/x/home/.local/state/zonedef");
    free(s);
}

static void test_registry(void)
{
    char **dirs = NULL;
    size_t n = 99;
    CHECK_EQ_INT(run_registry_list(dir, &dirs, &n, NULL), 0); /* no runs/ yet: empty */
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(run_registry_add(dir, "/r/one", NULL), 0);
    CHECK_EQ_INT(run_registry_add(dir, "/r/two", NULL), 0);
    CHECK_EQ_INT(run_registry_add(dir, "/r/one", NULL), 0); /* idempotent */
    CHECK_EQ_INT(run_registry_list(dir, &dirs, &n, NULL), 0);
    CHECK_EQ_INT(n, 2);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        seen |= strcmp(dirs[i], "/r/one") == 0 ? 1 : strcmp(dirs[i], "/r/two") == 0 ? 2 : 4;
        free(dirs[i]);
    }
    free(dirs);
    CHECK_EQ_INT(seen, 3);
    run_registry_remove(dir, "/r/one");
    run_registry_remove(dir, "/r/never"); /* harmless */
    CHECK_EQ_INT(run_registry_list(dir, &dirs, &n, NULL), 0);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_STR(n ? dirs[0] : NULL, "/r/two");
    for (size_t i = 0; i < n; i++)
        free(dirs[i]);
    free(dirs);
}

static void test_lock(void)
{
    int a = -1, b = -1, c = -1;
    CHECK_EQ_INT(run_lock(dir, "lab:/tmp/lab", &a, NULL), 0);
    CHECK(a >= 0);
    /* flock is per open file: a second taker, even in this process, is refused */
    CHECK_EQ_INT(run_lock(dir, "lab:/tmp/lab", &b, NULL), 1);
    CHECK_EQ_INT(b, -1);
    /* another target is independent */
    CHECK_EQ_INT(run_lock(dir, "lab:/tmp/other", &c, NULL), 0);
    run_unlock(a);
    CHECK_EQ_INT(run_lock(dir, "lab:/tmp/lab", &b, NULL), 0);
    run_unlock(b);
    run_unlock(c);
    run_unlock(-1); /* no-op */
    char *err = NULL;
    CHECK_EQ_INT(run_lock("/proc/zonedef-no-such-dir", "k", &a, &err), -1);
    CHECK(err != NULL);
    free(err);
}

static void test_exit_codes(void)
{
    CHECK_EQ_INT(run_status_exit(RUN_PASSED), 0);
    CHECK_EQ_INT(run_status_exit(RUN_FAILED), 1);
    CHECK_EQ_INT(run_status_exit(RUN_UNSTEADY), 1);
    CHECK_EQ_INT(run_status_exit(RUN_INVALID), 2);
    CHECK_EQ_INT(run_status_exit(RUN_ABORTED), 3);
    CHECK_EQ_INT(run_status_exit(RUN_UNDO_FAILED), 4);
    CHECK_EQ_INT(run_status_exit(RUN_OPEN_FAULTS), 4);
    CHECK_EQ_INT(run_status_exit(RUN_BUSY), 5);
    CHECK_EQ_INT(run_status_exit(RUN_ERROR), 5);
    CHECK_EQ_STR(run_status_name(RUN_UNDO_FAILED), "undo_failed");
    CHECK_EQ_STR(run_status_name(RUN_ABORTED), "aborted");
}

static void test_command_probe(void)
{
    char *d = NULL;
    CHECK(probe_command("exit 0", 2000000, &d));
    CHECK_EQ_STR(d, "exit 0");
    free(d);
    CHECK(!probe_command("exit 3", 2000000, &d));
    CHECK_EQ_STR(d, "exit 3");
    free(d);
    /* a timeout kills the whole process group, not just the shell, and returns on time */
    char marker[96];
    snprintf(marker, sizeof(marker), "%s/late", dir);
    char *cmd = xasprintf("sleep 1; touch %s", marker);
    uint64_t t0 = zd_now_us();
    CHECK(!probe_command(cmd, 200000, &d));
    uint64_t took = zd_now_us() - t0;
    CHECK_EQ_STR(d, "timed out after 200ms");
    CHECK(took < 700000);
    free(d);
    free(cmd);
    zd_sleep_us(1300000);
    CHECK(!zd_file_exists(marker));
}

static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/zonedef-tr.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    atexit(cleanup);
    TH_RUN(test_state_dir, test_registry, test_lock, test_exit_codes, test_command_probe);
}
