#!/usr/bin/env python3
"""Tests of the fake Kubernetes API server (fake_k8s.py).

Raw HTTPS requests check status codes and Status bodies against the real API conventions;
kubectl (when installed) checks that a real client works against the fake. Every test starts
from the basic.json fixture (POST /__fake/reset).
"""

import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake_k8s.py")
FIXTURE = os.path.join(HERE, "fixtures", "basic.json")
KUBECTL = shutil.which("kubectl")
NEED_KUBECTL = "kubectl is not installed: kubectl-driven checks skipped (raw HTTP checks still run)"

with open(FIXTURE, encoding="utf-8") as _f:
    FIXTURE_OBJS = json.load(_f)


def _fixture_name(kind, pred):
    return sorted(o["metadata"]["name"] for o in FIXTURE_OBJS if o["kind"] == kind and pred(o))


WEB_RS_OLD = _fixture_name("ReplicaSet", lambda o: o["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1")[0]
WEB_RS_CUR = _fixture_name("ReplicaSet", lambda o: o["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2")[0]
WEB_PODS_NODE1 = _fixture_name("Pod", lambda o: o["metadata"]["labels"].get("app") == "web" and o["spec"]["nodeName"] == "node-1")
WEB_PODS_NODE2 = _fixture_name("Pod", lambda o: o["metadata"]["labels"].get("app") == "web" and o["spec"]["nodeName"] == "node-2")


def status_body(code, reason, message, details=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message}
    if reason:
        body["reason"] = reason
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


class Resp:
    def __init__(self, status, headers, data):
        self.status = status
        self.headers = headers
        self.data = data
        try:
            self.json = json.loads(data.decode()) if data else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "<Resp %d %s>" % (self.status, self.data[:300])


class FakeServer:
    """Starts fake_k8s.py in a temporary directory and talks to it."""

    def __init__(self, *extra, fixture=FIXTURE):
        self.dir = tempfile.mkdtemp(prefix="fake-k8s-test-")
        self.certs = os.path.join(self.dir, "certs")
        self.port_file = os.path.join(self.dir, "port")
        self.requests_file = os.path.join(self.dir, "requests.jsonl")
        self.log_path = os.path.join(self.dir, "server.log")
        cmd = [sys.executable, FAKE, "--certs", self.certs, "--port-file", self.port_file,
               "--requests", self.requests_file] + (["--fixture", fixture] if fixture else []) + list(extra)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError("fake_k8s.py did not start:\n" + self.server_log())
            time.sleep(0.05)
        with open(self.port_file) as f:
            self.port = int(f.read())
        self.token = "salve-test-token"
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))
        self.cert_ctx = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))
        self.cert_ctx.load_cert_chain(os.path.join(self.certs, "client.crt"), os.path.join(self.certs, "client.key"))

    def server_log(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def request(self, method, path, body=None, ctype=None, auth="token", headers=None):
        ctx = self.cert_ctx if auth == "cert" else self.ctx
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=30)
        hdrs = dict(headers or {})
        if auth == "token":
            hdrs["Authorization"] = "Bearer " + self.token
        elif auth not in (None, "cert"):
            hdrs["Authorization"] = auth
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        if body is not None:
            hdrs["Content-Type"] = ctype or "application/json"
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def obj(self, path):
        r = self.get(path)
        if r.status != 200:
            raise AssertionError("GET %s: %r" % (path, r))
        return r.json

    def control(self, method, path, body=None):
        r = self.request(method, "/__fake/" + path, body=body, auth=None)
        if r.status != 200:
            raise AssertionError("control %s %s: %r" % (method, path, r))
        return r.json

    def kubectl(self, *args, kubeconfig="kubeconfig-token", timeout=60):
        return subprocess.run([KUBECTL, "--kubeconfig", os.path.join(self.certs, kubeconfig)] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)

    def kubectl_popen(self, *args, kubeconfig="kubeconfig-token"):
        return subprocess.Popen([KUBECTL, "--kubeconfig", os.path.join(self.certs, kubeconfig)] + list(args),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


DEPLOY = "/apis/apps/v1/namespaces/prod/deployments"
PODS = "/api/v1/namespaces/prod/pods"
MERGE = "application/merge-patch+json"
SMP = "application/strategic-merge-patch+json"
JSONPATCH = "application/json-patch+json"


def wait_until(fn, timeout=20.0, what="condition"):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


class FakeTestCase(unittest.TestCase):
    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = FakeServer()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.s = self.server
        self.s.control("POST", "reset")

    def web(self):
        return self.s.obj(DEPLOY + "/web")

    def pods(self, selector="app=web", ns="prod"):
        q = urllib.parse.urlencode({"labelSelector": selector})
        return self.s.obj("/api/v1/namespaces/%s/pods?%s" % (ns, q))["items"]

    def replicasets(self):
        return {rs["metadata"]["name"]: rs for rs in
                self.s.obj("/apis/apps/v1/namespaces/prod/replicasets?labelSelector=app%3Dweb")["items"]}

    def requests(self, **params):
        return self.s.control("GET", "requests?" + urllib.parse.urlencode(params))

    # The controllers act a moment after a write has been answered, as real ones do: a client
    # that wants their result waits for it, as these do.
    def observed(self, name="web"):
        """The deployment once its controller has seen its latest spec (observedGeneration)."""
        def seen():
            d = self.s.obj(DEPLOY + "/" + name)
            return d.get("status", {}).get("observedGeneration") == d["metadata"]["generation"] and d
        return wait_until(seen, what="the deployment controller to observe %s" % name)

    def rolled_out(self, name="web"):
        """The deployment once its rollout is complete, as `kubectl rollout status` judges it."""
        def done():
            d = self.s.obj(DEPLOY + "/" + name)
            st, want = d.get("status", {}), d["spec"].get("replicas", 1)
            return st.get("observedGeneration") == d["metadata"]["generation"] and all(
                st.get(k, 0) == want for k in ("replicas", "updatedReplicas", "availableReplicas")) and d
        return wait_until(done, what="deployment %s to roll out" % name)


# ---------------------------------------------------------------------------------------------


class TestAuthAndTLS(FakeTestCase):
    def test_no_credentials_is_401_status(self):
        r = self.s.get("/api/v1/namespaces/prod/pods", auth=None)
        self.assertEqual(r.status, 401)
        self.assertEqual(r.headers["content-type"], "application/json")
        self.assertEqual(r.json, status_body(401, "Unauthorized", "Unauthorized"))
        r = self.s.get("/version", auth="Bearer wrong-token")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json, status_body(401, "Unauthorized", "Unauthorized"))

    def test_token_and_client_certificate_are_accepted(self):
        self.assertEqual(self.s.get(DEPLOY + "/web").status, 200)
        self.assertEqual(self.s.get(DEPLOY + "/web", auth="cert").status, 200)
        log = self.requests(path_regex="deployments/web$")
        self.assertEqual([(e["auth"], e["user"]) for e in log], [("token", "salve-token"), ("cert", "salve-test")])
        denied = self.s.get("/api", auth=None)
        self.assertEqual(denied.status, 401)
        self.assertEqual(self.requests(path_regex="^/api$")[0]["auth"], "none")

    def test_client_certificate_from_another_ca_fails_the_handshake(self):
        d = tempfile.mkdtemp(prefix="fake-k8s-rogue-")
        try:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-keyout", "k.pem", "-out", "c.pem", "-days", "1", "-subj", "/CN=rogue"],
                           cwd=d, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ctx = ssl.create_default_context(cafile=os.path.join(self.s.certs, "ca.crt"))
            ctx.load_cert_chain(os.path.join(d, "c.pem"), os.path.join(d, "k.pem"))
            conn = http.client.HTTPSConnection("127.0.0.1", self.s.port, context=ctx, timeout=10)
            with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                conn.request("GET", "/version")
                conn.getresponse().read()
            conn.close()
        finally:
            shutil.rmtree(d)

    def test_kubeconfigs_name_the_actual_port(self):
        for name in ("kubeconfig-token", "kubeconfig-cert", "kubeconfig-insecure"):
            with open(os.path.join(self.s.certs, name)) as f:
                text = f.read()
            self.assertIn('server: "https://127.0.0.1:%d"' % self.s.port, text, name)
        with open(os.path.join(self.s.certs, "kubeconfig-cert")) as f:
            text = f.read()
        self.assertIn("client-certificate-data: ", text)
        self.assertIn("client-key-data: ", text)
        self.assertIn("certificate-authority-data: ", text)
        with open(os.path.join(self.s.certs, "kubeconfig-insecure")) as f:
            self.assertIn("insecure-skip-tls-verify: true", f.read())
        out = subprocess.run(["openssl", "x509", "-in", os.path.join(self.s.certs, "client.crt"), "-noout",
                              "-subject"], stdout=subprocess.PIPE, text=True, check=True).stdout
        self.assertIn("O = system:masters", out)
        self.assertIn("CN = salve-test", out)

    def test_control_api_needs_no_auth(self):
        self.assertEqual(self.s.request("GET", "/__fake/faults", auth=None).status, 200)
        self.assertEqual(self.s.request("GET", "/__fake/nope", auth=None).status, 404)


