#!/usr/bin/env bash
# Runs one fuzz target as ctest does: the seeds in tests/fuzz/corpus/NAME are replayed, then
# the target fuzzes for SECONDS. New inputs go to a scratch corpus under WORKDIR (never into
# the source tree); a crash or broken invariant is kept as WORKDIR/NAME/crash-* and fails the
# test, with the input printed so it can be added to the seeds.
#   run-target.sh BINARY NAME SECONDS WORKDIR [extra libFuzzer flags...]
set -euo pipefail
bin=$1 name=$2 seconds=$3 workdir=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
seeds=$here/corpus/$name
out=$workdir/$name
rm -rf "$out"
mkdir -p "$out/corpus"
dict=()
[ -f "$here/dict/$name.dict" ] && dict=(-dict="$here/dict/$name.dict")
# One input at a time; 3 s per input and 1 GB are far above what any seed needs, so hitting
# them is a finding (a hang or a memory blow-up), not noise.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
set +e
"$bin" -max_total_time="$seconds" -timeout=3 -rss_limit_mb=1024 -malloc_limit_mb=1024 \
	-print_final_stats=1 -artifact_prefix="$out/" "${dict[@]}" "$@" "$out/corpus" "$seeds" \
	>"$out/log" 2>&1
rc=$?
set -e
tail -n 12 "$out/log"
if [ $rc -ne 0 ]; then
	echo "fuzz_$name: FAILED (exit $rc); the full log is $out/log"
	grep -E "ERROR|invariant broken|SUMMARY|runtime error" "$out/log" | head -n 20 || true
	for f in "$out"/crash-* "$out"/timeout-* "$out"/oom-* "$out"/leak-*; do
		[ -f "$f" ] || continue
		echo "input kept as $f ($(stat -c %s "$f") bytes):"
		head -c 512 "$f" | od -c | head -n 20
	done
	exit 1
fi
