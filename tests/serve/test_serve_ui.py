#!/usr/bin/env python3
"""salve serve's operator page (GET /ui) driven in headless Chromium, and the run
histograms of /metrics checked by Prometheus' promtool.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON
messages separated by NUL on fds 3 and 4), so the test needs only the standard library.
The page's own buttons are clicked: tokens and the operator's name are typed into its
form, and the audit log must show the decisions with that name.
"""
import datetime
import fcntl
import http.client
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_lib import (APPROVE_TOKEN, READ_TOKEN, Checks, Server, alert, salve,  # noqa: E402
                       spawn, tmpdir, wait_for)

T = Checks()

ROUTES = """
  - name: approve
    matchers: ['alertname = "NeedsApproval"']
    runbook: approve.lua
    params: {key: "{{ labels.key }}"}
  - name: plain
    matchers: ['alertname = "Plain"']
    runbook: kv.lua
    params: {key: "{{ labels.key }}"}
    cooldown: 0s
  - name: guarded
    matchers: ['alertname = "Guarded"']
    runbook: kv.lua
    params: {key: "{{ labels.key }}"}
    target: "{{ labels.host }}"
    cooldown: 1h
    rate_limit: 5/1h
    max_targets: 2
    max_targets_window: 30m
"""

GUARDED_STARTS = "2026-11-22T02:52:22.625Z"

HOSTILE = '"><img src=x id=pwn onerror="window.__pwned=1"><script>window.__pwned=2</script>'


class Browser:
    """Headless Chromium on a DevTools pipe: one page, evaluate JavaScript in it."""

    def __init__(self):
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if not exe:
            raise RuntimeError("chromium is not installed (Debian package chromium)")
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def child_fds():
            a = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        profile = tmpdir("salve-ui-chromium-")
        self.proc = spawn([exe, "--headless", "--no-sandbox", "--disable-gpu",
                           "--no-first-run", "--remote-debugging-pipe",
                           "--user-data-dir=" + profile, "about:blank"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          close_fds=False, preexec_fn=child_fds)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf = b""
        self.next_id = 0
        self.events = []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Page", "Log"):
            self.send(domain + ".enable", session=True)

    def _read(self, deadline):
        while b"\0" not in self.buf:
            if time.monotonic() > deadline:
                raise RuntimeError("no answer from chromium")
            chunk = os.read(self.from_chrome, 65536)
            if not chunk:
                raise RuntimeError("chromium closed its pipe")
            self.buf += chunk
        msg, _, self.buf = self.buf.partition(b"\0")
        return json.loads(msg)

    def send(self, method, params=None, session=False, timeout=30):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._read(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            self.events.append(m)

    def js(self, expression):
        r = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                           "returnByValue": True}, session=True)
        if "exceptionDetails" in r:
            raise RuntimeError("page: %s" % r["exceptionDetails"])
        return r["result"].get("value")

    def open(self, url):
        self.send("Page.navigate", {"url": url}, session=True)
        return wait_for("%s to load" % url,
                        lambda: self.js("document.readyState === 'complete' && "
                                        "!!document.getElementById('access')"), timeout=20)

    def problems(self):
        """Exceptions and console or CSP errors the page reported."""
        out = []
        for m in self.events:
            p = m.get("params", {})
            if m.get("method") == "Runtime.exceptionThrown":
                out.append(p.get("exceptionDetails", {}).get("text"))
            elif m.get("method") == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(p["entry"].get("text"))
            elif (m.get("method") == "Runtime.consoleAPICalled" and
                  p.get("type") == "error"):
                out.append(json.dumps(p.get("args")))
        return out

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def login(b, operator="erin", read=READ_TOKEN, approve=APPROVE_TOKEN):
    b.js("""(function(){
      document.getElementById('read-token').value = %s;
      document.getElementById('approve-token').value = %s;
      document.getElementById('operator').value = %s;
      document.getElementById('connect').click(); return true; })()""" %
         (json.dumps(read), json.dumps(approve), json.dumps(operator)))


