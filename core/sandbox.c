#include "sandbox.h"

#include <ctype.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>

/* ---- pattern cost ---------------------------------------------------------------------------
 *
 * Lua's matcher backtracks: each quantified single-character class (x*, x+, x-, x?) that can
 * give back characters to the rest of the pattern multiplies the work, and the hook that
 * enforces deadlines never runs inside it. Before a match runs, the wrappers below bound its
 * steps from the pattern and the subject:
 *
 *   cost = starts * sum over items j of (prod over items i before j of b_i) * (1 + c_j) + n
 *
 * starts is 1 for an anchored pattern, else the number of start positions. For a quantified
 * class with r the longest run of subject bytes it matches (what one expansion can consume),
 * c = r (expanding) + r * (1 + the parentheses right after it) (a try of the rest per length)
 * and b = r + 1 (2 for x?): the tries that may go deeper into the rest of the pattern. b is 1 when
 * the quantifier cannot give anything back that helps: it is the last item, or the next item is a
 * single class (alone or with +) that shares no byte with it, or the final $. %b and
 * back-references scan: c = n. The final + n is the expansion of a last quantifier, which
 * happens once per match. */

#define MATCH_MAX_DEPTH 200         /* Lua's MAXCCALLS: deeper items are never reached */
#define RUN_SCAN_BUDGET (1u << 26u) /* subject bytes examined to tighten the bound */

struct charset {
	unsigned char bits[32];
};

static int cs_has(const struct charset *cs, unsigned char c)
{
	return cs->bits[c >> 3] & (1u << (c & 7u));
}

static void cs_add(struct charset *cs, unsigned c)
{
	cs->bits[c >> 3] |= (unsigned char)(1u << (c & 7u));
}

/* The same test as Lua's %a, %d, ... (and %x for a non-letter x: the byte itself). */
static int in_class(int c, int cl)
{
	int res;
	switch (tolower(cl)) {
	case 'a':
		res = isalpha(c);
		break;
	case 'c':
		res = iscntrl(c);
		break;
	case 'd':
		res = isdigit(c);
		break;
	case 'g':
		res = isgraph(c);
		break;
	case 'l':
		res = islower(c);
		break;
	case 'p':
		res = ispunct(c);
		break;
	case 's':
		res = isspace(c);
		break;
	case 'u':
		res = isupper(c);
		break;
	case 'w':
		res = isalnum(c);
		break;
	case 'x':
		res = isxdigit(c);
		break;
	case 'z':
		res = c == 0;
		break;
	default:
		return cl == c;
	}
	return islower(cl) ? res != 0 : res == 0;
}

/* Where the class starting at p ends, or NULL when it is malformed (Lua raises then). */
static const char *class_end(const char *p, const char *end)
{
	switch (*p++) {
	case '%':
		return p < end ? p + 1 : NULL;
	case '[':
		if (p < end && *p == '^')
			p++;
		do {
			if (p >= end)
				return NULL;
			if (*(p++) == '%' && p < end)
				p++;
		} while (p >= end || *p != ']');
		return p + 1;
	default:
		return p;
	}
}

/* The bytes the class [p, ep) matches. */
static void class_set(const char *p, const char *ep, struct charset *cs)
{
	memset(cs, 0, sizeof *cs);
	switch (*p) {
	case '.':
		memset(cs->bits, 0xff, sizeof cs->bits);
		return;
	case '%':
		for (unsigned c = 0; c < 256; c++)
			if (in_class((int)c, (unsigned char)p[1]))
				cs_add(cs, c);
		return;
	case '[': {
		const char *q = p, *close = ep - 1;
		int negate = q[1] == '^';
		if (negate)
			q++;
		while (++q < close) {
			if (*q == '%') {
				q++;
				for (unsigned c = 0; c < 256; c++)
					if (in_class((int)c, (unsigned char)*q))
						cs_add(cs, c);
			} else if (q[1] == '-' && q + 2 < close) {
				for (unsigned c = (unsigned char)q[0]; c <= (unsigned char)q[2];
				     c++)
					cs_add(cs, c);
				q += 2;
			} else {
				cs_add(cs, (unsigned char)*q);
			}
		}
		if (negate)
			for (size_t i = 0; i < sizeof cs->bits; i++)
				cs->bits[i] = (unsigned char)~cs->bits[i];
		return;
	}
	default:
		cs_add(cs, (unsigned char)*p);
	}
}

