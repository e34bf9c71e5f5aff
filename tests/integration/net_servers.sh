#!/usr/bin/env bash
# shellcheck disable=SC2154 # $NAME_port, $NAME_dir: set by servers.sh's start_* functions
# zckup apply and plan against real HTTP(S) servers on 127.0.0.1 (servers.sh): nginx with and
# without max_ranges, lighttpd, Apache with and without MaxRanges, Varnish in front of nginx,
# nginx over TLS + HTTP/2 with client certificates; headers, redirects, presigned URLs, the
# lead check, every destination, resume after SIGKILL, the downloader's privileges, errors,
# and a .zck replaced on the server during the update (tests/tools/faultproxy.py adds latency
# and stalls). A server that is missing or does not start is a failure, never a skip.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/servers.sh
. "$(dirname "$0")/servers.sh"
GEN="python3 $SRC_DIR/tests/integration/gen.py"
ZCKUP=$(realpath "$ZCKUP")
cd "$TEST_TMP" || exit 1
T0=$(date +%s.%N)
T_LAST=$T0
# lap WHAT: a diagnostic line with the seconds since the previous lap.
lap() {
	local now
	now=$(date +%s.%N)
	printf '# %s: %.1f s\n' "$1" "$(echo "$now - $T_LAST" | bc)"
	T_LAST=$now
}

# ---------------------------------------------------------------------------------------------
# Local helpers.

# zu RUN ARGS...: `timeout 60 zckup ARGS`; stdout in RUN.out, its last line (the --json summary)
# in RUN.json, stderr in RUN.err, exit status in $rc, seconds taken in $secs.
zu() {
	local run=$1 t
	shift
	t=$(date +%s.%N)
	rc=0
	timeout 60 "$ZCKUP" "$@" >"$run.out" 2>"$run.err" </dev/null || rc=$?
	secs=$(echo "$(date +%s.%N) - $t" | bc)
	tail -n 1 "$run.out" >"$run.json"
	json_kv "$run"
}

# zu_bg RUN ARGS...: the same in the background, in a subshell (whose stderr takes bash's
# "Killed" notice when a test kills zckup): $bg_pid is the subshell, $zu_pid zckup.
zu_bg() {
	local run=$1 _
	shift
	(
		timeout 60 "$ZCKUP" "$@" >"$run.out" 2>"$run.err" </dev/null
		exit $?
	) 2>/dev/null &
	bg_pid=$!
	zu_pid=
	for _ in $(seq 100); do
		zu_pid=$(child "$(child "$bg_pid")")
		[ -n "$zu_pid" ] && break
		sleep 0.02
	done
}

# bg_wait RUN: wait for the background run; $rc, RUN.json.
bg_wait() {
	rc=0
	wait "$bg_pid" || rc=$?
	tail -n 1 "$1.out" >"$1.json"
	json_kv "$1"
}

# want_rc STATUS NAME RUN: the last run exited with STATUS.
want_rc() {
	if [ "$rc" = "$1" ]; then
		ok "$2 (exit $rc)"
	else
		not_ok "$2: exit $rc, expected $1"
		diag "$3.err"
	fi
}

# err_has TEXT NAME RUN: RUN's stderr mentions TEXT (an extended regexp, any case).
err_has() {
	if grep -qiE -- "$1" "$3.err"; then
		ok "$2"
	else
		not_ok "$2: stderr lacks /$1/"
		diag "$3.err"
	fi
}

# same_image NAME FILE: FILE is byte-identical to new.img.
same_image() {
	if cmp -s "$2" new.img; then
		ok "$1"
	else
		not_ok "$1: $(cmp "$2" new.img 2>&1 | head -1)"
	fi
}

# json_kv RUN: RUN.json (the --json summary) flattened into RUN.kv, "KEY<TAB>VALUE" lines, with
# one python start per run; jf RUN KEY: a value from it, MISSING (which no assertion accepts)
# when the run printed no summary or the key is not in it.
json_kv() {
	python3 -c '
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    d = {}
for k, v in d.items():
    print("%s\t%s" % (k, v))' "$1.json" >"$1.kv"
}
jf() {
	awk -F '\t' -v k="$2" '$1 == k { v = $2; f = 1 } END { print f ? v : "MISSING" }' "$1.kv"
}

