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

/* The dedup table: key -> the run that holds it. */
typedef struct srv_dedup srv_dedup;

srv_dedup *srv_dedup_new(void);
void srv_dedup_free(srv_dedup *d);
/* 1 when key is taken: a run is active (*why = "active") or ended less than its cooldown ago
 * (*why = "cooldown", *ago = seconds since it ended); *run_id names the run (borrowed until
 * the next change of the table). 0 when free. */
int srv_dedup_check(const srv_dedup *d, const char *key, double now, const char **run_id,
                    const char **why, double *ago);
/* Marks key active for run_id, remembering the cooldown to apply when it ends. */
int srv_dedup_start(srv_dedup *d, const char *key, const char *run_id, double cooldown);
/* The run ended at now: the key cools down from here (only if run_id still holds it). */
void srv_dedup_end(srv_dedup *d, const char *key, const char *run_id, double now);
/* Forgets the key if run_id holds it (a queued run cancelled before it did anything). */
void srv_dedup_release(srv_dedup *d, const char *key, const char *run_id);
/* Drops entries whose cooldown is over; returns how many. */
size_t srv_dedup_expire(srv_dedup *d, double now);
size_t srv_dedup_size(const srv_dedup *d);

#endif
