/* Markdown and HTML renderings of a report document (report.h). Everything in a document
 * came from the audit log, and so from alerts, runbooks and remote hosts: every value is
 * escaped for the format it lands in, and the HTML runs no script and loads nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditscan.h"
#include "report.h"
#include "util.h"

static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static double time_of(const json_t *o, const char *key)
{
	double t;
	const char *s = str(o, key);
	return s && salve_parse_rfc3339(s, &t) == 0 ? t : 0;
}

/* "850 ms", "42.0 s", "3m 05s", "2h 10m", "3d 4h"; "–" for unknown. */
static const char *human_duration(const json_t *v, char *buf, size_t len)
{
	if (!json_is_number(v))
		return "–";
	double s = json_number_value(v);
	const char *sign = s < 0 ? "-" : "";
	s = fabs(s);
	if (s < 1)
		snprintf(buf, len, "%s%.0f ms", sign, s * 1000);
	else if (s < 60)
		snprintf(buf, len, "%s%.1f s", sign, s);
	else if (s < 3600)
		snprintf(buf, len, "%s%dm %02ds", sign, (int)s / 60, (int)s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%s%dh %02dm", sign, (int)s / 3600, (int)s % 3600 / 60);
	else
		snprintf(buf, len, "%s%dd %dh", sign, (int)(s / 86400), (int)fmod(s, 86400) / 3600);
	return buf;
}

static const char *ms_duration(const json_t *ms, char *buf, size_t len)
{
	if (!json_is_number(ms))
		return "–";
	json_t *s = json_real(json_number_value(ms) / 1000.0);
	human_duration(s, buf, len);
	json_decref(s);
	return buf;
}

static const char *or_dash(const char *s)
{
	return s && *s ? s : "–";
}

/* ---- escaping -------------------------------------------------------------------------- */

/* Markdown table cell or line: control characters written out, and every character that
 * Markdown or an HTML renderer of it would act on backslash-escaped or as an entity. */
static void md(FILE *f, const char *s)
{
	char safe[8192];
	salve_escape_controls(s ? s : "–", safe, sizeof safe, 0);
	for (const char *p = safe; *p; p++) {
		if (*p == '<')
			fputs("&lt;", f);
		else if (*p == '>')
			fputs("&gt;", f);
		else if (*p == '&')
			fputs("&amp;", f);
		else if (strchr("\\`*_[]|#!~", *p))
			fprintf(f, "\\%c", *p);
		else
			fputc(*p, f);
	}
}

static void html(FILE *f, const char *s)
{
	char safe[8192];
	salve_escape_controls(s ? s : "–", safe, sizeof safe, 0);
	for (const char *p = safe; *p; p++) {
		switch (*p) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(*p, f);
		}
	}
}

typedef void (*esc_fn)(FILE *, const char *);

static const char *time_only(const char *rfc, char *buf, size_t len)
{
	/* 2026-12-04T21:46:23.763Z -> 21:46:23.763 */
	if (rfc && strlen(rfc) >= 23 && rfc[10] == 'T')
		snprintf(buf, len, "%.12s", rfc + 11);
	else
		snprintf(buf, len, "%s", or_dash(rfc));
	return buf;
}

static const char *short_id(const char *id, char *buf, size_t len)
{
	snprintf(buf, len, "%.8s", or_dash(id));
	return buf;
}

static const char *verdict_line(const json_t *doc, char *buf, size_t len)
{
	const json_t *audit = json_object_get(doc, "audit");
	if (json_is_true(json_object_get(audit, "intact")))
		snprintf(buf, len, "Audit log verified: %s.", str(audit, "verdict"));
	else
		snprintf(
		    buf, len,
		    "WARNING: the audit log is NOT intact: %s. This report is built on records "
		    "that may have been edited or removed.",
		    str(audit, "verdict"));
	return buf;
}

/* The alert names, else the runbooks (three at most), of the runs reported. */
static const char *title_of(const json_t *doc, char *buf, size_t len)
{
	const json_t *names = json_object_get(json_object_get(doc, "summary"), "alerts");
	const json_t *runs = json_object_get(doc, "runs");
	size_t i, n = 0, used = 0;
	json_t *v;
	buf[0] = '\0';
	json_t *seen = json_object();
	json_array_foreach(json_array_size(names) ? names : runs, i, v)
	{
		const char *name = json_is_string(v) ? json_string_value(v) : str(v, "runbook");
		if (!name || json_object_get(seen, name))
			continue;
		json_object_set_new(seen, name, json_true());
		if (n++ == 3) {
			snprintf(buf + used, len - used, ", ...");
			break;
		}
		int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
		if (w < 0 || (size_t)w >= len - used)
			break;
		used += (size_t)w;
	}
	json_decref(seen);
	if (!buf[0])
		snprintf(buf, len, "no matching records");
	return buf;
}

/* ---- markdown: incident ---------------------------------------------------------------- */

static void md_figures(FILE *f, const json_t *fig)
{
	char b[64];
	fputs("| Figure | Value |\n|---|---|\n", f);
	fprintf(f, "| Time to detect (received − alert start) | %s |\n",
	        human_duration(json_object_get(fig, "time_to_detect_s"), b, sizeof b));
	fprintf(f, "| Time to start (run start − received) | %s |\n",
	        human_duration(json_object_get(fig, "time_to_start_s"), b, sizeof b));
	fprintf(f,
	        "| Time to remediate (first change, or end − alert start; run start without an "
	        "alert) | %s |\n",
	        human_duration(json_object_get(fig, "time_to_remediate_s"), b, sizeof b));
	fprintf(f, "| Time to resolve (resolved − alert start) | %s |\n",
	        human_duration(json_object_get(fig, "time_to_resolve_s"), b, sizeof b));
	fprintf(f, "| Steps changed / failed / rolled back | %lld / %lld / %lld |\n\n",
	        (long long)json_integer_value(json_object_get(fig, "steps_changed")),
	        (long long)json_integer_value(json_object_get(fig, "steps_failed")),
	        (long long)json_integer_value(json_object_get(fig, "steps_rolled_back")));
}

