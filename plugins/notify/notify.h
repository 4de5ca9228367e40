/*
 * notify plugin, internal interfaces shared by its source files (not installed).
 *
 * Layout: notify_config.c parses and validates the plugin's salve.yaml section; notify_msg.c
 * turns action arguments plus run facts into one channel-neutral message and then into each
 * service's payload (pure functions, no I/O: render and run share them); notify_transport.c
 * sends HTTP and SMTP requests through libcurl with retries, timeouts and audit events;
 * notify_plugin.c holds the actions, the target dispatch (send/page/escalate) and the
 * descriptor.
 *
 * Ownership follows plugin.h: json_t returned from a function whose name contains "build"
 * or "new" belongs to the caller; everything else is borrowed. The configuration is read-only
 * after init, so any thread may read it; the curl share inside it is locked.
 */
#ifndef SALVE_NOTIFY_H
#define SALVE_NOTIFY_H

#include <salve/plugin.h>

#include <curl/curl.h>
#include <pthread.h>
#include <stddef.h>

#include "duration.h"

/* ---- configuration (notify_config.c) ---------------------------------------------------- */

enum notify_severity {
	NOTIFY_SEV_CRITICAL = 0,
	NOTIFY_SEV_HIGH,
	NOTIFY_SEV_MEDIUM,
	NOTIFY_SEV_LOW,
	NOTIFY_SEV_INFO,
	NOTIFY_SEV_COUNT
};

struct notify_retry {
	int attempts;      /* total tries, >= 1 */
	double base_delay; /* seconds before the 2nd try; doubles each time */
	double max_delay;  /* cap on one backoff wait */
	double max_time;   /* cap on the whole delivery, all tries and waits */
};

/* A named generic webhook (webhooks: NAME: {...}). */
struct notify_webhook {
	char *name;
	char *url; /* a plain URL, or a secret reference when url_is_ref */
	int url_is_ref;
	json_t *headers; /* object: header name -> plain value or secret reference */
	json_t *body;    /* default body: template string or object; NULL for the standard body */
};

struct notify_level {
	double wait; /* seconds after the previous level (level 1: after the run started failing) */
	json_t *to;  /* array of target strings */
};

struct notify_config {
	/* slack */
	char *slack_url_ref;
	char *slack_channel;
	char *slack_username;
	char *slack_icon_emoji;
	/* pagerduty */
	char *pd_key_ref;
	char *pd_url;
	char *pd_source;
	json_t *pd_services; /* object: service name -> routing key secret reference */
	/* opsgenie */
	char *og_key_ref;
	char *og_url;
	json_t *og_responders; /* array of responder objects, may be NULL */
	json_t *og_tags;       /* array of strings, may be NULL */
	/* teams */
	char *teams_url_ref;
	int teams_adaptive; /* 1: Adaptive Card (Workflows); 0: MessageCard (connectors) */
	/* webhooks */
	struct notify_webhook *webhooks;
	size_t nwebhooks;
	/* email */
	char *smtp_url;
	char *smtp_from;
	char *smtp_from_name;
	json_t *smtp_to; /* default recipients, array of strings, may be empty */
	char *smtp_username;
	char *smtp_password_ref;
	int smtp_starttls;
	/* routing and escalation */
	json_t *routing[NOTIFY_SEV_COUNT]; /* arrays of target strings */
	struct notify_level *levels;
	size_t nlevels;
	/* transport */
	double timeout; /* seconds per attempt */
	double connect_timeout;
	struct notify_retry retry;
	char *ca_file; /* CA bundle for https/smtps/STARTTLS; NULL = system default */
};

/* The plugin's state: the host table, the configuration and the shared curl caches. */
struct notify_state {
	const salve_host *host;
	struct notify_config cfg;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	int curl_ready;
};

/* Parse config into cfg. Returns 0, or -1 with the reason (naming the key) in err. */
int notify_config_parse(const json_t *config, struct notify_config *cfg, char *err, size_t errlen);
void notify_config_free(struct notify_config *cfg);
/* Registers every credential cfg names with the host's redaction, at load, before anything
 * can echo one: each secret reference is resolved once through host->secret() (which
 * registers the value; a reference that does not resolve yet is left to fail at delivery),
 * plus, through host->register_secret (ABI 1.2), the path and query of secret URLs (Slack,
 * Teams), passwords inside plain URLs, and plain values of credential headers
 * (Authorization, *token*, *key*, ...) with and without their scheme. */
void notify_config_register_secrets(const struct notify_config *cfg, const salve_host *host);

/* 1 when s is a secret reference ("env:NAME" or "file:/path"). */
int notify_is_secret_ref(const char *s);
const struct notify_webhook *notify_config_webhook(const struct notify_config *cfg,
                                                   const char *name);
