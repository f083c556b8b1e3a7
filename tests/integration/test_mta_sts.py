# SPDX-License-Identifier: ISC
"""
MTA-STS (RFC 8461) against real peers: names served by nsd on loopback
(_mta-sts TXT records, MX hosts, mta-sts.<domain> addresses), a policy
server made here (python3's http.server with ssl on 127.x.y.10:443, its
certificate from a CA made in the test, tls_peer.CA), a private Postfix
receiving with a certificate of the same CA, and outpost with mta_sts = yes
and that CA as tls_ca_file:

  - enforce, MX in the policy, valid certificate: delivered, tls=sts-verified;
  - enforce, MX not in the policy: never contacted, deferred;
  - enforce, MX whose certificate is for another name: deferred;
  - testing, MX not in the policy: delivered anyway, the mismatch logged;
  - a policy fetched once is used after a restart with the server down.
"""

import os
import random
import re
import subprocess

import pytest

import outpost_harness as H
from test_dns import NSD, Nsd, ZONE
from sts_server import PolicyServer
from tls_peer import CA, PostfixTLS, POSTFIX_MASTER

MSG = b"Subject: sts test\nMessage-ID: <%s@src.test>\n\nbody\n"
DOMAINS = ("enf", "nomx", "wrongname", "testing")
POLICY = "version: STSv1\nmode: {mode}\nmx: {mx}\nmax_age: 86400\n"


class Peer:
    def __init__(self, workdir, receiver):
        for prog in (POSTFIX_MASTER, NSD):
            if not os.path.exists(prog):
                pytest.skip(f"{prog} not installed")
        self.workdir = workdir
        self.net = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}"
        self.addrs = [f"{self.net}.1", f"{self.net}.2", f"{self.net}.3"]
        self.web = f"{self.net}.10"
        self.rx = receiver
        self.ca = CA(workdir / "ca")
        cert, key = self.ca.issue(f"mx.{ZONE}", [f"DNS:mx.{ZONE}"])
        self.web_cert, self.web_key = self.ca.issue(
            "mta-sts", [f"DNS:mta-sts.{d}.{ZONE}" for d in DOMAINS])
        zone = [f"$ORIGIN {ZONE}.", "$TTL 2", "@ SOA ns hostmaster 1 3600 600 86400 2",
                "@ NS ns", f"ns A {self.net}.53", f"mx A {self.addrs[0]}",
                f"alias A {self.addrs[0]}"]
        for d in DOMAINS:
            zone += [f"{d} MX 10 {'alias' if d == 'wrongname' else 'mx'}",
                     f'_mta-sts.{d} TXT "v=STSv1; id=20261207"',
                     f"mta-sts.{d} A {self.web}"]
        self.dns = Nsd(workdir, f"{self.net}.53", "\n".join(zone) + "\n")
        self.policies = workdir / "policies"
        self.policies.mkdir()
        for d, mode, mx in (("enf", "enforce", f"mx.{ZONE}"),
                            ("nomx", "enforce", f"other.{ZONE}"),
                            ("wrongname", "enforce", f"alias.{ZONE}"),
                            ("testing", "testing", f"other.{ZONE}")):
            (self.policies / f"mta-sts.{d}.{ZONE}").write_text(POLICY.format(mode=mode, mx=mx))
        self.web_log = workdir / "sts-server.log"
        self.web_server = PolicyServer(self.web, self.web_cert, self.web_key, self.policies,
                                       self.web_log)
        self.postfix = PostfixTLS(workdir / "postfix", self.addrs, cert, key, receiver.port,
                                  None, "", [f"{d}.{ZONE}" for d in DOMAINS])

    def start_web(self):
        self.web_server.start()

    def stop_web(self):
        self.web_server.stop()

    def fetches(self):
        return self.web_server.fetches()

    def start(self):
        self.dns.start()
        self.start_web()
        self.postfix.start()
        return self

    def stop(self):
        try:
            self.postfix.stop()
        finally:
            try:
                self.stop_web()
            finally:
                self.dns.stop()


@pytest.fixture
def peer(workdir, receiver, root):
    p = Peer(workdir, receiver)
    try:
        yield p.start()
    finally:
        p.stop()