static const char *change_state(const json_t *c, char *buf, size_t len)
{
	const char *s = str(c, "state");
	char t[40];
	if (streq(s, "in_place") && str(c, "changed_again_at"))
		snprintf(buf, len, "changed again by run %.8s at %s",
		         or_dash(str(c, "changed_again_by")),
		         time_only(str(c, "changed_again_at"), t, sizeof t));
	else if (streq(s, "in_place"))
		snprintf(buf, len, "yes: still in place (no later undo or change recorded)");
	else if (streq(s, "undone"))
		snprintf(buf, len, "no: undone by the rollback at %s",
		         time_only(str(c, "undone_at"), t, sizeof t));
	else if (streq(s, "undo_failed"))
		snprintf(buf, len, "UNKNOWN: the undo failed (%s)", or_dash(str(c, "error")));
	else if (streq(s, "left_not_undoable"))
		snprintf(buf, len, "yes: cannot be undone, left in place by the rollback");
	else if (streq(s, "left_opted_out"))
		snprintf(buf, len, "yes: the step opted out of rollback");
	else if (streq(s, "planned"))
		snprintf(buf, len, "no: planned only (dry-run)");
	else
		snprintf(buf, len, "%s", or_dash(s));
	return buf;
}

static void md_run(FILE *f, const json_t *r)
{
	char b[64], b2[64];
	fputs("### Run ", f);
	md(f, str(r, "run"));
	fputs(": ", f);
	md(f, str(r, "runbook"));
	fputs(" (", f);
	md(f, str(r, "outcome"));
	if (json_is_true(json_object_get(r, "drill"))) {
		fputs(", DRILL: ", f);
		md(f, str(r, "drill_kind"));
	}
	fputs(")\n\n", f);
	fputs("- Trigger: ", f);
	md(f, str(r, "trigger"));
	fputs("; mode: ", f);
	md(f, str(r, "mode"));
	if (str(r, "fail_at")) {
		fputs("; --fail-at ", f);
		md(f, str(r, "fail_at"));
	}
	fputs("\n- Started ", f);
	md(f, str(r, "started_at"));
	fputs(", ended ", f);
	md(f, str(r, "ended_at"));
	fprintf(f, " (%s), exit code ",
	        human_duration(json_object_get(r, "duration_s"), b, sizeof b));
	if (json_is_integer(json_object_get(r, "exit_code")))
		fprintf(f, "%lld", (long long)json_integer_value(json_object_get(r, "exit_code")));
	else
		fputs("–", f);
	fputs("\n", f);
	if (str(r, "error")) {
		fputs("- Error: ", f);
		md(f, str(r, "error"));
		fputs("\n", f);
	}
	fputs("\n| # | Step | Started | Duration | Outcome | Rollback | Error or note |\n"
	      "|---|---|---|---|---|---|---|\n",
	      f);
	size_t i;
	json_t *st;
	json_array_foreach(json_object_get(r, "steps"), i, st)
	{
		fprintf(f, "| %zu | ", i + 1);
		md(f, str(st, "name"));
		fputs(" | ", f);
		md(f, time_only(str(st, "started_at"), b2, sizeof b2));
		fprintf(f, " | %s | ",
		        ms_duration(json_object_get(st, "duration_ms"), b, sizeof b));
		md(f, str(st, "outcome"));
		fputs(" | ", f);
		md(f, str(st, "rollback"));
		fputs(" | ", f);
		md(f, str(st, "error") ? str(st, "error") : str(st, "note"));
		fputs(" |\n", f);
	}
	fputs("\n", f);
	json_t *aps = json_object_get(r, "approvals");
	if (json_array_size(aps)) {
		fputs("Approvals:\n\n", f);
		json_array_foreach(aps, i, st)
		{
			fputs("- Step ", f);
			md(f, str(st, "step"));
			fputs(": requested ", f);
			md(f, time_only(str(st, "requested_at"), b, sizeof b));
			fputs(", ", f);
			md(f, str(st, "outcome") ? str(st, "outcome") : "no decision recorded");
			fputs(" at ", f);
			md(f, time_only(str(st, "decided_at"), b, sizeof b));
			fputs(" by ", f);
			md(f, str(st, "by"));
			if (str(st, "reason") && *str(st, "reason")) {
				fputs(" (", f);
				md(f, str(st, "reason"));
				fputs(")", f);
			}
			fputs("\n", f);
		}
		fputs("\n", f);
	}
	json_t *ns = json_object_get(r, "notifications");
	if (json_array_size(ns)) {
		fputs("Notifications:\n\n", f);
		json_array_foreach(ns, i, st)
		{
			fputs("- ", f);
			md(f, time_only(str(st, "at"), b, sizeof b));
			fputs(" ", f);
			md(f, str(st, "via"));
			fputs(" ", f);
			md(f, str(st, "on") ? str(st, "on") : str(st, "step"));
			fputs(" to ", f);
			json_t *to = json_object_get(st, "to");
			char *tos = json_is_string(to)
			                ? strdup(json_string_value(to))
			                : json_dumps(to, JSON_COMPACT | JSON_ENCODE_ANY);
			md(f, tos);
			free(tos);
			fputs(": ", f);
			md(f, str(st, "outcome"));
			if (str(st, "error")) {
				fputs(" (", f);
				md(f, str(st, "error"));
				fputs(")", f);
			}
			fputs("\n", f);
		}
		fputs("\n", f);
	}
}

