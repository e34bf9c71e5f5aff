#!/usr/bin/env bash
# zckup explain: what a device holding OLD fetches for NEW, per file. On
# every pair (raw images, ext4, tar, squashfs; fine and compat .zck files)
# the total attributed to files equals plan's figure to the byte, and the
# files sum to that total too; a file changed on purpose comes out on top
# with the bytes plan fetches for it.
. "$(dirname "$0")/lib.sh"
cd "$TEST_TMP"
export E2FSPROGS_FAKE_TIME=1700000000
# Fixed UUID and directory hash seed: the same layout on every run.
FS_UUID=7c0c4d5e-5a1f-4b9e-8d3a-2f6e9b1c0a55
mkext() { # TYPE ARGS...
	local t=$1
	shift
	"mkfs.$t" -q -F -U "$FS_UUID" -E "root_owner=0:0,hash_seed=$FS_UUID" "$@" >/dev/null
}
# The readers this build has (a cross build's sysroot may lack libext2fs, libsquashfs).
readers=$("$ZCKUP" --version --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["explain_readers"])')
has_reader() { case " $readers " in *" $1 "*) return 0 ;; esac; return 1; }
echo "# explain readers: $readers"
if [ -z "$readers" ]; then
	skip "explain" "zckup built with -Dexplain=disabled"
	expect_exit 2 "explain: a build without explain says so" "$ZCKUP" explain a b
	expect_err_contains "not built in" "explain: ... with the reason"
	finish
	exit
fi

# jq-free checks of explain's JSON: prints "total files_sum dirs_sum plan".
sums() {
	python3 - "$1" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
files = sum(f["fetch_bytes"] for f in j["files"])
# top-level groups: "/" and the bracketed pseudo-file groups
top = sum(d["fetch_bytes"] for d in j["dirs"] if d["path"] == "/" or d["path"].startswith("["))
# the dictionary (fetched once) has no place in the image: in no cell
cells = sum(c["fetch_bytes"] for c in j["map"]) + sum(
    f["fetch_bytes"] for f in j["files"] if f["path"] == "[zck dictionary]")
print(j["fetch_bytes"], files, top, cells, j["plan_fetch_bytes"])
PY
}

# pair_case NAME OLD NEW [PLAN_OPTS...]: explain's totals equal plan's.
# Makes NAME.zck from NEW with the make options in $MAKE_OPTS.
pair_case() {
	local name=$1 old=$2 new=$3 want field
	shift 3
	# shellcheck disable=SC2086
	if ! "$ZCKUP" make "$new" -o "$name.zck" -q $MAKE_OPTS 2>"$TEST_TMP/err"; then
		not_ok "$name: make"
		diag "$TEST_TMP/err"
		return
	fi
	"$ZCKUP" plan --source "$old" "$name.zck" --json -q "$@" >"$name-plan.json"
	field=fetch_bytes
	[ "$(json_field "$name-plan.json" fine)" = True ] && field=fine_fetch_bytes
	want=$(json_field "$name-plan.json" $field)
	if ! "$ZCKUP" explain "$old" "$new" --zck "$name.zck" --json -q "$@" >"$name.json" \
		2>"$TEST_TMP/err"; then
		not_ok "$name: explain"
		diag "$TEST_TMP/err"
		return
	fi
	read -r total files top cells plan < <(sums "$name.json")
	assert "$name: explain's total is plan's $field ($total = $want)" "[ '$total' = '$want' ]"
	assert "$name: explain reports plan's figure ($plan)" "[ '$plan' = '$want' ]"
	assert "$name: the files add up to the total ($files)" "[ '$files' = '$want' ]"
	assert "$name: the top directories and groups add up to the total ($top)" \
		"[ '$top' = '$want' ]"
	assert "$name: the map cells add up to the total ($cells)" "[ '$cells' = '$want' ]"
	assert "$name: something is fetched" "[ '$want' -gt 0 ]"
}

# Raw images: no file system, explained by offset ranges.
$GEN image 1 6000000 raw-old.img
$GEN edit scatter 2 raw-old.img raw-new.img
MAKE_OPTS="--level 3" pair_case raw-fine raw-old.img raw-new.img
MAKE_OPTS="--level 3" pair_case raw-nofine raw-old.img raw-new.img --no-fine
MAKE_OPTS="--level 3 --profile compat" pair_case raw-compat raw-old.img raw-new.img
assert "raw: no file system found" "[ \"\$(json_field raw-fine.json fs)\" = none ]"
python3 - raw-fine.json >raw-top.txt <<'PY'
import json, sys
print(json.load(open(sys.argv[1]))["files"][0]["path"])
PY
assert "raw: entries are offset ranges ($(cat raw-top.txt))" "grep -q '^\[offsets 0x' raw-top.txt"

