/*
 * The host side of the plugin ABI: the salve_host table and the salve_call a plugin sees.
 * The engine fills a salve_run_info per run and a salve_call per action invocation.
 * A salve_call is used by one thread; the run info may be shared read-only.
 */
#ifndef SALVE_HOST_H
#define SALVE_HOST_H

#include <salve/plugin.h>
#include <signal.h>

#include "audit.h"
#include "registry.h"

typedef struct salve_run_info {
	const char *run_id;
	const char *runbook;
	const char *trigger;     /* cli, cron, alert:<fingerprint>, ... */
	const char *fingerprint; /* alert fingerprint when triggered by one */
	enum salve_mode mode;
	int drill;
	volatile sig_atomic_t *cancel; /* non-zero: cancelled */
	int ignore_cancel;             /* set during rollback: undo must finish */
	salve_audit *audit;
	const char *outcome; /* running, success, rolled_back, rollback_incomplete */
	const char *target;  /* what the run acts on (its lock key), or NULL */
} salve_run_info;

struct salve_call {
	const salve_run_info *run;
	salve_loaded_plugin *plugin;
	const salve_action *action;
	const char *step;
	double deadline; /* monotonic seconds; 0 = none */
	char error[2048];
	/* check's *observed while plan or apply runs (host->observed); owned by whoever called
	 * check, NULL otherwise */
	json_t *observed;
};

const salve_host *salve_host_table(void);

/* Verbosity of host->log and the core's own messages: SALVE_LOG_* (default INFO). */
void salve_set_log_level(int level);
/* Clears a live progress line from the terminal before other output (thread-safe). */
void salve_progress_clear(void);
/* The core's own log line to stderr, redacted. */
void salve_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes an audit record for this run (adds "run" and the mode fields). Errors go to stderr:
 * an audit failure must be seen, but it never hides the result of what already happened. */
int salve_run_audit(const salve_run_info *run, json_t *record /* stolen */);

#endif
