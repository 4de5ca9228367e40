#!/usr/bin/env python3
"""salve report, salve audit show and salve audit tail over audit logs written by real runs:
the built salve with runbooks that succeed, fail and roll back, leave a rollback incomplete,
wait for an approval, and drills; salve serve with a real Alertmanager payload (an approval
through the API, a resolved notice, an alert that flaps). Every report is compared field by
field with what the runs did (their `--json` summaries, the testkit store, the raw records);
tampered logs must say so in the report's first line; the HTML is checked in headless
Chromium (Debian's chromium, .ci/install-deps) or, without it, with Python's html.parser.
"""
import copy
import datetime
import html.parser
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "serve"))
from serve_lib import (APPROVE_TOKEN, FIXTURES, READ_TOKEN, SALVE, TEST_PLUGINS, Checks,  # noqa: E402
                       Server, spawn, tmpdir, wait_for)

T = Checks()
D = tmpdir("salve-report-")
AUDIT = os.path.join(D, "audit.jsonl")
KIT = os.path.join(D, "kit")
os.makedirs(KIT)
ENV = dict(os.environ, SALVE_TESTKIT_DIR=KIT, SALVE_PLUGIN_PATH=TEST_PLUGINS)
SERVE_RUNBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "serve", "runbooks")


def salve(*args, audit=AUDIT, timeout=60):
    r = subprocess.run([SALVE, "--audit", audit, "--state-dir", os.path.join(D, "state"),
                        "--audit-sync", "none"] + list(args),
                       capture_output=True, text=True, timeout=timeout, env=ENV)
    return r.returncode, r.stdout, r.stderr


def runbook(name, text):
    path = os.path.join(D, name + ".lua")
    with open(path, "w") as f:
        f.write(text)
    return path


def records(path=AUDIT):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def ts(s):
    s = s.replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(s).timestamp()


def kv(key):
    try:
        with open(os.path.join(KIT, "kv", key)) as f:
            return f.read()
    except FileNotFoundError:
        return None


def report_json(*args, audit=AUDIT):
    rc, out, err = salve("report", "--format", "json", *args, audit=audit)
    try:
        return rc, json.loads(out), err
    except ValueError:
        return rc, None, err + out


def run(path, *args):
    rc, out, err = salve("run", "--json", *args, path)
    try:
        return rc, json.loads(out)
    except ValueError:
        print("    | salve run %s: exit %d\n%s" % (path, rc, err))
        return rc, None


OK = runbook("ok", """runbook { name = "report-ok" }
local kit = plugin "testkit"
step "set" { run = function() return kit.set{ key = "ok", value = "1" } end }
step "tell" { run = function() return kit.notify{ text = "done" } end }
""")
FAIL = runbook("fail", """runbook { name = "report-fail" }
local kit = plugin "testkit"
step "set" { run = function() return kit.set{ key = "f", value = "1" } end }
step "boom" { run = function() return kit.fail{ message = "broken on purpose" } end }
""")
INCOMPLETE = runbook("incomplete", """runbook { name = "report-incomplete" }
local kit = plugin "testkit"
step "set" { run = function() return kit.set{ key = "i", value = "1", fail_undo = true } end }
step "boom" { run = function() return kit.fail{ message = "second step breaks" } end }
""")


def by_step(steps):
    return {s["name"]: s for s in steps}


