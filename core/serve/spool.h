/*
 * The spool: every accepted run as a sealed file STATE_DIR/serve/queue/ID.json (state.h says
 * how files there are written and trusted), from its acceptance until the engine's run_start
 * (from then on the audit log and the engine's journal carry it), so that a restart requeues
 * what was accepted and not started. What an entry holds is the run's business (run.h); the
 * spool only seals, writes, reads back and refuses.
 *
 * Durability by batch, not by entry. The writer of the hooks (commit.c) writes a batch's
 * entries without syncing them (each to a temporary name, renamed) and then makes them all
 * durable with one syncfs() of the spool's filesystem, before it answers any request of the
 * batch: one sync per batch whatever its size, where an fdatasync per entry (and one of the
 * directory for the renames) held acceptance to the disk's sync rate. Why this and not one
 * file (a segment) per batch: an entry stays one file, so a run that starts still leaves the
 * spool by one unlink (the "started" marker is the entry's absence, as before, made only
 * once the run's run_start record is written: core/exec.c tells observers after), a restart
 * reads the same files, and an entry is still sealed and refused alone. The price: syncfs
 * also writes back whatever else is dirty on that filesystem, so STATE_DIR belongs on a
 * filesystem not shared with heavy writers (docs/serve.md). A power cut before the syncfs
 * may leave an entry torn or absent; its request was not answered yet, a torn entry is
 * refused at the restart (spool_refused) and Alertmanager's retry is a new run.
 *
 * Thread-safe: plain file operations on s's fixed paths and key; srv_spool_read takes srv->mu
 * for what it frees of a dropped entry. A struct srv_spool_batch belongs to one thread.
 */
#ifndef SRV_SPOOL_H
#define SRV_SPOOL_H

#include <jansson.h>
#include <stddef.h>

struct srv_server;

/* The entry's path, STATE_DIR/serve/queue/ID.json, into out. */
void srv_spool_path(const struct srv_server *s, const char *id, char *out, size_t len);
/* Seals entry and writes it as run id's file, fdatasync'd when sync_now and s->durable; with
 * sync_now 0 the caller makes it durable with its batch (srv_spool_batch_sync). 0, or -1
 * logged: the run stays queued in memory. */
int srv_spool_write(struct srv_server *s, const char *id, const json_t *entry, int sync_now);
/* Removes run id's entry, if any. */
void srv_spool_remove(const struct srv_server *s, const char *id);
/* A batch of entries made durable together. */
struct srv_spool_batch {
	int fd; /* the spool directory, opened before the batch's first write */
};
/* Opens the batch before its first entry is written. 0, or -1 (errno set). */
int srv_spool_batch_begin(const struct srv_server *s, struct srv_spool_batch *b);
/* When written, one syncfs() of the spool's filesystem: every entry written since
 * srv_spool_batch_begin, and its rename, survives a power cut. Closes the batch either way.
 * 0, or -1 (errno set) when it cannot be made durable. */
int srv_spool_batch_sync(struct srv_spool_batch *b, int written);
/* Reads every entry back at start-up: returns an array (new reference) of the entries whose
 * seal verifies and whose "id" is a run id equal to their file name. Any other file named
 * *.json is never returned: it is audited (spool_refused), logged and renamed *.refused for
 * a person to look at. An entry accepted longer than server.stale_after ago is not returned
 * either: it is dropped (removed, its dedup keys freed, srv_spool_dropped). */
json_t *srv_spool_read(struct srv_server *s);
/* A run that waited longer than server.stale_after, dropped (rec: its run_dropped record,
 * stolen; occ and target: its dedup keys): logged, audited, and with ha: its claims in etcd
 * given back so Alertmanager's next notification of it runs fresh, here or on a peer. Without
 * srv->mu (a round trip with ha:). */
void srv_spool_dropped(struct srv_server *s, json_t *rec, const char *occ, const char *target);
/* With ha: a run that leaves the queue without running (dropped, cancelled) gives its claims
 * in etcd back (its dedup keys occ and target): Alertmanager's next notification of it, or
 * another alert for its target, may run on any replica. Without srv->mu (a round trip).
 * "given back", or the error (logged) when they lapse with their lease instead; NULL
 * without ha:. */
const char *srv_spool_give_back(struct srv_server *s, const char *occ, const char *target,
                                const char *id, char *err, size_t errlen);

#endif
