/* The worker pool: pick a run, execute it, finish it (see workers.h). */
#include "workers.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "approvals.h"
#include "circuits.h"
#include "engine.h"
#include "exitcodes.h"
#include "ha.h"
#include "lock.h"
#include "log.h"
#include "pause.h"
#include "redact.h"
#include "run.h"
#include "runbook.h"
#include "spool.h"
#include "srv.h"
#include "steps.h"
#include "util.h"

/* One worker thread and what it is doing, for the shutdown report (fields under mu). A copy,
 * not a pointer to the run: a finished run may leave the table while its worker still
 * closes the run's Lua state. */
struct srv_worker {
	struct srv_server *srv;
	pthread_t thread;
	char run[33], route[65], runbook[256];
	const char *phase; /* NULL when idle */
};

/* Whether a run that did not succeed says the runbook is broken (the circuit breaker counts
 * it). A person said no, nobody answered, the alert resolved or the server stopped: none of
 * these does. */
static int counts_as_failure(const struct srv_run *r)
{
	if (!r->outcome || strcmp(r->outcome, "success") == 0 ||
	    strcmp(r->outcome, "cancelled") == 0)
		return 0;
	if (r->approval == SRV_APPROVAL_DENIED || r->approval == SRV_APPROVAL_TIMEOUT ||
	    r->approval == SRV_APPROVAL_CANCELLED || r->cancel)
		return 0;
	return 1;
}

/* With ha: what the run leaves in etcd: its target cools down from now (a peer's alert for it
 * is deduplicated as long as here), and its outcome counts in the route's shared circuit. */
static void shared_end(struct srv_server *s, struct srv_route_state *rs, const char *id,
                       const char *target_key, int success, int failed, const char *why)
{
	char err[1024];
	if (srv_ha_target_ended(s->ha, target_key, id, rs->route->cooldown, err, sizeof err) < 0)
		srv_log(
		    SALVE_LOG_WARN,
		    "serve: run %s: its target's cooldown is not queued for etcd (the claim lapses "
		    "with its lease, cooldown + run_timeout from the alert): %s",
		    id, err);
	if (rs->route->breaker > 0)
		srv_circuit_count_shared(s, rs, success, failed, id, why);
}

static void finish(struct srv_server *s, struct srv_run *r, const char *outcome, int code,
                   const char *error, const json_t *summary)
{
	char labels[512], id[sizeof r->id], why[1024];
	srv_spool_remove(s, r->id); /* a run that never reached run_start */
	pthread_mutex_lock(&s->mu);
	srv_run_set_finished(s, r);
	r->outcome = outcome;
	r->exit_code = code;
	if (error && !r->error)
		r->error = salve_redact_dup(error);
	salve_timestamp(r->ended_at, sizeof r->ended_at);
	srv_steps_finish(r, summary);
	struct srv_route_state *rs = r->rs;
	rs->active--;
	s->active--;
	double now = salve_now();
	srv_dedup_end(s->dedup, r->occ_key, r->id, now);
	srv_dedup_end(s->dedup, r->target_key, r->id, now);
	srv_metrics_labels(labels, sizeof labels, "route", rs->route->name, "runbook",
	                   srv_run_runbook_label(r), "outcome", outcome, NULL);
	srv_metrics_add(s->metrics, "salve_runs_total", labels, 1);
	int success = strcmp(outcome, "success") == 0, failed = counts_as_failure(r);
	/* Copies: once finished and mu let go, the run may leave the table (history). */
	snprintf(id, sizeof id, "%s", r->id);
	snprintf(why, sizeof why, "%s", r->error ? r->error : outcome);
	char *target_key = s->ha ? strdup(r->target_key) : NULL;
	json_t *circuit = s->ha ? NULL : srv_circuit_count(rs, success, failed, id, why);
	pthread_cond_broadcast(&s->work_cv);
	pthread_mutex_unlock(&s->mu);
	srv_log(success ? SALVE_LOG_INFO : SALVE_LOG_WARN, "serve: run %s: %s (exit %d)%s%s", id,
	        outcome, code, error ? ": " : "", error ? error : "");
	if (circuit)
		srv_circuit_persist(s, rs, circuit);
	if (s->ha && target_key)
		shared_end(s, rs, id, target_key, success, failed, why);
	free(target_key);
}

/* A run the engine ran: its outcome (one the API documents) and first step error. */
static void finish_engine_run(struct srv_server *s, struct srv_run *r, int code,
                              const json_t *summary)
{
	const char *outcome = json_string_value(json_object_get(summary, "outcome"));
	static const char *const known[] = {"success", "rolled_back", "rollback_incomplete",
	                                    "error"};
	const char *stable = "error";
	for (size_t i = 0; outcome && i < 4; i++)
		if (strcmp(outcome, known[i]) == 0)
			stable = known[i];
	const char *step_error = NULL;
	size_t si;
	json_t *st;
	json_array_foreach(json_object_get(summary, "steps"), si, st)
	{
		const char *e = json_string_value(json_object_get(st, "error"));
		if (e && !step_error)
			step_error = e;
	}
	finish(s, r, stable, code, step_error, summary);
}