/* Check that a target ("slack:#ops", "pagerduty:", "email:a@b", "webhook:NAME", ...) names a
 * configured channel. Returns 0, or -1 with the reason in err. */
int notify_target_check(const struct notify_config *cfg, const char *target, char *err,
                        size_t errlen);

const char *notify_severity_name(enum notify_severity sev);
/* Accepts critical/high/medium/low/info and PagerDuty's error/warning. Returns -1 if unknown. */
int notify_severity_parse(const char *s, enum notify_severity *sev);

/* ---- messages (notify_msg.c) ------------------------------------------------------------ */

/* One channel-neutral notification: what a person should read, plus the run's facts.
 * All strings are borrowed from the action's args, the host's run_info or literals, and
 * live as long as the callback. */
struct notify_msg {
	const char *summary; /* one line */
	const char *text;    /* body; may equal summary */
	enum notify_severity severity;
	const json_t *fields; /* object of extra facts, may be NULL */
	const char *run_id, *runbook, *step, *outcome, *target, *trigger, *fingerprint, *mode;
	int drill;
	int level; /* escalation level, 0 when not an escalation */
};

/* Fill msg from args ("text", "summary", "severity", "fields", "outcome", "target") and the
 * host's run facts. default_sev applies when args have no severity. Returns 0, or
 * SALVE_ERR_INVALID with the reason in err. */
int notify_msg_from_args(const salve_host *host, salve_call *call, const json_t *args,
                         enum notify_severity default_sev, struct notify_msg *msg, char *err,
                         size_t errlen);

/* "[DRILL] " when msg->drill, else "". */
const char *notify_drill_prefix(const struct notify_msg *msg);

/* Escapers: each returns a malloc'd string (caller frees), never NULL except on ENOMEM. */
char *notify_escape_slack(const char *s);
char *notify_escape_html(const char *s);
/* MessageCard text takes HTML entities and Markdown; Adaptive Cards only Markdown. */
char *notify_escape_teams(const char *s, int adaptive);
/* Copy at most max bytes of s, cut on a UTF-8 boundary, ending in "…" when cut. malloc'd. */
char *notify_truncate_utf8(const char *s, size_t max);

/* Payload builders. Secrets are never part of what they build: the transport adds the
 * PagerDuty routing key and the Opsgenie header after resolving them. */
json_t *notify_build_slack(const struct notify_config *cfg, const struct notify_msg *msg,
                           const char *channel);
/* event_action: trigger/acknowledge/resolve; dedup_key may be NULL (trigger only). */
json_t *notify_build_pagerduty(const struct notify_config *cfg, const struct notify_msg *msg,
                               const json_t *args, const char *event_action, const char *dedup_key);
json_t *notify_build_opsgenie_create(const struct notify_config *cfg, const struct notify_msg *msg,
                                     const json_t *args, const char *alias);
/* action: close or acknowledge; the note defaults to the text, else "closed by salve run ID". */
json_t *notify_build_opsgenie_close(const struct notify_msg *msg, const json_t *args,
                                    const char *action);
json_t *notify_build_teams(const struct notify_config *cfg, const struct notify_msg *msg);
json_t *notify_build_webhook_default(const struct notify_msg *msg);
/* Substitute {{name}} placeholders in a template: a string template gets JSON-escaped values
 * and must then parse as JSON; an object or array gets raw values in every string. Returns a
 * new json_t or NULL with the reason in err. */
json_t *notify_build_webhook_template(const json_t *tmpl, const struct notify_msg *msg, char *err,
                                      size_t errlen);

/* The parts of an email; every string malloc'd, freed by notify_email_free. */
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
/* to is an array of addresses (already validated). Returns 0 or SALVE_ERR_INVALID. */
int notify_email_build(const struct notify_config *cfg, const struct notify_msg *msg,
                       const char *subject, const char *body, const json_t *to,
                       struct notify_email *out, char *err, size_t errlen);
void notify_email_free(struct notify_email *e);
/* Encode a header value per RFC 2047 (UTF-8, base64) when it is not printable ASCII.
 * malloc'd. */
char *notify_rfc2047(const char *s);
/* 1 when addr is a plausible mailbox with nothing that could break a header. */
int notify_valid_address(const char *addr);

/* ---- transport (notify_transport.c) ----------------------------------------------------- */

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

struct notify_smtp_request {
	const char *channel; /* "email" */
	const json_t *to;    /* array of addresses */
	const struct notify_email *email;
};

int notify_smtp_send(struct notify_state *st, salve_call *call,
                     const struct notify_smtp_request *req, struct notify_outcome *out);

#endif
