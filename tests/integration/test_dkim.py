# SPDX-License-Identifier: ISC
"""
DKIM signing by outpost's signer process, checked by verifiers written
elsewhere: dkimpy (python3-dkim, the public key given directly) and
OpenDKIM's opendkim-testmsg (the key served by nsd in a network namespace).

Mails relayed through outpost to a real receiver (aiosmtpd) carry
DKIM-Signature fields that verify for rsa-sha256 and ed25519-sha256, relaxed
and simple, dual-signed, with trailing empty lines, trailing whitespace,
8-bit bodies, folded header fields and a 10 MB attachment (relaxed and
simple, both verifiers); a body changed after signing fails every signature
with both verifiers (the check can fail). Mail from a domain without a
[dkim] entry goes out unsigned and the log says why; so does mail whose only
key is an RSA key under 2048 bits. The fields are stored with the mail: a
re-send after a restart carries the very same signature. Only the signer's
memory holds a private key, before and after a reload, which picks up a new
key; unsafe or missing key files are refused at start and on reload.
"""

import base64
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

import outpost_harness as H
from nsd_peer import NSD, NsdServer

dkim = pytest.importorskip("dkim")

# domain -> (keys [(selector, alg)], canonicalization)
DOMAINS = {
    "rr.test": ([("r1", "rsa")], None),
    "er.test": ([("e1", "ed25519")], None),
    "rs.test": ([("r1", "rsa")], "simple/simple"),
    "es.test": ([("e1", "ed25519")], "simple/simple"),
    "dual.test": ([("e1", "ed25519"), ("r1", "rsa")], None),
    "ds.test": ([("e1", "ed25519"), ("r1", "rsa")], "simple/simple"),
    "parent.test": ([("p1", "ed25519")], None),     # written ".parent.test"
}


