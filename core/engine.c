#include "engine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exitcodes.h"
#include "host.h"
#include "journal.h"
#include "lock.h"
#include "luajson.h"
#include "redact.h"
#include "schema.h"
#include "statedir.h"
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
	/* The plugin's status by name; a check that found the state there returned HOLDS. */
	json_object_set_new(
	    rec, "status",
	    json_string(salve_status_name(strcmp(outcome, "held") == 0 ? SALVE_HOLDS : rc)));
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

struct lua_call {
	struct salve_exec *x;
	int ref, with_result, keep;
	int truthy;
};

/* The part of call_fn inside the outer lua_pcall: every access to p and s is raw (a runbook
 * may give them metatables), and what raises (memory) is caught by that pcall. */
static int call_fn_protected(lua_State *L)
{
	struct lua_call *c = lua_touserdata(L, 1);
	struct salve_exec *x = c->x;
	lua_settop(L, 0);
	lua_pushcfunction(L, salve_lua_traceback);
	lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
	lua_rawgeti(L, LUA_REGISTRYINDEX, x->p_ref);
	lua_rawgeti(L, LUA_REGISTRYINDEX, x->s_ref);
	int nargs = 2;
	if (c->with_result) {
		lua_pushstring(L, x->step->name);
		lua_rawget(L, -2);
		nargs = 3;
	}
	if (lua_pcall(L, nargs, 1, 1) != LUA_OK)
		return lua_error(L);
	c->truthy = lua_toboolean(L, -1);
	if (c->keep) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, x->s_ref);
		lua_pushstring(L, x->step->name);
		lua_pushvalue(L, -3);
		lua_rawset(L, -3);
	}
	return 0;
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
	if (x->p_ref == LUA_NOREF) {
		snprintf(err, errlen,
		         "the run's params could not be handed to Lua (not enough memory)");
		return -1;
	}
	struct lua_call c = {x, ref, with_result, keep, 0};
	lua_pushcfunction(L, call_fn_protected);
	lua_pushlightuserdata(L, &c);
	int rc = lua_pcall(L, 1, 0, 0);
	int truthy = -1;
	if (rc == LUA_OK) {
		truthy = c.truthy;
	} else {
		const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
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

/* Inside lua_pcall: p and s for the run, and the run's facts on the salve table (raw, on the
 * table the runbook module made, whatever the runbook did to the global). */
static int set_lua_run_globals_protected(lua_State *L)
{
	struct salve_exec *x = lua_touserdata(L, 1);
	const json_t *params = lua_touserdata(L, 2);
	salve_json_to_lua(L, params);
	x->p_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_newtable(L);
	x->s_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_rawgeti(L, LUA_REGISTRYINDEX, x->rb->salve_ref);
	if (!lua_istable(L, -1))
		return 0;
	lua_pushliteral(L, "dry_run");
	lua_pushboolean(L, x->info.mode == SALVE_MODE_DRY_RUN);
	lua_rawset(L, -3);
	lua_pushliteral(L, "drill");
	lua_pushboolean(L, x->info.drill);
	lua_rawset(L, -3);
	lua_pushliteral(L, "run_id");
	lua_pushstring(L, x->info.run_id);
	lua_rawset(L, -3);
	lua_pushliteral(L, "trigger");
	lua_pushstring(L, x->info.trigger);
	lua_rawset(L, -3);
	return 0;
}

/* On failure (Lua out of memory) p_ref stays LUA_NOREF and every step fails saying so. */
static void set_lua_run_globals(struct salve_exec *x, const json_t *params)
{
	lua_State *L = x->rb->L;
	int base = lua_gettop(L);
	lua_pushcfunction(L, set_lua_run_globals_protected);
	lua_pushlightuserdata(L, x);
	lua_pushlightuserdata(L, (void *)params);
	if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
		luaL_unref(L, LUA_REGISTRYINDEX, x->p_ref);
		luaL_unref(L, LUA_REGISTRYINDEX, x->s_ref);
		x->p_ref = x->s_ref = LUA_NOREF;
	}
	lua_settop(L, base);
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
		set_lua_run_globals(x, params);
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
		if (rb->steps[i].rollback != LUA_NOREF)
			return 1;
	return 0;
}

struct step_result {
	const char *step;
	int s_ref;
	json_t *value; /* new reference, or NULL */
	char why[512];
};

/* s[step] as JSON, inside lua_pcall: pushing the key may need memory. Raw access: a
 * runbook's metamethods do not run here. */
static int step_result_to_json(lua_State *L)
{
	struct step_result *r = lua_touserdata(L, 1);
	lua_rawgeti(L, LUA_REGISTRYINDEX, r->s_ref);
	lua_pushstring(L, r->step);
	lua_rawget(L, -2);
	if (!lua_isnil(L, -1))
		r->value = salve_lua_to_json(L, -1, r->why, sizeof r->why);
	else
		r->why[0] = '\0';
	return 0;
}

