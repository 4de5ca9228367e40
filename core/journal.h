/*
 * The run journal: STATE_DIR/runs/RUN_ID.journal, JSON Lines, every record fdatasync'd before
 * the call that wrote it returns. It says what a run changed and how to undo it, so that
 * after a crash (kill -9, power loss) `salve recover` can finish the rollback. The running
 * process holds an flock on its journal; a journal nobody holds belongs to a dead run.
 * Removed when a run ends with nothing left to undo; kept when something is.
 *
 * Records ("t" field): run, step, intent (before apply), undo (after apply, with the undo
 * record), not_applied, undone, undo_failed, step_rolled_back, end.
 * Not thread-safe: one journal per run, used by that run's thread.
 */
#ifndef SALVE_JOURNAL_H
#define SALVE_JOURNAL_H

#include <jansson.h>
#include <stddef.h>

typedef struct salve_journal salve_journal;

/* Creates the journal, locks it and writes header (borrowed) as its first record. */
salve_journal *salve_journal_create(const char *state_dir, const char *run_id, const json_t *header,
                                    char *err, size_t errlen);
/* Re-opens an existing journal for recovery, taking its lock. NULL with err when a live run
 * still holds it (err says so) or it cannot be opened. */
salve_journal *salve_journal_adopt(const char *path, char *err, size_t errlen);
/* Appends one record (stolen) durably. 0, or -1 with err. */
int salve_journal_append(salve_journal *j, json_t *record, char *err, size_t errlen);
/* Every record of a journal file, in order (a torn last line is dropped). New reference. */
json_t *salve_journal_read(const char *path, char *err, size_t errlen);
/* Paths of every journal in STATE_DIR/runs, sorted. New reference. */
json_t *salve_journal_list(const char *state_dir);
const char *salve_journal_path(const salve_journal *j);
/* Ends the run: remove_file != 0 deletes it (nothing left to undo); then unlocks, frees. */
void salve_journal_close(salve_journal *j, int remove_file);

#endif
