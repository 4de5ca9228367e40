/* The commands of salve serve: serve, routes (test, list, reset), pause and resume. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alert.h"
#include "audit.h"
#include "cli.h"
#include "config.h"
#include "exitcodes.h"
#include "host.h"
#include "log.h"
#include "redact.h"
#include "registry.h"
#include "route.h"
#include "runbook.h"
#include "srv.h"
#include "util.h"
#include "yamljson.h"

/* What every command needs from the config and the global options. */
struct env {
	salve_config cfg;
	salve_serve_conf conf;
	salve_routes routes;
	salve_registry *reg;
	char *dirs_copy[2];
	const char *audit_path;
	const char *state_dir;
	int loaded_routes;
};

static void add_dirs(const char **dirs, size_t *n, size_t max, char *list)
{
	char *save = NULL;
	for (char *d = strtok_r(list, ":", &save); d && *n + 1 < max;
	     d = strtok_r(NULL, ":", &save))
		dirs[(*n)++] = d;
}

static void env_close(struct env *e)
{
	salve_registry_free(e->reg);
	if (e->loaded_routes)
		salve_routes_free(&e->routes);
	salve_serve_conf_free(&e->conf);
	salve_config_free(&e->cfg);
	free(e->dirs_copy[0]);
	free(e->dirs_copy[1]);
	memset(e, 0, sizeof *e);
}

/* Loads config, server settings and (with routes != 0) routes and the plugin registry. */
static int env_open(struct env *e, const struct salve_cli_globals *g, int routes)
{
	memset(e, 0, sizeof *e);
	char err[2048];
	if (salve_config_load(g->config_path, &e->cfg, err, sizeof err) < 0) {
		fprintf(stderr, "salve: config %s\n", err);
		salve_config_free(&e->cfg);
		return SALVE_EXIT_INVALID_RUNBOOK;
	}
	if (g->audit_sync) {
		if (strcmp(g->audit_sync, "always") == 0) {
			e->cfg.audit_sync = SALVE_AUDIT_SYNC_ALWAYS;
		} else if (strcmp(g->audit_sync, "none") == 0) {
			e->cfg.audit_sync = SALVE_AUDIT_SYNC_NONE;
		} else {
			fprintf(stderr, "salve: --audit-sync must be always or none, not %s\n",
			        g->audit_sync);
			salve_config_free(&e->cfg);
			return SALVE_EXIT_USAGE;
		}
	}
	e->audit_path = g->audit_path ? g->audit_path : e->cfg.audit_path;
	e->state_dir = g->state_dir ? g->state_dir : e->cfg.state_dir;
	const char *where = e->cfg.path ? e->cfg.path : "salve.yaml";
	if (salve_serve_conf_load(e->cfg.doc, e->cfg.path, &e->conf, err, sizeof err) < 0) {
		fprintf(stderr, "salve: config %s: %s\n", where, err);
		env_close(e);
		return SALVE_EXIT_INVALID_RUNBOOK;
	}
	if (!routes)
		return 0;
	if (salve_routes_load(e->cfg.doc, e->cfg.path, e->conf.runbook_dir, &e->routes, err,
	                      sizeof err) < 0) {
		fprintf(stderr, "salve: config %s: %s\n", where, err);
		env_close(e);
		return SALVE_EXIT_INVALID_RUNBOOK;
	}
	e->loaded_routes = 1;
	const char *dirs[40];
	size_t n = 0;
	if (g->plugin_path) {
		e->dirs_copy[0] = strdup(g->plugin_path);
		add_dirs(dirs, &n, 40, e->dirs_copy[0]);
	}
	const char *envp = getenv("SALVE_PLUGIN_PATH");
	if (envp) {
		e->dirs_copy[1] = strdup(envp);
		add_dirs(dirs, &n, 40, e->dirs_copy[1]);
	}
	size_t i;
	json_t *d;
	json_array_foreach(e->cfg.plugin_path, i, d) if (n + 1 < 40) dirs[n++] =
	    json_string_value(d);
	dirs[n] = NULL;
	e->reg = salve_registry_new(dirs, e->cfg.plugins);
	salve_registry_set_config_file(e->reg, e->cfg.path);
	return 0;
}

static const char *who(void)
{
	const char *u = getenv("SUDO_USER");
	if (!u || !*u)
		u = getenv("USER");
	if (u && *u)
		return u;
	struct passwd *pw = getpwuid(getuid());
	return pw ? pw->pw_name : "unknown";
}

