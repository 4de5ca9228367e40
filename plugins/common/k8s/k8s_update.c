/* Writes with optimistic concurrency: every change is based on an object we read, carries its
 * resourceVersion, and is rebuilt from a fresh read when the server answers 409 Conflict. */
#include "k8s.h"

#include <stdio.h>
#include <string.h>

#define MAX_CONFLICTS 5

void k8s_dry_run_path(char *buf, size_t len, const char *path)
{
	snprintf(buf, len, "%s%cdryRun=All", path, strchr(path, '?') ? '&' : '?');
}

/* What to send to turn current into desired, carrying current's resourceVersion: the whole
 * object (K8S_UPDATE_PUT) or the merge patch of the difference (also in *diff, without the
 * resourceVersion). NULL when there is nothing to change. */
static json_t *update_body(unsigned mode, const json_t *current, json_t *desired, json_t **diff)
{
	const char *rv = json_string_value(k8s_ptr_get(current, "/metadata/resourceVersion"));
	*diff = NULL;
	if (mode & K8S_UPDATE_PUT) {
		if (k8s_semantic_equal(current, desired))
			return NULL;
		json_t *body = json_incref(desired);
		json_t *meta = json_object_get(body, "metadata");
		if (json_is_object(meta) && rv)
			json_object_set_new(meta, "resourceVersion", json_string(rv));
		return body;
	}
	*diff = k8s_merge_diff(current, desired);
	if (json_object_size(*diff) == 0)
		return NULL;
	json_t *body = json_deep_copy(*diff);
	json_t *meta = k8s_child_object(body, "metadata");
	if (rv)
		json_object_set_new(meta, "resourceVersion", json_string(rv));
	return body;
}

/* A successful update's outputs, each handed over when wanted and released otherwise. */
static int updated(json_t *current, json_t *answer, json_t *diff, json_t **before, json_t **after,
                   json_t **patch)
{
	if (before)
		*before = current;
	else
		json_decref(current);
	if (after)
		*after = answer;
	else
		json_decref(answer);
	if (patch)
		*patch = diff;
	else
		json_decref(diff);
	return SALVE_OK;
}

int k8s_update(k8s_ctx *ctx, const char *path, unsigned mode, k8s_build_fn build, void *ud,
               json_t **before, json_t **after, json_t **patch)
{
	return k8s_update_from(ctx, path, mode, NULL, build, ud, before, after, patch);
}

int k8s_update_from(k8s_ctx *ctx, const char *path, unsigned mode, const json_t *seen,
                    k8s_build_fn build, void *ud, json_t **before, json_t **after, json_t **patch)
{
	char target[4096];
	if (mode & K8S_UPDATE_DRY_RUN)
		k8s_dry_run_path(target, sizeof target, path);
	else
		snprintf(target, sizeof target, "%s", path);
	if (before)
		*before = NULL;
	if (after)
		*after = NULL;
	if (patch)
		*patch = NULL;

	for (int attempt = 1;; attempt++) {
		json_t *current = NULL, *desired = NULL, *diff = NULL;
		int rc = SALVE_OK;
		if (attempt == 1 && seen) /* read a moment ago: a 409 says when it is stale */
			current = json_deep_copy(seen);
		else
			rc = k8s_get(ctx, path, 0, &current);
		if (rc != SALVE_OK)
			return rc;
		rc = build(ctx, current, &desired, ud);
		if (rc != SALVE_OK) {
			json_decref(current);
			json_decref(desired);
			return rc;
		}
		json_t *body = update_body(mode, current, desired, &diff);
		json_decref(desired);
		if (!body) /* already as wanted: nothing to send */
			return updated(current, after ? json_deep_copy(current) : NULL, diff,
			               before, after, patch);
		k8s_resp resp;
		rc = k8s_request(ctx, (mode & K8S_UPDATE_PUT) ? "PUT" : "PATCH", target,
		                 (mode & K8S_UPDATE_PUT) ? "application/json" : K8S_MERGE_PATCH,
		                 body, 0, &resp);
		json_decref(body);
		if (rc == SALVE_OK) {
			json_t *answer = resp.json;
			resp.json = NULL;
			k8s_resp_clear(&resp);
			return updated(current, answer, diff, before, after, patch);
		}
		long status = resp.status;
		k8s_resp_clear(&resp);
		json_decref(current);
		json_decref(diff);
		if (status != 409 || attempt >= MAX_CONFLICTS)
			return rc;
		json_t *data = json_pack("{s:s, s:i}", "path", path, "attempt", attempt);
		ctx->host->audit(ctx->call, "k8s.conflict", data);
		json_decref(data);
		ctx->host->log(ctx->call, SALVE_LOG_INFO,
		               "kubernetes: %s changed while we wrote it (409); reading it again",
		               path);
	}
}
