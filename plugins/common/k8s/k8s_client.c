/* The HTTP side of the Kubernetes client: the host's HTTP client (host->http_request)
 * configured from the resolved kubeconfig, retries, Status errors, and discovery. */
#include "k8s.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ATTEMPTS   6
#define MAX_BODY_BYTES (64u << 20)
#define TOKEN_FILE_TTL 60.0 /* client-go re-reads a token file every minute */

struct k8s_client {
	pthread_mutex_t lock;
	char *kubeconfig;
	char *context;
	double request_timeout;
	int loaded;
	k8s_config cfg;
	/* the host's client for cfg (kept-alive connections), made with the kubeconfig */
	const salve_host *host;
	salve_http_client *http;
	char *file_token;
	double file_token_at;
	const char *eviction_gv;
	const char *hpa_gv;
};

double k8s_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void k8s_now_rfc3339(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int k8s_client_new(const char *kubeconfig, const char *context, double request_timeout,
                   k8s_client **out, char *err, size_t errlen)
{
	*out = NULL;
	k8s_client *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&c->lock, NULL);
	c->kubeconfig = kubeconfig && *kubeconfig ? strdup(kubeconfig) : NULL;
	c->context = context && *context ? strdup(context) : NULL;
	c->request_timeout = request_timeout > 0 ? request_timeout : 30.0;
	*out = c;
	return 0;
}