/* A run that could not start: audited, finished with outcome error. */
static void fail_early(struct srv_server *s, struct srv_run *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail_early(struct srv_server *s, struct srv_run *r, int code, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	srv_audit(s, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "event", "run_error", "run",
	                       r->id, "route", r->rs->route->name, "runbook", r->runbook, "trigger",
	                       r->trigger, "error", msg, "exit_code", code));
	finish(s, r, "error", code, msg, NULL);
}

static void set_state(struct srv_server *s, struct srv_run *r, enum srv_run_state st)
{
	pthread_mutex_lock(&s->mu);
	r->state = st;
	pthread_mutex_unlock(&s->mu);
}

static void set_phase(struct srv_server *s, struct srv_worker *w, const char *phase)
{
	pthread_mutex_lock(&s->mu);
	w->phase = phase;
	pthread_mutex_unlock(&s->mu);
}

/* The launch's hooks: the run table shows where the run is. */
static void run_loaded(void *ctx, const salve_runbook *rb)
{
	struct srv_run *r = ctx;
	pthread_mutex_lock(&r->srv->mu);
	r->runbook_name = strdup(rb->name);
	pthread_mutex_unlock(&r->srv->mu);
}

static void run_waiting(void *ctx, const char *lock_key)
{
	(void)lock_key;
	struct srv_run *r = ctx;
	set_state(r->srv, r, SRV_RUN_WAITING_LOCK);
}

static void run_running(void *ctx, const salve_runbook *rb)
{
	struct srv_run *r = ctx;
	set_state(r->srv, r, SRV_RUN_RUNNING);
	const char *fp = srv_run_fingerprint(r);
	srv_log(SALVE_LOG_INFO, "serve: run %s: %s%s for route %s, %s%s", r->id, rb->name,
	        r->dry_run ? " (dry-run)" : "", r->rs->route->name, fp ? "alert " : "",
	        fp ? fp : r->trigger);
}

/* Launches the run as every trigger does (core/launch.h) with the server's hooks. */
static void execute(struct srv_server *s, struct srv_run *r, struct srv_worker *w)
{
	salve_launch_request rq = {
	    .runbook = r->runbook,
	    .params = r->params,
	    .mode = r->dry_run ? SALVE_MODE_DRY_RUN : SALVE_MODE_APPLY,
	    .trigger = r->trigger,
	    .fingerprint = srv_run_fingerprint(r),
	    .run_id = r->id,
	    .target = r->target,
	    .step_timeout = -1,
	    .lock_wait = 1,
	    .lock_timeout = s->conf.lock_timeout,
	    .cancel = &r->cancel,
	    .audit = s->audit,
	    .loaded = run_loaded,
	    .waiting = run_waiting,
	    .running = run_running,
	    .on_event = srv_steps_on_event,
	    .approve = srv_approval_hook,
	    .ctx = r,
	};
	salve_launch_result res;
	set_phase(s, w, "running");
	int code = salve_launch(s->env, &rq, &res);
	set_phase(s, w, "closing the runbook's Lua state (the run had ended)");
	if (res.stage == SALVE_LAUNCH_RAN)
		finish_engine_run(s, r, code, res.summary);
	else
		fail_early(s, r, code, "%s%s", res.error,
		           res.stage == SALVE_LAUNCH_LOCK_BUSY && r->cancel
		               ? " (the server is shutting down)"
		               : "");
	json_decref(res.summary);
}

/* Under mu: a queued run accepted longer than server.stale_after ago never starts (awx#5014:
 * overnight jobs ran the next morning): it leaves the queue as a cancelled run would, its keys
 * free again. Returns the run_dropped record for the caller to audit, else NULL. */
static json_t *drop_if_stale(struct srv_server *s, struct srv_run *r)
{
	double limit = s->conf.stale_after;
	if (limit <= 0)
		return NULL;
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	double age = srv_stale_age(r->created_at, r->t_created, salve_now(),
	                           (double)wall.tv_sec + (double)wall.tv_nsec / 1e9);
	if (age < limit)
		return NULL;
	char detail[256], labels[512];
	snprintf(detail, sizeof detail,
	         "accepted %.0f s ago, longer than server.stale_after (%.0f s): dropped, not run "
	         "late",
	         age, limit);
	json_t *rec = srv_run_cancel_queued(s, r, detail);
	json_object_set_new(rec, "event", json_string("run_dropped"));
	json_object_set_new(rec, "reason", json_string("stale"));
	json_object_set_new(rec, "detail", json_string(detail));
	json_object_set_new(rec, "age_seconds", json_real(floor(age * 1000) / 1000));
	json_object_set_new(rec, "stale_after_seconds", json_real(limit));
	srv_metrics_labels(labels, sizeof labels, "route", r->rs->route->name, "reason", "stale",
	                   NULL);
	srv_metrics_add(s->metrics, "salve_runs_dropped_total", labels, 1);
	return rec;
}