static void md_incident(FILE *f, const json_t *doc)
{
	char b[1200], b2[64];
	const json_t *s = json_object_get(doc, "summary");
	fputs("# Post-incident review (draft): ", f);
	md(f, title_of(doc, b, sizeof b));
	fputs("\n\n_Generated by `salve report` at ", f);
	md(f, str(doc, "generated_at"));
	fputs(" from ", f);
	md(f, str(json_object_get(doc, "audit"), "path"));
	fputs("._\n\n## Summary\n\n", f);
	fputs("- What fired: ", f);
	size_t i;
	json_t *v;
	json_t *names = json_object_get(s, "alerts");
	if (!json_array_size(names))
		fputs("no alert (runs started by hand or by a schedule)", f);
	json_array_foreach(names, i, v)
	{
		if (i)
			fputs(", ", f);
		md(f, json_string_value(v));
	}
	if (str(s, "alert_summary")) {
		fputs(": ", f);
		md(f, str(s, "alert_summary"));
	}
	fputs("\n- Severity: ", f);
	md(f, str(s, "severity"));
	fputs("\n- Impact window: ", f);
	md(f, str(s, "impact_start"));
	fputs(" to ", f);
	md(f, str(s, "impact_end"));
	double t0 = time_of(s, "impact_start"), t1 = time_of(s, "impact_end");
	if (t0 > 0 && t1 >= t0) {
		json_t *d = json_real(t1 - t0);
		fprintf(f, " (%s)", human_duration(d, b2, sizeof b2));
		json_decref(d);
	}
	fprintf(f, "\n- Runs: %lld production, %lld drill(s) (reported apart)",
	        (long long)json_integer_value(json_object_get(s, "production_runs")),
	        (long long)json_integer_value(json_object_get(s, "drill_runs")));
	const char *k;
	json_object_foreach(json_object_get(s, "outcomes"), k, v)
	{
		fputs("; ", f);
		md(f, k);
		fprintf(f, ": %lld", (long long)json_integer_value(v));
	}
	if (json_integer_value(json_object_get(doc, "runs_left_out")))
		fprintf(f, "\n- %lld more matching run(s) left out: narrow the query",
		        (long long)json_integer_value(json_object_get(doc, "runs_left_out")));
	fputs("\n\n## Key figures (production runs)\n\n", f);
	md_figures(f, json_object_get(doc, "figures"));

	fputs("## Timeline\n\n| Time (UTC) | Elapsed | Event | Run | Step | Outcome | Who | Detail "
	      "|\n|---|---|---|---|---|---|---|---|\n",
	      f);
	json_array_foreach(json_object_get(doc, "timeline"), i, v)
	{
		fputs("| ", f);
		md(f, time_only(str(v, "at"), b, sizeof b));
		fprintf(f, " | +%s | ",
		        human_duration(json_object_get(v, "elapsed_s"), b2, sizeof b2));
		md(f, str(v, "event"));
		if (json_is_true(json_object_get(v, "drill")))
			fputs(" (drill)", f);
		fputs(" | ", f);
		md(f, short_id(str(v, "run"), b, sizeof b));
		fputs(" | ", f);
		md(f, str(v, "step"));
		fputs(" | ", f);
		md(f, str(v, "outcome"));
		fputs(" | ", f);
		md(f, str(v, "who"));
		fputs(" | ", f);
		md(f, str(v, "detail"));
		fputs(" |\n", f);
	}
	fputs("\n## Runs\n\n", f);
	json_array_foreach(json_object_get(doc, "runs"), i, v) md_run(f, v);

	fputs("## What was changed\n\n", f);
	int any = 0;
	json_t *r;
	json_array_foreach(json_object_get(doc, "runs"), i, r)
	{
		if (json_is_true(json_object_get(r, "drill")))
			continue;
		size_t j;
		json_t *c;
		json_array_foreach(json_object_get(r, "changes"), j, c)
		{
			if (!any++)
				fputs("| Run | Step | Change | At | Still in place? "
				      "|\n|---|---|---|---|---|\n",
				      f);
			fputs("| ", f);
			md(f, short_id(str(r, "run"), b2, sizeof b2));
			fputs(" | ", f);
			md(f, str(c, "step"));
			fputs(" | ", f);
			snprintf(b, sizeof b, "%s.%s %s", or_dash(str(c, "plugin")),
			         or_dash(str(c, "action")),
			         str(c, "target") ? str(c, "target") : "");
			md(f, b);
			fputs(" | ", f);
			md(f, time_only(str(c, "at"), b2, sizeof b2));
			fputs(" | ", f);
			md(f, change_state(c, b, sizeof b));
			fputs(" |\n", f);
		}
	}
	fputs(any ? "\n" : "Nothing was changed by a production run.\n\n", f);

	fputs("## Follow-up items\n\n", f);
	json_t *fu = json_object_get(doc, "follow_ups");
	if (!json_array_size(fu))
		fputs("None seeded from the log (no failed step, rollback or refused approval).\n",
		      f);
	json_array_foreach(fu, i, v)
	{
		fputs("- [ ] ", f);
		md(f, str(v, "text"));
		fputs(" (run ", f);
		md(f, short_id(str(v, "run"), b2, sizeof b2));
		fputs(", ", f);
		md(f, str(v, "runbook"));
		fputs(")\n", f);
	}
	fputs("\n## Drills (not in the figures above)\n\n", f);
	json_t *dr = json_object_get(doc, "drills");
	if (!json_array_size(dr))
		fputs("No drill runs in this selection.\n", f);
	else
		fputs("| Run | Runbook | Kind | Started | Outcome | Rollback rehearsal |\n"
		      "|---|---|---|---|---|---|\n",
		      f);
	json_array_foreach(dr, i, v)
	{
		fputs("| ", f);
		md(f, short_id(str(v, "run"), b2, sizeof b2));
		fputs(" | ", f);
		md(f, str(v, "runbook"));
		fputs(" | ", f);
		md(f, str(v, "kind"));
		if (str(v, "fail_at")) {
			fputs(" ", f);
			md(f, str(v, "fail_at"));
		}
		fputs(" | ", f);
		md(f, str(v, "started_at"));
		fputs(" | ", f);
		md(f, str(v, "outcome"));
		json_t *p = json_object_get(v, "rollback_passed");
		fprintf(f, " | %s |\n",
		        json_is_null(p)   ? "not rehearsed"
		        : json_is_true(p) ? "passed"
		                          : "FAILED");
	}
	fputs("\n## What went well\n\n_To be written by the review._\n\n"
	      "## What could be improved\n\n_To be written by the review._\n",
	      f);
}

/* ---- markdown: summary ----------------------------------------------------------------- */

static void md_groups(FILE *f, const json_t *groups, const char *key, const char *heading)
{
	char b[64], b2[64];
	fprintf(f,
	        "| %s | Runs | Success | Degraded | Rolled back | Failed | Unfinished | TTR "
	        "median | TTR p90 | Most frequent failing steps |\n"
	        "|---|---|---|---|---|---|---|---|---|---|\n",
	        heading);
	size_t i;
	json_t *g;
	json_array_foreach(groups, i, g)
	{
		fputs("| ", f);
		md(f, str(g, key));
		fprintf(f, " | %lld | %lld | %lld | %lld | %lld | %lld | %s | %s | ",
		        (long long)json_integer_value(json_object_get(g, "runs")),
		        (long long)json_integer_value(json_object_get(g, "success")),
		        (long long)json_integer_value(json_object_get(g, "degraded")),
		        (long long)json_integer_value(json_object_get(g, "rolled_back")),
		        (long long)json_integer_value(json_object_get(g, "failed")),
		        (long long)json_integer_value(json_object_get(g, "unfinished")),
		        human_duration(json_object_get(g, "ttr_median_s"), b, sizeof b),
		        human_duration(json_object_get(g, "ttr_p90_s"), b2, sizeof b2));
		size_t j;
		json_t *st;
		json_array_foreach(json_object_get(g, "failing_steps"), j, st)
		{
			if (j)
				fputs(", ", f);
			md(f, str(st, "step"));
			fprintf(f, " (%lld)",
			        (long long)json_integer_value(json_object_get(st, "count")));
		}
		if (!json_array_size(json_object_get(g, "failing_steps")))
			fputs("–", f);
		fputs(" |\n", f);
	}
	fputs("\n", f);
}

