/* salve serve: checks the config, routes, runbooks, plugins and tokens, then serves until
 * SIGTERM or SIGINT (docs/serve.md). */
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "env.h"
#include "exitcodes.h"
#include "ha.h"
#include "host.h"
#include "http.h"
#include "lifecycle.h"
#include "log.h"
#include "redact.h"
#include "runbook.h"
#include "srv.h"
#include "util.h"

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
static int preflight_one(struct srv_env *e, const srv_route *r, const char *runbook,
                         const json_t *params)
{
	char err[4096];
	int code = 0;
	salve_runbook *rb = salve_runbook_load(runbook, e->core.reg, &code, err, sizeof err);
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
		if (!salve_registry_get(e->core.reg, json_string_value(pn), 1, &why, err,
		                        sizeof err)) {
			fprintf(stderr, "salve: route %s: %s\n", r->name, err);
			salve_runbook_free(rb);
			return SALVE_EXIT_UNAVAILABLE;
		}
	}
	salve_runbook_free(rb);
	return 0;
}

static int preflight(struct srv_env *e)
{
	for (size_t i = 0; i < e->routes.n; i++) {
		const srv_route *r = &e->routes.v[i];
		int code = preflight_one(e, r, r->runbook, r->params);
		if (!code && r->on_resolved == SRV_RESOLVED_RUN)
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

/* ---- salve serve ---------------------------------------------------------------------------- */

static const char serve_usage[] =
    "usage: salve serve --config salve.yaml [--check]\n"
    "       salve-serve --config salve.yaml [--check]\n"
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

/* The options after the command: 0 to go on (with *check_only), else the exit status. */
static int serve_options(int argc, char **argv, int *check_only)
{
	*check_only = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--check") == 0) {
			*check_only = 1;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(serve_usage, stdout);
			return -1;
		} else {
			fprintf(stderr, "salve: serve: unknown option %s\n", argv[i]);
			fputs(serve_usage, stderr);
			return SALVE_EXIT_USAGE;
		}
	}
	return 0;
}

/* Resolves the configured tokens into s. 0, or the exit status with the reason printed. */
static int load_tokens(struct srv_server *s, const srv_conf *conf)
{
	static const char *const kinds[] = {"hooks", "read", "approve"};
	char err[4096];
	for (int k = 0; k < SRV_TOKEN_KINDS; k++) {
		if (!conf->tokens[k])
			continue;
		if (load_token(conf->tokens[k], s->token_hash[k], err, sizeof err) < 0) {
			fprintf(stderr, "salve: server.tokens.%s: %s\n", kinds[k], err);
			return SALVE_EXIT_INVALID_RUNBOOK;
		}
		s->has_token[k] = 1;
	}
	return 0;
}

/* Opens the audit log into s->audit. Whoever can write the log's directory can replace the
 * log: checked before it is opened (when it exists) and after (salve_audit_open may have
 * created it). 0, or the exit status with the reason printed. */
static int open_audit(struct srv_server *s, const struct srv_env *e)
{
	char path_copy[4096], audit_dir[4096], err[4096];
	snprintf(path_copy, sizeof path_copy, "%s", e->core.audit_path);
	snprintf(audit_dir, sizeof audit_dir, "%s", dirname(path_copy));
	struct stat ast;
	if ((stat(audit_dir, &ast) == 0 &&
	     srv_state_check_private_dir("audit dir", audit_dir, err, sizeof err) < 0) ||
	    !(s->audit =
	          salve_audit_open(e->core.audit_path, e->core.cfg.audit_sync, err, sizeof err)) ||
	    srv_state_check_private_dir("audit dir", audit_dir, err, sizeof err) < 0) {
		fprintf(stderr, "salve: serve: %s\n", err);
		salve_audit_close(s->audit);
		s->audit = NULL;
		return SALVE_EXIT_CANTCREAT;
	}
	return 0;
}

/* Starts the run side, then the HTTP front. 0, or the exit status with the reason printed. */
static int start_server(struct srv_server *s)
{
	char err[4096];
	if (srv_lifecycle_start(s, err, sizeof err) < 0) {
		fprintf(stderr, "salve: serve: %s\n", err);
		return SALVE_EXIT_CANTCREAT;
	}
	int rc = srv_http_start(s, err, sizeof err);
	if (rc < 0) {
		fprintf(stderr, "salve: serve: %s\n", err);
		return rc == -2 ? SALVE_EXIT_INVALID_RUNBOOK : SALVE_EXIT_UNAVAILABLE;
	}
	json_t *rec = salve_audit_record();
	json_object_update_new(rec,
	                       json_pack("{s:s, s:s, s:i, s:I, s:i, s:i, s:b, s:I}", "event",
	                                 "serve_start", "listen", s->conf.listen, "port",
	                                 (int)s->port, "routes", (json_int_t)s->routes.n, "workers",
	                                 s->conf.workers, "queue_size", s->conf.queue_size, "tls",
	                                 s->conf.tls_cert != NULL, "pid", (json_int_t)getpid()));
	salve_audit_write(s->audit, rec, err, sizeof err);
	const char *colon = strrchr(s->conf.listen, ':');
	int hostlen = colon ? (int)(colon - s->conf.listen) : 0;
	fprintf(stderr,
	        "salve serve: listening on %s://%.*s:%u (%d http threads, %d workers, queue %d, "
	        "%zu routes)\n",
	        s->conf.tls_cert ? "https" : "http", hostlen, s->conf.listen, s->port,
	        s->conf.http_threads, s->conf.workers, s->conf.queue_size, s->routes.n);
	return 0;
}

