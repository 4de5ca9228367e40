/* Incident channels: PagerDuty Events API v2 (trigger, acknowledge, resolve by dedup key) and
 * the Opsgenie Alert API (create, or close/acknowledge by alias). Secrets are never part of
 * what these build: the transport adds the routing key and the GenieKey header after
 * resolving them. */
#include "notify_channel.h"
#include "notify_read.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int one_of(const char *s, const char *const *allowed)
{
	for (; *allowed; allowed++)
		if (strcmp(s, *allowed) == 0)
			return 1;
	return 0;
}

/* ---- PagerDuty ------------------------------------------------------------------------ */

const salve_setting notify_pagerduty_settings[] = {
    {.name = "routing_key",
     .type = SALVE_T_SECRET_REF,
     .description = "the Events API v2 integration's routing key"},
    {.name = "url",
     .type = SALVE_T_STRING,
     .default_value = "https://events.pagerduty.com/v2/enqueue",
     .flags = SALVE_SETTING_MIN,
     .min = 1,
     .description = "the Events API"},
    {.name = "source",
     .type = SALVE_T_STRING,
     .flags = SALVE_SETTING_MIN,
     .min = 1,
     .description = "payload.source when a call gives none"},
    {.name = "services",
     .type = SALVE_T_MAP,
     .description = "{NAME = routing key reference}, for pagerduty:NAME"},
    {.name = NULL},
};

static int pagerduty_parse(const json_t *o, struct notify_config *cfg, char *err, size_t errlen)
{
	json_t *services = json_object_get(o, "services");
	const char *name;
	json_t *ref;
	json_object_foreach(services, name, ref)
	{
		if (!json_is_string(ref) || !notify_is_secret_ref(json_string_value(ref))) {
			notify_read_error(err, errlen,
			                  NOTIFY_WHERE ".pagerduty.services.%s: must be a secret "
			                               "reference (env:NAME or file:/path): inline "
			                               "secrets are refused",
			                  name);
			return -1;
		}
	}
	cfg->pd_services = json_incref(services);
	if (!json_object_get(o, "routing_key") && !services) {
		notify_read_error(err, errlen,
		                  NOTIFY_WHERE
		                  ".pagerduty: needs routing_key (or services: NAME: routing key)");
		return -1;
	}
	if (notify_copy_string(o, "routing_key", &cfg->pd_key_ref) < 0 ||
	    notify_copy_string(o, "url", &cfg->pd_url) < 0 ||
	    notify_copy_string(o, "source", &cfg->pd_source) < 0)
		return -1;
	return 0;
}

/* "pagerduty:" needs the default routing key, "pagerduty:SERVICE" that service's. */
static int pagerduty_check_target(const struct notify_config *cfg, const char *target,
                                  const char *rest, char *err, size_t errlen)
{
	if (*rest) {
		if (json_is_string(json_object_get(cfg->pd_services, rest)))
			return 0;
		snprintf(err, errlen,
		         "target \"%s\": no pagerduty.services.%s in the configuration", target,
		         rest);
		return -1;
	}
	if (cfg->pd_key_ref)
		return 0;
	snprintf(err, errlen, "target \"%s\": notify.pagerduty is not configured", target);
	return -1;
}

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

static json_t *pagerduty_details(const struct notify_msg *msg, const json_t *args)
{
	json_t *details = json_object();
	json_t *user = json_object_get(args, "custom_details");
	if (json_is_object(user))
		json_object_update(details, user);
	if (msg->fields)
		json_object_update(details, (json_t *)msg->fields);
	if (strcmp(msg->text, msg->summary) != 0)
		json_object_set_new(details, "text", json_string(msg->text));
	json_object_set_new(details, "salve", notify_facts_object(msg));
	return details;
}

