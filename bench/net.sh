#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# zckup network benchmark: one image pair, one artifact made once by `zckup make`, one private
# nginx on 127.0.0.1. SWUpdate's delta handler and `zckup apply` fetch the missing chunks from
# it; the script prints bytes on the wire, requests, wall time, peak RSS and temporary disk of
# each, their ratios and the targets. See bench/README.md, "net.sh".
#
# Targets (printed with PASS/MISS, never asserted): wire bytes <= 1.0x SWUpdate's; wall time
# <= 0.15x SWUpdate's (issue 6) and <= 0.08x (issue 8: also with the source's chunk table from
# the running image's header, --source-index); 100 ms round trip <= 1.5x zckup's loopback time; a max_ranges 1 server
# <= 1.2x the multi-range time; peak RSS <= 32 MiB + header; zero bytes of temporary disk.
#
# Environment:
#   ZCKUP           zckup binary to measure (default: build $BUILD_DIR with meson, release)
#   BUILD_DIR       meson build dir used when ZCKUP is unset (default: <repo>/build-release)
#   BENCH_DIR       work dir parent (default /var/tmp/zckup-bench; not under /tmp, which each
#                   measured run gets as a private tmpfs); our files go in a fresh subdirectory
#                   that is removed at the end
#   BENCH_KEEP=1    keep the work subdirectory (its path is printed)
#   BENCH_NET_MIB   size of the ext4 images (default 300; 64 makes a quick run)
#   BENCH_NET_LEVEL zstd level of `zckup make` (default 19, make's own default)
#   BENCH_PROFILE   make's --profile (default compat: SWUpdate fetches whole chunks, and
#                   a fine .zck's are larger; fine measures zckup's default artifact)
#   BENCH_RUNS      timed runs per configuration; the best (fastest) is reported (default 3)
#   BENCH_STRICT=1  exit 1 when a figure misses its target (default: report only)
set -euo pipefail
export LC_ALL=C

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh"
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/zckup-bench}
BUILD_DIR=${BUILD_DIR:-$REPO/build-release}
IMG_MIB=${BENCH_NET_MIB:-300}
LEVEL=${BENCH_NET_LEVEL:-19}
RUNS=${BENCH_RUNS:-3}
PROXY=$REPO/tests/tools/faultproxy.py
RTT_MS=100

[[ $IMG_MIB =~ ^[0-9]+$ && $IMG_MIB -ge 32 ]] || die "BENCH_NET_MIB must be a number >= 32"
[[ $LEVEL =~ ^[0-9]+$ ]] || die "BENCH_NET_LEVEL must be a number"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive number"
[[ $(id -u) == 0 ]] || die "run as root: each measured run gets a private /tmp (unshare -m)"

need mkfs.ext4 e2fsprogs
need nginx nginx
need swupdate swupdate
need cpio cpio
need openssl openssl
need jq jq
need python3 python3
need unshare util-linux
need tar tar
need cmp diffutils
PY=$(command -v python3)

bench_zckup "$REPO" "$BUILD_DIR" "$BENCH_DIR"
HAVE_HTTP=0
# (not `| grep -q`: with pipefail, grep leaving early can fail the pipeline with SIGPIPE)
case $("$ZCKUP" apply --help 2>&1) in *--connections*) HAVE_HTTP=1 ;; esac

