# SPDX-License-Identifier: ISC
"""
Garbage to every socket (issue 2, must show): the SMTP listener, the public
submission socket and the internal IPC links get malformed input; each
answers with a clear error or closes that one connection, no process
crashes (same PIDs, nothing restarted unless the master chose to after a
peer was declared compromised), mail queued before is still there and
intact, nothing half-received was queued, and outpost keeps accepting mail.
"""

import ctypes
import os
import re
import socket
import time

import pytest

import outpost_harness as H
from outpost_harness import frame, p_str, p_u32, p_u64

REPLY = re.compile(rb"^[2-5]\d\d[ -]")


@pytest.fixture
def op(outpost_factory):
    o = outpost_factory(params={"delivery_mode": "relay", "relay_host": "[127.0.0.1]:9",
                                "resend_interval": "1h", "max_message_size": "100k"})
    # A mail queued before the garbage, to prove it survives intact.
    r = o.sendmail(["-v", "before@example.net"], b"Subject: before\n\nqueued before\n")
    assert r.returncode == 0, r.stderr
    o.before = H.wait_until(lambda: o.queued_mails(), 10, what="the first mail")
    o.pids = {c.title: c.pid for c in o.children()}
    return o


def assert_healthy(o, extra_mails=0):
    """Same processes, the first mail intact, nothing else queued but
    extra_mails, no corrupt file, and new mail still accepted."""
    assert o.running(), f"master died:\n{o.log_tail()}"
    now = {c.title: c.pid for c in o.children()}
    assert now == o.pids, f"processes changed: {o.pids} -> {now}\n{o.log_tail()}"
    assert not re.search(r"(killed by signal|dumped core|exited with status [1-9])",
                         o.log_text()), o.log_tail()
    queued = o.queued_mails()
    for qid, m in o.before.items():
        assert qid in queued and queued[qid].content == m.content
    assert len(queued) == len(o.before) + extra_mails, \
        f"{len(queued)} mails queued: {list(queued.values())}"
    assert not o.corrupt_files()
    assert o.smtp_send("after@example.org", ["after@example.net"],
                       b"Subject: after\r\n\r\nafter\r\n")[0] == 250
    r = o.sendmail(["after@example.net"], b"Subject: after\n\nafter\n")
    assert r.returncode == 0, r.stderr


def converse(o, chunks, wait=2.0):
    """Send chunks after the greeting; return (replies bytes, closed by server)."""
    with H.SmtpConn(o.smtp_host, o.smtp_port) as c:
        code, _ = c.reply()
        assert code == 220
        for chunk in chunks:
            try:
                c.send(chunk)
            except OSError:
                break
        data, closed = b"", False
        c.sock.settimeout(wait)
        deadline = time.monotonic() + wait
        try:
            while time.monotonic() < deadline:
                x = c.sock.recv(65536)
                if not x:
                    closed = True
                    break
                data += c.buf + x
                c.buf = b""
        except (socket.timeout, TimeoutError):
            pass
        except ConnectionResetError:
            closed = True
        return data, closed


def replies(data):
    lines = [line for line in data.split(b"\r\n") if line]
    for line in lines:
        assert REPLY.match(line), f"not an SMTP reply: {line[:100]!r}"
    return [int(line[:3]) for line in lines]


