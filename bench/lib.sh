# shellcheck shell=bash
# bench/lib.sh - shell helpers shared by the benchmark scripts (bench/run.sh;
# meant for run-imap.sh too).  Source it from bash:  . "$top/bench/lib.sh"
#
# Servers are started in temp dirs on free loopback ports and registered, so
# that hb_cleanup (call it from an EXIT trap) stops every one of them by pid:
# tjstored with SIGTERM (SIGKILL after 20 s), Dovecot with `dovecot -c CONF
# stop` and then its master's pid.  Nothing is ever stopped by name.

HB_PIDS=()     # plain processes we started (tjstored, samplers)
HB_DC_CONFS=() # Dovecot configs started; "conf|pidfile"

hb_t0=${hb_t0:-$(date +%s)}
hb_note() { echo "[$(($(date +%s) - hb_t0)) s] $*" >&2; }

# hb_free_port - a free TCP port on 127.0.0.1 (races are possible but rare)
hb_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# hb_wait_port PORT PID [TENTHS] - until 127.0.0.1:PORT accepts (default 20 s);
# fails early when PID dies
hb_wait_port() {
	local i
	for ((i = 0; i < ${3:-200}; i++)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# hb_stop_pid PID [TENTHS] - SIGTERM, wait (default 20 s), then SIGKILL
hb_stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < ${2:-200}; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

hb_track() { HB_PIDS+=("$1"); }
hb_untrack() {
	local keep=() p
	for p in "${HB_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	HB_PIDS=("${keep[@]}")
}

# hb_cleanup - stop everything registered (for an EXIT trap)
hb_cleanup() {
	local p e
	for p in "${HB_PIDS[@]}"; do hb_stop_pid "$p" 100; done
	HB_PIDS=()
	for e in "${HB_DC_CONFS[@]}"; do hb_dc_stop "${e%%|*}" "${e#*|}"; done
	HB_DC_CONFS=()
}

# hb_unpack_corpus DEST - the shared corpus (TJ_CORPUS: the tarball)
hb_unpack_corpus() {
	local tarball=${TJ_CORPUS:-$top/../shared/corpus/spamassassin-public-1.tar.zst}
	[ -f "$tarball" ] || { echo "corpus not found: $tarball (set TJ_CORPUS)" >&2; return 1; }
	mkdir -p "$1"
	zstd -dc "$tarball" | tar xf - -C "$1"
}

# hb_clamav_db DIR - a signature directory with one test signature (EICAR,
# ../shared/TESTING.md): no official database can be downloaded here
hb_clamav_db() {
	mkdir -p "$1"
	echo "Test.EICAR:0:*:$(printf '%s' 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE' | od -An -tx1 | tr -d ' \n')" >"$1/test.ndb"
}

# hb_vmail - Dovecot's mail user (../shared/TESTING.md); needs root
hb_vmail() {
	id vmail >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin vmail
}

# hb_install_dovecot - Debian's dovecot-imapd and dovecot-lmtpd when missing
hb_install_dovecot() {
	if ! command -v dovecot >/dev/null || [ ! -x /usr/lib/dovecot/imap ] || [ ! -x /usr/lib/dovecot/lmtp ]; then
		export DEBIAN_FRONTEND=noninteractive
		apt-get update >/dev/null
		apt-get install -y -o DPkg::Lock::Timeout=120 dovecot-imapd dovecot-lmtpd >/dev/null
	fi
}

# ---- tjstored ----

# hb_tj_conf FILE DIR IMAP_PORT SMTP_PORT LMTP_PORT - a node whose data,
# certificate, admin socket and log all live in DIR; the password file is
# DIR/data/passwd (tjstore-cli users add writes it)
hb_tj_conf() {
	local f=$1 d=$2
	cat >"$f" <<CONF
# written by bench/lib.sh; every key is in docs/config.md
[node]
name = bench
data_dir = $d/data
[imap]
listen = 127.0.0.1:$3
[smtp]
listen = 127.0.0.1:$4
lmtp_listen = 127.0.0.1:$5
hostname = bench.test
[tls]
cert = $d/cert.pem
key = $d/key.pem
[auth]
backend = passwd
passwd_file = $d/data/passwd
[users]
file = $d/users.csv
[scan]
clamav_db_dir = $d/clamav
[admin]
socket = $d/admin.sock
[log]
level = warn
CONF
}

# hb_tj_start VAR TJSTORED CONF LOG PORT [--set K=V ...] - start tjstored,
# wait for PORT, and set VAR to its pid
hb_tj_start() {
	local var=$1 bin=$2 conf=$3 log=$4 port=$5 pid
	shift 5
	"$bin" --config "$conf" --make-cert --allow-root "$@" >>"$log" 2>&1 &
	pid=$!
	hb_track "$pid"
	if ! hb_wait_port "$port" "$pid"; then
		echo "tjstored did not start (log $log):" >&2
		tail -5 "$log" >&2
		return 1
	fi
	printf -v "$var" '%s' "$pid"
}

# hb_tj_stop PID - SIGTERM (drains, exits 0), SIGKILL after 20 s
hb_tj_stop() {
	hb_stop_pid "$1"
	hb_untrack "$1"
}

# ---- Dovecot ----

# hb_dc_conf FILE DIR IMAP_PORT LMTP_PORT - Dovecot 2.3 with its defaults
# (mdbox, mail_fsync = optimized) except for paths, ports and limits; users
# from DIR/passwd ("user:{CRYPT}hash::::::"), mail in DIR/mail/USER, as in
# ../shared/TESTING.md.  LMTP takes user@domain (auth_username_format %Ln).
hb_dc_conf() {
	local f=$1 d=$2
	mkdir -p "$d/run" "$d/state" "$d/mail"
	chown vmail:vmail "$d/mail"
	cat >"$f" <<CONF
# written by bench/lib.sh: defaults except for paths, ports and limits
base_dir = $d/run
state_dir = $d/state
instance_name = bench-$$-$RANDOM
listen = 127.0.0.1
protocols = imap lmtp
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Ln
first_valid_uid = 1
mail_uid = vmail
mail_gid = vmail
mail_location = mdbox:$d/mail/%u
log_path = $d/dovecot.log
passdb {
  driver = passwd-file
  args = $d/passwd
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=$d/mail/%u
}
mail_plugins = quota
protocol imap {
  mail_plugins = \$mail_plugins imap_quota
  mail_max_userip_connections = 10000
}
plugin {
  quota = count:User quota
  quota_vsizes = yes
  quota_rule = *:storage=100G
}
namespace inbox {
  inbox = yes
  mailbox Drafts {
    special_use = \Drafts
    auto = subscribe
  }
  mailbox Junk {
    special_use = \Junk
    auto = subscribe
  }
  mailbox Sent {
    special_use = \Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \Trash
    auto = subscribe
  }
}
default_client_limit = 10000
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $3
  }
  inet_listener imaps {
    port = 0
  }
}
service imap {
  process_limit = 5000
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $4
  }
}
service anvil {
  client_limit = 10000
}
CONF
}

