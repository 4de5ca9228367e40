#!/usr/bin/env python3
"""Issue 14, takeover and fencing, on a real 3-member etcd cluster (Debian's etcd-server,
127.0.0.1 only) with real salve-serve replicas and real salve run processes sharing one
target store (the testkit plugin's directory stands for the machines they change):

- kill -9 of the replica holding a run mid-step: another replica takes the run over once the
  lease ends and rolls it back (target restored, run_takeover audited naming the dead
  replica, etcd left clean); the killed replica, restarted, finds etcd no longer has the run
  and retires its own journal without undoing anything a second time;
- SIGSTOP of the holder past its lease, then SIGCONT: the other replica owns and rolls back
  the run; the stopped one, woken, is fenced: it ends taken_over and changes nothing more;
- salve run on two cron hosts with ha: the same lock never runs twice at once; a cron run
  killed mid-run is taken over and rolled back by the next run that wants its lock;
- an apply interrupted before its result was journaled: the taker asks the step's check;
- quorum lost while a run is in flight: it starts no more mutations and rolls back locally."""
import json
import os
import signal
import subprocess
import sys
import time

import serve_lib
from serve_lib import Checks, Server, alert, spawn, tmpdir, wait_for
from test_serve_ha import all_finished, post_both, start_cluster

T = Checks()
PREFIX = "/salve-takeover"
# Cron hosts without a serve replica on their prefix: only the next run takes an orphan over.
CRON_PREFIX = "/salve-cron"
TTL = 3

ROUTES = """
  - name: slow
    matchers: ['alertname = "Slow"']
    runbook: ha-slow.lua
    params: {key: "{{ labels.key }}", pause: "{{ labels.pause }}"}
    cooldown: 0s
  - name: nolock
    matchers: ['alertname = "NoLock"']
    runbook: slow.lua
    params: {key: "{{ labels.key }}"}
    cooldown: 0s
"""


def ha_yaml(etcd, replica, prefix=PREFIX, ttl=None, endpoints=None, timeout="2s"):
    # ttl None: the module's TTL when called (bench/ha/takeover.py sets another).
    return ("ha:\n  etcd:\n    endpoints: [%s]\n    timeout: %s\n"
            "  prefix: %s\n  lease_ttl: %ds\n  replica: %s\n"
            % (", ".join(endpoints or etcd.endpoints()), timeout, prefix,
               TTL if ttl is None else ttl, replica))


def replica(etcd, name, kit, **ha):
    """A replica whose testkit store is kit (shared: the targets every replica changes); ha
    as ha_yaml takes it (prefix, ttl, endpoints, timeout)."""
    s = Server("ha-to-" + name, ROUTES, top_yaml=ha_yaml(etcd, name, **ha))
    with open(s.config) as f:
        text = f.read().replace("testkit: {dir: %s}" % s.kit, "testkit: {dir: %s}" % kit)
    with open(s.config, "w") as f:
        f.write(text)
    s.kit = kit
    return s


def sleeps(kit):
    """How many times the testkit's sleep action ran: a run sleeping in its "wait" step has
    journaled its first step's undo record (the kill tests kill it there)."""
    try:
        return os.path.getsize(os.path.join(kit, "calls", "sleep.run"))
    except OSError:
        return 0


def records(srv, event, **match):
    return [r for r in srv.audit_records() if r.get("event") == event and
            all(r.get(k) == v for k, v in match.items())]


def etcd_keys(etcd, prefix):
    code, out = etcd.ctl("get", prefix, "--prefix", "--keys-only")
    return [k for k in out.splitlines() if k.strip()]


def run_of(srv, key):
    for r in records(srv, "run_start"):
        if r.get("params", {}).get("key") == key:
            return r["run"]
    return None


