/*
 * salve serve's internals, shared by its modules: the server state, runs, the queue and the
 * worker pool (runs.c), the HTTP front (http.c) and the commands (cli.c).
 *
 * Locking: one mutex (srv->mu) guards every field below that changes after start-up: the
 * queue, the run table and each run's status fields, route states, the dedup table, the
 * guardrail windows and the metrics. It is never held across a runbook, a plugin call or an
 * audit write. A run's Lua state and engine belong to the worker thread running it.
 */
#ifndef SRV_SRV_H
#define SRV_SRV_H

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>

#include "audit.h"
#include "config.h"
#include "guard.h"
#include "metrics.h"
#include "registry.h"
#include "route.h"
#include "state.h"
#include "strmap.h"

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

struct srv_route_state {
	const srv_route *route;
	int active;   /* started, not finished */
	int queued;   /* accepted, not started */
	int failures; /* consecutive failed runs */
	int open;     /* circuit open: alerts refused until reset */
	char *open_reason;
	srv_rate rate;
	srv_targets targets;
};

struct srv_server;

struct srv_run {
	struct srv_server *srv;
	char id[33];
	struct srv_route_state *rs;
	int resolved; /* started by on_resolved */
	int dry_run;
	char *runbook;      /* path or builtin:NAME */
	char *runbook_name; /* once loaded */
	json_t *params;     /* rendered from the alert */
	json_t *alert;      /* normalized alert */
	char *occ_key, *target_key;
	char *target;
	enum srv_run_state state;
	int ready;           /* its acceptance is audited: a worker may take it */
	const char *outcome; /* success, rolled_back, rollback_incomplete, error, cancelled */
	int exit_code;
	char *error;
	json_t *steps;
	char created_at[40], started_at[40], ended_at[40], first_step_at[40];
	double t_created, t_first_step, t_step; /* monotonic; t_step: the current step */
	volatile sig_atomic_t cancel;           /* shutdown: the engine stops and rolls back */
	char *cancel_reason;
	enum srv_approval_state approval;
	char approval_step[128];
	double approval_deadline;
	char approval_deadline_at[40];
	char *approval_by, *approval_comment;
	pthread_cond_t cv;
	struct srv_run *qprev, *qnext; /* the queue */
	struct srv_run *older, *newer; /* the run table in creation order */
};

/* One worker thread and what it is doing, for the shutdown report (fields under mu). A copy,
 * not a pointer to the run: a finished run may leave the table while its worker still
 * closes the run's Lua state. */
struct srv_worker {
	struct srv_server *srv;
	pthread_t thread;
	char run[33], route[65], runbook[256];
	const char *phase; /* NULL when idle */
};

struct srv_server {
	salve_config *cfg;
	srv_conf conf;
	srv_routes routes;
	struct srv_route_state *rs;
	salve_registry *reg;
	salve_audit *audit;
	const char *state_dir;
	char serve_dir[4096], spool_dir[4200], circuit_dir[4200], pause_path[4200];
	int durable;                                /* fdatasync spool files (audit_sync always) */
	unsigned char spool_key[SRV_SPOOL_KEY_LEN]; /* HMAC key of spool entries */
	unsigned char token_hash[SRV_TOKEN_KINDS][65]; /* hex SHA-256 of each token */
	int has_token[SRV_TOKEN_KINDS];
	int loopback;

	pthread_mutex_t mu;
	pthread_cond_t work_cv;
	struct srv_run *qhead, *qtail;
	size_t queued;
	struct srv_run *oldest, *newest;
	size_t nruns;
	srv_strmap *by_id;
	srv_dedup *dedup;
	srv_targets global_targets;
	srv_metrics *metrics;
	int paused;
	int stopping;
	size_t active, awaiting;
	struct srv_worker *slots;
	int nworkers;
	/* Group commit of the hooks (commit.c), under commit_mu. */
	pthread_mutex_t commit_mu;
	pthread_cond_t commit_cv;
	struct commit_job *commit_head, *commit_tail;
	size_t commit_outstanding; /* submitted, not yet answered */
	int commit_stop, commit_ready, committer_running;
	pthread_t committer;
	salve_audit *batch_audit; /* the same log, opened without sync: one sync per batch */

	struct MHD_Daemon *mhd;
	unsigned port;
	pthread_mutex_t conn_mu; /* the open connections (http.c) */
	struct conn_track *conns;
	int nconns;
	char *tls_cert_pem, *tls_key_pem; /* kept for the daemon's lifetime */
};

/* ---- runs.c ---- */

/* Sets up state (spool, circuits), metrics and the worker pool; requeues spooled runs.
 * 0, or -1 with err. */
