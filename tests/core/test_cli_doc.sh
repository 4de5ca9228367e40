#!/usr/bin/env bash
# salve doc and salve stubs against the built plugins: the exact reference of the host
# plugin and its actions, the errors (unknown plugin 69, unknown action 64 naming the actions),
# and LuaLS stubs for every plugin (valid Lua 5.4, one function per action of the descriptor,
# typed argument tables with required flags, typed result classes); every action declares its
# result fields, and two real results have exactly the declared fields.
set -u
SALVE=${SALVE_BIN:?run through ctest}
PLUGINS=${SALVE_PLUGIN_DIR:?}
T=$(mktemp -d /tmp/salve-cli-doc-XXXXXX)
trap 'rm -rf "$T"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }
same() { # same GOT WANT DESCRIPTION
	if [ "$1" = "$2" ]; then ok "$3"; else
		not_ok "$3"
		diff <(printf '%s\n' "$2") <(printf '%s\n' "$1") | sed 's/^/    /'
	fi
}
# Only the build's plugins, and an empty config: what the test sees does not depend on the
# machine. use_tls=0: in the ASan build, a command that loads every plugin (plugins, doc,
# stubs) can crash LeakSanitizer's tracer on a bogus dynamic-TLS range of a loaded plugin
# ("Tracer caught signal 11", "DTLS ... at 0x000000000252"), depending on the environment's
# size: a sanitizer bug, not salve's. Leaks are still checked; thread-local roots are not.
printf '{}\n' >"$T/salve.yaml"
S() { LSAN_OPTIONS=${LSAN_OPTIONS:+$LSAN_OPTIONS:}use_tls=0:print_suppressions=0 "$SALVE" --config "$T/salve.yaml" --plugin-path "$PLUGINS" "$@"; }

out=$(S doc host 2>&1)
same "$?:${out//$PLUGINS/PLUGINS}" "0:host 1.0.0 (plugin ABI 1.2): this machine: facts, disk space, local file lines
  PLUGINS/host.so

Actions:
  facts        read              hostname, kernel, uptime, load, CPUs and memory of this machine
  disk         read              size, use and free space of the filesystem holding path
  ensure_line  mutate, undoable  keep a line in a local text file; undo restores the old content

Settings (salve.yaml: plugins: host:):
  none

