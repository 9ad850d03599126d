#!/usr/bin/env bash
# run.sh - the benchmark harness: tjstore against Dovecot, side by side, on
# this machine (issue: benchmark harness; and issue 4's delivery throughput).
# Not a test: run by hand, as root (Dovecot switches to the vmail user).
#
#   bench/run.sh [REPS]               REPS runs of each workload (default 3)
#   N=20000 CONNS=200 bench/run.sh 1  a quick check
#
# Environment:
#   BUILD      build tree (default build/, the README's); configured Release
#              when it has no CMakeCache.txt, then tjstored, tjstore-cli,
#              deliver-bench and imap-bench are built in it
#   N          messages in the W3 mailbox (default 100000)
#   CONNS      IDLE connections for W5 (default 1000)
#   SESSIONS   concurrent delivery sessions for W1/W6 (default 8)
#   USERS      recipients of the "several users" W1 runs (default 8)
#   W2_SECONDS length of one APPEND run (default 4)
#   FILL       how Dovecot's W3 mailbox is filled: import (default: doveadm
#              import of the same messages) or imap (APPEND, about 5 minutes)
#   RULES_FILE spam rules for W6's "ClamAV + spam" runs (scan.rules_file):
#              default /usr/share/spamassassin (Debian's spamassassin
#              package, installed by tools/deps.sh with TESTS=1) when it
#              exists; RULES_FILE= (empty) runs without rules (Bayes only)
#   ONLY       a subset of "w1 w2 w3 w5" (W4 comes with w1, W6 with w1)
#   SKIP_BUILD=1  use the binaries already in BUILD
#   TJ_CORPUS  the corpus tarball;  KEEP=1 keeps the temp dir
#
# What it does (bench/README.md, "The harness"): installs Dovecot if it is
# missing, starts Dovecot (mdbox, default fsync settings, quota, SPECIAL-USE)
# and tjstored nodes in a temp dir on loopback ports with the same users and
# password hash, and runs each workload against both, alternating server by
# server within each repetition:
#   W1 LMTP delivery of the shared corpus (3,250 messages), SESSIONS sessions,
#      to USERS users (session i delivers to user i mod USERS) and to one
#      user; tjstore also over SMTP.  deliver-bench (C, epoll, pipelining).
#   W2 IMAP APPEND over 1 and 8 connections (imap-bench append)
#   W3 an N-message mailbox: LOGIN+SELECT, FETCH FLAGS/ENVELOPE, SEARCH
#      FROM/BODY, STORE \Seen, EXPUNGE 10% (imap-bench bigops); tjstore's
#      filled over APPEND, Dovecot's by doveadm import (FILL)
#   W4 du of the mail directory after the W1 LMTP runs / messages stored
#   W5 peak RSS/PSS (summed over the server's processes, sampled every 200 ms)
#      during W1 and the W3 operations, and with CONNS IDLE connections
#      (imap-bench conns)
#   W6 tjstore's W1 (LMTP, USERS users) with scanning off, ClamAV only, and
#      ClamAV + spam scoring: the cost per message
# Every W1 run gets a freshly started server process.  Results: a Markdown
# table on stdout and in bench/results/harness-DATE.md, everything (every
# run's raw figures) in bench/results/harness-DATE.json.  Everything started
# is stopped by pid on exit.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
reps=${1:-3}
N=${N:-100000}
CONNS=${CONNS:-1000}
SESSIONS=${SESSIONS:-8}
USERS=${USERS:-8}
W2_SECONDS=${W2_SECONDS:-4}
if [ -z "${RULES_FILE+set}" ] && [ -d /usr/share/spamassassin ]; then RULES_FILE=/usr/share/spamassassin; fi
RULES_FILE=${RULES_FILE:-}
FILL=${FILL:-import}
ONLY=${ONLY:-w1 w2 w3 w5}
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
hb_t0=$(date +%s)
. "$top/bench/lib.sh"
cd "$top"
want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

if [ "$(id -u)" -ne 0 ]; then
	echo "run.sh: run as root (Dovecot switches to the vmail user; it may need installing)" >&2
	exit 2
fi
hb_install_dovecot
hb_vmail
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- build ----
if [ "${SKIP_BUILD:-0}" != 1 ]; then
	if [ ! -f "$BUILD/CMakeCache.txt" ]; then
		cmake -S "$top" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
	fi
	cmake --build "$BUILD" -j"$(nproc)" --target tjstored tjstore-cli deliver-bench imap-bench >"$BUILD/harness-build.log" 2>&1 ||
		{ echo "run.sh: build failed, see $BUILD/harness-build.log" >&2; exit 1; }
fi
build_type=$(awk -F= '/^CMAKE_BUILD_TYPE:/ {print $2}' "$BUILD/CMakeCache.txt")
case $build_type in Release | RelWithDebInfo) ;; *) echo "run.sh: warning: $BUILD is a '$build_type' build, not Release" >&2 ;; esac

