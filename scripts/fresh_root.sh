#!/usr/bin/env bash
# Runs commands the way a new user does: in a fresh minbase Debian 12 root, on
# a clean clone of the current commit, as root. What CI runs (.ci/run):
#   scripts/fresh_root.sh ./scripts/demo.sh ./scripts/test.sh
# 1. mmdebstrap makes the root from Debian's mirror: minbase (Essential and
#    Priority required packages) plus git and ca-certificates, as the README's
#    "fresh Debian 12 machine"; the same three suites a Debian 12 machine has
#    in its sources. Made anew every run (about 30 s), so nothing this machine
#    installed can make a run pass: every package the commands need is
#    installed by their own scripts (scripts/deps.sh) inside the root.
# 2. git clone of HEAD (committed work only) into /src/zckup in the root; the
#    root bind-mounted on itself (so that / is a mount point, as on a machine:
#    unshare --propagation needs it), /proc, /sys and /dev mounted (bind,
#    slave: nothing propagates back).
# 3. each command (a line of shell) run in order with chroot, a clean
#    environment (PATH, HOME, LANG, CI) and the clone as its directory; its
#    time is printed. A command
#    that fails does not stop the next.
# 4. on every exit path (also Ctrl-C, TERM): processes left in the root are
#    killed, the mounts undone, the root deleted (not deleted if a mount could
#    not be undone: that would reach the host's /dev).
# The last line is the last command's "N passed, N failed, N skipped" line with
# each other command counted as one test (passed when it exited 0). Exit 0
# only if every command exited 0. ZCKUP_FRESH_KEEP=1 keeps the root (its path
# is printed) for a look after a failure; ZCKUP_FRESH_DIR is where it goes
# (default /var/tmp); ZCKUP_FRESH_MIRROR the Debian mirror.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
[ $# -gt 0 ] || { echo "usage: $0 COMMAND..." >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "fresh_root.sh: must run as root (chroot, mount)" >&2; exit 2; }
"$top/scripts/deps.sh" ci

mirror=${ZCKUP_FRESH_MIRROR:-http://deb.debian.org/debian}
security=${mirror%/debian}/debian-security
commit=$(git -C "$top" rev-parse HEAD)
work=$(mktemp -d "${ZCKUP_FRESH_DIR:-/var/tmp}/zckup-fresh.XXXXXX")
root=$work/root

mounted_under() { # the mount points at or below $root, deepest first
	awk -v r="$root" '$5 == r || index($5, r "/") == 1 {print $5}' /proc/self/mountinfo | sort -r
}
cleanup() {
	local pids p tries
	trap - EXIT INT TERM HUP
	# Processes whose root is ours: servers a test left, a command still running.
	for tries in 1 2 3; do
		pids=()
		for p in /proc/[0-9]*; do
			[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && pids+=("${p#/proc/}")
		done
		[ ${#pids[@]} = 0 ] && break
		kill -KILL "${pids[@]}" 2>/dev/null || true
		sleep 0.5
	done
	for p in $(mounted_under); do
		umount "$p" 2>/dev/null || umount -l "$p" 2>/dev/null || true
	done
	if [ -n "$(mounted_under)" ]; then
		echo "fresh_root.sh: still mounted under $root, not deleting it:" $(mounted_under) >&2
	elif [ "${ZCKUP_FRESH_KEEP:-0}" = 1 ]; then
		echo "fresh_root.sh: kept $root" >&2
	else
		rm -rf --one-file-system "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

echo "== fresh root: mmdebstrap --variant=minbase --include=git,ca-certificates bookworm ($mirror)"
t0=$SECONDS
# Long steps run in the background and are waited for: bash runs a trap only
# once the foreground command has ended, but it interrupts a wait at once.
mmdebstrap --variant=minbase --include=git,ca-certificates --mode=root bookworm "$root" \
	"deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
	"deb $security bookworm-security main" >"$work/mmdebstrap.log" 2>&1 &
st=0
wait $! || st=$?
if [ $st != 0 ]; then
	tail -20 "$work/mmdebstrap.log"
	echo "fresh_root.sh: mmdebstrap failed" >&2
	exit 1
fi
echo "== fresh root: made in $((SECONDS - t0)) s ($(du -sm "$root" | cut -f1) MB)"
# The host's name service and loopback names, as on a machine of its own.
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp /etc/hosts "$root/etc/hosts"
# The root is a mount point of its own, as / is on a machine: mount(8)'s and
# unshare(1)'s propagation changes on / fail on a plain directory (EINVAL);
# private, so mounts made inside (RAUC's bundles) stay inside.
mount --bind "$root" "$root"
mount --make-private "$root"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"
git clone -q --no-local --no-checkout "$top" "$root/src/zckup"
git -C "$root/src/zckup" checkout -q "$commit"
echo "== fresh root: clean clone of $commit in /src/zckup"

passed=0
failed=0
all_ok=1
last_summary=""
n=0
for cmd in "$@"; do
	n=$((n + 1))
	echo "== fresh root: $cmd"
	t0=$SECONDS
	st=0
	(chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 TERM=dumb CI="${CI:-}" \
		/bin/bash -c 'cd /src/zckup && eval "$1"' fresh "$cmd" 2>&1 | tee "$work/out.$n") &
	wait $! || st=$?
	echo "== fresh root: $cmd: exit $st in $((SECONDS - t0)) s"
	[ "$st" = 0 ] || all_ok=0
	if [ "$n" = $# ]; then
		last_summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$work/out.$n" | tail -1 || true)
	elif [ "$st" = 0 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
done
cleanup
# The closing line, alone, as CI reads it: the last command's counts, the
# earlier commands counted one test each.
if [[ $last_summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(.*)$ ]]; then
	echo "$((BASH_REMATCH[1] + passed)) passed, $((BASH_REMATCH[2] + failed)) failed${BASH_REMATCH[3]}"
else
	echo "fresh_root.sh: the last command printed no 'N passed, N failed' line" >&2
	echo "$passed passed, $((failed + 1)) failed"
fi
[ $all_ok = 1 ]
