#!/usr/bin/env bash
# salve recover and the journal, against the real binary: each bug of issue 11 replayed with
# a deterministic kill point (strace fault injection at the Nth call of a syscall, N learned
# from a traced run of the same command), and the outcome asserted on the files themselves.
set -u
SALVE=${SALVE_BIN:?run through ctest}
command -v strace >/dev/null || {
	echo "strace is needed (bash .ci/install-deps)"
	exit 1
}
T=$(mktemp -d /tmp/salve-recover-XXXXXX)
export SALVE_TESTKIT_DIR=$T/kit
export SALVE_PLUGIN_PATH=$SALVE_TEST_PLUGIN_DIR:$SALVE_PLUGIN_DIR
# LeakSanitizer cannot run under ptrace; a process killed by a fault never exits anyway.
TRACED_ASAN=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
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
COMMON=(--audit "$T/audit.jsonl" --state-dir "$T/state")
S() { "$SALVE" "${COMMON[@]}" "$@"; }
SC=("$SALVE" "${COMMON[@]}") # the same, for strace to run
expect() { # expect CODE DESCRIPTION -- command...
	local want=$1 what=$2
	shift 3
	"$@" >"$T/out" 2>"$T/err"
	local got=$?
	if [ "$got" = "$want" ]; then ok "$what (exit $got)"; else
		not_ok "$what: exit $got, wanted $want"
		sed 's/^/    out: /' "$T/out" | head -30
		sed 's/^/    err: /' "$T/err" | head -30
	fi
}
has() {
	if grep -qF -- "$2" "$1"; then ok "$3"; else
		not_ok "$3: \"$2\" not in $(basename "$1")"
		sed 's/^/    | /' "$1" | head -30
	fi
}
hasnt() {
	if grep -qF -- "$2" "$1"; then not_ok "$3: \"$2\" found in $(basename "$1")"; else ok "$3"; fi
}
same() { # same GOT WANT DESCRIPTION
	if [ "$1" = "$2" ]; then ok "$3"; else not_ok "$3: got [$1], wanted [$2]"; fi
}
wait_for() { # wait_for SECONDS COMMAND...
	local until=$((SECONDS + $1))
	shift
	while ! "$@" 2>/dev/null; do
		[ $SECONDS -ge $until ] && return 1
		sleep 0.05
	done
}
verify_audit() {
	expect 0 "$1: the audit chain verifies" -- S audit verify "$T/audit.jsonl"
}

# Five steps, each adding a line to one file (as the campaign that found the bugs did).
cat >"$T/five.lua" <<'LUA'
runbook { name = "five", params = { dir = { required = true }, tag = { default = "a" } },
          lock = "five/{dir}" }
local host = plugin "host"
for i = 1, 5 do
  step ("s" .. i) { run = function(p)
    return host.ensure_line{ path = p.dir .. "/f" .. i .. ".conf", line = "managed = " .. p.tag,
                            create = true }
  end }
end
LUA
cat >"$T/nolock.lua" <<'LUA'
runbook { name = "nolock", params = { dir = { required = true }, tag = { default = "a" } } }
local host = plugin "host"
for i = 1, 5 do
  step ("s" .. i) { run = function(p)
    return host.ensure_line{ path = p.dir .. "/f" .. i .. ".conf", line = "managed = " .. p.tag,
                            create = true }
  end }
end
LUA

