/* The environment of salve serve's commands (see env.h). */
#include "env.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcodes.h"

void srv_env_close(struct srv_env *e)
{
	if (e->loaded_routes)
		srv_routes_free(&e->routes);
	srv_conf_free(&e->conf);
	salve_env_close(&e->core);
	memset(e, 0, sizeof *e);
}

int srv_env_open(struct srv_env *e, const struct salve_cli_globals *g, int routes)
{
	memset(e, 0, sizeof *e);
	char err[2048];
	int code = salve_env_open(&e->core, g, err, sizeof err);
	if (code) {
		fprintf(stderr, "salve: %s\n", err);
		return code;
	}
	const salve_config *cfg = &e->core.cfg;
	const char *where = cfg->path ? cfg->path : "salve.yaml";
	if (srv_conf_load(cfg->doc, cfg->path, &e->conf, err, sizeof err) < 0 ||
	    (routes && srv_routes_load(cfg->doc, cfg->path, e->conf.runbook_dir, &e->routes, err,
	                               sizeof err) < 0)) {
		fprintf(stderr, "salve: config %s: %s\n", where, err);
		srv_env_close(e);
		return SALVE_EXIT_INVALID_RUNBOOK;
	}
	e->loaded_routes = routes;
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
