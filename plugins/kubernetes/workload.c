/* Workload mutations: rollout undo and restart, set image, patch, delete pod, each an entry of
 * the mutation driver (k8s_mutation). Each change is a read-modify-write carrying
 * resourceVersion, and each undo record holds the old values of exactly what the change
 * touched. */
#include "kube.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RESTARTED_AT "kubectl.kubernetes.io/restartedAt"

static const char *const workload_kinds[] = {"Deployment", "StatefulSet", "DaemonSet", NULL};

/* The undo record of a merge-patch change to the target a state begins with: enough to
 * rebuild what was there. */
json_t *kube_touched_record(const void *state, const json_t *before, const json_t *patch)
{
	const k8s_target *t = state;
	char err[256];
	json_t *touched = k8s_patch_touched(before, patch, 0, err, sizeof err);
	if (!touched)
		touched = json_array();
	return json_pack("{s:s, s:s?, s:s, s:o}", "kind", t->kind->kind, "namespace",
	                 t->kind->namespaced ? t->ns : NULL, "name", t->name, "touched", touched);
}

static json_t *object_result(const k8s_target *t)
{
	return json_pack("{s:s, s:s?, s:s}", "kind", t->kind->kind, "namespace",
	                 t->kind->namespaced ? t->ns : NULL, "name", t->name);
}

static int workload_target(k8s_ctx *ctx, const json_t *args, k8s_target *t)
{
	t->kind = k8s_arg_kind(ctx, args, "Deployment", workload_kinds);
	if (!t->kind)
		return SALVE_ERR_INVALID;
	t->ns = k8s_arg_namespace(ctx, args);
	if (!t->ns)
		return SALVE_ERR_INVALID;
	t->name = k8s_arg_str(args, "name");
	return k8s_path(ctx, t->path, sizeof t->path, t->kind, NULL, t->ns, t->name, "name", NULL);
}

/* ---- undo of touched records ---------------------------------------------------------------- */

struct restore {
	k8s_target t;
	const json_t *touched;
};

static int restore_parse(k8s_ctx *ctx, const json_t *undo, void *state)
{
	struct restore *r = state;
	r->t.kind = k8s_kind_find(json_string_value(json_object_get(undo, "kind")));
	r->t.ns = json_string_value(json_object_get(undo, "namespace"));
	r->t.name = json_string_value(json_object_get(undo, "name"));
	r->touched = json_object_get(undo, "touched");
	if (!r->t.kind || !r->t.name || !json_is_array(r->touched))
		return k8s_invalid(ctx,
		                   "undo record is malformed: it needs kind, name and touched");
	return k8s_path(ctx, r->t.path, sizeof r->t.path, r->t.kind, NULL, r->t.ns, r->t.name,
	                "name", NULL);
}

static int build_restore(k8s_ctx *ctx, const json_t *current, json_t **desired, void *ud)
{
	(void)ctx;
	const struct restore *r = ud;
	json_t *patch = k8s_restore_patch(current, r->touched);
	*desired = json_deep_copy(current);
	k8s_merge_apply(desired, patch);
	json_decref(patch);
	return SALVE_OK;
}

static void restore_undone(k8s_ctx *ctx, const void *state, const json_t *patch)
{
	const struct restore *r = state;
	char what[600];
	k8s_describe(what, sizeof what, r->t.kind, r->t.ns, r->t.name);
	ctx->host->log(ctx->call, SALVE_LOG_INFO, "kubernetes: %s: %s", what,
	               json_object_size(patch) ? "restored the fields the change touched"
	                                       : "already as before the change");
}

const k8s_mutation kube_touched_restore = {
    .state_size = sizeof(struct restore),
    .parse = restore_parse,
    .build = build_restore,
    .undone = restore_undone,
};

/* ---- rollout_undo ------------------------------------------------------------------------------
 */

/* Annotations kubectl keeps from the Deployment instead of copying them from the ReplicaSet. */
static const char *const annotations_to_skip[] = {
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
    NULL,
};

static int skipped_annotation(const char *key)
{
	for (const char *const *s = annotations_to_skip; *s; s++)
		if (strcmp(*s, key) == 0)
			return 1;
	return 0;
}

struct rollback {
	k8s_target t;
	json_t *deployment;
	json_t *rs; /* the ReplicaSet of the target revision */
	long long revision;
	long long current_revision;
};

