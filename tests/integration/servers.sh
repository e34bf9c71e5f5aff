# shellcheck shell=bash
# Real HTTP servers for the network tests (sourced after lib.sh).
#
# Each start_* function runs one server as a child process of the test shell, on a free port
# of 127.0.0.1, with a config generated under $TEST_TMP/srv/NAME, and records its pid so that
# the EXIT trap stops it. Nothing is daemonised, no system config or log is touched, no fixed
# port is used. A missing binary or a server that does not come up is a failure: the function
# prints the server's logs on stderr and returns 1 (it never skips).
#
#   start_nginx NAME DOCROOT [MAX_RANGES]  HTTP/1.1                      -> $NAME_port
#   start_nginx_tls NAME DOCROOT           HTTPS, ALPN h2 + http/1.1:
#        $NAME_port       requires a client certificate from the test CA (ssl_verify_client on)
#        $NAME_anon_port  same files, no client certificate asked
#   start_lighttpd NAME DOCROOT                                          -> $NAME_port
#   start_apache NAME DOCROOT [MAXRANGES]  mpm_event, -DFOREGROUND       -> $NAME_port
#   start_varnish NAME BACKEND_PORT        varnishd -F in front of BACKEND -> $NAME_port
#   servers_make_ca                        the throw-away PKI under $TEST_TMP/ca (see below)
#   server_summary NAME                    "NAME: requests=3 206=3 body_bytes=.. sent_bytes=.."
#   server_count NAME [STATUS]             requests (with that status) in the access log
#   server_bytes NAME [body|sent]          bytes sent: bodies only (default) or with headers
#   server_log_reset NAME                  empty the access log (between cases)
#   server_stop NAME / servers_stop_all
# Also set: $NAME_dir (config, logs: access.log, error.log, stderr.log).
#
# Call start_* in the test shell itself, never in $(...) or a pipeline: they set variables and
# the servers must be children of the shell whose EXIT trap stops them. Each server is started
# under `setpriv --pdeathsig KILL`, so even a test shell killed with SIGKILL takes its servers
# with it.
#
# Every access log has the same line format, whatever the server:
#     STATUS BODY_BYTES SENT_BYTES PROTOCOL "RANGE"      (e.g. 206 30 420 HTTP/1.1 "bytes=0-9,20-29")
# BODY_BYTES may be "-" for an empty body (lighttpd, varnishncsa); the helpers count it as 0.
#
# Privileges (the tests run as root in CI, and $TEST_TMP is mode 0700): nginx runs with
# master_process off, so its single process never switches user; lighttpd stays the invoking
# user when server.username is not set; varnishd runs with -j none (no jail, no user switch).
# Those three read the docroot as the invoking user and need no permission change. Apache alone
# refuses to serve as root ("User root" is a build-time error), so its children run as
# www-data: start_apache opens only what that user needs, a+x (traverse, no listing) on the
# directories from $TEST_TMP down to the docroot and a+r on the docroot's files, and checks
# the result as www-data. Files put in the docroot later keep the umask's mode (0644 here).
#
# What the servers answered to curl 7.88 on Debian 12 (nginx 1.22.1, lighttpd 1.4.69, Apache
# 2.4, Varnish 7.1.1), file of 102400 bytes:
#   -r 0-9                     all: 206, Content-Range: bytes 0-9/102400
#   -r 0-9,100-109,200-209     nginx, lighttpd, Apache: 206 multipart/byteranges with three
#     parts in the order asked. Framing differs: nginx and Apache open the body with a CRLF,
#     lighttpd starts with the boundary line, always the same one ("fkj49sn38dcn3"); Apache
#     spells the part header "Content-range" and, with no MIME type known, sends no
#     Content-Type in the answer nor in the parts.
#   -r 0-9,5-20 (overlapping)  nginx: two parts, as asked (it merges nothing).
#   -r 0-9,10-19,200-209       lighttpd and Apache merge adjacent ranges: two parts, 0-19 and
#     200-209.
#   nginx max_ranges N, N+1 ranges: 200 with the whole file (the Range header is ignored).
#   Apache MaxRanges N, N+1 ranges: 200 with the whole file as well, but the limit counts the
#     ranges after that merging: with MaxRanges 2, 0-9,10-19,200-209 gets a 206 of two parts.
#   Varnish, multi-range (on a miss and on a hit): 416 Range Not Satisfiable, Content-Range:
#     bytes */102400, empty body; a client must fall back to single ranges, not give up. A
#     single range gets 206. Varnish always fetches the whole object from the backend (the
#     backend logs 200 without Range), even for a single range on a miss.
#   nginx TLS: `curl --cacert ca.pem --cert client.pem --key client.key -w %{http_version}`
#     gives 2; without the client certificate nginx completes the TLS handshake and answers
#     "400 No required SSL certificate was sent"; a client certificate of the other CA gets
#     "400 The SSL certificate error"; --cacert other-ca.pem fails the handshake in curl
#     (exit 60, "unable to get local issuer certificate").

