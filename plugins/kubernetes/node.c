/* Node actions: cordon, uncordon and drain (kubectl drain's pod filters, evictions through the
 * Eviction API so PodDisruptionBudgets are respected, then waiting for the pods to go). */
#include "kube.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVICTION_RETRY_SECONDS 1.0 /* kubectl waits 5s; a PDB usually frees up sooner */

static int node_path(k8s_ctx *ctx, const char *node, char *path, size_t len)
{
	return k8s_path(ctx, path, len, k8s_kind_find("node"), NULL, NULL, node, "node", NULL);
}

static int is_unschedulable(const json_t *node)
{
	return json_is_true(k8s_ptr_get(node, "/spec/unschedulable"));
}

struct node_change {
	k8s_target t;
	int want; /* spec.unschedulable wanted */
};

static int node_target(k8s_ctx *ctx, const char *node, struct node_change *nc)
{
	nc->t.kind = k8s_kind_find("node");
	nc->t.name = node;
	return node_path(ctx, node, nc->t.path, sizeof nc->t.path);
}

static int cordon_parse(k8s_ctx *ctx, const json_t *args, void *state)
{
	struct node_change *nc = state;
	nc->want = 1;
	return node_target(ctx, k8s_arg_str(args, "node"), nc);
}

static int uncordon_parse(k8s_ctx *ctx, const json_t *args, void *state)
{
	struct node_change *nc = state;
	nc->want = 0;
	return node_target(ctx, k8s_arg_str(args, "node"), nc);
}

static int node_observe(k8s_ctx *ctx, void *state, const json_t *current, json_t **observed)
{
	(void)ctx;
	const struct node_change *nc = state;
	int now = is_unschedulable(current);
	*observed = json_pack("{s:s, s:b, s:o}", "node", nc->t.name, "unschedulable", now,
	                      "changes", json_array());
	return now == nc->want ? SALVE_HOLDS : SALVE_OK;
}

static int build_unschedulable(k8s_ctx *ctx, const json_t *current, json_t **desired, void *ud)
{
	(void)ctx;
	const struct node_change *nc = ud;
	json_t *d = json_deep_copy(current);
	json_t *spec = k8s_child_object(d, "spec");
	/* kubectl uncordon drops the field (false is its zero value and omitted). */
	if (nc->want)
		json_object_set_new(spec, "unschedulable", json_true());
	else
		json_object_del(spec, "unschedulable");
	*desired = d;
	return SALVE_OK;
}

static json_t *node_result(k8s_ctx *ctx, void *state, const json_t *before, const json_t *after)
{
	(void)ctx;
	const struct node_change *nc = state;
	return json_pack("{s:s, s:b, s:o}", "node", nc->t.name, "unschedulable", nc->want,
	                 "changes", k8s_changes(before, after));
}

static json_t *node_undo_record(const void *state, const json_t *before, const json_t *patch)
{
	(void)patch;
	const struct node_change *nc = state;
	return json_pack("{s:s, s:b}", "node", nc->t.name, "unschedulable",
	                 is_unschedulable(before));
}

const k8s_mutation kube_cordon = {
    .state_size = sizeof(struct node_change),
    .parse = cordon_parse,
    .observe = node_observe,
    .build = build_unschedulable,
    .result = node_result,
    .undo_record = node_undo_record,
};

const k8s_mutation kube_uncordon = {
    .state_size = sizeof(struct node_change),
    .parse = uncordon_parse,
    .observe = node_observe,
    .build = build_unschedulable,
    .result = node_result,
    .undo_record = node_undo_record,
};

/* The undo record of cordon, uncordon and drain: {node, unschedulable}. */
static int node_restore_parse(k8s_ctx *ctx, const json_t *undo, void *state)
{
	struct node_change *nc = state;
	const char *node = k8s_arg_str(undo, "node");
	json_t *u = json_object_get(undo, "unschedulable");
	if (!node || !json_is_boolean(u))
		return k8s_invalid(ctx,
		                   "undo record is malformed: it needs node and unschedulable");
	nc->want = json_is_true(u);
	return node_target(ctx, node, nc);
}

