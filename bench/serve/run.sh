#!/usr/bin/env bash
# salve serve benchmarks, printed side by side with the peer, never asserted:
#  1. alert-to-first-step latency (p50/p99): one new alert at a time, from the client's POST
#     to the start of the run's first step (salve) or of the command (webhook);
#  2. webhook ingest throughput with wrk on loopback: duplicate fingerprints (one alert
#     repeated) and distinct fingerprints (a new pod each request, one Deployment), with the
#     audit log written without fdatasync and, for salve, with it (audit_sync: always);
#  3. resident memory idle and after the load.
# The peer is webhook (adnanh/webhook, Debian package webhook) running the equivalent
# command: a bash script that records when it started (the "first step").
# Usage: bench/serve/run.sh [BUILD_DIR]   (default: build-bench-serve, a release build)
#        DUR=10 N=200 CONNS=32 bench/serve/run.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/bench/serve
build=${1:-$root/build-bench-serve}
DUR=${DUR:-10}
N=${N:-200}
CONNS=${CONNS:-32}
for tool in wrk webhook; do
	command -v "$tool" >/dev/null || {
		echo "installing wrk and webhook (load generator and peer)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk webhook >/dev/null
	}
done
if [ ! -x "$build/salve" ]; then
	cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSALVE_TESTS=OFF \
		-DSALVE_PLUGIN_ALL=OFF -DSALVE_SERVE=ON >/dev/null
	cmake --build "$build" --target salve -j2 >/dev/null
