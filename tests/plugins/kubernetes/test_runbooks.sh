#!/usr/bin/env bash
# The five Kubernetes runbooks end to end: the real salve binary loads the kubernetes, scale,
# notify and prometheus plugins and runs runbooks/*.lua against the fake API server and a real
# Prometheus (scraping a static metrics file), all on 127.0.0.1, started and cleaned up here.
# Asserts exit codes, step outcomes and the cluster's state before and after.
set -euo pipefail

: "${SALVE_BIN:?run through ctest}" "${SALVE_PLUGIN_DIR:?}" "${SALVE_SOURCE_DIR:?}"
python=${PYTHON:-python3}
src=$SALVE_SOURCE_DIR
tmp=$(mktemp -d /tmp/salve-runbooks-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
passed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }

# ---- the fake API server ----------------------------------------------------------------------
"$python" "$src/tests/fake-k8s/fake_k8s.py" --certs "$tmp/certs" --port-file "$tmp/port" \
  --fixture "$src/tests/fake-k8s/fixtures/basic.json" >"$tmp/fake.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { cat "$tmp/fake.log"; fail "the fake API server did not start"; }
api="https://127.0.0.1:$(cat "$tmp/port")"
ctl() { # METHOD PATH [BODY]: the fake's control API
  curl -sf --cacert "$tmp/certs/ca.crt" -X "$1" "$api$2" ${3:+-H 'Content-Type: application/json' -d "$3"}
}
# The ClusterRole of examples/kubernetes/rbac.yaml, as the fake's RBAC rules for the token user
# both plugins call as: every runbook below runs with exactly the permissions the example grants,
# so a permission missing from it fails the runbook with a 403.
rbac=$("$python" -c '
import json, sys, yaml
for doc in yaml.safe_load_all(open(sys.argv[1])):
    if doc and doc.get("kind") == "ClusterRole":
        print(json.dumps({"rbac": doc["rules"]}))' "$src/examples/kubernetes/rbac.yaml")
[ -n "$rbac" ] || fail "no ClusterRole in examples/kubernetes/rbac.yaml"
reset() { # the fixture again, under the example's RBAC
  ctl POST /__fake/reset >/dev/null
  ctl POST /__fake/settings "$rbac" >/dev/null
}
obj() { # KIND NAMESPACE|- NAME POINTER: one field of a stored object, as JSON
  ctl GET /__fake/objects | "$python" -c '
import json, sys
kind, ns, name, ptr = sys.argv[1:5]
for o in json.load(sys.stdin)["items"]:
    m = o["metadata"]
    if o["kind"] == kind and m["name"] == name and m.get("namespace", "-") == ns:
        v = o
        for p in [p.replace("~1", "/").replace("~0", "~") for p in ptr.split("/") if p]:
            v = v.get(p) if isinstance(v, dict) else (v[int(p)] if isinstance(v, list) and int(p) < len(v) else None)
            if v is None:
                break
        print(json.dumps(v))
        break
else:
    print("absent")' "$@"
}
pods_on() { # NODE PREFIX: how many pods whose name starts with PREFIX run on NODE
  ctl GET /__fake/objects | "$python" -c '
import json, sys
node, prefix = sys.argv[1:3]
print(sum(1 for o in json.load(sys.stdin)["items"] if o["kind"] == "Pod"
          and (o.get("spec") or {}).get("nodeName") == node and o["metadata"]["name"].startswith(prefix)))' "$@"
}
writes() { # API writes logged since the last reset: "METHOD path?query" lines
  ctl GET /__fake/requests | "$python" -c '
import json, sys
for r in json.load(sys.stdin):
    if r["method"] != "GET":
        print(r["method"], r["path"] + ("?" + r["query"] if r["query"] else ""), "dry" if r["dry_run"] else "real")'
}
step_outcome() { # SUMMARY_JSON STEP
  "$python" -c 'import json,sys; s=json.load(open(sys.argv[1])); print([x["outcome"] for x in s["steps"] if x["name"]==sys.argv[2]][0])' "$@"
}

# ---- a real Prometheus scraping a static metrics file -----------------------------------------
mkdir -p "$tmp/www"
cat >"$tmp/www/metrics" <<'EOF'
# TYPE cpu_usage gauge
cpu_usage{namespace="prod",deployment="web"} 0.95
# TYPE latency_seconds gauge
latency_seconds{namespace="prod",deployment="web"} 0.12
EOF
web_port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
prom_port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$python" -m http.server "$web_port" --bind 127.0.0.1 --directory "$tmp/www" >"$tmp/www.log" 2>&1 &
pids+=($!)
cat >"$tmp/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
- job_name: app
  static_configs: [{targets: ["127.0.0.1:$web_port"]}]
EOF
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$tmp/prometheus.log" 2>&1 &
pids+=($!)
prom="http://127.0.0.1:$prom_port"
for _ in $(seq 300); do
  curl -sf "$prom/api/v1/query?query=cpu_usage" 2>/dev/null | grep -q '"value"' && break
  sleep 0.1
done
curl -sf "$prom/api/v1/query?query=cpu_usage" | grep -q '"value"' ||
  { cat "$tmp/prometheus.log"; fail "prometheus did not scrape the metrics"; }

# ---- a webhook receiver for the security team's notices ------------------------------------------
"$python" "$src/tests/plugins/notify/http_receiver.py" --port-file "$tmp/hook-port" >"$tmp/hook.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/hook-port" ] && break; sleep 0.1; done
hook="http://127.0.0.1:$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$tmp/hook-port")"
hook_posts() { # the notices received so far, one JSON body a line
  curl -sf "$hook/_control/requests" | "$python" -c '
import json, sys
for r in json.load(sys.stdin):
    if r["method"] == "POST":
        print(r["body"] if isinstance(r["body"], str) else json.dumps(r["body"]))'
}

