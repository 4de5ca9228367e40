/* The scale plugin: replica counts through the scale subresource, within guardrails, and
 * HorizontalPodAutoscaler bounds. Shares the Kubernetes client in plugins/common/k8s. */
#include "k8s.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const salve_host *H;

static const char *const scalable_kinds[] = {"Deployment", "StatefulSet", "ReplicaSet", NULL};

static void ctx_of(k8s_ctx *ctx, salve_call *call)
{
	k8s_ctx_init(ctx, H->state(call), H, call);
}

/* ---- set ------------------------------------------------------------------------------------ */

struct scale_req {
	k8s_target t; /* path: the scale subresource */
	enum { BY_REPLICAS, BY_DELTA, BY_FACTOR } how;
	long long replicas;
	long long delta;
	double factor;
	long long min; /* 1 unless min=0 is given: never to zero by accident */
	long long max; /* -1: none */
	/* filled by target(): */
	long long current;
	long long target;
	int clamped;
	json_t *undo_args; /* undo: the record read as arguments */
};

static int int_arg(k8s_ctx *ctx, const json_t *args, const char *name, long long lo, long long *out,
                   int *given)
{
	json_t *v = json_object_get(args, name);
	*given = v != NULL;
	if (!v)
		return SALVE_OK;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > 1000000)
		return k8s_invalid(ctx, "argument \"%s\" must be an integer from %lld to 1000000",
		                   name, lo);
	*out = json_integer_value(v);
	return SALVE_OK;
}

/* Refuse a replica count outside the guardrails before any request. */
static int check_replicas(k8s_ctx *ctx, const struct scale_req *r, int has_max)
{
	const k8s_target *t = &r->t;
	if (r->replicas == 0 && r->min > 0)
		return k8s_invalid(ctx,
		                   "refusing to scale %s %s/%s to 0 replicas: pass min=0 to allow "
		                   "scaling to zero",
		                   t->kind->kind, t->ns, t->name);
	if (r->replicas < r->min)
		return k8s_invalid(ctx,
		                   "refusing to scale %s %s/%s to %lld replicas: below min %lld",
		                   t->kind->kind, t->ns, t->name, r->replicas, r->min);
	if (has_max && r->replicas > r->max)
		return k8s_invalid(ctx,
		                   "refusing to scale %s %s/%s to %lld replicas: above max %lld",
		                   t->kind->kind, t->ns, t->name, r->replicas, r->max);
	return SALVE_OK;
}

static int scale_args(k8s_ctx *ctx, const json_t *args, void *state)
{
	struct scale_req *r = state;
	r->t.kind = k8s_arg_kind(ctx, args, "Deployment", scalable_kinds);
	if (!r->t.kind)
		return SALVE_ERR_INVALID;
	r->t.ns = k8s_arg_namespace(ctx, args);
	if (!r->t.ns)
		return SALVE_ERR_INVALID;
	r->t.name = k8s_arg_str(args, "name");
	int rc = k8s_path(ctx, r->t.path, sizeof r->t.path, r->t.kind, NULL, r->t.ns, r->t.name,
	                  "name", "scale");
	if (rc != SALVE_OK)
		return rc;
	int has_replicas, has_delta, has_min, has_max;
	r->min = 1;
	r->max = -1;
	json_t *f = json_object_get(args, "factor");
	if ((rc = int_arg(ctx, args, "replicas", 0, &r->replicas, &has_replicas)) ||
	    (rc = int_arg(ctx, args, "delta", -1000000, &r->delta, &has_delta)) ||
	    (rc = int_arg(ctx, args, "min", 0, &r->min, &has_min)) ||
	    (rc = int_arg(ctx, args, "max", 0, &r->max, &has_max)))
		return rc;
	if (has_replicas + has_delta + (f != NULL) != 1)
		return k8s_invalid(ctx, "scale.set needs exactly one of replicas, delta or factor");
	if (f) {
		r->factor = json_number_value(f);
		if (!json_is_number(f) || !(r->factor > 0) || r->factor > 1000)
			return k8s_invalid(ctx, "argument \"factor\" must be a number above 0");
	}
	r->how = has_replicas ? BY_REPLICAS : has_delta ? BY_DELTA : BY_FACTOR;
	if (has_max && r->max < r->min)
		return k8s_invalid(ctx, "argument \"max\" (%lld) is below min (%lld)", r->max,
		                   r->min);
	return has_replicas ? check_replicas(ctx, r, has_max) : SALVE_OK;
}

