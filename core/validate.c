/* salve validate (see validate.h). */
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "exitcodes.h"
#include "launch.h"
#include "lint.h"
#include "runbook.h"
#include "util.h"

static void add_error(json_t *errors, const char *file, int line, const char *message)
{
	json_t *e = json_pack("{s:s, s:s}", "file", file, "message", message);
	if (line > 0)
		json_object_set_new(e, "line", json_integer(line));
	json_array_append_new(errors, e);
}

/* The line of a "source:N: ..." message, else 0. */
static int line_of(const char *message, const char *source)
{
	size_t n = strlen(source);
	if (strncmp(message, source, n) != 0 || message[n] != ':')
		return 0;
	char *end;
	long line = strtol(message + n + 1, &end, 10);
	return end > message + n + 1 && *end == ':' && line > 0 && line < 1000000000 ? (int)line
	                                                                             : 0;
}

/* The checker's findings plus what loading refused (load_err, "" when it loaded), sorted by
 * line. A load error on a line the checker explains (io.open: "attempt to index a nil
 * value") is left out for the finding that says why. */
static void runbook_errors(json_t *errors, const char *source, json_t *found, const char *load_err)
{
	int load_line = load_err[0] ? line_of(load_err, source) : -1;
	size_t i;
	json_t *f;
	json_array_foreach(found, i, f)
	{
		int line = (int)json_integer_value(json_object_get(f, "line"));
		const char *message = json_string_value(json_object_get(f, "message"));
		if (load_line >= 0 && (line == load_line || !strcmp(message, load_err)))
			load_line = -1;
		else if (load_line >= 0 && load_line < line) {
			add_error(errors, source, load_line, load_err);
			load_line = -1;
		}
		add_error(errors, source, line, message);
	}
	if (load_line >= 0)
		add_error(errors, source, load_line, load_err);
}

/* Starts every plugin named in plugins with the configuration; each failure is an error. */
static int start_plugins(salve_env *e, const json_t *plugins, const char *config, json_t *errors)
{
	int failed = 0;
	size_t i;
	json_t *name;
	json_array_foreach(plugins, i, name)
	{
		enum salve_registry_error why;
		char err[2048];
		if (!salve_registry_get(e->reg, json_string_value(name), 1, &why, err,
		                        sizeof err)) {
			add_error(errors, config, 0, err);
			failed = 1;
		}
	}
	return failed;
}

json_t *salve_validate(const struct salve_cli_globals *g, const char *config, const char *runbook,
                       int *exit_code)
{
	json_t *report = json_object();
	json_t *errors = json_array();
	if (!config)
		config = g->config_path;
	if (runbook)
		json_object_set_new(report, "runbook", json_string(runbook));
	if (config)
		json_object_set_new(report, "config", json_string(config));
	*exit_code = 0;
	/* The configuration first: with problems, the runbook is checked without it. */
	json_t *problems = config ? salve_config_check(config) : json_array();
	size_t i;
	json_t *p;
	json_array_foreach(problems, i, p) add_error(errors, config, 0, json_string_value(p));
	int config_ok = json_array_size(problems) == 0;
	json_decref(problems);
	if (!config_ok)
		*exit_code = SALVE_EXIT_INVALID_RUNBOOK;
	struct salve_cli_globals with = *g;
	with.config_path = config_ok ? config : NULL;
	salve_env e;
	char err[4096];
	int code = runbook ? salve_env_open(&e, &with, err, sizeof err) : 0;
	if (code) {
		add_error(errors, runbook, 0, err);
		*exit_code = code;
		runbook = NULL;
	}
	if (runbook) {
		int load_code;
		salve_runbook *rb = salve_runbook_load(runbook, e.reg, &load_code, err, sizeof err);
		size_t len = 0;
		char *text = NULL;
		if (rb) {
			len = rb->text_len;
			text = malloc(len + 1);
			memcpy(text, rb->text, len);
		} else if (strncmp(runbook, "builtin:", 8) != 0 && load_code != SALVE_EXIT_USAGE) {
			text = salve_read_file(runbook, &len);
		}
		json_t *plugins = json_array();
		json_t *found =
		    text ? salve_lint_all(text, len, runbook, e.reg, plugins) : json_array();
		runbook_errors(errors, runbook, found, rb ? "" : err);
		json_decref(found);
		free(text);
		if (!rb && !*exit_code)
			*exit_code = load_code;
		/* Plugins start (with their settings checked) only as a run would start them. */
		if (config && config_ok &&
		    start_plugins(&e, rb ? rb->plugins : plugins, config, errors) && !*exit_code)
			*exit_code = SALVE_EXIT_UNAVAILABLE;
		json_decref(plugins);
		if (rb) {
			json_t *steps = json_array();
			for (size_t s = 0; s < rb->nsteps; s++)
				json_array_append_new(steps, json_pack("{s:s, s:i}", "name",
				                                       rb->steps[s].name, "line",
				                                       rb->steps[s].line));
			json_t *facts = json_pack("{s:s, s:O, s:O, s:o, s:s?}", "name", rb->name,
			                          "params", rb->params_spec, "plugins", rb->plugins,
			                          "steps", steps, "lock", rb->lock);
			json_object_update(report, facts);
			json_decref(facts);
			salve_runbook_free(rb);
		}
		salve_env_close(&e);
	}
	json_object_set_new(report, "valid", json_boolean(json_array_size(errors) == 0));
	/* The first error alone, as validate --json has always said it. */
	if (json_array_size(errors))
		json_object_set(report, "error",
		                json_object_get(json_array_get(errors, 0), "message"));
	json_object_set_new(report, "errors", errors);
	json_object_set_new(report, "exit_code", json_integer(*exit_code));
	return report;
}