# summ NAME: server_summary NAME into $summ (one wait for the log to settle); sf KEY: a number
# from it (requests, 206, 302, ..., body_bytes, sent_bytes; a status not in it: 0; no summary:
# MISSING).
summ() { summ=$(server_summary "$1"); }
sf() {
	local v
	v=$(tr ' ' '\n' <<<"$summ" | sed -n "s/^$1=\([0-9]*\)\$/\1/p")
	[[ $summ == *" requests="* ]] || v=MISSING
	echo "${v:-0}"
}

# child PID: the first child of PID (nothing when PID is empty).
child() { [ -n "$1" ] && pgrep -P "$1" | head -1; }
isnum() { [[ $1 =~ ^[0-9]+$ ]]; }

# within PCT A B: A and B are numbers within PCT percent of B.
within() {
	isnum "$2" && isnum "$3" && [ "$3" -gt 0 ] &&
		[ $(( ($2 > $3 ? $2 - $3 : $3 - $2) * 100 )) -le $(( $1 * $3 )) ]
}

# waitfor SECONDS CMD...: poll CMD every 0.05 s until it succeeds.
waitfor() {
	local end
	end=$(echo "$(date +%s.%N) + $1" | bc)
	shift
	while ! "$@"; do
		[ "$(echo "$(date +%s.%N) > $end" | bc)" = 1 ] && return 1
		sleep 0.05
	done
}

# fetched RUN: the "fetched" of RUN's last --progress json line (0 before the first).
fetched() {
	local f
	f=$(grep -o '"fetched":[0-9]*' "$1.out" 2>/dev/null | tail -1 | cut -d: -f2)
	echo "${f:-0}"
}
fetched_over() { [ "$(fetched "$1")" -gt "$2" ]; }

# gone PID: the process does not exist any more (or is a zombie waiting to be reaped).
gone() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$st" ] || [ "$st" = Z ]
}

# start_proxy NAME UPSTREAM_PORT ARGS...: faultproxy.py in front of 127.0.0.1:UPSTREAM_PORT;
# sets $NAME_port and $NAME_pid; it dies with this shell (pdeathsig) or by stop_proxy.
start_proxy() {
	local name=$1 up=$2 pf=$TEST_TMP/$1.port pre=() pid
	shift 2
	rm -f "$pf"
	[ "$_srv_have_pdeathsig" = 1 ] && pre=(setpriv --pdeathsig KILL --)
	"${pre[@]}" "${FAULTPROXY[@]}" --upstream "127.0.0.1:$up" --port-file "$pf" --log "$TEST_TMP/$name.log" \
		"$@" >"$TEST_TMP/$name.stderr" 2>&1 </dev/null &
	pid=$!
	printf -v "${name}_pid" '%s' "$pid"
	if ! waitfor 10 test -s "$pf"; then
		echo "faultproxy $name did not start:" >&2
		cat "$TEST_TMP/$name.stderr" >&2
		return 1
	fi
	printf -v "${name}_port" '%s' "$(cat "$pf")"
}

stop_proxy() {
	local v="${1}_pid"
	[ -n "${!v:-}" ] || return 0
	kill "${!v}" 2>/dev/null
	wait "${!v}" 2>/dev/null
	printf -v "$v" '%s' ""
}

# An nginx that servers.sh does not offer: on $NAME_port (HTTP) a location that wants an API
# key, one that checks a presigned-style query string and one that redirects to another
# server; on $NAME_anon_port (HTTPS, the test CA's server certificate, no client certificate)
# a redirect to plain HTTP. Started by servers.sh's own _srv_start, so that it gets the port
# retry, the cleanup and the access log helpers like the other servers.
_srv_config_nginx_net() {
	local name=$1 dir=$2 port=$3 port2=$4 docroot=$5 target=$6 ca=$TEST_TMP/ca
	{
		_srv_nginx_head "$dir"
		cat <<-EOF
			server {
				listen 127.0.0.1:$port;
				root $docroot;
				location ^~ /key/ {
					if (\$http_x_api_key != "secret") {
						return 403;
					}
					alias $docroot/;
				}
				location = /signed/new.zck {
					if (\$args != "X-Amz-Signature=abc&X-Amz-Expires=60") {
						return 403;
					}
					alias $docroot/new.zck;
				}
				location = /moved/new.zck {
					return 302 http://127.0.0.1:$target/new.zck;
				}
			}
			server {
				listen 127.0.0.1:$port2 ssl http2;
				ssl_certificate $ca/server.pem;
				ssl_certificate_key $ca/server.key;
				root $docroot;
				location = /to-http/new.zck {
					return 302 http://127.0.0.1:$target/new.zck;
				}
			}
			}
		EOF
	} >"$dir/nginx.conf"
	_srv_spawn "$name" "$dir" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf"
}

