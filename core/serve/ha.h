/*
 * salve serve's side of `ha:` (docs/ha.md): the etcd client of the server, the dedup claims
 * that make one run per alert occurrence across replicas, and the shared pause switch.
 *
 * Keys (prefix from ha.prefix, default /salve):
 *   PREFIX/claims/<occurrence key>  {"instance", "replica": NAME, "run": ID}, on a lease of
 *                                   max(lease_ttl, cooldown + run_timeout or 1 h)
 *   PREFIX/pause                    {"by", "paused_at", "reason"}, no lease (survives restarts)
 *
 * Ownership: srv_ha_open copies what it needs from the conf; srv_ha_close frees. Threads:
 * every function may be called from several threads at once; none takes srv->mu, and
 * callers must not hold it across one (each is a network round trip, bounded by
 * ha.etcd.timeout per endpoint).
 */
#ifndef SRV_HA_H
#define SRV_HA_H

#include <stddef.h>

#include "route.h"

struct srv_ha;

/* The server's etcd side: the password reference resolved (and registered for redaction);
 * etcd itself is first contacted by the first request. NULL with err. */
struct srv_ha *srv_ha_open(const salve_ha_conf *conf, char *err, size_t errlen);
void srv_ha_close(struct srv_ha *h);

/* The client, the prefix, this replica's name and this process's instance id, for the
 * server's other users of etcd (takeover.c); they live as long as h. */
struct salve_etcd *srv_ha_etcd(const struct srv_ha *h);
const char *srv_ha_prefix(const struct srv_ha *h);
const char *srv_ha_replica(const struct srv_ha *h);
const char *srv_ha_instance(const struct srv_ha *h);

/* Who holds a claim. */
typedef struct srv_ha_holder {
	char run[64];
	char replica[256];
	int ours; /* made by this process (not a restarted one, nor a twin with our name) */
} srv_ha_holder;

/* Claims the occurrence for run_id with one txn (create if absent) on a lease of ttl
 * seconds: 1 claimed (also when an earlier attempt of this same claim landed), 0 another
 * run holds it (*holder), -1 etcd could not be asked or did not answer (err): start nothing. */
int srv_ha_claim(struct srv_ha *h, const char *occ_key, const char *run_id, double ttl,
                 srv_ha_holder *holder, char *err, size_t errlen);
/* Takes over a claim this process made for old_run, a run it does not have (an attempt whose
 * answer was lost, a run that ended and left the run table): one txn that compares the old
 * value.
 * 1 now held for run_id, 0 the claim changed meanwhile (ask again), -1 error. */
int srv_ha_reclaim(struct srv_ha *h, const char *occ_key, const char *old_run, const char *run_id,
                   double ttl, char *err, size_t errlen);
/* Gives a claim back (only if run_id still holds it). 0, or -1 (err): it then lapses with
 * its lease. */
int srv_ha_unclaim(struct srv_ha *h, const char *occ_key, const char *run_id, char *err,
                   size_t errlen);

/* Whether the shared pause is set, asking etcd at most once a second (else the last answer):
 * 1 paused, 0 not. When etcd cannot be asked: the last answer, and *why says why the first
 * time (else ""), so that a log says it once per outage. */
int srv_ha_paused(struct srv_ha *h, char *why, size_t whylen);
/* Sets (pause != 0) or lifts the shared pause; *was gets whether it was set. 0 or -1. */
int srv_ha_set_pause(struct srv_ha *h, int pause, const char *by, const char *reason, int *was,
                     char *err, size_t errlen);

#endif