# 1 MiB windows of offsets.
python3 - raw-fine.json >raw-win.txt <<'PY'
import json, sys
e = [f for f in json.load(open(sys.argv[1]))["files"] if f["path"] == "[offsets 0x000100000-0x000200000]"]
print(e[0]["image_bytes"] if e else 0)
PY
assert "raw: an offset range is 1 MiB of the image ($(cat raw-win.txt))" "[ \"\$(cat raw-win.txt)\" = 1048576 ]"
# A dictionary (compat, --dict FILE): fetched once, as an entry of its own.
head -c 65536 raw-old.img >dict.bin
MAKE_OPTS="--level 3 --dict dict.bin" pair_case raw-dict raw-old.img raw-new.img
python3 - raw-dict.json >raw-dict.txt <<'PY'
import json, sys
e = [f for f in json.load(open(sys.argv[1]))["files"] if f["path"] == "[zck dictionary]"]
print(e[0]["fetch_bytes"] if e else 0)
PY
dict_zck=$("$ZCKUP" inspect raw-dict.zck --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["dict_bytes"])')
assert "raw: the dictionary is an entry with its compressed bytes ($(cat raw-dict.txt) = $dict_zck)" \
	"[ \"\$(cat raw-dict.txt)\" = '$dict_zck' ] && [ '$dict_zck' -gt 0 ]"

# The same through the temporary .zck explain makes itself: the same figure.
"$ZCKUP" explain raw-old.img raw-new.img --level 3 --json -q >raw-self.json
assert "raw: explain without --zck makes the same .zck (same total)" \
	"[ \"\$(json_field raw-self.json fetch_bytes)\" = \"\$(json_field raw-fine.json fetch_bytes)\" ]"
check "explain: the table prints" "$ZCKUP" explain raw-old.img raw-new.img --zck raw-fine.zck -q
assert "explain: the table ends with the total line" "grep -q '^total: ' '$TEST_TMP/out'"
"$ZCKUP" explain raw-old.img raw-new.img --zck raw-fine.zck -q --top 3 >top3.txt
assert "explain: --top 3 prints 3 rows of files" \
	"[ \"\$(sed -n '/top 3 files/,/^\$/p' top3.txt | grep -c '\[offsets')\" = 3 ]"

# ext4 pairs: a tree, then the same tree with one file changed on purpose (a
# larger random file in place of a small one), one new file, one removed.
mkdir tree
cp -r "$ZCKUP_SRC/src" tree/src
seq 1 150000 >tree/numbers
$GEN image 3 400000 tree/blob.bin
cp -r tree tree2
$GEN random 4 700000 tree2/src/lib/plan.c       # the file changed on purpose
$GEN random 5 90000 tree2/added.bin
rm tree2/numbers
if ! has_reader ext4; then
	skip "ext4 pairs" "zckup built without libext2fs (apt-get install libext2fs-dev)"
elif command -v mkfs.ext4 >/dev/null && command -v debugfs >/dev/null; then
	mkext ext4 -d tree ext4-old.img 24M >/dev/null
	mkext ext4 -d tree2 ext4-new.img 24M >/dev/null
	MAKE_OPTS="--level 3" pair_case ext4-fine ext4-old.img ext4-new.img
	MAKE_OPTS="--level 3 --profile compat" pair_case ext4-compat ext4-old.img ext4-new.img
	assert "ext4: read as ext4" "[ \"\$(json_field ext4-fine.json fs)\" = ext4 ]"
	# NEW given as the .zck, or as its detached header with --zck: the image is
	# rebuilt first (in TMPDIR, removed after), the same figures come out.
	mkdir tmpd
	TMPDIR=$TEST_TMP/tmpd "$ZCKUP" explain ext4-old.img ext4-fine.zck --json -q >ext4-z.json
	"$ZCKUP" extract-header ext4-fine.zck -o ext4-fine.zckh
	TMPDIR=$TEST_TMP/tmpd "$ZCKUP" explain ext4-old.img ext4-fine.zckh --zck ext4-fine.zck \
		--json -q >ext4-zh.json
	assert "ext4: explain OLD NEW.zck gives the same total" \
		"[ \"\$(json_field ext4-z.json fetch_bytes)\" = \"\$(json_field ext4-fine.json fetch_bytes)\" ]"
	assert "ext4: explain OLD NEW.zckh --zck NEW.zck gives the same total" \
		"[ \"\$(json_field ext4-zh.json fetch_bytes)\" = \"\$(json_field ext4-fine.json fetch_bytes)\" ]"
	assert "ext4: ... and reads the files of the rebuilt image" \
		"[ \"\$(json_field ext4-z.json fs)\" = ext4 ] && grep -q '\"path\":\"/src/lib/plan.c\"' ext4-z.json"
	assert "ext4: the rebuilt image and made .zck are removed" "[ -z \"\$(ls -A tmpd)\" ]"
	expect_exit 2 "explain: a detached header as NEW needs --zck" \
		"$ZCKUP" explain ext4-old.img ext4-fine.zckh -q
	# What explain says of the changed file, against debugfs's blocks of it
	# and the chunks plan fetches (inspect/plan --chunks): at least the chunks
	# that lie wholly in its blocks, at most those that touch them (gaps of
	# under 256 bytes merged in).
	debugfs -R "blocks /src/lib/plan.c" ext4-new.img 2>/dev/null >blocks.txt
	"$ZCKUP" plan --source ext4-old.img ext4-compat.zck --chunks --json -q >ext4-chunks.json
	bsize=$(dumpe2fs -h ext4-new.img 2>/dev/null | sed -n 's/^Block size: *//p')
	python3 - ext4-compat.json ext4-chunks.json blocks.txt "$bsize" >ext4-check.txt <<'PY'
