/* The incident report: one pass over the audit log into a format-1 document (report.h). */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auditscan.h"
#include "util.h"

#define DEFAULT_MAX_RUNS 500

struct build {
	const struct salve_report_query *q;
	json_t *runs;      /* run id -> run document, in the order runs started */
	json_t *alerts;    /* fingerprint -> alert document */
	json_t *run_alert; /* run id -> {fingerprint, alertname, starts_at, received_at} */
	json_t *timeline;  /* entries in log order */
	json_t *watched;   /* "plugin\x1ftarget" -> [change, ...] of the selected runs */
	json_t *cycles;    /* "fingerprint\x1fstarts_at" -> the cycle in alerts */
	size_t runs_left_out;
};

static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static json_t *time_value(double t)
{
	if (t <= 0)
		return json_null();
	char buf[40];
	salve_format_rfc3339(t, buf, sizeof buf);
	return json_string(buf);
}

static double time_of(const json_t *o, const char *key)
{
	double t;
	const char *s = str(o, key);
	return s && salve_parse_rfc3339(s, &t) == 0 ? t : 0;
}

/* A duration in seconds between two RFC 3339 fields, or null when either is unknown. */
static json_t *seconds_between(const json_t *a, const char *akey, const json_t *b, const char *bkey)
{
	double ta = time_of(a, akey), tb = time_of(b, bkey);
	if (ta <= 0 || tb <= 0)
		return json_null();
	return json_real(round((tb - ta) * 1000.0) / 1000.0);
}

/* A run id, or its first 8 or more characters (what reports and `audit show` print). */
static int run_matches(const char *want, const char *id)
{
	size_t n = want ? strlen(want) : 0;
	return id && n >= 8 && strncmp(id, want, n) == 0;
}

static int in_range(const struct salve_report_query *q, double ts)
{
	return (q->since <= 0 || ts >= q->since) && (q->until <= 0 || ts <= q->until);
}

/* ---- what each record adds ------------------------------------------------------------ */

static const char *alert_name(const json_t *rec)
{
	const char *n = str(json_object_get(rec, "labels"), "alertname");
	return n ? n : "";
}

static int runs_full(const struct build *b)
{
	return json_object_size(b->runs) >= (b->q->max_runs ? b->q->max_runs : DEFAULT_MAX_RUNS);
}

static void cycle_key(const char *fp, const char *starts, char *key, size_t len)
{
	snprintf(key, len, "%s\x1f%s", fp ? fp : "", starts ? starts : "");
}

/* The cycle of fingerprint fp that started at starts, when the report has it. */
static json_t *cycle_of(const struct build *b, const char *fp, const char *starts)
{
	char key[1024];
	cycle_key(fp, starts, key, sizeof key);
	return json_object_get(b->cycles, key);
}

/* What decides whether an alert record belongs to the report. */
struct alert_keys {
	const char *fp, *starts, *decision, *runbook, *run;
};

/* --alert: every record of that fingerprint (new cycles only while runs may be added).
 * Otherwise: the alert record that queued a selected run (it comes first), then the
 * records of that same cycle (dedup, refusals, the resolved notice). */
static int alert_selected(struct build *b, const struct alert_keys *k, double ts)
{
	const struct salve_report_query *q = b->q;
	const char *fp = k->fp;
	if (!fp)
		return 0;
	int known_cycle = cycle_of(b, fp, k->starts) != NULL;
	if (q->alert)
		return streq(fp, q->alert) && in_range(q, ts) && (known_cycle || !runs_full(b));
	if (known_cycle)
		return 1;
	if (runs_full(b))
		return 0;
	if (q->run)
		return run_matches(q->run, k->run);
	/* runbook or time range: the alert that queued a matching run. */
	return streq(k->decision, "queued") && (!q->runbook || streq(k->runbook, q->runbook)) &&
	       in_range(q, ts);
}

static void add_alert(struct build *b, const json_t *rec, const char *at)
{
	const char *fp = str(rec, "fingerprint");
	json_t *a = json_object_get(b->alerts, fp);
	if (!a) {
		a = json_pack("{s:s, s:s, s:O*, s:O*, s:[]}", "fingerprint", fp, "alertname",
		              alert_name(rec), "labels", json_object_get(rec, "labels"),
		              "annotations", json_object_get(rec, "annotations"), "cycles");
		json_object_set_new(b->alerts, fp, a);
	}
	/* A cycle is one firing (its startsAt) until the resolved notice with the same start. */
	const char *starts = str(rec, "starts_at");
	json_t *cycles = json_object_get(a, "cycles"), *cyc = cycle_of(b, fp, starts);
	if (!cyc) {
		cyc = json_pack("{s:s?, s:n, s:n, s:[], s:[]}", "starts_at", starts, "received_at",
		                "resolved_at", "runs", "decisions");
		json_array_append_new(cycles, cyc);
		char key[1024];
		cycle_key(fp, starts, key, sizeof key);
		json_object_set(b->cycles, key, cyc);
	}
	int resolved = streq(str(rec, "status"), "resolved");
	if (!resolved && json_is_null(json_object_get(cyc, "received_at")))
		json_object_set_new(cyc, "received_at", json_string(at));
	if (resolved && json_is_null(json_object_get(cyc, "resolved_at"))) {
		json_object_set_new(cyc, "resolved_at", json_string(at));
		/* Alertmanager's endsAt when the record has it: when the alert really ended. */
		if (str(rec, "ends_at"))
			json_object_set_new(cyc, "ends_at", json_string(str(rec, "ends_at")));
	}
	json_t *d = json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "at", at, "status",
	                      str(rec, "status"), "route", str(rec, "route"), "decision",
	                      str(rec, "decision"), "reason", str(rec, "reason"), "detail",
	                      str(rec, "detail"), "run", str(rec, "run"));
	json_array_append_new(json_object_get(cyc, "decisions"), d);
	const char *run = str(rec, "run");
	if (run && streq(str(rec, "decision"), "queued")) {
		json_array_append_new(json_object_get(cyc, "runs"), json_string(run));
		json_object_set_new(b->run_alert, run,
		                    json_pack("{s:s, s:s, s:s?, s:s}", "fingerprint", fp,
		                              "alertname", alert_name(rec), "starts_at", starts,
		                              "received_at", at));
	}
}

