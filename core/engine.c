/*
 * The step engine: runs a loaded runbook's steps in order, then rolls back on failure (see
 * engine.h). Plugin calls go through dispatch.c, undo through rollback.c, recovery of dead
 * runs through recover.c, and what people are told through notices.c. The runbook module
 * makes every Lua call; the engine sees steps and their results.
 */
#include "engine.h"

#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec.h"
#include "exitcodes.h"
#include "ha/harun.h"
#include "lock.h"
#include "redact.h"
#include "util.h"

/* ---- one step ------------------------------------------------------------------------------ */

static double step_deadline(const struct salve_exec *x, const salve_step *st)
{
	double timeout = st->timeout > 0 ? st->timeout : x->opt->step_timeout;
	double d = timeout > 0 ? salve_now() + timeout : 0;
	if (x->run_deadline > 0 && (d == 0 || x->run_deadline < d))
		d = x->run_deadline;
	return d;
}

/* Calls the step's fn in the matching phase: 1 truthy, 0 falsy, -1 error. */
static int call_step(struct salve_exec *x, size_t index, enum salve_step_fn fn, char *err,
                     size_t errlen, char **traceback)
{
	static const enum salve_phase phase_of[] = {SALVE_PHASE_WHEN, SALVE_PHASE_CHECK,
	                                            SALVE_PHASE_RUN, SALVE_PHASE_VERIFY,
	                                            SALVE_PHASE_ROLLBACK};
	x->phase = phase_of[fn];
	int r = salve_runbook_call(x->rb, index, fn, err, errlen, traceback);
	/* nil is false to a gate; verify tells it apart (verify()). */
	return r == SALVE_CALL_NIL && fn != SALVE_FN_VERIFY ? 0 : r;
}

/* A step declaring approve = {...}: the trigger's approve hook decides (salve serve), or
 * --approve did. A dry-run changes nothing, so it asks nobody. 0 to go on, -1 with err. */
static int approval(struct salve_exec *x, const salve_step *st, char *err, size_t errlen)
{
	if (x->info.mode == SALVE_MODE_DRY_RUN) {
		salve_exec_say(x, "      would ask for approval of step \"%s\"\n", st->name);
		return 0;
	}
	char why[1024] = "";
	int approved = 0;
	salve_exec_audit(x, json_pack("{s:s, s:s, s:O}", "event", "approval_requested", "step",
	                              st->name, "approve", st->approve));
	if (x->opt->approve_all) {
		approved = 1;
		snprintf(why, sizeof why, "approved on the command line (--approve)");
	} else if (x->opt->approve) {
		approved = x->opt->approve(x->opt->ctx, x, st->name, st->approve, why, sizeof why);
	} else {
		snprintf(why, sizeof why,
		         "step \"%s\" needs approval: run it under salve serve, or pass --approve",
		         st->name);
	}
	salve_exec_audit(x, json_pack("{s:s, s:s, s:s, s:s}", "event", "approval", "step", st->name,
	                              "outcome", approved ? "approved" : "refused", "reason", why));
	if (approved)
		return 0;
	snprintf(err, errlen, "not approved: %s", why);
	return -1;
}

/* verify after run: in a dry-run it reads live state that was not changed, so a false
 * verify is a note, not a failure. -1 with err (and *tb) when it fails the step. */
static int verify(struct salve_exec *x, size_t index, json_t *rec, char *err, size_t errlen,
                  char **tb)
{
	char verr[4096] = "";
	char *vtb = NULL;
	int r = call_step(x, index, SALVE_FN_VERIFY, verr, sizeof verr, &vtb);
	if (r == 1) {
		free(vtb);
		return 0;
	}
	const char *said = r < 0                 ? verr
	                   : r == SALVE_CALL_NIL ? "verify returned nothing (missing return?)"
	                                         : "verify returned false";
	if (x->info.mode == SALVE_MODE_DRY_RUN) {
		char note[4200];
		snprintf(note, sizeof note, "%s (dry-run: the live state was not changed)", said);
		json_object_set_new(rec, "verify", json_string(r < 0 ? verr : note));
		free(vtb);
		return 0;
	}
	snprintf(err, errlen, "%s", said);
	*tb = vtb;
	return -1;
}

