/* Delivery over HTTP through the host's client (host->http_request: connections kept alive
 * across calls and threads, timeouts from the step's remaining time, retries with exponential
 * backoff and jitter or the server's Retry-After), and over SMTP with libcurl and the same
 * retry rules here (the host's service speaks HTTP only). One audit event per attempt.
 *
 * Secrets (webhook URLs, keys, passwords) are resolved right before a delivery, live only in
 * this file's locals, are wiped after use, and are scrubbed from any server text quoted in an
 * error. Audit events and errors name the channel, never the URL. */
#include "notify_transport.h"

#include <curl/curl.h>

#include <math.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RESPONSE_KEEP (64 * 1024) /* bytes of an SMTP server's text kept */
#define RESPONSE_CAP  (1 << 20)   /* bytes of an HTTP answer accepted */
#define MAX_SECRETS   8

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int notify_transport_init(struct notify_state *st, char *err, size_t errlen)
{
	if (!SALVE_HOST_HAS(st->host, http_request)) {
		snprintf(err, errlen,
		         "notify: needs a salve with the HTTP client service (ABI 1.2)");
		return -1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "notify: libcurl failed to initialise");
		return -1;
	}
	st->curl_ready = 1;
	/* Webhooks go out to the internet: the proxy environment variables are honoured, as
	 * they were when this plugin ran libcurl itself. */
	salve_http_options o = {.struct_size = sizeof o,
	                        .protocols = "http,https",
	                        .user_agent = "salve-notify/" SALVE_VERSION,
	                        .ca_file = st->cfg.ca_file,
	                        .proxy_from_env = 1,
	                        .connect_timeout = st->cfg.connect_timeout,
	                        .request_timeout = st->cfg.timeout,
	                        .max_response = RESPONSE_CAP};
	st->http = st->host->http_client(NULL, &o);
	if (!st->http) {
		snprintf(err, errlen, "notify: cannot create the HTTP client");
		return -1;
	}
	return 0;
}

void notify_transport_fini(struct notify_state *st)
{
	if (st->http)
		st->host->http_client_free(st->http);
	st->http = NULL;
	if (st->curl_ready)
		curl_global_cleanup();
	st->curl_ready = 0;
}

/* ---- secrets held for one delivery ----------------------------------------------------- */

struct secrets {
	char *values[MAX_SECRETS];
	size_t n;
};

static void secrets_keep(struct secrets *s, char *value)
{
	if (value && s->n < MAX_SECRETS)
		s->values[s->n++] = value;
	else if (value) {
		explicit_bzero(value, strlen(value));
		free(value);
	}
}

static void secrets_wipe(struct secrets *s)
{
	for (size_t i = 0; i < s->n; i++) {
		explicit_bzero(s->values[i], strlen(s->values[i]));
		free(s->values[i]);
	}
	s->n = 0;
}

static void wipe_free(char *p)
{
	if (p) {
		explicit_bzero(p, strlen(p));
		free(p);
	}
}

/* Replace every occurrence of needle in hay (in place) with '*'. */
static void scrub(char *hay, const char *needle)
{
	size_t n = needle ? strlen(needle) : 0;
	if (n < 4)
		return;
	for (char *p = strstr(hay, needle); p; p = strstr(p + n, needle))
		memset(p, '*', n);
}

/* A short, printable excerpt of what the server answered, with every secret of this delivery
 * (and the path of a secret URL, which carries the token) masked. */
static void excerpt(char *out, size_t outlen, const char *body, size_t len, const struct secrets *s)
{
	size_t n = 0;
	for (size_t i = 0; i < len && n + 1 < outlen && n < 200; i++) {
		unsigned char c = (unsigned char)body[i];
		out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
	}
	out[n] = '\0';
	for (size_t i = 0; i < s->n; i++) {
		scrub(out, s->values[i]);
		const char *scheme = strstr(s->values[i], "://");
		const char *path = scheme ? strchr(scheme + 3, '/') : NULL;
		if (path)
			scrub(out, path);
	}
}

/* ---- SMTP: one curl handle per attempt ---------------------------------------------------- */

struct transfer {
	struct notify_state *st;
	salve_call *call;
	char *body;
	size_t len;
	size_t cap;
};

