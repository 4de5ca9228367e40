#!/usr/bin/env bash
# The README's first command: installs what salve needs (Debian 12), builds it, and runs the
# main job -- the embedded host-check runbook against this very machine, as a dry-run (it
# reads disk, memory and load, and shows the config change it would make without making it).
# Then it verifies the audit log it wrote.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash .ci/install-deps
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSALVE_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
state=${SALVE_STATE_DIR:-$root/build/state}
audit=$state/audit.jsonl
./build/salve --state-dir "$state" --audit "$audit" run --dry-run builtin:host-check "$@"
./build/salve audit verify "$audit"
echo "Run it for real (writes /etc/salve/host-check.conf, undoable): ./build/salve run builtin:host-check"
