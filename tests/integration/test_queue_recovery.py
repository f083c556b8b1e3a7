# SPDX-License-Identifier: ISC
"""
Queue recovery at start (issue 2): with outpost stopped, queue files are
damaged the ways a crash or a disk can damage them, then outpost starts:
  - a file with a flipped content byte (bad BLAKE2b trailer) goes to
    corrupt/, is logged, never delivered, never deleted;
  - a file with a torn last state record (a partial append) stays queued,
    the torn tail is cut off and logged;
  - a half-written file in incoming/ (never acknowledged) is removed, logged;
  - a stray file that is no queue file goes to corrupt/ too;
  - the intact mails are listed by outpost-sendmail -bp.
Delivery points at a refusing port, so nothing leaves the queue meanwhile.
"""





def test_recovery_sorts_damaged_files(outpost_factory, refused_port):
    op = outpost_factory(params={
        "delivery_mode": "relay",
        "relay_host": f"[127.0.0.1]:{refused_port}",
        "resend_interval": "1h",
        "connect_timeout": "2s",
    })
    for i in range(4):
        r = op.sendmail(["-i", "-f", f"s{i}@example.org", "--", f"r{i}@example.net"],
                        b"Subject: recovery %d\n\nbody %d\n" % (i, i))
        assert r.returncode == 0, r.stderr
    queued = op.queued_mails()
    assert len(queued) == 4
    op.stop()

    ids = sorted(queued)
    qdir = op.queue_dir / "queue"
    # 1: a flipped byte in the content
    bad = qdir / ids[0]
    data = bytearray(bad.read_bytes())
    data[queued[ids[0]].content_off + 3] ^= 0x20
    bad.write_bytes(bytes(data))
    # 2: a torn state append at the end
    torn = qdir / ids[1]
    intact_len = torn.stat().st_size
    with open(torn, "ab") as f:
        f.write(b"QST1" + b"\x00" * 200)
    # 3: an unfinished mail in incoming/
    unfinished = op.queue_dir / "incoming" / "66128000000000000000ABCD"
    unfinished.write_bytes(b"OUTPOSTQ\x01\x00\x00\x00\x00\x00\x00\x00")
    # 4: a stray file
    (qdir / "stray").write_bytes(b"not a queue file")

    off = op.log_offset()
    op.start()
    op.wait_log(r"qmgr: recovery: 3 mails queued, 2 corrupt moved aside, 1 unfinished removed",
                start=off, timeout=20)
    log = op.log_text()[off:]
    assert f"queue/{ids[0]}: corrupt (bad hash): moved to corrupt/{ids[0]}" in log
    assert "queue/stray: corrupt (not a queue id): moved to corrupt/stray" in log
    assert f"{ids[1]}: partial state record at the end ignored" in log
    assert "incoming/66128000000000000000ABCD: never acknowledged: removed" in log
    assert sorted(op.corrupt_files()) == sorted([f"corrupt/{ids[0]}", "corrupt/stray"])
    assert op.queue_files("incoming") == []
    # the damaged file is kept byte for byte for a human
    assert (op.queue_dir / "corrupt" / ids[0]).read_bytes() == bytes(data)

    now = op.queued_mails()
    assert sorted(now) == ids[1:]
    assert not now[ids[1]].torn
    assert torn.stat().st_size >= intact_len
    r = op.mailq()
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    for qid in ids[1:]:
        assert qid in out
    assert ids[0] not in out


def test_restarted_scheduler_gets_the_whole_queue(outpost_factory, refused_port):
    """A scheduler killed and restarted knows nothing: the queue manager
    announces every queued mail again on the new link."""
    import os
    import signal

    op = outpost_factory(params={
        "delivery_mode": "relay",
        "relay_host": f"[127.0.0.1]:{refused_port}",
        "resend_interval": "1h",
        "connect_timeout": "2s",
    })
    for i in range(5):
        r = op.sendmail(["-i", "-f", f"s{i}@example.org", "--", f"r{i}@example.net"],
                        b"Subject: again %d\n\nbody\n" % i)
        assert r.returncode == 0, r.stderr
    sched = op.child("scheduler")
    off = op.log_offset()
    os.kill(sched.pid, signal.SIGKILL)
    m = op.wait_log(r"qmgr: scheduler link (\d+): (\d+) mails announced", start=off, timeout=30)
    assert int(m.group(1)) >= 2
    assert int(m.group(2)) == 5
    assert len(op.queued_mails()) == 5
