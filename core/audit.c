#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "redact.h"
#include "util.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
/* At most this much of a torn line is kept in the audit_repaired record. */
#define TORN_KEEP 1024

struct salve_audit {
	pthread_mutex_t mu;
	int fd; /* O_RDWR | O_APPEND: appends, and preads of the tail */
	int head_fd;
	enum salve_audit_sync sync;
	char *path;
	/* What this process last saw at the end of the file. */
	off_t end;
	long long seq;
	char last_hash[65];
	int head_stale; /* records were written since the head was */
	/* SALVE_AUDIT_SYNC_GROUP: records taken and not yet written, in order. */
	json_t **waiting;
	size_t nwaiting, waiting_cap;
};

/* The end of a log: its last complete record, and what follows it when the last line has no
 * newline (a torn write). */
struct tail {
	long long seq;
	char hash[65];
	int has_seq;      /* the last complete line is a record with an integer seq */
	off_t good;       /* offset just past the last complete line */
	char *torn;       /* malloc'd copy of at most TORN_KEEP bytes after `good`, or NULL */
	size_t torn_kept; /* bytes in torn */
	off_t torn_len;   /* bytes after `good` */
};

/* flock that a signal does not turn into a dropped record. */
static int lock_log(int fd)
{
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

static int read_tail(int fd, off_t size, struct tail *t)
{
	memset(t, 0, sizeof *t);
	memcpy(t->hash, ZERO_HASH, 65);
	t->has_seq = 1;
	if (size == 0)
		return 0;
	/* Most records fit in a page: the usual read is one page, grown when a line is longer. */
	size_t chunk = 4096;
	char *buf = NULL;
	for (;;) {
		size_t want = (off_t)chunk < size ? chunk : (size_t)size;
		char *grown = realloc(buf, want + 1);
		if (!grown) {
			free(buf);
			return -1;
		}
		buf = grown;
		if (pread(fd, buf, want, size - (off_t)want) != (ssize_t)want) {
			free(buf);
			return -1;
		}
		int whole = (off_t)want == size;
		size_t end = want; /* just past the last newline in buf */
		while (end > 0 && buf[end - 1] != '\n')
			end--;
		size_t start = end ? end - 1 : 0; /* the start of the line that newline ends */
		while (start > 0 && buf[start - 1] != '\n')
			start--;
		if ((end == 0 || start == 0) && !whole) {
			chunk *= 4;
			continue;
		}
		t->good = size - (off_t)want + (off_t)end;
		t->torn_len = size - t->good;
		if (t->torn_len > 0) {
			size_t keep = t->torn_len > TORN_KEEP ? TORN_KEEP : (size_t)t->torn_len;
			t->torn = malloc(keep);
			if (t->torn) {
				memcpy(t->torn, buf + end, keep);
				t->torn_kept = keep;
			}
		}
		if (end > 0) {
			size_t linelen = end - 1 - start;
			salve_sha256_hex(buf + start, linelen, t->hash);
			json_t *rec = json_loadb(buf + start, linelen, 0, NULL);
			json_t *jseq = json_object_get(rec, "seq");
			t->has_seq = json_is_integer(jseq);
			t->seq = json_integer_value(jseq);
			json_decref(rec);
		}
		free(buf);
		return 0;
	}
}

/* The head's seq and hash. 0; 1 when the head is empty or unreadable as a head; -1 on error. */
static int read_head(int head_fd, long long *seq, char *hash)
{
	char buf[256];
	ssize_t n = pread(head_fd, buf, sizeof buf - 1, 0);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	json_t *h = json_loads(buf, 0, NULL);
	json_t *jseq = json_object_get(h, "seq");
	const char *jhash = json_string_value(json_object_get(h, "hash"));
	int rc = 1;
	if (json_is_integer(jseq) && jhash && strlen(jhash) == 64) {
		*seq = json_integer_value(jseq);
		memcpy(hash, jhash, 65);
		rc = 0;
	}
	json_decref(h);
	return rc;
}

/* Fixed width (the seq is space-padded, which JSON allows), so the head is rewritten in place
 * with one pwrite and never needs truncating. */
static int write_head(salve_audit *a, char *err, size_t errlen)
{
	char head[128];
	int hl =
	    snprintf(head, sizeof head, "{\"seq\":%20lld,\"hash\":\"%s\"}\n", a->seq, a->last_hash);
	errno = 0;
	if (pwrite(a->head_fd, head, (size_t)hl, 0) != hl) {
		snprintf(err, errlen, "audit head %s.head: %s", a->path,
		         errno ? strerror(errno) : "short write");
		return -1;
	}
	a->head_stale = 0;
	return 0;
}

/* Printable ASCII as is, every other byte as \xHH: a torn line may hold half a UTF-8
 * sequence, and jansson takes only valid UTF-8. */
static json_t *escaped_bytes(const char *s, size_t n)
{
	char *out = malloc(n * 4 + 1);
	if (!out)
		return NULL;
	char *w = out;
	for (const unsigned char *p = (const unsigned char *)s; p < (const unsigned char *)s + n;
	     p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\')
			*w++ = (char)*p;
		else
			w += sprintf(w, "\\x%02x", *p);
	}
	*w = '\0';
	json_t *j = json_string(out);
	free(out);
	return j;
}

/* A growing buffer of encoded lines. */
struct lines {
	char *buf;
	size_t len, cap;
};

static int lines_add(const char *data, size_t n, void *arg)
{
	struct lines *l = arg;
	if (l->len + n + 1 > l->cap) {
		size_t cap = l->cap ? l->cap : 4096;
		while (cap < l->len + n + 1)
			cap *= 2;
		char *grown = realloc(l->buf, cap);
		if (!grown)
			return -1;
		l->buf = grown;
		l->cap = cap;
	}
	memcpy(l->buf + l->len, data, n);
	l->len += n;
	return 0;
}

/* Numbers rec as the record after a->seq, chains it to a->last_hash, and adds its line (with
 * its newline) to l; a's seq and hash then name it. -1 (ENOMEM) when it cannot be encoded. */
static int encode_next(salve_audit *a, json_t *rec, struct lines *l)
{
	char ts[40];
	salve_timestamp(ts, sizeof ts);
	/* seq and ts lead every record: set in place when the caller reserved them. */
	json_object_set_new(rec, "seq", json_integer((json_int_t)(a->seq + 1)));
	json_object_set_new(rec, "ts", json_string(ts));
	salve_redact_json(rec);
	json_object_set_new(rec, "prev", json_string(a->last_hash));
	size_t at = l->len;
	if (json_dump_callback(rec, lines_add, l, JSON_COMPACT) < 0 || lines_add("\n", 1, l) < 0) {
		l->len = at;
		errno = ENOMEM;
		return -1;
	}
	salve_sha256_hex(l->buf + at, l->len - at - 1, a->last_hash);
	a->seq++;
	return 0;
}

/* Under the lock, with a->end == the file's size: l's lines, in one write(). A write cut
 * short is cut back off, so the file always ends with a complete record. */
static int write_lines(salve_audit *a, const struct lines *l, const char *what, char *err,
                       size_t errlen)
{
	ssize_t n;
	do
		n = write(a->fd, l->buf, l->len);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)l->len) {
		a->end += (off_t)l->len;
		a->head_stale = 1;
		return 0;
	}
	/* A short write reports no errno: the disk, a quota or a size limit is full. */
	int why = n < 0 ? errno : ENOSPC;
	if (n > 0 && ftruncate(a->fd, a->end) < 0) {
		snprintf(err, errlen,
		         "audit log %s: write cut short after %zd of %zu bytes, and the partial "
		         "record could not be removed (%s): the log ends with a torn line",
		         a->path, n, l->len, strerror(errno));
	} else if (n >= 0) {
		snprintf(
		    err, errlen,
		    "audit log %s: write cut short after %zd of %zu bytes (%s); %s not written "
		    "and the log was cut back to its last complete record",
		    a->path, n, l->len, strerror(why), what);
	} else {
		snprintf(err, errlen, "audit log %s: write: %s; %s not written", a->path,
		         strerror(why), what);
	}
	errno = why;
	return -1;
}