/* What a step's run left in s[step], journaled (redacted) so that salve recover can hand the
 * rollback functions the same s. */
static void journal_step_result(struct salve_exec *x, const salve_step *st)
{
	if (!x->journal || !has_rollback_functions(x->rb))
		return;
	lua_State *L = x->rb->L;
	struct step_result r = {st->name, x->s_ref, NULL, "s[step] could not be read"};
	lua_pushcfunction(L, step_result_to_json);
	lua_pushlightuserdata(L, &r);
	if (lua_pcall(L, 1, 0, 0) != LUA_OK)
		lua_pop(L, 1);
	if (!r.value && !r.why[0])
		return; /* the step left nothing */
	char err[512];
	json_t *rec = r.value ? json_pack("{s:s, s:s, s:o}", "t", "result", "step", st->name,
	                                  "value", r.value)
	                      : json_pack("{s:s, s:s, s:s}", "t", "result", "step", st->name,
	                                  "unavailable", r.why);
	salve_redact_json(rec);
	journal(x, rec, err, sizeof err);
}

static int recover_lock_predecessors(struct salve_exec *x, const char *key, char *why,
                                     size_t whylen);

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

	const char *refused = NULL;
	char lock_key[1024] = "";
	if (!dry && rb->lock) {
		/* The caller holds this lock (salve run, salve serve). */
		char why[4096];
		if (salve_lock_key(rb->lock, o->params, lock_key, sizeof lock_key, why,
		                   sizeof why) < 0) {
			lock_key[0] = '\0';
		} else if ((code = recover_lock_predecessors(&x, lock_key, why, sizeof why))) {
			say(&x, "salve: %s: nothing was run\n", why);
			audit(&x, json_pack("{s:s, s:s, s:s, s:s, s:s}", "event", "run_refused",
			                    "reason", "previous holder of the lock not recovered",
			                    "lock", lock_key, "error", why, "source", rb->source));
			refused = "refused";
			goto finish;
		}
	}
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
		char err[4600];
		json_t *header = journal_header(&x, lock_key[0] ? lock_key : NULL);
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
		journal_step_result(&x, &rb->steps[i]);
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
	if (x.journal) {
		/* Durable before anyone hears of the outcome: a kill from here on leaves a
		 * journal that salve recover knows is finished (and never rolls back). */
		char err[512];
		journal(&x, json_pack("{s:s, s:s}", "t", "end", "outcome", outcome), err,
		        sizeof err);
	}
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
		    refused                                  ? refused
		    : code == SALVE_EXIT_DEGRADED            ? "degraded"
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

/* What recovery found for one journal. */
enum recover_status {
	RECOVER_LIVE,        /* held by a live process: left to it */
	RECOVER_FINISHED,    /* the run had ended: journal removed, nothing undone */
	RECOVER_ROLLED_BACK, /* everything the run changed was undone */
	RECOVER_INCOMPLETE,  /* something could not be undone: a human must look */
	RECOVER_DAMAGED,     /* a record is damaged or missing: nothing was done */
	RECOVER_ERROR,       /* the journal could not be opened, read or written */
	RECOVER_PLANNED,     /* --dry-run, --list: described, nothing done */
};

static const char *const recover_status_names[] = {
    "live", "finished", "rolled_back", "rollback_incomplete", "damaged", "error", "planned"};

