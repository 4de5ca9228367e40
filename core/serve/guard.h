/*
 * Guardrails of the server, as pure data structures with the clock passed in (so unit tests
 * drive time): a sliding-window rate limiter, a blast-radius window (distinct targets per
 * window) and the dedup table (one run per occurrence or target while active or cooling
 * down); and, at the end, the same guardrails over the documents replicas share in etcd.
 * Not thread-safe: the server holds its mutex around them (the functions on documents only
 * touch what they are given).
 */
#ifndef SRV_GUARD_H
#define SRV_GUARD_H

#include <jansson.h>
#include <stddef.h>

/* At most count events in any window seconds. count == 0: no limit. */
typedef struct srv_rate {
	double *times; /* ring of the last count start times */
	int count, used, head;
	double window;
} srv_rate;

int srv_rate_init(srv_rate *r, int count, double window);
void srv_rate_free(srv_rate *r);
/* 1 and the event recorded when allowed, else 0 (with *retry_in seconds until a slot frees,
 * when retry_in is not NULL). */
int srv_rate_take(srv_rate *r, double now, double *retry_in);

/* At most max distinct targets (keys) started in any window seconds. max == 0: no limit. */
typedef struct srv_targets {
	struct srv_target_seen {
		char *key;
		double last;
	} * v;
	size_t n, cap;
	int max;
	double window;
} srv_targets;

void srv_targets_init(srv_targets *t, int max, double window);
void srv_targets_free(srv_targets *t);
/* 1 when key may start (already seen in the window, or room for one more), recording it;
 * 0 when it would be target max + 1. *distinct gets the count in the window. */
int srv_targets_take(srv_targets *t, const char *key, double now, size_t *distinct);
/* Whether key could start without recording it. */
int srv_targets_would_allow(srv_targets *t, const char *key, double now);
/* Whether a run reaching all n keys could start: the keys not yet seen in the window (each
 * counted once) fit in what is left of max. Records nothing. */
int srv_targets_would_allow_keys(srv_targets *t, const char *const *keys, size_t n, double now);

/* The dedup table: key -> the run that holds it, or an occurrence remembered as resolved.
 * Bounded (an LRU): when it holds capacity keys, the least recently changed keys that hold
 * no active run are evicted (counted); an active run's keys are never evicted, so the table
 * may exceed capacity by the keys of runs queued or running. */
typedef struct srv_dedup srv_dedup;

/* A change of the table, as kept for its durable copy (dedupfile.h): at is the time (the
 * table's clock) it started cooling down or was resolved, 0 while active. */
enum srv_dedup_change_kind {
	SRV_DEDUP_ACTIVE = 0, /* a run holds the key */
	SRV_DEDUP_ENDED,      /* the run ended: cooldown from at */
	SRV_DEDUP_RELEASED,   /* forgotten (a queued run cancelled) */
	SRV_DEDUP_RESOLVED,   /* the occurrence resolved at at: remembered for cooldown s */
};
typedef struct srv_dedup_change {
	char *key;
	enum srv_dedup_change_kind kind;
	char run_id[64];
	double cooldown, at;
	unsigned long long seq; /* increasing: a key's highest is its state */
} srv_dedup_change;

/* capacity 0: no bound. */
srv_dedup *srv_dedup_new(size_t capacity);
void srv_dedup_free(srv_dedup *d);
/* 1 when key is taken: a run is active (*why = "active"), ended less than its cooldown ago
 * (*why = "cooldown", *ago = seconds since it ended), or the key was remembered as resolved
 * less than its memory ago (*why = "resolved", *run_id ""); *run_id names the run
 * (borrowed until the next change of the table). 0 when free. */
int srv_dedup_check(const srv_dedup *d, const char *key, double now, const char **run_id,
                    const char **why, double *ago);
/* Marks key active for run_id, remembering the cooldown to apply when it ends. */
int srv_dedup_start(srv_dedup *d, const char *key, const char *run_id, double cooldown);
/* The run ended at now: the key cools down from here (only if run_id still holds it). */
void srv_dedup_end(srv_dedup *d, const char *key, const char *run_id, double now);
/* Forgets the key if run_id holds it (a queued run cancelled before it did anything). */
void srv_dedup_release(srv_dedup *d, const char *key, const char *run_id);
/* Remembers key as resolved at now for memory seconds (unless a run holds it). 0 or -1. */
int srv_dedup_remember_resolved(srv_dedup *d, const char *key, double now, double memory);
/* Puts back a change read from the durable copy, not active: ended is when its cooldown (or
 * memory) started, on the table's clock. A key a run holds is left alone; RELEASED does
 * nothing. Not recorded as a change. 0 or -1. */
