/* The notify plugin's configuration: parsed once in init, read-only afterwards. Every error
 * names the key (e.g. "notify.slack.webhook_url") and never echoes a value that may be a
 * secret. */
#include "notify.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const severity_names[NOTIFY_SEV_COUNT] = {"critical", "high", "medium", "low",
                                                             "info"};

const char *notify_severity_name(enum notify_severity sev)
{
	return (sev >= 0 && sev < NOTIFY_SEV_COUNT) ? severity_names[sev] : "info";
}

int notify_severity_parse(const char *s, enum notify_severity *sev)
{
	for (int i = 0; i < NOTIFY_SEV_COUNT; i++) {
		if (strcmp(s, severity_names[i]) == 0) {
			*sev = (enum notify_severity)i;
			return 0;
		}
	}
	/* PagerDuty's own words, so a runbook written against its API still works. */
	if (strcmp(s, "error") == 0) {
		*sev = NOTIFY_SEV_HIGH;
		return 0;
	}
	if (strcmp(s, "warning") == 0) {
		*sev = NOTIFY_SEV_MEDIUM;
		return 0;
	}
	return -1;
}

int notify_is_secret_ref(const char *s)
{
	return s && ((strncmp(s, "env:", 4) == 0 && s[4] != '\0') ||
	             (strncmp(s, "file:", 5) == 0 && s[5] != '\0'));
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Refuse keys the schema does not know: a typo must not silently disable a channel. */
static int only_keys(const json_t *obj, const char *where, const char *const *allowed, char *err,
                     size_t errlen)
{
	const char *key;
	const json_t *v;
	json_object_foreach((json_t *)obj, key, v)
	{
		int ok = 0;
		for (const char *const *a = allowed; *a; a++)
			if (strcmp(*a, key) == 0)
				ok = 1;
		if (!ok) {
			set_err(err, errlen, "notify: unknown configuration key %s.%s", where, key);
			return -1;
		}
	}
	return 0;
}

static int get_object(const json_t *parent, const char *key, const char *where, json_t **out,
                      char *err, size_t errlen)
{
	json_t *v = json_object_get(parent, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v)) {
		set_err(err, errlen, "notify: %s.%s must be a map", where, key);
		return -1;
	}
	*out = v;
	return 0;
}

static int get_string(const json_t *parent, const char *key, const char *where, char **out,
                      char *err, size_t errlen)
{
	json_t *v = json_object_get(parent, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		set_err(err, errlen, "notify: %s.%s must be a non-empty string", where, key);
		return -1;
	}
	*out = strdup(json_string_value(v));
	return *out ? 0 : -1;
}

/* A credential: only a reference is accepted, so no secret sits in salve.yaml. */
static int get_secret_ref(const json_t *parent, const char *key, const char *where, char **out,
                          char *err, size_t errlen)
{
	if (get_string(parent, key, where, out, err, errlen) < 0)
		return -1;
	if (*out && !notify_is_secret_ref(*out)) {
		free(*out);
		*out = NULL;
		set_err(err, errlen,
		        "notify: %s.%s must be a secret reference (env:NAME or file:/path), not an "
		        "inline value",
		        where, key);
		return -1;
	}
	return 0;
}

