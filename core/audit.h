/*
 * The append-only audit log: JSON Lines, one record per event, hash-chained.
 *
 * Every record carries "seq" (1, 2, ...), "ts" and, last, "prev": the SHA-256 of the previous
 * line's bytes (64 zeros for the first). Editing or removing a line breaks the chain at the
 * next line; removing lines at the end is caught by PATH.head, which holds the seq and hash
 * of the last record written. Several processes may append to one log: each append takes an
 * flock on the file and re-reads the tail when another writer moved it.
 *
 * Thread-safe: one salve_audit may be shared by threads (internal mutex).
 * Ownership: salve_audit_write takes the record it is given.
 */
#ifndef SALVE_AUDIT_H
#define SALVE_AUDIT_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

enum salve_audit_sync {
	SALVE_AUDIT_SYNC_ALWAYS = 0, /* fdatasync after every record (the default) */
	SALVE_AUDIT_SYNC_NONE = 1,   /* leave it to the kernel: benchmarks and tests only */
};

typedef struct salve_audit salve_audit;

/* Opens (creating, mode 0640, and its directory) the log. NULL with the reason in err. */
salve_audit *salve_audit_open(const char *path, enum salve_audit_sync sync, char *err,
                              size_t errlen);
/* Appends one record, which the log takes (and decrefs): secrets are redacted in it, seq and
 * ts set (first in the line when the record starts with them, see salve_audit_record) and
 * prev appended. 0, or -1 with err set. */
int salve_audit_write(salve_audit *a, json_t *record, char *err, size_t errlen);
/* A new record that starts with seq and ts placeholders, so they lead the line. */
json_t *salve_audit_record(void);
const char *salve_audit_path(const salve_audit *a);
void salve_audit_close(salve_audit *a);

/* Checks the chain. Returns 0 when intact (summary in msg), 1 with the first broken line
 * described in msg, -1 when the file cannot be read. */
int salve_audit_verify(const char *path, char *msg, size_t msglen);

/* Makes every record written so far durable with one fdatasync and points the head at the
 * file's last record: the group commit of a handle opened with SALVE_AUDIT_SYNC_NONE (salve
 * serve appends a batch of alert records, then syncs once). 0, or -1 with err. */
int salve_audit_sync(salve_audit *a, char *err, size_t errlen);

#endif
