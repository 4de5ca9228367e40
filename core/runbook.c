#include "runbook.h"

#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "host.h"
#include "lint.h"
#include "luajson.h"
#include "redact.h"
#include "runbook_lua.h"
#include "sandbox.h"
#include "util.h"

#define HOOK_INSTRUCTIONS 1000

struct salve_embedded {
	const char *name;
	const char *text;
	size_t len;
};
const struct salve_embedded *salve_embedded_find(const char *name);

salve_runbook *salve_runbook_of(lua_State *L)
{
	return *(salve_runbook **)lua_getextraspace(L);
}

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	salve_runbook *rb = ud;
	size_t old = ptr ? osize : 0;
	if (nsize == 0) {
		free(ptr);
		rb->mem_used -= old;
		return NULL;
	}
	if (nsize > old && rb->mem_used + (nsize - old) > rb->mem_limit)
		return NULL;
	void *p = realloc(ptr, nsize);
	if (p)
		rb->mem_used = rb->mem_used - old + nsize;
	return p;
}

const char *salve_runbook_interrupted(lua_State *L)
{
	salve_runbook *rb = salve_runbook_of(L);
	if (rb->closing)
		return "the runbook's Lua state is being closed";
	if (rb->hooks)
		return rb->hooks->interrupt(rb->hooks_ctx);
	if (!rb->loading)
		return NULL;
	if (rb->load_cancel && *rb->load_cancel) {
		rb->load_stop = SALVE_LOAD_STOP_CANCEL;
		snprintf(rb->why, sizeof rb->why,
		         "interrupted by signal %d while the runbook's top level was running: "
		         "nothing was run",
		         (int)*rb->load_cancel);
		return rb->why;
	}
	if (rb->load_deadline > 0 && salve_now() > rb->load_deadline) {
		rb->load_stop = rb->load_deadline_is_callers ? SALVE_LOAD_STOP_DEADLINE
		                                             : SALVE_LOAD_STOP_BUDGET;
		if (rb->load_deadline_is_callers)
			snprintf(rb->why, sizeof rb->why,
			         "the run's timeout passed while the runbook's top level was "
			         "running: nothing was run");
		else
			snprintf(rb->why, sizeof rb->why,
			         "the runbook's top level did not finish within %.0f s (it should "
			         "only declare the runbook and its steps)",
			         SALVE_LOAD_TIMEOUT);
		return rb->why;
	}
	return NULL;
}

/* Every instruction-count tick: the hook is set once on the main thread, and coroutines
 * inherit it. */
static void count_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	const char *why = salve_runbook_interrupted(L);
	if (why) {
		luaL_where(L, 0); /* the line that was running */
		lua_pushstring(L, why);
		lua_concat(L, 2);
		lua_error(L);
	}
}

/* Reached only if a Lua error escapes every protected call, which the code never lets
 * happen: the state is unknown, so stop here rather than return into it. */
static int panic_handler(lua_State *L)
{
	const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "no message";
	salve_log(SALVE_LOG_ERROR, "internal error: a Lua error escaped protection: %s", msg);
	abort();
}

static int pcall_tostring(lua_State *L)
{
	luaL_tolstring(L, 1, NULL);
	return 1;
}

int salve_lua_traceback(lua_State *L)
{
	const char *msg;
	if (lua_type(L, 1) == LUA_TSTRING || lua_type(L, 1) == LUA_TNUMBER) {
		msg = lua_tostring(L, 1);
	} else {
		/* __tostring is runbook code: it may fail, and must not run while the error of
		 * an interruption is handled (Lua turns hooks off then). */
		msg = NULL;
		if (!salve_runbook_interrupted(L)) {
			lua_pushcfunction(L, pcall_tostring);
			lua_pushvalue(L, 1);
			if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING)
				msg = lua_tostring(L, -1);
		}
		if (!msg)
			msg =
			    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	}
	luaL_traceback(L, L, msg, 1);
	return 1;
}

static int l_log(lua_State *L)
{
	int n = lua_gettop(L);
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
		if (i < n)
			luaL_addchar(&b, ' ');
	}
	luaL_pushresult(&b);
	salve_runbook *rb = salve_runbook_of(L);
	salve_log(SALVE_LOG_INFO, "%s: %s", rb->name ? rb->name : rb->source, lua_tostring(L, -1));
	return 0;
}

