#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ha/haconf.h"
#include "util.h"
#include "yamljson.h"

static const char *const known_keys[] = {"audit",        "audit_sync",  "state_dir", "plugin_path",
                                         "step_timeout", "run_timeout", "plugins",   "server",
                                         "routes",       "lifecycle",   "ha",        NULL};

static void defaults(salve_config *cfg)
{
	char buf[4096];
	if (geteuid() == 0) {
		cfg->state_dir = strdup("/var/lib/salve");
		cfg->audit_path = strdup("/var/log/salve/audit.jsonl");
	} else {
		const char *xdg = getenv("XDG_STATE_HOME");
		const char *home = getenv("HOME");
		if (xdg && *xdg)
			snprintf(buf, sizeof buf, "%s/salve", xdg);
		else
			snprintf(buf, sizeof buf, "%s/.local/state/salve", home ? home : "/tmp");
		cfg->state_dir = strdup(buf);
		snprintf(buf, sizeof buf, "%s/audit.jsonl", cfg->state_dir);
		cfg->audit_path = strdup(buf);
	}
	cfg->audit_sync = SALVE_AUDIT_SYNC_ALWAYS;
	cfg->plugin_path = json_array();
	cfg->plugins = json_object();
	cfg->step_timeout = 600;
	cfg->run_timeout = 0;
}

static const char *const notify_keys[] = {"to", "on", "page_on_incomplete", NULL};
static const char *const notify_events[] = {
    "start", "step_failed", "rolled_back", "rollback_incomplete", "degraded", "success", NULL};
static const char *const notify_schemes[] = {"slack", "teams",   "pagerduty", "opsgenie",
                                             "email", "webhook", NULL};

static int listed(const char *const *list, const char *word, size_t len)
{
	for (size_t i = 0; list[i]; i++)
		if (strlen(list[i]) == len && strncmp(list[i], word, len) == 0)
			return 1;
	return 0;
}

int salve_notify_key_known(const char *key)
{
	return listed(notify_keys, key, strlen(key));
}

int salve_notify_event_known(const char *event)
{
	return listed(notify_events, event, strlen(event));
}

int salve_notify_scheme_known(const char *target)
{
	const char *colon = strchr(target, ':');
	return colon && listed(notify_schemes, target, (size_t)(colon - target));
}

static void problem(json_t *problems, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(json_t *problems, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_array_append_new(problems, json_string(msg));
}

/* v is a string or a list of strings; each is passed to known. */
static void check_words(const json_t *v, const char *path, const char *what,
                        int (*known)(const char *), const char *unknown, const char *choices,
                        json_t *problems)
{
	if (!json_is_string(v) && !json_is_array(v)) {
		problem(problems, "%s: lifecycle.notify.%s must be a string or a list of strings",
		        path, what);
		return;
	}
	json_t *list = json_is_array(v) ? json_incref((json_t *)v) : json_pack("[O]", v);
	size_t i;
	json_t *w;
	json_array_foreach(list, i, w)
	{
		if (!json_is_string(w))
			problem(problems,
			        "%s: lifecycle.notify.%s must be a string or a list of strings",
			        path, what);
		else if (!known(json_string_value(w)))
			problem(problems, "%s: lifecycle.notify.%s: %s \"%s\" (%s)", path, what,
			        unknown, json_string_value(w), choices);
	}
	json_decref(list);
}

static void check_lifecycle(const json_t *lc, const char *path, json_t *problems)
{
	if (!json_is_object(lc)) {
		problem(problems, "%s: lifecycle must be a mapping such as notify: {to: ...}",
		        path);
		return;
	}
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)lc, key, v)
	{
		if (strcmp(key, "notify") != 0)
			problem(problems, "%s: lifecycle: unknown key '%s' (notify)", path, key);
	}
	const json_t *n = json_object_get(lc, "notify");
	if (!n)
		return;
	if (!json_is_object(n)) {
		problem(problems, "%s: lifecycle.notify must be a mapping (" SALVE_NOTIFY_KEYS ")",
		        path);
		return;
	}
	json_object_foreach((json_t *)n, key, v)
	{
		if (!salve_notify_key_known(key))
			problem(problems,
			        "%s: lifecycle.notify: unknown key '%s' (" SALVE_NOTIFY_KEYS ")",
			        path, key);
		else if (!strcmp(key, "to"))
			check_words(v, path, key, salve_notify_scheme_known,
			            "unknown channel scheme in", SALVE_NOTIFY_SCHEMES, problems);
		else if (!strcmp(key, "on"))
			check_words(v, path, key, salve_notify_event_known, "unknown event",
			            SALVE_NOTIFY_EVENTS, problems);
		else if (!json_is_boolean(v))
			problem(problems, "%s: lifecycle.notify.%s must be true or false", path,
			        key);
	}
}