static int jstr_is(const json_t *v, const char *s)
{
	return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

struct recover_ctx {
	const char *state_dir;
	salve_registry *reg;
	salve_audit *audit;
	FILE *out;
	int dry_run;        /* the plan: nothing changed, removed or audited */
	int list;           /* a description of each journal */
	const char *by_run; /* a run recovering its lock's previous holder, or NULL */
};

static void rsay(const struct recover_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void rsay(const struct recover_ctx *c, const char *fmt, ...)
{
	if (!c->out)
		return;
	char raw[8192], safe[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	salve_redact_string(raw, safe, sizeof safe);
	fputs(safe, c->out);
	fflush(c->out);
}

/* An audit record about a dead run, under its own run id. Planning audits nothing. */
static int recover_audit(const struct recover_ctx *c, const char *run_id, const char *runbook,
                         json_t *rec)
{
	if (c->dry_run || c->list || !c->audit) {
		json_decref(rec);
		return 0;
	}
	salve_run_info info;
	memset(&info, 0, sizeof info);
	info.run_id = run_id;
	info.runbook = runbook;
	info.trigger = "recover";
	info.mode = SALVE_MODE_APPLY;
	info.audit = c->audit;
	info.outcome = "recovering";
	if (c->by_run)
		json_object_set_new(rec, "by_run", json_string(c->by_run));
	return salve_run_audit(&info, rec);
}

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

/* Rebuilds the step records of a dead run from its (verified) journal, and in results (an
 * object) what each step's run returned, for the rollback functions' s. */
static json_t *replay(const json_t *records, json_t *results)
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
		} else if (strcmp(t, "result") == 0) {
			const char *step = json_string_value(json_object_get(r, "step"));
			json_t *value = json_object_get(r, "value");
			if (step && value)
				json_object_set(results, step, value);
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
			} else if (strcmp(t, "undo_failed") == 0 && c) {
				json_object_set(c, "last_error", json_object_get(r, "error"));
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

/* The runbook text a journal keeps: "text", or "text_base64" when it is not UTF-8. Returns a
 * malloc'd copy (caller frees) or NULL. */
static char *journaled_text(const json_t *header, size_t *len)
{
	const json_t *text = json_object_get(header, "text");
	if (json_is_string(text)) {
		*len = json_string_length(text);
		char *copy = malloc(*len + 1);
		memcpy(copy, json_string_value(text), *len + 1);
		return copy;
	}
	const char *b64 = json_string_value(json_object_get(header, "text_base64"));
	if (!b64)
		return NULL;
	size_t n = strlen(b64);
	char *out = malloc(n / 4 * 3 + 4);
	int got = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)b64, (int)n);
	if (got < 0) {
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	while (n > 0 && b64[n - 1] == '=' && got > 0) {
		n--;
		got--;
	}
	*len = (size_t)got;
	out[got] = '\0';
	return out;
}

/* Loads the runbook exactly as it ran, from the copy its journal keeps (never the file on
 * disk now, which may have been edited since). NULL with why. */
static salve_runbook *load_runbook_as_ran(const struct recover_ctx *c, const json_t *header,
                                          const char *run_id, char *why, size_t whylen)
{
	size_t len = 0;
	char *text = journaled_text(header, &len);
	const char *want = json_string_value(json_object_get(header, "sha256"));
	char sha[65], dir[4096], path[4400];
	if (!text) {
		snprintf(why, whylen, "the journal keeps no copy of the runbook");
		return NULL;
	}
	salve_sha256_hex(text, len, sha);
	if (!want || strcmp(want, sha) != 0) {
		snprintf(why, whylen,
		         "the journal's copy of the runbook does not match its SHA-256");
		free(text);
		return NULL;
	}
	if (salve_state_subdir(c->state_dir, "runs", dir, sizeof dir, why, whylen) < 0) {
		free(text);
		return NULL;
	}
	snprintf(path, sizeof path, "%s/.%s.runbook.lua", dir, run_id);
	unlink(path); /* left by a recover that was killed while loading it */
	char err[4600];
	int fd = salve_state_open(path, O_WRONLY | O_CREAT | O_EXCL, err, sizeof err);
	int written = fd >= 0 && write(fd, text, len) == (ssize_t)len;
	if (fd >= 0)
		close(fd);
	free(text);
	if (!written) {
		snprintf(why, whylen, "cannot write the runbook's copy: %s",
		         fd < 0 ? err : strerror(errno));
		unlink(path);
		return NULL;
	}
	int code;
	salve_runbook *rb = salve_runbook_load(path, c->reg, &code, why, whylen);
	unlink(path);
	return rb;
}

/* Puts what each step's run returned back into s, as the rollback functions saw it. */
static int fill_s(lua_State *L)
{
	const json_t *results = lua_touserdata(L, 1);
	lua_rawgeti(L, LUA_REGISTRYINDEX, (int)lua_tointeger(L, 2));
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)results, k, v)
	{
		lua_pushstring(L, k);
		salve_json_to_lua(L, v);
		lua_rawset(L, -3);
	}
	return 0;
}

/* Temporary files a plugin writing a local file names TARGET.salve-RUN_ID-XXXXXX (the host
 * plugin's ensure_line does): a dead run's are garbage. Removes them (act) or lists them. */
static void remove_temporaries(const struct recover_ctx *c, const char *run_id, const json_t *done,
                               int act, json_t *entry)
{
	json_t *found = json_array();
	size_t i, k;
	json_t *rec, *ch;
	json_array_foreach(done, i, rec) json_array_foreach(json_object_get(rec, "changes"), k, ch)
	{
		const char *target = json_string_value(json_object_get(ch, "target"));
		if (!target || target[0] != '/')
			continue;
		const char *slash = strrchr(target, '/');
		char dir[4096], prefix[1024];
		snprintf(dir, sizeof dir, "%.*s", slash == target ? 1 : (int)(slash - target),
		         target);
		if (salve_fmt(prefix, sizeof prefix, "%s.salve-%s-", slash + 1, run_id) < 0)
			continue;
		DIR *d = opendir(dir);
		if (!d)
			continue;
		struct dirent *e;
		while ((e = readdir(d))) {
			struct stat st;
			char full[5200];
			if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 ||
			    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(st.st_mode))
				continue;
			snprintf(full, sizeof full, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "",
			         e->d_name);
			size_t m;
			json_t *seen;
			int dup = 0;
			json_array_foreach(found, m, seen) dup |=
			    strcmp(json_string_value(seen), full) == 0;
			if (dup)
				continue;
			if (act && unlinkat(dirfd(d), e->d_name, 0) < 0) {
				rsay(c, "salve: cannot remove temporary file %s: %s\n", full,
				     strerror(errno));
				continue;
			}
			json_array_append_new(found, json_string(full));
			rsay(c, "      %s temporary file %s left by the dead run\n",
			     act ? "removed" : "would remove", full);
		}
		closedir(d);
	}
	if (json_array_size(found))
		json_object_set(entry, "temporary_files", found);
	json_decref(found);
}

