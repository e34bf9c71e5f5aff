#!/usr/bin/env bash
# zckup explain: what a device holding OLD fetches for NEW, per file. On
# every pair (raw images, ext4, tar, squashfs; fine and compat .zck files)
# the total attributed to files equals plan's figure to the byte, and the
# files sum to that total too; a file changed on purpose comes out on top
# with the bytes plan fetches for it.
. "$(dirname "$0")/lib.sh"
cd "$TEST_TMP"
export E2FSPROGS_FAKE_TIME=1700000000

# jq-free checks of explain's JSON: prints "total files_sum dirs_sum plan".
sums() {
	python3 - "$1" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
files = sum(f["fetch_bytes"] for f in j["files"])
# top-level groups: "/" and the bracketed pseudo-file groups
top = sum(d["fetch_bytes"] for d in j["dirs"] if d["path"] == "/" or d["path"].startswith("["))
cells = sum(c["fetch_bytes"] for c in j["map"])
print(j["fetch_bytes"], files, top, cells, j["plan_fetch_bytes"])
PY
}

# pair_case NAME OLD NEW [PLAN_OPTS...]: explain's totals equal plan's.
# Makes NAME.zck from NEW with the make options in $MAKE_OPTS.
pair_case() {
	local name=$1 old=$2 new=$3 want field
	shift 3
	# shellcheck disable=SC2086
	if ! "$ZCKUP" make "$new" -o "$name.zck" -q $MAKE_OPTS 2>"$TEST_TMP/err"; then
		not_ok "$name: make"
		diag "$TEST_TMP/err"
		return
	fi
	"$ZCKUP" plan --source "$old" "$name.zck" --json -q "$@" >"$name-plan.json"
	field=fetch_bytes
	[ "$(json_field "$name-plan.json" fine)" = True ] && field=fine_fetch_bytes
	want=$(json_field "$name-plan.json" $field)
	if ! "$ZCKUP" explain "$old" "$new" --zck "$name.zck" --json -q "$@" >"$name.json" \
		2>"$TEST_TMP/err"; then
		not_ok "$name: explain"
		diag "$TEST_TMP/err"
		return
	fi
	read -r total files top cells plan < <(sums "$name.json")
	assert "$name: explain's total is plan's $field ($total = $want)" "[ '$total' = '$want' ]"
	assert "$name: explain reports plan's figure ($plan)" "[ '$plan' = '$want' ]"
	assert "$name: the files add up to the total ($files)" "[ '$files' = '$want' ]"
	assert "$name: the top directories and groups add up to the total ($top)" \
		"[ '$top' = '$want' ]"
	assert "$name: the map cells add up to the total ($cells)" "[ '$cells' = '$want' ]"
	assert "$name: something is fetched" "[ '$want' -gt 0 ]"
}

# Raw images: no file system, explained by offset ranges.
$GEN image 1 6000000 raw-old.img
$GEN edit scatter 2 raw-old.img raw-new.img
MAKE_OPTS="--level 3" pair_case raw-fine raw-old.img raw-new.img
MAKE_OPTS="--level 3" pair_case raw-nofine raw-old.img raw-new.img --no-fine
MAKE_OPTS="--level 3 --profile compat" pair_case raw-compat raw-old.img raw-new.img
assert "raw: no file system found" "[ \"\$(json_field raw-fine.json fs)\" = none ]"
python3 - raw-fine.json >raw-top.txt <<'PY'
import json, sys
print(json.load(open(sys.argv[1]))["files"][0]["path"])
PY
assert "raw: entries are offset ranges ($(cat raw-top.txt))" "grep -q '^\[offsets 0x' raw-top.txt"

# The same through the temporary .zck explain makes itself: the same figure.
"$ZCKUP" explain raw-old.img raw-new.img --level 3 --json -q >raw-self.json
assert "raw: explain without --zck makes the same .zck (same total)" \
	"[ \"\$(json_field raw-self.json fetch_bytes)\" = \"\$(json_field raw-fine.json fetch_bytes)\" ]"
check "explain: the table prints" "$ZCKUP" explain raw-old.img raw-new.img --zck raw-fine.zck -q
assert "explain: the table ends with the total line" "grep -q '^total: ' '$TEST_TMP/out'"

# Usage errors and a mismatched image.
expect_exit 2 "explain: one image only is a usage error" "$ZCKUP" explain raw-old.img
expect_exit 2 "explain: --level with --zck is a usage error" \
	"$ZCKUP" explain raw-old.img raw-new.img --zck raw-fine.zck --level 3
expect_exit 2 "explain: NEW not the image of the .zck" \
	"$ZCKUP" explain raw-new.img raw-old.img --zck raw-fine.zck -q
expect_err_contains "not the image the .zck was made from" "explain: says the .zck is another image's"
expect_exit 6 "explain: a missing OLD" "$ZCKUP" explain missing.img raw-new.img --zck raw-fine.zck -q

finish
