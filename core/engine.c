#include "engine.h"

#include <lauxlib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcodes.h"
#include "host.h"
#include "journal.h"
#include "luajson.h"
#include "redact.h"
#include "schema.h"
#include "util.h"

#define DEFAULT_ROLLBACK_TIMEOUT 600.0

struct salve_exec {
	salve_runbook *rb;
	const salve_run_options *opt;
	salve_run_info info;
	char run_id[64];
	salve_journal *journal;
	enum salve_phase phase;
	const salve_step *step;
	json_t *rec;        /* the current step's record (borrowed from steps) */
	int step_journaled; /* the step record is in the journal */
	double deadline;    /* current deadline (monotonic), 0 = none */
	double run_deadline;
	long next_change_id;
	int p_ref, s_ref;
	int io_failed; /* the audit log or journal could not be written */
	/* Escalation: the first successful page of the run, through a plugin that offers
	 * page, escalate and escalation_policy (notify). */
	double paged_at;
	salve_loaded_plugin *pager;
	char page_summary[512];
	json_t *escalation; /* the plugin's escalation_policy, fetched at the first page */
	json_t *degraded;   /* [{step, message}] reported by degraded() */
	size_t escalated;   /* levels sent so far */
	char interrupt[256];
};

/* ---- output ---------------------------------------------------------------------------- */