class TestDiscovery(FakeTestCase):
    def test_version_and_groups_of_1_29(self):
        v = self.s.obj("/version")
        self.assertEqual((v["major"], v["minor"], v["gitVersion"]), ("1", "29", "v1.29.4"))
        groups = {g["name"]: g for g in self.s.obj("/apis")["groups"]}
        self.assertEqual([x["version"] for x in groups["policy"]["versions"]], ["v1"])
        self.assertEqual([x["version"] for x in groups["autoscaling"]["versions"]], ["v2", "v1"])
        self.assertEqual(groups["autoscaling"]["preferredVersion"], {"groupVersion": "autoscaling/v2", "version": "v2"})
        self.assertEqual(self.s.obj("/api")["versions"], ["v1"])
        r = self.s.get("/apis/policy/v1beta1")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json, status_body(404, "NotFound", "the server could not find the requested resource", {}))
        self.assertEqual(self.s.get("/apis/autoscaling/v2beta2/namespaces/prod/horizontalpodautoscalers").status, 404)

    def test_resource_lists_carry_subresources(self):
        core = {r["name"]: r for r in self.s.obj("/api/v1")["resources"]}
        self.assertEqual(core["pods/eviction"], {"name": "pods/eviction", "singularName": "", "namespaced": True,
                                                 "group": "policy", "version": "v1", "kind": "Eviction",
                                                 "verbs": ["create"]})
        self.assertEqual(core["pods/log"]["verbs"], ["get"])
        self.assertFalse(core["nodes"]["namespaced"])
        self.assertIn("ev", core["events"]["shortNames"])
        apps = {r["name"]: r for r in self.s.obj("/apis/apps/v1")["resources"]}
        for res in ("deployments", "statefulsets", "replicasets"):
            self.assertEqual((apps[res + "/scale"]["group"], apps[res + "/scale"]["version"],
                              apps[res + "/scale"]["kind"]), ("autoscaling", "v1", "Scale"))
        self.assertEqual(apps["deployments"]["shortNames"], ["deploy"])
        self.assertEqual(apps["deployments"]["singularName"], "deployment")
        self.assertIn("patch", apps["deployments"]["verbs"])
        pol = {r["name"] for r in self.s.obj("/apis/policy/v1")["resources"]}
        self.assertEqual(pol, {"poddisruptionbudgets", "poddisruptionbudgets/status"})


class TestDiscovery120(unittest.TestCase):
    def test_1_20_serves_beta_policy_and_autoscaling(self):
        s = FakeServer("--version", "1.20")
        try:
            self.assertEqual(s.obj("/version")["minor"], "20")
            groups = {g["name"]: [v["version"] for v in g["versions"]] for g in s.obj("/apis")["groups"]}
            self.assertEqual(groups["policy"], ["v1beta1"])
            self.assertEqual(groups["autoscaling"], ["v1", "v2beta2"])
            ev = {r["name"]: r for r in s.obj("/api/v1")["resources"]}["pods/eviction"]
            self.assertEqual((ev["group"], ev["version"]), ("policy", "v1beta1"))
            self.assertEqual(s.get("/apis/policy/v1/namespaces/prod/poddisruptionbudgets").status, 404)
            self.assertEqual(s.get("/apis/autoscaling/v2/namespaces/prod/horizontalpodautoscalers").status, 404)
            pdb = s.obj("/apis/policy/v1beta1/namespaces/prod/poddisruptionbudgets/web-pdb")
            self.assertEqual((pdb["apiVersion"], pdb["status"]["disruptionsAllowed"]), ("policy/v1beta1", 1))
            hpa = s.obj("/apis/autoscaling/v2beta2/namespaces/prod/horizontalpodautoscalers/web")
            self.assertEqual(hpa["apiVersion"], "autoscaling/v2beta2")
            evict = {"apiVersion": "policy/v1beta1", "kind": "Eviction",
                     "metadata": {"name": WEB_PODS_NODE2[0], "namespace": "prod"}}
            r = s.request("POST", PODS + "/%s/eviction" % WEB_PODS_NODE2[0], evict)
            self.assertEqual(r.status, 201)
            self.assertEqual(s.get("/apis/nope/v1").data, b"404 page not found\n")
        finally:
            s.stop()


class TestErrors(FakeTestCase):
    def test_not_found_status(self):
        r = self.s.get(DEPLOY + "/nope")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.headers["content-type"], "application/json")
        self.assertEqual(r.json, status_body(404, "NotFound", 'deployments.apps "nope" not found',
                                             {"name": "nope", "group": "apps", "kind": "deployments"}))
        r = self.s.get(PODS + "/nope")
        self.assertEqual(r.json, status_body(404, "NotFound", 'pods "nope" not found', {"name": "nope", "kind": "pods"}))
        r = self.s.request("PATCH", DEPLOY + "/nope/scale", {"spec": {"replicas": 1}}, ctype=MERGE)
        self.assertEqual(r.status, 404)

    def test_stale_resource_version_is_409_conflict(self):
        before = self.web()
        r = self.s.request("PATCH", DEPLOY + "/web", {"spec": {"replicas": 4}}, ctype=MERGE)
        self.assertEqual(r.status, 200)
        self.assertNotEqual(r.json["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"])
        conflict = status_body(409, "Conflict", 'Operation cannot be fulfilled on deployments.apps "web": the object '
                               'has been modified; please apply your changes to the latest version and try again',
                               {"name": "web", "group": "apps", "kind": "deployments"})
        stale = dict(before)
        stale["spec"] = dict(before["spec"], replicas=5)
        r = self.s.request("PUT", DEPLOY + "/web", stale)
        self.assertEqual((r.status, r.json), (409, conflict))
        r = self.s.request("PATCH", DEPLOY + "/web", {"metadata": {"resourceVersion": before["metadata"]["resourceVersion"]},
                                                      "spec": {"replicas": 5}}, ctype=MERGE)
        self.assertEqual((r.status, r.json), (409, conflict))
        r = self.s.request("PUT", DEPLOY + "/web/scale", {"metadata": {"name": "web", "namespace": "prod",
                           "resourceVersion": before["metadata"]["resourceVersion"]}, "spec": {"replicas": 5}})
        self.assertEqual((r.status, r.json), (409, conflict))
        self.assertEqual(self.web()["spec"]["replicas"], 4)
        current = self.web()
        current["spec"]["replicas"] = 2
        r = self.s.request("PUT", DEPLOY + "/web", current)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["metadata"]["generation"], current["metadata"]["generation"] + 1)

    def test_invalid_input_is_422_with_causes(self):
        r = self.s.request("PATCH", DEPLOY + "/web", {"spec": {"replicas": -1}}, ctype=MERGE)
        self.assertEqual(r.status, 422)
        self.assertEqual(r.json, status_body(
            422, "Invalid", 'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than '
            'or equal to 0', {"name": "web", "group": "apps", "kind": "Deployment", "causes": [
                {"reason": "FieldValueInvalid", "message": "Invalid value: -1: must be greater than or equal to 0",
                 "field": "spec.replicas"}]}))
        new = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "Web_1"},
               "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {
                   "metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "x", "image": "x:1"}]}}}}
        r = self.s.request("POST", DEPLOY, new)
        self.assertEqual(r.status, 422)
        self.assertEqual(r.json["reason"], "Invalid")
        self.assertEqual([c["field"] for c in r.json["details"]["causes"]], ["metadata.name"])
        self.assertTrue(r.json["message"].startswith('Deployment.apps "Web_1" is invalid: metadata.name: Invalid value: '
                                                     '"Web_1": a lowercase RFC 1123 subdomain must consist of'))
        r = self.s.request("PUT", DEPLOY + "/web/scale", {"metadata": {"name": "web"}, "spec": {"replicas": -2}})
        self.assertEqual(r.status, 422)
        self.assertEqual(r.json["message"], 'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: -2: '
                                            'must be greater than or equal to 0')
        self.assertEqual(r.json["details"]["kind"], "Scale")
        r = self.s.request("PATCH", "/apis/autoscaling/v2/namespaces/prod/horizontalpodautoscalers/web",
                           {"spec": {"minReplicas": 0}}, ctype=MERGE)
        self.assertEqual(r.status, 422)
        self.assertEqual(r.json["details"]["causes"][0]["field"], "spec.minReplicas")
        self.assertEqual(self.web()["spec"]["replicas"], 3)

    def test_malformed_json_is_400(self):
        r = self.s.request("POST", DEPLOY, "{not json")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json["reason"], "BadRequest")
        self.assertTrue(r.json["message"].startswith("couldn't get version/kind; json parse error: "))
        r = self.s.request("PATCH", DEPLOY + "/web", "{nope", ctype=MERGE)
        self.assertEqual(r.status, 400)
        self.assertTrue(r.json["message"].startswith("error decoding patch: "))
        r = self.s.request("PATCH", DEPLOY + "/web", '{"op": "add"}', ctype=JSONPATCH)
        self.assertEqual(r.status, 400)
        r = self.s.request("PUT", DEPLOY + "/web", dict(self.web(), metadata={"name": "other"}))
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json["message"], "the name of the object (other) does not match the name on the URL (web)")
        r = self.s.request("PATCH", DEPLOY + "/web", {"spec": {"replicas": "three"}}, ctype=MERGE)
        self.assertEqual((r.status, r.json["reason"]), (422, "Invalid"))
        self.assertIn("cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32",
                      r.json["message"])

    def test_wrong_patch_content_type_is_415(self):
        r = self.s.request("PATCH", DEPLOY + "/web", {"spec": {"replicas": 2}}, ctype="application/json")
        self.assertEqual(r.status, 415)
        self.assertEqual(r.json, status_body(415, "UnsupportedMediaType", "the body of the request was in an unknown "
                                             "format - accepted media types include: application/json-patch+json, "
                                             "application/merge-patch+json, application/strategic-merge-patch+json"))
        r = self.s.request("PATCH", DEPLOY + "/web", {"spec": {"replicas": 2}}, ctype=MERGE + "; charset=utf-8")
        self.assertEqual(r.status, 200)

    def test_unknown_paths_and_methods(self):
        r = self.s.get("/apis/apps/v1/namespaces/prod/widgets")
        self.assertEqual((r.status, r.json["message"]), (404, "the server could not find the requested resource"))
        r = self.s.request("POST", "/apis/apps/v1/deployments", {})
        self.assertEqual((r.status, r.json["reason"]), (405, "MethodNotAllowed"))
        r = self.s.request("POST", "/apis/apps/v1/namespaces/nowhere/deployments", {
            "metadata": {"name": "x"}, "spec": {}})
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json["message"], 'namespaces "nowhere" not found')

    def test_create_existing_is_409_already_exists(self):
        web = self.web()
        for k in ("resourceVersion", "uid", "creationTimestamp", "generation"):
            web["metadata"].pop(k)
        r = self.s.request("POST", DEPLOY, web)
        self.assertEqual((r.status, r.json), (409, status_body(409, "AlreadyExists", 'deployments.apps "web" already exists',
                                                               {"name": "web", "group": "apps", "kind": "deployments"})))


