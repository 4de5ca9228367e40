#!/usr/bin/env bash
# examples/cron/salve-patch.cron, run as cron would run it, against real sshd hosts on
# 127.0.0.1 with real apt and dpkg (tests/plugins/ssh-patch/fixture.sh): the command line is
# taken from the file, only the installed paths are mapped into a scratch dir and the window
# is moved to now (and away from now). The config is examples/salve.yaml, paths mapped the
# same way, with this fixture's inventory, known_hosts and key where it says.
#   - outside the window: exit 75, nothing runs;
#   - a second invocation while the first holds the runbook's lock: exit 75 at once (--no-wait),
#     audited as run_refused "lock busy";
#   - the first one patches every host of hosts=all (salve-dummy 1.0 -> 1.1) and exits 0;
#   - run_timeout in salve.yaml leaves patch-hosts' steps their timeouts, and the systemd
#     unit's TimeoutStartSec leaves salve its run_timeout plus a rollback.
# Needs root (sshd, dpkg); skips (77) otherwise.
set -u
SALVE=${SALVE_BIN:?run through ctest}
src=${SALVE_SOURCE_DIR:?}
fixture=$src/tests/plugins/ssh-patch/fixture.sh
if [ "$(id -u)" != 0 ] || [ ! -x /usr/sbin/sshd ] || ! command -v dpkg-deb >/dev/null; then
	echo "skipped: needs root, openssh-server and dpkg-dev"
	exit 77
fi
# The hosts are this machine: with reboot=if-required, a reboot-required flag here would
# make the job reboot it.
if [ -e /var/run/reboot-required ]; then
	echo "skipped: /var/run/reboot-required exists; the cron line's reboot=if-required would reboot this machine"
	exit 77
fi
T=$(mktemp -d /tmp/salve-cron-XXXXXX)
holder_pid=
cleanup() {
	[ -n "$holder_pid" ] && kill "$holder_pid" 2>/dev/null
	bash "$fixture" stop "$T/fx" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }
same() { # same GOT WANT DESCRIPTION
	if [ "$1" = "$2" ]; then ok "$3"; else
		not_ok "$3"
		printf '    got:  %s\n    want: %s\n' "$1" "$2"
	fi
}
seconds() { # a duration of salve's grammar (h, m, s parts) -> seconds
	python3 -c '
import re, sys
total = 0
for n, u in re.findall(r"(\d+)([dhms]?)", sys.argv[1]):
    total += int(n) * {"d": 86400, "h": 3600, "m": 60, "s": 1, "": 1}[u]
print(total)' "$1"
}

# --- the timeouts, as shipped ---------------------------------------------------------------
run_timeout=$(sed -n 's/^run_timeout: *\([^ #]*\).*/\1/p' "$src/examples/salve.yaml")
steps_total=0
for d in $(sed -n 's/^  timeout = "\([^"]*\)",*$/\1/p' "$src/runbooks/patch-hosts.lua"); do
	steps_total=$((steps_total + $(seconds "$d")))
done
same "$steps_total" 16200 "patch-hosts' steps take up to 15m + 4h + 15m"
if [ -n "$run_timeout" ] && [ "$(seconds "$run_timeout")" -ge "$steps_total" ]; then
	ok "salve.yaml's run_timeout ($run_timeout) does not cut patch-hosts' steps short"
else
	not_ok "salve.yaml's run_timeout (${run_timeout:-none}) is below patch-hosts' ${steps_total}s"
fi
unit_timeout=$(sed -n 's/^TimeoutStartSec=//p' "$src/examples/cron/salve-patch.service")
if [ -n "$unit_timeout" ] && [ -n "$run_timeout" ] &&
	[ "$(seconds "$unit_timeout")" -ge $(($(seconds "$run_timeout") + 600)) ]; then
	ok "TimeoutStartSec ($unit_timeout) leaves run_timeout plus a 10-minute rollback"
else
	not_ok "TimeoutStartSec (${unit_timeout:-none}) must exceed run_timeout + 10m"
fi

# --- the cron line ---------------------------------------------------------------------------
line=$(grep -v -e '^#' -e '^[[:space:]]*$' "$src/examples/cron/salve-patch.cron")
same "$(printf '%s\n' "$line" | wc -l)" 1 "the crontab has one job"
same "$(printf '%s\n' "$line" | awk '{print $1, $2, $3, $4, $5, $6}')" "0 2 * * 0 root" \
	"it runs Sunday 02:00 as root"