static void rollback_clear(void *state)
{
	struct rollback *r = state;
	json_decref(r->deployment);
	json_decref(r->rs);
}

/* In plan and apply after check: the Deployment and the ReplicaSet of the target revision as
 * check found them (the write carries the Deployment's resourceVersion, so a change since is a
 * 409 and a fresh read). 1 when taken from there. */
static int rollback_seen(k8s_ctx *ctx, struct rollback *r)
{
	if (!SALVE_HOST_HAS(ctx->host, observed))
		return 0;
	const json_t *o = ctx->host->observed(ctx->call);
	const json_t *d = k8s_observed_object(o, r->t.path);
	json_t *rs = json_object_get(o, "k8s_replicaset");
	json_t *to = json_object_get(o, "to_revision");
	if (!d || !json_is_object(rs) || !json_is_integer(to))
		return 0;
	r->deployment = json_deep_copy(d);
	r->rs = json_deep_copy(rs);
	r->revision = json_integer_value(to);
	r->current_revision = k8s_revision_of(r->deployment);
	return 1;
}

/* kubectl rollout undo up to the patch: read the Deployment, list the ReplicaSets it
 * controls, pick the revision, refuse a paused Deployment. */
static int rollback_parse(k8s_ctx *ctx, const json_t *args, void *state)
{
	struct rollback *r = state;
	r->t.kind = k8s_kind_find("deployment");
	r->t.ns = k8s_arg_namespace(ctx, args);
	if (!r->t.ns)
		return SALVE_ERR_INVALID;
	r->t.name = k8s_arg_str(args, "name");
	json_t *tr = json_object_get(args, "to_revision");
	long long to_revision = tr ? json_integer_value(tr) : 0;
	if (tr && (!json_is_integer(tr) || to_revision < 0))
		return k8s_invalid(ctx, "argument \"to_revision\" must be a non-negative integer");
	int rc = k8s_path(ctx, r->t.path, sizeof r->t.path, r->t.kind, NULL, r->t.ns, r->t.name,
	                  "name", NULL);
	if (rc != SALVE_OK)
		return rc;
	if (rollback_seen(ctx, r))
		return SALVE_OK;
	rc = k8s_get(ctx, r->t.path, 0, &r->deployment);
	if (rc != SALVE_OK)
		return rc;
	r->current_revision = k8s_revision_of(r->deployment);
	char err[512];
	char *selector =
	    k8s_selector_string(k8s_ptr_get(r->deployment, "/spec/selector"), err, sizeof err);
	if (!selector) {
		ctx->host->fail(ctx->call, "deployment %s/%s: %s", r->t.ns, r->t.name, err);
		return SALVE_ERR;
	}
	char rspath[4096];
	rc = k8s_path(ctx, rspath, sizeof rspath, k8s_kind_find("replicaset"), NULL, r->t.ns, NULL,
	              NULL, NULL);
	if (rc == SALVE_OK)
		rc = k8s_path_query(rspath, sizeof rspath, "labelSelector", selector);
	free(selector);
	if (rc != SALVE_OK)
		return rc;
	json_t *list = NULL;
	rc = k8s_get(ctx, rspath, 0, &list);
	if (rc != SALVE_OK)
		return rc;
	const char *uid = json_string_value(k8s_ptr_get(r->deployment, "/metadata/uid"));
	json_t *owned = json_array();
	size_t i;
	json_t *rs;
	json_array_foreach(json_object_get(list, "items"), i, rs)
	{
		if (k8s_is_controlled_by(rs, uid))
			json_array_append(owned, rs);
	}
	json_decref(list);
	const json_t *chosen = NULL;
	rc = k8s_select_revision(owned, to_revision, r->t.name, &chosen, &r->revision, err,
	                         sizeof err);
	if (rc != SALVE_OK) {
		json_decref(owned);
		ctx->host->fail(ctx->call, "%s", err);
		return rc;
	}
	r->rs = json_incref((json_t *)chosen);
	json_decref(owned);
	if (json_is_true(k8s_ptr_get(r->deployment, "/spec/paused"))) {
		ctx->host->fail(ctx->call,
		                "you cannot rollback a paused deployment; resume it first with "
		                "'kubectl rollout resume deployment/%s' and try again",
		                r->t.name);
		return SALVE_ERR;
	}
	return SALVE_OK;
}

