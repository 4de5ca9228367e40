#!/usr/bin/env bash
# The Debian package as CPack builds it from this build tree (cpack -G DEB, the config in the
# top CMakeLists.txt): its files (binaries, every plugin built, every runbook, every example,
# the salve-serve unit, the header), the salve user's postinst, the library dependencies, a
# unit that names the packaged binary, paths in the examples that the package really has, and
# the packaged salve loading the packaged plugins.
set -u
build=${SALVE_BUILD_DIR:?run through ctest}
src=${SALVE_SOURCE_DIR:?}
command -v cpack >/dev/null && command -v dpkg-deb >/dev/null || {
	echo "skipped: needs cpack and dpkg-deb"
	exit 77
}
# Not under /tmp: the packaged salve is run from here, and salve refuses plugins below a
# directory others can write to.
T=$(mktemp -d "$build/deb-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }
same() { # same GOT WANT DESCRIPTION
	if [ "$1" = "$2" ]; then ok "$3"; else
		not_ok "$3"
		printf '    got:  %s\n    want: %s\n' "$1" "$2"
	fi
}

cpack --config "$build/CPackConfig.cmake" -G DEB -B "$T/out" >"$T/cpack.log" 2>&1 || {
	cat "$T/cpack.log"
	echo "cpack failed"
	exit 1
}
debs=("$T"/out/salve_*.deb)
same "${#debs[@]}" 1 "cpack wrote one salve_VERSION_ARCH.deb"
deb=${debs[0]}
same "$(basename "$deb")" "salve_$(dpkg-deb -f "$deb" Version)_$(dpkg --print-architecture).deb" \
	"named as apt install ./salve_*.deb expects"
dpkg-deb -c "$deb" | awk '{print $6}' | sed -e 's#^\./#/#' -e 's#/$##' >"$T/files"
has() { grep -qxF "$1" "$T/files"; }
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
# The plugin dir salve searches last is compiled in: the package must put the plugins there.
plugin_dir=$("$SALVE_BIN" --plugin-path /nonexistent plugins | sed -n 's/^search path: //p' | tr ':' '\n' | tail -1)

missing=()
for f in "$prefix/bin/salve" "$prefix/bin/salve-serve" "$prefix/include/salve/plugin.h" \
	"$prefix/lib/systemd/system/salve-serve.service"; do
	has "$f" || missing+=("$f")
done
same "${missing[*]:-}" "" "binaries, the plugin header and the salve-serve unit are packaged"
missing=()
nplugins=0
for so in "$SALVE_PLUGIN_DIR"/*.so; do
	nplugins=$((nplugins + 1))
	has "$plugin_dir/$(basename "$so")" || missing+=("$(basename "$so")")
done
same "${missing[*]:-}" "" "all $nplugins plugins built are packaged in $plugin_dir"
missing=()
for rb in "$src"/runbooks/*.lua; do
	has "$prefix/share/salve/runbooks/$(basename "$rb")" || missing+=("$(basename "$rb")")
done
same "${missing[*]:-}" "" "every runbook is packaged in $prefix/share/salve/runbooks"
missing=()
while IFS= read -r f; do
	has "$prefix/share/doc/salve/examples/$f" || missing+=("$f")
done < <(cd "$src/examples" && find . -type f | sed 's#^\./##' | sort)
same "${missing[*]:-}" "" "every example is packaged in $prefix/share/doc/salve/examples"

dpkg-deb -x "$deb" "$T/root"
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\) .*/\1/p' "$T/root$prefix/lib/systemd/system/salve-serve.service")
same "$exec_start" "$prefix/bin/salve" "the packaged unit starts the packaged salve"
# The examples name the paths of a /usr install (those under /usr/local say where a source
# install's default prefix puts them); each must be a path of this package.
missing=()
for p in $(grep -ohE '/usr/[A-Za-z0-9/._-]*salve[A-Za-z0-9/._-]*' "$src"/examples/cron/* \
	"$src"/examples/systemd/* "$src"/examples/*.yaml | grep -v '^/usr/local/' | sort -u); do
	has "$prefix/${p#/usr/}" || missing+=("$p")
done
same "${missing[*]:-}" "" "every installed path the examples name is in the package"

dpkg-deb -I "$deb" postinst >"$T/postinst" 2>/dev/null
grep -q 'useradd --system' "$T/postinst" && sh -n "$T/postinst" &&
	ok "postinst creates the salve system user" || not_ok "postinst creates the salve system user"
depends=$(dpkg-deb -f "$deb" Depends)
missing=()
for lib in liblua5.4-0 libjansson4 libyaml-0-2 libcurl4 libssh2-1 libmicrohttpd12 passwd; do
	case ", $depends" in *", $lib"*) ;; *) missing+=("$lib") ;; esac
done
same "${missing[*]:-}" "" "Depends names the libraries salve and its plugins link"

# use_tls=0: see tests/core/test_cli_doc.sh (LeakSanitizer's tracer and plugins' dynamic TLS).
LSAN_OPTIONS=${LSAN_OPTIONS:+$LSAN_OPTIONS:}use_tls=0:print_suppressions=0 \
	"$T/root$prefix/bin/salve" --plugin-path "$T/root$plugin_dir" plugins --json >"$T/plugins.json"
same "$?" 0 "the packaged salve lists the packaged plugins"
same "$(python3 -c '
import json, sys
ps = json.load(open(sys.argv[1]))["plugins"]
print(sum(1 for p in ps if "error" not in p and p["path"].startswith(sys.argv[2])))' \
	"$T/plugins.json" "$T/root$plugin_dir")" "$nplugins" "every packaged plugin loads"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
