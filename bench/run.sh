#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# zckup benchmark: builds an ext4 image pair from real files on this machine and measures
# zckup against the obvious baselines (sha256sum, zck, zstd). See bench/README.md.
#
# Environment:
#   ZCKUP           zckup binary to measure (default: build $BUILD_DIR with meson, release)
#   BUILD_DIR       meson build dir used when ZCKUP is unset (default: <repo>/build-bench)
#   BENCH_DIR       work dir parent (default /tmp/zckup-bench); our files go in a fresh
#                   subdirectory that is removed at the end
#   BENCH_KEEP=1    keep the work subdirectory (its path is printed)
#   BENCH_IMG_MIB   size of the ext4 images (default 300, at least 256)
#   BENCH_BIG_MIB   size of the large pair for the RSS check (default 1024)
#   BENCH_RUNS      runs per cheap timed command; the median is reported (default 3)
#   BENCH_SLOW_RUNS runs of the slow baseline 'zck' (default 1: ~45 s a run)
#   BENCH_HYPERFINE=0  time with /usr/bin/time even when hyperfine is installed
#   BENCH_STRICT=1  exit 1 when a figure misses its target (default: report only)
#   BENCH_PROFILE   make's --profile (default compat: the layout zck writes, which the make
#                   and apply comparisons with zck are about; fine for make's default)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh"
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/zckup-bench}
BUILD_DIR=${BUILD_DIR:-$REPO/build-bench}
IMG_MIB=${BENCH_IMG_MIB:-300}
BIG_MIB=${BENCH_BIG_MIB:-1024}
RUNS=${BENCH_RUNS:-3}
SLOW_RUNS=${BENCH_SLOW_RUNS:-1}
export LC_ALL=C

