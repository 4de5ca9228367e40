/* The prometheus plugin: instant and range PromQL queries over Prometheus' HTTP API
 * (/api/v1/query, /api/v1/query_range), returning numbers and labelled samples. Read only. */
#include <salve/plugin.h>

#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duration.h"

#define POOL_MAX       4
#define MAX_ATTEMPTS   4
#define MAX_BODY_BYTES (32u << 20)

static const salve_host *H;

struct prom {
	pthread_mutex_t lock;
	char *url;   /* base URL without a trailing '/' */
	char *token; /* bearer token (secret), NULL when none */
	char *ca_file;
	double timeout;
	CURL *idle[POOL_MAX];
	size_t nidle;
};

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A time argument as Prometheus takes it: a number is a Unix time; "now", "now-5m" and "-5m"
 * are relative to now; anything else must be RFC 3339 and is passed through. The result is
 * written into buf. 0, or -1 when it is none of those. */
static int time_arg(const json_t *v, char *buf, size_t len)
{
	if (json_is_number(v)) {
		snprintf(buf, len, "%.3f", json_number_value(v));
		return 0;
	}
	const char *s = json_string_value(v);
	if (!s || !*s)
		return -1;
	double ago = 0;
	if (strcmp(s, "now") == 0) {
		ago = 0;
	} else if (strncmp(s, "now-", 4) == 0 || s[0] == '-') {
		if (salve_parse_duration(s + (s[0] == '-' ? 1 : 4), &ago) < 0)
			return -1;
	} else {
		/* RFC 3339: digits, '-', ':', 'T', 'Z', '.', '+'. Prometheus validates the rest. */
		if (strlen(s) > 40)
			return -1;
		for (const char *p = s; *p; p++)
			if (!strchr("0123456789-:TZ.+tz", *p))
				return -1;
		snprintf(buf, len, "%s", s);
		return 0;
	}
	snprintf(buf, len, "%.3f", wall() - ago);
	return 0;
}

/* ---- HTTP --------------------------------------------------------------------------------------
 */

struct buf {
	char *data;
	size_t len;
	int too_big;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct buf *b = ud;
	size_t n = size * nmemb;
	if (b->len + n > MAX_BODY_BYTES) {
		b->too_big = 1;
		return 0;
	}
	char *g = realloc(b->data, b->len + n + 1);
	if (!g)
		return 0;
	memcpy(g + b->len, ptr, n);
	b->data = g;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	(void)a, (void)b, (void)c, (void)d;
	return H->cancelled(ud) ? 1 : 0;
}

static CURL *acquire(struct prom *p)
{
	CURL *h = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->nidle)
		h = p->idle[--p->nidle];
	pthread_mutex_unlock(&p->lock);
	if (h)
		return h;
	h = curl_easy_init();
	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "salve/" SALVE_VERSION " (prometheus plugin)");
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (p->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, p->ca_file);
	return h;
}