fi
salve=$build/salve
# webhook opens a process and its pipes per request: with the default 1024 descriptors most of
# its commands fail under load ("too many open files"). Raise the limit for both.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
T=$(mktemp -d /tmp/salve-bench-serve-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
wait_port() { # wait_port PORT PATH
	for _ in $(seq 1 100); do
		curl -s -o /dev/null "http://127.0.0.1:$1$2" && return 0
		sleep 0.05
	done
	echo "nothing listens on $1" >&2
	return 1
}
# wrk_rate SCRIPT URL -> "REQ/S NON2XX"
wrk_rate() {
	local out
	out=$(wrk -t2 -c"$CONNS" -d"${DUR}s" -s "$1" "$2")
	echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(echo "$out" | awk '/Non-2xx/ {print $5}')"
}

cat >"$T/first.lua" <<'LUA'
runbook { name = "bench-first-step", params = { pod = { default = "" } } }
step "first" { run = function(p) return { pod = p.pod } end }
LUA

start_salve() { # start_salve SYNC -> sets spid, sport
	sport=$(free_port)
	rm -rf "$T/state" "$T/audit.jsonl" "$T/audit.jsonl.head"
	cat >"$T/salve.yaml" <<YAML
audit: $T/audit.jsonl
audit_sync: $1
state_dir: $T/state
server:
  listen: 127.0.0.1:$sport
  http_threads: 2
  workers: 2
  queue_size: 1024
routes:
  - name: latency
    matchers: ['alertname = "Latency"']
    runbook: $T/first.lua
    params: {pod: "{{ labels.pod }}"}
    cooldown: 0s
  - name: storm
    matchers: ['alertname = "Storm"']
    runbook: $T/first.lua
    params: {pod: "{{ labels.pod }}"}
    target: "{{ labels.namespace }}/{{ labels.deployment }}"
    cooldown: 1h
YAML
	"$salve" --config "$T/salve.yaml" serve 2>"$T/salve.err" &
	spid=$!
	pids+=("$spid")
	wait_port "$sport" /healthz
}
stop_salve() {
	kill "$spid"
	wait "$spid" 2>/dev/null || true
}

start_webhook() {
	wport=$(free_port)
	mkdir -p "$T/wh"
	rm -f "$T/wh"/*
	cat >"$T/cmd.sh" <<SH
#!/bin/bash
echo "\$EPOCHREALTIME" > "$T/wh/\$1"
SH
	chmod +x "$T/cmd.sh"
	cat >"$T/hooks.json" <<JSON
[{"id": "alert", "execute-command": "$T/cmd.sh", "command-working-directory": "$T",
  "pass-arguments-to-command": [{"source": "payload", "name": "alerts.0.labels.pod"}]}]
JSON
	webhook -hooks "$T/hooks.json" -ip 127.0.0.1 -port "$wport" >"$T/webhook.log" 2>&1 &
	wpid=$!
	pids+=("$wpid")
	for _ in $(seq 1 100); do
		curl -s -o /dev/null -XPOST "http://127.0.0.1:$wport/hooks/none" && break
		sleep 0.05
	done
}

echo "== salve serve ($("$salve" --version)) vs webhook ($(webhook -version)), $(nproc) cores"
echo "   wrk: 2 threads, $CONNS connections, ${DUR}s per run; latency: $N alerts one at a time"
echo
echo "== 1. alert-to-first-step latency (POST sent -> first step started)"
start_salve none
sleep 1
salve_idle=$(rss_kb "$spid")
python3 "$here/latency.py" salve "$sport" "$N"
start_webhook
sleep 1
wh_idle=$(rss_kb "$wpid")
python3 "$here/latency.py" webhook "$wport" "$N" "$T/wh"

echo
echo "== 2. ingest throughput (alerts/s; one alert per request)"
read -r s_dup s_dup_bad < <(wrk_rate "$here/dup.lua" "http://127.0.0.1:$sport/hooks/alertmanager")
read -r s_dis s_dis_bad < <(wrk_rate "$here/distinct.lua" "http://127.0.0.1:$sport/hooks/alertmanager")
salve_hwm=$(hwm_kb "$spid")
runs=$(curl -s "http://127.0.0.1:$sport/runs?route=storm" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["runs"]))')
audited=$(grep -c '"event":"alert"' "$T/audit.jsonl" || true)
stop_salve
rm -f "$T/wh"/*
read -r w_dup w_dup_bad < <(wrk_rate "$here/dup.lua" "http://127.0.0.1:$wport/hooks/alert")
sleep 2
read -r w_dis w_dis_bad < <(wrk_rate "$here/distinct.lua" "http://127.0.0.1:$wport/hooks/alert")
sleep 2
wh_hwm=$(hwm_kb "$wpid")
wh_cmds=$(find "$T/wh" -type f | wc -l)
start_salve always
read -r s_sync s_sync_bad < <(DUR=$((DUR / 2 > 0 ? DUR / 2 : 1)) wrk_rate "$here/dup.lua" "http://127.0.0.1:$sport/hooks/alertmanager")
stop_salve
printf "%-46s %12s %12s\n" "" "salve serve" "webhook"
printf "%-46s %12s %12s\n" "duplicate fingerprints (audit_sync none)" "$s_dup" "$w_dup"
printf "%-46s %12s %12s\n" "distinct fingerprints, one target" "$s_dis" "$w_dis"
printf "%-46s %12s %12s\n" "duplicate fingerprints, audit fdatasync'd" "$s_sync" "-"
printf "%-46s %12s %12s\n" "non-2xx answers (dup / distinct)" "${s_dup_bad:-0} / ${s_dis_bad:-0}" "${w_dup_bad:-0} / ${w_dis_bad:-0}"
echo "salve: $runs run(s) started for the whole distinct storm, $audited alerts audited;" \
	"webhook: $wh_cmds distinct-pod commands had run 2 s after its distinct load"
echo
echo "== 3. resident memory (KB)"
printf "%-46s %12s %12s\n" "idle (after start)" "$salve_idle" "$wh_idle"
printf "%-46s %12s %12s\n" "peak after the load (VmHWM)" "$salve_hwm" "$wh_hwm"
echo
echo "targets: p99 < 10 ms, >= 10,000 alerts/s on 2 cores, idle RSS < 10 MB, ahead of webhook"
