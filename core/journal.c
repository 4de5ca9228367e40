#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "statedir.h"
#include "util.h"

/* The tail line: {"salve_journal":1,"seq":N,"hash":H} padded with spaces to a fixed width,
 * so it is rewritten in place with one pwrite inside one disk sector. */
#define TAIL_WIDTH 128
/* ,"h":"<64 hex>"} ends every record line. */
#define HASH_SUFFIX_LEN 72

struct salve_journal {
	int fd;
	char *path;
	long long seq; /* last record written */
	char hash[65]; /* its hash */
	off_t end;     /* where the next record goes */
	int cut_tail;  /* an unfinished last line lies beyond end: truncate before appending */
	int read_only; /* damaged, or a write failed half way: no more appends */
	salve_journal_mirror_fn mirror;
	void *mirror_ctx;
	char *header_line; /* the first record's line, until a mirror took it */
	size_t header_len;
};

int salve_journal_valid_run_id(const char *id)
{
	size_t n = 0;
	for (const char *p = id; *p; p++, n++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return 0;
	return n > 0 && n <= 64;
}

const char *salve_journal_run_id(const char *path, char *buf, size_t len)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t n = strlen(base);
	if (n > 8 && strcmp(base + n - 8, ".journal") == 0)
		n -= 8;
	snprintf(buf, len, "%.*s", (int)n, base);
	return buf;
}

static void genesis_hash(const char *run_id, char out[65])
{
	char seed[128];
	int n = snprintf(seed, sizeof seed, "salve journal %s", run_id);
	salve_sha256_hex(seed, (size_t)n, out);
}

