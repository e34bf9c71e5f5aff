#!/usr/bin/env bash
# shellcheck disable=SC2154 # $ngx_port, $fp_port, ...: set by servers.sh and start_proxy
# zckup apply through tests/tools/faultproxy.py in front of a real nginx, one case per fault
# mode: each run ends in a byte-identical image (after retries where the fault is transient)
# or in the documented exit status with a message that names the problem. Never a crash
# (exit 1 or a signal), never a hang (`timeout 60`, exit 124), never a wrong image: the
# target holds the old image before each run, and a failed run must not leave the new image's
# bytes there looking complete. Every case also checks that the proxy did inject the fault
# (its log), so that no case passes without being exercised.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/servers.sh
. "$(dirname "$0")/servers.sh"
GEN="python3 $SRC_DIR/tests/integration/gen.py"
ZCKUP=$(realpath "$ZCKUP")
cd "$TEST_TMP" || exit 1
T0=$(date +%s.%N)

# Short transfers: a stall is noticed after 2 s, a fault that brings nothing is retried twice.
NET=(--timeout 2 --retries 2)

# todo_not_ok TEXT REASON: a failure the lead knows of (TAP TODO: reported, not counted).
todo_not_ok() {
	tap_n=$((tap_n + 1))
	echo "not ok $tap_n - $1 # TODO $2"
}

# jf RUN KEY: a value of RUN's --json summary (RUN.out's last line), MISSING when absent.
jf() {
	python3 -c '
import json, sys
try:
    print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])[sys.argv[2]])
except Exception:
    print("MISSING")' "$1.out" "$2"
}

