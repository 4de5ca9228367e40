/*
 * salve plugin ABI -- the only header a plugin needs.
 *
 * A plugin is a shared object exporting one function, salve_plugin_entry(), that returns a
 * static, versioned descriptor (struct salve_plugin). The host checks the version before it
 * reads anything else, then validates the descriptor: a mutate action without check/plan/
 * apply, or an undoable mutate action without undo, is refused with a reason.
 *
 * Values are jansson json_t (objects, arrays, strings, integers, reals, booleans, null).
 *
 * Ownership, stated once for the whole ABI:
 *  - Everything the host passes into a plugin callback (args, config, undo records, the
 *    salve_call, strings) is borrowed for the duration of that call only. json_incref() what
 *    you keep.
 *  - Every json_t a plugin hands back through an out-parameter (result, observed, predicted,
 *    undo, message) becomes the host's; the host json_decref()s it. Leave it NULL for "none".
 *  - A string returned by host->secret() is malloc'd for the plugin, which frees it with free().
 *    Every other pointer a host service returns is borrowed until the callback returns.
 *
 * Threads: a salve_call is used by one thread. `salve serve` runs several runs at once, so
 * the same action may be called concurrently from different threads with different calls;
 * state shared across calls (the void *state from init) must be protected by the plugin.
 * init and fini are called once per process, from one thread.
 *
 * Compatibility: structs only grow at the end, each later field commented "added in 1.N";
 * the host copies min(struct_size, sizeof) into a zeroed copy, so an older plugin reads as
 * if its missing fields were NULL/0. The arrays (actions, args, config, settings) are walked
 * with the element sizes the descriptor declares (action_size, arg_size, setting_size, added
 * in 1.2 and filled by SALVE_PLUGIN_HEADER; a 1.0/1.1 descriptor, or a size of 0, means the
 * sizes of 1.2, which for actions and args are those of 1.0), and each element is copied the
 * same way. A field appended later makes -Wextra warn about positional initializers that
 * leave it out: write designated initializers (.name = ...) where a plugin must build with
 * -Werror across releases.
 */
#ifndef SALVE_PLUGIN_H
#define SALVE_PLUGIN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SALVE_PLUGIN_ABI_MAJOR 1
#define SALVE_PLUGIN_ABI_MINOR 2

/* The one symbol every plugin exports (see SALVE_PLUGIN_DECLARE). */
#define SALVE_PLUGIN_ENTRY_SYMBOL "salve_plugin_entry"

/* Return codes. Callers branch only on these; the message for people goes through
 * host->fail(). Codes are never renumbered. */
enum salve_status {
	SALVE_OK = 0,           /* done; for check: a change is needed */
	SALVE_HOLDS = 1,        /* check only: the wanted state is already there */
	SALVE_ERR = -1,         /* failed; not known to be transient */
	SALVE_ERR_RETRY = -2,   /* transient (timeout, 429, 5xx): the same call may succeed later */
	SALVE_ERR_INVALID = -3, /* arguments or configuration are wrong: retrying cannot help */
	SALVE_ERR_TIMEOUT = -4, /* the step's deadline passed */
	SALVE_ERR_CANCELED = -5, /* the run was cancelled (signal, denied approval, shutdown) */
	SALVE_ERR_NOTFOUND = -6, /* the target does not exist */
};

/* What an action does, declared so the host can enforce the run's mode. */
enum salve_kind {
	SALVE_READ = 1, /* observes only; runs in every mode */
	SALVE_MUTATE =
	    2, /* changes a system: check, plan, apply, undo; dry-run never reaches apply */
	SALVE_NOTIFY = 3, /* tells people; in dry-run rendered and printed, sent only in drills */
};

/* Types of arguments and settings; the host checks a value before the plugin sees it. */
enum salve_type {
	SALVE_T_ANY = 0,
	SALVE_T_STRING,
	SALVE_T_INT,
	SALVE_T_NUMBER, /* integer or real */
	SALVE_T_BOOL,
	SALVE_T_LIST,
	SALVE_T_MAP,
	/* added in 1.2: a duration in salve's one grammar: "250ms", "30s", "5m", "1h30m", "1d",
	 * a bare "30", or a JSON number of seconds; finite, >= 0, at most ten years. An argument
	 * reaches the plugin as written (string or number), a setting as a JSON real of seconds. */
	SALVE_T_DURATION,
	/* added in 1.2: a secret reference, "env:NAME" or "file:PATH", to resolve with
	 * host->secret(). An inline value is refused, and never echoed in the error. */
	SALVE_T_SECRET_REF,
};

/* salve_arg.flags */
#define SALVE_ARG_REQUIRED 0x1u /* the host refuses a call without it */
#define SALVE_ARG_SECRET   0x2u /* never written to the audit log, logs or errors */

/* One argument of an action (or, before 1.2, one key of a plugin's configuration). Arrays of
 * these end with an entry whose name is NULL. */
