/*
 * Runs: routing decisions, the bounded queue and its spool, the worker pool, approvals and
 * the status API. See srv.h for the locking rule.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alert.h"
#include "engine.h"
#include "exitcodes.h"
#include "host.h"
#include "lock.h"
#include "log.h"
#include "redact.h"
#include "runbook.h"
#include "schema.h"
#include "srv.h"
#include "state.h"
#include "util.h"

static const double latency_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10};
static const double step_bounds[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1,
                                     5,     10,    30,   60,   300, 600, 1800};

static const char *state_name(enum srv_run_state st)
{
	static const char *const names[] = {"queued",  "starting",          "waiting_lock",
	                                    "running", "awaiting_approval", "finished"};
	return names[st];
}

static const char *approval_name(enum srv_approval_state a)
{
	static const char *const names[] = {"none",   "pending", "approved",
	                                    "denied", "timeout", "cancelled"};
	return names[a];
}

/* Appends one record (stolen) through audit, which may be a batch handle without sync. */
static int audit_through(salve_audit *audit, json_t *rec)
{
	json_t *full = salve_audit_record();
	json_object_update(full, rec);
	json_decref(rec);
	char err[512];
	if (salve_audit_write(audit, full, err, sizeof err) < 0) {
		srv_log(SALVE_LOG_ERROR, "serve: audit: %s", err);
		return -1;
	}
	return 0;
}

/* Writes one server record (stolen) to the audit log, seq and ts first. 0 or -1 (logged). */
static int srv_audit(struct srv_server *s, json_t *rec)
{
	return audit_through(s->audit, rec);
}

/* RFC 3339 UTC with microseconds: latency measurements compare it with a client's clock. */
static void timestamp_us(char *buf, size_t len)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char base[24];
	strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%06ldZ", base, ts.tv_nsec / 1000L);
}

static void label_route(char *buf, size_t len, const struct srv_route_state *rs)
{
	srv_metrics_labels(buf, len, "route", rs->route->name, NULL);
}

/* ---- state files ----------------------------------------------------------------------- */

/* 1 open, 0 closed, -1 something that is not a circuit file of ours is there: the route
 * stays disabled (err says why) until salve routes reset removes it. */
static int circuit_state(const struct srv_server *s, const char *route, char *err, size_t errlen)
{
	char path[4400];
	snprintf(path, sizeof path, "%s/%s.open", s->circuit_dir, route);
	return srv_state_file_present(path, err, errlen);
}

static void spool_path(const struct srv_server *s, const char *id, char *out, size_t len)
{
	snprintf(out, len, "%s/%s.json", s->spool_dir, id);
}

/* ---- the run table and the queue (callers hold mu) -------------------------------------- */

static void q_push(struct srv_server *s, struct srv_run *r)
{
	r->qnext = NULL;
	r->qprev = s->qtail;
	if (s->qtail)
		s->qtail->qnext = r;
	else
		s->qhead = r;
	s->qtail = r;
	s->queued++;
	r->rs->queued++;
}

static void q_remove(struct srv_server *s, struct srv_run *r)
{
	if (r->qprev)
		r->qprev->qnext = r->qnext;
	else
		s->qhead = r->qnext;
	if (r->qnext)
		r->qnext->qprev = r->qprev;
	else
		s->qtail = r->qprev;
	r->qprev = r->qnext = NULL;
	s->queued--;
	r->rs->queued--;
}

static void run_free(struct srv_run *r)
{
	free(r->runbook);
	free(r->runbook_name);
	json_decref(r->params);
	json_decref(r->alert);
	free(r->occ_key);
	free(r->target_key);
	free(r->target);
	free(r->error);
	json_decref(r->steps);
	free(r->cancel_reason);
	free(r->approval_by);
	free(r->approval_comment);
	pthread_cond_destroy(&r->cv);
	free(r);
}

static struct srv_run *run_new(struct srv_server *s, struct srv_route_state *rs,
                               const json_t *alert, int resolved, json_t *params /* stolen */,
                               char *target /* stolen */, const char *occ_key,
                               const char *target_key)
{
	struct srv_run *r = calloc(1, sizeof *r);
	if (!r) {
		json_decref(params);
		free(target);
		return NULL;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	r->srv = s;
	salve_random_id(r->id, sizeof r->id);
	r->rs = rs;
	r->resolved = resolved;
	r->dry_run = resolved ? rs->route->resolved_dry_run : rs->route->dry_run;
	r->runbook = strdup(resolved ? rs->route->resolved_runbook : rs->route->runbook);
	r->params = params;
	r->alert = json_incref((json_t *)alert);
	r->occ_key = strdup(occ_key);
	r->target_key = strdup(target_key);
	r->target = target;
	r->steps = json_array();
	r->state = SRV_RUN_QUEUED;
	r->t_created = salve_now();
	salve_timestamp(r->created_at, sizeof r->created_at);
	return r;
}

/* Adds r to the run table (newest end) and evicts the oldest finished runs past history. */
static void table_add(struct srv_server *s, struct srv_run *r)
{
	r->older = s->newest;
	r->newer = NULL;
	if (s->newest)
		s->newest->newer = r;
	else
		s->oldest = r;
	s->newest = r;
	s->nruns++;
	srv_strmap_put(s->by_id, r->id, r, NULL);
	for (struct srv_run *o = s->oldest; o && s->nruns > (size_t)s->conf.history;) {
		struct srv_run *next = o->newer;
		/* Not before its request is answered: the ingest still holds it. */
		if (o->state == SRV_RUN_FINISHED && o->ready) {
			if (o->older)
				o->older->newer = o->newer;
			else
				s->oldest = o->newer;
			if (o->newer)
				o->newer->older = o->older;
			else
				s->newest = o->older;
			srv_strmap_remove(s->by_id, o->id);
			s->nruns--;
			run_free(o);
		}
		o = next;
	}
}

static const char *runbook_label(const struct srv_run *r)
{
	return r->runbook_name ? r->runbook_name : r->runbook;
}

/* A queued run leaves without running (resolved alert, API cancel). Caller holds mu; the
 * audit record is returned for the caller to write after unlocking. */
static json_t *cancel_queued(struct srv_server *s, struct srv_run *r, const char *reason)
{
	q_remove(s, r);
	r->state = SRV_RUN_FINISHED;
	r->outcome = "cancelled";
	r->cancel_reason = strdup(reason);
	salve_timestamp(r->ended_at, sizeof r->ended_at);
	/* Nothing ran: the occurrence and target are free again. */
	srv_dedup_release(s->dedup, r->occ_key, r->id);
	srv_dedup_release(s->dedup, r->target_key, r->id);
	char path[4400], labels[512];
	spool_path(s, r->id, path, sizeof path);
	unlink(path);
	srv_metrics_labels(labels, sizeof labels, "route", r->rs->route->name, "runbook",
	                   runbook_label(r), "outcome", "cancelled", NULL);
	srv_metrics_add(s->metrics, "salve_runs_total", labels, 1);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "event", "run_cancelled", "run", r->id,
	                 "route", r->rs->route->name, "state", "queued", "reason", reason,
	                 "fingerprint",
	                 json_string_value(json_object_get(r->alert, "fingerprint")));
}

/* ---- routing an alert (callers hold mu) ------------------------------------------------- */

struct decision {
	json_t *record;      /* audit record (alert fields + route, decision, reason, run) */
	json_t *summary;     /* the alert's entry in the answer */
	struct srv_run *run; /* a new run to release once audited */
	int queue_full;
	json_t *extra; /* another audit record (a cancellation), or NULL */
};

static void refuse(struct srv_server *s, struct srv_route_state *rs, struct decision *d,
                   const char *reason, const char *detail)
{
	char labels[512];
	srv_metrics_labels(labels, sizeof labels, "route", rs->route->name, "reason", reason, NULL);
	srv_metrics_add(s->metrics, "salve_alerts_refused_total", labels, 1);
	json_object_set_new(d->record, "decision", json_string("refused"));
	json_object_set_new(d->record, "reason", json_string(reason));
	json_object_set_new(d->record, "detail", json_string(detail));
}

static void dedup_decision(struct srv_server *s, struct srv_route_state *rs, struct decision *d,
                           const char *what, const char *run_id, const char *why, double ago)
{
	char labels[512], detail[512];
	label_route(labels, sizeof labels, rs);
	srv_metrics_add(s->metrics, "salve_alerts_deduplicated_total", labels, 1);
	if (strcmp(why, "active") == 0)
		snprintf(detail, sizeof detail, "run %s is already active for %s", run_id, what);
	else
		snprintf(detail, sizeof detail,
		         "run %s for %s ended %.0f s ago; cooldown is %.0f s", run_id, what, ago,
		         rs->route->cooldown);
	json_object_set_new(d->record, "decision", json_string("deduplicated"));
	json_object_set_new(d->record, "reason", json_string(why));
	json_object_set_new(d->record, "detail", json_string(detail));
	json_object_set_new(d->record, "run", json_string(run_id));
}

