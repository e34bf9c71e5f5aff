#!/usr/bin/env bash
# The integration tests with every zckup (and embed_sink, zu_chunkdump) run
# under valgrind memcheck: any error, or a definite leak, fails the program
# with status 99, so the test fails. Uses the gcc build in build-valgrind/
# (debugoptimized: -O2 -g, no sanitizers).
#   scripts/valgrind.sh [SUITE...]
# Default: the integration tests that do not measure time or memory (under
# valgrind zckup runs 20-50 times slower: cancel.sh's "within a second",
# hostile.sh's memory and time bounds, the network fault timings and the
# server matrix cannot hold there). The downloader process (a fork, no exec)
# is checked too; commands started by --exec are not (--trace-children=no).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind missing (apt-get install valgrind)" >&2; exit 1; }
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(cli errors roundtrip interop_zck sinks embed fssize resume)
b=build-valgrind
if [ ! -f "$b/build.ninja" ]; then
	meson setup "$b" -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C "$b" >/dev/null
supp="$top/scripts/valgrind.supp"
vg="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"
vg+=" --show-leak-kinds=definite --track-origins=yes --suppressions=$supp"
# tests/integration/lib.sh runs the programs under test through this wrapper.
export ZCKUP_EXE_WRAPPER="$vg"
t0=$SECONDS
rc=0
meson test -C "$b" --print-errorlogs --num-processes 2 --timeout-multiplier 4 "${suites[@]}" || rc=$?
echo "valgrind.sh: ${suites[*]}: $((SECONDS - t0)) s, exit $rc"
exit $rc