static int l_degraded(lua_State *L)
{
	const char *msg = luaL_checkstring(L, 1);
	luaL_where(L, 1);
	char where[512], err[1024];
	snprintf(where, sizeof where, "%s", lua_tostring(L, -1));
	lua_pop(L, 1);
	salve_runbook *rb = salve_runbook_of(L);
	if (!rb->hooks) {
		snprintf(err, sizeof err, "%sdegraded() can only be called inside a step", where);
		return luaL_error(L, "%s", err);
	}
	if (rb->hooks->degraded(rb->hooks_ctx, where, msg, err, sizeof err) < 0)
		return luaL_error(L, "%s", err);
	return 0;
}

static int push_string(lua_State *L)
{
	lua_pushstring(L, lua_touserdata(L, 1));
	return 1;
}

static int l_secret(lua_State *L)
{
	const char *ref = luaL_checkstring(L, 1);
	struct salve_call call;
	memset(&call, 0, sizeof call);
	char *value = salve_host_table()->secret(&call, ref);
	if (!value)
		return luaL_error(L, "%s", call.error);
	/* The copy is wiped also when Lua runs out of memory pushing it. */
	lua_pushcfunction(L, push_string);
	lua_pushlightuserdata(L, value);
	int rc = lua_pcall(L, 1, 1, 0);
	memset(value, 0, strlen(value));
	free(value);
	if (rc != LUA_OK)
		return lua_error(L);
	return 1;
}

static int duration_field(lua_State *L, int idx, const char *what, double *out)
{
	if (lua_type(L, idx) == LUA_TNUMBER) {
		double v = lua_tonumber(L, idx);
		/* NaN fails every comparison: it can never pass for "no deadline". */
		if (v >= 0 && v <= SALVE_DURATION_MAX) {
			*out = v;
			return 0;
		}
	} else if (lua_type(L, idx) == LUA_TSTRING &&
	           salve_parse_duration(lua_tostring(L, idx), out) == 0) {
		return 0;
	}
	return luaL_error(L, "%s must be a duration such as \"30s\", \"5m\" or \"1h\"", what);
}

/* The step's hooks, or a Lua error: sleep() and wait_until() work only inside a step. */
static const salve_step_hooks *step_hooks_or_error(lua_State *L, const char *fn)
{
	salve_runbook *rb = salve_runbook_of(L);
	if (!rb->hooks)
		luaL_error(L, "%s() can only be called inside a step", fn);
	return rb->hooks;
}

/* sleep(d): waits d (a duration), bounded by the step's deadline; audited. */
static int l_sleep(lua_State *L)
{
	const salve_step_hooks *h = step_hooks_or_error(L, "sleep");
	double seconds;
	duration_field(L, 1, "sleep's argument", &seconds);
	salve_runbook *rb = salve_runbook_of(L);
	char err[512];
	int rc = h->pause(rb->hooks_ctx, seconds, err, sizeof err);
	h->audit(rb->hooks_ctx, json_pack("{s:s, s:f, s:s}", "event", "sleep", "seconds", seconds,
	                                  "outcome", rc < 0 ? "interrupted" : "slept"));
	if (rc < 0)
		return luaL_error(L, "sleep: %s", err);
	return 0;
}

/* wait_until{ timeout = "60s", every = "2s", fn = function() ... end }: calls fn until it
 * returns a true value (true is returned), at most timeout, every seconds apart, bounded by
 * the step's deadline. A condition not met in time is an error. Audited once. */