static int cs_disjoint(const struct charset *a, const struct charset *b)
{
	for (size_t i = 0; i < sizeof a->bits; i++)
		if (a->bits[i] & b->bits[i])
			return 0;
	return 1;
}

enum item_kind { ITEM_CLASS, ITEM_BALANCE, ITEM_FRONTIER, ITEM_BACKREF, ITEM_END, ITEM_BROKEN };

struct item {
	enum item_kind kind;
	const char *cls, *cls_end; /* ITEM_CLASS */
	char suffix;               /* '*', '+', '-', '?' or 0 */
	const char *next;
};

/* Reads the item at p (p < end and *p is not a parenthesis). */
static void read_item(const char *p, const char *end, struct item *it)
{
	memset(it, 0, sizeof *it);
	it->kind = ITEM_BROKEN;
	it->next = end;
	if (*p == '$' && p + 1 == end) {
		it->kind = ITEM_END;
		return;
	}
	if (*p == '%' && p + 1 < end) {
		switch (p[1]) {
		case 'b':
			if (p + 4 <= end) {
				it->kind = ITEM_BALANCE;
				it->next = p + 4;
			}
			return;
		case 'f': {
			const char *ce = p + 2 < end && p[2] == '[' ? class_end(p + 2, end) : NULL;
			if (ce) {
				it->kind = ITEM_FRONTIER;
				it->next = ce;
			}
			return;
		}
		default:
			if (p[1] >= '0' && p[1] <= '9') {
				it->kind = ITEM_BACKREF;
				it->next = p + 2;
				return;
			}
		}
	}
	const char *ce = class_end(p, end);
	if (!ce)
		return;
	it->kind = ITEM_CLASS;
	it->cls = p;
	it->cls_end = ce;
	it->next = ce;
	if (ce < end && strchr("*+-?", *ce)) {
		it->suffix = *ce;
		it->next = ce + 1;
	}
}

static const char *skip_parens(const char *p, const char *end)
{
	while (p < end && (*p == '(' || *p == ')'))
		p++;
	return p;
}

/* Whether the item after a quantified class cs stops it from giving back useful characters:
 * it must match at least one byte right there, and no byte cs matches (or it is the final $). */
static int blocks(const char *next, const char *end, const struct charset *cs)
{
	next = skip_parens(next, end);
	if (next >= end)
		return 0;
	struct item it;
	read_item(next, end, &it);
	if (it.kind == ITEM_END)
		return 1;
	if (it.kind != ITEM_CLASS || (it.suffix && it.suffix != '+'))
		return 0;
	struct charset other;
	class_set(it.cls, it.cls_end, &other);
	return cs_disjoint(cs, &other);
}

struct subject {
	const unsigned char *s;
	size_t n;
	int exact;        /* measure runs in the subject (else assume n) */
	size_t scan_left; /* bytes still allowed for measuring */
};

static double longest_run(struct subject *sub, const struct charset *cs)
{
	if (!sub->exact || sub->scan_left < sub->n)
		return (double)sub->n;
	sub->scan_left -= sub->n;
	size_t best = 0, cur = 0;
	for (size_t i = 0; i < sub->n; i++) {
		cur = cs_has(cs, sub->s[i]) ? cur + 1 : 0;
		if (cur > best)
			best = cur;
	}
	return (double)best;
}

/* Steps for one start position. */
static double cost_per_start(const char *p, const char *end, struct subject *sub)
{
	const char *last = end; /* the pattern without its closing parentheses */
	while (last > p && (last[-1] == '(' || last[-1] == ')'))
		last--;
	double prefix = 1, total = 0, n = (double)sub->n;
	int depth = 1;
	while (p < end && depth < MATCH_MAX_DEPTH) {
		if (*p == '(' || *p == ')') {
			total += prefix;
			depth++;
			p++;
			continue;
		}
		struct item it;
		read_item(p, end, &it);
		switch (it.kind) {
		case ITEM_BROKEN: /* the matcher raises an error when it gets here */
			return total + prefix;
		case ITEM_BALANCE:
		case ITEM_BACKREF:
			total += prefix * (1 + n);
			break;
		case ITEM_FRONTIER:
		case ITEM_END:
			total += prefix;
			break;
		case ITEM_CLASS:
			if (!it.suffix) {
				total += prefix;
				break;
			}
			depth++;
			if (it.next >= last) { /* last item: expands once, then the match is over */
				total += prefix;
				break;
			}
			struct charset cs;
			class_set(it.cls, it.cls_end, &cs);
			double run = it.suffix == '?' ? 1 : longest_run(sub, &cs);
			/* Expanding, then a try of the rest per length, through any parentheses
			 * right after (each is a call of the matcher). */
			total += prefix *
			         (1 + run * (2 + (double)(skip_parens(it.next, end) - it.next)));
			if (!blocks(it.next, end, &cs))
				prefix *= run + 1;
			break;
		}
		p = it.next;
	}
	return total;
}

