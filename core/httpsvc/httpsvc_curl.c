/* The transport of the HTTP client service (salve-http.so): libcurl easy handles, kept in a
 * pool per client so connections stay alive across calls and threads (a handle is used by
 * one thread at a time; libcurl does not support sharing a connection cache between
 * concurrent threads), with DNS and TLS sessions shared behind locks.
 *
 * Secrets: the bearer token is registered for redaction before it is sent, lives in one
 * header line that is wiped after the transfer, and errors carry curl's words with the
 * URL's path, query and user info masked, never the URL. */
#include "httpsvc.h"

#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define POOL_MAX                8
#define DEFAULT_CONNECT_TIMEOUT 10.0
#define DEFAULT_REQUEST_TIMEOUT 30.0
#define DEFAULT_MAX_RESPONSE    (8u << 20)
#define DEFAULT_BACKOFF         0.2
#define DEFAULT_BACKOFF_MAX     5.0

struct httpsvc_conn {
	const salve_http_options *o;
	pthread_mutex_t lock;
	CURL *idle[POOL_MAX];
	size_t nidle;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userptr)
{
	(void)h;
	(void)access;
	httpsvc_conn *c = userptr;
	pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userptr)
{
	(void)h;
	httpsvc_conn *c = userptr;
	pthread_mutex_unlock(&c->share_locks[data]);
}

static httpsvc_conn *conn_open(const salve_http_options *o, char *err, size_t errlen)
{
	if (o->insecure && (o->ca_file || o->ca_pem)) {
		snprintf(err, errlen,
		         "TLS verification cannot be both off (insecure) and given a CA");
		return NULL;
	}
	httpsvc_conn *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "HTTP client: out of memory");
		return NULL;
	}
	c->o = o;
	pthread_mutex_init(&c->lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	c->share = curl_share_init();
	if (c->share) {
		curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
		curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
		curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
		curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
		curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	}
	return c;
}

static void conn_close(httpsvc_conn *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nidle; i++)
		curl_easy_cleanup(c->idle[i]);
	if (c->share)
		curl_share_cleanup(c->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static void set_pem(CURL *h, CURLoption blob_opt, CURLoption file_opt, const char *pem, size_t len,
                    const char *file)
{
	if (pem) {
		struct curl_blob blob = {(void *)pem, len, CURL_BLOB_COPY};
		curl_easy_setopt(h, blob_opt, &blob);
	} else if (file) {
		curl_easy_setopt(h, file_opt, file);
	}
}

/* A handle configured from the client's options: what every request of the client shares. */
static CURL *new_handle(httpsvc_conn *c)
{
	const salve_http_options *o = c->o;
	CURL *h = curl_easy_init();
	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT,
	                 o->user_agent ? o->user_agent : "salve/" SALVE_VERSION);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, o->protocols ? o->protocols : "https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect could carry a token away */
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	if (c->share)
		curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, o->insecure ? 0L : 2L);
	set_pem(h, CURLOPT_CAINFO_BLOB, CURLOPT_CAINFO, o->ca_pem, o->ca_pem_len, o->ca_file);
	set_pem(h, CURLOPT_SSLCERT_BLOB, CURLOPT_SSLCERT, o->cert_pem, o->cert_pem_len,
	        o->cert_file);
	set_pem(h, CURLOPT_SSLKEY_BLOB, CURLOPT_SSLKEY, o->key_pem, o->key_pem_len, o->key_file);
	if (o->username && o->password) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, o->username);
		curl_easy_setopt(h, CURLOPT_PASSWORD, o->password);
	}
	/* "" turns proxies off, the environment's too; without CURLOPT_PROXY curl reads it. */
	if (o->proxy)
		curl_easy_setopt(h, CURLOPT_PROXY, o->proxy);
	else if (!o->proxy_from_env)
		curl_easy_setopt(h, CURLOPT_PROXY, "");
	return h;
}

static CURL *acquire(httpsvc_conn *c)
{
	CURL *h = NULL;
	pthread_mutex_lock(&c->lock);
	if (c->nidle > 0)
		h = c->idle[--c->nidle];
	pthread_mutex_unlock(&c->lock);
	return h ? h : new_handle(c);
}

static void release(httpsvc_conn *c, CURL *h)
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

/* ---- one attempt -------------------------------------------------------------------------- */

