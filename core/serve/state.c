#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static const char spool_tag[] = "salve-spool-v1";

/* follow: the configured dir may be a symlink an administrator made; our own subdirs may not. */
static int check_dir(const char *what, const char *dir, int follow, char *err, size_t errlen)
{
	struct stat st;
	if ((follow ? stat(dir, &st) : lstat(dir, &st)) < 0) {
		snprintf(err, errlen, "%s %s: %s", what, dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s %s: not a directory%s", what, dir,
		         S_ISLNK(st.st_mode) ? " (a symlink)" : "");
		return -1;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen,
		         "%s %s: owned by uid %u, not by the user salve runs as (uid %u): whoever "
		         "owns it decides what runs",
		         what, dir, (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen,
		         "%s %s: mode %04o lets %s write it, and what is written there decides "
		         "what runs: chmod go-w %s",
		         what, dir, (unsigned)(st.st_mode & 07777),
		         (st.st_mode & S_IWOTH) ? "everyone" : "its group", dir);
		return -1;
	}
	return 0;
}

int srv_state_check_private_dir(const char *what, const char *dir, char *err, size_t errlen)
{
	return check_dir(what, dir, 1, err, errlen);
}

int srv_state_paths(const char *state_dir, char *serve_dir, size_t len, char *err, size_t errlen)
{
	if (salve_fmt(serve_dir, len, "%s/serve", state_dir) < 0) {
		snprintf(err, errlen, "state dir path too long: %s", state_dir);
		return -1;
	}
	char sub[4300];
	static const char *const dirs[] = {"", "/queue", "/circuits"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(sub, sizeof sub, "%s%s", serve_dir, dirs[i]);
		if (salve_mkdirs(sub, 0700) < 0) {
			snprintf(err, errlen, "cannot create %s: %s", sub, strerror(errno));
			return -1;
		}
	}
	if (check_dir("state dir", state_dir, 1, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		snprintf(sub, sizeof sub, "%s%s", serve_dir, dirs[i]);
		if (check_dir("state dir", sub, 0, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* The rules for a state file, on an open descriptor. 0 or -1 with err. */
static int check_file(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(err, errlen, "%s: owned by uid %u with mode %04o: a state file must be %s",
		         path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
		         "salve's own and writable by nobody else");
		return -1;
	}
	return 0;
}

static int open_state_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ELOOP)
			snprintf(err, errlen, "%s: a symlink (state files are never followed)",
			         path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(e));
		errno = e;
		return -1;
	}
	if (check_file(fd, path, err, errlen) < 0) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

int srv_state_file_present(const char *path, char *err, size_t errlen)
{
	/* Asked with every alert (the pause): the usual answer, absent, costs one syscall;
	 * anything there is opened and checked as before. */
	struct stat st;
	if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
		return 0;
	int fd = open_state_file(path, err, errlen);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	close(fd);
	return 1;
}

char *srv_state_read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	int fd = open_state_file(path, err, errlen);
	if (fd < 0)
		return NULL;
	/* Room for one byte past max: reading it means the file is too large. */
	size_t cap = max + 1 < 4096 ? max + 1 : 4096, n = 0;
	char *buf = malloc(cap + 1);
	while (buf) {
		if (n == cap) {
			size_t grown_cap = cap * 2 < max + 1 ? cap * 2 : max + 1;
			char *grown = grown_cap > cap ? realloc(buf, grown_cap + 1) : NULL;
			if (!grown) {
				if (grown_cap <= cap)
					snprintf(err, errlen, "%s: larger than %zu bytes", path,
					         max);
				free(buf);
				buf = NULL;
				errno = EFBIG;
				break;
			}
			buf = grown;
			cap = grown_cap;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			free(buf);
			buf = NULL;
			break;
		}
		if (r == 0) {
			if (n > max) {
				snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
				free(buf);
				buf = NULL;
				errno = EFBIG;
				break;
			}
			buf[n] = '\0';
			if (len)
				*len = n;
			break;
		}
		n += (size_t)r;
	}
	if (!buf && !err[0])
		snprintf(err, errlen, "%s: out of memory", path);
	close(fd);
	return buf;
}

int srv_state_write_atomic(const char *path, const char *data, size_t len, int durable, char *err,
                           size_t errlen)
{
	char tmp[4400];
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	int fd = open(tmp, flags, 0600);
	if (fd < 0 && errno == EEXIST) {
		/* Left by a crash of a process with our pid (or planted): never write through
		 * it. */
		unlink(tmp);
		fd = open(tmp, flags, 0600);
	}
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, errlen, "%s: %s", tmp,
			         w < 0 ? strerror(errno) : "short write");
			close(fd);
			unlink(tmp);
			return -1;
		}
		off += (size_t)w;
	}
	if ((durable && fdatasync(fd) < 0) || close(fd) < 0 || rename(tmp, path) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* PAUSE_PATH.gen, opened for writing without following a link and checked as ours. */
static int open_pause_gen(const char *pause_path, int flags, char *path, size_t pathlen, char *err,
                          size_t errlen)
{
	snprintf(path, pathlen, "%s.gen", pause_path);
	int fd = open(path, flags | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (check_file(fd, path, err, errlen) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A new generation: 8 random bytes (any change is what counts, so two writers need no
 * lock), written after the change of the pause file. */
static int bump_pause_gen(const char *pause_path, char *err, size_t errlen)
{
	char path[4400], why[4600];
	int fd = open_pause_gen(pause_path, O_WRONLY, path, sizeof path, why, sizeof why);
	unsigned long long gen = 0;
	int ok = fd >= 0 && getrandom(&gen, sizeof gen, 0) == (ssize_t)sizeof gen &&
	         pwrite(fd, &gen, sizeof gen, 0) == (ssize_t)sizeof gen;
	if (fd >= 0 && !ok)
		snprintf(why, sizeof why, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (!ok)
		snprintf(err, errlen,
		         "%s (the pause file is changed: a running server sees it within a second, "
		         "not with the next alert)",
		         why);
	return ok ? 0 : -1;
}

const volatile unsigned long long *srv_state_pause_gen_map(const char *pause_path, char *err,
                                                           size_t errlen)
{
	char path[4400];
	int fd = open_pause_gen(pause_path, O_RDWR, path, sizeof path, err, errlen);
	if (fd < 0)
		return NULL;
	struct stat st;
	void *m = MAP_FAILED;
	if (fstat(fd, &st) == 0 && (st.st_size >= 8 || ftruncate(fd, 8) == 0))
		m = mmap(NULL, 8, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	close(fd);
	return m == MAP_FAILED ? NULL : (const volatile unsigned long long *)m;
}

void srv_state_pause_gen_unmap(const volatile unsigned long long *gen)
{
	if (gen)
		munmap((void *)(uintptr_t)gen, 8);
}

int srv_state_write_pause(const char *pause_path, int pause, const char *by, const char *reason,
                          char *err, size_t errlen)
{
	if (!pause) {
		if (unlink(pause_path) < 0 && errno != ENOENT) {
			snprintf(err, errlen, "%s: %s", pause_path, strerror(errno));
			return -1;
		}
		return bump_pause_gen(pause_path, err, errlen) < 0 ? 1 : 0;
	}
	char ts[40];
	salve_timestamp(ts, sizeof ts);
	json_t *o = json_pack("{s:s, s:s, s:s}", "paused_at", ts, "by", by ? by : "unknown",
	                      "reason", reason ? reason : "");
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	int rc = text ? srv_state_write_atomic(pause_path, text, strlen(text), 1, err, errlen) : -1;
	if (!text)
		snprintf(err, errlen, "%s: out of memory", pause_path);
	free(text);
	if (rc < 0)
		return -1;
	return bump_pause_gen(pause_path, err, errlen) < 0 ? 1 : 0;
}

int srv_state_remove_circuit(const char *circuit_dir, const char *route, char *err, size_t errlen)
{
	char path[4400];
	snprintf(path, sizeof path, "%s/%s.open", circuit_dir, route);
	if (unlink(path) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	return -1;
}

/* ---- the spool key and sealed entries ------------------------------------------------------ */

static int read_key(int fd, const char *path, unsigned char *key, char *err, size_t errlen)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077) || st.st_size != SRV_SPOOL_KEY_LEN) {
		snprintf(err, errlen,
		         "spool key %s: must be a regular file of %d bytes owned by uid %u with "
		         "mode 0600 (remove it to make a new one; runs still spooled under the old "
		         "key are then refused)",
		         path, SRV_SPOOL_KEY_LEN, (unsigned)geteuid());
		return -1;
	}
	size_t n = 0;
	while (n < SRV_SPOOL_KEY_LEN) {
		ssize_t r = read(fd, key + n, SRV_SPOOL_KEY_LEN - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errlen, "spool key %s: %s", path,
			         r < 0 ? strerror(errno) : "short read");
			return -1;
		}
		n += (size_t)r;
	}
	return 0;
}

int srv_state_spool_key(const char *serve_dir, unsigned char key[SRV_SPOOL_KEY_LEN], char *err,
                        size_t errlen)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/spool.key", serve_dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		int ok = RAND_bytes(key, SRV_SPOOL_KEY_LEN) == 1;
		size_t n = 0;
		while (ok && n < SRV_SPOOL_KEY_LEN) {
			ssize_t w = write(fd, key + n, SRV_SPOOL_KEY_LEN - n);
			if (w < 0 && errno == EINTR)
				continue;
			ok = w > 0;
			n += ok ? (size_t)w : 0;
		}
		if (!ok || fsync(fd) < 0 || close(fd) < 0) {
			snprintf(err, errlen, "spool key %s: cannot create it: %s", path,
			         strerror(errno));
			unlink(path);
			OPENSSL_cleanse(key, SRV_SPOOL_KEY_LEN);
			return -1;
		}
		return 0;
	}
	if (errno != EEXIST) {
		snprintf(err, errlen, "spool key %s: %s", path, strerror(errno));
		return -1;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "spool key %s: %s", path,
		         errno == ELOOP ? "a symlink (never followed)" : strerror(errno));
		return -1;
	}
	int rc = read_key(fd, path, key, err, errlen);
	close(fd);
	if (rc < 0)
		OPENSSL_cleanse(key, SRV_SPOOL_KEY_LEN);
	return rc;
}

