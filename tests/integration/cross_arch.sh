#!/usr/bin/env bash
# Across architectures (cross builds only, run by scripts/cross.sh): the
# foreign build (ZCKUP, ZU_CHUNKDUMP under qemu-user) against the build of the
# host (ZCKUP_NATIVE_BUILD, x86-64 here) on the same inputs: identical chunk
# boundaries and digests, identical headers from make, identical plans, and an
# artifact made on either architecture applied on the other, byte for byte.
. "$(dirname "$0")/lib.sh"
native=${ZCKUP_NATIVE_BUILD:-}
if [ -z "$native" ] || [ ! -x "$native/zckup" ] || [ ! -x "$native/tests/zu_chunkdump" ]; then
	echo "1..0 # SKIP no build of the host to compare with (ZCKUP_NATIVE_BUILD; scripts/cross.sh sets it)"
	exit 0
fi
NZCKUP=$native/zckup
cd "$TEST_TMP"
echo "# foreign: $ZCKUP_EXE_WRAPPER; native: $native ($(uname -m))"

# Inputs that stress the chunker's edges: mixed content, pure random, all
# zeros (no cut until the maximum), a tiny file, an odd size.
$GEN image 41 6000000 mixed.img
$GEN random 42 3000001 random.img
head -c 2500000 /dev/zero >zeros.img
printf 'x' >one.img
$GEN edit scatter 43 mixed.img mixed2.img
for f in mixed random zeros one; do
	"$ZU_CHUNKDUMP" "$f.img" >"$f.foreign" 2>err
	"$native/tests/zu_chunkdump" "$f.img" >"$f.native"
	check "$f: chunk boundaries and digests identical to the host's ($(wc -l <"$f.native") chunk(s))" \
		cmp "$f.foreign" "$f.native"
done

# make on both: the same header (chunk table, digests, image digest).
"$ZCKUP" make mixed2.img -o f.zck -H f.zckh --level 3 --threads 2 -q
"$NZCKUP" make mixed2.img -o n.zck -H n.zckh --level 3 --threads 2 -q
"$ZCKUP" inspect --chunks --json f.zckh >f.inspect
"$NZCKUP" inspect --chunks --json n.zckh >n.inspect
check "make: identical chunk tables and digests" cmp f.inspect n.inspect
check "make: the .zck files are byte-identical (same libzstd, level and threads)" cmp f.zck n.zck
check "the host reads the foreign header" "$NZCKUP" inspect f.zck
check "the foreign build reads the host's header" "$ZCKUP" inspect n.zck

# plan on both: the same reuse, the same ranges.
"$ZCKUP" plan --source mixed.img f.zckh --json -q >f.plan
"$NZCKUP" plan --source mixed.img f.zckh --json -q >n.plan
check "plan: identical on both" cmp f.plan n.plan

# Applied across: foreign artifact on the host, host artifact on the foreign build.
check "host applies the foreign .zck" "$NZCKUP" apply --header f.zckh --url f.zck \
	--source mixed.img --target fn.img -q
check "  byte-identical" cmp fn.img mixed2.img
check "foreign build applies the host's .zck" "$ZCKUP" apply --header n.zckh --url n.zck \
	--source mixed.img --target nf.img -q
check "  byte-identical" cmp nf.img mixed2.img
check "foreign build applies the host's .zck to --output, no source" "$ZCKUP" apply --url n.zck \
	--output nf2.img -q
check "  byte-identical" cmp nf2.img mixed2.img
# A raw target half written by one architecture is resumed by the other.
head -c 3000000 mixed2.img >half.img
"$ZCKUP" apply --header n.zckh --url n.zck --source mixed.img --target half.img --json -q >half.json
check "foreign build resumes a target the host half wrote" cmp half.img mixed2.img
assert "  reusing what was in place ($(json_field half.json in_place_bytes) bytes)" \
	"[ $(json_field half.json in_place_bytes) -gt 0 ]"
finish
