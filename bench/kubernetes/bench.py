"""Per-action latency of the kubernetes and scale plugins in process (bench_driver: one plugin
instance, one kept-alive connection) against kubectl run once per action, on the same fake API
server, in the same run. Started by run.sh; prints a table; asserts nothing."""
import argparse
import json
import os
import re
import ssl
import statistics
import subprocess
import sys
import time
import urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("--driver", required=True)
ap.add_argument("--plugins", required=True)
ap.add_argument("--kubeconfig", required=True)
ap.add_argument("--api", required=True)
ap.add_argument("--ca", required=True)
ap.add_argument("--kubectl", required=True)
ap.add_argument("-n", type=int, default=20)
ap.add_argument("--skip", help="leave out the cases whose name matches this regular expression")
opt = ap.parse_args()
tls = ssl.create_default_context(cafile=opt.ca)


def ctl(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(opt.api + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=tls) as r:
        return json.load(r)


def objects(kind, ns=None):
    return [o for o in ctl("GET", "/__fake/objects")["items"]
            if o["kind"] == kind and (ns is None or o["metadata"].get("namespace") == ns)]


def requests_since_clear():
    n = len(ctl("GET", "/__fake/requests"))
    ctl("DELETE", "/__fake/requests")
    return n


def settle():
    """Untimed, before every timed call (salve's and kubectl's alike): the fake's controllers run
    a moment after a write is answered, as a real cluster's do, and what they still have to do
    for the previous iteration would otherwise land in the next timed call."""
    deadline = time.time() + 30
    while ctl("GET", "/__fake/controllers")["pending"]:
        if time.time() > deadline:
            raise RuntimeError("the fake's controllers did not settle in 30 s")
        time.sleep(0.002)


class Driver:
    def __init__(self):
        self.p = subprocess.Popen([opt.driver, opt.plugins, opt.kubeconfig], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)

    def call(self, verb, plugin, action, args):
        self.p.stdin.write("%s\t%s\t%s\t%s\n" % (verb, plugin, action, json.dumps(args)))
        self.p.stdin.flush()
        line = self.p.stdout.readline().rstrip("\n")
        if not line.startswith("ok "):
            raise RuntimeError("%s.%s: %s" % (plugin, action, line))
        _, ms, text = line.split(" ", 2)
        return float(ms), json.loads(text)

    def close(self):
        self.p.stdin.close()
        self.p.wait()


kubectl_requests = 0  # the API requests of the timed kubectl calls


def kubectl(*argv, timed=True):
    global kubectl_requests
    if timed:
        requests_since_clear()
        settle()
    t0 = time.perf_counter()
    r = subprocess.run([opt.kubectl, "--kubeconfig", opt.kubeconfig, *argv],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ms = (time.perf_counter() - t0) * 1e3
    if r.returncode != 0:
        raise RuntimeError("kubectl %s: %s" % (" ".join(argv), r.stderr.strip()))
    if timed:
        kubectl_requests += requests_since_clear()
    return ms


def web_pod():
    settle()  # the ReplicaSet may still be handing back the last iteration's quarantined pod
    return sorted(o["metadata"]["name"] for o in objects("Pod", "prod")
                  if o["metadata"].get("labels", {}).get("app") == "web")[0]


POLICY = {  # what isolate{namespace="prod", selector="app=web"} creates, for kubectl create
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "bench-isolate", "namespace": "prod"},
    "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress", "Egress"],
             "egress": [{"to": [{"namespaceSelector": {"matchLabels": {
                 "kubernetes.io/metadata.name": "kube-system"}},
                 "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                 "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]}}


def quarantine_patch(pod):
    labels = objects("Pod", "prod")
    old = next(o for o in labels if o["metadata"]["name"] == pod)["metadata"].get("labels", {})
    new = {k: None for k in old}
    new.update({"salve/quarantined": "true", "salve/run-id": "bench"})
    back = {"salve/quarantined": None, "salve/run-id": None}
    back.update(old)
    return ({"metadata": {"labels": new, "annotations": {
        "salve/reason": "bench", "salve/quarantined-labels": json.dumps(old)}}},
            {"metadata": {"labels": back, "annotations": {
                "salve/reason": None, "salve/quarantined-labels": None}}})


# Each case: (name, salve(i) -> (plugin, action, args), kubectl(i) -> ms, undo after salve).
# A mutation changes something on every iteration (alternating values, or undone untimed).
def k_quarantine(i):
    pod = web_pod()
    fwd, back = quarantine_patch(pod)
    ms = kubectl("-n", "prod", "patch", "pod", pod, "--type", "merge", "-p", json.dumps(fwd))
    kubectl("-n", "prod", "patch", "pod", pod, "--type", "merge", "-p", json.dumps(back),
            timed=False)
    return ms


def k_isolate(i):
    path = "/tmp/salve-bench-policy-%d.json" % os.getpid()
    with open(path, "w") as f:
        json.dump(POLICY, f)
    ms = kubectl("create", "--validate=false", "-f", path)  # the fake serves no OpenAPI
    kubectl("-n", "prod", "delete", "networkpolicy", "bench-isolate", timed=False)
    os.unlink(path)
    return ms


def k_restart(i):
    time.sleep(1.05)  # kubectl refuses a second restart within one second (salve does not)
    return kubectl("-n", "prod", "rollout", "restart", "deployment/web")


def k_undone(forward, back):  # kubectl forward timed, then back untimed
    def run(i):
        ms = kubectl(*forward)
        kubectl(*back, timed=False)
        return ms
    return run


def k_after(before, timed):  # kubectl before untimed, then timed
    def run(i):
        kubectl(*before, timed=False)
        return kubectl(*timed)
    return run


def s_after(plugin, action, args):  # the action run untimed before the timed one
    def run(i):
        drv.call("run", plugin, action, args)
    return run


def k_drain(i):
    ms = kubectl("drain", "node-2", "--ignore-daemonsets", "--timeout=60s")
    kubectl("uncordon", "node-2", timed=False)
    return ms


IMAGES = ["nginx:1.26.0", "nginx:1.25.3"]
CASES = [
    ("get deployment", "read",
     lambda i: ("kubernetes", "get", {"kind": "deployment", "namespace": "prod", "name": "web"}),
     lambda i: kubectl("-n", "prod", "get", "deployment", "web", "-o", "json")),
    ("pods (selector)", "read",
     lambda i: ("kubernetes", "pods", {"namespace": "prod", "selector": "app=web"}),
     lambda i: kubectl("-n", "prod", "get", "pods", "-l", "app=web")),
    ("rollout_status", "read",
     lambda i: ("kubernetes", "rollout_status", {"namespace": "prod", "name": "web"}),
     lambda i: kubectl("-n", "prod", "rollout", "status", "deployment/web", "--watch=false")),
    ("logs (tail 100)", "read",
     lambda i: ("kubernetes", "logs", {"namespace": "prod", "pod": "db-0", "tail": 100}),
     lambda i: kubectl("-n", "prod", "logs", "db-0", "--tail=100")),
    ("events (of web)", "read",
     lambda i: ("kubernetes", "events", {"namespace": "prod", "name": "web"}),
     lambda i: kubectl("-n", "prod", "get", "events", "--field-selector", "involvedObject.name=web")),
    ("scale.set", "mutate",
     lambda i: ("scale", "set", {"kind": "deployment", "namespace": "prod", "name": "web",
                                 "replicas": 2 + i % 2}),
     lambda i: kubectl("-n", "prod", "scale", "deployment/web", "--replicas=%d" % (2 + i % 2))),
    ("set_image", "mutate",
     lambda i: ("kubernetes", "set_image", {"namespace": "prod", "name": "web", "container": "web",
                                            "image": IMAGES[i % 2]}),
     lambda i: kubectl("-n", "prod", "set", "image", "deployment/web", "web=" + IMAGES[i % 2])),
    ("patch (strategic)", "mutate",
     lambda i: ("kubernetes", "patch", {"kind": "deployment", "namespace": "prod", "name": "web",
                                        "strategic": {"metadata": {"annotations": {"bench": str(i)}}}}),
     lambda i: kubectl("-n", "prod", "patch", "deployment", "web", "-p",
                       json.dumps({"metadata": {"annotations": {"bench": "k%d" % i}}}))),
    ("rollout_restart", "mutate",
     lambda i: ("kubernetes", "rollout_restart", {"namespace": "prod", "name": "web"}),
     k_restart),
    ("rollout_undo", "mutate",
     lambda i: ("kubernetes", "rollout_undo", {"namespace": "prod", "name": "web"}),
     lambda i: kubectl("-n", "prod", "rollout", "undo", "deployment/web")),
    ("cordon (+undo untimed)", "undo", lambda i: ("kubernetes", "cordon", {"node": "node-1"}),
     k_undone(["cordon", "node-1"], ["uncordon", "node-1"])),
    ("uncordon (cordoned untimed)", "mutate",
     lambda i: ("kubernetes", "uncordon", {"node": "node-1"}),
     k_after(["cordon", "node-1"], ["uncordon", "node-1"]),
     s_after("kubernetes", "cordon", {"node": "node-1"})),
    ("taint (+undo untimed)", "undo",
     lambda i: ("kubernetes", "taint", {"node": "node-1", "key": "bench", "value": "x",
                                        "effect": "NoSchedule"}),
     k_undone(["taint", "nodes", "node-1", "bench=x:NoSchedule"],
              ["taint", "nodes", "node-1", "bench=x:NoSchedule-"])),
    ("untaint (tainted untimed)", "mutate",
     lambda i: ("kubernetes", "untaint", {"node": "node-1", "key": "bench", "effect": "NoSchedule"}),
     k_after(["taint", "nodes", "node-1", "bench=x:NoSchedule"],
             ["taint", "nodes", "node-1", "bench=x:NoSchedule-"]),
     s_after("kubernetes", "taint", {"node": "node-1", "key": "bench", "value": "x",
                                     "effect": "NoSchedule"})),
    ("isolate (+undo untimed)", "undo",
     lambda i: ("kubernetes", "isolate", {"namespace": "prod", "selector": "app=web"}), k_isolate),
    ("quarantine_pod (+undo untimed)", "undo",
     lambda i: ("kubernetes", "quarantine_pod", {"namespace": "prod", "pod": web_pod()}),
     k_quarantine),
    ("delete_pod", "mutate",
     lambda i: ("kubernetes", "delete_pod", {"namespace": "prod", "name": "db-1"}),
     lambda i: kubectl("-n", "prod", "delete", "pod", "db-1")),
    ("drain node-2 (+undo untimed)", "undo",
     lambda i: ("kubernetes", "drain", {"node": "node-2", "timeout": "60s"}), k_drain),
]


def pct(v, q):
    s = sorted(v)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


ctl("POST", "/__fake/reset")
ctl("POST", "/__fake/logs/prod/db-0", {"container": "db", "log": "".join(
    "line %d of the database's log\n" % k for k in range(500))})
drv = Driver()
rows = []
for name, kind, salve, kube, *before in CASES:
    if opt.skip and re.search(opt.skip, name):
        continue
    s_ms, k_ms, s_req, k_req, s_err, k_err = [], [], 0, 0, [], []
    changed = 0
    requests_since_clear()
    for i in range(opt.n):
        plugin, action, args = salve(i)
        try:
            if before:
                before[0](i)
            requests_since_clear()
            settle()
            ms, out = drv.call("run", plugin, action, args)
            changed += kind == "read" or out.get("result") is not None
            s_ms.append(ms)
            s_req += requests_since_clear()
            if kind == "undo" and out.get("undo") is not None:
                drv.call("undo", plugin, action, out["undo"])
        except RuntimeError as e:
            s_err.append(str(e))
    kubectl_requests = 0
    for i in range(opt.n):
        try:
            k_ms.append(kube(i))
        except RuntimeError as e:
            k_err.append(str(e))
    k_req = kubectl_requests
    if changed < len(s_ms):
        s_err.append("%d of %d iterations changed nothing" % (len(s_ms) - changed, len(s_ms)))
    rows.append((name, s_ms, k_ms, s_req, k_req, s_err, k_err))
    sys.stderr.write("%s done\n" % name)
drv.close()

print("%-32s %4s %9s %9s %5s %9s %9s %5s %7s" % (
    "action", "n", "salve med", "salve p90", "req", "kctl med", "kctl p90", "req", "ratio"))
for name, s, k, sr, kr, se, ke in rows:
    if not s or not k:
        print("%-32s failed: %s" % (name, (se or ke)[0]))
        continue
    print("%-32s %4d %7.2fms %7.2fms %5.1f %7.1fms %7.1fms %5.1f %6.0fx" % (
        name, len(s), statistics.median(s), pct(s, 0.9), sr / len(s), statistics.median(k),
        pct(k, 0.9), kr / max(1, len(k)), statistics.median(k) / statistics.median(s)))
    for e in (se + ke)[:2]:
        print("    error (%d salve, %d kubectl): %s" % (len(se), len(ke), e[:200]))
print("req: API requests per action as the fake logged them (kubectl's include discovery);"
      " ratio: kubectl median / salve median")
