/* A run's steps and progress from the engine's events (see steps.h). */
#include "steps.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auditscan.h"
#include "redact.h"
#include "run.h"
#include "spool.h"
#include "srv.h"
#include "util.h"

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

static json_t *find_step(json_t *steps, const char *name)
{
	for (size_t i = json_array_size(steps); i > 0; i--) {
		json_t *st = json_array_get(steps, i - 1);
		const char *its = json_string_value(json_object_get(st, "name"));
		if (its && name && strcmp(its, name) == 0)
			return st;
	}
	return NULL;
}

/* The step's record, or a new one after the last (the engine announces the steps it skips
 * after a failure with a step_end alone; they come in order). */
static json_t *step_of(json_t *steps, const char *name)
{
	json_t *st = find_step(steps, name);
	if (st)
		return st;
	json_t *last = json_array_get(steps, json_array_size(steps) - 1);
	json_int_t index = json_integer_value(json_object_get(last, "index")) + 1;
	st = json_pack("{s:s, s:I, s:[]}", "name", name, "index", index, "actions");
	json_array_append_new(steps, st);
	return st;
}

/* Copies the fields named from ev into to, where ev has them (non-empty strings only). */
static void copy_fields(json_t *to, const json_t *ev, const char *const *names)
{
	for (size_t i = 0; names[i]; i++) {
		json_t *v = json_object_get(ev, names[i]);
		if (v && !(json_is_string(v) && !*json_string_value(v)))
			json_object_set(to, names[i], v);
	}
}

/* What an event adds to its step, built (and redacted) before the lock is taken. */
static json_t *event_fields(const char *name, const char *step, const json_t *ev)
{
	json_t *f = json_object();
	if (strcmp(name, "step_start") == 0) {
		char ts[40];
		salve_timestamp(ts, sizeof ts);
		json_object_set_new(f, "name", json_string(step));
		json_object_set_new(f, "index", json_deep_copy(json_object_get(ev, "index")));
		json_object_set_new(f, "state", json_string("running"));
		json_object_set_new(f, "started_at", json_string(ts));
		json_object_set_new(f, "actions", json_array());
	} else if (strcmp(name, "step_end") == 0) {
		const char *outcome = json_string_value(json_object_get(ev, "outcome"));
		json_object_set_new(f, "state", json_string(outcome ? outcome : "?"));
		static const char *const keep[] = {"outcome", "duration_ms", "error", "note", NULL};
		copy_fields(f, ev, keep);
	} else if (strcmp(name, "approval") == 0) {
		json_t *a = json_object();
		static const char *const keep[] = {"outcome", "reason", NULL};
		copy_fields(a, ev, keep);
		json_object_set_new(f, "approval", a);
	} else if (strcmp(name, "action") == 0) {
		static const char *const keep[] = {"plugin",  "action",      "target",
		                                   "outcome", "duration_ms", NULL};
		copy_fields(f, ev, keep);
	} else if (strcmp(name, "step_rollback") == 0) {
		static const char *const keep[] = {"outcome", "error", NULL};
		copy_fields(f, ev, keep);
	}
	salve_redact_json(f);
	return f;
}

/* After a rollback the step says what became of it, as the engine's summary does: a failed
 * step stays failed, a step that changed things is rolled_back, or rollback_failed. */
static void rolled_back(json_t *st, const json_t *f)
{
	const char *how = json_string_value(json_object_get(f, "outcome"));
	const char *was = json_string_value(json_object_get(st, "outcome"));
	if (!how)
		return;
	if (strcmp(how, "opted_out") == 0) {
		json_object_set_new(st, "rollback", json_string("opted out"));
		return;
	}
	const char *now = strcmp(how, "rolled_back") != 0     ? "rollback_failed"
	                  : was && strcmp(was, "failed") == 0 ? "failed"
	                                                      : "rolled_back";
	json_object_set_new(st, "outcome", json_string(now));
	json_object_set_new(st, "state", json_string(now));
	if (strcmp(now, "rollback_failed") == 0 && json_object_get(f, "error"))
		json_object_set(st, "rollback_error", json_object_get(f, "error"));
}

/* Under mu: the first step starts the run's clock for alert_to_first_step. */
static void first_step(struct srv_server *s, struct srv_run *r)
{
	if (r->t_first_step != 0)
		return;
	char labels[512];
	r->t_first_step = salve_now();
	timestamp_us(r->first_step_at, sizeof r->first_step_at);
	srv_route_labels(labels, sizeof labels, r->rs);
	srv_metrics_observe(s->metrics, "salve_alert_to_first_step_seconds", labels,
	                    r->t_first_step - r->t_created);
}

