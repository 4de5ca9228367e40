/* salve routes (test, list, reset), salve pause and salve resume. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "circuits.h"
#include "cli.h"
#include "env.h"
#include "exitcodes.h"
#include "log.h"
#include "pause.h"
#include "render.h"
#include "route.h"
#include "runbook.h"
#include "state.h"
#include "util.h"

/* ---- salve routes --------------------------------------------------------------------------- */

static const char routes_usage[] =
    "usage: salve routes test --config salve.yaml [--json] ALERT.json\n"
    "       salve routes list --config salve.yaml [--json]\n"
    "       salve routes reset --config salve.yaml ROUTE\n"
    "\n"
    "test   shows which route each alert of ALERT.json (an Alertmanager webhook payload, or\n"
    "       the generic hook's JSON) takes, the params it would get and whether the\n"
    "       runbook accepts them. Nothing is run. Exit 0, or 65 when a matched route's\n"
    "       params cannot be built or the runbook refuses them.\n"
    "list   the routes and whether their circuit breaker is open\n"
    "reset  closes a route's circuit breaker (a running server notices at the next alert)\n";

struct checked_runbook {
	char *path;
	salve_runbook *rb;
	char *error;
	int code;
};

static struct checked_runbook *runbook_cached(struct checked_runbook *cache, size_t *n, size_t max,
                                              salve_registry *reg, const char *path)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(cache[i].path, path) == 0)
			return &cache[i];
	if (*n >= max)
		return NULL;
	struct checked_runbook *c = &cache[(*n)++];
	memset(c, 0, sizeof *c);
	char err[4096];
	c->path = strdup(path);
	c->rb = salve_runbook_load(path, reg, &c->code, err, sizeof err);
	if (!c->rb)
		c->error = strdup(err);
	return c;
}

static json_t *test_route(const srv_route *r, const json_t *alert, salve_registry *reg,
                          struct checked_runbook *cache, size_t *ncache, int *bad)
{
	int resolved = strcmp(json_string_value(json_object_get(alert, "status")), "resolved") == 0;
	json_t *o = json_pack("{s:s, s:b}", "route", r->name, "matched", 1);
	if (resolved && r->on_resolved != SRV_RESOLVED_RUN) {
		json_object_set_new(
		    o, "action",
		    json_string(r->on_resolved == SRV_RESOLVED_CANCEL ? "cancel" : "ignore"));
		return o;
	}
	json_object_set_new(o, "action", json_string(resolved ? "run_on_resolved" : "run"));
	const char *runbook = resolved ? r->resolved_runbook : r->runbook;
	json_object_set_new(o, "runbook", json_string(runbook));
	json_object_set_new(o, "dry_run",
	                    json_boolean(resolved ? r->resolved_dry_run : r->dry_run));
	json_t *params = NULL;
	char *target = NULL;
	char err[4096];
	if (srv_render_params(r, alert, resolved, &params, &target, err, sizeof err) < 0) {
		json_object_set_new(o, "error", json_string(err));
		*bad = 1;
		return o;
	}
	json_object_set_new(o, "params", params);
	json_object_set_new(o, "target", json_string(target));
	free(target);
	struct checked_runbook *c = runbook_cached(cache, ncache, 64, reg, runbook);
	if (!c || !c->rb) {
		json_object_set_new(
		    o, "runbook_check",
		    json_pack("{s:s, s:s}", "state", "not_checked", "reason",
		              c && c->error ? c->error : "too many runbooks to check"));
		if (c && c->code == SALVE_EXIT_INVALID_RUNBOOK)
			*bad = 1;
		return o;
	}
	json_t *validated = NULL;
	if (salve_runbook_params(c->rb, params, &validated, err, sizeof err) < 0) {
		json_object_set_new(o, "runbook_check",
		                    json_pack("{s:s, s:s}", "state", "refused", "reason", err));
		*bad = 1;
	} else {
		json_object_set_new(o, "runbook_check",
		                    json_pack("{s:s, s:s, s:o}", "state", "accepted", "runbook",
		                              c->rb->name, "params", validated));
	}
	return o;
}

