/* The pre-run check of plugin call sites. */
#include <stdlib.h>
#include <string.h>

#include "lint.h"
#include "testutil.h"

static salve_registry *reg;

static int lint(const char *src, char *err)
{
	return salve_lint(src, strlen(src), "rb.lua", reg, err, 512);
}

#define HEAD "local kit = plugin \"testkit\"\n"

static void test_finds_mistakes(void **state)
{
	(void)state;
	setenv("SALVE_TESTKIT_DIR", tu_path("kit"), 1);
	reg = tu_registry(0);
	char err[512];
	assert_int_equal(lint(HEAD "step 'a' { run = function() kit.sett{ key = 'a' } end }", err),
	                 -1);
	assert_string_equal(err, "rb.lua:2: plugin testkit has no action 'sett' (it has: get, set, "
	                         "drop, fail, sleep, notify, leak)");
	assert_int_equal(lint(HEAD "local x = 1\n\nkit:set{ key = 'a' }", err), -1);
	assert_string_equal(err,
	                    "rb.lua:4: testkit.set: missing required argument 'value' (string)");
	assert_int_equal(lint(HEAD "kit.set({ key = 'a', value = 1.5 })", err), -1);
	assert_string_equal(err,
	                    "rb.lua:2: testkit.set: argument 'value' must be string, got number");
	assert_int_equal(lint(HEAD "kit.sleep{ seconds = 'ten' }", err), -1);
	assert_string_equal(
	    err, "rb.lua:2: testkit.sleep: argument 'seconds' must be number, got string");
	assert_int_equal(lint(HEAD "kit.get{ key = 'a',\n  colour = 'red' }", err), -1);
	assert_string_equal(err, "rb.lua:3: testkit.get: unknown argument 'colour'");
	assert_int_equal(lint(HEAD "kit.set{ key = 'a', value = 'b', fail_apply = 'yes' }", err),
	                 -1);
	assert_non_null(strstr(err, "argument 'fail_apply' must be bool, got string"));
	salve_registry_free(reg);
	tu_cleanup();
}

static void test_leaves_what_it_cannot_judge(void **state)
{
	(void)state;
	setenv("SALVE_TESTKIT_DIR", tu_path("kit"), 1);
	reg = tu_registry(0);
	char err[512];
	/* Expressions, computed tables, strings and comments that look like calls. */
	assert_int_equal(
	    lint(HEAD
	         "kit.set{ key = p.k, value = tostring(1 + 2) }\n"
	         "kit.set(args)\n"
	         "kit.set{ key = 'a', value = 'b', [extra] = 1 }\n"
	         "local s = \"kit.sett{}\" -- kit.sett{}\n"
	         "--[[ kit.nope{} ]] local l = [==[ kit.nope{} ]==]\n"
	         "kit.set{ key = 'a', value = (function() return 'x' end)(), fail_undo = false }\n",
	         err),
	    0);
	/* A name bound to something else is not judged. */
	assert_int_equal(lint(HEAD "local function f(kit) return kit.whatever{} end", err), 0);
	assert_int_equal(lint("local x = 1\nx.y{}\n", err), 0);
	salve_registry_free(reg);
	tu_cleanup();
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_finds_mistakes),
	                                   cmocka_unit_test(test_leaves_what_it_cannot_judge)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
