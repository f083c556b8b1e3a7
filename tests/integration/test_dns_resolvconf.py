# SPDX-License-Identifier: ISC
"""
dns_servers left empty: outpost takes its DNS servers from /etc/resolv.conf,
read by the resolver before it is chrooted. Tested inside a network
namespace created here, whose resolv.conf (bound by `ip netns exec` from
/etc/netns/NAME/resolv.conf) names an nsd serving the test zone on the
namespace's own loopback; the receiving server (Postfix's smtp-sink) runs in
the namespace too. Mail is injected through the submit socket, which is a
file and so reachable from outside the namespace.

Servers taken from resolv.conf are forwarders like dns_servers: names in
libunbound's built-in local zones (test., home.arpa., ...) go to them too,
so nsd also serves lab.test and site.home.arpa and mail to both is sent,
where libunbound alone would answer "domain not found".
"""

import os
import random
import shutil
import subprocess

import pytest

import outpost_harness as H
from nsd_peer import NSD, NsdServer
from test_dns import ZONE

MSG = b"Subject: resolv.conf test\n\nbody\n"
LOCAL_ZONES = ("lab.test", "site.home.arpa")


def local_zone(zone):
    return f"""$ORIGIN {zone}.
$TTL 30
@     SOA ns hostmaster 1 3600 600 86400 30
@     NS ns
ns    A 127.0.0.1
@     MX 10 mx
mx    A 127.0.0.1
"""


@pytest.fixture
def netns(root):
    if not shutil.which("ip"):
        pytest.skip("iproute2 missing")
    name = f"outpost-dns-{os.getpid()}-{random.randint(0, 99999)}"
    etc = f"/etc/netns/{name}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
                       check=True)
        os.makedirs(etc, exist_ok=True)
        with open(f"{etc}/resolv.conf", "w") as f:
            f.write("# test namespace\nnameserver 127.0.0.1\n")
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)
        shutil.rmtree(etc, ignore_errors=True)


def test_dns_servers_from_resolv_conf(workdir, netns, outpost_binaries):
    if not os.path.exists(NSD) or not os.path.exists(H.SMTP_SINK):
        pytest.skip("nsd or smtp-sink missing")
    zone = f"""$ORIGIN {ZONE}.
$TTL 30
@     SOA ns hostmaster 1 3600 600 86400 30
@     NS ns
ns    A 127.0.0.1
dom   MX 10 mx
mx    A 127.0.0.1
"""
    zones = {ZONE: zone}
    zones.update({z: local_zone(z) for z in LOCAL_ZONES})
    nsd = NsdServer(workdir, "127.0.0.1", zones, port=53, netns=netns).start()
    sink = subprocess.Popen(["ip", "netns", "exec", netns, H.SMTP_SINK, "-u", "nobody",
                             "127.0.0.1:25", "64"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    wrapper = workdir / "outpost-in-netns"
    wrapper.write_text(f"#!/bin/sh\nexec ip netns exec {netns} {H.OUTPOST} \"$@\"\n")
    wrapper.chmod(0o755)
    op = H.Outpost(workdir / "op", params={"delivery_mode": "independent",
                                           "resend_interval": "2"})
    saved = H.OUTPOST
    try:
        H.OUTPOST = wrapper
        op.start(wait_ready=False)
        H.wait_until(lambda: op.submit_socket.is_socket(), 20, 0.1, what="submit socket")
        op.wait_log(r"resolver: DNS server 127\.0\.0\.1 \(from /etc/resolv\.conf\)", timeout=10)
        r = op.sendmail(["-f", "sender@src.test", f"u@dom.{ZONE}"], MSG)
        assert r.returncode == 0, r.stderr
        op.wait_log(rf"MX lookup for dom\.{ZONE}: 10 mx\.{ZONE}", timeout=20)
        op.wait_log(rf"to=<u@dom\.{ZONE}>, relay=mx\.{ZONE}\[127\.0\.0\.1\]:25.*status=sent",
                    timeout=30)
        # libunbound's local zones: asked of the resolv.conf server, not answered NXDOMAIN
        for z in LOCAL_ZONES:
            r = op.sendmail(["-f", "sender@src.test", f"u@{z}"], MSG)
            assert r.returncode == 0, r.stderr
        for z in LOCAL_ZONES:
            q = z.replace(".", "[.]")
            op.wait_log(rf"MX lookup for {q}: 10 mx\.{q} ", timeout=20)
            # relay= may name mx.ot.example: the agent reuses its connection to 127.0.0.1
            op.wait_log(rf"to=<u@{q}>, relay=\S+\[127\.0\.0\.1\]:25, .*status=sent", timeout=30)
        assert "not found" not in op.log_text()
    finally:
        H.OUTPOST = saved
        op.stop()
        H.stop_pid(sink.pid, 5, popen=sink)
        nsd.stop()
