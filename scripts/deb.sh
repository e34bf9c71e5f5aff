#!/usr/bin/env bash
# Builds the Debian packages and tests them as a user gets them (Debian 12, root):
#   scripts/deb.sh
# 1. dpkg-buildpackage -us -uc -b in a copy of the tree (debian/: zckup,
#    libzckup0, libzckup-dev); the packages land in build-deb/;
# 2. lintian on them: no error or warning may be left (one override, with its
#    reason: debian/libzckup0.lintian-overrides, explain reads images' dpkg
#    databases);
# 3. a fresh Debian 12 root made by mmdebstrap (minbase, from the Debian
#    mirror) with the three packages installed by apt (their dependencies
#    resolved from the mirror) and gcc; inside it, with chroot: zckup
#    --version (--json), the manual and the bash completion are there, a
#    make -> apply round trip, and examples/embed_sink.c compiled against the
#    installed `pkg-config zckup`, run, and linked to libzckup.so.0.
# What it proves: the packages install and work on a Debian 12 that has
# nothing of this machine's (no build tree, no -dev package but what
# libzckup-dev pulls in). It runs on this machine's kernel, as root.
# Ends with "N passed, N failed". Takes one to two minutes (the root's
# packages come from the mirror each time): it is not part of scripts/test.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/deps.sh" deb
mirror=${ZCKUP_DEB_MIRROR:-http://deb.debian.org/debian}
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
work=$(mktemp -d /tmp/zckup-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
out=$top/build-deb
rm -rf "$out"
mkdir -p "$out"
passed=0
failed=0
result() { # NAME STATUS
	if [ "$2" = 0 ]; then
		passed=$((passed + 1))
		echo "ok - $1"
	else
		failed=$((failed + 1))
		echo "not ok - $1"
	fi
}

echo "== dpkg-buildpackage -us -uc -b (zckup $version, in a copy of the tree)"
src=$work/zckup-$version
mkdir -p "$src"
git ls-files -z -co --exclude-standard | grep -zv '^debian/.*\.log$' | cpio -0pdm --quiet "$src"
st=0
(cd "$src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 || st=$?
result "dpkg-buildpackage -us -uc -b (build-deb/build.log)" $st
if [ $st != 0 ]; then
	tail -30 "$out/build.log"
	echo "$passed passed, $failed failed"
	exit 1
fi
grep -E 'dpkg-gensymbols: warning' "$out/build.log" || true
cp "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out/"
ls -l "$out"/*.deb

echo "== lintian"
st=0
lintian --fail-on error,warning --display-info "$out"/*.changes >"$out/lintian.txt" 2>&1 || st=$?
cat "$out/lintian.txt"
result "lintian: no error or warning" $st

echo "== a fresh Debian 12 root with the packages (mmdebstrap, $mirror)"
root=$work/root
mkdir -p "$work/debs"
cp "$out"/*.deb "$work/debs/"
incl=(--include=gcc,libc6-dev,pkg-config)
for d in "$work"/debs/*.deb; do
	incl+=("--include=$d")
done
st=0
# apt outside passes the .deb paths to dpkg inside: the same paths must exist there.
mmdebstrap -q --variant=minbase "${incl[@]}" \
	--setup-hook="mkdir -p \"\$1$work/debs\" && cp $work/debs/*.deb \"\$1$work/debs/\"" \
	bookworm "$root" "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
	>"$out/root.log" 2>&1 || st=$?
result "mmdebstrap: a minimal root with zckup, libzckup0, libzckup-dev and gcc (build-deb/root.log)" $st
if [ $st != 0 ]; then
	tail -20 "$out/root.log"
	echo "$passed passed, $failed failed"
	exit 1
fi
cp examples/embed_sink.c "$root/tmp/"
inroot() { # NAME COMMAND: runs COMMAND with sh -ec in the root, in /tmp/t
	local st=0
	chroot "$root" /bin/sh -ec "mkdir -p /tmp/t && cd /tmp/t && $2" >"$work/out" 2>&1 || st=$?
	sed 's/^/#   /' "$work/out" | head -20
	result "$1" $st
}
inroot "zckup is on the PATH: zckup --version" 'command -v zckup && zckup --version'
inroot "  it uses the packaged libzckup.so.0" 'ldd /usr/bin/zckup | grep "libzckup.so.0 => "'
inroot "zckup --version --json" 'zckup --version --json | grep -q "\"version\":\"'"${version%%-*}"'\""'
inroot "the manual page is installed" 'test -f /usr/share/man/man1/zckup.1.gz'
inroot "the bash completion is installed" \
	'test -f /usr/share/bash-completion/completions/zckup && bash -c ". /usr/share/bash-completion/completions/zckup && complete -p zckup"'
inroot "make -> apply round trip" '
	seq 1 400000 >old.img
	{ seq 1 200000; echo changed; seq 200001 400000; } >new.img
	zckup make new.img -o new.zck -H new.zckh
	zckup apply --header new.zckh --url new.zck --source old.img --output out.img
	cmp out.img new.img'
inroot "examples/embed_sink.c builds against the installed pkg-config zckup" \
	'gcc -Wall -Wextra -Werror -o embed /tmp/embed_sink.c $(pkg-config --cflags --libs zckup)'
inroot "  it applies the update through its custom sink" \
	'./embed new.zckh new.zck old.img out2.img && cmp out2.img new.img'
inroot "  it is linked to the packaged libzckup.so.0" \
	'ldd ./embed | grep -E "libzckup.so.0 => (/usr)?/lib/$(gcc -print-multiarch)/libzckup.so.0"'
echo "$passed passed, $failed failed"
[ $failed = 0 ]
