#!/usr/bin/env bash
# Core benchmarks, printed side by side, never asserted:
#  1. engine overhead per no-op step (µs), with the durable audit log (fdatasync per record)
#     and without;
#  2. wall time and peak RSS of `salve run --dry-run` on a 3-step runbook, beside
#     `ansible-playbook --check` on the equivalent 3-task localhost playbook.
# Usage: bench/core/run.sh [BUILD_DIR]   (default: build-bench, a release build)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-bench}
runs=${RUNS:-7}
for tool in ansible-playbook /usr/bin/time; do
	command -v "$tool" >/dev/null || { echo "installing ansible and time (peers for the benchmark)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ansible time >/dev/null; }
done
if [ ! -x "$build/salve" ]; then
	cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSALVE_TESTS=OFF >/dev/null
	cmake --build "$build" -j2 >/dev/null
fi
salve=$build/salve
T=$(mktemp -d /tmp/salve-bench-XXXXXX)
trap 'rm -rf "$T"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# --- 1. per-step overhead
steps=2000
{
	echo 'runbook { name = "noop" }'
	for i in $(seq 1 $steps); do echo "step \"s$i\" { run = function() end }"; done
} >"$T/noop.lua"
{
	echo 'runbook { name = "empty" }'
	echo 'step "s1" { run = function() end }'
} >"$T/empty.lua"
per_step() { # per_step SYNC -> µs per step (median of runs), minus a 1-step run's fixed cost
	local sync=$1 big small
	big=$(for _ in $(seq $runs); do
		rm -f "$T/a.jsonl" "$T/a.jsonl.head"
		s=$(date +%s%N); "$salve" --audit "$T/a.jsonl" --state-dir "$T/st" --audit-sync "$sync" run -q "$T/noop.lua"; e=$(date +%s%N)
		echo $(((e - s) / 1000))
	done | median)
	small=$(for _ in $(seq $runs); do
		rm -f "$T/a.jsonl" "$T/a.jsonl.head"
		s=$(date +%s%N); "$salve" --audit "$T/a.jsonl" --state-dir "$T/st" --audit-sync "$sync" run -q "$T/empty.lua"; e=$(date +%s%N)
		echo $(((e - s) / 1000))
	done | median)
	awk -v b="$big" -v s="$small" -v n=$steps 'BEGIN { printf "%.1f", (b - s) / (n - 1) }'
}
echo "== engine overhead per no-op step ($steps steps, median of $runs runs; each step writes 2 audit records)"
printf "  %-40s %10s µs/step\n" "audit_sync none (kernel page cache)" "$(per_step none)"
printf "  %-40s %10s µs/step\n" "audit_sync always (fdatasync per record)" "$(per_step always)"
echo "  filesystem of the audit log: $(df --output=fstype "$T" | tail -1)"

# --- 2. 3-step dry-run, salve vs ansible-playbook --check
cat >"$T/three.lua" <<'LUA'
runbook { name = "three" }
local host = plugin "host"
step "root-fs" { check = function() return host.disk{ path = "/" }.used_pct < 99 end, run = function() error("full") end }
step "tmp-fs" { check = function() return host.disk{ path = "/tmp" }.used_pct < 99 end, run = function() error("full") end }
step "marker" { run = function() return host.ensure_line{ path = "/tmp/salve-bench-marker.conf", line = "managed_by = salve" } end }
LUA
cat >"$T/three.yml" <<'YML'
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: root-fs
      ansible.builtin.shell: test "$(df --output=pcent / | tail -1 | tr -dc 0-9)" -lt 99
      check_mode: false
      changed_when: false
    - name: tmp-fs
      ansible.builtin.shell: test "$(df --output=pcent /tmp | tail -1 | tr -dc 0-9)" -lt 99
      check_mode: false
      changed_when: false
    - name: marker
      ansible.builtin.lineinfile:
        path: /tmp/ansible-bench-marker.conf
        line: managed_by = salve
        create: true
YML
measure() { # measure CMD... -> "wall_ms rss_kb" medians
	local walls=() rsss=()
	for _ in $(seq $runs); do
		/usr/bin/time -f "%e %M" -o "$T/time" "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; cat "$T/time" >&2; }
		read -r w m <"$T/time"
		walls+=("$(awk -v w="$w" 'BEGIN { printf "%.1f", w * 1000 }')")
		rsss+=("$m")
	done
	echo "$(printf '%s\n' "${walls[@]}" | median) $(printf '%s\n' "${rsss[@]}" | median)"
}
echo
echo "== 3-step dry-run on this machine (median of $runs runs; /usr/bin/time wall clock has 10 ms resolution)"
read -r sw sm < <(measure "$salve" --audit "$T/b.jsonl" --state-dir "$T/st" run -q --dry-run "$T/three.lua")
read -r aw am < <(ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false measure ansible-playbook -i localhost, --check "$T/three.yml")
# Finer wall clock for salve: the mean of 50 runs.
s=$(date +%s%N)
for _ in $(seq 50); do "$salve" --audit "$T/b.jsonl" --state-dir "$T/st" run -q --dry-run "$T/three.lua"; done
e=$(date +%s%N)
sfine=$(awk -v d=$((e - s)) 'BEGIN { printf "%.2f", d / 50 / 1e6 }')
printf "  %-32s %10s %12s\n" "" "wall (ms)" "peak RSS (KB)"
printf "  %-32s %10s %12s\n" "salve run --dry-run" "$sfine" "$sm"
printf "  %-32s %10s %12s\n" "ansible-playbook --check" "$aw" "$am"
awk -v a="$aw" -v s="$sfine" -v am="$am" -v sm="$sm" 'BEGIN { printf "  salve is %.0fx faster and uses %.1fx less memory\n", a / s, am / sm }'
echo "  (salve $("$salve" --version | cut -d" " -f2), $(ansible --version 2>/dev/null | sed -n 1p))"
