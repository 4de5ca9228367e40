/* `salve report --summary`: many incidents in one streamed pass (report.h). Memory grows with
 * the runbooks, alert names and fingerprints seen and the runs in flight, not with the log:
 * a run's state is folded into its groups and dropped at its end. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "auditscan.h"
#include "report.h"
#include "util.h"

#define DEFAULT_FLAPPING  3
#define TOP_FAILING_STEPS 5

struct group {
	char *name;
	long runs, success, degraded, rolled_back, failed, unfinished;
	double *ttr; /* time to remediate of each remediated run, seconds */
	size_t nttr, cap;
	json_t *failing; /* step -> count */
};

struct groups {
	json_t *index; /* name -> integer index into v */
	struct group *v;
	size_t n, cap;
};

struct drill_counts {
	long runs, dry_run, fail_at, drill_notify, rollback_passed, rollback_failed;
};

struct summary {
	const struct salve_report_query *q;
	struct groups runbooks, alert_names;
	json_t *active;  /* run id -> {rb, an, fp, origin, drill_kind, first_change} */
	json_t *pending; /* run id -> {fp, alertname, starts_at} from the alert that queued it */
	json_t *flaps;   /* fingerprint -> {alertname, remediations} */
	json_t *drills;  /* runbook -> drill_counts index in dv */
	struct drill_counts *dv;
	size_t ndv, capdv;
	long unknown_ends; /* run_end of runs whose start lies outside the range */
};

static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static long group_of(struct groups *g, const char *name)
{
	json_t *i = json_object_get(g->index, name);
	if (i)
		return (long)json_integer_value(i);
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		struct group *v = realloc(g->v, cap * sizeof *v);
		if (!v)
			return -1;
		g->v = v;
		g->cap = cap;
	}
	struct group *gr = &g->v[g->n];
	memset(gr, 0, sizeof *gr);
	gr->name = strdup(name);
	gr->failing = json_object();
	json_object_set_new(g->index, name, json_integer((json_int_t)g->n));
	return (long)g->n++;
}

static void group_add_ttr(struct group *gr, double s)
{
	if (gr->nttr == gr->cap) {
		size_t cap = gr->cap ? gr->cap * 2 : 64;
		double *v = realloc(gr->ttr, cap * sizeof *v);
		if (!v)
			return;
		gr->ttr = v;
		gr->cap = cap;
	}
	gr->ttr[gr->nttr++] = s;
}

static struct drill_counts *drills_of(struct summary *s, const char *runbook)
{
	json_t *i = json_object_get(s->drills, runbook);
	if (i)
		return &s->dv[json_integer_value(i)];
	if (s->ndv == s->capdv) {
		size_t cap = s->capdv ? s->capdv * 2 : 8;
		struct drill_counts *v = realloc(s->dv, cap * sizeof *v);
		if (!v)
			return NULL;
		s->dv = v;
		s->capdv = cap;
	}
	memset(&s->dv[s->ndv], 0, sizeof *s->dv);
	json_object_set_new(s->drills, runbook, json_integer((json_int_t)s->ndv));
	return &s->dv[s->ndv++];
}

static int in_range(const struct salve_report_query *q, double ts)
{
	return (q->since <= 0 || ts >= q->since) && (q->until <= 0 || ts <= q->until);
}

static void on_start(struct summary *s, const json_t *rec, const char *run, double ts)
{
	const char *runbook = str(rec, "runbook");
	if (!runbook || (s->q->runbook && !streq(runbook, s->q->runbook)) || !in_range(s->q, ts))
		return;
	const char *trigger = str(rec, "trigger");
	if (s->q->alert &&
	    (!trigger || strncmp(trigger, "alert:", 6) != 0 || !streq(trigger + 6, s->q->alert)))
		return;
	int dry = streq(str(rec, "mode"), "dry-run");
	const char *kind = str(rec, "fail_at")                                  ? "fail-at"
	                   : dry && json_is_true(json_object_get(rec, "drill")) ? "drill-notify"
	                   : dry                                                ? "dry-run"
	                                                                        : NULL;
	json_t *al = json_object_get(s->pending, run);
	double origin = ts, starts;
	if (al && str(al, "starts_at") && salve_parse_rfc3339(str(al, "starts_at"), &starts) == 0)
		origin = starts;
	json_t *a =
	    json_pack("{s:s, s:s?, s:s?, s:f, s:s?, s:f}", "rb", runbook, "an",
	              al ? str(al, "alertname") : NULL, "fp", al ? str(al, "fingerprint") : NULL,
	              "origin", origin, "drill", kind, "first_change", 0.0);
	json_object_set_new(s->active, run, a);
	json_object_del(s->pending, run);
}

