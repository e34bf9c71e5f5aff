#!/usr/bin/env bash
# make -> plan -> apply on generated image pairs with realistic edits: the
# result is byte-identical and only the edited regions are fetched.
. "$(dirname "$0")/lib.sh"
cd "$TEST_TMP"
$GEN image 1 12000000 old.img

for kind in insert delete modify shift scatter; do
	$GEN edit "$kind" 7 old.img new.img
	"$ZCKUP" make new.img -o new.zck -H new.zckh --level 3 --threads 2 -q
	"$ZCKUP" plan --source old.img new.zckh --json -q >plan.json 2>err || true
	chunks=$(json_field plan.json chunks)
	fetch=$(json_field plan.json fetch_chunks)
	reused=$(json_field plan.json reused_chunks)
	assert "$kind: plan reuses most chunks ($reused of $chunks reused, $fetch to fetch)" \
		"[ $reused -gt 0 ] && [ $((fetch * 10)) -lt $chunks ]"
	if [ "$kind" = shift ] || [ "$kind" = modify ] || [ "$kind" = insert ] || [ "$kind" = delete ]; then
		assert "$kind: a local edit costs at most 3 chunks (got $fetch)" "[ $fetch -le 3 ] && [ $fetch -ge 1 ]"
	fi
	rm -f out.img
	check "$kind: apply from the .zck" "$ZCKUP" apply --header new.zckh --url new.zck --source old.img --target out.img --json -q
	check "$kind: result is byte-identical" cmp out.img new.img
	"$ZCKUP" apply --header new.zckh --url "file://$TEST_TMP/new.zck" --source old.img --output out2.img --json >apply.json
	check "$kind: atomic --output, file:// URL, result identical" cmp out2.img new.img
	got=$(json_field apply.json fetched_chunks)
	assert "$kind: apply fetched what plan predicted ($got vs $fetch)" "[ $got = $fetch ]"
done

# No source: everything comes from the .zck.
rm -f out.img
check "no source: apply fetches everything" "$ZCKUP" apply --url new.zck --target out.img -q
check "no source: result identical" cmp out.img new.img
# The new image itself as source: nothing to fetch, and the .zck is never read.
"$ZCKUP" apply --header new.zckh --url /nonexistent.zck --source new.img --output out3.img --json >apply.json
check "new image as source: result identical without reading the .zck" cmp out3.img new.img
assert "new image as source: nothing fetched" "[ $(json_field apply.json fetched_bytes) = 0 ]"

# --source-size: garbage after the image is not indexed.
cat old.img old.img >padded.img
"$ZCKUP" plan --source padded.img --source-size "$(stat -c %s old.img)" new.zckh --json -q >p1.json
"$ZCKUP" plan --source old.img new.zckh --json -q >p2.json
assert "--source-size indexes only that many bytes" \
	"[ $(json_field p1.json source_bytes) = $(stat -c %s old.img) ] && [ $(json_field p1.json reused_chunks) = $(json_field p2.json reused_chunks) ]"

# Several sources: a chunk found in any of them is reused.
head -c 6000000 new.img >first-half.img
tail -c +6000001 new.img >second-half.img
"$ZCKUP" plan --source first-half.img new.zckh --json -q >a.json
"$ZCKUP" plan --source first-half.img --source second-half.img new.zckh --json -q >ab.json
assert "two sources reuse more than one ($(json_field ab.json reused_chunks) > $(json_field a.json reused_chunks))" \
	"[ $(json_field ab.json reused_chunks) -gt $(json_field a.json reused_chunks) ]"

# extract-header gives the same detached header make wrote.
check "extract-header" "$ZCKUP" extract-header new.zck -o x.zckh
check "extract-header output equals make's --header-out" cmp x.zckh new.zckh
# The same input gives the same .zck, whatever the thread count.
"$ZCKUP" make new.img -o t1.zck --level 3 --threads 1 -q
check "make is deterministic across thread counts" cmp t1.zck new.zck
# An empty image round-trips.
: >empty.img
check "make of an empty image" "$ZCKUP" make empty.img -o empty.zck -q
check "apply of an empty image" "$ZCKUP" apply --url empty.zck --output empty.out -q
assert "empty output" "[ -f empty.out ] && [ ! -s empty.out ]"
finish
