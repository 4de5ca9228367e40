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
	assert_string_equal(err,
	                    "rb.lua:3: testkit.get: unknown argument 'colour' (it takes: key)");
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

/* The messages of salve_lint_all, one per line of the result, for exact comparison. */
static char *all(const char *src)
{
	json_t *found = salve_lint_all(src, strlen(src), "rb.lua", reg, NULL);
	size_t cap = 8192, used = 0;
	char *out = calloc(1, cap);
	size_t i;
	json_t *f;
	json_array_foreach(found, i, f)
	{
		int line = (int)json_integer_value(json_object_get(f, "line"));
		used += (size_t)snprintf(out + used, cap - used, "%d|%s\n", line,
		                         json_string_value(json_object_get(f, "message")));
	}
	json_decref(found);
	return out;
}

#define EXPECT_ALL(src, want)                                                                      \
	do {                                                                                       \
		char *got_ = all(src);                                                             \
		assert_string_equal(got_, want);                                                   \
		free(got_);                                                                        \
	} while (0)

/* Every mistake is found, sorted by line; salve_lint (the load path) gives the first. */
static void test_reports_all_sorted(void **state)
{
	(void)state;
	setenv("SALVE_TESTKIT_DIR", tu_path("kit"), 1);
	reg = tu_registry(0);
	const char *src = HEAD "step 'a' {\n"
	                       "  run = function()\n"
	                       "    kit.set{ value = 'v',\n"
	                       "             key = 'k', colour = 'red' }\n"
	                       "    kit.sett{ key = 'a' }\n"
	                       "  end }\n"
	                       "kit.sleep{ seconds = 'ten' }\n"
	                       "kit.gett{}\n";
	EXPECT_ALL(src,
	           "5|rb.lua:5: testkit.set: unknown argument 'colour' (it takes: key, value, "
	           "fail_apply, fail_undo, pause_after, pause_before)\n"
	           "6|rb.lua:6: plugin testkit has no action 'sett' (it has: get, set, drop, fail, "
	           "sleep, notify, leak)\n"
	           "8|rb.lua:8: testkit.sleep: argument 'seconds' must be number, got string\n"
	           "9|rb.lua:9: plugin testkit has no action 'gett' (it has: get, set, drop, fail, "
	           "sleep, notify, leak)\n");
	char err[512];
	assert_int_equal(lint(src, err), -1);
	assert_string_equal(err, "rb.lua:5: testkit.set: unknown argument 'colour' (it takes: key, "
	                         "value, fail_apply, fail_undo, pause_after, pause_before)");
	/* A missing argument is reported at the call, before a later line's mistake. */
	EXPECT_ALL(HEAD "kit.set{ key = 'a',\n bogus = 1 }\n",
	           "2|rb.lua:2: testkit.set: missing required argument 'value' (string)\n"
	           "3|rb.lua:3: testkit.set: unknown argument 'bogus' (it takes: key, value, "
	           "fail_apply, fail_undo, pause_after, pause_before)\n");
	EXPECT_ALL(HEAD "kit.get{ key = 'a' }\n", "");
	salve_registry_free(reg);
	tu_cleanup();
}

/* Calls the engine would refuse in a step's when, check and verify, found where they stand. */
static void test_step_function_calls(void **state)
{
	(void)state;
	setenv("SALVE_TESTKIT_DIR", tu_path("kit"), 1);
	reg = tu_registry(0);
	EXPECT_ALL(HEAD
	           "step 'a' {\n"
	           "  when = function() return kit.get{ key = 'a' } end,\n"
	           "  check = function(p)\n"
	           "    if p.x then kit.set{ key = 'a', value = 'b' } end\n"
	           "    return kit.notify{ text = 'x' }\n"
	           "  end,\n"
	           "  run = function() kit.set{ key = 'a', value = 'b' } end,\n"
	           "  verify = function()\n"
	           "    kit.notify{ text = 'done' }\n"
	           "    kit.drop{ key = 'a' }\n"
	           "    return true\n"
	           "  end,\n"
	           "  rollback = function() kit.drop{ key = 'a' } end,\n"
	           "}\n"
	           "step('b') { when = function() return kit:set{ key = 'a', value = 'b' } end,\n"
	           "  run = function() end }\n",
	           "5|rb.lua:5: testkit.set is a mutate action: only read actions may run in a "
	           "step's check\n"
	           "6|rb.lua:6: testkit.notify is a notify action: only read actions may run in a "
	           "step's check\n"
	           "11|rb.lua:11: testkit.drop changes things: verify may only read and notify\n"
	           "16|rb.lua:16: testkit.set is a mutate action: only read actions may run in a "
	           "step's when\n");
	/* A helper defined elsewhere and a function value by name are not judged. */
	EXPECT_ALL(HEAD "local function fix() kit.set{ key = 'a', value = 'b' } end\n"
	                "step 'a' { check = fix, run = fix }\n",
	           "");
	salve_registry_free(reg);
	tu_cleanup();
}