static int build_rollback(k8s_ctx *ctx, const json_t *current, json_t **desired, void *ud)
{
	(void)ctx;
	const json_t *rs = ((const struct rollback *)ud)->rs;
	json_t *d = json_deep_copy(current);
	json_object_set_new(k8s_child_object(d, "spec"), "template",
	                    k8s_template_without_hash(k8s_ptr_get(rs, "/spec/template")));
	json_t *cur_ann = k8s_ptr_get(current, "/metadata/annotations");
	json_t *ann = json_object();
	for (const char *const *s = annotations_to_skip; *s; s++) {
		json_t *v = json_object_get(cur_ann, *s);
		if (v)
			json_object_set(ann, *s, v);
	}
	const char *key;
	json_t *v;
	json_object_foreach(k8s_ptr_get(rs, "/metadata/annotations"), key, v)
	{
		if (!skipped_annotation(key))
			json_object_set(ann, key, v);
	}
	json_t *meta = json_object_get(d, "metadata");
	if (json_object_size(ann) == 0 && !cur_ann)
		json_decref(ann);
	else if (json_is_object(meta))
		json_object_set_new(meta, "annotations", ann);
	else
		json_decref(ann);
	*desired = d;
	return SALVE_OK;
}

static json_t *rollback_result(const struct rollback *r, json_t *changes, const char *message)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:o, s:s}", "kind", "Deployment", "namespace",
	                 r->t.ns, "name", r->t.name, "from_revision",
	                 (json_int_t)r->current_revision, "to_revision", (json_int_t)r->revision,
	                 "changes", changes, "message", message);
}

static int rollback_check(k8s_ctx *ctx, void *state, json_t **observed)
{
	(void)ctx;
	const struct rollback *r = state;
	int same = k8s_template_equal_ignore_hash(k8s_ptr_get(r->rs, "/spec/template"),
	                                          k8s_ptr_get(r->deployment, "/spec/template"));
	char msg[160];
	snprintf(msg, sizeof msg,
	         same ? "skipped rollback (current template already matches revision %lld)"
	              : "the current template differs from revision %lld",
	         r->revision);
	*observed = rollback_result(r, json_array(), msg);
	if (!same) { /* for plan and apply: what they need, without reading again */
		json_object_set(*observed, K8S_OBSERVED_OBJECT, r->deployment);
		json_object_set_new(*observed, "k8s_path", json_string(r->t.path));
		json_object_set(*observed, "k8s_replicaset", r->rs);
	}
	return same ? SALVE_HOLDS : SALVE_OK;
}

static json_t *rollback_done(k8s_ctx *ctx, void *state, const json_t *before, const json_t *after)
{
	(void)ctx;
	return rollback_result(state, k8s_changes(before, after), "rolled back");
}

static json_t *rollback_undo_record(const void *state, const json_t *before, const json_t *patch)
{
	const struct rollback *r = state;
	json_t *rec = kube_touched_record(r, before, patch);
	json_object_set_new(rec, "left_revision", json_integer(r->current_revision));
	return rec;
}

const k8s_mutation kube_rollout_undo = {
    .state_size = sizeof(struct rollback),
    .parse = rollback_parse,
    .clear = rollback_clear,
    .check = rollback_check,
    .build = build_rollback,
    .result = rollback_done,
    .undo_record = rollback_undo_record,
};

/* ---- rollout_restart ---------------------------------------------------------------------------
 */

struct restart {
	k8s_target t;
	char stamp[48];
};

/* The restartedAt value: RFC 3339 UTC with nanoseconds. kubectl writes whole seconds and
 * refuses a second restart within the same second; a finer stamp lets two restarts in one
 * second each change the template (and so each restart the pods). */
static void restart_stamp(char *buf, size_t len)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char secs[32];
	strftime(secs, sizeof secs, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%09ldZ", secs, (long)ts.tv_nsec);
}

static int restart_parse(k8s_ctx *ctx, const json_t *args, void *state)
{
	struct restart *r = state;
	restart_stamp(r->stamp, sizeof r->stamp);
	return workload_target(ctx, args, &r->t);
}