typedef struct salve_arg {
	const char *name;
	enum salve_type type;
	unsigned flags;
	const char *description;
} salve_arg;

/* added in 1.2: one setting of a plugin's section in salve.yaml (plugins: NAME:), the typed
 * config map. The host checks the section against it before init: an unknown key is refused
 * naming the key and the file, a required one must be there (REQUIRED), values must have the
 * type, defaults are filled in and durations become seconds. init then reads values without
 * parsing. SALVE_ARG_SECRET: the value itself is a credential (prefer SALVE_T_SECRET_REF); it
 * is registered for redaction and may have no default. Arrays end with a NULL name. */
typedef struct salve_setting {
	const char *name;
	enum salve_type type;
	unsigned flags; /* SALVE_ARG_REQUIRED, SALVE_ARG_SECRET */
	/* Text of the value used when the key is absent or null, read as the type: "30s" for a
	 * duration, "10", "true", a string as is, JSON for list, map and any. NULL: none. The
	 * loader refuses a default that does not fit its type, or one on a required setting. */
	const char *default_value;
	const char *description;
} salve_setting;

/* salve_action.flags */
#define SALVE_ACTION_NO_UNDO 0x1u /* mutate action that cannot be undone (e.g. delete a pod) */

enum salve_mode {
	SALVE_MODE_APPLY = 0,
	SALVE_MODE_DRY_RUN = 1,
};

enum salve_log_level {
	SALVE_LOG_ERROR = 0,
	SALVE_LOG_WARN = 1,
	SALVE_LOG_INFO = 2,
	SALVE_LOG_DEBUG = 3,
};

/* One invocation of one action. Opaque; valid only during the callback it is passed to. */
typedef struct salve_call salve_call;

/* Services the host gives plugins. Passed to init; keep the pointer, it lives as long as the
 * process. Every function takes the current call; `call` may be NULL only where noted. */
