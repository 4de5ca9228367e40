/* Rollback: undoing what a run changed, newest first (see exec.h). Used by a failed run and
 * by recover. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "redact.h"
#include "replay.h"
#include "util.h"

#define DEFAULT_ROLLBACK_TIMEOUT 600.0

int salve_rollback_pending(const json_t *rec)
{
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(rec, "changes"), i, c)
	{
		const char *s = json_string_value(json_object_get(c, "state"));
		if (strcmp(s, "undone") != 0 && strcmp(s, "would_undo") != 0)
			return 1;
	}
	return 0;
}

/* Calls the plugin's undo with the record apply returned. 0, or -1 with err. */
static int call_undo(struct salve_exec *x, const json_t *c, char *err, size_t errlen)
{
	const char *pname = json_string_value(json_object_get(c, "plugin"));
	const char *aname = json_string_value(json_object_get(c, "action"));
	const char *target = json_string_value(json_object_get(c, "target"));
	json_t *rec_undo = json_object_get(c, "undo");
	if (x->opt && x->opt->replay) {
		char name[256];
		snprintf(name, sizeof name, "%s.%s", pname, aname);
		return salve_replay_undo(x->opt->replay, name, target, err, errlen);
	}
	enum salve_registry_error why;
	char reason[1024] = "";
	salve_loaded_plugin *p = salve_registry_get(x->reg, pname, 1, &why, reason, sizeof reason);
	const salve_action *a = p ? salve_plugin_action(p, aname) : NULL;
	if (!p) {
		snprintf(err, errlen, "cannot undo %s.%s: %s", pname, aname, reason);
		return -1;
	}

	if (!a || !a->undo) {
		snprintf(err, errlen, "cannot undo %s.%s: the plugin has no such undoable action",
		         pname, aname);
		return -1;
	}
	if (!rec_undo) {
		snprintf(err, errlen, "cannot undo %s.%s: the plugin returned no undo record",
		         pname, aname);
		return -1;
	}
	struct salve_call call;
	memset(&call, 0, sizeof call);
	call.run = &x->info;
	call.plugin = p;
	call.action = a;
	call.step = x->step ? x->step->name : NULL;
	call.deadline = x->deadline;
	if (a->undo(&call, rec_undo) >= 0)
		return 0;
	char safe[2048];
	salve_redact_string(call.error[0] ? call.error : "undo failed without a reason", safe,
	                    sizeof safe);
	snprintf(err, errlen, "undo of %s.%s%s%s failed: %s", pname, aname, target ? " " : "",
	         target ? target : "", safe);
	return -1;
}

/* An intent without its result: the runner stopped while applying it, and no undo record
 * was written. The step's check decides, never a second apply: when it does not hold, the
 * change did not take effect and there is nothing to undo; when it holds (the change is in
 * place without an undo record), or there is no check, a human must look. 0, or -1 with
 * err. */
static int unknown_change(struct salve_exec *x, json_t *c, char *err, size_t errlen)
{
	const char *pname = json_string_value(json_object_get(c, "plugin"));
	const char *aname = json_string_value(json_object_get(c, "action"));
	const char *target = json_string_value(json_object_get(c, "target"));
	const char *step = x->step ? x->step->name : "";
	char what[1024], why[1024];
	snprintf(what, sizeof what, "%s.%s%s%s", pname, aname, target ? " " : "",
	         target ? target : "");
	size_t index;
	if (!x->rb || !x->step || !salve_runbook_step(x->rb, step, &index) ||
	    !salve_step_has(x->step, SALVE_FN_CHECK)) {
		snprintf(err, errlen,
		         "%s: the runner stopped while applying it; whether it changed anything is "
		         "unknown (step %s has no check to ask): check by hand",
		         what, step);
		return -1;
	}
	enum salve_phase was = x->phase;
	x->phase = SALVE_PHASE_CHECK;
	int held = salve_runbook_call(x->rb, index, SALVE_FN_CHECK, why, sizeof why, NULL);
	x->phase = was;
	if (held != 0) {
		if (held == 1)
			snprintf(
			    err, errlen,
			    "%s: the runner stopped while applying it, and step %s's check holds "
			    "now: the change took effect but its undo record was never written: "
			    "check by hand",
			    what, step);
		else
			snprintf(
			    err, errlen,
			    "%s: the runner stopped while applying it, and step %s's check could "
			    "not tell (%s): check by hand",
			    what, step, held < 0 ? why : "it returned nil");
		salve_exec_audit(x,
		                 json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:s}", "event", "undo",
		                           "step", step, "plugin", pname, "action", aname, "target",
		                           target, "outcome", "failed", "error", err));
		return -1;
	}
	salve_exec_audit(x, json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:s}", "event", "undo",
	                              "step", step, "plugin", pname, "action", aname, "target",
	                              target, "outcome", "not_applied", "note",
	                              "the runner stopped while applying it; the step's check "
	                              "does not hold, so it did not take effect"));
	char jerr[512];
	salve_exec_journal(x,
	                   json_pack("{s:s, s:I}", "t", "not_applied", "id",
	                             json_integer_value(json_object_get(c, "id"))),
	                   jerr, sizeof jerr);
	json_object_set_new(c, "state", json_string("undone"));
	salve_exec_say(x,
	               "      %s: interrupted while applying; step %s's check does not hold: it "
	               "did not take effect, nothing to undo\n",
	               what, step);
	return 0;
}

