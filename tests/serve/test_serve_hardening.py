#!/usr/bin/env python3
"""salve serve against the attacks of issue 10, each replayed over real HTTP on loopback:
wedged workers and SIGTERM (F3), a writable or forged state dir (F4), slow clients (F6),
huge requests (F7), host patterns in labels (F9), nan/inf/hex durations (F10) and forged
log lines (F11). Every check asserts the safe outcome; deadlines only bound waits."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from serve_lib import (APPROVE_TOKEN, HOOK_TOKEN, READ_TOKEN, Checks, Server, alert, salve,
                       wait_for)

T = Checks()


def first_run(resp):
    runs = resp.get("runs") if resp else None
    return runs[0] if runs else None


def audit_events(srv, event):
    return [r for r in srv.audit_records() if r.get("event") == event]


# ---- F3: SIGTERM ends the server within shutdown_grace, whatever a runbook does ----------

def test_wedged_shutdown():
    routes = """
  - name: wedge
    matchers: ['alertname = "Wedge"']
    runbook: wedge.lua
    params: {key: "{{ labels.key }}"}
  - name: gc
    matchers: ['alertname = "GcLoop"']
    runbook: gc-loop.lua
    params: {key: "{{ labels.key }}"}
"""
    grace = 2
    s = Server("wedge", routes, "  workers: 2\n  shutdown_grace: %ds\n" % grace).start()
    st, b = s.post_alerts([alert("Wedge", {"key": "w1"})])
    wedged = first_run(b)
    running = s.wait_run(wedged, states=("running",))
    hang = wait_for("the wedge step to start",
                    lambda: any(x["name"] == "hang" for x in (s.run(wedged) or {}).get("steps", [])))
    T.ok(running and hang and s.kv("w1") == "changed",
         "a run is wedged in an action that ignores cancellation", s.run(wedged))
    st, b = s.post_alerts([alert("GcLoop", {"key": "g1"})])
    gc = first_run(b)
    r = s.wait_run(gc)
    # The sandbox refuses __gc, so a runbook cannot leave a finalizer that loops when its
    # Lua state is closed: the step fails and the worker is free again.
    T.ok(r and r["outcome"] == "rolled_back" and "__gc finalizers are not available"
         in (r.get("error") or ""),
         "a runbook that would leave a looping finalizer behind is refused by the sandbox", r)
    t0 = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    try:
        rc = s.proc.wait(timeout=grace + 25)
    except subprocess.TimeoutExpired:
        rc = None
    took = time.monotonic() - t0
    print("# SIGTERM to exit: %.1f s (shutdown_grace %d s)" % (took, grace))
    T.ok(rc is not None, "SIGTERM ends the server within shutdown_grace + a margin "
         "although a worker is wedged (%.1f s)" % took)
    if rc is None:
        s.proc.kill()
        s.proc.wait()
    T.eq(rc, 2, "exit 2: runs were abandoned and need salve recover")
    err = s.stderr()
    T.ok(re.search(r"run %s \(runbook \S+wedge.lua, route wedge\) did not stop within "
                   r"shutdown_grace \(2 s\) while running: abandoned" % wedged, err),
         "the log names the abandoned run", err[-2000:])
    ab = audit_events(s, "run_abandoned")
    T.ok(any(a["run"] == wedged and a["route"] == "wedge" and a["phase"] == "running"
             for a in ab), "the abandoned run is audited (run_abandoned)", ab)
    stop = audit_events(s, "serve_stop")
    T.ok(stop and wedged in [a["run"] for a in stop[-1]["abandoned"]] and
         stop[-1]["signal"] == signal.SIGTERM, "serve_stop lists the abandoned runs", stop)
    T.ok(gc not in [a["run"] for a in ab], "the refused runbook left no worker behind", ab)
    journals = os.listdir(os.path.join(s.state, "runs"))
    T.ok(any(j.startswith(wedged) for j in journals),
         "the abandoned run's journal stays in the state dir", journals)
    s.err.close()
    rc, out, err = salve(["recover"], config=s.config, env=s.env)
    T.ok(rc == 0 and s.kv("w1") is None,
         "salve recover rolls back what the abandoned run changed", out + err)


# ---- F4: the state dir decides what runs: only salve may write it ------------------------

STATE_ROUTES = """
  - name: hold
    matchers: ['alertname = "Hold"']
    runbook: approve.lua
    params: {key: "{{ labels.key }}"}
  - name: dry
    matchers: ['alertname = "Dry"']
    runbook: kv.lua
    dry_run: true
    params: {key: "{{ labels.key }}"}
