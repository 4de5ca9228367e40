/*
 * A run's side in etcd with `ha:` (docs/ha.md, "Key layout"): who owns the run, the
 * runbook's lock, and a copy of its journal, fenced.
 *
 *   PREFIX/runs/RUN/owner     {"instance","replica"} on the owner's session lease
 *   PREFIX/runs/RUN/j/SEQ     the journal record SEQ (%012lld), its exact line
 *   PREFIX/locks/KEY          {"instance","replica","run"}, no lease: it names the run that
 *                             holds the lock, alive while that run's owner key exists
 *
 * The fencing revision of a run is the create revision of its owner key: every journal write
 * is a txn that compares it, so once the owner's lease ended and another replica took the
 * run over (a new owner key), the first one's writes fail and it stops. A run whose owner key
 * is gone but whose journal is still there died mid-run (an orphan): another replica adopts
 * it and rolls it back as salve recover would.
 *
 * Ownership: a salve_ha_run is freed with salve_ha_run_free; it borrows the session. Threads:
 * one run object per run, used by that run's thread; the listing functions from any thread.
 */
#ifndef SALVE_HA_RUN_H
#define SALVE_HA_RUN_H

#include <jansson.h>
#include <stddef.h>

#include "session.h"

/* Who this process is, in keys and values. Borrowed strings. */
typedef struct salve_ha_ident {
	const char *prefix;   /* "/salve" */
	const char *replica;  /* the replica's name */
	const char *instance; /* this process (a random id) */
} salve_ha_ident;

typedef struct salve_ha_run salve_ha_run;

/* Who holds a lock, or owns a run. */
typedef struct salve_ha_holder {
	char run[72];
	char replica[256];
	int needs_human; /* its rollback is incomplete: parked until salve recover --resolve */
} salve_ha_holder;

enum salve_ha_start {
	SALVE_HA_STARTED = 0, /* *out: the run owns its key (and lock) */
	SALVE_HA_BUSY = 1,    /* a live run holds the lock (*holder) */
	SALVE_HA_ORPHAN = 2, /* the lock's run died mid-run (*holder): adopt and recover it first */
	SALVE_HA_ERROR = -1, /* etcd could not be asked, or no healthy lease (err) */
};

/* Starts run_id in etcd: its owner key on the session's lease and, with lock_key, the lock,
 * in one txn. A lock whose run ended (or died before writing anything) is taken. */
enum salve_ha_start salve_ha_run_start(salve_ha_session *s, const salve_ha_ident *id,
                                       const char *run_id, const char *lock_key, salve_ha_run **out,
                                       salve_ha_holder *holder, char *err, size_t errlen);

/* Takes an orphan run over (its owner key created on this session's lease, if nobody did
 * first). 1 with *out and *lines (new reference: its journal's lines in order), 0 another
 * process owns it now or it is gone, -1 error. */
int salve_ha_run_adopt(salve_ha_session *s, const salve_ha_ident *id, const char *run_id,
                       salve_ha_run **out, json_t **lines, char *err, size_t errlen);

/* Runs whose owner is gone and whose journal is still in etcd (new reference: an array of
 * run ids). NULL with err. */
json_t *salve_ha_orphans(salve_etcd *e, const char *prefix, char *err, size_t errlen);

/* Whether the run's journal is still in etcd: 1 yes (owned or orphan), 0 gone (it finished,
 * or another replica recovered it), -1 error. */
int salve_ha_run_exists(salve_etcd *e, const char *prefix, const char *run_id, char *err,
                        size_t errlen);

/* Journal record seq, fenced. Records before the run's first mutation (mutation != 0: an
 * intent) wait in memory and go with it (then, for a run without a lock, with its owner key
 * created in the same txn); a run that never mutates writes nothing to etcd. 0 written (or
 * kept for later); 1 fenced: another process owns the run now
 * (err names it); -1 etcd could not be asked (err). After 1 or -1 every later append returns
 * the same without asking: etcd keeps the journal's unbroken prefix. */
int salve_ha_run_append(salve_ha_run *r, long long seq, const char *line, size_t len, int mutation,
                        char *err, size_t errlen);
/* A record could not be sent (why): no later one is, so etcd keeps an unbroken prefix of the
 * journal; salve_ha_run_finish still removes the run's keys. */
void salve_ha_run_detach(salve_ha_run *r, const char *why);
/* Whether this process still owns the run: 1 yes, 0 fenced (err names the owner), -1 error
 * (also at once, without asking, once etcd failed to answer this run). */
int salve_ha_run_confirm(salve_ha_run *r, char *err, size_t errlen);
/* The run is over: its keys and its lock go, fenced. 0, 1 fenced, -1 error (they stay: an
 * orphan once the lease ends, which another replica recovers). */
int salve_ha_run_finish(salve_ha_run *r, char *err, size_t errlen);

/* Gives the run back (its owner key goes, fenced; journal and lock stay): an orphan again,
 * for a later attempt. 0, 1 fenced, -1. */
int salve_ha_run_release(salve_ha_run *r, char *err, size_t errlen);
/* A run whose rollback is incomplete keeps its lock and journal in etcd for a human: its owner
 * key leaves the lease (so nobody adopts it again and again) and says so. 0, 1 fenced, -1. */
int salve_ha_run_park(salve_ha_run *r, char *err, size_t errlen);
/* salve recover --resolve with ha: the run's keys go, and its lock if it still names it.
 * 0, or -1 with err. */
int salve_ha_run_resolve(salve_etcd *e, const char *prefix, const char *run_id, char *err,
                         size_t errlen);

long long salve_ha_run_fence(const salve_ha_run *r);
long long salve_ha_run_lease(const salve_ha_run *r);
const char *salve_ha_run_replica(const salve_ha_run *r);
salve_ha_session *salve_ha_run_session(const salve_ha_run *r);
/* Set once an append or confirm found the run owned by another process. */
int salve_ha_run_fenced(const salve_ha_run *r);
void salve_ha_run_free(salve_ha_run *r);

#endif
