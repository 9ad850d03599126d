#!/usr/bin/env python3
"""test_smtp.py - tjstored's SMTP and LMTP intake driven by real clients.

Starts one tjstored (test_imapd.Node: temp dir, free loopback ports,
self-signed certificate, the EICAR test signature) with max_recipients = 5,
max_message_size = 1M and log.syslog = yes, and drives it with:

  * swaks: SMTP and LMTP, STARTTLS, PIPELINING, 8-bit and UTF-8 content, a
    UTF-8 address without SMTPUTF8, every recipient refusal (unknown,
    disabled, over quota at RCPT and at the end of data), the recipient
    limit, the size limit, dot-stuffing both ways, bare LF and SMTP
    smuggling sequences, an over-long line, an EICAR attachment;
  * Python's smtplib: SIZE=, SMTPUTF8 + BODY=8BITMIME, VRFY, an over-long
    command line, multi-recipient SMTP (one copy of the bytes), LMTP with
    one reply per recipient;
  * Postfix's smtp-source as a load generator over SMTP and LMTP;
  * a private Postfix instance relaying into tjstore over LMTP.

Every delivered message is read back over IMAP (imaplib): Return-Path,
Delivered-To and Received: fields, then the exact bytes sent.  The node's
log must hold one event=message line per message with all its fields, and
the same lines must reach syslog with the mail facility: tjstored runs in a
private mount namespace whose /dev/log is a socket of this test (skipped,
saying so, when namespaces are unavailable).  Last, the node is stopped
(exit 0, `tjstore-cli verify` clean) and restarted with an empty signature
directory: mail is then deferred with 451 and nothing is delivered.

Everything started is stopped by pid; temp dirs are removed.  Prints
"N passed, N failed".

usage: test_smtp.py --tjstored PATH --cli PATH
"""
import argparse
import base64
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_imapd import EICAR, Node, free_port  # noqa: E402

SWAKS = shutil.which("swaks") or "/usr/bin/swaks"
SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"

# users: (name, quota, filler bytes stored before the start, disabled)
USERS = [
    ("alice", None, 0, False),
    ("bob", None, 0, False),
    ("carol", "2K", 3000, False),   # over quota: used >= quota
    ("dave", "10K", 0, False),      # a 15 kB message is bigger than the whole quota
    ("erin", None, 0, True),        # disabled
    ("fred", "10K", 8000, False),   # 2 kB left
    ("load1", None, 0, False),      # smtp-source over SMTP
    ("load2", None, 0, False),      # smtp-source over LMTP
]
PW = {u[0]: u[0] + "-secret" for u in USERS}
MAX_RCPTS = 5
MAX_SIZE = 1024 * 1024
LOAD_MSGS = 500

RECEIVED_RE = re.compile(
    rb"Received: from (?P<helo>\S+) \(unknown \[127\.0\.0\.1\]\)\r\n"
    rb"\tby mx\.test \(tjstore\) with (?P<with>[A-Z0-9]+)\r\n"
    rb"\tid (?P<id>[0-9A-F]+)(?:\r\n\tfor <(?P<for>[^\r\n>]*)>)?; (?P<date>[^\r\n]+)\r\n")
MSG_LINE_RE = re.compile(
    r"level=info module=smtp event=message qid=(?P<qid>\S+) proto=(?P<proto>smtp|lmtp) peer=\S+ "
    r"from=<(?P<from>[^>]*)> rcpts=(?P<n>\d+) to=<(?P<to>[^>]*)> size=(?P<size>\d+) "
    r"verdict=(?P<verdict>.+?) result=(?P<result>\w+)(?: detail=(?P<detail>\S+))? ms=(?P<ms>\d+)$")


# ---------------------------------------------------------------- helpers

def swaks(node, *args, lmtp=False, port=None, helo="client.test", timeout=90):
    """run swaks against the node; returns (exit code, transcript, server replies)"""
    port = port or (node.lmtp_port if lmtp else node.smtp_port)
    cmd = [SWAKS, "--server", f"127.0.0.1:{port}", "--timeout", "30", "--helo", helo]
    if lmtp:
        cmd += ["--protocol", "LMTP"]
    r = subprocess.run(cmd + list(args), capture_output=True, timeout=timeout)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    replies = [m.group(1) for m in re.finditer(r"^<(?:-|~|\*\*|~\*) +(\d{3}[ -].*)$", out, re.M)]
    return r.returncode, out, replies


def data_file(node, name, wire):
    """a DATA section for `swaks --data @file --no-data-fixup`: the wire bytes
    up to the final "." (swaks adds the CRLF after it)"""
    assert wire.endswith(b"\r\n.\r\n"), wire[-10:]
    path = os.path.join(node.tmp, name)
    with open(path, "wb") as f:
        f.write(wire[:-2])
    return path


def stuff(msg):
    """dot-stuff a CRLF message and add the end-of-data line"""
    lines = msg.split(b"\r\n")
    assert lines[-1] == b""
    return b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines[:-1]) + b".\r\n"


def simple_msg(token, body=b"Hello from the SMTP test.\r\n", extra=b""):
    return (b"From: Sender <sender@client.test>\r\nTo: rcpt@example.com\r\n"
            b"Subject: " + token.encode() + b"\r\nMessage-ID: <" + token.encode() + b"@client.test>\r\n"
            + extra + b"\r\n" + body)


def queue_id(reply_lines):
    ids = [m.group(1) for l in reply_lines for m in [re.search(r"Ok: delivered as ([0-9A-F]+)", l)] if m]
    return ids


def mailbox(node, user, box="INBOX"):
    m = node.login(user, PW[user])
    try:
        typ, data = m.select(box, readonly=True)
        assert typ == "OK", (user, box, data)
        if int(data[0]) == 0:
            return []
        typ, data = m.fetch("1:*", "(BODY.PEEK[])")
        assert typ == "OK", data
        return [d[1] for d in data if isinstance(d, tuple)]
    finally:
        m.logout()