/* A drill whose --fail-at step would not run (its gate is shut) injects nothing: the run
 * says so and ends 64, unless --drill-force opens the gate (a dry-run only). Returns 1 when
 * the step goes on as if the gate had opened. */
static int drill_gate(struct salve_exec *x, const salve_step *st, const char *why, char *err,
                      size_t errlen)
{
	if (!x->opt->fail_at || strcmp(x->opt->fail_at, st->name) != 0)
		return 0;
	if (x->opt->drill_force) {
		salve_exec_say(x, "      %s: --drill-force runs it as if the gate had opened\n",
		               why);
		return 1;
	}
	x->not_injected = 1;
	snprintf(err, errlen,
	         "--fail-at %s: the step did not run (%s), so no failure was injected; "
	         "--drill-force (with --dry-run) runs its plan as if the gate had opened",
	         st->name, why);
	return 0;
}

/* The gates and the work of one step, in order. Returns its outcome, or NULL when it went
 * through (then changed or ok by what it did); err, note and *tb say more. */
static const char *step_body(struct salve_exec *x, size_t index, json_t *rec, char *err,
                             size_t errlen, const char **note, char **tb)
{
	const salve_step *st = &x->rb->steps[index];
	if (x->info.cancel && *x->info.cancel) {
		snprintf(err, errlen, "run interrupted by signal %d before the step started",
		         (int)*x->info.cancel);
		return "failed";
	}
	if (salve_step_has(st, SALVE_FN_WHEN)) {
		int r = call_step(x, index, SALVE_FN_WHEN, err, errlen, tb);
		if (r < 0)
			return "failed";
		if (r == 0 && !drill_gate(x, st, "when() was false", err, errlen)) {
			*note = "when() was false";
			return x->not_injected ? "failed" : "skipped";
		}
	}
	if (st->approve && approval(x, st, err, errlen) < 0)
		return "failed";
	if (salve_step_has(st, SALVE_FN_CHECK)) {
		int r = call_step(x, index, SALVE_FN_CHECK, err, errlen, tb);
		if (r < 0)
			return "failed";
		if (r == 1 && !drill_gate(x, st, "check held", err, errlen)) {
			*note = "check held: nothing to do";
			return x->not_injected ? "failed" : "ok";
		}
		if (!salve_step_has(st, SALVE_FN_RUN)) {
			snprintf(err, errlen, "check did not hold and step \"%s\" has no run",
			         st->name);
			return "failed";
		}
	}
	if (salve_step_has(st, SALVE_FN_RUN) &&
	    call_step(x, index, SALVE_FN_RUN, err, errlen, tb) < 0)
		return "failed";
	if (x->opt->fail_at && strcmp(x->opt->fail_at, st->name) == 0) {
		snprintf(err, errlen, "injected failure (--fail-at %s)", st->name);
		return "failed";
	}
	if (salve_step_has(st, SALVE_FN_VERIFY) && verify(x, index, rec, err, errlen, tb) < 0)
		return "failed";
	return NULL;
}

static const char *run_step(struct salve_exec *x, size_t index, json_t *rec)
{
	const salve_step *st = &x->rb->steps[index];
	x->step = st;
	x->rec = rec;
	x->step_journaled = 0;
	const double started = salve_now();
	x->deadline = step_deadline(x, st);
	char err[4096] = "";
	char *tb = NULL;
	const char *note = NULL;

	salve_exec_audit(x, json_pack("{s:s, s:s, s:I, s:i}", "event", "step_start", "step",
	                              st->name, "index", (json_int_t)index + 1, "line", st->line));
	const char *outcome = step_body(x, index, rec, err, sizeof err, &note, &tb);
	if (!outcome)
		outcome = json_array_size(json_object_get(rec, "changes")) ? "changed" : "ok";
	if (strcmp(outcome, "failed") == 0 && x->info.cancel && *x->info.cancel &&
	    !strstr(err, "interrupted by signal")) {
		char why[4096];
		snprintf(why, sizeof why, "run interrupted by signal %d: %s", (int)*x->info.cancel,
		         err);
		snprintf(err, sizeof err, "%s", why);
	}
	x->deadline = 0;
	json_object_set_new(rec, "outcome", json_string(outcome));
	if (note)
		json_object_set_new(rec, "note", json_string(note));
	if (err[0] && strcmp(outcome, "failed") == 0)
		json_object_set_new(rec, "error", json_string(err));
	json_t *end =
	    json_pack("{s:s, s:s, s:s}", "event", "step_end", "step", st->name, "outcome", outcome);
	json_object_set_new(rec, "duration_ms", json_real((salve_now() - started) * 1000.0));
	json_object_set(end, "duration_ms", json_object_get(rec, "duration_ms"));
	if (strcmp(outcome, "failed") == 0) {
		json_object_set_new(end, "error", json_string(err));
		if (tb) {
			json_object_set_new(end, "traceback", json_string(tb));
			salve_log(SALVE_LOG_DEBUG, "step %s: %s", st->name, tb); /* -v */
		}
	}
	if (note)
		json_object_set_new(end, "note", json_string(note));
	salve_exec_audit(x, end);
	free(tb);
	return outcome;
}