/* Every problem of doc, a mapping, in the order the loader meets them. */
static void check_doc(const json_t *doc, const char *path, json_t *problems)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)doc, key, v)
	{
		if (!listed(known_keys, key, strlen(key)))
			problem(
			    problems,
			    "%s: unknown key '%s' (audit, audit_sync, state_dir, plugin_path, "
			    "step_timeout, run_timeout, plugins, server, routes, lifecycle, ha)",
			    path, key);
	}
	if ((v = json_object_get(doc, "audit")) && !json_is_string(v))
		problem(problems, "%s: audit must be a file path", path);
	if ((v = json_object_get(doc, "state_dir")) && !json_is_string(v))
		problem(problems, "%s: state_dir must be a directory path", path);
	if ((v = json_object_get(doc, "audit_sync")) &&
	    !(json_is_string(v) && (strcmp(json_string_value(v), "always") == 0 ||
	                            strcmp(json_string_value(v), "none") == 0)))
		problem(problems, "%s: audit_sync must be \"always\" or \"none\"", path);
	if ((v = json_object_get(doc, "plugin_path")) && !json_is_string(v)) {
		size_t i;
		json_t *d;
		if (!json_is_array(v))
			problem(problems, "%s: plugin_path must be a directory or a list of them",
			        path);
		json_array_foreach(v, i, d) if (!json_is_string(d))
		{
			problem(problems, "%s: plugin_path entries must be directories", path);
			break;
		}
	}
	if ((v = json_object_get(doc, "plugins"))) {
		json_t *settings;
		if (!json_is_object(v))
			problem(problems, "%s: plugins must map plugin names to their settings",
			        path);
		json_object_foreach(v, key, settings)
		{
			if (!json_is_object(settings) && !json_is_null(settings))
				problem(problems, "%s: plugins.%s must be a mapping of settings",
				        path, key);
		}
	}
	const char *const durations[] = {"step_timeout", "run_timeout"};
	for (size_t i = 0; i < 2; i++) {
		double ignored;
		if ((v = json_object_get(doc, durations[i])) &&
		    salve_duration_from_json(v, &ignored) < 0)
			problem(problems, "%s: %s must be a duration such as \"10m\"", path,
			        durations[i]);
	}
	if ((v = json_object_get(doc, "lifecycle")))
		check_lifecycle(v, path, problems);
	salve_ha_conf *ha = NULL;
	char why[1024];
	if (salve_ha_conf_parse(json_object_get(doc, "ha"), &ha, why, sizeof why) < 0)
		problem(problems, "%s: %s", path, why);
	salve_ha_conf_free(ha);
}

/* The document at path and its problems (NULL document: it could not be read or parsed, the
 * one problem says why). */
static json_t *load_doc(const char *path, json_t **problems)
{
	char err[2048];
	*problems = json_array();
	json_t *doc = salve_yaml_load_file(path, err, sizeof err);
	if (!doc)
		problem(*problems, "%s", err);
	else if (!json_is_object(doc))
		problem(*problems, "%s: the top level must be a mapping", path);
	else
		check_doc(doc, path, *problems);
	return doc;
}

json_t *salve_config_check(const char *path)
{
	json_t *problems;
	json_decref(load_doc(path, &problems));
	return problems;
}

int salve_config_load(const char *path, salve_config *cfg, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof *cfg);
	defaults(cfg);
	if (!path) {
		cfg->doc = json_object();
		return 0;
	}
	cfg->path = strdup(path);
	json_t *problems;
	json_t *doc = load_doc(path, &problems);
	cfg->doc = doc;
	if (json_array_size(problems)) {
		snprintf(err, errlen, "%s", json_string_value(json_array_get(problems, 0)));
		json_decref(problems);
		return -1;
	}
	json_decref(problems);
	json_t *v;
	if ((v = json_object_get(doc, "audit"))) {
		free(cfg->audit_path);
		cfg->audit_path = strdup(json_string_value(v));
	}
	if ((v = json_object_get(doc, "state_dir"))) {
		free(cfg->state_dir);
		cfg->state_dir = strdup(json_string_value(v));
	}
	if ((v = json_object_get(doc, "audit_sync")))
		cfg->audit_sync = strcmp(json_string_value(v), "none") == 0
		                      ? SALVE_AUDIT_SYNC_NONE
		                      : SALVE_AUDIT_SYNC_ALWAYS;
	if ((v = json_object_get(doc, "plugin_path"))) {
		if (json_is_string(v))
			json_array_append(cfg->plugin_path, v);
		else
			json_array_extend(cfg->plugin_path, v);
	}
	const char *key;
	json_t *settings;
	json_object_foreach(json_object_get(doc, "plugins"), key, settings)
	{
		json_object_set_new(cfg->plugins, key,
		                    json_is_null(settings) ? json_object() : json_incref(settings));
	}
	/* Checked above: an absent key leaves the default. */
	(void)salve_duration_from_json(json_object_get(doc, "step_timeout"), &cfg->step_timeout);
	(void)salve_duration_from_json(json_object_get(doc, "run_timeout"), &cfg->run_timeout);
	return 0;
}

void salve_config_free(salve_config *cfg)
{
	free(cfg->path);
	free(cfg->audit_path);
	free(cfg->state_dir);
	json_decref(cfg->plugin_path);
	json_decref(cfg->plugins);
	json_decref(cfg->doc);
	memset(cfg, 0, sizeof *cfg);
}
