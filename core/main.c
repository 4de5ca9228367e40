/* salve: the command line. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "cli.h"
#include "cli_doc.h"
#include "cli_report.h"
#include "config.h"
#include "engine.h"
#include "exitcodes.h"
#include "ha/node.h"
#include "host.h"
#include "launch.h"
#include "record.h"
#include "redact.h"
#include "registry.h"
#include "runbook.h"
#include "runbook_tests.h"
#include "util.h"
#include "validate.h"
#include "window.h"
#include "yamljson.h"

static volatile sig_atomic_t cancel_signal;

static void on_signal(int sig)
{
	cancel_signal = sig;
}

/* SIGINT and SIGTERM: on_signal (the run stops at its next check and rolls back), or SIG_DFL. */
static void catch_signals(void (*handler)(int))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static const char usage_text[] =
    "usage: salve [global options] COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  run RUNBOOK        run a runbook (a .lua file, or one of " SALVE_BUILTIN_RUNBOOKS ")\n"
    "  validate RUNBOOK   load and check a runbook without running anything\n"
    "  test PATH...       run runbook tests offline (plugin calls replayed from fixtures)\n"
    "  plugins            list the plugins found and their actions\n"
    "  doc [PLUGIN[.ACTION]]  a plugin's actions, an action's arguments and an example\n"
    "  stubs --out DIR    LuaLS annotations of the runbook globals and every plugin\n"
    "  audit verify [FILE]  check an audit log's hash chain\n"
    "  audit show RUN | tail [-f]  one run's timeline; follow the log\n"
    "  report             post-incident review or --summary from the audit log\n"
    "  recover            roll back runs that died (kill -9, power loss) with changes in place\n"
    "  serve              serve Alertmanager webhooks and run the routed runbooks (salve-serve)\n"
    "  routes test|list|reset  which route an alert takes; list routes; close a circuit\n"
    "  pause | resume     stop or restart salve serve starting runs\n"
    "\n"
    "Global options:\n"
    "  --config FILE        salve.yaml (audit, state_dir, plugin_path, plugins: settings)\n"
    "  --audit FILE         audit log (JSON Lines, hash-chained)\n"
    "  --state-dir DIR      journals and locks\n"
    "  --plugin-path DIRS   colon-separated plugin directories searched first\n"
    "  --audit-sync MODE    always (fdatasync each record, default) or none\n"
    "  -v, --verbose        debug logging\n"
    "  --version            print the version\n"
    "\n"
    "Exit status: 0 success, 1 a step failed and the run was rolled back, 2 rollback incomplete\n"
    "(a human must look), 64 usage, 65 invalid runbook, 69 plugin unavailable, 73 cannot create\n"
    "the audit log or state, 74 audit/journal write error, 75 lock busy or outside the window.\n"
    "`salve COMMAND --help` describes each command.\n";

static const char run_usage[] =
    "usage: salve run [options] RUNBOOK\n"
    "\n"
    "  -p, --param K=V       set a runbook parameter (repeatable)\n"
    "  --params-file FILE    parameters from a YAML (or JSON) mapping\n"
    "  -n, --dry-run         check and plan only: nothing is changed\n"
    "  --fail-at STEP        drill: fail after STEP's run, to rehearse the rollback\n"
    "  --drill-notify        dry-run drill: send notifications, marked [DRILL]\n"
    "  --drill-force         dry-run drill: the --fail-at step runs even when its when()\n"
    "                        is false or its check holds (else such a drill exits 64)\n"
    "  --no-wait             exit 75 at once if the runbook's lock is held (for cron)\n"
    "  --lock-timeout DUR    wait at most DUR for the lock, then exit 75\n"
    "  --window SPEC         run only inside a window like \"Sun 02:00-04:00\", else exit 75\n"
    "  --timeout DUR         run timeout (overrides the runbook's)\n"
    "  --step-timeout DUR    default step timeout (10m)\n"
    "  --trigger NAME        recorded in the audit log (cli, cron, ...)\n"
    "  --approve             approve steps that declare approve = {...} (you approve them)\n"
    "  --json                print the run summary as JSON on stdout\n"
    "  --record FILE         write every plugin call (secrets redacted) as a fixture for\n"
    "                        salve test\n"
    "  -q, --quiet           no progress output\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	salve_cli_verror(fmt, ap);
	va_end(ap);
	fputs("Try 'salve --help'.\n", stderr);
	return SALVE_EXIT_USAGE;
}

