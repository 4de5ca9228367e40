/* The notify plugin's configuration: read once in init, read-only afterwards. The core has
 * checked the top level against the plugin's settings (types, durations as seconds, defaults);
 * the maps inside it (retry, routing, each escalation level) are checked here against their
 * own tables, each channel's section against its entry's table in the table of channels.
 * What remains is what no table says: ranges, targets naming configured channels. Every
 * error names the key ("plugins.notify.retry.attempts") and never echoes a secret. */
#include "notify_config.h"

#include "notify_channel.h"
#include "notify_read.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const salve_setting retry_settings[] = {
    {"attempts", SALVE_T_INT, 0, "4", "tries in all, 1..100"},
    {"base_delay", SALVE_T_DURATION, 0, "500ms", "wait before the 2nd try; doubles each time"},
    {"max_delay", SALVE_T_DURATION, 0, "8s", "cap on one wait"},
    {"max_time", SALVE_T_DURATION, 0, "30s", "cap on a delivery, all tries and waits"},
    {NULL, 0, 0, NULL, NULL},
};

static int parse_retry(const json_t *root, struct notify_config *cfg, char *err, size_t errlen)
{
	json_t *o;
	if (notify_section_apply(retry_settings, json_object_get(root, "retry"),
	                         NOTIFY_WHERE ".retry", &o, err, errlen) < 0)
		return -1;
	json_int_t attempts = json_integer_value(json_object_get(o, "attempts"));
	cfg->retry.attempts = (int)attempts;
	cfg->retry.base_delay = json_real_value(json_object_get(o, "base_delay"));
	cfg->retry.max_delay = json_real_value(json_object_get(o, "max_delay"));
	cfg->retry.max_time = json_real_value(json_object_get(o, "max_time"));
	json_decref(o);
	if (attempts < 1 || attempts > 100) {
		notify_read_error(err, errlen, NOTIFY_WHERE ".retry.attempts: must be 1..100");
		return -1;
	}
	return 0;
}

/* Each channel's section, in the table's order, checked against its settings. */
static int parse_channels(const json_t *root, struct notify_config *cfg, char *err, size_t errlen)
{
	for (const struct notify_channel *const *ch = notify_channels; *ch; ch++) {
		json_t *section = json_object_get(root, (*ch)->config_key);
		if (!section)
			continue;
		char where[64];
		snprintf(where, sizeof where, NOTIFY_WHERE ".%s", (*ch)->config_key);
		json_t *checked;
		if (!(*ch)->settings)
			checked = json_incref(section);
		else if (notify_section_apply((*ch)->settings, section, where, &checked, err,
		                              errlen) < 0)
			return -1;
		int rc = (*ch)->parse(checked, cfg, err, errlen);
		json_decref(checked);
		if (rc < 0)
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
	/* one key per severity, named where severities are (notify_common.c) */
	salve_setting routing_settings[NOTIFY_SEV_COUNT + 1] = {{0}};
	for (int i = 0; i < NOTIFY_SEV_COUNT; i++)
		routing_settings[i] =
		    (salve_setting){notify_severity_name((enum notify_severity)i), SALVE_T_ANY, 0,
		                    NULL, "targets: a string or a list"};
	json_t *o;
	if (notify_section_apply(routing_settings, json_object_get(root, "routing"),
	                         NOTIFY_WHERE ".routing", &o, err, errlen) < 0)
		return -1;
	int rc = 0;
	for (int i = 0; i < NOTIFY_SEV_COUNT && rc == 0; i++) {
		const char *sev = notify_severity_name((enum notify_severity)i);
		char where[64];
		snprintf(where, sizeof where, NOTIFY_WHERE ".routing.%s", sev);
		json_t *list;
		rc = notify_string_list(json_object_get(o, sev), where, &list, err, errlen);
		if (rc == 0) {
			cfg->routing[i] = list ? list : default_route(cfg, (enum notify_severity)i);
			rc = check_targets(cfg, cfg->routing[i], where, err, errlen);
		}
	}
	json_decref(o);
	return rc;
}

/* One level of escalation: [{wait, to}, ...]. */
static const salve_setting level_settings[] = {
    {"wait", SALVE_T_DURATION, 0, "0s", "after the previous level (level 1: after the failure)"},
    {"to", SALVE_T_ANY, 0, NULL, "targets: a string or a list"},
    {NULL, 0, 0, NULL, NULL},
};

static int parse_level(const json_t *item, const char *where, struct notify_config *cfg,
                       struct notify_level *lv, char *err, size_t errlen)
{
	json_t *o;
	char twhere[80];
	snprintf(twhere, sizeof twhere, "%s.to", where);
	if (notify_section_apply(level_settings, item, where, &o, err, errlen) < 0)
		return -1;
	lv->wait = json_real_value(json_object_get(o, "wait"));
	int rc = notify_string_list(json_object_get(o, "to"), twhere, &lv->to, err, errlen);
	json_decref(o);
	if (rc < 0)
		return -1;
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
	int rc = -1;
	if (!(cfg->timeout > 0) || !(cfg->connect_timeout > 0)) {
		notify_read_error(
		    err, errlen, NOTIFY_WHERE ": timeout and connect_timeout must be more than 0s");
		goto out;
	}
	if (notify_copy_string(config, "ca_file", &cfg->ca_file) < 0 ||
	    parse_retry(config, cfg, err, errlen) < 0 ||
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
