# SPDX-License-Identifier: ISC
"""
outpost-sendmail (and mailq) as programs call it: the flags real programs
use (-t, -i/-oi, -f/-r, -F, -bp, -C, --, ignored -o/-od/-v/-B), what it
adds to a message, and above all that the caller always learns of a
failure: with outpost down, or a queue manager that closes the link,
answers garbage or refuses the mail, the exit status is non-zero (sysexits)
with a message on stderr. The failure modes use a scripted stand-in for
the queue manager on the public socket; everything else runs against the
real outpost.
"""

import os
import re
import socket
import threading

import pytest

import outpost_harness as H
from outpost_harness import Decoded, frame, p_str, p_u16

QUEUED_AS = re.compile(rb"queued as ([0-9A-F]{24})")


@pytest.fixture
def op(outpost_factory):
    return outpost_factory(params={"delivery_mode": "relay", "relay_host": "[127.0.0.1]:9",
                                   "resend_interval": "1h"})


def queued(op, out):
    m = QUEUED_AS.search(out.stdout)
    assert m, (out.stdout, out.stderr)
    return op.queued_mails()[m.group(1).decode()]


# ---------------------------------------------------------------- against outpost

def test_plain_submission_byte_exact(op):
    msg = (b"From: a@example.org\nDate: Thu, 26 Nov 2026 06:00:00 +0000\n"
           b"Message-ID: <x@example.org>\nSubject: exact\n\nline\n..two dots\n\xc3\xa9\n")
    r = op.sendmail(["-v", "rcpt@example.net"], msg)
    assert r.returncode == 0, r.stderr
    m = queued(op, r)
    assert H.strip_trace(m.content) == msg
    assert m.rcpts == ["rcpt@example.net"]


def test_default_sender_and_added_fields(op):
    r = op.sendmail(["-v", "rcpt@example.net"], b"Subject: bare\r\n\r\nbody\r\n",
                    user="outpost-tester")
    assert r.returncode == 0, r.stderr
    m = queued(op, r)
    assert m.sender == "outpost-tester@outpost.test"
    body = H.strip_trace(m.content)
    head, _, rest = body.partition(b"\r\n\r\n")
    assert rest == b"body\r\n"
    assert re.search(rb"^From: .*<?outpost-tester@outpost\.test>?\r$", head, re.M)
    assert re.search(rb"^Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\r$", head, re.M)
    assert re.search(rb"^Message-ID: <[^@>]+@outpost\.test>\r?$", head, re.M)
    # Every added line ends like the message's lines (CRLF here).
    assert b"\n" not in head.replace(b"\r\n", b"")


def test_sender_and_full_name(op):
    r = op.sendmail(["-v", "-f", "<bounces@example.org>", "-F", "Web Shop", "rcpt@example.net"],
                    b"Subject: s\n\nb\n")
    assert r.returncode == 0, r.stderr
    m = queued(op, r)
    assert m.sender == "bounces@example.org"
    assert b'From: "Web Shop" <bounces@example.org>\n' in m.content
    r = op.sendmail(["-v", "-rnull@example.org", "rcpt@example.net"],
                    b"From: keep@example.org\nSubject: s\n\nb\n")
    m = queued(op, r)
    assert m.sender == "null@example.org"
    assert m.content.count(b"From: ") == 1 and b"From: keep@example.org\n" in m.content
    r = op.sendmail(["-v", "-f", "<>", "rcpt@example.net"], b"Subject: s\n\nb\n")
    assert r.returncode == 0, r.stderr
    assert queued(op, r).sender == ""


def test_extract_recipients_and_remove_bcc(op):
    msg = (b"From: a@example.org\nTo: One <one@example.net>, two@example.net\n"
           b"Cc: three@example.net,\n\tone@example.net\nBcc: secret@example.net\n"
           b"Subject: -t\n\nTo: not-a-header@example.net\n")
    r = op.sendmail(["-v", "-t", "also@example.net"], msg)
    assert r.returncode == 0, r.stderr
    m = queued(op, r)
    assert sorted(m.rcpts) == sorted(["also@example.net", "one@example.net", "two@example.net",
                                      "three@example.net", "secret@example.net"])
    body = H.strip_trace(m.content)
    assert b"Bcc:" not in body.partition(b"\n\n")[0]
    assert b"secret" not in body
    assert body.endswith(b"\n\nTo: not-a-header@example.net\n")


def test_extract_without_recipients_fails(op):
    r = op.sendmail(["-t"], b"Subject: nobody\n\nb\n")
    assert r.returncode == H.EX_DATAERR
    assert b"no recipient" in r.stderr
    assert not op.queued_mails()


