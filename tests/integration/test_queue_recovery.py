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
Files of the older format version 1 are still read and delivered.
"""
import outpost_harness as H





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


def as_version1(buf):
    """The same queue file as an older outpost wrote it (format version 1:
    the content hashed with BLAKE2b-256 instead of XXH3-128): the version
    field, the trailer, and every state record's keyed sum (bound to the
    trailer hash) computed again, independently of the C code."""
    import hashlib
    import struct

    m = H.parse_queue_file(buf)
    out = bytearray(buf)
    struct.pack_into("<I", out, 8, 1)
    chash = hashlib.blake2b(m.content, digest_size=32).digest()
    fhash = hashlib.blake2b(bytes(out[:m.content_off]) + chash, digest_size=32).digest()
    trailer = m.content_off + len(m.content)
    assert out[trailer] == 4 and struct.unpack_from("<Q", out, trailer + 1)[0] == 32
    out[trailer + 9:trailer + 41] = fhash
    for off in range(trailer + 41, len(out) - H.QF_STATE_SIZE + 1, H.QF_STATE_SIZE):
        rec = bytes(out[off:off + H.QF_STATE_SIZE])
        out[off + H.QF_STATE_SIZE - 16:off + H.QF_STATE_SIZE] = \
            hashlib.blake2b(rec[:-16], digest_size=16, key=fhash).digest()
    return bytes(out)


def test_version1_files_are_delivered_after_an_upgrade(outpost_factory, refused_port, receiver):
    """Mails queued by an outpost that wrote format version 1 are read,
    verified with that version's hash and delivered; a damaged one of that
    version is still caught by its hash."""
    op = outpost_factory(params={
        "delivery_mode": "relay",
        "relay_host": f"[127.0.0.1]:{refused_port}",
        "resend_interval": "1h",
        "connect_timeout": "2s",
    })
    for i in range(3):
        body = b"Subject: upgrade %d\n\nbody %d\n" % (i, i)
        r = op.sendmail(["-i", "-f", f"s{i}@example.org", "--", f"r{i}@example.net"], body)
        assert r.returncode == 0, r.stderr
    queued = op.queued_mails()
    assert len(queued) == 3
    # every mail was tried once (refused): each file carries a state record
    H.wait_until(lambda: all(m.states for m in op.queued_mails().values()), 20, 0.1,
                 what="a deferred state record in each file")
    op.stop()
    ids = sorted(queued)
    qdir = op.queue_dir / "queue"
    for qid in ids:
        f = qdir / qid
        cur = f.read_bytes()
        assert cur[8] == 2                  # what this outpost writes
        assert H.parse_queue_file(cur).states, "a deferred state record to re-sign"
        f.write_bytes(as_version1(cur))
        assert H.parse_queue_file(f.read_bytes()).id == qid
    # one of them damaged, in the old format
    bad = qdir / ids[0]
    data = bytearray(bad.read_bytes())
    data[queued[ids[0]].content_off + 2] ^= 0x20
    bad.write_bytes(bytes(data))

    op.params["relay_host"] = f"[127.0.0.1]:{receiver.port}"
    op.write_config()
    off = op.log_offset()
    op.start()
    op.wait_log(r"qmgr: recovery: 2 mails queued, 1 corrupt moved aside", start=off, timeout=20)
    assert f"queue/{ids[0]}: corrupt (bad hash): moved to corrupt/{ids[0]}" in op.log_text()[off:]
    r = H.ctl(op, "flush")
    assert r.returncode == 0, r.stderr
    got = receiver.wait_messages(2, timeout=30)
    assert sorted(m.rcpt_tos[0] for m in got) == sorted(queued[q].rcpts[0] for q in ids[1:])
    for m in got:
        i = int(m.rcpt_tos[0][1])          # r<i>@example.net got "body <i>"
        assert m.data.endswith(b"\r\n\r\nbody %d\r\n" % i), m.data
    H.wait_until(lambda: op.queued_mails() == {}, 20, 0.1, what="queue empty")
    assert receiver.count() == 2