def ago(seconds):
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_shell_and_headers(s):
    st, h, body = s.request("GET", "/ui")
    T.eq(st, 200, "GET /ui without a token: the shell (no data in it)")
    csp = h.get("content-security-policy", "")
    T.ok("script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe" not in csp,
         "a strict Content-Security-Policy (scripts from the server only)", csp)
    T.ok('<meta name="viewport"' in body and "<script src=\"/ui/app.js\"" in body and
         "<script>" not in body, "viewport meta, no inline script", body[:400])
    T.eq(h.get("x-content-type-options"), "nosniff", "nosniff")
    st, h, body = s.request("GET", "/ui", headers={"X-Forwarded-Prefix": "/ops/salve/"})
    T.ok('src="/ops/salve/ui/app.js"' in body and 'data-prefix="/ops/salve"' in body,
         "X-Forwarded-Prefix: the page's URLs are under the proxy's prefix", body[:600])
    st, h, body = s.request("GET", "/ui", headers={"X-Forwarded-Prefix": '/x"><script>'})
    T.ok('data-prefix=""' in body and "<script>" not in body,
         "a hostile X-Forwarded-Prefix is ignored", body[:600])
    T.eq(s.request("GET", "/ui/runs/%3Cscript%3E")[0], 404, "a run id that is not hex: 404")
    st, h, js = s.request("GET", "/ui/app.js")
    T.ok(st == 200 and h["content-type"].startswith("text/javascript") and
         "innerHTML" not in js, "the script is served, and never writes innerHTML", h)
    T.eq(s.request("GET", "/ui/runs/abc/timeline")[0], 401, "the timeline needs the read token")


