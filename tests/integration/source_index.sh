#!/usr/bin/env bash
# --source-index HEADER: a source's chunks located from the header of the image
# it holds instead of reading it; stale places fetched, never a wrong image;
# --save-index for the next update (the A/B flow of the README).
. "$(dirname "$0")/lib.sh"
cd "$TEST_TMP"

size_of() { stat -c %s "$1"; }
# patch FILE OFFSET: overwrites 8 bytes of FILE at OFFSET.
patch() { printf 'ZCKUPXYZ' | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

$GEN image 1 12000000 old.img
$GEN edit modify 7 old.img new.img
"$ZCKUP" make old.img -o old.zck -H old.zckh --level 3 --threads 2 -q
"$ZCKUP" make new.img -o new.zck -H new.zckh --level 3 --threads 2 -q

# --- round trip; plan reads nothing of the source -------------------------
"$ZCKUP" plan --source old.img new.zckh --json -q >read.json
"$ZCKUP" plan --source old.img --source-index old.zckh new.zckh --json -q >ix.json
assert "plan without an index reads the whole source ($(json_field read.json source_bytes))" \
	"[ $(json_field read.json source_bytes) = $(size_of old.img) ]"
assert "plan with an index reads nothing of the source ($(json_field ix.json source_bytes))" \
	"[ $(json_field ix.json source_bytes) = 0 ]"
assert "the index locates what reading finds ($(json_field ix.json reused_chunks) = $(json_field read.json reused_chunks), index_chunks $(json_field ix.json index_chunks))" \
	"[ $(json_field ix.json reused_chunks) = $(json_field read.json reused_chunks) ] && [ $(json_field ix.json index_chunks) = $(json_field ix.json reused_chunks) ] && [ $(json_field read.json index_chunks) = 0 ]"
# A source of the same size that holds none of it: plan, which reads nothing,
# still counts the indexed chunks as reused; only apply's check finds out.
$GEN image 9 "$(size_of old.img)" garbage.img
"$ZCKUP" plan --source garbage.img --source-index old.zckh new.zckh --json -q >g.json
assert "plan with an index does not read the source (a garbage source still plans as reused)" \
	"[ $(json_field g.json reused_chunks) = $(json_field ix.json reused_chunks) ] && [ $(json_field g.json source_bytes) = 0 ]"

check "apply with --source-index" "$ZCKUP" apply --header new.zckh --url new.zck \
	--source old.img --source-index old.zckh --output out.img --json -q
cp "$TEST_TMP/out" apply.json
check "apply with --source-index: byte-identical image" cmp out.img new.img
assert "apply with --source-index: reused as predicted, nothing stale ($(json_field apply.json reused_chunks) reused, $(json_field apply.json stale_index_chunks) stale)" \
	"[ $(json_field apply.json reused_chunks) = $(json_field ix.json reused_chunks) ] && [ $(json_field apply.json stale_index_chunks) = 0 ] && [ $(json_field apply.json index_chunks) = $(json_field ix.json index_chunks) ]"

# --- a garbage source under a valid index: everything fetched, exact -------
rm -f out.img
check "garbage source with an index: apply succeeds" "$ZCKUP" apply --header new.zckh \
	--url new.zck --source garbage.img --source-index old.zckh --output out.img --json -q
cp "$TEST_TMP/out" g-apply.json
check "garbage source with an index: byte-identical image" cmp out.img new.img
assert "garbage source: every indexed chunk stale and fetched ($(json_field g-apply.json stale_index_chunks) of $(json_field g-apply.json index_chunks))" \
	"[ $(json_field g-apply.json reused_chunks) = 0 ] && [ $(json_field g-apply.json stale_index_chunks) = $(json_field g-apply.json index_chunks) ] && [ $(json_field g-apply.json index_chunks) -gt 0 ]"

# --- stale index: the source was modified after its index was made ---------
# Two chunks the plan reuses, by their source offsets; one byte range patched in each.
"$ZCKUP" plan --source old.img --source-index old.zckh new.zckh --chunks --json -q >chunks.json
read -r off1 off2 <<<"$(python3 -c '
import json, sys
t = [c for c in json.load(open(sys.argv[1]))["chunk_table"] if c["from"] == "source"]
print(t[10]["source_offset"] + 100, t[len(t) // 2]["source_offset"] + 100)' chunks.json)"
cp old.img stale.img
patch stale.img "$off1"
patch stale.img "$off2"
rm -f out.img
check "stale index: apply succeeds" "$ZCKUP" apply --header new.zckh --url new.zck \
	--source stale.img --source-index old.zckh --output out.img --json
cp "$TEST_TMP/out" s.json
expect_err_contains "not where the index says" "stale index: a warning says so"
check "stale index: byte-identical image" cmp out.img new.img
assert "stale index: exactly the 2 changed chunks reported stale ($(json_field s.json stale_index_chunks))" \
	"[ $(json_field s.json stale_index_chunks) = 2 ] && [ $(json_field s.json stale_index_bytes) -gt 0 ]"
assert "stale index: they are fetched ($(json_field s.json fetched_chunks) = $(json_field apply.json fetched_chunks) + 2)" \
	"[ $(json_field s.json fetched_chunks) = $(( $(json_field apply.json fetched_chunks) + 2 )) ]"
# The same with a raw target, streamed (--exec) and in place on a second run.
rm -f raw.img
check "stale index, raw target" "$ZCKUP" apply --header new.zckh --url new.zck \
	--source stale.img --source-index old.zckh --target raw.img -q
check "stale index, raw target: byte-identical" cmp raw.img new.img
check "stale index, --exec" "$ZCKUP" apply --header new.zckh --url new.zck \
	--source stale.img --source-index old.zckh --exec "cat >exec.img" -q
check "stale index, --exec: byte-identical" cmp exec.img new.img
# A source truncated since: the index places beyond its end hold nothing.
head -c 6000000 old.img >short.img
rm -f out.img
check "truncated source under its index: apply succeeds" "$ZCKUP" apply --header new.zckh \
	--url new.zck --source short.img --source-index old.zckh --output out.img -q
check "truncated source: byte-identical" cmp out.img new.img
# --source-size bounds the places taken from the index.
"$ZCKUP" plan --source old.img --source-size 6000000 --source-index old.zckh new.zckh --json -q >half.json
assert "--source-size bounds the index ($(json_field half.json index_chunks) < $(json_field ix.json index_chunks))" \
	"[ $(json_field half.json index_chunks) -gt 0 ] && [ $(json_field half.json index_chunks) -lt $(json_field ix.json index_chunks) ]"

# --- an index of another image ---------------------------------------------
$GEN image 2 5000000 other.img
"$ZCKUP" make other.img -o other.zck -H other.zckh --level 3 --threads 2 -q
rm -f out.img
check "index of another image: apply succeeds" "$ZCKUP" apply --header new.zckh --url new.zck \
	--source old.img --source-index other.zckh --output out.img --json
cp "$TEST_TMP/out" w.json
expect_err_contains "is it the header of another image" "index of another image: a warning says so"
check "index of another image: byte-identical image" cmp out.img new.img
assert "index of another image: everything fetched ($(json_field w.json fetched_chunks) fetched)" \
	"[ $(json_field w.json reused_chunks) = 0 ] && [ $(json_field w.json fetched_chunks) = $(json_field ix.json chunks) ]"

# --- a tampered index is refused ------------------------------------------
cp old.zckh bad.zckh
printf '\001' | dd of=bad.zckh bs=1 seek=$(( $(size_of bad.zckh) - 40 )) conv=notrunc status=none
rm -f out.img
expect_exit 3 "tampered index header refused" "$ZCKUP" apply --header new.zckh --url new.zck \
	--source old.img --source-index bad.zckh --output out.img -q
expect_err_contains "source-index.*checksum mismatch" "tampered index: the message names it"
assert "tampered index: no output written" "[ ! -e out.img ]"
expect_exit 3 "tampered index header refused by plan" "$ZCKUP" plan --source old.img \
	--source-index bad.zckh new.zckh -q
head -c 100 old.zckh >cut.zckh
expect_exit 3 "truncated index header refused" "$ZCKUP" plan --source old.img \
	--source-index cut.zckh new.zckh -q
ixsum=$("$ZCKUP" inspect old.zckh --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header_sha256"])')
expect_exit 5 "--source-index-sha256 mismatch refused" "$ZCKUP" apply --header new.zckh \
	--url new.zck --source old.img --source-index old.zckh \
	--source-index-sha256 "$(printf '0%.0s' {1..64})" --output out.img -q
check "--source-index-sha256 of the index header accepted" "$ZCKUP" apply --header new.zckh \
	--url new.zck --source old.img --source-index old.zckh --source-index-sha256 "$ixsum" \
	--output out.img -q
check "pinned index: byte-identical" cmp out.img new.img
expect_exit 2 "--source-index needs a --source before it" "$ZCKUP" plan --source-index old.zckh new.zckh
expect_exit 2 "--source-index-sha256 needs a --source-index before it" "$ZCKUP" plan \
	--source old.img --source-index-sha256 "$ixsum" new.zckh
expect_exit 2 "one --source-index per --source" "$ZCKUP" plan --source old.img \
	--source-index old.zckh --source-index old.zckh new.zckh

# --- A/B: --save-index, then the next update uses it ----------------------
cp old.img slotA.img
rm -f slotB.img
check "v2 into slot B with --save-index" "$ZCKUP" apply --header new.zckh --url new.zck \
	--source slotA.img --target slotB.img --save-index slotB.zckh -q
check "slot B holds v2" cmp slotB.img new.img
check "the saved index is v2's detached header" cmp slotB.zckh new.zckh
$GEN edit scatter 8 new.img v3.img
"$ZCKUP" make v3.img -o v3.zck -H v3.zckh --level 3 --threads 2 -q
"$ZCKUP" plan --source slotB.img --source-index slotB.zckh v3.zckh --json -q >v3plan.json
assert "v3 plan from slot B with its saved index reads nothing ($(json_field v3plan.json source_bytes)) and reuses $(json_field v3plan.json reused_chunks)" \
	"[ $(json_field v3plan.json source_bytes) = 0 ] && [ $(json_field v3plan.json reused_chunks) -gt 0 ]"
# --rewrite-all: slot A still holds v1, whose chunks the in-place check would keep.
check "v3 into slot A from slot B with its saved index" "$ZCKUP" apply --header v3.zckh \
	--url v3.zck --source slotB.img --source-index slotB.zckh --target slotA.img \
	--rewrite-all --save-index slotA.zckh --json -q
cp "$TEST_TMP/out" v3.json
check "slot A holds v3" cmp slotA.img v3.img
check "slot A's saved index is v3's header" cmp slotA.zckh v3.zckh
assert "v3: reused through the saved index, nothing stale" \
	"[ $(json_field v3.json index_chunks) = $(json_field v3plan.json index_chunks) ] && [ $(json_field v3.json stale_index_chunks) = 0 ] && [ $(json_field v3.json reused_chunks) = $(json_field v3plan.json reused_chunks) ]"
# A failed apply saves no index.
rm -f fail.zckh
cp v3.zck corrupt.zck
patch corrupt.zck $(( $(size_of corrupt.zck) - 1000 ))
expect_exit 4 "failed apply (corrupt .zck)" "$ZCKUP" apply --header v3.zckh --url corrupt.zck \
	--output failed.img --save-index fail.zckh -q
assert "a failed apply saves no index" "[ ! -e fail.zckh ]"
# An index that cannot be saved fails the apply, after the image is written.
expect_exit 6 "unwritable --save-index path" "$ZCKUP" apply --header v3.zckh --url v3.zck \
	--output nosave.img --save-index "$TEST_TMP/no/such/dir/x.zckh" -q
expect_err_contains "saving its index" "unwritable --save-index: the message says the image is written"
check "unwritable --save-index: the image is written" cmp nosave.img v3.img

# The saved index may not replace the image or a source.
expect_exit 2 "--save-index onto the output refused" "$ZCKUP" apply --header v3.zckh \
	--url v3.zck --output same.img --save-index same.img -q
assert "--save-index onto the output: nothing written" "[ ! -e same.img ]"
expect_exit 2 "--save-index onto a source refused" "$ZCKUP" apply --header v3.zckh \
	--url v3.zck --source slotB.img --output v3b.img --save-index slotB.img -q
check "--save-index onto a source: the source is untouched" cmp slotB.img new.img

# --- a 64 MiB source: plan time with and without the index -----------------
$GEN image 3 67108864 big.img
$GEN edit scatter 4 big.img big2.img
"$ZCKUP" make big.img -o big.zck -H big.zckh --level 1 --threads 2 -q
"$ZCKUP" make big2.img -o big2.zck -H big2.zckh --level 1 --threads 2 -q
t0=$(date +%s.%N)
"$ZCKUP" plan --source big.img big2.zckh --json -q >bigread.json
t1=$(date +%s.%N)
"$ZCKUP" plan --source big.img --source-index big.zckh big2.zckh --json -q >bigix.json
t2=$(date +%s.%N)
echo "# 64 MiB source: plan $(python3 -c "print('%.3f s reading it, %.3f s with --source-index' % ($t1 - $t0, $t2 - $t1))")"
assert "64 MiB: plan with the index reads 0 bytes, without it $(json_field bigread.json source_bytes)" \
	"[ $(json_field bigix.json source_bytes) = 0 ] && [ $(json_field bigread.json source_bytes) = 67108864 ] && [ $(json_field bigix.json reused_chunks) = $(json_field bigread.json reused_chunks) ]"
rm -f bigout.img
check "64 MiB: apply with the index" "$ZCKUP" apply --header big2.zckh --url big2.zck \
	--source big.img --source-index big.zckh --output bigout.img -q
check "64 MiB: byte-identical" cmp bigout.img big2.img
finish