static void *worker_main(void *arg)
{
	struct srv_worker *w = arg;
	struct srv_server *s = w->srv;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		struct srv_run *r = NULL;
		while (!s->stopping && (srv_pause_blocks(s) || !(r = srv_run_next(s)))) {
			/* Woken by new runs, finished runs and resume; the timeout notices a pause
			 * file that the CLI removed. */
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&s->work_cv, &s->mu, &ts);
		}
		if (s->stopping) {
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		json_t *stale = drop_if_stale(s, r);
		if (stale) {
			char *occ = strdup(r->occ_key), *target = strdup(r->target_key);
			pthread_mutex_unlock(&s->mu);
			srv_spool_dropped(s, stale, occ, target);
			free(occ);
			free(target);
			continue;
		}
		srv_run_dequeue(s, r);
		r->state = SRV_RUN_STARTING;
		salve_timestamp(r->started_at, sizeof r->started_at);
		r->rs->active++;
		s->active++;
		snprintf(w->run, sizeof w->run, "%s", r->id);
		snprintf(w->route, sizeof w->route, "%s", r->rs->route->name);
		snprintf(w->runbook, sizeof w->runbook, "%s", r->runbook);
		w->phase = "loading the runbook";
		pthread_mutex_unlock(&s->mu);
		execute(s, r, w);
		set_phase(s, w, NULL);
	}
}

int srv_workers_start(struct srv_server *s, char *err, size_t errlen)
{
	s->workers = calloc((size_t)s->conf.workers, sizeof *s->workers);
	if (!s->workers) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int i = 0; i < s->conf.workers; i++) {
		s->workers[i].srv = s;
		if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) != 0) {
			snprintf(err, errlen, "cannot start worker %d: %s", i, strerror(errno));
			return -1;
		}
		s->nworkers++;
	}
	return 0;
}

/* Joins the workers until deadline (CLOCK_REALTIME, as pthread_timedjoin_np wants it).
 * Returns the abandoned ones as an array of {run, route, runbook, phase}. */
static json_t *join_workers(struct srv_server *s, const struct timespec *deadline)
{
	json_t *abandoned = json_array();
	for (int i = 0; i < s->nworkers; i++) {
		struct srv_worker *w = &s->workers[i];
		if (pthread_timedjoin_np(w->thread, NULL, deadline) == 0)
			continue;
		pthread_mutex_lock(&s->mu);
		json_array_append_new(abandoned,
		                      json_pack("{s:s, s:s, s:s, s:s}", "run", w->run, "route",
		                                w->route, "runbook", w->runbook, "phase",
		                                w->phase ? w->phase : "unknown"));
		pthread_mutex_unlock(&s->mu);
	}
	return abandoned;
}

static void report_abandoned(struct srv_server *s, const json_t *left, double grace)
{
	size_t i;
	json_t *a;
	json_array_foreach(left, i, a)
	{
		srv_log(SALVE_LOG_ERROR,
		        "serve: run %s (runbook %s, route %s) did not stop within shutdown_grace "
		        "(%.0f s) while %s: abandoned; its journal stays for salve recover",
		        json_string_value(json_object_get(a, "run")),
		        json_string_value(json_object_get(a, "runbook")),
		        json_string_value(json_object_get(a, "route")), grace,
		        json_string_value(json_object_get(a, "phase")));
		json_t *rec = json_deep_copy(a);
		json_object_set_new(rec, "event", json_string("run_abandoned"));
		json_object_set_new(rec, "grace_s", json_real(grace));
		srv_audit(s, rec);
	}
}

int srv_workers_stop(struct srv_server *s, json_t **abandoned)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	double grace = s->conf.shutdown_grace;
	deadline.tv_sec += (time_t)grace;
	deadline.tv_nsec += (long)((grace - (double)(time_t)grace) * 1e9);
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	json_t *left = join_workers(s, &deadline);
	size_t n = json_array_size(left);
	if (n > 0) {
		report_abandoned(s, left, grace);
		if (abandoned)
			*abandoned = left;
		else
			json_decref(left);
		return (int)n;
	}
	json_decref(left);
	free(s->workers);
	s->workers = NULL;
	s->nworkers = 0;
	return 0;
}
