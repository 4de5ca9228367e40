#!/usr/bin/env python3
"""Alert-to-first-step latency, measured the same way for salve serve and for webhook:
the client's clock when it sends the POST, against the wall clock at which the first step
(salve: the run's first step_start, GET /runs/ID first_step_at in microseconds) or the
command (webhook: the script's first line, bash's $EPOCHREALTIME) started. One alert at a
time, each a new alert, so every POST starts a run. Prints p50, p99, mean and max in ms."""
import http.client
import json
import os
import sys
import time
from datetime import datetime


def alert_body(i):
    return json.dumps({"version": "4", "receiver": "bench", "status": "firing",
                       "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
                       "externalURL": "http://am", "groupKey": "{}", "truncatedAlerts": 0,
                       "alerts": [{"status": "firing",
                                   "labels": {"alertname": "Latency", "pod": "pod-%d" % i},
                                   "annotations": {}, "startsAt": "2026-11-22T02:52:22.625Z",
                                   "endsAt": "0001-01-01T00:00:00Z", "generatorURL": ""}]})


def parse_us(ts):
    return datetime.strptime(ts.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def measure_salve(port, n):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    out = []
    for i in range(n):
        body = alert_body(i)
        t0 = time.time()
        c.request("POST", "/hooks/alertmanager", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        resp = json.loads(r.read())
        rid = resp["runs"][0]
        while True:
            time.sleep(0.002)
            c.request("GET", "/runs/" + rid)
            run = json.loads(c.getresponse().read())
            if run.get("first_step_at"):
                out.append((parse_us(run["first_step_at"]) - t0) * 1000)
                break
        while run.get("state") != "finished":
            time.sleep(0.002)
            c.request("GET", "/runs/" + rid)
            run = json.loads(c.getresponse().read())
        time.sleep(0.01)
    return out


def measure_webhook(port, n, outdir):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    out = []
    for i in range(n):
        body = alert_body(i)
        path = os.path.join(outdir, "pod-%d" % i)
        t0 = time.time()
        c.request("POST", "/hooks/alert", body, {"Content-Type": "application/json"})
        c.getresponse().read()
        while not os.path.exists(path) or os.path.getsize(path) == 0:
            time.sleep(0.002)
        with open(path) as f:
            out.append((float(f.read().strip()) - t0) * 1000)
        time.sleep(0.01)
    return out


def main():
    kind, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    samples = measure_salve(port, n) if kind == "salve" else measure_webhook(port, n, sys.argv[4])
    samples.sort()
    p = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
    print("%-8s n=%d  p50 %.2f ms  p99 %.2f ms  mean %.2f ms  max %.2f ms" %
          (kind, n, p(0.50), p(0.99), sum(samples) / len(samples), samples[-1]))


if __name__ == "__main__":
    main()
