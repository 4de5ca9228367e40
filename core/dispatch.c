/*
 * Dispatch: one plugin action, from a step or a notice (see exec.h). The dry-run guarantee
 * lives in call_mutate: in a dry-run a mutating action reaches check and plan, never apply;
 * in apply its intent is journaled before apply runs, so a kill at any point leaves a record
 * recover can act on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "ha/harun.h"
#include "redact.h"
#include "replay.h"
#include "schema.h"
#include "util.h"

/* What the phase allows: reads anywhere; notifications anywhere but in a gate's question;
 * changes only in run and rollback. 0, or -1 with err. */
static int phase_allows(const struct salve_exec *x, const char *pname, const salve_action *a,
                        const char *where, char *err, size_t errlen)
{
	if ((x->phase == SALVE_PHASE_WHEN || x->phase == SALVE_PHASE_CHECK) &&
	    a->kind != SALVE_READ) {
		snprintf(err, errlen,
		         "%s %s.%s is a %s action: only read actions may run in a step's %s", where,
		         pname, a->name, salve_kind_name(a->kind), salve_phase_name(x->phase));
		return -1;
	}
	if (x->phase == SALVE_PHASE_NOTICE && a->kind == SALVE_MUTATE) {
		snprintf(err, errlen, "%s %s.%s: lifecycle hooks only notify", where, pname,
		         a->name);
		return -1;
	}
	if (x->phase == SALVE_PHASE_VERIFY && a->kind == SALVE_MUTATE) {
		snprintf(err, errlen, "%s %s.%s changes things: verify may only read and notify",
		         where, pname, a->name);
		return -1;
	}
	return 0;
}

static const char *target_of(const salve_action *a, const json_t *args, char *buf, size_t len)
{
	if (!a->target_arg)
		return NULL;
	json_t *t = json_object_get(args, a->target_arg);
	if (json_is_string(t))
		return json_string_value(t);
	if (json_is_array(t) || json_is_object(t) || json_is_integer(t)) {
		salve_exec_brief(t, buf, len);
		return buf;
	}
	return NULL;
}

static void mark(json_t *result, const char *key, int value)
{
	if (json_is_object(result))
		json_object_set_new(result, key, json_boolean(value));
}

/* One call in progress: what the plugin got and gave back. */
struct call {
	struct salve_exec *x;
	salve_loaded_plugin *plugin;
	const salve_action *a;
	json_t *args;
	const char *target;
	struct salve_call c;
	const char *outcome; /* ok, held, planned, sent, changed, failed */
	int rc;
	json_t *out, *undo;
	json_t *answer; /* salve test: the fixture's answer, given instead of the plugin's */
};

/* ---- the plugin's callbacks, or the fixture's answers (replay.h) ---------------------------- */

static int answered(struct call *k, json_t **out, json_t **undo)
{
	json_t *result = json_object_get(k->answer, "result");
	json_t *u = json_object_get(k->answer, "undo");
	*out = result ? json_deep_copy(result) : NULL;
	if (undo)
		*undo = u ? json_deep_copy(u) : NULL;
	int rc = salve_replay_status(k->answer);
	if (rc < 0)
		snprintf(k->c.error, sizeof k->c.error, "%s",
		         json_string_value(json_object_get(k->answer, "error"))
		             ? json_string_value(json_object_get(k->answer, "error"))
		             : "failed (recorded)");
	return rc;
}

static int cb_run(struct call *k, json_t **out)
{
	return k->answer ? answered(k, out, NULL) : k->a->run(&k->c, k->args, out);
}

static int cb_render(struct call *k, json_t **out)
{
	if (k->answer)
		return answered(k, out, NULL);
	return k->a->render ? k->a->render(&k->c, k->args, out) : SALVE_OK;
}

/* A recorded mutation that held answers check with HOLDS; any other passes check. */
static int cb_check(struct call *k, json_t **observed)
{
	if (!k->answer)
		return k->a->check(&k->c, k->args, observed);
	const char *outcome = json_string_value(json_object_get(k->answer, "outcome"));
	if (outcome && strcmp(outcome, "held") == 0) {
		json_t *result = json_object_get(k->answer, "result");
		*observed = result ? json_deep_copy(result) : NULL;
		return SALVE_HOLDS;
	}
	return SALVE_OK;
}