static void release(struct prom *p, CURL *h)
{
	pthread_mutex_lock(&p->lock);
	if (p->nidle < POOL_MAX) {
		p->idle[p->nidle++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	if (h)
		curl_easy_cleanup(h);
}

static int nap(salve_call *call, double seconds)
{
	double end = mono() + seconds;
	while (mono() < end) {
		if (H->cancelled(call))
			return -1;
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* GET base+path, retrying 429/5xx and refused connections with backoff within the step's
 * time. On success *data is Prometheus' "data" member (caller's). */
static int api_get(salve_call *call, const char *what, const char *path, json_t **data)
{
	struct prom *p = H->state(call);
	size_t ulen = strlen(p->url) + strlen(path) + 1;
	char *url = malloc(ulen);
	CURL *h = acquire(p);
	if (!url || !h) {
		free(url);
		if (h)
			curl_easy_cleanup(h);
		H->fail(call, "prometheus %s: out of memory", what);
		return SALVE_ERR;
	}
	snprintf(url, ulen, "%s%s", p->url, path);
	struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
	if (p->token) {
		size_t n = strlen(p->token) + 32;
		char *auth = malloc(n);
		if (auth) {
			snprintf(auth, n, "Authorization: Bearer %s", p->token);
			headers = curl_slist_append(headers, auth);
			memset(auth, 0, n);
			free(auth);
		}
	}
	int rc = SALVE_ERR;
	char errbuf[CURL_ERROR_SIZE];
	for (int attempt = 1;; attempt++) {
		double remaining = H->remaining(call);
		if (remaining <= 0) {
			H->fail(call, "prometheus %s: the step's deadline passed", what);
			rc = SALVE_ERR_TIMEOUT;
			break;
		}
		double timeout = remaining < p->timeout ? remaining : p->timeout;
		struct buf b = {0};
		errbuf[0] = '\0';
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, call);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
		                 (long)(timeout * 1000) > 0 ? (long)(timeout * 1000) : 1L);
		CURLcode res = curl_easy_perform(h);
		long status = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		int retry = 0;
		double wait = 0.2 * pow(2, attempt - 1);
		if (res == CURLE_ABORTED_BY_CALLBACK) {
			H->fail(call, "prometheus %s: cancelled", what);
			rc = SALVE_ERR_CANCELED;
		} else if (res != CURLE_OK) {
			H->fail(call, "prometheus %s: %s: %s", what, p->url,
			        errbuf[0] ? errbuf : curl_easy_strerror(res));
			rc = res == CURLE_OPERATION_TIMEDOUT && H->remaining(call) <= 0
			         ? SALVE_ERR_TIMEOUT
			         : SALVE_ERR_RETRY;
			retry = res == CURLE_COULDNT_CONNECT || res == CURLE_OPERATION_TIMEDOUT ||
			        res == CURLE_RECV_ERROR || res == CURLE_GOT_NOTHING;
		} else {
			json_error_t jerr;
			json_t *body = b.data ? json_loadb(b.data, b.len, 0, &jerr) : NULL;
			const char *st = json_string_value(json_object_get(body, "status"));
			if (status == 200 && st && strcmp(st, "success") == 0) {
				*data = json_incref(json_object_get(body, "data"));
				rc = SALVE_OK;
			} else {
				const char *etype =
				    json_string_value(json_object_get(body, "errorType"));
				const char *emsg =
				    json_string_value(json_object_get(body, "error"));
				if (emsg)
					H->fail(call, "prometheus %s: %s: %s (%ld)", what,
					        etype ? etype : "error", emsg, status);
				else
					H->fail(call, "prometheus %s: HTTP %ld from %s", what,
					        status, p->url);
				rc = status == 400 || status == 422   ? SALVE_ERR_INVALID
				     : status == 404                  ? SALVE_ERR_NOTFOUND
				     : status == 429 || status >= 500 ? SALVE_ERR_RETRY
				                                      : SALVE_ERR;
				retry = status == 429 || status == 502 || status == 503 ||
				        status == 504;
				curl_off_t after = 0; /* 0: no Retry-After header */
				curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &after);
				if (after > 0)
					wait = (double)after;
			}
			json_decref(body);
		}
		free(b.data);
		if (!retry || attempt >= MAX_ATTEMPTS || wait >= H->remaining(call))
			break;
		json_t *ev = json_pack("{s:s, s:i, s:I, s:f}", "query", what, "attempt", attempt,
		                       "status", (json_int_t)status, "wait_seconds", wait);
		H->audit(call, "prometheus.retry", ev);
		json_decref(ev);
		if (nap(call, wait) < 0) {
			H->fail(call, "prometheus %s: cancelled", what);
			rc = SALVE_ERR_CANCELED;
			break;
		}
	}
	for (struct curl_slist *l = headers; l; l = l->next)
		if (strncmp(l->data, "Authorization:", 14) == 0)
			memset(l->data, 0, strlen(l->data));
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(headers);
	release(p, h);
	free(url);
	return rc;
}

