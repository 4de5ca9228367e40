/* Read actions: objects, pods, rollout status, logs and events. */
#include "kube.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const workload_kinds[] = {"Deployment", "StatefulSet", "DaemonSet", NULL};

int kube_get(salve_call *call, const json_t *args, json_t **result)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	const k8s_kind *k = k8s_arg_kind(&ctx, args, NULL, NULL);
	if (!k)
		return SALVE_ERR_INVALID;
	const char *ns = k->namespaced ? k8s_arg_namespace(&ctx, args) : NULL;
	if (k->namespaced && !ns)
		return SALVE_ERR_INVALID;
	char path[2048];
	int rc =
	    k8s_path(&ctx, path, sizeof path, k, NULL, ns, k8s_arg_str(args, "name"), "name", NULL);
	if (rc != SALVE_OK)
		return rc;
	json_t *obj = NULL;
	rc = k8s_get(&ctx, path, 0, &obj);
	if (rc != SALVE_OK)
		return rc;
	kube_strip(obj);
	*result = obj;
	return SALVE_OK;
}

/* What kubectl get pods shows in its STATUS column, simplified. */
static const char *pod_status(const json_t *pod)
{
	const char *reason = json_string_value(k8s_ptr_get(pod, "/status/reason"));
	if (k8s_ptr_get(pod, "/metadata/deletionTimestamp"))
		return "Terminating";
	size_t i;
	json_t *cs;
	json_array_foreach(k8s_ptr_get(pod, "/status/containerStatuses"), i, cs)
	{
		const char *w = json_string_value(k8s_ptr_get(cs, "/state/waiting/reason"));
		const char *t = json_string_value(k8s_ptr_get(cs, "/state/terminated/reason"));
		if (w && *w)
			return w;
		if (t && *t)
			return t;
	}
	if (reason && *reason)
		return reason;
	const char *phase = json_string_value(k8s_ptr_get(pod, "/status/phase"));
	return phase ? phase : "Unknown";
}

static json_t *pod_summary(const json_t *pod)
{
	json_t *containers = json_array();
	long long restarts = 0;
	int all_ready = 1, any = 0;
	size_t i;
	json_t *cs;
	json_array_foreach(k8s_ptr_get(pod, "/status/containerStatuses"), i, cs)
	{
		long long r = json_integer_value(json_object_get(cs, "restartCount"));
		int ready = json_is_true(json_object_get(cs, "ready"));
		const char *state = k8s_ptr_get(cs, "/state/running")      ? "running"
		                    : k8s_ptr_get(cs, "/state/terminated") ? "terminated"
		                    : k8s_ptr_get(cs, "/state/waiting")    ? "waiting"
		                                                           : "unknown";
		const char *reason = json_string_value(k8s_ptr_get(cs, "/state/waiting/reason"));
		if (!reason)
			reason = json_string_value(k8s_ptr_get(cs, "/state/terminated/reason"));
		restarts += r;
		all_ready &= ready;
		any = 1;
		json_array_append_new(
		    containers, json_pack("{s:O?, s:O?, s:b, s:I, s:s, s:s?}", "name",
		                          json_object_get(cs, "name"), "image",
		                          json_object_get(cs, "image"), "ready", ready, "restarts",
		                          (json_int_t)r, "state", state, "reason", reason));
	}
	return json_pack("{s:O?, s:O?, s:O?, s:s, s:b, s:I, s:O?, s:o}", "name",
	                 k8s_ptr_get(pod, "/metadata/name"), "namespace",
	                 k8s_ptr_get(pod, "/metadata/namespace"), "phase",
	                 k8s_ptr_get(pod, "/status/phase"), "status", pod_status(pod), "ready",
	                 any && all_ready, "restarts", (json_int_t)restarts, "node",
	                 k8s_ptr_get(pod, "/spec/nodeName"), "containers", containers);
}