# ---- the temp dir, cleaned up on exit ----
work=$(mktemp -d /tmp/tj-harness.XXXXXX)
chmod 755 "$work" # Dovecot's auth process reads the passwd file inside it
on_exit() {
	set +e
	hb_cleanup
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM
raw=$work/raw
mkdir -p "$raw"
hb_unpack_corpus "$work/corpus"
# copies of the binaries: a rebuild of $BUILD during the run changes nothing
mkdir -p "$work/bin"
for b in tjstored tjstore-cli bench/deliver-bench bench/imap-bench; do
	[ -x "$BUILD/$b" ] || { echo "run.sh: $BUILD/$b is missing" >&2; exit 1; }
	cp "$BUILD/$b" "$work/bin/"
done
TJD=$work/bin/tjstored
CLI=$work/bin/tjstore-cli
DB=$work/bin/deliver-bench
IB=$work/bin/imap-bench

# ---- users: the same names and password hash on both servers ----
PASS=bench-pw-$RANDOM$RANDOM
hash=$(printf '%s' "$PASS" | openssl passwd -6 -stdin) # SHA-512-crypt: a LOGIN costs a few ms on both
# W1: each repetition delivers into users of its own, empty at the start
# (r1u1..r1u8 and r1one, ...): every repetition measures the same thing
# (Dovecot's cost per delivery grows with the size of the mailbox)
w1_all=()
for ((r = 1; r <= reps; r++)); do
	for ((i = 1; i <= USERS; i++)); do w1_all+=("r${r}u$i"); done
	w1_all+=("r${r}one")
done
all_users=("${w1_all[@]}" bench)
tmpl=$work/template
mkdir -p "$tmpl"
# one `users import` (the site's CSV: quota in MiB) instead of a `users add`
# per user; the password file is ours, with the hash Dovecot gets too
for u in "${all_users[@]}"; do echo "$u,102400,override,enabled"; done | LC_ALL=C sort >"$tmpl/users.csv"
"$CLI" --data-dir "$tmpl/data" users import "$tmpl/users.csv" >/dev/null
for u in "${all_users[@]}"; do printf '%s:%s\n' "$u" "$hash"; done >"$tmpl/data/passwd"
hb_clamav_db "$tmpl/clamav"

# tjstore instances, each its own dir (a copy of the template) and ports:
#   off-lmtp, off-smtp  W1 with scanning off (W4 is du of off-lmtp)
#   clamav, clamspam    W6
#   imap                W2, W3;  idle  W5
declare -A tj_imap tj_smtp tj_lmtp
for inst in off-lmtp off-smtp clamav clamspam imap idle; do
	d=$work/tj-$inst
	mkdir -p "$d"
	cp -a "$tmpl/data" "$tmpl/clamav" "$d/"
	tj_imap[$inst]=$(hb_free_port)
	tj_smtp[$inst]=$(hb_free_port)
	tj_lmtp[$inst]=$(hb_free_port)
	hb_tj_conf "$d/tjstored.conf" "$d" "${tj_imap[$inst]}" "${tj_smtp[$inst]}" "${tj_lmtp[$inst]}"
done
tj_sets() { # instance -> --set arguments
	case $1 in
	clamav) echo --set scan.clamav=yes --set scan.spam=no ;;
	clamspam)
		echo --set scan.clamav=yes --set scan.spam=yes
		if [ -n "$RULES_FILE" ]; then echo --set "scan.rules_file=$RULES_FILE"; fi
		;;
	*) echo --set scan.clamav=no --set scan.spam=no ;;
	esac
}
tj_pid=
tj_up() { # instance
	# shellcheck disable=SC2046
	hb_tj_start tj_pid "$TJD" "$work/tj-$1/tjstored.conf" "$work/tj-$1/tjstored.log" "${tj_imap[$1]}" $(tj_sets "$1")
}
tj_down() { [ -n "$tj_pid" ] && hb_tj_stop "$tj_pid"; tj_pid=; }

# Dovecot: one instance, the same users
D=$work/dovecot
mkdir -p "$D"
for u in "${all_users[@]}"; do printf '%s:{CRYPT}%s::::::\n' "$u" "$hash"; done >"$D/passwd"
chmod 644 "$D/passwd"
dc_imap=$(hb_free_port)
dc_lmtp=$(hb_free_port)
dc_conf=$D/dovecot.conf
hb_dc_conf "$dc_conf" "$D" "$dc_imap" "$dc_lmtp"
dc_pid=
dc_up() { hb_dc_start dc_pid "$dc_conf" "$dc_imap"; }
dc_down() { [ -n "$dc_pid" ] && hb_dc_stop "$dc_conf"; dc_pid=; }

