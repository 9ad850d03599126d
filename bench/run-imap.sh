#!/usr/bin/env bash
# run-imap.sh - IMAP benchmarks, tjstored against Dovecot on the same machine
# (issue: IMAP server, item 7; issue: benchmark harness, W2/W3/W5).  Not a
# test: run by hand on a quiet machine, as root (Dovecot runs its mail
# processes as the vmail user).
#
#   bench/run-imap.sh [REPS]          REPS repetitions of each workload (default 3)
#   N=20000 bench/run-imap.sh 1       a smaller mailbox for a quick run
#
# Environment: N (messages in the big mailbox, default 100000), CONNS (idle
# connections for the memory figures, default 1000), MEM_REPS (runs of the
# memory workload, default 1), TJ_CORPUS (the corpus
# tarball), KEEP=1 (keep the temp dirs and logs, for a look after the run),
# BUILD (the build tree, default build-bench) and BUILD_TYPE (default
# Release), SERVERS ("tjstore dovecot", the default, or just one of them),
# FILL (how Dovecot's big mailbox is filled: "imap", APPEND over 8
# connections like tjstore's, the default up to N=20000; or "import",
# `doveadm import` of an mbox of the same messages, the default above:
# Dovecot appends at 120-450 msgs/s here, so an APPEND fill of 100,000
# messages alone takes 4-15 minutes, and each repetition's refill of the
# expunged 10% another minute or more; the fill row then shows the import
# rate, which is not comparable).
#
# Builds a Release tree in build-bench/ (tjstored, tjstore-cli, imap-bench),
# installs dovecot-imapd if it is missing, starts Dovecot (mdbox, default
# fsync settings) and a tjstored node, each in its own temp dir on free
# loopback ports, with the same user and the same password hash, and runs
# the same workloads against each, one server after the other.  Prints a
# Markdown table (median and min-max of REPS runs) and writes it, with the
# raw figures as JSON, to bench/results/imap-DATE.{md,json}.  Everything it
# starts is stopped by pid (Dovecot by `dovecot -c FILE stop`).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
reps=${1:-3}
N=${N:-100000}
CONNS=${CONNS:-1000}
mem_reps=${MEM_REPS:-1} # the memory figures vary by <1% between runs; Dovecot's 1,000 logins take 60-80 s
cd "$top"
t_start=$(date +%s)

if [ "$(id -u)" -ne 0 ]; then
	echo "run-imap.sh: run as root (Dovecot needs to switch to the vmail user)" >&2
	exit 2
fi
export DEBIAN_FRONTEND=noninteractive
if ! command -v dovecot >/dev/null || [ ! -x /usr/lib/dovecot/imap ]; then
	apt-get update >/dev/null
	apt-get install -y -o DPkg::Lock::Timeout=120 dovecot-imapd >/dev/null
fi
id vmail >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin vmail

# Release, with -g so perf can name functions.
build=${BUILD:-build-bench}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" -DTJ_SANITIZE=OFF -DTJ_FUZZ=OFF \
	"-DCMAKE_C_FLAGS=-g" >/dev/null
cmake --build "$build" -j"$(nproc)" --target tjstored tjstore-cli imap-bench >/dev/null 2>&1 ||
	{ echo "run-imap.sh: build failed (cmake --build $build)" >&2; exit 1; }
B=$top/$build/bench/imap-bench
TJD=$top/$build/tjstored
CLI=$top/$build/tjstore-cli

