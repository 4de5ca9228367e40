#!/usr/bin/env bash
# salve serve with ha: (issue 14) on a 3-member etcd, with 1, 2 and 3 replicas; figures
# printed next to the issue's goals, never asserted:
#  1. claim latency: one new alert at a time (a new occurrence, so one claim in etcd), from
#     the client's POST to the answer (202 once the alert's batch is durable), p50/p90/p99;
#  2. distinct alerts/s accepted durably by the cluster: one wrk per replica (the load spread
#     over the replicas, every request a new alert), counted from the replicas' own
#     salve_runs_accepted_total (202s only: a run claimed in etcd, spooled and audited with
#     fdatasync), over the wrk window;
#  3. idle RSS of each replica (with its etcd client loaded: the pause is read every second);
#  and what the replicas asked of etcd (decisions and run ends, and in how many transactions).
# And etcd alone, in the same run: wrk straight at the cluster's JSON gateway, one claim-shaped
# transaction per request, its ceiling on this machine with no salve running.
# And in the same run, for comparison, one salve serve without ha: (durable ingest:
# audit_sync always, group commit) under the same load, and under bench/serve's storm
# (distinct.lua there: a new fingerprint every request, one target, so one run and every
# alert audited durably and answered 200).
# etcd keeps its data in /dev/shm (tmpfs) as the tests do: its fsyncs cost nothing here, so
# the cluster figures leave out the disk a production etcd syncs to. salve's own audit log
# and spool are on the disk (/tmp) unless SALVE_TMP says otherwise.
# Usage: bench/ha/run.sh [BUILD_DIR]   (default: build-rel, a release build; made if absent)
#        DUR=10 N=500 CONNS=32 HTTP_THREADS=8 HISTORY=1000 REPLICAS="1 2 3" bench/ha/run.sh
#        REPLICAS=" " bench/ha/run.sh  (the rows without ha: only)
#        SALVE_TMP=/dev/shm bench/ha/run.sh  (salve's audit log and spool in tmpfs too: what is
#        left once no fdatasync waits for a disk)
#        HELD=1 bench/ha/run.sh  (every run held back by an approval step, so the figures are
#        ingest alone: claims, spool and audit, no run executing beside them)
# HISTORY is server.history (1000 by default, as shipped): see bench/ha/README.md for why it
# matters once accepted runs queue up faster than they run. DEDUP_SIZE is server.dedup_size
# (100000 as shipped; held-back runs keep two keys each).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/bench/ha
build=${1:-$root/build-rel}
DUR=${DUR:-10}
N=${N:-500}
CONNS=${CONNS:-32}
HTTP_THREADS=${HTTP_THREADS:-8}
HISTORY=${HISTORY:-1000}
DEDUP_SIZE=${DEDUP_SIZE:-100000}
HELD=${HELD:-}
REPLICAS=${REPLICAS:-1 2 3}
for tool in wrk etcd; do
	command -v "$tool" >/dev/null || {
		echo "installing wrk and etcd-server (load generator, the cluster)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk etcd-server >/dev/null
	}
done
if [ ! -x "$build/salve" ] || [ ! -e "$build/salve-http.so" ]; then
	cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSALVE_TESTS=OFF \
		-DSALVE_PLUGIN_ALL=OFF -DSALVE_SERVE=ON >/dev/null
	cmake --build "$build" --target salve salve-http -j2 >/dev/null