static void node_undone(k8s_ctx *ctx, const void *state, const json_t *patch)
{
	(void)patch;
	const struct node_change *nc = state;
	ctx->host->log(ctx->call, SALVE_LOG_INFO, "kubernetes: node %s is %s again", nc->t.name,
	               nc->want ? "unschedulable" : "schedulable");
}

const k8s_mutation kube_node_restore = {
    .state_size = sizeof(struct node_change),
    .parse = node_restore_parse,
    .build = build_unschedulable,
    .undone = node_undone,
};

/* Drain's cordon: spec.unschedulable set, from `seen` (check's read of the node, or NULL);
 * *was receives the value before. */
static int cordon_node(k8s_ctx *ctx, const char *path, unsigned mode, const json_t *seen, int *was,
                       json_t **changes)
{
	struct node_change cordoned = {.want = 1};
	json_t *before = NULL, *after = NULL;
	int rc = k8s_update_from(ctx, path, mode, seen, build_unschedulable, &cordoned, &before,
	                         &after, NULL);
	if (rc == SALVE_OK) {
		if (was)
			*was = is_unschedulable(before);
		if (changes)
			*changes = k8s_changes(before, after);
	}
	json_decref(before);
	json_decref(after);
	return rc;
}

/* ---- drain ----------------------------------------------------------------------------------- */

struct drain {
	const char *node;
	char path[1024];
	double timeout;
	int ignore_daemonsets;
	int delete_emptydir;
	int force;
	long long grace; /* -1: the pod's own */
};

static int drain_args(k8s_ctx *ctx, const json_t *args, struct drain *d)
{
	memset(d, 0, sizeof *d);
	d->node = k8s_arg_str(args, "node");
	int rc = node_path(ctx, d->node, d->path, sizeof d->path);
	if (rc != SALVE_OK)
		return rc;
	d->timeout = 300;
	json_t *t = json_object_get(args, "timeout");
	if (t && (salve_duration_from_json(t, &d->timeout) < 0 || d->timeout <= 0))
		return k8s_invalid(ctx, "argument \"timeout\": expected a duration such as \"5m\"");
	d->ignore_daemonsets = k8s_arg_bool(args, "ignore_daemonsets", 1);
	d->delete_emptydir = k8s_arg_bool(args, "delete_emptydir_data", 0);
	d->force = k8s_arg_bool(args, "force", 0);
	json_t *gp = json_object_get(args, "grace_period");
	d->grace = -1;
	if (gp) {
		if (!json_is_integer(gp) || json_integer_value(gp) < 0)
			return k8s_invalid(
			    ctx, "argument \"grace_period\" must be a non-negative integer");
		d->grace = json_integer_value(gp);
	}
	return SALVE_OK;
}

static const json_t *controller_of(const json_t *pod)
{
	size_t i;
	json_t *ref;
	json_array_foreach(k8s_ptr_get(pod, "/metadata/ownerReferences"), i, ref)
	{
		if (json_is_true(json_object_get(ref, "controller")))
			return ref;
	}
	return NULL;
}

