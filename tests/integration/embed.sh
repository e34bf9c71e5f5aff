#!/usr/bin/env bash
# The embedding example (examples/embed_sink.c): libzckup with a custom sink,
# log and progress callbacks, through the public header only.
. "$(dirname "$0")/lib.sh"
: "${EMBED_SINK:?set EMBED_SINK to the example binary}"
cd "$TEST_TMP"
$GEN image 31 5000000 old.img
$GEN edit modify 32 old.img new.img
"$ZCKUP" make new.img -o new.zck -H new.zckh --level 3 -q
"$EMBED_SINK" new.zckh new.zck old.img out.img >report.txt 2>log.txt
assert "the example applies through its custom sink (exit $?)" "[ $? = 0 ]"
check "the custom sink received the identical image" cmp out.img new.img
assert "the example reports reused and fetched bytes and progress events" \
	"grep -Eq 'custom sink: [0-9]+ writes, $(stat -c %s new.img) bytes, [1-9][0-9]* reused, [1-9][0-9]* fetched, [1-9][0-9]* progress events' report.txt"
cp new.zck bad.zck
printf '\xff' | dd of=bad.zck bs=1 seek=$(( $(stat -c %s bad.zck) / 2 )) conv=notrunc status=none
: >empty.img # no source: every chunk comes from the corrupted .zck
expect_exit 1 "a corrupted .zck fails through the API" "$EMBED_SINK" new.zckh bad.zck empty.img out2.img
expect_err_contains "digest mismatch" "the error message comes from zckup_errmsg"
expect_err_contains "update failed after" "the custom sink's abort was called"
finish