static int l_wait_until(lua_State *L)
{
	const salve_step_hooks *h = step_hooks_or_error(L, "wait_until");
	luaL_checktype(L, 1, LUA_TTABLE);
	double timeout = 0, every = 1;
	lua_getfield(L, 1, "timeout");
	if (lua_isnil(L, -1))
		return luaL_error(L,
		                  "wait_until needs timeout = \"60s\" (how long to wait at most)");
	duration_field(L, -1, "wait_until's timeout", &timeout);
	lua_getfield(L, 1, "every");
	if (!lua_isnil(L, -1))
		duration_field(L, -1, "wait_until's every", &every);
	if (lua_getfield(L, 1, "fn") != LUA_TFUNCTION)
		return luaL_error(L, "wait_until needs fn = function() ... end (the condition)");
	int fn = lua_gettop(L);
	salve_runbook *rb = salve_runbook_of(L);
	double t0 = salve_now();
	char err[512] = "";
	long tries = 0;
	const char *outcome = NULL;
	while (!outcome) {
		tries++;
		lua_pushvalue(L, fn);
		lua_call(L, 0, 1); /* an error in fn ends the wait: the step's pcall reports it */
		int met = lua_toboolean(L, -1);
		lua_pop(L, 1);
		double elapsed = salve_now() - t0;
		if (met)
			outcome = "met";
		else if (elapsed + every > timeout)
			outcome = "timed_out";
		else if (h->pause(rb->hooks_ctx, every, err, sizeof err) < 0)
			outcome = "interrupted";
	}
	double elapsed = salve_now() - t0;
	h->audit(rb->hooks_ctx,
	         json_pack("{s:s, s:s, s:I, s:f, s:f}", "event", "wait_until", "outcome", outcome,
	                   "tries", (json_int_t)tries, "seconds", elapsed, "timeout", timeout));
	if (strcmp(outcome, "timed_out") == 0) {
		snprintf(err, sizeof err,
		         "wait_until: the condition was not met within %g s (%ld tries)", timeout,
		         tries);
		return luaL_error(L, "%s", err);
	}
	if (strcmp(outcome, "interrupted") == 0)
		return luaL_error(L, "wait_until: %s", err);
	lua_pushboolean(L, 1);
	return 1;
}

static const char *const param_types[] = {"string", "int", "number", "bool", "list", "map", NULL};

static int l_runbook(lua_State *L)
{
	salve_runbook *rb = salve_runbook_of(L);
	luaL_checktype(L, 1, LUA_TTABLE);
	if (rb->declared)
		return luaL_error(L, "runbook{} is declared twice");
	rb->declared = 1;
	lua_pushnil(L);
	while (lua_next(L, 1)) {
		const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
		if (strcmp(key, "name") == 0) {
			if (lua_type(L, -1) != LUA_TSTRING)
				return luaL_error(L, "runbook{} name must be a string");
			rb->name = strdup(lua_tostring(L, -1));
		} else if (strcmp(key, "description") == 0) {
			rb->description = strdup(luaL_checkstring(L, -1));
		} else if (strcmp(key, "lock") == 0) {
			if (lua_type(L, -1) != LUA_TSTRING)
				return luaL_error(
				    L,
				    "runbook{} lock must be a string such as \"k8s/{namespace}\"");
			rb->lock = strdup(lua_tostring(L, -1));
		} else if (strcmp(key, "notify") == 0) {
			char err[512];
			json_t *n = salve_lua_to_json(L, -1, err, sizeof err);
			if (!json_is_object(n)) {
				json_decref(n);
				return luaL_error(L,
				                  "runbook{} notify must be a table such as { to = "
				                  "\"slack:#ops\", on = { \"step_failed\" } }");
			}
			json_decref(rb->notify);
			rb->notify = n;
		} else if (strcmp(key, "timeout") == 0) {
			duration_field(L, -1, "runbook{} timeout", &rb->timeout);
		} else if (strcmp(key, "params") == 0) {
			char err[512];
			json_t *spec = salve_lua_to_json(L, -1, err, sizeof err);
			if (!spec)
				return luaL_error(L, "runbook{} params: %s", err);
			if (!json_is_object(spec)) {
				json_decref(spec);
				return luaL_error(
				    L, "runbook{} params must be a table of name = {...}");
			}
			const char *pname;
			json_t *p;
			json_object_foreach(spec, pname, p)
			{
				char msg[512] = "";
				if (!json_is_object(p))
					snprintf(msg, sizeof msg,
					         "param %s: must be a table such as { type = "
					         "\"string\", required = true }",
					         pname);
				const char *type =
				    msg[0] ? "string"
				           : json_string_value(json_object_get(p, "type"));
				if (!type)
					json_object_set_new(p, "type",
					                    json_string(type = "string"));
				int known = 0;
				for (size_t i = 0; param_types[i]; i++)
					known |= strcmp(type, param_types[i]) == 0;
				if (!known)
					snprintf(msg, sizeof msg,
					         "param %s: unknown type \"%s\" (string, int, "
					         "number, bool, list, map)",
					         pname, type);
				if (msg[0]) {
					json_decref(spec);
					return luaL_error(L, "%s", msg);
				}
			}
			json_decref(rb->params_spec);
			rb->params_spec = spec;
		} else {
			return luaL_error(L,
			                  "runbook{}: unknown field '%s' (name, description, "
			                  "params, lock, timeout, notify)",
			                  key);
		}
		lua_pop(L, 1);
	}
	if (!rb->name)
		return luaL_error(L, "runbook{} needs a name");
	return 0;
}

