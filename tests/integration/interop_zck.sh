#!/usr/bin/env bash
# Interoperability both ways with Debian's zchunk tools (zck, unzck, zck_read_header).
. "$(dirname "$0")/lib.sh"
cd "$TEST_TMP"
$GEN image 2 9000000 old.img
$GEN edit scatter 3 old.img new.img

# zck -> zckup
zck -u -h sha256 -o ref.zck new.img >/dev/null
check "zckup inspects a file made by zck -u -h sha256" "$ZCKUP" inspect ref.zck
check "zckup applies a file made by zck -u -h sha256" "$ZCKUP" apply --url ref.zck --source old.img --target out.img -q
check "result identical" cmp out.img new.img
unzck --header ref.zck >/dev/null 2>&1 && mv ref.zhr ref.zckh
check "zckup applies with a detached header from unzck --header" \
	"$ZCKUP" apply --header ref.zckh --url ref.zck --source old.img --output out2.img -q
check "result identical" cmp out2.img new.img
check "zckup extract-header of a zck file" "$ZCKUP" extract-header ref.zck -o mine.zckh
check "... equals unzck --header byte for byte" cmp mine.zckh ref.zckh

# zck without -u has no uncompressed digests: refused with advice.
zck -h sha256 -o nou.zck new.img >/dev/null
expect_exit 3 "a .zck without uncompressed digests is refused" "$ZCKUP" apply --url nou.zck --source old.img --target x.img
expect_err_contains "zck -u" "the message says how to build a usable file"

# zckup -> zck
"$ZCKUP" make new.img -o mine.zck --level 5 -q
check "zck_read_header reads zckup's file" zck_read_header -c mine.zck
check "zck_read_header -f verifies zckup's file" zck_read_header -f mine.zck
check "unzck decodes zckup's file to the identical image" bash -c 'unzck -c mine.zck | cmp - new.img'

# Same chunking: the chunk tables agree (sizes and uncompressed digests).
table() { zck_read_header -c "$1" | awk '$1 ~ /^[0-9]+$/ && NF == 6 && $1 > 0 {print $6, $3}'; }
table ref.zck >ref.tab
table mine.zck >mine.tab
assert "zckup make cuts the same chunks as zck ($(wc -l <mine.tab) chunks)" "[ -s ref.tab ] && cmp -s ref.tab mine.tab"
"$ZCKUP" inspect --chunks ref.zck | awk '$1 ~ /^[0-9]+$/ {print $4, $2}' >inspect.tab
assert "zckup inspect --chunks agrees with zck_read_header -c" "cmp -s ref.tab inspect.tab"
# Header facts agree.
zsize=$(zck_read_header mine.zck | awk -F': ' '/^Header size/ {print $2}')
isize=$("$ZCKUP" inspect --json mine.zck | python3 -c 'import json,sys; print(json.load(sys.stdin)["header_bytes"])')
assert "header size agrees with zck_read_header ($isize vs $zsize)" "[ '$isize' = '$zsize' ]"
finish
