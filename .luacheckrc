-- luacheck for salve runbooks (Debian: apt install lua-check; then `luacheck runbooks/`).
-- The `salve` std is what a runbook's sandbox holds (core/sandbox.c, core/runbook.c and
-- docs/architecture.md): Lua 5.4's base library without dofile, loadfile, collectgarbage,
-- warn and require; string without dump; table, math, utf8, coroutine; os with the clock and
-- the calendar only; no io, debug or package. Then what salve adds.
stds.salve = {
  read_globals = {
    "_G", "_VERSION", "assert", "error", "getmetatable", "ipairs", "load", "next", "pairs",
    "pcall", "rawequal", "rawget", "rawlen", "rawset", "select", "setmetatable", "tonumber",
    "tostring", "type", "xpcall",
    string = { fields = { "byte", "char", "find", "format", "gmatch", "gsub", "len", "lower",
                          "match", "pack", "packsize", "rep", "reverse", "sub", "unpack",
                          "upper" } },
    table = { fields = { "concat", "insert", "move", "pack", "remove", "sort", "unpack" } },
    math = { fields = { "abs", "acos", "asin", "atan", "ceil", "cos", "deg", "exp", "floor",
                        "fmod", "huge", "log", "max", "maxinteger", "min", "mininteger",
                        "modf", "pi", "rad", "random", "randomseed", "sin", "sqrt", "tan",
                        "tointeger", "type", "ult" } },
    utf8 = { fields = { "char", "charpattern", "codepoint", "codes", "len", "offset" } },
    coroutine = { fields = { "close", "create", "isyieldable", "resume", "running", "status",
                             "wrap", "yield" } },
    os = { fields = { "clock", "date", "difftime", "time" } },
    -- salve's own (docs/runbooks.md)
    "runbook", "plugin", "step", "log", "print", "degraded", "secret", "wait_until", "sleep",
    salve = { fields = { "dry_run", "drill", "run_id", "trigger", "version" } },
  },
}
std = "salve"
-- Step functions are called as f(p, s, r) (params, earlier results, this step's result):
-- a function that needs only r still names p and s.
unused_secondaries = false
ignore = { "212/p", "212/s", "212/r" }
-- Long lines are a matter of taste in runbooks (descriptions, log formats), not a mistake.
max_line_length = false
