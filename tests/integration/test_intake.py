# SPDX-License-Identifier: ISC
"""
Intake protection: per-client connection limits, the junk-command limit,
idle clients on SMTP and the public socket, each local user's share of the
public socket, and a descriptor shortage at accept. Real sockets against a
running outpost; mails are held in the queue (relay to a refused port).
"""
import re
import socket
import subprocess
import sys
import time


import outpost_harness as H
from outpost_harness import raw_smtp as raw


def holding(port, **params):
    p = {"delivery_mode": "relay", "relay_host": f"[127.0.0.1]:{port}",
         "resend_interval": "1h", "connect_timeout": "2s"}
    p.update(params)
    return p


def full_mail(c, tag):
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert c.cmd("RCPT TO:<b@example.net>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(f"Subject: {tag}\r\n\r\nbody\r\n.\r\n".encode())
    return c.reply()


def cpu_ticks(pid):
    stat = open(f"/proc/{pid}/stat").read()
    f = stat[stat.rindex(")") + 2:].split()
    return int(f[11]) + int(f[12])


def test_idle_connections_from_one_address_do_not_lock_out_another(outpost_factory,
                                                                   refused_port):
    op = outpost_factory(params=holding(refused_port))
    held, codes = [], []
    try:
        for _ in range(260):
            c = raw(op)
            held.append(c)
            codes.append(c.reply()[0])
        # The default limit per address is 100 of the 200 sessions.
        assert codes.count(220) == 100, codes
        assert codes.count(421) == 160, codes
        off = op.log_offset()
        with raw(op, source="127.0.0.2") as c:
            code, text = c.reply()
            assert code == 220, text
            code, text = full_mail(c, "second address")
            assert code == 250, text
        assert "client_connection_limit 100" in op.log_text()
        assert off > 0
    finally:
        for c in held:
            c.close()
    H.wait_until(lambda: len(op.queued_mails()) == 1, 10, what="the mail queued")


def test_connection_over_the_limit_refused(outpost_factory, refused_port):
    op = outpost_factory(params=holding(refused_port, client_connection_limit=3))
    held = []
    try:
        for _ in range(3):
            c = raw(op)
            held.append(c)
            assert c.reply()[0] == 220
        c = raw(op)
        held.append(c)
        code, text = c.reply()
        assert code == 421 and " 4.7.0 " in text, text
        assert c.closed_by_peer(5)
        op.wait_log(r"reject: connect from \[127\.0\.0\.1\]:\d+: 421 4\.7\.0 "
                    r"client_connection_limit 3 reached")
        # One leaves: the next one is served again.
        held[0].cmd("QUIT")
        held[0].closed_by_peer(5)

        def served():
            with raw(op) as d:
                return d.reply()[0] == 220
        H.wait_until(served, 10, what="a slot free again")
    finally:
        for c in held:
            c.close()


def test_connection_rate_limit(outpost_factory, refused_port):
    op = outpost_factory(params=holding(refused_port, client_connection_rate=5))
    # From 127.0.0.3: the start-up probes came from 127.0.0.1.
    for _ in range(5):
        with raw(op, source="127.0.0.3") as c:
            assert c.reply()[0] == 220
            c.cmd("QUIT")
    with raw(op, source="127.0.0.3") as c:
        code, text = c.reply()
        assert code == 421 and " 4.7.0 " in text, text
    op.wait_log(r"connect from \[127\.0\.0\.3\]:\d+: 421 4\.7\.0 client_connection_rate 5 "
                r"per minute reached")
    # Another address has its own allowance.
    with raw(op, source="127.0.0.2") as c:
        assert c.reply()[0] == 220


def test_noop_flood_closed_after_junk_limit(outpost_factory, refused_port):
    op = outpost_factory(params=holding(refused_port))
    with raw(op) as c:
        assert c.reply()[0] == 220
        c.send(b"EHLO client.test\r\n")
        assert c.reply()[0] == 250
        # 2,000 NOOPs, pipelined ten at a time; the server's last words are read.
        codes, closed = [], False
        for _ in range(200):
            try:
                c.send(b"NOOP\r\n" * 10)
                for _ in range(10):
                    code, text = c.reply()
                    if code == 0:
                        closed = True
                        break
                    codes.append(code)
                    if code == 421:
                        assert " 4.7.0 " in text, text
            except (BrokenPipeError, ConnectionResetError):
                closed = True
            if closed or 421 in codes:
                break
        assert 421 in codes and (closed or c.closed_by_peer(5))
    # junk_command_limit 100: a hundred NOOPs answered, then 421 and the end.
    assert codes.count(250) == 100, (len(codes), codes[-3:])
    assert codes[-1] == 421, codes[-3:]
    op.wait_log(r"421 4\.7\.0 junk_command_limit 100 reached")
    # A session that sends mails starts its allowance again at each one.
    with raw(op) as c:
        assert c.reply()[0] == 220
        for i in range(3):
            for _ in range(60):
                assert c.cmd("NOOP")[0] == 250
            code, text = full_mail(c, f"mail {i}")
            assert code == 250, text
            assert c.cmd("RSET")[0] == 250


def test_idle_smtp_client_dropped(outpost_factory, refused_port):
    op = outpost_factory(params=holding(refused_port, client_idle_timeout="2s"))
    with raw(op) as c:
        assert c.reply()[0] == 220
        code, text = c.reply()          # nothing sent: the server speaks first
        assert code == 421 and "4.4.2" in text, text
        assert c.closed_by_peer(5)


def seqpacket_connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(str(path))
    return s


HOG = r"""
import os, socket, sys, time
os.setgid(65534); os.setgroups([]); os.setuid(65534)
held = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        s.connect(sys.argv[1])
    except OSError:
        s.close()
        continue
    held.append(s)
print(len(held), flush=True)
sys.stdin.read()
"""


def test_public_socket_hog_does_not_lock_out_others(root, outpost_factory, refused_port):
    op = outpost_factory(params=holding(refused_port))
    # nobody opens 300 connections to the public socket and keeps them.
    hog = subprocess.Popen([sys.executable, "-c", HOG, str(op.submit_socket), "300"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert hog.stdout.readline().strip() == "300"   # connect() succeeds: backlog
        op.wait_log(r"submit\.sock: uid 65534 pid \d+ refused: public_clients_per_uid 32 reached")
        r = op.sendmail(["-v", "rcpt@example.net"], b"Subject: root\n\nstill works\n")
        assert r.returncode == 0, r.stderr
        H.wait_until(lambda: len(op.queued_mails()) == 1, 10, what="root's mail queued")
        # And another ordinary user gets in too.
        r = op.sendmail(["-v", "rcpt@example.net"], b"Subject: user\n\nme too\n",
                        user=H.MAIL_USER)
        assert r.returncode == 0, r.stderr
    finally:
        hog.stdin.close()
        H.stop_pid(hog.pid, popen=hog)


def test_idle_public_client_dropped(outpost_factory, refused_port):
    op = outpost_factory(params=holding(refused_port, client_idle_timeout="2s"))
    s = seqpacket_connect(op.submit_socket)
    try:
        s.settimeout(15)
        t0 = time.monotonic()
        assert s.recv(65536) == b""        # closed by qmgr, nothing said
        assert 1.5 < time.monotonic() - t0 < 12
    finally:
        s.close()
    op.wait_log(r"submit\.sock: submit\[uid \d+ pid \d+\]: idle for 2s, dropped")
    r = op.sendmail(["rcpt@example.net"], b"Subject: after\n\nx\n")
    assert r.returncode == 0, r.stderr


def assert_paused(log, pattern):
    """In 3 s of EMFILE the accept error is logged once per 1 s pause (4 at
    most, 5 allowed); a loop retrying accept() at once logs thousands, or
    has its lines dropped by the master's rate limit."""
    n = len(re.findall(pattern, log))
    assert 1 <= n <= 5, f"{n} accept error lines in 3 s:\n{log[-2000:]}"
    assert "lines of this process dropped" not in log, log[-2000:]


def test_emfile_on_accept_pauses_smtpd(root, outpost_factory, refused_port):
    # smtpd gets 48 descriptors: a flood of connections runs it out of them.
    op = outpost_factory(params=holding(refused_port, client_connection_limit=0),
                         sections={"smtpd": {"open_files": 48, "max_sessions": 1000}})
    smtpd = op.child("smtpd")
    held = []
    try:
        for _ in range(120):
            s = socket.create_connection((op.smtp_host, op.smtp_port), timeout=5)
            held.append(s)
        op.wait_log(r"smtpd.*accept: Too many open files", timeout=10)
        # While the backlog still waits, smtpd does not spin on the listener.
        off = op.log_offset()
        before = cpu_ticks(smtpd.pid)
        time.sleep(3)
        spent = cpu_ticks(smtpd.pid) - before
        assert spent < 100, f"smtpd used {spent} ticks in 3 s while out of descriptors"
        assert_paused(op.log_text()[off:], r"smtpd.*accept: Too many open files")
    finally:
        for s in held:
            s.close()

    def served():
        with raw(op) as c:
            return c.reply()[0] == 220
    H.wait_until(served, 15, interval=0.5, what="smtpd accepting again")
    assert H.pid_alive(smtpd.pid)


def test_emfile_on_accept_pauses_public_socket(root, outpost_factory, refused_port):
    op = outpost_factory(params=holding(refused_port, public_clients_per_uid=256),
                         sections={"qmgr": {"open_files": 64}})
    qmgr = op.child("qmgr")
    held = []
    try:
        for _ in range(120):
            held.append(seqpacket_connect(op.submit_socket))
        op.wait_log(r"submit\.sock: accept, pausing", timeout=10)
        off = op.log_offset()
        before = cpu_ticks(qmgr.pid)
        time.sleep(3)
        spent = cpu_ticks(qmgr.pid) - before
        assert spent < 100, f"qmgr used {spent} ticks in 3 s while out of descriptors"
        assert_paused(op.log_text()[off:], r"submit\.sock: accept, pausing")
    finally:
        for s in held:
            s.close()
    r = op.sendmail(["rcpt@example.net"], b"Subject: after emfile\n\nx\n")
    assert r.returncode == 0, r.stderr
    assert H.pid_alive(qmgr.pid)
