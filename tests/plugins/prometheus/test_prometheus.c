/* The prometheus plugin against a real Prometheus (Debian's) on 127.0.0.1, started by the test
 * with a TSDB backfilled by promtool from a known OpenMetrics file, so every query has an exact
 * expected answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "mock_host.h"
#include "schema.h"
#include "testproc.h"

const salve_plugin *salve_plugin_entry(void);

static char *dir;
static pid_t prom_pid = -1;
static int port;
static long long T; /* the first sample's time */
static char config[512];

static void assert_json_eq(const json_t *got, const char *want_text)
{
	json_error_t e;
	json_t *want = json_loads(want_text, JSON_DECODE_ANY, &e);
	if (!want)
		fail_msg("bad JSON in test: %s", e.text);
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
		fail_msg("JSON differs\n got: %s\nwant: %s", g, want_text);
	}
	json_decref(want);
}

static int start_prometheus(void **state)
{
	(void)state;
	dir = tp_tempdir("prom");
	if (!dir)
		return -1;
	/* Two hours back, aligned, so the samples sit in a block of their own, well inside the
	 * default retention. */
	T = ((long long)time(NULL) / 3600 - 2) * 3600;
	char om[4096], path[600], data[600], log[600], yml[600];
	size_t n = 0;
	n += (size_t)snprintf(om + n, sizeof om - n, "# TYPE cpu_usage gauge\n");
	const double web[] = {0.5, 0.75, 1, 1.25, 1.5};
	for (int i = 0; i < 5; i++)
		n += (size_t)snprintf(om + n, sizeof om - n,
		                      "cpu_usage{deployment=\"web\",namespace=\"shop\"} %g %lld\n",
		                      web[i], T + 60 * i);
	for (int i = 0; i < 5; i++)
		n += (size_t)snprintf(
		    om + n, sizeof om - n,
		    "cpu_usage{deployment=\"api\",namespace=\"shop\"} 0.25 %lld\n", T + 60 * i);
	n += (size_t)snprintf(om + n, sizeof om - n, "# TYPE broken gauge\nbroken NaN %lld\n", T);
	snprintf(om + n, sizeof om - n, "# EOF\n");
	snprintf(path, sizeof path, "%s/samples.om", dir);
	snprintf(data, sizeof data, "%s/data", dir);
	snprintf(log, sizeof log, "%s/prometheus.log", dir);
	snprintf(yml, sizeof yml, "%s/prometheus.yml", dir);
	if (tp_write(path, om) < 0 || tp_write(yml, "global:\n  evaluation_interval: 1m\n") < 0)
		return -1;
	const char *backfill[] = {
	    "promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", path, data, NULL};
	if (tp_run(backfill, log) != 0) {
		fprintf(stderr, "promtool failed:\n%s\n", tp_read(log));
		return -1;
	}
	port = tp_free_port();
	char listen[64], cfg[640], storage[640];
	snprintf(listen, sizeof listen, "--web.listen-address=127.0.0.1:%d", port);
	snprintf(cfg, sizeof cfg, "--config.file=%s", yml);
	snprintf(storage, sizeof storage, "--storage.tsdb.path=%s", data);
	const char *argv[] = {"prometheus", cfg, storage, listen, "--log.level=warn", NULL};
	prom_pid = tp_spawn(argv, log);
	char ready[128];
	snprintf(ready, sizeof ready, "http://127.0.0.1:%d/-/ready", port);
	if (tp_wait_http(ready, NULL, 60, prom_pid) < 0 ||
	    tp_http("GET", ready, NULL, NULL, NULL) != 200) {
		char *l = tp_read(log);
		fprintf(stderr, "prometheus did not start:\n%s\n", l ? l : "");
		free(l);
		return -1;
	}
	snprintf(
	    config, sizeof config,
	    "{\"url\": \"http://127.0.0.1:%d/\", \"bearer_token\": \"env:SALVE_TEST_PROM_TOKEN\"}",
	    port);
	setenv("SALVE_TEST_PROM_TOKEN", "prom-token-do-not-leak", 1);
	return 0;
}

static int stop_prometheus(void **state)
{
	(void)state;
	tp_stop(prom_pid);
	tp_rmrf(dir);
	free(dir);
	return 0;
}

/* The configuration init gets from salve: config_json checked against the plugin's settings
 * (the core's config map), defaults filled in. NULL with the refusal in err. */
