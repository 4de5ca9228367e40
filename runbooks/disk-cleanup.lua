-- disk-cleanup: a disk-almost-full alert. Measures the filesystem on each host, and only
-- where it is above the limit removes rotated, compressed logs older than keep_days and
-- apt's package cache, then checks the filesystem is below the limit again. Deleting files
-- cannot be undone, so the commands are narrow: *.gz and *.[0-9] files under log_dir only.
runbook {
  name = "disk-cleanup",
  description = "Free disk space: old rotated logs and the package cache, where a disk is full",
  params = {
    hosts = { type = "string", required = true, description = "Ansible host pattern" },
    path = { type = "string", default = "/", description = "filesystem to measure" },
    log_dir = { type = "string", default = "/var/log", description = "where rotated logs live" },
    keep_days = { type = "int", default = 14, description = "keep rotated logs newer than this" },
    max_pct = { type = "int", default = 85, description = "act above this use (percent)" },
  },
  lock = "disk-cleanup/{hosts}",
}

local ssh = plugin "ssh-patch"

-- Paths come from alert labels: absolute and normalized, so none is read as an option or
-- walks out of where it points.
local function absolute(what, path)
  if path:sub(1, 1) ~= "/" or path:find("//", 1, true) or path:find("/%.%.?/") or
     path:find("/%.%.?$") or path:find("[%c]") then
    error(string.format("%s %q must be an absolute, normalized path", what, path))
  end
  return path
end

-- Percent used per host, from POSIX `df -P` (second line, fifth column: "42%").
local function usage(p)
  local r = ssh.query{ hosts = p.hosts, argv = { "df", "-P", "--", absolute("path", p.path) } }
  local used = {}
  for name, h in pairs(r.hosts) do
    local second = h.stdout:match("\n([^\n]+)")
    local pct = second and second:match("(%d+)%%")
    used[name] = tonumber(pct)
  end
  return used
end

local function all_below(p)
  for _, pct in pairs(usage(p)) do
    if pct == nil or pct > p.max_pct then return false end
  end
  return true
end

step "measure" {
  run = function(p)
    local used = usage(p)
    for name, pct in pairs(used) do
      log(string.format("%s: %s is %s%% full (limit %d%%)", name, p.path, tostring(pct), p.max_pct))
    end
    return { used = used }
  end,
}

step "old-logs" {
  check = function(p) return all_below(p) end,
  run = function(p)
    return ssh.exec{ hosts = p.hosts,
                     argv = { "find", absolute("log_dir", p.log_dir), "-xdev", "-type", "f",
                              "(", "-name", "*.gz", "-o", "-name", "*.[0-9]", ")",
                              "-mtime", "+" .. tostring(p.keep_days), "-print", "-delete" } }
  end,
  verify = function(p, s, r)
    for name, h in pairs(r.hosts or {}) do
      local n = 0
      for _ in (h.stdout or ""):gmatch("[^\n]+") do n = n + 1 end
      log(string.format("%s: removed %d rotated logs", name, n))
    end
    return true
  end,
  timeout = "15m",
}

step "package-cache" {
  check = function(p) return all_below(p) end,
  run = function(p)
    return ssh.exec{ hosts = p.hosts,
                     -- Best effort: a package manager busy with its own work keeps its cache.
                     shell = "if command -v apt-get >/dev/null 2>&1; then apt-get clean; " ..
                             "elif command -v dnf >/dev/null 2>&1; then dnf clean packages; fi " ..
                             "|| echo 'package manager busy: cache left as it is' >&2" }
  end,
  timeout = "5m",
}

step "verify" {
  -- In a dry-run nothing was deleted: there is nothing to verify.
  when = function(p, s)
    local cleaned = s["old-logs"]
    return not (cleaned and cleaned.planned)
  end,
  run = function(p) return { used = usage(p) } end,
  verify = function(p, s, r)
    local ok = true
    for name, pct in pairs(r.used) do
      if pct == nil or pct > p.max_pct then
        log(string.format("%s: still %s%% full after cleanup", name, tostring(pct)))
        ok = false
      end
    end
    return ok
  end,
}
