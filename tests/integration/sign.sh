#!/usr/bin/env bash
# shellcheck disable=SC2154 # $NAME_port: set by servers.sh's start_nginx
# Signed headers: zckup sign and the openssl commands of README "Security" make the same
# signatures (Ed25519, ECDSA P-256, RSA PKCS#1 v1.5, RSA-PSS; CMS with a chain, as SWUpdate
# and RAUC deployments sign), apply and plan refuse (exit 5) a wrong key, a tampered header
# or metadata, an expired signature, an older version, other hardware, a missing signature
# and a replayed old release, before any source is read or anything written; signature and
# metadata also come over HTTP (--signature-url, --metadata-url).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/servers.sh
. "$(dirname "$0")/servers.sh"
ZCKUP=$(realpath "$ZCKUP")
cd "$TEST_TMP" || exit 1
osl() { openssl "$@" 2>>"$TEST_TMP/openssl.log"; }

$GEN image 5 3000000 v1.img
$GEN edit modify 6 v1.img v2.img
$GEN edit insert 7 v2.img v3.img
for v in v1 v2 v3; do
	"$ZCKUP" make "$v.img" -o "$v.zck" -H "$v.zckh" --level 3 --threads 2 -q
done
# the signed bytes, as README "Security" makes them: the header with the magic of a .zck
{ printf '\0ZCK1'; tail -c +6 v2.zckh; } >v2.hdr
hbytes=$("$ZCKUP" inspect --json v2.zck | python3 -c 'import json,sys; print(json.load(sys.stdin)["header_bytes"])')
head -c "$hbytes" v2.zck >v2.zck.hdr
check "the signed bytes of a .zckh are the first bytes of its .zck" cmp v2.hdr v2.zck.hdr

# no_trace NAME: the last refused command created no target and read no source.
no_trace() {
	assert "$1: no target was created" '[ ! -e out.img ]'
}

# refused NAME ARGS...: apply with a source that cannot be read (its filesystem size is asked
# for, which reads it) and a .zck that does not exist: a refusal must come first (exit 5).
refused() {
	local name=$1
	shift
	rm -f out.img
	expect_exit 5 "$name" "$ZCKUP" apply --header v2.zckh --url "$TEST_TMP/missing.zck" \
		--source "$TEST_TMP/no-such-source.img" --source-size detect --target out.img -q "$@"
	no_trace "$name"
}

# accepted NAME ARGS...: apply v2 from v1 into out.img succeeds and gives v2.
accepted() {
	local name=$1
	shift
	rm -f out.img
	check "$name" "$ZCKUP" apply --header v2.zckh --url v2.zck --source v1.img --target out.img -q "$@"
	check "$name: image identical" cmp out.img v2.img
}

# ---- raw signatures, every algorithm ------------------------------------------------------
osl genpkey -algorithm ed25519 -out ed25519.key
osl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out p256.key
osl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key
osl genpkey -algorithm ed25519 -out other.key
osl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.key
for k in ed25519 p256 rsa other p384; do osl pkey -in $k.key -pubout -out $k.pub; done

