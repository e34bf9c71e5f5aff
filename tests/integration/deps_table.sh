#!/usr/bin/env bash
# scripts/deps.sh's program table cannot drift from what the project runs:
# every external program that a script, test or meson file calls
# (tests/tools/zu_programs.py reads them from the sources with shfmt's bash
# parser) has a row for the job that runs it, and every row's package ships
# that program on this machine (dpkg's database). Also checks that the check
# itself notices a program without a row.
. "$(dirname "$0")/lib.sh"
src=${ZCKUP_SRC:?}
tools=$src/tests/tools

if ! command -v shfmt >/dev/null 2>&1; then
	skip "the program table" "shfmt missing (scripts/deps.sh test installs it)"
	finish
	exit
fi
if ! python3 "$tools/zu_programs.py" "$src" >"$TEST_TMP/programs" 2>"$TEST_TMP/err"; then
	not_ok "zu_programs.py lists the programs the sources call"
	diag "$TEST_TMP/err"
	finish
	exit
fi
"$src/scripts/deps.sh" --table >"$TEST_TMP/table"
python3 "$tools/zu_deps_check.py" "$src" "$TEST_TMP/programs" "$TEST_TMP/table" >"$TEST_TMP/tap" || true
while IFS= read -r line; do
	case $line in
	"ok "*) ok "${line#ok * - }" ;;
	"not ok "*) not_ok "${line#not ok * - }" ;;
	*) echo "$line" ;;
	esac
done <"$TEST_TMP/tap"

# The check fails on a tool that has no row, and names it with its file and
# line: a copy of the tree with one test calling a made-up program.
fake=$TEST_TMP/tree
mkdir -p "$fake/tests/integration" "$fake/scripts"
cp "$src/tests/integration/lib.sh" "$fake/tests/integration/"
printf '#!/bin/bash\n. lib.sh\nx=$(frobnicate --now | sort)\nassert "t" "[ \\$(zu-fake-tool) = 1 ]"\n' \
	>"$fake/tests/integration/new.sh"
git -C "$fake" init -q && git -C "$fake" add -A
python3 "$tools/zu_programs.py" "$fake" >"$TEST_TMP/fake-programs"
st=0
python3 "$tools/zu_deps_check.py" "$fake" "$TEST_TMP/fake-programs" "$TEST_TMP/table" \
	>"$TEST_TMP/fake-tap" || st=$?
assert "a test calling a program without a row fails the check (exit $st)" "[ $st = 1 ]"
assert "the failure names the program, its file and line" \
	"grep -q 'frobnicate (tests/integration/new.sh:3, job test): no row' '$TEST_TMP/fake-tap'"
assert "a program inside a string that assert evaluates is found too" \
	"grep -q 'zu-fake-tool (tests/integration/new.sh:4' '$TEST_TMP/fake-tap'"
finish