static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
	struct transfer *t = userp;
	size_t n = size * nmemb;
	size_t keep = n;
	if (t->len + keep > RESPONSE_KEEP)
		keep = RESPONSE_KEEP - t->len;
	if (keep > 0) {
		if (t->len + keep + 1 > t->cap) {
			size_t cap = t->len + keep + 1;
			char *grown = realloc(t->body, cap);
			if (!grown)
				return 0;
			t->body = grown;
			t->cap = cap;
		}
		memcpy(t->body + t->len, data, keep);
		t->len += keep;
		t->body[t->len] = '\0';
	}
	return n;
}

/* Called by libcurl while a transfer runs: a cancelled run stops its notification too. */
static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	struct transfer *t = userp;
	return t->st->host->cancelled(t->call) ? 1 : 0;
}

static CURL *new_handle(struct notify_state *st, struct transfer *t, double timeout,
                        const char *protocols)
{
	CURL *h = curl_easy_init();
	if (!h)
		return NULL;
	long timeout_ms = (long)ceil(timeout * 1000);
	long connect_ms = (long)ceil(st->cfg.connect_timeout * 1000);
	if (timeout_ms < 1)
		timeout_ms = 1;
	if (connect_ms > timeout_ms)
		connect_ms = timeout_ms;
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, protocols);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect could carry the token away */
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "salve-notify/" SALVE_VERSION);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, t);
	if (st->cfg.ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, st->cfg.ca_file);
	return h;
}

/* ---- the retry loop, shared by HTTP and SMTP ---------------------------------------------- */

enum verdict { V_OK, V_RETRY, V_FAIL, V_INVALID, V_CANCELED };

struct attempt {
	enum verdict verdict;
	long status;        /* HTTP status or SMTP reply code, 0 if none */
	double retry_after; /* seconds the server asked to wait, < 0 when it did not say */
	char detail[256];   /* why it failed: static curl text or "HTTP 500"; safe to audit */
	char server[256];   /* what the server said (scrubbed), for the error message only */
};

typedef void (*attempt_fn)(void *ctx, double timeout, struct attempt *a);

struct delivery {
	struct notify_state *st;
	salve_call *call;
	const char *channel;
	const char *target;
	const char *status_key; /* "http_status" or "smtp_status" */
};

static double jitter01(void)
{
	uint32_t r;
	if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
		return 0.5;
	return (double)r / 4294967296.0;
}

/* Sleep up to seconds, in short slices so a cancelled run stops waiting. 1 if cancelled. */
static int sleep_cancellable(struct delivery *d, double seconds)
{
	double until = now_s() + seconds;
	for (;;) {
		if (d->st->host->cancelled(d->call))
			return 1;
		double left = until - now_s();
		if (left <= 0)
			return 0;
		double slice = left < 0.05 ? left : 0.05;
		struct timespec ts = {(time_t)slice, (long)((slice - floor(slice)) * 1e9)};
		nanosleep(&ts, NULL);
	}
}

static void audit_attempt(struct delivery *d, int n, const struct attempt *a, double duration,
                          const char *result, double wait)
{
	json_t *data =
	    json_pack("{s:s, s:i, s:I, s:s}", "channel", d->channel, "attempt", n, "duration_ms",
	              (json_int_t)llround(duration * 1000), "result", result);
	if (d->target && *d->target)
		json_object_set_new(data, "target", json_string(d->target));
	if (a->status)
		json_object_set_new(data, d->status_key, json_integer(a->status));
	if (a->verdict != V_OK && a->detail[0])
		json_object_set_new(data, "error", json_string(a->detail));
	if (a->retry_after >= 0)
		json_object_set_new(data, "retry_after_s", json_real(a->retry_after));
	if (wait >= 0)
		json_object_set_new(data, "wait_ms",
		                    json_integer((json_int_t)llround(wait * 1000)));
	d->st->host->audit(d->call, "notify.attempt", data);
	json_decref(data);
}

