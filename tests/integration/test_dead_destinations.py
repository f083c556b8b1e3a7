# SPDX-License-Identifier: ISC
"""
Dead destinations cost the healthy ones nothing: an MX whose SYNs are
dropped (nftables, a connect waits for connect_timeout) gets one connection
attempt at a time until it answers, so the mails queued for it hold one
agent session, not one each; when that attempt times out they are deferred
from the unreachable-host cache, none bounced, none lost.
"""

import re
import time

import outpost_harness as H
from test_shaping import (blackhole, peer_factory, inject_many, statuses,  # noqa: F401
                          destinations)


def test_blackholed_mx_holds_one_session_not_one_per_mail(outpost_factory, peer_factory,
                                                          blackhole):
    healthy = peer_factory(max_sessions=100)
    dead_port = H.free_port("127.0.0.3")
    blackhole("127.0.0.3", dead_port)
    routes = {f"dead{i}.test": f"[127.0.0.3]:{dead_port}" for i in range(8)}
    routes["ok.test"] = healthy.hostport
    # Four sessions in all: before, the dead mails took every one of them
    # for a whole connect timeout.
    op = outpost_factory(params={"resend_interval": "1h", "connect_timeout": "20s"},
                         sections={"agent": {"count": 1, "max_sessions": 4}}, routes=routes)
    for i in range(8):
        inject_many(op, 2, domain=f"dead{i}.test", sessions=2)
    op.wait_log(r"connecting to 127\.0\.0\.3", timeout=15)
    start = time.monotonic()
    inject_many(op, 20, domain="ok.test", sessions=4)
    H.wait_until(lambda: len(healthy.accepted) >= 20, 60, 0.1, what="the healthy mails")
    took = time.monotonic() - start
    attempts = len(re.findall(r"connecting to 127\.0\.0\.3", op.log_text()))
    assert took < 15, f"the healthy mails waited {took:.1f}s (connect_timeout is 20s)"
    assert attempts == 1, f"{attempts} connection attempts to the dead MX at once"
    out = destinations(op)
    assert re.search(rf"^probing \[127\.0\.0\.3\]:{dead_port} \(not answered yet\), "
                     r"[1-9]\d* destinations waiting$", out, re.M), out

    # The probe times out; the 15 mails that waited are deferred from the
    # cache without a connection attempt of their own.
    def deferred():
        return len(re.findall(r"to=<rcpt@dead\d\.test>.*status=deferred", op.log_text()))
    H.wait_until(lambda: deferred() >= 16, 90, 0.2, what="16 dead mails deferred")
    assert len(re.findall(r"status=deferred \(every address of .* is not responding "
                          r"\(cached, not tried\)\)", op.log_text())) >= 15
    assert len(re.findall(r"connecting to 127\.0\.0\.3", op.log_text())) == 1
    assert "bounced" not in statuses(op)
    assert len(op.queued_mails()) == 16
