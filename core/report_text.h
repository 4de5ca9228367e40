/*
 * Text helpers the report renderers share (report_md.c, report_html.c): a report document's
 * fields, durations and times as a person reads them, and escaping for Markdown and HTML.
 *
 * Ownership: strings returned are the caller's buf, a string inside the document, or a
 * literal; nothing to free. Thread-safe (no state) as long as f and buf are not shared.
 */
#ifndef SALVE_REPORT_TEXT_H
#define SALVE_REPORT_TEXT_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* o[key] as a string, NULL when absent or not a string. */
const char *rtext_str(const json_t *o, const char *key);
/* Both strings present and equal. */
int rtext_streq(const char *a, const char *b);
/* o[key] (RFC 3339) as seconds since the epoch; 0 when absent or malformed. */
double rtext_time_of(const json_t *o, const char *key);
/* Seconds (v) or milliseconds (ms) as "850 ms", "42.0 s", "3m 05s", ...; "–" if unknown. */
const char *rtext_human_duration(const json_t *v, char *buf, size_t len);
const char *rtext_ms_duration(const json_t *ms, char *buf, size_t len);
/* s, or "–" when NULL or empty. */
const char *rtext_or_dash(const char *s);

/* Write s (NULL: "–") escaped for a Markdown line or table cell / for HTML text or an
 * attribute; control characters are written out either way. */
void rtext_md(FILE *f, const char *s);
void rtext_html(FILE *f, const char *s);

/* The time of day of an RFC 3339 time ("21:46:23.763"); the first 8 characters of an id. */
const char *rtext_time_only(const char *rfc, char *buf, size_t len);
const char *rtext_short_id(const char *id, char *buf, size_t len);
/* The document's first line: whether the audit log's hash chain is intact. */
const char *rtext_verdict_line(const json_t *doc, char *buf, size_t len);
/* The alert names, else the runbooks (three at most), of the runs reported. */
const char *rtext_title_of(const json_t *doc, char *buf, size_t len);
/* Whether a change is still in place, in words. */
const char *rtext_change_state(const json_t *c, char *buf, size_t len);

#endif
