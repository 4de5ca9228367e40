#include "mock_host.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct salve_call {
	int unused;
};

static struct {
	const salve_plugin *plugin;
	void *state;
	enum salve_mode mode;
	int drill;
	int cancelled;
	double remaining;
	json_t *run_info;
	char error[4096];
	char *logs;
	size_t logs_len;
	json_t *audit;
	json_t *secrets;
	json_t *registered;
} M;

static struct salve_call the_call;

static void append_log(const char *line)
{
	size_t n = strlen(line);
	char *grown = realloc(M.logs, M.logs_len + n + 2);
	assert_non_null(grown);
	M.logs = grown;
	memcpy(M.logs + M.logs_len, line, n);
	M.logs_len += n;
	M.logs[M.logs_len++] = '\n';
	M.logs[M.logs_len] = '\0';
}

static void host_log(salve_call *call, int level, const char *fmt, ...)
{
	(void)call;
	char line[4096];
	int off = snprintf(line, sizeof line, "[%d] ", level);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + off, sizeof line - (size_t)off, fmt, ap);
	va_end(ap);
	append_log(line);
}

static void host_fail(salve_call *call, const char *fmt, ...)
{
	(void)call;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(M.error, sizeof M.error, fmt, ap);
	va_end(ap);
}

static void host_audit(salve_call *call, const char *event, const json_t *data)
{
	(void)call;
	json_t *rec = json_pack("{s:s, s:O?}", "event", event, "data", (json_t *)data);
	json_array_append_new(M.audit, rec);
}

static char *host_secret(salve_call *call, const char *ref)
{
	(void)call;
	char *value = NULL;
	if (strncmp(ref, "env:", 4) == 0) {
		const char *v = getenv(ref + 4);
		if (v)
			value = strdup(v);
		else
			host_fail(call, "secret %s: environment variable not set", ref);
	} else if (strncmp(ref, "file:", 5) == 0) {
		FILE *f = fopen(ref + 5, "r");
		if (f) {
			char buf[8192];
			size_t n = fread(buf, 1, sizeof buf - 1, f);
			fclose(f);
			buf[n] = '\0';
			while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
				buf[--n] = '\0';
			value = strdup(buf);
		} else {
			host_fail(call, "secret %s: cannot read file", ref);
		}
	} else {
		host_fail(call, "secret reference must start with env: or file:");
	}
	if (value) {
		json_array_append_new(M.secrets, json_string(value));
		json_array_append_new(M.registered, json_string(value)); /* as the core does */
	}
	return value;
}

static enum salve_mode host_mode(salve_call *call)
{
	(void)call;
	return M.mode;
}

static int host_drill(salve_call *call)
{
	(void)call;
	return M.drill;
}

static int host_cancelled(salve_call *call)
{
	(void)call;
	return M.cancelled;
}

static double host_remaining(salve_call *call)
{
	(void)call;
	return M.remaining;
}

static void *host_state(salve_call *call)
{
	(void)call;
	return M.state;
}

static const char *host_run_info(salve_call *call, const char *key)
{
	(void)call;
	return json_string_value(json_object_get(M.run_info, key));
}

static void host_progress(salve_call *call, const char *fmt, ...)
{
	(void)call;
	char line[4096];
	int off = snprintf(line, sizeof line, "[progress] ");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + off, sizeof line - (size_t)off, fmt, ap);
	va_end(ap);
	append_log(line);
}

static void host_register_secret(salve_call *call, const char *value)
{
	(void)call;
	if (value && strlen(value) >= 4)
		json_array_append_new(M.registered, json_string(value));
}

static const salve_host mock_host_table = {
    .struct_size = sizeof(salve_host),
    .abi_minor = SALVE_PLUGIN_ABI_MINOR,
    .log = host_log,
    .fail = host_fail,
    .audit = host_audit,
    .secret = host_secret,
    .mode = host_mode,
    .drill = host_drill,
    .cancelled = host_cancelled,
    .remaining = host_remaining,
    .state = host_state,
    .run_info = host_run_info,
    .progress = host_progress,
    .register_secret = host_register_secret,
};

void mock_reset_records(void)
{
	M.error[0] = '\0';
	free(M.logs);
	M.logs = NULL;
	M.logs_len = 0;
	json_decref(M.audit);
	M.audit = json_array();
	json_decref(M.secrets);
	M.secrets = json_array();
}

