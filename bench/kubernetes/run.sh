#!/usr/bin/env bash
# Per-action latency of the kubernetes and scale plugins in process (the real .so files loaded
# by bench_driver as the core loads them: one plugin instance, one kept-alive TLS connection,
# check then apply with check's observed handed back) against kubectl run once per action, on
# the same fake API server (tests/fake-k8s), in the same run: the reads and every mutating
# action, median and p90 of N iterations each, and the API requests each one sent. Prints a
# table (bench.py); asserts nothing. Measure a release build: a sanitizer build is far slower.
#
#   [SKIP=REGEX] bench/kubernetes/run.sh [BUILD_DIR] [ITERATIONS]
#
# BUILD_DIR must hold kubernetes.so and scale.so under plugins/ (default: build). kubectl:
# $KUBECTL, default /usr/bin/kubectl (Debian:
# kubernetes-client). SKIP leaves out the cases whose name matches (e.g. SKIP=drain, whose
# kubectl side can run for minutes).
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
n=${2:-20}
kubectl=${KUBECTL:-/usr/bin/kubectl}
python=${PYTHON:-python3}

tmp=$(mktemp -d /tmp/salve-bench-k8s-XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

mkdir "$tmp/plugins"
for p in kubernetes scale; do
  so=$(find "$build/plugins" -name "$p.so" | head -n 1)
  [ -n "$so" ] || { echo "no $p.so under $build/plugins"; exit 1; }
  ln -s "$so" "$tmp/plugins/$p.so"
done

"$python" "$src/tests/fake-k8s/fake_k8s.py" --certs "$tmp/certs" --port-file "$tmp/port" \
  --fixture "$src/tests/fake-k8s/fixtures/basic.json" >"$tmp/fake.log" 2>&1 &
pid=$!
for _ in $(seq 300); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { echo "the fake API server did not start:"; cat "$tmp/fake.log"; exit 1; }

cc -O2 -std=c11 -D_GNU_SOURCE -DSALVE_VERSION=\"bench\" -o "$tmp/bench_driver" "$src/bench/kubernetes/bench_driver.c" \
  "$src/core/httpsvc/httpsvc_client.c" "$src/core/httpsvc/httpsvc_curl.c" -I"$src/core/include" \
  -I"$src/core" $(pkg-config --cflags --libs jansson libcurl) -ldl -lm -pthread

echo "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); $("$kubectl" version --client 2>/dev/null | head -n 1)"
export HOME="$tmp/home" # kubectl's discovery cache starts empty, then serves the later calls
mkdir -p "$HOME"
"$python" "$src/bench/kubernetes/bench.py" --driver "$tmp/bench_driver" --plugins "$tmp/plugins" \
  --kubeconfig "$tmp/certs/kubeconfig-token" --api "https://127.0.0.1:$(cat "$tmp/port")" \
  --ca "$tmp/certs/ca.crt" --kubectl "$kubectl" -n "$n" ${SKIP:+--skip "$SKIP"}
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
