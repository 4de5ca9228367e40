/* The pause switch (see pause.h). */
#include "pause.h"

#include <time.h>

#include "ha.h"
#include "log.h"
#include "srv.h"
#include "state.h"

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void srv_pause_check(struct srv_server *s)
{
	/* When in doubt, start nothing. */
	char why[1024], ha_why[512] = "";
	long long began = now_ns();
	if (s->ha && srv_ha_watch_start(s->ha, why, sizeof why) < 0)
		srv_log(SALVE_LOG_ERROR,
		        "serve: %s (the shared pause is read with each alert only)", why);
	int present = srv_state_file_present(s->pause_path, why, sizeof why);
	int shared = s->ha ? srv_ha_paused(s->ha, ha_why, sizeof ha_why) : 0;
	int paused = present != 0 || shared, changed = 0;
	pthread_mutex_lock(&s->mu);
	/* Checks of several threads may end out of order: only a newer one is applied, so a
	 * check that began before `salve pause` never undoes one that saw the file. */
	if (began < s->pause_checked_ns) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	s->pause_checked_ns = began;
	if (paused != s->paused) {
		s->paused = paused;
		changed = 1;
		pthread_cond_broadcast(&s->work_cv);
	}
	pthread_mutex_unlock(&s->mu);
	if (changed && present < 0)
		srv_log(SALVE_LOG_WARN, "serve: paused: %s", why);
	if (changed && shared)
		srv_log(SALVE_LOG_INFO, "serve: paused by the shared pause in etcd");
	if (ha_why[0])
		srv_log(SALVE_LOG_WARN, "serve: the shared pause cannot be read (kept as %s): %s",
		        shared ? "paused" : "not paused", ha_why);
}

int srv_pause_blocks(struct srv_server *s)
{
	return s->paused || (s->ha && srv_ha_paused(s->ha, NULL, 0));
}

int srv_pause_local(const struct srv_server *s)
{
	char why[1024];
	return srv_state_file_present(s->pause_path, why, sizeof why) != 0;
}

int srv_pause_set(struct srv_server *s, int pause, const char *by, const char *reason, json_t **out)
{
	char err[1024];
	int was = 0;
	if (s->ha && srv_ha_set_pause(s->ha, pause, by, reason, &was, err, sizeof err) < 0) {
		*out = json_pack("{s:s}", "error", err);
		return 503;
	}
	/* With ha: the switch is etcd's; resume lifts a local file too (left from before). */
	if ((!s->ha || !pause) &&
	    srv_state_write_pause(s->pause_path, pause, by, reason, err, sizeof err) < 0) {
		*out = json_pack("{s:s}", "error", err);
		return 500;
	}
	srv_pause_check(s);
	srv_audit(s, json_pack("{s:s, s:s, s:s?, s:s, s:b}", "event", pause ? "paused" : "resumed",
	                       "by", by ? by : "api", "reason", reason, "via", "api", "shared",
	                       s->ha != NULL));
	*out = json_pack("{s:b}", "paused", pause);
	return 200;
}

int srv_pause_shared(const srv_conf *conf, int pause, const char *by, const char *reason, int *was,
                     char *err, size_t errlen)
{
	if (!conf->ha)
		return 0;
	struct srv_ha *h = srv_ha_open(conf->ha, err, errlen);
	if (!h)
		return -1;
	int rc = srv_ha_set_pause(h, pause, by, reason, was, err, errlen);
	srv_ha_close(h);
	return rc < 0 ? -1 : 1;
}