struct transfer {
	const salve_host *host;
	salve_call *call;
	size_t cap;
	char *data;
	size_t len;
	int too_big;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct transfer *t = userdata;
	size_t n = size * nmemb;
	if (t->len + n > t->cap) {
		t->too_big = 1;
		return 0;
	}
	char *grown = realloc(t->data, t->len + n + 1);
	if (!grown)
		return 0;
	memcpy(grown + t->len, ptr, n);
	t->data = grown;
	t->len += n;
	t->data[t->len] = '\0';
	return n;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	struct transfer *t = userdata;
	return t->host->cancelled(t->call) ? 1 : 0;
}

/* Every occurrence of needle in hay (at least 4 bytes) masked in place. */
static void mask(char *hay, const char *needle, size_t n)
{
	if (n < 4)
		return;
	for (char *p = hay; (p = memmem(p, strlen(p), needle, n)) != NULL; p += n)
		memset(p, '*', n);
}

/* curl's message with what of the URL may be secret (user info, path, query) masked. */
static void safe_error(char *out, size_t len, const char *text, const char *url)
{
	snprintf(out, len, "%s", text);
	const char *authority = strstr(url, "://");
	authority = authority ? authority + 3 : url;
	const char *path = authority + strcspn(authority, "/?#");
	const char *at = memchr(authority, '@', (size_t)(path - authority));
	if (at)
		mask(out, authority, (size_t)(at - authority));
	if (*path && strcmp(path, "/") != 0)
		mask(out, path, strlen(path));
}

/* The header lines of a request; NULL when out of memory. The caller wipes and frees it. */
static struct curl_slist *request_headers(const salve_http_request *req)
{
	struct curl_slist *list = NULL, *l;
	for (size_t i = 0; req->headers && req->headers[i]; i++) {
		if (!(l = curl_slist_append(list, req->headers[i])))
			goto oom;
		list = l;
	}
	if (req->bearer_token) {
		char *line = NULL;
		if (asprintf(&line, "Authorization: Bearer %s", req->bearer_token) < 0)
			goto oom;
		l = curl_slist_append(list, line);
		explicit_bzero(line, strlen(line));
		free(line);
		if (!l)
			goto oom;
		list = l;
	}
	if (!(l = curl_slist_append(list, "Expect:")))
		goto oom;
	return l;
oom:
	curl_slist_free_all(list);
	return NULL;
}

static void wipe_headers(struct curl_slist *list)
{
	for (struct curl_slist *l = list; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(list);
}

static void set_method(CURL *h, const salve_http_request *req)
{
	if (req->body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
		                 strcmp(req->method, "POST") ? req->method : NULL);
	} else if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
		                 strcmp(req->method, "GET") ? req->method : NULL);
	}
}

/* Back to what new_handle set, for the next request on this handle. */
static void unset_request(CURL *h)
{
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
	curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
	curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, NULL);
}

struct outcome {
	CURLcode code;
	char error[CURL_ERROR_SIZE];
};

static void perform(CURL *h, const salve_http_request *req, struct curl_slist *headers,
                    double timeout, double connect_timeout, struct transfer *t,
                    salve_http_attempt *a, struct outcome *out)
{
	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, out->error);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, t);
	long ms = (long)ceil(timeout * 1000.0), connect_ms = (long)ceil(connect_timeout * 1000.0);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms > 1 ? ms : 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	                 connect_ms < ms ? (connect_ms > 1 ? connect_ms : 1L) : (ms > 1 ? ms : 1L));
	set_method(h, req);
	out->error[0] = '\0';
	double t0 = now_s();
	out->code = curl_easy_perform(h);
	a->duration = now_s() - t0;
	a->timeout = timeout;
	long status = 0, connects = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
	a->status = out->code == CURLE_OK ? status : 0;
	a->new_connection = connects > 0;
	a->retry_after = -1;
	curl_off_t after = 0; /* 0 both for "Retry-After: 0" and for none: only more counts */
	if ((status == 429 || status == 503) &&
	    curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0)
		a->retry_after = (double)after;
	unset_request(h);
}

/* ---- the retry loop ----------------------------------------------------------------------- */

static int default_judge(unsigned flags, long status)
{
	if (status == 429 || status == 503)
		return SALVE_ERR_RETRY;
	if ((flags & SALVE_HTTP_RETRY_5XX) &&
	    (status == 500 || status == 502 || status == 504 || status == 408))
		return SALVE_ERR_RETRY;
	return SALVE_OK;
}

