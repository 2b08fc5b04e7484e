/*
 * state: what outlives a run on this machine. The state directory ($ZONEDEF_STATE_DIR, else
 * $XDG_STATE_HOME/zonedef, else ~/.local/state/zonedef), the per-target lock (one run per
 * target at a time: an flock that dies with the process), and the registry of run directories
 * whose journals are not closed yet, so a crashed run is found again and the next run on the
 * same target refuses to start until `zonedef recover` has undone what it left.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run/runner.h"
#include "base/util.h"

#include "base/banned.h"

#define MAX_PATH_LEN 4096

char *run_state_dir(void)
{
    const char *s = getenv("ZONEDEF_STATE_DIR");
    if (s && *s)
        return xstrdup(s);
    s = getenv("XDG_STATE_HOME");
    if (s && *s)
        return xasprintf("%s/zonedef", s);
    const char *home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw && pw->pw_dir ? pw->pw_dir : "/tmp";
    }
    return xasprintf("%s/.local/state/zonedef", home);
}

/* FNV-1a: a stable file name for any key or path. */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

int run_lock(const char *state_dir, const char *key, int *fd, char **err)
{
    *fd = -1;
    char *dir = xasprintf("%s/locks", state_dir);
    if (zd_mkdir_p(dir, 0755, err) < 0) {
        free(dir);
        return -1;
    }
    char *path = xasprintf("%s/%016llx.lock", dir, (unsigned long long)fnv1a(key));
    free(dir);
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0) {
        zd_err(err, "cannot open lock '%s': %s", path, strerror(errno));
        free(path);
        return -1;
    }
    free(path);
    if (flock(f, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(f);
        if (e == EWOULDBLOCK)
            return 1;
        return zd_err(err, "cannot lock: %s", strerror(e));
    }
    /* for people who look: which target this lock is for */
    if (ftruncate(f, 0) == 0) {
        ssize_t w = write(f, key, strlen(key));
        (void)w;
    }
    *fd = f;
    return 0;
}

void run_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

static char *registry_path(const char *state_dir, const char *run_dir)
{
    return xasprintf("%s/runs/%016llx.run", state_dir, (unsigned long long)fnv1a(run_dir));
}

int run_registry_add(const char *state_dir, const char *run_dir, char **err)
{
    char *dir = xasprintf("%s/runs", state_dir);
    int rc = zd_mkdir_p(dir, 0755, err);
    free(dir);
    if (rc < 0)
        return -1;
    char *path = registry_path(state_dir, run_dir);
    char *text = xasprintf("%s\n", run_dir);
    rc = zd_write_file_atomic(path, text, strlen(text), err);
    free(text);
    free(path);
    return rc;
}

void run_registry_remove(const char *state_dir, const char *run_dir)
{
    char *path = registry_path(state_dir, run_dir);
    unlink(path);
    free(path);
}

int run_registry_list(const char *state_dir, char ***dirs, size_t *n, char **err)
{
    *dirs = NULL;
    *n = 0;
    char *path = xasprintf("%s/runs", state_dir);
    DIR *d = opendir(path);
    if (!d) {
        int e = errno;
        free(path);
        if (e == ENOENT)
            return 0;
        return zd_err(err, "cannot read the registry in '%s/runs': %s", state_dir, strerror(e));
    }
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && *n < 100000) {
        if (!zd_str_has_suffix(de->d_name, ".run"))
            continue;
        char *f = xasprintf("%s/%s", path, de->d_name);
        char *text = NULL;
        size_t len = 0;
        if (zd_read_file(f, MAX_PATH_LEN + 2, &text, &len, NULL) == 0) {
            char *nl = strchr(text, '\n');
            if (nl)
                *nl = '\0';
            if (*text) {
                ZD_GROW(*dirs, cap, *n + 1);
                (*dirs)[(*n)++] = xstrdup(text);
            }
        }
        free(text);
        free(f);
    }
    closedir(d);
    free(path);
    return 0;
}
