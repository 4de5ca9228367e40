#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "redact.h"
#include "util.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

struct salve_audit {
	pthread_mutex_t mu;
	int fd;
	int head_fd;
	enum salve_audit_sync sync;
	char *path;
	/* What this process last saw at the end of the file. */
	off_t end;
	long long seq;
	char last_hash[65];
};

/* Reads the last complete line of fd (size bytes long): sets *seq and hash. An empty file
 * gives seq 0 and the zero hash. */
static int read_tail(int fd, off_t size, long long *seq, char *hash)
{
	*seq = 0;
	memcpy(hash, ZERO_HASH, 65);
	if (size == 0)
		return 0;
	size_t chunk = 65536;
	char *buf = NULL;
	for (;;) {
		size_t want = (off_t)chunk < size ? chunk : (size_t)size;
		char *grown = realloc(buf, want + 1);
		if (!grown) {
			free(buf);
			return -1;
		}
		buf = grown;
		ssize_t n = pread(fd, buf, want, size - (off_t)want);
		if (n != (ssize_t)want) {
			free(buf);
			return -1;
		}
		buf[want] = '\0';
		/* The file ends with '\n'; find the newline before the last line. */
		size_t last = want;
		if (last && buf[last - 1] == '\n')
			last--;
		char *start = NULL;
		for (size_t i = last; i > 0; i--) {
			if (buf[i - 1] == '\n') {
				start = buf + i;
				break;
			}
		}
		if (!start && (off_t)want == size)
			start = buf;
		if (start) {
			size_t linelen = (size_t)(buf + last - start);
			salve_sha256_hex(start, linelen, hash);
			start[linelen] = '\0';
			json_t *rec = json_loads(start, 0, NULL);
			*seq = rec ? json_integer_value(json_object_get(rec, "seq")) : 0;
			json_decref(rec);
			free(buf);
			return 0;
		}
		chunk *= 4;
	}
}

salve_audit *salve_audit_open(const char *path, enum salve_audit_sync sync, char *err,
                              size_t errlen)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	if (salve_mkdirs(dirname(dir), 0750) < 0) {
		snprintf(err, errlen, "audit log %s: cannot create its directory: %s", path,
		         strerror(errno));
		return NULL;
	}
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		snprintf(err, errlen, "audit log %s: %s", path, strerror(errno));
		return NULL;
	}
	char head[4200];
	snprintf(head, sizeof head, "%s.head", path);
	int head_fd = open(head, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (head_fd < 0) {
		snprintf(err, errlen, "audit head %s: %s", head, strerror(errno));
		close(fd);
		return NULL;
	}
	salve_audit *a = calloc(1, sizeof *a);
	pthread_mutex_init(&a->mu, NULL);
	a->fd = fd;
	a->head_fd = head_fd;
	a->sync = sync;
	a->path = strdup(path);
	a->end = -1; /* unknown until the first append reads the tail */
	return a;
}

