#!/usr/bin/env bash
# notify benchmark: one notification to each channel, timed through the real plugin .so
# (dlopen'ed by bench_notify.c with a minimal host), against the test receivers on 127.0.0.1:
# tests/plugins/notify/http_receiver.py (stands in for Slack/PagerDuty/Opsgenie/Teams/webhooks)
# and smtp_receiver.py (Debian python3-aiosmtpd). Beside it, the peer a shell script would
# use: the curl CLI, one process per notification. Then the cost of a hanging endpoint: how
# long a notification takes when the server never answers, next to the configured timeout.
# Prints figures; asserts nothing.
#
# usage: bench/notify/run.sh [BUILD_DIR]     (N=50 by default; BUILD_DIR holds plugins/notify.so)
#   e.g. cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release -DSALVE_PLUGIN_ALL=OFF \
#          -DSALVE_PLUGIN_NOTIFY=ON -DSALVE_PLUGIN_HOST=ON
#        cmake --build build-rel --target salve-plugin-notify && bench/notify/run.sh build-rel
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${1:-${SALVE_BUILD_DIR:-$src/build}}
so=$build/plugins/notify.so
N=${N:-50}
if [ ! -f "$so" ]; then
	echo "no $so: build it first (cmake --build $build --target salve-plugin-notify)" >&2
	exit 1
fi
if ldd "$so" | grep -q libasan; then
	echo "$so is built with SALVE_SANITIZE: use a plain build (e.g. -DCMAKE_BUILD_TYPE=Release)" >&2
	exit 1
fi

