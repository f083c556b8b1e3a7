# SPDX-License-Identifier: ISC
"""
Independent mode against a real authoritative DNS server (nsd) serving a
test zone on a loopback address, with receivers (aiosmtpd) on port 25 of
other loopback addresses: MX preference and fallback, implicit MX (A only,
AAAA only over IPv6), null MX and NXDOMAIN bounced without any connection, a
mail loop, a CNAME MX target skipped, a DNS server that is down (deferred,
then delivered once it is back), domain mapping in independent and relay
mode, and hostile answers (hundreds of MX records, CNAME loops).
"""

import os
import random
import re

import pytest

import outpost_harness as H
from nsd_peer import NSD, NsdServer

MSG = b"Subject: dns test\n\nbody\n"
ZONE = "ot.example"


def loopback_net():
    """A /24 of 127/8 unlikely to be used by a parallel test."""
    return f"127.{random.randint(100, 250)}.{random.randint(1, 250)}"


class Nsd(NsdServer):
    """nsd serving the test zone ZONE on addr:port."""

    def __init__(self, workdir, addr, zone_text, port=None):
        super().__init__(workdir, addr, {ZONE: zone_text}, port=port)


@pytest.fixture
def net():
    return loopback_net()


@pytest.fixture
def dns(workdir, net, root):
    if not os.path.exists(NSD):
        pytest.skip("nsd not installed")
    ns = f"{net}.53"
    many = "\n".join(f"many MX {i} m{i}.{ZONE}." for i in range(300))
    zone = f"""$ORIGIN {ZONE}.
$TTL 2
@        SOA ns hostmaster 1 3600 600 86400 2
@        NS ns
ns       A {ns}
mx2      MX 10 mxa
mx2      MX 20 mxb
mxa      A {net}.1
mxb      A {net}.2
down     MX 10 nobody
down     MX 20 mxb
nobody   A {net}.9
aonly    A {net}.3
v6only   AAAA ::1
nullmx   MX 0 .
loop     MX 10 outpost.test.
cnamemx  MX 10 alias
cnamemx  MX 20 mxb
alias    CNAME mxa
cloop1   CNAME cloop2
cloop2   CNAME cloop1
{many}
m0       A {net}.4
"""
    d = Nsd(workdir, ns, zone).start()
    yield d
    d.stop()


def independent(outpost_factory, dns, routes=None, **params):
    p = {"delivery_mode": "independent", "dns_servers": f"{dns.addr}@{dns.port}",
         "resend_interval": "2", "resend_attempts": 5}
    p.update(params)
    return outpost_factory(params=p, routes=routes)


def mx_receiver(receiver_factory, host, port=25):
    return receiver_factory(host=host, port=port)


def inject(op, rcpts, sender="sender@src.test"):
    r = op.sendmail(["-f", sender, *rcpts], MSG)
    assert r.returncode == 0, r.stderr


def test_mx_preference_and_fallback(outpost_factory, receiver_factory, dns, net):
    rx_a = mx_receiver(receiver_factory, f"{net}.1")
    rx_b = mx_receiver(receiver_factory, f"{net}.2")
    op = independent(outpost_factory, dns)
    inject(op, [f"u@mx2.{ZONE}"])
    rx_a.wait_messages(1, timeout=20)
    assert rx_b.count() == 0
    m = op.wait_log(rf"MX lookup for mx2\.{ZONE}: 10 mxa\.{ZONE}, 20 mxb\.{ZONE}")
    assert m
    op.wait_log(rf"to=<u@mx2\.{ZONE}>, relay=mxa\.{ZONE}\[{net}\.1\]:25.*status=sent")

    # the MX 10 host is down (nothing listens at .9): delivered at MX 20
    inject(op, [f"v@down.{ZONE}"])
    rx_b.wait_messages(1, timeout=30)
    op.wait_log(rf"to=<v@down\.{ZONE}>, relay=mxb\.{ZONE}\[{net}\.2\]:25.*status=sent")


def test_implicit_mx_a_and_aaaa(outpost_factory, receiver_factory, dns, net):
    rx_a = mx_receiver(receiver_factory, f"{net}.3")
    rx6 = mx_receiver(receiver_factory, "::1")
    op = independent(outpost_factory, dns)
    inject(op, [f"a@aonly.{ZONE}", f"b@v6only.{ZONE}"])
    rx_a.wait_messages(1, timeout=20)
    rx6.wait_messages(1, timeout=20)
    assert rx6.messages[0].rcpt_tos == [f"b@v6only.{ZONE}"]
    op.wait_log(rf"MX lookup for aonly\.{ZONE}: no MX record")
    op.wait_log(rf"to=<b@v6only\.{ZONE}>, relay=v6only\.{ZONE}\[::1\]:25.*status=sent")