# ---------------------------------------------------------------- work dir
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
case $BENCH_DIR/ in /tmp/*) die "BENCH_DIR must not be under /tmp (runs get a private /tmp)" ;; esac
nginx_pid='' proxy_pid=''
# shellcheck disable=SC2317 # called by bench_cleanup at exit
bench_on_exit() {
	[[ -z $proxy_pid ]] || { kill "$proxy_pid" 2>/dev/null; wait "$proxy_pid" 2>/dev/null; }
	[[ -z $nginx_pid ]] || { kill "$nginx_pid" 2>/dev/null; wait "$nginx_pid" 2>/dev/null; }
}
bench_workdir net
chmod 755 "$W"  # the downloader process of zckup may run as nobody

avail_mib=$(df -Pm "$W" | awk 'NR == 2 { print $4 }')
((avail_mib >= 4 * IMG_MIB + 500)) ||
	die "$W has $avail_mib MiB free; the bench needs ~$((4 * IMG_MIB + 500)) MiB"

# ---------------------------------------------------------------- the measuring wrapper
# $W/sample.py runs one command, times it and (with --interval > 0) samples its process tree
# from /proc: per-process VmHWM, the summed VmRSS and Pss, the files it holds open for
# writing, and the use of the tmpfs dirs it is told about.
cat >"$W/sample.py" <<'PYEOF'
import json, os, re, stat, sys, threading, time

def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""

def kib(text, key):
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0

def fs_used(path):
    v = os.statvfs(path)
    return (v.f_blocks - v.f_bfree) * v.f_frsize

def tree_pids(root):
    # descendants from the ppid field of every /proc/PID/stat (no /proc/PID/task/*/children
    # on every kernel); the name in parentheses may hold spaces, so split after the last ')'
    kids = {}
    for name in os.listdir("/proc"):
        st = read("/proc/%s/stat" % name) if name.isdigit() else ""
        if st:
            kids.setdefault(int(st[st.rfind(")") + 2:].split()[1]), []).append(int(name))
    out, todo = [], [root]
    while todo:
        out.append(todo.pop())
        todo.extend(kids.get(out[-1], []))
    return out

class Tree:
    def __init__(self, tmpfs, ignore):
        self.tmpfs, self.ignore = tmpfs, set(ignore)
        self.base = {d: fs_used(d) for d in tmpfs}
        self.tmp_peak = {d: 0 for d in tmpfs}
        self.tmp_files, self.hwm, self.written = set(), {}, {}
        self.rss_peak = self.pss_peak = self.samples = 0

    def sample(self, root):
        self.samples += 1
        rss = pss = 0
        for pid in tree_pids(root):
            text = read("/proc/%d/status" % pid)
            if not text:
                continue
            name = text.split("\n", 1)[0].split(":", 1)[1].strip()
            self.hwm[pid] = (name, max(self.hwm.get(pid, ("", 0))[1], kib(text, "VmHWM")))
            rss += kib(text, "VmRSS")
            pss += kib(read("/proc/%d/smaps_rollup" % pid), "Pss")
            self.scan_fds(pid)
        self.rss_peak, self.pss_peak = max(self.rss_peak, rss), max(self.pss_peak, pss)
        for d in self.tmpfs:
            self.tmp_peak[d] = max(self.tmp_peak[d], fs_used(d) - self.base[d])
            for top, _, files in os.walk(d):
                self.tmp_files.update(os.path.join(top, f) for f in files)

    def scan_fds(self, pid):
        fd_dir = "/proc/%d/fd" % pid
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            return
        for fd in fds:
            try:
                link = os.readlink("%s/%s" % (fd_dir, fd))
                path = link[:-10] if link.endswith(" (deleted)") else link
                if (not link.startswith("/") or link.startswith(("/dev/", "/proc/", "/memfd:"))
                        or path in self.ignore):
                    continue
                st = os.stat("%s/%s" % (fd_dir, fd))
                flags = int(read("/proc/%d/fdinfo/%s" % (pid, fd)).split()[3], 8)
            except (OSError, IndexError, ValueError):
                continue
            if stat.S_ISREG(st.st_mode) and flags & os.O_ACCMODE != os.O_RDONLY:
                entry = self.written.setdefault((st.st_dev, st.st_ino), [link, 0])
                entry[1] = max(entry[1], st.st_blocks * 512)

    def report(self):
        procs = [{"pid": p, "name": n, "hwm_kib": h} for p, (n, h) in sorted(self.hwm.items())]
        return {"samples": self.samples, "procs": procs,
                "tree_hwm_sum_kib": sum(p["hwm_kib"] for p in procs),
                "tree_rss_peak_kib": self.rss_peak, "tree_pss_peak_kib": self.pss_peak,
                "tmpfs_peak_bytes": self.tmp_peak, "tmpfs_files": sorted(self.tmp_files),
                "written_files": [{"path": p, "bytes": b} for p, b in self.written.values()],
                "written_outside_bytes": sum(b for p, b in self.written.values()
                                             if not p.startswith(tuple(d + "/" for d in self.tmpfs)))}

