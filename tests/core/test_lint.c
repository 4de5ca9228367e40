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

#define TYPED "local t = plugin \"typed\"\n"
#define DURATION_WANTED                                                                            \
	"must be a duration such as \"30s\", \"5m\", \"1h30m\" or a number of seconds, got "

/* Literal durations and secret references are checked as the core will check them. */
static void test_checks_literal_durations(void **state)
{
	(void)state;
	reg = tu_registry(1);
	char err[512];
	const char *good[] = {TYPED "t.wait{ timeout = '1h30m' }",
	                      TYPED "t.wait{ timeout = \"250ms\" }",
	                      TYPED "t.wait{ timeout = 90 }",
	                      TYPED "t.wait{ timeout = 1.5 }",
	                      TYPED "t.wait{ timeout = 0x10 }",
	                      TYPED "t.wait{ timeout = p.wait }",
	                      TYPED "t.wait{ timeout = '5' .. 'm' }",
	                      TYPED "t.wait{ timeout = '5m', token = 'env:T' }",
	                      NULL};
	for (size_t i = 0; good[i]; i++)
		if (lint(good[i], err) != 0)
			fail_msg("%s: %s", good[i], err);
	assert_int_equal(lint(TYPED "\nt.wait{ timeout = '5 minutes' }", err), -1);
	assert_string_equal(err, "rb.lua:3: typed.wait: argument 'timeout' " DURATION_WANTED
	                         "\"5 minutes\"");
	assert_int_equal(lint(TYPED "t:wait{ timeout = 4e8 }", err), -1); /* over ten years */
	assert_string_equal(err,
	                    "rb.lua:2: typed.wait: argument 'timeout' " DURATION_WANTED "4e+08");
	assert_int_equal(lint(TYPED "t.wait{ timeout = true }", err), -1);
	assert_string_equal(
	    err, "rb.lua:2: typed.wait: argument 'timeout' must be duration, got boolean");
	assert_int_equal(lint(TYPED "t.wait{ timeout = '1m', token = 'hunter2' }", err), -1);
	assert_string_equal(err,
	                    "rb.lua:2: typed.wait: argument 'token' must be a secret reference "
	                    "(env:NAME or file:/path), got a string of 7 bytes: inline secrets "
	                    "are refused");
	assert_int_equal(lint(TYPED "t.wait{}", err), -1);
	assert_string_equal(err, "rb.lua:2: typed.wait: missing required argument 'timeout' "
	                         "(duration)");
	salve_registry_free(reg);
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
	                                   cmocka_unit_test(test_checks_literal_durations),
	                                   cmocka_unit_test(test_leaves_what_it_cannot_judge)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
