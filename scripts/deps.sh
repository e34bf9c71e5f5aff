#!/usr/bin/env bash
# Installs what zckup needs on Debian 12 (run as root), for one job:
#   deps.sh demo    build it and run scripts/demo.sh (compiler, meson, the -dev
#                   packages, e2fsprogs, nginx)
#   deps.sh test    everything scripts/test.sh runs (the default): also clang,
#                   cmocka, Debian's zchunk tools, SWUpdate, web servers, and
#                   the cross compilers and qemu-user of the cross suites
#   deps.sh cross   what scripts/cross.sh needs
#   deps.sh deb     what scripts/deb.sh needs (debhelper, lintian, mmdebstrap)
# Idempotent: installs only what is missing, and says what it does. Server
# packages (nginx, lighttpd, apache2, varnish, swupdate) are installed with
# their daemons neither started nor enabled: the tests and the demo start
# their own on loopback.
set -euo pipefail

build=(build-essential meson ninja-build pkg-config libzstd-dev libssl-dev libcurl4-openssl-dev
	libext2fs-dev libsquashfs-dev)
tools=(libcmocka-dev zchunk zstd e2fsprogs squashfs-tools xxd time curl swupdate cpio openssl
	nginx lighttpd apache2 varnish chromium)
cross=(gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf gcc-s390x-linux-gnu qemu-user-static
	mmdebstrap)
job=${1:-test}
case $job in
demo) pkgs=("${build[@]}" e2fsprogs nginx) ;;
test) pkgs=("${build[@]}" clang libclang-rt-14-dev "${tools[@]}" "${cross[@]}") ;;
cross) pkgs=("${build[@]}" "${tools[@]}" "${cross[@]}") ;;
deb) pkgs=("${build[@]}" libcmocka-dev debhelper dpkg-dev fakeroot lintian mmdebstrap) ;;
*)
	echo "usage: $0 [demo|test|cross|deb]" >&2
	exit 2
	;;
esac
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} = 0 ]; then
	echo "deps.sh: $job: the ${#pkgs[@]} packages it needs are installed"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: $job: missing packages: ${missing[*]}; run as root (or: sudo $0 $job)" >&2
	exit 1
fi
echo "deps.sh: $job: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Keep the packages' daemons (nginx, lighttpd, apache2, varnish, swupdate)
# from being started by the install...
policy=/usr/sbin/policy-rc.d
had_policy=0
[ -e "$policy" ] && had_policy=1
if [ $had_policy = 0 ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi
before=$(dpkg-query -W -f='${Package}\n' | sort)
echo "deps.sh: apt-get update"
apt-get update -qq
echo "deps.sh: apt-get install (a few minutes on a fresh machine)"
apt-get install -y -q --no-install-recommends "${missing[@]}" |
	sed -n 's/^Setting up \([^ ]*\).*/deps.sh:   set up \1/p'
# ...and from being enabled for the next boot: only those installed just now
# (with what they pulled in, like nginx-common).
for p in $(comm -13 <(echo "$before") <(dpkg-query -W -f='${Package}\n' | sort)); do
	dpkg -L "$p" 2>/dev/null | grep -E '^/lib/systemd/system/[^/@]+\.(service|socket)$' |
		while read -r unit; do
			deb-systemd-helper disable "$(basename "$unit")" >/dev/null 2>&1 &&
				echo "deps.sh:   $(basename "$unit") not enabled (the tests start their own)"
		done || true
	dpkg -L "$p" 2>/dev/null | grep -E '^/etc/init.d/' | while read -r init; do
		update-rc.d "$(basename "$init")" disable >/dev/null 2>&1 || true
	done || true
done
echo "deps.sh: $job: done"
