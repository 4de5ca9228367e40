"""Helpers for the salve serve integration tests: a TAP-like checker, a salve serve
process with its config, HTTP calls with tokens, and waits bounded in time.

Only the standard library. Every process is started by the test and stopped in cleanup();
every wait has a deadline (a timing never decides a pass: deadlines are generous and a
timeout is reported as a failure of the condition waited for).
"""
import atexit
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

SALVE = os.environ.get("SALVE_BIN")
TEST_PLUGINS = os.environ.get("SALVE_TEST_PLUGIN_DIR")
FIXTURES = os.environ.get("SALVE_FIXTURES_DIR",
                          os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
HERE = os.path.dirname(os.path.abspath(__file__))
RUNBOOKS = os.path.join(HERE, "runbooks")

HOOK_TOKEN = "hooks-token-0123456789abcdef"
READ_TOKEN = "read-token-0123456789abcdef"
APPROVE_TOKEN = "approve-token-0123456789abcdef"

if not SALVE or not TEST_PLUGINS:
    print("run through ctest (SALVE_BIN and SALVE_TEST_PLUGIN_DIR)", file=sys.stderr)
    sys.exit(2)


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, cond, what, detail=None):
        if cond:
            self.passed += 1
            print("ok - %s" % what, flush=True)
        else:
            self.failed += 1
            print("not ok - %s" % what, flush=True)
            if detail is not None:
                for line in str(detail).splitlines()[:30]:
                    print("    | %s" % line, flush=True)
        return cond

    def eq(self, got, want, what):
        return self.ok(got == want, what, "got %r, wanted %r" % (got, want))

    def finish(self):
        print("# %d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 1 if self.failed else 0


_procs = []
_tmpdirs = []


def cleanup():
    for p in _procs:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=10)
            except Exception:
                pass
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(cleanup)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))


def tmpdir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


def spawn(argv, **kw):
    p = subprocess.Popen(argv, **kw)
    _procs.append(p)
    return p


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(what, fn, timeout=20.0, interval=0.05):
    """Polls fn until it returns a true value (returned) or the deadline passes (None)."""
    until = time.monotonic() + timeout
    while True:
        try:
            v = fn()
        except (OSError, http.client.HTTPException, ValueError):
            v = None
        if v:
            return v
        if time.monotonic() > until:
            print("# gave up waiting for %s after %.0f s" % (what, timeout), flush=True)
            return None
        time.sleep(interval)


def salve(args, env=None, config=None):
    """Runs the salve CLI; returns (exit code, stdout, stderr)."""
    argv = [SALVE] + (["--config", config] if config else []) + args
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    return r.returncode, r.stdout, r.stderr