def test_dot_handling(op):
    msg = b"Subject: dots\n\nbefore\n.\nafter\n"
    for args, want in ((["-i"], msg), (["-oi"], msg), ([], b"Subject: dots\n\nbefore\n")):
        r = op.sendmail(["-v"] + args + ["rcpt@example.net"], msg)
        assert r.returncode == 0, r.stderr
        assert H.strip_trace(queued(op, r).content).endswith(want.partition(b"\n\n")[2])
        assert (b"after" in queued(op, r).content) == bool(args)


def test_ignored_options_accepted(op):
    r = op.sendmail(["-v", "-odi", "-odb", "-oem", "-oee", "-B8BITMIME", "-N", "never",
                     "-R", "hdrs", "-V", "envid", "-U", "-n", "-m", "rcpt@example.net"],
                    b"Subject: options\n\nb\n")
    assert r.returncode == 0, r.stderr
    queued(op, r)


def test_end_of_options_and_address_lists(op):
    r = op.sendmail(["-v", "--", "A <a@example.net>, b@example.net", "root"], b"Subject: l\n\nb\n")
    assert r.returncode == 0, r.stderr
    assert queued(op, r).rcpts == ["a@example.net", "b@example.net", "root@outpost.test"]


@pytest.mark.parametrize("args,code,needle", [
    (["-x", "a@example.net"], H.EX_USAGE, b"unknown option -x"),
    (["-f"], H.EX_USAGE, b"needs an argument"),
    (["-bd"], H.EX_USAGE, b"not supported"),
    (["-q"], H.EX_USAGE, b"not supported"),
    ([], H.EX_USAGE, b"no recipients"),
    (["bad address@"], H.EX_DATAERR, b"bad address"),
    (["John Doe john@example.net"], H.EX_DATAERR, b"display name"),
    (["-f", "not valid@", "a@example.net"], H.EX_DATAERR, b"sender"),
])
def test_usage_errors(op, args, code, needle):
    r = op.sendmail(args, b"Subject: x\n\nx\n")
    assert r.returncode == code, (r.returncode, r.stderr)
    assert needle in r.stderr, r.stderr
    assert not op.queued_mails()


def test_mailq_and_bp(op):
    r = op.sendmail(["-bp"])
    assert r.returncode == 0 and r.stdout == b"Mail queue is empty\n", (r.stdout, r.stderr)
    r = op.sendmail(["-v", "-f", "s@example.org", "listed@example.net"], b"Subject: q\n\nq\n")
    qid = QUEUED_AS.search(r.stdout).group(1)
    for args, argv0 in ((["-bp"], None), ([], "mailq")):
        r = op.sendmail(args, b"", argv0=argv0, user="outpost-tester")
        assert r.returncode == 0, r.stderr
        assert qid in r.stdout and b"s@example.org" in r.stdout
        assert b"listed@example.net" in r.stdout
        assert b"-- 1 Kbytes in 1 Request." in r.stdout


def test_config_from_environment(op):
    r = op.sendmail(["-v", "env@example.net"], b"Subject: env\n\nb\n", use_config_flag=False,
                    env={"OUTPOST_CONFIG": str(op.conf_path)})
    assert r.returncode == 0, r.stderr
    queued(op, r)


def test_bad_config(op, workdir):
    # Without a usable state directory there is nowhere to submit.
    bad = workdir / "bad.conf"
    bad.write_text("no_such_parameter = 1\nstate_directory = relative\n")
    r = op.sendmail(["-C", str(bad), "a@example.net"], b"x\n", use_config_flag=False)
    assert r.returncode == H.EX_CONFIG
    assert b"bad.conf:1" in r.stderr
    # A mistake elsewhere (an edit not yet reloaded) only warns: mail still goes in.
    edited = workdir / "edited.conf"
    edited.write_text(op.conf_path.read_text() + "no_such_parameter = 1\n")
    r = op.sendmail(["-C", str(edited), "a@example.net"], b"Subject: x\n\nx\n",
                    use_config_flag=False)
    assert r.returncode == 0, r.stderr
    assert b"warning" in r.stderr and b"no_such_parameter" in r.stderr


def test_outpost_down(op):
    op.stop()
    r = op.sendmail(["a@example.net"], b"Subject: x\n\nx\n")
    assert r.returncode == H.EX_TEMPFAIL
    assert b"is outpost running?" in r.stderr and b"a@example.net" not in r.stdout
    r = op.sendmail(["-bp"])
    assert r.returncode == H.EX_TEMPFAIL


# ---------------------------------------------------------------- scripted queue manager