"""


def spooled_dry_run(s, key):
    """Holds the one worker with an approval and queues a dry run behind it; stops the
    server so the dry run stays spooled. Returns the spooled run's id and file."""
    st, b = s.post_alerts([alert("Hold", {"key": "h-" + key})])
    s.wait_run(first_run(b), states=("awaiting_approval",))
    st, b = s.post_alerts([alert("Dry", {"key": key})])
    rid = first_run(b)
    T.eq(s.stop(), 0, "stopped with a dry run spooled")
    return rid, os.path.join(s.state, "serve", "queue", rid + ".json")


def test_forged_spool():
    s = Server("spool", STATE_ROUTES, "  workers: 1\n").start()
    rid, path = spooled_dry_run(s, "d1")
    with open(path) as f:
        head, body = f.read().split("\n", 1)
    T.ok(head.startswith("salve-spool-v1 ") and len(head) == 15 + 64,
         "a spooled run carries an HMAC line", head)
    entry = json.loads(body)
    T.ok(entry["dry_run"] is True and entry["id"] == rid, "the entry says dry_run", entry)
    # The attack: flip dry_run (and keep the MAC line) so the restart runs it for real.
    forged = body.replace('"dry_run":true', '"dry_run":false')
    T.ok(forged != body, "the forged entry differs only in dry_run")
    with open(path, "w") as f:
        f.write(head + "\n" + forged)
    # A second entry planted as a symlink to a sealed copy of the first.
    outside = os.path.join(s.dir, "planted.json")
    with open(outside, "w") as f:
        f.write(head + "\n" + body)
    link = os.path.join(s.state, "serve", "queue", "0" * 32 + ".json")
    os.symlink(outside, link)
    s.start()
    try:
        T.eq(s.call("GET", "/runs/" + rid, token=READ_TOKEN)[0], 404,
             "the forged run was not requeued")
        refused = audit_events(s, "spool_refused")
        why = {r["file"]: r["reason"] for r in refused}
        T.ok("its MAC does not verify" in why.get(rid + ".json", ""),
             "the forged entry is refused and audited (spool_refused)", refused)
        T.ok("a symlink" in why.get("0" * 32 + ".json", ""),
             "the symlinked entry is refused and audited", refused)
        T.ok(os.path.exists(path + ".refused") and not os.path.exists(path),
             "the forged entry is set aside as .refused")
        T.ok("spooled run %s refused: its MAC does not verify" % path in s.stderr(),
             "the refusal is logged", s.stderr()[-1500:])
        T.ok(not audit_events(s, "run_requeued"), "nothing was requeued")
        time.sleep(0.3)
        T.eq(s.kv("d1"), None, "the dry run never ran for real")
    finally:
        s.stop()
    # The untouched entry of another spool requeues (and stays a dry run).
    s2 = Server("spool-ok", STATE_ROUTES, "  workers: 1\n").start()
    rid2, path2 = spooled_dry_run(s2, "d2")
    s2.start()
    try:
        r = s2.wait_run(rid2)
        T.ok(r and r["dry_run"] and r["outcome"] == "success" and s2.kv("d2") is None,
             "an intact sealed entry requeues as it was accepted", r)
    finally:
        s2.stop()


