# SPDX-License-Identifier: ISC
"""
Injection (issue 2, must show): 1000 mails, half handed over with
outpost-sendmail and half over SMTP by clients not written here (swaks and
Postfix's smtp-source), are all in the queue afterwards with their exact
bytes and envelopes, each exactly once.

Delivery is pointed at a port that refuses connections, with a long
re-send interval, so every mail stays queued (deferred) for inspection.
Queue files are decoded by the harness's own reader (outpost_harness.
parse_queue_file), which checks the trailer hash independently of the C
code. outpost puts one Received: field on top of each mail; the bytes
after it must be exactly those submitted.
"""

import concurrent.futures
import re

import pytest

import outpost_harness as H

N_LOCAL = 500
N_SWAKS = 50
N_SOURCE = 450
QUEUED_AS = re.compile(r"queued as ([0-9A-F]{24})")


@pytest.fixture
def holding_outpost(outpost_factory, refused_port):
    return outpost_factory(params={
        "delivery_mode": "relay",
        "relay_host": f"[127.0.0.1]:{refused_port}",
        "resend_interval": "1h",
        "connect_timeout": "2s",
    })


def local_message(i):
    """A complete message (From/Date/Message-ID present, so outpost-sendmail
    adds nothing), varied: LF or CRLF, 8-bit text, leading dots, a lone dot
    (with -i), trailing blanks, a bare CR, sizes up to ~200 KiB (several
    SUBMIT_DATA frames)."""
    eol = b"\r\n" if i % 2 else b"\n"
    head = [
        b"From: Sender %d <sender%d@example.org>" % (i, i),
        b"To: rcpt%d@example.net" % i,
        b"Date: Thu, 26 Nov 2026 06:00:00 +0000",
        b"Message-ID: <local-%d@inject.test>" % i,
        b"Subject: local injection %d" % i,
        b"X-Folded: first part" + eol + b"\tsecond part",
    ]
    body = [
        b"",
        b"caf\xc3\xa9 \xe2\x82\xac 8-bit line",
        b".leading dot",
        b"..two leading dots",
        b"trailing blanks   \t",
        b"bare\rCR inside",
    ]
    if i % 3 == 0:
        body.append(b".")           # a lone dot: kept, since -i is used for these
    body += [b"filler %d %s" % (i, b"x" * 70)] * (i % 40)
    if i % 100 == 7:
        body += [b"big %06d %s" % (k, b"y" * 90) for k in range(2000)]   # ~200 KiB
    msg = eol.join(head + body) + eol
    return msg


def test_inject_1000_local_and_smtp(holding_outpost, workdir):
    op = holding_outpost
    H.ensure_user("outpost-tester")
    tester_uid, _ = H.user_ids("outpost-tester")

    # --- 500 with outpost-sendmail, 16 at a time, some as an ordinary user
    def submit_local(i):
        data = local_message(i)
        user = "outpost-tester" if i % 5 == 0 else None
        if i % 3 == 0:
            args, sent = ["-v", "-i"], data
        else:
            # Without -i a lone dot ends the input: what follows is not queued.
            args, sent = ["-v"], data
            data = data + b"." + (b"\r\n" if i % 2 else b"\n") + b"NOT QUEUED\n"
        args += ["-f", f"sender{i}@example.org", "--", f"rcpt{i}@example.net",
                 f"copy{i}@example.com"]
        r = op.sendmail(args, data, user=user, timeout=120)
        return i, r, sent, user

    local = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as ex:
        for i, r, sent, user in ex.map(submit_local, range(N_LOCAL)):
            assert r.returncode == 0, f"mail {i}: exit {r.returncode}: {r.stderr!r}"
            m = QUEUED_AS.search(r.stdout.decode())
            assert m, f"mail {i}: no queue id in {r.stdout!r}"
            assert m.group(1) not in local, "queue id given twice"
            local[m.group(1)] = (i, sent, user)

    # --- 50 with swaks, unique content each, 4 at a time
    def swaks_message(i):
        return (b"From: swaks%d@example.org\r\nTo: dest%d@example.net\r\n"
                b"Date: Thu, 26 Nov 2026 06:00:00 +0000\r\n"
                b"Message-ID: <swaks-%d@inject.test>\r\nSubject: swaks %d\r\n\r\n"
                b".leading dot\r\n.\r\n..\r\n\xc3\xa9t\xc3\xa9 8-bit\r\n%s\r\n"
                % (i, i, i, i, b"z" * (i * 37 % 900)))

    def submit_swaks(i):
        data = swaks_message(i)
        r = op.swaks([f"dest{i}@example.net"], sender=f"swaks{i}@example.org", data=data)
        return i, r, data

    swaked = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        for i, r, data in ex.map(submit_swaks, range(N_SWAKS)):
            assert r.returncode == 0, f"swaks {i}: {r.stdout[-800:]}"
            assert "<**" not in r.stdout, f"swaks {i}: error reply: {r.stdout[-800:]}"
            swaked[f"<swaks-{i}@inject.test>".encode()] = (i, data)

    # --- 450 with smtp-source over 10 sessions, all the same content
    src = workdir / "source.eml"
    src.write_bytes(b"From: source@example.org\nTo: sink@example.net\n"
                    b"Message-ID: <source@inject.test>\nSubject: smtp-source\n\n"
                    b".leading dot\nline two\n\xc3\xa9\n")
    r = op.smtp_source(N_SOURCE, sessions=10, sender="source@example.org",
                       to="sink@example.net", message_file=src, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    source_wire = H.smtp_source_wire(src.read_bytes())

    # --- every mail is in the queue, intact, exactly once
    queued = op.queued_mails()
    assert not op.corrupt_files()
    assert len(queued) == N_LOCAL + N_SWAKS + N_SOURCE, \
        f"{len(queued)} mails in the queue, expected {N_LOCAL + N_SWAKS + N_SOURCE}"

    seen_swaks = set()
    n_source = 0
    for qid, m in queued.items():
        body = H.strip_trace(m.content)
        if qid in local:
            i, sent, user = local[qid]
            assert body == sent, f"local mail {i} ({qid}) differs from what was sent"
            assert m.sender == f"sender{i}@example.org"
            assert m.rcpts == [f"rcpt{i}@example.net", f"copy{i}@example.com"]
            if user is not None:
                assert m.uid == tester_uid
            else:
                assert m.uid == 0
            continue
        mid = re.search(rb"Message-ID: (<[^>]+>)", body)
        assert mid, f"{qid}: unknown mail {body[:200]!r}"
        if mid.group(1) in swaked:
            i, data = swaked[mid.group(1)]
            assert mid.group(1) not in seen_swaks, f"swaks mail {i} queued twice"
            seen_swaks.add(mid.group(1))
            assert body == data, f"swaks mail {i} ({qid}) differs from what was sent"
            assert m.sender == f"swaks{i}@example.org"
            assert m.rcpts == [f"dest{i}@example.net"]
        elif mid.group(1) == b"<source@inject.test>":
            n_source += 1
            assert body == source_wire, f"smtp-source mail {qid} differs"
            assert m.sender == "source@example.org"
            assert m.rcpts == ["sink@example.net"]
        else:
            pytest.fail(f"{qid}: unexpected mail {mid.group(1)!r}")
    assert len(seen_swaks) == N_SWAKS
    assert n_source == N_SOURCE

    # Nothing was lost in flight either: the queue listing agrees.
    r = op.mailq()
    assert r.returncode == 0, r.stderr
    assert f"in {N_LOCAL + N_SWAKS + N_SOURCE} Requests.".encode() in r.stdout