def test_kill_holder(etcd, a, b):
    base = sleeps(a.kit)
    st, body = a.post_alerts([alert("Slow", {"key": "k1", "pause": "6"})])
    T.ok(st == 202, "replica a accepts the alert", body)
    T.ok(wait_for("a's run to sleep", lambda: sleeps(a.kit) > base, timeout=20) and
         a.kv("k1") == "changed", "a's run changed the target and sleeps")
    run = run_of(a, "k1")
    T.ok(any(k.endswith("/runs/%s/owner" % run) for k in etcd_keys(etcd, PREFIX)),
         "etcd holds the run's owner key", etcd_keys(etcd, PREFIX))
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait(timeout=10)
    killed = time.monotonic()
    T.ok(wait_for("replica b to roll the run back", lambda: a.kv("k1") is None, timeout=30),
         "replica b rolled the dead replica's run back: the target is restored")
    print("# kill -9 to target restored: %.1f s (lease TTL %d s)" %
          (time.monotonic() - killed, TTL))
    took = records(b, "run_takeover", run=run)
    T.ok(len(took) == 1 and took[0]["from_replica"] == "a" and took[0]["replica"] == "b" and
         took[0]["found"]["records"] >= 3 and took[0]["found"]["lock"] == "kv/k1",
         "b audited the takeover once: from replica a, what it found", took)
    wait_for("b's recovery to end", lambda: records(b, "recover_end", run=run), timeout=10)
    ends = records(b, "recover_end", run=run)
    T.ok(len(ends) == 1 and ends[0]["outcome"] == "rolled_back", "and its rollback", ends)
    undos = records(b, "undo", run=run)
    T.ok(len(undos) == 1 and undos[0]["outcome"] == "undone" and
         undos[0]["action"] == "set", "one undo, by b", undos)
    T.eq(a.kv("k1-after"), None, "the step after the kill never ran")
    T.ok(wait_for("etcd to be clean",
                  lambda: etcd_keys(etcd, PREFIX + "/runs/") == [] and
                  etcd_keys(etcd, PREFIX + "/locks/") == [], timeout=10),
         "etcd keeps neither the run nor its lock", etcd_keys(etcd, PREFIX))
    # The killed replica restarts: its own journal of the run is still on its disk.
    journal = os.path.join(a.state, "runs", run + ".journal")
    T.ok(os.path.exists(journal), "a's journal of the run survived the kill")
    with open(os.path.join(a.kit, "kv", "k1"), "w") as f:
        f.write("fixed-by-a-later-run")  # what a later run did to the target meanwhile
    a.start()
    T.ok(wait_for("a's journal to be retired", lambda: not os.path.exists(journal), timeout=20),
         "restarted, replica a retires its journal (etcd says the run was recovered elsewhere)")
    T.ok(os.path.exists(os.path.join(a.state, "runs", "resolved", run + ".journal")),
         "kept in runs/resolved for people")
    T.eq(a.kv("k1"), "fixed-by-a-later-run",
         "and undoes nothing a second time (a later change to the target stays)")
    rec = records(a, "recover_end", run=run)
    T.ok(len(rec) == 1 and rec[0]["outcome"] == "finished" and "etcd" in rec[0]["note"],
         "its audit says why", rec)
    os.remove(os.path.join(a.kit, "kv", "k1"))


def test_stop_holder(etcd, a, b):
    base = sleeps(a.kit)
    st, body = a.post_alerts([alert("Slow", {"key": "k2", "pause": "8"})])
    T.ok(st == 202, "replica a accepts the alert", body)
    T.ok(wait_for("a's run to sleep", lambda: sleeps(a.kit) > base, timeout=20) and
         a.kv("k2") == "changed", "a's run changed the target")
    run = run_of(a, "k2")
    a.proc.send_signal(signal.SIGSTOP)
    try:
        T.ok(wait_for("replica b to take the run over", lambda: records(b, "recover_end",
                                                                         run=run), timeout=30),
             "with a stopped past its lease, b takes its run over")
        T.eq(a.kv("k2"), None, "and rolls it back")
    finally:
        a.proc.send_signal(signal.SIGCONT)
    T.ok(wait_for("a's run to end", lambda: records(a, "run_end", run=run), timeout=30),
         "woken, a's run ends")
    end = records(a, "run_end", run=run)
    T.ok(len(end) == 1 and end[0]["outcome"] == "taken_over",
         "fenced: a's run ends taken_over", end)
    T.eq(a.kv("k2-after"), None, "a changed nothing more (its next step never started)")
    T.eq(a.kv("k2"), None, "and did not undo or redo anything b had rolled back")
    T.ok(not os.path.exists(os.path.join(a.state, "runs", run + ".journal")),
         "a's journal of the run is gone: the run is not a's to recover")
    took = records(b, "run_takeover", run=run)
    T.ok(len(took) == 1 and took[0]["fence"] > 0, "b's ownership carries a new fencing "
         "revision", took)
    T.ok(wait_for("etcd to be clean", lambda: etcd_keys(etcd, PREFIX + "/runs/") == [],
                  timeout=10), "etcd is clean", etcd_keys(etcd, PREFIX))


