-- Issue F2: a step makes the run's state table raise on every write. The engine stores the
-- step's result there after run(): that error must fail the run and roll it back, never
-- abort the process (salve serve with it).
runbook { name = "poison-state", params = { key = { required = true } } }
local kit = plugin "testkit"
step "first" { run = function(p) return kit.set{ key = p.key, value = "first" } end }
step "poison" {
  run = function(p, s)
    setmetatable(s, { __newindex = function() error("x") end })
    return kit.set{ key = p.key .. "-2", value = "second" }
  end,
}