static void say(const struct salve_exec *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(const struct salve_exec *x, const char *fmt, ...)
{
	if (!x->opt || !x->opt->out)
		return;
	char raw[8192], safe[8192], shown[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	salve_redact_string(raw, safe, sizeof safe);
	/* Our formats end lines; newlines inside arguments (remote stderr, labels) are escaped. */
	size_t body = strlen(safe);
	while (body > 0 && safe[body - 1] == '\n')
		body--;
	size_t newlines = strlen(safe) - body;
	safe[body] = '\0';
	salve_escape_controls(safe, shown, sizeof shown, 1);
	salve_progress_clear();
	fputs(shown, x->opt->out);
	for (size_t i = 0; i < newlines; i++)
		fputc('\n', x->opt->out);
	fflush(x->opt->out);
}

/* Compact one-line JSON for people, cut at max bytes. */
static void brief(const json_t *v, char *buf, size_t len)
{
	char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	if (!s) {
		snprintf(buf, len, "-");
		return;
	}
	salve_redact_string(s, buf, len);
	if (strlen(s) >= len && len > 4)
		strcpy(buf + len - 4, "...");
	free(s);
}

static int audit(struct salve_exec *x, json_t *rec)
{
	if (x->opt && x->opt->on_event) {
		json_object_set_new(rec, "run", json_string(x->info.run_id));
		x->opt->on_event(x->opt->ctx, rec);
	}
	if (salve_run_audit(&x->info, rec) < 0) {
		x->io_failed = 1;
		return -1;
	}
	return 0;
}

static int journal(struct salve_exec *x, json_t *rec, char *err, size_t errlen)
{
	if (!x->journal) {
		json_decref(rec);
		return 0;
	}
	if (salve_journal_append(x->journal, rec, err, errlen) < 0) {
		x->io_failed = 1;
		return -1;
	}
	return 0;
}

/* ---- hooks the runbook module calls ------------------------------------------------------ */

const char *salve_exec_interrupt(salve_runbook *rb)
{
	struct salve_exec *x = rb->exec;
	if (!x)
		return NULL;
	if (!x->info.ignore_cancel && x->info.cancel && *x->info.cancel) {
		snprintf(x->interrupt, sizeof x->interrupt, "run interrupted by signal %d",
		         (int)*x->info.cancel);
		return x->interrupt;
	}
	if (x->deadline > 0 && salve_now() > x->deadline) {
		snprintf(x->interrupt, sizeof x->interrupt, "step \"%s\" passed its deadline",
		         x->step ? x->step->name : "?");
		return x->interrupt;
	}
	return NULL;
}

static const char *phase_name(enum salve_phase p)
{
	static const char *const names[] = {"load",   "when",     "check",    "run",
	                                    "verify", "rollback", "lifecycle"};
	return names[p];
}

static const char *target_of(const salve_action *a, const json_t *args, char *buf, size_t len)
{
	if (!a->target_arg)
		return NULL;
	json_t *t = json_object_get(args, a->target_arg);
	if (json_is_string(t))
		return json_string_value(t);
	if (json_is_array(t) || json_is_object(t) || json_is_integer(t)) {
		brief(t, buf, len);
		return buf;
	}
	return NULL;
}

static void mark(json_t *result, const char *key, int value)
{
	if (json_is_object(result))
		json_object_set_new(result, key, json_boolean(value));
}

/* Appends a change to the current step record; returns the change (borrowed). */
static json_t *add_change(struct salve_exec *x, long id, const salve_loaded_plugin *p,
                          const salve_action *a, const char *target, const char *state)
{
	json_t *changes = json_object_get(x->rec, "changes");
	json_t *c = json_pack("{s:I, s:s, s:s, s:s?, s:s}", "id", (json_int_t)id, "plugin",
	                      p->desc.name, "action", a->name, "target", target, "state", state);
	json_array_append_new(changes, c);
	return c;
}

static int journal_step(struct salve_exec *x, char *err, size_t errlen)
{
	if (x->step_journaled || !x->journal)
		return 0;
	x->step_journaled = 1;
	return journal(x,
	               json_pack("{s:s, s:s, s:I, s:b, s:b}", "t", "step", "step", x->step->name,
	                         "index", json_integer_value(json_object_get(x->rec, "index")),
	                         "custom_rollback", x->step->rollback != LUA_NOREF,
	                         "rollback_disabled", x->step->rollback_disabled),
	               err, errlen);
}

int salve_exec_action(salve_runbook *rb, salve_loaded_plugin *plugin, const salve_action *a,
                      json_t *args, const char *where, json_t **result, char *err, size_t errlen)
{
	struct salve_exec *x = rb->exec;
	const char *pname = plugin->desc.name;
	*result = NULL;
	if (!x || x->phase == SALVE_PHASE_LOAD) {
		snprintf(err, errlen, "%s %s.%s: actions run only inside a step's functions", where,
		         pname, a->name);
		return -1;
	}
	if ((x->phase == SALVE_PHASE_WHEN || x->phase == SALVE_PHASE_CHECK) &&
	    a->kind != SALVE_READ) {
		snprintf(err, errlen,
		         "%s %s.%s is a %s action: only read actions may run in a step's %s", where,
		         pname, a->name, salve_kind_name(a->kind), phase_name(x->phase));
		return -1;
	}
	if (x->phase == SALVE_PHASE_LIFECYCLE && a->kind == SALVE_MUTATE) {
		snprintf(err, errlen, "%s %s.%s: lifecycle hooks only notify", where, pname,
		         a->name);
		return -1;
	}
	if (x->phase == SALVE_PHASE_VERIFY && a->kind == SALVE_MUTATE) {
		snprintf(err, errlen, "%s %s.%s changes things: verify may only read and notify",
		         where, pname, a->name);
		return -1;
	}
	char why[1024];
	if (salve_args_validate(a->args, args, why, sizeof why) < 0) {
		snprintf(err, errlen, "%s %s.%s: %s", where, pname, a->name, why);
		return -1;
	}
	if (!plugin->initialized) {
		enum salve_registry_error rerr;
		if (!salve_registry_get(rb->reg, pname, 1, &rerr, why, sizeof why)) {
			snprintf(err, errlen, "%s %s", where, why);
			return -1;
		}
	}
	char tbuf[512];
	const char *target = target_of(a, args, tbuf, sizeof tbuf);
	struct salve_call call;
	memset(&call, 0, sizeof call);
	call.run = &x->info;
	call.plugin = plugin;
	call.action = a;
	call.step = x->step ? x->step->name : NULL;
	call.deadline = x->deadline;

	const int dry = x->info.mode == SALVE_MODE_DRY_RUN;
	const char *outcome = "ok";
	int rc = SALVE_OK;
	json_t *out = NULL, *undo = NULL;
	double t0 = salve_now();
	json_t *actions = json_object_get(x->rec, "actions");

	switch (a->kind) {
	case SALVE_READ:
		rc = a->run(&call, args, &out);
		break;
	case SALVE_NOTIFY:
		if (dry && !x->info.drill) {
			json_t *msg = NULL;
			if (a->render)
				rc = a->render(&call, args, &msg);
			char line[2048];
			brief(msg ? msg : args, line, sizeof line);
			say(x, "      would notify %s.%s: %s\n", pname, a->name, line);
			out = json_pack("{s:b, s:b, s:o}", "sent", 0, "planned", 1, "message",
			                msg ? msg : json_deep_copy(args));
			outcome = "planned";
		} else {
			rc = a->run(&call, args, &out);
			outcome = "sent";
		}
		break;
	case SALVE_MUTATE: {
		json_t *observed = NULL;
		rc = a->check(&call, args, &observed);
		if (rc == SALVE_HOLDS) {
			rc = SALVE_OK;
			out = observed ? observed : json_object();
			mark(out, "changed", 0);
			outcome = "held";
			break;
		}
		if (rc < 0) {
			json_decref(observed);
			break;
		}
		call.observed = observed; /* for plan/apply (host->observed); freed below */
		if (dry) {
			rc = a->plan(&call, args, &out);
			if (rc >= 0) {
				if (!out)
					out = json_object();
				mark(out, "changed", 1);
				mark(out, "planned", 1);
				outcome = "planned";
				char line[2048];
				brief(out, line, sizeof line);
				say(x, "      would %s.%s%s%s: %s\n", pname, a->name,
				    target ? " " : "", target ? target : "", line);
				if (x->phase != SALVE_PHASE_ROLLBACK)
					add_change(x, ++x->next_change_id, plugin, a, target,
					           "planned");
			}
			break;
		}
		/* Apply. The intent is durable before the plugin touches anything. */
		long id = ++x->next_change_id;
		int rolling_back = x->phase == SALVE_PHASE_ROLLBACK;
		if (!rolling_back) {
			if (journal_step(x, why, sizeof why) < 0 ||
			    journal(x,
			            json_pack("{s:s, s:I, s:s, s:s, s:s, s:s?}", "t", "intent",
			                      "id", (json_int_t)id, "step", call.step, "plugin",
			                      pname, "action", a->name, "target", target),
			            why, sizeof why) < 0) {
				snprintf(err, errlen, "%s %s.%s not applied: %s", where, pname,
				         a->name, why);
				json_decref(call.observed);
				return -1;
			}
		}
		rc = a->apply(&call, args, &out, &undo);
		if (rolling_back) {
			json_decref(undo);
			undo = NULL;
		} else if (undo) {
			json_t *c = add_change(x, id, plugin, a, target, "applied");
			json_object_set(c, "undo", undo);
			journal(x,
			        json_pack("{s:s, s:I, s:s, s:s, s:s, s:s?, s:O}", "t", "undo", "id",
			                  (json_int_t)id, "step", call.step, "plugin", pname,
			                  "action", a->name, "target", target, "undo", undo),
			        why, sizeof why);
		} else if (rc >= 0) {
			json_t *c = add_change(x, id, plugin, a, target, "applied");
			json_object_set_new(c, "no_undo", json_true());
			journal(
			    x,
			    json_pack("{s:s, s:I}", "t", "applied_no_undo", "id", (json_int_t)id),
			    why, sizeof why);
		} else {
			journal(x,
			        json_pack("{s:s, s:I}", "t", "not_applied", "id", (json_int_t)id),
			        why, sizeof why);
		}
		if (rc >= 0) {
			if (!out)
				out = json_object();
			mark(out, "changed", 1);
			outcome = "changed";
		}
		break;
	}
	}
	json_decref(call.observed);
	double ms = (salve_now() - t0) * 1000.0;
	if (rc < 0) {
		outcome = "failed";
		if (!call.error[0])
			snprintf(call.error, sizeof call.error,
			         "failed (status %d) without a reason", rc);
	}
	char safe_error[2048];
	salve_redact_string(call.error, safe_error, sizeof safe_error);
	json_t *audit_args = salve_args_for_audit(a->args, args);
	json_t *rec =
	    json_pack("{s:s, s:s?, s:s, s:s, s:s, s:s, s:s?, s:s, s:f, s:o}", "event", "action",
	              "step", call.step, "phase", phase_name(x->phase), "plugin", pname, "action",
	              a->name, "kind", salve_kind_name(a->kind), "target", target, "outcome",
	              outcome, "duration_ms", ms, "args", audit_args);
	if (out)
		json_object_set(rec, "result", out);
	if (undo)
		json_object_set(rec, "undo", undo);
	if (rc < 0)
		json_object_set_new(rec, "error", json_string(safe_error));
	int audit_rc = audit(x, rec);
	if (actions)
		json_array_append_new(actions, json_pack("{s:s, s:s, s:s?, s:s, s:f}", "plugin",
		                                         pname, "action", a->name, "target", target,
		                                         "outcome", outcome, "duration_ms", ms));
	json_decref(undo);
	if (rc < 0) {
		json_decref(out);
		snprintf(err, errlen, "%s %s.%s%s%s: %s", where, pname, a->name, target ? " " : "",
		         target ? target : "", safe_error);
		return -1;
	}
	if (audit_rc < 0 && !dry) {
		json_decref(out);
		snprintf(err, errlen, "%s %s.%s: the audit log cannot be written; stopping", where,
		         pname, a->name);
		return -1;
	}
	if (!x->paged_at && strcmp(a->name, "page") == 0 &&
	    salve_plugin_action(plugin, "escalate") &&
	    salve_plugin_action(plugin, "escalation_policy") && strcmp(outcome, "sent") == 0) {
		x->paged_at = salve_now();
		x->pager = plugin;
		snprintf(x->page_summary, sizeof x->page_summary, "%s",
		         json_string_value(json_object_get(args, "summary"))
		             ? json_string_value(json_object_get(args, "summary"))
		             : "salve paged");
	}
	*result = out ? out : json_object();
	return 0;
}

/* Sends the escalation levels that are due: level N goes out when the run has not succeeded
 * after_seconds after it paged. Called between steps, during rollback and at the end. */
static void escalate_due(struct salve_exec *x, int final)
{
	if (!x->paged_at || !x->pager || !strcmp(x->info.outcome, "success"))
		return;
	char err[2048];
	enum salve_phase saved = x->phase;
	x->phase = SALVE_PHASE_LIFECYCLE;
	if (!x->escalation) {
		json_t *args = json_object();
		if (salve_exec_action(x->rb, x->pager,
		                      salve_plugin_action(x->pager, "escalation_policy"), args,
		                      "escalation:", &x->escalation, err, sizeof err) < 0) {
			salve_log(SALVE_LOG_WARN, "escalation policy unavailable: %s", err);
			x->escalation = json_array();
		}
		json_decref(args);
	}
	double elapsed = salve_now() - x->paged_at;
	for (size_t i = x->escalated; i < json_array_size(x->escalation); i++) {
		json_t *level = json_array_get(x->escalation, i);
		double after = json_number_value(json_object_get(level, "after_seconds"));
		if (after > elapsed) {
			if (final) {
				say(x,
				    "salve: escalation level %zu (due %.0f s after the page) not "
				    "sent: the run "
				    "ended first\n",
				    i + 1, after);
				audit(x, json_pack("{s:s, s:I, s:f, s:s}", "event",
				                   "escalation_pending", "level", (json_int_t)i + 1,
				                   "after_seconds", after, "reason",
				                   "the run ended before the level was due"));
			}
			continue;
		}
		json_t *args = json_pack("{s:I, s:s, s:s}", "level", (json_int_t)i + 1, "summary",
		                         x->page_summary, "outcome", x->info.outcome);
		json_t *res = NULL;
		if (salve_exec_action(x->rb, x->pager, salve_plugin_action(x->pager, "escalate"),
		                      args, "escalation:", &res, err, sizeof err) < 0)
			salve_log(SALVE_LOG_WARN, "escalation level %zu not sent: %s", i + 1, err);
		json_decref(res);
		json_decref(args);
		x->escalated = i + 1;
	}
	x->phase = saved;
}

int salve_exec_degraded(salve_runbook *rb, const char *where, const char *message, char *err,
                        size_t errlen)
{
	struct salve_exec *x = rb->exec;
	if (!x || x->phase == SALVE_PHASE_LOAD || !x->step) {
		snprintf(err, errlen, "%sdegraded() can only be called inside a step", where);
		return -1;
	}
	if (!x->degraded)
		x->degraded = json_array();
	json_array_append_new(x->degraded,
	                      json_pack("{s:s, s:s}", "step", x->step->name, "message", message));
	say(x, "      degraded: %s\n", message);
	audit(x, json_pack("{s:s, s:s, s:s}", "event", "degraded", "step", x->step->name, "message",
	                   message));
	return 0;
}

/* ---- calling runbook functions ------------------------------------------------------------ */

static int traceback_handler(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	if (!msg)
		msg = luaL_tolstring(L, 1, NULL);
	luaL_traceback(L, L, msg, 1);
	return 1;
}

/* Calls function ref(p, s[, s[step]]) in phase. Returns 1 truthy, 0 falsy, -1 error (message
 * and traceback in err / *traceback, a new string). With keep != 0 the first result is left
 * stored in s[step]. */
static int call_fn(struct salve_exec *x, enum salve_phase phase, int ref, int with_result, int keep,
                   char *err, size_t errlen, char **traceback)
{
	lua_State *L = x->rb->L;
	int base = lua_gettop(L);
	x->phase = phase;
	lua_pushcfunction(L, traceback_handler);
	lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
	lua_rawgeti(L, LUA_REGISTRYINDEX, x->p_ref);
	lua_rawgeti(L, LUA_REGISTRYINDEX, x->s_ref);
	int nargs = 2;
	if (with_result) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, x->s_ref);
		lua_getfield(L, -1, x->step->name);
		lua_remove(L, -2);
		nargs = 3;
	}
	int rc = lua_pcall(L, nargs, 1, base + 1);
	int truthy = -1;
	if (rc == LUA_OK) {
		truthy = lua_toboolean(L, -1);
		if (keep) {
			lua_rawgeti(L, LUA_REGISTRYINDEX, x->s_ref);
			lua_pushvalue(L, -2);
			lua_setfield(L, -2, x->step->name);
			lua_pop(L, 1);
		}
	} else {
		const char *msg = lua_tostring(L, -1);
		char full[8192];
		snprintf(full, sizeof full, "%s", msg ? msg : "error object is not a string");
		char *tb = strstr(full, "\nstack traceback:");
		if (tb) {
			if (traceback)
				*traceback = salve_redact_dup(tb + 1);
			*tb = '\0';
		}
		salve_redact_string(full, err, errlen);
	}
	lua_settop(L, base);
	return truthy;
}

