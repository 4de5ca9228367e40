/*
 * A run of salve serve: its record (what it was accepted for and where it is), the run table
 * (every run, newest last, finished ones kept up to server.history) and the queue of runs
 * waiting for a worker.
 *
 * The table also threads its finished runs in the order they finished, so that accepting a
 * run evicts the oldest finished ones past history in O(1) amortized: it never walks the
 * runs still queued or running (thousands when runs are accepted faster than they run).
 *
 * Ownership: the run table owns its runs (srv_run_free_all at stop; finished runs leave it
 * when history is full). Locking: a run's status fields, the table and the queue are under
 * srv->mu: the functions marked "under mu" expect the caller to hold it. A run's id, route,
 * runbook source, params, alert, keys and target never change once it is queued and may be
 * read without it. cv is signalled under mu when its approval is decided.
 */
#ifndef SRV_RUN_H
#define SRV_RUN_H

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>

struct srv_server;
struct srv_route_state;

enum srv_run_state {
	SRV_RUN_QUEUED = 0,
	SRV_RUN_STARTING,
	SRV_RUN_WAITING_LOCK,
	SRV_RUN_RUNNING,
	SRV_RUN_AWAITING_APPROVAL,
	SRV_RUN_FINISHED,
};

enum srv_approval_state {
	SRV_APPROVAL_NONE = 0,
	SRV_APPROVAL_PENDING,
	SRV_APPROVAL_APPROVED,
	SRV_APPROVAL_DENIED,
	SRV_APPROVAL_TIMEOUT,
	SRV_APPROVAL_CANCELLED,
};

struct srv_run {
	struct srv_server *srv;
	char id[33];
	struct srv_route_state *rs;
	int resolved; /* started by on_resolved */
	int dry_run;
	char *trigger;      /* what started it, as audited: "alert:<fingerprint>", ... */
	char *runbook;      /* path or builtin:NAME */
	char *runbook_name; /* once loaded */
	json_t *params;     /* rendered from the alert */
	json_t *alert;      /* normalized alert, or NULL when no alert started it */
	char *occ_key, *target_key;
	char *target;
	enum srv_run_state state;
	int ready;           /* its acceptance is audited: a worker may take it */
	const char *outcome; /* success, rolled_back, rollback_incomplete, error, cancelled */
	int exit_code;
	char *error;
	json_t *steps; /* steps.c */
	char created_at[40], started_at[40], ended_at[40], first_step_at[40];
	double t_created, t_first_step; /* monotonic */
	volatile sig_atomic_t cancel;   /* shutdown: the engine stops and rolls back */
	char *cancel_reason;
	enum srv_approval_state approval;
	char approval_step[128];
	double approval_deadline;
	char approval_deadline_at[40];
	char *approval_by, *approval_comment;
	pthread_cond_t cv;
	struct srv_run *qprev, *qnext; /* the queue */
	struct srv_run *older, *newer; /* the run table in creation order */
	struct srv_run *fprev, *fnext; /* the finished runs in finish order: eviction */
	int in_finished;
};

/* A new queued run of rs started by trigger (copied) for alert (borrowed, may be NULL);
 * params and target are stolen (freed on failure), the keys copied. NULL when out of memory.
 * Not in the table yet. */
struct srv_run *srv_run_new(struct srv_server *s, struct srv_route_state *rs, const char *trigger,
                            const json_t *alert, int resolved, json_t *params, char *target,
                            const char *occ_key, const char *target_key);
void srv_run_free(struct srv_run *r);

const char *srv_run_state_name(enum srv_run_state st);
const char *srv_approval_name(enum srv_approval_state a);
/* The runbook's name once loaded, else its source. Under mu (runbook_name is set late). */
const char *srv_run_runbook_label(const struct srv_run *r);
const char *srv_run_fingerprint(const struct srv_run *r);
/* The trigger of a run an alert started: "alert:<fingerprint>". */
void srv_run_alert_trigger(const json_t *alert, char *buf, size_t len);

/* The spool entry of r (new reference): all a restart needs to queue it again. */
json_t *srv_run_spool_entry(const struct srv_run *r);
/* A queued, ready run of rs from a spool entry, keeping its id and times; NULL with why
 * when the entry is not a whole run. Not in the table yet. */
struct srv_run *srv_run_from_spool(struct srv_server *s, struct srv_route_state *rs,
                                   const json_t *entry, char *why, size_t whylen);

/* Under mu: takes r's dedup keys, adds it to the table (evicting the runs that finished
 * first, beyond history, once their request is answered) and to the end of the queue. */
void srv_run_enqueue(struct srv_server *s, struct srv_run *r);
/* Under mu: r (in the table) is finished: its state becomes SRV_RUN_FINISHED and it joins
 * the newest end of the finished runs, the ones evicted past history (oldest finished first,
 * once its request is answered). */
void srv_run_set_finished(struct srv_server *s, struct srv_run *r);
/* Under mu: takes r out of the queue (a worker starts it). */
void srv_run_dequeue(struct srv_server *s, struct srv_run *r);
/* Under mu: the first ready run of the queue whose route is below its max_concurrent. */
struct srv_run *srv_run_next(struct srv_server *s);
/* Under mu: the run with this id still in the table, or NULL. */
struct srv_run *srv_run_find(struct srv_server *s, const char *id);
/* Under mu: a queued run leaves without running (resolved alert, API cancel): its keys and
 * spool entry go, it is counted. Returns the run_cancelled record for the caller to audit
 * after unlocking. */
json_t *srv_run_cancel_queued(struct srv_server *s, struct srv_run *r, const char *reason);
/* Under mu: a run waiting for approval is cancelled (its worker wakes and the engine rolls
 * back). Does nothing unless the approval is pending. */
void srv_run_cancel_approval(struct srv_run *r, const char *reason);
/* Frees every run of the table (the workers have stopped). */
void srv_run_free_all(struct srv_server *s);

#endif
