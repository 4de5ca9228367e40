/*
 * The Kubernetes API client shared by the kubernetes and scale plugins (jansson, and HTTP
 * through the host's client service, host->http_request: no libcurl of its own).
 *
 * Auth is resolved as kubectl resolves it: an explicit kubeconfig file, else $KUBECONFIG
 * (a ':'-separated list, merged: the first file to define a name wins), else ~/.kube/config,
 * else the in-cluster service account. TLS is always verified unless the kubeconfig's cluster
 * says insecure-skip-tls-verify, and then every call that uses it is audited.
 *
 * Threads: a k8s_client is shared by every call of a plugin and is thread-safe (the host's
 * HTTP client keeps connections alive across calls; the discovery cache sits behind a mutex). A
 * k8s_ctx lives on one call's stack and is used by that call's thread only.
 *
 * Ownership: a json_t returned through `json_t **` or by a function named *_new / k8s_*diff /
 * k8s_*patch belongs to the caller (json_decref). A `const json_t *` or `const char *`
 * returned is borrowed from its argument. A char * returned is malloc'd for the caller.
 *
 * Secrets: tokens, passwords and key material never reach logs, errors or audit data.
 */
#ifndef SALVE_K8S_H
#define SALVE_K8S_H

#include <salve/plugin.h>

#include <stddef.h>

#include "duration.h"

/* ---- kubeconfig -------------------------------------------------------------------------- */

typedef struct k8s_blob {
	unsigned char *data;
	size_t len;
} k8s_blob;

/* One resolved context: where the API server is and how to authenticate to it. */
typedef struct k8s_config {
	char *server;    /* https://host:port[/prefix], without a trailing '/' */
	char *context;   /* the context's name, or "in-cluster" */
	char *cluster;   /* the cluster's name */
	char *user;      /* the user's name */
	char *namespace; /* the context's namespace; NULL when it names none */
	char *ca_file;   /* certificate-authority (absolute path) */
	k8s_blob ca_data;
	char *cert_file; /* client-certificate */
	k8s_blob cert_data;
	char *key_file; /* client-key */
	k8s_blob key_data;
	int insecure; /* insecure-skip-tls-verify: true */
	char *proxy_url;
	char *token;      /* secret */
	char *token_file; /* re-read every minute, as client-go does */
	char *username;
	char *password; /* secret */
	char *source;   /* where this came from, for messages: a path, a list, or "in-cluster" */
} k8s_config;

/* Parse one kubeconfig YAML text into JSON (*out, caller's). 0, or -1 with err set. */
int k8s_kubeconfig_parse(const char *text, size_t len, const char *what, json_t **out, char *err,
                         size_t errlen);

/* Resolve `context` (NULL: current-context) from kubeconfig documents already parsed, merged
 * in order (the first to define a cluster, user or context name wins). dirs[i] is the folder
 * of docs[i], against which relative file paths are resolved. 0, or -1 with err set. */
int k8s_config_from_docs(json_t *const *docs, const char *const *dirs, size_t n,
                         const char *context, const char *source, k8s_config *out, char *err,
                         size_t errlen);

/* The in-cluster service account: sa_dir holds token, ca.crt and namespace; host and port
 * come from KUBERNETES_SERVICE_HOST/PORT. 0, or -1 with err set. */
int k8s_config_in_cluster(const char *sa_dir, const char *host, const char *port, k8s_config *out,
                          char *err, size_t errlen);

/* The whole kubectl lookup: explicit path (NULL: none), then $KUBECONFIG, ~/.kube/config, then
 * in-cluster. 0, or -1 with err set. */
int k8s_config_load(const char *explicit_path, const char *context, k8s_config *out, char *err,
                    size_t errlen);

void k8s_config_free(k8s_config *c);

/* Registers every credential of c (bearer token, password, client key) with the host's
 * redaction (host->register_secret, ABI 1.2; nothing on an older host), so an API server
 * that echoes one back never puts it in a log, an error or the audit log. Call it as soon as
 * the configuration is loaded. k8s_register_secret does it for one value (a token re-read
 * from its file). */
