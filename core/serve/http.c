/*
 * The HTTP front of salve serve on libmicrohttpd: a small pool of epoll threads
 * (MHD_USE_EPOLL + MHD_OPTION_THREAD_POOL_SIZE), bearer-token auth compared in constant
 * time, body, depth and alert-count limits, and the endpoints of docs/serve.md. Handlers only
 * parse, decide and enqueue: no request ever waits for a runbook, and a hook request waits
 * for the disk suspended (commit.c), off the HTTP threads.
 *
 * Slow clients: libmicrohttpd's connection_timeout only closes a connection that sends
 * nothing, so a client that sends one header line a second would hold it forever. Every
 * connection is tracked here with a deadline for its whole request (request_timeout from the
 * connect, or from a keep-alive request's first line); the main loop's tick shuts down the
 * sockets that pass it. Clients are capped per IP, and a few connections beyond
 * max_connections are reserved for /healthz.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "alert.h"
#include "approvals.h"
#include "circuits.h"
#include "commit.h"
#include "host.h"
#include "ingest.h"
#include "log.h"
#include "pause.h"
#include "srv.h"
#include "status.h"
#include "ui.h"
#include "util.h"

enum handler {
	H_HEALTH = 0,
	H_METRICS,
	H_HOOK_ALERTMANAGER,
	H_HOOK_GENERIC,
	H_RUNS,
	H_RUN,
	H_RUN_APPROVE,
	H_RUN_DENY,
	H_RUN_CANCEL,
	H_ROUTES,
	H_ROUTE_RESET,
	H_PAUSE,
	H_RESUME,
	H_UI,
	H_UI_ASSET,
	H_UI_TIMELINE,
};

static const struct {
	const char *name;
	const char *method;
	int right; /* -1 none, else enum srv_token_kind */
	int has_body;
} handlers[] = {
    [H_HEALTH] = {"healthz", "GET", -1, 0},
    [H_METRICS] = {"metrics", "GET", SRV_TOKEN_READ, 0},
    [H_HOOK_ALERTMANAGER] = {"hook_alertmanager", "POST", SRV_TOKEN_HOOKS, 1},
    [H_HOOK_GENERIC] = {"hook_generic", "POST", SRV_TOKEN_HOOKS, 1},
    [H_RUNS] = {"runs", "GET", SRV_TOKEN_READ, 0},
    [H_RUN] = {"run", "GET", SRV_TOKEN_READ, 0},
    [H_RUN_APPROVE] = {"approve", "POST", SRV_TOKEN_APPROVE, 1},
    [H_RUN_DENY] = {"deny", "POST", SRV_TOKEN_APPROVE, 1},
    [H_RUN_CANCEL] = {"cancel", "POST", SRV_TOKEN_APPROVE, 1},
    [H_ROUTES] = {"routes", "GET", SRV_TOKEN_READ, 0},
    [H_ROUTE_RESET] = {"route_reset", "POST", SRV_TOKEN_APPROVE, 1},
    [H_PAUSE] = {"pause", "POST", SRV_TOKEN_APPROVE, 1},
    [H_RESUME] = {"resume", "POST", SRV_TOKEN_APPROVE, 1},
    /* The page's shell and files carry no data: its script asks for the tokens. */
    [H_UI] = {"ui", "GET", -1, 0},
    [H_UI_ASSET] = {"ui_asset", "GET", -1, 0},
    [H_UI_TIMELINE] = {"ui_timeline", "GET", SRV_TOKEN_READ, 0},
};

/* Connections above max_connections that only /healthz may use, and how long they get. */
#define HEALTH_RESERVE  8
#define RESERVE_TIMEOUT 2.0

enum conn_phase {
	CONN_RECEIVING = 0, /* a request is arriving: the deadline runs */
	CONN_PROCESSING,    /* received whole: answering (or waiting for the disk) */
	CONN_IDLE,          /* between keep-alive requests */
};

/* One TCP connection (MHD's socket context), in s->conns under s->conn_mu. The entry leaves
 * the list in MHD's "closed" notification, which comes before MHD closes the socket: while
 * it is listed, fd is this connection's. */
struct srv_conn {
	int fd;
	enum conn_phase phase;
	double deadline; /* monotonic; 0: none */
	int reserve;     /* accepted above max_connections: /healthz only */
	struct srv_conn *prev, *next;
};