static int restart_observe(k8s_ctx *ctx, void *state, const json_t *current, json_t **observed)
{
	(void)ctx;
	const struct restart *r = state;
	/* A restart is always a change: there is no state in which it already holds. */
	json_t *o = object_result(&r->t);
	json_t *prev = k8s_ptr_get(
	    current, "/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt");
	json_object_set(o, "last_restarted_at", prev ? prev : json_null());
	*observed = o;
	return SALVE_OK;
}

static int build_restart(k8s_ctx *ctx, const json_t *current, json_t **desired, void *ud)
{
	const struct restart *r = ud;
	if (json_is_true(k8s_ptr_get(current, "/spec/paused"))) {
		ctx->host->fail(ctx->call,
		                "can't restart paused deployment (run rollout resume first)");
		return SALVE_ERR;
	}
	const char *prev = json_string_value(k8s_ptr_get(
	    current, "/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt"));
	if (prev && strcmp(prev, r->stamp) == 0) {
		/* The write would change nothing, so no pod would restart: never report that as
		 * a restart (a clock stepped back, or a stamp written by someone else). */
		ctx->host->fail(ctx->call,
		                "%s %s/%s: the pod template already carries %s=%s; nothing was "
		                "sent and no pod restarts (try again)",
		                r->t.kind->kind, r->t.ns, r->t.name, RESTARTED_AT, prev);
		return SALVE_ERR_RETRY;
	}
	json_t *d = json_deep_copy(current);
	json_t *ann = k8s_child_object(
	    k8s_child_object(k8s_child_object(k8s_child_object(d, "spec"), "template"), "metadata"),
	    "annotations");
	json_object_set_new(ann, RESTARTED_AT, json_string(r->stamp));
	*desired = d;
	return SALVE_OK;
}

static json_t *restart_result(k8s_ctx *ctx, void *state, const json_t *before, const json_t *after)
{
	(void)ctx;
	const struct restart *r = state;
	json_t *o = object_result(&r->t);
	json_object_set_new(o, "restarted_at", json_string(r->stamp));
	json_object_set_new(o, "changes", k8s_changes(before, after));
	return o;
}

const k8s_mutation kube_rollout_restart = {
    .state_size = sizeof(struct restart),
    .parse = restart_parse,
    .observe = restart_observe,
    .build = build_restart,
    .result = restart_result,
    .undo_record = kube_touched_record,
};

/* ---- set_image
 * ----------------------------------------------------------------------------------- */

struct image {
	k8s_target t;
	const char *container;
	const char *image;
	char previous[2048];
};

static json_t *find_container(const json_t *obj, const char *name, char *names, size_t len)
{
	static const char *const lists[] = {"/spec/template/spec/containers",
	                                    "/spec/template/spec/initContainers"};
	size_t o = 0;
	names[0] = '\0';
	for (size_t l = 0; l < 2; l++) {
		size_t i;
		json_t *c;
		json_array_foreach(k8s_ptr_get(obj, lists[l]), i, c)
		{
			const char *n = json_string_value(json_object_get(c, "name"));
			if (n && strcmp(n, name) == 0)
				return c;
			if (n && o + strlen(n) + 3 < len)
				o += (size_t)snprintf(names + o, len - o, "%s%s", o ? ", " : "", n);
		}
	}
	return NULL;
}

