#!/usr/bin/env bash
# CLI-level tests: the real salve binary, real processes, real signals.
set -u
SALVE=${SALVE_BIN:?run through ctest}
T=$(mktemp -d /tmp/salve-cli-XXXXXX)
export SALVE_TESTKIT_DIR=$T/kit
export SALVE_PLUGIN_PATH=$SALVE_TEST_PLUGIN_DIR
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }
COMMON=(--audit "$T/audit.jsonl" --state-dir "$T/state" --audit-sync none)
S() { "$SALVE" "${COMMON[@]}" "$@"; }
# expect CODE DESCRIPTION -- command...: runs it, keeps stdout/stderr in $T/out, $T/err
expect() {
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
has() { # has FILE TEXT DESCRIPTION
	if grep -qF -- "$2" "$1"; then ok "$3"; else
		not_ok "$3: \"$2\" not in $(basename "$1")"
		sed 's/^/    | /' "$1" | head -20
	fi
}
hasnt() {
	if grep -qF -- "$2" "$1"; then not_ok "$3: \"$2\" found in $(basename "$1")"; else ok "$3"; fi
}
journal_has() { grep -qs -- "$1" "$T"/state/runs/*.journal; }
kv() { cat "$SALVE_TESTKIT_DIR/kv/$1" 2>/dev/null || echo "<absent>"; }
wait_for() { # wait_for SECONDS COMMAND...
	local until=$((SECONDS + $1))
	shift
	while ! "$@" 2>/dev/null; do
		[ $SECONDS -ge $until ] && return 1
		sleep 0.05
	done
}

mkdir -p "$T/kit"
cat >"$T/two.lua" <<'LUA'
runbook { name = "two", params = { name = { required = true }, hold = { type = "number", default = 0 } },
          lock = "test/{name}" }
local kit = plugin "testkit"
step "one" { run = function(p) return kit.set{ key = "a", value = p.name } end }
step "two" { run = function(p) local r = kit.set{ key = "b", value = p.name .. "-b" }
  if p.hold > 0 then kit.sleep{ seconds = p.hold } end return r end }
LUA

# --- the basics
expect 0 "--version" -- "$SALVE" --version
has "$T/out" "plugin ABI 1.2" "--version names the plugin ABI"
expect 0 "run --help" -- "$SALVE" run --help
has "$T/out" "--dry-run" "run --help lists --dry-run"
expect 64 "unknown command" -- "$SALVE" frobnicate
has "$T/err" 'unknown command "frobnicate"' "unknown command is named"
expect 64 "run without a runbook" -- S run
expect 64 "missing runbook file" -- S run "$T/nope.lua"
has "$T/err" "nope.lua: cannot read runbook" "missing runbook file is named"
expect 64 "missing required param" -- S run "$T/two.lua"
has "$T/err" "missing required param 'name'" "missing param is named"
expect 64 "unknown param" -- S run -p name=x -p colour=red "$T/two.lua"
has "$T/err" "unknown param 'colour' (runbook two takes: hold, name)" "unknown param lists the known ones"
expect 64 "param of the wrong type" -- S run -p name=x -p hold=soon "$T/two.lua"
has "$T/err" 'param hold must be a number, got "soon"' "wrong param type is explained"
for bad in nan inf -5s 0x10 1e3 5min; do
	expect 64 "--timeout $bad is refused" -- S run --timeout "$bad" -p name=x "$T/two.lua"
	has "$T/err" "not a duration: \"$bad\"" "--timeout $bad is named as not a duration"
done

# --- F11: bytes from a runbook, a parameter or a plugin never reach the terminal raw
cat >"$T/forge.lua" <<'LUA'
runbook { name = "forge", params = { label = { required = true } } }
step "s" { run = function(p) error("bad \r\27[32mok" .. p.label) end }
LUA
expect 1 "a step error carrying control bytes fails the run" -- \
	S run -p "label=$(printf 'x\nsalve: run FAKE: success (exit 0)')" "$T/forge.lua"
has "$T/out" 'bad \r\x1b[32mokx\nsalve: run FAKE: success (exit 0)' "control bytes in a step error are shown escaped"
if grep -q "$(printf '\033')" "$T/out" "$T/err" || grep -q '^salve: run FAKE' "$T/out" "$T/err"; then
	not_ok "no raw ESC and no forged line in the output"
else
	ok "no raw ESC and no forged line in the output"
fi
expect 64 "a param error carrying control bytes" -- S run -p name=x -p "$(printf 'co\033[2Jlour=1')" "$T/two.lua"
has "$T/err" "unknown param 'co\x1b[2Jlour'" "control bytes in a usage error are shown escaped"

expect 64 "--fail-at an unknown step" -- S run -p name=x --fail-at nine "$T/two.lua"
has "$T/err" "--fail-at nine: runbook two has no such step" "--fail-at names the step"

# --- invalid runbooks and missing plugins
printf 'runbook { name = "bad" }\nstep "x" {\n  run = function() end,\n  end\n}\n' >"$T/bad.lua"
expect 65 "syntax error" -- S run "$T/bad.lua"
has "$T/err" "bad.lua:4: unexpected symbol near 'end'" "syntax error names file:line"
printf 'runbook { name = "np" }\nlocal k = plugin "kubernetez"\nstep "x" { run = function() end }\n' >"$T/np.lua"
expect 69 "missing plugin" -- S run "$T/np.lua"
has "$T/err" 'np.lua:2: plugin "kubernetez" not found (searched ' "missing plugin names file:line and the search path"
expect 69 "validate: missing plugin" -- S validate "$T/np.lua"
expect 0 "validate a good runbook" -- S validate "$T/two.lua"
has "$T/out" "runbook two is valid: 2 steps" "validate says what it found"
printf 'runbook { name = "ua" }\nlocal k = plugin "testkit"\nstep "x" { run = function()\n  return k.sett{ key = "a", value = "b" }\nend }\n' >"$T/ua.lua"
expect 65 "validate: unknown action before anything runs" -- S validate "$T/ua.lua"
has "$T/err" "ua.lua:4: plugin testkit has no action 'sett'" "unknown action is reported with file:line"
printf 'runbook { name = "ma" }\nlocal k = plugin "testkit"\nstep "x" { run = function()\n  return k.set{ key = "a" }\nend }\n' >"$T/ma.lua"
expect 65 "validate: missing argument before anything runs" -- S validate "$T/ma.lua"
has "$T/err" "ma.lua:4: testkit.set: missing required argument 'value'" "missing argument is reported with file:line"
printf 'runbook { name = "wt" }\nlocal k = plugin "testkit"\nstep "x" { run = function()\n  return k.set{ key = "a", value = 42 }\nend }\n' >"$T/wt.lua"
expect 65 "run: wrong argument type refused before anything runs" -- S run "$T/wt.lua"
has "$T/err" "wt.lua:4: testkit.set: argument 'value' must be string, got integer" "wrong type is reported with file:line"
[ "$(cat "$SALVE_TESTKIT_DIR/calls/set.check" 2>/dev/null | wc -c)" = 0 ] && ok "nothing ran for an invalid runbook" || not_ok "a plugin was called for an invalid runbook"

# --- plugins
expect 0 "plugins --json" -- S plugins --json
python3 - "$T/out" <<'PY' && ok "plugins --json lists testkit's kinds" || not_ok "plugins --json content"
import json, sys
d = json.load(open(sys.argv[1]))
kit = [p for p in d["plugins"] if p["name"] == "testkit"][0]
kinds = {a["name"]: (a["kind"], a["undoable"]) for a in kit["actions"]}
assert kinds["set"] == ("mutate", True) and kinds["drop"] == ("mutate", False)
assert kinds["get"][0] == "read" and kinds["notify"][0] == "notify"
assert any(a["name"] == "value" and a["required"] for a in [x for x in kit["actions"] if x["name"] == "set"][0]["args"])
PY

# --- dry-run, apply, idempotency, rollback
expect 0 "dry-run" -- S run --dry-run -p name=first "$T/two.lua"
has "$T/out" "would testkit.set a:" "dry-run shows what it would change"
[ "$(kv a)" = "<absent>" ] && ok "dry-run changed nothing" || not_ok "dry-run changed a"
expect 0 "apply" -- S run -p name=first "$T/two.lua"
[ "$(kv a)/$(kv b)" = "first/first-b" ] && ok "apply changed a and b" || not_ok "apply: a=$(kv a) b=$(kv b)"
expect 0 "idempotent re-run" -- S run --json -p name=first "$T/two.lua"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [s["outcome"] for s in d["steps"]]==["ok","ok"], d' "$T/out" \
	&& ok "re-run reports ok for every step" || not_ok "re-run outcomes"
expect 1 "--fail-at rolls back" -- S run -p name=second --fail-at two "$T/two.lua"
[ "$(kv a)/$(kv b)" = "first/first-b" ] && ok "rollback restored the previous values" || not_ok "after rollback: a=$(kv a) b=$(kv b)"

# --- audit log
expect 0 "audit verify" -- S audit verify "$T/audit.jsonl"
has "$T/out" "hash chain intact" "the chain verifies"
cp "$T/audit.jsonl" "$T/tampered.jsonl"
sed -i '5s/"ts":"2/"ts":"3/' "$T/tampered.jsonl"
expect 1 "audit verify detects an edit" -- S audit verify "$T/tampered.jsonl"
has "$T/err" "tampered.jsonl:6: hash chain broken" "the edited line is named"
cp "$T/audit.jsonl" "$T/cut.jsonl"
sed -i '9d' "$T/cut.jsonl"
expect 1 "audit verify detects a removed line" -- S audit verify "$T/cut.jsonl"
has "$T/err" "cut.jsonl:9: record seq 10 follows seq 8" "the gap is named"

# --- locks
"$SALVE" "${COMMON[@]}" run -p name=locked -p hold=30 "$T/two.lua" >"$T/holder.out" 2>&1 &
holder=$!
pids+=($holder)
wait_for 10 test -s "$T/state/locks/test%2Flocked.lock"
expect 75 "--no-wait on a held lock" -- S run --no-wait -p name=locked "$T/two.lua"
has "$T/err" 'lock "test/locked" is held by run' "the lock holder is named"
expect 75 "--lock-timeout on a held lock" -- S run --lock-timeout 300ms -p name=locked "$T/two.lua"
expect 0 "a different lock key runs" -- S run --no-wait -p name=other "$T/two.lua"

# --- SIGTERM stops the step and rolls back
wait_for 10 journal_has '"t":"undo".*"step":"two"'
kill -TERM $holder
wait $holder
code=$?
[ $code = 1 ] && ok "SIGTERM: exit 1 (rolled back)" || not_ok "SIGTERM: exit $code"
has "$T/holder.out" "run interrupted by signal 15" "SIGTERM is reported"
# The run that held the lock restores what it found (first), over the other run's value.
[ "$(kv a)/$(kv b)" = "first/first-b" ] && ok "SIGTERM rolled back to the values the run found" || not_ok "after SIGTERM a=$(kv a) b=$(kv b)"

# --- kill -9, then recover
"$SALVE" "${COMMON[@]}" run -p name=killed -p hold=30 "$T/two.lua" >/dev/null 2>&1 &
victim=$!
pids+=($victim)
wait_for 10 journal_has '"t":"undo".*"step":"two"'
kill -9 $victim
wait $victim 2>/dev/null
[ "$(kv a)/$(kv b)" = "killed/killed-b" ] && ok "kill -9 left the changes in place" || not_ok "after kill: a=$(kv a) b=$(kv b)"
expect 0 "recover rolls the dead run back" -- S recover
has "$T/out" "rolled_back" "recover reports the rollback"
[ "$(kv a)/$(kv b)" = "first/first-b" ] && ok "recover restored the values from before the dead run" || not_ok "after recover: a=$(kv a) b=$(kv b)"
ls "$T"/state/runs/*.journal >/dev/null 2>&1 && not_ok "the journal remains" || ok "the journal is gone"
expect 0 "recover again: nothing to do" -- S recover
has "$T/out" "nothing to recover" "a second recover finds nothing"
expect 0 "the audit chain is intact after kill -9 and recover" -- S audit verify "$T/audit.jsonl"
has "$T/audit.jsonl" '"event":"recover_end","outcome":"rolled_back"' "recovery is audited"

# --- kill -9 during an apply: recover says it cannot know
cat >"$T/mid.lua" <<'LUA'
runbook { name = "mid" }
local kit = plugin "testkit"
step "one" { run = function() return kit.set{ key = "m1", value = "1" } end }
step "two" { run = function() return kit.set{ key = "m2", value = "2", pause_after = 30 } end }
LUA
"$SALVE" "${COMMON[@]}" run "$T/mid.lua" >/dev/null 2>&1 &
victim=$!
pids+=($victim)
wait_for 10 test -e "$SALVE_TESTKIT_DIR/kv/m2"
kill -9 $victim
wait $victim 2>/dev/null
expect 2 "recover after a kill mid-apply: rollback incomplete" -- S recover
has "$T/out" "testkit.set m2: the runner stopped while applying it; whether it changed anything is unknown" "recover names what it cannot undo"
[ "$(kv m1)" = "<absent>" ] && ok "recover still undid the earlier change" || not_ok "m1=$(kv m1)"

# --- params file, run timeout, config errors
printf 'name: fromfile\nhold: 0\n' >"$T/params.yaml"
expect 0 "--params-file" -- S run --json --params-file "$T/params.yaml" "$T/two.lua"
[ "$(kv a)" = "fromfile" ] && ok "params came from the file" || not_ok "a=$(kv a)"
expect 0 "--param wins over --params-file" -- S run --params-file "$T/params.yaml" -p name=cli "$T/two.lua"
[ "$(kv a)" = "cli" ] && ok "--param overrode the file" || not_ok "a=$(kv a)"
printf 'name: [unclosed\n' >"$T/badparams.yaml"
expect 64 "broken params file" -- S run --params-file "$T/badparams.yaml" "$T/two.lua"
has "$T/err" "badparams.yaml:" "the params file error names the file"
expect 1 "run --timeout stops a long run and rolls back" -- S run --timeout 300ms -p name=slow -p hold=30 "$T/two.lua"
has "$T/out" "testkit.sleep: deadline passed after" "the deadline is reported"
python3 - "$T/audit.jsonl" <<'PY' && ok "step_end records carry the step's real duration" || not_ok "step_end duration_ms"
import json, sys
ends = [json.loads(l) for l in open(sys.argv[1]) if '"event":"step_end"' in l and '"step":"two"' in l]
assert any(e.get("duration_ms", 0) >= 250 for e in ends), [e.get("duration_ms") for e in ends]
PY
[ "$(kv a)" = "cli" ] && ok "the timed-out run was rolled back" || not_ok "a=$(kv a)"
printf 'audit: [1, 2]\n' >"$T/bad.yaml"
expect 65 "invalid config" -- "$SALVE" --config "$T/bad.yaml" run "$T/two.lua"
has "$T/err" "bad.yaml: audit must be a file path" "the config error names the file and key"
printf 'plugins:\n  testkit: { colour: red }\n' >"$T/plug.yaml"
expect 69 "an unknown plugin setting stops the run before it starts" -- "$SALVE" --config "$T/plug.yaml" "${COMMON[@]}" run -p name=x "$T/two.lua"
has "$T/err" "plugins.testkit.colour: unknown setting (known: dir)" "the unknown setting is named"
[ "$(kv a)" = "cli" ] && ok "nothing ran with the bad setting" || not_ok "a=$(kv a)"

# --- approvals
cat >"$T/appr.lua" <<'LUA'
runbook { name = "appr" }
local kit = plugin "testkit"
step "risky" { approve = { timeout = "15m" }, run = function() return kit.set{ key = "r", value = "1" } end }
LUA
expect 1 "a step needing approval fails without an approver" -- S run "$T/appr.lua"
has "$T/out" 'not approved: step "risky" needs approval: run it under salve serve, or pass --approve' "the missing approval is explained"
[ "$(kv r)" = "<absent>" ] && ok "the unapproved step did nothing" || not_ok "r=$(kv r)"
expect 0 "a dry-run says it would ask" -- S run --dry-run "$T/appr.lua"
has "$T/out" 'would ask for approval of step "risky"' "dry-run names the approval"
expect 0 "--approve approves" -- S run --approve "$T/appr.lua"
[ "$(kv r)" = "1" ] && ok "the approved step ran" || not_ok "r=$(kv r)"
has "$T/audit.jsonl" '"event":"approval","step":"risky","outcome":"approved"' "the approval is audited"

# --- degraded runs and progress lines
cat >"$T/deg.lua" <<'LUA'
runbook { name = "deg" }
local kit = plugin "testkit"
step "fleet" { run = function() kit.set{ key = "fleet", value = "patched" } kit.sleep{ seconds = 0.01 }
  degraded("web3: health check failed") return true end }
step "after" { run = function() return kit.set{ key = "after", value = "ran" } end }
LUA
expect 3 "degraded() completes the run with exit 3" -- S run "$T/deg.lua"
has "$T/out" "degraded: web3: health check failed" "the tolerated failure is printed"
has "$T/out" "salve: degraded (exit 3)" "the run ends as degraded"
[ "$(kv fleet)/$(kv after)" = "patched/ran" ] && ok "a degraded run is not rolled back" || not_ok "fleet=$(kv fleet) after=$(kv after)"
has "$T/err" "salve: testkit.sleep: progress: sleeping 0.0 s" "progress is a plain line when stderr is not a terminal"
has "$T/audit.jsonl" '"event":"degraded","step":"fleet","message":"web3: health check failed"' "degraded is audited"

# --- maintenance window
expect 75 "outside the window" -- S run --window "$(date -d tomorrow +%a) 00:00-00:01" -p name=w "$T/two.lua"
has "$T/err" "outside the maintenance window" "outside the window is explained"
tail -n 1 "$T/audit.jsonl" >"$T/last"
has "$T/last" '"event":"run_refused"' "a refusal outside the window is audited"
has "$T/last" '"reason":"outside the maintenance window"' "with its reason"
has "$T/last" "\"uid\":$(id -u)" "and who asked (uid)"
has "$T/last" "\"host\":\"$(hostname)\"" "and the host"
SUDO_USER=alice S run -p name=who "$T/two.lua" >/dev/null 2>&1
grep '"event":"run_start"' "$T/audit.jsonl" | tail -n 1 >"$T/last"
has "$T/last" '"sudo_user":"alice"' "a CLI run audits the person behind sudo"
has "$T/last" "\"user\":\"$(id -un)\"" "and the account"
expect 0 "audit verify without FILE checks the configured log" -- S audit verify
has "$T/out" "$T/audit.jsonl" "it names the log it checked"
expect 64 "bad window" -- S run --window "Someday 1-2" -p name=w "$T/two.lua"

# --- secrets
export SALVE_TESTKIT_SECRET=env-secret-value-987
printf 'runbook { name = "leak" }\nlocal k = plugin "testkit"\nstep "x" { run = function() return k.leak{ token = "arg-secret-value-123" } end }\n' >"$T/leak.lua"
expect 1 "a leaking plugin fails" -- S run "$T/leak.lua"
for f in "$T/out" "$T/err" "$T/audit.jsonl"; do
	hasnt "$f" "arg-secret-value-123" "secret argument absent from $(basename "$f")"
	hasnt "$f" "env-secret-value-987" "looked-up secret absent from $(basename "$f")"
done
has "$T/err" "[REDACTED]" "the plugin's log line was redacted"

# --- the embedded default job
expect 0 "builtin host-check dry-run" -- S run --dry-run -p config="$T/host.conf" builtin:host-check
has "$T/out" "would host.ensure_line $T/host.conf" "host-check plans its change"
[ -e "$T/host.conf" ] && not_ok "dry-run created the file" || ok "host-check dry-run created nothing"

# --- hostile runbooks (issue 10): each attack fails its run cleanly; the process lives on
attack() { # attack FILE STEP-BODY: step "x" sets the key named as the file, step "y" attacks
	printf 'runbook { name = "attack" }\nlocal kit = plugin "testkit"\nstep "x" { run = function() return kit.set{ key = "%s", value = "1" } end }\nstep "y" { run = function(p, s)\n%s\nend }\n' "$(basename "$1" .lua)" "$2" >"$1"
}
attack "$T/f1.lua" 'local bc=string.dump(function() local x="AAAAAAAA" return x end,true)
local i=bc:find("\3\0\0\0",1,true)
__salve_load(bc:sub(1,i-1).."\3\128\255\255"..bc:sub(i+4),"e","b")()'
expect 1 "F1: the bytecode exploit fails its run (no SIGSEGV)" -- S run "$T/f1.lua"
has "$T/out" "f1.lua:5: attempt to call a nil value (field 'dump')" "F1: string.dump is not there"
[ "$(kv f1)" = "<absent>" ] && ok "F1: the run was rolled back" || not_ok "f1=$(kv f1)"
attack "$T/f2.lua" 'setmetatable(s, {__newindex = function() error("x") end}) return 1 end }
step "z" { run = function() error("after the exploit") end }
step "zz" { run = function()'
expect 1 "F2: erroring metamethods on s do not abort (was SIGABRT)" -- S run "$T/f2.lua"
has "$T/out" "f2.lua:6: after the exploit" "F2: the run went on to the next step"
[ "$(kv f2)" = "<absent>" ] && ok "F2: the run was rolled back" || not_ok "f2=$(kv f2)"
attack "$T/f3a.lua" 'setmetatable({}, {__gc = function() while true do end end})'
expect 1 "F3a: a looping __gc is refused (was a spin after success)" -- timeout 60 "$SALVE" "${COMMON[@]}" run "$T/f3a.lua"
has "$T/out" "setmetatable: __gc finalizers are not available to runbooks" "F3a: the refusal is explained"
[ "$(kv f3a)" = "<absent>" ] && ok "F3a: the run was rolled back" || not_ok "f3a=$(kv f3a)"
attack "$T/f3a2.lua" 'local mt = {} setmetatable({}, mt) mt.__gc = function() while true do end end'
expect 0 "F3a: __gc added afterwards never runs: salve exits" -- timeout 60 "$SALVE" "${COMMON[@]}" run "$T/f3a2.lua"
printf 'runbook { name = "top" }\nlog("top level running")\nwhile true do end\nstep "a" { run = function() end }\n' >"$T/f3b.lua"
expect 1 "F3b: --timeout covers the top level" -- timeout 60 "$SALVE" "${COMMON[@]}" run --timeout 1s "$T/f3b.lua"
has "$T/err" "f3b.lua:3: the run's timeout passed while the runbook's top level was running: nothing was run" "F3b: the timeout is reported"
"$SALVE" "${COMMON[@]}" run "$T/f3b.lua" >"$T/top.out" 2>"$T/top.err" &
victim=$!
pids+=($victim)
wait_for 20 grep -q "top level running" "$T/top.err"
kill -TERM $victim
wait $victim
code=$?
[ $code = 1 ] && ok "F3b: SIGTERM stops the top level: exit 1" || not_ok "F3b: SIGTERM during the top level: exit $code"
has "$T/top.err" "interrupted by signal 15 while the runbook's top level was running: nothing was run" "F3b: the signal is reported"
attack "$T/f3c.lua" 'return string.rep("a",20000):find(".-.-.-b")'
expect 1 "F3c: a runaway pattern in a 2 s step is refused" -- timeout 60 "$SALVE" "${COMMON[@]}" run --step-timeout 2s "$T/f3c.lua"
has "$T/out" 'string.find: pattern ".-.-.-b" is too costly for a 20000-byte subject' "F3c: the refusal names the function, pattern and subject"
[ "$(kv f3c)" = "<absent>" ] && ok "F3c: the run was rolled back" || not_ok "f3c=$(kv f3c)"


# --- --json: versioned, with plans, and for refused runs (docs/cli-json.md)
expect 64 "unknown param, --json" -- S run --json -p name=x -p colour=red "$T/two.lua"
python3 - "$T/out" <<'PY' && ok "--json says why a refused run did not start (format 1)" ||
import json, sys
d = json.load(open(sys.argv[1]))
assert d["format"] == 1 and d["outcome"] == "refused" and d["stage"] == "params" \
    and d["exit_code"] == 64 and "colour" in d["error"], d
PY
	not_ok "--json for a refused run: $(cat "$T/out")"
expect 0 "dry-run --json" -- S run --json --dry-run -p name=plan "$T/two.lua"
python3 - "$T/out" <<'PY' && ok "--json carries each planned change with its plan" ||
import json, sys
d = json.load(open(sys.argv[1]))
c = d["steps"][0]["changes"][0]
assert d["format"] == 1 and d["mode"] == "dry-run" and c["state"] == "planned" \
    and c["plan"]["planned"] is True, d
PY
	not_ok "--json dry-run plan: $(cat "$T/out")"

echo
echo "$passed passed, $failed failed"
[ $failed = 0 ]
