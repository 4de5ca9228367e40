/* The kubernetes plugin: read workloads, roll them back or forward, patch objects, drain
 * nodes. Every request goes through the shared client in plugins/common/k8s. */
#include "kube.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const salve_host *kube_host;

void kube_ctx(k8s_ctx *ctx, salve_call *call)
{
	k8s_ctx_init(ctx, kube_host->state(call), kube_host, call);
}

void kube_strip(json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata");
	if (json_is_object(meta))
		json_object_del(meta, "managedFields");
	size_t i;
	json_t *item;
	json_array_foreach(json_object_get(obj, "items"), i, item)
	{
		kube_strip(item);
	}
}

#define NS_ARG                                                                                     \
	{                                                                                          \
		"namespace", SALVE_T_STRING, 0, "namespace (default: the context's, else default)" \
	}
#define END_ARGS                                                                                   \
	{                                                                                          \
		NULL, 0, 0, NULL                                                                   \
	}

static const salve_arg get_args[] = {
    {"kind", SALVE_T_STRING, SALVE_ARG_REQUIRED, "kind or resource: deployment, pod, node, ..."},
    NS_ARG,
    {"name", SALVE_T_STRING, SALVE_ARG_REQUIRED, "object name"},
    END_ARGS,
};
static const salve_arg pods_args[] = {
    NS_ARG,
    {"selector", SALVE_T_STRING, 0, "label selector, e.g. app=web,tier!=cache"},
    END_ARGS,
};
static const salve_arg status_args[] = {
    {"kind", SALVE_T_STRING, 0, "deployment (default), statefulset or daemonset"},
    NS_ARG,
    {"name", SALVE_T_STRING, SALVE_ARG_REQUIRED, "workload name"},
    END_ARGS,
};
static const salve_arg wait_args[] = {
    {"kind", SALVE_T_STRING, 0, "deployment (default), statefulset or daemonset"},
    NS_ARG,
    {"name", SALVE_T_STRING, SALVE_ARG_REQUIRED, "workload name"},
    {"timeout", SALVE_T_DURATION, 0, "how long to wait: \"5m\", \"90s\" or seconds (default 5m)"},
    {"interval", SALVE_T_DURATION, 0, "time between polls (default 1s)"},
    END_ARGS,
};
static const salve_arg logs_args[] = {
    NS_ARG,
    {"pod", SALVE_T_STRING, SALVE_ARG_REQUIRED, "pod name"},
    {"container", SALVE_T_STRING, 0, "container (default: the pod's only one)"},
    {"tail", SALVE_T_INT, 0, "last N lines (default 100)"},
    {"previous", SALVE_T_BOOL, 0, "the previous, terminated container's logs"},
    END_ARGS,
};
static const salve_arg events_args[] = {
    NS_ARG,
    {"name", SALVE_T_STRING, 0, "only events about this object"},
    {"kind", SALVE_T_STRING, 0, "only events about objects of this kind"},
    END_ARGS,
};
static const salve_arg undo_args[] = {
    NS_ARG,
    {"name", SALVE_T_STRING, SALVE_ARG_REQUIRED, "deployment name"},
    {"to_revision", SALVE_T_INT, 0, "revision to return to (default: the previous one)"},
    END_ARGS,
};
static const salve_arg restart_args[] = {
    {"kind", SALVE_T_STRING, 0, "deployment (default), statefulset or daemonset"},
    NS_ARG,
    {"name", SALVE_T_STRING, SALVE_ARG_REQUIRED, "workload name"},
    END_ARGS,
};
static const salve_arg image_args[] = {
    {"kind", SALVE_T_STRING, 0, "deployment (default), statefulset or daemonset"},
    NS_ARG,
    {"name", SALVE_T_STRING, SALVE_ARG_REQUIRED, "workload name"},
    {"container", SALVE_T_STRING, SALVE_ARG_REQUIRED, "container (or init container) name"},
    {"image", SALVE_T_STRING, SALVE_ARG_REQUIRED, "new image reference"},
    END_ARGS,
};
static const salve_arg patch_args[] = {
    {"kind", SALVE_T_STRING, SALVE_ARG_REQUIRED, "kind or resource"},
    NS_ARG,
    {"name", SALVE_T_STRING, SALVE_ARG_REQUIRED, "object name"},
    {"strategic", SALVE_T_MAP, 0,
     "strategic merge patch (kubectl patch's default: lists merge by key, e.g. env by name)"},
    {"merge", SALVE_T_MAP, 0, "RFC 7386 merge patch (lists are replaced whole)"},
    {"json", SALVE_T_LIST, 0, "RFC 6902 JSON patch operations"},
    END_ARGS,
};
static const salve_arg node_args[] = {
    {"node", SALVE_T_STRING, SALVE_ARG_REQUIRED, "node name"},
    END_ARGS,
};
static const salve_arg drain_args[] = {
    {"node", SALVE_T_STRING, SALVE_ARG_REQUIRED, "node name"},
    {"timeout", SALVE_T_DURATION, 0, "how long evictions may take (default 5m)"},
    {"ignore_daemonsets", SALVE_T_BOOL, 0, "leave DaemonSet pods (default true)"},
    {"delete_emptydir_data", SALVE_T_BOOL, 0, "evict pods using emptyDir volumes"},
    {"force", SALVE_T_BOOL, 0, "evict pods that no controller manages"},
    {"grace_period", SALVE_T_INT, 0, "seconds each pod gets to stop (default: its own)"},
    END_ARGS,
};
static const salve_arg delete_pod_args[] = {
    NS_ARG,
    {"name", SALVE_T_STRING, SALVE_ARG_REQUIRED, "pod name"},
    {"grace_period", SALVE_T_INT, 0, "seconds the pod gets to stop (default: its own)"},
    END_ARGS,
};

