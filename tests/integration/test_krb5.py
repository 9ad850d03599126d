#!/usr/bin/env python3
"""test_krb5.py - tjstored with auth.backend = krb5 against a real KDC.

Starts a throwaway MIT KDC (TESTING.md recipe: temp dir, free loopback
port, its own KRB5_CONFIG and KRB5_KDC_PROFILE), a keytab for the node's
imap service principal, and a tjstored using it; then logs in over IMAP
with imaplib: right password accepted, wrong password and unknown principal
refused alike, and, with the KDC stopped, NO [UNAVAILABLE] and a node that
keeps running.  Everything is stopped by pid and the temp dir removed.
Prints "N passed, N failed"; skips (exit 0) when the KDC packages are
missing.

usage: test_krb5.py --tjstored PATH --cli PATH
"""
import argparse
import imaplib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, what, log):
    deadline = time.time() + 20
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {open(log).read()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tjstored", required=True)
    ap.add_argument("--cli", required=True)
    args = ap.parse_args()
    for tool in ("krb5kdc", "kdb5_util", "kadmin.local"):
        if not shutil.which(tool):
            print(f"skipped: {tool} not installed (krb5-kdc, krb5-admin-server)")
            print("0 passed, 0 failed")
            return 0
    signal.alarm(300)
    tmp = tempfile.mkdtemp(prefix="tjkrb5.")
    kdc_port, imap_port = free_port(), free_port()
    host = socket.gethostname().lower()
    env = dict(os.environ, KRB5_CONFIG=f"{tmp}/krb5.conf", KRB5_KDC_PROFILE=f"{tmp}/kdc.conf")
    with open(f"{tmp}/krb5.conf", "w") as f:
        f.write(f"""[libdefaults]
  default_realm = TEST.REALM
  dns_lookup_kdc = false
  dns_lookup_realm = false
  dns_canonicalize_hostname = false
  rdns = false
[realms]
  TEST.REALM = {{
    kdc = 127.0.0.1:{kdc_port}
  }}
""")
    with open(f"{tmp}/kdc.conf", "w") as f:
        f.write(f"""[kdcdefaults]
  kdc_listen = 127.0.0.1:{kdc_port}
  kdc_tcp_listen = 127.0.0.1:{kdc_port}
[realms]
  TEST.REALM = {{
    database_name = {tmp}/principal
    key_stash_file = {tmp}/stash
    acl_file = {tmp}/kadm5.acl
  }}
""")
    procs = []
    passed = failed = 0
    kdc = node = None
    try:
        def run(*cmd, stdin=None):
            r = subprocess.run(list(cmd), env=env, input=stdin, capture_output=True, timeout=60)
            assert r.returncode == 0, (cmd, r.stdout, r.stderr)
            return r
        run("kdb5_util", "create", "-s", "-r", "TEST.REALM", "-P", "masterpw")
        run("kadmin.local", "-q", "addprinc -pw secret1 user1")
        for h in sorted({host, "localhost"}):
            run("kadmin.local", "-q", f"addprinc -randkey imap/{h}")
            run("kadmin.local", "-q", f"ktadd -k {tmp}/imap.keytab imap/{h}")
        kdc_log = f"{tmp}/kdc.log"
        kdc = subprocess.Popen(["krb5kdc", "-n", "-r", "TEST.REALM"], env=env,
                               stdout=open(kdc_log, "wb"), stderr=subprocess.STDOUT)
        procs.append(kdc)
        time.sleep(0.5)
        data = f"{tmp}/data"
        run(args.cli, "--data-dir", data, "users", "add", "user1")
        run(args.cli, "--data-dir", data, "users", "add", "ghost")  # in the store, not in the KDC
        with open(f"{tmp}/tjstored.conf", "w") as f:
            f.write(f"""[node]
name = krb
data_dir = {data}
[imap]
listen = 127.0.0.1:{imap_port}
[smtp]
listen = 127.0.0.1:{free_port()}
[auth]
backend = krb5
keytab = {tmp}/imap.keytab
realm = TEST.REALM
service = imap
[users]
file = {tmp}/users.csv
[scan]
clamav_db_dir = {tmp}/clamav
[admin]
socket = {tmp}/admin.sock
""")
        node_log = f"{tmp}/tjstored.log"
        node = subprocess.Popen([args.tjstored, "--config", f"{tmp}/tjstored.conf", "--allow-root"], env=env,
                                stdout=open(node_log, "wb"), stderr=subprocess.STDOUT)
        procs.append(node)
        wait_port(imap_port, node, "tjstored", node_log)

        def login(user, pw):
            m = imaplib.IMAP4("127.0.0.1", imap_port, timeout=30)
            try:
                m.login(user, pw)
                m.logout()
                return "OK"
            except imaplib.IMAP4.error as e:
                return str(e)

        def case(name, fn):
            nonlocal passed, failed
            try:
                fn()
                passed += 1
                print(f"ok   {name}")
            except Exception:  # noqa: BLE001
                failed += 1
                print(f"FAIL {name}")
                traceback.print_exc()
                print(open(node_log).read()[-2000:])

        def right_password():
            assert login("user1", "secret1") == "OK"

        def wrong_and_unknown_alike():
            a, b = login("user1", "wrong"), login("ghost", "secret1")
            assert a != "OK" and b != "OK", (a, b)
            assert "AUTHENTICATIONFAILED" in a and "AUTHENTICATIONFAILED" in b, (a, b)

        def kdc_down_unavailable():
            kdc.send_signal(signal.SIGTERM)
            kdc.wait(10)
            r = login("user1", "secret1")
            assert "UNAVAILABLE" in r, r
            assert node.poll() is None, "tjstored died with the KDC down"

        case("right_password", right_password)
        case("wrong_password_and_unknown_user_alike", wrong_and_unknown_alike)
        case("kdc_down_gives_unavailable", kdc_down_unavailable)
    except Exception:  # noqa: BLE001
        failed += 1
        traceback.print_exc()
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
