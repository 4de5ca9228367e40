/*
 * notify plugin: the channels (not installed). Each channel is one entry of the table in
 * notify_channels.c: its name (the scheme of a target, "slack:#ops"), the keys and the parser
 * of its salve.yaml section, its target check, and prepare, which builds the exact request (URL,
 * headers, body) from a message. Render (dry-run) and run share what prepare built, so what
 * dry-run shows is what run sends. The entries live with their payload builders:
 * notify_chat.c (Slack, Teams), notify_incident.c (PagerDuty, Opsgenie), notify_webhook.c,
 * notify_email.c.
 *
 * Ownership: a notify_prepared owns what it points to (free with notify_prepared_free), except
 * the http strings, which are borrowed from itself, the configuration or the call's args.
 * The table is constant: any thread may read it.
 */
#ifndef SALVE_NOTIFY_CHANNEL_H
#define SALVE_NOTIFY_CHANNEL_H

#include <salve/plugin.h>

#include <stddef.h>

#include "notify_config.h"
#include "notify_msg.h"
#include "notify_transport.h"

/* One message to one channel, ready to render or send. */
struct notify_prepared {
	const struct notify_channel *ch;
	char channel[96];   /* "slack", "pagerduty:db", "webhook:tickets", "email": audited */
	char *target;       /* "#ops", dedup key, alias, recipients; not secret; may be NULL */
	const char *action; /* pagerduty event_action, opsgenie action */
	struct notify_http_request http;
	json_t *body;
	char *url_path;
	int url_from_args; /* the URL came from the call (a secret argument): never shown */
	json_t *to;        /* email recipients */
	struct notify_email email;
};

struct notify_channel {
	const char *name;       /* the scheme: "slack" */
	const char *config_key; /* its section: notify.<config_key> */
	/* Reads the section (checked by the core against the channel's settings, defaults filled
	 * in) into cfg. Returns 0 or -1 with the reason in err (-1 with err empty: out of memory).
	 */
	int (*parse)(const json_t *section, struct notify_config *cfg, char *err, size_t errlen);
	/* 1 when the section is there. NULL: the channel decides per target. Checked before
	 * check_target and prepare. */
	int (*configured)(const struct notify_config *cfg);
	/* Checks what follows the scheme ("#ops", "db", "a@b"). NULL: anything goes. */
	int (*check_target)(const struct notify_config *cfg, const char *target, const char *rest,
	                    char *err, size_t errlen);
	/* Fills p (memset to 0; p->ch and p->channel = name already set) for msg; rest is what
	 * followed the scheme, NULL when empty; args carry the channel's own options. Returns 0
	 * or a SALVE_ERR_* with the reason in err. */
	int (*prepare)(const struct notify_config *cfg, const char *rest,
	               const struct notify_msg *msg, const json_t *args, struct notify_prepared *p,
	               char *err, size_t errlen);
	/* Adds what dry-run shows to r (which has channel and target). NULL: the HTTP request. */
	void (*render)(const struct notify_config *cfg, const struct notify_prepared *p, json_t *r);
	/* Delivers p. NULL: the HTTP POST in p->http. */
	int (*send)(struct notify_state *st, salve_call *call, const struct notify_prepared *p,
	            struct notify_outcome *out);
	/* Adds the channel's facts to a delivery's result (dedup_key, alias, ...). May be NULL. */
	void (*describe)(const struct notify_prepared *p, const json_t *response, json_t *result);
	/* The argument that stands for summary in this channel's own action (Opsgenie's
	 * "message"), or NULL. */
	const char *summary_arg;
};

/* The entries (defined next to each channel's payload builder). */
extern const struct notify_channel notify_slack_channel, notify_teams_channel,
    notify_pagerduty_channel, notify_opsgenie_channel, notify_webhook_channel, notify_email_channel;

/* The keys of each channel's section, which notify_settings nests (notify_config.c). */
extern const salve_setting notify_slack_settings[], notify_teams_settings[],
    notify_pagerduty_settings[], notify_opsgenie_settings[], notify_webhook_settings[],
    notify_email_settings[];

/* The table, in configuration order, NULL-terminated. */
extern const struct notify_channel *const notify_channels[];

/* The channel called name, or NULL. */
const struct notify_channel *notify_channel_find(const char *name);
/* Check that a target ("slack:#ops", "pagerduty:", "email:a@b", "webhook:NAME", ...) names a
 * configured channel. Returns the channel and, in *rest, what follows the colon; or NULL
 * with the reason in err. */
const struct notify_channel *notify_target_parse(const struct notify_config *cfg,
                                                 const char *target, const char **rest, char *err,
                                                 size_t errlen);

/* Build what ch would send for msg. Returns 0 or a SALVE_ERR_* with the reason (starting
 * with the channel) in err; free p with notify_prepared_free either way. */
int notify_prepare(const struct notify_config *cfg, const struct notify_channel *ch,
                   const char *rest, const struct notify_msg *msg, const json_t *args,
                   struct notify_prepared *p, char *err, size_t errlen);
/* What dry-run prints: the exact body, and where secrets would go (by reference only). */
json_t *notify_prepared_render(const struct notify_config *cfg, const struct notify_prepared *p);
/* Deliver p; *result: {channel, status, attempts, target, drill, the channel's facts}. */
int notify_prepared_send(struct notify_state *st, salve_call *call, const struct notify_prepared *p,
                         json_t **result, char *err, size_t errlen);
void notify_prepared_free(struct notify_prepared *p);

/* The webhook named name in cfg, or NULL. */
const struct notify_webhook *notify_webhook_find(const struct notify_config *cfg, const char *name);
/* Frees what notify_email_build filled and zeroes it. */
void notify_email_free(struct notify_email *e);

#endif
