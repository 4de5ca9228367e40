/* Routing decisions: alerts in, runs queued, the hook's answer (see ingest.h). */
#include "ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "circuits.h"
#include "dedupfile.h"
#include "ha.h"
#include "log.h"
#include "pause.h"
#include "render.h"
#include "run.h"
#include "spool.h"
#include "srv.h"
#include "util.h"

struct decision {
	json_t *record;      /* audit record (alert fields + route, decision, reason, run) */
	json_t *summary;     /* the alert's entry in the answer */
	struct srv_run *run; /* a new run to release once audited */
	int queue_full;
	int unavailable; /* etcd could not be asked (ha:): answer 503 */
	json_t *extra;   /* another audit record (a cancellation), or NULL */
	/* With ha: a queued run this alert cancelled, whose claims go back once mu is let go. */
	char *cancelled_occ, *cancelled_target, cancelled_run[33];
};

struct srv_ingest {
	struct decision *ds;
	size_t nd;
	int failed;  /* an audit record or the sync failed: answer 500 */
	int spooled; /* runs were spooled: their directory is synced with the batch */
};

/* What a run would reach, for the blast radius: one target key per host of a list. */
struct reach {
	json_t *keys; /* array of strings */
	const char **v;
	size_t n;
};

static void reach_free(struct reach *x)
{
	free(x->v);
	json_decref(x->keys);
	memset(x, 0, sizeof *x);
}

/* ---- decisions (under mu) ------------------------------------------------------------------ */

static void decide(struct decision *d, const char *decision, const char *reason, const char *detail)
{
	json_object_set_new(d->record, "decision", json_string(decision));
	if (reason)
		json_object_set_new(d->record, "reason", json_string(reason));
	if (detail)
		json_object_set_new(d->record, "detail", json_string(detail));
}

static void refuse(struct srv_server *s, struct srv_route_state *rs, struct decision *d,
                   const char *reason, const char *detail)
{
	char labels[512];
	srv_metrics_labels(labels, sizeof labels, "route", rs->route->name, "reason", reason, NULL);
	srv_metrics_add(s->metrics, "salve_alerts_refused_total", labels, 1);
	decide(d, "refused", reason, detail);
}

/* 1 (deduplicated, decided) when key is held by an active or cooling run. */
static int deduplicated(struct srv_server *s, struct srv_route_state *rs, struct decision *d,
                        const char *key, const char *what, double now)
{
	const char *run_id, *why;
	double ago;
	if (!srv_dedup_check(s->dedup, key, now, &run_id, &why, &ago))
		return 0;
	char labels[512], detail[512];
	srv_route_labels(labels, sizeof labels, rs);
	srv_metrics_add(s->metrics, "salve_alerts_deduplicated_total", labels, 1);
	if (strcmp(why, "active") == 0)
		snprintf(detail, sizeof detail, "run %s is already active for %s", run_id, what);
	else
		snprintf(detail, sizeof detail,
		         "run %s for %s ended %.0f s ago; cooldown is %.0f s", run_id, what, ago,
		         rs->route->cooldown);
	decide(d, "deduplicated", why, detail);
	json_object_set_new(d->record, "run", json_string(run_id));
	return 1;
}

/* The key under which an occurrence is remembered as resolved ("r" instead of the "o" of
 * its occurrence key). */
static void resolved_key(const char *route, const json_t *alert, char *key, size_t len)
{
	srv_alert_occurrence_key(route, alert, 0, key, len);
	key[0] = 'r';
}

/* A "resolved" notification: the occurrence is remembered, so that a "firing" of it that
 * arrives later (an HA peer's, or one delayed in flight) is known to be stale. With ha: in
 * etcd too (mu let go for the round trip), for every replica: 0, or -1 when etcd cannot be
 * asked (refused, decided: Alertmanager retries the 503 and nothing else is done now). */
static int remember_resolved(struct srv_server *s, struct srv_route_state *rs, const json_t *alert,
                             struct decision *d, double now)
{
	char key[1024], err[1024], detail[1400];
	if (s->conf.resolved_memory <= 0)
		return 0;
	resolved_key(rs->route->name, alert, key, sizeof key);
	srv_dedup_remember_resolved(s->dedup, key, now, s->conf.resolved_memory);
	if (!s->ha)
		return 0;
	pthread_mutex_unlock(&s->mu);
	int rc = srv_ha_remember_resolved(s->ha, key, s->conf.resolved_memory, err, sizeof err);
	pthread_mutex_lock(&s->mu);
	if (rc == 0)
		return 0;
	snprintf(detail, sizeof detail,
	         "etcd cannot be asked to remember that this occurrence resolved (so that no "
	         "replica runs a later stale \"firing\" of it): %s",
	         err);
	refuse(s, rs, d, "ha_unavailable", detail);
	d->unavailable = 1;
	return -1;
}

