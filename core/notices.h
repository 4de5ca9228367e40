/*
 * Notices: what a run tells people, as the one subscriber to the run's moments. Lifecycle
 * notifications (salve.yaml lifecycle.notify, or the runbook's notify = {...}), escalation
 * after a page, and serve's approval notices all go out from here through
 * salve_call_action, so each is dispatched, audited and redacted like a runbook's own call.
 * This is the only part of the core that knows the notify plugin's vocabulary (the plugin
 * "notify", its actions send, page, escalate and escalation_policy).
 *
 * Used by the thread running the run; a notice never fails the run (a failure is logged and
 * audited).
 */
#ifndef SALVE_NOTICES_H
#define SALVE_NOTICES_H

#include <jansson.h>

#include "registry.h"

struct salve_exec;

/* The moments of a run the engine reports. */
enum salve_moment {
	SALVE_MOMENT_START,       /* the run started */
	SALVE_MOMENT_STEP,        /* before a step or a step's rollback: escalations now due */
	SALVE_MOMENT_STEP_FAILED, /* a step failed (step, detail: its error) */
	SALVE_MOMENT_END,         /* the outcome is known (info.outcome); before run_end */
	SALVE_MOMENT_FINISHED,    /* the last: escalation levels not due yet are audited */
};

/* Per-run state (inside struct salve_exec): the first page of the run, and its escalation. */
struct salve_notices {
	double paged_at;
	salve_loaded_plugin *pager;
	char page_summary[512];
	json_t *escalation; /* the pager's escalation_policy, fetched when first due */
	size_t escalated;   /* levels sent so far */
};

void salve_notices_on(struct salve_exec *x, enum salve_moment m, const char *step,
                      const char *detail);
/* Every action the run dispatched, after its audit: a page that was sent starts the
 * escalation clock. */
void salve_notices_on_action(struct salve_exec *x, salve_loaded_plugin *plugin,
                             const salve_action *a, const json_t *args, const char *outcome);
void salve_notices_free(struct salve_notices *n);

#endif