\`salve doc host.ACTION\` shows an action's arguments and an example." "salve doc host"

out=$(S doc host.ensure_line 2>&1)
same "$?:$out" "0:host.ensure_line: keep a line in a local text file; undo restores the old content

Kind: mutate: check (is the wanted state there already?), plan (what would
      change: all a dry-run does), apply (change it).
Undo: yes: a rollback puts back what apply changed, from the undo record
      apply returned.
Target: path (audited as what the call acts on).

Arguments:
  NAME    TYPE    FLAGS     DESCRIPTION
  path    string  required  the text file
  line    string  required  the exact line that must be present
  regexp  string  -         extended regex: the last matching line is replaced
  create  bool    -         create the file when missing (default false)
  mode    int     -         permissions of a file created (default 0644)

Result:
  NAME      TYPE    DESCRIPTION
  path      string  the text file
  exists    bool    the file exists (when the line is already there)
  present   bool    the line is there (when it already was)
  change    string  \"append\" or \"replace\" (when planned or applied)
  line      string  the line written (when planned or applied)
  replaced  string  the line a regexp replaced, if any
  created   bool    the file was created (when planned or applied)
The core adds changed (false when the state held) and, in a dry-run,
planned = true.

Example:
  local host = plugin \"host\"
  step \"ensure_line\" {
    run = function(p)
      return host.ensure_line{ path = \"<path>\", line = \"<line>\" }
    end,
  }" "salve doc host.ensure_line"

out=$(S doc host.disk 2>&1)
same "$?:$out" "0:host.disk: size, use and free space of the filesystem holding path

Kind: read: observes only; runs in every mode, dry-run included.
Undo: nothing to undo (read).
Target: path (audited as what the call acts on).

Arguments:
  NAME  TYPE    FLAGS     DESCRIPTION
  path  string  required  a path on the filesystem to measure

Result:
  NAME             TYPE    DESCRIPTION
  path             string  the path measured
  total_bytes      int     size of the filesystem
  used_bytes       int     bytes in use
  available_bytes  int     bytes available to unprivileged users
  used_pct         number  used / (used + available), 0 to 100, as df computes it

Example:
  local host = plugin \"host\"
  step \"disk\" {
    run = function(p)
      return host.disk{ path = \"<path>\" }
    end,
  }" "salve doc host.disk"

out=$(S doc host.facts 2>&1)
same "$?:$out" "0:host.facts: hostname, kernel, uptime, load, CPUs and memory of this machine

Kind: read: observes only; runs in every mode, dry-run included.
Undo: nothing to undo (read).
Target: none.

Arguments:
  none

Result:
  NAME              TYPE    DESCRIPTION
  hostname          string  the machine's host name
  kernel            string  kernel release (uname -r)
  arch              string  machine architecture (uname -m)
  uptime_s          int     seconds since boot
  load              list    load averages over 1, 5 and 15 minutes
  cpus              int     CPUs online
  mem_total_mb      int     memory in MiB
  mem_available_mb  int     memory available in MiB; -1 without MemAvailable

Example:
  local host = plugin \"host\"
  step \"facts\" {
    run = function(p)
      return host.facts{}
    end,
  }" "salve doc host.facts"

# The example is a runbook salve accepts (with the placeholders filled in).
S doc host.ensure_line | sed -n '/^Example:/,$p' | sed '1d; s/^  //' |
	sed "s#\"<path>\"#\"$T/x.conf\"#; s#\"<line>\"#\"a = 1\"#" >"$T/example.lua"
printf 'runbook { name = "doc-example" }\n%s\n' "$(cat "$T/example.lua")" >"$T/example.lua"
out=$(S validate "$T/example.lua" 2>&1)
same "$?" 0 "the example call validates as a runbook: $out"

out=$(S doc ssh-patch.exec 2>&1 | sed -n '/^Undo:/,/^Target:/p')
same "$out" "Undo: none: this change cannot be undone; a rollback leaves it in place
      (give the step a rollback function to compensate).
Target: hosts (audited as what the call acts on)." "an action declared SALVE_ACTION_NO_UNDO says it cannot be undone"
out=$(S doc ssh-patch.exec 2>&1 | grep -A 4 '^Example:')
same "$out" "Example:
  local ssh_patch = plugin \"ssh-patch\"
  step \"exec\" {
    run = function(p)
      return ssh_patch.exec{ hosts = \"<hosts>\" }" "a plugin name with a dash becomes a Lua local"

out=$(S doc host.nope 2>&1)
same "$?:$out" '64:salve: plugin host has no action "nope" (its actions: facts, disk, ensure_line)' \
	"an unknown action: exit 64, the plugin's actions listed"
out=$(S doc nosuch 2>&1)
same "$?:${out//$PLUGINS/PLUGINS}" "69:salve: plugin \"nosuch\" not found (searched PLUGINS:$(S plugins | sed -n 's/^search path: //p' | cut -d: -f2-))" \
	"an unknown plugin: exit 69, the search path named"
out=$(S doc .host 2>&1)
same "$?:$out" '64:salve: doc takes PLUGIN or PLUGIN.ACTION (got ".host")' "an empty plugin name: exit 64"
out=$(S doc host. 2>&1)
same "$?:$out" '64:salve: doc takes PLUGIN or PLUGIN.ACTION (got "host.")' "an empty action name: exit 64"
out=$(S doc host extra 2>&1)
same "$?:$(printf '%s' "$out" | head -1)" "64:salve: doc takes one PLUGIN or PLUGIN.ACTION (got 2)" "two operands: exit 64"
out=$(S doc 2>&1)
same "$?:$(printf '%s\n' "$out" | grep -c '^  [a-z-]* ')" "0:$(ls "$PLUGINS"/*.so | wc -l)" \
	"salve doc lists every plugin of the search path"

# --- stubs -----------------------------------------------------------------------------------
out=$(S stubs 2>&1)
same "$?:$(printf '%s' "$out" | head -1)" "64:salve: stubs needs --out DIR" "stubs without --out: exit 64"
out=$(S stubs --out "$T/stubs" 2>&1)
n=$(ls "$PLUGINS"/*.so | wc -l)
same "$?:$out" "0:$T/stubs: salve.lua and $n plugins" "stubs --out DIR"
same "$(cd "$T/stubs" && ls | tr '\n' ' ')" "$( (echo salve.lua; cd "$PLUGINS" && ls *.so | sed 's/\.so$/.lua/') | sort | tr '\n' ' ')" \
	"one file per plugin, and salve.lua"
same "$(cat "$T/stubs/host.lua")" '---@meta
-- salve plugin "host" 1.0.0 (plugin ABI 1.2): this machine: facts, disk space, local file lines
-- Written by `salve stubs` from the plugin'"'"'s descriptor.

---@class salve.plugin.host
local host = {}

---@class salve.host.facts.args

---@class salve.host.facts.result
---@field hostname string the machine'"'"'s host name
---@field kernel string kernel release (uname -r)
---@field arch string machine architecture (uname -m)
---@field uptime_s integer seconds since boot
---@field load any[] load averages over 1, 5 and 15 minutes
---@field cpus integer CPUs online
---@field mem_total_mb integer memory in MiB
---@field mem_available_mb integer memory available in MiB; -1 without MemAvailable

--- hostname, kernel, uptime, load, CPUs and memory of this machine
--- read
---@param args? salve.host.facts.args
---@return salve.host.facts.result
function host.facts(args) end

---@class salve.host.disk.args
---@field path string a path on the filesystem to measure

---@class salve.host.disk.result
---@field path string the path measured
---@field total_bytes integer size of the filesystem
---@field used_bytes integer bytes in use
---@field available_bytes integer bytes available to unprivileged users
---@field used_pct number used / (used + available), 0 to 100, as df computes it

--- size, use and free space of the filesystem holding path
--- read; target: path
---@param args salve.host.disk.args
---@return salve.host.disk.result
function host.disk(args) end

---@class salve.host.ensure_line.args
---@field path string the text file
---@field line string the exact line that must be present
---@field regexp? string extended regex: the last matching line is replaced
---@field create? boolean create the file when missing (default false)
---@field mode? integer permissions of a file created (default 0644)

---@class salve.host.ensure_line.result
---@field path string the text file
---@field exists boolean the file exists (when the line is already there)
---@field present boolean the line is there (when it already was)
---@field change string "append" or "replace" (when planned or applied)
---@field line string the line written (when planned or applied)
---@field replaced string the line a regexp replaced, if any
---@field created boolean the file was created (when planned or applied)
---@field changed boolean (the core) false when the state held
---@field planned? boolean (the core) true in a dry-run

--- keep a line in a local text file; undo restores the old content
--- mutate, undoable; target: path
---@param args salve.host.ensure_line.args
---@return salve.host.ensure_line.result
function host.ensure_line(args) end

return host' "host.lua, exactly"
grep -q '^---@overload fun(name: "ssh-patch"): salve.plugin.ssh_patch$' "$T/stubs/salve.lua" &&
	ok 'salve.lua types plugin "ssh-patch"' || not_ok 'salve.lua types plugin "ssh-patch"'

# No lua-language-server in Debian 12: check what can be checked without it. Every file is
# Lua 5.4 (luac -p), and each plugin's file, run, returns one function per action that
# `salve plugins --json` lists for the plugin.
if command -v luac5.4 >/dev/null; then
	bad=$(for f in "$T"/stubs/*.lua; do luac5.4 -p "$f" 2>&1; done)
	same "$bad" "" "every stub file is valid Lua 5.4 (luac5.4 -p)"
else
	not_ok "luac5.4 is not installed (Debian: lua5.4)"
fi
if command -v lua5.4 >/dev/null; then
	S plugins --json >"$T/plugins.json"
	for f in "$T"/stubs/*.lua; do
		name=$(basename "$f" .lua)
		[ "$name" = salve ] && continue
		got=$(lua5.4 -e "local t = dofile('$f'); local k = {}; for n, v in pairs(t) do
			assert(type(v) == 'function'); k[#k + 1] = n end; table.sort(k)
			print(table.concat(k, ' '))")
		want=$(python3 -c 'import json, sys
for p in json.load(open(sys.argv[1]))["plugins"]:
    if p["name"] == sys.argv[2]:
        print(" ".join(sorted(a["name"] for a in p["actions"])))' "$T/plugins.json" "$name")
		same "$got" "$want" "$name.lua has a function for each of its actions"
	done
fi

# salve doc points at each plugin's README for result fields: it must list every action.
S plugins --json >"$T/plugins.json"
missing=$(python3 -c 'import json, re, sys, os
for p in json.load(open(sys.argv[1]))["plugins"]:
    readme = os.path.join(sys.argv[2], "plugins", p["name"], "README.md")
    text = open(readme).read() if os.path.exists(readme) else ""
    for a in p["actions"]:
        if not re.search("`" + re.escape(a["name"]) + "[`{(]", text):
            print(p["name"] + "." + a["name"])' "$T/plugins.json" "${SALVE_SOURCE_DIR:?}")
same "$missing" "" "every plugin's README names each of its actions"

# Every action of every built plugin declares its result fields (salve plugins --json), except
# notify.escalation_policy, whose result is a list, not an object with fields.
undeclared=$(python3 -c 'import json, sys
for p in json.load(open(sys.argv[1]))["plugins"]:
    for a in p["actions"]:
        r = a.get("results")
        if not r or any(not f.get("name") or not f.get("type") or not f.get("description") for f in r):
            print(p["name"] + "." + a["name"])' "$T/plugins.json")
same "$undeclared" "notify.escalation_policy" "every action but one declares named, typed, described result fields"

# What host.disk and host.facts return has exactly the fields they declare.
cat >"$T/keys.lua" <<'EOF'
runbook { name = "result-keys" }
local host = plugin "host"
local function keys(r)
  local k = {}
  for n in pairs(r) do k[#k + 1] = n end
  table.sort(k)
  return table.concat(k, " ")
end
step "disk" { run = function(p) print("disk: " .. keys(host.disk{ path = "/" })) end }
step "facts" { run = function(p) print("facts: " .. keys(host.facts{})) end }
EOF
got=$(S --audit "$T/audit.jsonl" --state-dir "$T/state" --audit-sync none run "$T/keys.lua" 2>&1 |
	sed -n 's/^salve: info: result-keys: //p')
want=$(python3 -c 'import json, sys
for p in json.load(open(sys.argv[1]))["plugins"]:
    if p["name"] == "host":
        acts = {a["name"]: a for a in p["actions"]}
        for n in ("disk", "facts"):
            print(n + ": " + " ".join(sorted(f["name"] for f in acts[n]["results"])))' "$T/plugins.json")
same "$got" "$want" "host.disk and host.facts return exactly their declared result fields"

# An argument's choices: listed by doc, typed as their union by stubs, shown by --json.
if [ -e "$PLUGINS/ssh-patch.so" ]; then
	same "$(S doc ssh-patch.service | grep 'is one of')" \
		"  state is one of: started, stopped, restarted" "salve doc lists an argument's choices"
	S stubs --out "$T/choices" >/dev/null 2>&1
	same "$(grep -o '^---@field state [^ ]*' "$T/choices/ssh_patch.lua" "$T/choices/ssh-patch.lua" 2>/dev/null | head -n 1 | sed 's/^[^:]*://')" \
		'---@field state "started"|"stopped"|"restarted"' "salve stubs types them as a union"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
