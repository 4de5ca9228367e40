#!/usr/bin/env python3
"""salve serve behind a real Alertmanager (and one real Prometheus rule), all on loopback.

Alertmanager (Debian prometheus-alertmanager 0.25) posts its webhook to salve serve with a
bearer token from http_config.authorization. Most alerts are posted straight to
Alertmanager's /api/v2/alerts (they reach the webhook in milliseconds); one comes from a
Prometheus rule end to end (Prometheus learns the Alertmanager address at its discovery tick:
the first notification takes about 7 s, so Prometheus starts first and is checked last)."""
import json
import os
import shutil
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone

from serve_lib import (APPROVE_TOKEN, HOOK_TOKEN, READ_TOKEN, Checks, Server, free_port, spawn,
                       tmpdir, wait_for)

T = Checks()
AM_BIN = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
PROM_BIN = shutil.which("prometheus")


def now_rfc3339(delta=0.0):
    t = datetime.now(timezone.utc) + timedelta(seconds=delta)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Alertmanager:
    def __init__(self, main_port, small_port):
        self.dir = tmpdir("salve-am-")
        self.port = free_port()
        token = os.path.join(self.dir, "hook.token")
        with open(token, "w") as f:
            f.write(HOOK_TOKEN + "\n")
        hook = "http://127.0.0.1:%d/hooks/alertmanager"
        cfg = """
route:
  receiver: salve
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - receiver: salve-small
      matchers: ['queue = "small"']
    - receiver: badtoken
      matchers: ['auth = "bad"']
receivers:
  - name: salve
    webhook_configs:
      - url: %s
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials_file: %s
  - name: salve-small
    webhook_configs:
      - url: %s
        send_resolved: true
        http_config:
          authorization:
            credentials_file: %s
  - name: badtoken
    webhook_configs:
      - url: %s
        send_resolved: false
        http_config:
          authorization:
            credentials: wrong-token-0123456789abcdef
""" % (hook % main_port, token, hook % small_port, token, hook % main_port)
        self.config = os.path.join(self.dir, "alertmanager.yml")
        with open(self.config, "w") as f:
            f.write(cfg)
        self.log = open(os.path.join(self.dir, "am.log"), "w")
        self.proc = spawn([AM_BIN, "--config.file=" + self.config,
                           "--storage.path=" + os.path.join(self.dir, "data"),
                           "--web.listen-address=127.0.0.1:%d" % self.port,
                           "--cluster.listen-address=", "--log.level=info"],
                          stdout=self.log, stderr=self.log)
        ready = wait_for("Alertmanager to be ready",
                         lambda: urllib.request.urlopen(
                             "http://127.0.0.1:%d/-/ready" % self.port, timeout=2).status == 200,
                         timeout=30)
        if not ready:
            raise RuntimeError("Alertmanager did not start:\n" + self.logs())

    def logs(self):
        with open(os.path.join(self.dir, "am.log")) as f:
            return f.read()[-4000:]

    def post(self, alerts):
        req = urllib.request.Request("http://127.0.0.1:%d/api/v2/alerts" % self.port,
                                     data=json.dumps(alerts).encode(),
                                     headers={"Content-Type": "application/json"},
                                     method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status

    def fingerprint(self, alertname):
        url = ("http://127.0.0.1:%d/api/v2/alerts?active=true&silenced=true&inhibited=true"
               "&unprocessed=true" % self.port)
        with urllib.request.urlopen(url, timeout=10) as r:
            for a in json.load(r):
                if a["labels"].get("alertname") == alertname:
                    return a["fingerprint"]
        return None

    def fire(self, labels, annotations=None):
        a = {"labels": labels, "annotations": annotations or {}, "startsAt": now_rfc3339(),
             "generatorURL": "http://127.0.0.1/test"}
        self.post([a])
        return a

    def resolve(self, a):
        r = dict(a, endsAt=now_rfc3339())
        self.post([r])


def start_prometheus(am_port):
    d = tmpdir("salve-prom-")
    port = free_port()
    rules = os.path.join(d, "rules.yml")
    with open(rules, "w") as f:
        f.write("""groups:
  - name: salve-e2e
    interval: 1s
    rules:
      - alert: SalvePromE2E
        expr: vector(1)
        labels: {severity: critical, namespace: e2e, deployment: prom}
        annotations: {summary: "a rule that always fires"}
""")
    cfg = os.path.join(d, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("""global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%s]
alerting:
  alertmanagers:
    - static_configs: [{targets: ["127.0.0.1:%d"]}]
""" % (rules, am_port))
    log = open(os.path.join(d, "prom.log"), "w")
    spawn([PROM_BIN, "--config.file=" + cfg, "--storage.tsdb.path=" + os.path.join(d, "data"),
           "--web.listen-address=127.0.0.1:%d" % port, "--rules.alert.resend-delay=1s",
           "--log.level=warn"], stdout=log, stderr=log)
    return d


MAIN_ROUTES = """
  - name: am-checkout
    matchers: ['alertname = "AMCheckout"']
    runbook: kv.lua
    params: {key: "am-{{ labels.namespace }}-{{ labels.deployment }}", value: "{{ annotations.summary }}"}
    allow_patterns: [value]           # a sentence, not a host: spaces are fine here
    on_resolved:
      runbook: kv.lua
      params: {key: "am-{{ labels.namespace }}-{{ labels.deployment }}-resolved", value: resolved}
  - name: am-approve
    matchers: ['alertname = "AMApprove"']
    runbook: approve.lua
    params: {key: "{{ labels.key }}"}
    on_resolved: cancel
  - name: prom
    matchers: ['alertname = "SalvePromE2E"', 'severity =~ "critical|page"']
    runbook: kv.lua
    params: {key: "prom-{{ labels.deployment }}", value: "{{ annotations.summary }}"}
    allow_patterns: [value]
"""
SMALL_ROUTES = """
  - name: hold
    matchers: ['alertname = "AMHold"']
    runbook: approve.lua
    params: {key: "{{ labels.key }}"}
  - name: quick
    matchers: ['alertname = "AMQuick"']
    runbook: kv.lua
    params: {key: "{{ labels.key }}"}
"""


def run_for(srv, route):
    st, body = srv.call("GET", "/runs?route=" + route, token=READ_TOKEN)
    return body["runs"][0]["id"] if st == 200 and body["runs"] else None


def audit_alerts(srv, fingerprint):
    return [r for r in srv.audit_records()
            if r.get("event") == "alert" and r.get("fingerprint") == fingerprint]


def main():
    if not AM_BIN or not PROM_BIN:
        print("not ok - prometheus and prometheus-alertmanager are installed "
              "(tests/plugins/serve/apt-packages)")
        return 1
    main_srv = Server("am-main", MAIN_ROUTES).start()
    small = Server("am-small", SMALL_ROUTES, "  workers: 1\n  queue_size: 1\n").start()
    am = Alertmanager(main_srv.port, small.port)
    t_prom = time.monotonic()
    start_prometheus(am.port)
    try:
        # 1. A firing alert through Alertmanager runs the routed runbook.
        a = am.fire({"alertname": "AMCheckout", "namespace": "shop", "deployment": "web",
                     "severity": "critical"}, {"summary": "checkout is down"})
        got = wait_for("the routed run to change the store",
                       lambda: main_srv.kv("am-shop-web") == "checkout is down", timeout=20)
        T.ok(got, "Alertmanager's webhook started the routed runbook", am.logs())
        fp = am.fingerprint("AMCheckout")
        recs = audit_alerts(main_srv, fp)
        T.ok(fp and recs and recs[0]["decision"] == "queued" and recs[0]["receiver"] == "salve"
             and recs[0]["hook"] == "alertmanager",
             "the audit log has the alert with Alertmanager's fingerprint %s" % fp, recs)
        rid = recs[0]["run"] if recs else ""
        starts = [r for r in main_srv.audit_records()
                  if r.get("run") == rid and r.get("event") == "run_start"]
        T.ok(starts and starts[0]["trigger"] == "alert:%s" % fp,
             "the run's records carry the fingerprint (trigger alert:FP)", starts)
        r = main_srv.wait_run(rid)
        T.ok(r and r["outcome"] == "success" and r["alert"]["fingerprint"] == fp,
             "GET /runs/ID shows the run and its alert", r)

        # 2. The resolved notification runs on_resolved's runbook.
        am.resolve(a)
        got = wait_for("the on_resolved run",
                       lambda: main_srv.kv("am-shop-web-resolved") == "resolved", timeout=20)
        T.ok(got, "the resolved notification ran the on_resolved runbook", am.logs())
        res = [x for x in audit_alerts(main_srv, fp) if x["status"] == "resolved"]
        T.ok(res and res[0]["decision"] == "queued", "the resolved alert is audited", res)

        # 3. A run waiting for approval is cancelled when its alert resolves.
        b = am.fire({"alertname": "AMApprove", "key": "amap"})
        rid = wait_for("the approval run", lambda: run_for(main_srv, "am-approve"))
        r = main_srv.wait_run(rid, states=("awaiting_approval",)) if rid else None
        T.ok(r and main_srv.kv("amap-a") == "1", "the run waits for approval", r)
        am.resolve(b)
        r = main_srv.wait_run(rid, timeout=20) if rid else None
        T.ok(r and r["outcome"] == "rolled_back" and r["approval"]["state"] == "cancelled",
             "Alertmanager's resolved notification cancelled it (on_resolved: cancel)", r)
        T.eq(main_srv.kv("amap-a"), None, "what it changed was rolled back")

        # 4. A receiver with the wrong token is refused (401) and nothing runs.
        am.fire({"alertname": "AMCheckout", "namespace": "bad", "deployment": "token",
                 "auth": "bad"}, {"summary": "x"})
        refused = wait_for("a 401 for the wrong token", lambda: main_srv.metrics().get(
            'salve_http_requests_total{handler="hook_alertmanager",code="401"}'), timeout=20)
        T.ok(refused, "Alertmanager with a wrong token gets 401")
        T.eq(main_srv.kv("am-bad-token"), None, "and no run started")

        # 5. 503 while the queue is full; Alertmanager retries and the retry succeeds.
        am.fire({"alertname": "AMHold", "key": "h", "queue": "small"})
        hold = wait_for("the hold run", lambda: run_for(small, "hold"))
        small.wait_run(hold, states=("awaiting_approval",))
        am.fire({"alertname": "AMQuick", "key": "k1", "queue": "small"})
        wait_for("k1 queued", lambda: small.metrics().get("salve_queue_depth") == 1.0)
        am.fire({"alertname": "AMQuick", "key": "k2", "queue": "small"})
        full = wait_for("a 503", lambda: small.metrics().get(
            'salve_http_requests_total{handler="hook_alertmanager",code="503"}'), timeout=20)
        T.ok(full, "a full queue answers Alertmanager 503")
        T.eq(small.kv("k2"), None, "k2 is not accepted while the queue is full")
        small.call("POST", "/runs/%s/approve" % hold, {"by": "test"}, token=APPROVE_TOKEN)
        got = wait_for("Alertmanager's retry to run k2", lambda: small.kv("k2") == "on",
                       timeout=40)
        T.ok(got, "Alertmanager retried after the 503 and the run succeeded", am.logs())
        T.eq(small.kv("k1"), "on", "the run accepted before the 503 ran too")
        recs = [r for r in small.audit_records() if r.get("event") == "alert" and
                r["labels"].get("key") == "k2"]
        T.ok([r["decision"] for r in recs][:1] == ["refused"] and recs[-1]["decision"] == "queued",
             "both the refusal and the accepted retry are audited",
             [(r["decision"], r.get("reason")) for r in recs])

        # 6. End to end from a Prometheus rule.
        got = wait_for("the Prometheus rule's alert to run",
                       lambda: main_srv.kv("prom-prom") == "a rule that always fires",
                       timeout=60)
        T.ok(got, "a Prometheus alerting rule reached salve through Alertmanager and ran")
        print("# Prometheus rule to run: %.1f s after Prometheus started" %
              (time.monotonic() - t_prom))
        pfp = am.fingerprint("SalvePromE2E")
        recs = audit_alerts(main_srv, pfp)
        T.ok(pfp and recs and recs[0]["decision"] == "queued" and
             recs[0]["labels"]["deployment"] == "prom", "audited with its fingerprint", recs)
    finally:
        for s in (main_srv, small):
            T.eq(s.stop(), 0, "salve serve %s stops cleanly" % os.path.basename(s.dir)[:20])
            err = s.stderr()
            T.ok("Sanitizer" not in err and "runtime error" not in err,
                 "no sanitizer report", err[-3000:])
        rc = subprocess.run([os.environ["SALVE_BIN"], "audit", "verify", main_srv.audit],
                            capture_output=True, text=True)
        T.eq(rc.returncode, 0, "the audit chain verifies")
    return T.finish()


if __name__ == "__main__":
    raise SystemExit(main())