static int deliver(struct delivery *d, attempt_fn fn, void *ctx, struct notify_outcome *out)
{
	const struct notify_config *cfg = &d->st->cfg;
	const salve_host *host = d->st->host;
	double start = now_s();
	double remaining = host->remaining(d->call);
	double budget = cfg->retry.max_time;
	int step_bound = 0;
	if (remaining < budget) {
		budget = remaining;
		step_bound = 1;
	}
	if (budget <= 0) {
		snprintf(out->error, sizeof out->error,
		         "notify %s: not sent, the step's deadline has passed", d->channel);
		return SALVE_ERR_TIMEOUT;
	}
	double deadline = start + budget;
	struct attempt a;
	for (int n = 1; n <= cfg->retry.attempts; n++) {
		if (host->cancelled(d->call)) {
			snprintf(out->error, sizeof out->error,
			         "notify %s: the run was cancelled before attempt %d", d->channel,
			         n);
			return SALVE_ERR_CANCELED;
		}
		double left = deadline - now_s();
		double timeout = cfg->timeout < left ? cfg->timeout : left;
		memset(&a, 0, sizeof a);
		a.retry_after = -1;
		double t0 = now_s();
		fn(ctx, timeout, &a);
		double took = now_s() - t0;
		out->attempts = n;
		out->status = a.status;

		if (a.verdict == V_OK) {
			audit_attempt(d, n, &a, took, "ok", -1);
			host->log(d->call, SALVE_LOG_INFO,
			          "notify: %s%s%s delivered (%s %ld, attempt %d)", d->channel,
			          d->target ? " " : "", d->target ? d->target : "",
			          d->status_key[0] == 'h' ? "HTTP" : "SMTP", a.status, n);
			return SALVE_OK;
		}
		if (a.verdict == V_CANCELED) {
			audit_attempt(d, n, &a, took, "cancelled", -1);
			snprintf(out->error, sizeof out->error,
			         "notify %s: the run was cancelled during attempt %d", d->channel,
			         n);
			return SALVE_ERR_CANCELED;
		}
		if (a.verdict == V_FAIL || a.verdict == V_INVALID) {
			audit_attempt(d, n, &a, took, "failed", -1);
			snprintf(out->error, sizeof out->error,
			         "notify %.96s: %.200s%s%.200s%s (not retried)", d->channel,
			         a.detail, a.server[0] ? ": \"" : "", a.server,
			         a.server[0] ? "\"" : "");
			return a.verdict == V_INVALID ? SALVE_ERR_INVALID : SALVE_ERR;
		}

		/* Transient: wait as the server asked, or back off exponentially with jitter. */
		double wait;
		if (a.retry_after >= 0) {
			wait = a.retry_after;
		} else {
			double cap = cfg->retry.base_delay * pow(2.0, n - 1);
			if (cap > cfg->retry.max_delay)
				cap = cfg->retry.max_delay;
			wait = cap / 2 + jitter01() * cap / 2;
		}
		left = deadline - now_s();
		if (n == cfg->retry.attempts) {
			audit_attempt(d, n, &a, took, "failed", -1);
			snprintf(out->error, sizeof out->error,
			         "notify %.96s: gave up after %d attempt%s: %.200s%s%.200s%s",
			         d->channel, n, n == 1 ? "" : "s", a.detail,
			         a.server[0] ? ": \"" : "", a.server, a.server[0] ? "\"" : "");
			return SALVE_ERR_RETRY;
		}
		if (wait >= left) {
			audit_attempt(d, n, &a, took, "failed", -1);
			if (a.retry_after >= 0)
				snprintf(
				    out->error, sizeof out->error,
				    "notify %s: %s; the server asked to retry after %.0f s, beyond "
				    "the %.1f s left (attempt %d)",
				    d->channel, a.detail, a.retry_after, left > 0 ? left : 0, n);
			else
				snprintf(
				    out->error, sizeof out->error,
				    "notify %s: %s; no time left for another attempt within %s "
				    "(attempt %d)",
				    d->channel, a.detail,
				    step_bound ? "the step's deadline" : "retry.max_time", n);
			return step_bound ? SALVE_ERR_TIMEOUT : SALVE_ERR_RETRY;
		}
		audit_attempt(d, n, &a, took, "retry", wait);
		host->log(d->call, SALVE_LOG_WARN,
		          "notify: %s attempt %d failed (%s), retrying in %.0f ms", d->channel, n,
		          a.detail, wait * 1000);
		if (sleep_cancellable(d, wait)) {
			snprintf(out->error, sizeof out->error,
			         "notify %s: the run was cancelled while waiting to retry",
			         d->channel);
			return SALVE_ERR_CANCELED;
		}
	}
	return SALVE_ERR_RETRY; /* not reached: the last attempt returns above */
}

