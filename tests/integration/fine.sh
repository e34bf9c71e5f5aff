#!/usr/bin/env bash
# zckup make --profile fine: the same chunks as the compat profile, each stored as a piece
# table (zstd skippable frame) and one zstd frame per 4 KiB piece. Checks that Debian's zchunk
# tools and zckup's coarse path read it as an ordinary .zck, and that a malformed fine layout
# element is refused like any malformed header. (SWUpdate: swupdate.sh.)
. "$(dirname "$0")/lib.sh"
cd "$TEST_TMP" || exit 1
$GEN image 11 20000000 old.img
$GEN edit scatter 12 old.img new.img

check "make --profile compat" "$ZCKUP" make new.img -o compat.zck --level 5 --profile compat -q
check "make --profile fine" "$ZCKUP" make new.img -o fine.zck -H fine.zckh --level 5 \
	--profile fine -q
expect_exit 2 "an unknown profile is a usage error" "$ZCKUP" make new.img -o x.zck --profile big
# The default profile is fine; with a dictionary (which fine pieces cannot use) it is compat.
check "make without --profile" "$ZCKUP" make new.img -o default.zck --level 5 -q
check "... is the fine profile, byte for byte" cmp default.zck fine.zck
check "make --dict auto without --profile" \
	"$ZCKUP" make new.img -o dictdefault.zck --level 5 --dict auto -q
"$ZCKUP" inspect --json dictdefault.zck >dictdefault.json
assert "... is the compat profile" "grep -q '\"profile\":\"compat\"' dictdefault.json"
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

# zckup's fine path, from a local file: the piece tables of the missing chunks, then only
# the frames of the pieces no source holds (each missing chunk here has one edited block).
check "plan reads the piece tables and says what apply fetches" \
	"$ZCKUP" plan --source old.img --json fine.zck
"$ZCKUP" plan --source old.img --json fine.zck >plan.json
coarse=$(json_field plan.json fetch_bytes)
fine=$(json_field plan.json fine_fetch_bytes)
assert "plan: fine fetch ($fine bytes) well under the whole chunks ($coarse bytes)" \
	"[ -n '$fine' ] && [ '$fine' -lt $((coarse / 2)) ]"
"$ZCKUP" plan --source old.img fine.zck >plan.txt
assert "plan's text says it fetched the piece tables" "grep -q 'piece tables' plan.txt"
check "apply rebuilds the missing chunks from pieces" \
	"$ZCKUP" apply --url fine.zck --source old.img --output fine.img --json -q