/* ---- one step ------------------------------------------------------------------------------ */

static double step_deadline(const struct salve_exec *x, const salve_step *st)
{
	double timeout = st->timeout > 0 ? st->timeout : x->opt->step_timeout;
	double d = timeout > 0 ? salve_now() + timeout : 0;
	if (x->run_deadline > 0 && (d == 0 || x->run_deadline < d))
		d = x->run_deadline;
	return d;
}

/* A dry-run changes nothing, so it asks nobody; it says it would. */
static int dry_run_skips_approval(const struct salve_exec *x)
{
	if (x->info.mode != SALVE_MODE_DRY_RUN)
		return 0;
	say(x, "      would ask for approval of step \"%s\"\n", x->step->name);
	return 1;
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
	const char *outcome = NULL;
	const char *note = NULL;

	audit(x, json_pack("{s:s, s:s, s:I, s:i}", "event", "step_start", "step", st->name, "index",
	                   (json_int_t)index + 1, "line", st->line));
	if (x->info.cancel && *x->info.cancel) {
		snprintf(err, sizeof err, "run interrupted by signal %d before the step started",
		         (int)*x->info.cancel);
		outcome = "failed";
	}
	if (!outcome && st->when != LUA_NOREF) {
		int r = call_fn(x, SALVE_PHASE_WHEN, st->when, 0, 0, err, sizeof err, &tb);
		if (r < 0)
			outcome = "failed";
		else if (r == 0) {
			outcome = "skipped";
			note = "when() was false";
		}
	}
	if (!outcome && st->approve && !dry_run_skips_approval(x)) {
		char why[1024] = "";
		int approved = 0;
		audit(x, json_pack("{s:s, s:s, s:O}", "event", "approval_requested", "step",
		                   st->name, "approve", st->approve));
		if (x->opt->approve_all) {
			approved = 1;
			snprintf(why, sizeof why, "approved on the command line (--approve)");
		} else if (x->opt->approve) {
			approved = x->opt->approve(x->opt->ctx, x->info.run_id, st->name,
			                           st->approve, why, sizeof why);
		} else {
			snprintf(why, sizeof why,
			         "step \"%s\" needs approval: run it under salve serve, or pass "
			         "--approve",
			         st->name);
		}
		audit(x, json_pack("{s:s, s:s, s:s, s:s}", "event", "approval", "step", st->name,
		                   "outcome", approved ? "approved" : "refused", "reason", why));
		if (!approved) {
			snprintf(err, sizeof err, "not approved: %s", why);
			outcome = "failed";
		}
	}
	if (!outcome && st->check != LUA_NOREF) {
		int r = call_fn(x, SALVE_PHASE_CHECK, st->check, 0, 0, err, sizeof err, &tb);
		if (r < 0)
			outcome = "failed";
		else if (r == 1) {
			outcome = "ok";
			note = "check held: nothing to do";
		} else if (st->run == LUA_NOREF) {
			snprintf(err, sizeof err, "check did not hold and step \"%s\" has no run",
			         st->name);
			outcome = "failed";
		}
	}
	if (!outcome && st->run != LUA_NOREF) {
		if (call_fn(x, SALVE_PHASE_RUN, st->run, 0, 1, err, sizeof err, &tb) < 0)
			outcome = "failed";
	}
	if (!outcome && x->opt->fail_at && strcmp(x->opt->fail_at, st->name) == 0) {
		snprintf(err, sizeof err, "injected failure (--fail-at %s)", st->name);
		outcome = "failed";
	}
	if (!outcome && st->verify != LUA_NOREF) {
		char verr[4096] = "";
		char *vtb = NULL;
		int r = call_fn(x, SALVE_PHASE_VERIFY, st->verify, 1, 0, verr, sizeof verr, &vtb);
		if (r != 1) {
			if (x->info.mode == SALVE_MODE_DRY_RUN) {
				/* Verify reads live state, which a dry-run did not change. */
				json_object_set_new(
				    rec, "verify",
				    json_string(r < 0 ? verr
				                      : "verify was false (dry-run: the "
				                        "live state was not changed)"));
				free(vtb);
			} else {
				snprintf(err, sizeof err, "%s",
				         r < 0 ? verr : "verify returned false");
				tb = vtb;
				outcome = "failed";
			}
		} else {
			free(vtb);
		}
	}
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
		if (tb)
			json_object_set_new(end, "traceback", json_string(tb));
	}
	if (note)
		json_object_set_new(end, "note", json_string(note));
	audit(x, end);
	free(tb);
	return outcome;
}

