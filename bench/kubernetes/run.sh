#!/usr/bin/env bash
# Latency of one scale.set (check + apply) through the salve scale plugin, over one keep-alive
# TLS connection, against `kubectl scale` run once per action -- same fake API server
# (tests/fake-k8s), same machine, same Deployment, alternating 2 and 3 replicas so every
# action changes something. Prints figures; asserts nothing.
#
#   bench/kubernetes/run.sh [BUILD_DIR] [ITERATIONS]
#
# BUILD_DIR must hold plugins/scale.so (default: build). kubectl is /usr/bin/kubectl.
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
n=${2:-50}
kubectl=${KUBECTL:-/usr/bin/kubectl}
python=${PYTHON:-python3}

tmp=$(mktemp -d /tmp/salve-bench-k8s-XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

"$python" "$src/tests/fake-k8s/fake_k8s.py" --certs "$tmp/certs" --port-file "$tmp/port" \
  --fixture "$src/tests/fake-k8s/fixtures/basic.json" >"$tmp/fake.log" 2>&1 &
pid=$!
for _ in $(seq 300); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { echo "the fake API server did not start:"; cat "$tmp/fake.log"; exit 1; }
kc="$tmp/certs/kubeconfig-token"

cc -O2 -std=c11 -o "$tmp/bench_scale" "$src/bench/kubernetes/bench_scale.c" -I"$src/core/include" \
  $(pkg-config --cflags --libs jansson) -ldl -lm

base="https://127.0.0.1:$(cat "$tmp/port")"
requests() { # API requests the fake logged since the last call
  curl -s --cacert "$tmp/certs/ca.crt" "$base/__fake/requests" |
    "$python" -c 'import json,sys; print(len(json.load(sys.stdin)))'
  curl -s --cacert "$tmp/certs/ca.crt" -X DELETE "$base/__fake/requests" >/dev/null
}
requests >/dev/null

echo "salve scale.set: $n actions, one process, one keep-alive TLS connection"
"$tmp/bench_scale" "$build/plugins/scale.so" "$kc" prod web "$n" >"$tmp/salve.ms"
salve_requests=$(requests)

echo "kubectl scale: $n actions, one process each (discovery cached in a fresh HOME)"
export HOME="$tmp/home"
mkdir -p "$HOME"
for i in $(seq "$n"); do
  replicas=$((2 + i % 2))
  t0=$(date +%s%N)
  "$kubectl" --kubeconfig "$kc" -n prod scale deployment/web --replicas="$replicas" >/dev/null
  t1=$(date +%s%N)
  echo "$(( (t1 - t0) / 1000 ))e-3"
done >"$tmp/kubectl.ms"
kubectl_requests=$(requests)
echo "API requests per action: salve $(( salve_requests / n )), kubectl $(( kubectl_requests / n ))" \
  "(totals $salve_requests and $kubectl_requests)"

"$python" - "$tmp/salve.ms" "$tmp/kubectl.ms" <<'PY'
import statistics, sys
def load(p):
    return [float(x) for x in open(p) if x.strip()]
rows = [("salve scale.set (check+apply)", load(sys.argv[1])), ("kubectl scale", load(sys.argv[2]))]
print("%-32s %6s %9s %9s %9s %9s %9s" % ("", "n", "first", "min", "median", "p95", "mean"))
for name, v in rows:
    s = sorted(v)
    p95 = s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))]
    print("%-32s %6d %8.2fms %8.2fms %8.2fms %8.2fms %8.2fms"
          % (name, len(v), v[0], s[0], statistics.median(s), p95, statistics.mean(s)))
PY