SMTP_GARBAGE = {
    "random bytes": [os.urandom(4000) + b"\r\n"],
    "NUL in command": [b"EHLO a\0b\r\n"],
    "HTTP request": [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"],
    "TLS ClientHello": [bytes.fromhex("16030100f4010000f00303") + os.urandom(64) + b"\r\n"],
    "commands out of order": [b"DATA\r\nRCPT TO:<a@b.example>\r\n"],
    "bad addresses": [b"EHLO x\r\nMAIL FROM:<a@b\r\nMAIL FROM:a@b.example\r\n"
                      b"MAIL FROM:<\"unterminated@b.example>\r\nMAIL FROM:<a@[300.1.1.1]>\r\n"
                      b"RCPT TO:<x@y.example>\r\n"],
    "many unknown commands": [b"XYZZY\r\n" * 100],
    "8-bit command": [b"EHLO \xff\xfe\xfd\r\nMAIL FROM:<\xc3\xa9@b.example>\r\n"],
}


@pytest.mark.parametrize("name", sorted(SMTP_GARBAGE))
def test_smtp_garbage_gets_errors(op, name):
    data, _closed = converse(op, SMTP_GARBAGE[name])
    codes = replies(data)
    # Everything here is wrong: every reply is an error (the EHLO in the
    # bad-address case aside).
    if name == "bad addresses":
        # EHLO is fine; the four MAIL FROM and the RCPT without sender are refused.
        errors = [c for c in codes if c != 250]
        assert codes[0] == 250 and len(errors) == 5 and all(c >= 500 for c in errors), codes
    else:
        assert codes, f"no reply at all to {name}"
        assert all(c >= 400 for c in codes), codes
    assert_healthy(op)


def test_smtp_long_line_and_flood(op):
    # 1 MB without a line end, then the line end: refused, memory bounded.
    data, _ = converse(op, [b"A" * 1_000_000, b"\r\n", b"NOOP\r\n"], wait=5)
    codes = replies(data)
    assert codes and codes[0] == 500, codes
    # 20000 pipelined commands in one write.
    data, _ = converse(op, [b"NOOP\r\n" * 20000], wait=5)
    assert replies(data)
    assert_healthy(op)


def test_smtp_partial_and_oversized_mails_not_queued(op):
    # Disconnect in the middle of DATA: nothing may be queued.
    with H.SmtpConn(op.smtp_host, op.smtp_port) as c:
        c.reply()
        assert c.cmd("EHLO x")[0] == 250
        assert c.cmd("MAIL FROM:<p@example.org>")[0] == 250
        assert c.cmd("RCPT TO:<p@example.net>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: partial\r\n\r\nhalf a mail\r\n")
    # Bigger than max_message_size: 552, not queued.
    code, _ = op.smtp_send("big@example.org", ["big@example.net"],
                           b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 200)
    assert code == 552
    # A bare-LF "end of data" does not end DATA (no SMTP smuggling): the
    # mail ends at CRLF.CRLF and is either taken whole or refused whole.
    data, _ = converse(op, [b"EHLO x\r\nMAIL FROM:<lf@example.org>\r\nRCPT TO:<lf@example.net>\r\n"
                            b"DATA\r\n", b"Subject: lf\n\nbody\n.\nMAIL FROM:<smuggled@x.example>\n"
                            b"\r\n.\r\n"], wait=3)
    codes = replies(data)
    assert codes[-1] == 250 or codes[-1] >= 500, codes
    time.sleep(0.5)
    queued = op.queued_mails()
    smuggled = [m for m in queued.values() if m.sender == "smuggled@x.example"]
    assert not smuggled
    lf = [m for m in queued.values() if m.sender == "lf@example.org"]
    if codes[-1] == 250:
        assert len(lf) == 1 and b"MAIL FROM:<smuggled@x.example>" in lf[0].content
    else:
        assert not lf
    assert_healthy(op, extra_mails=len(lf))


SUBMIT_GARBAGE = {
    "random bytes": os.urandom(100),
    "shorter than a header": b"\x01\x02",
    "empty datagram": b"",
    "length field lies": frame("MSG_SUBMIT_BEGIN", b"", length=1000),
    "length below header": frame("MSG_SUBMIT_BEGIN", b"", length=4),
    "unknown type": frame(9999),
    "master's shutdown": frame("MSG_CTL_SHUTDOWN"),
    "scheduler frame": frame("MSG_SCHED_REMOVED", p_str("0" * 24)),
    "update frame": frame("MSG_QMGR_UPDATE", p_str("0" * 24) + p_u32(0)),
    "answer frame": frame("MSG_SUBMIT_QUEUED", p_str("0" * 24)),
    "rcpt without begin": frame("MSG_SUBMIT_RCPT", p_str("a@b.example")),
    "data without begin": frame("MSG_SUBMIT_DATA", p_str("x")),
    "commit without begin": frame("MSG_SUBMIT_COMMIT"),
    "begin with trailing bytes": frame("MSG_SUBMIT_BEGIN", p_u32(0) + p_str("a@b.example")
                                       + p_str("o") + b"xx"),
    "string longer than frame": frame("MSG_SUBMIT_BEGIN", p_u32(0) + p_u32(1000) + b"abc"),
    "NUL inside a string": frame("MSG_SUBMIT_BEGIN", p_u32(0) + p_str(b"a\0b@c.example")
                                 + p_str("o")),
    "fd flag without fd": frame("MSG_SUBMIT_COMMIT", flags=H.FRAME_F_FD),
    "unknown flags": frame("MSG_SUBMIT_COMMIT", flags=0x8000),
    "listing with payload": frame("MSG_QUEUE_LIST", b"junk"),
    "u64 where str": frame("MSG_SUBMIT_RCPT", p_u64(2 ** 63)),
}


@pytest.mark.parametrize("name", sorted(SUBMIT_GARBAGE))
def test_submit_socket_garbage_closes_link(op, name):
    start = op.log_offset()
    with H.SubmitClient(op.submit_socket) as c:
        try:
            c.send(SUBMIT_GARBAGE[name])
        except OSError:
            pass            # refused at once is fine too
        ans = c.recv(timeout=5)
        assert ans is None, f"{name}: answered {ans!r} instead of closing"
    # Logged clearly, with who sent it. (An empty datagram reads as the end
    # of the connection on SEQPACKET: nothing to log.)
    if name != "empty datagram":
        op.wait_log(r"qmgr: .*(malformed|closed|refused)", timeout=5, start=start)
    assert_healthy(op)


def test_submit_socket_descriptor_passing_refused(op):
    start = op.log_offset()
    with H.SubmitClient(op.submit_socket) as c:
        c.send(frame("MSG_SUBMIT_BEGIN", p_u32(0) + p_str("a@b.example") + p_str("o")))
        fd = os.open("/etc/hostname", os.O_RDONLY)
        try:
            c.send(frame("MSG_SUBMIT_DATA", p_str("x"), flags=H.FRAME_F_FD), fds=[fd])
        finally:
            os.close(fd)
        try:
            c.send(frame("MSG_SUBMIT_COMMIT"))
        except BrokenPipeError:
            pass            # already closed: as it should be
        assert c.recv(timeout=5) is None
    op.wait_log(r"qmgr: .*descriptor", timeout=5, start=start)
    assert_healthy(op)


def test_submit_socket_refuses_what_cannot_be_queued(op):
    cases = {
        "no recipient": ("a@b.example", [], b"Subject: x\n\nx\n"),
        "too big": ("a@b.example", ["x@y.example"], b"x" * (200 * 1024)),
    }
    for name, (sender, rcpts, data) in cases.items():
        with H.SubmitClient(op.submit_socket) as c:
            ans = c.submit(sender, rcpts, data)
            assert ans is None or (ans != "timeout" and ans.name == "MSG_SUBMIT_ERROR"), \
                f"{name}: {ans!r}"
    # Interleaved transactions of one client, one aborted: only the other is queued.
    with H.SubmitClient(op.submit_socket) as c:
        c.send(frame("MSG_SUBMIT_BEGIN", p_u32(0) + p_str("t1@example.org") + p_str("o"), 7))
        c.send(frame("MSG_SUBMIT_BEGIN", p_u32(0) + p_str("t2@example.org") + p_str("o"), 8))
        c.send(frame("MSG_SUBMIT_RCPT", p_str("r@example.net"), 7))
        c.send(frame("MSG_SUBMIT_RCPT", p_str("r@example.net"), 8))
        c.send(frame("MSG_SUBMIT_DATA", p_str("Subject: t2\n\nt2\n"), 8))
        c.send(frame("MSG_SUBMIT_ABORT", b"", 7))
        c.send(frame("MSG_SUBMIT_COMMIT", b"", 8))
        ans = c.recv()
        assert ans != "timeout" and ans is not None and ans.name == "MSG_SUBMIT_QUEUED"
        assert ans.reqid == 8
    senders = sorted(m.sender for m in op.queued_mails().values())
    assert "t2@example.org" in senders and "t1@example.org" not in senders
    assert_healthy(op, extra_mails=1)


def test_submit_socket_refuses_invalid_addresses(op):
    """The public socket is open to every local user: the queue manager must
    check the envelope itself, not trust outpost-sendmail to have done it."""
    cases = {
        "bad recipient": ("a@b.example", ["<<>>"]),
        "recipient without domain": ("a@b.example", ["user"]),
        "bad sender": ("a b@c.example", ["x@y.example"]),
        "control character": ("a@b.example", ["x\x01@y.example"]),
        "local part over 64 octets": ("a@b.example", ["x" * 65 + "@y.example"]),
    }
    for name, (sender, rcpts) in cases.items():
        with H.SubmitClient(op.submit_socket) as c:
            ans = c.submit(sender, rcpts, b"Subject: x\n\nx\n")
            assert ans is None or (ans != "timeout" and ans.name == "MSG_SUBMIT_ERROR"), \
                f"{name}: {ans!r} (an invalid address was queued)"
    assert_healthy(op)


# ---------------------------------------------------------------- internal links

_libc = ctypes.CDLL(None, use_errno=True)
SYS_pidfd_open = 434
SYS_pidfd_getfd = 438


def steal_fd(pid, fd):
    """A copy of another process's descriptor (pidfd_getfd(2), root only)."""
    pidfd = _libc.syscall(SYS_pidfd_open, pid, 0)
    if pidfd < 0:
        raise OSError(ctypes.get_errno(), "pidfd_open")
    try:
        n = _libc.syscall(SYS_pidfd_getfd, pidfd, fd, 0)
        if n < 0:
            raise OSError(ctypes.get_errno(), "pidfd_getfd")
        return n
    finally:
        os.close(pidfd)


def seqpacket_fds(pid):
    """The process's descriptors that are connected AF_UNIX SEQPACKET sockets."""
    out = []
    for fd, target in H.ProcInfo(pid).open_fds().items():
        if not target.startswith("socket:"):
            continue
        try:
            s = steal_fd(pid, fd)
        except OSError:
            continue
        try:
            sk = socket.socket(fileno=s)
            try:
                if (sk.family == socket.AF_UNIX and sk.type == socket.SOCK_SEQPACKET
                        and sk.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 0):
                    out.append(fd)
            finally:
                sk.close()
        except OSError:
            os.close(s)
    return out


@pytest.mark.parametrize("victim", ["smtpd", "agent 0", "scheduler", "resolver", "qmgr"])
def test_ipc_garbage_as_if_from_a_child(root, op, victim):
    """Garbage written into every IPC link of one child, as if that child
    were compromised: its peers close those links and log it; nothing that
    was queued is lost; after the master's recovery outpost accepts mail
    again."""
    pid = op.child(victim).pid
    start = op.log_offset()
    # Take every link first: the victim may exit as soon as one is closed.
    links = [socket.socket(fileno=steal_fd(pid, fd)) for fd in seqpacket_fds(pid)]
    assert links, f"{victim} has no IPC links?"
    for s in links:
        try:
            for junk in (os.urandom(64), frame(9999), frame("MSG_SUBMIT_COMMIT", b"xx"),
                         frame("MSG_CTL_PEER", p_u32(1), flags=H.FRAME_F_FD)):
                try:
                    s.send(junk)
                except OSError:
                    break
        finally:
            s.close()
    op.wait_log(r"malformed|closed|compromised", timeout=10, start=start)
    # Every peer survives; the victim may be restarted by the master.
    assert op.running()
    for title, p in op.pids.items():
        if title != f"outpost: {victim}":
            assert H.pid_alive(p), f"{title} died after garbage from {victim}\n{op.log_tail()}"
    queued = op.queued_mails()
    for qid, m in op.before.items():
        assert qid in queued and queued[qid].content == m.content
    assert not op.corrupt_files()

    # Working again within a bounded time.
    def works():
        try:
            return op.smtp_send("ipc@example.org", ["ipc@example.net"],
                                b"Subject: ipc\r\n\r\nipc\r\n", timeout=5)[0] == 250
        except OSError:
            return False
    H.wait_until(works, 30, 0.5, what="SMTP submissions to work again")
    r = op.sendmail(["after@example.net"], b"Subject: after\n\nafter\n", timeout=30)
    assert r.returncode == 0, r.stderr
    assert not re.search(r"(dumped core)", op.log_text()), op.log_tail()