[[ $IMG_MIB =~ ^[0-9]+$ && $IMG_MIB -ge 256 ]] || die "BENCH_IMG_MIB must be a number >= 256"
[[ $BIG_MIB =~ ^[0-9]+$ && $BIG_MIB -gt $IMG_MIB ]] || die "BENCH_BIG_MIB must exceed BENCH_IMG_MIB"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive number"
[[ $SLOW_RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_SLOW_RUNS must be a positive number"

# ---------------------------------------------------------------- tools
need mkfs.ext4 e2fsprogs
need sha256sum coreutils
need shuf coreutils
need zck zchunk
need zstd zstd
need openssl openssl
need tar tar
need cmp diffutils
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found; install it (apt-get install time)"
HYPERFINE=$(command -v hyperfine || true)
[[ ${BENCH_HYPERFINE:-1} != 0 ]] || HYPERFINE=""

bench_zckup "$REPO" "$BUILD_DIR" "$BENCH_DIR"

# ---------------------------------------------------------------- work dir
bench_workdir run

avail_mib=$(df -Pm "$W" | awk 'NR == 2 { print $4 }')
need_mib=$((3 * IMG_MIB + 3 * BIG_MIB + 2 * BIG_MIB / 2 + 600))
((avail_mib >= need_mib)) || die "$W has $avail_mib MiB free; the bench needs ~$need_mib MiB"

# ---------------------------------------------------------------- helpers
# timed NAME RUNS WARMUP CMD...: median wall seconds of RUNS runs of CMD (output discarded)
# after WARMUP unmeasured runs; hyperfine when installed, else /usr/bin/time.
timed() {
	local name=$1 runs=$2 warm=$3 i
	shift 3
	if [[ -n $HYPERFINE ]]; then
		"$HYPERFINE" -N --style none --runs "$runs" --warmup "$warm" \
			--export-json "$W/$name.hf.json" -- "$(printf '%q ' "$@")" >"$W/$name.hf" 2>&1 ||
			{ cat "$W/$name.hf" >&2; die "$name: command failed: $*"; }
		jq -r '.results[0].median' "$W/$name.hf.json" | awk '{ printf "%.3f\n", $1 }'
		return
	fi
	: >"$W/$name.times"
	for ((i = 0; i < warm + runs; i++)); do
		/usr/bin/time -f '%e' -o "$W/$name.t" "$@" >/dev/null 2>"$W/$name.err" ||
			{ cat "$W/$name.err" >&2; die "$name: command failed: $*"; }
		((i < warm)) || tail -1 "$W/$name.t" >>"$W/$name.times"
	done
	median_of "$W/$name.times"
}

# peak_rss NAME CMD...: runs CMD once, prints its peak RSS in KiB (output to $W/NAME.out).
peak_rss() {
	local name=$1
	shift
	/usr/bin/time -f '%M' -o "$W/$name.rss" "$@" >"$W/$name.out" 2>"$W/$name.err" ||
		{ cat "$W/$name.err" >&2; die "$name: command failed: $*"; }
	tail -1 "$W/$name.rss"
}

json_num() { jq -er ".$2" "$1" || die "no numeric '$2' in $1: $(head -c 300 "$1")"; }

# ---------------------------------------------------------------- image pair
say "machine: $(nproc) cores, $(cpu_model)," \
	"$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
note "zckup:  $ZCKUP ($("$ZCKUP" --version))"
note "zck:    $(zck --version | head -1); zstd $(zstd -V | grep -o 'v[0-9.]*' | head -1)"
note "timing: ${HYPERFINE:-/usr/bin/time}, median of $RUNS run(s) ($SLOW_RUNS for zck);" \
	"work dir $W"

say "building the image pair ($IMG_MIB MiB ext4) from files under /usr"
bench_image_pair "$W" "$IMG_MIB"

# ---------------------------------------------------------------- b. make vs zck
PROFILE=${BENCH_PROFILE:-compat}
say "b. zckup make --level 9 --threads 2 --profile $PROFILE vs zck -u -h sha256 (zck's default zstd level is 9)"
warm_cache "$W/new.img"
t_make=$(timed make "$RUNS" 0 "$ZCKUP" make "$W/new.img" -o "$W/new.zck" -H "$W/new.zckh" \
	--level 9 --threads 2 --profile "$PROFILE" -q)
t_make1=$(timed make1 1 0 "$ZCKUP" make "$W/new.img" -o "$W/new1.zck" --level 9 --threads 1 \
	--profile "$PROFILE" -q)
rm -f "$W/new1.zck"
t_zck=$(timed zck "$SLOW_RUNS" 0 zck -u -h sha256 -o "$W/ref.zck" "$W/new.img")
[[ -s $W/new.zck && -s $W/new.zckh ]] || die "zckup make wrote no new.zck / new.zckh"
s_zck_ours=$(fsize "$W/new.zck") s_zck_ref=$(fsize "$W/ref.zck") s_hdr=$(fsize "$W/new.zckh")
note "zckup make: ${t_make}s -> $(mib "$s_zck_ours") (header $s_hdr bytes);" \
	"with --threads 1: ${t_make1}s"
note "zck:        ${t_zck}s -> $(mib "$s_zck_ref")"
# Chunk boundaries are zchunk's, so both files must list the same number of chunks.
n_ours=$("$ZCKUP" inspect --json "$W/new.zck" | jq -r .chunks) || die "zckup inspect new.zck failed"
n_ref=$("$ZCKUP" inspect --json "$W/ref.zck" | jq -r .chunks) || die "zckup inspect ref.zck failed"
note "chunks: zckup $n_ours, zck $n_ref (as read by zckup inspect)"

# ---------------------------------------------------------------- a. indexing
say "a. indexing: zckup plan --source old.img (warm cache) vs sha256sum old.img"
warm_cache "$W/old.img" "$W/new.zckh"
t_sha=$(timed sha256 "$RUNS" 1 sha256sum "$W/old.img")
t_ossl=$(timed openssl "$RUNS" 1 openssl dgst -sha256 "$W/old.img")
t_plan=$(timed plan "$RUNS" 1 "$ZCKUP" plan -q --source "$W/old.img" "$W/new.zckh")
note "sha256sum: ${t_sha}s   openssl dgst -sha256: ${t_ossl}s   zckup plan: ${t_plan}s" \
	"($IMG_MIB MiB source)"

# ---------------------------------------------------------------- d. bytes to fetch
say "d. bytes to fetch vs a full download"
"$ZCKUP" plan -q --json --source "$W/old.img" "$W/new.zckh" >"$W/plan.json" ||
	die "zckup plan --json failed"
fetch=$(json_num "$W/plan.json" fetch_bytes)
reused=$(json_num "$W/plan.json" reused_bytes)
s_zstd=$(zstd -q -19 -T2 -c "$W/new.img" | wc -c)  # ~90 s: the slowest step
note "fetch_bytes $fetch ($(mib "$fetch")), reused $(mib "$reused") of $IMG_MIB MiB;" \
	"zstd -19 -T2 $(mib "$s_zstd"); new.zck $(mib "$s_zck_ours")"

# ---------------------------------------------------------------- c. apply RSS + time
say "c. apply: peak RSS and time"
apply() { # apply NAME HEADER ZCK SOURCE TARGET REF
	rm -f "$5"
	peak_rss "$1" "$ZCKUP" apply -q --header "$2" --url "$3" --source "$4" --target "$5"
	cmp -s "$5" "$6" || die "$1: $5 differs from $6"
}
warm_cache "$W/old.img" "$W/new.zck"
rss_300=$(apply apply300 "$W/new.zckh" "$W/new.zck" "$W/old.img" "$W/out.img" "$W/new.img")
t_apply=$(timed apply "$RUNS" 0 "$ZCKUP" apply -q --header "$W/new.zckh" --url "$W/new.zck" \
	--source "$W/old.img" --target "$W/out.img")
cmp -s "$W/out.img" "$W/new.img" || die "apply: out.img differs from new.img"
note "$IMG_MIB MiB: peak RSS $rss_300 KiB, ${t_apply}s, output identical"

# The large pair: both images grow by the same fixed pseudo-random tail, so the new header
# describes a $BIG_MIB MiB image and the source is $BIG_MIB MiB; the tail is all reused.
pad=$(((BIG_MIB - IMG_MIB) * 1048576))
seed_stream | head -c "$pad" >"$W/pad"
cat "$W/old.img" "$W/pad" >"$W/old-big.img"
cat "$W/new.img" "$W/pad" >"$W/new-big.img"
rm -f "$W/pad" "$W/out.img"
"$ZCKUP" make -q "$W/new-big.img" -o "$W/new-big.zck" -H "$W/new-big.zckh" --level 9 \
	--threads 2 --profile "$PROFILE" || die "zckup make of the $BIG_MIB MiB image failed"
s_hdr_big=$(fsize "$W/new-big.zckh")
# Same small header, big source: only the source grew.
rss_src=$(apply applysrc "$W/new.zckh" "$W/new.zck" "$W/old-big.img" "$W/out.img" \
	"$W/new.img")
rm -f "$W/out.img"
rss_big=$(apply applybig "$W/new-big.zckh" "$W/new-big.zck" "$W/old-big.img" \
	"$W/out-big.img" "$W/new-big.img")
/usr/bin/time -f %e -o "$W/applybig.t" "$ZCKUP" apply -q --header "$W/new-big.zckh" \
	--url "$W/new-big.zck" --source "$W/old-big.img" --target "$W/out-big.img" ||
	die "zckup apply of the $BIG_MIB MiB pair failed"
t_apply_big=$(tail -1 "$W/applybig.t")
note "$IMG_MIB MiB header, $BIG_MIB MiB source: peak RSS $rss_src KiB"
note "$BIG_MIB MiB pair: peak RSS $rss_big KiB (header $s_hdr_big bytes), ${t_apply_big}s"

# ---------------------------------------------------------------- table
say "results ($(nproc) cores, $(cpu_model))"
misses=0
# row FIGURE ZCKUP BASELINE RATIO TARGET OK(0/1/-)
row() {
	local verdict=info
	[[ $6 == 1 ]] && verdict=ok
	[[ $6 == 0 ]] && { verdict=MISS; misses=$((misses + 1)); }
	printf '%-38s %13s %13s %7s %11s  %s\n' "$1" "$2" "$3" "$4" "$5" "$verdict"
}
ge() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 >= b + 0) ? 1 : 0 }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 <= b + 0) ? 1 : 0 }'; }

