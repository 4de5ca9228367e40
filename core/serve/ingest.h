/*
 * Ingest: alerts in, decisions out. Each normalized alert (alert.h) goes through the routes
 * in order; for each route that takes it the decision is made here (resolved handling,
 * pause, circuit, params, dedup, queue, blast radius, rate limit) and audited; accepted runs
 * are spooled and queued. See docs/serve.md, "How an alert becomes a run".
 *
 * It runs in three steps so that durability can leave the HTTP threads (commit.c): decide
 * (under srv->mu, in memory: new runs are queued but not ready), write (spool files and
 * audit records, no lock), finish (after the batch is durable: runs released to the
 * workers, the answer built). Each step takes srv->mu itself where it needs it. A struct
 * srv_ingest belongs to whoever holds it; finish frees it.
 */
#ifndef SRV_INGEST_H
#define SRV_INGEST_H

#include <jansson.h>

#include "audit.h"

struct srv_server;
struct srv_ingest;

/* Decides every alert from hook ("alertmanager", "generic") received at t_received
 * (monotonic; the latency of runs is measured from it). NULL when out of memory. */
struct srv_ingest *srv_ingest_decide(struct srv_server *s, const char *hook, const json_t *alerts,
                                     double t_received);
/* Spools the new runs, then writes the audit records through audit (a run's own records
 * never precede the alert that caused it). audit may be a batch handle that does not sync:
 * the spool entries are then not synced either, nor the dedup file flushed, and the caller
 * makes the batch durable (srv_dedupfile_flush, salve_audit_sync, srv_spool_batch_sync);
 * through s->audit each entry is fdatasync'd (with s->durable) and the dedup file flushed. */
void srv_ingest_write(struct srv_server *s, struct srv_ingest *in, salve_audit *audit);
/* Whether write spooled runs (the batch's spool then needs its syncfs). */
int srv_ingest_spooled(const struct srv_ingest *in);
/* Releases the runs and frees in. Returns the HTTP status (202 runs queued, 200 nothing to
 * run, 503 the queue was full for at least one alert, 500 the audit log or its sync failed)
 * and *result (new reference): {runs, alerts: [each alert's decision]}. */
int srv_ingest_finish(struct srv_server *s, struct srv_ingest *in, int sync_failed,
                      json_t **result);
/* The three in one call on the caller's thread, writing through s->audit. */
int srv_ingest(struct srv_server *s, const char *hook, const json_t *alerts, double t_received,
               json_t **result);

#endif
