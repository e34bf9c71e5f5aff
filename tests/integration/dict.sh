#!/usr/bin/env bash
# zckup make --dict auto|none|FILE: the dictionary is stored as zchunk's dictionary chunk, so
# Debian's unzck and zck_read_header read the file; zckup apply rebuilds the image byte for byte
# from a file and over HTTP (fetching the dictionary once); a damaged dictionary chunk is
# refused with the exit status doc/errors.md gives; bad --dict arguments are usage errors.
. "$(dirname "$0")/lib.sh"
cd "$TEST_TMP" || exit 1
MANGLE="python3 $ZCKUP_SRC/tests/tools/zu_dictmangle.py"

$GEN records 11 6000000 old.img
$GEN edit scatter 12 old.img new.img
$GEN image 11 6000000 mixed.img

# --- auto -----------------------------------------------------------------------------------
check "make --dict auto" "$ZCKUP" make new.img -o auto.zck -H auto.zckh --level 3 --dict auto \
	--json --progress none
cp "$TEST_TMP/out" auto.json
dict_zck=$(json_field auto.json dict_zck_bytes)
assert "make --dict auto reports a trained dictionary (${dict_zck} bytes stored)" \
	"[ '$(json_field auto.json dict_bytes)' -gt 1000 ] && [ '$dict_zck' -gt 0 ]"
check "make --dict none (the default) for comparison" \
	"$ZCKUP" make new.img -o none.zck -H none.zckh --level 3 --dict none -q
assert "the dictionary makes the .zck smaller ($(stat -c %s auto.zck) < $(stat -c %s none.zck))" \
	"[ $(stat -c %s auto.zck) -lt $(stat -c %s none.zck) ]"
assert "zckup inspect sees the dictionary" "'$ZCKUP' inspect auto.zckh | grep -q 'with dictionary'"
assert "make --dict none writes no dictionary" \
	"! '$ZCKUP' inspect none.zckh | grep -q 'with dictionary'"
if command -v unzck >/dev/null 2>&1 && command -v zck_read_header >/dev/null 2>&1; then
	check "zck_read_header -f verifies the file (Debian's libzck)" zck_read_header -f auto.zck
	check "zck_read_header -c lists its chunks" zck_read_header -c auto.zck
	cp "$TEST_TMP/out" rh.txt
	assert "zck_read_header counts the dictionary entry" \
		"grep -q '^Chunk count: $(($("$ZCKUP" inspect --json auto.zckh |
			sed -n 's/.*\"chunks\":\([0-9]*\).*/\1/p') + 1))' rh.txt"
	check "unzck's output is the image byte for byte" \
		sh -c "unzck -c auto.zck | cmp - new.img"
else
	skip "Debian's zck tools read the file" "zchunk not installed"
fi

check "apply --dict auto from a file" "$ZCKUP" apply -q --header auto.zckh --url auto.zck \
	--source old.img -o out.img
check "the image is byte-identical" cmp out.img new.img
"$ZCKUP" plan --json --source old.img auto.zckh >plan.json
"$ZCKUP" plan --json --source old.img none.zckh >plan-none.json
assert "plan fetches the dictionary once: fetch_bytes - compressed chunks = $dict_zck" \
	"[ $(($(json_field plan.json fetch_bytes) - $(json_field plan.json fetch_compressed_bytes))) \
	  = '$dict_zck' ]"
check "apply with no source (everything fetched) from the .zck alone" \
	"$ZCKUP" apply -q --url auto.zck -o out2.img
check "... byte-identical" cmp out2.img new.img
check "apply of an unchanged image fetches nothing, not even the dictionary" \
	"$ZCKUP" apply --json --header auto.zckh --url /nonexistent.zck --source new.img -o out3.img

# Over HTTP: a private nginx (servers.sh); the dictionary is one more range of the first request.
# shellcheck source=tests/integration/servers.sh
. "$(dirname "$0")/servers.sh"
mkdir -p www
cp auto.zck www/
if command -v nginx >/dev/null 2>&1 && start_nginx ngx "$TEST_TMP/www" 2>nginx.err; then
	check "apply --dict auto over HTTP" "$ZCKUP" apply -q --header auto.zckh \
		--url "http://127.0.0.1:$ngx_port/auto.zck" --source old.img -o http.img
	check "... byte-identical" cmp http.img new.img
else
	skip "apply over HTTP" "nginx not available"
fi

check "make --dict auto --dict-size 16 --dict-samples 1 (a small dictionary from 1 MiB)" \
	"$ZCKUP" make new.img -o small.zck --level 3 --dict auto --dict-size 16 --dict-samples 1 \
	--json --progress none
cp "$TEST_TMP/out" small.json
assert "... is at most 16 KiB, trained on at most 1 MiB of chunks" \
	"[ '$(json_field small.json dict_bytes)' -le 16384 ] && [ '$(json_field small.json dict_bytes)' -gt 0 ]"
