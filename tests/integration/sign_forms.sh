#!/usr/bin/env bash
# A signature or a pin over the detached header file as shipped: openssl signs v2.zckh
# itself (pkeyutl -rawin, dgst, cms -sign -binary, with and without metadata) and apply,
# plan and verify accept it, for the .zckh and for the header read from the .zck; what is
# not the header in either form (the whole .zck, a byte more, another magic, another
# header) is refused (exit 5) with a message naming both forms. --header-sha256 and
# --source-index-sha256 take the header checksum, sha256sum of the .zckh, or of the
# header bytes at the start of the .zck.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
ZCKUP=$(realpath "$ZCKUP")
cd "$TEST_TMP" || exit 1
osl() { openssl "$@" 2>>"$TEST_TMP/openssl.log"; }
if ! command -v openssl >/dev/null; then
	skip "signatures over the detached header" "openssl not installed (apt-get install openssl)"
	finish
	exit
fi

$GEN image 8 2500000 v1.img
$GEN edit scatter 9 v1.img v2.img
$GEN edit insert 10 v2.img v3.img
for v in v1 v2 v3; do
	"$ZCKUP" make "$v.img" -o "$v.zck" -H "$v.zckh" --level 3 --threads 2 -q
done
hbytes=$("$ZCKUP" inspect --json v2.zck | python3 -c 'import json,sys; print(json.load(sys.stdin)["header_bytes"])')
head -c "$hbytes" v2.zck >v2.zck.hdr
assert "the .zckh and the .zck's header differ (in the magic only)" \
	"! cmp -s v2.zckh v2.zck.hdr && cmp -s <(tail -c +6 v2.zckh) <(tail -c +6 v2.zck.hdr)"

# applies NAME ARGS...: apply v2 from v1 into out.img, header from the .zckh, succeeds.
applies() {
	local name=$1
	shift
	rm -f out.img
	check "$name" "$ZCKUP" apply --header v2.zckh --url v2.zck --source v1.img --target out.img -q "$@"
	check "$name: image identical" cmp out.img v2.img
}
# refused NAME ARGS...: exit 5 before any source is read or the .zck opened.
refused() {
	local name=$1
	shift
	rm -f out.img
	expect_exit 5 "$name" "$ZCKUP" apply --header v2.zckh --url "$TEST_TMP/missing.zck" \
		--source "$TEST_TMP/no-such-source.img" --source-size detect --target out.img -q "$@"
	assert "$name: no target created" '[ ! -e out.img ]'
}

# ---- raw signatures made by openssl over the .zckh file ------------------------------------
osl genpkey -algorithm ed25519 -out ed.key
osl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out p256.key
osl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key
for k in ed p256 rsa; do osl pkey -in $k.key -pubout -out $k.pub; done
check "openssl pkeyutl -sign -rawin -in v2.zckh (Ed25519)" \
	osl pkeyutl -sign -inkey ed.key -rawin -in v2.zckh -out ed.sig
check "openssl dgst -sha256 -sign (ECDSA P-256) over v2.zckh" \
	osl dgst -sha256 -sign p256.key -out p256.sig v2.zckh
check "openssl dgst -sha256 -sign (RSA-PSS) over v2.zckh" osl dgst -sha256 -sign rsa.key \
	-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -out pss.sig v2.zckh
check "openssl pkeyutl -verify -rawin -in v2.zckh (README command)" \
	osl pkeyutl -verify -pubin -inkey ed.pub -rawin -in v2.zckh -sigfile ed.sig
check "openssl dgst -sha256 -verify over v2.zckh (README command)" \
	osl dgst -sha256 -verify p256.pub -signature p256.sig v2.zckh
check "openssl dgst -sha256 -verify RSA-PSS over v2.zckh (README command)" osl dgst -sha256 \
	-verify rsa.pub -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -signature pss.sig v2.zckh
applies "Ed25519 over the .zckh: apply accepts it" --pubkey ed.pub --signature ed.sig
applies "ECDSA over the .zckh: apply accepts it" --pubkey p256.pub --signature p256.sig
applies "RSA-PSS over the .zckh: apply accepts it" --pubkey rsa.pub --signature pss.sig
rm -f out2.img
check "a signature over the .zckh verifies the header read from the .zck (--url only)" \
	"$ZCKUP" apply --url v2.zck --source v1.img --output out2.img -q --pubkey ed.pub --signature ed.sig
check "  image identical" cmp out2.img v2.img
check "plan accepts it" "$ZCKUP" plan --source v1.img v2.zckh -q --pubkey ed.pub --signature ed.sig
check "plan of the .zck accepts it" "$ZCKUP" plan --source v1.img v2.zck -q --pubkey ed.pub --signature ed.sig
# the .zck form still works as before
check "openssl over the header bytes of the .zck" osl pkeyutl -sign -inkey ed.key -rawin -in v2.zck.hdr -out edz.sig
applies "a signature over the .zck's header bytes: still accepted" --pubkey ed.pub --signature edz.sig