/* Under the lock, with a->end == the file's size: recs numbered and chained from a's seq and
 * hash, in one write(). On failure a's seq and hash are as before (write_lines keeps end);
 * what names them in the error ("the record was"). The records stay the caller's. */
static int write_records_locked(salve_audit *a, json_t *const *recs, size_t n, const char *what,
                                char *err, size_t errlen)
{
	struct lines l = {0};
	long long seq = a->seq;
	char hash[65];
	memcpy(hash, a->last_hash, 65);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = encode_next(a, recs[i], &l);
		if (rc < 0)
			snprintf(err, errlen, "audit log %s: cannot encode record", a->path);
	}
	if (rc == 0)
		rc = write_lines(a, &l, what, err, errlen);
	if (rc < 0) {
		int e = errno;
		a->seq = seq;
		memcpy(a->last_hash, hash, 65);
		errno = e;
	}
	free(l.buf);
	return rc;
}

static int append_locked(salve_audit *a, json_t *rec, char *err, size_t errlen)
{
	return write_records_locked(a, &rec, 1, "the record was", err, errlen);
}

/* Under the lock: learn where the file ends now (another writer may have appended), refuse a
 * log whose head says it once went further, and cut off a torn line a dead writer left. */
static int sync_tail(salve_audit *a, int check_head, char *err, size_t errlen)
{
	struct stat st;
	if (fstat(a->fd, &st) < 0) {
		snprintf(err, errlen, "audit log %s: %s", a->path, strerror(errno));
		return -1;
	}
	if (st.st_size == a->end)
		return 0;
	struct tail t;
	if (read_tail(a->fd, st.st_size, &t) < 0) {
		snprintf(err, errlen, "audit log %s: cannot read its last record: %s", a->path,
		         strerror(errno));
		return -1;
	}
	int rc = -1;
	/* A writer numbers records 1, 2, 3, ...: any other last seq was edited in (and the next
	 * one, seq + 1, might not even exist). */
	if (!t.has_seq || (t.good > 0 && (t.seq < 1 || t.seq == LLONG_MAX))) {
		snprintf(
		    err, errlen,
		    "audit log %s: its last complete line is not a salve audit record (edited, "
		    "or not an audit log): not appending; see `salve audit verify %s`",
		    a->path, a->path);
		errno = EINVAL;
		goto out;
	}
	long long hseq;
	char hhash[65];
	int hrc = check_head ? read_head(a->head_fd, &hseq, hhash) : -2;
	if (hrc == -1) {
		snprintf(err, errlen, "audit head %s.head: %s", a->path, strerror(errno));
		goto out;
	}
	if (hrc == 1 && t.seq > 0) {
		snprintf(err, errlen,
		         "audit head %s.head is empty or damaged while the log has %lld records: "
		         "records may have been removed from the end; not appending. Check with "
		         "`salve audit verify %s`",
		         a->path, t.seq, a->path);
		errno = EINVAL;
		goto out;
	}
	if (hrc == 0 && (hseq > t.seq || (hseq == t.seq && strcmp(hhash, t.hash) != 0))) {
		snprintf(err, errlen,
		         "audit log %s %s: not appending to it; see `salve audit verify %s`",
		         a->path,
		         hseq > t.seq ? "ends before the record its head names (records were "
		                        "removed from the end)"
		                      : "has a last record that differs from its head's (edited)",
		         a->path);
		errno = EINVAL;
		goto out;
	}
	a->seq = t.seq;
	memcpy(a->last_hash, t.hash, 65);
	a->end = t.good;
	if (t.torn_len > 0) {
		if (ftruncate(a->fd, t.good) < 0) {
			snprintf(err, errlen,
			         "audit log %s ends with a torn line that cannot be cut off: %s",
			         a->path, strerror(errno));
			a->end = -1;
			goto out;
		}
		json_t *rec = salve_audit_record();
		json_object_set_new(rec, "event", json_string("audit_repaired"));
		json_object_set_new(rec, "removed_bytes", json_integer((json_int_t)t.torn_len));
		if (t.torn)
			json_object_set_new(rec, "removed", escaped_bytes(t.torn, t.torn_kept));
		json_object_set_new(rec, "reason",
		                    json_string("the log ended with an incomplete record (its "
		                                "writer died while writing it); it was cut off"));
		int arc = append_locked(a, rec, err, errlen);
		json_decref(rec);
		if (arc < 0)
			goto out;
	}
	rc = 0;
out:
	free(t.torn);
	return rc;
}

