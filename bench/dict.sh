#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What a zstd dictionary (zckup make --dict) saves a device: for the ext4 image pair of
# bench/lib.sh (or DIR/old.img and DIR/new.img if they exist), makes new.zck without a
# dictionary and with trained dictionaries of several sizes, and prints per variant the .zck
# size, the header, the dictionary as stored, and the bytes a device fetches to update from
# old.img (header + `zckup plan --json` fetch_bytes, which counts the dictionary once).
# Usage: bench/dict.sh [DIR [MIB [LEVEL [VARIANT...]]]]  (defaults: a temp dir, 192, 19,
# 32 64 112 256 112:16); a VARIANT is the dictionary's KiB, or KIB:MIB with a sample cap in MiB.
set -euo pipefail
export LC_ALL=C
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
W=${1:-$(mktemp -d)}
MIB=${2:-192}
LEVEL=${3:-19}
shift $(($# > 3 ? 3 : $#))
SIZES=("$@")
((${#SIZES[@]})) || SIZES=(32 64 112 256 112:16)
mkdir -p "$W"
ZCKUP=${ZCKUP:-$(bench_build_zckup "$top" "$top/build-bench" "$W/build.log")}
[[ -f $W/old.img && -f $W/new.img ]] || bench_image_pair "$W" "$MIB"

row() { # name, make options...
	local name=$1 t0 hdr zck fetch dict secs
	shift
	t0=$SECONDS
	"$ZCKUP" make --json --progress none "$W/new.img" -o "$W/$name.zck" -H "$W/$name.zckh" \
		--level "$LEVEL" --profile compat "$@" >"$W/$name.make.json"
	secs=$((SECONDS - t0))
	"$ZCKUP" plan -q --json --source "$W/old.img" "$W/$name.zckh" >"$W/$name.plan.json"
	hdr=$(fsize "$W/$name.zckh")
	zck=$(fsize "$W/$name.zck")
	fetch=$(sed -n 's/.*"fetch_bytes":\([0-9]*\).*/\1/p' "$W/$name.plan.json")
	dict=$(sed -n 's/.*"dict_zck_bytes":\([0-9]*\).*/\1/p' "$W/$name.make.json")
	printf '| %s | %d | %d | %s | %d | %d | %d |\n' "$name" "$zck" "$hdr" "${dict:-0}" \
		"$fetch" $((hdr + fetch)) "$secs"
}
echo "| variant | .zck bytes | header | dict stored | fetch_bytes (dict incl.) | device reads | make s |"
echo "|---|---:|---:|---:|---:|---:|---:|"
row none
for v in "${SIZES[@]}"; do
	if [[ $v == *:* ]]; then
		row "auto-${v%%:*}k-${v#*:}M" --dict auto --dict-size "${v%%:*}" --dict-samples "${v#*:}"
	else
		row "auto-${v}k" --dict auto --dict-size "$v"
	fi
done