cmd=$(printf '%s\n' "$line" | cut -d' ' -f7-)
# cron ends the command at an unescaped % and makes \% a literal %.
same "$(printf '%s' "$cmd" | sed 's/\\%//g' | tr -cd '%')" "" "every % in the job is escaped for cron"
cmd=${cmd//\\%/%}
# The systemd unit runs the same job (%% is systemd's %; its own trigger; no log redirect).
exec_start=$(sed -n 's/^ExecStart=//p' "$src/examples/cron/salve-patch.service")
exec_start=${exec_start//%%/%}
same "${exec_start/--trigger systemd-timer/--trigger cron}" "${cmd% >>*}" \
	"salve-patch.service's ExecStart is the cron job"

map() { # PATTERN REPLACEMENT: replace in $cmd, failing when the job does not name PATTERN
	case "$cmd" in
	*"$1"*) cmd=${cmd//"$1"/"$2"} ;;
	*) not_ok "the cron job names $1" ;;
	esac
}
map "/usr/bin/salve " "$SALVE "
map "/etc/salve/" "$T/etc/salve/"
map "/usr/share/salve/runbooks/" "$src/runbooks/"
map "/var/log/salve/" "$T/log/"
window_re='--window "[^"]*"'
printf '%s' "$cmd" | grep -q -e "$window_re" || not_ok "the cron job has a --window"
with_window() { printf '%s' "$cmd" | sed "s/$window_re/--window \"$1\"/"; }
# HH:MM-HH:MM windows (every day, may cross midnight) around now and away from now.
read -r inside outside <<<"$(python3 -c '
import datetime as d
n = d.datetime.now()
f = lambda a, b: (n + d.timedelta(minutes=a)).strftime("%H:%M") + "-" + (n + d.timedelta(minutes=b)).strftime("%H:%M")
print(f(-10, 120), f(120, 180))')"

# --- the fixture: two sshd on 127.0.0.1, hosts r0 and r1 with their own dpkg roots ----------
SALVE_FIXTURE_PARENT=$$ timeout 60 bash "$fixture" start "$T/fx" 2 --no-system-apt >"$T/fixture.log" 2>&1 || {
	cat "$T/fixture.log"
	echo "fixture did not start"
	exit 1
}
# shellcheck disable=SC1091
. "$T/fx/env"
read -r -a ports <<<"$FIX_PORTS"
mkdir -p "$T/etc/salve/keys" "$T/log" "$T/state"
cp "$T/fx/known_hosts" "$T/etc/salve/known_hosts"
install -m 0600 "$T/fx/id_ed25519" "$T/etc/salve/keys/id_ed25519"
cat >"$T/etc/salve/inventory.yaml" <<YAML
all:
  vars: {ansible_user: root, ansible_host: 127.0.0.1}
  hosts:
    r0: {ansible_port: ${ports[0]}, salve_apt_options: "$FIX_APT_COMMON $FIX_APT_R0"}
    r1: {ansible_port: ${ports[1]}, salve_apt_options: "$FIX_APT_COMMON $FIX_APT_R1"}
YAML
sed -e "s#/etc/salve/#$T/etc/salve/#g" -e "s#/var/log/salve/#$T/log/#g" \
	-e "s#/var/lib/salve#$T/state#g" "$src/examples/salve.yaml" >"$T/etc/salve/salve.yaml"
versions() {
	for i in 0 1; do
		dpkg-query --admindir="$T/fx/root$i/var/lib/dpkg" -W -f='${Version} ' salve-dummy
	done
}
audit=$T/log/audit.jsonl
events() { # EVENT -> how many records of it the audit log holds
	[ -e "$audit" ] || { echo 0 && return; }
	grep -c "\"event\": *\"$1\"" "$audit"
}
same "$(versions)" "1.0 1.0 " "before: salve-dummy 1.0 on r0 and r1"

# --- outside the window ----------------------------------------------------------------------
sh -c "$(with_window "$outside")"
same "$?" 75 "outside the window ($outside): exit 75"
grep -q "outside the maintenance window \"$outside\": nothing was run" "$T/log/patch-cron.log" &&
	ok "the cron log says it was outside the window" || not_ok "the cron log says it was outside the window"
same "$(events run_start) $(events step_start) $(versions)" "0 0 1.0 1.0 " "nothing ran"
same "$(grep -c '"reason":"outside the maintenance window"' "$audit" 2>/dev/null)" 1 \
	"the refusal outside the window is audited"

# --- the lock: a second invocation while the first holds it ---------------------------------
# The first run waits for apt's lock on r0's lists (held here) inside its pending step, so it
# holds the runbook's lock patch/all until the holder lets go.
# The holder is apt's kind of lock (fcntl, as lock_holder.py explains), held until killed
# (110 s at most: past the test's own timeout).
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
open(sys.argv[2], "w").close()
time.sleep(110)' "$T/fx/apt-r0/lists/lock" "$T/held" &
holder_pid=$!
for _ in $(seq 100); do [ -e "$T/held" ] && break; sleep 0.1; done
sh -c "$(with_window "$inside")" &
first=$!
for _ in $(seq 900); do [ "$(events step_start)" -ge 1 ] && break; sleep 0.1; done
same "$(events step_start)" 1 "the first run is in its pending step, holding the lock"
sh -c "$(with_window "$inside")"
same "$?" 75 "a second invocation while the first runs: exit 75"
kill -0 "$first" 2>/dev/null && ok "the first run was still running then" ||
	not_ok "the first run was still running then"
same "$(grep -c '"reason": *"lock busy"' "$audit")" 1 "the refusal is audited (run_refused, lock busy)"
grep -q 'lock "patch/all" is held' "$T/log/patch-cron.log" &&
	ok "the cron log names the held lock" || {
	not_ok "the cron log names the held lock"
	cat "$T/log/patch-cron.log"
}
kill "$holder_pid" 2>/dev/null
wait "$holder_pid" 2>/dev/null
holder_pid=
wait "$first"
same "$?" 0 "the first run finishes: exit 0"
same "$(versions)" "1.1 1.1 " "after: every host of hosts=all has salve-dummy 1.1"
same "$(events run_start) $(events run_end)" "1 1" "one run started and ended"
grep -q '"trigger": *"cron"' "$audit" && ok "the run is audited with trigger cron" ||
	not_ok "the run is audited with trigger cron"
grep -Eq 'patch-hosts: r0 +ok +1 packages' "$T/log/patch-cron.log" &&
	grep -Eq 'patch-hosts: r1 +ok +1 packages' "$T/log/patch-cron.log" &&
	ok "the cron log has the per-host summary" || {
	not_ok "the cron log has the per-host summary"
	cat "$T/log/patch-cron.log"
}
"$SALVE" audit verify "$audit" >/dev/null
same "$?" 0 "the audit log's chain verifies"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