start_nginx_net() {
	_srv_need nginx openssl || return 1
	servers_make_ca || return 1
	_srv_start "$1" nginx_net 2 "$2" "$3"
}

# ---------------------------------------------------------------------------------------------
# Images and servers.

$GEN image 5 8000000 old.img
$GEN edit scatter 6 old.img new.img
$GEN image 7 3000000 other.img
check "zckup make writes new.zck and new.zckh" \
	timeout 60 "$ZCKUP" make new.img -o new.zck -H new.zckh --level 3 --profile compat -q
check "zckup make writes other.zck and other.zckh (another image)" \
	timeout 60 "$ZCKUP" make other.img -o other.zck -H other.zckh --level 3 --profile compat -q
mkdir -p www www12
cp new.zck www/
cp new.zck www12/

started=1
start_srv() {
	local what=$1
	shift
	if "$@" 2>"$TEST_TMP/start.err"; then
		return 0
	fi
	not_ok "$what starts"
	diag "$TEST_TMP/start.err"
	started=0
}
start_srv "nginx" start_nginx ngx "$TEST_TMP/www"
start_srv "nginx max_ranges 1" start_nginx ngx1 "$TEST_TMP/www" 1
start_srv "nginx max_ranges 4" start_nginx ngx4 "$TEST_TMP/www" 4
start_srv "lighttpd" start_lighttpd lt "$TEST_TMP/www"
start_srv "Apache" start_apache ap "$TEST_TMP/www"
start_srv "Apache MaxRanges 2" start_apache ap2 "$TEST_TMP/www" 2
start_srv "nginx behind Varnish" start_nginx vbe "$TEST_TMP/www"
[ -n "${vbe_port:-}" ] && start_srv "Varnish" start_varnish vn "$vbe_port"
start_srv "nginx TLS" start_nginx_tls tls "$TEST_TMP/www"
[ -n "${ngx_port:-}" ] && start_srv "nginx with key, query and redirect locations" \
	start_nginx_net net "$TEST_TMP/www" "$ngx_port"
start_srv "nginx for the replaced .zck" start_nginx chg "$TEST_TMP/www12"
if [ $started = 1 ]; then
	ok "all servers run on 127.0.0.1"
else
	finish
	exit 1
fi
CA=$TEST_TMP/ca
TLS_CLIENT=(--cacert "$CA/ca.pem" --cert "$CA/client.pem" --key "$CA/client.key")
http() { echo "http://127.0.0.1:${1}/${2:-new.zck}"; }

lap "images and servers"

# ---------------------------------------------------------------------------------------------
# 1. Every server: identical image, the fetch mode it must lead to, HTTP version, requests.

# server_case NAME SERVER URL MODE HTTPVER STEPDOWNS(any|pos) [ARGS...]
server_case() {
	local name=$1 srv=$2 url=$3 mode=$4 ver=$5 sd=$6 run=c1_$2 n
	shift 6
	server_log_reset "$srv"
	rm -f "$run.img"
	zu "$run" apply --header new.zckh --url "$url" --source old.img --target "$run.img" --json "$@"
	want_rc 0 "$name: apply succeeds" "$run"
	same_image "$name: the image is identical" "$run.img"
	assert "$name: mode is $mode ($(jf "$run" mode))" "[ '$(jf "$run" mode)' = '$mode' ]"
	assert "$name: http_version is $ver ($(jf "$run" http_version))" \
		"[ '$(jf "$run" http_version)' = '$ver' ]"
	if [ "$sd" = pos ]; then
		n=$(jf "$run" stepdowns)
		assert "$name: it stepped down (stepdowns $n)" "isnum '$n' && [ '$n' -gt 0 ]"
	fi
	summ "$srv"
	n=$(sf requests)
	assert "$name: the access log has as many requests as the JSON says ($n, $(jf "$run" requests))" \
		"[ '$n' -gt 0 ] && [ '$n' = '$(jf "$run" requests)' ]"
	echo "# $summ; zckup: requests $(jf "$run" requests) stepdowns" \
		"$(jf "$run" stepdowns) wire_bytes $(jf "$run" wire_bytes) in ${secs}s"
}

