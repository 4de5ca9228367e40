/* The shared Kubernetes client used from several threads at once, as `salve serve` uses a
 * plugin: every request succeeds, writes from different threads all land, and the handle pool
 * keeps connections alive (no more TLS connections than threads). Runs against the fake API
 * server with a small thread-safe host of its own (the mock host is single-threaded). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_k8s.h"
#include "httpsvc/httpsvc.h"
#include "k8s.h"

#define THREADS 4
#define ROUNDS  15

struct salve_call {
	int thread;
	char error[1024];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int new_connections, kept_alive, audits;
static k8s_client *client;

static void h_log(salve_call *call, int level, const char *fmt, ...)
{
	(void)call, (void)level;
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&lock);
	new_connections += strstr(line, "new connection") != NULL;
	kept_alive += strstr(line, "kept-alive connection") != NULL;
	pthread_mutex_unlock(&lock);
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
	pthread_mutex_lock(&lock);
	audits++;
	pthread_mutex_unlock(&lock);
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
	return 60;
}

static void *h_state(salve_call *call)
{
	(void)call;
	return client;
}

static const char *h_info(salve_call *call, const char *key)
{
	(void)call, (void)key;
	return NULL;
}

/* The host's HTTP service as the core runs it, with the transport linked in. */
static const salve_httpsvc_ops *transport(char *err, size_t errlen)
{
	(void)err, (void)errlen;
	return salve_httpsvc_entry();
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
    .run_info = h_info,
    .http_client = h_http_client,
    .http_request = h_http_request,
    .http_response_clear = salve_http_response_clear,
    .http_client_free = salve_http_client_free,
};

static int build_label(k8s_ctx *ctx, const json_t *current, json_t **desired, void *ud)
{
	(void)ctx;
	const char *key = ud;
	*desired = json_deep_copy(current);
	json_t *meta = json_object_get(*desired, "metadata");
	json_t *labels = json_object_get(meta, "labels");
	if (!json_is_object(labels)) {
		labels = json_object();
		json_object_set_new(meta, "labels", labels);
	}
	json_object_set_new(labels, key, json_string("yes"));
	return SALVE_OK;
}

static void *worker(void *arg)
{
	salve_call *call = arg;
	static const char *const paths[] = {"/apis/apps/v1/namespaces/prod/deployments/web",
	                                    "/api/v1/nodes/node-1", "/api/v1/namespaces/prod/pods",
	                                    "/apis/apps/v1/namespaces/prod/statefulsets/db/scale"};
	for (int i = 0; i < ROUNDS; i++) {
		k8s_ctx ctx;
		k8s_ctx_init(&ctx, client, &host, call);
		json_t *obj = NULL;
		if (k8s_get(&ctx, paths[(call->thread + i) % 4], 0, &obj) != SALVE_OK)
			return call->error;
		json_decref(obj);
	}
	/* Concurrent writes to one object: each thread's label lands, 409s are re-read. */
	k8s_ctx ctx;
	k8s_ctx_init(&ctx, client, &host, call);
	char key[32];
	snprintf(key, sizeof key, "thread-%d", call->thread);
	if (k8s_update(&ctx, "/api/v1/nodes/node-2", 0, build_label, key, NULL, NULL, NULL) !=
	    SALVE_OK)
		return call->error;
	return NULL;
}

static void test_threads_share_one_client(void **state)
{
	(void)state;
	char err[512];
	assert_int_equal(k8s_client_new(fake_k8s.kc_cert, NULL, 10, &client, err, sizeof err), 0);
	pthread_t tid[THREADS];
	salve_call calls[THREADS];
	memset(calls, 0, sizeof calls);
	for (int t = 0; t < THREADS; t++) {
		calls[t].thread = t;
		assert_int_equal(pthread_create(&tid[t], NULL, worker, &calls[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		void *failed = NULL;
		pthread_join(tid[t], &failed);
		if (failed)
			fail_msg("thread %d: %s", t, (const char *)failed);
	}
	k8s_client_free(client);
	client = NULL;
	/* ROUNDS GETs per thread, then a GET and a PATCH (or more, after a 409) each */
	json_t *reqs = fake_requests(&fake_k8s, NULL, NULL);
	assert_true(json_array_size(reqs) >= THREADS * (ROUNDS + 2));
	size_t i;
	json_t *r;
	json_array_foreach(reqs, i, r)
	{
		long long st = json_integer_value(json_object_get(r, "status"));
		assert_true(st == 200 || st == 409);
		assert_string_equal(json_string_value(json_object_get(r, "auth")), "cert");
	}
	json_decref(reqs);
	json_t *node = fake_object(&fake_k8s, "Node", NULL, "node-2");
	json_t *labels = json_object_get(json_object_get(node, "metadata"), "labels");
	for (int t = 0; t < THREADS; t++) {
		char key[32];
		snprintf(key, sizeof key, "thread-%d", t);
		assert_string_equal(json_string_value(json_object_get(labels, key)), "yes");
	}
	json_decref(node);
	assert_true(new_connections >= 1);
	assert_true(new_connections <= THREADS); /* the pool kept them alive */
	assert_true(kept_alive >= THREADS * ROUNDS - THREADS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_threads_share_one_client),
	};
	return cmocka_run_group_tests(tests, fake_k8s_group_setup, fake_k8s_group_teardown);
}