fi
salve=$build/salve
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
T=$(mktemp -d "${SALVE_TMP:-/tmp}/salve-bench-ha-XXXXXX")
E=$(mktemp -d /dev/shm/salve-bench-etcd-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T" "$E"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# accepted PORT: the runs this replica accepted so far
accepted() {
	curl -s "http://127.0.0.1:$1/metrics" |
		awk '/^salve_runs_accepted_total/ {s += $NF} END {printf "%d\n", s}'
}

# A 3-member etcd cluster on 127.0.0.1, data in tmpfs.
cports=()
cluster=""
for i in 0 1 2; do
	cports+=("$(free_port)")
	pport[i]=$(free_port)
	cluster+="${cluster:+,}m$i=http://127.0.0.1:${pport[i]}"
done
for i in 0 1 2; do
	etcd --name "m$i" --data-dir "$E/m$i" --log-level error \
		--listen-client-urls "http://127.0.0.1:${cports[i]}" \
		--advertise-client-urls "http://127.0.0.1:${cports[i]}" \
		--listen-peer-urls "http://127.0.0.1:${pport[i]}" \
		--initial-advertise-peer-urls "http://127.0.0.1:${pport[i]}" \
		--initial-cluster "$cluster" --initial-cluster-state new \
		--initial-cluster-token salve-bench >"$E/m$i.log" 2>&1 &
	pids+=("$!")
done
endpoints=$(printf 'http://127.0.0.1:%s, ' "${cports[@]}")
endpoints=${endpoints%, }
for _ in $(seq 1 200); do
	ok=0
	for p in "${cports[@]}"; do
		curl -s "http://127.0.0.1:$p/health" | grep -q '"health":"true"' && ok=$((ok + 1))
	done
	[ "$ok" = 3 ] && break
	sleep 0.1
done
[ "$ok" = 3 ] || {
	echo "etcd did not become healthy" >&2
	tail "$E"/m*.log >&2
	exit 1
}

if [ -n "$HELD" ]; then
	cat >"$T/cheap.lua" <<'LUA'
runbook { name = "bench-hold", params = { pod = { default = "" } } }
step "wait" { approve = { timeout = "1h" }, run = function(p) return { pod = p.pod } end }
LUA
else
	cat >"$T/cheap.lua" <<'LUA'
runbook { name = "bench-cheap", params = { pod = { default = "" } } }
step "noop" { run = function(p) return { pod = p.pod } end }
LUA
fi

# start_replicas COUNT PHASE [ha] -> rpids, rports
start_replicas() {
	rpids=()
	rports=()
	local i d port
	for i in $(seq 1 "$1"); do
		d=$T/$2-r$i
		mkdir -p "$d"
		port=$(free_port)
		{
			cat <<YAML
audit: $d/audit.jsonl
audit_sync: always
state_dir: $d/state
server:
  listen: 127.0.0.1:$port
  http_threads: $HTTP_THREADS
  workers: 2
  queue_size: 1000000
  max_connections_per_ip: 0
  history: $HISTORY
  dedup_size: $DEDUP_SIZE
routes:
  - name: claim
    matchers: ['alertname = "Claim"']
    runbook: $T/cheap.lua
    params: {pod: "{{ labels.pod }}"}
  - name: storm
    matchers: ['alertname = "Storm"']
    runbook: $T/cheap.lua
    params: {pod: "{{ labels.pod }}"}
    target: "{{ labels.namespace }}/{{ labels.deployment }}"
YAML
			[ "${3:-}" = ha ] && cat <<YAML
ha:
  etcd:
    endpoints: [$endpoints]
  prefix: /bench-$2
  lease_ttl: 10s
  replica: r$i
YAML
		} >"$d/salve.yaml"
		"$salve" --config "$d/salve.yaml" serve 2>"$d/serve.err" &
		rpids+=("$!")
		pids+=("$!")
		rports+=("$port")
	done
	for port in "${rports[@]}"; do
		for _ in $(seq 1 100); do
			curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break
			sleep 0.05
		done
	done
}
stop_replicas() {
	kill "${rpids[@]}"
	wait "${rpids[@]}" 2>/dev/null || true
}

# storm PHASE: bench/serve's storm against one server without ha: (2xx alerts/s)
storm() {
	start_replicas 1 "$1"
	wrk -t2 -c"$CONNS" -d"${DUR}s" -s "$root/bench/serve/distinct.lua" \
		"http://127.0.0.1:${rports[0]}/hooks/alertmanager" >"$T/wrk-$1.out"
	local sent non2xx
	sent=$(awk '/requests in/ {print $1}' "$T/wrk-$1.out")
	non2xx=$(awk '/Non-2xx/ {print $5}' "$T/wrk-$1.out")
	stop_replicas
	printf "%-22s %-62s %9s/s %8s %8s   %s\n" "$1" "-" "$(((sent - ${non2xx:-0}) / DUR))" "$sent" "${non2xx:-0}" "-"
}

# etcd_alone: the cluster's own ceiling here, wrk straight at etcd's JSON gateway (one
# create-if-absent transaction per request, a claim's shape), CONNS connections.
etcd_alone() {
	wrk -t2 -c"$CONNS" -d"${DUR}s" -s "$here/etcd_txn.lua" "http://127.0.0.1:${cports[0]}" \
		>"$T/wrk-etcd.out"
	local sent non2xx
	sent=$(awk '/requests in/ {print $1}' "$T/wrk-etcd.out")
	non2xx=$(awk '/Non-2xx/ {print $5}' "$T/wrk-etcd.out")
	printf "%-22s %-62s %9s/s %8s %8s   %s\n" "etcd-alone-txn" \
		"(wrk at etcd: one claim-shaped txn per request, no salve)" \
		"$(((sent - ${non2xx:-0}) / DUR))" "$sent" "${non2xx:-0}" "-"
}

# etcd_use PORT...: what the replicas asked of etcd (their /healthz): decisions in how many
# transactions, run ends in how many.
etcd_use() {
	local port
	for port in "$@"; do curl -s "http://127.0.0.1:$port/healthz"; echo; done | python3 -c '
import json, sys
d = b = e = w = 0
for line in sys.stdin:
    if line.strip():
        h = json.loads(line).get("ha", {})
        d += h["decisions"]["batched"]; b += h["decisions"]["batches"]
        e += h["run_ends"]["transactions"]; w += h["run_ends"]["written"]
print("%22s etcd: %d decisions in %d txns (%.1f a txn), %d run ends in %d txns (%.1f a txn)"
      % ("", d, b, d / max(b, 1), w, e, w / max(e, 1)))'
}

# measure COUNT PHASE [ha]: prints one row (latency, alerts/s, RSS)
measure() {
	local count=$1 phase=$2 ha=${3:-}
	start_replicas "$count" "$phase" "$ha"
	sleep 2 # a couple of ticks: with ha:, the pause was read, the etcd client is loaded
	local rss="" p
	for p in "${rpids[@]}"; do rss+="${rss:+ / }$(awk -v k="$(rss_kb "$p")" 'BEGIN {printf "%.1f", k / 1024}')"; done
	local lat
	lat=$(python3 "$here/latency.py" "$N" "lat-$phase" "${rports[@]}")
	local before=0 after=0 port
	for port in "${rports[@]}"; do before=$((before + $(accepted "$port"))); done
	local threads=$((2 / count > 0 ? 2 / count : 1)) conns=$((CONNS / count)) i=0
	local wpids=()
	for port in "${rports[@]}"; do
		i=$((i + 1))
		wrk -t"$threads" -c"$conns" -d"${DUR}s" -s "$here/distinct.lua" \
			"http://127.0.0.1:$port/hooks/alertmanager" -- "$phase-r$i" >"$T/wrk-$phase-$i.out" &
		wpids+=("$!")
	done
	wait "${wpids[@]}"
	for port in "${rports[@]}"; do after=$((after + $(accepted "$port"))); done
	local sent=0 non2xx=0
	for i in $(seq 1 "$count"); do
		sent=$((sent + $(awk '/requests in/ {print $1}' "$T/wrk-$phase-$i.out")))
		non2xx=$((non2xx + $(awk '/Non-2xx/ {print $5}' "$T/wrk-$phase-$i.out" || true) + 0))
	done
	local use=""
	[ -n "$ha" ] && use=$(etcd_use "${rports[@]}")
	stop_replicas
	local rate=$(((after - before) / DUR))
	printf "%-22s %-62s %9s/s %8s %8s   %s\n" "$phase" "$lat" "$rate" "$sent" "$non2xx" "$rss"
	[ -z "$use" ] || echo "$use"
}

echo "== salve serve ha: on a 3-member etcd ($(etcd --version | head -1)), $("$salve" --version), $(nproc) cores"
echo "   wrk: ${DUR}s, $CONNS connections spread over the replicas; latency: $N alerts one at a time;"
echo "   http_threads $HTTP_THREADS, history $HISTORY, audit_sync always (group commit), etcd data in tmpfs,"
echo "   salve's audit log and spool in ${SALVE_TMP:-/tmp} ($(df --output=fstype "${SALVE_TMP:-/tmp}" | tail -1))"
echo "   rows: a new alert per request, each a run (accepted/s: salve_runs_accepted_total)$([ -z "$HELD" ] || echo ", held back");"
echo "   storm: bench/serve's distinct.lua, one target (2xx/s: each alert audited durably, one run)"
echo
printf "%-22s %-62s %11s %8s %8s   %s\n" "" "claim latency (POST -> durable answer)" "alerts/s" "sent" "non-2xx" "idle RSS MB"
storm single-no-ha-storm
measure 1 single-no-ha
[ -z "${REPLICAS// /}" ] || etcd_alone
for n in $REPLICAS; do
	measure "$n" "ha-$n-replica$([ "$n" = 1 ] || echo s)" ha
done
echo
echo "goals (issue 14): >= 5,000 distinct alerts/s accepted durably per cluster; single node"
echo "without ha: >= 20,000 alerts/s durable ingest (group commit); idle RSS < 10 MB per replica"