static int run_selected(struct build *b, const json_t *rec, double ts)
{
	const struct salve_report_query *q = b->q;
	const char *run = str(rec, "run");
	if (!run || (q->run && !run_matches(q->run, run)))
		return 0;
	if (q->runbook && !streq(str(rec, "runbook"), q->runbook))
		return 0;
	if (q->alert) {
		const char *trigger = str(rec, "trigger");
		if (!trigger || strncmp(trigger, "alert:", 6) != 0 || !streq(trigger + 6, q->alert))
			return 0;
	}
	return in_range(q, ts);
}

static const char *drill_kind(const json_t *rec)
{
	int dry = streq(str(rec, "mode"), "dry-run");
	if (str(rec, "fail_at"))
		return "fail-at";
	if (dry && json_is_true(json_object_get(rec, "drill")))
		return "drill-notify";
	return dry ? "dry-run" : NULL;
}

static json_t *new_run(struct build *b, const json_t *rec, const char *at)
{
	const char *id = str(rec, "run");
	const char *kind = drill_kind(rec);
	json_t *r = json_pack(
	    "{s:s, s:s?, s:s?, s:s?, s:s?, s:b, s:s?, s:s?, s:O*, s:s, s:n, s:s, s:n, s:n, s:[], "
	    "s:[], s:[], s:[], s:[], s:[]}",
	    "run", id, "runbook", str(rec, "runbook"), "source", str(rec, "source"), "trigger",
	    str(rec, "trigger"), "mode", str(rec, "mode"), "drill", kind != NULL, "drill_kind",
	    kind, "fail_at", str(rec, "fail_at"), "params", json_object_get(rec, "params"),
	    "started_at", at, "ended_at", "outcome", "unfinished", "exit_code", "duration_s",
	    "steps", "approvals", "notifications", "changes", "rollback", "degraded");
	json_t *al = json_object_get(b->run_alert, id);
	json_object_set(r, "alert", al ? al : json_null());
	json_object_set_new(r, "first_change_at", json_null());
	json_object_set_new(b->runs, id, r);
	return r;
}

static json_t *last_named(json_t *arr, const char *key, const char *name)
{
	for (size_t n = json_array_size(arr); n > 0; n--) {
		json_t *e = json_array_get(arr, n - 1);
		if (streq(str(e, key), name))
			return e;
	}
	return NULL;
}

/* A later change to the same plugin target by another run: the earlier ones are no longer
 * "still in place" as their runs left them. Marked changes stop being watched, so a target
 * changed over and over costs one parse per change, not one per change per watcher. */
static void changed_again(struct build *b, const char *plugin, const char *target, const char *run,
                          const char *at)
{
	char key[1024];
	snprintf(key, sizeof key, "%s\x1f%s", plugin ? plugin : "", target ? target : "");
	json_t *list = json_object_get(b->watched, key);
	for (size_t n = json_array_size(list); n > 0; n--) {
		json_t *w = json_array_get(list, n - 1);
		json_t *c = json_object_get(w, "change");
		if (streq(str(w, "run"), run))
			continue;
		if (streq(str(c, "state"), "in_place")) {
			json_object_set_new(c, "changed_again_at", json_string(at));
			json_object_set_new(c, "changed_again_by", json_string(run ? run : ""));
		}
		json_array_remove(list, n - 1);
	}
	if (list && !json_array_size(list))
		json_object_del(b->watched, key);
}

static void watch_change(struct build *b, const char *run, json_t *change)
{
	char key[1024];
	snprintf(key, sizeof key, "%s\x1f%s", str(change, "plugin"),
	         str(change, "target") ? str(change, "target") : "");
	json_t *list = json_object_get(b->watched, key);
	if (!list) {
		list = json_array();
		json_object_set_new(b->watched, key, list);
	}
	json_array_append_new(list, json_pack("{s:s, s:O}", "run", run, "change", change));
}

/* serve's record of an approval notice. The notice itself is one of the run's actions (a
 * notify send in that step, recorded just before): it is marked as the approval notice
 * rather than counted twice. Older logs have no such action: the record stands alone. */