/* One line of routes test's report: alert values are escaped, the line's own newline kept. */
static void print_escaped(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void print_escaped(const char *fmt, ...)
{
	char raw[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	size_t n = strlen(raw);
	int newline = n > 0 && raw[n - 1] == '\n';
	if (newline)
		raw[n - 1] = '\0';
	srv_log_fputs(raw, stdout);
	if (newline)
		putchar('\n');
}

static void print_test(const json_t *report)
{
	size_t i;
	json_t *a;
	size_t n = json_array_size(json_object_get(report, "alerts"));
	json_array_foreach(json_object_get(report, "alerts"), i, a)
	{
		const char *name =
		    json_string_value(json_object_get(json_object_get(a, "labels"), "alertname"));
		print_escaped("alert %zu/%zu: %s (fingerprint %s, %s, startsAt %s)\n", i + 1, n,
		              name ? name : "(no alertname)",
		              json_string_value(json_object_get(a, "fingerprint")),
		              json_string_value(json_object_get(a, "status")),
		              *json_string_value(json_object_get(a, "startsAt"))
		                  ? json_string_value(json_object_get(a, "startsAt"))
		                  : "-");
		size_t k;
		json_t *r;
		int any = 0;
		json_array_foreach(json_object_get(a, "routes"), k, r)
		{
			const char *route = json_string_value(json_object_get(r, "route"));
			if (!json_is_true(json_object_get(r, "matched"))) {
				const char *why = json_string_value(json_object_get(r, "why"));
				print_escaped(
				    "  route %s: %s\n", route,
				    why ? why
				        : "not tried (an earlier route matched and does not "
				          "continue)");
				continue;
			}
			any = 1;
			const char *action = json_string_value(json_object_get(r, "action"));
			print_escaped("  route %s: MATCHES -> %s\n", route, action);
			if (strcmp(action, "cancel") == 0 || strcmp(action, "ignore") == 0)
				continue;
			print_escaped(
			    "    runbook: %s%s\n", json_string_value(json_object_get(r, "runbook")),
			    json_is_true(json_object_get(r, "dry_run")) ? " (dry-run)" : "");
			const char *err = json_string_value(json_object_get(r, "error"));
			if (err) {
				print_escaped("    ERROR: %s\n", err);
				continue;
			}
			char *p = json_dumps(json_object_get(r, "params"), JSON_COMPACT);
			print_escaped("    params:  %s\n", p ? p : "?");
			free(p);
			print_escaped("    target:  %s\n",
			              json_string_value(json_object_get(r, "target")));
			json_t *chk = json_object_get(r, "runbook_check");
			const char *state = json_string_value(json_object_get(chk, "state"));
			if (strcmp(state, "accepted") == 0) {
				char *vp = json_dumps(json_object_get(chk, "params"),
				                      JSON_COMPACT | JSON_SORT_KEYS);
				print_escaped("    runbook %s accepts them: %s\n",
				              json_string_value(json_object_get(chk, "runbook")),
				              vp ? vp : "?");
				free(vp);
			} else {
				print_escaped("    runbook %s: %s\n",
				              strcmp(state, "refused") == 0 ? "REFUSES them"
				                                            : "not checked",
				              json_string_value(json_object_get(chk, "reason")));
			}
		}
		if (!any)
			print_escaped(
			    "  no route matches: salve serve answers 200 and audits it as "
			    "unmatched\n");
	}
}

static int routes_test(struct srv_env *e, const char *file, int as_json)
{
	size_t len = 0;
	char *text = salve_read_file(file, &len);
	if (!text) {
		fprintf(stderr, "salve: routes test: %s: %s\n", file, strerror(errno));
		return SALVE_EXIT_USAGE;
	}
	char err[4096];
	json_t *payload = srv_alert_parse_json(text, len, 64, err, sizeof err);
	free(text);
	if (!payload) {
		srv_log(SALVE_LOG_ERROR, "routes test: %s: %s", file, err);
		return SALVE_EXIT_USAGE;
	}
	int is_am = json_is_object(payload) && json_is_array(json_object_get(payload, "alerts")) &&
	            (json_object_get(payload, "version") || json_object_get(payload, "receiver") ||
	             json_object_get(payload, "groupKey"));
	json_t *alerts = is_am ? srv_alerts_from_alertmanager(payload, err, sizeof err)
	                       : srv_alerts_from_generic(payload, err, sizeof err);
	json_decref(payload);
	if (!alerts) {
		srv_log(SALVE_LOG_ERROR, "routes test: %s: %s", file, err);
		return SALVE_EXIT_USAGE;
	}
	struct checked_runbook cache[64];
	size_t ncache = 0;
	int bad = 0;
	json_t *out = json_array();
	size_t i;
	json_t *alert;
	json_array_foreach(alerts, i, alert)
	{
		json_t *routes = json_array();
		int stopped = 0;
		for (size_t k = 0; k < e->routes.n; k++) {
			const srv_route *r = &e->routes.v[k];
			if (stopped) {
				json_array_append_new(routes, json_pack("{s:s, s:b}", "route",
				                                        r->name, "matched", 0));
				continue;
			}
			char why[1024];
			if (!srv_route_match(r, json_object_get(alert, "labels"), why,
			                     sizeof why)) {
				json_array_append_new(routes,
				                      json_pack("{s:s, s:b, s:s}", "route", r->name,
				                                "matched", 0, "why", why));
				continue;
			}
			json_array_append_new(
			    routes, test_route(r, alert, e->core.reg, cache, &ncache, &bad));
			stopped = !r->cont;
		}
		json_array_append_new(out, json_pack("{s:O, s:O, s:O, s:O, s:o}", "fingerprint",
		                                     json_object_get(alert, "fingerprint"),
		                                     "status", json_object_get(alert, "status"),
		                                     "startsAt", json_object_get(alert, "startsAt"),
		                                     "labels", json_object_get(alert, "labels"),
		                                     "routes", routes));
	}
	json_t *report =
	    json_pack("{s:s, s:o}", "payload", is_am ? "alertmanager" : "generic", "alerts", out);
	if (as_json) {
		char *s = json_dumps(report, JSON_INDENT(2));
		if (s)
			puts(s);
		free(s);
	} else {
		print_test(report);
	}
	json_decref(report);
	json_decref(alerts);
	for (size_t k = 0; k < ncache; k++) {
		free(cache[k].path);
		free(cache[k].error);
		salve_runbook_free(cache[k].rb);
	}
	return bad ? SALVE_EXIT_INVALID_RUNBOOK : 0;
}

static int routes_list(struct srv_env *e, int as_json)
{
	/* Read only: listing must not create the state dir. */
	char serve_dir[4096];
	snprintf(serve_dir, sizeof serve_dir, "%s/serve", e->core.state_dir);
	json_t *list = json_array();
	for (size_t i = 0; i < e->routes.n; i++) {
		const srv_route *r = &e->routes.v[i];
		char path[4400];
		snprintf(path, sizeof path, "%s/circuits/%s.open", serve_dir, r->name);
		char err[1024];
		char *file = srv_state_read_file(path, 1 << 20, NULL, err, sizeof err);
		json_t *open = file ? json_loads(file, 0, NULL) : NULL;
		if (!file && errno != ENOENT)
			open = json_pack("{s:s, s:s}", "opened_at", "?", "reason", err);
		free(file);
		json_array_append_new(list, json_pack("{s:s, s:o, s:s, s:b, s:o}", "name", r->name,
		                                      "matchers", srv_route_matchers_json(r),
		                                      "runbook", r->runbook, "dry_run", r->dry_run,
		                                      "circuit", open ? open : json_null()));
	}
	if (as_json) {
		json_t *o = json_pack("{s:o}", "routes", list);
		char *s = json_dumps(o, JSON_INDENT(2));
		if (s)
			puts(s);
		free(s);
		json_decref(o);
		return 0;
	}
	size_t i;
	json_t *r;
	json_array_foreach(list, i, r)
	{
		json_t *c = json_object_get(r, "circuit");
		printf("%-24s %s%s\n", json_string_value(json_object_get(r, "name")),
		       json_string_value(json_object_get(r, "runbook")),
		       json_is_true(json_object_get(r, "dry_run")) ? " (dry-run)" : "");
		char *m = json_dumps(json_object_get(r, "matchers"), JSON_COMPACT);
		printf("    matchers: %s\n", m ? m : "[]");
		free(m);
		if (json_is_object(c))
			printf("    CIRCUIT OPEN since %s: %s\n",
			       json_string_value(json_object_get(c, "opened_at")),
			       json_string_value(json_object_get(c, "reason")));
	}
	json_decref(list);
	return 0;
}

static int routes_reset(struct srv_env *e, const char *name)
{
	int known = 0;
	for (size_t i = 0; i < e->routes.n; i++)
		known |= strcmp(e->routes.v[i].name, name) == 0;
	if (!known) {
		fprintf(stderr, "salve: routes reset: no route named %s in %s\n", name,
		        e->core.cfg.path ? e->core.cfg.path : "the config");
		return SALVE_EXIT_USAGE;
	}
	char serve_dir[4096], circuits[4200], err[1024];
	if (srv_state_paths(e->core.state_dir, serve_dir, sizeof serve_dir, err, sizeof err) < 0) {
		fprintf(stderr, "salve: %s\n", err);
		return SALVE_EXIT_CANTCREAT;
	}
	snprintf(circuits, sizeof circuits, "%s/circuits", serve_dir);
	/* With ha: the shared circuit first (every replica's), then this host's file. */
	int shared_open = 0;
	int shared = srv_circuit_reset_shared(&e->conf, name, &shared_open, err, sizeof err);
	if (shared < 0) {
		fprintf(stderr, "salve: routes reset: %s\n", err);
		return SALVE_EXIT_UNAVAILABLE;
	}
	int rc = srv_state_remove_circuit(circuits, name, err, sizeof err);
	if (rc < 0) {
		fprintf(stderr, "salve: routes reset: %s\n", err);
		return SALVE_EXIT_CANTCREAT;
	}
	rc = rc == 1 || shared_open;
	json_t *rec = json_pack("{s:s, s:s, s:s, s:b, s:s}", "event", "circuit_reset", "route",
	                        name, "by", srv_env_who(), "was_open", rc, "via", "cli");
	if (shared)
		json_object_set_new(rec, "shared", json_true());
	srv_env_audit(e->core.audit_path, e->core.cfg.audit_sync, rec);
	printf("salve: route %s: circuit %s\n", name,
	       rc == 1 ? "closed (alerts start runs again)" : "was not open");
	return 0;
}

int salve_routes_main(const struct salve_cli_globals *globals, int argc, char **argv)
{
	struct salve_cli_globals gl;
	if ((argc = srv_env_take_globals(globals, &gl, argc, argv)) < 0)
		return SALVE_EXIT_USAGE;
	const struct salve_cli_globals *g = &gl;
	int as_json = 0;
	const char *args[4];
	int nargs = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			as_json = 1;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(routes_usage, stdout);
			return 0;
		} else if (argv[i][0] == '-' || nargs == 4) {
			fputs(routes_usage, stderr);
			return SALVE_EXIT_USAGE;
		} else {
			args[nargs++] = argv[i];
		}
	}
	int ok = (nargs == 2 && strcmp(args[0], "test") == 0) ||
	         (nargs == 1 && strcmp(args[0], "list") == 0) ||
	         (nargs == 2 && strcmp(args[0], "reset") == 0);
	if (!ok) {
		fputs(routes_usage, stderr);
		return SALVE_EXIT_USAGE;
	}
	if (!g->config_path) {
		fprintf(stderr, "salve: routes needs --config salve.yaml\n");
		return SALVE_EXIT_USAGE;
	}
	struct srv_env e;
	int code = srv_env_open(&e, g, 1);
	if (code)
		return code;
	if (strcmp(args[0], "test") == 0)
		code = routes_test(&e, args[1], as_json);
	else if (strcmp(args[0], "list") == 0)
		code = routes_list(&e, as_json);
	else
		code = routes_reset(&e, args[1]);
	srv_env_close(&e);
	return code;
}

