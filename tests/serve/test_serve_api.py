#!/usr/bin/env python3
"""salve serve over real HTTP on loopback: auth, limits, routing, dedup, guardrails,
approvals, the queue and its spool, pause, metrics, TLS and the routes/pause commands.
The runbooks use the testkit plugin, whose key/value store the checks read directly."""
import http.client
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time

from serve_lib import (APPROVE_TOKEN, HOOK_TOKEN, READ_TOKEN, RUNBOOKS, FIXTURES, Checks, Server,
                       alert, salve, tmpdir, wait_for)

T = Checks()

MAIN_ROUTES = """
  - name: storm
    matchers: ['alertname = "Storm"']
    runbook: kv.lua
    params: {key: "storm-{{ labels.deployment }}", value: "{{ labels.pod | default \\"none\\" }}"}
    target: "{{ labels.namespace }}/{{ labels.deployment }}"
    cooldown: 10m
  - name: approve
    matchers: ['alertname = "NeedsApproval"']
    runbook: approve.lua
    params: {key: "{{ labels.key }}"}
    on_resolved: cancel
  - name: approve-short
    matchers: ['alertname = "ShortApproval"']
    runbook: approve-short.lua
    params: {key: "{{ labels.key }}"}
  - name: breaker
    matchers: ['alertname = "Broken"']
    runbook: fail.lua
    params: {key: "{{ labels.key }}"}
    circuit_breaker: 2
    cooldown: 0s
  - name: limited
    matchers: ['alertname = "Limited"']
    runbook: kv.lua
    params: {key: "lim-{{ labels.key }}"}
    rate_limit: 2/1h
  - name: blast
    matchers: ['alertname = "Blast"']
    runbook: kv.lua
    params: {key: "blast-{{ labels.key }}"}
    max_targets: 2
    max_targets_window: 1h
  - name: twice-first
    matchers: ['alertname = "Twice"']
    continue: true
    runbook: kv.lua
    params: {key: "twice-a"}
  - name: twice-second
    matchers: ['alertname = "Twice"']
    runbook: kv.lua
    params: {key: "twice-b"}
  - name: needs-deployment
    matchers: ['alertname = "NoDeployment"']
    runbook: kv.lua
    params: {key: "{{ labels.deployment }}"}
  - name: resolver
    matchers: ['alertname = "Resolves"']
    runbook: kv.lua
    params: {key: "res-{{ labels.key }}", value: firing}
    on_resolved: {runbook: kv.lua, params: {key: "res-{{ labels.key }}", value: resolved}}
  - name: serial
    matchers: ['alertname = "Serial"']
    runbook: approve.lua
    params: {key: "{{ labels.key }}"}
    max_concurrent: 1
  - name: dry
    matchers: ['alertname = "Dry"', 'severity =~ "crit.*"']
    runbook: kv.lua
    dry_run: true
    params: {key: "dry-{{ labels.key }}"}
"""
MAIN_SERVER = "  workers: 3\n  queue_size: 64\n  max_body: 64KiB\n  max_json_depth: 16\n"


def runs_of(srv, route):
    status, body = srv.call("GET", "/runs?route=%s&limit=1000" % route, token=READ_TOKEN)
    return body["runs"] if status == 200 else []


def first_run(resp):
    runs = resp.get("runs") if resp else None
    return runs[0] if runs else None


def test_auth(s):
    a = [alert("Unrouted", {"x": "1"})]
    status, headers, body = s.request("POST", "/hooks/alertmanager",
                                      json.dumps({"version": "4", "alerts": a}))
    T.eq(status, 401, "hook without a token: 401")
    T.ok("bearer" in headers.get("www-authenticate", "").lower(), "401 names the Bearer scheme")
    T.ok("missing bearer token" in body, "401 says the token is missing", body)
    T.eq(s.post_alerts(a, token="not-the-token-at-all")[0], 401, "hook with a wrong token: 401")
    T.eq(s.post_alerts(a, token=HOOK_TOKEN[:-1])[0], 401, "hook with a token one char short: 401")
    st, b = s.post_alerts(a, token=READ_TOKEN)
    T.eq(st, 403, "hook with the read token: 403")
    T.ok(b and "read rights" in b["error"], "403 names the token's rights", b)
    T.eq(s.call("GET", "/runs")[0], 401, "GET /runs without a token: 401")
    T.eq(s.call("GET", "/runs", token=HOOK_TOKEN)[0], 403, "GET /runs with the hooks token: 403")
    T.eq(s.call("GET", "/runs", token=READ_TOKEN)[0], 200, "GET /runs with the read token: 200")
    T.eq(s.call("GET", "/runs", token=APPROVE_TOKEN)[0], 200,
         "GET /runs with the approve token: 200")
    T.eq(s.request("GET", "/metrics")[0], 401, "GET /metrics without a token: 401")
    st, h = s.call("GET", "/healthz")
    T.ok(st == 200 and h["status"] == "ok", "GET /healthz needs no token", h)
    T.eq(s.call("POST", "/pause", {}, token=READ_TOKEN)[0], 403, "POST /pause with read: 403")
    T.eq(s.call("GET", "/nowhere", token=READ_TOKEN)[0], 404, "unknown path: 404")
    status, headers, _ = s.request("GET", "/hooks/alertmanager", token=HOOK_TOKEN)
    T.ok(status == 405 and headers.get("allow") == "POST", "GET on a hook: 405 Allow: POST")
    recs = [r for r in s.audit_records() if r.get("event") == "alert"]
    T.eq(len(recs), 0, "refused requests reach no routing (nothing audited as an alert)")
    log = open(s.audit).read() + s.stderr()
    T.ok(HOOK_TOKEN not in log and READ_TOKEN not in log and APPROVE_TOKEN not in log,
         "no token appears in the audit log or the server's output")


