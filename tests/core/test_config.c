#include <string.h>

#include "config.h"
#include "testutil.h"

static void test_config_file(void **state)
{
	(void)state;
	const char *p = tu_path("salve.yaml");
	tu_write(
	    p,
	    "audit: /x/audit.jsonl\nstate_dir: /x/state\naudit_sync: none\nplugin_path: [/a, /b]\n"
	    "step_timeout: 2m\nplugins:\n  kubernetes: {context: prod}\n  host:\n");
	salve_config c;
	char err[512];
	assert_int_equal(salve_config_load(p, &c, err, sizeof err), 0);
	assert_string_equal(c.audit_path, "/x/audit.jsonl");
	assert_string_equal(c.state_dir, "/x/state");
	assert_int_equal(c.audit_sync, SALVE_AUDIT_SYNC_NONE);
	assert_int_equal(json_array_size(c.plugin_path), 2);
	assert_true(c.step_timeout == 120);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(c.plugins, "kubernetes"), "context")),
	    "prod");
	assert_true(json_is_object(json_object_get(c.plugins, "host")));
	salve_config_free(&c);
	tu_write(p, "audit: /x\nunknwon: 1\n");
	assert_int_equal(salve_config_load(p, &c, err, sizeof err), -1);
	assert_non_null(strstr(err, "salve.yaml: unknown key 'unknwon'"));
	salve_config_free(&c);
	tu_write(p, "step_timeout: soon\n");
	assert_int_equal(salve_config_load(p, &c, err, sizeof err), -1);
	assert_non_null(strstr(err, "step_timeout must be a duration"));
	salve_config_free(&c);
	tu_cleanup();
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_config_file)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
