/* Running a runbook's steps: every call into Lua a run makes (see runbook.h). */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "luajson.h"
#include "redact.h"
#include "runbook_lua.h"

int salve_step_has(const salve_step *st, enum salve_step_fn fn)
{
	return st->fn[fn] != LUA_NOREF;
}

const salve_step *salve_runbook_step(const salve_runbook *rb, const char *name, size_t *index)
{
	for (size_t i = 0; rb && name && i < rb->nsteps; i++)
		if (strcmp(rb->steps[i].name, name) == 0) {
			if (index)
				*index = i;
			return &rb->steps[i];
		}
	return NULL;
}

struct run_start {
	salve_runbook *rb;
	const json_t *params;
	const salve_run_facts *facts;
};

/* Inside lua_pcall: p and s for the run, and the run's facts on the salve table (raw, on the
 * table this module made, whatever the runbook did to the global). */
static int begin_run_protected(lua_State *L)
{
	struct run_start *r = lua_touserdata(L, 1);
	salve_runbook *rb = r->rb;
	salve_json_to_lua(L, r->params);
	rb->p_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_newtable(L);
	rb->s_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_rawgeti(L, LUA_REGISTRYINDEX, rb->salve_ref);
	if (!lua_istable(L, -1))
		return 0;
	lua_pushliteral(L, "dry_run");
	lua_pushboolean(L, r->facts->dry_run);
	lua_rawset(L, -3);
	lua_pushliteral(L, "drill");
	lua_pushboolean(L, r->facts->drill);
	lua_rawset(L, -3);
	lua_pushliteral(L, "run_id");
	lua_pushstring(L, r->facts->run_id);
	lua_rawset(L, -3);
	lua_pushliteral(L, "trigger");
	lua_pushstring(L, r->facts->trigger);
	lua_rawset(L, -3);
	return 0;
}

int salve_runbook_begin_run(salve_runbook *rb, const salve_step_hooks *hooks, void *ctx,
                            const json_t *params, const salve_run_facts *facts)
{
	rb->hooks = hooks;
	rb->hooks_ctx = ctx;
	lua_State *L = rb->L;
	int base = lua_gettop(L);
	struct run_start r = {rb, params, facts};
	lua_pushcfunction(L, begin_run_protected);
	lua_pushlightuserdata(L, &r);
	int rc = lua_pcall(L, 1, 0, 0);
	if (rc != LUA_OK) {
		luaL_unref(L, LUA_REGISTRYINDEX, rb->p_ref);
		luaL_unref(L, LUA_REGISTRYINDEX, rb->s_ref);
		rb->p_ref = rb->s_ref = LUA_NOREF;
	}
	lua_settop(L, base);
	return rc == LUA_OK ? 0 : -1;
}

void salve_runbook_end_run(salve_runbook *rb)
{
	luaL_unref(rb->L, LUA_REGISTRYINDEX, rb->p_ref);
	luaL_unref(rb->L, LUA_REGISTRYINDEX, rb->s_ref);
	rb->p_ref = rb->s_ref = LUA_NOREF;
	rb->hooks = NULL;
	rb->hooks_ctx = NULL;
}

struct step_call {
	salve_runbook *rb;
	const salve_step *st;
	enum salve_step_fn fn;
	int truthy;
};

/* Inside the outer lua_pcall: every access to p and s is raw (a runbook may give them
 * metatables), and what raises (memory) is caught by that pcall. */
