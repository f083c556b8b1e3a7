# SPDX-License-Identifier: ISC
"""
TLS and authenticated relaying against a real peer: Postfix's smtpd from
Debian (TLS with a certificate from a CA made here, Cyrus SASL with a
sasldb), found through a real DNS server (nsd) so that host names, SNI and
certificate names are the ones of real deliveries.

  - opportunistic (tls=may): mail to a STARTTLS receiver is encrypted (the
    receiver's Received field names the protocol and cipher); a receiver
    without STARTTLS still gets its mail in clear;
  - verify with the right CA delivers; a wrong host name or an unknown CA
    leaves the mail deferred;
  - relay with AUTH over STARTTLS and over implicit TLS (smtps://) delivers;
    a wrong password defers, the log says the relay refused the
    credentials, and the password is in no log at either level;
  - a failed handshake under "may" falls back to clear text; under
    "encrypt" nothing is sent.
"""

import base64
import os
import random
import re
import shutil

import pytest

import outpost_harness as H
from test_dns import Nsd, ZONE
from tls_peer import CA, PostfixTLS, POSTFIX_MASTER, SASLPASSWD

MSG = b"Subject: tls test\nMessage-ID: <%s@src.test>\n\nbody\n"
SASL_USER = "relayuser@tls.test"
SASL_PASSWORD = "Pw-" + "".join(random.choice("abcdefghjkmnpqrstuvwxyz23456789")
                                for _ in range(20))


# Cyrus SASL's saslpasswd2 (Debian package sasl2-bin) makes the peer's user database.
HAVE_SASL = os.path.exists(SASLPASSWD)
needs_sasl = pytest.mark.skipif(not HAVE_SASL, reason=f"{SASLPASSWD} (sasl2-bin) not installed")


class Peer:
    """DNS, CA, Postfix and the receiver behind it, for one test."""

    def __init__(self, workdir, receiver):
        self.net = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}"
        self.addrs = [f"{self.net}.1", f"{self.net}.2", f"{self.net}.3"]
        self.rx = receiver
        self.ca = CA(workdir / "ca")
        self.other_ca = CA(workdir / "other-ca", name="Unknown CA")
        self.cert, self.key = self.ca.issue(f"mx.{ZONE}", [f"DNS:mx.{ZONE}"])
        zone = f"""$ORIGIN {ZONE}.
$TTL 2
@        SOA ns hostmaster 1 3600 600 86400 2
@        NS ns
ns       A {self.net}.53
mx       A {self.addrs[0]}
alias    A {self.addrs[0]}
plain    A {self.addrs[1]}
badtls   A {self.addrs[2]}
tls      MX 10 mx
wrong    MX 10 alias
plainmx  MX 10 plain
bad      MX 10 badtls
"""
        self.dns = Nsd(workdir, f"{self.net}.53", zone)
        self.postfix = PostfixTLS(workdir / "postfix", self.addrs, self.cert, self.key,
                                  receiver.port, SASL_USER if HAVE_SASL else None,
                                  SASL_PASSWORD,
                                  [f"{d}.{ZONE}" for d in ("tls", "wrong", "plainmx", "bad")])
        self.pwfile = workdir / "relay-password"

    def start(self):
        self.dns.start()
        self.postfix.start()
        return self

    def stop(self):
        try:
            self.postfix.stop()
        finally:
            self.dns.stop()

    def password_file(self, password):
        self.pwfile.write_text(password + "\n")
        os.chown(self.pwfile, 0, 0)
        self.pwfile.chmod(0o600)
        return str(self.pwfile)


@pytest.fixture
def peer(workdir, receiver, root):
    for prog in (POSTFIX_MASTER, "/usr/sbin/nsd"):
        if not os.path.exists(prog):
            pytest.skip(f"{prog} not installed")
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    p = Peer(workdir, receiver)
    try:
        yield p.start()
    finally:
        p.stop()


def independent(outpost_factory, peer, **params):
    p = {"delivery_mode": "independent", "dns_servers": f"{peer.dns.addr}@{peer.dns.port}",
         "resend_interval": "2", "resend_attempts": 5}
    p.update(params)
    return outpost_factory(params=p)


