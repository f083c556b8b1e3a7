# SPDX-License-Identifier: ISC
"""
Queue crash safety (issue 2, must show): kill -9 the queue manager, then
the master, at random points during a 1000-mail injection (half with
outpost-sendmail, half over SMTP). After a restart:
  - every mail whose submitter was told "queued" is in the queue,
  - no submission is in the queue twice,
  - no queue file is corrupt (corrupt/ stays empty, every file verifies
    with the harness's own decoder), incoming/ is empty.
A submission that failed (the queue manager was down) may or may not be
queued: only an acknowledged one must be.

Delivery points at a refusing port with a long re-send interval, so mails
stay queued and the scheduler's deferrals append state records meanwhile.
"""

import concurrent.futures
import os
import random
import re
import signal
import threading
import time


import outpost_harness as H

N = 1000
MARK = re.compile(rb"X-Crash-Mark: (\d+)")


def message(i):
    eol = b"\r\n" if i % 2 else b"\n"
    lines = [b"From: crash%d@example.org" % i, b"To: rcpt%d@example.net" % i,
             b"Date: Thu, 26 Nov 2026 06:00:00 +0000",
             b"Message-ID: <crash-%d@queue.test>" % i, b"Subject: crash %d" % i,
             b"X-Crash-Mark: %d" % i, b""]
    lines += [b"line %d %s" % (k, b"x" * 60) for k in range(i % 50)]
    return eol.join(lines) + eol


def wait_dead(pids, timeout=15.0):
    H.wait_until(lambda: not any(H.pid_alive(p) for p in pids), timeout,
                 what="processes to exit")


