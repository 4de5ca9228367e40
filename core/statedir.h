/*
 * The state dir (journals, locks) decides what salve undoes and which runs may start, so it
 * must be ours alone: it and each subdirectory must be owned by the running user and not
 * writable by group or others, and every file in it is opened without following a symlink
 * and must be a regular file we own with a single link. Thread-safe (no shared state).
 */
#ifndef SALVE_STATEDIR_H
#define SALVE_STATEDIR_H

#include <stddef.h>

/* Checks state_dir (creating it 0700 when missing), then creates (0700) and checks
 * state_dir/sub, writing its path into path. 0, or -1 with err naming the directory. */
int salve_state_subdir(const char *state_dir, const char *sub, char *path, size_t pathlen,
                       char *err, size_t errlen);

/* Checks an existing directory of the state dir without creating anything (follow: stat
 * rather than lstat, for the state dir itself). 1 when it is fine, 0 when it does not exist,
 * -1 with err when it is refused. */
int salve_state_check(const char *path, int follow, char *err, size_t errlen);

/* open(path, flags | O_NOFOLLOW | O_CLOEXEC, 0600), then refuses anything but a regular file
 * owned by us with one link. Returns the descriptor, or -1 with err (errno kept from open
 * when that failed, EPERM when the file was refused). */
int salve_state_open(const char *path, int flags, char *err, size_t errlen);

#endif
