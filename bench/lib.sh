# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Helpers shared by bench/run.sh and bench/net.sh: messages, small number formatting, the
# release build of zckup and the ext4 image pair. Sourced, never run; it only defines
# functions. The caller sets `set -euo pipefail` and LC_ALL=C.

die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }
say() { printf '\n== [%3ds] %s\n' "$SECONDS" "$*"; }
note() { printf '   %s\n' "$*"; }

# need CMD PACKAGE: CMD must be on PATH.
need() {
	command -v "$1" >/dev/null 2>&1 || die "'$1' not found; install it (apt-get install $2)"
}

# median_of FILE: median of the numbers in FILE, one a line.
median_of() { sort -g "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# best_of FILE: the smallest of the numbers in FILE, one a line.
best_of() { sort -g "$1" | head -1; }
fsize() { stat -c %s "$1"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "inf"; else printf "%.2f", a / b }'; }
warm_cache() { cat "$@" >/dev/null; }
cpu_model() { awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo; }

# A fixed byte stream: the same "random" choices on every run and machine.
# Its reader stops early, so the SIGPIPE that ends openssl is expected, not a failure.
seed_stream() {
	openssl enc -aes-128-ctr -nosalt -K 7a636b7570 -iv 0 -in /dev/zero 2>/dev/null || true
}

# bench_build_zckup REPO BUILD_DIR LOG: configures BUILD_DIR as a release build (meson setup the
# first time, meson configure after), builds the zckup binary and prints its path.
bench_build_zckup() {
	local repo=$1 dir=$2 log=$3
	need meson meson
	need ninja ninja-build
	if [[ ! -f $dir/build.ninja ]]; then
		meson setup "$dir" "$repo" -Dbuildtype=release >"$log" 2>&1 ||
			{ cat "$log" >&2; die "meson setup $dir failed"; }
	else
		meson configure "$dir" -Dbuildtype=release >"$log" 2>&1 ||
			{ cat "$log" >&2; die "meson configure $dir failed"; }
	fi
	ninja -C "$dir" zckup >"$log" 2>&1 ||
		{ tail -40 "$log" >&2; die "building zckup in $dir failed"; }
	rm -f "$log"
	printf '%s\n' "$(cd "$dir" && pwd)/zckup"
}

# bench_zckup REPO BUILD_DIR LOG_DIR: sets ZCKUP to the absolute path of the zckup to measure:
# $ZCKUP when the caller set it, else a release build of REPO in BUILD_DIR (its log in LOG_DIR
# while it builds).
bench_zckup() {
	if [[ -n ${ZCKUP:-} ]]; then
		[[ -x $ZCKUP ]] || die "ZCKUP=$ZCKUP is not an executable"
	else
		say "building zckup (release) in $2"
		mkdir -p "$3"
		ZCKUP=$(bench_build_zckup "$1" "$2" "$3/build.log")
	fi
	ZCKUP=$(cd "$(dirname "$ZCKUP")" && pwd)/$(basename "$ZCKUP")
	"$ZCKUP" --version >/dev/null || die "$ZCKUP --version failed"
}

# bench_workdir NAME: sets W to a new directory NAME.XXXXXX under $BENCH_DIR, removed at exit
# with $BENCH_DIR itself when that is left empty (BENCH_KEEP=1 keeps them). A script that
# starts servers defines bench_on_exit to stop them; it runs first.
bench_workdir() {
	mkdir -p "$BENCH_DIR"
	BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
	W=$(mktemp -d "$BENCH_DIR/$1.XXXXXX")
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}
# shellcheck disable=SC2317 # called by the EXIT trap
bench_cleanup() {
	local rc=$?

	set +e # a killed server's status must not end the cleanup early
	! declare -F bench_on_exit >/dev/null || bench_on_exit
	if [[ ${BENCH_KEEP:-0} == 1 ]]; then
		echo "bench: kept $W" >&2
	else
		rm -rf -- "$W"
		rmdir -- "$BENCH_DIR" 2>/dev/null || true # only if nothing else is in it
	fi
	[[ $rc -eq 0 ]] || echo "bench: FAILED (exit $rc); see the messages above" >&2
}

# list_files BUDGET DIR...: a fixed pseudo-random sample of regular files under DIRs (paths
# relative to /), at most 8 MiB each, up to BUDGET bytes in total.
list_files() {
	local budget=$1
	shift
	(cd / || exit; find "$@" -xdev -type f -readable -size -8M -printf '%s\t%p\n' 2>/dev/null ||
		true) | awk -F'\t' 'NF == 2 && $2 ~ /^[[:graph:]]+$/' | sort |
		shuf --random-source=<(seed_stream) |
		awk -F'\t' -v b="$budget" '!full && t + $1 > b { full = 1 } !full { t += $1; print $2 }'
}
copy_files() { tar -C / --no-recursion -T "$1" -cf - | tar -C "$2" -xf -; }

# mkimg TREE IMG UUID MIB: an ext4 image of TREE, the same bytes for the same tree on every run.
mkimg() {
	local tree=$1 img=$2 uuid=$3 size_mib=$4 inodes
	inodes=$(($(find "$tree" | wc -l) * 2 + 1024))
	E2FSPROGS_FAKE_TIME=1700000000 mkfs.ext4 -q -F -b 4096 -N "$inodes" -U "$uuid" \
		-E root_owner=0:0,hash_seed=6c5e1d1a-5d43-4a4e-9d25-0f9b3c9e2a11 \
		-d "$tree" "$img" "${size_mib}M" >/dev/null || die "mkfs.ext4 -d $tree failed"
}

# bench_image_pair DIR MIB: writes DIR/old.img and DIR/new.img, two MIB MiB ext4 images of two
# releases of a file tree sampled from /usr (bench/README.md, "The data"; below 256 MiB, tree 1
# fills half the image, not 2/3). Needs e2fsprogs, coreutils, tar and openssl; uses DIR/tree1,
# DIR/tree2 and a few lists, and removes the trees.
bench_image_pair() {
	local w=$1 size_mib=$2 budget n1 n_rm=0 n_mod=0 n_add i=0 f sz
	budget=$((size_mib * 1048576 * 2 / 3))
	# small images: half, as ext4's journal and inode tables and the 4 KiB rounding of small
	# files take a larger share of them
	((size_mib >= 256)) || budget=$((size_mib * 1048576 / 2))
	list_files "$budget" usr/lib usr/share >"$w/tree1.list"
	n1=$(wc -l <"$w/tree1.list")
	((n1 > 1000)) || die "found only $n1 files under /usr/lib and /usr/share; need a fuller /usr"
	list_files $((budget / 10)) usr/bin usr/sbin usr/include usr/libexec |
		grep -vxF -f "$w/tree1.list" >"$w/added.list" || true
	mkdir "$w/tree1" "$w/tree2"
	copy_files "$w/tree1.list" "$w/tree1"
	cp -a "$w/tree1/." "$w/tree2/"

	# tree2 = tree1 with every 12th file removed, every 15th (of the rest) patched in place
	# and grown a little (a rebuilt library or a changed config), and a set of files from
	# other dirs.
	while IFS= read -r f; do
		((++i % 12 == 0)) && { rm -f "$w/tree2/$f"; n_rm=$((n_rm + 1)); continue; }
		((i % 15 == 0)) || continue
		sz=$(stat -c %s "$w/tree2/$f")
		if ((sz > 4096)); then
			seed_stream | head -c 512 |
				dd of="$w/tree2/$f" bs=1 seek=$((sz / 3)) conv=notrunc status=none
		fi
		printf 'zckup-bench: modified in release 2 (%d)\n' "$i" >>"$w/tree2/$f"
		n_mod=$((n_mod + 1))
	done <"$w/tree1.list"
	copy_files "$w/added.list" "$w/tree2"
	n_add=$(wc -l <"$w/added.list")
	note "tree1: $n1 files, $(du -sm "$w/tree1" | cut -f1) MiB;" \
		"tree2: $n_rm removed, $n_mod modified, $n_add added," \
		"$(du -sm "$w/tree2" | cut -f1) MiB"

	mkimg "$w/tree1" "$w/old.img" 5b1d7f0e-0001-4c6b-8a31-7d0e2c9f4a01 "$size_mib"
	mkimg "$w/tree2" "$w/new.img" 5b1d7f0e-0002-4c6b-8a31-7d0e2c9f4a02 "$size_mib"
	rm -rf "$w/tree1" "$w/tree2"
	note "old.img, new.img: $size_mib MiB each"
}
