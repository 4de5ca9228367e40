#include "mock_host.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "httpsvc/httpsvc.h"

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
	/* What the last mock_check returned as observed when it found a change needed, for the
	 * next plan or apply of the same action with the same args (as the core does). */
	json_t *pending_observed;
	const salve_action *pending_action;
	json_t *pending_args;
	/* check's observed while plan or apply runs; NULL otherwise */
	json_t *observed;
	uint32_t host_size; /* struct_size of the table init gets (a smaller one: an older host) */
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

static const json_t *host_observed(salve_call *call)
{
	(void)call;
	return M.observed;
}

/* The HTTP service is the real one (the transport linked in, not dlopened), so plugins are
 * tested against real servers through exactly the code the core runs. */
static const salve_httpsvc_ops *linked_transport(char *err, size_t errlen)
{
	const salve_httpsvc_ops *ops = salve_httpsvc_entry();
	if (!ops)
		snprintf(err, errlen, "libcurl failed to initialise");
	return ops;
}

static const salve_host mock_host_table;

static salve_http_client *host_http_client(salve_call *call, const salve_http_options *options)
{
	return salve_http_client_new(&mock_host_table, linked_transport, call, options);
}

static int host_http_request(salve_call *call, salve_http_client *client,
                             const salve_http_request *req, salve_http_response *resp)
{
	return salve_http_client_request(&mock_host_table, call, client, req, resp);
}

static char *host_http_escape(const char *s)
{
	return salve_http_escape(linked_transport, s);
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
    .observed = host_observed,
    .http_client = host_http_client,
    .http_request = host_http_request,
    .http_response_clear = salve_http_response_clear,
    .http_client_free = salve_http_client_free,
    .http_escape = host_http_escape,
};

/* The table init gets: mock_host_table, or its start as an older host has it. */
static salve_host host_as_told;

static void forget_observed(void)
{
	json_decref(M.pending_observed);
	json_decref(M.pending_args);
	M.pending_observed = M.pending_args = NULL;
	M.pending_action = NULL;
}

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

void mock_set_host_abi(unsigned minor)
{
	static const uint32_t sizes[] = {
	    offsetof(salve_host, progress),
	    offsetof(salve_host, register_secret),
	    sizeof(salve_host),
	};
	M.host_size = sizes[minor < 2 ? minor : 2];
}

int mock_init(const salve_plugin *p, const char *config_json)
{
	uint32_t host_size = M.host_size ? M.host_size : sizeof(salve_host);
	memset(&M, 0, sizeof M);
	/* An older host's table ends earlier: what lies past struct_size is not there. */
	memset(&host_as_told, 0, sizeof host_as_told);
	memcpy(&host_as_told, &mock_host_table, host_size);
	host_as_told.struct_size = host_size;
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
		rc = p->init(&host_as_told, config, &M.state, M.error, sizeof M.error);
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
	forget_observed();
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
		forget_observed();                                                                 \
		int rc = a->fn(&the_call, args, __VA_ARGS__);                                      \
		json_decref(args);                                                                 \
		return rc;                                                                         \
	} while (0)

/* check, remembering its observed as the core keeps it for plan/apply. */
static int check_keep(const salve_action *a, json_t *args, json_t **observed)
{
	forget_observed();
	*observed = NULL;
	int rc = a->check(&the_call, args, observed);
	if (rc == SALVE_OK && *observed) {
		M.pending_observed = json_incref(*observed);
		M.pending_action = a;
		M.pending_args = json_incref(args);
	}
	return rc;
}

/* plan (apply when undo is not NULL) with check's observed when it was for this action and
 * these args, as the core calls them right after check. */
static int plan_or_apply(const salve_action *a, json_t *args, json_t **out, json_t **undo)
{
	if (M.pending_action == a && json_equal(M.pending_args, args))
		M.observed = json_incref(M.pending_observed);
	forget_observed();
	int rc = undo ? a->apply(&the_call, args, out, undo) : a->plan(&the_call, args, out);
	json_decref(M.observed);
	M.observed = NULL;
	return rc;
}

static const salve_action *need_mutate(const char *action)
{
	const salve_action *a = need_action(action);
	if (a->kind != SALVE_MUTATE || !a->check || !a->plan || !a->apply)
		fail_msg("action %s is not a mutate action with check, plan and apply", action);
	return a;
}

static void mark(json_t *result, const char *key, int value)
{
	if (json_is_object(result))
		json_object_set_new(result, key, json_boolean(value));
}

int mock_exec(const char *action, const char *args_json, json_t **result, json_t **undo)
{
	const salve_action *a = need_mutate(action);
	json_t *args = parse_args(args_json);
	json_t *observed = NULL, *kept_undo = NULL;
	const int dry = M.mode == SALVE_MODE_DRY_RUN;
	*result = NULL;
	if (undo)
		*undo = NULL;
	int rc = check_keep(a, args, &observed);
	if (rc == SALVE_HOLDS) {
		*result = observed ? observed : json_object();
		mark(*result, "changed", 0);
	} else if (rc >= 0) {
		json_decref(observed);
		rc = plan_or_apply(a, args, result, dry ? NULL : undo ? undo : &kept_undo);
		json_decref(kept_undo);
		if (rc >= 0) {
			if (!*result)
				*result = json_object();
			mark(*result, "changed", 1);
			if (dry)
				mark(*result, "planned", 1);
		}
	} else {
		json_decref(observed);
	}
	json_decref(args);
	return rc;
}

int mock_run(const char *action, const char *args_json, json_t **result)
{
	const salve_action *a = need_action(action);
	if (a->kind == SALVE_MUTATE)
		return mock_exec(action, args_json, result, NULL);
	if (M.mode == SALVE_MODE_DRY_RUN && !M.drill && a->kind == SALVE_NOTIFY)
		fail_msg("the core never sends notification %s in a dry-run without a drill",
		         action);
	if (!a->run)
		fail_msg("action %s has no run callback", action);
	json_t *args = parse_args(args_json);
	forget_observed();
	int rc = a->run(&the_call, args, result);
	json_decref(args);
	return rc;
}

int mock_check(const char *action, const char *args_json, json_t **observed)
{
	const salve_action *a = need_mutate(action);
	json_t *args = parse_args(args_json);
	int rc = check_keep(a, args, observed);
	json_decref(args);
	return rc;
}

int mock_plan(const char *action, const char *args_json, json_t **predicted)
{
	const salve_action *a = need_mutate(action);
	json_t *args = parse_args(args_json);
	int rc = plan_or_apply(a, args, predicted, NULL);
	json_decref(args);
	return rc;
}

int mock_apply(const char *action, const char *args_json, json_t **result, json_t **undo)
{
	if (M.mode == SALVE_MODE_DRY_RUN)
		fail_msg("the core never calls apply (%s) in a dry-run", action);
	const salve_action *a = need_mutate(action);
	json_t *args = parse_args(args_json);
	int rc = plan_or_apply(a, args, result, undo);
	json_decref(args);
	return rc;
}

int mock_undo(const char *action, const json_t *undo)
{
	const salve_action *a = need_action(action);
	if (!a->undo)
		fail_msg("action %s has no undo callback", action);
	forget_observed();
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
