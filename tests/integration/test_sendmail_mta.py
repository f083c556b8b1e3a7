# SPDX-License-Identifier: ISC
"""
outpost-sendmail as the system MTA (Debian Policy 11.6): every flag set that
cron, mailx, PHP, git send-email, logwatch, mdadm and unattended-upgrades
pass, delivered through a running outpost to a real receiver (aiosmtpd);
-bs (SMTP on standard input and output) driven by swaks --pipe and by a
script (pipelining, dot-unstuffing, errors, QUIT); the aliases file and
local_redirect for sendmail and SMTP submissions; newaliases / -bi (line
numbers on errors, reload of a running outpost, permission); -bv / -bt
with and without the running instance.
"""

import os
import re
import shlex
import subprocess

import pytest

import outpost_harness as H

ORIGIN = "outpost.test"      # the harness's helo_name, hence myorigin
REDIRECT = "admin@example.net"


def make_op(outpost_factory, receiver, aliases_text=None, workdir=None, **params):
    p = {"delivery_mode": "relay", "relay_host": f"[127.0.0.1]:{receiver.port}",
         "relay_tls_policy": "none", "resend_interval": "1h",
         "local_redirect": REDIRECT}
    if aliases_text is not None:
        path = workdir / "aliases"
        path.write_text(aliases_text)
        os.chmod(workdir, 0o755)
        os.chmod(path, 0o644)
        p["aliases"] = str(path)
    p.update(params)
    return outpost_factory(params=p)


@pytest.fixture
def op(outpost_factory, receiver):
    return make_op(outpost_factory, receiver)


def arrived(receiver, n=1, timeout=60):
    return receiver.wait_messages(n, timeout=timeout)


# ---------------------------------------------------------------- caller flags

CRON_MSG = b"Subject: Cron <root@host> run-parts\nTo: root\n\noutput of the job\n"
HDR_MSG = b"To: hdr@example.net\nSubject: from the header\n\nbody\n.\nafter a dot line\n"

FLAG_CASES = [
    # (argv, message, envelope sender, recipients that must arrive)
    (["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"], CRON_MSG,
     "outpost-tester@" + ORIGIN, [REDIRECT]),
    (["-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t", "-f", "root"], CRON_MSG,
     "root@" + ORIGIN, [REDIRECT]),
    (["-i", "--", "dashdash@example.net"], HDR_MSG, "outpost-tester@" + ORIGIN,
     ["dashdash@example.net"]),
    (["-i", "-f", "x", "plain@example.net"], HDR_MSG, "x@" + ORIGIN, ["plain@example.net"]),
    (["-t"], b"To: t@example.net\nSubject: t\n\nbody\n", "outpost-tester@" + ORIGIN,
     ["t@example.net"]),
    (["-oi", "-t"], HDR_MSG, "outpost-tester@" + ORIGIN, ["hdr@example.net"]),
    (["-t", "-i", "-f", "x"], HDR_MSG, "x@" + ORIGIN, ["hdr@example.net"]),
]


@pytest.mark.parametrize("args,msg,sender,rcpts", FLAG_CASES,
                         ids=[" ".join(c[0]) for c in FLAG_CASES])
def test_caller_flags_deliver(op, receiver, args, msg, sender, rcpts):
    r = op.sendmail(args, msg, user="outpost-tester")
    assert r.returncode == 0, r.stderr
    m = arrived(receiver)[0]
    assert m.mail_from == sender
    assert sorted(a.lower() for a in m.rcpt_tos) == sorted(rcpts)
    if "-i" in args or "-oi" in args:
        # A lone dot does not end the message under -i / -oi.
        if b"\n.\n" in msg:
            assert b"\r\n.\r\nafter a dot line" in m.data or b"\n.\nafter a dot line" in m.data
    if "-FCronDaemon" in args:
        assert re.search(rb'^From: "CronDaemon" <', m.data, re.M), m.data[:400]
    assert b"Bcc:" not in m.data


