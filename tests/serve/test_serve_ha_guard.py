#!/usr/bin/env python3
"""salve serve's guardrails shared through etcd (issue 14, "Shared guardrails"): a real
3-member etcd cluster (Debian's etcd-server, 127.0.0.1 only) and two real replicas.

Each guardrail is spent across replicas, not per replica: a route's rate limit (also when
both replicas are asked at the same instant), the circuit breaker (failures on a and b open
it for both; a reset on one closes it for both), the blast radius per route and per server,
the same-target cooldown after a run, and the memory of resolved occurrences (a stale
"firing" to b after a "resolved" to a starts nothing). The shared pause reaches alerts at
once and queued runs within the watcher's 0.25 s. Everything survives a restart of both
replicas (it is in etcd). A queued run older than server.stale_after is dropped, audited and
counted, and gives its claims back, whether it waited behind a paused server or in the spool
of a replica killed with -9. /healthz reports etcd (and says degraded without quorum)."""
import json
import os
import signal
import threading
import time

from serve_lib import (APPROVE_TOKEN, READ_TOKEN, Checks, Server, alert, salve, wait_for)
from test_serve_ha import all_finished, ha_yaml, run_starts, start_cluster

T = Checks()
PREFIX = "/salve-test"

ROUTES = """
  - name: rated
    matchers: ['alertname = "Rated"']
    runbook: kv.lua
    params: {key: "{{ labels.key }}"}
    cooldown: 0s
    rate_limit: 3/1h
  - name: burst
    matchers: ['alertname = "Burst"']
    runbook: kv.lua
    params: {key: "{{ labels.key }}"}
    cooldown: 0s
    rate_limit: 5/1h
  - name: breaker
    matchers: ['alertname = "Breaker"']
    runbook: fail.lua
    params: {key: "{{ labels.key }}"}
    cooldown: 0s
    circuit_breaker: 2
  - name: blast
    matchers: ['alertname = "Blast"']
    runbook: kv.lua
    params: {key: "{{ labels.key }}"}
    target: "{{ labels.host }}"
    cooldown: 0s
    max_targets: 2
    max_targets_window: 1h
  - name: cool
    matchers: ['alertname = "Cool"']
    runbook: kv.lua
    params: {key: "{{ labels.key }}"}
    target: "{{ labels.host }}"
    cooldown: 1h
  - name: resolving
    matchers: ['alertname = "Resolving"']
    runbook: kv.lua
    params: {key: "{{ labels.key }}"}
    cooldown: 0s
  - name: held
    matchers: ['alertname = "Held"']
    runbook: approve.lua
    params: {key: "{{ labels.key }}"}
    cooldown: 0s
    max_concurrent: 1
"""

# Runs start in milliseconds here: only the held route's queued runs wait 2 s.
SERVER = "  stale_after: 2s\n"

GLOBAL_ROUTES = """
  - name: one
    matchers: ['alertname = "One"']
    runbook: kv.lua
    params: {key: "{{ labels.key }}"}
    target: "{{ labels.host }}"
    cooldown: 0s
  - name: two
    matchers: ['alertname = "Two"']
    runbook: kv.lua
    params: {key: "{{ labels.key }}"}
    target: "{{ labels.host }}"
    cooldown: 0s
"""


def starts_of(route, *servers):
    return [r for r in run_starts(*servers) if queued_route(servers, r["run"]) == route]


def queued_route(servers, run_id):
    for s in servers:
        for r in s.audit_records():
            if r.get("event") == "alert" and r.get("run") == run_id and \
                    r.get("decision") == "queued":
                return r["route"]
    return None


def decisions(srv, route, key=None):
    return [r for r in srv.audit_records() if r.get("event") == "alert" and
            r.get("route") == route and (key is None or r["labels"].get("key") == key)]


def post(srv, name, labels, **kw):
    st, body = srv.post_alerts([alert(name, labels, **kw)])
    return st, body, (body or {}).get("alerts", [{}])[0]


def etcd_doc(etcd, key):
    v = etcd.get(PREFIX + key)
    return json.loads(v) if v else None