struct req {
	enum handler h;
	char arg[160]; /* run id or route name from the path */
	char *body;
	size_t len, cap;
	int too_big;
	int answered; /* a response was queued before the body was read */
	double t0;    /* when the headers arrived */
	/* A hook request waiting for its batch (commit.c): suspended until committed. */
	struct MHD_Connection *conn;
	int committed;
	unsigned status;
	json_t *result;
};

static struct srv_conn *track_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *info =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return info ? (struct srv_conn *)info->socket_context : NULL;
}

/* The request is in hand: no deadline until the next one starts. */
static void track_processing(struct srv_server *s, struct MHD_Connection *c)
{
	struct srv_conn *t = track_of(c);
	if (!t)
		return;
	pthread_mutex_lock(&s->conn_mu);
	t->phase = CONN_PROCESSING;
	t->deadline = 0;
	pthread_mutex_unlock(&s->conn_mu);
}

/* ---- responses ---------------------------------------------------------------------------- */

static enum MHD_Result send_text(struct srv_server *s, struct MHD_Connection *c,
                                 const char *handler, unsigned status, char *text /* freed */,
                                 const char *content_type)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		                        "Bearer realm=\"salve\"");
	if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "5");
	enum MHD_Result rc = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	srv_status_count_request(s, handler, status);
	return rc;
}

static enum MHD_Result send_json(struct srv_server *s, struct MHD_Connection *c,
                                 const char *handler, unsigned status, json_t *body /* stolen */)
{
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!text)
		return MHD_NO;
	size_t n = strlen(text);
	char *line = realloc(text, n + 2);
	if (line) {
		line[n] = '\n';
		line[n + 1] = '\0';
		text = line;
	}
	return send_text(s, c, handler, status, text, "application/json");
}

