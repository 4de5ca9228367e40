/* A run's record, the run table and the queue (see run.h). */
#include "run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spool.h"
#include "srv.h"
#include "util.h"

struct srv_run *srv_run_new(struct srv_server *s, struct srv_route_state *rs, const char *trigger,
                            const json_t *alert, int resolved, json_t *params, char *target,
                            const char *occ_key, const char *target_key)
{
	struct srv_run *r = calloc(1, sizeof *r);
	if (!r) {
		json_decref(params);
		free(target);
		return NULL;
	}
	srv_cond_init_monotonic(&r->cv);
	r->srv = s;
	salve_random_id(r->id, sizeof r->id);
	r->rs = rs;
	r->trigger = strdup(trigger);
	r->resolved = resolved;
	r->dry_run = resolved ? rs->route->resolved_dry_run : rs->route->dry_run;
	r->runbook = strdup(resolved ? rs->route->resolved_runbook : rs->route->runbook);
	r->params = params;
	r->alert = alert ? json_incref((json_t *)alert) : NULL;
	r->occ_key = strdup(occ_key);
	r->target_key = strdup(target_key);
	r->target = target;
	r->steps = json_array();
	r->state = SRV_RUN_QUEUED;
	r->t_created = salve_now();
	salve_timestamp(r->created_at, sizeof r->created_at);
	return r;
}

void srv_run_free(struct srv_run *r)
{
	free(r->trigger);
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

const char *srv_run_state_name(enum srv_run_state st)
{
	static const char *const names[] = {"queued",  "starting",          "waiting_lock",
	                                    "running", "awaiting_approval", "finished"};
	return names[st];
}

const char *srv_approval_name(enum srv_approval_state a)
{
	static const char *const names[] = {"none",   "pending", "approved",
	                                    "denied", "timeout", "cancelled"};
	return names[a];
}

const char *srv_run_runbook_label(const struct srv_run *r)
{
	return r->runbook_name ? r->runbook_name : r->runbook;
}

const char *srv_run_fingerprint(const struct srv_run *r)
{
	return json_string_value(json_object_get(r->alert, "fingerprint"));
}

void srv_run_alert_trigger(const json_t *alert, char *buf, size_t len)
{
	snprintf(buf, len, "alert:%s",
	         json_string_value(json_object_get(alert, "fingerprint"))
	             ? json_string_value(json_object_get(alert, "fingerprint"))
	             : "");
}

/* ---- the spool entry -------------------------------------------------------------------- */

json_t *srv_run_spool_entry(const struct srv_run *r)
{
	return json_pack("{s:s, s:s, s:b, s:b, s:s, s:O, s:O, s:s, s:s, s:s, s:s}", "id", r->id,
	                 "route", r->rs->route->name, "resolved", r->resolved, "dry_run",
	                 r->dry_run, "runbook", r->runbook, "params", r->params, "alert", r->alert,
	                 "target", r->target ? r->target : "", "occurrence_key", r->occ_key,
	                 "target_key", r->target_key, "created_at", r->created_at);
}

struct srv_run *srv_run_from_spool(struct srv_server *s, struct srv_route_state *rs,
                                   const json_t *entry, char *why, size_t whylen)
{
	json_t *alert = json_object_get(entry, "alert");
	const char *runbook = json_string_value(json_object_get(entry, "runbook"));
	const char *occ = json_string_value(json_object_get(entry, "occurrence_key"));
	const char *tkey = json_string_value(json_object_get(entry, "target_key"));
	const char *target = json_string_value(json_object_get(entry, "target"));
	const char *created = json_string_value(json_object_get(entry, "created_at"));
	json_t *params = json_object_get(entry, "params");
	if (!json_is_object(alert)) {
		snprintf(why, whylen, "not a spooled run");
		return NULL;
	}
	if (!runbook || !occ || !tkey || !json_is_object(params)) {
		snprintf(why, whylen, "it is incomplete");
		return NULL;
	}
	int resolved = json_is_true(json_object_get(entry, "resolved"));
	char trigger[256];
	srv_run_alert_trigger(alert, trigger, sizeof trigger);
	struct srv_run *r = srv_run_new(s, rs, trigger, alert, resolved, json_incref(params),
	                                strdup(target ? target : ""), occ, tkey);
	if (!r) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	snprintf(r->id, sizeof r->id, "%s", json_string_value(json_object_get(entry, "id")));
	free(r->runbook);
	r->runbook = strdup(runbook);
	r->dry_run = json_is_true(json_object_get(entry, "dry_run"));
	snprintf(r->created_at, sizeof r->created_at, "%s", created ? created : "");
	r->ready = 1;
	return r;
}

/* ---- the table and the queue (under mu) --------------------------------------------------- */

static void unlink_from_finished(struct srv_server *s, struct srv_run *o)
{
	if (!o->in_finished)
		return;
	if (o->fprev)
		o->fprev->fnext = o->fnext;
	else
		s->finished_oldest = o->fnext;
	if (o->fnext)
		o->fnext->fprev = o->fprev;
	else
		s->finished_newest = o->fprev;
	o->fprev = o->fnext = NULL;
	o->in_finished = 0;
}

static void unlink_from_table(struct srv_server *s, struct srv_run *o)
{
	unlink_from_finished(s, o);
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
}

void srv_run_set_finished(struct srv_server *s, struct srv_run *r)
{
	r->state = SRV_RUN_FINISHED;
	if (r->in_finished)
		return;
	r->fnext = NULL;
	r->fprev = s->finished_newest;
	if (s->finished_newest)
		s->finished_newest->fnext = r;
	else
		s->finished_oldest = r;
	s->finished_newest = r;
	r->in_finished = 1;
}

/* Adds r to the run table (newest end) and evicts the runs that finished first while the
 * table is past history. Only finished runs are visited: the cost is the runs evicted plus
 * those skipped because their request is not answered yet (cancelled while their batch is
 * written, a batch at most), never the queue. */
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
	for (struct srv_run *o = s->finished_oldest; o && s->nruns > (size_t)s->conf.history;) {
		struct srv_run *next = o->fnext;
		/* Not before its request is answered: the ingest still holds it. */
		if (o->ready) {
			unlink_from_table(s, o);
			srv_run_free(o);
		}
		o = next;
	}
}