: "${TEST_TMP:?source lib.sh before servers.sh}"
# The source tree, and the fault-injecting proxy the network tests put in front of servers.
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FAULTPROXY=(python3 "$SRC_DIR/tests/tools/faultproxy.py")

_srv_names=()
_srv_have_pdeathsig=0
setpriv --help 2>/dev/null | grep -q -- --pdeathsig && _srv_have_pdeathsig=1

# Chain our cleanup in front of whatever EXIT trap lib.sh (or the test) installed, and turn
# the usual terminating signals into an exit so that the EXIT trap runs for them too.
_srv_prev_exit=$(trap -p EXIT)
_srv_prev_exit=${_srv_prev_exit#"trap -- "}
_srv_prev_exit=${_srv_prev_exit%" EXIT"}
[ -n "$_srv_prev_exit" ] && eval "_srv_prev_exit=$_srv_prev_exit"
trap 'servers_stop_all; '"$_srv_prev_exit" EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# A port that was free a moment ago (the start functions retry when it is taken meanwhile).
srv_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

_srv_check_name() {
	if ! [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
		echo "servers.sh: '$1' is not usable as a variable name" >&2
		return 1
	fi
	if [ -n "$(_srv_pids_of "$1")" ]; then
		echo "servers.sh: a server named '$1' is already running" >&2
		return 1
	fi
}

_srv_need() {
	local b
	for b in "$@"; do
		if ! command -v "$b" >/dev/null 2>&1; then
			echo "servers.sh: '$b' is not installed (scripts/deps.sh installs it)" >&2
			return 1
		fi
	done
}

_srv_pids_of() {
	local v="_srv_pids_$1"
	echo "${!v:-}"
}

# _srv_spawn NAME DIR CMD...: start CMD in the background, output in DIR/stderr.log.
# CMD gets a process group of its own (setsid; bash's job control gives one already), so that
# server_stop and the watchdog can reach the workers it forks (Apache's children, which
# survive their parent). setsid and setpriv exec: $! is the server's own pid.
_srv_spawn() {
	local name=$1 dir=$2 v="_srv_pids_$1" pre=()
	shift 2
	_srv_watchdog_start
	[[ $- == *m* ]] || pre+=(setsid)
	[ $_srv_have_pdeathsig = 1 ] && pre+=(setpriv --pdeathsig KILL --)
	"${pre[@]}" "$@" >>"$dir/stderr.log" 2>&1 </dev/null &
	printf -v "$v" '%s' "${!v:+${!v} }$!"
	echo "$!" >>"$TEST_TMP/srv/.pgroups"
	case " ${_srv_names[*]} " in *" $name "*) ;; *) _srv_names+=("$name") ;; esac
}

# The EXIT trap stops the servers when the test ends, even on SIGTERM. When the test shell is
# killed with SIGKILL, the servers get SIGKILL from the kernel (pdeathsig) but their own
# children may not: this watchdog, started with the first server, notices the shell is gone
# and kills every process group the test started. It holds no stdout, so a TAP reader waiting
# for EOF is not kept waiting.
_srv_watchdog_start() {
	[ -n "${_srv_watchdog_pid:-}" ] && return 0
	local shell=$$ list=$TEST_TMP/srv/.pgroups
	mkdir -p "$TEST_TMP/srv"
	: >>"$list"
	(
		trap '' HUP INT TERM
		while kill -0 "$shell" 2>/dev/null; do
			sleep 0.5
		done
		while read -r g; do
			kill -KILL -- "-$g"
		done <"$list"
	) >/dev/null 2>&1 </dev/null &
	_srv_watchdog_pid=$!
}

