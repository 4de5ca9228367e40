#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry.h"
#include "testutil.h"

static void expect_refused(salve_registry *r, const char *name, const char *needle)
{
	enum salve_registry_error why;
	char err[1024];
	assert_null(salve_registry_get(r, name, 0, &why, err, sizeof err));
	assert_int_equal(why, SALVE_REG_INVALID);
	if (!strstr(err, needle))
		fail_msg("refusing %s: expected \"%s\" in \"%s\"", name, needle, err);
	assert_non_null(strstr(err, name)); /* names the file */
}

static void test_loader_refuses_bad_plugins(void **state)
{
	(void)state;
	setenv("SALVE_TESTKIT_DIR", tu_path("kit"), 1);
	salve_registry *r = tu_registry(1);
	expect_refused(r, "badabi", "plugin ABI 99.2 is not supported by this salve (ABI 1.2)");
	expect_refused(r, "newminor", "plugin ABI 1.3 is not supported by this salve (ABI 1.2)");
	expect_refused(r, "noundo", "mutate action noundo.change has no undo");
	expect_refused(r, "nosymbol", "not a salve plugin (no salve_plugin_entry symbol)");
	expect_refused(r, "misnamed", "declares plugin somethingelse");
	enum salve_registry_error why;
	char err[1024];
	salve_loaded_plugin *old = salve_registry_get(r, "oldminor", 0, &why, err, sizeof err);
	if (!old)
		fail_msg("a plugin built for ABI 1.0 must load: %s", err);
	assert_int_equal(old->desc.abi_minor, 0);
	assert_null(salve_registry_get(r, "absent", 0, &why, err, sizeof err));
	assert_int_equal(why, SALVE_REG_NOT_FOUND);
	assert_non_null(strstr(err, "plugin \"absent\" not found (searched "));
	salve_loaded_plugin *p = salve_registry_get(r, "testkit", 1, &why, err, sizeof err);
	assert_non_null(p);
	assert_non_null(salve_plugin_action(p, "set"));
	assert_null(salve_plugin_action(p, "nope"));
	json_t *list = salve_registry_list(r);
	int saw_testkit = 0, saw_refused = 0;
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e)
	{
		saw_testkit |= !strcmp(json_string_value(json_object_get(e, "name")), "testkit");
		saw_refused |= json_object_get(e, "error") != NULL;
	}
	assert_true(saw_testkit && saw_refused);
	json_decref(list);
	salve_registry_free(r);
}

static void test_world_writable_dir_is_refused(void **state)
{
	(void)state;
	char dir[256], cmd[1024];
	snprintf(dir, sizeof dir, "%s", tu_path("plugins"));
	mkdir(dir, 0777);
	chmod(dir, 0777);
	snprintf(cmd, sizeof cmd, "cp %s/testkit.so %s/", getenv("SALVE_TEST_PLUGIN_DIR"), dir);
	assert_int_equal(system(cmd), 0);
	const char *dirs[] = {dir, NULL};
	salve_registry *r = salve_registry_new(dirs, NULL);
	expect_refused(r, "testkit", "writable by group or others (mode 0777)");
	salve_registry_free(r);
	tu_cleanup();
}

static void test_descriptor_rules(void **state)
{
	(void)state;
	static const salve_arg dup_args[] = {
	    {"a", SALVE_T_STRING, 0, NULL}, {"a", SALVE_T_INT, 0, NULL}, {NULL, 0, 0, NULL}};
	salve_action actions[] = {
	    {.name = "x", .kind = SALVE_READ, .args = dup_args, .run = (void *)1}, {.name = NULL}};
	salve_plugin d = {.name = "p", .actions = actions};
	char err[256];
	assert_int_equal(salve_descriptor_check(&d, "p.so", err, sizeof err), -1);
	assert_string_equal(err, "p.so: action x declares argument a twice");
	actions[0].args = NULL;
	actions[0].run = NULL;
	assert_int_equal(salve_descriptor_check(&d, "p.so", err, sizeof err), -1);
	assert_string_equal(err, "p.so: read action p.x has no run");
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_loader_refuses_bad_plugins),
	                                   cmocka_unit_test(test_world_writable_dir_is_refused),
	                                   cmocka_unit_test(test_descriptor_rules)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