static enum MHD_Result send_error(struct srv_server *s, struct MHD_Connection *c,
                                  const char *handler, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static enum MHD_Result send_error(struct srv_server *s, struct MHD_Connection *c,
                                  const char *handler, unsigned status, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return send_json(s, c, handler, status, json_pack("{s:s}", "error", msg));
}

/* A response of the operator's page, with its Content-Security-Policy. */
static enum MHD_Result send_ui(struct srv_server *s, struct MHD_Connection *c, const char *handler,
                               struct srv_ui_response *r)
{
	if (!r->body)
		return MHD_NO;
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(strlen(r->body), r->body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(r->body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "Content-Security-Policy", srv_ui_csp);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	enum MHD_Result rc = MHD_queue_response(c, r->status, resp);
	MHD_destroy_response(resp);
	srv_status_count_request(s, handler, r->status);
	return rc;
}

/* ---- auth --------------------------------------------------------------------------------- */

/* Which configured tokens the request presents, as a bit mask of kinds (0: none or an
 * unknown one). Every configured token is compared, each in constant time over SHA-256
 * digests (so neither the length nor the content of a token leaks through timing). */
static int presented_token(const struct srv_server *s, struct MHD_Connection *c, int *given)
{
	const char *h =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	*given = 0;
	if (!h)
		return 0;
	while (*h == ' ')
		h++;
	if (strncasecmp(h, "Bearer ", 7) != 0)
		return 0;
	h += 7;
	while (*h == ' ')
		h++;
	size_t n = strlen(h);
	while (n > 0 && h[n - 1] == ' ')
		n--;
	*given = 1;
	char hex[65];
	salve_sha256_hex(h, n, hex);
	int found = 0;
	for (int k = 0; k < SRV_TOKEN_KINDS; k++)
		if (s->has_token[k] && CRYPTO_memcmp(hex, s->token_hash[k], 64) == 0)
			found |= 1 << k;
	return found;
}

/* 0 when allowed, else the HTTP status (401 or 403) with the reason in why. */
static unsigned authorize(const struct srv_server *s, struct MHD_Connection *c, int right,
                          char *why, size_t whylen)
{
	if (right < 0)
		return 0;
	if (right == SRV_TOKEN_APPROVE && !s->has_token[SRV_TOKEN_APPROVE]) {
		snprintf(why, whylen,
		         "approvals and control need a token with approve rights: set "
		         "server.tokens.approve");
		return MHD_HTTP_FORBIDDEN;
	}
	/* Without a token of this kind (allowed on loopback only) the endpoint is open. */
	if (!s->has_token[right])
		return 0;
	int given;
	int kinds = presented_token(s, c, &given);
	if ((kinds & (1 << right)) ||
	    (right == SRV_TOKEN_READ && (kinds & (1 << SRV_TOKEN_APPROVE))))
		return 0;
	if (kinds) {
		static const char *const names[] = {"hooks", "read", "approve"};
		int kind = kinds & 1 ? 0 : kinds & 2 ? 1 : 2;
		snprintf(why, whylen, "this token has %s rights; this endpoint needs %s",
		         names[kind], names[right]);
		return MHD_HTTP_FORBIDDEN;
	}
	snprintf(why, whylen,
	         given ? "invalid bearer token"
	               : "missing bearer token (Authorization: Bearer TOKEN)");
	return MHD_HTTP_UNAUTHORIZED;
}

/* ---- routing of requests ------------------------------------------------------------------ */

static int path_arg(const char *rest, char *arg, size_t len, const char **after)
{
	const char *slash = strchr(rest, '/');
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
	if (n == 0 || n >= len)
		return -1;
	memcpy(arg, rest, n);
	arg[n] = '\0';
	*after = slash ? slash : rest + n;
	return 0;
}

/* Finds the handler for url; -1 when no path matches. */
static int find_handler(const char *url, char *arg, size_t arglen)
{
	const char *after;
	static const int ui_handlers[] = {
	    [SRV_UI_SHELL] = H_UI, [SRV_UI_ASSET] = H_UI_ASSET, [SRV_UI_TIMELINE] = H_UI_TIMELINE};
	if (strncmp(url, "/ui", 3) == 0 && (url[3] == '\0' || url[3] == '/')) {
		int kind = srv_ui_find(url, arg, arglen);
		return kind < 0 ? -1 : ui_handlers[kind];
	}
	if (strcmp(url, "/healthz") == 0)
		return H_HEALTH;
	if (strcmp(url, "/metrics") == 0)
		return H_METRICS;
	if (strcmp(url, "/hooks/alertmanager") == 0)
		return H_HOOK_ALERTMANAGER;
	if (strcmp(url, "/hooks/generic") == 0)
		return H_HOOK_GENERIC;
	if (strcmp(url, "/runs") == 0 || strcmp(url, "/runs/") == 0)
		return H_RUNS;
	if (strcmp(url, "/routes") == 0 || strcmp(url, "/routes/") == 0)
		return H_ROUTES;
	if (strcmp(url, "/pause") == 0)
		return H_PAUSE;
	if (strcmp(url, "/resume") == 0)
		return H_RESUME;
	if (strncmp(url, "/runs/", 6) == 0 && path_arg(url + 6, arg, arglen, &after) == 0) {
		if (!*after)
			return H_RUN;
		if (strcmp(after, "/approve") == 0)
			return H_RUN_APPROVE;
		if (strcmp(after, "/deny") == 0)
			return H_RUN_DENY;
		if (strcmp(after, "/cancel") == 0)
			return H_RUN_CANCEL;
	}
	if (strncmp(url, "/routes/", 8) == 0 && path_arg(url + 8, arg, arglen, &after) == 0 &&
	    strcmp(after, "/reset") == 0)
		return H_ROUTE_RESET;
	return -1;
}

/* ---- handlers ----------------------------------------------------------------------------- */

static void hook_suspend(void *ctx)
{
	struct req *q = ctx;
	MHD_suspend_connection(q->conn);
}

/* On the writer's thread: the batch is durable; libmicrohttpd calls on_request again. */
static void hook_committed(void *ctx, int status, json_t *result)
{
	struct req *q = ctx;
	q->status = (unsigned)status;
	q->result = result;
	q->committed = 1;
	MHD_resume_connection(q->conn);
}

static enum MHD_Result do_hook(struct srv_server *s, struct MHD_Connection *c, struct req *q)
{
	const char *name = handlers[q->h].name;
	if (q->len == 0)
		return send_error(s, c, name, MHD_HTTP_BAD_REQUEST, "empty body: expected JSON");
	char err[1024];
	json_t *payload =
	    srv_alert_parse_json(q->body, q->len, s->conf.max_json_depth, err, sizeof err);
	if (!payload)
		return send_error(s, c, name, MHD_HTTP_BAD_REQUEST, "%s", err);
	json_int_t truncated = json_integer_value(json_object_get(payload, "truncatedAlerts"));
	if (q->h == H_HOOK_ALERTMANAGER && truncated > 0)
		srv_log(SALVE_LOG_WARN,
		        "serve: Alertmanager left %lld alerts out of a notification (max_alerts in "
		        "its webhook_config): salve never saw them",
		        (long long)truncated);
	json_t *alerts = q->h == H_HOOK_ALERTMANAGER
	                     ? srv_alerts_from_alertmanager(payload, err, sizeof err)
	                     : srv_alerts_from_generic(payload, err, sizeof err);
	json_decref(payload);
	if (!alerts)
		return send_error(s, c, name, MHD_HTTP_BAD_REQUEST, "%s", err);
	size_t n = json_array_size(alerts);
	if (n > (size_t)s->conf.max_alerts) {
		json_decref(alerts);
		srv_log(SALVE_LOG_WARN,
		        "serve: a request with %zu alerts refused (server.max_alerts is %d)", n,
		        s->conf.max_alerts);
		return send_error(
		    s, c, name, MHD_HTTP_CONTENT_TOO_LARGE,
		    "%zu alerts in one request; at most %d are accepted "
		    "(server.max_alerts): nothing was routed or audited; send them in "
		    "smaller notifications (Alertmanager: max_alerts in the "
		    "webhook_config)",
		    n, s->conf.max_alerts);
	}
	struct srv_ingest *in = srv_ingest_decide(
	    s, q->h == H_HOOK_ALERTMANAGER ? "alertmanager" : "generic", alerts, q->t0);
	json_decref(alerts);
	if (!in)
		return send_error(s, c, name, 500, "out of memory");
	q->conn = c;
	if (srv_commit_submit(s, in, hook_committed, hook_suspend, q) == 0)
		return MHD_YES;
	/* The writer is stopping: write and sync here. */
	json_t *result = NULL;
	srv_ingest_write(s, in, s->audit);
	int status = srv_ingest_finish(s, in, 0, &result);
	return send_json(s, c, name, (unsigned)status, result);
}

/* Parses an optional JSON object body (approve, deny, pause). NULL body -> empty object. */
static json_t *optional_object(const struct req *q, const struct srv_server *s, char *err,
                               size_t errlen)
{
	if (q->len == 0)
		return json_object();
	json_t *v = srv_alert_parse_json(q->body, q->len, s->conf.max_json_depth, err, errlen);
	if (v && !json_is_object(v)) {
		json_decref(v);
		snprintf(err, errlen, "the body must be a JSON object such as {\"by\": \"alice\"}");
		return NULL;
	}
	return v;
}

static enum MHD_Result dispatch(struct srv_server *s, struct MHD_Connection *c, struct req *q)
{
	const char *name = handlers[q->h].name;
	json_t *out = NULL, *body = NULL;
	int status;
	char err[1024];
	switch (q->h) {
	case H_HEALTH:
		return send_json(s, c, name, MHD_HTTP_OK, srv_status_health(s));
	case H_METRICS: {
		char *text = srv_status_metrics(s);
		if (!text)
			return send_error(s, c, name, 500, "out of memory");
		return send_text(s, c, name, MHD_HTTP_OK, text,
		                 "text/plain; version=0.0.4; charset=utf-8");
	}
	case H_HOOK_ALERTMANAGER:
	case H_HOOK_GENERIC:
		return do_hook(s, c, q);
	case H_RUNS: {
		const char *state = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "state");
		const char *route = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "route");
		const char *limit = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
		status = srv_status_runs(s, state, route, limit ? atoi(limit) : 100, &out);
		return send_json(s, c, name, (unsigned)status, out);
	}
	case H_RUN:
		status = srv_status_run(s, q->arg, &out);
		return send_json(s, c, name, (unsigned)status, out);
	case H_ROUTES:
		status = srv_status_routes(s, &out);
		return send_json(s, c, name, (unsigned)status, out);
	case H_UI: {
		struct srv_ui_response r;
		srv_ui_shell(s->conf.ui_prefix,
		             MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-Prefix"),
		             q->arg, &r);
		return send_ui(s, c, name, &r);
	}
	case H_UI_ASSET: {
		struct srv_ui_response r;
		srv_ui_asset(q->arg, &r);
		return send_ui(s, c, name, &r);
	}
	case H_UI_TIMELINE: {
		struct srv_ui_response r;
		srv_ui_timeline(s, q->arg, &r);
		return send_ui(s, c, name, &r);
	}
	default:
		break;
	}
	body = optional_object(q, s, err, sizeof err);
	if (!body)
		return send_error(s, c, name, MHD_HTTP_BAD_REQUEST, "%s", err);
	const char *by = json_string_value(json_object_get(body, "by"));
	switch (q->h) {
	case H_RUN_APPROVE:
		status = srv_approval_decide(s, q->arg, "approve", body, &out);
		break;
	case H_RUN_DENY:
		status = srv_approval_decide(s, q->arg, "deny", body, &out);
		break;
	case H_RUN_CANCEL:
		status = srv_approval_decide(s, q->arg, "cancel", body, &out);
		break;
	case H_ROUTE_RESET:
		status = srv_circuit_reset(s, q->arg, by, &out);
		break;
	case H_PAUSE:
	case H_RESUME:
		status = srv_pause_set(s, q->h == H_PAUSE, by,
		                       json_string_value(json_object_get(body, "reason")), &out);
		break;
	default:
		status = 500;
		out = json_pack("{s:s}", "error", "unhandled endpoint");
	}
	json_decref(body);
	return send_json(s, c, name, (unsigned)status, out);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	(void)version;
	struct srv_server *s = cls;
	struct req *q = *con_cls;
	if (!q) {
		/* Headers only: refuse what can be refused before reading a byte of the body. */
		q = calloc(1, sizeof *q);
		if (!q)
			return MHD_NO;
		*con_cls = q;
		q->t0 = salve_now();
		int h = find_handler(url, q->arg, sizeof q->arg);
		if (h < 0) {
			q->answered = 1;
			return send_error(s, c, "unknown", MHD_HTTP_NOT_FOUND, "no endpoint %s",
			                  url);
		}
		q->h = (enum handler)h;
		struct srv_conn *t = track_of(c);
		if (t && t->reserve && h != H_HEALTH) {
			q->answered = 1;
			return send_error(s, c, handlers[h].name, MHD_HTTP_SERVICE_UNAVAILABLE,
			                  "the server has server.max_connections (%d) open: the "
			                  "connections above it serve /healthz only; retry",
			                  s->conf.max_connections);
		}
		const char *want = handlers[h].method;
		int head = strcmp(method, "HEAD") == 0 && strcmp(want, "GET") == 0;
		if (strcmp(method, want) != 0 && !head) {
			q->answered = 1;
			struct MHD_Response *resp =
			    MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
			if (!resp)
				return MHD_NO;
			MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, want);
			enum MHD_Result rc =
			    MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
			MHD_destroy_response(resp);
			srv_status_count_request(s, handlers[h].name, MHD_HTTP_METHOD_NOT_ALLOWED);
			return rc;
		}
		char why[256];
		unsigned denied = authorize(s, c, handlers[h].right, why, sizeof why);
		if (denied) {
			q->answered = 1;
			return send_error(s, c, handlers[h].name, denied, "%s", why);
		}
		const char *cl =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > s->conf.max_body) {
			q->answered = 1;
			return send_error(s, c, handlers[h].name, MHD_HTTP_CONTENT_TOO_LARGE,
			                  "the body is %s bytes; at most %zu are accepted "
			                  "(server.max_body)",
			                  cl, s->conf.max_body);
		}
		return MHD_YES;
	}
	if (q->committed) {
		json_t *result = q->result;
		q->result = NULL;
		q->committed = 0;
		return send_json(s, c, handlers[q->h].name, q->status, result);
	}
	if (q->answered) {
		/* Answered from the headers; what is left of the body still has the deadline. */
		if (*upload_data_size == 0)
			track_processing(s, c);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (q->too_big || !handlers[q->h].has_body)
			return MHD_YES;
		if (q->len + n > s->conf.max_body) {
			/* Chunked or lying about its length: read and drop the rest. */
			q->too_big = 1;
			free(q->body);
			q->body = NULL;
			q->len = q->cap = 0;
			return MHD_YES;
		}
		if (q->len + n + 1 > q->cap) {
			/* Sized to what arrived (an alert is a few hundred bytes, usually in one
			 * piece), not a page: a page is a large-bin allocation, which makes glibc
			 * consolidate its fast bins on every request. */
			size_t cap = q->cap ? q->cap : n + 1;
			while (cap < q->len + n + 1)
				cap *= 2;
			char *grown = realloc(q->body, cap);
			if (!grown)
				return MHD_NO;
			q->body = grown;
			q->cap = cap;
		}
		memcpy(q->body + q->len, upload_data, n);
		q->len += n;
		q->body[q->len] = '\0';
		return MHD_YES;
	}
	/* The whole request is in: no deadline while it is answered. */
	track_processing(s, c);
	if (q->too_big)
		return send_error(s, c, handlers[q->h].name, MHD_HTTP_CONTENT_TOO_LARGE,
		                  "the body is larger than server.max_body (%zu bytes)",
		                  s->conf.max_body);
	return dispatch(s, c, q);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	(void)toe;
	struct srv_server *s = cls;
	struct req *q = *con_cls;
	if (q) {
		free(q->body);
		json_decref(q->result);
		free(q);
		*con_cls = NULL;
	}
	/* Keep-alive: the next request's first line must come within connection_timeout (an
	 * idle connection is closed by libmicrohttpd then), the rest within request_timeout. */
	struct srv_conn *t = track_of(c);
	if (t) {
		pthread_mutex_lock(&s->conn_mu);
		t->phase = CONN_IDLE;
		t->deadline = salve_now() + s->conf.connection_timeout + s->conf.request_timeout;
		pthread_mutex_unlock(&s->conn_mu);
	}
}