/* ---- HTTP ------------------------------------------------------------------------------- */

static enum verdict classify_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_OK:
		return V_OK;
	case CURLE_ABORTED_BY_CALLBACK:
		return V_CANCELED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return V_RETRY;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return V_INVALID;
	default:
		return V_FAIL;
	}
}

/* What the host's HTTP client reports of each attempt, turned into this plugin's words. */
struct http_ctx {
	struct delivery *d;
	const struct secrets *secrets;
	const char *failure_text;
	struct attempt last; /* the last attempt, for the error message */
	int attempts;
};

/* What an answer means for a notification. */
static int http_judge(void *ud, const salve_http_attempt *a)
{
	struct http_ctx *c = ud;
	struct attempt *at = &c->last;
	memset(at, 0, sizeof *at);
	at->status = a->status;
	at->retry_after = a->retry_after;
	long status = a->status;
	const char *body = a->body;
	if (status >= 200 && status < 300 && c->failure_text && body &&
	    strstr(body, c->failure_text)) {
		/* "Webhook message delivery failed with error: ... returned HTTP error 429" */
		int throttled = strstr(body, "429") != NULL;
		at->verdict = throttled ? V_RETRY : V_FAIL;
		snprintf(at->detail, sizeof at->detail, "HTTP %ld but the service reports %s",
		         status, throttled ? "rate limiting (429)" : "a failed delivery");
		excerpt(at->server, sizeof at->server, body, a->body_len, c->secrets);
	} else if (status >= 200 && status < 300) {
		at->verdict = V_OK;
	} else {
		if (status == 408 || status == 425 || status == 429 || status >= 500)
			at->verdict = V_RETRY;
		else if (status == 400 || status == 422)
			at->verdict = V_INVALID;
		else
			at->verdict = V_FAIL;
		const char *why = "";
		if (status == 401 || status == 403)
			why = " (the credentials were refused)";
		else if (status == 404 || status == 410)
			why = " (no such endpoint: check the configured URL)";
		else if (status == 429)
			why = " (rate limited)";
		else if (status >= 300 && status < 400)
			why = " (redirects are not followed)";
		snprintf(at->detail, sizeof at->detail, "HTTP %ld%s", status, why);
		if (body)
			excerpt(at->server, sizeof at->server, body, a->body_len, c->secrets);
	}
	return at->verdict == V_OK        ? SALVE_OK
	       : at->verdict == V_RETRY   ? SALVE_ERR_RETRY
	       : at->verdict == V_INVALID ? SALVE_ERR_INVALID
	                                  : SALVE_ERR;
}

/* Every attempt is audited (and a retry logged), as SMTP's are by deliver(). */
static void http_attempted(void *ud, const salve_http_attempt *a)
{
	struct http_ctx *c = ud;
	struct attempt *at = &c->last;
	c->attempts = a->number;
	if (!a->status) { /* no answer: the judge did not see it */
		memset(at, 0, sizeof *at);
		at->retry_after = -1;
		at->verdict = strcmp(a->result, "cancelled") == 0 ? V_CANCELED
		              : strcmp(a->result, "retry") == 0   ? V_RETRY
		                                                  : V_FAIL;
		if (a->timed_out)
			snprintf(at->detail, sizeof at->detail, "no answer within %.1f s (%s)",
			         a->timeout, a->error);
		else
			snprintf(at->detail, sizeof at->detail, "%s", a->error ? a->error : "");
	}
	int retry = strcmp(a->result, "retry") == 0;
	audit_attempt(c->d, a->number, at, a->duration, a->result, retry ? a->wait : -1);
	if (retry)
		c->d->st->host->log(c->d->call, SALVE_LOG_WARN,
		                    "notify: %s attempt %d failed (%s), retrying in %.0f ms",
		                    c->d->channel, a->number, at->detail, a->wait * 1000);
}

