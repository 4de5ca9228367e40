/* The Markdown rendering of a report document (report.h). Every value from the document is
 * escaped with rtext_md (report_text.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "report_text.h"

/* ---- incident ---------------------------------------------------------------- */

static void md_figures(FILE *f, const json_t *fig)
{
	char b[64];
	fputs("| Figure | Value |\n|---|---|\n", f);
	fprintf(f, "| Time to detect (received − alert start) | %s |\n",
	        rtext_human_duration(json_object_get(fig, "time_to_detect_s"), b, sizeof b));
	fprintf(f, "| Time to start (run start − received) | %s |\n",
	        rtext_human_duration(json_object_get(fig, "time_to_start_s"), b, sizeof b));
	fprintf(f,
	        "| Time to remediate (first change, or end − alert start; run start without an "
	        "alert) | %s |\n",
	        rtext_human_duration(json_object_get(fig, "time_to_remediate_s"), b, sizeof b));
	fprintf(f, "| Time to resolve (resolved − alert start) | %s |\n",
	        rtext_human_duration(json_object_get(fig, "time_to_resolve_s"), b, sizeof b));
	fprintf(f, "| Steps changed / failed / rolled back | %lld / %lld / %lld |\n\n",
	        (long long)json_integer_value(json_object_get(fig, "steps_changed")),
	        (long long)json_integer_value(json_object_get(fig, "steps_failed")),
	        (long long)json_integer_value(json_object_get(fig, "steps_rolled_back")));
}

static void md_approvals(FILE *f, const json_t *aps)
{
	char b[64];
	size_t i;
	json_t *st;
	if (!json_array_size(aps))
		return;
	fputs("Approvals:\n\n", f);
	json_array_foreach(aps, i, st)
	{
		fputs("- Step ", f);
		rtext_md(f, rtext_str(st, "step"));
		fputs(": requested ", f);
		rtext_md(f, rtext_time_only(rtext_str(st, "requested_at"), b, sizeof b));
		fputs(", ", f);
		rtext_md(f, rtext_str(st, "outcome") ? rtext_str(st, "outcome")
		                                     : "no decision recorded");
		fputs(" at ", f);
		rtext_md(f, rtext_time_only(rtext_str(st, "decided_at"), b, sizeof b));
		fputs(" by ", f);
		rtext_md(f, rtext_str(st, "by"));
		if (rtext_str(st, "reason") && *rtext_str(st, "reason")) {
			fputs(" (", f);
			rtext_md(f, rtext_str(st, "reason"));
			fputs(")", f);
		}
		fputs("\n", f);
	}
	fputs("\n", f);
}

static void md_notifications(FILE *f, const json_t *ns)
{
	char b[64];
	size_t i;
	json_t *st;
	if (!json_array_size(ns))
		return;
	fputs("Notifications:\n\n", f);
	json_array_foreach(ns, i, st)
	{
		fputs("- ", f);
		rtext_md(f, rtext_time_only(rtext_str(st, "at"), b, sizeof b));
		fputs(" ", f);
		rtext_md(f, rtext_str(st, "via"));
		fputs(" ", f);
		rtext_md(f, rtext_str(st, "on") ? rtext_str(st, "on") : rtext_str(st, "step"));
		fputs(" to ", f);
		json_t *to = json_object_get(st, "to");
		char *tos = json_is_string(to) ? strdup(json_string_value(to))
		                               : json_dumps(to, JSON_COMPACT | JSON_ENCODE_ANY);
		rtext_md(f, tos);
		free(tos);
		fputs(": ", f);
		rtext_md(f, rtext_str(st, "outcome"));
		if (rtext_str(st, "error")) {
			fputs(" (", f);
			rtext_md(f, rtext_str(st, "error"));
			fputs(")", f);
		}
		fputs("\n", f);
	}
	fputs("\n", f);
}

static void md_run(FILE *f, const json_t *r)
{
	char b[64], b2[64];
	fputs("### Run ", f);
	rtext_md(f, rtext_str(r, "run"));
	fputs(": ", f);
	rtext_md(f, rtext_str(r, "runbook"));
	fputs(" (", f);
	rtext_md(f, rtext_str(r, "outcome"));
	if (json_is_true(json_object_get(r, "drill"))) {
		fputs(", DRILL: ", f);
		rtext_md(f, rtext_str(r, "drill_kind"));
	}
	fputs(")\n\n", f);
	fputs("- Trigger: ", f);
	rtext_md(f, rtext_str(r, "trigger"));
	fputs("; mode: ", f);
	rtext_md(f, rtext_str(r, "mode"));
	if (rtext_str(r, "fail_at")) {
		fputs("; --fail-at ", f);
		rtext_md(f, rtext_str(r, "fail_at"));
	}
	fputs("\n- Started ", f);
	rtext_md(f, rtext_str(r, "started_at"));
	fputs(", ended ", f);
	rtext_md(f, rtext_str(r, "ended_at"));
	fprintf(f, " (%s), exit code ",
	        rtext_human_duration(json_object_get(r, "duration_s"), b, sizeof b));
	if (json_is_integer(json_object_get(r, "exit_code")))
		fprintf(f, "%lld", (long long)json_integer_value(json_object_get(r, "exit_code")));
	else
		fputs("–", f);
	fputs("\n", f);
	if (rtext_str(r, "error")) {
		fputs("- Error: ", f);
		rtext_md(f, rtext_str(r, "error"));
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
		rtext_md(f, rtext_str(st, "name"));
		fputs(" | ", f);
		rtext_md(f, rtext_time_only(rtext_str(st, "started_at"), b2, sizeof b2));
		fprintf(f, " | %s | ",
		        rtext_ms_duration(json_object_get(st, "duration_ms"), b, sizeof b));
		rtext_md(f, rtext_str(st, "outcome"));
		fputs(" | ", f);
		rtext_md(f, rtext_str(st, "rollback"));
		fputs(" | ", f);
		rtext_md(f,
		         rtext_str(st, "error") ? rtext_str(st, "error") : rtext_str(st, "note"));
		fputs(" |\n", f);
	}
	fputs("\n", f);
	md_approvals(f, json_object_get(r, "approvals"));
	md_notifications(f, json_object_get(r, "notifications"));
}

