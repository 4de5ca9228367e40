#include <stdio.h>
#include <stdlib.h>
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

/* ---- nested settings ------------------------------------------------------------------ */

static const char *const formats[] = {"text", "json", NULL};

static const salve_setting level_fields[] = {
    {.name = "wait", .type = SALVE_T_DURATION, .default_value = "0s"},
    {.name = "to", .type = SALVE_T_LIST, .flags = SALVE_ARG_REQUIRED | SALVE_SETTING_STRINGS},
    {.name = NULL},
};
static const salve_setting hook_fields[] = {
    {.name = "url", .type = SALVE_T_STRING, .flags = SALVE_ARG_REQUIRED},
    {.name = "token", .type = SALVE_T_SECRET_REF},
    {.name = "tries", .type = SALVE_T_INT, .default_value = "3"},
    {.name = NULL},
};
static const salve_setting retry_fields[] = {
    {.name = "attempts",
     .type = SALVE_T_INT,
     .flags = SALVE_SETTING_MIN | SALVE_SETTING_MAX,
     .default_value = "4",
     .min = 1,
     .max = 100},
    {.name = "factor",
     .type = SALVE_T_NUMBER,
     .flags = SALVE_SETTING_MIN | SALVE_SETTING_ABOVE,
     .default_value = "2",
     .min = 1},
    {.name = "max_time", .type = SALVE_T_DURATION, .default_value = "30s"},
    {.name = NULL},
};
static const salve_setting nested_spec[] = {
    {.name = "retry", .type = SALVE_T_MAP, .default_value = "{}", .fields = retry_fields},
    {.name = "hooks", .type = SALVE_T_MAP, .flags = SALVE_SETTING_EACH, .fields = hook_fields},
    {.name = "levels", .type = SALVE_T_LIST, .flags = SALVE_SETTING_EACH, .fields = level_fields},
    {.name = "smtp", .type = SALVE_T_MAP, .fields = hook_fields}, /* absent: stays absent */
    {.name = "format", .type = SALVE_T_STRING, .default_value = "text", .choices = formats},
    {.name = "tags", .type = SALVE_T_LIST, .flags = SALVE_SETTING_STRINGS, .choices = formats},
    {.name = "timeout",
     .type = SALVE_T_DURATION,
     .flags = SALVE_SETTING_MIN | SALVE_SETTING_ABOVE | SALVE_SETTING_MAX,
     .default_value = "10s",
     .min = 0,
     .max = 3600},
    {.name = "label",
     .type = SALVE_T_STRING,
     .flags = SALVE_SETTING_MIN | SALVE_SETTING_MAX,
     .min = 1,
     .max = 8},
    {.name = NULL},
};

/* What apply makes of config (JSON text): compact sorted JSON, or "error: ...". */
static char *applied(const char *config)
{
	json_error_t jerr;
	json_t *in = json_loads(config, JSON_ALLOW_NUL, &jerr);
	assert_non_null(in);
	json_t *out = NULL;
	char err[512];
	int rc = salve_settings_apply(nested_spec, in, "plugins.p", &out, err, sizeof err);
	json_decref(in);
	char *text;
	if (rc == 0) {
		text = json_dumps(out, JSON_SORT_KEYS | JSON_COMPACT);
		json_decref(out);
	} else {
		assert_null(out);
		text = malloc(strlen(err) + 8);
		sprintf(text, "error: %s", err);
	}
	return text;
}

static void expect_applied(const char *config, const char *want)
{
	char *got = applied(config);
	assert_string_equal(got, want);
	free(got);
}

static void test_nested_defaults_filled(void **state)
{
	(void)state;
	/* a map with fields and a default of {} gets its fields' defaults; one without stays out */
	expect_applied("{}", "{\"format\":\"text\",\"retry\":{\"attempts\":4,\"factor\":2,"
	                     "\"max_time\":30.0},\"timeout\":10.0}");
	expect_applied("{\"retry\": {\"attempts\": 7, \"max_time\": \"1m\"}, \"smtp\": null}",
	               "{\"format\":\"text\",\"retry\":{\"attempts\":7,\"factor\":2,"
	               "\"max_time\":60.0},\"timeout\":10.0}");
	/* every value of an each-valued map, every element of an each-valued list; null counts as
	 * an empty map; a lone string of a string-or-list becomes a list */
	expect_applied(
	    "{\"hooks\": {\"a\": {\"url\": \"https://a\"}, \"b\": {\"url\": \"https://b\","
	    " \"tries\": 1}}, \"levels\": [{\"to\": \"x:\"}, {\"wait\": \"5m\", \"to\":"
	    " [\"y:\", \"z:\"]}], \"tags\": \"json\"}",
	    "{\"format\":\"text\",\"hooks\":{\"a\":{\"tries\":3,\"url\":\"https://a\"},"
	    "\"b\":{\"tries\":1,\"url\":\"https://b\"}},\"levels\":[{\"to\":[\"x:\"],"
	    "\"wait\":0.0},{\"to\":[\"y:\",\"z:\"],\"wait\":300.0}],\"retry\":{"
	    "\"attempts\":4,\"factor\":2,\"max_time\":30.0},\"tags\":[\"json\"],"
	    "\"timeout\":10.0}");
}