int kube_pods(salve_call *call, const json_t *args, json_t **result)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	const char *ns = k8s_arg_namespace(&ctx, args);
	if (!ns)
		return SALVE_ERR_INVALID;
	const k8s_kind *pods = k8s_kind_find("pods");
	char path[4096];
	int rc = k8s_path(&ctx, path, sizeof path, pods, NULL, ns, NULL, NULL, NULL);
	if (rc != SALVE_OK)
		return rc;
	const char *selector = k8s_arg_str(args, "selector");
	if (selector && *selector) {
		if (strlen(selector) > 1024)
			return k8s_invalid(&ctx,
			                   "argument \"selector\" is longer than 1024 characters");
		if (k8s_path_query(path, sizeof path, "labelSelector", selector) != SALVE_OK)
			return SALVE_ERR;
	}
	json_t *list = NULL;
	rc = k8s_get(&ctx, path, 0, &list);
	if (rc != SALVE_OK)
		return rc;
	json_t *out = json_array();
	size_t i;
	json_t *pod;
	json_array_foreach(json_object_get(list, "items"), i, pod)
	{
		json_array_append_new(out, pod_summary(pod));
	}
	json_decref(list);
	*result = json_pack("{s:s, s:I, s:o}", "namespace", ns, "count",
	                    (json_int_t)json_array_size(out), "pods", out);
	return SALVE_OK;
}

/* GET a workload and judge its rollout. */
static int judge(k8s_ctx *ctx, const json_t *args, const k8s_kind **kind, const char **ns,
                 k8s_rollout *r, json_t **out)
{
	*kind = k8s_arg_kind(ctx, args, "Deployment", workload_kinds);
	if (!*kind)
		return SALVE_ERR_INVALID;
	*ns = k8s_arg_namespace(ctx, args);
	if (!*ns)
		return SALVE_ERR_INVALID;
	const char *name = k8s_arg_str(args, "name");
	char path[2048];
	int rc = k8s_path(ctx, path, sizeof path, *kind, NULL, *ns, name, "name", NULL);
	if (rc != SALVE_OK)
		return rc;
	json_t *obj = NULL;
	rc = k8s_get(ctx, path, 0, &obj);
	if (rc != SALVE_OK)
		return rc;
	k8s_rollout_judge(*kind, obj, r);
	json_t *j = k8s_rollout_json(r);
	json_object_set_new(j, "kind", json_string((*kind)->kind));
	json_object_set_new(j, "namespace", json_string(*ns));
	json_object_set_new(j, "name", json_string(name));
	json_object_set_new(j, "revision", json_integer(k8s_revision_of(obj)));
	json_decref(obj);
	*out = j;
	return SALVE_OK;
}

int kube_rollout_status(salve_call *call, const json_t *args, json_t **result)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	const k8s_kind *kind;
	const char *ns;
	k8s_rollout r;
	return judge(&ctx, args, &kind, &ns, &r, result);
}