/* 1 (ignored, decided) when a "firing" notification names an occurrence that resolved. */
static int stale_firing(struct srv_server *s, struct srv_route_state *rs, const json_t *alert,
                        struct decision *d, double now)
{
	char key[1024], labels[512], detail[512];
	const char *run_id, *why;
	double ago;
	resolved_key(rs->route->name, alert, key, sizeof key);
	if (!srv_dedup_check(s->dedup, key, now, &run_id, &why, &ago) ||
	    strcmp(why, "resolved") != 0)
		return 0;
	srv_metrics_labels(labels, sizeof labels, "route", rs->route->name, "reason", "resolved",
	                   NULL);
	srv_metrics_add(s->metrics, "salve_alerts_ignored_total", labels, 1);
	snprintf(detail, sizeof detail,
	         "this occurrence (same fingerprint and startsAt) resolved %.0f s ago: a later "
	         "\"firing\" of it is stale (an HA peer's, or delayed) and starts nothing",
	         ago);
	decide(d, "ignored", "resolved", detail);
	return 1;
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
		r = srv_run_find(s, run_id);
	decide(d, "resolved", NULL, NULL);
	if (!r) {
		decide(d, "resolved", NULL, "no queued or waiting run of this alert to cancel");
		return;
	}
	json_object_set_new(d->record, "run", json_string(r->id));
	if (r->state == SRV_RUN_QUEUED) {
		d->extra = srv_run_cancel_queued(s, r, "the alert resolved before the run started");
		decide(d, "cancelled", NULL, "the queued run was cancelled");
		if (s->ha) {
			d->cancelled_occ = strdup(r->occ_key);
			d->cancelled_target = strdup(r->target_key);
			snprintf(d->cancelled_run, sizeof d->cancelled_run, "%s", r->id);
		}
	} else if (r->state == SRV_RUN_AWAITING_APPROVAL && r->approval == SRV_APPROVAL_PENDING) {
		srv_run_cancel_approval(r, "the alert resolved while the run waited for approval");
		decide(
		    d, "cancelled", NULL,
		    "the run waiting for approval was cancelled: what it changed is rolled back");
	} else {
		/* A run past its approval (or without one) is left alone: the fix it applies is
		 * often why the alert resolved. */
		snprintf(detail, sizeof detail, "run is %s: left to finish",
		         srv_run_state_name(r->state));
		decide(d, "resolved", NULL, detail);
	}
}

/* What the run reaches, for the blast radius: the distinct targets (one per host of a list
 * that allow_patterns let through; a pattern reaches an unknown number), rendered only when
 * the route or the server has a max_targets. 0, or -1 refused (decided). */
static int reach_of(struct srv_server *s, struct srv_route_state *rs, const json_t *alert,
                    int resolved, const char *tname, const char *target, struct decision *d,
                    struct reach *x)
{
	const srv_route *route = rs->route;
	char detail[1024], err[1024];
	if (route->max_targets <= 0 && s->conf.global_max_targets <= 0)
		return 0;
	int unbounded = 0;
	if (srv_render_targets(route, alert, resolved, &x->keys, &unbounded, err, sizeof err) < 0) {
		refuse(s, rs, d, "template", err);
		return -1;
	}
	if (unbounded) {
		snprintf(detail, sizeof detail,
		         "%s has max_targets and %s names a host pattern (or more than 256 "
		         "targets): the blast radius cannot count what it reaches",
		         route->max_targets > 0 ? "the route" : "the server", target);
		refuse(s, rs, d, "blast_radius", detail);
		return -1;
	}
	x->n = json_array_size(x->keys);
	x->v = calloc(x->n + 1, sizeof *x->v);
	if (!x->v) {
		refuse(s, rs, d, "internal", "out of memory");
		return -1;
	}
	for (size_t i = 0; i < x->n; i++) {
		char key[512];
		srv_alert_target_key(tname, json_string_value(json_array_get(x->keys, i)), key,
		                     sizeof key);
		json_array_set_new(x->keys, i, json_string(key));
		x->v[i] = json_string_value(json_array_get(x->keys, i));
	}
	return 0;
}

