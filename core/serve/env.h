/*
 * What every command of salve serve (serve, routes, pause, resume) needs before it does
 * anything: the config with the command line's global options applied, the server settings,
 * and (for serve and routes) the routes and the plugin registry.
 *
 * Ownership: a struct srv_env owns everything in it until srv_env_close. Single-threaded:
 * the commands use it on the main thread before any other starts.
 */
#ifndef SRV_ENV_H
#define SRV_ENV_H

#include <jansson.h>

#include "audit.h"
#include "cli.h"
#include "launch.h"
#include "route.h"

/* What every command needs: salve's environment (config, global options, plugin registry)
 * and the server's own settings and routes. */
struct srv_env {
	salve_env core;
	srv_conf conf;
	srv_routes routes;
	int loaded_routes;
};

/* Loads salve's environment, the server settings and, with routes != 0, the routes.
 * 0, or the exit status with the reason printed (nothing to close then). */
int srv_env_open(struct srv_env *e, const struct salve_cli_globals *g, int routes);
void srv_env_close(struct srv_env *e);
/* Who runs the command, for audit records: SUDO_USER, USER, or the account's name. */
const char *srv_env_who(void);
/* Writes one record (stolen) to the audit log at path; a failure is printed. */
void srv_env_audit(const char *path, enum salve_audit_sync sync, json_t *rec);
/* `salve serve --config salve.yaml` (the spelling of the issue and of most tools) puts global
 * options after the command: takes --config, --audit, --state-dir and --plugin-path (VALUE or
 * =VALUE) out of argv into a copy of the globals. Returns the new argc, or -1 when one lacks
 * its value (printed). */
int srv_env_take_globals(const struct salve_cli_globals *in, struct salve_cli_globals *out,
                         int argc, char **argv);

#endif