/* hex HMAC-SHA256 of "salve-spool-v1\n" + json[0..len). */
static int spool_mac(const unsigned char *key, const char *json, size_t len, char hex[65])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t taglen = sizeof spool_tag - 1;
	unsigned char *msg = malloc(taglen + 1 + len);
	if (!msg)
		return -1;
	memcpy(msg, spool_tag, taglen);
	msg[taglen] = '\n';
	memcpy(msg + taglen + 1, json, len);
	int ok =
	    HMAC(EVP_sha256(), key, SRV_SPOOL_KEY_LEN, msg, taglen + 1 + len, mac, &maclen) != NULL;
	free(msg);
	if (!ok || maclen != 32)
		return -1;
	for (unsigned i = 0; i < maclen; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	return 0;
}

char *srv_state_seal(const unsigned char key[SRV_SPOOL_KEY_LEN], const char *json)
{
	char hex[65];
	size_t len = strlen(json);
	if (spool_mac(key, json, len, hex) < 0)
		return NULL;
	size_t taglen = sizeof spool_tag - 1;
	char *out = malloc(taglen + 1 + 64 + 1 + len + 1);
	if (!out)
		return NULL;
	snprintf(out, taglen + 1 + 64 + 2, "%s %s\n", spool_tag, hex);
	memcpy(out + taglen + 1 + 64 + 1, json, len + 1);
	return out;
}

const char *srv_state_unseal(const unsigned char key[SRV_SPOOL_KEY_LEN], const char *text,
                             size_t len, char *err, size_t errlen)
{
	size_t taglen = sizeof spool_tag - 1, head = taglen + 1 + 64 + 1;
	if (len < head || memcmp(text, spool_tag, taglen) != 0 || text[taglen] != ' ' ||
	    text[head - 1] != '\n') {
		snprintf(err, errlen,
		         "not a sealed spool entry (no \"%s MAC\" first line): written by hand, or "
		         "by a salve older than the spool MAC",
		         spool_tag);
		return NULL;
	}
	char hex[65];
	if (spool_mac(key, text + head, len - head, hex) < 0) {
		snprintf(err, errlen, "cannot compute the spool MAC");
		return NULL;
	}
	if (CRYPTO_memcmp(hex, text + taglen + 1, 64) != 0) {
		snprintf(err, errlen,
		         "its MAC does not verify: the entry was changed after salve wrote it, or "
		         "written under another spool key");
		return NULL;
	}
	if (memchr(text + head, '\0', len - head)) {
		snprintf(err, errlen, "a NUL byte inside the entry");
		return NULL;
	}
	return text + head;
}
