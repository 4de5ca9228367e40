-- patch-hosts: the weekly patch job. Finds the package updates waiting on the hosts an
-- inventory pattern selects, upgrades them in rolling batches (serial) with a health command
-- after each batch, and stops once more than max_fail hosts have failed over the whole run;
-- the engine then rolls every changed host back to the versions it had (ssh-patch's undo
-- record). Run it from cron or a systemd timer with --no-wait --window (examples/cron/).
-- In a dry-run it lists, per host, each package and the versions it would go from and to.
runbook {
  name = "patch-hosts",
  description = "Upgrade packages on hosts in rolling batches with health checks",
  params = {
    hosts = { type = "string", required = true,
              description = "Ansible host pattern: a group, hosts, web:!canary, all" },
    serial = { type = "string", default = "25%",
               description = "batch size: a count (2) or a share of the hosts (25%)" },
    max_fail = { type = "string", default = "0",
                 description = "failed hosts tolerated over the whole run: a count or a %" },
    health = { type = "string", default = "",
               description = "shell command run on each host after its batch; 0 = healthy" },
    reboot = { type = "string", default = "if-required",
               description = "never, if-required (the distribution says so) or always" },
    refresh = { type = "bool", default = true,
                description = "refresh package lists first (apt-get update / dnf makecache); "
                              .. "never in a dry-run, which changes nothing, not even the lists" },
  },
  lock = "patch/{hosts}",
}

local ssh = plugin "ssh-patch"

step "pending" {
  run = function(p)
    if p.refresh and salve.dry_run then
      log("dry-run: package lists not refreshed (that would change them); showing what they hold")
    end
    return ssh.pending{ hosts = p.hosts, refresh = p.refresh and not salve.dry_run }
  end,
  verify = function(p, s, r)
    for name, h in pairs(r.hosts) do
      if h.error then
        log(string.format("%s: cannot check updates: %s", name, h.error))
      else
        log(string.format("%s: %d updates waiting (%s)", name, h.count, h.manager))
      end
    end
    log(string.format("%d updates on %d of %d hosts; %d hosts could not be checked",
      r.pending, r.hosts_with_updates, r.ok + r.failed, r.failed))
    -- Hosts that could not be checked are tried by patch and count against max_fail.
    return r.ok > 0
  end,
  timeout = "15m",
}

step "patch" {
  run = function(p)
    local health = nil
    if p.health ~= "" then health = p.health end
    -- The lists were refreshed by the pending step just before.
    return ssh.patch{ hosts = p.hosts, serial = p.serial, max_fail = p.max_fail,
                      health = health, reboot = p.reboot, refresh = false }
  end,
  verify = function(p, s, r)
    if r.planned then
      for name, h in pairs(r.hosts) do
        for _, pkg in ipairs(h.packages or {}) do
          log(string.format("%s (batch %d): %s %s -> %s", name, h.batch or 0, pkg.name,
            pkg.from or "(new)", pkg.to))
        end
      end
      return true
    end
    -- The per-host summary people read at the end (and cron mails).
    local names = {}
    for name in pairs(r.hosts) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do
      local h = r.hosts[name]
      if h.error then
        log(string.format("%-24s FAILED   %s", name, h.error))
        -- Tolerated by max_fail, so nothing is rolled back, but the run says so (exit 3).
        degraded(string.format("%s: %s", name, h.error))
      elseif h.attempted == false then
        log(string.format("%-24s not run  (the run stopped before its batch)", name))
      else
        log(string.format("%-24s ok       %d packages", name, #(h.packages or {})))
      end
    end
    log(string.format("patched: %d hosts ok, %d failed", r.ok, r.failed))
    return true
  end,
  timeout = "4h",
}

step "verify" {
  -- After a real run: every host patch reported healthy has nothing left to upgrade.
  when = function(p, s)
    return s.patch ~= nil and not s.patch.planned and s.patch.changed ~= false
  end,
  run = function(p)
    return ssh.pending{ hosts = p.hosts, refresh = false }
  end,
  verify = function(p, s, r)
    local ok = true
    for name, h in pairs(r.hosts) do
      local patched = s.patch.hosts[name]
      if patched and patched.attempted and not patched.error and (h.count or 0) > 0 then
        log(string.format("%s: still %d updates waiting after patching", name, h.count))
        ok = false
      end
    end
    return ok
  end,
  timeout = "15m",
}
