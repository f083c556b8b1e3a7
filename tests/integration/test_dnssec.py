# SPDX-License-Identifier: ISC
"""
DNSSEC validation in the resolver: a test zone signed with ldns-signzone
(Debian's ldnsutils) is served by nsd on a loopback address; its key-signing
DNSKEY is outpost's dnssec_trust_anchor. An MX answer of the signed zone is
"secure" (and the mail is delivered), a record changed after signing makes
its answer "bogus", and without a trust anchor the same zone is "insecure".
An unreadable trust anchor stops the resolver at start, naming the file.
Every answer's verdict is read from the resolver's detailed log line
("answer NAME MX: ... (ttl N, secure|insecure|bogus)").
"""

import re
import shutil
import subprocess

import pytest

from test_dns import NSD, ZONE, Nsd, inject, loopback_net, mx_receiver

KEYGEN = shutil.which("ldns-keygen") or "/usr/bin/ldns-keygen"
SIGNZONE = shutil.which("ldns-signzone") or "/usr/bin/ldns-signzone"


def signed_zone(workdir, net, ns):
    """Sign a zone of ZONE with one key (KSK, also signing the records).
    Returns (signed zone text, trust anchor path). In the signed text the MX
    of bad.ZONE is changed afterwards, so its signature no longer verifies."""
    d = workdir / "keys"
    d.mkdir()
    (d / "zone").write_text(f"""$ORIGIN {ZONE}.
$TTL 2
@        SOA ns hostmaster 1 3600 600 86400 2
@        NS ns
ns       A {ns}
sec      MX 10 mx.sec
mx.sec   A {net}.1
bad      MX 10 mx.bad
mx.bad   A {net}.2
""")
    key = subprocess.run([KEYGEN, "-a", "ECDSAP256SHA256", "-k", ZONE], cwd=d, check=True,
                         capture_output=True, text=True, timeout=30).stdout.strip()
    subprocess.run([SIGNZONE, "-f", "zone.signed", "zone", key], cwd=d, check=True,
                   capture_output=True, timeout=30)
    signed = (d / "zone.signed").read_text()
    tampered, n = re.subn(rf"^(bad\.{re.escape(ZONE)}\.\s+\d+\s+IN\s+MX\s+)10 ",
                          r"\g<1>5 ", signed, flags=re.M)
    assert n == 1, signed
    anchor = d / "trust-anchor.key"
    # The .key file holds the DNSKEY record (flags 257) in zone-file format.
    shutil.copy(d / f"{key}.key", anchor)
    anchor.chmod(0o644)
    return tampered, anchor


@pytest.fixture
def signed(workdir, root):
    for tool in (NSD, KEYGEN, SIGNZONE):
        if not shutil.which(tool) and not __import__("os").path.exists(tool):
            pytest.skip(f"{tool} not installed (packages nsd, ldnsutils)")
    net = loopback_net()
    ns = f"{net}.53"
    zone, anchor = signed_zone(workdir, net, ns)
    d = Nsd(workdir, ns, zone).start()
    yield d, net, anchor
    d.stop()


def outpost_for(outpost_factory, dns, **params):
    p = {"delivery_mode": "independent", "dns_servers": f"{dns.addr}@{dns.port}",
         "resend_interval": "2", "resend_attempts": 5, "log_level": "detailed"}
    p.update(params)
    return outpost_factory(params=p)


def test_signed_mx_is_secure_and_tampered_mx_is_bogus(outpost_factory, receiver_factory,
                                                       signed):
    dns, net, anchor = signed
    rx = mx_receiver(receiver_factory, f"{net}.1")
    rx_bad = mx_receiver(receiver_factory, f"{net}.2")
    op = outpost_for(outpost_factory, dns, dnssec_trust_anchor=str(anchor))
    op.wait_log(rf"DNSSEC validation on, trust anchor {re.escape(str(anchor))}")

    inject(op, [f"u@sec.{ZONE}"])
    rx.wait_messages(1, timeout=30)
    op.wait_log(rf"to=<u@sec\.{ZONE}>, relay=mx\.sec\.{ZONE}\[{net}\.1\]:25.*status=sent")
    op.wait_log(rf"answer sec\.{ZONE} MX: ok: 10 mx\.sec\.{ZONE} \(ttl \d+, secure\)")
    op.wait_log(rf"answer mx\.sec\.{ZONE} addresses: ok: {net}\.1 \(ttl \d+, secure\)")

    # The MX record of bad.ZONE changed after signing: the answer is bogus,
    # used for nothing (a temporary failure today), and no connection is made.
    inject(op, [f"v@bad.{ZONE}"])
    op.wait_log(rf"answer bad\.{ZONE} MX: temporary failure \(ttl \d+, bogus\)", timeout=30)
    op.wait_log(rf"bad\.{ZONE} type 15: DNSSEC validation failed")
    op.wait_log(rf"to=<v@bad\.{ZONE}>, relay=none.*status=deferred", timeout=30)
    assert rx_bad.connections == 0
    assert not re.search(rf"answer (mx\.)?sec\.{ZONE} .*bogus", op.log_text())


def test_without_trust_anchor_signed_zone_is_insecure(outpost_factory, receiver_factory,
                                                       signed):
    dns, net, _anchor = signed
    rx = mx_receiver(receiver_factory, f"{net}.1")
    op = outpost_for(outpost_factory, dns)
    op.wait_log(r"DNSSEC validation off")
    inject(op, [f"u@sec.{ZONE}"])
    rx.wait_messages(1, timeout=30)
    op.wait_log(rf"answer sec\.{ZONE} MX: ok: 10 mx\.sec\.{ZONE} \(ttl \d+, insecure\)")
    assert not re.search(r"\(ttl \d+, (secure|bogus)\)", op.log_text())


def test_unreadable_trust_anchor_is_fatal_naming_the_file(outpost_factory, workdir, root):
    missing = workdir / "no-such-root.key"
    op = outpost_factory(params={"delivery_mode": "independent", "dns_servers": "127.0.0.1@53",
                                 "dnssec_trust_anchor": str(missing)}, start=False)
    op.start(wait_ready=False)
    op.wait_log(rf"dnssec_trust_anchor {re.escape(str(missing))}: No such file", timeout=20)

    garbage = workdir / "garbage.key"
    garbage.write_text("this is not a DNSKEY record\n")
    garbage.chmod(0o644)
    op2 = outpost_factory(params={"delivery_mode": "independent",
                                  "dns_servers": "127.0.0.1@53",
                                  "dnssec_trust_anchor": str(garbage)}, start=False)
    op2.start(wait_ready=False)
    op2.wait_log(rf"dnssec_trust_anchor {re.escape(str(garbage))}: cannot load it", timeout=20)
