#!/usr/bin/env bash
# A third party builds a plugin with only the installed header and pkg-config, and salve
# loads and runs it.
set -u
T=$(mktemp -d /tmp/salve-oot-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "not ok - $1"; echo "0 passed, 1 failed"; exit 1; }
cmake --install "$SALVE_BUILD_DIR" --prefix "$T/prefix" >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "install"; }
[ -e "$T/prefix/lib/salve/plugins/host.so" ] || [ -e "$T/prefix/lib/x86_64-linux-gnu/salve/plugins/host.so" ] \
	|| fail "plugins are installed under the --prefix given"
grep -q "^/usr/local/" "$SALVE_BUILD_DIR/install_manifest.txt" && fail "the install wrote outside its prefix: $(grep -m1 ^/usr/local/ "$SALVE_BUILD_DIR/install_manifest.txt")"
export PKG_CONFIG_PATH="$T/prefix/lib/pkgconfig:$T/prefix/lib/x86_64-linux-gnu/pkgconfig"
pkg-config --exists salve-plugin || fail "pkg-config finds salve-plugin"
mkdir -p "$T/plugins"
cat >"$T/hello.c" <<'C'
#include <salve/plugin.h>
#include <string.h>
static int greet(salve_call *call, const json_t *args, json_t **result)
{
	(void)call;
	*result = json_pack("{s:s+}", "greeting", "hello, ", json_string_value(json_object_get(args, "name")));
	return SALVE_OK;
}
static const salve_arg args[] = {{"name", SALVE_T_STRING, SALVE_ARG_REQUIRED, "who"}, {NULL, 0, 0, NULL}};
static const salve_action actions[] = {{.name = "greet", .kind = SALVE_READ, .args = args, .run = greet}, {.name = NULL}};
static const salve_plugin hello = {SALVE_PLUGIN_HEADER, .name = "hello", .version = "1", .actions = actions};
SALVE_PLUGIN_DECLARE(hello)
C
cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden -o "$T/plugins/hello.so" "$T/hello.c" \
	$(pkg-config --cflags --libs salve-plugin) || fail "the plugin compiles with the installed header only"
cat >"$T/hello.lua" <<'LUA'
runbook { name = "hello" }
local h = plugin "hello"
step "greet" { run = function() local r = h.greet{ name = "world" } assert(r.greeting == "hello, world") return r end }
LUA
"$SALVE_BIN" --plugin-path "$T/plugins" --audit "$T/audit.jsonl" --state-dir "$T/state" run "$T/hello.lua" >"$T/out" 2>&1 \
	|| { cat "$T/out"; fail "salve runs the out-of-tree plugin"; }
grep -q '"greeting":"hello, world"' "$T/audit.jsonl" || fail "the plugin's result is audited"
echo "ok - out-of-tree plugin builds with pkg-config and runs"
echo "1 passed, 0 failed"
