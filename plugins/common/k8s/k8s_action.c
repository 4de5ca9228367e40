/* Helpers every Kubernetes action uses to read its arguments the same way, and the one driver
 * that runs every mutation's check, plan, apply and undo. */
#include "k8s.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void k8s_ctx_init(k8s_ctx *ctx, k8s_client *client, const salve_host *host, salve_call *call)
{
	memset(ctx, 0, sizeof *ctx);
	ctx->client = client;
	ctx->host = host;
	ctx->call = call;
}

int k8s_invalid(k8s_ctx *ctx, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	ctx->host->fail(ctx->call, "%s", msg);
	return SALVE_ERR_INVALID;
}

const char *k8s_arg_str(const json_t *args, const char *name)
{
	return json_string_value(json_object_get(args, name));
}

int k8s_arg_bool(const json_t *args, const char *name, int dflt)
{
	json_t *v = json_object_get(args, name);
	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

const char *k8s_arg_namespace(k8s_ctx *ctx, const json_t *args)
{
	json_t *v = json_object_get(args, "namespace");
	const char *ns = json_string_value(v);
	char err[512];
	if (v && !ns) {
		k8s_invalid(ctx, "argument \"namespace\" must be a string");
		return NULL;
	}
	if (!ns)
		ns = k8s_default_namespace(ctx);
	if (k8s_check_label("namespace", ns, err, sizeof err) < 0) {
		k8s_invalid(ctx, "%s", err);
		return NULL;
	}
	return ns;
}

const k8s_kind *k8s_arg_kind(k8s_ctx *ctx, const json_t *args, const char *dflt,
                             const char *const *allowed)
{
	const char *name = k8s_arg_str(args, "kind");
	if (!name)
		name = dflt;
	if (!name) {
		k8s_invalid(ctx, "argument \"kind\" is required");
		return NULL;
	}
	const k8s_kind *k = k8s_kind_find(name);
	int ok = k != NULL;
	if (ok && allowed) {
		ok = 0;
		for (const char *const *a = allowed; *a; a++)
			ok |= strcmp(*a, k->kind) == 0;
	}
	if (!ok) {
		char list[256] = "";
		for (const char *const *a = allowed; a && *a; a++) {
			size_t n = strlen(list);
			snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", *a);
		}
		k8s_invalid(ctx, "argument \"kind\": %.64s is not %s%s", name,
		            allowed ? "one of " : "a kind salve knows", allowed ? list : "");
		return NULL;
	}
	return k;
}

int k8s_arg_wait(k8s_ctx *ctx, const json_t *args, double *timeout, double *interval)
{
	*timeout = 300;
	*interval = 1;
	json_t *t = json_object_get(args, "timeout");
	json_t *iv = json_object_get(args, "interval");
	if (t && salve_duration_from_json(t, timeout) < 0)
		return k8s_invalid(ctx, "argument \"timeout\": expected a duration such as \"5m\"");
	if (iv && (salve_duration_from_json(iv, interval) < 0 || *interval <= 0))
		return k8s_invalid(ctx,
		                   "argument \"interval\": expected a duration such as \"2s\"");
	return SALVE_OK;
}

int k8s_path(k8s_ctx *ctx, char *buf, size_t len, const k8s_kind *k, const char *version,
             const char *ns, const char *name, const char *name_arg, const char *subresource)
{
	char err[512];
	int rc =
	    k8s_object_path(buf, len, k, version, ns, name, name_arg, subresource, err, sizeof err);
	if (rc != SALVE_OK)
		ctx->host->fail(ctx->call, "%s", err);
	return rc;
}

void k8s_describe(char *buf, size_t len, const k8s_kind *k, const char *ns, const char *name)
{
	if (k->namespaced)
		snprintf(buf, len, "%s %s/%s", k->kind, ns, name);
	else
		snprintf(buf, len, "%s %s", k->kind, name);
}

/* ---- the mutation driver --------------------------------------------------------------------- */

/* The call's context and the mutation's state, filled by m->parse from args. */
static int begin(const k8s_mutation *m, const salve_host *host, salve_call *call,
                 const json_t *args, k8s_ctx *ctx, void **state)
{
	k8s_ctx_init(ctx, host->state(call), host, call);
	*state = calloc(1, m->state_size);
	if (!*state) {
		host->fail(call, "out of memory");
		return SALVE_ERR;
	}
	return m->parse(ctx, args, *state);
}

static void end(const k8s_mutation *m, void *state)
{
	if (state && m->clear)
		m->clear(state);
	free(state);
}

const json_t *k8s_observed_object(const json_t *observed, const char *path)
{
	const char *p = json_string_value(json_object_get(observed, "k8s_path"));
	json_t *obj = json_object_get(observed, K8S_OBSERVED_OBJECT);
	return p && path && strcmp(p, path) == 0 && json_is_object(obj) ? obj : NULL;
}

/* What check read, when the host hands check's observed to this plan or apply. */
static const json_t *seen_by_check(k8s_ctx *ctx, const char *path)
{
	if (!SALVE_HOST_HAS(ctx->host, observed))
		return NULL;
	return k8s_observed_object(ctx->host->observed(ctx->call), path);
}

static int write_target(const k8s_mutation *m, k8s_ctx *ctx, void *state, unsigned mode,
                        json_t **before, json_t **after, json_t **patch)
{
	if (m->write)
		return m->write(ctx, state, mode, before, after, patch);
	const k8s_target *t = state;
	const json_t *seen = before ? seen_by_check(ctx, t->path) : NULL; /* none for an undo */
	return k8s_update_from(ctx, t->path, mode | m->update_mode, seen, m->build, state, before,
	                       after, patch);
}

int k8s_mutation_check(const k8s_mutation *m, const salve_host *host, salve_call *call,
                       const json_t *args, json_t **observed)
{
	k8s_ctx ctx;
	void *state = NULL;
	int rc = begin(m, host, call, args, &ctx, &state);
	if (rc == SALVE_OK && m->observe) {
		const k8s_target *t = state;
		json_t *current = NULL;
		rc = k8s_get(&ctx, t->path, 0, &current);
		if (rc == SALVE_OK)
			rc = m->observe(&ctx, state, current, observed);
		if (rc == SALVE_OK && json_is_object(*observed)) {
			/* for plan and apply (not audited: a change is needed) */
			json_object_set(*observed, K8S_OBSERVED_OBJECT, current);
			json_object_set_new(*observed, "k8s_path", json_string(t->path));
		}
		json_decref(current);
	} else if (rc == SALVE_OK) {
		rc = m->check(&ctx, state, observed);
	}
	end(m, state);
	return rc;
}

/* plan and apply: the same write, with or without the server's dry run. undo is NULL for a
 * plan, which makes no undo record. */
static int mutate(const k8s_mutation *m, const salve_host *host, salve_call *call,
                  const json_t *args, unsigned mode, json_t **result, json_t **undo)
{
	k8s_ctx ctx;
	void *state = NULL;
	json_t *before = NULL, *after = NULL, *patch = NULL;
	int rc = begin(m, host, call, args, &ctx, &state);
	if (rc == SALVE_OK)
		rc = write_target(m, &ctx, state, mode, &before, &after, &patch);
	if (rc == SALVE_OK) {
		*result = m->result(&ctx, state, before, after);
		if (undo)
			*undo = m->undo_record ? m->undo_record(state, before, patch) : NULL;
	}
	json_decref(before);
	json_decref(after);
	json_decref(patch);
	end(m, state);
	return rc;
}

int k8s_mutation_plan(const k8s_mutation *m, const salve_host *host, salve_call *call,
                      const json_t *args, json_t **predicted)
{
	return mutate(m, host, call, args, K8S_UPDATE_DRY_RUN, predicted, NULL);
}

int k8s_mutation_apply(const k8s_mutation *m, const salve_host *host, salve_call *call,
                       const json_t *args, json_t **result, json_t **undo)
{
	return mutate(m, host, call, args, 0, result, undo);
}

int k8s_mutation_undo(const k8s_mutation *m, const salve_host *host, salve_call *call,
                      const json_t *undo)
{
	k8s_ctx ctx;
	void *state = NULL;
	json_t *patch = NULL;
	int rc = begin(m, host, call, undo, &ctx, &state);
	if (rc == SALVE_OK)
		rc = write_target(m, &ctx, state, 0, NULL, NULL, &patch);
	if (rc == SALVE_OK)
		m->undone(&ctx, state, patch);
	json_decref(patch);
	end(m, state);
	return rc;
}