static void chain_hash(const char *prev, const char *bytes, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256_CTX ctx;
	SHA256_Init(&ctx);
	SHA256_Update(&ctx, prev, 64);
	SHA256_Update(&ctx, bytes, len);
	SHA256_Final(md, &ctx);
	for (size_t i = 0; i < sizeof md; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int write_at(int fd, const char *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static int datasync(int fd)
{
	int rc;
	while ((rc = fdatasync(fd)) < 0 && errno == EINTR)
		;
	return rc;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

static void dir_of(const char *path, char *dir, size_t len)
{
	snprintf(dir, len, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(dir, len, ".");
}

static void tail_line(long long seq, const char *hash, char out[TAIL_WIDTH])
{
	int n = snprintf(out, TAIL_WIDTH, "{\"salve_journal\":1,\"seq\":%lld,\"hash\":\"%s\"}", seq,
	                 hash);
	memset(out + n, ' ', (size_t)(TAIL_WIDTH - 1 - n));
	out[TAIL_WIDTH - 1] = '\n';
}

/* The line for record (stolen) as sequence number seq after prev: malloc'd, with its hash. */
static char *record_line(json_t *record, long long seq, const char *prev, size_t *len,
                         char hash[65])
{
	json_t *full = json_pack("{s:I}", "seq", (json_int_t)seq);
	const char *key;
	json_t *v;
	json_object_foreach(record, key, v) if (strcmp(key, "seq") != 0 && strcmp(key, "h") != 0)
	    json_object_set(full, key, v);
	json_decref(record);
	char *body = json_dumps(full, JSON_COMPACT);
	json_decref(full);
	if (!body)
		return NULL;
	size_t n = strlen(body);
	chain_hash(prev, body, n, hash);
	char *line = malloc(n + HASH_SUFFIX_LEN + 2);
	memcpy(line, body, n - 1);
	*len = (size_t)sprintf(line + n - 1, ",\"h\":\"%s\"}\n", hash) + n - 1;
	free(body);
	return line;
}

/* Appends at j->end: the record, durably, then the tail line naming it, durably. */
static int put_record(salve_journal *j, json_t *record, char *err, size_t errlen)
{
	size_t len;
	char hash[65];
	json_t *copy = j->mirror ? json_incref(record) : NULL;
	char *line = record_line(record, j->seq + 1, j->hash, &len, hash);
	if (!line) {
		json_decref(copy);
		snprintf(err, errlen, "journal %s: cannot encode a record", j->path);
		return -1;
	}
	if (j->cut_tail) {
		if (ftruncate(j->fd, j->end) < 0) {
			snprintf(err, errlen, "journal %s: cannot cut its unfinished last line: %s",
			         j->path, strerror(errno));
			free(line);
			json_decref(copy);
			return -1;
		}
		j->cut_tail = 0;
	}
	if (write_at(j->fd, line, len, j->end) < 0 || datasync(j->fd) < 0) {
		snprintf(err, errlen, "journal %s: write: %s", j->path, strerror(errno));
		free(line);
		json_decref(copy);
		/* Take a partial line back, so the next record does not follow garbage. */
		if (ftruncate(j->fd, j->end) < 0)
			j->read_only = 1;
		return -1;
	}
	char tail[TAIL_WIDTH];
	tail_line(j->seq + 1, hash, tail);
	if (write_at(j->fd, tail, TAIL_WIDTH, 0) < 0 || datasync(j->fd) < 0) {
		/* The record is durable and the tail one behind, which reads as valid; one more
		 * record would not, so the journal takes no more. */
		snprintf(err, errlen, "journal %s: write: %s", j->path, strerror(errno));
		j->read_only = 1;
		free(line);
		json_decref(copy);
		return -1;
	}
	j->seq++;
	j->end += (off_t)len;
	memcpy(j->hash, hash, sizeof hash);
	int rc = 0;
	if (j->mirror)
		rc = j->mirror(j->mirror_ctx, j->seq, line, len - 1, copy, err, errlen) ? -1 : 0;
	else if (j->seq == 1 && !j->header_line) {
		j->header_line = line;
		j->header_len = len - 1;
		line = NULL;
	}
	free(line);
	json_decref(copy);
	return rc;
}

int salve_journal_append(salve_journal *j, json_t *record, char *err, size_t errlen)
{
	if (j->read_only) {
		json_decref(record);
		snprintf(err, errlen,
		         "journal %s: not written to (it is damaged, or an earlier write failed)",
		         j->path);
		return -1;
	}
	return put_record(j, record, err, errlen);
}

salve_journal *salve_journal_create(const char *state_dir, const char *run_id, const json_t *header,
                                    char *err, size_t errlen)
{
	if (!salve_journal_valid_run_id(run_id)) {
		snprintf(err, errlen, "run id \"%s\" cannot name a journal", run_id);
		return NULL;
	}
	char dir[4096], tmp[4300], path[4300];
	if (salve_state_subdir(state_dir, "runs", dir, sizeof dir, err, errlen) < 0)
		return NULL;
	snprintf(tmp, sizeof tmp, "%s/.%s.journal.new", dir, run_id);
	snprintf(path, sizeof path, "%s/%s.journal", dir, run_id);
	char why[4400];
	int fd = -1;
	for (int attempt = 0; fd < 0 && attempt < 3; attempt++) {
		/* Locked before anyone can see it under its real name (recover skips held
		 * journals). A recover sweeping temporaries of dead runs may remove it between
		 * the open and the lock (ENOENT here, or no link left below): then start again. */
		fd = salve_state_open(tmp, O_RDWR | O_CREAT | O_EXCL, why, sizeof why);
		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0) {
			snprintf(err, errlen, "journal %s", why);
			return NULL;
		}
		struct stat st;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0 || fstat(fd, &st) < 0 || st.st_nlink == 0) {
			close(fd);
			fd = -1;
		}
	}
	if (fd < 0) {
		snprintf(err, errlen, "journal %s: cannot create and lock it", tmp);
		return NULL;
	}
	salve_journal *j = calloc(1, sizeof *j);
	j->fd = fd;
	j->path = strdup(tmp);
	j->end = TAIL_WIDTH;
	genesis_hash(run_id, j->hash);
	if (put_record(j, json_deep_copy(header), err, errlen) < 0) {
		unlink(tmp);
		salve_journal_close(j, 0);
		return NULL;
	}
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0 || sync_dir(dir) < 0) {
		snprintf(err, errlen, "journal %s: %s", path, strerror(errno));
		unlink(tmp);
		salve_journal_close(j, 0);
		return NULL;
	}
	free(j->path);
	j->path = strdup(path);
	return j;
}

/* Verifies one record line (without its newline) as number seq after prev. Returns the record
 * (new reference) and its hash, or NULL with why. */
static json_t *verify_line(const char *line, size_t len, long long seq, const char *prev,
                           char hash[65], char *why, size_t whylen)
{
	if (len < HASH_SUFFIX_LEN + 2 ||
	    memcmp(line + len - HASH_SUFFIX_LEN, ",\"h\":\"", 6) != 0 ||
	    memcmp(line + len - 2, "\"}", 2) != 0) {
		snprintf(why, whylen, "it has no checksum");
		return NULL;
	}
	const char *given = line + len - HASH_SUFFIX_LEN + 6;
	size_t body_len = len - HASH_SUFFIX_LEN + 1;
	char *body = malloc(body_len + 1);
	memcpy(body, line, body_len - 1);
	body[body_len - 1] = '}';
	body[body_len] = '\0';
	json_t *rec = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, NULL);
	json_int_t got = json_integer_value(json_object_get(rec, "seq"));
	if (!json_is_object(rec) || !json_is_integer(json_object_get(rec, "seq"))) {
		snprintf(why, whylen, "it is not a journal record (damaged)");
	} else if (got != seq) {
		snprintf(why, whylen, "it is record %lld where %lld was due (%s)", (long long)got,
		         seq,
		         got > seq ? "records are missing or out of order"
		                   : "records are out of order or repeated");
	} else {
		chain_hash(prev, body, body_len, hash);
		if (memcmp(hash, given, 64) == 0) {
			free(body);
			return rec;
		}
		snprintf(why, whylen, "its checksum does not match (damaged)");
	}
	free(body);
	json_decref(rec);
	return NULL;
}

/* Reads and verifies the journal open on fd. -1 with err when it cannot be read. */
static int load(int fd, const char *path, json_t **records, salve_journal_check *check,
                salve_journal *state, char *err, size_t errlen)
{
	memset(check, 0, sizeof *check);
	*records = json_array();
	struct stat st;
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "journal %s: %s", path, strerror(errno));
		return -1;
	}
	size_t size = (size_t)st.st_size, got = 0;
	char *text = malloc(size + 1);
	while (got < size) {
		ssize_t n = pread(fd, text + got, size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "journal %s: read: %s", path,
			         n < 0 ? strerror(errno) : "it shrank while being read");
			free(text);
			return -1;
		}
		got += (size_t)n;
	}
	text[size] = '\0';
	char run_id[128], prev[65], hash[65] = "";
	genesis_hash(salve_journal_run_id(path, run_id, sizeof run_id), prev);
	json_t *tail = size >= TAIL_WIDTH && text[TAIL_WIDTH - 1] == '\n'
	                   ? json_loadb(text, TAIL_WIDTH - 1, 0, NULL)
	                   : NULL;
	json_int_t tail_seq = json_integer_value(json_object_get(tail, "seq"));
	const char *tail_hash = json_string_value(json_object_get(tail, "hash"));
	char tail_hash_copy[65] = "";
	if (tail_hash && strlen(tail_hash) == 64)
		memcpy(tail_hash_copy, tail_hash, 65);
	json_decref(tail);
	char expect[TAIL_WIDTH];
	if (tail_seq >= 1 && tail_hash_copy[0])
		tail_line(tail_seq, tail_hash_copy, expect);
	/* Byte for byte as written: a flipped bit in a key or the padding is damage too. */
	if (tail_seq < 1 || !tail_hash_copy[0] || memcmp(expect, text, TAIL_WIDTH) != 0) {
		check->damaged = 1;
		snprintf(check->problem, sizeof check->problem,
		         "its tail line (which names the last record) is missing or damaged");
		free(text);
		if (state)
			state->read_only = 1;
		return 0;
	}
	size_t pos = TAIL_WIDTH, line_no = 1;
	long long n = 0;
	int tail_matches = 0;
	while (pos < size) {
		char *nl = memchr(text + pos, '\n', size - pos);
		line_no++;
		if (!nl) {
			check->torn = 1;
			break;
		}
		char why[256];
		json_t *rec = verify_line(text + pos, (size_t)(nl - text) - pos, n + 1, prev, hash,
		                          why, sizeof why);
		if (!rec) {
			check->damaged = 1;
			snprintf(check->problem, sizeof check->problem,
			         "line %zu (record %lld): %s; nothing from there on can be trusted",
			         line_no, n + 1, why);
			break;
		}
		json_array_append_new(*records, rec);
		n++;
		memcpy(prev, hash, sizeof prev);
		if (n == tail_seq)
			tail_matches = memcmp(hash, tail_hash_copy, 64) == 0;
		pos = (size_t)(nl - text) + 1;
	}
	free(text);
	check->trusted_seq = n;
	if (!check->damaged) {
		if (tail_seq > n)
			snprintf(check->problem, sizeof check->problem,
			         "it ends at record %lld but its tail line names record %lld: "
			         "records are missing (the journal was cut short)",
			         n, (long long)tail_seq);
		else if (tail_seq < n - 1 || !tail_matches)
			snprintf(
			    check->problem, sizeof check->problem,
			    "its tail line names record %lld, which does not match the records "
			    "(damaged)",
			    (long long)tail_seq);
		check->damaged = check->problem[0] != '\0';
	}
	if (state) {
		state->seq = n;
		memcpy(state->hash, prev, sizeof prev);
		state->end = (off_t)pos;
		state->cut_tail = check->torn;
		state->read_only = check->damaged;
	}
	return 0;
}

