# SPDX-License-Identifier: ISC
"""
Broken and malicious smarthosts against outpost's SMTP agents (relay mode):
an endless multi-line reply, a 10 MB reply line, garbage bytes, a stall in
the middle of a reply, impossible reply codes. Each costs only its session:
the mail is deferred with a clear reason, the agent process lives on, and
the re-send (to the same server, now well-behaved) delivers the mail once.
Also: a server without 8BITMIME gets no 8-bit mail (bounced 5.6.3, nothing
sent), a server's SIZE limit is respected (bounced 5.3.4 before MAIL).
"""

import random
import socket
import threading
import time

import pytest

import outpost_harness as H

MSG = b"Subject: hostile test\n\nbody\n"


class ScriptedServer:
    """A TCP server on 127.0.0.1 whose first `hostile` connections run
    `behaviour(conn)`; later connections speak plain SMTP (PIPELINING,
    8BITMIME unless told otherwise) and keep each mail's data."""

    def __init__(self, behaviour=None, hostile=1, ehlo_extra=("PIPELINING", "8BITMIME")):
        self.behaviour = behaviour
        self.hostile = hostile
        self.ehlo_extra = list(ehlo_extra)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = 0
        self.mails = []         # (mail_from_line, [rcpt lines], data)
        self.commands = []
        self.stop_ev = threading.Event()
        self.threads = []
        self.clients = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    @property
    def hostport(self):
        return f"[127.0.0.1]:{self.port}"

    def _accept(self):
        while not self.stop_ev.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.conns += 1
                n = self.conns
                self.clients.append(c)
            t = threading.Thread(target=self._serve, args=(c, n), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, c, n):
        c.settimeout(30)
        try:
            if self.behaviour is not None and n <= self.hostile:
                self.behaviour(c, self.stop_ev)
            else:
                self._smtp(c)
        except OSError:
            pass
        finally:
            c.close()

    def _smtp(self, c):
        f = c.makefile("rb")
        c.sendall(b"220 hostile.test ESMTP\r\n")
        mail, rcpts = None, []
        for _ in range(10000):
            line = f.readline(4096)
            if not line:
                return
            cmd = line.rstrip(b"\r\n").decode("latin-1")
            with self.lock:
                self.commands.append(cmd)
            verb = cmd[:4].upper()
            if verb == "EHLO":
                ext = ["hostile.test"] + self.ehlo_extra
                c.sendall(b"".join(f"250{'-' if i < len(ext) - 1 else ' '}{e}\r\n".encode()
                                   for i, e in enumerate(ext)))
            elif verb == "HELO":
                c.sendall(b"250 hostile.test\r\n")
            elif verb == "MAIL":
                mail, rcpts = cmd, []
                c.sendall(b"250 2.1.0 Ok\r\n")
            elif verb == "RCPT":
                rcpts.append(cmd)
                c.sendall(b"250 2.1.5 Ok\r\n")
            elif verb == "DATA":
                c.sendall(b"354 go on\r\n")
                data = b""
                while True:
                    l2 = f.readline(65536)
                    if not l2:
                        return
                    if l2 == b".\r\n":
                        break
                    data += l2[1:] if l2.startswith(b".") else l2
                with self.lock:
                    self.mails.append((mail, rcpts, data))
                c.sendall(b"250 2.0.0 Ok: queued\r\n")
            elif verb == "RSET":
                c.sendall(b"250 2.0.0 Ok\r\n")
            elif verb == "QUIT":
                c.sendall(b"221 2.0.0 Bye\r\n")
                return
            else:
                c.sendall(b"502 5.5.2 Error: command not recognized\r\n")

    def stop(self):
        self.stop_ev.set()
        self.sock.close()
        self.acceptor.join(5)
        with self.lock:
            for c in self.clients:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for t in self.threads:
            t.join(5)


