/* The status API and /metrics (see status.h). */
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ha.h"
#include "route.h"
#include "run.h"
#include "srv.h"
#include "util.h"

static const double latency_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10};
static const double step_bounds[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1,
                                     5,     10,    30,   60,   300, 600, 1800};

/* Alert to run start: milliseconds when a worker is free, minutes when the queue is full. */
static const double start_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                      2.5,   5,    10,    30,   60,  300,  900};
/* Alert start to remediation: approvals and slow steps make it minutes to hours. */
static const double remediate_bounds[] = {1,   5,    10,   30,   60,    120,   300,  600,
                                          900, 1800, 3600, 7200, 14400, 43200, 86400};

void srv_status_declare_metrics(srv_metrics *m)
{
	static const struct {
		const char *name;
		enum srv_metric_type type;
		const char *help;
		const double *bounds;
		size_t nbounds;
	} families[] = {
	    {"salve_alerts_received_total", SRV_COUNTER,
	     "Alerts received, by hook and alert status.", NULL, 0},
	    {"salve_alerts_matched_total", SRV_COUNTER, "Alerts a route matched.", NULL, 0},
	    {"salve_alerts_unmatched_total", SRV_COUNTER,
	     "Alerts no route matched (answered 200, audited).", NULL, 0},
	    {"salve_alerts_deduplicated_total", SRV_COUNTER,
	     "Alerts that did not start a run because one is active or cooling down for the "
	     "same alert or target.",
	     NULL, 0},
	    {"salve_alerts_refused_total", SRV_COUNTER,
	     "Alerts a guardrail refused, by route and reason.", NULL, 0},
	    {"salve_runs_accepted_total", SRV_COUNTER, "Runs queued, by route.", NULL, 0},
	    {"salve_runs_total", SRV_COUNTER, "Runs finished, by route, runbook and outcome.", NULL,
	     0},
	    {"salve_step_duration_seconds", SRV_HISTOGRAM,
	     "Duration of steps that ran (not skipped), by runbook.", step_bounds,
	     sizeof step_bounds / sizeof step_bounds[0]},
	    {"salve_alert_to_first_step_seconds", SRV_HISTOGRAM,
	     "From the webhook request to the start of the run's first step.", latency_bounds,
	     sizeof latency_bounds / sizeof latency_bounds[0]},
	    {"salve_run_time_to_start_seconds", SRV_HISTOGRAM,
	     "From the webhook request to the run's start, by route and runbook.", start_bounds,
	     sizeof start_bounds / sizeof start_bounds[0]},
	    {"salve_run_time_to_remediate_seconds", SRV_HISTOGRAM,
	     "From the alert's startsAt (else its receipt) to the end of a successful run (not "
	     "a dry-run), by route and runbook.",
	     remediate_bounds, sizeof remediate_bounds / sizeof remediate_bounds[0]},
	    {"salve_queue_depth", SRV_GAUGE, "Runs accepted and waiting for a worker.", NULL, 0},
	    {"salve_queue_capacity", SRV_GAUGE, "Runs the queue holds before the hooks answer 503.",
	     NULL, 0},
	    {"salve_runs_active", SRV_GAUGE, "Runs started and not finished.", NULL, 0},
	    {"salve_runs_awaiting_approval", SRV_GAUGE,
	     "Runs waiting for POST /runs/ID/approve or deny.", NULL, 0},
	    {"salve_route_circuit_open", SRV_GAUGE,
	     "1 when the route's circuit breaker is open (route disabled).", NULL, 0},
	    {"salve_route_consecutive_failures", SRV_GAUGE, "Failed runs in a row, by route.", NULL,
	     0},
	    {"salve_paused", SRV_GAUGE, "1 while salve serve is paused (salve pause).", NULL, 0},
	    {"salve_http_requests_total", SRV_COUNTER, "HTTP requests, by handler and status code.",
	     NULL, 0},
	    {"salve_http_connections", SRV_GAUGE,
	     "Open HTTP connections (libmicrohttpd closes those over max_connections_per_ip "
	     "before they count).",
	     NULL, 0},
	    {"salve_runs_dropped_total", SRV_COUNTER,
	     "Queued runs dropped without running, by route and reason (stale: accepted longer "
	     "than server.stale_after ago).",
	     NULL, 0},
	    {"salve_ha_etcd_reachable", SRV_GAUGE,
	     "With ha: 1 when etcd answered the last request, else 0.", NULL, 0},
	    {"salve_ha_decision_retries_total", SRV_COUNTER,
	     "With ha: decisions that took another etcd transaction because a key changed "
	     "meanwhile (another replica's write, or a document seen before it changed).",
	     NULL, 0},
	    {"salve_http_request_timeouts_total", SRV_COUNTER,
	     "Connections closed because a request did not arrive whole within "
	     "server.request_timeout.",
	     NULL, 0},
	};
	for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
		srv_metrics_declare(m, families[i].name, families[i].type, families[i].help,
		                    families[i].bounds, families[i].nbounds);
}

