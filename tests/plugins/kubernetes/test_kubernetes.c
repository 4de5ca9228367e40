/* The kubernetes plugin against the fake API server (tests/fake-k8s), called through
 * salve_mock_host as the core calls it. Asserts exact requests (the fake logs each one),
 * state before and after, undo records, and what reaches logs and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <math.h>

#include "fake_k8s_fixture.h"
#include "json_check.h"
#include "mock_host.h"
#include "testproc.h"

static void assert_no_requests(void)
{
	json_t *reqs = fake_requests(&fake_k8s, NULL, NULL);
	if (json_array_size(reqs) != 0) {
		char *g = json_dumps(reqs, JSON_INDENT(1));
		fail_msg("expected no request, got:\n%s", g);
	}
	json_decref(reqs);
}

/* Wait (bounded) until the fake's controllers report the deployment rolled out. */
static void wait_healthy(const char *name)
{
	char args[256];
	snprintf(args, sizeof args,
	         "{\"namespace\": \"prod\", \"name\": \"%s\", \"timeout\": 30, \"interval\": 0.1}",
	         name);
	json_t *r = NULL;
	int rc = mock_run("rollout_wait", args, &r);
	if (rc != SALVE_OK)
		fail_msg("rollout_wait %s: %d %s", name, rc, mock_last_error());
	json_decref(r);
}

/* ---- reads and auth ------------------------------------------------------------------------- */

static void test_get_with_token(void **state)
{
	(void)state;
	json_t *r = NULL;
	assert_int_equal(
	    mock_run("get",
	             "{\"kind\": \"deployment\", \"namespace\": \"prod\", \"name\": \"web\"}", &r),
	    SALVE_OK);
	assert_string_equal(tj_str_at(r, "/metadata/name"), "web");
	assert_string_equal(tj_str_at(r, "/spec/template/spec/containers/0/image"), "nginx:1.25.3");
	assert_null(tj_at(r, "/metadata/managedFields"));
	json_decref(r);
	json_t *reqs = fake_requests(&fake_k8s, NULL, NULL);
	assert_int_equal(json_array_size(reqs), 1);
	json_t *q = json_array_get(reqs, 0);
	assert_string_equal(tj_str_at(q, "/method"), "GET");
	assert_string_equal(tj_str_at(q, "/path"), "/apis/apps/v1/namespaces/prod/deployments/web");
	assert_string_equal(tj_str_at(q, "/auth"), "token");
	assert_non_null(strstr(tj_str_at(q, "/user_agent"), "salve/"));
	json_decref(reqs);
	/* the next request reuses the TLS connection */
	assert_int_equal(mock_run("get", "{\"kind\": \"node\", \"name\": \"node-1\"}", &r),
	                 SALVE_OK);
	json_decref(r);
	const char *logs = mock_logs();
	const char *first = strstr(logs, "deployments/web -> 200");
	const char *second = strstr(logs, "nodes/node-1 -> 200");
	assert_non_null(first);
	assert_non_null(second);
	assert_non_null(strstr(first, "new connection"));
	assert_true(strstr(first, "new connection") < second);
	assert_non_null(strstr(second, "kept-alive connection"));
}

static void test_get_with_client_cert(void **state)
{
	(void)state;
	mock_fini();
	assert_int_equal(fake_k8s_init_plugin(fake_k8s.kc_cert), 0);
	json_t *r = NULL;
	assert_int_equal(mock_run("get", "{\"kind\": \"node\", \"name\": \"node-1\"}", &r),
	                 SALVE_OK);
	assert_string_equal(tj_str_at(r, "/metadata/name"), "node-1");
	json_decref(r);
	json_t *reqs = fake_requests(&fake_k8s, NULL, NULL);
	assert_int_equal(json_array_size(reqs), 1);
	assert_string_equal(tj_str_at(json_array_get(reqs, 0), "/auth"), "cert");
	assert_string_equal(tj_str_at(json_array_get(reqs, 0), "/user"), "salve-test");
	assert_string_equal(tj_str_at(json_array_get(reqs, 0), "/path"), "/api/v1/nodes/node-1");
	json_decref(reqs);
}

/* A kubeconfig whose CA is not the server's: TLS refuses before any HTTP request. */
static void test_wrong_ca_refused(void **state)
{
	(void)state;
	mock_fini();
	char *dir = tp_tempdir("wrong-ca");
	char key[600], crt[600], kc[600], log[600], text[2048];
	snprintf(key, sizeof key, "%s/other.key", dir);
	snprintf(crt, sizeof crt, "%s/other.crt", dir);
	snprintf(kc, sizeof kc, "%s/kubeconfig", dir);
	snprintf(log, sizeof log, "%s/openssl.log", dir);
	const char *argv[] = {
	    "openssl", "req",     "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
	    "-nodes",  "-keyout", key,     "-out",    crt,  "-subj",    "/CN=not-the-fake-ca",
	    "-days",   "1",       NULL};
	assert_int_equal(tp_run(argv, log), 0);
	snprintf(
	    text, sizeof text,
	    "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
	    "clusters: [{name: k, cluster: {server: '%s', certificate-authority: other.crt}}]\n"
	    "users: [{name: u, user: {token: %s}}]\n"
	    "contexts: [{name: c, context: {cluster: k, user: u}}]\n",
	    fake_k8s.base, fake_k8s.token);
	assert_int_equal(tp_write(kc, text), 0);
	assert_int_equal(fake_k8s_init_plugin(kc), 0);
	json_t *r = NULL;
	assert_int_equal(mock_run("get", "{\"kind\": \"node\", \"name\": \"node-1\"}", &r),
	                 SALVE_ERR);
	assert_null(r);
	assert_non_null(strstr(mock_last_error(), "SSL certificate problem"));
	assert_non_null(strstr(mock_last_error(), "/api/v1/nodes/node-1"));
	assert_no_requests();
	tp_rmrf(dir);
	free(dir);
}

static void test_insecure_is_audited(void **state)
{
	(void)state;
	mock_fini();
	assert_int_equal(fake_k8s_init_plugin(fake_k8s.kc_insecure), 0);
	json_t *r = NULL;
	assert_int_equal(mock_run("get", "{\"kind\": \"node\", \"name\": \"node-2\"}", &r),
	                 SALVE_OK);
	json_decref(r);
	const json_t *ev = mock_audit_events();
	assert_int_equal(json_array_size(ev), 1);
	assert_string_equal(tj_str_at(json_array_get(ev, 0), "/event"), "k8s.tls_unverified");
	assert_string_equal(tj_str_at(json_array_get(ev, 0), "/data/server"), fake_k8s.base);
}

static void test_not_found_message(void **state)
{
	(void)state;
	json_t *r = NULL;
	assert_int_equal(
	    mock_run("get",
	             "{\"kind\": \"deployment\", \"namespace\": \"prod\", \"name\": \"nope\"}", &r),
	    SALVE_ERR_NOTFOUND);
	assert_string_equal(mock_last_error(), "deployments.apps \"nope\" not found (404)");
	assert_int_equal(
	    mock_run("rollout_status", "{\"namespace\": \"prod\", \"name\": \"ghost\"}", &r),
	    SALVE_ERR_NOTFOUND);
	assert_string_equal(mock_last_error(), "deployments.apps \"ghost\" not found (404)");
}

