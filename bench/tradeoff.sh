#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# What a device fetches, per artifact variant, on the real image pairs of bench/pairs.sh
# (bench/README.md, "tradeoff.sh"). For each pair and variant: the .zck is made from new.img,
# `zckup plan --json` against old.img tells the payload a device fetches, the header is added,
# and the sum is compared with the baseline `zck -u -h sha256` artifact of the same image,
# with a full `zstd -19` of new.img and with `zstd --patch-from=old.img` (the stateful lower
# bound). Every apply is checked with cmp against new.img.
#
#   bench/tradeoff.sh [PAIRS_OUT_DIR]   # default: run bench/pairs.sh (cached) and use its pairs
#
# Environment:
#   ZCKUP              zckup binary (default: build $BUILD_DIR, release)
#   BUILD_DIR          meson build dir used when ZCKUP is unset (default <repo>/build-release)
#   PAIRS_DIR          as for pairs.sh (default /tmp/zckup-pairs); work files go in
#                      $PAIRS_DIR/tradeoff.XXXXXX, removed at the end (TRADEOFF_KEEP=1 keeps)
#   TRADEOFF_PAIRS     pairs to measure (default: every pair directory found)
#   TRADEOFF_VARIANTS  'name:zckup make options;...' (default below); a variant whose options
#                      this zckup does not accept is printed as n/a
#   TRADEOFF_THREADS   make's --threads and zstd's -T (default: online CPUs)
#   TRADEOFF_FULL      options of the full zstd of new.img (default '-19')
#   TRADEOFF_PATCH     level options of zstd --patch-from (default '-19')
#   TRADEOFF_TSV       the machine-readable table (default $PAIRS_DIR/tradeoff-DATE.tsv)
#   TRADEOFF_REFS=0    skip the two zstd references (the slow part: minutes each)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh"
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
export LC_ALL=C
PAIRS_DIR=${PAIRS_DIR:-/tmp/zckup-pairs}
BUILD_DIR=${BUILD_DIR:-$REPO/build-release}
VARIANTS=${TRADEOFF_VARIANTS:-default:;compat:--profile compat;l9:-l 9;l22:-l 22;dict:--dict auto}
THREADS=${TRADEOFF_THREADS:-$(nproc)}
FULL=${TRADEOFF_FULL:--19}
PATCH=${TRADEOFF_PATCH:--19}
# Targets of issue 10 (device bytes / the zck baseline's, and / zstd --patch-from's).
T_DEFAULT=0.8
T_BEST=0.6
T_MOON=2.5

need zck zchunk
need zstd zstd
need jq jq
need cmp diffutils

if [[ -n ${ZCKUP:-} ]]; then
	[[ -x $ZCKUP ]] || die "ZCKUP=$ZCKUP is not an executable"
else
	mkdir -p "$PAIRS_DIR"
	ZCKUP=$(bench_build_zckup "$REPO" "$BUILD_DIR" "$PAIRS_DIR/build.log")
fi
ZCKUP=$(cd "$(dirname "$ZCKUP")" && pwd)/$(basename "$ZCKUP")
VERSION=$("$ZCKUP" --version)
COMMIT=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)

