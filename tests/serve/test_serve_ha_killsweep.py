#!/usr/bin/env python3
"""salve run with ha: killed at every point, not one (issue 14): strace kills `salve run` of a
two-change runbook on cron host a at its n-th etcd request (sendto), then at its n-th
pwrite64 (the audit head, the journal) and its n-th write (audit records, journal records,
the changes themselves), for every n the run makes. Then
cron host b runs on the same lock (waiting for host a's lease to lapse) and must take over
whatever host a left in etcd. After each kill:
  - host b's run exits 0 and the targets hold either nothing of host a's run (rolled back or
    never applied) or all of it (host a's run had finished), never half;
  - or it exits 2 saying the rollback needs a human, because a step's apply landed (its check
    holds) but its undo record never reached etcd, and the change is left in place (never
    guessed);
  - etcd holds nothing of host a's run afterwards (after `salve recover --resolve` in the
    second case), and both audit logs verify."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import serve_lib
from serve_lib import Checks, alert, spawn, tmpdir, wait_for
from test_serve_ha import all_finished, start_cluster
from test_serve_ha_takeover import cron_config, etcd_keys, replica

T = Checks()
STRACE = shutil.which("strace")
PREFIX = "/salve-sweep"
TTL = 2
RUNBOOK = os.path.join(serve_lib.RUNBOOKS, "ha-sweep.lua")


def env():
    e = dict(os.environ)
    e.pop("SALVE_PLUGIN_PATH", None)
    # LeakSanitizer cannot run under ptrace, and a killed process leaks by definition.
    e["ASAN_OPTIONS"] = (e.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
    return e


def calls(ca, syscall):
    """How many times one whole run makes syscall (strace -c)."""
    out = os.path.join(os.path.dirname(ca), "count.txt")
    subprocess.run([STRACE, "-f", "-qq", "-c", "-o", out, "-e", "trace=" + syscall,
                    serve_lib.SALVE, "--config", ca, "run", "-q", "-p", "key=count", RUNBOOK],
                   capture_output=True, timeout=60, env=env())
    with open(out) as f:
        for line in f:
            parts = line.split()
            if parts and parts[-1] == syscall:
                return int(parts[3])
    return 0


def sweep(etcd, syscall, step, kit, ca, cb, ha, hb):
    n_calls = calls(ca, syscall)
    T.ok(n_calls > 0, "a whole run makes %d %s calls" % (n_calls, syscall))
    kv = lambda k: (open(os.path.join(kit, "kv", k)).read()
                    if os.path.exists(os.path.join(kit, "kv", k)) else None)
    bad, humans, finished, undone = [], 0, 0, 0
    for n in range(1, n_calls + 1, step):
        key = "%s-%d" % (syscall, n)
        subprocess.run([STRACE, "-f", "-qq", "-o", "/dev/null", "-e", "trace=" + syscall,
                        "-e", "inject=%s:signal=SIGKILL:when=%d" % (syscall, n),
                        serve_lib.SALVE, "--config", ca, "run", "-q", "-p", "key=" + key,
                        RUNBOOK], capture_output=True, timeout=60, env=env())
        left = (kv(key), kv(key + "-2"))
        nxt = subprocess.run([serve_lib.SALVE, "--config", cb, "run", "-p", "key=" + key,
                              "--lock-timeout", "30s", os.path.join(serve_lib.RUNBOOKS,
                                                                    "ha-look.lua")],
                             capture_output=True, text=True, timeout=90, env=env())
        out = nxt.stdout + nxt.stderr
        now = (kv(key), kv(key + "-2"))
        if nxt.returncode == 0:
            if now == ("1", "2"):
                finished += 1
            elif now == (None, None):
                undone += left != (None, None)
            else:
                bad.append((n, "half a run left in place", left, now, out))
        elif nxt.returncode == 2 and "needs a human" in out:
            humans += 1
            if "undo record was never written" not in out or now == (None, None):
                bad.append((n, "a human, but not for an apply without its undo record", left,
                            now, out))
            dead = [r["run"] for r in audit(hb) if r.get("event") == "run_takeover"][-1:]
            res = subprocess.run([serve_lib.SALVE, "--config", cb, "recover", "--resolve",
                                  dead[0] if dead else "none", "--note", "sweep"],
                                 capture_output=True, text=True, timeout=60, env=env())
            if res.returncode != 0:
                bad.append((n, "recover --resolve failed", res.stdout + res.stderr))
        else:
            bad.append((n, "next run exit %d" % nxt.returncode, left, now, out))
        killed = [r["run"] for r in audit(ha) if r.get("event") == "run_start" and
                  r.get("params", {}).get("key") == key]
        code, keys = etcd.ctl("get", PREFIX + "/", "--prefix", "--keys-only")
        held = [k for k in keys.splitlines() if k == "%s/locks/sweep/%s" % (PREFIX, key) or
                any("/runs/%s/" % r in k for r in killed)]
        if held:
            bad.append((n, "left in etcd", held))
    print("# %s: %d points: %d finished before the kill, %d rolled back by the taker, %d "
          "for a human" % (syscall, len(range(1, n_calls + 1, step)), finished, undone, humans),
          flush=True)
    T.ok(not bad, "killed at each %s: never half a run left in place, never a guess" % syscall,
         bad[:3])


def traced(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            return any(line.startswith("TracerPid:") and line.split()[1] != "0" for line in f)
    except OSError:
        return False


def sweep_serve(etcd, points):
    """salve serve with ha: killed at its n-th etcd request after it started (strace attached
    to every thread: the alert's claim, the run's lock, journal and end, and the watcher's and
    takeover's own requests in between), while it takes one alert and runs it; restarted; the
    alert posted again, as Alertmanager repeats it. The change is whole or absent (or the
    replica says a human must look: killed while a step without a check applied), the
    occurrence ran to its end at most once, and etcd keeps nothing of the run (once the
    human case is resolved)."""
    kit = tmpdir("salve-sweep-serve-kit-")
    os.makedirs(os.path.join(kit, "kv"), exist_ok=True)
    a = replica(etcd, "sw", kit)
    kv = lambda k: (open(os.path.join(kit, "kv", k)).read()
                    if os.path.exists(os.path.join(kit, "kv", k)) else None)
    bad, killed, whole, undone, humans = [], 0, 0, 0, 0
    for n in range(1, points + 1):
        key = "serve-%d" % n
        a.start()
        tracer = spawn([STRACE, "-f", "-qq", "-o", "/dev/null", "-e", "trace=sendto", "-e",
                        "inject=sendto:signal=SIGKILL:when=%d" % n, "-p", str(a.proc.pid)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for("strace to attach", lambda: traced(a.proc.pid), timeout=10)
        al = alert("Slow", {"key": key, "pause": "0"})
        try:
            a.post_alerts([al])
        except OSError:
            pass  # killed while answering
        died = wait_for("the kill or the run's end", lambda: a.proc.poll() is not None or
                        all_finished(a), timeout=20)
        if a.proc.poll() is None:
            tracer.send_signal(signal.SIGINT)  # detaches: the point was past this alert
            tracer.wait(timeout=10)
            a.stop()
        else:
            killed += 1
            tracer.wait(timeout=10)
            a.err.close()
            a.start()
            try:
                a.post_alerts([al])  # Alertmanager's repeat
            except OSError as e:
                bad.append((n, "the restarted replica refused the repeat", str(e)))
            # The killed process's lease lapses (TTL 3 s), then the restarted replica's
            # takeover finds the run an orphan and rolls it back, as a peer's would.
            wait_for("the runs to finish and the dead run to be taken over", lambda:
                     all_finished(a) and not etcd_keys(etcd, "/salve-takeover/runs/"),
                     timeout=30)
            a.stop()
        runs = [x["run"] for x in a.audit_records() if x.get("event") == "run_start" and
                x.get("params", {}).get("key") == key]
        parked = [x["run"] for x in a.audit_records() if x.get("event") == "recover_end" and
                  x.get("outcome") == "rollback_incomplete" and x.get("run") in runs]
        state = (kv(key), kv(key + "-after"))
        if parked:
            # Killed while a step without a check applied: its rollback needs a human, and
            # etcd keeps the run (parked) until one resolves it.
            humans += 1
            res = subprocess.run([serve_lib.SALVE, "--config", a.config, "recover",
                                  "--resolve", parked[0], "--note", "sweep"],
                                 capture_output=True, text=True, timeout=60, env=env())
            if res.returncode != 0:
                bad.append((n, "recover --resolve failed", res.stdout + res.stderr))
        elif state not in (("changed", "1"), (None, None)):
            bad.append((n, "half a run left", state))
        whole += state == ("changed", "1")
        undone += state == (None, None)
        ends = [r for r in a.audit_records() if r.get("event") == "run_end" and
                r.get("outcome") == "success" and r["run"] in runs]
        if len(ends) > 1:
            bad.append((n, "the occurrence ran to its end %d times" % len(ends)))
        # A lock whose run left nothing else in etcd (killed after taking it, before its
        # first record) is free for the next run by design; anything of a run is not.
        left = etcd_keys(etcd, "/salve-takeover/runs/")
        if left:
            bad.append((n, "left in etcd", left))
        if not died:
            bad.append((n, "neither killed nor finished in 20 s"))
    print("# serve: %d points: killed at %d (the others came after the alert's requests), "
          "the change whole after %d, absent after %d, for a human %d"
          % (points, killed, whole, undone, humans), flush=True)
    T.ok(killed > 0 and not bad, "salve serve killed at each etcd request in turn: never half "
         "a run, never twice, etcd left clean", bad[:3])
    v = subprocess.run([serve_lib.SALVE, "audit", "verify", os.path.join(a.dir, "audit.jsonl")],
                       capture_output=True, text=True, timeout=60, env=env())
    T.ok(v.returncode == 0, "salve audit verify (the replica's log)", v.stdout + v.stderr)


def audit(d):
    with open(os.path.join(d, "audit.jsonl")) as f:
        return [json.loads(l) for l in f if l.strip()]


def main():
    if not STRACE:
        print("not ok - strace is needed (tests/plugins/serve/apt-packages)")
        return 1
    etcd = start_cluster(T)
    if not etcd:
        return T.finish() or 1
    kit = tmpdir("salve-sweep-kit-")
    ha, hb = tmpdir("salve-sweep-a-"), tmpdir("salve-sweep-b-")
    ca, cb = (cron_config(etcd, ha, "sweep-a", kit, PREFIX, TTL),
              cron_config(etcd, hb, "sweep-b", kit, PREFIX, TTL))
    sweep(etcd, "sendto", 1, kit, ca, cb, ha, hb)
    sweep(etcd, "pwrite64", 1, kit, ca, cb, ha, hb)
    sweep(etcd, "write", 1, kit, ca, cb, ha, hb)
    sweep_serve(etcd, 10)
    for d in (ha, hb):
        v = subprocess.run([serve_lib.SALVE, "audit", "verify", os.path.join(d, "audit.jsonl")],
                           capture_output=True, text=True, timeout=60, env=env())
        T.ok(v.returncode == 0, "salve audit verify %s" % os.path.basename(d), v.stdout + v.stderr)
    return T.finish()


if __name__ == "__main__":
    raise SystemExit(main())
