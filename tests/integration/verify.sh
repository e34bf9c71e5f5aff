#!/usr/bin/env bash
# zckup verify: an installed image is exactly the header's image (exit 0) or
# not (exit 4): one byte flipped, cut short, one byte longer; slots larger
# than the image; headers without zckup's image digest (zck); pins.
. "$(dirname "$0")/lib.sh"
cd "$TEST_TMP" || exit 1

# flip FILE OFFSET: inverts the byte at OFFSET.
flip() {
	python3 -c 'import sys
p, o = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}
# chunk_at HEADER OFFSET: the index of the chunk that holds image byte OFFSET.
chunk_at() {
	"$ZCKUP" inspect "$1" --chunks --json | python3 -c 'import json, sys
o = int(sys.argv[1])
for c in json.load(sys.stdin)["chunk_table"]:
    if c["image_offset"] <= o < c["image_offset"] + c["bytes"]:
        print(c["index"])' "$2"
}

$GEN image 3 6000000 v2.img
"$ZCKUP" make v2.img -o v2.zck -H v2.zckh --level 3 --threads 2 -q
size=$(stat -c %s v2.img)
chunks=$("$ZCKUP" inspect v2.zckh --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["chunks"])')

# --- the good image --------------------------------------------------------
expect_exit 0 "the image itself matches" "$ZCKUP" verify --header v2.zckh v2.img
assert "  the text result says match and that the image SHA-256 was checked" \
	"grep -q '^match: $chunks chunks, $size bytes, image SHA-256 too' '$TEST_TMP/out'"
expect_exit 0 "the .zck serves as the header too" "$ZCKUP" verify -H v2.zck v2.img
"$ZCKUP" verify --header v2.zckh v2.img --json >good.json
assert "--json: result match, every chunk read, no bad chunk, image digest checked and ok" \
	"[ \"$(json_field good.json result)\" = match ] && [ $(json_field good.json read_bytes) = $size ] && [ $(json_field good.json bad_chunks) = 0 ] && [ $(json_field good.json chunks) = $chunks ] && [ $(json_field good.json image_digest_checked) = True ] && [ $(json_field good.json image_digest_ok) = True ] && [ $(json_field good.json size_ok) = True ]"
expect_exit 0 "-q prints nothing" "$ZCKUP" verify -q --header v2.zckh v2.img
assert "  nothing on stdout" "[ ! -s '$TEST_TMP/out' ]"

# --- one byte flipped --------------------------------------------------------
for off in 0 $((size / 2)) $((size - 1)); do
	cp v2.img flipped.img
	flip flipped.img "$off"
	want=$(chunk_at v2.zckh "$off")
	expect_exit 4 "one byte flipped at $off: exit 4" "$ZCKUP" verify --header v2.zckh flipped.img --json
	cp "$TEST_TMP/out" flip.json
	expect_err_contains "chunk $want " "  the message names chunk $want"
	assert "  --json: differs, exactly one bad chunk ($(json_field flip.json bad_chunks)), chunk $want ($(json_field flip.json first_bad_chunk))" \
		"[ \"$(json_field flip.json result)\" = differs ] && [ $(json_field flip.json bad_chunks) = 1 ] && [ $(json_field flip.json first_bad_chunk) = $want ]"
done
# every chunk is read after the first difference: two flips, two bad chunks
cp v2.img flipped2.img
flip flipped2.img 100
flip flipped2.img $((size - 100))
"$ZCKUP" verify --header v2.zckh flipped2.img --json -q >two.json 2>/dev/null || true
assert "two bytes flipped far apart: two bad chunks, all bytes read" \
	"[ $(json_field two.json bad_chunks) = 2 ] && [ $(json_field two.json read_bytes) = $size ]"

# --- a truncated image -------------------------------------------------------
head -c $((size - 1000)) v2.img >short.img
expect_exit 4 "an image cut 1000 bytes short: exit 4" "$ZCKUP" verify --header v2.zckh short.img --json
cp "$TEST_TMP/out" short.json
expect_err_contains "$((size - 1000)) bytes, the image has $size" "  the message gives both sizes"
assert "  --json: size not ok, the last chunk missing" \
	"[ $(json_field short.json size_ok) = False ] && [ $(json_field short.json bad_chunks) -ge 1 ] && [ $(json_field short.json first_bad_chunk) = $(chunk_at v2.zckh $((size - 1000))) ]"
