/* In-process driver for bench/kubernetes/run.sh: loads the kubernetes and scale plugins (.so)
 * as the core does, stands in for the host with the few services the actions use, and runs
 * one action per line of stdin, timing it. One plugin instance each for the whole run, so the
 * client keeps its TLS connection alive between actions.
 *
 *   bench_driver PLUGIN_DIR KUBECONFIG
 *
 * stdin, one request a line, tab-separated:
 *   run PLUGIN ACTION ARGS_JSON   a read (run), or a mutation: check, then apply when needed,
 *                                 handing check's observed to apply (host->observed, ABI 1.2)
 *   undo PLUGIN ACTION UNDO_JSON  the action's undo
 * stdout, one answer a line: "ok MS JSON" (MS the milliseconds the call took; JSON the result,
 * or for a mutation {"result": ..., "undo": ...}), or "err MESSAGE". */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <salve/plugin.h>

#include "httpsvc/httpsvc.h"

struct salve_call {
	void *state;
	char error[2048];
};

static void h_log(salve_call *call, int level, const char *fmt, ...)
{
	(void)call, (void)level, (void)fmt;
}

static void h_fail(salve_call *call, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(call->error, sizeof call->error, fmt, ap);
	va_end(ap);
}

static void h_audit(salve_call *call, const char *event, const json_t *data)
{
	(void)call, (void)event, (void)data;
}

static char *h_secret(salve_call *call, const char *ref)
{
	(void)call, (void)ref;
	return NULL;
}

static enum salve_mode h_mode(salve_call *call)
{
	(void)call;
	return SALVE_MODE_APPLY;
}

static int h_zero(salve_call *call)
{
	(void)call;
	return 0;
}

static double h_remaining(salve_call *call)
{
	(void)call;
	return HUGE_VAL;
}

static void *h_state(salve_call *call)
{
	return call->state;
}

static const char *h_run_info(salve_call *call, const char *key)
{
	(void)call;
	return strcmp(key, "run_id") == 0 ? "bench" : NULL;
}

/* What check returned, handed to apply as the core hands it. */
static const json_t *check_observed;

static const json_t *h_observed(salve_call *call)
{
	(void)call;
	return check_observed;
}

/* The HTTP service as the core runs it, with the curl transport linked in (run.sh compiles
 * core/httpsvc with this file). */
static const salve_httpsvc_ops *transport(char *err, size_t errlen)
{
	const salve_httpsvc_ops *ops = salve_httpsvc_entry();
	if (!ops)
		snprintf(err, errlen, "libcurl failed to initialise");
	return ops;
}

static const salve_host host;

static salve_http_client *h_http_client(salve_call *call, const salve_http_options *o)
{
	return salve_http_client_new(&host, transport, call, o);
}

static int h_http_request(salve_call *call, salve_http_client *c, const salve_http_request *req,
                          salve_http_response *resp)
{
	return salve_http_client_request(&host, call, c, req, resp);
}

static char *h_http_escape(const char *s)
{
	return salve_http_escape(transport, s);
}

static const salve_host host = {
    .struct_size = sizeof(salve_host),
    .abi_minor = SALVE_PLUGIN_ABI_MINOR,
    .log = h_log,
    .fail = h_fail,
    .audit = h_audit,
    .secret = h_secret,
    .mode = h_mode,
    .drill = h_zero,
    .cancelled = h_zero,
    .remaining = h_remaining,
    .state = h_state,
    .run_info = h_run_info,
    .observed = h_observed,
    .http_client = h_http_client,
    .http_request = h_http_request,
    .http_response_clear = salve_http_response_clear,
    .http_client_free = salve_http_client_free,
    .http_escape = h_http_escape,
};

struct loaded {
	const char *name;
	const salve_plugin *p;
	void *state;
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int load(const char *dir, const char *name, const char *kubeconfig, struct loaded *l)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s.so", dir, name);
	void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	salve_plugin_entry_fn entry =
	    so ? (salve_plugin_entry_fn)dlsym(so, SALVE_PLUGIN_ENTRY_SYMBOL) : NULL;
	l->p = entry ? entry() : NULL;
	if (!l->p || l->p->abi_major != SALVE_PLUGIN_ABI_MAJOR) {
		fprintf(stderr, "%s is not a salve plugin of ABI %d: %s\n", path,
		        SALVE_PLUGIN_ABI_MAJOR, so ? "" : dlerror());
		return -1;
	}
	json_t *config = json_pack("{s:s}", "kubeconfig", kubeconfig);
	char err[1024];
	int rc = l->p->init(&host, config, &l->state, err, sizeof err);
	json_decref(config);
	if (rc < 0) {
		fprintf(stderr, "%s: init: %s\n", name, err);
		return -1;
	}
	l->name = name;
	return 0;
}

static const salve_action *find(const struct loaded *l, size_t n, const char *plugin,
                                const char *action, void **state)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(l[i].name, plugin) != 0)
			continue;
		*state = l[i].state;
		for (const salve_action *a = l[i].p->actions; a->name; a++)
			if (strcmp(a->name, action) == 0)
				return a;
	}
	return NULL;
}

/* One request; the answer line on stdout. */
static void serve(const struct loaded *l, size_t n, char *line)
{
	char *verb = strtok(line, "\t"), *plugin = strtok(NULL, "\t"), *action = strtok(NULL, "\t"),
	     *json = strtok(NULL, "\n");
	salve_call call = {0};
	const salve_action *a =
	    verb && plugin && action && json ? find(l, n, plugin, action, &call.state) : NULL;
	json_error_t jerr;
	json_t *in = a ? json_loads(json, 0, &jerr) : NULL;
	if (!in) {
		printf("err bad request or unknown action\n");
		return;
	}
	json_t *observed = NULL, *result = NULL, *undo = NULL, *answer = NULL;
	int rc;
	double t0 = now_ms();
	if (strcmp(verb, "undo") == 0) {
		rc = a->undo ? a->undo(&call, in) : SALVE_ERR;
	} else if (a->run) {
		rc = a->run(&call, in, &result);
	} else {
		rc = a->check(&call, in, &observed);
		check_observed = observed;
		if (rc == SALVE_OK)
			rc = a->apply(&call, in, &result, &undo);
		else if (rc == SALVE_HOLDS)
			rc = SALVE_OK;
		check_observed = NULL;
	}
	double t1 = now_ms();
	if (rc < 0) {
		for (char *c = call.error; *c; c++)
			if (*c == '\n')
				*c = ' ';
		printf("err %s\n", call.error[0] ? call.error : "failed without a message");
	} else {
		answer = a->run ? json_incref(result ? result : json_null())
		                : json_pack("{s:O?, s:O?}", "result", result, "undo", undo);
		char *text = json_dumps(answer, JSON_COMPACT | JSON_ENCODE_ANY);
		printf("ok %.3f %s\n", t1 - t0, text ? text : "null");
		free(text);
	}
	json_decref(in);
	json_decref(observed);
	json_decref(result);
	json_decref(undo);
	json_decref(answer);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s PLUGIN_DIR KUBECONFIG\n", argv[0]);
		return 2;
	}
	struct loaded l[2];
	if (load(argv[1], "kubernetes", argv[2], &l[0]) < 0 ||
	    load(argv[1], "scale", argv[2], &l[1]) < 0)
		return 1;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, stdin) > 0) {
		serve(l, 2, line);
		fflush(stdout);
	}
	free(line);
	for (size_t i = 0; i < 2; i++)
		l[i].p->fini(l[i].state);
	return 0;
}
