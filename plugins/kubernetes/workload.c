/* Workload mutations: rollout undo and restart, set image, patch, delete pod. Each change is a
 * read-modify-write carrying resourceVersion (k8s_update), and each undo record holds the old
 * values of exactly what the change touched. */
#include "kube.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESTARTED_AT "kubectl.kubernetes.io/restartedAt"

static const char *const workload_kinds[] = {"Deployment", "StatefulSet", "DaemonSet", NULL};

/* The undo record of a merge-patch change: enough to rebuild what was there. */
static json_t *touched_record(const k8s_kind *k, const char *ns, const char *name,
                              const json_t *before, const json_t *patch)
{
	char err[256];
	json_t *touched = k8s_patch_touched(before, patch, 0, err, sizeof err);
	if (!touched)
		touched = json_array();
	return json_pack("{s:s, s:s?, s:s, s:o}", "kind", k->kind, "namespace",
	                 k->namespaced ? ns : NULL, "name", name, "touched", touched);
}

static json_t *object_result(const k8s_kind *k, const char *ns, const char *name)
{
	return json_pack("{s:s, s:s?, s:s}", "kind", k->kind, "namespace",
	                 k->namespaced ? ns : NULL, "name", name);
}

/* ---- undo of touched records ---------------------------------------------------------------- */

static int build_restore(k8s_ctx *ctx, const json_t *current, json_t **desired, void *ud)
{
	(void)ctx;
	json_t *patch = k8s_restore_patch(current, ud);
	*desired = json_deep_copy(current);
	k8s_merge_apply(desired, patch);
	json_decref(patch);
	return SALVE_OK;
}

int kube_touched_undo(salve_call *call, const json_t *undo)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	const k8s_kind *k = k8s_kind_find(json_string_value(json_object_get(undo, "kind")));
	const char *ns = json_string_value(json_object_get(undo, "namespace"));
	const char *name = json_string_value(json_object_get(undo, "name"));
	json_t *touched = json_object_get(undo, "touched");
	if (!k || !name || !json_is_array(touched))
		return k8s_invalid(&ctx,
		                   "undo record is malformed: it needs kind, name and touched");
	char path[2048];
	int rc = k8s_path(&ctx, path, sizeof path, k, NULL, ns, name, "name", NULL);
	if (rc != SALVE_OK)
		return rc;
	json_t *patch = NULL;
	rc = k8s_update(&ctx, path, 0, build_restore, touched, NULL, NULL, &patch);
	if (rc == SALVE_OK) {
		char what[600];
		k8s_describe(what, sizeof what, k, ns, name);
		kube_host->log(call, SALVE_LOG_INFO, "kubernetes: %s: %s", what,
		               json_object_size(patch) ? "restored the fields the change touched"
		                                       : "already as before the change");
	}
	json_decref(patch);
	return rc;
}

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
	const char *ns;
	const char *name;
	char path[2048];
	json_t *deployment;
	json_t *rs; /* the ReplicaSet of the target revision */
	long long revision;
	long long current_revision;
};

static void rollback_clear(struct rollback *t)
{
	json_decref(t->deployment);
	json_decref(t->rs);
}

/* kubectl rollout undo up to the patch: read the Deployment, list the ReplicaSets it
 * controls, pick the revision, refuse a paused Deployment. */