static void on_resolved_cancel(struct srv_server *s, struct srv_route_state *rs,
                               const json_t *alert, struct decision *d, double now)
{
	char key[1024], detail[512];
	srv_alert_occurrence_key(rs->route->name, alert, 0, key, sizeof key);
	const char *run_id = NULL, *why = NULL;
	double ago;
	struct srv_run *r = NULL;
	if (srv_dedup_check(s->dedup, key, now, &run_id, &why, &ago) && strcmp(why, "active") == 0)
		r = srv_strmap_get(s->by_id, run_id);
	json_object_set_new(d->record, "decision", json_string("resolved"));
	if (!r) {
		json_object_set_new(
		    d->record, "detail",
		    json_string("no queued or waiting run of this alert to cancel"));
		return;
	}
	json_object_set_new(d->record, "run", json_string(r->id));
	if (r->state == SRV_RUN_QUEUED) {
		d->extra = cancel_queued(s, r, "the alert resolved before the run started");
		json_object_set_new(d->record, "decision", json_string("cancelled"));
		json_object_set_new(d->record, "detail",
		                    json_string("the queued run was cancelled"));
	} else if (r->state == SRV_RUN_AWAITING_APPROVAL && r->approval == SRV_APPROVAL_PENDING) {
		r->approval = SRV_APPROVAL_CANCELLED;
		free(r->cancel_reason);
		r->cancel_reason = strdup("the alert resolved while the run waited for approval");
		pthread_cond_signal(&r->cv);
		json_object_set_new(d->record, "decision", json_string("cancelled"));
		json_object_set_new(d->record, "detail",
		                    json_string("the run waiting for approval was cancelled: what "
		                                "it changed is rolled back"));
	} else {
		/* A run past its approval (or without one) is left alone: the fix it applies is
		 * often why the alert resolved. */
		snprintf(detail, sizeof detail, "run is %s: left to finish", state_name(r->state));
		json_object_set_new(d->record, "detail", json_string(detail));
	}
}

static void admit(struct srv_server *s, struct srv_route_state *rs, const json_t *alert,
                  int resolved, struct decision *d, double now, double t_received)
{
	const srv_route *route = rs->route;
	char detail[1024], err[1024];
	if (s->paused) {
		refuse(s, rs, d, "paused", "salve serve is paused (salve resume, or POST /resume)");
		return;
	}
	if (rs->open) {
		if (circuit_state(s, route->name, err, sizeof err) == 0) {
			/* salve routes reset removed the file. */
			rs->open = 0;
			rs->failures = 0;
			free(rs->open_reason);
			rs->open_reason = NULL;
		} else {
			snprintf(
			    detail, sizeof detail,
			    "circuit open after %d failed runs in a row (%s); reset with salve "
			    "routes reset %s",
			    rs->failures, rs->open_reason ? rs->open_reason : "", route->name);
			refuse(s, rs, d, "circuit_open", detail);
			return;
		}
	}
	json_t *params = NULL, *reach = NULL;
	char *target = NULL;
	const char **keys = NULL;
	size_t nkeys = 0;
	int rendered = srv_route_render(route, alert, resolved, &params, &target, err, sizeof err);
	if (rendered < 0) {
		refuse(s, rs, d, rendered == -2 ? "pattern" : "template", err);
		return;
	}
	char occ[1024], tkey[512], tname[128];
	srv_alert_occurrence_key(route->name, alert, resolved, occ, sizeof occ);
	snprintf(tname, sizeof tname, "%s%s", route->name, resolved ? "#resolved" : "");
	srv_alert_target_key(tname, target, tkey, sizeof tkey);
	const char *run_id, *why;
	double ago;
	if (srv_dedup_check(s->dedup, occ, now, &run_id, &why, &ago)) {
		dedup_decision(s, rs, d, "this alert", run_id, why, ago);
		goto drop;
	}
	if (srv_dedup_check(s->dedup, tkey, now, &run_id, &why, &ago)) {
		dedup_decision(s, rs, d, "the same target", run_id, why, ago);
		goto drop;
	}
	if (s->queued >= (size_t)s->conf.queue_size) {
		snprintf(detail, sizeof detail, "the run queue is full (%d runs waiting): retry",
		         s->conf.queue_size);
		refuse(s, rs, d, "queue_full", detail);
		d->queue_full = 1;
		goto drop;
	}
	if (route->max_targets > 0 || s->conf.global_max_targets > 0) {
		/* Blast radius counts what the run reaches: one target per host of a list that
		 * allow_patterns let through. A pattern reaches an unknown number. */
		int unbounded = 0;
		if (srv_route_targets(route, alert, resolved, &reach, &unbounded, err, sizeof err) <
		    0) {
			refuse(s, rs, d, "template", err);
			goto drop;
		}
		if (unbounded) {
			snprintf(detail, sizeof detail,
			         "%s has max_targets and %s names a host pattern (or more than 256 "
			         "targets): the blast radius cannot count what it reaches",
			         route->max_targets > 0 ? "the route" : "the server", target);
			refuse(s, rs, d, "blast_radius", detail);
			goto drop;
		}
		nkeys = json_array_size(reach);
		keys = calloc(nkeys + 1, sizeof *keys);
		if (!keys) {
			refuse(s, rs, d, "internal", "out of memory");
			goto drop;
		}
		for (size_t i = 0; i < nkeys; i++) {
			char key[512];
			srv_alert_target_key(tname, json_string_value(json_array_get(reach, i)),
			                     key, sizeof key);
			json_array_set_new(reach, i, json_string(key));
			keys[i] = json_string_value(json_array_get(reach, i));
		}
	}
	if (!srv_targets_would_allow_keys(&rs->targets, keys, nkeys, now) ||
	    !srv_targets_would_allow_keys(&s->global_targets, keys, nkeys, now)) {
		int route_limit = !srv_targets_would_allow_keys(&rs->targets, keys, nkeys, now);
		snprintf(detail, sizeof detail,
		         "%s already acted on %d distinct targets in %.0f s: %s (%zu target%s) is "
		         "not started",
		         route_limit ? "the route" : "the server",
		         route_limit ? route->max_targets : s->conf.global_max_targets,
		         route_limit ? route->targets_window : s->conf.global_targets_window,
		         target, nkeys, nkeys == 1 ? "" : "s");
		refuse(s, rs, d, "blast_radius", detail);
		goto drop;
	}
	double retry_in = 0;
	if (!srv_rate_take(&rs->rate, now, &retry_in)) {
		snprintf(detail, sizeof detail,
		         "the route allows %d runs per %.0f s; the next may start in %.0f s",
		         route->rate_count, route->rate_window, retry_in);
		refuse(s, rs, d, "rate_limited", detail);
		goto drop;
	}
	for (size_t i = 0; i < nkeys; i++) {
		srv_targets_take(&rs->targets, keys[i], now, NULL);
		srv_targets_take(&s->global_targets, keys[i], now, NULL);
	}
	free(keys);
	json_decref(reach);
	keys = NULL;
	reach = NULL;
	struct srv_run *r = run_new(s, rs, alert, resolved, params, target, occ, tkey);
	params = NULL;
	target = NULL;
	if (!r) {
		refuse(s, rs, d, "internal", "out of memory");
		return;
	}
	if (t_received > 0)
		r->t_created = t_received;
	srv_dedup_start(s->dedup, occ, r->id, route->cooldown);
	srv_dedup_start(s->dedup, tkey, r->id, route->cooldown);
	table_add(s, r);
	q_push(s, r);
	d->run = r;
	char labels[512];
	label_route(labels, sizeof labels, rs);
	srv_metrics_add(s->metrics, "salve_runs_accepted_total", labels, 1);
	json_object_set_new(d->record, "decision", json_string("queued"));
	json_object_set_new(d->record, "run", json_string(r->id));
	json_object_set_new(d->record, "runbook", json_string(r->runbook));
	json_object_set(d->record, "params", r->params);
	if (r->dry_run)
		json_object_set_new(d->record, "dry_run", json_true());
	return;
drop:
	free(keys);
	json_decref(reach);
	json_decref(params);
	free(target);
}

