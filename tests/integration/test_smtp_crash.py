#!/usr/bin/env python3
"""test_smtp_crash.py - kill -9 during a delivery load: a 250 is a promise.

A tjstored (test_imapd.Node) takes a load of numbered messages from six
concurrent sessions, three over SMTP and three over LMTP, each pipelining
MAIL, RCPT and DATA like an MTA.  Every message has a unique token in its
Subject and Message-ID, and one or two recipients (crash1, crash2).  At a
random moment during the load the node is killed with SIGKILL; this is done
ROUNDS times.  After each kill the node is restarted and, before anything
is retried, the mailboxes are counted over IMAP.  Then, as a real MTA would,
the client retries every (message, recipient) that has not had its 250.

The invariants, per (message, recipient):
  * acknowledged (a 250 reached the client): present, never lost;
  * present at most (1 if acknowledged) + (number of attempts that sent the
    final "." but got no reply, the 250 lost in the kill) times.  So a
    message acknowledged at its first attempt is present exactly once, and
    one that was never sent to the end is absent.  A copy stored whose 250
    was lost in the kill may legitimately be present twice after the retry
    (SMTP is at-least-once); such cases are counted and reported;
  * every stored message has exactly the bytes sent (after our trace
    fields).
At the end every message has been acknowledged, the node stops with exit 0
after SIGTERM and `tjstore-cli verify` is clean.

Prints the figures (acknowledged, retried, lost replies, duplicates) and
"N passed, N failed".  Set TJ_CRASH_SEED to replay a run.

usage: test_smtp_crash.py --tjstored PATH --cli PATH [--rounds N]
"""
import argparse
import collections
import json
import os
import random
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_imapd import Node  # noqa: E402

USERS = ("crash1", "crash2")
PW = {u: u + "-pw" for u in USERS}
SESSIONS = (("smtp", 3), ("lmtp", 3))
SOCK_TIMEOUT = 30
TOKEN_RE = re.compile(rb"crash-[sl]\d{6}")


