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
import subprocess
from pathlib import Path

import pytest

import outpost_harness as H
from test_dns import NSD, loopback_net

ZONES = ("lab.test", "site.home.arpa")
MSG = b"Subject: local zones\n\nbody\n"


class TwoZoneNsd:
    """nsd -d on addr:port serving the two zones of ZONES, stopped by PID."""

    def __init__(self, workdir, addr, net):
        self.dir = Path(workdir) / "nsd2"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.addr = addr
        self.port = H.free_port(addr, __import__("socket").SOCK_DGRAM)
        conf = f"""server:
    ip-address: {addr}@{self.port}
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "{self.dir}"
    pidfile: "{self.dir}/nsd.pid"
    database: ""
    xfrdfile: "{self.dir}/xfrd.state"
    zonelistfile: "{self.dir}/zone.list"
    logfile: "{self.dir}/nsd.log"
    server-count: 1
    verbosity: 1
    rrl-ratelimit: 0
remote-control:
    control-enable: no
"""
        for i, z in enumerate(ZONES):
            (self.dir / f"zone{i}").write_text(f"""$ORIGIN {z}.
$TTL 2
@        SOA ns hostmaster 1 3600 600 86400 2
@        NS ns
ns       A {addr}
@        MX 10 mx
mx       A {net}.{10 + i}
relay    A {net}.{20 + i}
""")
            conf += f"zone:\n    name: {z}.\n    zonefile: \"{self.dir}/zone{i}\"\n"
        (self.dir / "nsd.conf").write_text(conf)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([NSD, "-d", "-c", str(self.dir / "nsd.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        H.wait_until(self._answers, 10, 0.1, what="nsd to answer")
        return self

    def _answers(self):
        if self.proc.poll() is not None:
            raise H.HarnessError("nsd exited")
        import socket
        import struct
        q = struct.pack(">HHHHHH", 0x4321, 0, 1, 0, 0, 0)
        for label in ZONES[1].split("."):
            q += bytes([len(label)]) + label.encode()
        q += b"\0" + struct.pack(">HH", 6, 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.3)
        try:
            s.sendto(q, (self.addr, self.port))
            return s.recv(512)[:2] == b"\x43\x21"
        except OSError:
            return False
        finally:
            s.close()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            H.stop_pid(self.proc.pid, 10, popen=self.proc)
        self.proc = None


@pytest.fixture
def net():
    return loopback_net()


@pytest.fixture
def dns(workdir, net, root):
    if not os.path.exists(NSD):
        pytest.skip("nsd not installed")
    d = TwoZoneNsd(workdir, f"{net}.53", net).start()
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
