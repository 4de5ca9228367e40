/*
 * salve serve's side of `ha:` (docs/ha.md): the etcd client of the server, the decision
 * whether a run may start (one run per alert occurrence, and the guardrails every replica
 * shares), what a finished run leaves behind, the shared pause and the watcher that keeps
 * the last known state of etcd for /healthz.
 *
 * Keys (prefix from ha.prefix, default /salve):
 *   PREFIX/claims/<occurrence key>   {"instance", "replica", "run"} on a lease of
 *                                    max(lease_ttl, cooldown + run_timeout or 1 h)
 *   PREFIX/targets/<target key>      the same while the run is queued or running; when it
 *                                    ends {"ended_at", ...} on a lease of its cooldown
 *   PREFIX/resolved/<resolved key>   {"at", "replica"} on a lease of server.resolved_memory
 *   PREFIX/circuits/<route>          {"failures", "open", "reason", "last_run", "opened_at",
 *                                    "replica"}, no lease
 *   PREFIX/windows/route/<route>     {"rate": [start, ...], "targets": {KEY: last}}, no lease
 *   PREFIX/windows/server            {"targets": {KEY: last}} (server.max_targets), no lease
 *   PREFIX/pause                     {"by", "paused_at", "reason", "replica"}, no lease
 * (times in documents are wall-clock seconds; the keys under claims/, targets/ and resolved/
 * are the local dedup table's, with their 0x1f separators.)
 *
 * Ownership: srv_ha_open copies what it needs from the conf; srv_ha_close frees (and stops
 * the watcher). Answers' documents are new references the caller frees (srv_ha_answer_clear).
 * Threads: every function may be called from several threads at once; none takes srv->mu,
 * and callers must not hold it across one that asks etcd (a network round trip, bounded by
 * ha.etcd.timeout per endpoint). Those that never ask etcd say so.
 */
#ifndef SRV_HA_H
#define SRV_HA_H

#include <jansson.h>
#include <stddef.h>

#include "guard.h"
#include "route.h"

struct srv_ha;

/* The server's etcd side: the password reference resolved (and registered for redaction);
 * etcd itself is first contacted by the first request. NULL with err. */
struct srv_ha *srv_ha_open(const salve_ha_conf *conf, char *err, size_t errlen);
void srv_ha_close(struct srv_ha *h);

/* The client, the prefix, this replica's name and this process's instance id, for the
 * server's other users of etcd (takeover.c); they live as long as h. */
struct salve_etcd *srv_ha_etcd(const struct srv_ha *h);
const char *srv_ha_prefix(const struct srv_ha *h);
const char *srv_ha_replica(const struct srv_ha *h);
const char *srv_ha_instance(const struct srv_ha *h);

/* Who holds a claim or a target. */
typedef struct srv_ha_holder {
	char run[64];
	char replica[256];
	char ended_at[40]; /* a target: when its run ended ("" while the run is active) */
	int ours; /* made by this process (not a restarted one, nor a twin with our name) */
} srv_ha_holder;

/* ---- whether a run may start ---------------------------------------------------------------- */

typedef struct srv_ha_ask {
	const char *route;    /* its name: the key of its circuit and window */
	const char *occ;      /* the occurrence's dedup key (claims/) */
	const char *target;   /* the target's dedup key (targets/) */
	const char *resolved; /* the occurrence's resolved key, or NULL: not checked */
	const char *run_id;
	double ttl;  /* how long the claims live (cooldown + run_timeout) */
	int breaker; /* the route's circuit_breaker; 0: its circuit is not read */
	srv_shared_limits limits;
	const char *const *targets; /* blast radius keys of the run */
	size_t ntargets;
} srv_ha_ask;

typedef struct srv_ha_answer {
	enum srv_shared_verdict verdict;
	srv_ha_holder holder; /* CLAIMED, TARGET */
	double retry_in;      /* RATE */
	json_t *circuit;      /* the route's circuit document as decided on, or NULL */
	int attempts;         /* transactions it took */
} srv_ha_answer;