int srv_dedup_restore(srv_dedup *d, const srv_dedup_change *c, double ended);
/* Drops entries whose cooldown is over; returns how many. */
size_t srv_dedup_expire(srv_dedup *d, double now);
size_t srv_dedup_size(const srv_dedup *d);
/* Keys evicted since the last call. */
size_t srv_dedup_take_evictions(srv_dedup *d);
/* on: every change from now is kept until srv_dedup_take_changes takes it. */
void srv_dedup_record_changes(srv_dedup *d, int on);
/* The changes kept so far (malloc'd, *n of them, may be NULL), oldest first. */
srv_dedup_change *srv_dedup_take_changes(srv_dedup *d, size_t *n);
/* Every key's state as a change, least recently changed first (malloc'd, *n). */
srv_dedup_change *srv_dedup_snapshot(const srv_dedup *d, size_t *n);
/* Frees what take_changes and snapshot return. */
void srv_dedup_changes_free(srv_dedup_change *c, size_t n);
/* Calls fn for each key cooling down at now (its run ended less than its cooldown ago; not
 * active, not a remembered resolve) with the run that held it and the seconds left. key and
 * run_id are borrowed for the call; fn must not change the table. */
void srv_dedup_each_cooling(const srv_dedup *d, double now,
                            void (*fn)(void *arg, const char *key, const char *run_id, double left),
                            void *arg);

/* ---- the guardrails shared by replicas (with ha:, docs/ha.md) ----------------------------------
 *
 * etcd holds their state as small JSON documents; a replica reads them, decides with the same
 * structures as above and writes them back in a transaction that compares their revisions.
 * Times in the documents are wall-clock seconds (replicas share no monotonic clock). */

/* A window document {"rate": [start, ...] oldest first, "targets": {"KEY": last seen, ...}}
 * into r and t (either may be NULL), which the caller initialised with the route's (or
 * server's) limits: of more starts than the rate's count the newest are kept; targets are
 * all kept (a replica with a smaller max_targets then refuses sooner). doc may be NULL
 * (nothing counted yet). 0, or -1 out of memory. */
int srv_window_load(const json_t *doc, srv_rate *r, srv_targets *t);
/* The document of r and t as they are at now (targets out of the window left out): a new
 * reference, NULL when out of memory. */
json_t *srv_window_dump(const srv_rate *r, const srv_targets *t, double now);

/* A circuit document {"failures": N, "open": bool, "reason", "last_run", "opened_at",
 * "replica"} after a run ended, as srv_circuit_count (circuits.h) counts it: success resets
 * the failures, failed adds one (a run that did neither counts for neither), and breaker
 * failures in a row open it. doc may be NULL (none yet). Returns the new document (new
 * reference), or NULL when nothing changes; *opened is 1 when this run opened it. */
json_t *srv_breaker_next(const json_t *doc, int breaker, int success, int failed,
                         const char *run_id, const char *why, const char *replica, const char *at,
                         int *opened);
/* Whether a circuit document says open. */
int srv_breaker_open(const json_t *doc);

/* What the shared state says of a run about to start, in the order the server decides. */
enum srv_shared_verdict {
	SRV_SHARED_RUN = 0,     /* it may start: the documents below are to be written */
	SRV_SHARED_IGNORED,     /* the occurrence resolved: a firing of it is stale */
	SRV_SHARED_PAUSED,      /* the shared pause is set */
	SRV_SHARED_CIRCUIT,     /* the route's circuit is open */
	SRV_SHARED_CLAIMED,     /* another run holds the occurrence */
	SRV_SHARED_TARGET,      /* another run holds the target (active or cooling down) */
	SRV_SHARED_BLAST_ROUTE, /* the route's max_targets would be passed */
	SRV_SHARED_BLAST_SERVER,
	SRV_SHARED_RATE, /* the route's rate_limit is spent */
};

typedef struct srv_shared_view {
	int resolved, paused;
	const json_t *circuit; /* the route's circuit document, or NULL */
	int claimed;           /* another run holds the occurrence (not one this run may take) */
	int target_held;       /* the same for the target */
	const json_t *route_window, *server_window; /* window documents, or NULL */
} srv_shared_view;

typedef struct srv_shared_limits {
	int rate_count; /* the route's rate_limit; 0: none */
	double rate_window;
	int max_targets; /* the route's blast radius; 0: none */
	double targets_window;
	int server_max_targets; /* server.max_targets; 0: none */
	double server_targets_window;
} srv_shared_limits;

typedef struct srv_shared_result {
	enum srv_shared_verdict verdict;
	/* With SRV_SHARED_RUN: the window documents to write (new references), NULL for one no
	 * limit uses. */
	json_t *route_window, *server_window;
	double retry_in; /* SRV_SHARED_RATE: seconds until a slot frees */
} srv_shared_result;

/* Decides from view at now (wall clock) for a run that reaches the n target keys. 0, or -1
 * out of memory. Pure: the caller owns view and frees the result's documents. */
int srv_shared_decide(const srv_shared_view *view, const srv_shared_limits *limits,
                      const char *const *targets, size_t n, double now, srv_shared_result *out);
void srv_shared_result_clear(srv_shared_result *res);

/* How long ago a run was accepted: the larger of its age on the monotonic clock (t_created,
 * now_mono: this process) and on the wall clock (created_at, RFC 3339, now_wall: survives a
 * restart), so a run requeued after a restart is as old as it is. -1 when neither is known. */
double srv_stale_age(const char *created_at, double t_created, double now_mono, double now_wall);

#endif
