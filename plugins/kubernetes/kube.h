/* Internal to the kubernetes plugin: the action callbacks and what they share. */
#ifndef SALVE_KUBE_H
#define SALVE_KUBE_H

#include "k8s.h"

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

/* workload.c */
int kube_undo_check(salve_call *call, const json_t *args, json_t **observed);
int kube_undo_plan(salve_call *call, const json_t *args, json_t **predicted);
int kube_undo_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo);
int kube_restart_check(salve_call *call, const json_t *args, json_t **observed);
int kube_restart_plan(salve_call *call, const json_t *args, json_t **predicted);
int kube_restart_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo);
int kube_image_check(salve_call *call, const json_t *args, json_t **observed);
int kube_image_plan(salve_call *call, const json_t *args, json_t **predicted);
int kube_image_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo);
int kube_image_undo(salve_call *call, const json_t *undo);
int kube_patch_check(salve_call *call, const json_t *args, json_t **observed);
int kube_patch_plan(salve_call *call, const json_t *args, json_t **predicted);
int kube_patch_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo);
int kube_delete_pod_check(salve_call *call, const json_t *args, json_t **observed);
int kube_delete_pod_plan(salve_call *call, const json_t *args, json_t **predicted);
int kube_delete_pod_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo);
/* Undo of every action whose record is {kind, namespace, name, touched}. */
int kube_touched_undo(salve_call *call, const json_t *undo);

/* node.c */
int kube_cordon_check(salve_call *call, const json_t *args, json_t **observed);
int kube_cordon_plan(salve_call *call, const json_t *args, json_t **predicted);
int kube_cordon_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo);
int kube_uncordon_check(salve_call *call, const json_t *args, json_t **observed);
int kube_uncordon_plan(salve_call *call, const json_t *args, json_t **predicted);
int kube_uncordon_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo);
int kube_drain_check(salve_call *call, const json_t *args, json_t **observed);
int kube_drain_plan(salve_call *call, const json_t *args, json_t **predicted);
int kube_drain_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo);
/* Undo of cordon, uncordon and drain: {node, unschedulable}. */
int kube_node_undo(salve_call *call, const json_t *undo);

#endif