double salve_pattern_cost(enum salve_pattern_op op, const char *s, size_t ls, size_t init,
                          const char *p, size_t lp)
{
	if (init > ls)
		return 0;
	const char *end = p + lp;
	struct subject sub = {(const unsigned char *)s + init, ls - init, 0, RUN_SCAN_BUDGET};
	double starts = (double)sub.n + 1;
	if (op != SALVE_PATTERN_GMATCH && lp > 0 && *p == '^') {
		starts = 1;
		p++;
	}
	double cost = starts * cost_per_start(p, end, &sub) + (double)sub.n;
	if (cost <= SALVE_PATTERN_BUDGET)
		return cost;
	/* Tighter: how long can each class really run in this subject? */
	sub.exact = 1;
	return starts * cost_per_start(p, end, &sub) + (double)sub.n;
}

/* ---- string ---------------------------------------------------------------------------------- */

static void raise_if_interrupted(lua_State *L)
{
	const char *why = salve_runbook_interrupted(L);
	if (why)
		luaL_error(L, "%s", why);
}

/* lstrlib's posrelatI: a 1-based start position, clipped to [1, inf). */
static size_t start_offset(lua_Integer pos, size_t len)
{
	if (pos > 0)
		return (size_t)pos - 1;
	if (pos == 0 || pos < -(lua_Integer)len)
		return 0;
	return len + (size_t)pos;
}