/* ---- a whole run --------------------------------------------------------------------------- */

static json_t *step_record(const salve_step *st, size_t index)
{
	return json_pack("{s:s, s:I, s:s, s:b, s:b, s:[], s:[]}", "name", st->name, "index",
	                 (json_int_t)index + 1, "outcome", "pending", "custom_rollback",
	                 salve_step_has(st, SALVE_FN_ROLLBACK), "rollback_disabled",
	                 st->rollback_disabled, "changes", "actions");
}

/* The journal's first record: what a recover needs to undo the run exactly as it ran. */
static json_t *journal_header(const struct salve_exec *x, const char *lock_key)
{
	const salve_runbook *rb = x->rb;
	char where[PATH_MAX], sha[65], started[40];
	if (strncmp(rb->source, "builtin:", 8) == 0 || !realpath(rb->source, where))
		snprintf(where, sizeof where, "%s", rb->source);
	salve_sha256_hex(rb->text ? rb->text : "", rb->text_len, sha);
	salve_timestamp(started, sizeof started);
	json_t *h =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:O, s:s, s:I, s:s}", "t", "run",
	              "run_id", x->run_id, "runbook", rb->name, "source", rb->source, "path", where,
	              "sha256", sha, "lock", lock_key, "params", x->opt->params, "trigger",
	              x->info.trigger, "pid", (json_int_t)getpid(), "started", started);
	if (x->opt->ha)
		json_object_set_new(h, "replica", json_string(salve_ha_run_replica(x->opt->ha)));
	json_t *text = json_stringn(rb->text ? rb->text : "", rb->text_len);
	if (text) {
		json_object_set_new(h, "text", text);
	} else {
		/* Not UTF-8 (a Latin-1 comment, say): kept byte for byte all the same. */
		char *b64 = malloc(4 * ((rb->text_len + 2) / 3) + 1);
		EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)rb->text,
		                (int)rb->text_len);
		json_object_set_new(h, "text_base64", json_string(b64));
		free(b64);
	}
	return h;
}

static int has_rollback_functions(const salve_runbook *rb)
{
	for (size_t i = 0; i < rb->nsteps; i++)
		if (salve_step_has(&rb->steps[i], SALVE_FN_ROLLBACK))
			return 1;
	return 0;
}

/* What a step's run left in s[step], journaled (redacted) so that salve recover can hand the
 * rollback functions the same s. */
static void journal_step_result(struct salve_exec *x, size_t index)
{
	if (!x->journal || !has_rollback_functions(x->rb))
		return;
	const char *name = x->rb->steps[index].name;
	char why[512];
	json_t *value = salve_runbook_step_result(x->rb, index, why, sizeof why);
	if (!value && !why[0])
		return; /* the step left nothing */
	char err[512];
	json_t *rec =
	    value ? json_pack("{s:s, s:s, s:o}", "t", "result", "step", name, "value", value)
	          : json_pack("{s:s, s:s, s:s}", "t", "result", "step", name, "unavailable", why);
	salve_redact_json(rec);
	salve_exec_journal(x, rec, err, sizeof err);
}

/* Before step 1: the lock's dead predecessor recovered, run_start audited, the journal
 * created. 0 to go on, or the exit status (*refused set when the run was refused). */
