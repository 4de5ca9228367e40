#!/usr/bin/env python3
"""Claim latency: one new alert at a time (a new pod: a new occurrence, so with ha: a claim
in etcd), from the client's POST to salve's answer, which comes once the alert's batch is
durable (audit and spool fdatasync'd). The alerts go round robin to the replicas' ports.
Prints p50, p90, p99 and max in ms, and how many answers were not 202 (not accepted).
Usage: latency.py N PREFIX PORT [PORT...]"""
import http.client
import json
import sys
import time


def body(prefix, i):
    return json.dumps({"version": "4", "receiver": "bench", "status": "firing",
                       "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
                       "externalURL": "http://am", "groupKey": "{}", "truncatedAlerts": 0,
                       "alerts": [{"status": "firing",
                                   "labels": {"alertname": "Claim", "namespace": "shop",
                                              "pod": "%s-%d" % (prefix, i)},
                                   "annotations": {}, "startsAt": "2026-11-22T02:52:22.625Z",
                                   "endsAt": "0001-01-01T00:00:00Z", "generatorURL": ""}]})


def main():
    n, prefix, ports = int(sys.argv[1]), sys.argv[2], [int(p) for p in sys.argv[3:]]
    conns = [http.client.HTTPConnection("127.0.0.1", p, timeout=10) for p in ports]
    samples, refused = [], 0
    for i in range(n):
        c = conns[i % len(conns)]
        data = body(prefix, i)
        t0 = time.perf_counter()
        c.request("POST", "/hooks/alertmanager", data, {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        samples.append((time.perf_counter() - t0) * 1000)
        refused += r.status != 202
        time.sleep(0.002)
    samples.sort()
    p = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
    print("p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms  (n=%d, not 202: %d)"
          % (p(0.50), p(0.90), p(0.99), samples[-1], n, refused))


if __name__ == "__main__":
    main()