/* The outcome of a delivery the host's client ran: the error people read and the status. */
static int http_outcome(struct http_ctx *c, int rc, const salve_http_response *resp,
                        struct notify_outcome *out)
{
	const struct delivery *d = c->d;
	const struct attempt *a = &c->last;
	const char *q = a->server[0] ? ": \"" : "", *q_end = a->server[0] ? "\"" : "";
	out->attempts = resp->attempts;
	out->status = resp->status;
	if (rc == SALVE_OK && resp->verdict == SALVE_OK) {
		d->st->host->log(d->call, SALVE_LOG_INFO,
		                 "notify: %s%s%s delivered (HTTP %ld, attempt %d)", d->channel,
		                 d->target ? " " : "", d->target ? d->target : "", resp->status,
		                 resp->attempts);
		return SALVE_OK;
	}
	if (resp->attempts == 0 && rc == SALVE_ERR_TIMEOUT) {
		snprintf(out->error, sizeof out->error,
		         "notify %s: not sent, the step's deadline has passed", d->channel);
		return SALVE_ERR_TIMEOUT;
	}
	if (rc == SALVE_ERR_CANCELED) {
		if (a->verdict == V_CANCELED)
			snprintf(out->error, sizeof out->error,
			         "notify %s: the run was cancelled during attempt %d", d->channel,
			         c->attempts);
		else if (c->attempts > 0)
			snprintf(out->error, sizeof out->error,
			         "notify %s: the run was cancelled while waiting to retry",
			         d->channel);
		else
			snprintf(out->error, sizeof out->error,
			         "notify %s: the run was cancelled before attempt 1", d->channel);
		return SALVE_ERR_CANCELED;
	}
	int n = resp->attempts;
	switch (resp->stopped) {
	case SALVE_HTTP_STOP_ATTEMPTS:
		snprintf(out->error, sizeof out->error,
		         "notify %.96s: gave up after %d attempt%s: %.200s%s%.200s%s", d->channel,
		         n, n == 1 ? "" : "s", a->detail, q, a->server, q_end);
		return SALVE_ERR_RETRY;
	case SALVE_HTTP_STOP_DEADLINE:
	case SALVE_HTTP_STOP_MAX_TIME: {
		int step_bound = resp->stopped == SALVE_HTTP_STOP_DEADLINE;
		if (a->retry_after >= 0)
			snprintf(
			    out->error, sizeof out->error,
			    "notify %s: %s; the server asked to retry after %.0f s, beyond the "
			    "%.1f s left (attempt %d)",
			    d->channel, a->detail, a->retry_after, resp->left, n);
		else
			snprintf(
			    out->error, sizeof out->error,
			    "notify %s: %s; no time left for another attempt within %s (attempt "
			    "%d)",
			    d->channel, a->detail,
			    step_bound ? "the step's deadline" : "retry.max_time", n);
		return step_bound ? SALVE_ERR_TIMEOUT : SALVE_ERR_RETRY;
	}
	default:
		break;
	}
	if (n == 0) /* the client itself could not start */
		snprintf(out->error, sizeof out->error, "notify %s: %s", d->channel, resp->error);
	else
		snprintf(out->error, sizeof out->error,
		         "notify %.96s: %.200s%s%.200s%s (not retried)", d->channel, a->detail, q,
		         a->server, q_end);
	return rc == SALVE_ERR_INVALID || a->verdict == V_INVALID ? SALVE_ERR_INVALID : SALVE_ERR;
}

static struct curl_slist *add_header(struct curl_slist *list, const char *name, const char *value,
                                     int *failed)
{
	char *line = NULL;
	if (asprintf(&line, "%s: %s", name, value) < 0) {
		*failed = 1;
		return list;
	}
	struct curl_slist *l = curl_slist_append(list, line);
	wipe_free(line);
	if (!l)
		*failed = 1;
	return l ? l : list;
}

/* Resolve a secret; on failure say which reference and for which channel. */
static char *resolve(struct notify_state *st, salve_call *call, const char *ref,
                     const char *channel, const char *what, struct notify_outcome *out)
{
	char *v = st->host->secret(call, ref);
	if (!v || !*v) {
		snprintf(out->error, sizeof out->error, "notify %s: cannot resolve the %s (%s)",
		         channel, what, ref);
		free(v);
		return NULL;
	}
	return v;
}

/* A header line "name: value" appended to lines (wiped and freed by the caller). */
static int add_line(char **lines, size_t *n, size_t max, const char *name, const char *value)
{
	if (*n + 1 >= max || asprintf(&lines[*n], "%s: %s", name, value) < 0)
		return -1;
	(*n)++;
	return 0;
}

