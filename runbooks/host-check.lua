-- host-check: the default job. Checks this machine's disk, memory and load, and keeps
-- salve's marker line in a local config file (in a dry-run: shows the change it would make).
runbook {
  name = "host-check",
  description = "Check disk, memory and load of this machine; keep salve's marker config",
  params = {
    disk_path = { type = "string", default = "/", description = "filesystem to check" },
    max_disk_pct = { type = "number", default = 90, description = "fail above this use" },
    min_available_mb = { type = "int", default = 64, description = "fail below this free memory" },
    config = { type = "string", default = "/etc/salve/host-check.conf" },
  },
  lock = "host-check",
}

local host = plugin "host"

step "facts" {
  run = function(p)
    local f = host.facts{}
    log(string.format("%s: kernel %s, %d CPUs, load %.2f, %d MB available of %d MB, up %d s",
      f.hostname, f.kernel, f.cpus, f.load[1], f.mem_available_mb, f.mem_total_mb, f.uptime_s))
    return f
  end,
}

step "disk-space" {
  check = function(p)
    return host.disk{ path = p.disk_path }.used_pct < p.max_disk_pct
  end,
  run = function(p)
    local d = host.disk{ path = p.disk_path }
    error(string.format("%s is %.1f%% full (limit %.0f%%)", p.disk_path, d.used_pct, p.max_disk_pct))
  end,
}

step "memory" {
  check = function(p, s) return s.facts.mem_available_mb >= p.min_available_mb end,
  run = function(p, s)
    error(string.format("only %d MB of memory available (minimum %d MB)",
      s.facts.mem_available_mb, p.min_available_mb))
  end,
}

step "marker" {
  run = function(p)
    return host.ensure_line{ path = p.config, line = "managed_by = salve", regexp = "^managed_by *=",
                            create = true }
  end,
}
