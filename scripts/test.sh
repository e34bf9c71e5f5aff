#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs unit tests,
# fuzz-corpus replays and integration tests (meson test), then prints
# "N passed, N failed". Exit status 0 only when everything passed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/deps.sh"
build=${BUILD_DIR:-build}
BUILD_DIR=$build "$top/scripts/build.sh"
rc=0
meson test -C "$build" --print-errorlogs --num-processes 2 "$@" || rc=$?
python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, sys
ok = bad = skip = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    res = r.get("result")
    if res in ("OK", "EXPECTEDFAIL"):
        ok += 1
    elif res == "SKIP":
        skip += 1
    else:
        bad += 1
        print("FAILED:", r.get("name"), res)
print(f"{ok} passed, {bad} failed, {skip} skipped")
PY
exit $rc