static void on_approval_notified(json_t *r, const json_t *rec, const char *at)
{
	json_t *list = json_object_get(r, "notifications");
	for (size_t i = json_array_size(list); i > 0; i--) {
		json_t *n = json_array_get(list, i - 1);
		if (streq(str(n, "via"), "action") && streq(str(n, "step"), str(rec, "step")) &&
		    json_is_string(json_object_get(n, "to")) &&
		    streq(json_string_value(json_object_get(n, "to")), str(rec, "to"))) {
			json_object_set_new(n, "via", json_string("approval"));
			return;
		}
	}
	json_array_append_new(list, json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?}", "at", at, "via",
	                                      "approval", "step", str(rec, "step"), "to",
	                                      str(rec, "to"), "outcome", str(rec, "outcome"),
	                                      "error", str(rec, "error")));
}

static void on_action(struct build *b, json_t *r, const json_t *rec, const char *at)
{
	const char *outcome = str(rec, "outcome"), *kind = str(rec, "kind");
	const char *phase = str(rec, "phase");
	if (streq(kind, "notify")) {
		json_t *args = json_object_get(rec, "args");
		json_t *n =
		    json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?}", "at", at, "via", "action",
		              "step", str(rec, "step"), "phase", phase, "action",
		              str(rec, "action"), "outcome", outcome, "error", str(rec, "error"));
		json_t *to = json_object_get(args, "to");
		json_object_set(n, "to", to ? to : json_null());
		json_object_set_new(n, "plugin", json_string(str(rec, "plugin")));
		json_array_append_new(json_object_get(r, "notifications"), n);
		return;
	}
	if (!streq(kind, "mutate") || streq(phase, "rollback"))
		return;
	if (!streq(outcome, "changed") && !streq(outcome, "planned"))
		return;
	json_t *c = json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s}", "at", at, "step",
	                      str(rec, "step"), "plugin", str(rec, "plugin"), "action",
	                      str(rec, "action"), "target", str(rec, "target"), "state",
	                      streq(outcome, "planned") ? "planned" : "in_place");
	json_array_append_new(json_object_get(r, "changes"), c);
	if (streq(outcome, "changed")) {
		if (json_is_null(json_object_get(r, "first_change_at")))
			json_object_set_new(r, "first_change_at", json_string(at));
		changed_again(b, str(c, "plugin"), str(c, "target"), str(r, "run"), at);
		watch_change(b, str(r, "run"), c);
	}
}

static void on_undo(json_t *r, const json_t *rec, const char *at)
{
	json_t *changes = json_object_get(r, "changes");
	for (size_t n = json_array_size(changes); n > 0; n--) {
		json_t *c = json_array_get(changes, n - 1);
		if (!streq(str(c, "state"), "in_place") ||
		    !streq(str(c, "step"), str(rec, "step")) ||
		    !streq(str(c, "plugin"), str(rec, "plugin")) ||
		    !streq(str(c, "action"), str(rec, "action")))
			continue;
		const char *t = str(c, "target"), *rt = str(rec, "target");
		if ((t || rt) && !streq(t, rt))
			continue;
		const char *o = str(rec, "outcome");
		json_object_set_new(c, "state",
		                    json_string(streq(o, "undone")         ? "undone"
		                                : streq(o, "not_undoable") ? "left_not_undoable"
		                                                           : "undo_failed"));
		json_object_set_new(c, "undone_at", json_string(at));
		if (str(rec, "error"))
			json_object_set_new(c, "error", json_string(str(rec, "error")));
		return;
	}
}

static void on_step_rollback(json_t *r, const json_t *rec, const char *at)
{
	const char *step = str(rec, "step"), *o = str(rec, "outcome");
	json_array_append_new(json_object_get(r, "rollback"),
	                      json_pack("{s:s, s:s?, s:s?, s:s?}", "at", at, "step", step,
	                                "outcome", o, "error", str(rec, "error")));
	json_t *st = last_named(json_object_get(r, "steps"), "name", step);
	if (st)
		json_object_set_new(st, "rollback", json_string(o ? o : ""));
	/* A runbook's own rollback function undoes the step's changes as a whole. */
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(r, "changes"), i, c)
	{
		if (!streq(str(c, "step"), step) || !streq(str(c, "state"), "in_place"))
			continue;
		if (streq(o, "rolled_back")) {
			json_object_set_new(c, "state", json_string("undone"));
			json_object_set_new(c, "undone_at", json_string(at));
		} else if (streq(o, "opted_out")) {
			json_object_set_new(c, "state", json_string("left_opted_out"));
		}
	}
}

static const char *who_of(const json_t *rec, const char *event);

/* The engine writes approval_requested and approval; salve serve writes approval_waiting and
 * approval_decision from its own threads, so a decision may land before or after the
 * engine's approval record: each attaches to the step's latest request still missing it. */
