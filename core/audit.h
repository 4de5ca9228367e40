/*
 * The append-only audit log: JSON Lines, one record per event, hash-chained.
 *
 * Every record carries "seq" (1, 2, ...), "ts" and, last, "prev": the SHA-256 of the previous
 * line's bytes (64 zeros for the first). Editing or removing a line breaks the chain at the
 * next line; removing lines at the end is caught by PATH.head, which holds the seq and hash
 * of the last record written. Several processes may append to one log: each append takes an
 * flock on the file and re-reads the tail when another writer moved it.
 *
 * Safety rules the writer enforces:
 *  - the log and its head are opened without following symlinks and must be regular files
 *    owned by the effective user, not group/world-writable, in a directory with the same
 *    properties (an audit path pointed at /etc/passwd is refused, never appended to);
 *  - each record (or, for a group-commit handle, each group of records) is one write() on an
 *    O_APPEND descriptor; a write cut short (a full disk) is cut back to the last complete
 *    record before the error is returned, so the log never keeps half a line; a torn line
 *    left by a writer that died mid-write is cut off by the next writer, which records what
 *    it removed ("audit_repaired");
 *  - the log is not appended to when its head is missing or empty while the log has records,
 *    or when the head names a later record than the log's last (records removed from the
 *    end): `salve audit verify --accept-missing-head` is the deliberate, audited way out of
 *    the first case.
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
	SALVE_AUDIT_SYNC_NONE = 1,   /* leave it to the kernel, or to salve_audit_sync() */
	/* Records wait in memory, unnumbered, until salve_audit_sync() numbers and chains them,
	 * writes them with one write() under one lock and makes them durable: a group commit
	 * costs a handful of system calls, not four per record. Until then salve_audit_write's
	 * 0 means "taken", and only salve_audit_sync's 0 means written. */
	SALVE_AUDIT_SYNC_GROUP = 2,
};

typedef struct salve_audit salve_audit;

/* Opens (creating, mode 0640, and its directory, mode 0750) the log and its head. NULL with
 * the reason in err when it cannot, or must not (see the safety rules above). */
salve_audit *salve_audit_open(const char *path, enum salve_audit_sync sync, char *err,
                              size_t errlen);
/* Appends one record, which the log takes (and decrefs): secrets are redacted in it, seq and
 * ts set (first in the line when the record starts with them, see salve_audit_record) and
 * prev appended. 0, or -1 with err set and errno saying why (ENOSPC for a full disk). A
 * record that could not be written is never silently dropped: the caller gets -1. */
int salve_audit_write(salve_audit *a, json_t *record, char *err, size_t errlen);
/* A new record that starts with seq and ts placeholders, so they lead the line. */
json_t *salve_audit_record(void);
const char *salve_audit_path(const salve_audit *a);
void salve_audit_close(salve_audit *a);

/* Checks the chain. Returns 0 when intact (summary in msg), 1 with the first broken line
 * described in msg (also: a missing or empty head beside a non-empty log), -1 when the file
 * cannot be read. */
int salve_audit_verify(const char *path, char *msg, size_t msglen);

/* `salve audit verify --accept-missing-head`: when the chain is intact and only the head is
 * missing (or empty), appends an "audit_head_accepted" record naming the user and recreates
 * the head, so appends resume. Returns 0 (accepted, or nothing to accept and the log
 * verifies), 1 (the chain is broken: nothing accepted), -1 (cannot read or write). */
int salve_audit_accept_missing_head(const char *path, char *msg, size_t msglen);

/* Makes every record written so far durable: (for SALVE_AUDIT_SYNC_GROUP, first the records
 * waiting, in one write) one fdatasync of the log, then the head is written and fdatasync'd.
 * For logs that commit records in groups (salve serve). 0, or -1 with err and errno set; when the
 * waiting records could not be written, none of them is in the log (the file is cut back to
 * where it ended), and they are dropped: the caller reports them all failed. Thread-safe
 * like salve_audit_write. */
int salve_audit_sync(salve_audit *a, char *err, size_t errlen);
/* The same without syncing: the waiting records written in one write(), the head left to
 * the next sync or to close (audit_sync: never). */
int salve_audit_flush(salve_audit *a, char *err, size_t errlen);

#endif