static void cli_audit(const char *path, enum salve_audit_sync sync, json_t *rec)
{
	char err[1024];
	salve_audit *a = salve_audit_open(path, sync, err, sizeof err);
	if (!a) {
		fprintf(stderr, "salve: %s\n", err);
		json_decref(rec);
		return;
	}
	json_t *full = salve_audit_record();
	json_object_update(full, rec);
	json_decref(rec);
	if (salve_audit_write(a, full, err, sizeof err) < 0)
		fprintf(stderr, "salve: %s\n", err);
	salve_audit_close(a);
}

/* ---- runbook checks shared by serve (start-up) and routes test ---------------------------- */

/* Checks that a route's params name only params the runbook declares and give every
 * required one without a default. 0, or -1 with err. */
static int check_param_names(const salve_runbook *rb, const json_t *given, char *err, size_t errlen)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)given, k, v)
	{
		if (!json_object_get(rb->params_spec, k)) {
			snprintf(err, errlen, "param %s: runbook %s declares no such param", k,
			         rb->name);
			return -1;
		}
	}
	json_object_foreach(rb->params_spec, k, v)
	{
		if (json_is_true(json_object_get(v, "required")) &&
		    !json_object_get(v, "default") && !json_object_get(given, k)) {
			snprintf(err, errlen,
			         "param %s: runbook %s requires it and the route does not give it",
			         k, rb->name);
			return -1;
		}
	}
	return 0;
}

/* Start-up check of one route runbook: it loads, the route's params fit, its plugins start.
 * Returns 0 or an exit status with the reason printed. */
static int preflight_one(struct env *e, const salve_route *r, const char *runbook,
                         const json_t *params)
{
	char err[4096];
	int code = 0;
	salve_runbook *rb = salve_runbook_load(runbook, e->reg, &code, err, sizeof err);
	if (!rb) {
		fprintf(stderr, "salve: route %s: %s\n", r->name, err);
		return code ? code : SALVE_EXIT_INVALID_RUNBOOK;
	}
	if (check_param_names(rb, params, err, sizeof err) < 0) {
		fprintf(stderr, "salve: route %s: %s\n", r->name, err);
		salve_runbook_free(rb);
		return SALVE_EXIT_INVALID_RUNBOOK;
	}
	size_t i;
	json_t *pn;
	json_array_foreach(rb->plugins, i, pn)
	{
		enum salve_registry_error why;
		if (!salve_registry_get(e->reg, json_string_value(pn), 1, &why, err, sizeof err)) {
			fprintf(stderr, "salve: route %s: %s\n", r->name, err);
			salve_runbook_free(rb);
			return SALVE_EXIT_UNAVAILABLE;
		}
	}
	salve_runbook_free(rb);
	return 0;
}

static int preflight(struct env *e)
{
	for (size_t i = 0; i < e->routes.n; i++) {
		const salve_route *r = &e->routes.v[i];
		int code = preflight_one(e, r, r->runbook, r->params);
		if (!code && r->on_resolved == SALVE_RESOLVED_RUN)
			code = preflight_one(e, r, r->resolved_runbook, r->resolved_params);
		if (code)
			return code;
	}
	return 0;
}

/* Resolves a token reference (env:NAME, file:/path) into its hex SHA-256 and registers the
 * value for redaction. 0, or -1 with err (which never holds the value). */
static int load_token(const char *ref, unsigned char *hash_hex, char *err, size_t errlen)
{
	char *value = NULL;
	if (strncmp(ref, "env:", 4) == 0) {
		const char *v = getenv(ref + 4);
		value = v ? strdup(v) : NULL;
		if (!value) {
			snprintf(err, errlen, "%s: environment variable %s is not set", ref,
			         ref + 4);
			return -1;
		}
	} else {
		size_t len = 0;
		value = salve_read_file(ref + 5, &len);
		if (!value) {
			snprintf(err, errlen, "%s: %s", ref, strerror(errno));
			return -1;
		}
		while (len > 0 && (value[len - 1] == '\n' || value[len - 1] == '\r'))
			value[--len] = '\0';
		struct stat st;
		if (stat(ref + 5, &st) == 0 && (st.st_mode & 0004))
			srv_log(SALVE_LOG_WARN, "serve: token file %s is readable by everyone",
			        ref + 5);
	}
	if (strlen(value) < 16) {
		snprintf(err, errlen, "%s: a token must have at least 16 characters", ref);
		free(value);
		return -1;
	}
	salve_redact_register(value);
	salve_sha256_hex(value, strlen(value), (char *)hash_hex);
	memset(value, 0, strlen(value));
	free(value);
	return 0;
}