# hb_dc_start VAR CONF PORT - start Dovecot, wait for PORT, set VAR to the
# master's pid
hb_dc_start() {
	local var=$1 conf=$2 port=$3 base pidf pid i
	base=$(awk '$1 == "base_dir" {print $3}' "$conf")
	pidf=$base/master.pid
	rm -f "$pidf"
	dovecot -c "$conf" || return 1
	HB_DC_CONFS+=("$conf|$pidf")
	for ((i = 0; i < 100; i++)); do [ -s "$pidf" ] && break; sleep 0.1; done
	pid=$(cat "$pidf" 2>/dev/null)
	if [ -z "$pid" ] || ! hb_wait_port "$port" "$pid"; then
		echo "Dovecot did not start ($conf)" >&2
		return 1
	fi
	printf -v "$var" '%s' "$pid"
}

# hb_dc_stop CONF [PIDFILE] - `dovecot stop`, then wait for the master to go
# (SIGKILL by pid after 20 s)
hb_dc_stop() {
	local conf=$1 pidf=${2:-} pid="" i keep=() e
	[ -n "$pidf" ] || pidf=$(awk '$1 == "base_dir" {print $3}' "$conf")/master.pid
	[ -s "$pidf" ] && pid=$(cat "$pidf")
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		dovecot -c "$conf" stop >/dev/null 2>&1
		for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	fi
	for e in "${HB_DC_CONFS[@]}"; do [ "${e%%|*}" = "$conf" ] || keep+=("$e"); done
	HB_DC_CONFS=("${keep[@]}")
	return 0
}
