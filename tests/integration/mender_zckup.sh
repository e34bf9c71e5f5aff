#!/usr/bin/env bash
# shellcheck disable=SC2154 # $NAME_port: set by start_nginx
# integrations/mender: Debian's mender-client 3.4 runs the Update Module zckup (protocol v3)
# for an artifact made by mender-artifact 3.9 (write module-image -T zckup: the .zckh as its
# file, the URL and options as meta-data) in standalone mode: `mender install` writes the
# inactive slot (a file) from the active one, byte-identical, from a private nginx; `mender
# commit` keeps the slot's header for the next update; `mender rollback` and a failing apply
# run the module's rollback, which leaves the running slot untouched. mender looks for modules
# in /usr/share/mender/modules/v3 and for /etc/mender/artifact_info only: each mender command
# runs in a private mount namespace (unshare -m) where the test's own directories are bind-
# mounted over those two, so nothing of the system is changed.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
for t in mender mender-artifact unshare nginx; do
	if ! command -v $t >/dev/null 2>&1; then
		skip "Mender zckup Update Module" "$t not installed (scripts/deps.sh test)"
		finish
		exit
	fi
done
if [ "$(id -u)" != 0 ] || ! unshare --mount --propagation private true 2>/dev/null ||
	[ ! -d /usr/share/mender/modules/v3 ] || [ ! -d /etc/mender ]; then
	skip "Mender zckup Update Module" "needs root, mount namespaces, /usr/share/mender/modules/v3 and /etc/mender"
	finish
	exit
fi
# shellcheck source=tests/integration/servers.sh
. "$(dirname "$0")/servers.sh"
ZCKUP=$(realpath "$ZCKUP")
MODULE=$ZCKUP_SRC/integrations/mender/zckup
cd "$TEST_TMP" || exit 1
# shellcheck disable=SC2034,SC2012 # read by assert (eval); ls -la is the fingerprint
system_before=$(ls -la /usr/share/mender/modules/v3 /etc/mender | sha256sum)

# ---- the module's JSON reader, alone ----------------------------------------------------
cat >m.json <<'EOF'
{
  "url": "http://h/a \"q\" b\\c\u003cd\u0026",
  "http-header": [ "A: 1", "B: it's" ],
  "max-ranges": 16, "no-fine": true, "empty": []
}
EOF
# the module's own json(), taken out of it and run by sh
sh -c 'eval "$(sed -n "/^json() {/,/^}/p" "$0")"; json "$1"' "$MODULE" m.json >m.out 2>m.err
printf 'url\thttp://h/a "q" b\\c<d&\nhttp-header\tA: 1\nhttp-header\tB: it'"'"'s\nmax-ranges\t16\nno-fine\ttrue\n' >m.want
check "the module's JSON reader decodes strings, escapes, arrays, numbers and booleans" cmp m.out m.want
for bad in '{"a": {"b": "c"}}' '{"a": "x\ny"}' '{"a": "\u00e9"}' '["a"]' '{"a": "b"} x' '{"a": nul}'; do
	printf '%s' "$bad" >bad.json
	expect_exit 1 "  it refuses $(printf '%q' "$bad")" sh -c 'eval "$(sed -n "/^json() {/,/^}/p" "$0")"; json "$1"' "$MODULE" bad.json
done

# ---- images, server, a private mender ---------------------------------------------------------
$GEN image 31 6000000 v1.img
$GEN edit scatter 32 v1.img v2.img
$GEN edit modify 33 v2.img v3.img
mkdir -p www
for v in v2 v3; do
	"$ZCKUP" make $v.img -o $v.zck -H $v.zckh --level 3 --threads 2 -q
done
cp v2.zck www/ # v3.zck is never served
if ! start_nginx ngx "$TEST_TMP/www" 2>nginx.err; then
	not_ok "nginx serves the .zck on 127.0.0.1"
	diag nginx.err
	finish
	exit 1
