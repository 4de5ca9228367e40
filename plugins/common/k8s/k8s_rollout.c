/* Workload logic taken from kubectl so salve judges and rolls back as kubectl does:
 * `kubectl rollout status` (polymorphichelpers/rollout_status.go) and `kubectl rollout undo`
 * (polymorphichelpers/rollback.go, util/deployment). */
#include "k8s.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HASH_LABEL          "pod-template-hash"
#define REVISION_ANNOTATION "deployment.kubernetes.io/revision"

static long long int_at(const json_t *obj, const char *ptr, long long dflt)
{
	json_t *v = k8s_ptr_get(obj, ptr);
	return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

static void judge_deployment(const json_t *d, const char *name, k8s_rollout *r)
{
	json_t *spec_replicas = k8s_ptr_get(d, "/spec/replicas");
	r->desired = json_is_integer(spec_replicas) ? json_integer_value(spec_replicas) : -1;
	r->replicas = int_at(d, "/status/replicas", 0);
	r->updated = int_at(d, "/status/updatedReplicas", 0);
	r->ready = int_at(d, "/status/readyReplicas", 0);
	r->available = int_at(d, "/status/availableReplicas", 0);
	if (r->generation > r->observed_generation) {
		snprintf(r->message, sizeof r->message,
		         "Waiting for deployment spec update to be observed...");
		return;
	}
	size_t i;
	json_t *cond;
	json_array_foreach(k8s_ptr_get(d, "/status/conditions"), i, cond)
	{
		const char *type = json_string_value(json_object_get(cond, "type"));
		const char *reason = json_string_value(json_object_get(cond, "reason"));
		if (type && reason && strcmp(type, "Progressing") == 0 &&
		    strcmp(reason, "ProgressDeadlineExceeded") == 0) {
			r->failed = 1;
			snprintf(r->message, sizeof r->message,
			         "deployment \"%s\" exceeded its progress deadline", name);
			return;
		}
	}
	if (r->desired >= 0 && r->updated < r->desired) {
		snprintf(r->message, sizeof r->message,
		         "Waiting for deployment \"%s\" rollout to finish: %lld out of %lld new "
		         "replicas have been updated...",
		         name, r->updated, r->desired);
	} else if (r->replicas > r->updated) {
		snprintf(r->message, sizeof r->message,
		         "Waiting for deployment \"%s\" rollout to finish: %lld old replicas are "
		         "pending termination...",
		         name, r->replicas - r->updated);
	} else if (r->available < r->updated) {
		snprintf(r->message, sizeof r->message,
		         "Waiting for deployment \"%s\" rollout to finish: %lld of %lld updated "
		         "replicas are available...",
		         name, r->available, r->updated);
	} else {
		r->healthy = 1;
		snprintf(r->message, sizeof r->message, "deployment \"%s\" successfully rolled out",
		         name);
	}
}

static void judge_statefulset(const json_t *s, const char *name, k8s_rollout *r)
{
	(void)name;
	const char *strategy = json_string_value(k8s_ptr_get(s, "/spec/updateStrategy/type"));
	json_t *spec_replicas = k8s_ptr_get(s, "/spec/replicas");
	r->desired = json_is_integer(spec_replicas) ? json_integer_value(spec_replicas) : -1;
	r->replicas = int_at(s, "/status/replicas", 0);
	r->updated = int_at(s, "/status/updatedReplicas", 0);
	r->ready = int_at(s, "/status/readyReplicas", 0);
	r->available = int_at(s, "/status/availableReplicas", r->ready);
	if (strategy && strcmp(strategy, "RollingUpdate") != 0) {
		r->failed = 1;
		snprintf(r->message, sizeof r->message,
		         "rollout status is only available for RollingUpdate strategy type");
		return;
	}
	if (r->observed_generation == 0 || r->generation > r->observed_generation) {
		snprintf(r->message, sizeof r->message,
		         "Waiting for statefulset spec update to be observed...");
		return;
	}
	if (r->desired >= 0 && r->ready < r->desired) {
		snprintf(r->message, sizeof r->message, "Waiting for %lld pods to be ready...",
		         r->desired - r->ready);
		return;
	}
	json_t *partition = k8s_ptr_get(s, "/spec/updateStrategy/rollingUpdate/partition");
	if (k8s_ptr_get(s, "/spec/updateStrategy/rollingUpdate")) {
		if (r->desired >= 0 && json_is_integer(partition) &&
		    r->updated < r->desired - json_integer_value(partition)) {
			snprintf(
			    r->message, sizeof r->message,
			    "Waiting for partitioned roll out to finish: %lld out of %lld new pods "
			    "have been updated...",
			    r->updated, r->desired - (long long)json_integer_value(partition));
			return;
		}
		r->healthy = 1;
		snprintf(r->message, sizeof r->message,
		         "partitioned roll out complete: %lld new pods have been updated...",
		         r->updated);
		return;
	}
	const char *update_rev = json_string_value(k8s_ptr_get(s, "/status/updateRevision"));
	const char *current_rev = json_string_value(k8s_ptr_get(s, "/status/currentRevision"));
	if (!update_rev)
		update_rev = "";
	if (!current_rev)
		current_rev = "";
	if (strcmp(update_rev, current_rev) != 0) {
		snprintf(r->message, sizeof r->message,
		         "waiting for statefulset rolling update to complete %lld pods at revision "
		         "%.100s...",
		         r->updated, update_rev);
		return;
	}
	r->healthy = 1;
	snprintf(r->message, sizeof r->message,
	         "statefulset rolling update complete %lld pods at revision %.100s...",
	         int_at(s, "/status/currentReplicas", 0), current_rev);
}

static void judge_daemonset(const json_t *d, const char *name, k8s_rollout *r)
{
	const char *strategy = json_string_value(k8s_ptr_get(d, "/spec/updateStrategy/type"));
	r->desired = int_at(d, "/status/desiredNumberScheduled", 0);
	r->replicas = int_at(d, "/status/currentNumberScheduled", 0);
	r->updated = int_at(d, "/status/updatedNumberScheduled", 0);
	r->ready = int_at(d, "/status/numberReady", 0);
	r->available = int_at(d, "/status/numberAvailable", 0);
	if (strategy && strcmp(strategy, "RollingUpdate") != 0) {
		r->failed = 1;
		snprintf(r->message, sizeof r->message,
		         "rollout status is only available for RollingUpdate strategy type");
		return;
	}
	if (r->generation > r->observed_generation) {
		snprintf(r->message, sizeof r->message,
		         "Waiting for daemon set spec update to be observed...");
	} else if (r->updated < r->desired) {
		snprintf(
		    r->message, sizeof r->message,
		    "Waiting for daemon set \"%s\" rollout to finish: %lld out of %lld new pods "
		    "have been updated...",
		    name, r->updated, r->desired);
	} else if (r->available < r->desired) {
		snprintf(
		    r->message, sizeof r->message,
		    "Waiting for daemon set \"%s\" rollout to finish: %lld of %lld updated pods "
		    "are available...",
		    name, r->available, r->desired);
	} else {
		r->healthy = 1;
		snprintf(r->message, sizeof r->message, "daemon set \"%s\" successfully rolled out",
		         name);
	}
}

void k8s_rollout_judge(const k8s_kind *kind, const json_t *obj, k8s_rollout *r)
{
	memset(r, 0, sizeof *r);
	char name[254];
	const char *n = json_string_value(k8s_ptr_get(obj, "/metadata/name"));
	snprintf(name, sizeof name, "%s", n ? n : "");
	r->generation = int_at(obj, "/metadata/generation", 0);
	r->observed_generation = int_at(obj, "/status/observedGeneration", 0);
	if (strcmp(kind->kind, "Deployment") == 0)
		judge_deployment(obj, name, r);
	else if (strcmp(kind->kind, "StatefulSet") == 0)
		judge_statefulset(obj, name, r);
	else if (strcmp(kind->kind, "DaemonSet") == 0)
		judge_daemonset(obj, name, r);
	else {
		r->failed = 1;
		snprintf(r->message, sizeof r->message,
		         "no status viewer has been implemented for %s", kind->kind);
	}
}

json_t *k8s_rollout_json(const k8s_rollout *r)
{
	return json_pack("{s:b, s:b, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "healthy",
	                 r->healthy, "failed", r->failed, "message", r->message, "desired",
	                 (json_int_t)r->desired, "replicas", (json_int_t)r->replicas, "updated",
	                 (json_int_t)r->updated, "ready", (json_int_t)r->ready, "available",
	                 (json_int_t)r->available, "generation", (json_int_t)r->generation,
	                 "observed_generation", (json_int_t)r->observed_generation);
}

json_t *k8s_template_without_hash(const json_t *tpl)
{
	json_t *copy = json_deep_copy(tpl);
	json_t *labels = k8s_ptr_get(copy, "/metadata/labels");
	if (json_is_object(labels))
		json_object_del(labels, HASH_LABEL);
	return copy;
}

int k8s_template_equal_ignore_hash(const json_t *a, const json_t *b)
{
	json_t *ca = k8s_template_without_hash(a);
	json_t *cb = k8s_template_without_hash(b);
	int eq = k8s_semantic_equal(ca, cb);
	json_decref(ca);
	json_decref(cb);
	return eq;
}

long long k8s_revision_of(const json_t *obj)
{
	json_t *ann = k8s_ptr_get(obj, "/metadata/annotations");
	const char *s = json_string_value(json_object_get(ann, REVISION_ANNOTATION));
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (*end || errno || v < 0)
		return -1;
	return v;
}

int k8s_is_controlled_by(const json_t *obj, const char *uid)
{
	size_t i;
	json_t *ref;
	if (!uid)
		return 0;
	json_array_foreach(k8s_ptr_get(obj, "/metadata/ownerReferences"), i, ref)
	{
		const char *ref_uid = json_string_value(json_object_get(ref, "uid"));
		if (json_is_true(json_object_get(ref, "controller")) && ref_uid &&
		    strcmp(ref_uid, uid) == 0)
			return 1;
	}
	return 0;
}

int k8s_select_revision(const json_t *replicasets, long long to_revision, const char *deployment,
                        const json_t **rs, long long *revision, char *err, size_t errlen)
{
	const json_t *latest = NULL, *previous = NULL;
	long long latest_rev = -1, previous_rev = -1;
	size_t i;
	json_t *item;
	json_array_foreach(replicasets, i, item)
	{
		long long v = k8s_revision_of(item);
		if (v < 0)
			continue;
		if (to_revision > 0) {
			if (v == to_revision) {
				*rs = item;
				*revision = v;
				return SALVE_OK;
			}
		} else if (latest_rev < v) {
			previous_rev = latest_rev;
			previous = latest;
			latest_rev = v;
			latest = item;
		} else if (previous_rev < v) {
			previous_rev = v;
			previous = item;
		}
	}
	if (to_revision > 0) {
		snprintf(err, errlen, "unable to find specified revision %lld in history",
		         to_revision);
		return SALVE_ERR_NOTFOUND;
	}
	if (!previous) {
		snprintf(err, errlen, "no rollout history found for deployment \"%s\"", deployment);
		return SALVE_ERR_NOTFOUND;
	}
	*rs = previous;
	*revision = previous_rev;
	return SALVE_OK;
}

/* Append to a growing malloc'd string. */
static int append(char **buf, size_t *len, const char *s)
{
	size_t n = strlen(s);
	char *grown = realloc(*buf, *len + n + 1);
	if (!grown)
		return -1;
	memcpy(grown + *len, s, n + 1);
	*buf = grown;
	*len += n;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *k8s_selector_string(const json_t *selector, char *err, size_t errlen)
{
	char *out = strdup("");
	size_t len = 0;
	if (!out)
		return NULL;
	if (!json_is_object(selector)) {
		snprintf(err, errlen, "the object has no label selector");
		free(out);
		return NULL;
	}
	/* matchLabels in key order, as apimachinery sorts requirements by key. */
	json_t *labels = json_object_get(selector, "matchLabels");
	size_t nkeys = json_object_size(labels), k = 0;
	const char **keys = calloc(nkeys ? nkeys : 1, sizeof *keys);
	const char *key;
	json_t *v;
	if (!keys) {
		free(out);
		return NULL;
	}
	json_object_foreach(labels, key, v)
	{
		keys[k++] = key;
	}
	qsort(keys, nkeys, sizeof *keys, cmp_str);
	for (k = 0; k < nkeys; k++) {
		v = json_object_get(labels, keys[k]);
		if (!json_is_string(v) || (len && append(&out, &len, ",") < 0) ||
		    append(&out, &len, keys[k]) < 0 || append(&out, &len, "=") < 0 ||
		    append(&out, &len, json_string_value(v)) < 0) {
			snprintf(err, errlen, "matchLabels[%.100s] is not a string", keys[k]);
			free(keys);
			free(out);
			return NULL;
		}
	}
	free(keys);
	size_t i;
	json_t *expr;
	json_array_foreach(json_object_get(selector, "matchExpressions"), i, expr)
	{
		const char *ekey = json_string_value(json_object_get(expr, "key"));
		const char *op = json_string_value(json_object_get(expr, "operator"));
		json_t *values = json_object_get(expr, "values");
		if (!ekey || !op) {
			snprintf(err, errlen, "matchExpressions[%zu] needs key and operator", i);
			free(out);
			return NULL;
		}
		int rc = len ? append(&out, &len, ",") : 0;
		if (strcmp(op, "Exists") == 0) {
			rc |= append(&out, &len, ekey);
		} else if (strcmp(op, "DoesNotExist") == 0) {
			rc |= append(&out, &len, "!");
			rc |= append(&out, &len, ekey);
		} else if (strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0) {
			rc |= append(&out, &len, ekey);
			rc |= append(&out, &len, strcmp(op, "In") == 0 ? " in (" : " notin (");
			size_t j;
			json_t *val;
			json_array_foreach(values, j, val)
			{
				if (j)
					rc |= append(&out, &len, ",");
				rc |= append(&out, &len,
				             json_is_string(val) ? json_string_value(val) : "");
			}
			rc |= append(&out, &len, ")");
		} else {
			snprintf(err, errlen, "matchExpressions[%zu]: unknown operator %.40s", i,
			         op);
			free(out);
			return NULL;
		}
		if (rc) {
			snprintf(err, errlen, "out of memory");
			free(out);
			return NULL;
		}
	}
	return out;
}