static void md_summary(FILE *f, const json_t *doc)
{
	const json_t *q = json_object_get(doc, "query"), *t = json_object_get(doc, "totals");
	fputs("# salve summary: ", f);
	md(f, str(q, "since") ? str(q, "since") : "the start of the log");
	fputs(" to ", f);
	md(f, str(q, "until") ? str(q, "until") : "now");
	fputs("\n\n_Generated by `salve report --summary` at ", f);
	md(f, str(doc, "generated_at"));
	fputs("._ Time to remediate (TTR) runs from the alert's start (the run's start when no "
	      "alert caused it) to the first change, or to the end of a run that changed nothing; "
	      "successful runs only. Drills are counted apart.\n\n",
	      f);
	fprintf(
	    f,
	    "## Totals\n\n- Production runs: %lld (success %lld, rolled back %lld, failed %lld, "
	    "unfinished %lld)\n- Drill runs: %lld\n\n",
	    (long long)json_integer_value(json_object_get(t, "runs")),
	    (long long)json_integer_value(json_object_get(t, "success")),
	    (long long)json_integer_value(json_object_get(t, "rolled_back")),
	    (long long)json_integer_value(json_object_get(t, "failed")),
	    (long long)json_integer_value(json_object_get(t, "unfinished")),
	    (long long)json_integer_value(json_object_get(t, "drill_runs")));
	fputs("## Per runbook\n\n", f);
	md_groups(f, json_object_get(doc, "runbooks"), "runbook", "Runbook");
	fputs("## Per alert name\n\n", f);
	if (json_array_size(json_object_get(doc, "alert_names")))
		md_groups(f, json_object_get(doc, "alert_names"), "alertname", "Alert");
	else
		fputs("No run in the range was caused by an alert.\n\n", f);
	fprintf(f, "## Flapping alerts (remediated more than %lld times)\n\n",
	        (long long)json_integer_value(json_object_get(q, "flapping")));
	const json_t *fl = json_object_get(doc, "flapping");
	if (!json_array_size(fl))
		fputs("None.\n\n", f);
	else
		fputs("| Alert | Fingerprint | Remediations |\n|---|---|---|\n", f);
	size_t i;
	json_t *v;
	json_array_foreach(fl, i, v)
	{
		fputs("| ", f);
		md(f, str(v, "alertname"));
		fputs(" | ", f);
		md(f, str(v, "fingerprint"));
		fprintf(f, " | %lld |\n",
		        (long long)json_integer_value(json_object_get(v, "remediations")));
	}
	if (json_array_size(fl))
		fputs("\n", f);
	fputs("## Drills\n\n", f);
	const json_t *dr = json_object_get(doc, "drills");
	if (!json_array_size(dr))
		fputs("None.\n", f);
	else
		fputs("| Runbook | Drill runs | Dry-run | Fail-at | Drill-notify | Rollback "
		      "rehearsals "
		      "passed | failed |\n|---|---|---|---|---|---|---|\n",
		      f);
	json_array_foreach(dr, i, v)
	{
		fputs("| ", f);
		md(f, str(v, "runbook"));
		fprintf(f, " | %lld | %lld | %lld | %lld | %lld | %lld |\n",
		        (long long)json_integer_value(json_object_get(v, "runs")),
		        (long long)json_integer_value(json_object_get(v, "dry_run")),
		        (long long)json_integer_value(json_object_get(v, "fail_at")),
		        (long long)json_integer_value(json_object_get(v, "drill_notify")),
		        (long long)json_integer_value(json_object_get(v, "rollback_passed")),
		        (long long)json_integer_value(json_object_get(v, "rollback_failed")));
	}
}

int salve_report_write_md(FILE *f, const json_t *doc)
{
	char line[1400];
	fputs("**", f);
	md(f, verdict_line(doc, line, sizeof line));
	fputs("**\n\n", f);
	if (streq(str(doc, "kind"), "summary"))
		md_summary(f, doc);
	else
		md_incident(f, doc);
	fflush(f);
	return ferror(f) ? -1 : 0;
}

/* ---- HTML ------------------------------------------------------------------------------ */

static const char css[] =
    "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;"
    "color:#111}\n"
    "h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}"
    "h3{font-size:1.05em}\n"
    "table{border-collapse:collapse;width:100%;margin:.5em 0 1em}th,td{border:1px solid "
    "#ccc;padding:.25em .45em;text-align:left;vertical-align:top}th{background:#f2f2f2}\n"
    "td.num{text-align:right;white-space:nowrap}tr.drill td{color:#555;font-style:italic}\n"
    ".verdict{padding:.6em .8em;border-radius:4px;font-weight:600}.ok{background:#e6f4ea;"
    "border:1px solid #34a853}.bad{background:#fce8e6;border:2px solid #d93025;color:#a50e0e}\n"
    ".chart{width:100%;height:auto;border:1px solid #ddd}.legend span{margin-right:1.2em}\n"
    "@media print{body{font-size:10pt;max-width:none;margin:0}h2{break-after:avoid}"
    "table,.chart{break-inside:avoid}a{color:inherit}}\n";

static void h_time_cell(FILE *f, const char *rfc)
{
	char b[40];
	fputs("<td>", f);
	html(f, time_only(rfc, b, sizeof b));
	fputs("</td>", f);
}

static void h_cell(FILE *f, const char *s)
{
	fputs("<td>", f);
	html(f, s);
	fputs("</td>", f);
}

static const char *outcome_colour(const char *o)
{
	if (streq(o, "success") || streq(o, "changed") || streq(o, "ok") || streq(o, "approved"))
		return "#34a853";
	if (streq(o, "degraded") || streq(o, "skipped"))
		return "#f9ab00";
	if (streq(o, "rolled_back"))
		return "#e37400";
	if (streq(o, "running") || streq(o, "unfinished"))
		return "#9aa0a6";
	return "#d93025";
}