static int run_begin(struct salve_exec *x, const json_t *params_audit, const char **refused)
{
	const salve_runbook *rb = x->rb;
	const salve_run_options *o = x->opt;
	const int dry = o->mode == SALVE_MODE_DRY_RUN;
	char lock_key[1024] = "", why[4600];
	int code;
	if (!dry && rb->lock) {
		/* The caller holds this lock (salve run, salve serve). With ha:, its etcd lock
		 * found and recovered a dead holder (launch.c). */
		if (salve_lock_key(rb->lock, o->params, lock_key, sizeof lock_key, why,
		                   sizeof why) < 0) {
			lock_key[0] = '\0';
		} else if (!o->ha &&
		           (code = salve_recover_lock_predecessors(x, lock_key, why, sizeof why))) {
			salve_exec_say(x, "salve: %s: nothing was run\n", why);
			salve_exec_audit(
			    x, json_pack("{s:s, s:s, s:s, s:s, s:s}", "event", "run_refused",
			                 "reason", "previous holder of the lock not recovered",
			                 "lock", lock_key, "error", why, "source", rb->source));
			*refused = "refused";
			return code;
		}
	}
	salve_exec_say(x, "salve: run %s of %s (%s%s), %zu step%s\n", x->run_id, rb->name,
	               dry ? "dry-run: nothing will be changed" : "apply",
	               x->info.drill ? ", drill" : "", rb->nsteps, rb->nsteps == 1 ? "" : "s");
	if (salve_exec_audit(x, json_pack("{s:s, s:s, s:O, s:I, s:s?, s:O?}", "event", "run_start",
	                                  "source", rb->source, "params", params_audit, "steps",
	                                  (json_int_t)rb->nsteps, "fail_at", o->fail_at, "who",
	                                  o->who)) < 0) {
		salve_exec_say(x, "salve: the audit log cannot be written: nothing was run\n");
		return SALVE_EXIT_IOERR;
	}
	if (dry)
		return 0;
	json_t *header = journal_header(x, lock_key[0] ? lock_key : NULL);
	x->journal = salve_journal_create(o->state_dir, x->run_id, header, why, sizeof why);
	json_decref(header);
	if (!x->journal) {
		salve_exec_say(x, "salve: %s: nothing was run\n", why);
		salve_exec_audit(x, json_pack("{s:s, s:s, s:s}", "event", "run_end", "outcome",
		                              "error", "error", why));
		return SALVE_EXIT_CANTCREAT;
	}
	if (o->ha &&
	    salve_journal_set_mirror(x->journal, salve_exec_mirror, x, 1, why, sizeof why) < 0) {
		salve_exec_say(
		    x, "salve: the journal cannot be written to etcd (%s): nothing was run\n", why);
		salve_exec_audit(x, json_pack("{s:s, s:s, s:s}", "event", "run_end", "outcome",
		                              "error", "error", why));
		salve_journal_close(x->journal, 1);
		x->journal = NULL;
		return SALVE_EXIT_TEMPFAIL;
	}
	return 0;
}

/* With ha: a step starts only while this replica's lease is trusted; when it is not, etcd
 * is asked whether the run is still ours (fenced: another replica took it over). 0 to go
 * on, or -1 with why. */
static int ha_gate(struct salve_exec *x, char *why, size_t whylen)
{
	salve_ha_run *r = x->opt->ha;
	if (!r ||
	    salve_ha_session_valid(salve_ha_run_session(r), salve_ha_run_lease(r), why, whylen))
		return 0;
	if (salve_exec_fenced(x, 1))
		snprintf(why, whylen, "another replica owns the run now: no step starts here");
	return -1;
}

static const char *step_refused(struct salve_exec *x, json_t *rec, const char *why)
{
	json_object_set_new(rec, "outcome", json_string("failed"));
	json_object_set_new(rec, "error", json_string(why));
	json_object_set_new(rec, "duration_ms", json_real(0));
	salve_exec_audit(x, json_pack("{s:s, s:O, s:s, s:s}", "event", "step_end", "step",
	                              json_object_get(rec, "name"), "outcome", "failed", "error",
	                              why));
	return "failed";
}