static int finished(const json_t *pod)
{
	const char *phase = json_string_value(k8s_ptr_get(pod, "/status/phase"));
	return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

static int uses_emptydir(const json_t *pod)
{
	size_t i;
	json_t *vol;
	json_array_foreach(k8s_ptr_get(pod, "/spec/volumes"), i, vol)
	{
		if (json_object_get(vol, "emptyDir"))
			return 1;
	}
	return 0;
}

static void pod_id(const json_t *pod, char *buf, size_t len)
{
	const char *ns = json_string_value(k8s_ptr_get(pod, "/metadata/namespace"));
	const char *name = json_string_value(k8s_ptr_get(pod, "/metadata/name"));
	snprintf(buf, len, "%s/%s", ns ? ns : "", name ? name : "");
}

/* kubectl drain's filters. Sorts the node's pods into those to evict, those left alone (with
 * why), and those that stop the drain (with why). */
static void sort_pods(const struct drain *d, const json_t *list, json_t *evict, json_t *skipped,
                      json_t *blocking)
{
	size_t i;
	json_t *pod;
	json_array_foreach(json_object_get(list, "items"), i, pod)
	{
		char id[600];
		pod_id(pod, id, sizeof id);
		const json_t *ctl = controller_of(pod);
		const char *ctl_kind = json_string_value(json_object_get(ctl, "kind"));
		if (json_object_get(k8s_ptr_get(pod, "/metadata/annotations"),
		                    "kubernetes.io/config.mirror")) {
			json_array_append_new(
			    skipped, json_pack("{s:s, s:s}", "pod", id, "reason", "mirror pod"));
			continue;
		}
		if (ctl_kind && strcmp(ctl_kind, "DaemonSet") == 0) {
			if (d->ignore_daemonsets)
				json_array_append_new(skipped,
				                      json_pack("{s:s, s:s}", "pod", id, "reason",
				                                "DaemonSet-managed"));
			else
				json_array_append_new(
				    blocking, json_pack("{s:s, s:s}", "pod", id, "reason",
				                        "cannot delete DaemonSet-managed Pods (use "
				                        "ignore_daemonsets=true to ignore)"));
			continue;
		}
		if (!finished(pod) && uses_emptydir(pod) && !d->delete_emptydir) {
			json_array_append_new(
			    blocking, json_pack("{s:s, s:s}", "pod", id, "reason",
			                        "cannot delete Pods with local storage (use "
			                        "delete_emptydir_data=true to override)"));
			continue;
		}
		if (!finished(pod) && !ctl && !d->force) {
			json_array_append_new(
			    blocking,
			    json_pack("{s:s, s:s}", "pod", id, "reason",
			              "cannot delete Pods that declare no controller (use "
			              "force=true to override)"));
			continue;
		}
		json_array_append(evict, pod);
	}
}

static int list_node_pods(k8s_ctx *ctx, const struct drain *d, json_t **list)
{
	char selector[600], path[2048] = "/api/v1/pods";
	snprintf(selector, sizeof selector, "spec.nodeName=%s", d->node);
	if (k8s_path_query(path, sizeof path, "fieldSelector", selector) != SALVE_OK)
		return SALVE_ERR;
	return k8s_get(ctx, path, 0, list);
}

/* List and sort; fail naming every pod that stops the drain. */
static int drain_pods(k8s_ctx *ctx, const struct drain *d, json_t **evict, json_t **skipped)
{
	json_t *list = NULL;
	int rc = list_node_pods(ctx, d, &list);
	if (rc != SALVE_OK)
		return rc;
	json_t *blocking = json_array();
	*evict = json_array();
	*skipped = json_array();
	sort_pods(d, list, *evict, *skipped, blocking);
	json_decref(list);
	if (json_array_size(blocking) == 0) {
		json_decref(blocking);
		return SALVE_OK;
	}
	char msg[2048];
	size_t o = (size_t)snprintf(msg, sizeof msg, "cannot drain node %s:", d->node);
	size_t i;
	json_t *b;
	json_array_foreach(blocking, i, b)
	{
		if (o < sizeof msg)
			o += (size_t)snprintf(msg + o, sizeof msg - o, "%s %s: %s", i ? ";" : "",
			                      json_string_value(json_object_get(b, "pod")),
			                      json_string_value(json_object_get(b, "reason")));
	}
	json_decref(blocking);
	json_decref(*evict);
	json_decref(*skipped);
	*evict = *skipped = NULL;
	ctx->host->fail(ctx->call, "%s", msg);
	return SALVE_ERR;
}

static json_t *pod_names(const json_t *pods)
{
	json_t *out = json_array();
	size_t i;
	json_t *pod;
	json_array_foreach(pods, i, pod)
	{
		char id[600];
		pod_id(pod, id, sizeof id);
		json_array_append_new(out, json_string(id));
	}
	return out;
}

/* POST one eviction. Returns SALVE_OK (evicted or already gone), 1 when a disruption budget
 * refused it for now (429), or a negative error. */
static int evict(k8s_ctx *ctx, const struct drain *d, const char *gv, const json_t *pod,
                 int dry_run, char *why, size_t whylen)
{
	const char *ns = json_string_value(k8s_ptr_get(pod, "/metadata/namespace"));
	const char *name = json_string_value(k8s_ptr_get(pod, "/metadata/name"));
	char path[2048];
	int rc = k8s_path(ctx, path, sizeof path, k8s_kind_find("pod"), NULL, ns, name, "pod",
	                  "eviction");
	if (rc != SALVE_OK)
		return rc;
	json_t *opts = json_object();
	if (d->grace >= 0)
		json_object_set_new(opts, "gracePeriodSeconds", json_integer(d->grace));
	if (dry_run) {
		json_object_set_new(opts, "dryRun", json_pack("[s]", "All"));
		char tmp[2048];
		snprintf(tmp, sizeof tmp, "%s", path);
		k8s_dry_run_path(path, sizeof path, tmp);
	}
	json_t *body =
	    json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", gv, "kind", "Eviction",
	              "metadata", "name", name, "namespace", ns, "deleteOptions", opts);
	k8s_resp resp;
	rc = k8s_request(ctx, "POST", path, "application/json", body, K8S_NO_RETRY_429, &resp);
	json_decref(body);
	if (rc == SALVE_ERR_NOTFOUND) {
		rc = SALVE_OK;
	} else if (resp.status == 429) {
		const char *msg = json_string_value(json_object_get(resp.json, "message"));
		if (!msg && resp.text) { /* a proxy's plain-text 429 */
			size_t n = strcspn(resp.text, "\r\n");
			resp.text[n < 200 ? n : 200] = '\0';
			msg = resp.text;
		}
		snprintf(why, whylen, "%s (429)", msg && *msg ? msg : "too many requests");
		rc = 1;
	}
	k8s_resp_clear(&resp);
	return rc;
}

