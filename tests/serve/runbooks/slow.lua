-- Changes a key (journaled), then sleeps: a run to kill -9 the server in the middle of.
runbook { name = "slow", params = { key = { required = true } } }
local kit = plugin "testkit"
step "set" { run = function(p) return kit.set{ key = p.key, value = "changed" } end }
step "wait" { run = function() return kit.sleep{ seconds = 60 } end }
