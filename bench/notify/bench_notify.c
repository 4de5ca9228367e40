/*
 * bench_notify: time notify actions through the real plugin .so, loaded the way the core
 * loads it (dlopen + salve_plugin_entry) with a minimal host table. Prints figures; asserts
 * nothing.
 *
 *   bench_notify PLUGIN.so CONFIG.json ACTION ARGS.json ITERATIONS LABEL [THREADS]
 *
 * With THREADS > 1, that many threads each send ITERATIONS notifications at once (as
 * `salve serve` runs several runs), sharing the plugin's connection cache; the figures are
 * over all of them.
 * Secrets resolve from the environment (env:NAME) or files (file:/path). Output, one line:
 *   LABEL  n=.. first=..ms median=..ms p90=..ms min=..ms max=..ms ok=.. failed=..
 */
#include <salve/plugin.h>

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct salve_call {
	int unused;
};

static void *plugin_state;

static void h_log(salve_call *c, int level, const char *fmt, ...)
{
	(void)c;
	if (getenv("BENCH_VERBOSE")) {
		va_list ap;
		va_start(ap, fmt);
		fprintf(stderr, "[%d] ", level);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
}

static _Thread_local char last_error[1024];
static char shown_error[1024];

static void h_fail(salve_call *c, const char *fmt, ...)
{
	(void)c;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof last_error, fmt, ap);
	va_end(ap);
}

static void h_audit(salve_call *c, const char *event, const json_t *data)
{
	(void)c;
	(void)event;
	(void)data;
}

static char *h_secret(salve_call *c, const char *ref)
{
	(void)c;
	if (strncmp(ref, "env:", 4) == 0) {
		const char *v = getenv(ref + 4);
		return v ? strdup(v) : NULL;
	}
	if (strncmp(ref, "file:", 5) == 0) {
		FILE *f = fopen(ref + 5, "r");
		char buf[4096] = "";
		if (!f)
			return NULL;
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		return strdup(buf);
	}
	return NULL;
}

static enum salve_mode h_mode(salve_call *c)
{
	(void)c;
	return SALVE_MODE_APPLY;
}

static int h_zero(salve_call *c)
{
	(void)c;
	return 0;
}

static double h_remaining(salve_call *c)
{
	(void)c;
	return HUGE_VAL;
}

static void *h_state(salve_call *c)
{
	(void)c;
	return plugin_state;
}

static const char *h_run_info(salve_call *c, const char *key)
{
	(void)c;
	if (strcmp(key, "run_id") == 0)
		return "bench-run";
	if (strcmp(key, "runbook") == 0)
		return "bench";
	if (strcmp(key, "step") == 0)
		return "notify";
	if (strcmp(key, "trigger") == 0)
		return "cli";
	return NULL;
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
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

struct worker {
	const salve_action *action;
	const json_t *args;
	int n;
	double *t; /* n timings */
	int ok, failed;
	pthread_t thread;
};

static void *work(void *p)
{
	struct worker *w = p;
	struct salve_call call = {0};
	for (int i = 0; i < w->n; i++) {
		json_t *result = NULL;
		double t0 = now_ms();
		int rc = w->action->run(&call, w->args, &result);
		w->t[i] = now_ms() - t0;
		json_decref(result);
		if (rc == SALVE_OK) {
			w->ok++;
		} else {
			w->failed++;
			memcpy(shown_error, last_error,
			       sizeof shown_error); /* racy on purpose: any one */
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 7 && argc != 8) {
		fprintf(stderr,
		        "usage: %s PLUGIN.so CONFIG.json ACTION ARGS.json N LABEL [THREADS]\n",
		        argv[0]);
		return 64;
	}
	void *so = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!so) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 69;
	}
	salve_plugin_entry_fn entry = (salve_plugin_entry_fn)dlsym(so, SALVE_PLUGIN_ENTRY_SYMBOL);
	if (!entry) {
		fprintf(stderr, "no %s in %s\n", SALVE_PLUGIN_ENTRY_SYMBOL, argv[1]);
		return 69;
	}
	const salve_plugin *p = entry();
	json_error_t jerr;
	json_t *config = json_load_file(argv[2], 0, &jerr);
	json_t *args = json_loads(argv[4], 0, &jerr);
	if (!config || !args) {
		fprintf(stderr, "bad JSON: %s\n", jerr.text);
		return 65;
	}
	char err[1024] = "";
	if (p->init(&host, config, &plugin_state, err, sizeof err) != 0) {
		fprintf(stderr, "init: %s\n", err);
		return 69;
	}
	const salve_action *action = NULL;
	for (const salve_action *a = p->actions; a->name; a++)
		if (strcmp(a->name, argv[3]) == 0)
			action = a;
	if (!action) {
		fprintf(stderr, "no action %s\n", argv[3]);
		return 64;
	}
	int n = atoi(argv[5]);
	int threads = argc == 8 ? atoi(argv[7]) : 1;
	if (n < 1)
		n = 1;
	if (threads < 1)
		threads = 1;
	struct worker *w = calloc((size_t)threads, sizeof *w);
	double *t = calloc((size_t)n * (size_t)threads, sizeof *t);
	double wall0 = now_ms();
	for (int i = 0; i < threads; i++) {
		w[i] =
		    (struct worker){.action = action, .args = args, .n = n, .t = t + (size_t)i * n};
		if (threads == 1)
			work(&w[i]);
		else
			pthread_create(&w[i].thread, NULL, work, &w[i]);
	}
	int ok = 0, failed = 0;
	for (int i = 0; i < threads; i++) {
		if (threads > 1)
			pthread_join(w[i].thread, NULL);
		ok += w[i].ok;
		failed += w[i].failed;
	}
	double wall = now_ms() - wall0;
	int total = n * threads;
	double first = t[0];
	qsort(t, (size_t)total, sizeof *t, cmp_double);
	printf("%-34s n=%-3d first=%8.2fms median=%8.2fms p90=%8.2fms min=%8.2fms max=%8.2fms "
	       "ok=%d failed=%d",
	       argv[6], total, first, t[total / 2], t[(total * 9) / 10], t[0], t[total - 1], ok,
	       failed);
	if (threads > 1)
		printf(" threads=%d wall=%.1fms (%.0f/s)", threads, wall, total / (wall / 1e3));
	if (failed)
		printf("  last error: %s", shown_error);
	printf("\n");
	free(t);
	free(w);
	p->fini(plugin_state);
	json_decref(config);
	json_decref(args);
	dlclose(so);
	return 0;
}