/* Runs the steps in order; after a failure the rest are skipped. 1 when one failed. */
static int run_steps(struct salve_exec *x, json_t *steps)
{
	const salve_runbook *rb = x->rb;
	const int dry = x->info.mode == SALVE_MODE_DRY_RUN;
	int failed = 0;
	for (size_t i = 0; i < rb->nsteps; i++) {
		const char *name = rb->steps[i].name;
		json_t *rec = step_record(&rb->steps[i], i);
		json_array_append_new(steps, rec);
		if (failed) {
			json_object_set_new(rec, "outcome", json_string("skipped"));
			json_object_set_new(rec, "note", json_string("an earlier step failed"));
			salve_exec_audit(x, json_pack("{s:s, s:s, s:s, s:s}", "event", "step_end",
			                              "step", name, "outcome", "skipped", "note",
			                              "an earlier step failed"));
			salve_exec_say(x, "[%zu/%zu] %-28s skipped (an earlier step failed)\n",
			               i + 1, rb->nsteps, name);
			continue;
		}
		salve_notices_on(x, SALVE_MOMENT_STEP, NULL, NULL);
		x->held = json_array();
		char gate[1024];
		const char *outcome = ha_gate(x, gate, sizeof gate) ? step_refused(x, rec, gate)
		                                                    : run_step(x, i, rec);
		json_t *held = x->held;
		x->held = NULL;
		journal_step_result(x, i);
		double ms = json_real_value(json_object_get(rec, "duration_ms"));
		const char *note = json_string_value(json_object_get(rec, "note"));
		salve_exec_say(x, "[%zu/%zu] %-28s %-8s %8.1f ms%s%s%s\n", i + 1, rb->nsteps, name,
		               outcome, ms,
		               dry && strcmp(outcome, "changed") == 0 ? "  (planned)" : "",
		               note ? "  " : "", note ? note : "");
		x->held = held;
		salve_exec_release(x);
		if (json_object_get(rec, "verify"))
			salve_exec_say(x, "      note: %s\n",
			               json_string_value(json_object_get(rec, "verify")));
		if (strcmp(outcome, "failed") == 0) {
			const char *error = json_string_value(json_object_get(rec, "error"));
			salve_exec_say(x, "      error: %s\n", error);
			failed = 1;
			salve_notices_on(x, SALVE_MOMENT_STEP_FAILED, name, error);
		}
		if (x->io_failed && !failed) {
			json_object_set_new(rec, "outcome", json_string("failed"));
			json_object_set_new(
			    rec, "error",
			    json_string("the audit log or journal could not be written"));
			failed = 1;
		}
	}
	return failed;
}

static const char *summary_outcome(const char *refused, int code)
{
	return refused                                  ? refused
	       : code == SALVE_EXIT_DEGRADED            ? "degraded"
	       : code == SALVE_EXIT_OK                  ? "success"
	       : code == SALVE_EXIT_ROLLED_BACK         ? "rolled_back"
	       : code == SALVE_EXIT_ROLLBACK_INCOMPLETE ? "rollback_incomplete"
	                                                : "error";
}

/* Another replica took the run over (this one's lease ended while it ran): it rolls the run
 * back, so this one stops here, changing and writing nothing more in etcd. The local journal
 * goes (the run is not this replica's to recover); the audit log says what happened. */
static int run_fenced(struct salve_exec *x, double t0)
{
	x->info.outcome = "taken_over";
	salve_journal_close(x->journal, 1);
	x->journal = NULL;
	double ms = (salve_now() - t0) * 1000.0;
	salve_exec_audit(
	    x, json_pack("{s:s, s:s, s:i, s:f, s:s}", "event", "run_end", "outcome", "taken_over",
	                 "exit_code", SALVE_EXIT_TEMPFAIL, "duration_ms", ms, "note",
	                 "fenced out: another replica owns the run and rolls it back"));
	salve_exec_say(x,
	               "salve: taken_over (exit %d) in %.1f ms: another replica owns the run now "
	               "and rolls it back; nothing more was changed here\n",
	               SALVE_EXIT_TEMPFAIL, ms);
	return SALVE_EXIT_TEMPFAIL;
}

/* After the steps: rollback when one failed, the outcome made durable, then told, audited
 * and printed. Returns the exit status. */