static void on_approval(json_t *r, const json_t *rec, const char *event, const char *at)
{
	json_t *aps = json_object_get(r, "approvals");
	const char *step = str(rec, "step");
	const char *missing = streq(event, "approval")            ? "decided_at"
	                      : streq(event, "approval_decision") ? "decision"
	                      : streq(event, "approval_waiting")  ? "deadline"
	                                                          : NULL;
	json_t *ap = NULL;
	for (size_t n = json_array_size(aps); missing && n > 0 && !ap; n--) {
		json_t *e = json_array_get(aps, n - 1);
		if (streq(str(e, "step"), step) && !json_object_get(e, missing))
			ap = e;
	}
	if (!ap) {
		ap = json_pack("{s:s?, s:s}", "step", step, "requested_at", at);
		json_array_append_new(aps, ap);
	}
	if (streq(event, "approval_waiting")) {
		json_object_set_new(ap, "deadline",
		                    json_string(str(rec, "deadline") ? str(rec, "deadline") : ""));
	} else if (streq(event, "approval_decision")) {
		json_object_set_new(ap, "decision",
		                    json_string(str(rec, "decision") ? str(rec, "decision") : ""));
		json_object_set_new(ap, "by", json_string(str(rec, "by") ? str(rec, "by") : ""));
		if (str(rec, "comment"))
			json_object_set_new(ap, "comment", json_string(str(rec, "comment")));
	} else if (streq(event, "approval")) {
		json_object_set_new(ap, "decided_at", json_string(at));
		json_object_set_new(ap, "outcome",
		                    json_string(str(rec, "outcome") ? str(rec, "outcome") : "?"));
		json_object_set_new(ap, "reason",
		                    json_string(str(rec, "reason") ? str(rec, "reason") : ""));
		if (!json_object_get(ap, "by") && who_of(rec, event))
			json_object_set_new(ap, "by", json_string(who_of(rec, event)));
	}
}

static const char *who_of(const json_t *rec, const char *event)
{
	if (streq(event, "run_start") || streq(event, "run_error"))
		return str(rec, "trigger");
	if (streq(event, "approval_decision"))
		return str(rec, "by");
	if (streq(event, "approval"))
		return strstr(str(rec, "reason") ? str(rec, "reason") : "", "--approve")
		           ? "cli --approve"
		           : str(rec, "by");
	if (streq(event, "approval_notified") || streq(event, "approval_waiting"))
		return str(rec, "to") ? str(rec, "to") : str(rec, "notify");
	if (streq(event, "alert"))
		return str(rec, "receiver") ? str(rec, "receiver") : str(rec, "hook");
	if (streq(event, "action") && streq(str(rec, "kind"), "notify")) {
		json_t *to = json_object_get(json_object_get(rec, "args"), "to");
		return json_string_value(to);
	}
	return NULL;
}

static const char *detail_of(const json_t *rec, const char *event, char *buf, size_t len)
{
	if (streq(event, "action") || streq(event, "undo")) {
		snprintf(buf, len, "%s.%s%s%s%s%s", str(rec, "plugin") ? str(rec, "plugin") : "?",
		         str(rec, "action") ? str(rec, "action") : "?",
		         str(rec, "target") ? " " : "",
		         str(rec, "target") ? str(rec, "target") : "",
		         str(rec, "error") ? ": " : "", str(rec, "error") ? str(rec, "error") : "");
		return buf;
	}
	if (streq(event, "alert")) {
		snprintf(buf, len, "%s %s%s%s%s%s", alert_name(rec),
		         str(rec, "status") ? str(rec, "status") : "",
		         str(rec, "route") ? " route " : "",
		         str(rec, "route") ? str(rec, "route") : "", str(rec, "detail") ? ": " : "",
		         str(rec, "detail") ? str(rec, "detail") : "");
		return buf;
	}
	const char *keys[] = {"error", "reason", "detail", "message", "note", "source"};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		if (str(rec, keys[i]))
			return str(rec, keys[i]);
	return NULL;
}

json_t *salve_report__entry(const json_t *rec, const char *event, const char *at, int drill)
{
	char buf[2048];
	const char *outcome = str(rec, "outcome") ? str(rec, "outcome") : str(rec, "decision");
	if (!outcome && streq(event, "approval_decision"))
		outcome = str(rec, "decision");
	json_t *e = json_pack("{s:s, s:I, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:b}", "at", at, "seq",
	                      json_integer_value(json_object_get(rec, "seq")), "event", event,
	                      "run", str(rec, "run"), "step", str(rec, "step"), "outcome", outcome,
	                      "who", who_of(rec, event), "detail",
	                      detail_of(rec, event, buf, sizeof buf), "drill", drill);
	return e;
}

static void add_timeline(struct build *b, const json_t *rec, const char *event, const char *at,
                         const json_t *run)
{
	json_array_append_new(
	    b->timeline,
	    salve_report__entry(rec, event, at, json_is_true(json_object_get(run, "drill"))));
}

