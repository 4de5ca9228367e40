/*
 * Approvals: a step declaring approve = {timeout, notify} holds its run's worker in the
 * engine's approve hook until POST /runs/ID/approve or deny, a cancellation or the timeout.
 * The notice to people is one of the run's notices (salve_run_notice); the engine audits the
 * decision (approval), the server who called the API (approval_decision).
 *
 * Locking: the run's approval fields are under srv->mu; both functions take it. The hook
 * waits on the run's cv, which srv_approval_decide and cancellations signal.
 */
#ifndef SRV_APPROVALS_H
#define SRV_APPROVALS_H

#include <jansson.h>
#include <stddef.h>

#include "engine.h"

struct srv_server;

/* The engine's approve hook (salve_run_options.approve), ctx the struct srv_run: returns 1
 * when approved, else 0 with why ("denied by bob: not now", the timeout, the cancellation). */
int srv_approval_hook(void *ctx, salve_run *run, const char *step, const json_t *spec, char *why,
                      size_t whylen);
/* POST /runs/ID/approve, /deny and /cancel: decision "approve", "deny" or "cancel"; body may
 * carry by, comment, step. cancel also takes a queued run out of the queue. Returns the HTTP
 * status (200, 404, 409) and *out (new reference). */
int srv_approval_decide(struct srv_server *s, const char *id, const char *decision,
                        const json_t *body, json_t **out);

#endif