def check_cli_runs():
    rc, ok = run(OK)
    T.eq(rc, 0, "report-ok ran (exit 0)")
    rc, fail = run(FAIL)
    T.eq(rc, 1, "report-fail failed and rolled back (exit 1)")
    rc, inc = run(INCOMPLETE)
    T.eq(rc, 2, "report-incomplete left its rollback incomplete (exit 2)")
    rc, appr = run(os.path.join(SERVE_RUNBOOKS, "approve.lua"), "--approve", "-p", "key=ap")
    T.eq(rc, 0, "approve-me ran with --approve (exit 0)")
    rc, drill = run(OK, "--fail-at", "set")
    T.eq(rc, 1, "drill --fail-at set rolled back (exit 1)")
    rc, dry = run(OK, "--dry-run")
    T.eq(rc, 0, "drill --dry-run (exit 0)")
    rc, dnotify = run(OK, "--dry-run", "--drill-notify")
    T.eq(rc, 0, "drill --dry-run --drill-notify (exit 0)")
    if not all([ok, fail, inc, appr, drill, dry, dnotify]):
        return None
    recs = records()

    # --- one run, field by field with its --json summary and the testkit store
    rc, doc, err = report_json(ok["run_id"])
    T.eq(rc, 0, "report RUN: exit 0 on an intact log")
    T.eq(doc["format"], 1, "json report: format 1")
    T.ok(doc["audit"]["intact"] and doc["audit"]["records"] == len(recs),
         "json report: audit intact, %d records" % len(recs), doc["audit"])
    r = doc["runs"][0]
    T.eq((r["run"], r["runbook"], r["outcome"], r["exit_code"], r["mode"], r["drill"]),
         (ok["run_id"], "report-ok", "success", 0, "apply", False), "run: id, runbook, outcome")
    T.eq([(s["name"], s["outcome"]) for s in r["steps"]],
         [(s["name"], s["outcome"]) for s in ok["steps"]], "run: steps and outcomes as run")
    T.eq([(c["plugin"], c["action"], c["target"], c["state"]) for c in r["changes"]],
         [("testkit", "set", "ok", "in_place")], "run: the change, still in place")
    T.eq(kv("ok"), "1", "... and the store holds it")
    T.eq([(n["via"], n["action"], n["outcome"]) for n in r["notifications"]],
         [("action", "notify", "sent")], "run: the notification sent by step tell")
    mine = [x for x in recs if x.get("run") == ok["run_id"]]
    first_change = [x for x in mine if x["event"] == "action" and x["outcome"] == "changed"][0]
    start = [x for x in mine if x["event"] == "run_start"][0]
    T.eq(r["figures"]["time_to_remediate_s"], round(ts(first_change["ts"]) - ts(start["ts"]), 3),
         "time to remediate of a CLI run: first change - run start, from the records")
    T.eq(r["figures"]["remediate_from"], "run_start", "... measured from the run's start")
    T.eq([e["event"] for e in doc["timeline"]], [x["event"] for x in mine],
         "timeline: every record of the run, in order")
    T.eq([e["seq"] for e in doc["timeline"]], [x["seq"] for x in mine], "timeline: their seqs")

    rc, doc, _ = report_json(fail["run_id"][:8])
    r = doc["runs"][0]
    T.eq((r["run"], r["outcome"], r["exit_code"]), (fail["run_id"], "rolled_back", 1),
         "failed run (by its 8-character prefix): rolled_back, exit 1")
    steps = by_step(r["steps"])
    T.eq((steps["set"]["outcome"], steps["set"].get("rollback")), ("changed", "rolled_back"),
         "failed run: step set changed, then rolled back")
    T.ok(steps["boom"]["outcome"] == "failed" and "broken on purpose" in steps["boom"]["error"],
         "failed run: step boom failed with its error", steps["boom"])
    T.eq([c["state"] for c in r["changes"]], ["undone"], "failed run: its change undone")
    T.eq(kv("f"), None, "... and the store no longer holds it")
    T.eq(r["figures"]["time_to_remediate_s"], None, "failed run: no time to remediate")
    T.eq(sorted((f["kind"], f["step"]) for f in doc["follow_ups"]),
         [("failed_step", "boom"), ("rolled_back", "set")], "failed run: follow-up items")

    rc, doc, _ = report_json(inc["run_id"])
    r = doc["runs"][0]
    T.eq(r["outcome"], "rollback_incomplete", "incomplete run: rollback_incomplete")
    T.eq([c["state"] for c in r["changes"]], ["undo_failed"], "incomplete run: undo failed")
    T.eq(kv("i"), "1", "... and the store still holds the change")
    kinds = sorted(f["kind"] for f in doc["follow_ups"])
    T.eq(kinds, ["change_left", "failed_step", "rollback_failed"],
         "incomplete run: follow-ups name the failed rollback and the change left")

    rc, doc, _ = report_json(appr["run_id"])
    aps = doc["runs"][0]["approvals"]
    T.eq([(a["step"], a["outcome"], a["by"]) for a in aps], [("risky", "approved", "cli --approve")],
         "approval: step, decision and who")

    # --- drills: apart from the production figures
    rc, doc, _ = report_json("--runbook", "report-ok")
    prod = [r for r in doc["runs"] if not r["drill"]]
    T.eq([r["run"] for r in prod], [ok["run_id"]], "runbook report: one production run")
    T.eq(sorted((d["run"], d["kind"]) for d in doc["drills"]),
         sorted([(drill["run_id"], "fail-at"), (dry["run_id"], "dry-run"),
                 (dnotify["run_id"], "drill-notify")]), "runbook report: the three drills")
    fa = [d for d in doc["drills"] if d["kind"] == "fail-at"][0]
    T.eq((fa["fail_at"], fa["outcome"], fa["rollback_passed"]), ("set", "rolled_back", True),
         "fail-at drill: the rollback rehearsal passed")
    T.eq((doc["summary"]["production_runs"], doc["summary"]["drill_runs"]), (1, 3),
         "runbook report: 1 production run, 3 drills")
    T.eq((doc["figures"]["steps_changed"], doc["figures"]["steps_rolled_back"]), (1, 0),
         "key figures count the production run only (the drill's rollback is not in them)")
    T.ok(all(not f["run"] in (drill["run_id"], dry["run_id"]) for f in doc["follow_ups"]),
         "drills seed no follow-up items")
    rc, md, _ = salve("report", "--runbook", "report-ok")
    T.ok(md.splitlines()[0].startswith("**Audit log verified: ") and "hash chain intact" in
         md.splitlines()[0], "md: the first line is the verdict", md.splitlines()[0])
    T.ok("## Drills (not in the figures above)" in md and "| passed |" in md,
         "md: the drills section with the rehearsal passed")

    # --- the summary, against the runs
    rc, s, _ = report_json("--since", "1h", "--summary")
    T.eq(rc, 0, "summary: exit 0")
    rb = {g["runbook"]: g for g in s["runbooks"]}
    T.eq({k: (g["runs"], g["success"], g["rolled_back"], g["failed"]) for k, g in rb.items()},
         {"report-ok": (1, 1, 0, 0), "report-fail": (1, 0, 1, 0),
          "report-incomplete": (1, 0, 0, 1), "approve-me": (1, 1, 0, 0)},
         "summary: runs and outcomes per runbook (drills not counted)")
    T.eq(rb["report-fail"]["failing_steps"], [{"step": "boom", "count": 1}],
         "summary: the failing step")
    T.eq(rb["report-ok"]["ttr_median_s"], round(ts(first_change["ts"]) - ts(start["ts"]), 3),
         "summary: median time to remediate of report-ok")
    T.eq(s["drills"], [{"runbook": "report-ok", "runs": 3, "dry_run": 1, "fail_at": 1,
                        "drill_notify": 1, "rollback_passed": 1, "rollback_failed": 0}],
         "summary: the drills section")
    T.eq(s["totals"]["runs"], 4, "summary: 4 production runs")
    return {"ok": ok, "fail": fail, "appr": appr}


