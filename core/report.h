/*
 * Post-incident reports from the audit log (`salve report`, docs/reports.md).
 *
 * Both builders read the log once, front to back (auditscan.h), verifying its hash chain on
 * the way, and return a JSON document in report format 1, which the renderers turn into
 * Markdown or one self-contained HTML file. The document is the `--format json` output, so
 * what a person reads and what a tool reads are the same data.
 *
 * Ownership: the builders return a new reference the caller decrefs. Not thread-safe.
 */
#ifndef SALVE_REPORT_H
#define SALVE_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "auditscan.h"

#define SALVE_REPORT_FORMAT 1

/* Which records a report is about. Every selector given must hold (they combine with AND). */
struct salve_report_query {
	const char *run;     /* one run id */
	const char *alert;   /* an alert fingerprint: every run it caused, every cycle */
	const char *runbook; /* runs of this runbook (its name) */
	double since, until; /* run starts (and alerts received) in [since, until]; 0: open */
	int flapping;        /* summary: an alert remediated more than this many times flaps */
	size_t max_runs;     /* incident report: runs kept at most (0: 500) */
};

/* One incident (or the runs a query selects): alerts, runs, steps, changes, figures,
 * follow-ups, drills. NULL with err only when the log cannot be read; a broken chain is
 * reported inside the document ("audit"."intact" false and its verdict). */
json_t *salve_report_build(const char *path, const struct salve_report_query *q, char *err,
                           size_t errlen);

/* Many incidents: per runbook and per alert name, counts, time to remediate (median, p90),
 * failing steps, flapping alerts, drills apart. Same contract as salve_report_build. */
json_t *salve_report_summary(const char *path, const struct salve_report_query *q, char *err,
                             size_t errlen);

/* Semi-private, shared by the two builders: the document's "audit" member. */
json_t *salve_report__audit_json(const char *path, const struct salve_scan_result *res);
/* Semi-private: the document's "query" member. */
json_t *salve_report__query_json(const struct salve_report_query *q);

/* Semi-private: one timeline entry (at, seq, event, run, step, outcome, who, detail, drill)
 * for a record; `salve audit tail` prints these. New reference. */
json_t *salve_report__entry(const json_t *rec, const char *event, const char *at, int drill);

/* Renderers of either document. 0, or -1 when writing to f failed. */
int salve_report_write_md(FILE *f, const json_t *doc);
int salve_report_write_html(FILE *f, const json_t *doc);

#endif
