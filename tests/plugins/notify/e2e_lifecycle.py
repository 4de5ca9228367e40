#!/usr/bin/env python3
"""Run lifecycle notifications through the real salve binary and notify plugin.

salve.yaml's lifecycle.notify tells people when a run starts, a step fails, the run is rolled
back or succeeds -- without a step in the runbook -- and an incomplete rollback always pages.
A notification that cannot be delivered never fails the run.
"""
import json
import os
import subprocess
import sys
import tempfile

from e2e_support import Checks, control, http_receiver


RUNBOOK = """
runbook { name = "lc", params = { mode = { default = "ok" } }, lock = "lc/{mode}" }
local kit = plugin "testkit"
step "change" { run = function(p) return kit.set{ key = "k", value = p.mode, fail_undo = p.mode == "stuck" } end }
step "maybe-fail" { run = function(p) if p.mode ~= "ok" then error("disk on fire") end end }
"""


ESCALATING = """
runbook { name = "esc", params = { mode = { default = "slow" } } }
local notify = plugin "notify"
local kit = plugin "testkit"
step "page" { run = function() return notify.page{ severity = "critical", summary = "db down" } end }
step "work" { run = function(p) return kit.sleep{ seconds = p.mode == "slow" and 0.6 or 0.01 } end }
step "done" { run = function() end }
"""


def main():
    salve = os.environ["SALVE_BIN"]
    path = os.environ["SALVE_PLUGIN_DIR"] + ":" + os.environ["SALVE_TEST_PLUGIN_DIR"]
    check = Checks()
    with tempfile.TemporaryDirectory(prefix="salve-lifecycle-") as work, \
            http_receiver(work) as base:
        env = dict(os.environ, LC_SLACK=base + "/slack/T0/B0/lcsecret123",
                   LC_PD="lcroutingkey456", SALVE_TESTKIT_DIR=os.path.join(work, "kit"))
        with open(os.path.join(work, "salve.yaml"), "w") as f:
            f.write("plugins:\n  notify:\n"
                    "    slack: { webhook_url: \"env:LC_SLACK\", channel: \"#ops\" }\n"
                    "    pagerduty: { routing_key: \"env:LC_PD\", url: \"%s/pd\" }\n"
                    "    routing: { critical: [\"pagerduty:\"] }\n"
                    "    webhooks: { level2: { url: \"%s/level2\" } }\n"
                    "    escalation:\n"
                    "      - { wait: 0s, to: [\"slack:#oncall\"] }\n"
                    "      - { wait: 300ms, to: [\"webhook:level2\"] }\n"
                    "    retry: { attempts: 1 }\n"
                    "lifecycle:\n  notify:\n    to: \"slack:#ops\"\n"
                    "    on: [start, step_failed, rolled_back, rollback_incomplete, success]\n" % (base, base))
        rb = os.path.join(work, "lc.lua")
        with open(rb, "w") as f:
            f.write(RUNBOOK)

        def run(mode, script=None):
            control(base, "reset", {})
            if script:
                control(base, "script", script)
            p = subprocess.run([salve, "--config", os.path.join(work, "salve.yaml"),
                                "--audit", os.path.join(work, "audit.jsonl"),
                                "--state-dir", os.path.join(work, "state"),
                                "--plugin-path", path, "run", "-p", "mode=" + mode, rb],
                               env=env, capture_output=True, text=True, timeout=60)
            reqs = control(base, "requests")
            texts = [json.loads(r["body"]).get("text") or
                     json.loads(r["body"])["payload"]["summary"] for r in reqs]
            return p, reqs, texts

        p, reqs, texts = run("ok")
        check(p.returncode == 0, "a good run exits 0 (%d: %s)" % (p.returncode, p.stderr))
        check(len(texts) == 2 and "started" in texts[0] and "succeeded" in texts[1],
              "start and success are announced: %s" % texts)
        check(" on lc/ok started" in texts[0],
              "the start names the run's target, its lock key: %s" % texts[:1])

        p, reqs, texts = run("bad")
        check(p.returncode == 1, "a failing run exits 1 (%d)" % p.returncode)
        check(len(texts) == 3 and "started" in texts[0]
              and "step maybe-fail failed" in texts[1] and "rolled back" in texts[2],
              "start, the failed step and the rollback are announced: %s" % texts)
        body = json.loads(reqs[1]["body"])
        check("disk on fire" in json.dumps(body), "the step's error reaches the message")

        p, reqs, texts = run("stuck")
        check(p.returncode == 2, "an incomplete rollback exits 2 (%d)" % p.returncode)
        pd = [json.loads(r["body"]) for r in reqs if r["path"] == "/pd"]
        check(len(pd) == 1 and pd[0]["payload"]["severity"] == "critical"
              and "ROLLBACK INCOMPLETE" in pd[0]["payload"]["summary"],
              "an incomplete rollback pages PagerDuty: %s" % pd)
        check(any("ROLLBACK INCOMPLETE" in t for t in texts), "and tells Slack: %s" % texts)
        check("escalation level 2 (due 0 s after the page) not sent: the run ended first" in p.stdout,
              "escalation levels not yet due when the run ends are reported: %s" % p.stdout[-300:])

        # Escalation: the run pages, then stays unsuccessful past level 2's wait.
        with open(rb, "w") as f:
            f.write(ESCALATING)
        p, reqs, texts = run("slow")
        paths = [r["path"] for r in reqs]
        check(p.returncode == 0, "the escalating run exits 0 (%d: %s)" % (p.returncode, p.stderr[-300:]))
        check("/level2" in paths, "level 2 is sent when the run has not succeeded after its wait: %s" % paths)
        p, reqs, texts = run("quick")
        paths = [r["path"] for r in reqs]
        check("/level2" not in paths and p.returncode == 0,
              "a run that succeeds before level 2 is due does not escalate: %s" % paths)
        with open(rb, "w") as f:
            f.write(RUNBOOK)

        p, reqs, texts = run("ok", [{"status": 500, "body": "down"}] * 10)
        check(p.returncode == 0, "an unreachable channel never fails the run (%d)" % p.returncode)
        check("start notification to slack:#ops not sent" in p.stderr,
              "the lost notification is reported: %s" % p.stderr[-300:])
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
