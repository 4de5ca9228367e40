#!/usr/bin/env python3
"""salve serve's spool under group commit (issue 14): the runs accepted together become
durable with one syncfs for their batch, not one fdatasync each; a request is answered 2xx
only once its batch is durable (a failed syncfs answers 500 and the retry is a duplicate);
and a kill -9 at a random point of a burst loses no run answered 2xx: after the restart each
one ran exactly once (before the kill, or requeued from the spool). Syncs are counted and
faults injected with strace; deadlines only bound waits."""
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time

from serve_lib import APPROVE_TOKEN, HOOK_TOKEN, READ_TOKEN, Checks, Server, alert, salve, wait_for

T = Checks()

ROUTES = """
  - name: hold
    matchers: ['alertname = "Hold"']
    runbook: approve.lua
    params: {key: "{{ labels.key }}"}
  - name: burst
    matchers: ['alertname = "Burst"']
    runbook: kv.lua
    params: {key: "{{ labels.key }}"}
"""


def traced_child(s):
    """The salve process strace runs (signals must reach it, not strace)."""
    with open("/proc/%d/task/%d/children" % (s.proc.pid, s.proc.pid)) as f:
        return int(f.read().split()[0])


def sync_calls(trace):
    with open(trace) as f:
        text = f.read()
    return {c: text.count(c + "(") for c in ("fdatasync", "fsync", "syncfs")}


def start_traced(s, calls, *flags):
    """Starts s under strace tracing calls; returns (trace file, the traced salve's pid)."""
    trace = os.path.join(s.dir, "calls.trace")
    s.start(prefix=("strace", "-f", "-qq") + flags + ("--seccomp-bpf", "-e", "trace=" + calls,
                                                       "-o", trace))
    return trace, traced_child(s)


def hold_the_worker(s, key="h"):
    """Posts a run that waits for an approval, so the one worker is busy; returns its id."""
    st, b = s.post_alerts([alert("Hold", {"key": key})])
    held = b["runs"][0] if st == 202 else None
    T.ok(held and s.wait_run(held, states=("awaiting_approval",)),
         "the one worker waits for an approval")
    return held


def spool_files(s):
    queue = os.path.join(s.state, "serve", "queue")
    return sorted(n for n in os.listdir(queue) if n.endswith(".json"))


def test_one_sync_per_batch():
    if not shutil.which("strace"):
        print("ok - # SKIP syncs per batch: strace is not installed")
        return
    n = 50
    s = Server("spool-syncs", ROUTES, "  workers: 1\n", audit_sync="always")
    trace, traced = start_traced(s, "fdatasync,fsync,syncfs")
    try:
        # The one worker waits for an approval: every run accepted below stays spooled.
        hold_the_worker(s)
        # The held run's own syncs (its journal, its audit records) end before the count.
        before = sync_calls(trace)
        for _ in range(50):
            time.sleep(0.3)
            now = sync_calls(trace)
            if now == before:
                break
            before = now
        st, b = s.post_alerts([alert("Burst", {"key": "b%d" % i}) for i in range(n)])
        runs = b.get("runs", []) if b else []
        T.ok(st == 202 and len(set(runs)) == n, "%d alerts posted together: %d runs" % (n, n),
             (st, b))
        wait_for("the batch's syncs in the trace",
                 lambda: sync_calls(trace)["syncfs"] > before["syncfs"], timeout=10)
        after = sync_calls(trace)
        got = {c: after[c] - before[c] for c in after}
        # The audit log and its head (salve_audit_sync), the dedup file, and the spool.
        T.ok(got["syncfs"] == 1 and got["fsync"] == 0 and got["fdatasync"] <= 3,
             "the batch of %d runs took one syncfs and at most 3 fdatasyncs (log, head, "
             "dedup file), not one per run" % n, got)
        T.eq(spool_files(s), sorted(r + ".json" for r in runs),
             "every accepted run is spooled, one sealed file each")
        with open(os.path.join(s.state, "serve", "queue", runs[0] + ".json")) as f:
            T.ok(f.readline().startswith("salve-spool-v1 "), "an entry is sealed")
    finally:
        os.kill(traced, signal.SIGTERM)
        s.stop()