enum salve_journal_status salve_journal_adopt(const char *path, salve_journal **out,
                                              json_t **records, salve_journal_check *check,
                                              char *err, size_t errlen)
{
	*out = NULL;
	*records = NULL;
	char why[4400];
	int fd = salve_state_open(path, O_RDWR, why, sizeof why);
	if (fd < 0) {
		snprintf(err, errlen, "journal %s", why);
		return SALVE_JOURNAL_ERROR;
	}
	/* A reader (recover --list, a run looking for its lock's previous holder) holds a shared
	 * lock for a moment; a live run holds its lock for its life. */
	int locked = flock(fd, LOCK_EX | LOCK_NB) == 0;
	for (int tries = 0; !locked && errno == EWOULDBLOCK && tries < 20; tries++) {
		usleep(10000);
		locked = flock(fd, LOCK_EX | LOCK_NB) == 0;
	}
	if (!locked) {
		int busy = errno == EWOULDBLOCK;
		snprintf(err, errlen, "journal %s: %s", path,
		         busy ? "held by another process (a live run, or a recover in progress)"
		              : strerror(errno));
		close(fd);
		return busy ? SALVE_JOURNAL_BUSY : SALVE_JOURNAL_ERROR;
	}
	salve_journal *j = calloc(1, sizeof *j);
	j->fd = fd;
	j->path = strdup(path);
	if (load(fd, path, records, check, j, err, errlen) < 0) {
		json_decref(*records);
		*records = NULL;
		salve_journal_close(j, 0);
		return SALVE_JOURNAL_ERROR;
	}
	*out = j;
	return SALVE_JOURNAL_OK;
}