struct chart {
	FILE *f;
	double t0, t1;
	int width, label_w, lane_h, lanes;
};

static double cx(const struct chart *c, double t)
{
	double span = c->t1 - c->t0;
	return c->label_w + (span > 0 ? (t - c->t0) / span : 0) * (c->width - c->label_w - 10);
}

static void lane_label(struct chart *c, int lane, const char *label, int indent)
{
	fprintf(c->f, "<text x=\"%d\" y=\"%d\" font-size=\"11\">", 4 + indent,
	        30 + lane * c->lane_h + 12);
	html(c->f, label);
	fputs("</text>\n", c->f);
}

static void bar(struct chart *c, int lane, double a, double b, const char *colour, int h,
                const char *title, int open_end)
{
	if (a <= 0)
		return;
	if (b < a)
		b = a;
	double x0 = cx(c, a), x1 = cx(c, b);
	if (x1 - x0 < 2)
		x1 = x0 + 2;
	int y = 30 + lane * c->lane_h + (c->lane_h - h) / 2;
	fprintf(c->f,
	        "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"%s><title>", x0,
	        y, x1 - x0, h, colour,
	        open_end ? " fill-opacity=\"0.45\" stroke=\"#555\" stroke-dasharray=\"3 2\"" : "");
	html(c->f, title);
	fputs("</title></rect>\n", c->f);
}

/* A diamond (approval) or a circle (notification) at t on lane. */
static void mark(struct chart *c, int lane, double t, int diamond, const char *colour,
                 const char *title)
{
	if (t <= 0)
		return;
	double x = cx(c, t);
	int y = 30 + lane * c->lane_h + c->lane_h / 2;
	if (diamond)
		fprintf(c->f,
		        "<polygon points=\"%.1f,%d %.1f,%d %.1f,%d %.1f,%d\" fill=\"%s\" "
		        "stroke=\"#000\" stroke-width=\"0.6\"><title>",
		        x, y - 7, x + 6, y, x, y + 7, x - 6, y, colour);
	else
		fprintf(c->f,
		        "<circle cx=\"%.1f\" cy=\"%d\" r=\"4.5\" fill=\"%s\" stroke=\"#000\" "
		        "stroke-width=\"0.6\"><title>",
		        x, y, colour);
	html(c->f, title);
	fputs(diamond ? "</title></polygon>\n" : "</title></circle>\n", c->f);
}

static void chart_bounds(const json_t *doc, double *t0, double *t1)
{
	*t0 = 0;
	*t1 = 0;
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(doc, "timeline"), i, e)
	{
		double t = time_of(e, "at");
		if (t > 0 && (*t0 == 0 || t < *t0))
			*t0 = t;
		if (t > *t1)
			*t1 = t;
	}
	json_t *a;
	json_array_foreach(json_object_get(doc, "alerts"), i, a)
	{
		size_t j;
		json_t *cyc;
		json_array_foreach(json_object_get(a, "cycles"), j, cyc)
		{
			double s = time_of(cyc, "starts_at");
			if (s > 0 && (*t0 == 0 || s < *t0))
				*t0 = s;
		}
	}
	if (*t1 <= *t0)
		*t1 = *t0 + 1;
}

static void h_chart(FILE *f, const json_t *doc)
{
	struct chart c = {f, 0, 0, 1000, 230, 22, 0};
	chart_bounds(doc, &c.t0, &c.t1);
	const json_t *runs = json_object_get(doc, "runs"), *alerts = json_object_get(doc, "alerts");
	/* Lanes: one per alert cycle, one per run, one per step (runs only past 40 runs). */
	int with_steps = json_array_size(runs) <= 40;
	size_t i, j;
	json_t *r, *a, *st;
	json_array_foreach(alerts, i, a) c.lanes +=
	    (int)json_array_size(json_object_get(a, "cycles"));
	json_array_foreach(runs, i, r) c.lanes +=
	    1 + (with_steps ? (int)json_array_size(json_object_get(r, "steps")) : 0);
	int height = 30 + c.lanes * c.lane_h + 30;
	fprintf(f,
	        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
	        "role=\"img\" aria-label=\"Timeline chart\">\n",
	        c.width, height);
	/* Time axis: five ticks. */
	for (int k = 0; k <= 4; k++) {
		double t = c.t0 + (c.t1 - c.t0) * k / 4.0;
		char ts[40], b[40];
		salve_format_rfc3339(t, ts, sizeof ts);
		double x = cx(&c, t);
		fprintf(f,
		        "<line x1=\"%.1f\" y1=\"22\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n"
		        "<text x=\"%.1f\" y=\"16\" font-size=\"10\" text-anchor=\"%s\">",
		        x, x, height - 20, x, k == 4 ? "end" : "middle");
		html(f, time_only(ts, b, sizeof b));
		fputs("</text>\n", f);
	}
	int lane = 0;
	char title[1200], b1[40], b2[40];
	json_array_foreach(alerts, i, a)
	{
		json_array_foreach(json_object_get(a, "cycles"), j, st)
		{
			snprintf(title, sizeof title, "alert %s", or_dash(str(a, "alertname")));
			lane_label(&c, lane, title, 0);
			double s = time_of(st, "starts_at"), e = time_of(st, "resolved_at");
			snprintf(title, sizeof title, "alert %s fired %s, resolved %s",
			         or_dash(str(a, "alertname")), or_dash(str(st, "starts_at")),
			         or_dash(str(st, "resolved_at")));
			bar(&c, lane, s, e > 0 ? e : c.t1, "#8ab4f8", 14, title, e <= 0);
			snprintf(title, sizeof title, "received by salve %s",
			         or_dash(str(st, "received_at")));
			mark(&c, lane, time_of(st, "received_at"), 0, "#1a73e8", title);
			lane++;
		}
	}
	json_array_foreach(runs, i, r)
	{
		int drill = json_is_true(json_object_get(r, "drill"));
		snprintf(title, sizeof title, "run %.8s %s%s", or_dash(str(r, "run")),
		         or_dash(str(r, "runbook")), drill ? " (drill)" : "");
		lane_label(&c, lane, title, 0);
		double s = time_of(r, "started_at"), e = time_of(r, "ended_at");
		snprintf(title, sizeof title, "run %s %s: %s, %s to %s", or_dash(str(r, "run")),
		         or_dash(str(r, "runbook")), or_dash(str(r, "outcome")),
		         time_only(str(r, "started_at"), b1, sizeof b1),
		         time_only(str(r, "ended_at"), b2, sizeof b2));
		bar(&c, lane, s, e > 0 ? e : c.t1,
		    drill ? "#bdc1c6" : outcome_colour(str(r, "outcome")), 16, title, e <= 0);
		json_array_foreach(json_object_get(r, "approvals"), j, st)
		{
			snprintf(title, sizeof title, "approval of %s requested %s",
			         or_dash(str(st, "step")), or_dash(str(st, "requested_at")));
			mark(&c, lane, time_of(st, "requested_at"), 1, "#fbbc04", title);
			snprintf(title, sizeof title, "approval of %s: %s by %s at %s",
			         or_dash(str(st, "step")), or_dash(str(st, "outcome")),
			         or_dash(str(st, "by")), or_dash(str(st, "decided_at")));
			mark(&c, lane, time_of(st, "decided_at"), 1,
			     outcome_colour(str(st, "outcome")), title);
		}
		json_array_foreach(json_object_get(r, "notifications"), j, st)
		{
			json_t *to = json_object_get(st, "to");
			snprintf(title, sizeof title, "notification (%s) to %s: %s",
			         or_dash(str(st, "via")),
			         json_is_string(to) ? json_string_value(to)
			                            : "the configured targets",
			         or_dash(str(st, "outcome")));
			mark(&c, lane, time_of(st, "at"), 0, "#a142f4", title);
		}
		lane++;
		if (!with_steps)
			continue;
		json_array_foreach(json_object_get(r, "steps"), j, st)
		{
			lane_label(&c, lane, str(st, "name"), 14);
			double ss = time_of(st, "started_at"), se = time_of(st, "ended_at");
			snprintf(title, sizeof title, "step %s: %s%s%s", or_dash(str(st, "name")),
			         or_dash(str(st, "outcome")),
			         str(st, "rollback") ? ", rollback " : "",
			         str(st, "rollback") ? str(st, "rollback") : "");
			bar(&c, lane, ss > 0 ? ss : se, se > 0 ? se : c.t1,
			    outcome_colour(str(st, "outcome")), 10, title, se <= 0);
			lane++;
		}
	}
	fputs("</svg>\n<p class=\"legend\"><span>■ bar: alert life, run, step (green success, "
	      "orange rolled back, red failed, grey drill or unfinished; dashed: still open)"
	      "</span><span>◆ approval</span><span>● notification (blue: alert "
	      "received)</span></p>\n",
	      f);
}