static const salve_arg isolate_args[] = {
    NS_ARG,
    {"selector", SALVE_T_STRING, 0,
     "pods to isolate, an equality selector such as app=web (default: the whole namespace)"},
    {"allow_dns", SALVE_T_BOOL, 0, "still allow DNS to kube-dns in kube-system (default true)"},
    {"allow_from", SALVE_T_STRING, 0,
     "a namespace whose pods may still connect in (e.g. the forensics tools')"},
    {"force", SALVE_T_BOOL, 0, "isolate kube-system or a namespace of isolate_deny_namespaces"},
    {"reason", SALVE_T_STRING, 0, "why, recorded in the policy's salve/reason annotation"},
    END_ARGS,
};
static const salve_arg quarantine_args[] = {
    NS_ARG,
    {"pod", SALVE_T_STRING, SALVE_ARG_REQUIRED, "pod name"},
    {"reason", SALVE_T_STRING, 0, "why, recorded in the pod's salve/reason annotation"},
    END_ARGS,
};
static const salve_arg evidence_args[] = {
    NS_ARG,
    {"pod", SALVE_T_STRING, 0, "one pod (or selector)"},
    {"selector", SALVE_T_STRING, 0, "pods by label selector (at most 100)"},
    {"dir", SALVE_T_STRING, SALVE_ARG_REQUIRED, "new or empty directory (absolute path)"},
    {"max_log_bytes", SALVE_T_INT, 0, "bytes of each container log kept (default 1 MiB)"},
    END_ARGS,
};
static const char *const taint_effects[] = {"NoSchedule", "PreferNoSchedule", "NoExecute", NULL};
static const salve_arg_choices taint_choices[] = {{"effect", taint_effects}, {NULL, NULL}};
static const salve_arg taint_args[] = {
    {"node", SALVE_T_STRING, SALVE_ARG_REQUIRED, "node name"},
    {"key", SALVE_T_STRING, SALVE_ARG_REQUIRED, "taint key"},
    {"effect", SALVE_T_STRING, SALVE_ARG_REQUIRED, "NoSchedule, PreferNoSchedule or NoExecute"},
    {"value", SALVE_T_STRING, 0, "taint value (taint only)"},
    END_ARGS,
};

K8S_MUTATION_CALLBACKS(rollout_undo, kube_rollout_undo, kube_host)
K8S_MUTATION_CALLBACKS(rollout_restart, kube_rollout_restart, kube_host)
K8S_MUTATION_CALLBACKS(set_image, kube_set_image, kube_host)
K8S_MUTATION_CALLBACKS(patch, kube_patch, kube_host)
K8S_MUTATION_CALLBACKS(cordon, kube_cordon, kube_host)
K8S_MUTATION_CALLBACKS(uncordon, kube_uncordon, kube_host)
K8S_MUTATION_CALLBACKS(delete_pod, kube_delete_pod, kube_host)
K8S_MUTATION_CALLBACKS(isolate, kube_isolate, kube_host)
K8S_MUTATION_CALLBACKS(quarantine, kube_quarantine_pod, kube_host)
K8S_MUTATION_CALLBACKS(taint, kube_taint, kube_host)
K8S_MUTATION_CALLBACKS(untaint, kube_untaint, kube_host)
K8S_UNDO_CALLBACK(isolate, kube_isolate_remove, kube_host)
K8S_UNDO_CALLBACK(taint, kube_taint_restore, kube_host)
K8S_UNDO_CALLBACK(touched, kube_touched_restore, kube_host)
K8S_UNDO_CALLBACK(set_image, kube_set_image, kube_host)
K8S_UNDO_CALLBACK(node, kube_node_restore, kube_host)

