#include "luajson.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 32

static json_t *convert(lua_State *L, int idx, int depth, const char *path, char *err,
                       size_t errlen);

static json_t *convert_table(lua_State *L, int idx, int depth, const char *path, char *err,
                             size_t errlen)
{
	if (depth > MAX_DEPTH) {
		snprintf(err, errlen, "%s: nested deeper than %d levels (a cycle?)", path,
		         MAX_DEPTH);
		return NULL;
	}
	if (!lua_checkstack(L, 4)) {
		snprintf(err, errlen, "%s: Lua stack exhausted", path);
		return NULL;
	}
	idx = lua_absindex(L, idx);
	lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
	lua_Integer count = 0;
	int only_sequence = 1;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		count++;
		if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1 || lua_tointeger(L, -2) > n)
			only_sequence = 0;
		lua_pop(L, 1);
	}
	if (count > 0 && only_sequence && count == n) {
		json_t *arr = json_array();
		for (lua_Integer i = 1; i <= n; i++) {
			char sub[512];
			snprintf(sub, sizeof sub, "%s[%lld]", path, (long long)i);
			lua_rawgeti(L, idx, i);
			json_t *v = convert(L, -1, depth + 1, sub, err, errlen);
			lua_pop(L, 1);
			if (!v) {
				json_decref(arr);
				return NULL;
			}
			json_array_append_new(arr, v);
		}
		return arr;
	}
	json_t *obj = json_object();
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			snprintf(err, errlen,
			         "%s: table mixes list entries and named fields, or has a "
			         "non-string key",
			         path);
			lua_pop(L, 2);
			json_decref(obj);
			return NULL;
		}
		const char *key = lua_tostring(L, -2);
		char sub[512];
		snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", key);
		json_t *v = convert(L, -1, depth + 1, sub, err, errlen);
		if (!v) {
			lua_pop(L, 2);
			json_decref(obj);
			return NULL;
		}
		json_object_set_new(obj, key, v);
		lua_pop(L, 1);
	}
	return obj;
}

static json_t *convert(lua_State *L, int idx, int depth, const char *path, char *err, size_t errlen)
{
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		return json_null();
	case LUA_TBOOLEAN:
		return json_boolean(lua_toboolean(L, idx));
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			return json_integer((json_int_t)lua_tointeger(L, idx));
		if (!isfinite(lua_tonumber(L, idx))) {
			snprintf(err, errlen, "%s: number is not finite", path[0] ? path : "value");
			return NULL;
		}
		return json_real(lua_tonumber(L, idx));
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, idx, &len);
		json_t *v = json_stringn(s, len);
		if (!v)
			snprintf(err, errlen, "%s: string is not valid UTF-8",
			         path[0] ? path : "value");
		return v;
	}
	case LUA_TTABLE:
		return convert_table(L, idx, depth, path, err, errlen);
	default:
		snprintf(err, errlen, "%s: cannot pass a %s", path[0] ? path : "value",
		         luaL_typename(L, idx));
		return NULL;
	}
}

json_t *salve_lua_to_json(lua_State *L, int idx, char *err, size_t errlen)
{
	return convert(L, idx, 0, "", err, errlen);
}

void salve_json_to_lua(lua_State *L, const json_t *v)
{
	luaL_checkstack(L, 3, "converting a result");
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		lua_createtable(L, 0, (int)json_object_size(v));
		const char *key;
		json_t *child;
		json_object_foreach((json_t *)v, key, child)
		{
			salve_json_to_lua(L, child);
			lua_setfield(L, -2, key);
		}
		break;
	}
	case JSON_ARRAY: {
		lua_createtable(L, (int)json_array_size(v), 0);
		size_t i;
		json_t *child;
		json_array_foreach(v, i, child)
		{
			salve_json_to_lua(L, child);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		break;
	}
	case JSON_STRING:
		lua_pushlstring(L, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		lua_pushinteger(L, (lua_Integer)json_integer_value(v));
		break;
	case JSON_REAL:
		lua_pushnumber(L, json_real_value(v));
		break;
	case JSON_TRUE:
		lua_pushboolean(L, 1);
		break;
	case JSON_FALSE:
		lua_pushboolean(L, 0);
		break;
	case JSON_NULL:
		lua_pushnil(L);
		break;
	}
}