/* event_action: trigger/acknowledge/resolve; dedup_key may be NULL (trigger only). */
static json_t *pagerduty_build(const struct notify_config *cfg, const struct notify_msg *msg,
                               const json_t *args, const char *event_action, const char *dedup_key)
{
	json_t *event = json_pack("{s:s}", "event_action", event_action);
	if (dedup_key)
		json_object_set_new(event, "dedup_key", json_string(dedup_key));
	if (strcmp(event_action, "trigger") != 0)
		return event; /* acknowledge and resolve carry only the key (Events API v2) */

	char *summary = notify_drill_line(msg, msg->summary);
	const char *source = notify_arg_str(args, "source");
	if (!source)
		source = msg->target;
	if (!source)
		source = cfg->pd_source;
	if (!source)
		source = "salve";
	char ts[32];
	iso8601_now(ts);
	json_t *payload =
	    json_pack("{s:o, s:s, s:s, s:s, s:o}", "summary",
	              notify_json_string_take(notify_truncate_utf8(summary ? summary : "", 1024)),
	              "source", source, "severity", pd_severity[msg->severity], "timestamp", ts,
	              "custom_details", pagerduty_details(msg, args));
	const char *component = notify_arg_str(args, "component");
	const char *group = notify_arg_str(args, "group");
	const char *klass = notify_arg_str(args, "class");
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

/* The routing key: the service's (rest, else args.service), else the default. */
static int pagerduty_key(const struct notify_config *cfg, const char *rest, const json_t *args,
                         const char **service, const char **key_ref, char *err, size_t errlen)
{
	*key_ref = cfg->pd_key_ref;
	*service = rest ? rest : notify_arg_str(args, "service");
	if (*service)
		*key_ref = json_string_value(json_object_get(cfg->pd_services, *service));
	if (*key_ref)
		return SALVE_OK;
	if (*service)
		snprintf(err, errlen, "pagerduty: no notify.pagerduty.services.%.64s", *service);
	else
		snprintf(err, errlen, "pagerduty: notify.pagerduty is not configured");
	return SALVE_ERR_INVALID;
}

static int pagerduty_prepare(const struct notify_config *cfg, const char *rest,
                             const struct notify_msg *msg, const json_t *args,
                             struct notify_prepared *p, char *err, size_t errlen)
{
	static const char *const actions[] = {"trigger", "acknowledge", "resolve", NULL};
	const char *action = notify_arg_str(args, "event_action");
	if (!action)
		action = "trigger";
	if (!one_of(action, actions)) {
		snprintf(err, errlen,
		         "pagerduty: event_action must be trigger, acknowledge or resolve");
		return SALVE_ERR_INVALID;
	}
	const char *service, *key_ref;
	int rc = pagerduty_key(cfg, rest, args, &service, &key_ref, err, errlen);
	if (rc < 0)
		return rc;
	const char *dedup = notify_arg_str(args, "dedup_key");
	if (!dedup)
		dedup = msg->fingerprint; /* so a later resolve closes the same incident */
	if (!dedup && strcmp(action, "trigger") != 0) {
		snprintf(err, errlen,
		         "pagerduty: %s needs dedup_key (or a run with an alert fingerprint)",
		         action);
		return SALVE_ERR_INVALID;
	}
	if (dedup && strlen(dedup) > 255) {
		snprintf(err, errlen, "pagerduty: dedup_key is longer than 255 characters");
		return SALVE_ERR_INVALID;
	}
	if (strcmp(action, "trigger") == 0 && !*msg->summary) {
		snprintf(err, errlen, "pagerduty: trigger needs summary (or text)");
		return SALVE_ERR_INVALID;
	}
	if (service)
		snprintf(p->channel, sizeof p->channel, "pagerduty:%.80s", service);
	p->action = action;
	p->target = dedup ? strdup(dedup) : NULL;
	p->body = pagerduty_build(cfg, msg, args, action, dedup);
	p->http.url = cfg->pd_url;
	p->http.body_key_ref = key_ref;
	p->http.body_key_name = "routing_key";
	return SALVE_OK;
}

/* The dedup key PagerDuty answered with (else the one sent), and the event action. */
static void pagerduty_describe(const struct notify_prepared *p, const json_t *response, json_t *r)
{
	const char *key = json_string_value(json_object_get(response, "dedup_key"));
	if (!key)
		key = p->target;
	if (key)
		json_object_set_new(r, "dedup_key", json_string(key));
	json_object_set_new(r, "event_action", json_string(p->action));
}

const struct notify_channel notify_pagerduty_channel = {
    .name = "pagerduty",
    .config_key = "pagerduty",
    .parse = pagerduty_parse,
    .check_target = pagerduty_check_target,
    .prepare = pagerduty_prepare,
    .describe = pagerduty_describe,
};

/* ---- Opsgenie ------------------------------------------------------------------------- */

static const char *const responder_types[] = {"team", "user", "escalation", "schedule", NULL};

/* One responder of every alert: a team, user, escalation or schedule by id or name (a user
 * by username too), as the Alert API takes it. */
static const salve_setting responder_settings[] = {
    {.name = "type",
     .type = SALVE_T_STRING,
     .flags = SALVE_ARG_REQUIRED,
     .choices = responder_types},
    {
        .name = "id",
        .type = SALVE_T_STRING,
        .flags = SALVE_SETTING_MIN,
        .min = 1,
    },
    {
        .name = "name",
        .type = SALVE_T_STRING,
        .flags = SALVE_SETTING_MIN,
        .min = 1,
    },
    {
        .name = "username",
        .type = SALVE_T_STRING,
        .flags = SALVE_SETTING_MIN,
        .min = 1,
    },
    {.name = NULL},
};

const salve_setting notify_opsgenie_settings[] = {
    {.name = "api_key",
     .type = SALVE_T_SECRET_REF,
     .flags = SALVE_ARG_REQUIRED,
     .description = "the Alert API's key"},
    {.name = "url",
     .type = SALVE_T_STRING,
     .default_value = "https://api.opsgenie.com",
     .flags = SALVE_SETTING_MIN,
     .min = 1,
     .description = "the API (EU: api.eu.opsgenie.com)"},
    {.name = "responders",
     .type = SALVE_T_LIST,
     .flags = SALVE_SETTING_EACH,
     .description = "who every alert is for",
     .fields = responder_settings},
    {.name = "tags",
     .type = SALVE_T_LIST,
     .flags = SALVE_SETTING_STRINGS,
     .description = "a tag or a list of tags on every alert"},
    {.name = NULL},
};

static int opsgenie_parse(const json_t *o, struct notify_config *cfg, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	cfg->og_responders = json_incref(json_object_get(o, "responders"));
	cfg->og_tags = json_incref(json_object_get(o, "tags"));
	if (notify_copy_string(o, "api_key", &cfg->og_key_ref) < 0 ||
	    notify_copy_string(o, "url", &cfg->og_url) < 0)
		return -1;
	size_t n = strlen(cfg->og_url);
	while (n > 0 && cfg->og_url[n - 1] == '/')
		cfg->og_url[--n] = '\0';
	return 0;
}

static int opsgenie_configured(const struct notify_config *cfg)
{
	return cfg->og_key_ref != NULL;
}

static const char *const og_priority[NOTIFY_SEV_COUNT] = {"P1", "P2", "P3", "P4", "P5"};

/* The configured tags, the call's, and "drill" in a drill; NULL when there are none. */
static json_t *opsgenie_tags(const struct notify_config *cfg, const struct notify_msg *msg,
                             const json_t *args)
{
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
		return tags;
	json_decref(tags);
	return NULL;
}

/* details: a flat map of strings (the API's rule); run facts win over user keys. */
static json_t *opsgenie_details(const struct notify_msg *msg, const json_t *args)
{
	json_t *details = json_object();
	json_t *facts = notify_facts_object(msg);
	const json_t *maps[] = {json_object_get(args, "details"), msg->fields, facts};
	for (size_t m = 0; m < 3; m++) {
		if (!json_is_object(maps[m]))
			continue;
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)maps[m], k, v)
		{
			json_object_set_new(details, k,
			                    notify_json_string_take(notify_value_text(v)));
		}
	}
	json_decref(facts);
	return details;
}