# alg KEY ZCKUP_SIGN_ARGS | OPENSSL_SIGN | OPENSSL_VERIFY (SIG and IN are substituted)
declare -A SIGN_ARGS=([ed25519]="" [p256]="" [rsa]="" [pss]="--rsa-pss")
declare -A KEY=([ed25519]=ed25519 [p256]=p256 [rsa]=rsa [pss]=rsa)
ossl_sign() { # ALG KEY IN SIG
	case $1 in
	ed25519) osl pkeyutl -sign -inkey "$2.key" -rawin -in "$3" -out "$4" ;;
	p256 | rsa) osl dgst -sha256 -sign "$2.key" -out "$4" "$3" ;;
	pss) osl dgst -sha256 -sign "$2.key" -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -out "$4" "$3" ;;
	esac
}
ossl_verify() { # ALG KEY IN SIG
	case $1 in
	ed25519) osl pkeyutl -verify -pubin -inkey "$2.pub" -rawin -in "$3" -sigfile "$4" ;;
	p256 | rsa) osl dgst -sha256 -verify "$2.pub" -signature "$4" "$3" ;;
	pss) osl dgst -sha256 -verify "$2.pub" -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -signature "$4" "$3" ;;
	esac
}
for alg in ed25519 p256 rsa pss; do
	k=${KEY[$alg]}
	# shellcheck disable=SC2086 # SIGN_ARGS holds zero or one word
	check "$alg: zckup sign" "$ZCKUP" sign --key "$k.key" ${SIGN_ARGS[$alg]} v2.zckh -o $alg.sig -q
	check "$alg: openssl verifies zckup's signature (README command)" ossl_verify $alg "$k" v2.hdr $alg.sig
	# shellcheck disable=SC2086
	"$ZCKUP" sign --key "$k.key" ${SIGN_ARGS[$alg]} v2.zck -o $alg.zck.sig -q
	if [ $alg = ed25519 ]; then
		check "$alg: the .zck and its .zckh give the same signature" cmp $alg.sig $alg.zck.sig
	else
		check "$alg: a signature of the .zck verifies for the .zckh" ossl_verify $alg "$k" v2.hdr $alg.zck.sig
	fi
	accepted "$alg: apply with zckup's signature" --pubkey "$k.pub" --signature $alg.sig
	check "$alg: openssl signs (README command)" ossl_sign $alg "$k" v2.hdr $alg.ossl.sig
	accepted "$alg: apply with openssl's signature" --pubkey "$k.pub" --signature $alg.ossl.sig
	check "$alg: plan with the signature" "$ZCKUP" plan --source v1.img v2.zckh -q \
		--pubkey "$k.pub" --signature $alg.ossl.sig
	check "$alg: header from the .zck itself (--url, no --header)" "$ZCKUP" apply --url v2.zck \
		--source v1.img --output out2.img -q --pubkey "$k.pub" --signature $alg.sig
	# shellcheck disable=SC2086
	"$ZCKUP" sign --key "$k.key" ${SIGN_ARGS[$alg]} v3.zckh -o $alg.v3.sig -q
	refused "$alg: the signature of another header (v3) is refused" --pubkey "$k.pub" --signature $alg.v3.sig
done
refused "wrong key: another Ed25519 key" --pubkey other.pub --signature ed25519.sig
refused "wrong key type: an ECDSA key for an Ed25519 signature" --pubkey p256.pub --signature ed25519.sig
expect_exit 2 "a P-384 key is refused as unusable (only P-256)" "$ZCKUP" plan --source v1.img \
	v2.zckh --pubkey p384.pub --signature p256.sig
expect_exit 2 "signature options without a key are a usage error" "$ZCKUP" plan --source v1.img \
	v2.zckh --signature ed25519.sig
# RSA PKCS#1 v1.5 signature presented as... the same key verifies either padding
accepted "an RSA key verifies a PSS signature too" --pubkey rsa.pub --signature pss.sig

# ---- tampering, missing signatures --------------------------------------------------------
cp v2.zckh flipped.zckh
printf '\x55' | dd of=flipped.zckh bs=1 seek=100 conv=notrunc status=none
rm -f out.img
expect_exit 3 "a header with a flipped byte fails its checksum" "$ZCKUP" apply --header flipped.zckh \
	--url v2.zck --source v1.img --target out.img -q --pubkey ed25519.pub --signature ed25519.sig
no_trace "flipped header"
# a consistent header that is not the signed one: v2 made again at another level
"$ZCKUP" make v2.img -o v2b.zck -H v2b.zckh --level 5 --threads 2 -q
rm -f out.img
expect_exit 5 "a valid header that is not the signed one is refused" "$ZCKUP" apply \
	--header v2b.zckh --url v2b.zck --source v1.img --target out.img -q \
	--pubkey ed25519.pub --signature ed25519.sig