work=$(mktemp -d /tmp/salve-notify-bench-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

cc -O2 -std=c11 -D_GNU_SOURCE -pthread -o "$work/bench_notify" "$here/bench_notify.c" \
	-I"$src/core/include" $(pkg-config --cflags --libs jansson) -ldl -lm

start() { # name script args...
	local name=$1 script=$2
	shift 2
	mkdir -p "$work/$name"
	"$@" "$src/tests/plugins/notify/$script" --port-file "$work/$name/port" "${extra[@]}" &
	pids+=($!)
	for _ in $(seq 200); do [ -s "$work/$name/port" ] && return 0; sleep 0.05; done
	echo "$script did not start" >&2
	exit 1
}
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

extra=()
start http http_receiver.py python3
extra=(--dir "$work/smtp_plain" --mode plain)
start smtp_plain smtp_receiver.py /usr/bin/python3
extra=(--dir "$work/smtp_tls" --mode starttls --user salve --password benchpw)
start smtp_tls smtp_receiver.py /usr/bin/python3

hp=$(field "$work/http/port" port)
plain_port=$(field "$work/smtp_plain/port" port)
tls_port=$(field "$work/smtp_tls/port" port)
cert=$(field "$work/smtp_tls/port" cert)
base=http://127.0.0.1:$hp
ctl() { curl -s -o /dev/null -X POST -d "$2" "$base/_control/$1"; }

export BENCH_SLACK_URL=$base/slack/T0/B0/benchtoken BENCH_TEAMS_URL=$base/teams/benchtoken
export BENCH_PD_KEY=benchpdkey BENCH_OG_KEY=benchogkey BENCH_SMTP_PW=benchpw

config() { # extra top-level JSON members
	cat <<EOF
{"timeout": "5s", "retry": {"attempts": 1},
 "slack": {"webhook_url": "env:BENCH_SLACK_URL", "channel": "#bench"},
 "pagerduty": {"routing_key": "env:BENCH_PD_KEY", "url": "$base/pagerduty/v2/enqueue"},
 "opsgenie": {"api_key": "env:BENCH_OG_KEY", "url": "$base/opsgenie"},
 "teams": {"webhook_url": "env:BENCH_TEAMS_URL"},
 "webhooks": {"tickets": {"url": "$base/tickets"}},
 "email": {"url": "smtp://127.0.0.1:$tls_port", "from": "salve@example.org", "to": ["oncall@example.org"],
           "username": "salve", "password": "env:BENCH_SMTP_PW", "starttls": true},
 "ca_file": "$cert",
 "routing": {"critical": ["pagerduty:", "slack:#incidents"]}
 $1}
EOF
}
config "" >"$work/config.json"
config ", \"email\": {\"url\": \"smtp://127.0.0.1:$plain_port\", \"from\": \"salve@example.org\", \"to\": [\"oncall@example.org\"], \"starttls\": false}" >"$work/config-plain.json"

bench() { "$work/bench_notify" "$so" "$@"; }
text='{"text": "disk full on web3", "severity": "high", "fields": {"host": "web3"}}'

echo "notify plugin, $N notifications each, receivers on 127.0.0.1 (first = cold connection)"
bench "$work/config.json" slack "$text" "$N" "slack"
bench "$work/config.json" pagerduty '{"summary": "db1 down", "dedup_key": "k"}' "$N" "pagerduty (Events v2)"
bench "$work/config.json" opsgenie '{"message": "db1 down", "alias": "k"}' "$N" "opsgenie (create)"
bench "$work/config.json" teams "$text" "$N" "teams (MessageCard)"
bench "$work/config.json" webhook '{"name": "tickets", "text": "t"}' "$N" "webhook"
bench "$work/config.json" page '{"severity": "critical", "summary": "s"}' "$N" "page critical (pagerduty + slack)"
bench "$work/config-plain.json" email '{"subject": "s", "body": "b"}' "$N" "email (plain SMTP)"
bench "$work/config.json" email '{"subject": "s", "body": "b"}' "$N" "email (STARTTLS + AUTH)"
bench "$work/config.json" slack "$text" "$N" "slack, 4 threads at once" 4
bench "$work/config.json" email '{"subject": "s", "body": "b"}' "$N" "email STARTTLS, 4 threads" 4

echo
echo "peer: curl CLI, one process per notification (what a shell hook would do)"
body=$(curl -s "$base/_control/requests" >/dev/null; printf '%s' '{"text":"disk full on web3"}')
t0=$(date +%s%N)
for _ in $(seq "$N"); do
	curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d "$body" "$BENCH_SLACK_URL"
done
t1=$(date +%s%N)
awk -v ns=$((t1 - t0)) -v n="$N" 'BEGIN { printf "%-34s n=%-3d mean=%8.2fms\n", "curl CLI -> slack receiver", n, ns / n / 1e6 }'
printf 'Subject: s\r\n\r\nb\r\n' >"$work/mail.txt"
t0=$(date +%s%N)
for _ in $(seq "$N"); do
	curl -s --url "smtp://127.0.0.1:$tls_port" --ssl-reqd --cacert "$cert" --user salve:benchpw \
		--mail-from salve@example.org --mail-rcpt oncall@example.org -T "$work/mail.txt"
done
t1=$(date +%s%N)
awk -v ns=$((t1 - t0)) -v n="$N" 'BEGIN { printf "%-34s n=%-3d mean=%8.2fms\n", "curl CLI -> SMTP STARTTLS + AUTH", n, ns / n / 1e6 }'

echo
echo "hanging endpoint (the receiver never answers): time to give up vs the configured timeout"
ctl default '{"hang": 60}'
config ', "timeout": "500ms", "retry": {"attempts": 1}' >"$work/config-hang1.json"
bench "$work/config-hang1.json" slack '{"text": "t"}' 5 "timeout 500ms, 1 attempt"
config ', "timeout": "200ms", "retry": {"attempts": 3, "base_delay": "100ms", "max_delay": "1s"}' >"$work/config-hang3.json"
bench "$work/config-hang3.json" slack '{"text": "t"}' 5 "timeout 200ms, 3 attempts, backoff 100ms"
echo "(3 attempts: 600ms of timeouts plus two jittered waits of 50-100ms and 100-200ms)"
ctl reset '{}'
