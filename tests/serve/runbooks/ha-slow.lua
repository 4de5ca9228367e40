-- Changes a key under a lock, sleeps, then changes a second key: a run to kill -9 or SIGSTOP
-- the replica holding it in the middle of (the HA takeover tests).
runbook { name = "ha-slow", params = { key = { required = true }, pause = { default = "4" } },
          lock = "kv/{key}" }
local kit = plugin "testkit"
step "set" { run = function(p) return kit.set{ key = p.key, value = "changed" } end }
step "wait" { run = function(p) return kit.sleep{ seconds = tonumber(p.pause) } end }
step "after" { run = function(p) return kit.set{ key = p.key .. "-after", value = "1" } end }
