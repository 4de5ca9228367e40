-- Fails with the key in its error message: salve serve logs that message.
runbook { name = "log-fail", params = { key = { required = true } } }
local kit = plugin "testkit"
step "boom" { run = function(p) return kit.fail{ message = "no such thing: " .. p.key } end }