/* ---- results ------------------------------------------------------------------------------------
 */

/* A sample value: Prometheus sends numbers as strings ("1.5", "NaN", "+Inf"). JSON has no NaN
 * or infinity, so those become null and the text is kept beside them. */
static json_t *number(const json_t *text)
{
	const char *s = json_string_value(text);
	if (!s)
		return json_null();
	char *end;
	double v = strtod(s, &end);
	if (*end || isnan(v) || isinf(v))
		return json_null();
	if (v == floor(v) && fabs(v) < 9e15)
		return json_integer((json_int_t)v);
	return json_real(v);
}

static json_t *sample(const json_t *metric, const json_t *pair)
{
	json_t *value = number(json_array_get(pair, 1));
	json_t *s = json_pack("{s:o, s:o, s:O?}", "labels",
	                      metric ? json_incref((json_t *)metric) : json_object(), "value",
	                      value, "time", json_array_get(pair, 0));
	if (json_is_null(value))
		json_object_set(s, "text", json_array_get(pair, 1));
	return s;
}

static json_t *instant_result(const char *expr, const json_t *data)
{
	const char *type = json_string_value(json_object_get(data, "resultType"));
	json_t *res = json_object_get(data, "result");
	json_t *samples = json_array();
	json_t *value = json_null();
	if (type && (strcmp(type, "scalar") == 0 || strcmp(type, "string") == 0)) {
		json_t *s = sample(NULL, res);
		if (strcmp(type, "string") == 0)
			json_object_set(s, "value", json_array_get(res, 1));
		value = json_incref(json_object_get(s, "value"));
		json_array_append_new(samples, s);
	} else {
		size_t i;
		json_t *item;
		json_array_foreach(res, i, item)
		{
			json_t *pair = json_object_get(item, "value");
			json_t *s = sample(json_object_get(item, "metric"), pair);
			json_array_append_new(samples, s);
		}
		if (json_array_size(samples) > 0) {
			json_decref(value);
			value = json_incref(json_object_get(json_array_get(samples, 0), "value"));
		}
	}
	/* value: the one number a runbook usually wants (the first sample's), null when empty. */
	return json_pack("{s:s, s:s, s:I, s:o, s:o}", "expr", expr, "result_type", type ? type : "",
	                 "count", (json_int_t)json_array_size(samples), "value", value, "samples",
	                 samples);
}

static json_t *range_result(const char *expr, const json_t *data)
{
	const char *type = json_string_value(json_object_get(data, "resultType"));
	json_t *series = json_array();
	size_t i;
	json_t *item;
	json_array_foreach(json_object_get(data, "result"), i, item)
	{
		json_t *values = json_array();
		json_t *last = json_null();
		size_t j;
		json_t *pair;
		json_array_foreach(json_object_get(item, "values"), j, pair)
		{
			json_t *v = number(json_array_get(pair, 1));
			json_decref(last);
			last = json_incref(v);
			json_array_append_new(values,
			                      json_pack("[O, o]", json_array_get(pair, 0), v));
		}
		json_array_append_new(series, json_pack("{s:O, s:o, s:o}", "labels",
		                                        json_object_get(item, "metric"), "values",
		                                        values, "last", last));
	}
	return json_pack("{s:s, s:s, s:I, s:o}", "expr", expr, "result_type", type ? type : "",
	                 "count", (json_int_t)json_array_size(series), "series", series);
}

/* ---- actions ------------------------------------------------------------------------------------
 */

static char *escape(const char *s)
{
	return curl_easy_escape(NULL, s, 0);
}

