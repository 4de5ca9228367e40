#!/usr/bin/env bash
# Ingest alone: one salve serve without ha: (audit_sync always, group commit) whose runs are
# all held back (the runbook's first step waits for an approval, so both workers wait and
# every later run stays queued and spooled), loaded by wrk with a new alert per request
# (bench/ha/distinct.lua: each one a run). Prints the runs accepted in each second, so a
# rate that falls as the queue grows shows; asserts nothing.
# Usage: bench/ha/held.sh [BUILD_DIR]   (default: build-rel, a release build; made if absent)
#        DUR=20 CONNS=32 HISTORY=1000 DEDUP_SIZE=100000 SALVE_TMP=/dev/shm bench/ha/held.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-rel}
DUR=${DUR:-20}
CONNS=${CONNS:-32}
HISTORY=${HISTORY:-1000}
DEDUP_SIZE=${DEDUP_SIZE:-100000}
command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
if [ ! -x "$build/salve" ]; then
	cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSALVE_TESTS=OFF \
		-DSALVE_PLUGIN_ALL=OFF -DSALVE_SERVE=ON >/dev/null
	cmake --build "$build" --target salve -j2 >/dev/null
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
T=$(mktemp -d "${SALVE_TMP:-/tmp}/salve-bench-held-XXXXXX")
spid=""
cleanup() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$T/hold.lua" <<'LUA'
runbook { name = "bench-hold", params = { pod = { default = "" } } }
step "wait" { approve = { timeout = "1h" }, run = function(p) return { pod = p.pod } end }
LUA
cat >"$T/salve.yaml" <<YAML
audit: $T/audit.jsonl
audit_sync: always
state_dir: $T/state
server:
  listen: 127.0.0.1:$port
  http_threads: 8
  workers: 2
  queue_size: 1000000
  max_connections_per_ip: 0
  history: $HISTORY
  dedup_size: $DEDUP_SIZE
routes:
  - name: claim
    matchers: ['alertname = "Claim"']
    runbook: $T/hold.lua
    params: {pod: "{{ labels.pod }}"}
YAML
"$build/salve" --config "$T/salve.yaml" serve 2>"$T/serve.err" &
spid=$!
for _ in $(seq 1 100); do
	curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break
	sleep 0.05
done
accepted() {
	curl -s "http://127.0.0.1:$port/metrics" |
		awk '/^salve_runs_accepted_total/ {s += $NF} END {printf "%d\n", s}'
}
wrk -t2 -c"$CONNS" -d"${DUR}s" -s "$root/bench/ha/distinct.lua" \
	"http://127.0.0.1:$port/hooks/alertmanager" -- held >"$T/wrk.out" &
wpid=$!
prev=0
rates=""
for _ in $(seq 1 "$DUR"); do
	sleep 1
	now=$(accepted)
	rates+=" $((now - prev))"
	prev=$now
done
wait "$wpid"
now=$(accepted)
echo "== held back: $("$build/salve" --version), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   files in ${SALVE_TMP:-/tmp} ($(df --output=fstype "${SALVE_TMP:-/tmp}" | tail -1)), history $HISTORY, dedup_size $DEDUP_SIZE, wrk ${DUR}s x $CONNS connections"
echo "runs accepted per second:$rates"
echo "total $now in ${DUR}s ($((now / DUR))/s), non-2xx: $(awk '/Non-2xx/ {print $5}' "$T/wrk.out" || true)"
