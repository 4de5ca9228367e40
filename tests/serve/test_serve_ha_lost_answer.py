#!/usr/bin/env python3
"""etcd applies a write and its answer is lost (etcd_lost_answer.py, a proxy in front of one
member, holds the answer past the client's timeout; the client then sends the same request
to another member, which finds the write already there). salve's writes must recognise
their own (issue 14: "a write that timed out may still have been applied"):
  - the transaction that takes a run's lock: the run starts, instead of waiting for itself;
  - the transaction that adopts a dead run: the run is taken over and rolled back, instead
    of being owned on this process's lease by nobody;
  - the first mutation of a run without a lock (its owner key with its journal): the run
    goes on, instead of failing and leaving its journal in etcd."""
import os
import signal
import subprocess
import sys
import time

import serve_lib
from serve_lib import Checks, free_port, spawn, tmpdir, wait_for
from test_serve_ha import start_cluster
from test_serve_ha_takeover import audit_of, cron_config, etcd_keys, replica, sleeps

T = Checks()
PREFIX = "/salve-lost"
HERE = os.path.dirname(os.path.abspath(__file__))


def env():
    e = dict(os.environ)
    e.pop("SALVE_PLUGIN_PATH", None)
    return e


class Proxy:
    def __init__(self, etcd, match, blackout=0):
        self.port = free_port()
        self.log = os.path.join(tmpdir("salve-lost-proxy-"), "proxy.log")
        self.proc = spawn([sys.executable, os.path.join(HERE, "etcd_lost_answer.py"),
                           str(self.port), etcd.endpoints()[0], match, str(blackout)],
                          stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        self.url = "http://127.0.0.1:%d" % self.port
        import socket

        def up():
            with socket.socket() as sk:
                return sk.connect_ex(("127.0.0.1", self.port)) == 0
        wait_for("the proxy to listen", up, timeout=10)

    def lost(self):
        with open(self.log) as f:
            return "lost the answer" in f.read()

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=10)


def lossy_config(etcd, name, kit, proxy):
    d = tmpdir("salve-lost-%s-" % name)
    # The proxy first: it answers everything else, so the client keeps asking it until
    # the one answer it loses.
    return d, cron_config(etcd, d, name, kit, PREFIX, 3,
                          endpoints=[proxy.url] + etcd.endpoints()[1:], timeout="1s")


def run(config, runbook, *params, timeout=90):
    argv = [serve_lib.SALVE, "--config", config, "run"]
    for p in params:
        argv += ["-p", p]
    argv += ["--lock-timeout", "30s", os.path.join(serve_lib.RUNBOOKS, runbook)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env())


def clean(etcd):
    return wait_for("etcd to hold no run and no lock",
                    lambda: not etcd_keys(etcd, PREFIX + "/runs/") and
                    not etcd_keys(etcd, PREFIX + "/locks/"), timeout=15)


def test_take(etcd, kit):
    proxy = Proxy(etcd, "/locks/kv/lost-lock")
    try:
        d, cfg = lossy_config(etcd, "take", kit, proxy)
        r = run(cfg, "ha-slow.lua", "key=lost-lock", "pause=0")
        T.ok(proxy.lost(), "the answer of the transaction taking the lock was lost")
        kv = lambda k: open(os.path.join(kit, "kv", k)).read() \
            if os.path.exists(os.path.join(kit, "kv", k)) else None
        T.ok(r.returncode == 0 and "is held by" not in r.stdout + r.stderr and
             (kv("lost-lock"), kv("lost-lock-after")) == ("changed", "1"),
             "the run finds the lock its own and runs (never waits for itself)",
             (r.returncode, r.stdout, r.stderr))
        T.ok(clean(etcd), "and leaves etcd clean", etcd_keys(etcd, PREFIX))
    finally:
        proxy.stop()