/* A pattern as people can read it in an error message: escaped, cut after 60 bytes. */
static void printable(const char *p, size_t lp, char *out, size_t outlen)
{
	size_t o = 0, i = 0;
	for (; i < lp && i < 60 && o + 8 < outlen; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\n')
			o += (size_t)snprintf(out + o, outlen - o, "\\n");
		else if (c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, outlen - o, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			o += (size_t)snprintf(out + o, outlen - o, "\\%u", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	if (i < lp && o + 4 <= outlen)
		memcpy(out + o, "...", 4);
}

static int call_original(lua_State *L)
{
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

static int has_specials(const char *p, size_t lp)
{
	for (size_t i = 0; i < lp; i++)
		if (memchr("^$*+?.([%-", p[i], 10))
			return 1;
	return 0;
}

/* Index and length metamethods that C loops (table functions, gsub with a table) would run
 * without the hook: __index/__newindex chains through tables take up to 2000 hops per access,
 * and __len can claim any length. */
static void refuse_looping_metamethods(lua_State *L, int arg, const char *fname)
{
	if (lua_type(L, arg) != LUA_TTABLE || !lua_getmetatable(L, arg))
		return;
	static const char *const events[] = {"__index", "__newindex", "__len"};
	for (size_t i = 0; i < sizeof events / sizeof *events; i++) {
		lua_pushstring(L, events[i]);
		int type = lua_rawget(L, -2);
		lua_pop(L, 1);
		if (type != LUA_TNIL)
			luaL_error(L,
			           "%s: a table whose metatable has %s is not accepted here (the "
			           "metamethod would run where the deadline cannot stop it)",
			           fname, events[i]);
	}
	lua_pop(L, 1);
}

/* string.find, match, gmatch, gsub: upvalue 1 the library's function, 2 the operation. */
static int l_pattern(lua_State *L)
{
	static const char *const names[] = {"string.find", "string.match", "string.gmatch",
	                                    "string.gsub"};
	enum salve_pattern_op op = (enum salve_pattern_op)lua_tointeger(L, lua_upvalueindex(2));
	size_t ls, lp;
	const char *s = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	size_t init = 0;
	if (op != SALVE_PATTERN_GSUB)
		init = start_offset(luaL_optinteger(L, 3, 1), ls);
	if (op == SALVE_PATTERN_FIND && init <= ls &&
	    (lua_toboolean(L, 4) || !has_specials(p, lp))) {
		/* A plain search: memmem is linear where Lua's lmemfind is not. */
		const char *hit = memmem(s + init, ls - init, p, lp);
		if (!hit) {
			luaL_pushfail(L);
			return 1;
		}
		lua_pushinteger(L, (lua_Integer)(hit - s) + 1);
		lua_pushinteger(L, (lua_Integer)(hit - s) + (lua_Integer)lp);
		return 2;
	}
	if (op == SALVE_PATTERN_GSUB)
		refuse_looping_metamethods(L, 3, names[op]);
	double cost = salve_pattern_cost(op, s, ls, init, p, lp);
	if (cost > SALVE_PATTERN_BUDGET) {
		char shown[96], msg[512];
		printable(p, lp, shown, sizeof shown);
		snprintf(
		    msg, sizeof msg,
		    "%s: pattern \"%s\" is too costly for a %zu-byte subject (worst case about "
		    "%.2g steps, the limit is %.0e): anchor it with ^, use classes that cannot "
		    "overlap what follows them (\"[^\\n]*\\n\" rather than \".-\\n\"), or "
		    "match a smaller piece",
		    names[op], shown, ls, cost, SALVE_PATTERN_BUDGET);
		return luaL_error(L, "%s", msg);
	}
	return call_original(L);
}

/* string.rep: a result beyond the memory limit is refused before it is built; an empty one is
 * returned at once (Lua would loop n times copying nothing). */
static int l_rep(lua_State *L)
{
	size_t l, lsep;
	luaL_checklstring(L, 1, &l);
	lua_Integer n = luaL_checkinteger(L, 2);
	luaL_optlstring(L, 3, "", &lsep);
	if (n > 0 && l + lsep == 0) {
		lua_pushliteral(L, "");
		return 1;
	}
	double total = n > 0 ? (double)n * (double)l + (double)(n - 1) * (double)lsep : 0;
	if (total > (double)SALVE_SANDBOX_MEMORY_LIMIT) {
		char msg[256];
		snprintf(msg, sizeof msg,
		         "string.rep: the result would be %.0f bytes, more than a runbook may hold "
		         "(%zu MiB)",
		         total, SALVE_SANDBOX_MEMORY_LIMIT >> 20);
		return luaL_error(L, "%s", msg);
	}
	return call_original(L);
}

/* ---- table ------------------------------------------------------------------------------------
 */

enum table_fn { T_INSERT, T_REMOVE, T_MOVE, T_SORT, T_CONCAT, T_UNPACK };

/* A C comparator gives the hook no instruction to count: check between comparisons. */
static int l_sort_compare(lua_State *L)
{
	raise_if_interrupted(L);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, 2, 1);
	return 1;
}

/* upvalue 1 the library's function, 2 which one. */
static int l_table(lua_State *L)
{
	static const char *const names[] = {"table.insert", "table.remove", "table.move",
	                                    "table.sort",   "table.concat", "table.unpack"};
	enum table_fn fn = (enum table_fn)lua_tointeger(L, lua_upvalueindex(2));
	refuse_looping_metamethods(L, 1, names[fn]);
	if (fn == T_MOVE) {
		lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
		if (e >= f &&
		    (lua_Unsigned)e - (lua_Unsigned)f >= (lua_Unsigned)SALVE_SANDBOX_MAX_MOVE) {
			char msg[256];
			snprintf(
			    msg, sizeof msg,
			    "table.move: %llu elements are more than a runbook may move at once "
			    "(%lld)",
			    (unsigned long long)((lua_Unsigned)e - (lua_Unsigned)f) + 1,
			    (long long)SALVE_SANDBOX_MAX_MOVE);
			return luaL_error(L, "%s", msg);
		}
		refuse_looping_metamethods(L, 5, names[fn]);
	}
	if (fn == T_SORT && lua_iscfunction(L, 2)) {
		lua_pushvalue(L, 2);
		lua_pushcclosure(L, l_sort_compare, 1);
		lua_replace(L, 2);
	}
	return call_original(L);
}

/* ---- base -------------------------------------------------------------------------------------
 */

/* Marks the metatables setmetatable installs: true when the runbook may replace it. */
static const char installed_marker = 0;

/* setmetatable installs a checked copy of the table given (so changing that table later cannot
 * add what the check refused) and getmetatable still answers the table given:
 * - __gc is refused: Lua runs finalizers with hooks off, where no deadline can stop them
 *   (and lua_close runs them after the run);
 * - __mode is refused: weak tables add nothing a runbook needs and make the collector's work
 *   depend on the runbook;
 * - __call must be a function: a table whose __call is itself makes Lua loop in C. */
static int l_setmetatable(lua_State *L)
{
	int t = lua_type(L, 2);
	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
	if (lua_getmetatable(L, 1)) {
		lua_rawgetp(L, -1, &installed_marker);
		int replaceable = lua_toboolean(L, -1);
		lua_pop(L, 1);
		lua_pushliteral(L, "__metatable");
		if (!replaceable && lua_rawget(L, -2) != LUA_TNIL)
			return luaL_error(L, "cannot change a protected metatable");
		lua_pop(L, 2);
	}
	lua_settop(L, 2);
	if (t == LUA_TNIL) {
		lua_setmetatable(L, 1);
		return 1;
	}
	lua_pushliteral(L, "__gc");
	if (lua_rawget(L, 2) != LUA_TNIL)
		return luaL_error(L, "setmetatable: __gc finalizers are not available to runbooks "
		                     "(Lua runs them where no deadline can stop them)");
	lua_pushliteral(L, "__mode");
	if (lua_rawget(L, 2) != LUA_TNIL)
		return luaL_error(L, "setmetatable: weak tables (__mode) are not available to "
		                     "runbooks");
	lua_pushliteral(L, "__call");
	int call = lua_rawget(L, 2);
	if (call != LUA_TNIL && call != LUA_TFUNCTION)
		return luaL_error(L, "setmetatable: __call must be a function, not a %s",
		                  lua_typename(L, call));
	lua_settop(L, 2);
	lua_newtable(L);
	lua_pushnil(L);
	while (lua_next(L, 2)) {
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, 3);
	}
	lua_pushliteral(L, "__metatable");
	int own = lua_rawget(L, 3) != LUA_TNIL;
	lua_pop(L, 1);
	if (!own) {
		lua_pushliteral(L, "__metatable");
		lua_pushvalue(L, 2);
		lua_rawset(L, 3);
	}
	lua_pushboolean(L, !own);
	lua_rawsetp(L, 3, &installed_marker);
	lua_setmetatable(L, 1);
	lua_settop(L, 1);
	return 1;
}

/* pcall and xpcall as in lbaselib, except that a caught error does not hide a passed
 * deadline or a cancellation: otherwise `while true do pcall(loop) end` runs for ever. */
static int finish_pcall(lua_State *L, int status, lua_KContext extra)
{
	if (status != LUA_OK && status != LUA_YIELD) {
		raise_if_interrupted(L);
		lua_pushboolean(L, 0);
		lua_pushvalue(L, -2);
		return 2;
	}
	return lua_gettop(L) - (int)extra;
}

static int l_pcall(lua_State *L)
{
	luaL_checkany(L, 1);
	lua_pushboolean(L, 1);
	lua_insert(L, 1);
	int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, finish_pcall);
	return finish_pcall(L, status, 0);
}

/* xpcall's handler, upvalue 1 the runbook's. When the hook raised the error (deadline,
 * cancellation) Lua calls the handler with hooks off, so runbook code must not run then. */
static int l_message_handler(lua_State *L)
{
	if (salve_runbook_interrupted(L))
		return 1;
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, 1);
	return 1;
}

