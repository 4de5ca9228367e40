-- restart-service: restart a systemd unit on hosts (a hung-service alert, or after a config
-- change) and check it is active again afterwards. A restart cannot be undone; if the unit
-- does not come back the step fails and says where.
runbook {
  name = "restart-service",
  description = "Restart a systemd unit on hosts and check that it is active again",
  params = {
    hosts = { type = "string", required = true, description = "Ansible host pattern" },
    service = { type = "string", required = true, description = "systemd unit, e.g. nginx.service" },
    settle = { type = "int", default = 5, description = "seconds to let the unit settle" },
  },
  lock = "service/{hosts}/{service}",
}

local ssh = plugin "ssh-patch"

-- The unit name comes from an alert label: it must be a unit name and nothing else, so
-- "--version" or "-Hroot@elsewhere" can never reach systemctl as an option.
local function unit_name(p)
  local u = p.service
  if #u > 256 or not u:match("^[%w:_.\\@-]+$") or u:sub(1, 1) == "-" or u:find("..", 1, true) then
    error(string.format("service %q is not a systemd unit name", u))
  end
  return u
end

step "before" {
  run = function(p)
    return ssh.query{ hosts = p.hosts, argv = { "systemctl", "is-active", "--", unit_name(p) },
                      allow_failures = 1000000 }
  end,
  verify = function(p, s, r)
    for name, h in pairs(r.hosts) do
      local said = h.stdout ~= "" and h.stdout or h.stderr
      log(string.format("%s: %s was %s", name, p.service, h.error or (said:gsub("%s+$", ""))))
    end
    return true
  end,
}

step "restart" {
  run = function(p)
    return ssh.service{ hosts = p.hosts, name = unit_name(p), state = "restarted" }
  end,
  timeout = "10m",
}

step "active" {
  run = function(p)
    -- is-active answers "activating" while a unit starts: give it a moment, then ask.
    return ssh.query{ hosts = p.hosts,
                      argv = { "sh", "-c", 'sleep "$1"; systemctl is-active -- "$2"', "salve",
                               tostring(p.settle), unit_name(p) } }
  end,
  verify = function(p, s, r)
    for name, h in pairs(r.hosts) do
      if h.rc ~= 0 then
        log(string.format("%s: %s is not active: %s", name, p.service,
          h.error or (h.stdout:gsub("%s+$", ""))))
      end
    end
    return r.failed == 0
  end,
  timeout = "5m",
}
