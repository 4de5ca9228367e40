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
#include <lua.h>
#include <signal.h>
#include <stddef.h>

#include "registry.h"

typedef struct salve_step {
	char *name;
	int line;
	/* Lua registry references, LUA_NOREF when absent. */
	int when, check, run, verify, rollback;
	int rollback_disabled; /* rollback = false */
	double timeout;        /* seconds; 0 = the run's default */
	json_t *approve;       /* approve = {...} (used by salve serve), or NULL */
} salve_step;

enum salve_phase {
	SALVE_PHASE_LOAD = 0,
	SALVE_PHASE_WHEN,
	SALVE_PHASE_CHECK,
	SALVE_PHASE_RUN,
	SALVE_PHASE_VERIFY,
	SALVE_PHASE_ROLLBACK,
	SALVE_PHASE_LIFECYCLE, /* run lifecycle notifications: notify actions only */
};

struct salve_exec; /* the engine's per-run state */

typedef struct salve_runbook {
	lua_State *L;
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
	int declared;            /* runbook{} was called */
	struct salve_exec *exec; /* set by the engine while running */
	int salve_ref;           /* registry reference of the `salve` table */
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

/* Names of the embedded runbooks, NULL-terminated (for --help). */
const char *const *salve_builtin_runbooks(void);

/* Implemented by the engine: one plugin action invoked from a runbook. where is "file:line:".
 * Returns 0 with *result set (new reference) or -1 with a message in err. */
int salve_exec_action(salve_runbook *rb, salve_loaded_plugin *plugin, const salve_action *action,
                      json_t *args, const char *where, json_t **result, char *err, size_t errlen);
/* Implemented by the engine: degraded("msg") from a step -- the run goes on and is not rolled
 * back, but ends as degraded (exit 3). 0, or -1 with err when called outside a step. */
int salve_exec_degraded(salve_runbook *rb, const char *where, const char *message, char *err,
                        size_t errlen);
/* Implemented by the engine: the Lua count hook's question. Returns a reason to stop the
 * running Lua code (deadline passed, run cancelled) or NULL. */
const char *salve_exec_interrupt(salve_runbook *rb);

/* A lua_CFunction for lua_pcall's message handler: the error (whatever its type; a
 * __tostring that fails is not called twice) with a traceback. */
int salve_lua_traceback(lua_State *L);

#endif
