/* The scale plugin against the fake API server (tests/fake-k8s), through salve_mock_host:
 * the scale subresource with resourceVersion, guardrails refused before any request, undo,
 * HPA bounds on the HPA version the server serves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_k8s_fixture.h"
#include "json_check.h"
#include "mock_host.h"

static long long replicas_of(const char *kind, const char *name)
{
	json_t *o = fake_object(&fake_k8s, kind, "prod", name);
	long long n = json_integer_value(tj_at(o, "/spec/replicas"));
	json_decref(o);
	return n;
}

static void test_set_plan_apply_undo(void **state)
{
	(void)state;
	const char *args = "{\"kind\": \"statefulset\", \"namespace\": \"prod\", \"name\": \"db\", "
	                   "\"replicas\": 3}";
	json_t *obs = NULL, *plan = NULL, *res = NULL, *undo = NULL;
	assert_int_equal(mock_check("set", args, &obs), SALVE_OK);
	/* the Scale check read, left for plan and apply (they write without reading again) */
	assert_string_equal(tj_str_at(obs, "/k8s_path"),
	                    "/apis/apps/v1/namespaces/prod/statefulsets/db/scale");
	assert_string_equal(tj_str_at(obs, "/k8s_object/kind"), "Scale");
	json_object_del(obs, "k8s_path");
	json_object_del(obs, "k8s_object");
	assert_json_eq(obs,
	               "{\"kind\": \"StatefulSet\", \"namespace\": \"prod\", \"name\": \"db\", "
	               "\"previous\": 2, \"replicas\": 3, \"clamped\": false, \"changes\": []}");
	json_decref(obs);
	fake_clear_requests(&fake_k8s);

	mock_set_mode(SALVE_MODE_DRY_RUN);
	assert_int_equal(mock_plan("set", args, &plan), SALVE_OK);
	mock_set_mode(SALVE_MODE_APPLY);
	assert_json_eq(tj_at(plan, "/changes"),
	               "[{\"path\": \"/spec/replicas\", \"before\": 2, \"after\": 3}]");
	json_decref(plan);
	json_t *lines = fake_request_lines(&fake_k8s, NULL, NULL);
	const char *want_plan[] = {
	    "GET /apis/apps/v1/namespaces/prod/statefulsets/db/scale 200",
	    "PUT /apis/apps/v1/namespaces/prod/statefulsets/db/scale?dryRun=All&fieldManager=salve "
	    "200",
	    NULL};
	assert_lines(lines, want_plan);
	assert_int_equal(replicas_of("StatefulSet", "db"), 2);

	fake_clear_requests(&fake_k8s);
	assert_int_equal(mock_apply("set", args, &res, &undo), SALVE_OK);
	assert_json_eq(undo,
	               "{\"kind\": \"StatefulSet\", \"namespace\": \"prod\", \"name\": \"db\", "
	               "\"replicas\": 2}");
	json_t *puts = fake_requests(&fake_k8s, "PUT", NULL);
	assert_int_equal(json_array_size(puts), 1);
	json_t *body = tj_at(json_array_get(puts, 0), "/body");
	assert_int_equal(json_integer_value(tj_at(body, "/spec/replicas")), 3);
	assert_string_equal(json_string_value(tj_at(body, "/kind")), "Scale");
	assert_non_null(json_string_value(tj_at(body, "/metadata/resourceVersion")));
	json_decref(puts);
	json_decref(res);
	assert_int_equal(replicas_of("StatefulSet", "db"), 3);
	assert_int_equal(mock_check("set", args, &obs), SALVE_HOLDS);
	json_decref(obs);

	json_t *r = NULL;
	assert_int_equal(mock_run("wait_ready",
	                          "{\"kind\": \"statefulset\", \"namespace\": \"prod\", "
	                          "\"name\": \"db\", \"timeout\": 30, \"interval\": 0.1}",
	                          &r),
	                 SALVE_OK);
	assert_true(json_is_true(tj_at(r, "/healthy")));
	assert_int_equal(json_integer_value(tj_at(r, "/ready")), 3);
	json_decref(r);

	assert_int_equal(mock_undo("set", undo), SALVE_OK);
	assert_int_equal(replicas_of("StatefulSet", "db"), 2);
	fake_clear_requests(&fake_k8s);
	assert_int_equal(mock_undo("set", undo), SALVE_OK); /* idempotent: no write */
	json_t *writes = fake_requests(&fake_k8s, "PUT", NULL);
	assert_int_equal(json_array_size(writes), 0);
	json_decref(writes);
	json_decref(undo);
}

