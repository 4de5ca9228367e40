#!/usr/bin/env python3
"""salve serve with ha: on a real 3-member etcd cluster (Debian's etcd-server, 127.0.0.1 only)
and two real salve-serve replicas (issue 14, the first slice): the same alert posted to both
replicas at the same instant, 100 times, gives exactly 100 runs (the loser answers 200
"duplicate of run X on replica Y" and audits it); salve pause on replica A stops replica B;
with one etcd member killed the service goes on; with quorum lost an alert gets 503 and no
run starts. The config is checked too: inline passwords and unknown keys are refused."""
import json
import os
import shutil
import signal
import subprocess
import sys
import ssl
import tempfile
import threading
import urllib.request

import serve_lib
from serve_lib import (READ_TOKEN, Checks, Server, alert, free_port, salve,
                       spawn, tmpdir, wait_for)

T = Checks()
ETCD = shutil.which("etcd")
ETCDCTL = shutil.which("etcdctl")

ROUTES = """
  - name: kv
    matchers: ['alertname = "Kv"']
    runbook: kv.lua
    params: {key: "{{ labels.key }}"}
    cooldown: 0s
  - name: limited
    matchers: ['alertname = "Limited"']
    runbook: kv.lua
    params: {key: "{{ labels.key }}"}
    cooldown: 0s
    rate_limit: 1/1h
"""