# ---- measuring helpers ----
watch_pid=
watch_start() { # server-pid file
	"$DB" watch --pid "$1" --interval-ms 200 >"$2" &
	watch_pid=$!
	hb_track "$watch_pid"
}
watch_stop() {
	hb_stop_pid "$watch_pid"
	hb_untrack "$watch_pid"
	watch_pid=
}
field() { grep -E "^$1=" "$2" | head -1 | cut -d= -f2-; }

# w1_run SERVER INSTANCE PROTO TARGET LABEL REP: one delivery run of the
# corpus on a freshly started server; TARGET is "users" or "one"
w1_run() {
	local srv=$1 inst=$2 proto=$3 target=$4 label=$5 rep=$6 pid port f i rc=()
	f=$raw/w1.$label.$srv.$rep
	if [ "$srv" = tjstore ]; then
		tj_up "$inst"
		pid=$tj_pid
		if [ "$proto" = smtp ]; then port=${tj_smtp[$inst]}; else port=${tj_lmtp[$inst]}; fi
	else
		dc_up
		pid=$dc_pid
		port=$dc_lmtp
	fi
	if [ "$target" = one ]; then
		rc=(--rcpt "r${rep}one@bench.test")
	else
		for ((i = 1; i <= USERS; i++)); do rc+=(--rcpt "r${rep}u$i@bench.test"); done
	fi
	echo "load1=$(cut -d' ' -f1 /proc/loadavg)" >"$f.load"
	watch_start "$pid" "$f.mem"
	"$DB" send --port "$port" --proto "$proto" --sessions "$SESSIONS" --corpus "$work/corpus" \
		"${rc[@]}" --seconds 300 --pid "$pid" >"$f" 2>"$f.err" || echo "exit=$?" >>"$f"
	watch_stop
	sed 's/^/mem_/' "$f.mem" >>"$f"
	cat "$f.load" >>"$f"
	if [ "$srv" = tjstore ]; then tj_down; else dc_down; fi
	hb_note "W1 $label $srv rep $rep: $(field msgs_per_s "$f") msgs/s, $(field mb_per_s "$f") MB/s," \
		"failed $(field messages_failed "$f"), server CPU $(field server_cpu_s "$f") s," \
		"generator $(field client_cpu_s "$f") s, peak RSS $(field mem_peak_rss_kb "$f") KB, load $(field load1 "$f")"
	[ -s "$f.err" ] && head -3 "$f.err" >&2
	return 0
}

# ---- W1, W4, W6: delivery ----
if want w1; then
	for ((rep = 1; rep <= reps; rep++)); do
		w1_run tjstore off-lmtp lmtp users lmtp_users "$rep"
		w1_run dovecot - lmtp users lmtp_users "$rep"
		w1_run tjstore off-lmtp lmtp one lmtp_one "$rep"
		w1_run dovecot - lmtp one lmtp_one "$rep"
		w1_run tjstore off-smtp smtp users smtp_users "$rep"
		w1_run tjstore off-smtp smtp one smtp_one "$rep"
		w1_run tjstore clamav lmtp users lmtp_users_clamav "$rep"
		w1_run tjstore clamspam lmtp users lmtp_users_clamspam "$rep"
	done
	# W4: both servers are stopped (tjstored gives its preallocated tails back)
	{
		echo "du_kb=$(du -sk "$work/tj-off-lmtp/data" | cut -f1)"
		echo "apparent_bytes=$(du -sb "$work/tj-off-lmtp/data" | cut -f1)"
		echo "messages=$(cat "$raw"/w1.lmtp_users.tjstore.* "$raw"/w1.lmtp_one.tjstore.* | awk -F= '$1=="messages"{s+=$2} END{print s+0}')"
	} >"$raw/w4.tjstore"
	dirs=()
	for u in "${w1_all[@]}"; do [ -d "$D/mail/$u" ] && dirs+=("$D/mail/$u"); done
	{
		echo "du_kb=$(du -skc "${dirs[@]}" | tail -1 | cut -f1)"
		echo "apparent_bytes=$(du -sbc "${dirs[@]}" | tail -1 | cut -f1)"
		echo "messages=$(cat "$raw"/w1.lmtp_users.dovecot.* "$raw"/w1.lmtp_one.dovecot.* | awk -F= '$1=="messages"{s+=$2} END{print s+0}')"
	} >"$raw/w4.dovecot"
	hb_note "W4 tjstore: $(tr '\n' ' ' <"$raw/w4.tjstore")"
	hb_note "W4 dovecot: $(tr '\n' ' ' <"$raw/w4.dovecot")"
	rm -rf "$work"/tj-off-smtp/data "$work"/tj-clamav/data "$work"/tj-clamspam/data
fi