static void test_guardrails(void **state)
{
	(void)state;
	json_t *r = NULL, *u = NULL;
	struct {
		const char *args;
		const char *error;
	} refused[] = {
	    {"{\"namespace\": \"prod\", \"name\": \"web\", \"replicas\": 0}",
	     "refusing to scale Deployment prod/web to 0 replicas: pass min=0 to allow scaling to "
	     "zero"},
	    {"{\"namespace\": \"prod\", \"name\": \"web\", \"replicas\": 9, \"max\": 6}",
	     "refusing to scale Deployment prod/web to 9 replicas: above max 6"},
	    {"{\"namespace\": \"prod\", \"name\": \"web\", \"replicas\": 2, \"min\": 3}",
	     "refusing to scale Deployment prod/web to 2 replicas: below min 3"},
	    {"{\"namespace\": \"prod\", \"name\": \"web\", \"replicas\": 2, \"delta\": 1}",
	     "scale.set needs exactly one of replicas, delta or factor"},
	    {"{\"namespace\": \"prod\", \"name\": \"web\"}",
	     "scale.set needs exactly one of replicas, delta or factor"},
	    {"{\"namespace\": \"prod\", \"name\": \"web\", \"factor\": 0}",
	     "argument \"factor\" must be a number above 0"},
	    {"{\"namespace\": \"prod\", \"name\": \"web\", \"delta\": 1, \"min\": 5, \"max\": 4}",
	     "argument \"max\" (4) is below min (5)"},
	    {"{\"kind\": \"daemonset\", \"namespace\": \"monitoring\", \"name\": "
	     "\"node-exporter\", "
	     "\"replicas\": 2}",
	     "argument \"kind\": daemonset is not one of Deployment, StatefulSet, ReplicaSet"},
	    {"{\"namespace\": \"prod\", \"name\": \"../web\", \"replicas\": 2}",
	     "argument \"name\""},
	    {"{\"namespace\": \"Prod\", \"name\": \"web\", \"replicas\": 2}",
	     "argument \"namespace\""},
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		assert_int_equal(mock_check("set", refused[i].args, &r), SALVE_ERR_INVALID);
		if (!strstr(mock_last_error(), refused[i].error))
			fail_msg("%s: got \"%s\", want \"%s\"", refused[i].args, mock_last_error(),
			         refused[i].error);
		assert_int_equal(mock_apply("set", refused[i].args, &r, &u), SALVE_ERR_INVALID);
		assert_null(u);
	}
	json_t *reqs = fake_requests(&fake_k8s, NULL, NULL);
	assert_int_equal(json_array_size(reqs), 0); /* refused before any request */
	json_decref(reqs);

	/* computed targets are held within the bounds instead (db has no autoscaler) */
	assert_int_equal(mock_apply("set",
	                            "{\"kind\": \"statefulset\", \"namespace\": \"prod\", "
	                            "\"name\": \"db\", \"factor\": 4, \"max\": 6}",
	                            &r, &u),
	                 SALVE_OK);
	assert_json_eq(r, "{\"kind\": \"StatefulSet\", \"namespace\": \"prod\", \"name\": \"db\", "
	                  "\"previous\": 2, \"replicas\": 6, \"clamped\": true, \"changes\": "
	                  "[{\"path\": \"/spec/replicas\", \"before\": 2, \"after\": 6}]}");
	json_decref(r);
	json_decref(u);
	assert_int_equal(replicas_of("StatefulSet", "db"), 6);
	assert_int_equal(mock_apply("set",
	                            "{\"kind\": \"statefulset\", \"namespace\": \"prod\", "
	                            "\"name\": \"db\", \"delta\": -10}",
	                            &r, &u),
	                 SALVE_OK);
	assert_int_equal(json_integer_value(tj_at(r, "/replicas")), 1); /* min defaults to 1 */
	assert_true(json_is_true(tj_at(r, "/clamped")));
	json_decref(r);
	json_decref(u);
	/* factor rounds up: 1 * 1.5 -> 2 */
	assert_int_equal(mock_apply("set",
	                            "{\"kind\": \"statefulset\", \"namespace\": \"prod\", "
	                            "\"name\": \"db\", \"factor\": 1.5}",
	                            &r, &u),
	                 SALVE_OK);
	assert_int_equal(json_integer_value(tj_at(r, "/replicas")), 2);
	json_decref(r);
	json_decref(u);
	/* zero only when asked for explicitly */
	assert_int_equal(mock_apply("set",
	                            "{\"kind\": \"statefulset\", \"namespace\": \"prod\", "
	                            "\"name\": \"db\", \"replicas\": 0, \"min\": 0}",
	                            &r, &u),
	                 SALVE_OK);
	assert_int_equal(replicas_of("StatefulSet", "db"), 0);
	assert_int_equal(mock_undo("set", u), SALVE_OK);
	assert_int_equal(replicas_of("StatefulSet", "db"), 2);
	json_decref(r);
	json_decref(u);
}