cat >"$tmp/salve.yaml" <<EOF
audit: $tmp/audit.jsonl
state_dir: $tmp/state
plugins:
  kubernetes: {kubeconfig: $tmp/certs/kubeconfig-token}
  scale: {kubeconfig: $tmp/certs/kubeconfig-token}
  prometheus: {url: "$prom"}
  notify:
    webhooks:
      security: {url: "$hook/security"}
EOF
salve() { "$SALVE_BIN" --config "$tmp/salve.yaml" --plugin-path "$SALVE_PLUGIN_DIR" "$@"; }

# ---- rollback-bad-deploy ------------------------------------------------------------------------
reset
ctl POST /__fake/deployments/prod/web '{"broken": true}' >/dev/null
curl -sf --cacert "$tmp/certs/ca.crt" -X PATCH -H "Authorization: Bearer salve-test-token" \
  -H 'Content-Type: application/strategic-merge-patch+json' "$api/apis/apps/v1/namespaces/prod/deployments/web" \
  -d '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:bad"}]}}}}' >/dev/null
ctl DELETE /__fake/requests >/dev/null
salve run -q --json --dry-run -p namespace=prod -p deployment=web \
  "$src/runbooks/rollback-bad-deploy.lua" >"$tmp/out.json" 2>"$tmp/err" || { cat "$tmp/err"; fail "dry-run exit $?"; }
[ "$(step_outcome "$tmp/out.json" rollback)" = changed ] || fail "dry-run rollback step: $(cat "$tmp/out.json")"
[ "$(obj Deployment prod web /spec/template/spec/containers/0/image)" = '"nginx:bad"' ] || fail "dry-run changed the image"
! writes | grep -q ' real$' || fail "dry-run sent real writes: $(writes)"
writes | grep -q '^PATCH /apis/apps/v1/namespaces/prod/deployments/web?dryRun=All&fieldManager=salve dry$' || fail "no dry-run patch: $(writes)"
ok "rollback-bad-deploy dry-run plans the rollback with dryRun=All and changes nothing"

salve run -q --json -p namespace=prod -p deployment=web -p timeout=30s \
  "$src/runbooks/rollback-bad-deploy.lua" >"$tmp/out.json" 2>"$tmp/err" || { cat "$tmp/err"; fail "apply exit $?"; }