printf '%-38s %13s %13s %7s %11s  %s\n' figure zckup baseline ratio target verdict
printf '%s\n' "$(printf '%.0s-' {1..96})"
r=$(ratio "$t_sha" "$t_plan")
row "a. index $IMG_MIB MiB (s) vs sha256sum" "$t_plan" "$t_sha" "${r}x" ">= 0.8x" "$(ge "$r" 0.8)"
r=$(ratio "$t_ossl" "$t_plan")
row "   index (s) vs openssl dgst -sha256" "$t_plan" "$t_ossl" "${r}x" "-" -
r=$(ratio "$t_zck" "$t_make")
row "b. make -l9 -t2 (s) vs zck" "$t_make" "$t_zck" "${r}x" ">= 1.5x" "$(ge "$r" 1.5)"
r=$(ratio "$t_zck" "$t_make1")
row "   make -l9 -t1 (s) vs zck" "$t_make1" "$t_zck" "${r}x" "-" -
r=$(ratio "$s_zck_ref" "$s_zck_ours")
row "   .zck size (B) vs zck's" "$s_zck_ours" "$s_zck_ref" "${r}x" "-" -
lim=$((32 * 1024 + s_hdr / 1024))
row "c. apply RSS $IMG_MIB MiB (KiB)" "$rss_300" "$lim" "$(ratio "$rss_300" "$lim")" \
	"<= 32M+hdr" "$(le "$rss_300" "$lim")"