def test_without_lock(etcd, a, b):
    """A run without a lock writes nothing to etcd until its first mutation (a run whose
    checks hold costs etcd nothing), then is owned and taken over like any other."""
    base = sleeps(b.kit)
    st, body = b.post_alerts([alert("NoLock", {"key": "k4"})])
    T.ok(st == 202, "replica b accepts the alert", body)
    T.ok(wait_for("b's run to sleep", lambda: sleeps(b.kit) > base, timeout=20) and
         b.kv("k4") == "changed", "b's run (no lock) changed the target and sleeps")
    run = run_of(b, "k4")
    keys = etcd_keys(etcd, PREFIX + "/runs/" + run + "/")
    T.ok(any(k.endswith("/owner") for k in keys) and
         any("/j/000000000001" in k for k in keys), "its first mutation made it owned in "
         "etcd, its journal from the first record", keys)
    b.proc.send_signal(signal.SIGKILL)
    b.proc.wait(timeout=10)
    T.ok(wait_for("replica a to roll it back", lambda: b.kv("k4") is None, timeout=30),
         "replica a took the run over and rolled it back")
    took = records(a, "run_takeover", run=run)
    T.ok(len(took) == 1 and took[0]["from_replica"] == "b" and took[0]["found"]["lock"] is None,
         "audited by a", took)
    b.start()


def test_leader_frozen(etcd, a, b):
    """The etcd leader stops answering (SIGSTOP) for 5 s while runs are under way and alerts
    keep coming, the same ones to both replicas: the replicas fail over to the other
    members, and every alert answered 202 ran exactly once, to its end or rolled back,
    never half."""
    leader = etcd.leader()
    T.ok(leader is not None, "etcd names its leader", leader)
    if leader is None:
        return
    keys = ["fz%02d" % i for i in range(12)]
    answers = {}

    def post(i):
        al = alert("Slow", {"key": keys[i], "pause": "1"})
        (sa, _), (sb, _) = post_both(a, b, [al])
        answers[keys[i]] = (sa, sb)
    for i in range(4):
        post(i)
    proc = etcd.members[leader]["proc"]
    proc.send_signal(signal.SIGSTOP)
    frozen = time.monotonic()
    try:
        for i in range(4, 12):
            post(i)
            time.sleep(0.3)
        time.sleep(max(0.0, 5 - (time.monotonic() - frozen)))
    finally:
        proc.send_signal(signal.SIGCONT)
    T.ok(etcd.wait_healthy(), "the cluster is whole again")
    T.ok(all(set(v) <= {200, 202, 503} and v.count(202) <= 1 for v in answers.values()),
         "each alert posted to both replicas: at most one 202, the other 200 or 503 (never "
         "two runs, never an error of another kind)", answers)
    T.ok(wait_for("the runs to finish", lambda: all_finished(a, b), timeout=60), "finished")
    bad = []
    for k in keys:
        starts = [r for s in (a, b) for r in records(s, "run_start")
                  if r.get("params", {}).get("key") == k]
        state = (a.kv(k), a.kv(k + "-after"))
        if 202 in answers[k] and len(starts) != 1:
            bad.append((k, "runs", len(starts), [
                {x: r.get(x) for x in ("event", "run", "decision", "reason", "outcome",
                                       "error", "detail")}
                for s in (a, b) for r in s.audit_records()
                if r.get("run") and any(q.get("run") == r.get("run") for q in
                                        s.audit_records() if q.get("event") == "alert" and
                                        q.get("labels", {}).get("key") == k)]))
        if 202 not in answers[k] and starts:
            bad.append((k, "ran without a 202", len(starts)))
        if state not in (("changed", "1"), (None, None)):
            bad.append((k, "half a run", state))
    T.ok(not bad, "every accepted alert ran exactly once, to its end or rolled back", bad)
    T.ok(a.proc.poll() is None and b.proc.poll() is None, "both replicas still serve")
    T.ok(wait_for("etcd to be clean", lambda: etcd_keys(etcd, PREFIX + "/runs/") == [] and
                  etcd_keys(etcd, PREFIX + "/locks/") == [], timeout=20),
         "etcd keeps no run and no lock", etcd_keys(etcd, PREFIX))
    for k in keys:
        for suffix in ("", "-after"):
            try:
                os.remove(os.path.join(a.kit, "kv", k + suffix))
            except FileNotFoundError:
                pass