/* Opens dir/name with O_NOFOLLOW and checks it is a regular file of ours that only we can
 * write. -1 with err set (errno ENOENT when it does not exist and flags have no O_CREAT). */
static int open_owned(int dirfd, const char *name, int flags, const char *what, const char *shown,
                      char *err, size_t errlen)
{
	/* O_NONBLOCK: a FIFO planted at the path must not block the open. */
	int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0640);
	if (fd < 0) {
		int e = errno;
		if (e == ELOOP)
			snprintf(err, errlen, "%s %s is a symbolic link: refused", what, shown);
		else
			snprintf(err, errlen, "%s %s: %s", what, shown, strerror(e));
		errno = e;
		return -1;
	}
	struct stat st;
	char why[160] = "";
	if (fstat(fd, &st) < 0)
		snprintf(why, sizeof why, "cannot be checked: %s", strerror(errno));
	else if (!S_ISREG(st.st_mode))
		snprintf(why, sizeof why, "is not a regular file");
	else if (st.st_uid != geteuid())
		snprintf(why, sizeof why, "is owned by uid %u, not by this user (uid %u)",
		         (unsigned)st.st_uid, (unsigned)geteuid());
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		snprintf(why, sizeof why, "is writable by %s (mode %04o)",
		         st.st_mode & S_IWOTH ? "everyone" : "its group",
		         (unsigned)(st.st_mode & 07777));
	if (why[0]) {
		snprintf(err, errlen, "%s %s %s: refused", what, shown, why);
		close(fd);
		errno = EPERM;
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

/* The log's directory, created when missing, opened and checked: ours, and nobody else may
 * write to it (or they could swap the log for a symlink between our checks). */
static int open_dir(const char *path, char *base, size_t baselen, char *err, size_t errlen)
{
	char dir[4096], file[4096];
	snprintf(dir, sizeof dir, "%s", path);
	snprintf(file, sizeof file, "%s", path);
	snprintf(base, baselen, "%s", basename(file));
	const char *d = dirname(dir);
	if (salve_mkdirs(d, 0750) < 0) {
		snprintf(err, errlen, "audit log %s: cannot create its directory: %s", path,
		         strerror(errno));
		return -1;
	}
	int dirfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	if (dirfd < 0 || fstat(dirfd, &st) < 0) {
		snprintf(err, errlen, "audit log %s: its directory %s: %s", path, d,
		         strerror(errno));
		if (dirfd >= 0)
			close(dirfd);
		return -1;
	}
	if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		if (st.st_uid != geteuid())
			snprintf(err, errlen,
			         "audit log %s: its directory %s is owned by uid %u, not by this "
			         "user (uid %u): refused",
			         path, d, (unsigned)st.st_uid, (unsigned)geteuid());
		else
			snprintf(err, errlen,
			         "audit log %s: its directory %s is writable by %s (mode %04o): "
			         "refused (chmod go-w it)",
			         path, d, st.st_mode & S_IWOTH ? "everyone" : "its group",
			         (unsigned)(st.st_mode & 07777));
		close(dirfd);
		errno = EPERM;
		return -1;
	}
	return dirfd;
}