def test_page(s, b, guarded):
    # Two runs that wait for approval, one plain run, one with hostile labels.
    waits = []
    for key in ("ui-approve", "ui-deny"):
        st, body = s.post_alerts([alert("NeedsApproval", {"key": key}, starts=ago(90))])
        waits.append(body["runs"][0])
    for rid in waits:
        T.ok(s.wait_run(rid, states=("awaiting_approval",)), "run %s waits" % rid)
    st, body = s.post_alerts([alert("Plain", {"key": "ui-plain", "evil": HOSTILE},
                                    annotations={"summary": HOSTILE}, starts=ago(90))])
    plain = body["runs"][0]
    T.ok(s.wait_run(plain), "the plain run finished")

    T.ok(b.open("http://127.0.0.1:%d/ui" % s.port), "the page loads in Chromium")
    T.eq(b.js("[document.querySelectorAll('#runs tr').length, "
              "document.getElementById('summary').textContent]"),
         [0, "Not connected: enter the read token."],
         "before the operator gives a token the page shows no data")
    login(b, read="wrong-token", approve="")
    T.ok(wait_for("the page to report the wrong token", lambda: "401" in b.js(
        "document.getElementById('summary').textContent")),
        "a wrong read token: the page says 401 and shows nothing")
    b.events = []
    login(b)
    listed = wait_for("the runs list", lambda: b.js(
        "Array.from(document.querySelectorAll('#runs tr')).map(function(t){"
        "return t.dataset.run + ' ' + t.cells[3].textContent})"), timeout=10)
    T.ok(listed and ("%s finished" % plain) in listed and
         ("%s awaiting_approval" % waits[0]) in listed, "the list shows the runs and states",
         listed)
    queue = b.js("Array.from(document.querySelectorAll('#approvals button')).map("
                 "function(x){return x.dataset.decision + ' ' + x.dataset.run})")
    T.eq(sorted(queue or []), sorted(["approve " + waits[0], "deny " + waits[0],
                                      "approve " + waits[1], "deny " + waits[1]]),
         "the approval queue has Approve and Deny for each waiting run")

    def click(decision, rid):
        return b.js("(function(){var x = document.querySelector('#approvals button"
                    "[data-decision=%s][data-run=\"%s\"]'); if (!x) return false; x.focus();"
                    " x.click(); return document.activeElement === x})()" % (decision, rid))

    T.ok(click("approve", waits[0]), "Approve is a focusable button, clicked")
    r = s.wait_run(waits[0])
    T.ok(r and r["outcome"] == "success", "the approved run finished with success", r)
    T.ok(click("deny", waits[1]), "Deny clicked")
    r = s.wait_run(waits[1])
    T.ok(r and r["outcome"] == "rolled_back" and r["approval"]["state"] == "denied",
         "the denied run was rolled back", r)
    decisions = [(x["run"], x["decision"], x["by"], x["step"]) for x in s.audit_records()
                 if x.get("event") == "approval_decision"]
    T.eq(decisions, [(waits[0], "approve", "erin", "risky"), (waits[1], "deny", "erin", "risky")],
         "the audit records both decisions with the operator's name")

    b.js("document.getElementById('pause-reason').value = 'maintenance';"
         "document.getElementById('pause').click(); true")
    T.ok(wait_for("the pause", lambda: s.call("GET", "/healthz")[1]["paused"]),
         "Pause paused the server")
    T.ok(wait_for("the page to show the pause", lambda: b.js(
        "document.getElementById('paused-state').textContent.indexOf('Paused') === 0")),
        "the page shows the pause")
    b.js("document.getElementById('resume').click(); true")
    T.ok(wait_for("the resume", lambda: not s.call("GET", "/healthz")[1]["paused"]),
         "Resume resumed it")
    recs = [(x["event"], x["by"], x.get("reason"), x["via"]) for x in s.audit_records()
            if x.get("event") in ("paused", "resumed")]
    T.eq(recs, [("paused", "erin", "maintenance", "api"), ("resumed", "erin", "maintenance", "api")],
         "pause and resume audited with the operator's name")
    routes = b.js("Array.from(document.querySelectorAll('#routes tr')).map(function(t){"
                  "return t.cells[0].textContent + ' ' + t.cells[5].textContent})")
    T.eq(routes, ["approve closed", "plain closed", "guarded closed"],
         "the guardrails show each route's circuit")
    test_guardrails_page(b, guarded)

    # A run's timeline: salve report's HTML with its SVG chart, hostile labels inert.
    T.ok(b.open("http://127.0.0.1:%d/ui/runs/%s" % (s.port, plain)), "the run view loads")
    login(b)
    svg = wait_for("the timeline", lambda: b.js(
        "document.querySelectorAll('#timeline svg.chart').length"), timeout=10)
    T.eq(svg, 1, "the run view shows the timeline chart (one SVG)")
    text = b.js("document.getElementById('timeline').textContent")
    T.ok(text and plain in text and "Post-incident review" in text,
         "the timeline is the report of this run", (text or "")[:300])
    T.ok(text and "window.__pwned" in text, "the hostile label is shown as text", (text or "")[:2000])
    T.eq(b.js("[typeof window.__pwned, document.querySelectorAll('#pwn, #timeline script, "
              "#timeline img').length]"), ["undefined", 0],
         "the hostile label did not become an element or run as script")
    b.events = [m for m in b.events if m.get("method") != "Log.entryAdded" or
                "favicon" not in json.dumps(m)]
    # The wrong token of the start answers 401 (a poll may land after the right one).
    T.eq([x for x in b.problems() if "status of 401" not in (x or "")], [],
         "no errors in the page's console (no CSP violation, no exception)")