no_trace "other header"
cp ed25519.sig bad.sig
printf '\x01' | dd of=bad.sig bs=1 seek=10 conv=notrunc status=none
refused "a tampered signature is refused" --pubkey ed25519.pub --signature bad.sig
refused "no --signature with --pubkey: refused" --pubkey ed25519.pub
expect_err_contains "no signature" "the message says the signature is missing"
refused "a --signature file that does not exist: refused" --pubkey ed25519.pub --signature "$TEST_TMP/none.sig"
: >empty.sig
refused "an empty signature is refused" --pubkey ed25519.pub --signature empty.sig
head -c 70000 /dev/zero >huge.sig
refused "a signature over 64 KiB is refused" --pubkey ed25519.pub --signature huge.sig
rm -f out.img
expect_exit 5 "plan refuses before reading a source" "$ZCKUP" plan --source "$TEST_TMP/no-such.img" \
	--source-size detect v2.zckh -q --pubkey ed25519.pub --signature bad.sig
expect_exit 5 "--output: refused, nothing created" "$ZCKUP" apply --header v2.zckh --url v2.zck \
	--source v1.img --output out.img -q --pubkey ed25519.pub --signature bad.sig
no_trace "--output"
# without a key nothing is checked: the same bad signature is not even read
check "without --pubkey the header is not authenticated (unchanged behaviour)" "$ZCKUP" plan \
	--source v1.img v2.zckh -q

# ---- metadata: versions, expiry, hardware, replay -----------------------------------------
sign_meta() { # KEY HEADER OUT VERSION [ARGS...]: OUT.sig and OUT.meta
	local key=$1 hdr=$2 out=$3 ver=$4
	shift 4
	"$ZCKUP" sign --key "$key" "$hdr" -o "$out.sig" -m "$out.meta" --version "$ver" -q "$@"
}
check "sign with metadata" sign_meta ed25519.key v2.zckh r2 2.0 --hw-compat board-a --expires +30d
check "the metadata is the documented lines" grep -qx 'version=2.0' r2.meta
assert "the metadata names the header checksum" \
	"grep -qx \"header-sha256=$("$ZCKUP" inspect --json v2.zckh | python3 -c 'import json,sys; print(json.load(sys.stdin)["header_sha256"])')\" r2.meta"
cat r2.meta v2.hdr >r2.signed
check "openssl verifies metadata + header (README command)" ossl_verify ed25519 ed25519 r2.signed r2.sig
T=(--pubkey ed25519.pub --signature r2.sig --metadata r2.meta)
accepted "metadata: same version, same hardware" "${T[@]}" --min-version 2.0 --hw-compat board-a
accepted "metadata: 2.0 is not below 1.10 nor 2.0.0" "${T[@]}" --min-version 2.0.0 --hw-compat board-a
refused "metadata: older than --min-version 2.1 is refused" "${T[@]}" --min-version 2.1 --hw-compat board-a
expect_err_contains "older" "the message says the version is older"
refused "metadata: 2.0 < 10.0 (numbers, not text)" "${T[@]}" --min-version 10.0 --hw-compat board-a
refused "metadata: other hardware is refused" "${T[@]}" --hw-compat board-b
refused "metadata: hardware-bound image on a device that does not say its hardware" "${T[@]}"
refused "metadata: the signature without the metadata is refused" --pubkey ed25519.pub --signature r2.sig
refused "--min-version without metadata is refused" --pubkey ed25519.pub --signature ed25519.sig --min-version 1
sed 's/^version=2.0$/version=9.0/' r2.meta >tampered.meta
refused "tampered metadata (version raised) is refused" --pubkey ed25519.pub --signature r2.sig \
	--metadata tampered.meta --hw-compat board-a
printf 'extra=1\n' | cat r2.meta - >extra.meta
refused "metadata with an extra line is refused" --pubkey ed25519.pub --signature r2.sig \
	--metadata extra.meta --hw-compat board-a