def test_concurrent_requests_share_a_write():
    """Alerts posted at once in separate requests are written together: each batch's audit
    records go to the log in one write() (group commit, salve_audit_sync), the dedup keys in
    one append, so the writes and syncs follow the batches, not the alerts; and every alert
    is audited once, in a chain that verifies."""
    if not shutil.which("strace"):
        print("ok - # SKIP one write per batch: strace is not installed")
        return
    n = 60
    s = Server("spool-writes", ROUTES,
               "  workers: 1\n  http_threads: 8\n  max_connections_per_ip: 0\n",
               audit_sync="always")
    trace, traced = start_traced(s, "write,fdatasync,fsync,syncfs,newfstatat", "-y")
    try:
        hold_the_worker(s)
        time.sleep(0.5)
        with open(trace) as f:
            skip = len(f.read())
        answers = []
        go = threading.Event()

        def post(i):
            go.wait()
            try:
                answers.append(s.post_alerts([alert("Burst", {"key": "c%d" % i})]))
            except OSError as e:
                answers.append((str(e), None))

        threads = [threading.Thread(target=post, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        go.set()
        for t in threads:
            t.join(30)
        T.ok(len(answers) == n and all(st == 202 for st, _ in answers),
             "%d requests at once, each answered 202" % n, [st for st, _ in answers])
        time.sleep(0.5)
        with open(trace) as f:
            lines = f.read()[skip:].splitlines()
        audit_writes = sum(1 for l in lines if l.startswith(tuple("0123456789")) and
                           " write(" in l and "audit.jsonl>" in l)
        batches = sum(1 for l in lines if " syncfs(" in l)
        syncs = sum(1 for l in lines if " fdatasync(" in l)
        # A batch flushes the dedup keys after its spool's syncfs. (A flush takes every key
        # waiting, so keys of a request already decided for the next batch may ride along:
        # a batch then has nothing left to flush.)
        order = [("syncfs" if " syncfs(" in l else "dedup") for l in lines
                 if " syncfs(" in l or (" fdatasync(" in l and "dedup.jsonl>" in l)]
        T.ok(order and order[0] == "syncfs" and "dedup" in order and
             all(b != "dedup" or a == "syncfs" for a, b in zip(order, order[1:])),
             "each dedup fdatasync follows a batch's spool syncfs", order)
        T.ok(1 <= batches < n, "the %d requests were committed in %d batches" % (n, batches))
        T.ok(audit_writes == batches,
             "one write() of the audit log per batch (%d for %d batches), not one per alert"
             % (audit_writes, batches))
        T.ok(syncs <= 3 * batches,
             "at most 3 fdatasyncs a batch (log, head, dedup file): %d for %d batches"
             % (syncs, batches))
        pause_reads = sum(1 for l in lines if " newfstatat(" in l and '/serve/paused"' in l)
        T.ok(pause_reads < n / 4,
             "the pause file is not read for each alert (its generation is mapped): %d "
             "reads for %d alerts (the server's check each second)" % (pause_reads, n))
        recs = [r for r in s.audit_records() if r.get("event") == "alert"
                and r.get("labels", {}).get("alertname") == "Burst"]
        T.eq(sorted(r["labels"]["key"] for r in recs), sorted("c%d" % i for i in range(n)),
             "every alert audited once")
        rc, out, err = salve(["audit", "verify", s.audit])
        T.ok(rc == 0 and "hash chain intact" in out, "the audit chain verifies", out + err)
    finally:
        os.kill(traced, signal.SIGTERM)
        s.stop()


def test_sync_failure_answers_500():
    """The batch cannot be made durable (syncfs fails with EIO, injected): the request is
    answered 500, not 2xx; the run stays accepted, so Alertmanager's retry is a duplicate."""
    if not shutil.which("strace"):
        print("ok - # SKIP syncfs failure: strace is not installed")
        return
    s = Server("spool-eio", ROUTES, "  workers: 1\n", audit_sync="always")
    s.start(prefix=("strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=syncfs", "-e",
                    "inject=syncfs:error=EIO"))
    traced = traced_child(s)
    try:
        st, b = s.post_alerts([alert("Burst", {"key": "eio"})])
        runs = b.get("runs", []) if b else []
        T.ok(st == 500 and len(runs) == 1 and "cannot be written" in b.get("error", ""),
             "a batch whose spool cannot be synced is answered 500", (st, b))
        T.ok("syncfs: Input/output error" in s.stderr(), "the error is logged", s.stderr())
        st, b2 = s.post_alerts([alert("Burst", {"key": "eio"})])
        T.ok(st == 200 and b2["alerts"][0]["decision"] == "deduplicated" and runs and
             b2["alerts"][0]["run"] == runs[0], "the retry is a duplicate of that run", b2)
    finally:
        os.kill(traced, signal.SIGTERM)
        s.stop()


def test_write_failure_answers_500():
    """A spool entry that cannot be written (its rename fails with ENOSPC, injected; the spool
    is the only writer that renames while an alert is accepted): the answer is 500, never
    2xx, and the error is logged."""
    if not shutil.which("strace"):
        print("ok - # SKIP spool write failure: strace is not installed")
        return
    s = Server("spool-enospc", ROUTES, "  workers: 1\n", audit_sync="always").start()
    # Attached once the server runs (its start compacts the dedup file with a rename too).
    threads = os.listdir("/proc/%d/task" % s.proc.pid)
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=rename",
                               "-e", "inject=rename:error=ENOSPC"] +
                              [a for t in threads for a in ("-p", t)],
                              stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        st, b = s.post_alerts([alert("Burst", {"key": "enospc"})])
        T.ok(st == 500, "a run whose spool entry cannot be written is not answered 2xx",
             (st, b))
        T.ok("No space left on device" in s.stderr(), "the error is logged", s.stderr())
    finally:
        tracer.terminate()
        tracer.wait(timeout=10)
        s.stop()


def test_killed_around_the_spool_unlink(after):
    """A run's spool entry goes only once its run_start is written. Killed right after the
    unlink (strace holds the process at the syscall's exit), the run is not lost between the
    two, as it was when the entry went first (the restart found neither an entry to requeue
    nor a start). Killed right before it (at the syscall's entry), the run had changed
    nothing (its journal comes after): it is requeued and runs once, to its end."""
    if not shutil.which("strace"):
        print("ok - # SKIP kill at the spool unlink: strace is not installed")
        return
    where = "after" if after else "before"
    s = Server("spool-unlink-" + where, ROUTES, "  workers: 1\n", audit_sync="always").start()
    tracer = None
    try:
        held = hold_the_worker(s, "u")
        st, b = s.post_alerts([alert("Burst", {"key": "unlink-" + where})])
        T.eq(st, 202, "a run is accepted behind it")
        rid = b["runs"][0]
        entry = os.path.join(s.state, "serve", "queue", rid + ".json")
        T.ok(os.path.exists(entry), "its spool entry is there")
        inject = "delay_exit=30000000" if after else "signal=SIGKILL"
        tracer = subprocess.Popen(["strace", "-f", "-qq", "-o", "/dev/null", "-P", entry,
                                   "-e", "trace=unlink,unlinkat",
                                   "-e", "inject=unlink,unlinkat:" + inject,
                                   "-p", str(s.proc.pid)])
        time.sleep(1)
        st, _ = s.call("POST", "/runs/%s/approve" % held, {}, token=APPROVE_TOKEN)
        T.eq(st, 200, "the held run is approved, so the worker takes the next run")
        if after:
            T.ok(wait_for("the entry's unlink", lambda: not os.path.exists(entry), timeout=20),
                 "the worker started the run and removed its spool entry")
            s.proc.send_signal(signal.SIGKILL)
            # The tracer sleeps out its delay before it reaps the kill: it goes first.
            tracer.kill()
        tracer.wait(timeout=20)
        tracer = None
        s.proc.wait(timeout=10)
        s.err.close()
        before = s.audit_records()
        T.ok(any(r.get("event") == "run_start" and r.get("run") == rid for r in before),
             "killed %s the unlink: the run's run_start was written" % where)
        T.eq(os.path.exists(entry), not after,
             "killed %s the unlink: its spool entry is %s" % (where, "there" if not after
                                                                else "gone"))
        s.start()
        T.ok(wait_for("the restart",
                      lambda: any(r.get("event") == "serve_start"
                                  for r in s.audit_records()[len(before):]), timeout=20),
             "the server restarted")
        if after:
            # Killed before its first step: no journal, nothing to undo, nothing to requeue.
            time.sleep(1)
            after_recs = s.audit_records()[len(before):]
            T.ok(not any(r.get("run") == rid and r.get("event") == "run_start"
                         for r in after_recs), "the started run is not run again")
        else:
            r = s.wait_run(rid)
            T.ok(r and r["outcome"] == "success", "the requeued run ran to its end", r)
            after_recs = s.audit_records()[len(before):]
            T.eq([x["event"] for x in after_recs if x.get("run") == rid
                  and x["event"] in ("run_requeued", "run_start", "run_end")],
                 ["run_requeued", "run_start", "run_end"], "requeued, then run once")
            T.eq(s.kv("unlink-before"), "on", "its change is in place")
        T.eq(os.listdir(os.path.join(s.state, "serve", "queue")), [], "the spool is empty")
        rc, out, err = salve(["audit", "verify", s.audit])
        T.ok(rc == 0, "the audit chain verifies", out + err)
    finally:
        if tracer:
            tracer.kill()
        s.stop()


def test_recovered_run_is_never_requeued():
    """A spool entry beside a journal (here a copy of the entry, put back after its run
    started, changed something and was killed, as a restored backup would): the restart
    rolls the run back and never runs it forward again."""
    s = Server("spool-restored", ROUTES, "  workers: 1\n", audit_sync="always").start()
    try:
        first = hold_the_worker(s, "first")
        st, b = s.post_alerts([alert("Hold", {"key": "second"})])
        T.eq(st, 202, "a second run is accepted behind it")
        rid = b["runs"][0]
        entry = os.path.join(s.state, "serve", "queue", rid + ".json")
        with open(entry, "rb") as f:
            saved = f.read()
        st, _ = s.call("POST", "/runs/%s/approve" % first, {}, token=APPROVE_TOKEN)
        T.eq(st, 200, "the first run is approved")
        T.ok(s.wait_run(rid, states=("awaiting_approval",)),
             "the second run changed something and waits for its approval")
        T.eq(s.kv("second-a"), "1", "its first step's change is in place")
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait(timeout=10)
        s.err.close()
        with open(entry, "wb") as f:
            f.write(saved)
        os.chmod(entry, 0o600)
        n = len(s.audit_records())
        s.start()
        recs = wait_for("the restart", lambda: (lambda r: r if any(
            x.get("event") == "serve_start" for x in r) else None)(s.audit_records()[n:]),
            timeout=20)
        time.sleep(1)
        recs = s.audit_records()[n:]
        events = [x["event"] for x in recs if x.get("run") == rid]
        T.ok("recover_start" in events and "run_not_requeued" in events and
             "run_start" not in events, "the run is rolled back and not run again", events)
        T.eq(s.kv("second-a"), None, "its change is undone")
        T.eq(os.listdir(os.path.join(s.state, "serve", "queue")), [], "the spool is empty")
    finally:
        s.stop()


def test_kill9_during_burst():
    s = Server("spool-kill9", ROUTES, "  workers: 2\n  queue_size: 100000\n",
               audit_sync="always").start()
    answered, lock, stop = {}, threading.Lock(), threading.Event()

    def client(c):
        i = 0
        while not stop.is_set():
            batch = [alert("Burst", {"key": "c%d-%d-%d" % (c, i, k)}) for k in range(3)]
            i += 1
            try:
                st, b = s.post_alerts(batch)
            except (OSError, ValueError):
                return  # the server died: this request was never answered
            if st in (200, 202):
                with lock:
                    for rid in b["runs"]:
                        answered[rid] = answered.get(rid, 0) + 1

    clients = [threading.Thread(target=client, args=(c,)) for c in range(4)]
    for c in clients:
        c.start()
    try:
        wait_for("runs answered", lambda: len(answered) >= 30, timeout=20)
        time.sleep(random.uniform(0, 0.5))
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait(timeout=10)
        s.err.close()
        stop.set()
        for c in clients:
            c.join(timeout=30)
        with lock:
            ids = dict(answered)
        T.ok(len(ids) >= 30 and all(v == 1 for v in ids.values()),
             "%d runs answered 2xx before kill -9, each in one answer" % len(ids))
        spooled = {n[:-5] for n in spool_files(s)}
        s.start()

        def starts():
            recs = s.audit_records()
            return recs, [r["run"] for r in recs if r.get("event") == "run_start"]

        def all_started():
            recs, st = starts()
            recovered = {r["run"] for r in recs if r.get("event") == "recover_start"}
            return set(ids) <= set(st) | recovered

        T.ok(wait_for("every answered run to start", all_started, timeout=60),
             "every run answered 2xx started, before the kill or after the restart")
        T.ok(wait_for("the queue to drain", lambda: spool_files(s) == [], timeout=60),
             "the spool is empty once they ran")
        recs, st = starts()
        requeued = [r["run"] for r in recs if r.get("event") == "run_requeued"]
        T.eq(len(requeued), len(set(requeued)), "no run requeued twice")
        T.eq(set(requeued), spooled, "exactly the runs spooled at the kill were requeued")
        restart = [i for i, r in enumerate(recs) if r.get("event") == "serve_start"][1]
        # Started before the kill: its run_start (the spool entry goes after it).
        early = {r["run"] for r in recs[:restart] if r.get("event") == "run_start"}
        # Did something before the kill: a step began, or the restart recovered a journal.
        acted = {r["run"] for r in recs[:restart] if r.get("step")}
        acted |= {r["run"] for r in recs if r.get("event") == "recover_start"}
        T.eq(sorted(acted & set(requeued)), [], "a run that had begun a step was never requeued")
        after = [r["run"] for r in recs[restart:] if r.get("event") == "run_start"]
        T.eq(sorted(r for r in set(after) if after.count(r) > 1), [],
             "no run started twice after the restart")
        # Killed between its run_start record and the spool's unlink: it had changed nothing
        # (no journal yet), so it is requeued and this second start is its only real one.
        twice = sorted(r for r in set(st) if st.count(r) > 1)
        T.ok(all(r in requeued and r not in acted for r in twice),
             "a run started twice only when its first start did nothing and it was requeued "
             "(%d such)" % len(twice), twice)
        lost = sorted(set(ids) - early - set(requeued))
        T.eq(lost, [], "every answered run either started before the kill or was requeued "
             "(%d started, %d requeued)" % (len(early & set(ids)), len(set(requeued) & set(ids))))
    finally:
        stop.set()
        s.stop()


def main():
    test_one_sync_per_batch()
    test_concurrent_requests_share_a_write()
    test_sync_failure_answers_500()
    test_write_failure_answers_500()
    test_killed_around_the_spool_unlink(after=True)
    test_killed_around_the_spool_unlink(after=False)
    test_recovered_run_is_never_requeued()
    test_kill9_during_burst()
    return T.finish()


if __name__ == "__main__":
    raise SystemExit(main())
