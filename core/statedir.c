#include "statedir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static int check_dir(const char *what, const char *path, const struct stat *st, char *err,
                     size_t errlen)
{
	if (!S_ISDIR(st->st_mode)) {
		snprintf(err, errlen, "%s %s is not a directory: refused", what, path);
		return -1;
	}
	if (st->st_uid != geteuid()) {
		snprintf(err, errlen,
		         "%s %s is owned by uid %ld, not by the user running salve (uid %ld): "
		         "refused",
		         what, path, (long)st->st_uid, (long)geteuid());
		return -1;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen,
		         "%s %s is writable by group or others (mode %04o): refused (chmod go-w "
		         "it)",
		         what, path, (unsigned)(st->st_mode & 07777));
		return -1;
	}
	return 0;
}

int salve_state_subdir(const char *state_dir, const char *sub, char *path, size_t pathlen,
                       char *err, size_t errlen)
{
	struct stat st;
	if (stat(state_dir, &st) < 0) {
		if (errno != ENOENT || salve_mkdirs(state_dir, 0700) < 0 ||
		    stat(state_dir, &st) < 0) {
			snprintf(err, errlen, "state dir %s: %s", state_dir, strerror(errno));
			return -1;
		}
	}
	if (check_dir("state dir", state_dir, &st, err, errlen) < 0)
		return -1;
	if (salve_fmt(path, pathlen, "%s/%s", state_dir, sub) < 0) {
		snprintf(err, errlen, "state dir %s: path too long", state_dir);
		return -1;
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "state dir %s: %s", path, strerror(errno));
		return -1;
	}
	/* lstat: a subdirectory replaced by a symlink would lead our files elsewhere. */
	if (lstat(path, &st) < 0) {
		snprintf(err, errlen, "state dir %s: %s", path, strerror(errno));
		return -1;
	}
	return check_dir("state dir", path, &st, err, errlen);
}

int salve_state_check(const char *path, int follow, char *err, size_t errlen)
{
	struct stat st;
	if ((follow ? stat(path, &st) : lstat(path, &st)) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "state dir %s: %s", path, strerror(errno));
		return -1;
	}
	return check_dir("state dir", path, &st, err, errlen) < 0 ? -1 : 1;
}

int salve_state_open(const char *path, int flags, char *err, size_t errlen)
{
	/* O_NONBLOCK: a FIFO put in our place must not hang the open; cleared below. */
	int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
	if (fd < 0) {
		int e = errno;
		if (e == ELOOP)
			snprintf(err, errlen, "%s is a symbolic link: refused", path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(e));
		errno = e;
		return -1;
	}
	struct stat st;
	const char *why = NULL;
	int e = EPERM;
	if (fstat(fd, &st) < 0) {
		e = errno;
		why = strerror(errno);
	} else if (st.st_nlink == 0) {
		e = ENOENT;
		why = "removed as it was opened";
	} else if (!S_ISREG(st.st_mode)) {
		why = "not a regular file";
	} else if (st.st_uid != geteuid()) {
		why = "not owned by the user running salve";
	} else if (st.st_nlink != 1) {
		why = "it has other hard links";
	}
	if (why) {
		snprintf(err, errlen, "%s: %s: refused", path, why);
		close(fd);
		errno = e;
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}
