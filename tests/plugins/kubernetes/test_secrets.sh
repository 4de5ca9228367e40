#!/usr/bin/env bash
# Issue 10 F8, the exact attack: the API server answers 403 with a Status whose message
# echoes the kubeconfig's bearer token (as it is, base64, percent-encoded, and inside a Basic
# auth header). Through the real salve binary and the fake API server on 127.0.0.1: the run
# fails on the 403, and the token in none of its forms reaches stdout, stderr or the audit
# log, in an apply run and in a dry-run.
set -euo pipefail

: "${SALVE_BIN:?run through ctest}" "${SALVE_PLUGIN_DIR:?}" "${SALVE_SOURCE_DIR:?}"
python=${PYTHON:-python3}
tmp=$(mktemp -d /tmp/salve-k8s-secrets-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }

# '/', '+' and '=' make the percent-encoded form differ from the token itself.
token='k8s/e2e+bearer=7f3a9c2d41'
"$python" "$SALVE_SOURCE_DIR/tests/fake-k8s/fake_k8s.py" --certs "$tmp/certs" --port-file "$tmp/port" \
	--token "$token" --fixture "$SALVE_SOURCE_DIR/tests/fake-k8s/fixtures/basic.json" >"$tmp/fake.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { cat "$tmp/fake.log"; echo "the fake API server did not start"; exit 1; }
api="https://127.0.0.1:$(cat "$tmp/port")"
ctl() { curl -sf --cacert "$tmp/certs/ca.crt" -X "$1" "$api$2" ${3:+-H 'Content-Type: application/json' -d "$3"}; }

forms=$("$python" - "$token" <<'PY'
import base64, sys, urllib.parse
t = sys.argv[1]
print(base64.b64encode(t.encode()).decode())
print(base64.urlsafe_b64encode(t.encode()).decode().rstrip("="))
print(urllib.parse.quote(t, safe=""))
print(base64.b64encode(b"salve:" + t.encode()).decode())
PY
)
mapfile -t form <<<"$forms"
b64=${form[0]} b64url=${form[1]} pct=${form[2]} basic=${form[3]}
message="deployments.apps \\\"web\\\" is forbidden: token $token (base64 $b64, base64url $b64url, query t=$pct, header Basic $basic) may not get it"
ctl POST /__fake/faults "{\"method\": \"GET\", \"path_regex\": \"/deployments/web\$\", \"status\": 403, \"times\": 0, \"message\": \"$message\"}" >/dev/null

cat >"$tmp/salve.yaml" <<EOF
audit: $tmp/audit.jsonl
state_dir: $tmp/state
plugins:
  kubernetes: {kubeconfig: $tmp/certs/kubeconfig-token}
EOF
cat >"$tmp/read.lua" <<'LUA'
runbook { name = "read-web" }
local k8s = plugin "kubernetes"
step "read" {
  run = function(p) return k8s.get{ kind = "deployment", namespace = "prod", name = "web" } end,
}
LUA

for mode in apply dry-run; do
	flag=()
	[ "$mode" = dry-run ] && flag=(--dry-run)
	set +e
	"$SALVE_BIN" --config "$tmp/salve.yaml" --plugin-path "$SALVE_PLUGIN_DIR" run "${flag[@]}" \
		"$tmp/read.lua" >"$tmp/out" 2>"$tmp/err"
	code=$?
	set -e
	[ $code = 1 ] && ok "$mode: the 403 fails the run (exit 1)" || not_ok "$mode: exit $code"
	grep -qF 'is forbidden: token [REDACTED]' "$tmp/out" &&
		ok "$mode: the error is shown with the token redacted" ||
		{ not_ok "$mode: no redacted 403 error in stdout"; sed 's/^/    | /' "$tmp/out"; }
	cat "$tmp/out" "$tmp/err" "$tmp/audit.jsonl" >"$tmp/everything"
	for f in "$token" "$b64" "$b64url" "$pct" "$basic"; do
		grep -qF -- "$f" "$tmp/everything" &&
			not_ok "$mode: \"$f\" reached stdout, stderr or the audit log" ||
			ok "$mode: \"$f\" is in no output and not in the audit log"
	done
done
auth=$(ctl GET '/__fake/requests?path_regex=/deployments/web$' |
	"$python" -c 'import json,sys; print(",".join(sorted({r["auth"] for r in json.load(sys.stdin)})))')
[ "$auth" = token ] && ok "the requests carried the bearer token" || not_ok "request auth: $auth"
"$SALVE_BIN" audit verify "$tmp/audit.jsonl" >/dev/null && ok "the audit log verifies" ||
	not_ok "the audit log does not verify"

echo
echo "$passed passed, $failed failed"
[ $failed = 0 ]
