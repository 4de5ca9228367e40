/*
 * With `ha:`: the server's takeover of dead replicas' runs (docs/ha.md). A thread looks in
 * etcd every second for orphan runs, whose owner's lease ended
 * with their journal still there, and takes each over as salve recover would
 * (salve_engine_take_over: audited run_takeover, recover_start, recover_end; counted in
 * salve_runs_taken_over_total). It also finishes the start-up recovery of this host's own
 * journals when etcd could not be asked then.
 *
 * Threads: start and stop from the main thread; the thread uses only thread-safe parts of
 * the server (the audit log, the registry, the metrics).
 */
#ifndef SRV_TAKEOVER_H
#define SRV_TAKEOVER_H

#include <stddef.h>

struct srv_server;

/* Starts the thread when the server has ha:. local_pending: this host's journals still need
 * recovery through etcd. 0, or -1 with err. */
int srv_takeover_start(struct srv_server *s, int local_pending, char *err, size_t errlen);
/* Stops it (waits for a takeover in progress to end). */
void srv_takeover_stop(struct srv_server *s);
/* Metrics it counts, declared before the server starts. */
void srv_takeover_declare_metrics(struct srv_server *s);

#endif
