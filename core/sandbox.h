/*
 * The Lua environment a runbook sees: Lua 5.4's base, string, table, math, utf8 and coroutine
 * libraries and four os clock functions, with every function removed or guarded that could
 * reach outside the process, load bytecode, install finalizers, catch the run's own deadline,
 * or run unbounded inside C where the instruction hook cannot stop it. docs/architecture.md
 * ("Runbook sandbox") lists what a runbook can reach and why each entry is safe.
 *
 * Everything here runs on the thread that owns the lua_State.
 */
#ifndef SALVE_SANDBOX_H
#define SALVE_SANDBOX_H

#include <lua.h>
#include <stddef.h>

/* Memory a runbook's Lua state may hold (its allocator refuses more). */
#define SALVE_SANDBOX_MEMORY_LIMIT ((size_t)64 * 1024 * 1024)
/* Worst-case steps a pattern match (string.find, match, gmatch, gsub) may take. */
#define SALVE_PATTERN_BUDGET 1e8
/* Elements table.move may copy in one call. */
#define SALVE_SANDBOX_MAX_MOVE ((lua_Integer)1 << 24)

/* A lua_CFunction: opens the sandboxed libraries into the global table. Call it with
 * lua_pcall (it allocates). */
int salve_sandbox_open(lua_State *L);

/* Implemented by the runbook module: why the Lua code running on L must stop now (deadline
 * passed, run cancelled, state closing), or NULL. Never raises. */
const char *salve_runbook_interrupted(lua_State *L);

enum salve_pattern_op {
	SALVE_PATTERN_FIND,
	SALVE_PATTERN_MATCH,
	SALVE_PATTERN_GMATCH,
	SALVE_PATTERN_GSUB
};

/* Upper bound of the steps Lua's matcher may take for op with pattern p on subject s,
 * starting at byte offset init (the rule is in docs/architecture.md). Exposed for tests. */
double salve_pattern_cost(enum salve_pattern_op op, const char *s, size_t ls, size_t init,
                          const char *p, size_t lp);

#endif
