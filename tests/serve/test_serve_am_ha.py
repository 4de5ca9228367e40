#!/usr/bin/env python3
"""End to end, as production runs it (issue 14): a real clustered Alertmanager HA pair (two
Debian prometheus-alertmanager processes gossiping on 127.0.0.1), a real 3-member etcd
cluster (Debian's etcd-server) and two salve-serve replicas with ha:. Each Alertmanager's
webhook receiver lists both replicas, and every alert is posted to both Alertmanagers (as
Prometheus posts to each member of a pair), so each alert occurrence reaches each replica
once or twice, at about the same instant.

Asserted: each occurrence runs exactly once across both replicas (one run_start in the two
audit logs, one line in the file the runbook appends to, which both replicas share); every
other notification of it is deduplicated and audited naming the winning run (and, on the
other replica, the winning replica); Alertmanager's repeats after the run start nothing; the
resolved notifications start nothing.

The pair gossips fast but waits --cluster.peer-timeout=0s between its members, so both
members notify before either has heard of the other's notification (a pair whose gossip
lags): the worst case for salve. Then the same worst case without Alertmanager's timing:
four copies of an alert to each replica at one instant, many times over (a replica that
took two copies of an occurrence at once let a peer run it again; fixed in ingest.c)."""
import calendar
import json
import os
import subprocess
import threading
import time
import urllib.request

from serve_lib import (HOOK_TOKEN, Checks, Server, alert, free_port, spawn, tmpdir,
                       wait_for)
from test_serve_alertmanager import AM_BIN, now_rfc3339
from test_serve_ha import ETCD, ETCDCTL, Etcd, all_finished, ha_yaml

T = Checks()
ALERTS = 24        # occurrences through the Alertmanager pair
ROUNDS = 150       # occurrences posted straight to the replicas, COPIES to each at once
COPIES = 4

ROUTES = """
  - name: am
    matchers: ['alertname = "AmHa"']
    runbook: append.lua
    params: {key: "{{ labels.key }}"}
    cooldown: 10m
  - name: burst
    matchers: ['alertname = "Burst"']
    runbook: append.lua
    params: {key: "{{ labels.key }}"}
    cooldown: 10m
"""


class AlertmanagerPair:
    """Two clustered Alertmanagers with one config: a webhook receiver listing every URL in
    hooks, with the hook token from a file."""

    def __init__(self, hooks):
        self.dir = tmpdir("salve-am-ha-")
        token = os.path.join(self.dir, "hook.token")
        with open(token, "w") as f:
            f.write(HOOK_TOKEN + "\n")
        webhooks = "".join("""
      - url: %s
        send_resolved: true
        http_config:
          authorization:
            credentials_file: %s""" % (url, token) for url in hooks)
        config = os.path.join(self.dir, "alertmanager.yml")
        with open(config, "w") as f:
            f.write("""
route:
  receiver: salve
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: salve
    webhook_configs:%s
""" % webhooks)
        self.ports = [free_port(), free_port()]
        gossip = [free_port(), free_port()]
        self.procs = []
        for i in (0, 1):
            log = open(os.path.join(self.dir, "am%d.log" % i), "w")
            self.procs.append(spawn([
                AM_BIN, "--config.file=" + config,
                "--storage.path=" + os.path.join(self.dir, "data%d" % i),
                "--web.listen-address=127.0.0.1:%d" % self.ports[i],
                "--cluster.listen-address=127.0.0.1:%d" % gossip[i],
                "--cluster.advertise-address=127.0.0.1:%d" % gossip[i],
                "--cluster.peer=127.0.0.1:%d" % gossip[1 - i],
                "--cluster.gossip-interval=50ms", "--cluster.pushpull-interval=1s",
                "--cluster.peer-timeout=0s", "--cluster.settle-timeout=10s",
                "--log.level=info"], stdout=log, stderr=log))

    def get(self, i, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.ports[i], path),
                                    timeout=5) as r:
            return r.read().decode()

    def clustered(self):
        """Both members up, each seeing two peers, their cluster settled."""
        for i in (0, 1):
            st = json.loads(self.get(i, "/api/v2/status"))["cluster"]
            if st.get("status") != "ready" or len(st.get("peers") or []) != 2:
                return False
        return True

    def post(self, alerts):
        """To both members, as Prometheus does: the answers' statuses."""
        out = []
        for port in self.ports:
            req = urllib.request.Request("http://127.0.0.1:%d/api/v2/alerts" % port,
                                         data=json.dumps(alerts).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                out.append(r.status)
        return out

    def notifications(self):
        """Per member: (webhook notifications sent, failed), from its /metrics."""
        out = []
        for i in (0, 1):
            sent = failed = 0.0
            for line in self.get(i, "/metrics").splitlines():
                if 'integration="webhook"' not in line or line.startswith("#"):
                    continue
                if line.startswith("alertmanager_notifications_total"):
                    sent += float(line.rsplit(" ", 1)[1])
                elif line.startswith("alertmanager_notifications_failed_total"):
                    failed += float(line.rsplit(" ", 1)[1])
            out.append((int(sent), int(failed)))
        return out

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)

    def logs(self):
        out = ""
        for i in (0, 1):
            with open(os.path.join(self.dir, "am%d.log" % i)) as f:
                out += "== am%d\n%s" % (i, f.read()[-2000:])
        return out


