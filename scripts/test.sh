#!/usr/bin/env bash
# The whole test suite. Installs what it needs, then builds and runs every test
# (unit tests, fuzz-corpus replays, integration tests) twice:
#   build/        gcc, the build users get
#   build-asan/   clang with AddressSanitizer and UndefinedBehaviorSanitizer
# Both builds use -Werror. Ends with "N passed, N failed"; exit 0 only when
# everything passed. Also compiles a gcc release build (-O3 finds warnings
# that -O2 does not). Extra arguments go to 'meson test' (e.g. a test name).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/deps.sh"

rc=0
logs=()
run_suite() { # build-dir, then meson setup arguments
	local build=$1
	shift
	echo "== $build: configure and build"
	if [ ! -f "$build/build.ninja" ]; then
		meson setup "$build" "$@" >/dev/null || return 1
	fi
	ninja -C "$build" >/dev/null || { ninja -C "$build" | tail -30; return 1; }
	echo "== $build: meson test"
	meson test -C "$build" --print-errorlogs --num-processes 2 "${test_args[@]}" || rc=1
	logs+=("$build/meson-logs/testlog.json")
}
test_args=("$@")
build_failed=0
run_suite "${BUILD_DIR:-build}" || { echo "build failed: ${BUILD_DIR:-build}"; build_failed=$((build_failed + 1)); }
if [ "${ZCKUP_SKIP_ASAN:-0}" != 1 ]; then
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	CC=clang run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false ||
		{ echo "build failed: build-asan"; build_failed=$((build_failed + 1)); }
fi

echo "== build-release: configure and build (gcc -O3, no tests)"
release_ok=1
if [ ! -f build-release/build.ninja ]; then
	meson setup build-release -Dbuildtype=release >/dev/null || release_ok=0
fi
if [ $release_ok = 1 ] && ! ninja -C build-release >/tmp/zckup-release-build.log 2>&1; then
	tail -30 /tmp/zckup-release-build.log
	release_ok=0
fi
[ $release_ok = 1 ] || { echo "build failed: build-release"; build_failed=$((build_failed + 1)); }

python3 - "$build_failed" "${logs[@]}" <<'PY'
import json, sys
ok = bad = skip = 0
bad += int(sys.argv[1])
for path in sys.argv[2:]:
    for line in open(path):
        r = json.loads(line)
        res = r.get("result")
        if res in ("OK", "EXPECTEDFAIL"):
            ok += 1
        elif res == "SKIP":
            skip += 1
        else:
            bad += 1
            print("FAILED:", path.split("/")[0], r.get("name"), res)
print(f"{ok} passed, {bad} failed, {skip} skipped")
PY
[ "$build_failed" = 0 ] || rc=1
exit $rc
