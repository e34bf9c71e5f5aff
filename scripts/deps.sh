#!/usr/bin/env bash
# Installs what zckup needs to build, demo and test on Debian 12 (run as root).
# Idempotent: installs only what is missing.
set -euo pipefail

pkgs=(
	build-essential meson ninja-build pkg-config clang libclang-rt-14-dev
	libzstd-dev libssl-dev libcurl4-openssl-dev libcmocka-dev
	zchunk zstd e2fsprogs squashfs-tools xxd time curl
	swupdate cpio openssl
	nginx lighttpd apache2 varnish
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps.sh: missing packages: ${missing[*]}; run as root (or: sudo $0)" >&2
		exit 1
	fi
	echo "deps.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# The tests start their own servers on loopback: keep the packages' daemons
	# (nginx, lighttpd, apache2, varnish, swupdate) from being started by the install.
	policy=/usr/sbin/policy-rc.d
	had_policy=0
	[ -e "$policy" ] && had_policy=1
	if [ $had_policy = 0 ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