/* The arguments, and an undo record, which has their shape. */
static int image_parse(k8s_ctx *ctx, const json_t *args, void *state)
{
	struct image *im = state;
	int rc = workload_target(ctx, args, &im->t);
	if (rc != SALVE_OK)
		return rc;
	char err[512];
	im->container = k8s_arg_str(args, "container");
	im->image = k8s_arg_str(args, "image");
	if (k8s_check_label("container", im->container, err, sizeof err) < 0)
		return k8s_invalid(ctx, "%s", err);
	if (!im->image || !*im->image || strlen(im->image) > 1024)
		return k8s_invalid(ctx, "argument \"image\" must be 1 to 1024 characters");
	for (const char *p = im->image; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return k8s_invalid(ctx, "argument \"image\" must not contain spaces or "
			                        "control characters");
	return SALVE_OK;
}

static json_t *image_result(const struct image *im, json_t *changes)
{
	json_t *r = object_result(&im->t);
	json_object_set_new(r, "container", json_string(im->container));
	json_object_set_new(r, "image", json_string(im->image));
	json_object_set_new(r, "previous_image", json_string(im->previous));
	json_object_set_new(r, "changes", changes);
	return r;
}

static int image_observe(k8s_ctx *ctx, void *state, const json_t *current, json_t **observed)
{
	struct image *im = state;
	char names[512];
	json_t *c = find_container(current, im->container, names, sizeof names);
	if (!c)
		return k8s_invalid(
		    ctx, "argument \"container\": no container \"%s\" in %s/%s (it has: %s)",
		    im->container, im->t.ns, im->t.name, names);
	const char *cur = json_string_value(json_object_get(c, "image"));
	snprintf(im->previous, sizeof im->previous, "%s", cur ? cur : "");
	*observed = image_result(im, json_array());
	return cur && strcmp(cur, im->image) == 0 ? SALVE_HOLDS : SALVE_OK;
}

static int build_image(k8s_ctx *ctx, const json_t *current, json_t **desired, void *ud)
{
	struct image *im = ud;
	json_t *d = json_deep_copy(current);
	char names[512];
	json_t *c = find_container(d, im->container, names, sizeof names);
	if (!c) {
		json_decref(d);
		ctx->host->fail(
		    ctx->call, "argument \"container\": no container \"%s\" in %s/%s (it has: %s)",
		    im->container, json_string_value(k8s_ptr_get(current, "/metadata/namespace")),
		    json_string_value(k8s_ptr_get(current, "/metadata/name")), names);
		return SALVE_ERR_INVALID;
	}
	const char *prev = json_string_value(json_object_get(c, "image"));
	snprintf(im->previous, sizeof im->previous, "%s", prev ? prev : "");
	json_object_set_new(c, "image", json_string(im->image));
	*desired = d;
	return SALVE_OK;
}

static json_t *image_done(k8s_ctx *ctx, void *state, const json_t *before, const json_t *after)
{
	(void)ctx;
	return image_result(state, k8s_changes(before, after));
}

static json_t *image_undo_record(const void *state, const json_t *before, const json_t *patch)
{
	(void)before, (void)patch;
	const struct image *im = state;
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind", im->t.kind->kind, "namespace",
	                 im->t.ns, "name", im->t.name, "container", im->container, "image",
	                 im->previous);
}

static void image_undone(k8s_ctx *ctx, const void *state, const json_t *patch)
{
	(void)patch;
	const struct image *im = state;
	ctx->host->log(ctx->call, SALVE_LOG_INFO, "kubernetes: %s %s/%s container %s: image %s",
	               im->t.kind->kind, im->t.ns, im->t.name, im->container, im->image);
}

/* Also its own undo entry: setting the previous image back. */
const k8s_mutation kube_set_image = {
    .state_size = sizeof(struct image),
    .parse = image_parse,
    .observe = image_observe,
    .build = build_image,
    .result = image_done,
    .undo_record = image_undo_record,
    .undone = image_undone,
};

/* ---- patch
 * --------------------------------------------------------------------------------------- */

enum patch_type { PATCH_MERGE, PATCH_JSON, PATCH_STRATEGIC };

static const char *const patch_arg[] = {"merge", "json", "strategic"};
static const char *const patch_content_type[] = {K8S_MERGE_PATCH, K8S_JSON_PATCH,
                                                 K8S_STRATEGIC_PATCH};

struct patch_req {
	k8s_target t;
	const json_t *patch;
	enum patch_type type;
	json_t *shape;   /* the merge patch touching what the patch touches (see patch_shape) */
	json_t *touched; /* apply: what the patch changes in the object it was based on */
};

static void patch_clear(void *state)
{
	struct patch_req *p = state;
	json_decref(p->shape);
	json_decref(p->touched);
}

/* A strategic merge patch as a merge patch of the paths it touches, so its undo record is
 * computed like a merge patch's: a directive names the field it acts on
 * ($setElementOrder/X, $deleteFromPrimitiveList/X touch list X), and an object the patch
 * replaces, deletes or prunes ($patch, $retainKeys) is touched whole. Lists are touched whole
 * anyway (undo puts the old list back). */
static json_t *strategic_shape(const json_t *patch)
{
	if (!json_is_object(patch))
		return json_deep_copy(patch);
	if (json_object_get(patch, "$patch") || json_object_get(patch, "$retainKeys"))
		return json_string("$patch");
	json_t *out = json_object();
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)patch, key, v)
	{
		const char *field = strchr(key, '/');
		if (key[0] == '$') {
			if (field && field[1] && !json_object_get(out, field + 1))
				json_object_set_new(out, field + 1, json_array());
			continue;
		}
		json_object_set_new(out, key, strategic_shape(v));
	}
	return out;
}