def outpost(outpost_factory, peer):
    return outpost_factory(params={
        "delivery_mode": "independent", "dns_servers": f"{peer.dns.addr}@{peer.dns.port}",
        "mta_sts": "yes", "tls_ca_file": str(peer.ca.cert),
        "resend_interval": "2", "resend_attempts": 5, "log_level": "detailed"})


def inject(op, rcpt, tag):
    r = op.sendmail(["-f", "sender@src.test", rcpt], MSG % tag.encode())
    assert r.returncode == 0, r.stderr


def received(rx, tag, timeout=30):
    def find():
        return next((m for m in rx.messages if f"<{tag}@src.test>".encode() in m.data), None)
    return H.wait_until(find, timeout, 0.1, what=f"mail {tag} at the receiver")


def never_received(peer, tag):
    assert not any(f"<{tag}@src.test>".encode() in m.data for m in peer.rx.messages)


def test_enforce_matching_mx_delivered_sts_verified(outpost_factory, peer):
    op = outpost(outpost_factory, peer)
    inject(op, f"u@enf.{ZONE}", "s1")
    received(peer.rx, "s1")
    op.wait_log(rf"MTA-STS policy of enf\.{ZONE}: mode enforce, id 20261207, 1 mx "
                r"pattern\(s\), fetched")
    op.wait_log(rf"relay=mx\.{ZONE}\S+, TLS TLSv1\.[23], .*peer verified, tls=sts-verified")
    assert peer.fetches() == 1
    # outpostctl shows the cached policy and its expiry
    r = subprocess.run([str(H.OUTPOSTCTL), "-f", str(op.conf_path), "sts", f"enf.{ZONE}"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert re.search(rf"^enf\.{ZONE}: mode enforce, id 20261207, max_age 86400, expires in "
                     rf"\d+s, mx mx\.{ZONE}$", r.stdout, re.M), r.stdout
    r = subprocess.run([str(H.OUTPOSTCTL), "-f", str(op.conf_path), "sts", f"nomx.{ZONE}"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "no MTA-STS policy cached" in r.stdout + r.stderr


def test_enforce_mx_not_in_policy_never_contacted(outpost_factory, peer):
    op = outpost(outpost_factory, peer)
    inject(op, f"u@nomx.{ZONE}", "s2")
    op.wait_log(rf"to=<u@nomx\.{ZONE}>, relay=none.*status=deferred \(no MX host of "
                rf"nomx\.{ZONE} matches its MTA-STS policy", timeout=30)
    assert f"connecting to mx.{ZONE}" not in op.log_text()
    never_received(peer, "s2")
    assert "client=" not in peer.postfix.log_text()


def test_enforce_certificate_for_other_name_deferred(outpost_factory, peer):
    op = outpost(outpost_factory, peer)
    inject(op, f"u@wrongname.{ZONE}", "s3")
    op.wait_log(rf"to=<u@wrongname\.{ZONE}>.*status=deferred \(.*hostname mismatch", 30)
    never_received(peer, "s3")
    assert "client=" not in peer.postfix.log_text()


def test_testing_mode_delivers_and_logs_mismatch(outpost_factory, peer):
    op = outpost(outpost_factory, peer)
    inject(op, f"u@testing.{ZONE}", "s4")
    received(peer.rx, "s4")
    op.wait_log(rf"MX host mx\.{ZONE} of testing\.{ZONE} is not in its MTA-STS policy "
                r"\(testing: used anyway\)")
    assert "tls=sts-verified" not in op.log_text()


def test_policy_cached_across_restart_with_server_down(outpost_factory, peer):
    op = outpost(outpost_factory, peer)
    inject(op, f"u@enf.{ZONE}", "s5")
    received(peer.rx, "s5")
    op.wait_log(rf"MTA-STS policy of enf\.{ZONE}: .*fetched")
    op.stop()
    peer.stop_web()
    op.start()
    op.wait_log(r"1 MTA-STS policies loaded from the cache")
    inject(op, f"v@enf.{ZONE}", "s6")
    received(peer.rx, "s6")
    op.wait_log(rf"MTA-STS policy of enf\.{ZONE}: mode enforce, .*cached")
    assert op.log_text().count("tls=sts-verified") == 2
    assert peer.fetches() == 1