def cron_config(etcd, d, name, kit, prefix=CRON_PREFIX, ttl=None, **ha):
    """salve.yaml for `salve run` on cron host name: its own state and audit log in d, the
    shared testkit store kit, ha: on prefix (ha: endpoints, timeout of its own)."""
    os.makedirs(os.path.join(d, "state"), exist_ok=True)
    path = os.path.join(d, "salve.yaml")
    with open(path, "w") as f:
        f.write("audit: %s/audit.jsonl\nstate_dir: %s/state\nplugin_path: [%s]\n"
                "plugins:\n  testkit: {dir: %s}\n%s"
                % (d, d, serve_lib.TEST_PLUGINS, kit, ha_yaml(etcd, name, prefix, ttl, **ha)))
    return path


def audit_of(d):
    with open(os.path.join(d, "audit.jsonl")) as f:
        return [json.loads(l) for l in f if l.strip()]


def test_cron_hosts(etcd, kit):
    ha, hb = tmpdir("salve-cron-a-"), tmpdir("salve-cron-b-")
    ca, cb = cron_config(etcd, ha, "cron-a", kit), cron_config(etcd, hb, "cron-b", kit)
    rb = os.path.join(serve_lib.RUNBOOKS, "ha-slow.lua")
    env = dict(os.environ)
    env.pop("SALVE_PLUGIN_PATH", None)
    first = spawn([serve_lib.SALVE, "--config", ca, "run", "-p", "key=cron", "-p", "pause=3",
                   rb], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    T.ok(wait_for("the first cron run to change the target",
                  lambda: os.path.exists(os.path.join(kit, "kv", "cron")), timeout=20),
         "cron host a's run holds the lock")
    second = subprocess.run([serve_lib.SALVE, "--config", cb, "run", "-p", "key=cron", "-p",
                             "pause=0", rb], capture_output=True, text=True, timeout=60,
                            env=env)
    out_first = first.communicate(timeout=30)[0].decode()
    T.ok(first.returncode == 0 and second.returncode == 0,
         "both cron runs succeed", (out_first, second.stdout, second.stderr))
    end_a = [r for r in audit_of(ha) if r.get("event") == "run_end"][-1]
    start_b = [r for r in audit_of(hb) if r.get("event") == "run_start"][-1]
    T.ok(end_a["ts"] <= start_b["ts"], "host b's run started only after host a's ended (the "
         "etcd lock), never beside it", (end_a["ts"], start_b["ts"]))
    # A cron run killed mid-run: the next run wanting its lock takes it over first.
    os.remove(os.path.join(kit, "kv", "cron"))
    os.remove(os.path.join(kit, "kv", "cron-after"))
    base = sleeps(kit)
    killed = spawn([serve_lib.SALVE, "--config", ca, "run", "-p", "key=cron", "-p",
                    "pause=30", rb], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env)
    T.ok(wait_for("the run to sleep", lambda: sleeps(kit) > base, timeout=20) and
         os.path.exists(os.path.join(kit, "kv", "cron")), "host a's run changed the target")
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=10)
    dead = [r for r in audit_of(ha) if r.get("event") == "run_start"][-1]["run"]
    nxt = subprocess.run([serve_lib.SALVE, "--config", cb, "run", "-p", "key=cron", "-p",
                          "pause=0", "--lock-timeout", "20s", rb], capture_output=True,
                         text=True, timeout=60, env=env)
    T.ok(nxt.returncode == 0 and "taken over here" in nxt.stdout and
         "undid testkit.set" in nxt.stdout, "host b's next run takes the dead run over, rolls "
         "it back, then runs", nxt.stdout + nxt.stderr)
    took = [r for r in audit_of(hb) if r.get("event") == "run_takeover"]
    T.ok(len(took) == 1 and took[0]["run"] == dead and took[0]["from_replica"] == "cron-a" and
         took[0].get("by_run"), "audited: which run, from which host, for which run", took)


