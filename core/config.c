#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static int duration_key(const json_t *doc, const char *key, double *out, const char *path,
                        char *err, size_t errlen)
{
	json_t *v = json_object_get(doc, key);
	if (!v)
		return 0;
	if (salve_duration_from_json(v, out) == 0)
		return 0;
	snprintf(err, errlen, "%s: %s must be a duration such as \"10m\"", path, key);
	return -1;
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
	json_t *doc = salve_yaml_load_file(path, err, errlen);
	if (!doc)
		return -1;
	cfg->doc = doc;
	if (!json_is_object(doc)) {
		snprintf(err, errlen, "%s: the top level must be a mapping", path);
		return -1;
	}
	const char *key;
	json_t *v;
	json_object_foreach(doc, key, v)
	{
		int known = 0;
		for (size_t i = 0; known_keys[i]; i++)
			known |= strcmp(key, known_keys[i]) == 0;
		if (!known) {
			snprintf(err, errlen, "%s: unknown key '%s'", path, key);
			return -1;
		}
	}
	if ((v = json_object_get(doc, "audit"))) {
		if (!json_is_string(v)) {
			snprintf(err, errlen, "%s: audit must be a file path", path);
			return -1;
		}
		free(cfg->audit_path);
		cfg->audit_path = strdup(json_string_value(v));
	}
	if ((v = json_object_get(doc, "state_dir"))) {
		if (!json_is_string(v)) {
			snprintf(err, errlen, "%s: state_dir must be a directory path", path);
			return -1;
		}
		free(cfg->state_dir);
		cfg->state_dir = strdup(json_string_value(v));
	}
	if ((v = json_object_get(doc, "audit_sync"))) {
		const char *s = json_string_value(v);
		if (s && strcmp(s, "always") == 0)
			cfg->audit_sync = SALVE_AUDIT_SYNC_ALWAYS;
		else if (s && strcmp(s, "none") == 0)
			cfg->audit_sync = SALVE_AUDIT_SYNC_NONE;
		else {
			snprintf(err, errlen, "%s: audit_sync must be \"always\" or \"none\"",
			         path);
			return -1;
		}
	}
	if ((v = json_object_get(doc, "plugin_path"))) {
		if (json_is_string(v)) {
			json_array_append(cfg->plugin_path, v);
		} else if (json_is_array(v)) {
			size_t i;
			json_t *d;
			json_array_foreach(v, i, d)
			{
				if (!json_is_string(d)) {
					snprintf(err, errlen,
					         "%s: plugin_path entries must be directories",
					         path);
					return -1;
				}
				json_array_append(cfg->plugin_path, d);
			}
		} else {
			snprintf(err, errlen,
			         "%s: plugin_path must be a directory or a list of them", path);
			return -1;
		}
	}
	if ((v = json_object_get(doc, "plugins"))) {
		if (!json_is_object(v)) {
			snprintf(err, errlen, "%s: plugins must map plugin names to their settings",
			         path);
			return -1;
		}
		json_t *settings;
		json_object_foreach(v, key, settings)
		{
			if (!json_is_object(settings) && !json_is_null(settings)) {
				snprintf(err, errlen,
				         "%s: plugins.%s must be a mapping of settings", path, key);
				return -1;
			}
			json_object_set_new(cfg->plugins, key,
			                    json_is_null(settings) ? json_object()
			                                           : json_incref(settings));
		}
	}
	if (duration_key(doc, "step_timeout", &cfg->step_timeout, path, err, errlen) < 0 ||
	    duration_key(doc, "run_timeout", &cfg->run_timeout, path, err, errlen) < 0)
		return -1;
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
