/* The prometheus plugin: instant and range PromQL queries over Prometheus' HTTP API
 * (/api/v1/query, /api/v1/query_range), returning numbers and labelled samples. Read only. */
#include <salve/plugin.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duration.h"

#define MAX_ATTEMPTS   4
#define MAX_BODY_BYTES (32u << 20)

static const salve_host *H;

struct prom {
	char *url;   /* base URL without a trailing '/' */
	char *token; /* bearer token (secret), NULL when none */
	salve_http_client *http;
};

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

/* ---- HTTP: through the host's client (host->http_request) ------------------------------- */

/* Prometheus answers 429 when it sheds load and 502-504 through a proxy that lost it. */
static int judge(void *ud, const salve_http_attempt *a)
{
	(void)ud;
	long s = a->status;
	return s == 429 || s == 502 || s == 503 || s == 504 ? SALVE_ERR_RETRY : SALVE_OK;
}

struct attempt_ctx {
	salve_call *call;
	const char *what;
};

static void attempted(void *ud, const salve_http_attempt *a)
{
	struct attempt_ctx *c = ud;
	if (strcmp(a->result, "retry") != 0)
		return;
	json_t *ev = json_pack("{s:s, s:i, s:I, s:f}", "query", c->what, "attempt", a->number,
	                       "status", (json_int_t)a->status, "wait_seconds", a->wait);
	H->audit(c->call, "prometheus.retry", ev);
	json_decref(ev);
}

/* GET base+path, retrying 429/502-504 and lost connections (a GET may be sent again) within
 * the step's time. On success *data is Prometheus' "data" member (caller's). */
static int api_get(salve_call *call, const char *what, const char *path, json_t **data)
{
	struct prom *p = H->state(call);
	char *url = NULL;
	if (asprintf(&url, "%s%s", p->url, path) < 0) {
		H->fail(call, "prometheus %s: out of memory", what);
		return SALVE_ERR;
	}
	static const char *const headers[] = {"Accept: application/json", NULL};
	struct attempt_ctx ctx = {call, what};
	salve_http_request req = {.struct_size = sizeof req,
	                          .method = "GET",
	                          .url = url,
	                          .headers = headers,
	                          .bearer_token = p->token,
	                          .flags = SALVE_HTTP_RETRY_IO,
	                          .attempts = MAX_ATTEMPTS,
	                          .judge = judge,
	                          .attempted = attempted,
	                          .ud = &ctx};
	salve_http_response resp;
	int rc = H->http_request(call, p->http, &req, &resp);
	free(url);
	if (rc != SALVE_OK) {
		H->fail(call, "prometheus %s: %s", what, resp.error);
		H->http_response_clear(&resp);
		return rc == SALVE_ERR_RETRY || rc == SALVE_ERR_TIMEOUT || rc == SALVE_ERR_CANCELED
		           ? rc
		           : SALVE_ERR;
	}
	json_error_t jerr;
	json_t *body = resp.body ? json_loadb(resp.body, resp.body_len, 0, &jerr) : NULL;
	const char *st = json_string_value(json_object_get(body, "status"));
	long status = resp.status;
	if (status == 200 && st && strcmp(st, "success") == 0) {
		*data = json_incref(json_object_get(body, "data"));
		rc = SALVE_OK;
	} else {
		const char *etype = json_string_value(json_object_get(body, "errorType"));
		const char *emsg = json_string_value(json_object_get(body, "error"));
		if (emsg)
			H->fail(call, "prometheus %s: %s: %s (%ld)", what, etype ? etype : "error",
			        emsg, status);
		else
			H->fail(call, "prometheus %s: HTTP %ld", what, status);
		rc = status == 400 || status == 422   ? SALVE_ERR_INVALID
		     : status == 404                  ? SALVE_ERR_NOTFOUND
		     : status == 429 || status >= 500 ? SALVE_ERR_RETRY
		                                      : SALVE_ERR;
	}
	json_decref(body);
	H->http_response_clear(&resp);
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
	return H->http_escape(s);
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
		free(e);
		free(et);
		free(path);
		return SALVE_ERR;
	}
	snprintf(path, n, "/api/v1/query?query=%s%s%s", e, et ? "&time=" : "", et ? et : "");
	free(e);
	free(et);
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
	free(e);
	free(es);
	free(ee);
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

static const salve_arg query_results[] = {
    {"expr", SALVE_T_STRING, 0, "the expression evaluated"},
    {"result_type", SALVE_T_STRING, 0, "vector, scalar, matrix or string, as Prometheus says"},
    {"count", SALVE_T_INT, 0, "samples returned"},
    {"value", SALVE_T_NUMBER, 0, "the first sample's number (or the scalar); null when none"},
    {"samples", SALVE_T_LIST, 0, "[{labels, value, time}]"},
    {NULL, 0, 0, NULL},
};
static const salve_arg range_results[] = {
    {"expr", SALVE_T_STRING, 0, "the expression evaluated"},
    {"result_type", SALVE_T_STRING, 0, "matrix, as Prometheus says"},
    {"count", SALVE_T_INT, 0, "series returned"},
    {"series", SALVE_T_LIST, 0, "[{labels, values: [[time, value], ...], last}]"},
    {NULL, 0, 0, NULL},
};

static const salve_action actions[] = {
    {.name = "query",
     .kind = SALVE_READ,
     .args = query_args,
     .target_arg = "expr",
     .description = "Evaluate a PromQL expression at one time",
     .run = query,
     .results = query_results},
    {.name = "query_range",
     .kind = SALVE_READ,
     .args = range_args,
     .target_arg = "expr",
     .description = "Evaluate a PromQL expression over a time range",
     .run = query_range,
     .results = range_results},
    {.name = NULL},
};

/* The core checks the section against this map before init and fills in the defaults. */
static const salve_setting settings[] = {
    {.name = "url",
     .type = SALVE_T_STRING,
     .flags = SALVE_ARG_REQUIRED,
     .description = "Prometheus base URL, e.g. http://prom:9090"},
    {.name = "bearer_token",
     .type = SALVE_T_SECRET_REF,
     .description = "secret reference (env:NAME or file:/path) for an Authorization: Bearer token"},
    {.name = "ca_file",
     .type = SALVE_T_STRING,
     .description = "CA bundle for an https URL (default: the system's)"},
    {.name = "request_timeout",
     .type = SALVE_T_DURATION,
     .default_value = "30s",
     .description = "time one request may take"},
    {.name = NULL},
};

static void prom_fini(void *state)
{
	struct prom *p = state;
	if (!p)
		return;
	H->http_client_free(p->http);
	free(p->url);
	if (p->token) {
		memset(p->token, 0, strlen(p->token));
		free(p->token);
	}
	free(p);
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
	if (!SALVE_HOST_HAS(host, http_request)) {
		snprintf(err, errlen,
		         "prometheus: needs a salve with the HTTP client service (ABI "
		         "1.2)");
		return -1;
	}
	struct prom *p = calloc(1, sizeof *p);
	salve_http_options opts = {.struct_size = sizeof opts,
	                           .protocols = "http,https",
	                           .user_agent = "salve/" SALVE_VERSION " (prometheus plugin)",
	                           .ca_file = ca,
	                           .request_timeout = timeout,
	                           .max_response = MAX_BODY_BYTES};
	if (!p || !(p->http = host->http_client(NULL, &opts)) || !(p->url = strdup(url))) {
		prom_fini(p);
		snprintf(err, errlen, "prometheus: out of memory");
		return -1;
	}
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