def keygen(keydir, domain, selector, alg):
    """outpostctl dkim-keygen: the key file's path and the TXT record it prints."""
    out = subprocess.run([str(H.OUTPOSTCTL), "dkim-keygen", "-d", str(keydir), domain,
                          selector, alg], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    path = keydir / f"{domain}.{selector}.key"
    st = path.stat()
    assert st.st_mode & 0o077 == 0 and st.st_uid == os.geteuid()
    txt_line = [ln for ln in out.stdout.splitlines() if "._domainkey." in ln][0]
    record = "".join(re.findall(r'"([^"]*)"', txt_line))
    assert txt_line.startswith(f"{selector}._domainkey.{domain}. IN TXT")
    return path, record


@pytest.fixture
def keys(workdir):
    keydir = workdir / "keys"
    keydir.mkdir(mode=0o700)
    records, entries = {}, {}
    for dom, (ks, canon) in DOMAINS.items():
        items = []
        for sel, alg in ks:
            path, rec = keygen(keydir, dom, sel, alg)
            records[f"{sel}._domainkey.{dom}."] = rec.encode()
            items.append(f"{sel}:{path} {alg}")
        val = ", ".join(items) + (f" c={canon}" if canon else "")
        entries[("." if dom == "parent.test" else "") + dom] = val
    return keydir, records, entries


def dnsfunc_for(records):
    def dnsfunc(name, timeout=5):
        n = name.decode() if isinstance(name, bytes) else name
        if not n.endswith("."):
            n += "."
        return records.get(n)
    return dnsfunc


def start(outpost_factory, receiver, entries, **params):
    p = {"delivery_mode": "relay", "relay_host": receiver.hostport,
         "resend_interval": "2", "resend_attempts": 5}
    p.update(params)
    return outpost_factory(params=p, sections={"dkim": entries})


def verify_all(data, records):
    """Verify every DKIM-Signature of data with dkimpy; their d= values."""
    d = dkim.DKIM(data)
    n = len(re.findall(rb"(?im)^dkim-signature:", data))
    assert n > 0, data[:400]
    ok = []
    for i in range(n):
        assert d.verify(idx=i, dnsfunc=dnsfunc_for(records)), (i, d.domain, data[:600])
        ok.append(d.domain.decode())
    return ok


def split_signatures(data):
    """([DKIM-Signature fields], the rest) of a delivered mail: outpost puts
    its fields on top."""
    rest, sigs = data, []
    while rest.lower().startswith(b"dkim-signature:"):
        first, rest = H.split_first_field(rest)
        sigs.append(first)
    return sigs, rest


def one_signature_each(data):
    """The mail once per signature, with that signature alone (DKIM-Signature
    is never in h=, so dropping the others leaves it valid): a verifier that
    passes a mail when any one signature passes is made to check each."""
    sigs, rest = split_signatures(data)
    assert sigs, data[:400]
    return [s + rest for s in sigs]


def alter_body(data):
    """data with one body byte changed (a line added to an empty body)."""
    i = data.index(b"\r\n\r\n") + 4
    if i == len(data):
        return data + b"X\r\n"
    return data[:i] + (b"Y" if data[i:i + 1] == b"X" else b"X") + data[i + 1:]


def bodies():
    """The shapes the brief names, each as (name, header extra, body)."""
    eight = "Grüße aus Köln ✓ — ½ €\r\n".encode() * 3 + bytes(range(0x80, 0x100)) + b"\r\n"
    return [
        ("trailing_empty_lines", b"", b"line one\r\n\r\n\r\n\r\n\r\n"),
        ("trailing_whitespace", b"", b"spaces at the end   \r\ntabs\t\t\r\n  \t \r\nmid   dle\r\n"),
        ("eight_bit", b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
         b"Content-Transfer-Encoding: 8bit\r\n", eight),
        ("folded_headers", b"References: <a@x.test>\r\n <b@x.test>\r\n\t<c@x.test>\r\n"
         b"X-Long: one\r\n   two\r\n", b"folded\r\n"),
        ("empty_body", b"", b""),
        ("dot_lines", b"", b".leading dot\r\n..two\r\n.\r\nend\r\n"),
    ]


def mail(dom, name, extra, body, to="rcpt@dest.test"):
    head = (f"From: Sender <s@{dom}>\r\nTo: <{to}>\r\n"
            f"Subject: dkim {name}\r\n"
            "  folded subject line\r\n"
            f"Date: Mon, 07 Dec 2026 10:00:00 +0000\r\n"
            f"Message-ID: <{name}.{dom}@{dom}>\r\n").encode()
    return head + extra + b"\r\n" + body


def test_signed_mails_verify_with_dkimpy(outpost_factory, receiver, keys):
    """Every algorithm and canonicalization, every body shape: dkimpy verifies
    each signature; dual-signed mail carries two that both verify; a
    subdomain of a ".parent" entry is signed with the parent's d=."""
    _keydir, records, entries = keys
    op = start(outpost_factory, receiver, entries)
    sent = []
    for dom in DOMAINS:
        fromdom = "sub.parent.test" if dom == "parent.test" else dom
        for name, extra, body in bodies():
            data = mail(fromdom, name, extra, body)
            assert op.smtp_send(f"s@{fromdom}", ["rcpt@dest.test"], data)[0] == 250
            sent.append((dom, name))
    msgs = receiver.wait_messages(len(sent), timeout=120)
    assert len(msgs) == len(sent)
    for m in msgs:
        subj = re.search(rb"Subject: dkim (\S+)", m.data).group(1).decode()
        frm = re.search(rb"From: Sender <s@([^>]+)>", m.data).group(1).decode()
        dom = "parent.test" if frm.endswith("parent.test") else frm
        doms = verify_all(m.data, records)
        assert doms == [dom] * len(DOMAINS[dom][0]), (subj, doms)
        # The signatures go first, then the Received field outpost added at
        # submission, which stays outside them.
        sigs, rest = split_signatures(m.data)
        assert len(sigs) == len(DOMAINS[dom][0])
        assert rest.startswith(b"Received: from client.test"), rest[:100]
        for s in sigs:
            h = re.search(rb"h=([^;]*);", s).group(1).replace(b"\r\n\t", b"").replace(b" ", b"")
            assert b"received" not in h.lower()
            assert h.lower().split(b":").count(b"from") == 2      # From oversigned
            assert b" l=" not in s and b";l=" not in s
        canon = DOMAINS[dom][1] or "relaxed/relaxed"
        assert f"c={canon};".encode() in b"".join(sigs).replace(b"\r\n\t", b" ")
    log = op.log_text()
    assert re.search(r": dkim: signed \(d=dual\.test s=e1 a=ed25519-sha256 c=relaxed/relaxed, "
                     r"d=dual\.test s=r1 a=rsa-sha256", log), op.log_tail()


ALTER_DOMS = ("rr.test", "er.test", "rs.test", "es.test", "dual.test", "ds.test")


def test_altered_body_fails_and_unsigned_domain(outpost_factory, receiver, keys):
    """The check can fail: one changed body byte, or a changed Subject, makes
    verification fail, for each algorithm and canonicalization and for each
    signature of a dual-signed mail. A From: domain without an entry goes
    out unsigned, and the detailed log says so."""
    _keydir, records, entries = keys
    op = start(outpost_factory, receiver, entries)
    for dom in ALTER_DOMS:
        data = mail(dom, "alter", b"", b"the body as signed\r\n")
        assert op.smtp_send(f"s@{dom}", ["rcpt@dest.test"], data)[0] == 250
    assert op.smtp_send("s@nokey.test", ["rcpt@dest.test"],
                        mail("nokey.test", "unsigned", b"", b"hi\r\n"))[0] == 250
    msgs = receiver.wait_messages(len(ALTER_DOMS) + 1, timeout=60)
    seen = set()
    for m in msgs:
        frm = re.search(rb"From: Sender <s@([^>]+)>", m.data).group(1).decode()
        seen.add(frm)
        if frm == "nokey.test":
            assert b"DKIM-Signature" not in m.data
            continue
        assert verify_all(m.data, records) == [frm] * len(DOMAINS[frm][0])
        for old, new in ((b"the body as signed", b"the body as signeD"),
                         (b"Subject: dkim alter", b"Subject: dkim Alter")):
            bad = m.data.replace(old, new)
            assert bad != m.data
            for one in one_signature_each(bad):
                assert not dkim.verify(one, dnsfunc=dnsfunc_for(records)), (frm, old)
    assert seen == set(ALTER_DOMS) | {"nokey.test"}
    op.wait_log(r": dkim: not signed: no \[dkim\] entry for nokey\.test")


def test_short_rsa_key_is_not_used(outpost_factory, receiver, keys):
    """An RSA key under 2048 bits (RFC 8301) in [dkim]: the start warns that
    it is not usable, and mail from its domain goes out unsigned, with a
    warning per mail. Next to a good key it is skipped: the mail carries the
    good key's signature alone."""
    keydir, records, entries = keys
    weak = keydir / "weak.test.w1.key"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024",
                    "-out", str(weak)], check=True, capture_output=True, timeout=60)
    weak.chmod(0o600)
    assert "(1024 bit" in subprocess.run(["openssl", "pkey", "-in", str(weak), "-noout", "-text"],
                                         capture_output=True, text=True, timeout=30).stdout
    path, rec = keygen(keydir, "weakdual.test", "e1", "ed25519")
    records = dict(records)
    records["e1._domainkey.weakdual.test."] = rec.encode()
    entries = dict(entries)
    entries["weak.test"] = f"w1:{weak} rsa"
    entries["weakdual.test"] = f"w1:{weak} rsa, e1:{path} ed25519"
    op = start(outpost_factory, receiver, entries)
    for dom in ("weak.test", "weakdual.test"):
        op.wait_log(rf"signer: .*dkim: the key of {dom.replace('.', '[.]')}, selector w1, is not a "
                    rf"usable rsa-sha256 key: mail from {dom.replace('.', '[.]')} is not signed with it")
    op.wait_log(rf"signer: dkim: {len(DOMAINS) + 2} signing domains loaded")
    for dom in ("weak.test", "weakdual.test", "rr.test"):
        assert op.smtp_send(f"s@{dom}", ["rcpt@dest.test"],
                            mail(dom, "short", b"", b"short key\r\n"))[0] == 250
    msgs = {re.search(rb"From: Sender <s@([^>]+)>", m.data).group(1).decode(): m.data
            for m in receiver.wait_messages(3, timeout=60)}
    assert b"DKIM-Signature" not in msgs["weak.test"]
    sigs, _rest = split_signatures(msgs["weakdual.test"])
    assert len(sigs) == 1 and b"s=e1;" in sigs[0] and b"d=weakdual.test;" in sigs[0]
    assert verify_all(msgs["weakdual.test"], records) == ["weakdual.test"]
    assert verify_all(msgs["rr.test"], records) == ["rr.test"]
    log = op.log_text()
    assert re.search(r": dkim: not signed: the key of weak\.test, selector w1, is unusable", log), \
        op.log_tail()
    assert re.search(r": dkim: signed \(d=weakdual\.test s=e1 a=ed25519-sha256 c=relaxed/relaxed; "
                     r"the key of weakdual\.test, selector w1, is unusable\)", log), op.log_tail()


