/*
 * The read side of the server: GET /runs, /runs/ID, /routes and /metrics (the families the
 * server exports are declared here), and the counters of the HTTP front. Every function
 * takes srv->mu itself (callers must not hold it); returned values are new references or
 * malloc'd text the caller frees.
 */
#ifndef SRV_STATUS_H
#define SRV_STATUS_H

#include <jansson.h>

#include "metrics.h"

struct srv_server;

/* Declares every metric family of salve serve (docs/serve.md, Metrics) in m. */
void srv_status_declare_metrics(srv_metrics *m);
/* GET /runs: newest first, filtered by state and route (NULL: any), at most limit (<= 0:
 * all). Each returns the HTTP status and *out. */
int srv_status_runs(struct srv_server *s, const char *state, const char *route, int limit,
                    json_t **out);
/* GET /runs/ID: 200, or 404 when the run is unknown or left the history. */
int srv_status_run(struct srv_server *s, const char *id, json_t **out);
/* GET /routes. */
int srv_status_routes(struct srv_server *s, json_t **out);
/* GET /metrics in the text exposition format (gauges refreshed first). NULL when out of
 * memory. */
char *srv_status_metrics(struct srv_server *s);
/* GET /healthz: {status, paused, queued, active} and with ha: {ha: srv_ha_health}, status
 * "degraded" while etcd does not answer (no new run can start). Never waits for etcd: the
 * state is the last the server saw. New reference. */
json_t *srv_status_health(struct srv_server *s);
/* Counts an HTTP request by handler and status. */
void srv_status_count_request(struct srv_server *s, const char *handler, unsigned status);
/* Counts connections closed for passing request_timeout. */
void srv_status_count_timeouts(struct srv_server *s, int n);

#endif
