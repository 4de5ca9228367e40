/* Messages: from action arguments and run facts to each service's payload. No I/O here, so
 * render (dry-run) and run build byte-for-byte the same message. User-supplied text is
 * escaped for each format; JSON is always built with jansson. */
#include "notify.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A growing string. On allocation failure it stays failed and sbuf_take returns NULL. */
struct sbuf {
	char *s;
	size_t len, cap;
	int failed;
};

static void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 128;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *grown = realloc(b->s, cap);
		if (!grown) {
			b->failed = 1;
			return;
		}
		b->s = grown;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sbuf_puts(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

static void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = 1;
		return;
	}
	sbuf_add(b, s, (size_t)n);
	free(s);
}

static char *sbuf_take(struct sbuf *b)
{
	if (b->failed) {
		free(b->s);
		return NULL;
	}
	if (!b->s)
		return strdup("");
	return b->s;
}

/* ---- arguments and run facts ---------------------------------------------------------- */

static const char *arg_str(const json_t *args, const char *key)
{
	const char *s = json_string_value(json_object_get(args, key));
	return (s && *s) ? s : NULL;
}

int notify_msg_from_args(const salve_host *host, salve_call *call, const json_t *args,
                         enum notify_severity default_sev, struct notify_msg *msg, char *err,
                         size_t errlen)
{
	memset(msg, 0, sizeof *msg);
	msg->text = arg_str(args, "text");
	msg->summary = arg_str(args, "summary");
	if (!msg->summary)
		msg->summary = msg->text;
	if (!msg->text)
		msg->text = msg->summary;
	msg->severity = default_sev;
	const char *sev = arg_str(args, "severity");
	if (sev && notify_severity_parse(sev, &msg->severity) < 0) {
		snprintf(err, errlen,
		         "severity \"%.64s\" is not one of critical, high, medium, low, info", sev);
		return SALVE_ERR_INVALID;
	}
	json_t *fields = json_object_get(args, "fields");
	if (fields && !json_is_null(fields)) {
		if (!json_is_object(fields)) {
			snprintf(err, errlen, "fields must be a map of name = value");
			return SALVE_ERR_INVALID;
		}
		msg->fields = fields;
	}
	msg->run_id = host->run_info(call, "run_id");
	msg->runbook = host->run_info(call, "runbook");
	msg->step = host->run_info(call, "step");
	msg->trigger = host->run_info(call, "trigger");
	msg->fingerprint = host->run_info(call, "fingerprint");
	msg->mode = host->run_info(call, "mode");
	msg->outcome = arg_str(args, "outcome");
	if (!msg->outcome)
		msg->outcome = host->run_info(call, "outcome");
	msg->target = arg_str(args, "target");
	if (!msg->target)
		msg->target = host->run_info(call, "target");
	msg->drill = host->drill(call) == 1;
	return SALVE_OK;
}

const char *notify_drill_prefix(const struct notify_msg *msg)
{
	return msg->drill ? "[DRILL] " : "";
}

/* ---- escaping and cutting ------------------------------------------------------------- */

static char *escape_with(const char *s, const char *(*map)(char c))
{
	struct sbuf b = {0};
	for (const char *p = s ? s : ""; *p; p++) {
		const char *rep = map(*p);
		if (rep)
			sbuf_puts(&b, rep);
		else
			sbuf_add(&b, p, 1);
	}
	return sbuf_take(&b);
}

/* Slack mrkdwn: only &, < and > are control characters (https://api.slack.com/reference/
 * surfaces/formatting#escaping); escaping them keeps <!channel> and <url|x> from user text
 * inert. */
static const char *slack_map(char c)
{
	switch (c) {
	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	default:
		return NULL;
	}
}

static const char *html_map(char c)
{
	switch (c) {
	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	case '"':
		return "&quot;";
	case '\'':
		return "&#39;";
	default:
		return NULL;
	}
}

/* Teams renders a Markdown subset (and, in MessageCards, some HTML) in card text: entity-
 * escape the HTML characters and backslash-escape the Markdown ones, so user text shows as
 * typed. */
static const char *teams_map(char c)
{
	switch (c) {
	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	case '\\':
		return "\\\\";
	case '*':
		return "\\*";
	case '_':
		return "\\_";
	case '`':
		return "\\`";
	case '[':
		return "\\[";
	case ']':
		return "\\]";
	case '~':
		return "\\~";
	case '#':
		return "\\#";
	default:
		return NULL;
	}
}

char *notify_escape_slack(const char *s)
{
	return escape_with(s, slack_map);
}

char *notify_escape_html(const char *s)
{
	return escape_with(s, html_map);
}