@pytest.mark.parametrize("dom,canon", [("dual.test", "relaxed/relaxed"),
                                       ("ds.test", "simple/simple")], ids=["relaxed", "simple"])
def test_ten_megabyte_attachment(outpost_factory, receiver, keys, netns_dns, dom, canon):
    """A 10 MB base64 attachment is hashed in blocks and verifies, rsa and
    ed25519, with dkimpy and with OpenDKIM (the keys from nsd); one byte
    changed in the middle of it fails both signatures there."""
    _keydir, records, entries = keys
    op = start(outpost_factory, receiver, entries, max_message_size="30M")
    raw = os.urandom(10 * 1024 * 1024)
    b64 = base64.encodebytes(raw).replace(b"\n", b"\r\n")
    body = (b"--XX\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--XX\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + b64 + b"--XX--\r\n")
    extra = b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n"
    assert op.smtp_send(f"s@{dom}", ["rcpt@dest.test"],
                        mail(dom, "big", extra, body), timeout=120)[0] == 250
    m = receiver.wait_messages(1, timeout=180)[0]
    assert len(m.data) > 13 * 1024 * 1024
    sigs, _rest = split_signatures(m.data)
    assert all(f"c={canon};".encode() in s.replace(b"\r\n\t", b" ") for s in sigs), sigs
    assert verify_all(m.data, records) == [dom, dom]
    for one in one_signature_each(m.data):
        r = netns_dns.run([OPENDKIM_TESTMSG], one)
        assert r.returncode == 0, (r.stdout, r.stderr, one[:600])
    mid = len(m.data) // 2
    assert m.data[mid:mid + 1] not in (b"\r", b"\n")
    bad = m.data[:mid] + (b"A" if m.data[mid:mid + 1] != b"A" else b"B") + m.data[mid + 1:]
    for one in one_signature_each(bad):
        r = netns_dns.run([OPENDKIM_TESTMSG], one)
        assert r.returncode != 0, (r.stdout, r.stderr, one[:600])


def stored_fields(op):
    """The DKIM record of the one queued mail, as stored in its file."""
    files = [p for p in (op.queue_dir / "queue").iterdir() if p.is_file()]
    assert len(files) == 1
    m = H.parse_queue_file(files[0].read_bytes())
    assert not m.torn
    return m.dkim


def test_resend_after_restart_keeps_the_signature(outpost_factory, receiver, keys):
    """The signature is made once and stored with the mail: deferred, then
    delivered after outpost was restarted, the mail carries exactly the
    stored fields (same t= and b=), and the file from before still loads."""
    _keydir, records, entries = keys
    receiver.tempfail("later@dest.test", times=1000)
    op = start(outpost_factory, receiver, entries)
    assert op.smtp_send("s@er.test", ["later@dest.test"],
                        mail("er.test", "resend", b"", b"resend me\r\n", to="later@dest.test"))[0] == 250
    H.wait_until(lambda: receiver.attempts("later@dest.test") >= 1, 30, what="first attempt")
    stored = H.wait_until(lambda: stored_fields(op), 10, what="stored DKIM record")
    assert stored.startswith(b"DKIM-Signature:") and b"d=er.test" in stored
    op.stop()
    time.sleep(1.1)                       # a re-signature would carry another t=
    receiver.tempfail("later@dest.test", times=0)
    op.start()
    m = receiver.wait_messages(1, timeout=60)[0]
    assert m.data.startswith(stored)
    assert verify_all(m.data, records) == ["er.test"]


# ---------------------------------------------------------------- opendkim

OPENDKIM_TESTMSG = shutil.which("opendkim-testmsg") or "/usr/sbin/opendkim-testmsg"


def zone_text(records):
    """One zone "test." holding every selector record (strings of <= 255 chars)."""
    lines = ["$ORIGIN test.", "$TTL 60", "@ SOA ns hostmaster 1 3600 600 86400 60",
             "@ NS ns", "ns A 127.0.0.1"]
    for name, rec in records.items():
        r = rec.decode()
        parts = " ".join(f'"{r[i:i + 255]}"' for i in range(0, len(r), 255))
        lines.append(f"{name} TXT {parts}")
    return "\n".join(lines) + "\n"


class NetnsDns:
    """A network namespace whose 127.0.0.1:53 is nsd serving the selector
    records, and whose resolv.conf points there (ip netns exec bind-mounts
    /etc/netns/NAME/resolv.conf). Everything is stopped and removed by close()."""

    def __init__(self, workdir, records):
        self.name = f"otdkim{os.getpid() % 100000}"
        self.etc = f"/etc/netns/{self.name}"
        self.nsd = None
        subprocess.run(["ip", "netns", "add", self.name], check=True, timeout=10)
        try:
            subprocess.run(["ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up"],
                           check=True, timeout=10)
            os.makedirs(self.etc, exist_ok=True)
            with open(f"{self.etc}/resolv.conf", "w") as f:
                f.write("nameserver 127.0.0.1\noptions timeout:2 attempts:2\n")
            self.nsd = NsdServer(workdir, "127.0.0.1", {"test": zone_text(records)},
                                 port=53, netns=self.name).start()
            H.wait_until(self._answers, 15, 0.2, what="nsd in the namespace")
        except BaseException:
            self.close()
            raise

    def _answers(self):
        r = subprocess.run(["ip", "netns", "exec", self.name, "drill", "@127.0.0.1", "-p", "53",
                            "test.", "SOA"], capture_output=True, text=True, timeout=10)
        return "NOERROR" in r.stdout

    def run(self, argv, data):
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], input=data,
                              capture_output=True, timeout=60)

    def close(self):
        if self.nsd is not None:
            self.nsd.stop()
        subprocess.run(["ip", "netns", "delete", self.name], timeout=10)
        shutil.rmtree(self.etc, ignore_errors=True)