/* Title, where it came from, and the summary list: what fired, severity, impact, runs. */
static void md_incident_summary(FILE *f, const json_t *doc)
{
	char b[1200], b2[64];
	const json_t *s = json_object_get(doc, "summary");
	fputs("# Post-incident review (draft): ", f);
	rtext_md(f, rtext_title_of(doc, b, sizeof b));
	fputs("\n\n_Generated by `salve report` at ", f);
	rtext_md(f, rtext_str(doc, "generated_at"));
	fputs(" from ", f);
	rtext_md(f, rtext_str(json_object_get(doc, "audit"), "path"));
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
		rtext_md(f, json_string_value(v));
	}
	if (rtext_str(s, "alert_summary")) {
		fputs(": ", f);
		rtext_md(f, rtext_str(s, "alert_summary"));
	}
	fputs("\n- Severity: ", f);
	rtext_md(f, rtext_str(s, "severity"));
	fputs("\n- Impact window: ", f);
	rtext_md(f, rtext_str(s, "impact_start"));
	fputs(" to ", f);
	rtext_md(f, rtext_str(s, "impact_end"));
	double t0 = rtext_time_of(s, "impact_start"), t1 = rtext_time_of(s, "impact_end");
	if (t0 > 0 && t1 >= t0) {
		json_t *d = json_real(t1 - t0);
		fprintf(f, " (%s)", rtext_human_duration(d, b2, sizeof b2));
		json_decref(d);
	}
	fprintf(f, "\n- Runs: %lld production, %lld drill(s) (reported apart)",
	        (long long)json_integer_value(json_object_get(s, "production_runs")),
	        (long long)json_integer_value(json_object_get(s, "drill_runs")));
	const char *k;
	json_object_foreach(json_object_get(s, "outcomes"), k, v)
	{
		fputs("; ", f);
		rtext_md(f, k);
		fprintf(f, ": %lld", (long long)json_integer_value(v));
	}
	if (json_integer_value(json_object_get(doc, "runs_left_out")))
		fprintf(f, "\n- %lld more matching run(s) left out: narrow the query",
		        (long long)json_integer_value(json_object_get(doc, "runs_left_out")));
}

static void md_timeline(FILE *f, const json_t *doc)
{
	char b[1200], b2[64];
	size_t i;
	json_t *v;
	fputs("## Timeline\n\n| Time (UTC) | Elapsed | Event | Run | Step | Outcome | Who | Detail "
	      "|\n|---|---|---|---|---|---|---|---|\n",
	      f);
	json_array_foreach(json_object_get(doc, "timeline"), i, v)
	{
		fputs("| ", f);
		rtext_md(f, rtext_time_only(rtext_str(v, "at"), b, sizeof b));
		fprintf(f, " | +%s | ",
		        rtext_human_duration(json_object_get(v, "elapsed_s"), b2, sizeof b2));
		rtext_md(f, rtext_str(v, "event"));
		if (json_is_true(json_object_get(v, "drill")))
			fputs(" (drill)", f);
		fputs(" | ", f);
		rtext_md(f, rtext_short_id(rtext_str(v, "run"), b, sizeof b));
		fputs(" | ", f);
		rtext_md(f, rtext_str(v, "step"));
		fputs(" | ", f);
		rtext_md(f, rtext_str(v, "outcome"));
		fputs(" | ", f);
		rtext_md(f, rtext_str(v, "who"));
		fputs(" | ", f);
		rtext_md(f, rtext_str(v, "detail"));
		fputs(" |\n", f);
	}
}

