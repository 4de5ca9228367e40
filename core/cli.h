/*
 * What main.c shares with the commands that live in their own modules (salve serve in
 * core/serve/). Globals come from the command line, before the command name.
 */
#ifndef SALVE_CLI_H
#define SALVE_CLI_H

#include <stdarg.h>

struct salve_cli_globals {
	const char *config_path; /* --config, or NULL */
	const char *audit_path;  /* --audit, or NULL: the config's */
	const char *state_dir;   /* --state-dir, or NULL: the config's */
	const char *plugin_path; /* --plugin-path (colon-separated), or NULL */
	const char *audit_sync;  /* --audit-sync always|none, or NULL */
	int verbose;
};

/* "salve: MESSAGE" on stderr for every command (core/cli_out.c). Messages carry values from
 * runbooks, parameters, logs and files: redacted, and with control characters escaped so none
 * can forge a line or a screen. */
void salve_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void salve_cli_verror(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Each takes argv[0] = the command name and returns an exit status (exitcodes.h).
 * Implemented in core/serve/ when salve is built with it (SALVE_WITH_SERVE). */
int salve_serve_main(const struct salve_cli_globals *g, int argc, char **argv);  /* serve */
int salve_routes_main(const struct salve_cli_globals *g, int argc, char **argv); /* routes */
int salve_control_main(const struct salve_cli_globals *g, int argc,
                       char **argv); /* pause, resume */
/* salve-serve run without a command (salve-serve --config X [--check]): serve, with salve's
 * global options anywhere. Returns its exit status, or -1 when argv names a command (or
 * asks for --version): main goes on as for salve. argv[0] is the program. */
int salve_serve_standalone(int argc, char **argv);

#endif