static int l_xpcall(lua_State *L)
{
	int n = lua_gettop(L);
	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_pushvalue(L, 2);
	lua_pushcclosure(L, l_message_handler, 1);
	lua_replace(L, 2);
	lua_pushboolean(L, 1);
	lua_pushvalue(L, 1);
	lua_rotate(L, 3, 2);
	int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, finish_pcall);
	return finish_pcall(L, status, 2);
}

/* load: text chunks only (binary chunks skip the verifier: type confusion inside liblua).
 * The library's load is upvalue 1 and nothing else holds it. A reader function that the hook
 * interrupts makes load return nil: the interruption is raised again. */
static int l_load(lua_State *L)
{
	if (lua_gettop(L) < 3)
		lua_settop(L, 3);
	lua_pushliteral(L, "t");
	lua_replace(L, 3);
	int n = call_original(L);
	if (lua_isnil(L, 1))
		raise_if_interrupted(L);
	return n;
}

/* coroutine.resume and close, upvalue 1 the library's: the same rule as pcall. */
static int l_coroutine_catch(lua_State *L)
{
	int n = call_original(L);
	if (!lua_toboolean(L, 1))
		raise_if_interrupted(L);
	return n;
}

/* ---- opening -----------------------------------------------------------------------------------
 */

static void wrap(lua_State *L, int lib, const char *name, lua_CFunction fn, int which)
{
	lua_getfield(L, lib, name);
	lua_pushinteger(L, which);
	lua_pushcclosure(L, fn, 2);
	lua_setfield(L, lib, name);
}