class TestDryRun(FakeTestCase):
    def test_dry_run_patch_returns_the_result_and_persists_nothing(self):
        before = self.web()
        rs_before = sorted(self.replicasets())
        r = self.s.request("PATCH", DEPLOY + "/web?dryRun=All",
                           {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:9"}]}}}},
                           ctype=SMP)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:9")
        self.assertEqual(r.json["metadata"]["generation"], before["metadata"]["generation"] + 1)
        self.assertEqual(r.json["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"])
        self.assertEqual(self.web(), before)
        self.assertEqual(sorted(self.replicasets()), rs_before)
        entry = self.requests(method="PATCH")[-1]
        self.assertEqual((entry["dry_run"], entry["params"], entry["status"]), (True, {"dryRun": "All"}, 200))

    def test_dry_run_create_delete_scale_and_evict(self):
        rv = self.s.obj(PODS)["metadata"]["resourceVersion"]
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "tmp"},
               "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}
        r = self.s.request("POST", PODS + "?dryRun=All", pod)
        self.assertEqual(r.status, 201)
        self.assertNotIn("resourceVersion", r.json["metadata"])
        self.assertEqual(self.s.get(PODS + "/tmp").status, 404)
        victim = WEB_PODS_NODE1[0]
        r = self.s.request("DELETE", PODS + "/%s?dryRun=All" % victim)
        self.assertEqual(r.status, 200)
        self.assertIn("deletionTimestamp", r.json["metadata"])
        r = self.s.request("PATCH", DEPLOY + "/web/scale?dryRun=All", {"spec": {"replicas": 9}}, ctype=MERGE)
        self.assertEqual((r.status, r.json["spec"]["replicas"]), (200, 9))
        evict = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": victim, "namespace": "prod"},
                 "deleteOptions": {"dryRun": ["All"]}}
        r = self.s.request("POST", PODS + "/%s/eviction" % victim, evict)
        self.assertEqual(r.status, 201)
        self.assertEqual(self.s.obj(PODS)["metadata"]["resourceVersion"], rv)
        self.assertEqual(self.s.get(PODS + "/" + victim).status, 200)
        self.assertEqual(self.web()["spec"]["replicas"], 3)
        pdb = self.s.obj("/apis/policy/v1/namespaces/prod/poddisruptionbudgets/web-pdb")
        self.assertEqual(pdb["status"]["disruptionsAllowed"], 1)
        self.assertEqual([e["dry_run"] for e in self.requests(since=0) if e["method"] != "GET"], [True] * 4)
        r = self.s.request("PATCH", DEPLOY + "/web?dryRun=Some", {"spec": {"replicas": 1}}, ctype=MERGE)
        self.assertEqual(r.status, 422)
        self.assertEqual(r.json["message"], 'PatchOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: '
                                            '[]string{"Some"}: supported values: "All"')


