#!/usr/bin/env bash
# The README's first command: installs what salve needs (Debian 12), builds it, and runs the
# main job -- the embedded weekly patch runbook as a dry-run patch check of this very machine
# (ssh-patch's local connection): it lists every package update waiting, with the versions it
# would go from and to, and changes nothing. Then it verifies the audit log it wrote.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash .ci/install-deps
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSALVE_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
state=${SALVE_STATE_DIR:-$root/build/state}
audit=$state/audit.jsonl
./build/salve --state-dir "$state" --audit "$audit" run --dry-run -p hosts=localhost \
	builtin:patch-hosts "$@"
./build/salve audit verify "$audit"
echo "Also built in: builtin:host-check (disk, memory, load, a marker config line)."
echo "Patch for real, in rolling batches with rollback: ./build/salve run -p hosts=localhost builtin:patch-hosts"