/* Undoes one change (audited and journaled). 0, or -1 with err. */
static int undo_change(struct salve_exec *x, json_t *c, char *err, size_t errlen)
{
	const char *state = json_string_value(json_object_get(c, "state"));
	const char *pname = json_string_value(json_object_get(c, "plugin"));
	const char *aname = json_string_value(json_object_get(c, "action"));
	const char *target = json_string_value(json_object_get(c, "target"));
	const char *step = x->step ? x->step->name : NULL;
	json_int_t id = json_integer_value(json_object_get(c, "id"));
	if (strcmp(state, "undone") == 0 || strcmp(state, "would_undo") == 0)
		return 0;
	if (strcmp(state, "planned") == 0) {
		salve_exec_say(x, "      would undo %s.%s%s%s\n", pname, aname, target ? " " : "",
		               target ? target : "");
		json_object_set_new(c, "state",
		                    json_string("would_undo")); /* a dry-run undid nothing */
		return 0;
	}
	if (json_is_true(json_object_get(c, "no_undo"))) {
		salve_exec_say(
		    x, "      %s.%s%s%s cannot be undone (declared by the plugin): left as it is\n",
		    pname, aname, target ? " " : "", target ? target : "");
		salve_exec_audit(x, json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s}", "event", "undo",
		                              "step", step ? step : "", "plugin", pname, "action",
		                              aname, "target", target, "outcome", "not_undoable"));
		json_object_set_new(c, "state", json_string("undone"));
		return 0;
	}
	if (strcmp(state, "unknown") == 0)
		return unknown_change(x, c, err, errlen);
	if (salve_exec_fenced(x, 1)) {
		snprintf(err, errlen, "%s.%s%s%s not undone here: another replica owns the run now",
		         pname, aname, target ? " " : "", target ? target : "");
		return -1;
	}
	double t0 = salve_now();
	int rc = call_undo(x, c, err, errlen);
	json_t *rec_undo = json_object_get(c, "undo");
	json_t *arec =
	    json_pack("{s:s, s:s?, s:s, s:s, s:s?, s:s, s:f}", "event", "undo", "step", step,
	              "plugin", pname, "action", aname, "target", target, "outcome",
	              rc < 0 ? "failed" : "undone", "duration_ms", (salve_now() - t0) * 1000.0);
	if (rec_undo)
		json_object_set(arec, "undo", rec_undo);
	if (rc < 0)
		json_object_set_new(arec, "error", json_string(err));
	salve_exec_audit(x, arec);
	char jerr[512];
	if (rc < 0) {
		salve_exec_journal(
		    x, json_pack("{s:s, s:I, s:s}", "t", "undo_failed", "id", id, "error", err),
		    jerr, sizeof jerr);
		return -1;
	}
	salve_exec_journal(x, json_pack("{s:s, s:I}", "t", "undone", "id", id), jerr, sizeof jerr);
	json_object_set_new(c, "state", json_string("undone"));
	salve_exec_say(x, "      undid %s.%s%s%s\n", pname, aname, target ? " " : "",
	               target ? target : "");
	return 0;
}