/* Evict every pod, retrying those a disruption budget holds back until the deadline; then wait
 * until they are gone. */
static int evict_all(k8s_ctx *ctx, const struct drain *d, const char *gv, const json_t *pods,
                     double deadline, json_t *evicted)
{
	json_t *pending = json_deep_copy(pods);
	char why[1024] = "";
	int rc = SALVE_OK;
	while (json_array_size(pending) > 0) {
		json_t *blocked = json_array();
		size_t i;
		json_t *pod;
		json_array_foreach(pending, i, pod)
		{
			char id[600];
			pod_id(pod, id, sizeof id);
			int r = evict(ctx, d, gv, pod, 0, why, sizeof why);
			if (r < 0) {
				rc = r;
				break;
			}
			if (r == 1) {
				ctx->host->log(ctx->call, SALVE_LOG_INFO,
				               "kubernetes: evicting %s: %s; will retry", id, why);
				json_array_append(blocked, pod);
			} else {
				json_array_append_new(evicted, json_string(id));
			}
		}
		json_decref(pending);
		pending = blocked;
		if (rc != SALVE_OK || json_array_size(pending) == 0)
			break;
		double left = deadline - k8s_mono();
		double step_left = ctx->host->remaining(ctx->call);
		if (left <= 0 || step_left <= 0) {
			json_t *names = pod_names(pending);
			char *list = json_dumps(names, JSON_COMPACT);
			ctx->host->fail(
			    ctx->call,
			    "drain node %s: timed out after %.0fs; evictions still refused "
			    "for %s: %s",
			    d->node, d->timeout, list ? list : "?", why);
			free(list);
			json_decref(names);
			rc = SALVE_ERR_TIMEOUT;
			break;
		}
		double nap = EVICTION_RETRY_SECONDS;
		if (nap > left)
			nap = left;
		if (nap > step_left)
			nap = step_left;
		if (k8s_sleep(ctx, nap) != SALVE_OK) {
			ctx->host->fail(ctx->call, "drain node %s: cancelled", d->node);
			rc = SALVE_ERR_CANCELED;
			break;
		}
	}
	json_decref(pending);
	if (rc != SALVE_OK)
		return rc;

	/* kubectl waits until each evicted pod is gone (or replaced under the same name). */
	size_t i;
	json_t *pod;
	json_array_foreach(pods, i, pod)
	{
		const char *ns = json_string_value(k8s_ptr_get(pod, "/metadata/namespace"));
		const char *name = json_string_value(k8s_ptr_get(pod, "/metadata/name"));
		const char *uid = json_string_value(k8s_ptr_get(pod, "/metadata/uid"));
		char path[2048];
		rc = k8s_path(ctx, path, sizeof path, k8s_kind_find("pod"), NULL, ns, name, "pod",
		              NULL);
		while (rc == SALVE_OK) {
			json_t *now = NULL;
			rc = k8s_get(ctx, path, 0, &now);
			if (rc == SALVE_ERR_NOTFOUND) {
				rc = SALVE_OK;
				break;
			}
			if (rc != SALVE_OK)
				break;
			const char *now_uid = json_string_value(k8s_ptr_get(now, "/metadata/uid"));
			int replaced = uid && now_uid && strcmp(uid, now_uid) != 0;
			json_decref(now);
			if (replaced)
				break;
			if (k8s_mono() >= deadline || ctx->host->remaining(ctx->call) <= 0) {
				ctx->host->fail(
				    ctx->call,
				    "drain node %s: timed out after %.0fs waiting for pod %s/%s "
				    "to be deleted",
				    d->node, d->timeout, ns, name);
				rc = SALVE_ERR_TIMEOUT;
				break;
			}
			if (k8s_sleep(ctx, 0.5) != SALVE_OK) {
				ctx->host->fail(ctx->call, "drain node %s: cancelled", d->node);
				rc = SALVE_ERR_CANCELED;
			}
		}
		if (rc != SALVE_OK)
			return rc;
	}
	return SALVE_OK;
}