# ---- what is not the header in either form ----------------------------------------------------
osl pkeyutl -sign -inkey ed.key -rawin -in v2.zck -out whole.sig
refused "a signature over the whole .zck (header and data) is refused" --pubkey ed.pub --signature whole.sig
expect_err_contains "neither over the header as the .zck starts with it" "  the message says both forms were tried"
expect_err_contains "nor over the detached .zckh file" "  ... naming the detached file"
{ cat v2.zckh; printf 'x'; } >v2.more
osl pkeyutl -sign -inkey ed.key -rawin -in v2.more -out more.sig
refused "a signature over the .zckh and one byte more is refused" --pubkey ed.pub --signature more.sig
{ printf '\0ZXX1'; tail -c +6 v2.zckh; } >v2.xx
osl pkeyutl -sign -inkey ed.key -rawin -in v2.xx -out xx.sig
refused "a signature over the header with another magic is refused" --pubkey ed.pub --signature xx.sig
osl pkeyutl -sign -inkey ed.key -rawin -in v3.zckh -out v3.sig
refused "a signature over another .zckh (v3) is refused" --pubkey ed.pub --signature v3.sig
osl genpkey -algorithm ed25519 -out other.key
osl pkeyutl -sign -inkey other.key -rawin -in v2.zckh -out other.sig
refused "the .zckh signed by another key is refused" --pubkey ed.pub --signature other.sig

# ---- metadata + the .zckh ---------------------------------------------------------------------
check "zckup sign writes metadata" "$ZCKUP" sign --key ed.key v2.zckh -o z.sig -m v2.meta --version 2.0 -q
cat v2.meta v2.zckh >v2.signed
check "openssl signs metadata followed by the .zckh" osl pkeyutl -sign -inkey ed.key -rawin -in v2.signed -out meta.sig
applies "metadata + .zckh signature: accepted with --min-version" --pubkey ed.pub --signature meta.sig \
	--metadata v2.meta --min-version 2.0
refused "metadata + .zckh signature: --min-version 2.1 still refuses" --pubkey ed.pub --signature meta.sig \
	--metadata v2.meta --min-version 2.1
refused "the .zckh-only signature does not verify with metadata given" --pubkey ed.pub --signature ed.sig \
	--metadata v2.meta

# ---- CMS over the .zckh, as SWUpdate and RAUC deployments sign --------------------------------
cat >ext.cnf <<'EOF'
[zu_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[zu_leaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
EOF
osl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out root.key
osl req -x509 -new -key root.key -subj "/CN=zckup forms root" -days 30 -out root.pem \
	-extensions zu_ca -config <(cat /etc/ssl/openssl.cnf ext.cnf)
osl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out inter.key
osl req -new -key inter.key -subj "/CN=zckup forms intermediate" -out inter.csr
osl x509 -req -in inter.csr -CA root.pem -CAkey root.key -CAcreateserial -days 30 -out inter.pem \
	-extfile ext.cnf -extensions zu_ca
osl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out leaf.key
osl req -new -key leaf.key -subj "/CN=zckup forms signer" -out leaf.csr
osl x509 -req -in leaf.csr -CA inter.pem -CAkey inter.key -CAcreateserial -days 30 -out leaf.pem \
	-extfile ext.cnf -extensions zu_leaf
check "openssl cms -sign -binary -in v2.zckh, the chain in it (README command)" osl cms -sign \
	-binary -outform DER -in v2.zckh -signer leaf.pem -inkey leaf.key -certfile inter.pem -out v2.cms
check "openssl cms -verify accepts it against the .zckh (README command)" osl cms -verify -binary -inform DER \
	-in v2.cms -content v2.zckh -CAfile root.pem -out /dev/null
applies "CMS over the .zckh: apply accepts it" --ca-file root.pem --signature v2.cms
osl cms -sign -binary -outform DER -in v3.zckh -signer leaf.pem -inkey leaf.key -certfile inter.pem -out v3.cms
refused "CMS over another .zckh is refused" --ca-file root.pem --signature v3.cms

# ---- pins ---------------------------------------------------------------------------------------
sum_zckh=$(sha256sum v2.zckh | cut -d' ' -f1)
sum_hdr=$(sha256sum v2.zck.hdr | cut -d' ' -f1)
sum_zck=$(sha256sum v2.zck | cut -d' ' -f1)
checksum=$("$ZCKUP" inspect --json v2.zckh | python3 -c 'import json,sys; print(json.load(sys.stdin)["header_sha256"])')
assert "the three names of the header differ" \
	"[ $sum_zckh != $checksum ] && [ $sum_hdr != $checksum ] && [ $sum_zckh != $sum_hdr ]"
applies "--header-sha256 with zchunk's header checksum" --header-sha256 "$checksum"
applies "--header-sha256 with sha256sum of the .zckh" --header-sha256 "$sum_zckh"
applies "--header-sha256 with sha256sum of the .zck's header bytes" --header-sha256 "$sum_hdr"
rm -f out2.img
check "--header-sha256 with sha256sum of the .zckh, header read from the .zck" \
	"$ZCKUP" apply --url v2.zck --header-sha256 "$sum_zckh" --source v1.img --output out2.img -q
refused "--header-sha256 with sha256sum of the whole .zck is refused" --header-sha256 "$sum_zck"
expect_err_contains "$sum_zckh" "  the message gives the .zckh's sha256sum"
expect_err_contains "$checksum" "  and the header checksum"
refused "--header-sha256 with sha256sum of another .zckh is refused" \
	--header-sha256 "$(sha256sum v3.zckh | cut -d' ' -f1)"
expect_exit 0 "verify --header-sha256 with sha256sum of the .zckh" "$ZCKUP" verify \
	--header v2.zckh --header-sha256 "$sum_zckh" v2.img
# the index of a slot, pinned the same way
"$ZCKUP" apply --header v3.zckh --url v3.zck --source v2.img --source-index v2.zckh \
	--source-index-sha256 "$sum_zckh" --output out3.img -q --json >ix.json 2>ix.err
assert "--source-index-sha256 with sha256sum of the index file: accepted, chunks located by it" \
	"cmp -s out3.img v3.img && [ \"$(json_field ix.json index_chunks)\" -gt 0 ]"
finish
