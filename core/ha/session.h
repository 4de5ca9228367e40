/*
 * A process's lease in etcd (docs/ha.md): what says "this replica is alive" to the others.
 * Its keys (run owners, claims) go when it ends. A thread keeps it alive every ttl/3.
 *
 * Whether a mutation may start under it is decided here, without a round trip: only while
 * the last keepalive succeeded and its deadline (sent + TTL granted) is more than a margin
 * ahead. A failed keepalive suspends mutations at once, long before the TTL runs out; a
 * process stopped past its TTL (SIGSTOP, a long GC-like pause) finds the deadline passed
 * when it wakes. A lease etcd says has expired is lost for good: the next one is a new lease
 * (a new id), and runs started under the old one are fenced out (harun.h).
 *
 * Ownership: the session borrows the etcd client (it must outlive the session). Threads:
 * every function may be called from any thread.
 */
#ifndef SALVE_HA_SESSION_H
#define SALVE_HA_SESSION_H

#include <stddef.h>

#include "etcd.h"

typedef struct salve_ha_session salve_ha_session;

/* Grants a lease of ttl seconds and starts keeping it alive. NULL with err. */
salve_ha_session *salve_ha_session_open(salve_etcd *etcd, double ttl, char *err, size_t errlen);
/* Stops the keepalives; revoke != 0 also revokes the lease (its keys go at once). */
void salve_ha_session_close(salve_ha_session *s, int revoke);

/* The current lease when mutations may start under it: 1 with *lease, else 0 with why
 * (suspended: a keepalive failed or its deadline is near; or lost). */
int salve_ha_session_lease(salve_ha_session *s, long long *lease, char *why, size_t whylen);
/* Whether lease is still the current, healthy lease (for a run started under it). */
int salve_ha_session_valid(salve_ha_session *s, long long lease, char *why, size_t whylen);
/* Whether lease is lost for good (etcd said it expired, or a newer one replaced it): its keys
 * are gone or going, and what it owned is another process's to take over. 0 while it may
 * still be alive (healthy, or only suspended: etcd has not answered lately). */
int salve_ha_session_lost(salve_ha_session *s, long long lease);
/* Waits (at most timeout seconds) for a healthy lease, granting a new one when the last was
 * lost. 1 healthy, 0 not (why). */
int salve_ha_session_wait(salve_ha_session *s, double timeout, char *why, size_t whylen);
/* A key this process may have written on its lease with value and cannot tell (a write whose
 * answer was lost, then no read answered): kept to give back, so that what it names is not
 * held by this process, unknowingly, until its lease ends. The session copies both. */
void salve_ha_session_strand(salve_ha_session *s, const char *key, const char *value);
/* Deletes each stranded key whose value is still the one written (one txn each); a key that
 * holds something else or nothing is settled too. Returns how many are left (etcd did not
 * answer; err says why). For a thread that retries every so often (serve's takeover). */
size_t salve_ha_session_give_back(salve_ha_session *s, char *err, size_t errlen);
/* The etcd client it keeps the lease with. */
salve_etcd *salve_ha_session_etcd(const salve_ha_session *s);
double salve_ha_session_ttl(const salve_ha_session *s);

#endif