/* What drain's check saw, when the host hands it back (host->observed, ABI 1.2): its
 * observed, with the node as read under K8S_OBSERVED_OBJECT; NULL otherwise. */
static const json_t *drain_seen(k8s_ctx *ctx, const struct drain *d)
{
	if (!SALVE_HOST_HAS(ctx->host, observed))
		return NULL;
	const json_t *observed = ctx->host->observed(ctx->call);
	return k8s_observed_object(observed, d->path) ? observed : NULL;
}

/* The pods check found to evict, as {metadata: {namespace, name}}: all evict() needs. */
static json_t *pods_from_check(const json_t *seen)
{
	json_t *pods = json_array();
	size_t i;
	json_t *id;
	json_array_foreach(json_object_get(seen, "to_evict"), i, id)
	{
		const char *s = json_string_value(id);
		const char *slash = s ? strchr(s, '/') : NULL;
		if (!slash)
			continue;
		json_array_append_new(pods, json_pack("{s:{s:s%, s:s}}", "metadata", "namespace", s,
		                                      (size_t)(slash - s), "name", slash + 1));
	}
	return pods;
}

int kube_drain_check(salve_call *call, const json_t *args, json_t **observed)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	struct drain d;
	int rc = drain_args(&ctx, args, &d);
	json_t *node = NULL, *evict_list = NULL, *skipped = NULL;
	if (rc == SALVE_OK)
		rc = k8s_get(&ctx, d.path, 0, &node);
	if (rc == SALVE_OK)
		rc = drain_pods(&ctx, &d, &evict_list, &skipped);
	if (rc == SALVE_OK) {
		int cordoned = is_unschedulable(node);
		int done = cordoned && json_array_size(evict_list) == 0;
		*observed = json_pack("{s:s, s:b, s:o, s:o, s:o}", "node", d.node, "unschedulable",
		                      cordoned, "evicted", json_array(), "to_evict",
		                      pod_names(evict_list), "skipped", json_incref(skipped));
		if (!done) { /* for plan and apply (not audited: a change is needed) */
			json_object_set(*observed, K8S_OBSERVED_OBJECT, node);
			json_object_set_new(*observed, "k8s_path", json_string(d.path));
		}
		rc = done ? SALVE_HOLDS : SALVE_OK;
	}
	json_decref(node);
	json_decref(evict_list);
	json_decref(skipped);
	return rc;
}