void k8s_config_register_secrets(const k8s_config *c, const salve_host *host, salve_call *call);
void k8s_register_secret(const salve_host *host, salve_call *call, const char *value);

/* ---- names, kinds and paths -------------------------------------------------------------- */

/* DNS-1123 label (namespaces, container names): <= 63, [a-z0-9]([-a-z0-9]*[a-z0-9])?.
 * DNS-1123 subdomain (object names): <= 253, labels of that form joined by '.'.
 * On refusal they write into err a message naming the argument `arg`; 0 or -1. */
int k8s_check_label(const char *arg, const char *value, char *err, size_t errlen);
int k8s_check_subdomain(const char *arg, const char *value, char *err, size_t errlen);

/* Percent-encode a value for a URL path segment or query (malloc'd; NULL on OOM). */
char *k8s_escape(const char *s);
/* Append "?key=value" to path ("&key=value" when it has a query), the value percent-encoded.
 * SALVE_OK, or SALVE_ERR when out of memory. */
int k8s_path_query(char *path, size_t len, const char *key, const char *value);

typedef struct k8s_kind {
	const char *kind;     /* "Deployment" */
	const char *group;    /* "apps"; "" for the core group */
	const char *version;  /* "v1" */
	const char *resource; /* "deployments" */
	int namespaced;
	const char *aliases; /* ",deployment,deployments,deploy," */
} k8s_kind;

/* Look a kind up by kind, resource or short name, case-insensitively. NULL when unknown. */
const k8s_kind *k8s_kind_find(const char *name);
/* "deployments.apps", "pods": how the API names a resource in its messages. */
void k8s_kind_qualified(const k8s_kind *k, char *buf, size_t len);

/* Build the API path of a collection (name NULL) or an object, optionally a subresource,
 * validating namespace (label) and name (subdomain) first; name_arg is the argument that
 * carried the name ("name" when NULL). `version` NULL: the kind's own.
 * 0, or SALVE_ERR_INVALID with err naming the argument. */
int k8s_object_path(char *buf, size_t len, const k8s_kind *k, const char *version, const char *ns,
                    const char *name, const char *name_arg, const char *subresource, char *err,
                    size_t errlen);

/* ---- the client ---------------------------------------------------------------------------- */

typedef struct k8s_client k8s_client;

/* Create a client; the kubeconfig is loaded lazily by the first request, so a plugin loads
 * on machines without one. kubeconfig/context may be NULL. 0, or -1 with err set. */
int k8s_client_new(const char *kubeconfig, const char *context, double request_timeout,
                   k8s_client **out, char *err, size_t errlen);
void k8s_client_free(k8s_client *c);

/* The salve.yaml settings every plugin on this client takes (kubeconfig, context,
 * request_timeout), as a plugin's config schema, NULL-terminated. */
/* The client's settings (salve.yaml plugins: kubernetes: and scale:), checked by the core;
 * K8S_SETTINGS for a plugin that declares more of its own after them. */
#define K8S_SETTINGS                                                                               \
	{.name = "kubeconfig",                                                                     \
	 .type = SALVE_T_STRING,                                                                   \
	 .description =                                                                            \
	     "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster)"},           \
	    {.name = "context",                                                                    \
	     .type = SALVE_T_STRING,                                                               \
	     .description = "kubeconfig context (default: current-context)"},                      \
	{                                                                                          \
		.name = "request_timeout", .type = SALVE_T_DURATION,                               \
		.flags = SALVE_SETTING_MIN | SALVE_SETTING_ABOVE, .min = 0,                        \
		.default_value = "30s", .description = "time one HTTP request may take"            \
	}
extern const salve_setting k8s_settings[];
/* A client from a plugin's settings (validated against k8s_settings); errors name the
 * plugin. 0, or -1 with err set. */
