#!/usr/bin/env bash
# Crash campaign: N trials, each killing `salve run` of a 5-step host.ensure_line runbook at a
# random point (strace fault injection at the Nth fsync, fdatasync, rename, renameat2, unlink,
# write or pwrite64, or a plain kill -9 after a random delay), sometimes with a second run
# waiting on the same lock, sometimes killing the first `salve recover` too. After each trial
# it asserts:
#   - every target holds its initial content plus the line of each run that succeeded (no
#     successful run is undone, nothing of a failed run is left), or recover exited 2 and
#     named that target;
#   - no temporary file is left beside the targets;
#   - `salve audit verify` passes;
#   - a second recover is a no-op (same exit status, no file changed, nothing left to do).
#
#   bash tests/core/crash_campaign.sh                       # 10 trials (the test suite)
#   N=300 bash tests/core/crash_campaign.sh                 # by hand
#   SEED=1234 N=1 bash tests/core/crash_campaign.sh         # replay one campaign
# SALVE_BIN (default build-asan/salve, else build/salve) and SALVE_PLUGIN_DIR (default
# plugins/ beside the binary) say what to test. A failing trial keeps its directory.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
SALVE=${SALVE_BIN:-}
if [ -z "$SALVE" ]; then
	for b in "$root/build-asan/salve" "$root/build/salve"; do [ -x "$b" ] && SALVE=$b && break; done
fi
[ -x "$SALVE" ] || { echo "no salve binary: build it, or set SALVE_BIN"; exit 1; }
PLUGINS=${SALVE_PLUGIN_DIR:-$(dirname "$SALVE")/plugins}
command -v strace >/dev/null || { echo "strace is needed (bash .ci/install-deps)"; exit 1; }
N=${N:-10}
SEED=${SEED:-$(( $(date +%s) % 100000 ))}
RANDOM=$SEED
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 # LSan cannot run under ptrace
W=$(mktemp -d /tmp/salve-campaign-XXXXXX)
keep=0
bg=()
cleanup() {
	for p in "${bg[@]}"; do kill -9 "$p" 2>/dev/null; done
	[ $keep = 1 ] || rm -rf "$W"
}
trap cleanup EXIT
echo "crash campaign: $N trials, SEED=$SEED, $SALVE"

cat >"$W/five.lua" <<'LUA'
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
SYSCALLS=(fsync fdatasync rename renameat2 unlink write pwrite64)

# How many of each syscall a clean run makes: kill points are drawn below those counts.
mkdir -p "$W/learn/t"
strace -f -qq -o "$W/learn.trace" -e trace="$(IFS=,; echo "${SYSCALLS[*]}")" \
	"$SALVE" --audit "$W/learn/audit.jsonl" --state-dir "$W/learn/state" --plugin-path "$PLUGINS" \
	run -p dir="$W/learn/t" "$W/five.lua" >/dev/null 2>&1
declare -A COUNT
for sc in "${SYSCALLS[@]}"; do
	COUNT[$sc]=$(awk -v sc="$sc" 'index($2, sc "(") == 1' "$W/learn.trace" | wc -l)
done
echo "calls in a clean run: $(for sc in "${SYSCALLS[@]}"; do printf '%s=%s ' "$sc" "${COUNT[$sc]}"; done)"