static int rollback_prepare(k8s_ctx *ctx, const json_t *args, struct rollback *t)
{
	memset(t, 0, sizeof *t);
	t->ns = k8s_arg_namespace(ctx, args);
	if (!t->ns)
		return SALVE_ERR_INVALID;
	t->name = k8s_arg_str(args, "name");
	json_t *tr = json_object_get(args, "to_revision");
	long long to_revision = tr ? json_integer_value(tr) : 0;
	if (tr && (!json_is_integer(tr) || to_revision < 0))
		return k8s_invalid(ctx, "argument \"to_revision\" must be a non-negative integer");
	const k8s_kind *deploy = k8s_kind_find("deployment");
	const k8s_kind *rsk = k8s_kind_find("replicaset");
	int rc = k8s_path(ctx, t->path, sizeof t->path, deploy, NULL, t->ns, t->name, "name", NULL);
	if (rc != SALVE_OK)
		return rc;
	rc = k8s_get(ctx, t->path, 0, &t->deployment);
	if (rc != SALVE_OK)
		return rc;
	t->current_revision = k8s_revision_of(t->deployment);
	char err[512];
	char *selector =
	    k8s_selector_string(k8s_ptr_get(t->deployment, "/spec/selector"), err, sizeof err);
	if (!selector) {
		kube_host->fail(ctx->call, "deployment %s/%s: %s", t->ns, t->name, err);
		return SALVE_ERR;
	}
	char *esc = k8s_escape(selector);
	free(selector);
	char rspath[4096];
	rc = k8s_path(ctx, rspath, sizeof rspath, rsk, NULL, t->ns, NULL, NULL, NULL);
	if (rc == SALVE_OK && esc) {
		size_t n = strlen(rspath);
		snprintf(rspath + n, sizeof rspath - n, "?labelSelector=%s", esc);
	}
	free(esc);
	if (rc != SALVE_OK)
		return rc;
	json_t *list = NULL;
	rc = k8s_get(ctx, rspath, 0, &list);
	if (rc != SALVE_OK)
		return rc;
	const char *uid = json_string_value(k8s_ptr_get(t->deployment, "/metadata/uid"));
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
	rc = k8s_select_revision(owned, to_revision, t->name, &chosen, &t->revision, err,
	                         sizeof err);
	if (rc != SALVE_OK) {
		json_decref(owned);
		kube_host->fail(ctx->call, "%s", err);
		return rc;
	}
	t->rs = json_incref((json_t *)chosen);
	json_decref(owned);
	if (json_is_true(k8s_ptr_get(t->deployment, "/spec/paused"))) {
		kube_host->fail(ctx->call,
		                "you cannot rollback a paused deployment; resume it first with "
		                "'kubectl rollout resume deployment/%s' and try again",
		                t->name);
		return SALVE_ERR;
	}
	return SALVE_OK;
}

static int build_rollback(k8s_ctx *ctx, const json_t *current, json_t **desired, void *ud)
{
	(void)ctx;
	const json_t *rs = ud;
	json_t *d = json_deep_copy(current);
	json_t *spec = json_object_get(d, "spec");
	if (!json_is_object(spec)) {
		spec = json_object();
		json_object_set_new(d, "spec", spec);
	}
	json_object_set_new(spec, "template",
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

static json_t *rollback_result(const struct rollback *t, json_t *changes, const char *message)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:o, s:s}", "kind", "Deployment", "namespace",
	                 t->ns, "name", t->name, "from_revision", (json_int_t)t->current_revision,
	                 "to_revision", (json_int_t)t->revision, "changes", changes, "message",
	                 message);
}

int kube_undo_check(salve_call *call, const json_t *args, json_t **observed)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	struct rollback t;
	int rc = rollback_prepare(&ctx, args, &t);
	if (rc == SALVE_OK) {
		int same =
		    k8s_template_equal_ignore_hash(k8s_ptr_get(t.rs, "/spec/template"),
		                                   k8s_ptr_get(t.deployment, "/spec/template"));
		char msg[160];
		snprintf(msg, sizeof msg,
		         same ? "skipped rollback (current template already matches revision %lld)"
		              : "the current template differs from revision %lld",
		         t.revision);
		*observed = rollback_result(&t, json_array(), msg);
		rc = same ? SALVE_HOLDS : SALVE_OK;
	}
	rollback_clear(&t);
	return rc;
}

int kube_undo_plan(salve_call *call, const json_t *args, json_t **predicted)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	struct rollback t;
	int rc = rollback_prepare(&ctx, args, &t);
	json_t *before = NULL, *after = NULL;
	if (rc == SALVE_OK)
		rc = k8s_update(&ctx, t.path, K8S_UPDATE_DRY_RUN, build_rollback, t.rs, &before,
		                &after, NULL);
	if (rc == SALVE_OK)
		*predicted = rollback_result(&t, k8s_changes(before, after), "rolled back");
	json_decref(before);
	json_decref(after);
	rollback_clear(&t);
	return rc;
}

int kube_undo_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	struct rollback t;
	int rc = rollback_prepare(&ctx, args, &t);
	json_t *before = NULL, *after = NULL, *patch = NULL;
	if (rc == SALVE_OK)
		rc = k8s_update(&ctx, t.path, 0, build_rollback, t.rs, &before, &after, &patch);
	if (rc == SALVE_OK) {
		*result = rollback_result(&t, k8s_changes(before, after), "rolled back");
		json_t *rec =
		    touched_record(k8s_kind_find("deployment"), t.ns, t.name, before, patch);
		json_object_set_new(rec, "left_revision", json_integer(t.current_revision));
		*undo = rec;
	}
	json_decref(before);
	json_decref(after);
	json_decref(patch);
	rollback_clear(&t);
	return rc;
}

