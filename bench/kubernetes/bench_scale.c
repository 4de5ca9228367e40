/* Latency of scale.set (check, then apply when needed) through the real plugin .so, as the
 * core calls it, over one keep-alive TLS connection. Loads the plugin with dlopen and stands in
 * for the host with the few services the action uses.
 *
 *   bench_scale PLUGIN_SO KUBECONFIG NAMESPACE DEPLOYMENT ITERATIONS
 *
 * Prints one line per iteration (milliseconds) to stdout; errors to stderr. */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <salve/plugin.h>

struct salve_call {
	char error[2048];
};

static void *plugin_state;

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
	(void)call;
	const char *v = strncmp(ref, "env:", 4) == 0 ? getenv(ref + 4) : NULL;
	return v ? strdup(v) : NULL;
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
	(void)call;
	return plugin_state;
}

static const char *h_run_info(salve_call *call, const char *key)
{
	(void)call, (void)key;
	return NULL;
}

/* What check returned, handed to apply as the core hands it (host->observed, ABI 1.2). */
static const json_t *check_observed;

static const json_t *h_observed(salve_call *call)
{
	(void)call;
	return check_observed;
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
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: %s PLUGIN_SO KUBECONFIG NAMESPACE DEPLOYMENT ITERATIONS\n",
		        argv[0]);
		return 2;
	}
	void *so = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!so) {
		fprintf(stderr, "dlopen %s: %s\n", argv[1], dlerror());
		return 1;
	}
	salve_plugin_entry_fn entry = (salve_plugin_entry_fn)dlsym(so, SALVE_PLUGIN_ENTRY_SYMBOL);
	const salve_plugin *p = entry ? entry() : NULL;
	if (!p || p->abi_major != SALVE_PLUGIN_ABI_MAJOR) {
		fprintf(stderr, "%s is not a salve plugin of ABI %d\n", argv[1],
		        SALVE_PLUGIN_ABI_MAJOR);
		return 1;
	}
	const salve_action *set = NULL;
	for (const salve_action *a = p->actions; a->name; a++)
		if (strcmp(a->name, "set") == 0)
			set = a;
	json_t *config = json_pack("{s:s}", "kubeconfig", argv[2]);
	char err[1024];
	if (!set || p->init(&host, config, &plugin_state, err, sizeof err) < 0) {
		fprintf(stderr, "init: %s\n", set ? err : "no action set");
		return 1;
	}
	json_decref(config);
	int n = atoi(argv[5]);
	for (int i = 0; i < n; i++) {
		/* Alternate 2 and 3 replicas so every iteration changes something. */
		json_t *args = json_pack("{s:s, s:s, s:s, s:i}", "kind", "deployment", "namespace",
		                         argv[3], "name", argv[4], "replicas", 2 + (i % 2));
		salve_call call = {{0}};
		json_t *observed = NULL, *result = NULL, *undo = NULL;
		double t0 = now_ms();
		int rc = set->check(&call, args, &observed);
		check_observed = observed;
		if (rc == SALVE_OK)
			rc = set->apply(&call, args, &result, &undo);
		check_observed = NULL;
		double t1 = now_ms();
		json_decref(args);
		json_decref(observed);
		json_decref(result);
		json_decref(undo);
		if (rc < 0) {
			fprintf(stderr, "scale.set failed: %s\n", call.error);
			return 1;
		}
		printf("%.3f\n", t1 - t0);
	}
	p->fini(plugin_state);
	dlclose(so);
	return 0;
}
