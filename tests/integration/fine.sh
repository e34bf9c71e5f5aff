#!/usr/bin/env bash
# zckup make --profile fine: the same chunks as the compat profile, each stored as a piece
# table (zstd skippable frame) and one zstd frame per 4 KiB piece. Checks that Debian's zchunk
# tools and zckup's coarse path read it as an ordinary .zck, and that a malformed fine layout
# element is refused like any malformed header. (SWUpdate: swupdate.sh.)
. "$(dirname "$0")/lib.sh"
cd "$TEST_TMP"
$GEN image 11 6000000 old.img
$GEN edit scatter 12 old.img new.img

check "make --profile compat" "$ZCKUP" make new.img -o compat.zck --level 5 -q
check "make --profile fine" "$ZCKUP" make new.img -o fine.zck -H fine.zckh --level 5 \
	--profile fine -q
expect_exit 2 "an unknown profile is a usage error" "$ZCKUP" make new.img -o x.zck --profile big
"$ZCKUP" inspect --chunks compat.zck | awk '$1 ~ /^[0-9]+$/ {print $2, $3, $4}' >compat.chunks
"$ZCKUP" inspect --chunks fine.zck | awk '$1 ~ /^[0-9]+$/ {print $2, $3, $4}' >fine.chunks
assert "the fine profile cuts the same chunks (offsets, lengths, uncompressed digests)" \
	"[ -s compat.chunks ] && cmp -s compat.chunks fine.chunks"
"$ZCKUP" inspect --json fine.zck >inspect.json
assert "inspect shows the fine layout (4096-byte pieces)" \
	"grep -q '\"fine_piece_bytes\":4096' inspect.json"
echo "# compat $(stat -c %s compat.zck) bytes, fine $(stat -c %s fine.zck) bytes"

# Debian's zchunk tools
check "zck_read_header reads the fine .zck" zck_read_header -c fine.zck
check "zck_read_header -f verifies every chunk of the fine .zck" zck_read_header -f fine.zck
check "unzck decodes the fine .zck to the identical image" \
	bash -c 'unzck -c fine.zck | cmp - new.img'
unzck --header fine.zck >/dev/null 2>&1 && mv fine.zhr unzck.zckh
check "unzck --header gives zckup's detached header byte for byte" cmp unzck.zckh fine.zckh

# zckup's coarse path, from a local file (every missing chunk read whole)
check "zckup apply of the fine .zck (no source: every chunk fetched)" \
	"$ZCKUP" apply --url fine.zck --output full.img -q
check "... identical" cmp full.img new.img
check "zckup apply of the fine .zck with the old image as source" \
	"$ZCKUP" apply --header fine.zckh --url fine.zck --source old.img --target out.img -q
check "... identical" cmp out.img new.img

# A malformed fine layout element is a malformed header: exit 3, and it says why.
for f in version-2 piece-2p30 wrong-size twice; do
	expect_exit 3 "fine layout element $f is refused" \
		"$ZCKUP" inspect "$ZCKUP_SRC/tests/data/malformed/fine-elem-$f.zck"
	expect_err_contains "fine layout" "... with a message naming the fine layout element"
done
finish