server_case "nginx" ngx "$(http "$ngx_port")" multi-range 11 any
sent=$(sf sent_bytes)
wire=$(jf c1_ngx wire_bytes)
assert "nginx: bytes sent ($sent) within 3% of wire_bytes ($wire)" "within 3 '$sent' '$wire'"
assert "nginx: only 206 answers ($summ)" "[ $(sf 206) -gt 0 ] && [ $(sf 206) = $(sf requests) ]"
FULL_FETCHED=$(jf c1_ngx fetched_bytes)
isnum "$FULL_FETCHED" || FULL_FETCHED=$(stat -c %s new.zck)

server_case "nginx max_ranges 1" ngx1 "$(http "$ngx1_port")" single-range 11 any
server_case "nginx max_ranges 4" ngx4 "$(http "$ngx4_port")" multi-range 11 pos
server_case "lighttpd" lt "$(http "$lt_port")" multi-range 11 any
server_case "Apache" ap "$(http "$ap_port")" multi-range 11 any
server_case "Apache MaxRanges 2" ap2 "$(http "$ap2_port")" multi-range 11 pos
server_case "Varnish" vn "$(http "$vn_port")" single-range 11 any
server_case "nginx TLS+HTTP/2, client certificate" tls "https://127.0.0.1:$tls_port/new.zck" \
	multi-range 20 any "${TLS_CLIENT[@]}"

lap "case 1"

# ---------------------------------------------------------------------------------------------
# 2. The header read from the URL.

rm -f c2a.img c2b.img
zu c2a apply --url "$(http "$ngx_port")" --source old.img --target c2a.img --json
want_rc 0 "nginx, header from the URL: apply succeeds" c2a
same_image "nginx, header from the URL: the image is identical" c2a.img
zu c2b apply --url "https://127.0.0.1:$tls_port/new.zck" "${TLS_CLIENT[@]}" \
	--source old.img --target c2b.img --json
want_rc 0 "TLS, header from the URL: apply succeeds" c2b
same_image "TLS, header from the URL: the image is identical" c2b.img
assert "TLS, header from the URL: HTTP/2 ($(jf c2b http_version))" "[ '$(jf c2b http_version)' = 20 ]"

lap "case 2"

# ---------------------------------------------------------------------------------------------
# 3. plan --url against what apply --url then does. plan reads the header only (one request);
# apply reads the same header the same way, then sends what plan counted.

server_log_reset ngx
zu c3p plan --url "$(http "$ngx_port")" --source old.img --json
want_rc 0 "plan --url succeeds" c3p
summ ngx
assert "plan --url reads only the header: one request ($summ)" "[ $(sf requests) = 1 ]"
hdr_line=$(head -1 "$ngx_dir/access.log")
hdr_sent=$(sf sent_bytes)
server_log_reset ngx
rm -f c3a.img
zu c3a apply --url "$(http "$ngx_port")" --source old.img --target c3a.img --json
want_rc 0 "apply --url after plan succeeds" c3a
same_image "apply --url after plan: the image is identical" c3a.img
assert "apply's first request is plan's header read ($hdr_line)" \
	"[ -n '$hdr_line' ] && [ \"\$(head -1 '$ngx_dir/access.log')\" = '$hdr_line' ]"
p_req=$(jf c3p requests)
a_req=$(jf c3a requests)
assert "apply's requests ($a_req) = plan's ($p_req) + 1 header read" \
	"isnum '$p_req' && [ '$a_req' = \$((p_req + 1)) ]"
p_rng=$(jf c3p ranges)
a_rng=$(jf c3a ranges)
assert "apply's ranges ($a_rng) = plan's ($p_rng) + 1 header range" \
	"isnum '$p_rng' && [ '$a_rng' = \$((p_rng + 1)) ]"
