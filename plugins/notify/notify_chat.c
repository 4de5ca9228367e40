/* Chat channels: Slack incoming webhooks (Block Kit) and Microsoft Teams incoming webhooks
 * (MessageCard or Adaptive Card). Their webhook URLs carry the token, so both are secret
 * references. */
#include "notify_channel.h"
#include "notify_read.h"

#include <stdlib.h>
#include <string.h>

/* What both chats show first: the severity in capitals, the summary and text escaped for the
 * channel, and the title "[DRILL] SEVERITY: summary". All malloc'd. */
struct chat_lines {
	char *sev, *summary, *text, *title;
};

/* Takes summary and text (already escaped). */
static void chat_lines(const struct notify_msg *msg, char *summary, char *text,
                       struct chat_lines *l)
{
	l->sev = notify_upper(notify_severity_name(msg->severity));
	l->summary = summary;
	l->text = text;
	struct notify_sbuf b = {0};
	notify_sbuf_printf(&b, "%s%s: %s", notify_drill_prefix(msg), l->sev,
	                   summary ? summary : "");
	l->title = notify_sbuf_take(&b);
}

static void chat_lines_free(struct chat_lines *l)
{
	free(l->sev);
	free(l->summary);
	free(l->text);
	free(l->title);
}

/* ---- Slack ---------------------------------------------------------------------------- */

const salve_setting notify_slack_settings[] = {
    {.name = "webhook_url",
     .type = SALVE_T_SECRET_REF,
     .flags = SALVE_ARG_REQUIRED,
     .description = "the incoming webhook's URL (it carries the token)"},
    {.name = "channel",
     .type = SALVE_T_STRING,
     .flags = SALVE_SETTING_MIN,
     .min = 1,
     .description = "#channel when a call names none"},
    {.name = "username",
     .type = SALVE_T_STRING,
     .flags = SALVE_SETTING_MIN,
     .min = 1,
     .description = "the sender's name"},
    {.name = "icon_emoji",
     .type = SALVE_T_STRING,
     .flags = SALVE_SETTING_MIN,
     .min = 1,
     .description = "the sender's icon, e.g. :robot_face:"},
    {.name = NULL},
};

static int slack_parse(const json_t *o, struct notify_config *cfg, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	if (notify_copy_string(o, "webhook_url", &cfg->slack_url_ref) < 0 ||
	    notify_copy_string(o, "channel", &cfg->slack_channel) < 0 ||
	    notify_copy_string(o, "username", &cfg->slack_username) < 0 ||
	    notify_copy_string(o, "icon_emoji", &cfg->slack_icon_emoji) < 0)
		return -1;
	return 0;
}

static int slack_configured(const struct notify_config *cfg)
{
	return cfg->slack_url_ref != NULL;
}

static const char *const slack_colors[NOTIFY_SEV_COUNT] = {"#B71C1C", "#E65100", "#F9A825",
                                                           "#1565C0", "#607D8B"};

static json_t *mrkdwn(char *text_owned)
{
	return json_pack("{s:s, s:o}", "type", "mrkdwn", "text",
	                 notify_json_string_take(text_owned));
}

/* "*label*\nvalue" (both already escaped) as one section field, at most 2000 bytes. */
static json_t *slack_field(const char *label, const char *value)
{
	struct notify_sbuf b = {0};
	notify_sbuf_printf(&b, "*%s*\n%s", label ? label : "", value ? value : "");
	char *t = notify_sbuf_take(&b);
	json_t *field = mrkdwn(notify_truncate_utf8(t ? t : "", 2000));
	free(t);
	return field;
}

/* Facts then user fields, as section fields: at most 10 per section (Block Kit). */
static void slack_fields(const struct notify_msg *msg, json_t *blocks)
{
	json_t *fields = json_array();
	struct notify_facts facts;
	notify_run_facts(msg, &facts);
	for (size_t i = 0; i < facts.n; i++) {
		const struct notify_fact *f = &facts.item[i];
		/* the run id and trigger go in the context line */
		if (strcmp(f->key, "run_id") == 0 || strcmp(f->key, "trigger") == 0)
			continue;
		char *v = notify_escape_slack(f->value);
		json_array_append_new(fields, slack_field(f->label, v));
		free(v);
	}
	size_t nk = 0;
	const char **keys = msg->fields ? notify_sorted_keys(msg->fields, &nk) : NULL;
	for (size_t i = 0; i < nk; i++) {
		char *raw = notify_value_text(json_object_get(msg->fields, keys[i]));
		char *k = notify_escape_slack(keys[i]);
		char *v = notify_escape_slack(raw);
		json_array_append_new(fields, slack_field(k, v));
		free(raw);
		free(k);
		free(v);
	}
	free(keys);
	for (size_t i = 0; i < json_array_size(fields); i += 10) {
		json_t *chunk = json_array();
		for (size_t j = i; j < i + 10 && j < json_array_size(fields); j++)
			json_array_append(chunk, json_array_get(fields, j));
		json_array_append_new(blocks,
		                      json_pack("{s:s, s:o}", "type", "section", "fields", chunk));
	}
	json_decref(fields);
}

