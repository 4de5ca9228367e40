/* The pause switch (see pause.h). */
#include "pause.h"

#include "ha.h"
#include "log.h"
#include "srv.h"
#include "state.h"

void srv_pause_check_alert(struct srv_server *s)
{
	/* Without ha: and with the generation mapped, an unchanged generation means the pause
	 * file was not changed through salve since the last full check: that check's answer
	 * stands (the file is read again every second by the tick). */
	if (!s->ha && s->pause_gen &&
	    __atomic_load_n(s->pause_gen, __ATOMIC_ACQUIRE) ==
	        __atomic_load_n(&s->pause_gen_seen, __ATOMIC_ACQUIRE))
		return;
	srv_pause_check(s);
}

void srv_pause_check(struct srv_server *s)
{
	/* When in doubt, start nothing. */
	char why[1024], ha_why[512] = "";
	if (s->ha && srv_ha_watch_start(s->ha, why, sizeof why) < 0)
		srv_log(SALVE_LOG_ERROR,
		        "serve: %s (the shared pause is read with each alert only)", why);
	/* One check at a time, from the read to the apply: two that crossed could apply an
	 * older read last and undo, for the alert being decided, a pause the other saw. Rare
	 * without ha: (the generation spares most alerts their check), and one fstatat long. */
	pthread_mutex_lock(&s->pause_mu);
	/* Read before the file: a change made after this read bumps it again, so the next
	 * alert checks once more. */
	unsigned long long gen = s->pause_gen ? __atomic_load_n(s->pause_gen, __ATOMIC_ACQUIRE) : 0;
	int present = srv_state_file_present(s->pause_path, why, sizeof why);
	int shared = s->ha ? srv_ha_paused(s->ha, ha_why, sizeof ha_why) : 0;
	int paused = present != 0 || shared, changed = 0;
	pthread_mutex_lock(&s->mu);
	__atomic_store_n(&s->pause_gen_seen, gen, __ATOMIC_RELEASE);
	if (paused != s->paused) {
		s->paused = paused;
		changed = 1;
		pthread_cond_broadcast(&s->work_cv);
	}
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_unlock(&s->pause_mu);
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
	int wrote = (!s->ha || !pause)
	                ? srv_state_write_pause(s->pause_path, pause, by, reason, err, sizeof err)
	                : 0;
	if (wrote < 0) {
		*out = json_pack("{s:s}", "error", err);
		return 500;
	}
	if (wrote > 0)
		srv_log(SALVE_LOG_WARN, "serve: %s", err);
	/* This server knows at once, generation or not. */
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
