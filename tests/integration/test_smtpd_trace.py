# SPDX-License-Identifier: ISC
"""outpostctl trace on incoming SMTP sessions: an address or @domain trace
logs the whole dialogue of the sessions whose MAIL FROM or RCPT TO names it
(the lines before the match included, kept per session within a bound), a
client:IP trace logs every session of that client from its connect, and
all other sessions stay at the basic level. Driven with swaks."""

import re
import subprocess

import outpost_harness as H


def ctl(op, *args):
    r = H.ctl(op, *args)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def session_lines(log, sid):
    return [l.split(f": {sid}: ", 1)[1] for l in log.splitlines() if f": {sid}: " in l]


def session_of(log, needle):
    """The smtpd session id of the line holding needle."""
    m = re.search(r"smtpd: ([0-9A-F]{16}): " + re.escape(needle), log)
    assert m, f"no smtpd line with {needle!r}:\n{log[-3000:]}"
    return m.group(1)


def swaks_ok(op, to, sender, extra=()):
    r = H.swaks(op.smtp_port, to, sender=sender, data=b"Subject: t\r\n\r\nbody\r\n",
                extra=extra)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def test_address_trace_logs_the_matching_sessions_dialogue_only(root, outpost_factory, receiver):
    op = outpost_factory({"delivery_mode": "relay",
                          "relay_host": f"[127.0.0.1]:{receiver.port}",
                          "log_level": "basic"})
    assert "tracing @traced.test for 5 minutes" in ctl(op, "trace", "@traced.test", "5")
    off = op.log_offset()
    # Matched on RCPT TO: the lines before it (connect, EHLO, MAIL) come out too.
    swaks_ok(op, "a@traced.test", "x@plain.test")
    # Matched on MAIL FROM.
    swaks_ok(op, "c@plain.test", "boss@traced.test")
    # Not matched at all.
    swaks_ok(op, "b@plain.test", "y@plain.test")
    receiver.wait_messages(3, timeout=30)
    op.wait_log(r"disconnect from .*transactions=1", start=off, timeout=10)
    log = op.log_text()[off:]

    sid = session_of(log, "< RCPT TO:<a@traced.test>")
    lines = session_lines(log, sid)
    want = ["connect from [127.0.0.1]", "< EHLO swaks.test",
            "> 250-outpost.test Hello swaks.test [127.0.0.1] / PIPELINING / SIZE ",
            "< MAIL FROM:<x@plain.test>", "> 250 2.1.0 Ok", "< RCPT TO:<a@traced.test>",
            "> 250 2.1.5 Ok", "< DATA", "> 354 ", "< QUIT", "> 221 ", "disconnect from"]
    pos = -1
    for w in want:
        at = next((i for i, l in enumerate(lines) if i > pos and l.startswith(w)), None)
        assert at is not None, f"{w!r} missing or out of order in {lines}"
        pos = at

    sid2 = session_of(log, "< MAIL FROM:<boss@traced.test>")
    lines2 = session_lines(log, sid2)
    assert any(l.startswith("connect from") for l in lines2)
    assert any(l.startswith("< RCPT TO:<c@plain.test>") for l in lines2)

    # The other session: no dialogue, no connect line.
    assert "<y@plain.test>" not in log.replace("from=<y@plain.test>", "")
    assert "RCPT TO:<b@plain.test>" not in log
    assert log.count("connect from [127.0.0.1]") == 2 * 2   # connect + disconnect, two sessions

    # trace off: the next session of that domain is basic again.
    ctl(op, "trace", "off", "all")
    off = op.log_offset()
    swaks_ok(op, "d@traced.test", "x@plain.test")
    receiver.wait_messages(4, timeout=30)
    op.wait_log(r"status=sent", start=off, timeout=20)
    assert "RCPT TO:<d@traced.test>" not in op.log_text()[off:]


def test_client_trace_logs_whole_sessions_of_that_address(root, outpost_factory, receiver):
    op = outpost_factory({"delivery_mode": "relay",
                          "relay_host": f"[127.0.0.1]:{receiver.port}",
                          "log_level": "basic"})
    ctl(op, "trace", "client:127.0.0.2", "5")
    assert "client:127.0.0.2 for" in ctl(op, "trace")
    off = op.log_offset()
    swaks_ok(op, "a@plain.test", "x@plain.test", extra=("--local-interface", "127.0.0.2"))
    swaks_ok(op, "b@plain.test", "y@plain.test", extra=("--local-interface", "127.0.0.1"))
    receiver.wait_messages(2, timeout=30)
    op.wait_log(r"disconnect from \[127\.0\.0\.2\]", start=off, timeout=10)
    log = op.log_text()[off:]
    sid = session_of(log, "connect from [127.0.0.2]")
    lines = session_lines(log, sid)
    assert lines[0].startswith("connect from [127.0.0.2]")
    assert lines[1].startswith("> 220 ")
    assert any(l == "< RCPT TO:<a@plain.test>" for l in lines)
    assert lines[-1].startswith("disconnect from [127.0.0.2]")
    # The session from 127.0.0.1 stays basic.
    assert "connect from [127.0.0.1]" not in log
    assert "RCPT TO:<b@plain.test>" not in log


def test_lines_kept_before_a_match_are_bounded(root, outpost_factory, receiver):
    op = outpost_factory({"delivery_mode": "relay",
                          "relay_host": f"[127.0.0.1]:{receiver.port}",
                          "log_level": "basic"})
    ctl(op, "trace", "late@traced.test", "5")
    off = op.log_offset()
    with H.SmtpConn("127.0.0.1", op.smtp_port) as c:
        assert c.reply()[0] == 220
        assert c.cmd("EHLO bulk.test")[0] == 250
        assert c.cmd("MAIL FROM:<x@plain.test>")[0] == 250
        for i in range(80):       # 160 lines, more than a session keeps
            assert c.cmd("NOOP")[0] == 250
        assert c.cmd("RCPT TO:<late@traced.test>")[0] == 250
        assert c.cmd("QUIT")[0] == 221
    op.wait_log(r"disconnect from", start=off, timeout=10)
    log = op.log_text()[off:]
    sid = session_of(log, "< RCPT TO:<late@traced.test>")
    lines = session_lines(log, sid)
    m = re.search(r"trace: (\d+) earlier lines of this session were not kept", "\n".join(lines))
    assert m, lines[:5]
    # connect, 220, EHLO and MAIL with replies, MAIL's from= line (under the
    # transaction id), 160 NOOP lines, then the RCPT line: 168 before the
    # match, at most 64 kept (the note is lines[0]).
    kept = lines.index("< RCPT TO:<late@traced.test>")
    assert 0 < kept <= 64 and int(m.group(1)) + kept == 2 + 2 + 2 + 1 + 160 + 1
    # The oldest went first: no connect or EHLO line, the last NOOPs are there.
    assert not any(l.startswith("connect from") or l.startswith("< EHLO") for l in lines)
    assert lines[kept - 2] == "< NOOP" and lines[kept - 1].startswith("> 250")


def test_trace_refuses_a_bad_client_selector(root, outpost):
    for sel in ("client:", "client:300.1.1.1", "client:example.org", "client:1.2.3.4/24"):
        r = subprocess.run([str(H.OUTPOSTCTL), "-f", str(outpost.conf_path), "trace", sel],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0, sel
    assert "tracing client:::1 for 1 minutes" in ctl(outpost, "trace", "client:::1", "1")