int k8s_client_from_config(const char *plugin, const json_t *config, k8s_client **out, char *err,
                           size_t errlen);

/* One action call's view of the client. */
typedef struct k8s_ctx {
	k8s_client *client;
	const salve_host *host;
	salve_call *call;
	int insecure_audited;
} k8s_ctx;

/* k8s_request flags */
#define K8S_NO_RETRY_429 0x1u /* a 429 is an answer (an eviction blocked by a PDB), not load */
#define K8S_TEXT         0x2u /* the body is text (pod logs), kept in resp->text */

typedef struct k8s_resp {
	long status;  /* HTTP status; 0 when no response arrived */
	json_t *json; /* the parsed body (also for errors: the Status object) */
	char *text;   /* with K8S_TEXT: the body; for an error that is not JSON: its text */
	size_t text_len;
} k8s_resp;

/* Send one request (path: absolute API path with its query). Retries 429 and 5xx with
 * backoff, honouring Retry-After, within host->remaining(); polls host->cancelled().
 * Returns SALVE_OK for 2xx; otherwise a negative salve_status with host->fail() set to the
 * API's Status message and code, e.g. `deployments.apps "web" not found (404)`. resp is
 * filled in both cases; release it with k8s_resp_clear(). */
int k8s_request(k8s_ctx *ctx, const char *method, const char *path, const char *content_type,
                const json_t *body, unsigned flags, k8s_resp *resp);
void k8s_resp_clear(k8s_resp *resp);

/* GET path into *out (caller's). */
int k8s_get(k8s_ctx *ctx, const char *path, unsigned flags, json_t **out);

/* The namespace a call uses when it names none: the context's, else "default". Borrowed. */
const char *k8s_default_namespace(k8s_ctx *ctx);

/* Discovery, cached per client: the group/version the server serves pod evictions with
 * ("policy/v1", else "policy/v1beta1"), and HorizontalPodAutoscalers with ("autoscaling/v2",
 * else v2beta2, else v1). On success *gv points at a static string. */
int k8s_discover_eviction(k8s_ctx *ctx, const char **gv);
int k8s_discover_hpa(k8s_ctx *ctx, const char **gv);

/* ---- writes -------------------------------------------------------------------------------- */

#define K8S_MERGE_PATCH "application/merge-patch+json"
#define K8S_JSON_PATCH  "application/json-patch+json"

/* k8s_update mode */
#define K8S_UPDATE_DRY_RUN 0x1u /* send with ?dryRun=All: validated and defaulted, not stored */
#define K8S_UPDATE_PUT                                                                             \
	0x2u /* send the whole desired object with PUT (the scale subresource)                     \
	      * instead of a merge patch of the difference */

/* Compute the wanted object from the current one. *desired is the callback's new object (the
 * caller frees it); returning it equal to current means there is nothing to change.
 * Negative (with host->fail set) to stop. */
typedef int (*k8s_build_fn)(k8s_ctx *ctx, const json_t *current, json_t **desired, void *ud);

/* Read-modify-write with optimistic concurrency: GET path, build, send the difference as a
 * merge patch carrying metadata.resourceVersion (or PUT the object), and on 409 Conflict read
 * again and rebuild (a bounded number of times). On success *before is the object the write
 * was based on, *after the server's answer (a copy of *before when nothing changed; no
 * request is sent then) and *patch the merge patch sent without its resourceVersion (an
 * empty object when nothing changed; NULL with K8S_UPDATE_PUT). All three are the caller's;
 * each out-parameter may be NULL when not wanted. */
int k8s_update(k8s_ctx *ctx, const char *path, unsigned mode, k8s_build_fn build, void *ud,
               json_t **before, json_t **after, json_t **patch);

/* k8s_update starting from `seen`, the object as read a moment ago (check's read), instead of
 * reading it again: one request when it is still current, a 409 and the usual re-read when it
 * is not. seen NULL: k8s_update. seen is borrowed. */