work=$(mktemp -d /tmp/imap-bench.XXXXXX)
chmod 755 "$work"
tj_pid=
dc_pid=
dc_conf=
cleanup() {
	set +e
	if [ -n "$tj_pid" ] && kill -0 "$tj_pid" 2>/dev/null; then
		kill -TERM "$tj_pid"
		for _ in $(seq 100); do kill -0 "$tj_pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$tj_pid" 2>/dev/null && kill -KILL "$tj_pid"
		wait "$tj_pid" 2>/dev/null
	fi
	if [ -n "$dc_pid" ] && kill -0 "$dc_pid" 2>/dev/null; then
		dovecot -c "$dc_conf" stop >/dev/null 2>&1
	fi
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # port pid: until it accepts, at most 20 s
	for _ in $(seq 200); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

corpus_tar=${TJ_CORPUS:-$top/../shared/corpus/spamassassin-public-1.tar.zst}
mkdir -p "$work/corpus"
zstd -dc "$corpus_tar" | tar xf - -C "$work/corpus"

USER=bench
PASS=bench-pw-$RANDOM$RANDOM

# ---- tjstored ----
T=$work/tjstore
mkdir -p "$T"
tj_port=$(free_port)
tj_tls=$(free_port)
printf '%s\n' "$PASS" | "$CLI" --data-dir "$T/data" users add "$USER" --quota 100G --password-stdin >/dev/null
cat >"$T/tjstored.conf" <<CONF
[node]
name = bench
data_dir = $T/data
[imap]
listen = 127.0.0.1:$tj_port
tls_listen = 127.0.0.1:$tj_tls
[tls]
cert = $T/cert.pem
key = $T/key.pem
[auth]
backend = passwd
passwd_file = $T/data/passwd
[users]
file = $T/users.csv
[admin]
socket = $T/admin.sock
[log]
level = warn
CONF
start_tj() {
	"$TJD" --config "$T/tjstored.conf" --make-cert --allow-root >>"$T/tjstored.log" 2>&1 &
	tj_pid=$!
	wait_port "$tj_port" "$tj_pid" || { echo "tjstored did not start:" >&2; tail "$T/tjstored.log" >&2; exit 1; }
}
stop_tj() {
	kill -TERM "$tj_pid"
	for _ in $(seq 200); do kill -0 "$tj_pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$tj_pid" 2>/dev/null && kill -KILL "$tj_pid"
	wait "$tj_pid" || echo "tjstored exited with $? (log: $T/tjstored.log)" >&2
	tj_pid=
}

# One password hash for both servers, so that a LOGIN costs the same CPU in
# both.  HASH=sha512 (default): SHA-512-crypt, 5000 rounds, a few ms;
# HASH=yescrypt: what `tjstore-cli users add` writes, about 70 ms of CPU per
# LOGIN, which makes the 1,000-connection memory runs take minutes.
if [ "${HASH:-sha512}" = sha512 ]; then
	h6=$(printf '%s' "$PASS" | openssl passwd -6 -stdin)
	printf '%s:%s\n' "$USER" "$h6" >"$T/data/passwd"
fi

# ---- Dovecot: the same user, with tjstore's password hash ----
D=$work/dovecot
mkdir -p "$D/run" "$D/state" "$D/mail"
chown vmail:vmail "$D/mail"
hash=$(awk -F: -v u="$USER" '$1 == u {print $2}' "$T/data/passwd")
[ -n "$hash" ] || { echo "no hash for $USER in $T/data/passwd" >&2; exit 1; }
printf '%s:{CRYPT}%s::::::\n' "$USER" "$hash" >"$D/passwd"
chmod 644 "$D/passwd"
dc_port=$(free_port)
dc_conf=$D/dovecot.conf
cat >"$dc_conf" <<CONF
# written by bench/run-imap.sh: defaults except for paths, ports and limits
base_dir = $D/run
state_dir = $D/state
instance_name = imap-bench-$$
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Ln
first_valid_uid = 1
mail_uid = vmail
mail_gid = vmail
mail_location = mdbox:$D/mail/%u
log_path = $D/dovecot.log
passdb {
  driver = passwd-file
  args = $D/passwd
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=$D/mail/%u
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
    port = $dc_port
  }
  inet_listener imaps {
    port = 0
  }
}
service imap {
  process_limit = 5000
}
service anvil {
  client_limit = 10000
}
CONF
start_dc() {
	dovecot -c "$dc_conf"
	for _ in $(seq 100); do [ -s "$D/run/master.pid" ] && break; sleep 0.1; done
	dc_pid=$(cat "$D/run/master.pid")
	wait_port "$dc_port" "$dc_pid" || { echo "Dovecot did not start:" >&2; tail "$D/dovecot.log" >&2; exit 1; }
}
stop_dc() {
	dovecot -c "$dc_conf" stop
	for _ in $(seq 200); do kill -0 "$dc_pid" 2>/dev/null || break; sleep 0.1; done
	dc_pid=
}