def test_guardrails_api(s):
    """Two runs of the guarded route, then a third target (refused: blast radius) and a
    repeat of the first alert (deduplicated: cooling down): GET /routes has exact counts."""
    runs = []
    for host in ("web1", "web2"):
        st, body = s.post_alerts([alert("Guarded", {"key": "g-" + host, "host": host},
                                        starts=GUARDED_STARTS)])
        runs.append(body["runs"][0])
        T.ok(s.wait_run(runs[-1]), "guarded run on %s finished" % host)
    st, body = s.post_alerts([alert("Guarded", {"key": "g-web3", "host": "web3"},
                                    starts=GUARDED_STARTS)])
    T.eq([(a["decision"], a.get("reason")) for a in body["alerts"]],
         [("refused", "blast_radius")], "a third target is refused by the blast radius")
    st, body = s.post_alerts([alert("Guarded", {"key": "g-web1", "host": "web1"},
                                    starts=GUARDED_STARTS)])
    T.eq([(a["decision"], a.get("reason")) for a in body["alerts"]],
         [("deduplicated", "cooldown")], "the first alert again: cooling down")

    st, body = s.call("GET", "/routes", token=READ_TOKEN)
    T.eq(st, 200, "GET /routes")
    rt = {r["name"]: r for r in body["routes"]}
    g = rt["guarded"]
    T.eq((g["rate_limit"], g["blast_radius"]),
         ({"limit": 5, "window_seconds": 3600.0, "used": 2},
          {"max_targets": 2, "window_seconds": 1800.0, "targets": 2}),
         "guarded: 2 of 5 runs per hour used (refusals take no slot), 2 of 2 targets")
    cd = g["cooldown"]
    T.eq((cd["seconds"], cd["cooling"]), (3600.0, 4),
         "guarded: cooldown 1h, four keys cooling (each run's alert and target)")
    fps = {rid: s.run(rid)["fingerprint"] for rid in runs}
    got = sorted((k["run"], k["kind"], k.get("target"), k.get("fingerprint"),
                  k.get("starts_at"), k["resolved"]) for k in cd["soonest"])
    want = sorted([(runs[0], "alert", "web1", fps[runs[0]], GUARDED_STARTS, False),
                   (runs[0], "target", "web1", None, None, False),
                   (runs[1], "alert", "web2", fps[runs[1]], GUARDED_STARTS, False),
                   (runs[1], "target", "web2", None, None, False)])
    T.eq(got, want, "the keys cooling down name their run, alert and target")
    lefts = [k["seconds_left"] for k in cd["soonest"]]
    T.ok(lefts == sorted(lefts) and all(0 < x <= 3600 for x in lefts),
         "soonest first, with the seconds left of the hour", lefts)
    T.ok(cd["soonest"][0]["run"] == runs[0], "the first run's keys expire first", cd)
    T.eq((rt["plain"]["cooldown"], rt["plain"]["rate_limit"]["limit"],
          rt["plain"]["blast_radius"]["max_targets"]),
         ({"seconds": 0.0, "cooling": 0, "soonest": []}, 0, 0),
         "plain: no cooldown, no rate limit, no blast radius")
    T.eq(body["blast_radius"], {"max_targets": 0, "window_seconds": 3600.0, "targets": 0},
         "the server-wide blast radius is off")
    return runs


def test_guardrails_page(b, runs):
    """The page shows the same: each route's cooldown, what cools down, rate and blast."""
    rows = wait_for("the guardrails", lambda: b.js(
        "(function(){var r = document.querySelector('#routes tr[data-route=guarded]');"
        "return r && r.cells[7].querySelectorAll('li').length ? "
        "Array.from(r.cells).map(function(c){return c.textContent}) : null})()"), timeout=10)
    T.ok(rows, "the guarded route's row is shown")
    if not rows:
        return
    T.eq(rows[6], "1h", "its cooldown")
    T.ok(rows[7].startswith("4 keys:") and "target web1: run " + runs[0] in rows[7] and
         "target web2: run " + runs[1] in rows[7] and " left" in rows[7],
         "what cools down: one item per run with its target and the time left", rows[7])
    T.eq(rows[8], "2 of 5 runs per 1h", "its rate limit")
    T.eq(rows[9], "2 of 2 targets per 30m", "its blast radius")
    T.eq(b.js("document.querySelector('#routes tr[data-route=guarded]').cells[9].className"),
         "open", "a full blast radius is marked")
    T.eq(b.js("document.querySelector('#routes tr[data-route=plain]').cells[7].textContent"),
         "none", "nothing cools down on a route without cooldown")
    T.eq(b.js("document.getElementById('blast-global').textContent"),
         "Across all routes (server.max_targets): no limit.", "the server-wide blast radius")
    T.eq(b.js("Array.from(document.querySelectorAll('#routes tr[data-route=guarded] li a'))"
              ".map(function(a){return a.getAttribute('href')})"),
         ["/ui/runs/" + r for r in runs], "each cooling run links to its view")