def kill_mid_apply(ca, env, key, before, after, kit):
    """salve run on host a of ha-unknown.lua, killed -9 while "second" applies."""
    rb = os.path.join(serve_lib.RUNBOOKS, "ha-unknown.lua")
    calls = os.path.join(kit, "calls", "set.apply")

    def count():
        try:
            return os.path.getsize(calls)  # one byte per call
        except OSError:
            return 0
    base = count()
    p = spawn([serve_lib.SALVE, "--config", ca, "run", "-p", "key=" + key, "-p",
               "before=%s" % before, "-p", "after=%s" % after, rb],
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)

    def applying():
        return count() >= base + 2
    ok = wait_for("the second apply to be under way", applying, timeout=20)
    time.sleep(0.3)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    return ok


def test_unknown_apply(etcd, kit):
    """An apply interrupted before its result was journaled: the taker asks the step's check,
    never runs the step forward."""
    ha, hb = tmpdir("salve-unk-a-"), tmpdir("salve-unk-b-")
    ca, cb = cron_config(etcd, ha, "unk-a", kit), cron_config(etcd, hb, "unk-b", kit)
    env = dict(os.environ)
    env.pop("SALVE_PLUGIN_PATH", None)
    rb = os.path.join(serve_lib.RUNBOOKS, "ha-unknown.lua")
    kv = lambda k: (open(os.path.join(kit, "kv", k)).read()
                    if os.path.exists(os.path.join(kit, "kv", k)) else None)
    # Killed before the second change was written: its check does not hold.
    T.ok(kill_mid_apply(ca, env, "u1", 30, 0, kit), "killed while the second apply waits")
    T.eq((kv("u1"), kv("u1-2")), ("1", None), "the first change is in place, the second not")
    nxt = subprocess.run([serve_lib.SALVE, "--config", cb, "run", "-p", "key=u1",
                          "--lock-timeout", "20s", rb], capture_output=True, text=True, timeout=60,
                         env=env)
    T.ok("check does not hold: it did not take effect, nothing to undo" in nxt.stdout and
         "undid testkit.set u1" in nxt.stdout and nxt.returncode == 0,
         "the taker asks the step's check (it does not hold: nothing to undo), undoes the "
         "first change, then its own run goes on", nxt.stdout + nxt.stderr)
    undo = [r for r in audit_of(hb) if r.get("event") == "undo" and
            r.get("outcome") == "not_applied"]
    T.ok(len(undo) == 1 and undo[0]["step"] == "second", "audited as not_applied", undo)
    # Killed after it was written, before its undo record: the check holds: a human.
    T.ok(kill_mid_apply(ca, env, "u2", 0, 30, kit), "killed after the second apply wrote")
    nxt = subprocess.run([serve_lib.SALVE, "--config", cb, "run", "-p", "key=u2",
                          "--lock-timeout", "20s", rb], capture_output=True, text=True, timeout=60,
                         env=env)
    T.ok(nxt.returncode == 2 and "check holds now: the change took effect but its undo "
         "record was never written" in nxt.stdout + nxt.stderr and kv("u2-2") == "x",
         "the check holds: never re-run, never guessed: a human must look (exit 2), the "
         "change stays", (nxt.returncode, nxt.stdout, nxt.stderr))
    again = subprocess.run([serve_lib.SALVE, "--config", ca, "run", "-p", "key=u2",
                            "--no-wait", rb], capture_output=True, text=True, timeout=60, env=env)
    T.ok(again.returncode == 75 and "its rollback is incomplete: a human must look" in
         again.stdout + again.stderr,
         "the lock stays held for the human, on every host", (again.returncode, again.stdout,
                                                             again.stderr))
    dead = [r for r in audit_of(ha) if r.get("event") == "run_start" and
            r["params"]["key"] == "u2"][0]["run"]
    res = subprocess.run([serve_lib.SALVE, "--config", cb, "recover", "--resolve", dead,
                          "--note", "u2-2 checked by hand"], capture_output=True, text=True,
                         timeout=60, env=env)
    T.ok(res.returncode == 0 and "left etcd" in res.stdout, "salve recover --resolve on the "
         "host that took it over also frees it in etcd", (res.returncode, res.stdout,
                                                            res.stderr))
    after = subprocess.run([serve_lib.SALVE, "--config", ca, "run", "-p", "key=u2",
                            "--no-wait", rb], capture_output=True, text=True, timeout=60, env=env)
    T.eq(after.returncode, 0, "then the lock is free again")