def test_without_i_a_dot_line_ends_the_message(op, receiver):
    r = op.sendmail(["dot@example.net"], b"Subject: d\n\nfirst\n.\nnot sent\n")
    assert r.returncode == 0, r.stderr
    m = arrived(receiver)[0]
    assert b"first" in m.data and b"not sent" not in m.data


# ---------------------------------------------------------------- -bs

def bs_cmd(op):
    return [str(H.SENDMAIL), "-C", str(op.conf_path), "-bs"]


def test_bs_with_swaks_pipe(op, receiver):
    data = b"Subject: swaks over a pipe\r\n\r\n.leading dot\r\nline\r\n"
    for extra in ((), ("--pipeline",)):
        r = subprocess.run(["swaks", "--pipe", shlex.join(bs_cmd(op)), "--from",
                            "app@example.org", "--to", "web@example.net", "--helo", "app.test",
                            "--no-data-fixup", "--data", "-", *extra],
                           input=H.dot_stuff(data) + b".", capture_output=True, timeout=60)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert b"250 2.0.0 Ok: queued as" in r.stdout
    got = arrived(receiver, 2)
    for m in got:
        assert m.mail_from == "app@example.org" and m.rcpt_tos == ["web@example.net"]
        assert H.strip_trace(m.data).endswith(data), m.data


def run_bs(op, script, user=None, timeout=60):
    kw = {}
    if user is not None:
        import pwd
        pw = pwd.getpwnam(user)
        kw = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    return subprocess.run(bs_cmd(op), input=script, capture_output=True, timeout=timeout, **kw)


def replies(out):
    """The reply codes of a session, one per reply (last line of multi-line ones)."""
    return [int(l[:3]) for l in out.split(b"\r\n") if len(l) >= 4 and l[3:4] == b" "]


def test_bs_pipelined_session_script(op, receiver):
    body = b"Subject: script\r\n\r\n..stuffed\r\n.\r\n"   # the dot line ends the data
    script = (b"EHLO script.test\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<a@example.net>\r\n"
              b"RCPT TO:<b@example.net>\r\nDATA\r\n" + body +
              b"MAIL FROM:<s2@example.org> BODY=8BITMIME\r\nRCPT TO:<c@example.net>\r\n"
              b"DATA\r\nSubject: two\r\n\r\n\xc3\xa9\r\n.\r\nQUIT\r\n")
    r = run_bs(op, script, user="outpost-tester")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"220 ")
    assert b"250-PIPELINING" in r.stdout and b"250-8BITMIME" in r.stdout
    assert replies(r.stdout) == [220, 250, 250, 250, 250, 354, 250, 250, 250, 354, 250, 221]
    got = sorted(arrived(receiver, 2), key=lambda m: m.mail_from)
    assert got[0].mail_from == "s2@example.org" and got[0].rcpt_tos == ["c@example.net"]
    assert H.strip_trace(got[1].data) == b"Subject: script\r\n\r\n.stuffed\r\n"
    assert sorted(got[1].rcpt_tos) == ["a@example.net", "b@example.net"]
    # The caller's uid is recorded from the kernel's word (SO_PEERCRED), not from us.
    import pwd
    uid = pwd.getpwnam("outpost-tester").pw_uid
    assert f"from userid {uid})".encode() in got[1].data


