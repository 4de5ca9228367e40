/*
 * Guardrails of the server, as pure data structures with the clock passed in (so unit tests
 * drive time): a sliding-window rate limiter, a blast-radius window (distinct targets per
 * window) and the dedup table (one run per occurrence or target while active or cooling
 * down). Not thread-safe: the server holds its mutex around them.
 */
#ifndef SRV_GUARD_H
#define SRV_GUARD_H

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

#endif
