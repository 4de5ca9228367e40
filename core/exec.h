/*
 * Private to the engine's files (engine.c, exec.c, exec_init.c, dispatch.c, rollback.c,
 * notices.c, recover.c): the state of one run as the engine executes or recovers it. Nothing here
 * touches Lua: the runbook module does, through the step hooks (runbook.h).
 *
 * One salve_exec is used by the thread running its run.
 */
#ifndef SALVE_EXEC_H
#define SALVE_EXEC_H

#include <jansson.h>

#include "engine.h"
#include "host.h"
#include "journal.h"
#include "notices.h"

/* Where in a step the run is: what an action may do depends on it (dispatch.c). */
enum salve_phase {
	SALVE_PHASE_WHEN = 0,
	SALVE_PHASE_CHECK,
	SALVE_PHASE_RUN,
	SALVE_PHASE_VERIFY,
	SALVE_PHASE_ROLLBACK,
	SALVE_PHASE_NOTICE, /* a notice to people (notices.c): notify actions only */
};

struct salve_exec {
	salve_runbook *rb; /* NULL when recovering a run whose runbook is not needed */
	salve_registry *reg;
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
	int fenced_said;  /* the fencing was told */
	int io_failed;    /* the audit log or journal could not be written */
	int not_injected; /* --fail-at named a step whose gate was shut: no failure injected */
	json_t *degraded; /* [{step, message}] reported by degraded() */
	struct salve_notices notices;
	json_t *held; /* while a step runs: its lines, printed after its status line */
	/* After each dispatched action's audit: the notices subscriber (a page starts the
	 * escalation clock). */
	void (*on_action)(struct salve_exec *x, salve_loaded_plugin *plugin, const salve_action *a,
	                  const json_t *args, const char *outcome);
	char interrupt[256];
};

/* exec_init.c: the run's state set up. rb may be NULL (a recover that needs no rollback function);
 * reg is where plugins come from. With rb, its steps call back into the engine until
 * salve_exec_fini. */
void salve_exec_init(struct salve_exec *x, salve_runbook *rb, salve_registry *reg,
                     const salve_run_options *o, const json_t *params);
void salve_exec_fini(struct salve_exec *x);

/* exec.c: the run's output, audit and journal. */
/* A progress line for people (redacted, control characters escaped); nothing without out. */
void salve_exec_say(const struct salve_exec *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints the lines held while a step ran (held set to an array holds them). */
void salve_exec_release(struct salve_exec *x);
/* Compact one-line JSON for people, redacted, cut at len bytes. */
void salve_exec_brief(const json_t *v, char *buf, size_t len);
/* An audit record of the run (stolen); also handed to the trigger's on_event. */
int salve_exec_audit(struct salve_exec *x, json_t *rec);
/* With ha: the journal's mirror into etcd (exec.c; ctx is the salve_exec), and whether
 * another process owns the run now (asked of etcd when ask; then the run must change and
 * write nothing more: its new owner rolls it back). */
int salve_exec_mirror(void *ctx, long long seq, const char *line, size_t len, const json_t *rec,
                      char *err, size_t errlen);
int salve_exec_fenced(struct salve_exec *x, int ask);
/* A journal record (stolen); nothing without a journal (dry-run). */
int salve_exec_journal(struct salve_exec *x, json_t *rec, char *err, size_t errlen);
const char *salve_phase_name(enum salve_phase p);

/* dispatch.c: one plugin action, from a step or a notice. Enforces what the phase allows and
 * the run's mode (dry-run never reaches apply), journals the intent before apply and the
 * undo record after, audits the call. 0 with *result (new reference), or -1 with err. */
int salve_dispatch(struct salve_exec *x, salve_loaded_plugin *plugin, const salve_action *a,
                   json_t *args, const char *where, json_t **result, char *err, size_t errlen);

/* dispatch.c: plugin.action by name, for notices: the same dispatch, audit and redaction as a
 * runbook's call, in the notice phase (no mutation). 0 with *result; -1 with err when the
 * call failed (its action record says so); -2 with err when there was nothing to call (no
 * such plugin or action: nothing was audited). */
int salve_call_action(struct salve_exec *x, const char *plugin, const char *action, json_t *args,
                      const char *where, json_t **result, char *err, size_t errlen);

/* rollback.c: undoes the changes of the step records in done, newest first. 0 when all was
 * undone, -1 when something could not be. */
int salve_rollback_all(struct salve_exec *x, json_t *done);
/* Whether a step record has a change not yet undone. */
int salve_rollback_pending(const json_t *rec);

/* recover.c: a run must not start on a lock whose previous holder died with its journal in
 * place: that run is recovered first. 0 to go on, or the exit status refusing the run. */
int salve_recover_lock_predecessors(struct salve_exec *x, const char *key, char *why,
                                    size_t whylen);

#endif