@pytest.fixture
def netns_dns(workdir, keys, root):
    if not os.path.exists(OPENDKIM_TESTMSG) or not os.path.exists(NSD) or not shutil.which("drill"):
        pytest.skip("opendkim-tools, nsd or ldnsutils missing")
    d = NetnsDns(workdir, keys[1])
    yield d
    d.close()


def test_signed_mails_verify_with_opendkim(outpost_factory, receiver, keys, netns_dns):
    """OpenDKIM's library verifies what outpost signed, the public keys
    fetched over DNS from nsd: rsa-sha256 and ed25519-sha256, relaxed and
    simple, dual-signed (each signature on its own), each body shape; a
    changed body fails there too, in every mail and every signature."""
    _keydir, _records, entries = keys
    op = start(outpost_factory, receiver, entries)
    doms = ["rr.test", "er.test", "rs.test", "es.test", "dual.test", "ds.test"]
    n = 0
    for dom in doms:
        for name, extra, body in bodies():
            assert op.smtp_send(f"s@{dom}", ["rcpt@dest.test"], mail(dom, name, extra, body))[0] == 250
            n += 1
    msgs = receiver.wait_messages(n, timeout=120)
    assert len(msgs) == n
    for m in msgs:
        for one in one_signature_each(m.data):
            r = netns_dns.run([OPENDKIM_TESTMSG], one)
            assert r.returncode == 0, (r.stdout, r.stderr, one[:300])
        for one in one_signature_each(alter_body(m.data)):
            r = netns_dns.run([OPENDKIM_TESTMSG], one)
            assert r.returncode != 0, (r.stdout, r.stderr, one[:300])