def test_quorum_lost_mid_run(etcd, a):
    """etcd unavailable while a run is in flight: it starts no more mutations and rolls back
    locally what it changed."""
    st, body = a.post_alerts([alert("Slow", {"key": "k3", "pause": "2"})])
    T.ok(st == 202, "replica a accepts the alert", body)
    T.ok(wait_for("a's run to change the target", lambda: a.kv("k3") == "changed", timeout=20),
         "a's run changed the target")
    run = run_of(a, "k3")
    etcd.kill(0)
    etcd.kill(1)
    T.ok(wait_for("a's run to end", lambda: records(a, "run_end", run=run), timeout=60),
         "quorum lost: the run ends")
    end = records(a, "run_end", run=run)
    T.ok(len(end) == 1 and end[0]["outcome"] == "rolled_back", "rolled back locally", end)
    T.eq((a.kv("k3"), a.kv("k3-after")), (None, None),
         "no mutation after etcd went, and the one before is undone")
    failed = records(a, "step_end", run=run, step="after")
    T.ok(len(failed) == 1 and failed[0]["outcome"] == "failed" and
         ("lease" in failed[0]["error"] or "not applied: etcd" in failed[0]["error"]),
         "the step after says why its mutation did not start (etcd, or the lease)", failed)
    # Its keys cannot leave etcd while etcd is down: the worker keeps trying (giving up would
    # leave the lock held as long as this replica lives), and a shutdown stops that.
    t0 = time.monotonic()
    code = a.stop()
    T.ok(code == 0 and time.monotonic() - t0 < 20,
         "without quorum, replica a still stops cleanly on SIGTERM (%.1f s)"
         % (time.monotonic() - t0), code)


def main():
    etcd = start_cluster(T)
    if not etcd:
        return T.finish() or 1
    kit = tmpdir("salve-ha-kit-")
    os.makedirs(os.path.join(kit, "kv"), exist_ok=True)
    a = replica(etcd, "a", kit).start()
    b = replica(etcd, "b", kit).start()
    try:
        test_kill_holder(etcd, a, b)
        test_stop_holder(etcd, a, b)
        test_without_lock(etcd, a, b)
        test_leader_frozen(etcd, a, b)
        test_cron_hosts(etcd, kit)
        test_unknown_apply(etcd, kit)
        test_quorum_lost_mid_run(etcd, a)
    finally:
        a.stop()
        T.eq(b.stop(), 0, "replica b stops cleanly")
    return T.finish()


if __name__ == "__main__":
    raise SystemExit(main())