static json_t *run_brief(const struct srv_run *r)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:b, s:b, s:s, s:s?, s:s?}", "id",
	                      r->id, "route", r->rs->route->name, "runbook",
	                      srv_run_runbook_label(r), "state", srv_run_state_name(r->state),
	                      "fingerprint", srv_run_fingerprint(r), "outcome", r->outcome,
	                      "dry_run", r->dry_run, "resolved", r->resolved, "created_at",
	                      r->created_at, "started_at", r->started_at[0] ? r->started_at : NULL,
	                      "ended_at", r->ended_at[0] ? r->ended_at : NULL);
	if (r->state == SRV_RUN_AWAITING_APPROVAL)
		json_object_set_new(o, "awaiting_step", json_string(r->approval_step));
	return o;
}

int srv_status_runs(struct srv_server *s, const char *state, const char *route, int limit,
                    json_t **out)
{
	json_t *list = json_array();
	pthread_mutex_lock(&s->mu);
	for (struct srv_run *r = s->newest; r && (limit <= 0 || (int)json_array_size(list) < limit);
	     r = r->older) {
		if (state && strcmp(state, srv_run_state_name(r->state)) != 0)
			continue;
		if (route && strcmp(route, r->rs->route->name) != 0)
			continue;
		json_array_append_new(list, run_brief(r));
	}
	json_t *o = json_pack("{s:o, s:I, s:I, s:I, s:b}", "runs", list, "queued",
	                      (json_int_t)s->queued, "active", (json_int_t)s->active,
	                      "awaiting_approval", (json_int_t)s->awaiting, "paused", s->paused);
	pthread_mutex_unlock(&s->mu);
	*out = o;
	return 200;
}

/* Under mu: the approval of r as GET /runs/ID shows it. */
static json_t *approval_of(const struct srv_run *r)
{
	json_t *a = json_pack("{s:s, s:s, s:s}", "step", r->approval_step, "state",
	                      srv_approval_name(r->approval), "deadline", r->approval_deadline_at);
	if (r->approval_by)
		json_object_set_new(a, "by", json_string(r->approval_by));
	if (r->approval_comment)
		json_object_set_new(a, "comment", json_string(r->approval_comment));
	return a;
}

int srv_status_run(struct srv_server *s, const char *id, json_t **out)
{
	pthread_mutex_lock(&s->mu);
	struct srv_run *r = srv_run_find(s, id);
	if (!r) {
		pthread_mutex_unlock(&s->mu);
		*out = json_pack("{s:s}", "error",
		                 "no such run (finished runs are kept up to "
		                 "server.history; the audit log has them all)");
		return 404;
	}
	json_t *o = run_brief(r);
	json_object_set_new(o, "runbook_source", json_string(r->runbook));
	json_object_set(o, "params", r->params);
	json_object_set_new(o, "alert",
	                    json_pack("{s:O, s:O, s:O, s:O, s:O}", "status",
	                              json_object_get(r->alert, "status"), "labels",
	                              json_object_get(r->alert, "labels"), "annotations",
	                              json_object_get(r->alert, "annotations"), "startsAt",
	                              json_object_get(r->alert, "startsAt"), "fingerprint",
	                              json_object_get(r->alert, "fingerprint")));
	json_object_set_new(o, "target", json_string(r->target ? r->target : ""));
	json_object_set_new(o, "steps", json_deep_copy(r->steps));
	if (r->state == SRV_RUN_FINISHED && r->outcome && strcmp(r->outcome, "cancelled") != 0)
		json_object_set_new(o, "exit_code", json_integer(r->exit_code));
	if (r->error)
		json_object_set_new(o, "error", json_string(r->error));
	if (r->cancel_reason)
		json_object_set_new(o, "cancel_reason", json_string(r->cancel_reason));
	if (r->first_step_at[0]) {
		json_object_set_new(o, "first_step_at", json_string(r->first_step_at));
		json_object_set_new(o, "alert_to_first_step_ms",
		                    json_real((r->t_first_step - r->t_created) * 1000.0));
	}
	if (r->approval != SRV_APPROVAL_NONE)
		json_object_set_new(o, "approval", approval_of(r));
	pthread_mutex_unlock(&s->mu);
	*out = o;
	return 200;
}