class Server:
    """One salve serve process. yaml is the config text after the common header."""

    def __init__(self, name, routes_yaml, server_yaml="", tokens=True, extra_env=None,
                 plugins_yaml="", plugin_dirs=(), audit_sync="none", top_yaml=""):
        self.dir = tmpdir("salve-serve-%s-" % name)
        self.kit = os.path.join(self.dir, "kit")
        os.makedirs(self.kit)
        self.audit = os.path.join(self.dir, "audit.jsonl")
        self.state = os.path.join(self.dir, "state")
        self.config = os.path.join(self.dir, "salve.yaml")
        self.tokens = tokens
        read_file = os.path.join(self.dir, "read.token")
        with open(read_file, "w") as f:
            f.write(READ_TOKEN + "\n")
        os.chmod(read_file, 0o600)
        token_yaml = ""
        if tokens:
            token_yaml = ("  tokens: {hooks: env:SALVE_TEST_HOOK_TOKEN, read: file:%s, "
                          "approve: env:SALVE_TEST_APPROVE_TOKEN}\n" % read_file)
        text = ("audit: %s\naudit_sync: %s\nstate_dir: %s\nplugin_path: [%s]\n"
                "plugins:\n  testkit: {dir: %s}\n%s"
                "server:\n  listen: 127.0.0.1:0\n  runbook_dir: %s\n%s%s"
                "routes:\n%s%s" % (self.audit, audit_sync, self.state,
                                   ", ".join([TEST_PLUGINS] + list(plugin_dirs)), self.kit,
                                   plugins_yaml, RUNBOOKS, token_yaml, server_yaml, routes_yaml,
                                   top_yaml))
        with open(self.config, "w") as f:
            f.write(text)
        self.env = dict(os.environ)
        self.env["SALVE_TEST_HOOK_TOKEN"] = HOOK_TOKEN
        self.env["SALVE_TEST_APPROVE_TOKEN"] = APPROVE_TOKEN
        self.env.pop("SALVE_PLUGIN_PATH", None)
        if extra_env:
            self.env.update(extra_env)
        self.proc = None
        self.port = None
        self.scheme = "http"
        self.context = None

    def start(self, prefix=()):
        """prefix: a command to run salve under (strace ...)."""
        self.errpath = os.path.join(self.dir, "serve.err.%d" % int(time.monotonic() * 1000))
        self.err = open(self.errpath, "w")
        self.proc = spawn(list(prefix) + [SALVE, "serve", "--config", self.config],
                          stdout=self.err, stderr=self.err, env=self.env)

        def listening():
            with open(self.errpath) as f:
                for line in f:
                    if "listening on" in line:
                        return line
            if self.proc.poll() is not None:
                raise RuntimeError("salve serve exited %d" % self.proc.returncode)
            return None

        try:
            line = wait_for("salve serve to listen", listening, timeout=20)
        except RuntimeError:
            line = None
        if not line:
            raise RuntimeError("salve serve did not start:\n" + self.stderr())
        self.scheme = line.split("listening on ")[1].split("://")[0]
        self.port = int(line.split("listening on ")[1].split(":")[2].split(" ")[0])
        return self

    def stderr(self):
        with open(self.errpath) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        self.err.close()
        return rc

    def conn(self):
        if self.scheme == "https":
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30,
                                               context=self.context)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(self, method, path, body=None, token=None, headers=None, conn=None):
        """Returns (status, headers dict, body text)."""
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        c = conn or self.conn()
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read().decode("utf-8", "replace")
        if conn is None:
            c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def call(self, method, path, body=None, token=None, conn=None):
        """Returns (status, parsed JSON or None)."""
        status, _, text = self.request(method, path, body, token, conn=conn)
        try:
            return status, json.loads(text)
        except ValueError:
            return status, None

    def post_alerts(self, alerts, conn=None, hook="alertmanager", token=HOOK_TOKEN):
        if hook == "alertmanager":
            body = {"version": "4", "receiver": "salve", "status": "firing", "alerts": alerts,
                    "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
                    "externalURL": "http://am", "groupKey": "{}:{}", "truncatedAlerts": 0}
        else:
            body = alerts
        return self.call("POST", "/hooks/" + hook, body, token=token, conn=conn)

    def run(self, run_id):
        status, r = self.call("GET", "/runs/" + run_id, token=READ_TOKEN)
        return r if status == 200 else None

    def wait_run(self, run_id, states=("finished",), timeout=20):
        return wait_for("run %s to be %s" % (run_id, "/".join(states)),
                        lambda: (lambda r: r if r and r["state"] in states else None)(
                            self.run(run_id)), timeout=timeout)

    def metrics(self):
        status, _, text = self.request("GET", "/metrics", token=READ_TOKEN)
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def kv(self, key):
        try:
            with open(os.path.join(self.kit, "kv", key)) as f:
                return f.read()
        except FileNotFoundError:
            return None

    def audit_records(self):
        with open(self.audit) as f:
            return [json.loads(line) for line in f if line.strip()]


def alert(name, labels=None, annotations=None, starts="2026-11-22T02:52:22.625Z",
          status="firing", fingerprint=None):
    """One Alertmanager-shaped alert; the fingerprint defaults to one per label set."""
    l = {"alertname": name}
    l.update(labels or {})
    a = {"status": status, "labels": l, "annotations": annotations or {}, "startsAt": starts,
         "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else
         "2026-11-22T03:00:00.000Z", "generatorURL": "http://prom/graph"}
    if fingerprint:
        a["fingerprint"] = fingerprint
    return a