def relay(outpost_factory, peer, relay_host, password=SASL_PASSWORD, **params):
    p = {"delivery_mode": "relay", "relay_host": relay_host,
         "relay_tls_policy": "verify", "tls_ca_file": str(peer.ca.cert),
         "dns_servers": f"{peer.dns.addr}@{peer.dns.port}",
         "relay_auth_user": SASL_USER, "relay_auth_password_file": peer.password_file(password),
         "resend_interval": "2", "resend_attempts": 5}
    p.update(params)
    return outpost_factory(params=p)


def inject(op, rcpt, tag):
    r = op.sendmail(["-f", "sender@src.test", rcpt], MSG % tag.encode())
    assert r.returncode == 0, r.stderr


def received_by(rx, tag, timeout=30):
    """The mail with this Message-ID tag once Postfix has passed it on."""
    def find():
        for m in rx.messages:
            if f"<{tag}@src.test>".encode() in m.data:
                return m
        return None
    return H.wait_until(find, timeout, 0.1, what=f"mail {tag} at the receiver")


def postfix_received(m):
    """Postfix's Received field (the first one: Postfix puts its own on top)."""
    head = m.data.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    fields = re.split(r"\r\n(?=\S)", head)
    return next(f for f in fields if f.startswith("Received:") and "peer.tls.test" in f)


def deferred(op, rcpt, why, timeout=30):
    return op.wait_log(rf"to=<{re.escape(rcpt)}>.*status=deferred \(.*{why}", timeout)


def no_secret_in(text):
    plain = base64.b64encode(f"\0{SASL_USER}\0{SASL_PASSWORD}".encode()).decode()
    login = base64.b64encode(SASL_PASSWORD.encode()).decode()
    for s in (SASL_PASSWORD, plain, login):
        assert s not in text, "a credential reached the log"


def test_opportunistic_tls_and_clear(outpost_factory, peer):
    op = independent(outpost_factory, peer)          # tls_policy: may (default)
    inject(op, f"u@tls.{ZONE}", "may1")
    inject(op, f"u@plainmx.{ZONE}", "may2")
    m = received_by(peer.rx, "may1")
    rcv = postfix_received(m)
    assert re.search(r"using TLSv1\.[23] with cipher", rcv), rcv
    m2 = received_by(peer.rx, "may2")
    assert "using TLS" not in postfix_received(m2)
    assert re.search(r"TLS connection established from \S+\[127\.0\.0\.1\]: TLSv1\.[23]",
                     peer.postfix.log_text())
    # outpost's basic log line for each delivery says how it went
    op.wait_log(rf"relay=mx\.{ZONE}\[{re.escape(peer.addrs[0])}\]:25, TLS TLSv1\.[23], "
                r"cipher \S+ \(\d+ bits\), peer not verified")
    op.wait_log(rf"relay=plain\.{ZONE}\[{re.escape(peer.addrs[1])}\]:25, no TLS \(not offered\)")
    op.wait_log(r"to=<u@tls\.ot\.example>.*status=sent")


def test_verify_right_ca_delivers(outpost_factory, peer):
    # no connection reuse: the second mail needs a new handshake, which resumes the session
    op = independent(outpost_factory, peer, tls_policy="verify", tls_ca_file=str(peer.ca.cert),
                     connection_idle=0)
    inject(op, f"v@tls.{ZONE}", "ver1")
    m = received_by(peer.rx, "ver1")
    assert "using TLS" in postfix_received(m)
    op.wait_log(r"TLS TLSv1\.[23], cipher \S+ \(\d+ bits\), peer verified")
    inject(op, f"v2@tls.{ZONE}", "ver1b")
    received_by(peer.rx, "ver1b")
    op.wait_log(r"relay=mx\.ot\.example\S+, TLS TLSv1\.[23], .*peer verified, resumed")


def test_verify_wrong_name_or_unknown_ca_deferred(outpost_factory, peer):
    op = independent(outpost_factory, peer, tls_policy="verify", tls_ca_file=str(peer.ca.cert))
    inject(op, f"w@wrong.{ZONE}", "ver2")
    deferred(op, f"w@wrong.{ZONE}", "hostname mismatch")
    op2 = independent(outpost_factory, peer, tls_policy="verify",
                      tls_ca_file=str(peer.other_ca.cert))
    inject(op2, f"x@tls.{ZONE}", "ver3")
    deferred(op2, f"x@tls.{ZONE}", "unable to get local issuer certificate")
    # a second attempt is refused the same way, and nothing ever arrives
    op.wait_log(r"to=<w@wrong\.ot\.example>.*status=deferred.*, attempts=2\b", 30)
    assert not any(b"<ver2@src.test>" in m.data or b"<ver3@src.test>" in m.data
                   for m in peer.rx.messages)
    assert "message-id=<ver" not in peer.postfix.log_text()