def watch(fd, pattern, t0, seen):
    # copies the command's output to ours and notes when a line first matches pattern
    with os.fdopen(fd, "rb") as f:
        for line in f:
            if "mark" not in seen and re.search(pattern, line.decode(errors="replace")):
                seen["mark"] = time.monotonic() - t0
            sys.stdout.buffer.write(line)
    sys.stdout.flush()

def main():
    # sample.py OUT INTERVAL_MS TMPFS_DIRS IGNORE_PATHS MARK CMD...: the dirs and paths are
    # :-separated; MARK, when not empty, is a regular expression: the time of the first output
    # line that matches it is reported as mark_seconds.
    out, interval, tmpfs, ignore = sys.argv[1], float(sys.argv[2]) / 1000, sys.argv[3], sys.argv[4]
    mark, cmd = sys.argv[5], sys.argv[6:]
    tree = Tree([d for d in tmpfs.split(":") if d], [p for p in ignore.split(":") if p])
    seen, reader = {}, None
    if mark:
        rfd, wfd = os.pipe()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            if mark:
                os.dup2(wfd, 1)
                os.dup2(wfd, 2)
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    if mark:
        os.close(wfd)
        reader = threading.Thread(target=watch, args=(rfd, mark, t0, seen))
        reader.start()
    while True:
        if interval > 0:
            tree.sample(pid)
            got, status, ru = os.wait4(pid, os.WNOHANG)
            if got == 0:
                time.sleep(interval)
                continue
        else:
            got, status, ru = os.wait4(pid, 0)
        break
    res = {"rc": os.waitstatus_to_exitcode(status), "seconds": time.monotonic() - t0,
           "wait4_maxrss_kib": ru.ru_maxrss}
    if reader:
        reader.join()
        res["mark_seconds"] = seen.get("mark")
    if interval > 0:
        res.update(tree.report())
    with open(out, "w") as f:
        json.dump(res, f)
    sys.exit(0 if res["rc"] == 0 else 1)

main()
PYEOF

# measure NAME INTERVAL_MS CMD...: runs CMD in a private mount namespace where /tmp and a fresh
# $W/tmp.NAME (its TMPDIR) are new tmpfs mounts, under sample.py; result in $W/NAME.m.json,
# stdout+stderr in $W/NAME.log. $MARK (a regular expression, may be empty): sample.py reports
# when the first output line matching it came. Returns CMD's status.
measure() {
	local name=$1 interval=$2 tmp=$W/tmp.$1
	shift 2
	mkdir -p "$tmp"
	# shellcheck disable=SC2016 # the inner shell expands them
	unshare -m --propagation private sh -c '
		tmp=$1; shift
		mount -t tmpfs -o size=4g,mode=1777 bench-tmp /tmp &&
		mount -t tmpfs -o size=4g,mode=1777 bench-tmpdir "$tmp" && exec "$@"' \
		sh "$tmp" env TMPDIR="$tmp" "$PY" "$W/sample.py" "$W/$name.m.json" "$interval" \
		"/tmp:$tmp" "$W/out.img:$W/$name.log" "${MARK:-}" "$@" >"$W/$name.log" 2>&1
}

# ---------------------------------------------------------------- image pair and artifact
say "machine: $(nproc) cores, $(cpu_model)," \
	"$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
note "zckup:    $ZCKUP ($("$ZCKUP" --version))"
note "SWUpdate: $(dpkg-query -W -f '${Version}' swupdate 2>/dev/null || echo '?');" \
	"$(nginx -v 2>&1 | sed 's/.*: //'); work dir $W"
note "timing: best of $RUNS run(s); RSS and temporary disk: one more run, sampled every 20 ms;" \
	"load average now $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the times)"