# ---------------------------------------------------------------- key custody

def secret_needles(path):
    """Byte strings only a holder of the private key has: the Ed25519 seed,
    or 32 bytes of the RSA private exponent (big-endian, as in the DER),
    and the first line of the PEM body."""
    pem = path.read_text().splitlines()
    needles = [pem[1].encode()]
    text = subprocess.run(["openssl", "pkey", "-in", str(path), "-noout", "-text"],
                          capture_output=True, text=True, timeout=30, check=True).stdout
    if "ED25519" in text.upper():
        der = subprocess.run(["openssl", "pkey", "-in", str(path), "-outform", "DER"],
                             capture_output=True, timeout=30, check=True).stdout
        needles.append(der[-32:])
    else:
        hexpart = text.split("privateExponent:")[1].split("prime1:")[0]
        d = bytes.fromhex(re.sub(r"[^0-9a-f]", "", hexpart)).lstrip(b"\0")
        needles.append(d[:32])
    return needles


def memory_holds(pid, needles):
    """Which needles occur in the readable memory of pid (/proc/PID/mem, as
    root). A process whose memory cannot be read, or whose heap or writable
    mappings were not read whole, fails the test: an empty answer must mean
    "looked everywhere, found nothing", never "could not look"."""
    found = set()
    nread = 0
    unread = []
    with open(f"/proc/{pid}/maps") as f:
        maps = f.read().splitlines()
    mem = open(f"/proc/{pid}/mem", "rb", 0)
    with mem:
        for line in maps:
            f = line.split()
            if "r" not in f[1] or (len(f) > 5 and f[5] in ("[vvar]", "[vsyscall]")):
                continue
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            if hi - lo > (1 << 32):
                continue        # AddressSanitizer's shadow reservations, not data
            # In pieces that overlap by more than a needle, to bound memory.
            step, over = 16 << 20, 128
            got = 0
            for start in range(lo, hi, step):
                try:
                    mem.seek(start)
                    chunk = mem.read(min(step + over, hi - start))
                except (OSError, ValueError, OverflowError):
                    break
                got += min(len(chunk), step)
                for i, n in enumerate(needles):
                    if n in chunk:
                        found.add(i)
            nread += got
            if got < hi - lo and ("w" in f[1] or (len(f) > 5 and f[5] == "[heap]")):
                unread.append(line)      # where a key copy would live
    assert nread > 0 and not unread, (pid, nread, unread)
    return found


