-- Reads a key under ha-sweep.lua's lock and changes nothing: the run that must take over
-- what a killed ha-sweep.lua left (test_serve_ha_killsweep.py).
runbook { name = "ha-look", params = { key = { required = true } }, lock = "sweep/{key}" }
local kit = plugin "testkit"
step "look" { run = function(p) return kit.get{ key = p.key } end }