static void test_nested_errors_name_the_path(void **state)
{
	(void)state;
	const char *cases[][2] = {
	    {"{\"retry\": {\"atempts\": 3}}",
	     "error: plugins.p.retry.atempts: unknown setting (known: attempts, factor, max_time)"},
	    {"{\"retry\": {\"attempts\": \"3\"}}",
	     "error: plugins.p.retry.attempts: must be int, got string"},
	    {"{\"retry\": {\"attempts\": 0}}",
	     "error: plugins.p.retry.attempts: must be at least 1, got 0"},
	    {"{\"retry\": {\"attempts\": 101}}",
	     "error: plugins.p.retry.attempts: must be at most 100, got 101"},
	    {"{\"retry\": {\"factor\": 1}}",
	     "error: plugins.p.retry.factor: must be more than 1, got 1"},
	    {"{\"retry\": {\"max_time\": \"soon\"}}",
	     "error: plugins.p.retry.max_time: must be a duration such as \"30s\", \"5m\", "
	     "\"1h30m\" or a number of seconds, got \"soon\""},
	    {"{\"retry\": []}", "error: plugins.p.retry: must be map, got list"},
	    {"{\"hooks\": {\"a\": {\"tries\": 2}}}",
	     "error: plugins.p.hooks.a.url: required setting is missing (string)"},
	    {"{\"hooks\": {\"a\": null}}",
	     "error: plugins.p.hooks.a.url: required setting is missing (string)"},
	    {"{\"hooks\": {\"a\": \"https://a\"}}",
	     "error: plugins.p.hooks.a: must be map, got string"},
	    {"{\"hooks\": {\"a\": {\"url\": \"https://a\", \"token\": \"s3cr3t-inline\"}}}",
	     "error: plugins.p.hooks.a.token: must be a secret reference (env:NAME or file:/path), "
	     "got a string of 13 bytes: inline secrets are refused"},
	    {"{\"levels\": [{\"to\": \"x:\"}, {\"wait\": \"1m\"}]}",
	     "error: plugins.p.levels[1].to: required setting is missing (list)"},
	    {"{\"levels\": [{\"to\": [\"x:\", \"\"]}]}",
	     "error: plugins.p.levels[0].to[1]: must be a non-empty string"},
	    {"{\"levels\": [{\"to\": 5}]}",
	     "error: plugins.p.levels[0].to: must be a string or a list of strings, got integer"},
	    {"{\"levels\": [7]}", "error: plugins.p.levels[0]: must be map, got integer"},
	    {"{\"levels\": {\"to\": \"x:\"}}", "error: plugins.p.levels: must be list, got table"},
	    {"{\"format\": \"yaml\"}",
	     "error: plugins.p.format: must be one of text, json, got \"yaml\""},
	    {"{\"tags\": [\"json\", \"xml\"]}",
	     "error: plugins.p.tags[1]: must be one of text, json, got \"xml\""},
	    {"{\"timeout\": 0}", "error: plugins.p.timeout: must be more than 0s, got 0s"},
	    {"{\"timeout\": \"2h\"}", "error: plugins.p.timeout: must be at most 3600s, got 7200s"},
	    {"{\"label\": \"\"}", "error: plugins.p.label: must not be empty"},
	    {"{\"label\": \"ninechars\"}",
	     "error: plugins.p.label: must be at most 8 bytes long, got 9"},
	    {"{\"label\": \"a\\u0000b\"}",
	     "error: plugins.p.label: must be a string without NUL bytes"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		expect_applied(cases[i][0], cases[i][1]);
	/* the edges are in */
	expect_applied("{\"retry\": {\"attempts\": 100, \"factor\": 1.5}, \"timeout\": 3600,"
	               " \"label\": \"eightchr\"}",
	               "{\"format\":\"text\",\"label\":\"eightchr\",\"retry\":{\"attempts\":100,"
	               "\"factor\":1.5,\"max_time\":30.0},\"timeout\":3600.0}");
}

/* The loader's check of a plugin's table: flags that fit the type, bounds some value fits,
 * defaults that fit the choices, bounds and fields, nested tables too. */
static void test_declarations_checked(void **state)
{
	(void)state;
	char err[512];
	assert_int_equal(salve_settings_check(nested_spec, err, sizeof err), 0);
	static const char *const none[] = {NULL};
	static const salve_setting bad_inner[] = {{.name = "n",
	                                           .type = SALVE_T_INT,
	                                           .default_value = "0",
	                                           .flags = SALVE_SETTING_MIN,
	                                           .min = 1},
	                                          {.name = NULL}};
	const struct {
		salve_setting s;
		const char *want;
	} wrong[] = {
	    {{.name = "e", .type = SALVE_T_MAP, .flags = SALVE_SETTING_EACH},
	     "setting e has SALVE_SETTING_EACH but is not a map or list with fields"},
	    {{.name = "e",
	      .type = SALVE_T_STRING,
	      .flags = SALVE_SETTING_EACH,
	      .fields = hook_fields},
	     "setting e has SALVE_SETTING_EACH but is not a map or list with fields"},
	    {{.name = "l", .type = SALVE_T_LIST, .fields = hook_fields},
	     "setting l has fields but is not a map, or a list with SALVE_SETTING_EACH"},
	    {{.name = "s", .type = SALVE_T_STRING, .flags = SALVE_SETTING_STRINGS},
	     "setting s has SALVE_SETTING_STRINGS but is not a list without fields"},
	    {{.name = "c", .type = SALVE_T_INT, .choices = formats},
	     "setting c has choices but is not a string or SALVE_SETTING_STRINGS list"},
	    {{.name = "c", .type = SALVE_T_STRING, .choices = none},
	     "setting c has an empty list of choices"},
	    {{.name = "b", .type = SALVE_T_BOOL, .flags = SALVE_SETTING_MAX, .max = 1},
	     "setting b has bounds but is not an int, number, duration or string"},
	    {{.name = "a", .type = SALVE_T_INT, .flags = SALVE_SETTING_ABOVE},
	     "setting a has SALVE_SETTING_ABOVE without SALVE_SETTING_MIN"},
	    {{.name = "r",
	      .type = SALVE_T_INT,
	      .flags = SALVE_SETTING_MIN | SALVE_SETTING_MAX | SALVE_SETTING_ABOVE,
	      .min = 5,
	      .max = 5},
	     "setting r has bounds that no value fits"},
	    {{.name = "f", .type = SALVE_T_INT, .flags = 0x80},
	     "setting f has flags this salve does not know"},
	    {{.name = "d", .type = SALVE_T_STRING, .default_value = "xml", .choices = formats},
	     "setting d has a default that is refused (default: must be one of text, json, got "
	     "\"xml\")"},
	    {{.name = "m", .type = SALVE_T_MAP, .default_value = "{}", .fields = hook_fields},
	     "setting m has a default that is refused (default.url: required setting is missing "
	     "(string))"},
	    {{.name = "o", .type = SALVE_T_MAP, .fields = bad_inner},
	     "setting o.n has a default that is refused (default: must be at least 1, got 0)"},
	};
	for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
		salve_setting one[] = {wrong[i].s, {.name = NULL}};
		assert_int_equal(salve_settings_check(one, err, sizeof err), -1);
		assert_string_equal(err, wrong[i].want);
	}
	/* a table that contains itself is refused, not walked for ever */
	static salve_setting loop[2] = {{.name = "self", .type = SALVE_T_MAP}, {.name = NULL}};
	loop[0].fields = loop;
	assert_int_equal(salve_settings_check(loop, err, sizeof err), -1);
	assert_string_equal(err, "setting self.self.self.self.self.self.self.self.self.self nests "
	                         "deeper than 8 maps");
}

/* A secret inside a nested map is registered for redaction like one at the top. */
static void test_nested_secret_registered(void **state)
{
	(void)state;
	static const salve_setting inner[] = {
	    {.name = "password", .type = SALVE_T_STRING, .flags = SALVE_ARG_SECRET},
	    {.name = NULL}};
	static const salve_setting outer[] = {
	    {.name = "db", .type = SALVE_T_MAP, .flags = SALVE_SETTING_EACH, .fields = inner},
	    {.name = NULL}};
	json_t *in = json_pack("{s:{s:{s:s}}}", "db", "main", "password", "nested-pw-1234");
	json_t *out = NULL;
	char err[256];
	assert_int_equal(salve_settings_apply(outer, in, "plugins.p", &out, err, sizeof err), 0);
	char red[64];
	salve_redact_string("pw nested-pw-1234", red, sizeof red);
	assert_string_equal(red, "pw [REDACTED]");
	json_decref(out);
	json_decref(in);
	salve_redact_clear();
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_validation),
	                                   cmocka_unit_test(test_durations_and_secret_references),
	                                   cmocka_unit_test(test_settings),
	                                   cmocka_unit_test(test_audit_copy_hides_secrets),
	                                   cmocka_unit_test(test_nested_defaults_filled),
	                                   cmocka_unit_test(test_nested_errors_name_the_path),
	                                   cmocka_unit_test(test_declarations_checked),
	                                   cmocka_unit_test(test_nested_secret_registered)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