/* Fields that name the object or carry its concurrency token: a patch must leave them. */
static const char *forbidden_path(const json_t *patch, int json_patch)
{
	static const char *const paths[] = {"/metadata/resourceVersion", "/metadata/name",
	                                    "/metadata/namespace", "/metadata/uid", NULL};
	if (!json_patch) {
		json_t *meta = json_object_get(patch, "metadata");
		if (json_is_null(meta) || json_is_string(meta))
			return "/metadata";
		for (const char *const *f = paths; *f; f++)
			if (k8s_ptr_get(patch, *f))
				return *f;
		return NULL;
	}
	size_t i;
	json_t *op;
	json_array_foreach(patch, i, op)
	{
		const char *targets[2] = {json_string_value(json_object_get(op, "path")),
		                          json_string_value(json_object_get(op, "from"))};
		const char *name = json_string_value(json_object_get(op, "op"));
		if (name && strcmp(name, "test") == 0)
			continue;
		for (int t = 0; t < 2; t++) {
			const char *path = targets[t];
			if (!path)
				continue;
			if (strcmp(path, "/metadata") == 0)
				return "/metadata";
			for (const char *const *f = paths; *f; f++) {
				size_t n = strlen(*f);
				if (strncmp(path, *f, n) == 0 &&
				    (path[n] == '\0' || path[n] == '/'))
					return *f;
			}
		}
	}
	return NULL;
}

static int patch_parse(k8s_ctx *ctx, const json_t *args, void *state)
{
	struct patch_req *p = state;
	p->t.kind = k8s_arg_kind(ctx, args, NULL, NULL);
	if (!p->t.kind)
		return SALVE_ERR_INVALID;
	if (p->t.kind->namespaced && !(p->t.ns = k8s_arg_namespace(ctx, args)))
		return SALVE_ERR_INVALID;
	p->t.name = k8s_arg_str(args, "name");
	int rc = k8s_path(ctx, p->t.path, sizeof p->t.path, p->t.kind, NULL, p->t.ns, p->t.name,
	                  "name", NULL);
	if (rc != SALVE_OK)
		return rc;
	int given = 0;
	for (int i = PATCH_MERGE; i <= PATCH_STRATEGIC; i++) {
		json_t *v = json_object_get(args, patch_arg[i]);
		if (v) {
			given++;
			p->type = (enum patch_type)i;
			p->patch = v;
		}
	}
	if (given != 1)
		return k8s_invalid(ctx,
		                   "patch needs exactly one of \"strategic\" (an object, "
		                   "kubectl patch's default), \"merge\" (an object) or \"json\" "
		                   "(a list of operations)");
	const char *arg = patch_arg[p->type];
	if (p->type == PATCH_STRATEGIC &&
	    (json_object_get(p->patch, "$patch") || json_object_get(p->patch, "$retainKeys")))
		return k8s_invalid(ctx, "argument \"strategic\": a $patch or $retainKeys directive "
		                        "on the whole object is refused");
	p->shape = p->type == PATCH_STRATEGIC ? strategic_shape(p->patch)
	                                      : json_incref((json_t *)p->patch);
	char err[512];
	/* Validate the shape now, so a malformed patch fails before any request. */
	json_t *touched = k8s_patch_touched(NULL, p->shape, p->type == PATCH_JSON, err, sizeof err);
	if (!touched)
		return k8s_invalid(ctx, "argument \"%s\": %s", arg, err);
	json_decref(touched);
	const char *bad = forbidden_path(p->shape, p->type == PATCH_JSON);
	if (bad)
		return k8s_invalid(ctx, "argument \"%s\": the patch must not change %s", arg, bad);
	return SALVE_OK;
}

/* The patch as sent: the caller's, plus the resourceVersion it is based on. */
static json_t *patch_body(const struct patch_req *p, const char *rv)
{
	json_t *body = json_deep_copy(p->patch);
	if (!rv)
		return body;
	if (p->type == PATCH_JSON)
		json_array_append_new(body, json_pack("{s:s, s:s, s:s}", "op", "replace", "path",
		                                      "/metadata/resourceVersion", "value", rv));
	else
		json_object_set_new(k8s_child_object(body, "metadata"), "resourceVersion",
		                    json_string(rv));
	return body;
}