/* The changes production runs made, and whether each is still in place. */
static void md_changes(FILE *f, const json_t *doc)
{
	char b[1200], b2[64];
	size_t i;
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
			rtext_md(f, rtext_short_id(rtext_str(r, "run"), b2, sizeof b2));
			fputs(" | ", f);
			rtext_md(f, rtext_str(c, "step"));
			fputs(" | ", f);
			snprintf(b, sizeof b, "%s.%s %s", rtext_or_dash(rtext_str(c, "plugin")),
			         rtext_or_dash(rtext_str(c, "action")),
			         rtext_str(c, "target") ? rtext_str(c, "target") : "");
			rtext_md(f, b);
			fputs(" | ", f);
			rtext_md(f, rtext_time_only(rtext_str(c, "at"), b2, sizeof b2));
			fputs(" | ", f);
			rtext_md(f, rtext_change_state(c, b, sizeof b));
			fputs(" |\n", f);
		}
	}
	fputs(any ? "\n" : "Nothing was changed by a production run.\n\n", f);
}

static void md_follow_ups(FILE *f, const json_t *doc)
{
	char b2[64];
	size_t i;
	json_t *v;
	fputs("## Follow-up items\n\n", f);
	json_t *fu = json_object_get(doc, "follow_ups");
	if (!json_array_size(fu))
		fputs("None seeded from the log (no failed step, rollback or refused approval).\n",
		      f);
	json_array_foreach(fu, i, v)
	{
		fputs("- [ ] ", f);
		rtext_md(f, rtext_str(v, "text"));
		fputs(" (run ", f);
		rtext_md(f, rtext_short_id(rtext_str(v, "run"), b2, sizeof b2));
		fputs(", ", f);
		rtext_md(f, rtext_str(v, "runbook"));
		fputs(")\n", f);
	}
}

static void md_drills(FILE *f, const json_t *doc)
{
	char b2[64];
	size_t i;
	json_t *v;
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
		rtext_md(f, rtext_short_id(rtext_str(v, "run"), b2, sizeof b2));
		fputs(" | ", f);
		rtext_md(f, rtext_str(v, "runbook"));
		fputs(" | ", f);
		rtext_md(f, rtext_str(v, "kind"));
		if (rtext_str(v, "fail_at")) {
			fputs(" ", f);
			rtext_md(f, rtext_str(v, "fail_at"));
		}
		fputs(" | ", f);
		rtext_md(f, rtext_str(v, "started_at"));
		fputs(" | ", f);
		rtext_md(f, rtext_str(v, "outcome"));
		json_t *p = json_object_get(v, "rollback_passed");
		fprintf(f, " | %s |\n",
		        json_is_null(p)   ? "not rehearsed"
		        : json_is_true(p) ? "passed"
		                          : "FAILED");
	}
}

static void md_incident(FILE *f, const json_t *doc)
{
	md_incident_summary(f, doc);
	fputs("\n\n## Key figures (production runs)\n\n", f);
	md_figures(f, json_object_get(doc, "figures"));
	md_timeline(f, doc);
	fputs("\n## Runs\n\n", f);
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(doc, "runs"), i, r) md_run(f, r);
	md_changes(f, doc);
	md_follow_ups(f, doc);
	md_drills(f, doc);
	fputs("\n## What went well\n\n_To be written by the review._\n\n"
	      "## What could be improved\n\n_To be written by the review._\n",
	      f);
}

/* ---- summary ----------------------------------------------------------------- */

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
		rtext_md(f, rtext_str(g, key));
		fprintf(f, " | %lld | %lld | %lld | %lld | %lld | %lld | %s | %s | ",
		        (long long)json_integer_value(json_object_get(g, "runs")),
		        (long long)json_integer_value(json_object_get(g, "success")),
		        (long long)json_integer_value(json_object_get(g, "degraded")),
		        (long long)json_integer_value(json_object_get(g, "rolled_back")),
		        (long long)json_integer_value(json_object_get(g, "failed")),
		        (long long)json_integer_value(json_object_get(g, "unfinished")),
		        rtext_human_duration(json_object_get(g, "ttr_median_s"), b, sizeof b),
		        rtext_human_duration(json_object_get(g, "ttr_p90_s"), b2, sizeof b2));
		size_t j;
		json_t *st;
		json_array_foreach(json_object_get(g, "failing_steps"), j, st)
		{
			if (j)
				fputs(", ", f);
			rtext_md(f, rtext_str(st, "step"));
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
	rtext_md(f, rtext_str(q, "since") ? rtext_str(q, "since") : "the start of the log");
	fputs(" to ", f);
	rtext_md(f, rtext_str(q, "until") ? rtext_str(q, "until") : "now");
	fputs("\n\n_Generated by `salve report --summary` at ", f);
	rtext_md(f, rtext_str(doc, "generated_at"));
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
		rtext_md(f, rtext_str(v, "alertname"));
		fputs(" | ", f);
		rtext_md(f, rtext_str(v, "fingerprint"));
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
		rtext_md(f, rtext_str(v, "runbook"));
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
	rtext_md(f, rtext_verdict_line(doc, line, sizeof line));
	fputs("**\n\n", f);
	if (rtext_streq(rtext_str(doc, "kind"), "summary"))
		md_summary(f, doc);
	else
		md_incident(f, doc);
	fflush(f);
	return ferror(f) ? -1 : 0;
}