check "... and applies byte-identical" "$ZCKUP" apply -q --url small.zck --source old.img \
	-o small.img
check "... same image" cmp small.img new.img

# --- FILE -----------------------------------------------------------------------------------
head -c 200000 new.img >sample.bin
for f in 1 2 3 4 5 6 7 8 9 10; do tail -c +$((f * 300000)) new.img | head -c 50000 >s$f.bin; done
if zstd -q --train s*.bin sample.bin -o trained.dict --maxdict=16384 2>/dev/null; then
	check "make --dict FILE with a zstd-trained dictionary" \
		"$ZCKUP" make new.img -o file.zck --level 3 --dict trained.dict -q
	check "... applies byte-identical" "$ZCKUP" apply -q --url file.zck --source old.img \
		-o file.img
	check "... same image" cmp file.img new.img
	if command -v unzck >/dev/null 2>&1; then
		check "... and unzck decodes it" sh -c "unzck -c file.zck | cmp - new.img"
	fi
else
	skip "make --dict FILE with a trained dictionary" "zstd --train failed"
fi
head -c 30000 old.img >raw.dict
check "make --dict FILE with raw content as the dictionary (as zck -D takes it)" \
	"$ZCKUP" make new.img -o raw.zck --level 3 --dict ./raw.dict -q
check "... applies byte-identical" "$ZCKUP" apply -q --url raw.zck -o raw.img
check "... same image" cmp raw.img new.img

# --- damaged dictionary chunks: refused, nothing written --------------------------------------
# kind, exit status (doc/errors.md), text of the message
while read -r kind status text; do
	$MANGLE "$kind" auto.zck "bad-$kind.zck" "bad-$kind.zckh"
	rm -f bad.img
	expect_exit "$status" "apply refuses a dictionary chunk: $kind" \
		"$ZCKUP" apply -q --url "bad-$kind.zck" --source old.img -o bad.img
	expect_err_contains "$text" "... and says: $text"
	assert "... and writes no output" "[ ! -e bad.img ]"
done <<'CASES'
bad-digest 4 dictionary chunk (index entry 0
truncated 3 dictionary chunk (index entry 0
not-a-dict 3 is not a zstd dictionary
huge 3 index entry 0
size-lie 3 dictionary chunk (index entry 0
CASES

# --- bad arguments --------------------------------------------------------------------------
expect_exit 2 "--dict with no value" "$ZCKUP" make new.img -o x.zck --dict ''
expect_exit 6 "--dict FILE that does not exist" "$ZCKUP" make new.img -o x.zck --dict ./nope
expect_err_contains "nope" "... names the file"
: >empty.dict
expect_exit 3 "--dict FILE that is empty" "$ZCKUP" make new.img -o x.zck --dict empty.dict
expect_exit 2 "--dict-size without --dict auto" "$ZCKUP" make new.img -o x.zck --dict-size 64
expect_exit 2 "--dict-samples without --dict auto" "$ZCKUP" make new.img -o x.zck \
	--dict none --dict-samples 8
expect_exit 2 "--dict-samples out of range" "$ZCKUP" make new.img -o x.zck --dict auto \
	--dict-samples 0
expect_exit 2 "--dict-size out of range" "$ZCKUP" make new.img -o x.zck --dict auto \
	--dict-size 4096
expect_exit 2 "--dict with --profile fine (pieces are decoded without a dictionary)" \
	"$ZCKUP" make new.img -o x.zck --dict auto --profile fine
expect_err_contains "fine profile takes no dictionary" "... says why"
expect_exit 2 "--dict auto on a pipe (the image is read twice)" \
	sh -c "cat new.img | '$ZCKUP' make /dev/stdin -o x.zck --dict auto"
assert "no output after refused options" "[ ! -e x.zck ]"
head -c 100000 new.img >tiny.img
check "--dict auto on a tiny image writes no dictionary and says why" \
	"$ZCKUP" make tiny.img -o tiny.zck --dict auto
assert "... (the summary says so)" "grep -q 'no dictionary: too little' '$TEST_TMP/out'"
check "--dict auto where a dictionary would not pay for itself (random and text runs)" \
	"$ZCKUP" make mixed.img -o mixed.zck --level 3 --dict auto --dict-size 64
assert "... writes none and says so" "grep -q 'no dictionary: .* less than its own size' \
	'$TEST_TMP/out' && ! '$ZCKUP' inspect mixed.zck | grep -q 'with dictionary'"
check "... make --json gives the reason" "$ZCKUP" make mixed.img -o mixed.zck --level 3 \
	--dict auto --dict-size 64 --json --progress none
assert "... (dict_bytes 0, dict_skipped set)" "[ '$(json_field "$TEST_TMP/out" dict_bytes)' = 0 ] &&
	grep -q '\"dict_skipped\":\"a trained' '$TEST_TMP/out'"
finish