/* The target replica count for the current one, held within [min, max]. */
static void target(struct scale_req *r, long long current)
{
	long long t;
	r->current = current;
	r->clamped = 0;
	if (r->how == BY_REPLICAS)
		t = r->replicas;
	else if (r->how == BY_DELTA)
		t = current + r->delta;
	else
		t = (long long)ceil((double)current * r->factor - 1e-9);
	if (t < r->min) {
		t = r->min;
		r->clamped = 1;
	}
	if (r->max >= 0 && t > r->max) {
		t = r->max;
		r->clamped = 1;
	}
	r->target = t;
}

static long long replicas_of(const json_t *scale)
{
	json_t *v = k8s_ptr_get(scale, "/spec/replicas");
	return json_is_integer(v) ? json_integer_value(v) : 0;
}

static int build_scale(k8s_ctx *ctx, const json_t *current, json_t **desired, void *ud)
{
	(void)ctx;
	struct scale_req *r = ud;
	target(r, replicas_of(current));
	json_t *d = json_deep_copy(current);
	json_object_set_new(k8s_child_object(d, "spec"), "replicas", json_integer(r->target));
	*desired = d;
	return SALVE_OK;
}

static json_t *scale_result(const struct scale_req *r, json_t *changes)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:b, s:o}", "kind", r->t.kind->kind,
	                 "namespace", r->t.ns, "name", r->t.name, "previous",
	                 (json_int_t)r->current, "replicas", (json_int_t)r->target, "clamped",
	                 r->clamped, "changes", changes);
}

static int set_observe(k8s_ctx *ctx, void *state, const json_t *scale, json_t **observed)
{
	(void)ctx;
	struct scale_req *r = state;
	target(r, replicas_of(scale));
	*observed = scale_result(r, json_array());
	return r->current == r->target ? SALVE_HOLDS : SALVE_OK;
}

static json_t *set_result(k8s_ctx *ctx, void *state, const json_t *before, const json_t *after)
{
	const struct scale_req *r = state;
	if (r->clamped)
		H->log(ctx->call, SALVE_LOG_INFO,
		       "scale: %s %s/%s held at %lld by min/max guardrails", r->t.kind->kind,
		       r->t.ns, r->t.name, r->target);
	return scale_result(r, k8s_changes(before, after));
}

static json_t *set_undo_record(const void *state, const json_t *before, const json_t *patch)
{
	(void)before, (void)patch;
	const struct scale_req *r = state;
	return json_pack("{s:s, s:s, s:s, s:I}", "kind", r->t.kind->kind, "namespace", r->t.ns,
	                 "name", r->t.name, "replicas", (json_int_t)r->current);
}

static const k8s_mutation set_mutation = {
    .state_size = sizeof(struct scale_req),
    .parse = scale_args,
    .observe = set_observe,
    .build = build_scale,
    .update_mode = K8S_UPDATE_PUT,
    .result = set_result,
    .undo_record = set_undo_record,
};

/* The undo record as the arguments of a set back to the count it had, whatever it was (zero
 * included): min is 0 here. */
static int set_restore_parse(k8s_ctx *ctx, const json_t *undo, void *state)
{
	struct scale_req *r = state;
	json_t *args = json_pack(
	    "{s:O?, s:O?, s:O?, s:O?, s:i}", "kind", json_object_get(undo, "kind"), "namespace",
	    json_object_get(undo, "namespace"), "name", json_object_get(undo, "name"), "replicas",
	    json_object_get(undo, "replicas"), "min", 0);
	if (!args || !json_object_get(undo, "name") || !json_object_get(undo, "replicas")) {
		json_decref(args);
		return k8s_invalid(ctx, "undo record is malformed: it needs kind, namespace, name "
		                        "and replicas");
	}
	r->undo_args = args;
	return scale_args(ctx, args, r);
}

static void set_restore_clear(void *state)
{
	json_decref(((struct scale_req *)state)->undo_args);
}

static void set_undone(k8s_ctx *ctx, const void *state, const json_t *patch)
{
	(void)patch;
	const struct scale_req *r = state;
	H->log(ctx->call, SALVE_LOG_INFO, "scale: %s %s/%s back to %lld replicas", r->t.kind->kind,
	       r->t.ns, r->t.name, r->target);
}

static const k8s_mutation set_restore = {
    .state_size = sizeof(struct scale_req),
    .parse = set_restore_parse,
    .clear = set_restore_clear,
    .build = build_scale,
    .update_mode = K8S_UPDATE_PUT,
    .undone = set_undone,
};

