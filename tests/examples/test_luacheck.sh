#!/usr/bin/env bash
# luacheck with the repository's .luacheckrc: the shipped runbooks and examples are clean,
# and the salve std catches what the sandbox refuses (io, os.execute, require, string.dump),
# misspelt globals and fields of salve, and unused locals, each at its file:line.
set -u
src=${SALVE_SOURCE_DIR:?run through ctest}
command -v luacheck >/dev/null || {
	echo "skipped: needs luacheck (Debian: lua-check)"
	exit 77
}
T=$(mktemp -d /tmp/salve-luacheck-XXXXXX)
trap 'rm -rf "$T"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }
same() { # same GOT WANT DESCRIPTION
	if [ "$1" = "$2" ]; then ok "$3"; else
		not_ok "$3"
		printf '    got:  %s\n' "$1" | sed '2,$s/^/          /'
		printf '    want: %s\n' "$2" | sed '2,$s/^/          /'
	fi
}

out=$(cd "$src" && luacheck --no-color --formatter plain runbooks/ examples/ 2>&1)
same "$?:$out" "0:" "luacheck runbooks/ examples/ is clean"

cat >"$T/bad.lua" <<'LUA'
runbook { name = "bad", params = { path = { required = true } } }
local host = plugin "host"
local unused = 1
step "x" {
  run = function(p)
    local f = io.open(p.path)
    os.execute("true")
    local m = require "socket"
    local d = string.dump(log)
    logg("typo")
    salve.dryrun = true
    return host.disk{ path = "/" }, f, m, d, os.time(), salve.dry_run, degraded, secret
  end,
  verify = function(p, s, r) return r ~= nil end,
}
step "y" { run = function() wait_until{ fn = function() return true end } sleep("1s") end }
LUA
out=$(cd "$T" && luacheck --no-color --formatter plain --config "$src/.luacheckrc" bad.lua 2>&1)
same "$?:$out" "1:bad.lua:3:7: unused variable 'unused'
bad.lua:6:15: accessing undefined variable 'io'
bad.lua:7:5: accessing undefined field 'execute' of global 'os'
bad.lua:8:15: accessing undefined variable 'require'
bad.lua:9:15: accessing undefined field 'dump' of global 'string'
bad.lua:10:5: accessing undefined variable 'logg'
bad.lua:11:5: setting undefined field 'dryrun' of global 'salve'" \
	"the salve std flags io, os.execute, require, string.dump, typos and unused locals"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