def test_bad_requests(s):
    st, b = s.call("POST", "/hooks/alertmanager", '{"version": "4", "alerts": [', token=HOOK_TOKEN)
    T.eq(st, 400, "malformed JSON: 400")
    T.ok(b and b["error"].startswith("invalid JSON at line 1 column"), "400 says where", b)
    deep = "[" * 20 + "]" * 20
    st, b = s.call("POST", "/hooks/alertmanager", deep, token=HOOK_TOKEN)
    T.ok(st == 400 and "nested 20 levels deep; at most 16" in b["error"],
         "JSON deeper than max_json_depth: 400", b)
    st, b = s.call("POST", "/hooks/alertmanager", {"version": "4"}, token=HOOK_TOKEN)
    T.ok(st == 400 and b["error"] == "alerts: must be an array (missing)",
         "payload without alerts: 400 naming the field", b)
    st, b = s.call("POST", "/hooks/alertmanager",
                   {"alerts": [{"labels": {"alertname": 5}}]}, token=HOOK_TOKEN)
    T.ok(st == 400 and "alerts[0].labels.alertname: must be a string" in b["error"],
         "label of the wrong type: 400 naming it", b)
    st, b = s.call("POST", "/hooks/alertmanager", "", token=HOOK_TOKEN)
    T.ok(st == 400 and "empty body" in b["error"], "empty body: 400", b)
    big = json.dumps({"version": "4", "alerts": [alert("Big", {"pad": "x" * 70000})]})
    st, headers, text = s.request("POST", "/hooks/alertmanager", big, token=HOOK_TOKEN)
    T.ok(st == 413 and "at most 65536" in text, "70 KB body (Content-Length): 413", text)
    # Chunked, so the server only learns the size while reading.
    c = s.conn()
    c.putrequest("POST", "/hooks/alertmanager")
    c.putheader("Authorization", "Bearer " + HOOK_TOKEN)
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    for i in range(0, len(big), 8192):
        part = big[i:i + 8192].encode()
        c.send(b"%x\r\n%s\r\n" % (len(part), part))
    c.send(b"0\r\n\r\n")
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    T.ok(r.status == 413 and "larger than server.max_body" in text,
         "70 KB chunked body: 413", "%d %s" % (r.status, text))
    raw = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n")
    head = raw.recv(200)
    raw.close()
    T.ok(head.startswith(b"HTTP/1.1 431"), "40 KB of headers (max_header 32 KiB): 431", head)
    st, b = s.post_alerts([alert("Unrouted", {"x": "after"})])
    T.eq(st, 200, "the server still answers after the refusals")


def test_unmatched_and_generic(s):
    st, b = s.post_alerts([alert("NobodyRoutesThis", {"instance": "db1"})])
    T.eq(st, 200, "an alert no route matches: 200")
    T.ok(b["alerts"][0]["decision"] == "unmatched" and b["runs"] == [],
         "answered as unmatched with no run", b)
    fp = b["alerts"][0]["fingerprint"]
    recs = [r for r in s.audit_records()
            if r.get("event") == "alert" and r.get("fingerprint") == fp]
    T.ok(len(recs) == 1 and recs[0]["decision"] == "unmatched" and
         recs[0]["labels"]["instance"] == "db1", "the unmatched alert is audited", recs)
    st, b = s.post_alerts({"labels": {"alertname": "Twice"}, "annotations": {"s": "x"}},
                          hook="generic")
    T.eq(st, 202, "generic hook: 202 when runs start")
    T.ok([a["route"] for a in b["alerts"]] == ["twice-first", "twice-second"] and
         len(b["runs"]) == 2, "continue: true lets the next route match too", b)
    for rid in b["runs"]:
        T.ok(s.wait_run(rid), "run %s of the continue pair finished" % rid[:8])
    T.ok(s.kv("twice-a") == "on" and s.kv("twice-b") == "on", "both routes' runbooks ran")


def test_storm(s):
    conn = s.conn()
    statuses = {}
    first = None
    t0 = time.monotonic()
    for i in range(1000):
        # Half the storm repeats one alert; the other half are other pods of the same
        # Deployment (other fingerprints, the same target).
        labels = {"namespace": "shop", "deployment": "web",
                  "pod": "web-0" if i < 500 else "web-%d" % i}
        st, b = s.post_alerts([alert("Storm", labels)], conn=conn)
        statuses[st] = statuses.get(st, 0) + 1
        if st == 202 and first is None:
            first = b["runs"][0]
    conn.close()
    print("# 1000 storm requests in %.2f s" % (time.monotonic() - t0))
    T.eq(statuses, {202: 1, 200: 999}, "1,000 alerts for one target: one 202, 999 x 200")
    T.ok(first and s.wait_run(first), "the storm's one run finished")
    T.eq(len(runs_of(s, "storm")), 1, "exactly one run for the storm route")
    T.eq(s.kv("storm-web"), "web-0", "the run got the first alert's params")
    recs = [r for r in s.audit_records() if r.get("event") == "alert" and r.get("route") == "storm"]
    decisions = {}
    for r in recs:
        decisions[r["decision"]] = decisions.get(r["decision"], 0) + 1
    T.eq(decisions, {"queued": 1, "deduplicated": 999}, "every storm alert is audited")
    reasons = sorted({(r.get("detail") or "").split(" is already active ")[-1]
                      for r in recs if r["decision"] == "deduplicated"})
    T.ok(any("this alert" in (r.get("detail") or "") for r in recs) and
         any("the same target" in (r.get("detail") or "") for r in recs),
         "dedup names both reasons (same alert, same target)", reasons)
    m = s.metrics()
    T.eq(m.get('salve_alerts_deduplicated_total{route="storm"}'), 999.0,
         "metrics: 999 deduplicated on the storm route")