class Etcd:
    """An etcd cluster of n members on 127.0.0.1, started here, killed at the end; with tls
    (ca, cert, key files) its members serve https and want client certificates."""

    def __init__(self, n=3, tls=None):
        # In memory where there is some: etcd syncs every write, and a slow disk is not
        # what these tests are about.
        shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        self.dir = tempfile.mkdtemp(prefix="salve-etcd-", dir=shm)
        serve_lib._tmpdirs.append(self.dir)
        self.tls = tls
        scheme = "https" if tls else "http"
        self.members = []
        for i in range(n):
            self.members.append({"name": "m%d" % i, "client": free_port(),
                                 "peer": free_port(), "proc": None})
        cluster = ",".join("%s=http://127.0.0.1:%d" % (m["name"], m["peer"])
                           for m in self.members)
        for m in self.members:
            log = open(os.path.join(self.dir, m["name"] + ".log"), "w")
            m["proc"] = spawn([
                ETCD, "--name", m["name"], "--data-dir", os.path.join(self.dir, m["name"]),
                "--listen-client-urls", "%s://127.0.0.1:%d" % (scheme, m["client"]),
                "--advertise-client-urls", "%s://127.0.0.1:%d" % (scheme, m["client"]),
                "--listen-peer-urls", "http://127.0.0.1:%d" % m["peer"],
                "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % m["peer"],
                "--initial-cluster", cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", "salve-test"] + (
                    ["--cert-file", tls["server_cert"], "--key-file", tls["server_key"],
                     "--client-cert-auth", "--trusted-ca-file", tls["ca"]] if tls else []),
                stdout=log, stderr=log)
        self.scheme = scheme

    def endpoints(self):
        return ["%s://127.0.0.1:%d" % (self.scheme, m["client"]) for m in self.members]

    def healthy(self, m):
        ctx = None
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.tls["ca"])
            ctx.load_cert_chain(self.tls["cert"], self.tls["key"])
        try:
            with urllib.request.urlopen("%s://127.0.0.1:%d/health" % (self.scheme, m["client"]),
                                        timeout=2, context=ctx) as r:
                return json.loads(r.read()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def wait_healthy(self):
        return wait_for("etcd to be healthy",
                        lambda: all(self.healthy(m) for m in self.members
                                    if m["proc"].poll() is None), timeout=30, interval=0.2)

    def kill(self, i):
        self.members[i]["proc"].send_signal(signal.SIGKILL)
        self.members[i]["proc"].wait(timeout=10)

    def leader(self):
        """The index of the member that leads now (etcdctl endpoint status), or None."""
        code, out = self.ctl("endpoint", "status", "--write-out=json")
        try:
            status = json.loads(out)
        except ValueError:
            return None
        for i, (e, m) in enumerate(zip(self.endpoints(), self.members)):
            for st in status:
                if st.get("Endpoint") == e and \
                        st["Status"]["leader"] == st["Status"]["header"]["member_id"]:
                    return i
        return None

    def ctl(self, *args):
        """etcdctl on the live members: (exit code, output)."""
        alive = [e for e, m in zip(self.endpoints(), self.members) if m["proc"].poll() is None]
        r = subprocess.run([ETCDCTL, "--endpoints", ",".join(alive)] + list(args),
                           capture_output=True, text=True, timeout=20,
                           env=dict(os.environ, ETCDCTL_API="3"))
        return r.returncode, r.stdout + r.stderr

    def get(self, key):
        """The value at key through etcdctl (the CLI from Debian's etcd-client), or None."""
        alive = [e for e, m in zip(self.endpoints(), self.members) if m["proc"].poll() is None]
        r = subprocess.run([ETCDCTL, "--endpoints", ",".join(alive), "get", key,
                            "--print-value-only"], capture_output=True, text=True, timeout=20,
                           env=dict(os.environ, ETCDCTL_API="3"))
        return r.stdout.strip() or None

    def values(self, prefix):
        """The values of every key under prefix (etcdctl get --prefix)."""
        alive = [e for e, m in zip(self.endpoints(), self.members) if m["proc"].poll() is None]
        r = subprocess.run([ETCDCTL, "--endpoints", ",".join(alive), "get", prefix, "--prefix",
                            "--print-value-only"], capture_output=True, text=True, timeout=20,
                           env=dict(os.environ, ETCDCTL_API="3"))
        return [line for line in r.stdout.splitlines() if line.strip()]


def start_cluster(checks):
    """A healthy 3-member cluster for a test's main(), or None (the failure reported through
    checks: a missing package, or a cluster that did not come up)."""
    if not ETCD or not ETCDCTL:
        print("not ok - etcd-server and etcd-client are needed "
              "(tests/plugins/serve/apt-packages)")
        return None
    etcd = Etcd()
    return etcd if checks.ok(etcd.wait_healthy(), "a 3-member etcd cluster is up") else None


def make_tls(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate (openssl CLI)."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=60)
    f = {k: os.path.join(d, k) for k in ("ca", "ca_key", "server_cert", "server_key", "cert",
                                         "key", "ext_server", "ext_client", "csr")}
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", f["ca_key"], "-out", f["ca"], "-days", "1",
        "-subj", "/CN=salve-test-ca")
    with open(f["ext_server"], "w") as x:
        x.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
    with open(f["ext_client"], "w") as x:
        x.write("extendedKeyUsage=clientAuth\n")
    for cert, key, cn, ext in ((f["server_cert"], f["server_key"], "127.0.0.1", "ext_server"),
                               (f["cert"], f["key"], "salve", "ext_client")):
        run("req", *ec, "-keyout", key, "-out", f["csr"], "-subj", "/CN=" + cn)
        run("x509", "-req", "-in", f["csr"], "-CA", f["ca"], "-CAkey", f["ca_key"],
            "-CAcreateserial", "-out", cert, "-days", "1", "-extfile", f[ext])
    return f


def test_client(cluster, binary):
    """The etcd client's own checks (test_ha_etcd.c) on this cluster, a member with
    authentication on and a member that wants client certificates."""
    auth = Etcd(1)
    tls = make_tls(tmpdir("salve-etcd-tls-"))
    secure = Etcd(1, tls=tls)
    if not T.ok(auth.wait_healthy() and secure.wait_healthy(),
                "an etcd with authentication and one with client certificates are up"):
        return
    password = "etcd-password-0123456789"
    steps = [("user", "add", "root", "--new-user-password", "root-password-0123"),
             ("user", "add", "salve", "--new-user-password", password),
             ("role", "add", "salve"),
             ("role", "grant-permission", "salve", "readwrite", "/etcd-test/", "--prefix"),
             ("user", "grant-role", "salve", "salve"),
             ("auth", "enable")]
    for step in steps:
        code, out = auth.ctl(*step)
        if not T.ok(code == 0, "etcdctl " + " ".join(step[:2]), out):
            return
    env = dict(os.environ, SALVE_TEST_ETCD=",".join(cluster.endpoints()),
               SALVE_TEST_ETCD_DEAD="http://127.0.0.1:%d" % free_port(),
               SALVE_TEST_ETCD_AUTH=auth.endpoints()[0], SALVE_TEST_ETCD_USER="salve",
               SALVE_TEST_ETCD_PASSWORD=password, SALVE_TEST_ETCD_TLS=secure.endpoints()[0],
               SALVE_TEST_ETCD_CA=tls["ca"], SALVE_TEST_ETCD_CERT=tls["cert"],
               SALVE_TEST_ETCD_KEY=tls["key"])
    r = subprocess.run([binary], capture_output=True, text=True, timeout=120, env=env)
    T.ok(r.returncode == 0, "the etcd client: kv, txn, leases, failover, auth and TLS "
         "(test_ha_etcd)", r.stdout + r.stderr)
    for e in (auth, secure):
        for m in e.members:
            m["proc"].kill()
            m["proc"].wait(timeout=10)


def ha_yaml(etcd, replica, extra=""):
    return ("ha:\n  etcd:\n    endpoints: [%s]\n    timeout: 3s\n%s"
            "  prefix: /salve-test\n  lease_ttl: 10s\n  replica: %s\n"
            % (", ".join(etcd.endpoints()), extra, replica))


def run_starts(*servers):
    return [r for s in servers for r in s.audit_records() if r.get("event") == "run_start"]


def runs(srv):
    status, body = srv.call("GET", "/runs?limit=1000", token=READ_TOKEN)
    return body["runs"] if status == 200 else None


def all_finished(*servers):
    for s in servers:
        rs = runs(s)
        if rs is None or any(r["state"] != "finished" for r in rs):
            return False
    return True


def post_both(a, b, alerts):
    """Posts the same alerts to both replicas at the same instant: [(status, body)] * 2."""
    barrier = threading.Barrier(2)
    out = [None, None]

    def post(i, srv):
        conn = srv.conn()
        conn.connect()
        barrier.wait(timeout=10)
        out[i] = srv.post_alerts(alerts, conn=conn)
        conn.close()

    threads = [threading.Thread(target=post, args=(i, s)) for i, s in enumerate((a, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return out


def test_config_refused(etcd):
    s = Server("ha-bad", ROUTES, top_yaml=ha_yaml(etcd, "x", "    username: salve\n"
                                                   "    password: hunter2-inline\n"))
    code, out, err = salve(["serve", "--check"], config=s.config, env=s.env)
    T.ok(code != 0 and "ha.etcd.password: must be a reference" in err and
         "hunter2" not in err, "an inline etcd password is refused, not echoed", (code, err))
    s = Server("ha-bad2", ROUTES, top_yaml=ha_yaml(etcd, "x", "    endpoint: x\n"))
    code, out, err = salve(["serve", "--check"], config=s.config, env=s.env)
    T.ok(code != 0 and "ha.etcd: unknown key 'endpoint'" in err,
         "an unknown key under ha.etcd is refused", (code, err))


def test_exactly_once(etcd, a, b):
    rounds = 100
    winners = {"a": 0, "b": 0}
    answers_ok = True
    detail = None
    for i in range(rounds):
        al = alert("Kv", {"key": "k%03d" % i})
        (sa, ba), (sb, bb) = post_both(a, b, [al])
        ok = sorted([sa, sb]) == [200, 202]
        if ok:
            win, lose = (ba, bb) if sa == 202 else (bb, ba)
            winner = "a" if sa == 202 else "b"
            loser = lose["alerts"][0]
            run_id = win["runs"][0]
            ok = (loser["decision"] == "deduplicated" and loser["reason"] == "claimed" and
                  loser["detail"] == "duplicate of run %s on replica %s" % (run_id, winner) and
                  loser["run"] == run_id and lose["runs"] == [])
            winners[winner] += 1
        if not ok and answers_ok:
            answers_ok = False
            detail = (i, sa, ba, sb, bb)
    T.ok(answers_ok, "each of %d simultaneous pairs: one 202, one 200 naming the winner's "
         "run and replica" % rounds, detail)
    T.ok(wait_for("the runs to finish", lambda: all_finished(a, b), timeout=60),
         "every run finished")
    starts = run_starts(a, b)
    T.eq(len(starts), rounds, "exactly %d run_start records across both audit logs, "
         "never %d" % (rounds, 2 * rounds))
    keys = sorted(k for s in (a, b) if os.path.isdir(os.path.join(s.kit, "kv"))
                  for k in os.listdir(os.path.join(s.kit, "kv")))
    T.eq(keys, ["k%03d" % i for i in range(rounds)], "each key was set once, by one replica")
    dups = [r for s in (a, b) for r in s.audit_records()
            if r.get("event") == "alert" and r.get("reason") == "claimed"]
    T.ok(len(dups) == rounds and all(r["decision"] == "deduplicated" and
                                     r["replica"] in ("a", "b") and r["run"] for r in dups),
         "the losers audited %d deduplicated decisions with the holder's run and replica"
         % rounds, dups[:2])
    print("# winners: %r" % winners, flush=True)
    claims = [json.loads(v) for v in etcd.values("/salve-test/claims/")]
    won = sorted(r["run"] for r in starts)
    T.eq(sorted(c["run"] for c in claims), won,
         "etcd holds one claim per occurrence, naming the run that started")


def test_refusal_takes_no_claim(etcd, a, b):
    """A refused alert leaves no claim behind: the rate limit is shared (one transaction
    decides the claim and the limit), so the peer refuses it too instead of answering
    duplicate (test_serve_ha_guard.py tests the shared guardrails in full)."""
    st, body = a.post_alerts([alert("Limited", {"key": "lim-1"})])
    T.ok(st == 202, "replica a runs the first alert of its 1/1h route", body)
    st, body = a.post_alerts([alert("Limited", {"key": "lim-2"})])
    T.ok(st == 200 and body["alerts"][0]["reason"] == "rate_limited",
         "a refuses the second one (rate_limited)", body)
    st, body = b.post_alerts([alert("Limited", {"key": "lim-2"})])
    T.ok(st == 200 and body["alerts"][0]["reason"] == "rate_limited" and not body["runs"],
         "and so does replica b: the limit is the route's, across replicas", body)
    T.ok(wait_for("the runs to finish", lambda: all_finished(a, b), timeout=30), "finished")
    T.eq((a.kv("lim-1"), b.kv("lim-2"), a.kv("lim-2")), ("on", None, None),
         "lim-1 set by a, lim-2 by nobody")
    runs_claimed = [json.loads(v)["run"] for v in etcd.values("/salve-test/claims/")]
    lim1 = [r["run"] for r in a.audit_records()
            if r.get("event") == "alert" and r.get("decision") == "queued" and
            r["labels"].get("key") == "lim-1"]
    T.ok(len(lim1) == 1 and lim1[0] in runs_claimed and
         len(runs_claimed) == len(run_starts(a, b)),
         "etcd holds lim-1's claim and none for the refused lim-2", (lim1, len(runs_claimed)))


def test_take_over_own_claim(etcd):
    """A claim is taken over only by the process that made it, for a run it no longer has;
    a second process started with the same replica name never takes it (its run may be
    live)."""
    c = Server("ha-c", ROUTES, server_yaml="  history: 1\n",
               top_yaml=ha_yaml(etcd, "c")).start()
    twin = Server("ha-c2", ROUTES, top_yaml=ha_yaml(etcd, "c")).start()
    try:
        x = alert("Kv", {"key": "own-x"})
        st, body = c.post_alerts([x])
        first = body["runs"][0] if st == 202 else None
        T.ok(first and c.wait_run(first), "replica c runs alert x", body)
        st, body = c.post_alerts([alert("Kv", {"key": "own-y"})])
        T.ok(st == 202 and c.wait_run(body["runs"][0]) and c.run(first) is None,
             "and then y, which pushes x's run out of its table (history: 1)", body)
        st, body = twin.post_alerts([x])
        T.ok(st == 200 and body["alerts"][0]["detail"] ==
             "duplicate of run %s on replica c" % first,
             "a second process named c does not take over c's claim", body)
        st, body = c.post_alerts([x])
        again = body["runs"][0] if st == 202 else None
        T.ok(again and again != first and c.wait_run(again),
             "c itself does (its cooldown is over, the run gone): x runs again, as it would "
             "on a single server", body)
        claim = [json.loads(v) for v in etcd.values("/salve-test/claims/")
                 if json.loads(v)["run"] in (first, again)]
        T.ok(len(claim) == 1 and claim[0]["run"] == again and claim[0]["replica"] == "c",
             "the claim in etcd now names the new run", claim)
        st, body = twin.post_alerts([x])
        T.ok(st == 200 and body["alerts"][0]["detail"] ==
             "duplicate of run %s on replica c" % again, "and the twin sees that one", body)
    finally:
        T.eq(c.stop(), 0, "replica c stops cleanly")
        T.eq(twin.stop(), 0, "its twin too")


def paused(srv):
    status, body = srv.call("GET", "/routes", token=READ_TOKEN)
    return body["paused"] if status == 200 else None


def test_shared_pause(etcd, a, b):
    code, out, err = salve(["pause", "--reason", "maintenance"], config=a.config, env=a.env)
    T.ok(code == 0 and "paused" in out, "salve pause with ha: exits 0", (code, out, err))
    value = etcd.get("/salve-test/pause")
    T.ok(value is not None and json.loads(value)["reason"] == "maintenance",
         "the pause key is in etcd", value)
    T.ok(wait_for("replica b to pause", lambda: paused(b) is True, timeout=10),
         "replica b is paused by salve pause run with a's config")
    before = len(run_starts(a, b))
    st, body = b.post_alerts([alert("Kv", {"key": "paused"})])
    T.ok(st == 200 and body["alerts"][0]["decision"] == "refused" and
         body["alerts"][0]["reason"] == "paused" and body["runs"] == [],
         "an alert to replica b is refused (paused)", body)
    T.ok(not os.path.exists(os.path.join(b.state, "serve", "paused")) and
         not os.path.exists(os.path.join(a.state, "serve", "paused")),
         "no local pause file: the switch is etcd's")
    code, out, err = salve(["resume"], config=b.config, env=b.env)
    T.ok(code == 0 and etcd.get("/salve-test/pause") is None, "salve resume lifts it",
         (code, out, err))
    T.ok(wait_for("both replicas to resume",
                  lambda: paused(a) is False and paused(b) is False, timeout=10),
         "both replicas resume")
    st, body = a.post_alerts([alert("Kv", {"key": "after-pause"})])
    T.ok(st == 202, "and runs again", body)
    T.ok(wait_for("the runs to finish", lambda: all_finished(a, b), timeout=30), "it finished")
    T.eq(len(run_starts(a, b)), before + 1, "the paused alert started nothing, the later one "
         "one run")


def accepted_eventually(srv, al):
    """Posts al until it is not 503 (as Alertmanager retries); the last answer."""
    last = [None]

    def attempt():
        last[0] = srv.post_alerts([al])
        return last[0][0] != 503

    wait_for("an answer other than 503", attempt, timeout=30, interval=0.5)
    return last[0]


def test_member_killed(etcd, a, b):
    etcd.kill(0)
    before = len(run_starts(a, b))
    st, body = accepted_eventually(a, alert("Kv", {"key": "one-down-1"}))
    T.ok(st == 202, "one etcd member killed: an alert is still accepted", body)
    (sa, ba), (sb, bb) = post_both(a, b, [alert("Kv", {"key": "one-down-2"})])
    lose = bb if sa == 202 else ba
    T.ok(sorted([sa, sb]) == [200, 202] and lose["alerts"][0]["reason"] == "claimed",
         "and the same alert to both replicas runs once (the other is a duplicate)",
         (sa, ba, sb, bb))
    T.ok(wait_for("the runs to finish", lambda: all_finished(a, b), timeout=30), "finished")
    T.eq(len(run_starts(a, b)), before + 2, "two runs for two alerts")


def test_quorum_lost(etcd, a, b):
    etcd.kill(1)
    before_a, before_b = runs(a), runs(b)
    before = len(run_starts(a, b))
    sa, ba = a.post_alerts([alert("Kv", {"key": "no-quorum"})])
    sb, bb = b.post_alerts([alert("Kv", {"key": "no-quorum"})])
    T.ok(sa == 503 and ba["alerts"][0]["decision"] == "refused" and
         ba["alerts"][0]["reason"] == "ha_unavailable" and ba["runs"] == [],
         "quorum lost: replica a answers 503, refused ha_unavailable", ba)
    T.ok(sb == 503 and bb["runs"] == [], "and so does replica b", bb)
    T.eq((len(runs(a)), len(runs(b))), (len(before_a), len(before_b)), "no run was queued")
    T.eq(len(run_starts(a, b)), before, "no run started")
    T.eq(a.kv("no-quorum"), None, "nothing was changed")
    recs = [r for r in a.audit_records() if r.get("event") == "alert" and
            r.get("reason") == "ha_unavailable" and r["labels"]["key"] == "no-quorum"]
    T.ok(len(recs) == 1 and "etcd" in recs[0]["detail"], "the refusal is audited", recs)
    code, out, err = salve(["pause"], config=a.config, env=a.env)
    T.ok(code == 69 and "salve: pause: etcd" in err and "no endpoint could serve it" in err and
         not os.path.exists(os.path.join(a.state, "serve", "paused")),
         "salve pause without quorum exits 69, saying why, and writes no local file instead",
         (code, out, err))


def main():
    etcd = start_cluster(T)
    if not etcd:
        return T.finish() or 1
    test_config_refused(etcd)
    if len(sys.argv) > 1:
        test_client(etcd, sys.argv[1])
    a = Server("ha-a", ROUTES, top_yaml=ha_yaml(etcd, "a")).start()
    b = Server("ha-b", ROUTES, top_yaml=ha_yaml(etcd, "b")).start()
    try:
        test_exactly_once(etcd, a, b)
        test_refusal_takes_no_claim(etcd, a, b)
        test_take_over_own_claim(etcd)
        test_shared_pause(etcd, a, b)
        test_member_killed(etcd, a, b)
        test_quorum_lost(etcd, a, b)
    finally:
        T.eq(a.stop(), 0, "replica a stops cleanly")
        T.eq(b.stop(), 0, "replica b stops cleanly")
    return T.finish()


if __name__ == "__main__":
    raise SystemExit(main())