static int push_json(lua_State *L)
{
	salve_json_to_lua(L, lua_touserdata(L, 1));
	return 1;
}

/* Pushes v and drops the reference, also when Lua runs out of memory on the way. */
static int push_json_and_free(lua_State *L, json_t *v)
{
	lua_pushcfunction(L, push_json);
	lua_pushlightuserdata(L, v);
	int rc = lua_pcall(L, 1, 1, 0);
	json_decref(v);
	if (rc != LUA_OK)
		return lua_error(L);
	return 1;
}

/* plugin_proxy.action(...) */
static int l_action(lua_State *L)
{
	salve_runbook *rb = salve_runbook_of(L);
	salve_loaded_plugin *p = lua_touserdata(L, lua_upvalueindex(1));
	const salve_action *a = lua_touserdata(L, lua_upvalueindex(2));
	int argi = 1;
	/* k8s:get{...} passes the proxy first. */
	if (lua_istable(L, 1) && luaL_getmetafield(L, 1, "__salve_proxy") != LUA_TNIL) {
		lua_pop(L, 1);
		argi = 2;
	}
	luaL_where(L, 1);
	char where[512];
	snprintf(where, sizeof where, "%s", lua_tostring(L, -1));
	lua_pop(L, 1);
	size_t wl = strlen(where);
	while (wl && where[wl - 1] == ' ')
		where[--wl] = '\0';
	json_t *args;
	char err[4096];
	if (lua_isnoneornil(L, argi)) {
		args = json_object();
	} else if (!lua_istable(L, argi)) {
		return luaL_error(L, "%s.%s takes a table of arguments, e.g. %s.%s{ name = \"x\" }",
		                  p->desc.name, a->name, p->desc.name, a->name);
	} else {
		args = salve_lua_to_json(L, argi, err, sizeof err);
		if (!args)
			return luaL_error(L, "%s.%s: argument %s", p->desc.name, a->name, err);
		if (!json_is_object(args)) {
			json_decref(args);
			return luaL_error(L,
			                  "%s.%s takes named arguments (name = value), not a list",
			                  p->desc.name, a->name);
		}
	}
	json_t *result = NULL;
	int rc = -1;
	if (rb->hooks)
		rc = rb->hooks->action(rb->hooks_ctx, p, a, args, where, &result, err, sizeof err);
	else
		snprintf(err, sizeof err, "%s %s.%s: actions run only inside a step's functions",
		         where, p->desc.name, a->name);
	json_decref(args);
	if (rc < 0) {
		lua_pushstring(L, err);
		return lua_error(L);
	}
	return push_json_and_free(L, result);
}

static int l_proxy_index(lua_State *L)
{
	salve_loaded_plugin *p = lua_touserdata(L, lua_upvalueindex(1));
	const char *name = luaL_checkstring(L, 2);
	const salve_action *a = salve_plugin_action(p, name);
	if (!a) {
		char known[1024] = "";
		for (size_t i = 0; i < p->nactions; i++) {
			size_t used = strlen(known);
			snprintf(known + used, sizeof known - used, "%s%s", used ? ", " : "",
			         p->desc.actions[i].name);
		}
		return luaL_error(L, "plugin %s has no action '%s' (it has: %s)", p->desc.name,
		                  name, known);
	}
	lua_pushlightuserdata(L, p);
	lua_pushlightuserdata(L, (void *)a);
	lua_pushcclosure(L, l_action, 2);
	if (lua_istable(L, 1)) { /* cache on the proxy */
		lua_pushvalue(L, 2);
		lua_pushvalue(L, -2);
		lua_rawset(L, 1);
	}
	return 1;
}

static int l_plugin(lua_State *L)
{
	salve_runbook *rb = salve_runbook_of(L);
	const char *name = luaL_checkstring(L, 1);
	enum salve_registry_error why;
	char err[2048];
	salve_loaded_plugin *p = salve_registry_get(rb->reg, name, 0, &why, err, sizeof err);
	if (!p) {
		rb->plugin_error = 1;
		return luaL_error(L, "%s", err);
	}
	int seen = 0;
	size_t i;
	json_t *v;
	json_array_foreach(rb->plugins, i, v) seen |= strcmp(json_string_value(v), name) == 0;
	if (!seen)
		json_array_append_new(rb->plugins, json_string(name));
	lua_newtable(L);
	/* Each proxy has its own metatable: __index finds actions of this plugin. */
	lua_newtable(L);
	lua_pushlightuserdata(L, p);
	lua_pushcclosure(L, l_proxy_index, 1);
	lua_setfield(L, -2, "__index");
	lua_pushfstring(L, "plugin %s", name);
	lua_setfield(L, -2, "__name");
	lua_pushboolean(L, 1);
	lua_setfield(L, -2, "__salve_proxy");
	lua_pushboolean(L, 0); /* getmetatable(proxy) is false; setmetatable refuses it */
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	return 1;
}

