#!/usr/bin/env bash
# The command line itself: help, version, usage errors, man page in step with --help.
. "$(dirname "$0")/lib.sh"
# the man page's text with roff's escaped dashes made plain
sed 's/\\-/-/g' "$ZCKUP_SRC/doc/zckup.1" >"$TEST_TMP/man.txt"

check "zckup --help" "$ZCKUP" --help
check "zckup --version prints a version" bash -c '"$0" --version | grep -Eq "^zckup [0-9]+\.[0-9]+"' "$ZCKUP"
for cmd in make extract-header inspect plan apply sign verify; do
	check "zckup $cmd --help" "$ZCKUP" "$cmd" --help
	# every long option of the command's --help is documented in the man page
	missing=$("$ZCKUP" "$cmd" --help | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u |
		while read -r o; do grep -qw -- "$o" "$TEST_TMP/man.txt" || echo "$o"; done)
	assert "zckup(1) documents every option of $cmd${missing:+ (missing: $missing)}" '[ -z "$missing" ]'
done
expect_exit 2 "no command is a usage error" "$ZCKUP"
expect_exit 2 "unknown command is a usage error" "$ZCKUP" frobnicate
expect_exit 2 "make without -o" "$ZCKUP" make /etc/hostname
expect_exit 2 "make with a bad level" "$ZCKUP" make /etc/hostname -o "$TEST_TMP/x.zck" --level 99
expect_exit 2 "apply without target" "$ZCKUP" apply --url "$TEST_TMP/x.zck"
expect_exit 2 "apply with both --target and --output" "$ZCKUP" apply --url x --target a --output b
expect_exit 2 "--source-size before any --source" "$ZCKUP" plan --source-size 1M x.zckh
expect_exit 2 "--source-size that is not a size" "$ZCKUP" plan --source /etc/hostname --source-size 12Q x.zckh
expect_exit 6 "inspect of a missing file is an I/O error" "$ZCKUP" inspect "$TEST_TMP/nope.zck"
expect_err_contains "nope.zck" "the message names the missing file"
# getopt's own errors read like every other usage error.
for bad in "inspect --bogus" "make -x" "plan --source"; do
	# shellcheck disable=SC2086 # the words of $bad are separate arguments
	expect_exit 2 "zckup $bad is a usage error" "$ZCKUP" $bad
	expect_err_contains "^zckup ${bad%% *}: " "  the message starts with 'zckup ${bad%% *}:'"
	expect_err_contains "Try 'zckup ${bad%% *} --help'" "  with the hint"
done
check "zckup --version --json is JSON for tooling" bash -c \
	'"$0" --version --json | python3 -c "import json, sys; d = json.load(sys.stdin); assert d[\"name\"] == \"zckup\" and d[\"version\"]"' "$ZCKUP"
# Summaries count in the singular too: one chunk, one range, one request.
printf 'one small image\n' >"$TEST_TMP/one.img"
"$ZCKUP" make "$TEST_TMP/one.img" -o "$TEST_TMP/one.zck" >"$TEST_TMP/make.txt"
assert "make says '1 chunk,'" "grep -q ': 1 chunk,' '$TEST_TMP/make.txt'"
"$ZCKUP" plan "$TEST_TMP/one.zck" >"$TEST_TMP/plan.txt"
assert "plan says 'in 1 request'" "grep -q 'in 1 request of' '$TEST_TMP/plan.txt'"
"$ZCKUP" apply --url "$TEST_TMP/one.zck" --output "$TEST_TMP/one.out" 2>"$TEST_TMP/apply.txt" >&2
assert "apply says 'in 1 chunk (1 range)'" "grep -q 'in 1 chunk (1 range)' '$TEST_TMP/apply.txt'"
finish
