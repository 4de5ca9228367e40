/*
 * The run journal: STATE_DIR/runs/RUN_ID.journal says what a run changed and how to undo it,
 * so that after a crash (kill -9, power loss) `salve recover` can finish the rollback.
 *
 * Layout (docs/architecture.md, "Journal and crash recovery"): a fixed-width tail line
 * {"salve_journal":1,"seq":N,"hash":H} naming the last durable record, then one JSON record
 * per line, {"seq":N, ...fields..., "h":HASH}, where HASH is the SHA-256 of the previous
 * record's HASH followed by the line without its "h" field (for the first record, the
 * previous HASH is SHA-256("salve journal " RUN_ID)). Append makes the record durable, then
 * rewrites the tail line and makes that durable, before it returns: so a damaged, reordered
 * or missing record, or a journal cut short, is detected when it is read. An unfinished last
 * line (no newline: its write never returned, so nothing it announced happened) is left out.
 *
 * A journal is created under a temporary name, locked (flock) and renamed into place, so no
 * other process ever sees a live run's journal unlocked. The run holds the lock for its life;
 * a journal nobody holds belongs to a dead run. Files are opened without following symlinks
 * and must be regular files we own (statedir.h).
 *
 * Not thread-safe: one salve_journal per run, used by that run's thread.
 */
#ifndef SALVE_JOURNAL_H
#define SALVE_JOURNAL_H

#include <jansson.h>
#include <stddef.h>

typedef struct salve_journal salve_journal;

/* What reading a journal found about its integrity. */
typedef struct salve_journal_check {
	int damaged;           /* a record is damaged or missing: nothing after trusted_seq holds */
	long long trusted_seq; /* the last record that verified (0: none) */
	int torn;              /* an unfinished last line was left out */
	char problem[512];     /* what could not be trusted, for people; "" when intact */
} salve_journal_check;

enum salve_journal_status {
	SALVE_JOURNAL_OK = 0,
	SALVE_JOURNAL_BUSY = 1, /* another process (a live run, or a recover) holds it */
	SALVE_JOURNAL_ERROR = -1,
};

/* 1 when id may name a journal: 1-64 characters of [A-Za-z0-9_-]. */
int salve_journal_valid_run_id(const char *id);

/* Creates STATE_DIR/runs/RUN_ID.journal, locked, with header (borrowed) as its first record.
 * NULL with err (the state dir refused, or an I/O error). */
salve_journal *salve_journal_create(const char *state_dir, const char *run_id, const json_t *header,
                                    char *err, size_t errlen);

/* Takes over a dead run's journal for recovery: locks it (never waits), reads and verifies
 * it. On OK, *out is the journal, *records (new reference) every record that verified, in
 * order, and check says whether anything could not be trusted. BUSY when another process
 * holds it; ERROR with err when it cannot be opened, is refused or cannot be read. */
enum salve_journal_status salve_journal_adopt(const char *path, salve_journal **out,
                                              json_t **records, salve_journal_check *check,
                                              char *err, size_t errlen);

/* Reads and verifies a journal without taking it over (for listing, and to find the journal
 * of a lock's previous holder). With live, takes a shared lock for the read and sets *live to
 * 1 when another process holds the journal; with live NULL, takes no lock. 0, or -1 with
 * err. *records is a new reference. */
int salve_journal_read(const char *path, json_t **records, salve_journal_check *check, int *live,
                       char *err, size_t errlen);

/* Appends one record (stolen; "seq" and "h" are set here) durably. 0, or -1 with err. A
 * journal adopted with a damaged record refuses appends. */
int salve_journal_append(salve_journal *j, json_t *record, char *err, size_t errlen);

/* A copy of every record elsewhere (with `ha:`, etcd: core/ha/harun.h), called by append
 * after the record is durable here and before append returns, with the record's exact line
 * (its hash included, without the newline) and the record. Nonzero fails the append (err set)
 * although the record stays in the local journal. */
typedef int (*salve_journal_mirror_fn)(void *ctx, long long seq, const char *line, size_t len,
                                       const json_t *record, char *err, size_t errlen);
/* Sends every later record to mirror (NULL: none). When replay_header, the first record
 * (the header a just created journal holds) goes to it now: 0, or -1 with err from it. */
int salve_journal_set_mirror(salve_journal *j, salve_journal_mirror_fn mirror, void *ctx,
                             int replay_header, char *err, size_t errlen);

/* Writes a journal another process kept elsewhere (lines: its records' exact lines, without
 * newlines, in order) as STATE_DIR/runs/RUN_ID.journal, for salve_journal_adopt to verify and
 * take over. Refuses to replace a journal already there. 0 with path, or -1 with err. */
int salve_journal_import(const char *state_dir, const char *run_id, const json_t *lines, char *path,
                         size_t pathlen, char *err, size_t errlen);

/* Paths of every journal in STATE_DIR/runs, sorted. New reference. */
json_t *salve_journal_list(const char *state_dir);
/* The run id a journal path names (its file name without .journal) into buf. */
const char *salve_journal_run_id(const char *path, char *buf, size_t len);
const char *salve_journal_path(const salve_journal *j);

/* Removes what runs that died while creating their journal left (temporary journals nobody
 * holds; they never had a change). Returns how many were removed. */
int salve_journal_remove_stale(const char *state_dir);

/* Moves the journal into STATE_DIR/runs/resolved/ (kept for people, never recovered again),
 * then unlocks and frees it. 0, or -1 with err (the journal is then closed in place). */
int salve_journal_retire(salve_journal *j, char *err, size_t errlen);

/* Ends the run: remove_file != 0 deletes it (nothing left to undo); then unlocks, frees. */
void salve_journal_close(salve_journal *j, int remove_file);

#endif