# ---- audit show / tail -------------------------------------------------------------------

def check_show_tail(runs):
    rid = runs["fail"]["run_id"]
    rc, out, err = salve("audit", "show", rid)
    lines = out.splitlines()
    T.eq(rc, 0, "audit show: exit 0")
    T.ok(lines and lines[0].startswith("audit log verified:"), "audit show: verdict first",
         out)
    mine = [x for x in records() if x.get("run") == rid]
    shown = [l.split()[3] for l in lines[3:]]
    T.eq(shown, [x["event"] for x in mine], "audit show: every record of the run, in order")
    boom = [l for l in lines if " step_end " in l and " boom " in l]
    T.ok(boom and " failed " in boom[0] and "broken on purpose" in boom[0],
         "audit show: the failed step with its outcome and error", boom)
    rc, out, err = salve("audit", "show", "deadbeefdeadbeef")
    T.ok(rc == 1 and "no record of run deadbeefdeadbeef" in err, "audit show: unknown run: exit 1",
         err)
    rc, out, err = salve("audit", "tail", "-n", "3")
    want = records()[-3:]
    T.eq([l.split()[3] for l in out.splitlines()], [x["event"] for x in want],
         "audit tail -n 3: the last three records")
    p = spawn([SALVE, "--audit", AUDIT, "audit", "tail", "-f", "-n", "1"], stdout=subprocess.PIPE,
              stderr=subprocess.DEVNULL, env=ENV)
    os.set_blocking(p.stdout.fileno(), False)
    seen = []

    def has(pred):
        chunk = p.stdout.read()
        if chunk:
            seen.append(chunk.decode("utf-8", "replace"))
        return any(pred(l) for l in "".join(seen).splitlines())

    last = records()[-1]
    T.ok(wait_for("audit tail -f to print the last record",
                  lambda: has(lambda l: last["run"][:8] in l and last["event"] in l), timeout=20),
         "audit tail -f -n 1: the last record first", "".join(seen))
    rc, new = run(OK)
    T.ok(new and wait_for("audit tail -f to print the new run's end",
                          lambda: has(lambda l: new["run_id"][:8] in l and " run_end " in l),
                          timeout=20),
         "audit tail -f: prints the records of a run appended while it follows", "".join(seen))
    p.terminate()
    p.wait(timeout=10)