static void remove_fields(lua_State *L, int lib, const char *const *names)
{
	for (size_t i = 0; names[i]; i++) {
		lua_pushnil(L);
		lua_setfield(L, lib, names[i]);
	}
}

static void open_lib(lua_State *L, const char *name, lua_CFunction open)
{
	luaL_requiref(L, name, open, 1);
}

int salve_sandbox_open(lua_State *L)
{
	lua_settop(L, 0);
	open_lib(L, LUA_GNAME, luaopen_base); /* 1 */
	static const char *const base_removed[] = {"dofile", "loadfile", "collectgarbage",
	                                           "warn",   "print",    NULL};
	remove_fields(L, 1, base_removed);
	wrap(L, 1, "load", l_load, 0);
	lua_pushcfunction(L, l_pcall);
	lua_setfield(L, 1, "pcall");
	lua_pushcfunction(L, l_xpcall);
	lua_setfield(L, 1, "xpcall");
	lua_pushcfunction(L, l_setmetatable);
	lua_setfield(L, 1, "setmetatable");

	open_lib(L, LUA_STRLIBNAME, luaopen_string); /* 2 */
	static const char *const string_removed[] = {"dump", NULL};
	remove_fields(L, 2, string_removed);
	wrap(L, 2, "find", l_pattern, SALVE_PATTERN_FIND);
	wrap(L, 2, "match", l_pattern, SALVE_PATTERN_MATCH);
	wrap(L, 2, "gmatch", l_pattern, SALVE_PATTERN_GMATCH);
	wrap(L, 2, "gsub", l_pattern, SALVE_PATTERN_GSUB);
	wrap(L, 2, "rep", l_rep, 0);
	/* Strings share one metatable, whose __index is the table above: lock it so a runbook
	 * can neither read nor change it. */
	lua_pushliteral(L, "");
	lua_getmetatable(L, -1);
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 2);

	open_lib(L, LUA_TABLIBNAME, luaopen_table); /* 3 */
	static const char *const table_fns[] = {"insert", "remove", "move",
	                                        "sort",   "concat", "unpack"};
	for (int i = 0; i < (int)(sizeof table_fns / sizeof *table_fns); i++)
		wrap(L, 3, table_fns[i], l_table, i);

	open_lib(L, LUA_COLIBNAME, luaopen_coroutine); /* 4 */
	wrap(L, 4, "resume", l_coroutine_catch, 0);
	wrap(L, 4, "close", l_coroutine_catch, 0);

	open_lib(L, LUA_MATHLIBNAME, luaopen_math);
	open_lib(L, LUA_UTF8LIBNAME, luaopen_utf8);

	/* os: the clock and the calendar only; the full library is dropped. */
	lua_pushcfunction(L, luaopen_os);
	lua_call(L, 0, 1);
	int full_os = lua_gettop(L);
	lua_newtable(L);
	static const char *const os_allowed[] = {"time", "clock", "date", "difftime", NULL};
	for (size_t i = 0; os_allowed[i]; i++) {
		lua_getfield(L, full_os, os_allowed[i]);
		lua_setfield(L, -2, os_allowed[i]);
	}
	lua_pushvalue(L, -1);
	lua_setglobal(L, "os");
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_insert(L, -2);
	lua_setfield(L, -2, "os");
	lua_settop(L, 0);
	return 0;
}