def test_guardrails(s):
    runs = []
    decisions = []
    for k in ("a", "b", "c"):
        st, b = s.post_alerts([alert("Limited", {"key": k})])
        decisions.append((st, b["alerts"][0]["decision"], b["alerts"][0].get("reason")))
        runs += b["runs"]
    T.eq(decisions, [(202, "queued", None), (202, "queued", None),
                     (200, "refused", "rate_limited")], "rate_limit 2/1h: the third is refused")
    decisions = []
    for k in ("a", "b", "c", "a"):
        st, b = s.post_alerts([alert("Blast", {"key": k}, starts="2026-11-22T05:00:00Z")])
        decisions.append((b["alerts"][0]["decision"], b["alerts"][0].get("reason")))
        runs += b["runs"]
    T.eq(decisions[:3], [("queued", None), ("queued", None), ("refused", "blast_radius")],
         "max_targets 2: a third target is refused")
    T.eq(decisions[3][0], "deduplicated", "the first target again is a duplicate, not a refusal")
    st, b = s.post_alerts([alert("NoDeployment", {"namespace": "x"})])
    T.ok(st == 200 and b["alerts"][0]["reason"] == "template" and
         "labels.deployment is not set on the alert" in b["alerts"][0]["detail"],
         "a template the alert cannot fill: refused with the label named", b)
    for rid in runs:
        s.wait_run(rid)
    recs = [r for r in s.audit_records() if r.get("event") == "alert" and
            r.get("decision") == "refused"]
    T.ok({r["reason"] for r in recs} >= {"rate_limited", "blast_radius", "template"},
         "every refusal is audited with its reason", [r["reason"] for r in recs])
    m = s.metrics()
    T.eq(m.get('salve_alerts_refused_total{route="limited",reason="rate_limited"}'), 1.0,
         "metrics: one rate_limited refusal")
    T.eq(m.get('salve_alerts_refused_total{route="blast",reason="blast_radius"}'), 1.0,
         "metrics: one blast_radius refusal")


def test_breaker(s):
    ids = []
    for k in ("k1", "k2"):
        st, b = s.post_alerts([alert("Broken", {"key": k})])
        ids += b["runs"]
        r = s.wait_run(b["runs"][0])
        T.ok(r and r["outcome"] == "rolled_back" and "broken on purpose" in r.get("error", ""),
             "failing run %s rolls back" % k, r)
    T.eq(s.kv("k1"), None, "the failed run's change was rolled back")
    st, body = s.call("GET", "/routes", token=READ_TOKEN)
    route = [r for r in body["routes"] if r["name"] == "breaker"][0]
    T.ok(route["circuit_open"] and route["consecutive_failures"] == 2,
         "after 2 failed runs in a row the circuit is open", route)
    T.eq(s.metrics().get('salve_route_circuit_open{route="breaker"}'), 1.0,
         "metrics: circuit open")
    st, b = s.post_alerts([alert("Broken", {"key": "k3"})])
    T.ok(st == 200 and b["alerts"][0]["reason"] == "circuit_open" and not b["runs"],
         "an alert for an open route is refused (circuit_open)", b)
    rc, out, err = salve(["routes", "reset", "breaker"], config=s.config)
    T.ok(rc == 0 and "circuit closed" in out, "salve routes reset closes it", out + err)
    rc, out, err = salve(["routes", "list", "--json"], config=s.config)
    listed = [r for r in json.loads(out)["routes"] if r["name"] == "breaker"][0]
    T.eq(listed["circuit"], None, "salve routes list shows it closed")
    st, b = s.post_alerts([alert("Broken", {"key": "k4"})])
    T.ok(st == 202 and b["runs"], "after the reset alerts start runs again", b)
    s.wait_run(b["runs"][0])
    st, b = s.post_alerts([alert("Broken", {"key": "k5"})])
    s.wait_run(b["runs"][0])
    st, b = s.post_alerts([alert("Broken", {"key": "k6"})])
    T.eq(b["alerts"][0].get("reason"), "circuit_open", "two more failures open it again")
    st, b = s.call("POST", "/routes/breaker/reset", {"by": "carol"}, token=APPROVE_TOKEN)
    T.ok(st == 200 and b["was_open"] is True, "POST /routes/breaker/reset closes it", b)
    st, b = s.post_alerts([alert("Broken", {"key": "k7"})])
    T.eq(st, 202, "accepted again after the API reset")
    s.wait_run(b["runs"][0])
    recs = [r for r in s.audit_records() if r.get("event") in ("circuit_open", "circuit_reset")]
    T.eq([(r["event"], r.get("via")) for r in recs],
         [("circuit_open", None), ("circuit_reset", "cli"), ("circuit_open", None),
          ("circuit_reset", "api")], "opening and resets are audited")


def wait_awaiting(s, rid):
    return s.wait_run(rid, states=("awaiting_approval",))


# What only the engine's summary knows; every other field of a step comes from the engine's
# events, during the run and after it.
SUMMARY_ONLY = {"custom_rollback", "rollback_disabled", "changes", "verify"}


def step_drift(during, after, moved=()):
    """How the steps seen while a run waited differ from the same steps after it. A step that
    had ended then must show every field with the same value (but state and outcome for the
    steps in moved, which a rollback changes) and add only SUMMARY_ONLY fields; a step in
    progress then keeps its name, index and start. [] when nothing drifted."""
    drift = []
    if [x["name"] for x in during] != [x["name"] for x in after][:len(during)]:
        return ["steps %s became %s" % ([x["name"] for x in during],
                                        [x["name"] for x in after])]
    for then, now in zip(during, after):
        in_progress = then.get("state") in ("running", "awaiting_approval")
        keys = ("name", "index", "started_at") if in_progress else then.keys()
        for k in keys:
            if now.get(k) != then.get(k) and not (then["name"] in moved and
                                                  k in ("state", "outcome")):
                drift.append("%s.%s: %r then, %r after" % (then["name"], k, then.get(k),
                                                           now.get(k)))
        if not in_progress:
            drift += ["%s.%s added after the run" % (then["name"], k)
                      for k in sorted(set(now) - set(then) - SUMMARY_ONLY)]
    return drift