int kube_rollout_wait(salve_call *call, const json_t *args, json_t **result)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	double timeout, interval;
	int rc = k8s_arg_wait(&ctx, args, &timeout, &interval);
	if (rc != SALVE_OK)
		return rc;
	double start = k8s_mono();
	for (;;) {
		const k8s_kind *kind;
		const char *ns;
		k8s_rollout r;
		json_t *status = NULL;
		rc = judge(&ctx, args, &kind, &ns, &r, &status);
		if (rc != SALVE_OK)
			return rc;
		double waited = k8s_mono() - start;
		if (r.healthy) {
			json_object_set_new(status, "waited_seconds",
			                    json_real(round(waited * 10) / 10));
			*result = status;
			return SALVE_OK;
		}
		if (r.failed) {
			json_decref(status);
			kube_host->fail(call, "%s", r.message);
			return SALVE_ERR;
		}
		/* A dry-run changed nothing, so there is nothing to wait for: report the state
		 * once (healthy may be false) instead of spending the timeout. */
		if (kube_host->mode(call) == SALVE_MODE_DRY_RUN) {
			kube_host->log(call, SALVE_LOG_INFO,
			               "kubernetes: dry-run: not waiting for %s %s/%s (%s)",
			               kind->kind, ns, k8s_arg_str(args, "name"), r.message);
			json_object_set_new(status, "waited_seconds", json_real(0));
			*result = status;
			return SALVE_OK;
		}
		json_decref(status);
		double left = timeout - waited;
		double step_left = kube_host->remaining(call);
		if (left <= 0 || step_left <= 0) {
			kube_host->fail(call, "%s %s/%s is not healthy after %.0fs: %s", kind->kind,
			                ns, k8s_arg_str(args, "name"), waited, r.message);
			return SALVE_ERR_TIMEOUT;
		}
		double nap = interval;
		if (nap > left)
			nap = left;
		if (nap > step_left)
			nap = step_left;
		kube_host->log(call, SALVE_LOG_DEBUG, "kubernetes: %s", r.message);
		if (k8s_sleep(&ctx, nap) != SALVE_OK) {
			kube_host->fail(call, "cancelled while waiting for %s %s/%s", kind->kind,
			                ns, k8s_arg_str(args, "name"));
			return SALVE_ERR_CANCELED;
		}
	}
}

int kube_logs(salve_call *call, const json_t *args, json_t **result)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	char err[512];
	const char *ns = k8s_arg_namespace(&ctx, args);
	if (!ns)
		return SALVE_ERR_INVALID;
	const char *pod = k8s_arg_str(args, "pod");
	const char *container = k8s_arg_str(args, "container");
	json_t *tail_v = json_object_get(args, "tail");
	long long tail = tail_v ? json_integer_value(tail_v) : 100;
	if (tail_v && (!json_is_integer(tail_v) || tail < 0))
		return k8s_invalid(&ctx, "argument \"tail\" must be a non-negative integer");
	if (container && k8s_check_label("container", container, err, sizeof err) < 0)
		return k8s_invalid(&ctx, "%s", err);
	char path[4096];
	int rc =
	    k8s_path(&ctx, path, sizeof path, k8s_kind_find("pod"), NULL, ns, pod, "pod", "log");
	if (rc != SALVE_OK)
		return rc;
	size_t n = strlen(path);
	n += (size_t)snprintf(path + n, sizeof path - n, "?tailLines=%lld&limitBytes=%d", tail,
	                      1 << 20);
	if (container)
		n += (size_t)snprintf(path + n, sizeof path - n, "&container=%s", container);
	if (k8s_arg_bool(args, "previous", 0))
		snprintf(path + n, sizeof path - n, "&previous=true");
	k8s_resp resp;
	rc = k8s_request(&ctx, "GET", path, NULL, NULL, K8S_TEXT, &resp);
	if (rc == SALVE_OK && !resp.text) {
		/* 204 without a body: a pod not scheduled yet has no log */
		resp.text = strdup("");
		resp.text_len = 0;
		if (!resp.text) {
			k8s_resp_clear(&resp);
			ctx.host->fail(call, "out of memory");
			return SALVE_ERR;
		}
	}
	if (rc == SALVE_OK) {
		long long lines = 0;
		for (size_t i = 0; i < resp.text_len; i++)
			lines += resp.text[i] == '\n';
		if (resp.text_len && resp.text[resp.text_len - 1] != '\n')
			lines++;
		json_t *text = json_stringn(resp.text, resp.text_len);
		if (!text) { /* not UTF-8: keep what is ASCII so the text stays readable */
			for (size_t i = 0; i < resp.text_len; i++)
				if ((unsigned char)resp.text[i] >= 0x80 || resp.text[i] == '\0')
					resp.text[i] = '?';
			text = json_stringn(resp.text, resp.text_len);
		}
		*result =
		    json_pack("{s:s, s:s, s:s?, s:o, s:I}", "namespace", ns, "pod", pod,
		              "container", container, "text", text, "lines", (json_int_t)lines);
	}
	k8s_resp_clear(&resp);
	return rc;
}

