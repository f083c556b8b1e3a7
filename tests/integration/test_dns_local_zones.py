# SPDX-License-Identifier: ISC
"""
Names in libunbound's built-in local zones reach the configured DNS server:
nsd serves a zone under test. and one under home.arpa. (RFC 8375, the name
for home and site networks), and outpost delivers through both, by MX
lookup in independent mode and to a relay_host named there in relay mode,
as the system resolver (which Postfix uses) would. Before, libunbound
answered NXDOMAIN itself and the mail bounced "domain not found".
"""

import os

import pytest

from nsd_peer import NSD, NsdServer
from test_dns import loopback_net

ZONES = ("lab.test", "site.home.arpa")
MSG = b"Subject: local zones\n\nbody\n"


def zone_text(zone, addr, net, i):
    return f"""$ORIGIN {zone}.
$TTL 2
@        SOA ns hostmaster 1 3600 600 86400 2
@        NS ns
ns       A {addr}
@        MX 10 mx
mx       A {net}.{10 + i}
relay    A {net}.{20 + i}
"""


@pytest.fixture
def net():
    return loopback_net()


@pytest.fixture
def dns(workdir, net, root):
    if not os.path.exists(NSD):
        pytest.skip("nsd not installed")
    addr = f"{net}.53"
    # The zone under home.arpa answers the start-up probe: the one
    # libunbound would have answered itself.
    d = NsdServer(workdir, addr, {z: zone_text(z, addr, net, i)
                                  for i, z in reversed(list(enumerate(ZONES)))},
                  subdir="nsd2").start()
    yield d
    d.stop()


@pytest.mark.parametrize("i", [0, 1], ids=ZONES)
def test_mx_routing_in_local_zones(outpost_factory, receiver_factory, dns, net, i):
    rx = receiver_factory(host=f"{net}.{10 + i}", port=25)
    op = outpost_factory(params={"delivery_mode": "independent",
                                 "dns_servers": f"{dns.addr}@{dns.port}",
                                 "resend_interval": "2", "resend_attempts": 3})
    r = op.sendmail(["-f", "sender@src.test", f"u@{ZONES[i]}"], MSG)
    assert r.returncode == 0, r.stderr
    rx.wait_messages(1, timeout=30)
    op.wait_log(rf"to=<u@{ZONES[i].replace('.', '[.]')}>, relay=mx\.{ZONES[i].replace('.', '[.]')}"
                rf"\[{net}\.{10 + i}\]:25.*status=sent", timeout=10)
    assert "not found" not in op.log_text()


@pytest.mark.parametrize("i", [0, 1], ids=ZONES)
def test_relay_host_in_local_zones(outpost_factory, receiver_factory, dns, net, i):
    rx = receiver_factory(host=f"{net}.{20 + i}")
    op = outpost_factory(params={"delivery_mode": "relay",
                                 "relay_host": f"relay.{ZONES[i]}:{rx.port}",
                                 "relay_tls_policy": "none",
                                 "dns_servers": f"{dns.addr}@{dns.port}",
                                 "resend_interval": "2", "resend_attempts": 3})
    r = op.sendmail(["-f", "sender@src.test", "v@dest.example"], MSG)
    assert r.returncode == 0, r.stderr
    m = rx.wait_messages(1, timeout=30)[0]
    assert m.rcpt_tos == ["v@dest.example"]
    assert "not found" not in op.log_text()