def test_state_dir_permissions():
    s = Server("perm", STATE_ROUTES).start()
    T.eq(s.stop(), 0, "a private state dir starts")
    os.chmod(s.state, 0o777)
    rc, out, err = salve(["serve"], config=s.config, env=s.env)
    T.ok(rc == 73 and "state dir %s: mode 0777 lets everyone write it" % s.state in err,
         "a 0777 state dir is refused (exit 73), naming it", err)
    os.chmod(s.state, 0o770)
    rc, out, err = salve(["serve"], config=s.config, env=s.env)
    T.ok(rc == 73 and "lets its group write it" in err, "a group-writable state dir too", err)
    rc, out, err = salve(["pause"], config=s.config, env=s.env)
    T.ok(rc == 73 and "state dir" in err, "salve pause refuses it as well", err)
    os.chmod(s.state, 0o700)
    queue = os.path.join(s.state, "serve", "queue")
    os.chmod(queue, 0o733)
    rc, out, err = salve(["serve"], config=s.config, env=s.env)
    T.ok(rc == 73 and "%s: mode 0733" % queue in err, "a writable spool dir is refused", err)
    os.chmod(queue, 0o700)
    os.chmod(s.dir, 0o775)  # the audit log's directory
    rc, out, err = salve(["serve"], config=s.config, env=s.env)
    T.ok(rc == 73 and "audit dir %s: mode 0775 lets its group write it" % s.dir in err,
         "a group-writable audit dir is refused", err)
    os.chmod(s.dir, 0o700)
    key = os.path.join(s.state, "serve", "spool.key")
    T.ok(os.stat(key).st_mode & 0o777 == 0o600 and os.path.getsize(key) == 32,
         "the spool key is 32 bytes, mode 0600")
    planted = os.path.join(s.dir, "known.key")
    with open(planted, "wb") as f:
        f.write(b"k" * 32)
    os.chmod(planted, 0o600)
    os.unlink(key)
    os.symlink(planted, key)
    rc, out, err = salve(["serve"], config=s.config, env=s.env)
    T.ok(rc == 73 and "spool key %s: a symlink" % key in err,
         "a symlinked spool key (one the attacker knows) is refused", err)
    os.unlink(key)
    pause = os.path.join(s.state, "serve", "paused")
    os.symlink("/etc/passwd", pause)
    s.start()
    try:
        st, h = s.call("GET", "/healthz")
        T.ok(st == 200 and h["paused"] is True,
             "a symlink at the pause path pauses (nothing starts on doubt)", h)
        T.ok("is not" in s.stderr() or "symlink" in s.stderr(), "and says why", s.stderr())
        st, b = s.call("POST", "/resume", {"by": "t"}, token=APPROVE_TOKEN)
        T.ok(st == 200 and os.path.exists("/etc/passwd") and not os.path.lexists(pause),
             "resume removes the link, never its target", b)
    finally:
        s.stop()
    # The pause's generation (paused.gen, mapped by the server so an alert costs no system
    # call to learn the pause did not change) planted as a link: never followed, never
    # written through; the server reads the pause file with every alert instead.
    gen = pause + ".gen"
    os.unlink(gen)
    target = os.path.join(s.dir, "victim")
    with open(target, "w") as f:
        f.write("untouched")
    os.symlink(target, gen)
    s.start()
    try:
        T.ok("paused.gen" in s.stderr() and "the pause file is read with every alert" in
             s.stderr(), "a linked generation file is refused, with the fallback said",
             s.stderr())
        rc, out, err = salve(["pause", "--reason", "t"], config=s.config, env=s.env)
        T.ok(rc == 0 and "warning" in err and "a running server sees it within a second" in err,
             "salve pause pauses, and warns that the generation could not be written",
             out + err)
        with open(target) as f:
            T.eq(f.read(), "untouched", "nothing is written through the link")
        st, b = s.post_alerts([alert("Hold", {"key": "gen"})])
        T.ok(st == 200 and b["alerts"][0]["reason"] == "paused",
             "the next alert is refused all the same (the file is read with each alert)", b)
        T.eq(s.call("POST", "/resume", {"by": "t"}, token=APPROVE_TOKEN)[0], 200,
             "resume through the API works (this server knows at once)")
        T.eq(s.call("GET", "/healthz")[1]["paused"], False, "and is seen at once")
    finally:
        s.stop()


