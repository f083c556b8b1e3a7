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
  - commands over many mails walk the ~15,000 on disk a slice per loop turn
    while a client submits mails back to back, each answered 250 within 1 s
    (and, for delete @d2, queued between the command's per-mail log lines): hold @d1 holds exactly the 5,000 mails of d1
    (each file read), delete @d2 deletes exactly those of d2, and, the relay
    (Postfix's smtp-sink) up, flush @d0 sends exactly those of d0 (and the
    mails submitted meanwhile), nothing else;
  - release @d1 and a flush of all: every mail left is delivered exactly
    once: the sink counts them, the log has one status=sent line per queue
    id, the queue is empty.
"""

import json
import os
import re
import subprocess
import threading
import time

import outpost_harness as H
from outpost_harness import ctl

N = 20000
LIMIT = 5000
# outpost-queue-fill -d 4 -z fill.test: mail n goes to d(n mod 4).fill.test
DOMAINS = [f"d{k}.fill.test" for k in range(4)]
PER = N // len(DOMAINS)


def sink_mails(sink):
    """Mails the sink completed: the last mesg= smtp-sink -c printed."""
    try:
        text = sink.out_path.read_bytes().decode("ascii", "replace")
    except FileNotFoundError:
        return 0
    counts = re.findall(r"mesg=(\d+)", text)
    return int(counts[-1]) if counts else 0


def summary_totals(op):
    """queue --summary: mails per recipient domain."""
    r = ctl(op, "queue", "--summary", "--json")
    assert r.returncode == 0, r.stderr
    return {o["domain"]: o["total"] for o in map(json.loads, r.stdout.splitlines())}


def bulk_with_intake(op, *args):
    """Run an outpostctl command while a client submits mails back to back
    (distinct recipients intake-T-I@example.net); every submission must be
    answered 250 within 1 s, some of them overlapping the command. Returns the
    command's result and how many mails were submitted."""
    stop = threading.Event()
    subs = []
    walls = []      # the same submissions on the wall clock, as the log has it
    tag = args[1].strip("@").split(".")[0]

    def submit_loop():
        for i in range(1000):
            if stop.is_set():
                return
            t0, w0 = time.monotonic(), time.time()
            code, _ = H.smtp_send(op.smtp_host, op.smtp_port, "intake@example.org",
                                  [f"intake-{tag}-{i}@example.net"],
                                  b"Subject: intake\r\n\r\nwhile a bulk command runs\r\n",
                                  timeout=30)
            subs.append((t0, time.monotonic(), code))
            walls.append((w0, time.time()))

    th = threading.Thread(target=submit_loop)
    th.start()
    try:
        H.wait_until(lambda: subs, 30, 0.01, what="a first submission")
        t0 = time.monotonic()
        r = ctl(op, *args, timeout=300)
        t1 = time.monotonic()
    finally:
        stop.set()
        th.join(60)
    assert not th.is_alive()
    slow = [(e - s, c) for s, e, c in subs if c != 250 or e - s >= 1.0]
    assert not slow, slow
    # the client submits back to back: one is in flight at any moment, so
    # some overlap the command whatever its length (a fast command may end
    # between two answers); each was answered within 1 s, checked above
    during = [1 for s, e, c in subs if s < t1 and e > t0]
    assert during, f"no submission overlapped the {t1 - t0:.2f}s of {args}"
    print(f"{' '.join(args)}: {t1 - t0:.2f}s, {len(during)} submissions overlapped it")
    bulk_with_intake.walls = walls
    return r, len(subs)


def log_time(line):
    """A log line's timestamp (2026-12-08T03:56:47.220, UTC) as time.time()."""
    import calendar
    stamp = line.split(" ", 1)[0]
    day, clock = stamp.split("T")
    secs = calendar.timegm(time.strptime(day + "T" + clock.split(".")[0], "%Y-%m-%dT%H:%M:%S"))
    return secs + float("0." + clock.split(".")[1])


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

    fill = [str(H.BUILD / "outpost-queue-fill"), "-D", "3600", "-d", "4", "-z", "fill.test"]
    if op.as_root:
        uid, gid = H.user_ids(H.QUEUE_USER)
        fill += ["-u", f"{uid}:{gid}"]
    r = subprocess.run(fill + [str(op.queue_dir), str(N)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert len(op.queue_files("queue")) == N
    # A restart after a reboot finds the files on disk, not in memory: out of
    # the page cache (these files only), the indexing reads them from disk,
    # as it must then (and takes long enough to submit during it; from the
    # cache 20,000 files are indexed in a few tenths of a second)
    os.sync()
    for name in op.queue_files("queue"):
        fd = os.open(op.queue_dir / name, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)

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
    print(m.group(0))
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

    assert [summary_totals(op).get(d) for d in DOMAINS] == [PER] * 4

    # hold @d1 reads every file on disk, a slice per loop turn, intake goes on
    r, n_hold = bulk_with_intake(op, "hold", "@" + DOMAINS[1])
    assert r.returncode == 0 and f"{PER} mails on hold" in r.stdout, (r.stdout, r.stderr)
    mails = [json.loads(ln) for ln in ctl(op, "queue", "--json").stdout.splitlines() if ln]
    held = {m["id"] for m in mails if m["held"]}
    d1 = {m["id"] for m in mails if m["recipients"][0]["address"].endswith("@" + DOMAINS[1])}
    assert len(held) == PER and held == d1

    # delete @d2: exactly its mails, their files gone. Its walk logs each
    # deletion as it reads the mail's file, in id order: mails submitted
    # meanwhile are logged between them when intake is served between slices
    # (one loop turn for the whole walk would log them all in one run)
    at = op.log_offset()
    r, n_delete = bulk_with_intake(op, "delete", "@" + DOMAINS[2])
    assert r.returncode == 0 and f"{PER} mails deleted" in r.stdout, (r.stdout, r.stderr)
    lines = op.log_text()[at:].splitlines()
    gone = [i for i, ln in enumerate(lines) if "deleted by the administrator" in ln]
    assert len(gone) == PER
    between = [ln for ln in lines[gone[0]:gone[-1]] if "from=<intake@example.org>" in ln]
    # a submission that began after the walk's first line and was answered
    # before its last was queued during the walk: its line must lie between
    # them. (On a slow machine none may fit inside a short walk; then the
    # 1 s bound above is the check left.)
    w0, w1 = log_time(lines[gone[0]]), log_time(lines[gone[-1]])
    inside = [1 for s, e in bulk_with_intake.walls if w0 < s and e < w1]
    print(f"delete walk {w1 - w0:.2f}s, {len(inside)} submissions inside it, "
          f"{len(between)} queued during it")
    if inside:
        assert between, "no submission queued while delete @domain walked the mails on disk"
    totals = summary_totals(op)
    assert DOMAINS[2] not in totals
    assert [totals.get(d) for d in (DOMAINS[0], DOMAINS[1], DOMAINS[3])] == [PER] * 3, totals
    queued = N + 1 + n_hold + n_delete - PER
    assert len(op.queue_files("queue")) == queued

    # the relay up, flush @d0 sends exactly the mails of d0 (made due on disk,
    # read back after the walk), none of the other filled ones (the mails
    # submitted meanwhile may go too: they wait for the relay, not for a date)
    sink = smtp_sink_factory(port=sink_port)
    r, n_flush = bulk_with_intake(op, "flush", "@" + DOMAINS[0])
    assert r.returncode == 0 and f"{PER} mails re-sent now" in r.stdout, (r.stdout, r.stderr)

    def sent_to():
        lines = re.findall(r"(\w{24}): to=<[^>]*@([^>]*)>, relay=[^,]*, .*status=sent",
                           op.log_text()[off:])
        by = {}
        for qid, dom in lines:
            by.setdefault(dom, []).append(qid)
        return by
    H.wait_until(lambda: len(sent_to().get(DOMAINS[0], [])) >= PER, 300, 0.5,
                 what=f"{PER} mails of {DOMAINS[0]} sent")
    time.sleep(2)
    by = sent_to()
    assert len(by[DOMAINS[0]]) == len(set(by[DOMAINS[0]])) == PER
    assert set(by) <= {DOMAINS[0], "example.net"}, set(by)
    assert sink_mails(sink) == sum(map(len, by.values()))
    totals = summary_totals(op)
    assert DOMAINS[0] not in totals and DOMAINS[2] not in totals
    assert [totals.get(d) for d in (DOMAINS[1], DOMAINS[3])] == [PER] * 2, totals

    # the rest: released, flushed, each delivered once
    r = ctl(op, "release", "@" + DOMAINS[1])
    assert r.returncode == 0 and f"{PER} mails released" in r.stdout, (r.stdout, r.stderr)
    r = ctl(op, "flush")
    assert r.returncode == 0, r.stdout + r.stderr
    total = queued + n_flush
    H.wait_until(lambda: sink_mails(sink) >= total, 300, 0.5, what=f"{total} mails at the sink")
    H.wait_until(lambda: not op.queue_files("queue"), 60, 0.5, what="an empty queue")
    time.sleep(2)
    assert sink_mails(sink) == total
    sent = re.findall(r"(\w{24}): to=<[^>]*>, relay=[^,]*, .*status=sent",
                      op.log_text()[off:])
    assert len(sent) == total
    assert len(set(sent)) == total
