#!/usr/bin/env bash
# Resume and wear: apply killed with SIGKILL at random points and re-run gives
# the identical image while fetching, in total, at most 1.1x one uninterrupted
# run; an update onto a slot that already holds most of the image writes only
# what differs; an interrupted --output leaves the old file intact.
. "$(dirname "$0")/lib.sh"
cd "$TEST_TMP"
KILL="python3 $(dirname "$0")/interrupt.py"
$GEN image 11 48000000 old.img
# new = old with its middle third replaced: about 16 MB to fetch
python3 - <<'PY'
import random
old = open("old.img", "rb").read()
rng = random.Random(12)
third = len(old) // 3
mid = rng.getrandbits(8 * third).to_bytes(third, "little")
open("new.img", "wb").write(old[:third] + mid + old[2 * third:])
PY
"$ZCKUP" make new.img -o new.zck -H new.zckh --level 1 -q
apply() { "$ZCKUP" apply --header new.zckh --url new.zck --source old.img "$@"; }

apply --target full.img --json -q >full.json
full=$(json_field full.json fetched_bytes)
check "uninterrupted apply" cmp full.img new.img
seed=${ZCKUP_TEST_SEED:-4242}
echo "# kill points from seed $seed"
RANDOM=$seed
for i in $(seq 1 10); do
	frac=$(printf '0.%02d' $((RANDOM % 90 + 5)))
	rm -f t.img
	$KILL "$frac" "$ZCKUP" apply --header new.zckh --url new.zck --source old.img \
		--target t.img --progress json >kill.json
	killed=$(json_field kill.json killed)
	k_fetched=$(json_field kill.json fetched)
	apply --target t.img --json -q >rerun.json
	r_fetched=$(json_field rerun.json fetched_bytes)
	in_place=$(json_field rerun.json in_place_bytes)
	check "run $i killed at $frac of the image: re-run gives the identical image" cmp t.img new.img
	assert "run $i: killed ($killed), re-run reused $in_place bytes in place" \
		"[ $killed = True ] && [ $in_place -gt 0 ]"
	assert "run $i: fetched $k_fetched + $r_fetched <= 1.1 x $full" \
		"[ $(( (k_fetched + r_fetched) * 10 )) -le $(( full * 11 )) ]"
done

# Wear: a slot that holds the old image gets only what differs written.
cp old.img slot.img
apply --target slot.img --json -q >slot.json
check "update onto an old slot: identical image" cmp slot.img new.img
written=$(json_field slot.json written_bytes)
image=$(stat -c %s new.img)
assert "old slot: wrote $written of $image bytes (at most half)" "[ $((written * 2)) -le $image ]"
apply --target slot.img --json -q >again.json
assert "a second run onto a complete slot writes and fetches nothing" \
	"[ $(json_field again.json written_bytes) = 0 ] && [ $(json_field again.json fetched_bytes) = 0 ]"
# (a slot of unrelated bytes: zeros or 0xff would hold the image's own zero runs)
$GEN random 13 "$image" other.img
apply --target other.img --json -q >other.json
assert "a slot of other data gets the whole image written ($(json_field other.json written_bytes) bytes)" \
	"[ $(json_field other.json written_bytes) = $image ]"
apply --target other.img --rewrite-all --json -q >all.json
assert "--rewrite-all writes every byte again" "[ $(json_field all.json written_bytes) = $image ]"

# SIGTERM: a clean cancel with exit status 8; the same command resumes.
rm -f t.img
$KILL --term 0.5 "$ZCKUP" apply --header new.zckh --url new.zck --source old.img \
	--target t.img --progress json >term.json
assert "SIGTERM half-way: exit status 8 ($(json_field term.json status))" \
	"[ $(json_field term.json killed) = True ] && [ $(json_field term.json status) = 8 ]"
apply --target t.img --json -q >rerun.json
check "after SIGTERM the same command completes the image" cmp t.img new.img
assert "after SIGTERM the re-run found the written part in place" \
	"[ $(json_field rerun.json in_place_bytes) -gt 0 ]"
$KILL --term 0.5 "$ZCKUP" apply --header new.zckh --url new.zck --source old.img \
	--exec "cat >/dev/null; touch finished" --progress json >term.json
assert "SIGTERM with --exec: exit 8 and the command was terminated" \
	"[ $(json_field term.json status) = 8 ] && [ ! -e finished ]"

# An interrupted --output leaves the old file as it was, and no temporary file.
echo "previous image" >prev.img
$KILL 0.5 "$ZCKUP" apply --header new.zckh --url new.zck --output prev.img --progress json >kill.json
assert "--output killed half-way ($(json_field kill.json killed))" "[ $(json_field kill.json killed) = True ]"
assert "--output killed: the old file is intact" "[ \"\$(cat prev.img)\" = 'previous image' ]"
assert "--output killed: no temporary file left" "[ -z \"\$(ls -a | grep zckup-)\" ]"

# Over HTTP the fine path's frames come as a stream the downloader fetches ahead of the
# chunks being rebuilt: killed and re-run, nginx still sends at most 1.1x the bytes of one
# uninterrupted run (counted in its log, so bytes fetched ahead and lost with the kill count).
# shellcheck source=tests/integration/servers.sh
. "$(dirname "$0")/servers.sh"
mkdir -p www
cp new.zck www/
if start_nginx ngr "$TEST_TMP/www" 2>ngr.start.err; then
	url="http://127.0.0.1:$ngr_port/new.zck"
	server_log_reset ngr
	"$ZCKUP" apply --header new.zckh --url "$url" --source old.img --target h.img --json -q \
		>h.json 2>h.err
	check "over HTTP: uninterrupted fine apply" cmp h.img new.img
	hfull=$(server_bytes ngr)
	for frac in 0.3 0.5 0.7; do
		rm -f t.img
		server_log_reset ngr
		$KILL "$frac" "$ZCKUP" apply --header new.zckh --url "$url" --source old.img \
			--target t.img --progress json >kill.json
		k=$(server_bytes ngr)
		server_log_reset ngr
		"$ZCKUP" apply --header new.zckh --url "$url" --source old.img --target t.img --json \
			-q >rerun.json 2>rerun.err
		r=$(server_bytes ngr)
		check "over HTTP, killed at $frac: re-run gives the identical image" cmp t.img new.img
		assert "over HTTP, killed at $frac ($(json_field kill.json killed)): nginx sent $k + $r <= 1.1 x $hfull" \
			"[ $(json_field kill.json killed) = True ] && [ $hfull -gt 0 ] && [ \$(( ($k + $r) * 10 )) -le \$(( $hfull * 11 )) ]"
	done
	server_stop ngr
else
	not_ok "nginx (ngr) serves new.zck"
	diag ngr.start.err
fi
finish