static void on_run_record(struct build *b, json_t *r, const json_t *rec, const char *event,
                          const char *at)
{
	json_t *steps = json_object_get(r, "steps");
	if (streq(event, "step_start")) {
		json_array_append_new(
		    steps, json_pack("{s:s?, s:O*, s:s, s:n, s:s, s:n}", "name", str(rec, "step"),
		                     "index", json_object_get(rec, "index"), "started_at", at,
		                     "ended_at", "outcome", "running", "duration_ms"));
	} else if (streq(event, "step_end")) {
		json_t *st = last_named(steps, "name", str(rec, "step"));
		if (!st || !streq(str(st, "outcome"), "running")) {
			st = json_pack("{s:s?, s:n}", "name", str(rec, "step"), "started_at");
			json_array_append_new(steps, st);
		}
		json_object_set_new(st, "ended_at", json_string(at));
		json_object_set_new(st, "outcome",
		                    json_string(str(rec, "outcome") ? str(rec, "outcome") : "?"));
		json_object_set(st, "duration_ms",
		                json_object_get(rec, "duration_ms")
		                    ? json_object_get(rec, "duration_ms")
		                    : json_null());
		if (str(rec, "error"))
			json_object_set_new(st, "error", json_string(str(rec, "error")));
		if (str(rec, "note"))
			json_object_set_new(st, "note", json_string(str(rec, "note")));
	} else if (streq(event, "action")) {
		on_action(b, r, rec, at);
	} else if (streq(event, "undo")) {
		on_undo(r, rec, at);
	} else if (streq(event, "step_rollback")) {
		on_step_rollback(r, rec, at);
	} else if (streq(event, "approval_requested") || streq(event, "approval_waiting") ||
	           streq(event, "approval") || streq(event, "approval_decision")) {
		on_approval(r, rec, event, at);
	} else if (streq(event, "approval_notified")) {
		on_approval_notified(r, rec, at);
	} else if (streq(event, "lifecycle_notify")) {
		json_array_append_new(json_object_get(r, "notifications"),
		                      json_pack("{s:s, s:s, s:s?, s:s?, s:s?}", "at", at, "via",
		                                "lifecycle", "on", str(rec, "on"), "outcome",
		                                str(rec, "outcome"), "error", str(rec, "error")));
	} else if (streq(event, "degraded")) {
		json_array_append_new(json_object_get(r, "degraded"),
		                      json_pack("{s:s, s:s?, s:s?}", "at", at, "step",
		                                str(rec, "step"), "message", str(rec, "message")));
	} else if (streq(event, "run_end") || streq(event, "run_error") ||
	           streq(event, "run_cancelled")) {
		json_object_set_new(r, "ended_at", json_string(at));
		json_object_set_new(r, "outcome",
		                    json_string(str(rec, "outcome") ? str(rec, "outcome")
		                                : streq(event, "run_cancelled") ? "cancelled"
		                                                                : "error"));
		json_object_set(r, "exit_code",
		                json_object_get(rec, "exit_code")
		                    ? json_object_get(rec, "exit_code")
		                    : json_null());
		if (str(rec, "error"))
			json_object_set_new(r, "error", json_string(str(rec, "error")));
		json_object_set_new(r, "duration_s",
		                    seconds_between(r, "started_at", r, "ended_at"));
	}
}

static void on_other_action(struct build *b, const json_t *rec, const char *at)
{
	if (streq(str(rec, "outcome"), "changed") && !streq(str(rec, "phase"), "rollback"))
		changed_again(b, str(rec, "plugin"), str(rec, "target"), str(rec, "run"), at);
}

/* An action record of another run on a watched plugin target, read without a parse. */
static int watched_target(const struct build *b, const struct salve_scan_line *l)
{
	if (!json_object_size(b->watched))
		return 0;
	struct salve_field f[2] = {{.key = "plugin"}, {.key = "target"}};
	if (salve_scan_fields(l->text, l->len, f, 2) < 1 || f[0].escaped || f[1].escaped)
		return f[0].escaped || f[1].escaped; /* rare: let the parse decide */
	char plugin[256], target[768], key[1024];
	salve_field_str(&f[0], plugin, sizeof plugin);
	salve_field_str(&f[1], target, sizeof target);
	snprintf(key, sizeof key, "%s\x1f%s", plugin, target);
	return json_object_get(b->watched, key) != NULL;
}

/* Whether an alert record is selected, from its top-level fields read in place (parsed
 * only when one holds escapes): most alert records in a long log are not. */
static int alert_line_selected(struct build *b, const struct salve_scan_line *l)
{
	struct salve_field f[5] = {{.key = "fingerprint"},
	                           {.key = "starts_at"},
	                           {.key = "decision"},
	                           {.key = "runbook"},
	                           {.key = "run"}};
	char v[5][512];
	int found = salve_scan_fields(l->text, l->len, f, 5);
	int escaped = found < 0;
	for (size_t i = 0; i < 5; i++) {
		escaped |= f[i].escaped || (f[i].string && f[i].len >= sizeof v[i]);
		salve_field_str(&f[i], v[i], sizeof v[i]);
	}
	if (!escaped) {
		struct alert_keys k = {f[0].val ? v[0] : NULL, f[1].val ? v[1] : NULL,
		                       f[2].val ? v[2] : NULL, f[3].val ? v[3] : NULL,
		                       f[4].val ? v[4] : NULL};
		return alert_selected(b, &k, l->ts);
	}
	json_t *rec = json_loadb(l->text, l->len, 0, NULL);
	struct alert_keys k = {str(rec, "fingerprint"), str(rec, "starts_at"), str(rec, "decision"),
	                       str(rec, "runbook"), str(rec, "run")};
	int selected = alert_selected(b, &k, l->ts);
	json_decref(rec);
	return selected;
}