[ "$(step_outcome "$tmp/out.json" rollback)" = changed ] || fail "rollback step: $(cat "$tmp/out.json")"
[ "$(obj Deployment prod web /spec/template/spec/containers/0/image)" = '"nginx:1.25.3"' ] || fail "not rolled back"
ok "rollback-bad-deploy rolls the broken release back to nginx:1.25.3 and waits until healthy"

salve run -q --json -p namespace=prod -p deployment=web "$src/runbooks/rollback-bad-deploy.lua" \
  >"$tmp/out.json" 2>"$tmp/err" || { cat "$tmp/err"; fail "re-run exit $?"; }
[ "$(step_outcome "$tmp/out.json" rollback)" = ok ] || fail "re-run rollback step: $(cat "$tmp/out.json")"
ok "rollback-bad-deploy on a healthy deployment changes nothing"

# ---- restart-crashloop --------------------------------------------------------------------------
reset
ctl POST /__fake/pods/prod/web-86c4ff78d4-7xk2p \
  '{"ready": false, "waiting_reason": "CrashLoopBackOff", "restart_count": 7}' >/dev/null
ctl POST /__fake/logs/prod/web-86c4ff78d4-7xk2p \
  '{"container": "web", "log": "starting\npanic: cannot reach db:5432\n", "previous": true}' >/dev/null
salve run --json -p namespace=prod -p deployment=web -p pod=web-86c4ff78d4-7xk2p -p container=web \
  -p timeout=30s "$src/runbooks/restart-crashloop.lua" >"$tmp/out.json" 2>"$tmp/err" ||
  { cat "$tmp/err"; fail "restart-crashloop exit $?"; }
[ "$(step_outcome "$tmp/out.json" restart)" = changed ] || fail "restart step: $(cat "$tmp/out.json")"
grep -q 'panic: cannot reach db:5432' "$tmp/err" || fail "the crashed container's log was not kept: $(cat "$tmp/err")"
[ "$(obj Deployment prod web /spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt)" != null ] ||
  fail "no restartedAt annotation"
ok "restart-crashloop keeps the crashed container's log and restarts the deployment"

salve run -q --json -p namespace=prod -p deployment=web "$src/runbooks/restart-crashloop.lua" \
  >"$tmp/out.json" 2>"$tmp/err" || { cat "$tmp/err"; fail "re-run exit $?"; }
[ "$(step_outcome "$tmp/out.json" restart)" = ok ] || fail "re-run restart step: $(cat "$tmp/out.json")"
ok "restart-crashloop does nothing when no pod crash-loops"

# ---- scale-on-load ------------------------------------------------------------------------------
reset
q_cpu='max(cpu_usage{namespace="{namespace}",deployment="{deployment}"})'
q_lat='max(latency_seconds{namespace="{namespace}",deployment="{deployment}"})'
salve run -q --json -p namespace=prod -p deployment=web -p "cpu_query=$q_cpu" -p "latency_query=$q_lat" \
  -p max_cpu=0.99 -p timeout=30s "$src/runbooks/scale-on-load.lua" >"$tmp/out.json" 2>"$tmp/err" ||
  { cat "$tmp/err"; fail "scale-on-load (not loaded) exit $?"; }
[ "$(step_outcome "$tmp/out.json" scale-out)" = ok ] || fail "scaled without load: $(cat "$tmp/out.json")"
[ "$(obj Deployment prod web /spec/replicas)" = 3 ] || fail "replicas changed"
ok "scale-on-load leaves a deployment alone below the thresholds"

salve run -q --json -p namespace=prod -p deployment=web -p "cpu_query=$q_cpu" -p "latency_query=$q_lat" \
  -p max=5 -p timeout=30s "$src/runbooks/scale-on-load.lua" >"$tmp/out.json" 2>"$tmp/err" ||
  { cat "$tmp/err"; fail "scale-on-load exit $?"; }
[ "$(step_outcome "$tmp/out.json" scale-out)" = changed ] || fail "scale-out step: $(cat "$tmp/out.json")"
[ "$(obj Deployment prod web /spec/replicas)" = 5 ] || fail "replicas: $(obj Deployment prod web /spec/replicas)"
ok "scale-on-load scales web from 3 by 1.5 to 5 (ceil 4.5) when CPU is at 0.95, within max"