/* What each action returns (README: Actions). Mutations return the same shape from check (when
 * the state holds), plan and apply; "changes" lists the paths a write changed. */
#define R_CHANGES                                                                                  \
	{                                                                                          \
		"changes", SALVE_T_LIST, 0, "[{path, before, after}] the write changed"            \
	}
#define R_ROLLOUT                                                                                  \
	{"healthy", SALVE_T_BOOL, 0, "the rollout is complete, as kubectl rollout status judges"}, \
	    {"failed", SALVE_T_BOOL, 0, "the progress deadline passed"},                           \
	    {"message", SALVE_T_STRING, 0, "what kubectl rollout status would say"},               \
	    {"desired", SALVE_T_INT, 0, "replicas wanted"},                                        \
	    {"replicas", SALVE_T_INT, 0, "replicas there, old and new"},                           \
	    {"updated", SALVE_T_INT, 0, "replicas of the current template"},                       \
	    {"ready", SALVE_T_INT, 0, "replicas ready"},                                           \
	    {"available", SALVE_T_INT, 0, "replicas available"},                                   \
	    {"generation", SALVE_T_INT, 0, "metadata.generation"},                                 \
	    {"observed_generation", SALVE_T_INT, 0, "status.observedGeneration"},                  \
	    {"kind", SALVE_T_STRING, 0, "Deployment, StatefulSet or DaemonSet"},                   \
	    {"namespace", SALVE_T_STRING, 0, "its namespace"},                                     \
	    {"name", SALVE_T_STRING, 0, "its name"},                                               \
	{                                                                                          \
		"revision", SALVE_T_INT, 0, "deployment.kubernetes.io/revision"                    \
	}