static salve_audit *open_log(const char *path, enum salve_audit_sync sync, int accept_missing_head,
                             char *err, size_t errlen)
{
	char base[4096], head_base[4200], head_shown[4200];
	int dirfd = open_dir(path, base, sizeof base, err, errlen);
	if (dirfd < 0)
		return NULL;
	snprintf(head_base, sizeof head_base, "%s.head", base);
	snprintf(head_shown, sizeof head_shown, "%s.head", path);
	int fd =
	    open_owned(dirfd, base, O_RDWR | O_APPEND | O_CREAT, "audit log", path, err, errlen);
	if (fd < 0) {
		close(dirfd);
		return NULL;
	}
	salve_audit *a = calloc(1, sizeof *a);
	if (!a || lock_log(fd) < 0) {
		snprintf(err, errlen, "audit log %s: %s", path,
		         a ? strerror(errno) : "out of memory");
		free(a);
		close(fd);
		close(dirfd);
		return NULL;
	}
	pthread_mutex_init(&a->mu, NULL);
	a->fd = fd;
	a->head_fd = -1;
	a->sync = sync;
	a->path = strdup(path);
	a->end = -1;
	memcpy(a->last_hash, ZERO_HASH, 65);
	int ok = 0;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "audit log %s: %s", path, strerror(errno));
		goto done;
	}
	a->head_fd = open_owned(dirfd, head_base, O_RDWR, "audit head", head_shown, err, errlen);
	int missing = a->head_fd < 0 && errno == ENOENT;
	if (a->head_fd < 0 && !missing)
		goto done;
	struct stat hst;
	int empty = a->head_fd >= 0 && fstat(a->head_fd, &hst) == 0 && hst.st_size == 0;
	if ((missing || empty) && st.st_size > 0 && !accept_missing_head) {
		snprintf(err, errlen,
		         "audit head %s is %s while the log has records: records may have been "
		         "removed from the end, so nothing is appended. `salve audit verify "
		         "--accept-missing-head %s` checks the log and, when it is intact, accepts "
		         "it as it is (audited)",
		         head_shown, missing ? "missing" : "empty", path);
		errno = EINVAL;
		goto done;
	}
	if (missing)
		a->head_fd = open_owned(dirfd, head_base, O_RDWR | O_CREAT | O_EXCL, "audit head",
		                        head_shown, err, errlen);
	if (a->head_fd < 0)
		goto done;
	if (sync_tail(a, !(missing || empty), err, errlen) < 0)
		goto done;
	/* A new (or accepted) head names the log's last record at once, as it does after a
	 * torn line was cut off and the repair recorded. */
	if (a->head_stale && a->sync == SALVE_AUDIT_SYNC_ALWAYS && fdatasync(fd) < 0) {
		snprintf(err, errlen, "audit log %s: fdatasync: %s", path, strerror(errno));
		goto done;
	}
	if ((missing || empty || a->head_stale) && write_head(a, err, errlen) < 0)
		goto done;
	ok = 1;
