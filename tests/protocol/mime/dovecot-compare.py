#!/usr/bin/env python3
"""dovecot-compare.py - differential test of protocol/mime against Dovecot.

Usage: dovecot-compare.py MIME_DUMP CORPUS.tar.zst [--threshold PCT] [--limit N]

Unpacks the corpus into a temp dir, starts Dovecot (dovecot-imapd) there on a
free loopback port, APPENDs every message (CRLF-normalised, as IMAP requires),
FETCHes ENVELOPE, BODYSTRUCTURE, BODY.PEEK[1] and RFC822.SIZE for each, runs
mime-dump on the same CRLF bytes and compares message by message.  Prints the
match counts and the first differences; exits 1 if fewer than the threshold
match on every item.  Dovecot is stopped and the temp dir removed on every exit
path.  If Dovecot is not installed it prints "skipped: ..." and exits 0.
Standard library only.
"""
import hashlib
import imaplib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time

TIME_LIMIT = 840          # seconds for the whole run (CTest allows 900)
DEFAULT_THRESHOLD = 100.0  # percent of messages that must match on every item
SHOW_DIFFS = 5


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def crlf(data):
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def escape(b):
    return b.replace(b"\r", b"\\r").replace(b"\n", b"\\n")


class Tok:
    """Walks one IMAP FETCH response (literals inlined) and returns raw spans."""

    def __init__(self, data):
        self.d = data
        self.i = 0

    def ws(self):
        while self.i < len(self.d) and self.d[self.i:self.i + 1] == b" ":
            self.i += 1

    def item(self):
        """Skip one item; return (start, end) of its raw bytes."""
        self.ws()
        start = self.i
        c = self.d[self.i:self.i + 1]
        if c == b"(":
            self.i += 1
            while True:
                self.ws()
                if self.d[self.i:self.i + 1] == b")":
                    self.i += 1
                    break
                if self.i >= len(self.d):
                    raise ValueError("unterminated list")
                self.item()
        elif c == b'"':
            self.i += 1
            while self.d[self.i:self.i + 1] != b'"':
                if self.d[self.i:self.i + 1] == b"\\":
                    self.i += 1
                if self.i >= len(self.d):
                    raise ValueError("unterminated string")
                self.i += 1
            self.i += 1
        elif c == b"{":
            end = self.d.index(b"}", self.i)
            n = int(self.d[self.i + 1:end])
            self.i = end + 3 + n  # "}\r\n" + data
        else:
            m = re.compile(rb"[^ ()]+(\[[^\]]*\])?(<[0-9]+>)?").match(self.d, self.i)
            if not m:
                raise ValueError("bad atom at %d" % self.i)
            self.i = m.end()
        return start, self.i


def literal_value(raw):
    """The bytes of an IMAP string item (quoted or literal); NIL -> None."""
    if raw == b"NIL":
        return None
    if raw.startswith(b"{"):
        return raw[raw.index(b"}") + 3:]
    if raw.startswith(b'"'):
        return re.sub(rb"\\(.)", rb"\1", raw[1:-1])
    return raw


def parse_fetch(resp):
    """resp: imaplib fetch data -> dict item -> raw bytes."""
    raw = b""
    for part in resp:
        if isinstance(part, tuple):
            raw += part[0] + b"\r\n" + part[1]
        elif part is not None:
            raw += part
    m = re.match(rb"\d+ \(", raw)
    if not m:
        raise ValueError("unexpected FETCH response %r" % raw[:80])
    t = Tok(raw)
    t.i = m.end()
    out = {}
    while True:
        t.ws()
        if t.d[t.i:t.i + 1] in (b")", b""):
            break
        ks, ke = t.item()
        vs, ve = t.item()
        out[raw[ks:ke].decode("ascii", "replace").upper()] = raw[vs:ve]
    return out