static void refuse_blast(struct srv_server *s, struct srv_route_state *rs, struct decision *d,
                         int route_full, const char *target, size_t n, const char *where)
{
	char detail[1024];
	snprintf(detail, sizeof detail,
	         "%s already acted on %d distinct targets in %.0f s%s: %s (%zu target%s) is not "
	         "started",
	         route_full ? "the route" : "the server",
	         route_full ? rs->route->max_targets : s->conf.global_max_targets,
	         route_full ? rs->route->targets_window : s->conf.global_targets_window, where,
	         target, n, n == 1 ? "" : "s");
	refuse(s, rs, d, "blast_radius", detail);
}

/* Blast radius: what the run reaches must fit the route's and the server's max_targets.
 * 0, or -1 refused (decided). */
static int blast_radius(struct srv_server *s, struct srv_route_state *rs, const json_t *alert,
                        int resolved, const char *tname, const char *target, double now,
                        struct decision *d, struct reach *x)
{
	if (reach_of(s, rs, alert, resolved, tname, target, d, x) < 0)
		return -1;
	int route_ok = srv_targets_would_allow_keys(&rs->targets, x->v, x->n, now);
	if (route_ok && srv_targets_would_allow_keys(&s->global_targets, x->v, x->n, now))
		return 0;
	refuse_blast(s, rs, d, !route_ok, target, x->n, "");
	return -1;
}

/* Pause and the circuit refuse before anything is rendered. 1 when refused (decided). With
 * ha: only this replica's own switches (the pause file, a circuit file); the shared ones are
 * read by the decision itself (shared_guardrails). */
static int closed(struct srv_server *s, struct srv_route_state *rs, struct decision *d)
{
	char detail[1024];
	if (s->ha ? srv_pause_local(s) : s->paused) {
		refuse(s, rs, d, "paused", "salve serve is paused (salve resume, or POST /resume)");
		return 1;
	}
	if (srv_circuit_refuses(s, rs, detail, sizeof detail)) {
		refuse(s, rs, d, "circuit_open", detail);
		return 1;
	}
	return 0;
}

/* How long a claim in etcd holds the occurrence: the run (at most run_timeout, an hour when
 * unset) and then its cooldown, as the local dedup table does from the run's end. */
static double claim_ttl(const struct srv_server *s, const struct srv_route_state *rs)
{
	double run = s->cfg && s->cfg->run_timeout > 0 ? s->cfg->run_timeout : 3600;
	return rs->route->cooldown + run;
}

/* A full queue refuses (decided): 1, else 0. Under mu. */
static int queue_full(struct srv_server *s, struct srv_route_state *rs, struct decision *d)
{
	if (s->queued < (size_t)s->conf.queue_size)
		return 0;
	char detail[256];
	snprintf(detail, sizeof detail, "the run queue is full (%d runs waiting): retry",
	         s->conf.queue_size);
	refuse(s, rs, d, "queue_full", detail);
	d->queue_full = 1;
	return 1;
}

/* Queue, blast radius and rate limit, all under mu. 0 when the run may start (its targets
 * and rate slot taken), -1 refused (decided). */
static int within_limits(struct srv_server *s, struct srv_route_state *rs, const json_t *alert,
                         int resolved, const char *target, const char *tname, double now,
                         struct decision *d)
{
	const srv_route *route = rs->route;
	char detail[1024];
	if (queue_full(s, rs, d))
		return -1;
	struct reach x = {0};
	if (blast_radius(s, rs, alert, resolved, tname, target, now, d, &x) < 0) {
		reach_free(&x);
		return -1;
	}
	double retry_in = 0;
	if (!srv_rate_take(&rs->rate, now, &retry_in)) {
		snprintf(detail, sizeof detail,
		         "the route allows %d runs per %.0f s; the next may start in %.0f s",
		         route->rate_count, route->rate_window, retry_in);
		refuse(s, rs, d, "rate_limited", detail);
		reach_free(&x);
		return -1;
	}
	for (size_t i = 0; i < x.n; i++) {
		srv_targets_take(&rs->targets, x.v[i], now, NULL);
		srv_targets_take(&s->global_targets, x.v[i], now, NULL);
	}
	reach_free(&x);
	return 0;
}

