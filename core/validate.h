/*
 * salve validate: every problem of a runbook and of a salve.yaml before anything runs, not
 * just the first. The configuration's problems (unknown keys, lifecycle settings, types),
 * the runbook's (what loading refuses, and every finding of the pre-run checker, sorted by
 * line) and, when a configuration is given, every plugin the runbook uses started with it
 * (a required setting missing is named with its plugin and key). Nothing runs.
 */
#ifndef SALVE_VALIDATE_H
#define SALVE_VALIDATE_H

#include <jansson.h>

#include "cli.h"

/* config: the salve.yaml to check and start plugins with (NULL: g's, if any); runbook: a
 * path or builtin:NAME, or NULL to check the configuration only. Returns the report (a new
 * reference): {runbook?, config?, valid, errors: [{file, line?, message}], exit_code} and,
 * for a runbook that loads, its name, params, plugins, steps and lock. *exit_code: 0, 64 (a
 * file that is not there, a bad global option), 65 (an invalid runbook or configuration) or
 * 69 (a plugin not found, or that could not start). */
json_t *salve_validate(const struct salve_cli_globals *g, const char *config, const char *runbook,
                       int *exit_code);

#endif