/* The config and plugin registry; a failure is reported. 0, or the exit status. */
static int open_env(salve_env *e, const struct salve_cli_globals *g)
{
	char err[2048];
	int code = salve_env_open(e, g, err, sizeof err);
	if (code == SALVE_EXIT_USAGE)
		return usage_error("%s", err);
	if (code)
		salve_cli_error("%s", err);
	return code;
}

static void print_json(const json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2));
	if (s) {
		puts(s);
		free(s);
	}
}

static int parse_param(json_t *params, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return usage_error("--param takes KEY=VALUE, got \"%s\"", kv);
	char key[256];
	snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
	json_object_set_new(params, key, json_string(eq + 1));
	return 0;
}

/* What salve run was asked, from its options. */
struct run_args {
	json_t *given; /* --param, then --params-file (new reference) */
	const char *params_file, *fail_at, *window, *trigger, *source, *record;
	salve_recorder *recorder; /* --record */
	int dry, drill_notify, drill_force, no_wait, as_json, quiet, approve_all;
	double lock_timeout, run_timeout, step_timeout;
};

/* -1 when the options are good (a is filled), else the exit status (0 for --help). */
static int parse_run_args(int argc, char **argv, struct run_args *a)
{
	static const struct option opts[] = {{"param", required_argument, 0, 'p'},
	                                     {"params-file", required_argument, 0, 'F'},
	                                     {"dry-run", no_argument, 0, 'n'},
	                                     {"fail-at", required_argument, 0, 'f'},
	                                     {"drill-notify", no_argument, 0, 'D'},
	                                     {"drill-force", no_argument, 0, 'X'},
	                                     {"no-wait", no_argument, 0, 'W'},
	                                     {"lock-timeout", required_argument, 0, 'L'},
	                                     {"window", required_argument, 0, 'w'},
	                                     {"timeout", required_argument, 0, 't'},
	                                     {"step-timeout", required_argument, 0, 'T'},
	                                     {"trigger", required_argument, 0, 'g'},
	                                     {"json", no_argument, 0, 'j'},
	                                     {"quiet", no_argument, 0, 'q'},
	                                     {"approve", no_argument, 0, 'A'},
	                                     {"record", required_argument, 0, 'R'},
	                                     {"help", no_argument, 0, 'h'},
	                                     {0, 0, 0, 0}};
	int c;
	a->trigger = "cli";
	a->step_timeout = -1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+p:nqh", opts, NULL)) != -1) {
		double v;
		switch (c) {
		case 'p':
			if (parse_param(a->given, optarg))
				return SALVE_EXIT_USAGE;
			break;
		case 'F':
			a->params_file = optarg;
			break;
		case 'n':
			a->dry = 1;
			break;
		case 'f':
			a->fail_at = optarg;
			break;
		case 'D':
			a->drill_notify = 1;
			break;
		case 'X':
			a->drill_force = 1;
			break;
		case 'W':
			a->no_wait = 1;
			break;
		case 'w':
			a->window = optarg;
			break;
		case 'g':
			a->trigger = optarg;
			break;
		case 'j':
			a->as_json = 1;
			break;
		case 'q':
			a->quiet = 1;
			break;
		case 'A':
			a->approve_all = 1;
			break;
		case 'R':
			a->record = optarg;
			break;
		case 'L':
		case 't':
		case 'T':
			if (salve_parse_duration(optarg, &v) < 0)
				return usage_error("not a duration: \"%s\" (try 30s, 5m, 1h)",
				                   optarg);
			*(c == 'L'   ? &a->lock_timeout
			  : c == 't' ? &a->run_timeout
			             : &a->step_timeout) = v;
			break;
		case 'h':
			fputs(run_usage, stdout);
			return 0;
		default:
			fputs(run_usage, stderr);
			return SALVE_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fputs(run_usage, stderr);
		return SALVE_EXIT_USAGE;
	}
	if ((a->drill_notify || a->drill_force) && !a->dry)
		return usage_error("%s goes with --dry-run (a drill that changes nothing)",
		                   a->drill_notify ? "--drill-notify" : "--drill-force");
	if (a->drill_force && !a->fail_at)
		return usage_error("--drill-force goes with --fail-at STEP");
	a->source = argv[optind];
	return -1;
}

