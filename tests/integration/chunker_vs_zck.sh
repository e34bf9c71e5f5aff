#!/bin/bash
# SPDX-License-Identifier: MIT
#
# chunker_vs_zck.sh - differential test of zckup's chunker against Debian's zck.
# Usage: chunker_vs_zck.sh PATH/TO/zu_chunkdump  (or with $ZU_CHUNKDUMP set, as meson runs it)
#
# Makes a set of varied inputs, chunks each with `zck -u -h sha256` and with zu_chunkdump,
# and compares the sequences of (uncompressed length, uncompressed SHA-256). Chunk 0 of the
# zck index is the (empty) dict entry and is skipped. For an empty input zck writes only that
# entry, so both sides list no chunk. Prints TAP; exits non-zero on any mismatch.
set -u -o pipefail

dump=${1:-${ZU_CHUNKDUMP:-}}
if [ -z "$dump" ] || [ ! -x "$dump" ]; then
	echo "Bail out! usage: $0 PATH/TO/zu_chunkdump (or set ZU_CHUNKDUMP)"
	exit 2
fi
dump=$(realpath "$dump")
# A cross build runs it through the cross file's exe_wrapper (qemu-ARCH-static -L SYSROOT).
read -ra dump_cmd <<<"${ZCKUP_EXE_WRAPPER:-}"
dump_cmd+=("$dump")
for tool in zck zck_read_header openssl; do
	if ! command -v "$tool" >/dev/null; then
		echo "1..0 # SKIP $tool not found (apt-get install zchunk openssl)"
		exit 0
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chunker_vs_zck.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 2
mkdir in

# Deterministic pseudo-random bytes: AES-CTR keystream from a fixed key, seeded by $2.
rnd() {
	local n=$1 seed=$2
	local key
	key=$(printf '%064x' "$seed")
	head -c "$n" /dev/zero |
		openssl enc -aes-256-ctr -K "$key" -iv 000102030405060708090a0b0c0d0e0f -nosalt
}