class FakeQmgr:
    """Listens on <state>/queue/public/submit.sock and answers the commit of
    each connection with behaviour(frames) -> list of raw datagrams to send
    (then closes), or None to close without a word."""

    def __init__(self, state_dir, behaviour):
        self.dir = state_dir / "queue" / "public"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "submit.sock"
        self.behaviour = behaviour
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.bind(str(self.path))
        os.chmod(self.path, 0o666)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.transactions = []
        self.stop_flag = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop_flag:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return
            with c:
                c.settimeout(5)
                frames = []
                try:
                    while True:
                        data = c.recv(H.FRAME_MAX)
                        if not data:
                            break
                        f = Decoded(data)
                        frames.append(f)
                        if f.name in ("MSG_SUBMIT_COMMIT", "MSG_QUEUE_LIST"):
                            break
                except OSError:
                    pass
                self.transactions.append(frames)
                for d in self.behaviour(frames) or []:
                    try:
                        c.send(d)
                    except OSError:
                        break

    def close(self):
        self.stop_flag = True
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def fake(workdir):
    made = []

    def make(behaviour):
        state = workdir / f"fake-state{len(made)}"
        conf = H.write_config(workdir / f"fake{len(made)}.conf", {"state_directory": str(state),
                                                      "helo_name": "fake.test"})
        f = FakeQmgr(state, behaviour)
        f.conf = conf
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()


def run_fake(f, args=("a@example.net",), data=b"Subject: x\n\nx\n"):
    import subprocess
    return subprocess.run([str(H.SENDMAIL), "-C", str(f.conf), *args], input=data,
                          capture_output=True, timeout=60)


def error_frame(code, enh, text, reqid=1):
    return frame("MSG_SUBMIT_ERROR", p_u16(code) + p_str(enh) + p_str(text), reqid)


def test_protocol_as_spoken(fake):
    f = fake(lambda fr: [frame("MSG_SUBMIT_QUEUED", p_str("0" * 24), fr[0].reqid)])
    data = b"Subject: big\n\n" + b"x" * 300_000 + b"\n"
    r = run_fake(f, ("-v", "-f", "s@example.org", "a@example.net", "b@example.net"), data)
    assert r.returncode == 0, r.stderr
    assert b"queued as " + b"0" * 24 in r.stdout
    [frames] = f.transactions
    names = [x.name for x in frames]
    assert names[0] == "MSG_SUBMIT_BEGIN" and names[-1] == "MSG_SUBMIT_COMMIT"
    assert names[1:3] == ["MSG_SUBMIT_RCPT"] * 2
    assert len({x.reqid for x in frames}) == 1
    begin = frames[0]
    begin.u32()
    assert begin.str() == "s@example.org"
    content = b""
    for x in frames:
        if x.name == "MSG_SUBMIT_DATA":
            content += x.payload[4:]
    assert content.endswith(b"x" * 300_000 + b"\n") and content.count(b"Subject: big\n") == 1
    assert names.count("MSG_SUBMIT_DATA") > 1


@pytest.mark.parametrize("behaviour,code,needle", [
    (lambda fr: None, H.EX_TEMPFAIL, b"closed the connection"),
    (lambda fr: [b"\x01\x02\x03"], H.EX_TEMPFAIL, b"malformed"),
    (lambda fr: [frame("MSG_SUBMIT_QUEUED", b"", 1)], H.EX_TEMPFAIL, b"malformed"),
    (lambda fr: [frame("MSG_SUBMIT_QUEUED", p_str("0" * 24) + b"junk", 1)], H.EX_TEMPFAIL,
     b"malformed"),
    (lambda fr: [frame("MSG_SUBMIT_QUEUED", p_str("0" * 24), 99)], H.EX_TEMPFAIL,
     b"unknown transaction"),
    (lambda fr: [frame("MSG_QUEUE_LIST_END", H.p_u32(0), 1)], H.EX_TEMPFAIL, b"unexpected"),
    (lambda fr: [error_frame(451, "4.3.0", "disk full")], H.EX_TEMPFAIL, b"451 4.3.0 disk full"),
    (lambda fr: [error_frame(550, "5.1.1", "no such user")], H.EX_NOUSER, b"550 5.1.1"),
    (lambda fr: [error_frame(552, "5.3.4", "too big")], H.EX_DATAERR, b"552 5.3.4 too big"),
    (lambda fr: [error_frame(554, "5.7.1", "not you")], H.EX_NOPERM, b"554 5.7.1"),
    (lambda fr: [error_frame(554, "5.0.0", "evil\x1b[31m\nfake line")], H.EX_UNAVAILABLE,
     b"evil?[31m?fake line"),
])
def test_every_failure_is_reported(fake, behaviour, code, needle):
    f = fake(behaviour)
    r = run_fake(f)
    assert r.returncode == code, (r.returncode, r.stderr)
    assert needle in r.stderr, r.stderr
    assert r.stdout == b""


def test_mailq_failures_reported(fake):
    f = fake(lambda fr: [frame("MSG_QUEUE_LIST_END", H.p_u32(3), 1)])
    r = run_fake(f, ("-bp",), b"")
    assert r.returncode == H.EX_TEMPFAIL and b"announced 3" in r.stderr
    f2 = fake(lambda fr: None)
    r = run_fake(f2, ("-bp",), b"")
    assert r.returncode == H.EX_TEMPFAIL and b"incomplete" in r.stderr