# random_point: "SYSCALL N" with N within what a run makes (a syscall it never makes: 1)
random_point() {
	local sc=${SYSCALLS[RANDOM % ${#SYSCALLS[@]}]}
	local max=${COUNT[$sc]:-0}
	[ "$max" -gt 0 ] || max=1
	echo "$sc $((RANDOM % max + 1))"
}

failures=0
for trial in $(seq 1 "$N"); do
	D=$W/trial-$trial
	mkdir -p "$D/t"
	S=("$SALVE" --audit "$D/audit.jsonl" --state-dir "$D/state" --plugin-path "$PLUGINS")
	for i in 1 2 3 4 5; do
		# Some targets do not exist yet: ensure_line creates them, undo removes them.
		[ $((RANDOM % 5)) = 0 ] || printf 'initial %s of trial %s\n' "$i" "$trial" >"$D/t/f$i.conf"
	done
	mkdir -p "$D/initial"
	cp "$D"/t/* "$D/initial/" 2>/dev/null
	initial() { cat "$D/initial/f$1.conf" 2>/dev/null; }

	story=""
	if [ $((RANDOM % 10)) -lt 7 ]; then
		read -r sc n <<<"$(random_point)"
		story="A killed at $sc#$n"
		strace -f -qq -o /dev/null -e trace="$sc" -e inject="$sc:signal=KILL:when=$n" \
			"${S[@]}" run -p dir="$D/t" -p tag=A "$W/five.lua" >"$D/a.out" 2>&1 &
	else
		delay=$(printf '0.%03d' $((RANDOM % 400)))
		story="A killed -9 after ${delay}s"
		"${S[@]}" run -p dir="$D/t" -p tag=A "$W/five.lua" >"$D/a.out" 2>&1 &
		a_pid=$!
		(sleep "$delay" && kill -9 $a_pid 2>/dev/null) &
		bg+=($!)
	fi
	a=$!
	bg+=($a)
	b=""
	if [ $((RANDOM % 10)) -lt 3 ]; then
		story="$story, B on the same lock"
		"${S[@]}" run -p dir="$D/t" -p tag=B "$W/five.lua" >"$D/b.out" 2>&1 &
		b=$!
		bg+=($b)
	fi
	{ wait $a; } 2>/dev/null
	[ -n "$b" ] && { wait "$b"; } 2>/dev/null
	wait 2>/dev/null

	if [ $((RANDOM % 2)) = 0 ]; then
		read -r sc n <<<"$(random_point)"
		n=$((n % 40 + 1))
		story="$story, recover killed at $sc#$n"
		{ strace -f -qq -o /dev/null -e trace="$sc" -e inject="$sc:signal=KILL:when=$n" \
			"${S[@]}" recover >"$D/r0.out" 2>&1; } 2>/dev/null
	fi
	"${S[@]}" recover >"$D/r1.out" 2>&1
	r1=$?
	snapshot() { for i in 1 2 3 4 5; do printf '%s: ' "$i"; { sha256sum <"$D/t/f$i.conf"; } 2>/dev/null || echo absent; done; }
	before=$(snapshot)
	"${S[@]}" recover >"$D/r2.out" 2>&1
	r2=$?

	problems=()
	[ "$r1" = 0 ] || [ "$r1" = 2 ] || problems+=("recover exited $r1")
	[ "$r2" = "$r1" ] || problems+=("the second recover exited $r2 after $r1")
	[ "$(snapshot)" = "$before" ] || problems+=("the second recover changed files")
	[ "$r1" != 0 ] || grep -q "nothing to recover" "$D/r2.out" || problems+=("the second recover found work")
	"${S[@]}" audit verify "$D/audit.jsonl" >"$D/verify.out" 2>&1 || problems+=("audit verify: $(cat "$D/verify.out")")
	# The runs that succeeded, in the order they ended, by tag: run_end success, or (killed
	# between its journal's end record and its run_end) recover finding it had finished.
	succeeded=$(python3 - "$D/audit.jsonl" <<'PY'
import json, sys
tags, done, out = {}, set(), []
for line in open(sys.argv[1]):
    r = json.loads(line)
    ev = r.get("event")
    if ev == "run_start":
        tags[r["run"]] = r["params"]["tag"]
    elif ((ev == "run_end" and r.get("outcome") == "success") or
          (ev == "recover_end" and r.get("outcome") == "finished" and
           r.get("run_outcome") == "success")) and r["run"] not in done:
        done.add(r["run"])
        out.append(tags.get(r["run"], "?"))
print(" ".join(out))
PY
)
	for i in 1 2 3 4 5; do
		f=$D/t/f$i.conf
		want=$(initial $i; for tag in $succeeded; do echo "managed = $tag"; done)
		[ -n "$want" ] || want="<absent>"
		got=$(cat "$f" 2>/dev/null || echo "<absent>")
		if [ "$got" != "$want" ]; then
			if [ "$r1" = 2 ] && grep -qF "$f" "$D/r1.out"; then :; else
				problems+=("f$i is [$got], wanted [$want] (successful runs: ${succeeded:-none}) and recover did not name it")
			fi
		fi
	done
	left=$(ls "$D/t" | grep -c '\.salve-')
	[ "$left" = 0 ] || problems+=("$left temporary files left beside the targets")
	[ "$r1" != 0 ] || [ -z "$(ls "$D"/state/runs/*.journal 2>/dev/null)" ] || problems+=("journals left after exit 0")

	if [ ${#problems[@]} = 0 ]; then
		echo "ok - trial $trial: $story -> recover $r1${succeeded:+, succeeded: $succeeded}"
		rm -rf "$D"
	else
		failures=$((failures + 1))
		keep=1
		echo "not ok - trial $trial: $story (kept in $D)"
		for p in "${problems[@]}"; do echo "    $p"; done
	fi
done
echo "$((N - failures)) of $N trials held (SEED=$SEED)"
[ $failures = 0 ]