def test_handshake_failure_may_falls_back_to_clear(outpost_factory, peer):
    op = independent(outpost_factory, peer)
    inject(op, f"b@bad.{ZONE}", "fb1")
    m = received_by(peer.rx, "fb1")
    assert "using TLS" not in postfix_received(m)
    op.wait_log(r"TLS handshake with badtls\.ot\.example\[[\d.]+\]:25 failed: .*; "
                r"retrying without TLS")
    op.wait_log(r"relay=badtls\.ot\.example\[[\d.]+\]:25, no TLS \(handshake failed, sent in clear\)")


def test_handshake_failure_encrypt_sends_nothing(outpost_factory, peer):
    op = independent(outpost_factory, peer, tls_policy="encrypt")
    inject(op, f"e@bad.{ZONE}", "enc1")
    inject(op, f"e@plainmx.{ZONE}", "enc2")
    deferred(op, f"e@bad.{ZONE}", "TLS handshake with badtls.* failed")
    deferred(op, f"e@plainmx.{ZONE}", "TLS is required .* does not offer STARTTLS")
    # no MAIL FROM ever reached either server
    assert not [line for line in op.log_text().splitlines() if " > MAIL FROM" in line]
    assert not any(b"<enc" in m.data for m in peer.rx.messages)
    # and encrypt is happy with TLS, verified or not
    inject(op, f"e@tls.{ZONE}", "enc3")
    received_by(peer.rx, "enc3")


@needs_sasl
def test_relay_auth_over_starttls(outpost_factory, peer):
    op = relay(outpost_factory, peer, f"mx.{ZONE}:{peer.postfix.submit_port}")
    inject(op, "far@far.test", "auth1")
    m = received_by(peer.rx, "auth1")
    rcv = postfix_received(m)
    assert "using TLS" in rcv and f"Authenticated sender: {SASL_USER}" in rcv, rcv
    assert re.search(r"sasl_method=(PLAIN|LOGIN), sasl_username=" + re.escape(SASL_USER),
                     peer.postfix.log_text())
    op.wait_log(r"peer verified")
    assert re.search(r"> AUTH PLAIN \*\*\*\*", op.log_text())
    no_secret_in(op.log_text())


@needs_sasl
def test_relay_auth_over_smtps(outpost_factory, peer):
    op = relay(outpost_factory, peer, f"smtps://mx.{ZONE}:{peer.postfix.smtps_port}")
    inject(op, "far2@far.test", "auth2")
    m = received_by(peer.rx, "auth2")
    rcv = postfix_received(m)
    assert "using TLS" in rcv and f"Authenticated sender: {SASL_USER}" in rcv, rcv
    assert not [line for line in op.log_text().splitlines() if " > STARTTLS" in line]
    op.wait_log(r"TLS handshake \(tls=verify, implicit\)")
    no_secret_in(op.log_text())


@needs_sasl
@pytest.mark.parametrize("level", ["basic", "detailed"])
def test_relay_wrong_password_deferred(outpost_factory, peer, level):
    op = relay(outpost_factory, peer, f"mx.{ZONE}:{peer.postfix.submit_port}",
               password=SASL_PASSWORD + "-wrong", log_level=level)
    inject(op, "far3@far.test", "auth3")
    deferred(op, "far3@far.test", "relay .* refused the credentials")
    op.wait_log(r"relay mx\.ot\.example\[[\d.]+\]:\d+ refused the credentials \(AUTH PLAIN\): 535")
    # re-sent as usual, refused again, never delivered
    op.wait_log(r"to=<far3@far\.test>.*status=deferred.*, attempts=2\b", 30)
    assert not any(b"<auth3@src.test>" in m.data for m in peer.rx.messages)
    text = op.log_text()
    no_secret_in(text)
    wrong = SASL_PASSWORD + "-wrong"
    assert wrong not in text
    assert base64.b64encode(f"\0{SASL_USER}\0{wrong}".encode()).decode() not in text
