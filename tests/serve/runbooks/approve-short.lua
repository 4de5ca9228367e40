-- Like approve.lua, with a 1 s approval timeout: nobody answers, the run rolls back.
runbook { name = "approve-short", params = { key = { required = true } } }
local kit = plugin "testkit"
step "prepare" { run = function(p) return kit.set{ key = p.key .. "-a", value = "1" } end }
step "risky" {
  approve = { timeout = "1s" },
  run = function(p) return kit.set{ key = p.key .. "-b", value = "1" } end,
}