def test_bs_interactive_lockstep(op, receiver):
    """A client that waits for each reply before the next command (as PHP
    and Symfony Mailer do): every reply must come without more input."""
    # Unbuffered: select() must see what readline() has not consumed yet.
    p = subprocess.Popen(bs_cmd(op), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, bufsize=0)
    import select

    def reply(timeout=30):
        lines = []
        while True:
            r, _, _ = select.select([p.stdout], [], [], timeout)
            assert r, f"no reply within {timeout}s after {lines}"
            line = p.stdout.readline()
            assert line, "end of output"
            lines.append(line)
            if line[3:4] == b" ":
                return int(line[:3]), b"".join(lines)

    def cmd(line):
        p.stdin.write(line)
        p.stdin.flush()
        return reply()

    try:
        assert reply()[0] == 220
        code, text = cmd(b"EHLO lockstep.test\r\n")
        assert code == 250 and b"SIZE" in text
        assert cmd(b"MAIL FROM:<l@example.org>\r\n")[0] == 250
        assert cmd(b"RCPT TO:<lock@example.net>\r\n")[0] == 250
        assert cmd(b"DATA\r\n")[0] == 354
        code, text = cmd(b"Subject: lockstep\r\n\r\nbody\r\n.\r\n")
        assert code == 250 and b"queued as" in text
        assert cmd(b"QUIT\r\n")[0] == 221
        assert p.wait(timeout=30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    m = arrived(receiver)[0]
    assert m.rcpt_tos == ["lock@example.net"]
    assert H.strip_trace(m.data) == b"Subject: lockstep\r\n\r\nbody\r\n"


def test_bs_errors(op, receiver):
    script = (b"MAIL FROM:<x@example.org>\r\n"          # before EHLO: 503
              b"HELO h.test\r\n"
              b"RCPT TO:<a@example.net>\r\n"            # before MAIL: 503
              b"MAIL FROM:<bad address>\r\n"            # syntax: 501/553
              b"FOO\r\n"                                # 500
              b"DATA\r\n"                               # need MAIL: 503
              b"MAIL FROM:<x@example.org>\r\n"
              b"RCPT TO:<a@example.net>\r\n"
              b"DATA\r\nSubject: bare\r\n\r\nbare LF\nhere\r\n.\r\n"   # 554 5.6.0
              b"NOOP\r\nRSET\r\nVRFY root\r\nQUIT\r\n")
    r = run_bs(op, script)
    codes = replies(r.stdout)
    assert codes[0] == 220 and codes[1] == 503 and codes[2] == 250 and codes[3] == 503
    assert codes[4] in (501, 553) and codes[5] == 500 and codes[6] == 503
    assert codes[7:11] == [250, 250, 354, 554], r.stdout
    assert codes[11:] == [250, 250, 252, 221]
    assert r.returncode == 0
    assert not op.queued_mails() and receiver.count() == 0


def test_bs_eof_and_too_many_errors(op, receiver):
    # End of input in the middle of DATA: nothing is queued, non-zero exit.
    r = run_bs(op, b"HELO h\r\nMAIL FROM:<>\r\nRCPT TO:<a@example.net>\r\nDATA\r\npartial\r\n")
    assert r.returncode != 0 and not op.queued_mails()
    r = run_bs(op, b"BAD\r\n" * 40)
    assert r.stdout.count(b"\r\n500 ") + r.stdout.startswith(b"500 ") <= 20
    assert b"421 " in r.stdout and r.returncode != 0
    r = run_bs(op, b"HELO " + b"x" * 2000 + b"\r\nQUIT\r\n")
    assert replies(r.stdout) == [220, 500, 221]


def test_bs_with_outpost_down_answers_451(op, receiver):
    op.stop()
    r = run_bs(op, b"EHLO h\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"
                   b"DATA\r\nSubject: x\r\n\r\nx\r\n.\r\nQUIT\r\n")
    assert replies(r.stdout) == [220, 250, 250, 250, 354, 451, 221], r.stdout
    assert b"451 4.3.0" in r.stdout and b"is outpost running?" in r.stderr


# ---------------------------------------------------------------- aliases

ALIASES = """# the system's aliases
postmaster: root
root: ops@example.net,
   oncall@example.net
# a comment between entries

webmaster: root, web@example.net
"Info": info@example.org
"""


def test_aliases_for_sendmail_and_smtp(outpost_factory, receiver, workdir):
    op = make_op(outpost_factory, receiver, ALIASES, workdir)
    r = op.sendmail(["postmaster"], b"Subject: a\n\nb\n")
    assert r.returncode == 0, r.stderr
    m = arrived(receiver)[0]
    assert sorted(m.rcpt_tos) == ["oncall@example.net", "ops@example.net"]
    # SMTP to a name in myorigin: rewritten alike; the name is case-insensitive.
    op.smtp_send("s@example.org", ["WebMaster@" + ORIGIN.upper(), "info@" + ORIGIN],
                 b"Subject: smtp\r\n\r\nb\r\n")
    got = arrived(receiver, 2)
    rc = sorted(r.lower() for r in got[1].rcpt_tos)
    assert rc == ["info@example.org", "oncall@example.net", "ops@example.net",
                  "web@example.net"]
    # A local name not in the file goes to local_redirect; other domains are untouched.
    op.smtp_send("s@example.org", ["nobody@" + ORIGIN, "x@example.com"], b"Subject: c\r\n\r\nb\r\n")
    got = arrived(receiver, 3)
    assert sorted(got[2].rcpt_tos) == [REDIRECT, "x@example.com"]
    # Two names leading to the same addresses: each address once.
    op.smtp_send("s@example.org", ["postmaster@" + ORIGIN, "root@" + ORIGIN],
                 b"Subject: d\r\n\r\nb\r\n")
    got = arrived(receiver, 4)
    assert sorted(got[3].rcpt_tos) == ["oncall@example.net", "ops@example.net"]


def test_bounce_to_a_local_sender_follows_the_aliases(op, receiver):
    receiver.reject("dead@example.net")
    r = op.sendmail(["-f", "root", "dead@example.net"], b"Subject: doomed\n\nb\n")
    assert r.returncode == 0, r.stderr
    m = arrived(receiver)[0]
    assert m.mail_from in ("", "<>") and m.rcpt_tos == [REDIRECT]
    assert f"To: <root@{ORIGIN}>".encode() in m.data


def test_bad_aliases_file_stops_the_start(outpost_factory, receiver, workdir):
    bad = "ok: a@example.net\nlog: |/usr/bin/logger\narch: /var/mail/archive\n" \
          "inc: :include:/etc/list\nloop1: loop2\nloop2: loop1\nnocolon here\n"
    path = workdir / "aliases"
    path.write_text(bad)
    op = H.Outpost(workdir, params={"delivery_mode": "relay",
                                    "relay_host": f"[127.0.0.1]:{receiver.port}",
                                    "aliases": str(path)})
    # outpost itself refuses to start with it (checked with -n, which loads it too).
    r = subprocess.run([str(H.OUTPOST), "-n", "-f", str(op.conf_path)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0 and f"{path}:2:" in r.stderr, r.stderr
    nl = op.sendmail(["-bi"])
    assert nl.returncode == H.EX_DATAERR, nl.stderr
    err = nl.stderr.decode()
    assert f"{path}:2: log" in err and "pipes" in err
    assert f"{path}:3: arch" in err and "files" in err
    assert f"{path}:4: inc" in err and ":include:" in err
    assert f"{path}:7:" in err and "missing ':'" in err
    # The syntax being fine, the loop is found too.
    path.write_text("loop1: loop2\nloop2: loop1\n")
    nl = op.sendmail(["-bi"])
    assert nl.returncode == H.EX_DATAERR and b"alias loop" in nl.stderr, nl.stderr


def test_newaliases_reloads_a_running_outpost(outpost_factory, receiver, workdir):
    op = make_op(outpost_factory, receiver, "root: first@example.net\n", workdir)
    r = op.sendmail(["root"], b"Subject: 1\n\nb\n")
    assert arrived(receiver)[0].rcpt_tos == ["first@example.net"]
    (workdir / "aliases").write_text("root: second@example.net\n")
    # Someone else may check the file but not reload outpost.
    r = op.sendmail(["-bi"], user="outpost-tester")
    assert r.returncode == H.EX_NOPERM and b"only root" in r.stderr, r.stderr
    off = op.log_offset()
    link = workdir / "newaliases"
    link.symlink_to(H.SENDMAIL)
    r = subprocess.run([str(link), "-C", str(op.conf_path)], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert b"1 aliases" in r.stdout and b"reloaded" in r.stdout
    op.wait_log(r"aliases: 1 names", start=off)
    r = op.sendmail(["root"], b"Subject: 2\n\nb\n")
    got = arrived(receiver, 2)
    assert got[1].rcpt_tos == ["second@example.net"]
    # A broken edit is refused; the table in force stays.
    (workdir / "aliases").write_text("root: |/bin/sh\n")
    r = op.sendmail(["-bi"])
    assert r.returncode == H.EX_DATAERR
    r = op.sendmail(["root"], b"Subject: 3\n\nb\n")
    got = arrived(receiver, 3)
    assert got[2].rcpt_tos == ["second@example.net"]


# ---------------------------------------------------------------- -bv / -bt

def test_bv_from_the_config_alone(outpost_factory, receiver, workdir):
    op = make_op(outpost_factory, receiver, "root: ops@example.net\n", workdir,
                 relay_tls_policy="encrypt")
    for flag in ("-bv", "-bt"):
        r = op.sendmail([flag, "root", "someone@example.org"], user="outpost-tester")
        assert r.returncode == 0, r.stderr
        out = r.stdout.decode()
        assert "root -> ops@example.net" in out
        assert f"relay_host [127.0.0.1]:{receiver.port}" in out and "tls encrypt" in out
        assert "someone@example.org: relay_host" in out
        assert "dns: not consulted" in out
    assert receiver.count() == 0 and not op.queued_mails()


@pytest.fixture
def dns_zone(workdir, root):
    from test_dns import NSD, Nsd, ZONE, loopback_net
    if not os.path.exists(NSD):
        pytest.skip("nsd not installed")
    net = loopback_net()
    zone = f"""$ORIGIN {ZONE}.
$TTL 2
@        SOA ns hostmaster 1 3600 600 86400 2
@        NS ns
ns       A {net}.53
mx2      MX 20 mxb
mx2      MX 10 mxa
mxa      A {net}.1
mxb      A {net}.2
mxb      AAAA ::1
aonly    A {net}.3
nullmx   MX 0 .
"""
    d = Nsd(workdir / "dns", f"{net}.53", zone).start()
    yield d, ZONE, net
    d.stop()


def test_bv_and_route_with_the_resolver(outpost_factory, receiver, workdir, dns_zone):
    d, zone, net = dns_zone
    op = outpost_factory(params={"delivery_mode": "independent",
                                 "dns_servers": f"{d.addr}@{d.port}", "tls_policy": "encrypt",
                                 "local_redirect": f"ops@mx2.{zone}"},
                         routes={f"routed.{zone}": f"[127.0.0.1]:{receiver.port} tls=none"})
    r = op.sendmail(["-bv", "root", f"x@aonly.{zone}", f"y@nullmx.{zone}", f"z@routed.{zone}"])
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    # root -> local_redirect, whose domain has two MX hosts, in preference order.
    assert f"root -> ops@mx2.{zone}" in out
    assert f"ops@mx2.{zone}: MX hosts of mx2.{zone}, port 25, tls encrypt" in out
    i, j = out.index(f"mx 10 mxa.{zone}: {net}.1"), out.index(f"mx 20 mxb.{zone}:")
    assert i < j and "::1" in out[j:].splitlines()[0] and f"{net}.2" in out[j:]
    assert f"no MX record for aonly.{zone}" in out and f"aonly.{zone}: {net}.3" in out
    assert "null MX" in out
    assert f"z@routed.{zone}: route [127.0.0.1]:{receiver.port}, address lookup, tls none" in out
    assert "127.0.0.1: address literal, no DNS lookup" in out
    assert "not consulted" not in out
    # The same through outpostctl; nothing was sent.
    r = subprocess.run([str(H.OUTPOSTCTL), "-f", str(op.conf_path), "route", f"a@mx2.{zone}"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and f"mx 10 mxa.{zone}" in r.stdout, (r.stdout, r.stderr)
    r = subprocess.run([str(H.OUTPOSTCTL), "-f", str(op.conf_path), "route", "not an address"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert not op.queued_mails() and receiver.count() == 0
    # Without the right to ask: the config alone, and it says so.
    r = op.sendmail(["-bv", f"a@mx2.{zone}"], user="outpost-tester")
    assert r.returncode == 0, r.stderr
    assert b"dns: not consulted (only root and admin_group" in r.stdout
    assert b"tls encrypt" in r.stdout