/* The request's header lines, with the secrets they name resolved (kept in secrets for the
 * excerpt scrubbing). SALVE_OK, SALVE_ERR_INVALID when a secret cannot be resolved (out->error
 * set), SALVE_ERR when out of memory. */
static int header_lines(struct notify_state *st, salve_call *call,
                        const struct notify_http_request *req, char **lines, size_t *nlines,
                        size_t max_lines, struct secrets *secrets, struct notify_outcome *out)
{
	int failed =
	    add_line(lines, nlines, max_lines, "Content-Type", "application/json; charset=utf-8");
	failed |= add_line(lines, nlines, max_lines, "Accept", "application/json");
	if (req->auth_ref) {
		char *key = resolve(st, call, req->auth_ref, req->channel, "API key", out);
		if (!key)
			return SALVE_ERR_INVALID;
		char *value = NULL;
		if (asprintf(&value, "%s %s", req->auth_scheme, key) < 0)
			value = NULL;
		secrets_keep(secrets, key);
		if (!value)
			return SALVE_ERR;
		failed |= add_line(lines, nlines, max_lines, "Authorization", value);
		wipe_free(value);
	}
	const char *hname;
	json_t *hv;
	json_object_foreach((json_t *)req->headers, hname, hv)
	{
		const char *v = json_string_value(hv);
		if (notify_is_secret_ref(v)) {
			char *sv = resolve(st, call, v, req->channel, "header value", out);
			if (!sv)
				return SALVE_ERR_INVALID;
			failed |= add_line(lines, nlines, max_lines, hname, sv);
			secrets_keep(secrets, sv);
		} else {
			failed |= add_line(lines, nlines, max_lines, hname, v);
		}
	}
	return failed ? SALVE_ERR : SALVE_OK;
}

int notify_http_post(struct notify_state *st, salve_call *call,
                     const struct notify_http_request *req, struct notify_outcome *out)
{
	memset(out, 0, sizeof *out);
	struct secrets secrets = {0};
	char *lines[40] = {0};
	size_t nlines = 0;
	const size_t max_lines = sizeof lines / sizeof lines[0];
	char *url = NULL, *payload = NULL;
	int rc = SALVE_ERR;
	json_t *body = NULL;

	/* URL */
	char *base = req->url_ref ? resolve(st, call, req->url_ref, req->channel, "URL", out)
	                          : strdup(req->url);
	if (!base)
		goto done;
	secrets_keep(&secrets, req->url_ref ? strdup(base) : NULL);
	if (asprintf(&url, "%s%s", base, req->url_path ? req->url_path : "") < 0)
		url = NULL;
	wipe_free(base);
	if (!url)
		goto oom;

	/* Body, with the key the service wants inside it. */
	body = json_object();
	if (!body)
		goto oom;
	if (req->body_key_ref) {
		/* first, where the service's documentation puts it */
		char *key =
		    resolve(st, call, req->body_key_ref, req->channel, req->body_key_name, out);
		if (!key)
			goto done;
		json_object_set_new(body, req->body_key_name, json_string(key));
		secrets_keep(&secrets, key);
	}
	if (json_is_object(req->body)) {
		json_object_update(body, (json_t *)req->body);
	} else {
		json_decref(body);
		body = json_copy((json_t *)req->body);
	}
	payload = json_dumps(body, JSON_COMPACT);
	if (!payload)
		goto oom;

	rc = header_lines(st, call, req, lines, &nlines, max_lines, &secrets, out);
	if (rc == SALVE_ERR_INVALID) { /* a secret could not be resolved: out->error says which */
		rc = SALVE_ERR;
		goto done;
	}
	if (rc < 0)
		goto oom;

	const struct notify_config *cfg = &st->cfg;
	struct delivery d = {.st = st,
	                     .call = call,
	                     .channel = req->channel,
	                     .target = req->target,
	                     .status_key = "http_status"};
	struct http_ctx ctx = {.d = &d, .secrets = &secrets, .failure_text = req->failure_text};
	salve_http_request hr = {.struct_size = sizeof hr,
	                         .method = "POST",
	                         .url = url,
	                         .headers = (const char *const *)lines,
	                         .body = payload,
	                         .body_len = strlen(payload),
	                         .timeout = cfg->timeout,
	                         .flags = SALVE_HTTP_RETRY_IO | SALVE_HTTP_JITTER,
	                         .attempts = cfg->retry.attempts,
	                         .backoff = cfg->retry.base_delay,
	                         .backoff_max = cfg->retry.max_delay,
	                         .max_time = cfg->retry.max_time,
	                         .judge = http_judge,
	                         .attempted = http_attempted,
	                         .ud = &ctx};
	salve_http_response resp;
	rc = st->host->http_request(call, st->http, &hr, &resp);
	rc = http_outcome(&ctx, rc, &resp, out);
	if (resp.body && resp.body_len > 0 && (resp.body[0] == '{' || resp.body[0] == '['))
		out->response = json_loadb(resp.body, resp.body_len, 0, NULL);
	st->host->http_response_clear(&resp);
	goto done;
oom:
	snprintf(out->error, sizeof out->error, "notify %s: out of memory", req->channel);
	rc = SALVE_ERR;
done:
	for (size_t i = 0; i < nlines; i++)
		wipe_free(lines[i]);
	wipe_free(payload);
	wipe_free(url);
	json_decref(body);
	secrets_wipe(&secrets);
	return rc;
}