static int get_bool(const json_t *parent, const char *key, const char *where, int *out, int def,
                    char *err, size_t errlen)
{
	json_t *v = json_object_get(parent, key);
	*out = def;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v)) {
		set_err(err, errlen, "notify: %s.%s must be true or false", where, key);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

static int get_duration(const json_t *parent, const char *key, const char *where, double *out,
                        double def, char *err, size_t errlen)
{
	json_t *v = json_object_get(parent, key);
	*out = def;
	if (!v || json_is_null(v))
		return 0;
	if (salve_duration_from_json(v, out) < 0) {
		set_err(err, errlen,
		        "notify: %s.%s must be a duration such as \"250ms\", \"10s\", \"5m\" or a "
		        "number of seconds",
		        where, key);
		return -1;
	}
	return 0;
}

static int get_string_list(const json_t *parent, const char *key, const char *where, json_t **out,
                           char *err, size_t errlen)
{
	json_t *v = json_object_get(parent, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		*out = json_pack("[O]", v);
		return 0;
	}
	if (!json_is_array(v)) {
		set_err(err, errlen, "notify: %s.%s must be a list of strings", where, key);
		return -1;
	}
	size_t i;
	json_t *item;
	json_array_foreach(v, i, item)
	{
		if (!json_is_string(item) || json_string_length(item) == 0) {
			set_err(err, errlen, "notify: %s.%s[%zu] must be a non-empty string", where,
			        key, i);
			return -1;
		}
	}
	*out = json_incref(v);
	return 0;
}

static int parse_slack(const json_t *root, struct notify_config *cfg, char *err, size_t errlen)
{
	json_t *o;
	static const char *const keys[] = {"webhook_url", "channel", "username", "icon_emoji",
	                                   NULL};
	if (get_object(root, "slack", "notify", &o, err, errlen) < 0)
		return -1;
	if (!o)
		return 0;
	if (only_keys(o, "notify.slack", keys, err, errlen) < 0 ||
	    get_secret_ref(o, "webhook_url", "notify.slack", &cfg->slack_url_ref, err, errlen) <
	        0 ||
	    get_string(o, "channel", "notify.slack", &cfg->slack_channel, err, errlen) < 0 ||
	    get_string(o, "username", "notify.slack", &cfg->slack_username, err, errlen) < 0 ||
	    get_string(o, "icon_emoji", "notify.slack", &cfg->slack_icon_emoji, err, errlen) < 0)
		return -1;
	if (!cfg->slack_url_ref) {
		set_err(err, errlen, "notify: notify.slack.webhook_url is required");
		return -1;
	}
	return 0;
}

static int parse_pagerduty(const json_t *root, struct notify_config *cfg, char *err, size_t errlen)
{
	json_t *o, *services;
	static const char *const keys[] = {"routing_key", "url", "source", "services", NULL};
	if (get_object(root, "pagerduty", "notify", &o, err, errlen) < 0)
		return -1;
	if (!o)
		return 0;
	if (only_keys(o, "notify.pagerduty", keys, err, errlen) < 0 ||
	    get_secret_ref(o, "routing_key", "notify.pagerduty", &cfg->pd_key_ref, err, errlen) <
	        0 ||
	    get_string(o, "url", "notify.pagerduty", &cfg->pd_url, err, errlen) < 0 ||
	    get_string(o, "source", "notify.pagerduty", &cfg->pd_source, err, errlen) < 0 ||
	    get_object(o, "services", "notify.pagerduty", &services, err, errlen) < 0)
		return -1;
	if (services) {
		const char *name;
		json_t *ref;
		json_object_foreach(services, name, ref)
		{
			if (!json_is_string(ref) || !notify_is_secret_ref(json_string_value(ref))) {
				set_err(err, errlen,
				        "notify: notify.pagerduty.services.%s must be a secret "
				        "reference "
				        "(env:NAME or file:/path), not an inline value",
				        name);
				return -1;
			}
		}
		cfg->pd_services = json_incref(services);
	}
	if (!cfg->pd_key_ref && !cfg->pd_services) {
		set_err(
		    err, errlen,
		    "notify: notify.pagerduty needs routing_key (or services: NAME: routing key)");
		return -1;
	}
	if (!cfg->pd_url && !(cfg->pd_url = strdup("https://events.pagerduty.com/v2/enqueue")))
		return -1;
	return 0;
}

static int parse_opsgenie(const json_t *root, struct notify_config *cfg, char *err, size_t errlen)
{
	json_t *o;
	static const char *const keys[] = {"api_key", "url", "responders", "tags", NULL};
	if (get_object(root, "opsgenie", "notify", &o, err, errlen) < 0)
		return -1;
	if (!o)
		return 0;
	if (only_keys(o, "notify.opsgenie", keys, err, errlen) < 0 ||
	    get_secret_ref(o, "api_key", "notify.opsgenie", &cfg->og_key_ref, err, errlen) < 0 ||
	    get_string(o, "url", "notify.opsgenie", &cfg->og_url, err, errlen) < 0 ||
	    get_string_list(o, "tags", "notify.opsgenie", &cfg->og_tags, err, errlen) < 0)
		return -1;
	if (!cfg->og_key_ref) {
		set_err(err, errlen, "notify: notify.opsgenie.api_key is required");
		return -1;
	}
	json_t *responders = json_object_get(o, "responders");
	if (responders && !json_is_null(responders)) {
		size_t i;
		json_t *r;
		if (!json_is_array(responders)) {
			set_err(err, errlen, "notify: notify.opsgenie.responders must be a list");
			return -1;
		}
		json_array_foreach(responders, i, r)
		{
			if (!json_is_object(r) || !json_is_string(json_object_get(r, "type"))) {
				set_err(
				    err, errlen,
				    "notify: notify.opsgenie.responders[%zu] must be a map with a "
				    "type (team, user, escalation, schedule)",
				    i);
				return -1;
			}
		}
		cfg->og_responders = json_incref(responders);
	}
	if (!cfg->og_url && !(cfg->og_url = strdup("https://api.opsgenie.com")))
		return -1;
	size_t n = strlen(cfg->og_url);
	while (n > 0 && cfg->og_url[n - 1] == '/')
		cfg->og_url[--n] = '\0';
	return 0;
}

static int parse_teams(const json_t *root, struct notify_config *cfg, char *err, size_t errlen)
{
	json_t *o;
	char *format = NULL;
	static const char *const keys[] = {"webhook_url", "format", NULL};
	if (get_object(root, "teams", "notify", &o, err, errlen) < 0)
		return -1;
	if (!o)
		return 0;
	if (only_keys(o, "notify.teams", keys, err, errlen) < 0 ||
	    get_secret_ref(o, "webhook_url", "notify.teams", &cfg->teams_url_ref, err, errlen) <
	        0 ||
	    get_string(o, "format", "notify.teams", &format, err, errlen) < 0)
		return -1;
	if (!cfg->teams_url_ref) {
		free(format);
		set_err(err, errlen, "notify: notify.teams.webhook_url is required");
		return -1;
	}
	int rc = 0;
	if (!format || strcmp(format, "messagecard") == 0) {
		cfg->teams_adaptive = 0;
	} else if (strcmp(format, "adaptive") == 0) {
		cfg->teams_adaptive = 1;
	} else {
		set_err(err, errlen, "notify: notify.teams.format must be messagecard or adaptive");
		rc = -1;
	}
	free(format);
	return rc;
}

static int parse_webhooks(const json_t *root, struct notify_config *cfg, char *err, size_t errlen)
{
	json_t *o;
	if (get_object(root, "webhooks", "notify", &o, err, errlen) < 0)
		return -1;
	if (!o || json_object_size(o) == 0)
		return 0;
	cfg->webhooks = calloc(json_object_size(o), sizeof *cfg->webhooks);
	if (!cfg->webhooks)
		return -1;
	const char *name;
	json_t *w;
	static const char *const keys[] = {"url", "headers", "body", NULL};
	json_object_foreach(o, name, w)
	{
		char where[256];
		snprintf(where, sizeof where, "notify.webhooks.%s", name);
		if (!json_is_object(w)) {
			set_err(err, errlen, "notify: %s must be a map with a url", where);
			return -1;
		}
		struct notify_webhook *hook = &cfg->webhooks[cfg->nwebhooks++];
		if (!(hook->name = strdup(name)))
			return -1;
		if (only_keys(w, where, keys, err, errlen) < 0 ||
		    get_string(w, "url", where, &hook->url, err, errlen) < 0)
			return -1;
		if (!hook->url) {
			set_err(err, errlen, "notify: %s.url is required", where);
			return -1;
		}
		hook->url_is_ref = notify_is_secret_ref(hook->url);
		if (!hook->url_is_ref && strncmp(hook->url, "http://", 7) != 0 &&
		    strncmp(hook->url, "https://", 8) != 0) {
			set_err(err, errlen,
			        "notify: %s.url must be an http(s) URL or a secret reference",
			        where);
			return -1;
		}
		json_t *headers = json_object_get(w, "headers");
		if (headers && !json_is_null(headers)) {
			const char *hname;
			json_t *hv;
			if (!json_is_object(headers)) {
				set_err(err, errlen, "notify: %s.headers must be a map", where);
				return -1;
			}
			json_object_foreach(headers, hname, hv)
			{
				const char *s = json_string_value(hv);
				int bad = !s || strpbrk(s, "\r\n") || !*hname ||
				          strpbrk(hname, ": \t\r\n");
				if (bad) {
					set_err(err, errlen,
					        "notify: %s.headers.%s must be a one-line string",
					        where, hname);
					return -1;
				}
			}
			hook->headers = json_incref(headers);
		}
		json_t *body = json_object_get(w, "body");
		if (body && !json_is_null(body)) {
			if (!json_is_string(body) && !json_is_object(body) &&
			    !json_is_array(body)) {
				set_err(err, errlen,
				        "notify: %s.body must be a template string or a map",
				        where);
				return -1;
			}
			hook->body = json_incref(body);
		}
	}
	return 0;
}

static int parse_email(const json_t *root, struct notify_config *cfg, char *err, size_t errlen)
{
	json_t *o;
	static const char *const keys[] = {"url",      "from",     "from_name", "to",
	                                   "username", "password", "starttls",  NULL};
	if (get_object(root, "email", "notify", &o, err, errlen) < 0)
		return -1;
	if (!o)
		return 0;
	if (only_keys(o, "notify.email", keys, err, errlen) < 0 ||
	    get_string(o, "url", "notify.email", &cfg->smtp_url, err, errlen) < 0 ||
	    get_string(o, "from", "notify.email", &cfg->smtp_from, err, errlen) < 0 ||
	    get_string(o, "from_name", "notify.email", &cfg->smtp_from_name, err, errlen) < 0 ||
	    get_string_list(o, "to", "notify.email", &cfg->smtp_to, err, errlen) < 0 ||
	    get_string(o, "username", "notify.email", &cfg->smtp_username, err, errlen) < 0 ||
	    get_secret_ref(o, "password", "notify.email", &cfg->smtp_password_ref, err, errlen) <
	        0 ||
	    get_bool(o, "starttls", "notify.email", &cfg->smtp_starttls, 1, err, errlen) < 0)
		return -1;
	if (!cfg->smtp_url || (strncmp(cfg->smtp_url, "smtp://", 7) != 0 &&
	                       strncmp(cfg->smtp_url, "smtps://", 8) != 0)) {
		set_err(err, errlen,
		        "notify: notify.email.url must be smtp://host:port (STARTTLS) or "
		        "smtps://host:port (implicit TLS)");
		return -1;
	}
	if (!cfg->smtp_from || !notify_valid_address(cfg->smtp_from)) {
		set_err(err, errlen,
		        "notify: notify.email.from must be an address such as "
		        "salve@example.org");
		return -1;
	}
	if (cfg->smtp_from_name && strpbrk(cfg->smtp_from_name, "\r\n")) {
		set_err(err, errlen, "notify: notify.email.from_name must be one line");
		return -1;
	}
	if (!cfg->smtp_to)
		cfg->smtp_to = json_array();
	size_t i;
	json_t *a;
	json_array_foreach(cfg->smtp_to, i, a)
	{
		if (!notify_valid_address(json_string_value(a))) {
			set_err(err, errlen, "notify: notify.email.to[%zu] is not an address", i);
			return -1;
		}
	}
	if (cfg->smtp_password_ref && strncmp(cfg->smtp_url, "smtp://", 7) == 0 &&
	    !cfg->smtp_starttls) {
		set_err(err, errlen,
		        "notify: notify.email.password would cross the network in clear: use "
		        "starttls: true or an smtps:// url");
		return -1;
	}
	if (cfg->smtp_password_ref && !cfg->smtp_username) {
		set_err(err, errlen, "notify: notify.email.password needs username");
		return -1;
	}
	return 0;
}

static int parse_retry(const json_t *root, struct notify_config *cfg, char *err, size_t errlen)
{
	json_t *o;
	static const char *const keys[] = {"attempts", "base_delay", "max_delay", "max_time", NULL};
	cfg->retry.attempts = 4;
	cfg->retry.base_delay = 0.5;
	cfg->retry.max_delay = 8;
	cfg->retry.max_time = 30;
	if (get_object(root, "retry", "notify", &o, err, errlen) < 0)
		return -1;
	if (!o)
		return 0;
	if (only_keys(o, "notify.retry", keys, err, errlen) < 0)
		return -1;
	json_t *attempts = json_object_get(o, "attempts");
	if (attempts) {
		if (!json_is_integer(attempts) || json_integer_value(attempts) < 1 ||
		    json_integer_value(attempts) > 100) {
			set_err(err, errlen, "notify: notify.retry.attempts must be 1..100");
			return -1;
		}
		cfg->retry.attempts = (int)json_integer_value(attempts);
	}
	if (get_duration(o, "base_delay", "notify.retry", &cfg->retry.base_delay, 0.5, err,
	                 errlen) < 0 ||
	    get_duration(o, "max_delay", "notify.retry", &cfg->retry.max_delay, 8, err, errlen) <
	        0 ||
	    get_duration(o, "max_time", "notify.retry", &cfg->retry.max_time, 30, err, errlen) < 0)
		return -1;
	return 0;
}

const struct notify_webhook *notify_config_webhook(const struct notify_config *cfg,
                                                   const char *name)
{
	for (size_t i = 0; i < cfg->nwebhooks; i++)
		if (strcmp(cfg->webhooks[i].name, name) == 0)
			return &cfg->webhooks[i];
	return NULL;
}

/* A target names a configured channel: "slack:#ops", "pagerduty:", "pagerduty:SERVICE",
 * "opsgenie:", "teams:", "email:", "email:a@b,c@d", "webhook:NAME". */
int notify_target_check(const struct notify_config *cfg, const char *target, char *err,
                        size_t errlen)
{
	const char *colon = target ? strchr(target, ':') : NULL;
	if (!colon) {
		set_err(err, errlen,
		        "target \"%s\" must be SCHEME:... (slack:, pagerduty:, opsgenie:, teams:, "
		        "email:, webhook:NAME)",
		        target ? target : "");
		return -1;
	}
	size_t n = (size_t)(colon - target);
	const char *rest = colon + 1;
#define SCHEME(s) (n == strlen(s) && strncmp(target, s, n) == 0)
	if (SCHEME("slack")) {
		if (!cfg->slack_url_ref)
			goto unconfigured;
		return 0;
	}
	if (SCHEME("pagerduty")) {
		if (*rest) {
			if (!json_is_string(json_object_get(cfg->pd_services, rest))) {
				set_err(
				    err, errlen,
				    "target \"%s\": no pagerduty.services.%s in the configuration",
				    target, rest);
				return -1;
			}
			return 0;
		}
		if (!cfg->pd_key_ref)
			goto unconfigured;
		return 0;
	}
	if (SCHEME("opsgenie")) {
		if (!cfg->og_key_ref)
			goto unconfigured;
		return 0;
	}
	if (SCHEME("teams")) {
		if (!cfg->teams_url_ref)
			goto unconfigured;
		return 0;
	}
	if (SCHEME("email")) {
		if (!cfg->smtp_url)
			goto unconfigured;
		if (!*rest && json_array_size(cfg->smtp_to) == 0) {
			set_err(err, errlen,
			        "target \"email:\" needs addresses (email:a@b) or notify.email.to");
			return -1;
		}
		if (*rest) {
			char *copy = strdup(rest);
			if (!copy)
				return -1;
			int ok = 1;
			for (char *save = NULL, *a = strtok_r(copy, ",", &save); a;
			     a = strtok_r(NULL, ",", &save)) {
				while (*a == ' ')
					a++;
				if (!notify_valid_address(a))
					ok = 0;
			}
			free(copy);
			if (!ok) {
				set_err(err, errlen, "target \"%s\": not a list of addresses",
				        target);
				return -1;
			}
		}
		return 0;
	}
	if (SCHEME("webhook")) {
		if (!notify_config_webhook(cfg, rest)) {
			set_err(err, errlen, "target \"%s\": no webhooks.%s in the configuration",
			        target, rest);
			return -1;
		}
		return 0;
	}
#undef SCHEME
	set_err(err, errlen,
	        "target \"%s\": unknown scheme (slack:, pagerduty:, opsgenie:, teams:, email:, "
	        "webhook:NAME)",
	        target);
	return -1;
unconfigured:
	set_err(err, errlen, "target \"%s\": notify.%.*s is not configured", target, (int)n,
	        target);
	return -1;
}

static int check_targets(const struct notify_config *cfg, const json_t *list, const char *where,
                         char *err, size_t errlen)
{
	size_t i;
	json_t *t;
	json_array_foreach(list, i, t)
	{
		char why[384];
		if (notify_target_check(cfg, json_string_value(t), why, sizeof why) < 0) {
			set_err(err, errlen, "notify: %s[%zu]: %s", where, i, why);
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
		else if (notify_config_webhook(cfg, "tickets"))
			json_array_append_new(list, json_string("webhook:tickets"));
	}
	return list;
}

static int parse_routing(const json_t *root, struct notify_config *cfg, char *err, size_t errlen)
{
	json_t *o;
	static const char *const keys[] = {"critical", "high", "medium", "low", "info", NULL};
	if (get_object(root, "routing", "notify", &o, err, errlen) < 0)
		return -1;
	if (o && only_keys(o, "notify.routing", keys, err, errlen) < 0)
		return -1;
	for (int i = 0; i < NOTIFY_SEV_COUNT; i++) {
		json_t *list = NULL;
		if (o &&
		    get_string_list(o, severity_names[i], "notify.routing", &list, err, errlen) < 0)
			return -1;
		cfg->routing[i] = list ? list : default_route(cfg, (enum notify_severity)i);
		char where[64];
		snprintf(where, sizeof where, "notify.routing.%s", severity_names[i]);
		if (check_targets(cfg, cfg->routing[i], where, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int parse_escalation(const json_t *root, struct notify_config *cfg, char *err, size_t errlen)
{
	json_t *list = json_object_get(root, "escalation");
	if (!list || json_is_null(list))
		return 0;
	if (!json_is_array(list)) {
		set_err(err, errlen, "notify: notify.escalation must be a list of {wait, to}");
		return -1;
	}
	if (json_array_size(list) == 0)
		return 0;
	cfg->levels = calloc(json_array_size(list), sizeof *cfg->levels);
	if (!cfg->levels)
		return -1;
	size_t i;
	json_t *item;
	static const char *const keys[] = {"wait", "to", NULL};
	json_array_foreach(list, i, item)
	{
		char where[64];
		snprintf(where, sizeof where, "notify.escalation[%zu]", i);
		if (!json_is_object(item)) {
			set_err(err, errlen, "notify: %s must be a map {wait, to}", where);
			return -1;
		}
		struct notify_level *lv = &cfg->levels[cfg->nlevels++];
		if (only_keys(item, where, keys, err, errlen) < 0 ||
		    get_duration(item, "wait", where, &lv->wait, 0, err, errlen) < 0 ||
		    get_string_list(item, "to", where, &lv->to, err, errlen) < 0)
			return -1;
		if (!lv->to || json_array_size(lv->to) == 0) {
			set_err(err, errlen, "notify: %s.to must list at least one target", where);
			return -1;
		}
		char twhere[80];
		snprintf(twhere, sizeof twhere, "%s.to", where);
		if (check_targets(cfg, lv->to, twhere, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int notify_config_parse(const json_t *config, struct notify_config *cfg, char *err, size_t errlen)
{
	static const char *const keys[] = {
	    "slack",      "pagerduty", "opsgenie",        "teams", "webhooks", "email", "routing",
	    "escalation", "timeout",   "connect_timeout", "retry", "ca_file",  NULL};
	memset(cfg, 0, sizeof *cfg);
	err[0] = '\0';
	if (!json_is_object(config)) {
		set_err(err, errlen, "notify: the configuration must be a map");
		return -1;
	}
	int rc = -1;
	if (only_keys(config, "notify", keys, err, errlen) < 0 ||
	    get_duration(config, "timeout", "notify", &cfg->timeout, 10, err, errlen) < 0 ||
	    get_duration(config, "connect_timeout", "notify", &cfg->connect_timeout, 5, err,
	                 errlen) < 0 ||
	    get_string(config, "ca_file", "notify", &cfg->ca_file, err, errlen) < 0 ||
	    parse_retry(config, cfg, err, errlen) < 0 ||
	    parse_slack(config, cfg, err, errlen) < 0 ||
	    parse_pagerduty(config, cfg, err, errlen) < 0 ||
	    parse_opsgenie(config, cfg, err, errlen) < 0 ||
	    parse_teams(config, cfg, err, errlen) < 0 ||
	    parse_webhooks(config, cfg, err, errlen) < 0 ||
	    parse_email(config, cfg, err, errlen) < 0 ||
	    parse_routing(config, cfg, err, errlen) < 0 ||
	    parse_escalation(config, cfg, err, errlen) < 0)
		goto out;
	if (cfg->timeout <= 0 || cfg->connect_timeout <= 0) {
		set_err(err, errlen, "notify: notify.timeout and connect_timeout must be positive");
		goto out;
	}
	rc = 0;
out:
	if (rc < 0) {
		if (!err[0])
			set_err(err, errlen, "notify: out of memory reading the configuration");
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
