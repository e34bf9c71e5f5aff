#!/usr/bin/env bash
# Cancellation while zckup is blocked, and zckup killed under its --exec
# command (issue 7, item 4):
# - SIGINT while a write into the command's pipe blocks (the command stopped
#   itself: kill -STOP $$), SIGTERM while -o - writes into a FIFO nobody
#   reads, SIGINT while zckup waits for the command to exit: exit status 8
#   within a second, and the command's process group is gone;
# - kill -9 of zckup: the command does not go on as if its input were a
#   complete image.
. "$(dirname "$0")/lib.sh"
cd "$TEST_TMP"
$GEN image 61 8000000 new.img
"$ZCKUP" make new.img -o new.zck -H new.zckh --level 3 -q

now() { date +%s.%N; }
# wait_for FILE: up to 20 s for FILE to exist (the command got that far)
wait_for() {
	for _ in $(seq 200); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
# signal_and_time SIG PID: sends SIG, waits for PID; sets rc and secs
# (a zckup that ignores the signal is killed after 10 s: rc 137)
signal_and_time() {
	local t0 dog
	t0=$(now)
	kill "-$1" "$2"
	(sleep 10 && kill -KILL "$2" 2>/dev/null) &
	dog=$!
	rc=0
	wait "$2" || rc=$?
	secs=$(python3 -c "print(f'{$(now) - $t0:.2f}')")
	kill "$dog" 2>/dev/null
	wait "$dog" 2>/dev/null || true
}
# group_gone PGID: no process is left in the process group (within 2 s: the
# killed members are reaped by init, which may take a moment)
group_gone() {
	for _ in $(seq 20); do
		kill -0 -- "-$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# 1. SIGINT while the write into a stopped command's pipe blocks.
rm -f sh.pid
"$ZCKUP" apply --url new.zck --exec 'echo $$ >sh.pid; kill -STOP $$; cat >/dev/null' -q \
	2>err1 &
pid=$!
wait_for sh.pid && sleep 1 # the pipe (64 KiB) is full well before this
signal_and_time INT "$pid"
assert "SIGINT while writing into a stopped command: exit 8 (exit $rc, ${secs}s)" "[ $rc = 8 ]"
assert "... within a second (${secs}s)" "python3 -c 'import sys; sys.exit(not $secs <= 1.0)'"
assert "... the command's process group was terminated" "group_gone $(cat sh.pid)"
grep -q "cancelled" err1 && ok "... the message says cancelled" || { not_ok "no 'cancelled' message"; diag err1; }

# 2. SIGTERM while -o - writes into a FIFO that nobody reads.
mkfifo fifo
sleep 60 <fifo &
holder=$!
"$ZCKUP" apply --url new.zck -o - -q >fifo 2>err2 &
pid=$!
sleep 1.5
signal_and_time TERM "$pid"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
assert "SIGTERM while -o - blocks on a FIFO nobody reads: exit 8 (exit $rc, ${secs}s)" \
	"[ $rc = 8 ]"
assert "... within a second (${secs}s)" "python3 -c 'import sys; sys.exit(not $secs <= 1.0)'"

# 3. SIGINT while waiting for the command to exit (all of the image written).
rm -f sh.pid
"$ZCKUP" apply --url new.zck --exec 'cat >/dev/null; echo $$ >sh.pid; sleep 60' -q 2>err3 &
pid=$!
wait_for sh.pid
signal_and_time INT "$pid"
assert "SIGINT while waiting for the command: exit 8 (exit $rc, ${secs}s)" "[ $rc = 8 ]"
assert "... within a second (${secs}s)" "python3 -c 'import sys; sys.exit(not $secs <= 1.0)'"
assert "... the command's process group (its sleep included) was terminated" \
	"group_gone $(cat sh.pid)"

# 4. kill -9 of zckup: the command must not take EOF for a complete image.
rm -f sh.pid got.img marker
"$ZCKUP" apply --url new.zck -q \
	--exec 'echo $$ >sh.pid; sleep 2; cat >got.img; echo "cat exited $?" >marker' 2>err4 &
pid=$!
wait_for sh.pid && sleep 0.5 # zckup now blocks on the full pipe
kill -KILL "$pid"
wait "$pid" 2>/dev/null
sleep 3 # the command's sleep 2 is over: an orphaned shell would run cat now
assert "kill -9 of zckup: the command's shell did not go on to 'succeed' ($(cat marker 2>/dev/null))" \
	"[ ! -e marker ]"
assert "... and its process group is gone" "group_gone $(cat sh.pid)"

finish
