/*
 * trust: which files and directories zonedef believes, the way OpenSSH's StrictModes does.
 *
 * zonedef runs as root on the machines it breaks, and some of what it reads tells it what to do
 * (a run's journal names the undo `recover` performs, a lab's pid files name the processes a
 * fault signals). Such a file is acted on only when nobody but the invoking user (or root) could
 * have written it: the file and every directory from a given root down to it
 *   - are owned by the effective user or by root,
 *   - are not writable by group or others,
 *   - are not symbolic links (every component is opened with O_NOFOLLOW),
 * and the checks are made with fstat on the descriptor that is then used, so nothing can be
 * swapped between the check and the use. Every target kind (lab, SSH, AWS) and every command
 * that acts on a file it did not just create calls these; see the README's safety section.
 *
 * Part of the base (src/base/); uses libc only. Nothing here prints or exits.
 */
#ifndef ZD_TRUST_H
#define ZD_TRUST_H

#include <stdbool.h>
#include <sys/stat.h>

/*
 * Opens root/rel with `flags` (O_RDONLY, O_RDWR | O_APPEND, O_CREAT ... ; O_NOFOLLOW and
 * O_CLOEXEC are always added; a file O_CREAT makes gets mode 0600) after checking root, every
 * directory of rel and the file itself as above. rel may hold '/' (never ".."); NULL or "" opens
 * root itself as a directory. The file must be a regular file unless flags hold O_DIRECTORY.
 * Returns the descriptor, or -1 with *err: "'PATH' is writable by others (mode 0777): not
 * trusted", "'PATH' is owned by uid 65534, not by you or root: not trusted", "'PATH' is a
 * symbolic link: not trusted", or "cannot open 'PATH': reason". *errno_out (may be NULL) gets
 * errno for an open failure (ENOENT tells a missing file apart) and 0 for a trust refusal.
 */
int zd_open_trusted(const char *root, const char *rel, int flags, int *errno_out, char **err);

/* The check alone, on a directory (zd_open_trusted(dir, NULL, O_DIRECTORY) and close). */
int zd_check_trusted_dir(const char *dir, char **err);

/* The rule on one stat: owner is the effective user or root, no group or world write. On
 * refusal *why (may be NULL) gets a static reason ("is writable by others"). */
bool zd_stat_trusted(const struct stat *st, const char **why);

/*
 * Makes a private directory: mkdir -p where every directory created is 0700; the last one, when
 * it already exists, is accepted only if zd_check_trusted_dir accepts it (ours, a real
 * directory, not writable by others). With must_create, an existing last directory is an error
 * (EEXIST: *errno_out, when not NULL, says so) - for names that must be fresh. 0 or -1 with *err.
 */
int zd_mkdir_private(const char *path, bool must_create, int *errno_out, char **err);

#endif