for k in fetched_bytes:fetch_bytes fetched_uncompressed_bytes:fetch_uncompressed_bytes \
	fetched_chunks:fetch_chunks reused_bytes:reused_bytes reused_chunks:reused_chunks; do
	a=$(jf c3a "${k%%:*}")
	p=$(jf c3p "${k#*:}")
	assert "apply's ${k%%:*} ($a) = plan's ${k#*:} ($p)" "isnum '$a' && [ '$a' = '$p' ]"
done
a_wire=$(jf c3a wire_bytes)
summ ngx
assert "apply's wire_bytes ($a_wire) = what nginx sent ($summ)" "[ '$a_wire' = $(sf sent_bytes) ]"
est=$(jf c3p wire_bytes_estimate)
body_wire=MISSING
isnum "$a_wire" && isnum "$hdr_sent" && body_wire=$((a_wire - hdr_sent))
assert "plan's wire_bytes_estimate ($est) within 3% of apply's wire_bytes less the header read \
($a_wire - $hdr_sent = $body_wire)" "within 3 '$est' '$body_wire'"

lap "case 3"

# ---------------------------------------------------------------------------------------------
# 4. TLS failures.

TLS_URL=https://127.0.0.1:$tls_port/new.zck
rm -f c4.img
zu c4a apply --header new.zckh --url "$TLS_URL" --cacert "$CA/other-ca.pem" \
	--cert "$CA/client.pem" --key "$CA/client.key" --source old.img --target c4.img --json
want_rc 6 "TLS: a server certificate of another CA is refused" c4a
err_has "TLS|certificate" "TLS: the message names the TLS/certificate problem" c4a
# nginx completes the handshake and answers 400 "No required SSL certificate was sent":
# zckup reports the unexpected status (exit 7, "the server ... failed the transfer").
zu c4b apply --header new.zckh --url "$TLS_URL" --cacert "$CA/ca.pem" --retries 1 \
	--source old.img --target c4.img --json
want_rc 7 "TLS: no client certificate fails with exit 7" c4b
err_has "400" "TLS: no client certificate: the message gives the HTTP status 400" c4b
echo "# no client certificate: $(head -1 c4b.err) (${secs}s)"
rm -f c4.img
zu c4c apply --header new.zckh --url "$TLS_URL" --cacert "$CA/other-ca.pem" --insecure \
	--cert "$CA/client.pem" --key "$CA/client.key" --source old.img --target c4.img --json
want_rc 0 "TLS: another CA with --insecure succeeds" c4c
same_image "TLS: --insecure: the image is identical" c4.img

lap "case 4"

# ---------------------------------------------------------------------------------------------
# 5. --http-header and a presigned-style URL.

KEY_URL=$(http "$net_port" key/new.zck)
rm -f c5.img
zu c5a apply --header new.zckh --url "$KEY_URL" --source old.img --target c5.img --json
want_rc 6 "a server that wants X-Api-Key: without it, exit 6" c5a
err_has "403" "without the API key: the message gives the 403" c5a
zu c5b apply --header new.zckh --url "$KEY_URL" --http-header 'X-Api-Key: secret' \
	--source old.img --target c5.img --json
want_rc 0 "with --http-header 'X-Api-Key: secret': apply succeeds" c5b
same_image "with --http-header: the image is identical" c5.img
rm -f c5.img
server_log_reset net
zu c5c apply --header new.zckh \
	--url "$(http "$net_port" 'signed/new.zck?X-Amz-Signature=abc&X-Amz-Expires=60')" \
	--source old.img --target c5.img --json
want_rc 0 "a presigned-style URL (query string checked by the server) works" c5c
same_image "presigned-style URL: the image is identical" c5.img
summ net
assert "presigned-style URL: every request was answered 206 ($summ)" \
	"[ $(sf 206) -gt 0 ] && [ $(sf 206) = $(sf requests) ]"

lap "case 5"

# ---------------------------------------------------------------------------------------------
# 6. Redirects.

server_log_reset net
server_log_reset ngx
rm -f c6.img
zu c6a apply --header new.zckh --url "$(http "$net_port" moved/new.zck)" \
	--source old.img --target c6.img --json
