#!/usr/bin/env python3
"""Time from kill -9 of the replica holding a run to the start of that run's rollback on
another replica (issue 14's goal: <= lease TTL + 2 s), on a real 3-member etcd on 127.0.0.1
with two salve-serve replicas sharing one target store. Prints figures; asserts nothing.

usage: bench/ha/takeover.py BUILD_DIR [ITERATIONS] [LEASE_TTL_SECONDS]"""
import datetime
import os
import signal
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(ROOT, "build-rel")
os.environ["SALVE_BIN"] = os.path.join(BUILD, "salve")
os.environ["SALVE_TEST_PLUGIN_DIR"] = os.path.join(BUILD, "tests", "testplugins")
sys.path.insert(0, os.path.join(ROOT, "tests", "serve"))

import serve_lib  # noqa: E402
from serve_lib import alert, wait_for  # noqa: E402
from test_serve_ha import Etcd  # noqa: E402
from test_serve_ha_takeover import records, replica, run_of, sleeps  # noqa: E402
import test_serve_ha_takeover  # noqa: E402


def main():
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    ttl = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    test_serve_ha_takeover.TTL = ttl
    etcd = Etcd()
    if not etcd.wait_healthy():
        print("etcd did not come up")
        return 1
    kit = serve_lib.tmpdir("salve-bench-kit-")
    os.makedirs(os.path.join(kit, "kv"))
    a = replica(etcd, "a", kit).start()
    b = replica(etcd, "b", kit).start()
    takeover, restored = [], []
    try:
        for i in range(n):
            key = "bench-%d" % i
            holder, other = (a, b) if i % 2 == 0 else (b, a)
            base = sleeps(kit)
            holder.post_alerts([alert("Slow", {"key": key, "pause": "600"})])
            if not wait_for("the run to change its target and sleep",
                            lambda: sleeps(kit) > base, timeout=30):
                print("iteration %d: the run never started" % i)
                continue
            run = run_of(holder, key)
            holder.proc.send_signal(signal.SIGKILL)
            holder.proc.wait(timeout=10)
            t0 = time.time()
            wait_for("the rollback to start", lambda: records(other, "recover_start", run=run),
                     timeout=ttl * 4, interval=0.02)
            start = records(other, "recover_start", run=run)
            wait_for("the target to be restored", lambda: holder.kv(key) is None,
                     timeout=ttl * 4, interval=0.02)
            t_restored = time.time()
            if start:
                started = datetime.datetime.fromisoformat(
                    start[0]["ts"].replace("Z", "+00:00")).timestamp()
                takeover.append(started - t0)
                restored.append(t_restored - t0)
                print("  kill -9 of %s: rollback started on %s after %.2f s, target restored "
                      "after %.2f s" % ("a" if holder is a else "b", "b" if holder is a else "a",
                                        started - t0, t_restored - t0))
            holder.start()
    finally:
        a.stop()
        b.stop()
        serve_lib.cleanup()
    if takeover:
        print("== takeover (lease_ttl %d s, %d kills): kill -9 -> rollback start on the other "
              "replica: median %.2f s, max %.2f s; -> target restored: median %.2f s, max "
              "%.2f s; goal <= TTL + 2 s = %d s"
              % (ttl, len(takeover), statistics.median(takeover), max(takeover),
                 statistics.median(restored), max(restored), ttl + 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