def test_approvals(s):
    st, b = s.post_alerts([alert("NeedsApproval", {"key": "ap1"})])
    rid = first_run(b)
    r = wait_awaiting(s, rid)
    T.ok(r and r["approval"]["step"] == "risky" and r["approval"]["state"] == "pending",
         "the run waits for approval of step risky", r)
    during = r["steps"] if r else []
    T.eq([(x["name"], x["index"], x["state"]) for x in during],
         [("prepare", 1, "changed"), ("risky", 2, "awaiting_approval")],
         "while it waits: the first step changed, the second awaits approval")
    T.ok(during and during[0].get("outcome") == "changed" and "duration_ms" in during[0] and
         [(a["plugin"], a["action"], a["outcome"]) for a in during[0].get("actions", [])] ==
         [("testkit", "set", "changed")],
         "the finished step shows its outcome, duration and actions while the run goes on",
         during)
    T.eq(s.kv("ap1-a"), "1", "the step before the approval ran")
    T.eq(s.kv("ap1-b"), None, "the step needing approval did not run")
    T.eq(s.metrics().get("salve_runs_awaiting_approval"), 1.0, "metrics: one run waiting")
    T.eq(s.call("POST", "/runs/%s/approve" % rid, {})[0], 401, "approve without a token: 401")
    T.eq(s.call("POST", "/runs/%s/approve" % rid, {}, token=READ_TOKEN)[0], 403,
         "approve with the read token: 403")
    st, b = s.call("POST", "/runs/%s/approve" % rid, {"step": "prepare"}, token=APPROVE_TOKEN)
    T.eq(st, 409, "approving another step than the waiting one: 409")
    st, b = s.call("POST", "/runs/%s/approve" % rid, {"by": "alice", "comment": "go"},
                   token=APPROVE_TOKEN)
    T.ok(st == 200 and b["decision"] == "approve" and b["step"] == "risky", "approved", b)
    r = s.wait_run(rid)
    T.ok(r and r["outcome"] == "success", "the approved run finished", r)
    T.eq(step_drift(during, r["steps"] if r else []), [],
         "GET /runs/ID shows the same steps after the run as during it")
    T.ok(r and r["steps"][1]["state"] == "changed" and
         r["steps"][1]["approval"] == {"outcome": "approved", "reason": "approved by alice: go"},
         "the approved step ran, with its approval", r)
    T.eq(s.kv("ap1-b"), "1", "the approved step ran")
    st, b = s.call("POST", "/runs/%s/approve" % rid, {}, token=APPROVE_TOKEN)
    T.eq(st, 409, "approving a finished run: 409")
    engine = [x for x in s.audit_records() if x.get("run") == rid and x.get("event") == "approval"]
    T.ok(engine and engine[0]["outcome"] == "approved" and engine[0]["reason"] ==
         "approved by alice: go", "the engine audited who approved", engine)

    st, b = s.post_alerts([alert("NeedsApproval", {"key": "ap2"})])
    rid = first_run(b)
    during = (wait_awaiting(s, rid) or {}).get("steps", [])
    st, b = s.call("POST", "/runs/%s/deny" % rid, {"by": "bob", "comment": "not now"},
                   token=APPROVE_TOKEN)
    T.eq(st, 200, "denied")
    r = s.wait_run(rid)
    T.ok(r and r["outcome"] == "rolled_back" and r["approval"]["state"] == "denied",
         "a denied run rolls back", r)
    T.ok(s.kv("ap2-a") is None and s.kv("ap2-b") is None,
         "deny undid the step that ran before the approval")
    T.eq(step_drift(during, r["steps"] if r else [], moved=("prepare",)), [],
         "after the rollback the steps are those shown during the run, further along")
    T.eq([(x["name"], x["state"], x["outcome"]) for x in (r or {}).get("steps", [])],
         [("prepare", "rolled_back", "rolled_back"), ("risky", "failed", "failed")],
         "the step that changed things is rolled back, the denied one failed")

    st, b = s.post_alerts([alert("ShortApproval", {"key": "ap3"})])
    rid = first_run(b)
    r = s.wait_run(rid, timeout=30)
    T.ok(r and r["outcome"] == "rolled_back" and r["approval"]["state"] == "timeout",
         "an approval nobody answers times out and rolls back", r)
    T.eq(s.kv("ap3-a"), None, "the timeout undid the first step")
    steps = {x["name"]: x["state"] for x in r["steps"]} if r else {}
    T.eq(steps, {"prepare": "rolled_back", "risky": "failed"}, "step outcomes after the timeout")

    # The alert resolves while its run waits: on_resolved: cancel.
    a = alert("NeedsApproval", {"key": "ap4"}, starts="2026-11-22T04:00:00.5Z")
    st, b = s.post_alerts([a])
    rid = first_run(b)
    wait_awaiting(s, rid)
    resolved = dict(a, status="resolved", endsAt="2026-11-22T04:05:00Z",
                    startsAt="2026-11-22T04:00:00.500000000Z")
    st, b = s.post_alerts([resolved])
    T.ok(st == 200 and b["alerts"][0]["decision"] == "cancelled" and
         b["alerts"][0]["run"] == rid, "the resolved notification cancels the waiting run", b)
    r = s.wait_run(rid)
    T.ok(r and r["outcome"] == "rolled_back" and "resolved" in r.get("cancel_reason", ""),
         "the cancelled run rolled back, saying why", r)
    T.eq(s.kv("ap4-a"), None, "its first step was undone")
    st, body = s.call("GET", "/routes", token=READ_TOKEN)
    route = [x for x in body["routes"] if x["name"] == "approve"][0]
    T.eq(route["consecutive_failures"], 0, "deny and cancel do not count for the breaker")