done:
	flock(fd, LOCK_UN);
	close(dirfd);
	if (!ok) {
		int e = errno;
		close(a->fd);
		if (a->head_fd >= 0)
			close(a->head_fd);
		pthread_mutex_destroy(&a->mu);
		free(a->path);
		free(a);
		errno = e;
		return NULL;
	}
	return a;
}

salve_audit *salve_audit_open(const char *path, enum salve_audit_sync sync, char *err,
                              size_t errlen)
{
	return open_log(path, sync, 0, err, errlen);
}

const char *salve_audit_path(const salve_audit *a)
{
	return a->path;
}

/* Group commit: the record waits for salve_audit_sync. */
static int take_waiting(salve_audit *a, json_t *record, char *err, size_t errlen)
{
	pthread_mutex_lock(&a->mu);
	if (a->nwaiting == a->waiting_cap) {
		size_t cap = a->waiting_cap ? 2 * a->waiting_cap : 64;
		json_t **grown = realloc(a->waiting, cap * sizeof *grown);
		if (!grown) {
			pthread_mutex_unlock(&a->mu);
			snprintf(err, errlen, "audit log %s: out of memory", a->path);
			json_decref(record);
			errno = ENOMEM;
			return -1;
		}
		a->waiting = grown;
		a->waiting_cap = cap;
	}
	a->waiting[a->nwaiting++] = record;
	pthread_mutex_unlock(&a->mu);
	return 0;
}

int salve_audit_write(salve_audit *a, json_t *record, char *err, size_t errlen)
{
	if (a->sync == SALVE_AUDIT_SYNC_GROUP)
		return take_waiting(a, record, err, errlen);
	int rc = -1, saved = 0;
	pthread_mutex_lock(&a->mu);
	if (lock_log(a->fd) < 0) {
		saved = errno;
		snprintf(err, errlen, "audit log %s: lock: %s", a->path, strerror(errno));
		pthread_mutex_unlock(&a->mu);
		json_decref(record);
		errno = saved;
		return -1;
	}
	if (sync_tail(a, 1, err, errlen) < 0 || append_locked(a, record, err, errlen) < 0) {
		saved = errno;
		goto out;
	}
	if (a->sync == SALVE_AUDIT_SYNC_ALWAYS && fdatasync(a->fd) < 0) {
		saved = errno;
		snprintf(err, errlen, "audit log %s: fdatasync: %s", a->path, strerror(errno));
		goto out;
	}
	/* Without durability (sync none) the head is written by salve_audit_sync or at close:
	 * nothing is promised after a crash in that mode anyway. */
	if (a->sync == SALVE_AUDIT_SYNC_ALWAYS && write_head(a, err, errlen) < 0) {
		saved = errno;
		goto out;
	}
	rc = 0;
out:
	flock(a->fd, LOCK_UN);
	pthread_mutex_unlock(&a->mu);
	json_decref(record);
	if (rc < 0)
		errno = saved;
	return rc;
}

json_t *salve_audit_record(void)
{
	json_t *r = json_object();
	json_object_set_new(r, "seq", json_integer(0));
	json_object_set_new(r, "ts", json_string(""));
	return r;
}

/* Under the lock: the head names the file's last record (another process may have appended
 * since this one last wrote). */
static int refresh_head_locked(salve_audit *a, char *err, size_t errlen)
{
	struct stat st;
	if (fstat(a->fd, &st) < 0) {
		snprintf(err, errlen, "audit log %s: %s", a->path, strerror(errno));
		return -1;
	}
	if (st.st_size != a->end) {
		struct tail t;
		if (read_tail(a->fd, st.st_size, &t) < 0) {
			snprintf(err, errlen, "audit log %s: cannot read its last record", a->path);
			return -1;
		}
		free(t.torn);
		a->seq = t.seq;
		memcpy(a->last_hash, t.hash, 65);
		a->end = t.good;
	}
	return write_head(a, err, errlen);
}

void salve_audit_close(salve_audit *a)
{
	if (!a)
		return;
	if (a->nwaiting) {
		char err[512];
		if (salve_audit_sync(a, err, sizeof err) < 0)
			fprintf(stderr, "salve: %s\n", err);
	}
	if (a->head_stale) {
		char err[512];
		pthread_mutex_lock(&a->mu);
		if (lock_log(a->fd) == 0) {
			if (refresh_head_locked(a, err, sizeof err) < 0)
				fprintf(stderr, "salve: %s\n", err);
			flock(a->fd, LOCK_UN);
		}
		pthread_mutex_unlock(&a->mu);
	}
	if (a->sync == SALVE_AUDIT_SYNC_ALWAYS)
		fsync(a->head_fd);
	close(a->fd);
	close(a->head_fd);
	pthread_mutex_destroy(&a->mu);
	free(a->waiting);
	free(a->path);
	free(a);
}