static const char *adaptive_map(char c)
{
	return (c == '&' || c == '<' || c == '>') ? NULL : teams_map(c);
}

char *notify_escape_teams(const char *s, int adaptive)
{
	return escape_with(s, adaptive ? adaptive_map : teams_map);
}

char *notify_truncate_utf8(const char *s, size_t max)
{
	static const char ellipsis[] = "\xe2\x80\xa6"; /* U+2026 */
	size_t n = strlen(s);
	if (n <= max)
		return strdup(s);
	size_t cut = max >= 3 ? max - 3 : 0;
	while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
		cut--; /* never split a UTF-8 sequence */
	char *out = malloc(cut + sizeof ellipsis);
	if (!out)
		return NULL;
	memcpy(out, s, cut);
	memcpy(out + cut, ellipsis, sizeof ellipsis);
	return out;
}

/* Transfers ownership of s into a json string; NULL-safe. */
static json_t *json_string_take(char *s)
{
	json_t *j = s ? json_string(s) : NULL;
	free(s);
	return j ? j : json_string("");
}

/* A field value as text: strings as they are, anything else as compact JSON. malloc'd. */
static char *value_text(const json_t *v)
{
	if (json_is_string(v))
		return strdup(json_string_value(v));
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	return s ? s : strdup("");
}

/* Keys of an object sorted, so output does not depend on how the core ordered a Lua table. */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char **sorted_keys(const json_t *obj, size_t *n)
{
	*n = json_object_size(obj);
	const char **keys = calloc(*n ? *n : 1, sizeof *keys);
	if (!keys) {
		*n = 0;
		return NULL;
	}
	size_t i = 0;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)obj, k, v)
	{
		keys[i++] = k;
	}
	qsort(keys, *n, sizeof *keys, cmp_str);
	return keys;
}

/* The run facts shown in every channel, in this order; NULL values are skipped. */
struct fact {
	const char *label;
	const char *key; /* machine name used in JSON payloads */
	const char *value;
};

static size_t run_facts(const struct notify_msg *msg, struct fact facts[8], char level[16])
{
	size_t n = 0;
	const struct fact all[] = {
	    {"Runbook", "runbook", msg->runbook}, {"Step", "step", msg->step},
	    {"Outcome", "outcome", msg->outcome}, {"Target", "target", msg->target},
	    {"Run", "run_id", msg->run_id},       {"Trigger", "trigger", msg->trigger},
	};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (all[i].value && *all[i].value)
			facts[n++] = all[i];
	if (msg->level > 0) {
		snprintf(level, 16, "%d", msg->level);
		facts[n++] = (struct fact){"Escalation level", "escalation_level", level};
	}
	return n;
}