static int call_protected(lua_State *L)
{
	struct step_call *c = lua_touserdata(L, 1);
	salve_runbook *rb = c->rb;
	lua_settop(L, 0);
	lua_pushcfunction(L, salve_lua_traceback);
	lua_rawgeti(L, LUA_REGISTRYINDEX, c->st->fn[c->fn]);
	lua_rawgeti(L, LUA_REGISTRYINDEX, rb->p_ref);
	lua_rawgeti(L, LUA_REGISTRYINDEX, rb->s_ref);
	int nargs = 2;
	if (c->fn == SALVE_FN_VERIFY) {
		lua_pushstring(L, c->st->name);
		lua_rawget(L, -2);
		nargs = 3;
	}
	if (lua_pcall(L, nargs, 1, 1) != LUA_OK)
		return lua_error(L);
	c->truthy = lua_isnil(L, -1) ? SALVE_CALL_NIL : lua_toboolean(L, -1);
	if (c->fn == SALVE_FN_RUN) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, rb->s_ref);
		lua_pushstring(L, c->st->name);
		lua_pushvalue(L, -3);
		lua_rawset(L, -3);
	}
	return 0;
}

int salve_runbook_call(salve_runbook *rb, size_t step, enum salve_step_fn fn, char *err,
                       size_t errlen, char **traceback)
{
	if (rb->p_ref == LUA_NOREF) {
		snprintf(err, errlen,
		         "the run's params could not be handed to Lua (not enough memory)");
		return -1;
	}
	lua_State *L = rb->L;
	int base = lua_gettop(L);
	struct step_call c = {rb, &rb->steps[step], fn, 0};
	lua_pushcfunction(L, call_protected);
	lua_pushlightuserdata(L, &c);
	int truthy = -1;
	if (lua_pcall(L, 1, 0, 0) == LUA_OK) {
		truthy = c.truthy;
	} else {
		const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
		char full[8192];
		snprintf(full, sizeof full, "%s", msg ? msg : "error object is not a string");
		char *tb = strstr(full, "\nstack traceback:");
		if (tb) {
			if (traceback)
				*traceback = salve_redact_dup(tb + 1);
			*tb = '\0';
		}
		salve_redact_string(full, err, errlen);
	}
	lua_settop(L, base);
	return truthy;
}

struct step_result {
	salve_runbook *rb;
	const char *step;
	json_t *value; /* new reference, or NULL */
	char *why;
	size_t whylen;
};

/* s[step] as JSON, inside lua_pcall: pushing the key may need memory. Raw access: a
 * runbook's metamethods do not run here. */
static int step_result_protected(lua_State *L)
{
	struct step_result *r = lua_touserdata(L, 1);
	lua_rawgeti(L, LUA_REGISTRYINDEX, r->rb->s_ref);
	lua_pushstring(L, r->step);
	lua_rawget(L, -2);
	if (!lua_isnil(L, -1))
		r->value = salve_lua_to_json(L, -1, r->why, r->whylen);
	else
		r->why[0] = '\0';
	return 0;
}

json_t *salve_runbook_step_result(salve_runbook *rb, size_t step, char *why, size_t whylen)
{
	snprintf(why, whylen, "s[step] could not be read");
	if (rb->s_ref == LUA_NOREF)
		return NULL;
	lua_State *L = rb->L;
	struct step_result r = {rb, rb->steps[step].name, NULL, why, whylen};
	lua_pushcfunction(L, step_result_protected);
	lua_pushlightuserdata(L, &r);
	if (lua_pcall(L, 1, 0, 0) != LUA_OK)
		lua_pop(L, 1);
	return r.value;
}

struct restore {
	salve_runbook *rb;
	const json_t *results;
};

static int restore_protected(lua_State *L)
{
	struct restore *r = lua_touserdata(L, 1);
	lua_rawgeti(L, LUA_REGISTRYINDEX, r->rb->s_ref);
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)r->results, k, v)
	{
		lua_pushstring(L, k);
		salve_json_to_lua(L, v);
		lua_rawset(L, -3);
	}
	return 0;
}

void salve_runbook_restore_results(salve_runbook *rb, const json_t *results)
{
	if (rb->s_ref == LUA_NOREF)
		return;
	lua_State *L = rb->L;
	struct restore r = {rb, results};
	lua_pushcfunction(L, restore_protected);
	lua_pushlightuserdata(L, &r);
	if (lua_pcall(L, 1, 0, 0) != LUA_OK)
		lua_pop(L, 1);
}