import json, sys
ex = json.load(open(sys.argv[1]))
chunks = json.load(open(sys.argv[2]))["chunk_table"]
blocks = [int(b) for b in open(sys.argv[3]).read().split()]
bs = int(sys.argv[4])
mine = set(blocks)
top = ex["files"][0]
lo = hi = off = 0
for c in chunks:
    if c["from"] != "fetch":
        off += c["bytes"]
        continue
    first, last = off // bs, (off + c["bytes"] - 1) // bs
    off += c["bytes"]
    inside = [b in mine for b in range(first, last + 1)]
    if all(inside):
        lo += c["comp_bytes"]
    if any(inside):
        hi += c["comp_bytes"] + 256
got = next(f for f in ex["files"] if f["path"] == "/src/lib/plan.c")
print(top["path"], top["class"], got["fetch_bytes"], lo, hi, got["bytes"])
PY
	read -r tpath tclass got lo hi fsize <ext4-check.txt
	assert "ext4: the changed file is on top ($tpath)" "[ '$tpath' = /src/lib/plan.c ]"
	assert "ext4: it is a changed file ($tclass)" "[ '$tclass' = changed ]"
	assert "ext4: its size is the new one ($fsize)" "[ '$fsize' = 700000 ]"
	assert "ext4: its bytes are those of the chunks in its blocks ($lo <= $got <= $hi)" \
		"[ $lo -gt 600000 ] && [ $lo -le $got ] && [ $got -le $hi ]"
	python3 - ext4-fine.json >ext4-fine.txt <<'PY'
import json, sys
ex = json.load(open(sys.argv[1]))
by = {f["path"]: f for f in ex["files"]}
top = ex["files"][0]
print(top["path"], top["fetch_bytes"], by["/added.bin"]["class"], by["/added.bin"]["fetch_bytes"],
      by["/blob.bin"]["class"], by["/blob.bin"]["fetch_bytes"], int("/numbers" in by))
PY
	read -r tpath got aclass afetch bclass bfetch gone <ext4-fine.txt
	assert "ext4 fine: the changed file is on top ($tpath)" "[ '$tpath' = /src/lib/plan.c ]"
	# random bytes do not compress: every 4 KiB piece is fetched as a frame of
	# at least its bytes, plus the piece tables of its chunks; the pieces it
	# shares with other files at its two ends are split by bytes (a few KiB less)
	assert "ext4 fine: its bytes are its size plus frame and table overhead ($got)" \
		"[ $got -ge $((700000 - 8192)) ] && [ $got -le $((700000 * 102 / 100 + 16384)) ]"
	assert "ext4: the added file is new ($aclass, $afetch bytes)" \
		"[ '$aclass' = new ] && [ $afetch -ge $((90000 - 8192)) ]"
	# mkfs may place an untouched file elsewhere: then it is moved, never changed
	assert "ext4: an untouched file is unchanged or moved ($bclass, $bfetch bytes)" \
		"[ '$bclass' = unchanged -a '$bfetch' = 0 ] || [ '$bclass' = moved -a '$bfetch' -gt 0 ]"
	assert "ext4: untouched files that cost nothing are unchanged" \
		"grep -q '\"fetch_bytes\": *0, *\"class\": *\"unchanged\"' ext4-fine.json"
	assert "ext4: a removed file is not listed" "[ '$gone' = 0 ]"
	# Every regular file of the tree with data is listed, by its path.
	(cd tree2 && find . -type f -size +0 | sed 's|^\.||' | sort) >tree-files.txt
	python3 - ext4-fine.json >listed.txt <<'PY'
