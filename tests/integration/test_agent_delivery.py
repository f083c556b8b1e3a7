# SPDX-License-Identifier: ISC
"""
Mail delivered by outpost's SMTP agents in relay mode arrives at a real
receiving server (python3-aiosmtpd) byte-identical apart from the one
Received: field outpost adds on top: 1000 mails with 1 to 5 recipients
(dot-stuffing, 998-character lines, 8-bit bodies, empty bodies), a 10 MB
attachment, and local submissions with bare LF line ends (sent as CRLF).
Consecutive mails reuse the agents' connections.
"""

import base64
import concurrent.futures
import random
import re

import pytest

import outpost_harness as H


def relay(outpost_factory, rx, **params):
    p = {"delivery_mode": "relay", "relay_host": rx.hostport,
         "resend_interval": "2", "resend_attempts": 3}
    p.update(params)
    return outpost_factory(params=p)


def content_for(i, rcpts, rnd):
    """A CRLF mail of one of several shapes that stress the DATA encoding."""
    head = (f"From: sender{i}@src.test\r\nTo: {', '.join(rcpts)}\r\n"
            f"Subject: mail {i}\r\nMessage-ID: <m{i}@src.test>\r\n").encode()
    kind = i % 6
    if kind == 0:
        body = b".leading dot\r\n..two dots\r\n.\r\n. space\r\nend.\r\n"
    elif kind == 1:
        # 998 characters; a dot line stays within 1000 octets once stuffed
        body = b"x" * 998 + b"\r\n" + b"." + b"y" * 996 + b"\r\n" + b"z" * 500 + b"\r\n"
    elif kind == 2:
        head += (b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 b"Content-Transfer-Encoding: 8bit\r\n")
        body = "Grüße aus Köln ✓ — ½ €\r\n".encode() * 3 + bytes(range(0x80, 0x100)) + b"\r\n"
    elif kind == 3:
        body = b""
    elif kind == 4:
        lines = [bytes(rnd.choice(b"abc .\t-=") for _ in range(rnd.randrange(0, 200)))
                 for _ in range(rnd.randrange(1, 60))]
        body = b"\r\n".join(lines) + b"\r\n"
    else:
        body = b"\r\n" * 5 + b"last line without much\r\n"
    return head + b"\r\n" + body


def test_1000_mails_byte_identical(outpost_factory, receiver):
    op = relay(outpost_factory, receiver)
    rnd = random.Random(4242)
    sent = {}
    jobs = []
    for i in range(1000):
        rcpts = [f"r{i}-{k}@dest.test" for k in range(1 + i % 5)]
        data = content_for(i, rcpts, rnd)
        sent[f"<m{i}@src.test>"] = (data, rcpts)
        jobs.append((rcpts, data))

    def submit(job):
        return op.smtp_send("sender@src.test", job[0], job[1])

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
        for code, text in ex.map(submit, jobs):
            assert code == 250, text
    total = sum(len(r) for _, r in sent.values())
    H.wait_until(lambda: sum(len(m.rcpt_tos) for m in receiver.messages) >= total, 180,
                 what=f"{total} recipients at the receiver")
    seen = {}
    for m in receiver.messages:
        body = H.strip_trace(m.data)
        mid = re.search(rb"^Message-ID: (\S+)\r$", body, re.M).group(1).decode()
        data, rcpts = sent[mid]
        assert body == data, f"{mid} differs"
        for r in m.rcpt_tos:
            assert r not in seen, f"{r} delivered twice"
            seen[r] = mid
        assert set(m.rcpt_tos) <= set(rcpts)
    assert len(seen) == total
    # 8-bit mail went with BODY=8BITMIME, and connections were reused
    assert any("BODY=8BITMIME" in o.upper() for m in receiver.messages for o in m.mail_options)
    assert receiver.connections < len(receiver.messages)
    H.wait_until(lambda: op.queued_mails() == {}, 30, what="empty queue")


