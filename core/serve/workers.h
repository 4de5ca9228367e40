/*
 * The worker pool: conf.workers threads, each taking the first ready run of the queue and
 * executing it (runbook, params, plugins, lock, engine) with its own Lua state, then
 * finishing it (outcome, dedup cooldown, circuit breaker, metrics). Runs never execute on
 * the HTTP threads.
 *
 * The worker table is this module's; srv->mu guards what each worker reports (its run and
 * phase, for the shutdown report). Start and stop run on the main thread.
 */
#ifndef SRV_WORKERS_H
#define SRV_WORKERS_H

#include <jansson.h>
#include <stddef.h>

struct srv_server;

/* Starts conf.workers threads. 0, or -1 with err. */
int srv_workers_start(struct srv_server *s, char *err, size_t errlen);
/* Waits up to conf.shutdown_grace for the workers to end (the caller set s->stopping and
 * cancelled the runs). Returns 0 when all ended (the worker table is freed); else the number
 * still busy, each logged and audited (run_abandoned) and listed in *abandoned (new
 * reference, may be NULL): their threads still use the server, so nothing may be freed. */
int srv_workers_stop(struct srv_server *s, json_t **abandoned);

#endif
