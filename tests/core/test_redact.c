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

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_strings_and_json)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
