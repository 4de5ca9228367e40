-- Two changes under a lock, each step with a check: the kill sweep (test_serve_ha_killsweep.py)
-- kills `salve run` of it at every etcd request and journal write in turn.
runbook { name = "ha-sweep", params = { key = { required = true } }, lock = "sweep/{key}" }
local kit = plugin "testkit"
step "first" {
  check = function(p) return kit.get{ key = p.key }.value == "1" end,
  run = function(p) return kit.set{ key = p.key, value = "1" } end,
}
step "second" {
  check = function(p) return kit.get{ key = p.key .. "-2" }.value == "2" end,
  run = function(p) return kit.set{ key = p.key .. "-2", value = "2" } end,
}