static json_t *alert_record(const char *hook, const json_t *alert)
{
	json_t *rec = json_pack("{s:s, s:s, s:O, s:O, s:O, s:O}", "event", "alert", "hook", hook,
	                        "status", json_object_get(alert, "status"), "fingerprint",
	                        json_object_get(alert, "fingerprint"), "starts_at",
	                        json_object_get(alert, "startsAt"), "labels",
	                        json_object_get(alert, "labels"));
	json_t *ann = json_object_get(alert, "annotations");
	if (json_object_size(ann))
		json_object_set(rec, "annotations", ann);
	const char *receiver = json_string_value(json_object_get(alert, "receiver"));
	if (receiver && *receiver)
		json_object_set_new(rec, "receiver", json_string(receiver));
	return rec;
}

static int write_spool(struct srv_server *s, const struct srv_run *r)
{
	json_t *o =
	    json_pack("{s:s, s:s, s:b, s:b, s:s, s:O, s:O, s:s, s:s, s:s, s:s}", "id", r->id,
	              "route", r->rs->route->name, "resolved", r->resolved, "dry_run", r->dry_run,
	              "runbook", r->runbook, "params", r->params, "alert", r->alert, "target",
	              r->target ? r->target : "", "occurrence_key", r->occ_key, "target_key",
	              r->target_key, "created_at", r->created_at);
	char *json = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	/* Sealed: on a restart the entry alone decides runbook, params and dry_run. */
	char *text = json ? srv_state_seal(s->spool_key, json) : NULL;
	free(json);
	char path[4400], err[4600];
	spool_path(s, r->id, path, sizeof path);
	int rc = text
	             ? srv_state_write_atomic(path, text, strlen(text), s->durable, err, sizeof err)
	             : -1;
	if (rc < 0)
		srv_log(SALVE_LOG_ERROR,
		        "serve: cannot spool run %s (it stays queued in memory): %s", r->id,
		        text ? err : "out of memory");
	free(text);
	return rc;
}

struct srv_ingest {
	struct decision *ds;
	size_t nd;
	int failed;  /* an audit record or the sync failed: answer 500 */
	int spooled; /* runs were spooled: their directory is synced with the batch */
};

struct srv_ingest *srv_ingest_decide(struct srv_server *s, const char *hook, const json_t *alerts,
                                     double t_received)
{
	size_t n = json_array_size(alerts);
	size_t cap = n * (s->routes.n ? s->routes.n : 1) + 1, nd = 0;
	struct srv_ingest *in = calloc(1, sizeof *in);
	struct decision *ds = calloc(cap, sizeof *ds);
	if (!in || !ds) {
		free(in);
		free(ds);
		return NULL;
	}
	srv_check_pause(s);
	double now = salve_now();
	char labels[512];
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < n; i++) {
		const json_t *alert = json_array_get(alerts, i);
		const char *status = json_string_value(json_object_get(alert, "status"));
		int resolved = strcmp(status, "resolved") == 0;
		srv_metrics_labels(labels, sizeof labels, "hook", hook, "status", status, NULL);
		srv_metrics_add(s->metrics, "salve_alerts_received_total", labels, 1);
		const json_t *alabels = json_object_get(alert, "labels");
		int matched = 0;
		for (size_t k = 0; k < s->routes.n; k++) {
			struct srv_route_state *rs = &s->rs[k];
			if (!srv_route_match(rs->route, alabels, NULL, 0))
				continue;
			matched = 1;
			label_route(labels, sizeof labels, rs);
			srv_metrics_add(s->metrics, "salve_alerts_matched_total", labels, 1);
			struct decision *d = &ds[nd++];
			d->record = alert_record(hook, alert);
			json_object_set_new(d->record, "route", json_string(rs->route->name));
			if (resolved && rs->route->on_resolved == SRV_RESOLVED_IGNORE) {
				json_object_set_new(d->record, "decision", json_string("resolved"));
				json_object_set_new(d->record, "detail",
				                    json_string("on_resolved: ignore"));
			} else if (resolved && rs->route->on_resolved == SRV_RESOLVED_CANCEL) {
				on_resolved_cancel(s, rs, alert, d, now);
			} else {
				admit(s, rs, alert, resolved, d, now, t_received);
			}
			if (!rs->route->cont || nd == cap)
				break;
		}
		if (!matched && nd < cap) {
			srv_metrics_labels(labels, sizeof labels, "hook", hook, NULL);
			srv_metrics_add(s->metrics, "salve_alerts_unmatched_total", labels, 1);
			struct decision *d = &ds[nd++];
			d->record = alert_record(hook, alert);
			json_object_set_new(d->record, "decision", json_string("unmatched"));
			json_object_set_new(d->record, "detail", json_string("no route matches"));
		}
	}
	pthread_mutex_unlock(&s->mu);
	in->ds = ds;
	in->nd = nd;
	return in;
}

void srv_ingest_write(struct srv_server *s, struct srv_ingest *in, salve_audit *audit)
{
	/* Spool before the record of the decision, and release the runs only after both (in
	 * srv_ingest_finish): a run's own records never precede the alert that caused it. */
	for (size_t i = 0; i < in->nd; i++) {
		struct decision *d = &in->ds[i];
		if (d->run) {
			write_spool(s, d->run);
			in->spooled = 1;
		}
		/* The summary for the answer is built before the record goes. */
		d->summary = json_pack("{s:O, s:O*, s:O, s:O*, s:O*, s:O*}", "fingerprint",
		                       json_object_get(d->record, "fingerprint"), "route",
		                       json_object_get(d->record, "route"), "decision",
		                       json_object_get(d->record, "decision"), "reason",
		                       json_object_get(d->record, "reason"), "detail",
		                       json_object_get(d->record, "detail"), "run",
		                       json_object_get(d->record, "run"));
		in->failed |= audit_through(audit, d->record) < 0;
		d->record = NULL;
		if (d->extra) {
			in->failed |= audit_through(audit, d->extra) < 0;
			d->extra = NULL;
		}
	}
}

int srv_ingest_spooled(const struct srv_ingest *in)
{
	return in->spooled;
}

int srv_ingest_finish(struct srv_server *s, struct srv_ingest *in, int sync_failed, json_t **result)
{
	json_t *out_alerts = json_array(), *runs = json_array();
	int queue_full = 0;
	pthread_mutex_lock(&s->mu);
	int released = 0;
	for (size_t i = 0; i < in->nd; i++) {
		struct decision *d = &in->ds[i];
		json_array_append_new(out_alerts, d->summary);
		d->summary = NULL;
		queue_full |= d->queue_full;
		if (d->run) {
			json_array_append_new(runs, json_string(d->run->id));
			if (d->run->state == SRV_RUN_FINISHED) {
				/* Cancelled (API, resolved alert) while its batch was written:
				 * its spool file may have landed after the cancel removed it. */
				char path[4400];
				spool_path(s, d->run->id, path, sizeof path);
				unlink(path);
			}
			d->run->ready = 1;
			released++;
		}
	}
	if (released)
		pthread_cond_broadcast(&s->work_cv);
	pthread_mutex_unlock(&s->mu);
	int failed = in->failed || sync_failed;
	free(in->ds);
	free(in);
	*result = json_pack("{s:o, s:o}", "runs", runs, "alerts", out_alerts);
	if (failed) {
		/* A 5xx makes Alertmanager send it again; the retry is deduplicated and gets its
		 * own chance to be audited. */
		json_object_set_new(*result, "error",
		                    json_string("the audit log cannot be written (see the server's "
		                                "log)"));
		return 500;
	}
	if (queue_full)
		return 503;
	return json_array_size(runs) ? 202 : 200;
}

int srv_ingest(struct srv_server *s, const char *hook, const json_t *alerts, double t_received,
               json_t **result)
{
	struct srv_ingest *in = srv_ingest_decide(s, hook, alerts, t_received);
	if (!in) {
		*result = json_pack("{s:s}", "error", "out of memory");
		return 500;
	}
	srv_ingest_write(s, in, s->audit);
	return srv_ingest_finish(s, in, 0, result);
}

/* ---- engine hooks (run thread) ---------------------------------------------------------- */

static json_t *find_step(json_t *steps, const char *name)
{
	for (size_t i = json_array_size(steps); i > 0; i--) {
		json_t *st = json_array_get(steps, i - 1);
		if (strcmp(json_string_value(json_object_get(st, "name")), name) == 0)
			return st;
	}
	return NULL;
}