@pytest.fixture
def server_factory():
    made = []

    def make(*a, **kw):
        s = ScriptedServer(*a, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop()


def endless_multiline(c, stop):
    line = b"220-this greeting never ends, " + b"x" * 60 + b"\r\n"
    for _ in range(400_000):            # 36 MB at most
        if stop.is_set():
            return
        c.sendall(line * 16)


def huge_line(c, stop):
    c.sendall(b"220 ")
    chunk = b"A" * 65536
    for _ in range(160):                # 10 MB without a line end
        c.sendall(chunk)
    c.sendall(b"\r\n")
    stop.wait(10)


def garbage(c, stop):
    rnd = random.Random(99)
    c.sendall(bytes(rnd.getrandbits(8) for _ in range(65536)))
    stop.wait(10)


def stall_mid_reply(c, stop):
    c.sendall(b"220-hostile.test says hello\r\n220-and then")
    stop.wait(3)                        # silence, then the connection drops


def code_999(c, stop):
    c.sendall(b"999 hostile.test ESMTP\r\n")
    stop.wait(10)


def code_25x(c, stop):
    c.sendall(b"220 hostile.test ESMTP\r\n")
    f = c.makefile("rb")
    f.readline()
    c.sendall(b"25x-hostile.test\r\n25x PIPELINING\r\n")
    stop.wait(10)


def garbage_after_rcpt(c, stop):
    f = c.makefile("rb")
    c.sendall(b"220 hostile.test ESMTP\r\n")
    f.readline()
    c.sendall(b"250 hostile.test\r\n")
    f.readline()
    c.sendall(b"250 2.1.0 Ok\r\n")
    f.readline()
    c.sendall(b"\x00\x01\x02 not smtp \xff\xfe\r\n")
    stop.wait(10)


HOSTILE = [
    (endless_multiline, r"too many lines|reply too long"),
    (huge_line, r"reply line too long"),
    (garbage, r"malformed reply"),
    (stall_mid_reply, r"lost connection .* while receiving the initial server greeting"),
    (code_999, r"invalid reply code"),
    (code_25x, r"invalid reply code"),
    (garbage_after_rcpt, r"malformed reply .*while sending RCPT TO"),
]


@pytest.mark.parametrize("behaviour,reason", HOSTILE, ids=[b.__name__ for b, _ in HOSTILE])
def test_hostile_server_costs_one_session(outpost_factory, server_factory, behaviour, reason):
    srv = server_factory(behaviour)
    op = outpost_factory(params={"delivery_mode": "relay", "relay_host": srv.hostport,
                                 "resend_interval": "1", "resend_attempts": 3})
    agents = sorted(a.pid for a in op.children_by_title("agent"))
    assert agents
    r = op.sendmail(["-f", "s@src.test", "victim@dest.test"], MSG)
    assert r.returncode == 0, r.stderr
    op.wait_log(r"to=<victim@dest.test>.*status=deferred \(.*(" + reason + ")", timeout=40)
    # the re-send finds a well-behaved server and delivers once
    H.wait_until(lambda: srv.mails, 30, what="delivery after the re-send")
    op.wait_log(r"to=<victim@dest.test>.*status=sent", timeout=20)
    time.sleep(0.5)
    assert len(srv.mails) == 1
    assert sorted(a.pid for a in op.children_by_title("agent")) == agents, "an agent died"


def test_8bit_mail_to_7bit_server_bounced_not_sent(outpost_factory, server_factory):
    srv = server_factory(ehlo_extra=("PIPELINING",))
    op = outpost_factory(params={"delivery_mode": "relay", "relay_host": srv.hostport})
    data = "Subject: 8bit\nContent-Type: text/plain; charset=utf-8\n\nGrüße\n".encode()
    r = op.sendmail(["-f", "s@src.test", "eight@dest.test"], data)
    assert r.returncode == 0, r.stderr
    op.wait_log(r"to=<eight@dest.test>.*dsn=5\.6\.3, status=bounced .*8BITMIME", timeout=30)
    # the bounce itself (7-bit) may reach the server; the 8-bit mail never does
    assert not any("eight@dest.test" in r for _, rc, _ in srv.mails for r in rc)
    assert not any("Gr\xc3\xbc" in c for c in srv.commands)


def test_server_size_limit_respected(outpost_factory, server_factory):
    srv = server_factory(ehlo_extra=("PIPELINING", "8BITMIME", "SIZE 1000"))
    op = outpost_factory(params={"delivery_mode": "relay", "relay_host": srv.hostport})
    data = b"Subject: big\n\n" + (b"y" * 70 + b"\n") * 100
    r = op.sendmail(["-f", "s@src.test", "big@dest.test"], data)
    assert r.returncode == 0, r.stderr
    op.wait_log(r"to=<big@dest.test>.*dsn=5\.3\.4, status=bounced", timeout=30)
    assert not any("big@dest.test" in c for c in srv.commands)