static char *as_salve_gives_it(const char *config_json, char *err, size_t errlen)
{
	json_t *raw = json_loads(config_json, 0, NULL);
	json_t *effective = NULL;
	if (!raw)
		fail_msg("bad JSON in test: %s", config_json);
	int rc = salve_settings_apply(salve_plugin_entry()->settings, raw, "plugins.prometheus",
	                              &effective, err, errlen);
	json_decref(raw);
	char *text = rc == 0 ? json_dumps(effective, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	json_decref(effective);
	return text;
}

static int init_as_salve(const char *config_json)
{
	char err[512];
	char *text = as_salve_gives_it(config_json, err, sizeof err);
	if (!text)
		fail_msg("salve refuses %s: %s", config_json, err);
	int rc = mock_init(salve_plugin_entry(), text);
	free(text);
	return rc;
}

static int setup(void **state)
{
	(void)state;
	return init_as_salve(config);
}

static int teardown(void **state)
{
	(void)state;
	/* The bearer token is a secret: never in logs or errors. */
	if (strstr(mock_logs(), "prom-token-do-not-leak") ||
	    strstr(mock_last_error(), "prom-token-do-not-leak"))
		fail_msg("the bearer token leaked");
	mock_fini();
	return 0;
}

static void test_instant_vector(void **state)
{
	(void)state;
	char args[256];
	snprintf(args, sizeof args,
	         "{\"expr\": \"cpu_usage{deployment=\\\"web\\\"}\", \"time\": %lld}", T + 120);
	json_t *r = NULL;
	assert_int_equal(mock_run("query", args, &r), SALVE_OK);
	char want[512];
	snprintf(want, sizeof want,
	         "{\"expr\": \"cpu_usage{deployment=\\\"web\\\"}\", \"result_type\": \"vector\", "
	         "\"count\": 1, \"value\": 1, \"samples\": [{\"labels\": {\"__name__\": "
	         "\"cpu_usage\", \"deployment\": \"web\", \"namespace\": \"shop\"}, \"value\": 1, "
	         "\"time\": %lld}]}",
	         T + 120);
	assert_json_eq(r, want);
	json_decref(r);
	/* the secret was resolved through the host, so the host can redact it */
	assert_int_equal(json_array_size(mock_secrets_seen()), 1);
}

static void test_aggregate_and_scalar(void **state)
{
	(void)state;
	char args[256];
	json_t *r = NULL;
	snprintf(args, sizeof args,
	         "{\"expr\": \"sum by (namespace) (cpu_usage)\", \"time\": %lld}", T + 60);
	assert_int_equal(mock_run("query", args, &r), SALVE_OK);
	assert_json_eq(json_object_get(r, "value"), "1"); /* 0.75 + 0.25 */
	assert_json_eq(json_object_get(json_array_get(json_object_get(r, "samples"), 0), "labels"),
	               "{\"namespace\": \"shop\"}");
	json_decref(r);
	snprintf(args, sizeof args,
	         "{\"expr\": \"scalar(cpu_usage{deployment=\\\"web\\\"}) * 4\", \"time\": %lld}",
	         T + 240);
	assert_int_equal(mock_run("query", args, &r), SALVE_OK);
	assert_string_equal(json_string_value(json_object_get(r, "result_type")), "scalar");
	assert_json_eq(json_object_get(r, "value"), "6");
	json_decref(r);
	/* nothing matches: an empty vector, value null */
	snprintf(args, sizeof args,
	         "{\"expr\": \"cpu_usage{deployment=\\\"nope\\\"}\", \"time\": %lld}", T);
	assert_int_equal(mock_run("query", args, &r), SALVE_OK);
	assert_json_eq(json_object_get(r, "count"), "0");
	assert_json_eq(json_object_get(r, "value"), "null");
	json_decref(r);
	/* NaN has no JSON number: null, with the text beside it */
	snprintf(args, sizeof args, "{\"expr\": \"broken\", \"time\": %lld}", T);
	assert_int_equal(mock_run("query", args, &r), SALVE_OK);
	json_t *s0 = json_array_get(json_object_get(r, "samples"), 0);
	assert_true(json_is_null(json_object_get(s0, "value")));
	assert_string_equal(json_string_value(json_object_get(s0, "text")), "NaN");
	json_decref(r);
}

static void test_relative_time(void **state)
{
	(void)state;
	json_t *r = NULL;
	assert_int_equal(mock_run("query", "{\"expr\": \"vector(7)\", \"time\": \"now-5m\"}", &r),
	                 SALVE_OK);
	assert_json_eq(json_object_get(r, "value"), "7");
	double t = json_number_value(
	    json_object_get(json_array_get(json_object_get(r, "samples"), 0), "time"));
	double expect = (double)time(NULL) - 300;
	assert_true(t > expect - 30 && t < expect + 30);
	json_decref(r);
}

static void test_range(void **state)
{
	(void)state;
	char args[256], want[1024];
	snprintf(
	    args, sizeof args,
	    "{\"expr\": \"cpu_usage{deployment=\\\"web\\\"}\", \"start\": %lld, \"end\": %lld, "
	    "\"step\": \"1m\"}",
	    T, T + 240);
	json_t *r = NULL;
	assert_int_equal(mock_run("query_range", args, &r), SALVE_OK);
	snprintf(want, sizeof want,
	         "{\"expr\": \"cpu_usage{deployment=\\\"web\\\"}\", \"result_type\": \"matrix\", "
	         "\"count\": 1, \"series\": [{\"labels\": {\"__name__\": \"cpu_usage\", "
	         "\"deployment\": \"web\", \"namespace\": \"shop\"}, \"values\": [[%lld, 0.5], "
	         "[%lld, 0.75], [%lld, 1], [%lld, 1.25], [%lld, 1.5]], \"last\": 1.5}]}",
	         T, T + 60, T + 120, T + 180, T + 240);
	assert_json_eq(r, want);
	json_decref(r);
}

static void test_errors(void **state)
{
	(void)state;
	json_t *r = NULL;
	assert_int_equal(mock_run("query", "{\"expr\": \"sum(\"}", &r), SALVE_ERR_INVALID);
	assert_null(r);
	assert_non_null(strstr(mock_last_error(), "prometheus query: bad_data: "));
	assert_non_null(strstr(mock_last_error(), "(400)"));
	assert_int_equal(mock_run("query", "{\"expr\": \"up\", \"time\": \"yesterday\"}", &r),
	                 SALVE_ERR_INVALID);
	assert_string_equal(mock_last_error(), "argument \"time\": expected a Unix time, RFC 3339, "
	                                       "\"now\" or \"now-5m\"");
	assert_int_equal(mock_run("query_range",
	                          "{\"expr\": \"up\", \"start\": \"now-1h\", \"step\": \"0s\"}",
	                          &r),
	                 SALVE_ERR_INVALID);
	assert_string_equal(mock_last_error(),
	                    "argument \"step\": expected a positive duration such as \"30s\"");
}

static void test_unreachable(void **state)
{
	(void)state;
	mock_fini();
	char cfg[128];
	snprintf(cfg, sizeof cfg, "{\"url\": \"http://127.0.0.1:%d\"}", tp_free_port());
	assert_int_equal(init_as_salve(cfg), 0);
	mock_set_remaining(1.0); /* retries stop at the step's deadline */
	json_t *r = NULL;
	int rc = mock_run("query", "{\"expr\": \"up\"}", &r);
	assert_true(rc == SALVE_ERR_RETRY || rc == SALVE_ERR_TIMEOUT);
	assert_non_null(strstr(mock_last_error(), "prometheus query"));
	assert_true(json_array_size(mock_audit_events()) >= 1); /* each retry is audited */
	mock_fini();
	assert_int_equal(init_as_salve("{\"url\": \"ftp://x\"}"), -1);
	assert_non_null(strstr(mock_last_error(), "url must be set to an http:// or https:// URL"));
}

/* The settings map: what salve refuses before init, and the defaults init gets. */
static void test_settings(void **state)
{
	(void)state;
	char err[512];
	char *text = as_salve_gives_it("{\"url\": \"http://p:9090\"}", err, sizeof err);
	assert_string_equal(text, "{\"request_timeout\":30.0,\"url\":\"http://p:9090\"}");
	free(text);
	text = as_salve_gives_it("{\"url\": \"http://p\", \"request_timeout\": \"1m30s\"}", err,
	                         sizeof err);
	assert_string_equal(text, "{\"request_timeout\":90.0,\"url\":\"http://p\"}");
	free(text);
	const struct {
		const char *config, *refusal;
	} refused[] = {
	    {"{}", "plugins.prometheus.url: required setting is missing (string)"},
	    {"{\"url\": \"http://p\", \"timeout\": \"5s\"}",
	     "plugins.prometheus.timeout: unknown setting (known: url, bearer_token, ca_file, "
	     "request_timeout)"},
	    {"{\"url\": \"http://p\", \"request_timeout\": \"soon\"}",
	     "plugins.prometheus.request_timeout: must be a duration such as \"30s\", \"5m\", "
	     "\"1h30m\" or a number of seconds, got \"soon\""},
	    {"{\"url\": \"http://p\", \"bearer_token\": \"inline-token-value\"}",
	     "plugins.prometheus.bearer_token: must be a secret reference (env:NAME or "
	     "file:/path), got a string of 18 bytes: inline secrets are refused"},
	    {"{\"url\": 9090}", "plugins.prometheus.url: must be string, got integer"},
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		text = as_salve_gives_it(refused[i].config, err, sizeof err);
		if (text)
			fail_msg("%s was accepted: %s", refused[i].config, text);
		assert_string_equal(err, refused[i].refusal);
	}
	/* The grammar allows 0s; a request that may take no time is the plugin's to refuse. */
	mock_fini();
	assert_int_equal(init_as_salve("{\"url\": \"http://p\", \"request_timeout\": \"0s\"}"), -1);
	assert_string_equal(mock_last_error(), "prometheus: request_timeout must be more than 0s");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_instant_vector, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_aggregate_and_scalar, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relative_time, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_range, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreachable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_settings, setup, teardown),
	};
	return cmocka_run_group_tests(tests, start_prometheus, stop_prometheus);
}
