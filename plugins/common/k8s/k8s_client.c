/* The HTTP side of the Kubernetes client: a pool of keep-alive curl handles configured from
 * the resolved kubeconfig, retries with backoff, Status errors, and discovery. */
#include "k8s.h"

#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_MAX       8
#define MAX_ATTEMPTS   6
#define MAX_BODY_BYTES (64u << 20)
#define TOKEN_FILE_TTL 60.0 /* client-go re-reads a token file every minute */
#define BACKOFF_BASE   0.2
#define BACKOFF_CAP    5.0

struct k8s_client {
	pthread_mutex_t lock;
	char *kubeconfig;
	char *context;
	double request_timeout;
	int loaded;
	k8s_config cfg;
	CURL *idle[POOL_MAX];
	size_t nidle;
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
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "cannot initialise libcurl");
		return -1;
	}
	curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
	if (!(info->features & CURL_VERSION_SSL)) {
		curl_global_cleanup();
		snprintf(err, errlen, "libcurl %s was built without TLS", info->version);
		return -1;
	}
	k8s_client *c = calloc(1, sizeof *c);
	if (!c) {
		curl_global_cleanup();
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
	for (size_t i = 0; i < c->nidle; i++)
		curl_easy_cleanup(c->idle[i]);
	k8s_config_free(&c->cfg);
	if (c->file_token) {
		memset(c->file_token, 0, strlen(c->file_token));
		free(c->file_token);
	}
	free(c->kubeconfig);
	free(c->context);
	pthread_mutex_destroy(&c->lock);
	free(c);
	curl_global_cleanup();
}

/* Load the kubeconfig on first use. Failures are not cached: a fixed kubeconfig works on the
 * next call without a restart. */