class TestDeploymentController(FakeTestCase):
    def test_fixture_is_as_the_controller_leaves_it(self):
        web = self.web()
        self.assertEqual(web["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2")
        st = web["status"]
        self.assertEqual((st["replicas"], st["updatedReplicas"], st["readyReplicas"], st["availableReplicas"],
                          st["observedGeneration"]), (3, 3, 3, 3, web["metadata"]["generation"]))
        self.assertEqual({c["type"]: c["reason"] for c in st["conditions"]},
                         {"Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"})
        rss = self.replicasets()
        self.assertEqual(sorted(rss), sorted([WEB_RS_OLD, WEB_RS_CUR]))
        self.assertEqual(rss[WEB_RS_OLD]["spec"]["replicas"], 0)
        cur = rss[WEB_RS_CUR]
        self.assertEqual(cur["metadata"]["ownerReferences"][0]["uid"], web["metadata"]["uid"])
        self.assertTrue(cur["metadata"]["ownerReferences"][0]["controller"])
        pods = self.pods()
        self.assertEqual(sorted(p["metadata"]["name"] for p in pods), sorted(WEB_PODS_NODE1 + WEB_PODS_NODE2))
        self.assertEqual({p["metadata"]["labels"]["pod-template-hash"] for p in pods},
                         {cur["metadata"]["labels"]["pod-template-hash"]})
        # Loading the fixture wrote nothing after the controllers settled: the state is stable.
        rv = self.s.obj(PODS)["metadata"]["resourceVersion"]
        time.sleep(0.2)
        self.assertEqual(self.s.obj(PODS)["metadata"]["resourceVersion"], rv)

    def test_template_change_makes_a_new_revision_and_rollback_reuses_the_old(self):
        r = self.s.request("PATCH", DEPLOY + "/web", {"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:1.26.0"}]}}}}, ctype=SMP)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["status"]["observedGeneration"], r.json["metadata"]["generation"] - 1)
        self.rolled_out()
        rss = self.replicasets()
        self.assertEqual(len(rss), 3)
        new = [rs for n, rs in rss.items() if n not in (WEB_RS_OLD, WEB_RS_CUR)][0]
        h = new["metadata"]["labels"]["pod-template-hash"]
        self.assertEqual(new["metadata"]["name"], "web-" + h)
        self.assertEqual(new["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "3")
        self.assertEqual(new["spec"]["selector"]["matchLabels"], {"app": "web", "pod-template-hash": h})
        self.assertEqual(new["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"], 80)
        self.assertEqual((new["spec"]["replicas"], rss[WEB_RS_CUR]["spec"]["replicas"]), (3, 0))
        web = self.web()
        self.assertEqual(web["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "3")
        self.assertEqual((web["status"]["updatedReplicas"], web["status"]["availableReplicas"],
                          web["status"]["observedGeneration"]), (3, 3, web["metadata"]["generation"]))
        self.assertEqual({p["spec"]["containers"][0]["image"] for p in self.pods()}, {"nginx:1.26.0"})
        events = self.s.obj("/api/v1/namespaces/prod/events?fieldSelector=involvedObject.name%3Dweb,"
                            "reason%3DScalingReplicaSet")["items"]
        self.assertIn("Scaled up replica set %s to 3 from 0" % new["metadata"]["name"], [e["message"] for e in events])
        # Back to revision 2's template: the controller reuses that ReplicaSet as revision 4.
        tmpl = rss[WEB_RS_CUR]["spec"]["template"]
        del tmpl["metadata"]["labels"]["pod-template-hash"]
        r = self.s.request("PATCH", DEPLOY + "/web", [{"op": "replace", "path": "/spec/template", "value": tmpl}],
                           ctype=JSONPATCH)
        self.assertEqual(r.status, 200)
        self.rolled_out()
        rss = self.replicasets()
        self.assertEqual(len(rss), 3)
        ann = rss[WEB_RS_CUR]["metadata"]["annotations"]
        self.assertEqual((ann["deployment.kubernetes.io/revision"], ann["deployment.kubernetes.io/revision-history"]),
                         ("4", "2"))
        self.assertEqual(rss[WEB_RS_CUR]["spec"]["replicas"], 3)
        self.assertEqual(self.web()["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "4")

    def test_restarted_at_annotation_is_a_template_change(self):
        r = self.s.request("PATCH", DEPLOY + "/web", {"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}}}}}, ctype=SMP)
        self.assertEqual(r.status, 200)
        self.rolled_out()
        self.assertEqual(len(self.replicasets()), 3)
        pods = self.pods()
        self.assertEqual(len(pods), 3)
        self.assertFalse(set(p["metadata"]["name"] for p in pods) & set(WEB_PODS_NODE1 + WEB_PODS_NODE2))

    def test_scaling_changes_the_active_replicaset_and_pods(self):
        r = self.s.request("PATCH", DEPLOY + "/web/scale", {"spec": {"replicas": 5}}, ctype=MERGE)
        self.assertEqual((r.status, r.json["kind"], r.json["apiVersion"], r.json["spec"]["replicas"]),
                         (200, "Scale", "autoscaling/v1", 5))
        self.rolled_out()
        self.assertEqual(self.replicasets()[WEB_RS_CUR]["spec"]["replicas"], 5)
        self.assertEqual(len(self.pods()), 5)
        web = self.web()
        self.assertEqual((web["spec"]["replicas"], web["status"]["readyReplicas"], web["metadata"]["generation"]),
                         (5, 5, 3))
        scale = self.s.obj(DEPLOY + "/web/scale")
        self.assertEqual((scale["spec"], scale["status"]), ({"replicas": 5}, {"replicas": 5, "selector": "app=web"}))
        self.assertEqual(scale["metadata"]["uid"], web["metadata"]["uid"])
        r = self.s.request("PUT", "/apis/apps/v1/namespaces/prod/statefulsets/db/scale",
                           {"kind": "Scale", "apiVersion": "autoscaling/v1",
                            "metadata": {"name": "db", "namespace": "prod"}, "spec": {"replicas": 3}})
        self.assertEqual(r.status, 200)
        def db2():
            r = self.s.get(PODS + "/db-2")
            return r.status == 200 and r.json
        self.assertEqual(wait_until(db2, what="the StatefulSet controller to make db-2")["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"], "db-2")
        r = self.s.request("PATCH", DEPLOY + "/web/scale", [{"op": "replace", "path": "/spec/replicas", "value": 0}],
                           ctype=JSONPATCH)
        self.assertEqual((r.status, r.json["spec"]), (200, {}))
        self.rolled_out()
        self.assertEqual(self.pods(), [])
        self.assertNotIn("replicas", self.web()["status"])

    def test_rollout_delay_and_broken_image(self):
        self.s.control("POST", "deployments/prod/web", {"rollout_delay": 60})
        self.s.request("PATCH", DEPLOY + "/web", {"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:1.26.0"}]}}}}, ctype=SMP)
        st = self.observed()["status"]
        # maxSurge 100%, maxUnavailable 1: three new pods start, one old pod goes.
        self.assertEqual((st["replicas"], st["updatedReplicas"], st["readyReplicas"], st["unavailableReplicas"]),
                         (5, 3, 2, 3))
        self.assertEqual({c["type"]: c["reason"] for c in st["conditions"]}["Progressing"], "ReplicaSetUpdated")
        waiting = [p for p in self.pods() if p["status"]["phase"] == "Pending"]
        self.assertEqual(len(waiting), 3)
        self.assertEqual(waiting[0]["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
                         "ContainerCreating")
        self.s.control("POST", "deployments/prod/web", {"rollout_delay": 0})
        st = self.web()["status"]
        self.assertEqual((st["replicas"], st["updatedReplicas"], st["readyReplicas"], st["availableReplicas"]),
                         (3, 3, 3, 3))
        # A bad image never becomes ready; the rollout stalls below the desired count.
        self.s.control("POST", "deployments/prod/web", {"broken": True})
        self.s.request("PATCH", DEPLOY + "/web", {"spec": {"progressDeadlineSeconds": 1, "template": {"spec": {
            "containers": [{"name": "web", "image": "nginx:bad"}]}}}}, ctype=SMP)
        st = self.observed()["status"]
        self.assertEqual((st["readyReplicas"], st["updatedReplicas"], st["replicas"]), (2, 3, 5))
        bad = [p for p in self.pods() if p["spec"]["containers"][0]["image"] == "nginx:bad"][0]
        self.assertEqual(bad["status"]["containerStatuses"][0]["state"]["waiting"],
                         {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "nginx:bad"'})
        r = self.s.get(PODS + "/%s/log" % bad["metadata"]["name"])
        self.assertEqual((r.status, r.json["message"]), (400, 'container "web" in pod "%s" is waiting to start: '
                                                              'trying and failing to pull image' % bad["metadata"]["name"]))

        def timed_out():
            conds = {c["type"]: c for c in self.web()["status"]["conditions"]}
            return conds["Progressing"]["reason"] == "ProgressDeadlineExceeded" and conds["Progressing"]
        cond = wait_until(timed_out, what="ProgressDeadlineExceeded")
        self.assertEqual(cond["status"], "False")
        self.assertTrue(cond["message"].endswith("has timed out progressing."))

    def test_hpa_keeps_the_target_within_min_and_max(self):
        hpa_v1 = self.s.obj("/apis/autoscaling/v1/namespaces/prod/horizontalpodautoscalers/web")
        self.assertEqual((hpa_v1["apiVersion"], hpa_v1["spec"]["targetCPUUtilizationPercentage"]),
                         ("autoscaling/v1", 70))
        r = self.s.request("PATCH", "/apis/autoscaling/v2/namespaces/prod/horizontalpodautoscalers/web",
                           {"spec": {"maxReplicas": 2}}, ctype=MERGE)
        self.assertEqual(r.status, 200)
        wait_until(lambda: self.web()["spec"]["replicas"] == 2, what="the HPA to scale web to 2")
        hpa = self.s.obj("/apis/autoscaling/v2/namespaces/prod/horizontalpodautoscalers/web")
        self.assertEqual((hpa["status"]["desiredReplicas"], hpa["spec"]["metrics"][0]["resource"]["target"]
                          ["averageUtilization"]), (2, 70))
        r = self.s.request("PATCH", "/apis/autoscaling/v1/namespaces/prod/horizontalpodautoscalers/web",
                           {"spec": {"minReplicas": 4, "maxReplicas": 8}}, ctype=MERGE)
        self.assertEqual(r.status, 200)
        wait_until(lambda: self.web()["spec"]["replicas"] == 4, what="the HPA to scale web to 4")


class TestEviction(FakeTestCase):
    def evict(self, name):
        return self.s.request("POST", PODS + "/%s/eviction" % name, {
            "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": "prod"}})

    def test_pdb_blocks_eviction_with_429(self):
        self.s.control("POST", "deployments/prod/web", {"rollout_delay": 60})
        first, second = WEB_PODS_NODE1
        r = self.evict(first)
        self.assertEqual((r.status, r.json), (201, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                                    "status": "Success", "code": 201}))
        self.assertEqual(self.s.get(PODS + "/" + first).status, 404)
        pdb = self.s.obj("/apis/policy/v1/namespaces/prod/poddisruptionbudgets/web-pdb")["status"]
        self.assertEqual((pdb["disruptionsAllowed"], pdb["currentHealthy"], pdb["desiredHealthy"]), (0, 2, 2))
        r = self.evict(second)
        self.assertEqual(r.status, 429)
        self.assertEqual(r.json, status_body(429, "TooManyRequests",
                                             "Cannot evict pod as it would violate the pod's disruption budget.",
                                             {"causes": [{"reason": "DisruptionBudget", "message":
                                                          "The disruption budget web-pdb needs 2 healthy pods and has "
                                                          "2 currently"}]}))
        self.assertEqual(self.s.get(PODS + "/" + second).status, 200)
        # The replacement is still starting (Pending): evicting it ignores the budget.
        starting = [p for p in self.pods() if p["status"]["phase"] == "Pending"]
        self.assertEqual(len(starting), 1)
        self.assertEqual(self.evict(starting[0]["metadata"]["name"]).status, 201)
        self.s.control("POST", "deployments/prod/web", {"rollout_delay": 0})
        self.assertEqual(self.evict(second).status, 201)

    def test_eviction_errors(self):
        r = self.s.request("POST", PODS + "/%s/eviction" % WEB_PODS_NODE1[0], {
            "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "other"}})
        self.assertEqual((r.status, r.json["message"]), (400, "name in URL does not match name in Eviction object"))
        r = self.evict("ghost")
        self.assertEqual((r.status, r.json["message"]), (404, 'pods "ghost" not found'))


class TestReads(FakeTestCase):
    def test_list_selectors(self):
        lst = self.s.obj("/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1")
        self.assertEqual(lst["kind"], "PodList")
        self.assertNotIn("kind", lst["items"][0])
        names = sorted(p["metadata"]["name"] for p in lst["items"])
        self.assertEqual(len([n for n in names if n.startswith("node-exporter-")]), 1)
        self.assertEqual(sorted(n for n in names if n.startswith("web-")), WEB_PODS_NODE1)
        self.assertIn("db-0", names)
        self.assertEqual(len(self.pods("app in (web,db),app!=db")), 3)
        self.assertEqual(len(self.pods("!app")), 0)
        r = self.s.get("/api/v1/pods?fieldSelector=spec.color%3Dblue")
        self.assertEqual((r.status, r.json["message"]), (400, "field label not supported: spec.color"))
        r = self.s.get("/api/v1/pods?labelSelector=a%20b")
        self.assertEqual((r.status, r.json["reason"]), (400, "BadRequest"))
        ev = self.s.obj("/api/v1/namespaces/prod/events?fieldSelector=involvedObject.name%3Ddb-1")["items"]
        self.assertEqual(sorted(e["reason"] for e in ev), ["Pulled", "Unhealthy"])
        page = self.s.obj("/api/v1/pods?limit=2")
        self.assertEqual((len(page["items"]), page["metadata"]["remainingItemCount"]), (2, 5))
        rest = self.s.obj("/api/v1/pods?limit=10&continue=" + urllib.parse.quote(page["metadata"]["continue"]))
        self.assertEqual(len(rest["items"]), 5)
        nodes = self.s.obj("/api/v1/nodes")["items"]
        self.assertEqual([n["metadata"]["name"] for n in nodes], ["node-1", "node-2"])

    def test_pod_logs(self):
        name = WEB_PODS_NODE1[0]
        r = self.s.get(PODS + "/%s/log?container=web&tailLines=1" % name)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["content-type"], "text/plain")
        self.assertEqual(r.data, b'10.244.0.1 - - [20/Mar/2024:12:00:21 +0000] "GET / HTTP/1.1" 200 615 "-" '
                                 b'"kube-probe/1.29"\n')
        self.assertEqual(len(self.s.get(PODS + "/%s/log" % name).data.splitlines()), 4)
        r = self.s.get(PODS + "/%s/log?container=nginx" % name)
        self.assertEqual((r.status, r.json["message"]), (400, "container nginx is not valid for pod %s" % name))
        r = self.s.get(PODS + "/%s/log?previous=true" % name)
        self.assertEqual((r.status, r.json["message"]), (400, 'previous terminated container "web" in pod "%s" not found'
                                                         % name))
        r = self.s.get(PODS + "/%s/log?tailLines=-1" % name)
        self.assertEqual(r.status, 422)
        self.s.control("POST", "logs/prod/db-1", {"container": "db", "log": "FATAL: boom\n", "previous": True})
        self.assertEqual(self.s.get(PODS + "/db-1/log?previous=true").data, b"FATAL: boom\n")

    def test_cordon_with_patch(self):
        r = self.s.request("PATCH", "/api/v1/nodes/node-1", {"spec": {"unschedulable": True}}, ctype=SMP)
        self.assertEqual(r.status, 200)
        node = wait_until(lambda: self.s.obj("/api/v1/nodes/node-1")["spec"].get("taints") and
                          self.s.obj("/api/v1/nodes/node-1"), what="the node controller's taint")
        self.assertEqual(node["spec"]["taints"][0]["key"], "node.kubernetes.io/unschedulable")
        self.s.request("PATCH", DEPLOY + "/web/scale", {"spec": {"replicas": 6}}, ctype=MERGE)
        self.rolled_out()
        new = [p for p in self.pods() if p["metadata"]["name"] not in WEB_PODS_NODE1 + WEB_PODS_NODE2]
        self.assertEqual({p["spec"]["nodeName"] for p in new}, {"node-2"})
        self.assertEqual(self.s.obj("/api/v1/nodes?fieldSelector=spec.unschedulable%3Dtrue")["items"][0]["metadata"]
                         ["name"], "node-1")

    def test_server_side_printing_tables(self):
        accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        t = self.s.get(DEPLOY, headers={"Accept": accept}).json
        self.assertEqual((t["kind"], t["apiVersion"]), ("Table", "meta.k8s.io/v1"))
        self.assertEqual([c["name"] for c in t["columnDefinitions"] if c["priority"] == 0],
                         ["Name", "Ready", "Up-to-date", "Available", "Age"])
        self.assertEqual(t["rows"][0]["cells"][:4], ["web", "3/3", 3, 3])
        self.assertEqual(t["rows"][0]["object"]["kind"], "PartialObjectMetadata")
        t = self.s.get("/api/v1/nodes/node-1", headers={"Accept": accept}).json
        self.assertEqual(t["rows"][0]["cells"][:2], ["node-1", "Ready"])
        self.assertEqual(self.s.get(DEPLOY).json["kind"], "DeploymentList")

    def test_watch_streams_changes(self):
        rv = self.web()["metadata"]["resourceVersion"]
        conn = http.client.HTTPSConnection("127.0.0.1", self.s.port, context=self.s.ctx, timeout=20)
        conn.request("GET", DEPLOY + "?watch=true&fieldSelector=metadata.name%3Dweb&timeoutSeconds=10&resourceVersion="
                     + rv, headers={"Authorization": "Bearer " + self.s.token})
        resp = conn.getresponse()
        self.assertEqual((resp.status, resp.getheader("Content-Type")), (200, "application/json"))
        self.s.request("PATCH", DEPLOY + "/web", {"spec": {"replicas": 4}}, ctype=MERGE)
        first = json.loads(resp.readline())
        self.assertEqual((first["type"], first["object"]["kind"], first["object"]["spec"]["replicas"]),
                         ("MODIFIED", "Deployment", 4))
        self.assertGreater(int(first["object"]["metadata"]["resourceVersion"]), int(rv))
        while True:
            ev = json.loads(resp.readline())
            if ev["object"].get("status", {}).get("readyReplicas") == 4:
                break
        conn.close()


class TestPatches(FakeTestCase):
    def test_strategic_merge_merges_containers_by_name_and_merge_patch_replaces(self):
        r = self.s.request("PATCH", DEPLOY + "/web", {"spec": {"template": {"spec": {"containers": [
            {"name": "sidecar", "image": "envoy:1.29"}]}}}}, ctype=SMP)
        self.assertEqual([c["name"] for c in r.json["spec"]["template"]["spec"]["containers"]], ["web", "sidecar"])
        r = self.s.request("PATCH", DEPLOY + "/web", {"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:1.26.0"}]}}}}, ctype=SMP)
        self.assertEqual([(c["name"], c["image"]) for c in r.json["spec"]["template"]["spec"]["containers"]],
                         [("web", "nginx:1.26.0"), ("sidecar", "envoy:1.29")])
        self.assertEqual(r.json["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"], 80)
        r = self.s.request("PATCH", DEPLOY + "/web", {"spec": {"template": {"spec": {"containers": [
            {"name": "sidecar", "$patch": "delete"}]}}}}, ctype=SMP)
        self.assertEqual([c["name"] for c in r.json["spec"]["template"]["spec"]["containers"]], ["web"])
        r = self.s.request("PATCH", DEPLOY + "/web", {"spec": {"template": {"spec": {"containers": [
            {"name": "only", "image": "busybox:1.36"}]}}}}, ctype=MERGE)
        self.assertEqual([c["name"] for c in r.json["spec"]["template"]["spec"]["containers"]], ["only"])

    def test_json_patch_test_failure_is_422(self):
        r = self.s.request("PATCH", DEPLOY + "/web", [{"op": "test", "path": "/spec/replicas", "value": 7},
                                                      {"op": "replace", "path": "/spec/replicas", "value": 1}],
                           ctype=JSONPATCH)
        self.assertEqual(r.status, 422)
        self.assertEqual(r.json, status_body(422, "Invalid", "the server rejected our request due to an error in our "
                                             "request", {"causes": [{"message": "testing value /spec/replicas failed: "
                                                                     "test failed"}]}))
        r = self.s.request("PATCH", DEPLOY + "/web", [{"op": "test", "path": "/spec/replicas", "value": 3},
                                                      {"op": "replace", "path": "/spec/replicas", "value": 1}],
                           ctype=JSONPATCH)
        self.assertEqual((r.status, r.json["spec"]["replicas"]), (200, 1))

    def test_status_changes_through_the_main_resource_are_ignored(self):
        r = self.s.request("PATCH", DEPLOY + "/web", {"status": {"replicas": 99}}, ctype=MERGE)
        self.assertEqual((r.status, r.json["status"]["replicas"]), (200, 3))
        self.assertEqual(len(self.requests(method="PATCH")), 1)