def claims_of(etcd, run_id):
    return [v for v in etcd.values(PREFIX + "/") if '"run":"%s"' % run_id in v]


def healthz(srv):
    st, body = srv.call("GET", "/healthz")
    return body if st == 200 else None


def test_rate(etcd, a, b):
    for i in range(3):
        st, body, d = post(a, "Rated", {"key": "rate-a%d" % i})
        T.ok(st == 202, "rated: alert %d to replica a runs" % i, body)
    for i in range(3):
        st, body, d = post(b, "Rated", {"key": "rate-b%d" % i})
        T.ok(st == 200 and d.get("reason") == "rate_limited" and
             "across replicas" in d.get("detail", ""),
             "rated: alert %d to replica b is refused, the route's 3/1h spent by a" % i, body)
    T.ok(wait_for("the runs to finish", lambda: all_finished(a, b), timeout=30), "finished")
    T.eq(len(starts_of("rated", a, b)), 3, "rate_limit 3/1h, 3 alerts to a and 3 to b: "
         "exactly 3 run_start records across both audit logs, not 6")
    refused = [r for r in decisions(b, "rated") if r["reason"] == "rate_limited"]
    T.eq(len(refused), 3, "b audited its 3 refusals (rate_limited)")
    doc = etcd_doc(etcd, "/windows/route/rated")
    T.ok(doc and len(doc["rate"]) == 3, "the route's window in etcd holds the 3 starts", doc)


