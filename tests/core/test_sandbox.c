/* The runbook sandbox (core/sandbox.c): what a runbook can reach, and the guards on what it
 * reaches, exercised through a runbook's top-level code. */
#include <string.h>

#include "exitcodes.h"
#include "runbook.h"
#include "sandbox.h"
#include "testutil.h"
#include "util.h"

static salve_registry *reg;

static int setup(void **state)
{
	(void)state;
	setenv("SALVE_TESTKIT_DIR", tu_path("kit"), 1);
	reg = tu_registry(0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	salve_registry_free(reg);
	tu_cleanup();
	return 0;
}

/* Loads a runbook whose top level (from line 2) is body, with opt's deadline and cancel.
 * Returns the exit code; err holds the message. */
static int load_with(const char *body, const salve_load_options *opt, char *err, size_t errlen)
{
	const char *path = tu_path("rb.lua");
	char *text = NULL;
	if (asprintf(&text, "runbook { name = 'x' }\n%s\nstep 'a' { run = function() end }\n",
	             body) < 0)
		fail_msg("asprintf");
	tu_write(path, text);
	free(text);
	int code;
	salve_runbook *rb = salve_runbook_load_with(path, reg, opt, &code, err, errlen);
	salve_runbook_free(rb);
	return code;
}

static int load(const char *body, char *err, size_t errlen)
{
	return load_with(body, NULL, err, errlen);
}

static void expect_ok(const char *body)
{
	char err[4096];
	if (load(body, err, sizeof err) != SALVE_EXIT_OK)
		fail_msg("expected the top level to run, got: %s", err);
}

/* The top level fails with exactly "rb.lua:LINE: message". */
static void expect_error(const char *body, const char *message)
{
	char err[4096];
	assert_int_equal(load(body, err, sizeof err), SALVE_EXIT_INVALID_RUNBOOK);
	const char *text = strstr(err, "rb.lua:");
	if (!text || !strstr(text, ": ") || strcmp(strstr(text, ": ") + 2, message) != 0)
		fail_msg("expected \"rb.lua:N: %s\", got \"%s\"", message, err);
}

/* Everything a runbook can name: the table in docs/architecture.md lists the same. */
static void test_environment_is_exactly_the_documented_one(void **state)
{
	(void)state;
	char err[4096];
	assert_int_equal(
	    load("local out = {}\n"
	         "local function keys(t) local k = {} for n in pairs(t) do k[#k + 1] = "
	         "tostring(n) end table.sort(k) return k end\n"
	         "for _, g in ipairs(keys(_G)) do\n"
	         "  local v = _G[g]\n"
	         "  if type(v) == 'table' and g ~= '_G' then out[#out + 1] = g .. '{' .. "
	         "table.concat(keys(v), ',') .. '}' else out[#out + 1] = g end\n"
	         "end\n"
	         "error(table.concat(out, ' '), 0)",
	         err, sizeof err),
	    SALVE_EXIT_INVALID_RUNBOOK);
	assert_string_equal(
	    err,
	    "_G _VERSION assert coroutine{close,create,isyieldable,resume,running,status,wrap,"
	    "yield} degraded error getmetatable ipairs load log math{abs,acos,asin,atan,atan2,"
	    "ceil,cos,cosh,deg,exp,floor,fmod,frexp,huge,ldexp,log,log10,max,maxinteger,min,"
	    "mininteger,modf,pi,pow,rad,random,randomseed,sin,sinh,sqrt,tan,tanh,tointeger,type,"
	    "ult} next os{clock,date,difftime,time} pairs pcall plugin print rawequal rawget "
	    "rawlen rawset runbook salve{dry_run,version} secret select setmetatable sleep step "
	    "string{byte,char,find,format,gmatch,gsub,len,lower,match,pack,packsize,rep,"
	    "reverse,sub,unpack,upper} table{concat,insert,move,pack,remove,sort,unpack} "
	    "tonumber tostring type utf8{char,charpattern,codepoint,codes,len,offset} "
	    "wait_until xpcall");
	/* The metatables a runbook did not make are locked. */
	expect_ok("assert(getmetatable('') == false)\n"
	          "assert(getmetatable(plugin 'testkit') == false)\n"
	          "assert(not pcall(setmetatable, plugin 'testkit', {}))\n"
	          "assert(('x'):rep(3) == 'xxx')");
}

static void test_load_takes_text_only(void **state)
{
	(void)state;
	/* A binary chunk (Lua 5.4's signature) is refused whatever mode is asked for. */
	expect_ok(
	    "local f, e = load('\\27Lua\\84\\0\\25\\147\\r\\n\\26\\n', 'x', 'b')\n"
	    "assert(f == nil and e == 'attempt to load a binary chunk (mode is \\'t\\')', e)");
	expect_ok("assert(load('return 1 + 1')() == 2)\n"
	          "assert(load('return x', 'c', 't', { x = 7 })() == 7)\n"
	          "local parts = { 'return ', '40', ' + 2' }\n"
	          "assert(load(function() return table.remove(parts, 1) end)() == 42)");
}

static void test_setmetatable_installs_a_checked_copy(void **state)
{
	(void)state;
	expect_error("setmetatable({}, { __gc = function() end })",
	             "setmetatable: __gc finalizers are not available to runbooks (Lua runs them "
	             "where no deadline can stop them)");
	expect_error("setmetatable({}, { __mode = 'k' })",
	             "setmetatable: weak tables (__mode) are not available to runbooks");
	expect_error("setmetatable({}, { __call = {} })",
	             "setmetatable: __call must be a function, not a table");
	/* Adding __gc or a self-referencing __call to the table afterwards changes nothing: the
	 * object keeps the copy that was checked. */
	expect_ok("local mt = {}\nlocal t = setmetatable({}, mt)\n"
	          "mt.__gc = function() while true do end end\nmt.__call = t\n"
	          "local ok, e = pcall(t)\n"
	          "assert(not ok and e:find('attempt to call a table value'), e)\n"
	          "assert(getmetatable(t) == mt)");
	/* What runbooks use metatables for still works. */
	expect_ok("local C = {}\nC.__index = C\n"
	          "C.__tostring = function(o) return 'C(' .. o.n .. ')' end\n"
	          "C.__eq = function(a, b) return a.n == b.n end\n"
	          "function C.new(n) return setmetatable({ n = n }, C) end\n"
	          "function C:twice() return self.n * 2 end\n"
	          "local a, b = C.new(2), C.new(2)\n"
	          "assert(a:twice() == 4 and tostring(a) == 'C(2)' and a == b)\n"
	          "assert(getmetatable(a) == C)\n"
	          "setmetatable(a, nil)\nassert(getmetatable(a) == nil and a.twice == nil)\n"
	          "local p = setmetatable({}, { __metatable = 'mine', __call = function() return 5 "
	          "end })\n"
	          "assert(p() == 5 and getmetatable(p) == 'mine')\n"
	          "local ok, e = pcall(setmetatable, p, {})\n"
	          "assert(not ok and e == 'cannot change a protected metatable', e)");
}

static void test_huge_results_fail_cleanly(void **state)
{
	(void)state;
	expect_error("string.rep('x', 2^40)",
	             "string.rep: the result would be 1099511627776 bytes, more than a runbook may "
	             "hold (64 MiB)");
	/* Under the limit but more than is left: Lua's own memory error, caught. */
	expect_ok("local keep = string.rep('k', 16 * 2^20)\n"
	          "local ok, e = pcall(string.rep, 'x', 60 * 2^20)\n"
	          "assert(not ok and e == 'not enough memory', e)\n"
	          "assert(#keep == 16 * 2^20)");
	expect_ok("assert(string.rep('', 2^62) == '' and string.rep('', 2^62, '') == '')\n"
	          "assert(string.rep('ab', 3, ',') == 'ab,ab,ab' and string.rep('ab', 0) == '')");
}

static void test_table_functions_refuse_what_loops_in_c(void **state)
{
	(void)state;
	expect_error("table.insert(setmetatable({}, { __len = function() return 2^62 end }), 1, 1)",
	             "table.insert: a table whose metatable has __len is not accepted here (the "
	             "metamethod would run where the deadline cannot stop it)");
	expect_error("local chain = {} for i = 1, 100 do chain = setmetatable({}, { __index = "
	             "chain }) end\ntable.concat(chain, ',', 1, 2^40)",
	             "table.concat: a table whose metatable has __index is not accepted here (the "
	             "metamethod would run where the deadline cannot stop it)");
	expect_error("table.move({}, 1, 2^62, 2)",
	             "table.move: 4611686018427387904 elements are more than a runbook may move at "
	             "once (16777216)");
	expect_error("string.gsub('abc', '%w', setmetatable({}, { __index = { a = 'x' } }))",
	             "string.gsub: a table whose metatable has __index is not accepted here (the "
	             "metamethod would run where the deadline cannot stop it)");
	expect_ok(
	    "local t = { 3, 1, 2 }\ntable.insert(t, 1, 9)\ntable.insert(t, 4)\n"
	    "assert(table.remove(t, 1) == 9 and table.concat(t, ',') == '3,1,2,4')\n"
	    "table.sort(t)\nassert(table.concat(t, ',') == '1,2,3,4')\n"
	    "table.sort(t, function(a, b) return a > b end)\n"
	    "assert(table.concat(t, ',') == '4,3,2,1')\n"
	    "assert(table.concat(table.move(t, 1, 2, 1, {}), ',') == '4,3')\n"
	    "assert(select('#', table.unpack(t)) == 4)\n"
	    "local o = setmetatable({ 'a', 'b' }, { __tostring = function() return 'o' end })\n"
	    "assert(table.concat(o) == 'ab' and tostring(o) == 'o')\n"
	    "assert(string.gsub('abc', '%w', { a = 'x' }) == 'xbc')");
}

static void test_pattern_matching_is_bounded(void **state)
{
	(void)state;
	/* The audit's attack, by every way in. */
	const char *msg = "pattern \".-.-.-b\" is too costly for a 20000-byte subject (worst case "
	                  "about 4.8e+17 steps, the limit is 1e+08): anchor it with ^, use classes "
	                  "that cannot overlap what follows them (\"[^\\n]*\\n\" rather than "
	                  "\".-\\n\"), or match a smaller piece";
	const char *ways[] = {"string.rep('a', 20000):find('.-.-.-b')",
	                      "string.find(string.rep('a', 20000), '.-.-.-b')",
	                      "string.rep('a', 20000):match('.-.-.-b')",
	                      "string.rep('a', 20000):gmatch('.-.-.-b')",
	                      "string.rep('a', 20000):gsub('.-.-.-b', '')"};
	const char *fn[] = {"string.find", "string.find", "string.match", "string.gmatch",
	                    "string.gsub"};
	for (size_t i = 0; i < sizeof ways / sizeof *ways; i++) {
		char want[1024];
		snprintf(want, sizeof want, "%s: %s", fn[i], msg);
		expect_error(ways[i], want);
	}
	/* Idioms on large subjects keep working. */
	expect_ok("local s = string.rep('a line of text.\\n', 65536)\nassert(#s == 2^20)\n"
	          "local n = 0 for line in s:gmatch('[^\\n]+') do n = n + 1 end\n"
	          "assert(n == 65536)\n"
	          "local lines = 0 for line in s:gmatch('([^\\n]*)\\n') do lines = lines + 1 end\n"
	          "assert(lines == 65536)\n"
	          "assert(s:find('text.\\n', 1, true) == 11 and s:find('[', 1, true) == nil)\n"
	          "assert(select(2, s:gsub('%s+$', '')) == 1)\n"
	          "assert(s:match('^(%a+) (%a+)') == 'a')");
	expect_ok(
	    "local df = string.rep('/dev/sda1  41152736 30142784  8896520  78% /var\\n', 80)\n"
	    "assert(#df > 3000)\n"
	    "assert(df:match('(%d+)%%') == '78')\n"
	    "assert(df:match('^%s*(.-)%s*$'):sub(1, 9) == '/dev/sda1')");
	/* A plain search is linear whatever the needle (Lua's own is not). */
	expect_ok(
	    "local s = string.rep('a', 2^20) .. 'b'\n"
	    "local needle = string.rep('a', 2^16) .. 'b'\n"
	    "assert(s:find(needle, 1, true) == 2^20 - 2^16 + 1)\n"
	    "assert(s:find(needle, -2^16, true) == nil and s:find('b', -1, true) == 2^20 + 1)");
}

static void test_pattern_cost_rule(void **state)
{
	(void)state;
	const size_t n = 1 << 20;
	char *s = malloc(n);
	memset(s, 'a', n);
#define COST(op, pat) salve_pattern_cost(op, s, n, 0, pat, strlen(pat))
	/* A last quantifier expands once per match: linear. */
	assert_true(COST(SALVE_PATTERN_GMATCH, "[^\n]+") == 2.0 * n + 1);
	/* Anchored: one start. */
	assert_true(COST(SALVE_PATTERN_MATCH, "^a") == 1.0 + n);
	/* A quantifier followed by a class it cannot overlap gives nothing back: linear per
	 * start, here on runs of 'a' as long as the subject. */
	assert_true(COST(SALVE_PATTERN_FIND, "a*b") > SALVE_PATTERN_BUDGET);
	memset(s, 'x', n);
	assert_true(COST(SALVE_PATTERN_FIND, "a*b") < 8.0 * n);
	/* Overlapping quantifiers multiply. */
	assert_true(COST(SALVE_PATTERN_FIND, "x*x*y") > 1e17);
	assert_true(salve_pattern_cost(SALVE_PATTERN_FIND, s, n, n + 1, "x*x*y", 5) == 0);
#undef COST
	free(s);
}

/* Code that catches errors must not catch the deadline. */
static void test_deadline_cannot_be_caught(void **state)
{
	(void)state;
	const char *traps[] = {
	    "while true do pcall(function() while true do end end) end",
	    "xpcall(function() while true do end end, function() while true do end end)",
	    "while true do coroutine.resume(coroutine.create(function() while true do end end)) "
	    "end",
	    "while true do\n  local co = coroutine.create(function()\n"
	    "    local x <close> = setmetatable({}, { __close = function() while true do end end "
	    "})\n    coroutine.yield()\n  end)\n  coroutine.resume(co)\n  coroutine.close(co)\nend",
	    "coroutine.wrap(function() while true do end end)()",
	    "while true do load(function() while true do end end) end",
	};
	for (size_t i = 0; i < sizeof traps / sizeof *traps; i++) {
		char err[4096];
		salve_load_options opt = {salve_now() + 0.2, NULL};
		assert_int_equal(load_with(traps[i], &opt, err, sizeof err),
		                 SALVE_EXIT_ROLLED_BACK);
		if (!strstr(err, "the run's timeout passed while the runbook's top level was "
		                 "running: nothing was run"))
			fail_msg("%s: %s", traps[i], err);
	}
	/* A C comparator gives the hook no instruction to count: the guard asks between
	 * comparisons. (Too few instructions run here for the hook: the error comes from C,
	 * without file:line.) */
	static volatile sig_atomic_t cancel;
	cancel = 15;
	salve_load_options opt = {0, &cancel};
	char err[4096];
	assert_int_equal(load_with("table.sort({ 3, 1, 2 }, rawequal)", &opt, err, sizeof err),
	                 SALVE_EXIT_ROLLED_BACK);
	assert_string_equal(err, "interrupted by signal 15 while the runbook's top level was "
	                         "running: nothing was run");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_environment_is_exactly_the_documented_one, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_load_takes_text_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_setmetatable_installs_a_checked_copy, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_huge_results_fail_cleanly, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_table_functions_refuse_what_loops_in_c, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_pattern_matching_is_bounded, setup, teardown),
	    cmocka_unit_test(test_pattern_cost_rule),
	    cmocka_unit_test_setup_teardown(test_deadline_cannot_be_caught, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