def test_null_mx_nxdomain_loop_bounced_without_connection(outpost_factory, receiver_factory,
                                                          dns, net):
    rxs = [mx_receiver(receiver_factory, f"{net}.{i}") for i in (1, 2, 3)]
    op = independent(outpost_factory, dns)
    inject(op, [f"a@nullmx.{ZONE}", f"b@nx.{ZONE}", f"c@loop.{ZONE}"])
    op.wait_log(rf"to=<a@nullmx\.{ZONE}>, relay=none.*dsn=5\.1\.10, status=bounced", timeout=20)
    op.wait_log(rf"to=<b@nx\.{ZONE}>, relay=none.*dsn=5\.1\.2, status=bounced", timeout=20)
    op.wait_log(rf"to=<c@loop\.{ZONE}>, relay=none.*dsn=5\.4\.6, status=bounced", timeout=20)
    op.wait_log(rf"MX lookup for nullmx\.{ZONE}: null MX")
    op.wait_log(rf"MX lookup for nx\.{ZONE}: domain not found")
    assert sum(rx.connections for rx in rxs) == 0
    assert not re.search(r"agent \d+: .*connecting", op.log_text()), op.log_tail()


def test_cname_mx_target_skipped(outpost_factory, receiver_factory, dns, net):
    rx_a = mx_receiver(receiver_factory, f"{net}.1")
    rx_b = mx_receiver(receiver_factory, f"{net}.2")
    op = independent(outpost_factory, dns)
    inject(op, [f"u@cnamemx.{ZONE}"])
    rx_b.wait_messages(1, timeout=20)
    assert rx_a.count() == 0
    op.wait_log(rf"MX host alias\.{ZONE} of cnamemx\.{ZONE} skipped")


def test_dns_down_deferred_then_delivered(outpost_factory, receiver_factory, dns, net):
    rx = mx_receiver(receiver_factory, f"{net}.3")
    op = independent(outpost_factory, dns)
    dns.stop()
    inject(op, [f"a@aonly.{ZONE}"])
    op.wait_log(rf"to=<a@aonly\.{ZONE}>, relay=none.*dsn=4\.4\.3, status=deferred", timeout=40)
    assert rx.count() == 0
    dns.start()
    rx.wait_messages(1, timeout=90)
    op.wait_log(rf"to=<a@aonly\.{ZONE}>.*status=sent", timeout=10)


def test_hostile_answers(outpost_factory, receiver_factory, dns, net):
    rx = mx_receiver(receiver_factory, f"{net}.4")
    op = independent(outpost_factory, dns)
    inject(op, [f"a@many.{ZONE}", f"b@cloop1.{ZONE}"])
    # 300 MX records: bounded, the best one (MX 0, m0) used
    rx.wait_messages(1, timeout=60)
    # a CNAME loop: a temporary DNS failure, nothing worse
    op.wait_log(rf"to=<b@cloop1\.{ZONE}>, relay=none.*status=deferred", timeout=60)
    assert op.running()
    assert all(c.pid for c in op.children_by_title("resolver"))


def test_routes_independent_and_relay(outpost_factory, receiver_factory, dns, net):
    route_rx = receiver_factory(host=f"{net}.7")
    smarthost = receiver_factory(host=f"{net}.8")
    routes = {"mapped.example": route_rx.hostport, ".sub.example": route_rx.hostport}
    op = independent(outpost_factory, dns, routes=routes)
    inject(op, ["a@mapped.example", "b@x.sub.example"])
    H.wait_until(lambda: sum(len(m.rcpt_tos) for m in route_rx.messages) >= 2, 20,
                 what="both routed recipients")
    msgs = route_rx.messages
    assert sorted(r for m in msgs for r in m.rcpt_tos) == ["a@mapped.example", "b@x.sub.example"]
    routed = route_rx.count()

    op2 = outpost_factory(params={"delivery_mode": "relay", "relay_host": smarthost.hostport,
                                  "dns_servers": f"{dns.addr}@{dns.port}"}, routes=routes)
    inject(op2, ["c@mapped.example"])
    smarthost.wait_messages(1, timeout=20)
    assert route_rx.count() == routed
    op2.wait_log(r"routes\] are ignored")