K8S_MUTATION_CALLBACKS(set, set_mutation, H)
K8S_UNDO_CALLBACK(set, set_restore, H)

/* ---- wait_ready ---------------------------------------------------------------------------- */

/* A ReplicaSet has no rollout: it is ready when every wanted replica is ready and available. */
static void judge_replicaset(const json_t *rs, k8s_rollout *r)
{
	memset(r, 0, sizeof *r);
	json_t *want = k8s_ptr_get(rs, "/spec/replicas");
	r->desired = json_is_integer(want) ? json_integer_value(want) : 1;
	r->replicas = json_integer_value(k8s_ptr_get(rs, "/status/replicas"));
	r->ready = json_integer_value(k8s_ptr_get(rs, "/status/readyReplicas"));
	r->available = json_integer_value(k8s_ptr_get(rs, "/status/availableReplicas"));
	r->updated = r->replicas;
	r->generation = json_integer_value(k8s_ptr_get(rs, "/metadata/generation"));
	r->observed_generation = json_integer_value(k8s_ptr_get(rs, "/status/observedGeneration"));
	if (r->generation > r->observed_generation)
		snprintf(r->message, sizeof r->message,
		         "Waiting for replica set spec update to be observed...");
	else if (r->ready < r->desired || r->available < r->desired || r->replicas > r->desired)
		snprintf(
		    r->message, sizeof r->message,
		    "Waiting for replica set: %lld of %lld replicas ready, %lld available, %lld "
		    "exist",
		    r->ready, r->desired, r->available, r->replicas);
	else {
		r->healthy = 1;
		snprintf(r->message, sizeof r->message, "replica set has %lld ready replicas",
		         r->ready);
	}
}

static int wait_ready(salve_call *call, const json_t *args, json_t **result)
{
	k8s_ctx ctx;
	ctx_of(&ctx, call);
	const k8s_kind *kind = k8s_arg_kind(&ctx, args, "Deployment", scalable_kinds);
	if (!kind)
		return SALVE_ERR_INVALID;
	const char *ns = k8s_arg_namespace(&ctx, args);
	if (!ns)
		return SALVE_ERR_INVALID;
	const char *name = k8s_arg_str(args, "name");
	char path[2048];
	int rc = k8s_path(&ctx, path, sizeof path, kind, NULL, ns, name, "name", NULL);
	if (rc != SALVE_OK)
		return rc;
	double timeout, interval;
	rc = k8s_arg_wait(&ctx, args, &timeout, &interval);
	if (rc != SALVE_OK)
		return rc;
	double start = k8s_mono();
	for (;;) {
		json_t *obj = NULL;
		rc = k8s_get(&ctx, path, 0, &obj);
		if (rc != SALVE_OK)
			return rc;
		k8s_rollout r;
		if (strcmp(kind->kind, "ReplicaSet") == 0)
			judge_replicaset(obj, &r);
		else
			k8s_rollout_judge(kind, obj, &r);
		json_decref(obj);
		double waited = k8s_mono() - start;
		/* A dry-run changed nothing, so there is nothing to wait for: report the state
		 * once (healthy may be false) instead of spending the timeout. */
		int dry_run = H->mode(call) == SALVE_MODE_DRY_RUN;
		if (dry_run && !r.healthy && !r.failed)
			H->log(call, SALVE_LOG_INFO,
			       "scale: dry-run: not waiting for %s %s/%s (%s)", kind->kind, ns,
			       name, r.message);
		if (r.healthy || (dry_run && !r.failed)) {
			json_t *out = k8s_rollout_json(&r);
			json_object_set_new(out, "kind", json_string(kind->kind));
			json_object_set_new(out, "namespace", json_string(ns));
			json_object_set_new(out, "name", json_string(name));
			json_object_set_new(out, "waited_seconds",
			                    json_real(round(waited * 10) / 10));
			*result = out;
			return SALVE_OK;
		}
		if (r.failed) {
			H->fail(call, "%s", r.message);
			return SALVE_ERR;
		}
		double left = timeout - waited, step_left = H->remaining(call);
		if (left <= 0 || step_left <= 0) {
			H->fail(call, "%s %s/%s is not ready after %.0fs: %s", kind->kind, ns, name,
			        waited, r.message);
			return SALVE_ERR_TIMEOUT;
		}
		double nap = interval < left ? interval : left;
		if (nap > step_left)
			nap = step_left;
		if (k8s_sleep(&ctx, nap) != SALVE_OK) {
			H->fail(call, "cancelled while waiting for %s %s/%s", kind->kind, ns, name);
			return SALVE_ERR_CANCELED;
		}
	}
}