def test_max_concurrent(s):
    st, b1 = s.post_alerts([alert("Serial", {"key": "s1"})])
    st, b2 = s.post_alerts([alert("Serial", {"key": "s2"})])
    r1, r2 = first_run(b1), first_run(b2)
    s.wait_run(r1, states=("awaiting_approval",))
    time.sleep(0.3)  # give a free worker every chance to take s2 (it must not)
    T.eq(s.run(r2)["state"], "queued", "max_concurrent 1: the second run waits in the queue")
    s.call("POST", "/runs/%s/approve" % r1, {}, token=APPROVE_TOKEN)
    T.ok(s.wait_run(r2, states=("awaiting_approval",)), "it starts when the first finishes")
    T.eq(s.run(r1)["state"], "finished", "by then the first has finished")
    s.call("POST", "/runs/%s/approve" % r2, {}, token=APPROVE_TOKEN)
    T.ok(s.wait_run(r2), "and finishes after its approval")


def test_resolved_runbook_and_dry_run(s):
    a = alert("Resolves", {"key": "x"}, starts="2026-11-22T06:00:00Z")
    st, b = s.post_alerts([a])
    s.wait_run(first_run(b))
    T.eq(s.kv("res-x"), "firing", "the firing alert ran the route's runbook")
    st, b = s.post_alerts([dict(a, status="resolved", endsAt="2026-11-22T06:10:00Z")])
    T.eq(st, 202, "the resolved alert starts on_resolved's runbook")
    r = s.wait_run(first_run(b))
    T.ok(r and r["resolved"] and r["outcome"] == "success", "the on_resolved run finished", r)
    T.eq(s.kv("res-x"), "resolved", "on_resolved's params came from the resolved alert")
    st, b = s.post_alerts([alert("Dry", {"key": "d", "severity": "critical"})])
    r = s.wait_run(first_run(b))
    T.ok(r and r["dry_run"] and r["outcome"] == "success", "a dry_run route runs dry", r)
    T.eq(s.kv("dry-d"), None, "the dry run changed nothing")
    starts = [x for x in s.audit_records() if x.get("run") == first_run(b) and
              x.get("event") == "run_start"]
    T.ok(starts and starts[0]["mode"] == "dry-run", "audited in dry-run mode", starts)
    st, b = s.post_alerts([alert("Dry", {"key": "w", "severity": "warning"})])
    T.eq(b["alerts"][0]["decision"], "unmatched", "severity=~crit.* does not take warning")


def test_pause(s):
    rc, out, err = salve(["pause", "--reason", "deploy freeze"], config=s.config)
    T.ok(rc == 0 and "paused" in out, "salve pause", out + err)
    st, b = s.post_alerts([alert("Storm", {"namespace": "p", "deployment": "pause1"})])
    T.ok(st == 200 and {x["reason"] for x in b["alerts"]} == {"paused"},
         "while paused alerts are refused (reason paused)", b)
    T.eq(s.metrics().get("salve_paused"), 1.0, "metrics: paused")
    rc, out, err = salve(["resume"], config=s.config)
    T.eq(rc, 0, "salve resume")
    st, b = s.post_alerts([alert("Storm", {"namespace": "p", "deployment": "pause2"})])
    T.eq(st, 202, "after resume alerts start runs")
    for rid in b["runs"]:
        s.wait_run(rid)
    st, b = s.call("POST", "/pause", {"by": "dave", "reason": "api"}, token=APPROVE_TOKEN)
    T.ok(st == 200 and b["paused"], "POST /pause", b)
    T.eq(s.post_alerts([alert("Storm", {"namespace": "p", "deployment": "pause3"})])[1]
         ["alerts"][0]["reason"], "paused",
         "paused through the API")
    T.eq(s.call("POST", "/resume", {}, token=APPROVE_TOKEN)[0], 200, "POST /resume")
    recs = [(r["event"], r["via"]) for r in s.audit_records()
            if r.get("event") in ("paused", "resumed")]
    T.eq(recs, [("paused", "cli"), ("resumed", "cli"), ("paused", "api"), ("resumed", "api")],
         "pause and resume are audited")
    # A pause file made by hand (not through salve, so no new generation) is seen by the
    # server's check every second, and removing it likewise.
    pause = os.path.join(s.state, "serve", "paused")
    with open(pause, "w") as f:
        f.write("{}")
    os.chmod(pause, 0o600)
    T.ok(wait_for("the hand-made pause", lambda: s.call("GET", "/healthz")[1]["paused"],
                  timeout=5), "a pause file made by hand pauses within a second or two")
    T.eq(s.post_alerts([alert("Storm", {"namespace": "p", "deployment": "pause4"})])[1]
         ["alerts"][0]["reason"], "paused", "and alerts are refused")
    os.unlink(pause)
    T.ok(wait_for("the hand-made resume", lambda: not s.call("GET", "/healthz")[1]["paused"],
                  timeout=5), "removing it by hand resumes likewise")


