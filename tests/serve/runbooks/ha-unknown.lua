-- Two changes; the second's apply can be held before or after it writes (pause_before,
-- pause_after) so a test kills the runner in the middle of it: an intent without its result.
-- Its check tells a taker whether that change took effect.
runbook { name = "ha-unknown",
          params = { key = { required = true }, before = { default = "0" },
                     after = { default = "0" } },
          lock = "unknown/{key}" }
local kit = plugin "testkit"
step "first" { run = function(p) return kit.set{ key = p.key, value = "1" } end }
step "second" {
  check = function(p) return kit.get{ key = p.key .. "-2" }.value == "x" end,
  run = function(p)
    return kit.set{ key = p.key .. "-2", value = "x", pause_before = tonumber(p.before),
                    pause_after = tonumber(p.after) }
  end,
}