# ---- tampered logs -----------------------------------------------------------------------

def tampered_copy(name, edit):
    path = os.path.join(D, name + ".jsonl")
    shutil.copy(AUDIT, path)
    shutil.copy(AUDIT + ".head", path + ".head")
    with open(path) as f:
        lines = f.read().splitlines(True)
    lines = edit(lines, path)
    with open(path, "w") as f:
        f.writelines(lines)
    return path


def check_tampered(runs):
    rid = runs["fail"]["run_id"]
    recs = records()
    k = [i for i, x in enumerate(recs) if x.get("run") == rid and x["event"] == "run_end"][0]

    def forge(lines, path):
        lines[k] = lines[k].replace('"outcome":"rolled_back"', '"outcome":"success"')
        return lines

    path = tampered_copy("edited", forge)
    rc, md, err = salve("report", rid, audit=path)
    first = md.splitlines()[0]
    T.eq(rc, 1, "report on an edited log: exit 1")
    T.ok(first.startswith("**WARNING: the audit log is NOT intact:") and
         "%d: hash chain broken" % (k + 2) in first,
         "report on an edited log: the first line says so and names the line after the edit",
         first)
    T.ok("NOT intact" in err, "... and says so on stderr", err)
    rc, doc, _ = report_json(rid, audit=path)
    T.eq((doc["audit"]["intact"], doc["runs"][0]["outcome"]), (False, "success"),
         "json: intact false beside the forged outcome")
    rc, page, _ = salve("report", rid, "--format", "html", audit=path)
    T.ok("NOT intact" in page.splitlines()[0] and 'class="verdict bad"' in page,
         "html: the verdict in the first line and on top of the page")
    rc, out, _ = salve("audit", "show", rid, audit=path)
    T.ok(rc == 1 and out.startswith("WARNING: audit log NOT intact"), "audit show: says so first")

    path = tampered_copy("cut", lambda lines, p: lines[:-2])
    rc, md, _ = salve("report", "--since", "1h", "--summary", audit=path)
    T.ok(rc == 1 and "2 record(s) removed from the end" in md.splitlines()[0],
         "summary on a log cut short: the first line says so", md.splitlines()[0])

    def drop_head(lines, p):
        os.unlink(p + ".head")
        return lines

    path = tampered_copy("headless", drop_head)
    rc, md, _ = salve("report", rid, audit=path)
    T.ok(rc == 1 and ".head is missing" in md.splitlines()[0],
         "report without the head: the first line says so", md.splitlines()[0])


# ---- HTML --------------------------------------------------------------------------------

