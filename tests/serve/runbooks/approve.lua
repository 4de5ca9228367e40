-- A first step that changes something, then a step that needs a person's approval.
runbook { name = "approve-me", params = { key = { required = true } } }
local kit = plugin "testkit"
step "prepare" { run = function(p) return kit.set{ key = p.key .. "-a", value = "1" } end }
step "risky" {
  approve = { timeout = "60s", notify = "slack:#oncall" },
  run = function(p) return kit.set{ key = p.key .. "-b", value = "1" } end,
}
