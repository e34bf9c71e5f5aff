#!/usr/bin/env bash
# Destinations other than a raw target ("chain handlers"): --exec CMD,
# -o - (stdout), --target-offset; and the reporting options: --progress json,
# --debug-chunks, --json.
. "$(dirname "$0")/lib.sh"
cd "$TEST_TMP"
$GEN image 21 8000000 old.img
$GEN edit scatter 22 old.img new.img
"$ZCKUP" make new.img -o new.zck -H new.zckh --level 3 -q
apply() { "$ZCKUP" apply --header new.zckh --url new.zck --source old.img "$@"; }
image=$(stat -c %s new.img)

# --exec: the image streams into a command's stdin.
check "--exec 'cat >file'" apply --exec "cat >exec.img" -q
check "--exec: the command received the identical image" cmp exec.img new.img
expect_exit 9 "--exec command that fails" apply --exec "cat >/dev/null; exit 3" -q
expect_err_contains "status 3" "the message gives the command's exit status"
expect_exit 9 "--exec command that stops reading early" apply --exec "head -c 1000 >/dev/null" -q
expect_exit 9 "--exec command that cannot run" apply --exec "/nonexistent/cmd" -q
apply --exec "cat >/dev/null; echo note-from-the-command >&2" -q 2>exec.err
assert "--exec: the command's stderr passes through" "grep -q note-from-the-command exec.err"
# a real chain: a tar archive image unpacked by tar as it arrives
mkdir -p tree/sub && cp "$ZCKUP_SRC"/README.md tree/ && cp "$ZCKUP_SRC"/doc/* tree/sub/
tar -cf v2.tar -C tree . && "$ZCKUP" make v2.tar -o v2.zck --level 3 -q
mkdir unpacked
check "--exec 'tar -x': a tar image unpacked as it streams" \
	"$ZCKUP" apply --url v2.zck --exec "tar -x -C unpacked" -q
check "--exec 'tar -x': the files are there" diff -r tree unpacked
# a failing update never lets the command succeed: it is terminated
cp new.zck bad.zck
printf '\xff' | dd of=bad.zck bs=1 seek=$(( $(stat -c %s bad.zck) - 3000 )) conv=notrunc status=none
expect_exit 4 "--exec with a corrupted .zck" "$ZCKUP" apply --header new.zckh --url bad.zck \
	--exec "cat >partial.img; touch finished" -q
assert "the command was terminated, not allowed to finish" "[ ! -e finished ]"

# --output keeps the mode of the file it replaces.
echo old >mode.img && chmod 600 mode.img
check "--output onto a 0600 file" apply --output mode.img -q
assert "--output kept mode 600 ($(stat -c %a mode.img))" "[ $(stat -c %a mode.img) = 600 ]"
check "--output: the file is the new image" cmp mode.img new.img

# -o -: the image on stdout, the summary on stderr.
apply -o - --json >stdout.img 2>summary.json
check "-o -: stdout carries the identical image" cmp stdout.img new.img
assert "-o -: the JSON summary went to stderr" "[ $(json_field summary.json image_bytes) = $image ]"

# --target-offset: the image lands inside a larger disk-image file.
$GEN random 23 $((image + 2 * 1048576)) disk.img
tail -c 1048576 disk.img >tail.before
check "--target-offset 1M" apply --target disk.img --target-offset 1M -q
check "--target-offset: the image is at 1 MiB" cmp -i 1048576:0 -n "$image" disk.img new.img
tail -c 1048576 disk.img >tail.after
check "--target-offset: bytes after the image are untouched" cmp tail.before tail.after
assert "--target-offset: the file was not truncated" "[ $(stat -c %s disk.img) = $((image + 2 * 1048576)) ]"

# One disk-image file holding both slots: the source region and the target
# region may share the file but not bytes.
old_size=$(stat -c %s old.img)
cat old.img >slots.img
truncate -s $((old_size + image + 4096)) slots.img
check "slot A as source, slot B of the same file as target" \
	"$ZCKUP" apply --header new.zckh --url new.zck --source slots.img --source-size "$old_size" \
	--target slots.img --target-offset $((old_size + 4096)) -q
check "slot B holds the new image" cmp -i $((old_size + 4096)):0 -n "$image" slots.img new.img
check "slot A is untouched" cmp -n "$old_size" slots.img old.img
expect_exit 2 "a target region overlapping the source region is refused" \
	"$ZCKUP" apply --header new.zckh --url new.zck --source slots.img --source-size "$old_size" \
	--target slots.img --target-offset $((old_size / 2)) -q
expect_err_contains "overlaps" "the message says the regions overlap"

# --progress json: JSON lines, monotonic per phase, ending at the total.
apply --output p.img --progress json >progress.jsonl
check "--progress json: every line is a JSON progress event, done never goes back, write ends at total" \
	python3 - progress.jsonl <<'PY'
import json, sys
last = {}
writes = []
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    e = json.loads(line)
    if e.get("event") != "progress":
        continue
    assert e["done"] >= last.get(e["phase"], 0), e
    last[e["phase"]] = e["done"]
    if e["phase"] == "write":
        writes.append(e)
assert "index" in last and writes, last
assert writes[-1]["done"] == writes[-1]["total"] > 0, writes[-1]
PY

# --debug-chunks: one line per chunk with where it came from.
apply --output d.img --debug-chunks -q 2>debug.txt
chunks=$("$ZCKUP" inspect --json new.zckh | python3 -c 'import json,sys; print(json.load(sys.stdin)["chunks"])')
assert "--debug-chunks: one line per chunk ($(grep -c '^chunk' debug.txt) of $chunks)" \
	"[ $(grep -c '^chunk' debug.txt) = $chunks ]"
assert "--debug-chunks: both reused and fetched chunks are shown" \
	"grep -q 'source old.img' debug.txt && grep -q 'fetched' debug.txt"
finish