/* ---- hpa_bounds ------------------------------------------------------------------------------ */

struct hpa_req {
	k8s_target t;
	json_t *min; /* borrowed from args; NULL: leave as is; JSON null (undo only): remove */
	json_t *max;
};

static int hpa_args(k8s_ctx *ctx, const json_t *args, struct hpa_req *h, int undoing)
{
	h->t.kind = k8s_kind_find("hpa");
	h->t.ns = k8s_arg_namespace(ctx, args);
	if (!h->t.ns)
		return SALVE_ERR_INVALID;
	h->t.name = k8s_arg_str(args, "name");
	char err[512];
	if (k8s_check_subdomain("name", h->t.name, err, sizeof err) < 0)
		return k8s_invalid(ctx, "%s", err);
	h->min = json_object_get(args, "min");
	h->max = json_object_get(args, "max");
	if (!h->min && !h->max)
		return k8s_invalid(ctx, "scale.hpa_bounds needs min, max or both");
	if (h->min && !(undoing && json_is_null(h->min)) &&
	    (!json_is_integer(h->min) || json_integer_value(h->min) < 1))
		return k8s_invalid(ctx, "argument \"min\" must be an integer of at least 1");
	if (h->max && (!json_is_integer(h->max) || json_integer_value(h->max) < 1))
		return k8s_invalid(ctx, "argument \"max\" must be an integer of at least 1");
	if (json_is_integer(h->min) && json_is_integer(h->max) &&
	    json_integer_value(h->min) > json_integer_value(h->max))
		return k8s_invalid(ctx, "argument \"min\" (%lld) is above max (%lld)",
		                   (long long)json_integer_value(h->min),
		                   (long long)json_integer_value(h->max));
	/* Discovery comes after validation: a refused argument sends no request at all. */
	const char *gv = NULL;
	int rc = k8s_discover_hpa(ctx, &gv);
	if (rc != SALVE_OK)
		return rc;
	return k8s_path(ctx, h->t.path, sizeof h->t.path, h->t.kind, strchr(gv, '/') + 1, h->t.ns,
	                h->t.name, "name", NULL);
}

static int hpa_parse(k8s_ctx *ctx, const json_t *args, void *state)
{
	return hpa_args(ctx, args, state, 0);
}

/* An undo record has the shape of the arguments; its min may be null (there was none). */
static int hpa_restore_parse(k8s_ctx *ctx, const json_t *undo, void *state)
{
	return hpa_args(ctx, undo, state, 1);
}

static int build_hpa(k8s_ctx *ctx, const json_t *current, json_t **desired, void *ud)
{
	const struct hpa_req *h = ud;
	json_t *d = json_deep_copy(current);
	json_t *spec = k8s_child_object(d, "spec");
	if (json_is_null(h->min))
		json_object_del(spec, "minReplicas");
	else if (h->min)
		json_object_set(spec, "minReplicas", h->min);
	if (h->max)
		json_object_set(spec, "maxReplicas", h->max);
	json_t *mn = json_object_get(spec, "minReplicas");
	json_t *mx = json_object_get(spec, "maxReplicas");
	long long lo = json_is_integer(mn) ? json_integer_value(mn) : 1;
	if (json_is_integer(mx) && lo > json_integer_value(mx)) {
		long long hi = json_integer_value(mx);
		json_decref(d);
		return k8s_invalid(ctx,
		                   "HorizontalPodAutoscaler %s/%s would get minReplicas %lld above "
		                   "maxReplicas %lld",
		                   h->t.ns, h->t.name, lo, hi);
	}
	*desired = d;
	return SALVE_OK;
}

static json_t *hpa_bounds_of(const json_t *hpa)
{
	json_t *mn = k8s_ptr_get(hpa, "/spec/minReplicas");
	json_t *mx = k8s_ptr_get(hpa, "/spec/maxReplicas");
	return json_pack("{s:I, s:O?}", "min",
	                 (json_int_t)(json_is_integer(mn) ? json_integer_value(mn) : 1), "max", mx);
}

