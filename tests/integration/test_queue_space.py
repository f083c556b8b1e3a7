# SPDX-License-Identifier: ISC
"""
The free-space reserve (queue_min_free): the state directory is a small
tmpfs mounted by the test; a filler file takes its space away and gives it
back. A full queue is met with 452 4.3.1 at MAIL FROM (and for SIZE= above
what is left), a clear error in outpost-sendmail, no partial files, bounces
that wait instead of being lost, and service that resumes by itself.
"""
import os
import re
import subprocess
import time

import pytest

import outpost_harness as H

MB = 1 << 20
RESERVE = 8 * MB


@pytest.fixture
def tmpfs_outpost(root, outpost_factory):
    """An outpost whose state directory is a 24 MB tmpfs; yields (factory, mounts)."""
    mounts = []
    made = []

    def make(params):
        p = {"max_message_size": "1M", "queue_min_free": "8M"}
        p.update(params)
        op = outpost_factory(params=p, start=False)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0755", "outpost-test",
                        str(op.state_dir)], check=True)
        mounts.append(op.state_dir)
        made.append(op)
        op.start()
        return op

    yield make
    for op in made:
        op.stop()
    for m in mounts:
        subprocess.run(["umount", str(m)], check=False)


def avail(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill_to(op, free_bytes):
    """Grow or shrink the filler so that free_bytes stay free."""
    filler = op.state_dir / "filler"
    cur = filler.stat().st_size if filler.exists() else 0
    want = cur + avail(op.state_dir) - free_bytes
    assert want >= 0
    with open(filler, "ab") as f:
        f.truncate(want)
    if want > cur:
        # tmpfs allocates on write, not on truncate
        with open(filler, "r+b") as f:
            f.seek(cur)
            left = want - cur
            while left > 0:
                n = min(left, MB)
                f.write(b"\0" * n)
                left -= n
    return filler


def mail_from(op, arg=""):
    with H.SmtpConn(op.smtp_host, op.smtp_port) as c:
        c.reply()
        c.cmd("EHLO client.test")
        return c.cmd(f"MAIL FROM:<a@example.org>{arg}")


def holding():
    return {"delivery_mode": "relay", "relay_host": "[127.0.0.1]:9", "resend_interval": "1h"}


def leftovers(op):
    return sorted(p.name for p in (op.queue_dir / "incoming").iterdir())


def test_full_disk_refused_at_mail_from_and_resumes(tmpfs_outpost):
    op = tmpfs_outpost(holding())
    r = op.sendmail(["first@example.net"], b"Subject: first\n\nbefore\n")
    assert r.returncode == 0, r.stderr
    H.wait_until(lambda: len(op.queued_mails()) == 1, 10, what="the first mail")

    # Half a megabyte above the reserve: a SIZE= of 900k does not fit, 1k does.
    fill_to(op, RESERVE + MB // 2)
    H.wait_until(lambda: mail_from(op, " SIZE=900000")[0] == 452, 10,
                 what="452 for a SIZE= above the headroom")
    code, text = mail_from(op, " SIZE=900000")
    assert "4.3.1 Insufficient system storage" in text, text
    assert mail_from(op, " SIZE=1000")[0] == 250

    # Below the reserve: every MAIL FROM is refused, before any data.
    off = op.log_offset()
    fill_to(op, RESERVE - MB)
    H.wait_until(lambda: mail_from(op)[0] == 452, 10, what="452 at MAIL FROM")
    r = op.sendmail(["second@example.net"], b"Subject: second\n\nduring\n")
    assert r.returncode != 0
    assert b"Insufficient system storage" in r.stderr, r.stderr
    assert leftovers(op) == []
    assert len(op.queued_mails()) == 1

    # Space comes back: mail is taken again, without a restart.
    fill_to(op, 20 * MB - 1)
    os.unlink(op.state_dir / "filler")
    H.wait_until(lambda: mail_from(op)[0] == 250, 10, what="250 at MAIL FROM again")
    code, text = op.smtp_send("a@example.org", ["third@example.net"],
                              b"Subject: third\r\n\r\nafter\r\n")
    assert code == 250, text
    r = op.sendmail(["fourth@example.net"], b"Subject: fourth\n\nafter\n")
    assert r.returncode == 0, r.stderr
    H.wait_until(lambda: len(op.queued_mails()) == 3, 10, what="three mails queued")
    assert leftovers(op) == []
    log = op.log_text()[off:]
    assert len(re.findall(r"queue file system low on space", log)) == 1, log
    assert len(re.findall(r"queue file system has space again", log)) == 1, log


def test_bounce_waits_for_space(tmpfs_outpost, receiver):
    hard = {"phase": 1}
    receiver.script_rcpt("hard@dest.test", lambda n: "451 4.3.0 later" if hard["phase"] == 1
                         else "550 5.1.1 No such user here")
    op = tmpfs_outpost({"delivery_mode": "relay",
                        "relay_host": f"[127.0.0.1]:{receiver.port}",
                        "resend_interval": "2", "resend_attempts": 50})
    r = op.sendmail(["-f", "sender@example.org", "hard@dest.test"],
                    b"Subject: to bounce\n\nbody\n")
    assert r.returncode == 0, r.stderr
    op.wait_log(r"to=<hard@dest.test>.*status=deferred", timeout=20)

    fill_to(op, RESERVE - MB)
    op.wait_log(r"queue file system low on space", timeout=10)
    hard["phase"] = 2
    op.wait_log(r"bounce postponed \(queue low on space\): 1 recipients deferred", timeout=20)
    time.sleep(1)
    assert receiver.delivered_to("sender@example.org") == []
    assert len(op.queued_mails()) == 1          # the failure is kept, with its mail

    os.unlink(op.state_dir / "filler")
    H.wait_until(lambda: receiver.delivered_to("sender@example.org"), 30, interval=0.5,
                 what="the bounce delivered once space is back")
    H.wait_until(lambda: op.queued_mails() == {}, 20, what="an empty queue")
    assert len(receiver.delivered_to("sender@example.org")) == 1
    assert leftovers(op) == []


def test_delay_notice_waits_for_space(tmpfs_outpost, receiver):
    receiver.tempfail("slow@dest.test", times=1000)
    op = tmpfs_outpost({"delivery_mode": "relay",
                        "relay_host": f"[127.0.0.1]:{receiver.port}",
                        "resend_interval": "2", "resend_attempts": 1000,
                        "delay_warning": "5"})
    r = op.sendmail(["-f", "sender@example.org", "slow@dest.test"],
                    b"Subject: to delay\n\nbody\n")
    assert r.returncode == 0, r.stderr
    fill_to(op, RESERVE - MB)
    op.wait_log(r"queue file system low on space", timeout=10)
    op.wait_log(r"delay notice postponed: queue low on space", timeout=20)
    time.sleep(1)
    assert receiver.delivered_to("sender@example.org") == []

    os.unlink(op.state_dir / "filler")
    H.wait_until(lambda: receiver.delivered_to("sender@example.org"), 30, interval=0.5,
                 what="the delay notice once space is back")
    time.sleep(3)
    assert len(receiver.delivered_to("sender@example.org")) == 1
    assert leftovers(op) == []


@pytest.mark.parametrize("reused", [False, True], ids=["incoming", "spare"])
def test_enospc_during_data_leaves_nothing(tmpfs_outpost, receiver, reused):
    # No reserve: the disk fills while the content streams in, after MAIL FROM.
    op = tmpfs_outpost({"queue_min_free": "0", "delivery_mode": "relay",
                        "relay_host": f"[127.0.0.1]:{receiver.port}",
                        "resend_interval": "2"})
    qmgr = op.child("qmgr")
    if reused:
        # A delivered mail leaves its file in spare/: the big one is written over it.
        code, text = op.smtp_send("a@example.org", ["first@dest.test"],
                                  b"Subject: first\r\n\r\nbefore\r\n")
        assert code == 250, text
        H.wait_until(lambda: op.queue_files("spare"), 20, what="a file in spare/")
    fill_to(op, 200 * 1024)
    files = op.queue_files()
    free = avail(op.state_dir)
    big = b"Subject: too big for the disk\r\n\r\n" + (b"y" * 998 + b"\r\n") * 600
    assert len(big) > 2 * free
    off = op.log_offset()
    code, text = op.smtp_send("a@example.org", ["big@dest.test"], big)
    assert code == 451 and "4.3.0" in text, (code, text)
    op.wait_log(r"write: No space left on device", start=off)

    # The partial file is gone and its space given back; the qmgr lives on.
    assert leftovers(op) == []
    assert set(op.queue_files()) <= set(files), (op.queue_files(), files)
    if reused:
        assert op.queue_files("spare") == [], "the spare file written over is not removed"
    H.wait_until(lambda: avail(op.state_dir) >= free - 16 * 1024, 10,
                 what=f"{free} bytes free again (now {avail(op.state_dir)})")
    assert op.child("qmgr").pid == qmgr.pid
    assert H.pid_alive(qmgr.pid)
    assert op.queued_mails() == {}

    os.unlink(op.state_dir / "filler")
    code, text = op.smtp_send("a@example.org", ["after@dest.test"],
                              b"Subject: after\r\n\r\nspace is back\r\n")
    assert code == 250, text
    H.wait_until(lambda: receiver.delivered_to("after@dest.test"), 20, interval=0.5,
                 what="the mail after the full disk delivered")
    assert receiver.delivered_to("big@dest.test") == []
    assert leftovers(op) == []