static void count_end(struct group *gr, const char *outcome, double ttr, int remediated)
{
	gr->runs++;
	if (streq(outcome, "success"))
		gr->success++;
	else if (streq(outcome, "degraded"))
		gr->degraded++;
	else if (streq(outcome, "rolled_back"))
		gr->rolled_back++;
	else if (streq(outcome, "unfinished"))
		gr->unfinished++;
	else
		gr->failed++;
	if (remediated && ttr >= 0)
		group_add_ttr(gr, ttr);
}

static void on_end(struct summary *s, const char *run, const char *outcome, double ts)
{
	json_t *a = json_object_get(s->active, run);
	if (!a) {
		s->unknown_ends++;
		return;
	}
	const char *rb = str(a, "rb"), *an = str(a, "an"), *fp = str(a, "fp");
	const char *drill = str(a, "drill");
	if (drill) {
		struct drill_counts *d = drills_of(s, rb);
		if (d) {
			d->runs++;
			d->dry_run += streq(drill, "dry-run");
			d->drill_notify += streq(drill, "drill-notify");
			if (streq(drill, "fail-at")) {
				d->fail_at++;
				if (streq(outcome, "rolled_back"))
					d->rollback_passed++;
				else
					d->rollback_failed++;
			}
		}
		json_object_del(s->active, run);
		return;
	}
	int remediated = streq(outcome, "success") || streq(outcome, "degraded");
	double first = json_real_value(json_object_get(a, "first_change"));
	double ttr = (first > 0 ? first : ts) - json_real_value(json_object_get(a, "origin"));
	long gi = group_of(&s->runbooks, rb);
	if (gi >= 0)
		count_end(&s->runbooks.v[gi], outcome, ttr, remediated);
	if (an) {
		long ai = group_of(&s->alert_names, an);
		if (ai >= 0)
			count_end(&s->alert_names.v[ai], outcome, ttr, remediated);
	}
	if (fp && remediated) {
		json_t *f = json_object_get(s->flaps, fp);
		if (!f) {
			f = json_pack("{s:s, s:i}", "alertname", an ? an : "", "remediations", 0);
			json_object_set_new(s->flaps, fp, f);
		}
		json_object_set_new(
		    f, "remediations",
		    json_integer(json_integer_value(json_object_get(f, "remediations")) + 1));
	}
	json_object_del(s->active, run);
}

static void on_failed_step(struct summary *s, const char *run, const char *step)
{
	json_t *a = json_object_get(s->active, run);
	if (!a || str(a, "drill") || !step)
		return;
	const char *names[2] = {str(a, "rb"), str(a, "an")};
	struct groups *gs[2] = {&s->runbooks, &s->alert_names};
	for (int k = 0; k < 2; k++) {
		if (!names[k])
			continue;
		long gi = group_of(gs[k], names[k]);
		if (gi < 0)
			continue;
		json_t *f = gs[k]->v[gi].failing;
		json_object_set_new(f, step,
		                    json_integer(json_integer_value(json_object_get(f, step)) + 1));
	}
}

/* A record's top-level strings, read in place (auditscan.h), or through jansson when one
 * holds escapes. */
#define VIEW_MAX 8
struct view {
	struct salve_field f[VIEW_MAX];
	size_t n;
	json_t *json;
	char buf[VIEW_MAX][512];
};

static int view_open(struct view *v, const char *text, size_t len, const char *const *keys,
                     size_t n)
{
	memset(v, 0, sizeof *v);
	v->n = n;
	for (size_t i = 0; i < n; i++)
		v->f[i].key = keys[i];
	int found = salve_scan_fields(text, len, v->f, n);
	int fallback = found < 0;
	for (size_t i = 0; i < n && !fallback; i++)
		fallback = v->f[i].escaped || (v->f[i].string && v->f[i].len >= sizeof v->buf[i]);
	if (fallback) {
		v->json = json_loadb(text, len, 0, NULL);
		return json_is_object(v->json) ? 0 : -1;
	}
	return 0;
}

static const char *view_str(struct view *v, size_t i)
{
	if (v->json)
		return str(v->json, v->f[i].key);
	if (!v->f[i].val || !v->f[i].string)
		return NULL;
	return salve_field_str(&v->f[i], v->buf[i], sizeof v->buf[i]);
}

static int view_true(struct view *v, size_t i)
{
	if (v->json)
		return json_is_true(json_object_get(v->json, v->f[i].key));
	return v->f[i].val && v->f[i].len == 4 && memcmp(v->f[i].val, "true", 4) == 0;
}

static void view_close(struct view *v)
{
	json_decref(v->json);
}

