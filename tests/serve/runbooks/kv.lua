-- Sets one key of the testkit store (undone by a rollback). The serve tests' plain run.
runbook { name = "kv-set", params = { key = { required = true }, value = { default = "on" } },
          lock = "kv/{key}" }
local kit = plugin "testkit"
step "set" { run = function(p) return kit.set{ key = p.key, value = p.value } end }