/* ---- rollback ------------------------------------------------------------------------------ */

static int has_pending(const json_t *rec)
{
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(rec, "changes"), i, c)
	{
		const char *s = json_string_value(json_object_get(c, "state"));
		if (strcmp(s, "undone") != 0)
			return 1;
	}
	return 0;
}

static int undo_change(struct salve_exec *x, json_t *c, char *err, size_t errlen)
{
	const char *state = json_string_value(json_object_get(c, "state"));
	const char *pname = json_string_value(json_object_get(c, "plugin"));
	const char *aname = json_string_value(json_object_get(c, "action"));
	const char *target = json_string_value(json_object_get(c, "target"));
	json_int_t id = json_integer_value(json_object_get(c, "id"));
	if (strcmp(state, "undone") == 0)
		return 0;
	if (strcmp(state, "planned") == 0) {
		say(x, "      would undo %s.%s%s%s\n", pname, aname, target ? " " : "",
		    target ? target : "");
		json_object_set_new(c, "state", json_string("undone"));
		return 0;
	}
	if (json_is_true(json_object_get(c, "no_undo"))) {
		say(x, "      %s.%s%s%s cannot be undone (declared by the plugin): left as it is\n",
		    pname, aname, target ? " " : "", target ? target : "");
		audit(x, json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s}", "event", "undo", "step",
		                   x->step ? x->step->name : "", "plugin", pname, "action", aname,
		                   "target", target, "outcome", "not_undoable"));
		json_object_set_new(c, "state", json_string("undone"));
		return 0;
	}
	if (strcmp(state, "unknown") == 0) {
		snprintf(err, errlen,
		         "%s.%s%s%s: the runner stopped while applying it; whether it changed "
		         "anything is "
		         "unknown: check by hand",
		         pname, aname, target ? " " : "", target ? target : "");
		return -1;
	}
	json_t *rec_undo = json_object_get(c, "undo");
	enum salve_registry_error why;
	char reason[1024] = "";
	salve_loaded_plugin *p =
	    salve_registry_get(x->rb ? x->rb->reg : NULL, pname, 1, &why, reason, sizeof reason);
	const salve_action *a = p ? salve_plugin_action(p, aname) : NULL;
	int rc = -1;
	double t0 = salve_now();
	if (!p) {
		snprintf(err, errlen, "cannot undo %s.%s: %s", pname, aname, reason);
	} else if (!a || !a->undo) {
		snprintf(err, errlen, "cannot undo %s.%s: the plugin has no such undoable action",
		         pname, aname);
	} else if (!rec_undo) {
		snprintf(err, errlen, "cannot undo %s.%s: the plugin returned no undo record",
		         pname, aname);
	} else {
		struct salve_call call;
		memset(&call, 0, sizeof call);
		call.run = &x->info;
		call.plugin = p;
		call.action = a;
		call.step = x->step ? x->step->name : NULL;
		call.deadline = x->deadline;
		rc = a->undo(&call, rec_undo);
		if (rc < 0) {
			char safe[2048];
			salve_redact_string(call.error[0] ? call.error
			                                  : "undo failed without a reason",
			                    safe, sizeof safe);
			snprintf(err, errlen, "undo of %s.%s%s%s failed: %s", pname, aname,
			         target ? " " : "", target ? target : "", safe);
		}
	}
	char jerr[512];
	json_t *arec = json_pack("{s:s, s:s?, s:s, s:s, s:s?, s:s, s:f}", "event", "undo", "step",
	                         x->step ? x->step->name : NULL, "plugin", pname, "action", aname,
	                         "target", target, "outcome", rc < 0 ? "failed" : "undone",
	                         "duration_ms", (salve_now() - t0) * 1000.0);
	if (rec_undo)
		json_object_set(arec, "undo", rec_undo);
	if (rc < 0)
		json_object_set_new(arec, "error", json_string(err));
	audit(x, arec);
	if (rc < 0) {
		journal(x, json_pack("{s:s, s:I, s:s}", "t", "undo_failed", "id", id, "error", err),
		        jerr, sizeof jerr);
		return -1;
	}
	journal(x, json_pack("{s:s, s:I}", "t", "undone", "id", id), jerr, sizeof jerr);
	json_object_set_new(c, "state", json_string("undone"));
	say(x, "      undid %s.%s%s%s\n", pname, aname, target ? " " : "", target ? target : "");
	return 0;
}

