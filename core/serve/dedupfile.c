/* The dedup table's durable copy (see dedupfile.h). */
#include "dedupfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "srv.h"
#include "util.h"

/* Larger than any table of server.dedup_size keys and its appended changes can make it. */
#define DEDUPFILE_MAX ((size_t)1 << 30)

static const char *const state_names[] = {"active", "ended", "released", "resolved"};

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One change as a line (malloc'd in *text); mono_now and wall convert the table's clock to
 * the epoch. 0 or -1. */
static int change_line(const srv_dedup_change *c, double mono_now, double wall, char **text)
{
	double at = c->kind == SRV_DEDUP_ENDED || c->kind == SRV_DEDUP_RESOLVED
	                ? wall - (mono_now - c->at)
	                : wall;
	json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:f, s:f}", "seq", (json_int_t)c->seq, "key",
	                      c->key, "state", state_names[c->kind], "run", c->run_id, "cooldown",
	                      c->cooldown, "at", at);
	*text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return *text ? 0 : -1;
}

/* The changes as text, one line each. NULL when out of memory. */
static char *changes_text(const srv_dedup_change *c, size_t n, size_t *len)
{
	double mono = salve_now(), wall = wall_now();
	size_t cap = 256 * (n + 1), used = 0;
	char *out = malloc(cap);
	for (size_t i = 0; out && i < n; i++) {
		char *line;
		if (change_line(&c[i], mono, wall, &line) < 0) {
			free(out);
			return NULL;
		}
		size_t l = strlen(line);
		if (used + l + 2 > cap) {
			cap = (used + l + 2) * 2;
			char *grown = realloc(out, cap);
			if (!grown) {
				free(line);
				free(out);
				return NULL;
			}
			out = grown;
		}
		memcpy(out + used, line, l);
		used += l;
		out[used++] = '\n';
		free(line);
	}
	if (out)
		out[used] = '\0';
	*len = used;
	return out;
}

