/* A run's state set up and torn down: the hooks its runbook's steps call, and the notices
 * subscriber (see exec.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "exec.h"
#include "util.h"

/* ---- what the runbook's steps call back (runbook.h's salve_step_hooks) ------------------- */

static int on_action(void *ctx, salve_loaded_plugin *plugin, const salve_action *a, json_t *args,
                     const char *where, json_t **result, char *err, size_t errlen)
{
	return salve_dispatch(ctx, plugin, a, args, where, result, err, errlen);
}

/* degraded("msg") from a step: the run goes on and is not rolled back, but ends as degraded
 * (exit 3). */
static int on_degraded(void *ctx, const char *where, const char *message, char *err, size_t errlen)
{
	struct salve_exec *x = ctx;
	if (!x->step) {
		snprintf(err, errlen, "%sdegraded() can only be called inside a step", where);
		return -1;
	}
	if (!x->degraded)
		x->degraded = json_array();
	json_array_append_new(x->degraded,
	                      json_pack("{s:s, s:s}", "step", x->step->name, "message", message));
	salve_exec_say(x, "      degraded: %s\n", message);
	salve_exec_audit(x, json_pack("{s:s, s:s, s:s}", "event", "degraded", "step", x->step->name,
	                              "message", message));
	return 0;
}

/* The Lua count hook's question: a reason to stop the running code, or NULL. */
static const char *on_interrupt(void *ctx)
{
	struct salve_exec *x = ctx;
	if (!x->info.ignore_cancel && x->info.cancel && *x->info.cancel) {
		snprintf(x->interrupt, sizeof x->interrupt, "run interrupted by signal %d",
		         (int)*x->info.cancel);
		return x->interrupt;
	}
	if (x->deadline > 0 && salve_now() > x->deadline) {
		if (x->run_deadline > 0 && x->deadline >= x->run_deadline &&
		    x->phase != SALVE_PHASE_ROLLBACK)
			snprintf(x->interrupt, sizeof x->interrupt,
			         "the run's timeout passed (in step \"%s\")",
			         x->step ? x->step->name : "?");
		else
			snprintf(x->interrupt, sizeof x->interrupt,
			         "step \"%s\" passed its deadline", x->step ? x->step->name : "?");
		return x->interrupt;
	}
	return NULL;
}

/* sleep() and wait_until(): in slices, so a deadline or a signal ends the wait at once. */
static int on_pause(void *ctx, double seconds, char *err, size_t errlen)
{
	double until = salve_now() + seconds;
	for (;;) {
		const char *why = on_interrupt(ctx);
		if (why) {
			snprintf(err, errlen, "%s", why);
			return -1;
		}
		double left = until - salve_now();
		if (left <= 0)
			return 0;
		struct timespec ts = {0, (long)((left < 0.05 ? left : 0.05) * 1e9)};
		nanosleep(&ts, NULL);
	}
}

static void on_audit(void *ctx, json_t *record)
{
	struct salve_exec *x = ctx;
	if (x->step)
		json_object_set_new(record, "step", json_string(x->step->name));
	salve_exec_audit(x, record);
}

static const salve_step_hooks step_hooks = {on_action, on_degraded, on_interrupt, on_pause,
                                            on_audit};

void salve_exec_init(struct salve_exec *x, salve_runbook *rb, salve_registry *reg,
                     const salve_run_options *o, const json_t *params)
{
	memset(x, 0, sizeof *x);
	x->rb = rb;
	x->reg = reg;
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
	x->on_action = salve_notices_on_action;
	if (rb) {
		salve_run_facts facts = {x->run_id, x->info.trigger, o->mode == SALVE_MODE_DRY_RUN,
		                         x->info.drill};
		salve_runbook_begin_run(rb, &step_hooks, x, params, &facts);
	}
}

void salve_exec_fini(struct salve_exec *x)
{
	if (x->rb)
		salve_runbook_end_run(x->rb);
	salve_notices_free(&x->notices);
	json_decref(x->degraded);
	x->degraded = NULL;
}