static int on_line(void *ctx, const struct salve_scan_line *l)
{
	struct build *b = ctx;
	const char *ev = l->event;
	int is_alert = strcmp(ev, "alert") == 0;
	json_t *run = l->run[0] ? json_object_get(b->runs, l->run) : NULL;
	int starts = !run && (!strcmp(ev, "run_start") || !strcmp(ev, "run_error"));
	int other_action = !run && !strcmp(ev, "action") && watched_target(b, l);
	int cancelled = !strcmp(ev, "run_cancelled") && json_object_size(b->alerts);
	if (!is_alert && !run && !starts && !other_action && !cancelled)
		return 0;
	if (is_alert && !alert_line_selected(b, l))
		return 0;
	json_t *rec = json_loadb(l->text, l->len, 0, NULL);
	if (!json_is_object(rec)) {
		json_decref(rec);
		return 0;
	}
	const char *event = str(rec, "event");
	const char *rid = str(rec, "run");
	char at[40];
	salve_format_rfc3339(l->ts, at, sizeof at);
	if (!event) {
		/* not a record of an event */
	} else if (is_alert) {
		add_alert(b, rec, at);
		add_timeline(b, rec, event, at, NULL);
	} else if (cancelled && !run) {
		if (json_object_get(b->alerts,
		                    str(rec, "fingerprint") ? str(rec, "fingerprint") : ""))
			add_timeline(b, rec, event, at, NULL);
	} else if (starts) {
		if (run_selected(b, rec, l->ts)) {
			if (runs_full(b)) {
				b->runs_left_out++;
			} else {
				json_t *r = new_run(b, rec, at);
				add_timeline(b, rec, event, at, r);
				if (!strcmp(event, "run_error"))
					on_run_record(b, r, rec, event, at);
			}
		}
	} else if (run && streq(rid, l->run)) {
		on_run_record(b, run, rec, event, at);
		add_timeline(b, rec, event, at, run);
	} else if (other_action) {
		on_other_action(b, rec, at);
	}
	json_decref(rec);
	return 0;
}

/* ---- after the pass -------------------------------------------------------------------- */

static void run_figures(json_t *r)
{
	json_t *al = json_object_get(r, "alert");
	if (!json_is_object(al))
		al = NULL;
	const char *outcome = str(r, "outcome");
	int remediated = streq(outcome, "success") || streq(outcome, "degraded");
	json_t *f = json_object();
	json_object_set_new(f, "time_to_detect_s",
	                    al ? seconds_between(al, "starts_at", al, "received_at") : json_null());
	json_object_set_new(f, "time_to_start_s",
	                    al ? seconds_between(al, "received_at", r, "started_at") : json_null());
	/* From the alert's start; a run without an alert (the command line, cron) from its own. */
	const json_t *from = al ? al : r;
	const char *from_key = al ? "starts_at" : "started_at";
	const char *to_key =
	    json_is_string(json_object_get(r, "first_change_at")) ? "first_change_at" : "ended_at";
	json_object_set_new(f, "time_to_remediate_s",
	                    remediated ? seconds_between(from, from_key, r, to_key) : json_null());
	json_object_set_new(f, "remediate_from", json_string(al ? "alert_start" : "run_start"));
	json_object_set_new(
	    f, "time_to_resolve_s",
	    al ? seconds_between(al, "starts_at", al,
	                         json_object_get(al, "ends_at") ? "ends_at" : "resolved_at")
	       : json_null());
	int changed = 0, failed = 0, rolled = 0;
	size_t i;
	json_t *st;
	json_array_foreach(json_object_get(r, "steps"), i, st)
	{
		changed += streq(str(st, "outcome"), "changed");
		failed += streq(str(st, "outcome"), "failed");
		rolled += streq(str(st, "rollback"), "rolled_back");
	}
	json_object_set_new(f, "steps_changed", json_integer(changed));
	json_object_set_new(f, "steps_failed", json_integer(failed));
	json_object_set_new(f, "steps_rolled_back", json_integer(rolled));
	json_object_set_new(r, "figures", f);
}

static void follow_up(json_t *list, const json_t *r, const char *kind, const char *step,
                      const char *text)
{
	json_array_append_new(list, json_pack("{s:s, s:s?, s:s?, s:s, s:s}", "run", str(r, "run"),
	                                      "runbook", str(r, "runbook"), "step", step, "kind",
	                                      kind, "text", text));
}