# ---- F6: a slow client cannot lock out /healthz -------------------------------------------

class Trickle:
    """Slowloris: connections from source address src that send a request line, then one
    header line every interval seconds, never ending the head."""

    def __init__(self, port, sources, per_source, path="/hooks/alertmanager"):
        self.socks = []
        for src in sources:
            for _ in range(per_source):
                c = socket.socket()
                c.bind((src, 0))
                c.settimeout(3)
                try:
                    c.connect(("127.0.0.1", port))
                    c.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\n" % path.encode())
                    c.setblocking(False)
                    self.socks.append(c)
                except OSError:
                    c.close()
        self.open = set(range(len(self.socks)))
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def poll(self):
        for i in list(self.open):
            try:
                if self.socks[i].recv(4096, socket.MSG_DONTWAIT) == b"":
                    self.open.discard(i)
            except BlockingIOError:
                pass
            except OSError:
                self.open.discard(i)

    def run(self):
        n = 0
        while not self.stop:
            self.poll()
            for i in list(self.open):
                try:
                    self.socks[i].send(b"X-Slow-%d: 1\r\n" % n)
                except OSError:
                    self.open.discard(i)
            n += 1
            time.sleep(0.5)

    def close(self):
        self.stop = True
        self.thread.join(timeout=5)
        for c in self.socks:
            c.close()


def healthz_ok(s, conn=None):
    try:
        st, h = s.call("GET", "/healthz", conn=conn)
        return st == 200 and h["status"] == "ok"
    except OSError:
        return False


def test_slowloris():
    routes = """
  - name: r
    matchers: ['alertname = "X"']
    runbook: kv.lua
    params: {key: x}
"""
    s = Server("slowloris", routes, "  max_connections: 16\n  max_connections_per_ip: 8\n"
               "  request_timeout: 2s\n  connection_timeout: 30s\n").start()
    try:
        # 70 connections from one client (127.0.0.2), one header line every 0.5 s.
        attack = Trickle(s.port, ["127.0.0.2"], 70)
        T.eq(len(attack.socks), 70, "the client opened 70 connections")
        # The probes share one keep-alive connection: the server then holds the client's
        # connections and this one.
        probe = s.conn()
        seen, answered, t_end = 0, [], time.monotonic() + 6
        while time.monotonic() < t_end:
            answered.append(healthz_ok(s, probe))
            st, _, text = s.request("GET", "/metrics", token=READ_TOKEN, conn=probe)
            m = re.search(r"^salve_http_connections (\d+)", text, re.M)
            seen = max(seen, int(m.group(1)) if m else 0)
            time.sleep(0.3)
        T.ok(answered and all(answered),
             "/healthz answered all %d probes during the attack" % len(answered), answered)
        probe.close()
        T.ok(0 < seen <= 8 + 1, "never more than max_connections_per_ip (8) of the client's "
             "connections open, plus the probe (%d seen)" % seen)
        closed = wait_for("the server to close every slow connection",
                          lambda: not attack.open, timeout=8)
        T.ok(closed is not None or not attack.open,
             "the server closed every connection that kept sending headers (request_timeout "
             "2s, connection_timeout 30s)", "%d still open" % len(attack.open))
        attack.close()
        m = s.metrics()
        T.ok(m.get("salve_http_request_timeouts_total", 0) >= 8,
             "the timed-out connections are counted", m.get("salve_http_request_timeouts_total"))
        st, b = s.post_alerts([alert("X", {})])
        T.eq(st, 202, "a normal client is served after the attack")
    finally:
        s.stop()

    # Many clients (one connection each) fill max_connections: /healthz keeps a reserve.
    s = Server("reserve", routes, "  max_connections: 8\n  max_connections_per_ip: 0\n"
               "  request_timeout: 20s\n  http_threads: 1\n").start()
    try:
        attack = Trickle(s.port, ["127.0.0.%d" % i for i in range(10, 18)], 1)

        def reserve_engaged():
            st, b = s.call("GET", "/runs", token=READ_TOKEN)
            return (st, b) if st == 503 else None

        got = wait_for("max_connections to be reached", reserve_engaged, timeout=10)
        T.ok(got and "serve /healthz only" in got[1]["error"],
             "at max_connections other endpoints answer 503 from the reserve", got)
        T.ok(healthz_ok(s), "/healthz answers on the reserved connections")
        T.eq(len(attack.open), 8, "the 8 slow clients still hold max_connections")
        attack.close()
        T.ok(wait_for("the slots to free", lambda: s.call("GET", "/runs", token=READ_TOKEN)[0]
                      == 200, timeout=10), "when they leave, every endpoint answers again")
    finally:
        s.stop()


