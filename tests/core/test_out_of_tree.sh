#!/usr/bin/env bash
# A third party builds a plugin with only the installed header and pkg-config, and salve
# loads and runs it: its settings checked against its config map, its duration arguments
# checked before it is called, each call's status audited by name.
set -u
T=$(mktemp -d /tmp/salve-oot-XXXXXX)
trap 'rm -rf "$T"' EXIT
PASS=0
FAIL=0
ok() { echo "ok - $1"; PASS=$((PASS + 1)); }
not_ok() { echo "not ok - $1"; FAIL=$((FAIL + 1)); }
fail() { not_ok "$1"; echo "$PASS passed, $FAIL failed"; exit 1; }
cmake --install "$SALVE_BUILD_DIR" --prefix "$T/prefix" >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "install"; }
[ -e "$T/prefix/lib/salve/plugins/host.so" ] || [ -e "$T/prefix/lib/x86_64-linux-gnu/salve/plugins/host.so" ] \
	|| fail "plugins are installed under the --prefix given"
grep -q "^/usr/local/" "$SALVE_BUILD_DIR/install_manifest.txt" && fail "the install wrote outside its prefix: $(grep -m1 ^/usr/local/ "$SALVE_BUILD_DIR/install_manifest.txt")"
export PKG_CONFIG_PATH="$T/prefix/lib/pkgconfig:$T/prefix/lib/x86_64-linux-gnu/pkgconfig"
pkg-config --exists salve-plugin || fail "pkg-config finds salve-plugin"
mkdir -p "$T/plugins"
cat >"$T/hello.c" <<'C'
#include <salve/plugin.h>
#include <stdio.h>
#include <string.h>
static const salve_host *H;
static char greeting[64];
static int init(const salve_host *host, const json_t *config, void **state, char *err, size_t len)
{
	(void)err, (void)len;
	H = host;
	*state = NULL;
	/* The core filled in the defaults: nothing to parse. */
	snprintf(greeting, sizeof greeting, "%s", json_string_value(json_object_get(config, "greeting")));
	return 0;
}
static int greet(salve_call *call, const json_t *args, json_t **result)
{
	(void)call;
	*result = json_pack("{s:s++}", "greeting", greeting, ", ", json_string_value(json_object_get(args, "name")));
	return SALVE_OK;
}
static int missing(salve_call *call, const json_t *args, json_t **result)
{
	(void)args, (void)result;
	H->fail(call, "no such thing");
	return SALVE_ERR_NOTFOUND;
}
static int there(salve_call *call, const json_t *args, json_t **observed)
{
	(void)call, (void)args;
	*observed = json_pack("{s:b}", "there", 1);
	return SALVE_HOLDS;
}
static int never(salve_call *call, const json_t *args, json_t **result, json_t **undo)
{
	(void)call, (void)args, (void)result, (void)undo;
	return SALVE_ERR;
}
static const salve_arg args[] = {{"name", SALVE_T_STRING, SALVE_ARG_REQUIRED, "who"},
                                 {"wait", SALVE_T_DURATION, 0, "how long to wait"}, {NULL, 0, 0, NULL}};
static const salve_arg no_args[] = {{NULL, 0, 0, NULL}};
static const salve_setting settings[] = {
    {.name = "greeting", .type = SALVE_T_STRING, .default_value = "hello", .description = "the word"},
    {.name = "every", .type = SALVE_T_DURATION, .default_value = "1m", .description = "how often"},
    {.name = NULL}};
static const salve_action actions[] = {
	{.name = "greet", .kind = SALVE_READ, .args = args, .run = greet},
	{.name = "missing", .kind = SALVE_READ, .args = no_args, .run = missing},
	{.name = "ensure", .kind = SALVE_MUTATE, .args = no_args, .flags = SALVE_ACTION_NO_UNDO,
	 .check = there, .plan = there, .apply = never},
	{.name = NULL}};
static const salve_plugin hello = {SALVE_PLUGIN_HEADER, .name = "hello", .version = "1", .actions = actions,
                                   .settings = settings, .init = init};
SALVE_PLUGIN_DECLARE(hello)
C
cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden -o "$T/plugins/hello.so" "$T/hello.c" \
	$(pkg-config --cflags --libs salve-plugin) || fail "the plugin compiles with the installed header only"
# Each run writes its own audit log (a log's head file stops anything else being appended).
AUDIT=$T/audit.jsonl
S() { "$SALVE_BIN" --plugin-path "$T/plugins" --audit "$AUDIT" --state-dir "$T/state" "$@"; }

cat >"$T/hello.lua" <<'LUA'
runbook { name = "hello" }
local h = plugin "hello"
step "greet" { run = function() return h.greet{ name = "world", wait = "1m30s" } end }
step "there" { run = function() return h.ensure{} end }
LUA
S run "$T/hello.lua" >"$T/out" 2>&1 || { cat "$T/out"; fail "salve runs the out-of-tree plugin"; }
grep -q '"greeting":"hello, world"' "$AUDIT" && ok "the plugin's result is audited, its default setting applied" \
	|| not_ok "the plugin's result is audited"

