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
 *  - A string returned by host->secret() or host->http_escape() is malloc'd for the plugin,
 *    which frees it with free(). A client from host->http_client() is the plugin's until
 *    host->http_client_free(); a response's body until host->http_response_clear(). Every
 *    other pointer a host service returns is borrowed until the callback returns.
 *
 * Threads: a salve_call is used by one thread. `salve serve` runs several runs at once, so
 * the same action may be called concurrently from different threads with different calls;
 * state shared across calls (the void *state from init) must be protected by the plugin.
 * init and fini are called once per process, from one thread.
 *
 * Compatibility: structs only grow at the end, each later field commented "added in 1.N";
 * the host copies min(struct_size, sizeof) into a zeroed copy, so an older plugin reads as
 * if its missing fields were NULL/0. The arrays (actions, args, results, config, settings)
 * are walked with the element sizes the descriptor declares (action_size, arg_size,
 * setting_size, added in 1.2 and filled by SALVE_PLUGIN_HEADER; a 1.0/1.1 descriptor, or a
 * size of 0, means the sizes of 1.2 as first released: for actions and args those of 1.0
 * (1.2 later appended salve_action.results), for settings ending at description), and each
 * element is copied the same way; a setting's nested fields array is walked with the same
 * setting_size. A field appended later makes -Wextra warn about positional initializers
 * that leave it out: write designated initializers (.name = ...) where a plugin must build
 * with -Werror across releases.
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

/* added in 1.2: the strings one string argument of an action may take (salve_action.choices).
 * values ends with NULL. */
typedef struct salve_arg_choices {
	const char *arg;
	const char *const *values;
} salve_arg_choices;

/* salve_setting.flags besides SALVE_ARG_REQUIRED and SALVE_ARG_SECRET (added in 1.2) */
/* A map or list with fields: every value of the map (webhooks: NAME: {...}) or element of the
 * list ([{wait, to}, ...]) is a map checked against fields; null counts as an empty map. */
#define SALVE_SETTING_EACH 0x4u
/* A list: a string or a list of non-empty strings; a lone string becomes a list of one. */
#define SALVE_SETTING_STRINGS 0x8u
#define SALVE_SETTING_MIN     0x10u /* min is set (numbers, durations in seconds, string bytes) */
#define SALVE_SETTING_MAX     0x20u /* max is set, as min */
#define SALVE_SETTING_ABOVE   0x40u /* with SALVE_SETTING_MIN: the value must be more than min */

/* added in 1.2: one setting of a plugin's section in salve.yaml (plugins: NAME:), the typed
 * config map. The host checks the section against it before init: an unknown key is refused
 * naming the key and the file, a required one must be there (REQUIRED), values must have the
 * type, choices and bounds, defaults are filled in and durations become seconds, in nested
 * maps too (errors name the path: "plugins.notify.retry.attempts", "...escalation[0].wait").
 * init then reads values without parsing. SALVE_ARG_SECRET: the value itself is a credential
 * (prefer SALVE_T_SECRET_REF); it is registered for redaction and may have no default. Arrays
 * end with a NULL name. The loader refuses a table whose fields contradict each other. */
