#!/usr/bin/env bash
# salve run --record and salve test (core/record.c, core/replay.c, core/runbook_tests.c): a
# real run recorded, replayed offline with the same outcome; wrong expectations, unexpected
# calls and injected failures reported as such; TAP and JUnit; secrets never recorded.
set -u
: "${SALVE_BIN:?run through ctest}" "${SALVE_PLUGIN_DIR:?}"
T=$(mktemp -d /tmp/salve-rbtests-XXXXXX)
trap 'rm -rf "$T"' EXIT
chmod 700 "$T"
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
bad() { failed=$((failed + 1)); echo "not ok - $*"; }
check() { # DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
S() { "$SALVE_BIN" --plugin-path "$SALVE_PLUGIN_DIR" --audit "$T/audit.jsonl" --state-dir "$T/state" "$@"; }

cat >"$T/rb.lua" <<'EOF2'
runbook { name = "demo", params = { path = { required = true }, token = { default = "" } } }
local host = plugin "host"
step "disk" { check = function(p) return host.disk{ path = "/" }.used_pct <= 100 end,
              run = function() error("no disk") end }
step "line" { run = function(p)
  return host.ensure_line{ path = p.path, line = "token = " .. secret("env:DEMO_TOKEN"), create = true }
end }
step "last" { run = function(p) if p.path:match("bad") then error("boom at the end") end end }
EOF2
export DEMO_TOKEN=s3cr3t-demo-token-value

# --- recording real runs
S run --record "$T/ok.json" -p path="$T/good.conf" "$T/rb.lua" >"$T/out" 2>&1
check "a recorded run succeeds" [ $? = 0 ]
S run --record "$T/bad.json" -p path="$T/bad.conf" "$T/rb.lua" >"$T/out" 2>&1
check "a recorded failing run rolls back (exit 1)" [ $? = 1 ]
check "the recording names every call and the undo" \
	python3 - "$T/bad.json" <<'EOF2'
import json, sys
d = json.load(open(sys.argv[1]))
got = [(c["step"], c["call"], c["phase"], c["outcome"]) for c in d["calls"]]
want = [("disk", "host.disk", "check", "ok"), ("line", "host.ensure_line", "run", "changed"),
        ("line", "host.ensure_line", "undo", "undone")]
assert d["format"] == 1 and d["outcome"] == "rolled_back" and got == want, got
EOF2
check "no secret value is recorded" bash -c "! grep -q s3cr3t-demo-token-value '$T/ok.json' '$T/bad.json'"
check "the redaction marker stands in for it" grep -q REDACTED "$T/bad.json"

# --- replaying them
cat >"$T/demo.test.yaml" <<EOF2
runbook: $T/rb.lua
fixture: bad.json
tests:
  - name: replayed, the failure rolls back the same way
    params: { path: $T/bad.conf }
    expect:
      exit: 1
      outcome: rolled_back
      steps: { disk: ok, line: rolled_back, last: failed }
      calls: [host.disk, host.ensure_line]
      undone: [host.ensure_line]
      error: boom at the end
  - name: the success replays too
    fixture: ok.json
    params: { path: $T/good.conf }
    expect: { exit: 0, outcome: success, steps: { line: changed } }
  - name: an undo that fails leaves the run incomplete
    params: { path: $T/bad.conf }
    inject: [{ call: "undo:host.ensure_line", error: "read-only file system" }]
    expect: { exit: 2, outcome: rollback_incomplete, steps: { line: rollback_failed } }
EOF2
rm -f "$T/bad.conf" "$T/good.conf"
S test "$T/demo.test.yaml" >"$T/tap" 2>&1
check "salve test passes a faithful replay (exit 0)" [ $? = 0 ]
check "TAP: a plan and three oks" bash -c "grep -qx '1..3' '$T/tap' && [ \$(grep -c '^ok ' '$T/tap') = 3 ]"
check "replay touched nothing: the runbook's file was never written" [ ! -e "$T/bad.conf" ]

cat >"$T/wrong.test.yaml" <<EOF2
runbook: $T/rb.lua
fixture: bad.json
tests:
  - name: expects the wrong outcome
    params: { path: $T/bad.conf }
    expect: { exit: 0, steps: { last: ok } }
  - name: another path is an unexpected call
    params: { path: $T/elsewhere.conf }
    expect: { exit: 1 }
  - name: an injected error on the edit skips the rest
    params: { path: $T/bad.conf }
    inject: [{ call: host.ensure_line, error: "EROFS" }]
    expect: { exit: 1, steps: { line: failed, last: skipped }, undone: [], error: EROFS }
EOF2
S test "$T/wrong.test.yaml" >"$T/tap" 2>&1
code=$?
check "a failing test makes salve test exit 1" [ $code = 1 ]
check "the wrong expectation is named" grep -q "exit: expected 0, got 1" "$T/tap"
check "and the step outcome" grep -q "step last: expected ok, got failed" "$T/tap"
check "an unexpected call is shown with its arguments" \
	grep -q "unexpected call host.ensure_line{.*elsewhere.conf.*the fixture's next call is host.ensure_line" "$T/tap"
check "an injected failure proves the path it takes" grep -q "^ok 3 " "$T/tap"

S test --format junit "$T/wrong.test.yaml" >"$T/junit.xml" 2>&1
check "JUnit XML: well formed, 3 cases, 2 failures" python3 - "$T/junit.xml" <<'EOF2'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
cases = root.findall(".//testcase")
assert len(cases) == 3 and len(root.findall(".//failure")) == 2, ET.tostring(root)
EOF2

echo "tests: [ not a mapping" >"$T/broken.test.yaml"
S test "$T/broken.test.yaml" >"$T/tap" 2>&1
check "a malformed test file is a failed test naming the file" \
	bash -c "[ $? = 1 ] && grep -q 'not ok 1 - $T/broken.test.yaml' '$T/tap'"
S test "$T/nothing-here" >"$T/tap" 2>&1
check "a path that does not exist is a failed test saying so" \
	bash -c "[ $? = 1 ] && grep -q 'nothing-here: No such file' '$T/tap'"
mkdir "$T/empty"
S test "$T/empty" >"$T/tap" 2>&1
check "a folder without tests: exit 64" [ $? = 64 ]

# An argument's choices hold at run time too, for values the pre-run checks cannot see.
cat >"$T/svc.lua" <<'EOF2'
runbook { name = "svc", params = { state = { default = "restarted" } } }
local ssh = plugin "ssh-patch"
step "a" { run = function(p) return ssh.service{ hosts = "all", name = "x", state = p.state } end }
EOF2
cat >"$T/svc.test.yaml" <<EOF2
runbook: $T/svc.lua
tests:
  - name: a computed state outside the choices is refused before the plugin is asked
    calls: []
    params: { state: restart }
    expect:
      exit: 1
      calls: []
      error: "argument 'state' must be one of started, stopped, restarted, got \"restart\""
EOF2
S test "$T/svc.test.yaml" >"$T/tap" 2>&1
check "choices are enforced at run time (the call is refused, its step fails)" grep -q "^ok 1 " "$T/tap"

echo "# $passed passed, $failed failed"
[ $failed = 0 ]
