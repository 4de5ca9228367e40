#!/usr/bin/env bash
# Through the real salve binary: the core hands what check observed to plan and apply
# (host->observed, ABI 1.2), so ssh-patch.ensure_line reads each host once in check and then
# writes only the hosts to change, one command each, without reading them again; a dry-run
# plans without a second read. Local hosts only (no sshd, no root): a stand-in `sh` first on
# PATH logs each command the plugin starts, then runs it with /bin/sh.
set -u
SALVE=${SALVE_BIN:?run through ctest}
T=$(mktemp -d /tmp/salve-sp-observed-XXXXXX)
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
# The commands started since the last call, sorted (hosts run at once).
commands() {
	sort "$T/commands.log" 2>/dev/null | tr '\n' ' '
	rm -f "$T/commands.log"
}

mkdir -p "$T/bin" "$T/files" "$T/state"
cat >"$T/bin/sh" <<SH
#!/bin/sh
case \$2 in *'printf W'*) kind=write ;; *'printf E'*) kind=read ;; *) kind=other ;; esac
echo "\$kind \${4##*/}" >>$T/commands.log
exec /bin/sh "\$@"
SH
chmod 755 "$T/bin/sh"
cat >"$T/inventory.yaml" <<YAML
all:
  vars: {ansible_connection: local}
  hosts:
    a: {}
    b: {}
YAML
cat >"$T/salve.yaml" <<YAML
audit: $T/audit.jsonl
audit_sync: none
state_dir: $T/state
plugins:
  ssh-patch:
    inventory: $T/inventory.yaml
YAML
cat >"$T/line.lua" <<LUA
runbook { name = "line-twice", description = "ensure_line twice: a change, then nothing" }
local ssh = plugin "ssh-patch"
local args = { hosts = "all", path = "$T/files/{host}.conf", line = "salve=1", create = true }
step "first" { run = function(p) return ssh.ensure_line(args) end }
step "second" { run = function(p) return ssh.ensure_line(args) end }
LUA
S() { PATH="$T/bin:$PATH" "$SALVE" --config "$T/salve.yaml" --plugin-path "$SALVE_PLUGIN_DIR" "$@"; }

printf 'x=0\nsalve=1\n' >"$T/files/a.conf"
printf 'x=0\n' >"$T/files/b.conf"
S run -q --dry-run "$T/line.lua" >"$T/out" 2>&1
same "$?" 0 "dry-run exits 0"
same "$(commands)" "read a.conf read a.conf read b.conf read b.conf " \
	"dry-run: check reads each host once a step; plan reads nothing"
same "$(cat "$T/files/b.conf")" "x=0" "dry-run changes nothing"

S run -q "$T/line.lua" >"$T/out" 2>&1
same "$?" 0 "run exits 0"
same "$(commands)" "read a.conf read a.conf read b.conf read b.conf write b.conf " \
	"run: apply writes b only, without reading again; the second step holds"
same "$(cat "$T/files/a.conf")" "$(printf 'x=0\nsalve=1')" "a is left as it was"
same "$(cat "$T/files/b.conf")" "$(printf 'x=0\nsalve=1')" "b has the line once"
same "$(grep -c '"event":"action".*"outcome":"changed"' "$T/audit.jsonl")" 1 \
	"audit: one action changed"
same "$(grep -c '"event":"action".*"outcome":"held"' "$T/audit.jsonl")" 1 \
	"audit: one action held"
if grep -q '"seen"' "$T/audit.jsonl"; then
	not_ok "what check read for apply stays out of the audit log"
else
	ok "what check read for apply stays out of the audit log"
fi

echo "passed $passed, failed $failed"
[ "$failed" = 0 ]
