# SPDX-License-Identifier: ISC
"""
TLS reporting (RFC 8460) against real peers: nsd on loopback serving the
MX hosts, the MTA-STS records and the _smtp._tls TXT records (one domain's
rua a mailto:, the other's an https: URL), an MTA-STS policy server and a
report server made here (python3's http.server with ssl, certificates from a
CA made in the test), a private Postfix receiving with a certificate for
mx.<zone> only, and outpost with mta_sts = yes and tlsrpt = yes:

  - good.<zone>, enforce, MX mx.<zone>: two deliveries, each a successful
    sts session; a restart between them (the counters survive it);
  - testing.<zone>, testing mode, MX alias.<zone> (same Postfix, certificate
    for mx.<zone>): delivered anyway, counted as a certificate-host-mismatch;
  - "outpostctl tlsrpt" shows the counts; "outpostctl tlsrpt send": the
    report of good.<zone> arrives by mail (multipart/report, gzip'd JSON,
    the RFC's header fields and subject), the one of testing.<zone> by HTTPS
    POST as application/tlsrpt+gzip; the test unzips both and checks the
    JSON fields of RFC 8460 section 4 against what was delivered.
  - a damaged counter file is moved aside, logged, never trusted.
"""

import email
import email.policy
import gzip
import http.server
import json
import os
import random
import re
import ssl
import threading
import time

import pytest

import outpost_harness as H
from outpost_harness import ctl
from test_dns import NSD, Nsd, ZONE
from sts_server import PolicyServer
from tls_peer import CA, PostfixTLS, POSTFIX_MASTER

MSG = b"Subject: tlsrpt test\nMessage-ID: <%s@src.test>\n\nbody\n"
POLICY = "version: STSv1\nmode: {mode}\nmx: {mx}\nmax_age: 86400\n"
SUBMITTER = "reporter.src.test"
CONTACT = "tls-admin@src.test"


class ReportServer:
    """HTTPS on addr:port taking POSTs of reports (in a thread of the test)."""

    def __init__(self, addr, cert, key):
        self.posts = []
        posts = self.posts

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                posts.append((self.path, self.headers.get("Content-Type"), body))
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer((addr, 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()
        self.thread.join(10)


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
            "web", [f"DNS:mta-sts.good.{ZONE}", f"DNS:mta-sts.testing.{ZONE}",
                    f"DNS:mta-sts.nopolicy.{ZONE}", f"DNS:mta-sts.badpolicy.{ZONE}",
                    f"DNS:report.{ZONE}"])
        self.reports = ReportServer(self.web, self.web_cert, self.web_key)
        zone = [f"$ORIGIN {ZONE}.", "$TTL 2", "@ SOA ns hostmaster 1 3600 600 86400 2",
                "@ NS ns", f"ns A {self.net}.53", f"mx A {self.addrs[0]}",
                f"alias A {self.addrs[0]}", f"report A {self.web}",
                "reports MX 10 mx",
                "good MX 10 mx", "testing MX 10 alias",
                '_smtp._tls.good TXT "v=TLSRPTv1; rua=mailto:tlsrpt@reports.' + ZONE + '"',
                f'_smtp._tls.testing TXT "v=TLSRPTv1;rua=https://report.{ZONE}:'
                f'{self.reports.port}/v1/tlsrpt"']
        # nopolicy: the server has none (404); badpolicy: not a policy; badcert: the
        # server's certificate is not for mta-sts.badcert
        for d in ("good", "testing", "nopolicy", "badpolicy", "badcert"):
            zone += [f'_mta-sts.{d} TXT "v=STSv1; id=20261207"', f"mta-sts.{d} A {self.web}"]
        zone += ["nopolicy MX 10 mx", "badpolicy MX 10 mx", "badcert MX 10 mx"]
        self.dns = Nsd(workdir, f"{self.net}.53", "\n".join(zone) + "\n")
        self.policies = workdir / "policies"
        self.policies.mkdir()
        (self.policies / f"mta-sts.good.{ZONE}").write_text(
            POLICY.format(mode="enforce", mx=f"mx.{ZONE}"))
        (self.policies / f"mta-sts.testing.{ZONE}").write_text(
            POLICY.format(mode="testing", mx=f"alias.{ZONE}"))
        (self.policies / f"mta-sts.badpolicy.{ZONE}").write_text("this is no policy\n")
        (self.policies / f"mta-sts.badcert.{ZONE}").write_text(
            POLICY.format(mode="enforce", mx=f"mx.{ZONE}"))
        self.web_log = workdir / "sts-server.log"
        self.web_server = PolicyServer(self.web, self.web_cert, self.web_key, self.policies,
                                       self.web_log)
        self.postfix = PostfixTLS(workdir / "postfix", self.addrs, cert, key, receiver.port,
                                  None, "", [f"{d}.{ZONE}" for d in (
                                      "good", "testing", "reports", "nopolicy", "badpolicy",
                                      "badcert")])

    def start(self):
        self.dns.start()
        self.web_server.start()
        self.reports.start()
        self.postfix.start()
        return self

    def stop(self):
        try:
            self.postfix.stop()
        finally:
            try:
                self.reports.stop()
                self.web_server.stop()
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
        "mta_sts": "yes", "tls_ca_file": str(peer.ca.cert), "tlsrpt": "yes",
        "tlsrpt_submitter": SUBMITTER, "tlsrpt_contact": CONTACT,
        "tlsrpt_from": "tlsrpt-noreply@src.test",
        "resend_interval": "2", "resend_attempts": 5, "log_level": "detailed"})