def test_rate_concurrent(a, b):
    """Ten alerts at the same instant, five to each replica, on a 5/1h route: five runs."""
    barrier = threading.Barrier(10)
    answers = []
    lock = threading.Lock()

    def one(srv, i):
        conn = srv.conn()
        conn.connect()
        barrier.wait(timeout=10)
        got = srv.post_alerts([alert("Burst", {"key": "burst-%d" % i})], conn=conn)
        conn.close()
        with lock:
            answers.append(got)

    threads = [threading.Thread(target=one, args=((a, b)[i % 2], i)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    codes = sorted(st for st, _ in answers)
    T.eq(codes, [200] * 5 + [202] * 5, "burst: 10 simultaneous alerts on two replicas of a "
         "5/1h route: five 202, five 200")
    T.ok(wait_for("the runs to finish", lambda: all_finished(a, b), timeout=30), "finished")
    T.eq(len(starts_of("burst", a, b)), 5, "exactly 5 run_start records, never more")
    reasons = sorted(r["reason"] for s in (a, b) for r in decisions(s, "burst")
                     if r["decision"] == "refused")
    T.eq(reasons, ["rate_limited"] * 5, "the other 5 are audited rate_limited")
    retries = [s.metrics().get("salve_ha_decision_retries_total") for s in (a, b)]
    T.ok(all(r is not None for r in retries), "salve_ha_decision_retries_total is exported",
         retries)
    print("# decisions that took another transaction after a concurrent write: %r" % retries,
          flush=True)


def circuit(etcd):
    return etcd_doc(etcd, "/circuits/breaker") or {}


def test_circuit(etcd, a, b):
    st, body, d = post(a, "Breaker", {"key": "brk-1"})
    T.ok(st == 202, "breaker: a runs the first alert (its runbook fails)", body)
    T.ok(wait_for("one failure counted in etcd",
                  lambda: circuit(etcd).get("failures") == 1, timeout=30),
         "a's failed run is counted in the shared circuit", circuit(etcd))
    st, body, d = post(b, "Breaker", {"key": "brk-2"})
    T.ok(st == 202, "b runs the second alert (it fails too)", body)
    T.ok(wait_for("the circuit to open", lambda: circuit(etcd).get("open") is True,
                  timeout=30), "a failure on a and one on b open the circuit (breaker: 2)",
         circuit(etcd))
    for srv, name in ((a, "a"), (b, "b")):
        st, body, d = post(srv, "Breaker", {"key": "brk-3" + name})
        T.ok(st == 200 and d.get("reason") == "circuit_open" and
             "across replicas" in d.get("detail", ""),
             "replica %s refuses the route (circuit_open)" % name, body)
    opened = [r for s in (a, b) for r in s.audit_records() if r.get("event") == "circuit_open"]
    T.ok(len(opened) == 1 and opened[0]["shared"] is True and opened[0]["failures"] == 2,
         "circuit_open is audited once, by the replica whose run opened it", opened)
    T.eq(len(starts_of("breaker", a, b)), 2, "two runs started, no more")


def test_blast(a, b):
    st, body, d = post(a, "Blast", {"key": "bl-1", "host": "h1"})
    T.ok(st == 202, "blast: a acts on h1", body)
    st, body, d = post(b, "Blast", {"key": "bl-2", "host": "h2"})
    T.ok(st == 202, "b acts on h2", body)
    for srv, name in ((a, "a"), (b, "b")):
        st, body, d = post(srv, "Blast", {"key": "bl-3" + name, "host": "h3"})
        T.ok(st == 200 and d.get("reason") == "blast_radius" and
             d["detail"].startswith("the route already acted on 2 distinct targets in 3600 s "
                                    "across replicas"),
             "replica %s refuses a third target (max_targets: 2 across replicas)" % name, body)
    T.ok(wait_for("the runs to finish", lambda: all_finished(a, b), timeout=30), "finished")

    def again():
        st, body = b.post_alerts([alert("Blast", {"key": "bl-4", "host": "h1"})])
        return (st, body) if st == 202 or body["alerts"][0]["reason"] != "active" else None

    st, body = wait_for("h1's run to leave its target", again, timeout=20) or (None, None)
    T.ok(st == 202, "h1 again (on b) is no new target: it runs", body)
    T.ok(wait_for("the runs to finish", lambda: all_finished(a, b), timeout=30), "finished")
    T.eq(len(starts_of("blast", a, b)), 3, "three blast runs: h1, h2, h1 again")


def target_ended(etcd):
    for v in etcd.values(PREFIX + "/targets/"):
        doc = json.loads(v)
        if doc.get("ended_at") and doc.get("replica") == "a":
            return doc
    return None


def test_cooldown(etcd, a, b):
    st, body, d = post(a, "Cool", {"key": "cool-1", "host": "c1"})
    T.ok(st == 202, "cool: a acts on c1 (cooldown 1h)", body)
    run = body["runs"][0]
    ended = wait_for("a's run to end in etcd", lambda: target_ended(etcd), timeout=30)
    T.ok(ended and ended["run"] == run, "its target key in etcd says when it ended", ended)
    st, body, d = post(b, "Cool", {"key": "cool-2", "host": "c1"})
    T.ok(st == 200 and d.get("decision") == "deduplicated" and d.get("reason") == "cooldown"
         and d.get("run") == run and
         d["detail"].startswith("run %s on replica a for the same target ended at " % run),
         "another alert for c1 to b is deduplicated: cooling down after a's run", body)
    rec = decisions(b, "cool", "cool-2")
    T.ok(len(rec) == 1 and rec[0]["replica"] == "a" and rec[0]["run"] == run,
         "b audited it with a's run and replica", rec)


def test_cooldown_many(etcd, a):
    """Run ends are written by a thread of their own, those that ended together in one
    transaction: every one lands, each on its own target key."""
    before = healthz(a)["ha"]["run_ends"]
    hosts = ["many-%02d" % i for i in range(20)]
    st, body = a.post_alerts([alert("Cool", {"key": "k-" + h, "host": h}) for h in hosts])
    T.ok(st == 202 and len(body["runs"]) == 20, "cool: 20 targets at once", body)
    T.ok(wait_for("the runs to finish", lambda: all_finished(a), timeout=60), "finished")

    docs = wait_for("every run's end in etcd", lambda: (
        lambda d: d if len(d) == 20 else None)(ended_of(etcd, body["runs"])), timeout=30)
    T.ok(docs and sorted(d["run"] for d in docs) == sorted(body["runs"]),
         "each target key says when its own run ended", docs)
    after = healthz(a)["ha"]["run_ends"]
    T.ok(after["written"] - before["written"] == 20 and
         after["not_written"] == before["not_written"] and
         after["transactions"] - before["transactions"] <= 20,
         "/healthz counts 20 ends written, in at most 20 transactions (%d here)"
         % (after["transactions"] - before["transactions"]), (before, after))


def test_end_of_a_lost_target(etcd, a):
    """A run whose target key was taken from it (its lease lapsed, a peer claimed it) ends
    without writing over the peer's claim."""
    st, body, d = post(a, "Held", {"key": "lost-1"})
    run = body["runs"][0] if st == 202 else None
    T.ok(run and a.wait_run(run, states=("awaiting_approval",)), "a run waits for approval")
    keys = [k for k in etcd_keys(etcd, PREFIX + "/targets/")
            if '"run":"%s"' % run in (etcd.get(k) or "")]
    T.eq(len(keys), 1, "its target key is in etcd")
    foreign = json.dumps({"instance": "0" * 32, "replica": "z", "run": "f" * 32},
                         separators=(",", ":"))
    code, out = etcd.ctl("put", keys[0] if keys else PREFIX + "/targets/none", foreign)
    T.eq(code, 0, "a peer's claim replaces it (etcdctl put)")
    a.call("POST", "/runs/%s/approve" % run, {"by": "test"}, token=APPROVE_TOKEN)
    T.ok(a.wait_run(run), "the run ends")
    # Ends queued after this one are written after it: one more proves it was handled.
    st, body, d = post(a, "Cool", {"key": "after-lost", "host": "after-lost"})
    T.ok(st == 202 and wait_for("the next end in etcd",
                                lambda: ended_of(etcd, body["runs"]), timeout=30),
         "the end of a later run lands", body)
    T.eq(etcd.get(keys[0]) if keys else None, foreign, "the peer's claim is still there")


def ended_of(etcd, run_ids):
    """The target documents in etcd that say one of run_ids ended."""
    docs = [json.loads(v) for v in etcd.values(PREFIX + "/targets/")]
    return [d for d in docs if d.get("ended_at") and d.get("run") in run_ids]


def etcd_keys(etcd, prefix):
    code, out = etcd.ctl("get", prefix, "--prefix", "--keys-only")
    return [k for k in out.splitlines() if k.strip()]


def test_resolved(a, b):
    occ = {"key": "res-1"}
    st, body, d = post(a, "Resolving", occ, status="resolved")
    T.ok(st == 200 and d.get("decision") == "resolved", "a hears the occurrence resolve",
         body)
    st, body, d = post(b, "Resolving", occ)
    T.ok(st == 200 and d.get("decision") == "ignored" and d.get("reason") == "resolved" and
         not body["runs"],
         "a stale \"firing\" of it to b (an Alertmanager peer's) starts nothing", body)
    T.eq(len(starts_of("resolving", a, b)), 0, "no run of the resolved occurrence")
    st, body, d = post(b, "Resolving", occ, starts="2026-11-22T03:52:22.625Z")
    T.ok(st == 202, "a new occurrence (a new startsAt) runs", body)


def test_pause(etcd, a, b):
    """The shared pause reaches an alert's decision at once (it reads the key), not one
    watcher period later."""
    code, out, err = salve(["pause", "--reason", "guard test"], config=a.config, env=a.env)
    T.ok(code == 0, "salve pause with a's config", (code, out, err))
    t0 = time.monotonic()
    st, body, d = post(b, "Rated", {"key": "paused-1"})
    T.ok(st == 200 and d.get("reason") == "paused" and "every replica" in d.get("detail", ""),
         "the very next alert to b is refused paused", body)
    seen = wait_for("b's watcher to see the pause",
                    lambda: (healthz(b) or {}).get("ha", {}).get("shared_pause"), timeout=10)
    print("# b's workers saw the pause %.2f s after salve pause returned (bound: 0.25 s + one "
          "request)" % (time.monotonic() - t0), flush=True)
    T.ok(seen, "b's /healthz shows the shared pause")
    code, out, err = salve(["resume"], config=b.config, env=b.env)
    T.ok(code == 0 and wait_for("a to resume",
                                lambda: (healthz(a) or {}).get("ha", {}).get("shared_pause")
                                is False, timeout=10), "salve resume lifts it for both")


def test_stale_paused(etcd, a, b):
    """A run queued behind another (max_concurrent: 1) and held past stale_after while the
    servers are paused is dropped at resume, not run."""
    st, body, d = post(a, "Held", {"key": "held-1"})
    first = body["runs"][0] if st == 202 else None
    T.ok(first and a.wait_run(first, states=("awaiting_approval",)),
         "held: a's first run waits for approval (it holds the route's one slot)", body)
    st, body, d = post(a, "Held", {"key": "held-2"})
    second = body["runs"][0] if st == 202 else None
    T.ok(second and a.run(second)["state"] == "queued", "the second is queued behind it", body)
    T.ok(claims_of(etcd, second), "and holds its claims in etcd")
    time.sleep(2.2)  # older than stale_after (2 s) from here on: a condition, not a race
    code, out, err = salve(["pause"], config=a.config, env=a.env)
    T.ok(code == 0 and wait_for("a's watcher to see the pause",
                                lambda: (healthz(a) or {}).get("ha", {}).get("shared_pause"),
                                timeout=10), "the replicas are paused")
    st, _ = a.call("POST", "/runs/%s/deny" % first, {"by": "test"}, token=APPROVE_TOKEN)
    T.ok(st == 200 and a.wait_run(first), "the first run is denied and ends")
    T.eq(a.run(second)["state"], "queued", "paused: the second still waits in the queue")
    code, out, err = salve(["resume"], config=a.config, env=a.env)
    T.ok(code == 0, "resumed", (code, out, err))
    r = a.wait_run(second)
    T.ok(r and r["outcome"] == "cancelled" and "server.stale_after" in r["cancel_reason"],
         "resumed after the deadline: the queued run is dropped, not run", r)
    T.eq(a.kv("held-2-a"), None, "it changed nothing")
    # Audited once its claims are given back (a round trip after the run left the queue).
    recs = wait_for("run_dropped in a's audit log",
                    lambda: [x for x in a.audit_records() if x.get("event") == "run_dropped"],
                    timeout=20) or []
    T.ok(len(recs) == 1 and recs[0]["run"] == second and recs[0]["reason"] == "stale" and
         recs[0]["age_seconds"] >= 2 and recs[0]["stale_after_seconds"] == 2 and
         recs[0]["claims"] == "given back" and "accepted" in recs[0]["detail"],
         "run_dropped is audited: reason stale, how old it was, claims given back", recs)
    T.ok(not [x for x in a.audit_records() if x.get("event") == "run_start" and
              x.get("run") == second], "no run_start for it")
    T.eq(a.metrics().get('salve_runs_dropped_total{route="held",reason="stale"}'), 1.0,
         "counted in salve_runs_dropped_total")
    T.eq(claims_of(etcd, second), [], "its claims are gone from etcd")
    st, body, d = post(b, "Held", {"key": "held-2"})
    T.ok(st == 202, "so Alertmanager's next notification of it runs (here on b)", body)
    if st == 202:
        rid = body["runs"][0]
        b.wait_run(rid, states=("awaiting_approval",))
        b.call("POST", "/runs/%s/deny" % rid, {"by": "test"}, token=APPROVE_TOKEN)
        b.wait_run(rid)


def test_cancel_gives_back(etcd, a):
    """A queued run cancelled through the API gives its claims back (a peer may run the
    alert, or another for its target, at once)."""
    st, body, d = post(a, "Held", {"key": "held-5"})
    first = body["runs"][0] if st == 202 else None
    T.ok(first and a.wait_run(first, states=("awaiting_approval",)), "a run holds the slot")
    st, body, d = post(a, "Held", {"key": "held-6"})
    second = body["runs"][0] if st == 202 else None
    T.ok(second and claims_of(etcd, second), "a second is queued, its claims in etcd", body)
    st, out = a.call("POST", "/runs/%s/cancel" % second, {"by": "test"}, token=APPROVE_TOKEN)
    T.ok(st == 200, "POST /runs/ID/cancel of the queued run", out)
    T.eq(claims_of(etcd, second), [], "its claims are gone from etcd")
    rec = [x for x in a.audit_records() if x.get("event") == "run_cancelled" and
           x.get("run") == second]
    T.ok(len(rec) == 1 and rec[0]["claims"] == "given back",
         "run_cancelled says its claims were given back", rec)
    a.call("POST", "/runs/%s/deny" % first, {"by": "test"}, token=APPROVE_TOKEN)
    T.ok(a.wait_run(first), "the first ends (denied)")


def test_stale_spooled(etcd, a):
    """A run accepted and spooled by a replica killed with -9, restarted after the
    deadline: dropped at the restart, audited, its claims given back."""
    st, body, d = post(a, "Held", {"key": "held-3"})
    first = body["runs"][0] if st == 202 else None
    T.ok(first and a.wait_run(first, states=("awaiting_approval",)), "a run holds the slot")
    st, body, d = post(a, "Held", {"key": "held-4"})
    second = body["runs"][0] if st == 202 else None
    T.ok(second and claims_of(etcd, second), "a second is queued and spooled", body)
    a.stop(signal.SIGKILL)
    time.sleep(2.2)
    return second


def test_after_restart(etcd, a, b, spooled):
    """Both replicas restarted: what etcd holds decides as before."""
    st, body, d = post(b, "Rated", {"key": "rate-after"})
    T.ok(st == 200 and d.get("reason") == "rate_limited",
         "after a restart of both replicas the rate limit is still spent", body)
    st, body, d = post(a, "Breaker", {"key": "brk-after"})
    T.ok(st == 200 and d.get("reason") == "circuit_open", "the circuit is still open", body)
    st, body, d = post(a, "Blast", {"key": "bl-after", "host": "h9"})
    T.ok(st == 200 and d.get("reason") == "blast_radius", "the blast radius is still full",
         body)
    # To b: its own dedup table never saw c1 nor res-1 (a's did, and reloads it).
    st, body, d = post(b, "Cool", {"key": "cool-after", "host": "c1"})
    T.ok(st == 200 and d.get("reason") == "cooldown" and
         "on replica a for the same target" in d.get("detail", ""),
         "c1 still cools down after a's run (of a's previous process)", body)
    st, body, d = post(b, "Resolving", {"key": "res-1"})
    T.ok(st == 200 and d.get("reason") == "resolved", "the resolved occurrence is remembered",
         body)
    drop = [x for x in a.audit_records() if x.get("event") == "run_dropped" and
            x.get("run") == spooled]
    T.ok(len(drop) == 1 and drop[0]["state"] == "spooled" and drop[0]["reason"] == "stale"
         and "restart" in drop[0]["detail"] and drop[0]["claims"] == "given back",
         "the spooled run older than stale_after is dropped at the restart, audited", drop)
    T.eq(claims_of(etcd, spooled), [], "and its claims are gone from etcd")
    T.ok(not os.listdir(os.path.join(a.state, "serve", "queue")), "its spool file is gone")
    T.eq(a.metrics().get('salve_runs_dropped_total{route="held",reason="stale"}'), 1.0,
         "counted in the restarted replica's metrics")
    T.eq(len(starts_of("rated", a, b)) + len(starts_of("breaker", a, b)), 5,
         "nothing ran after the restart")
    code, out, err = salve(["routes", "reset", "breaker"], config=b.config, env=b.env)
    T.ok(code == 0 and "closed" in out and etcd_doc(etcd, "/circuits/breaker") is None,
         "salve routes reset with b's config closes the shared circuit", (code, out, err))
    st, body, d = post(a, "Breaker", {"key": "brk-reset"})
    T.ok(st == 202, "and a runs the route again", body)
    T.ok(wait_for("the runs to finish", lambda: all_finished(a, b), timeout=30), "finished")


def test_healthz(etcd, a):
    h = healthz(a)
    T.ok(h and h["status"] == "ok" and h["ha"]["etcd"] == "reachable" and
         h["ha"]["replica"] == "a" and h["ha"]["leases"]["granted"] >= 1 and
         h["ha"]["decisions"]["total"] >= 1,
         "/healthz reports etcd reachable, leases granted and decisions taken", h)
    etcd.kill(0)
    etcd.kill(1)
    st, body = a.post_alerts([alert("Rated", {"key": "no-quorum"})])
    T.ok(st == 503 and body["alerts"][0]["reason"] == "ha_unavailable",
         "quorum lost: 503 ha_unavailable", body)
    h = wait_for("/healthz to say etcd is unreachable",
                 lambda: (lambda x: x if x and x["ha"]["etcd"] == "unreachable" else None)(
                     healthz(a)), timeout=30)
    T.ok(h and h["status"] == "degraded" and h["ha"]["last_error"] and
         h["ha"]["last_error_seconds_ago"] is not None,
         "/healthz: degraded, etcd unreachable, with the last error", h)
    t0 = time.monotonic()
    answered = [healthz(a) is not None for _ in range(5)]
    print("# 5 /healthz without quorum took %.3f s (the handler never asks etcd)"
          % (time.monotonic() - t0), flush=True)
    T.ok(all(answered), "and it answers while etcd does not")


def test_server_blast(etcd):
    """server.max_targets across replicas and routes."""
    top = lambda name: ha_yaml(etcd, name).replace(PREFIX, "/salve-global")
    g1 = Server("ha-g1", GLOBAL_ROUTES, server_yaml="  max_targets: 2\n",
                top_yaml=top("g1")).start()
    g2 = Server("ha-g2", GLOBAL_ROUTES, server_yaml="  max_targets: 2\n",
                top_yaml=top("g2")).start()
    try:
        st, body, d = post(g1, "One", {"key": "g-1", "host": "x1"})
        T.ok(st == 202, "server blast radius: g1 acts on x1 (route one)", body)
        st, body, d = post(g2, "Two", {"key": "g-2", "host": "x2"})
        T.ok(st == 202, "g2 acts on x2 (route two)", body)
        st, body, d = post(g1, "One", {"key": "g-3", "host": "x3"})
        T.ok(st == 200 and d.get("reason") == "blast_radius" and
             d["detail"].startswith("the server already acted on 2 distinct targets in "
                                    "3600 s across replicas"),
             "a third target is refused (server.max_targets: 2, across replicas)", body)
        T.ok(wait_for("the runs to finish", lambda: all_finished(g1, g2), timeout=30),
             "finished")
        T.eq(len(run_starts(g1, g2)), 2, "two runs")
    finally:
        T.eq(g1.stop(), 0, "g1 stops cleanly")
        T.eq(g2.stop(), 0, "g2 stops cleanly")


def main():
    etcd = start_cluster(T)
    if not etcd:
        return T.finish() or 1
    a = Server("ha-ga", ROUTES, server_yaml=SERVER, top_yaml=ha_yaml(etcd, "a")).start()
    b = Server("ha-gb", ROUTES, server_yaml=SERVER, top_yaml=ha_yaml(etcd, "b")).start()
    try:
        test_rate(etcd, a, b)
        test_rate_concurrent(a, b)
        test_circuit(etcd, a, b)
        test_blast(a, b)
        test_cooldown(etcd, a, b)
        test_cooldown_many(etcd, a)
        test_end_of_a_lost_target(etcd, a)
        test_resolved(a, b)
        test_pause(etcd, a, b)
        test_stale_paused(etcd, a, b)
        test_cancel_gives_back(etcd, a)
        test_server_blast(etcd)
        spooled = test_stale_spooled(etcd, a)
        T.eq(b.stop(), 0, "replica b stops cleanly")
        a.start()
        b.start()
        test_after_restart(etcd, a, b, spooled)
        test_healthz(etcd, a)
    finally:
        T.eq(a.stop(), 0, "replica a stops cleanly")
        T.eq(b.stop(), 0, "replica b stops cleanly")
    return T.finish()


if __name__ == "__main__":
    raise SystemExit(main())