: >empty.img
expect_exit 4 "an empty image: exit 4, every chunk missing" "$ZCKUP" verify --header v2.zckh empty.img --json
cp "$TEST_TMP/out" empty.json
assert "  --json: bad_chunks = chunks ($(json_field empty.json bad_chunks))" \
	"[ $(json_field empty.json bad_chunks) = $chunks ] && [ $(json_field empty.json first_bad_chunk) = 0 ]"
expect_exit 4 "a truncated image is refused as a slot too" "$ZCKUP" verify --slot --header v2.zckh short.img

# --- a longer image, and slots -----------------------------------------------
{ cat v2.img; printf 'x'; } >long.img
expect_exit 4 "one byte longer: exit 4" "$ZCKUP" verify --header v2.zckh long.img --json
cp "$TEST_TMP/out" long.json
expect_err_contains "followed by 1 more bytes" "  the message says the image is there with 1 byte more"
assert "  --json: every chunk ok, only the size is not" \
	"[ $(json_field long.json bad_chunks) = 0 ] && [ $(json_field long.json size_ok) = False ] && [ $(json_field long.json path_bytes) = $((size + 1)) ]"
expect_exit 0 "--slot: a slot larger than the image matches" "$ZCKUP" verify --slot --header v2.zckh long.img
cp v2.img slot.img
truncate -s 16M slot.img
flip slot.img $((size + 4096))
expect_exit 0 "--slot: bytes after the image are not checked" "$ZCKUP" verify --slot --header v2.zckh slot.img
flip slot.img 5
expect_exit 4 "--slot: a byte flipped in the image still differs" "$ZCKUP" verify --slot --header v2.zckh slot.img

# --- a slot written by apply -------------------------------------------------
$GEN edit scatter 4 v2.img v3.img
"$ZCKUP" make v3.img -o v3.zck -H v3.zckh --level 3 --threads 2 -q
cp v2.img target.img
truncate -s 8M target.img
check "apply v3 onto a slot holding v2" "$ZCKUP" apply --header v3.zckh --url v3.zck \
	--source v2.img --target target.img -q
expect_exit 0 "verify --slot: the slot holds v3" "$ZCKUP" verify --slot --header v3.zckh target.img
expect_exit 4 "verify --slot: the slot no longer holds v2" "$ZCKUP" verify --slot --header v2.zckh target.img

# --- a header made by zck: no image digest -----------------------------------
if command -v zck >/dev/null; then
	cp v2.img z.img
	(zck -u -h sha256 -o z.zck z.img >/dev/null 2>&1)
	"$ZCKUP" verify --header z.zck v2.img --json >z.json
	assert "a zck header: match by the chunk digests alone (image_digest_checked false)" \
		"[ \"$(json_field z.json result)\" = match ] && [ $(json_field z.json image_digest_checked) = False ] && [ $(json_field z.json bad_chunks) = 0 ]"
	cp v2.img zf.img
	flip zf.img 12345
	expect_exit 4 "a zck header: one byte flipped: exit 4" "$ZCKUP" verify --header z.zck zf.img
else
	skip "verify against a zck header" "zck not installed (apt-get install zchunk)"
fi

# --- pins, usage, I/O ----------------------------------------------------------
pin=$("$ZCKUP" inspect v2.zckh --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header_sha256"])')
expect_exit 0 "--header-sha256 with the header's checksum" "$ZCKUP" verify --header v2.zckh --header-sha256 "$pin" v2.img
expect_exit 5 "--header-sha256 with another checksum: exit 5" "$ZCKUP" verify --header v2.zckh \
	--header-sha256 "$(printf '%064d' 0)" v2.img
expect_exit 2 "verify without --header" "$ZCKUP" verify v2.img
expect_exit 2 "verify without IMAGE" "$ZCKUP" verify --header v2.zckh
expect_exit 6 "a missing image: exit 6" "$ZCKUP" verify --header v2.zckh nope.img
expect_err_contains "nope.img" "  the message names it"
head -c 100 v2.zckh >bad.zckh
expect_exit 3 "a truncated header: exit 3" "$ZCKUP" verify --header bad.zckh v2.img
finish
