# SPDX-License-Identifier: ISC
"""
Queue tools and delivery status notifications (issue 5), against a real
receiving SMTP server (aiosmtpd) in relay mode:

  - each queue command changes the queue as it says, on a queue of 500
    mails while delivery runs: queue (text and --json), show, hold (kept
    across a restart, not scheduled), release, flush ID / @domain / all,
    delete ID / all, bounce ID; an unknown id fails with "no such mail";
  - the DSN for a 550 parses as multipart/report with Python's email
    package, names exactly the failed recipient and carries the server's
    reply; re-sends exhausted give Status 4.x.x / Action: failed after
    exactly 1 + resend_attempts attempts; a failed bounce is not bounced;
  - the delay notice (Action: delayed) is sent once, also across a restart,
    and never for a mail from <>.
"""

import concurrent.futures
import email
import email.policy
import json
import re
import threading
import time

import pytest

import outpost_harness as H
from outpost_harness import ctl

N = 500


def queue_json(op):
    r = ctl(op, "queue", "--json")
    assert r.returncode == 0, r.stderr
    return {m["id"]: m for m in (json.loads(ln) for ln in r.stdout.splitlines() if ln)}


class Rules(dict):
    """rcpt_scripts for SmtpReceiver with rules by address pattern: the
    receiver calls .get(address) for each RCPT."""

    def __init__(self):
        super().__init__()
        self.rules = []         # (compiled regex, fn), first match wins
        self.lock = threading.Lock()

    def set(self, pattern, fn):
        with self.lock:
            self.rules = [(re.compile(pattern), fn)] + [r for r in self.rules
                                                         if r[0].pattern != pattern]

    def get(self, key, default=None):
        with self.lock:
            for rx, fn in self.rules:
                if rx.fullmatch(key):
                    return fn
        return super().get(key, default)


def scripted(rx):
    rules = Rules()
    rx.rcpt_scripts = rules
    return rules


def tempfail(_n):
    return "451 4.3.0 Try again later"


def relay_op(outpost_factory, rx, **params):
    p = {"delivery_mode": "relay", "relay_host": rx.hostport, "relay_tls_policy": "none",
         "resend_interval": "1h", "resend_attempts": 5, "log_level": "basic"}
    p.update(params)
    return outpost_factory(params=p)


def send(op, sender, rcpts, subject, extra=b""):
    data = (f"From: <{sender}>\nSubject: {subject}\nMessage-ID: <{subject}@queue.test>\n\n"
            f"body of {subject}\n").encode() + extra
    r = op.sendmail(["-i", "-f", sender, "--", *rcpts], data)
    assert r.returncode == 0, r.stderr


def dsns(rx, to=None):
    """Mails from <> at the receiver, parsed."""
    out = []
    for m in list(rx.messages):
        if m.mail_from not in ("", "<>"):
            continue
        if to is not None and to.lower() not in (r.lower() for r in m.rcpt_tos):
            continue
        out.append(email.message_from_bytes(m.data, policy=email.policy.default))
    return out


def report_fields(msg):
    """Per-recipient field blocks of a DSN's message/delivery-status part."""
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    parts = [p for p in msg.walk() if p.get_content_type() == "message/delivery-status"]
    assert len(parts) == 1
    blocks = parts[0].get_payload()      # per-message block, then one per recipient
    assert len(blocks) >= 2
    return [dict((k.lower(), str(v)) for k, v in b.items()) for b in blocks[1:]]


def wait_queue(op, pred, timeout=60, what="queue state"):
    last = [None]

    def check():
        last[0] = queue_json(op)
        return pred(last[0])
    try:
        H.wait_until(check, timeout, 0.3, what=what)
    except H.HarnessError:
        raise H.HarnessError(f"{what}: {len(last[0] or {})} mails; log tail:\n{op.log_tail(30)}")
    return last[0]


