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
#include "base/trust.h"
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
        /* never a shared place like /tmp: the user's home from the password database */
        struct passwd *pw = getpwuid(geteuid());
        home = pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : "/nonexistent";
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
    if (zd_mkdir_private(state_dir, false, NULL, err) < 0 ||
        zd_mkdir_private(dir, false, NULL, err) < 0) {
        free(dir);
        return -1;
    }
    free(dir);
    /* a lock file must stay the same inode across runs, so it is not O_EXCL; it is opened
     * O_NOFOLLOW through the trust check instead (a planted symlink or a file of another user
     * in the locks directory is refused, never followed or truncated) */
    char *rel = xasprintf("locks/%016llx.lock", (unsigned long long)fnv1a(key));
    int f = zd_open_trusted(state_dir, rel, O_RDWR | O_CREAT, NULL, err);
    free(rel);
    if (f < 0)
        return -1;
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
    int rc = zd_mkdir_private(state_dir, false, NULL, err) < 0
                 ? -1
                 : zd_mkdir_private(dir, false, NULL, err);
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

int run_dir_make(const char *run_dir, bool fresh, char **err)
{
    return zd_mkdir_private(run_dir, fresh, NULL, err);
}

int run_registry_list(const char *state_dir, char ***dirs, size_t *n, char **err)
{
    *dirs = NULL;
    *n = 0;
    char *path = xasprintf("%s/runs", state_dir);
    int e = 0;
    char *te = NULL;
    /* the registry says which journals recover acts on: it must be ours, like they are */
    int dfd = zd_open_trusted(state_dir, "runs", O_RDONLY | O_DIRECTORY, &e, &te);
    if (dfd < 0) {
        free(path);
        if (e == ENOENT) {
            free(te);
            return 0;
        }
        zd_err(err, "cannot use the registry of runs: %s", te);
        free(te);
        return -1;
    }
    DIR *d = fdopendir(dfd);
    if (!d) {
        e = errno;
        close(dfd);
        free(path);
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
        int rfd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        bool ok =
            rfd >= 0 && fstat(rfd, &st) == 0 && S_ISREG(st.st_mode) && zd_stat_trusted(&st, NULL);
        if (rfd >= 0)
            close(rfd);
        if (ok && zd_read_file(f, MAX_PATH_LEN + 2, &text, &len, NULL) == 0) {
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