def dead_cron_run(etcd, kit, key):
    """A cron run with ha: that changed its target and was killed: its run id."""
    da = tmpdir("salve-lost-dead-")
    ca = cron_config(etcd, da, "dead", kit, PREFIX, 3)
    base = sleeps(kit)
    killed = spawn([serve_lib.SALVE, "--config", ca, "run", "-p", "key=" + key, "-p",
                    "pause=30", os.path.join(serve_lib.RUNBOOKS, "ha-slow.lua")],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env())
    T.ok(wait_for("the run to sleep", lambda: sleeps(kit) > base, timeout=20),
         "a cron run changed its target and sleeps")
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=10)
    return [x for x in audit_of(da) if x.get("event") == "run_start"][-1]["run"]


def test_adopt(etcd, kit):
    dead = dead_cron_run(etcd, kit, "lost-adopt")
    proxy = Proxy(etcd, "/runs/%s/owner" % dead)
    try:
        d, cfg = lossy_config(etcd, "adopt", kit, proxy)
        r = run(cfg, "ha-slow.lua", "key=lost-adopt", "pause=0")
        T.ok(proxy.lost(), "the answer of the transaction adopting the dead run was lost")
        took = [x for x in audit_of(d) if x.get("event") == "run_takeover" and
                x.get("run") == dead]
        T.ok(r.returncode == 0 and len(took) == 1 and "undid testkit.set" in r.stdout,
             "the next run takes the dead run over, rolls it back, then runs",
             (r.returncode, r.stdout, r.stderr))
        T.ok(clean(etcd), "and leaves etcd clean", etcd_keys(etcd, PREFIX))
    finally:
        proxy.stop()


def test_stranded_adoption(etcd, kit):
    """A serve replica's takeover adopts a dead run, the answer is lost and nothing answers
    for 3 s more (its only route to etcd is the proxy): it cannot tell whether it owns the
    run. It gives the owner key back once etcd answers (the key held its value), and takes
    the run over then, instead of holding it on its lease until it stops."""
    dead = dead_cron_run(etcd, kit, "lost-strand")
    proxy = Proxy(etcd, "/runs/%s/owner" % dead, blackout=3)
    s = None
    try:
        s = replica(etcd, "strand", kit, prefix=PREFIX, ttl=10, endpoints=[proxy.url],
                    timeout="1s").start()
        T.ok(wait_for("the adoption's answer to be lost", proxy.lost, timeout=30),
             "the answer of the replica's adoption of the dead run was lost")
        took = wait_for("the takeover", lambda: [
            x for x in s.audit_records() if x.get("event") == "run_takeover" and
            x.get("run") == dead], timeout=40)
        T.ok(took and len(took) == 1, "the replica takes the run over once etcd answers again "
             "(its lease of 10 s is kept alive all along)", s.stderr()[-2000:])
        # run_takeover is audited as the takeover starts; the rollback follows it.
        T.ok(wait_for("the rollback", lambda: not os.path.exists(
            os.path.join(kit, "kv", "lost-strand")), timeout=20),
             "the dead run's change is rolled back")
        T.ok(clean(etcd), "and etcd is left clean", etcd_keys(etcd, PREFIX))
    finally:
        if s:
            s.stop()
        proxy.stop()


def test_first_mutation(etcd, kit):
    proxy = Proxy(etcd, "/owner")
    try:
        d, cfg = lossy_config(etcd, "own", kit, proxy)
        r = run(cfg, "ha-nolock.lua", "key=lost-own")
        T.ok(proxy.lost(), "the answer of the run's first mutation (its owner key) was lost")
        T.ok(r.returncode == 0 and os.path.exists(os.path.join(kit, "kv", "lost-own")),
             "the run knows the write its own and goes on", (r.returncode, r.stdout, r.stderr))
        T.ok(clean(etcd), "and leaves etcd clean", etcd_keys(etcd, PREFIX))
    finally:
        proxy.stop()


def main():
    etcd = start_cluster(T)
    if not etcd:
        return T.finish() or 1
    kit = tmpdir("salve-lost-kit-")
    os.makedirs(os.path.join(kit, "kv"), exist_ok=True)
    test_take(etcd, kit)
    test_adopt(etcd, kit)
    test_first_mutation(etcd, kit)
    test_stranded_adoption(etcd, kit)
    return T.finish()


if __name__ == "__main__":
    raise SystemExit(main())