def count(node, user, box="INBOX"):
    m = node.login(user, PW[user])
    try:
        typ, data = m.status(box, "(MESSAGES)")
        assert typ == "OK", data
        return int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))
    finally:
        m.logout()


def with_token(node, user, token):
    return [x for x in mailbox(node, user) if token.encode() in x]


def check_stored(raw, body, sender, with_, qid=None, delivered_to=None, for_rcpt=None, helo="client.test"):
    """raw = Return-Path, [Delivered-To], our Received:, the scanner's X-Spam-*
    fields if any, then exactly body (body None: anything)"""
    rp = b"Return-Path: <" + sender.encode() + b">\r\n"
    assert raw.startswith(rp), raw[:200]
    rest = raw[len(rp):]
    if delivered_to:
        dt = b"Delivered-To: " + delivered_to.encode() + b"\r\n"
        assert rest.startswith(dt), rest[:200]
        rest = rest[len(dt):]
    else:
        assert not rest.startswith(b"Delivered-To:"), rest[:200]
    m = RECEIVED_RE.match(rest)
    assert m, rest[:300]
    assert m.group("helo") == helo.encode(), m.group(0)
    assert m.group("with") == with_.encode(), m.group(0)
    if qid:
        assert m.group("id") == qid.encode(), (m.group(0), qid)
    assert m.group("for") == (for_rcpt.encode() if for_rcpt else None), m.group(0)
    rest = rest[m.end():]
    # the scanner's fields (X-Spam-*, with their continuation lines) come next
    while re.match(rb"X-Spam-[A-Za-z-]+:", rest):
        end = re.search(rb"\r\n(?![ \t])", rest).end()
        rest = rest[end:]
    assert body is None or rest == body, "stored body differs:\n%r\n---- sent:\n%r" % (rest[:400], body[:400])
    return m


