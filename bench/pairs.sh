#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Real image pairs from Debian packages, built reproducibly and cached (bench/README.md,
# "pairs.sh"). Three root filesystems are made with mmdebstrap (minbase + PAIRS_PKGS):
#   old   bookworm (the point release the mirror holds)
#   sec   bookworm + bookworm-security + bookworm-updates: the same packages, newer versions
#   add   bookworm + PAIRS_EXTRA: a few packages installed on top of old
# and from them the pairs, each a directory under $PAIRS_DIR/pairs-KEY/ holding old.img and
# new.img:
#   sec-ext4   old -> sec, ext4 images of PAIRS_IMG_MIB MiB (a security upgrade)
#   add-ext4   old -> add, ext4 (packages installed)
#   sec-sqfs   old -> sec, squashfs (zstd compressed; sorted, fixed times, no xattrs)
#   sec-tar    old -> sec, uncompressed tar (sorted, fixed mtime, numeric owners); only when
#              PAIRS_TAR=1
# KEY is a hash of this script, lib.sh, the settings below and the mirror's Release dates: a
# second run with the same inputs finds everything built and only prints the summary.
# Prints the path of the pairs directory on its last line.
#
# Environment:
#   PAIRS_DIR      where everything goes (default /tmp/zckup-pairs)
#   PAIRS_MIRROR   Debian mirror (default http://deb.debian.org/debian)
#   PAIRS_SECURITY Debian security mirror (default http://deb.debian.org/debian-security)
#   PAIRS_PKGS     packages on top of minbase (default: a small systemd device, see below)
#   PAIRS_EXTRA    packages the add pair installs (default: nginx-light sqlite3 jq ..., 11)
#   PAIRS_IMG_MIB  ext4 image size (default 512)
#   PAIRS_EPOCH    SOURCE_DATE_EPOCH of the trees and images (default 1700000000)
#   PAIRS_TAR=1    also the sec-tar pair
#   PAIRS_KEEP_TREES=1  keep the unpacked root trees (default: removed once imaged)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh"
export LC_ALL=C

PAIRS_DIR=${PAIRS_DIR:-/tmp/zckup-pairs}
MIRROR=${PAIRS_MIRROR:-http://deb.debian.org/debian}
SECURITY=${PAIRS_SECURITY:-http://deb.debian.org/debian-security}
PKGS=${PAIRS_PKGS:-systemd systemd-sysv udev dbus kmod iproute2 iputils-ping ifupdown
isc-dhcp-client openssh-server ca-certificates curl openssl python3 less nano procps sudo
tzdata rsync e2fsprogs}
EXTRA=${PAIRS_EXTRA:-nginx-light sqlite3 jq python3-yaml python3-requests htop tcpdump strace
lsof vim-tiny chrony}
IMG_MIB=${PAIRS_IMG_MIB:-512}
EPOCH=${PAIRS_EPOCH:-1700000000}
UUID=7c0c4d5e-5a1f-4b9e-8d3a-2f6e9b1c0a55 # the same for old and new: a product's fixed root
TAR=${PAIRS_TAR:-0}

[[ $IMG_MIB =~ ^[0-9]+$ && $IMG_MIB -ge 128 ]] || die "PAIRS_IMG_MIB must be a number >= 128"
[[ $EPOCH =~ ^[0-9]+$ ]] || die "PAIRS_EPOCH must be a number of seconds"
[[ $(id -u) == 0 ]] || die "pairs.sh must run as root (mmdebstrap runs maintainer scripts in a chroot)"
need mmdebstrap mmdebstrap
need mkfs.ext4 e2fsprogs
need debugfs e2fsprogs
need mksquashfs squashfs-tools
need dpkg-query dpkg
need curl curl
need sha256sum coreutils
need tar tar

# ---------------------------------------------------------------- the key
# The mirror's Release dates stand for its content: a newer point release or security
# upload changes the key. A mirror that cannot be reached now only fails the build step.
release_dates() {
	local s base suite
	for s in "$MIRROR bookworm" "$MIRROR bookworm-updates" "$SECURITY bookworm-security"; do
		read -r base suite <<<"$s"
		set -- "$base" "$suite"
		curl -fsS --max-time 20 "$1/dists/$2/InRelease" 2>/dev/null |
			sed -n "s/^Date: /$2 /p" || echo "$2 unreachable"
	done
}
DATES=$(release_dates)
# Comment lines and the summary at the end do not count: editing them does not rebuild the pairs.
KEY=$({
	sed '/^# -* summary$/,$d; /^[[:space:]]*#/d; /^[[:space:]]*$/d' "$SCRIPT_DIR/pairs.sh"
	sed '/^[[:space:]]*#/d; /^[[:space:]]*$/d' "$SCRIPT_DIR/lib.sh"
	printf '%s\n' "$MIRROR" "$SECURITY" "$PKGS" "$EXTRA" "$IMG_MIB" "$EPOCH" "$TAR" "$DATES"
} | sha256sum | cut -c1-12)
OUT=$PAIRS_DIR/pairs-$KEY
mkdir -p "$PAIRS_DIR"

# ---------------------------------------------------------------- root trees
# Which suites each root comes from; mmdebstrap (apt) takes the highest version on offer.
suites_of() {
	case $1 in
	old | add) printf '%s\n' "deb $MIRROR bookworm main" ;;
	sec)
		printf '%s\n' "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
			"deb $SECURITY bookworm-security main"
		;;
	esac
}
pkgs_of() {
	case $1 in
	old | sec) echo "$PKGS" ;;
	add) echo "$PKGS $EXTRA" ;;
	esac | tr -s ' \n' ',' | sed 's/,$//'
}