/* The step's own rollback function, from the runbook as it ran. 0, or -1 with err. */
static int custom_rollback(struct salve_exec *x, json_t *rec, const char *name, char *err,
                           size_t errlen)
{
	size_t index;
	const salve_step *st = salve_runbook_step(x->rb, name, &index);
	if (!st || !salve_step_has(st, SALVE_FN_ROLLBACK)) {
		snprintf(err, errlen,
		         "the runbook's rollback function for step \"%s\" is not available", name);
		return -1;
	}
	x->phase = SALVE_PHASE_ROLLBACK;
	char *tb = NULL;
	int rc = salve_runbook_call(x->rb, index, SALVE_FN_ROLLBACK, err, errlen, &tb);
	if (rc < 0 && tb)
		salve_log(SALVE_LOG_DEBUG, "%s", tb);
	free(tb);
	if (rc < 0)
		return -1;
	size_t i;
	json_t *c;
	const char *state = x->info.mode == SALVE_MODE_DRY_RUN ? "would_undo" : "undone";
	json_array_foreach(json_object_get(rec, "changes"), i, c)
	    json_object_set_new(c, "state", json_string(state));
	char jerr[512];
	salve_exec_journal(x, json_pack("{s:s, s:s}", "t", "step_rolled_back", "step", name), jerr,
	                   sizeof jerr);
	return 0;
}

/* Undoes the step's changes, newest first. 0, or -1 with the first error in err. */
static int undo_changes(struct salve_exec *x, json_t *rec, char *err, size_t errlen)
{
	int ok = 1;
	json_t *changes = json_object_get(rec, "changes");
	for (size_t k = json_array_size(changes); k > 0; k--) {
		char one[2048];
		if (undo_change(x, json_array_get(changes, k - 1), one, sizeof one) < 0) {
			ok = 0;
			if (!err[0])
				snprintf(err, errlen, "%s", one);
			salve_exec_say(x, "      %s\n", one);
		}
	}
	return ok ? 0 : -1;
}

int salve_rollback_all(struct salve_exec *x, json_t *done)
{
	int complete = 1;
	x->info.ignore_cancel = 1;
	double timeout = x->opt && x->opt->rollback_timeout > 0 ? x->opt->rollback_timeout
	                                                        : DEFAULT_ROLLBACK_TIMEOUT;
	double deadline = salve_now() + timeout;
	for (size_t n = json_array_size(done); n > 0; n--) {
		json_t *rec = json_array_get(done, n - 1);
		if (!salve_rollback_pending(rec))
			continue;
		salve_notices_on(x, SALVE_MOMENT_STEP, NULL, NULL);
		const char *name = json_string_value(json_object_get(rec, "name"));
		const char *before = json_string_value(json_object_get(rec, "outcome"));
		int was_failed = before && strcmp(before, "failed") == 0;
		x->step = salve_runbook_step(x->rb, name, NULL);
		x->rec = rec;
		x->deadline = deadline;
		if (json_is_true(json_object_get(rec, "rollback_disabled"))) {
			salve_exec_say(x, "  rollback %-24s skipped (rollback = false)\n", name);
			salve_exec_audit(x, json_pack("{s:s, s:s, s:s}", "event", "step_rollback",
			                              "step", name, "outcome", "opted_out"));
			json_object_set_new(rec, "rollback", json_string("opted out"));
			continue;
		}
		salve_exec_say(x, "  rollback %s\n", name);
		char err[4096] = "";
		int custom = json_is_true(json_object_get(rec, "custom_rollback"));
		int ok = (custom ? custom_rollback(x, rec, name, err, sizeof err)
		                 : undo_changes(x, rec, err, sizeof err)) == 0;
		if (!ok && custom) /* undo_changes says each error as it happens */
			salve_exec_say(x, "      error: %s\n", err);
		const char *after =
		    ok ? (was_failed ? "failed" : "rolled_back") : "rollback_failed";
		json_object_set_new(rec, "outcome", json_string(after));
		if (!ok) {
			complete = 0;
			json_object_set_new(rec, "rollback_error", json_string(err));
		}
		json_t *arec = json_pack("{s:s, s:s, s:s}", "event", "step_rollback", "step", name,
		                         "outcome", ok ? "rolled_back" : "rollback_failed");
		if (!ok)
			json_object_set_new(arec, "error", json_string(err));
		salve_exec_audit(x, arec);
	}
	x->info.ignore_cancel = 0;
	x->deadline = 0;
	return complete ? 0 : -1;
}