int k8s_update_from(k8s_ctx *ctx, const char *path, unsigned mode, const json_t *seen,
                    k8s_build_fn build, void *ud, json_t **before, json_t **after, json_t **patch);

/* path + "?dryRun=All" or "&dryRun=All" into buf. */
void k8s_dry_run_path(char *buf, size_t len, const char *path);

/* ---- JSON helpers -------------------------------------------------------------------------- */

/* RFC 6901 pointer lookup; borrowed, NULL when absent. */
json_t *k8s_ptr_get(const json_t *root, const char *pointer);
/* obj[key], made an empty object first when it is absent or not an object; borrowed. */
json_t *k8s_child_object(json_t *obj, const char *key);
/* An RFC 7386 merge patch turning `from` into `to` (an empty object when they are equal). */
json_t *k8s_merge_diff(const json_t *from, const json_t *to);
/* Apply an RFC 7386 merge patch to *target in place (*target may be replaced). */
void k8s_merge_apply(json_t **target, const json_t *patch);
/* The fields that differ between two versions of an object, as [{path, before, after}]
 * (absent values are null), ignoring status and server-maintained metadata. */
json_t *k8s_changes(const json_t *before, const json_t *after);
/* Equality as apimachinery's Semantic.DeepEqual sees Go structs decoded from JSON: an absent
 * field equals null and the zero value ("", 0, false, {}, []). */
int k8s_semantic_equal(const json_t *a, const json_t *b);

/* What a patch touches, recorded so it can be put back: [{path, present, value}] with the old
 * value of every path the patch changes in `current` (a path through an array is recorded at
 * the array; a path whose parent is absent is recorded at the highest absent object).
 * json_patch: 1 for RFC 6902 operations, 0 for an RFC 7386 merge patch. NULL with err set
 * when the patch is malformed. */
json_t *k8s_patch_touched(const json_t *current, const json_t *patch, int json_patch, char *err,
                          size_t errlen);
/* The merge patch that turns `current` back into what k8s_patch_touched recorded (an empty
 * object when it already is). */
json_t *k8s_restore_patch(const json_t *current, const json_t *touched);

/* ---- workloads ----------------------------------------------------------------------------- */

typedef struct k8s_rollout {
	int healthy; /* kubectl rollout status would exit 0 */
	int failed;  /* it would exit with an error (progress deadline exceeded) */
	long long desired, replicas, updated, ready, available;
	long long generation, observed_generation;
	char message[320]; /* kubectl's words */
} k8s_rollout;

/* Judge a Deployment, StatefulSet or DaemonSet as `kubectl rollout status` does. */
void k8s_rollout_judge(const k8s_kind *kind, const json_t *obj, k8s_rollout *out);
json_t *k8s_rollout_json(const k8s_rollout *r);

/* kubectl's equalIgnoreHash: two pod templates equal once pod-template-hash is dropped. */
int k8s_template_equal_ignore_hash(const json_t *a, const json_t *b);
/* A copy of a pod template without the pod-template-hash label (caller's). */
json_t *k8s_template_without_hash(const json_t *tpl);
/* The deployment.kubernetes.io/revision annotation; -1 when absent or malformed. */
long long k8s_revision_of(const json_t *obj);
/* 1 when obj's controller ownerReference has this uid. */
int k8s_is_controlled_by(const json_t *obj, const char *uid);
/* kubectl rollout undo's choice among a Deployment's ReplicaSets (already filtered by
 * controller): to_revision > 0 picks that revision, 0 the second newest. *rs is borrowed from
 * replicasets. 0, or SALVE_ERR_NOTFOUND with err set. */
int k8s_select_revision(const json_t *replicasets, long long to_revision, const char *deployment,
                        const json_t **rs, long long *revision, char *err, size_t errlen);
/* A metav1.LabelSelector as the query string kubectl sends (malloc'd), NULL with err set. */
char *k8s_selector_string(const json_t *selector, char *err, size_t errlen);

