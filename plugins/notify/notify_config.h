/*
 * notify plugin: its configuration (not installed). The core checks the whole section
 * against notify_settings, the maps inside included; notify_config.c reads it (timeouts,
 * retry, routing, escalation) and hands each channel's section to that channel's parser
 * (notify_channel.h); every routing and escalation target must name a configured channel.
 *
 * Ownership: notify_config_parse fills a struct the caller owns and frees with
 * notify_config_free. The configuration is read-only after init, so any thread may read it.
 */
#ifndef SALVE_NOTIFY_CONFIG_H
#define SALVE_NOTIFY_CONFIG_H

#include <salve/plugin.h>

#include <stddef.h>

#include "notify_common.h"

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

/* The plugin's settings (plugins: notify: in salve.yaml), each channel's nested. */
extern const salve_setting notify_settings[];

/* Read config, as the core gives it to init (checked against the plugin's settings, defaults
 * filled in), into cfg. Returns 0, or -1 with the reason (naming the key) in err. */
int notify_config_parse(const json_t *config, struct notify_config *cfg, char *err, size_t errlen);
void notify_config_free(struct notify_config *cfg);
/* Registers every credential cfg names with the host's redaction, at load, before anything
 * can echo one: each secret reference is resolved once through host->secret() (which
 * registers the value; a reference that does not resolve yet is left to fail at delivery),
 * plus, through host->register_secret (ABI 1.2), the path and query of secret URLs (Slack,
 * Teams), passwords inside plain URLs, and plain values of credential headers
 * (Authorization, *token*, *key*, ...) with and without their scheme. */
void notify_config_register_secrets(const struct notify_config *cfg, const salve_host *host);

#endif