static int cb_plan(struct call *k, json_t **out)
{
	return k->answer ? answered(k, out, NULL) : k->a->plan(&k->c, k->args, out);
}

static int cb_apply(struct call *k, json_t **out, json_t **undo)
{
	return k->answer ? answered(k, out, undo) : k->a->apply(&k->c, k->args, out, undo);
}

/* salve test: the fixture's answer for this call. -1 (the call fails, showing why) when it
 * is not the call the fixture expects next. */
static int ask_fixture(struct call *k)
{
	json_t *args = salve_args_for_audit(k->a->args, k->args);
	salve_redact_json(args);
	char name[256];
	snprintf(name, sizeof name, "%s.%s", k->plugin->desc.name, k->a->name);
	k->answer = salve_replay_answer(k->x->opt->replay, k->c.step, name, args, k->c.error,
	                                sizeof k->c.error);
	json_decref(args);
	return k->answer ? 0 : -1;
}

/* Appends a change to the current step record; returns it (borrowed). */
static json_t *add_change(struct call *k, long id, const char *state)
{
	json_t *changes = json_object_get(k->x->rec, "changes");
	json_t *c = json_pack("{s:I, s:s, s:s, s:s?, s:s}", "id", (json_int_t)id, "plugin",
	                      k->plugin->desc.name, "action", k->a->name, "target", k->target,
	                      "state", state);
	json_array_append_new(changes, c);
	return c;
}

static int journal_step(struct salve_exec *x, char *err, size_t errlen)
{
	if (x->step_journaled || !x->journal)
		return 0;
	x->step_journaled = 1;
	return salve_exec_journal(
	    x,
	    json_pack("{s:s, s:s, s:I, s:b, s:b}", "t", "step", "step", x->step->name, "index",
	              json_integer_value(json_object_get(x->rec, "index")), "custom_rollback",
	              salve_step_has(x->step, SALVE_FN_ROLLBACK), "rollback_disabled",
	              x->step->rollback_disabled),
	    err, errlen);
}

/* One line for people about a notification a dry-run does not send: its summary or the first
 * line of its text, else the rendered message in brief. */
static const char *notice_summary(const json_t *args, const json_t *msg, char *buf, size_t len)
{
	const char *s = json_string_value(json_object_get(args, "summary"));
	if (!s)
		s = json_string_value(json_object_get(args, "text"));
	if (!s) {
		salve_exec_brief(msg ? msg : args, buf, len > 200 ? 200 : len);
		return buf;
	}
	size_t n = strcspn(s, "\n");
	snprintf(buf, len, "%.*s%s", (int)(n > 160 ? 157 : n), s, n > 160 ? "..." : "");
	return buf;
}

static void call_notify(struct call *k)
{
	struct salve_exec *x = k->x;
	char line[256];
	if (x->info.mode == SALVE_MODE_DRY_RUN && !x->info.drill) {
		json_t *msg = NULL;
		k->rc = cb_render(k, &msg);
		salve_exec_say(x, "      would notify %s.%s%s%s: %s\n", k->plugin->desc.name,
		               k->a->name, k->target ? " " : "", k->target ? k->target : "",
		               notice_summary(k->args, msg, line, sizeof line));
		k->out = json_pack("{s:b, s:b, s:o}", "sent", 0, "planned", 1, "message",
		                   msg ? msg : json_deep_copy(k->args));
		k->outcome = "planned";
	} else {
		k->rc = cb_run(k, &k->out);
		k->outcome = "sent";
	}
}

/* With ha: the run's fencing revision goes with every intent: the mutation it announces was
 * started by the owner of that revision (harun.h). */
static json_t *intent_record(struct salve_exec *x, struct call *k, long id)
{
	json_t *rec = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s?}", "t", "intent", "id",
	                        (json_int_t)id, "step", k->c.step, "plugin", k->plugin->desc.name,
	                        "action", k->a->name, "target", k->target);
	if (rec && x->opt->ha)
		json_object_set_new(rec, "fence", json_integer(salve_ha_run_fence(x->opt->ha)));
	return rec;
}

/* Apply: the intent is durable before the plugin touches anything, the undo record right
 * after. -1 (err set) when the intent cannot be journaled: nothing was applied. */
