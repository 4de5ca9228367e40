/* The HTML rendering of a report document (report.h): one self-contained file with an SVG
 * timeline chart. Every value from the document is escaped with rtext_html (report_text.h),
 * and the page runs no script and loads nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditscan.h"
#include "report.h"
#include "report_text.h"
#include "util.h"

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
	rtext_html(f, rtext_time_only(rfc, b, sizeof b));
	fputs("</td>", f);
}

static void h_cell(FILE *f, const char *s)
{
	fputs("<td>", f);
	rtext_html(f, s);
	fputs("</td>", f);
}

static const char *outcome_colour(const char *o)
{
	if (rtext_streq(o, "success") || rtext_streq(o, "changed") || rtext_streq(o, "ok") ||
	    rtext_streq(o, "approved"))
		return "#34a853";
	if (rtext_streq(o, "degraded") || rtext_streq(o, "skipped"))
		return "#f9ab00";
	if (rtext_streq(o, "rolled_back"))
		return "#e37400";
	if (rtext_streq(o, "running") || rtext_streq(o, "unfinished"))
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
	rtext_html(c->f, label);
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
	rtext_html(c->f, title);
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
	rtext_html(c->f, title);
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
		double t = rtext_time_of(e, "at");
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
			double s = rtext_time_of(cyc, "starts_at");
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
		rtext_html(f, rtext_time_only(ts, b, sizeof b));
		fputs("</text>\n", f);
	}
	int lane = 0;
	char title[1200], b1[40], b2[40];
	json_array_foreach(alerts, i, a)
	{
		json_array_foreach(json_object_get(a, "cycles"), j, st)
		{
			snprintf(title, sizeof title, "alert %s",
			         rtext_or_dash(rtext_str(a, "alertname")));
			lane_label(&c, lane, title, 0);
			double s = rtext_time_of(st, "starts_at"),
			       e = rtext_time_of(st, "resolved_at");
			snprintf(title, sizeof title, "alert %s fired %s, resolved %s",
			         rtext_or_dash(rtext_str(a, "alertname")),
			         rtext_or_dash(rtext_str(st, "starts_at")),
			         rtext_or_dash(rtext_str(st, "resolved_at")));
			bar(&c, lane, s, e > 0 ? e : c.t1, "#8ab4f8", 14, title, e <= 0);
			snprintf(title, sizeof title, "received by salve %s",
			         rtext_or_dash(rtext_str(st, "received_at")));
			mark(&c, lane, rtext_time_of(st, "received_at"), 0, "#1a73e8", title);
			lane++;
		}
	}
	json_array_foreach(runs, i, r)
	{
		int drill = json_is_true(json_object_get(r, "drill"));
		snprintf(title, sizeof title, "run %.8s %s%s", rtext_or_dash(rtext_str(r, "run")),
		         rtext_or_dash(rtext_str(r, "runbook")), drill ? " (drill)" : "");
		lane_label(&c, lane, title, 0);
		double s = rtext_time_of(r, "started_at"), e = rtext_time_of(r, "ended_at");
		snprintf(title, sizeof title, "run %s %s: %s, %s to %s",
		         rtext_or_dash(rtext_str(r, "run")), rtext_or_dash(rtext_str(r, "runbook")),
		         rtext_or_dash(rtext_str(r, "outcome")),
		         rtext_time_only(rtext_str(r, "started_at"), b1, sizeof b1),
		         rtext_time_only(rtext_str(r, "ended_at"), b2, sizeof b2));
		bar(&c, lane, s, e > 0 ? e : c.t1,
		    drill ? "#bdc1c6" : outcome_colour(rtext_str(r, "outcome")), 16, title, e <= 0);
		json_array_foreach(json_object_get(r, "approvals"), j, st)
		{
			snprintf(title, sizeof title, "approval of %s requested %s",
			         rtext_or_dash(rtext_str(st, "step")),
			         rtext_or_dash(rtext_str(st, "requested_at")));
			mark(&c, lane, rtext_time_of(st, "requested_at"), 1, "#fbbc04", title);
			snprintf(title, sizeof title, "approval of %s: %s by %s at %s",
			         rtext_or_dash(rtext_str(st, "step")),
			         rtext_or_dash(rtext_str(st, "outcome")),
			         rtext_or_dash(rtext_str(st, "by")),
			         rtext_or_dash(rtext_str(st, "decided_at")));
			mark(&c, lane, rtext_time_of(st, "decided_at"), 1,
			     outcome_colour(rtext_str(st, "outcome")), title);
		}
		json_array_foreach(json_object_get(r, "notifications"), j, st)
		{
			json_t *to = json_object_get(st, "to");
			snprintf(title, sizeof title, "notification (%s) to %s: %s",
			         rtext_or_dash(rtext_str(st, "via")),
			         json_is_string(to) ? json_string_value(to)
			                            : "the configured targets",
			         rtext_or_dash(rtext_str(st, "outcome")));
			mark(&c, lane, rtext_time_of(st, "at"), 0, "#a142f4", title);
		}
		lane++;
		if (!with_steps)
			continue;
		json_array_foreach(json_object_get(r, "steps"), j, st)
		{
			lane_label(&c, lane, rtext_str(st, "name"), 14);
			double ss = rtext_time_of(st, "started_at"),
			       se = rtext_time_of(st, "ended_at");
			snprintf(title, sizeof title, "step %s: %s%s%s",
			         rtext_or_dash(rtext_str(st, "name")),
			         rtext_or_dash(rtext_str(st, "outcome")),
			         rtext_str(st, "rollback") ? ", rollback " : "",
			         rtext_str(st, "rollback") ? rtext_str(st, "rollback") : "");
			bar(&c, lane, ss > 0 ? ss : se, se > 0 ? se : c.t1,
			    outcome_colour(rtext_str(st, "outcome")), 10, title, se <= 0);
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
		        rtext_human_duration(json_object_get(fig, rows[i][0]), b, sizeof b));
	}
	fprintf(f,
	        "<tr><td>Steps changed / failed / rolled back</td><td class=\"num\">%lld / %lld / "
	        "%lld</td></tr></table>\n",
	        (long long)json_integer_value(json_object_get(fig, "steps_changed")),
	        (long long)json_integer_value(json_object_get(fig, "steps_failed")),
	        (long long)json_integer_value(json_object_get(fig, "steps_rolled_back")));
}

/* The summary list: what fired, severity, impact window, runs. */
static void h_incident_summary(FILE *f, const json_t *doc)
{
	const json_t *s = json_object_get(doc, "summary");
	size_t i;
	json_t *v;
	fputs("<h2>Summary</h2>\n<ul><li>What fired: ", f);
	json_t *names = json_object_get(s, "alerts");
	if (!json_array_size(names))
		fputs("no alert (runs started by hand or by a schedule)", f);
	json_array_foreach(names, i, v)
	{
		if (i)
			fputs(", ", f);
		rtext_html(f, json_string_value(v));
	}
	if (rtext_str(s, "alert_summary")) {
		fputs(": ", f);
		rtext_html(f, rtext_str(s, "alert_summary"));
	}
	fputs("</li><li>Severity: ", f);
	rtext_html(f, rtext_str(s, "severity"));
	fputs("</li><li>Impact window: ", f);
	rtext_html(f, rtext_str(s, "impact_start"));
	fputs(" to ", f);
	rtext_html(f, rtext_str(s, "impact_end"));
	fprintf(f, "</li><li>Runs: %lld production, %lld drill(s) (reported apart)</li></ul>\n",
	        (long long)json_integer_value(json_object_get(s, "production_runs")),
	        (long long)json_integer_value(json_object_get(s, "drill_runs")));
}