class TestControlApi(FakeTestCase):
    def test_fault_injection(self):
        self.s.control("POST", "faults", {"method": "PATCH", "path_regex": "/deployments/web$", "status": 500,
                                          "times": 1})
        r = self.s.request("PATCH", DEPLOY + "/web", {"spec": {"replicas": 2}}, ctype=MERGE)
        self.assertEqual((r.status, r.json), (500, status_body(500, "InternalError", "Internal error occurred: injected "
                                                               "fault", {"causes": [{"message": "injected fault"}]})))
        self.assertEqual(self.web()["spec"]["replicas"], 3)
        self.assertEqual(self.s.request("PATCH", DEPLOY + "/web", {"spec": {"replicas": 2}}, ctype=MERGE).status, 200)
        self.s.control("POST", "faults", [{"path_regex": "/scale$", "status": 429, "retry_after": 1, "times": 2},
                                          {"method": "GET", "path_regex": "^/api/v1/nodes$", "status": 503,
                                           "format": "status"}])
        r = self.s.get(DEPLOY + "/web/scale")
        self.assertEqual((r.status, r.headers["retry-after"], r.data),
                         (429, "1", b"Too many requests, please try again later.\n"))
        self.assertEqual(self.s.get(DEPLOY + "/web/scale").status, 429)
        self.assertEqual(self.s.get(DEPLOY + "/web/scale").status, 200)
        r = self.s.get("/api/v1/nodes")
        self.assertEqual((r.status, r.json["reason"]), (503, "ServiceUnavailable"))
        self.assertEqual(self.s.control("GET", "faults"), [])
        self.s.control("POST", "faults", {"method": "PATCH", "status": 504, "execute": True})
        r = self.s.request("PATCH", DEPLOY + "/web", {"spec": {"replicas": 4}}, ctype=MERGE)
        self.assertEqual((r.status, r.json["reason"]), (504, "Timeout"))
        self.assertEqual(self.web()["spec"]["replicas"], 4)
        faulted = [e for e in self.requests() if e["fault"]]
        self.assertEqual([e["status"] for e in faulted], [500, 429, 429, 503, 504])

    def test_request_log(self):
        self.s.request("PATCH", DEPLOY + "/web?fieldManager=salve", {"spec": {"replicas": 2}}, ctype=MERGE)
        entry = self.requests(method="PATCH")[0]
        for k, v in {"method": "PATCH", "path": DEPLOY + "/web", "query": "fieldManager=salve",
                     "params": {"fieldManager": "salve"}, "content_type": MERGE, "body": {"spec": {"replicas": 2}},
                     "status": 200, "dry_run": False, "auth": "token"}.items():
            self.assertEqual(entry[k], v, k)
        with open(self.s.requests_file) as f:
            lines = [json.loads(line) for line in f]
        self.assertEqual(lines[-1]["seq"], entry["seq"])
        self.assertEqual(lines[-1]["body"], entry["body"])
        self.assertGreaterEqual(self.s.control("DELETE", "requests")["cleared"], 1)
        self.assertEqual(self.requests(), [])

    def test_load_objects(self):
        dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "staging"},
               "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}}, "template": {
                   "metadata": {"labels": {"app": "api"}},
                   "spec": {"containers": [{"name": "api", "image": "api:1"}]}}}}
        self.assertEqual(self.s.control("POST", "objects", [dep]), {"loaded": 1})
        got = self.s.obj("/apis/apps/v1/namespaces/staging/deployments/api")
        self.assertEqual((got["status"]["readyReplicas"], got["metadata"]["annotations"]
                          ["deployment.kubernetes.io/revision"]), (2, "1"))
        self.assertEqual(self.s.obj("/api/v1/namespaces/staging")["status"]["phase"], "Active")
        r = self.s.request("POST", "/__fake/objects", [{"kind": "Widget"}], auth=None)
        self.assertEqual(r.status, 400)
        kinds = {o["kind"] for o in self.s.control("GET", "objects")["items"]}
        self.assertTrue({"Deployment", "Pod", "Node", "Event"} <= kinds)

    def test_pod_override(self):
        self.s.control("POST", "pods/prod/db-1", {"ready": False, "restart_count": 5,
                                                  "waiting_reason": "CrashLoopBackOff"})
        pod = self.s.obj(PODS + "/db-1")
        cs = pod["status"]["containerStatuses"][0]
        self.assertEqual((cs["ready"], cs["restartCount"], cs["state"]["waiting"]["reason"]),
                         (False, 5, "CrashLoopBackOff"))
        self.assertEqual(self.s.obj("/apis/apps/v1/namespaces/prod/statefulsets/db")["status"]["readyReplicas"], 1)