/* A refusal of the shared state (ha:), decided. */
static void shared_refusal(struct srv_server *s, struct srv_route_state *rs, struct decision *d,
                           const srv_ha_answer *ans, const char *target, size_t ntargets)
{
	const srv_route *route = rs->route;
	const srv_ha_holder *hd = &ans->holder;
	char detail[1024], labels[512];
	switch (ans->verdict) {
	case SRV_SHARED_RUN:
		break;
	case SRV_SHARED_IGNORED:
		srv_metrics_labels(labels, sizeof labels, "route", route->name, "reason",
		                   "resolved", NULL);
		srv_metrics_add(s->metrics, "salve_alerts_ignored_total", labels, 1);
		decide(d, "ignored", "resolved",
		       "this occurrence (same fingerprint and startsAt) resolved, as a replica "
		       "remembered in etcd: a later \"firing\" of it is stale (an HA peer's, or "
		       "delayed) and starts nothing");
		break;
	case SRV_SHARED_PAUSED:
		refuse(s, rs, d, "paused",
		       "salve serve is paused on every replica (the shared pause in etcd: salve "
		       "resume, or POST /resume)");
		break;
	case SRV_SHARED_CIRCUIT: {
		const char *why = json_string_value(json_object_get(ans->circuit, "reason"));
		snprintf(detail, sizeof detail,
		         "circuit open after %d failed runs in a row across replicas (%s); reset "
		         "with salve routes reset %s",
		         (int)json_integer_value(json_object_get(ans->circuit, "failures")),
		         why ? why : "", route->name);
		refuse(s, rs, d, "circuit_open", detail);
		break;
	}
	case SRV_SHARED_CLAIMED:
	case SRV_SHARED_TARGET: {
		int occurrence = ans->verdict == SRV_SHARED_CLAIMED;
		srv_route_labels(labels, sizeof labels, rs);
		srv_metrics_add(s->metrics, "salve_alerts_deduplicated_total", labels, 1);
		if (occurrence)
			snprintf(detail, sizeof detail, "duplicate of run %s on replica %s",
			         hd->run, hd->replica);
		else if (!hd->ended_at[0])
			snprintf(detail, sizeof detail,
			         "run %s on replica %s is already active for the same target",
			         hd->run, hd->replica);
		else
			snprintf(
			    detail, sizeof detail,
			    "run %s on replica %s for the same target ended at %s; cooldown is "
			    "%.0f s",
			    hd->run, hd->replica, hd->ended_at, route->cooldown);
		decide(d, "deduplicated",
		       occurrence        ? "claimed"
		       : hd->ended_at[0] ? "cooldown"
		                         : "active",
		       detail);
		json_object_set_new(d->record, "run", json_string(hd->run));
		json_object_set_new(d->record, "replica", json_string(hd->replica));
		break;
	}
	case SRV_SHARED_BLAST_ROUTE:
	case SRV_SHARED_BLAST_SERVER:
		refuse_blast(s, rs, d, ans->verdict == SRV_SHARED_BLAST_ROUTE, target, ntargets,
		             " across replicas");
		break;
	case SRV_SHARED_RATE:
		snprintf(detail, sizeof detail,
		         "the route allows %d runs per %.0f s across replicas; the next may start "
		         "in %.0f s",
		         route->rate_count, route->rate_window, ans->retry_in);
		refuse(s, rs, d, "rate_limited", detail);
		break;
	}
}

/* With ha: the state replicas share decides (srv_ha_decide: the pause, a resolved
 * occurrence, the circuit, the claims of the occurrence and the target, the blast radius and
 * the rate), usually in one etcd transaction, with mu let go for it. The run's keys are taken
 * in the local dedup table first, so that no other request of this process decides them
 * meanwhile (it finds them active), and a place in the queue is kept; both are given back
 * when the run does not start. Under mu: 0 when the run may start, -1 decided. */