/* ---- action helpers ------------------------------------------------------------------------ */

/* Fill a k8s_ctx for one call. */
void k8s_ctx_init(k8s_ctx *ctx, k8s_client *client, const salve_host *host, salve_call *call);
/* Fail the call with a message; returns SALVE_ERR_INVALID. */
int k8s_invalid(k8s_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A string argument, NULL when absent (the host has checked types against the schema). */
const char *k8s_arg_str(const json_t *args, const char *name);
/* A boolean argument, dflt when absent. */
int k8s_arg_bool(const json_t *args, const char *name, int dflt);
/* args.namespace, else the context's namespace; validated as a DNS-1123 label. NULL with the
 * call failed when invalid. Borrowed. */
const char *k8s_arg_namespace(k8s_ctx *ctx, const json_t *args);
/* args.kind among `allowed` (kind names, NULL-terminated), dflt when absent. NULL with the
 * call failed otherwise. */
const k8s_kind *k8s_arg_kind(k8s_ctx *ctx, const json_t *args, const char *dflt,
                             const char *const *allowed);
/* A wait's args.timeout (default 5m) and args.interval (default 1s, above zero), as durations.
 * SALVE_OK, or SALVE_ERR_INVALID with the call failed. */
int k8s_arg_wait(k8s_ctx *ctx, const json_t *args, double *timeout, double *interval);
/* k8s_object_path that fails the call (SALVE_ERR_INVALID) naming the bad argument. */
int k8s_path(k8s_ctx *ctx, char *buf, size_t len, const k8s_kind *k, const char *version,
             const char *ns, const char *name, const char *name_arg, const char *subresource);
/* "deployment web in namespace shop" style description of an object, for messages. */
void k8s_describe(char *buf, size_t len, const k8s_kind *k, const char *ns, const char *name);

/* ---- mutations: one driver for check, plan, apply and undo --------------------------------- */

/* What a mutation changes. Every mutation's state begins with one. */
typedef struct k8s_target {
	const k8s_kind *kind;
	const char *ns;   /* NULL for cluster-scoped kinds; borrowed from the arguments */
	const char *name; /* borrowed from the arguments */
	char path[2048];  /* the object's API path: what the write reads and changes */
} k8s_target;

/*
 * One mutating action as a table entry. For each call the driver fills a k8s_ctx, allocates
 * state_size zeroed bytes of state (beginning with a k8s_target), lets parse fill them, runs
 * the step, then calls clear (when set) and frees the state, whatever happened.
 *
 *   check: parse, then GET target.path and observe it; or, for an action that cannot be
 *          judged from that one object, its own check.
 *   plan:  parse, write with K8S_UPDATE_DRY_RUN, result.
 *   apply: parse, write, result and undo_record. The dry-run flag is the only difference.
 *   undo:  parse reads the undo record, write, undone. An action whose undo records have
 *          the shape of its arguments undoes with its own entry; others have an undo entry
 *          filling only state_size, parse, clear, build or write, and undone.
 *
 * The write is k8s_update(target.path, mode | update_mode, build, state), or the entry's own
 * write when the change is not a read-modify-write of one object (a patch as given, a delete).
 */
typedef struct k8s_mutation {
	size_t state_size;
	/* Arguments (or an undo record) into state, validated; may read the server. Negative
	 * with the call failed naming what is wrong. Strings may be borrowed from args. */
	int (*parse)(k8s_ctx *ctx, const json_t *args, void *state);
	/* Optional: release what parse and the write kept in state. */
	void (*clear)(void *state);
	/* check from the object at target.path: SALVE_HOLDS or SALVE_OK with *observed set. */
	int (*observe)(k8s_ctx *ctx, void *state, const json_t *current, json_t **observed);
	/* check for an action without observe: the same contract, reading what it needs. */
	int (*check)(k8s_ctx *ctx, void *state, json_t **observed);
	k8s_build_fn build;   /* the wanted object, for k8s_update (ud: the state) */
	unsigned update_mode; /* k8s_update flags besides the dry run (K8S_UPDATE_PUT) */
	/* Instead of build: the write itself, filling k8s_update's outputs (it may leave patch
	 * NULL; before and after are NULL when it runs for an undo). */
	int (*write)(k8s_ctx *ctx, void *state, unsigned mode, json_t **before, json_t **after,
	             json_t **patch);
	/* plan's and apply's result (caller's) from the object before and after the write. */
	json_t *(*result)(k8s_ctx *ctx, void *state, const json_t *before, const json_t *after);
	/* apply's undo record (caller's); NULL for an action declared SALVE_ACTION_NO_UNDO.
	 * patch is the write's merge patch (NULL with K8S_UPDATE_PUT or an own write). */
	json_t *(*undo_record)(const void *state, const json_t *before, const json_t *patch);
	/* undo: log what was put back (patch as for undo_record). */
	void (*undone)(k8s_ctx *ctx, const void *state, const json_t *patch);
} k8s_mutation;

/* The key under which k8s_mutation_check leaves the object it read in the observed of a check
 * that finds a change needed (with "k8s_path"), so plan and apply, given it back by
 * host->observed (ABI 1.2), write without reading again. */
#define K8S_OBSERVED_OBJECT "k8s_object"
/* That object when observed (host->observed's, may be NULL) carries one for `path`; borrowed. */
const json_t *k8s_observed_object(const json_t *observed, const char *path);

/* The salve_action callbacks of a mutation; host is the plugin's host table. */
int k8s_mutation_check(const k8s_mutation *m, const salve_host *host, salve_call *call,
                       const json_t *args, json_t **observed);
int k8s_mutation_plan(const k8s_mutation *m, const salve_host *host, salve_call *call,
                      const json_t *args, json_t **predicted);
int k8s_mutation_apply(const k8s_mutation *m, const salve_host *host, salve_call *call,
                       const json_t *args, json_t **result, json_t **undo);
int k8s_mutation_undo(const k8s_mutation *m, const salve_host *host, salve_call *call,
                      const json_t *undo);

/* Define static prefix_check, prefix_plan and prefix_apply running mutation m (an lvalue),
 * for a plugin's action table; host is the expression naming the plugin's salve_host. */
#define K8S_MUTATION_CALLBACKS(prefix, m, host)                                                    \
	static int prefix##_check(salve_call *call, const json_t *args, json_t **observed)         \
	{                                                                                          \
		return k8s_mutation_check(&(m), (host), call, args, observed);                     \
	}                                                                                          \
	static int prefix##_plan(salve_call *call, const json_t *args, json_t **predicted)         \
	{                                                                                          \
		return k8s_mutation_plan(&(m), (host), call, args, predicted);                     \
	}                                                                                          \
	static int prefix##_apply(salve_call *call, const json_t *args, json_t **result,           \
	                          json_t **undo)                                                   \
	{                                                                                          \
		return k8s_mutation_apply(&(m), (host), call, args, result, undo);                 \
	}

/* Define static prefix_undo applying undo records with the undo entry m. */
#define K8S_UNDO_CALLBACK(prefix, m, host)                                                         \
	static int prefix##_undo(salve_call *call, const json_t *undo)                             \
	{                                                                                          \
		return k8s_mutation_undo(&(m), (host), call, undo);                                \
	}

/* ---- small shared helpers ------------------------------------------------------------------ */

/* Seconds on the monotonic clock, for deadlines and waits. */
double k8s_mono(void);
/* Sleep up to `seconds`, waking early when the call is cancelled. 0, or SALVE_ERR_CANCELED. */
int k8s_sleep(k8s_ctx *ctx, double seconds);
/* The current time as RFC 3339 UTC ("2024-05-01T12:00:00Z"). */
void k8s_now_rfc3339(char *buf, size_t len);

#endif