static const char *event_time(const json_t *ev)
{
	const char *t = json_string_value(json_object_get(ev, "lastTimestamp"));
	if (!t)
		t = json_string_value(json_object_get(ev, "eventTime"));
	if (!t)
		t = json_string_value(k8s_ptr_get(ev, "/metadata/creationTimestamp"));
	return t ? t : "";
}

static int by_time(const void *a, const void *b)
{
	/* RFC 3339 UTC timestamps sort as strings. */
	return strcmp(event_time(*(json_t *const *)a), event_time(*(json_t *const *)b));
}

int kube_events(salve_call *call, const json_t *args, json_t **result)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	char err[512];
	const char *ns = k8s_arg_namespace(&ctx, args);
	if (!ns)
		return SALVE_ERR_INVALID;
	const char *name = k8s_arg_str(args, "name");
	const char *kind_arg = k8s_arg_str(args, "kind");
	const k8s_kind *kind = NULL;
	if (name && k8s_check_subdomain("name", name, err, sizeof err) < 0)
		return k8s_invalid(&ctx, "%s", err);
	if (kind_arg && !(kind = k8s_arg_kind(&ctx, args, NULL, NULL)))
		return SALVE_ERR_INVALID;
	char path[4096];
	int rc =
	    k8s_path(&ctx, path, sizeof path, k8s_kind_find("event"), NULL, ns, NULL, NULL, NULL);
	if (rc != SALVE_OK)
		return rc;
	char selector[512] = "";
	if (name)
		snprintf(selector, sizeof selector, "involvedObject.name=%s", name);
	if (kind) {
		size_t n = strlen(selector);
		snprintf(selector + n, sizeof selector - n, "%sinvolvedObject.kind=%s",
		         n ? "," : "", kind->kind);
	}
	if (*selector && k8s_path_query(path, sizeof path, "fieldSelector", selector) != SALVE_OK)
		return SALVE_ERR;
	json_t *list = NULL;
	rc = k8s_get(&ctx, path, 0, &list);
	if (rc != SALVE_OK)
		return rc;
	json_t *items = json_object_get(list, "items");
	size_t count = json_array_size(items);
	json_t **sorted = calloc(count ? count : 1, sizeof *sorted);
	if (!sorted) {
		json_decref(list);
		return SALVE_ERR;
	}
	for (size_t i = 0; i < count; i++)
		sorted[i] = json_array_get(items, i);
	qsort(sorted, count, sizeof *sorted, by_time);
	json_t *out = json_array();
	for (size_t i = 0; i < count; i++) {
		const json_t *ev = sorted[i];
		const char *okind = json_string_value(k8s_ptr_get(ev, "/involvedObject/kind"));
		const char *oname = json_string_value(k8s_ptr_get(ev, "/involvedObject/name"));
		char object[600];
		snprintf(object, sizeof object, "%s/%s", okind ? okind : "?", oname ? oname : "?");
		json_t *cnt = json_object_get(ev, "count");
		json_array_append_new(
		    out,
		    json_pack("{s:O?, s:O?, s:O?, s:s, s:I, s:s}", "type",
		              json_object_get(ev, "type"), "reason", json_object_get(ev, "reason"),
		              "message", json_object_get(ev, "message"), "object", object, "count",
		              (json_int_t)(json_is_integer(cnt) ? json_integer_value(cnt) : 1),
		              "last_seen", event_time(ev)));
	}
	free(sorted);
	json_decref(list);
	*result = json_pack("{s:s, s:I, s:o}", "namespace", ns, "count",
	                    (json_int_t)json_array_size(out), "events", out);
	return SALVE_OK;
}
