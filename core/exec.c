/* The state of one run: its output, audit and journal, and the hooks its steps call (see
 * exec.h). */
#include "exec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"
#include "util.h"

void salve_exec_say(const struct salve_exec *x, const char *fmt, ...)
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

void salve_exec_brief(const json_t *v, char *buf, size_t len)
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

int salve_exec_audit(struct salve_exec *x, json_t *rec)
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

int salve_exec_journal(struct salve_exec *x, json_t *rec, char *err, size_t errlen)
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

const char *salve_phase_name(enum salve_phase p)
{
	static const char *const names[] = {"when",   "check",    "run",
	                                    "verify", "rollback", "lifecycle"};
	return names[p];
}

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
		snprintf(x->interrupt, sizeof x->interrupt, "step \"%s\" passed its deadline",
		         x->step ? x->step->name : "?");
		return x->interrupt;
	}
	return NULL;
}

static const salve_step_hooks step_hooks = {on_action, on_degraded, on_interrupt};

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