def test_queue_commands_on_500_mails(outpost_factory, receiver):
    rules = scripted(receiver)
    rules.set(r"keep\d+@(one|two)\.example", tempfail)
    op = relay_op(outpost_factory, receiver)

    def inject(i):
        dom = "one.example" if i % 2 == 0 else "two.example"
        send(op, f"s{i}@src.example", [f"keep{i}@{dom}"], f"q{i}")

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
        list(ex.map(inject, range(N)))
    # every mail tried once and deferred
    q = wait_queue(op, lambda q: len(q) == N and all(
        m["recipients"][0]["attempts"] >= 1 for m in q.values()), 120, "500 deferred mails")
    by_rcpt = {m["recipients"][0]["address"]: qid for qid, m in q.items()}
    m0 = q[by_rcpt["keep0@one.example"]]
    assert m0["sender"] == "s0@src.example"
    assert m0["recipients"][0]["state"] == "deferred"
    assert m0["recipients"][0]["last_reply"].startswith("451 4.3.0 Try again later")
    assert m0["recipients"][0]["next_attempt"] > time.time() + 3000

    # Delivery keeps running meanwhile: other mails come and go.
    stop = threading.Event()
    live = []

    def traffic():
        k = 0
        while not stop.is_set() and k < 200:
            send(op, "live@src.example", [f"live{k}@three.example"], f"live{k}")
            live.append(k)
            k += 1
            time.sleep(0.05)
    tt = threading.Thread(target=traffic)
    tt.start()
    try:
        # queue: one line per mail plus the count
        r = ctl(op, "queue")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert re.fullmatch(r"\d+ mails in the queue", lines[-1])
        assert sum(1 for ln in lines if "<keep" in ln) == N
        ln = next(ln for ln in lines if ln.startswith(by_rcpt["keep0@one.example"]))
        assert "<s0@src.example>" in ln and "<keep0@one.example> deferred, 1 attempt" in ln
        assert "last reply: 451 4.3.0 Try again later" in ln

        # show: envelope, the attempt with its reply, the content
        r = ctl(op, "show", by_rcpt["keep0@one.example"])
        assert r.returncode == 0, r.stderr
        assert f"id: {by_rcpt['keep0@one.example']}" in r.stdout
        assert "sender: <s0@src.example>" in r.stdout
        assert re.search(r"deferred, attempt 1.*dsn 4\.3\.0.*reply: 451 4\.3\.0 Try again later",
                         r.stdout)
        assert r.stdout.rstrip().endswith("body of q0")
        assert "Subject: q0" in r.stdout

        # unknown ids
        for cmd in ("show", "hold", "release", "delete", "bounce", "flush"):
            r = ctl(op, cmd, "0123456789ABCDEF01234567")
            assert r.returncode == 1 and "no such mail" in r.stderr, (cmd, r.stderr)

        # hold: not scheduled, even by a flush, and kept across a restart
        held = by_rcpt["keep2@one.example"]
        r = ctl(op, "hold", held)
        assert r.returncode == 0, r.stderr
        assert queue_json(op)[held]["held"] is True
        r = ctl(op, "flush", held)
        assert r.returncode == 1 and "on hold" in r.stderr
        rules.set(r"keep2@one\.example", lambda n: None)     # would be accepted now

        # flush ID: re-sent now, delivered (accepted this time)
        one = by_rcpt["keep4@one.example"]
        rules.set(r"keep4@one\.example", lambda n: None)
        r = ctl(op, "flush", one)
        assert r.returncode == 0, r.stderr
        receiver.wait_messages(1, 30)
        H.wait_until(lambda: receiver.delivered_to("keep4@one.example"), 30,
                     what="flushed mail delivered")
        wait_queue(op, lambda q: one not in q, 30, "flushed mail gone from the queue")

        # flush @domain: only that domain's recipients are tried again
        before_one = receiver.attempts("keep6@one.example")
        rules.set(r"keep\d+@two\.example", lambda n: None)
        r = ctl(op, "flush", "@two.example")
        assert r.returncode == 0, r.stderr
        assert re.match(r"250 mails re-sent now", r.stdout), r.stdout
        wait_queue(op, lambda q: not any(m["recipients"][0]["address"].endswith("two.example")
                                         for m in q.values()), 120, "@two.example delivered")
        assert len([m for m in receiver.messages if any(r.endswith("@two.example")
                                                          for r in m.rcpt_tos)]) == N // 2
        assert receiver.attempts("keep6@one.example") == before_one
        assert receiver.attempts("keep2@one.example") == 1      # held: not tried again

        # delete ID: gone from the listing and the disk; never delivered
        gone = by_rcpt["keep8@one.example"]
        rules.set(r"keep8@one\.example", lambda n: None)
        r = ctl(op, "delete", gone)
        assert r.returncode == 0 and "deleted" in r.stdout, r.stderr
        assert gone not in queue_json(op)
        assert gone not in op.queued_mails()

        # bounce ID: failed with the administrator's reason, one DSN to the sender
        b = by_rcpt["keep10@one.example"]
        r = ctl(op, "bounce", b)
        assert r.returncode == 0, r.stderr
        H.wait_until(lambda: dsns(receiver, "s10@src.example"), 30, what="the bounce")
        assert b not in queue_json(op)
        [dsn] = dsns(receiver, "s10@src.example")
        [fields] = report_fields(dsn)
        assert fields["final-recipient"].lower() == "rfc822; keep10@one.example"
        assert fields["action"] == "failed"
        assert "bounced by the administrator" in fields.get("diagnostic-code", "")

        # flush (all): every deferred mail tried again, the held one not
        rules.set(r"keep\d+@one\.example", lambda n: "452 4.2.2 Mailbox full")
        before = receiver.attempts("keep12@one.example")
        r = ctl(op, "flush")
        assert r.returncode == 0, r.stderr
        H.wait_until(lambda: receiver.attempts("keep12@one.example") > before, 30,
                     what="flush all re-sends")
        q = wait_queue(op, lambda q: all(
            m["recipients"][0]["attempts"] >= 2 for m in q.values()
            if m["recipients"][0]["address"].startswith("keep") and not m["held"]),
            120, "every deferred mail re-sent")
        assert q[held]["recipients"][0]["attempts"] == 1
        assert receiver.attempts("keep2@one.example") == 1
    finally:
        stop.set()
        tt.join(60)

    # hold survives a restart
    op.stop()
    op.start()
    q = queue_json(op)
    assert q[held]["held"] is True
    assert receiver.attempts("keep2@one.example") == 1
    # release: scheduled again, and (accepted now) delivered
    rules.set(r"keep2@one\.example", lambda n: None)
    r = ctl(op, "release", held)
    assert r.returncode == 0, r.stderr
    r = ctl(op, "flush", held)
    assert r.returncode == 0, r.stderr
    H.wait_until(lambda: receiver.delivered_to("keep2@one.example"), 30,
                 what="released mail delivered")

    # delete all: the queue is empty, on disk too
    r = ctl(op, "delete", "all")
    assert r.returncode == 0, r.stderr
    assert re.search(r"\d+ mails deleted", r.stdout)
    assert queue_json(op) == {}
    assert op.queued_mails() == {}
    assert op.corrupt_files() == []
    # every live mail was delivered or deleted, never lost to a crash
    assert "qmgr: started" in op.log_text()
    assert op.log_text().count("qmgr: started") == 2, "the queue manager restarted"


