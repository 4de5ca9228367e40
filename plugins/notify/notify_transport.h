/*
 * notify plugin: delivery over HTTP (the host's client, host->http_request) and SMTP
 * (libcurl: the host's service speaks HTTP only): retries with backoff, timeouts from the
 * step's remaining time, one audit event per attempt. Channels describe a request; only this
 * module resolves the secrets it names, right before sending.
 *
 * Ownership: requests and their strings are borrowed for the call; an outcome's response
 * belongs to the caller (json_decref). Threads: the host's HTTP client is thread-safe and
 * SMTP uses a handle per attempt, so deliveries may run concurrently with different calls.
 */
#ifndef SALVE_NOTIFY_TRANSPORT_H
#define SALVE_NOTIFY_TRANSPORT_H

#include <salve/plugin.h>

#include <stddef.h>

#include "notify_config.h"

/* The plugin's state: the host table, the configuration and the HTTP client. */
struct notify_state {
	const salve_host *host;
	struct notify_config cfg;
	salve_http_client *http;
	int curl_ready; /* libcurl initialised, for SMTP */
};

int notify_transport_init(struct notify_state *st, char *err, size_t errlen);
void notify_transport_fini(struct notify_state *st);

/* One HTTP POST as the channel sends it. Strings are borrowed. */
struct notify_http_request {
	const char *channel;       /* "slack", "pagerduty", "webhook:tickets": audited, in errors */
	const char *target;        /* "#ops", alias...; may be NULL */
	const char *url_ref;       /* secret reference of the URL, or NULL */
	const char *url;           /* plain base URL when url_ref is NULL */
	const char *url_path;      /* appended to the URL (already escaped), may be NULL */
	const char *auth_ref;      /* secret whose value goes into Authorization, or NULL */
	const char *auth_scheme;   /* e.g. "GenieKey" */
	const char *body_key_ref;  /* secret put into the JSON body under body_key_name */
	const char *body_key_name; /* e.g. "routing_key" */
	const json_t *headers;     /* extra headers: name -> plain value or secret reference */
	const json_t *body;        /* the JSON body (without secrets) */
	/* A 2xx answer whose body contains this text is a failure after all (Teams connectors
	 * answer 200 "Webhook message delivery failed ..."); NULL to trust the status. */
	const char *failure_text;
};

/* What a delivery produced, for the action's result. */
struct notify_outcome {
	long status; /* last HTTP or SMTP reply code, 0 when none */
	int attempts;
	json_t *response; /* parsed JSON answer when there was one (owned; free with decref) */
	char error[768];  /* the reason when the status is negative; names the channel only */
};

int notify_http_post(struct notify_state *st, salve_call *call,
                     const struct notify_http_request *req, struct notify_outcome *out);

/* The parts of an email, built by the email channel; every string malloc'd. */
struct notify_email {
	char *subject;        /* UTF-8, one line, with the [DRILL] mark */
	char *subject_header; /* RFC 2047-encoded when not ASCII */
	char *text;           /* text/plain body */
	char *html;           /* text/html body, user content escaped */
	char *from_header;    /* "name <addr>" */
	char *to_header;      /* "a@b, c@d" */
	char *date_header;    /* RFC 5322 date */
	char *message_id;     /* "<...@domain>" */
};

struct notify_smtp_request {
	const char *channel; /* "email" */
	const json_t *to;    /* array of addresses */
	const struct notify_email *email;
};

int notify_smtp_send(struct notify_state *st, salve_call *call,
                     const struct notify_smtp_request *req, struct notify_outcome *out);

#endif