static void h_figures(FILE *f, const json_t *fig)
{
	char b[64];
	const char *rows[][2] = {
	    {"time_to_detect_s", "Time to detect (received − alert start)"},
	    {"time_to_start_s", "Time to start (run start − received)"},
	    {"time_to_remediate_s",
	     "Time to remediate (first change, or end − alert start; run start without an alert)"},
	    {"time_to_resolve_s", "Time to resolve (resolved − alert start)"}};
	fputs("<table><tr><th>Figure</th><th>Value</th></tr>\n", f);
	for (size_t i = 0; i < 4; i++) {
		fputs("<tr>", f);
		h_cell(f, rows[i][1]);
		fprintf(f, "<td class=\"num\">%s</td></tr>\n",
		        human_duration(json_object_get(fig, rows[i][0]), b, sizeof b));
	}
	fprintf(f,
	        "<tr><td>Steps changed / failed / rolled back</td><td class=\"num\">%lld / %lld / "
	        "%lld</td></tr></table>\n",
	        (long long)json_integer_value(json_object_get(fig, "steps_changed")),
	        (long long)json_integer_value(json_object_get(fig, "steps_failed")),
	        (long long)json_integer_value(json_object_get(fig, "steps_rolled_back")));
}

static void h_incident(FILE *f, const json_t *doc)
{
	char b[1200], b2[64];
	const json_t *s = json_object_get(doc, "summary");
	size_t i, j;
	json_t *v, *r;
	fputs("<h2>Summary</h2>\n<ul><li>What fired: ", f);
	json_t *names = json_object_get(s, "alerts");
	if (!json_array_size(names))
		fputs("no alert (runs started by hand or by a schedule)", f);
	json_array_foreach(names, i, v)
	{
		if (i)
			fputs(", ", f);
		html(f, json_string_value(v));
	}
	if (str(s, "alert_summary")) {
		fputs(": ", f);
		html(f, str(s, "alert_summary"));
	}
	fputs("</li><li>Severity: ", f);
	html(f, str(s, "severity"));
	fputs("</li><li>Impact window: ", f);
	html(f, str(s, "impact_start"));
	fputs(" to ", f);
	html(f, str(s, "impact_end"));
	fprintf(f, "</li><li>Runs: %lld production, %lld drill(s) (reported apart)</li></ul>\n",
	        (long long)json_integer_value(json_object_get(s, "production_runs")),
	        (long long)json_integer_value(json_object_get(s, "drill_runs")));
	fputs("<h2>Timeline chart</h2>\n", f);
	h_chart(f, doc);
	fputs("<h2>Key figures (production runs)</h2>\n", f);
	h_figures(f, json_object_get(doc, "figures"));
	fputs("<h2>Timeline</h2>\n<table><tr><th>Time (UTC)</th><th>Elapsed</th><th>Event</th>"
	      "<th>Run</th><th>Step</th><th>Outcome</th><th>Who</th><th>Detail</th></tr>\n",
	      f);
	json_array_foreach(json_object_get(doc, "timeline"), i, v)
	{
		int drill = json_is_true(json_object_get(v, "drill"));
		fputs(drill ? "<tr class=\"drill\">" : "<tr>", f);
		h_time_cell(f, str(v, "at"));
		fprintf(f, "<td class=\"num\">+%s</td>",
		        human_duration(json_object_get(v, "elapsed_s"), b2, sizeof b2));
		snprintf(b, sizeof b, "%s%s", or_dash(str(v, "event")), drill ? " (drill)" : "");
		h_cell(f, b);
		h_cell(f, short_id(str(v, "run"), b2, sizeof b2));
		h_cell(f, str(v, "step"));
		h_cell(f, str(v, "outcome"));
		h_cell(f, str(v, "who"));
		h_cell(f, str(v, "detail"));
		fputs("</tr>\n", f);
	}
	fputs("</table>\n<h2>Runs</h2>\n", f);
	json_array_foreach(json_object_get(doc, "runs"), i, r)
	{
		fputs("<h3>Run ", f);
		html(f, str(r, "run"));
		fputs(": ", f);
		html(f, str(r, "runbook"));
		fputs(" (", f);
		html(f, str(r, "outcome"));
		if (json_is_true(json_object_get(r, "drill"))) {
			fputs(", DRILL: ", f);
			html(f, str(r, "drill_kind"));
		}
		fputs(")</h3>\n<p>Trigger ", f);
		html(f, str(r, "trigger"));
		fputs(", mode ", f);
		html(f, str(r, "mode"));
		fputs(", started ", f);
		html(f, str(r, "started_at"));
		fputs(", ended ", f);
		html(f, str(r, "ended_at"));
		fprintf(f, " (%s).</p>\n",
		        human_duration(json_object_get(r, "duration_s"), b2, sizeof b2));
		fputs("<table><tr><th>Step</th><th>Started</th><th>Duration</th><th>Outcome</th>"
		      "<th>Rollback</th><th>Error or note</th></tr>\n",
		      f);
		json_array_foreach(json_object_get(r, "steps"), j, v)
		{
			fputs("<tr>", f);
			h_cell(f, str(v, "name"));
			h_time_cell(f, str(v, "started_at"));
			fprintf(f, "<td class=\"num\">%s</td>",
			        ms_duration(json_object_get(v, "duration_ms"), b2, sizeof b2));
			h_cell(f, str(v, "outcome"));
			h_cell(f, str(v, "rollback"));
			h_cell(f, str(v, "error") ? str(v, "error") : str(v, "note"));
			fputs("</tr>\n", f);
		}
		fputs("</table>\n", f);
		json_t *aps = json_object_get(r, "approvals");
		if (json_array_size(aps)) {
			fputs("<table><tr><th>Approval of "
			      "step</th><th>Requested</th><th>Decision</th>"
			      "<th>At</th><th>By</th><th>Reason</th></tr>\n",
			      f);
			json_array_foreach(aps, j, v)
			{
				fputs("<tr>", f);
				h_cell(f, str(v, "step"));
				h_time_cell(f, str(v, "requested_at"));
				h_cell(f, str(v, "outcome"));
				h_time_cell(f, str(v, "decided_at"));
				h_cell(f, str(v, "by"));
				h_cell(f, str(v, "reason"));
				fputs("</tr>\n", f);
			}
			fputs("</table>\n", f);
		}
		json_t *ns = json_object_get(r, "notifications");
		if (json_array_size(ns)) {
			fputs(
			    "<table><tr><th>Notification</th><th>At</th><th>To</th><th>Outcome</th>"
			    "</tr>\n",
			    f);
			json_array_foreach(ns, j, v)
			{
				fputs("<tr>", f);
				snprintf(b, sizeof b, "%s %s", or_dash(str(v, "via")),
				         str(v, "on") ? str(v, "on") : or_dash(str(v, "step")));
				h_cell(f, b);
				h_time_cell(f, str(v, "at"));
				json_t *to = json_object_get(v, "to");
				char *tos = json_is_string(to)
				                ? strdup(json_string_value(to))
				                : json_dumps(to, JSON_COMPACT | JSON_ENCODE_ANY);
				h_cell(f, tos);
				free(tos);
				h_cell(f, str(v, "outcome"));
				fputs("</tr>\n", f);
			}
			fputs("</table>\n", f);
		}
	}
	fputs("<h2>What was changed</h2>\n", f);
	int any = 0;
	json_array_foreach(json_object_get(doc, "runs"), i, r)
	{
		if (json_is_true(json_object_get(r, "drill")))
			continue;
		json_array_foreach(json_object_get(r, "changes"), j, v)
		{
			if (!any++)
				fputs(
				    "<table><tr><th>Run</th><th>Step</th><th>Change</th><th>At</th>"
				    "<th>Still in place?</th></tr>\n",
				    f);
			fputs("<tr>", f);
			h_cell(f, short_id(str(r, "run"), b2, sizeof b2));
			h_cell(f, str(v, "step"));
			snprintf(b, sizeof b, "%s.%s %s", or_dash(str(v, "plugin")),
			         or_dash(str(v, "action")),
			         str(v, "target") ? str(v, "target") : "");
			h_cell(f, b);
			h_time_cell(f, str(v, "at"));
			h_cell(f, change_state(v, b, sizeof b));
			fputs("</tr>\n", f);
		}
	}
	fputs(any ? "</table>\n" : "<p>Nothing was changed by a production run.</p>\n", f);
	fputs("<h2>Follow-up items</h2>\n<ul>\n", f);
	json_t *fu = json_object_get(doc, "follow_ups");
	if (!json_array_size(fu))
		fputs("<li>None seeded from the log.</li>\n", f);
	json_array_foreach(fu, i, v)
	{
		fputs("<li>☐ ", f);
		html(f, str(v, "text"));
		fputs(" (run ", f);
		html(f, short_id(str(v, "run"), b2, sizeof b2));
		fputs(", ", f);
		html(f, str(v, "runbook"));
		fputs(")</li>\n", f);
	}
	fputs("</ul>\n<h2>Drills (not in the figures above)</h2>\n", f);
	json_t *dr = json_object_get(doc, "drills");
	if (!json_array_size(dr))
		fputs("<p>No drill runs in this selection.</p>\n", f);
	else
		fputs("<table><tr><th>Run</th><th>Runbook</th><th>Kind</th><th>Started</th>"
		      "<th>Outcome</th><th>Rollback rehearsal</th></tr>\n",
		      f);
	json_array_foreach(dr, i, v)
	{
		fputs("<tr class=\"drill\">", f);
		h_cell(f, short_id(str(v, "run"), b2, sizeof b2));
		h_cell(f, str(v, "runbook"));
		snprintf(b, sizeof b, "%s%s%s", or_dash(str(v, "kind")),
		         str(v, "fail_at") ? " " : "", str(v, "fail_at") ? str(v, "fail_at") : "");
		h_cell(f, b);
		h_cell(f, str(v, "started_at"));
		h_cell(f, str(v, "outcome"));
		json_t *p = json_object_get(v, "rollback_passed");
		h_cell(f, json_is_null(p)   ? "not rehearsed"
		          : json_is_true(p) ? "passed"
		                            : "FAILED");
		fputs("</tr>\n", f);
	}
	if (json_array_size(dr))
		fputs("</table>\n", f);
	fputs("<h2>What went well</h2>\n<p><em>To be written by the review.</em></p>\n"
	      "<h2>What could be improved</h2>\n<p><em>To be written by the review.</em></p>\n",
	      f);
}