# ---- W2, W3: IMAP (both servers up; runs alternate) ----
ib_common() { # server -> imap-bench's common arguments
	if [ "$1" = tjstore ]; then
		echo --port "${tj_imap[imap]}" --pid "$tj_pid" --user bench --pass "$PASS"
	else
		echo --port "$dc_imap" --pid "$dc_pid" --user bench --pass "$PASS"
	fi
}
# dc_import TAG COUNT OUT - COUNT messages into Dovecot's INBOX of "bench"
# with `doveadm import` from an mbox: the messages imap-bench appends when
# asked for COUNT (the corpus's mail of 2900-5000 bytes in CRLF, in its
# order, from the first, each behind an X-Bench-Seq field), so both servers
# hold the same mail
dc_import() {
	local tag=$1 count=$2 out=$3 src=$work/import t0 t1
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
    crlf = len(o) + o.count(b"\n")
    if 2900 <= crlf <= 5000:
        msgs.append(o.replace(b"\nFrom ", b"\n>From "))
def load_dir(d, depth):  # names in strcmp order, as imap-bench
    for name in sorted(os.listdir(d), key=os.fsencode):
        if name.startswith("."):
            continue
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
	doveadm -c "$dc_conf" import -u bench "mbox:$src:INBOX=$src/in.mbox" "" all >"$out.log" 2>&1 ||
		echo "exit=$?" >>"$out"
	t1=$(date +%s.%N)
	{
		echo "appended=$count"
		echo "seconds=$(echo "$t1 $t0" | awk '{printf "%.3f", $1 - $2}')"
		echo "msgs_per_s=$(echo "$count $t1 $t0" | awk '{printf "%.1f", $1 / ($2 - $3)}')"
		echo "method=doveadm-import"
	} >>"$out"
	rm -rf "$src"
}
if want w2 || want w3; then
	tj_up imap
	dc_up
	if want w2; then
		for c in 1 8; do
			for ((rep = 1; rep <= reps; rep++)); do
				for srv in tjstore dovecot; do
					f=$raw/w2.append_$c.$srv.$rep
					# shellcheck disable=SC2046
					"$IB" append $(ib_common $srv) --mailbox Drafts --conns "$c" --count 10000000 \
						--seconds "$W2_SECONDS" --corpus "$work/corpus" >"$f" 2>"$f.err" || echo "exit=$?" >>"$f"
					hb_note "W2 APPEND $c conn $srv rep $rep: $(field msgs_per_s "$f") msgs/s"
				done
			done
		done
	fi
	if want w3; then
		# the fill (untimed): tjstore over IMAP APPEND on 16 connections
		# (APPEND stores the parsed MIME structure, an import would not);
		# Dovecot by default with `doveadm import` of an mbox holding the
		# same messages (the same save path as APPEND, 5-10x faster than its
		# APPEND), or over APPEND too with FILL=imap (then both on 8)
		fill_conns=16
		[ "$FILL" = imap ] && fill_conns=8
		for srv in tjstore dovecot; do
			f=$raw/w3.fill.$srv.1
			if [ "$srv" = dovecot ] && [ "$FILL" = import ]; then
				dc_import fill "$N" "$f"
			else
				# shellcheck disable=SC2046
				"$IB" append $(ib_common $srv) --mailbox INBOX --conns "$fill_conns" --count "$N" --seconds 1500 \
					--corpus "$work/corpus" >"$f" 2>"$f.err" || echo "exit=$?" >>"$f"
			fi
			hb_note "W3 fill $srv: $(field appended "$f") messages, $(field msgs_per_s "$f") msgs/s"
		done
		mem_tj=$raw/w3.mem.tjstore
		mem_dc=$raw/w3.mem.dovecot
		"$DB" watch --pid "$tj_pid" --interval-ms 200 >"$mem_tj" &
		w_tj=$!
		hb_track "$w_tj"
		"$DB" watch --pid "$dc_pid" --interval-ms 200 >"$mem_dc" &
		w_dc=$!
		hb_track "$w_dc"
		for ((rep = 1; rep <= reps; rep++)); do
			for srv in tjstore dovecot; do
				f=$raw/w3.bigops.$srv.$rep
				# shellcheck disable=SC2046
				"$IB" bigops $(ib_common $srv) --mailbox INBOX --from hotmail.com --body mortgage \
					--seconds 600 >"$f" 2>"$f.err" || echo "exit=$?" >>"$f"
				hb_note "W3 $srv rep $rep: $(grep -E '_ms=' "$f" | tr '\n' ' ')"
				gone=$(field expunge10_count "$f")
				if [ "$rep" -lt "$reps" ] && [ -n "$gone" ] && [ "$gone" -gt 0 ]; then
					# put the expunged 10% back (untimed): every run sees N messages
					if [ "$srv" = dovecot ] && [ "$FILL" = import ]; then
						dc_import "refill$rep" "$gone" "$raw/w3.refill.$rep"
					else
						# shellcheck disable=SC2046
						"$IB" append $(ib_common $srv) --mailbox INBOX --conns "$fill_conns" --count "$gone" --seconds 600 \
							--corpus "$work/corpus" >/dev/null 2>&1 || true
					fi
				fi
			done
		done
		for w in "$w_tj" "$w_dc"; do hb_stop_pid "$w"; hb_untrack "$w"; done
		hb_note "W3 memory tjstore: $(tr '\n' ' ' <"$mem_tj")"
		hb_note "W3 memory dovecot: $(tr '\n' ' ' <"$mem_dc")"
	fi
	tj_down
	dc_down
