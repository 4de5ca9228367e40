#include <stdlib.h>
#include <string.h>

#include "redact.h"
#include "testutil.h"

static void test_strings_and_json(void **state)
{
	(void)state;
	salve_redact_register("hunter22");
	salve_redact_register("abc"); /* too short to register */
	char out[128];
	salve_redact_string("pw=hunter22 and hunter22!", out, sizeof out);
	assert_string_equal(out, "pw=[REDACTED] and [REDACTED]!");
	salve_redact_string("abc stays", out, sizeof out);
	assert_string_equal(out, "abc stays");
	json_t *v =
	    json_pack("{s:s, s:[s, {s:s}]}", "a", "xhunter22x", "b", "clean", "c", "hunter22");
	salve_redact_json(v);
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"a\":\"x[REDACTED]x\",\"b\":[\"clean\",{\"c\":\"[REDACTED]\"}]}");
	free(s);
	json_decref(v);
	salve_redact_clear();
	salve_redact_string("hunter22", out, sizeof out);
	assert_string_equal(out, "hunter22");
}

static void expect_redacted(const char *in, const char *want)
{
	char out[512];
	salve_redact_string(in, out, sizeof out);
	if (strcmp(out, want) != 0)
		fail_msg("redacting \"%s\" gave \"%s\", wanted \"%s\"", in, out, want);
}

/* base64 of the secret alone, in both alphabets, with and without padding; and inside a
 * longer base64 text at each of the three byte offsets (Basic auth headers), where only the
 * characters that carry bits of other bytes stay. */
static void test_base64_forms(void **state)
{
	(void)state;
	salve_redact_register("s3cr3t?>?tok~~");
	expect_redacted("auth czNjcjN0Pz4/dG9rfn4= end", "auth [REDACTED] end");
	expect_redacted("czNjcjN0Pz4_dG9rfn4=", "[REDACTED]");
	expect_redacted("token=czNjcjN0Pz4_dG9rfn4&x=1", "token=[REDACTED]&x=1");
	expect_redacted("Basic YWRtaW46czNjcjN0Pz4/dG9rfn4=", "Basic YWRtaW46[REDACTED]");
	expect_redacted("Basic b3BzOnMzY3IzdD8+P3Rva35+", "Basic b3BzOn[REDACTED]");
	expect_redacted("Basic cm9vdDpzM2NyM3Q/Pj90b2t+fg==", "Basic cm9vdDp[REDACTED]g==");
	/* other base64 is left alone */
	expect_redacted("Basic YWRtaW46aHVudGVyMg==", "Basic YWRtaW46aHVudGVyMg==");
	salve_redact_clear();
}

static void test_percent_encoded_forms(void **state)
{
	(void)state;
	salve_redact_register("s3cr3t?>?tok~~");
	salve_redact_register("my pass/word&x");
	expect_redacted("GET /cb?t=s3cr3t%3F%3E%3Ftok~~ HTTP/1.1", "GET /cb?t=[REDACTED] HTTP/1.1");
	expect_redacted("t=s3cr3t%3f%3e%3ftok~~", "t=[REDACTED]");
	expect_redacted("pw=my+pass%2Fword%26x&u=a", "pw=[REDACTED]&u=a");
	expect_redacted("pw=my%20pass%2Fword%26x", "pw=[REDACTED]");
	expect_redacted("pw=my pass/word&x", "pw=[REDACTED]");
	salve_redact_clear();
}

/* A Slack webhook URL is a secret: itself, percent-encoded as a query parameter, and base64. */
static void test_url_secret_forms(void **state)
{
	(void)state;
	salve_redact_register("https://hooks.slack.com/services/T0001/B0001/slacksecrettoken123");
	expect_redacted(
	    "posting to https://hooks.slack.com/services/T0001/B0001/slacksecrettoken123",
	    "posting to [REDACTED]");
	expect_redacted("?u=https%3A%2F%2Fhooks.slack.com%2Fservices%2FT0001%2FB0001%2F"
	                "slacksecrettoken123",
	                "?u=[REDACTED]");
	expect_redacted("aHR0cHM6Ly9ob29rcy5zbGFjay5jb20vc2VydmljZXMvVDAwMDEvQjAwMDEvc2xhY2tzZWNy"
	                "ZXR0b2tlbjEyMw==",
	                "[REDACTED]");
	salve_redact_clear();
}

/* Output that prints JSON shows a secret with quotes or backslashes escaped. */
static void test_json_escaped_form(void **state)
{
	(void)state;
	salve_redact_register("pa\"ss\\word");
	json_t *v = json_pack("{s:s}", "pw", "pa\"ss\\word");
	char *dumped = json_dumps(v, JSON_COMPACT);
	expect_redacted(dumped, "{\"pw\":\"[REDACTED]\"}");
	free(dumped);
	json_decref(v);
	salve_redact_clear();
}

/* Cutting a secret that ends inside a multi-byte character out of a JSON string would leave
 * bytes that are not UTF-8, which jansson refuses: the whole value is withheld instead of
 * being left as it was. */
static void test_cut_that_breaks_utf8_withholds_the_value(void **state)
{
	(void)state;
	salve_redact_register("xyz\xc3");
	json_t *v = json_pack("{s:s}", "m", "xyz\xc3\xa9 and more");
	salve_redact_json(v);
	assert_string_equal(json_string_value(json_object_get(v, "m")), "[REDACTED]");
	json_decref(v);
	salve_redact_clear();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_strings_and_json),
	    cmocka_unit_test(test_base64_forms),
	    cmocka_unit_test(test_percent_encoded_forms),
	    cmocka_unit_test(test_url_secret_forms),
	    cmocka_unit_test(test_json_escaped_form),
	    cmocka_unit_test(test_cut_that_breaks_utf8_withholds_the_value),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