say "building the image pair ($IMG_MIB MiB ext4) from files under /usr"
bench_image_pair "$W" "$IMG_MIB"

say "zckup make new.img --level $LEVEL --profile ${BENCH_PROFILE:-compat} (the one artifact every client fetches from)"
"$ZCKUP" make -q "$W/new.img" -o "$W/new.zck" -H "$W/new.zckh" --level "$LEVEL" \
	--profile "${BENCH_PROFILE:-compat}" ||
	die "zckup make failed"
s_zck=$(fsize "$W/new.zck") s_hdr=$(fsize "$W/new.zckh")
"$ZCKUP" plan -q --json --source "$W/old.img" "$W/new.zckh" >"$W/plan.json" ||
	die "zckup plan --json failed"
fetch=$(jq -r .fetch_bytes "$W/plan.json")
# the running image's own header, as a device that installed old.img with zckup keeps it
# (apply --save-index): what --source-index reads instead of chunking old.img
"$ZCKUP" make -q "$W/old.img" -o "$W/old.zck" -H "$W/old.zckh" --level 1 ||
	die "zckup make old.img failed"
rm -f "$W/old.zck"
note "new.zck $(mib "$s_zck"), header $s_hdr bytes; zckup plan: fetch $(mib "$fetch")" \
	"in $(jq -r .ranges "$W/plan.json") ranges, reuse $(mib "$(jq -r .reused_bytes "$W/plan.json")")"