def records(replicas, event, alertname, status=None):
    """[(replica name, record)] of one event in both audit logs, for one alertname (alert
    decisions) or the runs it started (run_start, run_end: trigger alert:FP of it)."""
    out, fps = [], set()
    for name, s in replicas:
        recs = s.audit_records()
        for r in recs:
            if r.get("event") == "alert" and r["labels"].get("alertname") == alertname:
                fps.add(r["fingerprint"])
                if event == "alert" and (status is None or r["status"] == status):
                    out.append((name, r))
        if event != "alert":
            runs = {r["run"] for r in recs if r.get("event") == "run_start" and
                    r["trigger"].split(":", 1)[1] in fps}
            out += [(name, r) for r in recs if r.get("event") == event and r["run"] in runs]
    return out


def winners_of(replicas, alertname):
    """{fingerprint: {"replica", "run"}} from the run_start records, and their count."""
    starts = records(replicas, "run_start", alertname)
    return {r["trigger"].split(":", 1)[1]: {"replica": name, "run": r["run"]}
            for name, r in starts}, len(starts)


def ran_once(kit, keys):
    """The keys that the runbook's file does not have exactly once: {key: lines}."""
    counts = dict.fromkeys(keys, 0)
    try:
        with open(os.path.join(kit, "notified")) as f:
            for line in f.read().splitlines():
                if line in counts:
                    counts[line] += 1
    except FileNotFoundError:
        pass
    return {k: n for k, n in counts.items() if n != 1}


def check_notifications(replicas, alertname, winners, after=None):
    """Every firing decision for alertname (only those audited after after[fingerprint], if
    given) that is not the winner's "queued" names the winning run, and on the other replica
    the winning replica too. (queued count per fingerprint, deduplicated count, first bad
    record or None)."""
    queued, dups, bad = {}, 0, None
    for name, r in records(replicas, "alert", alertname, "firing"):
        fp = r["fingerprint"]
        win = winners.get(fp)
        if not win:
            bad = bad or ("an alert no run started for", name, r)
            continue
        if after and r["ts"] <= after[fp]:
            continue
        if r["decision"] == "queued":
            queued[fp] = queued.get(fp, 0) + 1
            if (name, r.get("run")) != (win["replica"], win["run"]):
                bad = bad or ("queued, but not the run that started", name, r)
            continue
        dups += 1
        ok = r["decision"] == "deduplicated" and r.get("run") == win["run"]
        if name != win["replica"] or r.get("reason") == "claimed":
            ok = ok and r.get("reason") == "claimed" and r.get("replica") == win["replica"] \
                and r.get("detail") == "duplicate of run %s on replica %s" % (
                    win["run"], win["replica"])
        else:
            ok = ok and r.get("reason") in ("active", "cooldown")
        if not ok:
            bad = bad or (name, r, win)
    return queued, dups, bad