# _srv_wait NAME PORT...: wait until every PORT accepts connections (10 s), or the server died.
_srv_wait() {
	local name=$1 p pid up _
	shift
	for _ in $(seq 100); do
		for pid in $(_srv_pids_of "$name"); do
			kill -0 "$pid" 2>/dev/null || return 1
		done
		up=1
		for p in "$@"; do
			(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || up=0
		done
		[ $up = 1 ] && return 0
		sleep 0.1
	done
	return 1
}

# _srv_failed NAME DIR: the logs on stderr, server stopped; "in use" (retry) returns 2.
_srv_failed() {
	local name=$1 dir=$2 f
	server_stop "$name"
	if cat "$dir"/*error*.log "$dir/stderr.log" 2>/dev/null | grep -qi 'address already in use'; then
		return 2
	fi
	for f in "$dir/stderr.log" "$dir"/*error*.log; do
		[ -s "$f" ] || continue
		echo "--- $f" >&2
		tail -30 "$f" >&2
	done
	echo "servers.sh: $name did not start" >&2
	return 1
}

# _srv_start NAME KIND NPORTS ARGS...: the port retry loop around
# _srv_config_KIND NAME DIR PORT PORT2 ARGS..., which writes the config into DIR and spawns
# the server.
_srv_start() {
	local name=$1 kind=$2 nports=$3 dir attempt r p1 p2=
	_srv_check_name "$name" || return 1
	dir=$TEST_TMP/srv/$name
	printf -v "${name}_dir" '%s' "$dir"
	printf -v "_srv_kind_$name" '%s' "$kind"
	for attempt in 1 2 3 4 5; do
		rm -rf "$dir"
		mkdir -p "$dir/tmp" || return 1
		p1=$(srv_free_port)
		[ "$nports" = 2 ] && p2=$(srv_free_port)
		"_srv_config_$kind" "$name" "$dir" "$p1" "$p2" "${@:4}" || {
			_srv_failed "$name" "$dir"
			return 1
		}
		# shellcheck disable=SC2086 # p2 is empty for single-port servers
		if _srv_wait "$name" $p1 $p2; then
			printf -v "${name}_port" '%s' "$p1"
			[ -n "$p2" ] && printf -v "${name}_anon_port" '%s' "$p2"
			return 0
		fi
		r=0
		_srv_failed "$name" "$dir" || r=$?
		[ $r = 2 ] || return 1
	done
	echo "servers.sh: $name: no free port after $attempt attempts" >&2
	return 1
}

_srv_nginx_head() {
	local dir=$1
	cat <<-EOF
		daemon off;
		master_process off;
		worker_processes 1;
		pid $dir/nginx.pid;
		error_log $dir/error.log info;
		events { worker_connections 256; }
		http {
			default_type application/octet-stream;
			log_format zu '\$status \$body_bytes_sent \$bytes_sent \$server_protocol "\$http_range"';
			access_log $dir/access.log zu;
			client_body_temp_path $dir/tmp/body;
			proxy_temp_path $dir/tmp/proxy;
			fastcgi_temp_path $dir/tmp/fastcgi;
			uwsgi_temp_path $dir/tmp/uwsgi;
			scgi_temp_path $dir/tmp/scgi;
	EOF
}

_srv_config_nginx() {
	local name=$1 dir=$2 port=$3 docroot=$5 max_ranges=${6:-}
	{
		_srv_nginx_head "$dir"
		cat <<-EOF
			server {
				listen 127.0.0.1:$port;
				root $docroot;
				${max_ranges:+max_ranges $max_ranges;}
			}
			}
		EOF
	} >"$dir/nginx.conf"
	_srv_spawn "$name" "$dir" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf"
}

# start_nginx NAME DOCROOT [MAX_RANGES]: plain HTTP/1.1; $NAME_port.
start_nginx() {
	if [ $# -lt 2 ]; then
		echo "usage: start_nginx NAME DOCROOT [MAX_RANGES]" >&2
		return 1
	fi
	_srv_need nginx || return 1
	_srv_start "$1" nginx 1 "${@:2}"
}

# _srv_cert DIR NAME CA SUBJECT EXT: a P-256 key and a certificate signed by CA.
_srv_cert() {
	local d=$1 n=$2 ca=$3 subj=$4 ext=$5
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-subj "$subj" -keyout "$d/$n.key" -out "$d/$n.csr" 2>>"$d/openssl.log" &&
	printf '%b\n' "$ext" >"$d/$n.ext" &&
	openssl x509 -req -in "$d/$n.csr" -CA "$d/$ca.pem" -CAkey "$d/$ca.key" \
		-set_serial "0x$(openssl rand -hex 8)" -days 2 -sha256 -extfile "$d/$n.ext" \
		-out "$d/$n.pem" 2>>"$d/openssl.log"
}

_srv_ca() {
	local d=$1 n=$2 cn=$3
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-days 2 -sha256 -subj "/O=zckup test/CN=$cn" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-keyout "$d/$n.key" -out "$d/$n.pem" 2>>"$d/openssl.log"
}

# servers_make_ca: the throw-away PKI, made once per test under $TEST_TMP/ca:
#   ca.pem (+ca.key)            the test CA
#   server.pem, server.key      for 127.0.0.1 and localhost (subjectAltName), serverAuth
#   client.pem, client.key      clientAuth, issued by the test CA
#   other-ca.pem (+key)         an unrelated CA: trusting it must refuse the server
#   other-client.pem, .key      a client certificate of the unrelated CA: nginx must refuse it
servers_make_ca() {
	local d=$TEST_TMP/ca
	[ -s "$d/other-client.pem" ] && return 0
	_srv_need openssl || return 1
	mkdir -p "$d"
	# shellcheck disable=SC2015 # any step failing is reported
	_srv_ca "$d" ca "zckup test CA" &&
	_srv_cert "$d" server ca "/O=zckup test/CN=127.0.0.1" \
		"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost" &&
	_srv_cert "$d" client ca "/O=zckup test/CN=zckup device" \
		"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth" &&
	_srv_ca "$d" other-ca "unrelated CA" &&
	_srv_cert "$d" other-client other-ca "/O=unrelated/CN=intruder" \
		"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth" || {
		echo "servers.sh: making the test CA failed:" >&2
		cat "$d/openssl.log" >&2
		return 1
	}
}

_srv_config_nginx_tls() {
	local name=$1 dir=$2 port=$3 port2=$4 docroot=$5 ca=$TEST_TMP/ca
	{
		_srv_nginx_head "$dir"
		cat <<-EOF
			ssl_certificate $ca/server.pem;
			ssl_certificate_key $ca/server.key;
			ssl_protocols TLSv1.2 TLSv1.3;
			server {
				listen 127.0.0.1:$port ssl http2;
				root $docroot;
				ssl_client_certificate $ca/ca.pem;
				ssl_verify_client on;
			}
			server {
				listen 127.0.0.1:$port2 ssl http2;
				root $docroot;
			}
			}
		EOF
	} >"$dir/nginx.conf"
	_srv_spawn "$name" "$dir" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf"
}

# start_nginx_tls NAME DOCROOT: HTTPS with HTTP/2; $NAME_port (client certificate required)
# and $NAME_anon_port (no client certificate). Makes the test CA if needed.
start_nginx_tls() {
	if [ $# -ne 2 ]; then
		echo "usage: start_nginx_tls NAME DOCROOT" >&2
		return 1
	fi
	_srv_need nginx openssl || return 1
	servers_make_ca || return 1
	_srv_start "$1" nginx_tls 2 "$2"
}

_srv_config_lighttpd() {
	local name=$1 dir=$2 port=$3 docroot=$5
	cat >"$dir/lighttpd.conf" <<-EOF
		server.document-root = "$docroot"
		server.bind = "127.0.0.1"
		server.port = $port
		server.errorlog = "$dir/error.log"
		server.upload-dirs = ( "$dir/tmp" )
		server.modules = ( "mod_accesslog" )
		accesslog.filename = "$dir/access.log"
		accesslog.format = "%>s %b %O %H \"%{Range}i\""
		mimetype.assign = ( "" => "application/octet-stream" )
	EOF
	lighttpd -t -f "$dir/lighttpd.conf" >"$dir/stderr.log" 2>&1 || return 1
	_srv_spawn "$name" "$dir" lighttpd -D -f "$dir/lighttpd.conf"
}

# start_lighttpd NAME DOCROOT: $NAME_port.
start_lighttpd() {
	if [ $# -ne 2 ]; then
		echo "usage: start_lighttpd NAME DOCROOT" >&2
		return 1
	fi
	_srv_need lighttpd || return 1
	_srv_start "$1" lighttpd 1 "$2"
}

# _srv_open_for USER DOCROOT: let USER read DOCROOT (see "Privileges" above).
_srv_open_for() {
	local user=$1 docroot d
	docroot=$(realpath "$2") || return 1
	d=$docroot
	while :; do
		case "$d/" in
		"$(realpath "$TEST_TMP")"/*) chmod a+x "$d" || return 1 ;;
		*) break ;;
		esac
		[ "$d" = / ] && break
		d=$(dirname "$d")
	done
	chmod -R a+rX "$docroot" || return 1
	if [ "$(id -u)" = 0 ] &&
		! setpriv --reuid="$user" --regid="$user" --clear-groups -- test -r "$docroot/." -a -x "$docroot"; then
		echo "servers.sh: $user cannot read $docroot (a directory above it is closed)" >&2
		return 1
	fi
}

_srv_config_apache() {
	local name=$1 dir=$2 port=$3 docroot=$5 max_ranges=${6:-} mods=/usr/lib/apache2/modules
	local user=www-data
	getent passwd $user >/dev/null || user=nobody
	_srv_open_for "$user" "$docroot" >"$dir/stderr.log" 2>&1 || return 1
	mkdir -p "$dir/run"
	cat >"$dir/apache2.conf" <<-EOF
		ServerRoot "$dir"
		ServerName 127.0.0.1
		Listen 127.0.0.1:$port
		LoadModule mpm_event_module $mods/mod_mpm_event.so
		LoadModule authz_core_module $mods/mod_authz_core.so
		LoadModule mime_module $mods/mod_mime.so
		User $user
		Group $(id -gn "$user")
		PidFile "$dir/run/apache2.pid"
		DefaultRuntimeDir "$dir/run"
		Mutex file:$dir/run default
		ErrorLog "$dir/error.log"
		LogLevel warn
		LogFormat "%>s %B %O %H \"%{Range}i\"" zu
		CustomLog "$dir/access.log" zu
		StartServers 1
		ServerLimit 1
		ThreadsPerChild 32
		MaxRequestWorkers 32
		KeepAlive On
		DocumentRoot "$docroot"
		<Directory />
			Require all denied
			AllowOverride None
		</Directory>
		<Directory "$docroot">
			Require all granted
		</Directory>
		TypesConfig /dev/null
		${max_ranges:+MaxRanges $max_ranges}
	EOF
	apache2 -t -d "$dir" -f "$dir/apache2.conf" >>"$dir/stderr.log" 2>&1 || return 1
	_srv_spawn "$name" "$dir" apache2 -d "$dir" -f "$dir/apache2.conf" -DFOREGROUND
}

# start_apache NAME DOCROOT [MAXRANGES]: $NAME_port.
start_apache() {
	if [ $# -lt 2 ]; then
		echo "usage: start_apache NAME DOCROOT [MAXRANGES]" >&2
		return 1
	fi
	_srv_need apache2 || return 1
	_srv_start "$1" apache 1 "${@:2}"
}

_srv_config_varnish() {
	local name=$1 dir=$2 port=$3 backend=$5 _
	# The one thing the VCL adds to the built-in behaviour: a probe URL answered by varnishd
	# itself, so that starting varnishncsa can be checked without a request to the backend.
	cat >"$dir/default.vcl" <<-EOF
		vcl 4.1;
		backend origin {
			.host = "127.0.0.1";
			.port = "$backend";
		}
		sub vcl_recv {
			if (req.url == "/.servers-sh-probe") {
				return (synth(204));
			}
		}
	EOF
	# -j none: no jail, no switch to the varnish/vcache users (see "Privileges" above);
	# -T none: no management port; -n: its own work directory (shared memory log).
	_srv_spawn "$name" "$dir" varnishd -F -j none -n "$dir/work" -a "127.0.0.1:$port" \
		-T none -f "$dir/default.vcl" -s malloc,32m
	_srv_wait "$name" "$port" || return 0	# the caller's own wait reports it
	# varnishd writes no access log: varnishncsa reads the shared memory log, which exists
	# once the child runs (the port accepting is not enough: the manager listens first).
	for _ in $(seq 100); do
		grep -q 'Child starts' "$dir/stderr.log" && break
		sleep 0.1
	done
	: >"$dir/access.log"
	_srv_spawn "$name" "$dir" varnishncsa -n "$dir/work" -a -w "$dir/access.log" \
		-F '%s %b %O %H "%{Range}i"'
	for _ in $(seq 100); do
		curl -s -m 2 -o /dev/null "http://127.0.0.1:$port/.servers-sh-probe"
		[ -s "$dir/access.log" ] && break
		sleep 0.1
	done
	if ! [ -s "$dir/access.log" ]; then
		echo "servers.sh: varnishncsa logs nothing" >>"$dir/stderr.log"
		return 1
	fi
	sleep 0.2	# a probe answered twice can still be on its way to the log
	: >"$dir/access.log"
}

# start_varnish NAME BACKEND_PORT: varnishd in front of 127.0.0.1:BACKEND_PORT; $NAME_port.
start_varnish() {
	if [ $# -ne 2 ]; then
		echo "usage: start_varnish NAME BACKEND_PORT" >&2
		return 1
	fi
	_srv_need varnishd varnishncsa curl || return 1
	_srv_start "$1" varnish 1 "$2"
}

# server_stop NAME: stop a server (SIGTERM, SIGKILL to its process group after 5 s), wait.
server_stop() {
	local v="_srv_pids_$1" pid _
	for pid in ${!v:-}; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in ${!v:-}; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL -- "-$pid" 2>/dev/null	# the group: workers left by their parent
		wait "$pid" 2>/dev/null
		sed -i "/^$pid\$/d" "$TEST_TMP/srv/.pgroups" 2>/dev/null
	done
	printf -v "$v" '%s' ""
}

servers_stop_all() {
	local n
	for n in "${_srv_names[@]}"; do
		server_stop "$n"
	done
	if [ -n "${_srv_watchdog_pid:-}" ]; then
		kill -KILL "$_srv_watchdog_pid" 2>/dev/null
		wait "$_srv_watchdog_pid" 2>/dev/null
		_srv_watchdog_pid=
	fi
}

# Servers write the access log line after the answer went out (varnishncsa even later, from
# the shared memory log; lighttpd buffers its log for up to 4 s and writes it out on SIGHUP):
# wait until the log stops growing for 0.2 s (at most 3 s).
_srv_log_settle() {
	local name=$1 f=$2 last=-1 now stable=0 kind="_srv_kind_$1" pid _
	for _ in $(seq 60); do
		if [ "${!kind}" = lighttpd ]; then
			for pid in $(_srv_pids_of "$name"); do
				kill -HUP "$pid" 2>/dev/null
			done
		fi
		now=$(stat -c %s "$f" 2>/dev/null || echo 0)
		if [ "$now" = "$last" ]; then
			stable=$((stable + 1))
			[ $stable -ge 4 ] && return 0
		else
			stable=0
		fi
		last=$now
		sleep 0.05
	done
}

_srv_log() {
	local v="${1}_dir"
	if [ -z "${!v:-}" ]; then
		echo "servers.sh: no server named '$1'" >&2
		return 1
	fi
	_srv_log_settle "$1" "${!v}/access.log"
	cat "${!v}/access.log" 2>/dev/null
}

# server_summary NAME: one line, e.g. "ngx: requests=4 206=3 416=1 body_bytes=1230 sent_bytes=2410"
server_summary() {
	_srv_log "$1" | awk -v n="$1" '
		{ req++; st[$1]++; body += $2; sent += $3 }
		END {
			printf "%s: requests=%d", n, req
			for (s in st) printf " %s=%d", s, st[s]
			printf " body_bytes=%d sent_bytes=%d\n", body, sent
		}'
}

# server_count NAME [STATUS]: number of requests logged (with that status).
server_count() {
	_srv_log "$1" | awk -v s="${2:-}" 's == "" || $1 == s { c++ } END { print c + 0 }'
}

# server_bytes NAME [body|sent]: bytes of answer bodies (default) or of whole answers.
server_bytes() {
	local col=2
	[ "${2:-body}" = sent ] && col=3
	_srv_log "$1" | awk -v c=$col '{ b += $c } END { print b + 0 }'
}

# server_log_reset NAME: forget the requests so far (the servers append with O_APPEND).
server_log_reset() {
	local v="${1}_dir"
	_srv_log "$1" >/dev/null || return 1
	: >"${!v}/access.log"
}
