-- Changes a key (journaled), then calls an action that never returns and ignores
-- cancellation: the worker is wedged until the process ends.
runbook { name = "wedge", params = { key = { required = true } } }
local kit = plugin "testkit"
local wedge = plugin "wedge"
step "set" { run = function(p) return kit.set{ key = p.key, value = "changed" } end }
step "hang" { run = function() return wedge.hold{} end }