static char *upper(const char *s)
{
	char *u = strdup(s);
	for (char *p = u; p && *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	return u;
}

/* ---- Slack ---------------------------------------------------------------------------- */

static const char *const slack_colors[NOTIFY_SEV_COUNT] = {"#B71C1C", "#E65100", "#F9A825",
                                                           "#1565C0", "#607D8B"};

static json_t *mrkdwn(char *text_owned)
{
	return json_pack("{s:s, s:o}", "type", "mrkdwn", "text", json_string_take(text_owned));
}

json_t *notify_build_slack(const struct notify_config *cfg, const struct notify_msg *msg,
                           const char *channel)
{
	char *sev = upper(notify_severity_name(msg->severity));
	char *summary = notify_escape_slack(msg->summary);
	char *text = notify_escape_slack(msg->text);
	struct sbuf b = {0};

	/* Top-level text: the notification line phones and screen readers show. */
	sbuf_printf(&b, "%s%s: %s", notify_drill_prefix(msg), sev, summary);
	char *fallback = sbuf_take(&b);

	b = (struct sbuf){0};
	sbuf_printf(&b, "*%s%s:* %s", notify_drill_prefix(msg), sev, summary);
	if (strcmp(msg->text, msg->summary) != 0)
		sbuf_printf(&b, "\n%s", text);
	char *headline = sbuf_take(&b);
	char *headline_cut = notify_truncate_utf8(headline ? headline : "", 3000);

	json_t *blocks = json_array();
	json_array_append_new(
	    blocks, json_pack("{s:s, s:o}", "type", "section", "text", mrkdwn(headline_cut)));

	/* Facts then user fields, as section fields: at most 10 per section (Block Kit). */
	json_t *fields = json_array();
	struct fact facts[8];
	char level[16];
	size_t nf = run_facts(msg, facts, level);
	for (size_t i = 0; i < nf; i++) {
		/* the run id and trigger go in the context line below */
		if (strcmp(facts[i].key, "run_id") == 0 || strcmp(facts[i].key, "trigger") == 0)
			continue;
		char *v = notify_escape_slack(facts[i].value);
		b = (struct sbuf){0};
		sbuf_printf(&b, "*%s*\n%s", facts[i].label, v ? v : "");
		free(v);
		char *t = sbuf_take(&b);
		json_array_append_new(fields, mrkdwn(notify_truncate_utf8(t ? t : "", 2000)));
		free(t);
	}
	if (msg->fields) {
		size_t nk;
		const char **keys = sorted_keys(msg->fields, &nk);
		for (size_t i = 0; i < nk; i++) {
			char *raw = value_text(json_object_get(msg->fields, keys[i]));
			char *k = notify_escape_slack(keys[i]);
			char *v = notify_escape_slack(raw);
			b = (struct sbuf){0};
			sbuf_printf(&b, "*%s*\n%s", k ? k : "", v ? v : "");
			char *t = sbuf_take(&b);
			json_array_append_new(fields,
			                      mrkdwn(notify_truncate_utf8(t ? t : "", 2000)));
			free(t);
			free(raw);
			free(k);
			free(v);
		}
		free(keys);
	}
	for (size_t i = 0; i < json_array_size(fields); i += 10) {
		json_t *chunk = json_array();
		for (size_t j = i; j < i + 10 && j < json_array_size(fields); j++)
			json_array_append(chunk, json_array_get(fields, j));
		json_array_append_new(blocks,
		                      json_pack("{s:s, s:o}", "type", "section", "fields", chunk));
	}
	json_decref(fields);

	if (msg->run_id) {
		char *id = notify_escape_slack(msg->run_id);
		b = (struct sbuf){0};
		sbuf_printf(&b, "salve run %s", id ? id : "");
		if (msg->trigger) {
			char *trig = notify_escape_slack(msg->trigger);
			sbuf_printf(&b, " \xc2\xb7 trigger %s", trig ? trig : "");
			free(trig);
		}
		free(id);
		json_array_append_new(blocks, json_pack("{s:s, s:[o]}", "type", "context",
		                                        "elements", mrkdwn(sbuf_take(&b))));
	}

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
	free(sev);
	free(summary);
	free(text);
	free(fallback);
	free(headline);
	return payload;
}

/* ---- PagerDuty Events API v2 ------------------------------------------------------------ */

static const char *const pd_severity[NOTIFY_SEV_COUNT] = {"critical", "error", "warning", "info",
                                                          "info"};

static void iso8601_now(char out[32])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out[0] = '\0';
}

/* {"run_id": ..., "runbook": ..., ...}: the run's facts for machine-readable payloads. */
static json_t *facts_object(const struct notify_msg *msg)
{
	json_t *o = json_object();
	struct fact facts[8];
	char level[16];
	size_t nf = run_facts(msg, facts, level);
	for (size_t i = 0; i < nf; i++) {
		if (msg->level > 0 && strcmp(facts[i].key, "escalation_level") == 0)
			json_object_set_new(o, facts[i].key, json_integer(msg->level));
		else
			json_object_set_new(o, facts[i].key, json_string(facts[i].value));
	}
	if (msg->fingerprint)
		json_object_set_new(o, "fingerprint", json_string(msg->fingerprint));
	if (msg->drill)
		json_object_set_new(o, "drill", json_true());
	return o;
}

json_t *notify_build_pagerduty(const struct notify_config *cfg, const struct notify_msg *msg,
                               const json_t *args, const char *event_action, const char *dedup_key)
{
	json_t *event = json_pack("{s:s}", "event_action", event_action);
	if (dedup_key)
		json_object_set_new(event, "dedup_key", json_string(dedup_key));
	if (strcmp(event_action, "trigger") != 0)
		return event; /* acknowledge and resolve carry only the key (Events API v2) */

	struct sbuf b = {0};
	sbuf_printf(&b, "%s%s", notify_drill_prefix(msg), msg->summary);
	char *summary = sbuf_take(&b);

	const char *source = arg_str(args, "source");
	if (!source)
		source = msg->target;
	if (!source)
		source = cfg->pd_source;
	if (!source)
		source = "salve";

	json_t *details = json_object();
	json_t *user = json_object_get(args, "custom_details");
	if (json_is_object(user))
		json_object_update(details, user);
	if (msg->fields)
		json_object_update(details, (json_t *)msg->fields);
	if (strcmp(msg->text, msg->summary) != 0)
		json_object_set_new(details, "text", json_string(msg->text));
	json_object_set_new(details, "salve", facts_object(msg));

	char ts[32];
	iso8601_now(ts);
	json_t *payload = json_pack(
	    "{s:o, s:s, s:s, s:s, s:o}", "summary",
	    json_string_take(notify_truncate_utf8(summary ? summary : "", 1024)), "source", source,
	    "severity", pd_severity[msg->severity], "timestamp", ts, "custom_details", details);
	const char *component = arg_str(args, "component");
	const char *group = arg_str(args, "group");
	const char *klass = arg_str(args, "class");
	if (!group)
		group = msg->runbook;
	if (!klass)
		klass = msg->step;
	if (component)
		json_object_set_new(payload, "component", json_string(component));
	if (group)
		json_object_set_new(payload, "group", json_string(group));
	if (klass)
		json_object_set_new(payload, "class", json_string(klass));
	json_object_set_new(event, "payload", payload);
	json_object_set_new(event, "client", json_string("salve"));
	free(summary);
	return event;
}