# dc_import TAG COUNT - COUNT messages into Dovecot's INBOX with `doveadm
# import` of an mbox: the messages imap-bench appends (the corpus's mail of
# 2900-5000 bytes once in CRLF, in imap-bench's order, each behind an
# X-Bench-Seq field), so both servers hold the same mail.  Prints the
# append-style key=value lines.
dc_import() {
	local tag=$1 count=$2 src=$work/import t0 t1
	rm -rf "$src"
	mkdir -p "$src"
	python3 - "$work/corpus" "$src/in.mbox" "$tag" "$count" <<'PY'
import os, sys
corpus, out, tag, n = sys.argv[1], sys.argv[2], sys.argv[3].encode(), int(sys.argv[4])
msgs = []
def load_file(p):  # imap-bench's load_file: 2900-5000 bytes once in CRLF, no NUL
    st = os.stat(p)
    if st.st_size > 5000 or st.st_size < 1450:
        return
    raw = open(p, "rb").read()
    if b"\0" in raw:
        return
    o = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if not o.endswith(b"\n"):
        o += b"\n"
    if 2900 <= len(o) + o.count(b"\n") <= 5000:
        msgs.append(o.replace(b"\nFrom ", b"\n>From "))
def load_dir(d, depth):  # names in strcmp order, as imap-bench
    for name in sorted(os.listdir(d), key=os.fsencode):
        p = os.path.join(d, name)
        if os.path.isdir(p) and depth < 4:
            load_dir(p, depth + 1)
        elif os.path.isfile(p):
            load_file(p)
load_dir(corpus, 0)
with open(out, "wb", buffering=1 << 20) as f:
    for k in range(n):
        f.write(b"From bench@bench.test Wed Nov 25 12:00:00 2026\n")
        f.write(b"X-Bench-Seq: import-%s-%d\n" % (tag, k))
        f.write(msgs[k % len(msgs)])
        f.write(b"\n")
PY
	chown -R vmail:vmail "$src"
	t0=$(date +%s.%N)
	doveadm -c "$dc_conf" import -u "$USER" "mbox:$src:INBOX=$src/in.mbox" "" all >"$work/import.log" 2>&1 ||
		echo "import_exit=$?"
	t1=$(date +%s.%N)
	echo "appended=$count"
	echo "seconds=$(echo "$t1 $t0" | awk '{printf "%.3f", $1 - $2}')"
	echo "msgs_per_s=$(echo "$count $t1 $t0" | awk '{printf "%.1f", $1 / ($2 - $3)}')"
	echo "method=doveadm-import"
	rm -rf "$src"
}
fill=${FILL:-$([ "$N" -gt 20000 ] && echo import || echo imap)}

# ---- the workloads ----
res=$work/results.txt # lines: server workload value client_cpu server_cpu
: >"$res"
field() { grep -E "^$1=" | head -1 | cut -d= -f2; }
common() { # server -> imap-bench arguments
	if [ "$1" = tjstore ]; then
		echo --port "$tj_port" --pid "$tj_pid" --user "$USER" --pass "$PASS"
	else
		echo --port "$dc_port" --pid "$dc_pid" --user "$USER" --pass "$PASS"
	fi
}
record() { # server workload value ccpu scpu
	echo "$1|$2|$3|$4|$5" >>"$res"
}
note() { echo "[$(($(date +%s) - t_start)) s] $*" >&2; }
ops="login_select fetch_flags fetch_envelope search_from search_body store_seen expunge10"

