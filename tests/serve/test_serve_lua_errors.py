#!/usr/bin/env python3
"""Issue F2 under salve serve: a Lua error raised where the engine writes into a runbook's
table (outside the step's own protected call) must fail that run and roll it back, never
abort the server. The runbook poisons the run's state table with a __newindex that raises;
before the fix the process died with SIGABRT (exit 134), taking queued runs with it."""
import signal

from serve_lib import Checks, Server, alert, wait_for

T = Checks()

ROUTES = """
  - name: poison
    matchers: ['alertname = "Poison"']
    runbook: poison-state.lua
    params: {key: "{{ labels.key }}"}
  - name: kv
    matchers: ['alertname = "Plain"']
    runbook: kv.lua
    params: {key: "{{ labels.key }}"}
"""


def main():
    s = Server("lua-errors", ROUTES).start()
    try:
        st, b = s.post_alerts([alert("Poison", {"key": "p1"})])
        T.eq(st, 202, "the alert starts the poisoned run")
        rid = b["runs"][0] if b and b.get("runs") else None
        # Ends when the run finishes or the server dies, whichever comes first.
        wait_for("the poisoned run to end", lambda: s.proc.poll() is not None or
                 (s.run(rid) or {}).get("state") == "finished", timeout=30)
        alive = s.proc.poll() is None
        T.ok(alive, "the server is still running",
             "exit %s\n%s" % (s.proc.returncode, s.stderr()[-2000:]))
        if not alive:
            return T.finish()
        r = s.run(rid)
        T.ok(r and r["outcome"] == "rolled_back" and r["exit_code"] == 1,
             "the run failed (rolled back) instead of killing the server", r)
        steps = {st["name"]: st["outcome"] for st in (r or {}).get("steps", [])}
        T.ok(steps.get("trip") == "failed", "the step whose write hit the trap failed", steps)
        T.eq(s.kv("p1"), None, "the first step's change was rolled back")
        T.eq(s.kv("p1-2"), None, "the poisoned step's change was rolled back")
        st, h = s.call("GET", "/healthz")
        T.eq(st, 200, "/healthz answers after the error")
        st, b = s.post_alerts([alert("Plain", {"key": "after"})])
        r = s.wait_run(b["runs"][0]) if st == 202 else None
        T.ok(r and r["outcome"] == "success" and s.kv("after") == "on",
             "the next alert still runs", r)
    finally:
        rc = s.stop(signal.SIGTERM)
        T.eq(rc, 0, "SIGTERM stops it cleanly")
        err = s.stderr()
        T.ok("Sanitizer" not in err and "runtime error" not in err, "no sanitizer report",
             err[-2000:])
    return T.finish()


if __name__ == "__main__":
    raise SystemExit(main())
