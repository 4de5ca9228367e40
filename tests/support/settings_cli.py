"""A plugin's salve.yaml section through the real salve binary: what `salve run` says when the
core refuses the section before the plugin's init, and what `salve plugins --json` lists as
the plugin's settings. Needs SALVE_BIN and SALVE_PLUGIN_DIR (set by ctest)."""
import json
import os
import subprocess
import tempfile

RUNBOOK = """
runbook { name = "settings-cli", description = "loads one plugin" }
local p = plugin "%s"
step "never" { run = function(params, state) return {} end }
"""


def run_with_section(plugin, section_yaml):
    """`salve run` of a runbook that uses plugin, with plugins: PLUGIN: section_yaml (the
    section's lines, indented by 4). Returns (exit, stderr)."""
    with tempfile.TemporaryDirectory(prefix="salve-settings-") as work:
        cfg = os.path.join(work, "salve.yaml")
        with open(cfg, "w") as f:
            f.write("plugins:\n  %s:\n%s" % (plugin, section_yaml))
        rb = os.path.join(work, "settings-cli.lua")
        with open(rb, "w") as f:
            f.write(RUNBOOK % plugin)
        proc = subprocess.run(
            [os.environ["SALVE_BIN"], "--config", cfg, "--audit",
             os.path.join(work, "audit.jsonl"), "--state-dir", os.path.join(work, "state"),
             "--plugin-path", os.environ["SALVE_PLUGIN_DIR"], "run", rb],
            cwd=work, capture_output=True, text=True, timeout=60)
        return proc.returncode, proc.stderr


def listed_settings(plugin):
    """The settings `salve plugins --json` lists for plugin, by name."""
    proc = subprocess.run(
        [os.environ["SALVE_BIN"], "--plugin-path", os.environ["SALVE_PLUGIN_DIR"], "plugins",
         "--json"], capture_output=True, text=True, timeout=60, check=True)
    for p in json.loads(proc.stdout)["plugins"]:
        if p["name"] == plugin:
            return {s["name"]: s for s in p["settings"]}
    raise AssertionError("salve plugins --json does not list " + plugin)
