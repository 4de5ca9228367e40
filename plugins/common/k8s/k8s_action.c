/* Helpers every Kubernetes action uses to read its arguments the same way. */
#include "k8s.h"

#include <stdarg.h>
#include <stdio.h>
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