int salve_journal_read(const char *path, json_t **records, salve_journal_check *check, int *live,
                       char *err, size_t errlen)
{
	*records = NULL;
	char why[4400];
	int fd = salve_state_open(path, O_RDONLY, why, sizeof why);
	if (fd < 0) {
		snprintf(err, errlen, "journal %s", why);
		return -1;
	}
	if (live)
		*live = flock(fd, LOCK_SH | LOCK_NB) < 0;
	int rc = load(fd, path, records, check, NULL, err, errlen);
	if (rc < 0) {
		json_decref(*records);
		*records = NULL;
	}
	close(fd);
	return rc;
}

static json_t *list_dir(const char *state_dir, int stale)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/runs", state_dir);
	json_t *out = json_array();
	DIR *d = opendir(dir);
	if (!d)
		return out;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		const char *suffix = stale ? ".journal.new" : ".journal";
		size_t sl = strlen(suffix);
		if (n > sl && strcmp(e->d_name + n - sl, suffix) == 0 &&
		    (e->d_name[0] == '.') == (stale != 0)) {
			char path[4400];
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			json_array_append_new(out, json_string(path));
		}
	}
	closedir(d);
	size_t count = json_array_size(out);
	for (size_t a = 1; a < count; a++)
		for (size_t b = a; b > 0 && strcmp(json_string_value(json_array_get(out, b - 1)),
		                                   json_string_value(json_array_get(out, b))) > 0;
		     b--) {
			json_t *tmp = json_incref(json_array_get(out, b));
			json_array_set(out, b, json_array_get(out, b - 1));
			json_array_set_new(out, b - 1, tmp);
		}
	return out;
}

json_t *salve_journal_list(const char *state_dir)
{
	return list_dir(state_dir, 0);
}

int salve_journal_remove_stale(const char *state_dir)
{
	json_t *paths = list_dir(state_dir, 1);
	int removed = 0;
	size_t i;
	json_t *p;
	json_array_foreach(paths, i, p)
	{
		char why[4400];
		int fd = salve_state_open(json_string_value(p), O_RDWR, why, sizeof why);
		if (fd < 0)
			continue;
		/* Held: a run is creating it right now. */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && unlink(json_string_value(p)) == 0)
			removed++;
		close(fd);
	}
	json_decref(paths);
	return removed;
}