/* Rolls back the steps in done (records), newest first. Returns 0 when everything was undone,
 * -1 when something could not be. */
static int rollback_all(struct salve_exec *x, json_t *done)
{
	int complete = 1;
	x->info.ignore_cancel = 1;
	double timeout = x->opt && x->opt->rollback_timeout > 0 ? x->opt->rollback_timeout
	                                                        : DEFAULT_ROLLBACK_TIMEOUT;
	double deadline = salve_now() + timeout;
	for (size_t n = json_array_size(done); n > 0; n--) {
		json_t *rec = json_array_get(done, n - 1);
		if (!has_pending(rec))
			continue;
		escalate_due(x, 0);
		const char *name = json_string_value(json_object_get(rec, "name"));
		const char *before = json_string_value(json_object_get(rec, "outcome"));
		int was_failed = before && strcmp(before, "failed") == 0;
		const salve_step *st = NULL;
		for (size_t i = 0; x->rb && i < x->rb->nsteps; i++)
			if (strcmp(x->rb->steps[i].name, name) == 0)
				st = &x->rb->steps[i];
		x->step = st;
		x->rec = rec;
		x->deadline = deadline;
		if (json_is_true(json_object_get(rec, "rollback_disabled"))) {
			say(x, "  rollback %-24s skipped (rollback = false)\n", name);
			audit(x, json_pack("{s:s, s:s, s:s}", "event", "step_rollback", "step",
			                   name, "outcome", "opted_out"));
			json_object_set_new(rec, "rollback", json_string("opted out"));
			continue;
		}
		say(x, "  rollback %s\n", name);
		char err[4096] = "";
		int ok = 1;
		if (json_is_true(json_object_get(rec, "custom_rollback"))) {
			if (!st || st->rollback == LUA_NOREF) {
				snprintf(err, sizeof err,
				         "the runbook's rollback function for step \"%s\" is not "
				         "available",
				         name);
				ok = 0;
			} else {
				char *tb = NULL;
				if (call_fn(x, SALVE_PHASE_ROLLBACK, st->rollback, 0, 0, err,
				            sizeof err, &tb) < 0)
					ok = 0;
				free(tb);
			}
			if (ok) {
				size_t i;
				json_t *c;
				json_array_foreach(json_object_get(rec, "changes"), i, c)
				    json_object_set_new(c, "state", json_string("undone"));
				char jerr[512];
				journal(
				    x,
				    json_pack("{s:s, s:s}", "t", "step_rolled_back", "step", name),
				    jerr, sizeof jerr);
			}
		} else {
			json_t *changes = json_object_get(rec, "changes");
			for (size_t k = json_array_size(changes); k > 0; k--) {
				char one[2048];
				if (undo_change(x, json_array_get(changes, k - 1), one,
				                sizeof one) < 0) {
					ok = 0;
					if (!err[0])
						snprintf(err, sizeof err, "%s", one);
					say(x, "      %s\n", one);
				}
			}
		}
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
		audit(x, arec);
	}
	x->info.ignore_cancel = 0;
	x->deadline = 0;
	return complete ? 0 : -1;
}

/* ---- lifecycle notifications --------------------------------------------------------------- */

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

/* Tells people what the run is doing through the notify plugin. Never fails the run: a
 * notification that cannot be sent is logged and audited. */
