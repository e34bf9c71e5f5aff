#!/usr/bin/env bash
# shellcheck disable=SC2154 # $NAME_port: set by start_nginx
# integrations/rauc: Debian's rauc 1.8 installs bundles made by zckup-rauc-bundle (the .zckh
# as the image, hooks=install, zckup.conf with the URL) through `rauc service` on a private
# D-Bus session bus (--override-boot-slot, bootloader=noop, file-backed raw slots): the hook
# runs zckup apply from the other slot into RAUC_SLOT_DEVICE, byte-identical, saving the slot's
# header in RAUC's data directory; the next update (booted from the new slot) locates the
# booted slot's chunks from it; a bundle signed by another CA is refused before the hook runs;
# a failing apply fails the install. No daemon is left running.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
for t in rauc dbus-daemon mksquashfs openssl nginx losetup; do
	if ! command -v $t >/dev/null 2>&1; then
		skip "RAUC zckup hook" "$t not installed (scripts/deps.sh test)"
		finish
		exit
	fi
done
if [ "$(id -u)" != 0 ] || ! losetup -f >/dev/null 2>&1; then
	skip "RAUC zckup hook" "rauc install loop-mounts the bundle: needs root and a free loop device"
	finish
	exit
fi
# shellcheck source=tests/integration/servers.sh
. "$(dirname "$0")/servers.sh"
ZCKUP=$(realpath "$ZCKUP")
INTEG=$ZCKUP_SRC/integrations/rauc
cd "$TEST_TMP" || exit 1
osl() { openssl "$@" 2>>"$TEST_TMP/openssl.log"; }
SLOT=8388608 # 8 MiB file-backed raw slots, larger than the images