class PrefixProxy:
    """A reverse proxy on 127.0.0.1 that serves salve under /ops/salve/ and strips the
    prefix before it forwards, sending no X-Forwarded-Prefix (as a proxy that does not know
    the header): the page must get its prefix from server.ui_prefix."""

    PREFIX = "/ops/salve"

    def __init__(self, upstream_port):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def forward(self):
                if not self.path.startswith(proxy.PREFIX + "/"):
                    self.send_error(404)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() in ("authorization", "content-type")}
                c = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
                try:
                    c.request(self.command, self.path[len(proxy.PREFIX):], body=body,
                              headers=headers)
                    r = c.getresponse()
                    data = r.read()
                except OSError:  # salve stopped under a poll of the page
                    self.send_error(502)
                    return
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                c.close()
                proxy.paths.append(self.path)

            do_GET = do_POST = forward

            def log_message(self, *args):
                pass

        self.paths = []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_configured_prefix(b):
    """server.ui_prefix: the page's links, script and API calls go under it, whatever
    X-Forwarded-Prefix says; a prefix that is not a plain path is refused at start-up.
    Chromium drives the page through a proxy that strips the prefix."""
    for bad in ("/a/../b", "ops", "//evil.example", "/a b", "/x\"><script>", "/.hidden"):
        p = Server("ui-bad-prefix", ROUTES, server_yaml="  ui_prefix: %s\n" % json.dumps(bad))
        rc, out, err = salve(["serve", "--check"], env=p.env, config=p.config)
        T.ok(rc != 0 and "server.ui_prefix" in err, "ui_prefix %r refused by --check" % bad,
             (rc, err[-300:]))
    p = Server("ui-prefix", ROUTES, server_yaml="  ui_prefix: /ops/salve/\n").start()
    try:
        for headers in ({}, {"X-Forwarded-Prefix": "/elsewhere"}):
            st, h, body = p.request("GET", "/ui/runs/abc123", headers=headers)
            T.ok(st == 200 and 'data-prefix="/ops/salve"' in body and
                 'src="/ops/salve/ui/app.js"' in body and
                 'href="/ops/salve/ui/app.css"' in body and 'href="/ops/salve/ui"' in body and
                 "/elsewhere" not in body,
                 "the configured prefix is in every link (X-Forwarded-Prefix %s)" %
                 headers.get("X-Forwarded-Prefix", "absent"), body[:800])
        st, body = p.post_alerts([alert("Guarded", {"key": "px", "host": "web9"},
                                        starts=GUARDED_STARTS)])
        rid = body["runs"][0]
        T.ok(p.wait_run(rid), "a run on the prefixed server finished")
        proxy = PrefixProxy(p.port)
        try:
            base = "http://127.0.0.1:%d%s" % (proxy.port, proxy.PREFIX)
            b.events = []
            T.ok(b.open(base + "/ui"), "the page loads through the proxy")
            login(b)
            wait_for("the runs and the cooling run", lambda: b.js(
                "document.querySelectorAll('#runs a, #routes li a').length === 2"), timeout=10)
            links = b.js("Array.from(document.querySelectorAll('#runs a, #routes li a, h1 a'))"
                         ".map(function(a){return a.getAttribute('href')})")
            T.eq(sorted(links or []), sorted([PrefixProxy.PREFIX + "/ui",
                                              PrefixProxy.PREFIX + "/ui/runs/" + rid,
                                              PrefixProxy.PREFIX + "/ui/runs/" + rid]),
                 "the title, the runs list and the cooling run link under the prefix")
            T.ok({PrefixProxy.PREFIX + x for x in
                  ("/ui", "/ui/app.js", "/ui/app.css", "/routes")} <= set(
                      x.split("?")[0] for x in proxy.paths),
                 "the script, style sheet and API calls went through the prefix", proxy.paths)
            b.js("document.querySelector('#runs a').click(); true")
            T.ok(wait_for("the run view under the prefix", lambda: b.js(
                "location.pathname === '%s/ui/runs/%s' && document.readyState === 'complete'"
                " && !!document.getElementById('access')" % (PrefixProxy.PREFIX, rid)),
                timeout=10), "a run link opens the run's view under the prefix")
            login(b)
            T.eq(wait_for("its timeline", lambda: b.js(
                "document.querySelectorAll('#timeline svg.chart').length"), timeout=10), 1,
                "the run's timeline loads through the proxy")
            b.events = [m for m in b.events if m.get("method") != "Log.entryAdded" or
                        "favicon" not in json.dumps(m)]
            T.eq(b.problems(), [], "no errors in the console behind the proxy")
        finally:
            b.send("Page.navigate", {"url": "about:blank"}, session=True)  # stop its polling
            proxy.close()
    finally:
        T.eq(p.stop(), 0, "the prefixed server stopped cleanly")