static void on_event(void *ctx, const json_t *ev)
{
	struct srv_run *r = ctx;
	struct srv_server *s = r->srv;
	const char *name = json_string_value(json_object_get(ev, "event"));
	const char *step = json_string_value(json_object_get(ev, "step"));
	if (!name)
		return;
	char ts[40], labels[512];
	if (strcmp(name, "run_start") == 0) {
		/* From here the audit log (and in apply mode the engine's journal) carries the
		 * run: a restart must not start it again. */
		char path[4400];
		spool_path(s, r->id, path, sizeof path);
		unlink(path);
	}
	pthread_mutex_lock(&s->mu);
	if (strcmp(name, "step_start") == 0 && step) {
		salve_timestamp(ts, sizeof ts);
		if (r->state != SRV_RUN_AWAITING_APPROVAL)
			r->state = SRV_RUN_RUNNING;
		r->t_step = salve_now();
		json_array_append_new(r->steps, json_pack("{s:s, s:O, s:s, s:s}", "name", step,
		                                          "index", json_object_get(ev, "index"),
		                                          "state", "running", "started_at", ts));
		if (r->t_first_step == 0) {
			r->t_first_step = salve_now();
			timestamp_us(r->first_step_at, sizeof r->first_step_at);
			label_route(labels, sizeof labels, r->rs);
			srv_metrics_observe(s->metrics, "salve_alert_to_first_step_seconds", labels,
			                    r->t_first_step - r->t_created);
		}
	} else if (strcmp(name, "step_end") == 0 && step) {
		json_t *st = find_step(r->steps, step);
		if (!st) {
			st = json_pack("{s:s}", "name", step);
			json_array_append_new(r->steps, st);
		}
		const char *outcome = json_string_value(json_object_get(ev, "outcome"));
		json_object_set_new(st, "state", json_string(outcome ? outcome : "?"));
		static const char *const copy[] = {"error", "note", NULL};
		for (size_t i = 0; copy[i]; i++)
			if (json_object_get(ev, copy[i]))
				json_object_set(st, copy[i], json_object_get(ev, copy[i]));
		/* Timed here from step_start: the step_end event is sent before the engine
		 * knows the step's duration. */
		if (outcome && strcmp(outcome, "skipped") != 0 && r->t_step > 0) {
			double secs = salve_now() - r->t_step;
			json_object_set_new(st, "duration_ms", json_real(secs * 1000.0));
			srv_metrics_labels(labels, sizeof labels, "runbook", runbook_label(r),
			                   NULL);
			srv_metrics_observe(s->metrics, "salve_step_duration_seconds", labels,
			                    secs);
		}
		r->t_step = 0;
	} else if (strcmp(name, "approval") == 0 && step) {
		json_t *st = find_step(r->steps, step);
		if (st)
			json_object_set_new(st, "approval",
			                    json_pack("{s:O?, s:O?}", "outcome",
			                              json_object_get(ev, "outcome"), "reason",
			                              json_object_get(ev, "reason")));
	}
	pthread_mutex_unlock(&s->mu);
}

/* Tells people a run waits for them, through the notify plugin's send action (notify =
 * "slack:#oncall" in the step's approve table). A failure is audited and the wait goes on:
 * the run stays visible in GET /runs?state=awaiting_approval. */
static void notify_approval(struct srv_server *s, struct srv_run *r, const char *step,
                            const char *to, double timeout)
{
	enum salve_registry_error why;
	char err[2048] = "", text[1024], summary[256], trigger[128];
	salve_loaded_plugin *p = salve_registry_get(s->reg, "notify", 1, &why, err, sizeof err);
	const salve_action *a = p ? salve_plugin_action(p, "send") : NULL;
	const char *alertname =
	    json_string_value(json_object_get(json_object_get(r->alert, "labels"), "alertname"));
	const char *fp = json_string_value(json_object_get(r->alert, "fingerprint"));
	json_t *result = NULL;
	int rc = -1;
	snprintf(summary, sizeof summary, "salve: run %.12s waits for approval of step %s", r->id,
	         step);
	snprintf(text, sizeof text,
	         "Run %s of runbook %s (route %s, alert %s, fingerprint %s) waits for approval of "
	         "step \"%s\". Approve: POST /runs/%s/approve; deny: POST /runs/%s/deny. With no "
	         "decision within %.0f s it is rolled back.",
	         r->id, r->runbook_name ? r->runbook_name : r->runbook, r->rs->route->name,
	         alertname ? alertname : "-", fp, step, r->id, r->id, timeout);
	snprintf(trigger, sizeof trigger, "alert:%s", fp);
	if (p && !a)
		snprintf(err, sizeof err, "plugin notify has no send action");
	if (a && a->kind == SALVE_NOTIFY && a->run) {
		json_t *args =
		    json_pack("{s:s, s:s, s:s}", "to", to, "text", text, "summary", summary);
		if (salve_args_validate(a->args, args, err, sizeof err) == 0) {
			salve_run_info info;
			memset(&info, 0, sizeof info);
			info.run_id = r->id;
			info.runbook = r->runbook_name;
			info.trigger = trigger;
			info.fingerprint = fp;
			info.mode = SALVE_MODE_APPLY;
			info.audit = s->audit;
			info.outcome = "awaiting_approval";
			info.target = r->target;
			struct salve_call call;
			memset(&call, 0, sizeof call);
			call.run = &info;
			call.plugin = p;
			call.action = a;
			call.step = step;
			call.deadline = salve_now() + 30;
			rc = a->run(&call, args, &result);
			if (rc < 0)
				salve_redact_string(call.error[0] ? call.error : "send failed", err,
				                    sizeof err);
		}
		json_decref(args);
	}
	json_decref(result);
	json_t *rec =
	    json_pack("{s:s, s:s, s:s, s:s, s:s}", "event", "approval_notified", "run", r->id,
	              "step", step, "to", to, "outcome", rc < 0 ? "failed" : "sent");
	if (rc < 0)
		json_object_set_new(rec, "error", json_string(err));
	srv_audit(s, rec);
	if (rc < 0)
		srv_log(SALVE_LOG_WARN, "serve: run %s: approval notice to %s failed: %s", r->id,
		        to, err);
}