"$ZCKUP" apply --url fine.zck --source old.img --output fine.img --json -q >apply.json
check "... identical" cmp fine.img new.img
assert "apply took the fine path, reused pieces and fetched what plan said ($fine)" \
	"grep -q '\"fine\":true' apply.json && [ \"\$(json_field apply.json pieces_reused)\" -gt 100 ] &&
	 [ \"\$(json_field apply.json fetched_bytes)\" = '$fine' ] &&
	 [ \"\$(json_field apply.json fine_fallback_chunks)\" = 0 ]"
"$ZCKUP" apply --url fine.zck --source old.img --output coarse.img --json -q --no-fine >nofine.json
assert "--no-fine fetches whole chunks ($coarse bytes)" \
	"grep -q '\"fine\":false' nofine.json && [ \"\$(json_field nofine.json fetched_bytes)\" = '$coarse' ]"
check "... identical" cmp coarse.img new.img
# With a detached header the .zck's lead is checked before the tables are used.
check "apply with the detached header (lead checked, then tables)" \
	"$ZCKUP" apply --header fine.zckh --url fine.zck --source old.img --target t.img -q
check "... identical" cmp t.img new.img

# Where the missing chunks are: image offset and length, .zck offset, of each fetched chunk.
"$ZCKUP" plan --source old.img --chunks --json fine.zck >chunks.json
"$ZCKUP" inspect --chunks --json fine.zck >table.json
python3 - chunks.json table.json >missing.txt <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
tab = {c["index"]: c for c in json.load(open(sys.argv[2]))["chunk_table"]}
for c in plan["chunk_table"]:
    if c["from"] == "fetch":
        t = tab[c["index"]]
        print(t["image_offset"], t["bytes"], t["file_offset"])
PY
read -r last_off last_len _ < <(tail -1 missing.txt)
read -r _ _ first_file < <(head -1 missing.txt)

# A stale source: once apply has indexed old.img (and before it rebuilds the last missing
# chunk: it is near the end of 20 MB, beyond what apply works ahead of a command that does not
# read yet), the destination command scribbles over old.img where that chunk's pieces are. The
# rebuilt chunk does not verify: it is fetched whole, and the image is still right.
cp old.img stale.img
scribble="dd if=/dev/zero of=stale.img bs=1 seek=$last_off count=$last_len conv=notrunc 2>/dev/null"
rc=0
"$ZCKUP" apply --url fine.zck --source stale.img --exec "$scribble; cat >stale.out" --json \
	-q >stale.json 2>stale.err || rc=$?
assert "a source changed under apply: it still succeeds (exit $rc)" "[ $rc = 0 ]"
check "... identical" cmp stale.out new.img
assert "... and counted (fine_fallback_chunks 1)" \
	"[ \"\$(json_field stale.json fine_fallback_chunks)\" = 1 ]"

# A lying piece table: two digests of the first missing chunk's table swapped in the .zck.
# The pieces land in the wrong places, the chunk does not verify, the whole chunk (whose
# compressed digest the changed table breaks) does not verify either: a clear error
# (exit 4), and the atomic output is never written.
cp fine.zck lie.zck
python3 - lie.zck "$first_file" <<'PY'
import sys
path, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(path, "rb").read())
ent = 2 + 8  # u16le frame length + 8-byte piece hash
e1, e2 = off + 9 + ent * 1, off + 9 + ent * 2
d1, d2 = bytes(b[e1 + 2:e1 + ent]), bytes(b[e2 + 2:e2 + ent])
assert d1 != d2
b[e1 + 2:e1 + ent], b[e2 + 2:e2 + ent] = d2, d1
open(path, "wb").write(b)
PY
expect_exit 4 "a lying piece table is a digest mismatch" \
	"$ZCKUP" apply --header fine.zckh --url lie.zck --source old.img --output lie.img -q
assert "... and no image is written" "[ ! -e lie.img ]"
# The same lie with a frame length: the table is malformed, the chunk is fetched whole.
cp fine.zck lie2.zck
printf '\377\377' | dd of=lie2.zck bs=1 seek=$((first_file + 9)) conv=notrunc 2>/dev/null
expect_exit 4 "a malformed piece table sends the chunk to be fetched whole (which fails)" \
	"$ZCKUP" apply --header fine.zckh --url lie2.zck --source old.img --output lie2.img -q
assert "... and no image is written" "[ ! -e lie2.img ]"

# A malformed fine layout element is a malformed header: exit 3, and it says why.
for f in version-1 version-3 piece-2p30 digest-4 len-bytes-3 wrong-size twice; do
	expect_exit 3 "fine layout element $f is refused" \
		"$ZCKUP" inspect "$ZCKUP_SRC/tests/data/malformed/fine-elem-$f.zck"
	expect_err_contains "fine layout" "... with a message naming the fine layout element"
done

# Over HTTP (servers.sh): nginx with many ranges per request, nginx that serves one range per
# request (zckup steps down), lighttpd. Tables first, then windows of frames, the stale-source
# fallback as a request of its own.
# shellcheck source=tests/integration/servers.sh
. "$(dirname "$0")/servers.sh"
mkdir -p www
cp fine.zck www/
for srv in "nginx ngx" "nginx ngx1 1" "lighttpd lty"; do
	# shellcheck disable=SC2086 # the words of $srv are separate arguments
	set -- $srv
	kind=$1 name=$2
	if ! "start_$kind" "$name" "$TEST_TMP/www" ${3:+"$3"} 2>"$name.start.err"; then
		not_ok "$kind ($name) serves the .zck"
		diag "$name.start.err"
		continue
	fi
	port_var=${name}_port
	url="http://127.0.0.1:${!port_var}/fine.zck"
	"$ZCKUP" plan --source old.img --url "$url" --json >"$name.plan.json" 2>"$name.plan.err"
	assert "$name: plan --url fetches the tables and plans the same fine bytes" \
		"[ \"\$(json_field $name.plan.json fine_fetch_bytes)\" = '$fine' ]"
	server_log_reset "$name"
	rc=0
	"$ZCKUP" apply --url "$url" --source old.img --output "$name.img" --json -q \
		>"$name.json" 2>"$name.err" || rc=$?
	assert "$name: apply over HTTP (exit $rc)" "[ $rc = 0 ]"
	[ $rc = 0 ] || diag "$name.err"
	check "$name: ... identical" cmp "$name.img" new.img
	assert "$name: ... fetched what plan said ($fine bytes; $(json_field "$name.json" requests) requests)" \
		"[ \"\$(json_field $name.json fetched_bytes)\" = '$fine' ]"
	if [ "$name" = ngx ]; then
		# plan's wire estimate counts tables, frames, parts and answers, not the header read
		est=$(json_field "$name.plan.json" wire_bytes_estimate)
		got=$(($(json_field "$name.json" wire_bytes) - $(stat -c %s fine.zckh)))
		assert "$name: plan's wire estimate ($est) within 10% of apply's wire bytes less the header ($got)" \
			"[ \$(( ($est - $got) * ($est - $got) * 100 )) -le \$(( $got * $got )) ]"
	fi
	cp old.img stale.img
	rc=0
	"$ZCKUP" apply --url "$url" --source stale.img --exec "$scribble; cat >stale.out" --json \
		-q >"$name.stale.json" 2>"$name.stale.err" || rc=$?
	assert "$name: a source changed under apply: the chunk is fetched whole (exit $rc)" \
		"[ $rc = 0 ] && [ \"\$(json_field $name.stale.json fine_fallback_chunks)\" = 1 ]"
	check "$name: ... identical" cmp stale.out new.img
	server_stop "$name"
done

# The frames as one stream (issue 17): a pair with hundreds of missing chunks and 2 MiB of new
# bytes, 40 ms of round trip through faultproxy. The tables take ceil((missing+1)/150)
# requests (the lead rides along), the frames ceil(fine_ranges/150), plus at most one per
# 1 MiB batch of the stream: no request per 512 KiB window as before (main: 10 requests in
# all here). Frame requests overlap in the proxy's log (on several connections).
python3 - new.img many.img <<'PY'
import random, sys
b = bytearray(open(sys.argv[1], "rb").read())
rng = random.Random(17)
n = len(b)
for k in range(400):
    b[(k * 7919 * 4096 + 77) % n] ^= 0x5a
for at in (n // 3, 2 * n // 3):
    b[at:at + (1 << 20)] = rng.getrandbits(8 << 20).to_bytes(1 << 20, "little")
open(sys.argv[2], "wb").write(b)
PY
"$ZCKUP" make many.img -o www/many.zck -H many.zckh --level 5 --profile fine -q
if start_nginx ngs "$TEST_TMP/www" 2>ngs.start.err; then
	pre=()
	[ "$_srv_have_pdeathsig" = 1 ] && pre=(setpriv --pdeathsig KILL --)
	"${pre[@]}" "${FAULTPROXY[@]}" --upstream "127.0.0.1:$ngs_port" --mode delay \
		--delay-ms 20 --port-file fp.port --log fp.log >fp.stderr 2>&1 </dev/null &
	fp_pid=$!
	for _ in $(seq 100); do
		[ -s fp.port ] && break
		sleep 0.05
	done
	url="http://127.0.0.1:$(cat fp.port 2>/dev/null)/many.zck"
	"$ZCKUP" plan --source old.img --url "$url" --json >many.plan.json \
		2>many.plan.err
	missing=$(json_field many.plan.json fetch_chunks)
	franges=$(json_field many.plan.json fine_ranges)
	server_log_reset ngs
	: >fp.log
	rc=0
	"$ZCKUP" apply --header many.zckh --url "$url" --source old.img --output many.out \
		--json -q >many.json 2>many.err || rc=$?
	assert "stream: apply through a 40 ms round trip (exit $rc)" "[ $rc = 0 ]"
	[ $rc = 0 ] || diag many.err
	check "stream: ... identical" cmp many.out many.img
	fbytes=$(json_field many.plan.json fine_fetch_bytes)
	want=$(( (missing + 1 + 149) / 150 + (franges + 149) / 150 ))
	most=$(( want + fbytes / 1048576 ))	# a 1 MiB batch of the stream may cut a request
	got=$(server_count ngs)
	assert "stream: $got requests for $missing tables and $franges frame ranges ($want to $most)" \
		"[ '$missing' -gt 150 ] && [ '$franges' -gt 150 ] && [ '$got' -ge '$want' ] && [ '$got' -le '$most' ]"
	# two answers overlap when one starts before the other ends (proxy's own clock)
	overlap=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^t=/) { split(substr($i, 3), t, "-");
		s[NR] = t[1]; e[NR] = t[2] } }
		END { m = 0; for (a in s) for (b in s) if (a < b && s[b] < e[a] && s[a] < e[b]) m++;
		print m }' fp.log)
	assert "stream: frame requests in flight together ($overlap overlapping pairs)" \
		"[ '$overlap' -gt 0 ]"
	kill "$fp_pid" 2>/dev/null
	wait "$fp_pid" 2>/dev/null

	# A server that serves only the first range of a request (S3, GCS, Azure: faultproxy's
	# first-range-only) costs at most 1.15x the bytes on the wire of nginx's multi-range
	# answers, fine and compat artifact alike: gaps are fetched only where cheaper than one
	# more request (main, with a fixed 64 KiB, put 6.0x nginx's bytes for the fine one, 1.14x for
	# compat).
	"$ZCKUP" make many.img -o www/manyc.zck -H manyc.zckh --level 5 --profile compat -q
	"${pre[@]}" "${FAULTPROXY[@]}" --upstream "127.0.0.1:$ngs_port" --mode first-range-only \
		--port-file fp1.port --log fp1.log >fp1.stderr 2>&1 </dev/null &
	fp_pid=$!
	for _ in $(seq 100); do
		[ -s fp1.port ] && break
		sleep 0.05
	done
	for art in many manyc; do
		for via in "multi $ngs_port" "single $(cat fp1.port 2>/dev/null)"; do
			set -- $via
			rc=0
			"$ZCKUP" apply --header $art.zckh --url "http://127.0.0.1:$2/$art.zck" \
				--source old.img --output $art.$1.out --json -q >$art.$1.json \
				2>$art.$1.err || rc=$?
			[ $rc = 0 ] || diag $art.$1.err
			check "$art via $1-range: identical" cmp $art.$1.out many.img
		done
		m=$(json_field $art.multi.json wire_bytes)
		g=$(json_field $art.single.json wire_bytes)
		assert "$art: single-range wire bytes $g ($(json_field $art.single.json requests) requests) within 1.15x multi-range's $m ($(json_field $art.multi.json requests) requests)" \
			"[ '$(json_field $art.single.json mode)' = single-range ] && [ \$(( $g * 100 )) -le \$(( $m * 115 )) ]"
	done
	kill "$fp_pid" 2>/dev/null
	wait "$fp_pid" 2>/dev/null
	# With a round trip to wait for (40 ms here), a request costs what a connection could
	# have received meanwhile: gaps are merged again (up to 64 KiB), fewer requests (headers
	# alone as the cost: 657 requests here as on loopback; with the round trip about 330).
	"${pre[@]}" "${FAULTPROXY[@]}" --upstream "127.0.0.1:$ngs_port" --mode first-range-only \
		--delay-ms 20 --port-file fp2.port --log fp2.log >fp2.stderr 2>&1 </dev/null &
	fp_pid=$!
	for _ in $(seq 100); do
		[ -s fp2.port ] && break
		sleep 0.05
	done
	rc=0
	"$ZCKUP" apply --header many.zckh --url "http://127.0.0.1:$(cat fp2.port 2>/dev/null)/many.zck" \
		--source old.img --output many.rtt.out --json -q >many.rtt.json 2>many.rtt.err || rc=$?
	[ $rc = 0 ] || diag many.rtt.err
	check "many via single-range, 40 ms round trip: identical" cmp many.rtt.out many.img
	r0=$(json_field many.single.json requests)
	r1=$(json_field many.rtt.json requests)
	assert "many: with a round trip, fewer single-range requests ($r1) than on loopback ($r0)" \
		"[ '$r1' -gt 0 ] && [ \$(( $r1 * 4 )) -lt \$(( $r0 * 3 )) ]"
	kill "$fp_pid" 2>/dev/null
	wait "$fp_pid" 2>/dev/null
	server_stop ngs
else
	not_ok "nginx (ngs) serves many.zck"
	diag ngs.start.err
fi
finish
