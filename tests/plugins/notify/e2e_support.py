"""What the notify end-to-end scripts share: a counter of checks, the recording HTTP
receiver's /_control/ API, and starting that receiver on 127.0.0.1 for the length of a test.
"""
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


class Checks:
    """check(cond, what) prints ok/FAIL and counts; summary() prints the counts and returns
    the exit code."""

    def __init__(self):
        self.passed = 0
        self.failures = []

    def __call__(self, cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if cond:
            self.passed += 1
        else:
            self.failures.append(what)

    def summary(self):
        print("%d passed, %d failed" % (self.passed, len(self.failures)))
        return 1 if self.failures else 0


def control(base, path, body=None):
    """GET /_control/PATH (returns the parsed answer), or POST body to it (returns None)."""
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(base + "/_control/" + path, data=data, timeout=10) as r:
        return json.loads(r.read()) if body is None else None


@contextlib.contextmanager
def http_receiver(work):
    """Start http_receiver.py (its port file in work), yield its base URL, stop it on exit."""
    port_file = os.path.join(work, "port")
    recv = subprocess.Popen([sys.executable, os.path.join(HERE, "http_receiver.py"),
                             "--port-file", port_file])
    try:
        for _ in range(400):
            if os.path.exists(port_file):
                break
            time.sleep(0.025)
        with open(port_file) as f:
            yield "http://127.0.0.1:%d" % json.load(f)["port"]
    finally:
        recv.terminate()
        recv.wait(timeout=10)
