#!/usr/bin/env bash
# shellcheck disable=SC2154 # $NAME_port, $NAME_pid: set by start_nginx and start_proxy
# integrations/swupdate: Debian's swupdate 2022.12 loads zckup's Lua handler (image type
# "zckup") from the Lua path and installs a signed SWU that carries the detached header, from
# a private nginx on loopback: byte-identical image, every property passed as one argv word
# (hostile values included, checked through a wrapper that records zckup's argv), progress and
# summary in SWUpdate's log, --save-index written; a tampered header refused before zckup runs;
# a server failing mid-update fails swupdate -i and a second run continues from what the first
# wrote; the zckup entry reads no more bytes from nginx than the delta entry of the same update.
# Also the handler's shell quoting, run through the real sh.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
for t in swupdate lua5.3 openssl cpio; do
	if ! command -v $t >/dev/null 2>&1; then
		skip "SWUpdate zckup handler" "$t not installed (scripts/deps.sh test)"
		finish
		exit
	fi
done
# shellcheck source=tests/integration/servers.sh
. "$(dirname "$0")/servers.sh"
# shellcheck source=tests/integration/swupdate_lib.sh
. "$(dirname "$0")/swupdate_lib.sh"
ZCKUP=$(realpath "$ZCKUP")
INTEG=$ZCKUP_SRC/integrations/swupdate
export LUA_PATH="$INTEG/?.lua;;"
cd "$TEST_TMP" || exit 1

# ---- the handler's quoting, through the real /bin/sh --------------------------------------
cat >quote.lua <<'EOF'
local z = require("zckup_swupdate")
local vals = { "plain", "two words", "it's", "'", "''", '"', "$(touch pwned)", "`touch pwned`",
  "a;touch pwned", "a|b", "a&&b", "*", "~", "-n", "--url=x", "$HOME", "\\", "\\'", "tab\there",
  "new\nline", "", "!", "#c", "%s%d", "\u{e9}t\u{e9}", "}{", ">out", "<in" }