static json_t *opsgenie_create(const struct notify_config *cfg, const struct notify_msg *msg,
                               const json_t *args, const char *alias)
{
	char *message = notify_drill_line(msg, msg->summary);
	const char *priority = notify_arg_str(args, "priority");
	if (!priority)
		priority = og_priority[msg->severity];
	json_t *alert =
	    json_pack("{s:o, s:s, s:s}", "message",
	              notify_json_string_take(notify_truncate_utf8(message ? message : "", 130)),
	              "priority", priority, "source", "salve");
	free(message);
	if (alias)
		json_object_set_new(alert, "alias", json_string(alias));
	const char *description = notify_arg_str(args, "description");
	if (!description)
		description = msg->text;
	json_object_set_new(alert, "description",
	                    notify_json_string_take(notify_truncate_utf8(description, 15000)));
	if (msg->target)
		json_object_set_new(alert, "entity", json_string(msg->target));
	json_t *tags = opsgenie_tags(cfg, msg, args);
	if (tags)
		json_object_set_new(alert, "tags", tags);
	json_object_set_new(alert, "details", opsgenie_details(msg, args));
	json_t *responders = json_object_get(args, "responders");
	if (!json_is_array(responders))
		responders = cfg->og_responders;
	if (json_array_size(responders) > 0)
		json_object_set(alert, "responders", responders);
	return alert;
}