import json, sys
for f in json.load(open(sys.argv[1]))["files"]:
    if f["path"].startswith("/") and not f["path"].endswith("/") and f["class"] != "metadata":
        print(f["path"])
PY
	sort -o listed.txt listed.txt
	check "ext4: the files listed are the tree's files" cmp tree-files.txt listed.txt
	python3 - ext4-fine.json >groups.txt <<'PY'
import json, sys
for f in json.load(open(sys.argv[1]))["files"]:
    if f["path"].startswith("["):
        print(f["path"])
PY
	for g in "[ext4 inode tables]" "[ext4 journal]" "[free space]" "[ext4 bitmaps]" \
		"[ext4 superblocks and group descriptors]"; do
		assert "ext4: metadata and free space are named: $g" "grep -qxF '$g' groups.txt"
	done

	python3 - ext4-fine.json >dirent.txt <<'PY'
import json, sys
by = {f["path"]: f for f in json.load(open(sys.argv[1]))["files"]}
print(by.get("/src/lib/", {}).get("class", "missing"))
PY
	assert "ext4: a directory's own blocks are metadata, as /src/lib/ ($(cat dirent.txt))" \
		"[ \"\$(cat dirent.txt)\" = metadata ]"
	# ext2 (block maps, no extents): the same reader; the indirect blocks of
	# the large files are metadata.
	mkext ext2 -d tree ext2-old.img 24M >/dev/null
	mkext ext2 -d tree2 ext2-new.img 24M >/dev/null
	MAKE_OPTS="--level 3" pair_case ext2 ext2-old.img ext2-new.img
	python3 - ext2.json >ext2.txt <<'PY'
import json, sys
ex = json.load(open(sys.argv[1]))
by = {f["path"]: f for f in ex["files"]}
print(ex["fs"], ex["files"][0]["path"], by.get("[ext4 extent trees and block maps]", {}).get("image_bytes", 0))
PY
	read -r fs tpath maps <ext2.txt
	assert "ext2: read by the ext2/3/4 reader, the changed file on top ($fs, $tpath)" \
		"[ '$fs' = ext4 ] && [ '$tpath' = /src/lib/plan.c ]"
	assert "ext2: indirect blocks are metadata ($maps bytes)" "[ '$maps' -gt 0 ]"
	# A corrupt file system: a warning, offsets only, the same total as plan.
	cp ext4-new.img ext4-bad.img
	itable=$(dumpe2fs ext4-new.img 2>/dev/null | sed -n 's/.*Inode table at \([0-9]*\)-.*/\1/p' | head -1)
	bsize=$(dumpe2fs -h ext4-new.img 2>/dev/null | sed -n 's/^Block size: *//p')
	$GEN random 6 "$((bsize * 4))" garbage   # over the root inode (2), in group 0's table
	dd if=garbage of=ext4-bad.img bs="$bsize" seek="$itable" conv=notrunc status=none
	MAKE_OPTS="--level 3" pair_case ext4-bad ext4-old.img ext4-bad.img
	expect_exit 0 "ext4: a corrupt inode table does not fail explain" \
		"$ZCKUP" explain ext4-old.img ext4-bad.img --zck ext4-bad.zck --progress none
	expect_err_contains "explained by offset ranges" "ext4: a corrupt file system is a warning"
	# claims more blocks than the image has
	cp ext4-new.img ext4-big.img
	python3 - ext4-big.img <<'PY'
import struct, sys
f = open(sys.argv[1], "r+b")
f.seek(1024 + 4)
n = struct.unpack("<I", f.read(4))[0]
f.seek(1024 + 4)
f.write(struct.pack("<I", n * 4))
PY
	MAKE_OPTS="--level 3" pair_case ext4-big ext4-old.img ext4-big.img
	expect_exit 0 "ext4: a superblock that claims too many blocks does not fail explain" \
		"$ZCKUP" explain ext4-old.img ext4-big.img --zck ext4-big.zck --progress none
	expect_err_contains "ext4-big.img: ext4: .*explained by offset ranges" \
		"ext4: a superblock that claims too much is a warning"
	assert "ext4: the corrupt images are explained by offsets" \
		"[ \"\$(json_field ext4-bad.json fs)\" = none ] && [ \"\$(json_field ext4-big.json fs)\" = none ]"
else
	skip "ext4 pairs" "mkfs.ext4 or debugfs missing (apt-get install e2fsprogs)"
fi

