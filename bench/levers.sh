#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Issue 10 item 4: what a device would fetch under other per-chunk zstd parameters and other
# chunk boundaries, on the image pairs of bench/pairs.sh (bench/README.md, "levers.sh").
# Builds bench/levers.c with cc and runs it on each pair; it compresses only the chunks a
# device would fetch, so it needs no .zck and no zckup build.
#
#   bench/levers.sh [PAIR_DIR...]   # default: every PAIRS_DIR/pairs-*/NAME with old.img, new.img
#
# Environment:
#   PAIRS_DIR        where pairs.sh put its pairs (default /tmp/zckup-pairs)
#   LEVERS_THREADS   compression threads (default 2); everything runs under nice -n 19
#   LEVERS_QUICK=1   leave out row 4 (level 22, maxed search: ~6 min of a 512 MiB ext4 pair)
#   LEVERS_TSV       the table as TSV (default $PAIRS_DIR/levers-DATE.tsv), appended to
#   LEVERS_CHECK=1   also `zckup make` + `zckup plan --json` the first pair, to compare with
#                    row 1r (ZCKUP: the zckup binary, default <repo>/build-release/zckup)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh"
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
export LC_ALL=C
PAIRS_DIR=${PAIRS_DIR:-/tmp/zckup-pairs}
THREADS=${LEVERS_THREADS:-2}
TSV=${LEVERS_TSV:-$PAIRS_DIR/levers-$(date +%Y%m%d-%H%M%S).tsv}
COMMIT=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)

need cc gcc
if [[ $# -ge 1 ]]; then
	PAIRS=("$@")
else
	PAIRS=()
	for d in "$PAIRS_DIR"/pairs-*/*/; do
		[[ -f $d/old.img && -f $d/new.img ]] && PAIRS+=("${d%/}")
	done
fi
[[ ${#PAIRS[@]} -gt 0 ]] || die "no pair found under $PAIRS_DIR/pairs-*/ (run bench/pairs.sh)"

W=$(mktemp -d "${TMPDIR:-/tmp}/levers.XXXXXX")
trap 'rm -rf -- "$W"' EXIT
trap 'exit 130' INT TERM

say "building bench/levers.c"
(cd "$REPO" && cc -O2 -std=c11 -pthread -Wall -Wextra -Isrc/lib -o "$W/levers" bench/levers.c \
	src/lib/chunker.c src/lib/chunker_table.c -lzstd -lcrypto) || die "cc failed (libzstd-dev, libssl-dev?)"

printf '# levers.sh %s commit %s\n' "$(date -u +%Y-%m-%dT%H:%MZ)" "$COMMIT" >>"$TSV"
printf 'pair\tvariant\tchunks\tmissing\tmissing_ubytes\tpayload\theader_est\ttotal\tratio\n' >>"$TSV"
for p in "${PAIRS[@]}"; do
	[[ -f $p/old.img && -f $p/new.img ]] || die "$p: no old.img/new.img"
	name=$(basename "$p")
	say "$name ($(awk '$1 == "format" { print $2 }' "$p/info" 2>/dev/null || echo ?))"
	nice -n 19 "$W/levers" -j "$THREADS" ${LEVERS_QUICK:+-q} -p "$name" -t "$TSV" \
		"$p/old.img" "$p/new.img"
done

# The baseline must be what zckup makes and plans: row 1r counts what plan counts.
if [[ ${LEVERS_CHECK:-0} == 1 ]]; then
	need jq jq
	ZCKUP=${ZCKUP:-$REPO/build-release/zckup}
	[[ -x $ZCKUP ]] || die "LEVERS_CHECK=1 needs ZCKUP=path/to/zckup (not found: $ZCKUP)"
	p=${PAIRS[0]}
	say "cross-check: zckup make (default) + plan --json on $(basename "$p")"
	nice -n 19 "$ZCKUP" make -q -t "$THREADS" "$p/new.img" -o "$W/new.zck" -H "$W/new.zckh"
	nice -n 19 "$ZCKUP" plan --json --source "$p/old.img" "$W/new.zckh" >"$W/plan.json"
	note "plan: $(jq -r '"\(.fetch_chunks) chunks, \(.fetch_uncompressed_bytes) uncompressed, \(.fetch_compressed_bytes) compressed, fetch_bytes \(.fetch_bytes)"' "$W/plan.json")"
	note "header: $(stat -c %s "$W/new.zckh") bytes (levers' estimate counts index entries only)"
fi
say "TSV: $TSV"
