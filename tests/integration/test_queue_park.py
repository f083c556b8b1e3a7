# SPDX-License-Identifier: ISC
"""
A bounded active set (issue 19): past queue_active_limit mails in the
scheduler, a mail whose recipients all wait for a later re-send leaves the
memory of the scheduler and the queue manager and waits on disk (its file
and a small index entry) until it is due; it is read back from its file
then, or when a command names it. Against a real receiving SMTP server
(aiosmtpd) in relay mode:

  - 30 deferred mails with queue_active_limit = 5: at least 25 wait on disk
    (outpost_queue_mails_on_disk and the detailed log say so), the queue's
    counts still count all 30 as deferred, and every command still sees
    them: queue --json (states, attempts and replies read from the files),
    show, hold and release, delete, queue --summary; a file damaged on disk
    meanwhile fails its check when read back and goes to corrupt/; flush
    @domain sends that domain's mails only, a flush of all the rest, each
    delivered exactly once, nothing left on disk;
  - mails on disk come due by themselves: with a 2 s re-send interval and a
    receiver that refuses each recipient twice, 15 mails with
    queue_active_limit = 3 are read back from disk, tried, put back, and
    finally delivered exactly once each;
  - a restart with 15 deferred mails and queue_active_limit = 3 keeps 12 of
    them on disk from the indexing on; a flush delivers all 15 exactly once.
"""

import json
import re
import time

import outpost_harness as H
from outpost_harness import ctl

from test_observability import scrape, value


def relay_op(outpost_factory, rx, **params):
    p = {"delivery_mode": "relay", "relay_host": rx.hostport, "relay_tls_policy": "none",
         "resend_interval": "1h", "resend_attempts": 5, "log_level": "detailed"}
    p.update(params)
    return outpost_factory(params=p)


def send(op, i, dom="one.example"):
    data = (f"From: <s{i}@src.example>\nSubject: park{i}\n"
            f"Message-ID: <park{i}@park.test>\n\nbody of park{i}\n").encode()
    r = op.sendmail(["-i", "-f", f"s{i}@src.example", "--", f"keep{i}@{dom}"], data)
    assert r.returncode == 0, r.stderr


def queue_json(op):
    r = ctl(op, "queue", "--json")
    assert r.returncode == 0, r.stderr
    return {m["id"]: m for m in (json.loads(ln) for ln in r.stdout.splitlines() if ln)}


def wait_deferred(op, n, timeout=90):
    last = [None]

    def check():
        last[0] = queue_json(op)
        return len(last[0]) == n and all(
            m["recipients"][0]["attempts"] >= 1 and m["recipients"][0]["state"] == "deferred"
            for m in last[0].values())
    try:
        H.wait_until(check, timeout, 0.3, what=f"{n} deferred mails")
    except H.HarnessError:
        raise H.HarnessError(f"{len(last[0] or {})} mails listed; log tail:\n"
                             f"{op.log_tail(30)}")
    return last[0]


def parked_ids(op, start=0):
    return set(re.findall(r"qmgr: (\w{24}): waits on disk until its re-send",
                          op.log_text()[start:]))


def delivered_once(rx, n):
    got = [r.lower() for m in rx.messages for r in m.rcpt_tos if r.lower().startswith("keep")]
    assert len(got) == len(set(got)), "a mail was delivered twice"
    return len(got) == n