fi

# ---- W5: CONNS IDLE connections, each on a freshly started server ----
if want w5; then
	for srv in tjstore dovecot; do
		if [ "$srv" = tjstore ]; then
			tj_up idle
			args=(--port "${tj_imap[idle]}" --pid "$tj_pid")
		else
			dc_up
			args=(--port "$dc_imap" --pid "$dc_pid")
		fi
		f=$raw/w5.idle.$srv.1
		"$IB" conns "${args[@]}" --user bench --pass "$PASS" --conns "$CONNS" --mailbox Trash --seconds 300 \
			--settle 1 >"$f" 2>"$f.err" || echo "exit=$?" >>"$f"
		hb_note "W5 $srv: $(grep -E 'idle_rss_kb|idle_pss_kb|authed=|idling=|login_s' "$f" | tr '\n' ' ')"
		if [ "$srv" = tjstore ]; then tj_down; else dc_down; fi
	done
fi

# ---- the table ----
mkdir -p "$top/bench/results"
stamp=$(date -u +%Y%m%d-%H%M)
tag=""
[ "$N" != 100000 ] && tag="-n$N"
md=$top/bench/results/harness-$stamp$tag.md
json=$top/bench/results/harness-$stamp$tag.json
t_total=$(($(date +%s) - hb_t0))
commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$top" status --porcelain --untracked-files=no 2>/dev/null | grep -vc '^?? ' || true)
python3 -  "$raw" "$md" "$json" \
	"reps=$reps" "n=$N" "conns=$CONNS" "sessions=$SESSIONS" "users=$USERS" "w2_seconds=$W2_SECONDS" \
	"seconds=$t_total" "fill=$FILL" "commit=$commit" "dirty_files=$dirty" "build=$BUILD" "build_type=$build_type" \
	"dovecot=$(dovecot --version | cut -d' ' -f1)" "load_start=$load_start" \
	"load_end=$(cut -d' ' -f1-3 /proc/loadavg)" "rules_file=$RULES_FILE" \
	"corpus_messages=$(find "$work/corpus" -type f | wc -l)" <<'PY'
# the harness's table: raw key=value files -> Markdown + JSON
import datetime, glob, json, os, platform, statistics, sys

rawdir, md_path, js_path = sys.argv[1:4]
meta = dict(a.split("=", 1) for a in sys.argv[4:])
for k in ("reps", "n", "conns", "sessions", "users", "w2_seconds", "seconds", "corpus_messages"):
    meta[k] = int(meta[k])

def parse(path):
    d = {}
    for line in open(path, errors="replace"):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            try:
                d[k] = float(v)
            except ValueError:
                d[k] = v
    return d

runs = {}  # (workload, label, server) -> [dict per rep]
for path in sorted(glob.glob(os.path.join(rawdir, "*"))):
    name = os.path.basename(path)
    if name.endswith((".err", ".mem")):
        continue
    parts = name.split(".")
    if len(parts) == 4:
        w, label, srv, rep = parts
    elif len(parts) == 3:   # w3.mem.SERVER
        w, label, srv = parts
    elif len(parts) == 2:   # w4.SERVER
        w, srv = parts
        label = "du"
    else:
        continue
    runs.setdefault((w, label, srv), []).append(parse(path))

def vals(w, label, srv, key, fn=None):
    out = []
    for r in runs.get((w, label, srv), []):
        if fn:
            v = fn(r)
        else:
            v = r.get(key)
        if isinstance(v, float):
            out.append(v)
    return out

med = lambda v: statistics.median(v) if v else None

def fmt(x, unit=""):
    if x is None:
        return "n/a"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"

def cell(v):
    if not v:
        return "n/a"
    if len(v) == 1:
        return fmt(v[0])
    return f"{fmt(med(v))} ({fmt(min(v))}–{fmt(max(v))})"

def cpu(w, label, srv, skey="server_cpu_s", ckey="client_cpu_s"):
    s, c = vals(w, label, srv, skey), vals(w, label, srv, ckey)
    if not s and not c:
        return ""
    return f"{fmt(med(s))} / {fmt(med(c))}"

rows, summary = [], {}