# tar pairs, from the member headers: GNU (long names as 'L' records) and
# pax (long names as path= records).
long=tree2/a-directory-with-a-rather-long-name/and-another-one-that-is-long-too/so-that-the-path-exceeds-100
mkdir -p "$long"
$GEN random 7 50000 "$long/file.bin"
sq_opts=(-noappend -quiet -all-root -mkfs-time 1700000000 -all-time 1700000000)
tar_opts=(--sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner)
for fmt in gnu pax; do
	tar -C tree -cf "tar-$fmt-old.tar" --format=$fmt "${tar_opts[@]}" .
	tar -C tree2 -cf "tar-$fmt-new.tar" --format=$fmt "${tar_opts[@]}" .
	MAKE_OPTS="--level 3" pair_case "tar-$fmt" "tar-$fmt-old.tar" "tar-$fmt-new.tar"
	python3 - "tar-$fmt.json" >tar-check.txt <<'PY'
import json, sys
ex = json.load(open(sys.argv[1]))
by = {f["path"]: f for f in ex["files"]}
top = ex["files"][0]
lng = [f for f in ex["files"] if f["path"].endswith("/so-that-the-path-exceeds-100/file.bin")]
print(ex["fs"], top["path"], top["class"], top["fetch_bytes"], top["bytes"],
      lng[0]["path"] if lng else "none", lng[0]["class"] if lng else "none",
      by.get("/blob.bin", {}).get("class", "missing"))
PY
	read -r fs tpath tclass got size lpath lclass bclass <tar-check.txt
	assert "tar $fmt: read as tar ($fs)" "[ '$fs' = tar ]"
	assert "tar $fmt: the changed file is on top ($tpath, $tclass)" \
		"[ '$tpath' = /src/lib/plan.c ] && [ '$tclass' = changed ] && [ '$size' = 700000 ]"
	assert "tar $fmt: its bytes are its size plus frame overhead ($got)" \
		"[ $got -ge $((700000 - 8192)) ] && [ $got -le $((700000 * 102 / 100 + 16384)) ]"
	assert "tar $fmt: a path over 100 bytes is read whole ($lpath)" \
		"[ '$lpath' = /${long#tree2/}/file.bin ] && [ '$lclass' = new ]"
	assert "tar $fmt: an untouched file is unchanged or moved ($bclass)" \
		"[ '$bclass' = unchanged ] || [ '$bclass' = moved ]"
done
# A tar archive cut short inside a member: a warning, offsets only.
head -c 1000000 tar-gnu-new.tar >tar-cut.tar
MAKE_OPTS="--level 3" pair_case tar-cut tar-gnu-old.tar tar-cut.tar
expect_exit 0 "tar: an archive cut short does not fail explain" \
	"$ZCKUP" explain tar-gnu-old.tar tar-cut.tar --zck tar-cut.zck --progress none
expect_err_contains "tar: .*cut short.*explained by offset ranges" "tar: a cut archive is a warning"

# squashfs pairs, read with libsquashfs.
if ! has_reader squashfs; then
	skip "squashfs pairs" "zckup built without libsquashfs (apt-get install libsquashfs-dev)"
elif command -v mksquashfs >/dev/null; then
	mksquashfs tree sq-old.img "${sq_opts[@]}" >/dev/null
	mksquashfs tree2 sq-new.img "${sq_opts[@]}" >/dev/null
	MAKE_OPTS="--level 3" pair_case sq sq-old.img sq-new.img
	MAKE_OPTS="--level 3 --profile compat" pair_case sq-compat sq-old.img sq-new.img
	python3 - sq.json >sq-check.txt <<'PY'
import json, sys
ex = json.load(open(sys.argv[1]))
by = {f["path"]: f for f in ex["files"]}
top = ex["files"][0]
untouched = [f for p, f in by.items() if p.startswith("/src/") and p != "/src/lib/plan.c"]
print(ex["fs"], top["path"], top["class"], top["fetch_bytes"], by["/added.bin"]["class"],
      sum(f["class"] == "changed" for f in untouched), len(untouched),
      int(any(p.startswith("[squashfs") for p in by)),
      sum(f["class"] == "moved" for f in untouched))
PY
	read -r fs tpath tclass got aclass nchanged nuntouched meta nmoved <sq-check.txt
	assert "squashfs: read as squashfs ($fs)" "[ '$fs' = squashfs ]"
	assert "squashfs: the changed file is on top ($tpath, $tclass)" \
		"[ '$tpath' = /src/lib/plan.c ] && [ '$tclass' = changed ]"
	assert "squashfs: its bytes are about its size (random data, $got)" \
		"[ $got -ge $((700000 - 8192)) ] && [ $got -le $((700000 * 102 / 100 + 16384)) ]"
	assert "squashfs: the added file is new ($aclass)" "[ '$aclass' = new ]"
	assert "squashfs: untouched files are never changed ($nchanged of $nuntouched)" \
		"[ '$nchanged' = 0 ] && [ '$nuntouched' -gt 50 ]"
	assert "squashfs: its tables are named" "[ '$meta' = 1 ]"
	assert "squashfs: untouched files that cost bytes are moved ($nmoved)" "[ '$nmoved' -gt 0 ]"
	# A directory table of garbage: a warning, offsets only.
	cp sq-new.img sq-bad.img
	python3 - sq-bad.img <<'PY'
