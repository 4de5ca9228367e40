/*
 * A loaded runbook: a sandboxed Lua 5.4 state (core/sandbox.h: no io, no os.execute, no
 * require, text-only load, no finalizers, bounded pattern matching, memory capped,
 * instruction-count hook for deadlines and cancellation) holding the runbook's metadata and
 * its steps. Only the core touches Lua; plugins see JSON values. Every call into Lua from C
 * is protected: a runbook error fails its run, never the process.
 *
 * Ownership: the runbook owns its lua_State and everything below; the registry is borrowed
 * and must outlive it. One runbook is used by one thread at a time.
 */
#ifndef SALVE_RUNBOOK_H
#define SALVE_RUNBOOK_H

#include <jansson.h>
#include <signal.h>
#include <stddef.h>

#include "registry.h"

struct lua_State;

/* A step's functions, in the order the engine calls them. */
enum salve_step_fn {
	SALVE_FN_WHEN = 0,
	SALVE_FN_CHECK,
	SALVE_FN_RUN,
	SALVE_FN_VERIFY,
	SALVE_FN_ROLLBACK,
	SALVE_FN_COUNT
};

typedef struct salve_step {
	char *name;
	int line;
	int fn[SALVE_FN_COUNT]; /* the runbook module's Lua references: use salve_step_has */
	int rollback_disabled;  /* rollback = false */
	double timeout;         /* seconds; 0 = the run's default */
	json_t *approve;        /* approve = {...} (used by salve serve), or NULL */
} salve_step;

/* Whether the step declares fn. */
int salve_step_has(const salve_step *st, enum salve_step_fn fn);

/* What runs the steps (the engine) is called back through these from inside a step's
 * functions: a plugin action, degraded("msg"), and the instruction-count hook's question
 * (a reason to stop the running Lua code, or NULL). ctx is the one given to
 * salve_runbook_begin_run. */
typedef struct salve_step_hooks {
	int (*action)(void *ctx, salve_loaded_plugin *plugin, const salve_action *action,
	              json_t *args, const char *where, json_t **result, char *err, size_t errlen);
	int (*degraded)(void *ctx, const char *where, const char *message, char *err,
	                size_t errlen);
	const char *(*interrupt)(void *ctx);
	/* sleep() and wait_until(): waits seconds, stopping early with -1 and the reason in err
	 * when the step's deadline passes or the run is cancelled; 0 when the time is up. */
	int (*pause)(void *ctx, double seconds, char *err, size_t errlen);
	/* An audit record of the step (stolen): what sleep() and wait_until() did. */
	void (*audit)(void *ctx, json_t *record);
} salve_step_hooks;

/* The run's facts a runbook reads from its salve table. */
typedef struct salve_run_facts {
	const char *run_id;
	const char *trigger;
	int dry_run;
	int drill;
} salve_run_facts;

typedef struct salve_runbook {
	struct lua_State *L;
	char *source; /* file path, or builtin:NAME */
	char *text;   /* the source text as loaded (the journal keeps a copy for recover) */
	size_t text_len;
	char *name;
	char *description;
	json_t *params_spec; /* name -> {type, required, default, description} */
	char *lock;          /* template, or NULL */
	double timeout;      /* run timeout in seconds, 0 = none */
	json_t *notify;      /* runbook{ notify = { to = ..., on = {...} } }, or NULL */
	salve_step *steps;
	size_t nsteps;
	json_t *plugins;    /* names of plugins the runbook asked for */
	json_t *step_lines; /* step name -> line it was declared on */
	salve_registry *reg;
	size_t mem_used, mem_limit;
	int declared;  /* runbook{} was called */
	int salve_ref; /* registry reference of the `salve` table */
	/* Between salve_runbook_begin_run and salve_runbook_end_run: */
	const salve_step_hooks *hooks;
	void *hooks_ctx;
	int p_ref, s_ref; /* the run's p and s tables */
	/* The load phase (the runbook's top level) and closing: see salve_runbook_interrupted. */
	int loading, closing, plugin_error;
	double load_deadline; /* salve_now() seconds */
	int load_deadline_is_callers;
	volatile sig_atomic_t *load_cancel;
	enum {
		SALVE_LOAD_STOP_NONE,
		SALVE_LOAD_STOP_BUDGET,
		SALVE_LOAD_STOP_DEADLINE,
		SALVE_LOAD_STOP_CANCEL
	} load_stop;
	char why[256];
} salve_runbook;

