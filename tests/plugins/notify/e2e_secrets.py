#!/usr/bin/env python3
"""Issue 10 F8 through the real salve binary: notify's credentials are registered for
redaction when the plugin loads, not only when a message is sent.

The runbook fails before any notification is sent, with the Slack webhook URL (as it is and
percent-encoded), the Teams URL
(percent-encoded, as a query parameter carries it), a webhook's bearer token (base64) and the
PagerDuty routing key arriving by another path (parameters, and the step's error). In an apply
run and in a dry-run (where notify resolves no secret to send anything), none of those values
in any form may reach stdout, stderr or the audit log.

Needs SALVE_BIN and SALVE_PLUGIN_DIR (set by ctest). Nothing listens: nothing is sent.
"""
import base64
import os
import subprocess
import sys
import tempfile
import urllib.parse

from e2e_support import Checks

SLACK = "https://hooks.slack.com/services/T0E2E/B0E2E/e2eslacksecret31"
TEAMS = "https://example.webhook.office.com/webhookb2/e2eteamssecret42"
BEARER = "e2ebearersecret53"
PD_KEY = "e2epdroutingkey64"

RUNBOOK = """
runbook { name = "notify-secrets", params = { hook = {}, hookenc = {}, teams = {}, auth = {}, key = {} } }
local notify = plugin "notify"
step "fail-first" {
  run = function(p)
    error("cannot reach " .. p.hook .. " (" .. p.hookenc .. ") or " .. p.teams .. " with "
          .. p.auth .. " / " .. p.key)
  end,
}
step "tell" {
  run = function(p, s) return notify.slack{ text = "never sent" } end,
}
"""


def main():
    salve = os.environ["SALVE_BIN"]
    plugin_dir = os.environ["SALVE_PLUGIN_DIR"]
    check = Checks()
    forms = {
        "slack URL": SLACK,
        "slack token": "e2eslacksecret31",
        "slack URL, percent-encoded": urllib.parse.quote(SLACK, safe=""),
        "slack URL, base64": base64.b64encode(SLACK.encode()).decode(),
        "teams URL": TEAMS,
        "teams URL, percent-encoded": urllib.parse.quote(TEAMS, safe=""),
        "bearer token": BEARER,
        "bearer token, base64": base64.b64encode(BEARER.encode()).decode(),
        "routing key": PD_KEY,
        "routing key, base64url": base64.urlsafe_b64encode(PD_KEY.encode()).decode().rstrip("="),
    }
    with tempfile.TemporaryDirectory(prefix="salve-notify-secrets-") as work:
        env = dict(os.environ, E2E_SLACK_URL=SLACK, E2E_TEAMS_URL=TEAMS,
                   E2E_BEARER="Bearer " + BEARER, E2E_PD_KEY=PD_KEY)
        with open(os.path.join(work, "salve.yaml"), "w") as f:
            f.write("plugins:\n  notify:\n"
                    "    slack: { webhook_url: \"env:E2E_SLACK_URL\" }\n"
                    "    teams: { webhook_url: \"env:E2E_TEAMS_URL\" }\n"
                    "    pagerduty: { routing_key: \"env:E2E_PD_KEY\" }\n"
                    "    webhooks:\n"
                    "      tickets: { url: \"http://127.0.0.1:9/t\","
                    " headers: { Authorization: \"env:E2E_BEARER\" } }\n")
        rb = os.path.join(work, "notify-secrets.lua")
        with open(rb, "w") as f:
            f.write(RUNBOOK)
        audit = os.path.join(work, "audit.jsonl")
        for mode in ([], ["--dry-run"]):
            name = "dry-run" if mode else "apply"
            cmd = [salve, "--config", os.path.join(work, "salve.yaml"), "--audit", audit,
                   "--state-dir", os.path.join(work, "state"), "--plugin-path", plugin_dir,
                   "run", *mode,
                   "-p", "hook=" + SLACK,
                   "-p", "hookenc=" + forms["slack URL, percent-encoded"],
                   "-p", "teams=" + forms["teams URL, percent-encoded"],
                   "-p", "auth=" + forms["bearer token, base64"],
                   "-p", "key=" + forms["routing key, base64url"], rb]
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
            check(p.returncode == 1, "%s: the failing step fails the run (exit %d: %s)"
                  % (name, p.returncode, p.stderr.strip()))
            check("cannot reach [REDACTED] ([REDACTED]) or [REDACTED] with [REDACTED] / "
                  "[REDACTED]"
                  in p.stdout, "%s: the step's error is shown, redacted" % name)
            with open(audit) as f:
                everything = p.stdout + p.stderr + f.read()
            for what, value in forms.items():
                check(value not in everything,
                      "%s: the %s is in no output and not in the audit log" % (name, what))
        v = subprocess.run([salve, "audit", "verify", audit], capture_output=True, text=True)
        check(v.returncode == 0, "the audit log verifies")

    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