import struct, sys
f = open(sys.argv[1], "r+b")
f.seek(72)          # directory_table_start, then fragment_table_start
d = struct.unpack("<Q", f.read(8))[0]
f.seek(d)
f.write(bytes((i * 7 + 3) & 255 for i in range(64)))
PY
	MAKE_OPTS="--level 3" pair_case sq-bad sq-old.img sq-bad.img
	expect_exit 0 "squashfs: a corrupt directory table does not fail explain" \
		"$ZCKUP" explain sq-old.img sq-bad.img --zck sq-bad.zck --progress none
	expect_err_contains "sq-bad.img: squashfs: .*explained by offset ranges" \
		"squashfs: a corrupt image is a warning"
else
	skip "squashfs pairs" "mksquashfs missing (apt-get install squashfs-tools)"
fi

# dpkg: both images carry a package database. foo keeps version 1.0 but its
# binary changed (not reproducible); bar went from 1.0 to 2.0 (expected);
# baz kept its version and its bytes.
mk_dpkg_tree() { # DIR BAR_VERSION FOO_SEED BAR_SEED
	mkdir -p "$1/var/lib/dpkg/info" "$1/usr/bin" "$1/usr/share/baz"
	cat >"$1/var/lib/dpkg/status" <<EOT
Package: foo
Status: install ok installed
Architecture: amd64
Version: 1.0

Package: bar
Status: install ok installed
Architecture: all
Version: $2

Package: baz
Status: install ok installed
Architecture: amd64
Version: 3.1-2
EOT
	printf '/.\n/usr\n/usr/bin\n/usr/bin/foo\n' >"$1/var/lib/dpkg/info/foo:amd64.list"
	printf '/.\n/usr/bin/bar\n' >"$1/var/lib/dpkg/info/bar.list"
	printf '/usr/share/baz/data\n' >"$1/var/lib/dpkg/info/baz:amd64.list"
	$GEN random "$3" 300000 "$1/usr/bin/foo"
	$GEN random "$4" 200000 "$1/usr/bin/bar"
	$GEN image 9 250000 "$1/usr/share/baz/data"
}
mk_dpkg_tree dpkg-old 1.0 10 11
mk_dpkg_tree dpkg-new 2.0 12 13
# dpkg_case NAME OLD NEW: foo (and only foo) is listed, with its fetched bytes.
dpkg_case() {
	MAKE_OPTS="--level 3" pair_case "$1" "$2" "$3"
	python3 - "$1.json" >"$1-dpkg.txt" <<'PY'
import json, sys
ex = json.load(open(sys.argv[1]))
by = {f["path"]: f for f in ex["files"]}
rows = ex["dpkg_unreproducible"]
print(ex["dpkg"], len(rows), rows[0]["path"] if rows else "none",
      rows[0]["package"] if rows else "none", rows[0]["version"] if rows else "none",
      rows[0]["fetch_bytes"] if rows else -1, by["/usr/bin/foo"]["fetch_bytes"],
      by["/usr/bin/bar"]["class"])
PY
	read -r found n path pkg ver got want barclass <"$1-dpkg.txt"
	assert "$1: both images have a dpkg database ($found)" "[ '$found' = True ]"
	assert "$1: the one file changed at the same version is listed ($n: $path of $pkg $ver)" \
		"[ '$n' = 1 ] && [ '$path' = /usr/bin/foo ] && [ '$pkg' = foo:amd64 ] && [ '$ver' = 1.0 ]"
	assert "$1: with the bytes fetched for it ($got = $want)" "[ '$got' = '$want' ] && [ '$got' -gt 290000 ]"
	assert "$1: the upgraded package's file is changed but not listed ($barclass)" "[ '$barclass' = changed ]"
	"$ZCKUP" explain "$2" "$3" --zck "$1.zck" -q --html "$1.html" >"$1-table.txt"
	assert "$1: the table lists it" "grep -q 'foo:amd64  *1.0  *.*/usr/bin/foo' '$1-table.txt'"
	assert "$1: the page carries it" "grep -q '\"package\":\"foo:amd64\"' '$1.html'"
}
tar -C dpkg-old -cf dpkg-old.tar "${tar_opts[@]}" .
tar -C dpkg-new -cf dpkg-new.tar "${tar_opts[@]}" .
dpkg_case dpkg-tar dpkg-old.tar dpkg-new.tar
if has_reader ext4 && command -v mkfs.ext4 >/dev/null; then
	mkext ext4 -d dpkg-old dpkg-old.ext4 8M >/dev/null
	mkext ext4 -d dpkg-new dpkg-new.ext4 8M >/dev/null
	dpkg_case dpkg-ext4 dpkg-old.ext4 dpkg-new.ext4
