/* Takeover of dead replicas' runs (see takeover.h). */
#include "takeover.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "ha/node.h"
#include "ha/session.h"
#include "log.h"
#include "metrics.h"
#include "srv.h"
#include "util.h"

struct srv_takeover {
	struct srv_server *s;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop, local_pending;
	double every;
	char last_error[512];
};

static void count(struct srv_server *s, const char *outcome)
{
	char labels[128];
	srv_metrics_labels(labels, sizeof labels, "outcome", outcome, NULL);
	srv_metrics_add(s->metrics, "salve_runs_taken_over_total", labels, 1);
}

/* Logs an etcd problem once per change, not every pass. */
static void problem(struct srv_takeover *t, const char *err)
{
	if (strcmp(t->last_error, err) == 0)
		return;
	snprintf(t->last_error, sizeof t->last_error, "%s", err);
	srv_log(SALVE_LOG_WARN, "serve: takeover: %s", err);
}

static void one_pass(struct srv_takeover *t)
{
	struct srv_server *s = t->s;
	salve_ha_node *ha = s->env->ha;
	char err[4096];
	if (t->local_pending) {
		salve_recover_options ro = {0, 0, ha};
		json_t *summary = NULL;
		int code =
		    salve_engine_recover(s->state_dir, s->reg, s->audit, NULL, &ro, &summary);
		json_decref(summary);
		t->local_pending = code != 0;
	}
	/* Adoptions this process cannot tell it made (an answer lost, then no read answered)
	 * are given back first, so the scan below finds them orphans again and takes them
	 * over, instead of their staying on this replica's lease until it stops. */
	salve_ha_session *session = salve_ha_node_session(ha, err, sizeof err);
	if (session && salve_ha_session_give_back(session, err, sizeof err) > 0)
		problem(t, err);
	salve_etcd *e = salve_ha_node_etcd(ha, err, sizeof err);
	json_t *orphans =
	    e ? salve_ha_orphans(e, salve_ha_node_ident(ha)->prefix, err, sizeof err) : NULL;
	if (!orphans) {
		problem(t, err);
		return;
	}
	t->last_error[0] = '\0';
	size_t i;
	json_t *id;
	json_array_foreach(orphans, i, id)
	{
		pthread_mutex_lock(&t->mu);
		int stop = t->stop;
		pthread_mutex_unlock(&t->mu);
		if (stop)
			break; /* the rest are another replica's, or this one's after its restart */
		const char *run = json_string_value(id);
		int rc = salve_engine_take_over(s->state_dir, s->reg, s->audit, NULL, ha, run, NULL,
		                                err, sizeof err);
		if (rc == 0)
			continue; /* another replica was first */
		count(s, rc == 1 ? "rolled_back" : rc == 2 ? "needs_human" : "error");
		srv_log(rc == 1 ? SALVE_LOG_INFO : SALVE_LOG_ERROR, "serve: run %s taken over: %s",
		        run,
		        rc == 1   ? "recovered (see the audit log)"
		        : rc == 2 ? "its rollback is incomplete: a human must look (salve recover "
		                    "--list, then --resolve)"
		                  : err);
	}
	json_decref(orphans);
}

static void *takeover_main(void *arg)
{
	struct srv_takeover *t = arg;
	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += (time_t)t->every;
		until.tv_nsec += (long)((t->every - (double)(time_t)t->every) * 1e9);
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&t->cv, &t->mu, &until);
		if (t->stop)
			break;
		pthread_mutex_unlock(&t->mu);
		one_pass(t);
		pthread_mutex_lock(&t->mu);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

void srv_takeover_declare_metrics(struct srv_server *s)
{
	srv_metrics_declare(s->metrics, "salve_runs_taken_over_total", SRV_COUNTER,
	                    "Runs of dead replicas this replica took over from etcd, by outcome",
	                    NULL, 0);
}

int srv_takeover_start(struct srv_server *s, int local_pending, char *err, size_t errlen)
{
	if (!s->env->ha)
		return 0;
	struct srv_takeover *t = calloc(1, sizeof *t);
	if (!t) {
		snprintf(err, errlen, "takeover: out of memory");
		return -1;
	}
	t->s = s;
	t->local_pending = local_pending;
	/* Every second: one keys-only range of PREFIX/runs/ per replica, so that a dead
	 * replica's run is taken over within a second of its lease's end. */
	t->every = 1.0;
	pthread_mutex_init(&t->mu, NULL);
	srv_cond_init_monotonic(&t->cv);
	if (pthread_create(&t->thread, NULL, takeover_main, t) != 0) {
		snprintf(err, errlen, "takeover: cannot start its thread");
		pthread_cond_destroy(&t->cv);
		pthread_mutex_destroy(&t->mu);
		free(t);
		return -1;
	}
	s->takeover = t;
	return 0;
}

void srv_takeover_stop(struct srv_server *s)
{
	struct srv_takeover *t = s->takeover;
	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = 1;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	free(t);
	s->takeover = NULL;
}
