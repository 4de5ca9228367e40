#!/usr/bin/env python3
"""ssh-patch's salve.yaml section through the real salve binary: the core refuses an unknown
key, a wrong type, a bad duration and an inline passphrase before the plugin's init (exit 69,
the same words as for every plugin) without echoing the passphrase, init refuses what no type
says, and `salve plugins --json` lists the settings with their defaults."""
import os
import sys

sys.path.insert(0, os.path.join(os.environ["SALVE_SOURCE_DIR"], "tests", "support"))
from settings_cli import listed_settings, run_with_section  # noqa: E402

REFUSED_BY_THE_CORE = [
    ("    forkz: 3\n", "plugins.ssh-patch.forkz: unknown setting (known: inventory, "
     "known_hosts, accept_new, agent, user, private_key_file, private_key_passphrase, forks, "
     "connect_timeout, command_timeout, max_output, apt_options, dnf_options, reboot_command, "
     "systemctl, refresh, engine, lock_timeout)"),
    ("    forks: many\n", "plugins.ssh-patch.forks: must be int, got string"),
    ("    lock_timeout: 5 minutes\n", "plugins.ssh-patch.lock_timeout: must be a duration such "
     "as \"30s\", \"5m\", \"1h30m\" or a number of seconds, got \"5 minutes\""),
    ("    private_key_passphrase: hunter2pass\n", "plugins.ssh-patch.private_key_passphrase: "
     "must be a secret reference (env:NAME or file:/path), got a string of 11 bytes: inline "
     "secrets are refused"),
    ("    engine: fibers\n",
     "plugins.ssh-patch.engine: must be one of poll, threads, got \"fibers\""),
    ("    forks: 0\n", "plugins.ssh-patch.forks: must be at least 1, got 0"),
    ("    max_output: 512\n", "plugins.ssh-patch.max_output: must be at least 1024, got 512"),
    ("    connect_timeout: 0s\n",
     "plugins.ssh-patch.connect_timeout: must be more than 0s, got 0s"),
]


def main():
    failures = 0
    for section, refusal in REFUSED_BY_THE_CORE:
        code, err = run_with_section("ssh-patch", section)
        ok = code == 69 and err.strip().endswith("salve.yaml: " + refusal) and \
            "hunter2pass" not in err
        failures += not ok
        print(("ok   " if ok else "FAIL ") + "%r: %s (exit %d)" % (section.strip(),
                                                                    err.strip(), code))
    code, err = run_with_section("ssh-patch",
                                 "    private_key_passphrase: env:SSH_PATCH_UNSET_PASSPHRASE\n")
    ok = code == 69 and "failed to initialise: ssh-patch: private_key_passphrase: cannot " \
        "resolve the secret reference" in err
    failures += not ok
    print(("ok   " if ok else "FAIL ") + "init refuses an unresolvable passphrase: " +
          err.strip())
    settings = listed_settings("ssh-patch")
    want = {"forks": ("int", "50"), "connect_timeout": ("duration", "10s"),
            "command_timeout": ("duration", "30m"), "lock_timeout": ("duration", "10m"),
            "known_hosts": ("string", "~/.ssh/known_hosts"), "agent": ("bool", "true"),
            "private_key_passphrase": ("secret_ref", None)}
    for name, (kind, default) in want.items():
        got = (settings[name]["type"], settings[name].get("default"))
        ok = got == (kind, default)
        failures += not ok
        print(("ok   " if ok else "FAIL ") + "plugins --json: %s is %s" % (name, got))
    listed = [(settings["engine"].get("choices"), ["poll", "threads"]),
              (settings["forks"].get("min"), 1), (settings["max_output"].get("min"), 1024),
              (settings["connect_timeout"].get("more_than"), 0),
              (settings["apt_options"].get("string_or_list"), True)]
    for got, wanted in listed:
        ok = got == wanted
        failures += not ok
        print(("ok   " if ok else "FAIL ") + "plugins --json lists %r (want %r)" % (got, wanted))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
