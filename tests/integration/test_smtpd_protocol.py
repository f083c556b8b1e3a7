# SPDX-License-Identifier: ISC
"""
The SMTP submission listener (smtpd) against real clients: swaks, Postfix's
smtp-source, and a raw socket client for exact bytes.

 - the ESMTP dialogue: extensions offered, replies to commands out of
   sequence, unknown parameters, VRFY, pipelined commands with swaks;
 - relaying refused to clients outside allowed_networks (554 5.7.1);
 - limits: sessions (421), message size (declared 552 and actual 552),
   recipients (452), command line length (500) and text line length (554),
   a line of many megabytes without smtpd's memory growing;
 - the Received: field on top of each queued mail, the bytes after it
   exactly as sent;
 - the queue manager killed during DATA: 451 4.3.0, and the same session
   queues again once the master restarted it;
 - many sessions at once (smtp-source);
 - connect/disconnect in the detailed log, rejects in the basic log.
"""

import os
import re
import signal
import time


import outpost_harness as H
from outpost_harness import raw_smtp as conn

QUEUED_AS = re.compile(r"250 2\.0\.0 Ok: queued as ([0-9A-F]{24})")


def holding(refused_port, **params):
    p = {"delivery_mode": "relay", "relay_host": f"[127.0.0.1]:{refused_port}",
         "resend_interval": "1h", "connect_timeout": "2s"}
    p.update(params)
    return p


def vm_rss_kb(pid):
    st = H.proc_status(pid)
    return int(st["VmRSS"].split()[0])


def test_dialogue(outpost_factory, refused_port):
    op = outpost_factory(params=holding(refused_port, max_message_size="10M"))
    with conn(op) as c:
        code, text = c.reply()
        assert code == 220 and "outpost.test ESMTP" in text
        code, text = c.cmd("MAIL FROM:<a@example.org>")
        assert (code, text[4:9]) == (503, "5.5.1")
        code, text = c.cmd("EHLO client.test")
        assert code == 250
        lines = [l[4:] for l in text.splitlines()]
        assert lines[0].startswith("outpost.test")
        assert set(lines[1:]) == {"PIPELINING", "SIZE 10485760", "8BITMIME",
                                  "ENHANCEDSTATUSCODES"}
        assert c.cmd("RCPT TO:<b@example.net>")[0] == 503
        assert c.cmd("DATA")[0] == 503
        code, text = c.cmd("MAIL FROM:<a@example.org> SMTPUTF8")
        assert (code, text[4:9]) == (555, "5.5.4")
        code, text = c.cmd("MAIL FROM:<a..b@example.org>")
        assert (code, text[4:9]) == (501, "5.1.7")
        assert c.cmd("MAIL FROM:<a@example.org> BODY=8BITMIME SIZE=1000")[0] == 250
        assert c.cmd("MAIL FROM:<a@example.org>")[0] == 503
        code, text = c.cmd("RCPT TO:<>")
        assert (code, text[4:9]) == (501, "5.1.3")
        code, text = c.cmd("DATA")
        assert (code, text[4:9]) == (554, "5.5.1")
        assert c.cmd('RCPT TO:<"first last"@[192.0.2.1]>')[0] == 250
        assert c.cmd("VRFY someone")[0] == 252
        assert c.cmd("NOOP")[0] == 250
        assert c.cmd("HELP")[0] == 214
        assert c.cmd("STARTTLS")[0] == 502
        assert c.cmd("RSET")[0] == 250
        assert c.cmd("DATA")[0] == 503
        assert c.cmd("QUIT")[0] == 221
        assert c.closed_by_peer()


def test_swaks_pipelined_and_exact(outpost_factory, refused_port):
    op = outpost_factory(params=holding(refused_port))
    body = (b"From: a@example.org\r\nTo: b@example.net\r\nSubject: pipelined\r\n\r\n"
            b".dot first\r\n..\r\n\xc3\xa9t\xc3\xa9\r\n" + b"w" * 998 + b"\r\nend\r\n")
    # swaks takes several recipients as one comma-separated --to
    r = op.swaks("b@example.net,c@example.net", sender="a@example.org", data=body,
                 extra=["--pipeline"])
    assert r.returncode == 0, r.stdout
    m = QUEUED_AS.search(r.stdout)
    assert m, r.stdout
    mail = op.queued_mails()[m.group(1)]
    assert mail.sender == "a@example.org"
    assert mail.rcpts == ["b@example.net", "c@example.net"]
    assert H.strip_trace(mail.content) == body
    first, _ = H.split_first_field(mail.content)
    # Two recipients: no "for <...>" clause.
    assert re.fullmatch(
        rb"Received: from swaks\.test \(\[127\.0\.0\.1\]\)\r\n"
        rb"\tby outpost\.test \(outpost\) with ESMTP id [0-9A-F]{16}\.1;\r\n"
        rb"\t(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} [A-Z][a-z]{2} \d{4} "
        rb"\d\d:\d\d:\d\d \+0000\r\n", first), first