def test_10mb_attachment(outpost_factory, receiver):
    op = relay(outpost_factory, receiver)
    rnd = random.Random(7)
    raw = bytes(rnd.getrandbits(8) for _ in range(7_600_000))
    b64 = base64.encodebytes(raw).replace(b"\n", b"\r\n")
    data = (b"From: a@src.test\r\nTo: big@dest.test\r\nSubject: big\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n.\r\n"
            b"--b\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b64 + b"--b--\r\n")
    assert len(data) > 10_000_000
    code, text = op.smtp_send("a@src.test", ["big@dest.test"], data, timeout=120)
    assert code == 250, text
    m = receiver.wait_messages(1, timeout=120)[0]
    assert H.strip_trace(m.data) == data


def test_local_submission_lf_sent_as_crlf(outpost_factory, receiver):
    op = relay(outpost_factory, receiver)
    data = (b"Subject: lf\n\n.dot\nplain\n" + b"w" * 998 + b"\nno final newline")
    r = op.sendmail(["-i", "-f", "a@src.test", "lf@dest.test"], data)
    assert r.returncode == 0, r.stderr
    m = receiver.wait_messages(1, timeout=30)[0]
    # outpost-sendmail may add From:, Date:, Message-ID: to the header
    got_head, got_body = H.strip_trace(m.data).split(b"\r\n\r\n", 1)
    assert b"\r\nSubject: lf" in b"\r\n" + got_head
    assert b"\n" not in got_head.replace(b"\r\n", b"")
    assert got_body == b".dot\r\nplain\r\n" + b"w" * 998 + b"\r\nno final newline\r\n"


def test_line_over_998_bounced_not_cut(outpost_factory, receiver):
    """Submission normally refuses such lines; a mail that got queued with one
    anyway (local submission) is bounced by the agent, never cut or folded."""
    op = relay(outpost_factory, receiver)
    data = b"Subject: long\n\n" + b"q" * 1500 + b"\n"
    r = op.sendmail(["-i", "-f", "a@src.test", "long@dest.test"], data)
    if r.returncode != 0:
        pytest.skip(f"local submission refuses long lines itself: {r.stderr!r}")
    op.wait_log(r"to=<long@dest.test>.*dsn=5\.6\.0, status=bounced.*998", timeout=30)
    assert receiver.delivered_to("long@dest.test") == []     # the bounce goes to the sender


def block_edge_body(size, edge=64 * 1024):
    """A CRLF body of about size bytes whose lines put a leading dot, a CR
    and an LF on each side of every multiple of edge (the agent encodes the
    content in blocks of 64 KiB, from a mapping for large mails)."""
    out = bytearray()
    k = 1
    while len(out) < size:
        target = k * edge
        fill = target - len(out) - 4
        if fill > 2:
            # lines of at most 900 octets up to just before the edge
            while fill > 902:
                out += b"f" * 900 + b"\r\n"
                fill -= 902
            out += b"g" * max(0, fill - 2) + b"\r\n"
        # the edge falls inside ".x\r\n" or right after its CR, varying by k
        out += [b".\r\n", b"..x\r\n", b"x\r\n.", b".y\r\n"][k % 4]
        out += b"\r\n" if not out.endswith(b"\r\n") else b""
        k += 1
    return bytes(out)


@pytest.mark.parametrize("size", [130_000, 300_000, 1_100_000])
def test_large_mail_block_edges_byte_identical(outpost_factory, receiver, size):
    """Mails over the agent's mapping threshold (128 KiB) with dot lines and
    line ends at the 64 KiB block edges arrive byte-identical."""
    op = relay(outpost_factory, receiver)
    data = (b"From: a@src.test\r\nTo: edge@dest.test\r\nSubject: edges %d\r\n\r\n" % size
            + block_edge_body(size))
    code, text = op.smtp_send("a@src.test", ["edge@dest.test"], data, timeout=120)
    assert code == 250, text
    m = receiver.wait_messages(1, timeout=120)[0]
    assert H.strip_trace(m.data) == data


def test_large_local_submission_lf_sent_as_crlf(outpost_factory, receiver):
    """A large local submission with bare LF line ends, some of them at the
    block edges, goes out with CRLF and its dots stuffed, nothing else changed."""
    op = relay(outpost_factory, receiver)
    body = block_edge_body(400_000)
    data = b"Subject: big lf\n\n" + body.replace(b"\r\n", b"\n")
    r = op.sendmail(["-i", "-f", "a@src.test", "lf@dest.test"], data)
    assert r.returncode == 0, r.stderr
    m = receiver.wait_messages(1, timeout=60)[0]
    got_head, got_body = H.strip_trace(m.data).split(b"\r\n\r\n", 1)
    assert b"\r\nSubject: big lf" in b"\r\n" + got_head
    assert got_body == body