def test_alertmanager_pair(am, replicas, kit):
    a, b = replicas[0][1], replicas[1][1]
    T.ok(wait_for("the Alertmanager pair to cluster", am.clustered, timeout=40,
                  interval=0.2), "two Alertmanagers are up and clustered (2 peers each, "
         "settled)", am.logs())

    # 1. Each alert to both Alertmanagers; each notifies both replicas.
    starts = now_rfc3339(-60)
    keys = ["amha-%02d" % i for i in range(ALERTS)]
    alerts = [{"labels": {"alertname": "AmHa", "key": k}, "annotations": {},
               "startsAt": starts, "generatorURL": "http://127.0.0.1/prom"} for k in keys]
    T.eq(am.post(alerts), [200, 200], "%d alerts posted to both Alertmanagers" % ALERTS)

    def every_replica_notified(status):
        seen = {name: set() for name, _ in replicas}
        for name, r in records(replicas, "alert", "AmHa", status):
            seen[name].add(r["labels"]["key"])
        return all(seen[n] >= set(keys) for n in seen)

    T.ok(wait_for("both replicas to be notified of every alert",
                  lambda: every_replica_notified("firing"), timeout=30),
         "both replicas were notified of every alert", am.logs())
    T.ok(wait_for("the runs to finish", lambda: winners_of(replicas, "AmHa")[1] >= ALERTS and
                  all_finished(a, b), timeout=30), "the runs finished")
    winners, nstarts = winners_of(replicas, "AmHa")
    T.eq(nstarts, ALERTS, "exactly %d run_start records across both audit logs" % ALERTS)
    T.eq(len(winners), ALERTS, "one run per occurrence (distinct fingerprints)")
    T.eq(ran_once(kit, keys), {}, "the runbook's file has one line per alert: each ran once "
         "in the cluster")
    queued, dups, bad = check_notifications(replicas, "AmHa", winners)
    T.ok(bad is None and sorted(queued.values()) == [1] * ALERTS,
         "each occurrence was queued once, by the replica that ran it", (bad, queued))
    T.ok(bad is None and dups >= ALERTS,
         "%d other notifications deduplicated, each naming the winning run (and, on the "
         "other replica, the winning replica)" % dups, bad)
    by_replica = {n: sum(1 for w in winners.values() if w["replica"] == n) for n in "ab"}
    print("# runs per replica %r; webhook notifications (sent, failed) per Alertmanager %r"
          % (by_replica, am.notifications()), flush=True)

    # 2. Alertmanager's repeats (repeat_interval 2s) after the runs start nothing. A
    # notification counts as a repeat when audited a second after its run ended: every
    # first notification had arrived by then (the run followed the first of them).
    ended = {}
    for name, r in records(replicas, "run_end", "AmHa"):
        fp = next(f for f, w in winners.items() if w["run"] == r["run"])
        t = calendar.timegm(time.strptime(r["ts"][:19], "%Y-%m-%dT%H:%M:%S")) + 1
        ended[fp] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + r["ts"][19:]
    T.eq(len(ended), ALERTS, "every run ended (run_end audited)")

    def repeated():
        late = {}
        for name, r in records(replicas, "alert", "AmHa", "firing"):
            if r["ts"] > ended[r["fingerprint"]]:
                late.setdefault(r["fingerprint"], set()).add(name)
        return len(late) == ALERTS and all(v == {"a", "b"} for v in late.values())

    T.ok(wait_for("a repeat of every alert to both replicas after its run", repeated,
                  timeout=30), "Alertmanager repeated every alert to both replicas after "
         "its run", am.logs())
    queued, dups, bad = check_notifications(replicas, "AmHa", winners, after=ended)
    T.ok(bad is None and not queued and dups >= 2 * ALERTS,
         "the %d repeats after the runs were deduplicated, naming the run that ran" % dups,
         (bad, queued))
    T.eq(winners_of(replicas, "AmHa")[1], ALERTS, "no run started for a repeat")

    # 3. Resolved (to both Alertmanagers): the resolved notifications start nothing.
    resolved_at = now_rfc3339()
    T.eq(am.post([dict(x, endsAt=resolved_at) for x in alerts]), [200, 200],
         "the alerts resolved at both Alertmanagers")
    T.ok(wait_for("both replicas to be notified of every resolve",
                  lambda: every_replica_notified("resolved"), timeout=30),
         "both replicas were notified that every alert resolved", am.logs())
    # What the pair still had in flight (a member's late firing) arrives within a group
    # interval or two; it must start nothing either.
    time.sleep(3)
    res = records(replicas, "alert", "AmHa", "resolved")
    T.ok(res and all(r["decision"] == "resolved" and "run" not in r for _, r in res),
         "%d resolved notifications audited as resolved, none queued" % len(res),
         [r for _, r in res if r["decision"] != "resolved"][:3])
    decisions = sorted({r["decision"] for _, r in records(replicas, "alert", "AmHa")})
    T.ok(set(decisions) <= {"queued", "deduplicated", "resolved", "ignored"},
         "no notification was refused", decisions)
    T.eq(winners_of(replicas, "AmHa")[1], ALERTS, "still exactly %d runs" % ALERTS)
    T.eq(ran_once(kit, keys), {}, "and the runbook's file still has one line per alert")
    sent = am.notifications()
    T.ok(all(f == 0 for _, f in sent), "Alertmanager saw no failed notification", sent)