/* "salve run ID · trigger T", below the message. */
static void slack_context(const struct notify_msg *msg, json_t *blocks)
{
	if (!msg->run_id)
		return;
	struct notify_sbuf b = {0};
	char *id = notify_escape_slack(msg->run_id);
	notify_sbuf_printf(&b, "salve run %s", id ? id : "");
	if (msg->trigger) {
		char *trig = notify_escape_slack(msg->trigger);
		notify_sbuf_printf(&b, " \xc2\xb7 trigger %s", trig ? trig : "");
		free(trig);
	}
	free(id);
	json_array_append_new(blocks, json_pack("{s:s, s:[o]}", "type", "context", "elements",
	                                        mrkdwn(notify_sbuf_take(&b))));
}

static json_t *slack_build(const struct notify_config *cfg, const struct notify_msg *msg,
                           const char *channel)
{
	struct chat_lines l;
	chat_lines(msg, notify_escape_slack(msg->summary), notify_escape_slack(msg->text), &l);
	/* Top-level text (the title): the notification line phones and screen readers show. */
	const char *fallback = l.title;

	struct notify_sbuf b = {0};
	notify_sbuf_printf(&b, "*%s%s:* %s", notify_drill_prefix(msg), l.sev, l.summary);
	if (strcmp(msg->text, msg->summary) != 0)
		notify_sbuf_printf(&b, "\n%s", l.text);
	char *headline = notify_sbuf_take(&b);
	char *headline_cut = notify_truncate_utf8(headline ? headline : "", 3000);

	json_t *blocks = json_array();
	json_array_append_new(
	    blocks, json_pack("{s:s, s:o}", "type", "section", "text", mrkdwn(headline_cut)));
	slack_fields(msg, blocks);
	slack_context(msg, blocks);

	json_t *attachment = json_pack("{s:s, s:s, s:o}", "color", slack_colors[msg->severity],
	                               "fallback", fallback ? fallback : "", "blocks", blocks);
	json_t *payload =
	    json_pack("{s:s, s:[o]}", "text", fallback ? fallback : "", "attachments", attachment);
	if (channel && *channel)
		json_object_set_new(payload, "channel", json_string(channel));
	if (cfg->slack_username)
		json_object_set_new(payload, "username", json_string(cfg->slack_username));
	if (cfg->slack_icon_emoji)
		json_object_set_new(payload, "icon_emoji", json_string(cfg->slack_icon_emoji));
	chat_lines_free(&l);
	free(headline);
	return payload;
}

static int slack_prepare(const struct notify_config *cfg, const char *rest,
                         const struct notify_msg *msg, const json_t *args,
                         struct notify_prepared *p, char *err, size_t errlen)
{
	(void)args;
	if (!*msg->text) {
		snprintf(err, errlen, "slack: text is required");
		return SALVE_ERR_INVALID;
	}
	const char *channel = rest ? rest : cfg->slack_channel;
	p->target = channel ? strdup(channel) : NULL;
	p->body = slack_build(cfg, msg, channel);
	p->http.url_ref = cfg->slack_url_ref;
	return SALVE_OK;
}

const struct notify_channel notify_slack_channel = {
    .name = "slack",
    .config_key = "slack",
    .parse = slack_parse,
    .configured = slack_configured,
    .prepare = slack_prepare,
};

/* ---- Microsoft Teams ------------------------------------------------------------------- */

static const char *const teams_formats[] = {"messagecard", "adaptive", NULL};

const salve_setting notify_teams_settings[] = {
    {.name = "webhook_url",
     .type = SALVE_T_SECRET_REF,
     .flags = SALVE_ARG_REQUIRED,
     .description = "the incoming webhook's or workflow's URL (it carries the token)"},
    {.name = "format",
     .type = SALVE_T_STRING,
     .default_value = "messagecard",
     .description = "messagecard (connectors) or adaptive (Workflows: an Adaptive Card)",
     .choices = teams_formats},
    {.name = NULL},
};

static int teams_parse(const json_t *o, struct notify_config *cfg, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	const char *format = json_string_value(json_object_get(o, "format"));
	cfg->teams_adaptive = strcmp(format, "adaptive") == 0;
	return notify_copy_string(o, "webhook_url", &cfg->teams_url_ref);
}

static int teams_configured(const struct notify_config *cfg)
{
	return cfg->teams_url_ref != NULL;
}