static double head_timeout(const struct srv_server *s, const struct srv_conn *t)
{
	return t->reserve && s->conf.request_timeout > RESERVE_TIMEOUT ? RESERVE_TIMEOUT
	                                                               : s->conf.request_timeout;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
	struct srv_server *s = cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		struct srv_conn *t = calloc(1, sizeof *t);
		const union MHD_ConnectionInfo *info =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!t || !info) {
			free(t);
			return;
		}
		t->fd = info->connect_fd;
		t->phase = CONN_RECEIVING;
		pthread_mutex_lock(&s->conn_mu);
		t->reserve = s->nconns >= s->conf.max_connections;
		t->deadline = salve_now() + head_timeout(s, t);
		t->next = s->conns;
		if (s->conns)
			s->conns->prev = t;
		s->conns = t;
		s->nconns++;
		pthread_mutex_unlock(&s->conn_mu);
		*socket_context = t;
		return;
	}
	struct srv_conn *t = *socket_context;
	if (toe != MHD_CONNECTION_NOTIFY_CLOSED || !t)
		return;
	pthread_mutex_lock(&s->conn_mu);
	if (t->prev)
		t->prev->next = t->next;
	else
		s->conns = t->next;
	if (t->next)
		t->next->prev = t->prev;
	s->nconns--;
	pthread_mutex_unlock(&s->conn_mu);
	free(t);
	*socket_context = NULL;
}