class TestRealServerFidelity(FakeTestCase):
    """Issue 16: what a real v1.20 apiserver showed that the fake did not."""

    def test_scale_404_names_the_subresource(self):
        r = self.s.get(DEPLOY + "/nope/scale")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json, status_body(404, "NotFound", 'deployments/scale.apps "nope" not found',
                                             {"name": "nope", "group": "apps", "kind": "deployments/scale"}))

    def test_logs_of_an_unscheduled_pod_are_204_empty(self):
        self.s.control("POST", "objects", {"apiVersion": "v1", "kind": "Pod",
                                           "metadata": {"name": "lonely", "namespace": "prod"},
                                           "spec": {"nodeSelector": {"disk": "none"},
                                                    "containers": [{"name": "app", "image": "busybox"}]}})
        r = self.s.get(PODS + "/lonely/log")
        self.assertEqual((r.status, r.data), (204, b""))

    def test_rbac_403_in_the_real_words(self):
        rules = [{"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments"], "namespaces": ["prod"]}]
        self.assertEqual(self.s.control("POST", "settings", {"rbac": rules})["rbac"], rules)
        self.assertEqual(self.s.get(DEPLOY + "/web").status, 200)
        r = self.s.request("PATCH", DEPLOY + "/web", {"spec": {"replicas": 4}}, ctype=MERGE)
        self.assertEqual(r.status, 403)
        self.assertEqual(r.json, status_body(
            403, "Forbidden", 'deployments.apps "web" is forbidden: User "salve-token" cannot patch resource '
            '"deployments" in API group "apps" in the namespace "prod"', {"name": "web", "group": "apps",
                                                                          "kind": "deployments"}))
        r = self.s.get(DEPLOY)
        self.assertEqual(r.json["message"], 'deployments.apps is forbidden: User "salve-token" cannot list resource '
                                            '"deployments" in API group "apps" in the namespace "prod"')
        r = self.s.request("POST", PODS + "/db-0/eviction", {"metadata": {"name": "db-0"}})
        self.assertEqual(r.json["message"], 'pods "db-0" is forbidden: User "salve-token" cannot create resource '
                                            '"pods/eviction" in API group "" in the namespace "prod"')
        self.assertEqual(self.s.get("/api/v1/nodes").json["message"],
                         'nodes is forbidden: User "salve-token" cannot list resource "nodes" in API group "" '
                         'at the cluster scope')
        self.assertEqual(self.s.get("/apis").status, 200)  # discovery stays open
        self.assertEqual(self.s.get(DEPLOY, auth="cert").status, 200)  # system:masters
        self.s.control("POST", "reset")
        self.assertIsNone(self.s.control("GET", "settings")["rbac"])

    def test_controllers_act_after_the_write_is_answered(self):
        self.assertEqual(self.s.control("GET", "settings")["controller_delay"], 0.02)
        self.assertFalse(self.s.control("GET", "controllers")["pending"])
        # a long delay: only the request order decides below, not how fast this client is
        self.s.control("POST", "settings", {"controller_delay": 30})
        gen = self.web()["metadata"]["generation"]
        r = self.s.request("PATCH", DEPLOY + "/web", {"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:1.26.0"}]}}}}, ctype=SMP)
        self.assertEqual((r.status, r.json["metadata"]["generation"], r.json["status"]["observedGeneration"]),
                         (200, gen + 1, gen))
        # the first read after the write: stored, not yet acted on (no new ReplicaSet, the old
        # status); the controllers run once it is answered, so the read after it sees their work
        first = self.s.obj("/apis/apps/v1/namespaces/prod/replicasets?labelSelector=app%3Dweb")
        self.assertEqual(sorted(rs["metadata"]["name"] for rs in first["items"]), sorted([WEB_RS_OLD, WEB_RS_CUR]))
        self.assertFalse(self.s.control("GET", "controllers")["pending"])
        self.assertEqual(len(self.replicasets()), 3)
        web = self.web()
        self.assertEqual((web["status"]["observedGeneration"], web["metadata"]["annotations"]
                          ["deployment.kubernetes.io/revision"]), (gen + 1, "3"))
        self.assertGreater(int(web["metadata"]["resourceVersion"]), int(r.json["metadata"]["resourceVersion"]))
        # with no request after the write, they run once controller_delay has passed (a shorter
        # delay set meanwhile applies to the run still to come)
        self.s.request("PATCH", DEPLOY + "/web/scale", {"spec": {"replicas": 4}}, ctype=MERGE)
        def web_pods():  # through the control API, which starts no controller run
            return len([o for o in self.s.control("GET", "objects")["items"]
                        if o["kind"] == "Pod" and o["metadata"]["labels"].get("app") == "web"])
        self.assertTrue(self.s.control("GET", "controllers")["pending"])
        self.assertEqual(web_pods(), 3)
        self.s.control("POST", "settings", {"controller_delay": 0.1})
        wait_until(lambda: not self.s.control("GET", "controllers")["pending"], what="the delayed controller run")
        self.assertEqual(web_pods(), 4)
        r = self.s.request("POST", "/__fake/settings", {"controller_delay": None}, auth=None)
        self.assertEqual((r.status, r.json), (400, {"error": "controller_delay must be a number of seconds >= 0"}))

    def test_async_controllers_make_natural_conflicts(self):
        self.s.control("POST", "settings", {"controller_delay": 30})
        node = "/api/v1/nodes/node-1"
        r = self.s.request("PATCH", node, {"spec": {"unschedulable": True}}, ctype=MERGE)
        self.assertEqual(r.status, 200)
        # the next read is answered before the node controller acts on the write, which then
        # adds its taint: a write based on that read is a natural 409
        read = self.s.obj(node)
        self.assertNotIn("taints", read["spec"])
        r = self.s.request("PATCH", node, {"metadata": {"resourceVersion": read["metadata"]["resourceVersion"]},
                                           "spec": {"unschedulable": None}}, ctype=MERGE)
        self.assertEqual(r.status, 409)
        self.assertEqual(r.json["reason"], "Conflict")
        self.assertEqual(self.s.obj(node)["spec"]["taints"][0]["key"], "node.kubernetes.io/unschedulable")

    def test_deleted_pods_stay_terminating(self):
        self.s.control("POST", "settings", {"pod_termination": 1})
        pod = PODS + "/db-0"
        uid = self.s.obj(pod)["metadata"]["uid"]
        r = self.s.request("DELETE", pod)
        self.assertEqual(r.status, 200)
        still = self.s.obj(pod)
        self.assertEqual(still["metadata"]["uid"], uid)
        self.assertEqual(still["metadata"]["deletionGracePeriodSeconds"], 30)
        self.assertIn("deletionTimestamp", still["metadata"])
        wait_until(lambda: self.s.get(pod).status == 404 or self.s.obj(pod)["metadata"]["uid"] != uid,
                   what="the kubelet to confirm db-0 stopped")

    def test_network_policies(self):
        np = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "deny", "namespace": "prod"},
              "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                       "egress": [{"ports": [{"port": 53}]}]}}
        r = self.s.request("POST", "/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies", np)
        self.assertEqual(r.status, 201)
        self.assertEqual(r.json["spec"]["policyTypes"], ["Ingress", "Egress"])
        self.assertEqual(r.json["spec"]["egress"][0]["ports"][0]["protocol"], "TCP")
        self.assertEqual(r.json["metadata"]["generation"], 1)
        np["spec"]["policyTypes"] = ["Sideways"]
        np["metadata"]["name"] = "bad"
        r = self.s.request("POST", "/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies", np)
        self.assertEqual(r.status, 422)
        self.assertIn('spec.policyTypes[0]: Unsupported value: "Sideways": supported values: "Egress", "Ingress"',
                      r.json["message"])
        r = self.s.get("/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies/nope")
        self.assertEqual(r.json["message"], 'networkpolicies.networking.k8s.io "nope" not found')

    def test_replicaset_releases_a_relabelled_pod(self):
        name = self.pods()[0]["metadata"]["name"]
        r = self.s.request("PATCH", PODS + "/" + name, {"metadata": {"labels": {"app": None, "quarantine": "yes"}}},
                           ctype=MERGE)
        self.assertEqual(r.status, 200)
        released = wait_until(lambda: "ownerReferences" not in self.s.obj(PODS + "/" + name)["metadata"] and
                              self.s.obj(PODS + "/" + name), what="the ReplicaSet to release the pod")
        self.assertNotIn("ownerReferences", released["metadata"])
        self.assertEqual(released["status"]["phase"], "Running")
        self.assertEqual(len(self.rolled_out() and self.pods()), 3)  # a replacement took its place

    def test_replicaset_adopts_a_matching_orphan(self):
        before = [p["metadata"]["name"] for p in self.pods()]
        name = before[0]
        labels = self.s.obj(PODS + "/" + name)["metadata"]["labels"]
        self.s.request("PATCH", PODS + "/" + name, {"metadata": {"labels": {"app": None}}}, ctype=MERGE)
        self.rolled_out()
        replacement = [p["metadata"]["name"] for p in self.pods() if p["metadata"]["name"] not in before]
        self.assertEqual(len(replacement), 1)
        r = self.s.request("PATCH", PODS + "/" + name, {"metadata": {"labels": labels}}, ctype=MERGE)
        self.assertEqual(r.status, 200)
        adopted = wait_until(lambda: "ownerReferences" in self.s.obj(PODS + "/" + name)["metadata"] and
                             self.s.obj(PODS + "/" + name), what="the ReplicaSet to adopt the pod")
        ref = adopted["metadata"]["ownerReferences"]
        self.assertEqual(len(ref), 1)
        self.assertEqual((ref[0]["kind"], ref[0]["controller"], ref[0]["blockOwnerDeletion"]),
                         ("ReplicaSet", True, True))
        self.assertEqual(ref[0]["name"], self.pods()[0]["metadata"]["ownerReferences"][0]["name"])
        # one pod too many now: the ReplicaSet scales back to 3, every one its own
        pods = wait_until(lambda: len(self.pods()) == 3 and self.pods(), what="the ReplicaSet to scale back to 3")
        self.assertEqual(len(pods), 3)
        self.assertEqual({p["metadata"]["ownerReferences"][0]["uid"] for p in pods}, {ref[0]["uid"]})
        self.assertEqual(len({p["metadata"]["name"] for p in pods} - set(before + replacement)), 0)