def stats(node):
    r = subprocess.run([node.cli, "--socket", os.path.join(node.tmp, "admin.sock"), "--json", "stats"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def log_text(node):
    node.log.flush()
    with open(node.log.name, "rb") as f:
        return f.read().decode("utf-8", "replace")


def message_lines(node):
    return [m for m in (MSG_LINE_RE.search(l) for l in log_text(node).splitlines() if "event=message" in l)]


class Syslog:
    """a private /dev/log: tjstored runs in its own mount namespace where /dev
    is a small tmpfs holding the usual device nodes and, as `log`, a
    datagram socket this object reads"""

    WRAP = r"""#!/bin/sh
# devlog-wrap.sh PROGRAM ARGS... - run PROGRAM with /dev/log = $TJ_SYSLOG_SOCK
if [ -z "$TJ_DEVLOG_NS" ]; then TJ_DEVLOG_NS=1 exec unshare -m "$0" "$@"; fi
set -e
D=$TJ_DEVLOG_DIR
mount --make-rprivate /
mount -t tmpfs -o mode=755,size=64k tjdev "$D"
for n in null zero full random urandom tty; do
  if [ -e /dev/$n ]; then touch "$D/$n"; mount --bind /dev/$n "$D/$n"; fi
done
ln -s /proc/self/fd "$D/fd"
ln -s /proc/self/fd/0 "$D/stdin"; ln -s /proc/self/fd/1 "$D/stdout"; ln -s /proc/self/fd/2 "$D/stderr"
touch "$D/log"
mount --bind "$TJ_SYSLOG_SOCK" "$D/log"
mount --move "$D" /dev
exec "$@"
"""

    def __init__(self, tmp):
        self.tmp = tmp
        self.path = os.path.join(tmp, "syslog.sock")
        self.wrap = os.path.join(tmp, "devlog-wrap.sh")
        self.lines = []
        self.stop_ev = threading.Event()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        with open(self.wrap, "w") as f:
            f.write(self.WRAP)
        os.chmod(self.wrap, 0o755)
        os.makedirs(os.path.join(tmp, "privdev"))
        os.environ.update(TJ_SYSLOG_SOCK=self.path, TJ_DEVLOG_DIR=os.path.join(tmp, "privdev"))
        self.th = threading.Thread(target=self._read, daemon=True)
        self.th.start()

    def _read(self):
        while not self.stop_ev.is_set():
            try:
                self.lines.append(self.sock.recv(65536).decode("utf-8", "replace"))
            except socket.timeout:
                continue
            except OSError:
                return

    def works(self):
        """can this machine do it (root, unshare, mount)?  A probe message."""
        if os.geteuid() != 0 or not shutil.which("unshare"):
            return "not root or no unshare(1)"
        r = subprocess.run([self.wrap, "/usr/bin/logger", "-p", "mail.info", "tj-devlog-probe"],
                           capture_output=True, timeout=30)
        if r.returncode != 0:
            return "private /dev/log failed: " + (r.stdout + r.stderr).decode(errors="replace").strip()
        deadline = time.time() + 5
        while time.time() < deadline:
            if any("tj-devlog-probe" in l for l in self.lines):
                return None
            time.sleep(0.05)
        return "the probe message did not arrive"

    def wrapper_for(self, binary):
        path = os.path.join(self.tmp, "tjstored-devlog")
        with open(path, "w") as f:
            f.write(f'#!/bin/sh\nexec {self.wrap} {binary} "$@"\n')
        os.chmod(path, 0o755)
        return path

    def close(self):
        self.stop_ev.set()
        self.th.join(5)
        self.sock.close()


# ---- the tests ----

def t_swaks_smtp_starttls_pipelining(n):
    tok = "tok-starttls-1"
    msg = simple_msg(tok, body=b"Line one.\r\n\r\nLine three, after an empty line.\r\n")
    f = data_file(n, "starttls.eml", stuff(msg))
    rc, out, rep = swaks(n, "--tls", "--pipeline", "--from", "sender@client.test", "--to", "bob@example.com",
                         "--data", "@" + f, "--no-data-fixup")
    assert rc == 0, out
    # EHLO before TLS offers STARTTLS, the EHLO inside TLS does not
    assert re.search(r"^<-  250[- ]STARTTLS$", out, re.M), out
    tls_ehlo = [l for l in out.splitlines() if l.startswith("<~  250")]
    assert tls_ehlo and not any("STARTTLS" in l for l in tls_ehlo), out
    for ext in ("PIPELINING", "SIZE 1048576", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"):
        assert any(l.endswith(ext) for l in tls_ehlo), (ext, out)
    # swaks really pipelined MAIL, RCPT and DATA (sent before any reply)
    assert re.search(r"~> MAIL FROM:<sender@client.test>\n ~> RCPT TO:<bob@example.com>\n ~> DATA\n", out), out
    qids = queue_id(rep)
    assert len(qids) == 1, out
    got = with_token(n, "bob", tok)
    assert len(got) == 1, got
    check_stored(got[0], msg, "sender@client.test", "ESMTPS", qid=qids[0], delivered_to="bob@example.com",
                 for_rcpt="bob@example.com")


def t_swaks_lmtp_per_recipient(n):
    tok = "tok-lmtp-1"
    msg = simple_msg(tok)
    f = data_file(n, "lmtp.eml", stuff(msg))
    before = stats(n)
    rc, out, rep = swaks(n, "--from", "front@client.test", "--to",
                         "bob@example.com,nobody@example.com,alice@example.org", "--data", "@" + f,
                         "--no-data-fixup", lmtp=True)
    assert rc == 0, out
    assert "550 5.1.1 No such user here" in rep, rep
    after_data = rep[rep.index("354 End data with <CR><LF>.<CR><LF>") + 1:]
    assert after_data[0].startswith("250 2.0.0 <bob@example.com> Ok: delivered as "), rep
    assert after_data[1].startswith("250 2.0.0 <alice@example.org> Ok: delivered as "), rep
    qid = queue_id(after_data[:1])[0]
    a, b = with_token(n, "alice", tok), with_token(n, "bob", tok)
    assert len(a) == 1 and len(b) == 1, (a, b)
    assert a[0] == b[0], "two users got different bytes"
    check_stored(a[0], msg, "front@client.test", "LMTP", qid=qid)  # no Delivered-To, no "for"
    after = stats(n)
    # one copy of the bytes, one index entry per recipient
    assert after["messages"] - before["messages"] == 2, (before, after)
    assert after["unique_messages"] - before["unique_messages"] == 1, (before, after)


def t_swaks_8bit_utf8(n):
    tok = "tok-8bit-1"
    msg = ("From: Jürgen Groß <juergen@client.test>\r\nTo: bob@example.com\r\n"
           f"Subject: {tok} Grüße aus Köln ✓\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           "Schöne Grüße — ünïcödé, 日本語, emoji 📬.\r\n").encode()
    f = data_file(n, "8bit.eml", stuff(msg))
    rc, out, rep = swaks(n, "--from", "juergen@client.test", "--to", "bob@example.com", "--data", "@" + f,
                         "--no-data-fixup")
    assert rc == 0, out
    got = with_token(n, "bob", tok)
    assert len(got) == 1, got
    check_stored(got[0], msg, "juergen@client.test", "ESMTP", qid=queue_id(rep)[0], delivered_to="bob@example.com",
                 for_rcpt="bob@example.com")
    # a UTF-8 address without MAIL ... SMTPUTF8 (swaks cannot send parameters)
    rc, out, rep = swaks(n, "--from", "jürgen@bücher.example", "--to", "bob@example.com")
    assert any(r.startswith("553 5.6.7") for r in rep), out
    # SMTPUTF8 + BODY=8BITMIME with smtplib: UTF-8 sender, UTF-8 domain, UTF-8 header
    tok = "tok-smtputf8-1"
    msg = (f"From: José <josé@exämple.de>\r\nTo: bob@bücher.example\r\nSubject: {tok} ¡olé!\r\n\r\n"
           "Cuerpo en UTF-8: ñandú.\r\n").encode()
    with smtplib.SMTP("127.0.0.1", n.smtp_port, local_hostname="client.test", timeout=30) as s:
        s.ehlo()
        assert s.has_extn("smtputf8") and s.has_extn("8bitmime"), s.esmtp_features
        refused = s.sendmail("josé@exämple.de", ["bob@bücher.example"], msg, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        assert not refused, refused
    got = with_token(n, "bob", tok)
    assert len(got) == 1, got
    check_stored(got[0], msg, "josé@exämple.de", "UTF8SMTP", delivered_to="bob@bücher.example",
                 for_rcpt="bob@bücher.example")


def t_size_limit(n):
    before = count(n, "bob")
    with smtplib.SMTP("127.0.0.1", n.smtp_port, local_hostname="client.test", timeout=30) as s:
        s.ehlo()
        assert int(s.esmtp_features["size"]) == MAX_SIZE, s.esmtp_features
        code, text = s.mail("big@client.test", ["SIZE=%d" % (MAX_SIZE + 1)])
        assert code == 552 and text.startswith(b"5.3.4"), (code, text)
        code, text = s.mail("big@client.test", ["SIZE=%d" % MAX_SIZE])
        assert code == 250, (code, text)
        s.rset()
    # no SIZE= (swaks): the data is read to its end, refused, and the session goes on
    tok = "tok-too-big"
    body = b"".join(b"%07d 0123456789012345678901234567890123456789012345678901234567890123456789\r\n" % i
                    for i in range(MAX_SIZE // 78 + 100))
    f = data_file(n, "big.eml", stuff(simple_msg(tok, body=body)))
    rc, out, rep = swaks(n, "--from", "big@client.test", "--to", "bob@example.com", "--data", "@" + f,
                         "--no-data-fixup", "--suppress-data")
    assert any(r.startswith("552 5.3.4") for r in rep), rep
    assert rep[-1].startswith("221 2.0.0"), rep  # QUIT still answered: no loss of sync
    assert count(n, "bob") == before, "an over-size message was stored"
    assert re.search(r"event=message qid=\S+ proto=smtp .*from=<big@client.test> .*verdict=- result=refused "
                     r"detail=too_big", log_text(n)), "no log line for the refused message"


def t_recipient_checks(n):
    cases = [("nobody@example.com", "550 5.1.1"), ("erin@example.com", "550 5.2.1"),
             ("carol@example.com", "452 4.2.2")]
    for lmtp in (False, True):
        for rcpt, want in cases:
            rc, out, rep = swaks(n, "--from", "s@client.test", "--to", rcpt, lmtp=lmtp)
            assert any(r.startswith(want) for r in rep), (lmtp, rcpt, want, out)
            assert rc == 24, (rc, out)  # swaks: every recipient refused
    # dave's whole quota is 10K: a 15 kB message passes RCPT (no SIZE=), then 552 5.2.2 after the data
    tok = "tok-dave-big"
    f = data_file(n, "dave.eml", stuff(simple_msg(tok, body=b"y" * 15000 + b"\r\n")))
    rc, out, rep = swaks(n, "--from", "s@client.test", "--to", "dave@example.com", "--data", "@" + f,
                         "--no-data-fixup", "--suppress-data")
    assert "250 2.1.5 Recipient OK" in rep and any(r.startswith("552 5.2.2") for r in rep), rep
    assert count(n, "dave") == 0
    # the same with SIZE= (smtplib): refused at RCPT already
    with smtplib.SMTP("127.0.0.1", n.smtp_port, local_hostname="client.test", timeout=30) as s:
        s.ehlo()
        assert s.mail("s@client.test", ["SIZE=15000"])[0] == 250
        code, text = s.rcpt("dave@example.com")
        assert code == 552 and text.startswith(b"5.2.2"), (code, text)
        # fred has 2 kB left: a 4 kB message is over quota (temporary), a small one is fine
        s.rset()
        assert s.mail("s@client.test", ["SIZE=4000"])[0] == 250
        code, text = s.rcpt("fred@example.com")
        assert code == 452 and text.startswith(b"4.2.2"), (code, text)
        s.rset()
        assert s.mail("s@client.test", ["SIZE=500"])[0] == 250
        assert s.rcpt("fred@example.com")[0] == 250
    # without SIZE= (swaks) fred's lack of room shows only after the data;
    # SMTP has one reply, bob's copy is stored: 451 4.3.0, the documented
    # partial failure (the client's retry gives bob a second copy)
    tok = "tok-partial"
    f = data_file(n, "partial.eml", stuff(simple_msg(tok, body=b"p" * 4000 + b"\r\n")))
    rc, out, rep = swaks(n, "--from", "s@client.test", "--to", "bob@example.com,fred@example.com", "--data",
                         "@" + f, "--no-data-fixup", "--suppress-data")
    assert rep.count("250 2.1.5 Recipient OK") == 2, rep
    assert "451 4.3.0 Delivery failed for some recipients, try again later" in rep, rep
    assert len(with_token(n, "bob", tok)) == 1 and not with_token(n, "fred", tok)
    assert re.search(r"event=message .* result=partial detail=fred:over_quota ", log_text(n))
    log = log_text(n)
    for why in ("unknown", "disabled", "over_quota", "bigger_than_quota"):
        assert f"event=rcpt_refused peer=127.0.0.1:" in log and f"reason={why}" in log, why


def t_max_recipients(n):
    tok = "tok-maxrcpt"
    msg = simple_msg(tok)
    f = data_file(n, "maxrcpt.eml", stuff(msg))
    rcpts = ",".join(f"bob@d{i}.test" for i in range(1, MAX_RCPTS + 3))
    rc, out, rep = swaks(n, "--from", "s@client.test", "--to", rcpts, "--data", "@" + f, "--no-data-fixup")
    assert rc == 0, out
    assert rep.count("250 2.1.5 Recipient OK") == MAX_RCPTS, rep
    assert rep.count("452 4.5.3 Too many recipients") == 2, rep
    qid = queue_id(rep)
    assert len(qid) == 1, rep
    got = with_token(n, "bob", tok)
    assert len(got) == 1, f"bob named {MAX_RCPTS} times got {len(got)} copies"
    # one user: Delivered-To names the first address; several recipients: no "for"
    check_stored(got[0], msg, "s@client.test", "ESMTP", qid=qid[0], delivered_to="bob@d1.test")


def t_vrfy_commands_long_line_bare_lf(n):
    with smtplib.SMTP("127.0.0.1", n.smtp_port, local_hostname="client.test", timeout=30) as s:
        s.ehlo()
        code, text = s.verify("bob")
        assert code == 252 and text.startswith(b"2.5.2"), (code, text)
        code, text = s.docmd("EXPN", "staff")
        assert code == 502, (code, text)
        code, text = s.docmd("HELP")
        assert code == 214, (code, text)
        code, text = s.docmd("NOOP", "x" * 5000)  # longer than any command line may be
        assert code == 500 and b"Line too long" in text, (code, text)
        assert s.noop()[0] == 250  # still in sync
        code, text = s.docmd("FROB")
        assert code == 500 and text.startswith(b"5.5.2"), (code, text)
        code, text = s.docmd("RCPT TO:<bob@example.com>")
        assert code == 503, (code, text)
    # a command line ending in a bare LF is taken (RFC 5321 2.3.8: be liberal)
    with socket.create_connection(("127.0.0.1", n.smtp_port), timeout=30) as c:
        f = c.makefile("rb")
        assert f.readline().startswith(b"220 ")
        c.sendall(b"HELO client.test\nNOOP\n")
        assert f.readline().startswith(b"250 mx.test"), "HELO with bare LF"
        assert f.readline().startswith(b"250 2.0.0"), "NOOP with bare LF"
        c.sendall(b"QUIT\r\n")
        assert f.readline().startswith(b"221 ")


def t_dot_stuffing_bare_lf_long_line(n):
    tok = "tok-dots-1"
    long_line = b"L" * 10000
    wire = (b"Subject: " + tok.encode() + b"\r\n\r\n"
            b"..starts with a dot\r\n"
            b"...\r\n"
            b".x the stuffing dot goes\r\n"
            b"bare LF line\n"
            b".\n"                        # "." after a bare LF: content, not the end
            b"after smuggle 1\r\n"
            b".\n"                        # <CRLF>.<LF>: content (SMTP smuggling)
            b"after smuggle 2\r\n"
            b"x\n.\r\n"                   # <LF>.<CRLF>: content (SMTP smuggling)
            b"after smuggle 3\r\n"
            + long_line + b"\r\n"
            b"bare\rCR kept\r\n"
            b"last line\r\n.\r\n")
    want = (b"Subject: " + tok.encode() + b"\r\n\r\n"
            b".starts with a dot\r\n"
            b"..\r\n"
            b"x the stuffing dot goes\r\n"
            b"bare LF line\r\n"
            b".\r\n"
            b"after smuggle 1\r\n"
            b".\r\n"
            b"after smuggle 2\r\n"
            b"x\r\n.\r\n"
            b"after smuggle 3\r\n"
            + long_line + b"\r\n"
            b"bare\rCR kept\r\n"
            b"last line\r\n")
    f = data_file(n, "dots.eml", wire)
    rc, out, rep = swaks(n, "--from", "s@client.test", "--to", "alice@example.org", "--data", "@" + f,
                         "--no-data-fixup", "--suppress-data")
    assert rc == 0 and rep[-2].startswith("250 2.0.0 Ok: delivered as"), rep
    got = with_token(n, "alice", tok)
    assert len(got) == 1, got
    check_stored(got[0], want, "s@client.test", "ESMTP", qid=queue_id(rep)[0], delivered_to="alice@example.org",
                 for_rcpt="alice@example.org")
    # swaks' own dot-stuffing, undone by the server: the body arrives as written
    tok = "tok-dots-2"
    body_path = os.path.join(n.tmp, "dots-body.txt")
    with open(body_path, "wb") as fb:
        fb.write(b".hidden line\n..two dots\n.\nend\n")
    rc, out, rep = swaks(n, "--from", "s@client.test", "--to", "alice@example.org", "--h-Subject", tok,
                         "--body", "@" + body_path)
    assert rc == 0, out
    sent = out.replace("\r\n", "\n")
    assert " -> ..hidden line\n -> ...two dots\n -> ..\n -> end\n" in sent, out  # swaks stuffed them
    got = with_token(n, "alice", tok)
    assert len(got) == 1, got
    assert b"\r\n\r\n.hidden line\r\n..two dots\r\n.\r\nend\r\n" in got[0], got[0]


def t_smtplib_multi_recipient(n):
    tok = "tok-multi-smtp"
    msg = simple_msg(tok)
    before = stats(n)
    with smtplib.SMTP("127.0.0.1", n.smtp_port, local_hostname="client.test", timeout=30) as s:
        refused = s.sendmail("list@client.test",
                             ["alice@example.org", "bob@example.com", "BOB@Example.COM", "nobody@example.com"], msg)
    assert list(refused) == ["nobody@example.com"] and refused["nobody@example.com"][0] == 550, refused
    a, b = with_token(n, "alice", tok), with_token(n, "bob", tok)
    assert len(a) == 1 and len(b) == 1, (len(a), len(b))  # bob named twice: one copy
    assert a[0] == b[0]
    check_stored(a[0], msg, "list@client.test", "ESMTP")
    after = stats(n)
    assert after["messages"] - before["messages"] == 2, (before, after)
    assert after["unique_messages"] - before["unique_messages"] == 1, (before, after)


def t_smtplib_lmtp_per_recipient(n):
    """LMTP: one reply per accepted recipient, in RCPT order; dave's quota is
    smaller than the message (known only at the end of the data)"""
    tok = "tok-multi-lmtp"
    msg = simple_msg(tok, body=b"z" * 15000 + b"\r\n")
    with smtplib.LMTP("127.0.0.1", n.lmtp_port, local_hostname="front.test", timeout=30) as s:
        code, _ = s.ehlo()  # LHLO
        assert code == 250 and s.has_extn("pipelining")
        assert s.mail("list@client.test")[0] == 250
        for r in ("bob@example.com", "dave@example.com", "alice@example.org"):
            assert s.rcpt(r)[0] == 250, r
        replies = [s.data(msg)] + [s.getreply() for _ in range(2)]
    assert [c for c, _ in replies] == [250, 552, 250], replies
    assert replies[0][1].startswith(b"2.0.0 <bob@example.com> Ok: delivered as"), replies
    assert replies[1][1].startswith(b"5.2.2"), replies
    assert replies[2][1].startswith(b"2.0.0 <alice@example.org> Ok: delivered as"), replies
    assert len(with_token(n, "bob", tok)) == 1 and len(with_token(n, "alice", tok)) == 1
    assert count(n, "dave") == 0


def t_eicar_refused_and_quarantined(n):
    q = os.path.join(n.tmp, "quarantine")
    qbefore = set(os.listdir(q)) if os.path.isdir(q) else set()
    before = {u: count(n, u) for u in ("bob", "alice")}
    eicar = os.path.join(n.tmp, "invoice.com")
    with open(eicar, "wb") as f:
        f.write(EICAR)
    rc, out, rep = swaks(n, "--from", "mallory@client.test", "--to", "bob@example.com", "--h-Subject", "tok-eicar",
                         "--body", "see the attachment", "--attach", "@" + eicar)
    assert "CONTENT-TRANSFER-ENCODING: BASE64" in out.upper(), out
    assert "554 5.7.1 Message refused: infected with Test.EICAR.UNOFFICIAL" in rep, rep
    # LMTP: every recipient gets the refusal
    rc, out, rep = swaks(n, "--from", "mallory@client.test", "--to", "bob@example.com,alice@example.org",
                         "--h-Subject", "tok-eicar-2", "--attach", "@" + eicar, lmtp=True)
    assert rep.count("554 5.7.1 Message refused: infected with Test.EICAR.UNOFFICIAL") == 2, rep
    assert {u: count(n, u) for u in ("bob", "alice")} == before, "an infected message was delivered"
    new = sorted(set(os.listdir(q)) - qbefore)
    assert len(new) == 2 and all("-INFECTED-Test.EICAR.UNOFFICIAL" in x and x.endswith(".eml") for x in new), new
    for x in new:
        st = os.stat(os.path.join(q, x))
        assert st.st_mode & 0o777 == 0o600, oct(st.st_mode)
        data = open(os.path.join(q, x), "rb").read()
        assert data.startswith(b"Received: from client.test") and base64.b64encode(EICAR)[:40] in data.replace(
            b"\r\n", b""), data[:300]
    lines = [m for m in message_lines(n) if m.group("from") == "mallory@client.test"]
    assert len(lines) == 2 and all(m.group("verdict") == 'INFECTED name="Test.EICAR.UNOFFICIAL"' and
                                   m.group("result") == "refused" for m in lines), [m.group(0) for m in lines]


GTUBE = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def t_gtube_spam_into_junk(n):
    """GTUBE is always spam: delivered (250) with X-Spam-* fields into Junk,
    copied to the quarantine, logged as SPAM with its score"""
    q = os.path.join(n.tmp, "quarantine")
    qbefore = set(os.listdir(q)) if os.path.isdir(q) else set()
    inbox = count(n, "bob")
    tok = "tok-gtube"
    msg = simple_msg(tok, body=b"Buy now!\r\n" + GTUBE + b"\r\n")
    f = data_file(n, "gtube.eml", stuff(msg))
    rc, out, rep = swaks(n, "--from", "spammer@client.test", "--to", "bob@example.com", "--data", "@" + f,
                         "--no-data-fixup")
    assert rc == 0 and queue_id(rep), out
    assert count(n, "bob") == inbox, "spam went to INBOX"
    junk = [x for x in mailbox(n, "bob", "Junk") if tok.encode() in x]
    assert len(junk) == 1, len(junk)
    check_stored(junk[0], msg, "spammer@client.test", "ESMTP", qid=queue_id(rep)[0], delivered_to="bob@example.com",
                 for_rcpt="bob@example.com")
    assert re.search(rb"\r\nX-Spam-Flag: YES\r\n", junk[0].split(b"\r\n\r\n")[0]), junk[0][:600]
    new = sorted(set(os.listdir(q)) - qbefore)
    assert len(new) == 1 and "-SPAM-" in new[0], new
    lines = [m for m in message_lines(n) if m.group("from") == "spammer@client.test"]
    assert len(lines) == 1 and re.fullmatch(r"SPAM score=\d+\.\d folder=Junk", lines[0].group("verdict")) \
        and lines[0].group("result") == "delivered", lines and lines[0].group(0)


def t_smtp_source_load(n):
    """Postfix's smtp-source: 500 messages in 8 sessions over SMTP, and over
    LMTP; smtp-source exits non-zero on any reply other than 2xx/354, so exit
    0 means every message was acknowledged"""
    for user, port, lmtp in (("load1", n.smtp_port, False), ("load2", n.lmtp_port, True)):
        t0 = time.time()
        cmd = [SMTP_SOURCE] + (["-L"] if lmtp else []) + [
            "-s", "8", "-m", str(LOAD_MSGS), "-l", "4096", "-f", "source@client.test", "-t", f"{user}@example.com",
            f"127.0.0.1:{port}"]
        r = subprocess.run(cmd, capture_output=True, timeout=240)
        dt = time.time() - t0
        assert r.returncode == 0, (cmd, r.stdout, r.stderr)
        got = count(n, user)
        assert got == LOAD_MSGS, f"{user}: {got} messages after {LOAD_MSGS} acknowledged"
        print(f"     smtp-source {'LMTP' if lmtp else 'SMTP'}: {LOAD_MSGS} messages in {dt:.1f} s "
              f"({LOAD_MSGS / dt:.0f}/s)")
        sys.stdout.flush()


def t_log_lines(n):
    """one line per message, with every field, and the queue id of the 250"""
    lines = message_lines(n)
    raw = [l for l in log_text(n).splitlines() if "event=message" in l]
    assert len(lines) == len(raw), [l for l in raw if not MSG_LINE_RE.search(l)][:3]
    delivered = [m for m in lines if m.group("result") == "delivered"]
    qids = [m.group("qid") for m in lines if m.group("qid") != "-"]
    assert len(qids) == len(set(qids)), "a queue id logged twice"
    load = [m for m in delivered if m.group("to") in ("load1@example.com", "load2@example.com")]
    assert len(load) == 2 * LOAD_MSGS, len(load)
    ham = [m for m in delivered if m.group("from") != "spammer@client.test"]
    assert all(m.group("verdict").startswith("CLEAN score=") for m in ham), set(m.group("verdict") for m in ham)
    assert all(int(m.group("size")) > 4000 for m in load)
    multi = [m for m in delivered if m.group("from") == "list@client.test" and m.group("proto") == "smtp"]
    assert multi and multi[0].group("to") == "alice@example.org,bob@example.com,BOB@Example.COM" \
        and multi[0].group("n") == "3", multi and multi[0].group(0)
    lm = [m for m in lines if m.group("from") == "list@client.test" and m.group("proto") == "lmtp"]
    assert lm and lm[0].group("result") == "partial" and lm[0].group("detail") == "dave:over_quota", \
        lm and lm[0].group(0)


def t_syslog_mail_facility(n):
    sl = n.syslog
    if sl is None:
        print(f"     skipped: syslog check: {n.syslog_skip}")
        return
    # <22> = LOG_MAIL (2 << 3) | LOG_INFO (6); the line is the stderr line without its time stamp
    pat = re.compile(r"^<22>\w{3} [ \d]\d \d\d:\d\d:\d\d tjstored\[%d\]: level=info module=smtp event=message qid="
                     % n.proc.pid)
    deadline = time.time() + 10
    while time.time() < deadline:
        got = [l for l in sl.lines if pat.match(l)]
        if len(got) >= len(message_lines(n)):
            break
        time.sleep(0.1)
    assert len(got) == len(message_lines(n)), (len(got), len(message_lines(n)), sl.lines[:3])
    infected = [l for l in sl.lines if "verdict=INFECTED" in l]
    assert infected and infected[0].startswith("<22>"), infected
    warn = [l for l in sl.lines if "level=warn" in l]
    assert all(l.startswith("<20>") for l in warn), warn[:2]  # LOG_MAIL | LOG_WARNING


class Postfix:
    """a private Postfix instance: its own config, queue and data directories
    in a temp dir, SMTP on a free loopback port, relaying example.com and
    example.org to tjstore's LMTP port"""

    MASTER = """{port} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
lmtp unix - - n - - lmtp
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""

    def __init__(self, lmtp_port):
        self.dir = tempfile.mkdtemp(prefix="tjpostfix.")
        os.chmod(self.dir, 0o755)  # its daemons run as the postfix user
        self.etc = os.path.join(self.dir, "etc")
        self.port = free_port()
        for d in ("etc", "spool", "data"):
            os.makedirs(os.path.join(self.dir, d))
        shutil.chown(os.path.join(self.dir, "data"), "postfix")
        self.maillog = os.path.join(self.dir, "maillog")
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(f"""compatibility_level = 3.6
queue_directory = {self.dir}/spool
data_directory = {self.dir}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = relay.test
mydomain = relay.test
myorigin = relay.test
mydestination =
local_recipient_maps =
local_transport = error:local delivery is disabled in this test
alias_maps =
alias_database =
relay_domains = example.com, example.org
relay_transport = lmtp:inet:127.0.0.1:{lmtp_port}
default_transport = error:no outbound mail in this test
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
maillog_file = {self.maillog}
maillog_file_prefixes = {self.dir}
smtputf8_enable = yes
biff = no
""")
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(self.MASTER.format(port=self.port))
        self.started = False

    def cmd(self, *args, timeout=60):
        return subprocess.run([POSTFIX, "-c", self.etc] + list(args), capture_output=True, timeout=timeout)

    def start(self):
        r = self.cmd("start")
        self.started = True
        if r.returncode != 0:
            raise RuntimeError("postfix start: %s %s" % ((r.stdout + r.stderr).decode(errors="replace"), self.log()))
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("postfix does not listen: " + self.log())

    def master_pid(self):
        try:
            return int(open(os.path.join(self.dir, "spool", "pid", "master.pid")).read().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        if not self.started:
            return
        pid = self.master_pid()
        self.cmd("stop")
        # postfix stop signals the master by its pid file; make sure it is gone
        deadline = time.time() + 10
        while pid and time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.started = False

    def log(self):
        try:
            return open(self.maillog, errors="replace").read()
        except OSError:
            return ""

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def t_postfix_relay_over_lmtp(n):
    missing = [p for p in (POSTFIX, "/usr/lib/postfix/sbin/master") if not os.path.exists(p)]
    if missing or os.geteuid() != 0:
        print(f"     skipped: a private Postfix needs root and the postfix package (missing: {missing})")
        return
    try:
        import pwd
        pwd.getpwnam("postfix")
    except KeyError:
        print("     skipped: no postfix user (the postfix package is not installed)")
        return
    pf = Postfix(n.lmtp_port)
    try:
        pf.start()
        tok = "tok-postfix-1"
        rc, out, rep = swaks(n, "--from", "sender@client.test",
                             "--to", "bob@example.com,alice@example.org,nobody@example.com",
                             "--h-Subject", tok, "--body", "relayed by Postfix over LMTP", port=pf.port)
        assert rc == 0 and rep[-2].startswith("250 2.0.0 Ok: queued as "), out
        pf_qid = rep[-2].split()[-1]
        deadline = time.time() + 60
        while time.time() < deadline:
            log = pf.log()
            if log.count(f"{pf_qid}: to=<") >= 3:
                break
            time.sleep(0.2)
        log = pf.log()
        lines = [l for l in log.splitlines() if f"{pf_qid}: to=<" in l]
        assert len(lines) == 3, log[-3000:]
        # tjstore's per-recipient LMTP replies, as Postfix saw them
        for rcpt in ("bob@example.com", "alice@example.org"):
            l = [x for x in lines if f"to=<{rcpt}>" in x]
            assert l and "status=sent (250 2.0.0 <%s> Ok: delivered as " % rcpt in l[0], l
        l = [x for x in lines if "to=<nobody@example.com>" in x]
        assert l and "status=bounced" in l[0] and "550 5.1.1" in l[0], l
        a, b = with_token(n, "alice", tok), with_token(n, "bob", tok)
        assert len(a) == 1 and len(b) == 1 and a[0] == b[0], (len(a), len(b))
        m = check_stored(a[0], None, "sender@client.test", "LMTP", helo="relay.test")
        assert a[0][m.end():].split(b"\r\n\r\n")[0].find(
            b"by relay.test (Postfix) with ESMTP id " + pf_qid.encode()) > 0, a[0][:600]
        # one recipient: Postfix's own transaction, so Delivered-To and "for"
        tok = "tok-postfix-2"
        rc, out, rep = swaks(n, "--from", "sender@client.test", "--to", "bob@example.com", "--h-Subject", tok,
                             port=pf.port)
        assert rc == 0, out
        deadline = time.time() + 60
        while time.time() < deadline and not with_token(n, "bob", tok):
            time.sleep(0.2)
        got = with_token(n, "bob", tok)
        assert len(got) == 1, got
        check_stored(got[0], None, "sender@client.test", "LMTP", delivered_to="bob@example.com",
                     for_rcpt="bob@example.com", helo="relay.test")
    finally:
        pf.cleanup()


def t_restart_then_scanner_unavailable(n):
    """SIGTERM exits 0 and verify is clean; with an empty signature directory
    every message is deferred with 451 4.7.1 and nothing is delivered"""
    rc = n.stop()
    assert rc == 0, f"tjstored exited with {rc}: {n.tail()}"
    r = n.run_cli("verify")
    assert r.returncode == 0, r.stdout + r.stderr
    for x in os.listdir(os.path.join(n.tmp, "clamav")):
        os.unlink(os.path.join(n.tmp, "clamav", x))
    n.start()
    before = {u: count(n, u) for u in ("bob", "alice")}
    tok = "tok-noscan"
    rc, out, rep = swaks(n, "--from", "s@client.test", "--to", "bob@example.com", "--h-Subject", tok)
    assert any(r.startswith("451 4.7.1") for r in rep), rep
    rc, out, rep = swaks(n, "--from", "s@client.test", "--to", "bob@example.com,alice@example.org",
                         "--h-Subject", tok, lmtp=True)
    assert sum(r.startswith("451 4.7.1") for r in rep) == 2, rep
    assert {u: count(n, u) for u in ("bob", "alice")} == before, "delivered unscanned"
    deferred = [m for m in message_lines(n) if m.group("result") == "deferred"]
    assert len(deferred) == 2 and all(m.group("verdict").startswith('DEFERRED reason="scanner unavailable')
                                      for m in deferred), [m.group(0) for m in deferred]
    rc = n.stop()
    assert rc == 0, n.tail()
    r = n.run_cli("verify")
    assert r.returncode == 0, r.stdout + r.stderr
    san = re.findall(r".*(?:runtime error:|AddressSanitizer|LeakSanitizer).*", log_text(n))
    assert not san, san[:5]


TESTS = [t_swaks_smtp_starttls_pipelining, t_swaks_lmtp_per_recipient, t_swaks_8bit_utf8, t_size_limit,
         t_recipient_checks, t_max_recipients, t_vrfy_commands_long_line_bare_lf, t_dot_stuffing_bare_lf_long_line,
         t_smtplib_multi_recipient, t_smtplib_lmtp_per_recipient, t_eicar_refused_and_quarantined,
         t_gtube_spam_into_junk, t_smtp_source_load, t_postfix_relay_over_lmtp, t_log_lines, t_syslog_mail_facility,
         t_restart_then_scanner_unavailable]


def setup(node):
    with open(node.conf) as f:
        conf = f.read()
    conf = conf.replace("[smtp]\n", f"[smtp]\nmax_recipients = {MAX_RCPTS}\nmax_message_size = {MAX_SIZE}\n", 1)
    if node.syslog:
        conf = conf.replace("[log]\n", "[log]\nsyslog = yes\n", 1)
    with open(node.conf, "w") as f:
        f.write(conf)
    for name, quota, filler, disabled in USERS:
        r = node.run_cli("users", "add", name, "--password-stdin", stdin=PW[name].encode() + b"\n")
        assert r.returncode == 0, r.stdout + r.stderr
        if filler:
            path = os.path.join(node.tmp, f"filler-{name}.eml")
            with open(path, "wb") as f:
                f.write(b"Subject: filler\r\n\r\n" + b"f" * filler + b"\r\n")
            r = node.run_cli("import", name, "INBOX", path)
            assert r.returncode == 0, r.stdout + r.stderr
        if quota:
            r = node.run_cli("users", "set-quota", name, quota)
            assert r.returncode == 0, r.stdout + r.stderr
        if disabled:
            r = node.run_cli("users", "disable", name)
            assert r.returncode == 0, r.stdout + r.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tjstored", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("-k", help="run only tests whose name contains this")
    args = ap.parse_args()
    for tool in (SWAKS, SMTP_SOURCE):
        if not os.path.exists(tool):
            print(f"FAIL: {tool} is missing (swaks, postfix: tools/packages.txt)")
            print("0 passed, 1 failed")
            return 1
    def out_of_time(signum, frame):
        raise TimeoutError("the test ran out of time")
    signal.signal(signal.SIGALRM, out_of_time)  # an exception, so that every finally: cleans up
    signal.alarm(540)  # the whole run is bounded (before CTest's TIMEOUT of 600)
    tmp = tempfile.mkdtemp(prefix="tjsmtp.")
    node = Node(args.tjstored, args.cli, tmp)
    node.syslog, node.syslog_skip = None, None
    sl = Syslog(tmp)
    why = sl.works()
    if why is None:
        node.syslog = sl
        node.tjstored = sl.wrapper_for(args.tjstored)
    else:
        node.syslog_skip = why
        sl.close()
    passed = failed = 0
    t_start = time.time()
    try:
        setup(node)
        node.start()
        for t in TESTS:
            if args.k and args.k not in t.__name__:
                continue
            t0 = time.time()
            try:
                t(node)
                passed += 1
                print(f"ok   {t.__name__} ({time.time() - t0:.1f} s)")
            except Exception:  # noqa: BLE001
                failed += 1
                print(f"FAIL {t.__name__}")
                traceback.print_exc()
            sys.stdout.flush()
        if failed:
            print("--- tjstored log (tail) ---\n" + node.tail())
    finally:
        node.stop()
        if node.syslog:
            node.syslog.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed ({time.time() - t_start:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
