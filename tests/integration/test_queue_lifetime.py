# SPDX-License-Identifier: ISC
"""
How long a mail stays in the queue, with the relay down (a bound port that
never listens: every connection refused at once):

 - `outpostctl flush` during an outage never bounces a mail earlier than the
   schedule would have: with resend_attempts = 2 and resend_interval = 8s,
   two flushes within a second give attempts 2 and 3, still deferred; the
   mail is bounced only once 16 s (the schedule's total) have passed;
 - max_queue_lifetime ends every mail, also one never tried: a held mail,
   and one whose DNS lookup never returns (a DNS server that reads every
   query and answers none): both bounced with dsn=4.4.7 soon after the lifetime, long
   before the 60 s DNS timeout.
"""

import re
import socket
import time


import outpost_harness as H
from outpost_harness import ctl


def test_flushes_never_bounce_before_the_schedule_ends(outpost_factory, refused_port):
    op = outpost_factory(params={"delivery_mode": "relay",
                                 "relay_host": f"[127.0.0.1]:{refused_port}",
                                 "resend_attempts": 2, "resend_interval": "8s",
                                 "connect_timeout": "2s"})
    t0 = time.time()
    r = op.sendmail(["-i", "-f", "writer@src.test", "x@dest.test"], b"Subject: f\n\nbody\n")
    assert r.returncode == 0, r.stderr
    op.wait_log(r"to=<x@dest\.test>.*status=deferred.*attempts=1\b", timeout=20)
    for n in (2, 3):
        assert ctl(op, "flush").returncode == 0
        op.wait_log(rf"to=<x@dest\.test>.*status=(deferred|bounced).*attempts={n}\b", timeout=20)
    text = op.log_text()
    assert re.search(r"to=<x@dest\.test>.*status=deferred.*attempts=3\b", text), text
    assert "status=bounced" not in text
    # Left alone, it ends with the schedule: 8 + 8 seconds after it was queued.
    m = op.wait_log(r"to=<x@dest\.test>, .*delay=(\d+), .*status=bounced", timeout=40)
    assert time.time() - t0 >= 15
    assert int(m.group(1)) >= 15


def test_held_mail_expires(outpost_factory, refused_port):
    op = outpost_factory(params={"delivery_mode": "relay",
                                 "relay_host": f"[127.0.0.1]:{refused_port}",
                                 "resend_interval": "1h", "connect_timeout": "2s",
                                 "max_queue_lifetime": "4s"})
    r = op.sendmail(["-i", "-f", "writer@src.test", "held@dest.test"], b"Subject: h\n\nbody\n")
    assert r.returncode == 0, r.stderr
    op.wait_log(r"to=<held@dest\.test>.*status=deferred.*attempts=1\b", timeout=20)
    [qid] = list(op.queued_mails())
    r = ctl(op, "hold", qid)
    assert r.returncode == 0, r.stdout + r.stderr
    op.wait_log(rf"{qid}: to=<held@dest\.test>, .*dsn=4\.4\.7, status=bounced", timeout=30)
    H.wait_until(lambda: qid not in op.queued_mails(), 20, what="the held mail removed")
    # the sender got its bounce: a new mail from <> to the writer
    bounces = [m for m in op.queued_mails().values() if m.sender == ""]
    assert len(bounces) == 1


def test_mail_waiting_for_dns_expires(outpost_factory):
    # A DNS server that never answers: the lookup waits on libunbound's
    # timeouts. (A stopped resolver is no longer a way to hold a lookup:
    # the master replaces a stopped child.)
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        dns_port = silent.getsockname()[1]
        op = outpost_factory(params={"dns_servers": f"127.0.0.1@{dns_port}",
                                     "resend_interval": "1h", "max_queue_lifetime": "4s"})
        t0 = time.time()
        r = op.sendmail(["-i", "-f", "", "w@waiting.test"], b"Subject: w\n\nbody\n")
        assert r.returncode == 0, r.stderr
        op.wait_log(r"to=<w@waiting\.test>, .*dsn=4\.4\.7, status=bounced.*attempts=0\b",
                    timeout=30)
        assert time.time() - t0 < 30
        H.wait_until(lambda: not op.queued_mails(), 20, what="the mail removed")
    finally:
        silent.close()
