/* The one bridge between Lua values and JSON values: only nil, booleans, numbers, strings and
 * tables cross; functions, userdata and threads are refused with a reason. Runs on the
 * calling Lua state's thread. */
#ifndef SALVE_LUAJSON_H
#define SALVE_LUAJSON_H

#include <jansson.h>
#include <lua.h>
#include <stddef.h>

/* The value at idx as a new JSON reference, or NULL with the reason in err ("field
 * 'hosts[2]': cannot pass a function"). Tables with keys 1..n only become arrays; an empty
 * table becomes {}. Reads raw (no metamethod runs, whatever the runbook set) and never raises
 * a Lua error. */
json_t *salve_lua_to_json(lua_State *L, int idx, char *err, size_t errlen);

/* Pushes v as a Lua value (null becomes nil), as fresh tables without metatables. May raise a
 * Lua memory error: call it only inside a protected call (a C function run by lua_pcall). */
void salve_json_to_lua(lua_State *L, const json_t *v);

#endif