# ---- drain-node ---------------------------------------------------------------------------------
reset
set +e
salve run -q --json --fail-at drain -p node=node-2 -p timeout=60s "$src/runbooks/drain-node.lua" \
  >"$tmp/out.json" 2>"$tmp/err"
rc=$?
set -e
[ "$rc" = 1 ] || { cat "$tmp/err"; fail "drill exit $rc, want 1 (rolled back)"; }
[ "$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["outcome"])' "$tmp/out.json")" = rolled_back ] ||
  fail "drill outcome: $(cat "$tmp/out.json")"
[ "$(step_outcome "$tmp/out.json" drain)" = failed ] || fail "drill drain step: $(cat "$tmp/out.json")"
[ "$(obj Node - node-2 /spec/unschedulable)" = null ] || fail "node-2 left cordoned after the rollback"
ok "drain-node drill (--fail-at drain) uncordons node-2 on rollback"

reset
salve run -q --json -p node=node-2 -p timeout=60s "$src/runbooks/drain-node.lua" >"$tmp/out.json" 2>"$tmp/err" ||
  { cat "$tmp/err"; fail "drain-node exit $?"; }
[ "$(obj Node - node-2 /spec/unschedulable)" = true ] || fail "node-2 not cordoned"
[ "$(pods_on node-2 web-)" = 0 ] && [ "$(pods_on node-2 db-)" = 0 ] || fail "pods left on node-2"
[ "$(pods_on node-2 node-exporter-)" = 1 ] || fail "the DaemonSet pod should stay"
ok "drain-node cordons node-2 and evicts its pods, leaving the DaemonSet pod"

# Issue 16 bug 5: a dry-run whose evictions a PodDisruptionBudget refuses must fail, not end
# in success. One web pod on node-1 not ready leaves web-pdb no disruption to allow, so the
# eviction of node-2's web pod is refused.
reset
salve run -q --json --dry-run -p node=node-2 -p timeout=60s "$src/runbooks/drain-node.lua" \
  >"$tmp/out.json" 2>"$tmp/err" || { cat "$tmp/err"; fail "dry-run drain-node exit $?"; }
[ "$(step_outcome "$tmp/out.json" drain)" = changed ] || fail "dry-run drain step: $(cat "$tmp/out.json")"
ok "drain-node dry-run succeeds while web-pdb allows the evictions"

reset
ctl POST /__fake/pods/prod/web-86c4ff78d4-7xk2p '{"ready": false}' >/dev/null
[ "$(obj PodDisruptionBudget prod web-pdb /status/disruptionsAllowed)" = 0 ] || fail "web-pdb still allows a disruption"
ctl DELETE /__fake/requests >/dev/null
set +e
salve run -q --json --dry-run -p node=node-2 -p timeout=60s "$src/runbooks/drain-node.lua" \
  >"$tmp/out.json" 2>"$tmp/err"
rc=$?
set -e
[ "$rc" != 0 ] || fail "dry-run with refused evictions exited 0: $(cat "$tmp/out.json")"
[ "$(step_outcome "$tmp/out.json" drain)" = failed ] || fail "dry-run drain step: $(cat "$tmp/out.json")"
grep -q 'drain of node node-2 would not finish: 1 of 2 evictions refused now (prod/web-86c4ff78d4-4bh8w: Cannot evict pod as it would violate the pod' \
  "$tmp/out.json" "$tmp/err" || fail "no refusal named: $(cat "$tmp/out.json" "$tmp/err")"
! writes | grep -q ' real$' || fail "dry-run sent real writes: $(writes)"
[ "$(obj Node - node-2 /spec/unschedulable)" = null ] || fail "dry-run cordoned node-2"
ok "drain-node dry-run fails when web-pdb would refuse an eviction (rc $rc)"

# ---- contain-compromised-pod ------------------------------------------------------------------------
pod=web-86c4ff78d4-7xk2p
reset
ctl POST /__fake/logs/prod/$pod '{"container": "web", "log": "xmrig started\n", "previous": true}' >/dev/null
ctl DELETE /__fake/requests >/dev/null
salve run -q --json --dry-run -p namespace=prod -p pod=$pod -p evidence_dir="$tmp/ev-dry" \
  "$src/runbooks/contain-compromised-pod.lua" >"$tmp/out.json" 2>"$tmp/err" || { cat "$tmp/err"; fail "contain dry-run exit $?"; }