static void h_timeline(FILE *f, const json_t *doc)
{
	char b[1200], b2[64];
	size_t i;
	json_t *v;
	fputs("<h2>Timeline</h2>\n<table><tr><th>Time (UTC)</th><th>Elapsed</th><th>Event</th>"
	      "<th>Run</th><th>Step</th><th>Outcome</th><th>Who</th><th>Detail</th></tr>\n",
	      f);
	json_array_foreach(json_object_get(doc, "timeline"), i, v)
	{
		int drill = json_is_true(json_object_get(v, "drill"));
		fputs(drill ? "<tr class=\"drill\">" : "<tr>", f);
		h_time_cell(f, rtext_str(v, "at"));
		fprintf(f, "<td class=\"num\">+%s</td>",
		        rtext_human_duration(json_object_get(v, "elapsed_s"), b2, sizeof b2));
		snprintf(b, sizeof b, "%s%s", rtext_or_dash(rtext_str(v, "event")),
		         drill ? " (drill)" : "");
		h_cell(f, b);
		h_cell(f, rtext_short_id(rtext_str(v, "run"), b2, sizeof b2));
		h_cell(f, rtext_str(v, "step"));
		h_cell(f, rtext_str(v, "outcome"));
		h_cell(f, rtext_str(v, "who"));
		h_cell(f, rtext_str(v, "detail"));
		fputs("</tr>\n", f);
	}
	fputs("</table>\n", f);
}

