#!/usr/bin/env bash
# run-store.sh - the store benchmarks (issue: store), median and spread of
# REPS runs each, as a Markdown table.  Not a test: run by hand on a quiet
# machine.  Builds a Release tree in build-bench/.
#
#   bench/run-store.sh [REPS]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
reps=${1:-3}
cd "$top"
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTJ_SANITIZE=OFF -DTJ_FUZZ=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" --target store-bench >/dev/null
B=build-bench/bench/store-bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
corpus_tar=${TJ_CORPUS:-$top/../shared/corpus/spamassassin-public-1.tar.zst}
mkdir -p "$work/corpus"
zstd -dc "$corpus_tar" | tar xf - -C "$work/corpus"

field() { grep -oE "$1=[0-9.]+" | head -1 | cut -d= -f2; }
stats() { # values... -> "median (min-max)"
	printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {printf "%s (%s-%s)", a[int((NR+1)/2)], a[1], a[NR]}'
}
run() { # name, field, command...
	local name=$1 f=$2; shift 2
	local vals=() i
	for i in $(seq "$reps"); do
		rm -rf "$work/s"
		vals+=("$("$@" 2>/dev/null | field "$f")")
	done
	printf '| %s | %s |\n' "$name" "$(stats "${vals[@]}")"
}
echo "| measure | median (min-max) of $reps |"
echo "|---|---|"
run "deliveries/s, 1 writer, 2 KB" deliveries_per_s $B deliver "$work/s" 3000 1 2048
run "deliveries/s, 8 writers, 2 KB" deliveries_per_s $B deliver "$work/s" 20000 8 2048
run "segment fsyncs per delivery, 8 writers" segment_fsyncs_per_delivery $B deliver "$work/s" 20000 8 2048
run "stored/raw, corpus, with dictionary" stored_over_raw $B corpus "$work/s" "$work/corpus"
run "stored/raw, corpus, no dictionary" stored_over_raw $B corpus "$work/s" "$work/corpus" --no-dict
rm -rf "$work/r"
$B corpus "$work/r" "$work/corpus" >/dev/null 2>&1
vals=()
for i in $(seq "$reps"); do vals+=("$($B read "$work/r" 3 2>/dev/null | field MB_per_s)"); done
printf '| read MB/s (decompressed), corpus | %s |\n' "$(stats "${vals[@]}")"