def test_dsn_for_550_names_the_failed_recipient(outpost_factory, receiver):
    receiver.reject("nobody@dest.example", "550 5.1.1 <nobody@dest.example>: No such user here")
    op = relay_op(outpost_factory, receiver)
    send(op, "writer@src.example", ["nobody@dest.example", "fine@dest.example"], "dsn550")
    H.wait_until(lambda: dsns(receiver, "writer@src.example"), 30, what="the DSN")
    time.sleep(0.5)
    [dsn] = dsns(receiver, "writer@src.example")
    assert dsn["To"] is not None and "writer@src.example" in str(dsn["To"])
    fields = report_fields(dsn)
    assert len(fields) == 1, "only the failed recipient is reported"
    f = fields[0]
    assert f["final-recipient"].lower() == "rfc822; nobody@dest.example"
    assert f["action"] == "failed"
    assert f["status"] == "5.1.1"
    assert "550 5.1.1 <nobody@dest.example>: No such user here" in f["diagnostic-code"]
    assert f["diagnostic-code"].lower().startswith("smtp;")
    # the human-readable part and the original are there too
    texts = [p for p in dsn.walk() if p.get_content_type() == "text/plain"]
    assert texts and "nobody@dest.example" in texts[0].get_content()
    assert any(p.get_content_type() in ("message/rfc822", "text/rfc822-headers")
               for p in dsn.walk())
    assert len(receiver.delivered_to("fine@dest.example")) == 1


@pytest.mark.parametrize("resend_attempts", [1, 3])
def test_resends_exhausted_bounce_with_4xx_status(outpost_factory, receiver, resend_attempts):
    receiver.tempfail("slow@dest.example", 1000, "451 4.7.1 Greylisted, come back later")
    op = relay_op(outpost_factory, receiver, resend_interval="1s",
                  resend_attempts=resend_attempts)
    send(op, "writer@src.example", ["slow@dest.example"], "exhausted")
    H.wait_until(lambda: dsns(receiver, "writer@src.example"), 60, what="the DSN")
    time.sleep(1.5)
    assert receiver.attempts("slow@dest.example") == 1 + resend_attempts
    [dsn] = dsns(receiver, "writer@src.example")
    [f] = report_fields(dsn)
    assert f["action"] == "failed"
    assert re.fullmatch(r"4\.\d+\.\d+", f["status"]), f["status"]
    assert "Greylisted, come back later" in f["diagnostic-code"]
    assert op.queued_mails() == {}


def test_failed_bounce_is_not_bounced(outpost_factory, receiver):
    receiver.reject("nobody@dest.example")
    receiver.reject("gone@src.example", "550 5.1.1 sender mailbox gone")
    op = relay_op(outpost_factory, receiver)
    send(op, "gone@src.example", ["nobody@dest.example"], "double")
    op.wait_log(r"sender <>: no bounce", timeout=30)
    time.sleep(1)
    # the bounce was tried once, and nothing answered its failure
    assert receiver.attempts("gone@src.example") == 1
    assert receiver.count() == 0
    assert op.queued_mails() == {}
    assert len(re.findall(r"sender non-delivery notification", op.log_text())) == 1