fi
u=http://127.0.0.1:$ngx_port
SLOT=8388608
cp v1.img active.img
truncate -s $SLOT active.img
head -c $SLOT /dev/zero >inactive.img
active_sum=$(sha256sum active.img | cut -d' ' -f1)
mkdir -p modules etc-mender data bin
ln -s "$MODULE" modules/zckup
echo artifact_name=v1 >etc-mender/artifact_info
echo device_type=zckup-test >device_type
printf '{"DeviceTypeFile": "%s/device_type"}\n' "$TEST_TMP" >mender.conf
cat >zckup.conf <<EOF
# the device's side
target=$TEST_TMP/inactive.img
source=$TEST_TMP/active.img
index-dir=$TEST_TMP/data/zckup
EOF
cat >bin/zckup <<EOF
#!/bin/sh
echo ran >>"$TEST_TMP/ran.rec"
printf '%s\n' "\$@" >"$TEST_TMP/argv.rec"
exec "$ZCKUP" "\$@"
EOF
chmod +x bin/zckup
# menderx ARGS...: mender in a private mount namespace with the test's modules and /etc/mender.
menderx() {
	ZCKUP_BIN=$TEST_TMP/bin/zckup ZCKUP_MENDER_CONF=$TEST_TMP/zckup.conf \
		timeout 120 unshare --mount --propagation private sh -c '
		mount --bind "$1/modules" /usr/share/mender/modules/v3 &&
		mount --bind "$1/etc-mender" /etc/mender || exit 99
		shift
		exec mender -c "$0/mender.conf" -b "$0/none.conf" --data "$0/data" --no-syslog "$@"' \
		"$TEST_TMP" "$TEST_TMP" "$@"
}
# artifact NAME HEADER META_JSON: NAME.mender, a module-image of type zckup.
artifact() {
	printf '%s\n' "$3" >"$1.meta.json"
	mender-artifact write module-image -T zckup -n "$1" -t zckup-test -o "$1.mender" \
		-f "$2" -m "$1.meta.json"
}

# ---- install, commit ------------------------------------------------------------------------------
check "mender-artifact write module-image -T zckup" artifact v2 v2.zckh \
	"{\"url\": \"$u/v2.zck\", \"max-ranges\": \"16\", \"connections\": \"2\", \"http-header\": [\"X-Test: a \\\"b\\\" c\"]}"
server_log_reset ngx
t0=$(date +%s.%N)
rc=0
menderx install "$TEST_TMP/v2.mender" >install.log 2>&1 || rc=$?
t1=$(date +%s.%N)
if [ "$rc" = 0 ]; then ok "mender install of the zckup artifact (exit 0)"; else not_ok "mender install: exit $rc"; diag install.log; fi
mbytes=$(server_bytes ngx body)
echo "# through Mender: nginx sent $mbytes body bytes in $(server_count ngx) requests; mender install took $(awk "BEGIN {print $t1 - $t0}") s"
expect_exit 0 "the inactive slot holds v2 (zckup verify --slot)" "$ZCKUP" verify --slot --header v2.zckh inactive.img
check "  byte-identical" cmp -n "$(stat -c %s v2.img)" inactive.img v2.img
assert "  the active slot is untouched" "[ \$(sha256sum active.img | cut -d' ' -f1) = $active_sum ]"
assert "the module ran zckup from the active slot into the inactive one, meta-data values as words" \
	"grep -qxF '$TEST_TMP/active.img' argv.rec && grep -qxF '$TEST_TMP/inactive.img' argv.rec && grep -qxF 'X-Test: a \"b\" c' argv.rec && grep -qx 16 argv.rec"
assert "  the slot's header waits for the commit" "[ -e data/zckup/inactive.img.zckh.new ] && [ ! -e data/zckup/inactive.img.zckh ]"
rc=0
menderx commit >commit.log 2>&1 || rc=$?
assert "mender commit (exit $rc)" "[ '$rc' = 0 ]"
check "  the module kept the slot's header for the next update" cmp data/zckup/inactive.img.zckh v2.zckh
assert "  mender now runs v2" "[ \"\$(menderx show-artifact 2>/dev/null)\" = v2 ]"
server_log_reset ngx
rm -f plain.img
t0=$(date +%s.%N)
"$ZCKUP" apply --header v2.zckh --url "$u/v2.zck" --source active.img --target plain.img \
	--max-ranges 16 --connections 2 -q