/* ---- rollout_restart ---------------------------------------------------------------------------
 */

struct target {
	const k8s_kind *kind;
	const char *ns;
	const char *name;
	char path[2048];
};

static int workload_target(k8s_ctx *ctx, const json_t *args, struct target *t)
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

/* Ensure obj[key] is an object and return it. */
static json_t *child_object(json_t *obj, const char *key)
{
	json_t *c = json_object_get(obj, key);
	if (!json_is_object(c)) {
		c = json_object();
		json_object_set_new(obj, key, c);
	}
	return c;
}

static int build_restart(k8s_ctx *ctx, const json_t *current, json_t **desired, void *ud)
{
	const char *stamp = ud;
	if (json_is_true(k8s_ptr_get(current, "/spec/paused"))) {
		ctx->host->fail(ctx->call,
		                "can't restart paused deployment (run rollout resume first)");
		return SALVE_ERR;
	}
	json_t *d = json_deep_copy(current);
	json_t *ann = child_object(
	    child_object(child_object(child_object(d, "spec"), "template"), "metadata"),
	    "annotations");
	json_object_set_new(ann, RESTARTED_AT, json_string(stamp));
	*desired = d;
	return SALVE_OK;
}

static json_t *restart_result(const struct target *t, const char *stamp, json_t *changes)
{
	json_t *r = object_result(t->kind, t->ns, t->name);
	json_object_set_new(r, "restarted_at", json_string(stamp));
	json_object_set_new(r, "changes", changes);
	return r;
}

int kube_restart_check(salve_call *call, const json_t *args, json_t **observed)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	struct target t;
	int rc = workload_target(&ctx, args, &t);
	json_t *obj = NULL;
	if (rc == SALVE_OK)
		rc = k8s_get(&ctx, t.path, 0, &obj);
	if (rc != SALVE_OK)
		return rc;
	/* A restart is always a change: there is no state in which it already holds. */
	json_t *r = object_result(t.kind, t.ns, t.name);
	json_t *prev = k8s_ptr_get(
	    obj, "/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt");
	json_object_set(r, "last_restarted_at", prev ? prev : json_null());
	json_decref(obj);
	*observed = r;
	return SALVE_OK;
}

int kube_restart_plan(salve_call *call, const json_t *args, json_t **predicted)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	struct target t;
	char stamp[40];
	k8s_now_rfc3339(stamp, sizeof stamp);
	int rc = workload_target(&ctx, args, &t);
	json_t *before = NULL, *after = NULL;
	if (rc == SALVE_OK)
		rc = k8s_update(&ctx, t.path, K8S_UPDATE_DRY_RUN, build_restart, stamp, &before,
		                &after, NULL);
	if (rc == SALVE_OK)
		*predicted = restart_result(&t, stamp, k8s_changes(before, after));
	json_decref(before);
	json_decref(after);
	return rc;
}

int kube_restart_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	struct target t;
	char stamp[40];
	k8s_now_rfc3339(stamp, sizeof stamp);
	int rc = workload_target(&ctx, args, &t);
	json_t *before = NULL, *after = NULL, *patch = NULL;
	if (rc == SALVE_OK)
		rc = k8s_update(&ctx, t.path, 0, build_restart, stamp, &before, &after, &patch);
	if (rc == SALVE_OK) {
		*result = restart_result(&t, stamp, k8s_changes(before, after));
		*undo = touched_record(t.kind, t.ns, t.name, before, patch);
	}
	json_decref(before);
	json_decref(after);
	json_decref(patch);
	return rc;
}

/* ---- set_image
 * ----------------------------------------------------------------------------------- */

struct image {
	const char *container;
	const char *image;
	char previous[2048];
};

static json_t *find_container(json_t *obj, const char *name, char *names, size_t len)
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

