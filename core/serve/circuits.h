/*
 * Circuit breakers: N failed runs of a route in a row open its circuit (alerts for it are
 * refused with circuit_open) until salve routes reset or POST /routes/NAME/reset closes it.
 * The open state is the file STATE_DIR/serve/circuits/ROUTE.open, so it survives a restart;
 * anything at that path that is not salve's own file keeps the route disabled.
 *
 * With `ha:` the count and the open state are the document PREFIX/circuits/ROUTE in etcd,
 * shared by every replica (ha.h): runs that end anywhere count, the decision of each alert
 * reads it, and a reset on any replica closes it for all. A circuit file (left from before
 * `ha:`, or not salve's) still disables the route on its own replica.
 *
 * The route state's open, failures and open_reason fields are this module's; functions marked
 * "under mu" expect the caller to hold srv->mu, the others take it themselves. Files are
 * written and audited outside the lock.
 */
#ifndef SRV_CIRCUITS_H
#define SRV_CIRCUITS_H

#include <jansson.h>
#include <stddef.h>

#include "route.h"

struct srv_server;
struct srv_route_state;

/* Start-up: opens rs's circuit when its file is there (or something else is), logged. */
void srv_circuit_load(struct srv_server *s, struct srv_route_state *rs);
/* Under mu: 1 with the reason in detail when rs's circuit is open, else 0. A circuit whose
 * file was removed (salve routes reset from the CLI) is closed here. */
int srv_circuit_refuses(struct srv_server *s, struct srv_route_state *rs, char *detail, size_t len);
/* Under mu: counts a finished run of rs. success closes the run of failures; failed adds one
 * (a run that neither succeeded nor failed, such as a denied approval, counts for neither).
 * Returns the circuit_open record (new reference) when this failure opens the circuit, to be
 * passed to srv_circuit_persist after unlocking; else NULL. */
json_t *srv_circuit_count(struct srv_route_state *rs, int success, int failed, const char *run_id,
                          const char *why);
/* Writes the circuit file for the record srv_circuit_count returned (stolen), logs and
 * audits it. */
void srv_circuit_persist(struct srv_server *s, struct srv_route_state *rs, json_t *record);
/* With ha: counts a finished run of rs into the shared circuit (a round trip, outside mu);
 * when this run opens it, logs and audits circuit_open (no file: the state is etcd's). A
 * count etcd could not take is logged. */
void srv_circuit_count_shared(struct srv_server *s, struct srv_route_state *rs, int success,
                              int failed, const char *run_id, const char *why);
/* POST /routes/NAME/reset: removes the file and closes the circuit (with ha: the shared one
 * too, first: 503 when etcd cannot be asked), audited. Returns the HTTP status and *out (new
 * reference). */
int srv_circuit_reset(struct srv_server *s, const char *name, const char *by, json_t **out);
/* salve routes reset with `ha:` in conf: closes the shared circuit of route name. 1 done
 * (*was_open), 0 no `ha:`, -1 with err. */
int srv_circuit_reset_shared(const srv_conf *conf, const char *name, int *was_open, char *err,
                             size_t errlen);

#endif
