/* Loading runbooks: the sandbox, declarations, and errors that name file:line. */
#include <stdio.h>
#include <string.h>

#include "exitcodes.h"
#include "runbook.h"
#include "testutil.h"
#include "util.h"
#include "yamljson.h"

static salve_registry *reg;

static int setup(void **state)
{
	(void)state;
	reg = tu_registry(1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	salve_registry_free(reg);
	tu_cleanup();
	return 0;
}

static void expect_error(const char *lua, int code, const char *needle)
{
	const char *p = tu_path("rb.lua");
	tu_write(p, lua);
	int ec;
	char err[2048];
	salve_runbook *rb = salve_runbook_load(p, reg, &ec, err, sizeof err);
	if (rb)
		fail_msg("expected an error containing \"%s\"", needle);
	assert_int_equal(ec, code);
	if (!strstr(err, needle))
		fail_msg("expected \"%s\" in \"%s\"", needle, err);
}

static void test_load_errors(void **state)
{
	(void)state;
	expect_error("runbook { name = 'x' }\nstep 'a' { run = function() end \n",
	             SALVE_EXIT_INVALID_RUNBOOK, "rb.lua:3: '}' expected (to close '{' at line 2)");
	expect_error("runbook { name = 'x' }\nlocal k = plugin 'nosuchplugin'\n",
	             SALVE_EXIT_UNAVAILABLE, "rb.lua:2: plugin \"nosuchplugin\" not found");
	expect_error("runbook { name = 'x' }\nlocal k = plugin 'badabi'\n", SALVE_EXIT_UNAVAILABLE,
	             "not supported by this salve");
	expect_error("runbook { name = 'x' }\nlocal k = plugin 'testkit'\nlocal f = k.sett\n",
	             SALVE_EXIT_INVALID_RUNBOOK, "rb.lua:3: plugin testkit has no action 'sett'");
	expect_error("runbook { name = 'x', colour = 1 }\n", SALVE_EXIT_INVALID_RUNBOOK,
	             "rb.lua:1: runbook{}: unknown field 'colour'");
	expect_error("step 'a' { run = function() end }\n", SALVE_EXIT_INVALID_RUNBOOK,
	             "no runbook{ name = ... } declaration");
	expect_error("runbook { name = 'x' }\n", SALVE_EXIT_INVALID_RUNBOOK, "declares no steps");
	expect_error("runbook { name = 'x' }\nstep 'a' { run = function() end }\nstep 'a' { run = "
	             "function() end }\n",
	             SALVE_EXIT_INVALID_RUNBOOK,
	             "rb.lua:3: step \"a\" is declared twice (first at line 2)");
	expect_error("runbook { name = 'x' }\nstep 'a' { ron = function() end }\n",
	             SALVE_EXIT_INVALID_RUNBOOK, "rb.lua:2: step \"a\": unknown field 'ron'");
	expect_error("runbook { name = 'x', lock = 'k/{ns}' }\nstep 'a' { run = function() end }\n",
	             SALVE_EXIT_INVALID_RUNBOOK,
	             "lock \"k/{ns}\" uses {ns}, which is not a declared param");
	expect_error("runbook { name = 'x', params = { n = { type = 'integer' } } }\nstep 'a' { "
	             "run = function() end }\n",
	             SALVE_EXIT_INVALID_RUNBOOK, "param n: unknown type \"integer\"");
	/* F10: a timeout that is not a number of seconds can never mean "no deadline". */
	const char *bad_timeouts[] = {"0/0",   "math.huge", "-1",   "'nan'",
	                              "'inf'", "'0x10'",    "'1e3'"};
	for (size_t i = 0; i < sizeof bad_timeouts / sizeof *bad_timeouts; i++) {
		char lua[256];
		snprintf(lua, sizeof lua, "runbook { name = 'x', timeout = %s }\n",
		         bad_timeouts[i]);
		expect_error(lua, SALVE_EXIT_INVALID_RUNBOOK,
		             "runbook{} timeout must be a duration");
		snprintf(
		    lua, sizeof lua,
		    "runbook { name = 'x' }\nstep 'a' { run = function() end, timeout = %s }\n",
		    bad_timeouts[i]);
		expect_error(lua, SALVE_EXIT_INVALID_RUNBOOK, "timeout must be a duration");
	}
	expect_error("runbook { name = 'x' }\nlocal k = plugin 'testkit'\nk.get{ key = 'a' }\n",
	             SALVE_EXIT_INVALID_RUNBOOK,
	             "rb.lua:3: testkit.get: actions run only inside a step");
}

static void test_sandbox(void **state)
{
	(void)state;
	expect_error("runbook { name = 'x' }\nio.open('/etc/passwd')\n", SALVE_EXIT_INVALID_RUNBOOK,
	             "rb.lua:2: attempt to index a nil value (global 'io')");
	expect_error("runbook { name = 'x' }\nos.execute('true')\n", SALVE_EXIT_INVALID_RUNBOOK,
	             "attempt to call a nil value (field 'execute')");
	expect_error("runbook { name = 'x' }\nrequire('socket')\n", SALVE_EXIT_INVALID_RUNBOOK,
	             "attempt to call a nil value (global 'require')");
	expect_error("runbook { name = 'x' }\nlocal f = assert(load('\\27Lua\\84\\0', 'x', 'b'))\n",
	             SALVE_EXIT_INVALID_RUNBOOK, "attempt to load a binary chunk (mode is 't')");
	expect_error("runbook { name = 'x' }\nlocal t = {} for i = 1, 1e9 do t[i] = "
	             "string.rep('x', 2^20) .. i end\n",
	             SALVE_EXIT_INVALID_RUNBOOK, "not enough memory");
	/* Text chunks still load. */
	const char *p = tu_path("ok.lua");
	tu_write(p, "runbook { name = 'x' }\nlocal f = assert(load('return 1 + 1'))\nassert(f() == "
	            "2)\nstep 'a' { run = function() end }\n");
	int ec;
	char err[1024];
	salve_runbook *rb = salve_runbook_load(p, reg, &ec, err, sizeof err);
	assert_non_null(rb);
	salve_runbook_free(rb);
}

/* The audit's exploit (F1): bytecode through the real load, kept as a global. */
static void test_bytecode_exploit_is_refused(void **state)
{
	(void)state;
	const char *exploit =
	    "local bc=string.dump(function() local x=\"AAAAAAAA\" return x end,true)\n"
	    "local i=bc:find(\"\\3\\0\\0\\0\",1,true)\n"
	    "__salve_load(bc:sub(1,i-1)..\"\\3\\128\\255\\255\"..bc:sub(i+4),\"e\",\"b\")()\n";
	char text[2048];
	snprintf(text, sizeof text, "runbook { name = 'x' }\n%s", exploit);
	expect_error(text, SALVE_EXIT_INVALID_RUNBOOK,
	             "rb.lua:2: attempt to call a nil value (field 'dump')");
	/* Without string.dump, the global the exploit called is not there either. */
	snprintf(text, sizeof text, "runbook { name = 'x' }\nlocal bc, i = '\\27Lua', 1\n%s",
	         strstr(exploit, "__salve_load"));
	expect_error(text, SALVE_EXIT_INVALID_RUNBOOK,
	             "rb.lua:3: attempt to call a nil value (global '__salve_load')");
}

/* F3 (b): the top level runs under the caller's deadline and stops on a signal. */
static void test_top_level_has_a_deadline_and_stops_on_signals(void **state)
{
	(void)state;
	const char *p = tu_path("spin.lua");
	tu_write(p,
	         "runbook { name = 'x' }\nwhile true do end\nstep 'a' { run = function() end }\n");
	int ec;
	char err[1024];
	salve_load_options opt = {salve_now() + 0.2, NULL};
	assert_null(salve_runbook_load_with(p, reg, &opt, &ec, err, sizeof err));
	assert_int_equal(ec, SALVE_EXIT_ROLLED_BACK);
	assert_non_null(strstr(err, "spin.lua:2: the run's timeout passed while the runbook's top "
	                            "level was running: nothing was run"));
	static volatile sig_atomic_t cancel;
	cancel = 15;
	opt.deadline = 0;
	opt.cancel = &cancel;
	assert_null(salve_runbook_load_with(p, reg, &opt, &ec, err, sizeof err));
	assert_int_equal(ec, SALVE_EXIT_ROLLED_BACK);
	assert_non_null(strstr(err, "spin.lua:2: interrupted by signal 15 while the runbook's top "
	                            "level was running: nothing was run"));
}

static void test_params(void **state)
{
	(void)state;
	const char *p = tu_path("p.lua");
	tu_write(p,
	         "runbook { name = 'x', params = { ns = { required = true }, n = { type = 'int', "
	         "default = 2 },\n"
	         " f = { type = 'number' }, on = { type = 'bool' }, hosts = { type = 'list' } } }\n"
	         "step 'a' { run = function() end }\n");
	int ec;
	char err[1024];
	salve_runbook *rb = salve_runbook_load(p, reg, &ec, err, sizeof err);
	assert_non_null(rb);
	json_t *given = json_pack("{s:s, s:s, s:s, s:s}", "ns", "prod", "f", "0.5", "on", "yes",
	                          "hosts", "a,b");
	json_t *out = NULL;
	assert_int_equal(salve_runbook_params(rb, given, &out, err, sizeof err), 0);
	char *s = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(
	    s, "{\"f\":0.5,\"hosts\":[\"a\",\"b\"],\"n\":2,\"ns\":\"prod\",\"on\":true}");
	free(s);
	json_decref(out);
	json_object_set_new(given, "n", json_string("two"));
	assert_int_equal(salve_runbook_params(rb, given, &out, err, sizeof err), -1);
	assert_string_equal(err, "param n must be an integer, got \"two\"");
	json_object_del(given, "n");
	json_object_del(given, "ns");
	assert_int_equal(salve_runbook_params(rb, given, &out, err, sizeof err), -1);
	assert_string_equal(err, "missing required param 'ns' (string)");
	json_object_set_new(given, "nss", json_string("x"));
	assert_int_equal(salve_runbook_params(rb, given, &out, err, sizeof err), -1);
	assert_non_null(strstr(err, "unknown param 'nss'"));
	json_decref(given);
	salve_runbook_free(rb);
}

/* Fuzz finding 13 (tests/fuzz/corpus/params/bug-number-for-string-param.yaml): a YAML number
 * in a params file, given for a string param, became "1.23457" (%g keeps six digits). It is
 * now the shortest text that reads back as the same number. */
static void test_number_for_string_param_keeps_every_digit(void **state)
{
	(void)state;
	const char *p = tu_path("s.lua");
	tu_write(
	    p, "runbook { name = 'x', params = { host = { type = 'string', required = true } } }\n"
	       "step 'a' { run = function() end }\n");
	int ec;
	char err[1024];
	salve_runbook *rb = salve_runbook_load(p, reg, &ec, err, sizeof err);
	assert_non_null(rb);
	static const char *const cases[][2] = {
	    {"host: 1.2345678\n", "1.2345678"},
	    {"host: 0.1\n", "0.1"},
	    {"host: 3.0\n", "3"},
	    {"host: 1e300\n", "1e+300"},
	    {"host: 0.30000000000000004\n", "0.30000000000000004"},
	    {"host: -2.5e-7\n", "-2.5e-07"},
	    {"host: 9007199254740993\n", "9007199254740993"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		json_t *given = salve_yaml_load_string(cases[i][0], strlen(cases[i][0]),
		                                       "params.yaml", err, sizeof err);
		assert_non_null(given);
		json_t *out = NULL;
		assert_int_equal(salve_runbook_params(rb, given, &out, err, sizeof err), 0);
		assert_string_equal(json_string_value(json_object_get(out, "host")), cases[i][1]);
		json_decref(out);
		json_decref(given);
	}
	salve_runbook_free(rb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sandbox, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bytecode_exploit_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_top_level_has_a_deadline_and_stops_on_signals,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_params, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_number_for_string_param_keeps_every_digit, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
