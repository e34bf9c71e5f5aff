#!/usr/bin/env bash
# Cross-builds zckup for another architecture and runs its tests there, under
# qemu-user (Debian 12, as root):
#   scripts/cross.sh arm64|armhf|s390x [meson test arguments]
# 1. installs Debian's cross compiler for ARCH, qemu-user-static and mmdebstrap
#    (scripts/deps.sh cross);
# 2. makes the sysroot /opt/zckup-sysroot/ARCH: Debian's ARCH packages libc6-dev,
#    libzstd-dev, libssl-dev, libcurl4-openssl-dev, libcmocka-dev and what they
#    depend on, extracted by mmdebstrap (not installed with dpkg
#    --add-architecture: a multiarch -dev package must have the very version of
#    the host's, and a mirror whose security suite lacks ARCH, like the one
#    here for s390x, makes that impossible; a sysroot leaves the host's
#    packages alone). Set ZCKUP_CROSS_MIRROR to use another Debian mirror;
# 3. configures build-cross-ARCH with cross/TRIPLET.txt, builds (-Werror);
# 4. runs the suites 'unit', 'fuzz' and 'integration' (the CLI, the example and
#    zu_chunkdump run under qemu-ARCH-static; Debian's zck, unzck, swupdate and
#    the web servers of the host run natively against them), with cross_arch:
#    the same inputs through the host's build (${BUILD_DIR:-build}, built if
#    needed) give the same chunks, headers and plans, and an artifact made on
#    one architecture is applied on the other. The integration
#    tests not run on a foreign architecture are listed, with the reason, in
#    tests/integration/meson.build (cross_skip) and are counted as skipped.
# Ends with "N passed, N failed, N skipped". Exit: 0 all passed, 1 a test
# failed, 2 the sysroot or the build failed. With --no-summary (scripts/test.sh
# counts the results itself) the last line is left out; --build-only stops
# after the build.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
summary=1
build_only=0
while [ $# -gt 0 ]; do
	case $1 in
	--no-summary) summary=0 ;;
	--build-only) build_only=1 ;;
	*) break ;;
	esac
	shift
done
arch=${1:-}
case $arch in
arm64) triplet=aarch64-linux-gnu ;;
armhf) triplet=arm-linux-gnueabihf ;;
s390x) triplet=s390x-linux-gnu ;;
*)
	echo "usage: $0 [--no-summary] [--build-only] arm64|armhf|s390x [meson test arguments]" >&2
	exit 2
	;;
esac
shift
build=build-cross-$arch
sysroot=/opt/zckup-sysroot/$arch # as in cross/$triplet.txt
mirror=${ZCKUP_CROSS_MIRROR:-http://deb.debian.org/debian}
pkgs=libc6-dev,libzstd-dev,libssl-dev,libcurl4-openssl-dev,libcmocka-dev

"$top/scripts/deps.sh" cross || exit 2

stamp="$sysroot/.zckup-sysroot"
want="$arch $mirror $pkgs"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
	echo "== $arch: sysroot $sysroot (mmdebstrap: $pkgs for $arch from $mirror)"
	rm -rf "$sysroot"
	mkdir -p "$(dirname "$sysroot")"
	if ! mmdebstrap -q --variant=extract --architectures="$arch" --include="$pkgs" \
		bookworm "$sysroot" "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
		>/tmp/zckup-mmdebstrap-$arch.log 2>&1; then
		tail -20 "/tmp/zckup-mmdebstrap-$arch.log"
		echo "cross.sh: $arch: making the sysroot failed" >&2
		exit 2
	fi
	# qemu -L looks every absolute path up in the sysroot first: keep only the
	# libraries and headers, so /dev/null, /etc and /tmp stay the host's.
	find "$sysroot" -mindepth 1 -maxdepth 1 ! -name lib ! -name usr -exec rm -rf {} +
	echo "$want" >"$stamp"
fi

echo "== $build: configure and build ($triplet, cross/$triplet.txt)"
# Configured again each time, as scripts/test.sh does: the unit tests must find
# the sysroot's cmocka.
if [ -f "$build/build.ninja" ]; then
	meson setup --reconfigure "$build" -Dunit_tests=enabled >/dev/null || exit 2
else
	meson setup "$build" --cross-file "cross/$triplet.txt" -Dunit_tests=enabled >/dev/null || exit 2
fi
ninja -C "$build" >/dev/null || { ninja -C "$build" | tail -30 || true; exit 2; }
[ $build_only = 0 ] || exit 0
echo "== $build: meson test under qemu-$(sed -n "s/^wrapper = \['qemu-\([a-z0-9_]*\)-static'.*/\1/p" "cross/$triplet.txt")"
# tests/integration/cross_arch.sh compares with the build of the host.
native=${BUILD_DIR:-build}
BUILD_DIR=$native "$top/scripts/build.sh" >/dev/null || exit 2
export ZCKUP_NATIVE_BUILD=$top/$native
rc=0
# Emulated code runs several times slower than native (test_index took 25 s
# natively and over its 120 s limit under qemu-s390x on a loaded machine): the
# limits are three times the native ones.
meson test -C "$build" --print-errorlogs --num-processes 2 --timeout-multiplier 3 "$@" || rc=1
if [ $summary = 1 ]; then
	python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, sys
ok = bad = skip = 0
for line in open(sys.argv[1]):
    res = json.loads(line).get("result")
    if res in ("OK", "EXPECTEDFAIL"):
        ok += 1
    elif res == "SKIP":
        skip += 1
    else:
        bad += 1
print(f"{ok} passed, {bad} failed, {skip} skipped")
PY
fi
exit $rc
