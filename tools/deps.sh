#!/usr/bin/env bash
# deps.sh - install the Debian packages tjstore needs (tools/packages.txt)
# that are not installed yet.  TESTS=1 adds the test-only packages.
# Needs root (or sudo) only when something is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
want=()
while read -r line; do
	line=${line%%#*}
	[ -n "${line// }" ] || continue
	if [[ $line == test:* ]]; then
		[ "${TESTS:-0}" = 1 ] || continue
		line=${line#test:}
	fi
	for p in $line; do want+=("$p"); done
done < "$here/packages.txt"
missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
# slapd must not configure a system directory of its own (tests start their own)
echo "slapd slapd/no_configuration boolean true" | $sudo debconf-set-selections
# postfix is only a test client (smtp-source) and a relay the tests start
# themselves: no system mailer configuration
echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
$sudo apt-get update -q -o DPkg::Lock::Timeout=120 >/dev/null
$sudo apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=120 "${missing[@]}" >/dev/null