# make_root NAME: $OUT/NAME.tree (unpacked) and $OUT/NAME.pkgs (package<TAB>version).
make_root() {
	local name=$1 tree=$OUT/$1.tree log=$OUT/$1.mmdebstrap.log t0=$SECONDS
	local -a mirrors
	mapfile -t mirrors < <(suites_of "$name")
	say "root '$name': mmdebstrap minbase + $(pkgs_of "$name" | tr ',' ' ' | wc -w) packages" \
		"from $(suites_of "$name" | awk '{ print $3 }' | paste -sd+)"
	rm -rf "$tree"
	# Host keys and machine ids are random per install: a real build makes them on first
	# boot, so they are left out; mmdebstrap's own cleanup removes apt lists, logs and caches.
	# shellcheck disable=SC2016 # the hooks' $1 is mmdebstrap's, expanded when they run
	SOURCE_DATE_EPOCH=$EPOCH mmdebstrap --variant=minbase --mode=root \
		--include="$(pkgs_of "$name")" \
		--customize-hook='rm -f "$1"/etc/ssh/ssh_host_*_key "$1"/etc/ssh/ssh_host_*_key.pub' \
		--customize-hook='rm -f "$1"/var/lib/systemd/random-seed "$1"/var/cache/ldconfig/aux-cache' \
		--customize-hook='dpkg-query --admindir="$1"/var/lib/dpkg -W >"$1"/../'"$name"'.pkgs' \
		bookworm "$tree" "${mirrors[@]}" >"$log" 2>&1 ||
		{ tail -30 "$log" >&2; die "mmdebstrap of root '$name' failed (log: $log)"; }
	# Files written by maintainer scripts carry the build's clock: clamp every time.
	find "$tree" -newermt "@$EPOCH" -print0 | xargs -0r touch -h -d "@$EPOCH"
	note "$(wc -l <"$OUT/$name.pkgs") packages, $(du -sm "$tree" | cut -f1) MiB," \
		"$((SECONDS - t0)) s"
}

# ---------------------------------------------------------------- images
# mkfs.ext4 -d copies each file's atime and ctime from the tree: the times of the build (ctime
# cannot be set from user space, and reading the tree moves atime). debugfs sets both to EPOCH
# afterwards, under the same fake clock, so the image depends on the tree's content only.
mk_ext4() { # TREE IMG
	local inodes
	inodes=$(($(find "$1" | wc -l) * 2 + 4096))
	E2FSPROGS_FAKE_TIME=$EPOCH mkfs.ext4 -q -F -b 4096 -T default -N "$inodes" -U "$UUID" \
		-E root_owner=0:0,hash_seed=3f1d2c4b-6a5e-4d7c-9b8a-0e1f2a3b4c5d \
		-d "$1" "$2" "${IMG_MIB}M" >/dev/null || die "mkfs.ext4 -d $1 failed"
	find "$1" -mindepth 1 -printf '%P\n' >"$2.paths"
	! grep -q '"' "$2.paths" || die "$1: a path with a double quote; debugfs cannot set its times"
	awk -v e="@$EPOCH" 'BEGIN { printf "sif / atime %s\nsif / ctime %s\n", e, e }
		{ printf "sif \"/%s\" atime %s\nsif \"/%s\" ctime %s\n", $0, e, $0, e }' "$2.paths" >"$2.cmds"
	E2FSPROGS_FAKE_TIME=$EPOCH debugfs -w -f "$2.cmds" "$2" >/dev/null 2>"$2.err" ||
		{ tail "$2.err" >&2; die "debugfs on $2 failed"; }
	! grep -v '^debugfs [0-9]' "$2.err" | grep -q . ||
		{ head "$2.err" >&2; die "debugfs could not set the times of every file in $2"; }
	rm -f "$2.paths" "$2.cmds" "$2.err"
}
mk_sqfs() { # TREE IMG
	mksquashfs "$1" "$2" -noappend -quiet -no-progress -comp zstd -b 131072 -no-xattrs \
		-mkfs-time "$EPOCH" -all-time "$EPOCH" -processors 2 >/dev/null ||
		die "mksquashfs $1 failed"
}
mk_tar() { # TREE IMG
	tar -C "$1" --sort=name --mtime="@$EPOCH" --owner=0 --group=0 --numeric-owner \
		--format=gnu -cf "$2" . || die "tar of $1 failed"
}