static void run_follow_ups(json_t *list, const json_t *r)
{
	char text[4096];
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(r, "steps"), i, e)
	{
		if (!streq(str(e, "outcome"), "failed") &&
		    !streq(str(e, "outcome"), "rolled_back") &&
		    !streq(str(e, "outcome"), "rollback_failed"))
			continue;
		if (!str(e, "error"))
			continue;
		snprintf(text, sizeof text,
		         "Step %s failed: %s. Find the cause; fix the step or its target.",
		         str(e, "name"), str(e, "error"));
		follow_up(list, r, "failed_step", str(e, "name"), text);
	}
	json_array_foreach(json_object_get(r, "rollback"), i, e)
	{
		if (streq(str(e, "outcome"), "rollback_failed")) {
			snprintf(
			    text, sizeof text,
			    "Rollback of step %s did not complete: %s. Check the target by hand; "
			    "`salve recover` retries what is left.",
			    str(e, "step"),
			    str(e, "error") ? str(e, "error") : "no reason recorded");
			follow_up(list, r, "rollback_failed", str(e, "step"), text);
		} else if (streq(str(e, "outcome"), "rolled_back")) {
			snprintf(
			    text, sizeof text,
			    "Step %s was rolled back: what it fixed is no longer in place; the "
			    "underlying problem may remain.",
			    str(e, "step"));
			follow_up(list, r, "rolled_back", str(e, "step"), text);
		} else if (streq(str(e, "outcome"), "opted_out")) {
			snprintf(
			    text, sizeof text,
			    "Step %s opted out of rollback (rollback = false): its changes stayed; "
			    "confirm they are wanted.",
			    str(e, "step"));
			follow_up(list, r, "rollback_opted_out", str(e, "step"), text);
		}
	}
	json_array_foreach(json_object_get(r, "changes"), i, e)
	{
		if (!streq(str(e, "state"), "left_not_undoable") &&
		    !streq(str(e, "state"), "undo_failed"))
			continue;
		snprintf(text, sizeof text, "%s.%s %s was %s.", str(e, "plugin"), str(e, "action"),
		         str(e, "target") ? str(e, "target") : "",
		         streq(str(e, "state"), "undo_failed")
		             ? "not undone (the undo failed)"
		             : "left in place (it cannot be undone)");
		follow_up(list, r, "change_left", str(e, "step"), text);
	}
	json_array_foreach(json_object_get(r, "approvals"), i, e)
	{
		if (!str(e, "outcome") || streq(str(e, "outcome"), "approved"))
			continue;
		snprintf(text, sizeof text, "Approval of step %s was not given: %s.",
		         str(e, "step"), str(e, "reason") ? str(e, "reason") : "");
		follow_up(list, r, "approval_refused", str(e, "step"), text);
	}
	json_array_foreach(json_object_get(r, "degraded"), i, e)
	{
		snprintf(text, sizeof text, "Step %s tolerated a failure: %s.", str(e, "step"),
		         str(e, "message") ? str(e, "message") : "");
		follow_up(list, r, "degraded", str(e, "step"), text);
	}
	if (streq(str(r, "outcome"), "unfinished")) {
		follow_up(list, r, "unfinished", NULL,
		          "The run has no end record: it is still running, or it died; see `salve "
		          "recover --list`.");
	} else if (streq(str(r, "outcome"), "error") && str(r, "error")) {
		snprintf(text, sizeof text, "The run could not run: %s.", str(r, "error"));
		follow_up(list, r, "run_error", NULL, text);
	}
}

static json_t *drill_entry(const json_t *r)
{
	const char *kind = str(r, "drill_kind"), *outcome = str(r, "outcome");
	json_t *passed = json_null();
	if (streq(kind, "fail-at"))
		passed = json_boolean(streq(outcome, "rolled_back"));
	return json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:O, s:o}", "run", str(r, "run"),
	                 "runbook", str(r, "runbook"), "kind", kind, "fail_at", str(r, "fail_at"),
	                 "started_at", str(r, "started_at"), "outcome", outcome, "figures",
	                 json_object_get(r, "figures"), "rollback_passed", passed);
}

/* The incident's headline figures: the first production run's, the alert's first cycle. */
static json_t *headline(const json_t *runs, const json_t *alerts)
{
	json_t *h = json_pack("{s:n, s:n, s:n, s:n, s:i, s:i, s:i}", "time_to_detect_s",
	                      "time_to_start_s", "time_to_remediate_s", "time_to_resolve_s",
	                      "steps_changed", 0, "steps_failed", 0, "steps_rolled_back", 0);
	const char *keys[] = {"time_to_detect_s", "time_to_start_s", "time_to_remediate_s",
	                      "time_to_resolve_s"};
	const char *counts[] = {"steps_changed", "steps_failed", "steps_rolled_back"};
	size_t i;
	json_t *r;
	json_array_foreach(runs, i, r)
	{
		if (json_is_true(json_object_get(r, "drill")))
			continue;
		json_t *f = json_object_get(r, "figures");
		for (size_t k = 0; k < 4; k++)
			if (json_is_null(json_object_get(h, keys[k])) &&
			    !json_is_null(json_object_get(f, keys[k])))
				json_object_set(h, keys[k], json_object_get(f, keys[k]));
		for (size_t k = 0; k < 3; k++)
			json_object_set_new(
			    h, counts[k],
			    json_integer(json_integer_value(json_object_get(h, counts[k])) +
			                 json_integer_value(json_object_get(f, counts[k]))));
	}
	/* An alert that resolved without a production run still has a time to detect/resolve. */
	const char *fp;
	json_t *a;
	json_object_foreach((json_t *)alerts, fp, a)
	{
		json_t *cyc = json_array_get(json_object_get(a, "cycles"), 0);
		if (json_is_null(json_object_get(h, "time_to_detect_s")))
			json_object_set_new(h, "time_to_detect_s",
			                    seconds_between(cyc, "starts_at", cyc, "received_at"));
		if (json_is_null(json_object_get(h, "time_to_resolve_s")))
			json_object_set_new(h, "time_to_resolve_s",
			                    seconds_between(cyc, "starts_at", cyc,
			                                    json_object_get(cyc, "ends_at")
			                                        ? "ends_at"
			                                        : "resolved_at"));
	}
	return h;
}

