# SPDX-License-Identifier: ISC
"""
`outpostctl show` prints a queued mail's content line for line, whatever
its line ends: a mail submitted locally with LF line ends (stored as given)
shows its empty lines as empty lines, never as a copy of the line before.
"""


import pytest

import outpost_harness as H
from outpost_harness import ctl


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_show_keeps_empty_lines(outpost_factory, refused_port, eol):
    op = outpost_factory(params={"delivery_mode": "relay",
                                 "relay_host": f"[127.0.0.1]:{refused_port}",
                                 "resend_interval": "1h", "connect_timeout": "2s"})
    lines = [b"Subject: show me", b"X-Second: header", b"", b"first body line", b"",
             b"", b"after two empty lines"]
    r = op.sendmail(["-i", "-f", "a@src.test", "b@dest.test"], eol.join(lines) + eol)
    assert r.returncode == 0, r.stderr
    q = H.wait_until(lambda: op.queued_mails(), 20, what="the mail queued")
    [qid] = list(q)
    r = ctl(op, "show", qid)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    content = out[out.index("content:") + 1:]
    # outpost-sendmail may add From:, Date:, Message-ID: to the header
    i = content.index("Subject: show me")
    assert content[i:i + 2] == ["Subject: show me", "X-Second: header"]
    assert content[content.index("X-Second: header") + 1:][-5:] == \
        ["", "first body line", "", "", "after two empty lines"]
    assert content.count("X-Second: header") == 1