def test_received_names_the_only_recipient(outpost_factory, refused_port):
    op = outpost_factory(params=holding(refused_port))
    code, text = op.smtp_send("a@example.org", ["only@example.net"], b"Subject: one\r\n\r\nx\r\n")
    assert code == 250, text
    qid = QUEUED_AS.search(f"{code} {text}").group(1)
    first, rest = H.split_first_field(op.queued_mails()[qid].content)
    assert b"\tfor <only@example.net>;\r\n" in first
    assert rest == b"Subject: one\r\n\r\nx\r\n"


def test_relaying_denied_outside_allowed_networks(outpost_factory, refused_port):
    op = outpost_factory(params=holding(refused_port, allowed_networks="127.0.0.1/32"))
    off = op.log_offset()
    with conn(op, source="127.0.0.2") as c:
        code, text = c.reply()
        assert (code, text[4:9]) == (554, "5.7.1"), text
        assert c.closed_by_peer()
    op.wait_log(r"smtpd: reject: connect from \[127\.0\.0\.2\]", start=off)
    with conn(op, source="127.0.0.1") as c:
        assert c.reply()[0] == 220


def test_session_limit(outpost_factory, refused_port):
    op = outpost_factory(params=holding(refused_port), sections={"smtpd": {"max_sessions": 3}})
    # the readiness probe's session may still be closing: wait for a free slot
    time.sleep(0.3)
    held = []
    try:
        for _ in range(3):
            c = conn(op)
            assert c.reply()[0] == 220
            held.append(c)
        with conn(op) as c:
            code, text = c.reply()
            assert (code, text[4:9]) == (421, "4.3.2"), text
            assert c.closed_by_peer()
        held.pop().close()

        def slot_free():
            with conn(op) as c:
                return c.reply()[0] == 220
        H.wait_until(slot_free, 5, what="a free session slot")
    finally:
        for c in held:
            c.close()


def test_size_and_recipient_limits(outpost_factory, refused_port):
    op = outpost_factory(params=holding(refused_port, max_message_size="20k",
                                        max_recipients=3))
    r = op.swaks("b@example.net", data=b"Subject: big\r\n\r\n" + (b"x" * 78 + b"\r\n") * 400)
    assert "552 5.3.4" in r.stdout, r.stdout
    with conn(op) as c:
        c.reply()
        c.cmd("EHLO client.test")
        code, text = c.cmd("MAIL FROM:<a@example.org> SIZE=20481")
        assert (code, text[4:9]) == (552, "5.3.4")
        assert c.cmd("MAIL FROM:<a@example.org> SIZE=20480")[0] == 250
        for i in range(3):
            assert c.cmd(f"RCPT TO:<r{i}@example.net>")[0] == 250
        code, text = c.cmd("RCPT TO:<r3@example.net>")
        assert (code, text[4:9]) == (452, "4.5.3")
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: three\r\n\r\nok\r\n.\r\n")
        code, text = c.reply()
        assert code == 250, text
        qid = QUEUED_AS.search(text).group(1)
    assert op.queued_mails()[qid].rcpts == [f"r{i}@example.net" for i in range(3)]