# ---- PKI, images, server ------------------------------------------------------------------
cat >ext.cnf <<'EOF'
[zu_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[zu_leaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
EOF
mkpki() { # NAME: NAME-ca.pem and a signer NAME.pem/NAME.key under it
	osl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1-ca.key"
	osl req -x509 -new -key "$1-ca.key" -subj "/CN=$1 ca" -days 30 -out "$1-ca.pem" \
		-extensions zu_ca -config <(cat /etc/ssl/openssl.cnf ext.cnf)
	osl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"
	osl req -new -key "$1.key" -subj "/CN=$1 signer" -out "$1.csr"
	osl x509 -req -in "$1.csr" -CA "$1-ca.pem" -CAkey "$1-ca.key" -CAcreateserial -days 30 \
		-out "$1.pem" -extfile ext.cnf -extensions zu_leaf
}
mkpki dev
mkpki other
$GEN image 21 6000000 v1.img
$GEN edit scatter 22 v1.img v2.img
$GEN edit insert 23 v2.img v3.img
mkdir -p www
for v in v2 v3; do
	"$ZCKUP" make $v.img -o www/$v.zck -H $v.zckh --level 3 --threads 2 -q
done
if ! start_nginx ngx "$TEST_TMP/www" 2>nginx.err; then
	not_ok "nginx serves the .zck on 127.0.0.1"
	diag nginx.err
	finish
	exit 1
fi
u=http://127.0.0.1:$ngx_port

# slot A runs v1; slot B holds nothing useful
cp v1.img slotA.img
truncate -s $SLOT slotA.img
head -c $SLOT /dev/zero >slotB.img
mkdir -p data mnt bin
cat >system.conf <<EOF
[system]
compatible=zckup-test
bootloader=noop
data-directory=$TEST_TMP/data
mountprefix=$TEST_TMP/mnt

[keyring]
path=$TEST_TMP/dev-ca.pem

[slot.rootfs.0]
device=$TEST_TMP/slotA.img
type=raw
bootname=A

[slot.rootfs.1]
device=$TEST_TMP/slotB.img
type=raw
bootname=B
EOF
# The zckup the hook runs: a wrapper that records that it ran and its argv.
cat >bin/zckup <<EOF
#!/bin/sh
echo ran >>"$TEST_TMP/ran.rec"
printf '%s\n' "\$@" >"$TEST_TMP/argv.rec"
exec "$ZCKUP" "\$@"
EOF
chmod +x bin/zckup

# bundle NAME VERSION HEADER URL SIGNER [OPTIONS...]: NAME.raucb by the shipped recipe.
bundle() {
	local name=$1 version=$2 header=$3 url=$4 signer=$5 o=()
	shift 5
	for x in "$@"; do o+=(--option "$x"); done
	ZCKUP_RAUC_HOOK=$INTEG/zckup-rauc-hook "$INTEG/zckup-rauc-bundle" --cert "$signer.pem" \
		--key "$signer.key" --keyring "$signer-ca.pem" --compatible zckup-test \
		--version "$version" --header "$header" --url "$url" "${o[@]}" -o "$name.raucb"
}

# service BOOTED: a private session bus and `rauc service` on it, the booted slot BOOTED.
service() {
	mkdir -p "$TEST_TMP/srv/bus" "$TEST_TMP/srv/rauc"
	rm -f bus.sock bus.addr
	_srv_spawn bus "$TEST_TMP/srv/bus" dbus-daemon --session --nofork \
		--address="unix:path=$TEST_TMP/bus.sock" --print-address=1
	for _ in $(seq 100); do
		[ -S bus.sock ] && break
		sleep 0.05
	done
	export DBUS_SESSION_BUS_ADDRESS=unix:path=$TEST_TMP/bus.sock DBUS_STARTER_BUS_TYPE=session
	_srv_spawn rauc "$TEST_TMP/srv/rauc" env ZCKUP_BIN="$TEST_TMP/bin/zckup" \
		ZCKUP_RAUC_SYSTEM_CONF="$TEST_TMP/system.conf" \
		rauc service --conf="$TEST_TMP/system.conf" --override-boot-slot="$1"
	for _ in $(seq 100); do
		rauc status --conf="$TEST_TMP/system.conf" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
stop_service() {
	local pids="$_srv_pids_rauc $_srv_pids_bus" p alive=
	server_stop rauc
	server_stop bus
	for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
	assert "  rauc service and its bus are gone${alive:+ (alive:$alive)}" '[ -z "$alive" ]'
}
# install NAME: rauc install NAME.raucb; sets rc, log in NAME.log.
install() {
	rc=0
	timeout 60 rauc install "$TEST_TMP/$1.raucb" >"$1.log" 2>&1 || rc=$?
}
sha() { head -c "$2" "$1" | sha256sum | cut -d' ' -f1; }

# ---- v2, booted from A: into B -----------------------------------------------------------------
check "zckup-rauc-bundle makes a signed bundle of the v2 header" bundle v2 2.0 v2.zckh "$u/v2.zck" dev \
	max-ranges=16 connections=2 "http-header=X-Test: a b"
if service A; then ok "rauc service on a private session bus, booted from A"; else not_ok "rauc service starts"; diag srv/rauc/stderr.log; fi
server_log_reset ngx
rm -f ran.rec
t0=$(date +%s.%N)
install v2
t1=$(date +%s.%N)
if [ "$rc" = 0 ]; then ok "rauc install v2 (exit 0)"; else not_ok "rauc install v2: exit $rc"; diag v2.log srv/rauc/stderr.log; fi
rbytes=$(server_bytes ngx body)
echo "# through RAUC: nginx sent $rbytes body bytes in $(server_count ngx) requests; rauc install took $(awk "BEGIN {print $t1 - $t0}") s"
expect_exit 0 "slot B holds v2 (zckup verify --slot)" "$ZCKUP" verify --slot --header v2.zckh slotB.img
check "  byte-identical" cmp -n "$(stat -c %s v2.img)" slotB.img v2.img
assert "  slot A, the booted one, is untouched" "[ $(sha slotA.img $SLOT) = $(sha <(cat v1.img; head -c $((SLOT - 6000000)) /dev/zero) $SLOT) ]"
assert "the hook ran zckup once, from slot A into slot B, with the bundle's options as words" \
	"[ \"\$(wc -l <ran.rec)\" = 1 ] && grep -qxF '$TEST_TMP/slotA.img' argv.rec && grep -qxF '$TEST_TMP/slotB.img' argv.rec && grep -qxF 'X-Test: a b' argv.rec && grep -qx 16 argv.rec"
check "the hook saved slot B's header in RAUC's data directory" cmp data/zckup/rootfs.1.zckh v2.zckh
assert "  with the summary (last-install.json)" "[ \"\$(json_field data/zckup/last-install.json image_bytes)\" = 6000000 ]"
stop_service
server_log_reset ngx
rm -f plain.img
t0=$(date +%s.%N)
"$ZCKUP" apply --header v2.zckh --url "$u/v2.zck" --source slotA.img --target plain.img \
	--max-ranges 16 --connections 2 -q
t1=$(date +%s.%N)
pbytes=$(server_bytes ngx body)
echo "# plain zckup apply: nginx sent $pbytes body bytes; $(awk "BEGIN {print $t1 - $t0}") s"
assert "through RAUC zckup reads what plain zckup reads ($rbytes = $pbytes)" "[ '$rbytes' = '$pbytes' ]"

# ---- v3, booted from B: into A, slot B's chunks located by its saved header ----------------------
check "bundle of v3" bundle v3 3.0 v3.zckh "$u/v3.zck" dev
service B || not_ok "rauc service starts booted from B"
install v3
if [ "$rc" = 0 ]; then ok "rauc install v3 booted from B (exit 0)"; else not_ok "rauc install v3: exit $rc"; diag v3.log srv/rauc/stderr.log; fi
expect_exit 0 "slot A holds v3" "$ZCKUP" verify --slot --header v3.zckh slotA.img
assert "  the source was slot B with --source-index of its saved header" \
	"grep -qxF -- '--source-index' argv.rec && grep -qxF '$TEST_TMP/data/zckup/rootfs.1.zckh' argv.rec && grep -qxF '$TEST_TMP/slotB.img' argv.rec"
ix=$(json_field data/zckup/last-install.json index_chunks)
assert "  and zckup located slot B's chunks from it ($ix chunks)" "[ '$ix' -gt 0 ]"
check "  slot A's header saved" cmp data/zckup/rootfs.0.zckh v3.zckh

# ---- a bundle signed by another CA ----------------------------------------------------------------
check "bundle of v2 signed by another CA" bundle evil 9.0 v2.zckh "$u/v2.zck" other
before=$(sha slotA.img $SLOT)
rm -f ran.rec
install evil
assert "rauc install refuses it (exit $rc)" "[ '$rc' != 0 ]"
assert "  on its signature" "grep -qiE 'signature|certificate|verif' evil.log"
assert "  before the hook ran" '[ ! -e ran.rec ]'
assert "  slot A is untouched" "[ $(sha slotA.img $SLOT) = $before ]"

# ---- a failing apply fails the install ---------------------------------------------------------------
# v4 is in neither slot, and its .zck is not on the server
$GEN edit modify 24 v3.img v4.img
"$ZCKUP" make v4.img -o v4.zck -H v4.zckh --level 3 --threads 2 -q
check "bundle whose .zck is not on the server" bundle gone 4.0 v4.zckh "$u/v4.zck" dev
rm -f ran.rec
install gone
assert "a failing zckup apply fails rauc install (exit $rc)" "[ '$rc' != 0 ] && [ -e ran.rec ]"
assert "  RAUC reports the hook's failure, with zckup's exit status 6" "grep -q 'zckup apply failed with exit status 6' srv/rauc/stderr.log"
assert "  the target's old header is not kept (it no longer describes the slot)" '[ ! -e data/zckup/rootfs.0.zckh ]'
stop_service
finish