/* ---- salve pause / resume -------------------------------------------------------------------- */

int salve_control_main(const struct salve_cli_globals *globals, int argc, char **argv)
{
	struct salve_cli_globals gl;
	if ((argc = srv_env_take_globals(globals, &gl, argc, argv)) < 0)
		return SALVE_EXIT_USAGE;
	const struct salve_cli_globals *g = &gl;
	static const char usage[] =
	    "usage: salve pause [--config salve.yaml] [--reason TEXT]\n"
	    "       salve resume [--config salve.yaml]\n"
	    "\n"
	    "pause stops salve serve from starting runs: alerts are still received and audited,\n"
	    "and refused with reason \"paused\"; runs already queued wait. resume lifts it. The\n"
	    "switch is the file STATE_DIR/serve/paused, which the server checks on every\n"
	    "request and every second. With ha: in salve.yaml it is the key PREFIX/pause in\n"
	    "etcd instead, which every replica reads with each alert and every 0.25 s for its\n"
	    "queued runs (docs/ha.md).\n";
	int pause = strcmp(argv[0], "pause") == 0;
	const char *reason = NULL;
	static const struct option opts[] = {
	    {"reason", required_argument, 0, 'r'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+r:h", opts, NULL)) != -1) {
		if (c == 'r' && pause) {
			reason = optarg;
		} else if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		} else {
			fputs(usage, stderr);
			return SALVE_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return SALVE_EXIT_USAGE;
	}
	struct srv_env e;
	int code = srv_env_open(&e, g, 0);
	if (code)
		return code;
	char serve_dir[4096], path[4200], err[1024];
	if (srv_state_paths(e.core.state_dir, serve_dir, sizeof serve_dir, err, sizeof err) < 0) {
		fprintf(stderr, "salve: %s\n", err);
		srv_env_close(&e);
		return SALVE_EXIT_CANTCREAT;
	}
	snprintf(path, sizeof path, "%s/paused", serve_dir);
	char why[1024];
	int was = srv_state_file_present(path, why, sizeof why) != 0, shared_was = 0;
	int shared =
	    srv_pause_shared(&e.conf, pause, srv_env_who(), reason, &shared_was, err, sizeof err);
	if (shared < 0) {
		fprintf(stderr, "salve: %s: %s\n", argv[0], err);
		srv_env_close(&e);
		return SALVE_EXIT_UNAVAILABLE;
	}
	was = shared ? shared_was : was;
	/* With ha: the switch is etcd's; resume lifts a local file too (left from before). */
	int wrote = (!shared || !pause)
	                ? srv_state_write_pause(path, pause, srv_env_who(), reason, err, sizeof err)
	                : 0;
	if (wrote < 0) {
		fprintf(stderr, "salve: %s: %s\n", argv[0], err);
		srv_env_close(&e);
		return SALVE_EXIT_CANTCREAT;
	}
	if (wrote > 0)
		fprintf(stderr, "salve: %s: warning: %s\n", argv[0], err);
	srv_env_audit(e.core.audit_path, e.core.cfg.audit_sync,
	              json_pack("{s:s, s:s, s:s?, s:b, s:s, s:b}", "event",
	                        pause ? "paused" : "resumed", "by", srv_env_who(), "reason", reason,
	                        "was_paused", was, "via", "cli", "shared", shared));
	printf("salve: %s%s\n",
	       pause ? "paused: salve serve starts no runs until salve resume"
	             : "resumed: salve serve starts runs again",
	       (pause == was) ? (pause ? " (it already was)" : " (it was not paused)") : "");
	srv_env_close(&e);
	return 0;
}