static int hpa_observe(k8s_ctx *ctx, void *state, const json_t *hpa, json_t **observed)
{
	const struct hpa_req *h = state;
	json_t *want = NULL;
	int rc = build_hpa(ctx, hpa, &want, state);
	if (rc == SALVE_OK) {
		int same =
		    k8s_semantic_equal(k8s_ptr_get(hpa, "/spec"), k8s_ptr_get(want, "/spec"));
		json_t *b = hpa_bounds_of(hpa);
		*observed = json_pack("{s:s, s:s, s:O, s:O, s:o}", "namespace", h->t.ns, "name",
		                      h->t.name, "min", json_object_get(b, "min"), "max",
		                      json_object_get(b, "max"), "changes", json_array());
		json_decref(b);
		rc = same ? SALVE_HOLDS : SALVE_OK;
	}
	json_decref(want);
	return rc;
}

static json_t *hpa_result(k8s_ctx *ctx, void *state, const json_t *before, const json_t *after)
{
	(void)ctx;
	const struct hpa_req *h = state;
	json_t *now = hpa_bounds_of(after);
	json_t *r =
	    json_pack("{s:s, s:s, s:O, s:O, s:o, s:o}", "namespace", h->t.ns, "name", h->t.name,
	              "min", json_object_get(now, "min"), "max", json_object_get(now, "max"),
	              "previous", hpa_bounds_of(before), "changes", k8s_changes(before, after));
	json_decref(now);
	return r;
}

static json_t *hpa_undo_record(const void *state, const json_t *before, const json_t *patch)
{
	(void)patch;
	const struct hpa_req *h = state;
	json_t *mn = k8s_ptr_get(before, "/spec/minReplicas");
	return json_pack("{s:s, s:s, s:O, s:O?}", "namespace", h->t.ns, "name", h->t.name, "min",
	                 mn ? mn : json_null(), "max", k8s_ptr_get(before, "/spec/maxReplicas"));
}

static void hpa_undone(k8s_ctx *ctx, const void *state, const json_t *patch)
{
	(void)patch;
	const struct hpa_req *h = state;
	H->log(ctx->call, SALVE_LOG_INFO, "scale: HorizontalPodAutoscaler %s/%s bounds restored",
	       h->t.ns, h->t.name);
}

static const k8s_mutation hpa_mutation = {
    .state_size = sizeof(struct hpa_req),
    .parse = hpa_parse,
    .observe = hpa_observe,
    .build = build_hpa,
    .result = hpa_result,
    .undo_record = hpa_undo_record,
};

static const k8s_mutation hpa_restore = {
    .state_size = sizeof(struct hpa_req),
    .parse = hpa_restore_parse,
    .build = build_hpa,
    .undone = hpa_undone,
};

K8S_MUTATION_CALLBACKS(hpa, hpa_mutation, H)
K8S_UNDO_CALLBACK(hpa, hpa_restore, H)

/* ---- descriptor ------------------------------------------------------------------------------ */

#define END_ARGS                                                                                   \
	{                                                                                          \
		NULL, 0, 0, NULL                                                                   \
	}

static const salve_arg set_args[] = {
    {"kind", SALVE_T_STRING, 0, "deployment (default), statefulset or replicaset"},
    {"namespace", SALVE_T_STRING, 0, "namespace (default: the context's, else default)"},
    {"name", SALVE_T_STRING, SALVE_ARG_REQUIRED, "workload name"},
    {"replicas", SALVE_T_INT, 0, "the replica count to set"},
    {"delta", SALVE_T_INT, 0, "add (or, negative, remove) this many replicas"},
    {"factor", SALVE_T_NUMBER, 0, "multiply the replica count (rounded up)"},
    {"min", SALVE_T_INT, 0, "never below this (default 1; min=0 allows scaling to zero)"},
    {"max", SALVE_T_INT, 0, "never above this"},
    END_ARGS,
};
static const salve_arg wait_args[] = {
    {"kind", SALVE_T_STRING, 0, "deployment (default), statefulset or replicaset"},
    {"namespace", SALVE_T_STRING, 0, "namespace (default: the context's, else default)"},
    {"name", SALVE_T_STRING, SALVE_ARG_REQUIRED, "workload name"},
    {"timeout", SALVE_T_DURATION, 0, "how long to wait: \"5m\", \"90s\" or seconds (default 5m)"},
    {"interval", SALVE_T_DURATION, 0, "time between polls (default 1s)"},
    END_ARGS,
};
static const salve_arg hpa_args_schema[] = {
    {"namespace", SALVE_T_STRING, 0, "namespace (default: the context's, else default)"},
    {"name", SALVE_T_STRING, SALVE_ARG_REQUIRED, "HorizontalPodAutoscaler name"},
    {"min", SALVE_T_INT, 0, "minReplicas"},
    {"max", SALVE_T_INT, 0, "maxReplicas"},
    END_ARGS,
};

