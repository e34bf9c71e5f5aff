#!/usr/bin/env bash
# Coverage-guided fuzzing of every fuzz target (the list in fuzz/meson.build)
# with clang's libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer,
# for a bounded time each. Run by scripts/test.sh (CI); also by hand:
#   scripts/fuzz.sh [SECONDS] [TARGET...]      default 30 s, all targets
# Builds into build-fuzz/ (the library once, with -fsanitize=fuzzer-no-link;
# each target linked with -fsanitize=fuzzer). Each target starts from a copy
# of its corpus (fuzz/corpus/T/) in build-fuzz/corpus-T/, so what it learns
# stays out of the tree. Two targets run at a time.
# Fails on any crash, leak, timeout (-timeout=10 s per input) or out-of-memory
# (-rss_limit_mb=2048): the input that did it is copied into fuzz/corpus/T/
# (as crash-SHA1 etc.), where the plain replay (meson test --suite fuzz) keeps
# it as a regression from then on; commit it with the fix.
# Prints the executions per target and the total.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
secs=${1:-30}
shift || true
out=build-fuzz
mapfile -t all < <(python3 - <<'PY'
import re
s = open("fuzz/meson.build").read()
m = re.search(r"fuzz_targets\s*=\s*\[(.*?)\]", s, re.S)
print("\n".join(re.findall(r"'([a-z_0-9]+)'", m.group(1))))
PY
)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi
flags=(-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
	-D_FILE_OFFSET_BITS=64 -Iinclude -Isrc/lib -Ifuzz -I/usr/include/x86_64-linux-gnu)
libs=(-lzstd -lcrypto -lcurl -lpthread)

mkdir -p "$out/obj" "$out/artifacts"
echo "== build-fuzz: clang libFuzzer + ASan/UBSan, ${#targets[@]} targets"
srcs=(src/lib/*.c src/lib/fetch/*.c src/lib/sink/*.c)
# Objects are rebuilt when their source (or any header) is newer.
newest_h=$(find src/lib include -name '*.h' -printf '%T@\n' | sort -n | tail -1)
rm -f "$out"/obj/*.o.tmp
printf '%s\n' "${srcs[@]}" | (
	while read -r s; do
		obj="$out/obj/$(echo "$s" | tr / _).o"
		if [ ! -f "$obj" ] || [ "$s" -nt "$obj" ] ||
			[ "$(stat -c %Y "$obj")" -lt "${newest_h%.*}" ]; then
			echo "$s"
		fi
	done
) | xargs -r -P "$(nproc)" -I{} sh -c \
	'clang '"${flags[*]}"' -fsanitize=fuzzer-no-link -c "$1" -o "'"$out"'/obj/$(echo "$1" | tr / _).o"' _ {}
rm -f "$out/libzu.a"
ar rcs "$out/libzu.a" "$out"/obj/*.o
for t in "${targets[@]}"; do
	clang "${flags[@]}" -fsanitize=fuzzer "fuzz/fuzz_$t.c" "$out/libzu.a" "${libs[@]}" \
		-o "$out/fuzz_$t"
done

fuzz_one() { # target: runs it, prints "T EXECS STATUS"
	local t=$1 log rc=0 execs
	log="$out/fuzz_$t.log"
	rm -rf "$out/corpus-$t"
	cp -r "fuzz/corpus/$t" "$out/corpus-$t"
	ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$out/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len=65536 -print_final_stats=1 -artifact_prefix="$out/artifacts/$t-" \
		"$out/corpus-$t" >"$log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	echo "$t ${execs:-0} $rc"
}
export -f fuzz_one
export secs out
rm -f "$out"/artifacts/*
results=$(printf '%s\n' "${targets[@]}" | xargs -P 2 -I{} bash -c 'fuzz_one {}')
total=0
failed=0
while read -r t execs rc; do
	total=$((total + execs))
	if [ "$rc" = 0 ]; then
		echo "fuzz_$t: $execs executions in ${secs} s, no finding"
	else
		failed=$((failed + 1))
		echo "FAILED: fuzz_$t (exit $rc) after $execs executions; log: $out/fuzz_$t.log"
		grep -E "ERROR|SUMMARY|Test unit written" "$out/fuzz_$t.log" | head -8 | sed 's/^/  /'
	fi
done <<<"$results"
# Findings become corpus regressions (replayed by meson test --suite fuzz).
for a in "$out"/artifacts/*; do
	[ -e "$a" ] || continue
	name=$(basename "$a")
	t=${name%%-*}
	kind=${name#"$t"-}
	cp "$a" "fuzz/corpus/$t/$kind"
	echo "  kept $a as fuzz/corpus/$t/$kind"
done
echo "fuzz: $total executions over ${#targets[@]} targets, $failed failed"
[ "$failed" = 0 ]
