# SPDX-License-Identifier: ISC
"""
Re-send behaviour in relay mode, counted at a real receiving SMTP server
(aiosmtpd): a 451 is re-sent resend_interval later, a recipient gets at most
1 + resend_attempts attempts before it bounces, a 550 is never re-sent, a
smarthost that is down delays mail without losing or duplicating it, and a
delivery agent killed with SIGKILL mid-transaction costs no attempt: the
mail is delivered later.
"""

import os
import re
import signal
import threading
import time

import pytest

import outpost_harness as H

MSG = b"Subject: retry test\n\nbody line\n"


def relay_outpost(outpost_factory, rx, **params):
    p = {"delivery_mode": "relay", "relay_host": rx.hostport,
         "resend_interval": "2", "resend_attempts": 2}
    p.update(params)
    return outpost_factory(params=p)


def inject(op, rcpts, sender="sender@src.test", data=MSG):
    r = op.sendmail(["-f", sender, *rcpts], data)
    assert r.returncode == 0, r.stderr
    return r


def log_lines(op, rcpt):
    return [ln for ln in op.log_text().splitlines() if f"to=<{rcpt}>" in ln and "status=" in ln]


def test_451_twice_then_delivered(outpost_factory, receiver):
    receiver.tempfail("soft@dest.test", times=2)
    op = relay_outpost(outpost_factory, receiver, resend_attempts=5)
    inject(op, ["soft@dest.test"])
    op.wait_log(r"to=<soft@dest.test>.*dsn=2\.\d\.\d, status=sent .*, attempts=3\b", timeout=30)
    assert receiver.attempts("soft@dest.test") == 3
    assert len(receiver.delivered_to("soft@dest.test")) == 1
    lines = log_lines(op, "soft@dest.test")
    assert [re.search(r"status=(\w+)", ln).group(1) for ln in lines] == \
        ["deferred", "deferred", "sent"]
    # re-sent resend_interval apart, not at once
    stamps = [time.mktime(time.strptime(ln[:19], "%Y-%m-%dT%H:%M:%S")) for ln in lines]
    assert stamps[1] - stamps[0] >= 1 and stamps[2] - stamps[1] >= 1


@pytest.mark.parametrize("resend_attempts", [0, 2])
def test_always_451_bounced_after_all_attempts(outpost_factory, receiver, resend_attempts):
    receiver.tempfail("never@dest.test", times=1000)
    op = relay_outpost(outpost_factory, receiver, resend_attempts=resend_attempts,
                       resend_interval="1")
    inject(op, ["never@dest.test"])
    op.wait_log(r"to=<never@dest.test>.*status=bounced", timeout=40)
    time.sleep(2.5)     # a further attempt would come within resend_interval
    assert receiver.attempts("never@dest.test") == 1 + resend_attempts
    assert receiver.delivered_to("never@dest.test") == []
    assert len(log_lines(op, "never@dest.test")) == 1 + resend_attempts


def test_550_never_resent(outpost_factory, receiver):
    receiver.reject("hard@dest.test")
    op = relay_outpost(outpost_factory, receiver)
    inject(op, ["hard@dest.test", "fine@dest.test"])
    op.wait_log(r"to=<hard@dest.test>.*dsn=5\.1\.1, status=bounced .*, attempts=1\b", timeout=20)
    op.wait_log(r"to=<fine@dest.test>.*status=sent", timeout=20)
    time.sleep(3)
    assert receiver.attempts("hard@dest.test") == 1
    assert len(receiver.delivered_to("fine@dest.test")) == 1


def test_smarthost_down_then_up(outpost_factory, receiver_factory, workdir):
    port = H.free_port()
    n = 60
    p = {"delivery_mode": "relay", "relay_host": f"[127.0.0.1]:{port}",
         "resend_interval": "2", "resend_attempts": 20}
    op = outpost_factory(params=p)
    for i in range(n):
        inject(op, [f"r{i}@dest.test"], data=b"Subject: m%d\n\nbody %d\n" % (i, i))
    op.wait_log(r"to=<r\d+@dest.test>.*status=deferred", timeout=30)
    rx = receiver_factory(port=port)
    rx.wait_messages(n, timeout=60)
    time.sleep(3)
    got = sorted(r for m in rx.messages for r in m.rcpt_tos)
    assert got == sorted(f"r{i}@dest.test" for i in range(n))     # all, none twice
    H.wait_until(lambda: op.queued_mails() == {}, 20, what="empty queue")


def test_agent_killed_mid_transaction_delivered_later(outpost_factory, receiver):
    stalled = threading.Event()
    release = threading.Event()

    def stall_first(n):
        if n == 1:
            stalled.set()
            release.wait(10)        # holds the RCPT reply while the agent is killed
        return None
    receiver.script_rcpt("slow@dest.test", stall_first)
    op = relay_outpost(outpost_factory, receiver, resend_attempts=1)
    inject(op, ["slow@dest.test"])
    assert stalled.wait(20), op.log_tail()
    agents = op.children_by_title("agent")
    assert agents
    for a in agents:
        os.kill(a.pid, signal.SIGKILL)
    release.set()
    op.wait_log(r"to=<slow@dest.test>.*status=deferred \(delivery agent died\)", timeout=20)
    op.wait_log(r"to=<slow@dest.test>.*status=sent", timeout=40)
    # the interrupted transaction was not counted: one attempt recorded
    assert re.search(r"to=<slow@dest.test>.*dsn=2\.\d\.\d, status=sent .*, attempts=1\b",
                     op.log_text())
    assert len(receiver.delivered_to("slow@dest.test")) == 1