static void describe_change(const struct recover_ctx *c, const json_t *ch)
{
	char undo[512];
	brief(json_object_get(ch, "undo"), undo, sizeof undo);
	const char *target = json_string_value(json_object_get(ch, "target"));
	rsay(c, "      #%lld %s.%s%s%s: %s%s%s\n",
	     (long long)json_integer_value(json_object_get(ch, "id")),
	     json_string_value(json_object_get(ch, "plugin")),
	     json_string_value(json_object_get(ch, "action")), target ? " " : "",
	     target ? target : "", json_string_value(json_object_get(ch, "state")),
	     json_object_get(ch, "undo") ? ", undo record " : "",
	     json_object_get(ch, "undo") ? undo : "");
}

/* --list: what the journal says, step by step. */
static void describe_run(const struct recover_ctx *c, const json_t *done)
{
	size_t i, k;
	json_t *rec, *ch;
	json_array_foreach(done, i, rec)
	{
		rsay(c, "    step %s%s%s\n", json_string_value(json_object_get(rec, "name")),
		     json_is_true(json_object_get(rec, "custom_rollback"))
		         ? " (its own rollback function)"
		         : "",
		     json_is_true(json_object_get(rec, "rollback_disabled")) ? " (rollback = false)"
		                                                             : "");
		json_array_foreach(json_object_get(rec, "changes"), k, ch) describe_change(c, ch);
	}
}

/* --dry-run: what recover would do, newest first. Returns 1 when a human would be needed. */
static int plan_rollback(const struct recover_ctx *c, const json_t *done)
{
	int human = 0;
	for (size_t n = json_array_size(done); n > 0; n--) {
		json_t *rec = json_array_get(done, n - 1);
		const char *name = json_string_value(json_object_get(rec, "name"));
		if (!has_pending(rec))
			continue;
		if (json_is_true(json_object_get(rec, "rollback_disabled"))) {
			rsay(c, "    step %s: rollback = false: its changes stay\n", name);
			continue;
		}
		if (json_is_true(json_object_get(rec, "custom_rollback"))) {
			rsay(c,
			     "    step %s: would call its rollback function, from the runbook as "
			     "it ran\n",
			     name);
			continue;
		}
		json_t *changes = json_object_get(rec, "changes");
		for (size_t k = json_array_size(changes); k > 0; k--) {
			json_t *ch = json_array_get(changes, k - 1);
			const char *state = json_string_value(json_object_get(ch, "state"));
			const char *target = json_string_value(json_object_get(ch, "target"));
			const char *what = NULL;
			if (strcmp(state, "undone") == 0)
				continue;
			if (strcmp(state, "unknown") == 0) {
				what =
				    "UNKNOWN: the runner stopped while applying it; a human must "
				    "look";
				human = 1;
			} else if (json_is_true(json_object_get(ch, "no_undo"))) {
				what = "cannot be undone (declared by the plugin): stays";
			} else {
				what =
				    "would be undone (unless it changed since: then a human must "
				    "look)";
			}
			rsay(c, "    step %s: %s.%s%s%s %s\n", name,
			     json_string_value(json_object_get(ch, "plugin")),
			     json_string_value(json_object_get(ch, "action")), target ? " " : "",
			     target ? target : "", what);
		}
	}
	return human;
}

/* What the trusted part of a damaged journal names, for the human who must check it. */
static void name_changes(const struct recover_ctx *c, const json_t *done)
{
	size_t i, k;
	json_t *rec, *ch;
	json_array_foreach(done, i, rec) json_array_foreach(json_object_get(rec, "changes"), k, ch)
	{
		const char *target = json_string_value(json_object_get(ch, "target"));
		rsay(c, "      step %s: %s.%s%s%s (%s when the journal was last trustworthy)\n",
		     json_string_value(json_object_get(rec, "name")),
		     json_string_value(json_object_get(ch, "plugin")),
		     json_string_value(json_object_get(ch, "action")), target ? " " : "",
		     target ? target : "", json_string_value(json_object_get(ch, "state")));
	}
}

