#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Footprint of zckup on the machines that run it (see bench/README.md):
#   bench/footprint.sh [ARCH...]       default: x86_64 arm64 armhf s390x
# For each architecture, a release build (-Dbuildtype=release: -O3, and
# -Dbuildtype=minsize: -Os, what space-tight images use) made with the cross
# files of cross/ (scripts/cross.sh makes their sysroots), and reports:
#   - the stripped sizes of the CLI (libzckup linked in) and of libzckup.so.0,
#     and of the CLI linked to libzckup.so.0 (what the Debian package's
#     zckup + libzckup0 would be if the CLI used the shared library);
#   - the runtime dependencies (DT_NEEDED of the CLI and of libzckup.so.0);
#   - a static CLI (-Dstatic_cli=true -Dhttp=disabled -Ddefault_library=static:
#     Debian 12 has no static libraries for libcurl's dependencies);
#   - arm64: peak RSS of an apply of a 64 MiB image under qemu-aarch64-static
#     (the emulator's own memory included: a sanity figure, not a device one),
#     next to the same apply run natively.
# Targets, printed with PASS or MISS: the CLI plus libzckup.so.0 at most
# 256 KiB stripped on arm64; no runtime dependency beyond libc, libzstd,
# libcrypto and libcurl. BENCH_STRICT=1 makes a MISS exit 1.
# arm64 also with -Wl,-z,max-page-size=4096 (release4k): its default 64 KiB
# page alignment pads the files. Builds go to
# build-footprint-ARCH-{release,minsize,release4k,static} (kept, reused).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(x86_64 arm64 armhf s390x)
miss=0

triplet() {
	case $1 in
	x86_64) echo x86_64-linux-gnu ;;
	arm64) echo aarch64-linux-gnu ;;
	armhf) echo arm-linux-gnueabihf ;;
	s390x) echo s390x-linux-gnu ;;
	*) echo "footprint.sh: unknown architecture $1" >&2; exit 2 ;;
	esac
}
# setup ARCH KIND MESON-ARGS...: configures (once) and builds build-footprint-ARCH-KIND
setup() {
	local arch=$1 kind=$2 dir=build-footprint-$1-$2
	shift 2
	if [ ! -f "$dir/build.ninja" ]; then
		local cross=()
		[ "$arch" = x86_64 ] || cross=(--cross-file "cross/$(triplet "$arch").txt")
		meson setup "$dir" "${cross[@]}" "$@" >"$tmp/setup.log" 2>&1 ||
			{ tail -5 "$tmp/setup.log" >&2; rm -rf "$dir"; return 1; }
	fi
	ninja -C "$dir" zckup $([ "$kind" = static ] || echo libzckup.so.0.1.0) >"$tmp/ninja.log" 2>&1 ||
		{ grep -v "^\[" "$tmp/ninja.log" | grep -v "warning: Using" | tail -5 >&2; return 1; }
	echo "$dir"
}
# stripped ARCH FILE: bytes of FILE once stripped
stripped() {
	local s=strip
	[ "$1" = x86_64 ] || s=$(triplet "$1")-strip
	"$s" -o "$tmp/s" "$2"
	stat -c %s "$tmp/s"
}
needed() { # FILE: its DT_NEEDED, comma-separated
	readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | paste -sd, -
}
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }

