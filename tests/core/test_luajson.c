#include <lauxlib.h>
#include <lualib.h>
#include <string.h>

#include "luajson.h"
#include "testutil.h"

static json_t *eval(lua_State *L, const char *expr, char *err)
{
	char code[512];
	snprintf(code, sizeof code, "return %s", expr);
	assert_int_equal(luaL_dostring(L, code), 0);
	json_t *v = salve_lua_to_json(L, -1, err, 256);
	lua_settop(L, 0);
	return v;
}

static void test_round_trip_and_refusals(void **state)
{
	(void)state;
	lua_State *L = luaL_newstate();
	luaL_openlibs(L);
	char err[256];
	json_t *v = eval(L, "{ a = 1, b = 2.5, c = 'x', d = { 'p', 'q' }, e = true, f = {} }", err);
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(
	    s, "{\"a\":1,\"b\":2.5,\"c\":\"x\",\"d\":[\"p\",\"q\"],\"e\":true,\"f\":{}}");
	free(s);
	salve_json_to_lua(L, v);
	lua_setglobal(L, "t");
	assert_int_equal(luaL_dostring(L, "assert(t.d[2] == 'q' and t.a == 1 and math.type(t.a) == "
	                                  "'integer' and t.e == true)"),
	                 0);
	json_decref(v);
	assert_null(eval(L, "{ a = { f = print } }", err));
	assert_string_equal(err, "a.f: cannot pass a function");
	assert_null(eval(L, "{ 1, 2, x = 3 }", err));
	assert_non_null(strstr(err, "mixes list entries and named fields"));
	assert_null(eval(L, "(function() local t = {} t.self = t return t end)()", err));
	assert_non_null(strstr(err, "nested deeper"));
	assert_null(eval(L, "'\\xff\\xfe'", err));
	assert_non_null(strstr(err, "not valid UTF-8"));
	lua_close(L);
}

/* A runbook's metatables never run during a conversion: salve_lua_to_json is called outside
 * any protected call, where an error would abort the process. */
static void test_metamethods_never_run(void **state)
{
	(void)state;
	lua_State *L = luaL_newstate();
	luaL_openlibs(L);
	char err[256];
	json_t *v =
	    eval(L,
	         "setmetatable({ 1, 2 }, { __index = function() error('index') end, __len = "
	         "function() error('len') end, __pairs = function() error('pairs') end })",
	         err);
	char *s = json_dumps(v, JSON_COMPACT);
	assert_string_equal(s, "[1,2]");
	free(s);
	json_decref(v);
	v = eval(
	    L,
	    "{ a = setmetatable({}, { __index = function() error('index') end, __tostring = "
	    "function() error('tostring') end }), n = setmetatable({ x = 'y' }, { __newindex = "
	    "function() error('newindex') end }) }",
	    err);
	s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"a\":{},\"n\":{\"x\":\"y\"}}");
	free(s);
	json_decref(v);
	assert_null(
	    eval(L, "{ f = setmetatable({}, { __call = function() end }), g = print }", err));
	assert_non_null(strstr(err, "g: cannot pass a function"));
	lua_close(L);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_round_trip_and_refusals),
	                                   cmocka_unit_test(test_metamethods_never_run)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