static void header_facts(json_t *entry, const json_t *header)
{
	static const char *const keys[] = {"runbook", "path", "sha256", "started",
	                                   "pid",     "lock", "trigger"};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		json_t *v = json_object_get(header, keys[i]);
		if (v)
			json_object_set(entry, keys[i], v);
	}
}

/* Recovers (or describes, or plans) one journal, filling entry for the report. Returns the
 * status. */
static enum recover_status recover_one(const struct recover_ctx *c, const char *path, json_t *entry)
{
	char run_id[128], err[4096];
	salve_journal_run_id(path, run_id, sizeof run_id);
	json_object_set_new(entry, "journal", json_string(path));
	json_object_set_new(entry, "run_id", json_string(run_id));
	salve_journal *j = NULL;
	json_t *records = NULL;
	salve_journal_check check;
	int live = 0;
	enum recover_status status;
	if (c->dry_run || c->list) {
		if (salve_journal_read(path, &records, &check, &live, err, sizeof err) < 0)
			goto error;
	} else {
		enum salve_journal_status js =
		    salve_journal_adopt(path, &j, &records, &check, err, sizeof err);
		if (js == SALVE_JOURNAL_ERROR)
			goto error;
		if (js == SALVE_JOURNAL_BUSY) {
			live = 1;
			if (salve_journal_read(path, &records, &check, NULL, err, sizeof err) < 0)
				records = NULL;
		}
	}
	json_t *header = json_array_get(records, 0);
	const char *runbook = json_string_value(json_object_get(header, "runbook"));
	header_facts(entry, header);
	if (live) {
		rsay(c,
		     "salve: run %s of %s: its journal %s is held by a live process (the run "
		     "itself, pid %lld per the journal, or a recover in progress): left to it\n",
		     run_id, runbook ? runbook : "?", path,
		     (long long)json_integer_value(json_object_get(header, "pid")));
		json_decref(records);
		return RECOVER_LIVE;
	}
	if (!check.damaged && (!header || !jstr_is(json_object_get(header, "t"), "run") ||
	                       strcmp(json_string_value(json_object_get(header, "run_id"))
	                                  ? json_string_value(json_object_get(header, "run_id"))
	                                  : "",
	                              run_id) != 0)) {
		check.damaged = 1;
		snprintf(check.problem, sizeof check.problem,
		         "its first record is not the run record of run %s", run_id);
	}
	json_t *results = json_object();
	json_t *done = replay(records, results);
	if (check.damaged) {
		json_object_set_new(entry, "error", json_string(check.problem));
		json_object_set_new(entry, "trusted_records", json_integer(check.trusted_seq));
		json_object_set(entry, "steps", done);
		rsay(c,
		     "salve: run %s (journal %s) cannot be trusted: %s. Nothing was undone for "
		     "it.\n",
		     run_id, path, check.problem);
		if (json_array_size(done)) {
			rsay(c, "      its first %lld records verified; they name:\n",
			     check.trusted_seq);
			name_changes(c, done);
		}
		rsay(c,
		     "      check those targets by hand, then `salve recover --resolve %s --note "
		     "TEXT`\n",
		     run_id);
		recover_audit(c, run_id, runbook,
		              json_pack("{s:s, s:s, s:s, s:s, s:I}", "event", "recover_end",
		                        "journal", path, "outcome", "damaged", "error",
		                        check.problem, "trusted_records",
		                        (json_int_t)check.trusted_seq));
		salve_journal_close(j, 0);
		status = RECOVER_DAMAGED;
		goto out;
	}
	if (check.torn)
		rsay(c,
		     "salve: run %s: its journal's last line was unfinished (its write never "
		     "returned, so nothing it announced happened): left out\n",
		     run_id);
	json_t *last = json_array_get(records, json_array_size(records) - 1);
	const char *last_outcome = json_string_value(json_object_get(last, "outcome"));
	if (jstr_is(json_object_get(last, "t"), "end") && last_outcome &&
	    strcmp(last_outcome, "rollback_incomplete") != 0) {
		/* The run had finished; only the removal of its journal was cut short. */
		json_object_set_new(entry, "outcome", json_string(last_outcome));
		rsay(c,
		     "salve: run %s of %s had already ended (%s): nothing to undo; %s its "
		     "journal\n",
		     run_id, runbook ? runbook : "?", last_outcome,
		     c->dry_run || c->list ? "would remove" : "removing");
		if (!c->dry_run && !c->list) {
			remove_temporaries(c, run_id, done, 1, entry);
			recover_audit(c, run_id, runbook,
			              json_pack("{s:s, s:s, s:s, s:s}", "event", "recover_end",
			                        "journal", path, "outcome", "finished",
			                        "run_outcome", last_outcome));
			salve_journal_close(j, 1);
			status = RECOVER_FINISHED;
		} else {
			status = RECOVER_PLANNED;
		}
		goto out;
	}
	if (c->dry_run || c->list) {
		const char *rb_path = json_string_value(json_object_get(header, "path"));
		rsay(c, "salve: run %s of %s (%s, sha256 %.12s), started %s, pid %lld: dead\n",
		     run_id, runbook ? runbook : "?", rb_path ? rb_path : "?",
		     json_string_value(json_object_get(header, "sha256"))
		         ? json_string_value(json_object_get(header, "sha256"))
		         : "?",
		     json_string_value(json_object_get(header, "started"))
		         ? json_string_value(json_object_get(header, "started"))
		         : "?",
		     (long long)json_integer_value(json_object_get(header, "pid")));
		if (c->list)
			describe_run(c, done);
		int human = 0;
		if (c->dry_run) {
			rsay(c, "  would roll back, newest first:\n");
			human = plan_rollback(c, done);
		}
		remove_temporaries(c, run_id, done, 0, entry);
		json_object_set(entry, "steps", done);
		if (human)
			json_object_set_new(entry, "needs_human", json_true());
		status = RECOVER_PLANNED;
		goto out;
	}