tmp=$(mktemp -d /tmp/zckup-footprint.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
for arch in "${archs[@]}"; do
	if [ "$arch" != x86_64 ] && [ ! -f "/opt/zckup-sysroot/$arch/.zckup-sysroot" ]; then
		echo "== $arch: no sysroot: run scripts/cross.sh $arch first (or: $0 x86_64)"
		miss=1
		continue
	fi
	echo "== $arch ($(triplet "$arch"))"
	kinds=(release minsize)
	# arm64 links for 64 KiB pages by default: up to 64 KiB of padding per
	# segment boundary in the file; most ARM boards run 4 KiB-page kernels.
	[ "$arch" != arm64 ] || kinds+=(release4k)
	for kind in "${kinds[@]}"; do
		ldflags=()
		[ $kind != release4k ] || ldflags=(-Wl,-z,max-page-size=4096)
		dir=$(setup "$arch" $kind -Dbuildtype=${kind%4k} -Dexplain=disabled ${ldflags:+"-Dc_link_args=${ldflags[*]}"})
		cli=$(stripped "$arch" "$dir/zckup")
		lib=$(stripped "$arch" "$dir/libzckup.so.0.1.0")
		# the CLI linked to the shared library instead: link it by hand from its objects
		cc=gcc
		[ "$arch" = x86_64 ] || cc="$(triplet "$arch")-gcc --sysroot=/opt/zckup-sysroot/$arch"
		$cc -o "$tmp/zckup-dyn" "$dir"/zckup.p/*.o -L"$dir" -lzckup -Wl,--as-needed "${ldflags[@]}" \
			-Wl,-rpath-link,"$dir" 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
		dyn=$(stripped "$arch" "$tmp/zckup-dyn")
		printf '  %-8s zckup %s, libzckup.so.0 %s: together %s; zckup using libzckup.so.0 %s + %s = %s\n' \
			"$kind" "$(kib "$cli")" "$(kib "$lib")" "$(kib $((cli + lib)))" "$(kib "$dyn")" \
			"$(kib "$lib")" "$(kib $((dyn + lib)))"
		if [ "$arch" = arm64 ] && [ $kind = release ]; then
			arm64_total=$((cli + lib))
			arm64_dyn_total=$((dyn + lib))
		fi
		[ "$arch" != arm64 ] || [ $kind != release4k ] || arm64_4k_total=$((dyn + lib))
	done
	deps=$(needed "$dir/zckup")
	libdeps=$(needed "$dir/libzckup.so.0.1.0")
	echo "  needed   zckup: $deps"
	echo "           libzckup.so.0: $libdeps"
	extra=$(echo "$deps,$libdeps" | tr , '\n' | grep -v '^$' |
		grep -Ev '^(libc\.so\.6|libzstd\.so\.1|libcrypto\.so\.3|libcurl\.so\.4|ld-linux.*|ld64\.so.*)$' |
		sort -u | paste -sd, - || true)
	if [ -z "$extra" ]; then
		echo "  PASS     runtime dependencies: only libc, libzstd, libcrypto, libcurl"
	else
		echo "  MISS     runtime dependencies beyond libc, libzstd, libcrypto, libcurl: $extra"
		miss=1
	fi
	if [ "$arch" = x86_64 ]; then
		echo "  ldd      zckup pulls in $(ldd "$dir/zckup" | grep -c '=>') shared libraries in all (libcurl's own dependencies)"
	fi
	if dir=$(setup "$arch" static -Dbuildtype=minsize -Dexplain=disabled -Dstatic_cli=true -Dhttp=disabled \
		-Ddefault_library=static 2>"$tmp/err"); then
		printf '  static   zckup -Dstatic_cli=true -Dhttp=disabled (minsize): %s stripped, needs: %s\n' \
			"$(kib "$(stripped "$arch" "$dir/zckup")")" "$(needed "$dir/zckup" | sed 's/^$/nothing/')"
	else
		echo "  static   build failed:"
		tail -5 "$tmp/err"
	fi
done

if [ -n "${arm64_total:-}" ]; then
	echo "== arm64: peak RSS of apply (64 MiB image, 20 scattered edits, from a local .zck)"
	python3 "$top/tests/integration/gen.py" image 51 67108864 "$tmp/old.img"
	python3 "$top/tests/integration/gen.py" edit scatter 52 "$tmp/old.img" "$tmp/new.img"
	native=$(setup x86_64 release -Dbuildtype=release)/zckup
	"$native" make "$tmp/new.img" -o "$tmp/new.zck" -H "$tmp/new.zckh" --level 3 -q
	rss() { # COMMAND...: peak RSS in KiB
		/usr/bin/time -f %M -o "$tmp/rss" "$@" apply --header "$tmp/new.zckh" --url "$tmp/new.zck" \
			--source "$tmp/old.img" --output "$tmp/out.img" -q
		cmp "$tmp/out.img" "$tmp/new.img"
		cat "$tmp/rss"
	}
	q=$(rss qemu-aarch64-static -L /opt/zckup-sysroot/arm64 build-footprint-arm64-release/zckup)
	n=$(rss "$native")
	echo "  arm64 under qemu-aarch64-static: $q KiB peak RSS (qemu included); x86_64 natively: $n KiB"
	echo "== targets"
	target() { # WHAT BYTES
		if [ "$2" -le $((256 * 1024)) ]; then
			echo "  PASS     $1: $(kib "$2") <= 256 KiB stripped"
		else
			echo "  MISS     $1: $(kib "$2") > 256 KiB stripped"
			miss=1
		fi
	}
	target "arm64 zckup (own copy of the library) + libzckup.so.0 (release)" "$arm64_total"
	target "arm64 zckup -Dcli_shared=true + libzckup.so.0 (release)" "$arm64_dyn_total"
	target "  the same linked for 4 KiB pages (-Wl,-z,max-page-size=4096)" "$arm64_4k_total"
fi
[ "${BENCH_STRICT:-0}" != 1 ] || [ $miss = 0 ]