/* ---- Opsgenie Alert API ------------------------------------------------------------------ */

static const char *const og_priority[NOTIFY_SEV_COUNT] = {"P1", "P2", "P3", "P4", "P5"};

json_t *notify_build_opsgenie_create(const struct notify_config *cfg, const struct notify_msg *msg,
                                     const json_t *args, const char *alias)
{
	struct sbuf b = {0};
	sbuf_printf(&b, "%s%s", notify_drill_prefix(msg), msg->summary);
	char *message = sbuf_take(&b);
	const char *priority = arg_str(args, "priority");
	if (!priority)
		priority = og_priority[msg->severity];

	json_t *alert =
	    json_pack("{s:o, s:s, s:s}", "message",
	              json_string_take(notify_truncate_utf8(message ? message : "", 130)),
	              "priority", priority, "source", "salve");
	free(message);
	if (alias)
		json_object_set_new(alert, "alias", json_string(alias));
	const char *description = arg_str(args, "description");
	if (!description)
		description = msg->text;
	json_object_set_new(alert, "description",
	                    json_string_take(notify_truncate_utf8(description, 15000)));
	if (msg->target)
		json_object_set_new(alert, "entity", json_string(msg->target));

	json_t *tags = json_array();
	const json_t *lists[] = {cfg->og_tags, json_object_get(args, "tags")};
	for (size_t l = 0; l < 2; l++) {
		size_t i;
		json_t *t;
		json_array_foreach((json_t *)lists[l], i, t)
		{
			if (json_is_string(t))
				json_array_append(tags, t);
		}
	}
	if (msg->drill)
		json_array_append_new(tags, json_string("drill"));
	if (json_array_size(tags) > 0)
		json_object_set_new(alert, "tags", tags);
	else
		json_decref(tags);

	/* details: a flat map of strings (the API's rule); run facts win over user keys. */
	json_t *details = json_object();
	const json_t *user_maps[] = {json_object_get(args, "details"), msg->fields};
	for (size_t m = 0; m < 2; m++) {
		if (!json_is_object(user_maps[m]))
			continue;
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)user_maps[m], k, v)
		{
			json_object_set_new(details, k, json_string_take(value_text(v)));
		}
	}
	json_t *facts = facts_object(msg);
	const char *k;
	json_t *v;
	json_object_foreach(facts, k, v)
	{
		json_object_set_new(details, k, json_string_take(value_text(v)));
	}
	json_decref(facts);
	json_object_set_new(alert, "details", details);

	json_t *responders = json_object_get(args, "responders");
	if (!json_is_array(responders))
		responders = cfg->og_responders;
	if (json_array_size(responders) > 0)
		json_object_set(alert, "responders", responders);
	return alert;
}

json_t *notify_build_opsgenie_close(const struct notify_msg *msg, const json_t *args,
                                    const char *action)
{
	const char *note = arg_str(args, "note");
	struct sbuf b = {0};
	if (note)
		sbuf_printf(&b, "%s%s", notify_drill_prefix(msg), note);
	else if (*msg->text)
		sbuf_printf(&b, "%s%s", notify_drill_prefix(msg), msg->text);
	else
		sbuf_printf(&b, "%s%s by salve run %s", notify_drill_prefix(msg),
		            strcmp(action, "close") == 0 ? "closed" : "acknowledged",
		            msg->run_id ? msg->run_id : "");
	char *text = sbuf_take(&b);
	json_t *body = json_pack("{s:s, s:s, s:o}", "source", "salve", "user", "salve", "note",
	                         json_string_take(notify_truncate_utf8(text ? text : "", 25000)));
	free(text);
	return body;
}

/* ---- Microsoft Teams ------------------------------------------------------------------- */