def have_h2():
    try:
        import h2.connection  # noqa: F401
        return True
    except ImportError:
        return False


@unittest.skipUnless(have_h2(), "the h2 module (python3-h2) is not installed")
class TestHttp2(unittest.TestCase):
    """--http2: h2 by ALPN, the same answers, large bodies past the flow-control window."""

    @classmethod
    def setUpClass(cls):
        cls.s = FakeServer("--http2")

    @classmethod
    def tearDownClass(cls):
        cls.s.stop()

    def curl(self, *args):
        return subprocess.run(["curl", "-sS", "--http2", "--cacert", os.path.join(self.s.certs, "ca.crt"),
                               "-H", "Authorization: Bearer " + self.s.token] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)

    def test_h2_answers_as_http1_does(self):
        base = "https://127.0.0.1:%d" % self.s.port
        out = self.curl("-w", "\n%{http_version} %{http_code}", base + DEPLOY + "/web").stdout
        body, status = out.rsplit("\n", 1)
        self.assertEqual(status, "2 200")
        self.assertEqual(json.loads(body)["metadata"]["name"], "web")
        out = self.curl("-o", "/dev/null", "-w", "%{http_version} %{http_code} %{size_download}",
                        "-X", "PATCH", "-H", "Content-Type: " + MERGE, "-d", '{"spec":{"replicas":"x"}}',
                        base + DEPLOY + "/web").stdout
        self.assertTrue(out.startswith("2 422 "), out)
        # a list far beyond the 65535-byte initial window arrives whole
        objs = [{"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e%d" % i, "namespace": "prod"},
                 "involvedObject": {"kind": "Pod", "name": "db-0", "namespace": "prod"},
                 "reason": "Filler", "message": "x" * 200} for i in range(600)]
        self.s.control("POST", "objects", objs)
        out = self.curl(base + "/api/v1/namespaces/prod/events").stdout
        self.assertGreaterEqual(len(json.loads(out)["items"]), 600)
        entry = self.s.control("GET", "requests")[-1]
        self.assertEqual(entry["protocol"], "HTTP/2.0")


