#!/usr/bin/env bash
# The command line itself: help, version, usage errors, man page in step with --help.
. "$(dirname "$0")/lib.sh"
# the man page's text with roff's escaped dashes made plain
sed 's/\\-/-/g' "$ZCKUP_SRC/doc/zckup.1" >"$TEST_TMP/man.txt"

check "zckup --help" "$ZCKUP" --help
check "zckup --version prints a version" bash -c '"$0" --version | grep -Eq "^zckup [0-9]+\.[0-9]+"' "$ZCKUP"
for cmd in make extract-header inspect plan apply; do
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
finish