static const char *const teams_colors[NOTIFY_SEV_COUNT] = {"B71C1C", "E65100", "F9A825", "1565C0",
                                                           "607D8B"};
static const char *const adaptive_colors[NOTIFY_SEV_COUNT] = {"Attention", "Warning", "Warning",
                                                              "Accent", "Default"};

json_t *notify_build_teams(const struct notify_config *cfg, const struct notify_msg *msg)
{
	char *sev = upper(notify_severity_name(msg->severity));
	char *summary = notify_escape_teams(msg->summary, cfg->teams_adaptive);
	char *text = notify_escape_teams(msg->text, cfg->teams_adaptive);
	struct sbuf b = {0};
	sbuf_printf(&b, "%s%s: %s", notify_drill_prefix(msg), sev, summary ? summary : "");
	char *title = sbuf_take(&b);

	json_t *facts = json_array();
	struct fact rf[8];
	char level[16];
	size_t nf = run_facts(msg, rf, level);
	const char *name_key = cfg->teams_adaptive ? "title" : "name";
	for (size_t i = 0; i < nf; i++)
		json_array_append_new(facts, json_pack("{s:s, s:o}", name_key, rf[i].label, "value",
		                                       json_string_take(notify_escape_teams(
		                                           rf[i].value, cfg->teams_adaptive))));
	if (msg->fields) {
		size_t nk;
		const char **keys = sorted_keys(msg->fields, &nk);
		for (size_t i = 0; i < nk; i++) {
			char *raw = value_text(json_object_get(msg->fields, keys[i]));
			json_array_append_new(
			    facts,
			    json_pack(
			        "{s:o, s:o}", name_key,
			        json_string_take(notify_escape_teams(keys[i], cfg->teams_adaptive)),
			        "value",
			        json_string_take(notify_escape_teams(raw, cfg->teams_adaptive))));
			free(raw);
		}
		free(keys);
	}

	json_t *card;
	if (cfg->teams_adaptive) {
		json_t *body = json_array();
		json_array_append_new(body, json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "type",
		                                      "TextBlock", "text", title ? title : "",
		                                      "weight", "Bolder", "size", "Medium", "wrap",
		                                      1, "color", adaptive_colors[msg->severity]));
		if (strcmp(msg->text, msg->summary) != 0)
			json_array_append_new(body,
			                      json_pack("{s:s, s:s, s:b}", "type", "TextBlock",
			                                "text", text ? text : "", "wrap", 1));
		if (json_array_size(facts) > 0)
			json_array_append_new(
			    body, json_pack("{s:s, s:O}", "type", "FactSet", "facts", facts));
		json_t *content = json_pack("{s:s, s:s, s:s, s:o}", "$schema",
		                            "http://adaptivecards.io/schemas/adaptive-card.json",
		                            "type", "AdaptiveCard", "version", "1.4", "body", body);
		card = json_pack("{s:s, s:[{s:s, s:n, s:o}]}", "type", "message", "attachments",
		                 "contentType", "application/vnd.microsoft.card.adaptive",
		                 "contentUrl", "content", content);
	} else {
		card = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "@type", "MessageCard",
		                 "@context", "https://schema.org/extensions", "themeColor",
		                 teams_colors[msg->severity], "summary", title ? title : "",
		                 "title", title ? title : "", "text", text ? text : "");
		if (json_array_size(facts) > 0)
			json_object_set_new(card, "sections", json_pack("[{s:O}]", "facts", facts));
	}
	json_decref(facts);
	free(sev);
	free(summary);
	free(text);
	free(title);
	return card;
}

/* ---- generic webhooks ---------------------------------------------------------------- */

json_t *notify_build_webhook_default(const struct notify_msg *msg)
{
	struct sbuf b = {0};
	sbuf_printf(&b, "%s%s", notify_drill_prefix(msg), msg->text);
	char *text = sbuf_take(&b);
	b = (struct sbuf){0};
	sbuf_printf(&b, "%s%s", notify_drill_prefix(msg), msg->summary);
	char *summary = sbuf_take(&b);
	json_t *body = json_pack("{s:o, s:o, s:s, s:b}", "text", json_string_take(text), "summary",
	                         json_string_take(summary), "severity",
	                         notify_severity_name(msg->severity), "drill", msg->drill);
	json_t *facts = facts_object(msg);
	json_object_del(facts, "drill");
	json_object_update(body, facts);
	json_decref(facts);
	if (msg->fields)
		json_object_set(body, "fields", (json_t *)msg->fields);
	return body;
}

