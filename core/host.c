#include "host.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "httpmod.h"
#include "redact.h"
#include "util.h"

static int log_level = SALVE_LOG_INFO;
/* A live progress line is on the terminal (stderr) and must be cleared before other output. */
static int progress_shown;
static pthread_mutex_t output_lock = PTHREAD_MUTEX_INITIALIZER;

void salve_progress_clear(void)
{
	pthread_mutex_lock(&output_lock);
	if (progress_shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		progress_shown = 0;
	}
	pthread_mutex_unlock(&output_lock);
}

void salve_set_log_level(int level)
{
	log_level = level;
}

static const char *level_name(int level)
{
	switch (level) {
	case SALVE_LOG_ERROR:
		return "error";
	case SALVE_LOG_WARN:
		return "warning";
	case SALVE_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

static void emit(int level, const char *prefix, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void emit(int level, const char *prefix, const char *fmt, va_list ap)
{
	if (level > log_level)
		return;
	char raw[4096], safe[4096], shown[4096];
	vsnprintf(raw, sizeof raw, fmt, ap);
	salve_redact_string(raw, safe, sizeof safe);
	salve_escape_controls(safe, shown, sizeof shown, 1);
	salve_progress_clear();
	fprintf(stderr, "salve: %s%s%s: %s\n", prefix ? prefix : "", prefix ? " " : "",
	        level_name(level), shown);
}

void salve_log(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(level, NULL, fmt, ap);
	va_end(ap);
}

int salve_run_audit(const salve_run_info *run, json_t *record)
{
	if (!run || !run->audit) {
		json_decref(record);
		return 0;
	}
	json_t *full = salve_audit_record();
	if (run->run_id)
		json_object_set_new(full, "run", json_string(run->run_id));
	if (run->runbook)
		json_object_set_new(full, "runbook", json_string(run->runbook));
	json_object_update(full, record);
	json_decref(record);
	json_object_set_new(full, "mode",
	                    json_string(run->mode == SALVE_MODE_DRY_RUN ? "dry-run" : "apply"));
	if (run->drill)
		json_object_set_new(full, "drill", json_true());
	if (run->trigger)
		json_object_set_new(full, "trigger", json_string(run->trigger));
	char err[512];
	int rc = salve_audit_write(run->audit, full, err, sizeof err);
	if (rc < 0)
		salve_log(SALVE_LOG_ERROR, "%s", err);
	return rc;
}

static void host_log(salve_call *call, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void host_log(salve_call *call, int level, const char *fmt, ...)
{
	char prefix[256] = "";
	if (call && call->plugin && call->action)
		snprintf(prefix, sizeof prefix, "%s.%s", call->plugin->desc.name,
		         call->action->name);
	va_list ap;
	va_start(ap, fmt);
	emit(level, prefix[0] ? prefix : NULL, fmt, ap);
	va_end(ap);
}

static void host_fail(salve_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void host_fail(salve_call *call, const char *fmt, ...)
{
	if (!call)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(call->error, sizeof call->error, fmt, ap);
	va_end(ap);
}

static void host_audit(salve_call *call, const char *event, const json_t *data)
{
	if (!call || !call->run)
		return;
	char name[160];
	snprintf(name, sizeof name, "plugin:%s", event ? event : "event");
	json_t *rec = json_pack("{s:s, s:s?, s:s?, s:s?, s:O?}", "event", name, "step", call->step,
	                        "plugin", call->plugin ? call->plugin->desc.name : NULL, "action",
	                        call->action ? call->action->name : NULL, "data", (json_t *)data);
	salve_run_audit(call->run, rec);
}

static char *host_secret(salve_call *call, const char *ref)
{
	char *value = NULL;
	if (!ref) {
		host_fail(call, "secret reference is empty");
	} else if (strncmp(ref, "env:", 4) == 0) {
		const char *v = getenv(ref + 4);
		if (v && *v)
			value = strdup(v);
		else
			host_fail(call, "secret %s: environment variable %s is not set", ref,
			          ref + 4);
	} else if (strncmp(ref, "file:", 5) == 0) {
		size_t len;
		value = salve_read_file(ref + 5, &len);
		if (!value) {
			host_fail(call, "secret %s: cannot read the file", ref);
		} else {
			while (len > 0 && (value[len - 1] == '\n' || value[len - 1] == '\r'))
				value[--len] = '\0';
		}
	} else {
		host_fail(call,
		          "secret references start with env: or file: (got a value of %zu bytes "
		          "that is neither; inline secrets are refused)",
		          strlen(ref));
	}
	if (value)
		salve_redact_register(value);
	return value;
}

static enum salve_mode host_mode(salve_call *call)
{
	return call && call->run ? call->run->mode : SALVE_MODE_APPLY;
}

static int host_drill(salve_call *call)
{
	return call && call->run ? call->run->drill : 0;
}

static int host_cancelled(salve_call *call)
{
	if (!call || !call->run || call->run->ignore_cancel || !call->run->cancel)
		return 0;
	return *call->run->cancel != 0;
}

static double host_remaining(salve_call *call)
{
	if (!call || call->deadline <= 0)
		return HUGE_VAL;
	return call->deadline - salve_now();
}

static void *host_state(salve_call *call)
{
	return call && call->plugin ? call->plugin->state : NULL;
}

static const char *host_run_info(salve_call *call, const char *key)
{
	if (!call || !call->run || !key)
		return NULL;
	const salve_run_info *r = call->run;
	if (strcmp(key, "run_id") == 0)
		return r->run_id;
	if (strcmp(key, "runbook") == 0)
		return r->runbook;
	if (strcmp(key, "trigger") == 0)
		return r->trigger;
	if (strcmp(key, "fingerprint") == 0)
		return r->fingerprint;
	if (strcmp(key, "step") == 0)
		return call->step;
	if (strcmp(key, "outcome") == 0)
		return r->outcome;
	if (strcmp(key, "target") == 0)
		return r->target;
	if (strcmp(key, "mode") == 0)
		return r->mode == SALVE_MODE_DRY_RUN ? "dry-run" : "apply";
	return NULL;
}

static void host_progress(salve_call *call, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void host_progress(salve_call *call, const char *fmt, ...)
{
	char raw[1024], redacted[1024], safe[1024], prefix[256] = "";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	salve_redact_string(raw, redacted, sizeof redacted);
	salve_escape_controls(redacted, safe, sizeof safe, 0);
	if (call && call->plugin && call->action)
		snprintf(prefix, sizeof prefix, "%s.%s: ", call->plugin->desc.name,
		         call->action->name);
	pthread_mutex_lock(&output_lock);
	if (isatty(STDERR_FILENO)) {
		fprintf(stderr, "\r\033[K%s%s", prefix, safe);
		progress_shown = 1;
	} else {
		fprintf(stderr, "salve: %sprogress: %s\n", prefix, safe);
	}
	fflush(stderr);
	pthread_mutex_unlock(&output_lock);
}

static void host_register_secret(salve_call *call, const char *value)
{
	(void)call;
	salve_redact_register(value);
}

static const json_t *host_observed(salve_call *call)
{
	return call ? call->observed : NULL;
}

static const salve_host host_table;

static salve_http_client *host_http_client(salve_call *call, const salve_http_options *options)
{
	return salve_http_client_new(&host_table, salve_httpmod_load, call, options);
}

static int host_http_request(salve_call *call, salve_http_client *client,
                             const salve_http_request *req, salve_http_response *resp)
{
	return salve_http_client_request(&host_table, call, client, req, resp);
}

static char *host_http_escape(const char *s)
{
	return salve_http_escape(salve_httpmod_load, s);
}

static const salve_host host_table = {
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

const salve_host *salve_host_table(void)
{
	return &host_table;
}