/* `salve serve --config salve.yaml` (the spelling of the issue and of most tools) puts global
 * options after the command: take --config, --audit, --state-dir and --plugin-path (VALUE or
 * =VALUE) out of argv into a copy of the globals. Returns the new argc, or -1 when one lacks
 * its value. */
static int take_globals(const struct salve_cli_globals *in, struct salve_cli_globals *out, int argc,
                        char **argv)
{
	static const char *const names[] = {"--config", "--audit", "--state-dir", "--plugin-path"};
	*out = *in;
	const char **slots[] = {&out->config_path, &out->audit_path, &out->state_dir,
	                        &out->plugin_path};
	int w = 1;
	for (int i = 1; i < argc; i++) {
		int taken = 0;
		for (size_t k = 0; k < 4 && !taken; k++) {
			size_t n = strlen(names[k]);
			if (strcmp(argv[i], names[k]) == 0) {
				if (i + 1 >= argc) {
					fprintf(stderr, "salve: %s needs a value\n", names[k]);
					return -1;
				}
				*slots[k] = argv[++i];
				taken = 1;
			} else if (strncmp(argv[i], names[k], n) == 0 && argv[i][n] == '=') {
				*slots[k] = argv[i] + n + 1;
				taken = 1;
			}
		}
		if (!taken)
			argv[w++] = argv[i];
	}
	argv[w] = NULL;
	return w;
}

/* ---- salve serve ---------------------------------------------------------------------------- */

static const char serve_usage[] =
    "usage: salve serve --config salve.yaml [--check]\n"
    "\n"
    "Serves Alertmanager webhooks (POST /hooks/alertmanager), generic alerts\n"
    "(POST /hooks/generic), the run status API (GET /runs, GET /runs/ID), approvals\n"
    "(POST /runs/ID/approve, /deny), /healthz and /metrics, and runs the runbooks that\n"
    "salve.yaml's routes: select, each on a bounded worker pool with its own Lua state.\n"
    "\n"
    "  --check   load the config, every route's runbook and plugins and the tokens, then\n"
    "            exit (0 when all is well)\n"
    "\n"
    "SIGTERM or SIGINT stops it: runs in progress are rolled back, runs still queued are\n"
    "kept in the state dir and start on the next start. See docs/serve.md.\n";