/* The value of {{name}}; *known = 0 when the name is not a placeholder. malloc'd. */
static char *template_value(const struct notify_msg *msg, const char *name, int *known)
{
	*known = 1;
	const struct {
		const char *name;
		const char *value;
	} plain[] = {
	    {"run_id", msg->run_id},   {"runbook", msg->runbook},         {"step", msg->step},
	    {"trigger", msg->trigger}, {"fingerprint", msg->fingerprint}, {"mode", msg->mode},
	    {"outcome", msg->outcome}, {"target", msg->target},
	};
	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
		if (strcmp(name, plain[i].name) == 0)
			return strdup(plain[i].value ? plain[i].value : "");
	char *s = NULL;
	if (strcmp(name, "text") == 0) {
		if (asprintf(&s, "%s%s", notify_drill_prefix(msg), msg->text) < 0)
			s = NULL;
		return s;
	}
	if (strcmp(name, "summary") == 0) {
		if (asprintf(&s, "%s%s", notify_drill_prefix(msg), msg->summary) < 0)
			s = NULL;
		return s;
	}
	if (strcmp(name, "severity") == 0)
		return strdup(notify_severity_name(msg->severity));
	if (strcmp(name, "drill") == 0)
		return strdup(msg->drill ? "true" : "false");
	if (strcmp(name, "level") == 0) {
		if (asprintf(&s, "%d", msg->level) < 0)
			s = NULL;
		return s;
	}
	if (strncmp(name, "fields.", 7) == 0) {
		const json_t *v = json_object_get(msg->fields, name + 7);
		return v ? value_text(v) : strdup("");
	}
	*known = 0;
	return NULL;
}

/* Expand placeholders in s. json_escape: values go inside a JSON string literal. */
static char *expand(const char *s, const struct notify_msg *msg, int json_escape, char *err,
                    size_t errlen)
{
	struct sbuf b = {0};
	const char *p = s;
	for (;;) {
		const char *open = strstr(p, "{{");
		if (!open) {
			sbuf_puts(&b, p);
			break;
		}
		const char *close = strstr(open + 2, "}}");
		if (!close) {
			sbuf_puts(&b, p);
			break;
		}
		sbuf_add(&b, p, (size_t)(open - p));
		const char *n0 = open + 2, *n1 = close;
		while (n0 < n1 && *n0 == ' ')
			n0++;
		while (n1 > n0 && n1[-1] == ' ')
			n1--;
		char name[128];
		size_t nlen = (size_t)(n1 - n0);
		if (nlen >= sizeof name)
			nlen = sizeof name - 1;
		memcpy(name, n0, nlen);
		name[nlen] = '\0';
		int known;
		char *value = template_value(msg, name, &known);
		if (!known) {
			snprintf(
			    err, errlen,
			    "webhook body: unknown placeholder {{%s}} (known: run_id, runbook, "
			    "step, trigger, fingerprint, mode, outcome, target, text, summary, "
			    "severity, drill, level, fields.NAME)",
			    name);
			free(b.s);
			return NULL;
		}
		if (json_escape && value) {
			json_t *j = json_string(value);
			char *quoted = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
			json_decref(j);
			if (quoted) {
				size_t qn = strlen(quoted);
				sbuf_add(&b, quoted + 1,
				         qn - 2); /* without the surrounding quotes */
			} else {
				b.failed = 1;
			}
			free(quoted);
		} else if (value) {
			sbuf_puts(&b, value);
		} else {
			b.failed = 1;
		}
		free(value);
		p = close + 2;
	}
	char *out = sbuf_take(&b);
	if (!out)
		snprintf(err, errlen, "webhook body: out of memory");
	return out;
}

static json_t *expand_tree(const json_t *v, const struct notify_msg *msg, char *err, size_t errlen)
{
	if (json_is_string(v)) {
		char *s = expand(json_string_value(v), msg, 0, err, errlen);
		if (!s)
			return NULL;
		json_t *j = json_string(s);
		free(s);
		if (!j)
			snprintf(err, errlen, "webhook body: a value is not valid UTF-8");
		return j;
	}
	if (json_is_object(v)) {
		json_t *o = json_object();
		const char *k;
		json_t *item;
		json_object_foreach((json_t *)v, k, item)
		{
			json_t *e = expand_tree(item, msg, err, errlen);
			if (!e) {
				json_decref(o);
				return NULL;
			}
			json_object_set_new(o, k, e);
		}
		return o;
	}
	if (json_is_array(v)) {
		json_t *a = json_array();
		size_t i;
		json_t *item;
		json_array_foreach(v, i, item)
		{
			json_t *e = expand_tree(item, msg, err, errlen);
			if (!e) {
				json_decref(a);
				return NULL;
			}
			json_array_append_new(a, e);
		}
		return a;
	}
	return json_deep_copy(v);
}