# ---- F7: a huge notification neither passes nor starves /healthz ---------------------------

def many_alerts(n, prefix):
    return [alert("Bulk", {"n": "%s-%d" % (prefix, i)}) for i in range(n)]


def test_bulk_requests():
    # No route takes "Bulk": every alert is audited as unmatched and nothing runs, so the
    # only fdatasyncs are the audit log's.
    routes = """
  - name: other
    matchers: ['alertname = "Other"']
    runbook: kv.lua
    params: {key: other}
"""
    s = Server("bulk", routes, "  max_body: 16MiB\n", audit_sync="always")
    trace, prefix = None, ()
    if shutil.which("strace"):
        trace = os.path.join(s.dir, "fdatasync.trace")
        prefix = ("strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=fdatasync", "-o",
                  trace)
    s.start(prefix=prefix)
    traced = None
    if trace:
        # Signals must reach salve, not strace (which would detach and leave it running).
        with open("/proc/%d/task/%d/children" % (s.proc.pid, s.proc.pid)) as f:
            traced = int(f.read().split()[0])
    try:
        st, _, text = s.request("POST", "/hooks/alertmanager", json.dumps(
            {"version": "4", "alerts": many_alerts(10000, "big")}), token=HOOK_TOKEN)
        T.ok(st == 413 and "10000 alerts in one request; at most 1000 are accepted "
             "(server.max_alerts)" in text, "10,000 alerts in one POST: 413", text[:300])
        T.eq(len(audit_events(s, "alert")), 0, "nothing of the refused request was audited")
        before = open(trace).read().count("fdatasync(") if trace else 0
        results, probes = {}, []

        def post(name):
            results[name] = s.post_alerts(many_alerts(1000, name))

        posts = [threading.Thread(target=post, args=(n,)) for n in ("a", "b")]
        for p in posts:
            p.start()
        while any(p.is_alive() for p in posts):
            probes.append(healthz_ok(s))
            time.sleep(0.05)
        for p in posts:
            p.join()
        T.ok(all(r[0] in (200, 202) and len(r[1]["alerts"]) == 1000 for r in results.values()),
             "two POSTs of max_alerts (1,000) are accepted",
             {k: (v[0], len(v[1].get("alerts", []))) for k, v in results.items()})
        T.ok(all(probes), "/healthz answered every probe while they were written (%d probes)"
             % len(probes), probes)
        T.eq(len(audit_events(s, "alert")), 2000, "all 2,000 alerts are audited")
        if trace:
            syncs = open(trace).read().count("fdatasync(") - before
            # Each batch costs two: the log, then its head (salve_audit_sync).
            T.ok(2 <= syncs <= 4, "their 2,000 records took two fdatasyncs per batch (%d in "
                 "all), not one per record" % syncs)
        else:
            print("ok - # SKIP fdatasync count: strace is not installed")
        rc, out, err = salve(["audit", "verify", s.audit])
        T.ok(rc == 0 and "hash chain intact" in out, "the audit chain is intact", out + err)
    finally:
        if traced:
            os.kill(traced, signal.SIGTERM)
        s.stop()


