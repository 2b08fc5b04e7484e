/*
 * trust: the StrictModes-like checks (see trust.h). The walk opens root with O_NOFOLLOW |
 * O_DIRECTORY, then each component of rel with openat(..., O_NOFOLLOW) from the descriptor of
 * the directory above it, and checks each descriptor with fstat: no path is looked up twice, so
 * there is no window between a check and the open it guards.
 */
#include "base/trust.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"

#include "base/banned.h"

bool zd_stat_trusted(const struct stat *st, const char **why)
{
    if (st->st_uid != geteuid() && st->st_uid != 0) {
        if (why)
            *why = "is owned by another user";
        return false;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        if (why)
            *why = (st->st_mode & S_IWOTH) ? "is writable by others" : "is writable by its group";
        return false;
    }
    return true;
}

static int refuse(const char *path, const struct stat *st, char **err)
{
    if (st->st_uid != geteuid() && st->st_uid != 0)
        return zd_err(err, "'%s' is owned by uid %u, not by you or root: not trusted", path,
                      (unsigned)st->st_uid);
    return zd_err(err, "'%s' is writable by %s (mode %04o): not trusted", path,
                  (st->st_mode & S_IWOTH) ? "others" : "its group",
                  (unsigned)(st->st_mode & 07777));
}

/* An open that failed: say why in the words of the rule (a symlink is refused, not followed). */
static int open_failed(int dirfd, const char *name, const char *path, int e, int *errno_out,
                       char **err)
{
    struct stat st;
    if ((e == ELOOP || e == ENOTDIR || e == EMLINK) &&
        fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        if (errno_out)
            *errno_out = 0;
        return zd_err(err, "'%s' is a symbolic link: not trusted", path);
    }
    if (errno_out)
        *errno_out = e;
    return zd_err(err, "cannot open '%s': %s", path, strerror(e));
}

static int check_fd(int fd, const char *path, bool want_dir, int *errno_out, char **err)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        if (errno_out)
            *errno_out = errno;
        return zd_err(err, "cannot stat '%s': %s", path, strerror(errno));
    }
    if (errno_out)
        *errno_out = 0;
    if (want_dir && !S_ISDIR(st.st_mode))
        return zd_err(err, "'%s' is not a directory: not trusted", path);
    if (!want_dir && !S_ISREG(st.st_mode))
        return zd_err(err, "'%s' is not a regular file: not trusted", path);
    if (!zd_stat_trusted(&st, NULL))
        return refuse(path, &st, err);
    return 0;
}

int zd_open_trusted(const char *root, const char *rel, int flags, int *errno_out, char **err)
{
    if (errno_out)
        *errno_out = 0;
    /* "dir/" would make the kernel follow a symlink named dir: drop trailing slashes */
    char *r = xstrdup(root);
    for (size_t n = strlen(r); n > 1 && r[n - 1] == '/';)
        r[--n] = '\0';
    int dfd = open(r, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        open_failed(AT_FDCWD, r, r, errno, errno_out, err);
        free(r);
        return -1;
    }
    int ck = check_fd(dfd, r, true, errno_out, err);
    free(r);
    if (ck < 0) {
        close(dfd);
        return -1;
    }
    if (!rel || !*rel)
        return dfd;
    char *parts = xstrdup(rel);
    struct sbuf path = SBUF_INIT;
    sbuf_adds(&path, root);
    int rc = -1;
    char *save = NULL;
    char *comp = strtok_r(parts, "/", &save);
    while (comp) {
        char *next = strtok_r(NULL, "/", &save);
        sbuf_addf(&path, "/%s", comp);
        if (strcmp(comp, "..") == 0 || strcmp(comp, ".") == 0) {
            zd_err(err, "'%s': '.' and '..' are not allowed in a trusted path", sbuf_str(&path));
            goto out;
        }
        bool last = next == NULL;
        bool want_dir = !last || (flags & O_DIRECTORY);
        int of = last ? (flags | O_NOFOLLOW | O_CLOEXEC)
                      : (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int fd = openat(dfd, comp, of, 0600);
        if (fd < 0) {
            open_failed(dfd, comp, sbuf_str(&path), errno, errno_out, err);
            goto out;
        }
        if (check_fd(fd, sbuf_str(&path), want_dir, errno_out, err) < 0) {
            close(fd);
            goto out;
        }
        close(dfd);
        dfd = fd;
        comp = next;
    }
    rc = dfd;
    dfd = -1;
out:
    if (dfd >= 0)
        close(dfd);
    free(parts);
    sbuf_free(&path);
    return rc;
}

int zd_check_trusted_dir(const char *dir, char **err)
{
    int fd = zd_open_trusted(dir, NULL, O_RDONLY | O_DIRECTORY, NULL, err);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

int zd_mkdir_private(const char *path, bool must_create, int *errno_out, char **err)
{
    if (errno_out)
        *errno_out = 0;
    char *p = xstrdup(path);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST) {
            if (errno_out)
                *errno_out = errno;
            zd_err(err, "cannot create directory '%s': %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *s = '/';
    }
    int rc = 0;
    if (mkdir(p, 0700) < 0) {
        int e = errno;
        if (e != EEXIST || must_create) {
            if (errno_out)
                *errno_out = e;
            rc = zd_err(err, "cannot create directory '%s': %s", p, strerror(e));
        } else {
            rc = zd_check_trusted_dir(p, err);
        }
    }
    free(p);
    return rc;
}