static void test_conflict_on_scale(void **state)
{
	(void)state;
	fake_fault(&fake_k8s, "{\"method\": \"PUT\", \"path_regex\": \"/deployments/web/scale$\", "
	                      "\"status\": 409, \"times\": 1}");
	json_t *r = NULL, *u = NULL;
	assert_int_equal(
	    mock_apply("set", "{\"namespace\": \"prod\", \"name\": \"web\", \"delta\": 1}", &r, &u),
	    SALVE_OK);
	json_t *lines = fake_request_lines(&fake_k8s, NULL, NULL);
	const char *want[] = {
	    "GET /apis/apps/v1/namespaces/prod/deployments/web/scale 200",
	    "PUT /apis/apps/v1/namespaces/prod/deployments/web/scale?fieldManager=salve 409",
	    "GET /apis/apps/v1/namespaces/prod/deployments/web/scale 200",
	    "PUT /apis/apps/v1/namespaces/prod/deployments/web/scale?fieldManager=salve 200", NULL};
	assert_lines(lines, want);
	assert_int_equal(json_integer_value(tj_at(r, "/replicas")), 4);
	assert_int_equal(replicas_of("Deployment", "web"), 4);
	json_decref(r);
	json_decref(u);
}

/* The real server names the subresource in a scale 404 (issue 16 bug 4). */
static void test_scale_not_found(void **state)
{
	(void)state;
	json_t *obs = NULL;
	assert_int_equal(mock_check("set",
	                            "{\"namespace\": \"prod\", \"name\": \"nope\", "
	                            "\"replicas\": 2}",
	                            &obs),
	                 SALVE_ERR_NOTFOUND);
	assert_string_equal(mock_last_error(), "deployments/scale.apps \"nope\" not found (404)");
	json_t *reqs = fake_requests(&fake_k8s, NULL, NULL);
	assert_json_eq(tj_at(json_array_get(reqs, 0), "/status"), "404");
	json_decref(reqs);
}

static void test_wait_ready(void **state)
{
	(void)state;
	fake_control(&fake_k8s, "/__fake/deployments/prod/web", "{\"rollout_delay\": 3}");
	json_t *r = NULL, *u = NULL;
	assert_int_equal(mock_apply("set",
	                            "{\"namespace\": \"prod\", \"name\": \"web\", \"replicas\": 5}",
	                            &r, &u),
	                 SALVE_OK);
	json_decref(r);
	json_decref(u);
	assert_int_equal(mock_run("wait_ready",
	                          "{\"namespace\": \"prod\", \"name\": \"web\", "
	                          "\"timeout\": \"300ms\", \"interval\": 0.1}",
	                          &r),
	                 SALVE_ERR_TIMEOUT);
	assert_non_null(strstr(mock_last_error(), "Deployment prod/web is not ready after"));
	assert_int_equal(mock_run("wait_ready",
	                          "{\"namespace\": \"prod\", \"name\": \"web\", "
	                          "\"timeout\": 30, \"interval\": 0.2}",
	                          &r),
	                 SALVE_OK);
	assert_int_equal(json_integer_value(tj_at(r, "/available")), 5);
	json_decref(r);
	assert_int_equal(mock_run("wait_ready",
	                          "{\"kind\": \"replicaset\", \"namespace\": \"prod\", "
	                          "\"name\": \"web-86c4ff78d4\", \"timeout\": 5}",
	                          &r),
	                 SALVE_OK);
	assert_int_equal(json_integer_value(tj_at(r, "/ready")), 5);
	json_decref(r);
}