check "sign an expired signature" sign_meta ed25519.key v2.zckh exp 2.0 --expires 2001-01-01T00:00:00Z
refused "an expired signature is refused" --pubkey ed25519.pub --signature exp.sig --metadata exp.meta
expect_err_contains "expired" "the message says it expired"
# replay: the old release v1 (version 1.0), correctly signed, offered to a device at 2.0
check "sign the old release v1" sign_meta ed25519.key v1.zckh r1 1.0
rm -f out.img
expect_exit 5 "replay: an old signed release is refused with --min-version" "$ZCKUP" apply \
	--header v1.zckh --url v1.zck --source v2.img --target out.img -q \
	--pubkey ed25519.pub --signature r1.sig --metadata r1.meta --min-version 2.0
no_trace "replay"
rm -f out.img
expect_exit 5 "replay: the old header with the new release's metadata is refused" "$ZCKUP" apply \
	--header v1.zckh --url v1.zck --source v2.img --target out.img -q \
	--pubkey ed25519.pub --signature r2.sig --metadata r2.meta --min-version 2.0 --hw-compat board-a
expect_err_contains "metadata is for header" "the message says the metadata is for another header"
rm -f out.img
expect_exit 5 "replay: the old header with its old metadata-less signature is refused" "$ZCKUP" apply \
	--header v1.zckh --url v1.zck --source v2.img --target out.img -q \
	--pubkey ed25519.pub --signature r1.sig --min-version 2.0
check "sign v3 as 2.1 (p256)" sign_meta p256.key v3.zckh r3 2.1
rm -f out.img
check "a newer release passes --min-version" "$ZCKUP" apply --header v3.zckh --url v3.zck \
	--source v2.img --target out.img -q --pubkey p256.pub --signature r3.sig --metadata r3.meta \
	--min-version 2.0
check "newer release: image identical" cmp out.img v3.img
expect_exit 2 "sign: --version needs -m" "$ZCKUP" sign --key ed25519.key v2.zckh -o x.sig --version 1
expect_exit 2 "sign: a bad version is refused" "$ZCKUP" sign --key ed25519.key v2.zckh -o x.sig \
	--version 1.02 -m x.meta
expect_exit 2 "--min-version that is not a version" "$ZCKUP" plan --source v1.img v2.zckh \
	--pubkey ed25519.pub --signature ed25519.sig --min-version 1.x