local argv = { "printf", "%s\\0" }
for _, v in ipairs(vals) do argv[#argv + 1] = v end
local f = assert(io.popen(z.command_line(argv), "r"))
local got = f:read("a")
f:close()
local want = table.concat(vals, "\0") .. "\0"
if got ~= want then
  io.stderr:write("got " .. string.format("%q", got) .. "\n")
  os.exit(1)
end
local ok = pcall(z.shell_quote, "a\0b")
if ok then io.stderr:write("NUL accepted\n") os.exit(1) end
print(#vals)
EOF
check "shell_quote: $(lua5.3 quote.lua 2>/dev/null || echo 0) hostile values reach the program as they are" lua5.3 quote.lua
assert "  and none ran a command" '[ ! -e pwned ]'
cat >argv.lua <<'EOF'
local z = require("zckup_swupdate")
local function show(img)
  local a, e = z.build_argv(img, "/h.zckh", "zckup")
  print(a and table.concat(a, "|") or ("ERR " .. e))
end
show({ path = "/dev/p3", properties = { url = "http://u/v.zck", source = { "/dev/p2", "/c" },
  ["source-size"] = { "detect", "" }, ["source-index"] = "/d/p2.zckh", ["max-ranges"] = "8",
  ["http-header"] = { "A: 1", "B: 2" }, ["no-fine"] = "true" } })
show({ device = "/dev/p3", path = "", properties = { url = "u", exec = "tar -x" } })
show({ path = "/f", properties = { url = "u", atomic = "true", chain = "rawfile" } })
show({ path = "/f", properties = { url = "u", chain = "ubivol" } })
show({ path = "/f", properties = { url = "u", ["max-range"] = "8" } })
show({ path = "/f", properties = { } })
show({ path = "", properties = { url = "u" } })
EOF
lua5.3 argv.lua >argv.out 2>&1
assert "build_argv: sources with their sizes and index, options per value, flags, path as --target" \
	"sed -n 1p argv.out | grep -qxF 'zckup|apply|--header|/h.zckh|--url|http://u/v.zck|--progress|json|--json|--source|/dev/p2|--source-size|detect|--source-index|/d/p2.zckh|--source|/c|--max-ranges|8|--http-header|A: 1|--http-header|B: 2|--no-fine|--target|/dev/p3'"
assert "build_argv: exec wins over the device" "sed -n 2p argv.out | grep -q -- '|--exec|tar -x\$'"
assert "build_argv: atomic makes --output; chain rawfile is accepted" "sed -n 3p argv.out | grep -q -- '|--output|/f\$'"
assert "build_argv: another chain is refused" "sed -n 4p argv.out | grep -q \"^ERR chain 'ubivol'\""
assert "build_argv: a misspelt property is refused" "sed -n 5p argv.out | grep -q \"^ERR unknown property 'max-range'\""
assert "build_argv: url is required" "sed -n 6p argv.out | grep -q '^ERR property .url.'"
assert "build_argv: a destination is required" "sed -n 7p argv.out | grep -q '^ERR no destination'"

# ---- images, server, keys ---------------------------------------------------------------------
$GEN image 11 6000000 v1.img
$GEN edit scatter 12 v1.img v2.img
"$ZCKUP" make v2.img -o v2.zck -H v2.zckh --level 3 --threads 2 -q
mkdir -p www
cp v2.zck www/
if ! start_nginx ngx "$TEST_TMP/www" 2>nginx.err; then
	not_ok "nginx serves the .zck on 127.0.0.1"
	diag nginx.err
	finish
	exit 1
fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj "/O=zckup test/CN=swupdate" -keyout key.pem -out cert.pem 2>/dev/null
printf 'globals:\n{\n\tloglevel = 5;\n};\n' >swupdate.cfg
# A wrapper named as the zckup binary: records its argv (NUL-separated) and that it ran.
mkdir -p bin
cat >bin/zckup <<EOF
#!/bin/sh
printf '%s\0' "\$@" >"$TEST_TMP/argv.rec"
echo ran >>"$TEST_TMP/ran.rec"
exec "$ZCKUP" "\$@"
EOF
chmod +x bin/zckup

# The known race of swupdate -i (swupdate_lib.sh) ends the client early on a tiny SWU, before
# the installer ran: 2 runs of 12 here. A padding file that sw-description does not name
# (SWUpdate skips it) keeps the client busy sending until the installer has started: 0 of 12
# with 4 MB, 0 of 12 with 16 MB. The retry stays for the other form of the race.
head -c 4000000 /dev/zero >pad.bin
# make_swu NAME URL TARGET [PROPERTY_LINES]: NAME.swu with v2.zckh (or $HDR, under that name) as
# a "zckup" image writing TARGET, source v1.img; PROPERTY_LINES are more libconfig lines in its
# properties.
make_swu() {
	local name=$1 url=$2 target=$3 extra=${4:-}
	mkdir -p "$name"
	cp "${HDR:-v2.zckh}" "$name/v2.zckh"
	cat >"$name/sw-description" <<EOF
software =
{
	version = "2.0.0";
	hardware-compatibility: [ "1.0" ];
	images: (
	{
		filename = "v2.zckh";
		type = "zckup";
		path = "$target";
		sha256 = "$(sha256sum "$name/v2.zckh" | cut -d' ' -f1)";
		properties: {
			url = "$url";
			source = "$TEST_TMP/v1.img";
$extra
		};
	}
	);
}
EOF
	(cd "$name" && openssl cms -sign -in sw-description -out sw-description.sig -signer ../cert.pem \
		-inkey ../key.pem -outform DER -nosmimecap -binary &&
		printf '%s\n' sw-description sw-description.sig v2.zckh ../pad.bin |
		cpio -o -H crc --quiet >../"$name.swu")
}
# run NAME [BEFORE]: swupdate -i NAME.swu with the wrapper found on PATH; log in NAME.log.
run() {
	PATH=$TEST_TMP/bin:$PATH swupdate_run swupdate.cfg cert.pem "$1.swu" "$1.log" "${2:-:}"
}
# installed NAME: the last run succeeded.
installed() {
	if [ "$sw_rc" = 0 ]; then
		ok "$1: swupdate -i installs it (exit 0, attempt $sw_attempt)"
	else
		not_ok "$1: swupdate -i: exit $sw_rc"
		grep -v -E 'print_registered|lua_report_exception' "$2" | tail -30 | diag
	fi
}
u="http://127.0.0.1:$ngx_port/v2.zck"
hostile='X-Zckup: it'"'"'s \"q\" $(touch pwned) `touch pwned`; a|b'

# start_proxy ARGS...: faultproxy.py in front of nginx; sets proxy_port, proxy_pid.
start_proxy() {
	local pf=$TEST_TMP/proxy.port pre=()
	rm -f "$pf"
	[ "$_srv_have_pdeathsig" = 1 ] && pre=(setpriv --pdeathsig KILL --)
	"${pre[@]}" "${FAULTPROXY[@]}" --upstream "127.0.0.1:$ngx_port" --port-file "$pf" \
		--log "$TEST_TMP/proxy.log" "$@" >"$TEST_TMP/proxy.stderr" 2>&1 </dev/null &
	proxy_pid=$!
	for _ in $(seq 100); do
		[ -s "$pf" ] && break
		sleep 0.05
	done
	proxy_port=$(cat "$pf" 2>/dev/null)
}

# ---- a signed SWU with a zckup image ----------------------------------------------------------
make_swu main "$u" "$TEST_TMP/slot.img" "			max-ranges = \"16\";
			connections = \"2\";
			http-header = [ \"X-Api-Key: 123\", \"$hostile\" ];
			save-index = \"$TEST_TMP/slot.zckh\";"
rm -f slot.img slot.zckh ran.rec argv.rec
t0=$(date +%s.%N)
run main "server_log_reset ngx; rm -f slot.img slot.zckh ran.rec"
t1=$(date +%s.%N)
installed "zckup entry" main.log
check "the slot holds the new image, byte-identical" cmp slot.img v2.img
expect_exit 0 "zckup verify agrees" "$ZCKUP" verify --header v2.zckh slot.img
assert "SWUpdate found the Lua handler for type zckup" "grep -q 'Found installer for stream v2.zckh zckup' main.log"
assert "zckup found on PATH ran once" "[ \"\$(wc -l <ran.rec)\" = 1 ]"
tr '\0' '\n' <argv.rec >argv.txt
# shellcheck disable=SC2034 # read by assert (eval)
want_hdr=${hostile//\\\"/\"} # as libconfig unescapes it
assert "each property is one argv word: the hostile header value arrived as it is" \
	'grep -qxF -- "$want_hdr" argv.txt'
assert "  and no command of it ran" '[ ! -e pwned ]'
assert "  max-ranges, connections, both headers, save-index and the path as --target passed on" \
	"grep -qx -- '--max-ranges' argv.txt && grep -qx 16 argv.txt && grep -qx -- '--connections' argv.txt && grep -qx 'X-Api-Key: 123' argv.txt && grep -qx -- '--target' argv.txt && grep -qxF '$TEST_TMP/slot.img' argv.txt"
check "--save-index wrote the installed image's header" cmp slot.zckh v2.zckh
assert "zckup's summary is in SWUpdate's log" "grep -q 'zckup: summary {\"image_bytes\":6000000' main.log"
assert "progress was forwarded (write phase up to 100%)" "grep -q 'zckup: write 100%' main.log"
zbytes=$(server_bytes ngx body)
zreq=$(server_count ngx)
echo "# zckup entry: nginx sent $zbytes body bytes in $zreq requests; swupdate -i took $(awk "BEGIN {print $t1 - $t0}") s"

# ---- progress, seen by SWUpdate's own progress client ------------------------------------------
# swupdate-progress -w connects once swupdate -i has made its socket, which can take it more than
# the second this install lasts on a loaded machine (it then sees only the end): the zckup of this
# run (named by the property zckup) waits 4 s before it starts, so that the client is there.
progress_client() {
	server_stop progress
	mkdir -p "$TEST_TMP/srv/progress"
	: >"$TEST_TMP/srv/progress/stderr.log"
	_srv_spawn progress "$TEST_TMP/srv/progress" stdbuf -o0 swupdate-progress -w \
		-s "$TEST_TMP/sw.$sw_attempt/swupdateprog"
}
printf '#!/bin/sh\nsleep 4\nexec "%s" "$@"\n' "$ZCKUP" >bin/zckup-late
chmod +x bin/zckup-late
make_swu prog "$u" "$TEST_TMP/pslot.img" "			max-ranges = \"16\";
			zckup = \"$TEST_TMP/bin/zckup-late\";"
run prog "rm -f pslot.img; progress_client"
installed "zckup entry watched by swupdate-progress" prog.log
sleep 0.5 # what the client got is printed
server_stop progress
tr '\r' '\n' <srv/progress/stderr.log >progress.txt
pcts=$(grep -oE '[0-9]+% \(v2\.zckh\)' progress.txt | cut -d% -f1 | sort -un | tr '\n' ' ')
echo "# swupdate-progress saw: $pcts"
npct=$(printf '%s\n' $pcts | grep -c .)
assert "swupdate-progress, on SWUpdate's progress socket, saw the handler's steps up to 100% (${pcts:-none})" \
	"[ $npct -ge 3 ] && printf '%s\n' $pcts | grep -qx 100"
[ "$npct" -ge 3 ] || { diag progress.txt; grep -E 'zckup|ERROR|progress' prog.log | tail -15 | diag; }

# ---- the same update through plain zckup apply, and through the delta handler --------------------
server_log_reset ngx
rm -f plain.img
t0=$(date +%s.%N)
check "plain zckup apply of the same update" "$ZCKUP" apply --header v2.zckh --url "$u" \
	--source v1.img --target plain.img --max-ranges 16 --connections 2 -q
t1=$(date +%s.%N)
pbytes=$(server_bytes ngx body)
echo "# plain zckup apply: nginx sent $pbytes body bytes in $(server_count ngx) requests, $(awk "BEGIN {print $t1 - $t0}") s"
assert "through SWUpdate zckup reads what plain zckup reads ($zbytes = $pbytes)" "[ '$zbytes' = '$pbytes' ]"
mkdir -p delta
cp v2.zckh delta/new.zckh
check "a signed SWU with a delta entry of the same update" "$ZCKUP_SRC/tests/tools/make_swu.sh" \
	"$TEST_TMP/delta" "$u" "$TEST_TMP/v1.img" "$TEST_TMP/delta.img"
t0=$(date +%s.%N)
swupdate_run delta/swupdate.cfg delta/cert.pem delta/update.swu delta.log \
	"server_log_reset ngx; rm -f delta.img"
t1=$(date +%s.%N)
installed "delta entry" delta.log
check "the delta entry writes the same image" cmp delta.img v2.img
dbytes=$(server_bytes ngx body)
echo "# delta entry: nginx sent $dbytes body bytes in $(server_count ngx) requests; swupdate -i took $(awk "BEGIN {print $t1 - $t0}") s"
assert "the zckup entry reads no more bytes from nginx than the delta entry ($zbytes <= $dbytes)" \
	"[ -n '$dbytes' ] && [ '$zbytes' -le '$dbytes' ]"
# The same with a .zck of the compat profile (one zstd frame per chunk, as zck writes it): the
# two entries fetch the same chunks, zckup no more bytes.
"$ZCKUP" make v2.img -o www/v2c.zck -H v2c.zckh --level 3 --threads 2 --profile compat -q
HDR=v2c.zckh make_swu compat "http://127.0.0.1:$ngx_port/v2c.zck" "$TEST_TMP/cslot.img" \
	"			max-ranges = \"16\";"
run compat "server_log_reset ngx; rm -f cslot.img"
installed "zckup entry, compat .zck" compat.log
check "  the slot holds the new image" cmp cslot.img v2.img
zcbytes=$(server_bytes ngx body)
# the one range zckup adds: the .zck's lead, read to check that the header belongs to this .zck
lead=$(grep -o 'bytes=0-[0-9]*' "$ngx_dir/access.log" | head -1 | cut -d- -f2)
lead=$((${lead:-(-1)} + 1))
mkdir -p deltac
cp v2c.zckh deltac/new.zckh
"$ZCKUP_SRC/tests/tools/make_swu.sh" "$TEST_TMP/deltac" "http://127.0.0.1:$ngx_port/v2c.zck" \
	"$TEST_TMP/v1.img" "$TEST_TMP/deltac.img"
swupdate_run deltac/swupdate.cfg deltac/cert.pem deltac/update.swu deltac.log \
	"server_log_reset ngx; rm -f deltac.img"
installed "delta entry, compat .zck" deltac.log
check "  the delta entry writes the same image" cmp deltac.img v2.img
dcbytes=$(server_bytes ngx body)
echo "# compat .zck: zckup entry $zcbytes body bytes (the lead: $lead), delta entry $dcbytes"
assert "compat .zck: the zckup entry reads no more than the delta entry and the .zck's lead ($zcbytes <= $dcbytes + $lead)" \
	"[ -n '$dcbytes' ] && [ -n '$zcbytes' ] && [ $lead -gt 0 ] && [ $lead -le 64 ] && [ '$zcbytes' -le \$(($dcbytes + $lead)) ]"

# ---- a tampered header is refused by SWUpdate before zckup runs -----------------------------------
make_swu tamper "$u" "$TEST_TMP/tslot.img"
cp v1.img tslot.img
python3 - <<'EOF'
# flips a byte of v2.zckh inside the cpio archive, after sw-description was signed
d = bytearray(open("tamper.swu", "rb").read())
h = open("v2.zckh", "rb").read()
i = d.find(h)
assert i >= 0
d[i + len(h) // 2] ^= 0xff
open("tamper.swu", "wb").write(bytes(d))
EOF
rm -f ran.rec
run tamper
assert "a tampered header fails swupdate -i (exit $sw_rc)" "[ '$sw_rc' != 0 ]"
assert "  SWUpdate refused it on its sha256 (HASH mismatch)" "grep -q 'ERROR : HASH mismatch' tamper.log"
grep '^\[ERROR\]' tamper.log | head -3 | sed 's/^/# swupdate: /'
assert "  zckup never ran" '[ ! -e ran.rec ]'
check "  the slot is untouched" cmp tslot.img v1.img

# ---- a server that is down ------------------------------------------------------------------------
downport=$(srv_free_port) # nothing listens there
make_swu off "http://127.0.0.1:$downport/v2.zck" "$TEST_TMP/oslot.img" "			retries = \"1\";"
run off "rm -f oslot.img"
assert "a server that is down fails swupdate -i (exit $sw_rc), zckup's exit status 6 in the log" \
	"[ '$sw_rc' != 0 ] && grep -q 'zckup apply failed with exit status 6' off.log"

# ---- a server that fails mid-update; the second run continues ---------------------------------------
# The proxy passes all but the last 3 requests of this update, then answers 503.
"$ZCKUP" apply --header v2.zckh --url "$u" --source v1.img --target count.img --max-ranges 2 \
	--connections 1 -q --json >count.json
half=$(($(json_field count.json requests) - 3)) # past the piece tables, into the frames
start_proxy --mode status-503 --skip "$half"
if [ -n "$proxy_port" ]; then
	make_swu down "http://127.0.0.1:$proxy_port/v2.zck" "$TEST_TMP/dslot.img" "			max-ranges = \"2\";
			connections = \"1\";
			retries = \"1\";"
	run down "rm -f dslot.img"
	assert "the server failing after $half requests fails swupdate -i (exit $sw_rc)" "[ '$sw_rc' != 0 ]"
	assert "  the handler reports zckup's exit status 7" "grep -q 'zckup apply failed with exit status 7' down.log"
	written=$(stat -c %s dslot.img 2>/dev/null || echo 0)
	assert "  the slot keeps what was written ($written bytes), its first block zero (incomplete)" \
		"[ '$written' -gt 0 ] && cmp -s <(head -c 4096 dslot.img) <(head -c 4096 /dev/zero)"
	kill "$proxy_pid" 2>/dev/null
	wait "$proxy_pid" 2>/dev/null
	make_swu again "$u" "$TEST_TMP/dslot.img" "			max-ranges = \"2\";
			connections = \"1\";"
	run again "server_log_reset ngx"
	installed "the second run" again.log
	check "  the slot now holds the new image" cmp dslot.img v2.img
	inplace=$(grep -o '"in_place_bytes":[0-9]*' again.log | tail -1 | cut -d: -f2)
	fetched=$(grep -o '"fetched_bytes":[0-9]*' again.log | tail -1 | cut -d: -f2)
	assert "  it continued: ${inplace:-?} bytes already in place, ${fetched:-?} fetched of $(json_field count.json fetched_bytes)" \
		"[ '${inplace:-0}' -gt 0 ] && [ '${fetched:-0}' -lt $(json_field count.json fetched_bytes) ]"
else
	not_ok "the fault proxy starts"
	diag proxy.stderr
fi

# ---- the binary named by a property; a failing zckup fails the install ------------------------
make_swu named "http://127.0.0.1:$ngx_port/none.zck" "$TEST_TMP/nslot.img" "			zckup = \"$TEST_TMP/bin/zckup\";"
rm -f ran.rec
swupdate_run swupdate.cfg cert.pem named.swu named.log
assert "the property zckup names the binary (PATH without it), and a 404 fails the install (exit $sw_rc)" \
	"[ -e ran.rec ] && [ '$sw_rc' != 0 ] && grep -q 'zckup apply failed with exit status 6' named.log"
finish