void k8s_client_free(k8s_client *c)
{
	if (!c)
		return;
	if (c->http)
		c->host->http_client_free(c->http);
	k8s_config_free(&c->cfg);
	if (c->file_token) {
		memset(c->file_token, 0, strlen(c->file_token));
		free(c->file_token);
	}
	free(c->kubeconfig);
	free(c->context);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* The host's HTTP client for a resolved kubeconfig: https only, its CA, client certificate
 * and key, basic auth, proxy-url or else the proxy environment variables (as kubectl reads
 * them), and insecure-skip-tls-verify only when the kubeconfig says so. */
static salve_http_client *http_client_for(k8s_ctx *ctx, const k8s_config *cfg, double timeout)
{
	salve_http_options o = {
	    .struct_size = sizeof o,
	    .protocols = "https",
	    .user_agent = "salve/" SALVE_VERSION " (kubernetes client)",
	    .ca_file = cfg->ca_file,
	    .ca_pem = (const char *)cfg->ca_data.data,
	    .ca_pem_len = cfg->ca_data.len,
	    .cert_file = cfg->cert_file,
	    .cert_pem = (const char *)cfg->cert_data.data,
	    .cert_pem_len = cfg->cert_data.len,
	    .key_file = cfg->key_file,
	    .key_pem = (const char *)cfg->key_data.data,
	    .key_pem_len = cfg->key_data.len,
	    .username = cfg->password ? cfg->username : NULL,
	    .password = cfg->username ? cfg->password : NULL,
	    .insecure = cfg->insecure,
	    .proxy = cfg->proxy_url,
	    .proxy_from_env = 1,
	    .request_timeout = timeout,
	    .max_response = MAX_BODY_BYTES,
	};
	return ctx->host->http_client(ctx->call, &o);
}

/* Load the kubeconfig on first use. Failures are not cached: a fixed kubeconfig works on the
 * next call without a restart. */
static int ensure_loaded(k8s_ctx *ctx)
{
	k8s_client *c = ctx->client;
	char err[1024];
	pthread_mutex_lock(&c->lock);
	int rc = 0;
	if (!c->loaded && !SALVE_HOST_HAS(ctx->host, http_request)) {
		snprintf(err, sizeof err, "this salve has no HTTP client service (ABI 1.2 needed)");
		rc = -1;
	} else if (!c->loaded) {
		if (k8s_config_load(c->kubeconfig, c->context, &c->cfg, err, sizeof err) == 0 &&
		    !(c->http = http_client_for(ctx, &c->cfg, c->request_timeout))) {
			snprintf(err, sizeof err, "cannot create the HTTP client");
			k8s_config_free(&c->cfg);
			memset(&c->cfg, 0, sizeof c->cfg);
			rc = -1;
		} else if (c->http) {
			c->host = ctx->host;
			c->loaded = 1;
			k8s_config_register_secrets(&c->cfg, ctx->host, ctx->call);
			ctx->host->log(ctx->call, SALVE_LOG_DEBUG,
			               "kubernetes: context %s (cluster %s, server %s) from %s",
			               c->cfg.context, c->cfg.cluster, c->cfg.server,
			               c->cfg.source);
		} else {
			rc = -1;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (rc < 0)
		ctx->host->fail(ctx->call, "kubernetes configuration: %s", err);
	return rc;
}

const char *k8s_default_namespace(k8s_ctx *ctx)
{
	if (ensure_loaded(ctx) < 0 || !ctx->client->cfg.namespace)
		return "default";
	return ctx->client->cfg.namespace;
}

/* The bearer token, from the kubeconfig or re-read from its token file. Returns a malloc'd
 * copy (the caller wipes and frees it), NULL when the user has none; -1 in *failed when the
 * token file cannot be read. */
static char *current_token(k8s_ctx *ctx, int *failed)
{
	k8s_client *c = ctx->client;
	*failed = 0;
	if (c->cfg.token)
		return strdup(c->cfg.token);
	if (!c->cfg.token_file)
		return NULL;
	char *copy = NULL;
	pthread_mutex_lock(&c->lock);
	double now = k8s_mono();
	if (!c->file_token || now - c->file_token_at > TOKEN_FILE_TTL) {
		FILE *f = fopen(c->cfg.token_file, "r");
		char buf[16384];
		size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
		if (f)
			fclose(f);
		buf[n] = '\0';
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
			buf[--n] = '\0';
		if (n > 0) {
			if (c->file_token) {
				memset(c->file_token, 0, strlen(c->file_token));
				free(c->file_token);
			}
			c->file_token = strdup(buf);
			c->file_token_at = now;
			k8s_register_secret(ctx->host, ctx->call, c->file_token);
		}
		memset(buf, 0, sizeof buf);
	}
	if (c->file_token)
		copy = strdup(c->file_token);
	else
		*failed = 1;
	pthread_mutex_unlock(&c->lock);
	if (*failed)
		ctx->host->fail(ctx->call, "cannot read the bearer token file %s",
		                c->cfg.token_file);
	return copy;
}

int k8s_sleep(k8s_ctx *ctx, double seconds)
{
	double end = k8s_mono() + seconds;
	for (;;) {
		if (ctx->host->cancelled(ctx->call))
			return SALVE_ERR_CANCELED;
		double left = end - k8s_mono();
		if (left <= 0)
			return SALVE_OK;
		double slice = left < 0.05 ? left : 0.05;
		struct timespec ts = {(time_t)slice, (long)((slice - (double)(time_t)slice) * 1e9)};
		nanosleep(&ts, NULL);
	}
}

void k8s_resp_clear(k8s_resp *resp)
{
	json_decref(resp->json);
	free(resp->text);
	memset(resp, 0, sizeof *resp);
}

static int status_code(long status)
{
	if (status == 404)
		return SALVE_ERR_NOTFOUND;
	if (status == 400 || status == 422)
		return SALVE_ERR_INVALID;
	if (status == 429 || status >= 500)
		return SALVE_ERR_RETRY;
	return SALVE_ERR;
}

/* The message people read for a failed response: the Status message and the code. */
static void fail_status(k8s_ctx *ctx, const char *method, const char *path, long status,
                        const json_t *body, const char *raw, const char *suffix)
{
	const char *msg = json_string_value(json_object_get(body, "message"));
	if (!msg || !*msg)
		msg = json_string_value(json_object_get(body, "reason"));
	if (msg && *msg) {
		ctx->host->fail(ctx->call, "%s (%ld)%s", msg, status, suffix);
		return;
	}
	char snippet[201] = "";
	if (raw) {
		size_t i = 0;
		for (; raw[i] && i < 200; i++)
			snippet[i] = (raw[i] >= 0x20 && raw[i] < 0x7f) ? raw[i] : ' ';
		snippet[i] = '\0';
	}
	ctx->host->fail(ctx->call, "%s %s: HTTP %ld%s%s%s", method, path, status,
	                *snippet ? ": " : "", snippet, suffix);
}

static void audit_insecure(k8s_ctx *ctx)
{
	if (!ctx->client->cfg.insecure || ctx->insecure_audited)
		return;
	ctx->insecure_audited = 1;
	json_t *data =
	    json_pack("{s:s, s:s, s:s, s:s}", "server", ctx->client->cfg.server, "context",
	              ctx->client->cfg.context, "cluster", ctx->client->cfg.cluster, "reason",
	              "insecure-skip-tls-verify is set in the kubeconfig");
	ctx->host->audit(ctx->call, "k8s.tls_unverified", data);
	ctx->host->log(ctx->call, SALVE_LOG_WARN,
	               "kubernetes: TLS verification is off for %s (insecure-skip-tls-verify in "
	               "context %s)",
	               ctx->client->cfg.server, ctx->client->cfg.context);
	json_decref(data);
}

/* What k8s_request's callbacks need to know about the request. */
struct exchange {
	k8s_ctx *ctx;
	const char *method;
	const char *path;
	unsigned flags;
};

/* 429 and 500/502/503/504 are load or a passing failure: send again (a 429 that is an answer,
 * an eviction a PodDisruptionBudget blocks, is not). */
static int judge(void *ud, const salve_http_attempt *a)
{
	const struct exchange *x = ud;
	long s = a->status;
	if (s == 429)
		return (x->flags & K8S_NO_RETRY_429) ? SALVE_OK : SALVE_ERR_RETRY;
	return s == 500 || s == 502 || s == 503 || s == 504 ? SALVE_ERR_RETRY : SALVE_OK;
}

/* Each attempt: a debug line, a write's audit record, and a retry announced. */
static void attempted(void *ud, const salve_http_attempt *a)
{
	const struct exchange *x = ud;
	k8s_ctx *ctx = x->ctx;
	if (a->status)
		ctx->host->log(ctx->call, SALVE_LOG_DEBUG, "kubernetes: %s %s -> %ld (%.0f ms, %s)",
		               x->method, x->path, a->status, a->duration * 1000,
		               a->new_connection ? "new connection" : "kept-alive connection");
	else
		ctx->host->log(ctx->call, SALVE_LOG_DEBUG, "kubernetes: %s %s -> %s (%.0f ms)",
		               x->method, x->path, a->error ? a->error : a->result,
		               a->duration * 1000);
	if (a->status && strcmp(x->method, "GET") != 0) {
		json_t *data = json_pack("{s:s, s:s, s:I}", "method", x->method, "path", x->path,
		                         "status", (json_int_t)a->status);
		ctx->host->audit(ctx->call, "k8s.request", data);
		json_decref(data);
	}
	if (strcmp(a->result, "retry") != 0)
		return;
	json_t *data =
	    json_pack("{s:s, s:s, s:I, s:i, s:f}", "method", x->method, "path", x->path, "status",
	              (json_int_t)a->status, "attempt", a->number, "wait_seconds", a->wait);
	ctx->host->audit(ctx->call, "k8s.retry", data);
	json_decref(data);
	char what[64];
	if (a->status)
		snprintf(what, sizeof what, "HTTP %ld", a->status);
	else
		snprintf(what, sizeof what, "%s", a->error ? a->error : "no answer");
	ctx->host->log(ctx->call, SALVE_LOG_INFO,
	               "kubernetes: %s %s failed (%s), retry %d in %.1fs", x->method, x->path, what,
	               a->number, a->wait);
}

/* The server answered: fill resp (a text body moves out of http) and judge the status. */
static int answered(k8s_ctx *ctx, const char *method, const char *path, unsigned flags,
                    salve_http_response *http, k8s_resp *resp)
{
	long status = http->status;
	resp->status = status;
	int ok = status >= 200 && status < 300;
	if ((flags & K8S_TEXT) && ok) {
		resp->text = http->body ? http->body : strdup("");
		resp->text_len = http->body_len;
		http->body = NULL;
	} else if (http->body) {
		json_error_t jerr;
		resp->json = json_loadb(http->body, http->body_len, 0, &jerr);
		if (!resp->json && !ok) {
			resp->text = strdup(http->body); /* a plain-text error body */
			resp->text_len = resp->text ? http->body_len : 0;
		}
	}
	if (ok) {
		if (!(flags & K8S_TEXT) && !resp->json) {
			ctx->host->fail(ctx->call, "%s %s: the response is not JSON", method, path);
			return SALVE_ERR;
		}
		return SALVE_OK;
	}
	char suffix[128] = "";
	if (http->stopped == SALVE_HTTP_STOP_ATTEMPTS)
		snprintf(suffix, sizeof suffix, "; gave up after %d attempts", http->attempts);
	else if (http->stopped)
		snprintf(suffix, sizeof suffix,
		         "; not retried: waiting %.1fs would pass the step's deadline", http->wait);
	fail_status(ctx, method, path, status, resp->json, http->body, suffix);
	return status_code(status);
}

int k8s_request(k8s_ctx *ctx, const char *method, const char *path, const char *content_type,
                const json_t *body, unsigned flags, k8s_resp *resp)
{
	memset(resp, 0, sizeof *resp);
	if (ensure_loaded(ctx) < 0)
		return SALVE_ERR_INVALID;
	k8s_client *c = ctx->client;
	audit_insecure(ctx);

	/* Writes name salve as their field manager, so managedFields say who changed what. */
	int writes = strcmp(method, "PATCH") == 0 || strcmp(method, "PUT") == 0 ||
	             strcmp(method, "POST") == 0;
	const char *manager =
	    writes ? (strchr(path, '?') ? "&fieldManager=salve" : "?fieldManager=salve") : "";
	char *url = NULL, *ctype = NULL;
	char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (asprintf(&url, "%s%s%s", c->cfg.server, path, manager) < 0)
		url = NULL;
	if (payload && asprintf(&ctype, "Content-Type: %s",
	                        content_type ? content_type : "application/json") < 0)
		ctype = NULL;
	if (!url || (body && (!payload || !ctype))) {
		free(url);
		free(payload);
		free(ctype);
		ctx->host->fail(ctx->call, "%s %s: out of memory", method, path);
		return SALVE_ERR;
	}
	int token_failed;
	char *token = current_token(ctx, &token_failed);
	if (token_failed) {
		free(url);
		free(payload);
		free(ctype);
		return SALVE_ERR;
	}
	const char *headers[] = {(flags & K8S_TEXT) ? "Accept: */*" : "Accept: application/json",
	                         ctype, NULL};
	struct exchange x = {ctx, method, path, flags};
	salve_http_request req = {.struct_size = sizeof req,
	                          .method = method,
	                          .url = url,
	                          .headers = headers,
	                          .body = payload,
	                          .body_len = payload ? strlen(payload) : 0,
	                          .bearer_token = token,
	                          /* a GET may be sent again after a lost connection */
	                          .flags = strcmp(method, "GET") == 0 ? SALVE_HTTP_RETRY_IO : 0,
	                          .attempts = MAX_ATTEMPTS,
	                          .judge = judge,
	                          .attempted = attempted,
	                          .ud = &x};
	salve_http_response http;
	int rc = ctx->host->http_request(ctx->call, c->http, &req, &http);
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	if (rc == SALVE_OK)
		rc = answered(ctx, method, path, flags, &http, resp);
	else if (rc == SALVE_ERR_CANCELED || rc == SALVE_ERR_TIMEOUT)
		ctx->host->fail(ctx->call, "%s %s: %s", method, path, http.error);
	else
		ctx->host->fail(ctx->call, "%s %s%s: %s", method, c->cfg.server, path, http.error);
	ctx->host->http_response_clear(&http);
	free(url);
	free(payload);
	free(ctype);
	return rc;
}

int k8s_get(k8s_ctx *ctx, const char *path, unsigned flags, json_t **out)
{
	k8s_resp resp;
	*out = NULL;
	int rc = k8s_request(ctx, "GET", path, NULL, NULL, flags, &resp);
	if (rc == SALVE_OK) {
		*out = resp.json;
		resp.json = NULL;
	}
	k8s_resp_clear(&resp);
	return rc;
}

static int has_version(const json_t *group, const char *version)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(group, "versions"), i, v)
	{
		const char *s = json_string_value(json_object_get(v, "version"));
		if (s && strcmp(s, version) == 0)
			return 1;
	}
	return 0;
}

int k8s_discover_eviction(k8s_ctx *ctx, const char **gv)
{
	k8s_client *c = ctx->client;
	pthread_mutex_lock(&c->lock);
	*gv = c->eviction_gv;
	pthread_mutex_unlock(&c->lock);
	if (*gv)
		return SALVE_OK;
	/* kubectl drain: the pods/eviction subresource in /api/v1 names its group/version. */
	json_t *list = NULL;
	int rc = k8s_get(ctx, "/api/v1", 0, &list);
	if (rc != SALVE_OK && rc != SALVE_ERR_NOTFOUND)
		return rc;
	size_t i;
	json_t *res;
	json_array_foreach(json_object_get(list, "resources"), i, res)
	{
		const char *name = json_string_value(json_object_get(res, "name"));
		const char *group = json_string_value(json_object_get(res, "group"));
		const char *version = json_string_value(json_object_get(res, "version"));
		if (!name || strcmp(name, "pods/eviction") != 0)
			continue;
		if (group && strcmp(group, "policy") == 0 && version && strcmp(version, "v1") == 0)
			*gv = "policy/v1";
		else if (group && strcmp(group, "policy") == 0 && version &&
		         strcmp(version, "v1beta1") == 0)
			*gv = "policy/v1beta1";
	}
	json_decref(list);
	if (!*gv) {
		/* Older discovery documents do not name the subresource's version: ask the
		 * policy group which versions it serves. */
		json_t *group = NULL;
		rc = k8s_get(ctx, "/apis/policy", 0, &group);
		if (rc == SALVE_ERR_NOTFOUND) {
			ctx->host->fail(
			    ctx->call,
			    "the API server serves no policy API group: pod eviction is not "
			    "available");
			return SALVE_ERR;
		}
		if (rc != SALVE_OK)
			return rc;
		*gv = has_version(group, "v1")        ? "policy/v1"
		      : has_version(group, "v1beta1") ? "policy/v1beta1"
		                                      : NULL;
		json_decref(group);
		if (!*gv) {
			ctx->host->fail(
			    ctx->call, "the API server serves neither policy/v1 nor policy/v1beta1 "
			               "evictions");
			return SALVE_ERR;
		}
	}
	pthread_mutex_lock(&c->lock);
	c->eviction_gv = *gv;
	pthread_mutex_unlock(&c->lock);
	ctx->host->log(ctx->call, SALVE_LOG_DEBUG, "kubernetes: evictions use %s", *gv);
	return SALVE_OK;
}

int k8s_discover_hpa(k8s_ctx *ctx, const char **gv)
{
	k8s_client *c = ctx->client;
	pthread_mutex_lock(&c->lock);
	*gv = c->hpa_gv;
	pthread_mutex_unlock(&c->lock);
	if (*gv)
		return SALVE_OK;
	json_t *group = NULL;
	int rc = k8s_get(ctx, "/apis/autoscaling", 0, &group);
	if (rc != SALVE_OK)
		return rc;
	*gv = has_version(group, "v2")        ? "autoscaling/v2"
	      : has_version(group, "v2beta2") ? "autoscaling/v2beta2"
	      : has_version(group, "v1")      ? "autoscaling/v1"
	                                      : NULL;
	json_decref(group);
	if (!*gv) {
		ctx->host->fail(ctx->call,
		                "the API server serves no HorizontalPodAutoscaler version "
		                "salve knows (autoscaling/v2, v2beta2, v1)");
		return SALVE_ERR;
	}
	pthread_mutex_lock(&c->lock);
	c->hpa_gv = *gv;
	pthread_mutex_unlock(&c->lock);
	return SALVE_OK;
}

const salve_setting k8s_settings[] = {K8S_SETTINGS, {.name = NULL}};

int k8s_client_from_config(const char *plugin, const json_t *config, k8s_client **out, char *err,
                           size_t errlen)
{
	json_t *kc = json_object_get(config, "kubeconfig");
	json_t *ctx = json_object_get(config, "context");
	json_t *rt = json_object_get(config, "request_timeout");
	double timeout = 30;
	*out = NULL;
	if ((kc && !json_is_string(kc)) || (ctx && !json_is_string(ctx))) {
		snprintf(err, errlen, "%s: kubeconfig and context must be strings", plugin);
		return -1;
	}
	if (rt && (salve_duration_from_json(rt, &timeout) < 0 || timeout <= 0)) {
		snprintf(err, errlen,
		         "%s: request_timeout must be a duration such as \"30s\" or seconds",
		         plugin);
		return -1;
	}
	return k8s_client_new(json_string_value(kc), json_string_value(ctx), timeout, out, err,
	                      errlen);
}
