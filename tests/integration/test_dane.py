# SPDX-License-Identifier: ISC
"""
DANE for SMTP (RFC 7672) against real peers: a zone with TLSA records signed
with ldns-signzone and served by nsd on loopback, outpost validating with the
zone's key as its dnssec_trust_anchor and tls_policy = dane, and a private
Postfix receiving with a certificate made in the test (tls_peer.py), which
passes accepted mail on to a scriptable receiver.

  - TLSA 3 1 1 matching the certificate's key: delivered, logged dane-verified
    (the certificate's CA is known to no one: only the TLSA record vouches);
  - TLSA 3 1 1 not matching: the handshake fails, the mail is deferred and no
    SMTP transaction ever starts (Postfix logs no client= line);
  - a TLSA record changed after signing (bogus): deferred, never connected;
  - signed but unusable TLSA (PKIX-TA 0 0 1): delivered encrypted, not verified;
  - a zone outside the trust anchor (insecure): TLSA records are not even
    looked up, delivery is opportunistic (tls=may);
  - tls_policy = dane-only: an insecure destination is deferred.
"""

import random
import re
import shutil
import subprocess

import pytest

import outpost_harness as H
from test_dns import NSD, Nsd, ZONE
from tls_peer import CA, PostfixTLS, POSTFIX_MASTER

KEYGEN = shutil.which("ldns-keygen") or "/usr/bin/ldns-keygen"
SIGNZONE = shutil.which("ldns-signzone") or "/usr/bin/ldns-signzone"
MSG = b"Subject: dane test\nMessage-ID: <%s@src.test>\n\nbody\n"
DOMAINS = ("dane", "nomatch", "bogus", "unusable", "ta")


def spki_sha256(cert):
    """The TLSA 3 1 1 data of a certificate: SHA2-256 of its SubjectPublicKeyInfo."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert), "-pubkey", "-noout"],
                         check=True, capture_output=True, timeout=30).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         check=True, capture_output=True, timeout=30).stdout
    import hashlib
    return hashlib.sha256(der).hexdigest()


def cert_sha256(cert):
    """The TLSA x 0 1 data of a certificate: SHA2-256 of the whole certificate."""
    der = subprocess.run(["openssl", "x509", "-in", str(cert), "-outform", "DER"],
                         check=True, capture_output=True, timeout=30).stdout
    import hashlib
    return hashlib.sha256(der).hexdigest()


def zone_text(net, addr, good, wrong, ca):
    return f"""$ORIGIN {ZONE}.
