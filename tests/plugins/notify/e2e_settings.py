#!/usr/bin/env python3
"""notify's salve.yaml section through the real salve binary: the core refuses an unknown key,
a wrong type, a bad duration, a value out of range or not among the choices, in the maps inside
too, before the plugin's init (exit 69, the same words as for every plugin, naming the key's
path); the plugin refuses what no table says; no value that may be a secret is echoed; and
`salve plugins --json` lists the settings with their defaults and nested fields."""
import os
import sys

sys.path.insert(0, os.path.join(os.environ["SALVE_SOURCE_DIR"], "tests", "support"))
from settings_cli import listed_settings, run_with_section  # noqa: E402

from e2e_support import Checks  # noqa: E402

DURATION = ('must be a duration such as "30s", "5m", "1h30m" or a number of seconds, '
            'got "%s"')

REFUSED_BY_THE_CORE = [
    ("    slak: {}\n",
     "plugins.notify.slak: unknown setting (known: slack, pagerduty, opsgenie, teams, "
     "webhooks, email, routing, escalation, timeout, connect_timeout, retry, ca_file)"),
    ("    slack: \"env:X\"\n", "plugins.notify.slack: must be map, got string"),
    ("    timeout: 10 seconds\n", "plugins.notify.timeout: " + DURATION % "10 seconds"),
    ("    slack: { webhook_url: \"env:X\", chanel: \"#ops\" }\n",
     "plugins.notify.slack.chanel: unknown setting (known: webhook_url, channel, username, "
     "icon_emoji)"),
    ("    email: { url: \"smtp://h\", from: \"a@b.c\", starttls: \"yes\" }\n",
     "plugins.notify.email.starttls: must be bool, got string"),
    ("    retry: { max_time: soon }\n", "plugins.notify.retry.max_time: " + DURATION % "soon"),
    ("    retry: { attempts: 0 }\n", "plugins.notify.retry.attempts: must be at least 1, got 0"),
    ("    teams: { webhook_url: \"env:X\", format: html }\n",
     "plugins.notify.teams.format: must be one of messagecard, adaptive, got \"html\""),
    ("    webhooks:\n      t: { url: \"https://h\", heders: {} }\n",
     "plugins.notify.webhooks.t.heders: unknown setting (known: url, headers, body)"),
    ("    escalation:\n      - { to: \"slack:\" }\n      - { wait: soon, to: \"slack:\" }\n",
     "plugins.notify.escalation[1].wait: " + DURATION % "soon"),
    ("    slack: { webhook_url: \"https://hooks.example/T/B/s3cr3tTOKEN\" }\n",
     "plugins.notify.slack.webhook_url: must be a secret reference (env:NAME or file:/path), "
     "got a string of 37 bytes: inline secrets are refused"),
]

REFUSED_BY_THE_PLUGIN = [
    ("    email: { url: \"http://h\", from: \"a@b.c\" }\n",
     "plugins.notify.email.url: must be smtp://host:port (STARTTLS) or smtps://host:port "
     "(implicit TLS)"),
]


def main():
    check = Checks()
    for section, refusal in REFUSED_BY_THE_CORE:
        code, err = run_with_section("notify", section)
        check(code == 69 and err.strip().endswith("salve.yaml: " + refusal),
              "the core refuses %r: %s (exit %d)" % (section.strip(), err.strip(), code))
        check("s3cr3tTOKEN" not in err, "the refusal does not echo the inline secret")
    for section, refusal in REFUSED_BY_THE_PLUGIN:
        code, err = run_with_section("notify", section)
        check(code == 69 and "failed to initialise: " + refusal in err,
              "init refuses %r: %s (exit %d)" % (section.strip(), err.strip(), code))
    settings = listed_settings("notify")
    check(settings["timeout"]["type"] == "duration" and settings["timeout"]["default"] == "10s",
          "plugins --json lists timeout: duration, default 10s")
    check(settings["connect_timeout"]["default"] == "5s",
          "plugins --json lists connect_timeout's default 5s")
    check(settings["slack"]["type"] == "map" and "default" not in settings["slack"],
          "plugins --json lists slack as a map without a default")
    slack = {f["name"]: f for f in settings["slack"]["fields"]}
    check(list(slack) == ["webhook_url", "channel", "username", "icon_emoji"] and
          slack["webhook_url"]["type"] == "secret_ref" and slack["webhook_url"]["required"],
          "plugins --json lists slack's fields: %r" % settings["slack"]["fields"])
    hooks = settings["webhooks"]
    check(hooks.get("each") is True and [f["name"] for f in hooks["fields"]] ==
          ["url", "headers", "body"], "plugins --json lists each webhook's fields: %r" % hooks)
    retry = {f["name"]: f for f in settings["retry"]["fields"]}
    check(retry["attempts"]["min"] == 1 and retry["attempts"]["max"] == 100 and
          retry["attempts"]["default"] == "4", "plugins --json lists retry.attempts' bounds")
    teams = {f["name"]: f for f in settings["teams"]["fields"]}
    check(teams["format"]["choices"] == ["messagecard", "adaptive"],
          "plugins --json lists teams.format's choices")
    level = {f["name"]: f for f in settings["escalation"]["fields"]}
    check(settings["escalation"].get("each") is True and level["to"]["string_or_list"] is True,
          "plugins --json lists an escalation level's to as a string or list")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