static void lifecycle_notify(struct salve_exec *x, const char *event, const char *severity,
                             const char *summary, const char *detail)
{
	const json_t *lc = x->rb->notify ? x->rb->notify : x->opt->lifecycle;
	int send = lc && lifecycle_wants(lc, event) && json_object_get(lc, "to");
	int page = !strcmp(event, "rollback_incomplete") &&
	           !json_is_false(json_object_get(lc, "page_on_incomplete")) &&
	           (lc || salve_registry_configured(x->rb->reg, "notify"));
	if (!send && !page)
		return;
	char err[2048];
	enum salve_registry_error why;
	salve_loaded_plugin *p = salve_registry_get(x->rb->reg, "notify", 1, &why, err, sizeof err);
	if (!p) {
		salve_log(SALVE_LOG_WARN, "%s notification not sent: %s", event, err);
		audit(x, json_pack("{s:s, s:s, s:s, s:s}", "event", "lifecycle_notify", "on", event,
		                   "outcome", "failed", "error", err));
		return;
	}
	enum salve_phase saved = x->phase;
	x->phase = SALVE_PHASE_LIFECYCLE;
	char text[4096];
	snprintf(text, sizeof text, "%s%s%s", summary, detail ? "\n" : "", detail ? detail : "");
	json_t *targets = json_object_get(lc, "to");
	json_t *list = json_is_array(targets) ? json_incref(targets) : json_pack("[O]", targets);
	size_t i;
	json_t *to;
	json_array_foreach(send ? list : NULL, i, to)
	{
		const salve_action *a = salve_plugin_action(p, "send");
		json_t *args =
		    json_pack("{s:O, s:s, s:s, s:s, s:s}", "to", to, "text", text, "summary",
		              summary, "severity", severity, "outcome", event);
		json_t *res = NULL;
		if (!a ||
		    salve_exec_action(x->rb, p, a, args, "lifecycle:", &res, err, sizeof err) < 0)
			salve_log(SALVE_LOG_WARN, "%s notification to %s not sent: %s", event,
			          json_string_value(to), a ? err : "notify has no send action");
		json_decref(res);
		json_decref(args);
	}
	json_decref(list);
	if (page) {
		const salve_action *a = salve_plugin_action(p, "page");
		json_t *args = json_pack("{s:s, s:s, s:s, s:s}", "severity", "critical", "summary",
		                         summary, "text", text, "outcome", event);
		json_t *res = NULL;
		if (!a ||
		    salve_exec_action(x->rb, p, a, args, "lifecycle:", &res, err, sizeof err) < 0)
			salve_log(SALVE_LOG_ERROR, "page for the incomplete rollback not sent: %s",
			          a ? err : "notify has no page action");
		json_decref(res);
		json_decref(args);
	}
	x->phase = saved;
}

/* ---- a whole run --------------------------------------------------------------------------- */

static void set_lua_run_globals(struct salve_exec *x)
{
	lua_State *L = x->rb->L;
	lua_getglobal(L, "salve");
	lua_pushboolean(L, x->info.mode == SALVE_MODE_DRY_RUN);
	lua_setfield(L, -2, "dry_run");
	lua_pushboolean(L, x->info.drill);
	lua_setfield(L, -2, "drill");
	lua_pushstring(L, x->info.run_id);
	lua_setfield(L, -2, "run_id");
	lua_pushstring(L, x->info.trigger);
	lua_setfield(L, -2, "trigger");
	lua_pop(L, 1);
}

static void exec_init(struct salve_exec *x, salve_runbook *rb, const salve_run_options *o,
                      const json_t *params)
{
	memset(x, 0, sizeof *x);
	x->rb = rb;
	x->opt = o;
	if (o->run_id)
		snprintf(x->run_id, sizeof x->run_id, "%s", o->run_id);
	else
		salve_random_id(x->run_id, sizeof x->run_id);
	x->info.run_id = x->run_id;
	x->info.runbook = rb ? rb->name : NULL;
	x->info.trigger = o->trigger ? o->trigger : "cli";
	x->info.fingerprint = o->fingerprint;
	x->info.mode = o->mode;
	x->info.drill = o->drill_notify || o->fail_at;
	x->info.cancel = o->cancel;
	x->info.audit = o->audit;
	x->info.outcome = "running";
	x->info.target = o->target;
	x->p_ref = x->s_ref = LUA_NOREF;
	if (rb) {
		rb->exec = x;
		lua_State *L = rb->L;
		salve_json_to_lua(L, params);
		x->p_ref = luaL_ref(L, LUA_REGISTRYINDEX);
		lua_newtable(L);
		x->s_ref = luaL_ref(L, LUA_REGISTRYINDEX);
		set_lua_run_globals(x);
	}
}

static void exec_fini(struct salve_exec *x)
{
	if (x->rb) {
		luaL_unref(x->rb->L, LUA_REGISTRYINDEX, x->p_ref);
		luaL_unref(x->rb->L, LUA_REGISTRYINDEX, x->s_ref);
		x->rb->exec = NULL;
	}
}

static json_t *step_record(const salve_step *st, size_t index)
{
	return json_pack("{s:s, s:I, s:s, s:b, s:b, s:[], s:[]}", "name", st->name, "index",
	                 (json_int_t)index + 1, "outcome", "pending", "custom_rollback",
	                 st->rollback != LUA_NOREF, "rollback_disabled", st->rollback_disabled,
	                 "changes", "actions");
}