static int run_finish(struct salve_exec *x, json_t *steps, int failed, double t0)
{
	const int dry = x->info.mode == SALVE_MODE_DRY_RUN;
	int code = SALVE_EXIT_OK, incomplete = 0;
	int fenced = salve_exec_fenced(x, failed);
	if (failed && !fenced) {
		salve_exec_say(x, "salve: a step failed: rolling back%s\n",
		               dry ? " (planned: dry-run)" : "");
		incomplete = salve_rollback_all(x, steps) < 0;
		code = incomplete ? SALVE_EXIT_ROLLBACK_INCOMPLETE : SALVE_EXIT_ROLLED_BACK;
		fenced = salve_exec_fenced(x, 0);
	}
	if (fenced)
		return run_fenced(x, t0);
	int degraded = !failed && json_array_size(x->degraded) > 0;
	const char *outcome = degraded     ? "degraded"
	                      : !failed    ? "success"
	                      : incomplete ? "rollback_incomplete"
	                                   : "rolled_back";
	if (degraded)
		code = SALVE_EXIT_DEGRADED;
	x->info.outcome = outcome;
	if (x->journal) {
		/* Durable before anyone hears of the outcome: a kill from here on leaves a
		 * journal that salve recover knows is finished (and never rolls back). */
		char err[512];
		salve_exec_journal(x, json_pack("{s:s, s:s}", "t", "end", "outcome", outcome), err,
		                   sizeof err);
		if (salve_exec_fenced(x, 0))
			return run_fenced(x, t0);
	}
	salve_notices_on(x, SALVE_MOMENT_END, NULL, NULL);
	salve_notices_on(x, SALVE_MOMENT_FINISHED, NULL, NULL);
	if (x->io_failed && code != SALVE_EXIT_ROLLBACK_INCOMPLETE)
		code = SALVE_EXIT_IOERR;
	if (x->not_injected && code == SALVE_EXIT_ROLLED_BACK)
		code = SALVE_EXIT_USAGE; /* the drill rehearsed nothing */
	double ms = (salve_now() - t0) * 1000.0;
	salve_exec_audit(x, json_pack("{s:s, s:s, s:i, s:f}", "event", "run_end", "outcome",
	                              outcome, "exit_code", code, "duration_ms", ms));
	if (x->journal) {
		/* Kept when something is left to undo: salve recover can try again. */
		salve_journal_close(x->journal, !incomplete);
		x->journal = NULL;
	}
	/* A run that lost audit or journal records (a full disk) says so, whatever its steps
	 * did; only an incomplete rollback, which needs a human first, says more. */
	if (x->io_failed && code != SALVE_EXIT_ROLLBACK_INCOMPLETE)
		code = SALVE_EXIT_IOERR;
	salve_exec_say(x, "salve: %s%s (exit %d) in %.1f ms\n", outcome,
	               dry ? " (dry-run: nothing was changed)" : "", code, ms);
	if (incomplete)
		salve_exec_say(x,
		               "salve: ROLLBACK INCOMPLETE: see the errors above and the audit "
		               "log %s; `salve recover` retries what is left\n",
		               salve_audit_path(x->opt->audit));
	return code;
}

int salve_engine_run(salve_runbook *rb, const salve_run_options *o, json_t **summary)
{
	struct salve_exec x;
	salve_exec_init(&x, rb, rb->reg, o, o->params);
	double t0 = salve_now();
	json_t *steps = json_array();
	json_t *params_audit = json_deep_copy(o->params);
	salve_redact_json(params_audit);
	const char *refused = NULL;
	int code = run_begin(&x, params_audit, &refused);
	if (!code) {
		double run_timeout = o->run_timeout > 0 ? o->run_timeout : rb->timeout;
		x.run_deadline = run_timeout > 0 ? t0 + run_timeout : 0;
		salve_notices_on(&x, SALVE_MOMENT_START, NULL, NULL);
		int failed = run_steps(&x, steps);
		code = run_finish(&x, steps, failed, t0);
	}
	if (summary) {
		*summary =
		    json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:i, s:f, s:O}", "run_id", x.run_id,
		              "runbook", rb->name, "source", rb->source, "mode",
		              o->mode == SALVE_MODE_DRY_RUN ? "dry-run" : "apply", "drill",
		              x.info.drill, "outcome", summary_outcome(refused, code), "exit_code",
		              code, "duration_ms", (salve_now() - t0) * 1000.0, "steps", steps);
		salve_redact_json(*summary);
	}
	json_decref(params_audit);
	json_decref(steps);
	salve_exec_fini(&x);
	return code;
}
