-- One change and no lock: with ha:, its owner key is created with its first mutation
-- (test_serve_ha_lost_answer.py loses the answer of that transaction).
runbook { name = "ha-nolock", params = { key = { required = true } } }
local kit = plugin "testkit"
step "set" { run = function(p) return kit.set{ key = p.key, value = "changed" } end }