int salve_engine_run(salve_runbook *rb, const salve_run_options *o, json_t **summary)
{
	struct salve_exec x;
	exec_init(&x, rb, o, o->params);
	const int dry = o->mode == SALVE_MODE_DRY_RUN;
	double t0 = salve_now();
	int code = SALVE_EXIT_OK;
	json_t *steps = json_array();
	json_t *params_audit = json_deep_copy(o->params);
	salve_redact_json(params_audit);

	say(&x, "salve: run %s of %s (%s%s), %zu step%s\n", x.run_id, rb->name,
	    dry ? "dry-run: nothing will be changed" : "apply", x.info.drill ? ", drill" : "",
	    rb->nsteps, rb->nsteps == 1 ? "" : "s");
	if (audit(&x, json_pack("{s:s, s:s, s:O, s:I, s:s?}", "event", "run_start", "source",
	                        rb->source, "params", params_audit, "steps", (json_int_t)rb->nsteps,
	                        "fail_at", o->fail_at)) < 0) {
		say(&x, "salve: the audit log cannot be written: nothing was run\n");
		code = SALVE_EXIT_IOERR;
		goto finish;
	}
	if (!dry) {
		char err[1024];
		json_t *header =
		    json_pack("{s:s, s:s, s:s, s:s, s:O, s:s, s:I}", "t", "run", "run_id", x.run_id,
		              "source", rb->source, "runbook", rb->name, "params", o->params,
		              "trigger", x.info.trigger, "pid", (json_int_t)getpid());
		x.journal = salve_journal_create(o->state_dir, x.run_id, header, err, sizeof err);
		json_decref(header);
		if (!x.journal) {
			say(&x, "salve: %s: nothing was run\n", err);
			audit(&x, json_pack("{s:s, s:s, s:s}", "event", "run_end", "outcome",
			                    "error", "error", err));
			code = SALVE_EXIT_CANTCREAT;
			goto finish;
		}
	}
	double run_timeout = o->run_timeout > 0 ? o->run_timeout : rb->timeout;
	x.run_deadline = run_timeout > 0 ? t0 + run_timeout : 0;
	char line[1024];
	snprintf(line, sizeof line, "salve %s: %s%s%s started (%s)", rb->name, x.run_id,
	         o->target ? " on " : "", o->target ? o->target : "", dry ? "dry-run" : "apply");
	lifecycle_notify(&x, "start", "info", line, NULL);

	int failed = 0;
	for (size_t i = 0; i < rb->nsteps; i++) {
		json_t *rec = step_record(&rb->steps[i], i);
		json_array_append_new(steps, rec);
		if (failed) {
			json_object_set_new(rec, "outcome", json_string("skipped"));
			json_object_set_new(rec, "note", json_string("an earlier step failed"));
			audit(&x, json_pack("{s:s, s:s, s:s, s:s}", "event", "step_end", "step",
			                    rb->steps[i].name, "outcome", "skipped", "note",
			                    "an earlier step failed"));
			say(&x, "[%zu/%zu] %-28s skipped (an earlier step failed)\n", i + 1,
			    rb->nsteps, rb->steps[i].name);
			continue;
		}
		escalate_due(&x, 0);
		const char *outcome = run_step(&x, i, rec);
		double ms = json_real_value(json_object_get(rec, "duration_ms"));
		const char *note = json_string_value(json_object_get(rec, "note"));
		say(&x, "[%zu/%zu] %-28s %-8s %8.1f ms%s%s%s\n", i + 1, rb->nsteps,
		    rb->steps[i].name, outcome, ms,
		    dry && strcmp(outcome, "changed") == 0 ? "  (planned)" : "", note ? "  " : "",
		    note ? note : "");
		if (json_object_get(rec, "verify"))
			say(&x, "      note: %s\n",
			    json_string_value(json_object_get(rec, "verify")));
		if (strcmp(outcome, "failed") == 0) {
			const char *error = json_string_value(json_object_get(rec, "error"));
			say(&x, "      error: %s\n", error);
			failed = 1;
			snprintf(line, sizeof line, "salve %s: step %s failed; rolling back",
			         rb->name, rb->steps[i].name);
			lifecycle_notify(&x, "step_failed", "high", line, error);
		}
		if (x.io_failed && !failed) {
			json_object_set_new(rec, "outcome", json_string("failed"));
			json_object_set_new(
			    rec, "error",
			    json_string("the audit log or journal could not be written"));
			failed = 1;
		}
	}
	int incomplete = 0;
	if (failed) {
		say(&x, "salve: a step failed: rolling back%s\n", dry ? " (planned: dry-run)" : "");
		incomplete = rollback_all(&x, steps) < 0;
		code = incomplete ? SALVE_EXIT_ROLLBACK_INCOMPLETE : SALVE_EXIT_ROLLED_BACK;
	}
	int degraded = !failed && json_array_size(x.degraded) > 0;
	const char *outcome = degraded     ? "degraded"
	                      : !failed    ? "success"
	                      : incomplete ? "rollback_incomplete"
	                                   : "rolled_back";
	if (degraded)
		code = SALVE_EXIT_DEGRADED;
	x.info.outcome = outcome;
	if (degraded) {
		snprintf(line, sizeof line,
		         "salve %s: run %s completed DEGRADED: %zu failure(s) tolerated", rb->name,
		         x.run_id, json_array_size(x.degraded));
		char *detail = json_dumps(x.degraded, JSON_COMPACT);
		lifecycle_notify(&x, "degraded", "high", line, detail);
		free(detail);
	} else if (!failed) {
		snprintf(line, sizeof line, "salve %s: run %s succeeded", rb->name, x.run_id);
		lifecycle_notify(&x, "success", "info", line, NULL);
	} else if (incomplete) {
		snprintf(
		    line, sizeof line,
		    "salve %s: ROLLBACK INCOMPLETE in run %s: a human must look (salve recover "
		    "retries)",
		    rb->name, x.run_id);
		lifecycle_notify(&x, "rollback_incomplete", "critical", line, NULL);
	} else {
		snprintf(line, sizeof line, "salve %s: run %s failed and was rolled back", rb->name,
		         x.run_id);
		lifecycle_notify(&x, "rolled_back", "medium", line, NULL);
	}
	escalate_due(&x, 1);
	if (x.io_failed && code != SALVE_EXIT_ROLLBACK_INCOMPLETE)
		code = SALVE_EXIT_IOERR;
	double ms = (salve_now() - t0) * 1000.0;
	audit(&x, json_pack("{s:s, s:s, s:i, s:f}", "event", "run_end", "outcome", outcome,
	                    "exit_code", code, "duration_ms", ms));
	if (x.journal) {
		char err[512];
		journal(&x, json_pack("{s:s, s:s}", "t", "end", "outcome", outcome), err,
		        sizeof err);
		/* Kept when something is left to undo: salve recover can try again. */
		salve_journal_close(x.journal, !incomplete);
		x.journal = NULL;
	}
	/* A run that lost audit or journal records (a full disk) says so, whatever its steps
	 * did; only an incomplete rollback, which needs a human first, says more. */
	if (x.io_failed && code != SALVE_EXIT_ROLLBACK_INCOMPLETE)
		code = SALVE_EXIT_IOERR;
	say(&x, "salve: %s%s (exit %d) in %.1f ms\n", outcome,
	    dry ? " (dry-run: nothing was changed)" : "", code, ms);
	if (incomplete)
		say(&x,
		    "salve: ROLLBACK INCOMPLETE: see the errors above and the audit log %s; "
		    "`salve recover` retries what is left\n",
		    salve_audit_path(o->audit));
finish:
	if (summary) {
		*summary = json_pack(
		    "{s:s, s:s, s:s, s:s, s:b, s:s, s:i, s:f, s:O}", "run_id", x.run_id, "runbook",
		    rb->name, "source", rb->source, "mode", dry ? "dry-run" : "apply", "drill",
		    x.info.drill, "outcome",
		    code == SALVE_EXIT_DEGRADED              ? "degraded"
		    : code == SALVE_EXIT_OK                  ? "success"
		    : code == SALVE_EXIT_ROLLED_BACK         ? "rolled_back"
		    : code == SALVE_EXIT_ROLLBACK_INCOMPLETE ? "rollback_incomplete"
		                                             : "error",
		    "exit_code", code, "duration_ms", (salve_now() - t0) * 1000.0, "steps", steps);
		salve_redact_json(*summary);
	}
	json_decref(params_audit);
	json_decref(steps);
	json_decref(x.escalation);
	json_decref(x.degraded);
	exec_fini(&x);
	return code;
}

/* ---- recovery ------------------------------------------------------------------------------ */

static json_t *find_change(json_t *done, json_int_t id)
{
	size_t i, k;
	json_t *rec, *c;
	json_array_foreach(done, i, rec) json_array_foreach(json_object_get(rec, "changes"), k, c)
	{
		if (json_integer_value(json_object_get(c, "id")) == id)
			return c;
	}
	return NULL;
}

