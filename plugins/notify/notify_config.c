/* The notify plugin's configuration: its settings, read once in init, read-only afterwards.
 * The core checks the whole section against notify_settings before init (types, choices,
 * ranges, the maps inside, defaults, durations as seconds, errors naming the key such as
 * "plugins.notify.retry.attempts"); what is read here is what no table says: targets naming
 * configured channels, and each channel's rules across keys (its parser). Errors never echo a
 * secret. */
#include "notify_config.h"

#include "notify_channel.h"
#include "notify_read.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const salve_setting retry_settings[] = {
    {.name = "attempts",
     .type = SALVE_T_INT,
     .flags = SALVE_SETTING_MIN | SALVE_SETTING_MAX,
     .default_value = "4",
     .description = "tries in all",
     .min = 1,
     .max = 100},
    {.name = "base_delay",
     .type = SALVE_T_DURATION,
     .default_value = "500ms",
     .description = "wait before the 2nd try; doubles each time"},
    {.name = "max_delay",
     .type = SALVE_T_DURATION,
     .default_value = "8s",
     .description = "cap on one wait"},
    {.name = "max_time",
     .type = SALVE_T_DURATION,
     .default_value = "30s",
     .description = "cap on a delivery, all tries and waits"},
    {.name = NULL},
};

/* Targets by severity, named as notify_common.c names severities. */
#define ROUTE(sev)                                                                                 \
	{                                                                                          \
		.name = sev, .type = SALVE_T_LIST, .flags = SALVE_SETTING_STRINGS,                 \
		.description = "targets (default: the configured channels)"                        \
	}
static const salve_setting routing_settings[] = {
    ROUTE("critical"), ROUTE("high"), ROUTE("medium"), ROUTE("low"), ROUTE("info"), {.name = NULL},
};

/* One level of escalation: [{wait, to}, ...]. */
static const salve_setting level_settings[] = {
    {.name = "wait",
     .type = SALVE_T_DURATION,
     .default_value = "0s",
     .description = "after the previous level (level 1: after the failure)"},
    {.name = "to",
     .type = SALVE_T_LIST,
     .flags = SALVE_ARG_REQUIRED | SALVE_SETTING_STRINGS,
     .description = "targets"},
    {.name = NULL},
};

const salve_setting notify_settings[] = {
    {.name = "slack", .type = SALVE_T_MAP, .fields = notify_slack_settings},
    {.name = "pagerduty", .type = SALVE_T_MAP, .fields = notify_pagerduty_settings},
    {.name = "opsgenie", .type = SALVE_T_MAP, .fields = notify_opsgenie_settings},
    {.name = "teams", .type = SALVE_T_MAP, .fields = notify_teams_settings},
    {.name = "webhooks",
     .type = SALVE_T_MAP,
     .flags = SALVE_SETTING_EACH,
     .description = "NAME: a webhook, for webhook:NAME",
     .fields = notify_webhook_settings},
    {.name = "email", .type = SALVE_T_MAP, .fields = notify_email_settings},
    {.name = "routing",
     .type = SALVE_T_MAP,
     .description = "targets by severity",
     .fields = routing_settings},
    {.name = "escalation",
     .type = SALVE_T_LIST,
     .flags = SALVE_SETTING_EACH,
     .description = "the levels notified one after the other while a run fails",
     .fields = level_settings},
    {.name = "timeout",
     .type = SALVE_T_DURATION,
     .flags = SALVE_SETTING_MIN | SALVE_SETTING_ABOVE,
     .default_value = "10s",
     .description = "time one delivery attempt may take"},
    {.name = "connect_timeout",
     .type = SALVE_T_DURATION,
     .flags = SALVE_SETTING_MIN | SALVE_SETTING_ABOVE,
     .default_value = "5s",
     .description = "time a connection may take"},
    {.name = "retry",
     .type = SALVE_T_MAP,
     .default_value = "{}",
     .description = "how a failed delivery is tried again",
     .fields = retry_settings},
    {.name = "ca_file",
     .type = SALVE_T_STRING,
     .flags = SALVE_SETTING_MIN,
     .description = "CA bundle for https, smtps and STARTTLS",
     .min = 1},
    {.name = NULL},
};

static void parse_retry(const json_t *root, struct notify_config *cfg)
{
	json_t *o = json_object_get(root, "retry");
	cfg->retry.attempts = (int)json_integer_value(json_object_get(o, "attempts"));
	cfg->retry.base_delay = json_real_value(json_object_get(o, "base_delay"));
	cfg->retry.max_delay = json_real_value(json_object_get(o, "max_delay"));
	cfg->retry.max_time = json_real_value(json_object_get(o, "max_time"));
}

