-- Changes a key, then fails: the run rolls back (a failed run for the circuit breaker).
runbook { name = "always-fails", params = { key = { required = true } } }
local kit = plugin "testkit"
step "set" { run = function(p) return kit.set{ key = p.key, value = "changed" } end }
step "boom" { run = function(p) return kit.fail{ message = "broken on purpose" } end }
