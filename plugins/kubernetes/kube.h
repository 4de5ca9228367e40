/* Internal to the kubernetes plugin: the action callbacks and what they share. */
#ifndef SALVE_KUBE_H
#define SALVE_KUBE_H

#include "k8s.h"

/* kubectl patch's default for built-in kinds: lists with a merge key (containers, env, ports,
 * volumes, ...) merge by it instead of being replaced. */
#define K8S_STRATEGIC_PATCH "application/strategic-merge-patch+json"

/* The host table from init; lives as long as the process. */
extern const salve_host *kube_host;

/* This call's view of the shared client. */
void kube_ctx(k8s_ctx *ctx, salve_call *call);
/* Remove metadata.managedFields (noise in results and audit records). */
void kube_strip(json_t *obj);

/* read.c */
int kube_get(salve_call *call, const json_t *args, json_t **result);
int kube_pods(salve_call *call, const json_t *args, json_t **result);
int kube_rollout_status(salve_call *call, const json_t *args, json_t **result);
int kube_rollout_wait(salve_call *call, const json_t *args, json_t **result);
int kube_logs(salve_call *call, const json_t *args, json_t **result);
int kube_events(salve_call *call, const json_t *args, json_t **result);

/* workload.c: entries of the mutation driver (k8s_mutation) */
extern const k8s_mutation kube_rollout_undo;
extern const k8s_mutation kube_rollout_restart;
extern const k8s_mutation kube_set_image; /* also applies its own undo records */
extern const k8s_mutation kube_patch;
extern const k8s_mutation kube_delete_pod;
/* Undo of every action whose record is {kind, namespace, name, touched}. */
extern const k8s_mutation kube_touched_restore;
/* That undo record, for a merge-patch change of the k8s_target a state begins with. */
json_t *kube_touched_record(const void *state, const json_t *before, const json_t *patch);

/* contain.c: containment. isolate's undo deletes the policy it made (kube_isolate_remove);
 * quarantine_pod's undo is kube_touched_restore; taint's and untaint's kube_taint_restore. */
extern const k8s_mutation kube_isolate;
extern const k8s_mutation kube_isolate_remove;
extern const k8s_mutation kube_quarantine_pod;
extern const k8s_mutation kube_taint;
extern const k8s_mutation kube_untaint;
extern const k8s_mutation kube_taint_restore;
/* Namespaces isolate refuses without force (config isolate_deny_namespaces; kube-system
 * always). Set by init, read-only afterwards. */
extern json_t *kube_deny_namespaces;
/* The run id as a label value (at most 63 of [A-Za-z0-9._-]; "unknown" without one). */
void kube_run_label(salve_call *call, char *buf, size_t len);

/* evidence.c: read-only forensics capture into a directory, digests into the audit log. */
int kube_evidence(salve_call *call, const json_t *args, json_t **result);

/* node.c */
extern const k8s_mutation kube_cordon;
extern const k8s_mutation kube_uncordon;
/* Undo of cordon, uncordon and drain: {node, unschedulable}. */
extern const k8s_mutation kube_node_restore;
/* Drain is no driver entry: its plan asks for each eviction once with dryRun=All, while its
 * apply cordons first (leaving an undo record even when it then fails), retries evictions a
 * PodDisruptionBudget holds back until the deadline and waits for the pods to go. */
int kube_drain_check(salve_call *call, const json_t *args, json_t **observed);
int kube_drain_plan(salve_call *call, const json_t *args, json_t **predicted);
int kube_drain_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo);

#endif
