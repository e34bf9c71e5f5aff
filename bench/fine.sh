#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/fine.sh OLD.img NEW.img [LEVEL]: what `zckup make --profile fine` costs and saves on one
# image pair. Makes NEW.img with both profiles (zstd LEVEL, default 19), then plans and applies
# the update from OLD.img from each .zck (a local file), and prints: .zck sizes, make times,
# bytes a device reads (coarse: whole missing chunks; fine: piece tables + frames of the pieces
# no source holds), apply times, and that both outputs are byte-identical to NEW.img.
# bench/lib.sh's bench_image_pair DIR MIB makes an ext4 pair from /usr.
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
[ $# -ge 2 ] || die "usage: bench/fine.sh OLD.img NEW.img [LEVEL]"
old=$1 new=$2 level=${3:-19}
w=$(mktemp -d "${TMPDIR:-/tmp}/zckup-fine.XXXXXX")
trap 'rm -rf "$w"' EXIT
zu=$(bench_build_zckup "$here/.." "$here/../build-bench" "$w/build.log")
secs() { /usr/bin/time -f %e -o "$w/t" "$@" && cat "$w/t"; }

say "make (level $level, $(nproc) threads)"
t_c=$(secs "$zu" make "$new" -o "$w/compat.zck" -l "$level" --profile compat -q)
t_f=$(secs "$zu" make "$new" -o "$w/fine.zck" -l "$level" --profile fine -q)
c=$(fsize "$w/compat.zck") f=$(fsize "$w/fine.zck")
note "compat: $(mib "$c") in $t_c s; fine: $(mib "$f") in $t_f s; growth $(ratio "$f" "$c")x"

say "plan from $old"
"$zu" plan --source "$old" --json "$w/fine.zck" >"$w/plan.json"
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$@"; }
"$zu" plan --source "$old" --json "$w/compat.zck" >"$w/cplan.json"
hdr=$("$zu" inspect --json "$w/fine.zck" | python3 -c "import json,sys; print(json.load(sys.stdin)['header_bytes'])")
coarse=$(field "$w/cplan.json" fetch_bytes)
fine=$(field "$w/plan.json" fine_fetch_bytes)
note "missing chunks: $(field "$w/plan.json" fetch_chunks) ($(mib "$(field "$w/plan.json" fetch_uncompressed_bytes)") of image)"
note "pieces: $(field "$w/plan.json" pieces) in them, $(field "$w/plan.json" pieces_reused) in the source" \
	"($(mib "$(field "$w/plan.json" pieces_reused_bytes)")), $(field "$w/plan.json" pieces_fetched) to fetch"
note "device reads, header ($hdr bytes) included: compat .zck $((coarse + hdr)) bytes;" \
	"fine .zck $((fine + hdr)) bytes (tables $(field "$w/plan.json" fine_table_bytes) bytes):" \
	"$(ratio $((fine + hdr)) $((coarse + hdr)))x"

say "apply from $old (local .zck)"
t_ac=$(secs "$zu" apply --url "$w/compat.zck" --source "$old" -o "$w/c.img" -q)
/usr/bin/time -f %e -o "$w/t" "$zu" apply --url "$w/fine.zck" --source "$old" -o "$w/f.img" \
	-q --json >"$w/apply.json"
t_af=$(cat "$w/t")
cmp "$w/c.img" "$new" && cmp "$w/f.img" "$new" && note "both outputs identical to $new"
note "apply: compat $t_ac s, fine $t_af s (fetched $(field "$w/apply.json" fetched_bytes) bytes," \
	"$(field "$w/apply.json" fine_fallback_chunks) fallbacks)"