class Msg:
    def __init__(self, proto, num):
        self.proto = proto
        self.token = "crash-%s%06d" % (proto[0], num)
        rng = random.Random(self.token)
        # SMTP: one reply for all recipients; LMTP: one per recipient
        self.rcpts = ["crash1", "crash2"] if num % 2 else [("crash1", "crash2")[num % 4 // 2]]
        lines = [b"From: load@client.test", b"To: " + ", ".join(r + "@example.com" for r in self.rcpts).encode(),
                 b"Subject: " + self.token.encode() + b" load message",
                 b"Message-ID: <" + self.token.encode() + b"@client.test>", b""]
        size = rng.choice((300, 2000, 6000, 20000))
        while sum(len(l) + 2 for l in lines) < size:
            word = rng.choice((b"lorem", b"ipsum", b".dot", b"..two", b"dolor", b"sit", b"amet"))
            lines.append(b" ".join([word] * rng.randint(1, 12)))
        self.data = b"\r\n".join(lines) + b"\r\n"
        self.acked = set()           # recipients that got their 250
        self.uncertain = collections.Counter()  # recipient -> attempts with "." sent and no reply
        self.attempts = 0

    def wire(self):
        out = []
        for l in self.data.split(b"\r\n")[:-1]:
            out.append((b"." + l if l.startswith(b".") else l) + b"\r\n")
        return b"".join(out) + b".\r\n"

    def pending(self):
        return [r for r in self.rcpts if r not in self.acked]


class Ledger:
    """every message ever made, and the work queue of the sessions"""

    def __init__(self):
        self.lock = threading.Lock()
        self.msgs = {}
        self.retry = {"smtp": collections.deque(), "lmtp": collections.deque()}
        self.next = {"smtp": 0, "lmtp": 0}
        self.new_allowed = True
        self.unexpected = []
        self.acks_this_round = 0

    def take(self, proto):
        with self.lock:
            if self.retry[proto]:
                return self.retry[proto].popleft()
            if not self.new_allowed:
                return None
            m = Msg(proto, self.next[proto])
            self.next[proto] += 1
            self.msgs[m.token] = m
            return m

    def give_back(self, m):
        with self.lock:
            self.retry[m.proto].append(m)

    def requeue_all_pending(self):
        """after a kill: whatever was not acknowledged goes to the retry queue"""
        with self.lock:
            queued = {id(m) for q in self.retry.values() for m in q}
            for m in self.msgs.values():
                if m.pending() and id(m) not in queued:
                    self.retry[m.proto].append(m)


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=SOCK_TIMEOUT)
        self.f = self.sock.makefile("rb")

    def reply(self):
        lines = []
        while True:
            line = self.f.readline()
            if not line.endswith(b"\n"):
                raise ConnectionError("connection closed")
            lines.append(line.rstrip(b"\r\n"))
            if line[3:4] != b"-":
                return int(line[:3]), lines

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass


def session(node, ledger, proto, stop):
    """one client session: pipelined MAIL/RCPT/DATA, retries left to the ledger"""
    port = node.lmtp_port if proto == "lmtp" else node.smtp_port
    try:
        c = Conn(port)
        code, _ = c.reply()
        assert code == 220
        c.sock.sendall(b"LHLO load.test\r\n" if proto == "lmtp" else b"EHLO load.test\r\n")
        code, _ = c.reply()
        assert code == 250
    except (OSError, ConnectionError):
        return
    m = None
    try:
        while not stop.is_set():
            m = ledger.take(proto)
            if m is None:
                break
            rcpts = m.pending()
            m.attempts += 1
            cmds = b"MAIL FROM:<load@client.test>\r\n" + b"".join(
                b"RCPT TO:<%s@example.com>\r\n" % r.encode() for r in rcpts) + b"DATA\r\n"
            c.sock.sendall(cmds)
            codes = [c.reply() for _ in range(len(rcpts) + 2)]
            if [x[0] for x in codes] != [250] * (len(rcpts) + 1) + [354]:
                ledger.unexpected.append((m.token, codes))
                if m.attempts < 5:
                    ledger.give_back(m)
                m = None
                c.sock.sendall(b"RSET\r\n")
                c.reply()
                continue
            for r in rcpts:            # from here a copy may be stored
                m.uncertain[r] += 1
            c.sock.sendall(m.wire())
            got = [c.reply() for _ in (rcpts if proto == "lmtp" else [None])]
            for i, r in enumerate(rcpts):
                code, text = got[i if proto == "lmtp" else 0]
                m.uncertain[r] -= 1    # the reply arrived: no longer uncertain
                if code == 250:
                    m.acked.add(r)
                    with ledger.lock:
                        ledger.acks_this_round += 1
                else:
                    ledger.unexpected.append((m.token, r, code, text))
            if m.pending() and m.attempts < 5:
                ledger.give_back(m)
            m = None
        c.sock.sendall(b"QUIT\r\n")
        c.reply()
    except (OSError, ConnectionError, ValueError):
        pass  # the server was killed; the ledger's requeue takes over m
    finally:
        c.close()


def lost_replies(ledger):
    """(message, recipient) attempts whose final "." was sent and whose reply never came"""
    return sum(sum(m.uncertain.values()) for m in list(ledger.msgs.values()))


def run_load(node, ledger, stop):
    threads = []
    for proto, n in SESSIONS:
        for _ in range(n):
            t = threading.Thread(target=session, args=(node, ledger, proto, stop), daemon=True)
            t.start()
            threads.append(t)
    return threads


def count_tokens(node, user):
    m = node.login(user, PW[user])
    try:
        typ, data = m.select("INBOX", readonly=True)
        assert typ == "OK", data
        counts = collections.Counter()
        if int(data[0]):
            typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            assert typ == "OK", data
            for d in data:
                if isinstance(d, tuple):
                    t = TOKEN_RE.search(d[1])
                    assert t, d
                    counts[t.group(0).decode()] += 1
        return counts
    finally:
        m.logout()


def check(node, ledger, final):
    """the invariants; returns (present, duplicates, stored-but-unacknowledged)"""
    counts = {u: count_tokens(node, u) for u in USERS}
    problems, dups, unacked_stored = [], 0, 0
    for tok in set(counts["crash1"]) | set(counts["crash2"]):
        if tok not in ledger.msgs:
            problems.append(f"{tok}: stored but never sent")
    for m in ledger.msgs.values():
        for r in m.rcpts:
            n = counts[r][m.token]
            acked = r in m.acked
            allowed = (1 if acked else 0) + m.uncertain[r]
            if acked and n == 0:
                problems.append(f"{m.token} -> {r}: ACKNOWLEDGED BUT LOST")
            elif n > allowed:
                problems.append(f"{m.token} -> {r}: present {n} times, allowed {allowed} "
                                f"(acked={acked}, replies lost={m.uncertain[r]})")
            if n > 1:
                dups += 1
            if not acked and n:
                unacked_stored += 1
            if final and not acked:
                problems.append(f"{m.token} -> {r}: never acknowledged")
    assert not problems, "\n".join(problems[:20]) + f"\n({len(problems)} problems)"
    return sum(sum(c.values()) for c in counts.values()), dups, unacked_stored


def check_bytes(node, ledger):
    """every stored copy ends with exactly the bytes sent"""
    bad = 0
    for u in USERS:
        m = node.login(u, PW[u])
        try:
            typ, data = m.select("INBOX", readonly=True)
            typ, data = m.fetch("1:*", "(BODY.PEEK[])")
            for d in data:
                if not isinstance(d, tuple):
                    continue
                raw = d[1]
                tok = TOKEN_RE.search(raw).group(0).decode()
                msg = ledger.msgs[tok]
                if not raw.endswith(msg.data) or not raw.startswith(b"Return-Path: <load@client.test>\r\n"):
                    bad += 1
        finally:
            m.logout()
    assert bad == 0, f"{bad} stored messages differ from what was sent"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tjstored", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    seed = int(os.environ.get("TJ_CRASH_SEED") or time.time())
    rng = random.Random(seed)
    print(f"seed {seed} (TJ_CRASH_SEED={seed} replays the kill times)")
    def out_of_time(signum, frame):
        raise TimeoutError("the test ran out of time")
    signal.signal(signal.SIGALRM, out_of_time)  # an exception, so that every finally: cleans up
    signal.alarm(540)  # the whole run is bounded
    tmp = tempfile.mkdtemp(prefix="tjcrash.")
    node = Node(args.tjstored, args.cli, tmp)
    ledger = Ledger()
    passed = failed = 0
    t_start = time.time()
    try:
        for u in USERS:
            r = node.run_cli("users", "add", u, "--password-stdin", stdin=PW[u].encode() + b"\n")
            assert r.returncode == 0, r.stdout + r.stderr
        kills = []
        for rnd in range(1, args.rounds + 1):
            node.start()
            if rnd > 1:
                # before any retry: nothing acknowledged is missing, nothing
                # unacknowledged is there more often than a reply was lost
                present, dups, unacked_stored = check(node, ledger, final=False)
                kills[-1]["stored_unacked"] = unacked_stored
            ledger.acks_this_round = 0
            lost_before = lost_replies(ledger)
            stop = threading.Event()
            threads = run_load(node, ledger, stop)
            deadline = time.time() + 60
            while ledger.acks_this_round < 20 and time.time() < deadline:
                time.sleep(0.02)
            assert ledger.acks_this_round >= 20, "the load did not get going: " + node.tail()
            time.sleep(rng.uniform(0.2, 2.5))
            node.stop(signal.SIGKILL)
            stop.set()
            for t in threads:
                t.join(SOCK_TIMEOUT + 5)
                assert not t.is_alive(), "a client session hangs"
            kills.append({"round": rnd, "acked": ledger.acks_this_round,
                          "replies_lost": lost_replies(ledger) - lost_before})
            ledger.requeue_all_pending()
            print(f"round {rnd}: killed after {ledger.acks_this_round} acknowledgements, "
                  f"{sum(len(q) for q in ledger.retry.values())} messages to retry")
            sys.stdout.flush()
        # the last start: count, then retry everything pending, no new mail
        node.start()
        present, dups, unacked_stored = check(node, ledger, final=False)
        kills[-1]["stored_unacked"] = unacked_stored
        retried = sum(len(q) for q in ledger.retry.values())
        ledger.new_allowed = False
        ledger.acks_this_round = 0
        stop = threading.Event()
        for t in run_load(node, ledger, stop):
            t.join(240)
            assert not t.is_alive(), "a client session hangs"
        ledger.requeue_all_pending()
        assert not any(ledger.retry.values()), "messages left unacknowledged without a kill"
        assert not ledger.unexpected, ledger.unexpected[:5]
        present, dups, unacked_stored = check(node, ledger, final=True)
        check_bytes(node, ledger)
        rc = node.stop()
        assert rc == 0, f"tjstored exited with {rc} after SIGTERM: {node.tail()}"
        r = node.run_cli("verify")
        assert r.returncode == 0, r.stdout + r.stderr
        node.log.flush()
        san = re.findall(rb".*(?:runtime error:|AddressSanitizer|LeakSanitizer).*", open(node.log.name, "rb").read())
        assert not san, san[:5]
        r = node.run_cli("--json", "stats")
        assert r.returncode == 0, r.stdout + r.stderr
        st = json.loads(r.stdout)
        assert st["messages"] == present, (st, present)
        pairs = sum(len(m.rcpts) for m in ledger.msgs.values())
        again = sum(1 for m in ledger.msgs.values() if m.attempts > 1)
        print(f"{len(ledger.msgs)} messages, {pairs} (message, recipient) pairs, {args.rounds} kills, "
              f"{again} messages sent again after a kill ({retried} after the last one); "
              f"{pairs - dups} pairs present once, {dups} twice (stored, but the 250 was lost in the kill, "
              f"then retried); no acknowledged pair lost, none duplicated without a lost reply")
        for k in kills:
            print(f"  kill {k['round']}: {k['acked']} acknowledged in the round, {k['replies_lost']} replies "
                  f"lost in the kill, {k.get('stored_unacked', 0)} unacknowledged copies found stored at the restart")
        print(f"store: {st['messages']} index entries, {st['unique_messages']} unique messages; verify clean")
        passed += 1
        print("ok   kill -9 during delivery load")
    except Exception:  # noqa: BLE001
        failed += 1
        print("FAIL kill -9 during delivery load")
        traceback.print_exc()
        print("--- tjstored log (tail) ---\n" + node.tail())
    finally:
        node.stop(signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed ({time.time() - t_start:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