def test_routes_cli(s):
    fixture = os.path.join(FIXTURES, "alertmanager-payload-firing.json")
    cfg = os.path.join(s.dir, "routes.yaml")
    with open(cfg, "w") as f:
        f.write("server:\n  runbook_dir: %s\nplugin_path: [%s]\nplugins:\n  testkit: {dir: %s}\n"
                "routes:\n"
                "  - name: not-this\n    matchers: ['severity = warning']\n    runbook: kv.lua\n"
                "  - name: checkout\n    matchers: ['alertname = CheckoutDown', 'namespace =~ sh.*']\n"
                "    runbook: kv.lua\n    params: {key: '{{ labels.namespace }}-{{ labels.deployment }}',"
                " value: '{{ annotations.summary }}'}\n    allow_patterns: [value]\n"
                "  - name: never\n    runbook: kv.lua\n    params: {key: x}\n"
                % (RUNBOOKS, os.environ["SALVE_TEST_PLUGIN_DIR"], s.kit))
    rc, out, err = salve(["routes", "test", "--config", cfg, fixture])
    T.eq(rc, 0, "salve routes test --config salve.yaml alert.json (the captured payload)")
    T.ok("route not-this: severity=\"warning\" does not hold: severity is \"critical\"" in out and
         "route checkout: MATCHES -> run" in out and
         'params:  {"key":"shop-web","value":"checkout web deployment is down"}' in out and
         "runbook kv-set accepts them" in out and
         "route never: not tried" in out, "it shows the route, the params and the check", out)
    rc, out, err = salve(["routes", "test", "--json", fixture], config=cfg)
    rep = json.loads(out)
    chk = rep["alerts"][0]["routes"][1]["runbook_check"]
    T.ok(rep["payload"] == "alertmanager" and chk["state"] == "accepted" and
         chk["params"] == {"key": "shop-web", "value": "checkout web deployment is down"},
         "--json gives the validated params", rep)
    bad = os.path.join(s.dir, "generic.json")
    with open(bad, "w") as f:
        json.dump({"labels": {"alertname": "CheckoutDown", "namespace": "shop"}}, f)
    rc, out, err = salve(["routes", "test", bad], config=cfg)
    T.ok(rc == 65 and "ERROR: params.key: labels.deployment is not set on the alert" in out,
         "a param the alert cannot fill: exit 65 with the reason", out + err)
    resolved = os.path.join(FIXTURES, "alertmanager-payload-resolved.json")
    rc, out, err = salve(["routes", "test", resolved], config=cfg)
    T.ok(rc == 0 and "route checkout: MATCHES -> ignore" in out, "resolved: on_resolved ignore",
         out)


def test_audit_chain(s):
    rc, out, err = salve(["audit", "verify", s.audit])
    T.ok(rc == 0, "the audit log's hash chain verifies", out + err)


def test_queue_full_and_spool():
    routes = """
  - name: hold
    matchers: ['alertname = "Hold"']
    runbook: approve.lua
    params: {key: "{{ labels.key }}"}
  - name: quick
    matchers: ['alertname = "Quick"']
    runbook: kv.lua
    params: {key: "{{ labels.key }}"}
"""
    s = Server("queue", routes, "  workers: 1\n  queue_size: 2\n").start()
    try:
        st, b = s.post_alerts([alert("Hold", {"key": "h1"})])
        hold = first_run(b)
        T.ok(s.wait_run(hold, states=("awaiting_approval",)), "the one worker is held by an approval")
        q = [s.post_alerts([alert("Quick", {"key": "q%d" % i})]) for i in (1, 2)]
        T.eq([x[0] for x in q], [202, 202], "two runs fill the queue (queue_size 2)")
        status, headers, text = s.request("POST", "/hooks/alertmanager", json.dumps(
            {"version": "4", "alerts": [alert("Quick", {"key": "q3"})]}), token=HOOK_TOKEN)
        b = json.loads(text)
        T.ok(status == 503 and b["alerts"][0]["reason"] == "queue_full" and
             headers.get("retry-after") == "5", "a full queue answers 503 (Retry-After)", text)
        T.eq(s.metrics().get("salve_queue_depth"), 2.0, "metrics: queue depth 2")
        st, b = s.post_alerts([alert("Quick", {"key": "q4"}), alert("Quick", {"key": "q1"})])
        T.ok(st == 503 and [x["decision"] for x in b["alerts"]] == ["refused", "deduplicated"],
             "503 again; what was accepted stays accepted (q1 is a duplicate)", b)
        s.call("POST", "/runs/%s/approve" % hold, {}, token=APPROVE_TOKEN)
        for x in q:
            T.ok(s.wait_run(first_run(x[1])), "queued run %s ran after the worker freed" %
                 first_run(x[1])[:8])
        st, b = s.post_alerts([alert("Quick", {"key": "q3"})])
        T.eq(st, 202, "the retry of the refused alert is accepted")
        T.ok(s.wait_run(first_run(b)) and s.kv("q3") == "on", "and its run succeeded")
        # Stop with a run waiting for approval and one queued behind it.
        st, b = s.post_alerts([alert("Hold", {"key": "h2"})])
        hold2 = first_run(b)
        s.wait_run(hold2, states=("awaiting_approval",))
        st, b = s.post_alerts([alert("Quick", {"key": "q5"})])
        queued = first_run(b)
        spool = os.path.join(s.state, "serve", "queue", queued + ".json")
        T.ok(os.path.exists(spool), "an accepted run is spooled until a worker takes it")
        T.eq(s.stop(), 0, "SIGTERM stops the server (exit 0)")
        T.eq(s.kv("h2-a"), None, "the run waiting for approval was rolled back at shutdown")
        T.ok(os.path.exists(spool), "the queued run is still spooled")
        s.start()
        r = s.wait_run(queued)
        T.ok(r and r["outcome"] == "success" and s.kv("q5") == "on",
             "after a restart the spooled run ran", r)
        T.ok(not os.path.exists(spool), "and left the spool")
        recs = [x for x in s.audit_records() if x.get("event") == "run_requeued"]
        T.ok(len(recs) == 1 and recs[0]["run"] == queued, "the requeue is audited", recs)
    finally:
        s.stop()