def inject(op, rcpt, tag):
    r = op.sendmail(["-f", "sender@src.test", rcpt], MSG % tag.encode())
    assert r.returncode == 0, r.stderr


def received(rx, tag, timeout=30):
    def find():
        return next((m for m in rx.messages if f"<{tag}@src.test>".encode() in m.data), None)
    return H.wait_until(find, timeout, 0.1, what=f"mail {tag} at the receiver")


def counters(op, want, timeout=30):
    """Wait until outpostctl tlsrpt shows every line of want (regexes)."""
    out = {}

    def look():
        r = ctl(op, "tlsrpt")
        out["r"] = r
        return r.returncode == 0 and all(re.search(w, r.stdout, re.M) for w in want)
    try:
        H.wait_until(look, timeout, 0.3, what="the TLS-RPT counters")
    except Exception:
        raise AssertionError(f"counters: {out['r'].stdout} {out['r'].stderr}")
    return out["r"].stdout


def check_common(rep, domain, day_start):
    assert rep["organization-name"] == SUBMITTER
    assert rep["contact-info"] == CONTACT
    assert rep["report-id"] and domain in rep["report-id"]
    dr = rep["date-range"]
    assert dr["start-datetime"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(day_start))
    end = time.mktime(time.strptime(dr["end-datetime"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert day_start < end <= time.time() + 5
    assert len(rep["policies"]) == 1
    pol = rep["policies"][0]["policy"]
    assert pol["policy-type"] == "sts"
    assert pol["policy-domain"] == domain
    return rep["policies"][0]


def test_report_by_mail_and_https_with_restart(outpost_factory, peer):
    op = outpost(outpost_factory, peer)
    day_start = int(time.time()) // 86400 * 86400
    inject(op, f"u@good.{ZONE}", "r1")
    inject(op, f"u@testing.{ZONE}", "r2")
    received(peer.rx, "r1")
    received(peer.rx, "r2")
    counters(op, [rf"^good\.{ZONE} sts: 1 successful, 0 failed$",
                  rf"^testing\.{ZONE} sts: 0 successful, 1 failed; certificate-host-mismatch "
                  rf"alias\.{ZONE}\[{re.escape(peer.addrs[0])}\] 1$"])

    # the counters outlive a restart; the day goes on
    op.stop()
    assert (op.state_dir / "sts" / "tlsrpt").exists()
    op.start()
    op.wait_log(r"TLS-RPT counters of 2 policy domain\(s\) loaded", timeout=20)
    inject(op, f"v@good.{ZONE}", "r3")
    received(peer.rx, "r3")
    counters(op, [rf"^good\.{ZONE} sts: 2 successful, 0 failed$",
                  rf"^testing\.{ZONE} sts: 0 successful, 1 failed;"])

    r = ctl(op, "tlsrpt", "send")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 report(s) being sent" in r.stdout + r.stderr

    # by mail: to the rua of good.<zone>, through Postfix
    def report_mail():
        return next((m for m in peer.rx.messages
                     if f"tlsrpt@reports.{ZONE}" in [t.lower() for t in m.rcpt_tos]), None)
    m = H.wait_until(report_mail, 60, 0.2, what="the report mail")
    assert m.mail_from == "tlsrpt-noreply@src.test"
    msg = email.message_from_bytes(m.data, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "tlsrpt"
    assert msg["TLS-Report-Domain"] == f"good.{ZONE}"
    assert msg["TLS-Report-Submitter"] == SUBMITTER
    assert re.fullmatch(rf"Report Domain: good\.{ZONE} Submitter: {re.escape(SUBMITTER)} "
                        r"Report-ID: <[^<>]+>", str(msg["Subject"])), msg["Subject"]
    parts = [p for p in msg.iter_parts() if p.get_content_type() == "application/tlsrpt+gzip"]
    assert len(parts) == 1
    assert parts[0].get_filename().endswith(".json.gz")
    rep = json.loads(gzip.decompress(parts[0].get_content()))
    p = check_common(rep, f"good.{ZONE}", day_start)
    assert "mode: enforce" in p["policy"]["policy-string"]
    assert f"mx: mx.{ZONE}" in p["policy"]["policy-string"]
    assert p["policy"]["mx-host"] == [f"mx.{ZONE}"]
    assert p["summary"] == {"total-successful-session-count": 2,
                            "total-failure-session-count": 0}
    assert "failure-details" not in p
    assert rep["report-id"] in str(msg["Subject"])

    # by HTTPS POST: the rua of testing.<zone>
    H.wait_until(lambda: peer.reports.posts, 60, 0.2, what="the report POST")
    path, ctype, body = peer.reports.posts[0]
    assert path == "/v1/tlsrpt"
    assert ctype == "application/tlsrpt+gzip"
    rep = json.loads(gzip.decompress(body))
    p = check_common(rep, f"testing.{ZONE}", day_start)
    assert "mode: testing" in p["policy"]["policy-string"]
    assert p["policy"]["mx-host"] == [f"alias.{ZONE}"]
    assert p["summary"] == {"total-successful-session-count": 0,
                            "total-failure-session-count": 1}
    assert len(p["failure-details"]) == 1
    fd = dict(p["failure-details"][0])
    assert fd.pop("sending-mta-ip").startswith("127.")   # the agent's source address
    assert fd == {"result-type": "certificate-host-mismatch", "receiving-ip": peer.addrs[0],
                  "receiving-mx-hostname": f"alias.{ZONE}", "failed-session-count": 1}
    op.wait_log(r"TLS-RPT report \S+ for testing\.\S+ posted to https://report\.")
    op.wait_log(r"TLS-RPT report \S+ for good\.\S+ queued for mailto:tlsrpt@reports\.")
    assert len(peer.reports.posts) == 1

    # sent once: the counters start afresh (the report mail's own session aside)
    out = ctl(op, "tlsrpt").stdout
    assert f"good.{ZONE} sts" not in out and f"testing.{ZONE} sts" not in out


def test_damaged_counter_file_moved_aside(outpost_factory, peer):
    op = outpost(outpost_factory, peer)
    inject(op, f"u@good.{ZONE}", "d1")
    received(peer.rx, "d1")
    counters(op, [rf"^good\.{ZONE} sts: 1 successful, 0 failed$"])
    op.stop()
    f = op.state_dir / "sts" / "tlsrpt"
    data = bytearray(f.read_bytes())
    data[-3] ^= 0xff
    data += b"x"
    f.write_bytes(bytes(data))
    op.start()
    op.wait_log(r"the TLS-RPT counter file is damaged or truncated: moved to tlsrpt\.corrupt, "
                r"counting starts from zero", timeout=20)
    assert (f.parent / "tlsrpt.corrupt").exists()
    r = ctl(op, "tlsrpt")
    assert r.returncode == 0 and f"good.{ZONE}" not in r.stdout


def test_route_shows_cached_sts_policy(outpost_factory, peer):
    op = outpost(outpost_factory, peer)
    r = ctl(op, "route", f"u@good.{ZONE}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "mta-sts: no policy cached" in r.stdout, r.stdout
    inject(op, f"u@good.{ZONE}", "p1")
    received(peer.rx, "p1")
    r = ctl(op, "route", f"u@good.{ZONE}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(rf"^  mta-sts: mode enforce, id 20261207, max_age 86400, expires in "
                     rf"\d+s, mx mx\.{ZONE}$", r.stdout, re.M), r.stdout
    # sendmail -bv (root) asks the running instance the same question
    r = op.sendmail(["-bv", f"u@good.{ZONE}"])
    assert r.returncode == 0, r.stderr
    assert re.search(rb"mta-sts: mode enforce, id 20261207, .*mx mx\." + ZONE.encode(),
                     r.stdout), r.stdout


@pytest.fixture
def dane_peer(workdir, receiver, root):
    import test_dane
    p = test_dane.Peer(workdir, receiver, signed=True)
    try:
        yield p.start()
    finally:
        p.stop()


def test_dane_sessions_counted_and_route_shows_tlsa(outpost_factory, dane_peer):
    p = dane_peer
    op = outpost_factory(params={
        "delivery_mode": "independent", "dns_servers": f"{p.dns.addr}@{p.dns.port}",
        "dnssec_trust_anchor": str(p.anchor), "tls_policy": "dane", "tlsrpt": "yes",
        "resend_interval": "2", "resend_attempts": 5, "log_level": "detailed"})
    inject(op, f"u@dane.{ZONE}", "t1")
    received(p.rx, "t1")
    inject(op, f"u@nomatch.{ZONE}", "t2")
    inject(op, f"u@bogus.{ZONE}", "t3")
    out = counters(op, [
        rf"^dane\.{ZONE} tlsa: 1 successful, 0 failed$",
        rf"^nomatch\.{ZONE} tlsa: 0 successful, [1-9]\d* failed; validation-failure "
        rf"mx2\.{ZONE}\[{re.escape(p.addrs[0])}\] ",
        rf"^bogus\.{ZONE} tlsa: 0 successful, [1-9]\d* failed; dnssec-invalid mx3\.{ZONE}\[-\] "])
    assert f"dane.{ZONE} no-policy-found" not in out
    # the policy a delivery would meet: the records of each MX host, and how secure
    r = ctl(op, "route", f"u@dane.{ZONE}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(rf"^    tlsa _25\._tcp\.mx\.{ZONE}: 1 record\(s\), 1 usable \(dnssec "
                     rf"secure\): 3 1 1 {p.good}$", r.stdout, re.M), r.stdout
    r = ctl(op, "route", f"u@bogus.{ZONE}")
    assert re.search(rf"^    tlsa _25\._tcp\.mx3\.{ZONE}: .*dnssec BOGUS", r.stdout, re.M), \
        r.stdout


def test_policy_failures_counted(outpost_factory, peer):
    """A policy that cannot be had is a failure of its domain (RFC 8460 4.3.2.2);
    the mail still goes, as without MTA-STS."""
    op = outpost(outpost_factory, peer)
    for i, d in enumerate(("nopolicy", "badpolicy", "badcert")):
        inject(op, f"u@{d}.{ZONE}", f"f{i}")
    for i in range(3):
        received(peer.rx, f"f{i}")
    counters(op, [rf"^nopolicy\.{ZONE} sts: 0 successful, 1 failed; sts-policy-fetch-error -\[-\] 1$",
                  rf"^badpolicy\.{ZONE} sts: 0 successful, 1 failed; sts-policy-invalid -\[-\] 1$",
                  rf"^badcert\.{ZONE} sts: 0 successful, 1 failed; sts-webpki-invalid -\[-\] 1$",
                  rf"^nopolicy\.{ZONE} no-policy-found: 1 successful, 0 failed$"])


@pytest.fixture
def insecure_peer(workdir, receiver, root):
    import test_dane
    p = test_dane.Peer(workdir, receiver, signed=False)
    try:
        yield p.start()
    finally:
        p.stop()


def test_dane_only_without_tlsa_counted_dane_required(outpost_factory, insecure_peer):
    p = insecure_peer
    op = outpost_factory(params={
        "delivery_mode": "independent", "dns_servers": f"{p.dns.addr}@{p.dns.port}",
        "dnssec_trust_anchor": str(p.anchor), "tls_policy": "dane-only", "tlsrpt": "yes",
        "resend_interval": "2", "resend_attempts": 5, "log_level": "detailed"})
    inject(op, f"u@dane.{ZONE}", "q1")
    op.wait_log(rf"to=<u@dane\.{ZONE}>, relay=none.*status=deferred", timeout=30)
    counters(op, [rf"^dane\.{ZONE} tlsa: 0 successful, [1-9]\d* failed; dane-required "
                  rf"mx\.{ZONE}\[-\] "])