/* The request line of a keep-alive request has come: the rest has request_timeout. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	(void)uri;
	struct srv_server *s = cls;
	struct srv_conn *t = track_of(c);
	if (t) {
		pthread_mutex_lock(&s->conn_mu);
		if (t->phase != CONN_RECEIVING) {
			t->phase = CONN_RECEIVING;
			t->deadline = salve_now() + head_timeout(s, t);
		}
		pthread_mutex_unlock(&s->conn_mu);
	}
	return NULL;
}

void srv_http_tick(struct srv_server *s)
{
	if (!s->mhd)
		return;
	double now = salve_now();
	int closed = 0;
	pthread_mutex_lock(&s->conn_mu);
	for (struct srv_conn *t = s->conns; t; t = t->next) {
		if (t->deadline > 0 && now > t->deadline) {
			/* libmicrohttpd sees the end of the stream and closes the connection
			 * itself (which unlists it); shutdown never closes the descriptor. */
			shutdown(t->fd, SHUT_RDWR);
			t->deadline = 0;
			closed++;
		}
	}
	pthread_mutex_unlock(&s->conn_mu);
	if (closed) {
		srv_status_count_timeouts(s, closed);
		srv_log(SALVE_LOG_DEBUG,
		        "serve: http: closed %d connection%s that did not send a whole request "
		        "within server.request_timeout",
		        closed, closed == 1 ? "" : "s");
	}
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[1024];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	srv_log(SALVE_LOG_DEBUG, "serve: http: %s", msg);
}