/* Send the caller's patch as given (strategic, merge or JSON patch), carrying the resourceVersion
 * of the object it was based on, and again on 409 Conflict after a fresh read. A dry run
 * (dryRun=All) is conditional too: its answer is then the object read plus the patch, never a
 * controller's write that landed in between (which would look like a change the patch makes).
 * A real one records what it touches. */
static int patch_write(k8s_ctx *ctx, void *state, unsigned mode, json_t **before, json_t **after,
                       json_t **merge_patch)
{
	(void)merge_patch;
	struct patch_req *p = state;
	int dry_run = (mode & K8S_UPDATE_DRY_RUN) != 0;
	char path[2100];
	if (dry_run)
		k8s_dry_run_path(path, sizeof path, p->t.path);
	else
		snprintf(path, sizeof path, "%s", p->t.path);
	const json_t *seen = NULL;
	if (!dry_run && SALVE_HOST_HAS(ctx->host, observed))
		seen = k8s_observed_object(ctx->host->observed(ctx->call), p->t.path);
	for (int attempt = 1;; attempt++) {
		json_t *current = NULL, *body = NULL;
		int rc = SALVE_OK;
		if (attempt == 1 && seen) /* check read it a moment ago; a 409 says when stale */
			current = json_deep_copy(seen);
		else
			rc = k8s_get(ctx, p->t.path, 0, &current);
		if (rc != SALVE_OK)
			return rc;
		if (!dry_run) {
			char err[512];
			json_decref(p->touched);
			p->touched = k8s_patch_touched(current, p->shape, p->type == PATCH_JSON,
			                               err, sizeof err);
			if (!p->touched) {
				json_decref(current);
				return k8s_invalid(ctx, "argument \"%s\": %s", patch_arg[p->type],
				                   err);
			}
		}
		body = patch_body(
		    p, json_string_value(k8s_ptr_get(current, "/metadata/resourceVersion")));
		k8s_resp resp;
		rc = k8s_request(ctx, "PATCH", path, patch_content_type[p->type], body, 0, &resp);
		json_decref(body);
		if (rc == SALVE_OK) {
			*before = current;
			*after = resp.json;
			resp.json = NULL;
			k8s_resp_clear(&resp);
			return SALVE_OK;
		}
		long status = resp.status;
		k8s_resp_clear(&resp);
		json_decref(current);
		if (status != 409 || attempt >= 5)
			return rc;
		json_t *data = json_pack("{s:s, s:i}", "path", p->t.path, "attempt", attempt);
		ctx->host->audit(ctx->call, "k8s.conflict", data);
		json_decref(data);
	}
}

static json_t *patch_result(k8s_ctx *ctx, void *state, const json_t *before, const json_t *after)
{
	(void)ctx;
	const struct patch_req *p = state;
	json_t *r = object_result(&p->t);
	json_object_set_new(r, "changes", k8s_changes(before, after));
	return r;
}

/* Ask the server what the patch would do; nothing to do when it would change nothing. */
static int patch_would_change(k8s_ctx *ctx, void *state, json_t **observed)
{
	json_t *before = NULL, *after = NULL;
	int rc = patch_write(ctx, state, K8S_UPDATE_DRY_RUN, &before, &after, NULL);
	if (rc == SALVE_OK) {
		*observed = patch_result(ctx, state, before, after);
		rc = json_array_size(json_object_get(*observed, "changes")) == 0 ? SALVE_HOLDS
		                                                                 : SALVE_OK;
	}
	if (rc == SALVE_OK) { /* for apply, which then sends its patch without reading again */
		const struct patch_req *p = state;
		json_object_set(*observed, K8S_OBSERVED_OBJECT, before);
		json_object_set_new(*observed, "k8s_path", json_string(p->t.path));
	}
	json_decref(before);
	json_decref(after);
	return rc;
}

static json_t *patch_undo_record(const void *state, const json_t *before, const json_t *patch)
{
	(void)before, (void)patch;
	const struct patch_req *p = state;
	return json_pack("{s:s, s:s?, s:s, s:O}", "kind", p->t.kind->kind, "namespace", p->t.ns,
	                 "name", p->t.name, "touched", p->touched);
}

