#include <string.h>

#include "redact.h"
#include "schema.h"
#include "testutil.h"

static const salve_arg spec[] = {{"name", SALVE_T_STRING, SALVE_ARG_REQUIRED, NULL},
                                 {"replicas", SALVE_T_INT, 0, NULL},
                                 {"factor", SALVE_T_NUMBER, 0, NULL},
                                 {"hosts", SALVE_T_LIST, 0, NULL},
                                 {"token", SALVE_T_STRING, SALVE_ARG_SECRET, NULL},
                                 {NULL, 0, 0, NULL}};

static int check(const char *json, char *err)
{
	json_t *args = json_loads(json, 0, NULL);
	int rc = salve_args_validate(spec, args, err, 256);
	json_decref(args);
	return rc;
}

static void test_validation(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(check("{\"name\":\"w\",\"replicas\":3,\"factor\":1,\"hosts\":{}}", err),
	                 0);
	assert_int_equal(check("{\"replicas\":3}", err), -1);
	assert_string_equal(err, "missing required argument 'name' (string)");
	assert_int_equal(check("{\"name\":\"w\",\"replicas\":\"3\"}", err), -1);
	assert_string_equal(err, "argument 'replicas' must be int, got string");
	assert_int_equal(check("{\"name\":\"w\",\"replica\":3}", err), -1);
	assert_non_null(strstr(
	    err, "unknown argument 'replica' (takes: name, replicas, factor, hosts, token)"));
}

static const salve_arg typed_spec[] = {{"timeout", SALVE_T_DURATION, 0, NULL},
                                       {"token", SALVE_T_SECRET_REF, 0, NULL},
                                       {"pin", SALVE_T_DURATION, SALVE_ARG_SECRET, NULL},
                                       {NULL, 0, 0, NULL}};

static void expect_typed(const char *json, const char *want)
{
	json_t *args = json_loads(json, 0, NULL);
	char err[512] = "";
	int rc = salve_args_validate(typed_spec, args, err, sizeof err);
	json_decref(args);
	if (want ? rc != -1 || strcmp(err, want) != 0 : rc != 0)
		fail_msg("%s\n got: %d %s\nwant: %s", json, rc, err, want ? want : "accepted");
}

#define DURATION_WANTED                                                                            \
	"must be a duration such as \"30s\", \"5m\", \"1h30m\" or a number of seconds, got "

/* Durations in the one grammar and secret references in their form, before any plugin runs. */
static void test_durations_and_secret_references(void **state)
{
	(void)state;
	const char *good[] = {"{\"timeout\": \"5m\"}",
	                      "{\"timeout\": \"1h30m\"}",
	                      "{\"timeout\": \"250ms\"}",
	                      "{\"timeout\": \"30\"}",
	                      "{\"timeout\": 90}",
	                      "{\"timeout\": 0.5}",
	                      "{\"timeout\": null}",
	                      "{\"token\": \"env:API_TOKEN\"}",
	                      "{\"token\": \"file:/run/secrets/t\"}",
	                      NULL};
	for (size_t i = 0; good[i]; i++)
		expect_typed(good[i], NULL);
	expect_typed("{\"timeout\": \"5 minutes\"}",
	             "argument 'timeout' " DURATION_WANTED "\"5 minutes\"");
	expect_typed("{\"timeout\": \"-5m\"}", "argument 'timeout' " DURATION_WANTED "\"-5m\"");
	expect_typed("{\"timeout\": -1}", "argument 'timeout' " DURATION_WANTED "-1");
	expect_typed("{\"timeout\": 1e300}", "argument 'timeout' " DURATION_WANTED "1e+300");
	expect_typed("{\"timeout\": true}", "argument 'timeout' " DURATION_WANTED "boolean");
	/* What is shown of a bad value is escaped and short. */
	expect_typed("{\"timeout\": \"1\\u001b[2J\"}",
	             "argument 'timeout' " DURATION_WANTED "\"1\\u001B[2J\"");
	expect_typed("{\"timeout\": \"0123456789012345678901234567890123456789x\"}",
	             "argument 'timeout' " DURATION_WANTED "a string of 41 bytes");
	/* A secret or an inline credential is never repeated. */
	expect_typed("{\"pin\": \"hunter2\"}",
	             "argument 'pin' " DURATION_WANTED "a string of 7 bytes");
	expect_typed("{\"token\": \"hunter2\"}",
	             "argument 'token' must be a secret reference (env:NAME or file:/path), got a "
	             "string of 7 bytes: inline secrets are refused");
	expect_typed("{\"token\": \"env:\"}",
	             "argument 'token' must be a secret reference (env:NAME or file:/path), got a "
	             "string of 4 bytes: inline secrets are refused");
	/* Arguments reach the plugin (and the audit log) as written. */
	json_t *args = json_pack("{s:s}", "timeout", "1h30m");
	char err[256];
	assert_int_equal(salve_args_validate(typed_spec, args, err, sizeof err), 0);
	assert_string_equal(json_string_value(json_object_get(args, "timeout")), "1h30m");
	json_decref(args);
}

static void test_settings(void **state)
{
	(void)state;
	static const salve_setting settings_spec[] = {
	    {.name = "every", .type = SALVE_T_DURATION, .default_value = "2m"},
	    {.name = "name", .type = SALVE_T_STRING},
	    {.name = NULL}};
	char err[256];
	json_t *out = NULL;
	json_t *in = json_pack("[]");
	assert_int_equal(
	    salve_settings_apply(settings_spec, in, "x.yaml: plugins.p", &out, err, sizeof err),
	    -1);
	assert_string_equal(err, "x.yaml: plugins.p: must be a mapping of settings, got list");
	assert_null(out);
	json_decref(in);
	in = json_pack("{s:n, s:s}", "name", "every", "1h");
	assert_int_equal(
	    salve_settings_apply(settings_spec, in, "plugins.p", &out, err, sizeof err), 0);
	json_t *want = json_pack("{s:f}", "every", 3600.0); /* null name: left out */
	assert_true(json_equal(out, want));
	json_decref(want);
	json_decref(out);
	json_decref(in);
	in = json_object();
	assert_int_equal(
	    salve_settings_apply(settings_spec, in, "plugins.p", &out, err, sizeof err), 0);
	assert_true(json_real_value(json_object_get(out, "every")) == 120.0);
	assert_int_equal(json_object_size(out), 1);
	json_decref(out);
	json_decref(in);
	json_t *d = salve_setting_default(&settings_spec[1], err, sizeof err);
	assert_null(d);
	assert_string_equal(err, "has no default");
}

static void test_audit_copy_hides_secrets(void **state)
{
	(void)state;
	json_t *args = json_pack("{s:s, s:s}", "name", "w", "token", "abcdef123456");
	char err[256];
	assert_int_equal(salve_args_validate(spec, args, err, sizeof err), 0);
	json_t *copy = salve_args_for_audit(spec, args);
	assert_string_equal(json_string_value(json_object_get(copy, "token")), "[REDACTED]");
	/* Registered too: a plugin echoing it elsewhere is redacted. */
	char out[64];
	salve_redact_string("x abcdef123456", out, sizeof out);
	assert_string_equal(out, "x [REDACTED]");
	json_decref(copy);
	json_decref(args);
	salve_redact_clear();
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_validation),
	                                   cmocka_unit_test(test_durations_and_secret_references),
	                                   cmocka_unit_test(test_settings),
	                                   cmocka_unit_test(test_audit_copy_hides_secrets)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