for srv in ${SERVERS:-tjstore dovecot}; do
	# memory per authenticated connection and per IDLE connection (IDLE in
	# Trash, an empty mailbox), each run on a freshly started server so that
	# no memory freed by earlier work is reused
	for i in $(seq "$mem_reps"); do
		if [ "$srv" = tjstore ]; then
			[ -n "$tj_pid" ] && stop_tj
			start_tj
		else
			[ -n "$dc_pid" ] && stop_dc
			start_dc
		fi
		# shellcheck disable=SC2046
		set -- $(common "$srv")
		out=$("$B" conns "$@" --conns "$CONNS" --mailbox Trash --seconds 300 --settle 1) || true
		for k in rss_per_conn_kb pss_per_conn_kb rss_per_idle_kb pss_per_idle_kb; do
			record "$srv" "$k" "$(echo "$out" | field $k)" \
				"$(echo "$out" | field login_client_cpu_s)" "$(echo "$out" | field login_server_cpu_s)"
		done
		note "$srv conns: $(echo "$out" | tr '\n' ' ')"
	done
	# W2: APPEND rate into a mailbox of its own
	for c in 1 8; do
		for i in $(seq "$reps"); do
			out=$("$B" append "$@" --mailbox Drafts --conns "$c" --count 20000 --seconds 8 --corpus "$work/corpus") || true
			record "$srv" "append_$c" "$(echo "$out" | field msgs_per_s)" \
				"$(echo "$out" | field client_cpu_s)" "$(echo "$out" | field server_cpu_s)"
			note "$srv append $c conns: $(echo "$out" | field msgs_per_s) msgs/s"
		done
	done
	# W3: fill the big mailbox over 8 connections
	if [ "$srv" = dovecot ] && [ "$fill" = import ]; then
		out=$(dc_import fill "$N")
	else
		out=$("$B" append "$@" --mailbox INBOX --conns 8 --count "$N" --seconds 1800 --corpus "$work/corpus") || true
	fi
	record "$srv" fill_8 "$(echo "$out" | field msgs_per_s)" \
		"$(echo "$out" | field client_cpu_s)" "$(echo "$out" | field server_cpu_s)"
	note "$srv fill: $(echo "$out" | tr '\n' ' ')"
	for i in $(seq "$reps"); do
		out=$("$B" bigops "$@" --mailbox INBOX --from hotmail.com --body mortgage --seconds 600) || true
		for op in $ops; do
			record "$srv" "$op" "$(echo "$out" | field "${op}_ms")" \
				"$(echo "$out" | field "${op}_client_cpu_s")" "$(echo "$out" | field "${op}_server_cpu_s")"
			record "$srv" "${op}_count" "$(echo "$out" | field "${op}_count")" 0 0
		done
		note "$srv bigops: $(echo "$out" | grep -E '_ms=|_count=' | tr '\n' ' ')"
		# put the expunged 10% back (untimed) so every repetition sees N messages
		if [ "$i" -lt "$reps" ]; then
			gone=$(echo "$out" | field expunge10_count)
			if [ -n "$gone" ] && [ "$gone" -gt 0 ]; then
				if [ "$srv" = dovecot ] && [ "$fill" = import ]; then
					dc_import "refill$i" "$gone" >/dev/null
				else
					"$B" append "$@" --mailbox INBOX --conns 8 --count "$gone" --seconds 600 \
						--corpus "$work/corpus" >/dev/null
				fi
			fi
		fi
	done
	if [ "$srv" = tjstore ]; then stop_tj; else stop_dc; fi # one server at a time
done

# ---- the table ----
mkdir -p "$top/bench/results"
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
md=$top/bench/results/imap-$stamp.md
json=$top/bench/results/imap-$stamp.json
python3 - "$res" "$reps" "$N" "$CONNS" "$md" "$json" "$fill" <<'PY'
import json, statistics, sys, platform, os, datetime
res, reps, n, conns, md, js = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
fill = sys.argv[7]
data = {}
for line in open(res):
    srv, w, v, cc, sc = line.rstrip("\n").split("|")
    f = lambda x: float(x) if x not in ("", None) else None
    data.setdefault(w, {}).setdefault(srv, []).append({"value": f(v), "client_cpu_s": f(cc), "server_cpu_s": f(sc)})
