/*
 * What salve serve writes to its log (stderr) and to a terminal. Alerts reach these lines
 * (labels, annotations, fingerprints, params, errors quoting them), so every line is escaped:
 * no value can end a line and forge the next one, move the cursor or recolour the terminal.
 * Pure functions and stderr writes; thread-safe.
 */
#ifndef SRV_LOG_H
#define SRV_LOG_H

#include <stddef.h>
#include <stdio.h>

/* Copies in to out (outlen > 0; always terminated, cut at a whole character when too long)
 * with control characters escaped: \n, \r, \t, \xHH for the other C0 bytes, DEL and bytes
 * that are not UTF-8, \u00HH for the C1 controls (U+0080..U+009F). Backslashes and printable
 * UTF-8 are kept. Returns out. */
char *srv_log_escape(const char *in, char *out, size_t outlen);

/* salve_log with the whole formatted message escaped (redaction as in salve_log). */
void srv_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* fputs to f with the text escaped, for commands that print alert data (routes test). */
void srv_log_fputs(const char *text, FILE *f);

#endif