def test_same_instant(replicas, kit):
    """COPIES copies of each alert to each replica at one instant (a barrier), ROUNDS times."""
    a, b = replicas[0][1], replicas[1][1]
    targets = [a] * COPIES + [b] * COPIES
    keys = ["burst-%03d" % i for i in range(ROUNDS)]
    bad_rounds = []
    for i, key in enumerate(keys):
        al = alert("Burst", {"key": key}, fingerprint="b%015x" % i)
        barrier = threading.Barrier(len(targets))
        answers = [None] * len(targets)

        def post(j, srv):
            conn = srv.conn()
            conn.connect()
            barrier.wait(timeout=10)
            answers[j] = srv.post_alerts([al], conn=conn)[0]
            conn.close()

        threads = [threading.Thread(target=post, args=(j, s)) for j, s in enumerate(targets)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        if sorted(answers) != [200] * (len(targets) - 1) + [202]:
            bad_rounds.append((key, answers))
    T.ok(not bad_rounds, "%d rounds of %d copies at once: one 202 and %d 200 each"
         % (ROUNDS, len(targets), len(targets) - 1), bad_rounds[:5])
    T.ok(wait_for("the runs to finish", lambda: all_finished(a, b), timeout=60),
         "the runs finished")
    winners, nstarts = winners_of(replicas, "Burst")
    T.eq(nstarts, ROUNDS, "exactly %d run_start records, one per occurrence" % ROUNDS)
    T.eq(ran_once(kit, keys), {}, "the runbook's file has one line per occurrence")
    queued, dups, bad = check_notifications(replicas, "Burst", winners)
    T.ok(bad is None and sorted(queued.values()) == [1] * ROUNDS and
         dups == ROUNDS * (len(targets) - 1),
         "the other %d copies were deduplicated, naming the winning run (and, on the other "
         "replica, the winning replica)" % (ROUNDS * (len(targets) - 1)), (bad, dups))


def main():
    if not AM_BIN or not ETCD or not ETCDCTL:
        print("not ok - prometheus-alertmanager, etcd-server and etcd-client are needed "
              "(tests/plugins/serve/apt-packages)")
        return 1
    etcd = Etcd()
    if not T.ok(etcd.wait_healthy(), "a 3-member etcd cluster is up"):
        return T.finish()
    # Every client is 127.0.0.1 here: both Alertmanagers open a connection per group they
    # flush, more than the default 32 per address.
    server = "  max_connections_per_ip: 0\n"
    a = Server("am-ha-a", ROUTES, server, top_yaml=ha_yaml(etcd, "a"))
    b = Server("am-ha-b", ROUTES, server, top_yaml=ha_yaml(etcd, "b"))
    # One testkit store for both replicas, as one fleet behind two replicas: the file the
    # runbook appends to counts the runs of the cluster.
    kit = tmpdir("salve-am-ha-kit-")
    for s in (a, b):
        os.rmdir(s.kit)
        os.symlink(kit, s.kit)
    replicas = (("a", a.start()), ("b", b.start()))
    am = AlertmanagerPair(["http://127.0.0.1:%d/hooks/alertmanager" % s.port for s in (a, b)])
    try:
        test_alertmanager_pair(am, replicas, kit)
        test_same_instant(replicas, kit)
    finally:
        am.stop()
        for name, s in replicas:
            T.eq(s.stop(), 0, "replica %s stops cleanly" % name)
            err = s.stderr()
            T.ok("Sanitizer" not in err and "runtime error" not in err,
                 "no sanitizer report from replica %s" % name, err[-3000:])
            rc = subprocess.run([os.environ["SALVE_BIN"], "audit", "verify", s.audit],
                                capture_output=True, text=True)
            T.eq(rc.returncode, 0, "replica %s's audit chain verifies" % name)
    return T.finish()


if __name__ == "__main__":
    raise SystemExit(main())
