#!/usr/bin/env bash
# Bad input never crashes, hangs or corrupts: truncated and corrupted files,
# wrong digests, a target that is a source, a wrong pin. Exit statuses are the
# documented ones and the old image and old output stay untouched.
. "$(dirname "$0")/lib.sh"
cd "$TEST_TMP"
$GEN image 4 6000000 old.img
$GEN edit insert 5 old.img new.img
"$ZCKUP" make new.img -o new.zck -H new.zckh --level 3 -q
old_sum=$(sha256sum <old.img)
hsize=$("$ZCKUP" inspect --json new.zck | python3 -c 'import json,sys; print(json.load(sys.stdin)["header_bytes"])')
zsize=$(stat -c %s new.zck)
echo "previous output" >prev.out

# Truncated .zck: body cut short.
head -c $((zsize - 1000)) new.zck >trunc.zck
expect_exit 3 "truncated .zck body" "$ZCKUP" apply --header new.zckh --url trunc.zck --target t1.img
expect_err_contains "truncated" "the message says truncated"
assert "no complete-looking target after a truncated .zck" "[ ! -e t1.img ] || [ $(stat -c %s t1.img 2>/dev/null || echo 0) != $(stat -c %s new.img) ]"
expect_exit 3 "truncated .zck with --output" "$ZCKUP" apply --header new.zckh --url trunc.zck --output prev.out
assert "old --output file intact" "[ \"\$(cat prev.out)\" = 'previous output' ]"
assert "no temporary file left beside --output" "[ -z \"\$(ls | grep zckup-)\" ]"
# Truncated header.
head -c $((hsize / 2)) new.zck >thead.zck
expect_exit 3 "truncated header" "$ZCKUP" inspect thead.zck

# One flipped byte in a chunk: digest mismatch.
cp new.zck flip.zck
printf '\xff' | dd of=flip.zck bs=1 seek=$((zsize - 5000)) conv=notrunc status=none
expect_exit 4 "corrupted chunk in the .zck" "$ZCKUP" apply --header new.zckh --url flip.zck --output prev.out
expect_err_contains "chunk" "the message names the chunk"
assert "old --output file intact after a digest mismatch" "[ \"\$(cat prev.out)\" = 'previous output' ]"
expect_exit 4 "corrupted chunk, raw target" "$ZCKUP" apply --header new.zckh --url flip.zck --target t2.img
assert "no complete-looking raw target after a digest mismatch" "[ ! -e t2.img ] || [ $(stat -c %s t2.img 2>/dev/null || echo 0) != $(stat -c %s new.img) ]"

# One flipped byte in the header: checksum mismatch.
cp new.zckh flip.zckh
printf '\x01' | dd of=flip.zckh bs=1 seek=$((hsize - 40)) conv=notrunc status=none
expect_exit 3 "corrupted header" "$ZCKUP" apply --header flip.zckh --url new.zck --target t3.img
assert "nothing written for a corrupted header" "[ ! -e t3.img ]"
# Garbage instead of a header.
head -c 4096 old.img >garbage.zck
expect_exit 3 "not a zchunk file" "$ZCKUP" inspect garbage.zck
: >zero.zck
expect_exit 3 "empty file" "$ZCKUP" inspect zero.zck

# A header that does not belong to the .zck: chunk digests catch it.
$GEN image 9 9000000 other.img
"$ZCKUP" make other.img -o other.zck -q --level 3
expect_exit 4 "header of another image" "$ZCKUP" apply --header new.zckh --url other.zck --output prev.out
assert "old --output file intact" "[ \"\$(cat prev.out)\" = 'previous output' ]"

# Target is the source.
expect_exit 2 "target that is the source is refused" "$ZCKUP" apply --header new.zckh --url new.zck --source old.img --target old.img
ln -s old.img link.img
expect_exit 2 "... also through a symlink" "$ZCKUP" apply --header new.zckh --url new.zck --source link.img --target old.img
assert "the source is untouched" "[ \"\$(sha256sum <old.img)\" = \"$old_sum\" ]"

# Pinned header checksum.
pin=$("$ZCKUP" inspect --json new.zckh | python3 -c 'import json,sys; print(json.load(sys.stdin)["header_sha256"])')
check "right pin accepted" "$ZCKUP" apply --header new.zckh --header-sha256 "$pin" --url new.zck --source old.img --output pinned.img -q
check "right pin: result identical" cmp pinned.img new.img
expect_exit 5 "wrong pin rejected" "$ZCKUP" apply --header new.zckh --header-sha256 "$(echo "$pin" | tr 0-9a-f 1-9a-f0)" --url new.zck --output prev.out
expect_exit 2 "malformed pin" "$ZCKUP" apply --header new.zckh --header-sha256 abc --url new.zck --output prev.out

# Missing files.
expect_exit 6 "missing source" "$ZCKUP" apply --header new.zckh --url new.zck --source nope.img --output prev.out
expect_exit 6 "missing .zck" "$ZCKUP" apply --header new.zckh --url nope.zck --output prev.out
expect_exit 2 "--source-size beyond the source" "$ZCKUP" plan --source old.img --source-size 1G new.zckh

# Every malformed header in tests/data/malformed ends in exit 3, never a crash.
for f in "$ZCKUP_SRC"/tests/data/malformed/*.zck*; do
	[ -e "$f" ] || continue
	expect_exit 3 "malformed $(basename "$f")" "$ZCKUP" inspect "$f"
done
assert "the source is still untouched" "[ \"\$(sha256sum <old.img)\" = \"$old_sum\" ]"
finish