# ---------------------------------------------------------------- nginx
free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
# wait_port PORT PID: until something accepts on 127.0.0.1:PORT, while PID lives.
wait_port() {
	local i
	for ((i = 0; i < 100; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
NGX=$W/ngx
mkdir -p "$NGX/www" "$NGX/tmp"
ln "$W/new.zck" "$NGX/www/new.zck"
PORT=$(free_port) PORT1=$(free_port)
[[ $PORT != "$PORT1" ]] || PORT1=$(free_port)
# Two servers in one nginx: the default one answers a multi-range request with one
# multipart/byteranges response; the max_ranges 1 one answers it with the whole file (200).
# $bytes_sent counts the response headers, $body_bytes_sent the body only.
cat >"$NGX/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $NGX/nginx.pid;
error_log $NGX/error.log;
events { worker_connections 256; }
http {
	log_format bench '\$status \$bytes_sent \$body_bytes_sent \$request_length \$connection'
		' \$server_port "\$http_range"';
	access_log $NGX/access.log bench;
	sendfile on;
	tcp_nopush on;
	default_type application/octet-stream;
	client_body_temp_path $NGX/tmp/body;
	proxy_temp_path $NGX/tmp/proxy;
	fastcgi_temp_path $NGX/tmp/fastcgi;
	uwsgi_temp_path $NGX/tmp/uwsgi;
	scgi_temp_path $NGX/tmp/scgi;
	server { listen 127.0.0.1:$PORT; root $NGX/www; }
	server { listen 127.0.0.1:$PORT1; root $NGX/www; max_ranges 1; }
}
EOF
nginx -e "$NGX/error.log" -p "$NGX" -c "$NGX/nginx.conf" &
nginx_pid=$!
if ! wait_port "$PORT" "$nginx_pid" || ! wait_port "$PORT1" "$nginx_pid"; then
	cat "$NGX/error.log" >&2
	die "nginx did not start"
fi
URL=http://127.0.0.1:$PORT/new.zck
note "nginx $URL (multi-range) and port $PORT1 (max_ranges 1)"

# log_mark: the access log's current size; log_since MARK: waits until nginx has logged every
# request of the run (the log stops growing), then prints "requests wire payload request_bytes
# connections ranges statuses" for the lines written after MARK.
log_mark() { stat -c %s "$NGX/access.log" 2>/dev/null || echo 0; }
log_since() {
	local mark=$1 last=-1 now i
	for ((i = 0; i < 50; i++)); do
		now=$(log_mark)
		[[ $now == "$last" ]] && break
		last=$now
		sleep 0.1
	done
	tail -c +$((mark + 1)) "$NGX/access.log" | awk '
		{ n++; wire += $2; body += $3; req += $4; conn[$5] = 1; st[$1]++
		  r = $0; sub(/^[^"]*"/, "", r); sub(/"$/, "", r)
		  ranges += (r == "-" ? 0 : gsub(/,/, ",", r) + 1) }
		END { c = 0; for (k in conn) c++; s = ""; for (k in st) s = s k "x" st[k] ","
		      sub(/,$/, "", s); print n + 0, wire + 0, body + 0, req + 0, c, ranges + 0, s }'
}

# ---------------------------------------------------------------- SWUpdate
# A signed .swu (Debian builds SWUpdate for CMS-signed images) whose sw-description hands
# zckup's header to the delta handler, chained to rawfile, which writes $W/out.img.
say "SWUpdate $(dpkg-query -W -f '${Version}' swupdate 2>/dev/null): delta handler, chain rawfile"
SW=$W/swu
mkdir "$SW"
cp "$W/new.zckh" "$SW/"
"$SCRIPT_DIR/../tests/tools/make_swu.sh" "$SW" "$URL" "$W/old.img" "$W/out.img" ||
	die "building the .swu failed"

# SWUpdate 2022.12's -i polls its own daemon for the result and can read a stale status: it then
# prints "SWUpdate was successful" and exits 1, sometimes before its installer has even finished
# (tests/integration/swupdate.sh tells the same race). Such a run, with no [ERROR] line, is
# repeated and not counted; a real failure has [ERROR] lines.
swupdate_raced() {
	! grep -q '^\[ERROR\]' "$1" && grep -q 'endupdate.*was successful' "$1"
}

# run_one KIND NAME INTERVAL CMD...: one run of a client (KIND swupdate or zckup) onto a fresh
# $W/out.img, checked with cmp; wire figures from nginx into $W/NAME.wire.
run_one() {
	local kind=$1 name=$2 interval=$3 mark attempt rc
	shift 3
	for ((attempt = 1; ; attempt++)); do
		rm -f "$W/out.img"
		rm -rf "$W/tmp.$name"
		mark=$(log_mark)
		rc=0
		measure "$name" "$interval" "$@" || rc=$?
		log_since "$mark" >"$W/$name.wire"
		((rc == 0)) && break
		if [[ $kind == swupdate ]] && ((attempt < 5)) && swupdate_raced "$W/$name.log"; then
			note "($name: SWUpdate's known status race, exit $rc; run again)"
			continue
		fi
		tail -30 "$W/$name.log" >&2
		die "$name: $* failed (exit $rc)"
	done
	cmp -s "$W/out.img" "$W/new.img" || die "$name: out.img differs from new.img"
}

# bench_client KIND NAME CMD...: $RUNS timed runs (not sampled) and, when KIND ends in +,
# one sampled run for RSS and temporary disk. Stores NAME's figures in the arrays below.
# shellcheck disable=SC2034 # read through the nameref in cmp_row
declare -A T TM WIRE BODY REQS CONNS RANGES STATUS REQB HWM PSS MAXRSS TMPB
bench_client() {
	local kind=$1 name=$2 i m diff=''
	shift 2
	: >"$W/$name.times"
	: >"$W/$name.marks"
	for ((i = 1; i <= RUNS; i++)); do
		run_one "${kind%+}" "$name.$i" 0 "$@"
		jq -r .seconds "$W/$name.$i.m.json" >>"$W/$name.times"
		[[ -z ${MARK:-} ]] || jq -er .mark_seconds "$W/$name.$i.m.json" >>"$W/$name.marks" ||
			die "$name.$i: no output line matched '$MARK'"
	done
	[[ ! -s $W/$name.marks ]] ||
		TM[$name]=$(best_of "$W/$name.marks" | awk '{ printf "%.3f", $1 }')
	# shellcheck disable=SC2034 # read through the nameref in cmp_row
	T[$name]=$(best_of "$W/$name.times" | awk '{ printf "%.3f", $1 }')
	read -r "REQS[$name]" "WIRE[$name]" "BODY[$name]" "REQB[$name]" "CONNS[$name]" \
		"RANGES[$name]" "STATUS[$name]" <"$W/$name.1.wire"
	# what went over the wire should not change from run to run: say so when it did
	for ((i = 2; i <= RUNS; i++)); do
		cmp -s "$W/$name.1.wire" "$W/$name.$i.wire" ||
			diff+=" (run $i: $(cut -d' ' -f1-2 "$W/$name.$i.wire"))"
	done
	[[ ! -s $W/$name.marks ]] ||
		diff+="; '$MARK' printed at $(awk '{ printf "%.2f ", $1 }' "$W/$name.marks")s"
	note "$name: $(awk '{ printf "%.2f ", $1 }' "$W/$name.times")s;" \
		"${REQS[$name]} requests (${STATUS[$name]}) on ${CONNS[$name]} connection(s)," \
		"${RANGES[$name]} ranges asked; sent ${WIRE[$name]} B, received ${REQB[$name]} B$diff"
	if [[ $kind == zckup* ]]; then
		note "$name: zckup --json: $(grep '^{' "$W/$name.1.log" | tail -1 |
			jq -c '{mode, requests, ranges, retries, wire_bytes, fetched_bytes}' 2>/dev/null ||
			echo '(no summary)')"
	fi
	[[ $kind == *+ ]] || return 0
	run_one "${kind%+}" "$name.s" 20 "$@"
	m=$W/$name.s.m.json
	HWM[$name]=$(jq -r .tree_hwm_sum_kib "$m")
	PSS[$name]=$(jq -r .tree_pss_peak_kib "$m")
	MAXRSS[$name]=$(jq -r .wait4_maxrss_kib "$m")
	TMPB[$name]=$(jq -r '[.tmpfs_peak_bytes[]] | add + $m.written_outside_bytes' \
		--argjson m "$(cat "$m")" "$m")
	note "$name sampled, $(jq -r .samples "$m") samples: VmHWM" \
		"$(jq -r '[.procs[] | "\(.name)[\(.pid)] \(.hwm_kib)"] | join(" + ")' "$m") KiB;" \
		"summed VmRSS peak $(jq -r .tree_rss_peak_kib "$m") KiB; summed Pss peak ${PSS[$name]} KiB;" \
		"wait4 ru_maxrss ${MAXRSS[$name]} KiB"
	note "$name temporary disk: tmpfs peak $(jq -c .tmpfs_peak_bytes "$m" | sed "s|$W/||g");" \
		"files seen there: $(jq -r '[.tmpfs_files[] | sub(".*/"; "")] | join(" ")' "$m");" \
		"regular files open for writing besides out.img:" \
		"$(jq -r '[.written_files[] | "\(.path) \(.bytes) B"] | join(", ")' "$m" |
			sed "s|$W/||g")"
}

warm_cache "$W/old.img" "$W/new.zck" "$W/new.zckh"
MARK='SWUPDATE successful' bench_client swupdate+ swupdate swupdate -v -f "$SW/swupdate.cfg" -k "$SW/cert.pem" \
	-H zckup-test:1.0 -i "$SW/update.swu"
note "SWUpdate says: $(grep -o 'Total downloaded data.*' "$W/swupdate.1.log" | head -1)"

# ---------------------------------------------------------------- zckup
# zckup_run NAME URL [OPTION...]: zckup apply of the pair from URL, --json summary in the log.
zckup_run() {
	local kind=$1 name=$2 url=$3
	shift 3
	bench_client "$kind" "$name" "$ZCKUP" apply -q --json --url "$url" --source "$W/old.img" \
		--target "$W/out.img" "$@"
}
if ((HAVE_HTTP)); then
	say "zckup apply over HTTP"
	zckup_run zckup+ zckup "$URL" --header "$W/new.zckh"
	zckup_run zckup+ zckup_nohdr "$URL"
	zckup_run zckup zckup_single "http://127.0.0.1:$PORT1/new.zck" --header "$W/new.zckh"
	zckup_run zckup zckup_c1 "$URL" --header "$W/new.zckh" --connections 1
	zckup_run zckup zckup_ix "$URL" --header "$W/new.zckh" --source-index "$W/old.zckh"
	# the same update from the local .zck: what the local work (index, decompress, verify,
	# write) costs without HTTP
	zckup_run zckup zckup_file "file://$W/new.zck" --header "$W/new.zckh"
	if [[ -f $PROXY ]]; then
		# it delays every piece it forwards, either way, by RTT/2; one upstream connection
		# (Connection: close) per request, the client's connection kept alive
		"$PY" "$PROXY" --mode delay --delay-ms $((RTT_MS / 2)) --upstream "127.0.0.1:$PORT" \
			--port-file "$W/proxy.port" --log "$W/proxy.req.log" >"$W/proxy.log" 2>&1 &
		proxy_pid=$!
		for ((i = 0; i < 100; i++)); do
			[[ -s $W/proxy.port ]] && break
			kill -0 "$proxy_pid" 2>/dev/null || break
			sleep 0.05
		done
		PPORT=$(cat "$W/proxy.port" 2>/dev/null) ||
			{ cat "$W/proxy.log" >&2; die "faultproxy did not start"; }
		wait_port "$PPORT" "$proxy_pid" || { cat "$W/proxy.log" >&2; die "faultproxy did not start"; }
		note "faultproxy.py --mode delay --delay-ms $((RTT_MS / 2)) on 127.0.0.1:$PPORT"
		zckup_run zckup zckup_rtt "http://127.0.0.1:$PPORT/new.zck" --header "$W/new.zckh"
	else
		note "no $PROXY yet: the $RTT_MS ms round-trip row is skipped"
	fi
else
	note "$ZCKUP has no HTTP fetcher yet (no --connections in 'apply --help'): zckup rows skipped"
fi

# ---------------------------------------------------------------- table
say "results: $IMG_MIB MiB ext4 pair, $(mib "$s_zck") .zck, $(nproc) cores, $(cpu_model)"
misses=0
# row FIGURE ZCKUP BASELINE RATIO TARGET VERDICT(1 PASS, 0 MISS, - info)
row() {
	local verdict=info
	[[ $6 == 1 ]] && verdict=PASS
	[[ $6 == 0 ]] && { verdict=MISS; misses=$((misses + 1)); }
	printf '%-44s %12s %12s %7s %9s  %s\n' "$1" "$2" "$3" "$4" "$5" "$verdict"
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 <= b + 0) ? 1 : 0 }'; }
# ratio3 A B: A / B with 3 decimals (the verdicts compare the unrounded values)
ratio3() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "inf"; else printf "%.3f", a / b }'; }
# cmp_row FIGURE ARRAY NAME BASE-NAME TARGET-RATIO: a row comparing two runs' figures (zckup's
# / the baseline's); TARGET-RATIO '-' for an information row. Skipped when a run is missing.
cmp_row() {
	local -n arr=$2
	local a=${arr[$3]:-} b=${arr[$4]:-} r
	if [[ -z $a || -z $b ]]; then
		row "$1" "${a:-n/a}" "${b:-n/a}" - "${5/#-/-}" -
		return
	fi
	r=$(ratio3 "$a" "$b")
	if [[ $5 == - ]]; then
		row "$1" "$a" "$b" "${r}x" - -
	else
		row "$1" "$a" "$b" "${r}x" "<= ${5}x" \
			"$(awk -v a="$a" -v b="$b" -v t="$5" 'BEGIN { print (a <= t * b) ? 1 : 0 }')"
	fi
}
lim=$((32 * 1024 + (s_hdr + 1023) / 1024))
rss_row() { # LABEL RUN TARGET? [MAP: PSS (default) or HWM]
	local -n map=${4:-PSS}
	local v=${map[$2]:-}
	if [[ -z $v ]]; then
		row "$1" n/a "$lim" - "<= 1.00x" -
	elif [[ $3 == - ]]; then
		row "$1" "$v" "$lim" "$(ratio3 "$v" "$lim")x" - -
	else
		row "$1" "$v" "$lim" "$(ratio3 "$v" "$lim")x" "<= 1.00x" "$(le "$v" "$lim")"
	fi
}
tmp_row() {
	local v=${TMPB[$2]:-}
	if [[ -z $v ]]; then
		row "$1" n/a 0 - "0 B" -
	elif [[ $3 == - ]]; then
		row "$1" "$v" - - - -
	else
		row "$1" "$v" 0 - "0 B" "$(le "$v" 0)"
	fi
}

printf '%-44s %12s %12s %7s %9s  %s\n' figure zckup baseline ratio target verdict
printf '%s\n' "$(printf '%.0s-' {1..96})"
cmp_row "wire bytes (B), --header vs SWUpdate" WIRE zckup swupdate 1.0
cmp_row "  payload bytes (B), --header vs SWUpdate" BODY zckup swupdate -
cmp_row "  requests, --header vs SWUpdate" REQS zckup swupdate -
cmp_row "  wire bytes, header from URL vs SWUpdate" WIRE zckup_nohdr swupdate -
cmp_row "  requests, header from URL vs SWUpdate" REQS zckup_nohdr swupdate -
# SWUpdate's own work ends with its "SWUPDATE successful" line; `swupdate -i` exits later, when
# its once-a-second status poll sees the result. The target row uses the earlier time.
T[swupdate_i]=${T[swupdate]:-} T[swupdate]=${TM[swupdate]:-}
cmp_row "wall time (s), --header vs SWUpdate" T zckup swupdate 0.15
cmp_row "  same, vs swupdate -i until it exits" T zckup swupdate_i -
cmp_row "  wall time, header from URL vs SWUpdate" T zckup_nohdr swupdate -
cmp_row "wall time, --header vs SWUpdate (issue 8)" T zckup swupdate 0.08
cmp_row "wall time, --source-index vs SWUpdate" T zckup_ix swupdate 0.08
cmp_row "wall time, ${RTT_MS} ms RTT proxy vs loopback" T zckup_rtt zckup 1.5
cmp_row "wall time, max_ranges 1 vs multi-range" T zckup_single zckup 1.2
cmp_row "  requests, max_ranges 1 vs multi-range" REQS zckup_single zckup -
cmp_row "  wire bytes, max_ranges 1 vs multi-range" WIRE zckup_single zckup -
cmp_row "wall time, --connections 1 vs 4 (default)" T zckup_c1 zckup -
cmp_row "  wall time, file:// (no HTTP) vs HTTP" T zckup_file zckup -
rss_row "peak memory (KiB, summed Pss), --header vs 32 MiB + header" zckup 1
rss_row "  peak memory, header from URL" zckup_nohdr 1
rss_row "  peak memory, SWUpdate" swupdate -
rss_row "  summed VmHWM (upper bound), --header" zckup - HWM
rss_row "  summed VmHWM, SWUpdate" swupdate - HWM
tmp_row "temporary disk (B), --header" zckup 1
tmp_row "  temporary disk, header from URL" zckup_nohdr 1
tmp_row "  temporary disk, SWUpdate" swupdate -
echo
echo "ratio = zckup / baseline (the targets are maxima). Times: best of $RUNS runs, warm page"
echo "cache. Wire bytes: nginx \$bytes_sent (response headers + bodies) summed over the run's"
echo "access log lines; payload: \$body_bytes_sent. Peak memory: the largest sum, over the"
echo "client's process tree, of each process's Pss (its private pages plus its share of pages"
echo "shared with others, such as libraries and pages a forked child still shares with its"
echo "parent), sampled every 20 ms, against 32 MiB + the header's size. The summed VmHWM counts"
echo "shared pages once per process: an upper bound, shown for reference."
echo "Temporary disk: peak use of the private tmpfs on /tmp and \$TMPDIR, plus any other file"
echo "the tree held open for writing besides the target. $misses target(s) missed."
echo "total bench time: ${SECONDS}s; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if ((misses > 0)) && [[ ${BENCH_STRICT:-0} == 1 ]]; then
	exit 1
fi
exit 0
