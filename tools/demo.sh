#!/usr/bin/env bash
# demo.sh - the README's first command: install what is missing, build
# tjstore into build/, and run the main job: a tjstore node on loopback with
# demo users that a mail client can use.
#
# The first run builds demo/data from the shared mail corpus
# (../shared/corpus): user "demo" (password "demo") with the corpus's ham in
# INBOX and its spam in Junk, and user "alice" (password "alice"), empty.  It
# compacts with a trained zstd dictionary, verifies and prints statistics.
# Later runs reuse demo/data (delete it, or pass --fresh, to start over).
# Then tjstored serves IMAP on 127.0.0.1:1143 (STARTTLS) and :1993
# (implicit TLS, self-signed certificate), SMTP on :1025 and LMTP on :1024
# until Ctrl-C.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/tools/deps.sh"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTJ_SANITIZE=OFF -DTJ_FUZZ=OFF -DTJ_PROTOCOL=ON >/dev/null
cmake --build build -j"$(nproc)" --target tjstore-cli tjstored store-bench >/dev/null
[ "${1:-}" = --fresh ] && rm -rf demo/data
cli="build/tjstore-cli --data-dir demo/data"
if [ ! -d demo/data ]; then
	corpus_tar=${TJ_CORPUS:-$top/../shared/corpus/spamassassin-public-1.tar.zst}
	if [ ! -f "$corpus_tar" ]; then
		echo "demo: corpus not found at $corpus_tar (set TJ_CORPUS)" >&2
		exit 2
	fi
	rm -rf demo/corpus
	mkdir -p demo/corpus
	zstd -dc "$corpus_tar" | tar xf - -C demo/corpus
	echo demo | $cli users add demo --quota 2G --password-stdin
	echo alice | $cli users add alice --quota 500M --password-stdin
	$cli import demo INBOX demo/corpus/ham
	$cli import demo Junk demo/corpus/spam
	$cli compact
	$cli verify
	echo
	$cli stats
	echo
fi
# no signature database can be downloaded here: the demo scans with a test
# signature for EICAR; production points [scan] clamav_db_dir at freshclam's
# the Bayes classifier learns demo's folders (Junk is spam, INBOX is ham),
# as sa-learn would; once per store
if [ ! -d demo/data/bayes ]; then
	$cli learn --spam demo
	$cli learn --ham demo
fi
mkdir -p demo/clamav
echo "Test.EICAR:0:*:$(printf '%s' 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE' | od -An -tx1 | tr -d ' \n')" > demo/clamav/test.ndb
cat > demo/tjstored.conf <<CONF
# written by tools/demo.sh; every key is in docs/config.md
[node]
name = demo
data_dir = $top/demo/data
[imap]
listen = 127.0.0.1:1143
tls_listen = 127.0.0.1:1993
[smtp]
listen = 127.0.0.1:1025
lmtp_listen = 127.0.0.1:1024
[tls]
cert = $top/demo/cert.pem
key = $top/demo/key.pem
[auth]
backend = passwd
passwd_file = $top/demo/data/passwd
[users]
file = $top/demo/users.csv
[scan]
clamav_db_dir = $top/demo/clamav
rules_file = $top/node/scan/rules/tjstore.cf
quarantine_dir = $top/demo/quarantine
[admin]
socket = $top/demo/admin.sock
CONF
cat <<INFO
tjstored is starting: IMAP on 127.0.0.1:1143 (STARTTLS) and 127.0.0.1:1993 (TLS,
self-signed certificate), users demo/demo and alice/alice.  Try:
  mutt -f imap://demo@127.0.0.1:1143/INBOX
  curl --user demo:demo imap://127.0.0.1:1143/
  openssl s_client -quiet -connect 127.0.0.1:1993
  swaks --server 127.0.0.1:1025 --to alice@localhost      (SMTP; LMTP on :1024)
  swaks --server 127.0.0.1:1025 --to alice@localhost --body 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
                                                          (GTUBE: lands in alice's Junk)
  build/tjstore-cli --socket demo/admin.sock status
  build/tjstore-cli --socket demo/admin.sock learn --stats
Thunderbird / Apple Mail: server 127.0.0.1, port 1993, SSL/TLS, normal password.
Ctrl-C stops it (the store is left in demo/data).
INFO
root=()
[ "$(id -u)" -eq 0 ] && root=(--allow-root)
exec build/tjstored --config demo/tjstored.conf --make-cert "${root[@]}"