void srv_run_enqueue(struct srv_server *s, struct srv_run *r)
{
	srv_dedup_start(s->dedup, r->occ_key, r->id, r->rs->route->cooldown);
	srv_dedup_start(s->dedup, r->target_key, r->id, r->rs->route->cooldown);
	table_add(s, r);
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

void srv_run_dequeue(struct srv_server *s, struct srv_run *r)
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

struct srv_run *srv_run_next(struct srv_server *s)
{
	for (struct srv_run *r = s->qhead; r; r = r->qnext) {
		int limit = r->rs->route->max_concurrent;
		if (r->ready && (limit == 0 || r->rs->active < limit))
			return r;
	}
	return NULL;
}

struct srv_run *srv_run_find(struct srv_server *s, const char *id)
{
	return srv_strmap_get(s->by_id, id);
}

json_t *srv_run_cancel_queued(struct srv_server *s, struct srv_run *r, const char *reason)
{
	srv_run_dequeue(s, r);
	srv_run_set_finished(s, r);
	r->outcome = "cancelled";
	r->cancel_reason = strdup(reason);
	salve_timestamp(r->ended_at, sizeof r->ended_at);
	/* Nothing ran: the occurrence and target are free again. */
	srv_dedup_release(s->dedup, r->occ_key, r->id);
	srv_dedup_release(s->dedup, r->target_key, r->id);
	srv_spool_remove(s, r->id);
	char labels[512];
	srv_metrics_labels(labels, sizeof labels, "route", r->rs->route->name, "runbook",
	                   srv_run_runbook_label(r), "outcome", "cancelled", NULL);
	srv_metrics_add(s->metrics, "salve_runs_total", labels, 1);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "event", "run_cancelled", "run", r->id,
	                 "route", r->rs->route->name, "state", "queued", "reason", reason,
	                 "fingerprint", srv_run_fingerprint(r));
}

void srv_run_cancel_approval(struct srv_run *r, const char *reason)
{
	if (r->approval != SRV_APPROVAL_PENDING)
		return;
	r->approval = SRV_APPROVAL_CANCELLED;
	free(r->cancel_reason);
	r->cancel_reason = strdup(reason);
	pthread_cond_signal(&r->cv);
}

void srv_run_free_all(struct srv_server *s)
{
	struct srv_run *r = s->oldest;
	while (r) {
		struct srv_run *next = r->newer;
		srv_run_free(r);
		r = next;
	}
	s->oldest = s->newest = s->qhead = s->qtail = NULL;
	s->finished_oldest = s->finished_newest = NULL;
	s->nruns = 0;
}
