/* The environment of salve serve's commands (see env.h). */
#include "env.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcodes.h"

static void add_dirs(const char **dirs, size_t *n, size_t max, char *list)
{
	char *save = NULL;
	for (char *d = strtok_r(list, ":", &save); d && *n + 1 < max;
	     d = strtok_r(NULL, ":", &save))
		dirs[(*n)++] = d;
}

void srv_env_close(struct srv_env *e)
{
	salve_registry_free(e->reg);
	if (e->loaded_routes)
		srv_routes_free(&e->routes);
	srv_conf_free(&e->conf);
	salve_config_free(&e->cfg);
	free(e->dirs_copy[0]);
	free(e->dirs_copy[1]);
	memset(e, 0, sizeof *e);
}

int srv_env_open(struct srv_env *e, const struct salve_cli_globals *g, int routes)
{
	memset(e, 0, sizeof *e);
	char err[2048];
	if (salve_config_load(g->config_path, &e->cfg, err, sizeof err) < 0) {
		fprintf(stderr, "salve: config %s\n", err);
		salve_config_free(&e->cfg);
		return SALVE_EXIT_INVALID_RUNBOOK;
	}
	if (g->audit_sync) {
		if (strcmp(g->audit_sync, "always") == 0) {
			e->cfg.audit_sync = SALVE_AUDIT_SYNC_ALWAYS;
		} else if (strcmp(g->audit_sync, "none") == 0) {
			e->cfg.audit_sync = SALVE_AUDIT_SYNC_NONE;
		} else {
			fprintf(stderr, "salve: --audit-sync must be always or none, not %s\n",
			        g->audit_sync);
			salve_config_free(&e->cfg);
			return SALVE_EXIT_USAGE;
		}
	}
	e->audit_path = g->audit_path ? g->audit_path : e->cfg.audit_path;
	e->state_dir = g->state_dir ? g->state_dir : e->cfg.state_dir;
	const char *where = e->cfg.path ? e->cfg.path : "salve.yaml";
	if (srv_conf_load(e->cfg.doc, e->cfg.path, &e->conf, err, sizeof err) < 0) {
		fprintf(stderr, "salve: config %s: %s\n", where, err);
		srv_env_close(e);
		return SALVE_EXIT_INVALID_RUNBOOK;
	}
	if (!routes)
		return 0;
	if (srv_routes_load(e->cfg.doc, e->cfg.path, e->conf.runbook_dir, &e->routes, err,
	                    sizeof err) < 0) {
		fprintf(stderr, "salve: config %s: %s\n", where, err);
		srv_env_close(e);
		return SALVE_EXIT_INVALID_RUNBOOK;
	}
	e->loaded_routes = 1;
	const char *dirs[40];
	size_t n = 0;
	if (g->plugin_path) {
		e->dirs_copy[0] = strdup(g->plugin_path);
		add_dirs(dirs, &n, 40, e->dirs_copy[0]);
	}
	const char *envp = getenv("SALVE_PLUGIN_PATH");
	if (envp) {
		e->dirs_copy[1] = strdup(envp);
		add_dirs(dirs, &n, 40, e->dirs_copy[1]);
	}
	size_t i;
	json_t *d;
	json_array_foreach(e->cfg.plugin_path, i, d) if (n + 1 < 40) dirs[n++] =
	    json_string_value(d);
	dirs[n] = NULL;
	e->reg = salve_registry_new(dirs, e->cfg.plugins);
	salve_registry_set_config_file(e->reg, e->cfg.path);
	return 0;
}

const char *srv_env_who(void)
{
	const char *u = getenv("SUDO_USER");
	if (!u || !*u)
		u = getenv("USER");
	if (u && *u)
		return u;
	struct passwd *pw = getpwuid(getuid());
	return pw ? pw->pw_name : "unknown";
}

void srv_env_audit(const char *path, enum salve_audit_sync sync, json_t *rec)
{
	char err[1024];
	salve_audit *a = salve_audit_open(path, sync, err, sizeof err);
	if (!a) {
		fprintf(stderr, "salve: %s\n", err);
		json_decref(rec);
		return;
	}
	json_t *full = salve_audit_record();
	json_object_update(full, rec);
	json_decref(rec);
	if (salve_audit_write(a, full, err, sizeof err) < 0)
		fprintf(stderr, "salve: %s\n", err);
	salve_audit_close(a);
}

int srv_env_take_globals(const struct salve_cli_globals *in, struct salve_cli_globals *out,
                         int argc, char **argv)
{
	static const char *const names[] = {"--config", "--audit", "--state-dir", "--plugin-path"};
	*out = *in;
	const char **slots[] = {&out->config_path, &out->audit_path, &out->state_dir,
	                        &out->plugin_path};
	int w = 1;
	for (int i = 1; i < argc; i++) {
		int taken = 0;
		for (size_t k = 0; k < 4 && !taken; k++) {
			size_t n = strlen(names[k]);
			if (strcmp(argv[i], names[k]) == 0) {
				if (i + 1 >= argc) {
					fprintf(stderr, "salve: %s needs a value\n", names[k]);
					return -1;
				}
				*slots[k] = argv[++i];
				taken = 1;
			} else if (strncmp(argv[i], names[k], n) == 0 && argv[i][n] == '=') {
				*slots[k] = argv[i] + n + 1;
				taken = 1;
			}
		}
		if (!taken)
			argv[w++] = argv[i];
	}
	argv[w] = NULL;
	return w;
}