/* labels.alertname of an alert record. */
static const char *alertname_of(struct view *v, size_t labels, char *buf, size_t len)
{
	buf[0] = '\0';
	if (v->json) {
		const char *n = str(json_object_get(v->json, "labels"), "alertname");
		snprintf(buf, len, "%s", n ? n : "");
		return buf;
	}
	struct salve_field an = {.key = "alertname"};
	const struct salve_field *l = &v->f[labels];
	if (!l->val || l->string || salve_scan_fields(l->val, l->len, &an, 1) != 1)
		return buf;
	if (an.escaped) {
		json_t *j = json_loadb(an.val - 1, an.len + 2, JSON_DECODE_ANY, NULL);
		snprintf(buf, len, "%s", json_string_value(j) ? json_string_value(j) : "");
		json_decref(j);
		return buf;
	}
	return salve_field_str(&an, buf, len);
}

static void on_alert(struct summary *s, const struct salve_scan_line *l)
{
	static const char *const keys[] = {"decision", "run", "fingerprint", "starts_at", "labels"};
	struct view v;
	char an[256];
	if (view_open(&v, l->text, l->len, keys, 5) == 0 && streq(view_str(&v, 0), "queued") &&
	    view_str(&v, 1))
		json_object_set_new(s->pending, view_str(&v, 1),
		                    json_pack("{s:s?, s:s, s:s?}", "fingerprint", view_str(&v, 2),
		                              "alertname", alertname_of(&v, 4, an, sizeof an),
		                              "starts_at", view_str(&v, 3)));
	view_close(&v);
}

static void on_start_line(struct summary *s, const struct salve_scan_line *l, int error)
{
	static const char *const keys[] = {"run", "runbook", "trigger", "mode", "drill", "fail_at"};
	struct view v;
	if (view_open(&v, l->text, l->len, keys, 6) == 0 && view_str(&v, 0) && view_str(&v, 1)) {
		json_t *rec = json_pack("{s:s, s:s?, s:s?, s:b, s:s?}", "runbook", view_str(&v, 1),
		                        "trigger", view_str(&v, 2), "mode", view_str(&v, 3),
		                        "drill", view_true(&v, 4), "fail_at", view_str(&v, 5));
		on_start(s, rec, view_str(&v, 0), l->ts);
		if (error)
			on_end(s, view_str(&v, 0), "error", l->ts);
		json_decref(rec);
	}
	view_close(&v);
}

/* Only the records a summary needs are read, and only their top-level strings. */
static int on_line(void *ctx, const struct salve_scan_line *l)
{
	struct summary *s = ctx;
	const char *ev = l->event;
	if (!strcmp(ev, "alert")) {
		on_alert(s, l);
		return 0;
	}
	if (!strcmp(ev, "run_start") || !strcmp(ev, "run_error")) {
		if (!json_object_get(s->active, l->run))
			on_start_line(s, l, !strcmp(ev, "run_error"));
		return 0;
	}
	json_t *active = l->run[0] ? json_object_get(s->active, l->run) : NULL;
	if (!active)
		return 0;
	int action = !strcmp(ev, "action"), step_end = !strcmp(ev, "step_end");
	int end = !strcmp(ev, "run_end");
	if (action && json_real_value(json_object_get(active, "first_change")) != 0)
		return 0;
	if (!action && !step_end && !end)
		return 0;
	static const char *const keys[] = {"outcome", "phase", "step"};
	struct view v;
	if (view_open(&v, l->text, l->len, keys, 3) == 0) {
		const char *outcome = view_str(&v, 0);
		if (action && streq(outcome, "changed") && !streq(view_str(&v, 1), "rollback"))
			json_object_set_new(active, "first_change", json_real(l->ts));
		else if (step_end && streq(outcome, "failed"))
			on_failed_step(s, l->run, view_str(&v, 2));
		else if (end)
			on_end(s, l->run, outcome ? outcome : "error", l->ts);
	}
	view_close(&v);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least p of the samples at or below it. */
static json_t *percentile(const double *v, size_t n, double p)
{
	if (!n)
		return json_null();
	size_t rank = (size_t)ceil(p * (double)n);
	if (rank < 1)
		rank = 1;
	return json_real(round(v[rank - 1] * 1000.0) / 1000.0);
}

static int cmp_count(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	json_int_t cx = json_integer_value(json_object_get(x, "count"));
	json_int_t cy = json_integer_value(json_object_get(y, "count"));
	if (cx != cy)
		return cx > cy ? -1 : 1;
	return strcmp(str(x, "step"), str(y, "step"));
}

static json_t *groups_json(struct groups *g, const char *namekey)
{
	json_t *out = json_array();
	for (size_t i = 0; i < g->n; i++) {
		struct group *gr = &g->v[i];
		if (gr->nttr)
			qsort(gr->ttr, gr->nttr, sizeof *gr->ttr, cmp_double);
		size_t nf = json_object_size(gr->failing), k = 0;
		json_t **steps = calloc(nf ? nf : 1, sizeof *steps);
		const char *step;
		json_t *c;
		json_object_foreach(gr->failing, step, c) steps[k++] =
		    json_pack("{s:s, s:O}", "step", step, "count", c);
		if (nf)
			qsort(steps, nf, sizeof *steps, cmp_count);
		json_t *top = json_array();
		for (k = 0; k < nf; k++) {
			if (k < TOP_FAILING_STEPS)
				json_array_append(top, steps[k]);
			json_decref(steps[k]);
		}
		free(steps);
		json_array_append_new(
		    out, json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:o, s:o}",
		                   namekey, gr->name, "runs", (int)gr->runs, "success",
		                   (int)gr->success, "degraded", (int)gr->degraded, "rolled_back",
		                   (int)gr->rolled_back, "failed", (int)gr->failed, "unfinished",
		                   (int)gr->unfinished, "ttr_samples", (int)gr->nttr,
		                   "ttr_median_s", percentile(gr->ttr, gr->nttr, 0.5), "ttr_p90_s",
		                   percentile(gr->ttr, gr->nttr, 0.9), "failing_steps", top));
	}
	return out;
}