static const char *const step_fields[] = {"when",    "check",       "run",     "verify", "rollback",
                                          "timeout", "description", "approve", NULL};

static int l_step_define(lua_State *L)
{
	salve_runbook *rb = salve_runbook_of(L);
	const char *name = lua_tostring(L, lua_upvalueindex(1));
	int line = (int)lua_tointeger(L, lua_upvalueindex(2));
	if (!lua_istable(L, 1))
		return luaL_error(
		    L, "step \"%s\" needs a table: step \"%s\" { run = function(p) ... end }", name,
		    name);
	lua_pushnil(L);
	while (lua_next(L, 1)) {
		const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
		int known = 0;
		for (size_t i = 0; step_fields[i]; i++)
			known |= strcmp(key, step_fields[i]) == 0;
		if (!known)
			return luaL_error(L,
			                  "step \"%s\": unknown field '%s' (when, check, run, "
			                  "verify, rollback, timeout, description, approve)",
			                  name, key);
		lua_pop(L, 1);
	}
	salve_step st;
	memset(&st, 0, sizeof st);
	st.line = line;
	int *refs[] = {&st.fn[SALVE_FN_WHEN], &st.fn[SALVE_FN_CHECK], &st.fn[SALVE_FN_RUN],
	               &st.fn[SALVE_FN_VERIFY], &st.fn[SALVE_FN_ROLLBACK]};
	const char *names[] = {"when", "check", "run", "verify", "rollback"};
	for (size_t i = 0; i < 5; i++) {
		*refs[i] = LUA_NOREF;
		lua_getfield(L, 1, names[i]);
		if (lua_isfunction(L, -1)) {
			*refs[i] = luaL_ref(L, LUA_REGISTRYINDEX);
			continue;
		}
		if (i == 4 && lua_isboolean(L, -1) && !lua_toboolean(L, -1)) {
			st.rollback_disabled = 1;
		} else if (!lua_isnil(L, -1)) {
			for (size_t k = 0; k < i; k++)
				if (*refs[k] != LUA_NOREF)
					luaL_unref(L, LUA_REGISTRYINDEX, *refs[k]);
			return luaL_error(L, "step \"%s\": %s must be a function%s", name, names[i],
			                  i == 4 ? " or false" : "");
		}
		lua_pop(L, 1);
	}
	lua_getfield(L, 1, "timeout");
	if (!lua_isnil(L, -1)) {
		char what[160];
		snprintf(what, sizeof what, "step \"%s\" timeout", name);
		duration_field(L, -1, what, &st.timeout);
	}
	lua_pop(L, 1);
	lua_getfield(L, 1, "approve");
	if (!lua_isnil(L, -1)) {
		char err[256];
		st.approve = salve_lua_to_json(L, -1, err, sizeof err);
		if (!json_is_object(st.approve)) {
			json_decref(st.approve);
			return luaL_error(
			    L, "step \"%s\": approve must be a table such as { timeout = \"15m\" }",
			    name);
		}
	}
	lua_pop(L, 1);
	if (st.fn[SALVE_FN_RUN] == LUA_NOREF && st.fn[SALVE_FN_CHECK] == LUA_NOREF)
		return luaL_error(L, "step \"%s\" has neither check nor run", name);
	salve_step *grown = realloc(rb->steps, (rb->nsteps + 1) * sizeof *grown);
	if (!grown)
		return luaL_error(L, "out of memory");
	rb->steps = grown;
	st.name = strdup(name);
	rb->steps[rb->nsteps++] = st;
	json_object_set_new(rb->step_lines, name, json_integer(line));
	return 0;
}

static int l_step(lua_State *L)
{
	salve_runbook *rb = salve_runbook_of(L);
	const char *name = luaL_checkstring(L, 1);
	if (!*name || strlen(name) > 128)
		return luaL_error(L, "step names are 1 to 128 characters");
	json_t *first = json_object_get(rb->step_lines, name);
	if (first)
		return luaL_error(L, "step \"%s\" is declared twice (first at line %d)", name,
		                  (int)json_integer_value(first));
	lua_Debug ar;
	int line = 0;
	if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar))
		line = ar.currentline;
	lua_pushvalue(L, 1);
	lua_pushinteger(L, line);
	lua_pushcclosure(L, l_step_define, 2);
	return 1;
}