/* --window's spec and --params-file: -1 to go on, else the exit status (reported). */
static int run_preconditions(struct run_args *a)
{
	char err[4096];
	if (a->window && salve_window_contains(a->window, time(NULL), err, sizeof err) < 0)
		return usage_error("%s", err);
	if (a->params_file) {
		json_t *fileparams = salve_yaml_load_file(a->params_file, err, sizeof err);
		if (!json_is_object(fileparams)) {
			salve_cli_error("params file %s",
			                fileparams ? "must be a mapping of names to values" : err);
			json_decref(fileparams);
			return SALVE_EXIT_USAGE;
		}
		/* --param wins over the file. */
		json_object_update_missing(a->given, fileparams);
		json_decref(fileparams);
	}
	return -1;
}

/* Who runs this command, for the audit log: the account, the person behind sudo, the host
 * and the terminal. A new reference. */
static json_t *who_runs(void)
{
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	struct passwd *pw = getpwuid(getuid());
	const char *sudo = getenv("SUDO_USER");
	const char *tty = isatty(STDIN_FILENO) ? ttyname(STDIN_FILENO) : NULL;
	return json_pack("{s:I, s:s?, s:s?, s:s, s:s?}", "uid", (json_int_t)getuid(), "user",
	                 pw ? pw->pw_name : NULL, "sudo_user", sudo && *sudo ? sudo : NULL, "host",
	                 host, "tty", tty);
}

/* Outside --window: nothing runs, and the refusal is audited like a busy lock. */
static int refuse_outside_window(const salve_env *e, const struct run_args *a, const json_t *who)
{
	char err[1024];
	salve_cli_error("outside the maintenance window \"%s\": nothing was run", a->window);
	salve_audit *audit = salve_audit_open(e->audit_path, e->cfg.audit_sync, err, sizeof err);
	if (!audit) {
		salve_cli_error("%s", err);
		return SALVE_EXIT_CANTCREAT;
	}
	int rc = salve_audit_write(audit,
	                           json_pack("{s:s, s:s, s:s, s:s, s:s, s:O}", "event",
	                                     "run_refused", "runbook", a->source, "reason",
	                                     "outside the maintenance window", "window", a->window,
	                                     "trigger", a->trigger, "who", who),
	                           err, sizeof err);
	salve_audit_close(audit);
	if (rc < 0) {
		salve_cli_error("%s", err);
		return SALVE_EXIT_IOERR;
	}
	return SALVE_EXIT_TEMPFAIL;
}

/* The launch's waiting hook: people at a terminal hear why nothing happens yet. */
static void say_waiting(void *ctx, const char *lock_key)
{
	const struct run_args *a = ctx;
	if (!a->quiet && isatty(STDERR_FILENO))
		salve_cli_error("waiting for lock \"%s\"...", lock_key);
}

/* --json: the run's summary (docs/cli-json.md), or why it did not start; "format": 1. */
static void print_run_json(const struct run_args *a, const salve_launch_result *res)
{
	static const char *const stages[] = {"ran",   "load",      "params", "plugin",
	                                     "audit", "lock_busy", "lock"};
	json_t *out = res->summary ? json_deep_copy(res->summary)
	                           : json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "run_id",
	                                       res->run_id, "source", a->source, "outcome",
	                                       "refused", "exit_code", res->exit_code, "stage",
	                                       stages[res->stage], "error", res->error);
	json_object_set_new(out, "format", json_integer(1));
	print_json(out);
	json_decref(out);
}

static void record_event(void *ctx, const json_t *event)
{
	const struct run_args *a = ctx;
	salve_recorder_event(a->recorder, event);
}