if [[ $# -ge 1 ]]; then
	OUT=$1
else
	OUT=$("$SCRIPT_DIR/pairs.sh" | tee /dev/stderr | tail -1)
fi
[[ -d $OUT ]] || die "$OUT: no such pairs directory (run bench/pairs.sh)"
PAIRS=${TRADEOFF_PAIRS:-$(cd "$OUT" && for d in */; do [[ -f $d/.done ]] && echo "${d%/}"; done)}
[[ -n $PAIRS ]] || die "no pair in $OUT"

W=$(mktemp -d "$PAIRS_DIR/tradeoff.XXXXXX")
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local rc=$?
	if [[ ${TRADEOFF_KEEP:-0} == 1 ]]; then
		echo "tradeoff: kept $W" >&2
	else
		rm -rf -- "$W"
	fi
	[[ $rc -eq 0 ]] || echo "tradeoff: FAILED (exit $rc); see the messages above" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM
TSV=${TRADEOFF_TSV:-$PAIRS_DIR/tradeoff-$(date -u +%Y%m%dT%H%M%SZ).tsv}

# timed VAR CMD...: runs CMD, sets VAR to its wall time in seconds.
timed() {
	local __v=$1 t0 t1
	shift
	t0=$(date +%s%N)
	"$@" || return
	t1=$(date +%s%N)
	printf -v "$__v" '%.1f' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e9 }')"
}
jget() { jq -r ".$2" <"$1"; }
num() { awk -v v="$1" 'BEGIN { s = sprintf("%d", v); o = ""
	while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
	print s o }'; }
# r2/r4 A B: A / B to 2 or 4 places, or "-" / "" when B is unknown (no references measured).
r2() { if [[ -n $2 ]]; then ratio "$1" "$2"; else echo -; fi; }
r4() { [[ -z $2 ]] || awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r <= t) ? "ok" : "MISS" }'; }

# A variant is supported when make accepts its options on a tiny image (exit 2 = usage error).
head -c 1048576 /usr/bin/zstd >"$W/tiny.img" 2>/dev/null || seed_stream | head -c 1048576 >"$W/tiny.img"
supported() {
	local rc=0
	# shellcheck disable=SC2086 # the options are words
	"$ZCKUP" make -q "$W/tiny.img" -o "$W/tiny.zck" $1 >/dev/null 2>"$W/tiny.err" || rc=$?
	rm -f "$W/tiny.zck"
	[[ $rc == 0 ]] && return 0
	[[ $rc == 2 ]] && return 1
	cat "$W/tiny.err" >&2
	die "zckup make $1 on a tiny image failed (exit $rc)"
}

printf 'pair\tvariant\toptions\tstatus\tzck_bytes\theader_bytes\tfetch_bytes\tdevice_bytes\twire_estimate\treused_bytes\tratio_baseline\tratio_patch\tmake_s\tapply_s\tzckup\tcommit\n' >"$TSV"
tsv() { (IFS=$'\t'; printf '%s\n' "$*") >>"$TSV"; }

say "zckup: $VERSION ($ZCKUP, repo $COMMIT); $(nproc) cores, $(cpu_model); load $(cut -d' ' -f1-3 /proc/loadavg)"
note "pairs: $OUT"
note "variants: zck (zck -u -h sha256, the baseline); $VARIANTS"

# measure_variant PAIR NAME KIND OPTS: makes D/NAME.zck (KIND zck or zckup), plans and applies it.
# Sets M_* for the caller.
measure_variant() {
	local p=$1 name=$2 kind=$3 opts=$4 d=$OUT/$1 z=$W/$2.zck
	rm -f "$z" "$W/$name.zckh"
	if [[ $kind == zck ]]; then
		timed M_MAKE zck -u -h sha256 -o "$z" "$d/new.img"
		"$ZCKUP" extract-header "$z" -o "$W/$name.zckh"
	else
		# shellcheck disable=SC2086 # the options are words
		timed M_MAKE "$ZCKUP" make -q "$d/new.img" -o "$z" -H "$W/$name.zckh" -t "$THREADS" $opts
	fi
	M_ZCK=$(fsize "$z")
	M_HDR=$("$ZCKUP" inspect --json "$W/$name.zckh" | jq -r .header_bytes)
	# --url: for a --profile fine .zck, plan reads the piece tables and the sources' pieces and
	# tells what apply fetches (fine_fetch_bytes: tables + frames); without it, whole chunks
	"$ZCKUP" plan -q --json --source "$d/old.img" "$W/$name.zckh" --url "$z" \
		>"$W/$name.plan.json"
	M_FETCH=$(jget "$W/$name.plan.json" fetch_bytes)
	[[ $(jq -r '.fine // false' "$W/$name.plan.json") != true ]] ||
		M_FETCH=$(jget "$W/$name.plan.json" fine_fetch_bytes)
	M_WIRE=$(jget "$W/$name.plan.json" wire_bytes_estimate)
	M_REUSED=$(jget "$W/$name.plan.json" reused_bytes)
	M_DEV=$((M_FETCH + M_HDR))
	warm_cache "$d/old.img" "$z"
	timed M_APPLY "$ZCKUP" apply -q --header "$W/$name.zckh" --url "$z" --source "$d/old.img" \
		-o "$W/out.img"
	cmp -s "$W/out.img" "$d/new.img" || die "$p/$name: apply wrote an image that is not new.img"
	# the payload plan predicted is what apply reads (apply's own count, not timed)
	local got
	got=$("$ZCKUP" apply -q --json --header "$W/$name.zckh" --url "$z" --source "$d/old.img" \
		-o "$W/out.img" | jq -r '.fetched_bytes')
	[[ $got == "$M_FETCH" ]] || note "$p/$name: plan said $M_FETCH payload bytes, apply read $got"
	rm -f "$W/out.img" "$z"
}