# ---- F9: a label must not widen a remediation's reach -------------------------------------

def test_host_patterns():
    routes = """
  - name: strict
    matchers: ['alertname = "Disk"']
    runbook: kv.lua
    params: {key: "{{ labels.host }}"}
  - name: lists
    matchers: ['alertname = "Patch"']
    runbook: kv.lua
    params: {key: "{{ labels.hosts }}"}
    target: "{{ labels.hosts }}"
    allow_patterns: [key]
    max_targets: 3
    max_targets_window: 1h
"""
    s = Server("patterns", routes).start()
    try:
        for host in ("all", "*", "s*", "web1,web2", "db1 db2", "~web.*"):
            st, b = s.post_alerts([alert("Disk", {"host": host})])
            a = b["alerts"][0]
            T.ok(st == 200 and a["decision"] == "refused" and a["reason"] == "pattern" and
                 "labels.host is" in a["detail"] and "allow_patterns" in a["detail"],
                 "host label %r is refused (reason pattern)" % host, b)
        st, b = s.post_alerts([alert("Disk", {"host": "db1"})])
        T.eq(st, 202, "one host name starts a run")
        s.wait_run(first_run(b))
        recs = [r for r in audit_events(s, "alert") if r.get("reason") == "pattern"]
        T.eq(len(recs), 6, "every pattern refusal is audited")
        T.eq(s.metrics().get('salve_alerts_refused_total{route="strict",reason="pattern"}'),
             6.0, "and counted")
        # Blast radius counts hosts: a list of two is two of the route's three targets.
        st, b = s.post_alerts([alert("Patch", {"hosts": "web1,web2"})])
        T.eq(st, 202, "a list of two hosts (allow_patterns) starts a run")
        s.wait_run(first_run(b))
        st, b = s.post_alerts([alert("Patch", {"hosts": "web3,web4"})])
        a = b["alerts"][0]
        T.ok(a["reason"] == "blast_radius" and "(2 targets)" in a["detail"],
             "two more hosts would be four of max_targets 3: refused", b)
        st, b = s.post_alerts([alert("Patch", {"hosts": "web*"})])
        a = b["alerts"][0]
        T.ok(a["reason"] == "blast_radius" and "cannot count" in a["detail"],
             "a wildcard cannot be counted: refused under max_targets", b)
        st, b = s.post_alerts([alert("Patch", {"hosts": "all"})])
        T.eq(b["alerts"][0]["reason"], "blast_radius", "neither can all")
        st, b = s.post_alerts([alert("Patch", {"hosts": "web3"})])
        T.eq(st, 202, "a third host still fits")
        s.wait_run(first_run(b))
    finally:
        s.stop()


# ---- F10: nan, inf and hex durations are refused by serve --check ---------------------------

