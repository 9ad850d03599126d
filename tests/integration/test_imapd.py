#!/usr/bin/env python3
"""test_imapd.py - tjstored with real IMAP clients, on loopback.

Starts a real tjstored (temp dir, free ports, self-signed certificate, users
made with tjstore-cli), then drives it with Python's imaplib (plain, STARTTLS,
implicit TLS, IDLE with a second client), curl's imap:// URLs and
`openssl s_client -starttls imap`; stops it with SIGTERM and checks it exits
0 and that the mail is still there after a restart.  Everything it starts is
stopped by pid and its temp dir removed.  Prints "N passed, N failed".

usage: test_imapd.py --tjstored PATH --cli PATH
"""
import argparse
import email.utils
import imaplib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback

MSG1 = (b"From: Alice Example <alice@example.org>\r\n"
        b"To: Bob <bob@example.com>\r\n"
        b"Subject: hello from the test\r\n"
        b"Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n"
        b"Message-ID: <t1@example.org>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
        b"\r\n"
        b"--b1\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"\r\n"
        b"The quick brown fox jumps over the lazy dog.\r\n"
        b"--b1\r\n"
        b"Content-Type: application/octet-stream; name=\"x.bin\"\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"\r\n"
        b"AAECAwQFBgc=\r\n"
        b"--b1--\r\n")
MSG2 = (b"From: carol@example.net\r\nTo: alice@example.org\r\n"
        b"Subject: second one\r\n\r\nnothing to see\r\n")