def test_long_lines(outpost_factory, refused_port):
    op = outpost_factory(params=holding(refused_port))
    smtpd = op.child("smtpd")
    with conn(op, timeout=60) as c:
        c.reply()
        c.cmd("EHLO client.test")
        # 512 octets with CRLF is allowed, 513 is not
        assert c.cmd("NOOP " + "x" * 505)[0] == 250
        code, text = c.cmd("NOOP " + "x" * 506)
        assert (code, text[4:9]) == (500, "5.5.2")
        # a 16 MB command line: refused once it ends, memory untouched
        rss0 = vm_rss_kb(smtpd.pid)
        c.send(b"MAIL FROM:<" + b"y" * (16 << 20))
        code, text = c.cmd(">")
        assert (code, text[4:9]) == (500, "5.5.2")
        assert c.cmd("NOOP")[0] == 250
        # a text line over 1000 octets: the message is refused at the dot
        assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250
        assert c.cmd("RCPT TO:<b@example.net>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: long\r\n\r\n" + b"z" * 999 + b"\r\n.\r\n")
        code, text = c.reply()
        assert (code, text[4:9]) == (554, "5.6.0"), text
        # a 32 MB line in DATA: streamed past, not kept
        assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250
        assert c.cmd("RCPT TO:<b@example.net>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        chunk = b"q" * (1 << 20)
        for _ in range(32):
            c.send(chunk)
        c.send(b"\r\n.\r\n")
        code, text = c.reply()
        assert code in (552, 554), text
        rss1 = vm_rss_kb(smtpd.pid)
        # AddressSanitizer keeps freed memory in quarantine (make asan: 16 MB):
        # the bound says "not kept", so allow for it in that build only.
        limit = 8 * 1024 if "ASAN_OPTIONS" not in os.environ else 40 * 1024
        assert rss1 - rss0 < limit, f"smtpd grew from {rss0} to {rss1} kB"
        assert c.cmd("QUIT")[0] == 221
    assert not op.queued_mails()


def test_qmgr_killed_during_data(outpost_factory, refused_port):
    op = outpost_factory(params=holding(refused_port))
    qmgr = op.child("qmgr")
    with conn(op, timeout=30) as c:
        c.reply()
        c.cmd("EHLO client.test")
        assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250
        assert c.cmd("RCPT TO:<b@example.net>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: in flight\r\n\r\nfirst half\r\n")
        time.sleep(0.2)
        import os
        os.kill(qmgr.pid, signal.SIGKILL)
        H.wait_until(lambda: H.proc_state(qmgr.pid) in (None, "Z"), 5, what="qmgr gone")
        time.sleep(0.2)
        c.send(b"second half\r\n.\r\n")
        code, text = c.reply()
        assert (code, text[4:9]) == (451, "4.3.0"), text

        # The master restarts qmgr and hands smtpd a new link: the same
        # session can queue again.
        def queued_again():
            if c.cmd("MAIL FROM:<a@example.org>")[0] != 250:
                return False
            assert c.cmd("RCPT TO:<b@example.net>")[0] == 250
            code, text = c.cmd("DATA")
            if code != 354:
                c.cmd("RSET")
                return False
            c.send(b"Subject: after\r\n\r\nagain\r\n.\r\n")
            code, text = c.reply()
            return code == 250 and text
        text = H.wait_until(queued_again, 20, interval=0.5, what="queueing after restart")
    qid = QUEUED_AS.search(text).group(1)
    mails = op.queued_mails()
    assert list(mails) == [qid]
    assert H.strip_trace(mails[qid].content) == b"Subject: after\r\n\r\nagain\r\n"


def test_many_sessions_at_once(outpost_factory, refused_port):
    op = outpost_factory(params=holding(refused_port))
    r = op.smtp_source(200, sessions=50, length=2048, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    H.wait_until(lambda: len(op.queued_mails()) == 200, 30, what="200 mails queued")


def test_logs(outpost_factory, refused_port):
    op = outpost_factory(params=holding(refused_port))
    off = op.log_offset()
    code, text = op.smtp_send("a@example.org", ["b@example.net"], b"Subject: log\r\n\r\nx\r\n")
    assert code == 250
    with conn(op) as c:
        c.reply()
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<bad address@example.org>")
        c.cmd("QUIT")
    op.wait_log(r"smtpd: \w+: connect from \[127\.0\.0\.1\]:\d+", start=off)
    op.wait_log(r"smtpd: \w+: disconnect from \[127\.0\.0\.1\]:\d+", start=off)
    op.wait_log(r"smtpd: [\w.]+: queued as [0-9A-F]{24}, from=<a@example\.org>, nrcpt=1",
                start=off)
    op.wait_log(r"smtpd: \w+: reject: MAIL from \[127\.0\.0\.1\]: 501 5\.1\.7", start=off)


def test_graceful_stop(outpost_factory, refused_port):
    """SIGTERM: idle sessions hear 421 at once; a transaction under way may
    finish (the queue manager stops only after smtpd), then 421."""
    import os
    op = outpost_factory(params=holding(refused_port))
    idle, busy = conn(op, timeout=20), conn(op, timeout=20)
    try:
        for c in (idle, busy):
            assert c.reply()[0] == 220
            assert c.cmd("EHLO client.test")[0] == 250
        assert busy.cmd("MAIL FROM:<a@example.org>")[0] == 250
        assert busy.cmd("RCPT TO:<b@example.net>")[0] == 250
        os.kill(op.pid, signal.SIGTERM)
        code, text = idle.reply()
        assert (code, text[4:9]) == (421, "4.3.2"), text
        assert idle.closed_by_peer()
        assert busy.cmd("DATA")[0] == 354
        busy.send(b"Subject: last one\r\n\r\nx\r\n.\r\n")
        code, text = busy.reply()
        assert code == 250, text
        qid = QUEUED_AS.search(text).group(1)
        code, text = busy.reply()
        assert (code, text[4:9]) == (421, "4.3.2"), text
        assert busy.closed_by_peer()
    finally:
        idle.close()
        busy.close()
    H.wait_until(lambda: op.proc.poll() is not None, 30, what="outpost to stop")
    assert op.proc.returncode == 0
    assert list(op.queued_mails()) == [qid]