/* Ticks every second until SIGTERM or SIGINT (blocked in set); returns the signal. */
static int serve_until_signal(struct srv_server *s, const sigset_t *set)
{
	int sig = 0;
	while (!sig) {
		struct timespec tick = {1, 0};
		int got = sigtimedwait(set, NULL, &tick);
		if (got > 0) {
			sig = got;
		} else {
			srv_lifecycle_tick(s);
			srv_http_tick(s);
		}
	}
	fprintf(stderr,
	        "salve serve: signal %d: stopping (runs in progress roll back; at most %.0f s, "
	        "server.shutdown_grace)\n",
	        sig, s->conf.shutdown_grace);
	return sig;
}

/* Stops the HTTP front, then the runs; audits serve_stop when the server had started
 * (code 0). Ends the process when runs were abandoned: their threads still use it all. */
static void stop_server(struct srv_server *s, int code, int stop_signal)
{
	char err[1024];
	srv_http_stop(s);
	json_t *abandoned = NULL;
	int stuck = srv_lifecycle_stop(s, &abandoned);
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
		        "(exit %d); the next start rolls them back (or run salve recover)\n",
		        stuck, stuck == 1 ? "" : "s", SALVE_EXIT_ROLLBACK_INCOMPLETE);
		fflush(stdout);
		fflush(stderr);
		_exit(SALVE_EXIT_ROLLBACK_INCOMPLETE);
	}
}

/* Serves with the checked environment e until a signal. Returns the exit status. */
static int serve(struct srv_env *e, struct srv_server *s)
{
	s->env = &e->core;
	s->cfg = &e->core.cfg;
	s->conf = e->conf;
	s->routes = e->routes;
	s->reg = e->core.reg;
	s->state_dir = e->core.state_dir;
	s->durable = e->core.cfg.audit_sync == SALVE_AUDIT_SYNC_ALWAYS;
	int code = open_audit(s, e);
	if (code)
		return code;
	char err[1024];
	if (s->conf.ha && !(s->ha = srv_ha_open(s->conf.ha, err, sizeof err))) {
		fprintf(stderr, "salve: serve: %s\n", err);
		salve_audit_close(s->audit);
		return SALVE_EXIT_INVALID_RUNBOOK;
	}
	/* Signals go to the main thread only: block them before any thread starts. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	code = start_server(s);
	int stop_signal = code ? 0 : serve_until_signal(s, &set);
	stop_server(s, code, stop_signal);
	srv_ha_close(s->ha);
	salve_audit_close(s->audit);
	/* The server borrowed these from the env. */
	memset(&s->conf, 0, sizeof s->conf);
	return code;
}

int salve_serve_main(const struct salve_cli_globals *globals, int argc, char **argv)
{
	struct salve_cli_globals g;
	int check_only;
	if ((argc = srv_env_take_globals(globals, &g, argc, argv)) < 0)
		return SALVE_EXIT_USAGE;
	int code = serve_options(argc, argv, &check_only);
	if (code)
		return code < 0 ? 0 : code;
	if (!g.config_path) {
		fprintf(stderr, "salve: serve needs --config salve.yaml (server: and routes:)\n");
		return SALVE_EXIT_USAGE;
	}
	struct srv_env e;
	if ((code = srv_env_open(&e, &g, 1)))
		return code;
	struct srv_server *s = calloc(1, sizeof *s);
	if (!s) {
		srv_env_close(&e);
		return SALVE_EXIT_SOFTWARE;
	}
	if (!(code = load_tokens(s, &e.conf))) {
		if (e.routes.n == 0)
			fprintf(stderr, "salve: serve: no routes: every alert will be audited as "
			                "unmatched\n");
		code = preflight(&e);
	}
	if (!code) {
		if (check_only)
			printf(
			    "salve: %s: %zu route%s, runbooks and plugins load, tokens resolve\n",
			    e.core.cfg.path, e.routes.n, e.routes.n == 1 ? "" : "s");
		else
			code = serve(&e, s);
	}
	free(s);
	srv_env_close(&e);
	return code;
}

/* The global options salve takes before a command; those of salve serve are taken anywhere
 * (srv_env_take_globals), the rest here. */
static int is_global_option(const char *a, int *skip)
{
	static const char *const valued[] = {"--config", "--audit", "--state-dir", "--plugin-path",
	                                     "--audit-sync"};
	*skip = 0;
	if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0)
		*skip = 1;
	for (size_t k = 0; k < sizeof valued / sizeof *valued && !*skip; k++) {
		size_t n = strlen(valued[k]);
		if (strcmp(a, valued[k]) == 0)
			*skip = 2;
		else if (strncmp(a, valued[k], n) == 0 && a[n] == '=')
			*skip = 1;
	}
	return *skip > 0;
}

int salve_serve_standalone(int argc, char **argv)
{
	int i = 1, skip;
	while (i < argc && is_global_option(argv[i], &skip))
		i += skip;
	if (i < argc &&
	    (argv[i][0] != '-' || strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0))
		return -1; /* a command (salve serve, routes, pause, resume exec us so), or
		              --version */
	struct salve_cli_globals g;
	memset(&g, 0, sizeof g);
	int w = 1;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
			g.verbose = 1;
			salve_set_log_level(SALVE_LOG_DEBUG);
		} else if (strcmp(argv[i], "--audit-sync") == 0 && i + 1 < argc) {
			g.audit_sync = argv[++i];
		} else if (strncmp(argv[i], "--audit-sync=", 13) == 0) {
			g.audit_sync = argv[i] + 13;
		} else {
			argv[w++] = argv[i];
		}
	}
	argv[w] = NULL;
	return salve_serve_main(&g, w, argv);
}