	/* Roll back what the dead run left, with the runbook exactly as it ran. */
	salve_runbook *rb = NULL;
	char rb_err[2048] = "";
	if (needs_runbook(done)) {
		rb = load_runbook_as_ran(c, header, run_id, rb_err, sizeof rb_err);
		if (rb) {
			const char *rb_path = json_string_value(json_object_get(header, "path"));
			const char *sha = json_string_value(json_object_get(header, "sha256"));
			size_t len;
			char now[65] = "";
			char *text = rb_path ? salve_read_file(rb_path, &len) : NULL;
			if (text)
				salve_sha256_hex(text, len, now);
			free(text);
			rsay(
			    c,
			    "salve: run %s: rollback functions come from the runbook as it ran: %s "
			    "(sha256 %.12s), kept in its journal%s\n",
			    run_id, rb_path, sha,
			    strcmp(now, sha) == 0 ? ""
			                          : " (the file on disk differs now: not used)");
		}
	}
	salve_run_options o;
	memset(&o, 0, sizeof o);
	o.mode = SALVE_MODE_APPLY;
	o.trigger = "recover";
	o.run_id = run_id;
	o.audit = c->audit;
	o.state_dir = c->state_dir;
	o.out = c->out;
	json_t *params = json_object_get(header, "params");
	struct salve_exec x;
	json_t *empty = json_object();
	exec_init(&x, rb, &o, json_is_object(params) ? params : empty);
	json_decref(empty);
	if (rb) {
		lua_State *L = rb->L;
		lua_pushcfunction(L, fill_s);
		lua_pushlightuserdata(L, results);
		lua_pushinteger(L, x.s_ref);
		if (lua_pcall(L, 2, 0, 0) != LUA_OK)
			lua_pop(L, 1);
	}
	/* Undo through the registry even when the runbook itself is not needed or not loaded. */
	salve_runbook shim;
	memset(&shim, 0, sizeof shim);
	shim.reg = c->reg;
	if (!rb) {
		shim.name = (char *)runbook;
		x.rb = &shim;
		x.info.runbook = shim.name;
	}
	x.journal = j;
	const char *rb_path = json_string_value(json_object_get(header, "path"));
	rsay(c, "salve: recovering run %s of %s (%s, journal %s)\n", run_id,
	     runbook ? runbook : "?", rb_path ? rb_path : "?", path);
	json_t *start =
	    json_pack("{s:s, s:s, s:s?, s:s?}", "event", "recover_start", "journal", path,
	              "runbook_path", json_string_value(json_object_get(header, "path")),
	              "runbook_sha256", json_string_value(json_object_get(header, "sha256")));
	if (c->by_run)
		json_object_set_new(start, "by_run", json_string(c->by_run));
	audit(&x, start);
	int incomplete = rollback_all(&x, done) < 0;
	if (!rb && rb_err[0] && incomplete)
		rsay(c, "salve: the runbook's rollback functions could not be loaded: %s\n",
		     rb_err);
	remove_temporaries(c, run_id, done, 1, entry);
	const char *outcome = incomplete ? "rollback_incomplete" : "rolled_back";
	json_t *end = json_pack("{s:s, s:s}", "event", "recover_end", "outcome", outcome);
	if (c->by_run)
		json_object_set_new(end, "by_run", json_string(c->by_run));
	audit(&x, end);
	char jerr[512];
	if (journal(&x, json_pack("{s:s, s:s}", "t", "end", "outcome", outcome), jerr,
	            sizeof jerr) < 0)
		rsay(c, "salve: run %s: %s\n", run_id, jerr);
	rsay(c, "salve: run %s: %s\n", run_id, outcome);
	json_object_set(entry, "steps", done);
	x.journal = NULL;
	salve_journal_close(j, !incomplete);
	if (x.rb == &shim)
		x.rb = NULL;
	exec_fini(&x);
	salve_runbook_free(rb);
	status = incomplete ? RECOVER_INCOMPLETE : RECOVER_ROLLED_BACK;
out:
	json_decref(results);
	json_decref(done);
	json_decref(records);
	return status;
error:
	json_object_set_new(entry, "error", json_string(err));
	rsay(c, "salve: run %s could not be recovered: %s\n", run_id, err);
	recover_audit(c, run_id, NULL,
	              json_pack("{s:s, s:s, s:s, s:s}", "event", "recover_end", "journal", path,
	                        "outcome", "error", "error", err));
	return RECOVER_ERROR;
}