def run(argv, workdir):
    dump, corpus = argv[0], argv[1]
    threshold, limit = DEFAULT_THRESHOLD, None
    rest = argv[2:]
    while rest:
        if rest[0] == "--threshold":
            threshold = float(rest[1])
            rest = rest[2:]
        elif rest[0] == "--limit":
            limit = int(rest[1])
            rest = rest[2:]
        else:
            raise SystemExit("unknown argument %s" % rest[0])

    # --- corpus -> CRLF files
    src = os.path.join(workdir, "corpus")
    crlfdir = os.path.join(workdir, "crlf")
    os.makedirs(src)
    os.makedirs(crlfdir)
    zc = subprocess.run(["zstd", "-dc", corpus], stdout=subprocess.PIPE, check=True)
    tar_path = os.path.join(workdir, "corpus.tar")
    with open(tar_path, "wb") as f:
        f.write(zc.stdout)
    with tarfile.open(tar_path) as tf:
        names = sorted(m.name for m in tf.getmembers() if m.isfile() and m.name.endswith(".eml"))
        msgs = []
        for n in names:
            msgs.append((n, tf.extractfile(n).read()))
    os.unlink(tar_path)
    if limit:
        msgs = msgs[:limit]
    files = []
    for i, (name, data) in enumerate(msgs):
        p = os.path.join(crlfdir, "%05d.eml" % i)
        with open(p, "wb") as f:
            f.write(crlf(data))
        files.append(p)

    # --- Dovecot
    os.chmod(workdir, 0o755)
    port = free_port()
    for d in ("run", "state", "mail", "home"):
        os.makedirs(os.path.join(workdir, d))
    subprocess.run(["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", "vmail"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.chown(os.path.join(workdir, "mail"), "vmail", "vmail")
    shutil.chown(os.path.join(workdir, "home"), "vmail", "vmail")
    with open(os.path.join(workdir, "passwd"), "w") as f:
        f.write("tester:{PLAIN}pw::::::\n")
    conf = os.path.join(workdir, "dovecot.conf")
    with open(conf, "w") as f:
        f.write("""
base_dir = {w}/run
state_dir = {w}/state
log_path = {w}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Ln
first_valid_uid = 1
mail_uid = vmail
mail_gid = vmail
mail_location = mdbox:{w}/mail/%u
passdb {{
  driver = passwd-file
  args = {w}/passwd
}}
userdb {{
  driver = static
  args = uid=vmail gid=vmail home={w}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {p}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
""".format(w=workdir, p=port))
    subprocess.run(["dovecot", "-c", conf], check=True)
    state = {"conf": conf}
    run.state = state
    deadline = time.time() + 30
    imap = None
    while imap is None:
        try:
            imap = imaplib.IMAP4("127.0.0.1", port)
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    imap.login("tester", "pw")
    appended = []
    append_fail = 0
    for p in files:
        with open(p, "rb") as f:
            data = f.read()
        typ, _ = imap.append("INBOX", None, None, data)
        if typ == "OK":
            appended.append(p)
        else:
            append_fail += 1
    imap.select("INBOX", readonly=True)

    dv = []
    for seq in range(1, len(appended) + 1):
        typ, resp = imap.fetch(str(seq), "(RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[1])")
        if typ != "OK":
            raise RuntimeError("FETCH %d failed" % seq)
        dv.append(parse_fetch(resp))
    imap.logout()

    # --- mime-dump on the same bytes
    ours = []
    for i in range(0, len(appended), 200):
        out = subprocess.run([dump] + appended[i:i + 200], stdout=subprocess.PIPE, check=True).stdout
        rec = None
        for line in out.split(b"\n"):
            if line.startswith(b"FILE "):
                rec = {}
                ours.append(rec)
            elif line.startswith(b"RFC822.SIZE "):
                rec["RFC822.SIZE"] = line[12:]
            elif line.startswith(b"ENVELOPE "):
                rec["ENVELOPE"] = line[9:]
            elif line.startswith(b"BODYSTRUCTURE "):
                rec["BODYSTRUCTURE"] = line[14:]
            elif line.startswith(b"BODY[1] "):
                rec["BODY[1]"] = line[8:]
    if len(ours) != len(appended):
        raise RuntimeError("mime-dump gave %d records for %d files" % (len(ours), len(appended)))

    items = ["RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE", "BODY[1]"]
    match = {k: 0 for k in items}
    allmatch = 0
    diffs = []
    for i, (d, o) in enumerate(zip(dv, ours)):
        body = literal_value(d.get("BODY[1]", b"NIL")) or b""
        theirs = {
            "RFC822.SIZE": d.get("RFC822.SIZE", b""),
            "ENVELOPE": escape(d.get("ENVELOPE", b"")),
            "BODYSTRUCTURE": escape(d.get("BODYSTRUCTURE", b"")),
            "BODY[1]": b"%d %s" % (len(body), hashlib.sha256(body).hexdigest().encode()),
        }
        ok = True
        for k in items:
            if theirs[k] == o.get(k):
                match[k] += 1
            else:
                ok = False
                if len(diffs) < SHOW_DIFFS:
                    diffs.append((msgs[files.index(appended[i])][0], k, theirs[k], o.get(k)))
        allmatch += ok
    n = len(appended)
    print("dovecot-compare: %d messages appended (%d refused by Dovecot)" % (n, append_fail))
    for k in items:
        print("  %-14s %d/%d match" % (k, match[k], n))
    print("  all items      %d/%d match (%.2f%%)" % (allmatch, n, 100.0 * allmatch / max(n, 1)))
    for name, k, t, o in diffs:
        print("DIFF %s %s\n  dovecot: %s\n  ours:    %s" % (name, k, t[:600].decode("utf-8", "replace"),
                                                         (o or b"")[:600].decode("utf-8", "replace")))
    pct = 100.0 * allmatch / max(n, 1)
    if n == 0 or pct < threshold:
        print("FAIL: %.2f%% < threshold %.2f%%" % (pct, threshold))
        return 1
    print("OK: %.2f%% >= threshold %.2f%%" % (pct, threshold))
    return 0


def stop_dovecot(workdir):
    conf = os.path.join(workdir, "dovecot.conf")
    pidfile = os.path.join(workdir, "run", "master.pid")
    if not os.path.exists(pidfile):
        return
    try:
        pid = int(open(pidfile).read().strip())
    except (OSError, ValueError):
        pid = None
    subprocess.run(["dovecot", "-c", conf, "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if pid is None:
            break
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.1)
    else:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    if shutil.which("dovecot") is None or not os.path.exists("/usr/lib/dovecot/imap"):
        print("skipped: dovecot (dovecot-imapd) is not installed")
        return 0

    def on_alarm(signum, frame):
        raise TimeoutError("time limit of %d s reached" % TIME_LIMIT)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, lambda s, f: (_ for _ in ()).throw(KeyboardInterrupt()))
    signal.alarm(TIME_LIMIT)
    workdir = tempfile.mkdtemp(prefix="tj-dovecot-mime-")
    try:
        return run(sys.argv[1:], workdir)
    except (Exception, KeyboardInterrupt) as e:
        print("FAIL: %s: %s" % (type(e).__name__, e))
        log = os.path.join(workdir, "dovecot.log")
        if os.path.exists(log):
            print(open(log, errors="replace").read()[-2000:])
        return 1
    finally:
        signal.alarm(0)
        stop_dovecot(workdir)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
