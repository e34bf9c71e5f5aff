#!/usr/bin/env bash
# Installs what zckup needs to build, demo and test on Debian 12 (run as root).
# Idempotent: installs only what is missing.
set -euo pipefail

pkgs=(
	build-essential meson ninja-build pkg-config clang libclang-rt-14-dev
	libzstd-dev libssl-dev libcmocka-dev
	zchunk zstd e2fsprogs squashfs-tools xxd time
	swupdate nginx cpio openssl
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
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