/* The keys cooling down that GET /routes lists per route: the soonest to expire. */
enum { COOLING_SHOWN = 10 };

struct cooling_entry {
	const char *key, *run_id; /* borrowed from the dedup table (under mu) */
	double left;
};

struct route_cooling {
	size_t count;
	size_t n;
	struct cooling_entry soonest[COOLING_SHOWN]; /* ascending by left */
};

struct cooling_scan {
	struct srv_server *s;
	struct route_cooling *per_route;
};

/* The route a dedup key belongs to: "o<US>ROUTE<US>..." (an occurrence) or
 * "t<US>ROUTE[#resolved]<US>..." (a target), route names having neither separator. */
static long cooling_route(const struct srv_server *s, const char *key)
{
	if ((key[0] != 'o' && key[0] != 't') || key[1] != '\x1f')
		return -1;
	const char *name = key + 2, *end = strchr(name, '\x1f');
	if (!end)
		return -1;
	size_t n = (size_t)(end - name);
	static const char resolved[] = "#resolved";
	if (key[0] == 't' && n > sizeof resolved - 1 &&
	    memcmp(end - (sizeof resolved - 1), resolved, sizeof resolved - 1) == 0)
		n -= sizeof resolved - 1;
	for (size_t i = 0; i < s->routes.n; i++) {
		const char *rn = s->routes.v[i].name;
		if (strlen(rn) == n && memcmp(rn, name, n) == 0)
			return (long)i;
	}
	return -1;
}

static void cooling_visit(void *arg, const char *key, const char *run_id, double left)
{
	struct cooling_scan *scan = arg;
	long i = cooling_route(scan->s, key);
	if (i < 0)
		return;
	struct route_cooling *c = &scan->per_route[i];
	c->count++;
	size_t at = c->n;
	while (at > 0 && c->soonest[at - 1].left > left)
		at--;
	if (at >= COOLING_SHOWN)
		return;
	size_t keep = c->n < COOLING_SHOWN ? c->n : COOLING_SHOWN - 1;
	memmove(&c->soonest[at + 1], &c->soonest[at], (keep - at) * sizeof c->soonest[0]);
	c->soonest[at] = (struct cooling_entry){key, run_id, left};
	if (c->n < COOLING_SHOWN)
		c->n++;
}

/* Whole seconds, rounded up: a key shown with 0 s left has expired. */
static json_int_t seconds_up(double seconds)
{
	json_int_t whole = (json_int_t)seconds;
	return whole < seconds ? whole + 1 : whole;
}

/* Under mu: one key cooling down. An occurrence key names the alert,
 * "o<US>ROUTE<US>FINGERPRINT<US>STARTS[<US>resolved]", read from its end (a fingerprint may
 * hold anything; the normalized startsAt holds no separator). A target key holds only the
 * target's hash: the target is the run's while the run is in the history. */
static json_t *cooling_json(struct srv_server *s, const struct cooling_entry *e)
{
	static const char resolved_tail[] = "\x1fresolved";
	const size_t tail = sizeof resolved_tail - 1;
	const char *route = e->key + 2, *route_end = strchr(route, '\x1f');
	if (!route_end)
		route_end = route + strlen(route);
	const char *rest = *route_end ? route_end + 1 : route_end;
	size_t len = strlen(rest);
	int occurrence = e->key[0] == 'o', resolved;
	if (occurrence) {
		resolved = len >= tail && memcmp(rest + len - tail, resolved_tail, tail) == 0;
		len -= resolved ? tail : 0;
	} else {
		resolved = route_end - route > 9 && memcmp(route_end - 9, "#resolved", 9) == 0;
	}
	json_t *o =
	    json_pack("{s:s, s:s, s:I, s:b}", "kind", occurrence ? "alert" : "target", "run",
	              e->run_id, "seconds_left", seconds_up(e->left), "resolved", resolved);
	if (occurrence) {
		size_t fp = len;
		while (fp > 0 && rest[fp - 1] != '\x1f')
			fp--;
		if (fp > 0) {
			json_object_set_new(o, "fingerprint", json_stringn(rest, fp - 1));
			json_object_set_new(o, "starts_at", json_stringn(rest + fp, len - fp));
		}
	}
	const struct srv_run *r = srv_run_find(s, e->run_id);
	if (r && r->target)
		json_object_set_new(o, "target", json_string(r->target));
	return o;
}