def test_metrics_sequence():
    routes = """
  - name: kv
    matchers: ['alertname = "Known"']
    runbook: kv.lua
    params: {key: "{{ labels.key }}"}
  - name: fails
    matchers: ['alertname = "Fails"']
    runbook: fail.lua
    params: {key: "{{ labels.key }}"}
"""
    s = Server("metrics", routes, "  connection_timeout: 1s\n").start()
    try:
        idle = socket.create_connection(("127.0.0.1", s.port), timeout=30)
        closed = idle.recv(10) == b""
        idle.close()
        T.ok(closed, "an idle connection is closed after connection_timeout")
        rid = first_run(s.post_alerts([alert("Known", {"key": "m1"})])[1])
        s.post_alerts([alert("Known", {"key": "m1"})])
        s.post_alerts([alert("Known", {"key": "m1"})])
        s.post_alerts([alert("Unknown", {"key": "m1"})])
        s.post_alerts([alert("Known", {"key": "m1"}, status="resolved")])
        s.post_alerts([alert("Known", {"other": "m1"})])
        fid = first_run(s.post_alerts([alert("Fails", {"key": "m2"})])[1])
        s.wait_run(rid)
        s.wait_run(fid)
        m = s.metrics()
        want = {
            'salve_alerts_received_total{hook="alertmanager",status="firing"}': 6,
            'salve_alerts_received_total{hook="alertmanager",status="resolved"}': 1,
            'salve_alerts_matched_total{route="kv"}': 5,
            'salve_alerts_matched_total{route="fails"}': 1,
            'salve_alerts_unmatched_total{hook="alertmanager"}': 1,
            'salve_alerts_deduplicated_total{route="kv"}': 2,
            'salve_alerts_refused_total{route="kv",reason="template"}': 1,
            'salve_runs_accepted_total{route="kv"}': 1,
            'salve_runs_total{route="kv",runbook="kv-set",outcome="success"}': 1,
            'salve_runs_total{route="fails",runbook="always-fails",outcome="rolled_back"}': 1,
            'salve_step_duration_seconds_count{runbook="kv-set"}': 1,
            'salve_step_duration_seconds_count{runbook="always-fails"}': 2,
            'salve_alert_to_first_step_seconds_count{route="kv"}': 1,
            "salve_queue_depth": 0,
            "salve_queue_capacity": 256,
            "salve_runs_active": 0,
            'salve_route_circuit_open{route="kv"}': 0,
            'salve_route_consecutive_failures{route="fails"}': 1,
            "salve_paused": 0,
            'salve_http_requests_total{handler="hook_alertmanager",code="202"}': 2,
            'salve_http_requests_total{handler="hook_alertmanager",code="200"}': 5,
        }
        got = {k: m.get(k) for k in want}
        T.eq(got, {k: float(v) for k, v in want.items()}, "metrics after a known sequence")
        _, headers, text = s.request("GET", "/metrics", token=READ_TOKEN)
        T.ok(headers.get("content-type", "").startswith("text/plain; version=0.0.4") and
             "# TYPE salve_step_duration_seconds histogram" in text and
             'salve_step_duration_seconds_bucket{runbook="kv-set",le="+Inf"} 1' in text,
             "Prometheus text format with a step duration histogram")
    finally:
        s.stop()


def test_tls_and_startup_refusals():
    d = tmpdir("salve-serve-tls-")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    routes = """
  - name: kv
    matchers: ['alertname = "Tls"']
    runbook: kv.lua
    params: {key: tls}
"""
    s = Server("tls", routes, "  tls: {cert: %s, key: %s}\n" % (cert, key))
    s.start()
    try:
        T.eq(s.scheme, "https", "with server.tls the server speaks https")
        s.context = ssl.create_default_context(cafile=cert)
        st, b = s.post_alerts([alert("Tls", {})])
        T.ok(st == 202 and s.wait_run(first_run(b)), "an alert over TLS starts its run", b)
        plain = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
        try:
            plain.request("GET", "/healthz")
            r = plain.getresponse()
            plain_ok = r.status == 200
        except (OSError, http.client.HTTPException):
            plain_ok = False
        T.ok(not plain_ok, "plain HTTP to the TLS port gets no answer")
    finally:
        s.stop()
    bad = Server("open", routes, "  listen: 0.0.0.0:0\n", tokens=False)
    with open(bad.config) as f:
        text = f.read().replace("  listen: 127.0.0.1:0\n", "", 1)
    with open(bad.config, "w") as f:
        f.write(text)
    rc, out, err = salve(["serve"], config=bad.config, env=bad.env)
    T.ok(rc == 65 and "not a loopback address" in err and "server.tokens.hooks" in err,
         "a non-loopback listen address without tokens is refused (65)", err)
    with open(bad.config, "w") as f:
        f.write(text.replace("  listen: 0.0.0.0:0\n",
                             "  tokens: {hooks: 'plain-secret-value-123'}\n"))
    rc, out, err = salve(["serve"], config=bad.config, env=bad.env)
    T.ok(rc == 65 and "inline tokens are refused" in err and "plain-secret" not in err,
         "an inline token is refused without being echoed", err)
    with open(bad.config, "w") as f:
        f.write(text.replace("  listen: 0.0.0.0:0\n", "").replace(
            "params: {key: tls}", "params: {key: tls, colour: blue}"))
    rc, out, err = salve(["serve", "--check"], config=bad.config, env=bad.env)
    T.ok(rc == 65 and "route kv: param colour: runbook kv-set declares no such param" in err,
         "a route param the runbook does not declare stops the start (65)", err)