want_rc 0 "a 302 from http to http is followed" c6a
same_image "after the 302: the image is identical" c6.img
summ net
assert "the first server only redirected ($summ)" "[ $(sf 302) -gt 0 ] && [ $(sf 302) = $(sf requests) ]"
summ ngx
assert "nginx, where it redirected, served the ranges ($summ)" "[ $(sf 206) -gt 0 ]"
server_log_reset ngx
rm -f c6.img
zu c6b apply --header new.zckh --url "https://127.0.0.1:$net_anon_port/to-http/new.zck" \
	--cacert "$CA/ca.pem" --source old.img --target c6.img --json
assert "a redirect from https to http is refused (exit $rc)" "[ '$rc' != 0 ] && [ '$rc' != 124 ]"
# The command line is right: the server's redirect is at fault, not a usage error (exit 2).
assert "the refused redirect is not reported as a usage error (exit $rc)" "[ '$rc' != 2 ]"
err_has "redirect" "the message says a redirect was refused" c6b
echo "# https -> http: $(head -1 c6b.err)"
summ ngx
assert "the http URL it redirected to was never asked ($summ)" "[ $(sf requests) = 0 ]"

lap "case 6"

# ---------------------------------------------------------------------------------------------
# 7. The lead check: a header of another image with this URL.

rm -f c7.img
zu c7 apply --header other.zckh --url "$(http "$ngx_port")" --source old.img --target c7.img --json
want_rc 4 "another image's header with this URL: exit 4" c7
err_has "does not belong" "the message says the header does not belong to the URL" c7
assert "the target was not created" "[ ! -e c7.img ]"

lap "case 7"

# ---------------------------------------------------------------------------------------------
# 8. Destinations over HTTP, 4 connections.

NGX_URL=$(http "$ngx_port")
rm -f c8*.img
zu c8a apply --header new.zckh --url "$NGX_URL" --connections 4 --source old.img --output c8a.img
want_rc 0 "--output FILE over HTTP" c8a
same_image "--output FILE: identical" c8a.img
rc=0
timeout 60 "$ZCKUP" apply --header new.zckh --url "$NGX_URL" --connections 4 --source old.img \
	-o - >c8b.img 2>c8b.err </dev/null || rc=$?
want_rc 0 "-o - over HTTP" c8b
same_image "-o - (stdout to a file): identical" c8b.img
zu c8c apply --header new.zckh --url "$NGX_URL" --connections 4 --source old.img \
	--exec "cat > '$TEST_TMP/c8c.img'"
want_rc 0 "--exec 'cat > f' over HTTP" c8c
same_image "--exec 'cat > f': identical" c8c.img

lap "case 8"

# ---------------------------------------------------------------------------------------------
# 9. Resume after SIGKILL on a slow link.

if start_proxy slow "$ngx_port" --mode delay --delay-ms 40 2>start.err; then
	ok "faultproxy (delay 40 ms) in front of nginx"
else
	not_ok "faultproxy (delay 40 ms) in front of nginx"
	diag start.err
fi
RESUME=(apply --header new.zckh --url "$(http "${slow_port:-1}")" --source old.img
	--target "$TEST_TMP/c9.img" --connections 1 --max-ranges 1 --progress json --json)
rm -f c9.img
zu_bg c9a "${RESUME[@]}"
if waitfor 20 fetched_over c9a $((FULL_FETCHED / 3)); then
	ok "the slow download is under way ($(fetched c9a) of $FULL_FETCHED bytes)"
else
	not_ok "the slow download is under way: fetched $(fetched c9a)"
	diag c9a.err
fi
dl=$(child "$zu_pid")
assert "zckup (${zu_pid:-none}) has its downloader child (${dl:-none})" "[ -n '$dl' ]"
[ -n "$zu_pid" ] && kill -KILL "$zu_pid"
bg_wait c9a
assert "zckup was killed with SIGKILL mid-download (exit $rc, fetched $(fetched c9a))" \
	"[ '$rc' = 137 ] && [ $(fetched c9a) -lt $FULL_FETCHED ]"
