#!/bin/bash
# Starts the real-server fixture, runs the ssh-patch integration test binary against it,
# and always tears it down. Needs root (sshd, apt/dpkg on this machine); skips otherwise.
set -euo pipefail
bin=${1:?test binary}
nsshd=${2:-4}
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ] || [ ! -x /usr/sbin/sshd ] || ! command -v dpkg-deb >/dev/null; then
	echo "skipped: needs root, openssh-server and dpkg-dev"
	exit 77
fi
dir=$(mktemp -d /tmp/salve-ssh-patch.XXXXXX)
cleanup() {
	bash "$here/fixture.sh" stop "$dir" || true
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
SALVE_FIXTURE_PARENT=$$ timeout 60 bash "$here/fixture.sh" start "$dir" "$nsshd"
SP_FIXTURE="$dir" SP_LOCK_HOLDER="$here/lock_holder.py" timeout 200 "$bin"