SUMMARY=()
for p in $PAIRS; do
	d=$OUT/$p
	[[ -f $d/old.img && -f $d/new.img ]] || die "$d: old.img or new.img missing"
	say "pair $p: old $(mib "$(fsize "$d/old.img")"), new $(mib "$(fsize "$d/new.img")")," \
		"$(wc -l <"$d/packages.diff") packages changed"

	# The references: a full zstd of new.img, and zstd --patch-from=old.img (window over both).
	wlog=10 t_full="" t_patch="" s_full="" s_patch=""
	if [[ ${TRADEOFF_REFS:-1} != 0 ]]; then
		while (((1 << wlog) < $(fsize "$d/old.img") + $(fsize "$d/new.img"))); do wlog=$((wlog + 1)); done
		((wlog <= 31)) || wlog=31
		# shellcheck disable=SC2086 # the options are words
		timed t_full zstd -q -f $FULL -T"$THREADS" "$d/new.img" -o "$W/full.zst"
		s_full=$(fsize "$W/full.zst")
		rm -f "$W/full.zst"
		note "zstd $FULL -T$THREADS of new.img: $(num "$s_full") bytes, $t_full s"
		# shellcheck disable=SC2086 # the options are words
		# (its advice on a better patch goes to a file, not the table)
		timed t_patch zstd -q -f $PATCH -T"$THREADS" --long="$wlog" --patch-from="$d/old.img" \
			"$d/new.img" -o "$W/patch.zst" 2>"$W/zstd.err" ||
			{ cat "$W/zstd.err" >&2; die "$p: zstd --patch-from failed"; }
		s_patch=$(fsize "$W/patch.zst")
		zstd -q -d -f --long="$wlog" --patch-from="$d/old.img" "$W/patch.zst" -o "$W/out.img"
		cmp -s "$W/out.img" "$d/new.img" || die "$p: zstd --patch-from did not round-trip"
		rm -f "$W/out.img" "$W/patch.zst"
		note "zstd $PATCH --long=$wlog --patch-from=old.img: $(num "$s_patch") bytes, $t_patch s"
	fi

	rows=()
	measure_variant "$p" zck zck ""
	base=$M_DEV
	rows+=("zck|zck -u -h sha256|$M_ZCK|$M_HDR|$M_FETCH|$M_DEV|1.00|$(r2 "$M_DEV" "$s_patch")|$M_MAKE|$M_APPLY|-")
	tsv "$p" zck "zck -u -h sha256" ok "$M_ZCK" "$M_HDR" "$M_FETCH" "$M_DEV" "$M_WIRE" "$M_REUSED" \
		1 "$(r4 "$M_DEV" "$s_patch")" "$M_MAKE" "$M_APPLY" "$VERSION" "$COMMIT"
	note "zck: device $(num "$M_DEV") bytes, .zck $(num "$M_ZCK"), $M_MAKE s make, $M_APPLY s apply"
	best=""
	best_name=""
	IFS=';' read -r -a vlist <<<"$VARIANTS"
	for v in "${vlist[@]}"; do
		[[ -n $v ]] || continue
		name=${v%%:*}
		opts=${v#*:}
		[[ $v == *:* ]] || opts=""
		if ! supported "$opts"; then
			rows+=("$name|$opts|n/a (option not supported by this build)")
			tsv "$p" "$name" "$opts" "n/a" "" "" "" "" "" "" "" "" "" "" "$VERSION" "$COMMIT"
			continue
		fi
		measure_variant "$p" "$name" zckup "$opts"
		r=$(ratio "$M_DEV" "$base")
		target=""
		[[ $name == default ]] && target="<= $T_DEFAULT $(verdict "$r" "$T_DEFAULT")"
		rows+=("$name|make -t $THREADS $opts|$M_ZCK|$M_HDR|$M_FETCH|$M_DEV|$r|$(r2 "$M_DEV" "$s_patch")|$M_MAKE|$M_APPLY|$target")
		tsv "$p" "$name" "$opts" ok "$M_ZCK" "$M_HDR" "$M_FETCH" "$M_DEV" "$M_WIRE" "$M_REUSED" \
			"$(r4 "$M_DEV" "$base")" "$(r4 "$M_DEV" "$s_patch")" \
			"$M_MAKE" "$M_APPLY" "$VERSION" "$COMMIT"
		note "$name: device $(num "$M_DEV") bytes ($r x zck), .zck $(num "$M_ZCK"), $M_MAKE s make," \
			"$M_APPLY s apply"
		if [[ -z $best ]] || ((M_DEV < best)); then best=$M_DEV best_name=$name; fi
	done
	if [[ -n $s_patch ]]; then
		tsv "$p" zstd-full "zstd $FULL -T$THREADS" ok "$s_full" 0 "$s_full" "$s_full" "" 0 \
			"$(r4 "$s_full" "$base")" "$(r4 "$s_full" "$s_patch")" "$t_full" "" "$VERSION" "$COMMIT"
		tsv "$p" zstd-patch "zstd $PATCH --long=$wlog --patch-from" ok "$s_patch" 0 "$s_patch" \
			"$s_patch" "" "" "$(r4 "$s_patch" "$base")" 1 "$t_patch" "" "$VERSION" "$COMMIT"
	fi

	say "pair $p ($(wc -l <"$d/packages.diff") packages changed): bytes a device fetches" \
		"(payload from zckup plan + header)"
	{
		echo "variant|options|.zck|header|payload|device|/zck|/patch|make s|apply s|target"
		printf '%s\n' "${rows[@]}"
		if [[ -n $s_patch ]]; then
			echo "zstd-full|zstd $FULL -T$THREADS of new.img|$s_full|-|-|$s_full|$(ratio "$s_full" "$base")|$(ratio "$s_full" "$s_patch")|$t_full|-|"
			echo "zstd-patch|zstd $PATCH --long=$wlog --patch-from=old.img|$s_patch|-|-|$s_patch|$(ratio "$s_patch" "$base")|1.00|$t_patch|-|"
		fi
	} | awk -F'|' '
		function n(v) { if (v !~ /^[0-9]+$/) return v; s = v; o = ""
			while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
			return s o }
		NF == 3 { printf "   %-10s %-40s %s\n", $1, $2, $3; next }
		{ printf "   %-10s %-40s %13s %9s %13s %13s %6s %7s %7s %7s %s\n", $1, $2, n($3), n($4), n($5),
			n($6), $7, $8, $9, $10, $11 }'
	if [[ -n $best ]]; then
		rb=$(ratio "$best" "$base")
		rp=$(r2 "$best" "$s_patch")
		mv="$(verdict "$rp" "$T_MOON")"
		[[ -n $s_patch ]] || mv="not measured"
		note "best variant: $best_name, $rb x the zck baseline (target <= $T_BEST: $(verdict "$rb" "$T_BEST"))," \
			"$rp x zstd --patch-from (moonshot <= $T_MOON: $mv)"
		SUMMARY+=("$p: best $best_name $rb x zck, $rp x patch-from")
	fi
done

say "done"
for s in "${SUMMARY[@]}"; do note "$s"; done
note "TSV: $TSV"