const char *salve_journal_path(const salve_journal *j)
{
	return j->path;
}

int salve_journal_retire(salve_journal *j, char *err, size_t errlen)
{
	char dir[4096], into[4200], run_id[128], dest[4400];
	dir_of(j->path, dir, sizeof dir);
	if (salve_state_subdir(dir, "resolved", into, sizeof into, err, errlen) < 0) {
		salve_journal_close(j, 0);
		return -1;
	}
	snprintf(dest, sizeof dest, "%s/%s.journal", into,
	         salve_journal_run_id(j->path, run_id, sizeof run_id));
	if (renameat2(AT_FDCWD, j->path, AT_FDCWD, dest, RENAME_NOREPLACE) < 0 ||
	    sync_dir(dir) < 0) {
		snprintf(err, errlen, "journal %s: cannot move it to %s: %s", j->path, into,
		         strerror(errno));
		salve_journal_close(j, 0);
		return -1;
	}
	salve_journal_close(j, 0);
	return 0;
}

void salve_journal_close(salve_journal *j, int remove_file)
{
	if (!j)
		return;
	if (remove_file)
		unlink(j->path);
	close(j->fd);
	free(j->path);
	free(j->header_line);
	free(j);
}

int salve_journal_set_mirror(salve_journal *j, salve_journal_mirror_fn mirror, void *ctx,
                             int replay_header, char *err, size_t errlen)
{
	j->mirror = mirror;
	j->mirror_ctx = ctx;
	int rc = 0;
	if (mirror && replay_header) {
		if (!j->header_line) {
			snprintf(err, errlen, "journal %s: its first record is not at hand",
			         j->path);
			return -1;
		}
		json_t *header = json_loadb(j->header_line, j->header_len, 0, NULL);
		rc = mirror(ctx, 1, j->header_line, j->header_len, header, err, errlen) ? -1 : 0;
		json_decref(header);
	}
	free(j->header_line);
	j->header_line = NULL;
	return rc;
}

int salve_journal_import(const char *state_dir, const char *run_id, const json_t *lines, char *path,
                         size_t pathlen, char *err, size_t errlen)
{
	char dir[4096], tmp[4300];
	if (!salve_journal_valid_run_id(run_id)) {
		snprintf(err, errlen, "run id \"%s\" cannot name a journal", run_id);
		return -1;
	}
	if (salve_state_subdir(state_dir, "runs", dir, sizeof dir, err, errlen) < 0)
		return -1;
	size_t n = json_array_size(lines);
	const char *last = n ? json_string_value(json_array_get(lines, n - 1)) : NULL;
	size_t last_len = last ? strlen(last) : 0;
	if (!last || last_len < HASH_SUFFIX_LEN) {
		snprintf(err, errlen, "run %s: no journal record to take over", run_id);
		return -1;
	}
	/* The tail names the last record and its hash as given; adopt verifies every record
	 * against the chain, so a damaged copy is found there, not trusted here. */
	char hash[65];
	snprintf(hash, sizeof hash, "%.64s", last + last_len - HASH_SUFFIX_LEN + 6);
	snprintf(tmp, sizeof tmp, "%s/.%s.journal.new", dir, run_id);
	snprintf(path, pathlen, "%s/%s.journal", dir, run_id);
	char why[4400];
	int fd = salve_state_open(tmp, O_RDWR | O_CREAT | O_EXCL, why, sizeof why);
	if (fd < 0) {
		snprintf(err, errlen, "journal %s", why);
		return -1;
	}
	char tail[TAIL_WIDTH];
	tail_line((long long)n, hash, tail);
	off_t off = TAIL_WIDTH;
	int ok = write_at(fd, tail, TAIL_WIDTH, 0) == 0;
	for (size_t i = 0; ok && i < n; i++) {
		const char *l = json_string_value(json_array_get(lines, i));
		size_t len = l ? strlen(l) : 0;
		ok = l && write_at(fd, l, len, off) == 0 &&
		     write_at(fd, "\n", 1, off + (off_t)len) == 0;
		off += (off_t)len + 1;
	}
	ok = ok && datasync(fd) == 0;
	close(fd);
	if (!ok || renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0 ||
	    sync_dir(dir) < 0) {
		snprintf(err, errlen, "journal %s: %s", path,
		         errno == EEXIST ? "a journal of that run is already here"
		                         : strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}