static const salve_arg get_results[] = {
    {"apiVersion", SALVE_T_STRING, 0, "the object as the API serves it"},
    {"kind", SALVE_T_STRING, 0, "its kind"},
    {"metadata", SALVE_T_MAP, 0, "its metadata, without managedFields"},
    {"spec", SALVE_T_MAP, 0, "its spec (for kinds that have one)"},
    {"status", SALVE_T_MAP, 0, "its status (for kinds that have one)"},
    END_ARGS,
};
static const salve_arg pods_results[] = {
    {"namespace", SALVE_T_STRING, 0, "the namespace listed"},
    {"count", SALVE_T_INT, 0, "pods listed"},
    {"pods", SALVE_T_LIST, 0,
     "[{name, namespace, phase, status, ready, restarts, node, containers: [{name, image, "
     "ready, restarts, state, reason}]}]; status as kubectl get pods shows it"},
    END_ARGS,
};
static const salve_arg status_results[] = {R_ROLLOUT, END_ARGS};
static const salve_arg wait_results[] = {
    R_ROLLOUT,
    {"waited_seconds", SALVE_T_NUMBER, 0, "how long it waited (0 in a dry-run)"},
    END_ARGS,
};
static const salve_arg logs_results[] = {
    {"namespace", SALVE_T_STRING, 0, "the pod's namespace"},
    {"pod", SALVE_T_STRING, 0, "the pod"},
    {"container", SALVE_T_STRING, 0, "the container, when one was named"},
    {"text", SALVE_T_STRING, 0, "the last lines (at most 1 MiB)"},
    {"lines", SALVE_T_INT, 0, "lines in text"},
    END_ARGS,
};
static const salve_arg events_results[] = {
    {"namespace", SALVE_T_STRING, 0, "the namespace"},
    {"count", SALVE_T_INT, 0, "events listed"},
    {"events", SALVE_T_LIST, 0,
     "[{type, reason, message, object, count, last_seen}], oldest first"},
    END_ARGS,
};
static const salve_arg rollout_undo_results[] = {
    {"kind", SALVE_T_STRING, 0, "Deployment"},
    {"namespace", SALVE_T_STRING, 0, "its namespace"},
    {"name", SALVE_T_STRING, 0, "its name"},
    {"from_revision", SALVE_T_INT, 0, "the revision it ran"},
    {"to_revision", SALVE_T_INT, 0, "the revision it returns to"},
    R_CHANGES,
    {"message", SALVE_T_STRING, 0, "what was (or would be) done"},
    END_ARGS,
};
static const salve_arg restart_results[] = {
    {"kind", SALVE_T_STRING, 0, "the workload's kind"},
    {"namespace", SALVE_T_STRING, 0, "its namespace"},
    {"name", SALVE_T_STRING, 0, "its name"},
    {"last_restarted_at", SALVE_T_STRING, 0, "the previous restart's stamp (check only)"},
    {"restarted_at", SALVE_T_STRING, 0, "the stamp written (plan and apply)"},
    R_CHANGES,
    END_ARGS,
};
static const salve_arg image_results[] = {
    {"kind", SALVE_T_STRING, 0, "the workload's kind"},
    {"namespace", SALVE_T_STRING, 0, "its namespace"},
    {"name", SALVE_T_STRING, 0, "its name"},
    {"container", SALVE_T_STRING, 0, "the container"},
    {"image", SALVE_T_STRING, 0, "the image set"},
    {"previous_image", SALVE_T_STRING, 0, "the image it ran"},
    R_CHANGES,
    END_ARGS,
};
static const salve_arg patch_results[] = {
    {"kind", SALVE_T_STRING, 0, "the object's kind"},
    {"namespace", SALVE_T_STRING, 0, "its namespace (namespaced kinds)"},
    {"name", SALVE_T_STRING, 0, "its name"},
    R_CHANGES,
    END_ARGS,
};
static const salve_arg node_results[] = {
    {"node", SALVE_T_STRING, 0, "the node"},
    {"unschedulable", SALVE_T_BOOL, 0, "spec.unschedulable"},
    R_CHANGES,
    END_ARGS,
};
static const salve_arg drain_results[] = {
    {"node", SALVE_T_STRING, 0, "the node"},
    {"unschedulable", SALVE_T_BOOL, 0, "the node is cordoned"},
    {"was_unschedulable", SALVE_T_BOOL, 0, "it was cordoned before (apply)"},
    R_CHANGES,
    {"evicted", SALVE_T_LIST, 0, "pods evicted (apply) or that would be (plan)"},
    {"to_evict", SALVE_T_LIST, 0, "pods left to evict (check)"},
    {"refused_now", SALVE_T_LIST, 0, "pods an eviction would be refused for now (plan)"},
    {"skipped", SALVE_T_LIST, 0, "[{pod, reason}] not evicted (mirror and DaemonSet pods)"},
    {"timeout", SALVE_T_NUMBER, 0, "seconds the drain may take (plan)"},
    END_ARGS,
};
static const salve_arg delete_pod_results[] = {
    {"namespace", SALVE_T_STRING, 0, "the pod's namespace"},
    {"name", SALVE_T_STRING, 0, "the pod"},
    {"exists", SALVE_T_BOOL, 0, "the pod exists (check)"},
    {"status", SALVE_T_STRING, 0, "its phase (check)"},
    {"deleted", SALVE_T_BOOL, 0, "it was deleted (apply; false: already gone)"},
    {"uid", SALVE_T_STRING, 0, "its uid"},
    {"message", SALVE_T_STRING, 0, "why nothing was deleted, when it was gone"},
    END_ARGS,
};
static const salve_arg isolate_results[] = {
    {"namespace", SALVE_T_STRING, 0, "the namespace"},
    {"name", SALVE_T_STRING, 0, "the NetworkPolicy's name"},
    {"spec", SALVE_T_MAP, 0, "its spec"},
    {"run_id", SALVE_T_STRING, 0, "the run that created it (salve/run-id label)"},
    {"created", SALVE_T_BOOL, 0, "this call created it"},
    {"uid", SALVE_T_STRING, 0, "its uid, once stored"},
    END_ARGS,
};
static const salve_arg quarantine_results[] = {
    {"namespace", SALVE_T_STRING, 0, "the pod's namespace"},
    {"pod", SALVE_T_STRING, 0, "the pod"},
    {"labels_before", SALVE_T_MAP, 0, "its labels before"},
    {"labels_after", SALVE_T_MAP, 0, "its labels after"},
    R_CHANGES,
    END_ARGS,
};
static const salve_arg evidence_results[] = {
    {"dir", SALVE_T_STRING, 0, "the directory written"},
    {"namespace", SALVE_T_STRING, 0, "the namespace"},
    {"pods", SALVE_T_LIST, 0, "the pods captured"},
    {"manifest", SALVE_T_STRING, 0, "manifest.json"},
    {"manifest_sha256", SALVE_T_STRING, 0, "the manifest's SHA-256"},
    {"files", SALVE_T_LIST, 0, "[{path, sha256, bytes}]"},
    {"notes", SALVE_T_LIST, 0, "what could not be captured, and why"},
    END_ARGS,
};
static const salve_arg taint_results[] = {
    {"node", SALVE_T_STRING, 0, "the node"},
    {"key", SALVE_T_STRING, 0, "the taint's key"},
    {"effect", SALVE_T_STRING, 0, "its effect"},
    {"value", SALVE_T_STRING, 0, "its value, when given"},
    {"present", SALVE_T_BOOL, 0, "the node has the taint"},
    {"taints", SALVE_T_LIST, 0, "the node's taints"},
    R_CHANGES,
    END_ARGS,
};