static int cmd_run(const struct salve_cli_globals *g, int argc, char **argv)
{
	struct run_args a;
	memset(&a, 0, sizeof a);
	a.given = json_object();
	int code = parse_run_args(argc, argv, &a);
	if (code < 0)
		code = run_preconditions(&a);
	salve_env e;
	if (code >= 0 || (code = open_env(&e, g))) {
		json_decref(a.given);
		return code;
	}
	json_t *who = who_runs();
	char werr[512];
	if (a.window && !salve_window_contains(a.window, time(NULL), werr, sizeof werr)) {
		code = refuse_outside_window(&e, &a, who);
		if (a.as_json) {
			json_t *out =
			    json_pack("{s:i, s:s, s:s, s:i, s:s, s:s}", "format", 1, "source",
			              a.source, "outcome", "refused", "exit_code", code, "stage",
			              "window", "error", "outside the maintenance window");
			print_json(out);
			json_decref(out);
		}
		json_decref(who);
		json_decref(a.given);
		salve_env_close(&e);
		return code;
	}
	salve_launch_request rq = {
	    .runbook = a.source,
	    .who = who,
	    .params = a.given,
	    .mode = a.dry ? SALVE_MODE_DRY_RUN : SALVE_MODE_APPLY,
	    .drill_notify = a.drill_notify,
	    .fail_at = a.fail_at,
	    .drill_force = a.drill_force,
	    .approve_all = a.approve_all,
	    .trigger = a.trigger,
	    .run_timeout = a.run_timeout,
	    .step_timeout = a.step_timeout,
	    .lock_wait = !a.no_wait,
	    .lock_timeout = a.lock_timeout,
	    .cancel = &cancel_signal,
	    .out = a.quiet || a.as_json ? NULL : stdout,
	    .waiting = say_waiting,
	    .ctx = &a,
	};
	if (a.record) {
		a.recorder = salve_recorder_new();
		rq.on_event = record_event;
	}
	/* SIGINT and SIGTERM stop the load, the lock wait or the run (which then rolls back). */
	catch_signals(on_signal);
	salve_launch_result res;
	code = salve_launch(&e, &rq, &res);
	char err[4096];
	if (res.stage != SALVE_LAUNCH_RAN)
		salve_cli_error("%s", res.error);
	if (a.as_json)
		print_run_json(&a, &res);
	if (a.recorder && res.stage == SALVE_LAUNCH_RAN &&
	    salve_recorder_write(a.recorder, a.record, res.summary, a.given, err, sizeof err) < 0) {
		salve_cli_error("%s", err);
		if (!code)
			code = SALVE_EXIT_CANTCREAT;
	}
	salve_recorder_free(a.recorder);
	json_decref(who);
	json_decref(res.summary);
	json_decref(a.given);
	salve_env_close(&e);
	return code;
}

/* getopt_long for a subcommand: an unknown option or a missing value is a usage error.
 * Returns the option, -1 at the end, '?' on a usage error (already reported). */
static int sub_option(int argc, char **argv, const char *shortopts, const struct option *opts)
{
	int c = getopt_long(argc, argv, shortopts, opts, NULL);
	if (c == '?')
		fprintf(stderr,
		        "salve %s: %s: unknown option, or its value is missing\nTry 'salve %s "
		        "--help'.\n",
		        argv[0], argv[optind - 1], argv[0]);
	return c;
}

/* Starts parsing a subcommand's own argv (argv[0] is its name), options in any order. */
static void sub_options_begin(void)
{
	optind = 0; /* glibc: start afresh, permuting (main stops at the command) */
	opterr = 0; /* sub_option says what was wrong */
}

