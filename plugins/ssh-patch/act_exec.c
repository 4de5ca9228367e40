/*
 * exec (mutate, cannot be undone) and query (read): one command on every selected host.
 * argv elements are single-quoted for the remote POSIX shell, so no element can become
 * shell syntax; shell= is passed as written, for people who mean a pipeline.
 */
#include "act.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int valid_env_name(const char *s)
{
	if (!(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

/* env = {NAME = "value"}: names a shell would accept, values without NUL bytes. */
static int env_arg(salve_call *call, const json_t *args, const json_t **env)
{
	*env = json_object_get(args, "env");
	if (!*env || json_is_null(*env)) {
		*env = NULL;
		return SALVE_OK;
	}
	if (!json_is_object(*env)) {
		sp_fail(call, "exec: env must be a map of NAME = value");
		return SALVE_ERR_INVALID;
	}
	const char *name;
	json_t *v;
	json_object_foreach((json_t *)*env, name, v)
	{
		if (!valid_env_name(name)) {
			sp_fail(call,
			        "exec: env: '%s' is not a variable name ([A-Za-z_][A-Za-z0-9_]*)",
			        name);
			return SALVE_ERR_INVALID;
		}
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
			sp_fail(call, "exec: env: %s must be a string without NUL bytes", name);
			return SALVE_ERR_INVALID;
		}
	}
	return SALVE_OK;
}

/* Validate argv/shell and build the commands. */
static int exec_prepare(salve_call *call, const json_t *args, struct sp_target *t,
                        struct sp_cmd **out)
{
	*out = NULL;
	const json_t *argv = json_object_get(args, "argv");
	const json_t *shell = json_object_get(args, "shell");
	if ((argv != NULL) == (shell != NULL)) {
		sp_fail(call, "exec: give exactly one of argv (a list) or shell (a string)");
		return SALVE_ERR_INVALID;
	}
	if (argv) {
		if (!json_is_array(argv) || json_array_size(argv) == 0) {
			sp_fail(call, "exec: argv must be a non-empty list of strings");
			return SALVE_ERR_INVALID;
		}
		size_t i;
		json_t *v;
		json_array_foreach(argv, i, v)
		{
			if (!json_is_string(v) ||
			    strlen(json_string_value(v)) != json_string_length(v)) {
				sp_fail(call,
				        "exec: argv[%zu] must be a string without NUL bytes "
				        "(a NUL cannot travel in an argument)",
				        i + 1);
				return SALVE_ERR_INVALID;
			}
		}
	} else if (!json_is_string(shell) || json_string_length(shell) == 0) {
		sp_fail(call, "exec: shell must be a non-empty string");
		return SALVE_ERR_INVALID;
	}
	if (sp_long(json_object_get(args, "allow_failures"), 0) < 0) {
		sp_fail(call, "exec: allow_failures must be a count >= 0");
		return SALVE_ERR_INVALID;
	}
	const json_t *env;
	int rc = env_arg(call, args, &env);
	if (rc != SALVE_OK)
		return rc;
	rc = sp_target_open(call, args, t);
	if (rc != SALVE_OK)
		return rc;
	struct sp_cmd *cmds = sp_cmds_for(t, argv);
	const json_t *in = json_object_get(args, "stdin");
	for (size_t i = 0; i < t->n; i++) {
		if (shell)
			cmds[i].shell = strdup(json_string_value(shell));
		if (env)
			cmds[i].env = json_deep_copy(env);
		if (json_is_string(in)) {
			cmds[i].input_len = json_string_length(in);
			cmds[i].input = malloc(cmds[i].input_len + 1);
			memcpy(cmds[i].input, json_string_value(in), cmds[i].input_len);
		}
	}
	*out = cmds;
	return SALVE_OK;
}

static int exec_run(salve_call *call, const json_t *args, json_t **result, const char *name)
{
	struct sp_target t;
	struct sp_cmd *cmds;
	int rc = exec_prepare(call, args, &t, &cmds);
	if (rc != SALVE_OK)
		return rc;
	rc = sp_run(call, cmds, t.n, t.forks, t.connect_timeout);
	json_t *res = sp_result_new();
	size_t failed = 0;
	for (size_t i = 0; i < t.n; i++) {
		int ok = sp_cmd_ok(&cmds[i]);
		failed += !ok;
		/* A command that ran may have changed anything; exec cannot know, so it says so. */
		sp_result_put(res, cmds[i].host->name,
		              sp_cmd_result(&cmds[i], cmds[i].ran && strcmp(name, "exec") == 0),
		              !ok);
	}
	*result = res;
	long allowed = sp_long(json_object_get(args, "allow_failures"), 0);
	if (rc != SALVE_OK)
		sp_fail_hosts(call, name, cmds, t.n, NULL);
	else if ((long)failed > allowed)
		rc = sp_fail_hosts(call, name, cmds, t.n, NULL);
	sp_cmds_free(cmds, t.n);
	sp_target_close(&t);
	return rc;
}

int sp_exec_check(salve_call *call, const json_t *args, json_t **observed)
{
	(void)observed;
	struct sp_target t;
	struct sp_cmd *cmds;
	/* A command must run: exec never holds. Validate now so errors surface early. */
	int rc = exec_prepare(call, args, &t, &cmds);
	if (rc != SALVE_OK)
		return rc;
	sp_cmds_free(cmds, t.n);
	sp_target_close(&t);
	return SALVE_OK;
}

int sp_exec_plan(salve_call *call, const json_t *args, json_t **predicted)
{
	struct sp_target t;
	struct sp_cmd *cmds;
	int rc = exec_prepare(call, args, &t, &cmds);
	if (rc != SALVE_OK)
		return rc;
	json_t *res = sp_result_new();
	for (size_t i = 0; i < t.n; i++) {
		const struct sp_host *h = cmds[i].host;
		char *line = sp_cmd_line(&cmds[i]);
		json_t *hr = json_pack(
		    "{s:s, s:s, s:b, s:n, s:s, s:s}", "command", line ? line : "", "connection",
		    h->local ? "local" : "ssh", "changed", 1, "error", "address", h->address,
		    "user", h->local ? "" : (h->user ? h->user : sp_state_of(call)->cfg.user));
		if (!h->local)
			json_object_set_new(hr, "port", json_integer(h->port));
		free(line);
		sp_result_put(res, h->name, hr, 0);
	}
	*predicted = res;
	sp_cmds_free(cmds, t.n);
	sp_target_close(&t);
	return SALVE_OK;
}

int sp_exec_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo)
{
	*undo = NULL;
	return exec_run(call, args, result, "exec");
}

int sp_exec_undo(salve_call *call, const json_t *undo)
{
	(void)undo;
	sp_log(call, SALVE_LOG_INFO, "exec: a command that ran cannot be undone; nothing to do");
	return SALVE_OK;
}

int sp_query_run(salve_call *call, const json_t *args, json_t **result)
{
	return exec_run(call, args, result, "query");
}