class SvgCount(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.in_svg = 0
        self.counts = {}
        self.external = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        if tag == "svg":
            self.in_svg += 1
        if self.in_svg:
            self.counts[tag] = self.counts.get(tag, 0) + 1
        if tag == "script":
            self.scripts += 1
        for k, v in attrs:
            if k in ("src", "href") and v and not v.startswith("#"):
                self.external.append(v)

    def handle_endtag(self, tag):
        if tag == "svg":
            self.in_svg -= 1


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def check_html(runs):
    rid = runs["appr"]["run_id"]
    page_path = os.path.join(D, "approve.html")
    rc, _, err = salve("report", rid, "--format", "html", "-o", page_path)
    T.eq(rc, 0, "html report written with -o")
    with open(page_path) as f:
        page = f.read()
    p = SvgCount()
    p.feed(page)
    # One run lane and two step lanes (bars), an approval requested and decided (diamonds).
    T.eq((p.counts.get("rect"), p.counts.get("polygon"), p.counts.get("circle", 0)), (3, 2, 0),
         "html: the chart's bars and approval marks (html.parser)")
    T.ok(p.scripts == 0 and not p.external, "html: self-contained: no script, nothing external",
         (p.scripts, p.external))
    T.ok("@media print" in page and "default-src 'none'" in page,
         "html: print styles and a CSP that loads nothing")
    browser = chromium()
    if not browser:
        print("# SKIP headless Chromium checks: chromium is not installed "
              "(.ci/install-deps installs it); html.parser checks ran instead", flush=True)
        return
    dom, console = chromium_dom(page_path)
    T.eq((dom.counts.get("rect"), dom.counts.get("polygon"), dom.counts.get("circle", 0)),
         (3, 2, 0), "chromium: the chart's SVG elements in the rendered DOM")
    T.eq(console, [], "chromium: no console errors or refused loads")
    shot = os.path.join(D, "approve.png")
    r = subprocess.run(chromium_argv() + ["--window-size=1200,1600", "--screenshot=" + shot,
                                          "file://" + page_path],
                       capture_output=True, text=True, timeout=90)
    with open(shot, "rb") as f:
        head = f.read(8)
    T.ok(head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(shot) > 10000,
         "chromium: a screenshot of the report", (head, r.stderr[-500:]))


def chromium_argv():
    return [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--user-data-dir=" + tmpdir("salve-report-chromium-"), "--enable-logging=stderr",
            "--v=0"]


def chromium_dom(page_path):
    """The page's DOM as Chromium rendered it (SVG counted), and its console complaints."""
    r = subprocess.run(chromium_argv() + ["--dump-dom", "file://" + page_path],
                       capture_output=True, text=True, timeout=90)
    dom = SvgCount()
    dom.feed(r.stdout)
    return dom, [l for l in r.stderr.splitlines() if "CONSOLE" in l or "Refused to" in l]


def check_hostile_text():
    """Text from runbooks and remote hosts reaches the report as data, never as markup or
    terminal control: a step error carrying a script tag, Markdown table syntax and ESC."""
    evil = runbook("evil", """runbook { name = "report-evil" }
local kit = plugin "testkit"
step "boom" { run = function()
  return kit.fail{ message = "<script>alert(1)</script> | *bold* [x](http://e.example) \\27[2J" } end }
""")
    rc, out = run(evil)
    T.eq(rc, 1, "report-evil failed (exit 1)")
    rid = out["run_id"]
    rc, doc, _ = report_json(rid)
    err = by_step(doc["runs"][0]["steps"])["boom"]["error"]
    T.ok("<script>alert(1)</script>" in err and "\x1b[2J" in err,
         "json: the error exactly as audited", err)
    rc, page, _ = salve("report", rid, "--format", "html")
    T.ok("<script" not in page.lower() and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and
         "\x1b" not in page, "html: the script tag is text, ESC written out")
    rc, md, _ = salve("report", rid)
    T.ok("&lt;script&gt;" in md and "\\|" in md and "\\*bold\\*" in md and
         "\\[x\\](http://e.example)" in md and "\x1b" not in md,
         "md: tags, table pipes, emphasis and links escaped; ESC written out",
         [l for l in md.splitlines() if "script" in l][:2])
    rc, shown, _ = salve("audit", "show", rid)
    T.ok("\x1b" not in shown and "\\x1b[2J" in shown, "audit show: ESC written out as \\x1b",
         [l for l in shown.splitlines() if "boom" in l])


# ---- salve serve with a real Alertmanager payload ----------------------------------------

ROUTES = """
  - name: checkout
    matchers: ['alertname = "CheckoutDown"']
    runbook: approve.lua
    params: {key: "{{ labels.namespace }}-{{ labels.deployment }}"}
  - name: flap
    matchers: ['alertname = "DiskFlap"']
    runbook: kv.lua
    params: {key: "flap"}
    cooldown: 0s
"""


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.") + "%03dZ" % int((t % 1) * 1000)


def check_serve():
    if not os.path.exists(os.path.join(os.path.dirname(SALVE), "salve-serve")):
        print("# SKIP serve checks: salve-serve is not built (SALVE_SERVE=OFF)", flush=True)
        return
    with open(os.path.join(FIXTURES, "alertmanager-payload-firing.json")) as f:
        payload = json.load(f)
    alert = payload["alerts"][0]
    fp = alert["fingerprint"]
    starts = iso(time.time() - 120)
    alert["startsAt"] = starts
    srv = Server("report", ROUTES, "  approval_timeout: 60s\n").start()
    st, body = srv.call("POST", "/hooks/alertmanager", payload,
                        token=__import__("serve_lib").HOOK_TOKEN)
    T.eq(st, 202, "serve: the Alertmanager payload accepted (202)")
    rid = body and body["runs"] and body["runs"][0]
    T.ok(rid and srv.wait_run(rid, ("awaiting_approval",)), "serve: the run waits for approval")
    st, _ = srv.call("POST", "/runs/%s/approve" % rid, {"by": "alice", "step": "risky",
                                                        "comment": "go"}, token=APPROVE_TOKEN)
    T.eq(st, 200, "serve: approved by alice")
    T.ok(srv.wait_run(rid), "serve: the run finished")
    resolved = copy.deepcopy(payload)
    resolved["status"] = "resolved"
    resolved["alerts"][0]["status"] = "resolved"
    resolved["alerts"][0]["endsAt"] = iso(time.time())
    st, _ = srv.call("POST", "/hooks/alertmanager", resolved,
                     token=__import__("serve_lib").HOOK_TOKEN)
    T.ok(st in (200, 202), "serve: the resolved notice accepted", st)
    # A flapping alert: three firing/resolved cycles of one fingerprint, each remediated.
    flap_runs = []
    for i in range(3):
        a = {"status": "firing", "labels": {"alertname": "DiskFlap", "severity": "warning"},
             "annotations": {}, "startsAt": iso(time.time() - 30 + i), "endsAt": "0001-01-01T00:00:00Z",
             "fingerprint": "f1a9f1a9f1a9f1a9"}
        st, body = srv.post_alerts([a])
        r = body and body["runs"] and body["runs"][0]
        T.ok(r and srv.wait_run(r), "serve: flap cycle %d ran" % (i + 1), body)
        flap_runs.append(r)
        a = dict(a, status="resolved", endsAt=iso(time.time()))
        srv.post_alerts([a])
    srv.stop()
    recs = srv.audit_records()
    fired = [x for x in recs if x["event"] == "alert" and x.get("fingerprint") == fp]
    T.eq([x["status"] for x in fired], ["firing", "resolved"], "serve: both notices audited")
    env_cfg = srv.config
    r = subprocess.run([SALVE, "--config", env_cfg, "report", "--alert", fp, "--format", "json"],
                       capture_output=True, text=True, timeout=60)
    T.ok(r.returncode == 0, "report --alert (audit path from --config): exit 0", r.stderr)
    doc = json.loads(r.stdout)
    a = doc["alerts"][0]
    cyc = a["cycles"][0]
    T.eq((a["alertname"], a["fingerprint"], len(a["cycles"])), ("CheckoutDown", fp, 1),
         "alert: name, fingerprint, one cycle")
    T.eq((cyc["starts_at"], cyc["received_at"], cyc["resolved_at"]),
         (fired[0]["starts_at"], fired[0]["ts"], fired[1]["ts"]),
         "alert: startsAt, received, resolved as audited")
    T.eq(round(ts(cyc["starts_at"]), 3), round(ts(starts), 3), "... startsAt as Alertmanager sent it")
    T.eq([x["run"] for x in doc["runs"]], [rid], "alert: the run it caused")
    run = doc["runs"][0]
    T.eq((run["trigger"], run["outcome"], run["alert"]["fingerprint"]),
         ("alert:" + fp, "success", fp), "run: trigger and outcome")
    T.eq([(x["step"], x["outcome"], x["by"], x.get("comment")) for x in run["approvals"]],
         [("risky", "approved", "alice", "go")], "run: approved by alice, with her comment")
    T.ok(any(n["via"] == "approval" and n["to"] == "slack:#oncall" for n in run["notifications"]),
         "run: the approval notice to slack:#oncall", run["notifications"])
    mine = [x for x in recs if x.get("run") == rid]
    start = [x for x in mine if x["event"] == "run_start"][0]
    change = [x for x in mine if x["event"] == "action" and x["outcome"] == "changed"][0]
    f = doc["figures"]
    # Time to resolve runs to Alertmanager's endsAt of the resolved notice, as audited.
    T.ok(fired[1].get("ends_at") and not fired[0].get("ends_at"),
         "the resolved notice's endsAt is audited (a firing one has none)", fired)
    want = (round(ts(fired[0]["ts"]) - ts(starts), 3), round(ts(start["ts"]) - ts(fired[0]["ts"]), 3),
            round(ts(change["ts"]) - ts(starts), 3),
            round(ts(fired[1].get("ends_at") or fired[1]["ts"]) - ts(starts), 3))
    T.eq((f["time_to_detect_s"], f["time_to_start_s"], f["time_to_remediate_s"],
          f["time_to_resolve_s"]), want,
         "key figures: detect, start, remediate, resolve (to endsAt) from the records")
    events = [e["event"] for e in doc["timeline"]]
    for ev in ("alert", "run_start", "approval_waiting", "approval_notified",
               "approval_decision", "approval", "run_end"):
        T.ok(ev in events, "timeline has %s" % ev, events)
    T.eq(events[-1], "alert", "timeline ends with the resolved notice")
    r = subprocess.run([SALVE, "--config", env_cfg, "report", "--alert", fp],
                       capture_output=True, text=True, timeout=60)
    T.ok("- What fired: CheckoutDown: checkout web deployment is down" in r.stdout and
         "- Severity: critical" in r.stdout, "md: what fired and its severity")
    page_path = os.path.join(D, "alert.html")
    r = subprocess.run([SALVE, "--config", env_cfg, "report", "--alert", fp, "--format", "html",
                        "-o", page_path], capture_output=True, text=True, timeout=60)
    p = SvgCount()
    with open(page_path) as fh:
        p.feed(fh.read())
    # Lanes: the alert (its bar, the received dot), the run (bar, approval requested and
    # decided, the approval notice) and its two steps.
    want = (4, 2, 2)
    T.eq((p.counts.get("rect"), p.counts.get("polygon"), p.counts.get("circle")), want,
         "html of the alert: alert, run and step bars, approval and notice marks")
    if chromium():
        dom, console = chromium_dom(page_path)
        T.eq((dom.counts.get("rect"), dom.counts.get("polygon"), dom.counts.get("circle")), want,
             "chromium: the alert's chart as rendered")
        T.eq(console, [], "chromium: no console errors on the alert's page")
    # The flapping alert: every cycle and run, and the summary's flapping list.
    r = subprocess.run([SALVE, "--config", env_cfg, "report", "--alert", "f1a9f1a9f1a9f1a9",
                        "--format", "json"], capture_output=True, text=True, timeout=60)
    doc = json.loads(r.stdout)
    T.eq((len(doc["alerts"][0]["cycles"]), [x["run"] for x in doc["runs"]]), (3, flap_runs),
         "report --alert: three cycles, the three runs")
    r = subprocess.run([SALVE, "--config", env_cfg, "report", "--since", "1h", "--summary",
                        "--flapping", "2", "--format", "json"], capture_output=True, text=True,
                       timeout=60)
    s = json.loads(r.stdout)
    T.eq(s["flapping"], [{"fingerprint": "f1a9f1a9f1a9f1a9", "alertname": "DiskFlap",
                          "remediations": 3}], "summary --flapping 2: the flapping alert")
    names = {g["alertname"]: (g["runs"], g["success"]) for g in s["alert_names"]}
    T.eq(names, {"CheckoutDown": (1, 1), "DiskFlap": (3, 3)}, "summary: per alert name")


def check_usage():
    rc, out, err = salve("report", "deadbeefdeadbeef")
    T.ok(rc == 1 and out == "" and "no run or alert" in err and "matches the selection" in err,
         "report of an unknown run: exit 1, nothing written", err)
    rc, _, err = salve("report")
    T.ok(rc == 64 and "say which incident" in err, "report without a selection: usage (64)")
    rc, _, err = salve("report", "--since", "yesterday", "--summary")
    T.ok(rc == 64 and "--since takes a duration" in err, "report --since garbage: usage (64)")
    rc, _, err = salve("report", "--summary", "--since", "2026-01-01T00:00:00Z",
                       "--until", "2025-01-01T00:00:00Z")
    T.ok(rc == 64 and "--until is before --since" in err, "until before since: usage (64)")
    rc, _, err = salve("report", "--summary", audit=os.path.join(D, "nonexistent.jsonl"))
    T.ok(rc == 64 and "nonexistent.jsonl" in err, "report on a missing log: 64, names it", err)


def main():
    runs = check_cli_runs()
    if runs:
        check_show_tail(runs)
        check_tampered(runs)
        check_html(runs)
        check_hostile_text()
    check_serve()
    check_usage()
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