/* The longest a runbook's top level may run (it should only declare). */
#define SALVE_LOAD_TIMEOUT 10.0

typedef struct salve_load_options {
	double deadline;               /* salve_now() seconds; 0 = SALVE_LOAD_TIMEOUT from now */
	volatile sig_atomic_t *cancel; /* nonzero (a signal number) stops the top level; or NULL */
} salve_load_options;

/* Loads source (a path, or builtin:NAME for an embedded runbook) and runs its top level
 * under a deadline: opt's (may be NULL), and at most SALVE_LOAD_TIMEOUT. On failure returns
 * NULL, sets *exit_code and a file:line message: 65 invalid runbook (also a top level that
 * ran past SALVE_LOAD_TIMEOUT), 69 plugin unavailable, 1 when opt's deadline passed or opt's
 * cancel was set first (nothing ran, nothing to undo). */
salve_runbook *salve_runbook_load_with(const char *source, salve_registry *reg,
                                       const salve_load_options *opt, int *exit_code, char *err,
                                       size_t errlen);
/* salve_runbook_load_with(source, reg, NULL, ...). */
salve_runbook *salve_runbook_load(const char *source, salve_registry *reg, int *exit_code,
                                  char *err, size_t errlen);
void salve_runbook_free(salve_runbook *rb);

/* Checks given params (an object; values may be strings from --param) against the runbook's
 * declarations: converts types, applies defaults, refuses unknown and missing ones.
 * *out is a new reference. 0, or -1 with err. */
int salve_runbook_params(const salve_runbook *rb, const json_t *given, json_t **out, char *err,
                         size_t errlen);

/* ---- running the steps (core/runbook_call.c): every Lua call of a run is here ---- */

/* Starts a run: p (the validated params), an empty s, the salve table's run facts, and the
 * hooks that plugin actions, degraded() and the count hook go through until
 * salve_runbook_end_run. 0, or -1 when Lua ran out of memory: then every call fails saying
 * so. */
int salve_runbook_begin_run(salve_runbook *rb, const salve_step_hooks *hooks, void *ctx,
                            const json_t *params, const salve_run_facts *facts);
void salve_runbook_end_run(salve_runbook *rb);

/* What salve_runbook_call returns besides 1 (truthy), 0 (false) and -1 (error): the function
 * returned nothing (nil), a forgotten `return` in a verify. */
#define SALVE_CALL_NIL 2

/* Calls step's fn with (p, s), verify with (p, s, s[step]); run's first result is kept in
 * s[step]. Returns 1 truthy, 0 false, SALVE_CALL_NIL nil, -1 error (err: "file:line:
 * message", redacted; *traceback, when not NULL, a new string or left NULL). */
int salve_runbook_call(salve_runbook *rb, size_t step, enum salve_step_fn fn, char *err,
                       size_t errlen, char **traceback);

/* What step's run left in s[step] as JSON (new reference), or NULL: nothing (why empty) or
 * not representable (why says why). */
json_t *salve_runbook_step_result(salve_runbook *rb, size_t step, char *why, size_t whylen);

/* Puts {step: value} back into s, as a recovered run's rollback functions saw it. */
void salve_runbook_restore_results(salve_runbook *rb, const json_t *results);

/* The step named name, or NULL. */
const salve_step *salve_runbook_step(const salve_runbook *rb, const char *name, size_t *index);

#endif