/* A lua_CFunction (it allocates: called through lua_pcall): the sandboxed libraries, then
 * what runbooks add. The salve table is kept by reference, so the engine updates the table it
 * made whatever the runbook does to the global. */
static int open_runbook_env(lua_State *L)
{
	salve_runbook *rb = salve_runbook_of(L);
	lua_pushcfunction(L, salve_sandbox_open);
	lua_call(L, 0, 0);
	static const luaL_Reg fns[] = {{"runbook", l_runbook},
	                               {"plugin", l_plugin},
	                               {"step", l_step},
	                               {"secret", l_secret},
	                               {"degraded", l_degraded},
	                               {"log", l_log},
	                               {"print", l_log},
	                               {"sleep", l_sleep},
	                               {"wait_until", l_wait_until},
	                               {NULL, NULL}};
	lua_pushglobaltable(L);
	luaL_setfuncs(L, fns, 0);
	lua_newtable(L);
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "dry_run");
	lua_pushstring(L, SALVE_VERSION);
	lua_setfield(L, -2, "version");
	lua_pushvalue(L, -1);
	lua_setfield(L, -3, "salve");
	rb->salve_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

/* The first line of a Lua error (people want file:line and the reason, not the traceback). */
static void lua_error_text(lua_State *L, char *err, size_t errlen)
{
	const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
	snprintf(err, errlen, "%s", msg ? msg : "error object is not a string");
	char *tb = strstr(err, "\nstack traceback:");
	if (tb)
		*tb = '\0';
}

/* Every placeholder of the lock template must name a declared parameter. 0, or -1 with err. */
static int check_lock_template(const salve_runbook *rb, char *err, size_t errlen)
{
	for (const char *p = rb->lock ? strchr(rb->lock, '{') : NULL; p; p = strchr(p + 1, '{')) {
		const char *end = strchr(p, '}');
		char pname[128] = "";
		if (end && (size_t)(end - p - 1) < sizeof pname)
			memcpy(pname, p + 1, (size_t)(end - p - 1));
		if (!end || !json_object_get(rb->params_spec, pname)) {
			snprintf(err, errlen,
			         "%s: lock \"%s\" uses {%s}, which is not a declared param",
			         rb->source, rb->lock, pname);
			return -1;
		}
	}
	return 0;
}

salve_runbook *salve_runbook_load(const char *source, salve_registry *reg, int *exit_code,
                                  char *err, size_t errlen)
{
	return salve_runbook_load_with(source, reg, NULL, exit_code, err, errlen);
}

