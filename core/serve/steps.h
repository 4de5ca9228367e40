/*
 * What the engine's events say about a run of salve serve. The events are the one source of
 * a run's step list, while it runs and after: GET /runs/ID shows the same steps then as
 * now, only further along. A step is
 *
 *   {name, index, state, outcome, started_at, duration_ms, error, note,
 *    approval: {outcome, reason}, actions: [{plugin, action, target, outcome, duration_ms}],
 *    rollback ("opted out"), rollback_error}
 *
 * built from step_start, step_end, approval_requested, approval, action and step_rollback;
 * state is running (or awaiting_approval) until the step ends, then its outcome. The engine's
 * summary adds only what no event carries (srv_steps_finish). Strings are redacted.
 *
 * The events also move the run along: its spool entry goes at run_start (the audit log and
 * the journal carry it from there), it is running from its first step_start, and the
 * alert-to-first-step latency and the step durations are measured from them.
 *
 * Locking: r->steps and the run's status fields are under srv->mu; srv_steps_on_event takes
 * it, srv_steps_finish expects the caller to hold it.
 */
#ifndef SRV_STEPS_H
#define SRV_STEPS_H

#include <jansson.h>

struct srv_run;

/* The engine's on_event hook (salve_run_options.on_event), ctx the struct srv_run. Called on
 * the run's worker thread. */
void srv_steps_on_event(void *ctx, const json_t *ev);
/* Under mu: adds to each step what only the engine's summary knows (custom_rollback,
 * rollback_disabled, changes and, in a dry-run, verify); never changes what the events
 * said. summary may be NULL (a run that did not start). */
void srv_steps_finish(struct srv_run *r, const json_t *summary);

#endif