/* Opens name with O_NOFOLLOW for reading into a malloc'd buffer; NULL with errno. */
static char *read_nofollow(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return NULL;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	ssize_t n = buf ? pread(fd, buf, (size_t)st.st_size, 0) : -1;
	close(fd);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	if (len)
		*len = (size_t)n;
	return buf;
}

/* What LOG.head says: its state, and when it is a head, the seq and hash it names (seq 0 and
 * the zero hash: no record yet). */
enum head_state { HEAD_OK, HEAD_MISSING, HEAD_EMPTY, HEAD_DAMAGED, HEAD_UNREADABLE };
struct head {
	enum head_state state;
	long long seq;
	char hash[65];
	char why[512]; /* HEAD_UNREADABLE: what and where */
};

static void read_head_file(const char *path, struct head *h)
{
	memset(h, 0, sizeof *h);
	char headpath[4200];
	snprintf(headpath, sizeof headpath, "%s.head", path);
	size_t hlen = 0;
	char *text = read_nofollow(headpath, &hlen);
	if (!text) {
		h->state = errno == ENOENT ? HEAD_MISSING : HEAD_UNREADABLE;
		snprintf(h->why, sizeof h->why, "%s: %s", headpath,
		         errno == ELOOP ? "is a symbolic link" : strerror(errno));
		return;
	}
	json_t *j = json_loads(text, 0, NULL);
	json_t *jseq = json_object_get(j, "seq");
	const char *hash = json_string_value(json_object_get(j, "hash"));
	if (json_is_integer(jseq) && json_integer_value(jseq) >= 0 && hash && strlen(hash) == 64) {
		h->state = HEAD_OK;
		h->seq = json_integer_value(jseq);
		memcpy(h->hash, hash, 65);
	} else {
		h->state = hlen == 0 ? HEAD_EMPTY : HEAD_DAMAGED;
	}
	json_decref(j);
	free(text);
}

/* Where an intact chain ends, and the hash of the record a head names. */
struct chain_end {
	long long records;
	long long last_seq;
	char hash[65];
	char wanted_hash[65]; /* the hash of the record with the wanted seq, when there is one */
};

/* The chain alone: 0 intact (*end set), 1 broken (msg says where), -1 unreadable. Records run
 * 1, 2, 3, ... from the first line; wanted_seq (0 for none) names the record whose hash is
 * kept. No seq is computed with: an edited log may hold any integer. */