def row(key, label, unit, t, d, higher, tcpu="", dcpu="", note=""):
    mt, mdv = med(t), med(d)
    adv = None
    if mt and mdv:
        adv = mt / mdv if higher else mdv / mt
    rows.append(f"| {label} | {unit} | {cell(t)} | {cell(d)} | {fmt(adv) + '×' if adv else 'n/a'} | {tcpu} | {dcpu} |")
    summary[key] = {"label": label, "unit": unit, "tjstore": t, "dovecot": d,
                    "tjstore_median": mt, "dovecot_median": mdv,
                    "advantage": adv, "higher_is_better": higher, "note": note}

S, U = meta["sessions"], meta["users"]
head = ("| workload | unit | tjstore | Dovecot | tjstore advantage (>1: tjstore better) "
        "| CPU s tjstore: server / generator | CPU s Dovecot: server / generator |")
sep = "|---|---|---|---|---|---|---|"

# W1
w1 = [("lmtp_users", "lmtp_users", f"LMTP, {S} sessions, {U} users"),
      ("lmtp_one", "lmtp_one", f"LMTP, {S} sessions, 1 user"),
      ("smtp_users", "lmtp_users", f"tjstore SMTP vs Dovecot LMTP, {S} sessions, {U} users"),
      ("smtp_one", "lmtp_one", f"tjstore SMTP vs Dovecot LMTP, {S} sessions, 1 user")]
rows.append(f"**W1: delivery of the corpus ({meta['corpus_messages']:,} messages), each run on a freshly started server**\n")
rows += [head, sep]
for tl, dl, label in w1:
    for key, unit in (("msgs_per_s", "msgs/s"), ("mb_per_s", "MB/s")):
        row(f"w1_{tl}_{key}", f"W1 {label}", unit, vals("w1", tl, "tjstore", key),
            vals("w1", dl, "dovecot", key), True, cpu("w1", tl, "tjstore"), cpu("w1", dl, "dovecot"))
for tl, dl, label in w1[:2]:
    row(f"w1_{tl}_latency", f"W1 {label}: mean time per transaction", "ms",
        vals("w1", tl, "tjstore", "latency_avg_ms"), vals("w1", dl, "dovecot", "latency_avg_ms"), False)

# W2, W3
rows.append("\n**W2, W3: IMAP (imap-bench; messages of 2.9–5 KB from the corpus)**\n")
rows += [head, sep]
for c in (1, 8):
    row(f"w2_append_{c}", f"W2 APPEND, {c} connection{'s' if c > 1 else ''} ({meta['w2_seconds']} s runs)", "msgs/s",
        vals("w2", f"append_{c}", "tjstore", "msgs_per_s"), vals("w2", f"append_{c}", "dovecot", "msgs_per_s"),
        True, cpu("w2", f"append_{c}", "tjstore"), cpu("w2", f"append_{c}", "dovecot"))
if meta["fill"] == "imap":
    row("w3_fill", f"W3 fill: APPEND of {meta['n']:,} messages, 8 connections (1 run)", "msgs/s",
        vals("w3", "fill", "tjstore", "msgs_per_s"), vals("w3", "fill", "dovecot", "msgs_per_s"), True,
        cpu("w3", "fill", "tjstore"), cpu("w3", "fill", "dovecot"))
else:
    rows.append(f"| W3 fill of {meta['n']:,} messages (1 run; tjstore: APPEND over 16 connections; Dovecot: "
                f"doveadm import, not comparable) | msgs/s | {cell(vals('w3', 'fill', 'tjstore', 'msgs_per_s'))} "
                f"| {cell(vals('w3', 'fill', 'dovecot', 'msgs_per_s'))} | | {cpu('w3', 'fill', 'tjstore')} | |")
ops = [("login_select", "LOGIN+SELECT"), ("fetch_flags", "UID FETCH 1:* (FLAGS)"),
       ("fetch_envelope", "FETCH 1:* (ENVELOPE)"), ("search_from", "UID SEARCH FROM hotmail.com"),
       ("search_body", "UID SEARCH BODY mortgage"), ("store_seen", "STORE 1:* +FLAGS (\\Seen)"),
       ("expunge10", "EXPUNGE of 10% (STORE \\Deleted + EXPUNGE)")]
for op, label in ops:
    row(f"w3_{op}", f"W3 {label}, {meta['n']:,} messages", "ms",
        vals("w3", "bigops", "tjstore", f"{op}_ms"), vals("w3", "bigops", "dovecot", f"{op}_ms"), False,
        cpu("w3", "bigops", "tjstore", f"{op}_server_cpu_s", f"{op}_client_cpu_s"),
        cpu("w3", "bigops", "dovecot", f"{op}_server_cpu_s", f"{op}_client_cpu_s"))