int srv_runs_start(struct srv_server *s, char *err, size_t errlen);
/* Cancels active runs (they roll back) and waits up to conf.shutdown_grace for the workers.
 * Queued runs stay in the spool for the next start. Returns 0 when every worker stopped (all
 * is freed); else the number of workers still busy after the grace (a runbook's finalizer
 * that loops, a plugin call that never returns): each is logged and audited
 * (run_abandoned), *abandoned (new reference, may be NULL) lists them, and nothing is freed
 * because those threads still use it: the caller must end the process (_exit). Their runs'
 * journals stay for salve recover. */
int srv_runs_stop(struct srv_server *s, json_t **abandoned);

/* Routes alerts (normalized, see alert.h) from hook ("alertmanager", "generic") received at
 * t_received (monotonic; the latency of runs is measured from it): audits
 * every alert's decision, queues runs. Returns the HTTP status (202 runs queued, 200 nothing
 * to run, 503 the queue was full for at least one, 500 the audit log failed) and *result
 * (new reference). The three steps below, in one call on the caller's thread. */
int srv_ingest(struct srv_server *s, const char *hook, const json_t *alerts, double t_received,
               json_t **result);

/* The same in three steps, so that durability can leave the HTTP threads (commit.c):
 * decide (under mu: routing, dedup, guardrails; new runs queued but not yet ready), write
 * (spool files and audit records through audit, which may be a batch handle that does not
 * sync), finish (after the batch is durable: runs released to the workers, the answer built,
 * in freed). decide returns NULL when out of memory. */
struct srv_ingest;
struct srv_ingest *srv_ingest_decide(struct srv_server *s, const char *hook, const json_t *alerts,
                                     double t_received);
void srv_ingest_write(struct srv_server *s, struct srv_ingest *in, salve_audit *audit);
/* Whether write spooled runs (the spool directory then needs its own sync). */
int srv_ingest_spooled(const struct srv_ingest *in);
int srv_ingest_finish(struct srv_server *s, struct srv_ingest *in, int sync_failed,
                      json_t **result);

/* The status API. Each returns an HTTP status and *out (new reference). */
int srv_runs_list(struct srv_server *s, const char *state, const char *route, int limit,
                  json_t **out);
int srv_run_get(struct srv_server *s, const char *id, json_t **out);
/* decision: "approve", "deny" or "cancel"; body may carry by, comment, step. */
int srv_run_decide(struct srv_server *s, const char *id, const char *decision, const json_t *body,
                   json_t **out);
int srv_routes_list(struct srv_server *s, json_t **out);
int srv_route_reset(struct srv_server *s, const char *name, const char *by, json_t **out);
/* pause != 0 pauses (writes the pause file), else resumes. */
int srv_set_paused(struct srv_server *s, int pause, const char *by, const char *reason,
                   json_t **out);
/* Re-reads the pause file (the CLI may have changed it); wakes workers on a change. */
void srv_check_pause(struct srv_server *s);
/* Periodic housekeeping: expired dedup entries, the pause file. */
void srv_tick(struct srv_server *s);
/* Renders /metrics (refreshing gauges). malloc'd. */
char *srv_metrics_text(struct srv_server *s);
/* Counts an HTTP request by handler and status. */
void srv_count_request(struct srv_server *s, const char *handler, unsigned status);
/* Counts connections closed for passing request_timeout. */
void srv_count_timeouts(struct srv_server *s, int n);

/* ---- commit.c ---- */

/* Called on the writer thread when a request's batch is durable (or failed): status and
 * result (new reference) as srv_ingest_finish gives them. */
typedef void (*srv_commit_done_fn)(void *ctx, int status, json_t *result);
/* Opens the batch handle on the audit log and starts the writer. 0 or -1 with err. */
int srv_commit_start(struct srv_server *s, char *err, size_t errlen);
/* Hands a decided request to the writer: queued(ctx) runs under the writer's lock before it
 * can see the job (the HTTP side suspends its connection there), done(ctx, ...) later on
 * the writer's thread. -1 when the writer is stopping or not running: the caller writes
 * the request itself (srv_ingest_write with s->audit, then srv_ingest_finish). */
int srv_commit_submit(struct srv_server *s, struct srv_ingest *in, srv_commit_done_fn done,
                      void (*queued)(void *ctx), void *ctx);
/* Refuses new jobs and waits until every submitted one is answered. */
void srv_commit_drain(struct srv_server *s);
/* Drains, stops the writer and closes its handle. */
void srv_commit_stop(struct srv_server *s);

/* ---- http.c ---- */

/* 0; -2 when the settings are wrong (listen address, tokens missing off loopback, TLS
 * files); -1 when the daemon cannot start (address in use). err says why. */
int srv_http_start(struct srv_server *s, char *err, size_t errlen);
void srv_http_stop(struct srv_server *s);
/* Closes connections that passed their request deadline (request_timeout). Called every
 * second by the main loop. */
void srv_http_tick(struct srv_server *s);

#endif