static int recover_exit(enum recover_status st, const json_t *entry)
{
	if (st == RECOVER_INCOMPLETE || st == RECOVER_DAMAGED || st == RECOVER_ERROR)
		return SALVE_EXIT_ROLLBACK_INCOMPLETE;
	if (st == RECOVER_PLANNED && json_is_true(json_object_get(entry, "needs_human")))
		return SALVE_EXIT_ROLLBACK_INCOMPLETE;
	return SALVE_EXIT_OK;
}

/* The state dir and its runs dir, checked without creating anything: 1 when there are
 * journals to look at, 0 when there is no runs dir, -1 when the state dir is refused. */
static int runs_dir(const char *state_dir, char *err, size_t errlen)
{
	char dir[4096];
	int rc = salve_state_check(state_dir, 1, err, errlen);
	if (rc <= 0)
		return rc;
	snprintf(dir, sizeof dir, "%s/runs", state_dir);
	return salve_state_check(dir, 0, err, errlen);
}

int salve_engine_recover(const char *state_dir, salve_registry *reg, salve_audit *audit_log,
                         FILE *out, const salve_recover_options *ro, json_t **summary)
{
	struct recover_ctx c = {state_dir,         reg, audit_log, out, ro ? ro->dry_run : 0,
	                        ro ? ro->list : 0, NULL};
	json_t *report = json_array();
	int code = SALVE_EXIT_OK;
	char err[4600] = "";
	int have = runs_dir(state_dir, err, sizeof err);
	if (have < 0) {
		rsay(&c, "salve: %s\n", err);
		code = SALVE_EXIT_CANTCREAT;
	}
	if (have > 0 && !c.dry_run && !c.list)
		salve_journal_remove_stale(state_dir);
	json_t *paths = have > 0 ? salve_journal_list(state_dir) : json_array();
	size_t i;
	json_t *jp;
	json_array_foreach(paths, i, jp)
	{
		json_t *entry = json_object();
		enum recover_status st = recover_one(&c, json_string_value(jp), entry);
		json_object_set_new(entry, "status", json_string(recover_status_names[st]));
		int rc = recover_exit(st, entry);
		if (rc && !code)
			code = rc;
		json_array_append_new(report, entry);
	}
	if (summary) {
		*summary = json_pack("{s:i, s:O}", "exit_code", code, "runs", report);
		if (err[0])
			json_object_set_new(*summary, "error", json_string(err));
		salve_redact_json(*summary);
	}
	json_decref(report);
	json_decref(paths);
	return code;
}