/* A command whose only options are --json and --help: -1 to go on, else the exit status. */
static int json_help_options(int argc, char **argv, const char *usage, int *as_json)
{
	static const struct option opts[] = {
	    {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	int c;
	sub_options_begin();
	while ((c = sub_option(argc, argv, "h", opts)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		}
		if (c != 'j')
			return SALVE_EXIT_USAGE;
		*as_json = 1;
	}
	return -1;
}

static int cmd_validate(const struct salve_cli_globals *g, int argc, char **argv)
{
	static const char usage[] =
	    "usage: salve validate [--json] [--config FILE] [RUNBOOK]\n"
	    "Checks a runbook without running anything and reports every error, by line:\n"
	    "declarations, steps, plugin and action names, argument names and types, param\n"
	    "defaults, the notify table, calls a step's check, when or verify may not make,\n"
	    "and io, os and require (not in the sandbox).\n"
	    "\n"
	    "  --config FILE  also check this salve.yaml (unknown keys, lifecycle settings)\n"
	    "                 and start every plugin the runbook uses with it; without\n"
	    "                 RUNBOOK, check only the file\n"
	    "  --json         the report as JSON: valid, errors [{file, line, message}]\n";
	static const struct option opts[] = {{"json", no_argument, 0, 'j'},
	                                     {"config", required_argument, 0, 'c'},
	                                     {"help", no_argument, 0, 'h'},
	                                     {0, 0, 0, 0}};
	int as_json = 0, c, code;
	const char *config = NULL;
	sub_options_begin();
	while ((c = sub_option(argc, argv, "h", opts)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		} else if (c == 'j') {
			as_json = 1;
		} else if (c == 'c') {
			config = optarg;
		} else {
			return SALVE_EXIT_USAGE;
		}
	}
	if (optind < argc - 1 || (optind == argc && !config && !g->config_path)) {
		fputs(usage, stderr);
		return SALVE_EXIT_USAGE;
	}
	const char *source = optind < argc ? argv[optind] : NULL;
	json_t *report = salve_validate(g, config, source, &code);
	json_t *errors = json_object_get(report, "errors");
	if (as_json) {
		print_json(report);
	} else if (json_array_size(errors)) {
		size_t i;
		json_t *e;
		json_array_foreach(errors, i, e)
		    salve_cli_error("%s", json_string_value(json_object_get(e, "message")));
	} else if (source) {
		json_t *plugins = json_object_get(report, "plugins");
		printf("%s: runbook %s is valid: %zu step%s, plugins %s\n", source,
		       json_string_value(json_object_get(report, "name")),
		       json_array_size(json_object_get(report, "steps")),
		       json_array_size(json_object_get(report, "steps")) == 1 ? "" : "s",
		       !json_array_size(plugins)           ? "none"
		       : json_object_get(report, "config") ? "used as declared and started"
		                                           : "used as declared");
	} else {
		printf("%s: configuration is valid\n",
		       json_string_value(json_object_get(report, "config")));
	}
	json_decref(report);
	return code;
}

static int cmd_test(const struct salve_cli_globals *g, int argc, char **argv)
{
	static const char usage[] =
	    "usage: salve test [--format tap|junit] [-v] PATH...\n"
	    "Runs runbook tests (NAME.test.yaml files, or folders holding them) offline: each\n"
	    "test runs its runbook with every plugin call answered from a fixture (recorded\n"
	    "with salve run --record, or written by hand) and checks the outcome, the steps,\n"
	    "the calls made and their arguments. Exits 0 when all pass, 1 when one fails.\n"
	    "\n"
	    "  --format FMT   tap (default) or junit (JUnit XML, for CI)\n"
	    "  -v, --verbose  show each run's progress on stderr\n";
	static const struct option opts[] = {{"format", required_argument, 0, 'f'},
	                                     {"verbose", no_argument, 0, 'v'},
	                                     {"help", no_argument, 0, 'h'},
	                                     {0, 0, 0, 0}};
	enum salve_test_format format = SALVE_TEST_TAP;
	int verbose = 0, c;
	sub_options_begin();
	while ((c = sub_option(argc, argv, "vh", opts)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		} else if (c == 'v') {
			verbose = 1;
		} else if (c == 'f' && (!strcmp(optarg, "tap") || !strcmp(optarg, "junit"))) {
			format = strcmp(optarg, "junit") == 0 ? SALVE_TEST_JUNIT : SALVE_TEST_TAP;
		} else {
			return c == 'f' ? usage_error("--format is tap or junit, not %s", optarg)
			                : SALVE_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fputs(usage, stderr);
		return SALVE_EXIT_USAGE;
	}
	salve_env e;
	int code;
	if ((code = open_env(&e, g)))
		return code;
	if (!verbose && !g->verbose)
		salve_set_log_level(SALVE_LOG_WARN); /* the runbooks' log() lines: with -v */
	code = salve_runbook_tests(&e, argv + optind, (size_t)(argc - optind), format, verbose,
	                           stdout);
	salve_env_close(&e);
	return code;
}

static int cmd_plugins(const struct salve_cli_globals *g, int argc, char **argv)
{
	static const char usage[] =
	    "usage: salve plugins [--json]\n"
	    "Lists the plugins in the search path, their actions and kinds.\n";
	int as_json = 0;
	int code = json_help_options(argc, argv, usage, &as_json);
	if (code >= 0)
		return code;
	if (optind < argc)
		return usage_error("plugins takes no arguments (got \"%s\")", argv[optind]);
	salve_env e;
	if ((code = open_env(&e, g)))
		return code;
	json_t *list = salve_registry_list(e.reg);
	if (as_json) {
		json_t *o = json_pack("{s:s, s:O}", "search_path",
		                      salve_registry_search_path(e.reg), "plugins", list);
		print_json(o);
		json_decref(o);
	} else {
		printf("search path: %s\n", salve_registry_search_path(e.reg));
		size_t i;
		json_t *p;
		json_array_foreach(list, i, p)
		{
			const char *perr = json_string_value(json_object_get(p, "error"));
			if (perr) {
				printf("%-12s REFUSED: %s\n",
				       json_string_value(json_object_get(p, "name")), perr);
				continue;
			}
			printf("%-12s %-8s %s\n", json_string_value(json_object_get(p, "name")),
			       json_string_value(json_object_get(p, "version")),
			       json_string_value(json_object_get(p, "path")));
			size_t k;
			json_t *a;
			json_array_foreach(json_object_get(p, "actions"), k, a) printf(
			    "    %-20s %-7s%s\n", json_string_value(json_object_get(a, "name")),
			    json_string_value(json_object_get(a, "kind")),
			    json_is_true(json_object_get(a, "undoable")) ? " undoable" : "");
		}
	}
	json_decref(list);
	salve_env_close(&e);
	return 0;
}

static int cmd_audit(const struct salve_cli_globals *g, int argc, char **argv)
{
	static const char usage[] =
	    "usage: salve audit verify [--accept-missing-head] [FILE]\n"
	    "Checks the hash chain; names the first edited or missing record. Exits 0 when\n"
	    "intact, 1 when not. FILE defaults to the log --config (or --audit) names.\n"
	    "\n"
	    "  --accept-missing-head  the log's .head file is gone and you know why: when the\n"
	    "                         chain is intact, record that you accepted the log as it is\n"
	    "                         (an audit record naming you) and recreate the head, so runs\n"
	    "                         can append again. Records removed from the end before now\n"
	    "                         can no longer be detected.\n";
	const char *file = NULL;
	int accept = 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if (strcmp(argv[i], "--accept-missing-head") == 0) {
			accept = 1;
		} else if (argv[i][0] == '-' && strcmp(argv[i], "--") != 0) {
			salve_cli_error("audit verify: unknown option %s", argv[i]);
			fputs(usage, stderr);
			return SALVE_EXIT_USAGE;
		} else if (!file) {
			file = strcmp(argv[i], "--") == 0 && i + 1 < argc ? argv[++i] : argv[i];
		} else {
			fputs(usage, stderr);
			return SALVE_EXIT_USAGE;
		}
	}
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "verify") != 0) {
		fputs(usage, stderr);
		return SALVE_EXIT_USAGE;
	}
	salve_env e;
	int opened = 0;
	if (!file) { /* the log salve.yaml (or --audit) names */
		int code = open_env(&e, g);
		if (code)
			return code;
		opened = 1;
		file = e.audit_path;
	}
	char msg[2048];
	int rc = accept ? salve_audit_accept_missing_head(file, msg, sizeof msg)
	                : salve_audit_verify(file, msg, sizeof msg);
	int code = rc == 0                             ? 0
	           : rc > 0                            ? 1
	           : accept && access(file, R_OK) == 0 ? SALVE_EXIT_IOERR
	                                               : SALVE_EXIT_USAGE;
	if (rc == 0)
		printf("%s\n", msg);
	else
		salve_cli_error("audit verify: %s", msg);
	if (opened)
		salve_env_close(&e);
	return code;
}