/* ---- SMTP ---------------------------------------------------------------------------------- */

struct smtp_ctx {
	struct notify_state *st;
	salve_call *call;
	const struct notify_smtp_request *req;
	const char *password;
	struct curl_slist *rcpt;
	struct curl_slist *headers;
	const struct secrets *secrets;
};

static int add_text_part(curl_mime *mime, const char *data, const char *type)
{
	curl_mimepart *part = curl_mime_addpart(mime);
	return part && curl_mime_data(part, data, CURL_ZERO_TERMINATED) == CURLE_OK &&
	       curl_mime_type(part, type) == CURLE_OK &&
	       curl_mime_encoder(part, "quoted-printable") == CURLE_OK;
}

/* SMTP lines end in CRLF; a bare LF would reach the quoted-printable encoder as "=0A" and
 * the message would arrive as one long line. malloc'd. */
static char *crlf(const char *s)
{
	size_t n = 0;
	for (const char *p = s; *p; p++)
		n += (*p == '\n') ? 2 : 1;
	char *out = malloc(n + 1), *o = out;
	if (!out)
		return NULL;
	for (const char *p = s; *p; p++) {
		if (*p == '\n' && (p == s || p[-1] != '\r'))
			*o++ = '\r';
		*o++ = *p;
	}
	*o = '\0';
	return out;
}