else
	skip "dpkg: ext4 pair" "no ext4 reader or mkfs.ext4"
fi
if has_reader squashfs && command -v mksquashfs >/dev/null; then
	mksquashfs dpkg-old dpkg-old.sqfs "${sq_opts[@]}" >/dev/null
	mksquashfs dpkg-new dpkg-new.sqfs "${sq_opts[@]}" >/dev/null
	dpkg_case dpkg-sqfs dpkg-old.sqfs dpkg-new.sqfs
else
	skip "dpkg: squashfs pair" "no squashfs reader or mksquashfs"
fi
assert "dpkg: images without a database say so" "[ \"\$(json_field tar-gnu.json dpkg)\" = False ]"

# Damaged file systems, seeded and bounded (3 damages of each image, as NEW
# and as OLD): whatever the damage, explain
# exits 0 (a warning and offsets where a reader gives up) and its total is
# still plan's.
damage() { # IN OUT SEED: 24 runs of 64 bytes overwritten, where the metadata is
	python3 - "$1" "$2" "$3" <<'PY'
import random, sys
data = bytearray(open(sys.argv[1], "rb").read())
rng = random.Random(int(sys.argv[3]))
n = len(data)
for _ in range(24):
    # ext4 keeps its tables at the start, squashfs at the end, tar in its headers
    region = rng.choice([(0, min(n, 262144)), (max(0, n - 65536), n), (0, n)])
    at = rng.randrange(region[0], max(region[0] + 1, region[1] - 64))
    data[at:at + 64] = bytes(rng.randrange(256) for _ in range(64))
open(sys.argv[2], "wb").write(data)
PY
}
crashes=0 runs=0 mismatches=0
for img in dpkg-new.tar dpkg-new.ext4 dpkg-new.sqfs; do
	[ -f "$img" ] || continue
	ext=${img##*.}
	for seed in 1 2 3; do
		damage "$img" dmg.img "$seed"
		"$ZCKUP" make dmg.img -o dmg.zck -q --level 1
		# the damaged image as NEW, then as OLD
		for args in "dpkg-old.$ext dmg.img --zck dmg.zck" "dmg.img $img --zck dpkg-$ext.zck"; do
			st=0
			# shellcheck disable=SC2086
			"$ZCKUP" explain $args --json -q >dmg.json 2>dmg.err || st=$?
			runs=$((runs + 1))
			if [ "$st" != 0 ]; then
				crashes=$((crashes + 1))
				echo "# explain $args (seed $seed): exit $st"
				diag dmg.err
			elif [ "$(json_field dmg.json fetch_bytes)" != "$(json_field dmg.json plan_fetch_bytes)" ]; then
				mismatches=$((mismatches + 1))
			fi
		done
	done
done
rm -f dmg.img dmg.zck dmg.json dmg.err
assert "damaged file systems: explain exits 0 on each of $runs ($crashes did not)" \
	"[ $runs -ge 6 ] && [ $crashes = 0 ]"
assert "damaged file systems: the totals are still plan's ($mismatches differ)" "[ $mismatches = 0 ]"

# The page: rendered by Debian's chromium, headless. It must load without
# errors, draw one map cell per cell of the JSON and the bars; the
# screenshot and the page are kept in $ZCKUP_ARTIFACTS.
chromium_run() {
	timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
		--disable-component-update --disable-sync --no-first-run --hide-scrollbars \
		--user-data-dir="$TEST_TMP/chromium-profile" --enable-logging=stderr --v=0 "$@"
}
if [ ! -e ext4-fine.zck ]; then
	skip "explain --html in chromium" "no ext4 pair (e2fsprogs or libext2fs missing)"
elif ! command -v chromium >/dev/null; then
	skip "explain --html in chromium" "chromium missing (apt-get install chromium)"
else
	check "html: explain --html writes the page" "$ZCKUP" explain ext4-old.img ext4-new.img \
		--zck ext4-fine.zck --html page.html --json -q
	cp "$TEST_TMP/out" page.json
	assert "html: the page is self-contained (no src= or href=)" \
		"! grep -Eq '(src|href)=' page.html"
	assert "html: the page names no other URL than the SVG namespace" \
		"[ \"\$(grep -o \"https\\?://[^\\\"']*\" page.html | sort -u)\" = http://www.w3.org/2000/svg ]"
	if chromium_run --dump-dom "file://$TEST_TMP/page.html" >dom.html 2>chromium.err; then
		ok "html: chromium loads the page"
	else
		not_ok "html: chromium loads the page"
		diag chromium.err
	fi
	cells=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["map"]))' page.json)
	assert "html: the script ran to its end" "grep -q 'data-ready=\"1\"' dom.html"
	assert "html: no script error on the page" "! grep -q 'data-error=' dom.html"
	assert "html: no uncaught error in chromium's console" "! grep -q 'Uncaught' chromium.err"
	assert "html: the map has one cell per map cell of the JSON ($cells)" \
		"[ \"\$(grep -o 'class=\"cell\"' dom.html | wc -l)\" = $cells ] && [ $cells -gt 0 ] && [ $cells -le 1024 ]"
	assert "html: fetched cells are drawn red" "grep -q 'fill=\"#c0392b\"' dom.html"
	assert "html: hovering a cell names the changed file" "grep -q '<title>[^<]*/src/lib/plan.c' dom.html"
	nbars=$(sed -n 's/.*data-bars="\([0-9]*\)".*/\1/p' dom.html | head -1)
	assert "html: the bars are drawn, 25 files and 25 directories at most (${nbars:-0})" \
		"[ \"\${nbars:-0}\" -gt 2 ] && [ \"\${nbars:-0}\" -le 50 ] && [ \"\$(grep -o 'class=\"bar\"' dom.html | wc -l)\" = '$nbars' ]"
	assert "html: the top file has the first bar" \
		"grep -o 'class=\"label\"[^>]*>[^<]*' dom.html | head -1 | grep -q '/src/lib/plan.c'"
	assert "html: the totals are on the page" \
		"grep -q \"fetched \$(json_field page.json fetch_bytes) bytes\" dom.html"
	# the dpkg pair's page shows its not-reproducible file
	chromium_run --dump-dom "file://$TEST_TMP/dpkg-tar.html" >dom-dpkg.html 2>>chromium.err
	assert "html: the dpkg section is shown with the file" \
		"grep -q 'id=\"dpkgbox\" style=\"display: block;\"' dom-dpkg.html && grep -q '/usr/bin/foo (foo:amd64 1.0)' dom-dpkg.html"
	chromium_run --window-size=1200,1500 --screenshot="$TEST_TMP/explain.png" \
		"file://$TEST_TMP/page.html" >/dev/null 2>>chromium.err
	assert "html: chromium takes a screenshot of it" \
		"[ -s explain.png ] && [ \"\$(head -c 4 explain.png | od -An -c | tr -d ' ')\" = '211PNG' ]"
	if [ -n "${ZCKUP_ARTIFACTS:-}" ] && mkdir -p "$ZCKUP_ARTIFACTS"; then
		cp explain.png "$ZCKUP_ARTIFACTS/explain.png"
		cp page.html "$ZCKUP_ARTIFACTS/explain.html"
		echo "# screenshot kept: $ZCKUP_ARTIFACTS/explain.png"
	fi
