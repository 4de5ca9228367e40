#!/bin/bash
# Real OpenSSH servers and a real apt repository for the ssh-patch tests and benchmark.
#
#   fixture.sh start DIR NSSHD [--no-apt|--no-system-apt]   start NSSHD sshd on 127.0.0.1
#       (free ports), plus:
#       a silent TCP listener (accepts, never speaks SSH), a closed port, a server whose
#       known_hosts entry is wrong, an ssh-agent holding a second key, a passphrase key,
#       salve-dummy 1.0/1.1 .debs in a file repository, per-host dpkg roots, inventory.yaml,
#       and salve-dummy 1.0 on this machine itself (not with --no-system-apt).
#   fixture.sh stop DIR                     kill everything started, purge salve-dummy.
#
# DIR/env holds shell assignments describing it all. Everything is bounded: sshd processes
# die with `stop`, and a watchdog kills them when the test that started them is gone.
set -euo pipefail

cmd=${1:?start|stop}
dir=${2:?DIR}

free_ports() { # N -> N free TCP ports on 127.0.0.1
	python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

wait_port() { # PORT -> waits until something accepts on it (5 s at most)
	python3 - "$1" <<'EOF'
import socket, sys, time
deadline = time.time() + 5
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
}

stop() {
	[ -d "$dir" ] || return 0
	if [ -e "$dir/watchdog.pid.keep" ] && [ "$(cat "$dir/watchdog.pid.keep")" != "$PPID" ]; then
		kill "$(cat "$dir/watchdog.pid.keep")" 2>/dev/null || true
	fi
	for f in "$dir"/*.pid; do
		[ -e "$f" ] || continue
		kill "$(cat "$f")" 2>/dev/null || true
	done
	if [ -e "$dir/agent.env" ]; then
		# shellcheck disable=SC1091
		(. "$dir/agent.env" >/dev/null && ssh-agent -k >/dev/null 2>&1) || true
	fi
	if [ -e "$dir/apt-installed-system" ] && dpkg -s salve-dummy >/dev/null 2>&1; then
		dpkg --purge salve-dummy >/dev/null 2>&1 || true
	fi
	rm -f "$dir"/*.pid
}

if [ "$cmd" = stop ]; then
	stop
	exit 0
fi

nsshd=${3:?NSSHD}
with_apt=1
system_apt=1
[ "${4:-}" = --no-apt ] && with_apt=0
[ "${4:-}" = --no-system-apt ] && system_apt=0
mkdir -p "$dir" /run/sshd "$dir/home"
chmod 755 "$dir"
cd "$dir"

# Keys: the test's user key, a key only the agent holds, a passphrase-protected key.
ssh-keygen -q -t ed25519 -N '' -C salve-test -f id_ed25519
ssh-keygen -q -t ed25519 -N '' -C salve-agent -f id_agent
ssh-keygen -q -t ed25519 -N 'correct horse' -C salve-pass -f id_pass
cat id_ed25519.pub id_agent.pub id_pass.pub >authorized_keys
# A key that is nobody's host key, for the wrong-key server's known_hosts entry.
ssh-keygen -q -t ed25519 -N '' -f impostor_key

read -r -a ports <<<"$(free_ports $((nsshd + 3)))"
wrong_port=${ports[$nsshd]}
silent_port=${ports[$((nsshd + 1))]}
closed_port=${ports[$((nsshd + 2))]}

start_sshd() { # INDEX PORT KEYTYPES...
	local i=$1 port=$2
	shift 2
	{
		echo "Port $port"
		echo "ListenAddress 127.0.0.1"
		for t in "$@"; do
			ssh-keygen -q -t "$t" -N '' -f "hostkey_${i}_$t"
			echo "HostKey $dir/hostkey_${i}_$t"
		done
		echo "PidFile $dir/sshd_$i.sshd-pid"
		echo "AuthorizedKeysFile $dir/authorized_keys"
		echo "StrictModes no"
		echo "UsePAM no"
		echo "PermitRootLogin yes"
		echo "PasswordAuthentication no"
		echo "KbdInteractiveAuthentication no"
		echo "PubkeyAuthentication yes"
		echo "MaxStartups 500:30:1000"
		echo "MaxSessions 50"
		echo "LogLevel ERROR"
		# A clean HOME: the machine's own dotfiles (pyenv init in root's .bashrc costs
		# ~100 ms per command) must not time or change what the tests see.
		echo "SetEnv HOME=$dir/home"
	} >"sshd_$i.conf"
	/usr/sbin/sshd -D -f "$dir/sshd_$i.conf" -E "$dir/sshd_$i.log" &
	echo $! >"sshd_$i.pid"
}

# Server 0 offers ecdsa and ed25519 host keys while known_hosts lists only its ed25519 key:
# the client must ask for the type it can verify.
start_sshd 0 "${ports[0]}" ecdsa ed25519
for ((i = 1; i < nsshd; i++)); do
	start_sshd "$i" "${ports[$i]}" ed25519
done
start_sshd wrong "$wrong_port" ed25519

# The silent listener: the kernel completes TCP handshakes, nobody ever sends a banner.
python3 -c '
import socket, sys, time, os
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
open(sys.argv[2], "w").write(str(os.getpid()))
time.sleep(900)
' "$silent_port" "$dir/silent.pid" &

for ((i = 0; i < nsshd; i++)); do wait_port "${ports[$i]}"; done
wait_port "$wrong_port"
wait_port "$silent_port"

# known_hosts: every server's ed25519 key, hashed (ssh-keygen -H), then one plain entry.
: >known_hosts
for ((i = 0; i < nsshd; i++)); do
	echo "[127.0.0.1]:${ports[$i]} $(cut -d' ' -f1,2 "hostkey_${i}_ed25519.pub")" >>known_hosts
done
echo "[127.0.0.1]:$wrong_port $(cut -d' ' -f1,2 impostor_key.pub)" >>known_hosts
ssh-keygen -q -H -f known_hosts >/dev/null 2>&1
rm -f known_hosts.old
# A line libssh2 cannot parse must not stop the others from loading.
echo "@cert-authority *.example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLE" >>known_hosts

# The agent holds only id_agent.
ssh-agent -a "$dir/agent.sock" >agent.env
# shellcheck disable=SC1091
. ./agent.env >/dev/null
echo "$SSH_AGENT_PID" >agent.pid
ssh-add -q id_agent 2>/dev/null

# Watchdog: when the process that started us (the test runner) dies, stop everything.
parent=${SALVE_FIXTURE_PARENT:-$PPID}
(
	trap '' HUP
	while kill -0 "$parent" 2>/dev/null; do sleep 1; done
	"$0" stop "$dir"
) >/dev/null 2>&1 &
echo $! >watchdog.pid.keep

{
	echo "FIX_DIR=$dir"
	echo "FIX_PORTS=\"${ports[*]:0:$nsshd}\""
	echo "FIX_WRONG_PORT=$wrong_port"
	echo "FIX_SILENT_PORT=$silent_port"
	echo "FIX_CLOSED_PORT=$closed_port"
	echo "FIX_AGENT_SOCK=$dir/agent.sock"
} >env

if [ "$with_apt" = 1 ]; then
	# salve-dummy 1.0 and 1.1: no maintainer scripts, one file.
	mkdir -p repo
	for v in 1.0 1.1; do
		mkdir -p "pkg$v/DEBIAN" "pkg$v/usr/share/salve-dummy"
		printf 'Package: salve-dummy\nVersion: %s\nArchitecture: all\nMaintainer: salve tests <salve@localhost>\nDescription: throwaway package for the salve ssh-patch tests\n' "$v" >"pkg$v/DEBIAN/control"
		echo "$v" >"pkg$v/usr/share/salve-dummy/version"
		dpkg-deb -Zgzip --build "pkg$v" "repo/salve-dummy_${v}_all.deb" >/dev/null
	done
	(cd repo && dpkg-scanpackages --multiversion . /dev/null >Packages 2>/dev/null)
	echo "deb [trusted=yes] file:$dir/repo ./" >sources.list
	# Options shared by every host: only this repository, no package caches.
	common="-o Dir::Etc::sourcelist=$dir/sources.list -o Dir::Etc::sourceparts=- -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache="
	# Per host (own lists, cache and log so parallel hosts do not share apt's locks).
	host_opts() { # NAME [ROOT]
		mkdir -p "apt-$1/lists/partial" "apt-$1/cache/archives/partial" "apt-$1/log"
		local o="-o Dir::State::Lists=$dir/apt-$1/lists -o Dir::Cache=$dir/apt-$1/cache -o Dir::Log=$dir/apt-$1/log"
		if [ -n "${2:-}" ]; then
			mkdir -p "$2/var/lib/dpkg/info" "$2/var/lib/dpkg/updates" "$2/var/lib/dpkg/triggers"
			touch "$2/var/lib/dpkg/status" "$2/var/lib/dpkg/available"
			o="$o -o Dir::State::status=$2/var/lib/dpkg/status -o DPkg::Options::=--root=$2"
		fi
		echo "$o"
	}
	sys_opts=$(host_opts system)
	echo "FIX_APT_COMMON=\"$common\"" >>env
	echo "FIX_APT_SYSTEM=\"$sys_opts\"" >>env
	# Rolling-batch hosts r0..r3: each its own dpkg root with salve-dummy 1.0.
	for i in 0 1 2 3; do
		o=$(host_opts "r$i" "$dir/root$i")
		# shellcheck disable=SC2086
		apt-get $common $o -q update >/dev/null 2>&1
		# shellcheck disable=SC2086
		apt-get $common $o -y -q install salve-dummy=1.0 >/dev/null 2>&1
		echo "FIX_APT_R$i=\"$o\"" >>env
	done
	# The real system gets salve-dummy 1.0 too (purged by stop).
	if [ "$system_apt" = 0 ]; then
		echo "fixture: ready in $dir"
		exit 0
	fi
	if dpkg -s salve-dummy >/dev/null 2>&1; then
		echo "fixture: salve-dummy is already installed on this machine; refusing to touch it" >&2
		exit 1
	fi
	# shellcheck disable=SC2086
	apt-get $common $sys_opts -q update >/dev/null 2>&1
	touch apt-installed-system
	# shellcheck disable=SC2086
	apt-get $common $sys_opts -y -q install salve-dummy=1.0 >/dev/null 2>&1
fi
echo "fixture: ready in $dir"
