/*
 * salve serve's shared state and the helpers every module of core/serve uses.
 *
 * The modules, each including only modules listed before it (the graph is one-way):
 *   pure parts  strmap, guard, metrics, matcher, tmpl, alert, log, state, route, render
 *   srv (this)  the server's state below, audit records, route lookup
 *   spool       sealed files of accepted runs (STATE_DIR/serve/queue)
 *   dedupfile   the dedup table's durable copy (STATE_DIR/serve/dedup.jsonl)
 *   circuits    circuit breakers and their files
 *   pause       the pause switch
 *   run         a run's record, the run table and the queue
 *   steps       a run's step list, built from the engine's events
 *   approvals   the engine's approve hook, its notice, the API's decisions
 *   ingest      routing decisions: alerts in, runs queued, the hook's answer
 *   status      the read side of the API and /metrics
 *   workers     the worker pool: pick a run, execute it, finish it
 *   lifecycle   start, tick and stop of the run side
 *   commit      group commit of the hooks
 *   http        the HTTP front
 *   env         what every command loads first
 *   cli_serve   salve serve; cli_routes: salve routes, pause and resume
 *
 * Ownership: salve serve's command (cli_serve.c) owns the struct srv_server; its config,
 * server settings, routes and registry are borrowed from the command's env for the server's
 * lifetime; everything else in it is made by lifecycle.c (run side) and http.c (HTTP front)
 * and freed by their stop functions.
 *
 * Locking: one mutex (srv->mu) guards every field below that changes after start-up (the
 * queue, the run table and each run's status fields, route states, the dedup table, the
 * guardrail windows, the metrics) unless a field names another lock. It is never held
 * across a runbook, a plugin call or an audit write. A run's Lua state and engine belong to
 * the worker thread running it.
 */
#ifndef SRV_SRV_H
#define SRV_SRV_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>

#include "audit.h"
#include "config.h"
#include "guard.h"
#include "launch.h"
#include "metrics.h"
#include "registry.h"
#include "route.h"
#include "state.h"
#include "strmap.h"

struct srv_run;
struct srv_worker;

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

struct srv_server {
	const salve_env *env; /* what every run is launched with */
	salve_config *cfg;
	srv_conf conf;
	srv_routes routes;
	struct srv_route_state *rs;
	salve_registry *reg;
	salve_audit *audit;
	const char *state_dir;
	char serve_dir[4096], spool_dir[4200], circuit_dir[4200], pause_path[4200];
	int durable; /* audit_sync always: spool entries durable before the answer (spool.h) */
	unsigned char spool_key[SRV_SPOOL_KEY_LEN];    /* HMAC key of spool entries */
	unsigned char token_hash[SRV_TOKEN_KINDS][65]; /* hex SHA-256 of each token */
	int has_token[SRV_TOKEN_KINDS];
	int loopback;

	pthread_mutex_t mu;
	pthread_cond_t work_cv;
	struct srv_run *qhead, *qtail;
	size_t queued;
	struct srv_run *oldest, *newest;
	size_t nruns;
	struct srv_run *finished_oldest, *finished_newest; /* in finish order (run.c) */
	srv_strmap *by_id;
	srv_dedup *dedup;
	srv_targets global_targets;
	srv_metrics *metrics;
	int paused;
	pthread_mutex_t pause_mu; /* one pause check at a time (pause.c); taken before mu */
	const volatile unsigned long long *pause_gen; /* mapped (state.h), or NULL */
	unsigned long long pause_gen_seen;            /* read by the check s->paused reflects */
	struct srv_ha *ha;             /* with `ha:` (ha.h), else NULL; thread-safe on its own */
	struct srv_takeover *takeover; /* with `ha:` (takeover.h), else NULL */
	srv_strmap *deciding;      /* with `ha:`: runs whose start etcd is deciding now, under mu */
	pthread_cond_t decided_cv; /* broadcast when one of them is decided */
	int stopping;
	size_t active, awaiting;
	/* The dedup table's durable copy (dedupfile.c), under dedup_file_mu. */
	pthread_mutex_t dedup_file_mu;
	char dedup_path[4200];
	int dedup_fd;
	size_t dedup_lines;         /* lines in the file */
	struct srv_worker *workers; /* workers.c */
	int nworkers;
	/* Group commit of the hooks (commit.c), under commit_mu. */
	pthread_mutex_t commit_mu;
	pthread_cond_t commit_cv;
	struct srv_commit_job *commit_head, *commit_tail;
	size_t commit_outstanding; /* submitted, not yet answered */
	int commit_stop, commit_ready, committer_running;
	pthread_t committer;
	salve_audit *batch_audit; /* the same log, opened without sync: one sync per batch */

	struct MHD_Daemon *mhd;
	unsigned port;
	pthread_mutex_t conn_mu; /* the open connections (http.c) */
	struct srv_conn *conns;
	int nconns;
	char *tls_cert_pem, *tls_key_pem; /* kept for the daemon's lifetime */
};

/* Writes one server record (stolen) to the audit log, seq and ts first. 0, or -1 (logged). */
int srv_audit(struct srv_server *s, json_t *rec);
/* The same through audit, which may be a batch handle that does not sync (commit.c). */
int srv_audit_to(salve_audit *audit, json_t *rec);
/* The metrics label set {route="NAME"} of rs into buf. */
void srv_route_labels(char *buf, size_t len, const struct srv_route_state *rs);
/* The state of the route named name, or NULL. Route states never move after start-up. */
struct srv_route_state *srv_route_state_find(struct srv_server *s, const char *name);
/* A condition variable on CLOCK_MONOTONIC (timed waits survive changes of the wall clock). */
void srv_cond_init_monotonic(pthread_cond_t *cv);

#endif