static int image_args(k8s_ctx *ctx, const json_t *args, struct target *t, struct image *im)
{
	memset(im, 0, sizeof *im);
	int rc = workload_target(ctx, args, t);
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

static json_t *image_result(const struct target *t, const struct image *im, json_t *changes)
{
	json_t *r = object_result(t->kind, t->ns, t->name);
	json_object_set_new(r, "container", json_string(im->container));
	json_object_set_new(r, "image", json_string(im->image));
	json_object_set_new(r, "previous_image", json_string(im->previous));
	json_object_set_new(r, "changes", changes);
	return r;
}

int kube_image_check(salve_call *call, const json_t *args, json_t **observed)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	struct target t;
	struct image im;
	int rc = image_args(&ctx, args, &t, &im);
	json_t *obj = NULL;
	if (rc == SALVE_OK)
		rc = k8s_get(&ctx, t.path, 0, &obj);
	if (rc != SALVE_OK)
		return rc;
	char names[512];
	json_t *c = find_container(obj, im.container, names, sizeof names);
	if (!c) {
		json_decref(obj);
		return k8s_invalid(
		    &ctx, "argument \"container\": no container \"%s\" in %s/%s (it has: %s)",
		    im.container, t.ns, t.name, names);
	}
	const char *cur = json_string_value(json_object_get(c, "image"));
	snprintf(im.previous, sizeof im.previous, "%s", cur ? cur : "");
	rc = cur && strcmp(cur, im.image) == 0 ? SALVE_HOLDS : SALVE_OK;
	json_decref(obj);
	*observed = image_result(&t, &im, json_array());
	return rc;
}

int kube_image_plan(salve_call *call, const json_t *args, json_t **predicted)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	struct target t;
	struct image im;
	int rc = image_args(&ctx, args, &t, &im);
	json_t *before = NULL, *after = NULL;
	if (rc == SALVE_OK)
		rc = k8s_update(&ctx, t.path, K8S_UPDATE_DRY_RUN, build_image, &im, &before, &after,
		                NULL);
	if (rc == SALVE_OK)
		*predicted = image_result(&t, &im, k8s_changes(before, after));
	json_decref(before);
	json_decref(after);
	return rc;
}

int kube_image_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	struct target t;
	struct image im;
	int rc = image_args(&ctx, args, &t, &im);
	json_t *before = NULL, *after = NULL;
	if (rc == SALVE_OK)
		rc = k8s_update(&ctx, t.path, 0, build_image, &im, &before, &after, NULL);
	if (rc == SALVE_OK) {
		*result = image_result(&t, &im, k8s_changes(before, after));
		*undo =
		    json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind", t.kind->kind, "namespace", t.ns,
		              "name", t.name, "container", im.container, "image", im.previous);
	}
	json_decref(before);
	json_decref(after);
	return rc;
}

int kube_image_undo(salve_call *call, const json_t *undo)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	struct target t;
	struct image im;
	int rc = image_args(&ctx, undo, &t, &im);
	if (rc == SALVE_OK)
		rc = k8s_update(&ctx, t.path, 0, build_image, &im, NULL, NULL, NULL);
	if (rc == SALVE_OK)
		kube_host->log(call, SALVE_LOG_INFO, "kubernetes: %s %s/%s container %s: image %s",
		               t.kind->kind, t.ns, t.name, im.container, im.image);
	return rc;
}

/* ---- patch
 * --------------------------------------------------------------------------------------- */

struct patch_req {
	struct target t;
	const json_t *patch;
	int json_patch;
};