json_t *notify_build_webhook_template(const json_t *tmpl, const struct notify_msg *msg, char *err,
                                      size_t errlen)
{
	if (!json_is_string(tmpl))
		return expand_tree(tmpl, msg, err, errlen);
	char *text = expand(json_string_value(tmpl), msg, 1, err, errlen);
	if (!text)
		return NULL;
	json_error_t jerr;
	json_t *body = json_loads(text, JSON_DECODE_ANY, &jerr);
	free(text);
	if (!body)
		snprintf(err, errlen,
		         "webhook body: the template is not JSON after substitution (line %d, "
		         "column %d: %s)",
		         jerr.line, jerr.column, jerr.text);
	return body;
}

/* ---- email ------------------------------------------------------------------------------ */

int notify_valid_address(const char *addr)
{
	if (!addr)
		return 0;
	size_t n = strlen(addr);
	const char *at = strchr(addr, '@');
	if (n == 0 || n > 254 || !at || at == addr || at[1] == '\0' || strchr(at + 1, '@'))
		return 0;
	for (const char *p = addr; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= ' ' || c >= 0x7f || strchr("<>()[],;:\"\\", c))
			return 0;
	}
	return 1;
}

static int is_plain_ascii(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p >= 0x7f)
			return 0;
	return 1;
}

char *notify_rfc2047(const char *s)
{
	if (is_plain_ascii(s) && !strstr(s, "=?"))
		return strdup(s);
	/* Encoded words of at most 45 input bytes (60 base64 characters, 72 with the
	 * "=?UTF-8?B?" and "?=" around them: under the 75 RFC 2047 allows), split between
	 * UTF-8 characters so each word decodes on its own. */
	struct sbuf b = {0};
	size_t n = strlen(s), i = 0;
	while (i < n) {
		size_t take = n - i < 45 ? n - i : 45;
		while (take > 0 && i + take < n && ((unsigned char)s[i + take] & 0xC0) == 0x80)
			take--;
		if (take == 0)
			take = n - i < 45 ? n - i : 45;
		unsigned char enc[64];
		int len = EVP_EncodeBlock(enc, (const unsigned char *)s + i, (int)take);
		sbuf_printf(&b, "%s=?UTF-8?B?%.*s?=", i ? " " : "", len, (const char *)enc);
		i += take;
	}
	return sbuf_take(&b);
}

static char *one_line(const char *s)
{
	char *o = strdup(s ? s : "");
	for (char *p = o; p && *p; p++)
		if (*p == '\r' || *p == '\n' || *p == '\t')
			*p = ' ';
	return o;
}

