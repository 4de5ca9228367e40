/*
 * The step engine: runs a loaded runbook's steps in order, enforces action kinds and the
 * run's mode (dry-run never reaches a plugin's apply), journals every change before control
 * returns to the runbook, and on failure rolls back newest-first. Also finishes the rollback
 * of runs that died (salve recover) from their journals.
 *
 * Step outcomes: ok, changed, skipped, failed, rolled_back, rollback_failed.
 * One run per runbook at a time; different runbooks may run on different threads.
 */
#ifndef SALVE_ENGINE_H
#define SALVE_ENGINE_H

#include <jansson.h>
#include <signal.h>
#include <stdio.h>

#include "audit.h"
#include "runbook.h"

/* A run in progress, as its trigger's hooks see it (borrowed for the hook's call). */
typedef struct salve_exec salve_run;

typedef struct salve_run_options {
	enum salve_mode mode;
	int drill_notify;        /* dry-run: send notifications, marked [DRILL] */
	const char *fail_at;     /* inject a failure after this step's run */
	int drill_force;         /* dry-run: fail_at's step runs even when its gate is shut */
	const char *trigger;     /* "cli" when NULL */
	const char *fingerprint; /* alert fingerprint, when an alert triggered the run */
	const json_t *who;   /* who started it (CLI: uid, user, sudo_user, host, tty), or NULL */
	const char *run_id;  /* preset run id (salve serve), or NULL for a fresh one */
	double step_timeout; /* default per-step timeout, seconds; 0 = none */
	double run_timeout;  /* overrides the runbook's; 0 = the runbook's */
	double rollback_timeout; /* for the whole rollback; 0 = 10 minutes */
	const json_t *params;    /* validated (salve_runbook_params) */
	salve_audit *audit;      /* required */
	const char *state_dir;   /* required in apply mode (journal) */
	FILE *out;               /* human-readable progress, or NULL */
	volatile sig_atomic_t *cancel;
	/* Every audit event of the run (borrowed, without seq/ts), from the run's thread, once
	 * its record is written (or failed to be); for salve serve's status API, metrics and
	 * spool. May be NULL. */
	void (*on_event)(void *ctx, const json_t *event);
	/* Steps declaring approve = {...}: called before the step runs (never in a dry-run).
	 * Returns 1 to go on, 0 when denied or timed out (reason in why). NULL: such steps
	 * need --approve on the command line. run is for salve_run_notice. */
	int (*approve)(void *ctx, salve_run *run, const char *step, const json_t *spec, char *why,
	               size_t whylen);
	int approve_all; /* salve run --approve: the person running it approves every step */
	/* Run lifecycle notifications (salve.yaml lifecycle.notify), overridden by the
	 * runbook's notify = {...}: { to = "slack:#ops" | [...], on = [events],
	 * page_on_incomplete = true }. Events: start, step_failed, rolled_back,
	 * rollback_incomplete, success. Borrowed; may be NULL. */
	const json_t *lifecycle;
	const char *target; /* what the run acts on (its lock key), for messages; may be NULL */
	/* salve test: plugin calls are answered from this fixture instead of by the plugins
	 * (which are then never started); NULL for a real run. */
	struct salve_replay *replay;
	/* With `ha:`: the run's owner key, lock and journal copy in etcd (launch's, harun.h):
	 * every journal record is written there too, fenced, and a mutation starts only while
	 * this replica's lease is trusted. NULL without ha: (and in dry-run). */
	struct salve_ha_run *ha;
	void *ctx; /* passed to on_event and approve */
} salve_run_options;

/* Runs rb. In apply mode with a runbook lock (which the caller holds), a previous holder
 * of that lock that died with its journal in place is recovered first; when that cannot be
 * finished the run is refused: 2 (a human must look) or 75 (another process holds that
 * journal). Returns the exit status (exitcodes.h); *summary (new reference, may be NULL) is
 * {run_id, runbook, mode, outcome, exit_code, duration_ms, steps: [...]}. */
int salve_engine_run(salve_runbook *rb, const salve_run_options *o, json_t **summary);

/* From a hook of a run in progress (approve): tells people through the notify plugin's send
 * action, dispatched and audited as one of the run's actions, with run_info "outcome" set to
 * outcome for the call. 0, or -1 with err. Implemented in notices.c. */
int salve_run_notice(salve_run *run, const char *to, const char *summary, const char *text,
                     const char *outcome, char *err, size_t errlen);

typedef struct salve_recover_options {
	int dry_run; /* print the plan: nothing is changed, removed or audited */
	int list;    /* describe each journal: run, runbook, steps, undo records */
	/* With ha: a local journal is recovered only through etcd: taken over when its run is
	 * still there (never while another process owns it), retired untouched when etcd no
	 * longer has it (another replica recovered it), left when etcd cannot be asked. */
	struct salve_ha_node *ha;
} salve_recover_options;

/* salve recover: for every journal in state_dir/runs, rolls back a dead run's changes
 * newest first (rollback functions from the runbook as it ran, kept in the journal); removes
 * the journal of a run that had finished; leaves a live run's journal to it; touches nothing
 * in a journal whose integrity check fails. Returns 0 when every dead run was undone (live
 * ones are reported), 2 when any journal could not be processed or something could not be
 * undone, 73 when the state dir is refused. *summary (new reference, may be NULL):
 * {exit_code, runs: [{journal, run_id, status, ...}]}. ro may be NULL. */
int salve_engine_recover(const char *state_dir, salve_registry *reg, salve_audit *audit, FILE *out,
                         const salve_recover_options *ro, json_t **summary);

/* With ha: takes over run_id, a run whose owner's lease ended with its journal in etcd (an
 * orphan, harun.h), and recovers it as salve recover would: the journal taken from etcd
 * (or this host's own copy, which is never shorter), an interrupted apply decided by its
 * step's check, every record written back to etcd fenced by the new ownership. Audited
 * (run_takeover: from which replica, what was found; then recover_start, recover_end). Then
 * its keys and lock go, or stay parked for a human when the rollback is incomplete.
 * by_run names a run that waits for it (its lock's next holder), or NULL. Returns 1 when it
 * was recovered here, 2 when it needs a human, 0 when another process owns it now (or it is
 * gone), -1 with err. */
int salve_engine_take_over(const char *state_dir, salve_registry *reg, salve_audit *audit,
                           FILE *out, struct salve_ha_node *ha, const char *run_id,
                           const char *by_run, char *err, size_t errlen);

/* salve recover --resolve RUN --note TEXT: a human has handled what recover could not (a
 * damaged journal, or a rollback that ended incomplete). Audits the note under the run's id
 * and moves its journal to state_dir/runs/resolved/. Returns the exit status; messages go to
 * out. */
int salve_engine_resolve(const char *state_dir, salve_audit *audit, const char *run_id,
                         const char *note, FILE *out);

#endif
