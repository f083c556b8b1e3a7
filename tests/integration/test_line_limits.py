# SPDX-License-Identifier: ISC
"""
The 1000-octet text line limit (RFC 5321 4.5.3.1.6) at both ends, with the
dot added for transparency not counted: swaks (--no-data-fixup, exact bytes)
into smtpd, outpost's agent out to a real receiver (aiosmtpd).

 - 998 octets, with and without a leading dot, are accepted by smtpd and
   arrive byte-identical (the dotted one is 999 octets + CRLF on both wires);
 - 999 octets, with and without a leading dot, are refused by smtpd (554 5.6.0);
 - a locally submitted 999-octet line that starts with a dot is bounced by the
   agent (5.6.0), a 998-octet one is delivered.
"""

import re

import pytest

import outpost_harness as H


def relay(outpost_factory, rx):
    return outpost_factory(params={"delivery_mode": "relay", "relay_host": rx.hostport,
                                   "resend_interval": "2", "resend_attempts": 3})


def mail(line):
    return (b"From: a@src.test\r\nTo: b@dest.test\r\nSubject: limits\r\n\r\n"
            b"first\r\n" + line + b"\r\nlast\r\n")


@pytest.mark.parametrize("line", [b"x" * 998, b"." + b"x" * 997, b"." * 998],
                         ids=["998-plain", "998-dot", "998-all-dots"])
def test_998_octets_accepted_and_delivered_byte_identical(outpost_factory, receiver, line):
    op = relay(outpost_factory, receiver)
    data = mail(line)
    r = op.swaks("b@dest.test", sender="a@src.test", data=data)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"<-  250 2\.0\.0 Ok: queued as", r.stdout), r.stdout
    m = receiver.wait_messages(1, timeout=30)[0]
    assert H.strip_trace(m.data) == data


@pytest.mark.parametrize("line", [b"x" * 999, b"." + b"x" * 998],
                         ids=["999-plain", "999-dot"])
def test_999_octets_refused_by_smtpd(outpost_factory, receiver, line):
    op = relay(outpost_factory, receiver)
    r = op.swaks("b@dest.test", sender="a@src.test", data=mail(line))
    assert r.returncode != 0
    assert re.search(r"<\*\* 554 5\.6\.0 Message has a line longer than 1000 octets",
                     r.stdout), r.stdout
    assert not op.queued_mails()
    assert receiver.count() == 0


def test_agent_counts_text_not_the_stuffed_dot(outpost_factory, receiver):
    op = relay(outpost_factory, receiver)
    ok = b"Subject: ok\n\n." + b"d" * 997 + b"\n"
    r = op.sendmail(["-i", "-f", "a@src.test", "ok@dest.test"], ok)
    assert r.returncode == 0, r.stderr
    m = receiver.wait_messages(1, timeout=30)[0]
    assert H.strip_trace(m.data).endswith(b"\r\n\r\n." + b"d" * 997 + b"\r\n")
    long = b"Subject: long\n\n." + b"d" * 998 + b"\n"
    r = op.sendmail(["-i", "-f", "a@src.test", "long@dest.test"], long)
    if r.returncode != 0:
        pytest.skip(f"local submission refuses long lines itself: {r.stderr!r}")
    op.wait_log(r"to=<long@dest.test>.*dsn=5\.6\.0, status=bounced", timeout=30)
    assert receiver.delivered_to("long@dest.test") == []