static const salve_action actions[] = {
    {.name = "get",
     .kind = SALVE_READ,
     .args = get_args,
     .target_arg = "name",
     .description = "Read one object",
     .run = kube_get,
     .results = get_results},
    {.name = "pods",
     .kind = SALVE_READ,
     .args = pods_args,
     .target_arg = "namespace",
     .description = "List pods with their readiness, restarts and status",
     .run = kube_pods,
     .results = pods_results},
    {.name = "rollout_status",
     .kind = SALVE_READ,
     .args = status_args,
     .target_arg = "name",
     .description = "Judge a rollout as kubectl rollout status does",
     .run = kube_rollout_status,
     .results = status_results},
    {.name = "rollout_wait",
     .kind = SALVE_READ,
     .args = wait_args,
     .target_arg = "name",
     .description = "Wait until a rollout is healthy (in a dry-run: its status now, no wait)",
     .run = kube_rollout_wait,
     .results = wait_results},
    {.name = "logs",
     .kind = SALVE_READ,
     .args = logs_args,
     .target_arg = "pod",
     .description = "The last lines of a container's log",
     .run = kube_logs,
     .results = logs_results},
    {.name = "events",
     .kind = SALVE_READ,
     .args = events_args,
     .target_arg = "name",
     .description = "Events in a namespace, optionally about one object",
     .run = kube_events,
     .results = events_results},
    {.name = "rollout_undo",
     .kind = SALVE_MUTATE,
     .args = undo_args,
     .target_arg = "name",
     .description = "Return a Deployment to a previous revision (kubectl rollout undo)",
     .check = rollout_undo_check,
     .plan = rollout_undo_plan,
     .apply = rollout_undo_apply,
     .undo = touched_undo,
     .results = rollout_undo_results},
    {.name = "rollout_restart",
     .kind = SALVE_MUTATE,
     .args = restart_args,
     .target_arg = "name",
     .description = "Restart a workload's pods (kubectl rollout restart)",
     .check = rollout_restart_check,
     .plan = rollout_restart_plan,
     .apply = rollout_restart_apply,
     .undo = touched_undo,
     .results = restart_results},
    {.name = "set_image",
     .kind = SALVE_MUTATE,
     .args = image_args,
     .target_arg = "name",
     .description = "Set a container's image",
     .check = set_image_check,
     .plan = set_image_plan,
     .apply = set_image_apply,
     .undo = set_image_undo,
     .results = image_results},
    {.name = "patch",
     .kind = SALVE_MUTATE,
     .args = patch_args,
     .target_arg = "name",
     .description =
         "Patch an object (strategic, merge or JSON patch); undo restores what it changed",
     .check = patch_check,
     .plan = patch_plan,
     .apply = patch_apply,
     .undo = touched_undo,
     .results = patch_results},
    {.name = "cordon",
     .kind = SALVE_MUTATE,
     .args = node_args,
     .target_arg = "node",
     .description = "Mark a node unschedulable",
     .check = cordon_check,
     .plan = cordon_plan,
     .apply = cordon_apply,
     .undo = node_undo,
     .results = node_results},
    {.name = "uncordon",
     .kind = SALVE_MUTATE,
     .args = node_args,
     .target_arg = "node",
     .description = "Mark a node schedulable",
     .check = uncordon_check,
     .plan = uncordon_plan,
     .apply = uncordon_apply,
     .undo = node_undo,
     .results = node_results},
    {.name = "drain",
     .kind = SALVE_MUTATE,
     .args = drain_args,
     .target_arg = "node",
     .description = "Cordon a node and evict its pods, respecting PodDisruptionBudgets",
     .check = kube_drain_check,
     .plan = kube_drain_plan,
     .apply = kube_drain_apply,
     .undo = node_undo,
     .results = drain_results},
    {.name = "delete_pod",
     .kind = SALVE_MUTATE,
     .args = delete_pod_args,
     .target_arg = "name",
     .flags = SALVE_ACTION_NO_UNDO,
     .description = "Delete a pod (its controller replaces it)",
     .check = delete_pod_check,
     .plan = delete_pod_plan,
     .apply = delete_pod_apply,
     .results = delete_pod_results},
    {.name = "isolate",
     .kind = SALVE_MUTATE,
     .args = isolate_args,
     .target_arg = "namespace",
     .description = "Deny all traffic to and from pods (or a namespace) with a NetworkPolicy",
     .check = isolate_check,
     .plan = isolate_plan,
     .apply = isolate_apply,
     .undo = isolate_undo,
     .results = isolate_results},
    {.name = "quarantine_pod",
     .kind = SALVE_MUTATE,
     .args = quarantine_args,
     .target_arg = "pod",
     .description = "Take a pod out of its Services and ReplicaSet (it keeps running)",
     .check = quarantine_check,
     .plan = quarantine_plan,
     .apply = quarantine_apply,
     .undo = touched_undo,
     .results = quarantine_results},
    {.name = "evidence",
     .kind = SALVE_READ,
     .args = evidence_args,
     .target_arg = "pod",
     .description = "Capture pods, logs, events, owners and nodes with SHA-256 digests",
     .run = kube_evidence,
     .results = evidence_results},
    {.name = "taint",
     .kind = SALVE_MUTATE,
     .args = taint_args,
     .target_arg = "node",
     .description = "Taint a node (NoSchedule, PreferNoSchedule, NoExecute)",
     .check = taint_check,
     .plan = taint_plan,
     .apply = taint_apply,
     .undo = taint_undo,
     .results = taint_results,
     .choices = taint_choices},
    {.name = "untaint",
     .kind = SALVE_MUTATE,
     .args = taint_args,
     .target_arg = "node",
     .description = "Remove a node's taint",
     .check = untaint_check,
     .plan = untaint_plan,
     .apply = untaint_apply,
     .undo = taint_undo,
     .results = taint_results,
     .choices = taint_choices},
    {.name = NULL},
};