const char *salve_audit_path(const salve_audit *a)
{
	return a->path;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Fixed width (the seq is space-padded, which JSON allows), so the head is rewritten in place
 * with one pwrite and never needs truncating. */
static int write_head(salve_audit *a, char *err, size_t errlen)
{
	char head[128];
	int hl =
	    snprintf(head, sizeof head, "{\"seq\":%20lld,\"hash\":\"%s\"}\n", a->seq, a->last_hash);
	if (pwrite(a->head_fd, head, (size_t)hl, 0) != hl) {
		snprintf(err, errlen, "audit head %s.head: %s", a->path, strerror(errno));
		return -1;
	}
	return 0;
}

int salve_audit_write(salve_audit *a, json_t *record, char *err, size_t errlen)
{
	int rc = -1;
	pthread_mutex_lock(&a->mu);
	if (flock(a->fd, LOCK_EX) < 0) {
		snprintf(err, errlen, "audit log %s: lock: %s", a->path, strerror(errno));
		pthread_mutex_unlock(&a->mu);
		return -1;
	}
	struct stat st;
	if (fstat(a->fd, &st) < 0) {
		snprintf(err, errlen, "audit log %s: %s", a->path, strerror(errno));
		goto out;
	}
	if (st.st_size != a->end) {
		int rfd = open(a->path, O_RDONLY | O_CLOEXEC);
		if (rfd < 0 || read_tail(rfd, st.st_size, &a->seq, a->last_hash) < 0) {
			snprintf(err, errlen, "audit log %s: cannot read its last record", a->path);
			if (rfd >= 0)
				close(rfd);
			goto out;
		}
		close(rfd);
	}
	char ts[40];
	salve_timestamp(ts, sizeof ts);
	/* seq and ts lead every record: set in place when the caller reserved them. */
	json_t *rec = record;
	json_object_set_new(rec, "seq", json_integer((json_int_t)(a->seq + 1)));
	json_object_set_new(rec, "ts", json_string(ts));
	salve_redact_json(rec);
	json_object_set_new(rec, "prev", json_string(a->last_hash));
	char *line = json_dumps(rec, JSON_COMPACT);
	if (!line) {
		snprintf(err, errlen, "audit log %s: cannot encode record", a->path);
		goto out;
	}
	size_t len = strlen(line);
	line[len] = '\n';
	int wrc = write_all(a->fd, line, len + 1);
	if (wrc == 0) {
		salve_sha256_hex(line, len, a->last_hash);
		a->seq++;
		a->end = st.st_size + (off_t)len + 1;
	}
	free(line);
	if (wrc < 0) {
		snprintf(err, errlen, "audit log %s: write: %s", a->path, strerror(errno));
		goto out;
	}
	if (a->sync == SALVE_AUDIT_SYNC_ALWAYS && fdatasync(a->fd) < 0) {
		snprintf(err, errlen, "audit log %s: fdatasync: %s", a->path, strerror(errno));
		goto out;
	}
	/* Without durability (sync none) the head is written at close: nothing is promised
	 * after a crash in that mode anyway. */
	if (a->sync != SALVE_AUDIT_SYNC_ALWAYS) {
		rc = 0;
		goto out;
	}
	if (write_head(a, err, errlen) < 0)
		goto out;
	rc = 0;
out:
	flock(a->fd, LOCK_UN);
	pthread_mutex_unlock(&a->mu);
	json_decref(record);
	return rc;
}

json_t *salve_audit_record(void)
{
	json_t *r = json_object();
	json_object_set_new(r, "seq", json_integer(0));
	json_object_set_new(r, "ts", json_string(""));
	return r;
}

void salve_audit_close(salve_audit *a)
{
	if (!a)
		return;
	if (a->sync == SALVE_AUDIT_SYNC_ALWAYS) {
		fsync(a->head_fd);
	} else if (a->seq > 0) {
		char err[256];
		pthread_mutex_lock(&a->mu);
		flock(a->fd, LOCK_EX);
		/* Another process may have appended since: the head names the file's last record.
		 */
		struct stat st;
		int rfd = open(a->path, O_RDONLY | O_CLOEXEC);
		if (rfd >= 0 && fstat(a->fd, &st) == 0 && st.st_size != a->end)
			read_tail(rfd, st.st_size, &a->seq, a->last_hash);
		if (rfd >= 0)
			close(rfd);
		if (write_head(a, err, sizeof err) < 0)
			fprintf(stderr, "salve: %s\n", err);
		flock(a->fd, LOCK_UN);
		pthread_mutex_unlock(&a->mu);
	}
	close(a->fd);
	close(a->head_fd);
	pthread_mutex_destroy(&a->mu);
	free(a->path);
	free(a);
}

int salve_audit_verify(const char *path, char *msg, size_t msglen)
{
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
		} else if (lineno > 1 && seq != prev_seq + 1) {
			if (seq > prev_seq + 1)
				snprintf(msg, msglen,
				         "%s:%lld: record seq %lld follows seq %lld: %lld "
				         "record(s) missing "
				         "before this line",
				         path, lineno, seq, prev_seq, seq - prev_seq - 1);
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
		p = nl + 1;
	}
	char headpath[4200];
	snprintf(headpath, sizeof headpath, "%s.head", path);
	char *head = salve_read_file(headpath, NULL);
	if (head) {
		json_t *h = json_loads(head, 0, NULL);
		long long hseq = json_integer_value(json_object_get(h, "seq"));
		const char *hhash = json_string_value(json_object_get(h, "hash"));
		if (h && hseq > prev_seq) {
			snprintf(
			    msg, msglen,
			    "%s:%lld: the log ends at seq %lld but its head says %lld records were "
			    "written: %lld record(s) removed from the end",
			    path, lineno, prev_seq, hseq, hseq - prev_seq);
			rc = 1;
		} else if (h && hseq == prev_seq && hhash && strcmp(hhash, prev_hash) != 0 &&
		           lineno) {
			snprintf(
			    msg, msglen,
			    "%s:%lld: the last record was edited (its hash differs from the head)",
			    path, lineno);
			rc = 1;
		}
		json_decref(h);
		free(head);
		if (rc)
			goto done;
	}
	snprintf(msg, msglen, "%s: %lld records, hash chain intact", path, lineno);
done:
	free(text);
	return rc;
}

int salve_audit_sync(salve_audit *a, char *err, size_t errlen)
{
	int rc = -1;
	pthread_mutex_lock(&a->mu);
	if (flock(a->fd, LOCK_EX) < 0) {
		snprintf(err, errlen, "audit log %s: lock: %s", a->path, strerror(errno));
		pthread_mutex_unlock(&a->mu);
		return -1;
	}
	/* Another handle or process may have appended since this one: the head must name the
	 * file's last record. */
	struct stat st;
	if (fstat(a->fd, &st) < 0) {
		snprintf(err, errlen, "audit log %s: %s", a->path, strerror(errno));
		goto out;
	}
	if (st.st_size != a->end) {
		int rfd = open(a->path, O_RDONLY | O_CLOEXEC);
		int ok = rfd >= 0 && read_tail(rfd, st.st_size, &a->seq, a->last_hash) == 0;
		if (rfd >= 0)
			close(rfd);
		if (!ok) {
			snprintf(err, errlen, "audit log %s: cannot read its last record", a->path);
			goto out;
		}
		a->end = st.st_size;
	}
	if (fdatasync(a->fd) < 0) {
		snprintf(err, errlen, "audit log %s: fdatasync: %s", a->path, strerror(errno));
		goto out;
	}
	if (a->seq > 0 && write_head(a, err, errlen) < 0)
		goto out;
	rc = 0;
out:
	flock(a->fd, LOCK_UN);
	pthread_mutex_unlock(&a->mu);
	return rc;
}