int salve_engine_resolve(const char *state_dir, salve_audit *audit_log, const char *run_id,
                         const char *note, FILE *out)
{
	struct recover_ctx c = {state_dir, NULL, audit_log, out, 0, 0, NULL};
	char err[4600], path[4400];
	if (!salve_journal_valid_run_id(run_id)) {
		rsay(&c, "salve: \"%s\" is not a run id\n", run_id);
		return SALVE_EXIT_USAGE;
	}
	if (!note || !*note) {
		rsay(&c, "salve: --resolve needs --note TEXT: what was checked or done by hand\n");
		return SALVE_EXIT_USAGE;
	}
	int have = runs_dir(state_dir, err, sizeof err);
	if (have < 0) {
		rsay(&c, "salve: %s\n", err);
		return SALVE_EXIT_CANTCREAT;
	}
	snprintf(path, sizeof path, "%s/runs/%s.journal", state_dir, run_id);
	if (!have || access(path, F_OK) < 0) {
		rsay(&c, "salve: run %s has no journal in %s/runs\n", run_id, state_dir);
		return SALVE_EXIT_USAGE;
	}
	salve_journal *j = NULL;
	json_t *records = NULL;
	salve_journal_check check;
	enum salve_journal_status js =
	    salve_journal_adopt(path, &j, &records, &check, err, sizeof err);
	if (js != SALVE_JOURNAL_OK) {
		rsay(&c, "salve: %s\n", err);
		return js == SALVE_JOURNAL_BUSY ? SALVE_EXIT_TEMPFAIL : SALVE_EXIT_IOERR;
	}
	json_t *last = json_array_get(records, json_array_size(records) - 1);
	int waiting =
	    check.damaged || (jstr_is(json_object_get(last, "t"), "end") &&
	                      jstr_is(json_object_get(last, "outcome"), "rollback_incomplete"));
	json_t *header = json_array_get(records, 0);
	const char *runbook = json_string_value(json_object_get(header, "runbook"));
	if (!waiting) {
		rsay(&c,
		     "salve: run %s is not waiting for a human: `salve recover` can still roll it "
		     "back (see `salve recover --dry-run`)\n",
		     run_id);
		salve_journal_close(j, 0);
		json_decref(records);
		return SALVE_EXIT_USAGE;
	}
	json_t *results = json_object();
	json_t *done = replay(records, results);
	json_t *left = json_array();
	size_t i, k;
	json_t *rec, *ch;
	json_array_foreach(done, i, rec) json_array_foreach(json_object_get(rec, "changes"), k, ch)
	{
		if (strcmp(json_string_value(json_object_get(ch, "state")), "undone") != 0)
			json_array_append_new(left,
			                      json_pack("{s:O, s:O, s:O, s:O?, s:O}", "step",
			                                json_object_get(rec, "name"), "plugin",
			                                json_object_get(ch, "plugin"), "action",
			                                json_object_get(ch, "action"), "target",
			                                json_object_get(ch, "target"), "state",
			                                json_object_get(ch, "state")));
	}
	json_t *arec = json_pack("{s:s, s:s, s:s, s:o}", "event", "recover_resolved", "journal",
	                         path, "note", note, "left", left);
	if (check.damaged)
		json_object_set_new(arec, "damaged", json_string(check.problem));
	int code = SALVE_EXIT_OK;
	if (recover_audit(&c, run_id, runbook, arec) < 0) {
		rsay(&c, "salve: the audit log cannot be written: run %s is not marked handled\n",
		     run_id);
		salve_journal_close(j, 0);
		code = SALVE_EXIT_IOERR;
	} else if (salve_journal_retire(j, err, sizeof err) < 0) {
		rsay(&c, "salve: %s\n", err);
		code = SALVE_EXIT_IOERR;
	} else {
		rsay(&c,
		     "salve: run %s marked as handled (audited); its journal is kept in "
		     "%s/runs/resolved/\n",
		     run_id, state_dir);
	}
	json_decref(results);
	json_decref(done);
	json_decref(records);
	return code;
}

/* A run must not start on a lock whose previous holder died with its journal in place: that
 * run is recovered first, under the lock. Returns 0 to go on, or the exit status that
 * refuses the run (why says why). */
static int recover_lock_predecessors(struct salve_exec *x, const char *key, char *why,
                                     size_t whylen)
{
	json_t *paths = salve_journal_list(x->opt->state_dir);
	int code = 0;
	size_t i;
	json_t *jp;
	json_array_foreach(paths, i, jp)
	{
		const char *path = json_string_value(jp);
		char run_id[128], err[4096];
		salve_journal_run_id(path, run_id, sizeof run_id);
		json_t *records = NULL;
		salve_journal_check check;
		if (strcmp(run_id, x->run_id) == 0 ||
		    salve_journal_read(path, &records, &check, NULL, err, sizeof err) < 0)
			continue;
		const char *lock =
		    json_string_value(json_object_get(json_array_get(records, 0), "lock"));
		int same = lock && strcmp(lock, key) == 0;
		json_decref(records);
		if (!same)
			continue;
		say(x,
		    "salve: lock \"%s\": its previous holder, run %s, died with its journal in "
		    "place: recovering it first\n",
		    key, run_id);
		struct recover_ctx c = {
		    x->opt->state_dir, x->rb->reg, x->opt->audit, x->opt->out, 0, 0, x->run_id};
		json_t *entry = json_object();
		enum recover_status st = recover_one(&c, path, entry);
		json_decref(entry);
		if (st == RECOVER_LIVE) {
			snprintf(why, whylen,
			         "lock \"%s\": the journal of its previous holder, run %s, is held "
			         "by another process (a recover in progress?): try again later",
			         key, run_id);
			code = SALVE_EXIT_TEMPFAIL;
			break;
		}
		if (st != RECOVER_ROLLED_BACK && st != RECOVER_FINISHED) {
			snprintf(why, whylen,
			         "lock \"%s\": its previous holder, run %s, died and what it left "
			         "needs a human (%s): see `salve recover --list`, then `salve "
			         "recover --resolve %s --note TEXT` once it is handled",
			         key, run_id, recover_status_names[st], run_id);
			code = SALVE_EXIT_ROLLBACK_INCOMPLETE;
			break;
		}
	}
	json_decref(paths);
	return code;
}