def test_only_the_signer_holds_private_keys(outpost_factory, receiver, keys, root):
    """After start and after signing, the key material is in the signer's
    memory and in no other outpost process (master included: it read the
    files, sent them and wiped every copy). A reload with a changed key
    file: the new key signs, and the old one is gone from the signer."""
    keydir, records, entries = keys
    op = start(outpost_factory, receiver, entries)
    op.wait_log(rf"signer: dkim: {len(DOMAINS)} signing domains loaded")
    for dom in ("rr.test", "er.test"):
        assert op.smtp_send(f"s@{dom}", ["rcpt@dest.test"], mail(dom, "mem", b"", b"x\r\n"))[0] == 250
    receiver.wait_messages(2, timeout=60)
    rsa = secret_needles(keydir / "rr.test.r1.key")
    ed = secret_needles(keydir / "er.test.e1.key")
    needles = rsa + ed
    procs = [op.pid] + [c.pid for c in op.children()]
    signer = op.child("signer").pid
    assert signer in procs and len(procs) > 2
    for pid in procs:
        got = memory_holds(pid, needles)
        if pid == signer:
            # the DER copy in guarded memory: the RSA exponent and the Ed25519 seed
            assert {1, 3} <= got, got
            assert 0 not in got and 2 not in got      # never the PEM text
        else:
            assert got == set(), (pid, H.ProcInfo(pid).title, got)

    # A new key in the same file, then reload.
    newdir = keydir / "new"
    newdir.mkdir(mode=0o700)
    path, rec = keygen(newdir, "er.test", "e1", "ed25519")
    shutil.copy(path, keydir / "er.test.e1.key")
    new_needles = secret_needles(keydir / "er.test.e1.key")
    off = op.log_offset()
    r = subprocess.run([str(H.OUTPOSTCTL), "-f", str(op.conf_path), "reload"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    op.wait_log(rf"signer: dkim: {len(DOMAINS)} signing domains loaded", start=off)
    assert op.child("signer").pid == signer            # same process, new keys
    assert op.smtp_send("s@er.test", ["rcpt@dest.test"], mail("er.test", "new", b"", b"y\r\n"))[0] == 250
    m = receiver.wait_messages(3, timeout=60)[2]
    new_records = dict(records)
    new_records["e1._domainkey.er.test."] = rec.encode()
    assert verify_all(m.data, new_records) == ["er.test"]
    assert not dkim.verify(m.data, dnsfunc=dnsfunc_for(records))
    got = memory_holds(signer, ed + new_needles)
    assert 3 in got and 1 not in got, got              # new seed in, old seed wiped
    # The master read the new file and sent it: no copy stays there, nor
    # in any other child, of the new key or the old ones.
    after = [op.pid] + [c.pid for c in op.children()]
    assert signer in after and len(after) > 2
    for pid in after:
        if pid != signer:
            got = memory_holds(pid, needles + new_needles)
            assert got == set(), (pid, H.ProcInfo(pid).title, got)


# ---------------------------------------------------------------- crashes

def test_signer_killed_mails_wait_and_are_signed(outpost_factory, receiver, keys):
    """With the signer gone, mails are queued and wait; the restarted signer
    gets the keys again from the master and signs them: none leaves unsigned.
    With the queue manager killed, the signer serves the new one."""
    _keydir, records, entries = keys
    op = start(outpost_factory, receiver, entries)
    op.wait_log(rf"signer: dkim: {len(DOMAINS)} signing domains loaded")
    frozen = op.freeze_child("signer")
    old = frozen.pid
    try:
        for i in range(5):
            assert op.smtp_send("s@rr.test", ["rcpt@dest.test"],
                                mail("rr.test", f"wait{i}", b"", b"w\r\n"))[0] == 250
        time.sleep(1)
        assert receiver.count() == 0                  # nothing went out unsigned
    finally:
        frozen.kill()
    msgs = receiver.wait_messages(5, timeout=60)
    for m in msgs:
        assert verify_all(m.data, records) == ["rr.test"]
    assert op.child("signer").pid != old
    # The queue manager killed: the signer stays, linked to the new one, and signs.
    signer = op.child("signer").pid
    off = op.log_offset()
    op.kill_child("qmgr")
    op.wait_log(r"started qmgr", start=off, timeout=30)
    H.wait_until(lambda: op.smtp_send("s@er.test", ["rcpt@dest.test"],
                                      mail("er.test", "afresh", b"", b"a\r\n"))[0] == 250,
                 30, interval=0.5, what="a submission accepted")
    m = receiver.wait_messages(6, timeout=60)[5]
    assert verify_all(m.data, records) == ["er.test"]
    assert op.child("signer").pid == signer


def test_queued_but_unsigned_is_signed_at_recovery(outpost_factory, receiver, keys):
    """The crash window of signing after "queued": the mail is acknowledged,
    then everything dies before the signer answered. At the next start,
    recovery finds the mail without its DKIM record and has it signed before
    it is scheduled."""
    _keydir, records, entries = keys
    op = start(outpost_factory, receiver, entries)
    op.wait_log(rf"signer: dkim: {len(DOMAINS)} signing domains loaded")
    frozen = op.freeze_child("signer")
    try:
        assert op.smtp_send("s@dual.test", ["rcpt@dest.test"],
                            mail("dual.test", "crash", b"", b"c\r\n"))[0] == 250
        files = H.wait_until(lambda: list((op.queue_dir / "queue").iterdir()), 10,
                             what="queue file")
        assert H.parse_queue_file(files[0].read_bytes()).dkim is None
        kids = [c.pid for c in op.children()]
        op.kill()
        op.proc.wait(timeout=10)
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass
    finally:
        frozen.thaw()
    H.wait_until(lambda: not any(H.pid_alive(p) for p in kids), 15, what="children to exit")
    assert receiver.count() == 0
    op.stop()
    op.start()
    m = receiver.wait_messages(1, timeout=60)[0]
    assert verify_all(m.data, records) == ["dual.test", "dual.test"]


def test_unsafe_or_missing_key_file_is_refused(outpost_factory, receiver, keys, root):
    """A key file others can read, or one that is not there, stops the start
    with an error naming it; on reload it is refused and the running keys
    keep signing."""
    keydir, records, entries = keys
    key = keydir / "rr.test.r1.key"
    key.chmod(0o644)
    op = outpost_factory(params={"delivery_mode": "relay", "relay_host": receiver.hostport},
                         sections={"dkim": entries}, start=False)
    with pytest.raises(H.HarnessError, match="exited"):
        op.start(timeout=20)
    assert f"{key}: must belong to root and be readable by root only" in op.log_text()
    key.chmod(0o600)
    op.start()
    op.wait_log(rf"signer: dkim: {len(DOMAINS)} signing domains loaded")
    key.rename(keydir / "moved.key")
    off = op.log_offset()
    r = subprocess.run([str(H.OUTPOSTCTL), "-f", str(op.conf_path), "reload"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    op.wait_log(r"reload: .*rr\.test\.r1\.key: No such file or directory", start=off)
    assert op.smtp_send("s@rr.test", ["rcpt@dest.test"], mail("rr.test", "kept", b"", b"k\r\n"))[0] == 250
    assert verify_all(receiver.wait_messages(1, timeout=60)[0].data, records) == ["rr.test"]