def test_delay_notice_sent_once(outpost_factory, receiver):
    receiver.tempfail("late@dest.example", 12)
    receiver.tempfail("late2@dest.example", 1000)
    op = relay_op(outpost_factory, receiver, resend_interval="1s", resend_attempts=30,
                  delay_warning="2s")
    send(op, "writer@src.example", ["late@dest.example"], "delayed")
    # the same situation from <>: never a notice
    r = op.sendmail(["-i", "-f", "", "--", "late2@dest.example"],
                    b"Subject: from null\n\nnull sender\n")
    assert r.returncode == 0, r.stderr
    H.wait_until(lambda: dsns(receiver, "writer@src.example"), 30, what="the delay notice")
    [dsn] = dsns(receiver, "writer@src.example")
    [f] = report_fields(dsn)
    assert f["action"] == "delayed"
    assert f["final-recipient"].lower() == "rfc822; late@dest.example"
    assert re.fullmatch(r"4\.\d+\.\d+", f["status"])
    # a restart while still deferred: the notice is not sent again
    op.stop()
    op.start()
    H.wait_until(lambda: receiver.delivered_to("late@dest.example"), 60,
                 what="the delayed mail delivered")
    time.sleep(2)
    assert len(dsns(receiver, "writer@src.example")) == 1
    assert [m for m in receiver.messages if "late2@dest.example" in m.rcpt_tos] == []
    assert all("" != m.mail_from or "writer@src.example" in m.rcpt_tos
               for m in receiver.messages)
    q = queue_json(op)
    assert len(q) == 1 and not next(iter(q.values()))["delay_warned"]


def test_json_escaping_and_large_show(outpost_factory, receiver):
    """A reply with quotes and backslashes survives --json; `show` of a 3 MB
    mail is paced over the master link and returns every line."""
    reply = '451 4.3.0 "busy" \\ try later\ttab'
    receiver.tempfail("big@dest.example", 1000, reply)
    op = relay_op(outpost_factory, receiver)
    body = b"".join(b"line %06d %s\n" % (k, b"y" * 60) for k in range(45000))
    send(op, "writer@src.example", ["big@dest.example"], "big", extra=body)
    q = wait_queue(op, lambda q: q and next(iter(q.values()))["recipients"][0]["attempts"] >= 1,
                   60, "the big mail deferred")
    [(qid, m)] = q.items()
    # the tab became a space when the reply was recorded; quotes and backslash kept
    assert m["recipients"][0]["last_reply"] == reply.replace("\t", " ")
    assert m["size"] > 3_000_000
    r = ctl(op, "show", qid, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    start = lines.index("content:")
    content = lines[start + 1:]
    assert "Subject: big" in content
    assert content[-45000:] == [f"line {k:06d} {'y' * 60}" for k in range(45000)]


def test_max_queue_lifetime_bounces_early(outpost_factory, receiver):
    """max_queue_lifetime ends the re-sends before resend_attempts does."""
    receiver.tempfail("slow@dest.example", 1000, "451 4.4.1 No answer from host")
    op = relay_op(outpost_factory, receiver, resend_interval="1s", resend_attempts=100,
                  max_queue_lifetime="3s")
    t0 = time.time()
    send(op, "writer@src.example", ["slow@dest.example"], "lifetime")
    H.wait_until(lambda: dsns(receiver, "writer@src.example"), 30, what="the DSN")
    assert time.time() - t0 < 15
    assert 2 <= receiver.attempts("slow@dest.example") <= 6
    [f] = report_fields(dsns(receiver, "writer@src.example")[0])
    assert f["action"] == "failed" and f["status"] == "4.4.1"


def test_resend_backoff_spaces_attempts(outpost_factory, receiver):
    """resend_backoff = 2: waits of 1, 2, 4 seconds between the attempts."""
    receiver.tempfail("slow@dest.example", 3)
    op = relay_op(outpost_factory, receiver, resend_interval="1s", resend_attempts=5,
                  resend_backoff=2)
    send(op, "writer@src.example", ["slow@dest.example"], "backoff")
    H.wait_until(lambda: receiver.delivered_to("slow@dest.example"), 30, what="delivery")
    stamps = [time.mktime(time.strptime(ln[:19], "%Y-%m-%dT%H:%M:%S"))
              for ln in op.log_text().splitlines()
              if "to=<slow@dest.example>" in ln and "status=" in ln]
    assert len(stamps) == 4
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    # whole-second log stamps: each wait is its value give or take a second
    assert 0 <= gaps[0] <= 2 and 1 <= gaps[1] <= 3 and 3 <= gaps[2] <= 5, gaps