/* ---- start and stop ----------------------------------------------------------------------- */

/* Splits "host:port" / "[v6]:port" and resolves host numerically or by name. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen, int *v6,
                        char *err, size_t errlen)
{
	char host[256], port[16];
	const char *colon;
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (!close || close[1] != ':') {
			snprintf(err, errlen, "server.listen \"%s\": expected [ADDRESS]:PORT",
			         listen);
			return -1;
		}
		snprintf(host, sizeof host, "%.*s", (int)(close - listen - 1), listen + 1);
		colon = close + 1;
	} else {
		colon = strrchr(listen, ':');
		if (!colon) {
			snprintf(err, errlen, "server.listen \"%s\": expected HOST:PORT", listen);
			return -1;
		}
		snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
	}
	snprintf(port, sizeof port, "%s", colon + 1);
	char *end;
	long p = strtol(port, &end, 10);
	if (!*port || *end || p < 0 || p > 65535) {
		snprintf(err, errlen, "server.listen \"%s\": bad port", listen);
		return -1;
	}
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (rc != 0 || !res) {
		snprintf(err, errlen, "server.listen \"%s\": %s", listen, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	*v6 = res->ai_family == AF_INET6;
	freeaddrinfo(res);
	return 0;
}

static int is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return 0;
}

int srv_http_start(struct srv_server *s, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int v6;
	if (parse_listen(s->conf.listen, &ss, &sslen, &v6, err, errlen) < 0)
		return -2;
	s->loopback = is_loopback(&ss);
	if (!s->loopback && (!s->has_token[SRV_TOKEN_HOOKS] || !s->has_token[SRV_TOKEN_READ])) {
		snprintf(err, errlen,
		         "server.listen %s is not a loopback address: server.tokens.hooks and "
		         "server.tokens.read are required",
		         s->conf.listen);
		return -2;
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
	                 MHD_ALLOW_SUSPEND_RESUME;
	if (v6)
		flags |= MHD_USE_IPv6;
	struct MHD_OptionItem opts[16];
	size_t n = 0;
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
	opts[n++] = (struct MHD_OptionItem){
	    MHD_OPTION_CONNECTION_LIMIT, (intptr_t)s->conf.max_connections + HEALTH_RESERVE, NULL};
	if (s->conf.max_connections_per_ip > 0)
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		                                    (intptr_t)s->conf.max_connections_per_ip, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
	                                    (intptr_t)(s->conf.connection_timeout + 0.5), NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	                                    (intptr_t)s->conf.max_header, NULL};
	if (s->conf.http_threads > 1)
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE,
		                                    (intptr_t)s->conf.http_threads, NULL};
	if (s->conf.tls_cert) {
		if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
			snprintf(err, errlen, "server.tls: this libmicrohttpd has no TLS support");
			return -1;
		}
		s->tls_cert_pem = salve_read_file(s->conf.tls_cert, NULL);
		s->tls_key_pem = salve_read_file(s->conf.tls_key, NULL);
		if (!s->tls_cert_pem || !s->tls_key_pem) {
			snprintf(err, errlen, "server.tls: cannot read %s: %s",
			         s->tls_cert_pem ? s->conf.tls_key : s->conf.tls_cert,
			         strerror(errno));
			return -2;
		}
		flags |= MHD_USE_TLS;
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert_pem};
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key_pem};
	}
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	pthread_mutex_init(&s->conn_mu, NULL);
	if (srv_commit_start(s, err, errlen) < 0)
		return -1;
	s->mhd = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (!s->mhd) {
		snprintf(err, errlen,
		         "cannot listen on %s (address in use, or a bad TLS "
		         "certificate or key; -v shows libmicrohttpd's reason)",
		         s->conf.listen);
		return -1;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : 0;
	return 0;
}

void srv_http_stop(struct srv_server *s)
{
	/* Every suspended request is answered before the daemon stops (libmicrohttpd must not
	 * stop with suspended connections); requests that come meanwhile are written by their
	 * own thread. */
	srv_commit_drain(s);
	if (s->mhd) {
		MHD_stop_daemon(s->mhd);
		s->mhd = NULL;
		pthread_mutex_destroy(&s->conn_mu);
	}
	srv_commit_stop(s);
	free(s->tls_cert_pem);
	free(s->tls_key_pem);
	s->tls_cert_pem = s->tls_key_pem = NULL;
}