static int ensure_loaded(k8s_ctx *ctx)
{
	k8s_client *c = ctx->client;
	char err[1024];
	pthread_mutex_lock(&c->lock);
	int rc = 0;
	if (!c->loaded) {
		if (k8s_config_load(c->kubeconfig, c->context, &c->cfg, err, sizeof err) == 0) {
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

static CURL *new_handle(k8s_client *c)
{
	CURL *h = curl_easy_init();
	if (!h)
		return NULL;
	const k8s_config *cfg = &c->cfg;
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "salve/" SALVE_VERSION " (kubernetes client)");
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	if (cfg->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	} else {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	}
	if (cfg->ca_data.data) {
		struct curl_blob blob = {cfg->ca_data.data, cfg->ca_data.len, CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
	} else if (cfg->ca_file) {
		curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
	}
	if (cfg->cert_data.data) {
		struct curl_blob blob = {cfg->cert_data.data, cfg->cert_data.len, CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
	} else if (cfg->cert_file) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, cfg->cert_file);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (cfg->key_data.data) {
		struct curl_blob blob = {cfg->key_data.data, cfg->key_data.len, CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	} else if (cfg->key_file) {
		curl_easy_setopt(h, CURLOPT_SSLKEY, cfg->key_file);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (cfg->username && cfg->password) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, cfg->username);
		curl_easy_setopt(h, CURLOPT_PASSWORD, cfg->password);
	}
	if (cfg->proxy_url)
		curl_easy_setopt(h, CURLOPT_PROXY, cfg->proxy_url);
	return h;
}

static CURL *pool_acquire(k8s_client *c)
{
	CURL *h = NULL;
	pthread_mutex_lock(&c->lock);
	if (c->nidle > 0)
		h = c->idle[--c->nidle];
	pthread_mutex_unlock(&c->lock);
	return h ? h : new_handle(c);
}

static void pool_release(k8s_client *c, CURL *h)
{
	pthread_mutex_lock(&c->lock);
	if (c->nidle < POOL_MAX) {
		c->idle[c->nidle++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	if (h)
		curl_easy_cleanup(h);
}

struct body_buf {
	char *data;
	size_t len;
	int too_big;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct body_buf *b = userdata;
	size_t n = size * nmemb;
	if (b->len + n > MAX_BODY_BYTES) {
		b->too_big = 1;
		return 0;
	}
	char *grown = realloc(b->data, b->len + n + 1);
	if (!grown)
		return 0;
	memcpy(grown + b->len, ptr, n);
	b->data = grown;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	k8s_ctx *ctx = userdata;
	return ctx->host->cancelled(ctx->call) ? 1 : 0;
}

/* Exponential backoff for failures that carry no Retry-After. */
static double backoff(int attempt)
{
	double wait = BACKOFF_BASE * pow(2, attempt - 1);
	return wait < BACKOFF_CAP ? wait : BACKOFF_CAP;
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

static int retryable_status(long status)
{
	return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
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

static int transport_retryable(CURLcode res, const char *method)
{
	if (res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST ||
	    res == CURLE_COULDNT_RESOLVE_PROXY)
		return 1; /* nothing was sent */
	if (strcmp(method, "GET") == 0)
		return res == CURLE_RECV_ERROR || res == CURLE_SEND_ERROR ||
		       res == CURLE_GOT_NOTHING || res == CURLE_OPERATION_TIMEDOUT ||
		       res == CURLE_PARTIAL_FILE;
	return 0;
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

/* One HTTP exchange on handle h. Returns the curl code; fills status and body. */
static CURLcode perform(k8s_ctx *ctx, CURL *h, const char *method, const char *url,
                        const char *ctype, const char *payload, unsigned flags, const char *token,
                        double timeout, long *status, struct body_buf *body, char *errbuf)
{
	struct curl_slist *headers = NULL;
	char auth[16400];
	headers = curl_slist_append(headers, (flags & K8S_TEXT) ? "Accept: */*"
	                                                        : "Accept: application/json");
	if (payload) {
		char ct[128];
		snprintf(ct, sizeof ct, "Content-Type: %s", ctype ? ctype : "application/json");
		headers = curl_slist_append(headers, ct);
	}
	if (token) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
		headers = curl_slist_append(headers, auth);
		memset(auth, 0, sizeof auth);
	}
	headers = curl_slist_append(headers, "Expect:");

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, ctx);
	long ms = (long)(timeout * 1000.0);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms > 1 ? ms : 1L);
	if (payload) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, strcmp(method, "GET") ? method : NULL);
	}
	errbuf[0] = '\0';
	CURLcode res = curl_easy_perform(h);
	*status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	/* Wipe the copy of the token curl holds before the list is freed. */
	for (struct curl_slist *l = headers; l; l = l->next)
		if (strncmp(l->data, "Authorization:", 14) == 0)
			memset(l->data, 0, strlen(l->data));
	curl_slist_free_all(headers);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	return res;
}

/* What one attempt came to: the status for the caller and, when the request may be sent
 * again, why (NULL: it may not) and after how many seconds. */
struct outcome {
	int rc;
	const char *why;
	double wait;
};

/* curl got no HTTP answer: fail the call saying why, and judge whether to send it again. */
static void transport_failed(k8s_ctx *ctx, const char *method, const char *path, CURLcode res,
                             int too_big, const char *errbuf, double took, int attempt,
                             struct outcome *o)
{
	const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(res);
	if (res == CURLE_ABORTED_BY_CALLBACK) {
		ctx->host->fail(ctx->call, "%s %s: cancelled", method, path);
		o->rc = SALVE_ERR_CANCELED;
	} else if (too_big) {
		ctx->host->fail(ctx->call, "%s %s: response larger than %u bytes", method, path,
		                MAX_BODY_BYTES);
		o->rc = SALVE_ERR;
	} else if (res == CURLE_OPERATION_TIMEDOUT && ctx->host->remaining(ctx->call) <= 0) {
		ctx->host->fail(ctx->call, "%s %s: the step's deadline passed (%s)", method, path,
		                detail);
		o->rc = SALVE_ERR_TIMEOUT;
	} else {
		ctx->host->fail(ctx->call, "%s %s%s: %s", method, ctx->client->cfg.server, path,
		                detail);
		o->rc = transport_retryable(res, method) ? SALVE_ERR_RETRY : SALVE_ERR;
		if (o->rc == SALVE_ERR_RETRY) {
			o->why = detail;
			o->wait = backoff(attempt);
		}
	}
	ctx->host->log(ctx->call, SALVE_LOG_DEBUG, "kubernetes: %s %s -> %s (%.0f ms)", method,
	               path, detail, took * 1000);
}

/* The server answered: fill resp (a text body moves out of buf), audit a write, and judge the
 * status: a 429 (unless flags say it is an answer) and 5xx may be sent again. */
static void answered(k8s_ctx *ctx, CURL *h, const char *method, const char *path, unsigned flags,
                     long status, struct body_buf *buf, double took, int attempt, k8s_resp *resp,
                     struct outcome *o)
{
	long connects = 0;
	curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
	ctx->host->log(ctx->call, SALVE_LOG_DEBUG, "kubernetes: %s %s -> %ld (%.0f ms, %s)", method,
	               path, status, took * 1000,
	               connects ? "new connection" : "kept-alive connection");
	resp->status = status;
	int ok = status >= 200 && status < 300;
	if ((flags & K8S_TEXT) && ok) {
		resp->text = buf->data ? buf->data : strdup("");
		resp->text_len = buf->len;
		buf->data = NULL;
	} else if (buf->data) {
		json_error_t jerr;
		resp->json = json_loadb(buf->data, buf->len, 0, &jerr);
		if (!resp->json && !ok) {
			resp->text = strdup(buf->data); /* a plain-text error body */
			resp->text_len = resp->text ? buf->len : 0;
		}
	}
	if (strcmp(method, "GET") != 0) {
		json_t *data = json_pack("{s:s, s:s, s:I}", "method", method, "path", path,
		                         "status", (json_int_t)status);
		ctx->host->audit(ctx->call, "k8s.request", data);
		json_decref(data);
	}
	if (ok) {
		o->rc = SALVE_OK;
		if (!(flags & K8S_TEXT) && !resp->json) {
			ctx->host->fail(ctx->call, "%s %s: the response is not JSON", method, path);
			o->rc = SALVE_ERR;
		}
		return;
	}
	fail_status(ctx, method, path, status, resp->json, buf->data, "");
	o->rc = status_code(status);
	if (retryable_status(status) && !(status == 429 && (flags & K8S_NO_RETRY_429))) {
		/* A server's Retry-After is honoured as given; curl reports 0 when the header
		 * is absent. */
		curl_off_t after = 0;
		curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &after);
		o->wait = after > 0 ? (double)after : backoff(attempt);
		o->why = "retryable status";
	}
}

/* A retryable failure is sent again unless that was the last attempt or the wait would pass
 * the step's deadline; then the failure says so. */
static int retry_allowed(k8s_ctx *ctx, const char *method, const char *path, int attempt,
                         double wait, const k8s_resp *resp, const char *raw)
{
	char suffix[128];
	if (attempt >= MAX_ATTEMPTS)
		snprintf(suffix, sizeof suffix, "; gave up after %d attempts", attempt);
	else if (wait >= ctx->host->remaining(ctx->call))
		snprintf(suffix, sizeof suffix,
		         "; not retried: waiting %.1fs would pass the step's deadline", wait);
	else
		return 1;
	if (resp->status)
		fail_status(ctx, method, path, resp->status, resp->json, raw, suffix);
	return 0;
}

static void announce_retry(k8s_ctx *ctx, const char *method, const char *path, const k8s_resp *resp,
                           int attempt, const struct outcome *o)
{
	json_t *data =
	    json_pack("{s:s, s:s, s:I, s:i, s:f}", "method", method, "path", path, "status",
	              (json_int_t)resp->status, "attempt", attempt, "wait_seconds", o->wait);
	ctx->host->audit(ctx->call, "k8s.retry", data);
	json_decref(data);
	char what[64];
	if (resp->status)
		snprintf(what, sizeof what, "HTTP %ld", resp->status);
	else
		snprintf(what, sizeof what, "%s", o->why);
	ctx->host->log(ctx->call, SALVE_LOG_INFO,
	               "kubernetes: %s %s failed (%s), retry %d in %.1fs", method, path, what,
	               attempt, o->wait);
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
	size_t ulen = strlen(c->cfg.server) + strlen(path) + strlen(manager) + 1;
	char *url = malloc(ulen);
	char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
	CURL *h = pool_acquire(c);
	if (!url || (body && !payload) || !h) {
		free(url);
		free(payload);
		if (h)
			curl_easy_cleanup(h);
		ctx->host->fail(ctx->call, "%s %s: out of memory", method, path);
		return SALVE_ERR;
	}
	snprintf(url, ulen, "%s%s%s", c->cfg.server, path, manager);

	int rc = SALVE_ERR;
	char errbuf[CURL_ERROR_SIZE];
	for (int attempt = 1;; attempt++) {
		if (ctx->host->cancelled(ctx->call)) {
			ctx->host->fail(ctx->call, "%s %s: cancelled", method, path);
			rc = SALVE_ERR_CANCELED;
			break;
		}
		double remaining = ctx->host->remaining(ctx->call);
		if (remaining <= 0) {
			ctx->host->fail(ctx->call, "%s %s: the step's deadline passed", method,
			                path);
			rc = SALVE_ERR_TIMEOUT;
			break;
		}
		int token_failed;
		char *token = current_token(ctx, &token_failed);
		if (token_failed) {
			rc = SALVE_ERR;
			break;
		}
		double timeout = remaining < c->request_timeout ? remaining : c->request_timeout;
		struct body_buf buf = {0};
		long status = 0;
		double t0 = k8s_mono();
		CURLcode res = perform(ctx, h, method, url, content_type, payload, flags, token,
		                       timeout, &status, &buf, errbuf);
		if (token) {
			memset(token, 0, strlen(token));
			free(token);
		}
		double took = k8s_mono() - t0;
		struct outcome o = {SALVE_ERR, NULL, 0};
		if (res != CURLE_OK)
			transport_failed(ctx, method, path, res, buf.too_big, errbuf, took, attempt,
			                 &o);
		else
			answered(ctx, h, method, path, flags, status, &buf, took, attempt, resp,
			         &o);
		rc = o.rc;
		int again =
		    o.why && retry_allowed(ctx, method, path, attempt, o.wait, resp, buf.data);
		free(buf.data);
		if (!again)
			break;
		announce_retry(ctx, method, path, resp, attempt, &o);
		k8s_resp_clear(resp);
		if (k8s_sleep(ctx, o.wait) != SALVE_OK) {
			ctx->host->fail(ctx->call, "%s %s: cancelled", method, path);
			rc = SALVE_ERR_CANCELED;
			break;
		}
	}
	free(url);
	free(payload);
	pool_release(c, h);
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

const salve_arg k8s_config_args[] = {
    {"kubeconfig", SALVE_T_STRING, 0,
     "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster)"},
    {"context", SALVE_T_STRING, 0, "kubeconfig context (default: current-context)"},
    {"request_timeout", SALVE_T_ANY, 0, "time one HTTP request may take (default 30s)"},
    {NULL, 0, 0, NULL},
};

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