/* Each channel's section, in the table's order. */
static int parse_channels(const json_t *root, struct notify_config *cfg, char *err, size_t errlen)
{
	for (const struct notify_channel *const *ch = notify_channels; *ch; ch++) {
		json_t *section = json_object_get(root, (*ch)->config_key);
		if (section && (*ch)->parse(section, cfg, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int check_targets(const struct notify_config *cfg, const json_t *list, const char *where,
                         char *err, size_t errlen)
{
	size_t i;
	json_t *t;
	json_array_foreach(list, i, t)
	{
		char why[384];
		const char *rest;
		if (!notify_target_parse(cfg, json_string_value(t), &rest, why, sizeof why)) {
			notify_read_error(err, errlen, "%s[%zu]: %s", where, i, why);
			return -1;
		}
	}
	return 0;
}

/* Defaults when routing names no targets for a severity: page people only through channels
 * that are configured. */
static json_t *default_route(const struct notify_config *cfg, enum notify_severity sev)
{
	json_t *list = json_array();
	if (sev == NOTIFY_SEV_CRITICAL) {
		if (cfg->pd_key_ref)
			json_array_append_new(list, json_string("pagerduty:"));
		else if (cfg->og_key_ref)
			json_array_append_new(list, json_string("opsgenie:"));
	}
	if (sev == NOTIFY_SEV_CRITICAL || sev == NOTIFY_SEV_HIGH) {
		/* critical and high also go to chat */
		if (cfg->slack_url_ref)
			json_array_append_new(list, json_string("slack:"));
		else if (cfg->teams_url_ref)
			json_array_append_new(list, json_string("teams:"));
	} else {
		if (cfg->smtp_url && json_array_size(cfg->smtp_to) > 0)
			json_array_append_new(list, json_string("email:"));
		else if (notify_webhook_find(cfg, "tickets"))
			json_array_append_new(list, json_string("webhook:tickets"));
	}
	return list;
}

static int parse_routing(const json_t *root, struct notify_config *cfg, char *err, size_t errlen)
{
	json_t *o = json_object_get(root, "routing");
	for (int i = 0; i < NOTIFY_SEV_COUNT; i++) {
		const char *sev = notify_severity_name((enum notify_severity)i);
		char where[64];
		snprintf(where, sizeof where, NOTIFY_WHERE ".routing.%s", sev);
		json_t *list = json_object_get(o, sev);
		cfg->routing[i] =
		    list ? json_incref(list) : default_route(cfg, (enum notify_severity)i);
		if (check_targets(cfg, cfg->routing[i], where, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int parse_level(const json_t *item, const char *where, struct notify_config *cfg,
                       struct notify_level *lv, char *err, size_t errlen)
{
	char twhere[80];
	snprintf(twhere, sizeof twhere, "%s.to", where);
	lv->wait = json_real_value(json_object_get(item, "wait"));
	lv->to = json_incref(json_object_get(item, "to"));
	if (json_array_size(lv->to) == 0) {
		notify_read_error(err, errlen, "%s: must list at least one target", twhere);
		return -1;
	}
	return check_targets(cfg, lv->to, twhere, err, errlen);
}

static int parse_escalation(const json_t *root, struct notify_config *cfg, char *err, size_t errlen)
{
	json_t *list = json_object_get(root, "escalation");
	if (json_array_size(list) == 0)
		return 0;
	cfg->levels = calloc(json_array_size(list), sizeof *cfg->levels);
	if (!cfg->levels)
		return -1;
	size_t i;
	json_t *item;
	json_array_foreach(list, i, item)
	{
		char where[64];
		snprintf(where, sizeof where, NOTIFY_WHERE ".escalation[%zu]", i);
		if (parse_level(item, where, cfg, &cfg->levels[cfg->nlevels++], err, errlen) < 0)
			return -1;
	}
	return 0;
}

int notify_config_parse(const json_t *config, struct notify_config *cfg, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof *cfg);
	err[0] = '\0';
	cfg->timeout = json_number_value(json_object_get(config, "timeout"));
	cfg->connect_timeout = json_number_value(json_object_get(config, "connect_timeout"));
	parse_retry(config, cfg);
	int rc = -1;
	if (notify_copy_string(config, "ca_file", &cfg->ca_file) < 0 ||
	    parse_channels(config, cfg, err, errlen) < 0 ||
	    parse_routing(config, cfg, err, errlen) < 0 ||
	    parse_escalation(config, cfg, err, errlen) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0) {
		if (!err[0])
			notify_read_error(err, errlen,
			                  "notify: out of memory reading the configuration");
		notify_config_free(cfg);
	}
	return rc;
}

void notify_config_free(struct notify_config *cfg)
{
	free(cfg->slack_url_ref);
	free(cfg->slack_channel);
	free(cfg->slack_username);
	free(cfg->slack_icon_emoji);
	free(cfg->pd_key_ref);
	free(cfg->pd_url);
	free(cfg->pd_source);
	json_decref(cfg->pd_services);
	free(cfg->og_key_ref);
	free(cfg->og_url);
	json_decref(cfg->og_responders);
	json_decref(cfg->og_tags);
	free(cfg->teams_url_ref);
	for (size_t i = 0; i < cfg->nwebhooks; i++) {
		free(cfg->webhooks[i].name);
		free(cfg->webhooks[i].url);
		json_decref(cfg->webhooks[i].headers);
		json_decref(cfg->webhooks[i].body);
	}
	free(cfg->webhooks);
	free(cfg->smtp_url);
	free(cfg->smtp_from);
	free(cfg->smtp_from_name);
	json_decref(cfg->smtp_to);
	free(cfg->smtp_username);
	free(cfg->smtp_password_ref);
	for (int i = 0; i < NOTIFY_SEV_COUNT; i++)
		json_decref(cfg->routing[i]);
	for (size_t i = 0; i < cfg->nlevels; i++)
		json_decref(cfg->levels[i].to);
	free(cfg->levels);
	free(cfg->ca_file);
	memset(cfg, 0, sizeof *cfg);
}

/* ---- secrets, registered at load -------------------------------------------------------- */

static void register_value(const salve_host *host, const char *value)
{
	if (value && SALVE_HOST_HAS(host, register_secret))
		host->register_secret(NULL, value);
}

/* What of a URL is secret: its password, and for a URL that is a secret as a whole (Slack,
 * Teams) its path and query too, which servers echo without the host ("no_service
 * /services/T0/B0/token"). */
static void register_url_parts(const salve_host *host, const char *url, int whole)
{
	CURLU *u = curl_url();
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		return;
	}
	static const CURLUPart parts[] = {CURLUPART_PASSWORD, CURLUPART_PATH, CURLUPART_QUERY};
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		char *part = NULL;
		if ((whole || parts[i] == CURLUPART_PASSWORD) &&
		    curl_url_get(u, parts[i], &part, 0) == CURLUE_OK && part && strlen(part) >= 8)
			register_value(host, part);
		curl_free(part);
	}
	curl_url_cleanup(u);
}

/* A header that carries a credential, by its name. */
static int is_credential_header(const char *name)
{
	static const char *const words[] = {"auth", "token",  "key",       "secret",
	                                    "pass", "cookie", "signature", NULL};
	for (const char *const *w = words; *w; w++) {
		size_t n = strlen(*w);
		for (const char *p = name; *p; p++)
			if (strncasecmp(p, *w, n) == 0)
				return 1;
	}
	return 0;
}

/* "Bearer abc": the whole value, and the credential without its scheme, which is what an
 * echoing server is most likely to quote. */
static void register_header_value(const salve_host *host, const char *value)
{
	register_value(host, value);
	const char *space = strchr(value, ' ');
	if (space && space[1])
		register_value(host, space + 1);
}

/* Resolves a secret reference through the host, which registers the value; the value
 * itself is not kept (each delivery resolves it again, so a rotated secret is used). */
static char *resolve_ref(const salve_host *host, const char *ref)
{
	return ref && notify_is_secret_ref(ref) ? host->secret(NULL, ref) : NULL;
}

static void wipe(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void register_ref(const salve_host *host, const char *ref, int is_url)
{
	char *v = resolve_ref(host, ref);
	if (v && is_url)
		register_url_parts(host, v, 1);
	wipe(v);
}

void notify_config_register_secrets(const struct notify_config *cfg, const salve_host *host)
{
	register_ref(host, cfg->slack_url_ref, 1);
	register_ref(host, cfg->teams_url_ref, 1);
	register_ref(host, cfg->pd_key_ref, 0);
	register_ref(host, cfg->og_key_ref, 0);
	register_ref(host, cfg->smtp_password_ref, 0);
	const char *name;
	json_t *ref;
	json_object_foreach(cfg->pd_services, name, ref)
	    register_ref(host, json_string_value(ref), 0);
	for (size_t i = 0; i < cfg->nwebhooks; i++) {
		const struct notify_webhook *w = &cfg->webhooks[i];
		if (w->url_is_ref)
			register_ref(host, w->url, 1);
		else
			register_url_parts(host, w->url, 0);
		const char *hname;
		json_t *hv;
		json_object_foreach(w->headers, hname, hv)
		{
			const char *v = json_string_value(hv);
			char *resolved = notify_is_secret_ref(v) ? resolve_ref(host, v) : NULL;
			if (resolved || is_credential_header(hname))
				register_header_value(host, resolved ? resolved : v);
			wipe(resolved);
		}
	}
	const char *plain_urls[] = {cfg->smtp_url, cfg->pd_url, cfg->og_url};
	for (size_t i = 0; i < 3; i++)
		if (plain_urls[i])
			register_url_parts(host, plain_urls[i], 0);
}