int salve_serve_main(const struct salve_cli_globals *globals, int argc, char **argv)
{
	struct salve_cli_globals gl;
	if ((argc = take_globals(globals, &gl, argc, argv)) < 0)
		return SALVE_EXIT_USAGE;
	const struct salve_cli_globals *g = &gl;
	int check_only = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--check") == 0) {
			check_only = 1;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(serve_usage, stdout);
			return 0;
		} else {
			fprintf(stderr, "salve: serve: unknown option %s\n", argv[i]);
			fputs(serve_usage, stderr);
			return SALVE_EXIT_USAGE;
		}
	}
	if (!g->config_path) {
		fprintf(stderr, "salve: serve needs --config salve.yaml (server: and routes:)\n");
		return SALVE_EXIT_USAGE;
	}
	struct env e;
	int code = env_open(&e, g, 1);
	if (code)
		return code;
	struct salve_server *s = calloc(1, sizeof *s);
	char err[4096];
	if (!s) {
		env_close(&e);
		return SALVE_EXIT_SOFTWARE;
	}
	static const char *const kinds[] = {"hooks", "read", "approve"};
	for (int k = 0; k < SALVE_TOKEN_KINDS; k++) {
		if (!e.conf.tokens[k])
			continue;
		if (load_token(e.conf.tokens[k], s->token_hash[k], err, sizeof err) < 0) {
			fprintf(stderr, "salve: server.tokens.%s: %s\n", kinds[k], err);
			free(s);
			env_close(&e);
			return SALVE_EXIT_INVALID_RUNBOOK;
		}
		s->has_token[k] = 1;
	}
	if (e.routes.n == 0)
		fprintf(stderr, "salve: serve: no routes: every alert will be audited as "
		                "unmatched\n");
	if ((code = preflight(&e))) {
		free(s);
		env_close(&e);
		return code;
	}
	if (check_only) {
		printf("salve: %s: %zu route%s, runbooks and plugins load, tokens resolve\n",
		       e.cfg.path, e.routes.n, e.routes.n == 1 ? "" : "s");
		free(s);
		env_close(&e);
		return 0;
	}
	s->cfg = &e.cfg;
	s->conf = e.conf;
	s->routes = e.routes;
	s->reg = e.reg;
	s->state_dir = e.state_dir;
	s->durable = e.cfg.audit_sync == SALVE_AUDIT_SYNC_ALWAYS;
	/* Whoever can write the audit log's directory can replace the log: checked before it
	 * is opened (when it exists) and after (salve_audit_open may have created it). */
	char path_copy[4096], audit_dir[4096];
	snprintf(path_copy, sizeof path_copy, "%s", e.audit_path);
	snprintf(audit_dir, sizeof audit_dir, "%s", dirname(path_copy));
	struct stat ast;
	if ((stat(audit_dir, &ast) == 0 &&
	     srv_check_private_dir("audit dir", audit_dir, err, sizeof err) < 0) ||
	    !(s->audit = salve_audit_open(e.audit_path, e.cfg.audit_sync, err, sizeof err)) ||
	    srv_check_private_dir("audit dir", audit_dir, err, sizeof err) < 0) {
		fprintf(stderr, "salve: serve: %s\n", err);
		salve_audit_close(s->audit);
		free(s);
		env_close(&e);
		return SALVE_EXIT_CANTCREAT;
	}
	/* Signals go to the main thread only: block them before any thread starts. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	code = 0;
	int stop_signal = 0;
	if (srv_runs_start(s, err, sizeof err) < 0) {
		fprintf(stderr, "salve: serve: %s\n", err);
		code = SALVE_EXIT_CANTCREAT;
	} else {
		int rc = srv_http_start(s, err, sizeof err);
		if (rc < 0) {
			fprintf(stderr, "salve: serve: %s\n", err);
			code = rc == -2 ? SALVE_EXIT_INVALID_RUNBOOK : SALVE_EXIT_UNAVAILABLE;
		}
	}
	if (!code) {
		json_t *rec = salve_audit_record();
		json_object_update_new(
		    rec, json_pack("{s:s, s:s, s:i, s:I, s:i, s:i, s:b, s:I}", "event",
		                   "serve_start", "listen", s->conf.listen, "port", (int)s->port,
		                   "routes", (json_int_t)s->routes.n, "workers", s->conf.workers,
		                   "queue_size", s->conf.queue_size, "tls",
		                   s->conf.tls_cert != NULL, "pid", (json_int_t)getpid()));
		salve_audit_write(s->audit, rec, err, sizeof err);
		const char *colon = strrchr(s->conf.listen, ':');
		int hostlen = colon ? (int)(colon - s->conf.listen) : 0;
		fprintf(
		    stderr,
		    "salve serve: listening on %s://%.*s:%u (%d http threads, %d workers, queue "
		    "%d, %zu routes)\n",
		    s->conf.tls_cert ? "https" : "http", hostlen, s->conf.listen, s->port,
		    s->conf.http_threads, s->conf.workers, s->conf.queue_size, s->routes.n);
		int sig = 0;
		while (!sig) {
			struct timespec tick = {1, 0};
			int got = sigtimedwait(&set, NULL, &tick);
			if (got > 0) {
				sig = got;
			} else {
				srv_tick(s);
				srv_http_tick(s);
			}
		}
		fprintf(stderr,
		        "salve serve: signal %d: stopping (runs in progress roll back; at most "
		        "%.0f s, server.shutdown_grace)\n",
		        sig, s->conf.shutdown_grace);
		stop_signal = sig;
	}
	srv_http_stop(s);
	json_t *abandoned = NULL;
	int stuck = srv_runs_stop(s, &abandoned);
	if (!code) {
		json_t *stop = salve_audit_record();
		json_object_update_new(stop, json_pack("{s:s, s:i, s:o}", "event", "serve_stop",
		                                       "signal", stop_signal, "abandoned",
		                                       abandoned ? abandoned : json_array()));
		salve_audit_write(s->audit, stop, err, sizeof err);
	} else {
		json_decref(abandoned);
	}
	if (stuck > 0) {
		/* Those workers still run code that uses the server, the registry and the
		 * plugins: nothing may be freed or unloaded under them. The audit log is already
		 * written record by record; the journals of their runs stay for salve recover. */
		fprintf(stderr,
		        "salve serve: %d run%s did not stop within shutdown_grace: exiting anyway "
		        "(exit %d); run salve recover before the next start\n",
		        stuck, stuck == 1 ? "" : "s", SALVE_EXIT_ROLLBACK_INCOMPLETE);
		fflush(stdout);
		fflush(stderr);
		_exit(SALVE_EXIT_ROLLBACK_INCOMPLETE);
	}
	salve_audit_close(s->audit);
	/* The server borrowed these from the env. */
	memset(&s->conf, 0, sizeof s->conf);
	free(s);
	env_close(&e);
	return code;
}

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

