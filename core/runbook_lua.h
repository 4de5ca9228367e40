/*
 * Private to the runbook module (runbook.c, runbook_call.c): the Lua side shared by loading
 * a runbook and running its steps. Nothing outside the module includes it.
 */
#ifndef SALVE_RUNBOOK_LUA_H
#define SALVE_RUNBOOK_LUA_H

#include <lua.h>

#include "runbook.h"

/* The runbook a Lua state belongs to (kept in its extra space). */
salve_runbook *salve_runbook_of(lua_State *L);

/* A lua_CFunction for lua_pcall's message handler: the error (whatever its type; a
 * __tostring that fails is not called twice) with a traceback. */
int salve_lua_traceback(lua_State *L);

#endif
