#!/usr/bin/env python3
"""notify through the real salve binary: salve.yaml -> plugin init, a Lua runbook -> actions.

Checks what only the whole chain shows: a dry-run renders and sends nothing, --drill-notify
sends messages marked [DRILL], an apply run sends what the runbook's Lua tables say, a
failing endpoint fails the step (exit 1) with an error naming the channel, every attempt is in
the audit log, and no secret appears in stdout, stderr or the audit log.

Needs SALVE_BIN and SALVE_PLUGIN_DIR (set by ctest). Starts http_receiver.py on 127.0.0.1 and
stops it on exit.
"""
import json
import os
import subprocess
import sys
import tempfile

from e2e_support import Checks, control, http_receiver

SECRETS = ["e2eslacktoken42", "e2epdroutingkey77"]

RUNBOOK = """
runbook { name = "notify-e2e", description = "notify end to end" }
local notify = plugin "notify"
step "tell" {
  run = function(p, s)
    return notify.slack{ text = "disk <full> & more", severity = "high",
                         fields = { host = "web3", n = 3 } }
  end,
}
step "page" {
  run = function(p, s) return notify.page{ severity = "critical", summary = "db down" } end,
}
"""


def main():
    salve = os.environ["SALVE_BIN"]
    plugin_dir = os.environ["SALVE_PLUGIN_DIR"]
    check = Checks()
    with tempfile.TemporaryDirectory(prefix="salve-notify-e2e-") as work, \
            http_receiver(work) as base:
        env = dict(os.environ,
                   E2E_SLACK_URL=base + "/slack/T0/B0/" + SECRETS[0],
                   E2E_PD_KEY=SECRETS[1])
        with open(os.path.join(work, "salve.yaml"), "w") as f:
            f.write("plugins:\n  notify:\n"
                    "    slack: { webhook_url: \"env:E2E_SLACK_URL\", channel: \"#ops\" }\n"
                    "    pagerduty: { routing_key: \"env:E2E_PD_KEY\", url: \"%s/pd\" }\n"
                    "    retry: { attempts: 2, base_delay: 10ms }\n" % base)
        rb = os.path.join(work, "notify-e2e.lua")
        with open(rb, "w") as f:
            f.write(RUNBOOK)
        audit = os.path.join(work, "audit.jsonl")
        seen = []

        def salve_run(*extra):
            cmd = [salve, "--config", os.path.join(work, "salve.yaml"), "--audit", audit,
                   "--state-dir", os.path.join(work, "state"), "--plugin-path", plugin_dir,
                   "run", *extra, rb]
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
            seen.extend([p.stdout, p.stderr])
            return p

        p = salve_run("--dry-run")
        check(p.returncode == 0, "dry-run exits 0 (got %d: %s)" % (p.returncode, p.stderr))
        would = [l for l in p.stdout.splitlines() if "would notify notify." in l]
        check(len(would) == 2 and all("{" not in l for l in would),
              "dry-run says each notification in one line, not a JSON blob: %s" % would)
        with open(audit) as f:
            planned = [json.loads(l) for l in f if '"outcome":"planned"' in l]
        check(any("(secret env:E2E_PD_KEY)" in json.dumps(r.get("result")) for r in planned),
              "the rendered message, with the key by reference, is in the audit record")
        check(control(base, "requests") == [], "dry-run sends nothing")

        p = salve_run("--dry-run", "--drill-notify")
        check(p.returncode == 0, "drill exits 0 (got %d: %s)" % (p.returncode, p.stderr))
        reqs = control(base, "requests")
        check(len(reqs) == 3, "drill sends slack, pagerduty and slack (got %d)" % len(reqs))
        texts = [json.loads(r["body"]).get("text") or
                 json.loads(r["body"])["payload"]["summary"] for r in reqs]
        check(all(t.startswith("[DRILL] ") for t in texts), "every drill message says [DRILL]: %s" % texts)
        control(base, "reset", {})

        p = salve_run()
        check(p.returncode == 0, "apply exits 0 (got %d: %s)" % (p.returncode, p.stderr))
        reqs = control(base, "requests")
        check([r["path"] for r in reqs] == ["/slack/T0/B0/" + SECRETS[0], "/pd",
                                            "/slack/T0/B0/" + SECRETS[0]],
              "apply sends slack, then page: pagerduty and slack")
        slack = json.loads(reqs[0]["body"])
        fields = slack["attachments"][0]["blocks"][1]["fields"]
        check(slack["text"] == "HIGH: disk &lt;full&gt; &amp; more", "slack text escaped: %s" % slack["text"])
        check({"type": "mrkdwn", "text": "*host*\nweb3"} in fields and
              {"type": "mrkdwn", "text": "*n*\n3"} in fields, "Lua fields reach Slack: %s" % fields)
        pd = json.loads(reqs[1]["body"])
        check(pd["routing_key"] == SECRETS[1] and pd["payload"]["summary"] == "db down",
              "page critical reaches PagerDuty")
        control(base, "reset", {})

        control(base, "script", [{"status": 500, "body": "boom"}] * 2)
        p = salve_run()
        check(p.returncode == 1, "a failing endpoint fails the run (got %d)" % p.returncode)
        check("notify slack: gave up after 2 attempts: HTTP 500" in p.stdout + p.stderr,
              "the error names the channel")

        with open(audit) as f:
            log = f.read()
        seen.append(log)
        attempts = [r.get("data") for r in map(json.loads, log.splitlines())
                    if str(r.get("event", "")).endswith("notify.attempt")]
        failed = [a for a in attempts if a.get("http_status") == 500]
        check(len(failed) == 2 and [a["attempt"] for a in failed] == [1, 2] and
              all(a["channel"] == "slack" and a["result"] in ("retry", "failed")
                  for a in failed),
              "every attempt is audited with channel, attempt and status: %s" % failed)
        everything = "\n".join(seen)
        for s in SECRETS:
            check(s not in everything, "secret %s absent from output and audit log" % s)

    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