static int shared_guardrails(struct srv_server *s, struct srv_route_state *rs, const json_t *alert,
                             int resolved, const char *target, const char *occ, const char *tkey,
                             const char *tname, const char *run_id, struct decision *d)
{
	const srv_route *route = rs->route;
	char detail[1400], err[1024], rkey[1024];
	if (queue_full(s, rs, d))
		return -1;
	struct reach x = {0};
	if (reach_of(s, rs, alert, resolved, tname, target, d, &x) < 0) {
		reach_free(&x);
		return -1;
	}
	int stale_check = !resolved && s->conf.resolved_memory > 0;
	if (stale_check)
		resolved_key(route->name, alert, rkey, sizeof rkey);
	srv_ha_ask ask = {
	    .route = route->name,
	    .occ = occ,
	    .target = tkey,
	    .resolved = stale_check ? rkey : NULL,
	    .run_id = run_id,
	    .ttl = claim_ttl(s, rs),
	    .breaker = route->breaker,
	    .limits = {route->rate_count, route->rate_window, route->max_targets,
	               route->targets_window, s->conf.global_max_targets,
	               s->conf.global_targets_window},
	    .targets = x.v,
	    .ntargets = x.n,
	};
	srv_dedup_start(s->dedup, occ, run_id, route->cooldown);
	srv_dedup_start(s->dedup, tkey, run_id, route->cooldown);
	s->queued++;
	int deciding = srv_strmap_put(s->deciding, run_id, (void *)run_id, NULL) == 0;
	pthread_mutex_unlock(&s->mu);
	srv_ha_answer ans;
	int rc = srv_ha_decide(s->ha, &ask, &ans, err, sizeof err);
	pthread_mutex_lock(&s->mu);
	s->queued--;
	if (deciding)
		srv_strmap_remove(s->deciding, run_id);
	pthread_cond_broadcast(&s->decided_cv);
	if (rc == 0 && ans.verdict == SRV_SHARED_RUN) {
		srv_ha_answer_clear(&ans);
		reach_free(&x);
		return 0;
	}
	srv_dedup_release(s->dedup, occ, run_id);
	srv_dedup_release(s->dedup, tkey, run_id);
	if (rc < 0) {
		snprintf(detail, sizeof detail,
		         "etcd cannot be asked whether another replica runs this alert, so none "
		         "starts here (Alertmanager retries the 503): %s",
		         err);
		refuse(s, rs, d, "ha_unavailable", detail);
		d->unavailable = 1;
	} else {
		shared_refusal(s, rs, d, &ans, target, x.n);
	}
	srv_ha_answer_clear(&ans);
	reach_free(&x);
	return -1;
}

/* With ha: a copy of an alert that arrives while another request of this process asks etcd
 * about the same occurrence or target (the local dedup table holds their keys for that run
 * meanwhile) waits for that answer (under mu), so that it is deduplicated against the run
 * that won, here or on another replica, never against a candidate that lost. */
static void wait_for_decisions(struct srv_server *s, const char *occ, const char *tkey, double now)
{
	if (!s->ha)
		return;
	for (;;) {
		const char *run_id, *why;
		double ago;
		int pending = (srv_dedup_check(s->dedup, occ, now, &run_id, &why, &ago) &&
		               srv_strmap_get(s->deciding, run_id)) ||
		              (srv_dedup_check(s->dedup, tkey, now, &run_id, &why, &ago) &&
		               srv_strmap_get(s->deciding, run_id));
		if (!pending)
			return;
		pthread_cond_wait(&s->decided_cv, &s->mu);
	}
}

/* Dedup (the local table): 1 when the alert is a duplicate (decided), 0 otherwise. Before
 * the run is made, so that a storm of duplicates costs no run id, allocation or random read. */
static int duplicate(struct srv_server *s, struct srv_route_state *rs, const char *occ,
                     const char *tkey, double now, struct decision *d)
{
	wait_for_decisions(s, occ, tkey, now);
	return deduplicated(s, rs, d, occ, "this alert", now) ||
	       deduplicated(s, rs, d, tkey, "the same target", now);
}

/* The guardrails after dedup: the limits, or with ha: the shared state. 0 when the run may
 * start, -1 when decided otherwise. */
static int guardrails(struct srv_server *s, struct srv_route_state *rs, const json_t *alert,
                      int resolved, const char *target, const char *occ, const char *tkey,
                      const char *tname, const char *run_id, double now, struct decision *d)
{
	if (!s->ha)
		return within_limits(s, rs, alert, resolved, target, tname, now, d);
	return shared_guardrails(s, rs, alert, resolved, target, occ, tkey, tname, run_id, d);
}