/* What a failure without an answer means: SALVE_ERR_RETRY when sending again is safe. */
static int transport_verdict(CURLcode code, unsigned flags)
{
	switch (code) {
	case CURLE_ABORTED_BY_CALLBACK:
		return SALVE_ERR_CANCELED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return SALVE_ERR_RETRY; /* nothing was sent */
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return (flags & SALVE_HTTP_RETRY_IO) ? SALVE_ERR_RETRY : SALVE_ERR;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return SALVE_ERR_INVALID;
	default:
		return SALVE_ERR;
	}
}

static double backoff(const salve_http_request *req, int attempt)
{
	double base = req->backoff > 0 ? req->backoff : DEFAULT_BACKOFF;
	double cap = req->backoff_max > 0 ? req->backoff_max : DEFAULT_BACKOFF_MAX;
	double wait = base * pow(2.0, attempt - 1);
	if (wait > cap)
		wait = cap;
	if (req->flags & SALVE_HTTP_JITTER) {
		uint32_t r = 0x80000000u;
		if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
			r = 0x80000000u;
		wait = wait / 2 + (double)r / 4294967296.0 * wait / 2;
	}
	return wait;
}

/* Sleeps up to seconds in short slices; 1 when the call was cancelled meanwhile. */
static int nap(const salve_host *host, salve_call *call, double seconds)
{
	double until = now_s() + seconds;
	for (;;) {
		if (host->cancelled(call))
			return 1;
		double left = until - now_s();
		if (left <= 0)
			return 0;
		double slice = left < 0.05 ? left : 0.05;
		struct timespec ts = {(time_t)slice, (long)((slice - floor(slice)) * 1e9)};
		nanosleep(&ts, NULL);
	}
}

static void tell(const salve_http_request *req, salve_http_attempt *a, const char *result,
                 double wait)
{
	a->result = result;
	a->wait = wait;
	if (req->attempted)
		req->attempted(req->ud, a);
}

/* Seconds left for the request now: the step's (host->remaining, asked each time, so a host
 * whose deadline moves is followed) and its own max_time (*step_first: the step's is less). */
static double time_left(const salve_host *host, salve_call *call, double max_time_end,
                        int *step_first)
{
	double step = host->remaining(call), own = max_time_end - now_s();
	*step_first = step <= own;
	return step <= own ? step : own;
}

/* What a failure without an answer reports: curl's static words, then its details with what
 * of the URL may be secret masked. */
static void transport_error(char *out, size_t len, const struct outcome *o, size_t cap, int too_big,
                            const char *url)
{
	if (too_big) {
		snprintf(out, len, "the response is larger than %zu bytes", cap);
		return;
	}
	char detail[CURL_ERROR_SIZE];
	safe_error(detail, sizeof detail, o->error, url);
	const char *words = curl_easy_strerror(o->code);
	if (strstr(detail, words)) /* "Failed to connect to ...: Couldn't connect to server" */
		snprintf(out, len, "%s", detail);
	else
		snprintf(out, len, "%s%s%s", words, detail[0] ? ": " : "", detail);
}

/* Whether a retryable outcome may be sent again after `wait`: 0, or why not. */
static int stop_reason(const salve_host *host, salve_call *call, double max_time_end, int n,
                       int attempts, double wait, double *left)
{
	int step_first;
	*left = time_left(host, call, max_time_end, &step_first);
	if (n >= attempts)
		return SALVE_HTTP_STOP_ATTEMPTS;
	if (wait >= *left)
		return step_first ? SALVE_HTTP_STOP_DEADLINE : SALVE_HTTP_STOP_MAX_TIME;
	return 0;
}