# ---- CMS with a certificate chain --------------------------------------------------------
cat >ext.cnf <<'EOF'
[zu_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[zu_leaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
[zu_code]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = codeSigning
EOF
mkcert() { # NAME SUBJECT ISSUER(or -) EXT
	osl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"
	if [ "$3" = - ]; then
		osl req -x509 -new -key "$1.key" -subj "$2" -days 30 -out "$1.pem" \
			-extensions "$4" -config <(cat /etc/ssl/openssl.cnf ext.cnf)
	else
		osl req -new -key "$1.key" -subj "$2" -out "$1.csr" &&
			osl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial \
				-days 30 -out "$1.pem" -extfile ext.cnf -extensions "$4"
	fi
}
mkcert root "/CN=zckup test root" - zu_ca
mkcert inter "/CN=zckup test intermediate" root zu_ca
mkcert leaf "/CN=zckup test signer" inter zu_leaf
mkcert code "/CN=zckup code signer" inter zu_code
mkcert otherroot "/CN=another root" - zu_ca
assert "the test PKI was made" '[ -s root.pem ] && [ -s inter.pem ] && [ -s leaf.pem ] && [ -s code.pem ]'
check "CMS: openssl cms -sign -binary -outform DER (as SWUpdate/RAUC sign)" osl cms -sign -binary \
	-outform DER -in v2.hdr -signer leaf.pem -inkey leaf.key -certfile inter.pem -out v2.cms
accepted "CMS: apply verifies the chain up to the CA file" --ca-file root.pem --signature v2.cms
check "CMS: plan too" "$ZCKUP" plan --source v1.img v2.zckh -q --ca-file root.pem --signature v2.cms
osl cms -sign -binary -outform DER -in v2.hdr -signer leaf.pem -inkey leaf.key -out nochain.cms
refused "CMS: without the intermediate in the signature" --ca-file root.pem --signature nochain.cms
refused "CMS: another CA" --ca-file otherroot.pem --signature v2.cms
osl cms -sign -binary -outform DER -in v3.zckh -signer leaf.pem -inkey leaf.key -certfile inter.pem -out v3.cms
refused "CMS: a signature of other bytes" --ca-file root.pem --signature v3.cms
osl cms -sign -binary -nodetach -outform DER -in v2.hdr -signer leaf.pem -inkey leaf.key -certfile inter.pem -out att.cms
refused "CMS: a signature that embeds its content" --ca-file root.pem --signature att.cms
osl cms -sign -binary -outform PEM -in v2.hdr -signer leaf.pem -inkey leaf.key -certfile inter.pem -out v2.cms.pem
accepted "CMS: PEM form accepted too" --ca-file root.pem --signature v2.cms.pem
# purposes: a codeSigning-only certificate is not an S/MIME signer
osl cms -sign -binary -outform DER -in v2.hdr -signer code.pem -inkey code.key -certfile inter.pem -out code.cms
refused "CMS: codeSigning certificate under the default purpose (smimesign)" --ca-file root.pem --signature code.cms
accepted "CMS: --cert-purpose codesign accepts it" --ca-file root.pem --signature code.cms --cert-purpose codesign
accepted "CMS: --cert-purpose any accepts it" --ca-file root.pem --signature code.cms --cert-purpose any
refused "CMS: --cert-purpose codesign refuses a certificate without codeSigning" --ca-file root.pem \
	--signature v2.cms --cert-purpose codesign
# zckup sign --cert makes what openssl cms -verify accepts
check "CMS: zckup sign --cert --chain" "$ZCKUP" sign --key leaf.key --cert leaf.pem --chain inter.pem \
	v2.zckh -o z.cms -q -m z.meta --version 3.0
cat z.meta v2.hdr >z.signed
check "CMS: openssl cms -verify accepts zckup's signature (README command)" osl cms -verify -binary \
	-inform DER -in z.cms -content z.signed -CAfile root.pem -out /dev/null
accepted "CMS: apply with zckup's CMS signature and metadata" --ca-file root.pem --signature z.cms \
	--metadata z.meta --min-version 3
osl pkey -in leaf.key -pubout -out leaf.pub
refused "CMS: a raw key for a CMS signature" --pubkey leaf.pub --signature z.cms --metadata z.meta

# ---- signature and metadata over HTTP ----------------------------------------------------
mkdir -p www
cp v2.zck r2.sig r2.meta bad.sig www/
if start_nginx web "$TEST_TMP/www" 2>start.err; then
	u="http://127.0.0.1:$web_port"
	rm -f out.img
	check "HTTP: header, signature and metadata from URLs" "$ZCKUP" apply --url "$u/v2.zck" \
		--source v1.img --target out.img -q --pubkey ed25519.pub --signature-url "$u/r2.sig" \
		--metadata-url "$u/r2.meta" --min-version 2 --hw-compat board-a
	check "HTTP: image identical" cmp out.img v2.img
	rm -f out.img
	expect_exit 5 "HTTP: a bad signature from the URL is refused" "$ZCKUP" apply --url "$u/v2.zck" \
		--source "$TEST_TMP/no-such.img" --source-size detect --target out.img -q \
		--pubkey ed25519.pub --signature-url "$u/bad.sig"
	no_trace "HTTP bad signature"
	expect_exit 5 "HTTP: a signature URL that answers 404 is refused" "$ZCKUP" apply --url "$u/v2.zck" \
		--source v1.img --target out.img -q --pubkey ed25519.pub --signature-url "$u/none.sig"
	no_trace "HTTP 404"
	expect_exit 5 "HTTP: plan refuses too" "$ZCKUP" plan --url "$u/v2.zck" --source v1.img -q \
		--pubkey ed25519.pub --signature-url "$u/r2.sig"
	expect_exit 2 "--signature-url wants a URL" "$ZCKUP" plan --url "$u/v2.zck" --source v1.img \
		--pubkey ed25519.pub --signature-url r2.sig
else
	not_ok "nginx starts"
	diag start.err
fi
finish