static void admit(struct srv_server *s, struct srv_route_state *rs, const json_t *alert,
                  int resolved, struct decision *d, double now, double t_received)
{
	const srv_route *route = rs->route;
	char err[1024];
	if (closed(s, rs, d))
		return;
	json_t *params = NULL;
	char *target = NULL;
	int rendered = srv_render_params(route, alert, resolved, &params, &target, err, sizeof err);
	if (rendered < 0) {
		refuse(s, rs, d, rendered == -2 ? "pattern" : "template", err);
		return;
	}
	char occ[1024], tkey[512], tname[128];
	srv_alert_occurrence_key(route->name, alert, resolved, occ, sizeof occ);
	snprintf(tname, sizeof tname, "%s%s", route->name, resolved ? "#resolved" : "");
	srv_alert_target_key(tname, target, tkey, sizeof tkey);
	if (duplicate(s, rs, occ, tkey, now, d)) {
		json_decref(params);
		free(target);
		return;
	}
	/* The run exists (not queued) before the other guardrails: its id is what a claim
	 * holds. */
	char trigger[256];
	srv_run_alert_trigger(alert, trigger, sizeof trigger);
	struct srv_run *r = srv_run_new(s, rs, trigger, alert, resolved, params, target, occ, tkey);
	if (!r) {
		refuse(s, rs, d, "internal", "out of memory");
		return;
	}
	if (guardrails(s, rs, alert, resolved, r->target, occ, tkey, tname, r->id, now, d) < 0) {
		srv_run_free(r);
		return;
	}
	if (t_received > 0)
		r->t_created = t_received;
	srv_run_enqueue(s, r);
	d->run = r;
	char labels[512];
	srv_route_labels(labels, sizeof labels, rs);
	srv_metrics_add(s->metrics, "salve_runs_accepted_total", labels, 1);
	decide(d, "queued", NULL, NULL);
	json_object_set_new(d->record, "run", json_string(r->id));
	json_object_set_new(d->record, "runbook", json_string(r->runbook));
	json_object_set(d->record, "params", r->params);
	if (r->dry_run)
		json_object_set_new(d->record, "dry_run", json_true());
}

static json_t *alert_record(const char *hook, const json_t *alert)
{
	/* An audit record from the start (seq and ts first), so it is written as it is. */
	json_t *rec = salve_audit_record();
	json_object_update_new(rec,
	                       json_pack("{s:s, s:s, s:O, s:O, s:O, s:O}", "event", "alert", "hook",
	                                 hook, "status", json_object_get(alert, "status"),
	                                 "fingerprint", json_object_get(alert, "fingerprint"),
	                                 "starts_at", json_object_get(alert, "startsAt"), "labels",
	                                 json_object_get(alert, "labels")));
	/* When the alert ended, as Alertmanager says (a resolved notice): the report's time to
	 * resolve. A firing alert's endsAt is a placeholder (0001-01-01) or a guess: left out. */
	const char *ends = json_string_value(json_object_get(alert, "endsAt"));
	if (ends &&
	    strcmp(json_string_value(json_object_get(alert, "status"))
	               ? json_string_value(json_object_get(alert, "status"))
	               : "",
	           "resolved") == 0 &&
	    strncmp(ends, "0001-", 5) != 0)
		json_object_set_new(rec, "ends_at", json_string(ends));
	json_t *ann = json_object_get(alert, "annotations");
	if (json_object_size(ann))
		json_object_set(rec, "annotations", ann);
	const char *receiver = json_string_value(json_object_get(alert, "receiver"));
	if (receiver && *receiver)
		json_object_set_new(rec, "receiver", json_string(receiver));
	return rec;
}

/* Under mu: one alert through the routes; its decisions from ds[*nd] on (at most cap). */
static void route_alert(struct srv_server *s, const char *hook, const json_t *alert,
                        struct decision *ds, size_t *nd, size_t cap, double now, double t_received)
{
	char labels[512];
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
		srv_route_labels(labels, sizeof labels, rs);
		srv_metrics_add(s->metrics, "salve_alerts_matched_total", labels, 1);
		struct decision *d = &ds[(*nd)++];
		d->record = alert_record(hook, alert);
		json_object_set_new(d->record, "route", json_string(rs->route->name));
		if (resolved && remember_resolved(s, rs, alert, d, now) < 0)
			; /* refused: etcd cannot remember it */
		else if (resolved && rs->route->on_resolved == SRV_RESOLVED_IGNORE)
			decide(d, "resolved", NULL, "on_resolved: ignore");
		else if (resolved && rs->route->on_resolved == SRV_RESOLVED_CANCEL)
			on_resolved_cancel(s, rs, alert, d, now);
		else if (resolved || !stale_firing(s, rs, alert, d, now))
			admit(s, rs, alert, resolved, d, now, t_received);
		if (!rs->route->cont || *nd == cap)
			break;
	}
	if (!matched && *nd < cap) {
		srv_metrics_labels(labels, sizeof labels, "hook", hook, NULL);
		srv_metrics_add(s->metrics, "salve_alerts_unmatched_total", labels, 1);
		struct decision *d = &ds[(*nd)++];
		d->record = alert_record(hook, alert);
		decide(d, "unmatched", NULL, "no route matches");
	}
}