def histogram(text, name):
    """{labels: {"buckets": {le: v}, "sum": v, "count": v}} of one histogram family."""
    out = {}
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        metric, _, labels = series.partition("{")
        labels = labels.rstrip("}")
        le = None
        parts = []
        for part in labels.split(","):
            if part.startswith("le="):
                le = part[4:-1]
            elif part:
                parts.append(part)
        h = out.setdefault(",".join(parts), {"buckets": {}})
        if metric.endswith("_bucket"):
            h["buckets"][le] = float(value)
        elif metric.endswith("_sum"):
            h["sum"] = float(value)
        elif metric.endswith("_count"):
            h["count"] = float(value)
    return out


def test_metrics(s):
    st, _, text = s.request("GET", "/metrics", token=READ_TOKEN)
    promtool = shutil.which("promtool")
    if T.ok(promtool, "promtool is installed (Debian package prometheus)"):
        p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        T.ok(p.returncode == 0, "promtool check metrics accepts /metrics", p.stdout + p.stderr)
    start = histogram(text, "salve_run_time_to_start_seconds")
    rem = histogram(text, "salve_run_time_to_remediate_seconds")
    ap = 'route="approve",runbook="approve-me"'
    pl = 'route="plain",runbook="kv-set"'
    gu = 'route="guarded",runbook="kv-set"'
    T.eq({k: v["count"] for k, v in start.items()}, {ap: 2.0, pl: 1.0, gu: 2.0},
         "time to start: one observation per run started, by route and runbook")
    T.eq({k: v["count"] for k, v in rem.items()}, {ap: 1.0, pl: 1.0, gu: 2.0},
         "time to remediate: only the successful runs (the denied one is not remediated)")
    # Both alerts started 90 s before they were sent; the runs end well within minutes.
    T.ok(rem.get(pl) and rem[pl]["buckets"]["60"] == 0 and rem[pl]["buckets"]["600"] == 1 and
         90 <= rem[pl]["sum"] < 600, "time to remediate counts from the alert's startsAt",
         rem.get(pl))
    T.ok(start.get(pl) and start[pl]["buckets"]["+Inf"] == 1 and
         start[pl]["sum"] < 60, "time to start counts from the webhook request", start.get(pl))


def main():
    s = Server("ui", ROUTES).start()
    b = None
    try:
        test_shell_and_headers(s)
        b = Browser()
        guarded = test_guardrails_api(s)
        test_page(s, b, guarded)
        test_configured_prefix(b)
        test_metrics(s)
    finally:
        if b:
            b.close()
        rc = s.stop()
    T.eq(rc, 0, "salve serve stopped cleanly (no sanitizer report)")
    if rc != 0:
        print(s.stderr()[-3000:])
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