fresh() { # the targets as they were before anything ran; no state, no audit log
	rm -rf "$T/state" "$T/audit.jsonl" "$T/audit.jsonl.head" "$T/t" "$T/kit"
	mkdir -p "$T/t" "$T/kit"
	for i in 1 2 3 4 5; do printf 'orig %s\n' "$i" >"$T/t/f$i.conf"; done
}
contents() { for i in 1 2 3 4 5; do tr '\n' '|' <"$T/t/f$i.conf"; echo; done; }
ORIG=$(fresh && contents)
with_line() { for i in 1 2 3 4 5; do printf 'orig %s|managed = %s|\n' "$i" "$1"; done; }
journals() { ls "$T"/state/runs/*.journal 2>/dev/null; }

# learn FILE -- command: a traced run; every call with its descriptor's path
learn() {
	local out=$1
	shift 2
	ASAN_OPTIONS=$TRACED_ASAN strace -f -qq -y -o "$out" \
		-e trace=pwrite64,write,openat,flock,rename,renameat2,unlink,fdatasync,fsync "$@" >/dev/null 2>&1
}
# nth SYSCALL REGEX K FILE: the index, among every call of SYSCALL, of the Kth whose line
# matches REGEX
nth() { awk -v sc="$1" -v pat="$2" -v k="$3" \
	'index($2, sc "(") == 1 { n++; if ($0 ~ pat) { m++; if (m == k) { print n; exit } } }' "$4"; }
# faulted SYSCALL N ACTION -- command: runs it with strace making the Nth SYSCALL do ACTION
# (signal=KILL, signal=STOP, error=EIO:signal=KILL ...); its exit status is returned. A signal
# alone is queued as the call starts: a call that does not wait (pwrite, openat) completes
# first, so the process stops or dies right after it.
# The process is stopped for good once strace logs "stopped by SIGSTOP" (a traced process
# passes through a tracing stop at every call, so its state alone says nothing).
stopped_in() { grep -qs -- "--- stopped by SIGSTOP ---" "$1"; }
faulted() {
	local sc=$1 n=$2 action=$3
	shift 4
	{ (ASAN_OPTIONS=$TRACED_ASAN exec strace -f -qq -o /dev/null -e trace="$sc" \
		-e inject="$sc:$action:when=$n" "$@") >"$T/faulted.out"; } 2>/dev/null
}
J='runs/[^>]*journal'
RUN=(run -p dir="$T/t" -p tag=A "$T/five.lua")

# The index of the pwrite64 that writes journal record K of `salve run ...five.lua` (record 1
# is the run record, then each step writes step, intent and undo: s4's step record is 11).
# Killed right after it, the record is in the file and its tail line one behind: valid.
fresh
learn "$T/learn.run" -- "${SC[@]}" "${RUN[@]}"
record_write() { nth pwrite64 "$J" $((2 * $1 - 1)) "$T/learn.run"; }
AT_S4=$(record_write 11)
AT_S1=$(record_write 2)
[ -n "$AT_S4" ] && [ -n "$AT_S1" ] && ok "kill points learned (s1 at pwrite64 #$AT_S1, s4 at #$AT_S4)" ||
	not_ok "no kill points in the learning trace"
# Run A, killed as step s4 starts: f1-f3 changed, journaled with their undo records.
kill_after_three() { faulted pwrite64 "$AT_S4" signal=KILL -- "${SC[@]}" "$@"; }

echo "# bug 1: a run does not start on a lock whose previous holder died unrecovered"
fresh
kill_after_three "${RUN[@]}"
same "$?" 137 "run A was killed by the fault"
A=$(basename "$(journals)" .journal)
same "$(sed -n 1p "$T/t/f1.conf" | tr -d '\n')|$(tail -1 "$T/t/f3.conf")|$(tail -1 "$T/t/f4.conf")" \
	"orig 1|managed = A|orig 4" "run A left f1-f3 changed, f4 untouched"
# B waits on the lock while A is stopped (holding it), then A dies and B gets the lock.
fresh
rm -f "$T/stop.trace"
(ASAN_OPTIONS=$TRACED_ASAN exec strace -f -qq -o "$T/stop.trace" -e trace=pwrite64 \
	-e inject=pwrite64:signal=STOP:when="$AT_S4" "$SALVE" "${COMMON[@]}" "${RUN[@]}") >/dev/null 2>&1 &
tracer=$!
pids+=($tracer)
wait_for 30 stopped_in "$T/stop.trace" && ok "run A is stopped holding the lock" || not_ok "run A did not stop"
A=$(basename "$(journals)" .journal)
S run -p dir="$T/t" -p tag=B "$T/five.lua" >"$T/b.out" 2>"$T/b.err" &
b=$!
pids+=($b)
kill -9 "$(pgrep -P $tracer)"
{ wait $tracer; } 2>/dev/null
wait $b
same "$?" 0 "run B succeeded"
has "$T/b.out" "lock \"five/$T/t\": its previous holder, run $A, died with its journal in place: recovering it first" \
	"run B says it recovers A first"
has "$T/b.out" "salve: run $A: rolled_back" "A was rolled back before B ran"
same "$(contents)" "$(with_line B)" "every file has B's line and none of A's"
expect 0 "recover afterwards" -- S recover
has "$T/out" "nothing to recover" "nothing is left for recover (B's changes are not undone)"
same "$(contents)" "$(with_line B)" "B's changes survive recover"
grep -q "\"run\":\"$A\".*\"event\":\"recover_end\".*\"outcome\":\"rolled_back\".*\"by_run\"" "$T/audit.jsonl" &&
	ok "A's recovery is audited under A's id, by B" || not_ok "A's recovery not audited as expected"
verify_audit "bug 1"

echo "# bug 1: the undo of a dead run never overwrites a file changed since"
fresh
kill_after_three "${RUN[@]}"
A=$(basename "$(journals)" .journal)
echo "edited by hand" >>"$T/t/f2.conf"
expect 2 "run B is refused: A's rollback needs a human" -- S run -p dir="$T/t" -p tag=B "$T/five.lua"
has "$T/out" "changed since this run wrote it" "the changed file is named as changed"
has "$T/out" "its previous holder, run $A, died and what it left needs a human (rollback_incomplete)" \
	"B says why it did not start"
has "$T/out" "salve recover --resolve $A --note TEXT" "B says how to resolve it"
same "$(tr '\n' '|' <"$T/t/f2.conf")" "orig 2|managed = A|edited by hand|" "f2 keeps the change made since"
same "$(tr '\n' '|' <"$T/t/f1.conf")|$(tr '\n' '|' <"$T/t/f3.conf")" "orig 1||orig 3|" "f1 and f3 were undone"
hasnt "$T/t/f4.conf" "managed = B" "B changed nothing"
expect 2 "B again: still refused" -- S run -p dir="$T/t" -p tag=B "$T/five.lua"
expect 64 "--resolve without --note" -- S recover --resolve "$A"
expect 0 "--resolve with a note" -- S recover --resolve "$A" --note "kept the hand edit in f2"
has "$T/out" "run $A marked as handled (audited)" "resolve confirms"
[ -e "$T/state/runs/resolved/$A.journal" ] && ok "the journal is kept under runs/resolved" ||
	not_ok "resolved journal missing"
grep -q "\"run\":\"$A\".*\"event\":\"recover_resolved\".*\"note\":\"kept the hand edit in f2\"" "$T/audit.jsonl" &&
	ok "the resolution is audited under A's id" || not_ok "resolution not audited"
expect 0 "B runs once A is resolved" -- S run -p dir="$T/t" -p tag=B "$T/five.lua"
verify_audit "resolve"

echo "# bug 1: without a lock, a later run's changes are still never undone"
fresh
faulted pwrite64 "$AT_S4" signal=KILL -- "${SC[@]}" run -p dir="$T/t" -p tag=A "$T/nolock.lua"
expect 0 "run B (no lock) succeeds" -- S run -p dir="$T/t" -p tag=B "$T/nolock.lua"
expect 2 "recover of A: the files changed since" -- S recover
has "$T/out" "f3.conf changed since this run wrote it" "f3 is named as changed since"
same "$(contents)" "$(for i in 1 2 3; do printf 'orig %s|managed = A|managed = B|\n' $i; done; for i in 4 5; do printf 'orig %s|managed = B|\n' $i; done)" \
	"B's lines are all still there"
expect 2 "a second recover changes nothing either" -- S recover
same "$(contents)" "$(for i in 1 2 3; do printf 'orig %s|managed = A|managed = B|\n' $i; done; for i in 4 5; do printf 'orig %s|managed = B|\n' $i; done)" \
	"still B's lines"

echo "# bug 2: a journal whose last record is a successful end is not rolled back"
fresh
faulted unlink 1 error=EIO:signal=KILL -- "${SC[@]}" "${RUN[@]}"
same "$?" 137 "killed at the unlink of its journal"
grep -q '"event":"run_end","outcome":"success"' "$T/audit.jsonl" && ok "the audit log says success" ||
	not_ok "no run_end success"
[ -n "$(journals)" ] && ok "the journal is still there" || not_ok "journal gone"
expect 0 "recover" -- S recover
has "$T/out" "had already ended (success): nothing to undo; removing its journal" "recover says the run had finished"
same "$(contents)" "$(with_line A)" "nothing was undone"
[ -z "$(journals)" ] && ok "the journal is removed" || not_ok "journal left"
grep -q '"event":"recover_end".*"outcome":"finished"' "$T/audit.jsonl" && ok "audited as finished" ||
	not_ok "not audited"
verify_audit "bug 2"

echo "# bug 3: recover never takes a journal a run is creating"
fresh
learn "$T/learn.open" -- "${SC[@]}" "${RUN[@]}"
AT_JOPEN=$(nth openat 'journal\.new' 1 "$T/learn.open")
fresh
rm -f "$T/stop.trace"
(ASAN_OPTIONS=$TRACED_ASAN exec strace -f -qq -o "$T/stop.trace" -e trace=openat,pwrite64 \
	-e inject=openat:signal=STOP:when="$AT_JOPEN" -e inject=pwrite64:signal=KILL:when="$AT_S4" \
	"$SALVE" "${COMMON[@]}" "${RUN[@]}") >/dev/null 2>&1 &
tracer=$!
pids+=($tracer)
wait_for 30 stopped_in "$T/stop.trace" && ok "the run is stopped between creating its journal and locking it" ||
	not_ok "the run did not stop after opening its journal (openat #$AT_JOPEN)"
expect 0 "recover meanwhile" -- S recover
has "$T/out" "nothing to recover" "recover finds no journal to take"
kill -CONT "$(pgrep -P $tracer)"
{ wait $tracer; } 2>/dev/null
same "$?" 137 "the run went on, and was killed before s4"
same "$(tail -1 "$T/t/f3.conf")" "managed = A" "f3 was changed"
expect 0 "recover after the kill" -- S recover
has "$T/out" "rolled_back" "the run is rolled back"
same "$(contents)" "$ORIG" "every file is back to its first content"

echo "# bug 4: recover does not exit 0 when it could not process a dead run"
fresh
kill_after_three "${RUN[@]}"
A=$(basename "$(journals)" .journal)
# The state dir read-only: opening the journal for writing fails.
expect 2 "recover with the journal unwritable" -- env ASAN_OPTIONS="$TRACED_ASAN" strace -f -qq -o /dev/null \
	-P "$T/state/runs/$A.journal" -e trace=openat -e inject=openat:error=EROFS "$SALVE" "${COMMON[@]}" recover
has "$T/out" "salve: run $A could not be recovered: journal $T/state/runs/$A.journal: Read-only file system" \
	"the run and the reason are named"
same "$(tail -1 "$T/t/f3.conf")" "managed = A" "nothing was undone"
# Plus a live run: reported as such, both in --json.
mkdir -p "$T/t2"
rm -f "$T/stop.trace"
(ASAN_OPTIONS=$TRACED_ASAN exec strace -f -qq -o "$T/stop.trace" -e trace=pwrite64 \
	-e inject=pwrite64:signal=STOP:when="$AT_S4" "$SALVE" "${COMMON[@]}" run -p dir="$T/t2" "$T/five.lua") >/dev/null 2>&1 &
tracer=$!
pids+=($tracer)
wait_for 30 stopped_in "$T/stop.trace"
expect 2 "recover --json with one broken and one live journal" -- env ASAN_OPTIONS="$TRACED_ASAN" strace -f -qq -o /dev/null \
	-P "$T/state/runs/$A.journal" -e trace=openat -e inject=openat:error=EROFS "$SALVE" "${COMMON[@]}" recover --json
python3 - "$T/out" "$A" <<'PY' && ok "--json lists the live run and the one it could not process" || not_ok "--json report"
import json, sys
d = json.load(open(sys.argv[1]))
st = {r["run_id"]: r["status"] for r in d["runs"]}
assert d["exit_code"] == 2, d
assert st.pop(sys.argv[2]) == "error", st
assert list(st.values()) == ["live"], st
PY
kill -9 "$(pgrep -P $tracer)"
{ wait $tracer; } 2>/dev/null
expect 0 "recover with everything writable" -- S recover
same "$(contents)" "$ORIG" "then everything is undone"

echo "# bug 5: a damaged or incomplete journal is never acted on"
damage() { # damage DESCRIPTION PYTHON-EDIT EXPECTED-PROBLEM
	fresh
	kill_after_three "${RUN[@]}"
	local a j
	a=$(basename "$(journals)" .journal)
	j=$T/state/runs/$a.journal
	python3 -c "$2" "$j"
	expect 2 "$1: recover refuses" -- S recover
	has "$T/out" "salve: run $a (journal $j) cannot be trusted: $3" "$1: the run and the problem are named"
	has "$T/out" "Nothing was undone for it." "$1: nothing is undone"
	same "$(tail -1 "$T/t/f1.conf")|$(tail -1 "$T/t/f3.conf")" "managed = A|managed = A" "$1: the files are as the run left them"
	[ -e "$j" ] && ok "$1: the journal is kept" || not_ok "$1: journal gone"
}
# Lines: 1 tail, 2 run, then s1: 3 step, 4 intent, 5 undo; s2: 6, 7, 8 (undo); s3: 9, 10, 11.
damage "a flipped bit in an undo record" \
	'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); i=b.find(b"f2.conf\",\"existed"); b[i+1]^=1; open(p,"wb").write(b)' \
	"line 8 (record 7): its checksum does not match (damaged); nothing from there on can be trusted"
has "$T/out" "step s1: host.ensure_line $T/t/f1.conf (applied when the journal was last trustworthy)" \
	"the trusted records' changes are named for the human"
damage "a flipped bit in an intent record" \
	'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); i=b.find(b"\"intent\""); b[i+3]^=4; open(p,"wb").write(b)' \
	"line 4 (record 3): its checksum does not match (damaged)"
damage "a dropped record" \
	'import sys; p=sys.argv[1]; l=open(p,"rb").read().split(b"\n"); del l[6]; open(p,"wb").write(b"\n".join(l))' \
	"line 7 (record 6): it is record 7 where 6 was due (records are missing or out of order)"
damage "records cut off the end" \
	'import sys; p=sys.argv[1]; l=open(p,"rb").read().split(b"\n"); open(p,"wb").write(b"\n".join(l[:-3])+b"\n")' \
	"it ends at record 8 but its tail line names record 10: records are missing (the journal was cut short)"
damage "a cut in the middle of a record" \
	'import sys; p=sys.argv[1]; b=open(p,"rb").read(); open(p,"wb").write(b[:len(b)-40])' \
	"it ends at record 9 but its tail line names record 10"
expect 0 "a damaged journal can be resolved" -- S recover --resolve "$(basename "$(journals)" .journal)" --note "checked f1-f3 by hand"
expect 0 "then nothing is left" -- S recover
has "$T/out" "nothing to recover" "recover has nothing left"

echo "# temporary files, empty journals, --list and --dry-run"
fresh
learn "$T/learn.fsync" -- "${SC[@]}" "${RUN[@]}"
AT_TMP2=$(nth fsync 'f2\.conf\.salve-' 1 "$T/learn.fsync")
fresh
faulted fsync "$AT_TMP2" signal=KILL -- "${SC[@]}" "${RUN[@]}"
A=$(basename "$(journals)" .journal)
tmp=$(ls "$T/t" | grep -c "^f2.conf.salve-$A-")
same "$tmp" 1 "a kill inside the write of f2 left its temporary file"
before=$(cd "$T" && find state t -type f -exec sha256sum {} + | sort; sha256sum audit.jsonl)
expect 0 "recover --list" -- S recover --list
has "$T/out" "salve: run $A of five ($T/five.lua, sha256 " "--list names the run and the runbook's path and hash"
has "$T/out" "#1 host.ensure_line $T/t/f1.conf: applied, undo record {\"path\":\"$T/t/f1.conf\",\"existed\":true,\"content\":\"orig 1\\n\"" \
	"--list shows the undo records"
has "$T/out" "#2 host.ensure_line $T/t/f2.conf: unknown" "--list shows the change whose outcome is unknown"
expect 2 "recover --dry-run: it would need a human" -- S recover --dry-run
has "$T/out" "step s2: host.ensure_line $T/t/f2.conf UNKNOWN: the runner stopped while applying it; a human must look" \
	"--dry-run says what it cannot undo"
has "$T/out" "step s1: host.ensure_line $T/t/f1.conf would be undone" "--dry-run says what it would undo"
has "$T/out" "would remove temporary file $T/t/f2.conf.salve-$A-" "--dry-run names the temporary file"
after=$(cd "$T" && find state t -type f -exec sha256sum {} + | sort; sha256sum audit.jsonl)
same "$after" "$before" "--list and --dry-run changed nothing (state, targets, audit log)"
expect 2 "recover" -- S recover
has "$T/out" "removed temporary file $T/t/f2.conf.salve-$A-" "recover removes the temporary file"
same "$(ls "$T/t" | tr '\n' ' ')" "f1.conf f2.conf f3.conf f4.conf f5.conf " "no temporary file is left"
same "$(tr '\n' '|' <"$T/t/f1.conf")" "orig 1|" "f1 was undone"

fresh
faulted pwrite64 "$AT_S1" signal=KILL -- "${SC[@]}" "${RUN[@]}"
A=$(basename "$(journals)" .journal)
expect 0 "recover a journal with no change in it" -- S recover
grep -q "\"run\":\"$A\".*\"event\":\"recover_end\",\"outcome\":\"rolled_back\"" "$T/audit.jsonl" &&
	ok "it is audited under the dead run's id" || not_ok "not audited under $A"

echo "# rollback functions get the state s, from the runbook exactly as it ran"
fresh
cat >"$T/rbs.lua" <<'LUA'
runbook { name = "rbs" }
local kit = plugin "testkit"
step "find" { run = function() return { files = { "x", "y" } } end }
step "change" { run = function() return kit.set{ key = "c", value = "1" } end,
  rollback = function(p, s) kit.set{ key = "rolled", value = table.concat(s["find"].files, ",") } end }
step "hold" { run = function() return kit.sleep{ seconds = 60 } end }
LUA
"$SALVE" "${COMMON[@]}" run "$T/rbs.lua" >/dev/null 2>&1 &
victim=$!
pids+=($victim)
journal_has() { grep -qs -- "$1" "$T"/state/runs/*.journal; }
wait_for 30 journal_has '"t":"step","step":"hold"\|"t":"result","step":"change"'
wait_for 30 test -e "$T/kit/kv/c"
kill -9 $victim
{ wait $victim; } 2>/dev/null
sed -i 's/table.concat(s\["find"\].files, ",")/"edited after the run"/' "$T/rbs.lua"
mkdir -p "$T/elsewhere"
expect 0 "recover from another directory" -- bash -c "cd '$T/elsewhere' && '$SALVE' --audit '$T/audit.jsonl' --state-dir '$T/state' recover"
same "$(cat "$T/kit/kv/rolled" 2>/dev/null)" "x,y" "the rollback function saw s as the run left it"
has "$T/out" "rollback functions come from the runbook as it ran: $T/rbs.lua (sha256 " "recover says which runbook it ran"
has "$T/out" "(the file on disk differs now: not used)" "recover says the file on disk is not what ran"

echo "# unknown options are usage errors"
expect 64 "recover --bogus" -- S recover --bogus
has "$T/err" "salve recover: --bogus: unknown option, or its value is missing" "the option is named"
expect 64 "recover with an argument" -- S recover now
expect 64 "--resolve without its value" -- S recover --resolve
has "$T/err" "salve recover: --resolve: unknown option, or its value is missing" "the option is named"
expect 64 "--note without --resolve" -- S recover --note x
expect 64 "--resolve with --dry-run" -- S recover --resolve abc --note x --dry-run
expect 64 "--resolve of something that is not a run id" -- S recover --resolve ../x --note x
expect 64 "plugins with an argument" -- S plugins ssh-patch
has "$T/err" 'plugins takes no arguments (got "ssh-patch")' "the argument is named"
expect 64 "plugins --bogus" -- S plugins --bogus
expect 64 "validate --bogus" -- S validate --bogus "$T/five.lua"
expect 64 "validate with two runbooks" -- S validate "$T/five.lua" "$T/rbs.lua"
expect 64 "audit --bogus verify" -- S audit --bogus verify "$T/audit.jsonl"
expect 0 "recover --help" -- S recover --help
has "$T/out" "--dry-run" "recover --help lists --dry-run"

echo "# the state dir must be ours"
fresh
mkdir -p "$T/state/locks"
ln -s "$T/t/f5.conf" "$T/state/locks/five%2F${T//\//%2F}%2Ft.lock"
expect 73 "a symlink planted as the lock file" -- S "${RUN[@]}"
has "$T/err" "is a symbolic link: refused" "the lock file is refused"
same "$(tr '\n' '|' <"$T/t/f5.conf")" "orig 5|" "the file it pointed at is untouched"
fresh
mkdir -p "$T/state"
chmod 0777 "$T/state"
expect 73 "a world-writable state dir" -- S "${RUN[@]}"
has "$T/err" "state dir $T/state is writable by group or others (mode 0777): refused" "the dir is named"
same "$(contents)" "$ORIG" "nothing ran"
expect 73 "recover refuses it too" -- S recover
chmod 0700 "$T/state"

echo
echo "$passed passed, $failed failed"
[ $failed = 0 ]