typedef struct salve_setting {
	const char *name;
	enum salve_type type;
	unsigned flags; /* SALVE_ARG_REQUIRED, SALVE_ARG_SECRET, SALVE_SETTING_* */
	/* Text of the value used when the key is absent or null, read as the type: "30s" for a
	 * duration, "10", "true", a string as is, JSON for list, map and any. NULL: none. The
	 * loader refuses a default that does not fit its type, or one on a required setting. A
	 * map with fields and no default stays absent when absent; give it "{}" to have its
	 * fields' defaults filled in. */
	const char *default_value;
	const char *description;
	/* added in 1.2 (nested settings; a plugin built before leaves them NULL/0): */
	/* The keys of a map (or with SALVE_SETTING_EACH of each value or element), checked the
	 * same way, recursively (at most 8 deep). NULL: any map. */
	const struct salve_setting *fields;
	/* A string's (or each string of a SALVE_SETTING_STRINGS list's) allowed values, ending
	 * with NULL; NULL: any. */
	const char *const *choices;
	double min; /* with SALVE_SETTING_MIN */
	double max; /* with SALVE_SETTING_MAX */
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

/* ---- added in 1.2: the host's HTTP client (host->http_*) ---------------------------------- */

/* A plugin's HTTP client: its TLS and proxy settings and its kept-alive connections. Made by
 * host->http_client, thread-safe (every call of the plugin may use it at once, from several
 * threads under `salve serve`), freed by host->http_client_free (in fini). */
typedef struct salve_http_client salve_http_client;

/* How a client connects. Strings and PEM data are copied; zero or NULL means the default.
 * TLS is always verified (peer and host name) against ca_file/ca_pem or the system's CAs,
 * unless insecure is set, which a plugin may do only when its user explicitly configured it.
 * No proxy is used unless `proxy` names one, or proxy_from_env is set: then https_proxy,
 * http_proxy, all_proxy and no_proxy are honoured as curl and kubectl read them. */
typedef struct salve_http_options {
	uint32_t struct_size;   /* sizeof(salve_http_options) */
	const char *protocols;  /* "https" (default) or "http,https" */
	const char *user_agent; /* default "salve/<version>" */
	const char *ca_file;    /* PEM bundle of the CAs to trust */
	const char *ca_pem;     /* or the bundle itself, ca_pem_len bytes */
	size_t ca_pem_len;
	const char *cert_file; /* client certificate (PEM) */
	const char *cert_pem;
	size_t cert_pem_len;
	const char *key_file; /* its private key (PEM); the data is registered for redaction */
	const char *key_pem;
	size_t key_pem_len;
	const char *username; /* HTTP basic authentication; the password is registered too */
	const char *password;
	int insecure;           /* 1: do not verify the server (explicit user configuration only) */
	const char *proxy;      /* proxy URL */
	int proxy_from_env;     /* 1: honour the standard proxy environment variables */
	double connect_timeout; /* seconds to connect (default 10) */
	double request_timeout; /* seconds one attempt may take (default 30) */
	size_t max_response;    /* bytes of a response body (default 8 MiB); more fails the call */
} salve_http_options;

/* salve_http_request.flags */
#define SALVE_HTTP_RETRY_5XX 0x1u /* also send again after 500, 502, 504 and 408 */
#define SALVE_HTTP_RETRY_IO  0x2u /* and after a timeout or a connection lost mid-request */
#define SALVE_HTTP_JITTER    0x4u /* wait a random time between half the backoff and all of it */

/* One attempt of a request, as the judge and attempted callbacks see it (borrowed). */
typedef struct salve_http_attempt {
	int number;       /* 1, 2, ... */
	long status;      /* HTTP status; 0 when no answer arrived */
	const char *body; /* the answer's body (NUL-terminated), NULL when none */
	size_t body_len;
	const char *error;  /* why no answer arrived (curl's words, no URL), else NULL */
	int timed_out;      /* 1 when no answer arrived within `timeout` */
	double retry_after; /* seconds a 429 or 503 asked to wait (Retry-After), -1 when none */
	double duration;    /* seconds the attempt took */
	double timeout;     /* seconds it was allowed */
	int new_connection; /* 1 when it opened a connection, 0 when it reused a kept-alive one */
	/* attempted only: "ok" (the judge accepted the answer), "retry", "failed", "cancelled",
	 * and the seconds it waits before the next attempt with "retry" */
	const char *result;
	double wait;
} salve_http_attempt;

/* One request. Strings are borrowed for the call. */
typedef struct salve_http_request {
	uint32_t struct_size;       /* sizeof(salve_http_request) */
	const char *method;         /* "GET", "POST", "PATCH", ... */
	const char *url;            /* never appears in errors or logs: it may carry a token */
	const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
	const char *body;           /* body_len bytes, or NULL for none */
	size_t body_len;
	/* Sent as "Authorization: Bearer <token>" and registered for redaction first. */
	const char *bearer_token;
	double timeout; /* seconds one attempt may take (default: the client's request_timeout) */
	unsigned flags; /* SALVE_HTTP_* */
	/* Retries: at most `attempts` attempts (0 or 1: one). A 429 or 503 is sent again after
	 * its Retry-After, else after the backoff (0.2 s doubling up to 5 s unless set), and so
	 * is a connection that could not be made (nothing was sent); the flags add more. Never
	 * past the step's deadline (host->remaining) nor max_time (seconds, 0: no limit). */
	int attempts;
	double backoff;
	double backoff_max;
	double max_time;
	/* Optional: decide what an answer means: SALVE_OK (done), SALVE_ERR_RETRY (send again
	 * when allowed), any other negative status (done, not retried). Without it: 429 and 503
	 * (and with SALVE_HTTP_RETRY_5XX 500, 502, 504, 408) are SALVE_ERR_RETRY, the rest OK. */
	int (*judge)(void *ud, const salve_http_attempt *attempt);
	/* Optional: told of every attempt once its result is known (to audit or log it). */
	void (*attempted)(void *ud, const salve_http_attempt *attempt);
	void *ud;
} salve_http_request;

/* salve_http_response.stopped: why an answer or failure that could be retried was not */
#define SALVE_HTTP_STOP_ATTEMPTS 1 /* that was the last attempt allowed */
#define SALVE_HTTP_STOP_DEADLINE 2 /* waiting `wait` seconds would pass the step's deadline */
#define SALVE_HTTP_STOP_MAX_TIME 3 /* or the request's max_time */

/* What a request came to. The body is the plugin's until host->http_response_clear. */
typedef struct salve_http_response {
	long status; /* the last answer's HTTP status; 0 when none arrived */
	char *body;  /* its body, NUL-terminated (NULL when none) */
	size_t body_len;
	int attempts;       /* attempts made */
	int verdict;        /* the judge's word on the last answer */
	int stopped;        /* SALVE_HTTP_STOP_*, 0 when nothing retryable was left undone */
	double wait;        /* with STOP_DEADLINE or STOP_MAX_TIME: the wait refused */
	double left;        /* and the seconds that were left then */
	int new_connection; /* the last attempt opened a connection */
	char error[512];    /* why the request failed (no URL, no secrets), "" otherwise */
} salve_http_response;

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
	/* added in 1.2: the HTTP client service, so plugins never set up libcurl themselves.
	 * libcurl is loaded on the first request of any plugin, not before. Guard with
	 * SALVE_HOST_HAS(host, http_request): a 1.1 host does not have them.
	 * http_client: a client with these options (copied), or NULL (out of memory, options
	 * from a newer salve). call may be NULL (in init). */
	salve_http_client *(*http_client)(salve_call *call, const salve_http_options *options);
	/* Send req, retrying as it asks, polling host->cancelled, each attempt bounded by the
	 * step's remaining time. SALVE_OK when an answer arrived (whatever its status: read
	 * resp->status and resp->verdict); otherwise SALVE_ERR_CANCELED, SALVE_ERR_TIMEOUT (the
	 * deadline passed), SALVE_ERR_RETRY (no answer, transient), SALVE_ERR_INVALID (a URL or
	 * protocol the client refuses) or SALVE_ERR (no answer, or one over max_response), with
	 * resp->error saying why. resp is always filled; clear it with http_response_clear. */
	int (*http_request)(salve_call *call, salve_http_client *client,
	                    const salve_http_request *req, salve_http_response *resp);
	void (*http_response_clear)(salve_http_response *resp);
	/* Frees a client (NULL is fine) once no call uses it: from fini. */
	void (*http_client_free)(salve_http_client *client);
	/* s percent-encoded for a URL's path segment or query value: malloc'd (free() it), NULL
	 * when out of memory. */
	char *(*http_escape)(const char *s);
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
	 * *undo so the host can roll the partial change back. Killed midway (no undo record
	 * reached the journal), apply leaves the wanted state or the old one, never a third
	 * (write beside and rename, one API request): recovery then asks check, and a check that
	 * does not hold means nothing to undo. */
	int (*apply)(salve_call *call, const json_t *args, json_t **result, json_t **undo);
	/* mutate: put back what an undo record describes. Idempotent: called again after a
	 * crash, it must succeed when the record was already applied. */
	int (*undo)(salve_call *call, const json_t *undo);
	/* notify (optional): the message as it would be sent, for dry-run output. */
	int (*render)(salve_call *call, const json_t *args, json_t **message);
	/* added in 1.2: the keys of the object run, apply and plan return (and check's observed
	 * when the state holds), each with its type and what it holds; a key present only
	 * sometimes says when in its description. Documentation for people and editors (salve
	 * doc, salve stubs, salve plugins --json); the host does not check results against it.
	 * flags: 0. Ends with a NULL name; NULL: not declared (a plugin built before the field,
	 * whose shorter action_size the host reads as NULL here). */
	const salve_arg *results;
	/* added in 1.2: arguments that take one of a fixed set of strings (ssh-patch.service's
	 * state: started, stopped, restarted). The host refuses any other value before the plugin
	 * runs, the pre-run checks catch a wrong literal with file:line, salve doc and salve stubs
	 * list the values. Ends with a NULL arg; NULL: none. */
	const struct salve_arg_choices *choices;
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