salve_runbook *salve_runbook_load_with(const char *source, salve_registry *reg,
                                       const salve_load_options *opt, int *exit_code, char *err,
                                       size_t errlen)
{
	*exit_code = SALVE_EXIT_INVALID_RUNBOOK;
	char *text = NULL;
	size_t len = 0;
	char chunkname[4200];
	if (strncmp(source, "builtin:", 8) == 0) {
		const struct salve_embedded *e = NULL;
		char file[256];
		if (salve_fmt(file, sizeof file, "%s.lua", source + 8) >= 0)
			e = salve_embedded_find(file);
		if (!e) {
			snprintf(err, errlen,
			         "%s: no such built-in runbook (built in: " SALVE_BUILTIN_RUNBOOKS
			         ")",
			         source);
			*exit_code = SALVE_EXIT_USAGE;
			return NULL;
		}
		text = malloc(e->len + 1);
		memcpy(text, e->text, e->len + 1);
		len = e->len;
		snprintf(chunkname, sizeof chunkname, "=%s", source);
	} else {
		text = salve_read_file(source, &len);
		if (!text) {
			snprintf(err, errlen, "%s: cannot read runbook: %s", source,
			         strerror(errno));
			*exit_code =
			    errno == ENOENT ? SALVE_EXIT_USAGE : SALVE_EXIT_INVALID_RUNBOOK;
			return NULL;
		}
		snprintf(chunkname, sizeof chunkname, "@%s", source);
	}
	salve_runbook *rb = calloc(1, sizeof *rb);
	rb->source = strdup(source);
	rb->reg = reg;
	rb->mem_limit = SALVE_SANDBOX_MEMORY_LIMIT;
	rb->salve_ref = rb->p_ref = rb->s_ref = LUA_NOREF;
	rb->params_spec = json_object();
	rb->plugins = json_array();
	rb->step_lines = json_object();
	rb->L = lua_newstate(limited_alloc, rb);
	if (!rb->L) {
		snprintf(err, errlen, "%s: cannot create a Lua state", source);
		free(text);
		salve_runbook_free(rb);
		*exit_code = SALVE_EXIT_SOFTWARE;
		return NULL;
	}
	lua_State *L = rb->L;
	*(salve_runbook **)lua_getextraspace(L) = rb;
	lua_atpanic(L, panic_handler);
	lua_pushcfunction(L, open_runbook_env);
	if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
		lua_error_text(L, err, errlen);
		free(text);
		salve_runbook_free(rb);
		*exit_code = SALVE_EXIT_SOFTWARE;
		return NULL;
	}
	/* The top level runs under a deadline too: the caller's, and at most SALVE_LOAD_TIMEOUT. */
	double budget = salve_now() + SALVE_LOAD_TIMEOUT;
	rb->load_deadline = budget;
	if (opt && opt->deadline > 0 && opt->deadline < budget) {
		rb->load_deadline = opt->deadline;
		rb->load_deadline_is_callers = 1;
	}
	rb->load_cancel = opt ? opt->cancel : NULL;
	rb->loading = 1;
	lua_sethook(L, count_hook, LUA_MASKCOUNT, HOOK_INSTRUCTIONS);
	lua_pushcfunction(L, salve_lua_traceback);
	int rc = luaL_loadbufferx(L, text, len, chunkname, "t");
	if (rc == LUA_OK)
		rc = lua_pcall(L, 0, 0, -2);
	rb->loading = 0;
	if (rc != LUA_OK) {
		lua_error_text(L, err, errlen);
		if (rb->plugin_error)
			*exit_code = SALVE_EXIT_UNAVAILABLE;
		if (rb->load_stop == SALVE_LOAD_STOP_CANCEL ||
		    rb->load_stop == SALVE_LOAD_STOP_DEADLINE)
			*exit_code = SALVE_EXIT_ROLLED_BACK;
		free(text);
		salve_runbook_free(rb);
		return NULL;
	}
	/* Every plugin call site is checked now, not when its line first runs. */
	rc = salve_lint(text, len, source, reg, err, errlen);
	rb->text = text;
	rb->text_len = len;
	if (rc < 0) {
		salve_runbook_free(rb);
		return NULL;
	}
	lua_settop(L, 0);
	if (!rb->declared) {
		snprintf(err, errlen, "%s: no runbook{ name = ... } declaration", source);
		salve_runbook_free(rb);
		return NULL;
	}
	if (rb->nsteps == 0) {
		snprintf(err, errlen, "%s: runbook %s declares no steps", source, rb->name);
		salve_runbook_free(rb);
		return NULL;
	}
	if (check_lock_template(rb, err, errlen) < 0) {
		salve_runbook_free(rb);
		return NULL;
	}
	*exit_code = SALVE_EXIT_OK;
	return rb;
}

void salve_runbook_free(salve_runbook *rb)
{
	if (!rb)
		return;
	if (rb->L) {
		/* No finalizer can exist (setmetatable refuses __gc), so closing runs no runbook
		 * code; should any run, the hook stops it at its first count. */
		rb->closing = 1;
		lua_close(rb->L);
	}
	for (size_t i = 0; i < rb->nsteps; i++) {
		free(rb->steps[i].name);
		json_decref(rb->steps[i].approve);
	}
	free(rb->steps);
	free(rb->source);
	free(rb->text);
	free(rb->name);
	free(rb->description);
	free(rb->lock);
	json_decref(rb->params_spec);
	json_decref(rb->plugins);
	json_decref(rb->step_lines);
	json_decref(rb->notify);
	free(rb);
}