static void h_groups(FILE *f, const json_t *groups, const char *key, const char *heading)
{
	char b[64], b2[64];
	fprintf(f,
	        "<table><tr><th>%s</th><th>Runs</th><th>Success</th><th>Degraded</th><th>Rolled "
	        "back</th><th>Failed</th><th>Unfinished</th><th>TTR median</th><th>TTR p90</th>"
	        "<th>Most frequent failing steps</th></tr>\n",
	        heading);
	size_t i, j;
	json_t *g, *st;
	json_array_foreach(groups, i, g)
	{
		fputs("<tr>", f);
		h_cell(f, str(g, key));
		const char *keys[] = {"runs",        "success", "degraded",
		                      "rolled_back", "failed",  "unfinished"};
		for (size_t k = 0; k < 6; k++)
			fprintf(f, "<td class=\"num\">%lld</td>",
			        (long long)json_integer_value(json_object_get(g, keys[k])));
		fprintf(f, "<td class=\"num\">%s</td><td class=\"num\">%s</td><td>",
		        human_duration(json_object_get(g, "ttr_median_s"), b, sizeof b),
		        human_duration(json_object_get(g, "ttr_p90_s"), b2, sizeof b2));
		json_array_foreach(json_object_get(g, "failing_steps"), j, st)
		{
			if (j)
				fputs(", ", f);
			html(f, str(st, "step"));
			fprintf(f, " (%lld)",
			        (long long)json_integer_value(json_object_get(st, "count")));
		}
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
}

static void h_summary(FILE *f, const json_t *doc)
{
	const json_t *t = json_object_get(doc, "totals"), *q = json_object_get(doc, "query");
	fprintf(f,
	        "<h2>Totals</h2>\n<p>Production runs: %lld (success %lld, rolled back %lld, failed "
	        "%lld, unfinished %lld). Drill runs: %lld (apart).</p>\n",
	        (long long)json_integer_value(json_object_get(t, "runs")),
	        (long long)json_integer_value(json_object_get(t, "success")),
	        (long long)json_integer_value(json_object_get(t, "rolled_back")),
	        (long long)json_integer_value(json_object_get(t, "failed")),
	        (long long)json_integer_value(json_object_get(t, "unfinished")),
	        (long long)json_integer_value(json_object_get(t, "drill_runs")));
	fputs("<h2>Per runbook</h2>\n", f);
	h_groups(f, json_object_get(doc, "runbooks"), "runbook", "Runbook");
	fputs("<h2>Per alert name</h2>\n", f);
	h_groups(f, json_object_get(doc, "alert_names"), "alertname", "Alert");
	fprintf(f,
	        "<h2>Flapping alerts (remediated more than %lld times)</h2>\n<table><tr>"
	        "<th>Alert</th><th>Fingerprint</th><th>Remediations</th></tr>\n",
	        (long long)json_integer_value(json_object_get(q, "flapping")));
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(doc, "flapping"), i, v)
	{
		fputs("<tr>", f);
		h_cell(f, str(v, "alertname"));
		h_cell(f, str(v, "fingerprint"));
		fprintf(f, "<td class=\"num\">%lld</td></tr>\n",
		        (long long)json_integer_value(json_object_get(v, "remediations")));
	}
	fputs("</table>\n<h2>Drills</h2>\n<table><tr><th>Runbook</th><th>Drill runs</th>"
	      "<th>Dry-run</th><th>Fail-at</th><th>Drill-notify</th><th>Rollback passed</th>"
	      "<th>Rollback failed</th></tr>\n",
	      f);
	json_array_foreach(json_object_get(doc, "drills"), i, v)
	{
		fputs("<tr>", f);
		h_cell(f, str(v, "runbook"));
		const char *keys[] = {"runs",         "dry_run",         "fail_at",
		                      "drill_notify", "rollback_passed", "rollback_failed"};
		for (size_t k = 0; k < 6; k++)
			fprintf(f, "<td class=\"num\">%lld</td>",
			        (long long)json_integer_value(json_object_get(v, keys[k])));
		fputs("</tr>\n", f);
	}
	fputs("</table>\n", f);
}