static int open_append(struct srv_server *s, char *err, size_t errlen)
{
	s->dedup_fd = open(s->dedup_path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (s->dedup_fd < 0) {
		snprintf(err, errlen, "%s: %s", s->dedup_path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Under dedup_file_mu: rewrites the file with the table as it is. 0 or -1 with err. */
static int compact(struct srv_server *s, char *err, size_t errlen)
{
	size_t n = 0, len = 0;
	pthread_mutex_lock(&s->mu);
	/* What was not written yet is in the snapshot. */
	size_t pending = 0;
	srv_dedup_change *stale = srv_dedup_take_changes(s->dedup, &pending);
	srv_dedup_changes_free(stale, pending);
	srv_dedup_change *c = srv_dedup_snapshot(s->dedup, &n);
	pthread_mutex_unlock(&s->mu);
	char *text = c ? changes_text(c, n, &len) : NULL;
	srv_dedup_changes_free(c, n);
	if (!text) {
		snprintf(err, errlen, "%s: out of memory", s->dedup_path);
		return -1;
	}
	int rc = srv_state_write_atomic(s->dedup_path, text, len, s->durable, err, errlen);
	free(text);
	if (rc < 0)
		return -1;
	if (s->dedup_fd >= 0)
		close(s->dedup_fd);
	s->dedup_lines = n;
	return open_append(s, err, errlen);
}

static int by_seq(const void *a, const void *b)
{
	const srv_dedup_change *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Parses one line into c (key malloc'd). 0, or -1 for a line that is not a change. */
static int parse_line(const char *line, size_t len, srv_dedup_change *c)
{
	json_t *o = json_loadb(line, len, 0, NULL);
	const char *key = json_string_value(json_object_get(o, "key"));
	const char *state = json_string_value(json_object_get(o, "state"));
	const char *run = json_string_value(json_object_get(o, "run"));
	json_t *seq = json_object_get(o, "seq");
	int kind = -1;
	for (int k = 0; state && k < 4; k++)
		if (strcmp(state, state_names[k]) == 0)
			kind = k;
	if (!key || !run || kind < 0 || !json_is_integer(seq) || json_integer_value(seq) < 0 ||
	    !json_is_number(json_object_get(o, "cooldown")) ||
	    !json_is_number(json_object_get(o, "at"))) {
		json_decref(o);
		return -1;
	}
	memset(c, 0, sizeof *c);
	c->key = strdup(key);
	c->kind = (enum srv_dedup_change_kind)kind;
	snprintf(c->run_id, sizeof c->run_id, "%s", run);
	c->seq = (unsigned long long)json_integer_value(seq);
	c->cooldown = json_number_value(json_object_get(o, "cooldown"));
	c->at = json_number_value(json_object_get(o, "at"));
	json_decref(o);
	return c->key ? 0 : -1;
}

/* Each key's last change from text, sorted by seq (malloc'd, *n). *bad counts lines that
 * are not changes (a line torn by a crash). */
static srv_dedup_change *last_changes(const char *text, size_t *n, size_t *bad)
{
	srv_strmap *last = srv_strmap_new();
	size_t cap = 0;
	srv_dedup_change *v = NULL;
	*n = *bad = 0;
	for (const char *p = text; last && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		srv_dedup_change c;
		if (len && parse_line(p, len, &c) < 0) {
			(*bad)++;
		} else if (len) {
			srv_dedup_change *prev = srv_strmap_get(last, c.key);
			if (prev && prev->seq > c.seq) {
				free(c.key);
			} else if (prev) {
				free(prev->key);
				*prev = c;
			} else {
				prev = malloc(sizeof *prev);
				if (!prev || srv_strmap_put(last, c.key, prev, NULL) < 0) {
					free(prev);
					free(c.key);
				} else {
					*prev = c;
				}
			}
		}
		p += len + (nl ? 1 : 0);
	}
	size_t cur = 0;
	const char *k;
	void *val;
	while (last && srv_strmap_next(last, &cur, &k, &val)) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			srv_dedup_change *grown = realloc(v, cap * sizeof *grown);
			if (!grown) {
				free(((srv_dedup_change *)val)->key);
				free(val);
				continue;
			}
			v = grown;
		}
		v[(*n)++] = *(srv_dedup_change *)val;
		free(val);
	}
	srv_strmap_free(last);
	if (v)
		qsort(v, *n, sizeof *v, by_seq);
	return v;
}

long srv_dedupfile_open(struct srv_server *s, char *err, size_t errlen)
{
	snprintf(s->dedup_path, sizeof s->dedup_path, "%s/dedup.jsonl", s->serve_dir);
	s->dedup_fd = -1;
	pthread_mutex_init(&s->dedup_file_mu, NULL);
	size_t len = 0;
	char *text = srv_state_read_file(s->dedup_path, DEDUPFILE_MAX, &len, err, errlen);
	if (!text && errno != ENOENT)
		return -1;
	size_t n = 0, bad = 0;
	srv_dedup_change *c = text ? last_changes(text, &n, &bad) : NULL;
	free(text);
	if (bad)
		srv_log(SALVE_LOG_WARN, "serve: %s: %zu line%s that are not dedup entries left out",
		        s->dedup_path, bad, bad == 1 ? "" : "s");
	double mono = salve_now(), wall = wall_now();
	long restored = 0;
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < n; i++) {
		double age = 0;
		if (c[i].kind == SRV_DEDUP_ENDED || c[i].kind == SRV_DEDUP_RESOLVED) {
			age = wall - c[i].at;
			if (age < 0) /* the wall clock went back: as if it had just ended */
				age = 0;
			if (age >= c[i].cooldown)
				continue;
		}
		/* A run still active in the file died with the previous process: it ended now. */
		if (c[i].kind != SRV_DEDUP_RELEASED &&
		    srv_dedup_restore(s->dedup, &c[i], mono - age) == 0)
			restored++;
	}
	srv_dedup_take_evictions(s->dedup); /* a smaller dedup_size than before: not news */
	srv_dedup_record_changes(s->dedup, 1);
	pthread_mutex_unlock(&s->mu);
	srv_dedup_changes_free(c, n);
	pthread_mutex_lock(&s->dedup_file_mu);
	int rc = compact(s, err, errlen);
	pthread_mutex_unlock(&s->dedup_file_mu);
	return rc < 0 ? -1 : restored;
}

/* Under dedup_file_mu: writes text whole. 0 or -1 (logged). */
static int append(struct srv_server *s, const char *text, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t w = write(s->dedup_fd, text + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			srv_log(SALVE_LOG_ERROR, "serve: %s: %s", s->dedup_path,
			        w < 0 ? strerror(errno) : "short write");
			return -1;
		}
		done += (size_t)w;
	}
	if (s->durable && fdatasync(s->dedup_fd) < 0) {
		srv_log(SALVE_LOG_ERROR, "serve: %s: fdatasync: %s", s->dedup_path,
		        strerror(errno));
		return -1;
	}
	return 0;
}

int srv_dedupfile_flush(struct srv_server *s)
{
	if (!s->dedup_path[0])
		return 0;
	pthread_mutex_lock(&s->dedup_file_mu);
	size_t n = 0, len = 0;
	pthread_mutex_lock(&s->mu);
	srv_dedup_change *c = srv_dedup_take_changes(s->dedup, &n);
	size_t table = srv_dedup_size(s->dedup);
	pthread_mutex_unlock(&s->mu);
	char err[1024];
	int rc = 0;
	if (n && s->dedup_fd >= 0) {
		char *text = changes_text(c, n, &len);
		if (!text)
			srv_log(SALVE_LOG_ERROR, "serve: %s: out of memory", s->dedup_path);
		rc = text && append(s, text, len) == 0 ? 0 : -1;
		if (!rc)
			s->dedup_lines += n;
		free(text);
	} else if (n) {
		rc = -1; /* the file could not be reopened after a compaction (logged then) */
	}
	srv_dedup_changes_free(c, n);
	if (s->dedup_fd >= 0 && s->dedup_lines > 2 * table + 1024 &&
	    compact(s, err, sizeof err) < 0)
		srv_log(SALVE_LOG_ERROR, "serve: compacting the dedup file: %s", err);
	pthread_mutex_unlock(&s->dedup_file_mu);
	return rc;
}

void srv_dedupfile_close(struct srv_server *s)
{
	if (!s->dedup_path[0])
		return;
	srv_dedupfile_flush(s);
	if (s->dedup_fd >= 0)
		close(s->dedup_fd);
	s->dedup_fd = -1;
	pthread_mutex_destroy(&s->dedup_file_mu);
	s->dedup_path[0] = '\0';
}