static int apply_journaled(struct call *k, const char *where, char *err, size_t errlen)
{
	struct salve_exec *x = k->x;
	const char *pname = k->plugin->desc.name, *aname = k->a->name;
	char why[1024];
	long id = ++x->next_change_id;
	int rolling_back = x->phase == SALVE_PHASE_ROLLBACK;
	if (!rolling_back &&
	    (journal_step(x, why, sizeof why) < 0 ||
	     salve_exec_journal(x, intent_record(x, k, id), why, sizeof why) < 0)) {
		snprintf(err, errlen, "%s %s.%s not applied: %s", where, pname, aname, why);
		return -1;
	}
	k->rc = cb_apply(k, &k->out, &k->undo);
	if (rolling_back) {
		json_decref(k->undo);
		k->undo = NULL;
	} else if (k->undo) {
		json_object_set(add_change(k, id, "applied"), "undo", k->undo);
		salve_exec_journal(x,
		                   json_pack("{s:s, s:I, s:s, s:s, s:s, s:s?, s:O}", "t", "undo",
		                             "id", (json_int_t)id, "step", k->c.step, "plugin",
		                             pname, "action", aname, "target", k->target, "undo",
		                             k->undo),
		                   why, sizeof why);
	} else if (k->rc >= 0) {
		json_object_set_new(add_change(k, id, "applied"), "no_undo", json_true());
		salve_exec_journal(
		    x, json_pack("{s:s, s:I}", "t", "applied_no_undo", "id", (json_int_t)id), why,
		    sizeof why);
	} else {
		salve_exec_journal(
		    x, json_pack("{s:s, s:I}", "t", "not_applied", "id", (json_int_t)id), why,
		    sizeof why);
	}
	if (k->rc >= 0) {
		if (!k->out)
			k->out = json_object();
		mark(k->out, "changed", 1);
		k->outcome = "changed";
	}
	return 0;
}

/* check, then plan (dry-run) or apply. A check that holds ends the call. */
static int call_mutate(struct call *k, const char *where, char *err, size_t errlen)
{
	struct salve_exec *x = k->x;
	json_t *observed = NULL;
	k->rc = cb_check(k, &observed);
	if (k->rc == SALVE_HOLDS) {
		k->rc = SALVE_OK;
		k->out = observed ? observed : json_object();
		mark(k->out, "changed", 0);
		k->outcome = "held";
		return 0;
	}
	if (k->rc < 0) {
		json_decref(observed);
		return 0;
	}
	k->c.observed = observed; /* host->observed for plan and apply */
	int rc = 0;
	if (x->info.mode == SALVE_MODE_DRY_RUN) {
		k->rc = cb_plan(k, &k->out);
		if (k->rc >= 0) {
			if (!k->out)
				k->out = json_object();
			mark(k->out, "changed", 1);
			mark(k->out, "planned", 1);
			k->outcome = "planned";
			char line[240]; /* one line for people; the whole plan is in --json and the
			                   audit log */
			salve_exec_brief(k->out, line, sizeof line);
			salve_exec_say(x, "      would %s.%s%s%s: %s\n", k->plugin->desc.name,
			               k->a->name, k->target ? " " : "", k->target ? k->target : "",
			               line);
			if (x->phase != SALVE_PHASE_ROLLBACK)
				json_object_set(add_change(k, ++x->next_change_id, "planned"),
				                "plan", k->out);
		}
	} else {
		rc = apply_journaled(k, where, err, errlen);
	}
	json_decref(k->c.observed);
	k->c.observed = NULL;
	return rc;
}

/* The action's audit record, and its line in the step record. -1 when the audit log cannot
 * be written. */
static int record(struct call *k, double ms, const char *error)
{
	struct salve_exec *x = k->x;
	const char *pname = k->plugin->desc.name;
	json_t *rec = json_pack(
	    "{s:s, s:s?, s:s, s:s, s:s, s:s, s:s?, s:s, s:f, s:o}", "event", "action", "step",
	    k->c.step, "phase", salve_phase_name(x->phase), "plugin", pname, "action", k->a->name,
	    "kind", salve_kind_name(k->a->kind), "target", k->target, "outcome", k->outcome,
	    "duration_ms", ms, "args", salve_args_for_audit(k->a->args, k->args));
	/* The plugin's status by name; a check that found the state there returned HOLDS. */
	json_object_set_new(
	    rec, "status",
	    json_string(salve_status_name(strcmp(k->outcome, "held") == 0 ? SALVE_HOLDS : k->rc)));
	if (k->out)
		json_object_set(rec, "result", k->out);
	if (k->undo)
		json_object_set(rec, "undo", k->undo);
	if (error)
		json_object_set_new(rec, "error", json_string(error));
	int rc = salve_exec_audit(x, rec);
	json_t *actions = json_object_get(x->rec, "actions");
	if (actions)
		json_array_append_new(actions,
		                      json_pack("{s:s, s:s, s:s?, s:s, s:f}", "plugin", pname,
		                                "action", k->a->name, "target", k->target,
		                                "outcome", k->outcome, "duration_ms", ms));
	return rc;
}