/* Fields that name the object or carry its concurrency token: a patch must leave them. */
static const char *forbidden_path(const json_t *patch, int json_patch)
{
	static const char *const paths[] = {"/metadata/resourceVersion", "/metadata/name",
	                                    "/metadata/namespace", "/metadata/uid", NULL};
	if (!json_patch) {
		if (json_is_null(json_object_get(patch, "metadata")))
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

static int patch_args(k8s_ctx *ctx, const json_t *args, struct patch_req *p)
{
	memset(p, 0, sizeof *p);
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
	json_t *merge = json_object_get(args, "merge");
	json_t *jp = json_object_get(args, "json");
	if ((merge != NULL) == (jp != NULL))
		return k8s_invalid(ctx,
		                   "patch needs exactly one of \"merge\" (an object) or \"json\" "
		                   "(a list of operations)");
	p->json_patch = jp != NULL;
	p->patch = jp ? jp : merge;
	char err[512];
	/* Validate the shape now, so a malformed patch fails before any request. */
	json_t *touched = k8s_patch_touched(NULL, p->patch, p->json_patch, err, sizeof err);
	if (!touched)
		return k8s_invalid(ctx, "argument \"%s\": %s", jp ? "json" : "merge", err);
	json_decref(touched);
	const char *bad = forbidden_path(p->patch, p->json_patch);
	if (bad)
		return k8s_invalid(ctx, "argument \"%s\": the patch must not change %s",
		                   jp ? "json" : "merge", bad);
	return SALVE_OK;
}

/* The patch as sent: the caller's, plus the resourceVersion it is based on. */
static json_t *patch_body(const struct patch_req *p, const char *rv)
{
	json_t *body = json_deep_copy(p->patch);
	if (!rv)
		return body;
	if (p->json_patch) {
		json_array_append_new(body, json_pack("{s:s, s:s, s:s}", "op", "replace", "path",
		                                      "/metadata/resourceVersion", "value", rv));
	} else {
		json_t *meta = child_object(body, "metadata");
		json_object_set_new(meta, "resourceVersion", json_string(rv));
	}
	return body;
}

/* Ask the server what the patch would do: the object now and after a dry-run patch. */
static int patch_dry_run(k8s_ctx *ctx, const struct patch_req *p, json_t **before, json_t **after)
{
	int rc = k8s_get(ctx, p->t.path, 0, before);
	if (rc != SALVE_OK)
		return rc;
	char path[2100];
	k8s_dry_run_path(path, sizeof path, p->t.path);
	k8s_resp resp;
	rc = k8s_request(ctx, "PATCH", path, p->json_patch ? K8S_JSON_PATCH : K8S_MERGE_PATCH,
	                 p->patch, 0, &resp);
	if (rc == SALVE_OK) {
		*after = resp.json;
		resp.json = NULL;
	}
	k8s_resp_clear(&resp);
	return rc;
}

static json_t *patch_result(const struct patch_req *p, json_t *changes)
{
	json_t *r = object_result(p->t.kind, p->t.ns, p->t.name);
	json_object_set_new(r, "changes", changes);
	return r;
}

int kube_patch_check(salve_call *call, const json_t *args, json_t **observed)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	struct patch_req p;
	int rc = patch_args(&ctx, args, &p);
	json_t *before = NULL, *after = NULL;
	if (rc == SALVE_OK)
		rc = patch_dry_run(&ctx, &p, &before, &after);
	if (rc == SALVE_OK) {
		json_t *changes = k8s_changes(before, after);
		rc = json_array_size(changes) == 0 ? SALVE_HOLDS : SALVE_OK;
		*observed = patch_result(&p, changes);
	}
	json_decref(before);
	json_decref(after);
	return rc;
}

int kube_patch_plan(salve_call *call, const json_t *args, json_t **predicted)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	struct patch_req p;
	int rc = patch_args(&ctx, args, &p);
	json_t *before = NULL, *after = NULL;
	if (rc == SALVE_OK)
		rc = patch_dry_run(&ctx, &p, &before, &after);
	if (rc == SALVE_OK)
		*predicted = patch_result(&p, k8s_changes(before, after));
	json_decref(before);
	json_decref(after);
	return rc;
}

int kube_patch_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	struct patch_req p;
	int rc = patch_args(&ctx, args, &p);
	if (rc != SALVE_OK)
		return rc;
	for (int attempt = 1;; attempt++) {
		json_t *current = NULL;
		rc = k8s_get(&ctx, p.t.path, 0, &current);
		if (rc != SALVE_OK)
			return rc;
		char err[512];
		json_t *touched =
		    k8s_patch_touched(current, p.patch, p.json_patch, err, sizeof err);
		if (!touched) {
			json_decref(current);
			return k8s_invalid(&ctx, "argument \"%s\": %s",
			                   p.json_patch ? "json" : "merge", err);
		}
		json_t *body = patch_body(
		    &p, json_string_value(k8s_ptr_get(current, "/metadata/resourceVersion")));
		k8s_resp resp;
		rc = k8s_request(&ctx, "PATCH", p.t.path,
		                 p.json_patch ? K8S_JSON_PATCH : K8S_MERGE_PATCH, body, 0, &resp);
		json_decref(body);
		if (rc == SALVE_OK) {
			*result = patch_result(&p, k8s_changes(current, resp.json));
			*undo =
			    json_pack("{s:s, s:s?, s:s, s:o}", "kind", p.t.kind->kind, "namespace",
			              p.t.ns, "name", p.t.name, "touched", touched);
			k8s_resp_clear(&resp);
			json_decref(current);
			return SALVE_OK;
		}
		long status = resp.status;
		k8s_resp_clear(&resp);
		json_decref(current);
		json_decref(touched);
		if (status != 409 || attempt >= 5)
			return rc;
		json_t *data = json_pack("{s:s, s:i}", "path", p.t.path, "attempt", attempt);
		kube_host->audit(call, "k8s.conflict", data);
		json_decref(data);
	}
}

