#!/usr/bin/env bash
# Real filesystem images: two ext4 images built with mkfs.ext4 -d from two
# versions of a tree; the delta update is byte-identical and reuses most data.
. "$(dirname "$0")/lib.sh"
cd "$TEST_TMP"
mkdir tree
cp -r /usr/share/zoneinfo tree/ 2>/dev/null || true
cp -r /usr/include/openssl /usr/include/linux tree/ 2>/dev/null || true
cp -r "$ZCKUP_SRC/src" tree/zckup-src
export E2FSPROGS_FAKE_TIME=1700000000
mk() { mkfs.ext4 -q -F -b 4096 -E root_owner=0:0,hash_seed=5d6f1d8e-2a7b-4c1d-9e3f-000000000001 \
	-U 6b0f7a3e-0000-4000-8000-000000000001 -d tree "$1" 48M >/dev/null; }
mk v1.img
rm -rf tree/linux/netfilter*
find tree -name '*.h' | sort | awk 'NR % 30 == 0' | while read -r f; do echo "/* v2 */" >>"$f"; done
cp -r /usr/share/zoneinfo/Europe tree/more 2>/dev/null || cp -r /usr/include/x86_64-linux-gnu tree/more
mk v2.img
check "make of an ext4 image" "$ZCKUP" make v2.img -o v2.zck -H v2.zckh --level 3 -q
"$ZCKUP" plan --source v1.img v2.zckh --json -q >plan.json
reused=$(json_field plan.json reused_bytes)
assert "most of the ext4 image is reused ($reused of $(stat -c %s v2.img) bytes)" "[ $((reused * 2)) -gt $(stat -c %s v2.img) ]"
check "apply v1 -> v2" "$ZCKUP" apply --header v2.zckh --url v2.zck --source v1.img --target out.img -q
check "result is byte-identical" cmp out.img v2.img
check "the result is a clean ext4 filesystem" e2fsck -fn out.img
# Apply onto a larger "partition": the image is written at the start.
truncate -s 64M part.img
check "apply onto a larger partition-like file" "$ZCKUP" apply --header v2.zckh --url v2.zck --source v1.img --target part.img -q
check "the partition starts with the image" cmp -n "$(stat -c %s v2.img)" part.img v2.img
finish
