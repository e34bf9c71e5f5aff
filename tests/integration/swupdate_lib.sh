# shellcheck shell=bash
# Helpers for the tests that run Debian's swupdate (sourced after lib.sh).
#
# SWUpdate 2022.12's -i learns the result by polling its own daemon's status, and the poll can
# see a stale status: then it prints "SWUpdate was successful" yet exits 1 (one run in six
# here; five in a row once on a loaded 2-CPU machine), or it even ends before the installer
# ran (tiny SWUs make that likelier: the whole install fits between two polls). Both leave a
# recognisable log; only those are retried (swupdate_run: up to 8 runs), anything else fails
# at once. A run that really failed logs [ERROR] lines, so it is never retried into a pass.

# swupdate_raced LOG: the run of LOG hit the status race (see above).
swupdate_raced() {
	local early
	early=$(awk '/\[endupdate\]/ {print "yes"; exit}
		/Software Update started/ {print "no"; exit}' "$1")
	[ "$early" = yes ] && return 0
	! grep -q '^\[ERROR\]' "$1" && grep -q 'SWUPDATE successful' "$1" &&
		grep -q 'endupdate.*was successful' "$1"
}

# swupdate_run CFG CERT SWU LOG [BEFORE]: swupdate -i SWU, retried after the race only; sets
# sw_rc and sw_attempt, the last run's output in LOG. BEFORE (a command) runs before each
# attempt (to reset a target or a server log). Each attempt has its own TMPDIR under $TEST_TMP.
swupdate_run() {
	local cfg=$1 cert=$2 swu=$3 log=$4 before=${5:-:}
	sw_attempt=0
	while :; do
		sw_attempt=$((sw_attempt + 1))
		eval "$before"
		mkdir -p "$TEST_TMP/sw.$sw_attempt"
		sw_rc=0
		TMPDIR=$TEST_TMP/sw.$sw_attempt timeout 60 swupdate -v -f "$cfg" -k "$cert" \
			-H zckup-test:1.0 -i "$swu" >"$log" 2>&1 || sw_rc=$?
		[ "$sw_rc" = 0 ] && break
		if [ "$sw_attempt" -ge 8 ] || ! swupdate_raced "$log"; then
			break
		fi
		echo "# swupdate exited $sw_rc after its known status race; attempt $((sw_attempt + 1))"
	done
}