static int check_expr(salve_call *call, const json_t *args, const char **expr)
{
	*expr = json_string_value(json_object_get(args, "expr"));
	if (!*expr || !**expr || strlen(*expr) > 16384) {
		H->fail(call,
		        "argument \"expr\" must be a PromQL expression of 1 to 16384 characters");
		return SALVE_ERR_INVALID;
	}
	return SALVE_OK;
}

static int query(salve_call *call, const json_t *args, json_t **result)
{
	const char *expr;
	int rc = check_expr(call, args, &expr);
	if (rc != SALVE_OK)
		return rc;
	char t[64] = "";
	json_t *tv = json_object_get(args, "time");
	if (tv && time_arg(tv, t, sizeof t) < 0) {
		H->fail(call, "argument \"time\": expected a Unix time, RFC 3339, \"now\" or "
		              "\"now-5m\"");
		return SALVE_ERR_INVALID;
	}
	char *e = escape(expr);
	char *et = *t ? escape(t) : NULL;
	size_t n = strlen(e ? e : "") + (et ? strlen(et) : 0) + 64;
	char *path = malloc(n);
	if (!e || !path || (*t && !et)) {
		curl_free(e);
		curl_free(et);
		free(path);
		return SALVE_ERR;
	}
	snprintf(path, n, "/api/v1/query?query=%s%s%s", e, et ? "&time=" : "", et ? et : "");
	curl_free(e);
	curl_free(et);
	json_t *data = NULL;
	rc = api_get(call, "query", path, &data);
	free(path);
	if (rc == SALVE_OK)
		*result = instant_result(expr, data);
	json_decref(data);
	return rc;
}

static int query_range(salve_call *call, const json_t *args, json_t **result)
{
	const char *expr;
	int rc = check_expr(call, args, &expr);
	if (rc != SALVE_OK)
		return rc;
	char start[64], end[64];
	json_t *sv = json_object_get(args, "start");
	json_t *ev = json_object_get(args, "end");
	json_t *stv = json_object_get(args, "step");
	if (time_arg(sv, start, sizeof start) < 0) {
		H->fail(call, "argument \"start\": expected a Unix time, RFC 3339, or \"now-1h\"");
		return SALVE_ERR_INVALID;
	}
	if (ev ? time_arg(ev, end, sizeof end) < 0
	       : (snprintf(end, sizeof end, "%.3f", wall()), 0)) {
		H->fail(call,
		        "argument \"end\": expected a Unix time, RFC 3339, \"now\" or \"now-5m\"");
		return SALVE_ERR_INVALID;
	}
	double step; /* the core checked the grammar; zero is still no resolution */
	if (salve_duration_from_json(stv, &step) < 0 || !(step > 0)) {
		H->fail(call, "argument \"step\": expected a positive duration such as \"30s\"");
		return SALVE_ERR_INVALID;
	}
	char *e = escape(expr), *es = escape(start), *ee = escape(end);
	size_t n = (e ? strlen(e) : 0) + 256;
	char *path = malloc(n);
	if (e && es && ee && path)
		snprintf(path, n, "/api/v1/query_range?query=%s&start=%s&end=%s&step=%g", e, es, ee,
		         step);
	curl_free(e);
	curl_free(es);
	curl_free(ee);
	if (!path)
		return SALVE_ERR;
	json_t *data = NULL;
	rc = api_get(call, "query_range", path, &data);
	free(path);
	if (rc == SALVE_OK)
		*result = range_result(expr, data);
	json_decref(data);
	return rc;
}

static const salve_arg query_args[] = {
    {"expr", SALVE_T_STRING, SALVE_ARG_REQUIRED, "PromQL expression"},
    {"time", SALVE_T_ANY, 0, "evaluation time: Unix time, RFC 3339, \"now-5m\" (default now)"},
    {NULL, 0, 0, NULL},
};
static const salve_arg range_args[] = {
    {"expr", SALVE_T_STRING, SALVE_ARG_REQUIRED, "PromQL expression"},
    {"start", SALVE_T_ANY, SALVE_ARG_REQUIRED, "start: Unix time, RFC 3339 or \"now-1h\""},
    {"end", SALVE_T_ANY, 0, "end (default now)"},
    {"step", SALVE_T_DURATION, SALVE_ARG_REQUIRED, "resolution: \"30s\" or seconds"},
    {NULL, 0, 0, NULL},
};