fi

# bash completion offers the command and its options.
if [ -f "$ZCKUP_SRC/completion/zckup.bash" ]; then
	complete_words() {
		# shellcheck disable=SC1091
		(. "$ZCKUP_SRC/completion/zckup.bash"
		 COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_WORDS[0]=$ZCKUP
		 _zckup 2>/dev/null; printf '%s\n' "${COMPREPLY[@]}")
	}
	assert "completion: 'zckup ex' completes to explain" "complete_words zckup ex | grep -qx explain"
	assert "completion: 'zckup explain --ht' completes to --html" \
		"complete_words zckup explain --ht | grep -qx -- --html"
fi

# Usage errors and a mismatched image.
expect_exit 2 "explain: one image only is a usage error" "$ZCKUP" explain raw-old.img
expect_exit 2 "explain: --level with --zck is a usage error" \
	"$ZCKUP" explain raw-old.img raw-new.img --zck raw-fine.zck --level 3
expect_exit 2 "explain: NEW not the image of the .zck" \
	"$ZCKUP" explain raw-new.img raw-old.img --zck raw-fine.zck -q
expect_err_contains "not the image the .zck was made from" "explain: says the .zck is another image's"
head -c 5000000 raw-new.img >raw-short.img
expect_exit 2 "explain: NEW of another size than the .zck's image" \
	"$ZCKUP" explain raw-old.img raw-short.img --zck raw-fine.zck -q
expect_err_contains "the header describes" "explain: says the sizes differ"
expect_exit 6 "explain: a missing OLD" "$ZCKUP" explain missing.img raw-new.img --zck raw-fine.zck -q

finish