int mock_init(const salve_plugin *p, const char *config_json)
{
	memset(&M, 0, sizeof M);
	M.plugin = p;
	M.remaining = HUGE_VAL;
	M.run_info = json_pack("{s:s, s:s, s:s, s:s}", "run_id", "mock-run", "runbook", "mock",
	                       "step", "mock-step", "trigger", "cli");
	M.registered = json_array(); /* process-wide in the core: kept by mock_reset_records */
	mock_reset_records();
	json_error_t jerr;
	json_t *config = json_loads(config_json ? config_json : "{}", 0, &jerr);
	if (!config)
		fail_msg("mock_init: config is not JSON: %s", jerr.text);
	int rc = 0;
	if (p->init)
		rc = p->init(&mock_host_table, config, &M.state, M.error, sizeof M.error);
	json_decref(config);
	return rc;
}

void mock_fini(void)
{
	if (M.plugin && M.plugin->fini)
		M.plugin->fini(M.state);
	json_decref(M.run_info);
	json_decref(M.audit);
	json_decref(M.secrets);
	json_decref(M.registered);
	free(M.logs);
	memset(&M, 0, sizeof M);
}

void mock_set_mode(enum salve_mode mode)
{
	M.mode = mode;
}

void mock_set_drill(int drill)
{
	M.drill = drill;
}

void mock_set_remaining(double seconds)
{
	M.remaining = seconds;
}

void mock_set_cancelled(int cancelled)
{
	M.cancelled = cancelled;
}

void mock_set_run_info(const char *key, const char *value)
{
	json_object_set_new(M.run_info, key, json_string(value));
}

const salve_action *mock_action(const char *name)
{
	for (const salve_action *a = M.plugin->actions; a && a->name; a++)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

static const salve_action *need_action(const char *name)
{
	const salve_action *a = mock_action(name);
	if (!a)
		fail_msg("plugin %s has no action %s", M.plugin->name, name);
	M.error[0] = '\0';
	return a;
}

static json_t *parse_args(const char *args_json)
{
	json_error_t jerr;
	json_t *args = json_loads(args_json ? args_json : "{}", 0, &jerr);
	if (!json_is_object(args))
		fail_msg("args are not a JSON object: %s (%s)", args_json, jerr.text);
	return args;
}

#define MOCK_CALL(fn, action, args_json, ...)                                                      \
	do {                                                                                       \
		const salve_action *a = need_action(action);                                       \
		if (!a->fn)                                                                        \
			fail_msg("action %s has no " #fn " callback", action);                     \
		json_t *args = parse_args(args_json);                                              \
		int rc = a->fn(&the_call, args, __VA_ARGS__);                                      \
		json_decref(args);                                                                 \
		return rc;                                                                         \
	} while (0)

int mock_run(const char *action, const char *args_json, json_t **result)
{
	if (M.mode == SALVE_MODE_DRY_RUN && !M.drill && need_action(action)->kind == SALVE_NOTIFY)
		fail_msg("the core never sends notification %s in a dry-run without a drill",
		         action);
	MOCK_CALL(run, action, args_json, result);
}

int mock_check(const char *action, const char *args_json, json_t **observed)
{
	MOCK_CALL(check, action, args_json, observed);
}

int mock_plan(const char *action, const char *args_json, json_t **predicted)
{
	MOCK_CALL(plan, action, args_json, predicted);
}

int mock_apply(const char *action, const char *args_json, json_t **result, json_t **undo)
{
	if (M.mode == SALVE_MODE_DRY_RUN)
		fail_msg("the core never calls apply (%s) in a dry-run", action);
	MOCK_CALL(apply, action, args_json, result, undo);
}

int mock_undo(const char *action, const json_t *undo)
{
	const salve_action *a = need_action(action);
	if (!a->undo)
		fail_msg("action %s has no undo callback", action);
	return a->undo(&the_call, undo);
}

int mock_render(const char *action, const char *args_json, json_t **message)
{
	MOCK_CALL(render, action, args_json, message);
}

const char *mock_last_error(void)
{
	return M.error;
}

const char *mock_logs(void)
{
	return M.logs ? M.logs : "";
}

const json_t *mock_audit_events(void)
{
	return M.audit;
}

const json_t *mock_secrets_seen(void)
{
	return M.secrets;
}

int mock_is_registered(const char *value)
{
	size_t i;
	json_t *v;
	json_array_foreach(M.registered, i,
	                   v) if (strcmp(json_string_value(v), value) == 0) return 1;
	return 0;
}