/* One run: its heading and line, its steps, approvals and notifications. */
static void h_run(FILE *f, const json_t *r)
{
	char b[1200], b2[64];
	size_t j;
	json_t *v;
	fputs("<h3>Run ", f);
	rtext_html(f, rtext_str(r, "run"));
	fputs(": ", f);
	rtext_html(f, rtext_str(r, "runbook"));
	fputs(" (", f);
	rtext_html(f, rtext_str(r, "outcome"));
	if (json_is_true(json_object_get(r, "drill"))) {
		fputs(", DRILL: ", f);
		rtext_html(f, rtext_str(r, "drill_kind"));
	}
	fputs(")</h3>\n<p>Trigger ", f);
	rtext_html(f, rtext_str(r, "trigger"));
	fputs(", mode ", f);
	rtext_html(f, rtext_str(r, "mode"));
	fputs(", started ", f);
	rtext_html(f, rtext_str(r, "started_at"));
	fputs(", ended ", f);
	rtext_html(f, rtext_str(r, "ended_at"));
	fprintf(f, " (%s).</p>\n",
	        rtext_human_duration(json_object_get(r, "duration_s"), b2, sizeof b2));
	fputs("<table><tr><th>Step</th><th>Started</th><th>Duration</th><th>Outcome</th>"
	      "<th>Rollback</th><th>Error or note</th></tr>\n",
	      f);
	json_array_foreach(json_object_get(r, "steps"), j, v)
	{
		fputs("<tr>", f);
		h_cell(f, rtext_str(v, "name"));
		h_time_cell(f, rtext_str(v, "started_at"));
		fprintf(f, "<td class=\"num\">%s</td>",
		        rtext_ms_duration(json_object_get(v, "duration_ms"), b2, sizeof b2));
		h_cell(f, rtext_str(v, "outcome"));
		h_cell(f, rtext_str(v, "rollback"));
		h_cell(f, rtext_str(v, "error") ? rtext_str(v, "error") : rtext_str(v, "note"));
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
			h_cell(f, rtext_str(v, "step"));
			h_time_cell(f, rtext_str(v, "requested_at"));
			h_cell(f, rtext_str(v, "outcome"));
			h_time_cell(f, rtext_str(v, "decided_at"));
			h_cell(f, rtext_str(v, "by"));
			h_cell(f, rtext_str(v, "reason"));
			fputs("</tr>\n", f);
		}
		fputs("</table>\n", f);
	}
	json_t *ns = json_object_get(r, "notifications");
	if (json_array_size(ns)) {
		fputs("<table><tr><th>Notification</th><th>At</th><th>To</th><th>Outcome</th>"
		      "</tr>\n",
		      f);
		json_array_foreach(ns, j, v)
		{
			fputs("<tr>", f);
			snprintf(b, sizeof b, "%s %s", rtext_or_dash(rtext_str(v, "via")),
			         rtext_str(v, "on") ? rtext_str(v, "on")
			                            : rtext_or_dash(rtext_str(v, "step")));
			h_cell(f, b);
			h_time_cell(f, rtext_str(v, "at"));
			json_t *to = json_object_get(v, "to");
			char *tos = json_is_string(to)
			                ? strdup(json_string_value(to))
			                : json_dumps(to, JSON_COMPACT | JSON_ENCODE_ANY);
			h_cell(f, tos);
			free(tos);
			h_cell(f, rtext_str(v, "outcome"));
			fputs("</tr>\n", f);
		}
		fputs("</table>\n", f);
	}
}

/* The changes production runs made, and whether each is still in place. */
static void h_changes(FILE *f, const json_t *doc)
{
	char b[1200], b2[64];
	size_t i, j;
	json_t *v, *r;
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
			h_cell(f, rtext_short_id(rtext_str(r, "run"), b2, sizeof b2));
			h_cell(f, rtext_str(v, "step"));
			snprintf(b, sizeof b, "%s.%s %s", rtext_or_dash(rtext_str(v, "plugin")),
			         rtext_or_dash(rtext_str(v, "action")),
			         rtext_str(v, "target") ? rtext_str(v, "target") : "");
			h_cell(f, b);
			h_time_cell(f, rtext_str(v, "at"));
			h_cell(f, rtext_change_state(v, b, sizeof b));
			fputs("</tr>\n", f);
		}
	}
	fputs(any ? "</table>\n" : "<p>Nothing was changed by a production run.</p>\n", f);
}

static void h_follow_ups(FILE *f, const json_t *doc)
{
	char b2[64];
	size_t i;
	json_t *v;
	fputs("<h2>Follow-up items</h2>\n<ul>\n", f);
	json_t *fu = json_object_get(doc, "follow_ups");
	if (!json_array_size(fu))
		fputs("<li>None seeded from the log.</li>\n", f);
	json_array_foreach(fu, i, v)
	{
		fputs("<li>☐ ", f);
		rtext_html(f, rtext_str(v, "text"));
		fputs(" (run ", f);
		rtext_html(f, rtext_short_id(rtext_str(v, "run"), b2, sizeof b2));
		fputs(", ", f);
		rtext_html(f, rtext_str(v, "runbook"));
		fputs(")</li>\n", f);
	}
	fputs("</ul>\n", f);
}