def test_kill_qmgr_and_master_during_injection(outpost_factory, refused_port):
    op = outpost_factory(params={
        "delivery_mode": "relay",
        "relay_host": f"[127.0.0.1]:{refused_port}",
        "resend_interval": "1h",
        "connect_timeout": "2s",
    })
    rnd = random.Random()
    acked = {}          # mark -> how it was acknowledged
    lock = threading.Lock()
    up = threading.Event()
    up.set()
    stop = threading.Event()
    kills = []
    started = []

    def submit(i):
        # One attempt each, never retried: a retry of a submission whose
        # answer was lost in a kill would be a duplicate made by the client.
        data = message(i)
        up.wait(60)
        with lock:
            started.append(i)
        try:
            if i % 2 == 0:
                r = op.sendmail(["-i", "-f", f"crash{i}@example.org", "--",
                                 f"rcpt{i}@example.net"], data, timeout=60)
                ok = r.returncode == 0
            else:
                code, _text = op.smtp_send(f"crash{i}@example.org", [f"rcpt{i}@example.net"],
                                           data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"),
                                           timeout=30)
                ok = code == 250
        except (OSError, H.HarnessError):
            ok = False
        if ok:
            with lock:
                acked[i] = True

    def killer():
        # three kills of the queue manager, then one of the master, each when
        # the injection reaches a random point
        points = sorted(rnd.sample(range(50, N * 8 // 10), 4))
        for k, point in enumerate(points):
            H.wait_until(lambda: stop.is_set() or len(started) >= point, 300, 0.01,
                         what="injection progress")
            if stop.is_set():
                return
            try:
                if k < 3:
                    q = op.child("qmgr", timeout=10)
                    off = op.log_offset()
                    os.kill(q.pid, signal.SIGKILL)
                    kills.append(("qmgr", point))
                    # The master restarts it. Submissions in flight fail; new
                    # ones wait until it is back rather than all failing.
                    up.clear()
                    op.wait_log(r"qmgr: started", timeout=30, start=off)
                    time.sleep(0.2)
                    up.set()
                else:
                    up.clear()
                    kids = [c.pid for c in op.children()]
                    op.kill()
                    op.proc.wait(timeout=10)
                    kills.append(("master", point))
                    wait_dead(kids)
                    op.stop()       # closes the log handle; nothing is left to stop
                    op.start()
                    up.set()
            except H.HarnessError:
                up.set()

    kt = threading.Thread(target=killer)
    kt.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as ex:
            list(ex.map(submit, range(N)))
    finally:
        stop.set()
        kt.join(120)
        up.set()

    # One more hard stop and a restart: recovery runs over whatever the
    # kills left behind.
    kids = [c.pid for c in op.children()]
    op.kill()
    op.proc.wait(timeout=10)
    wait_dead(kids)
    op.stop()
    op.start()
    op.wait_log(r"qmgr.*recovery: \d+ mails queued", timeout=20)
    op.stop()

    assert len(acked) > N // 4, f"only {len(acked)} of {N} submissions acknowledged"
    assert op.corrupt_files() == [], f"corrupt files: {op.corrupt_files()}"
    assert op.queue_files("incoming") == []
    queued = op.queued_mails()          # raises on any file that fails verification
    seen = {}
    for qid, m in queued.items():
        mk = MARK.search(m.content)
        assert mk, f"{qid}: a mail without mark"
        i = int(mk.group(1))
        assert i not in seen, f"submission {i} queued twice: {seen[i]} and {qid}"
        seen[i] = qid
        assert m.sender == f"crash{i}@example.org"
        assert m.rcpts == [f"rcpt{i}@example.net"]
        assert H.strip_trace(m.content).replace(b"\r\n", b"\n") == \
            message(i).replace(b"\r\n", b"\n"), f"submission {i} ({qid}) altered"
    log = op.log_text()
    assert len(kills) == 4, f"kills done: {kills}"
    print(f"kills at {kills}: {len(acked)} acknowledged, {len(seen)} queued, "
          f"{log.count('never acknowledged: removed')} unfinished removed at recovery, "
          f"{len(re.findall(r'qmgr.*started', log))} qmgr starts")
    lost = sorted(set(acked) - set(seen))
    assert not lost, f"acknowledged but not queued: {lost[:20]} ({len(lost)} in all)"


def test_kill_qmgr_while_delivering(outpost_factory, receiver):
    """kill -9 of the queue manager while mails are being delivered and their
    states recorded: every acknowledged mail still reaches the receiver
    (a duplicate is acceptable when a kill fell between the delivery and
    its durable record), the queue empties, and nothing is corrupt."""
    op = outpost_factory(params={
        "delivery_mode": "relay",
        "relay_host": f"[127.0.0.1]:{receiver.port}",
        "relay_tls_policy": "none",
        "resend_interval": "2s",
    })
    n = 300
    acked = set()
    rnd = random.Random()
    points = sorted(rnd.sample(range(30, n * 8 // 10), 2))
    done = [0]
    lock = threading.Lock()
    up = threading.Event()
    up.set()

    def submit(i):
        up.wait(60)
        try:
            r = op.sendmail(["-i", "-f", f"crash{i}@example.org", "--", f"rcpt{i}@example.net"],
                            message(i), timeout=60)
            if r.returncode == 0:
                with lock:
                    acked.add(i)
        except (OSError, H.HarnessError):
            pass
        with lock:
            done[0] += 1

    def killer():
        for point in points:
            H.wait_until(lambda: done[0] >= point, 300, 0.01, what="injection progress")
            off = op.log_offset()
            q = op.child("qmgr", timeout=10)
            os.kill(q.pid, signal.SIGKILL)
            up.clear()
            op.wait_log(r"qmgr: started", timeout=30, start=off)
            time.sleep(0.2)
            up.set()

    kt = threading.Thread(target=killer)
    kt.start()
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
        list(ex.map(submit, range(n)))
    kt.join(120)
    # No restart: the scheduler must resume from the re-listed queue by itself.

    def drained():
        return not op.queued_mails()
    H.wait_until(drained, 120, 0.5, what="the queue to empty")
    assert op.corrupt_files() == []
    got = {}
    for m in receiver.messages:
        mk = MARK.search(m.data)
        assert mk, "a delivered mail without mark"
        got[int(mk.group(1))] = got.get(int(mk.group(1)), 0) + 1
    lost = sorted(acked - set(got))
    assert not lost, f"acknowledged, never delivered: {lost[:20]} ({len(lost)} in all)"
    dups = sum(c - 1 for c in got.values())
    print(f"{len(acked)} acknowledged, {len(got)} delivered, {dups} duplicates")
