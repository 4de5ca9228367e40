/* Approvals of steps (see approvals.h). */
#include "approvals.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host.h"
#include "log.h"
#include "redact.h"
#include "route.h"
#include "run.h"
#include "schema.h"
#include "spool.h"
#include "srv.h"
#include "util.h"

/* Tells people a run waits for them (notify = "slack:#oncall" in the step's approve table),
 * as one of the run's notices: dispatched and audited like the run's own calls. A failure is
 * audited and the wait goes on: the run stays visible in GET /runs?state=awaiting_approval. */
static void notify_approval(struct srv_server *s, struct srv_run *r, salve_run *run,
                            const char *step, const char *to, double timeout)
{
	char err[2048] = "", text[1024], summary[256];
	const char *alertname =
	    json_string_value(json_object_get(json_object_get(r->alert, "labels"), "alertname"));
	snprintf(summary, sizeof summary, "salve: run %.12s waits for approval of step %s", r->id,
	         step);
	snprintf(text, sizeof text,
	         "Run %s of runbook %s (route %s, alert %s, fingerprint %s) waits for approval of "
	         "step \"%s\". Approve: POST /runs/%s/approve; deny: POST /runs/%s/deny. With no "
	         "decision within %.0f s it is rolled back.",
	         r->id, r->runbook_name ? r->runbook_name : r->runbook, r->rs->route->name,
	         alertname ? alertname : "-", srv_run_fingerprint(r), step, r->id, r->id, timeout);
	int rc = salve_run_notice(run, to, summary, text, "awaiting_approval", err, sizeof err);
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

/* The step's own timeout, or approval_timeout when it names none (or nan, inf, a hex
 * number: the runbook's own text). */
static double approval_timeout(const struct srv_server *s, const json_t *spec)
{
	json_t *t = json_object_get(spec, "timeout");
	double given = 0;
	if (json_is_number(t))
		given = json_number_value(t);
	else if (json_is_string(t) && srv_parse_duration(json_string_value(t), &given) < 0)
		given = 0;
	return isfinite(given) && given > 0 && given <= 3650.0 * 86400 ? given
	                                                               : s->conf.approval_timeout;
}

/* Under mu: waits until the approval is decided or its deadline passes. */
static enum srv_approval_state wait_decision(struct srv_server *s, struct srv_run *r)
{
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
	return r->approval;
}

/* Under mu: what the engine audits as the decision's reason. */
static void decision_reason(const struct srv_run *r, enum srv_approval_state decision,
                            double timeout, char *why, size_t whylen)
{
	if (decision == SRV_APPROVAL_APPROVED || decision == SRV_APPROVAL_DENIED)
		snprintf(why, whylen, "%s by %s%s%s",
		         decision == SRV_APPROVAL_APPROVED ? "approved" : "denied",
		         r->approval_by ? r->approval_by : "an approver",
		         r->approval_comment ? ": " : "",
		         r->approval_comment ? r->approval_comment : "");
	else if (decision == SRV_APPROVAL_TIMEOUT)
		snprintf(why, whylen, "no decision within %.0f s (approval timed out)", timeout);
	else
		snprintf(why, whylen, "cancelled: %s",
		         r->cancel_reason ? r->cancel_reason : "the server is shutting down");
}

int srv_approval_hook(void *ctx, salve_run *run, const char *step, const json_t *spec, char *why,
                      size_t whylen)
{
	struct srv_run *r = ctx;
	struct srv_server *s = r->srv;
	double timeout = approval_timeout(s, spec);
	const char *notify = json_string_value(json_object_get(spec, "notify"));

	pthread_mutex_lock(&s->mu);
	r->approval = SRV_APPROVAL_PENDING;
	snprintf(r->approval_step, sizeof r->approval_step, "%s", step);
	r->approval_deadline = salve_now() + timeout;
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	time_t until = wall.tv_sec + (time_t)timeout;
	struct tm tm;
	gmtime_r(&until, &tm);
	strftime(r->approval_deadline_at, sizeof r->approval_deadline_at, "%Y-%m-%dT%H:%M:%SZ",
	         &tm);
	r->state = SRV_RUN_AWAITING_APPROVAL;
	s->awaiting++;
	if (s->stopping)
		r->approval = SRV_APPROVAL_CANCELLED;
	int pending = r->approval == SRV_APPROVAL_PENDING;
	pthread_mutex_unlock(&s->mu);

	srv_audit(s, json_pack("{s:s, s:s, s:s, s:s, s:f, s:s, s:s?}", "event", "approval_waiting",
	                       "run", r->id, "step", step, "route", r->rs->route->name, "timeout_s",
	                       timeout, "deadline", r->approval_deadline_at, "notify", notify));
	if (notify && pending)
		notify_approval(s, r, run, step, notify, timeout);

	pthread_mutex_lock(&s->mu);
	enum srv_approval_state decision = wait_decision(s, r);
	decision_reason(r, decision, timeout, why, whylen);
	r->state = SRV_RUN_RUNNING;
	s->awaiting--;
	pthread_mutex_unlock(&s->mu);
	return decision == SRV_APPROVAL_APPROVED;
}

/* Under mu: answers a decision on r that cannot be taken (409), else NULL. */
static json_t *not_decidable(const struct srv_run *r, const char *id, const char *step)
{
	char msg[512];
	if (r->state != SRV_RUN_AWAITING_APPROVAL || r->approval != SRV_APPROVAL_PENDING) {
		snprintf(msg, sizeof msg, "run %s is %s, not waiting for approval", id,
		         srv_run_state_name(r->state));
		return json_pack("{s:s, s:s}", "error", msg, "state", srv_run_state_name(r->state));
	}
	if (step && strcmp(step, r->approval_step) != 0) {
		snprintf(msg, sizeof msg, "run %s waits for approval of step \"%s\", not \"%s\"",
		         id, r->approval_step, step);
		return json_pack("{s:s}", "error", msg);
	}
	return NULL;
}

int srv_approval_decide(struct srv_server *s, const char *id, const char *decision,
                        const json_t *body, json_t **out)
{
	const char *by = json_string_value(json_object_get(body, "by"));
	const char *comment = json_string_value(json_object_get(body, "comment"));
	const char *step = json_string_value(json_object_get(body, "step"));
	int cancel = strcmp(decision, "cancel") == 0;
	json_t *rec = NULL;
	char msg[512];
	snprintf(msg, sizeof msg, "cancelled through the API by %s", by ? by : "an approver");
	pthread_mutex_lock(&s->mu);
	struct srv_run *r = srv_run_find(s, id);
	if (!r) {
		pthread_mutex_unlock(&s->mu);
		*out = json_pack("{s:s}", "error", "no such run");
		return 404;
	}
	char *occ = NULL, *target = NULL;
	if (cancel && r->state == SRV_RUN_QUEUED) {
		rec = srv_run_cancel_queued(s, r, msg);
		if (s->ha) { /* its claims in etcd go back too, once mu is let go */
			occ = strdup(r->occ_key);
			target = strdup(r->target_key);
		}
	} else if ((*out = not_decidable(r, id, step))) {
		pthread_mutex_unlock(&s->mu);
		return 409;
	} else {
		free(r->approval_by);
		free(r->approval_comment);
		r->approval_by = by ? strdup(by) : NULL;
		r->approval_comment = comment ? strdup(comment) : NULL;
		if (cancel) {
			srv_run_cancel_approval(r, msg);
		} else {
			r->approval = strcmp(decision, "approve") == 0 ? SRV_APPROVAL_APPROVED
			                                               : SRV_APPROVAL_DENIED;
			pthread_cond_signal(&r->cv);
		}
		rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?}", "event",
		                "approval_decision", "run", id, "route", r->rs->route->name, "step",
		                r->approval_step, "decision", decision, "by",
		                by ? by : "unnamed (token holder)", "comment", comment);
	}
	*out = json_pack("{s:s, s:s, s:s}", "run", id, "decision", decision, "step",
	                 r->approval_step[0] ? r->approval_step : "");
	pthread_mutex_unlock(&s->mu);
	char err[1024];
	const char *claims =
	    occ && target ? srv_spool_give_back(s, occ, target, id, err, sizeof err) : NULL;
	if (claims)
		json_object_set_new(rec, "claims", json_string(claims));
	free(occ);
	free(target);
	srv_audit(s, rec);
	return 200;
}
