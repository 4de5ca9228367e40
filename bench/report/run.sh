#!/usr/bin/env bash
# `salve report --summary` over an audit log of 1 million records: wall and CPU time, peak RSS
# (goal: under 2 s and under 50 MB: the log is streamed, never loaded), beside jq doing a
# smaller aggregation over the same file (runs per runbook and outcome; no chain check, no
# time to remediate). Printed, never asserted.
# Usage: bench/report/run.sh [BUILD_DIR] [RECORDS]   (default: build-bench, a release build)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-bench}
records=${2:-1000000}
runs=${RUNS:-3}
for tool in jq /usr/bin/time; do
	command -v "$tool" >/dev/null || { echo "installing jq and time (peer and measure)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq time >/dev/null; }
done
if [ ! -x "$build/salve" ]; then
	cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSALVE_TESTS=OFF >/dev/null
	cmake --build "$build" -j2 --target salve >/dev/null
fi
T=$(mktemp -d /tmp/salve-bench-report-XXXXXX)
trap 'rm -rf "$T"' EXIT
python3 "$root/bench/report/gen_audit.py" "$T/audit.jsonl" "$records"
ls -l "$T/audit.jsonl" | awk '{printf "log: %.0f MB\n", $5 / 1048576}'

measure() { # measure NAME COMMAND... : best wall time, its CPU time and peak RSS of $runs runs
	local name=$1 best="" line
	shift
	for _ in $(seq "$runs"); do
		/usr/bin/time -o "$T/time" -f "%e %U+%S %M" "$@" >/dev/null 2>&1 || true
		line=$(tail -1 "$T/time")
		if [ -z "$best" ] || awk -v a="${line%% *}" -v b="${best%% *}" 'BEGIN{exit !(a<b)}'; then
			best=$line
		fi
	done
	read -r wall cpu rss <<<"$best"
	printf "%-44s wall %6.2f s   cpu %6.2f s   max RSS %7.1f MB\n" "$name" "$wall" \
		"$(awk -v c="$cpu" 'BEGIN{split(c, p, "+"); print p[1] + p[2]}')" \
		"$(awk -v k="$rss" 'BEGIN{print k/1024}')"
}
measure "salve report --summary (chain verified)" \
	"$build/salve" --audit "$T/audit.jsonl" report --since 30d --summary
measure "salve report --summary --format json" \
	"$build/salve" --audit "$T/audit.jsonl" report --since 30d --summary --format json
measure "jq: runs per runbook and outcome" \
	jq -n 'reduce (inputs | select(.event == "run_end")) as $r ({}; .[$r.runbook][$r.outcome] += 1)' \
	"$T/audit.jsonl"