/* Decides whether the run ask names may start, from the shared state (pause, resolved
 * occurrence, circuit, claims of the occurrence and target, blast radius and rate windows),
 * in the order of srv_shared_decide. When it may, the same transaction claims the occurrence
 * and the target for run_id and writes the windows, comparing the revision of every key it
 * read: two replicas never both spend the last slot. A refusal is decided on one consistent
 * read. A claim this process made for another run is taken over (the caller's dedup table
 * said the key is free here: that run is gone). 0 with *ans, or -1 (err): etcd could not be
 * asked, or concurrent writers won 16 times in a row; start nothing. */
int srv_ha_decide(struct srv_ha *h, const srv_ha_ask *ask, srv_ha_answer *ans, char *err,
                  size_t errlen);
void srv_ha_answer_clear(srv_ha_answer *ans);

/* ---- what runs leave behind -------------------------------------------------------------- */

/* A run of this process ended: its target key cools down for cooldown seconds from now (0:
 * it goes), only while the key still holds run_id's claim of this process. Queued, not
 * waited for: a writer thread puts the ends queued meanwhile in one transaction (a failure
 * is logged there; the key then keeps its lease, cooldown + run_timeout from the claim), and
 * srv_ha_close writes what is queued before it returns. 0, or -1 (err: out of memory, or
 * closing). */
int srv_ha_target_ended(struct srv_ha *h, const char *target, const char *run_id, double cooldown,
                        char *err, size_t errlen);
/* Counts a finished run into route's circuit (srv_breaker_next), compare-and-swap. 0 with
 * *opened the circuit document when this run opened it (new reference, else NULL), or -1. */
int srv_ha_circuit_count(struct srv_ha *h, const char *route, int breaker, int success, int failed,
                         const char *run_id, const char *why, json_t **opened, char *err,
                         size_t errlen);
/* Closes route's circuit (deletes its document); *was_open. 0 or -1. */
int srv_ha_circuit_reset(struct srv_ha *h, const char *route, int *was_open, char *err,
                         size_t errlen);
/* Remembers a resolved occurrence for memory seconds. 0 or -1. */
int srv_ha_remember_resolved(struct srv_ha *h, const char *resolved, double memory, char *err,
                             size_t errlen);
/* Gives back the occurrence and target keys run_id holds (made by any process of any
 * replica: run ids are unique), so another replica or a later alert may run it. 0 or -1. */
int srv_ha_give_back(struct srv_ha *h, const char *occ, const char *target, const char *run_id,
                     char *err, size_t errlen);

/* The last documents seen of route's circuit and window, and of the server's window (new
 * references or NULL each; route NULL: the server's window only). Never asks etcd. */
void srv_ha_known(struct srv_ha *h, const char *route, json_t **circuit, json_t **window,
                  json_t **server_window);

/* ---- the shared pause and the watcher ---------------------------------------------------------
 */

/* Starts the watcher (the first call; later calls do nothing): it reads the pause switch
 * first, here, then every 0.25 s on a thread of its own, and the circuits and windows every
 * second, and keeps what it read and how etcd answered. 0, or -1 (err) when the thread
 * cannot start (not tried again). */
int srv_ha_watch_start(struct srv_ha *h, char *err, size_t errlen);
/* Whether the shared pause is set, as last read (never asks etcd). When etcd could not be
 * read, *why (when not NULL) says why the first time (else ""), so that a log says it once per
 * outage. */
int srv_ha_paused(struct srv_ha *h, char *why, size_t whylen);
/* Sets (pause != 0) or lifts the shared pause; *was gets whether it was set. 0 or -1. */
int srv_ha_set_pause(struct srv_ha *h, int pause, const char *by, const char *reason, int *was,
                     char *err, size_t errlen);
/* The state of etcd as last seen, for /healthz (new reference; never asks etcd):
 * {etcd: reachable|unreachable|unknown, replica, last_answer_seconds_ago, last_error,
 *  last_error_seconds_ago, shared_pause, pause_read_seconds_ago, leases: {...},
 *  decisions: {...}}. *reachable: etcd answered the last request. */
json_t *srv_ha_health(struct srv_ha *h, int *reachable);

#endif