/* ---- delete_pod
 * ---------------------------------------------------------------------------------- */

static int pod_target(k8s_ctx *ctx, const json_t *args, struct target *t, char *query, size_t qlen)
{
	t->kind = k8s_kind_find("pod");
	t->ns = k8s_arg_namespace(ctx, args);
	if (!t->ns)
		return SALVE_ERR_INVALID;
	t->name = k8s_arg_str(args, "name");
	json_t *gp = json_object_get(args, "grace_period");
	query[0] = '\0';
	if (gp) {
		if (!json_is_integer(gp) || json_integer_value(gp) < 0)
			return k8s_invalid(
			    ctx, "argument \"grace_period\" must be a non-negative integer");
		snprintf(query, qlen, "gracePeriodSeconds=%lld", (long long)json_integer_value(gp));
	}
	return k8s_path(ctx, t->path, sizeof t->path, t->kind, NULL, t->ns, t->name, "name", NULL);
}

int kube_delete_pod_check(salve_call *call, const json_t *args, json_t **observed)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	struct target t;
	char query[64];
	int rc = pod_target(&ctx, args, &t, query, sizeof query);
	json_t *pod = NULL;
	if (rc == SALVE_OK)
		rc = k8s_get(&ctx, t.path, 0, &pod);
	if (rc == SALVE_ERR_NOTFOUND) {
		*observed = json_pack("{s:s, s:s, s:b, s:s}", "namespace", t.ns, "name", t.name,
		                      "exists", 0, "message", "the pod does not exist");
		return SALVE_HOLDS;
	}
	if (rc != SALVE_OK)
		return rc;
	*observed = json_pack("{s:s, s:s, s:b, s:O?, s:s}", "namespace", t.ns, "name", t.name,
	                      "exists", 1, "uid", k8s_ptr_get(pod, "/metadata/uid"), "status",
	                      json_string_value(k8s_ptr_get(pod, "/status/phase"))
	                          ? json_string_value(k8s_ptr_get(pod, "/status/phase"))
	                          : "Unknown");
	json_decref(pod);
	return SALVE_OK;
}

static int delete_pod(salve_call *call, const json_t *args, int dry_run, json_t **result)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	struct target t;
	char query[64];
	int rc = pod_target(&ctx, args, &t, query, sizeof query);
	if (rc != SALVE_OK)
		return rc;
	char path[2200];
	snprintf(path, sizeof path, "%s%s%s", t.path, *query ? "?" : "", query);
	if (dry_run) {
		char tmp[2200];
		snprintf(tmp, sizeof tmp, "%s", path);
		k8s_dry_run_path(path, sizeof path, tmp);
	}
	k8s_resp resp;
	rc = k8s_request(&ctx, "DELETE", path, NULL, NULL, 0, &resp);
	if (rc == SALVE_ERR_NOTFOUND) {
		/* Gone between check and apply: the wanted state holds. */
		*result = json_pack("{s:s, s:s, s:b, s:s}", "namespace", t.ns, "name", t.name,
		                    "deleted", 0, "message", "the pod was already gone");
		rc = SALVE_OK;
	} else if (rc == SALVE_OK) {
		*result = json_pack("{s:s, s:s, s:b, s:O?}", "namespace", t.ns, "name", t.name,
		                    "deleted", 1, "uid", k8s_ptr_get(resp.json, "/metadata/uid"));
	}
	k8s_resp_clear(&resp);
	return rc;
}

int kube_delete_pod_plan(salve_call *call, const json_t *args, json_t **predicted)
{
	return delete_pod(call, args, 1, predicted);
}

int kube_delete_pod_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo)
{
	*undo = NULL;
	return delete_pod(call, args, 0, result);
}