waitfor 3 gone "${dl:-1}"
assert "the downloader (${dl:-none}) does not outlive zckup" "[ -n '$dl' ] && gone '$dl'"
left=$(pgrep -f -- "$TEST_TMP/c9.img" | tr '\n' ' ')
assert "no process of that command is left ($left)" "[ -z '$left' ]"
zu c9b "${RESUME[@]}"
want_rc 0 "the same command again completes the update" c9b
same_image "after the resume: the image is identical" c9.img
f2=$(jf c9b fetched_bytes)
assert "the second run fetched less ($f2) than a full run ($FULL_FETCHED)" \
	"isnum '$f2' && [ '$f2' -lt '$FULL_FETCHED' ]"
stop_proxy slow

lap "case 9"

# ---------------------------------------------------------------------------------------------
# 10. Privilege separation, seen on a stalled transfer; SIGINT.

if start_proxy stall "$ngx_port" --mode stall-after --after 100000 2>start.err; then
	ok "faultproxy (stall after 100000 bytes) in front of nginx"
else
	not_ok "faultproxy (stall after 100000 bytes) in front of nginx"
	diag start.err
fi
# priv_case LABEL UID [ARGS...]
priv_case() {
	local label=$1 uid=$2 run=c10_$1 dl st fds bad t left
	shift 2
	rm -f "$run.img"
	zu_bg "$run" apply --header new.zckh --url "$(http "${stall_port:-1}")" --source old.img \
		--target "$TEST_TMP/$run.img" --timeout 30 --progress json --json "$@"
	waitfor 15 fetched_over "$run" 0
	sleep 0.3 # the stall: the other transfers reach it as well
	dl=$(child "$zu_pid")
	assert "$label: the transfer stalls with the downloader (${dl:-none}) alive \
(fetched $(fetched "$run"))" "[ -n '$dl' ] && [ $(fetched "$run") -gt 0 ] && [ -n '$zu_pid' ] && kill -0 '$zu_pid'"
	st=$(cat "/proc/${dl:-1}/status" 2>/dev/null)
	assert "$label: the downloader's Uid is $uid ($(grep '^Uid:' <<<"$st" | tr '\t' ' '))" \
		"[ -n '$dl' ] && grep -qE '^Uid:[[:space:]]+${uid}[[:space:]]+${uid}[[:space:]]+${uid}[[:space:]]+${uid}\$' <<<\"\$st\""
	assert "$label: the downloader has NoNewPrivs 1" "[ -n '$dl' ] && grep -qE '^NoNewPrivs:[[:space:]]+1\$' <<<\"\$st\""
	# not dumpable: /proc/PID of a process that is not dumpable belongs to root, whatever its uid
	assert "$label: the downloader is not dumpable (/proc/PID/status owned by $(stat -c %U "/proc/${dl:-1}/status" 2>/dev/null))" \
		"[ -n '$dl' ] && [ \"\$(stat -c %u /proc/$dl/status)\" = 0 ]"
	assert "$label: the downloader may not grow a file (Max file size 0)" \
		"[ -n '$dl' ] && grep -qE '^Max file size[[:space:]]+0[[:space:]]+0[[:space:]]' /proc/$dl/limits"
	fds=$(for f in /proc/"${dl:-1}"/fd/*; do readlink "$f"; done 2>/dev/null | tr '\n' ' ')
	bad=$(tr ' ' '\n' <<<"$fds" | grep -vE '^(/dev/null|socket:\[[0-9]+\])?$' | tr '\n' ' ')
	assert "$label: the downloader holds only /dev/null and sockets ($fds)" \
		"[ -n '$dl' ] && [ -z '$bad' ] && [[ '$fds' == *socket:* ]]"
	t=$(date +%s.%N)
	[ -n "$zu_pid" ] && kill -INT "$zu_pid"
	bg_wait "$run"
	t=$(echo "$(date +%s.%N) - $t" | bc)
	assert "$label: SIGINT ends zckup with exit 8 within 5 s (exit $rc, ${t}s)" \
		"[ '$rc' = 8 ] && [ \$(echo '$t < 5' | bc) = 1 ]"
	waitfor 3 gone "${dl:-1}"
	left=$(pgrep -f -- "$TEST_TMP/$run.img" | tr '\n' ' ')
	assert "$label: no process is left (downloader ${dl:-none}; left: $left)" \
		"[ -n '$dl' ] && gone '$dl' && [ -z '$left' ]"
}
priv_case default "$(id -u nobody)"
priv_case user-daemon "$(id -u daemon)" --user daemon
stop_proxy stall

lap "case 10"

# ---------------------------------------------------------------------------------------------
# 11. Errors.

zu c11a apply --header new.zckh --url "$(http "$ngx_port" missing.zck)" --source old.img \
	--target c11.img --json
want_rc 6 "a URL that answers 404: exit 6" c11a
err_has "404|not found" "the 404 is reported" c11a
closed=$(srv_free_port)
zu c11b apply --header new.zckh --url "$(http "$closed")" --retries 1 --timeout 2 \
	--source old.img --target c11.img --json
want_rc 6 "a closed port (--retries 1 --timeout 2): exit 6" c11b
assert "a closed port: it gives up within 5 s (${secs}s)" "[ \$(echo '$secs < 5' | bc) = 1 ]"

lap "case 11"

# ---------------------------------------------------------------------------------------------
# 12. The .zck replaced on the server during the update.

if start_proxy slow12 "$chg_port" --mode delay --delay-ms 40 2>start.err; then
	ok "faultproxy (delay 40 ms) in front of the nginx of the replaced .zck"
else
	not_ok "faultproxy (delay 40 ms) in front of the nginx of the replaced .zck"
	diag start.err
fi
server_log_reset chg
rm -f c12.img
zu_bg c12 apply --header new.zckh --url "$(http "${slow12_port:-1}")" --source old.img \
	--target "$TEST_TMP/c12.img" --connections 1 --max-ranges 1 --progress json --json
waitfor 20 fetched_over c12 0
before=$(fetched c12)
cp other.zck www12/new.zck.tmp && mv -f www12/new.zck.tmp www12/new.zck
assert "the .zck was replaced mid-update (after $before of $FULL_FETCHED bytes)" \
	"[ '$before' -gt 0 ] && [ '$before' -lt '$FULL_FETCHED' ]"
bg_wait c12
want_rc 7 "a .zck replaced during the update: exit 7" c12
err_has "zck changed" "the message says the .zck changed" c12
assert "the target is not left looking complete (exit $rc)" "[ '$rc' = 0 ] || ! cmp -s c12.img new.img"
summ chg
echo "# replaced: $(head -1 c12.err); $summ"
stop_proxy slow12
lap "case 12"

# ---------------------------------------------------------------------------------------------
# 13. A proxy from the environment: the URL names a port where nothing listens, so the update
# can only succeed through http_proxy (faultproxy in pass mode forwards whatever it is asked to
# the real nginx).

if start_proxy envp "${ngx_port:-1}" --mode pass 2>start.err; then
	ok "faultproxy (pass) as the environment's http proxy"
else
	not_ok "faultproxy (pass) as the environment's http proxy"
	diag start.err
fi
dead_port=$(srv_free_port)
rm -f c13.img
rc=0
env -u no_proxy -u NO_PROXY http_proxy="http://127.0.0.1:${envp_port:-1}" \
	timeout 60 "$ZCKUP" apply --header new.zckh --url "http://127.0.0.1:$dead_port/new.zck" \
	--source old.img --target c13.img --retries 0 --json -q >c13.out 2>c13.err </dev/null || rc=$?
assert "through http_proxy from the environment: exit 0 (exit $rc)" "[ '$rc' = 0 ]"
same_image "the image fetched through the proxy is identical" c13.img
assert "every request went through the proxy" \
	"[ \$(grep -c 'status=206' '$TEST_TMP/envp.log') -ge 1 ] && ! grep -q 'status=[^2]' '$TEST_TMP/envp.log'"
stop_proxy envp
lap "case 13"

# ---------------------------------------------------------------------------------------------
# 14. The downloader never runs as root: --user root is refused before it touches the network.

rm -f c14.img
rc=0
timeout 60 "$ZCKUP" apply --url "http://127.0.0.1:$(srv_free_port)/new.zck" --user root \
	--source old.img --target c14.img >c14.out 2>c14.err </dev/null || rc=$?
assert "--user root: exit 2 (exit $rc)" "[ '$rc' = 2 ]"
err_has "must not run as root" "--user root: the message says why" c14
assert "--user root: the target is not created" "[ ! -e c14.img ]"
lap "case 14"

echo "# run time $(echo "$(date +%s.%N) - $T0" | bc) s"
finish
