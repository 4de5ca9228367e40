-- Appends one line (the key) to the testkit's "notified" file per run: the HA tests share
-- one testkit dir between replicas and count the runs of the whole cluster by its lines.
runbook { name = "append", params = { key = { required = true } } }
local kit = plugin "testkit"
step "append" { run = function(p) return kit.notify{ text = p.key } end }