static void rfc5322_date(char out[64])
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	/* Names from tables, not strftime: the host's locale must not leak into a header. */
	snprintf(out, 64, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
	         months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static char *display_name(const char *name)
{
	if (is_plain_ascii(name)) {
		struct sbuf b = {0};
		sbuf_puts(&b, "\"");
		for (const char *p = name; *p; p++) {
			if (*p == '"' || *p == '\\')
				sbuf_puts(&b, "\\");
			sbuf_add(&b, p, 1);
		}
		sbuf_puts(&b, "\"");
		return sbuf_take(&b);
	}
	return notify_rfc2047(name);
}

int notify_email_build(const struct notify_config *cfg, const struct notify_msg *msg,
                       const char *subject, const char *body, const json_t *to,
                       struct notify_email *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	struct sbuf b = {0};
	char *sev = upper(notify_severity_name(msg->severity));

	/* Subject: given, or "[salve] SEVERITY runbook: summary". */
	char *subject_line = one_line(subject ? subject : msg->summary);
	if (subject)
		sbuf_printf(&b, "%s%s", notify_drill_prefix(msg), subject_line);
	else if (msg->runbook)
		sbuf_printf(&b, "%s[salve] %s %s: %s", notify_drill_prefix(msg), sev, msg->runbook,
		            subject_line);
	else
		sbuf_printf(&b, "%s[salve] %s: %s", notify_drill_prefix(msg), sev, subject_line);
	free(subject_line);
	char *full = sbuf_take(&b);
	char *clean = one_line(full);
	free(full);
	out->subject = clean ? notify_truncate_utf8(clean, 250) : NULL;
	free(clean);
	out->subject_header = out->subject ? notify_rfc2047(out->subject) : NULL;

	const char *main_text = body ? body : msg->text;
	struct fact facts[8];
	char level[16];
	size_t nf = run_facts(msg, facts, level);
	size_t nk = 0;
	const char **keys = msg->fields ? sorted_keys(msg->fields, &nk) : NULL;

	/* text/plain */
	b = (struct sbuf){0};
	if (msg->drill)
		sbuf_puts(&b, "[DRILL] This message is part of a drill; no action is needed.\n\n");
	sbuf_printf(&b, "%s\n\nSeverity: %s\n", main_text, notify_severity_name(msg->severity));
	for (size_t i = 0; i < nf; i++)
		sbuf_printf(&b, "%s: %s\n", facts[i].label, facts[i].value);
	for (size_t i = 0; i < nk; i++) {
		char *v = value_text(json_object_get(msg->fields, keys[i]));
		sbuf_printf(&b, "%s: %s\n", keys[i], v ? v : "");
		free(v);
	}
	sbuf_puts(&b, "\n-- \nsent by salve\n");
	out->text = sbuf_take(&b);

	/* text/html: every user-supplied string escaped. */
	b = (struct sbuf){0};
	char *h_subject = notify_escape_html(out->subject);
	char *h_text = notify_escape_html(main_text);
	sbuf_printf(
	    &b,
	    "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>%s</title></head>\n"
	    "<body>\n",
	    h_subject ? h_subject : "");
	if (msg->drill)
		sbuf_puts(&b, "<p><strong>[DRILL]</strong> This message is part of a drill; no "
		              "action is needed.</p>\n");
	sbuf_puts(&b, "<p>");
	for (const char *p = h_text ? h_text : ""; *p; p++) {
		if (*p == '\n')
			sbuf_puts(&b, "<br>\n");
		else
			sbuf_add(&b, p, 1);
	}
	sbuf_printf(&b, "</p>\n<table>\n<tr><th align=\"left\">Severity</th><td>%s</td></tr>\n",
	            notify_severity_name(msg->severity));
	for (size_t i = 0; i < nf; i++) {
		char *v = notify_escape_html(facts[i].value);
		sbuf_printf(&b, "<tr><th align=\"left\">%s</th><td>%s</td></tr>\n", facts[i].label,
		            v ? v : "");
		free(v);
	}
	for (size_t i = 0; i < nk; i++) {
		char *raw = value_text(json_object_get(msg->fields, keys[i]));
		char *k = notify_escape_html(keys[i]);
		char *v = notify_escape_html(raw);
		sbuf_printf(&b, "<tr><th align=\"left\">%s</th><td>%s</td></tr>\n", k ? k : "",
		            v ? v : "");
		free(raw);
		free(k);
		free(v);
	}
	sbuf_puts(&b, "</table>\n<p>sent by salve</p>\n</body>\n</html>\n");
	out->html = sbuf_take(&b);
	free(h_subject);
	free(h_text);
	free(keys);

	/* From, To, Date, Message-ID */
	b = (struct sbuf){0};
	if (cfg->smtp_from_name) {
		char *name = display_name(cfg->smtp_from_name);
		sbuf_printf(&b, "%s <%s>", name ? name : "", cfg->smtp_from);
		free(name);
	} else {
		sbuf_puts(&b, cfg->smtp_from);
	}
	out->from_header = sbuf_take(&b);
	b = (struct sbuf){0};
	size_t i;
	json_t *a;
	json_array_foreach((json_t *)to, i, a)
	{
		sbuf_printf(&b, "%s%s", i ? ", " : "", json_string_value(a));
	}
	out->to_header = sbuf_take(&b);
	char date[64];
	rfc5322_date(date);
	out->date_header = strdup(date);
	unsigned char rnd[12];
	char hex[25];
	if (RAND_bytes(rnd, sizeof rnd) != 1) {
		snprintf(err, errlen, "email: no random bytes for the Message-ID");
		free(sev);
		notify_email_free(out);
		return SALVE_ERR;
	}
	for (size_t j = 0; j < sizeof rnd; j++)
		snprintf(hex + 2 * j, 3, "%02x", rnd[j]);
	const char *domain = strchr(cfg->smtp_from, '@') + 1;
	if (asprintf(&out->message_id, "<%lld.%s@%s>", (long long)time(NULL), hex, domain) < 0)
		out->message_id = NULL;
	free(sev);

	if (!out->subject || !out->subject_header || !out->text || !out->html ||
	    !out->from_header || !out->to_header || !out->date_header || !out->message_id) {
		snprintf(err, errlen, "email: out of memory");
		notify_email_free(out);
		return SALVE_ERR;
	}
	return SALVE_OK;
}

void notify_email_free(struct notify_email *e)
{
	free(e->subject);
	free(e->subject_header);
	free(e->text);
	free(e->html);
	free(e->from_header);
	free(e->to_header);
	free(e->date_header);
	free(e->message_id);
	memset(e, 0, sizeof *e);
}
