#!/usr/bin/env bash
# --source-size detect: an ext4 and a squashfs image, each at the start of a
# larger "partition" with garbage after it, are indexed only as far as the
# filesystem reaches; every chunk is reused and apply rebuilds the image
# byte for byte. A source with no filesystem fails with exit status 3.
. "$(dirname "$0")/lib.sh"
cd "$TEST_TMP"
mkdir tree
cp -r "$ZCKUP_SRC/src" tree/zckup-src
seq 1 200000 >tree/numbers
export E2FSPROGS_FAKE_TIME=1700000000
# Trailing garbage of an odd length, so no size lines up by accident.
$GEN random 11 3001234 garbage

# detect_case NAME IMAGE: IMAGE followed by garbage is the source.
detect_case() {
	local name=$1 img=$2 size
	size=$(stat -c %s "$img")
	cat "$img" garbage >"$name-part.img"
	check "$name: make" "$ZCKUP" make "$img" -o "$name.zck" -H "$name.zckh" --level 3 -q
	# Control: without detect the whole partition is indexed.
	"$ZCKUP" plan --source "$name-part.img" "$name.zckh" --json -q >"$name-plain.json"
	local plain
	plain=$(json_field "$name-plain.json" source_bytes)
	assert "$name: without detect the whole partition is indexed ($plain bytes)" \
		"[ $plain = $(stat -c %s "$name-part.img") ]"
	echo "# $name: without detect $(json_field "$name-plain.json" fetch_chunks) chunk(s) to fetch"
	if ! "$ZCKUP" plan --source "$name-part.img" --source-size detect "$name.zckh" --json -q \
		>"$name-plan.json" 2>"$TEST_TMP/err"; then
		not_ok "$name: plan with --source-size detect"
		diag "$TEST_TMP/err"
		return
	fi
	local got fetch chunks
	got=$(json_field "$name-plan.json" source_bytes)
	fetch=$(json_field "$name-plan.json" fetch_chunks)
	chunks=$(json_field "$name-plan.json" chunks)
	assert "$name: detect indexes exactly the filesystem ($got of $size bytes)" "[ $got = $size ]"
	assert "$name: every chunk is reused ($fetch of $chunks to fetch)" "[ $fetch = 0 ]"
	rm -f "$name-out.img"
	check "$name: apply with --source-size detect" "$ZCKUP" apply --header "$name.zckh" \
		--url "$name.zck" --source "$name-part.img" --source-size detect \
		--target "$name-out.img" -q
	check "$name: result is byte-identical" cmp "$name-out.img" "$img"
}

if command -v mkfs.ext4 >/dev/null; then
	mkfs.ext4 -q -F -E root_owner=0:0 -d tree fs.img 24M >/dev/null
	detect_case ext4 fs.img
	check "ext4: the rebuilt image is a clean filesystem" e2fsck -fn ext4-out.img
else
	skip "ext4: detect and rebuild" "mkfs.ext4 missing (apt-get install e2fsprogs)"
fi
if command -v mksquashfs >/dev/null; then
	mksquashfs tree sq.img -noappend -quiet -all-root >/dev/null
	# mksquashfs pads to 4096, which is what detect reports.
	assert "squashfs: mksquashfs padded the image to 4096" "[ $(($(stat -c %s sq.img) % 4096)) = 0 ]"
	detect_case squashfs sq.img
else
	skip "squashfs: detect and rebuild" "mksquashfs missing (apt-get install squashfs-tools)"
fi

# No filesystem in the source: a clear failure, status 3, nothing written.
"$ZCKUP" make garbage -o g.zck -H g.zckh --level 3 -q
expect_exit 3 "plan: detect on a source without a filesystem" \
	"$ZCKUP" plan --source garbage --source-size detect g.zckh -q
expect_err_contains "no ext2/3/4 or squashfs superblock" "plan: the message says no filesystem was found"
expect_err_contains "garbage" "plan: the message names the source"
expect_exit 3 "apply: detect on a source without a filesystem" \
	"$ZCKUP" apply --header g.zckh --url g.zck --source garbage --source-size detect \
	--target g-out.img -q
expect_err_contains "superblock" "apply: the message says no filesystem was found"
assert "apply: no target written" "[ ! -e g-out.img ]"
# A superblock that lies: ext4 magic with a zero block count.
python3 - <<'PY'
import struct
b = bytearray(open("garbage", "rb").read())
sb = 1024
struct.pack_into("<I", b, sb + 0x04, 0)       # s_blocks_count_lo
struct.pack_into("<I", b, sb + 0x18, 2)       # 4 KiB blocks
struct.pack_into("<H", b, sb + 0x38, 0xEF53)  # magic
struct.pack_into("<I", b, sb + 0x60, 0)       # no 64bit: the high count is ignored
open("bad.img", "wb").write(b)
PY
expect_exit 3 "plan: detect on an inconsistent superblock" \
	"$ZCKUP" plan --source bad.img --source-size detect g.zckh -q
expect_err_contains "block count is 0" "plan: the message says what is wrong"
# The superblock claims more than the source holds (a cut image): refused, not read short.
if [ -e fs.img ]; then
	head -c 10000000 fs.img >cut.img
	got=0
	"$ZCKUP" plan --source cut.img --source-size detect ext4.zckh -q >"$TEST_TMP/out" \
		2>"$TEST_TMP/err" || got=$?
	assert "plan: detect on a filesystem larger than its source fails (exit $got)" \
		"[ $got -ge 2 ] && [ $got -le 3 ]"
	expect_err_contains "cut.img" "plan: the message names the cut source"
	expect_err_contains "exceeds" "plan: the message says the size exceeds the source"
fi
# A missing source is an I/O error (6), not "no filesystem" (3).
expect_exit 6 "plan: detect on a missing source" \
	"$ZCKUP" plan --source missing.img --source-size detect g.zckh -q
finish