static json_t *test_route(const salve_route *r, const json_t *alert, salve_registry *reg,
                          struct checked_runbook *cache, size_t *ncache, int *bad)
{
	int resolved = strcmp(json_string_value(json_object_get(alert, "status")), "resolved") == 0;
	json_t *o = json_pack("{s:s, s:b}", "route", r->name, "matched", 1);
	if (resolved && r->on_resolved != SALVE_RESOLVED_RUN) {
		json_object_set_new(
		    o, "action",
		    json_string(r->on_resolved == SALVE_RESOLVED_CANCEL ? "cancel" : "ignore"));
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
	if (salve_route_render(r, alert, resolved, &params, &target, err, sizeof err) < 0) {
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
	srv_fputs_escaped(raw, stdout);
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

static int routes_test(struct env *e, const char *file, int as_json)
{
	size_t len = 0;
	char *text = salve_read_file(file, &len);
	if (!text) {
		fprintf(stderr, "salve: routes test: %s: %s\n", file, strerror(errno));
		return SALVE_EXIT_USAGE;
	}
	char err[4096];
	json_t *payload = salve_alert_parse_json(text, len, 64, err, sizeof err);
	free(text);
	if (!payload) {
		srv_log(SALVE_LOG_ERROR, "routes test: %s: %s", file, err);
		return SALVE_EXIT_USAGE;
	}
	int is_am = json_is_object(payload) && json_is_array(json_object_get(payload, "alerts")) &&
	            (json_object_get(payload, "version") || json_object_get(payload, "receiver") ||
	             json_object_get(payload, "groupKey"));
	json_t *alerts = is_am ? salve_alerts_from_alertmanager(payload, err, sizeof err)
	                       : salve_alerts_from_generic(payload, err, sizeof err);
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
			const salve_route *r = &e->routes.v[k];
			if (stopped) {
				json_array_append_new(routes, json_pack("{s:s, s:b}", "route",
				                                        r->name, "matched", 0));
				continue;
			}
			char why[1024];
			if (!salve_route_match(r, json_object_get(alert, "labels"), why,
			                       sizeof why)) {
				json_array_append_new(routes,
				                      json_pack("{s:s, s:b, s:s}", "route", r->name,
				                                "matched", 0, "why", why));
				continue;
			}
			json_array_append_new(routes,
			                      test_route(r, alert, e->reg, cache, &ncache, &bad));
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

static int routes_list(struct env *e, int as_json)
{
	/* Read only: listing must not create the state dir. */
	char serve_dir[4096];
	snprintf(serve_dir, sizeof serve_dir, "%s/serve", e->state_dir);
	json_t *list = json_array();
	for (size_t i = 0; i < e->routes.n; i++) {
		const salve_route *r = &e->routes.v[i];
		char path[4400];
		snprintf(path, sizeof path, "%s/circuits/%s.open", serve_dir, r->name);
		char err[1024];
		char *file = srv_read_state_file(path, 1 << 20, NULL, err, sizeof err);
		json_t *open = file ? json_loads(file, 0, NULL) : NULL;
		if (!file && errno != ENOENT)
			open = json_pack("{s:s, s:s}", "opened_at", "?", "reason", err);
		free(file);
		json_t *m = json_array();
		for (size_t k = 0; k < r->nmatchers; k++) {
			char text[512];
			salve_matcher_format(&r->matchers[k], text, sizeof text);
			json_array_append_new(m, json_string(text));
		}
		json_array_append_new(list,
		                      json_pack("{s:s, s:o, s:s, s:b, s:o}", "name", r->name,
		                                "matchers", m, "runbook", r->runbook, "dry_run",
		                                r->dry_run, "circuit", open ? open : json_null()));
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

static int routes_reset(struct env *e, const char *name)
{
	int known = 0;
	for (size_t i = 0; i < e->routes.n; i++)
		known |= strcmp(e->routes.v[i].name, name) == 0;
	if (!known) {
		fprintf(stderr, "salve: routes reset: no route named %s in %s\n", name,
		        e->cfg.path ? e->cfg.path : "the config");
		return SALVE_EXIT_USAGE;
	}
	char serve_dir[4096], circuits[4200], err[1024];
	if (srv_state_paths(e->state_dir, serve_dir, sizeof serve_dir, err, sizeof err) < 0) {
		fprintf(stderr, "salve: %s\n", err);
		return SALVE_EXIT_CANTCREAT;
	}
	snprintf(circuits, sizeof circuits, "%s/circuits", serve_dir);
	int rc = srv_remove_circuit(circuits, name, err, sizeof err);
	if (rc < 0) {
		fprintf(stderr, "salve: routes reset: %s\n", err);
		return SALVE_EXIT_CANTCREAT;
	}
	cli_audit(e->audit_path, e->cfg.audit_sync,
	          json_pack("{s:s, s:s, s:s, s:b, s:s}", "event", "circuit_reset", "route", name,
	                    "by", who(), "was_open", rc == 1, "via", "cli"));
	printf("salve: route %s: circuit %s\n", name,
	       rc == 1 ? "closed (alerts start runs again)" : "was not open");
	return 0;
}

int salve_routes_main(const struct salve_cli_globals *globals, int argc, char **argv)
{
	struct salve_cli_globals gl;
	if ((argc = take_globals(globals, &gl, argc, argv)) < 0)
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
	struct env e;
	int code = env_open(&e, g, 1);
	if (code)
		return code;
	if (strcmp(args[0], "test") == 0)
		code = routes_test(&e, args[1], as_json);
	else if (strcmp(args[0], "list") == 0)
		code = routes_list(&e, as_json);
	else
		code = routes_reset(&e, args[1]);
	env_close(&e);
	return code;
}

/* ---- salve pause / resume -------------------------------------------------------------------- */

int salve_control_main(const struct salve_cli_globals *globals, int argc, char **argv)
{
	struct salve_cli_globals gl;
	if ((argc = take_globals(globals, &gl, argc, argv)) < 0)
		return SALVE_EXIT_USAGE;
	const struct salve_cli_globals *g = &gl;
	static const char usage[] =
	    "usage: salve pause [--config salve.yaml] [--reason TEXT]\n"
	    "       salve resume [--config salve.yaml]\n"
	    "\n"
	    "pause stops salve serve from starting runs: alerts are still received and audited,\n"
	    "and refused with reason \"paused\"; runs already queued wait. resume lifts it. The\n"
	    "switch is the file STATE_DIR/serve/paused, which the server checks on every\n"
	    "request and every second.\n";
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
	struct env e;
	int code = env_open(&e, g, 0);
	if (code)
		return code;
	char serve_dir[4096], path[4200], err[1024];
	if (srv_state_paths(e.state_dir, serve_dir, sizeof serve_dir, err, sizeof err) < 0) {
		fprintf(stderr, "salve: %s\n", err);
		env_close(&e);
		return SALVE_EXIT_CANTCREAT;
	}
	snprintf(path, sizeof path, "%s/paused", serve_dir);
	char why[1024];
	int was = srv_state_file_present(path, why, sizeof why) != 0;
	if (srv_write_pause(path, pause, who(), reason, err, sizeof err) < 0) {
		fprintf(stderr, "salve: %s: %s\n", argv[0], err);
		env_close(&e);
		return SALVE_EXIT_CANTCREAT;
	}
	cli_audit(e.audit_path, e.cfg.audit_sync,
	          json_pack("{s:s, s:s, s:s?, s:b, s:s}", "event", pause ? "paused" : "resumed",
	                    "by", who(), "reason", reason, "was_paused", was, "via", "cli"));
	printf("salve: %s%s\n",
	       pause ? "paused: salve serve starts no runs until salve resume"
	             : "resumed: salve serve starts runs again",
	       (pause == was) ? (pause ? " (it already was)" : " (it was not paused)") : "");
	env_close(&e);
	return 0;
}
