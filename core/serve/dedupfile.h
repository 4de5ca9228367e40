/*
 * The dedup table's durable copy, STATE_DIR/serve/dedup.jsonl: so that a restart (a kill -9
 * as well as a SIGTERM) still knows which occurrences and targets ran or are cooling down,
 * and which occurrences resolved, and Alertmanager's next repeat of one is deduplicated.
 *
 * One JSON line per change of the table (guard.h, srv_dedup_change): {seq, key, state, run,
 * cooldown, at}, at in seconds since the epoch. Appended by srv_dedupfile_flush (each hook
 * batch, before its answer; every tick), rewritten whole (compacted, to a temporary name and
 * renamed) at start and when it has grown to twice the table. A key's line with the highest
 * seq is its state. A run still "active" in the file when the server starts died with the
 * previous process (its journal is recovered first): it counts as ended at the start.
 *
 * Locking: the file under s->dedup_file_mu, taken before srv->mu (never the other way).
 */
#ifndef SRV_DEDUPFILE_H
#define SRV_DEDUPFILE_H

#include <stddef.h>

struct srv_server;

/* Reads the file (when there is one) into s->dedup, rewrites it with what is still in
 * force, opens it for appending and starts recording changes. Returns the keys restored,
 * or -1 with err. Called once at start, before any run is queued. */
long srv_dedupfile_open(struct srv_server *s, char *err, size_t errlen);
/* Appends the table's changes since the last flush (fdatasync'd with audit_sync: always),
 * compacting the file when it has grown. Takes dedup_file_mu and mu itself. 0, or -1 when
 * the changes could not be written (logged; the copy then remembers less, and a restart
 * would treat what it lost as never run). */
int srv_dedupfile_flush(struct srv_server *s);
/* Flushes and closes. */
void srv_dedupfile_close(struct srv_server *s);

#endif
