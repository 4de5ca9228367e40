/* What a run tells people (see notices.h). */
#include "notices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "util.h"

#define NOTIFY_PLUGIN "notify"

/* Whether the lifecycle settings ask for event. */
static int lifecycle_wants(const json_t *lc, const char *event)
{
	const json_t *on = json_object_get(lc, "on");
	if (!on)
		/* Default: what on-call needs to hear about. */
		return strcmp(event, "start") != 0 && strcmp(event, "success") != 0;
	size_t i;
	json_t *e;
	json_array_foreach(on, i, e) if (json_is_string(e) &&
	                                 !strcmp(json_string_value(e), event)) return 1;
	return json_is_string(on) && !strcmp(json_string_value(on), event);
}

/* One action of the notify plugin, through dispatch like a runbook's call. */
static int call_notify(struct salve_exec *x, const char *action, json_t *args, const char *where,
                       json_t **result, char *err, size_t errlen)
{
	return salve_call_action(x, NOTIFY_PLUGIN, action, args, where, result, err, errlen);
}

/* A notice that could not even be dispatched (no notify plugin, or no such action): the
 * audit log says so, since no action record will. */
static void not_dispatched(struct salve_exec *x, const char *event, const char *err)
{
	salve_exec_audit(x, json_pack("{s:s, s:s, s:s, s:s}", "event", "lifecycle_notify", "on",
	                              event, "outcome", "failed", "error", err));
}

/* Tells people about a lifecycle event: to every `to` the settings name for it, and a page
 * when a rollback is incomplete. */
static void lifecycle(struct salve_exec *x, const char *event, const char *severity,
                      const char *summary, const char *detail)
{
	const json_t *lc = x->rb && x->rb->notify ? x->rb->notify : x->opt->lifecycle;
	int send = lc && lifecycle_wants(lc, event) && json_object_get(lc, "to");
	int page = !strcmp(event, "rollback_incomplete") &&
	           !json_is_false(json_object_get(lc, "page_on_incomplete")) &&
	           (lc || salve_registry_configured(x->reg, NOTIFY_PLUGIN));
	if (!send && !page)
		return;
	char err[2048], text[4096];
	snprintf(text, sizeof text, "%s%s%s", summary, detail ? "\n" : "", detail ? detail : "");
	json_t *targets = json_object_get(lc, "to");
	json_t *list = json_is_array(targets) ? json_incref(targets) : json_pack("[O]", targets);
	size_t i;
	json_t *to;
	json_array_foreach(send ? list : NULL, i, to)
	{
		json_t *args =
		    json_pack("{s:O, s:s, s:s, s:s, s:s}", "to", to, "text", text, "summary",
		              summary, "severity", severity, "outcome", event);
		json_t *res = NULL;
		int rc = call_notify(x, "send", args, "lifecycle:", &res, err, sizeof err);
		if (rc < 0)
			salve_log(SALVE_LOG_WARN, "%s notification to %s not sent: %s", event,
			          json_string_value(to), err);
		if (rc == -2)
			not_dispatched(x, event, err);
		json_decref(res);
		json_decref(args);
	}
	json_decref(list);
	if (page) {
		json_t *args = json_pack("{s:s, s:s, s:s, s:s}", "severity", "critical", "summary",
		                         summary, "text", text, "outcome", event);
		json_t *res = NULL;
		int rc = call_notify(x, "page", args, "lifecycle:", &res, err, sizeof err);
		if (rc < 0)
			salve_log(SALVE_LOG_ERROR, "page for the incomplete rollback not sent: %s",
			          err);
		if (rc == -2)
			not_dispatched(x, event, err);
		json_decref(res);
		json_decref(args);
	}
}

/* Sends the escalation levels that are due: level N goes out when the run has not succeeded
 * after_seconds after it paged. At the end (final), levels not due are audited as pending. */
static void escalate_due(struct salve_exec *x, int final)
{
	struct salve_notices *n = &x->notices;
	if (!n->paged_at || !n->pager || !strcmp(x->info.outcome, "success"))
		return;
	char err[2048];
	if (!n->escalation) {
		json_t *args = json_object();
		if (salve_call_action(x, n->pager->desc.name, "escalation_policy", args,
		                      "escalation:", &n->escalation, err, sizeof err) < 0) {
			salve_log(SALVE_LOG_WARN, "escalation policy unavailable: %s", err);
			n->escalation = json_array();
		}
		json_decref(args);
	}
	double elapsed = salve_now() - n->paged_at;
	for (size_t i = n->escalated; i < json_array_size(n->escalation); i++) {
		json_t *level = json_array_get(n->escalation, i);
		double after = json_number_value(json_object_get(level, "after_seconds"));
		if (after > elapsed) {
			if (final) {
				salve_exec_say(x,
				               "salve: escalation level %zu (due %.0f s after the "
				               "page) not sent: the run ended first\n",
				               i + 1, after);
				salve_exec_audit(
				    x,
				    json_pack("{s:s, s:I, s:f, s:s}", "event", "escalation_pending",
				              "level", (json_int_t)i + 1, "after_seconds", after,
				              "reason", "the run ended before the level was due"));
			}
			continue;
		}
		json_t *args = json_pack("{s:I, s:s, s:s}", "level", (json_int_t)i + 1, "summary",
		                         n->page_summary, "outcome", x->info.outcome);
		json_t *res = NULL;
		if (salve_call_action(x, n->pager->desc.name, "escalate", args, "escalation:", &res,
		                      err, sizeof err) < 0)
			salve_log(SALVE_LOG_WARN, "escalation level %zu not sent: %s", i + 1, err);
		json_decref(res);
		json_decref(args);
		n->escalated = i + 1;
	}
}

