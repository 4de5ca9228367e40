-- Issue F2: a step makes the run's state table raise on every write. The engine stores each
-- step's result there after run() with a raw write, so the trap never fires from C (before
-- the fix it aborted the process, salve serve with it). The next step's own write does
-- raise, inside its protected call: that fails the run and rolls back both earlier changes.
runbook { name = "poison-state", params = { key = { required = true } } }
local kit = plugin "testkit"
step "first" { run = function(p) return kit.set{ key = p.key, value = "first" } end }
step "poison" {
  run = function(p, s)
    setmetatable(s, { __newindex = function() error("x") end })
    return kit.set{ key = p.key .. "-2", value = "second" }
  end,
}
step "trip" { run = function(p, s) s.tripped = true end }