/* The shared client's settings and the plugin's own. */
static const salve_setting kube_settings[] = {
    K8S_SETTINGS,
    {.name = "isolate_deny_namespaces",
     .type = SALVE_T_LIST,
     .default_value = "[]",
     .description = "namespaces isolate refuses without force=true (kube-system always)"},
    {.name = NULL},
};

static int kube_init(const salve_host *host, const json_t *config, void **state, char *err,
                     size_t errlen)
{
	kube_host = host;
	json_t *deny = json_object_get(config, "isolate_deny_namespaces");
	size_t i;
	json_t *v;
	json_array_foreach(deny, i, v)
	{
		char why[512];
		if (!json_is_string(v) ||
		    k8s_check_label("isolate_deny_namespaces", json_string_value(v), why,
		                    sizeof why) < 0) {
			snprintf(err, errlen, "kubernetes: isolate_deny_namespaces[%zu]: %s", i,
			         json_is_string(v) ? why : "not a string");
			return -1;
		}
	}
	kube_deny_namespaces = deny ? json_deep_copy(deny) : json_array();
	k8s_client *client = NULL;
	if (k8s_client_from_config("kubernetes", config, &client, err, errlen) < 0) {
		json_decref(kube_deny_namespaces);
		kube_deny_namespaces = NULL;
		return -1;
	}
	*state = client;
	return 0;
}

static void kube_fini(void *state)
{
	json_decref(kube_deny_namespaces);
	kube_deny_namespaces = NULL;
	k8s_client_free(state);
}

static const salve_plugin kubernetes_plugin = {
    SALVE_PLUGIN_HEADER,
    .name = "kubernetes",
    .version = SALVE_VERSION,
    .description = "Kubernetes workloads and nodes: status, rollbacks, restarts, patches, drains",
    .actions = actions,
    .settings = kube_settings,
    .init = kube_init,
    .fini = kube_fini,
};

SALVE_PLUGIN_DECLARE(kubernetes_plugin)
