#include <string.h>

#include "testutil.h"
#include "yamljson.h"

static void test_types_and_nesting(void **state)
{
	(void)state;
	const char *y = "a: 1\nb: 2.5\nc: yes\nd: ~\ne: \"007\"\nf: [x, 'y']\ng: {h: text}\n";
	char err[256];
	json_t *v = salve_yaml_load_string(y, strlen(y), "t.yaml", err, sizeof err);
	assert_non_null(v);
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"a\":1,\"b\":2.5,\"c\":true,\"d\":null,\"e\":\"007\",\"f\":["
	                       "\"x\",\"y\"],\"g\":{\"h\":\"text\"}}");
	free(s);
	json_decref(v);
}

static void test_error_names_file_and_line(void **state)
{
	(void)state;
	const char *y = "a: 1\nb: [unclosed\nc: 2\n";
	char err[256];
	assert_null(salve_yaml_load_string(y, strlen(y), "bad.yaml", err, sizeof err));
	assert_non_null(strstr(err, "bad.yaml:"));
	assert_null(salve_yaml_load_file("/nonexistent/x.yaml", err, sizeof err));
	assert_non_null(strstr(err, "/nonexistent/x.yaml: No such file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_types_and_nesting),
	                                   cmocka_unit_test(test_error_names_file_and_line)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
