#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# apply against the machine's floor for its work (issue 8): on the ext4 pair of
# bench/run.sh, the wall time of `zckup apply` with and without --source-index
# next to one read of the source (openssl dgst -sha256) plus one write of the
# image (dd conv=fsync), on all cores and on one (taskset). Warm page cache
# throughout; medians of BENCH_RUNS runs. Prints a table of ratios to the floor.
#
# Environment: ZCKUP, BUILD_DIR, BENCH_DIR, BENCH_KEEP, BENCH_IMG_MIB (default 512),
# BENCH_RUNS (default 5), as for bench/run.sh; BENCH_PROFILE, make's --profile (default
# compat, the artifact of the issue 8 figures; fine for make's default).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh"
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/zckup-bench}
BUILD_DIR=${BUILD_DIR:-$REPO/build-bench}
IMG_MIB=${BENCH_IMG_MIB:-512}
RUNS=${BENCH_RUNS:-5}
export LC_ALL=C

[[ $IMG_MIB =~ ^[0-9]+$ && $IMG_MIB -ge 64 ]] || die "BENCH_IMG_MIB must be a number >= 64"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive number"
need mkfs.ext4 e2fsprogs
need openssl openssl
need dd coreutils
need cmp diffutils
TASKSET=$(command -v taskset || true)

bench_zckup "$REPO" "$BUILD_DIR" "$BENCH_DIR"

bench_workdir speed

# timed NAME CMD...: median wall seconds of RUNS runs (after one warm-up run).
timed() {
	local name=$1 i t0 t1
	shift
	: >"$W/$name.times"
	for ((i = 0; i <= RUNS; i++)); do
		t0=$(date +%s.%N)
		"$@" >/dev/null 2>"$W/$name.err" || { cat "$W/$name.err" >&2; die "$name failed: $*"; }
		t1=$(date +%s.%N)
		((i == 0)) || awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' \
			>>"$W/$name.times"
	done
	median_of "$W/$name.times"
}
# The floor: read and hash the source once, write the image once and sync it.
floor() {
	openssl dgst -sha256 "$W/old.img" >/dev/null &&
		dd if="$W/new.img" of="$W/dd.img" bs=1M conv=fsync status=none
}
apply_noix() {
	"$ZCKUP" apply -q --header "$W/new.zckh" --url "$W/new.zck" --source "$W/old.img" \
		--target "$W/out.img" --rewrite-all
}
apply_ix() {
	"$ZCKUP" apply -q --header "$W/new.zckh" --url "$W/new.zck" --source "$W/old.img" \
		--source-index "$W/old.zckh" --target "$W/out.img" --rewrite-all
}

say "machine: $(nproc) cores, $(cpu_model); zckup $("$ZCKUP" --version)"
say "building the image pair ($IMG_MIB MiB ext4) from files under /usr"
bench_image_pair "$W" "$IMG_MIB"
"$ZCKUP" make -q "$W/old.img" -o "$W/old.zck" -H "$W/old.zckh" --level 1 --threads 2
"$ZCKUP" make -q "$W/new.img" -o "$W/new.zck" -H "$W/new.zckh" --level 9 --threads 2 \
	--profile "${BENCH_PROFILE:-compat}"
rm -f "$W/old.zck"
"$ZCKUP" plan -q --json --source "$W/old.img" "$W/new.zckh" >"$W/plan.json"
note "plan: $(tr -d '\n' <"$W/plan.json" | head -c 200)"

warm_cache "$W/old.img" "$W/new.img" "$W/new.zck" "$W/old.zckh" "$W/new.zckh"
apply_noix && cmp -s "$W/out.img" "$W/new.img" || die "apply without the index: wrong image"
apply_ix && cmp -s "$W/out.img" "$W/new.img" || die "apply with the index: wrong image"

declare -A T
for cores in all one; do
	pin=()
	if [[ $cores == one ]]; then
		[[ -n $TASKSET ]] || { note "no taskset: one-core rows skipped"; break; }
		pin=("$TASKSET" -c 0)
	fi
	say "timing on $cores core(s), median of $RUNS"
	T[floor_$cores]=$(timed "floor_$cores" "${pin[@]}" bash -c "$(declare -f floor); W=$W; floor")
	T[noix_$cores]=$(timed "noix_$cores" "${pin[@]}" "$ZCKUP" apply -q --header "$W/new.zckh" \
		--url "$W/new.zck" --source "$W/old.img" --target "$W/out.img" --rewrite-all)
	T[ix_$cores]=$(timed "ix_$cores" "${pin[@]}" "$ZCKUP" apply -q --header "$W/new.zckh" \
		--url "$W/new.zck" --source "$W/old.img" --source-index "$W/old.zckh" \
		--target "$W/out.img" --rewrite-all)
	T[plan_noix_$cores]=$(timed "plan_noix_$cores" "${pin[@]}" "$ZCKUP" plan -q \
		--source "$W/old.img" "$W/new.zckh")
	T[plan_ix_$cores]=$(timed "plan_ix_$cores" "${pin[@]}" "$ZCKUP" plan -q \
		--source "$W/old.img" --source-index "$W/old.zckh" "$W/new.zckh")
done
cmp -s "$W/out.img" "$W/new.img" || die "the last apply wrote a wrong image"

say "results: $IMG_MIB MiB ext4 pair, $(nproc) cores, $(cpu_model)"
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 <= b + 0) ? "ok" : "MISS" }'; }
printf '%-44s %9s %9s %7s %8s  %s\n' figure zckup floor ratio target verdict
printf '%s\n' "$(printf '%.0s-' {1..88})"
for cores in all one; do
	[[ -n ${T[floor_$cores]:-} ]] || continue
	f=${T[floor_$cores]}
	r=$(ratio "${T[ix_$cores]}" "$f")
	printf '%-44s %9s %9s %7s %8s  %s\n' "apply --source-index ($cores cores) (s)" \
		"${T[ix_$cores]}" "$f" "${r}x" "<= 1.2x" "$(le "$r" 1.2)"
	r=$(ratio "${T[noix_$cores]}" "$f")
	printf '%-44s %9s %9s %7s %8s  %s\n' "apply, source indexed ($cores cores) (s)" \
		"${T[noix_$cores]}" "$f" "${r}x" "<= 2x" "$(le "$r" 2)"
	r=$(ratio "${T[ix_$cores]}" "${T[noix_$cores]}")
	printf '%-44s %9s %9s %7s %8s  %s\n' "   with / without the index" \
		"${T[ix_$cores]}" "${T[noix_$cores]}" "${r}x" "-" info
	printf '%-44s %9s %9s %7s %8s  %s\n' "   plan with / without the index (s)" \
		"${T[plan_ix_$cores]}" "${T[plan_noix_$cores]}" \
		"$(ratio "${T[plan_ix_$cores]}" "${T[plan_noix_$cores]}")x" "-" info
done
echo
echo "floor = openssl dgst -sha256 of the source + dd conv=fsync of the image;"
echo "ratio = zckup / floor (at most the target meets it). apply writes a raw target"
echo "with --rewrite-all (every chunk written, as dd does); warm page cache."