static int verify_chain(const char *path, long long wanted_seq, struct chain_end *end, char *msg,
                        size_t msglen)
{
	memset(end, 0, sizeof *end);
	size_t len;
	char *text = salve_read_file(path, &len);
	if (!text) {
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char prev_hash[65] = ZERO_HASH;
	long long prev_seq = 0, lineno = 0;
	int rc = 0;
	char *p = text;
	while (p < text + len) {
		lineno++;
		char *nl = memchr(p, '\n', (size_t)(text + len - p));
		if (!nl) {
			snprintf(msg, msglen, "%s:%lld: last line is incomplete (a torn write)",
			         path, lineno);
			rc = 1;
			goto done;
		}
		*nl = '\0';
		json_error_t jerr;
		json_t *rec = json_loads(p, 0, &jerr);
		if (!json_is_object(rec)) {
			snprintf(msg, msglen,
			         "%s:%lld: not a JSON record (%s): the line was edited", path,
			         lineno, jerr.text);
			json_decref(rec);
			rc = 1;
			goto done;
		}
		json_t *jseq = json_object_get(rec, "seq");
		const char *rprev = json_string_value(json_object_get(rec, "prev"));
		long long seq = json_integer_value(jseq);
		if (!json_is_integer(jseq) || !rprev) {
			snprintf(msg, msglen,
			         "%s:%lld: record has no seq or prev field: the line was edited",
			         path, lineno);
			rc = 1;
		} else if (seq < 1) {
			snprintf(msg, msglen,
			         "%s:%lld: record seq %lld: records are numbered from 1: the line "
			         "was edited",
			         path, lineno, seq);
			rc = 1;
		} else if (lineno == 1 && seq != 1) {
			/* seq >= 2 here, so seq - 1 cannot overflow. */
			snprintf(
			    msg, msglen,
			    "%s:1: the first record has seq %lld: %lld record(s) missing before "
			    "this line",
			    path, seq, seq - 1);
			rc = 1;
		} else if (lineno > 1 && seq - 1 != prev_seq) {
			/* prev_seq >= 1 and seq >= 1: their difference cannot overflow. */
			if (seq - 1 > prev_seq)
				snprintf(msg, msglen,
				         "%s:%lld: record seq %lld follows seq %lld: %lld "
				         "record(s) missing before this line",
				         path, lineno, seq, prev_seq, seq - 1 - prev_seq);
			else
				snprintf(msg, msglen,
				         "%s:%lld: record seq %lld follows seq %lld: out of order",
				         path, lineno, seq, prev_seq);
			rc = 1;
		} else if (strcmp(rprev, prev_hash) != 0) {
			snprintf(
			    msg, msglen,
			    "%s:%lld: hash chain broken: the previous line (%lld) was edited, or a "
			    "record before this one was removed",
			    path, lineno, lineno - 1);
			rc = 1;
		}
		json_decref(rec);
		if (rc)
			goto done;
		salve_sha256_hex(p, (size_t)(nl - p), prev_hash);
		prev_seq = seq;
		if (seq == wanted_seq)
			memcpy(end->wanted_hash, prev_hash, 65);
		p = nl + 1;
	}
	end->records = lineno;
	end->last_seq = prev_seq;
	memcpy(end->hash, prev_hash, 65);
done:
	free(text);
	return rc;
}

/* The head compared with the chain's end. 0 fine; 1 with msg; 2 head missing or empty. A head
 * behind the log (a writer without sync, or one that died between a record and its head)
 * must name a record the log has, with that record's hash. */
static int check_head(const char *path, const struct head *h, const struct chain_end *end,
                      char *msg, size_t msglen)
{
	long long lineno = end->records, last_seq = end->last_seq;
	switch (h->state) {
	case HEAD_MISSING:
	case HEAD_EMPTY:
		return lineno ? 2 : 0;
	case HEAD_UNREADABLE:
		snprintf(msg, msglen, "%s", h->why);
		return 1;
	case HEAD_DAMAGED:
		if (!lineno)
			return 0;
		snprintf(msg, msglen,
		         "%s.head: damaged (not a head record): the log cannot be checked for "
		         "records removed from its end",
		         path);
		return 1;
	case HEAD_OK:
		break;
	}
	if (h->seq > last_seq) {
		/* Both >= 0: the difference cannot overflow. */
		snprintf(msg, msglen,
		         "%s:%lld: the log ends at seq %lld but its head says %lld records were "
		         "written: %lld record(s) removed from the end",
		         path, lineno, last_seq, h->seq, h->seq - last_seq);
		return 1;
	}
	if (!lineno)
		return 0;
	if (h->seq == last_seq && strcmp(h->hash, end->hash) != 0) {
		snprintf(msg, msglen,
		         "%s:%lld: the last record was edited (its hash differs from the head)",
		         path, lineno);
		return 1;
	}
	/* An intact chain runs 1..last_seq, so it has record h->seq (seq 0: its start). */
	const char *named = h->seq == 0 ? ZERO_HASH : end->wanted_hash;
	if (h->seq < last_seq && strcmp(h->hash, named) != 0) {
		if (h->seq == 0)
			snprintf(msg, msglen,
			         "%s.head names seq 0 (no record yet) with a hash that is not the "
			         "chain's start: the head was edited",
			         path);
		else /* record N is line N */
			snprintf(msg, msglen,
			         "%s:%lld: record seq %lld was edited (its hash differs from the "
			         "head, which names it)",
			         path, h->seq, h->seq);
		return 1;
	}
	return 0;
}

/* A shared lock on the log while it and its head are read: a writer appends a record and
 * then moves the head, and a verify between the two reads would see a head ahead of the log.
 * -1 when the log cannot be opened (verify_chain says why). */
static int lock_for_reading(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_SH) < 0 && errno == EINTR)
		;
	return fd;
}

