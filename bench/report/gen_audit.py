#!/usr/bin/env python3
"""Writes a synthetic salve audit log of N records (default 1,000,000) with a valid hash
chain and head, shaped like salve serve's: an alert queued, a run of a few steps, its
actions, sometimes a failure and rollback, sometimes a drill, and the resolved alert.

Usage: gen_audit.py OUT.jsonl [N]   (writes OUT.jsonl and OUT.jsonl.head)
Deterministic (fixed seed), so runs compare."""
import hashlib
import json
import random
import sys
import time

out = sys.argv[1]
total = int(sys.argv[2]) if len(sys.argv) > 2 else 1000000
rng = random.Random(15)
RUNBOOKS = ["restart-service", "clear-disk", "rotate-certs", "scale-up", "flush-cache",
            "kv-set", "patch-hosts", "failover-db"]
ALERTS = ["HighLatency", "DiskFull", "CertExpiring", "CPUHigh", "CacheMiss", "NodeDown"]
FPS = ["%016x" % rng.getrandbits(64) for _ in range(400)]

seq = 0
prev = "0" * 64
t = time.time() - 25 * 86400  # the log spans the last ~25 days


def iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".%03dZ" % int((ts % 1) * 1000)


def write(f, rec):
    global seq, prev, t
    seq += 1
    full = {"seq": seq, "ts": iso(t)}
    full.update(rec)
    full["prev"] = prev
    line = json.dumps(full, separators=(",", ":"))
    f.write(line + "\n")
    prev = hashlib.sha256(line.encode()).hexdigest()


with open(out, "w") as f:
    while seq < total:
        t += rng.uniform(5, 60)
        rb = rng.choice(RUNBOOKS)
        an = rng.choice(ALERTS)
        fp = rng.choice(FPS)
        run = "%032x" % rng.getrandbits(128)
        starts = t - rng.uniform(30, 300)
        labels = {"alertname": an, "severity": "critical", "instance": "host%d:9100" % rng.randrange(50)}
        drill = rng.random() < 0.05
        if not drill:
            write(f, {"event": "alert", "hook": "alertmanager", "status": "firing", "fingerprint": fp,
                      "starts_at": iso(starts), "labels": labels, "route": rb, "decision": "queued",
                      "run": run, "runbook": rb, "params": {"instance": labels["instance"]}})
        common = {"mode": "dry-run" if drill and rng.random() < 0.5 else "apply",
                  "trigger": "cli" if drill else "alert:" + fp}
        fail_at = None
        if drill and common["mode"] == "apply":
            fail_at = "step2"
            common["drill"] = True
        t += rng.uniform(0.05, 2)
        write(f, dict({"run": run, "runbook": rb, "event": "run_start", "source": "/etc/salve/%s.lua" % rb,
                       "params": {"instance": labels["instance"]}, "steps": 3, "fail_at": fail_at}, **common))
        failing = fail_at or (rng.random() < 0.12 and rng.choice(["step1", "step2", "step3"]))
        done = []
        outcome = "success"
        for i, step in enumerate(["step1", "step2", "step3"]):
            t += rng.uniform(0.01, 3)
            write(f, dict({"run": run, "runbook": rb, "event": "step_start", "step": step, "index": i + 1, "line": 4 + i}, **common))
            act = "changed" if common["mode"] == "apply" else "planned"
            fail = step == failing
            write(f, dict({"run": run, "runbook": rb, "event": "action", "step": step, "phase": "run", "plugin": "systemd",
                           "action": "restart", "kind": "mutate", "target": labels["instance"],
                           "outcome": "failed" if fail and not fail_at else act, "duration_ms": rng.uniform(5, 900),
                           "args": {"unit": "app.service"}, "status": "SALVE_OK"}, **common))
            write(f, dict({"run": run, "runbook": rb, "event": "step_end", "step": step,
                           "outcome": "failed" if fail else "changed", "duration_ms": rng.uniform(5, 900)},
                          **({"error": "unit failed to start"} if fail else {}), **common))
            if fail:
                outcome = "rolled_back"
                for s in reversed(done):
                    write(f, dict({"run": run, "runbook": rb, "event": "undo", "step": s, "plugin": "systemd",
                                   "action": "restart", "target": labels["instance"], "outcome": "undone"}, **common))
                    write(f, dict({"run": run, "runbook": rb, "event": "step_rollback", "step": s, "outcome": "rolled_back"}, **common))
                break
            done.append(step)
        t += rng.uniform(0.01, 1)
        write(f, dict({"run": run, "runbook": rb, "event": "run_end", "outcome": outcome,
                       "exit_code": 0 if outcome == "success" else 1, "duration_ms": 1234.5}, **common))
        if not drill:
            t += rng.uniform(30, 600)
            write(f, {"event": "alert", "hook": "alertmanager", "status": "resolved", "fingerprint": fp,
                      "starts_at": iso(starts), "labels": labels, "route": rb, "decision": "resolved",
                      "detail": "no queued or waiting run of this alert to cancel"})
with open(out + ".head", "w") as h:
    h.write('{"seq":%20d,"hash":"%s"}\n' % (seq, prev))
print("%s: %d records" % (out, seq))
