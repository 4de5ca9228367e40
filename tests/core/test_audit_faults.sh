#!/usr/bin/env bash
# The audit log under faults, through the real salve binary: a full disk at an exact audit
# write (strace fault injection, deterministic), an audit path planted as a symlink, a deleted
# head file. Each replays the attack or fault of issue 11 (bugs 6, 8, 9) and asserts the safe
# outcome: exit codes, the log verifying, targets rolled back, nothing written elsewhere.
set -u
SALVE=${SALVE_BIN:?run through ctest}
if ! command -v strace >/dev/null; then
	echo "SKIP: strace is not installed (apt-get install strace): the fault injection needs it"
	exit 77
fi
T=$(mktemp -d /tmp/salve-audit-faults-XXXXXX)
export SALVE_TESTKIT_DIR=$T/kit
export SALVE_PLUGIN_PATH=$SALVE_TEST_PLUGIN_DIR
trap 'rm -rf "$T"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }
AUDIT=$T/log/audit.jsonl
COMMON=(--audit "$AUDIT" --state-dir "$T/state")
S() { "$SALVE" "${COMMON[@]}" "$@"; }
# LeakSanitizer cannot stop the world of a traced process; leaks are the unit tests' job.
# -P: only the log's own writes are counted and failed (not stdout's, not the head's pwrite).
inject() { # inject SPEC COMMAND...: COMMAND with the audit log's writes tampered by SPEC
	local spec=$1
	shift
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		strace -f -qq -o /dev/null -P "$AUDIT" -e trace=write -e "inject=write:$spec" "$@"
}
expect() { # expect CODE DESCRIPTION -- command...: keeps stdout/stderr in $T/out, $T/err
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
same() { # same FILE1 FILE2 DESCRIPTION
	if cmp -s "$1" "$2"; then ok "$3"; else not_ok "$3: $1 and $2 differ"; fi
}
kv() { cat "$SALVE_TESTKIT_DIR/kv/$1" 2>/dev/null || echo "<absent>"; }
records() { wc -l <"$AUDIT" | tr -d ' '; }
last_event() { tail -n 1 "$AUDIT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["event"])'; }
ends_with_newline() { [ "$(tail -c 1 "$AUDIT" | od -An -c | tr -d ' ')" = '\n' ]; }

mkdir -p "$T/kit"
cat >"$T/two.lua" <<'LUA'
runbook { name = "two", params = { name = { required = true } } }
local kit = plugin "testkit"
step "one" { run = function(p) return kit.set{ key = "a", value = p.name } end }
step "two" { run = function(p) return kit.set{ key = "b", value = p.name .. "-b" } end }
LUA

# --- bug 6: the disk fills up at the 3rd audit write (the first action's record)
expect 0 "a first run" -- S run -q -p name=first "$T/two.lua"
n0=$(records)
expect 74 "ENOSPC on an audit write: the run stops and exits 74" -- \
	inject error=ENOSPC:when=3 "$SALVE" "${COMMON[@]}" run -p name=second "$T/two.lua"
has "$T/err" "No space left on device" "the error names the full disk"
[ "$(kv a)/$(kv b)" = "first/first-b" ] && ok "what the run changed was rolled back" ||
	not_ok "after ENOSPC: a=$(kv a) b=$(kv b)"
ends_with_newline && ok "the log ends with a complete record" || not_ok "the log ends mid-line"
expect 0 "audit verify after ENOSPC" -- S audit verify "$AUDIT"
grep -q '"event":"run_end".*"exit_code":74' "$AUDIT" && ok "run_end records exit 74" ||
	not_ok "no run_end with exit_code 74"
[ "$(records)" -gt "$n0" ] && ok "the records around the failed one were written" ||
	not_ok "no records were written after the failure"

# a write the kernel cuts short (nothing of it reaches the file under injection)
expect 74 "a short audit write: exit 74" -- \
	inject retval=9:when=2 "$SALVE" "${COMMON[@]}" run -p name=third "$T/two.lua"
has "$T/err" "write cut short after 9 of" "the error says the write was cut short"
ends_with_newline && ok "no half line after a short write" || not_ok "half a line left"
expect 0 "audit verify after a short write" -- S audit verify "$AUDIT"
expect 0 "the next run appends normally" -- S run -q -p name=fourth "$T/two.lua"
expect 0 "audit verify after the next run" -- S audit verify "$AUDIT"
[ "$(kv a)" = "fourth" ] && ok "the next run did its work" || not_ok "a=$(kv a) after the next run"

# --- bug 8: the audit path is a symlink to a copy of /etc/passwd
printf 'root:x:0:0:root:/root:/bin/bash\n' >"$T/passwd.copy"
cp "$T/passwd.copy" "$T/passwd.orig"
mkdir -m 0700 "$T/evil"
ln -s "$T/passwd.copy" "$T/evil/audit.jsonl"
expect 73 "run with a symlinked audit log is refused" -- \
	"$SALVE" --audit "$T/evil/audit.jsonl" --state-dir "$T/state" run -q -p name=x "$T/two.lua"
has "$T/err" "audit log $T/evil/audit.jsonl is a symbolic link: refused" "the refusal says why"
same "$T/passwd.copy" "$T/passwd.orig" "the symlink's target was not written"
[ "$(kv a)" = "fourth" ] && ok "nothing ran" || not_ok "a=$(kv a) after a refused run"
mkdir -m 0777 "$T/open"
chmod 0777 "$T/open"
expect 73 "run with an audit log in a world-writable directory is refused" -- \
	"$SALVE" --audit "$T/open/audit.jsonl" --state-dir "$T/state" run -q -p name=x "$T/two.lua"
has "$T/err" "is writable by everyone (mode 0777): refused" "the directory's mode is named"

# --- bug 9: delete the head, cut the last 3 records
cp "$AUDIT" "$T/full.jsonl"
rm "$AUDIT.head"
head -n -3 "$T/full.jsonl" >"$AUDIT"
cp "$AUDIT" "$T/cut.jsonl"
expect 1 "audit verify fails when the head is missing" -- S audit verify "$AUDIT"
has "$T/err" "audit.jsonl.head is missing or empty while the log has" "verify names the missing head"
expect 73 "run refuses to append without the head" -- S run -q -p name=fifth "$T/two.lua"
has "$T/err" "salve audit verify --accept-missing-head" "the refusal names the way out"
same "$AUDIT" "$T/cut.jsonl" "the log was not appended to"
[ -e "$AUDIT.head" ] && not_ok "the head was recreated" || ok "the head was not recreated"
expect 64 "audit verify rejects an unknown option" -- S audit verify --accept-head "$AUDIT"
expect 0 "audit verify --accept-missing-head" -- S audit verify --accept-missing-head "$AUDIT"
has "$T/out" "the missing head was accepted" "accepting says so"
[ "$(last_event)" = "audit_head_accepted" ] && ok "the acceptance is audited" ||
	not_ok "last event is $(last_event)"
expect 0 "audit verify after accepting" -- S audit verify "$AUDIT"
expect 0 "run appends again" -- S run -q -p name=fifth "$T/two.lua"
expect 0 "audit verify after the run" -- S audit verify "$AUDIT"

echo
echo "$passed passed, $failed failed"
[ $failed = 0 ]