static void unlock_reading(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* The log and its head, read under one shared lock. */
static int verify_locked(const char *path, struct chain_end *end, char *msg, size_t msglen)
{
	struct head h;
	int lock_fd = lock_for_reading(path);
	read_head_file(path, &h);
	int rc = verify_chain(path, h.state == HEAD_OK ? h.seq : 0, end, msg, msglen);
	if (rc == 0)
		rc = check_head(path, &h, end, msg, msglen);
	unlock_reading(lock_fd);
	return rc;
}

int salve_audit_verify(const char *path, char *msg, size_t msglen)
{
	struct chain_end end;
	int rc = verify_locked(path, &end, msg, msglen);
	if (rc < 0 || rc == 1)
		return rc;
	if (rc == 2) {
		snprintf(
		    msg, msglen,
		    "%s.head is missing or empty while the log has %lld records: records "
		    "removed from the end cannot be detected. If you know why the head is "
		    "gone, `salve audit verify --accept-missing-head %s` accepts the log as it "
		    "is (audited)",
		    path, end.records, path);
		return 1;
	}
	snprintf(msg, msglen, "%s: %lld records, hash chain intact", path, end.records);
	return 0;
}

int salve_audit_accept_missing_head(const char *path, char *msg, size_t msglen)
{
	struct chain_end end;
	int rc = verify_locked(path, &end, msg, msglen);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		snprintf(msg, msglen,
		         "%s: %lld records, hash chain intact; its head is present: nothing to "
		         "accept",
		         path, end.records);
		return 0;
	}
	if (rc == 1)
		return 1;
	char err[1024];
	salve_audit *a = open_log(path, SALVE_AUDIT_SYNC_ALWAYS, 1, err, sizeof err);
	if (!a) {
		snprintf(msg, msglen, "%s", err);
		return -1;
	}
	struct passwd *pw = getpwuid(geteuid());
	json_t *rec = salve_audit_record();
	json_object_set_new(rec, "event", json_string("audit_head_accepted"));
	json_object_set_new(rec, "records", json_integer((json_int_t)end.records));
	json_object_set_new(rec, "last_hash", json_string(end.hash));
	json_object_set_new(rec, "uid", json_integer((json_int_t)geteuid()));
	if (pw)
		json_object_set_new(rec, "user", json_string(pw->pw_name));
	json_object_set_new(rec, "note",
	                    json_string("the head file was missing or empty; the log was accepted "
	                                "as it is with `salve audit verify --accept-missing-head`: "
	                                "records removed from its end before now cannot be "
	                                "detected"));
	rc = salve_audit_write(a, rec, err, sizeof err);
	salve_audit_close(a);
	if (rc < 0) {
		snprintf(msg, msglen, "%s", err);
		return -1;
	}
	snprintf(msg, msglen,
	         "%s: %lld records, hash chain intact; the missing head was accepted (recorded "
	         "as seq %lld) and recreated",
	         path, end.records, end.last_seq + 1);
	return 0;
}

static void drop_waiting(salve_audit *a)
{
	for (size_t i = 0; i < a->nwaiting; i++)
		json_decref(a->waiting[i]);
	a->nwaiting = 0;
}

/* Under the lock: the waiting records, numbered from the file's end, in one write. They are
 * dropped either way. sync_tail leaves a as the file is (even when it fails, having learnt a
 * new end or cut a torn line): only what the group itself changes is undone on failure. */
static int write_waiting_locked(salve_audit *a, char *err, size_t errlen)
{
	int rc = sync_tail(a, 1, err, errlen);
	if (rc == 0)
		rc = write_records_locked(a, a->waiting, a->nwaiting,
		                          "the records of the group were", err, errlen);
	int saved = errno;
	drop_waiting(a);
	errno = saved;
	return rc;
}

static int write_out(salve_audit *a, int durable, char *err, size_t errlen)
{
	int rc = -1, saved = 0;
	pthread_mutex_lock(&a->mu);
	if (lock_log(a->fd) < 0) {
		saved = errno;
		snprintf(err, errlen, "audit log %s: lock: %s", a->path, strerror(errno));
		drop_waiting(a); /* reported failed: never written with a later group */
		pthread_mutex_unlock(&a->mu);
		errno = saved;
		return -1;
	}
	int wrote = a->nwaiting > 0;
	if (wrote && write_waiting_locked(a, err, errlen) < 0) {
		saved = errno;
		goto out;
	}
	if (!durable) {
		rc = 0;
		goto out;
	}
	if (fdatasync(a->fd) < 0) {
		saved = errno;
		snprintf(err, errlen, "audit log %s: fdatasync: %s", a->path, strerror(errno));
		goto out;
	}
	/* Having just written under this lock, a->end is the file's end: no fstat needed. */
	if ((wrote ? write_head(a, err, errlen) : refresh_head_locked(a, err, errlen)) < 0) {
		saved = errno;
		goto out;
	}
	if (fdatasync(a->head_fd) < 0) {
		saved = errno;
		snprintf(err, errlen, "audit head %s.head: fdatasync: %s", a->path,
		         strerror(errno));
		goto out;
	}
	rc = 0;
out:
	flock(a->fd, LOCK_UN);
	pthread_mutex_unlock(&a->mu);
	if (rc < 0)
		errno = saved;
	return rc;
}

int salve_audit_sync(salve_audit *a, char *err, size_t errlen)
{
	return write_out(a, 1, err, errlen);
}

int salve_audit_flush(salve_audit *a, char *err, size_t errlen)
{
	return write_out(a, 0, err, errlen);
}
