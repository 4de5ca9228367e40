/* The spool of accepted runs: sealed entries under STATE_DIR/serve/queue (see spool.h). */
#include "spool.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ha.h"
#include "log.h"
#include "srv.h"
#include "state.h"

void srv_spool_path(const struct srv_server *s, const char *id, char *out, size_t len)
{
	snprintf(out, len, "%s/%s.json", s->spool_dir, id);
}

int srv_spool_write(struct srv_server *s, const char *id, const json_t *entry, int sync_now)
{
	char *json = entry ? json_dumps(entry, JSON_COMPACT) : NULL;
	/* Sealed: on a restart the entry alone decides runbook, params and dry_run. */
	char *text = json ? srv_state_seal(s->spool_key, json) : NULL;
	free(json);
	char path[4400], err[4600];
	srv_spool_path(s, id, path, sizeof path);
	int rc = text ? srv_state_write_atomic(path, text, strlen(text), sync_now && s->durable,
	                                       err, sizeof err)
	              : -1;
	if (rc < 0)
		srv_log(SALVE_LOG_ERROR,
		        "serve: cannot spool run %s (it stays queued in memory): %s", id,
		        text ? err : "out of memory");
	free(text);
	return rc;
}

void srv_spool_remove(const struct srv_server *s, const char *id)
{
	char path[4400];
	srv_spool_path(s, id, path, sizeof path);
	unlink(path);
}

int srv_spool_batch_begin(const struct srv_server *s, struct srv_spool_batch *b)
{
	/* Opened before the batch's first write: syncfs reports the write-back errors of the
	 * filesystem seen since this descriptor was opened, so none of the batch's is missed. */
	b->fd = open(s->spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return b->fd < 0 ? -1 : 0;
}

int srv_spool_batch_sync(struct srv_spool_batch *b, int written)
{
	if (b->fd < 0) {
		errno = EBADF;
		return -1;
	}
	int rc = written ? syncfs(b->fd) : 0;
	int saved = errno;
	close(b->fd);
	b->fd = -1;
	errno = saved;
	return rc;
}

/* A spool entry that is not what salve wrote: never run, audited, renamed FILE.refused so
 * it is not read again and a person can look at it. */
static void refuse(struct srv_server *s, const char *path, const char *name, const char *why)
{
	char aside[4800];
	snprintf(aside, sizeof aside, "%s.refused", path);
	int moved = rename(path, aside) == 0;
	srv_log(SALVE_LOG_WARN, "serve: spooled run %s refused: %s; %s", path, why,
	        moved ? "renamed *.refused for a person to look at" : "left in place");
	srv_audit(s, json_pack("{s:s, s:s, s:s, s:s?}", "event", "spool_refused", "file", name,
	                       "reason", why, "moved_to", moved ? aside : NULL));
}

static int valid_run_id(const char *id)
{
	if (strlen(id) != 32)
		return 0;
	for (const char *p = id; *p; p++)
		if (!isxdigit((unsigned char)*p))
			return 0;
	return 1;
}

/* One file: its entry, or NULL when it was refused. */
static json_t *read_entry(struct srv_server *s, const char *name, size_t len)
{
	char path[4700], err[1024], stem[256];
	snprintf(path, sizeof path, "%s/%s", s->spool_dir, name);
	snprintf(stem, sizeof stem, "%.*s", (int)(len - 5), name);
	size_t n = 0;
	size_t max = s->conf.max_body * 4 + (1 << 20);
	char *text = srv_state_read_file(path, max, &n, err, sizeof err);
	if (!text) {
		refuse(s, path, name, err);
		return NULL;
	}
	const char *json = srv_state_unseal(s->spool_key, text, n, err, sizeof err);
	json_error_t jerr;
	json_t *o = json ? json_loads(json, 0, &jerr) : NULL;
	free(text);
	if (!o) {
		refuse(s, path, name, json ? jerr.text : err);
		return NULL;
	}
	const char *id = json_string_value(json_object_get(o, "id"));
	if (!id || !valid_run_id(id) || strcmp(id, stem) != 0) {
		refuse(s, path, name, "its run id does not match its file name");
		json_decref(o);
		return NULL;
	}
	return o;
}

const char *srv_spool_give_back(struct srv_server *s, const char *occ, const char *target,
                                const char *id, char *err, size_t errlen)
{
	if (!s->ha)
		return NULL;
	if (srv_ha_give_back(s->ha, occ, target, id, err, errlen) == 0)
		return "given back";
	srv_log(SALVE_LOG_WARN, "serve: run %s: its claims in etcd lapse with their lease: %s", id,
	        err);
	return err;
}

void srv_spool_dropped(struct srv_server *s, json_t *rec, const char *occ, const char *target)
{
	char err[1024];
	const char *id = json_string_value(json_object_get(rec, "run"));
	srv_log(SALVE_LOG_WARN, "serve: run %s (route %s) %s", id,
	        json_string_value(json_object_get(rec, "route")),
	        json_string_value(json_object_get(rec, "detail")));
	const char *claims = srv_spool_give_back(s, occ, target, id, err, sizeof err);
	if (claims)
		json_object_set_new(rec, "claims", json_string(claims));
	srv_audit(s, rec);
}

/* An entry accepted longer than server.stale_after ago (on the wall clock: it comes from a
 * previous process) is dropped: 1, else 0. */
static int drop_if_stale(struct srv_server *s, const json_t *o, const char *path)
{
	double limit = s->conf.stale_after;
	const char *created = json_string_value(json_object_get(o, "created_at"));
	const char *id = json_string_value(json_object_get(o, "id"));
	const char *route = json_string_value(json_object_get(o, "route"));
	const char *occ = json_string_value(json_object_get(o, "occurrence_key"));
	const char *target = json_string_value(json_object_get(o, "target_key"));
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	double age = srv_stale_age(created, 0, 0, (double)wall.tv_sec + (double)wall.tv_nsec / 1e9);
	if (limit <= 0 || age < limit || !route || !occ || !target)
		return 0;
	char detail[256], labels[512];
	snprintf(detail, sizeof detail,
	         "accepted %.0f s ago, longer than server.stale_after (%.0f s): dropped at the "
	         "restart, not run late",
	         age, limit);
	unlink(path);
	pthread_mutex_lock(&s->mu);
	srv_dedup_release(s->dedup, occ, id);
	srv_dedup_release(s->dedup, target, id);
	srv_metrics_labels(labels, sizeof labels, "route", route, "reason", "stale", NULL);
	srv_metrics_add(s->metrics, "salve_runs_dropped_total", labels, 1);
	pthread_mutex_unlock(&s->mu);
	json_t *rec =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:O*}", "event", "run_dropped",
	              "run", id, "route", route, "state", "spooled", "reason", "stale", "detail",
	              detail, "age_seconds", floor(age * 1000) / 1000, "stale_after_seconds", limit,
	              "fingerprint", json_object_get(json_object_get(o, "alert"), "fingerprint"));
	srv_spool_dropped(s, rec, occ, target);
	return 1;
}

json_t *srv_spool_read(struct srv_server *s)
{
	json_t *entries = json_array();
	DIR *d = opendir(s->spool_dir);
	if (!d)
		return entries;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
			continue;
		json_t *o = read_entry(s, e->d_name, len);
		char path[4700];
		snprintf(path, sizeof path, "%s/%s", s->spool_dir, e->d_name);
		if (o && drop_if_stale(s, o, path))
			json_decref(o);
		else if (o)
			json_array_append_new(entries, o);
	}
	closedir(d);
	return entries;
}