static int approve_hook(void *ctx, const char *run_id, const char *step, const json_t *spec,
                        char *why, size_t whylen)
{
	struct srv_run *r = ctx;
	struct srv_server *s = r->srv;
	(void)run_id;
	double timeout = s->conf.approval_timeout;
	json_t *t = json_object_get(spec, "timeout");
	double given = 0;
	/* The runbook's own text: nan, inf or a hex number fall back to approval_timeout. */
	if (json_is_number(t))
		given = json_number_value(t);
	else if (json_is_string(t) && srv_parse_duration(json_string_value(t), &given) < 0)
		given = 0;
	if (isfinite(given) && given > 0 && given <= 3650.0 * 86400)
		timeout = given;
	const char *notify = json_string_value(json_object_get(spec, "notify"));

	pthread_mutex_lock(&s->mu);
	r->approval = SRV_APPROVAL_PENDING;
	snprintf(r->approval_step, sizeof r->approval_step, "%s", step);
	r->approval_deadline = salve_now() + timeout;
	{
		struct timespec wall;
		clock_gettime(CLOCK_REALTIME, &wall);
		time_t until = wall.tv_sec + (time_t)timeout;
		struct tm tm;
		gmtime_r(&until, &tm);
		strftime(r->approval_deadline_at, sizeof r->approval_deadline_at,
		         "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	r->state = SRV_RUN_AWAITING_APPROVAL;
	json_t *st = find_step(r->steps, step);
	if (st)
		json_object_set_new(st, "state", json_string("awaiting_approval"));
	s->awaiting++;
	if (s->stopping)
		r->approval = SRV_APPROVAL_CANCELLED;
	int pending = r->approval == SRV_APPROVAL_PENDING;
	pthread_mutex_unlock(&s->mu);

	srv_audit(s, json_pack("{s:s, s:s, s:s, s:s, s:f, s:s, s:s?}", "event", "approval_waiting",
	                       "run", r->id, "step", step, "route", r->rs->route->name, "timeout_s",
	                       timeout, "deadline", r->approval_deadline_at, "notify", notify));
	if (notify && pending)
		notify_approval(s, r, step, notify, timeout);

	pthread_mutex_lock(&s->mu);
	while (r->approval == SRV_APPROVAL_PENDING) {
		double left = r->approval_deadline - salve_now();
		if (left <= 0) {
			r->approval = SRV_APPROVAL_TIMEOUT;
			break;
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		double wake = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + left;
		ts.tv_sec = (time_t)wake;
		ts.tv_nsec = (long)((wake - (double)ts.tv_sec) * 1e9);
		pthread_cond_timedwait(&r->cv, &s->mu, &ts);
	}
	enum srv_approval_state decision = r->approval;
	switch (decision) {
	case SRV_APPROVAL_APPROVED:
		snprintf(why, whylen, "approved by %s%s%s",
		         r->approval_by ? r->approval_by : "an approver",
		         r->approval_comment ? ": " : "",
		         r->approval_comment ? r->approval_comment : "");
		break;
	case SRV_APPROVAL_DENIED:
		snprintf(why, whylen, "denied by %s%s%s",
		         r->approval_by ? r->approval_by : "an approver",
		         r->approval_comment ? ": " : "",
		         r->approval_comment ? r->approval_comment : "");
		break;
	case SRV_APPROVAL_TIMEOUT:
		snprintf(why, whylen, "no decision within %.0f s (approval timed out)", timeout);
		break;
	default:
		snprintf(why, whylen, "cancelled: %s",
		         r->cancel_reason ? r->cancel_reason : "the server is shutting down");
	}
	r->state = SRV_RUN_RUNNING;
	s->awaiting--;
	pthread_mutex_unlock(&s->mu);
	return decision == SRV_APPROVAL_APPROVED;
}

/* ---- workers ----------------------------------------------------------------------------- */

static int counts_as_failure(const struct srv_run *r)
{
	if (!r->outcome || strcmp(r->outcome, "success") == 0 ||
	    strcmp(r->outcome, "cancelled") == 0)
		return 0;
	/* A person said no, nobody answered, the alert resolved or the server stopped: none of
	 * these says the runbook is broken. */
	if (r->approval == SRV_APPROVAL_DENIED || r->approval == SRV_APPROVAL_TIMEOUT ||
	    r->approval == SRV_APPROVAL_CANCELLED || r->cancel)
		return 0;
	return 1;
}

static void finish(struct srv_server *s, struct srv_run *r, const char *outcome, int code,
                   const char *error, json_t *summary)
{
	json_t *circuit = NULL;
	char labels[512], path[4400];
	spool_path(s, r->id, path, sizeof path);
	unlink(path); /* a run that never reached run_start */
	pthread_mutex_lock(&s->mu);
	r->state = SRV_RUN_FINISHED;
	r->outcome = outcome;
	r->exit_code = code;
	if (error && !r->error)
		r->error = salve_redact_dup(error);
	salve_timestamp(r->ended_at, sizeof r->ended_at);
	json_t *ssteps = json_object_get(summary, "steps");
	if (json_is_array(ssteps)) {
		/* The engine's record is authoritative (rollback outcomes included); keep when
		 * each step started and what its approval said. */
		json_t *merged = json_deep_copy(ssteps);
		size_t i;
		json_t *st;
		json_array_foreach(merged, i, st)
		{
			json_t *live =
			    find_step(r->steps, json_string_value(json_object_get(st, "name")));
			if (live) {
				static const char *const keep[] = {"started_at", "approval", NULL};
				for (size_t k = 0; keep[k]; k++)
					if (json_object_get(live, keep[k]))
						json_object_set(st, keep[k],
						                json_object_get(live, keep[k]));
			}
			json_object_set(st, "state", json_object_get(st, "outcome"));
		}
		json_decref(r->steps);
		r->steps = merged;
	}
	struct srv_route_state *rs = r->rs;
	rs->active--;
	s->active--;
	double now = salve_now();
	srv_dedup_end(s->dedup, r->occ_key, r->id, now);
	srv_dedup_end(s->dedup, r->target_key, r->id, now);
	srv_metrics_labels(labels, sizeof labels, "route", rs->route->name, "runbook",
	                   runbook_label(r), "outcome", outcome, NULL);
	srv_metrics_add(s->metrics, "salve_runs_total", labels, 1);
	if (strcmp(outcome, "success") == 0) {
		rs->failures = 0;
	} else if (counts_as_failure(r)) {
		rs->failures++;
		if (rs->route->breaker > 0 && rs->failures >= rs->route->breaker && !rs->open) {
			rs->open = 1;
			char reason[512];
			snprintf(reason, sizeof reason, "last failed run %s: %s", r->id,
			         r->error ? r->error : outcome);
			rs->open_reason = strdup(reason);
			circuit = json_pack("{s:s, s:s, s:i, s:s, s:s}", "event", "circuit_open",
			                    "route", rs->route->name, "failures", rs->failures,
			                    "last_run", r->id, "reason", reason);
		}
	}
	pthread_cond_broadcast(&s->work_cv);
	pthread_mutex_unlock(&s->mu);
	srv_log(strcmp(outcome, "success") == 0 ? SALVE_LOG_INFO : SALVE_LOG_WARN,
	        "serve: run %s: %s (exit %d)%s%s", r->id, outcome, code, error ? ": " : "",
	        error ? error : "");
	if (circuit) {
		char err[4600], ts[40];
		salve_timestamp(ts, sizeof ts);
		json_t *file = json_deep_copy(circuit);
		json_object_set_new(file, "opened_at", json_string(ts));
		char *text = json_dumps(file, JSON_COMPACT);
		json_decref(file);
		snprintf(path, sizeof path, "%s/%s.open", s->circuit_dir, rs->route->name);
		if (!text || srv_state_write_atomic(path, text, strlen(text), s->durable, err,
		                                    sizeof err) < 0)
			srv_log(SALVE_LOG_ERROR, "serve: circuit of route %s: %s", rs->route->name,
			        text ? err : "out of memory");
		free(text);
		srv_log(SALVE_LOG_WARN,
		        "serve: route %s disabled after %d failed runs in a row (salve routes "
		        "reset %s)",
		        rs->route->name, rs->route->breaker, rs->route->name);
		srv_audit(s, circuit);
	}
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
	char trigger[128];
	snprintf(trigger, sizeof trigger, "alert:%s",
	         json_string_value(json_object_get(r->alert, "fingerprint")));
	srv_audit(s, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "event", "run_error", "run",
	                       r->id, "route", r->rs->route->name, "runbook", r->runbook, "trigger",
	                       trigger, "error", msg, "exit_code", code));
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

static void execute(struct srv_server *s, struct srv_run *r, struct srv_worker *w)
{
	char err[4096];
	int code = 0;
	/* The top level runs under the shutdown flag too: SIGTERM stops a slow one. */
	const salve_load_options load = {.deadline = 0, .cancel = &r->cancel};
	salve_runbook *rb =
	    salve_runbook_load_with(r->runbook, s->reg, &load, &code, err, sizeof err);
	json_t *params = NULL, *summary = NULL;
	salve_lock *lock = NULL;
	if (!rb) {
		fail_early(s, r, code, "%s", err);
		return;
	}
	pthread_mutex_lock(&s->mu);
	r->runbook_name = strdup(rb->name);
	pthread_mutex_unlock(&s->mu);
	if (salve_runbook_params(rb, r->params, &params, err, sizeof err) < 0) {
		fail_early(s, r, SALVE_EXIT_USAGE, "params for %s: %s", rb->name, err);
		goto out;
	}
	size_t pi;
	json_t *pn;
	json_array_foreach(rb->plugins, pi, pn)
	{
		enum salve_registry_error why;
		if (!salve_registry_get(s->reg, json_string_value(pn), 1, &why, err, sizeof err)) {
			fail_early(s, r, SALVE_EXIT_UNAVAILABLE, "%s", err);
			goto out;
		}
	}
	if (rb->lock && !r->dry_run) {
		char key[1024];
		if (salve_lock_key(rb->lock, params, key, sizeof key, err, sizeof err) < 0) {
			fail_early(s, r, SALVE_EXIT_USAGE, "%s", err);
			goto out;
		}
		double until = salve_now() + s->conf.lock_timeout;
		for (int waited = 0;; waited = 1) {
			enum salve_lock_result lr = salve_lock_acquire(s->state_dir, key, r->id, 0,
			                                               0, &lock, err, sizeof err);
			if (lr == SALVE_LOCK_ACQUIRED)
				break;
			if (lr == SALVE_LOCK_ERROR) {
				fail_early(s, r, SALVE_EXIT_CANTCREAT, "%s", err);
				goto out;
			}
			if (r->cancel || salve_now() >= until) {
				fail_early(s, r, SALVE_EXIT_TEMPFAIL, "%s%s", err,
				           r->cancel ? ": the server is shutting down"
				                     : ": lock_timeout passed");
				goto out;
			}
			if (!waited)
				set_state(s, r, SRV_RUN_WAITING_LOCK);
			usleep(100000);
		}
	}
	set_state(s, r, SRV_RUN_RUNNING);
	set_phase(s, w, "running");
	srv_log(SALVE_LOG_INFO, "serve: run %s: %s%s for route %s, alert %s", r->id, rb->name,
	        r->dry_run ? " (dry-run)" : "", r->rs->route->name,
	        json_string_value(json_object_get(r->alert, "fingerprint")));
	char trigger[128];
	snprintf(trigger, sizeof trigger, "alert:%s",
	         json_string_value(json_object_get(r->alert, "fingerprint")));
	salve_run_options o;
	memset(&o, 0, sizeof o);
	o.mode = r->dry_run ? SALVE_MODE_DRY_RUN : SALVE_MODE_APPLY;
	o.trigger = trigger;
	o.fingerprint = json_string_value(json_object_get(r->alert, "fingerprint"));
	o.run_id = r->id;
	o.step_timeout = s->cfg->step_timeout;
	o.run_timeout = s->cfg->run_timeout;
	o.params = params;
	o.audit = s->audit;
	o.state_dir = s->state_dir;
	o.out = NULL;
	o.cancel = &r->cancel;
	o.on_event = on_event;
	o.approve = approve_hook;
	o.ctx = r;
	code = salve_engine_run(rb, &o, &summary);
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
out:
	set_phase(s, w, "closing the runbook's Lua state (the run had ended)");
	salve_lock_release(lock);
	json_decref(summary);
	json_decref(params);
	salve_runbook_free(rb);
}

static struct srv_run *pick(struct srv_server *s)
{
	for (struct srv_run *r = s->qhead; r; r = r->qnext) {
		int limit = r->rs->route->max_concurrent;
		if (r->ready && (limit == 0 || r->rs->active < limit))
			return r;
	}
	return NULL;
}

static void *worker_main(void *arg)
{
	struct srv_worker *w = arg;
	struct srv_server *s = w->srv;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		struct srv_run *r = NULL;
		while (!s->stopping && (s->paused || !(r = pick(s)))) {
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
		q_remove(s, r);
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

/* ---- start, stop, spool recovery ---------------------------------------------------------- */

static void declare_metrics(srv_metrics *m)
{
	srv_metrics_declare(m, "salve_alerts_received_total", SRV_COUNTER,
	                    "Alerts received, by hook and alert status.", NULL, 0);
	srv_metrics_declare(m, "salve_alerts_matched_total", SRV_COUNTER, "Alerts a route matched.",
	                    NULL, 0);
	srv_metrics_declare(m, "salve_alerts_unmatched_total", SRV_COUNTER,
	                    "Alerts no route matched (answered 200, audited).", NULL, 0);
	srv_metrics_declare(m, "salve_alerts_deduplicated_total", SRV_COUNTER,
	                    "Alerts that did not start a run because one is active or cooling "
	                    "down for the same alert or target.",
	                    NULL, 0);
	srv_metrics_declare(m, "salve_alerts_refused_total", SRV_COUNTER,
	                    "Alerts a guardrail refused, by route and reason.", NULL, 0);
	srv_metrics_declare(m, "salve_runs_accepted_total", SRV_COUNTER, "Runs queued, by route.",
	                    NULL, 0);
	srv_metrics_declare(m, "salve_runs_total", SRV_COUNTER,
	                    "Runs finished, by route, runbook and outcome.", NULL, 0);
	srv_metrics_declare(m, "salve_step_duration_seconds", SRV_HISTOGRAM,
	                    "Duration of steps that ran (not skipped), by runbook.", step_bounds,
	                    sizeof step_bounds / sizeof step_bounds[0]);
	srv_metrics_declare(m, "salve_alert_to_first_step_seconds", SRV_HISTOGRAM,
	                    "From the webhook request to the start of the run's first step.",
	                    latency_bounds, sizeof latency_bounds / sizeof latency_bounds[0]);
	srv_metrics_declare(m, "salve_queue_depth", SRV_GAUGE,
	                    "Runs accepted and waiting for a worker.", NULL, 0);
	srv_metrics_declare(m, "salve_queue_capacity", SRV_GAUGE,
	                    "Runs the queue holds before the hooks answer 503.", NULL, 0);
	srv_metrics_declare(m, "salve_runs_active", SRV_GAUGE, "Runs started and not finished.",
	                    NULL, 0);
	srv_metrics_declare(m, "salve_runs_awaiting_approval", SRV_GAUGE,
	                    "Runs waiting for POST /runs/ID/approve or deny.", NULL, 0);
	srv_metrics_declare(m, "salve_route_circuit_open", SRV_GAUGE,
	                    "1 when the route's circuit breaker is open (route disabled).", NULL,
	                    0);
	srv_metrics_declare(m, "salve_route_consecutive_failures", SRV_GAUGE,
	                    "Failed runs in a row, by route.", NULL, 0);
	srv_metrics_declare(m, "salve_paused", SRV_GAUGE,
	                    "1 while salve serve is paused (salve pause).", NULL, 0);
	srv_metrics_declare(m, "salve_http_requests_total", SRV_COUNTER,
	                    "HTTP requests, by handler and status code.", NULL, 0);
	srv_metrics_declare(m, "salve_http_connections", SRV_GAUGE,
	                    "Open HTTP connections (libmicrohttpd closes those over "
	                    "max_connections_per_ip before they count).",
	                    NULL, 0);
	srv_metrics_declare(m, "salve_http_request_timeouts_total", SRV_COUNTER,
	                    "Connections closed because a request did not arrive whole within "
	                    "server.request_timeout.",
	                    NULL, 0);
}

/* A spool entry that is not what salve wrote: never run, audited, renamed FILE.refused so
 * it is not read again and a person can look at it. */
static void refuse_spooled(struct srv_server *s, const char *path, const char *name,
                           const char *why)
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

static void requeue_spool(struct srv_server *s)
{
	DIR *d = opendir(s->spool_dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
			continue;
		char path[4700], err[1024], stem[256];
		snprintf(path, sizeof path, "%s/%s", s->spool_dir, e->d_name);
		snprintf(stem, sizeof stem, "%.*s", (int)(len - 5), e->d_name);
		size_t n = 0;
		size_t max = s->conf.max_body * 4 + (1 << 20);
		char *text = srv_state_read_file(path, max, &n, err, sizeof err);
		if (!text) {
			refuse_spooled(s, path, e->d_name, err);
			continue;
		}
		const char *json = srv_state_unseal(s->spool_key, text, n, err, sizeof err);
		json_error_t jerr;
		json_t *o = json ? json_loads(json, 0, &jerr) : NULL;
		free(text);
		if (!o) {
			refuse_spooled(s, path, e->d_name, json ? jerr.text : err);
			continue;
		}
		const char *route = json_string_value(json_object_get(o, "route"));
		const char *id = json_string_value(json_object_get(o, "id"));
		if (!id || !valid_run_id(id) || strcmp(id, stem) != 0) {
			refuse_spooled(s, path, e->d_name,
			               "its run id does not match its file name");
			json_decref(o);
			continue;
		}
		struct srv_route_state *rs = NULL;
		for (size_t i = 0; route && i < s->routes.n; i++)
			if (strcmp(s->routes.v[i].name, route) == 0)
				rs = &s->rs[i];
		if (!rs || !json_is_object(json_object_get(o, "alert"))) {
			srv_log(SALVE_LOG_WARN,
			        "serve: spooled run %s: %s; left in place for a person to look at",
			        path, !rs ? "its route no longer exists" : "not a spooled run");
			json_decref(o);
			continue;
		}
		int resolved = json_is_true(json_object_get(o, "resolved"));
		const char *runbook = json_string_value(json_object_get(o, "runbook"));
		const char *occ = json_string_value(json_object_get(o, "occurrence_key"));
		const char *tkey = json_string_value(json_object_get(o, "target_key"));
		const char *target = json_string_value(json_object_get(o, "target"));
		json_t *alert = json_object_get(o, "alert");
		json_t *params = json_object_get(o, "params");
		if (!runbook || !occ || !tkey || !json_is_object(params)) {
			srv_log(SALVE_LOG_WARN,
			        "serve: spooled run %s is incomplete; left in place for a person "
			        "to look at",
			        path);
			json_decref(o);
			continue;
		}
		struct srv_run *r = run_new(s, rs, alert, resolved, json_incref(params),
		                            strdup(target ? target : ""), occ, tkey);
		if (!r) {
			json_decref(o);
			continue;
		}
		snprintf(r->id, sizeof r->id, "%s", id);
		free(r->runbook);
		r->runbook = strdup(runbook);
		r->dry_run = json_is_true(json_object_get(o, "dry_run"));
		snprintf(r->created_at, sizeof r->created_at, "%s",
		         json_string_value(json_object_get(o, "created_at"))
		             ? json_string_value(json_object_get(o, "created_at"))
		             : "");
		r->ready = 1;
		pthread_mutex_lock(&s->mu);
		srv_dedup_start(s->dedup, occ, r->id, rs->route->cooldown);
		srv_dedup_start(s->dedup, tkey, r->id, rs->route->cooldown);
		table_add(s, r);
		q_push(s, r);
		pthread_mutex_unlock(&s->mu);
		srv_audit(s, json_pack("{s:s, s:s, s:s, s:s, s:b}", "event", "run_requeued", "run",
		                       r->id, "route", rs->route->name, "reason",
		                       "accepted before a restart and not started", "dry_run",
		                       r->dry_run));
		json_decref(o);
	}
	closedir(d);
}

int srv_runs_start(struct srv_server *s, char *err, size_t errlen)
{
	if (srv_state_paths(s->state_dir, s->serve_dir, sizeof s->serve_dir, err, errlen) < 0 ||
	    srv_state_spool_key(s->serve_dir, s->spool_key, err, errlen) < 0)
		return -1;
	snprintf(s->spool_dir, sizeof s->spool_dir, "%s/queue", s->serve_dir);
	snprintf(s->circuit_dir, sizeof s->circuit_dir, "%s/circuits", s->serve_dir);
	snprintf(s->pause_path, sizeof s->pause_path, "%s/paused", s->serve_dir);
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->work_cv, &ca);
	pthread_condattr_destroy(&ca);
	s->by_id = srv_strmap_new();
	s->dedup = srv_dedup_new();
	s->metrics = srv_metrics_new();
	s->rs = calloc(s->routes.n + 1, sizeof *s->rs);
	if (!s->by_id || !s->dedup || !s->metrics || !s->rs) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	declare_metrics(s->metrics);
	srv_metrics_add(s->metrics, "salve_http_request_timeouts_total", "", 0);
	srv_targets_init(&s->global_targets, s->conf.global_max_targets,
	                 s->conf.global_targets_window);
	for (size_t i = 0; i < s->routes.n; i++) {
		struct srv_route_state *rs = &s->rs[i];
		rs->route = &s->routes.v[i];
		srv_rate_init(&rs->rate, rs->route->rate_count, rs->route->rate_window);
		srv_targets_init(&rs->targets, rs->route->max_targets, rs->route->targets_window);
		char why[1024];
		int circuit = circuit_state(s, rs->route->name, why, sizeof why);
		if (circuit != 0) {
			rs->open = 1;
			rs->failures = rs->route->breaker;
			rs->open_reason =
			    strdup(circuit > 0 ? "opened before this server started" : why);
			srv_log(SALVE_LOG_WARN,
			        "serve: route %s starts disabled: its circuit is open%s%s (salve "
			        "routes reset %s)",
			        rs->route->name, circuit > 0 ? "" : ": ", circuit > 0 ? "" : why,
			        rs->route->name);
		}
		char labels[512];
		label_route(labels, sizeof labels, rs);
		srv_metrics_add(s->metrics, "salve_alerts_matched_total", labels, 0);
	}
	srv_check_pause(s);
	requeue_spool(s);
	s->slots = calloc((size_t)s->conf.workers, sizeof *s->slots);
	if (!s->slots) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int i = 0; i < s->conf.workers; i++) {
		s->slots[i].srv = s;
		if (pthread_create(&s->slots[i].thread, NULL, worker_main, &s->slots[i]) != 0) {
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
		struct srv_worker *w = &s->slots[i];
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

int srv_runs_stop(struct srv_server *s, json_t **abandoned)
{
	if (abandoned)
		*abandoned = NULL;
	if (!s->by_id)
		return 0;
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	for (struct srv_run *r = s->oldest; r; r = r->newer) {
		if (r->state == SRV_RUN_FINISHED || r->state == SRV_RUN_QUEUED)
			continue;
		r->cancel = SIGTERM;
		if (r->approval == SRV_APPROVAL_PENDING) {
			r->approval = SRV_APPROVAL_CANCELLED;
			free(r->cancel_reason);
			r->cancel_reason = strdup("the server is shutting down");
			pthread_cond_signal(&r->cv);
		}
	}
	pthread_cond_broadcast(&s->work_cv);
	pthread_mutex_unlock(&s->mu);
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
		size_t i;
		json_t *a;
		json_array_foreach(left, i, a)
		{
			const char *run = json_string_value(json_object_get(a, "run"));
			const char *phase = json_string_value(json_object_get(a, "phase"));
			srv_log(
			    SALVE_LOG_ERROR,
			    "serve: run %s (runbook %s, route %s) did not stop within "
			    "shutdown_grace (%.0f s) while %s: abandoned; its journal stays for "
			    "salve recover",
			    run, json_string_value(json_object_get(a, "runbook")),
			    json_string_value(json_object_get(a, "route")), grace, phase);
			json_t *rec = json_deep_copy(a);
			json_object_set_new(rec, "event", json_string("run_abandoned"));
			json_object_set_new(rec, "grace_s", json_real(grace));
			srv_audit(s, rec);
		}
		if (abandoned)
			*abandoned = left;
		else
			json_decref(left);
		return (int)n;
	}
	json_decref(left);
	free(s->slots);
	s->slots = NULL;
	s->nworkers = 0;
	struct srv_run *r = s->oldest;
	while (r) {
		struct srv_run *next = r->newer;
		run_free(r);
		r = next;
	}
	s->oldest = s->newest = s->qhead = s->qtail = NULL;
	srv_strmap_free(s->by_id);
	s->by_id = NULL;
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
	return 0;
}

/* ---- pause, ticks, metrics ---------------------------------------------------------------- */

void srv_check_pause(struct srv_server *s)
{
	/* Anything at the pause path that is not a pause file of ours pauses too: when in
	 * doubt, start nothing. */
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

void srv_tick(struct srv_server *s)
{
	srv_check_pause(s);
	pthread_mutex_lock(&s->mu);
	srv_dedup_expire(s->dedup, salve_now());
	pthread_mutex_unlock(&s->mu);
}

char *srv_metrics_text(struct srv_server *s)
{
	char labels[512];
	pthread_mutex_lock(&s->mu);
	srv_metrics_set(s->metrics, "salve_queue_depth", "", (double)s->queued);
	srv_metrics_set(s->metrics, "salve_queue_capacity", "", s->conf.queue_size);
	srv_metrics_set(s->metrics, "salve_runs_active", "", (double)s->active);
	srv_metrics_set(s->metrics, "salve_runs_awaiting_approval", "", (double)s->awaiting);
	srv_metrics_set(s->metrics, "salve_paused", "", s->paused);
	if (s->mhd) {
		pthread_mutex_lock(&s->conn_mu);
		srv_metrics_set(s->metrics, "salve_http_connections", "", s->nconns);
		pthread_mutex_unlock(&s->conn_mu);
	}
	for (size_t i = 0; i < s->routes.n; i++) {
		label_route(labels, sizeof labels, &s->rs[i]);
		srv_metrics_set(s->metrics, "salve_route_circuit_open", labels, s->rs[i].open);
		srv_metrics_set(s->metrics, "salve_route_consecutive_failures", labels,
		                s->rs[i].failures);
	}
	char *text = srv_metrics_render(s->metrics);
	pthread_mutex_unlock(&s->mu);
	return text;
}

void srv_count_timeouts(struct srv_server *s, int n)
{
	pthread_mutex_lock(&s->mu);
	srv_metrics_add(s->metrics, "salve_http_request_timeouts_total", "", n);
	pthread_mutex_unlock(&s->mu);
}

void srv_count_request(struct srv_server *s, const char *handler, unsigned status)
{
	char labels[256], code[16];
	snprintf(code, sizeof code, "%u", status);
	srv_metrics_labels(labels, sizeof labels, "handler", handler, "code", code, NULL);
	pthread_mutex_lock(&s->mu);
	srv_metrics_add(s->metrics, "salve_http_requests_total", labels, 1);
	pthread_mutex_unlock(&s->mu);
}

/* ---- the status API ----------------------------------------------------------------------- */

static json_t *run_brief(const struct srv_run *r)
{
	json_t *o = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:s?, s:b, s:b, s:s, s:s?, s:s?}", "id", r->id, "route",
	    r->rs->route->name, "runbook", r->runbook_name ? r->runbook_name : r->runbook, "state",
	    state_name(r->state), "fingerprint",
	    json_string_value(json_object_get(r->alert, "fingerprint")), "outcome", r->outcome,
	    "dry_run", r->dry_run, "resolved", r->resolved, "created_at", r->created_at,
	    "started_at", r->started_at[0] ? r->started_at : NULL, "ended_at",
	    r->ended_at[0] ? r->ended_at : NULL);
	if (r->state == SRV_RUN_AWAITING_APPROVAL)
		json_object_set_new(o, "awaiting_step", json_string(r->approval_step));
	return o;
}

int srv_runs_list(struct srv_server *s, const char *state, const char *route, int limit,
                  json_t **out)
{
	json_t *list = json_array();
	pthread_mutex_lock(&s->mu);
	for (struct srv_run *r = s->newest; r && (limit <= 0 || (int)json_array_size(list) < limit);
	     r = r->older) {
		if (state && strcmp(state, state_name(r->state)) != 0)
			continue;
		if (route && strcmp(route, r->rs->route->name) != 0)
			continue;
		json_array_append_new(list, run_brief(r));
	}
	json_t *o = json_pack("{s:o, s:I, s:I, s:I, s:b}", "runs", list, "queued",
	                      (json_int_t)s->queued, "active", (json_int_t)s->active,
	                      "awaiting_approval", (json_int_t)s->awaiting, "paused", s->paused);
	pthread_mutex_unlock(&s->mu);
	*out = o;
	return 200;
}

int srv_run_get(struct srv_server *s, const char *id, json_t **out)
{
	pthread_mutex_lock(&s->mu);
	struct srv_run *r = srv_strmap_get(s->by_id, id);
	if (!r) {
		pthread_mutex_unlock(&s->mu);
		*out = json_pack("{s:s}", "error",
		                 "no such run (finished runs are kept up to "
		                 "server.history; the audit log has them all)");
		return 404;
	}
	json_t *o = run_brief(r);
	json_object_set_new(o, "runbook_source", json_string(r->runbook));
	json_object_set(o, "params", r->params);
	json_object_set_new(o, "alert",
	                    json_pack("{s:O, s:O, s:O, s:O, s:O}", "status",
	                              json_object_get(r->alert, "status"), "labels",
	                              json_object_get(r->alert, "labels"), "annotations",
	                              json_object_get(r->alert, "annotations"), "startsAt",
	                              json_object_get(r->alert, "startsAt"), "fingerprint",
	                              json_object_get(r->alert, "fingerprint")));
	json_object_set_new(o, "target", json_string(r->target ? r->target : ""));
	json_object_set_new(o, "steps", json_deep_copy(r->steps));
	if (r->state == SRV_RUN_FINISHED && r->outcome && strcmp(r->outcome, "cancelled") != 0)
		json_object_set_new(o, "exit_code", json_integer(r->exit_code));
	if (r->error)
		json_object_set_new(o, "error", json_string(r->error));
	if (r->cancel_reason)
		json_object_set_new(o, "cancel_reason", json_string(r->cancel_reason));
	if (r->first_step_at[0]) {
		json_object_set_new(o, "first_step_at", json_string(r->first_step_at));
		json_object_set_new(o, "alert_to_first_step_ms",
		                    json_real((r->t_first_step - r->t_created) * 1000.0));
	}
	if (r->approval != SRV_APPROVAL_NONE) {
		json_t *a =
		    json_pack("{s:s, s:s, s:s}", "step", r->approval_step, "state",
		              approval_name(r->approval), "deadline", r->approval_deadline_at);
		if (r->approval_by)
			json_object_set_new(a, "by", json_string(r->approval_by));
		if (r->approval_comment)
			json_object_set_new(a, "comment", json_string(r->approval_comment));
		json_object_set_new(o, "approval", a);
	}
	pthread_mutex_unlock(&s->mu);
	*out = o;
	return 200;
}

int srv_run_decide(struct srv_server *s, const char *id, const char *decision, const json_t *body,
                   json_t **out)
{
	const char *by = json_string_value(json_object_get(body, "by"));
	const char *comment = json_string_value(json_object_get(body, "comment"));
	const char *step = json_string_value(json_object_get(body, "step"));
	json_t *extra = NULL;
	char msg[512];
	pthread_mutex_lock(&s->mu);
	struct srv_run *r = srv_strmap_get(s->by_id, id);
	if (!r) {
		pthread_mutex_unlock(&s->mu);
		*out = json_pack("{s:s}", "error", "no such run");
		return 404;
	}
	if (strcmp(decision, "cancel") == 0 && r->state == SRV_RUN_QUEUED) {
		snprintf(msg, sizeof msg, "cancelled through the API by %s",
		         by ? by : "an approver");
		extra = cancel_queued(s, r, msg);
	} else if (r->state != SRV_RUN_AWAITING_APPROVAL || r->approval != SRV_APPROVAL_PENDING) {
		snprintf(msg, sizeof msg, "run %s is %s, not waiting for approval", id,
		         state_name(r->state));
		pthread_mutex_unlock(&s->mu);
		*out = json_pack("{s:s, s:s}", "error", msg, "state", state_name(r->state));
		return 409;
	} else if (step && strcmp(step, r->approval_step) != 0) {
		snprintf(msg, sizeof msg, "run %s waits for approval of step \"%s\", not \"%s\"",
		         id, r->approval_step, step);
		pthread_mutex_unlock(&s->mu);
		*out = json_pack("{s:s}", "error", msg);
		return 409;
	} else {
		r->approval = strcmp(decision, "approve") == 0 ? SRV_APPROVAL_APPROVED
		              : strcmp(decision, "deny") == 0  ? SRV_APPROVAL_DENIED
		                                               : SRV_APPROVAL_CANCELLED;
		free(r->approval_by);
		free(r->approval_comment);
		r->approval_by = by ? strdup(by) : NULL;
		r->approval_comment = comment ? strdup(comment) : NULL;
		if (r->approval == SRV_APPROVAL_CANCELLED) {
			free(r->cancel_reason);
			snprintf(msg, sizeof msg, "cancelled through the API by %s",
			         by ? by : "an approver");
			r->cancel_reason = strdup(msg);
		}
		pthread_cond_signal(&r->cv);
	}
	const char *route = r->rs->route->name;
	json_t *rec =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?}", "event", "approval_decision", "run",
	              id, "route", route, "step", r->approval_step, "decision", decision, "by",
	              by ? by : "unnamed (token holder)", "comment", comment);
	*out = json_pack("{s:s, s:s, s:s}", "run", id, "decision", decision, "step",
	                 r->approval_step[0] ? r->approval_step : "");
	pthread_mutex_unlock(&s->mu);
	if (extra) {
		json_decref(rec);
		srv_audit(s, extra);
	} else {
		srv_audit(s, rec);
	}
	return 200;
}

int srv_routes_list(struct srv_server *s, json_t **out)
{
	json_t *list = json_array();
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->routes.n; i++) {
		const struct srv_route_state *rs = &s->rs[i];
		const srv_route *r = rs->route;
		json_t *m = json_array();
		for (size_t k = 0; k < r->nmatchers; k++) {
			char text[512];
			srv_matcher_format(&r->matchers[k], text, sizeof text);
			json_array_append_new(m, json_string(text));
		}
		json_array_append_new(
		    list, json_pack("{s:s, s:o, s:s, s:b, s:b, s:i, s:i, s:i, s:b, s:s?}", "name",
		                    r->name, "matchers", m, "runbook", r->runbook, "dry_run",
		                    r->dry_run, "continue", r->cont, "active", rs->active, "queued",
		                    rs->queued, "consecutive_failures", rs->failures,
		                    "circuit_open", rs->open, "circuit_reason", rs->open_reason));
	}
	json_t *o = json_pack("{s:o, s:b}", "routes", list, "paused", s->paused);
	pthread_mutex_unlock(&s->mu);
	*out = o;
	return 200;
}

int srv_route_reset(struct srv_server *s, const char *name, const char *by, json_t **out)
{
	struct srv_route_state *rs = NULL;
	for (size_t i = 0; i < s->routes.n; i++)
		if (strcmp(s->routes.v[i].name, name) == 0)
			rs = &s->rs[i];
	if (!rs) {
		*out = json_pack("{s:s}", "error", "no such route");
		return 404;
	}
	char err[1024];
	if (srv_state_remove_circuit(s->circuit_dir, name, err, sizeof err) < 0) {
		*out = json_pack("{s:s}", "error", err);
		return 500;
	}
	pthread_mutex_lock(&s->mu);
	int was_open = rs->open;
	rs->open = 0;
	rs->failures = 0;
	free(rs->open_reason);
	rs->open_reason = NULL;
	pthread_mutex_unlock(&s->mu);
	srv_audit(s, json_pack("{s:s, s:s, s:s, s:b, s:s}", "event", "circuit_reset", "route", name,
	                       "by", by ? by : "api", "was_open", was_open, "via", "api"));
	*out = json_pack("{s:s, s:b, s:b}", "route", name, "was_open", was_open, "circuit_open", 0);
	return 200;
}

int srv_set_paused(struct srv_server *s, int pause, const char *by, const char *reason,
                   json_t **out)
{
	char err[1024];
	if (srv_state_write_pause(s->pause_path, pause, by, reason, err, sizeof err) < 0) {
		*out = json_pack("{s:s}", "error", err);
		return 500;
	}
	srv_check_pause(s);
	srv_audit(s, json_pack("{s:s, s:s, s:s?, s:s}", "event", pause ? "paused" : "resumed", "by",
	                       by ? by : "api", "reason", reason, "via", "api"));
	*out = json_pack("{s:b}", "paused", pause);
	return 200;
}
