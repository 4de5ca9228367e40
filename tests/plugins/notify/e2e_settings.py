#!/usr/bin/env python3
"""notify's salve.yaml section through the real salve binary: the core refuses an unknown key,
a wrong type and a bad duration before the plugin's init (exit 69, the same words as for every
plugin), the maps inside are refused in the same shape by the plugin, no value that may be a
secret is echoed, and `salve plugins --json` lists the settings with their defaults."""
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
]

REFUSED_BY_THE_PLUGIN = [
    ("    slack: { webhook_url: \"env:X\", chanel: \"#ops\" }\n",
     "plugins.notify.slack.chanel: unknown setting (known: webhook_url, channel, username, "
     "icon_emoji)"),
    ("    email: { url: \"smtp://h\", from: \"a@b.c\", starttls: \"yes\" }\n",
     "plugins.notify.email.starttls: must be bool, got string"),
    ("    retry: { max_time: soon }\n", "plugins.notify.retry.max_time: " + DURATION % "soon"),
    ("    slack: { webhook_url: \"https://hooks.example/T/B/s3cr3tTOKEN\" }\n",
     "plugins.notify.slack.webhook_url: must be a secret reference (env:NAME or file:/path), "
     "got a string of 37 bytes: inline secrets are refused"),
]


def main():
    check = Checks()
    for section, refusal in REFUSED_BY_THE_CORE:
        code, err = run_with_section("notify", section)
        check(code == 69 and err.strip().endswith("salve.yaml: " + refusal),
              "the core refuses %r: %s (exit %d)" % (section.strip(), err.strip(), code))
    for section, refusal in REFUSED_BY_THE_PLUGIN:
        code, err = run_with_section("notify", section)
        check(code == 69 and "failed to initialise: " + refusal in err,
              "init refuses %r: %s (exit %d)" % (section.strip(), err.strip(), code))
        check("s3cr3tTOKEN" not in err, "the refusal does not echo the inline secret")
    settings = listed_settings("notify")
    check(settings["timeout"]["type"] == "duration" and settings["timeout"]["default"] == "10s",
          "plugins --json lists timeout: duration, default 10s")
    check(settings["connect_timeout"]["default"] == "5s",
          "plugins --json lists connect_timeout's default 5s")
    check(settings["slack"]["type"] == "map" and "default" not in settings["slack"],
          "plugins --json lists slack as a map without a default")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
