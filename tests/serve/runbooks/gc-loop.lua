-- Tries to leave behind a table whose finalizer never ends (it would run when the run's Lua
-- state is closed, after the run finished): the sandbox refuses __gc, so the step fails.
runbook { name = "gc-loop", params = { key = { required = true } } }
local kit = plugin "testkit"
step "set" {
  run = function(p)
    setmetatable({}, { __gc = function() while true do end end })
    return kit.set{ key = p.key, value = "gc" }
  end,
}
