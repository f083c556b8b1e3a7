# SPDX-License-Identifier: ISC
"""
A DNS server that never answers (a UDP socket on loopback that reads and
says nothing): mails for a destination that needs it are deferred after the
resolver's timeout, never bounced, and mails for other destinations (a
static route, no DNS) are delivered meanwhile without waiting for it.
"""
import socket
import time

import outpost_harness as H

MSG = b"Subject: silent dns\n\nbody\n"


def test_silent_dns_defers_and_blocks_nothing(outpost_factory, receiver):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    silent.setblocking(False)
    try:
        port = silent.getsockname()[1]
        op = outpost_factory(
            params={"delivery_mode": "independent", "dns_servers": f"127.0.0.1@{port}",
                    "resend_interval": "2", "resend_attempts": 1000},
            routes={"fast.test": receiver.hostport})
        r = op.sendmail(["-f", "sender@src.test", "a@slow.example.com"], MSG)
        assert r.returncode == 0, r.stderr
        t0 = time.monotonic()
        r = op.sendmail(["-f", "sender@src.test", "b@fast.test"], MSG)
        assert r.returncode == 0, r.stderr
        # The routed mail does not wait for the silent server.
        receiver.wait_messages(1, timeout=10)
        assert time.monotonic() - t0 < 10
        # The silent server was asked (and said nothing).
        def asked():
            try:
                return silent.recvfrom(4096)
            except BlockingIOError:
                return None
        H.wait_until(asked, 10, what="a DNS query at the silent server")
        # The question times out: deferred (4.x), not bounced.
        op.wait_log(r"to=<a@slow\.example\.com>, relay=none.*dsn=4\.\d\.\d+, status=deferred",
                    timeout=60)
        # Meanwhile and after, other mails still flow at once.
        t1 = time.monotonic()
        r = op.sendmail(["-f", "sender@src.test", "c@fast.test"], MSG)
        assert r.returncode == 0, r.stderr
        receiver.wait_messages(2, timeout=10)
        assert time.monotonic() - t1 < 10
        log = op.log_text()
        assert "to=<a@slow.example.com>" in log and "status=bounced" not in log
        assert len(op.queued_mails()) == 1
        assert receiver.delivered_to("a@slow.example.com") == []
    finally:
        silent.close()