/* What each action returns (README). set and hpa_bounds return the same shape from check (when
 * the state holds), plan and apply. */
static const salve_arg set_results[] = {
    {"kind", SALVE_T_STRING, 0, "Deployment, StatefulSet or ReplicaSet"},
    {"namespace", SALVE_T_STRING, 0, "its namespace"},
    {"name", SALVE_T_STRING, 0, "its name"},
    {"previous", SALVE_T_INT, 0, "the replica count it had"},
    {"replicas", SALVE_T_INT, 0, "the replica count set"},
    {"clamped", SALVE_T_BOOL, 0, "min or max held a computed count back"},
    {"changes", SALVE_T_LIST, 0, "[{path, before, after}] the write changed"},
    END_ARGS,
};
static const salve_arg wait_results[] = {
    {"healthy", SALVE_T_BOOL, 0, "the replicas are ready (false only in a dry-run)"},
    {"failed", SALVE_T_BOOL, 0, "the progress deadline passed"},
    {"message", SALVE_T_STRING, 0, "what kubectl rollout status would say"},
    {"desired", SALVE_T_INT, 0, "replicas wanted"},
    {"replicas", SALVE_T_INT, 0, "replicas there"},
    {"updated", SALVE_T_INT, 0, "replicas of the current template"},
    {"ready", SALVE_T_INT, 0, "replicas ready"},
    {"available", SALVE_T_INT, 0, "replicas available"},
    {"generation", SALVE_T_INT, 0, "metadata.generation"},
    {"observed_generation", SALVE_T_INT, 0, "status.observedGeneration"},
    {"kind", SALVE_T_STRING, 0, "the workload's kind"},
    {"namespace", SALVE_T_STRING, 0, "its namespace"},
    {"name", SALVE_T_STRING, 0, "its name"},
    {"waited_seconds", SALVE_T_NUMBER, 0, "how long it waited"},
    END_ARGS,
};
static const salve_arg hpa_results[] = {
    {"namespace", SALVE_T_STRING, 0, "the HorizontalPodAutoscaler's namespace"},
    {"name", SALVE_T_STRING, 0, "its name"},
    {"min", SALVE_T_INT, 0, "minReplicas (1 when unset)"},
    {"max", SALVE_T_INT, 0, "maxReplicas"},
    {"previous", SALVE_T_MAP, 0, "{min, max} before (plan and apply)"},
    {"changes", SALVE_T_LIST, 0, "[{path, before, after}] the write changed"},
    END_ARGS,
};

static const salve_action actions[] = {
    {.name = "set",
     .kind = SALVE_MUTATE,
     .args = set_args,
     .target_arg = "name",
     .description = "Set a workload's replica count within min/max guardrails",
     .check = set_check,
     .plan = set_plan,
     .apply = set_apply,
     .undo = set_undo,
     .results = set_results},
    {.name = "wait_ready",
     .kind = SALVE_READ,
     .args = wait_args,
     .target_arg = "name",
     .description = "Wait until a workload's replicas are ready (dry-run: state now, no wait)",
     .run = wait_ready,
     .results = wait_results},
    {.name = "hpa_bounds",
     .kind = SALVE_MUTATE,
     .args = hpa_args_schema,
     .target_arg = "name",
     .description = "Set a HorizontalPodAutoscaler's minReplicas/maxReplicas",
     .check = hpa_check,
     .plan = hpa_plan,
     .apply = hpa_apply,
     .undo = hpa_undo,
     .results = hpa_results},
    {.name = NULL},
};

static int scale_init(const salve_host *host, const json_t *config, void **state, char *err,
                      size_t errlen)
{
	H = host;
	k8s_client *client = NULL;
	if (k8s_client_from_config("scale", config, &client, err, errlen) < 0)
		return -1;
	*state = client;
	return 0;
}

static void scale_fini(void *state)
{
	k8s_client_free(state);
}

static const salve_plugin scale_plugin = {
    SALVE_PLUGIN_HEADER,
    .name = "scale",
    .version = SALVE_VERSION,
    .description = "Scale Kubernetes workloads within guardrails; HPA bounds",
    .actions = actions,
    .settings = k8s_settings,
    .init = scale_init,
    .fini = scale_fini,
};

SALVE_PLUGIN_DECLARE(scale_plugin)