/* Under mu: a step that ran (not skipped) counts in the step duration histogram. */
static void step_ended(struct srv_server *s, struct srv_run *r, const json_t *f)
{
	const char *outcome = json_string_value(json_object_get(f, "outcome"));
	json_t *ms = json_object_get(f, "duration_ms");
	if (!outcome || strcmp(outcome, "skipped") == 0 || !json_is_number(ms))
		return;
	char labels[512];
	srv_metrics_labels(labels, sizeof labels, "runbook", srv_run_runbook_label(r), NULL);
	srv_metrics_observe(s->metrics, "salve_step_duration_seconds", labels,
	                    json_number_value(ms) / 1000.0);
}

/* The route and runbook labels of the run histograms: both names come from the config. */
static void run_labels(char *buf, size_t len, const struct srv_run *r)
{
	srv_metrics_labels(buf, len, "route", r->rs->route->name, "runbook",
	                   srv_run_runbook_label(r), NULL);
}

/* Seconds from the alert's startsAt to now; from its receipt when it carries no usable
 * startsAt (none, Alertmanager's zero time, or ahead of this clock). */
static double since_alert_start(const struct srv_run *r)
{
	double starts, now = salve_now() - r->t_created;
	const char *at = json_string_value(json_object_get(r->alert, "startsAt"));
	if (!at || salve_parse_rfc3339(at, &starts) < 0 || starts <= 0)
		return now;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	double wall = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	return starts <= wall ? wall - starts : now;
}

/* Under mu: run_start and a successful run_end of a production run (no dry-run) feed the
 * time to start and time to remediate histograms, as salve report defines them. */
static void run_event(struct srv_server *s, struct srv_run *r, const char *name, const json_t *ev)
{
	char labels[512];
	if (strcmp(name, "run_start") == 0) {
		run_labels(labels, sizeof labels, r);
		srv_metrics_observe(s->metrics, "salve_run_time_to_start_seconds", labels,
		                    salve_now() - r->t_created);
		return;
	}
	const char *outcome = json_string_value(json_object_get(ev, "outcome"));
	if (strcmp(name, "run_end") != 0 || r->dry_run || !outcome ||
	    strcmp(outcome, "success") != 0)
		return;
	run_labels(labels, sizeof labels, r);
	srv_metrics_observe(s->metrics, "salve_run_time_to_remediate_seconds", labels,
	                    since_alert_start(r));
}

void srv_steps_on_event(void *ctx, const json_t *ev)
{
	struct srv_run *r = ctx;
	struct srv_server *s = r->srv;
	const char *name = json_string_value(json_object_get(ev, "event"));
	const char *step = json_string_value(json_object_get(ev, "step"));
	if (name && strcmp(name, "run_start") == 0)
		srv_spool_remove(s, r->id);
	if (name && !step && (strcmp(name, "run_start") == 0 || strcmp(name, "run_end") == 0)) {
		pthread_mutex_lock(&s->mu);
		run_event(s, r, name, ev);
		pthread_mutex_unlock(&s->mu);
		return;
	}
	if (!name || !step)
		return;
	json_t *f = event_fields(name, step, ev);
	pthread_mutex_lock(&s->mu);
	if (strcmp(name, "step_start") == 0) {
		if (r->state != SRV_RUN_AWAITING_APPROVAL)
			r->state = SRV_RUN_RUNNING;
		json_array_append(r->steps, f);
		first_step(s, r);
	} else if (strcmp(name, "step_end") == 0) {
		json_object_update(step_of(r->steps, step), f);
		step_ended(s, r, f);
	} else if (strcmp(name, "approval_requested") == 0) {
		json_object_set_new(step_of(r->steps, step), "state",
		                    json_string("awaiting_approval"));
	} else if (strcmp(name, "approval") == 0) {
		json_t *st = step_of(r->steps, step);
		json_object_update(st, f);
		json_object_set_new(st, "state", json_string("running"));
	} else if (strcmp(name, "action") == 0) {
		json_array_append(json_object_get(step_of(r->steps, step), "actions"), f);
	} else if (strcmp(name, "step_rollback") == 0) {
		rolled_back(step_of(r->steps, step), f);
	}
	pthread_mutex_unlock(&s->mu);
	json_decref(f);
}

void srv_steps_finish(struct srv_run *r, const json_t *summary)
{
	static const char *const only_summary[] = {"custom_rollback", "rollback_disabled",
	                                           "changes", "verify", NULL};
	size_t i;
	json_t *st;
	json_array_foreach(json_object_get(summary, "steps"), i, st)
	{
		json_t *live = find_step(r->steps, json_string_value(json_object_get(st, "name")));
		for (size_t k = 0; live && only_summary[k]; k++)
			if (json_object_get(st, only_summary[k]) &&
			    !json_object_get(live, only_summary[k]))
				json_object_set_new(
				    live, only_summary[k],
				    json_deep_copy(json_object_get(st, only_summary[k])));
	}
}