# W4, W5
rows.append("\n**W4, W5: disk and memory**\n")
rows += [head, sep]
per_msg = lambda r: (r["du_kb"] * 1024 / r["messages"]) if r.get("messages") else None
raw_avg = None
b = vals("w1", "lmtp_users", "tjstore", "bytes")
m = vals("w1", "lmtp_users", "tjstore", "messages")
if b and m and sum(m):
    raw_avg = sum(b) / sum(m)
row("w4_bytes_per_msg", "W4 bytes on disk per message after the W1 LMTP runs (du"
    + (f"; the messages average {raw_avg:,.0f} bytes" if raw_avg else "") + ")", "bytes",
    vals("w4", "du", "tjstore", None, per_msg), vals("w4", "du", "dovecot", None, per_msg), False)
mb = lambda k: (lambda r: r[k] / 1024 if isinstance(r.get(k), float) else None)
row("w5_rss_w1", f"W5 peak RSS during W1 LMTP {U} users (sum over processes)", "MB",
    vals("w1", "lmtp_users", "tjstore", None, mb("mem_peak_rss_kb")),
    vals("w1", "lmtp_users", "dovecot", None, mb("mem_peak_rss_kb")), False)
row("w5_pss_w1", f"W5 peak PSS during W1 LMTP {U} users", "MB",
    vals("w1", "lmtp_users", "tjstore", None, mb("mem_peak_pss_kb")),
    vals("w1", "lmtp_users", "dovecot", None, mb("mem_peak_pss_kb")), False)
row("w5_anon_w1", f"W5 peak anonymous RSS (heap, stacks) during W1 LMTP {U} users", "MB",
    vals("w1", "lmtp_users", "tjstore", None, mb("mem_peak_anon_kb")),
    vals("w1", "lmtp_users", "dovecot", None, mb("mem_peak_anon_kb")), False)
row("w5_rss_w3", "W5 peak RSS during the W3 operations", "MB",
    vals("w3", "mem", "tjstore", None, mb("peak_rss_kb")), vals("w3", "mem", "dovecot", None, mb("peak_rss_kb")), False)
row("w5_pss_w3", "W5 peak PSS during the W3 operations", "MB",
    vals("w3", "mem", "tjstore", None, mb("peak_pss_kb")), vals("w3", "mem", "dovecot", None, mb("peak_pss_kb")), False)
row("w5_anon_w3", "W5 peak anonymous RSS during the W3 operations", "MB",
    vals("w3", "mem", "tjstore", None, mb("peak_anon_kb")), vals("w3", "mem", "dovecot", None, mb("peak_anon_kb")), False)
row("w5_rss_idle", f"W5 RSS with {meta['conns']:,} IDLE connections (whole server)", "MB",
    vals("w5", "idle", "tjstore", None, mb("idle_rss_kb")), vals("w5", "idle", "dovecot", None, mb("idle_rss_kb")), False)
row("w5_pss_idle", f"W5 PSS with {meta['conns']:,} IDLE connections", "MB",
    vals("w5", "idle", "tjstore", None, mb("idle_pss_kb")), vals("w5", "idle", "dovecot", None, mb("idle_pss_kb")), False)
row("w5_pss_per_idle", "W5 PSS per IDLE connection", "KB",
    vals("w5", "idle", "tjstore", "pss_per_idle_kb"), vals("w5", "idle", "dovecot", "pss_per_idle_kb"), False)

# W6
rows.append(f"\n**W6: the cost of scanning (tjstore, LMTP, {S} sessions, {U} users; spam rules: "
            f"{meta['rules_file'] or 'none (scan.rules_file unset)'}; ClamAV: one test signature)**\n")
rows.append("| scanning | msgs/s | server CPU ms per message | added CPU ms per message | added elapsed ms per message | mean ms per transaction |")
rows.append("|---|---|---|---|---|---|")
cpu_per = lambda r: r["server_cpu_s"] * 1000 / r["messages"] if r.get("messages") else None
base_rate = med(vals("w1", "lmtp_users", "tjstore", "msgs_per_s"))
base_cpu = med(vals("w1", "lmtp_users", "tjstore", None, cpu_per))
w6 = {}
for lab, name in (("lmtp_users", "off (scan.clamav=no, scan.spam=no)"), ("lmtp_users_clamav", "ClamAV only"),
                  ("lmtp_users_clamspam", "ClamAV + spam scoring")):
    rate = vals("w1", lab, "tjstore", "msgs_per_s")
    c = vals("w1", lab, "tjstore", None, cpu_per)
    lat = vals("w1", lab, "tjstore", "latency_avg_ms")
    add_cpu = med(c) - base_cpu if c and base_cpu is not None and lab != "lmtp_users" else None
    add_wall = (1000 / med(rate) - 1000 / base_rate) if rate and base_rate and lab != "lmtp_users" else None
    w6[lab] = {"msgs_per_s": rate, "server_cpu_ms_per_msg": c, "latency_avg_ms": lat,
               "added_cpu_ms_per_msg": add_cpu, "added_elapsed_ms_per_msg": add_wall}
    rows.append(f"| {name} | {cell(rate)} | {cell(c)} | {fmt(add_cpu) if add_cpu is not None else '–'} "
                f"| {fmt(add_wall) if add_wall is not None else '–'} | {cell(lat)} |")

