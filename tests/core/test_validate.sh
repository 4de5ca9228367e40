#!/usr/bin/env bash
# salve validate through the real binary: every error of a runbook, sorted by line, in text
# and --json; salve.yaml's keys with --config; the plugins a runbook uses started with it.
set -u
SALVE=${SALVE_BIN:?run through ctest}
T=$(mktemp -d /tmp/salve-validate-XXXXXX)
trap 'rm -rf "$T"' EXIT
export SALVE_TESTKIT_DIR=$T/kit
export SALVE_PLUGIN_PATH=$SALVE_TEST_PLUGIN_DIR:$SALVE_BAD_PLUGIN_DIR:$SALVE_PLUGIN_DIR
mkdir -p "$T/kit"
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }
S() { "$SALVE" --audit "$T/audit.jsonl" --state-dir "$T/state" --audit-sync none "$@"; }
expect() { # expect CODE DESCRIPTION -- command...: stdout in $T/out, stderr in $T/err
	local want=$1 what=$2
	shift 3
	"$@" >"$T/out" 2>"$T/err"
	local got=$?
	if [ "$got" = "$want" ]; then ok "$what (exit $got)"; else
		not_ok "$what: exit $got, wanted $want"
		sed 's/^/    out: /' "$T/out" | head -20
		sed 's/^/    err: /' "$T/err" | head -20
	fi
}
same() { # same FILE DESCRIPTION <<< expected content
	if diff -u - "$1" >"$T/diff"; then ok "$2"; else
		not_ok "$2"
		sed 's/^/    /' "$T/diff"
	fi
}

# --- several mistakes in one runbook: all reported, sorted by line, exit 65
cat >"$T/many.lua" <<'LUA'
local kit = plugin "testkit"
step "a" {
  check = function() return kit.set{ key = "a", value = "b" } end,
  run = function() kit.sett{ key = "a" } end,
}
runbook { name = "many", params = { port = { type = "int", default = "eighty" } },
  notify = { to = "slak:#ops", on = { "rolledback" }, events = { "start" } } }
step "b" { run = function() local f = io.open("/x") kit.get{ key = "a", colour = "red" } end }
LUA
R=$T/many.lua
expect 65 "validate: a runbook with several mistakes" -- S validate "$R"
same "$T/err" "every mistake is reported, sorted by line" <<EOF2
salve: $R:3: testkit.set is a mutate action: only read actions may run in a step's check
salve: $R:4: plugin testkit has no action 'sett' (it has: get, set, drop, fail, sleep, notify, leak)
salve: $R:6: param port: default "eighty" is not a valid int (got string)
salve: $R:7: runbook{} notify to: unknown channel scheme in "slak:#ops" (slack, teams, pagerduty, opsgenie, email, webhook)
salve: $R:7: runbook{} notify on: unknown event "rolledback" (start, step_failed, rolled_back, rollback_incomplete, degraded, success)
salve: $R:7: runbook{} notify: unknown key 'events' (to, on, page_on_incomplete)
salve: $R:8: testkit.get: unknown argument 'colour' (it takes: key)
salve: $R:8: io is not available: runbooks have no io, no require and of os only os.time, os.clock, os.date and os.difftime: use a plugin
EOF2
expect 65 "run: the same runbook is refused before anything runs" -- S run "$R"
same "$T/err" "run reports the first error with the same message" <<EOF2
salve: $R:3: testkit.set is a mutate action: only read actions may run in a step's check
EOF2
[ -z "$(ls "$T/kit/calls" 2>/dev/null)" ] && ok "no plugin was called" || not_ok "a plugin was called"

expect 65 "validate --json: several mistakes" -- S validate --json "$R"
"${PYTHON:-python3}" - "$T/out" "$R" <<'PY' && ok "--json lists every error with its line and message" || not_ok "--json errors"
import json, sys
r = json.load(open(sys.argv[1]))
path = sys.argv[2]
lines = [e["line"] for e in r["errors"]]
assert r["valid"] is False and r["exit_code"] == 65, r
assert lines == [3, 4, 6, 7, 7, 7, 8, 8], lines
assert all(e["file"] == path and e["message"].startswith("%s:%d: " % (path, e["line"]))
           for e in r["errors"]), r["errors"]
assert r["error"] == r["errors"][0]["message"], r
assert r["errors"][1]["message"].endswith("has no action 'sett' (it has: get, set, drop, fail, sleep, notify, leak)")
PY

# A load error the checker does not find (a syntax error) is listed with the checker's.
printf 'local kit = plugin "testkit"\nkit.gett{}\nstep "x" {\n  run = function() end,\n  end\n}\n' >"$T/syn.lua"
expect 65 "validate: a syntax error and a mistake" -- S validate "$T/syn.lua"
same "$T/err" "the syntax error and the mistake, by line" <<EOF2
salve: $T/syn.lua:2: plugin testkit has no action 'gett' (it has: get, set, drop, fail, sleep, notify, leak)
salve: $T/syn.lua:5: unexpected symbol near 'end'
EOF2

# The load error of a line the checker explains is not repeated: the finding says why.
printf 'runbook { name = "io" }\nlocal f = io.open("/etc/passwd")\nstep "x" { run = function() end }\n' >"$T/io.lua"
expect 65 "validate: io at the top level" -- S validate "$T/io.lua"
same "$T/err" "io is reported once, with the reason" <<EOF2
salve: $T/io.lua:2: io is not available: runbooks have no io, no require and of os only os.time, os.clock, os.date and os.difftime: use a plugin
EOF2

