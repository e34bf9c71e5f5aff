#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# zckup fine path over a round trip: one generated pair, one fine .zck made by `zckup make`,
# one private nginx on 127.0.0.1, tests/tools/faultproxy.py in front of it adding a one-way
# delay (no bandwidth cap: what it measures is the round trips, not the bytes). For each zckup
# binary given, `zckup apply` of the fine artifact, straight from nginx and through the proxy;
# and through a second proxy with the same delay that serves only the first range of a request
# (as S3); prints wall time, requests (nginx's log), fetched bytes and wire bytes of each, best of
# BENCH_RUNS runs. Reports only, never asserts.
#
#   bench/fine_rtt.sh ZCKUP [ZCKUP...]     e.g. a build of main, then a build of a branch
#
# Environment:
#   BENCH_RTT_MS      round trip added by the proxy (default 100: two 50 ms one-way delays)
#   BENCH_FINE_MIB    size of the old image (default 64)
#   BENCH_RUNS        runs per configuration, the fastest reported (default 3)
#   BENCH_CONNECTIONS --connections of apply (default: apply's own)
#   BENCH_KEEP=1      keep the work directory (its path is printed)
set -euo pipefail
export LC_ALL=C

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
RTT_MS=${BENCH_RTT_MS:-100}
MIB=${BENCH_FINE_MIB:-64}
RUNS=${BENCH_RUNS:-3}
[ $# -ge 1 ] || { echo "usage: $0 ZCKUP [ZCKUP...]" >&2; exit 2; }

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/zckup-fine-rtt.XXXXXX")
if [ "${BENCH_KEEP:-0}" = 1 ]; then
	trap 'echo "kept $TEST_TMP"' EXIT
else
	trap 'rm -rf "$TEST_TMP"' EXIT
fi
# shellcheck source=tests/integration/servers.sh
. "$REPO/tests/integration/servers.sh"
cd "$TEST_TMP"

# The pair: MIB of mixed content; the new image changes 600 bytes spread over it (one 4 KiB
# frame each in a missing chunk) and puts 4 MiB of new random bytes in 16 places (whole
# frames): about 5 MB of frames from a few hundred missing chunks.
python3 "$REPO/tests/integration/gen.py" image 7 $((MIB << 20)) old.img
python3 - old.img new.img <<'PY'
import random, sys
b = bytearray(open(sys.argv[1], "rb").read())
rng = random.Random(8)
n = len(b)
for k in range(600):
    b[(k * 7919 * 4096 + 1234) % n] ^= 0x5a
for k in range(16):
    at = (2 * k + 1) * n // 34
    b[at:at + (256 << 10)] = rng.getrandbits(8 * (256 << 10)).to_bytes(256 << 10, "little")
open(sys.argv[2], "wb").write(b)
PY
"$1" make new.img -o www.zck -H fine.zckh --level 5 --profile fine -q
mkdir -p www
mv www.zck www/fine.zck
start_nginx ngx "$TEST_TMP/www" >/dev/null
pre=()
command -v setpriv >/dev/null && pre=(setpriv --pdeathsig KILL --)
"${pre[@]}" python3 "$REPO/tests/tools/faultproxy.py" --upstream "127.0.0.1:$ngx_port" \
	--mode delay --delay-ms $((RTT_MS / 2)) --port-file fp.port --log fp.log \
	>fp.stderr 2>&1 </dev/null &
fp_pid=$!
# the same delay in front of a server that serves only the first range asked (as S3)
"${pre[@]}" python3 "$REPO/tests/tools/faultproxy.py" --upstream "127.0.0.1:$ngx_port" \
	--mode first-range-only --delay-ms $((RTT_MS / 2)) --port-file fs.port --log fs.log \
	>fs.stderr 2>&1 </dev/null &
fs_pid=$!
trap 'kill $fp_pid $fs_pid 2>/dev/null; wait $fp_pid $fs_pid 2>/dev/null; servers_stop_all; '"$(trap -p EXIT | sed "s/^trap -- '//; s/' EXIT\$//")" EXIT
for _ in $(seq 100); do
	[ -s fp.port ] && [ -s fs.port ] && break
	sleep 0.05
done
[ -s fp.port ] && [ -s fs.port ] || { cat fp.stderr fs.stderr >&2; exit 1; }
fp_port=$(cat fp.port)
fs_port=$(cat fs.port)

field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }
conn=()
[ -n "${BENCH_CONNECTIONS:-}" ] && conn=(--connections "$BENCH_CONNECTIONS")

printf '%-40s %-22s %8s %8s %12s %12s\n' binary link wall_s requests fetched wire
for z in "$@"; do
	for link in loopback "rtt${RTT_MS}ms" "single-range,rtt${RTT_MS}ms"; do
		case $link in
		loopback) port=$ngx_port ;;
		single*) port=$fs_port ;;
		*) port=$fp_port ;;
		esac
		best=
		for _ in $(seq "$RUNS"); do
			server_log_reset ngx
			rm -f out.img
			t0=$(date +%s.%N)
			"$z" apply --url "http://127.0.0.1:$port/fine.zck" --source old.img \
				--output out.img --json -q "${conn[@]}" >run.json
			t1=$(date +%s.%N)
			cmp -s out.img new.img || { echo "$z: wrong image" >&2; exit 1; }
			w=$(echo "$t1 - $t0" | bc)
			req=$(server_count ngx)
			if [ -z "$best" ] || [ "$(echo "$w < $best" | bc)" = 1 ]; then
				best=$w
				line=$(printf '%-40s %-22s %8.2f %8s %12s %12s' "$z" "$link" "$w" "$req" \
					"$(field run.json fetched_bytes)" "$(field run.json wire_bytes)")
			fi
		done
		echo "$line"
	done
done
