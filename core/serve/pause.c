/* The pause switch (see pause.h). */
#include "pause.h"

#include "log.h"
#include "srv.h"
#include "state.h"

void srv_pause_check(struct srv_server *s)
{
	/* When in doubt, start nothing. */
	char why[1024];
	int present = srv_state_file_present(s->pause_path, why, sizeof why);
	int paused = present != 0, changed = 0;
	pthread_mutex_lock(&s->mu);
	if (paused != s->paused) {
		s->paused = paused;
		changed = 1;
		pthread_cond_broadcast(&s->work_cv);
	}
	pthread_mutex_unlock(&s->mu);
	if (changed && present < 0)
		srv_log(SALVE_LOG_WARN, "serve: paused: %s", why);
}

int srv_pause_set(struct srv_server *s, int pause, const char *by, const char *reason, json_t **out)
{
	char err[1024];
	if (srv_state_write_pause(s->pause_path, pause, by, reason, err, sizeof err) < 0) {
		*out = json_pack("{s:s}", "error", err);
		return 500;
	}
	srv_pause_check(s);
	srv_audit(s, json_pack("{s:s, s:s, s:s?, s:s}", "event", pause ? "paused" : "resumed", "by",
	                       by ? by : "api", "reason", reason, "via", "api"));
	*out = json_pack("{s:b}", "paused", pause);
	return 200;
}