/* The lifecycle event, severity and summary line for the run's outcome. */
static void outcome_notice(struct salve_exec *x)
{
	const char *rb = x->info.runbook ? x->info.runbook : "?";
	const char *outcome = x->info.outcome;
	char line[1024];
	if (strcmp(outcome, "degraded") == 0) {
		snprintf(line, sizeof line,
		         "salve %s: run %s completed DEGRADED: %zu failure(s) tolerated", rb,
		         x->run_id, json_array_size(x->degraded));
		char *detail = json_dumps(x->degraded, JSON_COMPACT);
		lifecycle(x, "degraded", "high", line, detail);
		free(detail);
	} else if (strcmp(outcome, "success") == 0) {
		snprintf(line, sizeof line, "salve %s: run %s succeeded", rb, x->run_id);
		lifecycle(x, "success", "info", line, NULL);
	} else if (strcmp(outcome, "rollback_incomplete") == 0) {
		snprintf(line, sizeof line,
		         "salve %s: ROLLBACK INCOMPLETE in run %s: a human must look (salve "
		         "recover retries)",
		         rb, x->run_id);
		lifecycle(x, "rollback_incomplete", "critical", line, NULL);
	} else {
		snprintf(line, sizeof line, "salve %s: run %s failed and was rolled back", rb,
		         x->run_id);
		lifecycle(x, "rolled_back", "medium", line, NULL);
	}
}

void salve_notices_on(struct salve_exec *x, enum salve_moment m, const char *step,
                      const char *detail)
{
	const char *rb = x->info.runbook ? x->info.runbook : "?";
	char line[1024];
	switch (m) {
	case SALVE_MOMENT_START:
		snprintf(line, sizeof line, "salve %s: %s%s%s started (%s)", rb, x->run_id,
		         x->info.target ? " on " : "", x->info.target ? x->info.target : "",
		         x->info.mode == SALVE_MODE_DRY_RUN ? "dry-run" : "apply");
		lifecycle(x, "start", "info", line, NULL);
		break;
	case SALVE_MOMENT_STEP:
		escalate_due(x, 0);
		break;
	case SALVE_MOMENT_STEP_FAILED:
		snprintf(line, sizeof line, "salve %s: step %s failed; rolling back", rb,
		         step ? step : "?");
		lifecycle(x, "step_failed", "high", line, detail);
		break;
	case SALVE_MOMENT_END:
		outcome_notice(x);
		break;
	case SALVE_MOMENT_FINISHED:
		escalate_due(x, 1);
		break;
	}
}

void salve_notices_on_action(struct salve_exec *x, salve_loaded_plugin *plugin,
                             const salve_action *a, const json_t *args, const char *outcome)
{
	struct salve_notices *n = &x->notices;
	if (n->paged_at || strcmp(a->name, "page") != 0 || strcmp(outcome, "sent") != 0 ||
	    !salve_plugin_action(plugin, "escalate") ||
	    !salve_plugin_action(plugin, "escalation_policy"))
		return;
	n->paged_at = salve_now();
	n->pager = plugin;
	const char *summary = json_string_value(json_object_get(args, "summary"));
	snprintf(n->page_summary, sizeof n->page_summary, "%s", summary ? summary : "salve paged");
}

void salve_notices_free(struct salve_notices *n)
{
	json_decref(n->escalation);
	n->escalation = NULL;
}

int salve_run_notice(salve_run *run, const char *to, const char *summary, const char *text,
                     const char *outcome, char *err, size_t errlen)
{
	struct salve_exec *x = run;
	const char *saved = x->info.outcome;
	x->info.outcome = outcome;
	json_t *args = json_pack("{s:s, s:s, s:s}", "to", to, "text", text, "summary", summary);
	json_t *res = NULL;
	int rc = call_notify(x, "send", args, "approval:", &res, err, errlen);
	json_decref(res);
	json_decref(args);
	x->info.outcome = saved;
	return rc;
}