# targets, failures, the generator's share
notes = []
adv = summary["w1_lmtp_users_msgs_per_s"]["advantage"]
adv1 = summary["w1_lmtp_one_msgs_per_s"]["advantage"]
sadv = summary["w1_smtp_users_msgs_per_s"]["advantage"]
sadv1 = summary["w1_smtp_one_msgs_per_s"]["advantage"]
f2 = lambda x: f"{x:.2f}×" if x else "n/a"
notes.append(f"- Issue 4 target, tjstore ≥ 2× Dovecot's LMTP rate with scanning off: LMTP {f2(adv)} ({U} users), "
             f"{f2(adv1)} (1 user); SMTP {f2(sadv)} ({U} users), {f2(sadv1)} (1 user).")
for lab, name in (("lmtp_users_clamav", "ClamAV only"), ("lmtp_users_clamspam", "ClamAV + spam")):
    a = w6[lab]["added_cpu_ms_per_msg"]
    if a is not None:
        notes.append(f"- Issue 4 target, scanning ≤ 3 ms per average message: {name} adds {a:.2f} ms of server CPU "
                     f"per message ({'met' if a <= 3 else 'missed'}); elapsed time per message at {S} sessions "
                     f"+{w6[lab]['added_elapsed_ms_per_msg']:.2f} ms.")
gen = []
for (w, label, srv), rs in runs.items():
    for r in rs:
        cc, sc = r.get("client_cpu_s"), r.get("server_cpu_s")
        t = r.get("seconds")
        if isinstance(cc, float) and isinstance(sc, float) and sc > 0:
            gen.append((cc / sc, cc / t if isinstance(t, float) and t > 0 else 0, w, label, srv))
if gen:
    g = max(gen)
    gw = max(gen, key=lambda x: x[1])
    w1g = [x for x in gen if x[2] == "w1"]
    notes.append(f"- The generator's CPU: at most {g[0]*100:.0f}% of the server's ({g[2]} {g[3]} {g[4]}), "
                 f"at most {gw[1]*100:.0f}% of one core ({gw[2]} {gw[3]} {gw[4]})"
                 + (f"; in W1, {max(x[0] for x in w1g)*100:.0f}% of the server's at most." if w1g else "."))
fails = []
for (w, label, srv), rs in sorted(runs.items()):
    for r in rs:
        for k in ("messages_failed", "rcpt_failed", "connection_errors", "failures", "exit"):
            if isinstance(r.get(k), float) and r[k] > 0:
                fails.append(f"{w} {label} {srv}: {k}={r[k]:.0f}" + (f" ({r['first_error']})" if "first_error" in r else ""))
notes.append("- Failures: " + ("; ".join(fails) if fails else "none (every delivery got its 250s, every IMAP command its OK)."))
counts = []
for op, _ in ops:
    t, d = vals("w3", "bigops", "tjstore", f"{op}_count"), vals("w3", "bigops", "dovecot", f"{op}_count")
    counts.append(f"{op} {fmt(t[0]) if t else 'n/a'}/{fmt(d[0]) if d else 'n/a'}")
notes.append("- W3 responses counted in the first run (tjstore/Dovecot; later runs differ by a few hits, as the "
             "expunged 10% and their replacements are not quite the same messages on both): " + ", ".join(counts) + ".")

hdr = (f"Harness run {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, commit {meta['commit']}"
       f"{' (+%s changed files)' % meta['dirty_files'] if meta['dirty_files'] not in ('', '0') else ''}, "
       f"{meta['build_type']} build, Dovecot {meta['dovecot']} (mdbox, default fsync), "
       f"{os.cpu_count()} CPUs, load {meta['load_start']} at the start, {meta['load_end']} at the end. "
       f"{meta['reps']} runs each, median (min–max); total {meta['seconds'] // 60} min {meta['seconds'] % 60} s.\n")
text = hdr + "\n" + "\n".join(rows) + "\n\n" + "\n".join(notes) + "\n"
print(text)
open(md_path, "w").write(text)
json.dump({"date": datetime.datetime.utcnow().isoformat() + "Z", "meta": meta,
           "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
           "summary": summary, "w6": w6,
           "raw": {f"{w}.{label}.{srv}": rs for (w, label, srv), rs in sorted(runs.items())}},
          open(js_path, "w"), indent=1)
PY
hb_note "wrote $md and $json (total $t_total s)"