int salve_dispatch(struct salve_exec *x, salve_loaded_plugin *plugin, const salve_action *a,
                   json_t *args, const char *where, json_t **result, char *err, size_t errlen)
{
	const char *pname = plugin->desc.name;
	char why[1024], tbuf[512];
	*result = NULL;
	if (phase_allows(x, pname, a, where, err, errlen) < 0)
		return -1;
	if (salve_args_validate(a->args, args, why, sizeof why) < 0 ||
	    salve_choices_check(a->choices, args, why, sizeof why) < 0) {
		snprintf(err, errlen, "%s %s.%s: %s", where, pname, a->name, why);
		return -1;
	}
	enum salve_registry_error rerr;
	const salve_replay *replay = x->opt ? x->opt->replay : NULL;
	if (!replay && !plugin->initialized &&
	    !salve_registry_get(x->reg, pname, 1, &rerr, why, sizeof why)) {
		snprintf(err, errlen, "%s %s", where, why);
		return -1;
	}
	struct call k = {.x = x, .plugin = plugin, .a = a, .args = args, .outcome = "ok"};
	k.target = target_of(a, args, tbuf, sizeof tbuf);
	k.c.run = &x->info;
	k.c.plugin = plugin;
	k.c.action = a;
	k.c.step = x->step ? x->step->name : NULL;
	k.c.deadline = x->deadline;
	double t0 = salve_now();
	if (replay && ask_fixture(&k) < 0)
		k.rc = SALVE_ERR;
	else if (a->kind == SALVE_READ)
		k.rc = cb_run(&k, &k.out);
	else if (a->kind == SALVE_NOTIFY)
		call_notify(&k);
	else if (call_mutate(&k, where, err, errlen) < 0) {
		json_decref(k.answer);
		return -1;
	}
	double ms = (salve_now() - t0) * 1000.0;
	char safe_error[2048] = "";
	if (k.rc < 0) {
		k.outcome = "failed";
		if (!k.c.error[0])
			snprintf(k.c.error, sizeof k.c.error, "failed (status %d) without a reason",
			         k.rc);
		salve_redact_string(k.c.error, safe_error, sizeof safe_error);
	}
	int audit_rc = record(&k, ms, k.rc < 0 ? safe_error : NULL);
	json_decref(k.undo);
	json_decref(k.answer);
	if (k.rc < 0) {
		json_decref(k.out);
		snprintf(err, errlen, "%s %s.%s%s%s: %s", where, pname, a->name,
		         k.target ? " " : "", k.target ? k.target : "", safe_error);
		return -1;
	}
	if (audit_rc < 0 && x->info.mode != SALVE_MODE_DRY_RUN) {
		json_decref(k.out);
		snprintf(err, errlen, "%s %s.%s: the audit log cannot be written; stopping", where,
		         pname, a->name);
		return -1;
	}
	if (x->on_action)
		x->on_action(x, plugin, a, args, k.outcome);
	*result = k.out ? k.out : json_object();
	return 0;
}

int salve_call_action(struct salve_exec *x, const char *plugin, const char *action, json_t *args,
                      const char *where, json_t **result, char *err, size_t errlen)
{
	enum salve_registry_error why;
	*result = NULL;
	int start = !(x->opt && x->opt->replay); /* salve test never starts a plugin */
	salve_loaded_plugin *p = salve_registry_get(x->reg, plugin, start, &why, err, errlen);
	if (!p)
		return -2;
	const salve_action *a = salve_plugin_action(p, action);
	if (!a) {
		snprintf(err, errlen, "plugin %s has no %s action", plugin, action);
		return -2;
	}
	enum salve_phase saved = x->phase;
	x->phase = SALVE_PHASE_NOTICE;
	int rc = salve_dispatch(x, p, a, args, where, result, err, errlen);
	x->phase = saved;
	return rc;
}
