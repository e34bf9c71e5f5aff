# Shared helpers for the integration tests (sourced). Prints TAP.
set -u
: "${ZCKUP:?set ZCKUP to the zckup binary}"
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/zckup-test.XXXXXX")
trap 'rm -rf "$TEST_TMP"' EXIT
tap_n=0
tap_failed=0
GEN="python3 $(dirname "${BASH_SOURCE[0]}")/gen.py"

# A cross build (cross/*.txt): meson.build sets ZCKUP_EXE_WRAPPER (qemu-ARCH-static
# -L SYSROOT) and the programs under test run through it, wherever a test or
# its helpers start them; the tools of the host (zck, nginx...) run natively.
if [ -n "${ZCKUP_EXE_WRAPPER:-}" ]; then
	mkdir "$TEST_TMP/.wrap"
	for v in ZCKUP EMBED_SINK ZU_CHUNKDUMP; do
		[ -n "${!v:-}" ] || continue
		printf '#!/bin/sh\nexec %s %s "$@"\n' "$ZCKUP_EXE_WRAPPER" "${!v}" >"$TEST_TMP/.wrap/$v"
		chmod +x "$TEST_TMP/.wrap/$v"
		printf -v "$v" %s "$TEST_TMP/.wrap/$v"
		export "${v?}"
	done
fi

ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $*"; }
not_ok() { tap_n=$((tap_n + 1)); tap_failed=$((tap_failed + 1)); echo "not ok $tap_n - $*"; }
diag() { sed 's/^/# /' "$@" | head -40; }
# skip NAME REASON: a case that could not run here, as a TAP SKIP (never a
# silent pass): scripts/test.sh counts them and fails CI on them.
skip() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $1 # SKIP $2"; }

# check NAME CMD...: CMD must succeed.
check() {
	local name=$1
	shift
	if "$@" >"$TEST_TMP/out" 2>"$TEST_TMP/err"; then
		ok "$name"
	else
		not_ok "$name (exit $?)"
		diag "$TEST_TMP/err" "$TEST_TMP/out"
	fi
}

# expect_exit STATUS NAME CMD...: CMD must exit with STATUS (stderr kept in $TEST_TMP/err).
expect_exit() {
	local want=$1 name=$2 got=0
	shift 2
	"$@" >"$TEST_TMP/out" 2>"$TEST_TMP/err" || got=$?
	if [ "$got" = "$want" ]; then
		ok "$name (exit $got)"
	else
		not_ok "$name: exit $got, expected $want"
		diag "$TEST_TMP/err" "$TEST_TMP/out"
	fi
}

# expect_err_contains TEXT NAME: the last command's stderr mentions TEXT.
expect_err_contains() {
	if grep -qi -- "$1" "$TEST_TMP/err"; then
		ok "$2"
	else
		not_ok "$2: stderr lacks '$1'"
		diag "$TEST_TMP/err"
	fi
}

# json_field FILE KEY: a value from a one-line JSON object; MISSING (which no
# assertion accepts) when the file or key is not there.
json_field() {
	python3 -c '
import json, sys
try:
    print(json.load(open(sys.argv[1]))[sys.argv[2]])
except Exception:
    print("MISSING")
    sys.exit(1)' "$1" "$2"
}

# assert NAME EXPR: a bash arithmetic or test expression.
assert() {
	local name=$1
	shift
	if eval "$@"; then ok "$name"; else not_ok "$name: [$*] is false"; fi
}

finish() {
	echo "1..$tap_n"
	[ "$tap_failed" = 0 ]
}