int salve_report_write_html(FILE *f, const json_t *doc)
{
	char line[1400], title[1200];
	int intact = json_is_true(json_object_get(json_object_get(doc, "audit"), "intact"));
	verdict_line(doc, line, sizeof line);
	/* The verdict is the file's first line too, for whoever reads it as text. */
	fputs("<!DOCTYPE html><!-- ", f);
	char safe[1400];
	salve_escape_controls(line, safe, sizeof safe, 0);
	for (char *p = safe; *p; p++)
		if (*p == '-' && p[1] == '-')
			*p = '_'; /* "--" would end the comment */
	html(f, safe);
	fputs(" -->\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
	      f);
	int summary = streq(str(doc, "kind"), "summary");
	html(f, summary ? "salve summary" : title_of(doc, title, sizeof title));
	fprintf(f, "</title>\n<style>\n%s</style></head><body>\n", css);
	fprintf(f, "<p class=\"verdict %s\">", intact ? "ok" : "bad");
	html(f, line);
	fputs("</p>\n<h1>", f);
	if (summary) {
		const json_t *q = json_object_get(doc, "query");
		fputs("salve summary: ", f);
		html(f, str(q, "since") ? str(q, "since") : "the start of the log");
		fputs(" to ", f);
		html(f, str(q, "until") ? str(q, "until") : "now");
	} else {
		fputs("Post-incident review (draft): ", f);
		html(f, title_of(doc, title, sizeof title));
	}
	fputs("</h1>\n<p><em>Generated by salve report at ", f);
	html(f, str(doc, "generated_at"));
	fputs(" from ", f);
	html(f, str(json_object_get(doc, "audit"), "path"));
	fputs(".</em></p>\n", f);
	if (summary)
		h_summary(f, doc);
	else
		h_incident(f, doc);
	fputs("</body></html>\n", f);
	fflush(f);
	return ferror(f) ? -1 : 0;
}
