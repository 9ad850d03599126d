#!/usr/bin/env bash
# demo.sh - the README's first command: install what is missing, build
# tjstore into build/, and run the main job.
#
# Today the main job builds a demo store from the shared mail corpus
# (../shared/corpus): user "demo" with the corpus's ham in INBOX and its spam
# in Junk, compacts it with a trained zstd dictionary, verifies it and prints
# its statistics.  The store is left in demo/data for tjstore-cli to explore.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/tools/deps.sh"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTJ_SANITIZE=OFF -DTJ_FUZZ=OFF -DTJ_PROTOCOL=ON >/dev/null
cmake --build build -j"$(nproc)" --target tjstore-cli store-bench >/dev/null
corpus_tar=${TJ_CORPUS:-$top/../shared/corpus/spamassassin-public-1.tar.zst}
if [ ! -f "$corpus_tar" ]; then
	echo "demo: corpus not found at $corpus_tar (set TJ_CORPUS)" >&2
	exit 2
fi
rm -rf demo/data demo/corpus
mkdir -p demo/corpus
zstd -dc "$corpus_tar" | tar xf - -C demo/corpus
cli="build/tjstore-cli --data-dir demo/data"
$cli users add demo --quota 2G
$cli import demo INBOX demo/corpus/ham
$cli import demo Junk demo/corpus/spam
$cli compact
$cli verify
echo
$cli stats
echo
echo "The store is in demo/data.  Try:"
echo "  build/tjstore-cli --data-dir demo/data users show demo"
echo "  build/tjstore-cli --data-dir demo/data --json stats"
