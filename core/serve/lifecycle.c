/* Start, tick and stop of the run side of salve serve (see lifecycle.h). */
#include "lifecycle.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuits.h"
#include "dedupfile.h"
#include "engine.h"
#include "log.h"
#include "pause.h"
#include "run.h"
#include "spool.h"
#include "srv.h"
#include "status.h"
#include "takeover.h"
#include "util.h"
#include "workers.h"

/* Runs accepted before a restart that changed nothing go back in the queue, as they were. A
 * run's entry leaves the spool once its run_start is written and before its journal exists,
 * so a run killed between the two is requeued and runs (its only start that does anything);
 * a run whose journal the recovery just found (rolled back, or live in another process)
 * started for real and is never requeued (its
 * entry cannot be there unless something removed files out of order: dropped, audited). */
static void requeue(struct srv_server *s, const json_t *recovered)
{
	json_t *entries = srv_spool_read(s);
	size_t i;
	json_t *o;
	json_array_foreach(entries, i, o)
	{
		const char *id = json_string_value(json_object_get(o, "id"));
		char path[4400], why[256] = "its route no longer exists";
		srv_spool_path(s, id, path, sizeof path);
		if (json_object_get(recovered, id)) {
			srv_log(
			    SALVE_LOG_ERROR,
			    "serve: spooled run %s started before the restart and was recovered: "
			    "not run again",
			    id);
			srv_audit(s, json_pack("{s:s, s:s, s:s}", "event", "run_not_requeued",
			                       "run", id, "reason",
			                       "it started before the restart (its journal was "
			                       "found); a run is never run forward again"));
			srv_spool_remove(s, id);
			continue;
		}
		struct srv_route_state *rs =
		    srv_route_state_find(s, json_string_value(json_object_get(o, "route")));
		struct srv_run *r = rs ? srv_run_from_spool(s, rs, o, why, sizeof why) : NULL;
		if (!r) {
			srv_log(SALVE_LOG_WARN,
			        "serve: spooled run %s: %s; left in place for a person to look at",
			        path, why);
			continue;
		}
		pthread_mutex_lock(&s->mu);
		srv_run_enqueue(s, r);
		pthread_mutex_unlock(&s->mu);
		srv_audit(s, json_pack("{s:s, s:s, s:s, s:s, s:b}", "event", "run_requeued", "run",
		                       r->id, "route", rs->route->name, "reason",
		                       "accepted before a restart; it had changed nothing (no "
		                       "journal)",
		                       "dry_run", r->dry_run));
	}
	json_decref(entries);
}

/* Runs a previous process left behind (kill -9, a power cut, runs abandoned at shutdown) are
 * rolled back from their journals before anything new starts, as salve recover does, and
 * audited by it (recover_start, recover_end); serve_recover sums them up. A run that could
 * not be undone is left for a person (salve recover --resolve); the server starts anyway. */
static int recover_dead_runs(struct srv_server *s, json_t *recovered)
{
	json_t *summary = NULL;
	salve_recover_options ro = {0, 0, s->env->ha};
	int code = salve_engine_recover(s->state_dir, s->reg, s->audit, NULL, &ro, &summary);
	json_t *runs = json_object_get(summary, "runs"), *found = json_array();
	size_t i;
	json_t *r;
	json_array_foreach(runs, i, r)
	{
		const char *status = json_string_value(json_object_get(r, "status"));
		const char *id = json_string_value(json_object_get(r, "run_id"));
		/* Any journal found means the run started: a live one is another process's
		 * (without ha:) or another replica's now; never requeued either way. */
		if (id && status)
			json_object_set_new(recovered, id, json_string(status));
		if (!status || strcmp(status, "live") == 0)
			continue;
		char labels[256];
		srv_metrics_labels(labels, sizeof labels, "status", status, NULL);
		srv_metrics_add(s->metrics, "salve_runs_recovered_total", labels, 1);
		json_array_append_new(found,
		                      json_pack("{s:s?, s:s, s:O*, s:O*}", "run", id, "status",
		                                status, "runbook", json_object_get(r, "runbook"),
		                                "trigger", json_object_get(r, "trigger")));
		const char *error = json_string_value(json_object_get(r, "error"));
		srv_log(strcmp(status, "rolled_back") == 0 || strcmp(status, "finished") == 0
		            ? SALVE_LOG_INFO
		            : SALVE_LOG_ERROR,
		        "serve: run %s left by a previous process: %s%s%s", id ? id : "?", status,
		        error ? ": " : "", error ? error : "");
	}
	if (json_array_size(found) || code)
		srv_audit(s, json_pack("{s:s, s:i, s:o, s:O*}", "event", "serve_recover",
		                       "exit_code", code, "runs", found, "error",
		                       json_object_get(summary, "error")));
	else
		json_decref(found);
	if (code)
		srv_log(
		    SALVE_LOG_ERROR,
		    "serve: some runs of a previous process could not be rolled back (exit %d): "
		    "see salve recover --list; starting anyway",
		    code);
	json_decref(summary);
	return code;
}

static void declare_metrics(struct srv_server *s)
{
	srv_takeover_declare_metrics(s);
	srv_status_declare_metrics(s->metrics);
	srv_metrics_declare(s->metrics, "salve_alerts_ignored_total", SRV_COUNTER,
	                    "Firing notifications of an occurrence that had resolved (stale)", NULL,
	                    0);
	srv_metrics_declare(s->metrics, "salve_dedup_evictions_total", SRV_COUNTER,
	                    "Dedup keys evicted because server.dedup_size was reached", NULL, 0);
	srv_metrics_declare(s->metrics, "salve_runs_recovered_total", SRV_COUNTER,
	                    "Runs of a previous process recovered at start, by what recover found",
	                    NULL, 0);
	srv_metrics_add(s->metrics, "salve_http_request_timeouts_total", "", 0);
	srv_metrics_add(s->metrics, "salve_dedup_evictions_total", "", 0);
}