for s in evidence quarantine isolate; do
  [ "$(step_outcome "$tmp/out.json" $s)" != failed ] || fail "dry-run step $s: $(cat "$tmp/out.json")"
done
[ -s "$tmp/ev-dry/manifest.json" ] || fail "the dry-run kept no evidence"
! writes | grep -q ' real$' || fail "contain dry-run sent real writes: $(writes)"
writes | grep -q '^POST /apis/networking.k8s.io/v1/namespaces/prod/networkpolicies?dryRun=All&fieldManager=salve dry$' ||
  fail "no dry-run NetworkPolicy: $(writes)"
[ "$(obj Pod prod $pod /metadata/labels/app)" = '"web"' ] || fail "dry-run relabelled the pod"
[ -z "$(hook_posts)" ] || fail "the dry-run sent a notice: $(hook_posts)"
ok "contain-compromised-pod dry-run keeps evidence and plans quarantine and isolation with dryRun=All"

salve run -q --json -p namespace=prod -p pod=$pod -p evidence_dir="$tmp/ev" -p reason="xmrig in web" \
  "$src/runbooks/contain-compromised-pod.lua" >"$tmp/out.json" 2>"$tmp/err" || { cat "$tmp/err"; fail "contain exit $?"; }
[ "$(cat "$tmp/ev/$pod/web.previous.log")" = "xmrig started" ] || fail "previous log not kept"
digest=$(sha256sum "$tmp/ev/manifest.json" | cut -d' ' -f1)
grep 'k8s.evidence' "$tmp/audit.jsonl" | grep -q "\"manifest_sha256\":\"$digest\"" ||
  fail "the manifest's digest $digest is not in the audit log"
[ "$(obj Pod prod $pod /metadata/labels)" = '{"salve/quarantined": "true", "salve/run-id": '"$(obj Pod prod $pod /metadata/labels/salve~1run-id)"'}' ] ||
  fail "pod labels: $(obj Pod prod $pod /metadata/labels)"
[ "$(obj Pod prod $pod /metadata/annotations/salve~1reason)" = '"xmrig in web"' ] || fail "no reason annotation"
np=$(ctl GET /__fake/objects | "$python" -c '
import json, sys
print(" ".join(o["metadata"]["name"] + ":" + json.dumps(o["spec"]["podSelector"], sort_keys=True)
               for o in json.load(sys.stdin)["items"] if o["kind"] == "NetworkPolicy"))')
[ "$np" = 'salve-isolate-'"$(printf 'salve/quarantined=true' | sha256sum | cut -c1-10)"':{"matchLabels": {"salve/quarantined": "true"}}' ] ||
  fail "network policies: $np"
hook_posts | grep -q "Pod prod/$pod is quarantined" || fail "no notice: $(hook_posts)"
ok "contain-compromised-pod keeps evidence (digest in the audit log), quarantines, isolates and notifies"

reset
curl -sf -X POST "$hook/_control/reset" >/dev/null
set +e
salve run -q --json --fail-at notify -p namespace=prod -p pod=$pod -p evidence_dir="$tmp/ev-drill" \
  "$src/runbooks/contain-compromised-pod.lua" >"$tmp/out.json" 2>"$tmp/err"
rc=$?
set -e
[ "$rc" = 1 ] || { cat "$tmp/err"; fail "contain drill exit $rc, want 1 (rolled back)"; }
[ "$(obj Pod prod $pod /metadata/labels)" = '{"app": "web", "pod-template-hash": "86c4ff78d4"}' ] ||
  fail "labels not restored: $(obj Pod prod $pod /metadata/labels)"
[ -z "$(ctl GET /__fake/objects | grep -o NetworkPolicy || true)" ] || fail "the NetworkPolicy survived the rollback"
[ -s "$tmp/ev-drill/manifest.json" ] || fail "the rollback removed the evidence"
ok "contain-compromised-pod rolled back (--fail-at notify) restores the labels and deletes the policy, keeps the evidence"

echo "$passed passed, 0 failed"