statuses() {
	"$PYTHON" - "$AUDIT" <<'PY'
import json, os, sys
for line in open(sys.argv[1]) if os.path.exists(sys.argv[1]) else []:
    r = json.loads(line)
    if r.get("event") == "action":
        print(r["action"], r["outcome"], r["status"])
PY
}
[ "$(statuses)" = "greet ok SALVE_OK
ensure held SALVE_HOLDS" ] && ok "each action's status is audited by name" || not_ok "statuses: $(statuses)"

cat >"$T/missing.lua" <<'LUA'
runbook { name = "missing" }
local h = plugin "hello"
step "missing" { run = function() return h.missing{} end }
LUA
AUDIT=$T/missing.jsonl
S run "$T/missing.lua" >"$T/out" 2>&1
[ "$(statuses)" = "missing failed SALVE_ERR_NOTFOUND" ] && ok "a failure's status is audited by name" \
	|| not_ok "statuses: $(statuses)"

# A duration argument that breaks the grammar: a literal is refused when the runbook loads,
# one computed at run time before the plugin is called; both name the runbook line.
cat >"$T/literal.lua" <<'LUA'
runbook { name = "literal" }
local h = plugin "hello"

step "greet" { run = function() return h.greet{ name = "x", wait = "5 minutes" } end }
LUA
S validate "$T/literal.lua" >"$T/out" 2>&1
code=$?
[ $code = 65 ] && grep -qF "literal.lua:4: hello.greet: argument 'wait' must be a duration such as \"30s\", \"5m\", \"1h30m\" or a number of seconds, got \"5 minutes\"" "$T/out" \
	&& ok "a literal malformed duration is refused at validate time, naming the line" \
	|| { cat "$T/out"; not_ok "literal duration (exit $code)"; }
cat >"$T/computed.lua" <<'LUA'
runbook { name = "computed", params = { wait = { type = "string", required = true } } }
local h = plugin "hello"
step "greet" {
  run = function(p) return h.greet{ name = "x", wait = p.wait } end }
LUA
AUDIT=$T/computed.jsonl
S run -p wait=soon "$T/computed.lua" >"$T/out" 2>&1
code=$?
[ $code = 1 ] && grep -qF "computed.lua:4: hello.greet: argument 'wait' must be a duration such as \"30s\", \"5m\", \"1h30m\" or a number of seconds, got \"soon\"" "$T/out" \
	&& ok "a computed malformed duration fails the step before the plugin runs, naming the line" \
	|| { cat "$T/out"; not_ok "computed duration (exit $code)"; }
[ -z "$(statuses)" ] && ok "the plugin was not called" || not_ok "called: $(statuses)"

# Settings: unknown keys are refused naming the key and the file; types are checked.
printf 'plugins:\n  hello: { greeting: hi }\n' >"$T/good.yaml"
AUDIT=$T/configured.jsonl
S --config "$T/good.yaml" run "$T/hello.lua" >"$T/out" 2>&1
grep -q '"greeting":"hi, world"' "$AUDIT" && ok "a configured setting replaces the default" \
	|| { cat "$T/out"; not_ok "greeting: hi"; }
printf 'plugins:\n  hello: { greting: hi }\n' >"$T/typo.yaml"
S --config "$T/typo.yaml" run "$T/hello.lua" >"$T/out" 2>&1
code=$?
[ $code = 69 ] && grep -qF "$T/typo.yaml: plugins.hello.greting: unknown setting (known: greeting, every)" "$T/out" \
	&& ok "an unknown setting is refused naming the key and the file" || { cat "$T/out"; not_ok "typo (exit $code)"; }
printf 'plugins:\n  hello: { every: often }\n' >"$T/type.yaml"
S --config "$T/type.yaml" run "$T/hello.lua" >"$T/out" 2>&1
code=$?
[ $code = 69 ] && grep -qF "$T/type.yaml: plugins.hello.every: must be a duration" "$T/out" \
	&& ok "a setting of the wrong type is refused before init" || { cat "$T/out"; not_ok "type (exit $code)"; }

S plugins --json >"$T/plugins.json" 2>"$T/err"
"$PYTHON" - "$T/plugins.json" <<'PY' && ok "salve plugins --json lists the settings" || not_ok "plugins --json"
import json, sys
hello = [p for p in json.load(open(sys.argv[1]))["plugins"] if p["name"] == "hello"][0]
assert hello["abi"] == "1.2", hello["abi"]
assert hello["settings"] == [
    {"name": "greeting", "type": "string", "required": False, "secret": False, "default": "hello", "description": "the word"},
    {"name": "every", "type": "duration", "required": False, "secret": False, "default": "1m", "description": "how often"},
], hello["settings"]
assert hello["actions"][0]["args"][1]["type"] == "duration"
PY
echo "$PASS passed, $FAIL failed"
[ $FAIL = 0 ]