row "   $BIG_MIB MiB source, same header" "$rss_src" "$rss_300" "$(ratio "$rss_src" "$rss_300")" \
	"flat" "$(le "$rss_src" $((rss_300 + 2048)))"
lim=$((32 * 1024 + s_hdr_big / 1024))
row "   apply RSS $BIG_MIB MiB pair (KiB)" "$rss_big" "$lim" "$(ratio "$rss_big" "$lim")" \
	"<= 32M+hdr" "$(le "$rss_big" "$lim")"
r=$(ratio "$s_zstd" "$fetch")
row "d. fetch (B) vs zstd -19 -T2 image" "$fetch" "$s_zstd" "${r}x" "> 1x" "$(ge "$r" 1.0001)"
r=$(ratio "$s_zck_ours" "$fetch")
row "   fetch (B) vs whole new.zck" "$fetch" "$s_zck_ours" "${r}x" "> 1x" "$(ge "$r" 1.0001)"
row "   reused (B) of new image" "$reused" "$((IMG_MIB * 1048576))" \
	"$(ratio "$reused" $((IMG_MIB * 1048576)))" "-" -
row "   apply time $IMG_MIB MiB (s)" "$t_apply" "-" "-" "-" -
row "   apply time $BIG_MIB MiB (s)" "$t_apply_big" "-" "-" "-" -
echo
echo "ratio = baseline / zckup for times and sizes (higher is better for zckup);"
echo "ratio = zckup / limit for RSS (at most 1 meets the target). $misses target(s) missed."
echo "total bench time: ${SECONDS}s"
if ((misses > 0)) && [[ ${BENCH_STRICT:-0} == 1 ]]; then
	exit 1
fi
exit 0