static void h_drills(FILE *f, const json_t *doc)
{
	char b[1200], b2[64];
	size_t i;
	json_t *v;
	fputs("<h2>Drills (not in the figures above)</h2>\n", f);
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
		h_cell(f, rtext_short_id(rtext_str(v, "run"), b2, sizeof b2));
		h_cell(f, rtext_str(v, "runbook"));
		snprintf(b, sizeof b, "%s%s%s", rtext_or_dash(rtext_str(v, "kind")),
		         rtext_str(v, "fail_at") ? " " : "",
		         rtext_str(v, "fail_at") ? rtext_str(v, "fail_at") : "");
		h_cell(f, b);
		h_cell(f, rtext_str(v, "started_at"));
		h_cell(f, rtext_str(v, "outcome"));
		json_t *p = json_object_get(v, "rollback_passed");
		h_cell(f, json_is_null(p)   ? "not rehearsed"
		          : json_is_true(p) ? "passed"
		                            : "FAILED");
		fputs("</tr>\n", f);
	}
	if (json_array_size(dr))
		fputs("</table>\n", f);
}

static void h_incident(FILE *f, const json_t *doc)
{
	h_incident_summary(f, doc);
	fputs("<h2>Timeline chart</h2>\n", f);
	h_chart(f, doc);
	fputs("<h2>Key figures (production runs)</h2>\n", f);
	h_figures(f, json_object_get(doc, "figures"));
	h_timeline(f, doc);
	fputs("<h2>Runs</h2>\n", f);
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(doc, "runs"), i, r) h_run(f, r);
	h_changes(f, doc);
	h_follow_ups(f, doc);
	h_drills(f, doc);
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
		h_cell(f, rtext_str(g, key));
		const char *keys[] = {"runs",        "success", "degraded",
		                      "rolled_back", "failed",  "unfinished"};
		for (size_t k = 0; k < 6; k++)
			fprintf(f, "<td class=\"num\">%lld</td>",
			        (long long)json_integer_value(json_object_get(g, keys[k])));
		fprintf(f, "<td class=\"num\">%s</td><td class=\"num\">%s</td><td>",
		        rtext_human_duration(json_object_get(g, "ttr_median_s"), b, sizeof b),
		        rtext_human_duration(json_object_get(g, "ttr_p90_s"), b2, sizeof b2));
		json_array_foreach(json_object_get(g, "failing_steps"), j, st)
		{
			if (j)
				fputs(", ", f);
			rtext_html(f, rtext_str(st, "step"));
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
		h_cell(f, rtext_str(v, "alertname"));
		h_cell(f, rtext_str(v, "fingerprint"));
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
		h_cell(f, rtext_str(v, "runbook"));
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
	rtext_verdict_line(doc, line, sizeof line);
	/* The verdict is the file's first line too, for whoever reads it as text. */
	fputs("<!DOCTYPE html><!-- ", f);
	char safe[1400];
	salve_escape_controls(line, safe, sizeof safe, 0);
	for (char *p = safe; *p; p++)
		if (*p == '-' && p[1] == '-')
			*p = '_'; /* "--" would end the comment */
	rtext_html(f, safe);
	fputs(" -->\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
	      f);
	int summary = rtext_streq(rtext_str(doc, "kind"), "summary");
	rtext_html(f, summary ? "salve summary" : rtext_title_of(doc, title, sizeof title));
	fprintf(f, "</title>\n<style>\n%s</style></head><body>\n", css);
	fprintf(f, "<p class=\"verdict %s\">", intact ? "ok" : "bad");
	rtext_html(f, line);
	fputs("</p>\n<h1>", f);
	if (summary) {
		const json_t *q = json_object_get(doc, "query");
		fputs("salve summary: ", f);
		rtext_html(f,
		           rtext_str(q, "since") ? rtext_str(q, "since") : "the start of the log");
		fputs(" to ", f);
		rtext_html(f, rtext_str(q, "until") ? rtext_str(q, "until") : "now");
	} else {
		fputs("Post-incident review (draft): ", f);
		rtext_html(f, rtext_title_of(doc, title, sizeof title));
	}
	fputs("</h1>\n<p><em>Generated by salve report at ", f);
	rtext_html(f, rtext_str(doc, "generated_at"));
	fputs(" from ", f);
	rtext_html(f, rtext_str(json_object_get(doc, "audit"), "path"));
	fputs(".</em></p>\n", f);
	if (summary)
		h_summary(f, doc);
	else
		h_incident(f, doc);
	fputs("</body></html>\n", f);
	fflush(f);
	return ferror(f) ? -1 : 0;
}