/* Runs started within the rate window (the ring holds the last count start times). */
static json_t *rate_json(const srv_rate *rate, double now)
{
	int used = 0;
	for (int i = 0; i < rate->used; i++)
		used += now - rate->times[(rate->head + i) % rate->count] < rate->window;
	json_t *o = json_pack("{s:i, s:f, s:i}", "limit", rate->count, "window_seconds",
	                      rate->window, "used", used);
	if (rate->count > 0 && used >= rate->count)
		json_object_set_new(
		    o, "next_in_seconds",
		    json_integer(seconds_up(rate->window - (now - rate->times[rate->head]))));
	return o;
}

static json_t *targets_json(const srv_targets *t, double now)
{
	int counted = 0;
	for (size_t i = 0; i < t->n; i++)
		counted += now - t->v[i].last < t->window;
	return json_pack("{s:i, s:f, s:i}", "max_targets", t->max, "window_seconds", t->window,
	                 "targets", counted);
}

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* With ha: a route's rate and blast radius as the documents in etcd were last seen (the
 * watcher reads them every second), shown as the local ones are. */
static void shared_windows(struct srv_server *s, const srv_route *r, json_t *o)
{
	json_t *circuit = NULL, *window = NULL;
	srv_ha_known(s->ha, r->name, &circuit, &window, NULL);
	srv_rate rate;
	srv_targets targets;
	double now = wall_now();
	if (srv_rate_init(&rate, r->rate_count, r->rate_window) == 0) {
		srv_targets_init(&targets, r->max_targets, r->targets_window);
		if (srv_window_load(window, &rate, &targets) == 0) {
			json_object_set_new(o, "rate_limit", rate_json(&rate, now));
			json_object_set_new(o, "blast_radius", targets_json(&targets, now));
		}
		srv_targets_free(&targets);
		srv_rate_free(&rate);
	}
	if (r->breaker > 0 && circuit) {
		json_object_set_new(
		    o, "consecutive_failures",
		    json_integer(json_integer_value(json_object_get(circuit, "failures"))));
		if (srv_breaker_open(circuit)) {
			json_object_set_new(o, "circuit_open", json_true());
			json_object_set(o, "circuit_reason", json_object_get(circuit, "reason"));
		}
	}
	json_object_set_new(o, "shared", json_true());
	json_decref(circuit);
	json_decref(window);
}

static json_t *shared_server_window(struct srv_server *s)
{
	json_t *window = NULL, *o = NULL;
	srv_ha_known(s->ha, NULL, NULL, NULL, &window);
	srv_targets t;
	srv_targets_init(&t, s->conf.global_max_targets, s->conf.global_targets_window);
	if (srv_window_load(window, NULL, &t) == 0)
		o = targets_json(&t, wall_now());
	srv_targets_free(&t);
	json_decref(window);
	return o;
}

int srv_status_routes(struct srv_server *s, json_t **out)
{
	json_t *list = json_array();
	struct route_cooling *cooling = calloc(s->routes.n + 1, sizeof *cooling);
	if (!cooling) {
		json_decref(list);
		*out = json_pack("{s:s}", "error", "out of memory");
		return 500;
	}
	pthread_mutex_lock(&s->mu);
	double now = salve_now(); /* under mu: no event recorded after it is read */
	struct cooling_scan scan = {s, cooling};
	srv_dedup_each_cooling(s->dedup, now, cooling_visit, &scan);
	for (size_t i = 0; i < s->routes.n; i++) {
		const struct srv_route_state *rs = &s->rs[i];
		const srv_route *r = rs->route;
		json_t *soonest = json_array();
		for (size_t k = 0; k < cooling[i].n; k++)
			json_array_append_new(soonest, cooling_json(s, &cooling[i].soonest[k]));
		json_t *o = json_pack("{s:s, s:o, s:s, s:b, s:b, s:i, s:i, s:i, s:b, s:s?}", "name",
		                      r->name, "matchers", srv_route_matchers_json(r), "runbook",
		                      r->runbook, "dry_run", r->dry_run, "continue", r->cont,
		                      "active", rs->active, "queued", rs->queued,
		                      "consecutive_failures", rs->failures, "circuit_open",
		                      rs->open, "circuit_reason", rs->open_reason);
		json_object_set_new(o, "cooldown",
		                    json_pack("{s:f, s:I, s:o}", "seconds", r->cooldown, "cooling",
		                              (json_int_t)cooling[i].count, "soonest", soonest));
		json_object_set_new(o, "rate_limit", rate_json(&rs->rate, now));
		json_object_set_new(o, "blast_radius", targets_json(&rs->targets, now));
		if (s->ha)
			shared_windows(s, r, o);
		json_array_append_new(list, o);
	}
	json_t *server = s->ha ? shared_server_window(s) : NULL;
	json_t *o =
	    json_pack("{s:o, s:b, s:o}", "routes", list, "paused", s->paused, "blast_radius",
	              server ? server : targets_json(&s->global_targets, now));
	pthread_mutex_unlock(&s->mu);
	free(cooling);
	*out = o;
	return 200;
}