# start_proxy NAME UPSTREAM_PORT ARGS...: faultproxy.py in front of 127.0.0.1:UPSTREAM_PORT,
# log in NAME.log; sets $NAME_port and $NAME_pid. It dies with this shell (pdeathsig) or by
# stop_proxy.
start_proxy() {
	local name=$1 up=$2 pf=$TEST_TMP/$1.port pre=() pid _
	shift 2
	rm -f "$pf" "$TEST_TMP/$name.log"
	[ "$_srv_have_pdeathsig" = 1 ] && pre=(setpriv --pdeathsig KILL --)
	"${pre[@]}" "${FAULTPROXY[@]}" --upstream "127.0.0.1:$up" --port-file "$pf" \
		--log "$TEST_TMP/$name.log" "$@" >"$TEST_TMP/$name.stderr" 2>&1 </dev/null &
	pid=$!
	printf -v "${name}_pid" '%s' "$pid"
	for _ in $(seq 100); do
		[ -s "$pf" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if ! [ -s "$pf" ]; then
		cat "$TEST_TMP/$name.stderr" >&2
		stop_proxy "$name"
		return 1
	fi
	printf -v "${name}_port" '%s' "$(cat "$pf")"
	: >>"$TEST_TMP/$name.log"
}

stop_proxy() {
	local v="${1}_pid"
	[ -n "${!v:-}" ] || return 0
	kill "${!v}" 2>/dev/null
	wait "${!v}" 2>/dev/null
	printf -v "$v" '%s' ""
}

# The EXIT trap of servers.sh stops the servers; a proxy still running goes first.
_nf_prev_exit=$(trap -p EXIT)
_nf_prev_exit=${_nf_prev_exit#"trap -- "}
_nf_prev_exit=${_nf_prev_exit%" EXIT"}
eval "_nf_prev_exit=$_nf_prev_exit"
trap 'stop_proxy fp; '"$_nf_prev_exit" EXIT

# fcase LABEL WANT_RC MSG_RE ALSO -- PROXY_ARGS...: one run of
#   zckup apply --header $ART.zckh --url http://PROXY/$ART.zck --source old.img --target RUN.img
# ($ART: new, the compat artifact, or new-fine, make's default profile)
# through a faultproxy started with PROXY_ARGS; RUN.img holds old.img before the run. One TAP
# line, ok when:
#   - the exit status is WANT_RC (0: and the target is identical to new.img);
#   - for a failure, stderr matches MSG_RE (extended regexp, any case) and the target is not
#     identical to new.img (no complete-looking image after a failure);
#   - the proxy injected the fault at least once, and reports no bug of its own;
#   - no zckup process (or downloader) of the run is left;
#   - ALSO (a shell expression, may use $run, $secs and jf) holds, when given.
# $MSG_TODO, when set, turns a failed MSG_RE check alone into a TAP TODO with that reason.
case_n=0
fcase() {
	local label=$1 want=$2 re=$3 also=$4 run t rc=0 why=() faulted reqs left
	shift 4
	[ "${1:-}" = -- ] && shift
	case_n=$((case_n + 1))
	run=f$case_n
	if ! start_proxy fp "$ngx_port" "$@" 2>"$run.proxy.err"; then
		not_ok "$label: faultproxy $* does not start"
		diag "$run.proxy.err"
		return
	fi
	cp old.img "$run.img"
	t=$(date +%s.%N)
	timeout 60 "$ZCKUP" apply --header "$ART.zckh" --url "http://127.0.0.1:$fp_port/$ART.zck" \
		--source old.img --target "$TEST_TMP/$run.img" "${NET[@]}" --json -q \
		>"$run.out" 2>"$run.err" </dev/null || rc=$?
	secs=$(echo "$(date +%s.%N) - $t" | bc)
	stop_proxy fp
	cp fp.log "$run.proxy.log"
	faulted=$(grep -c ' applied=yes ' "$run.proxy.log")
	reqs=$(grep -c . "$run.proxy.log")

	if [ "$rc" = 124 ]; then
		why+=("hung: killed by timeout 60")
	elif [ "$rc" = 1 ] || [ "$rc" -ge 128 ]; then
		why+=("crashed or failed unexpectedly: exit $rc")
	elif [ "$rc" != "$want" ]; then
		why+=("exit $rc, expected $want")
	fi
	if grep -qE 'AddressSanitizer|runtime error:|Segmentation|Aborted|core dumped' "$run.err"; then
		why+=("stderr shows a crash or a sanitizer report")
	fi
	if [ "$rc" = 0 ]; then
		cmp -s "$run.img" new.img || why+=("exit 0 but the image differs")
	elif cmp -s "$run.img" new.img; then
		why+=("exit $rc but the target holds the complete new image")
	fi
	case " $* " in
	*" --mode pass "* | *" --mode delay "*) ;;
	*) [ "$faulted" -gt 0 ] || why+=("the proxy never applied the fault ($reqs requests)") ;;
	esac
	if grep -q 'faultproxy bug' "$run.proxy.log"; then
		why+=("faultproxy reports a bug of its own")
	fi
	for _ in $(seq 60); do
		left=$(pgrep -f -- "$TEST_TMP/$run.img" | tr '\n' ' ')
		[ -z "$left" ] && break
		sleep 0.05
	done
	[ -z "$left" ] || why+=("processes of the run are left: $left")
	if [ -n "$also" ] && ! eval "$also"; then
		why+=("[$also] is false")
	fi
	local msg_bad=0
	if [ "$want" != 0 ] && [ "$rc" = "$want" ] && ! grep -qiE -- "$re" "$run.err"; then
		msg_bad=1
	fi

	local what
	what=$(printf 'exit %s, %.2f s, %s requests, %s faulted' "$rc" "$secs" "$reqs" "$faulted")
	if [ ${#why[@]} = 0 ] && [ $msg_bad = 0 ]; then
		ok "$label ($what)"
	elif [ ${#why[@]} = 0 ] && [ -n "${MSG_TODO:-}" ]; then
		todo_not_ok "$label: the message does not match /$re/ ($what)" "$MSG_TODO"
	else
		[ $msg_bad = 1 ] && why+=("the message does not match /$re/")
		not_ok "$label: $(IFS=';'; echo "${why[*]}") ($what)"
		diag "$run.err"
		sed 's/^/# proxy: /' "$run.proxy.log" | head -8
	fi
	[ "$rc" != 0 ] && echo "# $(head -1 "$run.err" | cut -c1-200)"
}

mode_is() { [ "$(jf "$run" mode)" = "$1" ]; }

# ---------------------------------------------------------------------------------------------
# A 3 MB image, 20 small changes: about 0.76 MB of the .zck to fetch in 17 ranges.

$GEN image 5 3000000 old.img
$GEN edit scatter 6 old.img new.img
# Most cases are about fetching whole chunks: the compat profile. The fine profile (make's
# default) gets the faults that hit its own requests (tables, then windows of frames) below.
check "zckup make writes new.zck and new.zckh" \
	timeout 60 "$ZCKUP" make new.img -o new.zck -H new.zckh --level 3 --profile compat -q
check "zckup make writes new-fine.zck and new-fine.zckh (default profile)" \
	timeout 60 "$ZCKUP" make new.img -o new-fine.zck -H new-fine.zckh --level 3 -q
mkdir -p www
cp new.zck new-fine.zck www/
ART=new
if ! start_nginx ngx "$TEST_TMP/www" 2>start.err; then
	not_ok "nginx serves the .zck on 127.0.0.1"
	diag start.err
	finish
	exit 1
fi
ok "nginx serves the .zck on 127.0.0.1:$ngx_port"

# The requests zckup sends: the chunks, the first request led by the .zck's lead (its first
# bytes, checked against the header given), so every fault lands on a request for chunks.

# Faithful relays.
fcase "pass: relayed unchanged, as many requests as zckup counts" 0 "" \
	"mode_is multi-range && [ \"\$(jf \$run requests)\" = \$reqs ]" -- --mode pass
fcase "delay 100 ms: two round trips at least (connection, chunks)" 0 "" \
	"mode_is multi-range && [ \$(echo \"\$secs >= 0.2\" | bc) = 1 ]" -- \
	--mode delay --delay-ms 100

# Broken transfers: retried (transient) or exit 7 after the retries (persistent).
fcase "drop-after once, in a chunk answer: the rest is asked again" 0 "" "" -- \
	--mode drop-after --times 1 --after 100000
fcase "drop-after every answer at half: exit 7 once an answer brings nothing" 7 \
	"giving up|closed|lacked" "" -- --mode drop-after
fcase "stall-after once: abandoned after --timeout 2, then completed" 0 "" \
	"[ \$(echo \"\$secs >= 2\" | bc) = 1 ]" -- \
	--mode stall-after --times 1 --after 100000
# --timeout is "seconds without a byte", measured from the last byte (not a speed average).
assert "stall-after once: the stall is noticed within --timeout 2 + 2 s ($(printf "%.1f" "$secs") s)" \
	"[ \$(echo \"$secs < 2 + 2\" | bc) = 1 ]"
fcase "stall-after every answer (in its headers): exit 7 after 3 x 2 s" 7 \
	"giving up|too slow|stall|timed? ?out" "[ \$(echo \"\$secs < 15\" | bc) = 1 ]" -- \
	--mode stall-after --after 200
fcase "truncate every chunk answer at half its Content-Length: completed by asking the rest" \
	0 "" "" -- --mode truncate
fcase "corrupt a byte of chunk data: exit 4, digest mismatch" 4 "digest|mismatch|checksum" "" -- \
	--mode corrupt --times 1

# Status codes.
fcase "status-503 twice (Retry-After: 0): retried, then completed" 0 "" \
	"[ \"\$(jf \$run retries)\" -ge 2 ]" -- --mode status-503 --times 2
fcase "status-503 always: exit 7 after the retries" 7 "503" "" -- --mode status-503
fcase "status-500 always: exit 7 after the retries" 7 "500" "" -- --mode status-500
fcase "status-404: exit 6 at once" 6 "404|not found" "[ \$reqs = 1 ]" -- \
	--mode status-404
fcase "status-416: exit 3, the .zck is shorter than its header says" 3 \
	"416|not satisfiable|shorter" "" -- --mode status-416

# Servers that answer ranges another way: all lead to the identical image.
fcase "ignore-range (200, whole file): whole-file mode" 0 "" "mode_is whole-file" -- \
	--mode ignore-range
fcase "first-range-only (as S3): steps down to single ranges" 0 "" \
	"mode_is single-range && [ \"\$(jf \$run stepdowns)\" -ge 1 ]" -- --mode first-range-only
fcase "coalesce into one range spanning all asked: the extra bytes are skipped" 0 "" "" -- \
	--mode coalesce
fcase "reorder-parts (reverse order)" 0 "" "" -- --mode reorder-parts
fcase "merge-parts (ranges less than 20000 bytes apart merged)" 0 "" "" -- \
	--mode merge-parts --merge-gap 20000
fcase "bare-lf multipart framing" 0 "" "" -- --mode bare-lf
fcase "no CRLF before the boundary lines" 0 "" "" -- --mode no-crlf-before-boundary
fcase "bad-boundary in the middle: the parts after it are asked again" 0 "" "" -- \
	--mode bad-boundary

# Answers that lie.
fcase "range-outside (a part shifted by one byte): exit 7, the stray part named" 7 \
	"none of the bytes asked for" "" -- --mode range-outside
fcase "overlap (an extra part repeating bytes, same data)" 0 "" "" -- --mode overlap
fcase "overlap-wrong (an extra part repeating bytes, other data): exit 7, a server that contradicts itself" 7 \
	"other bytes" "" -- --mode overlap-wrong
fcase "long-header (1 MiB header line): exit 7" 7 "header" "" -- --mode long-header
fcase "endless chunked body: exit 7, bounded" 7 "past|too long|beyond|more" "" -- \
	--mode endless
fcase "endless close-delimited body: exit 7, bounded" 7 "past|too long|beyond|more" "" -- \
	--mode endless --framing close

# The fine profile: piece tables first, then windows of frames, the rebuilt chunks checked
# against the header; the same faults end in the same image.
ART=new-fine
fine_used() { [ "$(jf "$run" fine)" = True ] && [ "$(jf "$run" pieces_fetched)" -gt 0 ]; }
fcase "fine: pass: tables and frames relayed" 0 "" "fine_used && mode_is multi-range" -- --mode pass
fcase "fine: drop-after once: the rest is asked again" 0 "" "fine_used" -- \
	--mode drop-after --times 1 --after 3000
fcase "fine: stall-after once: abandoned after --timeout 2, then completed" 0 "" \
	"fine_used && [ \$(echo \"\$secs >= 2\" | bc) = 1 ]" -- --mode stall-after --times 1 --after 3000
fcase "fine: truncate every answer at half: completed by asking the rest" 0 "" "fine_used" -- \
	--mode truncate
fcase "fine: status-503 twice: retried, then completed" 0 "" "fine_used" -- \
	--mode status-503 --times 2
fcase "fine: corrupt a byte once (a table or a frame): never a wrong image" 0 "" "fine_used" -- \
	--mode corrupt --times 1
fcase "fine: first-range-only (as S3): single ranges" 0 "" \
	"fine_used && mode_is single-range" -- --mode first-range-only
fcase "fine: ignore-range (200, whole file): whole-file mode" 0 "" "mode_is whole-file" -- \
	--mode ignore-range
fcase "fine: status-404: exit 6 at once" 6 "404|not found" "" -- --mode status-404

summary=$(server_summary ngx)
echo "# $summary"
echo "# run time $(echo "$(date +%s.%N) - $T0" | bc) s"
finish