static json_t *summary_of(const json_t *runs, const json_t *alerts)
{
	json_t *s = json_object();
	double first = 0, last = 0;
	const char *severity = NULL, *fired = NULL;
	const char *fp;
	json_t *a;
	json_t *names = json_array();
	json_object_foreach((json_t *)alerts, fp, a)
	{
		json_array_append_new(names, json_string(str(a, "alertname")));
		if (!severity)
			severity = str(json_object_get(a, "labels"), "severity");
		if (!fired)
			fired = str(json_object_get(a, "annotations"), "summary");
		size_t i;
		json_t *c;
		json_array_foreach(json_object_get(a, "cycles"), i, c)
		{
			double t0 = time_of(c, "starts_at"), t1 = time_of(c, "resolved_at");
			if (t0 > 0 && (first == 0 || t0 < first))
				first = t0;
			if (t1 > last)
				last = t1;
		}
	}
	size_t i;
	json_t *r;
	json_t *outcomes = json_object();
	int production = 0, drills = 0;
	json_array_foreach(runs, i, r)
	{
		double t0 = time_of(r, "started_at"), t1 = time_of(r, "ended_at");
		if (json_is_true(json_object_get(r, "drill"))) {
			drills++;
			continue;
		}
		production++;
		if (t0 > 0 && (first == 0 || t0 < first))
			first = t0;
		if (t1 > last)
			last = t1;
		const char *o = str(r, "outcome");
		json_object_set_new(
		    outcomes, o,
		    json_integer(json_integer_value(json_object_get(outcomes, o)) + 1));
	}
	json_object_set_new(s, "alerts", names);
	json_object_set_new(s, "severity", severity ? json_string(severity) : json_null());
	json_object_set_new(s, "alert_summary", fired ? json_string(fired) : json_null());
	json_object_set_new(s, "impact_start", time_value(first));
	json_object_set_new(s, "impact_end", time_value(last));
	json_object_set_new(s, "production_runs", json_integer(production));
	json_object_set_new(s, "drill_runs", json_integer(drills));
	json_object_set_new(s, "outcomes", outcomes);
	return s;
}

json_t *salve_report__query_json(const struct salve_report_query *q)
{
	return json_pack("{s:s?, s:s?, s:s?, s:o, s:o}", "run", q->run, "alert", q->alert,
	                 "runbook", q->runbook, "since", time_value(q->since), "until",
	                 time_value(q->until));
}

json_t *salve_report__audit_json(const char *path, const struct salve_scan_result *res)
{
	return json_pack("{s:s, s:b, s:s, s:I}", "path", path, "intact", res->intact, "verdict",
	                 res->verdict, "records", (json_int_t)res->records);
}

json_t *salve_report_build(const char *path, const struct salve_report_query *q, char *err,
                           size_t errlen)
{
	struct build b;
	memset(&b, 0, sizeof b);
	b.q = q;
	b.runs = json_object();
	b.alerts = json_object();
	b.run_alert = json_object();
	b.timeline = json_array();
	b.watched = json_object();
	b.cycles = json_object();
	struct salve_scan_result res;
	if (salve_scan_log(path, on_line, &b, &res) != 0) {
		snprintf(err, errlen, "%s", res.verdict);
		json_decref(b.runs);
		json_decref(b.alerts);
		json_decref(b.run_alert);
		json_decref(b.timeline);
		json_decref(b.watched);
		json_decref(b.cycles);
		return NULL;
	}
	json_t *runs = json_array(), *follow = json_array(), *drills = json_array();
	const char *id;
	json_t *r;
	json_object_foreach(b.runs, id, r)
	{
		run_figures(r);
		if (json_is_true(json_object_get(r, "drill")))
			json_array_append_new(drills, drill_entry(r));
		else
			run_follow_ups(follow, r);
		json_array_append(runs, r);
	}
	/* elapsed from the first entry of the timeline */
	double t0 = time_of(json_array_get(b.timeline, 0), "at");
	size_t i;
	json_t *e;
	json_array_foreach(b.timeline, i, e) json_object_set_new(
	    e, "elapsed_s", json_real(round((time_of(e, "at") - t0) * 1000.0) / 1000.0));
	json_t *alerts = json_array();
	const char *fp;
	json_t *a;
	json_object_foreach(b.alerts, fp, a) json_array_append(alerts, a);
	char now[40];
	salve_timestamp(now, sizeof now);
	json_t *doc =
	    json_pack("{s:i, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I}", "format",
	              SALVE_REPORT_FORMAT, "kind", "incident", "generated_at", now, "audit",
	              salve_report__audit_json(path, &res), "query", salve_report__query_json(q),
	              "summary", summary_of(runs, b.alerts), "figures", headline(runs, b.alerts),
	              "alerts", alerts, "runs", runs, "timeline", b.timeline, "follow_ups", follow,
	              "drills", drills, "runs_left_out", (json_int_t)b.runs_left_out);
	json_decref(b.runs);
	json_decref(b.alerts);
	json_decref(b.run_alert);
	json_decref(b.watched);
	json_decref(b.cycles);
	return doc;
}