static void smtp_attempt(void *vctx, double timeout, struct attempt *a)
{
	struct smtp_ctx *c = vctx;
	const struct notify_config *cfg = &c->st->cfg;
	struct transfer t = {.st = c->st, .call = c->call};
	CURL *h = new_handle(c->st, &t, timeout, "smtp,smtps");
	curl_mime *mime = NULL;
	if (!h) {
		a->verdict = V_FAIL;
		snprintf(a->detail, sizeof a->detail, "cannot create a curl handle");
		return;
	}
	/* multipart/alternative (text, then HTML: the last one a client can show wins) inside
	 * the top-level multipart libcurl writes for mail. */
	mime = curl_mime_init(h);
	curl_mime *alt = curl_mime_init(h);
	curl_mimepart *holder = mime ? curl_mime_addpart(mime) : NULL;
	char *text = crlf(c->req->email->text);
	char *html = crlf(c->req->email->html);
	int ok = mime && alt && holder && text && html &&
	         add_text_part(alt, text, "text/plain; charset=utf-8") &&
	         add_text_part(alt, html, "text/html; charset=utf-8");
	free(text); /* curl_mime_data copied them */
	free(html);
	if (ok && curl_mime_subparts(holder, alt) == CURLE_OK) {
		alt = NULL; /* owned by holder now */
		ok = curl_mime_type(holder, "multipart/alternative") == CURLE_OK;
	} else {
		ok = 0;
	}
	if (alt)
		curl_mime_free(alt);
	if (!ok) {
		a->verdict = V_FAIL;
		snprintf(a->detail, sizeof a->detail, "cannot build the MIME message");
		curl_mime_free(mime);
		curl_easy_cleanup(h);
		return;
	}
	char from[300];
	snprintf(from, sizeof from, "<%s>", cfg->smtp_from);
	curl_easy_setopt(h, CURLOPT_URL, cfg->smtp_url);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, c->rcpt);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);
	if (strncmp(cfg->smtp_url, "smtp://", 7) == 0 && cfg->smtp_starttls)
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (cfg->smtp_username) {
		curl_easy_setopt(h, CURLOPT_USERNAME, cfg->smtp_username);
		if (c->password)
			curl_easy_setopt(h, CURLOPT_PASSWORD, c->password);
	}
	CURLcode cc = curl_easy_perform(h);
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	a->status = code;
	if (cc == CURLE_OK) {
		a->verdict = V_OK;
	} else {
		a->verdict = classify_curl(cc);
		if (cc == CURLE_LOGIN_DENIED || cc == CURLE_USE_SSL_FAILED)
			a->verdict = V_FAIL;
		else if (code >= 500 && code < 600 && a->verdict != V_CANCELED)
			a->verdict = V_FAIL; /* permanent SMTP reply */
		else if (code >= 400 && code < 500 && a->verdict != V_CANCELED)
			a->verdict = V_RETRY; /* transient SMTP reply */
		if (cc == CURLE_OPERATION_TIMEDOUT)
			snprintf(a->detail, sizeof a->detail, "no answer within %.1f s (%s)",
			         timeout, curl_easy_strerror(cc));
		else if (code)
			snprintf(a->detail, sizeof a->detail, "SMTP %ld: %s", code,
			         curl_easy_strerror(cc));
		else
			snprintf(a->detail, sizeof a->detail, "%s", curl_easy_strerror(cc));
	}
	curl_easy_cleanup(h);
	curl_mime_free(mime);
	free(t.body);
}

int notify_smtp_send(struct notify_state *st, salve_call *call,
                     const struct notify_smtp_request *req, struct notify_outcome *out)
{
	memset(out, 0, sizeof *out);
	const struct notify_config *cfg = &st->cfg;
	const struct notify_email *e = req->email;
	struct secrets secrets = {0};
	struct curl_slist *rcpt = NULL, *headers = NULL;
	int failed = 0, rc = SALVE_ERR;
	char *password = NULL;

	if (cfg->smtp_password_ref) {
		password =
		    resolve(st, call, cfg->smtp_password_ref, req->channel, "SMTP password", out);
		if (!password)
			return SALVE_ERR;
		secrets_keep(&secrets, password);
	}
	size_t i;
	json_t *addr;
	json_array_foreach((json_t *)req->to, i, addr)
	{
		char *r = NULL;
		if (asprintf(&r, "<%s>", json_string_value(addr)) < 0)
			goto oom;
		struct curl_slist *l = curl_slist_append(rcpt, r);
		free(r);
		if (!l)
			goto oom;
		rcpt = l;
	}
	headers = add_header(headers, "Date", e->date_header, &failed);
	headers = add_header(headers, "Message-ID", e->message_id, &failed);
	headers = add_header(headers, "From", e->from_header, &failed);
	headers = add_header(headers, "To", e->to_header, &failed);
	headers = add_header(headers, "Subject", e->subject_header, &failed);
	headers = add_header(headers, "Auto-Submitted", "auto-generated", &failed);
	const char *run_id = st->host->run_info(call, "run_id");
	if (run_id && !strpbrk(run_id, "\r\n"))
		headers = add_header(headers, "X-Salve-Run-Id", run_id, &failed);
	if (failed)
		goto oom;

	struct smtp_ctx ctx = {.st = st,
	                       .call = call,
	                       .req = req,
	                       .password = password,
	                       .rcpt = rcpt,
	                       .headers = headers,
	                       .secrets = &secrets};
	struct delivery d = {.st = st,
	                     .call = call,
	                     .channel = req->channel,
	                     .target = e->to_header,
	                     .status_key = "smtp_status"};
	rc = deliver(&d, smtp_attempt, &ctx, out);
	goto done;
oom:
	snprintf(out->error, sizeof out->error, "notify %s: out of memory", req->channel);
	rc = SALVE_ERR;
done:
	curl_slist_free_all(rcpt);
	curl_slist_free_all(headers);
	secrets_wipe(&secrets);
	return rc;
}