static int conn_request(const salve_host *host, salve_call *call, httpsvc_conn *c,
                        const salve_http_request *req, salve_http_response *resp)
{
	memset(resp, 0, sizeof *resp);
	const salve_http_options *o = c->o;
	const double max_time_end = req->max_time > 0 ? now_s() + req->max_time : HUGE_VAL;
	if (host->remaining(call) <= 0) {
		snprintf(resp->error, sizeof resp->error, "the step's deadline passed");
		return SALVE_ERR_TIMEOUT;
	}
	if (req->bearer_token && SALVE_HOST_HAS(host, register_secret))
		host->register_secret(call, req->bearer_token);
	struct curl_slist *headers = request_headers(req);
	CURL *h = headers ? acquire(c) : NULL;
	if (!h) {
		wipe_headers(headers);
		snprintf(resp->error, sizeof resp->error, "HTTP client: out of memory");
		return SALVE_ERR;
	}
	const double per_attempt = req->timeout > 0         ? req->timeout
	                           : o->request_timeout > 0 ? o->request_timeout
	                                                    : DEFAULT_REQUEST_TIMEOUT;
	const double connect_timeout =
	    o->connect_timeout > 0 ? o->connect_timeout : DEFAULT_CONNECT_TIMEOUT;
	const int attempts = req->attempts > 1 ? req->attempts : 1;
	const size_t cap = o->max_response ? o->max_response : DEFAULT_MAX_RESPONSE;
	int rc = SALVE_ERR;
	for (int n = 1;; n++) {
		if (host->cancelled(call)) {
			snprintf(resp->error, sizeof resp->error, "cancelled");
			rc = SALVE_ERR_CANCELED;
			break;
		}
		int step_first;
		double left = time_left(host, call, max_time_end, &step_first);
		if (left <= 0) {
			snprintf(resp->error, sizeof resp->error, "the step's deadline passed");
			rc = SALVE_ERR_TIMEOUT;
			break;
		}
		/* the step's deadline, not the attempt's own timeout, bounds this attempt */
		const int step_bound = step_first && left <= per_attempt;
		struct transfer t = {.host = host, .call = call, .cap = cap};
		salve_http_attempt a = {.number = n};
		struct outcome out;
		perform(h, req, headers, per_attempt < left ? per_attempt : left, connect_timeout,
		        &t, &a, &out);
		free(resp->body);
		resp->body = t.data;
		resp->body_len = t.len;
		resp->attempts = n;
		resp->status = a.status;
		resp->new_connection = a.new_connection;
		resp->error[0] = '\0';
		a.body = t.data;
		a.body_len = t.len;
		int verdict;
		if (out.code == CURLE_OK) {
			verdict = req->judge ? req->judge(req->ud, &a)
			                     : default_judge(req->flags, a.status);
			resp->verdict = verdict;
			rc = SALVE_OK;
		} else {
			verdict = t.too_big ? SALVE_ERR : transport_verdict(out.code, req->flags);
			transport_error(resp->error, sizeof resp->error, &out, cap, t.too_big,
			                req->url);
			a.error = resp->error;
			a.timed_out = out.code == CURLE_OPERATION_TIMEDOUT;
			rc = verdict;
		}
		if (verdict == SALVE_ERR_CANCELED) {
			snprintf(resp->error, sizeof resp->error, "cancelled");
			tell(req, &a, "cancelled", 0);
			break;
		}
		if (verdict == SALVE_ERR_RETRY) {
			double wait = a.retry_after >= 0 ? a.retry_after : backoff(req, n);
			double now_left;
			resp->stopped =
			    stop_reason(host, call, max_time_end, n, attempts, wait, &now_left);
			/* timed out at the step's deadline: no time is left for another attempt */
			if (!resp->stopped && a.timed_out && step_bound)
				resp->stopped = SALVE_HTTP_STOP_DEADLINE;
			if (!resp->stopped) {
				tell(req, &a, "retry", wait);
				if (nap(host, call, wait)) {
					snprintf(resp->error, sizeof resp->error, "cancelled");
					rc = SALVE_ERR_CANCELED;
					break;
				}
				continue;
			}
			resp->wait = wait;
			resp->left = now_left > 0 ? now_left : 0;
		}
		tell(req, &a, verdict == SALVE_OK ? "ok" : "failed", 0);
		/* No answer, and the step's time is what ran out: the deadline passed. */
		if (rc != SALVE_OK && a.timed_out && step_bound) {
			char why[sizeof resp->error];
			snprintf(why, sizeof why, "%s", resp->error);
			snprintf(resp->error, sizeof resp->error, "the step's deadline passed (%s)",
			         why);
			rc = SALVE_ERR_TIMEOUT;
		}
		break;
	}
	wipe_headers(headers);
	release(c, h);
	return rc;
}

static char *escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	char *copy = e ? strdup(e) : NULL; /* free()-able, as plugin.h promises */
	curl_free(e);
	return copy;
}

static const salve_httpsvc_ops ops = {
    .struct_size = sizeof(salve_httpsvc_ops),
    .open = conn_open,
    .close = conn_close,
    .request = conn_request,
    .escape = escape,
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ready;

static void init_curl(void)
{
	curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

__attribute__((visibility("default"))) const salve_httpsvc_ops *salve_httpsvc_entry(void)
{
	pthread_once(&curl_once, init_curl);
	return curl_ready ? &ops : NULL;
}
