/*
 * The run side of salve serve as a whole: start (state dirs and spool key, the lock, the run
 * table, dedup, metrics, route states and their circuits, the pause switch, runs requeued
 * from the spool, the workers), the periodic tick, and stop. The HTTP front starts after it
 * and stops before it (http.h). All three run on the main thread.
 */
#ifndef SRV_LIFECYCLE_H
#define SRV_LIFECYCLE_H

#include <jansson.h>
#include <stddef.h>

struct srv_server;

/* 0, or -1 with err. */
int srv_lifecycle_start(struct srv_server *s, char *err, size_t errlen);
/* Every second: expired dedup entries go, the pause file is read again. */
void srv_lifecycle_tick(struct srv_server *s);
/* Cancels active runs (they roll back), cancels pending approvals, and waits up to
 * conf.shutdown_grace for the workers. Queued runs stay in the spool for the next start.
 * Returns 0 when every worker stopped (all is freed); else the number still busy after the
 * grace (a runbook that loops, a plugin call that never returns): each is logged and audited
 * (run_abandoned), *abandoned (new reference, may be NULL) lists them, and nothing is freed
 * because those threads still use it: the caller must end the process (_exit). Their runs'
 * journals stay for salve recover. */
int srv_lifecycle_stop(struct srv_server *s, json_t **abandoned);

#endif