/* The shortest text that reads back as d (%g's six digits turned 1.2345678 into 1.23457). */
static void shortest_real(double d, char *buf, size_t len)
{
	for (int digits = 1; digits <= 17; digits++) {
		snprintf(buf, len, "%.*g", digits, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

static json_t *coerce_param(const char *name, const char *type, json_t *v, char *err, size_t errlen)
{
	if (!json_is_string(v)) {
		int ok = (strcmp(type, "string") == 0 && json_is_string(v)) ||
		         (strcmp(type, "int") == 0 && json_is_integer(v)) ||
		         (strcmp(type, "number") == 0 && json_is_number(v)) ||
		         (strcmp(type, "bool") == 0 && json_is_boolean(v)) ||
		         (strcmp(type, "list") == 0 && json_is_array(v)) ||
		         (strcmp(type, "map") == 0 && json_is_object(v));
		if (strcmp(type, "string") == 0 && json_is_number(v)) {
			char buf[64];
			if (json_is_integer(v))
				snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
			else
				shortest_real(json_real_value(v), buf, sizeof buf);
			return json_string(buf);
		}
		if (!ok) {
			snprintf(err, errlen, "param %s must be %s, got %s", name, type,
			         salve_json_type_name(v));
			return NULL;
		}
		return json_incref(v);
	}
	const char *s = json_string_value(v);
	if (strcmp(type, "string") == 0)
		return json_incref(v);
	char *end;
	if (strcmp(type, "int") == 0) {
		errno = 0;
		long long n = strtoll(s, &end, 10);
		if (!*s || *end || errno) {
			snprintf(err, errlen, "param %s must be an integer, got \"%s\"", name, s);
			return NULL;
		}
		return json_integer(n);
	}
	if (strcmp(type, "number") == 0) {
		errno = 0;
		double d = strtod(s, &end);
		if (!*s || *end || errno || !isfinite(d)) {
			snprintf(err, errlen, "param %s must be a number, got \"%s\"", name, s);
			return NULL;
		}
		return json_real(d);
	}
	if (strcmp(type, "bool") == 0) {
		if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "1") || !strcmp(s, "on"))
			return json_true();
		if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "0") || !strcmp(s, "off"))
			return json_false();
		snprintf(err, errlen, "param %s must be true or false, got \"%s\"", name, s);
		return NULL;
	}
	if (s[0] == '[' || s[0] == '{') {
		json_error_t jerr;
		json_t *parsed = json_loads(s, 0, &jerr);
		if (!parsed) {
			snprintf(err, errlen, "param %s: not valid JSON: %s", name, jerr.text);
			return NULL;
		}
		json_t *out = coerce_param(name, type, parsed, err, errlen);
		json_decref(parsed);
		return out;
	}
	if (strcmp(type, "list") == 0) {
		json_t *arr = json_array();
		char *copy = strdup(s), *save = NULL;
		for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			json_array_append_new(arr, json_string(tok));
		free(copy);
		return arr;
	}
	snprintf(err, errlen, "param %s must be a map, given as JSON ({\"k\": \"v\"})", name);
	return NULL;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int salve_runbook_params(const salve_runbook *rb, const json_t *given, json_t **out, char *err,
                         size_t errlen)
{
	json_t *params = json_object();
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)given, key, v)
	{
		if (!json_object_get(rb->params_spec, key)) {
			char known[1024] = "";
			const char *names[64];
			size_t nn = 0;
			const char *k2;
			json_t *s2;
			json_object_foreach(rb->params_spec, k2, s2) if (nn < 64) names[nn++] = k2;
			qsort(names, nn, sizeof *names, compare_names);
			for (size_t i = 0; i < nn; i++) {
				size_t used = strlen(known);
				snprintf(known + used, sizeof known - used, "%s%s",
				         used ? ", " : "", names[i]);
			}
			snprintf(err, errlen, "unknown param '%s' (runbook %s takes: %s)", key,
			         rb->name, known[0] ? known : "none");
			json_decref(params);
			return -1;
		}
	}
	json_object_foreach(rb->params_spec, key, v)
	{
		const char *type = json_string_value(json_object_get(v, "type"));
		json_t *value = json_object_get(given, key);
		if (!value)
			value = json_object_get(v, "default");
		if (!value || json_is_null(value)) {
			if (json_is_true(json_object_get(v, "required"))) {
				snprintf(err, errlen, "missing required param '%s' (%s)%s%s", key,
				         type,
				         json_string_value(json_object_get(v, "description")) ? ": "
				                                                              : "",
				         json_string_value(json_object_get(v, "description"))
				             ? json_string_value(json_object_get(v, "description"))
				             : "");
				json_decref(params);
				return -1;
			}
			continue;
		}
		json_t *c = coerce_param(key, type, value, err, errlen);
		if (!c) {
			json_decref(params);
			return -1;
		}
		json_object_set_new(params, key, c);
	}
	*out = params;
	return 0;
}