def test_notices():
    """Notices under serve go out as every trigger's do (one launch path): salve.yaml's
    lifecycle.notify is honoured, the start notice names the route's target, and an approval
    notice is dispatched and audited as one of the run's actions."""
    plugin_dir = os.environ.get("SALVE_PLUGIN_DIR", "")
    if not os.path.exists(os.path.join(plugin_dir, "notify.so")):
        print("ok - # SKIP approval notices: the notify plugin is not built in this tree")
        return
    received = []

    class Slack(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append((self.path, body.decode()))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Slack)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    routes = """
  - name: approve
    matchers: ['alertname = "NeedsApproval"']
    runbook: approve.lua
    params: {key: "{{ labels.key }}"}
  - name: kv
    matchers: ['alertname = "Announced"']
    runbook: kv.lua
    params: {key: "{{ labels.key }}"}
    target: "{{ labels.namespace }}/{{ labels.key }}"
"""
    s = Server("notice", routes, plugin_dirs=[plugin_dir],
               plugins_yaml="  notify: {slack: {webhook_url: env:SALVE_TEST_SLACK_URL}}\n",
               extra_env={"SALVE_TEST_SLACK_URL":
                          "http://127.0.0.1:%d/services/T0/B0/x" % httpd.server_port},
               top_yaml="lifecycle:\n  notify: {to: \"slack:#ops\", on: [start, success]}\n")
    s.start()
    try:
        st, b = s.post_alerts([alert("Announced", {"key": "lc1", "namespace": "shop"})])
        rid = first_run(b)
        T.ok(s.wait_run(rid), "the announced run ends")
        got = wait_for("two lifecycle notices", lambda: received if len(received) >= 2 else None,
                       timeout=20) or []
        texts = [json.loads(body)["text"] for _, body in got]
        T.ok(len(texts) == 2 and "kv-set: %s on shop/lc1 started (apply)" % rid in texts[0]
             and "run %s succeeded" % rid in texts[1],
             "lifecycle.notify is honoured under serve, and the start names the route's target",
             texts)
        sends = [r for r in s.audit_records() if r.get("event") == "action"
                 and r.get("run") == rid and r.get("action") == "send"]
        T.ok(len(sends) == 2 and all(r["plugin"] == "notify" and r["phase"] == "lifecycle"
                                     and r["outcome"] == "sent" for r in sends),
             "each lifecycle notice is an audited action of the run", sends)
        del received[:]
        st, b = s.post_alerts([alert("NeedsApproval", {"key": "n1"})])
        rid = first_run(b)
        s.wait_run(rid, states=("awaiting_approval",))
        got = wait_for("the approval notice", lambda: [
            m for m in received if "waits for approval" in m[1]], timeout=20)
        T.ok(got and got[0][0] == "/services/T0/B0/x" and rid in got[0][1] and
             "/runs/%s/approve" % rid in got[0][1] and "#oncall" in got[0][1],
             "approve = {notify = \"slack:#oncall\"} posts a notice naming the run", got)
        # Audited when the send returns, just after Slack has the message.
        recs = wait_for("the notice's audit record", lambda: [
            r for r in s.audit_records() if r.get("event") == "approval_notified"], timeout=10)
        T.ok(recs and recs[0]["outcome"] == "sent" and recs[0]["to"] == "slack:#oncall",
             "the notice is audited", recs)
        acts = [r for r in s.audit_records() if r.get("event") == "action"
                and r.get("run") == rid and r.get("action") == "send" and r.get("step")]
        T.ok(len(acts) == 1 and acts[0]["step"] == "risky" and acts[0]["outcome"] == "sent"
             and acts[0]["args"]["to"] == "slack:#oncall",
             "the approval notice went through dispatch: one audited send action", acts)
        s.call("POST", "/runs/%s/deny" % rid, {}, token=APPROVE_TOKEN)
        T.ok(s.wait_run(rid), "the run ends after the deny")
    finally:
        s.stop()
        httpd.shutdown()


def test_examples():
    """The shipped examples: the routes of examples/salve-serve.yaml take the alerts they are
    written for and the runbooks accept their params; Alertmanager accepts the snippet."""
    src = os.environ.get("SALVE_SOURCE_DIR", os.path.join(os.path.dirname(RUNBOOKS), "..", ".."))
    cfg = os.path.join(src, "examples", "salve-serve.yaml")
    env = dict(os.environ)
    env["SALVE_PLUGIN_PATH"] = os.environ.get("SALVE_PLUGIN_DIR", "")
    rc, out, err = salve(["routes", "test", "--json",
                          os.path.join(os.path.dirname(RUNBOOKS), "example-alerts.json")],
                         env=env, config=cfg)
    T.eq(rc, 0, "salve routes test on examples/salve-serve.yaml", )
    rep = json.loads(out) if rc == 0 else {"alerts": []}
    taken = []
    for a in rep["alerts"]:
        matched = [r for r in a["routes"] if r["matched"]]
        taken.append(matched[0]["route"] if matched else None)
        for r in matched:
            state = r.get("runbook_check", {}).get("state")
            T.ok(state in ("accepted", "not_checked"),
                 "example route %s: the runbook does not refuse its params" % r["route"], r)
    T.eq(taken, ["rollout-stuck", "crashloop", None, "checkout-down", "overloaded",
                 "node-not-ready", "disk-full", "service-down", "patches-pending",
                 "fallback-check"], "each example alert takes the route written for it")
    amtool = shutil.which("amtool")
    if amtool:
        r = subprocess.run([amtool, "check-config", os.path.join(src, "examples", "alertmanager.yml")],
                           capture_output=True, text=True)
        T.ok(r.returncode == 0, "amtool check-config examples/alertmanager.yml", r.stdout + r.stderr)


def main():
    s = Server("main", MAIN_ROUTES, MAIN_SERVER).start()
    try:
        test_auth(s)
        test_bad_requests(s)
        test_unmatched_and_generic(s)
        test_storm(s)
        test_guardrails(s)
        test_breaker(s)
        test_approvals(s)
        test_max_concurrent(s)
        test_resolved_runbook_and_dry_run(s)
        test_pause(s)
        test_routes_cli(s)
    finally:
        T.eq(s.stop(), 0, "the main server stops cleanly on SIGTERM")
        err = s.stderr()
        T.ok("Sanitizer" not in err and "runtime error" not in err,
             "no sanitizer report from the main server", err[-3000:])
    test_audit_chain(s)
    test_queue_full_and_spool()
    test_metrics_sequence()
    test_tls_and_startup_refusals()
    test_notices()
    test_examples()
    return T.finish()


if __name__ == "__main__":
    raise SystemExit(main())
