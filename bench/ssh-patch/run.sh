#!/bin/bash
# ssh-patch benchmark: salve against Ansible ad-hoc, parallel-ssh and plain parallel ssh, on
# N local OpenSSH servers (127.0.0.1 only, started here, stopped at exit).
#
#   bench/ssh-patch/run.sh [--edits-only] [N ...]   each N endpoints, 20 by default
#                                                    (try: 20 100)
#
# For each N, prints a table of wall time, CPU time (the client's, with the children it waited
# for, plus the sshd servers': each listener's reaped connections and their commands) and peak
# RSS (/usr/bin/time -v: the largest single process of the tree, not the sum), then the
# idempotent edit compared in the same run:
# ssh-patch.ensure_line applied twice (a change, then nothing to do; forks N) against N
# plain `ssh` processes each running a grep-or-append twice, REPEAT times (default 3)
# alternating, with both medians and their ratio. --edits-only runs only that comparison.
# Asserts nothing. Installs Debian's ansible and pssh when missing (this script only, and not
# with --edits-only; CI never runs it). Needs root (sshd).
set -euo pipefail

edits_only=0
if [ "${1:-}" = --edits-only ]; then
	edits_only=1
	shift
fi
[ $# -gt 0 ] || set -- 20
repeat=${REPEAT:-3}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${SALVE_BENCH_BUILD:-$src/build-bench-ssh-patch}
fixture=$src/tests/plugins/ssh-patch/fixture.sh

if [ "$(id -u)" != 0 ]; then
	echo "bench: needs root to start sshd" >&2
	exit 1
fi

echo "== building salve and the ssh-patch plugin (Release) in $build"
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSALVE_TESTS=OFF -DSALVE_PLUGIN_ALL=OFF \
	-DSALVE_PLUGIN_SSH_PATCH=ON >/dev/null
cmake --build "$build" --target salve salve-plugin-ssh-patch -j2 >/dev/null
salve=$build/salve

missing=()
command -v /usr/bin/time >/dev/null || missing+=(time)
if [ "$edits_only" = 0 ]; then
	command -v ansible >/dev/null || missing+=(ansible)
	command -v parallel-ssh >/dev/null || missing+=(pssh)
fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "== installing ${missing[*]} (Debian packages, for this benchmark only)"
	apt-get install -y -q "${missing[@]}" >/dev/null
fi

dir=
cleanup() {
	[ -n "$dir" ] || return 0
	bash "$fixture" stop "$dir" || true
	rm -rf "$dir"
	dir=
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# CPU time (clock ticks) the servers used: each sshd listener's own and its reaped children's
# (the per-connection sshd and every command they ran).
server_ticks() {
	local pidfile sum=0 f
	for pidfile in "$dir"/sshd_[0-9]*.pid; do
		read -r -a f <"/proc/$(cat "$pidfile")/stat"
		sum=$((sum + f[13] + f[14] + f[15] + f[16]))
	done
	echo "$sum"
}

last_wall=0
last_cpu=0
measure() { # LABEL CMD...: one row; its wall and CPU seconds are left in last_wall, last_cpu
	local label=$1
	shift
	# Fresh Ansible control sockets: every row starts with cold connections.
	rm -rf "$dir/cp"
	mkdir -p "$dir/cp"
	local rc=0 before after
	before=$(server_ticks)
	/usr/bin/time -v -o "$dir/time.out" "$@" >"$dir/last.out" 2>&1 || rc=$?
	sleep 0.5 # the listeners reap their connections' processes
	after=$(server_ticks)
	local rss
	last_wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$dir/time.out" |
		awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
	rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "$dir/time.out")
	# client (the command and the children it waited for) + servers
	last_cpu=$(awk -F': ' -v srv=$((after - before)) -v hz="$(getconf CLK_TCK)" \
		'/User time|System time/ { c += $2 } END { printf "%.2f", c + srv / hz }' "$dir/time.out")
	printf '%-52s %10.2f %10.2f %12s %6s\n' "$label" "$last_wall" "$last_cpu" "$rss" "$rc"
	if [ "$rc" != 0 ]; then sed 's/^/      | /' "$dir/last.out" | head -5; fi
	# Ansible keeps ControlPersist masters; end them so the next row starts cold.
	for sock in "$dir"/cp/*; do
		[ -S "$sock" ] && ssh -o ControlPath="$sock" -O exit bench >/dev/null 2>&1 || true
	done
}

median() { # VALUES... -> their median
	printf '%s\n' "$@" | sort -g |
		awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

salve_config() { # NAME ENGINE FORKS
	cat >"$dir/$1.yaml" <<EOF
audit: $dir/audit-$1.jsonl
audit_sync: none
state_dir: $dir/state
plugins:
  ssh-patch:
    inventory: $dir/inventory.yaml
    known_hosts: $dir/known_hosts
    private_key_file: $dir/id_ed25519
    agent: false
    engine: $2
    forks: $3
EOF
}

fleet() { # N: start N sshd; write the inventories, configurations and runbooks for them
	local n=$1
	dir=$(mktemp -d /tmp/salve-bench.XXXXXX)
	echo "== starting $n sshd on 127.0.0.1"
	SALVE_FIXTURE_PARENT=$$ bash "$fixture" start "$dir" "$n" --no-apt >/dev/null
	# shellcheck disable=SC1091
	. "$dir/env"
	read -r -a ports <<<"$FIX_PORTS"
	# One inventory for salve and Ansible; a host list for parallel-ssh.
	{
		echo "all:"
		echo "  vars:"
		echo "    ansible_user: root"
		echo "    ansible_host: 127.0.0.1"
		echo "    ansible_ssh_private_key_file: $dir/id_ed25519"
		echo "    ansible_python_interpreter: /usr/bin/python3"
		echo "  hosts:"
		for ((i = 0; i < n; i++)); do echo "    b$i: {ansible_port: ${ports[$i]}}"; done
	} >"$dir/inventory.yaml"
	for p in "${ports[@]}"; do echo "root@127.0.0.1:$p"; done >"$dir/pssh-hosts"
	mkdir -p "$dir/files" "$dir/state"
	salve_config poll50 poll 50
	salve_config threads50 threads 50
	salve_config pollN poll "$n"
	salve_config threadsN threads "$n"

	cat >"$dir/exec.lua" <<'EOF'
runbook { name = "bench-exec", description = "exec true on every host" }
local ssh = plugin "ssh-patch"
step "exec" { run = function(p) return ssh.exec{ hosts = "all", argv = { "true" } } end }
EOF
	cat >"$dir/line.lua" <<EOF
runbook { name = "bench-line", description = "ensure_line twice: a change, then nothing" }
local ssh = plugin "ssh-patch"
local args = { hosts = "all", path = "$dir/files/salve-{host}.conf", line = "salve_bench=1",
               create = true }
step "first" { run = function(p) return ssh.ensure_line(args) end }
step "second" { run = function(p) return ssh.ensure_line(args) end }
EOF
	cat >"$dir/line.yml" <<EOF
- hosts: all
  gather_facts: false
  tasks:
    - name: first
      lineinfile: {path: "$dir/files/ansible-{{ inventory_hostname }}.conf", line: "salve_bench=1", create: true}
    - name: second
      lineinfile: {path: "$dir/files/ansible-{{ inventory_hostname }}.conf", line: "salve_bench=1", create: true}
EOF

	ssh_opts=(-i "$dir/id_ed25519" -o BatchMode=yes -o UserKnownHostsFile="$dir/known_hosts"
		-o StrictHostKeyChecking=yes -o ControlMaster=no -o LogLevel=ERROR)
	export ANSIBLE_HOST_KEY_CHECKING=True
	export ANSIBLE_SSH_ARGS="-o UserKnownHostsFile=$dir/known_hosts -o ControlMaster=auto -o ControlPersist=60s"
	export ANSIBLE_CONTROL_PATH_DIR="$dir/cp"
	export ANSIBLE_LOCAL_TEMP="$dir/ansible-tmp"
	export ANSIBLE_DEPRECATION_WARNINGS=False

	# shell one-liner for the tools without a line-editing module: the same edit, twice
	line_sh="f=$dir/files/sh-\$(echo \$SSH_CONNECTION | cut -d' ' -f4).conf; for i in 1 2; do grep -qx salve_bench=1 \"\$f\" 2>/dev/null || echo salve_bench=1 >>\"\$f\"; done"

	# N ssh processes at once, each to its own server.
	cat >"$dir/plain.sh" <<EOF
#!/bin/bash
pids=()
for p in ${ports[*]}; do
	ssh ${ssh_opts[*]} -p "\$p" root@127.0.0.1 "\$@" &
	pids+=(\$!)
done
rc=0
for pid in "\${pids[@]}"; do wait "\$pid" || rc=1; done
exit \$rc
EOF
	chmod +x "$dir/plain.sh"
}

rule() { printf '%s\n' "-----------------------------------------------------------------------------------------------"; }

peers() { # N: salve, Ansible, parallel-ssh and plain ssh side by side
	local n=$1 pp="--plugin-path $build/plugins"
	measure "salve exec true (poll, forks 50)" "$salve" --config "$dir/poll50.yaml" $pp run -q "$dir/exec.lua"
	measure "salve exec true (threads, forks 50)" "$salve" --config "$dir/threads50.yaml" $pp run -q "$dir/exec.lua"
	if [ "$n" -gt 50 ]; then
		measure "salve exec true (poll, forks $n)" "$salve" --config "$dir/pollN.yaml" $pp run -q "$dir/exec.lua"
		measure "salve exec true (threads, forks $n)" "$salve" --config "$dir/threadsN.yaml" $pp run -q "$dir/exec.lua"
	fi
	measure "ansible -m command -a true (forks 5, default)" ansible all -i "$dir/inventory.yaml" -m command -a true
	measure "ansible -m command -a true (forks $n)" ansible all -i "$dir/inventory.yaml" -f "$n" -m command -a true
	measure "parallel-ssh true (-p $n)" parallel-ssh -h "$dir/pssh-hosts" -p "$n" -t 60 \
		-x "-i $dir/id_ed25519 -o UserKnownHostsFile=$dir/known_hosts -o StrictHostKeyChecking=yes" true
	measure "$n parallel ssh processes: true" "$dir/plain.sh" true
	rule
	rm -f "$dir"/files/salve-*
	measure "salve ensure_line x2 (poll, forks 50)" "$salve" --config "$dir/poll50.yaml" $pp run -q "$dir/line.lua"
	rm -f "$dir"/files/salve-*
	measure "salve ensure_line x2 (threads, forks 50)" "$salve" --config "$dir/threads50.yaml" $pp run -q "$dir/line.lua"
	measure "ansible-playbook lineinfile x2 (forks 5, default)" ansible-playbook -i "$dir/inventory.yaml" "$dir/line.yml"
	rm -f "$dir"/files/ansible-*
	measure "ansible-playbook lineinfile x2 (forks $n)" ansible-playbook -i "$dir/inventory.yaml" -f "$n" "$dir/line.yml"
	rm -f "$dir"/files/sh-*
	measure "parallel-ssh grep||echo x2 (-p $n)" parallel-ssh -h "$dir/pssh-hosts" -p "$n" -t 60 \
		-x "-i $dir/id_ed25519 -o UserKnownHostsFile=$dir/known_hosts -o StrictHostKeyChecking=yes" "$line_sh"
	rule
}

# The idempotent edit compared in the same run: ensure_line applied twice (forks N) against N
# plain ssh processes doing a grep-or-append twice, alternating, from fresh files each time.
compare_edits() { # N
	local n=$1 pp="--plugin-path $build/plugins" r s p
	local salve_walls=() ssh_walls=() salve_cpus=() ssh_cpus=()
	if [ "$edits_only" = 1 ]; then # what one connection and one command cost, for scale
		measure "salve exec true (poll, forks $n)" "$salve" --config "$dir/pollN.yaml" $pp run -q "$dir/exec.lua"
		measure "$n parallel ssh processes: true" "$dir/plain.sh" true
	fi
	for ((r = 1; r <= repeat; r++)); do
		rm -f "$dir"/files/salve-*
		measure "salve ensure_line x2 (poll, forks $n) #$r" "$salve" --config "$dir/pollN.yaml" $pp run -q "$dir/line.lua"
		salve_walls+=("$last_wall")
		salve_cpus+=("$last_cpu")
		rm -f "$dir"/files/sh-*
		measure "$n parallel ssh processes: grep||echo x2 #$r" "$dir/plain.sh" "$line_sh"
		ssh_walls+=("$last_wall")
		ssh_cpus+=("$last_cpu")
	done
	# Both did the same work: N files each, every one with the line exactly once.
	echo "files: salve $(ls "$dir"/files/salve-* | wc -l), ssh $(ls "$dir"/files/sh-* | wc -l);" \
		"without the line exactly once: $(grep -cx salve_bench=1 "$dir"/files/salve-* \
			"$dir"/files/sh-* | awk -F: '$NF != 1' | wc -l)"
	s=$(median "${salve_walls[@]}")
	p=$(median "${ssh_walls[@]}")
	printf 'idempotent edit, %d hosts, median of %d: ssh-patch.ensure_line x2 %.2f s, %d plain ssh grep||echo x2 %.2f s, ratio %.2fx\n' \
		"$n" "$repeat" "$s" "$n" "$p" "$(awk -v s="$s" -v p="$p" 'BEGIN { print s / p }')"
	s=$(median "${salve_cpus[@]}")
	p=$(median "${ssh_cpus[@]}")
	printf '  CPU, clients and servers: ssh-patch.ensure_line x2 %.2f s, %d plain ssh %.2f s, ratio %.2fx\n' \
		"$s" "$n" "$p" "$(awk -v s="$s" -v p="$p" 'BEGIN { print s / p }')"
}

for n in "$@"; do
	fleet "$n"
	printf '\n%-52s %10s %10s %12s %6s\n' "run ($n hosts)" "wall (s)" "CPU (s)" "peak RSS (MB)" "exit"
	rule
	if [ "$edits_only" = 0 ]; then
		peers "$n"
	fi
	compare_edits "$n"
	cleanup
done