char *srv_status_metrics(struct srv_server *s)
{
	char labels[512];
	pthread_mutex_lock(&s->mu);
	srv_metrics_set(s->metrics, "salve_queue_depth", "", (double)s->queued);
	srv_metrics_set(s->metrics, "salve_queue_capacity", "", s->conf.queue_size);
	srv_metrics_set(s->metrics, "salve_runs_active", "", (double)s->active);
	srv_metrics_set(s->metrics, "salve_runs_awaiting_approval", "", (double)s->awaiting);
	srv_metrics_set(s->metrics, "salve_paused", "", s->paused);
	if (s->mhd) {
		pthread_mutex_lock(&s->conn_mu);
		srv_metrics_set(s->metrics, "salve_http_connections", "", s->nconns);
		pthread_mutex_unlock(&s->conn_mu);
	}
	for (size_t i = 0; i < s->routes.n; i++) {
		const struct srv_route_state *rs = &s->rs[i];
		int open = rs->open, failures = rs->failures;
		if (s->ha && rs->route->breaker > 0) {
			json_t *circuit = NULL;
			srv_ha_known(s->ha, rs->route->name, &circuit, NULL, NULL);
			open |= srv_breaker_open(circuit);
			failures = (int)json_integer_value(json_object_get(circuit, "failures"));
			json_decref(circuit);
		}
		srv_route_labels(labels, sizeof labels, rs);
		srv_metrics_set(s->metrics, "salve_route_circuit_open", labels, open);
		srv_metrics_set(s->metrics, "salve_route_consecutive_failures", labels, failures);
	}
	if (s->ha) {
		int reachable = 0;
		json_t *health = srv_ha_health(s->ha, &reachable);
		srv_metrics_set(s->metrics, "salve_ha_etcd_reachable", "", reachable);
		/* A counter kept by ha.c: brought up to its count. */
		double retried = (double)json_integer_value(
		    json_object_get(json_object_get(health, "decisions"), "retried"));
		srv_metrics_add(
		    s->metrics, "salve_ha_decision_retries_total", "",
		    retried - srv_metrics_value(s->metrics, "salve_ha_decision_retries_total", ""));
		json_decref(health);
	}
	char *text = srv_metrics_render(s->metrics);
	pthread_mutex_unlock(&s->mu);
	return text;
}

json_t *srv_status_health(struct srv_server *s)
{
	json_t *list = NULL;
	srv_status_runs(s, NULL, NULL, 1, &list);
	json_t *o = json_pack(
	    "{s:s, s:O, s:O, s:O}", "status", "ok", "paused", json_object_get(list, "paused"),
	    "queued", json_object_get(list, "queued"), "active", json_object_get(list, "active"));
	json_decref(list);
	if (s->ha) {
		int reachable = 0;
		json_object_set_new(o, "ha", srv_ha_health(s->ha, &reachable));
		if (!reachable)
			json_object_set_new(o, "status", json_string("degraded"));
	}
	return o;
}

void srv_status_count_timeouts(struct srv_server *s, int n)
{
	pthread_mutex_lock(&s->mu);
	srv_metrics_add(s->metrics, "salve_http_request_timeouts_total", "", n);
	pthread_mutex_unlock(&s->mu);
}

void srv_status_count_request(struct srv_server *s, const char *handler, unsigned status)
{
	char labels[256], code[16];
	snprintf(code, sizeof code, "%u", status);
	srv_metrics_labels(labels, sizeof labels, "handler", handler, "code", code, NULL);
	pthread_mutex_lock(&s->mu);
	srv_metrics_add(s->metrics, "salve_http_requests_total", labels, 1);
	pthread_mutex_unlock(&s->mu);
}
