#!/usr/bin/env bash
# Long fuzzing runs of tests/fuzz's targets (libFuzzer, ASan + UBSan), one after another.
#   bench/fuzz/run.sh [-t TOTAL_SECONDS] [-b BUILD_DIR] [TARGET...]
# TOTAL_SECONDS (default 3600, or $FUZZ_TOTAL) is shared evenly by the targets named (default:
# all of them). The grown corpora stay in BUILD_DIR/fuzz-long/NAME/corpus (default build dir:
# build-fuzz; nothing goes into git) and are reused by the next run, seeded from
# tests/fuzz/corpus/NAME. The run keeps going after a finding: every crash, timeout, OOM or
# broken invariant is kept in BUILD_DIR/fuzz-long/NAME/ (replayed into its findings file, one
# line per distinct report), and each target appends "date target seconds execs findings" to
# BUILD_DIR/fuzz-long/hours.log.
# Exits 1 when anything was found. Runs niced, one job at a time.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
total=${FUZZ_TOTAL:-3600}
build=$root/build-fuzz
while getopts "t:b:" opt; do
	case $opt in
	t) total=$OPTARG ;;
	b) build=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
all=(alert matcher tmpl config params duration window audit journal inventory kubeconfig)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
per=$((total / ${#targets[@]}))
[ "$per" -ge 1 ] || per=1

if [ ! -f "$build/CMakeCache.txt" ]; then
	CC=clang cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DSALVE_SANITIZE=ON \
		-DSALVE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
nice cmake --build "$build" -j2 --target salve-fuzz >/dev/null

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
found=0
summary=()
for name in "${targets[@]}"; do
	bin=$build/fuzz_$name
	[ -x "$bin" ] || { echo "no target fuzz_$name in $build"; exit 2; }
	out=$build/fuzz-long/$name
	mkdir -p "$out/corpus"
	dict=()
	[ -f "$root/tests/fuzz/dict/$name.dict" ] && dict=(-dict="$root/tests/fuzz/dict/$name.dict")
	echo "== fuzz_$name for ${per}s (corpus $out/corpus)"
	rm -f "$out"/crash-* "$out"/timeout-* "$out"/oom-* "$out"/leak-* "$out"/slow-unit-* \
		"$out"/invariant-*
	set +e
	# Fork mode keeps going after a sanitizer report; SALVE_FUZZ_CONTINUE past a broken
	# invariant (the input is kept, abandoned with its allocations: no leak detection).
	(cd "$out" && ASAN_OPTIONS=detect_leaks=0 SALVE_FUZZ_CONTINUE=$out nice -n 10 "$bin" -fork=1 -ignore_crashes=1 \
		-ignore_timeouts=1 -ignore_ooms=1 -detect_leaks=0 -max_total_time="$per" -timeout=10 \
		-rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$out/" "${dict[@]}" "$out/corpus" "$root/tests/fuzz/corpus/$name" \
		>"$out/log" 2>&1)
	set -e
	execs=$(grep -aoE '^#[0-9]+' "$out/log" | tail -n 1 | tr -d '#')
	# One report per distinct finding: each broken check once (its first input replayed),
	# each sanitizer crash, timeout or OOM replayed for its first report line.
	: >"$out/findings"
	for f in "$out"/invariant-*-1 "$out"/crash-* "$out"/timeout-* "$out"/oom-* "$out"/leak-*; do
		[ -f "$f" ] || continue
		why=$(timeout 60 "$bin" -timeout=10 -rss_limit_mb=2048 "$f" 2>&1 |
			grep -aE -m1 "invariant broken|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY" |
			sed -E 's/==[0-9]+==//' || true)
		echo "${why:-no longer reproduces} <- $(basename "$f")" >>"$out/findings"
	done
	new=$(sed -E 's/ <- .*//; s/0x[0-9a-f]+//g' "$out/findings" | sort -u | grep -c . || true)
	[ "$new" -eq 0 ] || found=1
	echo "$(date -u +%FT%TZ) $name ${per}s ${execs:-0} $new" >>"$build/fuzz-long/hours.log"
	summary+=("$(printf '%-11s %6ss %12s execs %6s corpus %3s findings' "$name" "$per" \
		"${execs:-0}" "$(ls "$out/corpus" | wc -l)" "$new")")
	sort -u -t'<' -k1,1 "$out/findings" | head -n 20
done
echo "== summary (findings are kept in $build/fuzz-long/NAME/)"
printf '%s\n' "${summary[@]}"
exit $found