const k8s_mutation kube_patch = {
    .state_size = sizeof(struct patch_req),
    .parse = patch_parse,
    .clear = patch_clear,
    .check = patch_would_change,
    .write = patch_write,
    .result = patch_result,
    .undo_record = patch_undo_record,
};

/* ---- delete_pod
 * ---------------------------------------------------------------------------------- */

struct pod_delete {
	k8s_target t;
	char query[64];
	int gone; /* it was gone before the DELETE reached it */
};

static int pod_parse(k8s_ctx *ctx, const json_t *args, void *state)
{
	struct pod_delete *d = state;
	d->t.kind = k8s_kind_find("pod");
	d->t.ns = k8s_arg_namespace(ctx, args);
	if (!d->t.ns)
		return SALVE_ERR_INVALID;
	d->t.name = k8s_arg_str(args, "name");
	json_t *gp = json_object_get(args, "grace_period");
	if (gp) {
		if (!json_is_integer(gp) || json_integer_value(gp) < 0)
			return k8s_invalid(
			    ctx, "argument \"grace_period\" must be a non-negative integer");
		snprintf(d->query, sizeof d->query, "gracePeriodSeconds=%lld",
		         (long long)json_integer_value(gp));
	}
	return k8s_path(ctx, d->t.path, sizeof d->t.path, d->t.kind, NULL, d->t.ns, d->t.name,
	                "name", NULL);
}

static int pod_check(k8s_ctx *ctx, void *state, json_t **observed)
{
	const struct pod_delete *d = state;
	json_t *pod = NULL;
	int rc = k8s_get(ctx, d->t.path, 0, &pod);
	if (rc == SALVE_ERR_NOTFOUND) {
		*observed = json_pack("{s:s, s:s, s:b, s:s}", "namespace", d->t.ns, "name",
		                      d->t.name, "exists", 0, "message", "the pod does not exist");
		return SALVE_HOLDS;
	}
	if (rc != SALVE_OK)
		return rc;
	const char *phase = json_string_value(k8s_ptr_get(pod, "/status/phase"));
	*observed = json_pack("{s:s, s:s, s:b, s:O?, s:s}", "namespace", d->t.ns, "name", d->t.name,
	                      "exists", 1, "uid", k8s_ptr_get(pod, "/metadata/uid"), "status",
	                      phase ? phase : "Unknown");
	json_decref(pod);
	return SALVE_OK;
}

static int pod_delete_write(k8s_ctx *ctx, void *state, unsigned mode, json_t **before,
                            json_t **after, json_t **patch)
{
	(void)before, (void)patch;
	struct pod_delete *d = state;
	char path[2200];
	snprintf(path, sizeof path, "%s%s%s", d->t.path, *d->query ? "?" : "", d->query);
	if (mode & K8S_UPDATE_DRY_RUN) {
		char tmp[2200];
		snprintf(tmp, sizeof tmp, "%s", path);
		k8s_dry_run_path(path, sizeof path, tmp);
	}
	k8s_resp resp;
	int rc = k8s_request(ctx, "DELETE", path, NULL, NULL, 0, &resp);
	if (rc == SALVE_ERR_NOTFOUND) {
		d->gone = 1; /* gone between check and apply: the wanted state holds */
		rc = SALVE_OK;
	} else if (rc == SALVE_OK) {
		*after = resp.json;
		resp.json = NULL;
	}
	k8s_resp_clear(&resp);
	return rc;
}

static json_t *pod_deleted(k8s_ctx *ctx, void *state, const json_t *before, const json_t *after)
{
	(void)ctx, (void)before;
	const struct pod_delete *d = state;
	if (d->gone)
		return json_pack("{s:s, s:s, s:b, s:s}", "namespace", d->t.ns, "name", d->t.name,
		                 "deleted", 0, "message", "the pod was already gone");
	return json_pack("{s:s, s:s, s:b, s:O?}", "namespace", d->t.ns, "name", d->t.name,
	                 "deleted", 1, "uid", k8s_ptr_get(after, "/metadata/uid"));
}

/* No undo record: the action is declared SALVE_ACTION_NO_UNDO. */
const k8s_mutation kube_delete_pod = {
    .state_size = sizeof(struct pod_delete),
    .parse = pod_parse,
    .check = pod_check,
    .write = pod_delete_write,
    .result = pod_deleted,
};
