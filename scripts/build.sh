#!/usr/bin/env bash
# Configures (once) and builds zckup into ${BUILD_DIR:-build}. Quiet when it
# works; on a failure it shows the end of meson's or ninja's output.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
log=$(mktemp /tmp/zckup-build.XXXXXX)
trap 'rm -f "$log"' EXIT
if [ ! -f "$build/build.ninja" ]; then
	# shellcheck disable=SC2086 # MESON_ARGS is a list of words
	meson setup "$build" ${MESON_ARGS:-} >"$log" 2>&1 ||
		{ tail -30 "$log"; echo "build.sh: meson setup $build failed" >&2; exit 1; }
fi
ninja -C "$build" >"$log" 2>&1 || { tail -30 "$log"; echo "build.sh: ninja -C $build failed" >&2; exit 1; }
echo "built $build/zckup"