class TestLifecycle(unittest.TestCase):
    def test_sigterm_exits_cleanly(self):
        s = FakeServer(fixture=None)
        self.assertEqual(s.obj("/api/v1/namespaces")["items"], [])
        s.proc.send_signal(signal.SIGTERM)
        self.assertEqual(s.proc.wait(10), 0)
        s.stop()

    def test_refuses_non_loopback_listen(self):
        d = tempfile.mkdtemp(prefix="fake-k8s-test-")
        try:
            p = subprocess.run([sys.executable, FAKE, "--certs", d, "--port-file", os.path.join(d, "port"),
                                "--listen", "0.0.0.0:0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=30)
            self.assertEqual(p.returncode, 2)
            self.assertIn("must be a loopback address", p.stderr)
        finally:
            shutil.rmtree(d)


# ---------------------------------------------------------------------------------------------
# kubectl against the fake


@unittest.skipIf(KUBECTL is None, NEED_KUBECTL)
class TestKubectl(FakeTestCase):
    def ok(self, *args, **kw):
        p = self.s.kubectl(*args, **kw)
        self.assertEqual(p.returncode, 0, "kubectl %s failed:\n%s%s" % (" ".join(args), p.stdout, p.stderr))
        return p.stdout

    def test_get_with_every_kubeconfig(self):
        for cfg in ("kubeconfig-token", "kubeconfig-cert", "kubeconfig-insecure"):
            self.assertEqual(self.ok("get", "deploy", "-n", "prod", "-o", "name", kubeconfig=cfg),
                             "deployment.apps/web\n", cfg)
        out = self.ok("get", "pods", "-A", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.phase} {end}")
        self.assertEqual(len(out.split()), 7)
        self.assertTrue(all(x.endswith("=Running") for x in out.split()))

    def test_scale(self):
        self.assertEqual(self.ok("scale", "deploy/web", "-n", "prod", "--replicas=5"), "deployment.apps/web scaled\n")
        self.assertEqual(self.rolled_out()["spec"]["replicas"], 5)
        self.assertEqual(len(self.pods()), 5)
        scale_calls = [e for e in self.requests() if e["path"].endswith("/deployments/web/scale")]
        self.assertEqual([(e["method"], e["content_type"], e["body"]) for e in scale_calls],
                         [("PATCH", MERGE, {"spec": {"replicas": 5}})])

    def test_rollout_undo(self):
        self.ok("set", "image", "deploy/web", "-n", "prod", "web=nginx:1.26.0")
        self.ok("rollout", "status", "deploy/web", "-n", "prod", "--timeout=20s")
        self.assertEqual(self.ok("rollout", "undo", "deploy/web", "-n", "prod"), "deployment.apps/web rolled back\n")
        self.ok("rollout", "status", "deploy/web", "-n", "prod", "--timeout=20s")
        web = self.web()
        self.assertEqual(web["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.25.3")
        self.assertEqual(web["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "4")
        self.assertEqual(self.replicasets()[WEB_RS_CUR]["spec"]["replicas"], 3)
        self.ok("rollout", "undo", "deploy/web", "-n", "prod", "--to-revision=1")
        self.ok("rollout", "status", "deploy/web", "-n", "prod", "--timeout=20s")
        self.assertEqual(self.web()["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.25.2")
        hist = self.ok("rollout", "history", "deploy/web", "-n", "prod")
        self.assertEqual([line.split()[0] for line in hist.splitlines()[2:] if line.strip()], ["3", "4", "5"])

    def test_rollout_status_waits_for_a_delayed_rollout(self):
        self.s.control("POST", "deployments/prod/web", {"rollout_delay": 120})
        self.ok("set", "image", "deploy/web", "-n", "prod", "web=nginx:1.26.0")
        out = self.ok("rollout", "status", "deploy/web", "-n", "prod", "--watch=false")
        self.assertIn('Waiting for deployment "web" rollout to finish', out)
        proc = self.s.kubectl_popen("rollout", "status", "deploy/web", "-n", "prod", "--timeout=60s")
        wait_until(lambda: [e for e in self.requests() if e["watch"]], what="kubectl to watch")
        self.assertIsNone(proc.poll())
        self.s.control("POST", "deployments/prod/web", {"rollout_delay": 0})
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        self.assertTrue(out.endswith('deployment "web" successfully rolled out\n'), out)

    def test_rollout_status_times_out_on_a_broken_image(self):
        self.s.control("POST", "deployments/prod/web", {"broken": True})
        self.ok("set", "image", "deploy/web", "-n", "prod", "web=nginx:bad")
        p = self.s.kubectl("rollout", "status", "deploy/web", "-n", "prod", "--timeout=1s")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("timed out waiting for the condition", p.stderr)

    def test_drain_ignores_daemonsets(self):
        out = self.s.kubectl("drain", "node-1", "--ignore-daemonsets", "--timeout=60s")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("node/node-1 drained", out.stdout)
        self.assertIn("ignoring DaemonSet-managed Pods: monitoring/node-exporter-", out.stderr)
        self.assertTrue(self.s.obj("/api/v1/nodes/node-1")["spec"]["unschedulable"])
        on_node1 = self.s.obj("/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1")["items"]
        self.assertEqual([p["metadata"]["namespace"] for p in on_node1], ["monitoring"])
        # each pod evicted once (a web pod may first meet the budget's 429 until its sibling's
        # replacement is Ready: kubectl retries)
        evicted = sorted(e["path"].split("/")[-2] for e in self.requests(method="POST")
                         if e["path"].endswith("/eviction") and e["status"] == 201)
        self.assertEqual(evicted, sorted(["db-0"] + WEB_PODS_NODE1))
        self.rolled_out()
        self.assertEqual(len([p for p in self.pods() if p["status"]["phase"] == "Running"]), 3)
        self.ok("uncordon", "node-1")
        self.assertNotIn("unschedulable", self.s.obj("/api/v1/nodes/node-1")["spec"])

    def test_drain_blocked_by_the_disruption_budget(self):
        self.s.control("POST", "deployments/prod/web", {"rollout_delay": 120})
        p = self.s.kubectl("drain", "node-1", "--ignore-daemonsets", "--timeout=2s")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("Cannot evict pod as it would violate the pod's disruption budget.", p.stderr)
        statuses = [e["status"] for e in self.requests(method="POST") if e["path"].endswith("/eviction")
                    and e["path"].split("/")[-2] in WEB_PODS_NODE1]
        self.assertIn(429, statuses)
        self.assertIn(201, statuses)

    def test_patch_server_dry_run(self):
        self.ok("patch", "deploy", "web", "-n", "prod", "--dry-run=server", "-p", '{"spec":{"replicas":7}}')
        self.assertEqual(self.web()["spec"]["replicas"], 3)
        entry = self.requests(method="PATCH")[-1]
        self.assertEqual((entry["dry_run"], entry["params"]["dryRun"], entry["content_type"], entry["status"]),
                         (True, "All", SMP, 200))
        out = self.ok("patch", "deploy", "web", "-n", "prod", "--dry-run=server", "-o", "jsonpath={.spec.replicas}",
                      "-p", '{"spec":{"replicas":7}}')
        self.assertEqual(out, "7")


if __name__ == "__main__":
    unittest.main(verbosity=2)