static void test_hpa_bounds(void **state)
{
	(void)state;
	const char *args = "{\"namespace\": \"prod\", \"name\": \"web\", \"min\": 3, \"max\": 8}";
	json_t *obs = NULL, *plan = NULL, *res = NULL, *undo = NULL;
	assert_int_equal(mock_check("hpa_bounds", args, &obs), SALVE_OK);
	assert_string_equal(tj_str_at(obs, "/k8s_object/kind"), "HorizontalPodAutoscaler");
	json_object_del(obs, "k8s_path");
	json_object_del(obs, "k8s_object");
	assert_json_eq(obs, "{\"namespace\": \"prod\", \"name\": \"web\", \"min\": 2, \"max\": 6, "
	                    "\"changes\": []}");
	json_decref(obs);
	mock_set_mode(SALVE_MODE_DRY_RUN);
	assert_int_equal(mock_plan("hpa_bounds", args, &plan), SALVE_OK);
	mock_set_mode(SALVE_MODE_APPLY);
	assert_json_eq(tj_at(plan, "/changes"),
	               "[{\"path\": \"/spec/minReplicas\", \"before\": 2, \"after\": 3},"
	               " {\"path\": \"/spec/maxReplicas\", \"before\": 6, \"after\": 8}]");
	json_decref(plan);
	json_t *hpa = fake_object(&fake_k8s, "HorizontalPodAutoscaler", "prod", "web");
	assert_int_equal(json_integer_value(tj_at(hpa, "/spec/minReplicas")), 2);
	json_decref(hpa);
	fake_clear_requests(&fake_k8s);
	assert_int_equal(mock_apply("hpa_bounds", args, &res, &undo), SALVE_OK);
	json_t *lines = fake_request_lines(&fake_k8s, NULL, NULL);
	const char *want[] = {
	    "GET /apis/autoscaling/v2/namespaces/prod/horizontalpodautoscalers/web 200",
	    "PATCH "
	    "/apis/autoscaling/v2/namespaces/prod/horizontalpodautoscalers/web?fieldManager=salve "
	    "200",
	    NULL};
	assert_lines(lines, want);
	assert_json_eq(undo,
	               "{\"namespace\": \"prod\", \"name\": \"web\", \"min\": 2, \"max\": 6}");
	assert_int_equal(mock_check("hpa_bounds", args, &obs), SALVE_HOLDS);
	json_decref(obs);
	assert_int_equal(mock_undo("hpa_bounds", undo), SALVE_OK);
	hpa = fake_object(&fake_k8s, "HorizontalPodAutoscaler", "prod", "web");
	assert_int_equal(json_integer_value(tj_at(hpa, "/spec/minReplicas")), 2);
	assert_int_equal(json_integer_value(tj_at(hpa, "/spec/maxReplicas")), 6);
	json_decref(hpa);
	json_decref(res);
	json_decref(undo);
	/* the bounds stay consistent with what is already there */
	assert_int_equal(mock_apply("hpa_bounds",
	                            "{\"namespace\": \"prod\", \"name\": \"web\", "
	                            "\"min\": 7}",
	                            &res, &undo),
	                 SALVE_ERR_INVALID);
	assert_string_equal(mock_last_error(),
	                    "HorizontalPodAutoscaler prod/web would get minReplicas "
	                    "7 above maxReplicas 6");
	assert_int_equal(mock_check("hpa_bounds",
	                            "{\"namespace\": \"prod\", \"name\": \"web\", "
	                            "\"min\": 5, \"max\": 4}",
	                            &obs),
	                 SALVE_ERR_INVALID);
	assert_string_equal(mock_last_error(), "argument \"min\" (5) is above max (4)");
}

/* Kubernetes 1.20 serves HPAs as autoscaling/v2beta2, not v2: discovered, not assumed. */
static void test_hpa_on_old_server(void **state)
{
	(void)state;
	assert_int_equal(fake_start(&fake_k8s_second, "1.20"), 0);
	mock_fini();
	assert_int_equal(fake_k8s_init_plugin(fake_k8s_second.kc_cert), 0);
	json_t *res = NULL, *undo = NULL;
	assert_int_equal(mock_apply("hpa_bounds",
	                            "{\"namespace\": \"prod\", \"name\": \"web\", "
	                            "\"max\": 10}",
	                            &res, &undo),
	                 SALVE_OK);
	json_t *lines = fake_request_lines(&fake_k8s_second, NULL, NULL);
	const char *want[] = {
	    "GET /apis/autoscaling 200",
	    "GET /apis/autoscaling/v2beta2/namespaces/prod/horizontalpodautoscalers/web 200",
	    "PATCH "
	    "/apis/autoscaling/v2beta2/namespaces/prod/horizontalpodautoscalers/"
	    "web?fieldManager=salve 200",
	    NULL};
	assert_lines(lines, want);
	assert_int_equal(json_integer_value(tj_at(res, "/max")), 10);
	json_decref(res);
	json_decref(undo);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_set_plan_apply_undo, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_guardrails, fake_k8s_setup, fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_conflict_on_scale, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_scale_not_found, fake_k8s_setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_wait_ready, fake_k8s_setup, fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_hpa_bounds, fake_k8s_setup, fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_hpa_on_old_server, fake_k8s_setup,
	                                    fake_k8s_teardown),
	};
	return cmocka_run_group_tests(tests, fake_k8s_group_setup, fake_k8s_group_teardown);
}