# --- a good runbook stays valid, in text and JSON
printf 'runbook { name = "good", params = { port = { type = "int", default = 80 } } }\nlocal kit = plugin "testkit"\nstep "x" { run = function() return kit.get{ key = "a" } end }\n' >"$T/good.lua"
expect 0 "validate: a good runbook" -- S validate "$T/good.lua"
same "$T/out" "a good runbook is valid" <<EOF2
$T/good.lua: runbook good is valid: 1 step, plugins used as declared
EOF2
expect 0 "validate --json: a good runbook" -- S validate --json "$T/good.lua"
"${PYTHON:-python3}" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["valid"] and r["errors"] == [] and "error" not in r and r["exit_code"] == 0 and r["plugins"] == ["testkit"], r' "$T/out" &&
	ok "--json: valid, no errors" || not_ok "--json of a good runbook"

# --- salve.yaml keys
cat >"$T/bad.yaml" <<'YAML'
audit_sync: none
lifecycle:
  notfy: {to: "slack:#ops"}
  notify: {to: ["slak:#ops"], on: [rolledback], events: [start]}
colour: red
YAML
C=$T/bad.yaml
expect 65 "validate --config: a bad salve.yaml alone" -- S validate --config "$C"
same "$T/err" "every problem of salve.yaml is reported" <<EOF2
salve: $C: unknown key 'colour' (audit, audit_sync, state_dir, plugin_path, step_timeout, run_timeout, plugins, server, routes, lifecycle, ha)
salve: $C: lifecycle: unknown key 'notfy' (notify)
salve: $C: lifecycle.notify.to: unknown channel scheme in "slak:#ops" (slack, teams, pagerduty, opsgenie, email, webhook)
salve: $C: lifecycle.notify.on: unknown event "rolledback" (start, step_failed, rolled_back, rollback_incomplete, degraded, success)
salve: $C: lifecycle.notify: unknown key 'events' (to, on, page_on_incomplete)
EOF2
expect 65 "validate --config: a bad salve.yaml and a bad runbook" -- S validate --json --config "$C" "$T/syn.lua"
"${PYTHON:-python3}" - "$T/out" "$C" "$T/syn.lua" <<'PY' && ok "--json: the config's problems, then the runbook's" || not_ok "--json config and runbook"
import json, sys
r = json.load(open(sys.argv[1]))
files = [e["file"] for e in r["errors"]]
assert files == [sys.argv[2]] * 5 + [sys.argv[3]] * 2, files
assert "line" not in r["errors"][0] and r["errors"][5]["line"] == 2, r["errors"]
PY
printf 'audit_sync: none\nlifecycle:\n  notify: {to: "slack:#ops", on: [rolled_back]}\n' >"$T/ok.yaml"
expect 0 "validate --config: a good salve.yaml" -- S validate --config "$T/ok.yaml"
same "$T/out" "a good salve.yaml is valid" <<EOF2
$T/ok.yaml: configuration is valid
EOF2

# --- the plugins the runbook uses start with the configuration
printf 'runbook { name = "p" }\nlocal prom = plugin "prometheus"\nlocal t = plugin "typed"\nstep "a" { run = function() t.wait{ timeout = "1s" } end }\n' >"$T/p.lua"
printf 'audit_sync: none\nplugins:\n  typed: {endpoint: "http://127.0.0.1:9"}\n' >"$T/noprom.yaml"
expect 0 "validate without --config does not start plugins" -- S validate "$T/p.lua"
expect 69 "validate --config: a plugin's required setting is missing" -- S validate --config "$T/noprom.yaml" "$T/p.lua"
same "$T/err" "the missing setting is named with its plugin and key" <<EOF2
salve: $T/noprom.yaml: plugins.prometheus.url: required setting is missing (string)
EOF2
printf 'audit_sync: none\nplugins:\n  typed: {endpoint: "http://127.0.0.1:9"}\n  prometheus: {url: "http://127.0.0.1:9"}\n' >"$T/prom.yaml"
expect 0 "validate --config: every plugin starts" -- S validate --config "$T/prom.yaml" "$T/p.lua"
same "$T/out" "the plugins were started" <<EOF2
$T/p.lua: runbook p is valid: 1 step, plugins used as declared and started
EOF2
# The global --config is the same configuration.
expect 69 "salve --config FILE validate starts the plugins too" -- S --config "$T/noprom.yaml" validate "$T/p.lua"

expect 64 "validate without a runbook or a config" -- S validate

# --- arguments that take one of a few strings (salve_action.choices)
printf 'runbook { name = "svc", params = { state = { default = "restarted" } } }\nlocal ssh = plugin "ssh-patch"\nstep "a" { run = function(p)\n  return ssh.service{ hosts = "all", name = "nginx.service", state = "restart" }\nend }\nstep "b" { run = function(p) return ssh.service{ hosts = "all", name = "x", state = p.state } end }\n' >"$T/svc.lua"
expect 65 "a literal outside an argument's choices is refused before anything runs" -- S validate "$T/svc.lua"
same "$T/err" "the choices are listed with file:line" <<EOF2
salve: $T/svc.lua:4: ssh-patch.service: argument 'state' must be one of started, stopped, restarted, got "restart"
EOF2
echo "$passed passed, $failed failed"
[ $failed = 0 ]