/* Rebuilds the step records of a dead run from its journal. */
static json_t *replay(const json_t *records)
{
	json_t *done = json_array();
	size_t i;
	json_t *r;
	json_array_foreach(records, i, r)
	{
		const char *t = json_string_value(json_object_get(r, "t"));
		json_int_t id = json_integer_value(json_object_get(r, "id"));
		json_t *last = json_array_get(done, json_array_size(done) - 1);
		if (!t)
			continue;
		if (strcmp(t, "step") == 0) {
			json_array_append_new(
			    done,
			    json_pack("{s:O, s:s, s:O, s:O, s:[]}", "name",
			              json_object_get(r, "step"), "outcome", "changed",
			              "custom_rollback", json_object_get(r, "custom_rollback"),
			              "rollback_disabled", json_object_get(r, "rollback_disabled"),
			              "changes"));
		} else if (strcmp(t, "intent") == 0 && last) {
			json_array_append_new(json_object_get(last, "changes"),
			                      json_pack("{s:I, s:O, s:O, s:O?, s:s}", "id", id,
			                                "plugin", json_object_get(r, "plugin"),
			                                "action", json_object_get(r, "action"),
			                                "target", json_object_get(r, "target"),
			                                "state", "unknown"));
		} else {
			json_t *c = find_change(done, id);
			if (strcmp(t, "undo") == 0 && c) {
				json_object_set_new(c, "state", json_string("applied"));
				json_object_set(c, "undo", json_object_get(r, "undo"));
			} else if (strcmp(t, "applied_no_undo") == 0 && c) {
				json_object_set_new(c, "state", json_string("applied"));
				json_object_set_new(c, "no_undo", json_true());
			} else if (strcmp(t, "not_applied") == 0 && c) {
				json_object_set_new(c, "state", json_string("undone"));
			} else if (strcmp(t, "undone") == 0 && c) {
				json_object_set_new(c, "state", json_string("undone"));
			} else if (strcmp(t, "step_rolled_back") == 0) {
				size_t k, m;
				json_t *rec, *ch;
				json_array_foreach(done, k,
				                   rec) if (json_equal(json_object_get(rec, "name"),
				                                       json_object_get(r, "step")))
				    json_array_foreach(json_object_get(rec, "changes"), m, ch)
				        json_object_set_new(ch, "state", json_string("undone"));
			}
		}
	}
	return done;
}

static int needs_runbook(const json_t *done)
{
	size_t i;
	json_t *rec;
	json_array_foreach(done, i,
	                   rec) if (json_is_true(json_object_get(rec, "custom_rollback")) &&
	                            has_pending(rec)) return 1;
	return 0;
}

int salve_engine_recover(const char *state_dir, salve_registry *reg, salve_audit *audit_log,
                         FILE *out, json_t **summary)
{
	json_t *paths = salve_journal_list(state_dir);
	json_t *report = json_array();
	int code = SALVE_EXIT_OK;
	size_t i;
	json_t *jp;
	json_array_foreach(paths, i, jp)
	{
		const char *path = json_string_value(jp);
		char err[2048];
		salve_journal *j = salve_journal_adopt(path, err, sizeof err);
		if (!j) {
			if (out)
				fprintf(out, "salve: skipping %s\n", err);
			json_array_append_new(
			    report, json_pack("{s:s, s:s}", "journal", path, "skipped", err));
			continue;
		}
		json_t *records = salve_journal_read(path, err, sizeof err);
		json_t *header = json_array_get(records, 0);
		const char *run_id = json_string_value(json_object_get(header, "run_id"));
		const char *source = json_string_value(json_object_get(header, "source"));
		json_t *params = json_object_get(header, "params");
		json_t *done = records ? replay(records) : json_array();

		salve_runbook *rb = NULL;
		char rb_err[2048] = "";
		if (needs_runbook(done) && source) {
			int ec;
			rb = salve_runbook_load(source, reg, &ec, rb_err, sizeof rb_err);
		}
		salve_run_options o;
		memset(&o, 0, sizeof o);
		o.mode = SALVE_MODE_APPLY;
		o.trigger = "recover";
		o.run_id = run_id;
		o.audit = audit_log;
		o.state_dir = state_dir;
		o.out = out;
		struct salve_exec x;
		json_t *empty = json_object();
		exec_init(&x, rb, &o, json_is_object(params) ? params : empty);
		json_decref(empty);
		/* Undo through the registry even when the runbook itself cannot be loaded. */
		salve_runbook shim;
		memset(&shim, 0, sizeof shim);
		shim.reg = reg;
		if (!rb) {
			shim.name = (char *)json_string_value(json_object_get(header, "runbook"));
			x.rb = &shim;
			x.info.runbook = shim.name;
		}
		x.journal = j;
		if (out)
			fprintf(out, "salve: recovering run %s of %s (journal %s)\n",
			        run_id ? run_id : "?", source ? source : "?", path);
		audit(&x, json_pack("{s:s, s:s}", "event", "recover_start", "journal", path));
		int incomplete = rollback_all(&x, done) < 0;
		if (!rb && rb_err[0] && incomplete && out)
			fprintf(out,
			        "salve: the runbook could not be loaded for its rollback "
			        "functions: %s\n",
			        rb_err);
		const char *outcome = incomplete ? "rollback_incomplete" : "rolled_back";
		audit(&x, json_pack("{s:s, s:s}", "event", "recover_end", "outcome", outcome));
		char jerr[256];
		journal(&x, json_pack("{s:s, s:s}", "t", "end", "outcome", outcome), jerr,
		        sizeof jerr);
		if (out)
			fprintf(out, "salve: run %s: %s\n", run_id ? run_id : "?", outcome);
		json_array_append_new(report,
		                      json_pack("{s:s, s:s?, s:s, s:O}", "journal", path, "run_id",
		                                run_id, "outcome", outcome, "steps", done));
		if (incomplete)
			code = SALVE_EXIT_ROLLBACK_INCOMPLETE;
		x.journal = NULL;
		salve_journal_close(j, !incomplete);
		if (x.rb == &shim)
			x.rb = NULL;
		exec_fini(&x);
		salve_runbook_free(rb);
		json_decref(done);
		json_decref(records);
	}
	if (summary)
		*summary = json_pack("{s:i, s:O}", "exit_code", code, "runs", report);
	json_decref(report);
	json_decref(paths);
	return code;
}