static void groups_free(struct groups *g)
{
	for (size_t i = 0; i < g->n; i++) {
		free(g->v[i].name);
		free(g->v[i].ttr);
		json_decref(g->v[i].failing);
	}
	free(g->v);
	json_decref(g->index);
}

json_t *salve_report_summary(const char *path, const struct salve_report_query *q, char *err,
                             size_t errlen)
{
	struct summary s;
	memset(&s, 0, sizeof s);
	s.q = q;
	s.runbooks.index = json_object();
	s.alert_names.index = json_object();
	s.active = json_object();
	s.pending = json_object();
	s.flaps = json_object();
	s.drills = json_object();
	struct salve_scan_result res;
	json_t *doc = NULL;
	if (salve_scan_log(path, on_line, &s, &res) != 0) {
		snprintf(err, errlen, "%s", res.verdict);
		goto out;
	}
	/* Runs still without an end: counted as unfinished. */
	const char *run;
	json_t *a, *tmp;
	json_object_foreach_safe(s.active, tmp, run, a) on_end(&s, run, "unfinished", 0);
	int threshold = q->flapping > 0 ? q->flapping : DEFAULT_FLAPPING;
	json_t *flapping = json_array();
	const char *fp;
	json_object_foreach(s.flaps, fp, a)
	{
		if (json_integer_value(json_object_get(a, "remediations")) > threshold)
			json_array_append_new(
			    flapping, json_pack("{s:s, s:O, s:O}", "fingerprint", fp, "alertname",
			                        json_object_get(a, "alertname"), "remediations",
			                        json_object_get(a, "remediations")));
	}
	json_t *drills = json_array();
	const char *rb;
	json_object_foreach(s.drills, rb, a)
	{
		struct drill_counts *d = &s.dv[json_integer_value(a)];
		json_array_append_new(
		    drills,
		    json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i}", "runbook", rb, "runs",
		              (int)d->runs, "dry_run", (int)d->dry_run, "fail_at", (int)d->fail_at,
		              "drill_notify", (int)d->drill_notify, "rollback_passed",
		              (int)d->rollback_passed, "rollback_failed", (int)d->rollback_failed));
	}
	long totals[6] = {0};
	for (size_t i = 0; i < s.runbooks.n; i++) {
		totals[0] += s.runbooks.v[i].runs;
		totals[1] += s.runbooks.v[i].success + s.runbooks.v[i].degraded;
		totals[2] += s.runbooks.v[i].rolled_back;
		totals[3] += s.runbooks.v[i].failed;
		totals[4] += s.runbooks.v[i].unfinished;
	}
	for (size_t i = 0; i < s.ndv; i++)
		totals[5] += s.dv[i].runs;
	char now[40];
	salve_timestamp(now, sizeof now);
	json_t *query = salve_report__query_json(q);
	json_object_set_new(query, "flapping", json_integer(threshold));
	doc = json_pack(
	    "{s:i, s:s, s:s, s:o, s:o, s:{s:i, s:i, s:i, s:i, s:i, s:i}, s:o, s:o, "
	    "s:o, s:o}",
	    "format", SALVE_REPORT_FORMAT, "kind", "summary", "generated_at", now, "audit",
	    salve_report__audit_json(path, &res), "query", query, "totals", "runs", (int)totals[0],
	    "success", (int)totals[1], "rolled_back", (int)totals[2], "failed", (int)totals[3],
	    "unfinished", (int)totals[4], "drill_runs", (int)totals[5], "runbooks",
	    groups_json(&s.runbooks, "runbook"), "alert_names",
	    groups_json(&s.alert_names, "alertname"), "flapping", flapping, "drills", drills);
out:
	groups_free(&s.runbooks);
	groups_free(&s.alert_names);
	json_decref(s.active);
	json_decref(s.pending);
	json_decref(s.flaps);
	json_decref(s.drills);
	free(s.dv);
	return doc;
}