def test_deferred_mails_wait_on_disk_past_the_active_limit(outpost_factory, receiver):
    for i in range(30):
        receiver.script_rcpt(f"keep{i}@{'one' if i % 2 == 0 else 'two'}.example",
                             lambda n: "451 4.3.0 Try again later")
    mport = H.free_port()
    op = relay_op(outpost_factory, receiver, queue_active_limit=5, metrics_listen=str(mport))
    for i in range(30):
        send(op, i, "one.example" if i % 2 == 0 else "two.example")
    q = wait_deferred(op, 30)
    by_rcpt = {m["recipients"][0]["address"]: qid for qid, m in q.items()}

    # at least 25 on disk; every one still listed with its state from its file
    H.wait_until(lambda: len(parked_ids(op)) >= 25, 30, 0.3, what="25 mails on disk")
    parked = parked_ids(op)
    for qid in parked:
        r = q[qid]["recipients"][0]
        assert r["state"] == "deferred" and r["attempts"] == 1, q[qid]
        assert r["last_reply"].startswith("451 4.3.0 Try again later")
        assert r["next_attempt"] > time.time() + 3000
    s = H.wait_until(lambda: (lambda s: s if value(s, "outpost_queue_mails_on_disk") >= 25
                              else None)(scrape(mport)), 30, 0.5, what="the on-disk gauge")
    assert value(s, "outpost_queue_mails", state="deferred") == 30
    assert value(s, "outpost_queue_recipients", state="deferred") == 30

    # commands on mails that wait on disk
    ids = sorted(parked)
    shown, held, gone = ids[0], ids[1], ids[2]
    r = ctl(op, "show", shown)
    assert r.returncode == 0, r.stderr
    assert re.search(r"deferred, attempt 1.*reply: 451 4\.3\.0 Try again later", r.stdout)
    assert "Subject: park" in r.stdout

    r = ctl(op, "hold", held)
    assert r.returncode == 0, r.stderr
    assert queue_json(op)[held]["held"] is True
    r = ctl(op, "release", held)
    assert r.returncode == 0, r.stderr
    assert queue_json(op)[held]["held"] is False

    r = ctl(op, "delete", gone)
    assert r.returncode == 0, r.stderr
    q = queue_json(op)
    assert gone not in q and len(q) == 29

    r = ctl(op, "queue", "--summary")
    assert r.returncode == 0, r.stderr
    total = next(ln for ln in r.stdout.splitlines() if ln.strip().startswith("TOTAL"))
    assert total.split()[1] == "29", r.stdout

    # a file on disk damaged meanwhile: read back, it fails its check and is
    # moved to corrupt/ (never delivered, never fixed up); the counts follow
    bad = ids[3]
    path = op.queue_dir / "queue" / bad
    data = bytearray(path.read_bytes())
    k = data.index(b"body of park")
    data[k:k + 4] = b"BODY"
    path.write_bytes(bytes(data))
    r = ctl(op, "show", bad)
    assert r.returncode == 1 and "no such mail" in r.stderr, (r.stdout, r.stderr)
    op.wait_log(rf"queue/{bad}: corrupt \(bad hash\): moved to corrupt/{bad}", timeout=10)
    assert f"corrupt/{bad}" in op.queue_files("corrupt")
    q = queue_json(op)
    assert bad not in q and len(q) == 28
    bad_rcpt = next(a for a, qid in by_rcpt.items() if qid == bad)
    s = H.wait_until(lambda: (lambda s: s if value(s, "outpost_queue_mails", state="deferred")
                              == 28 else None)(scrape(mport)), 30, 0.5, what="28 deferred")

    # flush @domain reads back the mails of that domain only
    left = {a: qid for a, qid in by_rcpt.items() if qid not in (gone, bad)}
    one = [a for a in left if a.endswith("@one.example")]
    two = [a for a in left if a.endswith("@two.example")]
    for addr in one:
        receiver.script_rcpt(addr, lambda n: None)
    r = ctl(op, "flush", "@one.example")
    assert r.returncode == 0, r.stderr
    H.wait_until(lambda: all(receiver.delivered_to(a) for a in one), 60, 0.3,
                 what="the mails of one.example delivered")
    assert not any(receiver.delivered_to(a) for a in two)
    assert len(queue_json(op)) == len(two)

    # everything is accepted now: a flush sends every mail, each exactly once
    for addr in two:
        receiver.script_rcpt(addr, lambda n: None)
    r = ctl(op, "flush")
    assert r.returncode == 0, r.stderr
    H.wait_until(lambda: delivered_once(receiver, 28), 60, 0.3, what="28 mails delivered")
    H.wait_until(lambda: not op.queue_files("queue"), 30, 0.3, what="an empty queue")
    gone_rcpt = next(a for a, qid in by_rcpt.items() if qid == gone)
    assert not receiver.delivered_to(gone_rcpt) and not receiver.delivered_to(bad_rcpt)
    time.sleep(1)
    assert delivered_once(receiver, 28)
    assert f"corrupt/{bad}" in op.queue_files("corrupt")
    s = H.wait_until(lambda: (lambda s: s if value(s, "outpost_queue_mails_on_disk") == 0
                              else None)(scrape(mport)), 30, 0.5, what="nothing on disk")
    assert value(s, "outpost_queue_mails", state="deferred") == 0


def test_mails_on_disk_come_due_by_themselves(outpost_factory, receiver):
    for i in range(15):
        receiver.tempfail(f"keep{i}@one.example", 2)
    op = relay_op(outpost_factory, receiver, queue_active_limit=3, resend_interval="2s")
    off = op.log_offset()
    for i in range(15):
        send(op, i)
    H.wait_until(lambda: delivered_once(receiver, 15), 120, 0.5, what="15 mails delivered")
    for i in range(15):
        assert receiver.attempts(f"keep{i}@one.example") == 3
    text = op.log_text()[off:]
    back = set(re.findall(r"qmgr: (\w{24}): read back from disk", text))
    assert len(parked_ids(op, off)) >= 10 and len(back) >= 10, op.log_tail(40)
    H.wait_until(lambda: not op.queue_files("queue"), 30, 0.3, what="an empty queue")


def test_restart_keeps_deferred_mails_on_disk(outpost_factory, receiver):
    for i in range(15):
        receiver.script_rcpt(f"keep{i}@one.example", lambda n: "451 4.3.0 Try again later")
    op = relay_op(outpost_factory, receiver, queue_active_limit=3)
    for i in range(15):
        send(op, i)
    wait_deferred(op, 15)
    op.stop()

    off = op.log_offset()
    op.start()
    m = op.wait_log(r"qmgr: queue indexed in [0-9.]+s: (\d+) mails queued, (\d+) of them "
                    r"on disk until due", start=off, timeout=30)
    assert (int(m.group(1)), int(m.group(2))) == (15, 12)
    m = op.wait_log(r"qmgr: scheduler link \d+: (\d+) mails announced", start=off, timeout=30)
    assert int(m.group(1)) == 3
    assert len(queue_json(op)) == 15

    for i in range(15):
        receiver.script_rcpt(f"keep{i}@one.example", lambda n: None)
    r = ctl(op, "flush")
    assert r.returncode == 0, r.stderr
    H.wait_until(lambda: delivered_once(receiver, 15), 60, 0.3, what="15 mails delivered")
    H.wait_until(lambda: not op.queue_files("queue"), 30, 0.3, what="an empty queue")