/* action: close or acknowledge; the note defaults to the text, else "closed by salve run ID". */
static json_t *opsgenie_close(const struct notify_msg *msg, const json_t *args, const char *action)
{
	const char *note = notify_arg_str(args, "note");
	struct notify_sbuf b = {0};
	if (note)
		notify_sbuf_printf(&b, "%s%s", notify_drill_prefix(msg), note);
	else if (*msg->text)
		notify_sbuf_printf(&b, "%s%s", notify_drill_prefix(msg), msg->text);
	else
		notify_sbuf_printf(&b, "%s%s by salve run %s", notify_drill_prefix(msg),
		                   strcmp(action, "close") == 0 ? "closed" : "acknowledged",
		                   msg->run_id ? msg->run_id : "");
	char *text = notify_sbuf_take(&b);
	json_t *body =
	    json_pack("{s:s, s:s, s:o}", "source", "salve", "user", "salve", "note",
	              notify_json_string_take(notify_truncate_utf8(text ? text : "", 25000)));
	free(text);
	return body;
}

/* create posts to /v2/alerts; close and acknowledge to the alert found by its alias. */
static int opsgenie_request(const struct notify_msg *msg, const json_t *args, const char *action,
                            const char *alias, struct notify_prepared *p, char *err, size_t errlen)
{
	if (strcmp(action, "create") == 0) {
		if (!*msg->summary) {
			snprintf(err, errlen, "opsgenie: create needs message (or text)");
			return SALVE_ERR_INVALID;
		}
		p->url_path = strdup("/v2/alerts");
		return SALVE_OK;
	}
	if (!alias) {
		snprintf(err, errlen,
		         "opsgenie: %s needs alias (or a run with an alert fingerprint)", action);
		return SALVE_ERR_INVALID;
	}
	char *escaped = curl_easy_escape(NULL, alias, 0);
	if (!escaped ||
	    asprintf(&p->url_path, "/v2/alerts/%s/%s?identifierType=alias", escaped, action) < 0)
		p->url_path = NULL;
	curl_free(escaped);
	p->body = opsgenie_close(msg, args, action);
	return SALVE_OK;
}

static int opsgenie_prepare(const struct notify_config *cfg, const char *rest,
                            const struct notify_msg *msg, const json_t *args,
                            struct notify_prepared *p, char *err, size_t errlen)
{
	(void)rest;
	static const char *const actions[] = {"create", "close", "acknowledge", NULL};
	static const char *const priorities[] = {"P1", "P2", "P3", "P4", "P5", NULL};
	const char *action = notify_arg_str(args, "action");
	if (!action)
		action = "create";
	if (!one_of(action, actions)) {
		snprintf(err, errlen, "opsgenie: action must be create, close or acknowledge");
		return SALVE_ERR_INVALID;
	}
	const char *priority = notify_arg_str(args, "priority");
	if (priority && !one_of(priority, priorities)) {
		snprintf(err, errlen, "opsgenie: priority must be P1..P5");
		return SALVE_ERR_INVALID;
	}
	const char *alias = notify_arg_str(args, "alias");
	if (!alias)
		alias = msg->fingerprint;
	if (alias && strlen(alias) > 512) {
		snprintf(err, errlen, "opsgenie: alias is longer than 512 characters");
		return SALVE_ERR_INVALID;
	}
	p->action = action;
	p->target = alias ? strdup(alias) : NULL;
	int rc = opsgenie_request(msg, args, action, alias, p, err, errlen);
	if (rc < 0)
		return rc;
	if (strcmp(action, "create") == 0)
		p->body = opsgenie_create(cfg, msg, args, alias);
	if (!p->url_path) {
		snprintf(err, errlen, "opsgenie: out of memory building the message");
		return SALVE_ERR;
	}
	p->http.url = cfg->og_url;
	p->http.auth_ref = cfg->og_key_ref;
	p->http.auth_scheme = "GenieKey";
	return SALVE_OK;
}

/* Opsgenie's request id (its answer is asynchronous), the alias and the action. */
static void opsgenie_describe(const struct notify_prepared *p, const json_t *response, json_t *r)
{
	const char *req = json_string_value(json_object_get(response, "requestId"));
	if (req)
		json_object_set_new(r, "request_id", json_string(req));
	if (p->target)
		json_object_set_new(r, "alias", json_string(p->target));
	json_object_set_new(r, "action", json_string(p->action));
}

const struct notify_channel notify_opsgenie_channel = {
    .name = "opsgenie",
    .config_key = "opsgenie",
    .parse = opsgenie_parse,
    .configured = opsgenie_configured,
    .prepare = opsgenie_prepare,
    .describe = opsgenie_describe,
    .summary_arg = "message",
};