PASSWORD = "correct horse"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Node:
    def __init__(self, tjstored, cli, tmp):
        self.tjstored, self.cli, self.tmp = tjstored, cli, tmp
        self.data = os.path.join(tmp, "data")
        self.port, self.tls_port = free_port(), free_port()
        self.smtp_port, self.lmtp_port = free_port(), free_port()
        self.conf = os.path.join(tmp, "tjstored.conf")
        with open(self.conf, "w") as f:
            f.write(f"""[node]
name = test
data_dir = {self.data}
[imap]
listen = 127.0.0.1:{self.port}
tls_listen = 127.0.0.1:{self.tls_port}
[smtp]
listen = 127.0.0.1:{self.smtp_port}
lmtp_listen = 127.0.0.1:{self.lmtp_port}
hostname = mx.test
[tls]
cert = {tmp}/cert.pem
key = {tmp}/key.pem
[auth]
backend = passwd
passwd_file = {self.data}/passwd
[users]
file = {tmp}/users.csv
[scan]
clamav_db_dir = {tmp}/clamav
quarantine_dir = {tmp}/quarantine
[admin]
socket = {tmp}/admin.sock
[log]
level = info
""")
        # a ClamAV signature for the EICAR test string (TESTING.md)
        os.makedirs(os.path.join(tmp, "clamav"))
        with open(os.path.join(tmp, "clamav", "test.ndb"), "w") as f:
            f.write("Test.EICAR:0:*:" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE".hex() + "\n")
        self.proc = None
        self.log = open(os.path.join(tmp, "tjstored.log"), "wb")

    def run_cli(self, *args, stdin=None):
        return subprocess.run([self.cli, "--data-dir", self.data] + list(args), input=stdin,
                              capture_output=True, timeout=60)

    def start(self):
        self.proc = subprocess.Popen([self.tjstored, "--config", self.conf, "--make-cert", "--allow-root"],
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tjstored exited with {self.proc.returncode}: {self.tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                socket.create_connection(("127.0.0.1", self.tls_port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("tjstored did not start listening: " + self.tail())

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            return None

    def tail(self):
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read()[-3000:].decode(errors="replace")

    def imap(self):
        m = imaplib.IMAP4("127.0.0.1", self.port, timeout=20)
        return m

    def login(self, user="alice", pw=PASSWORD):
        m = self.imap()
        m.login(user, pw)
        return m


def ok(typ, what=""):
    assert typ == "OK", f"{what}: {typ}"


def tls_ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


# ---- the tests ----

def t_capability_and_login(n):
    m = n.imap()
    caps = m.capabilities
    for want in ("IMAP4REV1", "IDLE", "UIDPLUS", "MOVE", "NAMESPACE", "STARTTLS", "SPECIAL-USE", "CONDSTORE",
                 "QRESYNC", "LITERAL+", "ENABLE", "ID"):
        assert want in caps, f"capability {want} missing from {caps}"
    try:
        m.login("alice", "wrong password")
        raise AssertionError("a wrong password was accepted")
    except imaplib.IMAP4.error:
        pass
    m.logout()
    m = n.login()
    typ, data = m.capability()
    ok(typ, "CAPABILITY after login")
    m.logout()


def t_full_scenario(n):
    m = n.login()
    typ, boxes = m.list()
    ok(typ, "LIST")
    text = b"\n".join(boxes)
    for special in (b"\\Sent", b"\\Drafts", b"\\Trash", b"\\Junk"):
        assert special in text, f"{special} missing from LIST: {text}"
    ok(m.create("Projects")[0], "CREATE")
    ok(m.create("Projects/2026")[0], "CREATE child")
    date = imaplib.Time2Internaldate(time.mktime((2026, 11, 20, 12, 0, 0, 0, 0, -1)))
    typ, data = m.append("INBOX", r"(\Flagged $Work)", date, MSG1)
    ok(typ, "APPEND")
    assert b"APPENDUID" in data[0], data
    ok(m.append("INBOX", None, None, MSG2)[0], "APPEND 2")
    typ, data = m.select("INBOX")
    ok(typ, "SELECT")
    assert int(data[0]) == 2, f"EXISTS {data}"
    typ, data = m.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE UID)")
    ok(typ, "FETCH")
    resp = data[0] if isinstance(data[0], bytes) else data[0][0]
    assert b"\\Flagged" in resp and b"$Work" in resp, resp
    assert b"RFC822.SIZE %d" % len(MSG1) in resp, resp
    assert b'"hello from the test"' in resp, resp
    assert b'"alice" "example.org"' in resp, resp
    assert b'("text" "plain"' in resp.replace(b"TEXT", b"text").replace(b"PLAIN", b"plain"), resp
    typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    ok(typ, "FETCH header fields")
    assert data[0][1].strip() == b"Subject: hello from the test", data
    typ, data = m.fetch("1", "(BODY.PEEK[1])")
    assert data[0][1] == b"The quick brown fox jumps over the lazy dog.", data
    typ, data = m.fetch("1", "(BODY.PEEK[2])")
    assert data[0][1].strip() == b"AAECAwQFBgc=", data
    typ, data = m.fetch("1", "(BODY.PEEK[]<0.10>)")
    assert data[0][1] == MSG1[:10], data
    typ, data = m.fetch("1", "(BODY.PEEK[])")
    assert data[0][1] == MSG1, "whole message differs"
    typ, data = m.fetch("2", "(FLAGS)")
    assert b"\\Seen" not in data[0], data
    typ, data = m.fetch("2", "(BODY[TEXT])")
    assert data[0][1] == b"nothing to see\r\n", data
    typ, data = m.fetch("2", "(FLAGS)")
    assert b"\\Seen" in data[0], f"BODY[] did not set \\Seen: {data}"
    # search
    typ, data = m.search(None, "SUBJECT", '"hello"')
    assert data[0].split() == [b"1"], data
    typ, data = m.search(None, "BODY", "lazy")
    assert data[0].split() == [b"1"], data
    typ, data = m.search(None, "UNSEEN")
    assert data[0].split() == [b"1"], data
    typ, data = m.search(None, "FROM", "carol")
    assert data[0].split() == [b"2"], data
    # store, copy, move, expunge
    ok(m.store("1", "+FLAGS", r"(\Seen)")[0], "STORE")
    typ, data = m.fetch("1", "(FLAGS)")
    assert b"\\Seen" in data[0], data
    typ, data = m.copy("1:2", "Projects")
    ok(typ, "COPY")
    typ, data = m._simple_command("UID", "MOVE", "2", "Projects/2026")
    ok(typ, "UID MOVE")
    typ, data = m.status("Projects", "(MESSAGES UNSEEN UIDNEXT)")
    assert b"MESSAGES 2" in data[0], data
    typ, data = m.status("Projects/2026", "(MESSAGES)")
    assert b"MESSAGES 1" in data[0], data
    ok(m.store("1", "+FLAGS", r"(\Deleted)")[0], "STORE deleted")
    typ, data = m.expunge()
    ok(typ, "EXPUNGE")
    typ, data = m.select("INBOX")
    assert int(data[0]) == 0, f"INBOX after move + expunge: {data}"
    ok(m.rename("Projects", "Archive")[0], "RENAME")
    typ, data = m.list('""', "Archive*")
    assert b"Archive/2026" in b"\n".join(data), data
    ok(m.subscribe("Archive")[0], "SUBSCRIBE")
    typ, data = m.lsub('""', "Arch*")
    assert b"Archive" in b"\n".join(d for d in data if d), data
    m.close()
    m.logout()


def t_idle_sees_other_sessions(n):
    a = n.login()
    a.select("INBOX")
    before = int(a.select("INBOX")[1][0])
    tag = a._new_tag()
    a.send(tag + b" IDLE\r\n")
    line = a.readline()
    assert line.startswith(b"+"), line
    got = []

    def reader():
        try:
            a.sock.settimeout(10)
            got.append(a.readline())
        except Exception as e:  # noqa: BLE001
            got.append(repr(e).encode())

    th = threading.Thread(target=reader)
    th.start()
    time.sleep(0.3)
    b = n.login()
    ok(b.append("INBOX", None, None, MSG2)[0], "APPEND from the second client")
    b.logout()
    th.join(15)
    assert got and got[0].strip() == b"* %d EXISTS" % (before + 1), got
    a.send(b"DONE\r\n")
    line = a.readline()
    assert line.startswith(tag + b" OK"), line
    a.logout()


def t_starttls_and_implicit_tls(n):
    m = n.imap()
    m.starttls(ssl_context=tls_ctx())
    m.login("alice", PASSWORD)
    assert "STARTTLS" not in m.capability()[1][0].decode(), "STARTTLS still offered after TLS"
    m.logout()
    m = imaplib.IMAP4_SSL("127.0.0.1", n.tls_port, ssl_context=tls_ctx(), timeout=20)
    m.login("alice", PASSWORD)
    ok(m.select("INBOX")[0], "SELECT over TLS")
    m.logout()


def t_bad_commands_keep_session(n):
    m = n.login()
    for bad in (b"a1 FROBNICATE", b"a2 SELECT", b"a3 FETCH 1 (BODY[", b"a4 LOGIN x"):
        m.send(bad + b"\r\n")
        line = m.readline()
        assert line.startswith(bad.split()[0] + b" BAD") or line.startswith(bad.split()[0] + b" NO"), (bad, line)
    ok(m.noop()[0], "NOOP after BADs")
    m.logout()


def t_curl(n):
    curl = shutil.which("curl")
    if not curl:
        print("skipped: curl not installed")
        return
    url = f"imap://127.0.0.1:{n.port}/"
    r = subprocess.run([curl, "-sS", "--max-time", "20", "--user", f"alice:{PASSWORD}", url],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert b"INBOX" in r.stdout and b"Archive" in r.stdout, r.stdout
    r = subprocess.run([curl, "-sS", "--max-time", "20", "--user", f"alice:{PASSWORD}",
                        f"imap://127.0.0.1:{n.port}/Archive;UID=1"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert b"quick brown fox" in r.stdout, r.stdout[:200]
    r = subprocess.run([curl, "-sS", "--max-time", "20", "--user", "alice:wrong", url],
                       capture_output=True, timeout=30)
    assert r.returncode != 0, "curl logged in with a wrong password"


def t_openssl_s_client(n):
    openssl = shutil.which("openssl")
    if not openssl:
        print("skipped: openssl not installed")
        return
    r = subprocess.run([openssl, "s_client", "-starttls", "imap", "-connect", f"127.0.0.1:{n.port}", "-quiet"], input=f"a1 LOGIN alice \"{PASSWORD}\"\r\na2 LOGOUT\r\n".encode(),
                       capture_output=True, timeout=30)
    assert b"a1 OK" in r.stdout, r.stdout + r.stderr
    r = subprocess.run([openssl, "s_client", "-connect", f"127.0.0.1:{n.tls_port}", "-quiet"],
                       input=b"a1 CAPABILITY\r\na2 LOGOUT\r\n", capture_output=True, timeout=30)
    assert b"a1 OK" in r.stdout and b"IMAP4rev1" in r.stdout, r.stdout + r.stderr


def t_mbsync_both_ways(n):
    mbsync = shutil.which("mbsync")
    if not mbsync:
        print("skipped: mbsync (isync) not installed")
        return
    local = os.path.join(n.tmp, "maildir")
    os.makedirs(local)
    rc = os.path.join(n.tmp, "mbsyncrc")
    with open(rc, "w") as f:
        f.write(f"""IMAPAccount tj
Host 127.0.0.1
Port {n.port}
User bob
Pass bob-password
SSLType None
AuthMechs LOGIN

IMAPStore tj-remote
Account tj

MaildirStore tj-local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel tj
Far :tj-remote:
Near :tj-local:
Patterns INBOX Work
Create Both
Expunge Both
SyncState *
Sync All
""")
    b = n.login("bob", "bob-password")
    ok(b.create("Work")[0], "CREATE Work")
    ok(b.append("INBOX", None, None, MSG1)[0], "APPEND for mbsync")
    ok(b.append("Work", r"(\Flagged)", None, MSG2)[0], "APPEND Work")
    b.logout()

    def run():
        r = subprocess.run([mbsync, "-c", rc, "-a"], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
    run()
    def files(box):
        out = []
        for sub in ("cur", "new"):
            d = os.path.join(local, box, sub)
            out += [os.path.join(d, x) for x in os.listdir(d)] if os.path.isdir(d) else []
        return out
    inbox = files("INBOX")
    assert len(inbox) == 1, inbox
    got = open(inbox[0], "rb").read().replace(b"\r\n", b"\n")
    got = b"".join(l for l in got.splitlines(True) if not l.startswith(b"X-TUID: "))  # mbsync's own header
    assert got == MSG1.replace(b"\r\n", b"\n"), "content differs: %r" % got[:300]
    work = files("Work")
    assert len(work) == 1 and work[0].endswith("F"), work  # \Flagged came down as maildir flag F
    # the other way: a new local message and a flag change go up
    newmsg = os.path.join(local, "INBOX", "new", "1700000000.local.test")
    with open(newmsg, "wb") as f:
        f.write(b"From: bob@example.com\nSubject: written offline\n\nsynced up by mbsync\n")
    os.rename(inbox[0], inbox[0].split(":2,")[0] + ":2,S" if ":2," in inbox[0] else inbox[0] + ":2,S")
    run()
    b = n.login("bob", "bob-password")
    typ, data = b.select("INBOX")
    assert int(data[0]) == 2, f"INBOX after mbsync push: {data}"
    typ, data = b.search(None, "SUBJECT", '"written offline"')
    assert data[0].split(), data
    typ, data = b.fetch("1", "(FLAGS)")
    assert b"\\Seen" in data[0], f"flag change not pushed: {data}"
    b.logout()


def t_smtp_and_lmtp_delivery(n):
    import smtplib
    watcher = n.login("bob", "bob-password")
    watcher.select("INBOX")
    before = int(watcher.select("INBOX")[1][0])
    with smtplib.SMTP("127.0.0.1", n.smtp_port, timeout=20) as s:
        s.ehlo("client.test")
        assert s.has_extn("pipelining") and s.has_extn("size") and s.has_extn("8bitmime"), s.esmtp_features
        s.starttls(context=tls_ctx())
        s.ehlo("client.test")
        refused = s.sendmail("carol@example.net", ["bob@example.com"], MSG2)
        assert not refused, refused
        try:
            s.sendmail("carol@example.net", ["nobody@example.com"], MSG2)
            raise AssertionError("unknown recipient accepted")
        except smtplib.SMTPRecipientsRefused as e:
            assert e.recipients["nobody@example.com"][0] == 550, e.recipients
    # LMTP answers once per recipient after DATA (smtplib reads only one), so by hand
    with socket.create_connection(("127.0.0.1", n.lmtp_port), timeout=20) as c:
        f = c.makefile("rb")
        def reply():
            lines = [f.readline()]
            while lines[-1][3:4] == b"-":
                lines.append(f.readline())
            return lines
        assert reply()[0].startswith(b"220"), "LMTP greeting"
        c.sendall(b"LHLO front.test\r\n")
        assert reply()[-1].startswith(b"250 "), "LHLO"
        c.sendall(b"MAIL FROM:<carol@example.net>\r\nRCPT TO:<bob@example.com>\r\n"
                  b"RCPT TO:<nobody@example.com>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
        assert reply()[0].startswith(b"250"), "MAIL"
        assert reply()[0].startswith(b"250"), "RCPT bob"
        assert reply()[0].startswith(b"550"), "RCPT nobody"
        assert reply()[0].startswith(b"250"), "RCPT alice"
        assert reply()[0].startswith(b"354"), "DATA"
        c.sendall(MSG1.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        per_rcpt = [reply()[0], reply()[0]]
        assert all(r.startswith(b"250") for r in per_rcpt), per_rcpt
        c.sendall(b"QUIT\r\n")
        assert reply()[0].startswith(b"221"), "QUIT"
    typ, data = watcher.noop()
    typ, data = watcher.select("INBOX")
    assert int(data[0]) == before + 2, f"bob's INBOX: {data}"
    typ, data = watcher.fetch(str(before + 1), "(BODY.PEEK[HEADER.FIELDS (RETURN-PATH DELIVERED-TO RECEIVED)])")
    hdr = data[0][1]
    assert b"Return-Path: <carol@example.net>" in hdr and b"Delivered-To: bob@" in hdr and b"ESMTPS" in hdr, hdr
    watcher.logout()


EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def t_virus_refused_and_quarantined(n):
    import base64
    import smtplib
    att = base64.encodebytes(EICAR)
    msg = (b"From: mallory@example.net\r\nTo: bob@example.com\r\nSubject: invoice\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
           b"--zz\r\nContent-Type: application/octet-stream; name=\"inv.com\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + att.replace(b"\n", b"\r\n") + b"--zz--\r\n")
    b = n.login("bob", "bob-password")
    before = int(b.select("INBOX")[1][0])
    with smtplib.SMTP("127.0.0.1", n.smtp_port, timeout=20) as s:
        try:
            s.sendmail("mallory@example.net", ["bob@example.com"], msg)
            raise AssertionError("EICAR was accepted")
        except smtplib.SMTPDataError as e:
            assert e.smtp_code == 554 and b"EICAR" in e.smtp_error, (e.smtp_code, e.smtp_error)
    after = int(b.select("INBOX")[1][0])
    assert after == before, "the infected message was delivered"
    b.logout()
    q = os.path.join(n.tmp, "quarantine")
    files = os.listdir(q) if os.path.isdir(q) else []
    assert len(files) == 1 and "INFECTED" in files[0], files
    assert oct(os.stat(os.path.join(q, files[0])).st_mode & 0o777) == "0o600"


def t_admin_socket(n):
    r = subprocess.run([n.cli, "--socket", os.path.join(n.tmp, "admin.sock"), "--json", "stats"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert b'"messages":' in r.stdout and b'"stored_bytes":' in r.stdout, r.stdout
    r = subprocess.run([n.cli, "--socket", os.path.join(n.tmp, "admin.sock"), "status"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0 and b"node         test" in r.stdout, r.stdout + r.stderr
    r = subprocess.run([n.cli, "--socket", os.path.join(n.tmp, "nosuch.sock"), "status"],
                       capture_output=True, timeout=30)
    assert r.returncode == 1, r.stdout + r.stderr


def t_restart_keeps_mail(n):
    rc = n.stop()
    assert rc == 0, f"tjstored exited with {rc} after SIGTERM: {n.tail()}"
    r = n.run_cli("verify")
    assert r.returncode == 0, r.stdout + r.stderr
    n.start()
    m = n.login()
    typ, data = m.select("Archive")
    assert int(data[0]) == 2, f"Archive after restart: {data}"
    typ, data = m.fetch("1", "(BODY.PEEK[])")
    assert data[0][1] == MSG1, "message changed across restart"
    m.logout()


TESTS = [t_capability_and_login, t_full_scenario, t_idle_sees_other_sessions, t_starttls_and_implicit_tls,
         t_bad_commands_keep_session, t_curl, t_openssl_s_client, t_mbsync_both_ways,
         t_smtp_and_lmtp_delivery, t_virus_refused_and_quarantined, t_admin_socket, t_restart_keeps_mail]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tjstored", required=True)
    ap.add_argument("--cli", required=True)
    args = ap.parse_args()
    signal.alarm(600)  # the whole run is bounded
    tmp = tempfile.mkdtemp(prefix="tjimapd.")
    node = Node(args.tjstored, args.cli, tmp)
    passed = failed = 0
    try:
        r = node.run_cli("users", "add", "alice", "--password-stdin", stdin=PASSWORD.encode() + b"\n")
        assert r.returncode == 0, r.stdout + r.stderr
        r = node.run_cli("users", "add", "bob", "--password-stdin", stdin=b"bob-password\n")
        assert r.returncode == 0, r.stdout + r.stderr
        node.start()
        for t in TESTS:
            try:
                t(node)
                passed += 1
                print(f"ok   {t.__name__}")
            except Exception:  # noqa: BLE001
                failed += 1
                print(f"FAIL {t.__name__}")
                traceback.print_exc()
            sys.stdout.flush()
        if failed:
            print("--- tjstored log (tail) ---\n" + node.tail())
    finally:
        node.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