static const salve_action actions[] = {
    {.name = "query",
     .kind = SALVE_READ,
     .args = query_args,
     .target_arg = "expr",
     .description = "Evaluate a PromQL expression at one time",
     .run = query},
    {.name = "query_range",
     .kind = SALVE_READ,
     .args = range_args,
     .target_arg = "expr",
     .description = "Evaluate a PromQL expression over a time range",
     .run = query_range},
    {.name = NULL},
};

/* The core checks the section against this map before init and fills in the defaults. */
static const salve_setting settings[] = {
    {"url", SALVE_T_STRING, SALVE_ARG_REQUIRED, NULL, "Prometheus base URL, e.g. http://prom:9090"},
    {"bearer_token", SALVE_T_SECRET_REF, 0, NULL,
     "secret reference (env:NAME or file:/path) for an Authorization: Bearer token"},
    {"ca_file", SALVE_T_STRING, 0, NULL, "CA bundle for an https URL (default: the system's)"},
    {"request_timeout", SALVE_T_DURATION, 0, "30s", "time one request may take"},
    {NULL, 0, 0, NULL, NULL},
};

static void prom_fini(void *state)
{
	struct prom *p = state;
	if (!p)
		return;
	for (size_t i = 0; i < p->nidle; i++)
		curl_easy_cleanup(p->idle[i]);
	free(p->url);
	if (p->token) {
		memset(p->token, 0, strlen(p->token));
		free(p->token);
	}
	free(p->ca_file);
	pthread_mutex_destroy(&p->lock);
	free(p);
	curl_global_cleanup();
}

static int prom_init(const salve_host *host, const json_t *config, void **state, char *err,
                     size_t errlen)
{
	H = host;
	const char *url = json_string_value(json_object_get(config, "url"));
	const char *token_ref = json_string_value(json_object_get(config, "bearer_token"));
	const char *ca = json_string_value(json_object_get(config, "ca_file"));
	double timeout = json_number_value(json_object_get(config, "request_timeout"));
	if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
		snprintf(err, errlen, "prometheus: url must be set to an http:// or https:// URL");
		return -1;
	}
	if (!(timeout > 0)) {
		snprintf(err, errlen, "prometheus: request_timeout must be more than 0s");
		return -1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "prometheus: cannot initialise libcurl");
		return -1;
	}
	struct prom *p = calloc(1, sizeof *p);
	if (!p) {
		curl_global_cleanup();
		snprintf(err, errlen, "prometheus: out of memory");
		return -1;
	}
	pthread_mutex_init(&p->lock, NULL);
	p->url = strdup(url);
	p->timeout = timeout;
	p->ca_file = ca ? strdup(ca) : NULL;
	size_t n = p->url ? strlen(p->url) : 0;
	while (n > 0 && p->url[n - 1] == '/')
		p->url[--n] = '\0';
	if (token_ref) {
		p->token = host->secret(NULL, token_ref);
		if (!p->token) {
			snprintf(err, errlen, "prometheus: bearer_token %s cannot be resolved",
			         token_ref);
			prom_fini(p);
			return -1;
		}
	}
	*state = p;
	return 0;
}

static const salve_plugin prometheus_plugin = {
    SALVE_PLUGIN_HEADER,      .name = "prometheus",
    .version = SALVE_VERSION, .description = "PromQL queries against Prometheus' HTTP API",
    .actions = actions,       .settings = settings,
    .init = prom_init,        .fini = prom_fini,
};

SALVE_PLUGIN_DECLARE(prometheus_plugin)