text_corpus() {
	cat /usr/share/common-licenses/* 2>/dev/null
	find /usr/share/man/man1 -name '*.gz' 2>/dev/null | LC_ALL=C sort | head -200 |
		xargs -r zcat -f 2>/dev/null
}

byte_run() { # byte (octal) count
	head -c "$2" /dev/zero | tr '\0' "\\$1"
}

put_bytes() { # file offset hex-escaped-bytes
	printf '%b' "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# Found by search for this key: byte 8159 hits (restart: fed twice), and only the window
# holding it twice hits at byte 8192, so zck cuts at 8192 only because of the quirk.
make_restart_quirk() {
	rnd 8292 100 >in/restart_quirk
	put_bytes in/restart_quirk 8158 '\x3d\x94'
	put_bytes in/restart_quirk 8191 '\xab\x37'
}

# Byte 8150 hits and hits again when fed the second time; zck feeds it a third time, and only
# that window hits at 8192 (treating the double hit as a non-hit would give one chunk).
make_double_hit() {
	rnd 8292 200 >in/restart_double_hit
	put_bytes in/restart_double_hit 8103 '\x0a'
	put_bytes in/restart_double_hit 8120 '\xcf'
	put_bytes in/restart_double_hit 8140 '\x32'
	put_bytes in/restart_double_hit 8150 '\x40'
	put_bytes in/restart_double_hit 8191 '\x4a\xef'
}

make_inputs() {
	: >in/empty
	printf 'x' >in/one_byte
	rnd 5000 1 >in/rand_5000
	rnd 8191 2 >in/rand_8191
	rnd 8192 3 >in/rand_8192
	rnd 8193 4 >in/rand_8193
	rnd 130000 5 >in/rand_130000
	rnd 131071 6 >in/rand_131071
	rnd 131072 7 >in/rand_131072
	rnd 131073 8 >in/rand_131073
	rnd 262145 9 >in/rand_262145
	rnd $((16 << 20)) 10 >in/rand_16M
	byte_run 000 $((4 << 20)) >in/zeros_4M
	byte_run 377 $((3 << 20)) >in/ff_3M
	byte_run 101 200000 >in/letter_A_200000
	{ rnd 20000 11; byte_run 000 300000; rnd 20000 12; } >in/rand_zeros_rand
	yes 'abcdefghij0123456789' | head -c $((2 << 20)) >in/periodic_2M
	text_corpus >in/text
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - -C /usr/share doc \
		2>/dev/null | head -c $((40 << 20)) >in/tar_usr_share_doc
	gzip -9nc <in/text >in/text.gz
	xz -6c <in/text >in/text.xz
	cat /usr/bin/zck /usr/lib/x86_64-linux-gnu/libzck.so.1* /usr/bin/openssl \
		2>/dev/null >in/elf_binaries
	# The same 1 MiB twice, the second copy shifted by 17 bytes: cuts must resynchronise.
	{ rnd $((1 << 20)) 13; rnd 17 14; rnd $((1 << 20)) 13; } >in/shifted_repeat
	make_ext4
	make_restart_quirk
	make_double_hit
	{ rnd $((3 << 20)) 15; byte_run 000 $((2 << 20)); head -c $((3 << 20)) in/text;
	  cat in/elf_binaries; byte_run 377 $((1 << 20)); head -c $((2 << 20)) in/tar_usr_share_doc;
	  rnd $((1 << 20)) 16; } >in/mixed_over_10M
}

make_ext4() {
	if ! command -v mkfs.ext4 >/dev/null; then
		skip "ext4 image input" "mkfs.ext4 missing (apt-get install e2fsprogs)"
		return 0
	fi
	mkdir -p ext4root
	cp -r /usr/share/common-licenses ext4root/ 2>/dev/null
	head -c $((2 << 20)) in/rand_16M >ext4root/random.bin
	find ext4root -exec touch -h -d @0 {} + 2>/dev/null
	SOURCE_DATE_EPOCH=0 E2FSPROGS_FAKE_TIME=0 mkfs.ext4 -q -F \
		-U 01234567-89ab-cdef-0123-456789abcdef \
		-E root_owner=0:0,hash_seed=89abcdef-0123-4567-89ab-cdef01234567 \
		-d ext4root in/ext4_16M.img 16M >/dev/null 2>&1 || rm -f in/ext4_16M.img
}

# Prints "LEN UNCOMPRESSED_SHA256" per data chunk of X.zck (index, checksum, uncompressed
# checksum, start, comp size, size; chunk 0 is the dict entry).
zck_chunks() {
	zck_read_header -c "$1" | awk 'NF == 6 && $1 ~ /^[0-9]+$/ && $1 > 0 { print $6, $3 }'
}

make_inputs
mapfile -t names < <(cd in && LC_ALL=C ls)
if [ "${#names[@]}" -lt 20 ]; then
	echo "Bail out! only ${#names[@]} inputs could be made"
	exit 2
fi

echo "1..${#names[@]}"
fail=0
i=0
for name in "${names[@]}"; do
	i=$((i + 1))
	f=in/$name
	if ! zck -u -h sha256 -o "$name.zck" "$f" >/dev/null 2>zck.err; then
		echo "not ok $i - $name # zck failed: $(head -c 200 zck.err)"
		fail=1
		continue
	fi
	if ! zck_chunks "$name.zck" >"$name.ref" || ! "${dump_cmd[@]}" "$f" >"$name.ours"; then
		echo "not ok $i - $name # chunk listing failed"
		fail=1
		continue
	fi
	size=$(stat -c %s "$f")
	n=$(wc -l <"$name.ref")
	if [[ $name = restart_* ]] && [ "$(head -c 5 "$name.ref")" != "8192 " ]; then
		echo "not ok $i - $name # input does not exercise the quirk (first zck chunk not 8192)"
		fail=1
	elif cmp -s "$name.ref" "$name.ours"; then
		echo "ok $i - $name ($size bytes, $n chunks)"
	else
		echo "not ok $i - $name ($size bytes, zck $n chunks, ours $(wc -l <"$name.ours"))"
		diff "$name.ref" "$name.ours" | head -6 | sed 's/^/# /'
		fail=1
	fi
done
exit $fail
