# SPDX-License-Identifier: ISC
"""
A restart with a large queue never blocks intake (issue 19): the queue
manager indexes queue/ in slices of its event loop, beside intake.

20,000 deferred mails (as a relay outage leaves them; written in the real
queue file format by outpost-queue-fill, the tool the large-queue benchmark
uses) lie in queue/ of a stopped outpost. At start:
  - an SMTP submission is answered 250 within 1 s of the listener's greeting,
    and at that moment the indexing has not finished yet (the queue
    manager's "queue indexed" line is not in the log);
  - `outpostctl flush` (of that mail) answers while the indexing runs;
  - `queue --summary` and `queue --json`, which read the mails kept on disk
    in slices, count every mail (the listing each id once, in order);
  - the indexing ends with every mail indexed: past queue_active_limit
    (5,000 here) mails are kept on disk until due (qmgr_park.c), the others
    announced to the scheduler, none left out;
  - once the relay (Postfix's smtp-sink) is up and the queue is flushed,
    every mail is delivered exactly once: the sink counts 20,001 mails, the
    log has one status=sent line per queue id, the queue is empty.
"""

import json
import re
import subprocess
import time

import outpost_harness as H
from outpost_harness import ctl

N = 20000
LIMIT = 5000


def sink_mails(sink):
    """Mails the sink completed: the last mesg= smtp-sink -c printed."""
    try:
        text = sink.out_path.read_bytes().decode("ascii", "replace")
    except FileNotFoundError:
        return 0
    counts = re.findall(r"mesg=(\d+)", text)
    return int(counts[-1]) if counts else 0


def test_restart_accepts_mail_while_a_large_queue_is_indexed(outpost_factory, smtp_sink_factory):
    sink_port = H.free_port()
    op = outpost_factory(params={
        "delivery_mode": "relay",
        "relay_host": f"[127.0.0.1]:{sink_port}",
        "resend_interval": "1h",
        "connect_timeout": "2s",
        "queue_active_limit": LIMIT,
    })
    op.stop()

    fill = [str(H.BUILD / "outpost-queue-fill"), "-D", "3600"]
    if op.as_root:
        uid, gid = H.user_ids(H.QUEUE_USER)
        fill += ["-u", f"{uid}:{gid}"]
    r = subprocess.run(fill + [str(op.queue_dir), str(N)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert len(op.queue_files("queue")) == N

    off = op.log_offset()
    op.start(wait_ready=False)
    H.wait_until(lambda: H.smtp_banner_ok(op.smtp_host, op.smtp_port), 30, 0.01,
                 what="the SMTP listener")
    t0 = time.monotonic()
    code, text = H.smtp_send(op.smtp_host, op.smtp_port, "early@example.org",
                             ["early@example.net"],
                             b"Subject: while indexing\r\n\r\nsubmitted during indexing\r\n",
                             timeout=30)
    took = time.monotonic() - t0
    log_at_250 = op.log_text()[off:]
    assert code == 250, (code, text)
    assert took < 1.0, f"submission took {took:.2f}s"
    assert "qmgr: queue indexed in" not in log_at_250, \
        "the indexing was over before the submission: nothing proven"
    assert re.search(r"qmgr: started: indexing the queue beside intake", log_at_250)

    # a flush of the submitted mail (a flush of all would bring the mails on
    # disk back and keep them moving while the summary below counts them)
    qid = re.search(r"queued as (\w{24})", text).group(1)
    r = ctl(op, "flush", qid)
    assert r.returncode == 0, r.stdout + r.stderr

    m = op.wait_log(r"qmgr: queue indexed in [0-9.]+s: (\d+) mails queued, (\d+) of them "
                    r"on disk until due", start=off, timeout=120)
    queued, on_disk = int(m.group(1)), int(m.group(2))
    assert queued >= N
    assert N - LIMIT - 1 <= on_disk <= N - LIMIT + 1, on_disk
    m = op.wait_log(r"qmgr: scheduler link \d+: (\d+) mails announced", start=off,
                    timeout=60)
    assert int(m.group(1)) >= LIMIT - 1
    op.wait_log(r"scheduler: queue loaded: \d+ mails", start=off, timeout=60)

    # queue --summary reads the ~15,000 mails on disk a slice per loop turn:
    # every mail is in its TOTAL (the submitted one, deferred meanwhile, may
    # move to disk during the count and be counted twice)
    r = ctl(op, "queue", "--summary", "--json")
    assert r.returncode == 0, r.stderr
    total = next(o for o in map(json.loads, r.stdout.splitlines()) if o["domain"] == "TOTAL")
    assert N + 1 <= total["total"] <= N + 2, total
    # and the listing, which reads them a slice at a time in id order, names
    # every mail once (a mail moving between memory and disk keeps its id)
    r = ctl(op, "queue", "--json")
    assert r.returncode == 0, r.stderr
    ids = [json.loads(ln)["id"] for ln in r.stdout.splitlines() if ln]
    assert len(ids) == N + 1 and len(set(ids)) == N + 1 and ids == sorted(ids)

    sink = smtp_sink_factory(port=sink_port)
    r = ctl(op, "flush")
    assert r.returncode == 0, r.stdout + r.stderr
    H.wait_until(lambda: sink_mails(sink) >= N + 1, 300, 0.5,
                 what=f"{N + 1} mails at the sink")
    H.wait_until(lambda: not op.queue_files("queue"), 60, 0.5, what="an empty queue")
    time.sleep(2)
    assert sink_mails(sink) == N + 1
    sent = re.findall(r"(\w{24}): to=<[^>]*>, relay=[^,]*, .*status=sent",
                      op.log_text()[off:])
    assert len(sent) == N + 1
    assert len(set(sent)) == N + 1