static void init_routes(struct srv_server *s)
{
	for (size_t i = 0; i < s->routes.n; i++) {
		struct srv_route_state *rs = &s->rs[i];
		rs->route = &s->routes.v[i];
		srv_rate_init(&rs->rate, rs->route->rate_count, rs->route->rate_window);
		srv_targets_init(&rs->targets, rs->route->max_targets, rs->route->targets_window);
		srv_circuit_load(s, rs);
		char labels[512];
		srv_route_labels(labels, sizeof labels, rs);
		srv_metrics_add(s->metrics, "salve_alerts_matched_total", labels, 0);
	}
}

int srv_lifecycle_start(struct srv_server *s, char *err, size_t errlen)
{
	if (srv_state_paths(s->state_dir, s->serve_dir, sizeof s->serve_dir, err, errlen) < 0 ||
	    srv_state_spool_key(s->serve_dir, s->spool_key, err, errlen) < 0)
		return -1;
	snprintf(s->spool_dir, sizeof s->spool_dir, "%s/queue", s->serve_dir);
	snprintf(s->circuit_dir, sizeof s->circuit_dir, "%s/circuits", s->serve_dir);
	snprintf(s->pause_path, sizeof s->pause_path, "%s/paused", s->serve_dir);
	char why[1024];
	s->pause_gen = srv_state_pause_gen_map(s->pause_path, why, sizeof why);
	if (!s->pause_gen)
		srv_log(SALVE_LOG_WARN, "serve: %s: the pause file is read with every alert", why);
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->pause_mu, NULL);
	srv_cond_init_monotonic(&s->work_cv);
	s->by_id = srv_strmap_new();
	s->deciding = srv_strmap_new();
	pthread_cond_init(&s->decided_cv, NULL);
	s->dedup = srv_dedup_new((size_t)s->conf.dedup_size);
	s->metrics = srv_metrics_new();
	s->rs = calloc(s->routes.n + 1, sizeof *s->rs);
	if (!s->by_id || !s->deciding || !s->dedup || !s->metrics || !s->rs) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	declare_metrics(s);
	srv_targets_init(&s->global_targets, s->conf.global_max_targets,
	                 s->conf.global_targets_window);
	init_routes(s);
	srv_pause_check(s);
	/* Before anything can start: dead runs rolled back, then what ran is remembered (a run
	 * recovered here ended now), then the runs accepted and not started are queued again. */
	json_t *recovered = json_object();
	int local_pending = recover_dead_runs(s, recovered) != 0 && s->env->ha;
	long restored = srv_dedupfile_open(s, err, errlen);
	if (restored < 0) {
		json_decref(recovered);
		return -1;
	}
	if (restored)
		srv_log(SALVE_LOG_INFO, "serve: %ld dedup keys restored from %s", restored,
		        s->dedup_path);
	requeue(s, recovered);
	json_decref(recovered);
	if (srv_workers_start(s, err, errlen) < 0)
		return -1;
	return srv_takeover_start(s, local_pending, err, errlen);
}

void srv_lifecycle_tick(struct srv_server *s)
{
	srv_pause_check(s);
	pthread_mutex_lock(&s->mu);
	srv_dedup_expire(s->dedup, salve_now());
	srv_metrics_add(s->metrics, "salve_dedup_evictions_total", "",
	                (double)srv_dedup_take_evictions(s->dedup));
	pthread_mutex_unlock(&s->mu);
	srv_dedupfile_flush(s);
}

/* Every run in progress is told to stop (the engine rolls back what it changed). */
static void cancel_runs(struct srv_server *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	for (struct srv_run *r = s->oldest; r; r = r->newer) {
		if (r->state == SRV_RUN_FINISHED || r->state == SRV_RUN_QUEUED)
			continue;
		r->cancel = SIGTERM;
		srv_run_cancel_approval(r, "the server is shutting down");
	}
	pthread_cond_broadcast(&s->work_cv);
	pthread_mutex_unlock(&s->mu);
}

int srv_lifecycle_stop(struct srv_server *s, json_t **abandoned)
{
	if (abandoned)
		*abandoned = NULL;
	if (!s->by_id)
		return 0;
	/* The runs first: a takeover in progress finishes its rollback (undo work is best not
	 * cut short), and the workers need not wait for it to be told. */
	cancel_runs(s);
	srv_takeover_stop(s);
	int stuck = srv_workers_stop(s, abandoned);
	if (stuck > 0)
		return stuck;
	srv_dedupfile_close(s);
	srv_state_pause_gen_unmap(s->pause_gen);
	s->pause_gen = NULL;
	srv_run_free_all(s);
	srv_strmap_free(s->by_id);
	s->by_id = NULL;
	srv_strmap_free(s->deciding);
	s->deciding = NULL;
	pthread_cond_destroy(&s->decided_cv);
	srv_dedup_free(s->dedup);
	srv_metrics_free(s->metrics);
	srv_targets_free(&s->global_targets);
	for (size_t i = 0; s->rs && i < s->routes.n; i++) {
		srv_rate_free(&s->rs[i].rate);
		srv_targets_free(&s->rs[i].targets);
		free(s->rs[i].open_reason);
	}
	free(s->rs);
	s->rs = NULL;
	pthread_cond_destroy(&s->work_cv);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->pause_mu);
	return 0;
}