/* Names from alert labels: hostile ones are refused, naming the argument, before any request. */
static void test_hostile_labels_refused(void **state)
{
	(void)state;
	char long_name[301];
	memset(long_name, 'a', 300);
	long_name[300] = '\0';
	struct {
		const char *action;
		const char *args;
		const char *arg;
	} cases[] = {
	    {"get", "{\"kind\": \"pod\", \"namespace\": \"../kube-system\", \"name\": \"x\"}",
	     "namespace"},
	    {"get", "{\"kind\": \"pod\", \"namespace\": \"prod\", \"name\": \"..%2F..%2Fsecrets\"}",
	     "name"},
	    {"get", "{\"kind\": \"pod\", \"namespace\": \"prod\", \"name\": \"Web\"}", "name"},
	    {"get", "{\"kind\": \"pod\", \"namespace\": \"prod\", \"name\": \"a/b\"}", "name"},
	    {"get", "{\"kind\": \"pod\", \"namespace\": \"prod\", \"name\": \"LONG\"}", "name"},
	    {"rollout_status", "{\"namespace\": \"%2F\", \"name\": \"web\"}", "namespace"},
	    {"logs", "{\"namespace\": \"prod\", \"pod\": \"../../x\"}", "pod"},
	    {"logs", "{\"namespace\": \"prod\", \"pod\": \"web\", \"container\": \"A\"}",
	     "container"},
	    {"events", "{\"namespace\": \"prod\", \"name\": \"x?y=1\"}", "name"},
	    {"pods", "{\"namespace\": \"PROD\"}", "namespace"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char args[1024];
		const char *l = strstr(cases[i].args, "LONG");
		if (l)
			snprintf(args, sizeof args, "%.*s%s%s", (int)(l - cases[i].args),
			         cases[i].args, long_name, l + 4);
		else
			snprintf(args, sizeof args, "%s", cases[i].args);
		json_t *r = NULL;
		assert_int_equal(mock_run(cases[i].action, args, &r), SALVE_ERR_INVALID);
		char want[64];
		snprintf(want, sizeof want, "argument \"%s\"", cases[i].arg);
		if (!strstr(mock_last_error(), want))
			fail_msg("%s %s: error does not name %s: %s", cases[i].action, args, want,
			         mock_last_error());
	}
	const char *mutations[][2] = {
	    {"rollout_undo", "{\"namespace\": \"prod\", \"name\": \"../web\"}"},
	    {"rollout_restart", "{\"namespace\": \"pr od\", \"name\": \"web\"}"},
	    {"set_image", "{\"namespace\": \"prod\", \"name\": \"web\", \"container\": \"a/b\", "
	                  "\"image\": \"x\"}"},
	    {"patch", "{\"kind\": \"deployment\", \"namespace\": \"prod\", \"name\": \"%2e%2e\", "
	              "\"merge\": {}}"},
	    {"cordon", "{\"node\": \"../nodes/node-1\"}"},
	    {"drain", "{\"node\": \"NODE-1\"}"},
	    {"delete_pod", "{\"namespace\": \"-prod\", \"name\": \"web\"}"},
	};
	for (size_t i = 0; i < sizeof mutations / sizeof mutations[0]; i++) {
		json_t *r = NULL, *u = NULL;
		assert_int_equal(mock_check(mutations[i][0], mutations[i][1], &r),
		                 SALVE_ERR_INVALID);
		assert_non_null(strstr(mock_last_error(), "argument \""));
		assert_int_equal(mock_plan(mutations[i][0], mutations[i][1], &r),
		                 SALVE_ERR_INVALID);
		assert_int_equal(mock_apply(mutations[i][0], mutations[i][1], &r, &u),
		                 SALVE_ERR_INVALID);
		assert_null(u);
	}
	assert_no_requests();
}

static void test_reads(void **state)
{
	(void)state;
	json_t *r = NULL;
	assert_int_equal(
	    mock_run("rollout_status", "{\"namespace\": \"prod\", \"name\": \"web\"}", &r),
	    SALVE_OK);
	assert_json_eq(
	    r, "{\"healthy\": true, \"failed\": false, \"message\": \"deployment \\\"web\\\" "
	       "successfully rolled out\", \"desired\": 3, \"replicas\": 3, \"updated\": 3, "
	       "\"ready\": 3, \"available\": 3, \"generation\": 2, \"observed_generation\": 2, "
	       "\"kind\": \"Deployment\", \"namespace\": \"prod\", \"name\": \"web\", "
	       "\"revision\": 2}");
	json_decref(r);
	assert_int_equal(
	    mock_run("pods", "{\"namespace\": \"prod\", \"selector\": \"app=web\"}", &r), SALVE_OK);
	assert_int_equal(json_integer_value(tj_at(r, "/count")), 3);
	for (size_t i = 0; i < 3; i++) {
		json_t *pod = json_array_get(tj_at(r, "/pods"), i);
		assert_true(json_is_true(json_object_get(pod, "ready")));
		assert_string_equal(tj_str_at(pod, "/status"), "Running");
		assert_non_null(strstr(tj_str_at(pod, "/name"), "web-86c4ff78d4-"));
	}
	json_decref(r);
	json_t *lines = fake_request_lines(&fake_k8s, "GET", "/pods$");
	const char *want[] = {"GET /api/v1/namespaces/prod/pods?labelSelector=app%3Dweb 200", NULL};
	assert_lines(lines, want);

	fake_control(
	    &fake_k8s, "/__fake/logs/prod/web-86c4ff78d4-7xk2p",
	    "{\"container\": \"web\", \"log\": \"one\\ntwo\\nthree\\n\", \"previous\": true}");
	int lrc = mock_run("logs",
	                   "{\"namespace\": \"prod\", \"pod\": \"web-86c4ff78d4-7xk2p\", "
	                   "\"container\": \"web\", \"tail\": 2, \"previous\": true}",
	                   &r);
	if (lrc != SALVE_OK)
		fail_msg("logs: %d %s", lrc, mock_last_error());
	assert_string_equal(tj_str_at(r, "/text"), "two\nthree\n");
	assert_int_equal(json_integer_value(tj_at(r, "/lines")), 2);
	json_decref(r);

	assert_int_equal(mock_run("events", "{\"namespace\": \"prod\", \"name\": \"web\"}", &r),
	                 SALVE_OK);
	assert_int_equal(json_integer_value(tj_at(r, "/count")), 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(tj_str_at(r, i == 0   ? "/events/0/object"
		                                 : i == 1 ? "/events/1/object"
		                                          : "/events/2/object"),
		                    "Deployment/web");
	json_decref(r);
	lines = fake_request_lines(&fake_k8s, "GET", "/events$");
	const char *want_ev[] = {
	    "GET /api/v1/namespaces/prod/events?fieldSelector=involvedObject.name%3Dweb 200", NULL};
	assert_lines(lines, want_ev);
}

/* ---- rollout undo -----------------------------------------------------------------------------
 */

static void test_rollout_undo(void **state)
{
	(void)state;
	const char *args = "{\"namespace\": \"prod\", \"name\": \"web\"}";
	json_t *obs = NULL, *plan = NULL, *res = NULL, *undo = NULL;
	assert_int_equal(mock_check("rollout_undo", args, &obs), SALVE_OK);
	assert_int_equal(json_integer_value(tj_at(obs, "/to_revision")), 1);
	assert_int_equal(json_integer_value(tj_at(obs, "/from_revision")), 2);
	json_decref(obs);
	fake_clear_requests(&fake_k8s);

	/* dry-run: the same patch, sent with dryRun=All; nothing stored. The plan writes from what
	 * check read (host->observed): no read of its own. */
	mock_set_mode(SALVE_MODE_DRY_RUN);
	assert_int_equal(mock_plan("rollout_undo", args, &plan), SALVE_OK);
	mock_set_mode(SALVE_MODE_APPLY);
	json_t *lines = fake_request_lines(&fake_k8s, NULL, NULL);
	const char *want_plan[] = {
	    "PATCH /apis/apps/v1/namespaces/prod/deployments/web?dryRun=All&fieldManager=salve 200",
	    NULL,
	};
	assert_lines(lines, want_plan);
	json_t *writes = fake_requests(&fake_k8s, "PATCH", NULL);
	assert_true(json_is_true(tj_at(json_array_get(writes, 0), "/dry_run")));
	assert_string_equal(tj_str_at(json_array_get(writes, 0), "/content_type"),
	                    "application/merge-patch+json");
	assert_non_null(tj_str_at(json_array_get(writes, 0), "/body/metadata/resourceVersion"));
	json_decref(writes);
	json_t *change = NULL;
	size_t i;
	json_t *c;
	json_array_foreach(tj_at(plan, "/changes"), i, c)
	{
		if (strcmp(tj_str_at(c, "/path"), "/spec/template/spec/containers/0/image") == 0)
			change = c;
	}
	assert_non_null(change);
	assert_string_equal(tj_str_at(change, "/before"), "nginx:1.25.3");
	assert_string_equal(tj_str_at(change, "/after"), "nginx:1.25.2");
	json_decref(plan);
	json_t *d = fake_object(&fake_k8s, "Deployment", "prod", "web");
	assert_string_equal(tj_str_at(d, "/spec/template/spec/containers/0/image"), "nginx:1.25.3");
	json_decref(d);

	/* apply: back to revision 1's template, without its pod-template-hash */
	assert_int_equal(mock_apply("rollout_undo", args, &res, &undo), SALVE_OK);
	assert_string_equal(tj_str_at(res, "/message"), "rolled back");
	assert_int_equal(json_integer_value(tj_at(res, "/to_revision")), 1);
	json_decref(res);
	d = fake_object(&fake_k8s, "Deployment", "prod", "web");
	assert_string_equal(tj_str_at(d, "/spec/template/spec/containers/0/image"), "nginx:1.25.2");
	assert_null(tj_at(d, "/spec/template/metadata/labels/pod-template-hash"));
	json_decref(d);
	wait_healthy("web");
	/* the Deployment now runs the old ReplicaSet again, as revision 3 */
	json_t *rs = fake_object(&fake_k8s, "ReplicaSet", "prod", "web-78755bd5bf");
	assert_string_equal(
	    tj_str_at(rs, "/metadata/annotations/deployment.kubernetes.io~1revision"), "3");
	assert_int_equal(json_integer_value(tj_at(rs, "/spec/replicas")), 3);
	json_decref(rs);

	/* check: to_revision 3 is what runs now */
	assert_int_equal(mock_check("rollout_undo",
	                            "{\"namespace\": \"prod\", \"name\": \"web\", "
	                            "\"to_revision\": 3}",
	                            &obs),
	                 SALVE_HOLDS);
	assert_string_equal(tj_str_at(obs, "/message"),
	                    "skipped rollback (current template already matches revision 3)");
	json_decref(obs);

	/* undo: back to the template it left, which the controller serves from the same RS */
	assert_int_equal(mock_undo("rollout_undo", undo), SALVE_OK);
	d = fake_object(&fake_k8s, "Deployment", "prod", "web");
	assert_string_equal(tj_str_at(d, "/spec/template/spec/containers/0/image"), "nginx:1.25.3");
	json_decref(d);
	wait_healthy("web");
	rs = fake_object(&fake_k8s, "ReplicaSet", "prod", "web-86c4ff78d4");
	assert_string_equal(
	    tj_str_at(rs, "/metadata/annotations/deployment.kubernetes.io~1revision"), "4");
	assert_int_equal(json_integer_value(tj_at(rs, "/spec/replicas")), 3);
	json_decref(rs);
	/* undo again: already as before, nothing is written */
	fake_clear_requests(&fake_k8s);
	assert_int_equal(mock_undo("rollout_undo", undo), SALVE_OK);
	json_t *patches = fake_requests(&fake_k8s, "PATCH", NULL);
	assert_int_equal(json_array_size(patches), 0);
	json_decref(patches);
	json_decref(undo);

	assert_int_equal(mock_check("rollout_undo",
	                            "{\"namespace\": \"prod\", \"name\": \"web\", "
	                            "\"to_revision\": 9}",
	                            &obs),
	                 SALVE_ERR_NOTFOUND);
	assert_string_equal(mock_last_error(), "unable to find specified revision 9 in history");
}

/* ---- optimistic concurrency, retries, API errors ------------------------------------------ */

static void test_conflict_rereads_and_retries(void **state)
{
	(void)state;
	fake_fault(
	    &fake_k8s,
	    "{\"method\": \"PATCH\", \"path_regex\": \"/deployments/web$\", \"status\": 409, "
	    "\"times\": 1}");
	json_t *res = NULL, *undo = NULL;
	assert_int_equal(mock_apply("set_image",
	                            "{\"namespace\": \"prod\", \"name\": \"web\", "
	                            "\"container\": \"web\", \"image\": \"nginx:1.26.0\"}",
	                            &res, &undo),
	                 SALVE_OK);
	json_t *lines = fake_request_lines(&fake_k8s, NULL, NULL);
	const char *want[] = {
	    "GET /apis/apps/v1/namespaces/prod/deployments/web 200",
	    "PATCH /apis/apps/v1/namespaces/prod/deployments/web?fieldManager=salve 409",
	    "GET /apis/apps/v1/namespaces/prod/deployments/web 200",
	    "PATCH /apis/apps/v1/namespaces/prod/deployments/web?fieldManager=salve 200",
	    NULL,
	};
	assert_lines(lines, want);
	/* each write carried the resourceVersion it was based on */
	json_t *patches = fake_requests(&fake_k8s, "PATCH", NULL);
	json_t *gets = fake_requests(&fake_k8s, "GET", NULL);
	(void)gets;
	assert_non_null(tj_str_at(json_array_get(patches, 1), "/body/metadata/resourceVersion"));
	json_decref(patches);
	json_decref(gets);
	const json_t *ev = mock_audit_events();
	int conflicts = 0;
	size_t i;
	json_t *e;
	json_array_foreach(ev, i, e)
	{
		conflicts += strcmp(tj_str_at(e, "/event"), "k8s.conflict") == 0;
	}
	assert_int_equal(conflicts, 1);
	assert_string_equal(tj_str_at(res, "/previous_image"), "nginx:1.25.3");
	assert_json_eq(undo,
	               "{\"kind\": \"Deployment\", \"namespace\": \"prod\", \"name\": \"web\", "
	               "\"container\": \"web\", \"image\": \"nginx:1.25.3\"}");
	json_decref(res);
	json_decref(undo);
}

/* A real conflict: the object changes between our read and our write. */
static void test_stale_resource_version_is_a_conflict(void **state)
{
	(void)state;
	/* 409 on every write: the retries are bounded and the Status message comes back */
	fake_fault(
	    &fake_k8s,
	    "{\"method\": \"PATCH\", \"path_regex\": \"/nodes/node-1$\", \"status\": 409, "
	    "\"times\": 0, \"message\": \"Operation cannot be fulfilled on nodes \\\"node-1\\\": "
	    "the object has been modified; please apply your changes to the latest version "
	    "and try again\"}");
	json_t *res = NULL, *undo = NULL;
	assert_int_equal(mock_apply("cordon", "{\"node\": \"node-1\"}", &res, &undo), SALVE_ERR);
	assert_string_equal(
	    mock_last_error(),
	    "Operation cannot be fulfilled on nodes \"node-1\": the object has been "
	    "modified; please apply your changes to the latest version and try again "
	    "(409)");
	json_t *patches = fake_requests(&fake_k8s, "PATCH", NULL);
	assert_int_equal(json_array_size(patches), 5);
	json_decref(patches);
}

static void test_retry_after_429(void **state)
{
	(void)state;
	fake_fault(&fake_k8s,
	           "{\"method\": \"GET\", \"path_regex\": \"/deployments/web$\", \"status\": 429, "
	           "\"retry_after\": 1, \"times\": 1}");
	json_t *r = NULL;
	assert_int_equal(
	    mock_run("rollout_status", "{\"namespace\": \"prod\", \"name\": \"web\"}", &r),
	    SALVE_OK);
	assert_true(json_is_true(tj_at(r, "/healthy")));
	json_decref(r);
	json_t *lines = fake_request_lines(&fake_k8s, NULL, NULL);
	const char *want[] = {"GET /apis/apps/v1/namespaces/prod/deployments/web 429",
	                      "GET /apis/apps/v1/namespaces/prod/deployments/web 200", NULL};
	assert_lines(lines, want);
	const json_t *ev = mock_audit_events();
	assert_int_equal(json_array_size(ev), 1);
	assert_string_equal(tj_str_at(json_array_get(ev, 0), "/event"), "k8s.retry");
	assert_int_equal(json_integer_value(tj_at(json_array_get(ev, 0), "/data/status")), 429);
	assert_true(json_real_value(tj_at(json_array_get(ev, 0), "/data/wait_seconds")) == 1.0);
}

static void test_5xx_retries_bounded_by_deadline(void **state)
{
	(void)state;
	fake_fault(&fake_k8s,
	           "{\"path_regex\": \"/nodes/node-2$\", \"status\": 503, \"times\": 0}");
	mock_set_remaining(1.0);
	json_t *r = NULL;
	assert_int_equal(mock_run("get", "{\"kind\": \"node\", \"name\": \"node-2\"}", &r),
	                 SALVE_ERR_RETRY);
	assert_non_null(strstr(mock_last_error(),
	                       "the server is currently unable to handle the request (503)"));
	if (!strstr(mock_last_error(), "would pass the step's deadline"))
		fail_msg("%s", mock_last_error());
	json_t *reqs = fake_requests(&fake_k8s, NULL, NULL);
	/* backoff 0.2, 0.4, 0.8 s, then 1.6 s would not fit in the (mock's constant) second left */
	assert_int_equal(json_array_size(reqs), 4);
	json_decref(reqs);
	mock_set_remaining(HUGE_VAL);
	/* with time, the attempts are bounded too */
	fake_reset(&fake_k8s);
	fake_fault(&fake_k8s,
	           "{\"path_regex\": \"/nodes/node-2$\", \"status\": 500, \"times\": 0}");
	assert_int_equal(mock_run("get", "{\"kind\": \"node\", \"name\": \"node-2\"}", &r),
	                 SALVE_ERR_RETRY);
	assert_non_null(strstr(mock_last_error(),
	                       "Internal error occurred: injected fault (500); gave "
	                       "up after 6 attempts"));
}

/* Start cut_short_server.py with the fake's server certificate; its port, or -1. */
static int start_cut_short_server(pid_t *pid, char *log, size_t loglen)
{
	char script[600], cert[600], key[600], port_file[600];
	const char *python = getenv("PYTHON") ? getenv("PYTHON") : "python3";
	snprintf(script, sizeof script, "%s/tests/plugins/kubernetes/cut_short_server.py",
	         getenv("SALVE_SOURCE_DIR"));
	snprintf(cert, sizeof cert, "%s/certs/server.crt", fake_k8s.dir);
	snprintf(key, sizeof key, "%s/certs/server.key", fake_k8s.dir);
	snprintf(port_file, sizeof port_file, "%s/cut-short.port", fake_k8s.dir);
	snprintf(log, loglen, "%s/cut-short.log", fake_k8s.dir);
	const char *argv[] = {python, script, cert, key, port_file, NULL};
	*pid = tp_spawn(argv, log);
	for (int i = 0; i < 100 && *pid > 0; i++) { /* 10 s at most */
		char *port = tp_read(port_file);
		if (port) {
			int p = atoi(port);
			free(port);
			return p;
		}
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return -1;
}

/* A GET whose answer is cut short (a broken proxy, a hostile API server) is a lost answer:
 * retried within the step's deadline, then a retryable error naming the transfer. The part of
 * the body that arrived is freed once: it used to be freed twice, corrupting the heap of a
 * process that runs as root. */
static void test_cut_short_answer(void **state)
{
	(void)state;
	pid_t pid;
	char log[600], kubeconfig[600], text[2048];
	int port = start_cut_short_server(&pid, log, sizeof log);
	if (port <= 0) {
		tp_stop(pid);
		fail_msg("cut_short_server.py did not start");
	}
	snprintf(kubeconfig, sizeof kubeconfig, "%s/kubeconfig-cut-short", fake_k8s.dir);
	snprintf(text, sizeof text,
	         "apiVersion: v1\nkind: Config\ncurrent-context: cut\n"
	         "clusters:\n- name: cut\n  cluster:\n    server: https://127.0.0.1:%d\n"
	         "    certificate-authority: %s\n"
	         "users:\n- name: u\n  user:\n    token: %s\n"
	         "contexts:\n- name: cut\n  context:\n    cluster: cut\n    user: u\n",
	         port, fake_k8s.ca, fake_k8s.token);
	assert_int_equal(tp_write(kubeconfig, text), 0);
	mock_fini();
	assert_int_equal(fake_k8s_init_plugin(kubeconfig), 0);
	mock_set_remaining(1.0);
	json_t *r = NULL;
	int rc = mock_run("get", "{\"kind\": \"node\", \"name\": \"node-1\"}", &r);
	tp_stop(pid);
	char *requests = tp_read(log);
	assert_int_equal(rc, SALVE_ERR_RETRY);
	assert_null(r);
	char want[256];
	snprintf(want, sizeof want, "GET https://127.0.0.1:%d/api/v1/nodes/node-1: ", port);
	assert_true(strncmp(mock_last_error(), want, strlen(want)) == 0);
	assert_non_null(strstr(mock_last_error(), "973 bytes remaining"));
	/* backoff 0.2, 0.4, 0.8 s, then 1.6 s would not fit in the (mock's constant) second left */
	assert_string_equal(requests, "GET /api/v1/nodes/node-1 HTTP/1.1\n"
	                              "GET /api/v1/nodes/node-1 HTTP/1.1\n"
	                              "GET /api/v1/nodes/node-1 HTTP/1.1\n"
	                              "GET /api/v1/nodes/node-1 HTTP/1.1\n");
	free(requests);
	size_t retries = 0, i;
	json_t *ev;
	json_array_foreach(mock_audit_events(), i, ev)
	{
		retries += strcmp(tj_str_at(ev, "/event"), "k8s.retry") == 0;
	}
	assert_int_equal(retries, 3);
}

static void test_invalid_422(void **state)
{
	(void)state;
	json_t *r = NULL, *u = NULL;
	const char *args = "{\"kind\": \"deployment\", \"namespace\": \"prod\", \"name\": \"web\", "
	                   "\"merge\": {\"spec\": {\"replicas\": -1}}}";
	assert_int_equal(mock_apply("patch", args, &r, &u), SALVE_ERR_INVALID);
	assert_null(u);
	assert_non_null(strstr(mock_last_error(),
	                       "Deployment.apps \"web\" is invalid: spec.replicas: "
	                       "Invalid value: -1"));
	assert_non_null(strstr(mock_last_error(), "(422)"));
	json_t *d = fake_object(&fake_k8s, "Deployment", "prod", "web");
	assert_int_equal(json_integer_value(tj_at(d, "/spec/replicas")), 3);
	json_decref(d);
}

/* ---- patch ---------------------------------------------------------------------------------- */

static void test_patch_merge_and_undo(void **state)
{
	(void)state;
	const char *args = "{\"kind\": \"deployment\", \"namespace\": \"prod\", \"name\": \"web\", "
	                   "\"merge\": {\"metadata\": {\"labels\": {\"team\": \"payments\"}, "
	                   "\"annotations\": {\"salve/note\": \"rolled by salve\"}}, "
	                   "\"spec\": {\"revisionHistoryLimit\": 5}}}";
	json_t *before = fake_object(&fake_k8s, "Deployment", "prod", "web");
	json_t *obs = NULL, *plan = NULL, *res = NULL, *undo = NULL;
	assert_int_equal(mock_check("patch", args, &obs), SALVE_OK);
	json_decref(obs);
	mock_set_mode(SALVE_MODE_DRY_RUN);
	assert_int_equal(mock_plan("patch", args, &plan), SALVE_OK);
	mock_set_mode(SALVE_MODE_APPLY);
	assert_json_eq(
	    tj_at(plan, "/changes"),
	    "[{\"path\": \"/metadata/labels/team\", \"before\": null, \"after\": \"payments\"},"
	    " {\"path\": \"/metadata/annotations/salve~1note\", \"before\": null, "
	    "\"after\": \"rolled by salve\"},"
	    " {\"path\": \"/spec/revisionHistoryLimit\", \"before\": 10, \"after\": 5}]");
	json_decref(plan);
	/* check and plan wrote nothing: every write so far was a dry run */
	json_t *writes = fake_requests(&fake_k8s, "PATCH", NULL);
	assert_int_equal(json_array_size(writes), 2);
	size_t i;
	json_t *w;
	json_array_foreach(writes, i, w)
	{
		assert_true(json_is_true(json_object_get(w, "dry_run")));
		assert_string_equal(tj_str_at(w, "/query"), "dryRun=All&fieldManager=salve");
	}
	json_decref(writes);
	json_t *same = fake_object(&fake_k8s, "Deployment", "prod", "web");
	assert_true(json_equal(tj_at(same, "/metadata/labels"), tj_at(before, "/metadata/labels")));
	json_decref(same);

	fake_clear_requests(&fake_k8s);
	assert_int_equal(mock_apply("patch", args, &res, &undo), SALVE_OK);
	json_t *reqs = fake_requests(&fake_k8s, "PATCH", NULL);
	assert_int_equal(json_array_size(reqs), 1);
	json_t *body = tj_at(json_array_get(reqs, 0), "/body");
	json_t *rv = tj_at(before, "/metadata/resourceVersion");
	assert_string_equal(tj_str_at(body, "/metadata/resourceVersion"), json_string_value(rv));
	assert_string_equal(tj_str_at(body, "/metadata/labels/team"), "payments");
	json_decref(reqs);
	assert_json_eq(
	    tj_at(undo, "/touched"),
	    "[{\"path\": \"/metadata/labels/team\", \"present\": false},"
	    " {\"path\": \"/metadata/annotations/salve~1note\", \"present\": false},"
	    " {\"path\": \"/spec/revisionHistoryLimit\", \"present\": true, \"value\": 10}]");
	json_t *after = fake_object(&fake_k8s, "Deployment", "prod", "web");
	assert_string_equal(tj_str_at(after, "/metadata/labels/team"), "payments");
	json_decref(after);
	json_decref(res);

	/* holds now */
	assert_int_equal(mock_check("patch", args, &obs), SALVE_HOLDS);
	json_decref(obs);

	assert_int_equal(mock_undo("patch", undo), SALVE_OK);
	after = fake_object(&fake_k8s, "Deployment", "prod", "web");
	assert_true(
	    json_equal(tj_at(after, "/metadata/labels"), tj_at(before, "/metadata/labels")));
	assert_true(json_equal(tj_at(after, "/metadata/annotations"),
	                       tj_at(before, "/metadata/annotations")));
	assert_int_equal(json_integer_value(tj_at(after, "/spec/revisionHistoryLimit")), 10);
	json_decref(after);
	json_decref(before);
	json_decref(undo);
}

static void test_patch_json_and_undo(void **state)
{
	(void)state;
	const char *args =
	    "{\"kind\": \"statefulset\", \"namespace\": \"prod\", \"name\": \"db\", "
	    "\"json\": [{\"op\": \"replace\", \"path\": "
	    "\"/spec/template/spec/containers/0/image\", \"value\": \"postgres:16.3\"}]}";
	json_t *res = NULL, *undo = NULL;
	assert_int_equal(mock_apply("patch", args, &res, &undo), SALVE_OK);
	json_t *reqs = fake_requests(&fake_k8s, "PATCH", NULL);
	json_t *p = json_array_get(reqs, 0);
	assert_string_equal(tj_str_at(p, "/content_type"), "application/json-patch+json");
	assert_string_equal(tj_str_at(p, "/body/1/path"), "/metadata/resourceVersion");
	json_decref(reqs);
	assert_json_eq(tj_at(res, "/changes"),
	               "[{\"path\": \"/spec/template/spec/containers/0/image\", "
	               "\"before\": \"postgres:16.2\", \"after\": \"postgres:16.3\"}]");
	json_t *s = fake_object(&fake_k8s, "StatefulSet", "prod", "db");
	assert_string_equal(tj_str_at(s, "/spec/template/spec/containers/0/image"),
	                    "postgres:16.3");
	json_decref(s);
	assert_int_equal(mock_undo("patch", undo), SALVE_OK);
	s = fake_object(&fake_k8s, "StatefulSet", "prod", "db");
	assert_string_equal(tj_str_at(s, "/spec/template/spec/containers/0/image"),
	                    "postgres:16.2");
	json_decref(s);
	json_decref(res);
	json_decref(undo);
	/* a patch may not touch what names the object */
	assert_int_equal(mock_check("patch",
	                            "{\"kind\": \"pod\", \"namespace\": \"prod\", \"name\": "
	                            "\"db-0\", \"json\": [{\"op\": \"replace\", \"path\": "
	                            "\"/metadata/name\", \"value\": \"x\"}]}",
	                            &res),
	                 SALVE_ERR_INVALID);
	assert_string_equal(mock_last_error(),
	                    "argument \"json\": the patch must not change /metadata/name");
	assert_int_equal(mock_check("patch",
	                            "{\"kind\": \"pod\", \"namespace\": \"prod\", \"name\": "
	                            "\"db-0\", \"merge\": {}, \"json\": []}",
	                            &res),
	                 SALVE_ERR_INVALID);
}

/* Issue 16 bug 2: a strategic merge patch of one container's env keeps the other entries and
 * the container's other fields (a merge patch would replace the lists whole), $patch: delete
 * removes one entry, and undo puts each list back as it was. */
static void test_patch_strategic_env_and_undo(void **state)
{
	(void)state;
	const char *add = "{\"kind\": \"deployment\", \"namespace\": \"prod\", \"name\": \"web\", "
	                  "\"strategic\": {\"spec\": {\"template\": {\"spec\": {\"containers\": "
	                  "[{\"name\": \"web\", \"env\": [{\"name\": \"A\", \"value\": \"1\"}, "
	                  "{\"name\": \"B\", \"value\": \"2\"}]}]}}}}}";
	const char *set_b =
	    "{\"kind\": \"deployment\", \"namespace\": \"prod\", \"name\": \"web\", "
	    "\"strategic\": {\"spec\": {\"template\": {\"spec\": {\"containers\": "
	    "[{\"name\": \"web\", \"env\": [{\"name\": \"B\", \"value\": \"3\"}]}]}}}}}";
	const char *del_a =
	    "{\"kind\": \"deployment\", \"namespace\": \"prod\", \"name\": \"web\", "
	    "\"strategic\": {\"spec\": {\"template\": {\"spec\": {\"containers\": "
	    "[{\"name\": \"web\", \"env\": [{\"name\": \"A\", \"$patch\": "
	    "\"delete\"}]}]}}}}}";
	json_t *res = NULL, *u1 = NULL, *u2 = NULL, *u3 = NULL, *obs = NULL;
	assert_int_equal(mock_apply("patch", add, &res, &u1), SALVE_OK);
	json_decref(res);
	assert_int_equal(mock_check("patch", set_b, &obs), SALVE_OK);
	json_decref(obs);
	assert_int_equal(mock_apply("patch", set_b, &res, &u2), SALVE_OK);
	assert_json_eq(tj_at(res, "/changes"),
	               "[{\"path\": \"/spec/template/spec/containers/0/env/1/value\", "
	               "\"before\": \"2\", \"after\": \"3\"}]");
	json_decref(res);
	json_t *reqs = fake_requests(&fake_k8s, "PATCH", "/deployments/web$");
	json_t *last = json_array_get(reqs, json_array_size(reqs) - 1);
	assert_string_equal(tj_str_at(last, "/content_type"),
	                    "application/strategic-merge-patch+json");
	assert_false(json_is_true(json_object_get(last, "dry_run")));
	json_decref(reqs);
	json_t *d = fake_object(&fake_k8s, "Deployment", "prod", "web");
	assert_json_eq(
	    tj_at(d, "/spec/template/spec/containers/0/env"),
	    "[{\"name\": \"A\", \"value\": \"1\"}, {\"name\": \"B\", \"value\": \"3\"}]");
	assert_string_equal(tj_str_at(d, "/spec/template/spec/containers/0/image"), "nginx:1.25.3");
	assert_int_equal(json_array_size(tj_at(d, "/spec/template/spec/containers/0/ports")), 1);
	json_decref(d);
	/* applied again it changes nothing: check holds */
	assert_int_equal(mock_check("patch", set_b, &obs), SALVE_HOLDS);
	json_decref(obs);

	assert_int_equal(mock_apply("patch", del_a, &res, &u3), SALVE_OK);
	json_decref(res);
	d = fake_object(&fake_k8s, "Deployment", "prod", "web");
	assert_json_eq(tj_at(d, "/spec/template/spec/containers/0/env"),
	               "[{\"name\": \"B\", \"value\": \"3\"}]");
	json_decref(d);
	assert_string_equal(tj_str_at(u3, "/touched/0/path"), "/spec/template/spec/containers");

	assert_int_equal(mock_undo("patch", u3), SALVE_OK);
	assert_int_equal(mock_undo("patch", u2), SALVE_OK);
	d = fake_object(&fake_k8s, "Deployment", "prod", "web");
	assert_json_eq(
	    tj_at(d, "/spec/template/spec/containers/0/env"),
	    "[{\"name\": \"A\", \"value\": \"1\"}, {\"name\": \"B\", \"value\": \"2\"}]");
	json_decref(d);
	assert_int_equal(mock_undo("patch", u1), SALVE_OK);
	d = fake_object(&fake_k8s, "Deployment", "prod", "web");
	assert_null(tj_at(d, "/spec/template/spec/containers/0/env"));
	assert_string_equal(tj_str_at(d, "/spec/template/spec/containers/0/image"), "nginx:1.25.3");
	json_decref(d);
	json_decref(u1);
	json_decref(u2);
	json_decref(u3);

	/* a directive on the whole object, or two kinds of patch at once, is refused unsent */
	fake_clear_requests(&fake_k8s);
	assert_int_equal(mock_check("patch",
	                            "{\"kind\": \"deployment\", \"namespace\": \"prod\", \"name\": "
	                            "\"web\", \"strategic\": {\"$patch\": \"replace\"}}",
	                            &obs),
	                 SALVE_ERR_INVALID);
	assert_int_equal(mock_check("patch",
	                            "{\"kind\": \"deployment\", \"namespace\": \"prod\", \"name\": "
	                            "\"web\", \"strategic\": {\"metadata\": {\"$patch\": "
	                            "\"replace\"}}}",
	                            &obs),
	                 SALVE_ERR_INVALID);
	assert_string_equal(mock_last_error(),
	                    "argument \"strategic\": the patch must not change /metadata");
	assert_int_equal(mock_check("patch",
	                            "{\"kind\": \"deployment\", \"namespace\": \"prod\", \"name\": "
	                            "\"web\", \"strategic\": {}, \"merge\": {}}",
	                            &obs),
	                 SALVE_ERR_INVALID);
	assert_no_requests();
}

/* ---- the fake as strict as a real API server (issue 16 bug 4) -------------------------------- */

/* Logs of a pod no node runs yet: the real server answers 204 without a body. */
/* A controller's write between check's GET and its dry-run PATCH (here the deployment
 * controller acting on set_image: revision annotation, status) is no change the patch would
 * make: the dry run carries the resourceVersion read, meets a 409 and reads again. It used to
 * report the controller's revision annotation as the patch's change. */
static void test_patch_check_meets_a_controller_write(void **state)
{
	(void)state;
	/* the controllers act once the next request is answered: check's GET */
	fake_control(&fake_k8s, "/__fake/settings", "{\"controller_delay\": 30}");
	json_t *res = NULL, *undo = NULL, *obs = NULL;
	assert_int_equal(mock_apply("set_image",
	                            "{\"namespace\": \"prod\", \"name\": \"web\", \"container\": "
	                            "\"web\", \"image\": \"nginx:1.26.0\"}",
	                            &res, &undo),
	                 SALVE_OK);
	json_decref(res);
	json_decref(undo);
	fake_clear_requests(&fake_k8s);
	assert_int_equal(mock_check("patch",
	                            "{\"kind\": \"deployment\", \"namespace\": \"prod\", \"name\": "
	                            "\"web\", \"strategic\": {\"spec\": {\"template\": {\"spec\": "
	                            "{\"containers\": [{\"name\": \"web\", \"image\": "
	                            "\"nginx:1.26.0\"}]}}}}}",
	                            &obs),
	                 SALVE_HOLDS);
	assert_json_eq(tj_at(obs, "/changes"), "[]");
	json_decref(obs);
	const char *const want[] = {
	    "GET /apis/apps/v1/namespaces/prod/deployments/web 200",
	    "PATCH /apis/apps/v1/namespaces/prod/deployments/web?dryRun=All&fieldManager=salve 409",
	    "GET /apis/apps/v1/namespaces/prod/deployments/web 200",
	    "PATCH /apis/apps/v1/namespaces/prod/deployments/web?dryRun=All&fieldManager=salve 200",
	    NULL};
	assert_lines(fake_request_lines(&fake_k8s, NULL, NULL), want);
	json_t *d = fake_object(&fake_k8s, "Deployment", "prod", "web");
	assert_string_equal(
	    tj_str_at(d, "/metadata/annotations/deployment.kubernetes.io~1revision"), "3");
	json_decref(d);
}

static void test_logs_of_unscheduled_pod(void **state)
{
	(void)state;
	fake_control(
	    &fake_k8s, "/__fake/objects",
	    "{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": "
	    "\"lonely\", \"namespace\": \"prod\"}, \"spec\": {\"nodeSelector\": {\"disk\": "
	    "\"none\"}, \"containers\": [{\"name\": \"app\", \"image\": \"busybox\"}]}}");
	json_t *r = NULL;
	assert_int_equal(mock_run("logs", "{\"namespace\": \"prod\", \"pod\": \"lonely\"}", &r),
	                 SALVE_OK);
	assert_json_eq(r, "{\"namespace\": \"prod\", \"pod\": \"lonely\", \"container\": null, "
	                  "\"text\": \"\", \"lines\": 0}");
	json_decref(r);
	const char *const want[] = {
	    "GET /api/v1/namespaces/prod/pods/lonely/log?tailLines=100&limitBytes=1048576 204",
	    NULL};
	assert_lines(fake_request_lines(&fake_k8s, NULL, NULL), want);
}

/* RBAC: the token user may read deployments but not patch them; the 403 names what was refused
 * in the real server's words, nothing was changed, and the undo-free failure is not retried. */
static void test_rbac_forbidden(void **state)
{
	(void)state;
	fake_control(&fake_k8s, "/__fake/settings",
	             "{\"rbac\": [{\"verbs\": [\"get\", \"list\", \"watch\"], \"apiGroups\": "
	             "[\"apps\"], \"resources\": [\"deployments\"]}]}");
	json_t *obs = NULL, *res = NULL, *undo = NULL;
	const char *args = "{\"namespace\": \"prod\", \"name\": \"web\", \"container\": \"web\", "
	                   "\"image\": \"nginx:1.26.0\"}";
	assert_int_equal(mock_check("set_image", args, &obs), SALVE_OK);
	json_decref(obs);
	assert_int_equal(mock_apply("set_image", args, &res, &undo), SALVE_ERR);
	assert_string_equal(
	    mock_last_error(),
	    "deployments.apps \"web\" is forbidden: User \"salve-token\" cannot patch "
	    "resource \"deployments\" in API group \"apps\" in the namespace \"prod\" "
	    "(403)");
	json_t *reqs = fake_requests(&fake_k8s, "PATCH", NULL);
	assert_int_equal(json_array_size(reqs), 1);
	assert_json_eq(tj_at(json_array_get(reqs, 0), "/status"), "403");
	json_decref(reqs);
	/* a subresource and a cluster-scoped resource say so too */
	assert_int_equal(mock_check("cordon", "{\"node\": \"node-1\"}", &obs), SALVE_ERR);
	assert_string_equal(
	    mock_last_error(),
	    "nodes \"node-1\" is forbidden: User \"salve-token\" cannot get resource "
	    "\"nodes\" in API group \"\" at the cluster scope (403)");
	assert_int_equal(mock_run("logs", "{\"namespace\": \"prod\", \"pod\": \"db-0\"}", &obs),
	                 SALVE_ERR);
	assert_string_equal(mock_last_error(),
	                    "pods \"db-0\" is forbidden: User \"salve-token\" cannot get resource "
	                    "\"pods/log\" in API group \"\" in the namespace \"prod\" (403)");
	json_t *d = fake_object(&fake_k8s, "Deployment", "prod", "web");
	assert_string_equal(tj_str_at(d, "/spec/template/spec/containers/0/image"), "nginx:1.25.3");
	json_decref(d);
	/* the client certificate's user is in system:masters: RBAC does not hold it back */
	mock_fini();
	assert_int_equal(fake_k8s_init_plugin(fake_k8s.kc_cert), 0);
	assert_int_equal(mock_apply("set_image", args, &res, &undo), SALVE_OK);
	json_decref(res);
	json_decref(undo);
}

/* The node named by arg carries no taint. */
static int untainted(const json_t *nodes, const void *arg)
{
	size_t i;
	json_t *n;
	json_array_foreach(nodes, i, n)
	{
		if (strcmp(tj_str_at(n, "/metadata/name"), arg) == 0)
			return tj_at(n, "/spec/taints") == NULL;
	}
	return 0;
}

/* Controllers write a moment after the write they react to, as real ones do: the node
 * controller's taint lands between the undo's read and its write, so the undo meets a natural
 * 409, reads again and succeeds. */
static void test_natural_conflict_with_node_controller(void **state)
{
	(void)state;
	fake_control(&fake_k8s, "/__fake/settings", "{\"controller_delay\": 30}");
	json_t *res = NULL, *undo = NULL;
	assert_int_equal(mock_apply("cordon", "{\"node\": \"node-1\"}", &res, &undo), SALVE_OK);
	json_t *n = fake_object(&fake_k8s, "Node", NULL, "node-1");
	assert_null(tj_at(n, "/spec/taints")); /* the controller has not acted yet */
	json_decref(n);
	fake_clear_requests(&fake_k8s);
	assert_int_equal(mock_undo("cordon", undo), SALVE_OK);
	const char *const want[] = {"GET /api/v1/nodes/node-1 200",
	                            "PATCH /api/v1/nodes/node-1?fieldManager=salve 409",
	                            "GET /api/v1/nodes/node-1 200",
	                            "PATCH /api/v1/nodes/node-1?fieldManager=salve 200", NULL};
	assert_lines(fake_request_lines(&fake_k8s, NULL, NULL), want);
	size_t i, conflicts = 0;
	json_t *e;
	json_array_foreach(mock_audit_events(), i, e)
	{
		conflicts += strcmp(tj_str_at(e, "/event"), "k8s.conflict") == 0;
	}
	assert_int_equal(conflicts, 1);
	/* controllers caught up: the taint followed the uncordon away */
	fake_control(&fake_k8s, "/__fake/settings", "{\"controller_delay\": 0}");
	assert_int_equal(fake_wait(&fake_k8s, "Node", NULL, untainted, "node-1"), 0);
	n = fake_object(&fake_k8s, "Node", NULL, "node-1");
	assert_null(tj_at(n, "/spec/unschedulable"));
	assert_null(tj_at(n, "/spec/taints"));
	json_decref(n);
	json_decref(res);
	json_decref(undo);
}

/* Evicted pods stay Terminating until the kubelet confirms (here 1 s): the drain waits for
 * them to go, and the ReplicaSet replaces them meanwhile. */
static void test_drain_waits_for_terminating_pods(void **state)
{
	(void)state;
	fake_control(&fake_k8s, "/__fake/settings", "{\"pod_termination\": 2}");
	json_t *db1 = fake_object(&fake_k8s, "Pod", "prod", "db-1");
	json_t *res = NULL, *undo = NULL;
	assert_int_equal(
	    mock_apply("drain", "{\"node\": \"node-2\", \"timeout\": \"30s\"}", &res, &undo),
	    SALVE_OK);
	/* db-1 was evicted first and looked at right away: still there (Terminating), so the
	 * drain polled until its StatefulSet had made a new db-1 */
	json_t *gets = fake_request_lines(&fake_k8s, "GET", "/pods/db-1$");
	assert_true(json_array_size(gets) >= 2);
	assert_string_equal(json_string_value(json_array_get(gets, 0)),
	                    "GET /api/v1/namespaces/prod/pods/db-1 200");
	json_decref(gets);
	json_t *now = fake_object(&fake_k8s, "Pod", "prod", "db-1");
	assert_string_not_equal(tj_str_at(now, "/metadata/uid"), tj_str_at(db1, "/metadata/uid"));
	json_decref(now);
	json_decref(db1);
	gets = fake_request_lines(&fake_k8s, "GET", "/pods/web-86c4ff78d4-4bh8w$");
	assert_string_equal(json_string_value(json_array_get(gets, json_array_size(gets) - 1)),
	                    "GET /api/v1/namespaces/prod/pods/web-86c4ff78d4-4bh8w 404");
	json_decref(gets);
	json_decref(res);
	assert_int_equal(mock_undo("drain", undo), SALVE_OK);
	json_decref(undo);
}

/* The protocol the client and the fake agreed on: HTTP/2 when the fake offers it (as a real
 * apiserver does), else HTTP/1.1. Run both ways by ctest (kubernetes_plugin and
 * kubernetes_plugin_h2). */
static void test_http_version(void **state)
{
	(void)state;
	json_t *r = NULL;
	assert_int_equal(mock_run("get", "{\"kind\": \"node\", \"name\": \"node-1\"}", &r),
	                 SALVE_OK);
	json_decref(r);
	const char *h2 = getenv("SALVE_FAKE_K8S_HTTP2");
	json_t *reqs = fake_requests(&fake_k8s, "GET", "/nodes/node-1$");
	assert_string_equal(tj_str_at(json_array_get(reqs, 0), "/protocol"),
	                    h2 && strcmp(h2, "1") == 0 ? "HTTP/2.0" : "HTTP/1.1");
	json_decref(reqs);
}

/* ---- round trips (issue 16 item 6) ---------------------------------------------------------- */

/* check then apply, as the core runs a mutation: the requests it sends, exactly. */
static void assert_round_trips(const char *action, const char *args, const char *const *want)
{
	/* on a quiet cluster: a controller still acting on the previous write would be a natural
	 * 409 (test_natural_conflict_with_node_controller), not a request the action makes */
	assert_int_equal(fake_settle(&fake_k8s), 0);
	fake_clear_requests(&fake_k8s);
	json_t *res = NULL, *undo = NULL;
	int rc = mock_exec(action, args, &res, &undo);
	if (rc != SALVE_OK)
		fail_msg("%s: %d %s", action, rc, mock_last_error());
	assert_lines(fake_request_lines(&fake_k8s, NULL, NULL), want);
	json_decref(res);
	json_decref(undo);
}

/* Plan and apply write what check read (host->observed) with its resourceVersion: no second
 * read. The counts are in plugins/kubernetes/README.md. */
static void test_round_trips(void **state)
{
	(void)state;
	const char *const image[] = {
	    "GET /apis/apps/v1/namespaces/prod/deployments/web 200",
	    "PATCH /apis/apps/v1/namespaces/prod/deployments/web?fieldManager=salve 200", NULL};
	assert_round_trips("set_image",
	                   "{\"namespace\": \"prod\", \"name\": \"web\", \"container\": \"web\", "
	                   "\"image\": \"nginx:1.26.0\"}",
	                   image);
	json_t *reqs = fake_requests(&fake_k8s, "PATCH", NULL);
	assert_non_null(tj_str_at(json_array_get(reqs, 0), "/body/metadata/resourceVersion"));
	json_decref(reqs);
	json_t *d = NULL;
	assert_round_trips("rollout_restart", "{\"namespace\": \"prod\", \"name\": \"web\"}",
	                   image);
	wait_healthy("web");
	const char *const undo[] = {
	    "GET /apis/apps/v1/namespaces/prod/deployments/web 200",
	    "GET /apis/apps/v1/namespaces/prod/replicasets?labelSelector=app%3Dweb 200",
	    "PATCH /apis/apps/v1/namespaces/prod/deployments/web?fieldManager=salve 200", NULL};
	assert_int_equal(fake_settle(&fake_k8s), 0);
	d = fake_object(&fake_k8s, "Deployment", "prod", "web");
	assert_round_trips("rollout_undo", "{\"namespace\": \"prod\", \"name\": \"web\"}", undo);
	/* apply wrote from check's read: its resourceVersion, no second GET */
	reqs = fake_requests(&fake_k8s, "PATCH", NULL);
	assert_string_equal(tj_str_at(json_array_get(reqs, 0), "/body/metadata/resourceVersion"),
	                    tj_str_at(d, "/metadata/resourceVersion"));
	json_decref(reqs);
	json_decref(d);
	const char *const patch[] = {
	    "GET /apis/apps/v1/namespaces/prod/statefulsets/db 200",
	    "PATCH /apis/apps/v1/namespaces/prod/statefulsets/db?dryRun=All&fieldManager=salve 200",
	    "PATCH /apis/apps/v1/namespaces/prod/statefulsets/db?fieldManager=salve 200", NULL};
	assert_round_trips("patch",
	                   "{\"kind\": \"statefulset\", \"namespace\": \"prod\", \"name\": \"db\", "
	                   "\"strategic\": {\"spec\": {\"minReadySeconds\": 5}}}",
	                   patch);
	const char *const cordon[] = {"GET /api/v1/nodes/node-1 200",
	                              "PATCH /api/v1/nodes/node-1?fieldManager=salve 200", NULL};
	assert_round_trips("cordon", "{\"node\": \"node-1\"}", cordon);
	assert_round_trips(
	    "taint", "{\"node\": \"node-1\", \"key\": \"k\", \"effect\": \"NoSchedule\"}", cordon);
	const char *const quarantine[] = {
	    "GET /api/v1/namespaces/prod/pods/db-0 200",
	    "PATCH /api/v1/namespaces/prod/pods/db-0?fieldManager=salve 200", NULL};
	assert_round_trips("quarantine_pod", "{\"namespace\": \"prod\", \"pod\": \"db-0\"}",
	                   quarantine);
	const char *const isolate[] = {
	    "GET /apis/networking.k8s.io/v1/namespaces/prod/networkpolicies/salve-isolate 404",
	    "POST /apis/networking.k8s.io/v1/namespaces/prod/networkpolicies?fieldManager=salve "
	    "201",
	    NULL};
	assert_round_trips("isolate", "{\"namespace\": \"prod\"}", isolate);
	/* the same in a dry-run: the write with dryRun=All, still no second read */
	mock_set_mode(SALVE_MODE_DRY_RUN);
	const char *const planned[] = {
	    "GET /api/v1/nodes/node-2 200",
	    "PATCH /api/v1/nodes/node-2?dryRun=All&fieldManager=salve 200", NULL};
	assert_round_trips("cordon", "{\"node\": \"node-2\"}", planned);
	const char *const undo_planned[] = {
	    "GET /apis/apps/v1/namespaces/prod/deployments/web 200",
	    "GET /apis/apps/v1/namespaces/prod/replicasets?labelSelector=app%3Dweb 200",
	    "PATCH /apis/apps/v1/namespaces/prod/deployments/web?dryRun=All&fieldManager=salve 200",
	    NULL};
	assert_round_trips("rollout_undo", "{\"namespace\": \"prod\", \"name\": \"web\"}",
	                   undo_planned);
	mock_set_mode(SALVE_MODE_APPLY);
	/* what check read went stale before apply: the 409, one fresh read, the write again */
	fake_fault(&fake_k8s, "{\"method\": \"PATCH\", \"path_regex\": \"/deployments/web$\", "
	                      "\"status\": 409, \"times\": 1}");
	const char *const stale[] = {
	    "GET /apis/apps/v1/namespaces/prod/deployments/web 200",
	    "PATCH /apis/apps/v1/namespaces/prod/deployments/web?fieldManager=salve 409",
	    "GET /apis/apps/v1/namespaces/prod/deployments/web 200",
	    "PATCH /apis/apps/v1/namespaces/prod/deployments/web?fieldManager=salve 200", NULL};
	assert_round_trips("set_image",
	                   "{\"namespace\": \"prod\", \"name\": \"web\", \"container\": \"web\", "
	                   "\"image\": \"nginx:1.27.0\"}",
	                   stale);
	d = fake_object(&fake_k8s, "Deployment", "prod", "web");
	assert_string_equal(tj_str_at(d, "/spec/template/spec/containers/0/image"), "nginx:1.27.0");
	json_decref(d);
}

/* drain writes from what its check read too: the node (the cordon is one PATCH with its
 * resourceVersion) and the pods to evict (no list before cordoning; the list after it catches
 * pods scheduled meanwhile). A plan sends only the dry-run writes. */
static void test_drain_round_trips(void **state)
{
	(void)state;
	/* the controllers act on the evictions only after the next request is answered (no timer
	 * within the test): the request order alone decides what the drain's reads meet */
	fake_control(&fake_k8s, "/__fake/settings", "{\"controller_delay\": 30}");
	mock_set_mode(SALVE_MODE_DRY_RUN);
	const char *const planned[] = {
	    "GET /api/v1/nodes/node-2 200",
	    "GET /api/v1/pods?fieldSelector=spec.nodeName%3Dnode-2 200",
	    "GET /api/v1 200",
	    "PATCH /api/v1/nodes/node-2?dryRun=All&fieldManager=salve 200",
	    "POST /api/v1/namespaces/prod/pods/db-1/eviction?dryRun=All&fieldManager=salve 201",
	    "POST "
	    "/api/v1/namespaces/prod/pods/web-86c4ff78d4-4bh8w/eviction?dryRun=All&fieldManager="
	    "salve 201",
	    NULL};
	fake_clear_requests(&fake_k8s);
	json_t *res = NULL, *undo = NULL;
	assert_int_equal(mock_exec("drain", "{\"node\": \"node-2\"}", &res, &undo), SALVE_OK);
	assert_lines(fake_request_lines(&fake_k8s, NULL, NULL), planned);
	assert_json_eq(tj_at(res, "/evicted"), "[\"prod/db-1\", \"prod/web-86c4ff78d4-4bh8w\"]");
	assert_json_eq(tj_at(res, "/skipped/0/pod"), "\"monitoring/node-exporter-q8t5d\"");
	json_decref(res);
	mock_set_mode(SALVE_MODE_APPLY);
	const char *const applied[] = {
	    "GET /api/v1/nodes/node-2 200",
	    "GET /api/v1/pods?fieldSelector=spec.nodeName%3Dnode-2 200",
	    "PATCH /api/v1/nodes/node-2?fieldManager=salve 200",
	    "GET /api/v1/pods?fieldSelector=spec.nodeName%3Dnode-2 200",
	    "POST /api/v1/namespaces/prod/pods/db-1/eviction?fieldManager=salve 201",
	    "POST /api/v1/namespaces/prod/pods/web-86c4ff78d4-4bh8w/eviction?fieldManager=salve "
	    "201",
	    "GET /api/v1/namespaces/prod/pods/db-1 404",
	    "GET /api/v1/namespaces/prod/pods/web-86c4ff78d4-4bh8w 404",
	    NULL};
	fake_clear_requests(&fake_k8s);
	assert_int_equal(mock_exec("drain", "{\"node\": \"node-2\"}", &res, &undo), SALVE_OK);
	assert_lines(fake_request_lines(&fake_k8s, NULL, NULL), applied);
	json_t *node = fake_object(&fake_k8s, "Node", NULL, "node-2");
	assert_true(json_is_true(tj_at(node, "/spec/unschedulable")));
	json_decref(node);
	json_decref(res);
	assert_int_equal(mock_undo("drain", undo), SALVE_OK);
	json_decref(undo);
}

/* ---- restart, image ------------------------------------------------------------------------ */

static void test_rollout_restart_and_undo(void **state)
{
	(void)state;
	const char *args = "{\"namespace\": \"prod\", \"name\": \"web\"}";
	json_t *obs = NULL, *res = NULL, *undo = NULL;
	assert_int_equal(mock_check("rollout_restart", args, &obs), SALVE_OK);
	assert_true(json_is_null(tj_at(obs, "/last_restarted_at")));
	json_decref(obs);
	assert_int_equal(mock_apply("rollout_restart", args, &res, &undo), SALVE_OK);
	const char *stamp = tj_str_at(res, "/restarted_at");
	assert_non_null(stamp);
	json_t *d = fake_object(&fake_k8s, "Deployment", "prod", "web");
	assert_string_equal(
	    tj_str_at(d, "/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt"),
	    stamp);
	json_decref(d);
	assert_json_eq(tj_at(undo, "/touched"),
	               "[{\"path\": \"/spec/template/metadata/annotations\", \"present\": false}]");
	wait_healthy("web");
	assert_int_equal(mock_undo("rollout_restart", undo), SALVE_OK);
	d = fake_object(&fake_k8s, "Deployment", "prod", "web");
	assert_null(tj_at(d, "/spec/template/metadata/annotations"));
	json_decref(d);
	json_decref(res);
	json_decref(undo);
}

/* RFC 3339 UTC with nanoseconds: 2024-05-01T12:00:00.123456789Z */
static int is_nano_stamp(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddddddddZ";
	if (!s || strlen(s) != sizeof shape - 1)
		return 0;
	for (size_t i = 0; shape[i]; i++)
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return 0;
	return 1;
}

/* Issue 16 bug 1: kubectl's whole-second stamp made a second restart within the same second
 * change nothing (no PATCH, no pod restarted) while it was reported changed. Two restarts back
 * to back must each send one PATCH with a new stamp, and report the change they made. */
static void test_two_restarts_within_one_second(void **state)
{
	(void)state;
	const char *args = "{\"namespace\": \"prod\", \"name\": \"web\"}";
	json_t *first = NULL, *second = NULL, *undo1 = NULL, *undo2 = NULL;
	assert_int_equal(mock_apply("rollout_restart", args, &first, &undo1), SALVE_OK);
	assert_int_equal(mock_apply("rollout_restart", args, &second, &undo2), SALVE_OK);
	const char *s1 = tj_str_at(first, "/restarted_at");
	const char *s2 = tj_str_at(second, "/restarted_at");
	assert_true(is_nano_stamp(s1));
	assert_true(is_nano_stamp(s2));
	assert_string_not_equal(s1, s2);
	/* each made one write (the deployment controller, acting on the first, may have sent the
	 * second into a natural 409 before it: then it read again and wrote once) */
	json_t *patches = fake_requests(&fake_k8s, "PATCH", "/deployments/web$");
	json_t *written = json_array();
	size_t i;
	json_t *w;
	json_array_foreach(patches, i, w)
	{
		if (json_integer_value(json_object_get(w, "status")) == 200)
			json_array_append(written, w);
		else
			assert_int_equal(json_integer_value(json_object_get(w, "status")), 409);
	}
	assert_int_equal(json_array_size(written), 2);
	assert_string_equal(tj_str_at(json_array_get(written, 1),
	                              "/body/spec/template/metadata/annotations/"
	                              "kubectl.kubernetes.io~1restartedAt"),
	                    s2);
	json_decref(written);
	json_decref(patches);
	char want[512];
	snprintf(want, sizeof want,
	         "[{\"path\": \"/spec/template/metadata/annotations/"
	         "kubectl.kubernetes.io~1restartedAt\", \"before\": \"%s\", \"after\": \"%s\"}]",
	         s1, s2);
	assert_json_eq(tj_at(second, "/changes"), want);
	snprintf(want, sizeof want,
	         "[{\"path\": \"/spec/template/metadata/annotations/"
	         "kubectl.kubernetes.io~1restartedAt\", \"present\": true, \"value\": \"%s\"}]",
	         s1);
	assert_json_eq(tj_at(undo2, "/touched"), want);
	json_t *d = fake_object(&fake_k8s, "Deployment", "prod", "web");
	assert_string_equal(
	    tj_str_at(d, "/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt"),
	    s2);
	json_decref(d);
	json_decref(first);
	json_decref(second);
	json_decref(undo1);
	json_decref(undo2);
}

static void test_set_image_check_and_undo(void **state)
{
	(void)state;
	json_t *obs = NULL, *res = NULL, *undo = NULL;
	assert_int_equal(mock_check("set_image",
	                            "{\"namespace\": \"prod\", \"name\": \"web\", "
	                            "\"container\": \"web\", \"image\": \"nginx:1.25.3\"}",
	                            &obs),
	                 SALVE_HOLDS);
	json_decref(obs);
	assert_int_equal(mock_check("set_image",
	                            "{\"namespace\": \"prod\", \"name\": \"web\", "
	                            "\"container\": \"sidecar\", \"image\": \"x:1\"}",
	                            &obs),
	                 SALVE_ERR_INVALID);
	assert_string_equal(
	    mock_last_error(),
	    "argument \"container\": no container \"sidecar\" in prod/web (it has: web)");
	const char *args = "{\"kind\": \"statefulset\", \"namespace\": \"prod\", \"name\": \"db\", "
	                   "\"container\": \"db\", \"image\": \"postgres:16.3\"}";
	assert_int_equal(mock_apply("set_image", args, &res, &undo), SALVE_OK);
	assert_int_equal(mock_check("set_image", args, &obs), SALVE_HOLDS);
	json_decref(obs);
	assert_int_equal(mock_undo("set_image", undo), SALVE_OK);
	json_t *s = fake_object(&fake_k8s, "StatefulSet", "prod", "db");
	assert_string_equal(tj_str_at(s, "/spec/template/spec/containers/0/image"),
	                    "postgres:16.2");
	json_decref(s);
	json_decref(res);
	json_decref(undo);
}

/* A broken release: the rollout never finishes; rollout_wait times out, rollout_undo heals. */
static void test_broken_rollout_rolled_back(void **state)
{
	(void)state;
	fake_control(&fake_k8s, "/__fake/deployments/prod/web", "{\"broken\": true}");
	json_t *res = NULL, *undo = NULL, *r = NULL;
	assert_int_equal(mock_apply("set_image",
	                            "{\"namespace\": \"prod\", \"name\": \"web\", "
	                            "\"container\": \"web\", \"image\": \"nginx:bad\"}",
	                            &res, &undo),
	                 SALVE_OK);
	json_decref(res);
	json_decref(undo);
	assert_int_equal(mock_run("rollout_wait",
	                          "{\"namespace\": \"prod\", \"name\": \"web\", "
	                          "\"timeout\": \"1500ms\", \"interval\": 0.2}",
	                          &r),
	                 SALVE_ERR_TIMEOUT);
	assert_non_null(strstr(mock_last_error(), "Deployment prod/web is not healthy after"));
	assert_int_equal(
	    mock_run("rollout_status", "{\"namespace\": \"prod\", \"name\": \"web\"}", &r),
	    SALVE_OK);
	assert_false(json_is_true(tj_at(r, "/healthy")));
	assert_int_equal(json_integer_value(tj_at(r, "/revision")), 3);
	json_decref(r);
	/* the previous revision is 2, the release before the broken one */
	assert_int_equal(
	    mock_apply("rollout_undo", "{\"namespace\": \"prod\", \"name\": \"web\"}", &res, &undo),
	    SALVE_OK);
	assert_int_equal(json_integer_value(tj_at(res, "/to_revision")), 2);
	json_decref(res);
	json_decref(undo);
	wait_healthy("web");
	json_t *d = fake_object(&fake_k8s, "Deployment", "prod", "web");
	assert_string_equal(tj_str_at(d, "/spec/template/spec/containers/0/image"), "nginx:1.25.3");
	json_decref(d);
}

/* ---- nodes ------------------------------------------------------------------------------------
 */

static void test_cordon_uncordon(void **state)
{
	(void)state;
	json_t *obs = NULL, *res = NULL, *undo = NULL;
	assert_int_equal(mock_check("uncordon", "{\"node\": \"node-2\"}", &obs), SALVE_HOLDS);
	json_decref(obs);
	assert_int_equal(mock_check("cordon", "{\"node\": \"node-2\"}", &obs), SALVE_OK);
	json_decref(obs);
	assert_int_equal(mock_apply("cordon", "{\"node\": \"node-2\"}", &res, &undo), SALVE_OK);
	assert_json_eq(undo, "{\"node\": \"node-2\", \"unschedulable\": false}");
	assert_json_eq(tj_at(res, "/changes"),
	               "[{\"path\": \"/spec/unschedulable\", \"before\": null, \"after\": true}]");
	json_t *n = fake_object(&fake_k8s, "Node", NULL, "node-2");
	assert_true(json_is_true(tj_at(n, "/spec/unschedulable")));
	json_decref(n);
	assert_int_equal(mock_check("cordon", "{\"node\": \"node-2\"}", &obs), SALVE_HOLDS);
	json_decref(obs);
	assert_int_equal(mock_undo("cordon", undo), SALVE_OK);
	n = fake_object(&fake_k8s, "Node", NULL, "node-2");
	assert_null(tj_at(n, "/spec/unschedulable"));
	json_decref(n);
	json_decref(res);
	json_decref(undo);
	assert_int_equal(mock_check("cordon", "{\"node\": \"node-9\"}", &obs), SALVE_ERR_NOTFOUND);
	assert_string_equal(mock_last_error(), "nodes \"node-9\" not found (404)");
}

static int pods_on(const char *node, const char *prefix)
{
	json_t *pods = fake_objects(&fake_k8s, "Pod", NULL);
	int n = 0;
	size_t i;
	json_t *p;
	json_array_foreach(pods, i, p)
	{
		const char *on = tj_str_at(p, "/spec/nodeName");
		if (on && strcmp(on, node) == 0 &&
		    strncmp(tj_str_at(p, "/metadata/name"), prefix, strlen(prefix)) == 0)
			n++;
	}
	json_decref(pods);
	return n;
}

static void test_drain_respects_pdb(void **state)
{
	(void)state;
	json_t *obs = NULL, *res = NULL, *undo = NULL;
	assert_int_equal(mock_check("drain", "{\"node\": \"node-1\"}", &obs), SALVE_OK);
	/* in the API's order: by namespace, then name */
	assert_json_eq(tj_at(obs, "/to_evict"), "[\"prod/db-0\", \"prod/web-86c4ff78d4-7xk2p\", "
	                                        "\"prod/web-86c4ff78d4-9mq4z\"]");
	json_decref(obs);
	/* without ignore_daemonsets, kubectl refuses: so do we, before cordoning */
	assert_int_equal(mock_apply("drain", "{\"node\": \"node-1\", \"ignore_daemonsets\": false}",
	                            &res, &undo),
	                 SALVE_ERR);
	assert_null(undo);
	assert_string_equal(
	    mock_last_error(),
	    "cannot drain node node-1: monitoring/node-exporter-x2vbn: cannot delete "
	    "DaemonSet-managed Pods (use ignore_daemonsets=true to ignore)");
	json_t *n = fake_object(&fake_k8s, "Node", NULL, "node-1");
	assert_null(tj_at(n, "/spec/unschedulable"));
	json_decref(n);

	/* replacement web pods take a while to be ready, so the budget holds evictions back */
	fake_control(&fake_k8s, "/__fake/deployments/prod/web", "{\"rollout_delay\": 2.5}");
	fake_clear_requests(&fake_k8s);
	assert_int_equal(
	    mock_apply("drain", "{\"node\": \"node-1\", \"timeout\": \"60s\"}", &res, &undo),
	    SALVE_OK);
	assert_json_eq(undo, "{\"node\": \"node-1\", \"unschedulable\": false}");
	assert_int_equal(json_array_size(tj_at(res, "/evicted")), 3);
	assert_json_eq(tj_at(res, "/skipped"), "[{\"pod\": \"monitoring/node-exporter-x2vbn\", "
	                                       "\"reason\": \"DaemonSet-managed\"}]");
	/* the PodDisruptionBudget (minAvailable 2 of 3) refused the second web eviction at first */
	json_t *ev = fake_requests(&fake_k8s, "POST", "/eviction$");
	int refused = 0, web_ok = 0;
	size_t i;
	json_t *e;
	json_array_foreach(ev, i, e)
	{
		assert_string_equal(tj_str_at(e, "/body/apiVersion"), "policy/v1");
		assert_string_equal(tj_str_at(e, "/body/kind"), "Eviction");
		assert_false(json_is_true(json_object_get(e, "dry_run")));
		long long st = json_integer_value(json_object_get(e, "status"));
		if (strstr(tj_str_at(e, "/path"), "/pods/web-")) {
			refused += st == 429;
			web_ok += st == 201 || st == 200;
		}
	}
	assert_true(refused >= 1);
	assert_int_equal(web_ok, 2);
	json_decref(ev);
	assert_int_equal(pods_on("node-1", "web-"), 0);
	assert_int_equal(pods_on("node-1", "db-"), 0);
	assert_int_equal(pods_on("node-1", "node-exporter-"), 1);
	n = fake_object(&fake_k8s, "Node", NULL, "node-1");
	assert_true(json_is_true(tj_at(n, "/spec/unschedulable")));
	json_decref(n);
	json_decref(res);
	/* done now */
	assert_int_equal(mock_check("drain", "{\"node\": \"node-1\"}", &obs), SALVE_HOLDS);
	json_decref(obs);
	assert_int_equal(mock_undo("drain", undo), SALVE_OK);
	n = fake_object(&fake_k8s, "Node", NULL, "node-1");
	assert_null(tj_at(n, "/spec/unschedulable"));
	json_decref(n);
	json_decref(undo);
}

/* A budget that never allows the eviction: the drain times out, leaving an undo record. */
static void test_drain_times_out_with_undo(void **state)
{
	(void)state;
	fake_fault(
	    &fake_k8s,
	    "{\"method\": \"POST\", \"path_regex\": \"/pods/db-0/eviction$\", \"status\": 429, "
	    "\"times\": 0, \"format\": \"status\", \"message\": \"Cannot evict pod as "
	    "it would violate the pod's disruption budget.\"}");
	json_t *res = NULL, *undo = NULL;
	assert_int_equal(mock_apply("drain", "{\"node\": \"node-1\", \"timeout\": 2}", &res, &undo),
	                 SALVE_ERR_TIMEOUT);
	assert_null(res);
	assert_json_eq(undo, "{\"node\": \"node-1\", \"unschedulable\": false}");
	if (!strstr(mock_last_error(), "drain node node-1: timed out after 2s; evictions still"))
		fail_msg("%s", mock_last_error());
	assert_non_null(strstr(mock_last_error(),
	                       "drain node node-1: timed out after 2s; evictions "
	                       "still refused for [\"prod/db-0\"]: Cannot evict pod "
	                       "as it would violate the pod's disruption budget. (429)"));
	assert_int_equal(mock_undo("drain", undo), SALVE_OK);
	json_t *n = fake_object(&fake_k8s, "Node", NULL, "node-1");
	assert_null(tj_at(n, "/spec/unschedulable"));
	json_decref(n);
	json_decref(undo);
}

/* ---- delete_pod and dry-run --------------------------------------------------------------------
 */

static void test_delete_pod(void **state)
{
	(void)state;
	const char *args = "{\"namespace\": \"prod\", \"name\": \"web-86c4ff78d4-4bh8w\"}";
	json_t *obs = NULL, *res = NULL, *undo = NULL;
	assert_int_equal(mock_check("delete_pod", args, &obs), SALVE_OK);
	json_decref(obs);
	assert_int_equal(mock_plan("delete_pod", args, &res), SALVE_OK);
	json_decref(res);
	json_t *p = fake_object(&fake_k8s, "Pod", "prod", "web-86c4ff78d4-4bh8w");
	assert_non_null(p);
	json_decref(p);
	assert_int_equal(mock_apply("delete_pod", args, &res, &undo), SALVE_OK);
	assert_null(undo); /* SALVE_ACTION_NO_UNDO */
	assert_true(mock_action("delete_pod")->flags & SALVE_ACTION_NO_UNDO);
	json_decref(res);
	json_t *lines = fake_request_lines(&fake_k8s, "DELETE", NULL);
	const char *want[] = {
	    "DELETE /api/v1/namespaces/prod/pods/web-86c4ff78d4-4bh8w?dryRun=All 200",
	    "DELETE /api/v1/namespaces/prod/pods/web-86c4ff78d4-4bh8w 200", NULL};
	assert_lines(lines, want);
	assert_int_equal(mock_check("delete_pod", args, &obs), SALVE_HOLDS);
	json_decref(obs);
}

/* Every plan only sends dry-run writes, and nothing changes. */
static void test_dry_run_writes_nothing(void **state)
{
	(void)state;
	json_t *before = fake_objects(&fake_k8s, "Deployment", NULL);
	json_t *nodes_before = fake_objects(&fake_k8s, "Node", NULL);
	json_t *pods_before = fake_objects(&fake_k8s, "Pod", NULL);
	mock_set_mode(SALVE_MODE_DRY_RUN);
	const char *plans[][2] = {
	    {"rollout_undo", "{\"namespace\": \"prod\", \"name\": \"web\"}"},
	    {"rollout_restart", "{\"namespace\": \"prod\", \"name\": \"web\"}"},
	    {"set_image", "{\"namespace\": \"prod\", \"name\": \"web\", \"container\": \"web\", "
	                  "\"image\": \"nginx:2\"}"},
	    {"patch", "{\"kind\": \"deployment\", \"namespace\": \"prod\", \"name\": \"web\", "
	              "\"merge\": {\"spec\": {\"paused\": true}}}"},
	    {"cordon", "{\"node\": \"node-1\"}"},
	    {"drain", "{\"node\": \"node-1\"}"},
	    {"delete_pod", "{\"namespace\": \"prod\", \"name\": \"db-0\"}"},
	};
	for (size_t i = 0; i < sizeof plans / sizeof plans[0]; i++) {
		json_t *r = NULL;
		int rc = mock_plan(plans[i][0], plans[i][1], &r);
		if (rc != SALVE_OK)
			fail_msg("plan %s: %d %s", plans[i][0], rc, mock_last_error());
		json_decref(r);
	}
	mock_set_mode(SALVE_MODE_APPLY);
	json_t *reqs = fake_requests(&fake_k8s, NULL, NULL);
	size_t i;
	json_t *q;
	int writes = 0;
	json_array_foreach(reqs, i, q)
	{
		if (strcmp(tj_str_at(q, "/method"), "GET") == 0)
			continue;
		writes++;
		if (!json_is_true(json_object_get(q, "dry_run")) ||
		    !strstr(tj_str_at(q, "/query"), "dryRun=All"))
			fail_msg("a plan sent a real write: %s %s?%s", tj_str_at(q, "/method"),
			         tj_str_at(q, "/path"), tj_str_at(q, "/query"));
	}
	assert_int_equal(writes, 10); /* 6 patches, 3 dry-run evictions, 1 delete */
	json_decref(reqs);
	/* drain's dry-run evictions carry the dry run in their DeleteOptions too */
	json_t *ev = fake_requests(&fake_k8s, "POST", "/eviction$");
	assert_json_eq(tj_at(json_array_get(ev, 0), "/body/deleteOptions/dryRun"), "[\"All\"]");
	json_decref(ev);
	json_t *after = fake_objects(&fake_k8s, "Deployment", NULL);
	json_t *nodes_after = fake_objects(&fake_k8s, "Node", NULL);
	json_t *pods_after = fake_objects(&fake_k8s, "Pod", NULL);
	assert_true(json_equal(tj_at(json_array_get(before, 0), "/spec"),
	                       tj_at(json_array_get(after, 0), "/spec")));
	assert_true(json_equal(tj_at(json_array_get(before, 0), "/metadata/resourceVersion"),
	                       tj_at(json_array_get(after, 0), "/metadata/resourceVersion")));
	for (size_t k = 0; k < json_array_size(nodes_before); k++)
		assert_true(json_equal(tj_at(json_array_get(nodes_before, k), "/spec"),
		                       tj_at(json_array_get(nodes_after, k), "/spec")));
	assert_int_equal(json_array_size(pods_before), json_array_size(pods_after));
	json_decref(before);
	json_decref(after);
	json_decref(nodes_before);
	json_decref(nodes_after);
	json_decref(pods_before);
	json_decref(pods_after);
}

/* Kubernetes 1.20: evictions are policy/v1beta1, discovered, not assumed. */
static void test_old_server_discovery(void **state)
{
	(void)state;
	assert_int_equal(fake_start(&fake_k8s_second, "1.20"), 0);
	mock_fini();
	assert_int_equal(fake_k8s_init_plugin(fake_k8s_second.kc_token), 0);
	mock_set_mode(SALVE_MODE_DRY_RUN);
	json_t *r = NULL;
	assert_int_equal(mock_plan("drain", "{\"node\": \"node-2\"}", &r), SALVE_OK);
	mock_set_mode(SALVE_MODE_APPLY);
	assert_json_eq(tj_at(r, "/evicted"), "[\"prod/db-1\", \"prod/web-86c4ff78d4-4bh8w\"]");
	json_decref(r);
	json_t *ev = fake_requests(&fake_k8s_second, "POST", "/eviction$");
	assert_int_equal(json_array_size(ev), 2);
	assert_string_equal(tj_str_at(json_array_get(ev, 0), "/body/apiVersion"), "policy/v1beta1");
	json_decref(ev);
}

/* ---- F8: every credential is registered for redaction when the kubeconfig loads -------------- */

static void test_token_registered_before_the_first_answer(void **state)
{
	(void)state;
	/* the kubeconfig loads with the first request, not at init */
	assert_false(mock_is_registered(fake_k8s.token));
	json_t *r = NULL;
	assert_int_equal(mock_run("get", "{\"kind\": \"node\", \"name\": \"node-1\"}", &r),
	                 SALVE_OK);
	json_decref(r);
	assert_true(mock_is_registered(fake_k8s.token));
}

/* The client key (the PEM, and each line of its body) from client-key-data. */
static void test_client_key_registered(void **state)
{
	(void)state;
	mock_fini();
	assert_int_equal(fake_k8s_init_plugin(fake_k8s.kc_cert), 0);
	json_t *r = NULL;
	assert_int_equal(mock_run("get", "{\"kind\": \"node\", \"name\": \"node-1\"}", &r),
	                 SALVE_OK);
	json_decref(r);
	char key_path[600];
	snprintf(key_path, sizeof key_path, "%s/certs/client.key", fake_k8s.dir);
	char *pem = tp_read(key_path);
	assert_non_null(pem);
	assert_true(mock_is_registered(pem));
	int lines = 0;
	char *save = NULL;
	for (char *line = strtok_r(pem, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "-----", 5) == 0)
			continue;
		if (!mock_is_registered(line))
			fail_msg("key line %s is not registered", line);
		lines++;
	}
	assert_true(lines >= 2);
	free(pem);
}

/* A password and a token file, from a kubeconfig written here. */
static void test_password_and_token_file_registered(void **state)
{
	(void)state;
	mock_fini();
	char *dir = tp_tempdir("creds");
	char kc[600], tokfile[600], text[2048];
	snprintf(kc, sizeof kc, "%s/kubeconfig", dir);
	snprintf(tokfile, sizeof tokfile, "%s/token", dir);
	assert_int_equal(tp_write(tokfile, "file-token-0123456789\n"), 0);
	snprintf(text, sizeof text,
	         "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
	         "clusters: [{name: k, cluster: {server: '%s', certificate-authority: '%s'}}]\n"
	         "users: [{name: u, user: {tokenFile: token, username: ops, password: "
	         "'basic-pw-31337'}}]\n"
	         "contexts: [{name: c, context: {cluster: k, user: u}}]\n",
	         fake_k8s.base, fake_k8s.ca);
	assert_int_equal(tp_write(kc, text), 0);
	assert_int_equal(fake_k8s_init_plugin(kc), 0);
	json_t *r = NULL;
	/* the fake takes neither: the request fails, the credentials are registered all the same */
	assert_int_not_equal(mock_run("get", "{\"kind\": \"node\", \"name\": \"node-1\"}", &r),
	                     SALVE_OK);
	json_decref(r);
	assert_true(mock_is_registered("basic-pw-31337"));
	assert_true(mock_is_registered("file-token-0123456789"));
	assert_false(mock_is_registered("ops"));
	tp_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_get_with_token, fake_k8s_setup, fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_get_with_client_cert, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_ca_refused, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_insecure_is_audited, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_not_found_message, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_labels_refused, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_reads, fake_k8s_setup, fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_rollout_undo, fake_k8s_setup, fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_conflict_rereads_and_retries, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_stale_resource_version_is_a_conflict,
	                                    fake_k8s_setup, fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_retry_after_429, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_5xx_retries_bounded_by_deadline, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_cut_short_answer, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_422, fake_k8s_setup, fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_patch_merge_and_undo, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_patch_json_and_undo, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_patch_check_meets_a_controller_write,
	                                    fake_k8s_setup, fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_patch_strategic_env_and_undo, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_logs_of_unscheduled_pod, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_rbac_forbidden, fake_k8s_setup, fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_natural_conflict_with_node_controller,
	                                    fake_k8s_setup, fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_drain_waits_for_terminating_pods, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_http_version, fake_k8s_setup, fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_round_trips, fake_k8s_setup, fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_drain_round_trips, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_rollout_restart_and_undo, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_two_restarts_within_one_second, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_set_image_check_and_undo, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_broken_rollout_rolled_back, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_cordon_uncordon, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_drain_respects_pdb, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_drain_times_out_with_undo, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_delete_pod, fake_k8s_setup, fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_dry_run_writes_nothing, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_old_server_discovery, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_token_registered_before_the_first_answer,
	                                    fake_k8s_setup, fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_client_key_registered, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_password_and_token_file_registered, fake_k8s_setup,
	                                    fake_k8s_teardown),
	};
	return cmocka_run_group_tests(tests, fake_k8s_group_setup, fake_k8s_group_teardown);
}