static void test_sandbox_globals(void **state)
{
	(void)state;
	reg = tu_registry(1);
	EXPECT_ALL("runbook { name = 'x' }\n"
	           "local f = io.open('/etc/passwd')\n"
	           "step 'a' { run = function()\n"
	           "  local t = os.time() + os.clock()\n"
	           "  os.execute('reboot')\n"
	           "  local json = require('json')\n"
	           "end }\n",
	           "2|rb.lua:2: io is not available: runbooks have no io, no require and of os "
	           "only os.time, os.clock, os.date and os.difftime: use a plugin\n"
	           "5|rb.lua:5: os.execute is not available: runbooks have no io, no require and "
	           "of os only os.time, os.clock, os.date and os.difftime: use a plugin\n"
	           "6|rb.lua:6: require is not available: runbooks have no io, no require and of "
	           "os only os.time, os.clock, os.date and os.difftime: use a plugin\n");
	/* A local of that name, a field and a table key are something else. */
	EXPECT_ALL("local io = { open = 1 }\nlocal x = io.open\nlocal t = { os = 1, require = 2 }\n"
	           "local y = t.io, t.require, s:os()\n",
	           "");
	salve_registry_free(reg);
}

static void test_param_defaults(void **state)
{
	(void)state;
	reg = tu_registry(1);
	EXPECT_ALL("runbook { name = 'x', params = {\n"
	           "  port = { type = 'int', default = \"eighty\" },\n"
	           "  ok_port = { type = 'int', default = '80' },\n"
	           "  ratio = { type = \"number\", default = true },\n"
	           "  fine = { type = 'number', default = 1.5 },\n"
	           "  half = { type = 'int', default = 0.5 },\n"
	           "  dry = { type = 'bool', default = 'yes' },\n"
	           "  wet = { type = 'bool', default = 'maybe' },\n"
	           "  name = { default = { 1 } },\n"
	           "  hosts = { type = 'list', default = 'a,b' },\n"
	           "  labels = { type = 'map', default = 5 },\n"
	           "  computed = { type = 'int', default = 40 + 2 },\n"
	           "  odd = { type = 'integer', default = 'x' },\n"
	           "} }\n",
	           "2|rb.lua:2: param port: default \"eighty\" is not a valid int (got string)\n"
	           "4|rb.lua:4: param ratio: default true is not a valid number (got boolean)\n"
	           "6|rb.lua:6: param half: default 0.5 is not a valid int (got number)\n"
	           "8|rb.lua:8: param wet: default 'maybe' is not a valid bool (got string)\n"
	           "9|rb.lua:9: param name: default {...} is not a valid string (got table)\n"
	           "11|rb.lua:11: param labels: default 5 is not a valid map (got integer)\n");
	salve_registry_free(reg);
}

static void test_notify_table(void **state)
{
	(void)state;
	reg = tu_registry(1);
	EXPECT_ALL("runbook { name = 'x',\n"
	           "  notify = { to = { 'slack:#ops', \"slak:#ops\" },\n"
	           "             on = { 'step_failed', \"rolledback\" },\n"
	           "             events = { 'start' }, page_on_incomplete = false },\n"
	           "}\n"
	           "runbook { name = 'y', notify = { to = 'email', on = 'success' } }\n"
	           "runbook { name = 'z', notify = { to = p.to, on = events } }\n",
	           "2|rb.lua:2: runbook{} notify to: unknown channel scheme in \"slak:#ops\" "
	           "(slack, teams, pagerduty, opsgenie, email, webhook)\n"
	           "3|rb.lua:3: runbook{} notify on: unknown event \"rolledback\" (start, "
	           "step_failed, rolled_back, rollback_incomplete, degraded, success)\n"
	           "4|rb.lua:4: runbook{} notify: unknown key 'events' (to, on, "
	           "page_on_incomplete)\n"
	           "6|rb.lua:6: runbook{} notify to: unknown channel scheme in \"email\" (slack, "
	           "teams, pagerduty, opsgenie, email, webhook)\n");
	salve_registry_free(reg);
}

/* Validate checks files that do not even load: every prefix of a runbook is read safely. */
static void test_truncated_sources(void **state)
{
	(void)state;
	setenv("SALVE_TESTKIT_DIR", tu_path("kit"), 1);
	reg = tu_registry(0);
	const char *src =
	    HEAD "runbook { name = 'x', params = { n = { type = 'int', default = 1 } },\n"
	         "  notify = { to = { 'slack:#a' }, on = 'start' } }\n"
	         "step('a') { check = function() return kit.get{ key = 'a' } end,\n"
	         "  run = function() kit.set({ key = 'a', value = [[v]] }) end }\n";
	for (size_t n = 0; n <= strlen(src); n++) {
		char *prefix = strndup(src, n);
		json_decref(salve_lint_all(prefix, n, "rb.lua", reg, NULL));
		free(prefix);
	}
	char *whole = all(src);
	assert_string_equal(whole, "");
	free(whole);
	salve_registry_free(reg);
	tu_cleanup();
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_finds_mistakes),
	                                   cmocka_unit_test(test_checks_literal_durations),
	                                   cmocka_unit_test(test_leaves_what_it_cannot_judge),
	                                   cmocka_unit_test(test_reports_all_sorted),
	                                   cmocka_unit_test(test_step_function_calls),
	                                   cmocka_unit_test(test_sandbox_globals),
	                                   cmocka_unit_test(test_param_defaults),
	                                   cmocka_unit_test(test_notify_table),
	                                   cmocka_unit_test(test_truncated_sources)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
