/*
 * Launch: the one way a run starts, whatever triggered it (salve run, salve serve's alerts,
 * and any trigger to come). A trigger turns its input into a salve_launch_request; launch
 * loads the runbook (under the run's deadline and the trigger's cancel flag), checks the
 * params, starts every plugin the runbook uses, takes the runbook's lock (waiting as the
 * trigger says), fills the engine's options the same way for every trigger (lifecycle
 * notifications from salve.yaml, the run's target, timeouts) and runs the engine.
 *
 * Also the environment every command opens first (salve_env): the config with the global
 * options applied and the plugin registry.
 *
 * Ownership: a salve_env owns its config and registry until salve_env_close. A request and
 * what it points to are borrowed for the call. salve_launch may run on several threads at
 * once with one env (salve serve's workers): the registry is thread-safe, the env read-only.
 */
#ifndef SALVE_LAUNCH_H
#define SALVE_LAUNCH_H

#include <jansson.h>
#include <signal.h>
#include <stdio.h>

#include "audit.h"
#include "cli.h"
#include "config.h"
#include "engine.h"
#include "registry.h"
#include "runbook.h"

typedef struct salve_env {
	salve_config cfg;
	salve_registry *reg;
	const char *audit_path; /* --audit, or the config's */
	const char *state_dir;  /* --state-dir, or the config's */
	char *dirs_copy[2];
	/* With `ha:` in salve.yaml: this process in the cluster (node.h), connected on first
	 * use. Runs in apply mode then take their lock in etcd and journal there (harun.h). */
	struct salve_ha_node *ha;
} salve_env;

/* Loads the config and applies the global options. 0, or the exit status with err (nothing
 * to close then): 65 for a bad config, 64 for a bad option. */
int salve_env_open(salve_env *e, const struct salve_cli_globals *g, char *err, size_t errlen);
void salve_env_close(salve_env *e);

/* Where a launch stopped when its run did not start. */
enum salve_launch_stage {
	SALVE_LAUNCH_RAN = 0,   /* the engine ran: the summary tells the outcome */
	SALVE_LAUNCH_LOAD,      /* the runbook did not load, or loading was interrupted */
	SALVE_LAUNCH_PARAMS,    /* params refused, or --fail-at names no step */
	SALVE_LAUNCH_PLUGIN,    /* a plugin the runbook uses could not start */
	SALVE_LAUNCH_AUDIT,     /* the audit log could not be opened */
	SALVE_LAUNCH_LOCK_BUSY, /* the lock stayed held (no wait, timeout, or cancelled) */
	SALVE_LAUNCH_LOCK,      /* the lock could not be taken (an error) */
};

/* What a trigger asks for. Zero means "the default" everywhere. */
typedef struct salve_launch_request {
	const char *runbook;  /* a path or builtin:NAME */
	const json_t *params; /* given params (strings are converted), or NULL */
	enum salve_mode mode;
	int drill_notify;        /* dry-run drill: notifications sent, marked [DRILL] */
	const char *fail_at;     /* drill: fail after this step's run (it must exist) */
	int drill_force;         /* dry-run drill: fail_at's step runs even if its gate is shut */
	int approve_all;         /* the person launching approves every approve step */
	const char *trigger;     /* "cli", "cron", "alert:<fingerprint>", ...; "cli" if NULL */
	const char *fingerprint; /* an alert's fingerprint, or NULL */
	const json_t *who;       /* who started it, audited in run_start and refusals; or NULL */
	const char *run_id;      /* preset (serve's), or NULL for a fresh one */
	const char *target;      /* what the run acts on; NULL: its lock key */
	double run_timeout;      /* > 0 overrides the config's (and the runbook's) */
	double step_timeout;     /* >= 0 overrides the config's; < 0 the config's */
	int lock_wait;           /* wait for a held lock (else refuse at once) */
	double lock_timeout;     /* the longest wait; <= 0 forever */
	volatile sig_atomic_t *cancel; /* set (a signal number, or 1) to stop: never NULL */
	salve_audit *audit;            /* the trigger's audit log, or NULL: opened from env */
	FILE *out;                     /* progress for people, or NULL */
	/* salve test: plugin calls answered from a fixture; the plugins are loaded for their
	 * descriptors but never started. NULL for a real run. */
	struct salve_replay *replay;
	/* The trigger's hooks (each may be NULL), all with ctx. */
	void (*loaded)(void *ctx, const salve_runbook *rb);  /* the runbook is loaded */
	void (*waiting)(void *ctx, const char *lock_key);    /* the lock is held: waiting */
	void (*running)(void *ctx, const salve_runbook *rb); /* the engine starts */
	void (*on_event)(void *ctx, const json_t *event);    /* see salve_run_options */
	int (*approve)(void *ctx, salve_run *run, const char *step, const json_t *spec, char *why,
	               size_t whylen);
	void *ctx;
} salve_launch_request;

typedef struct salve_launch_result {
	enum salve_launch_stage stage;
	int exit_code;
	char error[4096]; /* why the run did not start (stage != RAN), redacted */
	char run_id[64];
	json_t *summary; /* the engine's summary when it ran (new reference), else NULL */
} salve_launch_result;

/* Launches one run. Returns the exit status (also in res->exit_code); res->summary must be
 * released by the caller (json_decref). */
int salve_launch(const salve_env *env, const salve_launch_request *rq, salve_launch_result *res);

#endif
