#!/usr/bin/env bash
# The recipes of docs/runbooks.md (each a ```lua block after a `<!-- recipe: NAME -->` line)
# are whole runbooks: salve validate accepts each (plugins, actions, argument names and
# literal types), and luacheck with the repository's .luacheckrc finds nothing in them.
set -u
SALVE=${SALVE_BIN:?run through ctest}
src=${SALVE_SOURCE_DIR:?}
T=$(mktemp -d /tmp/salve-recipes-XXXXXX)
trap 'rm -rf "$T"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }

python3 - "$src/docs/runbooks.md" "$T" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for name, body in re.findall(r"<!-- recipe: ([a-z0-9-]+) -->\n```lua\n(.*?)```", text, re.S):
    open(f"{sys.argv[2]}/{name}.lua", "w").write(body)
PY
recipes=$(cd "$T" && ls *.lua 2>/dev/null | tr '\n' ' ')
if [ "$recipes" = "disk-full.lua flapping-service.lua k8s-rollback-gate.lua node-drain.lua " ]; then
	ok "four recipes found: $recipes"
else
	not_ok "four recipes found (got: $recipes)"
fi
# validate --config starts every plugin a recipe uses: give those that need one a setting.
printf 'plugins:\n  prometheus: { url: "http://127.0.0.1:9" }\n' >"$T/salve.yaml"
for f in "$T"/*.lua; do
	out=$("$SALVE" --config "$T/salve.yaml" validate "$f" 2>&1)
	if [ $? = 0 ]; then ok "salve validate $(basename "$f")"; else
		not_ok "salve validate $(basename "$f")"
		echo "    $out"
	fi
done
if command -v luacheck >/dev/null; then
	out=$(cd "$T" && luacheck --no-color --formatter plain --config "$src/.luacheckrc" ./*.lua 2>&1)
	if [ $? = 0 ]; then ok "luacheck finds nothing in the recipes"; else
		not_ok "luacheck finds nothing in the recipes"
		printf '%s\n' "$out" | sed 's/^/    /'
	fi
fi

# The disk-full recipe, dry-run on this machine (ssh-patch's local connection): with a limit
# of 0% every filesystem is "full", so old-logs plans its find and below-limit is skipped.
got=$("$SALVE" --config "$T/salve.yaml" --state-dir "$T/state" --audit "$T/audit.jsonl" run \
	--dry-run --json -p hosts=localhost -p max_pct=0 "$T/disk-full.lua" 2>"$T/err" |
	python3 -c 'import json, sys
d = json.load(sys.stdin)
print(d["outcome"], " ".join(s["name"] + "=" + s["outcome"] for s in d["steps"]))')
if [ "$got" = "success old-logs=changed below-limit=skipped" ]; then
	ok "the disk-full recipe's dry-run: $got"
else
	not_ok "the disk-full recipe's dry-run (got: $got)"
	sed 's/^/    /' "$T/err"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