# pair NAME FORMAT OLDROOT NEWROOT
make_pair() {
	local d=$OUT/$1 fmt=$2 t0=$SECONDS
	[[ -f $d/.done ]] && return 0
	say "pair $1: $fmt of $3 -> $4"
	rm -rf "$d"
	mkdir -p "$d"
	"mk_$fmt" "$OUT/$3.tree" "$d/old.img"
	"mk_$fmt" "$OUT/$4.tree" "$d/new.img"
	{
		echo "format	$fmt"
		echo "old	$3	$(suites_of "$3" | awk '{ print $3 }' | paste -sd+)"
		echo "new	$4	$(suites_of "$4" | awk '{ print $3 }' | paste -sd+)"
	} >"$d/info"
	pkg_diff "$OUT/$3.pkgs" "$OUT/$4.pkgs" >"$d/packages.diff"
	touch "$d/.done"
	note "$((SECONDS - t0)) s"
}

# pkg_diff OLD.pkgs NEW.pkgs: one line per package that differs: '~ name old new',
# '+ name new' or '- name old'.
pkg_diff() {
	join -t $'\t' -a1 -a2 -e '' -o 0,1.2,2.2 <(sort "$1") <(sort "$2") |
		awk -F'\t' '$2 != $3 { if ($2 == "") print "+", $1, $3; else if ($3 == "") print "-", $1, $2;
			else print "~", $1, $2, $3 }'
}

PAIRS="sec-ext4 add-ext4 sec-sqfs"
[[ $TAR == 1 ]] && PAIRS="$PAIRS sec-tar"
all_done=1
for p in $PAIRS; do [[ -f $OUT/$p/.done ]] || all_done=0; done

if [[ $all_done == 0 ]]; then
	mkdir -p "$OUT"
	avail_mib=$(df -Pm "$OUT" | awk 'NR == 2 { print $4 }')
	((avail_mib > 8 * IMG_MIB + 3000)) || die "need about $((8 * IMG_MIB + 3000)) MiB free under $OUT"
	# The stamps stay outside the trees: anything written into one changes its images.
	for r in old sec add; do
		[[ -f $OUT/$r.done && -d $OUT/$r.tree ]] && continue
		make_root "$r"
		touch "$OUT/$r.done"
	done
	make_pair sec-ext4 ext4 old sec
	make_pair add-ext4 ext4 old add
	make_pair sec-sqfs sqfs old sec
	[[ $TAR == 1 ]] && make_pair sec-tar tar old sec
	[[ ${PAIRS_KEEP_TREES:-0} == 1 ]] || rm -rf "$OUT"/*.tree "$OUT"/*.done
	printf '%s\n' "$DATES" >"$OUT/mirror-dates"
fi

# ---------------------------------------------------------------- summary
say "pairs in $OUT (key $KEY)"
while read -r line; do note "mirror: $line"; done <"$OUT/mirror-dates"
printf '   %-9s %-6s %10s %10s %10s %8s %5s %5s %5s\n' pair format old new "data(new)" \
	changed upd add rm
for p in $PAIRS; do
	d=$OUT/$p
	nz=$(tr -d '\0' <"$d/new.img" | wc -c)
	printf '   %-9s %-6s %10s %10s %10s %8s %5s %5s %5s\n' "$p" "$(awk '$1 == "format" { print $2 }' "$d/info")" \
		"$(fsize "$d/old.img")" "$(fsize "$d/new.img")" "$nz" \
		"$(wc -l <"$d/packages.diff")" "$(grep -c '^~' "$d/packages.diff" || true)" \
		"$(grep -c '^+' "$d/packages.diff" || true)" "$(grep -c '^-' "$d/packages.diff" || true)"
done
note "(bytes; data(new): the new image's bytes that are not zero; changed = upd + add + rm packages," \
	"listed in PAIR/packages.diff)"
echo "$OUT"
