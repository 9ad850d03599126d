#!/usr/bin/env bash
# test.sh - the README's second command: install what is missing, build,
# and run every test: unit and integration tests under ASan+UBSan (gcc,
# build-asan/), then every libFuzzer target for a short run (clang,
# build-fuzz/).  Ends with one line "N passed, N failed".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
TESTS=1 "$top/tools/deps.sh" || exit 2
jobs=$(nproc)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0 failed=0
run_ctest() { # dir, label args...
	local dir=$1; shift
	local log
	log=$(mktemp)
	(cd "$dir" && ctest --output-on-failure -j"$jobs" "$@") 2>&1 | tee "$log"
	local line
	line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
	if [ -z "$line" ]; then
		failed=$((failed + 1))
	else
		local f t
		f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
		t=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
		passed=$((passed + t - f))
		failed=$((failed + f))
	fi
	rm -f "$log"
}
echo "== build (gcc, ASan+UBSan)"
if cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTJ_SANITIZE=ON >/dev/null &&
	cmake --build build-asan -j"$jobs" >/dev/null; then
	echo "== tests"
	run_ctest build-asan -LE fuzz
else
	cmake --build build-asan 2>&1 | tail -30
	failed=$((failed + 1))
fi
echo "== build (clang, libFuzzer)"
if CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DTJ_FUZZ=ON \
	-DTJ_FUZZ_SECONDS="${TJ_FUZZ_SECONDS:-20}" >/dev/null &&
	cmake --build build-fuzz -j"$jobs" --target fuzz-all >/dev/null; then
	echo "== fuzz"
	run_ctest build-fuzz -L fuzz
else
	cmake --build build-fuzz 2>&1 | tail -30
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