/* With ha: a resolved run's keys leave etcd, and its lock if it still names it. */
static int resolve_in_etcd(salve_env *e, const char *run_id)
{
	char err[1024];
	salve_etcd *etcd = salve_ha_node_etcd(e->ha, err, sizeof err);
	if (!etcd || salve_ha_run_resolve(etcd, salve_ha_node_ident(e->ha)->prefix, run_id, err,
	                                  sizeof err) < 0) {
		salve_cli_error("run %s: resolved here, but its lock and journal stay in etcd: %s",
		                run_id, err);
		return -1;
	}
	printf("salve: run %s: its lock and journal left etcd\n", run_id);
	return 0;
}

static int cmd_recover(const struct salve_cli_globals *g, int argc, char **argv)
{
	static const char usage[] =
	    "usage: salve recover [--json] [--list] [--dry-run]\n"
	    "       salve recover --resolve RUN --note TEXT\n"
	    "Finds runs that died with changes in place (their journals in the\n"
	    "state dir) and rolls them back, newest change first, with the runbook\n"
	    "exactly as it ran. A run that had finished is not undone; a live run is\n"
	    "left to itself. Exits 2 when something cannot be undone, or a journal\n"
	    "cannot be read or trusted, and says what.\n"
	    "\n"
	    "  --list            what would be recovered: run, runbook, steps, undo records\n"
	    "  -n, --dry-run     the plan, newest first: nothing is changed\n"
	    "  --resolve RUN     mark run RUN as handled by a human (its journal ended in\n"
	    "                    exit 2, or cannot be trusted); needs --note; audited\n"
	    "  --note TEXT       what was checked or done by hand\n"
	    "  --json            the report as JSON on stdout\n";
	static const struct option opts[] = {{"json", no_argument, 0, 'j'},
	                                     {"list", no_argument, 0, 'l'},
	                                     {"dry-run", no_argument, 0, 'n'},
	                                     {"resolve", required_argument, 0, 'r'},
	                                     {"note", required_argument, 0, 'N'},
	                                     {"help", no_argument, 0, 'h'},
	                                     {0, 0, 0, 0}};
	int as_json = 0, c;
	salve_recover_options ro = {0, 0, NULL};
	const char *resolve = NULL, *note = NULL;
	sub_options_begin();
	while ((c = sub_option(argc, argv, "nh", opts)) != -1) {
		switch (c) {
		case 'j':
			as_json = 1;
			break;
		case 'l':
			ro.list = 1;
			break;
		case 'n':
			ro.dry_run = 1;
			break;
		case 'r':
			resolve = optarg;
			break;
		case 'N':
			note = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return SALVE_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_error("recover takes no arguments (got \"%s\")", argv[optind]);
	if (note && !resolve)
		return usage_error("%s goes with --resolve RUN", "--note");
	if (resolve && (ro.list || ro.dry_run || as_json))
		return usage_error("%s marks one run handled: no --list, --dry-run or --json",
		                   "--resolve");
	if (resolve && (!note || !*note))
		return usage_error("--resolve %s needs --note TEXT (what was checked or done)",
		                   resolve);
	salve_env e;
	int code;
	if ((code = open_env(&e, g)))
		return code;
	char err[1024];
	salve_audit *audit = NULL;
	if (!ro.list && !ro.dry_run) {
		audit = salve_audit_open(e.audit_path, e.cfg.audit_sync, err, sizeof err);
		if (!audit) {
			salve_cli_error("%s", err);
			salve_env_close(&e);
			return SALVE_EXIT_CANTCREAT;
		}
	}
	ro.ha = e.ha;
	if (resolve) {
		code = salve_engine_resolve(e.state_dir, audit, resolve, note, stdout);
		if (code == 0 && e.ha && resolve_in_etcd(&e, resolve) < 0)
			code = SALVE_EXIT_TEMPFAIL;
		salve_audit_close(audit);
		salve_env_close(&e);
		return code;
	}
	json_t *summary = NULL;
	code =
	    salve_engine_recover(e.state_dir, e.reg, audit, as_json ? NULL : stdout, &ro, &summary);
	json_t *runs = json_object_get(summary, "runs");
	if (as_json) {
		print_json(summary);
	} else if (json_object_get(summary, "error")) {
		/* Already said: the state dir was refused. */
	} else if (json_array_size(runs) == 0) {
		printf("salve: nothing to recover in %s\n", e.state_dir);
	} else if (code == SALVE_EXIT_ROLLBACK_INCOMPLETE) {
		printf("salve: recover: some runs need a human (see above): exit 2\n");
	}
	json_decref(summary);
	salve_audit_close(audit);
	salve_env_close(&e);
	return code;
}

#ifndef SALVE_WITH_SERVE
/* The server is salve-serve, beside this binary (a build tree) or in the install bindir. */
static int exec_server(char **argv, const char *cmd)
{
	char exe[PATH_MAX], path[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	const char *candidates[2] = {NULL, SALVE_BINDIR "/salve-serve"};
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		snprintf(path, sizeof path, "%s/salve-serve", exe);
		candidates[0] = path;
	}
	for (size_t i = 0; i < 2; i++) {
		if (candidates[i] && access(candidates[i], X_OK) == 0) {
			argv[0] = (char *)candidates[i];
			execv(candidates[i], argv);
			salve_cli_error("%s: cannot run %s: %s", cmd, candidates[i],
			                strerror(errno));
			return SALVE_EXIT_SOFTWARE;
		}
	}
	return usage_error(
	    "\"%s\" is the server's: salve-serve was not found beside salve or in " SALVE_BINDIR
	    " (build with SALVE_SERVE=ON)",
	    cmd);
}
#endif

int main(int argc, char **argv)
{
	struct salve_cli_globals g;
	memset(&g, 0, sizeof g);
#ifdef SALVE_WITH_SERVE
	int standalone = salve_serve_standalone(argc, argv);
	if (standalone >= 0) {
		salve_redact_clear();
		return standalone;
	}
#endif
	static const struct option opts[] = {{"config", required_argument, 0, 'c'},
	                                     {"audit", required_argument, 0, 'a'},
	                                     {"state-dir", required_argument, 0, 's'},
	                                     {"plugin-path", required_argument, 0, 'P'},
	                                     {"audit-sync", required_argument, 0, 'S'},
	                                     {"verbose", no_argument, 0, 'v'},
	                                     {"version", no_argument, 0, 'V'},
	                                     {"help", no_argument, 0, 'h'},
	                                     {0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			g.config_path = optarg;
			break;
		case 'a':
			g.audit_path = optarg;
			break;
		case 's':
			g.state_dir = optarg;
			break;
		case 'P':
			g.plugin_path = optarg;
			break;
		case 'S':
			g.audit_sync = optarg;
			break;
		case 'v':
			g.verbose = 1;
			salve_set_log_level(SALVE_LOG_DEBUG);
			break;
		case 'V':
			printf("salve %s (plugin ABI %d.%d)\n", SALVE_VERSION,
			       SALVE_PLUGIN_ABI_MAJOR, SALVE_PLUGIN_ABI_MINOR);
			return 0;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return SALVE_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return SALVE_EXIT_USAGE;
	}
	const char *cmd = argv[optind];
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	int code;
	if (strcmp(cmd, "run") == 0)
		code = cmd_run(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "validate") == 0)
		code = cmd_validate(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "test") == 0)
		code = cmd_test(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "plugins") == 0)
		code = cmd_plugins(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "audit") == 0 && sub_argc > 1 && strcmp(sub_argv[1], "show") == 0)
		code = salve_cmd_audit_show(&g, sub_argc - 1, sub_argv + 1);
	else if (strcmp(cmd, "audit") == 0 && sub_argc > 1 && strcmp(sub_argv[1], "tail") == 0)
		code = salve_cmd_audit_tail(&g, sub_argc - 1, sub_argv + 1);
	else if (strcmp(cmd, "doc") == 0)
		code = salve_cmd_doc(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "stubs") == 0)
		code = salve_cmd_stubs(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "audit") == 0)
		code = cmd_audit(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "report") == 0)
		code = salve_cmd_report(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "recover") == 0)
		code = cmd_recover(&g, sub_argc, sub_argv);
	else if (strcmp(cmd, "serve") == 0 || strcmp(cmd, "routes") == 0 ||
	         strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0) {
#ifdef SALVE_WITH_SERVE
		if (strcmp(cmd, "serve") == 0)
			code = salve_serve_main(&g, sub_argc, sub_argv);
		else if (strcmp(cmd, "routes") == 0)
			code = salve_routes_main(&g, sub_argc, sub_argv);
		else
			code = salve_control_main(&g, sub_argc, sub_argv);
#else
		code = exec_server(argv, cmd);
#endif
	} else if (strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		code = 0;
	} else
		code = usage_error("unknown command \"%s\"", cmd);
	salve_redact_clear();
	return code;
}
