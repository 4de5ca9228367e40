/*
 * Group commit of the hooks: one writer thread takes every decided request waiting for it,
 * writes their spool files, hands their audit records to a group-commit handle (they wait
 * in memory), then writes the records with one write(), makes the whole batch durable with
 * one fdatasync of the log (and one syncfs of the spool) and answers each request. The queue of
 * jobs is under srv->commit_mu; the writer's handle is its own.
 */
#ifndef SRV_COMMIT_H
#define SRV_COMMIT_H

#include <jansson.h>
#include <stddef.h>

struct srv_server;
struct srv_ingest;

/* Called on the writer thread when a request's batch is durable (or failed): status and
 * result (new reference) as srv_ingest_finish gives them. */
typedef void (*srv_commit_done_fn)(void *ctx, int status, json_t *result);
/* Opens the batch handle on the audit log and starts the writer. 0 or -1 with err. */
int srv_commit_start(struct srv_server *s, char *err, size_t errlen);
/* Hands a decided request to the writer: queued(ctx) runs under the writer's lock before it
 * can see the job (the HTTP side suspends its connection there), done(ctx, ...) later on
 * the writer's thread. -1 when the writer is stopping or not running: the caller writes
 * the request itself (srv_ingest_write with s->audit, then srv_ingest_finish). */
int srv_commit_submit(struct srv_server *s, struct srv_ingest *in, srv_commit_done_fn done,
                      void (*queued)(void *ctx), void *ctx);
/* Refuses new jobs and waits until every submitted one is answered. */
void srv_commit_drain(struct srv_server *s);
/* Drains, stops the writer and closes its handle. */
void srv_commit_stop(struct srv_server *s);

#endif