t1=$(date +%s.%N)
pbytes=$(server_bytes ngx body)
echo "# plain zckup apply: nginx sent $pbytes body bytes; $(awk "BEGIN {print $t1 - $t0}") s"
assert "through Mender zckup reads what plain zckup reads ($mbytes = $pbytes)" "[ '$mbytes' = '$pbytes' ]"

# ---- rollback of an installed artifact -----------------------------------------------------------
check "an artifact of v2 again (as r2)" artifact r2 v2.zckh "{\"url\": \"$u/v2.zck\"}"
rc=0
menderx install "$TEST_TMP/r2.mender" >r2.log 2>&1 || rc=$?
assert "mender install r2 (exit $rc)" "[ '$rc' = 0 ] && [ -e data/zckup/inactive.img.zckh.new ]"
rc=0
menderx rollback >rollback.log 2>&1 || rc=$?
assert "mender rollback (exit $rc) runs the module's ArtifactRollback" \
	"[ '$rc' = 0 ] && grep -q 'zckup-mender: ArtifactRollback: the running slot is untouched' rollback.log"
assert "  which drops the header saved by that install" '[ ! -e data/zckup/inactive.img.zckh.new ]'
assert "  mender still runs v2, the active slot untouched" \
	"[ \"\$(menderx show-artifact 2>/dev/null)\" = v2 ] && [ \$(sha256sum active.img | cut -d' ' -f1) = $active_sum ]"

# ---- commit verifies the slot ---------------------------------------------------------------------
check "an artifact of v2 again (as c2)" artifact c2 v2.zckh "{\"url\": \"$u/v2.zck\"}"
rc=0
menderx install "$TEST_TMP/c2.mender" >c2.log 2>&1 || rc=$?
assert "mender install c2 (exit $rc)" "[ '$rc' = 0 ]"
printf 'X' | dd of=inactive.img bs=1 seek=4000000 conv=notrunc status=none
rc=0
menderx commit >c2commit.log 2>&1 || rc=$?
assert "a slot changed after the install fails mender commit (exit $rc): zckup verify in ArtifactCommit" \
	"[ '$rc' != 0 ] && grep -q 'is no longer the installed image' c2commit.log"
assert "  the slot's header is not kept, mender still runs v2" \
	"[ ! -e data/zckup/inactive.img.zckh ] && [ \"\$(menderx show-artifact 2>/dev/null)\" = v2 ]"
grep -E 'zckup-mender|level=error' c2commit.log | head -4 | sed 's/^/# mender: /'

# ---- a failing apply ---------------------------------------------------------------------------------
check "an artifact of v3, whose .zck is not on the server" artifact v3 v3.zckh "{\"url\": \"$u/v3.zck\"}"
rm -f ran.rec
rc=0
menderx install "$TEST_TMP/v3.mender" >v3.log 2>&1 || rc=$?
assert "a failing zckup apply fails mender install (exit $rc)" "[ '$rc' != 0 ] && [ -e ran.rec ]"
assert "  the module reports zckup's exit status 6" "grep -q 'zckup apply failed with exit status 6' v3.log"
assert "  and its rollback ran (ArtifactRollback or ArtifactFailure)" \
	"grep -qE 'zckup-mender: Artifact(Rollback|Failure): the running slot is untouched' v3.log"
assert "  the active slot is untouched, mender still runs v2" \
	"[ \$(sha256sum active.img | cut -d' ' -f1) = $active_sum ] && [ \"\$(menderx show-artifact 2>/dev/null)\" = v2 ]"
assert "the system's module directory and /etc/mender were not changed" \
	'[ "$(ls -la /usr/share/mender/modules/v3 /etc/mender | sha256sum)" = "$system_before" ]'
finish