rows = [  # key, label, unit, higher is better
    ("append_1", "APPEND, 1 connection", "msgs/s", True),
    ("append_8", "APPEND, 8 connections", "msgs/s", True),
    ("fill_8", f"APPEND, 8 connections, filling {n:,} messages (1 run)"
     + ("; Dovecot: doveadm import, not comparable" if fill == "import" else ""), "msgs/s", True),
    ("login_select", "LOGIN+SELECT", "ms", False),
    ("fetch_flags", "UID FETCH 1:* (FLAGS)", "ms", False),
    ("fetch_envelope", "FETCH 1:* (ENVELOPE)", "ms", False),
    ("search_from", "UID SEARCH FROM", "ms", False),
    ("search_body", "UID SEARCH BODY", "ms", False),
    ("store_seen", "STORE 1:* +FLAGS (\\Seen)", "ms", False),
    ("expunge10", "EXPUNGE of 10% (STORE \\Deleted + EXPUNGE)", "ms", False),
    ("rss_per_conn_kb", f"RSS per authenticated connection ({conns:,})", "KB", False),
    ("pss_per_conn_kb", f"PSS per authenticated connection ({conns:,})", "KB", False),
    ("rss_per_idle_kb", f"RSS per IDLE connection ({conns:,})", "KB", False),
    ("pss_per_idle_kb", f"PSS per IDLE connection ({conns:,})", "KB", False),
]
def vals(w, s, k="value"):
    return [r[k] for r in data.get(w, {}).get(s, []) if r[k] is not None]
def med(v):
    return statistics.median(v) if v else None
def fmt(x):
    if x is None: return "n/a"
    if abs(x) >= 100: return f"{x:,.0f}"
    if abs(x) >= 10: return f"{x:.1f}"
    return f"{x:.2f}"
def cell(v):
    if not v: return "failed"
    return f"{fmt(med(v))} ({fmt(min(v))}-{fmt(max(v))})" if len(v) > 1 else fmt(v[0])
out = []
out.append(f"N = {n:,} messages in the big mailbox, {reps} runs each, median (min-max). "
           "Ratio: for rates Dovecot/tjstore, for ms and KB tjstore/Dovecot, so **below 1 means tjstore is better** on every row.\n")
out.append("| workload | unit | tjstore | Dovecot | ratio (<1: tjstore better) | CPU s tjstore: server / generator | CPU s Dovecot: server / generator |")
out.append("|---|---|---|---|---|---|---|")
summary = {}
for key, label, unit, higher in rows:
    t, d = vals(key, "tjstore"), vals(key, "dovecot")
    mt, mdv = med(t), med(d)
    ratio = None
    if mt and mdv and not (key == "fill_8" and fill == "import"):
        ratio = (mdv / mt) if higher else (mt / mdv)
    cpu = lambda s: (f"{fmt(med(vals(key, s, 'server_cpu_s')))} / {fmt(med(vals(key, s, 'client_cpu_s')))}"
                     if "per_" not in key else "")
    out.append(f"| {label} | {unit} | {cell(t)} | {cell(d)} | {fmt(ratio)} | {cpu('tjstore')} | {cpu('dovecot')} |")
    summary[key] = {"label": label, "unit": unit, "tjstore": t, "dovecot": d, "ratio": ratio,
                    "higher_is_better": higher}
counts = []
for op in ("login_select", "fetch_flags", "fetch_envelope", "search_from", "search_body", "store_seen", "expunge10"):
    counts.append(f"{op} {med(vals(op + '_count', 'tjstore'))}/{med(vals(op + '_count', 'dovecot'))}")
out.append("")
out.append("Responses counted (tjstore/Dovecot): " + ", ".join(
    c.replace("None", "n/a").replace(".0", "") for c in counts) + ".")
out.append("Memory rows: the CPU columns are empty; login CPU is in the JSON. "
           "RSS and PSS are summed over all the server's processes (Dovecot: master, login, auth, imap, ...).")
text = "\n".join(out) + "\n"
print(text)
open(md, "w").write(text)
json.dump({"date": datetime.datetime.utcnow().isoformat() + "Z", "n": n, "reps": reps, "conns": conns, "fill": fill,
           "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
           "summary": summary, "raw": data}, open(js, "w"), indent=1)
PY
note "wrote $md and $json"
