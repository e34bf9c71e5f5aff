#!/usr/bin/env bash
# Configures (once) and builds zckup into ${BUILD_DIR:-build}.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" ${MESON_ARGS:-} >/dev/null
fi
ninja -C "$build" >/dev/null
echo "built $build/zckup"