static const char *const teams_colors[NOTIFY_SEV_COUNT] = {"B71C1C", "E65100", "F9A825", "1565C0",
                                                           "607D8B"};
static const char *const adaptive_colors[NOTIFY_SEV_COUNT] = {"Attention", "Warning", "Warning",
                                                              "Accent", "Default"};

/* The facts, then the user's fields, as [{name|title, value}]; values escaped. */
static json_t *teams_facts(const struct notify_config *cfg, const struct notify_msg *msg)
{
	json_t *facts = json_array();
	struct notify_facts rf;
	notify_run_facts(msg, &rf);
	const char *name_key = cfg->teams_adaptive ? "title" : "name";
	for (size_t i = 0; i < rf.n; i++)
		json_array_append_new(facts,
		                      json_pack("{s:s, s:o}", name_key, rf.item[i].label, "value",
		                                notify_json_string_take(notify_escape_teams(
		                                    rf.item[i].value, cfg->teams_adaptive))));
	size_t nk = 0;
	const char **keys = msg->fields ? notify_sorted_keys(msg->fields, &nk) : NULL;
	for (size_t i = 0; i < nk; i++) {
		char *raw = notify_value_text(json_object_get(msg->fields, keys[i]));
		json_array_append_new(
		    facts,
		    json_pack(
		        "{s:o, s:o}", name_key,
		        notify_json_string_take(notify_escape_teams(keys[i], cfg->teams_adaptive)),
		        "value",
		        notify_json_string_take(notify_escape_teams(raw, cfg->teams_adaptive))));
		free(raw);
	}
	free(keys);
	return facts;
}

static json_t *adaptive_card(const struct notify_msg *msg, const char *title, const char *text,
                             const json_t *facts)
{
	json_t *body = json_array();
	json_array_append_new(body, json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "type", "TextBlock",
	                                      "text", title ? title : "", "weight", "Bolder",
	                                      "size", "Medium", "wrap", 1, "color",
	                                      adaptive_colors[msg->severity]));
	if (strcmp(msg->text, msg->summary) != 0)
		json_array_append_new(body, json_pack("{s:s, s:s, s:b}", "type", "TextBlock",
		                                      "text", text ? text : "", "wrap", 1));
	if (json_array_size(facts) > 0)
		json_array_append_new(body,
		                      json_pack("{s:s, s:O}", "type", "FactSet", "facts", facts));
	json_t *content = json_pack("{s:s, s:s, s:s, s:o}", "$schema",
	                            "http://adaptivecards.io/schemas/adaptive-card.json", "type",
	                            "AdaptiveCard", "version", "1.4", "body", body);
	return json_pack("{s:s, s:[{s:s, s:n, s:o}]}", "type", "message", "attachments",
	                 "contentType", "application/vnd.microsoft.card.adaptive", "contentUrl",
	                 "content", content);
}

static json_t *message_card(const struct notify_msg *msg, const char *title, const char *text,
                            const json_t *facts)
{
	json_t *card = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "@type", "MessageCard",
	                         "@context", "https://schema.org/extensions", "themeColor",
	                         teams_colors[msg->severity], "summary", title ? title : "",
	                         "title", title ? title : "", "text", text ? text : "");
	if (json_array_size(facts) > 0)
		json_object_set_new(card, "sections", json_pack("[{s:O}]", "facts", facts));
	return card;
}

static json_t *teams_build(const struct notify_config *cfg, const struct notify_msg *msg)
{
	struct chat_lines l;
	chat_lines(msg, notify_escape_teams(msg->summary, cfg->teams_adaptive),
	           notify_escape_teams(msg->text, cfg->teams_adaptive), &l);
	json_t *facts = teams_facts(cfg, msg);
	json_t *card = cfg->teams_adaptive ? adaptive_card(msg, l.title, l.text, facts)
	                                   : message_card(msg, l.title, l.text, facts);
	json_decref(facts);
	chat_lines_free(&l);
	return card;
}

static int teams_prepare(const struct notify_config *cfg, const char *rest,
                         const struct notify_msg *msg, const json_t *args,
                         struct notify_prepared *p, char *err, size_t errlen)
{
	(void)rest;
	(void)args;
	if (!*msg->text) {
		snprintf(err, errlen, "teams: text is required");
		return SALVE_ERR_INVALID;
	}
	p->body = teams_build(cfg, msg);
	p->http.url_ref = cfg->teams_url_ref;
	p->http.failure_text = "delivery failed";
	return SALVE_OK;
}

const struct notify_channel notify_teams_channel = {
    .name = "teams",
    .config_key = "teams",
    .parse = teams_parse,
    .configured = teams_configured,
    .prepare = teams_prepare,
};