typedef struct salve_host {
	uint32_t struct_size;
	uint32_t abi_minor;
	/* A log line for people. The host redacts known secrets. call may be NULL. */
	void (*log)(salve_call *call, int level, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
	/* Set the message explaining the negative status the callback is about to return. */
	void (*fail)(salve_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
	/* Append an audit event under this call (e.g. one per retry attempt). data is borrowed,
	 * may be NULL; secrets in it are redacted by the host. */
	void (*audit)(salve_call *call, const char *event, const json_t *data);
	/* Resolve a secret reference: "env:NAME" or "file:/path" (trailing newline dropped). The
	 * value is registered for redaction everywhere. Returns a malloc'd string (the plugin
	 * frees it) or NULL with the reason set via fail(). call may be NULL (during init). */
	char *(*secret)(salve_call *call, const char *ref);
	/* The run's mode. A notify action runs in dry-run only when drill() is 1. */
	enum salve_mode (*mode)(salve_call *call);
	/* 1 when this is a drill (--fail-at, --drill-notify): notifications say [DRILL]. */
	int (*drill)(salve_call *call);
	/* 1 once the run is cancelled; long operations poll it and return SALVE_ERR_CANCELED. */
	int (*cancelled)(salve_call *call);
	/* Seconds left before the step's deadline (negative once passed, HUGE_VAL if none). */
	double (*remaining)(salve_call *call);
	/* The state init stored for this plugin. */
	void *(*state)(salve_call *call);
	/* Facts about the run, borrowed until the callback returns; NULL for an unknown key or
	 * when the run has no such fact. The keys the host serves:
	 *   "run_id"       the run's id, as in its audit records
	 *   "runbook"      the runbook's name
	 *   "step"         the step this call runs in
	 *   "trigger"      what started the run: "cli", "cron", "alert:<fingerprint>", ...
	 *   "fingerprint"  the alert fingerprint when an alert triggered the run
	 *   "mode"         "apply" or "dry-run"
	 *   "outcome"      "running" while steps run; in lifecycle notifications "success",
	 *                  "degraded", "rolled_back" or "rollback_incomplete"; in an approval
	 *                  notice "awaiting_approval"
	 *   "target"       what the run acts on (its lock key, or the route's target), when the
	 *                  trigger gave one */
	const char *(*run_info)(salve_call *call, const char *key);
	/* added in 1.1: one live status line for people ("batch 2/5: 40 done, 1 failed"). On a
	 * terminal it replaces the previous one; elsewhere (cron) it is printed as a plain line.
	 * Guard with SALVE_HOST_HAS(host, progress): a 1.0 host does not have it. */
	void (*progress)(salve_call *call, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
	/* added in 1.2: register a credential the plugin read itself (a kubeconfig token, client
	 * key or password, a webhook URL or header from its own configuration), so the host
	 * redacts it (and its base64 and percent-encoded forms) from every log, error, output and
	 * audit record from now on. Call it as soon as the value is loaded, before any request
	 * can echo it. value is copied; values under 4 bytes are ignored. call may be NULL.
	 * Guard with SALVE_HOST_HAS(host, register_secret): a 1.1 host does not have it. */
	void (*register_secret)(salve_call *call, const char *value);
	/* added in 1.2: in plan and apply, what this call's check returned through *observed
	 * (check ran first, found a change needed, and plan or apply follows with the same args),
	 * so they can act on what check saw instead of looking again. NULL in check, run, undo
	 * and render, and when check returned none. Borrowed until the callback returns. Data
	 * only the plugin needs may go in it: a check that returns SALVE_OK has its observed
	 * handed to plan/apply, not audited. Guard with SALVE_HOST_HAS(host, observed): a 1.1
	 * host does not have it, and then plan and apply must look for themselves. */
	const json_t *(*observed)(salve_call *call);
} salve_host;

/* Whether the host offers a service added after 1.0. */
#define SALVE_HOST_HAS(host, field)                                                                \
	((host)->struct_size >= offsetof(salve_host, field) + sizeof((host)->field) &&             \
	 (host)->field != NULL)

typedef struct salve_action {
	const char *name;
	enum salve_kind kind;
	const salve_arg *args; /* schema; the host validates required args and types first */
	unsigned flags;
	const char *description;
	/* Name of the argument that names what the action acts on (audited as "target"). */
	const char *target_arg;
	/* read and notify: do it. */
	int (*run)(salve_call *call, const json_t *args, json_t **result);
	/* mutate: is the wanted state already there? SALVE_HOLDS or SALVE_OK (change needed),
	 * negative on error. *observed (optional) describes what was found; when the state holds
	 * it is the action's result. */
	int (*check)(salve_call *call, const json_t *args, json_t **observed);
	/* mutate: what apply would do, as a result of the same shape apply returns (the host
	 * marks it planned). May read, may use a server-side dry run; must not change anything. */
	int (*plan)(salve_call *call, const json_t *args, json_t **predicted);
	/* mutate: change it. On SALVE_OK *undo must describe how to put back what was there
	 * (unless SALVE_ACTION_NO_UNDO). If apply fails after changing something, it still sets
	 * *undo so the host can roll the partial change back. */
	int (*apply)(salve_call *call, const json_t *args, json_t **result, json_t **undo);
	/* mutate: put back what an undo record describes. Idempotent: called again after a
	 * crash, it must succeed when the record was already applied. */
	int (*undo)(salve_call *call, const json_t *undo);
	/* notify (optional): the message as it would be sent, for dry-run output. */
	int (*render)(salve_call *call, const json_t *args, json_t **message);
} salve_action;

typedef struct salve_plugin {
	uint32_t struct_size; /* sizeof(salve_plugin) as the plugin was compiled */
	uint16_t abi_major;   /* must equal the host's */
	uint16_t abi_minor;   /* must not be newer than the host's */
	const char *name;     /* what runbooks say in plugin "name" */
	const char *version;
	const char *description;
	const salve_action *actions; /* ends with an entry whose name is NULL */
	/* Keys of the plugin's section in salve.yaml, checked for unknown and required keys
	 * only; may be NULL. Since 1.2 declare `settings` instead (not both). */
	const salve_arg *config;
	/* Called once after loading. config is the plugin's section of salve.yaml (an object,
	 * never NULL), checked against settings and with its defaults filled in. On failure
	 * return negative and write the reason into err. */
	int (*init)(const salve_host *host, const json_t *config, void **state, char *err,
	            size_t errlen);
	void (*fini)(void *state);
	/* added in 1.2: the element sizes of the arrays as the plugin was compiled, so the host
	 * walks them right after later releases append fields (SALVE_PLUGIN_HEADER sets them). */
	uint32_t action_size;  /* sizeof(salve_action) */
	uint32_t arg_size;     /* sizeof(salve_arg) */
	uint32_t setting_size; /* sizeof(salve_setting) */
	/* added in 1.2: the typed config map of the plugin's section in salve.yaml; may be
	 * NULL (then the section must be empty, unless config is declared). */
	const salve_setting *settings;
} salve_plugin;

/* Fills the version and size fields; use as:
 * static const salve_plugin p = { SALVE_PLUGIN_HEADER, .name = ..., ... } */
#define SALVE_PLUGIN_HEADER                                                                        \
	.struct_size = sizeof(salve_plugin), .abi_major = SALVE_PLUGIN_ABI_MAJOR,                  \
	.abi_minor = SALVE_PLUGIN_ABI_MINOR, .action_size = sizeof(salve_action),                  \
	.arg_size = sizeof(salve_arg), .setting_size = sizeof(salve_setting)

/* Exports the entry point for a descriptor. */
#define SALVE_PLUGIN_DECLARE(descriptor)                                                           \
	__attribute__((visibility("default"))) const salve_plugin *salve_plugin_entry(void);       \
	const salve_plugin *salve_plugin_entry(void)                                               \
	{                                                                                          \
		return &(descriptor);                                                              \
	}

typedef const salve_plugin *(*salve_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* SALVE_PLUGIN_H */
