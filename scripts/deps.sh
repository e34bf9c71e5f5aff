#!/usr/bin/env bash
# Installs what zckup needs on Debian 12 (run as root), for one job:
#   deps.sh demo    build it and run scripts/demo.sh
#   deps.sh test    everything scripts/test.sh runs (the default): also the
#                   cross suites' compilers and qemu-user (job cross)
#   deps.sh cross   what scripts/cross.sh needs
#   deps.sh deb     what scripts/deb.sh needs
#   deps.sh ci      what .ci/run needs on the host (it runs the rest in a
#                   fresh Debian root)
#   deps.sh --table prints the program table below (for the check)
#   deps.sh --packages JOB   prints the packages JOB installs, one a line
# Idempotent: installs only what is missing, and says what it does. Server
# packages (nginx, lighttpd, apache2, varnish, swupdate) are installed with
# their daemons neither started nor enabled: the tests and the demo start
# their own on loopback.
set -euo pipefail

# Every program that a script, test or meson file of the project runs and that
# the project does not build: its name, the Debian package that provides it,
# and the jobs that run it. "essential" is a package of every Debian root
# (Essential or Priority required: minbase has it), so no job installs it.
# tests/integration/deps_table.sh checks, in every test run, that each program
# the scripts and tests call (tests/tools/zu_programs.py reads them from the
# sources) has a row here for its job, and that each row's package really
# ships that program. A test that starts using a new tool fails that check
# until its row is added.
programs='
awk                   mawk                        essential
basename              coreutils                   essential
bash                  bash                        essential
cat                   coreutils                   essential
chmod                 coreutils                   essential
chroot                coreutils                   essential
cmp                   diffutils                   essential
comm                  coreutils                   essential
cp                    coreutils                   essential
cut                   coreutils                   essential
date                  coreutils                   essential
dd                    coreutils                   essential
deb-systemd-helper    init-system-helpers         essential
diff                  diffutils                   essential
dirname               coreutils                   essential
dpkg                  dpkg                        essential
dpkg-query            dpkg                        essential
du                    coreutils                   essential
echo                  coreutils                   essential
env                   coreutils                   essential
find                  findutils                   essential
getent                libc-bin                    essential
grep                  grep                        essential
gzip                  gzip                        essential
head                  coreutils                   essential
id                    coreutils                   essential
ln                    coreutils                   essential
ls                    coreutils                   essential
mkdir                 coreutils                   essential
mkfifo                coreutils                   essential
mktemp                coreutils                   essential
mount                 mount                       essential
mv                    coreutils                   essential
nproc                 coreutils                   essential
od                    coreutils                   essential
readlink              coreutils                   essential
realpath              coreutils                   essential
rm                    coreutils                   essential
sed                   sed                         essential
seq                   coreutils                   essential
setpriv               util-linux                  essential
sh                    dash                        essential
sha256sum             coreutils                   essential
tee                   coreutils                   essential
sleep                 coreutils                   essential
sort                  coreutils                   essential
stdbuf                coreutils                   essential
stat                  coreutils                   essential
tail                  coreutils                   essential
tar                   tar                         essential
timeout               coreutils                   essential
touch                 coreutils                   essential
tr                    coreutils                   essential
truncate              coreutils                   essential
umount                mount                       essential
unshare               util-linux                  essential
losetup               mount                       essential
uname                 coreutils                   essential
update-rc.d           init-system-helpers         essential
wc                    coreutils                   essential
xargs                 findutils                   essential
yes                   coreutils                   essential
zcat                  gzip                        essential
apt-get               apt                         essential
e2fsck                e2fsprogs                   essential
mkfs.ext2             e2fsprogs                   essential
mkfs.ext3             e2fsprogs                   essential
mkfs.ext4             e2fsprogs                   essential
debugfs               e2fsprogs                   essential
dumpe2fs              e2fsprogs                   essential
meson                 meson                       demo test cross deb
ninja                 ninja-build                 demo test cross deb
python3               python3                     demo test cross deb
nginx                 nginx                       demo test
git                   git                         test deb ci
ar                    binutils                    test
bc                    bc                          test
clang                 clang                       test
chromium              chromium                    test
cpio                  cpio                        test deb
curl                  curl                        test
lighttpd              lighttpd                    test
apache2               apache2-bin                     test
varnishd              varnish                     test
varnishncsa           varnish                     test
openssl               openssl                     test
pgrep                 procps                      test
mksquashfs            squashfs-tools              test
shfmt                 shfmt                       test
swupdate              swupdate                    test
swupdate-progress     swupdate                    test
lua5.3                lua5.3                      test
rauc                  rauc                        test
dbus-daemon           dbus-daemon                 test
mender                mender-client               test
mender-artifact       mender-artifact             test
unzck                 zchunk                      test
zck                   zchunk                      test
zck_read_header       zchunk                      test
valgrind              valgrind                    test
xz                    xz-utils                    test
zstd                  zstd                        test
mmdebstrap            mmdebstrap                  cross deb ci
pkg-config            pkgconf                     demo test cross deb
aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu       cross
aarch64-linux-gnu-ar  binutils-aarch64-linux-gnu  cross
aarch64-linux-gnu-strip binutils-aarch64-linux-gnu cross
arm-linux-gnueabihf-gcc gcc-arm-linux-gnueabihf   cross
arm-linux-gnueabihf-ar binutils-arm-linux-gnueabihf cross
arm-linux-gnueabihf-strip binutils-arm-linux-gnueabihf cross
s390x-linux-gnu-gcc   gcc-s390x-linux-gnu         cross
s390x-linux-gnu-ar    binutils-s390x-linux-gnu    cross
s390x-linux-gnu-strip binutils-s390x-linux-gnu    cross
qemu-aarch64-static   qemu-user-static            cross
qemu-arm-static       qemu-user-static            cross
qemu-s390x-static     qemu-user-static            cross
dpkg-buildpackage     dpkg-dev                    deb
dpkg-parsechangelog   dpkg-dev                    deb
lintian               lintian                     deb
'
# Packages a job needs that ship no program the scripts call by name: the
# compiler driver meson finds, libraries and headers, the CA list and the
# helpers that mmdebstrap and dpkg-buildpackage run.
build_libs=(build-essential libzstd-dev libssl-dev libcurl4-openssl-dev libext2fs-dev libsquashfs-dev)
declare -A libs=(
	[demo]="${build_libs[*]}"
	[test]="${build_libs[*]} libcmocka-dev libclang-rt-14-dev"
	[cross]="${build_libs[*]} libcmocka-dev"
	[deb]="${build_libs[*]} libcmocka-dev debhelper fakeroot"
	[ci]="ca-certificates"
)

# packages_of JOB: the packages of JOB's rows and libraries. The test job
# runs scripts/cross.sh, so it takes the cross job's rows too.
packages_of() {
	local tags=" $1 "
	[ "$1" = test ] && tags=" test cross "
	{
		echo "$programs" | while read -r prog pkg jobs; do
			[ -n "$prog" ] || continue
			for j in $jobs; do
				case $tags in *" $j "*) echo "$pkg" ;; esac
			done
		done
		tr ' ' '\n' <<<"${libs[$1]}"
	} | sed '/^$/d' | sort -u
}

job=${1:-test}
case $job in
--table)
	echo "$programs" | sed '/^$/d'
	exit 0
	;;
--packages)
	[ -n "${libs[${2:-}]+set}" ] || { echo "usage: $0 --packages demo|test|cross|deb|ci" >&2; exit 2; }
	packages_of "$2"
	exit 0
	;;
demo | test | cross | deb | ci) mapfile -t pkgs < <(packages_of "$job") ;;
*)
	echo "usage: $0 [demo|test|cross|deb|ci|--table|--packages JOB]" >&2
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