$TTL 2
@        SOA ns hostmaster 1 3600 600 86400 2
@        NS ns
ns       A {net}.53
dane     MX 10 mx
mx       A {addr}
_25._tcp.mx TLSA 3 1 1 {good}
nomatch  MX 10 mx2
mx2      A {addr}
_25._tcp.mx2 TLSA 3 1 1 {wrong}
bogus    MX 10 mx3
mx3      A {addr}
_25._tcp.mx3 TLSA 3 1 1 {good}
unusable MX 10 mx4
mx4      A {addr}
_25._tcp.mx4 TLSA 0 0 1 {good}
ta       MX 10 mx5
mx5      A {addr}
_25._tcp.mx5 TLSA 2 0 1 {ca}
"""


def keygen(d, name):
    return subprocess.run([KEYGEN, "-a", "ECDSAP256SHA256", "-k", name], cwd=d, check=True,
                          capture_output=True, text=True, timeout=30).stdout.strip()


def sign(workdir, text, good, wrong):
    """Signed zone text with _25._tcp.mx3's TLSA data changed afterwards (bogus),
    and the trust anchor file."""
    d = workdir / "keys"
    d.mkdir()
    (d / "zone").write_text(text)
    key = keygen(d, ZONE)
    subprocess.run([SIGNZONE, "-f", "zone.signed", "zone", key], cwd=d, check=True,
                   capture_output=True, timeout=30)
    signed = (d / "zone.signed").read_text()
    tampered, n = re.subn(rf"^(_25\._tcp\.mx3\.{re.escape(ZONE)}\.\s+\d+\s+IN\s+TLSA\s+3 1 1 )"
                          rf"{good}", rf"\g<1>{wrong}", signed, flags=re.M | re.I)
    assert n == 1, signed
    anchor = d / "trust-anchor.key"
    shutil.copy(d / f"{key}.key", anchor)
    anchor.chmod(0o644)
    return tampered, anchor


def unrelated_anchor(workdir):
    """A trust anchor for another zone: validation on, ZONE itself insecure."""
    d = workdir / "other-keys"
    d.mkdir()
    key = keygen(d, "unrelated.example")
    anchor = d / "trust-anchor.key"
    shutil.copy(d / f"{key}.key", anchor)
    anchor.chmod(0o644)
    return anchor


class Peer:
    def __init__(self, workdir, receiver, signed=True):
        for prog in (POSTFIX_MASTER, NSD, KEYGEN, SIGNZONE):
            if not shutil.which(prog) and not __import__("os").path.exists(prog):
                pytest.skip(f"{prog} not installed")
        self.net = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}"
        self.addrs = [f"{self.net}.1", f"{self.net}.2", f"{self.net}.3"]
        self.rx = receiver
        ca = CA(workdir / "ca", name="Unknown To Anyone CA")
        leaf, key = ca.issue(f"mx.{ZONE}", [f"DNS:mx.{ZONE}", f"DNS:mx5.{ZONE}"])
        other, _ = ca.issue("other", ["DNS:other.invalid"])
        self.good, self.wrong = spki_sha256(leaf), spki_sha256(other)
        # DANE-TA needs the trust anchor in the chain the server sends
        cert = workdir / "ca" / "chain.pem"
        cert.write_text(leaf.read_text() + ca.cert.read_text())
        cert.chmod(0o644)
        text = zone_text(self.net, self.addrs[0], self.good, self.wrong,
                         cert_sha256(ca.cert))
        if signed:
            text, self.anchor = sign(workdir, text, self.good, self.wrong)
        else:
            self.anchor = unrelated_anchor(workdir)
        self.dns = Nsd(workdir, f"{self.net}.53", text)
        self.postfix = PostfixTLS(workdir / "postfix", self.addrs, cert, key, receiver.port,
                                  None, "", [f"{d}.{ZONE}" for d in DOMAINS])

    def start(self):
        self.dns.start()
        self.postfix.start()
        return self

    def stop(self):
        try:
            self.postfix.stop()
        finally:
            self.dns.stop()


@pytest.fixture
def signed_peer(workdir, receiver, root):
    p = Peer(workdir, receiver, signed=True)
    try:
        yield p.start()
    finally:
        p.stop()


@pytest.fixture
def unsigned_peer(workdir, receiver, root):
    p = Peer(workdir, receiver, signed=False)
    try:
        yield p.start()
    finally:
        p.stop()


def outpost(outpost_factory, peer, policy="dane"):
    return outpost_factory(params={
        "delivery_mode": "independent", "dns_servers": f"{peer.dns.addr}@{peer.dns.port}",
        "dnssec_trust_anchor": str(peer.anchor), "tls_policy": policy,
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


def test_matching_tlsa_delivers_dane_verified(outpost_factory, signed_peer):
    p = signed_peer
    op = outpost(outpost_factory, p)
    inject(op, f"u@dane.{ZONE}", "d1")
    m = received(p.rx, "d1")
    assert re.search(rb"using TLSv1\.[23] with cipher", m.data), m.data
    op.wait_log(rf"TLSA of mx\.{ZONE}: usable \(1 record\(s\), 1 usable, secure\)")
    op.wait_log(rf"relay=mx\.{ZONE}\[{re.escape(p.addrs[0])}\]:25, TLS TLSv1\.[23], cipher "
                r"\S+ \(\d+ bits\), peer verified, DANE, tls=dane-verified")
    op.wait_log(rf"to=<u@dane\.{ZONE}>.*status=sent")


def test_dane_ta_record_authenticates_chain_and_name(outpost_factory, signed_peer):
    # TLSA 2 0 1 names the (otherwise unknown) CA; the name mx5 must be in the certificate
    p = signed_peer
    op = outpost(outpost_factory, p)
    inject(op, f"u@ta.{ZONE}", "d7")
    received(p.rx, "d7")
    op.wait_log(rf"relay=mx5\.{ZONE}\S+, TLS TLSv1\.[23], .*peer verified, DANE, "
                r"tls=dane-verified")


def test_tlsa_not_matching_defers_nothing_in_clear(outpost_factory, signed_peer):
    p = signed_peer
    op = outpost(outpost_factory, p)
    inject(op, f"u@nomatch.{ZONE}", "d2")
    op.wait_log(rf"to=<u@nomatch\.{ZONE}>.*status=deferred \(.*TLS handshake with "
                rf"mx2\.{ZONE}\S+ failed: certificate verification failed", timeout=30)
    # a second attempt fails the same way: never a fall-back to clear text
    op.wait_log(rf"to=<u@nomatch\.{ZONE}>.*status=deferred.*attempts=2\b", timeout=30)
    never_received(p, "d2")
    # Postfix saw handshakes, and no SMTP transaction (MAIL would log client=)
    assert re.search(r"SSL_accept error|lost connection after STARTTLS|"
                     r"disconnect from", p.postfix.log_text()), p.postfix.log_tail()
    assert "client=" not in p.postfix.log_text(), p.postfix.log_tail()
    assert "tls=none" not in op.log_text()


def test_bogus_tlsa_defers_without_connecting(outpost_factory, signed_peer):
    p = signed_peer
    op = outpost(outpost_factory, p)
    inject(op, f"u@bogus.{ZONE}", "d3")
    op.wait_log(rf"TLSA of mx3\.{ZONE}: failed \(.*bogus\)", timeout=30)
    op.wait_log(rf"host mx3\.{ZONE} of bogus\.{ZONE} skipped: TLSA lookup failed", timeout=30)
    op.wait_log(rf"to=<u@bogus\.{ZONE}>, relay=none.*status=deferred \(no usable host", 30)
    assert f"connecting to mx3.{ZONE}" not in op.log_text()
    never_received(p, "d3")
    assert "client=" not in p.postfix.log_text()


def test_unusable_tlsa_is_mandatory_unauthenticated_tls(outpost_factory, signed_peer):
    p = signed_peer
    op = outpost(outpost_factory, p)
    inject(op, f"u@unusable.{ZONE}", "d4")
    received(p.rx, "d4")
    op.wait_log(rf"TLSA of mx4\.{ZONE}: unusable \(1 record\(s\), 0 usable, secure\)")
    op.wait_log(rf"relay=mx4\.{ZONE}\S+, TLS TLSv1\.[23], .*peer not verified.*, tls=encrypted")


def test_insecure_zone_is_opportunistic(outpost_factory, unsigned_peer):
    p = unsigned_peer
    op = outpost(outpost_factory, p)
    op.wait_log(r"DNSSEC validation on")
    # the TLSA record does not match, but unsigned it means nothing: delivered
    inject(op, f"u@nomatch.{ZONE}", "d5")
    received(p.rx, "d5")
    op.wait_log(rf"relay=mx2\.{ZONE}\S+, TLS TLSv1\.[23], .*, tls=encrypted")
    # not even looked up (RFC 7672 2.2)
    op.wait_log(rf"host mx2\.{ZONE} of nomatch\.{ZONE}: tls=may \(TLSA not looked up\)")
    assert "type TLSA" not in op.log_text() and "_25._tcp" not in op.log_text()


def test_dane_only_defers_insecure_destination(outpost_factory, unsigned_peer):
    p = unsigned_peer
    op = outpost(outpost_factory, p, policy="dane-only")
    inject(op, f"u@dane.{ZONE}", "d6")
    op.wait_log(rf"to=<u@dane\.{ZONE}>, relay=none.*status=deferred \(no usable host.*"
                r"dane-only", timeout=30)
    never_received(p, "d6")
    assert "client=" not in p.postfix.log_text()