int kube_drain_plan(salve_call *call, const json_t *args, json_t **predicted)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	struct drain d;
	const char *gv = NULL;
	json_t *evict_list = NULL, *skipped = NULL, *changes = NULL;
	int rc = drain_args(&ctx, args, &d);
	const json_t *seen = rc == SALVE_OK ? drain_seen(&ctx, &d) : NULL;
	if (rc == SALVE_OK)
		rc = k8s_discover_eviction(&ctx, &gv);
	if (rc == SALVE_OK)
		rc = cordon_node(&ctx, d.path, K8S_UPDATE_DRY_RUN,
		                 k8s_observed_object(seen, d.path), NULL, &changes);
	if (rc == SALVE_OK && seen) { /* a dry run changes nothing: check's list still holds */
		evict_list = pods_from_check(seen);
		skipped = json_deep_copy(json_object_get(seen, "skipped"));
		if (!json_is_array(skipped)) {
			json_decref(skipped);
			skipped = json_array();
		}
	} else if (rc == SALVE_OK) {
		rc = drain_pods(&ctx, &d, &evict_list, &skipped);
	}
	json_t *would = json_array(), *refused = json_array();
	size_t i;
	json_t *pod;
	json_array_foreach(evict_list, i, pod)
	{
		if (rc != SALVE_OK)
			break;
		char id[600], why[1024] = "";
		pod_id(pod, id, sizeof id);
		int r = evict(&ctx, &d, gv, pod, 1, why, sizeof why);
		if (r < 0)
			rc = r;
		else if (r == 1)
			json_array_append_new(refused,
			                      json_pack("{s:s, s:s}", "pod", id, "reason", why));
		else
			json_array_append_new(would, json_string(id));
	}
	if (rc == SALVE_OK)
		*predicted =
		    json_pack("{s:s, s:b, s:O, s:O, s:O, s:O, s:f}", "node", d.node,
		              "unschedulable", 1, "changes", changes, "evicted", would,
		              "refused_now", refused, "skipped", skipped, "timeout", d.timeout);
	json_decref(would);
	json_decref(refused);
	json_decref(changes);
	json_decref(evict_list);
	json_decref(skipped);
	return rc;
}

int kube_drain_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	struct drain d;
	const char *gv = NULL;
	json_t *evict_list = NULL, *skipped = NULL, *changes = NULL;
	int rc = drain_args(&ctx, args, &d);
	double deadline = k8s_mono() + d.timeout;
	const json_t *seen = rc == SALVE_OK ? drain_seen(&ctx, &d) : NULL;
	if (rc == SALVE_OK)
		rc = k8s_discover_eviction(&ctx, &gv);
	/* Refuse before cordoning when pods would stop the drain anyway; check's list, when the
	 * host hands it back, was sorted so a moment ago (and the list after cordoning below
	 * catches pods scheduled since). */
	if (rc == SALVE_OK && !seen)
		rc = drain_pods(&ctx, &d, &evict_list, &skipped);
	json_decref(evict_list);
	json_decref(skipped);
	evict_list = skipped = NULL;
	if (rc != SALVE_OK)
		return rc;
	int was = 0;
	rc = cordon_node(&ctx, d.path, 0, k8s_observed_object(seen, d.path), &was, &changes);
	if (rc != SALVE_OK)
		return rc;
	/* From here on the node is cordoned: undo must be able to uncordon it whatever happens. */
	*undo = json_pack("{s:s, s:b}", "node", d.node, "unschedulable", was);
	rc = drain_pods(&ctx, &d, &evict_list, &skipped); /* pods scheduled meanwhile */
	json_t *evicted = json_array();
	if (rc == SALVE_OK)
		rc = evict_all(&ctx, &d, gv, evict_list, deadline, evicted);
	if (rc == SALVE_OK)
		*result = json_pack("{s:s, s:b, s:b, s:O, s:O, s:O}", "node", d.node,
		                    "unschedulable", 1, "was_unschedulable", was, "changes",
		                    changes, "evicted", evicted, "skipped", skipped);
	json_decref(evicted);
	json_decref(changes);
	json_decref(evict_list);
	json_decref(skipped);
	return rc;
}