def test_durations():
    base = Server("durations", """
  - name: r
    matchers: ['alertname = "X"']
    runbook: kv.lua
    params: {key: x}
""")
    with open(base.config) as f:
        text = f.read()
    server_keys = ["connection_timeout", "lock_timeout", "approval_timeout",
                   "max_targets_window", "request_timeout", "shutdown_grace"]
    route_keys = ["cooldown", "max_targets_window"]
    # Plain YAML: nan, inf, .nan, .inf and 1e3 (a YAML real); quoted: the strings.
    bad = ["nan", "inf", ".nan", ".inf", "1e3", "-5s", '"0x10"', '"0x1p4"', '"1e3"',
           '"nan"', '"inf"']
    failures = []

    def refused(cfg, words):
        with open(base.config, "w") as f:
            f.write(cfg)
        rc, out, err = salve(["serve", "--check"], config=base.config, env=base.env)
        return rc == 65 and words in err, rc, err

    # Every key once, and every bad form at least once (the unit test takes all pairs).
    cases = [("server", k) for k in server_keys] + [("route", k) for k in route_keys]
    for i in range(max(len(cases), len(bad))):
        where, key = cases[i % len(cases)]
        v = bad[i % len(bad)]
        if where == "server":
            ok = refused(text.replace("server:\n", "server:\n  %s: %s\n" % (key, v), 1),
                         "server.%s: must be a duration" % key)
        else:
            ok = refused(text.replace("    params: {key: x}\n",
                                      "    params: {key: x}\n    %s: %s\n" % (key, v)),
                         "(r).%s: must be a duration" % key)
        if not ok[0]:
            failures.append((key, v, ok[1], ok[2]))
    for v in ["2/nan", "2/inf", "2/0x10", "0x2/1h", "2/1e3"]:
        ok = refused(text.replace("    params: {key: x}\n",
                                  "    params: {key: x}\n    rate_limit: %s\n" % v),
                     "(r).rate_limit: must be RUNS/DURATION")
        if not ok[0]:
            failures.append(("rate_limit", v, ok[1], ok[2]))
    T.eq(failures, [], "serve --check refuses nan, inf, hex, exponents and signs in every "
         "duration and rate (exit 65, naming the key)")
    with open(base.config, "w") as f:
        f.write(text.replace("    params: {key: x}\n", "    params: {key: x}\n    rate_limit: "
                             "2/1h30m\n    cooldown: 90s\n"))
    rc, out, err = salve(["serve", "--check"], config=base.config, env=base.env)
    T.eq(rc, 0, "the documented forms pass")


# ---- F11: nothing from an alert can forge a log line -------------------------------------

def test_log_forgery():
    routes = """
  - name: logged
    matchers: ['alertname = "Logged"']
    runbook: log-fail.lua
    params: {key: "{{ labels.key }}"}
    allow_patterns: [key]
"""
    s = Server("logforge", routes).start()
    fake = "salve: info: serve: run FAKE: success (exit 0)"
    try:
        # The label reaches the run's error message, which the server logs.
        st, b = s.post_alerts([alert("Logged", {"key": "x\n" + fake})])
        r1 = s.wait_run(first_run(b))
        # The fingerprint (generic hook) reaches the "run started" line.
        st, b = s.post_alerts({"labels": {"alertname": "Logged", "key": "y"},
                               "fingerprint": "f\n" + fake + "\x1b[2J\r"}, hook="generic")
        r2 = s.wait_run(first_run(b))
        T.ok(r1 and r2 and r1["outcome"] == "rolled_back" and r2["outcome"] == "rolled_back",
             "both runs ran and failed", [r1, r2])
    finally:
        s.stop()
    err = s.stderr()
    lines = err.splitlines()
    T.ok(not any(l.startswith("salve: info: serve: run FAKE") for l in lines),
         "no forged line in the server's log", err[-2000:])
    T.ok("no such thing: x\\n" + fake in err, "the label is there, escaped", err[-2000:])
    T.ok("alert f\\n" + fake + "\\x1b[2J\\r" in err, "the fingerprint too (ESC and CR)",
         err[-2000:])
    T.ok("\x1b" not in err and "\r" not in err, "no raw ESC or CR reaches the log")
    # salve routes test prints alert values to a terminal: escaped too.
    payload = os.path.join(s.dir, "forged.json")
    with open(payload, "w") as f:
        json.dump({"labels": {"alertname": "Logged\n" + fake, "key": "k\x1b[31m"},
                   "startsAt": "2026-11-22T02:52:22Z"}, f)
    rc, out, err = salve(["routes", "test", payload], config=s.config, env=s.env)
    T.ok(rc == 0 and "alert 1/1: Logged\\n" + fake in out and "\x1b" not in out and
         not any(l.startswith("salve: info") for l in out.splitlines()),
         "salve routes test escapes the alert's values", out + err)


def main():
    test_slowloris()
    test_bulk_requests()
    test_host_patterns()
    test_durations()
    test_log_forgery()
    test_forged_spool()
    test_state_dir_permissions()
    test_wedged_shutdown()
    return T.finish()


if __name__ == "__main__":
    raise SystemExit(main())
