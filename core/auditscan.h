/*
 * Reading an audit log from start to end in one pass, verifying its hash chain on the way,
 * without loading it: what `salve report` and `salve audit show|tail` build on.
 *
 * The scan reads the log as it was when the scan began (its size and head are taken under the
 * writers' shared lock, which is released at once so a long scan never blocks a run), checks
 * each line's seq and prev against the line before it and, at the end, the head. It hands
 * every line to a callback with the few fields every record has pulled out without a JSON
 * parse (seq, ts, event, run); the callback parses with jansson only what it needs.
 *
 * Not thread-safe (one scan, one thread); nothing to free beyond what the caller allocates.
 */
#ifndef SALVE_AUDITSCAN_H
#define SALVE_AUDITSCAN_H

#include <stddef.h>

/* One line of the log, borrowed for the callback only. */
struct salve_scan_line {
	const char *text; /* the record's bytes, without its newline (not NUL-terminated) */
	size_t len;
	long long lineno;
	long long seq;  /* 0 when the line has none in the usual place */
	double ts;      /* seconds since the epoch; 0 when unreadable */
	char event[48]; /* the record's "event", or "" */
	char run[72];   /* the record's "run" as written first in the line, or "" */
};

/* Return 0 to go on, non-zero to stop the scan (salve_scan_log then returns that value). */
typedef int (*salve_scan_fn)(void *ctx, const struct salve_scan_line *line);

struct salve_scan_result {
	long long records;  /* lines read */
	int intact;         /* 1: the chain and the head check out */
	char verdict[1024]; /* one sentence: "N records, hash chain intact" or what is broken */
};

/* Scans path. Returns 0 when the whole log was read (intact or not: see res), -1 when it
 * cannot be read (res->verdict says why), or what the callback returned to stop. A log that
 * is broken is still read to its end, so a report can show what it holds; the first break is
 * the one named. */
int salve_scan_log(const char *path, salve_scan_fn fn, void *ctx, struct salve_scan_result *res);

/* A top-level member of a record, found without building the record (jansson allocates for
 * every value; a summary over a million records needs a few strings of each). */
struct salve_field {
	const char *key; /* in: the member's name */
	const char *val; /* out: its value's first byte (a string's after the quote), or NULL */
	size_t len;      /* out: the value's length (a string's without the quotes) */
	int string;      /* out: 1 when the value is a string */
	int escaped;     /* out: 1 when that string holds escapes (read it with jansson) */
};

/* Finds the members named in f[0..n) at the top level of the JSON object text[0..len), in
 * one pass that stops when all are found. Values inside nested objects and arrays, and
 * strings, never match. Returns how many were found; -1 when text is not an object or is
 * cut short (then nothing found may be trusted). Duplicate keys: the first wins. */
int salve_scan_fields(const char *text, size_t len, struct salve_field *f, size_t n);

/* A found string field into buf (NUL-terminated; "" when absent, escaped or too long). */
const char *salve_field_str(const struct salve_field *f, char *buf, size_t len);

/* RFC 3339 ("2026-12-04T21:46:23.763Z", "...+02:00", fractional seconds of any length) to
 * seconds since the epoch. 0, or -1 when text is not such a time. */
int salve_parse_rfc3339(const char *text, double *out);

/* seconds since the epoch as RFC 3339 UTC with milliseconds into buf (>= 32 bytes). */
void salve_format_rfc3339(double t, char *buf, size_t len);

#endif