/* ---- the three steps -------------------------------------------------------------------- */

struct srv_ingest *srv_ingest_decide(struct srv_server *s, const char *hook, const json_t *alerts,
                                     double t_received)
{
	size_t n = json_array_size(alerts);
	size_t cap = n * (s->routes.n ? s->routes.n : 1) + 1;
	struct srv_ingest *in = calloc(1, sizeof *in);
	struct decision *ds = calloc(cap, sizeof *ds);
	if (!in || !ds) {
		free(in);
		free(ds);
		return NULL;
	}
	srv_pause_check_alert(s);
	double now = salve_now();
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < n; i++)
		route_alert(s, hook, json_array_get(alerts, i), ds, &in->nd, cap, now, t_received);
	srv_metrics_add(s->metrics, "salve_dedup_evictions_total", "",
	                (double)srv_dedup_take_evictions(s->dedup));
	pthread_mutex_unlock(&s->mu);
	in->ds = ds;
	return in;
}

void srv_ingest_write(struct srv_server *s, struct srv_ingest *in, salve_audit *audit)
{
	/* Spool before the record of the decision, and release the runs only after both (in
	 * srv_ingest_finish): a run's own records never precede the alert that caused it. */
	for (size_t i = 0; i < in->nd; i++) {
		struct decision *d = &in->ds[i];
		if (d->run) {
			json_t *entry = srv_run_spool_entry(d->run);
			/* Through the batch handle, the writer syncs the batch's entries at once.
			 * An entry that cannot be written makes the answer 500: the run is not
			 * durable, so it is not reported accepted (it still runs if this process
			 * lives). */
			in->failed |= srv_spool_write(s, d->run->id, entry, audit == s->audit) < 0;
			json_decref(entry);
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
		in->failed |= srv_audit_to(audit, d->record) < 0;
		d->record = NULL;
		if (d->cancelled_occ && d->cancelled_target) {
			char err[1024];
			const char *claims =
			    srv_spool_give_back(s, d->cancelled_occ, d->cancelled_target,
			                        d->cancelled_run, err, sizeof err);
			if (d->extra && claims)
				json_object_set_new(d->extra, "claims", json_string(claims));
		}
		free(d->cancelled_occ);
		free(d->cancelled_target);
		d->cancelled_occ = d->cancelled_target = NULL;
		if (d->extra) {
			in->failed |= srv_audit_to(audit, d->extra) < 0;
			d->extra = NULL;
		}
	}
	/* The keys the new runs took, and resolved occurrences, are durable with the batch;
	 * when they cannot be, the answer is 500 and Alertmanager's retry is deduplicated.
	 * A batch's writer flushes them once for the whole batch. */
	if (audit == s->audit)
		in->failed |= srv_dedupfile_flush(s) < 0;
}

int srv_ingest_spooled(const struct srv_ingest *in)
{
	return in->spooled;
}

int srv_ingest_finish(struct srv_server *s, struct srv_ingest *in, int sync_failed, json_t **result)
{
	json_t *out_alerts = json_array(), *runs = json_array();
	int queue_full = 0, unavailable = 0, released = 0;
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < in->nd; i++) {
		struct decision *d = &in->ds[i];
		json_array_append_new(out_alerts, d->summary);
		d->summary = NULL;
		queue_full |= d->queue_full;
		unavailable |= d->unavailable;
		if (!d->run)
			continue;
		json_array_append_new(runs, json_string(d->run->id));
		/* Cancelled (API, resolved alert) while its batch was written: its spool file
		 * may have landed after the cancel removed it. */
		if (d->run->state == SRV_RUN_FINISHED)
			srv_spool_remove(s, d->run->id);
		d->run->ready = 1;
		released++;
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
		                    json_string("the audit log or the state dir cannot be written "
		                                "(see the server's log)"));
		return 500;
	}
	if (queue_full || unavailable)
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
